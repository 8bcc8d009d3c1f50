#!/bin/bash
# SPDX-License-Identifier: MIT
# Alerts (notify:) under a real manager, with webhook receivers on 127.0.0.1 started here
# (webhook-receiver.py checks each signature with python's hmac): one failure alert per failed job despite
# its restart retries, signed, its body the run's result; the receiver's 500 retried; the command notifier
# gets the facts in its environment and runs under its limits; a recovery after a failure; a receiver that is down and one that
# never answers get their retries (counted in /metrics, which promtool accepts) while a native service
# keeps firing on time; an overlap-skipped fire and a fire missed while the manager was stopped
# (persistent) alert, the second after the restart; a dead-man grace alerts once per fire; a service that
# never succeeds is stale once.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
need_root
. "$SRCDIR/tests/integration/manager/common.sh"
command -v python3 >/dev/null || skip_all "python3 is missing"

RECV=$SRCDIR/tests/integration/manager/webhook-receiver.py
PIDS=()
stop_pids() { local p; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; PIDS=(); }
trap 'stop_pids; cleanup_up' EXIT

printf 'hunter2-%s\n' "$RANDOM$RANDOM" >"$TMPD/hook.secret"
chmod 600 "$TMPD/hook.secret"
# receiver NAME [ARGS]: a receiver logging to $TMPD/NAME.log; sets PORT.
receiver() {
        local name=$1 i
        shift
        rm -f "$TMPD/$name.port"
        python3 "$RECV" --secret-file "$TMPD/hook.secret" --log "$TMPD/$name.log" --port-file "$TMPD/$name.port" "$@" &
        PIDS+=($!)
        for i in $(seq 100); do [ -s "$TMPD/$name.port" ] && break; sleep 0.1; done
        PORT=$(cat "$TMPD/$name.port")
}
# jq-like: py EXPR FILE: EXPR over the receiver's records (a list `r`).
py() { python3 -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; print($1)" "$2"; }
wait_file_lines() { # FILE N SECONDS
        local i
        for ((i = 0; i < $3 * 10; i++)); do
                [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ] && return 0
                sleep 0.1
        done
        return 1
}
hist_json() { v history "$1" -n 1000 --json; }
metric() { awk -v k="$2" '$1 == k { print $2; f = 1 } END { if (!f) print "absent" }' <<<"$1"; }

# A secret file others can read is refused at load, by name and position (no fixture: git keeps no 0600).
cp "$TMPD/hook.secret" "$TMPD/open.secret" && chmod 644 "$TMPD/open.secret"
cat >"$TMPD/open.yaml" <<EOF
name: open
command: [true]
notify:
  webhook: {url: "http://127.0.0.1:9/hook", secret_file: open.secret}
EOF
got=$("$TFRUN" validate "$TMPD/open.yaml" 2>&1); is "$?" 125 "a secret readable by others: 125"
is "$got" "tfrun: $TMPD/open.yaml:4:58: notify.webhook.secret_file: open.secret can be read by every user (mode 0644); expected a file only its owner (and group) can read (chmod 600 open.secret)" \
        "  its message"
grep -qF "$(cat "$TMPD/open.secret")" <<<"$got"; is "$?" 1 "  the secret is not in it"

# --- one failure alert per job despite retries; signature; body; the receiver's 500 retried; the command.
receiver main --fail-first 1
MAIN=$PORT
svc flaky "command: [sh, -c, 'test -e $TMPD/flag-ok || exit 3']" \
        "restart: {policy: on-failure, max_retries: 2, backoff: {initial: 200ms, max: 200ms, jitter: false}}" \
        "notify:" \
        "  on: [failure, recovery]" \
        "  webhook: {url: \"http://127.0.0.1:$MAIN/hooks/flaky?x=1\", secret_file: $TMPD/hook.secret}" \
        "  command: [sh, -c, 'env | grep ^TFRUN_ | sort >$TMPD/cmd-env.\$TFRUN_ALERT; (cat /sys/fs/cgroup/memory/memory.limit_in_bytes || cat /sys/fs/cgroup/memory.max; cat /sys/fs/cgroup/pids/pids.max || cat /sys/fs/cgroup/pids.max; cat /proc/1/comm) >$TMPD/cmd-limits.\$TFRUN_ALERT 2>/dev/null']"
up
v trigger flaky >/dev/null; ok "flaky triggered"
wait_file_lines "$TMPD/main.log" 2 15; ok "the receiver got the alert (after one 500)"
wait_log "flaky: failure alert for .*: delivered to http://127.0.0.1:$MAIN" 10; ok "the manager says it was delivered"
sleep 1.5 # anything more would have come by now
is "$(hist_json flaky | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["runs"]))')" 3 "flaky ran 3 attempts"
is "$(wc -l <"$TMPD/main.log")" 2 "two posts: the first answered 500, then the retry"
is "$(py 'sum(1 for x in r if x["answered"] == 200)' "$TMPD/main.log")" 1 "exactly one delivery for the failed job"
is "$(py 'all(x["signature_ok"] for x in r)' "$TMPD/main.log")" True "every post's signature checks out (python hmac)"
is "$(py 'len(set(x["timestamp"] for x in r)) >= 1 and all(x["timestamp"].isdigit() for x in r)' "$TMPD/main.log")" True \
        "X-Tfrun-Timestamp is Unix seconds"
last=$(hist_json flaky | python3 -c 'import json,sys; print(json.load(sys.stdin)["runs"][0]["run_id"])')
b='r[-1]["body"]'
is "$(py "$b[\"alert\"], $b[\"service\"], $b[\"status\"], $b[\"attempts\"], $b[\"run_id\"]" "$TMPD/main.log")" \
        "failure flaky failure 3 $last" "the body: alert, service, status, attempts, the last attempt's run id"
is "$(py "$b[\"result\"][\"exit_code\"], r[-1][\"alert\"], r[-1][\"path\"]" "$TMPD/main.log")" "3 failure /hooks/flaky?x=1" \
        "the body holds the run's result (exit 3); X-Tfrun-Alert; the URL's path and query"
grep -qF "?x=1" "$TMPD/up.log"; is "$?" 1 "the manager's log names the receiver's origin only, not its path"
grep -qF "$(cat "$TMPD/hook.secret")" "$TMPD/up.log"; is "$?" 1 "the secret is not in the manager's log"
wait_file_lines "$TMPD/cmd-env.failure" 9 10; ok "the command notifier ran"
is "$(grep -E '^TFRUN_(ALERT|SERVICE|STATUS|EXIT_CODE|ATTEMPTS|RUN_ID)=' "$TMPD/cmd-env.failure" | tr '\n' ' ')" \
        "TFRUN_ALERT=failure TFRUN_ATTEMPTS=3 TFRUN_EXIT_CODE=3 TFRUN_RUN_ID=$last TFRUN_SERVICE=flaky TFRUN_STATUS=failure " \
        "the command's environment has the facts"
grep -q '^TFRUN_REASON=exited$' "$TMPD/cmd-env.failure"; ok "  and the reason"
wait_file_lines "$TMPD/cmd-limits.failure" 3 10
is "$(tr '\n' ' ' <"$TMPD/cmd-limits.failure")" "268435456 64 tfrun-init " \
        "the command runs under limits (memory 256M, pids 64) in the default sandbox (its own pid namespace)"
# Recovery: the first success after the failure.
touch "$TMPD/flag-ok"
v trigger flaky >/dev/null
wait_file_lines "$TMPD/main.log" 3 10; ok "a second alert came"
is "$(py 'r[-1]["body"]["alert"], r[-1]["body"]["status"], r[-1]["signature_ok"]' "$TMPD/main.log")" "recovery success True" \
        "the first success after a failure is a recovery"
wait_file_lines "$TMPD/cmd-env.recovery" 5 10; ok "the command got the recovery too"
v trigger flaky >/dev/null
sleep 1.5
is "$(wc -l <"$TMPD/main.log")" 3 "a second success is no alert (on: has no success)"
M=$(curl -s --unix-socket "$MSOCK" http://x/metrics)
is "$(metric "$M" 'tfrun_alerts_total{service="flaky",alert="failure"}')" 1 "metrics: one failure alert"
is "$(metric "$M" 'tfrun_alerts_total{service="flaky",alert="recovery"}')" 1 "metrics: one recovery alert"
is "$(metric "$M" 'tfrun_alert_attempts_total{service="flaky",notifier="webhook",result="failure"}')" 1 "metrics: one failed post (the 500)"
is "$(metric "$M" 'tfrun_alert_deliveries_total{service="flaky",notifier="webhook",result="success"}')" 2 "metrics: two deliveries"
is "$(metric "$M" 'tfrun_alert_deliveries_total{service="flaky",notifier="command",result="success"}')" 2 "metrics: two command runs"
# A rotated secret: a reload reads the file again although the spec's bytes did not change.
stop_pids
printf 'rotated-%s\n' "$RANDOM$RANDOM" >"$TMPD/hook.secret"
receiver main --port "$MAIN"
rm -f "$TMPD/main.log"
v reload --json >"$TMPD/reload.json"; ok "reload"
is "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["changed"])' "$TMPD/reload.json")" "['flaky']" \
        "  flaky is changed (its secret is read again)"
rm "$TMPD/flag-ok"
v trigger flaky >/dev/null
wait_file_lines "$TMPD/main.log" 1 15; ok "the failure after the rotation is delivered"
is "$(py 'r[0]["signature_ok"], r[0]["body"]["alert"]' "$TMPD/main.log")" "True failure" "  signed with the new secret"
down; is "$?" 0 "the manager stops"

# --- receivers that are down (refused) and hung (never answer): retries, and fires on time meanwhile.
python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' >"$TMPD/down.port"
DOWN=$(cat "$TMPD/down.port")
python3 - "$TMPD/hung.port" <<'PY' &
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)   # never accepts: connects land in the backlog
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(600)
PY
PIDS+=($!)
for i in $(seq 100); do [ -s "$TMPD/hung.port" ] && break; sleep 0.1; done
HUNG=$(cat "$TMPD/hung.port")
rm -f "$SVC"/*.yaml
svc down "command: [sh, -c, 'exit 1']" "schedule: {every: 1s}" \
        "notify: {webhook: {url: \"http://127.0.0.1:$DOWN/\", attempts: 3}}"
svc hung "command: [sh, -c, 'exit 1']" "schedule: {every: 1s}" \
        "notify: {webhook: {url: \"http://127.0.0.1:$HUNG/\", attempts: 2, timeout: 3s}}"
svc steady "command: [true]" "schedule: {every: 1s}"
up
sleep 8
M=$(curl -s --unix-socket "$MSOCK" http://x/metrics)
n=$(metric "$M" 'tfrun_alert_attempts_total{service="down",notifier="webhook",result="failure"}')
[ "$n" -ge 6 ]; ok "the down receiver's posts fail and are retried ($n failed attempts)"
n=$(metric "$M" 'tfrun_alert_deliveries_total{service="down",notifier="webhook",result="failure"}')
[ "$n" -ge 1 ]; ok "  deliveries given up on after 3 attempts are counted ($n)"
grep -q "warning: down: failure alert for down-.*: webhook http://127.0.0.1:$DOWN: .*; gave up after 3 attempts" "$TMPD/up.log"
ok "  and logged"
n=$(metric "$M" 'tfrun_alert_attempts_total{service="hung",notifier="webhook",result="failure"}')
[ "$n" -ge 1 ]; ok "the hung receiver's posts time out ($n)"
p=$(metric "$M" 'tfrun_alert_deliveries_pending')
[ "$p" -ge 1 ]; ok "deliveries are pending meanwhile ($p)"
if command -v promtool >/dev/null; then
        promtool check metrics <<<"$M" >"$TMPD/promtool" 2>&1; is "$?" 0 "promtool check metrics accepts the alert counters"
        [ -s "$TMPD/promtool" ] && diag "$(cat "$TMPD/promtool")"
else
        skip "promtool is not installed (Debian package prometheus)"
fi
# Every fire of the three services started on time: within 0.5 s of its scheduled second.
for s in steady down hung; do
        read -r n late < <(hist_json "$s" | python3 -c '
import json, sys
runs = [r for r in json.load(sys.stdin)["runs"] if r["scheduled_usec"]]
print(len(runs), max((r["started_usec"] - r["scheduled_usec"]) / 1e6 for r in runs))')
        [ "$n" -ge 6 ]; ok "$s fired $n times in 8 s"
        python3 -c "import sys; sys.exit(0 if $late < 0.5 else 1)"; ok "  each within 0.5 s of its time (latest: ${late}s)"
done
down; is "$?" 0 "the manager stops with deliveries pending"
grep -q "webhook deliver.* dropped (the manager is stopping)" "$TMPD/up.log"; ok "  and says what it dropped"

# --- missed fires: overlap, the dead-man grace, and downtime across a restart.
rm -f "$SVC"/*.yaml "$TMPD/main.log"
stop_pids
receiver main
MAIN=$PORT
hook="webhook: {url: \"http://127.0.0.1:$MAIN/\", secret_file: $TMPD/hook.secret}"
svc busy "command: [sleep, '2.5']" "schedule: {every: 1s}" "notify: {on: [missed], $hook}"
svc queued "command: [sleep, '3']" "schedule: {every: 2s, overlap: queue}" \
        "notify: {on: [missed], missed: {grace: 1s}, $hook}"
# A calendar: an every: series is anchored at the manager's start, so it has no fire to catch up.
svc sour "command: [sh, -c, 'exit 1']" "schedule: {every: 1s}" "notify: {on: [stale], stale: 2s, $hook}"
svc nightly "command: [true]" "schedule: {calendar: '*:*:0/4', persistent: true}" "notify: {on: [missed], $hook}"
up
wait_log "nightly native status=0" 10; ok "nightly ran once (its start recorded)"
sleep 5
down; is "$?" 0 "the manager stops"
busy=$(py 'sum(1 for x in r if x["body"]["service"] == "busy" and x["body"]["reason"].startswith("overlap"))' "$TMPD/main.log")
[ "$busy" -ge 1 ]; ok "an overlap-skipped fire is a missed alert ($busy)"
is "$(py 'all(x["signature_ok"] and x["body"]["scheduled"] for x in r if x["body"]["alert"] == "missed")' "$TMPD/main.log")" True \
        "missed alerts are signed and name the fire's time"
is "$(py 'sum(1 for x in r if x["body"]["service"] == "sour")' "$TMPD/main.log")" 1 \
        "a service that never succeeds: one stale alert (stale: 2s), no failure alerts (on: [stale])"
is "$(py '[x["body"]["alert"] + ": " + x["body"]["reason"] for x in r if x["body"]["service"] == "sour"][0]' "$TMPD/main.log")" \
        "stale: no success for 2s (none recorded)" "  its reason"
q=$(py 'sum(1 for x in r if x["body"]["service"] == "queued" and "within 1s" in x["body"]["reason"])' "$TMPD/main.log")
[ "$q" -ge 1 ]; ok "a queued fire that did not start within the grace is a missed alert ($q)"
is "$(py 'len([x for x in r if x["body"]["service"] == "queued"]) == len(set(x["body"]["scheduled"] for x in r if x["body"]["service"] == "queued"))' "$TMPD/main.log")" \
        True "  once per fire (not again when it starts late)"
is "$(py 'sum(1 for x in r if x["body"]["service"] == "nightly")' "$TMPD/main.log")" 0 "nightly missed nothing while up"
rm -f "$SVC/busy.yaml" "$SVC/queued.yaml" "$SVC/sour.yaml"
sleep 5 # past nightly's next fire (every 4 s) while no manager runs
: >"$TMPD/main.log"
up
wait_file_lines "$TMPD/main.log" 1 10; ok "after the restart, an alert"
is "$(py 'r[0]["body"]["service"], r[0]["body"]["alert"], r[0]["body"]["reason"].split(":")[0], r[0]["signature_ok"]' "$TMPD/main.log")" \
        "nightly missed downtime True" "the fire missed while the manager was stopped (persistent)"
wait_log "nightly: catching up" 5; ok "and the catch-up ran"
sleep 1
is "$(py 'sum(1 for x in r if x["body"]["reason"].startswith("downtime"))' "$TMPD/main.log")" 1 "one downtime alert for it"
down; is "$?" 0 "the manager stops"

# --- the settings' notify: the default of specs without one (a spec's own replaces it).
rm -f "$SVC"/*.yaml
cat >"$TMPD/settings.yaml" <<EOF
notify:
  command: [sh, -c, 'echo \$TFRUN_SERVICE \$TFRUN_ALERT >>$TMPD/default.out']
EOF
svc plain "command: [sh, -c, 'exit 4']"
svc own "command: [sh, -c, 'exit 5']" "notify: {command: [sh, -c, 'echo own \$TFRUN_ALERT >>$TMPD/own.out']}"
up --config "$TMPD/settings.yaml"
v trigger plain >/dev/null
v trigger own >/dev/null
wait_file_lines "$TMPD/default.out" 1 10; ok "the settings' default notify: ran for a spec without one"
wait_file_lines "$TMPD/own.out" 1 10; ok "a spec's own notify: ran"
sleep 1
is "$(cat "$TMPD/default.out")" "plain failure" "  the default told of plain alone (own has its own)"
is "$(cat "$TMPD/own.out")" "own failure" "  own's notify: said its failure once"
down; is "$?" 0 "the manager stops"
san_check
done_testing
