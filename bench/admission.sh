#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/admission: the manager's admission (issue 15's targets).
#  1. decision cost with 1,000 waiting runs: a queue with max_concurrent 1 held by a long run, 1,000 runs
#     triggered into it (bench/mgr-api, no exec per call), then 200 more: the manager's own count and time
#     of decisions (an admit, a pass over the queue) from GET /api/v1/queue, before and after. Every pass
#     walks the 1,000 (each is passed over: its queue is full): the worst case.     (target < 50 us/decision)
#  2. start latency once room frees: a 128M budget and a service reserving 128M, 40 runs triggered at once
#     (so each waits for the one before): the next run's start minus the previous run's end, both from the
#     history (the manager's clock); against the same gap with the service's own overlap: queue and no
#     settings (20 runs of 0.5 s, each queued behind the running one).             (target < 10 ms after)
#  3. idle CPU of a manager with 100 runs waiting under pressure (TFRUN_PRESSURE_DIR above the threshold):
#     its CPU time over 20 s (/proc/PID/schedstat), against a manager with 100 idle services.
#                                                                                     (target < 0.5 %)
# Usage: bench/admission.sh [BUILDDIR]   (root)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
ninja -C "$B" >/dev/null
tmp=$(mktemp -d)
UP=
trap '[ -n "$UP" ] && kill -TERM $UP 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
T=$(realpath "$B/tfrun")
API=$(realpath "$B/bench/mgr-api")

up() { # DIR SETTINGS [ENV...]
        local d=$1 s=$2
        shift 2
        rm -rf "$tmp/st"
        env "$@" "$T" up "$d" --config "$s" --state-dir "$tmp/st" --socket "$tmp/sock" >"$tmp/up.log" 2>&1 &
        UP=$!
        for _ in $(seq 100); do grep -q "managing" "$tmp/up.log" && return 0; sleep 0.1; done
        echo "the manager did not come up: $(tail -3 "$tmp/up.log")" >&2
        exit 1
}
down() { kill -TERM "$UP"; wait "$UP" || true; UP=; }
q() { curl -sf --unix-socket "$tmp/sock" http://localhost/api/v1/queue; }

# ---- 1 --------------------------------------------------------------------------------------------------
mkdir -p "$tmp/d1"
printf 'queues: {solo: {max_concurrent: 1}}\n' >"$tmp/s1.yaml"
printf 'name: hold\ncommand: [sleep, "600"]\nqueue: solo\nsandbox: host\n' >"$tmp/d1/hold.yaml"
printf 'name: w\ncommand: [true]\nqueue: solo\nsandbox: host\nschedule: {every: 24h, overlap: allow}\n' >"$tmp/d1/w.yaml"
up "$tmp/d1" "$tmp/s1.yaml"
"$API" "$tmp/sock" trigger hold >/dev/null
mapfile -t names < <(for _ in $(seq 1000); do echo w; done)
"$API" "$tmp/sock" trigger "${names[@]}" >/dev/null
sleep 1
read -r c0 t0 _ < <(q | python3 -c 'import json,sys; d=json.load(sys.stdin); x=d["decisions"]; print(x["count"], x["mean_usec"] * x["count"], len(d["waiting"]))')
n0=$(q | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["waiting"]))')
mapfile -t names < <(for _ in $(seq 200); do echo w; done)
"$API" "$tmp/sock" trigger "${names[@]}" >/dev/null
sleep 1
read -r c1 t1 mx n1 < <(q | python3 -c 'import json,sys; d=json.load(sys.stdin); x=d["decisions"]; print(x["count"], x["mean_usec"] * x["count"], x["max_usec"], len(d["waiting"]))')
python3 - "$c0" "$t0" "$c1" "$t1" "$mx" "$n0" "$n1" <<'PY'
import sys
c0, t0, c1, t1, mx, n0, n1 = map(float, sys.argv[1:])
print(f"1. decisions with {int(n0)}..{int(n1)} waiting: {int(c1 - c0)} decisions (admits and passes), "
      f"mean {(t1 - t0) / (c1 - c0):.1f} us, max (whole run) {mx:.1f} us; per trigger {(t1 - t0) / 200:.1f} us")
