#!/bin/bash
# SPDX-License-Identifier: MIT
# The settings (--config FILE) read again by `tfrun reload` and SIGHUP (docs/manager.md "Settings"), on real
# cgroups, driving the real manager:
# - max_concurrent raised while runs wait: they start;
# - a broken settings file: the reload fails with its FILE:LINE:COL message (non-zero exit), and the old
#   settings still apply (queue bound, budget);
# - budget.memory changed: the budget cgroup's memory.limit_in_bytes changes (SIGHUP); lowered below what
#   running runs hold: refused with the numbers, the limit unchanged; the budget removed: refused (restart);
# - a queue removed that a service uses: that service is broken, as at load;
# - max_wait added while a run waits: it is missed; a budget added: refused (restart).
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
need_root
. "$SRCDIR/tests/integration/manager/common.sh"
trap cleanup_up EXIT

budget_dir() { sed -n 's/^tfrun: budget: \(\/[^ ]*\) (every run.*/\1/p' "$TMPD/up.log" | tail -1; }
running() { v ps --json | python3 -c 'import json,sys; print(sum(s["running"] for s in json.load(sys.stdin)["services"] if s["name"] == sys.argv[1]))' "$1"; }
qmax() { v queue --json | python3 -c 'import json,sys; print([q["max_concurrent"] for q in json.load(sys.stdin)["queues"] if q["name"] == sys.argv[1]][0])' "$1"; }

cat >"$TMPD/set.yaml" <<'EOF2'
budget: {memory: 256M}
queues:
  default: {max_concurrent: 1}
  batch: {max_concurrent: 1}
EOF2
svc w "command: [sleep, '30']" "requests: {memory: 32M}" "schedule: {every: 1h, overlap: allow}"
svc q "command: [sleep, '30']" "requests: {memory: 32M}" "queue: batch"
up --config "$TMPD/set.yaml"
B=$(budget_dir)
is "$(cat "$B/memory.limit_in_bytes")" $((256 << 20)) "the budget's memory.limit_in_bytes is 256M"

# ---- max_concurrent raised ------------------------------------------------------------------------------
for i in 1 2 3; do v trigger w >/dev/null 2>&1; done
wait_for '[ "$(running w)" = 1 ]' 10; ok "max_concurrent 1: one run"
is "$(v queue --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["waiting"]))')" 2 "two wait, queue full"
sed -i 's/default: {max_concurrent: 1}/default: {max_concurrent: 3}/' "$TMPD/set.yaml"
got=$(v reload 2>&1); is "$?" 0 "tfrun reload with good settings: 0"
is "$got" "0 added, 0 changed, 0 removed, 0 broken, 2 unchanged" "it answers as a reload of the specs does"
grep -q "reload: $TMPD/set.yaml: the settings apply" "$TMPD/up.log"; ok "the log says the settings apply"
wait_for '[ "$(running w)" = 3 ]' 10; ok "max_concurrent raised to 3: the waiting runs start"
is "$(qmax default)" 3 "tfrun queue: max_concurrent 3"

# ---- a broken settings file ----------------------------------------------------------------------------
cp "$TMPD/set.yaml" "$TMPD/good.yaml"
cat >"$TMPD/set.yaml" <<'EOF2'
budget: {memory: 512M}
queues:
  default: {max_concurent: 1}
EOF2
got=$(v reload 2>&1); rc=$?
[ "$rc" -ne 0 ]; ok "tfrun reload of broken settings: a non-zero exit ($rc)"
echo "$got" | grep -qF "reload: $TMPD/set.yaml:3:13: queues.default.max_concurent: unknown key"; ok "its FILE:LINE:COL message"
grep -qF "$TMPD/set.yaml:3:13: queues.default.max_concurent: unknown key" "$TMPD/up.log" && grep -q "keeping the settings and every service as they are" "$TMPD/up.log"
ok "the manager logs it, and keeps the settings"
is "$(qmax default)" 3 "the old queue bound still applies"
is "$(cat "$B/memory.limit_in_bytes")" $((256 << 20)) "the budget is unchanged"
curl -s -o /dev/null -w '%{http_code}' -X POST --unix-socket "$MSOCK" http://localhost/api/v1/reload | grep -q 422
ok "POST /api/v1/reload: 422"
v stop w >/dev/null
wait_for '[ "$(running w)" = 0 ]' 10

