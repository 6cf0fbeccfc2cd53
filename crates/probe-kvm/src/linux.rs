//! The real host: system calls on Linux. All unsafe code of the KVM backend is here.

use std::fs::{self, OpenOptions};
use std::io::Read;
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use kvm_bindings as kb;
use probe_core::Operation;

use crate::host::{
    AclEntry, DeviceNode, Errno, Fd, GuestExit, Identity, KvmHost, Rlimit, StepFailure, parse_posix_acl,
};

use crate::ioctls::*;

/// A borrowed raw fd for the ioctl helpers.
struct Raw(RawFd);

impl AsRawFd for Raw {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

fn last_errno() -> Errno {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn io_errno(e: &std::io::Error) -> Errno {
    e.raw_os_error().unwrap_or(0)
}

/// Turns an ioctl return into a value or the errno it set.
fn check(ret: i32) -> Result<i32, Errno> {
    if ret < 0 { Err(last_errno()) } else { Ok(ret) }
}

/// An anonymous or fd-backed mapping, unmapped on drop.
struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Mapping {
    fn new(len: usize, flags: libc::c_int, fd: RawFd) -> Result<Mapping, Errno> {
        // SAFETY: a fresh mapping at an address the kernel picks; no existing memory is
        // affected, and the result is checked before use.
        let ptr = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, flags, fd, 0) };
        if ptr == libc::MAP_FAILED { Err(last_errno()) } else { Ok(Mapping { ptr, len }) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len are exactly what mmap returned, and nothing references the
        // mapping once its owner is dropped.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// Reads a text file until `enough` holds for what was read, or to its end.
///
/// Files under /proc and /sys report size 0, so asking for the size (as
/// `fs::read_to_string` does, with statx) only costs a call, and std then probes with
/// 32-byte reads; a page-sized buffer reads these files in one call, plus one to see
/// the end.
fn read_text(path: &str, enough: &dyn Fn(&str) -> bool) -> Option<String> {
    let mut file = fs::File::open(path).ok()?;
    let mut buf = vec![0u8; PAGE];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(len * 2, 0);
        }
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => {
                len += n;
                let valid = match std::str::from_utf8(&buf[..len]) {
                    Ok(text) => text.len(),
                    Err(e) => e.valid_up_to(),
                };
                if enough(std::str::from_utf8(&buf[..valid]).unwrap_or_default()) {
                    // Stopped early: a character may be cut at the end.
                    len = valid;
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).ok()
}

/// The Linux host: real system calls, real files.
#[derive(Debug, Default, Clone, Copy)]
pub struct LinuxHost;

const GUEST_ADDR: u64 = 0x1000;
const PAGE: usize = 0x1000;

impl LinuxHost {
    fn map_guest_page(&self, vm: Fd, code: &[u8]) -> Result<Mapping, StepFailure> {
        let fail = |operation, errno| StepFailure { operation, errno };
        let mem = Mapping::new(PAGE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE, -1)
            .map_err(|e| fail(Operation::MapMemory, e))?;
        // SAFETY: mem is a fresh, writable mapping of PAGE bytes and code is shorter.
        unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), mem.ptr.cast::<u8>(), code.len()) };
        let region = kb::kvm_userspace_memory_region {
            slot: 0,
            flags: 0,
            guest_phys_addr: GUEST_ADDR,
            memory_size: PAGE as u64,
            userspace_addr: mem.ptr as u64,
        };
        // SAFETY: KVM_SET_USER_MEMORY_REGION reads a kvm_userspace_memory_region that
        // lives across the call; the memory it names stays mapped until the slot is
        // deleted (unmap_guest_page) or the VM is closed.
        check(unsafe { vmm_sys_util::ioctl::ioctl_with_ref(&Raw(vm.0), KVM_SET_USER_MEMORY_REGION(), &region) })
            .map_err(|e| fail(Operation::SetUserMemoryRegion, e))?;
        Ok(mem)
    }

    fn unmap_guest_page(&self, vm: Fd, mem: Mapping) {
        let region = kb::kvm_userspace_memory_region { slot: 0, guest_phys_addr: GUEST_ADDR, ..Default::default() };
        // SAFETY: a zero-sized region deletes slot 0; the struct lives across the call.
        // A failure leaves the slot to be freed with the VM fd.
        unsafe { vmm_sys_util::ioctl::ioctl_with_ref(&Raw(vm.0), KVM_SET_USER_MEMORY_REGION(), &region) };
        drop(mem);
    }

