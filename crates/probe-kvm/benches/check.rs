//! The KVM check, the diagnosis and code classification, each beside two raw floors
//! measured in the same binary:
//!
//! - floor K: the KVM system calls alone, made directly (open, `KVM_GET_API_VERSION`,
//!   the `KVM_CHECK_EXTENSION` queries of the check, `KVM_CREATE_VM`,
//!   `KVM_CREATE_VCPU`, at the full level the one-page `hlt` guest on x86_64, close);
//! - floor H: every system call and file read the check makes (floor K plus the stat,
//!   the getrlimits, the `/proc` and `/sys` reads and the container-marker lookups of
//!   the host facts), made directly with no decision logic, no formatting and no
//!   allocation.
//!
//! `cargo bench -p probe-kvm --bench check` runs them and ends with a table of the
//! medians, their ratios and the targets (check ≤ 1.3× floor H and ≤ 1.6× floor K,
//! diagnosis ≤ 1 ms), then the same three measured interleaved (one call of each per
//! round), which keeps their ratios honest when the machine's load changes during the
//! run. `-- --quick` gives a faster, rougher criterion run.

#[cfg(target_os = "linux")]
fn main() {
    use std::time::{Duration, SystemTime};

    use criterion::Criterion;

    let started = SystemTime::now();
    if !std::path::Path::new("/dev/kvm").exists() {
        eprintln!("SKIPPED: /dev/kvm does not exist on this host; the KVM benchmarks did not run");
        return;
    }
    let mut c = Criterion::default()
        .sample_size(100)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8))
        .configure_from_args();
    linux::construct(&mut c);
    linux::classify(&mut c);
    linux::check(&mut c, probe_core::Level::Quick);
    linux::check(&mut c, probe_core::Level::Full);
    linux::diagnose(&mut c);
    c.final_summary();
    summary::print(started);
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("SKIPPED: the KVM benchmarks run on Linux only");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::ffi::CStr;
    use std::hint::black_box;

    use criterion::Criterion;
    use kvm_bindings as kb;
    use probe_core::classify::classify_errno;
    use probe_core::raw::hv::HV_NO_RESOURCES;
    use probe_core::{CreateFailure, DiagnosisVerdict, HypervisorProbe, Level, Operation, ProbeError, ProbeOptions};
    use probe_kvm::{KvmProbe, caps};

    use probe_kvm::ioctls::*;

    const DEVICE: &CStr = c"/dev/kvm";

    /// `ioctl(fd, request, arg)` that must succeed; returns its value.
    fn ioctl(fd: libc::c_int, request: libc::c_ulong, arg: libc::c_ulong) -> libc::c_int {
        // SAFETY: every request passed here takes its argument by value (a capability,
        // a VM type, a vCPU id, or nothing) and writes no memory of ours.
        let ret = unsafe { libc::ioctl(fd, request, arg) };
        assert!(ret >= 0, "ioctl {request:#x}: {}", std::io::Error::last_os_error());
        ret
    }

    /// `ioctl(fd, request, &mut value)` that must succeed.
    fn ioctl_ptr<T>(fd: libc::c_int, request: libc::c_ulong, value: &mut T) {
        // SAFETY: the requests passed here read or write exactly one T, which `value`
        // points at and which lives across the call.
        let ret = unsafe { libc::ioctl(fd, request, std::ptr::from_mut(value)) };
        assert!(ret >= 0, "ioctl {request:#x}: {}", std::io::Error::last_os_error());
    }

    fn close(fd: libc::c_int) {
        // SAFETY: fd was opened by this floor and is not used after this call.
        unsafe { libc::close(fd) };
    }

    fn open(path: &CStr, flags: libc::c_int) -> libc::c_int {
        // SAFETY: path is NUL-terminated and outlives the call.
        unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) }
    }

    /// Reads a file to its end into a stack buffer, as the check reads it (missing
    /// files are fine: the check tries them too). Returns the bytes read.
    fn read_file(path: &CStr) -> usize {
        let fd = open(path, libc::O_RDONLY);
        if fd < 0 {
            return 0;
        }
        let mut buf = [0u8; 16384];
        let mut total = 0;
        loop {
            // SAFETY: buf is a writable buffer of buf.len() bytes we own.
            let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            total += n as usize;
        }
        close(fd);
        total
    }

    /// Reads `/proc/cpuinfo` up to the end of the first CPU's flags line, as the check
    /// does. Returns the bytes read.
    fn read_cpuinfo_head() -> usize {
        let fd = open(c"/proc/cpuinfo", libc::O_RDONLY);
        assert!(fd >= 0);
        let mut buf = [0u8; 16384];
        let mut len = 0;
        while len < buf.len() {
            // SAFETY: the tail of buf from len on is writable and ours.
            let n = unsafe { libc::read(fd, buf[len..].as_mut_ptr().cast(), buf.len() - len) };
            if n <= 0 {
                break;
            }
            len += n as usize;
            let text = &buf[..len];
            let flags = text.windows(6).position(|w| w == b"\nflags" || w == b"\nFeatu");
            if flags.is_some_and(|at| text[at + 1..].contains(&b'\n')) {
                break;
            }
        }
        close(fd);
        len
    }

    /// Lists a directory (names only), as the check lists `/sys/module`.
    fn list_dir(path: &CStr) -> usize {
        // SAFETY: path is NUL-terminated; the result is checked for NULL.
        let dir = unsafe { libc::opendir(path.as_ptr()) };
        if dir.is_null() {
            return 0;
        }
        let mut n = 0;
        // SAFETY: dir is an open stream; readdir returns NULL at the end.
        while !unsafe { libc::readdir(dir) }.is_null() {
            n += 1;
        }
        // SAFETY: dir is open and not used afterwards.
        unsafe { libc::closedir(dir) };
        n
    }

    /// The `KVM_CHECK_EXTENSION` queries the check makes: whether VM fds answer them,
    /// the profile's capabilities, then the limits.
    fn queried_caps() -> Vec<u32> {
        let mut caps = vec![kb::KVM_CAP_CHECK_EXTENSION_VM];
        caps.extend(caps::required(&probe_core::CapabilityProfile::default()));
        caps.extend([kb::KVM_CAP_NR_VCPUS, kb::KVM_CAP_MAX_VCPUS, kb::KVM_CAP_MAX_VCPU_ID, kb::KVM_CAP_NR_MEMSLOTS]);
        caps
    }

    /// The one-page `hlt` guest, as crates/probe-kvm/src/linux.rs runs it, without its
    /// error handling. Like it, it deletes the memory slot before unmapping the page:
    /// closing a VM that still has the slot costs more than the deletion does.
    #[cfg(target_arch = "x86_64")]
    fn run_hlt_guest(kvm: libc::c_int, vm: libc::c_int, vcpu: libc::c_int) {
        const PAGE: usize = 4096;
        const GUEST_ADDR: u64 = 0x1000;
        let run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE(), 0) as usize;
        // SAFETY: a fresh private anonymous mapping at an address the kernel picks.
        let mem = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        assert_ne!(mem, libc::MAP_FAILED);
        // SAFETY: mem is a fresh writable page; one byte (`hlt`) is written at its start.
        unsafe { mem.cast::<u8>().write(0xf4) };
        let mut region = kb::kvm_userspace_memory_region {
            slot: 0,
            flags: 0,
            guest_phys_addr: GUEST_ADDR,
            memory_size: PAGE as u64,
            userspace_addr: mem as u64,
        };
        ioctl_ptr(vm, KVM_SET_USER_MEMORY_REGION(), &mut region);
        let mut sregs = kb::kvm_sregs::default();
        ioctl_ptr(vcpu, KVM_GET_SREGS(), &mut sregs);
        sregs.cs.base = 0;
        sregs.cs.selector = 0;
        ioctl_ptr(vcpu, KVM_SET_SREGS(), &mut sregs);
        let mut regs = kb::kvm_regs { rip: GUEST_ADDR, rflags: 2, ..Default::default() };
        ioctl_ptr(vcpu, KVM_SET_REGS(), &mut regs);
        // SAFETY: maps the vCPU's kvm_run area, run_size bytes as KVM asks.
        let run = unsafe {
            libc::mmap(std::ptr::null_mut(), run_size, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, vcpu, 0)
        };
        assert_ne!(run, libc::MAP_FAILED);
        ioctl(vcpu, KVM_RUN(), 0);
        // SAFETY: run maps at least a kvm_run, and KVM_RUN has returned.
        let exit = unsafe { (*run.cast::<kb::kvm_run>()).exit_reason };
        assert_eq!(exit, kb::KVM_EXIT_HLT);
        // SAFETY: run was mapped above with this length and is not used afterwards.
        unsafe { libc::munmap(run, run_size) };
        let mut delete = kb::kvm_userspace_memory_region { slot: 0, guest_phys_addr: GUEST_ADDR, ..Default::default() };
        ioctl_ptr(vm, KVM_SET_USER_MEMORY_REGION(), &mut delete);
        // SAFETY: mem was mapped above; its memory slot is deleted.
        unsafe { libc::munmap(mem, PAGE) };
    }

    /// Floor K: the KVM system calls of a check, made directly.
    fn floor_k(level: Level, caps: &[u32]) {
        let kvm = open(DEVICE, libc::O_RDWR);
        assert!(kvm >= 0, "open /dev/kvm: {}", std::io::Error::last_os_error());
        assert_eq!(ioctl(kvm, KVM_GET_API_VERSION(), 0), 12);
        let vm = ioctl(kvm, KVM_CREATE_VM(), 0);
        for &cap in caps {
            black_box(ioctl(kvm, KVM_CHECK_EXTENSION(), cap.into()));
        }
        let vcpu = ioctl(vm, KVM_CREATE_VCPU(), 0);
        #[cfg(target_arch = "x86_64")]
        if level == Level::Full {
            run_hlt_guest(kvm, vm, vcpu);
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = level;
        close(vcpu);
        close(vm);
        close(kvm);
    }

    /// The files of the host facts, fixed once: reading them is the floor, finding the
    /// vendor module's parameter is logic.
    struct FactFiles {
        nested: std::ffi::CString,
    }

    fn fact_files() -> FactFiles {
        let module = probe_kvm::KvmProbe::new(ProbeOptions::default())
            .report()
            .host
            .vendor_module
            .unwrap_or_else(|| "kvm_intel".to_owned());
        FactFiles { nested: std::ffi::CString::new(format!("/sys/module/{module}/parameters/nested")).unwrap() }
    }

    /// Floor H: floor K plus every other system call and file read of the check.
    fn floor_h(level: Level, caps: &[u32], files: &FactFiles) {
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: the path is NUL-terminated and st is large enough for a stat.
        assert_eq!(unsafe { libc::stat(DEVICE.as_ptr(), st.as_mut_ptr()) }, 0);
        black_box(st);
        floor_k(level, caps);
        for resource in [libc::RLIMIT_NOFILE, libc::RLIMIT_MEMLOCK] {
            let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            // SAFETY: getrlimit writes one rlimit into the struct we own.
            assert_eq!(unsafe { libc::getrlimit(resource, &mut lim) }, 0);
            black_box(lim);
        }
        black_box(read_file(c"/proc/sys/kernel/osrelease"));
        black_box(list_dir(c"/sys/module"));
        black_box(read_file(&files.nested));
        black_box(read_cpuinfo_head());
        black_box(std::env::var_os("container"));
        black_box(read_file(c"/.dockerenv"));
        black_box(read_file(c"/run/.containerenv"));
    }

    /// Floor K of a diagnosis: open, API version, VM, vCPU, close.
    fn floor_k_diagnose() {
        let kvm = open(DEVICE, libc::O_RDWR);
        assert!(kvm >= 0);
        assert_eq!(ioctl(kvm, KVM_GET_API_VERSION(), 0), 12);
        let vm = ioctl(kvm, KVM_CREATE_VM(), 0);
        let vcpu = ioctl(vm, KVM_CREATE_VCPU(), 0);
        close(vcpu);
        close(vm);
        close(kvm);
    }

    pub fn construct(c: &mut Criterion) {
        let mut g = c.benchmark_group("construct");
        g.bench_function("platform_probe", |b| b.iter(|| KvmProbe::new(black_box(ProbeOptions::default()))));
        g.finish();
    }

    pub fn classify(c: &mut Criterion) {
        let mut g = c.benchmark_group("classify");
        g.bench_function("classify_errno", |b| b.iter(|| classify_errno(black_box(Operation::Open), black_box(13))));
        g.bench_function("from_errno", |b| {
            b.iter(|| ProbeError::from_errno(black_box(Operation::CreateVm), black_box(16)))
        });
        g.bench_function("from_hv_return", |b| {
            b.iter(|| ProbeError::from_hv_return(black_box(Operation::HvVmCreate), black_box(HV_NO_RESOURCES)))
        });
        g.finish();
    }

    pub fn check(c: &mut Criterion, level: Level) {
        let probe = KvmProbe::new(ProbeOptions::default().with_level(level));
        let report = probe.startup_check().unwrap_or_else(|e| panic!("the benchmarks need a usable KVM: {e}"));
        let checks = report.checks.len();
        let caps = queried_caps();
        let files = fact_files();
        let name = match level {
            Level::Quick => "check_quick",
            Level::Full => "check_full",
        };
        let mut g = c.benchmark_group(name);
        g.bench_function("hvprobe", |b| {
            b.iter(|| {
                let report = probe.startup_check().expect("usable");
                debug_assert_eq!(report.checks.len(), checks);
                report
            })
        });
        g.bench_function("floor_k", |b| b.iter(|| floor_k(level, &caps)));
        g.bench_function("floor_h", |b| b.iter(|| floor_h(level, &caps, &files)));
        g.finish();
    }

    /// Per-call medians (ns) of `rounds` rounds that call each routine once, in an
    /// order rotated every round, after a tenth as many rounds of warm-up. Criterion
    /// measures one routine after another, so a change in the machine's load during
    /// the run skews their ratios; here it hits every routine alike.
    fn interleaved(routines: &mut [&mut dyn FnMut()], rounds: usize) -> Vec<f64> {
        let n = routines.len();
        let mut times = vec![Vec::with_capacity(rounds); n];
        for r in 0..rounds + rounds / 10 {
            for i in 0..n {
                let k = (i + r) % n;
                let t = std::time::Instant::now();
                (routines[k])();
                if r >= rounds / 10 {
                    times[k].push(t.elapsed().as_nanos() as f64);
                }
            }
        }
        times
            .into_iter()
            .map(|mut t| {
                t.sort_by(f64::total_cmp);
                t[t.len() / 2]
            })
            .collect()
    }

    /// Interleaved medians of the check, floor K and floor H at this level.
    pub fn interleaved_check(level: Level, rounds: usize) -> Vec<f64> {
        let probe = KvmProbe::new(ProbeOptions::default().with_level(level));
        let (caps, files) = (queried_caps(), fact_files());
        interleaved(
            &mut [
                &mut || drop(black_box(probe.startup_check().expect("usable"))),
                &mut || floor_k(level, &caps),
                &mut || floor_h(level, &caps, &files),
            ],
            rounds,
        )
    }

    /// Interleaved medians of the diagnosis of errno 22 and its floor K.
    pub fn interleaved_diagnose(rounds: usize) -> Vec<f64> {
        let probe = KvmProbe::new(ProbeOptions::default());
        let failure = CreateFailure::errno(22);
        interleaved(
            &mut [&mut || drop(black_box(probe.diagnose_create_failure(&failure))), &mut floor_k_diagnose],
            rounds,
        )
    }

    pub fn diagnose(c: &mut Criterion) {
        let probe = KvmProbe::new(ProbeOptions::default());
        let failure = CreateFailure::errno(22);
        assert_eq!(probe.diagnose_create_failure(&failure).verdict, DiagnosisVerdict::CauseElsewhere);
        let mut g = c.benchmark_group("diagnose");
        g.bench_function("hvprobe", |b| b.iter(|| probe.diagnose_create_failure(black_box(&failure))));
        g.bench_function("floor_k", |b| b.iter(floor_k_diagnose));
        g.finish();
    }
}

