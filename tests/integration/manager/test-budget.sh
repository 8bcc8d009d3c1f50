#!/bin/bash
# SPDX-License-Identifier: MIT
# The manager's budget and admission (`tfrun up --config`), on real cgroups:
# - a budget of 256M and three services reserving 128M each, under a storm of 60 triggers: never more than
#   two run at once (the budget's cgroup tree sampled every 50 ms, and the runs' own timestamps), the
#   others wait (tfrun queue says why) and start as runs end; every run is below the one parent cgroup;
# - a reservation larger than the budget, and an unknown queue, are refused at load with their numbers;
# - with max_concurrent 1, queued runs start in priority order, FIFO within a priority; aging lets a low
#   priority run start within its bound under a steady stream of high priority ones;
# - `tfrun stop` of a queued run removes it; max_wait turns a waiting run into a missed one (history,
#   metrics);
# - pressure thresholds: refused where the host has no PSI; starts wait while a threshold is passed and
#   resume once it is not (TFRUN_PRESSURE_DIR stands in for /proc/pressure);
# - the budget's cgroup is gone after the manager stops, and a budget left by a killed manager is swept.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
need_root
. "$SRCDIR/tests/integration/manager/common.sh"
trap cleanup_up EXIT

jget() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1].split("."):
    d = d[int(k)] if isinstance(d, list) else d.get(k)
print("null" if d is None else d)' "$1"; }
# The budget's directory in the memory hierarchy, from the manager's log.
budget_dir() { sed -n 's/^tfrun: budget: \(\/[^ ]*\) (every run.*/\1/p' "$TMPD/up.log" | tail -1; }
# A run's stamps: "NAME start|end NANOSECONDS ID" appended to $TMPD/stamps (O_APPEND, one short line).
stamp_cmd() { echo "command: [sh, -c, 'i=\$(od -An -N4 -tu4 /dev/urandom | tr -d \" \"); echo \"$1 start \$(date +%s%N) \$i\" >>$TMPD/stamps; sleep $2; echo \"$1 end \$(date +%s%N) \$i\" >>$TMPD/stamps']"; }
# The most runs going at once according to the stamps.
max_overlap() { sort -k3,3n "$TMPD/stamps" | awk '$2 == "start" { n++; if (n > m) m = n } $2 == "end" { n-- } END { print m + 0 }'; }