    #[cfg(target_arch = "x86_64")]
    fn set_entry(&self, _vm: Fd, vcpu: Fd) -> Result<(), StepFailure> {
        let fail = |errno| StepFailure { operation: Operation::SetRegisters, errno };
        let mut sregs = kb::kvm_sregs::default();
        // SAFETY: KVM_GET_SREGS writes a kvm_sregs into the struct we own.
        check(unsafe { vmm_sys_util::ioctl::ioctl_with_mut_ref(&Raw(vcpu.0), KVM_GET_SREGS(), &mut sregs) })
            .map_err(fail)?;
        sregs.cs.base = 0;
        sregs.cs.selector = 0;
        // SAFETY: KVM_SET_SREGS reads the kvm_sregs we own.
        check(unsafe { vmm_sys_util::ioctl::ioctl_with_ref(&Raw(vcpu.0), KVM_SET_SREGS(), &sregs) }).map_err(fail)?;
        let regs = kb::kvm_regs { rip: GUEST_ADDR, rflags: 2, ..Default::default() };
        // SAFETY: KVM_SET_REGS reads the kvm_regs we own.
        check(unsafe { vmm_sys_util::ioctl::ioctl_with_ref(&Raw(vcpu.0), KVM_SET_REGS(), &regs) }).map_err(fail)?;
        Ok(())
    }

    #[cfg(target_arch = "aarch64")]
    fn set_entry(&self, vm: Fd, vcpu: Fd) -> Result<(), StepFailure> {
        let fail = |errno| StepFailure { operation: Operation::SetRegisters, errno };
        let mut init = kb::kvm_vcpu_init::default();
        // SAFETY: KVM_ARM_PREFERRED_TARGET writes a kvm_vcpu_init into the struct we own.
        check(unsafe { vmm_sys_util::ioctl::ioctl_with_mut_ref(&Raw(vm.0), KVM_ARM_PREFERRED_TARGET(), &mut init) })
            .map_err(fail)?;
        // SAFETY: KVM_ARM_VCPU_INIT reads the kvm_vcpu_init we own.
        check(unsafe { vmm_sys_util::ioctl::ioctl_with_ref(&Raw(vcpu.0), KVM_ARM_VCPU_INIT(), &init) })
            .map_err(fail)?;
        // Core register ids: offset into struct kvm_regs in 32-bit words.
        let core = |offset_words: u64| {
            kb::KVM_REG_ARM64 | kb::KVM_REG_SIZE_U64 | u64::from(kb::KVM_REG_ARM_CORE) | offset_words
        };
        let (x1, pc) = (core(2), core(64));
        for (id, value) in [(x1, MMIO_ADDR), (pc, GUEST_ADDR)] {
            let reg = kb::kvm_one_reg { id, addr: std::ptr::addr_of!(value) as u64 };
            // SAFETY: KVM_SET_ONE_REG reads 8 bytes at reg.addr, which points at `value`,
            // alive across the call.
            check(unsafe { vmm_sys_util::ioctl::ioctl_with_ref(&Raw(vcpu.0), KVM_SET_ONE_REG(), &reg) })
                .map_err(fail)?;
        }
        Ok(())
    }

    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    fn set_entry(&self, _vm: Fd, _vcpu: Fd) -> Result<(), StepFailure> {
        Err(StepFailure { operation: Operation::SetRegisters, errno: 95 })
    }
}

/// `hlt`.
#[cfg(target_arch = "x86_64")]
const GUEST_CODE: &[u8] = &[0xf4];
/// `str x0, [x1]` with x1 = an unmapped address: exits with KVM_EXIT_MMIO.
#[cfg(target_arch = "aarch64")]
const GUEST_CODE: &[u8] = &0xf900_0020_u32.to_le_bytes();
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const GUEST_CODE: &[u8] = &[];
#[cfg(target_arch = "aarch64")]
const MMIO_ADDR: u64 = 0x1000_0000;

impl KvmHost for LinuxHost {
    fn stat(&self, path: &Path) -> Result<DeviceNode, Errno> {
        let m = fs::metadata(path).map_err(|e| io_errno(&e))?;
        let rdev = m.rdev();
        Ok(DeviceNode {
            is_char_device: m.file_type().is_char_device(),
            major: (((rdev >> 32) & 0xffff_f000) | ((rdev >> 8) & 0xfff)) as u32,
            minor: (((rdev >> 12) & 0xffff_ff00) | (rdev & 0xff)) as u32,
            uid: m.uid(),
            gid: m.gid(),
            mode: m.mode(),
        })
    }

