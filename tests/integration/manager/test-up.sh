#!/bin/bash
# SPDX-License-Identifier: MIT
# `tfrun up DIR`: many services in one manager. Loading (broken files and name clashes reported, their
# neighbours run), schedules firing, one-shot specs waiting for a trigger, SIGHUP reloads (added, changed,
# removed, broken), the state directory's lock, sd_notify readiness, SIGTERM stopping long runs, and the
# shipped systemd unit.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
need_root
. "$SRCDIR/tests/integration/manager/common.sh"

svc tick "command: [sh, -c, 'echo tick-v1']" "schedule: {every: 1s}"
svc once "command: [sh, -c, 'echo once-ran']"
svc broken "command: [true]" "limits: {memry: 1M}"
# A second file claiming the name tick: refused by name, the first (in file order) keeps it.
{ echo "name: tick"; echo "command: [true]"; } >"$SVC/zz-tick.yaml"

up
wait_log "tick-v1" 10; ok "a scheduled service fires"
grep -q "managing 2 services from $SVC (2 broken)" "$TMPD/up.log"; ok "two services, two broken files"
grep -qF "$SVC/broken.yaml:3:10: limits.memry: unknown key; did you mean 'memory'?" "$TMPD/up.log"
ok "the broken file's error is logged with its position"
grep -qF "$SVC/zz-tick.yaml: name 'tick' is already used by $SVC/tick.yaml; give one of them another name" "$TMPD/up.log"
ok "a duplicate name is refused by name"
[ "$(count_log '^tick +\| tick-v1$')" -ge 1 ]; ok "tick's output reaches the manager's output after its name"
sleep 2.2
n=$(count_log 'tick-v1')
[ "$n" -ge 2 ]; ok "tick fired again ($n times)"
is "$(count_log 'once-ran')" 0 "a one-shot spec does not run at start: it waits for a trigger"

# A second manager on the same state directory.
"$TFRUN" up "$SVC" --state-dir "$ST" --socket "$TMPD/other.sock" >"$TMPD/second.out" 2>&1
is "$?" 125 "a second manager on one state dir: 125"
is "$(cat "$TMPD/second.out")" "tfrun: up: another manager (pid $UP_PID) already runs on the state directory $ST; stop it, or give this one another --state-dir" \
        "the second manager says who holds the lock"

# SIGHUP: add one, change tick, remove once, break nothing else.
svc added "command: [sh, -c, 'echo added-ran']" "schedule: {every: 1s}"
svc tick "command: [sh, -c, 'echo tick-v2']" "schedule: {every: 1s}"
rm "$SVC/once.yaml"
echo "command: [" >"$SVC/broken2.yaml"
kill -HUP "$UP_PID"
wait_log "reload: 1 added, 1 changed, 1 removed, 3 broken, 0 unchanged" 5
ok "SIGHUP: 1 added, 1 changed, 1 removed, 3 broken"
wait_log "added-ran" 5; ok "the added service fires"
wait_log "tick-v2" 5; ok "the changed service runs its new command"
grep -q "once: $SVC/once.yaml is gone; no more fires" "$TMPD/up.log"; ok "the removed service is said to be gone"
kill -HUP "$UP_PID"
wait_log "reload: 0 added, 0 changed, 0 removed, 3 broken, 2 unchanged" 5; ok "SIGHUP with nothing changed: 2 unchanged"

# SIGTERM while a long run goes: stopped per its stop: (SIGTERM, grace), manager exits 0.
rm "$SVC/added.yaml" "$SVC/broken2.yaml" "$SVC/zz-tick.yaml" "$SVC/broken.yaml"
svc long "command: [sleep, '$LONG']" "schedule: {every: 1s}" "stop: {grace: 3s}"
kill -HUP "$UP_PID"
wait_log "long: firing" 5; ok "the long service started"
sleep 0.5
down; is "$?" 0 "SIGTERM with a run going: the manager exits 0"
grep -q "long native status=143 reason=cancelled" "$TMPD/up.log"; ok "the long run was cancelled by SIGTERM"
no_cgroup_left long "manager stopped"
no_process_left "$LONG_RE" "manager stopped"