PY
down

# ---- 2 --------------------------------------------------------------------------------------------------
gap() { # the gaps between consecutive runs of service x, from the history
        "$T" history x -n 100 --json --socket "$tmp/sock" | python3 -c '
import json, sys
r = sorted(json.load(sys.stdin)["runs"], key=lambda r: r["started_usec"])
g = sorted((b["started_usec"] - a["ended_usec"]) / 1000 for a, b in zip(r, r[1:]))
print(f"{len(r)} runs, gap median {g[len(g)//2]:.2f} ms, p90 {g[int(len(g)*0.9)]:.2f} ms, max {g[-1]:.2f} ms")'
}
mkdir -p "$tmp/d2"
printf 'budget: {memory: 128M}\n' >"$tmp/s2.yaml"
printf 'name: x\ncommand: [sleep, "0.1"]\nlimits: {memory: 128M}\nsandbox: host\nschedule: {every: 24h, overlap: allow}\n' >"$tmp/d2/x.yaml"
up "$tmp/d2" "$tmp/s2.yaml"
mapfile -t names < <(for _ in $(seq 40); do echo x; done)
"$API" "$tmp/sock" trigger "${names[@]}" >/dev/null
for _ in $(seq 200); do [ "$("$T" history x -n 100 --json --socket "$tmp/sock" | grep -c '"status": "success"')" -ge 40 ] && break; sleep 0.1; done
echo "2. admission (budget 128M, each reserving 128M): $(gap)"
down
: >"$tmp/s0.yaml"
# Runs of 0.5 s, so that the loop below has queued the next one long before the running one ends.
printf 'name: x\ncommand: [sleep, "0.5"]\nlimits: {memory: 128M}\nsandbox: host\nschedule: {every: 24h, overlap: queue}\n' >"$tmp/d2/x.yaml"
up "$tmp/d2" "$tmp/s0.yaml"
started() { curl -sf --unix-socket "$tmp/sock" http://localhost/api/v1/services/x | grep -o '"runs_started": *[0-9]*' | grep -o '[0-9]*$'; }
"$API" "$tmp/sock" trigger x >/dev/null
for i in $(seq 2 20); do
        "$API" "$tmp/sock" trigger x >/dev/null # queued behind the running one
        while [ "$(started)" -lt "$i" ]; do sleep 0.02; done
done
for _ in $(seq 100); do [ "$("$T" history x -n 100 --json --socket "$tmp/sock" | grep -c '"status": "success"')" -ge 20 ] && break; sleep 0.1; done
echo "   baseline (no budget, overlap: queue behind the running one): $(gap)"
down

# ---- 3 --------------------------------------------------------------------------------------------------
cpu() { awk '{ print $1 }' "/proc/$1/schedstat"; } # nanoseconds on the CPU
mkdir -p "$tmp/d3" "$tmp/psi"
printf 'some avg10=80.00 avg60=80.00 avg300=80.00 total=1\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n' >"$tmp/psi/memory"
printf 'admission: {memory: {some: 10}}\n' >"$tmp/s3.yaml"
for i in $(seq 100); do printf 'name: p%03d\ncommand: [true]\nsandbox: host\n' "$i" >"$tmp/d3/p$i.yaml"; done
for mode in idle waiting; do
        up "$tmp/d3" "$tmp/s3.yaml" TFRUN_PRESSURE_DIR="$tmp/psi"
        if [ $mode = waiting ]; then
                mapfile -t names < <(for i in $(seq 100); do printf 'p%03d\n' "$i"; done)
                "$API" "$tmp/sock" trigger "${names[@]}" >/dev/null
        fi
        sleep 1
        a=$(cpu "$UP"); sleep 20; b=$(cpu "$UP")
        w=$(q | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["waiting"]))')
        echo "3. $mode: $w waiting, CPU $(python3 -c "print(f'{($b - $a) / 1e9 / 20 * 100:.4f}')") % over 20 s ($(( (b - a) / 1000 )) us)"
        down
done