    fn open(&self, path: &Path) -> Result<Fd, Errno> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
            .map(|f| Fd(f.into_raw_fd()))
            .map_err(|e| io_errno(&e))
    }

    fn close(&self, fd: Fd) {
        // SAFETY: the logic closes each fd it got from this host exactly once and uses
        // it no more afterwards.
        unsafe { libc::close(fd.0) };
    }

    fn get_api_version(&self, kvm: Fd) -> Result<i32, Errno> {
        // SAFETY: KVM_GET_API_VERSION takes no argument and touches no memory of ours.
        check(unsafe { vmm_sys_util::ioctl::ioctl(&Raw(kvm.0), KVM_GET_API_VERSION()) })
    }

    fn check_extension(&self, fd: Fd, cap: u32) -> Result<i32, Errno> {
        // SAFETY: KVM_CHECK_EXTENSION takes the capability number by value.
        check(unsafe { vmm_sys_util::ioctl::ioctl_with_val(&Raw(fd.0), KVM_CHECK_EXTENSION(), cap.into()) })
    }

    fn create_vm(&self, kvm: Fd, vm_type: u64) -> Result<Fd, Errno> {
        // SAFETY: KVM_CREATE_VM takes the machine type by value and returns a new fd,
        // which the caller owns and closes.
        check(unsafe { vmm_sys_util::ioctl::ioctl_with_val(&Raw(kvm.0), KVM_CREATE_VM(), vm_type as libc::c_ulong) })
            .map(Fd)
    }

    fn create_vcpu(&self, vm: Fd, id: u64) -> Result<Fd, Errno> {
        // SAFETY: KVM_CREATE_VCPU takes the vCPU id by value and returns a new fd, which
        // the caller owns and closes.
        check(unsafe { vmm_sys_util::ioctl::ioctl_with_val(&Raw(vm.0), KVM_CREATE_VCPU(), id as libc::c_ulong) })
            .map(Fd)
    }

    fn run_guest(&self, kvm: Fd, vm: Fd, vcpu: Fd) -> Result<GuestExit, StepFailure> {
        let fail = |operation, errno| StepFailure { operation, errno };
        // SAFETY: KVM_GET_VCPU_MMAP_SIZE takes no argument.
        let run_size = check(unsafe { vmm_sys_util::ioctl::ioctl(&Raw(kvm.0), KVM_GET_VCPU_MMAP_SIZE()) })
            .map_err(|e| fail(Operation::GetVcpuMmapSize, e))?;
        let run_size = usize::try_from(run_size).unwrap_or(0).max(std::mem::size_of::<kb::kvm_run>());
        let mem = self.map_guest_page(vm, GUEST_CODE)?;
        let result = (|| {
            self.set_entry(vm, vcpu)?;
            let run = Mapping::new(run_size, libc::MAP_SHARED, vcpu.0).map_err(|e| fail(Operation::MapMemory, e))?;
            let mut attempts = 0;
            loop {
                // SAFETY: KVM_RUN takes no argument; it writes the exit into the shared
                // kvm_run mapping `run`, which stays mapped until after we read it.
                match check(unsafe { vmm_sys_util::ioctl::ioctl(&Raw(vcpu.0), KVM_RUN()) }) {
                    Ok(_) => break,
                    Err(4) if attempts < 3 => attempts += 1,
                    Err(e) => return Err(fail(Operation::Run, e)),
                }
            }
            // SAFETY: the mapping is at least size_of::<kvm_run>() bytes, page-aligned,
            // and the kernel has finished writing it when KVM_RUN returned.
            let state = unsafe { &*run.ptr.cast::<kb::kvm_run>() };
            Ok(match state.exit_reason {
                kb::KVM_EXIT_HLT => GuestExit::Hlt,
                kb::KVM_EXIT_MMIO => {
                    // SAFETY: exit_reason MMIO says the mmio member of the union is valid.
                    let address = unsafe { state.__bindgen_anon_1.mmio.phys_addr };
                    GuestExit::Mmio { address }
                }
                other => GuestExit::Other(other),
            })
        })();
        self.unmap_guest_page(vm, mem);
        result
    }

    fn rlimit(&self, resource: Rlimit) -> Result<(u64, u64), Errno> {
        let which = match resource {
            Rlimit::Nofile => libc::RLIMIT_NOFILE,
            Rlimit::Memlock => libc::RLIMIT_MEMLOCK,
        };
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes one rlimit into the struct we own.
        if unsafe { libc::getrlimit(which, &mut lim) } != 0 {
            return Err(last_errno());
        }
        Ok((lim.rlim_cur, lim.rlim_max))
    }

    fn read_file(&self, path: &str) -> Option<String> {
        read_text(path, &|_| false)
    }

    fn read_head(&self, path: &str, enough: &dyn Fn(&str) -> bool) -> Option<String> {
        read_text(path, enough)
    }

    fn list_dir(&self, path: &str) -> Result<Vec<String>, Errno> {
        let dir = fs::read_dir(path).map_err(|e| io_errno(&e))?;
        Ok(dir.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
    }

    fn read_link(&self, path: &str) -> Option<String> {
        fs::read_link(path).ok().map(|t| t.to_string_lossy().into_owned())
    }

    fn identity(&self) -> Identity {
        let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .map(|l| l[name.len()..].split_whitespace().map(str::to_owned).collect::<Vec<_>>())
                .unwrap_or_default()
        };
        let effective = |v: Vec<String>| v.get(1).and_then(|s| s.parse().ok()).unwrap_or(u32::MAX);
        Identity {
            uid: effective(field("Uid:")),
            gid: effective(field("Gid:")),
            groups: field("Groups:").iter().filter_map(|g| g.parse().ok()).collect(),
        }
    }

    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn access_acl(&self, path: &Path) -> Result<Option<Vec<AclEntry>>, Errno> {
        use std::os::unix::ffi::OsStrExt;
        const ENODATA: Errno = 61;
        const EOPNOTSUPP: Errno = 95;
        let cpath = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| libc::EINVAL)?;
        let mut buf = [0u8; 512];
        // SAFETY: both names are NUL-terminated C strings alive across the call, and the
        // kernel writes at most buf.len() bytes into buf.
        let n = unsafe {
            libc::getxattr(cpath.as_ptr(), c"system.posix_acl_access".as_ptr(), buf.as_mut_ptr().cast(), buf.len())
        };
        match usize::try_from(n) {
            Ok(len) => Ok(parse_posix_acl(&buf[..len.min(buf.len())])),
            Err(_) => match last_errno() {
                ENODATA | EOPNOTSUPP => Ok(None),
                e => Err(e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, contents: &[u8]) -> String {
        let path = std::env::temp_dir().join(format!("probe-kvm-{}-{name}", std::process::id()));
        fs::write(&path, contents).unwrap();
        path.to_string_lossy().into_owned()
    }

    #[test]
    fn read_file_reads_files_longer_than_its_first_buffer() {
        let text = "0123456789abcdef\n".repeat(1000);
        let path = temp_file("long", text.as_bytes());
        assert_eq!(LinuxHost.read_file(&path).as_deref(), Some(text.as_str()));
        assert_eq!(LinuxHost.read_file("/nonexistent/file"), None);
        let _ = fs::remove_file(path);
    }

    #[test]
    fn read_head_stops_once_it_has_enough_and_never_cuts_a_character() {
        // Two-byte characters straddle the first 4 KiB read.
        let text = "flags : é\n".to_owned() + &"é".repeat(10_000);
        let path = temp_file("head", text.as_bytes());
        let head = LinuxHost.read_head(&path, &|t| t.contains('\n')).unwrap();
        assert!(head.starts_with("flags : é\n"));
        assert!(head.len() < text.len(), "read {} of {} bytes", head.len(), text.len());
        assert!(text.starts_with(&head));
        let whole = LinuxHost.read_head(&path, &|_| false).unwrap();
        assert_eq!(whole, text);
        let _ = fs::remove_file(path);
    }

    #[test]
    fn cpuinfo_head_holds_the_first_flags_line() {
        let Some(all) = LinuxHost.read_file("/proc/cpuinfo") else { return };
        let first = all.lines().find(|l| l.starts_with("flags") || l.starts_with("Features"));
        let head = LinuxHost
            .read_head("/proc/cpuinfo", &|t| t.lines().any(|l| l.starts_with("flags") || l.starts_with("Features")))
            .unwrap();
        assert_eq!(head.lines().find(|l| l.starts_with("flags") || l.starts_with("Features")), first);
    }
}
