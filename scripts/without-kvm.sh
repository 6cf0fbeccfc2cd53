#!/usr/bin/env bash
# Runs a command where /dev/kvm does not exist: in a private mount namespace, /dev is
# replaced by a tmpfs holding only the nodes a build and its tests need. Needs root.
# The host's /dev is untouched; the namespace ends with the command.
#
#   scripts/without-kvm.sh cargo test -p probe-mock
set -euo pipefail
if [ "${1:-}" != "--inside" ]; then
    exec unshare --mount --propagation private "$0" --inside "$@"
fi
shift
dev=$(mktemp -d /tmp/hvprobe-nokvm-dev.XXXXXX)
mount -t tmpfs none "$dev"
for n in null zero full random urandom tty; do
    touch "$dev/$n"
    mount --bind "/dev/$n" "$dev/$n"
done
mkdir "$dev/pts" "$dev/shm"
mount --bind /dev/pts "$dev/pts"
mount -t tmpfs none "$dev/shm"
ln -s /proc/self/fd "$dev/fd"
mount --move "$dev" /dev
rmdir "$dev" 2>/dev/null || true
if [ -e /dev/kvm ]; then
    echo "without-kvm: /dev/kvm is still visible" >&2
    exit 1
fi
echo "without-kvm: /dev/kvm hidden for: $*" >&2
exec "$@"
