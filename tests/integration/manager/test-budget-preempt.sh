#!/bin/bash
# SPDX-License-Identifier: MIT
# Opt-in preemption (`preemptible: true`, docs/manager.md "Budget and admission"), on real cgroups, with a
# budget of 256M:
# - a preemptible low-priority run holding 192M is stopped per its stop: (its TERM trap runs) when a
#   high-priority run reserving 128M waits; the high one starts after it ended; the history says why; with
#   restart: on-failure the preempted job retries, and waits until the high run is done;
# - a run that is not preemptible is never stopped: the high one waits, and starts when it ends;
# - a preemptible run of the same priority is not stopped;
# - a preemption that would not make room (the only preemptible run holds too little) stops nothing.
# - the victims: lowest priority first, newest first within one, only as many as make room.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
need_root
. "$SRCDIR/tests/integration/manager/common.sh"
trap cleanup_up EXIT

# A run that stamps its start, its TERM and its end into $TMPD/stamps: "NAME start|term|end NANOSECONDS".
held() {
        # The trap first: a TERM right after the start stamp finds it set.
        echo "command: [sh, -c, 'trap \"echo \\\"$1 term \$(date +%s%N)\\\" >>$TMPD/stamps; exit 143\" TERM; echo \"$1 start \$(date +%s%N)\" >>$TMPD/stamps; sleep $2 & wait; echo \"$1 end \$(date +%s%N)\" >>$TMPD/stamps']"
}
stamp() { sed -n "s/^$1 $2 //p" "$TMPD/stamps" | head -1; }
running() { v ps --json | python3 -c 'import json,sys; print(sum(s["running"] for s in json.load(sys.stdin)["services"] if s["name"] == sys.argv[1]))' "$1"; }
hist() { v history "$1" -n 5 --json | python3 -c 'import json,sys
for r in json.load(sys.stdin)["runs"]: print(r["status"], "|", r.get("reason") or "", "|", r.get("trigger"))'; }

printf 'budget: {memory: 256M}\n' >"$TMPD/set.yaml"
svc low "$(held low 300)" "requests: {memory: 192M}" "priority: -5" "preemptible: true" \
        "stop: {signal: TERM, grace: 5s}" "restart: {policy: on-failure, max_retries: 1, backoff: {initial: 100ms, jitter: false}}"
svc high "$(held high 1)" "requests: {memory: 128M}" "priority: 10"
svc pinned "$(held pinned 300)" "requests: {memory: 192M}" "priority: -5"
svc peer "$(held peer 300)" "requests: {memory: 192M}" "priority: 10" "preemptible: true"
svc small "$(held small 300)" "requests: {memory: 64M}" "priority: -5" "preemptible: true"
svc lo "$(held lo 300)" "requests: {memory: 96M}" "priority: -5" "preemptible: true" "schedule: {every: 1h, overlap: allow}"
svc mid "$(held mid 300)" "requests: {memory: 64M}" "priority: -1" "preemptible: true"
svc hi64 "$(held hi64 1)" "requests: {memory: 64M}" "priority: 10"
up --config "$TMPD/set.yaml"

# ---- preempted -------------------------------------------------------------------------------------------
v trigger low >/dev/null
wait_for '[ -n "$(stamp low start)" ]' 10; ok "the low run holds 192M of 256M"
v trigger high 2>&1 | grep -q "high: waiting"; ok "the high run (128M) does not fit: it waits, and the low run is stopped"
wait_for '[ -n "$(stamp high end)" ]' 20; ok "the high run ran"
[ -n "$(stamp low term)" ]; ok "the low run got its stop: signal (its TERM trap ran)"
[ "$(stamp high start)" -gt "$(stamp low term)" ]; ok "the high run started after the low one was stopped"
[ -z "$(stamp low end)" ]; ok "the low run did not run to its end"
grep -q "low: low-.*: stopping it (preempted: stopped to make room for high (priority 10, reserves 128.0M and 0.10 CPUs))" "$TMPD/up.log"
ok "the manager's log says which run was stopped and for whom"
wait_for 'hist low | grep -q "^cancelled | preempted: stopped to make room for high (priority 10, reserves 128.0M and 0.10 CPUs) | manual"' 10
ok "the history: the preempted run cancelled (not a failure), its reason naming the run it made room for"
# restart: on-failure: the preemption was a failed attempt; the retry waited for the high run and runs now.
wait_for '[ "$(grep -c "^low start" "$TMPD/stamps")" = 2 ]' 20; ok "the preempted job retried (restart: on-failure)"
[ "$(sed -n 's/^low start //p' "$TMPD/stamps" | tail -1)" -gt "$(stamp high end)" ]; ok "its retry started after the high run ended"
hist low 2>/dev/null | head -1 | grep -q "^running | .* | retry"; ok "the history has the retry running"
v stop low >/dev/null
wait_for '[ "$(running low)" = 0 ]' 10; ok "stopped by hand"
v queue --json | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(d["preemptions"] != 1)'
ok "tfrun queue --json counts one preemption"
curl -sf --unix-socket "$MSOCK" http://localhost/metrics | grep -q '^tfrun_preemptions_total 1$'; ok "/metrics: tfrun_preemptions_total 1"
: >"$TMPD/stamps"

# ---- not preemptible --------------------------------------------------------------------------------------
v trigger pinned >/dev/null
wait_for '[ -n "$(stamp pinned start)" ]' 10; ok "a run that is not preemptible holds 192M"
v trigger high 2>&1 | grep -q "high: waiting"; ok "the high run waits"
sleep 2
[ -z "$(stamp pinned term)" ] && [ "$(running pinned)" = 1 ]; ok "the run that is not preemptible is never stopped"
[ -z "$(stamp high start)" ]; ok "the high run still waits"
v queue | grep -q "high .*reservation"; ok "tfrun queue: it waits for its reservation"
v stop pinned >/dev/null
wait_for '[ -n "$(stamp high end)" ]' 20; ok "once it was stopped by hand the high run ran"
: >"$TMPD/stamps"

# ---- the same priority -----------------------------------------------------------------------------------
v trigger peer >/dev/null
wait_for '[ -n "$(stamp peer start)" ]' 10
v trigger high 2>&1 | grep -q "high: waiting"; ok "the high run waits behind a preemptible run of its own priority"
sleep 2
[ -z "$(stamp peer term)" ] && [ "$(running peer)" = 1 ]; ok "a run of the same priority is not preempted"
v stop high >/dev/null
v stop peer >/dev/null
wait_for '[ "$(running peer)" = 0 ]' 10
: >"$TMPD/stamps"

# ---- would not make room ---------------------------------------------------------------------------------
v trigger pinned >/dev/null
v trigger small >/dev/null
wait_for '[ -n "$(stamp pinned start)" ] && [ -n "$(stamp small start)" ]' 10; ok "192M pinned and 64M preemptible: the budget is full"
n=$(count_log "stopping it \(preempted")
v trigger high 2>&1 | grep -q "high: waiting"; ok "the high run waits"
sleep 2
[ -z "$(stamp small term)" ] && [ "$(running small)" = 1 ]; ok "stopping the preemptible run would free 64M of the 128M needed: it is not stopped"
is "$(count_log "stopping it \(preempted")" "$n" "no preemption in the log"
v stop pinned >/dev/null
wait_for '[ -n "$(stamp high end)" ]' 20; ok "the high run starts when there is room (192M freed)"
[ -z "$(stamp small term)" ]; ok "and the small run was left alone"
v stop small >/dev/null
wait_for '[ "$(running small)" = 0 ]' 10
: >"$TMPD/stamps"

# ---- which ones: lowest priority first, newest first, only as many as needed ------------------------------
ids() { v history "$1" -n 10 --json | python3 -c 'import json,sys
for r in sorted(json.load(sys.stdin)["runs"], key=lambda r: r["started"]): print(r["run_id"], r["status"])'; }
fill() {
        v trigger lo >/dev/null 2>&1
        wait_for '[ "$(running lo)" = 1 ]' 10
        v trigger lo >/dev/null 2>&1
        v trigger mid >/dev/null 2>&1
        wait_for '[ "$(running lo)" = 2 ] && [ "$(running mid)" = 1 ]' 10
}
fill; ok "two lo runs (96M each, priority -5) and mid (64M, priority -1): the budget is full"
v trigger hi64 >/dev/null 2>&1
wait_for '[ -n "$(stamp hi64 end)" ]' 20; ok "hi64 (64M) ran"
is "$(ids lo | awk '{print $2}' | tr '\n' ' ')" "running cancelled " "for 64M: the newer lo run was stopped, the older one runs on"
is "$(running mid)" 1 "mid (a higher priority than lo) was left alone"
v stop lo >/dev/null; v stop mid >/dev/null
wait_for '[ "$(running lo)" = 0 ] && [ "$(running mid)" = 0 ]' 10
: >"$TMPD/stamps"
fill
v trigger high >/dev/null 2>&1
wait_for '[ -n "$(stamp high end)" ]' 20; ok "high (128M) ran"
is "$(ids lo | tail -2 | awk '{print $2}' | tr '\n' ' ')" "cancelled cancelled " "for 128M: both lo runs were stopped (lowest first)"
is "$(running mid)" 1 "and only they: mid runs on (96M + 96M made room)"
v stop mid >/dev/null
wait_for '[ "$(running mid)" = 0 ]' 10
down; is "$?" 0 "the manager stops"
san_check
done_testing
