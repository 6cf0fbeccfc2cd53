/*
 * The subset of Hypervisor.framework that hvprobe uses, declared from Apple's
 * documentation and SDK headers (Hypervisor/hv_error.h, hv_types.h, hv_vm.h,
 * hv_vm_config.h). Plain C, no system headers, so that bindgen produces the
 * same output on any host.
 *
 * The section is picked by the target, exactly as the SDK does it: `__arm64__`
 * (Apple silicon) or `__x86_64__` (Intel). `cargo xtask bindgen` runs clang with
 * `--target=arm64-apple-macos11` and `--target=x86_64-apple-macos10.15`.
 *
 * hv_return_t codes are declared as typed constants rather than the SDK's
 * anonymous enum, so that the bindings give them the type hv_return_t (a signed
 * 32-bit mach_error_t) and never an unsigned or 64-bit type.
 * `cargo xtask bindgen --sdk` checks every item here against the real SDK.
 */
#ifndef HVF_SUBSET_H
#define HVF_SUBSET_H

#include <stdbool.h>
#include <stdint.h>

#if !defined(__arm64__) && !defined(__x86_64__)
#error "hvf_subset.h: Hypervisor.framework exists for arm64 and x86_64 only"
#endif

/** A Mach error code (mach/error.h: kern_return_t, a C int). */
typedef int mach_error_t;

/**
 * Return code of every Hypervisor.framework call: a signed 32-bit Mach error.
 * Errors are `err_local | err_sub(0xba5) | n`, so every error is negative.
 */
typedef mach_error_t hv_return_t;

#define HVF_SUBSET_ERR_LOCAL (0x3eu << 26)
#define HVF_SUBSET_ERR_SUB_HYPERVISOR ((0xba5u & 0xfffu) << 14)
#define HVF_SUBSET_ERR_COMMON_HYPERVISOR (HVF_SUBSET_ERR_LOCAL | HVF_SUBSET_ERR_SUB_HYPERVISOR)

/** The operation was successful. */
static const hv_return_t HV_SUCCESS = 0;
/** The operation was unsuccessful (0xfae94001). */
static const hv_return_t HV_ERROR = (hv_return_t)(HVF_SUBSET_ERR_COMMON_HYPERVISOR | 0x01);
/** The operation was unsuccessful because the owning resource was busy (0xfae94002). */
static const hv_return_t HV_BUSY = (hv_return_t)(HVF_SUBSET_ERR_COMMON_HYPERVISOR | 0x02);
/** The operation was unsuccessful because the function call had an invalid argument (0xfae94003). */
static const hv_return_t HV_BAD_ARGUMENT = (hv_return_t)(HVF_SUBSET_ERR_COMMON_HYPERVISOR | 0x03);
#if defined(__arm64__)
/** The operation was unsuccessful because the guest is in an illegal state (0xfae94004). */
static const hv_return_t HV_ILLEGAL_GUEST_STATE = (hv_return_t)(HVF_SUBSET_ERR_COMMON_HYPERVISOR | 0x04);
#endif
/** The operation was unsuccessful because the host had no resources available to complete the request (0xfae94005). */
static const hv_return_t HV_NO_RESOURCES = (hv_return_t)(HVF_SUBSET_ERR_COMMON_HYPERVISOR | 0x05);
/** The operation was unsuccessful because no VM or vCPU was available (0xfae94006). */
static const hv_return_t HV_NO_DEVICE = (hv_return_t)(HVF_SUBSET_ERR_COMMON_HYPERVISOR | 0x06);
/** The system did not allow the requested operation (0xfae94007). */
static const hv_return_t HV_DENIED = (hv_return_t)(HVF_SUBSET_ERR_COMMON_HYPERVISOR | 0x07);
#if defined(__arm64__)
/** The object already exists (0xfae94008). */
static const hv_return_t HV_EXISTS = (hv_return_t)(HVF_SUBSET_ERR_COMMON_HYPERVISOR | 0x08);
#endif
/** The operation requested is not supported by the hypervisor (0xfae9400f). */
static const hv_return_t HV_UNSUPPORTED = (hv_return_t)(HVF_SUBSET_ERR_COMMON_HYPERVISOR | 0x0f);

#if defined(__arm64__)

/** Opaque VM configuration object (an OS object: release it with os_release). */
struct hv_vm_config_s;
/** A VM configuration; NULL means the default configuration. */
typedef struct hv_vm_config_s *hv_vm_config_t;

/** Creates a VM configuration object (macOS 13.0+). */
extern hv_vm_config_t hv_vm_config_create(void);
/** Returns the maximum intermediate physical address bit length (macOS 13.0+). */
extern hv_return_t hv_vm_config_get_max_ipa_size(uint32_t *ipa_bit_length);
/** Returns the default intermediate physical address bit length (macOS 13.0+). */
extern hv_return_t hv_vm_config_get_default_ipa_size(uint32_t *ipa_bit_length);
/** Sets the intermediate physical address bit length of a configuration (macOS 13.0+). */
extern hv_return_t hv_vm_config_set_ipa_size(hv_vm_config_t config, uint32_t ipa_bit_length);
/** Returns whether the platform supports EL2, i.e. nested virtualization (macOS 15.0+). */
extern hv_return_t hv_vm_config_get_el2_supported(bool *el2_supported);
/** Enables or disables EL2 in a configuration (macOS 15.0+). */
extern hv_return_t hv_vm_config_set_el2_enabled(hv_vm_config_t config, bool el2_enabled);

/** Creates a VM instance for the current process; one VM per process (macOS 11.0+). */
extern hv_return_t hv_vm_create(hv_vm_config_t config);
/** Returns the maximum number of vCPUs the hypervisor supports (macOS 11.0+). */
extern hv_return_t hv_vm_get_max_vcpu_count(uint32_t *max_vcpu_count);

#elif defined(__x86_64__)

/** Options for hv_vm_create. */
typedef uint64_t hv_vm_options_t;
/** The default VM options. */
static const hv_vm_options_t HV_VM_DEFAULT = 0;

/** A system capability for hv_capability. */
typedef uint64_t hv_capability_t;
/** The maximum number of vCPUs. */
static const hv_capability_t HV_CAP_VCPUMAX = 0;
/** The maximum number of guest address spaces. */
static const hv_capability_t HV_CAP_ADDRSPACEMAX = 1;

/** Creates a VM instance for the current process; one VM per process (macOS 10.10+). */
extern hv_return_t hv_vm_create(hv_vm_options_t flags);
/** Gets the value of a capability of the system (macOS 10.15+). */
extern hv_return_t hv_capability(hv_capability_t capability, uint64_t *value);

#endif

/** Destroys the VM of the current process; its vCPUs must be destroyed first. */
extern hv_return_t hv_vm_destroy(void);

#endif /* HVF_SUBSET_H */
