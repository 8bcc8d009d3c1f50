#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/workflow: the scheduling overhead of a workflow per step (issue 13: < 2 ms per step beyond the launch
# itself). A DAG of N steps of /bin/true, as a chain (each step needs the one before) and as a wide fan-out
# (no dependencies, no max_parallel), run by `tfrun -q` against the same N processes from a shell script
# (sequential for the chain, all in the background then `wait` for the fan-out), interleaved by
# bench/timeit. Both sides run the bare command; the steps use `sandbox: host` (SANDBOX=default: no
# sandbox key, Docker's default confinement) and no limits, so each step's launch is tfrun's native launch
# (a cgroup, clone3 into it, wait, the cgroup removed). bench/launch-warm measures that launch alone (N
# launches in one process against bare fork+exec): per step, the workflow's excess over the shell minus
# the launch's excess over a bare fork+exec is what the DAG itself costs.
# Usage: bench/workflow.sh [BUILDDIR] [STEPS] [ROUNDS]     (root)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
N=${2:-100}
R=${3:-15}
SANDBOX=${SANDBOX:-host}
ninja -C "$B" >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
T=$(realpath "$B/tfrun")
TRUE=/bin/true
sb() { [ "$SANDBOX" = host ] && echo "    sandbox: host" || true; }

{
        echo "name: chain"
        echo "steps:"
        for ((i = 0; i < N; i++)); do
                echo "  - name: s$i"
                echo "    command: [$TRUE]"
                sb
                ((i > 0)) && echo "    depends_on: [s$((i - 1))]"
        done
} >"$tmp/chain.yaml"
{
        echo "name: fan"
        echo "steps:"
        for ((i = 0; i < N; i++)); do
                echo "  - name: s$i"
                echo "    command: [$TRUE]"
                sb
        done
} >"$tmp/fan.yaml"
{ echo "name: one"; echo "command: [$TRUE]"; [ "$SANDBOX" = host ] && echo "sandbox: host"; } >"$tmp/one.yaml"
{ for ((i = 0; i < N; i++)); do echo "$TRUE"; done; } >"$tmp/chain.sh"
{ for ((i = 0; i < N; i++)); do echo "$TRUE &"; done; echo wait; } >"$tmp/fan.sh"
"$T" validate "$tmp/chain.yaml" "$tmp/fan.yaml" >/dev/null

echo "# $N steps of $TRUE, sandbox: $SANDBOX, $R rounds, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
out=$(TIMEIT_QUIET=1 "$B/bench/timeit" "$R" \
        wf-chain "$T" -q "$tmp/chain.yaml" :: sh-chain /bin/sh "$tmp/chain.sh" :: \
        wf-fan "$T" -q "$tmp/fan.yaml" :: sh-fan /bin/sh "$tmp/fan.sh" :: \
        tfrun-one "$T" -q "$tmp/one.yaml")
echo "$out"
warm=$("$B/bench/launch-warm" 200 "$tmp/one.yaml" 2>&1 || true)
echo "$warm" | grep -E '^(tfrun|bare|warm)' | sed 's/^/# launch-warm: /' || true
launch_us=$(echo "$warm" | sed -n 's/^warm overhead over bare fork+exec (medians): \([0-9-]*\)us$/\1/p')
tfrun_warm_us=$(echo "$warm" | sed -n 's/^tfrun .*warm_median=\([0-9]*\)us.*/\1/p')
# The DAG's own time in the chain: from a step's end (its main process gone) to its dependant's start
# request, read from the run's --json (started_at + wall_usec of one, started_at of the next).
"$T" --json "$tmp/chain.yaml" 2>/dev/null | tail -1 >"$tmp/chain.json"
gaps=$(python3 - "$tmp/chain.json" <<'PY'
import json, sys, statistics
from datetime import datetime, timezone
d = json.load(open(sys.argv[1]))
t = lambda s: datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()
st = d["steps"]
g = sorted((t(st[i + 1]["started_at"]) - t(st[i]["ended_at"])) * 1e6 for i in range(len(st) - 1))
w = sorted(s["wall_usec"] for s in st)
print("%.0f %.0f %.0f" % (statistics.median(g), g[int(len(g) * 0.9)], statistics.median(w)))
PY
)
read -r gap_med gap_p90 step_wall <<<"$gaps"
med() { echo "$out" | awk -v l="$1" '$1 == l { print $2 }'; }
for kind in chain fan; do
        awk -v wf="$(med wf-$kind)" -v sh="$(med sh-$kind)" -v one="$(med tfrun-one)" -v n="$N" \
            -v launch="${launch_us:-0}" -v k="$kind" 'BEGIN {
                per = (wf - one - sh) / n
                printf "%s: workflow %.1f ms, shell %.1f ms, one tfrun run %.1f ms: %.2f ms per step over the " \
                       "shell (one process start taken out); a warm launch costs %.2f ms over fork+exec\n",
                       k, wf / 1000, sh / 1000, one / 1000, per / 1000, launch / 1000
        }'
done
echo "chain: a step's end to its dependant's start (the DAG's own work): median ${gap_med} us, p90 ${gap_p90} us;" \
        "a step's own wall (launch to exit) median ${step_wall} us, a warm launch in launch-warm ${tfrun_warm_us:-?} us"
