#!/bin/bash
# SPDX-License-Identifier: MIT
# on_success / on_failure between services under `tfrun up`: once per finished job however many retries it
# took, with the triggering run's facts in the env, recorded as trigger "service"; cycles and unknown
# targets refused at load and on reload with their messages; a one-shot `tfrun FILE` says it ignores them.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
need_root
. "$SRCDIR/tests/integration/manager/common.sh"
export TFRUN_SOCKET=$MSOCK

# lines FILE: its line count, 0 while it does not exist.
lines() { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }
# wait_lines FILE N SECONDS: until FILE has at least N lines.
wait_lines() {
        local i
        for ((i = 0; i < $3 * 10; i++)); do
                [ "$(lines "$1")" -ge "$2" ] && return 0
                sleep 0.1
        done
        return 1
}
# hist NAME: "trigger attempt run_id" of each run of NAME, oldest first.
hist() {
        "$TFRUN" history "$1" --json | python3 -c '
import json, sys
for r in reversed(json.load(sys.stdin)["runs"]):
    print(r["trigger"], r["attempt"], r["run_id"])'
}

# flaky fails every attempt: three attempts (max_retries 2), one on_failure fire.
svc flaky "command: [sh, -c, 'echo x >> $TMPD/flaky-attempts; exit 3']" \
        "restart: {policy: on-failure, max_retries: 2, backoff: {initial: 100ms, max: 100ms, jitter: false}}" \
        "on_failure: [alert]" "on_success: [notify]"
# good succeeds: notify, not alert.
svc good "command: [true]" "on_success: notify" "on_failure: [alert]"
env_line='echo "$TFRUN_TRIGGER_SERVICE $TFRUN_TRIGGER_RUN_ID $TFRUN_TRIGGER_STATUS"'
svc alert "command: [sh, -c, '$env_line >> $TMPD/alert']"
svc notify "command: [sh, -c, '$env_line >> $TMPD/notify']"
# Not only manual runs: a failure of a run the schedule started (here a file trigger) fires too.
svc by-path "command: [sh, -c, 'exit 4']" "schedule: {every: 1h, path: {exists: $TMPD/go, settle: 100ms}}" \
        "on_failure: [alert2]"
svc alert2 "command: [sh, -c, '$env_line >> $TMPD/alert2']"
# A cycle, and a service beside it that names a service DIR does not have.
svc cyc-a "command: [true]" "on_success: cyc-b"
svc cyc-b "command: [true]" "on_failure: [alert, cyc-a]"
svc typo "command: [true]" "on_failure: [alret]"

up
cyc_msg="a cycle among services (each triggers the next through on_success or on_failure); expected no cycle: drop one of these triggers"
grep -qxF "tfrun: $SVC/cyc-a.yaml:3:13: on_success: cyc-a -> cyc-b -> cyc-a: $cyc_msg" "$TMPD/up.log"
ok "a cycle refused at load: cyc-a's message names it"
grep -qxF "tfrun: $SVC/cyc-b.yaml:3:21: on_failure[1]: cyc-a -> cyc-b -> cyc-a: $cyc_msg" "$TMPD/up.log"
ok "cyc-b's message names the same cycle at its own edge"
grep -qxF "tfrun: $SVC/typo.yaml:3:14: on_failure[0]: no service 'alret' in $SVC; expected the name of a service of that directory (see \`tfrun ps\`)" "$TMPD/up.log"
ok "an unknown target is refused by name"
grep -q "managing 6 services from $SVC (3 broken)" "$TMPD/up.log"; ok "six services, three refused"
"$TFRUN" ps --json >"$TMPD/ps.json"
python3 - "$TMPD/ps.json" "$SVC" <<'EOF'; ok "ps shows the refused files broken, with their messages"
import json, sys
ps = {s["file"]: s for s in json.load(open(sys.argv[1]))["services"]}
d = sys.argv[2]
for f in ("cyc-a", "cyc-b", "typo"):
    s = ps[d + "/" + f + ".yaml"]
    assert s["state"] == "broken", s
    assert ("cyc-a -> cyc-b -> cyc-a" if f != "typo" else "'alret'") in s["error"], s
assert ps[d + "/alert.yaml"]["state"] == "idle"
EOF

"$TFRUN" status good --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["on_success"] == ["notify"] and s["on_failure"] == ["alert"], s'
ok "status shows good's targets"

# on_failure once per run, despite its retries.
"$TFRUN" trigger flaky >/dev/null
wait_lines "$TMPD/alert" 1 20; ok "flaky's failure triggered alert"
wait_log "flaky: retry 2 in" 20
sleep 1.5 # room for a wrong second or third fire
is "$(lines "$TMPD/flaky-attempts")" 3 "flaky ran three attempts (max_retries 2)"
is "$(lines "$TMPD/alert")" 1 "alert fired once for the three attempts"
is "$(lines "$TMPD/notify")" 0 "a failed run does not fire on_success"
last_flaky=$(hist flaky | tail -1)
is "$(hist flaky | awk '{print $1, $2}' | tr '\n' ,)" "manual 1,retry 2,retry 3," "flaky's history: the first attempt and two retries"
is "$(cat "$TMPD/alert")" "flaky ${last_flaky##* } failure" \
        "alert's env: TFRUN_TRIGGER_SERVICE, TFRUN_TRIGGER_RUN_ID (the last attempt's), TFRUN_TRIGGER_STATUS"