# ---- the budget -----------------------------------------------------------------------------------------
cp "$TMPD/good.yaml" "$TMPD/set.yaml"
sed -i 's/memory: 256M/memory: 512M/' "$TMPD/set.yaml"
n=$(count_log "the settings apply")
kill -HUP "$UP_PID"
wait_for '[ "$(count_log "the settings apply")" -gt "$n" ]' 10; ok "SIGHUP re-reads the settings"
is "$(cat "$B/memory.limit_in_bytes")" $((512 << 20)) "budget.memory 512M: the budget cgroup's memory.limit_in_bytes follows"
v queue --json | python3 -c 'import json,sys; sys.exit(json.load(sys.stdin)["budget"]["limits"]["memory"] != 512 << 20)'
ok "tfrun queue --json shows the new limit"
svc big "command: [sleep, '30']" "requests: {memory: 192M}"
v reload >/dev/null 2>&1
v trigger big >/dev/null 2>&1
wait_for '[ "$(running big)" = 1 ]' 10; ok "a run holding 192M"
sed -i 's/memory: 512M/memory: 128M/' "$TMPD/set.yaml"
got=$(v reload 2>&1); rc=$?
[ "$rc" -ne 0 ]; ok "budget.memory below what runs hold: the reload fails ($rc)"
is "$got" "tfrun: reload: $TMPD/set.yaml:1:10: budget.memory: 128.0M is less than the running runs hold (192.0M reserved by 1 run); expected at least 192.0M, or the reload once they ended" \
        "with the numbers"
is "$(cat "$B/memory.limit_in_bytes")" $((512 << 20)) "the limit is unchanged"
v stop big >/dev/null
wait_for '[ "$(running big)" = 0 ]' 10
# Lowered with nothing running: a service reserving more than the whole budget is broken, as at load.
printf 'budget: {memory: 128M}\nqueues:\n  default: {max_concurrent: 3}\n  batch: {max_concurrent: 1}\n' >"$TMPD/set.yaml"
got=$(v reload 2>&1); is "$?" 0 "budget.memory 128M with nothing running: applies"
is "$(cat "$B/memory.limit_in_bytes")" $((128 << 20)) "memory.limit_in_bytes 128M"
echo "$got" | grep -qF "broken: $SVC/big.yaml:3:12: requests.memory: reserves 192.0M of memory, more than the manager's whole budget (budget.memory 128.0M at $TMPD/set.yaml:1:10): it could never start"
ok "a service that can never fit now is broken, with its numbers"
# memory and memory_swap together (v1: memory.limit_in_bytes may never pass memory.memsw.limit_in_bytes):
# raised, then lowered.
if [ -e "$B/memory.memsw.limit_in_bytes" ]; then
        for m in 256 192 512; do
                printf 'budget: {memory: %dM, memory_swap: 0}\nqueues:\n  default: {max_concurrent: 3}\n  batch: {max_concurrent: 1}\n' "$m" >"$TMPD/set.yaml"
                got=$(v reload 2>&1); is "$?" 0 "budget {memory: ${m}M, memory_swap: 0}: applies"
                is "$(cat "$B/memory.limit_in_bytes") $(cat "$B/memory.memsw.limit_in_bytes")" "$((m << 20)) $((m << 20))" \
                        "memory.limit_in_bytes and memory.memsw.limit_in_bytes ${m}M"
        done
        printf 'budget: {memory: 512M}\nqueues:\n  default: {max_concurrent: 3}\n  batch: {max_concurrent: 1}\n' >"$TMPD/set.yaml"
        got=$(v reload 2>&1); rc=$?
        [ "$rc" -ne 0 ]; ok "budget.memory_swap dropped: the reload fails ($rc)"
        is "$got" "tfrun: reload: $TMPD/set.yaml:1:1: budget.memory_swap: removed, but the budget's cgroup keeps the limit it was made with until the manager restarts; expected budget.memory_swap (a new value applies at once), or a restart of the manager" \
                "it says the limit would stay"
        SWAP=", memory_swap: 0"
