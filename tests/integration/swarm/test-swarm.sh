#!/bin/bash
# SPDX-License-Identifier: MIT
# tfrun's swarm backend against a real two-node Swarm (two extra dockerds on loopback, each with its own
# socket, data-root and exec-root: scripts/setup-swarm.sh). The engines this test started are stopped at
# its end, by their pid files; a swarm that was already up is left as it was.
. "$SRCDIR/tests/lib.sh"
need_root
command -v docker >/dev/null || skip_all "no docker CLI"
bash "$SRCDIR/scripts/setup-docker.sh" >&2 ||
        skip_all "scripts/setup-docker.sh could not start dockerd with the test image (see its message)"
started=
if ! bash "$SRCDIR/scripts/setup-swarm.sh" status 2>/dev/null; then
        bash "$SRCDIR/scripts/setup-swarm.sh" start >/dev/null ||
                skip_all "scripts/setup-swarm.sh could not make a two-node swarm (see its message)"
        started=1
fi
stop_swarm() {
        [ -n "$started" ] && bash "$SRCDIR/scripts/setup-swarm.sh" stop
        rm -rf "$TMPD"
        return 0
}
trap stop_swarm EXIT
export DOCKER_HOST=unix:///tmp/tfsw1/docker.sock
WORKER=unix:///tmp/tfsw2/docker.sock
IMAGE=tfrun-test/busybox:latest
PROBE=/probe
# The probe is bind-mounted: both nodes are engines of this host.
MOUNT="mounts: [{source: $TFPROBE, target: $PROBE, read_only: true}]"

# spec NAME BODY...: $TMPD/NAME.yaml on the swarm backend without no_new_privileges (the one wall a
# Swarm service cannot express on API 1.41, refused unless the spec gives it up in words).
spec() {
        local name=$1
        shift
        { echo "name: $name"; echo "image: $IMAGE"; echo "backend: swarm"
          echo "sandbox: {no_new_privileges: false}"; printf '%s\n' "$@"; } >"$TMPD/$name.yaml"
}

# jget FILE KEY: a field of tfrun's --json object (the last line of its stdout).
jget() { python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])[sys.argv[2]])' "$1" "$2"; }

services_left() { docker service ls -q --filter "label=tfrun.service=$1"; }
# Tasks of NAME that run or are about to (by the labels tfrun gives the container spec). Not all of them:
# the 20.10 manager keeps the records of a removed job's tasks (complete, failed, or pending under the stop
# constraint no node meets) for good, with no API to delete them (docs/spec.md); they hold nothing.
tasks_left() {
        curl -sf --unix-socket /tmp/tfsw1/docker.sock http://localhost/tasks | python3 -c '
import json, sys
live = {"new", "assigned", "accepted", "preparing", "ready", "starting", "running"}
n = sum(1 for t in json.load(sys.stdin)
        if (t["Spec"]["ContainerSpec"].get("Labels") or {}).get("tfrun.service") == sys.argv[1]
        and t["Status"]["State"] in live)
print(n)' "$1"
}
# Containers of NAME on an engine (the manager's, or WORKER).
containers_left() { DOCKER_HOST=${2:-$DOCKER_HOST} docker ps -aq --filter "label=tfrun.service=$1"; }
# nothing_left NAME DESCRIPTION [ENGINES]: no service, no task; no container on the engines given
# (manager: the manager's own node; both: both nodes), waiting up to 10 s for the agents.
nothing_left() {
        local i s t c=
        for ((i = 0; i < 50; i++)); do
                s=$(services_left "$1"); t=$(tasks_left "$1")
                c=$(containers_left "$1")
                [ "${3:-manager}" = both ] && c="$c$(containers_left "$1" "$WORKER")"
                [ -z "$s" ] && [ "$t" = 0 ] && [ -z "$c" ] && break
                sleep 0.2
        done
        is "$s" "" "$2: no service left"
        is "$t" 0 "$2: no task running or about to"
        is "$c" "" "$2: no container left (${3:-manager})"
}

