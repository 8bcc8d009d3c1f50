#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/sandbox: the default native launch (no `sandbox:` key: tfrun's default sandbox) beside bubblewrap
# doing the same isolation and beside `docker run`. Side by side, interleaved, in one timeit run:
#   bare          fork+exec of /bin/true
#   tfrun-host    tfrun -q on a spec running /bin/true with `sandbox: host` (its cgroup only)
#   tfrun         the same spec without a `sandbox:` key: private mount, pid (tfrun's init as pid 1), ipc,
#                 uts and cgroup namespaces, Docker's masked and read-only paths, a fresh /proc, /dev/shm
#                 and cgroup mounts, /sys read-only, Docker's seccomp profile and capabilities,
#                 no_new_privs
#   bwrap         bubblewrap as close to that as it goes: --unshare-pid --unshare-ipc --unshare-uts
#                 --unshare-cgroup, --dev-bind / / (the host's root, writable, as tfrun's default keeps
#                 it), --proc /proc, Docker's masked paths (a tmpfs made read-only over a directory,
#                 /dev/null over a file) and read-only paths (the host's /proc/bus, fs, irq, sys and
#                 sysrq-trigger bound read-only over the new /proc's), --ro-bind /sys /sys (recursively
#                 read-only), a 64 MiB tmpfs on /dev/shm (and --mqueue where /dev/mqueue exists), the
#                 very BPF filter tfrun installs (read from tfrun's filter cache, --seccomp), Docker's
#                 capability set; bwrap always sets no_new_privs and keeps an init as pid 1
#   docker        docker run --rm --network none IMAGE true (DOCKER=0 leaves it out)
# What bwrap cannot do the same way: it makes no cgroup (tfrun's launch includes creating, placing and
# removing one: tfrun-host - bare), and it mounts no cgroup filesystem afresh in the cgroup namespace (the
# host's tree stays visible, read-only). Before timing, `tfprobe walls` runs under both and the keys in
# which they differ are printed, and bench/seccomp-attach times attaching the filter in use (compacted) and
# libseccomp's program for the same profile (TFRUN_SECCOMP_COMPACT=0).
# Usage: bench/sandbox.sh [BUILDDIR] [ROUNDS]    (root; installs Debian's bubblewrap when missing)
# IMAGE=... (default tfrun-test/busybox:latest, must be local), DOCKER=0 without docker.
# TIMEIT_GAP_MS=50 bench/sandbox.sh ...: an idle pause before each launch (see bench/launch.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
N=${2:-200}
IMAGE=${IMAGE:-tfrun-test/busybox:latest}
DOCKER=${DOCKER:-1}
[ "$(id -u)" = 0 ] || { echo "sandbox: needs root (namespaces and mounts)" >&2; exit 1; }
if ! command -v bwrap >/dev/null; then
        echo "sandbox: installing bubblewrap" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null ||
                { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; }
fi
if [ "$DOCKER" = 1 ] && ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
        echo "sandbox: no local image $IMAGE (DOCKER=0 to leave docker out)" >&2
        exit 1
