#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/swarm: the swarm backend on the two-engine loopback swarm of scripts/setup-swarm.sh.
#   1. one trivial run end to end, side by side, interleaved (bench/timeit):
#        tfrun   tfrun -q on a swarm spec running `true` (memory 64M, pids 32, on the manager's node)
#        cli     docker service create --mode replicated-job with the same limits and constraint, which
#                waits for the job's completion (its service rm is not counted)
#   2. the spread of 8 concurrent runs over the two nodes: 8 swarm services (sleep 3) triggered at once
#      under `tfrun up`, the node of each from its task status (the manager's "swarm task on node" line),
#      the wall from the first trigger to the last run's end; then the same 8 jobs by the CLI, each
#      `docker service create --mode replicated-job` in the background, waited for, the nodes from
#      `docker service ps`.
# Usage: bench/swarm.sh [BUILDDIR] [ROUNDS]   (root; engines started here are stopped at the end)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
N=${2:-5}
IMAGE=tfrun-test/busybox:latest
unset DOCKER_HOST
bash scripts/setup-docker.sh >&2
started=
if ! bash scripts/setup-swarm.sh status 2>/dev/null; then
        bash scripts/setup-swarm.sh start >/dev/null
        started=1
fi
export DOCKER_HOST=unix:///tmp/tfsw1/docker.sock
ninja -C "$B" >/dev/null
tmp=$(mktemp -d)
up_pid=
cleanup() {
        [ -n "$up_pid" ] && kill "$up_pid" 2>/dev/null && wait "$up_pid" 2>/dev/null
        docker service rm $(docker service ls -q --filter label=tfbench=1) >/dev/null 2>&1 || true
        [ -n "$started" ] && bash scripts/setup-swarm.sh stop
        rm -rf "$tmp"
}
trap cleanup EXIT

# --- 1. one run end to end ---
cat >"$tmp/triv.yaml" <<EOS
name: triv
image: $IMAGE
backend: swarm
sandbox: {no_new_privileges: false}
command: [true]
limits: {memory: 64M, pids: 32}
placement: [node.role==manager]
EOS
"$B/bench/timeit" "$N" \
        tfrun "$B/tfrun" -q "$tmp/triv.yaml" \
        :: cli docker service create -q --mode replicated-job --restart-condition none --limit-memory 64M \
        --limit-pids 32 --constraint node.role==manager --label tfbench=1 "$IMAGE" true |
        grep -E '^(tfrun|cli) ' | tee "$tmp/e2e"
docker service rm $(docker service ls -q --filter label=tfbench=1) >/dev/null 2>&1 || true

# --- 2. the spread of 8 concurrent runs ---
mkdir -p "$tmp/svc"
for i in 1 2 3 4 5 6 7 8; do
        cat >"$tmp/svc/sp$i.yaml" <<EOS
name: sp$i
image: $IMAGE
backend: swarm
sandbox: {no_new_privileges: false}
command: [sh, -c, 'sleep 3']
EOS
done
"$B/tfrun" up "$tmp/svc" --state-dir "$tmp/st" --socket "$tmp/s.sock" >"$tmp/up.log" 2>&1 &
up_pid=$!
for _ in $(seq 1 100); do grep -q "managing" "$tmp/up.log" && break; sleep 0.1; done
t0=$(date +%s%N)
for i in 1 2 3 4 5 6 7 8; do "$B/tfrun" trigger "sp$i" --socket "$tmp/s.sock" >/dev/null & done
wait $(jobs -p | grep -v "^$up_pid$") 2>/dev/null || true
for _ in $(seq 1 600); do
        [ "$(grep -c 'sp[1-8] swarm status=' "$tmp/up.log")" -ge 8 ] && break
        sleep 0.1
done
t1=$(date +%s%N)
kill "$up_pid"; wait "$up_pid" 2>/dev/null || true; up_pid=
ok=$(grep -c 'sp[1-8] swarm status=0' "$tmp/up.log" || true)
sed -n 's/.*sp[1-8]-[0-9]*-[0-9]*: swarm task on node \([a-z0-9]*\)$/\1/p' "$tmp/up.log" | sort | uniq -c |
        awk '{printf "%s=%s ", substr($2, 1, 12), $1}' >"$tmp/tf-spread"

t2=$(date +%s%N)
for i in 1 2 3 4 5 6 7 8; do
        docker service create -q --mode replicated-job --restart-condition none --label tfbench=1 \
                --name "clisp$i" "$IMAGE" sleep 3 >/dev/null 2>&1 &
done
wait
t3=$(date +%s%N)
for i in 1 2 3 4 5 6 7 8; do docker service ps "clisp$i" -q --format '{{.Node}} {{.ID}}' | head -1; done >/dev/null
for i in 1 2 3 4 5 6 7 8; do
        curl -sf --unix-socket /tmp/tfsw1/docker.sock \
                "http://localhost/tasks?filters=%7B%22service%22%3A%5B%22clisp$i%22%5D%7D" |
                python3 -c 'import json,sys; t=json.load(sys.stdin); print(t[0]["NodeID"] if t else "-")'
done | sort | uniq -c | awk '{printf "%s=%s ", substr($2, 1, 12), $1}' >"$tmp/cli-spread"

python3 - "$tmp/e2e" "$N" <<'EOS'
import sys
r = {l.split()[0]: float(l.split()[1]) for l in open(sys.argv[1])
     if len(l.split()) == 3 and l.split()[0] in ("tfrun", "cli")}
t, c = r["tfrun"], r["cli"]
print(f"end to end, rounds={sys.argv[2]} median: tfrun={t/1000:.0f}ms docker-service-create={c/1000:.0f}ms "
      f"ratio {t/c:.2f} (target <= 1.0)")
EOS
echo "8 concurrent runs under tfrun up: $ok succeeded; per node: $(cat "$tmp/tf-spread"); wall $(((t1 - t0) / 1000000)) ms"
echo "8 concurrent docker service create (CLI, waits for each job): per node: $(cat "$tmp/cli-spread"); wall $(((t3 - t2) / 1000000)) ms"
