#!/usr/bin/env bash
# Whole-process comparison on this host, in one run:
#   hvprobe check   vs   kvm-ok (cpu-checker)   vs   virt-host-validate qemu (libvirt-clients)
# with hyperfine (warm-up, then medians and ratios), each tool's verdict and exit code,
# peak memory (max RSS of the largest process of each run, GNU time's %M), and the
# hvprobe binary's size and start-up time (`hvprobe --version`).
#
# Two hvprobe builds are measured:
#   dist     the binary to install: profile `dist` (opt-level s, fat LTO), linked
#            statically (glibc, -C target-feature=+crt-static)
#   release  plain `cargo build --release` (dynamically linked)
#
# Usage: bench/compare.sh [--quick]      (--quick: fewer runs, rougher figures)
# As root it installs the Debian packages it needs (hyperfine cpu-checker
# libvirt-clients time python3).
set -euo pipefail
cd "$(dirname "$0")/.."

# hyperfine measures one command after another; the load of a shared machine moves
# meanwhile. So it runs in rounds, the commands in a rotated order each round, and the
# medians are taken over the run times of all rounds together.
rounds=6 runs=60 warmup=10 rss_runs=21
if [ "${1:-}" = "--quick" ]; then
    rounds=2 runs=20 warmup=5 rss_runs=5
elif [ $# -gt 0 ]; then
    echo "usage: $0 [--quick]" >&2
    exit 2
fi

need=()
for pkg in hyperfine cpu-checker libvirt-clients time python3; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    else
        echo "missing Debian packages (install as root): ${need[*]}" >&2
        exit 1
    fi
fi
# kvm-ok and virt-host-validate live in /usr/sbin.
export PATH="$PATH:/usr/sbin:/sbin"

host=$(rustc -vV | sed -n 's/^host: //p')
echo "== building hvprobe (release, and dist: static, size-optimized) for $host" >&2
cargo build --quiet --release -p hvprobe
RUSTFLAGS="-C target-feature=+crt-static" cargo build --quiet --profile dist -p hvprobe --target "$host"
release=target/release/hvprobe
dist=target/$host/dist/hvprobe
kvm_ok=$(command -v kvm-ok)
vhv=$(command -v virt-host-validate)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== host"
echo "kernel $(uname -r), $(nproc) CPUs, KVM vendor module: $(ls /sys/module | grep -E '^kvm_' | tr '\n' ' ')"
echo "CPU flags: vmx/svm $(grep -m1 -wo -E 'vmx|svm' /proc/cpuinfo || echo absent), hypervisor $(grep -m1 -wo hypervisor /proc/cpuinfo || echo absent)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (figures are noisy when it is above ~0.5 on 2 CPUs)"
echo "tools: $(hyperfine --version), kvm-ok from cpu-checker $(dpkg-query -W -f='${Version}' cpu-checker), virt-host-validate from libvirt-clients $(dpkg-query -W -f='${Version}' libvirt-clients)"

echo
echo "== verdicts on this host (output and exit code of one run each)"
verdict() {
    local name=$1
    shift
    local rc=0
    "$@" >"$work/out" 2>&1 || rc=$?
    echo "-- $name: exit $rc"
    sed 's/^/   /' "$work/out"
}
verdict "hvprobe check (dist)" "$dist" check
verdict "hvprobe check (release)" "$release" check
verdict "kvm-ok" "$kvm_ok"
verdict "virt-host-validate qemu" "$vhv" qemu

echo
echo "== wall time: $rounds rounds of hyperfine -N --warmup $warmup --runs $runs, commands rotated each round"
echo "   (exit codes ignored: kvm-ok and virt-host-validate exit 1 here)"
names=("hvprobe check (dist)" "hvprobe check (release)" "kvm-ok" "virt-host-validate qemu"
    "hvprobe --version (dist)" "hvprobe --version (release)")
cmds=("$dist check" "$release check" "$kvm_ok" "$vhv qemu" "$dist --version" "$release --version")
for round in $(seq "$rounds"); do
    args=()
    for i in "${!names[@]}"; do
        j=$(((i + round) % ${#names[@]}))
        args+=(-n "${names[$j]}" "${cmds[$j]}")
    done
    hyperfine -N -i --style basic --warmup "$warmup" --runs "$runs" --export-json "$work/time-$round.json" \
        "${args[@]}" >>"$work/hyperfine.log" 2>&1 || {
        cat "$work/hyperfine.log" >&2
        exit 1
    }
done

echo
echo "== peak memory: /usr/bin/time -f %M, median of $rss_runs runs (KiB)"
peak() {
    local i
    for i in $(seq "$rss_runs"); do
        /usr/bin/time -f %M -o "$work/rss" "$@" >/dev/null 2>&1 || true
        tail -n1 "$work/rss"
    done | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
{
    echo "hvprobe check (dist)=$(peak "$dist" check)"
    echo "hvprobe check (release)=$(peak "$release" check)"
    echo "kvm-ok=$(peak "$kvm_ok")"
    echo "virt-host-validate qemu=$(peak "$vhv" qemu)"
} >"$work/rss.txt"

python3 - "$work" "$dist" "$release" <<'EOF'
import glob, json, os, statistics, sys

work, dist, release = sys.argv[1:]
rss_txt = os.path.join(work, "rss.txt")
times = {}
for f in sorted(glob.glob(os.path.join(work, "time-*.json"))):
    for r in json.load(open(f))["results"]:
        times.setdefault(r["command"], []).extend(r["times"])
med = {name: statistics.median(t) for name, t in times.items()}
rss = dict(line.strip().split("=", 1) for line in open(rss_txt) if "=" in line)
rss = {k: int(v) for k, v in rss.items()}

def ms(s):
    return f"{s * 1e3:.2f} ms"

print(f"{'command':<28} {'median':>10} {'runs':>6} {'peak RSS':>12}")
for name in ["hvprobe check (dist)", "hvprobe check (release)", "kvm-ok", "virt-host-validate qemu"]:
    print(f"{name:<28} {ms(med[name]):>10} {len(times[name]):>6} {rss[name]:>8} KiB")

print()
print("== ratios (targets: hvprobe check >= 3x faster than kvm-ok, >= 5x faster than")
print("   virt-host-validate qemu, peak RSS <= kvm-ok's)")
for build in ["dist", "release"]:
    hv = med[f"hvprobe check ({build})"]
    r_ok, r_vhv = med["kvm-ok"] / hv, med["virt-host-validate qemu"] / hv
    m_hv, m_ok = rss[f"hvprobe check ({build})"], rss["kvm-ok"]
    print(f"hvprobe {build:<8} {r_ok:5.2f}x faster than kvm-ok ({'met' if r_ok >= 3 else 'MISSED'}), "
          f"{r_vhv:5.2f}x faster than virt-host-validate qemu ({'met' if r_vhv >= 5 else 'MISSED'}), "
          f"peak RSS {m_hv} vs {m_ok} KiB ({'met' if m_hv <= m_ok else 'MISSED'})")

print()
print("== binary size and start-up")
for build, path in [("dist", dist), ("release", release)]:
    size = os.path.getsize(path)
    print(f"hvprobe {build:<8} {size:>9} bytes ({size / 1048576:.2f} MiB), "
          f"`hvprobe --version` median {ms(med[f'hvprobe --version ({build})'])}   {path}")
EOF
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
