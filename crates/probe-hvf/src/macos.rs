//! The real host: system calls on macOS. All unsafe code of the HVF backend is here.
//!
//! Symbols that appeared after macOS 11 (`hv_vm_config_*`: 13.0 and 15.0) are
//! resolved at run time with `dlsym`, so one binary loads on every macOS that has
//! Hypervisor.framework on Apple silicon.

use std::ffi::{CStr, CString, c_void};
use std::path::PathBuf;

use hvf_sys as sys;

use crate::host::{
    Arch, ChildOutcome, ChildProbeError, Entitlement, Errno, HYPERVISOR_ENTITLEMENT, HvCall, HvReturn, HvfHost,
    VmConfig,
};

/// The running Mac.
#[derive(Debug, Clone, Default)]
pub struct MacHost {
    child_helper: Option<PathBuf>,
}

impl MacHost {
    /// The running Mac, probing VM creation in this process. Makes no system call.
    pub fn new() -> Self {
        MacHost::default()
    }

    /// The running Mac, probing VM creation in a child process: `helper` is run with
    /// [`crate::child::CHILD_PROBE_ARG`] and must answer the protocol of
    /// [`crate::child`] (and be signed with the hypervisor entitlement).
    pub fn with_child_probe(helper: impl Into<PathBuf>) -> Self {
        MacHost { child_helper: Some(helper.into()) }
    }

    /// The helper used for child probes, if any.
    pub fn child_helper(&self) -> Option<&std::path::Path> {
        self.child_helper.as_deref()
    }
}