#[cfg(target_os = "linux")]
mod summary {
    use std::path::{Path, PathBuf};
    use std::time::SystemTime;

    use probe_core::Level;

    /// Where criterion keeps its estimates: `$CRITERION_HOME`, else `criterion` in the
    /// target directory this bench binary was built in (criterion's own default).
    fn criterion_dir() -> Option<PathBuf> {
        if let Some(home) = std::env::var_os("CRITERION_HOME") {
            return Some(PathBuf::from(home));
        }
        if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
            return Some(PathBuf::from(target).join("criterion"));
        }
        // target/<profile>/deps/check-HASH
        let exe = std::env::current_exe().ok()?;
        Some(exe.parent()?.parent()?.parent()?.join("criterion"))
    }

    /// The median of one benchmark measured by this run, in nanoseconds.
    fn median_ns(dir: &Path, id: &str, since: SystemTime) -> Option<f64> {
        let file = dir.join(id).join("new").join("estimates.json");
        let modified = std::fs::metadata(&file).and_then(|m| m.modified()).ok()?;
        if modified < since {
            return None;
        }
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).ok()?).ok()?;
        json["median"]["point_estimate"].as_f64()
    }

    fn show(ns: Option<f64>) -> String {
        match ns {
            None => "not run".to_owned(),
            Some(ns) if ns < 1_000.0 => format!("{ns:.1} ns"),
            Some(ns) if ns < 1_000_000.0 => format!("{:.1} µs", ns / 1e3),
            Some(ns) => format!("{:.3} ms", ns / 1e6),
        }
    }

    /// Prints the medians of this run with their ratios to the floors and the targets.
    pub fn print(since: SystemTime) {
        let Some(dir) = criterion_dir() else { return };
        let m = |id: &str| median_ns(&dir, id, since);
        if m("check_quick/hvprobe").is_none() && m("check_full/hvprobe").is_none() && m("diagnose/hvprobe").is_none() {
            return;
        }
        println!("\nMedians of this run (criterion's median of per-sample means):");
        println!("  {:<28} {:>12}", "construct platform probe", show(m("construct/platform_probe")));
        for (id, what) in [
            ("classify/classify_errno", "classify_errno"),
            ("classify/from_errno", "ProbeError::from_errno"),
            ("classify/from_hv_return", "ProbeError::from_hv_return"),
        ] {
            println!("  {what:<28} {:>12}", show(m(id)));
        }
        for group in ["check_quick", "check_full"] {
            let (hv, k, h) =
                (m(&format!("{group}/hvprobe")), m(&format!("{group}/floor_k")), m(&format!("{group}/floor_h")));
            println!("  {group:<28} {:>12}   floor K {:>10}   floor H {:>10}", show(hv), show(k), show(h));
            if let (Some(hv), Some(k), Some(h)) = (hv, k, h) {
                ratios(hv / k, hv / h);
            }
        }
        let (d, dk) = (m("diagnose/hvprobe"), m("diagnose/floor_k"));
        println!("  {:<28} {:>12}   floor K {:>10}", "diagnose (errno 22)", show(d), show(dk));
        if let Some(d) = d {
            diagnosis_target(d, dk);
        }

        println!(
            "\nInterleaved: {ROUNDS} rounds, each calling the check and its floors once in a rotating order\n\
             (medians of single calls; load changes during the run hit all three alike):"
        );
        for (group, level) in [("check_quick", Level::Quick), ("check_full", Level::Full)] {
            if m(&format!("{group}/hvprobe")).is_none() {
                continue;
            }
            let v = crate::linux::interleaved_check(level, ROUNDS);
            let (hv, k, h) = (v[0], v[1], v[2]);
            println!(
                "  {group:<28} {:>12}   floor K {:>10}   floor H {:>10}",
                show(Some(hv)),
                show(Some(k)),
                show(Some(h))
            );
            ratios(hv / k, hv / h);
        }
        if d.is_some() {
            let v = crate::linux::interleaved_diagnose(ROUNDS);
            println!("  {:<28} {:>12}   floor K {:>10}", "diagnose (errno 22)", show(Some(v[0])), show(Some(v[1])));
            diagnosis_target(v[0], Some(v[1]));
        }
    }

    /// Rounds of the interleaved measurement.
    const ROUNDS: usize = 2000;

    fn ratios(rk: f64, rh: f64) {
        println!(
            "  {:<28} {:>12}   {:.2}× floor K (target ≤ 1.6: {})   {:.2}× floor H (target ≤ 1.3: {})",
            "",
            "",
            rk,
            if rk <= 1.6 { "met" } else { "MISSED" },
            rh,
            if rh <= 1.3 { "met" } else { "MISSED" }
        );
    }

    fn diagnosis_target(d: f64, dk: Option<f64>) {
        println!(
            "  {:<28} {:>12}   target ≤ 1 ms: {}{}",
            "",
            "",
            if d <= 1e6 { "met" } else { "MISSED" },
            dk.map(|k| format!("   ({:.2}× floor K)", d / k)).unwrap_or_default()
        );
    }
}