fi
ninja -C "$B" >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export TFRUN_CACHE_DIR=$tmp/cache
printf 'name: bench-host\nbackend: native\ncommand: [/bin/true]\nsandbox: host\n' >"$tmp/host.yaml"
printf 'name: bench\nbackend: native\ncommand: [/bin/true]\n' >"$tmp/default.yaml"
# This run fills the filter cache, and must succeed sandboxed.
"$B/tfrun" -q "$tmp/default.yaml"
# The cache entry: magic line, u32 key length, key, u32 flags, u32 instruction count, the instructions.
extract() {
        local entries=("$1"/seccomp/*.bpf)
        [ ${#entries[@]} = 1 ] || { echo "sandbox: expected one cached filter, found ${#entries[@]}" >&2; exit 1; }
        python3 - "${entries[0]}" "$2" <<'EOS'
import struct, sys
b = open(sys.argv[1], "rb").read()
o = len(b"tfrun-seccomp-bpf 1\n")
kl, = struct.unpack_from("<I", b, o); o += 4 + kl
flags, count = struct.unpack_from("<II", b, o); o += 8
open(sys.argv[2], "wb").write(b[o:o + 8 * count])
EOS
}
extract "$tmp/cache" "$tmp/filter.bpf"
# What the compaction saves at attach time: libseccomp's program as it was, beside the one in use.
TFRUN_CACHE_DIR=$tmp/cache-raw TFRUN_SECCOMP_COMPACT=0 "$B/tfrun" -q "$tmp/default.yaml"
extract "$tmp/cache-raw" "$tmp/filter-raw.bpf"
echo "sandbox: Docker's default profile, libseccomp's program: $("$B/bench/seccomp-attach" 101 "$tmp/filter-raw.bpf")" >&2
echo "sandbox: Docker's default profile, compacted (in use): $("$B/bench/seccomp-attach" 101 "$tmp/filter.bpf")" >&2

# bwrap with the default sandbox's isolation. Masked and read-only paths as tfrun applies them: those
# the running kernel has.
BW=(bwrap --unshare-pid --unshare-ipc --unshare-uts --unshare-cgroup --dev-bind / / --proc /proc)
mask() {
        if [ -d "$1" ] && [ ! -L "$1" ]; then BW+=(--tmpfs "$1" --remount-ro "$1")
        elif [ -e "$1" ]; then BW+=(--dev-bind /dev/null "$1"); fi # --ro-bind would add nodev
}
for p in /proc/asound /proc/acpi /proc/kcore /proc/keys /proc/latency_stats /proc/timer_list \
        /proc/timer_stats /proc/sched_debug /proc/scsi; do mask "$p"; done
# bwrap's own cover of /proc/sys, irq, bus and sysrq-trigger is skipped for root (access() passes).
for p in /proc/bus /proc/fs /proc/irq /proc/sys /proc/sysrq-trigger; do
        [ -e "$p" ] && BW+=(--ro-bind "$p" "$p")
done
BW+=(--ro-bind /sys /sys)
mask /sys/firmware # after /sys is bound again
[ -d /dev/mqueue ] && BW+=(--mqueue /dev/mqueue)
[ -d /dev/shm ] && BW+=(--perms 1777 --size 67108864 --tmpfs /dev/shm)
BW+=(--cap-drop ALL)
for c in CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP SETPCAP NET_BIND_SERVICE \
        SYS_CHROOT KILL AUDIT_WRITE; do BW+=(--cap-add "CAP_$c"); done
BW+=(--seccomp 9)
export TIMEIT_FD9=$tmp/filter.bpf
"${BW[@]}" /bin/true 9<"$tmp/filter.bpf"
# The filter is really in force under bwrap: Docker's profile refuses keyctl.
out=$("${BW[@]}" "$B/tests/tfprobe" syscall keyctl 9<"$tmp/filter.bpf")
[ "$out" = keyctl=EPERM ] || { echo "sandbox: bwrap does not filter ($out)" >&2; exit 1; }

# The walls from inside, both ways, for the same host facts.
sleep 300 &
host_pid=$!
trap 'kill $host_pid 2>/dev/null; rm -rf "$tmp"' EXIT
envs=(TFPROBE_HOST_PID="$host_pid" TFPROBE_HOSTNAME="$(hostname)")
yaml="env: {TFPROBE_HOST_PID: '$host_pid', TFPROBE_HOSTNAME: '$(hostname)'"
for ns in ipc uts mnt pid cgroup; do
        envs+=(TFPROBE_NS_$ns="$(readlink /proc/self/ns/$ns)")
        yaml="$yaml, TFPROBE_NS_$ns: '$(readlink /proc/self/ns/$ns)'"
done
printf 'name: bench-walls\nbackend: native\ncommand: [%s, walls]\n%s}\n' "$PWD/$B/tests/tfprobe" "$yaml" \
        >"$tmp/walls.yaml"
"$B/tfrun" -q "$tmp/walls.yaml" >"$tmp/walls-tfrun"
env "${envs[@]}" "${BW[@]}" "$B/tests/tfprobe" walls 9<"$tmp/filter.bpf" >"$tmp/walls-bwrap"
kill $host_pid 2>/dev/null || true
if diff -q "$tmp/walls-tfrun" "$tmp/walls-bwrap" >/dev/null; then
        echo "sandbox: tfprobe walls: tfrun and bwrap agree on every key" >&2
else
        echo "sandbox: tfprobe walls where tfrun (<) and bwrap (>) differ:" >&2
        diff "$tmp/walls-tfrun" "$tmp/walls-bwrap" | grep '^[<>]' >&2 || true
fi

V=(bare /bin/true
        :: tfrun-host "$B/tfrun" -q "$tmp/host.yaml"
        :: tfrun "$B/tfrun" -q "$tmp/default.yaml"
        :: bwrap "${BW[@]}" /bin/true)
[ "$DOCKER" = 1 ] && V+=(:: docker docker run --rm --network none "$IMAGE" true)
TIMEIT_QUIET=1 "$B/bench/timeit" "$N" "${V[@]}" | tee "$tmp/out"

python3 - "$tmp/out" "$N" "$(bwrap --version)" "$(docker version -f '{{.Server.Version}}' 2>/dev/null || echo -)" <<'EOS'
import sys
r = {l.split()[0]: float(l.split()[1]) for l in open(sys.argv[1])}
b, h, t, w = (r[k] for k in ("bare", "tfrun-host", "tfrun", "bwrap"))
d = r.get("docker")
print(f"rounds={sys.argv[2]} ({sys.argv[3]}, docker {sys.argv[4]}) medians (us): bare={b:.0f} "
      f"tfrun-host={h:.0f} tfrun={t:.0f} bwrap={w:.0f}" + (f" docker={d:.0f}" if d else ""))
print(f"tfrun / bwrap (same isolation): {t/w:.2f} (target < 2)")
if d:
    print(f"tfrun / docker run: {t/d:.3f} = 1/{d/t:.0f} (target < 1/20)")
print(f"the sandbox's own cost: tfrun - tfrun-host {t-h:.0f}us vs bwrap - bare {w-b:.0f}us "
      f"(tfrun's cgroup: tfrun-host - bare {h-b:.0f}us)")
EOS
