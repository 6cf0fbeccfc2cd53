//! `cargo xtask bindgen --sdk`: the subset header against the real SDK.
//!
//! Both are run through bindgen with the same allowlist; the outputs are read back
//! as Rust items and every item of the subset must exist in the SDK's output with
//! the same value (constants) or the same types after resolving aliases (functions,
//! type aliases). Constant *types* are not compared: the subset declares the
//! `hv_return_t` codes as typed constants on purpose, where the SDK uses an
//! anonymous enum; their values are compared as 32-bit patterns.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use quote::ToTokens;

use super::{Arch, builder, generate_subset, run_bindgen};
use crate::Error;

/// The macOS SDK, from `xcrun --show-sdk-path`.
pub fn sdk_path() -> Result<PathBuf, Error> {
    if !cfg!(target_os = "macos") {
        return Err(Error::NeedsMacos {
            task: "bindgen --sdk",
            why: format!(
                "this host runs {}; the check reads Hypervisor.framework's headers from the macOS SDK (`xcrun --show-sdk-path`)",
                std::env::consts::OS
            ),
        });
    }
    let output =
        Command::new("xcrun").args(["--sdk", "macosx", "--show-sdk-path"]).output().map_err(|e| Error::NeedsMacos {
            task: "bindgen --sdk",
            why: format!("cannot run xcrun ({e}); install them with `xcode-select --install`"),
        })?;
    if !output.status.success() {
        return Err(Error::NeedsMacos {
            task: "bindgen --sdk",
            why: format!(
                "`xcrun --sdk macosx --show-sdk-path` failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        });
    }
    let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    if !path.join(FRAMEWORK_HEADERS).is_dir() {
        return Err(Error::NeedsMacos {
            task: "bindgen --sdk",
            why: format!("{} has no {FRAMEWORK_HEADERS}", path.display()),
        });
    }
    Ok(path)
}

const FRAMEWORK_HEADERS: &str = "System/Library/Frameworks/Hypervisor.framework/Headers";

/// bindgen's output for the SDK's `<Hypervisor/Hypervisor.h>` under `arch`.
pub fn generate_sdk(sdk: &Path, arch: Arch) -> Result<String, Error> {
    let target = arch.clang_target();
    let frameworks = sdk.join("System/Library/Frameworks");
    let builder = builder(target)
        .header_contents("hvprobe_sdk.h", "#include <Hypervisor/Hypervisor.h>\n")
        .clang_arg(format!("-isysroot{}", sdk.display()))
        .clang_arg(format!("-F{}", frameworks.display()));
    run_bindgen(builder, target)
}

/// Checks the subset of both architectures against the SDK; returns notes to print.
pub fn check_against_sdk(sys_crate: &Path, sdk: &Path) -> Result<Vec<String>, Error> {
    let mut mismatches = Vec::new();
    let mut notes = Vec::new();
    for arch in Arch::ALL {
        let target = arch.clang_target();
        let ours = Items::parse(&generate_subset(sys_crate, arch)?, target)?;
        let theirs = Items::parse(&generate_sdk(sdk, arch)?, target)?;
        let found = compare(&ours, &theirs);
        notes.push(format!("{target}: {} items of the subset checked, {} disagree", ours.len(), found.len()));
        mismatches.extend(found.into_iter().map(|m| format!("{target}: {m}")));
    }
    if mismatches.is_empty() { Ok(notes) } else { Err(Error::SdkMismatch { sdk: sdk.to_path_buf(), mismatches }) }
}

/// A function's parameter types and return type, as written.
#[derive(Debug, Clone)]
pub struct Signature {
    params: Vec<syn::Type>,
    output: Option<syn::Type>,
}

/// The items of one bindgen output.
#[derive(Debug, Default)]
pub struct Items {
    consts: BTreeMap<String, i128>,
    functions: BTreeMap<String, Signature>,
    aliases: BTreeMap<String, syn::Type>,
    structs: BTreeSet<String>,
}

impl Items {
    /// Reads generated Rust back into items.
    pub fn parse(text: &str, target: &str) -> Result<Items, Error> {
        let parse_error = |message: String| Error::Parse { target: target.to_owned(), message };
        let file = syn::parse_file(text).map_err(|e| parse_error(e.to_string()))?;
        let mut items = Items::default();
        for item in file.items {
            match item {
                syn::Item::Const(c) => {
                    let name = c.ident.to_string();
                    let value =
                        int_value(&c.expr).ok_or_else(|| parse_error(format!("{name} is not an integer literal")))?;
                    items.consts.insert(name, value);
                }
                syn::Item::Type(t) => {
                    items.aliases.insert(t.ident.to_string(), *t.ty);
                }
                syn::Item::Struct(s) => {
                    items.structs.insert(s.ident.to_string());
                }
                syn::Item::ForeignMod(block) => {
                    for f in block.items {
                        if let syn::ForeignItem::Fn(f) = f {
                            let params = f
                                .sig
                                .inputs
                                .iter()
                                .filter_map(|arg| match arg {
                                    syn::FnArg::Typed(p) => Some((*p.ty).clone()),
                                    syn::FnArg::Receiver(_) => None,
                                })
                                .collect();
                            let output = match f.sig.output {
                                syn::ReturnType::Default => None,
                                syn::ReturnType::Type(_, ty) => Some(*ty),
                            };
                            items.functions.insert(f.sig.ident.to_string(), Signature { params, output });
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(items)
    }

    /// Every item name.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.consts
            .keys()
            .chain(self.functions.keys())
            .chain(self.aliases.keys())
            .chain(self.structs.iter())
            .map(String::as_str)
    }

    /// How many items there are.
    pub fn len(&self) -> usize {
        self.names().count()
    }

    /// A type with aliases resolved and C type names reduced to fixed-width Rust
    /// types (macOS is LP64 on both architectures).
    fn canonical(&self, ty: &syn::Type, depth: u32) -> String {
        match ty {
            syn::Type::Ptr(p) => {
                format!("*{} {}", if p.mutability.is_some() { "mut" } else { "const" }, self.canonical(&p.elem, depth))
            }
            syn::Type::Paren(p) => self.canonical(&p.elem, depth),
            syn::Type::Group(g) => self.canonical(&g.elem, depth),
            syn::Type::Path(p) if p.qself.is_none() => {
                let last = p.path.segments.last().map(|s| s.ident.to_string()).unwrap_or_default();
                if p.path.segments.len() == 1 && depth < 32 {
                    if let Some(target) = self.aliases.get(&last) {
                        return self.canonical(target, depth + 1);
                    }
                }
                let fixed = match last.as_str() {
                    "c_char" | "c_schar" => "i8",
                    "c_uchar" => "u8",
                    "c_short" => "i16",
                    "c_ushort" => "u16",
                    "c_int" => "i32",
                    "c_uint" => "u32",
                    "c_long" | "c_longlong" => "i64",
                    "c_ulong" | "c_ulonglong" => "u64",
                    "c_void" => "void",
                    other => other,
                };
                fixed.to_owned()
            }
            other => other.to_token_stream().to_string(),
        }
    }

    fn canonical_signature(&self, sig: &Signature) -> String {
        let params: Vec<String> = sig.params.iter().map(|t| self.canonical(t, 0)).collect();
        let output = sig.output.as_ref().map_or_else(|| "()".to_owned(), |t| self.canonical(t, 0));
        format!("fn({}) -> {output}", params.join(", "))
    }
}

/// The value of an integer literal, possibly negated.
fn int_value(expr: &syn::Expr) -> Option<i128> {
    match expr {
        syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Int(i), .. }) => i.base10_parse::<i128>().ok(),
        syn::Expr::Unary(syn::ExprUnary { op: syn::UnOp::Neg(_), expr, .. }) => int_value(expr).map(|v| -v),
        syn::Expr::Paren(p) => int_value(&p.expr),
        syn::Expr::Group(g) => int_value(&g.expr),
        _ => None,
    }
}

/// Whether two constant values agree: equal, or equal as 32-bit patterns (the SDK's
/// anonymous enum gives 0xfae94001 where the subset's hv_return_t gives -85377023).
fn same_value(a: i128, b: i128) -> bool {
    a == b || (fits_32(a) && fits_32(b) && a.rem_euclid(1 << 32) == b.rem_euclid(1 << 32))
}

fn fits_32(v: i128) -> bool {
    (i128::from(i32::MIN)..=i128::from(u32::MAX)).contains(&v)
}

/// A constant as a 32-bit pattern when it is one (`0xfae94007`), else in decimal.
fn show(v: i128) -> String {
    if fits_32(v) { format!("{:#010x}", v.rem_euclid(1 << 32)) } else { v.to_string() }
}

/// Every way `ours` disagrees with `theirs`, one line each.
pub fn compare(ours: &Items, theirs: &Items) -> Vec<String> {
    let mut out = Vec::new();
    for (name, value) in &ours.consts {
        match theirs.consts.get(name) {
            None => out.push(format!("constant {name} is not in the SDK")),
            Some(v) if !same_value(*value, *v) => {
                out.push(format!("constant {name} = {} here, {} in the SDK", show(*value), show(*v)))
            }
            Some(_) => {}
        }
    }
    for (name, sig) in &ours.functions {
        match theirs.functions.get(name) {
            None => out.push(format!("function {name} is not in the SDK")),
            Some(s) => {
                let (a, b) = (ours.canonical_signature(sig), theirs.canonical_signature(s));
                if a != b {
                    out.push(format!("function {name}: `{a}` here, `{b}` in the SDK"));
                }
            }
        }
    }
    for (name, ty) in &ours.aliases {
        match theirs.aliases.get(name) {
            None => out.push(format!("type {name} is not in the SDK")),
            Some(t) => {
                let (a, b) = (ours.canonical(ty, 0), theirs.canonical(t, 0));
                if a != b {
                    out.push(format!("type {name}: `{a}` here, `{b}` in the SDK"));
                }
            }
        }
    }
    for name in &ours.structs {
        if !theirs.structs.contains(name) {
            out.push(format!("struct {name} is not in the SDK"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindgen::sys_crate;
    use crate::bindgen::tests::tempdir;
    use crate::workspace_root;

    /// Hypervisor.framework's headers as the SDK writes them: anonymous enums,
    /// `err_local | err_sub(0xba5)`, OS-object config type, mach_error_t via
    /// kern_return_t. Enough of it to stand in for the SDK on a host without one.
    const SDK_LIKE: &str = r#"
#include <stdint.h>
#include <stdbool.h>
typedef int kern_return_t;
typedef kern_return_t mach_error_t;
#define err_system(x) (((x)&0x3f)<<26)
#define err_sub(x) (((x)&0xfff)<<14)
#define err_local err_system(0x3e)
#define err_common_hypervisor (err_local | err_sub(0xba5))
enum {
    HV_SUCCESS = 0,
    HV_ERROR = err_common_hypervisor | 0x01,
    HV_BUSY = err_common_hypervisor | 0x02,
    HV_BAD_ARGUMENT = err_common_hypervisor | 0x03,
#ifdef __arm64__
    HV_ILLEGAL_GUEST_STATE = err_common_hypervisor | 0x04,
#endif
    HV_NO_RESOURCES = err_common_hypervisor | 0x05,
    HV_NO_DEVICE = err_common_hypervisor | 0x06,
    HV_DENIED = err_common_hypervisor | 0x07,
#ifdef __arm64__
    HV_EXISTS = err_common_hypervisor | 0x08,
#endif
    HV_UNSUPPORTED = err_common_hypervisor | 0x0f
};
typedef mach_error_t hv_return_t;
#ifdef __arm64__
typedef struct hv_vm_config_s *hv_vm_config_t;
hv_vm_config_t hv_vm_config_create(void);
hv_return_t hv_vm_config_get_max_ipa_size(uint32_t *ipa_bit_length);
hv_return_t hv_vm_config_get_default_ipa_size(uint32_t *ipa_bit_length);
hv_return_t hv_vm_config_set_ipa_size(hv_vm_config_t config, uint32_t ipa_bit_length);
hv_return_t hv_vm_config_get_ipa_size(hv_vm_config_t config, uint32_t *ipa_bit_length);
hv_return_t hv_vm_config_get_el2_supported(bool *el2_supported);
hv_return_t hv_vm_config_set_el2_enabled(hv_vm_config_t config, bool el2_enabled);
hv_return_t hv_vm_create(hv_vm_config_t _Nullable config);
hv_return_t hv_vm_get_max_vcpu_count(uint32_t *max_vcpu_count);
#else
enum { HV_CAP_VCPUMAX, HV_CAP_ADDRSPACEMAX };
typedef uint64_t hv_capability_t;
enum { HV_VM_DEFAULT = (0ull << 0), HV_VM_SPECIFY_MITIGATIONS = (1ull << 0) };
typedef uint64_t hv_vm_options_t;
hv_return_t hv_vm_create(hv_vm_options_t flags);
hv_return_t hv_capability(hv_capability_t capability, uint64_t *value);
#endif
hv_return_t hv_vm_destroy(void);
"#;

    /// A directory laid out like an SDK, holding `header` as Hypervisor.h.
    fn fake_sdk(name: &str, header: &str) -> PathBuf {
        let sdk = tempdir(name);
        let headers = sdk.join(FRAMEWORK_HEADERS);
        std::fs::create_dir_all(&headers).unwrap();
        std::fs::write(headers.join("Hypervisor.h"), header).unwrap();
        sdk
    }

    #[test]
    fn off_macos_the_sdk_check_says_what_it_needs() {
        if cfg!(target_os = "macos") {
            return;
        }
        let err = sdk_path().unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::NeedsMacos { .. }));
        assert!(text.contains("needs macOS with Xcode command-line tools"), "{text}");
        assert!(text.contains("bindgen --sdk"), "{text}");
    }

    #[test]
    fn subset_agrees_with_sdk_shaped_headers() {
        let sdk = fake_sdk("sdk-same", SDK_LIKE);
        let notes = check_against_sdk(&sys_crate(&workspace_root()), &sdk).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(notes.len(), 2);
        assert!(notes.iter().all(|n| n.ends_with(" 0 disagree")), "{notes:?}");
        std::fs::remove_dir_all(&sdk).unwrap();
    }

    #[test]
    fn wrong_value_missing_function_and_changed_signature_are_reported() {
        let changed = SDK_LIKE
            .replace("HV_DENIED = err_common_hypervisor | 0x07", "HV_DENIED = err_common_hypervisor | 0x09")
            .replace("hv_return_t hv_vm_get_max_vcpu_count(uint32_t *max_vcpu_count);", "")
            .replace(
                "hv_return_t hv_capability(hv_capability_t capability, uint64_t *value);",
                "hv_return_t hv_capability(hv_capability_t capability, uint32_t *value);",
            );
        let sdk = fake_sdk("sdk-changed", &changed);
        let err = check_against_sdk(&sys_crate(&workspace_root()), &sdk).unwrap_err();
        let Error::SdkMismatch { mismatches, .. } = &err else {
            panic!("{err}");
        };
        let text = mismatches.join("\n");
        assert!(
            text.contains("arm64-apple-macos11: constant HV_DENIED = 0xfae94007 here, 0xfae94009 in the SDK"),
            "{text}"
        );
        assert!(text.contains("x86_64-apple-macos10.15: constant HV_DENIED"), "{text}");
        assert!(text.contains("function hv_vm_get_max_vcpu_count is not in the SDK"), "{text}");
        assert!(
            text.contains(
                "function hv_capability: `fn(u64, *mut u64) -> i32` here, `fn(u64, *mut u32) -> i32` in the SDK"
            ),
            "{text}"
        );
        assert_eq!(mismatches.len(), 4, "{text}");
        assert!(err.to_string().contains("cargo xtask bindgen"));
        std::fs::remove_dir_all(&sdk).unwrap();
    }

    #[test]
    fn values_compare_as_32_bit_patterns_only_within_32_bits() {
        assert!(same_value(-85_377_023, 0xfae9_4001));
        assert!(same_value(0, 0));
        assert!(!same_value(-85_377_023, 0xfae9_4002));
        assert!(!same_value(-1, 0xffff_ffff_ffff_ffff));
        assert!(!same_value(1, 1 + (1 << 32)));
    }
}
