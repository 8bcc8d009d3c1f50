#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/launch: the cost of starting a limited service. Side by side, interleaved, in one run:
#   bare      fork+exec of /bin/true
#   tfrun     tfrun -q on a spec with memory + pids + cpus limits running /bin/true (no `sandbox:` key:
#             the default sandbox)
#   tfrun-host the same spec with `sandbox: host` (the cgroup and its limits only)
#   cgtools   libcgroup's own tools applying the same limits: cgcreate, cgset x3, cgexec /bin/true, cgdelete
# Usage: bench/launch.sh [BUILDDIR] [ROUNDS]    (root; needs cgroup-tools)
# TIMEIT_GAP_MS=50 bench/launch.sh ...: an idle pause before each launch, as a job launched on a quiet host
# sees it (back to back, the kernel's cgroup attach lock stays in its fast state and hides a grace period).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
N=${2:-200}
command -v cgcreate >/dev/null || { echo "launch: install cgroup-tools" >&2; exit 1; }
ninja -C "$B" >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/bench.yaml" <<'EOS'
name: bench
command: [/bin/true]
limits: {memory: 64M, pids: 64, cpus: 0.5}
EOS
{ cat "$tmp/bench.yaml"; echo 'sandbox: host'; } >"$tmp/host.yaml"

# libcgroup's tools take paths relative to each hierarchy's root: put ours under our own cgroups.
own() { awk -F: -v c="$1" '$2 == c {print $3}' /proc/self/cgroup; }
m=$(own memory)/tfbench-$$; p=$(own pids)/tfbench-$$; c=$(own cpu)/tfbench-$$
m=${m#/}; p=${p#/}; c=${c#/}

"$B/bench/timeit" "$N" \
        bare /bin/true \
        :: tfrun "$B/tfrun" -q "$tmp/bench.yaml" \
        :: tfrun-host "$B/tfrun" -q "$tmp/host.yaml" \
        :: cgtools cgcreate -g "memory:$m" -g "pids:$p" -g "cpu:$c" \
        ";;" cgset -r memory.limit_in_bytes=67108864 "$m" \
        ";;" cgset -r pids.max=64 "$p" \
        ";;" cgset -r cpu.cfs_quota_us=50000 "$c" \
        ";;" cgexec -g "memory:$m" -g "pids:$p" -g "cpu:$c" /bin/true \
        ";;" cgdelete -g "memory:$m" -g "pids:$p" -g "cpu:$c" | tee "$tmp/out"

python3 - "$tmp/out" "$N" <<'EOS'
import sys
r = {l.split()[0]: (float(l.split()[1]), float(l.split()[2])) for l in open(sys.argv[1])}
b, t, h, c = r["bare"][0], r["tfrun"][0], r["tfrun-host"][0], r["cgtools"][0]
print(f"rounds={sys.argv[2]} bare={b:.0f}us tfrun={t:.0f}us tfrun-host={h:.0f}us cgtools={c:.0f}us")
print(f"the default sandbox's share: tfrun - tfrun-host = {t-h:.0f}us")
print(f"tfrun overhead over bare fork+exec: {t-b:.0f}us (target < 2000us)")
print(f"tfrun / cgtools: {t/c:.2f} (target < 1)   tfrun / bare: {t/b:.1f}")
EOS
