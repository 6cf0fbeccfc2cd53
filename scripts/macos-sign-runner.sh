#!/bin/sh
# Cargo runner for *-apple-darwin targets (see .cargo/config.toml): ad-hoc sign the
# binary cargo is about to run with the hypervisor entitlement, then run it.
# Building strips the signature, so every run signs again.
set -eu
binary="$1"
root="$(cd "$(dirname "$0")/.." && pwd)"
codesign --sign - --entitlements "$root/hvf.entitlements" --force "$binary" >&2
exec "$@"
