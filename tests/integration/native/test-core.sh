#!/bin/bash
# SPDX-License-Identifier: MIT
# The core's promises through the CLI: results as data (--json-file, JSON for status 125), signal storms
# (tfrun exits with the run's status, never by a signal of its own), SIGHUP keeps every: on its anchor, and
# what validate refuses from the spec alone.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
need_root
STORM="$SRCDIR/tests/integration/native/storm.py"
export TFRUN_LOOP_WARN_MS=${TFRUN_LOOP_WARN_MS:-500} TFRUN_LOOP_WARN_FATAL=1

# ---- --json-file: a clean channel even when the service prints no final newline
f=$(spec nonl "command: [printf, no-newline]")
out=$("$TFRUN" --json --json-file "$TMPD/r.json" "$f" 2>"$TMPD/err"); rc=$?
is "$rc" 0 "--json-file: the run's status"
python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); assert o["status"]==0 and o["reason"]=="exited" and o["service"]=="nonl", o' "$TMPD/r.json"
ok "--json-file: the file holds the result object alone"
case "$out" in "no-newline{"*) pass "--json on stdout follows the service's output on its line (the documented caveat)";; *) fail "--json caveat"; diag "$out";; esac
ls "$TMPD"/r.json.tmp.* >/dev/null 2>&1 && fail "--json-file: no temporary file left" || pass "--json-file: no temporary file left"

# ---- status 125 yields a result too
f=$(spec bad "command: [true]" "limts: {memory: 1M}")
out=$("$TFRUN" --json --json-file "$TMPD/bad.json" "$f" 2>"$TMPD/err"); rc=$?
is "$rc" 125 "invalid spec: 125"
is "$(python3 -c 'import json,sys; o=json.loads(sys.argv[1]); print(o["status"], o["reason"], o["service"])' "$out")" \
        "125 invalid-spec None" "invalid spec: a JSON result on stdout"
is "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["error"])' "$TMPD/bad.json")" \
        "$f:3:1: limts: unknown key; did you mean 'limits'?" "invalid spec: the message in the file's error"
f=$(spec nfound "command: [tfrun-no-such-command]")
"$TFRUN" --json-file "$TMPD/nf.json" "$f" 2>"$TMPD/err"; is "$?" 127 "not found: 127"
is "$(head -1 "$TMPD/err")" "tfrun: $f:2:1: command: 'tfrun-no-such-command' was not found in PATH ($PATH); give its full path, or set PATH in env:" \
        "not found: the message says where tfrun looked"
f=$(spec nfound2 "command: [tfrun-no-such-command]" "env: {PATH: /nowhere}")
"$TFRUN" "$f" 2>"$TMPD/err"
grep -q "was not found in PATH (/nowhere)" "$TMPD/err"; ok "not found: the PATH of the spec's env"
is "$(python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); print(o["status"], o["reason"])' "$TMPD/nf.json")" \
        "127 not-found" "not found: reason in the result"

# ---- signal storms: 50 signals, back to back and spaced; tfrun ends with the run's status
f=$(spec storm "command: [sh, -c, 'trap \"exit 7\" TERM INT HUP; while :; do sleep 0.05; done']" "stop: {grace: 2s}")
for gap in 0 10; do
        res=$(python3 "$STORM" "$gap" 50 TERM,INT,HUP "$TFRUN" "$f" 2>"$TMPD/storm.err")
        rc=$(echo "$res" | sed -n 's/^rc=//p'); st=$(echo "$res" | sed -n 's/^summary=//p')
        check "one-shot storm (gap ${gap} ms): tfrun exits, not killed by a signal (rc=$rc)" test "$rc" -ge 0
        is "$rc" "$st" "one-shot storm (gap ${gap} ms): tfrun's status is the summary's"
        grep -q 'loop: a dispatch took' "$TMPD/storm.err" && { fail "storm: no slow dispatch"; diag "$(cat "$TMPD/storm.err")"; }
done
no_cgroup_left storm "storms"
f=$(spec rstorm "command: [sleep, 30]" "schedule: {every: 1h}")
for gap in 0 10; do
        res=$(python3 "$STORM" "$gap" 50 TERM,INT "$TFRUN" "$f" 2>"$TMPD/storm.err")
        is "$(echo "$res" | sed -n 's/^rc=//p')" 0 "resident storm (gap ${gap} ms): tfrun exits 0"
done

# ---- SIGHUP every 2 s keeps every: 3s firing on its anchor
f=$(spec hup "command: [true]" "schedule: {every: 3s}")
"$TFRUN" "$f" 2>"$TMPD/hup.err" & pid=$!
for i in 1 2 3 4 5; do sleep 2; kill -HUP "$pid"; done
sleep 0.5; kill -TERM "$pid"; wait "$pid"; rc=$?
is "$rc" 0 "SIGHUP storm: resident tfrun exits 0"
n=$(grep -c 'hup: firing' "$TMPD/hup.err")
check "SIGHUP every 2 s: every: 3s still fired $n times in 10.5 s (3 or more)" test "$n" -ge 3
is "$(grep -c 'hup: reloaded' "$TMPD/hup.err")" 5 "SIGHUP every 2 s: five reloads"