fn last_errno() -> Errno {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `sysctlbyname` into `buf`: the length written, `None` for ENOENT.
fn sysctl_raw(name: &str, buf: &mut [u8]) -> Result<Option<usize>, Errno> {
    let cname = CString::new(name).map_err(|_| libc::EINVAL)?;
    let mut len = buf.len();
    // SAFETY: `cname` is NUL-terminated; `buf` is valid for writes of `len` bytes
    // and `len` is a valid pointer; no new value is set (NULL, 0).
    let rc = unsafe {
        libc::sysctlbyname(cname.as_ptr(), buf.as_mut_ptr().cast::<c_void>(), &mut len, std::ptr::null_mut(), 0)
    };
    if rc == 0 {
        return Ok(Some(len.min(buf.len())));
    }
    match last_errno() {
        libc::ENOENT => Ok(None),
        errno => Err(errno),
    }
}

/// The size of a sysctl's value, `None` for ENOENT.
fn sysctl_size(name: &str) -> Result<Option<usize>, Errno> {
    let cname = CString::new(name).map_err(|_| libc::EINVAL)?;
    let mut len: usize = 0;
    // SAFETY: a NULL old buffer asks only for the size, written to `len`; `cname`
    // is NUL-terminated; no new value is set.
    let rc = unsafe { libc::sysctlbyname(cname.as_ptr(), std::ptr::null_mut(), &mut len, std::ptr::null_mut(), 0) };
    if rc == 0 {
        return Ok(Some(len));
    }
    match last_errno() {
        libc::ENOENT => Ok(None),
        errno => Err(errno),
    }
}

#[cfg(target_arch = "aarch64")]
mod config_api {
    //! The 13.0+ and 15.0+ `hv_vm_config_*` functions, resolved at run time.

    use super::sys;
    use std::ffi::{CStr, c_void};

    /// Resolves a symbol in the images already loaded (Hypervisor.framework is
    /// linked through hvf-sys).
    fn symbol(name: &CStr) -> Option<*mut c_void> {
        // SAFETY: `name` is NUL-terminated; RTLD_DEFAULT searches the loaded images
        // and dlsym returns NULL when the symbol does not exist.
        let ptr = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
        (!ptr.is_null()).then_some(ptr)
    }

    pub type ConfigCreate = unsafe extern "C" fn() -> sys::hv_vm_config_t;
    pub type GetIpaSize = unsafe extern "C" fn(*mut u32) -> sys::hv_return_t;
    pub type SetIpaSize = unsafe extern "C" fn(sys::hv_vm_config_t, u32) -> sys::hv_return_t;
    pub type GetEl2Supported = unsafe extern "C" fn(*mut bool) -> sys::hv_return_t;

    /// The pointer types above are hvf-sys's declarations: a mismatch fails to
    /// compile. Generic and never instantiated, so it is type-checked only and the
    /// (possibly absent) symbols are never referenced by the binary.
    #[allow(dead_code, clippy::extra_unused_type_parameters)]
    fn declarations_match<T>() {
        let _: ConfigCreate = sys::hv_vm_config_create;
        let _: GetIpaSize = sys::hv_vm_config_get_max_ipa_size;
        let _: GetIpaSize = sys::hv_vm_config_get_default_ipa_size;
        let _: SetIpaSize = sys::hv_vm_config_set_ipa_size;
        let _: GetEl2Supported = sys::hv_vm_config_get_el2_supported;
    }

    pub fn config_create() -> Option<ConfigCreate> {
        let ptr = symbol(c"hv_vm_config_create")?;
        // SAFETY: the symbol is Hypervisor.framework's hv_vm_config_create, whose C
        // signature is `hv_vm_config_t (void)` (hvf-sys, checked above).
        Some(unsafe { std::mem::transmute::<*mut c_void, ConfigCreate>(ptr) })
    }

    pub fn get_max_ipa_size() -> Option<GetIpaSize> {
        let ptr = symbol(c"hv_vm_config_get_max_ipa_size")?;
        // SAFETY: the symbol's C signature is `hv_return_t (uint32_t *)`.
        Some(unsafe { std::mem::transmute::<*mut c_void, GetIpaSize>(ptr) })
    }

    pub fn get_default_ipa_size() -> Option<GetIpaSize> {
        let ptr = symbol(c"hv_vm_config_get_default_ipa_size")?;
        // SAFETY: the symbol's C signature is `hv_return_t (uint32_t *)`.
        Some(unsafe { std::mem::transmute::<*mut c_void, GetIpaSize>(ptr) })
    }

    pub fn set_ipa_size() -> Option<SetIpaSize> {
        let ptr = symbol(c"hv_vm_config_set_ipa_size")?;
        // SAFETY: the symbol's C signature is `hv_return_t (hv_vm_config_t, uint32_t)`.
        Some(unsafe { std::mem::transmute::<*mut c_void, SetIpaSize>(ptr) })
    }

    pub fn get_el2_supported() -> Option<GetEl2Supported> {
        let ptr = symbol(c"hv_vm_config_get_el2_supported")?;
        // SAFETY: the symbol's C signature is `hv_return_t (bool *)`.
        Some(unsafe { std::mem::transmute::<*mut c_void, GetEl2Supported>(ptr) })
    }

    unsafe extern "C" {
        /// libSystem's release of an OS object (a `hv_vm_config_t`).
        fn os_release(object: *mut c_void);
    }

    /// A configuration object, released on drop.
    pub struct OwnedConfig(pub sys::hv_vm_config_t);

    impl Drop for OwnedConfig {
        fn drop(&mut self) {
            // SAFETY: the pointer came from hv_vm_config_create, is not NULL (checked
            // at construction) and is released exactly once, here.
            unsafe { os_release(self.0.cast::<c_void>()) };
        }
    }

    /// Calls a `hv_return_t (uint32_t *)` getter.
    pub fn get_u32(f: GetIpaSize) -> Result<u32, sys::hv_return_t> {
        let mut value: u32 = 0;
        // SAFETY: `value` is a valid, writable u32 for the duration of the call.
        let ret = unsafe { f(&mut value) };
        if ret == sys::HV_SUCCESS { Ok(value) } else { Err(ret) }
    }
}

/// The few CoreFoundation and Security functions the entitlement self-check needs.
mod entitlement {
    use std::ffi::{c_char, c_ulong, c_void};

    type CFTypeRef = *const c_void;
    type CFStringRef = *const c_void;
    type CFAllocatorRef = *const c_void;
    type CFErrorRef = *mut c_void;
    type SecTaskRef = *mut c_void;
    type CFTypeID = c_ulong;
    type Boolean = u8;

    /// `kCFStringEncodingUTF8`.
    const UTF8: u32 = 0x0800_0100;

    #[link(name = "CoreFoundation", kind = "framework")]
    unsafe extern "C" {
        fn CFStringCreateWithCString(alloc: CFAllocatorRef, c_str: *const c_char, encoding: u32) -> CFStringRef;
        fn CFRelease(cf: CFTypeRef);
        fn CFGetTypeID(cf: CFTypeRef) -> CFTypeID;
        fn CFBooleanGetTypeID() -> CFTypeID;
        fn CFBooleanGetValue(boolean: CFTypeRef) -> Boolean;
    }

    #[link(name = "Security", kind = "framework")]
    unsafe extern "C" {
        fn SecTaskCreateFromSelf(allocator: CFAllocatorRef) -> SecTaskRef;
        fn SecTaskCopyValueForEntitlement(
            task: SecTaskRef,
            entitlement: CFStringRef,
            error: *mut CFErrorRef,
        ) -> CFTypeRef;
    }

    /// A CoreFoundation object this code owns (a Create or Copy result).
    struct Owned(CFTypeRef);

    impl Owned {
        fn new(ptr: CFTypeRef) -> Option<Owned> {
            (!ptr.is_null()).then_some(Owned(ptr))
        }
    }

    impl Drop for Owned {
        fn drop(&mut self) {
            // SAFETY: the object came from a Create/Copy function, is not NULL and
            // is released exactly once, here.
            unsafe { CFRelease(self.0) };
        }
    }

    /// `Ok(true)` when the entitlement is the boolean true, `Ok(false)` when absent
    /// or anything else, `Err` when the self-check cannot run.
    pub fn has_boolean_entitlement(name: &std::ffi::CStr) -> Result<bool, &'static str> {
        // SAFETY: a NULL allocator selects the default one; the result is owned.
        let task = unsafe { SecTaskCreateFromSelf(std::ptr::null()) };
        let task = Owned::new(task.cast_const()).ok_or("SecTaskCreateFromSelf returned NULL")?;
        // SAFETY: `name` is NUL-terminated UTF-8; the result is owned.
        let key = unsafe { CFStringCreateWithCString(std::ptr::null(), name.as_ptr(), UTF8) };
        let key = Owned::new(key).ok_or("CFStringCreateWithCString returned NULL")?;
        let mut error: CFErrorRef = std::ptr::null_mut();
        // SAFETY: `task` and `key` are live objects of the right types; `error` is a
        // valid out-pointer. The result (if any) is owned.
        let value = unsafe { SecTaskCopyValueForEntitlement(task.0.cast_mut(), key.0, &mut error) };
        // The error, when set, is owned too; release it.
        let _error = Owned::new(error.cast_const());
        let Some(value) = Owned::new(value) else {
            return Ok(false);
        };
        // SAFETY: `value` is a live CoreFoundation object.
        let type_id = unsafe { CFGetTypeID(value.0) };
        // SAFETY: no arguments; returns a constant.
        let boolean_id = unsafe { CFBooleanGetTypeID() };
        if type_id != boolean_id {
            return Ok(false);
        }
        // SAFETY: `value` is a live CFBoolean (type checked above).
        Ok(unsafe { CFBooleanGetValue(value.0) } != 0)
    }
}