# sd_notify: READY=1 on a datagram socket named by NOTIFY_SOCKET.
python3 - "$TMPD/notify.sock" >"$TMPD/notify.out" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); s.settimeout(20)
print(s.recv(4096).decode(), flush=True)
PY
NPID=$!
for _ in $(seq 50); do [ -S "$TMPD/notify.sock" ] && break; sleep 0.1; done
NOTIFY_SOCKET=$TMPD/notify.sock up
wait "$NPID"
is "$(cat "$TMPD/notify.out")" "READY=1" "sd_notify: READY=1 once the services are loaded"
down; is "$?" 0 "and SIGTERM: exit 0"

# A symbolic link planted at the lock: refused, and its target untouched.
mkdir -p "$TMPD/st2" && chmod 700 "$TMPD/st2"
echo keep >"$TMPD/target"
ln -s "$TMPD/target" "$TMPD/st2/manager.lock"
"$TFRUN" up "$SVC" --state-dir "$TMPD/st2" --socket "$TMPD/sock2/s.sock" 2>"$TMPD/err"; is "$?" 125 "a planted lock symlink: 125"
is "$(cat "$TMPD/err")" "tfrun: up: $TMPD/st2/manager.lock is a symbolic link: refusing to follow it (someone planted it there?); remove it" \
        "a planted lock symlink: message"
is "$(cat "$TMPD/target")" keep "a planted lock symlink: its target untouched"

# Bad invocations.
"$TFRUN" up "$TMPD/nonexistent" --state-dir "$ST" 2>"$TMPD/err"; is "$?" 125 "up: a missing directory: 125"
is "$(cat "$TMPD/err")" "tfrun: up: $TMPD/nonexistent: No such file or directory" "up: a missing directory: message"
"$TFRUN" up "$SVC" --frob 2>"$TMPD/err"; is "$?" 125 "up: an unknown option: 125"
is "$(cat "$TMPD/err")" "tfrun: up: unknown option '--frob'; see \`tfrun up --help\` for the options" "up: an unknown option: message"

# A log over the cap: its head, one line saying what was left out, and its tail.
rm -f "$SVC"/*.yaml
svc big "command: [sh, -c, 'i=0; while [ \$i -lt 4000 ]; do echo line-\$i; i=\$((i+1)); done']" "schedule: {every: 1h}"
up --log-max 16K
kill -HUP "$UP_PID"
"$TFRUN" trigger big --socket "$MSOCK" >/dev/null
for _ in $(seq 100); do ls "$ST/logs/big/"*.log >/dev/null 2>&1 && grep -q "last .* bytes follow" "$ST"/logs/big/*.log && break; sleep 0.1; done
log=$(ls "$ST"/logs/big/*.log | head -1)
[ "$(stat -c %s "$log")" -le 16384 ]; ok "the log is within its cap ($(stat -c %s "$log") bytes)"
head -1 "$log" | grep -q ' stdout line-0$'; ok "its head: the first line"
tail -1 "$log" | grep -q ' stdout line-3999$'; ok "its tail: the last line"
grep -Eq ' tfrun log truncated at [0-9]+ bytes: [0-9]+ bytes \([0-9]+ lines\) left out; the last [0-9]+ bytes follow$' "$log"
ok "one line says what was left out between them"
down; is "$?" 0 "manager stopped"

# The shipped unit, as configured for this build, checked by systemd itself (ExecStart pointed at this
# build's tfrun: verify insists the binary exists).
if command -v systemd-analyze >/dev/null; then
        sed "s|^ExecStart=[^ ]*|ExecStart=$TFRUN|" "$BUILDDIR/systemd/tfrun.service" >"$TMPD/tfrun.service"
        systemd-analyze verify "$TMPD/tfrun.service" >"$TMPD/verify.out" 2>&1
        is "$?" 0 "systemd-analyze verify accepts the unit"
        [ -s "$TMPD/verify.out" ] && diag "$(cat "$TMPD/verify.out")"
        grep -qx "Type=notify" "$TMPD/tfrun.service"; ok "the unit waits for READY=1 (Type=notify)"
else
        skip "no systemd-analyze"
fi

san_check
echo "1..$TAP_N"
exit $((TAP_FAILED > 0))