# ---- validate refuses what the spec alone decides, with file:line:col
f=$(spec old "command: [true]" "schedule:" "  calendar: '2001-01-01'")
"$TFRUN" validate "$f" 2>"$TMPD/err"; is "$?" 125 "validate: a schedule that can never fire: 125"
is "$(cat "$TMPD/err")" "tfrun: $f:3:1: schedule: no fire time after now: this schedule can never fire (check the years of the calendar expressions; \`tfrun next FILE\` lists fire times)" \
        "validate: a schedule that can never fire: message"
"$TFRUN" "$f" 2>"$TMPD/err"; is "$?" 125 "run: a schedule that can never fire: 125"
f=$(spec dmh "image: tfrun-test/busybox:latest" "command: [true]" "limits: {memory: 64M, memory_high: 32M}")
"$TFRUN" validate "$f" 2>"$TMPD/err"; is "$?" 125 "validate: docker with memory_high: 125"
is "$(cat "$TMPD/err")" "tfrun: $f:4:23: limits.memory_high: Docker has no equivalent of memory.high (MemoryReservation is a soft minimum, not a throttle); remove it or use the native backend" \
        "validate: docker with memory_high: message"
"$TFRUN" statsu 2>"$TMPD/err"; is "$?" 125 "an unknown command: 125"
is "$(cat "$TMPD/err")" "tfrun: 'statsu' is not a tfrun command nor a spec file; commands: run, validate, next, calendar, up, ps, status, trigger, stop, enable, disable, reload, history, logs, token, retry, export, explain, doctor (see tfrun --help)" \
        "an unknown command: message"
"$TFRUN" --frobnicate "$f" 2>"$TMPD/err"; is "$?" 125 "an unknown option: 125"
is "$(cat "$TMPD/err")" "tfrun: run: unknown option '--frobnicate'; see \`tfrun run --help\` for the options" \
        "an unknown option: message"

# ---- tfrun's own stderr stalled (a full pipe nobody reads): timeouts still act, and tfrun ends
f=$(spec stall "command: [sleep, 30]" "timeout: 1s" "stop: {grace: 1s}")
res=$(python3 "$SRCDIR/tests/integration/native/stalled-stderr.py" "$TFRUN" "$f")
is "${res%% *}" "rc=124" "stalled stderr: the timeout acts and tfrun ends with 124 ($res)"
secs=${res##*secs=}
check "stalled stderr: within 6 s (its last lines get 2 s, then are dropped)" python3 -c "import sys; sys.exit(0 if float('${secs:-99}') < 6 else 1)"
no_cgroup_left stall "stalled stderr"

# ---- files tfrun writes where others may write: a planted symlink is replaced, never written through
echo precious >"$TMPD/victim"
ln -s "$TMPD/victim" "$TMPD/planted.json"
f=$(spec plant "command: [true]")
"$TFRUN" -q --json-file "$TMPD/planted.json" "$f"; is "$?" 0 "planted --json-file: the run"
is "$(cat "$TMPD/victim")" precious "planted --json-file: the symlink's target is untouched"
check "planted --json-file: the result is a regular file of its own" test -f "$TMPD/planted.json" -a ! -L "$TMPD/planted.json"
mkdir -p "$TMPD/state"
ln -s "$TMPD/victim" "$TMPD/state/pers.state"
f=$(spec pers "command: [true]" "schedule: {every: 1s, persistent: true}")
"$TFRUN" --state-dir "$TMPD/state" "$f" 2>"$TMPD/pers.err" & pid=$!
for i in $(seq 50); do grep -q 'pers native status=0' "$TMPD/pers.err" && break; sleep 0.1; done
kill -TERM "$pid"; wait "$pid"
is "$(cat "$TMPD/victim")" precious "planted state file: the symlink's target is untouched"
check "planted state file: replaced by a regular file" test -f "$TMPD/state/pers.state" -a ! -L "$TMPD/state/pers.state"

# ---- a setuid tfrun refuses to run (it would take its caller's environment and specs)
d=$(mktemp -d /tmp/tfrun-suid.XXXXXX); cp "$TFRUN" "$d/tfrun"; chmod 4755 "$d/tfrun"; chmod 755 "$d"
if id nobody >/dev/null 2>&1 && runuser -u nobody -- true 2>/dev/null; then
        runuser -u nobody -- "$d/tfrun" validate "$SRCDIR/examples/hello.yaml" >/dev/null 2>"$TMPD/suid.err"
        is "$?" 125 "setuid tfrun run by nobody: 125"
        is "$(cat "$TMPD/suid.err")" "tfrun: refusing to run with real uid/gid $(id -u nobody)/$(id -g nobody) and effective uid/gid 0/$(id -g nobody) (a setuid or setgid tfrun): run it as the user it should run jobs as (sudo, a systemd unit)" \
                "setuid tfrun run by nobody: message"
else
        skip "no user nobody to run a setuid copy as"
fi
rm -rf "$d"

done_testing