# --- exit codes 0 and 3, the output complete (stdout and stderr, 300 lines each) ---
for code in 0 3; do
        spec "exit$code" "command: [sh, -c, 'for i in \$(seq 1 300); do echo out \$i; echo err \$i >&2; done; exit $code']" \
                "placement: [node.role==manager]"
        "$TFRUN" --json "$TMPD/exit$code.yaml" >"$TMPD/exit$code.out" 2>"$TMPD/exit$code.err"
        is "$?" "$code" "exit $code: tfrun exits $code"
        is "$(grep -c '^out ' "$TMPD/exit$code.out")" 300 "exit $code: all 300 stdout lines"
        is "$(grep -c '^err ' "$TMPD/exit$code.err")" 300 "exit $code: all 300 stderr lines"
        is "$(grep '^out ' "$TMPD/exit$code.out" | tail -1)" "out 300" "exit $code: stdout in order to its end"
        is "$(jget "$TMPD/exit$code.out" exit_code)" "$code" "exit $code: --json exit_code"
        is "$(jget "$TMPD/exit$code.out" backend)" swarm "exit $code: --json backend swarm"
        nothing_left "exit$code" "exit $code"
done

# --- limits as task resources, read back inside the task ---
spec limits "command: [sh, -c, 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us']" \
        "limits: {memory: 48M, pids: 24, cpus: 0.5}" "placement: [node.role==manager]"
got=$("$TFRUN" "$TMPD/limits.yaml" 2>/dev/null | tr '\n' ' ')
is "$got" "50331648 24 50000 " "limits: memory, pids and cpus read back inside the task"

# --- OOM: limit 32M, allocation 200M ---
spec oom "command: [$PROBE, alloc, '200']" "limits: {memory: 32M}" "$MOUNT" "placement: [node.role==manager]"
"$TFRUN" --json "$TMPD/oom.yaml" >"$TMPD/oom.json" 2>"$TMPD/oom.err"
is "$?" 137 "oom: tfrun exits 137"
is "$(jget "$TMPD/oom.json" reason)" oom-killed "oom: reason oom-killed (the manager's engine read State.OOMKilled)"
nothing_left oom "oom"

# --- timeout: the task is stopped by a new job iteration no node can place, then the service removed ---
spec slow "command: [sh, -c, 'echo started; sleep 60']" "timeout: 2s" "stop: {grace: 1s}"
"$TFRUN" --json "$TMPD/slow.yaml" >"$TMPD/slow.json" 2>"$TMPD/slow.err"
is "$?" 124 "timeout: tfrun exits 124"
is "$(jget "$TMPD/slow.json" reason)" timed-out "timeout: reason timed-out"
check "timeout: the output before the stop" grep -q '^started$' "$TMPD/slow.json"
nothing_left slow "timeout" both

# --- refusals before anything is created ---
cat >"$TMPD/nonnp.yaml" <<EOT
name: nonnp
image: $IMAGE
backend: swarm
command: [true]
EOT
got=$("$TFRUN" "$TMPD/nonnp.yaml" 2>&1); rc=$?
is "$rc" 125 "default sandbox: refused with 125"
is "$got" "tfrun: $TMPD/nonnp.yaml:3:1: sandbox.no_new_privileges: a Swarm service has no Privileges.NoNewPrivileges on Docker Engine API 1.41 to 1.43 (it needs 1.44), and the default sandbox sets it, so the backend swarm cannot honour it; expected sandbox: {no_new_privileges: false} to run without it (the engine's own seccomp profile and masked paths still apply), or backend: docker" \
        "default sandbox: the message"
spec mhigh "command: [true]" "limits: {memory: 64M, memory_high: 32M}"
got=$("$TFRUN" "$TMPD/mhigh.yaml" 2>&1); rc=$?
is "$rc" 125 "memory_high: refused with 125"
is "$got" "tfrun: $TMPD/mhigh.yaml:6:23: limits.memory_high: a Swarm service has no memory.high throttle on Docker Engine API 1.41 to 1.43, so the backend swarm cannot honour it; expected no such key with backend: swarm, or backend: docker or native" \
        "memory_high: the message"