is "$(hist alert | awk '{print $1, $2}')" "service 1" "alert's run is recorded with trigger 'service'"

# A scheduled run's failure.
: >"$TMPD/go"
wait_lines "$TMPD/alert2" 1 20; ok "a path-triggered run's failure triggered alert2"
by_path_id=$(hist by-path | awk '$1 == "path" {print $3}')
is "$(cat "$TMPD/alert2")" "by-path $by_path_id failure" "alert2's env names the path-triggered run"

# on_success with its env, once per run.
# Each time until notify's run has ended: a trigger while it still runs meets its overlap policy (skip).
for i in 1 2; do
        "$TFRUN" trigger good >/dev/null
        wait_lines "$TMPD/notify" "$i" 20; ok "good's run $i triggered notify"
        for ((t = 0; t < 100; t++)); do [ "$(count_log '^tfrun: notify native status=')" -ge "$i" ] && break; sleep 0.1; done
done
sleep 0.5
good_ids=$(hist good | awk '{print $3}' | tr '\n' ' ')
want=""
for id in $good_ids; do want+="good $id success"$'\n'; done
is "$(cat "$TMPD/notify")" "${want%$'\n'}" "notify's env names each run of good, status success"
is "$(lines "$TMPD/alert")" 1 "good's successes did not fire on_failure"

# A stopped run is cancelled: no trigger.
svc slow "command: [sleep, '30']" "on_failure: [alert]" "on_success: [notify]"
"$TFRUN" reload >/dev/null
"$TFRUN" trigger slow >/dev/null
sleep 0.5
"$TFRUN" stop slow >/dev/null
wait_log "slow native status=" 20; ok "slow was stopped"
sleep 0.5
is "$(lines "$TMPD/alert"):$(lines "$TMPD/notify")" "1:2" "a stopped run triggers neither"

# Reload: the cycle broken, both come up; a new cycle through a running service refuses both.
svc cyc-b "command: [true]" "on_failure: [alert]"
"$TFRUN" reload >"$TMPD/reload1.out"; ok "reload"
state() { "$TFRUN" status "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'; }
is "$(state cyc-a):$(state cyc-b)" "idle:idle" "the cycle gone: both services load"
svc good "command: [true]" "on_success: [cyc-a]"
svc cyc-b "command: [true]" "on_failure: [good]"
svc cyc-a "command: [true]" "on_success: [cyc-b]"
"$TFRUN" reload --json >"$TMPD/reload2.json"; ok "reload with a new cycle"
python3 - "$TMPD/reload2.json" <<'EOF'; ok "the reload's answer lists the three as broken, naming the cycle (typo stays broken)"
import json, sys
r = json.load(open(sys.argv[1]))
errs = sorted(b["file"].rsplit("/", 1)[1] for b in r["broken"] if "cyc-a -> cyc-b -> good -> cyc-a" in b["error"])
assert errs == ["cyc-a.yaml", "cyc-b.yaml", "good.yaml"], r
assert "good" not in r["changed"], r
EOF
grep -qF "$SVC/good.yaml:3:14: on_success[0]: cyc-a -> cyc-b -> good -> cyc-a: $cyc_msg" "$TMPD/up.log"
ok "the cycle starts at the name that sorts first, at good's own edge"
"$TFRUN" trigger good >/dev/null 2>&1
is "$?" 125 "a refused service cannot be triggered" # no service 'good' now

# One-shot: the triggers are not silently dropped.
f=$(spec once-trig "command: [true]" "on_failure: [alert]")
"$TFRUN" "$f" 2>"$TMPD/once.err" >/dev/null; is "$?" 0 "a one-shot run with on_failure runs"
grep -qxF "tfrun: warning: $f:3:1: on_failure: only \`tfrun up\` triggers other services; ignored by this run" "$TMPD/once.err"
ok "and warns that only tfrun up acts on on_failure"
"$TFRUN" validate "$f" >/dev/null 2>&1; ok "validate accepts it (targets are the manager's to check)"

# export: on_failure as OnFailure= (inexact), a path trigger a gap; explain shows the path trigger.
f=$(spec ex-trig "command: [/bin/true]" "sandbox: host" "on_failure: [alert, notify]" "schedule: {path: {exists: /srv/flag}}")
out=$("$TFRUN" export systemd "$f" 2>"$TMPD/export.err"); is "$?" 0 "export of a spec with on_failure and a path trigger"
grep -qxF "OnFailure=alert.service notify.service" <<<"$out"; ok "on_failure becomes OnFailure="
grep -q "^#   schedule.path: not exported" <<<"$out"; ok "schedule.path is listed inexact"
grep -q "ex-trig.timer" <<<"$out"; is "$?" 1 "a schedule of paths alone gets no timer"
"$TFRUN" export systemd --strict "$f" >/dev/null 2>&1; is "$?" 125 "export --strict refuses it"
"$TFRUN" explain "$f" 2>/dev/null | grep -qxF "  path: exists /srv/flag (when it happens)"; ok "explain lists the path trigger"

down; ok "the manager stops cleanly"
san_check
done_testing