impl HvfHost for MacHost {
    fn sysctl_int(&self, name: &str) -> Result<Option<i64>, Errno> {
        let mut buf = [0u8; 8];
        let Some(len) = sysctl_raw(name, &mut buf)? else {
            return Ok(None);
        };
        match len {
            4 => Ok(Some(i32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]).into())),
            8 => Ok(Some(i64::from_ne_bytes(buf))),
            _ => Err(libc::EINVAL),
        }
    }

    fn sysctl_string(&self, name: &str) -> Result<Option<String>, Errno> {
        let Some(size) = sysctl_size(name)? else {
            return Ok(None);
        };
        // The value may grow between the two calls; leave some room.
        let mut buf = vec![0u8; size + 64];
        let Some(len) = sysctl_raw(name, &mut buf)? else {
            return Ok(None);
        };
        buf.truncate(len);
        let text = CStr::from_bytes_until_nul(&buf)
            .map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_else(|_| String::from_utf8_lossy(&buf).into_owned());
        Ok(Some(text))
    }

    fn entitlement(&self) -> Entitlement {
        let name = CString::new(HYPERVISOR_ENTITLEMENT).expect("no NUL in the entitlement name");
        match entitlement::has_boolean_entitlement(&name) {
            Ok(true) => Entitlement::Granted,
            Ok(false) => Entitlement::Missing,
            Err(why) => Entitlement::Unknown(why.to_owned()),
        }
    }

    #[cfg(target_arch = "aarch64")]
    fn vm_create(&self, config: VmConfig) -> HvCall {
        let Some(bits) = config.ipa_bits else {
            // SAFETY: NULL selects the default configuration. The caller destroys
            // the VM when this returns HV_SUCCESS.
            return HvCall::vm_create(unsafe { sys::hv_vm_create(std::ptr::null_mut()) });
        };
        let (Some(create), Some(set_ipa)) = (config_api::config_create(), config_api::set_ipa_size()) else {
            // An IPA size cannot be asked for before macOS 13.0.
            return HvCall::vm_config(sys::HV_UNSUPPORTED);
        };
        // SAFETY: no arguments; returns an owned configuration or NULL.
        let raw = unsafe { create() };
        if raw.is_null() {
            return HvCall::vm_config(sys::HV_NO_RESOURCES);
        }
        let owned = config_api::OwnedConfig(raw);
        // SAFETY: `owned.0` is a live configuration object.
        let ret = unsafe { set_ipa(owned.0, bits) };
        if ret != sys::HV_SUCCESS {
            return HvCall::vm_config(ret);
        }
        // SAFETY: `owned.0` is a live configuration; the framework keeps what it
        // needs, so releasing it afterwards (on drop) is allowed.
        HvCall::vm_create(unsafe { sys::hv_vm_create(owned.0) })
    }

    #[cfg(target_arch = "x86_64")]
    fn vm_create(&self, config: VmConfig) -> HvCall {
        if config.ipa_bits.is_some() {
            return HvCall::vm_config(sys::HV_UNSUPPORTED);
        }
        // SAFETY: HV_VM_DEFAULT is the documented default option set. The caller
        // destroys the VM when this returns HV_SUCCESS.
        HvCall::vm_create(unsafe { sys::hv_vm_create(sys::HV_VM_DEFAULT) })
    }

    #[cfg(not(any(target_arch = "aarch64", target_arch = "x86_64")))]
    fn vm_create(&self, _config: VmConfig) -> HvCall {
        HvCall::vm_create(probe_core::raw::hv::HV_UNSUPPORTED)
    }

    #[cfg(any(target_arch = "aarch64", target_arch = "x86_64"))]
    fn vm_destroy(&self) -> HvReturn {
        // SAFETY: called only after hv_vm_create succeeded in this process; the
        // probe creates no vCPU, so none is left to destroy first.
        unsafe { sys::hv_vm_destroy() }
    }

    #[cfg(not(any(target_arch = "aarch64", target_arch = "x86_64")))]
    fn vm_destroy(&self) -> HvReturn {
        probe_core::raw::hv::HV_UNSUPPORTED
    }

    #[cfg(target_arch = "aarch64")]
    fn max_vcpu_count(&self) -> Result<u32, HvReturn> {
        let mut count: u32 = 0;
        // SAFETY: `count` is a valid, writable u32 for the duration of the call.
        let ret = unsafe { sys::hv_vm_get_max_vcpu_count(&mut count) };
        if ret == sys::HV_SUCCESS { Ok(count) } else { Err(ret) }
    }

    #[cfg(target_arch = "x86_64")]
    fn max_vcpu_count(&self) -> Result<u32, HvReturn> {
        let mut count: u64 = 0;
        // SAFETY: `count` is a valid, writable u64 for the duration of the call.
        let ret = unsafe { sys::hv_capability(sys::HV_CAP_VCPUMAX, &mut count) };
        if ret == sys::HV_SUCCESS { Ok(u32::try_from(count).unwrap_or(u32::MAX)) } else { Err(ret) }
    }

    #[cfg(not(any(target_arch = "aarch64", target_arch = "x86_64")))]
    fn max_vcpu_count(&self) -> Result<u32, HvReturn> {
        Err(probe_core::raw::hv::HV_UNSUPPORTED)
    }

    fn max_ipa_bits(&self) -> Option<Result<u32, HvReturn>> {
        #[cfg(target_arch = "aarch64")]
        return config_api::get_max_ipa_size().map(config_api::get_u32);
        #[cfg(not(target_arch = "aarch64"))]
        None
    }

    fn default_ipa_bits(&self) -> Option<Result<u32, HvReturn>> {
        #[cfg(target_arch = "aarch64")]
        return config_api::get_default_ipa_size().map(config_api::get_u32);
        #[cfg(not(target_arch = "aarch64"))]
        None
    }

    fn el2_supported(&self) -> Option<Result<bool, HvReturn>> {
        #[cfg(target_arch = "aarch64")]
        {
            let f = config_api::get_el2_supported()?;
            let mut supported = false;
            // SAFETY: `supported` is a valid, writable bool for the duration of the
            // call.
            let ret = unsafe { f(&mut supported) };
            Some(if ret == sys::HV_SUCCESS { Ok(supported) } else { Err(ret) })
        }
        #[cfg(not(target_arch = "aarch64"))]
        None
    }

    fn arch(&self) -> Arch {
        Arch::current()
    }

    fn probe_in_child(&self, config: VmConfig) -> Option<Result<ChildOutcome, ChildProbeError>> {
        let helper = self.child_helper.as_deref()?;
        Some(crate::child::run_helper(helper, config))
    }
}