is "$(services_left nonnp)$(services_left mhigh)" "" "refusals: no service created"

# --- placement: a constraint no node meets never runs; the timeout ends it ---
spec nowhere "command: [true]" "timeout: 2s" "placement: [node.labels.tfrun-test==nowhere]"
"$TFRUN" "$TMPD/nowhere.yaml" 2>"$TMPD/nowhere.err"
is "$?" 124 "placement no node meets: timed out (124)"
nothing_left nowhere "placement no node meets"

# --- four runs triggered under tfrun up land on both nodes ---
. "$SRCDIR/tests/integration/manager/common.sh"
# common.sh sets its own EXIT trap: both cleanups.
trap 'cleanup_up; stop_swarm' EXIT
for i in 1 2 3 4; do
        svc "spread$i" "image: $IMAGE" "backend: swarm" "sandbox: {no_new_privileges: false}" \
                "command: [sh, -c, 'sleep 3; echo spread$i-done']"
done
up
for i in 1 2 3 4; do "$TFRUN" trigger "spread$i" --socket "$MSOCK" >/dev/null; done
wait_log "spread4-done" 60 && wait_log "spread1-done" 60 && wait_log "spread2-done" 60 && wait_log "spread3-done" 60
ok "up: the four runs ended"
nodes=$(sed -n 's/.*spread[1-4]-[0-9]*-[0-9]*: swarm task on node \([a-z0-9]*\)$/\1/p' "$TMPD/up.log" | sort -u | wc -l)
is "$nodes" 2 "up: the four runs landed on both nodes"
down
is "$?" 0 "up: the manager stops cleanly"
for i in 1 2 3 4; do
        is "$(services_left "spread$i")" "" "up: spread$i: no service left"
done

# --- a kill -9 of the manager mid-run: the service (and its running task) swept at the next start ---
svc lost "image: $IMAGE" "backend: swarm" "sandbox: {no_new_privileges: false}" \
        "command: [sh, -c, 'echo lost-started; sleep 120']"
up
"$TFRUN" trigger lost --socket "$MSOCK" >/dev/null
wait_log "lost-[0-9]*-[0-9]*: swarm task on node" 30
ok "kill -9: the run's task runs"
kill -KILL "$UP_PID"; wait "$UP_PID" 2>/dev/null; UP_PID=
is "$(services_left lost | wc -l)" 1 "kill -9: its service outlives the manager"
up
wait_log "lost: removed swarm service [a-z0-9]* left by run lost-" 30
ok "kill -9: the restarted manager sweeps it"
nothing_left lost "kill -9 then sweep" both
down

