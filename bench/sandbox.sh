#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/sandbox: what the native sandbox costs, beside bubblewrap doing the same isolation. Side by side,
# interleaved, in one timeit run:
#   bare          fork+exec of /bin/true
#   tfrun         tfrun -q on a spec running /bin/true in its cgroup, no sandbox
#   tfrun-sbx     the same with `sandbox: {network: none, private_tmp: true}` (plus the defaults: Docker's
#                 seccomp profile, Docker's capability set, no_new_privileges)
#   tfrun-nosc    the same sandbox with seccomp: unconfined (what the filter costs)
#   tfrun-pid     tfrun-sbx plus `pid: private` (a pid namespace, a fresh /proc, tfrun's init as pid 1)
#   bwrap         bubblewrap with the same namespaces: --unshare-net --dev-bind / / --tmpfs /tmp
#   bwrap-sc      bwrap plus the same isolation as tfrun-sbx: the very BPF filter tfrun installs (taken
#                 from tfrun's filter cache, passed with --seccomp), Docker's capability set, no_new_privs
#                 (bwrap always sets it)
#   bwrap-pid     bwrap-sc plus --unshare-pid --proc /proc (bwrap's own init as pid 1)
# The issue's measure is the sandbox's cost over each tool's own plain launch: tfrun-sbx - tfrun beside
# bwrap-sc - bare (bwrap makes no cgroup; tfrun's cgroup launch is bench/launch.sh's subject).
# Usage: bench/sandbox.sh [BUILDDIR] [ROUNDS]    (root; installs Debian's bubblewrap when missing)
# TIMEIT_GAP_MS=50 bench/sandbox.sh ...: an idle pause before each launch (see bench/launch.sh). Without it,
# what a pid-namespace variant leaves to the kernel (RCU callbacks) is billed to the next cgroup attach.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
N=${2:-200}
[ "$(id -u)" = 0 ] || { echo "sandbox: needs root (network and mount namespaces)" >&2; exit 1; }
if ! command -v bwrap >/dev/null; then
        echo "sandbox: installing bubblewrap" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null ||
                { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; }
fi
ninja -C "$B" >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export TFRUN_CACHE_DIR=$tmp/cache
printf 'name: bench\nbackend: native\ncommand: [/bin/true]\n' >"$tmp/plain.yaml"
printf 'name: bench-sbx\nbackend: native\ncommand: [/bin/true]\nsandbox: {network: none, private_tmp: true}\n' \
        >"$tmp/sbx.yaml"
printf 'name: bench-nosc\nbackend: native\ncommand: [/bin/true]\nsandbox: {network: none, private_tmp: true, seccomp: unconfined}\n' \
        >"$tmp/nosc.yaml"
printf 'name: bench-pid\nbackend: native\ncommand: [/bin/true]\nsandbox: {network: none, private_tmp: true, pid: private}\n' \
        >"$tmp/pid.yaml"
# Each variant must really be sandboxed: check once, outside the timing. This run also fills the cache.
"$B/tfrun" -q "$tmp/sbx.yaml"
"$B/tfrun" -q "$tmp/pid.yaml"
entries=("$tmp"/cache/seccomp/*.bpf)
[ ${#entries[@]} = 1 ] || { echo "sandbox: expected one cached filter, found ${#entries[@]}" >&2; exit 1; }
# The cache entry: magic line, u32 key length, key, u32 flags, u32 instruction count, the instructions.
python3 - "${entries[0]}" "$tmp/filter.bpf" <<'EOS'
import struct, sys
b = open(sys.argv[1], "rb").read()
o = len(b"tfrun-seccomp-bpf 1\n")
kl, = struct.unpack_from("<I", b, o); o += 4 + kl
flags, count = struct.unpack_from("<II", b, o); o += 8
open(sys.argv[2], "wb").write(b[o:o + 8 * count])
print(f"sandbox: tfrun's filter for Docker's default profile: {count} instructions", file=sys.stderr)
EOS
# Docker's default capability set, which tfrun-sbx ends with.
CAPS=()
for c in CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP SETPCAP NET_BIND_SERVICE \
        SYS_CHROOT KILL AUDIT_WRITE; do CAPS+=(--cap-add "CAP_$c"); done
BW=(bwrap --unshare-net --dev-bind / / --tmpfs /tmp)
BWSC=("${BW[@]}" --cap-drop ALL "${CAPS[@]}" --seccomp 9)
export TIMEIT_FD9=$tmp/filter.bpf
"${BWSC[@]}" /bin/true 9<"$tmp/filter.bpf"
# The filter is really in force under bwrap-sc: Docker's profile refuses keyctl.
out=$("${BWSC[@]}" "$B/tests/tfprobe" syscall keyctl 9<"$tmp/filter.bpf")
[ "$out" = keyctl=EPERM ] || { echo "sandbox: bwrap-sc does not filter ($out)" >&2; exit 1; }

"$B/bench/timeit" "$N" \
        bare /bin/true \
        :: tfrun "$B/tfrun" -q "$tmp/plain.yaml" \
        :: tfrun-sbx "$B/tfrun" -q "$tmp/sbx.yaml" \
        :: tfrun-nosc "$B/tfrun" -q "$tmp/nosc.yaml" \
        :: tfrun-pid "$B/tfrun" -q "$tmp/pid.yaml" \
        :: bwrap "${BW[@]}" /bin/true \
        :: bwrap-sc "${BWSC[@]}" /bin/true \
        :: bwrap-pid "${BWSC[@]}" --unshare-pid --proc /proc /bin/true | tee "$tmp/out"

python3 - "$tmp/out" "$N" "$(bwrap --version)" <<'EOS'
import sys
r = {l.split()[0]: float(l.split()[1]) for l in open(sys.argv[1])}
b, t, s, n, p = (r[k] for k in ("bare", "tfrun", "tfrun-sbx", "tfrun-nosc", "tfrun-pid"))
w, wsc, wp = (r[k] for k in ("bwrap", "bwrap-sc", "bwrap-pid"))
print(f"rounds={sys.argv[2]} ({sys.argv[3]}) medians (us): bare={b:.0f} tfrun={t:.0f} tfrun-sbx={s:.0f} "
      f"tfrun-nosc={n:.0f} tfrun-pid={p:.0f} bwrap={w:.0f} bwrap-sc={wsc:.0f} bwrap-pid={wp:.0f}")
print(f"sandbox cost, namespaces + caps + seccomp: tfrun {s-t:.0f}us vs bwrap {wsc-b:.0f}us: "
      f"ratio {(s-t)/(wsc-b):.2f} (target < 1)")
print(f"  with a pid namespace too:                   tfrun {p-t:.0f}us vs bwrap {wp-b:.0f}us: ratio {(p-t)/(wp-b):.2f}")
print(f"  namespaces only (no filter):                tfrun {n-t:.0f}us vs bwrap {w-b:.0f}us: ratio {(n-t)/(w-b):.2f}")
print(f"  the filter alone: tfrun {s-n:.0f}us, bwrap {wsc-w:.0f}us (caps included)")
print(f"whole launches: tfrun-sbx / bwrap-sc {s/wsc:.2f}; tfrun-pid / bwrap-pid {p/wp:.2f} "
      f"(tfrun's include its cgroup: tfrun / bare {t/b:.2f})")
EOS
