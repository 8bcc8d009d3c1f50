#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/wakeup: how late the resident scheduler fires, and what it costs while idle.
#  1. lateness: 60 fires of `every: 1s` (a job running /bin/true); the runner logs "late Nus" per fire.
#  2. idle CPU: tfrun waiting on a schedule that does not fire for an hour, for IDLE seconds; CPU time
#     of the tfrun process from /proc/PID/stat over wall time.
# Usage: bench/wakeup.sh [BUILDDIR] [FIRES] [IDLE_SECONDS]    (root: the jobs run in cgroups)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
N=${2:-60}
IDLE=${3:-30}
ninja -C "$B" >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'name: wake\ncommand: [/bin/true]\nschedule: {every: 1s}\n' >"$tmp/wake.yaml"
"$B/tfrun" --state-dir "$tmp" "$tmp/wake.yaml" 2>"$tmp/wake.log" &
pid=$!
while [ "$(grep -c 'late [0-9]*us' "$tmp/wake.log" || true)" -lt "$N" ]; do sleep 0.5; done
kill -TERM $pid; wait $pid || true

printf 'name: idle\ncommand: [/bin/true]\nschedule: {calendar: "*-*-* 00/2:00:00"}\n' >"$tmp/idle.yaml"
"$B/tfrun" --state-dir "$tmp" "$tmp/idle.yaml" 2>"$tmp/idle.log" &
ipid=$!
sleep 1
t0=$(awk '{print $14+$15}' /proc/$ipid/stat); w0=$(date +%s%N)
sleep "$IDLE"
t1=$(awk '{print $14+$15}' /proc/$ipid/stat); w1=$(date +%s%N)
kill -TERM $ipid; wait $ipid || true

python3 - "$tmp/wake.log" "$N" "$t0" "$t1" "$w0" "$w1" "$(getconf CLK_TCK)" <<'EOS'
import math, re, sys
late = sorted(int(m) for m in re.findall(r"late (\d+)us", open(sys.argv[1]).read()))[: int(sys.argv[2])]
n = len(late)
med = late[n // 2]; p99 = late[max(0, math.ceil(n * 0.99) - 1)]
t0, t1, w0, w1, hz = map(int, sys.argv[3:])
cpu = (t1 - t0) / hz; wall = (w1 - w0) / 1e9
print(f"fires={n} lateness median={med/1000:.3f}ms p99={p99/1000:.3f}ms max={late[-1]/1000:.3f}ms (target p99 < 5ms)")
print(f"idle: {cpu:.3f}s CPU over {wall:.1f}s = {100*cpu/wall:.3f}% (target < 0.1%; clock ticks of 1/{hz}s)")
EOS
