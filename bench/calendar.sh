#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/calendar: next-elapse throughput. `tfrun calendar --iterations=N` against
# `systemd-analyze calendar --iterations=N` on the same expressions, interleaved in one run.
# Usage: bench/calendar.sh [BUILDDIR] [ITERATIONS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
N=${2:-100000}
R=${3:-5}
ninja -C "$B" >/dev/null
base='2026-01-01 00:00:00 UTC'
exprs=("Mon..Fri 09:00 Europe/Berlin" "*:0/15" "*-*~01 23:30" "hourly" "Sat,Sun *-*-1..7 04:00:00 America/New_York")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
args=()
for e in "${exprs[@]}"; do
        args+=(:: "tfrun:$e" "$B/tfrun" calendar "--iterations=$N" "--base-time=$base" "$e"
               :: "systemd:$e" systemd-analyze calendar "--iterations=$N" "--base-time=$base" "$e")
done
# timeit's output lines: LABEL median p90 (labels contain spaces: the last two fields are the numbers).
TIMEIT_QUIET=1 "$B/bench/timeit" "$R" "${args[@]:1}" >"$tmp/out"
python3 - "$tmp/out" "$N" <<'EOS'
import sys
rows = {}
for l in open(sys.argv[1]):
    p = l.rsplit(None, 2)
    rows[p[0]] = float(p[1])
n = int(sys.argv[2])
print(f"{'expression':48} {'tfrun':>10} {'systemd':>10} {'ratio':>7}")
tt = ts = 0
for k, v in rows.items():
    if not k.startswith("tfrun:"):
        continue
    e = k[6:]; s = rows["systemd:" + e]; tt += v; ts += s
    print(f"{e:48} {v/1000:8.1f}ms {s/1000:8.1f}ms {v/s:7.3f}")
print(f"total: tfrun {tt/1000:.1f} ms, systemd-analyze {ts/1000:.1f} ms for {n} iterations each; "
      f"ratio {tt/ts:.3f} (target < 1)")
EOS
