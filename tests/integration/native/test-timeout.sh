#!/bin/bash
# SPDX-License-Identifier: MIT
# timeout and stop: stop signal, grace, then every process of the cgroup killed. And cleanup on every path.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
need_root

f=$(spec to-sleep "command: [$PROBE, sleep, '30']" "timeout: 1s")
"$TFRUN" --json "$f" >"$TMPD/to.json" 2>/dev/null; rc=$?
is "$rc" 124 "timeout 1s on sleep 30: exit 124"
is "$(json_get "$TMPD/to.json" reason)" "timed-out" "reason timed-out"
wall=$(json_get "$TMPD/to.json" wall_usec)
[ "$wall" -ge 900000 ] && [ "$wall" -lt 5000000 ]; ok "ended after about 1 s (${wall}us)"
no_cgroup_left to-sleep "timeout"

# A process that ignores SIGTERM and has children: killed after the grace, with all its children.
f=$(spec to-stubborn "command: [$PROBE, ignore-term, '30', '3']" "timeout: 1s" "stop: {signal: SIGTERM, grace: 1s}")
"$TFRUN" --json "$f" >"$TMPD/st.json" 2>/dev/null; rc=$?
is "$rc" 124 "stubborn: exit 124"
wall=$(json_get "$TMPD/st.json" wall_usec)
[ "$wall" -ge 1900000 ] && [ "$wall" -lt 6000000 ]; ok "stubborn: ended after timeout + grace (${wall}us)"
no_process_left "$PROBE ignore-term" "stubborn"
no_cgroup_left to-stubborn "stubborn"

# The stop signal is the spec's own.
f=$(spec to-int "command: [$PROBE, sleep, '30']" "timeout: 500ms" "stop: {signal: SIGINT, grace: 5s}")
"$TFRUN" --json "$f" >"$TMPD/si.json" 2>/dev/null
is "$(json_get "$TMPD/si.json" signal)" "SIGINT" "stop.signal SIGINT is what ended it"

# Cleanup on every path: success, failure, OOM (test-limits), timeout (above), SIGINT to tfrun.
f=$(spec cl-ok "command: [true]"); "$TFRUN" -q "$f"; no_cgroup_left cl-ok "success"
f=$(spec cl-fail "command: [$PROBE, exit, '7']"); "$TFRUN" -q "$f"; no_cgroup_left cl-fail "failure"
f=$(spec cl-int "command: [$PROBE, ignore-term, '30', '2']" "stop: {grace: 1s}")
"$TFRUN" "$f" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 50); do [ -n "$(cgroup_dirs cl-int)" ] && break; sleep 0.1; done
sleep 0.3
kill -INT $pid
wait $pid; is "$?" 130 "SIGINT to tfrun: the service dies of it (130)"
no_process_left "$PROBE ignore-term" "SIGINT"
no_cgroup_left cl-int "SIGINT"

# A second SIGINT while the service ignores the first: stop per spec, then kill; nothing left.
cat >"$TMPD/trap.sh" <<'EOS'
#!/bin/sh
trap '' INT TERM
sleep 30 &
sleep 30 &
wait
EOS
chmod +x "$TMPD/trap.sh"
f=$(spec cl-int2 "command: [$TMPD/trap.sh]" "stop: {grace: 500ms}")
"$TFRUN" "$f" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 50); do [ -n "$(cgroup_dirs cl-int2)" ] && break; sleep 0.1; done
sleep 0.3
kill -INT $pid; sleep 0.3; kill -INT $pid
wait $pid; rc=$?
is "$rc" 137 "second SIGINT: stop, grace, kill (137)"
no_cgroup_left cl-int2 "second SIGINT"

done_testing