# ---- the storm ----------------------------------------------------------------------------------------
printf 'budget: {memory: 256M, pids: 512}\n' >"$TMPD/set.yaml"
for n in a b c; do svc "$n" "$(stamp_cmd "$n" 0.2)" "limits: {memory: 128M}" "schedule: {every: 1h, overlap: allow}"; done
svc huge "command: [true]" "limits: {memory: 512M}"
svc lost "command: [true]" "queue: batch"
up --config "$TMPD/set.yaml"
B=$(budget_dir)
[ -n "$B" ] && [ -d "$B" ]; ok "the budget's cgroup exists: $B"
is "$(cat "$B/memory.limit_in_bytes")" $((256 << 20)) "its memory.limit_in_bytes is the budget"
is "$(cat "/sys/fs/cgroup/pids${B#/sys/fs/cgroup/memory}/pids.max" 2>/dev/null)" 512 "its pids.max is the budget (the same path in the pids hierarchy)"
grep -qF "$SVC/huge.yaml:3:10: limits.memory: reserves 512.0M of memory, more than the manager's whole budget (budget.memory 256.0M at $TMPD/set.yaml:1:10): it could never start; expected at most 256.0M (requests: {memory: ...})" "$TMPD/up.log"
ok "a reservation larger than the budget is refused at load, with its numbers"
grep -qF "$SVC/lost.yaml:3:8: queue: 'batch' is not a queue of this manager; expected one of default (queues: in $TMPD/set.yaml)" "$TMPD/up.log"
ok "an unknown queue is refused at load"
v ps | grep -q "huge.yaml .* broken"; ok "ps shows the too-large service as broken"

: >"$TMPD/samples"
# A populated cgroup: a pid in its cgroup.procs (cgroupfs files have no size: read them).
( while :; do n=0; for d in "$B"/tfrun-*/; do p=; read -r p <"$d/cgroup.procs" 2>/dev/null; [ -n "$p" ] && n=$((n + 1)); done; echo "$n" >>"$TMPD/samples"; sleep 0.05; done ) &
SAMPLER=$!
for i in $(seq 20); do for n in a b c; do v trigger "$n" >/dev/null 2>&1; done; done
v queue --json >"$TMPD/queue.json"
v queue >"$TMPD/queue.txt"
v ps >"$TMPD/ps.txt"
v ps --json >"$TMPD/ps.json"
wait_for '[ "$(grep -c " end " "$TMPD/stamps" 2>/dev/null)" -ge 60 ]' 60; ok "60 triggers: 60 runs ended"
kill "$SAMPLER"; wait "$SAMPLER" 2>/dev/null
is "$(sort -n "$TMPD/samples" | tail -1)" 2 "sampled every 50 ms: at most two runs in the budget's cgroup at once, and two seen"
is "$(max_overlap)" 2 "the runs' own timestamps: never more than two at once, and two at once"
[ "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["waiting"]))' "$TMPD/queue.json")" -ge 10 ]
ok "tfrun queue --json during the storm lists the waiting runs"
is "$(jget waiting.0.reason <"$TMPD/queue.json")" reservation "the first waits for its reservation"
is "$(jget waiting.0.position <"$TMPD/queue.json")" 1 "positions start at 1"
grep -q "reserves memory 128.0M; 256.0M of 256.0M held" "$TMPD/queue.txt"; ok "tfrun queue says what it waits for"
python3 -c 'import json,sys; print(sorted({s["state"] for s in json.load(open(sys.argv[1]))["services"] if s["name"] in ("a", "b", "c")}))' "$TMPD/ps.json" | grep -q "queued\|running"
ok "ps: the services are running or queued during the storm"
grep -qE "^budget: memory 256.0M held, .* used of 256.0M; pids [0-9]+ of 512; 2 running, [0-9]+ waiting$" "$TMPD/ps.txt"
ok "ps ends with the budget line"
wait_for '[ "$(v history -n 100 --json | python3 -c "import json,sys; print(sum(r[\"status\"] == \"success\" for r in json.load(sys.stdin)[\"runs\"]))")" = 60 ]' 10
ok "the history has the 60 runs, all succeeded"
v status a | grep -q "Queue: default, priority 0"; ok "status shows the queue and priority"
v status a | grep -q "budget: memory"; ok "status shows the budget line"
curl -sf --unix-socket "$MSOCK" http://localhost/metrics >"$TMPD/metrics"
grep -q '^tfrun_budget_limit{resource="memory"} 268435456$' "$TMPD/metrics"; ok "/metrics: the budget's memory limit"
grep -q '^tfrun_budget_usage{resource="memory"} [0-9]' "$TMPD/metrics"; ok "/metrics: its usage"
grep -q '^tfrun_budget_reserved{resource="memory"} 0$' "$TMPD/metrics"; ok "/metrics: nothing reserved once idle"
grep -q '^tfrun_admission_waiting 0$' "$TMPD/metrics"; ok "/metrics: nothing waiting"
if command -v promtool >/dev/null; then promtool check metrics <"$TMPD/metrics" >"$TMPD/promtool" 2>&1; ok "promtool accepts the scrape"; fi
down; is "$?" 0 "the manager stops"
[ ! -e "$B" ]; ok "the budget's cgroup is removed at exit"

# ---- priorities, FIFO within one, stop of a queued run --------------------------------------------------
: >"$TMPD/stamps"
rm -f "$SVC"/*.yaml
cat >"$TMPD/set.yaml" <<'YAML'
queues: {solo: {max_concurrent: 1}}
admission: {aging: 1h}
YAML
svc blocker "$(stamp_cmd blocker 5)" "queue: solo"
for p in 10 5 0; do for x in a b; do svc "p$p$x" "$(stamp_cmd "p$p$x" 0.05)" "queue: solo" "priority: $p" "schedule: {every: 1h, overlap: allow}"; done; done
svc gone "$(stamp_cmd gone 0.05)" "queue: solo" "priority: 100"
up --config "$TMPD/set.yaml"
v trigger blocker >/dev/null
wait_for 'grep -q "blocker start" "$TMPD/stamps"' 10
seq="p0a p5b p10b p0b p10a p5a p5a p0b p10b p10a p0a p5b p10a p0b p5a p10b p0a p5b p10a p5a"
for n in $seq; do v trigger "$n" >/dev/null; done
got=$(v trigger gone 2>&1); is "$?" 0 "tfrun trigger of a run that must wait: status 0"
v ps | grep -qE "^gone +native +queued "; ok "ps: a service whose run waits for admission is queued"
is "$got" "tfrun: trigger: gone: waiting (for admission: room in the budget, its queue, pressure; see \`tfrun queue\`)" \
        "and it says so"
is "$(v queue --json | jget waiting.0.service)" gone "the highest priority is first in the queue"
v stop gone >/dev/null
v queue --json | grep -q '"service": "gone"'; is "$?" 1 "tfrun stop of a queued run removes it from the queue"
wait_for '[ "$(grep -c " end " "$TMPD/stamps")" -ge 21 ]' 30; ok "the 20 queued runs ran"
want=$(for n in $seq; do echo "$n"; done | awk '{ p = substr($0, 2, length($0) - 2); print p, NR, $0 }' | sort -k1,1nr -k2,2n | awk '{ print $3 }' | tr '\n' ' ')
got=$(sort -k3,3n "$TMPD/stamps" | awk '$2 == "start" && $1 != "blocker" { print $1 }' | tr '\n' ' ')
is "$got" "$want" "with max_concurrent 1: priority order, FIFO within a priority"
grep -q "^gone " "$TMPD/stamps"; is "$?" 1 "the stopped queued run never ran"
is "$(max_overlap)" 1 "max_concurrent 1: one at a time"
down

# ---- aging ----------------------------------------------------------------------------------------------
: >"$TMPD/stamps"
rm -f "$SVC"/*.yaml
cat >"$TMPD/set.yaml" <<'YAML'
queues: {solo: {max_concurrent: 1}}
admission: {aging: 1s}
YAML
svc blocker "$(stamp_cmd blocker 0.5)" "queue: solo"
svc low "$(stamp_cmd low 0.05)" "queue: solo" "priority: 0"
svc high "$(stamp_cmd high 0.3)" "queue: solo" "priority: 3" "schedule: {every: 1h, overlap: allow}"
up --config "$TMPD/set.yaml"
v trigger blocker >/dev/null
wait_for 'grep -q "blocker start" "$TMPD/stamps"' 10
v trigger high >/dev/null
low_after=$(date +%s%N); v trigger low >/dev/null; low_after=$(date +%s%N)
: >"$TMPD/triggers"
for i in $(seq 30); do echo "$(date +%s%N)" >>"$TMPD/triggers"; v trigger high >/dev/null; sleep 0.2; done
wait_for 'grep -q "low end" "$TMPD/stamps"' 30; ok "the low priority run ran under a stream of high ones"
low_start=$(awk '$1 == "low" && $2 == "start" { print $3 }' "$TMPD/stamps")
# Highs triggered more than (3 - 0) * aging after the low one sort behind it: none of them started first.
late=$(awk -v t="$low_after" '$1 > t + 3000000000 { n++ } END { print n + 0 }' "$TMPD/triggers")
[ "$late" -ge 5 ]; ok "highs kept coming well past the aging bound ($late of them)"
highs_before=$(sort -k3,3n "$TMPD/stamps" | awk -v t="$low_start" '$1 == "high" && $2 == "start" && $3 < t { n++ } END { print n + 0 }')
early=$(awk -v t="$low_after" '$1 <= t + 3000000000 { n++ } END { print n + 1 }' "$TMPD/triggers")
[ "$highs_before" -le "$early" ]; ok "the low run started before any high triggered past its aging bound ($highs_before highs before it, at most $early)"
[ "$highs_before" -ge 2 ]; ok "and after some highs (priority still counts: $highs_before before it)"
down

# ---- max_wait --------------------------------------------------------------------------------------------
: >"$TMPD/stamps"
rm -f "$SVC"/*.yaml
cat >"$TMPD/set.yaml" <<'YAML'
queues: {solo: {max_concurrent: 1}}
admission: {max_wait: 1s}
YAML
svc blocker "$(stamp_cmd blocker 3)" "queue: solo"
svc late "$(stamp_cmd late 0.05)" "queue: solo"
up --config "$TMPD/set.yaml"
v trigger blocker >/dev/null
wait_for 'grep -q "blocker start" "$TMPD/stamps"' 10
is "$(v trigger late --json | jget outcome)" waiting "a trigger that cannot start now: outcome waiting"
wait_for 'grep -q "late: waited .* for admission (queue full), admission.max_wait: missed" "$TMPD/up.log"' 5
ok "after max_wait the waiting run is missed"
is "$(v history late --json | jget runs.0.status)" skipped "it is in the history as a missed (skipped) run"
v history late --json | jget runs.0.reason | grep -q "^admission: not admitted within admission.max_wait (1s)$"
ok "with reason admission"
curl -sf --unix-socket "$MSOCK" http://localhost/metrics | grep -q '^tfrun_missed_runs_total{service="late",reason="admission"} 1$'
ok "/metrics counts it as missed (admission)"
wait_for 'grep -q "blocker end" "$TMPD/stamps"' 10
sleep 0.3
grep -q "^late " "$TMPD/stamps"; is "$?" 1 "the missed run never started"
down

# ---- pressure ----------------------------------------------------------------------------------------------
rm -f "$SVC"/*.yaml
: >"$TMPD/stamps"
mkdir -p "$TMPD/nopsi" "$TMPD/psi"
printf 'admission:\n  memory: {some: 10}\n' >"$TMPD/set.yaml"
svc p "$(stamp_cmd p 0.05)"
TFRUN_PRESSURE_DIR=$TMPD/nopsi "$TFRUN" up "$SVC" --config "$TMPD/set.yaml" --state-dir "$ST" --socket "$MSOCK" >"$TMPD/out" 2>&1
is "$?" 125 "thresholds on a host without PSI: refused (125)"
is "$(cat "$TMPD/out")" "tfrun: up: $TMPD/set.yaml:2:3: admission.memory: this host has no pressure information in $TMPD/nopsi/memory (No such file or directory); PSI needs a kernel 4.20 or later built with CONFIG_PSI and not booted with psi=0; expected no admission.memory thresholds here" \
        "and why, at the threshold's position"
printf 'some avg10=55.00 avg60=1.00 avg300=0.50 total=100\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n' >"$TMPD/psi/memory"
export TFRUN_PRESSURE_DIR=$TMPD/psi
up --config "$TMPD/set.yaml"
unset TFRUN_PRESSURE_DIR
is "$(v trigger p --json | jget outcome)" waiting "memory pressure above the threshold: the start waits"
sleep 1.5
is "$(v queue --json | jget waiting.0.reason)" pressure "tfrun queue: it waits for pressure"
v queue | grep -qF "memory some avg10 55.00 > 10.00"; ok "and says which threshold"
grep -q "^p start" "$TMPD/stamps"; is "$?" 1 "nothing started while pressure is high"
printf 'some avg10=2.00 avg60=1.00 avg300=0.50 total=100\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n' >"$TMPD/psi/memory"
wait_for 'grep -q "^p end" "$TMPD/stamps"' 5; ok "once pressure falls below the threshold, the run starts"
down

# ---- a budget left by a killed manager is swept ---------------------------------------------------------------
rm -f "$SVC"/*.yaml
printf 'budget: {memory: 64M}\n' >"$TMPD/set.yaml"
svc s "command: [sleep, '300']"
up --config "$TMPD/set.yaml"
B=$(budget_dir)
v trigger s >/dev/null
wait_for '[ -n "$(ls -d "$B"/tfrun-s-* 2>/dev/null)" ]' 5
killed=$UP_PID
kill -KILL "$UP_PID"; wait "$UP_PID" 2>/dev/null; UP_PID=
[ -d "$B" ]; ok "kill -9: the budget's cgroup is left"
up --config "$TMPD/set.yaml"
grep -qF "budget: removed $B, left by manager" "$TMPD/up.log" || diag "$(grep budget "$TMPD/up.log")"
ok "the next manager sweeps it"
[ ! -e "$B" ]; ok "it is gone, and the run that was in it"
# A second manager (its own state directory and socket) beside this one: a live manager's budget is not
# swept (its tfrun is alive).
B1=$(budget_dir)
"$TFRUN" up "$SVC" --config "$TMPD/set.yaml" --state-dir "$TMPD/st2" --socket "$TMPD/s2.sock" >"$TMPD/up2.log" 2>&1 &
UP2=$!
wait_log "managing [0-9]* service" 20 "$TMPD/up2.log"; ok "a second manager with a budget comes up beside the first"
[ -d "$B1" ]; ok "the first manager's budget is left alone"
grep -q "budget: removed" "$TMPD/up2.log"; is "$?" 1 "the second manager swept nothing"
kill -TERM "$UP2"; wait "$UP2"; is "$?" 0 "the second manager stops"
[ -d "$B1" ]; ok "and the first's budget is still there"
last=$UP_PID
down
is "$(find /sys/fs/cgroup -maxdepth 8 -type d \( -name "tfrun-budget-$killed" -o -name "tfrun-budget-$last" \) 2>/dev/null)" "" \
        "no budget directory left in any hierarchy"
own=$(sed -n 's/^[0-9]*:memory:\(.*\)/\1/p' /proc/self/cgroup)
if [ -n "$own" ] && [ "$own" != / ]; then
        is "$(ls -d /sys/fs/cgroup/{cpu,pids,freezer,unified}"$own" 2>/dev/null)" "" \
                "the directories made for its path in the other hierarchies are gone too (also the killed manager's)"
fi

# ---- budget.io on cgroup v1 ---------------------------------------------------------------------------------
# v1's blk-throttle is flat: a limit on the budget's blkio cgroup would not bound the runs below it (a child
# of a throttled cgroup writes at full speed; measured: 1 MiB/s on the parent, 150 MB/s in the child). Refused
# at start, by its settings key, before anything is made; v2's io.max is tested in the VM (test-v2-budget).
if [ "$(stat -f -c %T /sys/fs/cgroup)" != cgroup2fs ]; then
        dev=$(findmnt -n -o SOURCE -T "$TMPD" 2>/dev/null)
        printf 'budget:\n  memory: 256M\n  io: [{device: %s, write_bps: 1M}]\n' "${dev:-/dev/vda}" >"$TMPD/set-io.yaml"
        got=$("$TFRUN" up "$SVC" --config "$TMPD/set-io.yaml" --state-dir "$TMPD/st-io" --socket "$TMPD/io.sock" 2>&1); rc=$?
        is "$rc" 125 "budget.io on a cgroup v1 host: refused at start (125)"
        is "$got" "tfrun: up: $TMPD/set-io.yaml:3:3: budget.io: this host's io controller is cgroup v1 blkio, whose throttling is not hierarchical (a limit on the budget's cgroup would not bound the runs below it); expected no budget.io here (a spec's own limits.io still works), or a cgroup v2 host" \
                "... named by its settings key, with what to do"
        [ ! -e "$TMPD/io.sock" ]; ok "... and the manager did not start (no socket)"
        # Added by a reload: refused the same way, the settings unchanged.
        printf 'budget:\n  memory: 256M\n' >"$TMPD/set-io.yaml"
        up --config "$TMPD/set-io.yaml"
        printf 'budget:\n  memory: 256M\n  io: [{device: %s, write_bps: 1M}]\n' "${dev:-/dev/vda}" >"$TMPD/set-io.yaml"
        got=$(v reload 2>&1); rc=$?
        [ "$rc" -ne 0 ]; ok "budget.io added by a reload: the reload fails ($rc)"
        echo "$got" | grep -qF "$TMPD/set-io.yaml:3:3: budget.io: this host's io controller is cgroup v1 blkio"
        ok "... with the same message"
        v reload >/dev/null 2>&1
        grep -q "reload: $TMPD/set-io.yaml: the settings apply" "$TMPD/up.log"; is "$?" 1 "... and the settings are not applied"
        down
fi
san_check
done_testing