else
        skip "no memory.memsw.limit_in_bytes (swap accounting off): memory_swap not reloaded"
        printf 'budget: {memory: 512M}\nqueues:\n  default: {max_concurrent: 3}\n  batch: {max_concurrent: 1}\n' >"$TMPD/set.yaml"
        v reload >/dev/null 2>&1
        SWAP=
fi
printf 'queues:\n  default: {max_concurrent: 3}\n  batch: {max_concurrent: 1}\n' >"$TMPD/set.yaml"
got=$(v reload 2>&1); rc=$?
[ "$rc" -ne 0 ]; ok "the budget removed: the reload fails ($rc)"
echo "$got" | grep -qF "$TMPD/set.yaml: budget: removed, but the budget's cgroup is the parent of the running runs and cannot go while the manager runs; expected the budget: back, or a restart of the manager"
ok "it needs a restart"
[ -d "$B" ] && is "$(cat "$B/memory.limit_in_bytes")" $((512 << 20)) "the budget stays"

# ---- a queue removed ------------------------------------------------------------------------------------
printf 'budget: {memory: 512M%s}\nqueues:\n  default: {max_concurrent: 3}\n' "$SWAP" >"$TMPD/set.yaml"
got=$(v reload 2>&1); is "$?" 0 "a queue removed: the reload applies"
echo "$got" | grep -qF "broken: $SVC/q.yaml:4:8: queue: 'batch' is not a queue of this manager; expected one of default (queues: in $TMPD/set.yaml)"
ok "the service using it is broken, as at load"
v ps | grep -q "q.yaml .* broken"; ok "ps shows it broken"
is "$(qmax default)" 3 "the other queue stays"
printf 'budget: {memory: 512M%s}\nqueues:\n  default: {max_concurrent: 3}\n  batch: {max_concurrent: 1}\n' "$SWAP" >"$TMPD/set.yaml"
got=$(v reload 2>&1); is "$?" 0 "the queue back"
echo "$got" | grep -q "^1 added"; ok "the service is back"

# ---- max_wait added while a run waits -------------------------------------------------------------------
printf 'budget: {memory: 512M%s}\nqueues:\n  default: {max_concurrent: 1}\n  batch: {max_concurrent: 1}\n' "$SWAP" >"$TMPD/set.yaml"
v reload >/dev/null 2>&1
v trigger w >/dev/null 2>&1; v trigger w >/dev/null 2>&1
wait_for '[ "$(running w)" = 1 ]' 10
is "$(v queue --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["waiting"]))')" 1 "one run of w waits (max_concurrent 1)"
printf 'budget: {memory: 512M%s}\nadmission: {max_wait: 1s}\nqueues:\n  default: {max_concurrent: 1}\n  batch: {max_concurrent: 1}\n' "$SWAP" >"$TMPD/set.yaml"
got=$(v reload 2>&1); is "$?" 0 "admission.max_wait 1s added: applies"
wait_for 'v history w -n 10 --json | grep -q "not admitted within admission.max_wait (1s)"' 10
ok "the run that was waiting before the reload is missed after the new max_wait"
v stop w >/dev/null
wait_for '[ "$(running w)" = 0 ]' 10
down; is "$?" 0 "the manager stops"

# ---- a budget added -------------------------------------------------------------------------------------
printf 'queues:\n  default: {max_concurrent: 2}\n' >"$TMPD/set.yaml"
up --config "$TMPD/set.yaml"
printf 'queues:\n  default: {max_concurrent: 2}\nbudget: {memory: 256M}\n' >"$TMPD/set.yaml"
got=$(v reload 2>&1); rc=$?
[ "$rc" -ne 0 ]; ok "a budget added: the reload fails ($rc)"
is "$got" "tfrun: reload: $TMPD/set.yaml:3:1: budget: added, but a budget is the parent cgroup of every run from the manager's start and running runs cannot move into one; expected no budget: until the manager restarts (its settings are unchanged)" \
        "it needs a restart"
grep -q "budget: /" "$TMPD/up.log"; is "$?" 1 "no budget cgroup was made"
down; is "$?" 0 "the manager stops"
san_check
done_testing