# --- a run on the worker without its engine: its exited container stays there (only that engine can remove
# it); with --swarm-node that engine is asked, and nothing is left ---
spec worker "command: [sh, -c, 'echo on-worker']" "placement: [node.role==worker]"
"$TFRUN" "$TMPD/worker.yaml" >/dev/null 2>&1
is "$?" 0 "worker, one-shot: exit 0"
left=$(containers_left worker "$WORKER")
is "$(echo "$left" | grep -c .)" 1 "worker, one-shot: its exited container stays on the worker (the manager's engine cannot remove it)"
[ -n "$left" ] && DOCKER_HOST=$WORKER docker rm -f $left >/dev/null
rm -f "$SVC"/*.yaml

# --- tfrun up --swarm=ENGINE: a spec with an image and no backend: runs on the swarm, backend: docker on the
# local engine ($DOCKER_HOST unset: the main engine, which is no swarm), native stays native; --swarm-node
# removes the worker's exited containers ---
svc auto "image: $IMAGE" "sandbox: {no_new_privileges: false}" "command: [sh, -c, 'echo auto-done']"
# placement: needs backend: swarm in words (a spec means the same under any manager).
svc wnode "image: $IMAGE" "backend: swarm" "sandbox: {no_new_privileges: false}" "placement: [node.role==worker]" \
        "command: [sh, -c, 'echo wnode-done']"
svc nodefault "image: $IMAGE" "command: [true]"
svc local "image: $IMAGE" "backend: docker" "command: [sh, -c, 'echo local-done']"
svc plain "command: [sh, -c, 'echo plain-done']"
got=$("$TFRUN" up "$SVC" --state-dir "$ST" --socket "$MSOCK" --swarm=tcp://127.0.0.1:2375 2>&1); rc=$?
is "$rc" 125 "--swarm=tcp://...: refused with 125"
is "$got" "tfrun: up: --swarm takes an engine's socket as unix:///PATH, not 'tcp://127.0.0.1:2375'" "--swarm=tcp://...: the message"
got=$("$TFRUN" up "$SVC" --state-dir "$ST" --socket "$MSOCK" --swarm-node /tmp/tfsw2/docker.sock 2>&1); rc=$?
is "$rc" 125 "--swarm-node without unix://: refused with 125"
is "$got" "tfrun: up: --swarm-node takes an engine's socket as unix:///PATH, not '/tmp/tfsw2/docker.sock'" \
        "--swarm-node without unix://: the message"
DOCKER_HOST= up --swarm=unix:///tmp/tfsw1/docker.sock --swarm-node "$WORKER"
"$TFRUN" ps --socket "$MSOCK" >"$TMPD/ps.out"
is "$(awk '$1 == "auto" {print $2}' "$TMPD/ps.out")" swarm "--swarm: an image without backend: runs on the swarm"
is "$(awk '$1 == "local" {print $2}' "$TMPD/ps.out")" docker "--swarm: backend: docker stays on the local engine"
is "$(awk '$1 == "plain" {print $2}' "$TMPD/ps.out")" native "--swarm: a spec without an image stays native"
is "$(grep -A1 'nodefault.yaml' "$TMPD/ps.out" | sed -n 's/^ *error: //p')" \
        "$SVC/nodefault.yaml:2:1: sandbox.no_new_privileges: a Swarm service has no Privileges.NoNewPrivileges on Docker Engine API 1.41 to 1.43 (it needs 1.44), and the default sandbox sets it, so the backend swarm cannot honour it (tfrun up --swarm runs a spec with an image and no backend: key there); expected sandbox: {no_new_privileges: false} to run without it (the engine's own seccomp profile and masked paths still apply), or backend: docker" \
        "--swarm: a default sandbox is refused with its position and why"
for n in auto local plain wnode; do "$TFRUN" trigger "$n" --socket "$MSOCK" >/dev/null; done
wait_log "auto swarm status=0" 60 && wait_log "local docker status=0" 60 && wait_log "plain native status=0" 30 &&
        wait_log "wnode swarm status=0" 30
ok "--swarm: the four runs ended"
check "--swarm: the auto run's task ran on a swarm node" grep -Eq "auto-[0-9]*-[0-9]*: swarm task on node" "$TMPD/up.log"
check "--swarm: its output in its log" grep -q "auto-done" "$ST"/logs/auto/*.log
check "--swarm: backend: docker ran on the main engine" grep -q "local-done" "$ST"/logs/local/*.log
nothing_left auto "--swarm: the auto run" both
nothing_left wnode "--swarm-node: the run on the worker" both
down

# --- a kill -9 of the manager while its run is on the worker; the job completes without it: the restarted
# manager removes the service and, through --swarm-node, the completed task's container on the worker ---
rm -f "$SVC"/*.yaml
svc done9 "image: $IMAGE" "backend: swarm" "sandbox: {no_new_privileges: false}" "placement: [node.role==worker]" \
        "command: [sh, -c, 'sleep 2; echo done9']"
up --swarm-node "$WORKER"
"$TFRUN" trigger done9 --socket "$MSOCK" >/dev/null
wait_log "done9-[0-9]*-[0-9]*: swarm task on node" 30
ok "kill -9, worker: the run's task runs on the worker"
kill -KILL "$UP_PID"; wait "$UP_PID" 2>/dev/null; UP_PID=
for _ in $(seq 1 100); do [ "$(tasks_left done9)" = 0 ] && break; sleep 0.2; done
is "$(containers_left done9 "$WORKER" | grep -c .)" 1 "kill -9, worker: the job completed, its container stays on the worker"
up --swarm-node "$WORKER"
wait_log "done9: removed the exited container [a-z0-9]* left by run done9-[0-9]*-[0-9]* on $WORKER" 30
ok "kill -9, worker: the restarted manager removes it through the worker's engine"
nothing_left done9 "kill -9, worker, then sweep" both
down

# --- a node stopped mid-run: the run fails as node-lost within a bound, the manager keeps firing ---
rm -f "$SVC"/*.yaml
if [ -z "$started" ]; then
        skip "node stopped mid-run: the swarm was up before this test, whose engines it may not stop"
else
        svc far "image: $IMAGE" "backend: swarm" "sandbox: {no_new_privileges: false}" \
                "placement: [node.role==worker]" "command: [sh, -c, 'echo far-started; sleep 300']"
        svc near "image: $IMAGE" "backend: swarm" "sandbox: {no_new_privileges: false}" \
                "placement: [node.role==manager]" "schedule: {every: 2s}" "command: [true]"
        svc tick "schedule: {every: 1s}" "command: [true]"
        up --swarm-node "$WORKER"
        "$TFRUN" trigger far --socket "$MSOCK" >/dev/null
        wait_log "far-[0-9]*-[0-9]*: swarm task on node" 30
        ok "node stop: the far run's task runs on the worker"
        wait_log "far +\\| far-started" 10
        ok "node stop: its first output came"
        ticks0=$(count_log "tick native status=0"); near0=$(count_log "near swarm status=0")
        wpid=$(cat /tmp/tfsw2/pid)
        t0=$(date +%s)
        kill -TERM "$wpid"
        for _ in $(seq 1 120); do kill -0 "$wpid" 2>/dev/null || break; sleep 0.25; done
        wait_log "far swarm status=125 reason=node-lost" 60
        ok "node stop: the far run ends as node-lost (status 125)"
        took=$(($(date +%s) - t0))
        check "node stop: within 45 s of the engine's stop (it took ${took} s; the swarm marks a node down after ~15 s)" \
                test "$took" -le 45
        "$TFRUN" history far --socket "$MSOCK" --json >"$TMPD/far.json"
        is "$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["runs"][0]; print(r["status"])' "$TMPD/far.json")" \
                failure "node stop: recorded as a failure"
        check "node stop: its reason names the node down and the unknown end" python3 -c '
import json, re, sys
r = json.load(open(sys.argv[1]))["runs"][0]["reason"]
sys.exit(0 if re.match(r"swarm node [a-z0-9]+ \(hostname .*, address .*\) is down \(.*\) while task [a-z0-9]+ ran on it: the run.s end is unknown", r) else 1)' "$TMPD/far.json"
        sleep 3
        ticks=$(($(count_log "tick native status=0") - ticks0)); near=$(($(count_log "near swarm status=0") - near0))
        check "node stop: the native service kept firing ($ticks runs while the node was down)" test "$ticks" -ge 10
        check "node stop: the swarm service on the manager's node kept running ($near runs)" test "$near" -ge 2
        is "$(services_left far)" "" "node stop: the far run's service removed"
        bash "$SRCDIR/scripts/setup-swarm.sh" start >/dev/null
        is "$?" 0 "node stop: the worker's engine restarted and rejoined"
        for _ in $(seq 1 100); do [ -z "$(containers_left far "$WORKER")" ] && break; sleep 0.2; done
        is "$(containers_left far "$WORKER")" "" "node stop: nothing of the far run on the worker once it is back"
        down
        is "$?" 0 "node stop: the manager stops cleanly"
fi
san_check
echo "1..$TAP_N"
exit $((TAP_FAILED > 0))
