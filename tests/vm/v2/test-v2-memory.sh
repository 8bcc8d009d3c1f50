#!/bin/bash
# SPDX-License-Identifier: MIT
# Memory on cgroup v2: an OOM kill is known from memory.events (oom_kill), peak memory comes from
# memory.peak (present since 5.19; the guest's kernel has it), and memory.high throttles a process over
# it without killing it, while memory.events counts "high" events.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
. "$SRCDIR/tests/vm/v2/common.sh"

# What this kernel offers, read from a service's own leaf.
f=$(spec files "command: [sh, -c, 'cd /sys/fs/cgroup\$(sed -n s/^0:://p /proc/self/cgroup) && ls']" "limits: {memory: 64M, pids: 64}")
"$TFRUN" -q "$f" >"$TMPD/files" 2>&1
kver=$(uname -r)
for file in memory.peak memory.events memory.high memory.max pids.peak cpu.stat; do
        grep -qx "$file" "$TMPD/files"; ok "the service's leaf has $file (kernel $kver)"
done

# OOM: the main process is SIGKILLed by the kernel and memory.events says oom_kill.
f=$(spec oom "command: [$PROBE, alloc, '200']" "limits: {memory: 32M}")
"$TFRUN" --json "$f" >"$TMPD/oom.json" 2>"$TMPD/oom.err"; rc=$?
is "$rc" 137 "alloc 200M under memory 32M: exit 137"
is "$(json_get "$TMPD/oom.json" reason)" oom-killed "reason oom-killed"
peak=$(json_get "$TMPD/oom.json" memory_peak_bytes)
[ "$peak" -gt $((24 << 20)) ] && [ "$peak" -le $((32 << 20)) ]; ok "peak memory is the limit reached: 24M < $peak <= 32M"
is "$(tfrun_cg_left)" "" "no cgroup left after the OOM"

# A SIGKILL that is not the OOM killer's is not reported as OOM: the reason comes from memory.events.
f=$(spec selfkill "command: [$PROBE, kill-self, '9']" "limits: {memory: 32M}")
"$TFRUN" --json "$f" >"$TMPD/sk.json" 2>/dev/null; rc=$?
is "$rc" 137 "SIGKILL by itself: exit 137"
is "$(json_get "$TMPD/sk.json" reason)" signaled "... and reason signaled, not oom-killed"

# The kernel's own numbers, read from inside: memory.events oom_kill and memory.peak of the leaf, while a
# child of the service is OOM-killed and the service goes on.
cat >"$TMPD/inner-oom.sh" <<EOS
#!/bin/sh
d=/sys/fs/cgroup\$(sed -n 's/^0:://p' /proc/self/cgroup)
$PROBE alloc 200
echo "child=\$?"
grep oom_kill \$d/memory.events
echo "peak \$(cat \$d/memory.peak)"
EOS
chmod +x "$TMPD/inner-oom.sh"
f=$(spec inner "command: [$TMPD/inner-oom.sh]" "limits: {memory: 32M}")
"$TFRUN" --json "$f" >"$TMPD/inner.json" 2>/dev/null
is "$(json_get "$TMPD/inner.json" status)" 0 "a service whose child was OOM-killed exits 0"
grep -qx 'child=137' "$TMPD/inner.json"; ok "its child died of SIGKILL (137)"
grep -qx 'oom_kill 1' "$TMPD/inner.json"; ok "memory.events of the leaf says oom_kill 1"
kpeak=$(sed -n 's/^peak //p' "$TMPD/inner.json")
tpeak=$(json_get "$TMPD/inner.json" memory_peak_bytes)
[ -n "$kpeak" ] && [ "$tpeak" -ge "$kpeak" ] && [ "$tpeak" -le $((32 << 20)) ]
ok "tfrun's peak ($tpeak) is memory.peak as the service last saw it ($kpeak) or later"
diag "$(grep -v '^{' "$TMPD/inner.json")"

# Peak under the limit: 20M allocated, reported between 20M and the limit.
f=$(spec peak "command: [$PROBE, alloc, '20']" "limits: {memory: 64M}")
"$TFRUN" --json "$f" >"$TMPD/peak.json"
peak=$(json_get "$TMPD/peak.json" memory_peak_bytes)
[ "$peak" -ge $((20 << 20)) ] && [ "$peak" -le $((64 << 20)) ]; ok "alloc 20M: peak $peak between 20M and 64M"

# memory_high: 36M allocated and held over a 32M memory.high, no memory.max, no swap in the guest. The
# kernel throttles (reclaim, then penalty sleeps) instead of killing.
cat >"$TMPD/high.sh" <<EOS
#!/bin/sh
d=/sys/fs/cgroup\$(sed -n 's/^0:://p' /proc/self/cgroup)
echo "max \$(cat \$d/memory.max)"
echo "high \$(cat \$d/memory.high)"
$PROBE alloc 36
echo "probe=\$?"
grep '^high ' \$d/memory.events | sed 's/^/events /'
EOS
chmod +x "$TMPD/high.sh"
f=$(spec free "command: [$PROBE, alloc, '36']")
"$TFRUN" --json "$f" >"$TMPD/free.json" 2>/dev/null
free_wall=$(json_get "$TMPD/free.json" wall_usec)
f=$(spec high "command: [$TMPD/high.sh]" "limits: {memory_high: 32M}" "timeout: 5m")
"$TFRUN" --json "$f" >"$TMPD/high.json" 2>"$TMPD/high.err"; rc=$?
diag "$(grep -v '^{' "$TMPD/high.json")"
is "$rc" 0 "alloc 36M over memory_high 32M: not killed, exit 0"
grep -qx 'probe=0' "$TMPD/high.json"; ok "the allocation completed"
grep -qx "high $((32 << 20))" "$TMPD/high.json"; ok "memory.high reads 32M inside"
grep -qx 'max max' "$TMPD/high.json"; ok "memory.max stays max: only the throttle is set"
events=$(sed -n 's/^events high //p' "$TMPD/high.json")
[ -n "$events" ] && [ "$events" -gt 0 ]; ok "memory.events counts high events ($events)"
high_wall=$(json_get "$TMPD/high.json" wall_usec)
r=$(ratio "$high_wall" "$free_wall")
diag "wall: ${free_wall}us without the limit, ${high_wall}us over memory.high (x$r)"
[ "$high_wall" -gt 2000000 ] && float_between "$r" 5 100000; ok "throttled: over 2 s and at least 5x slower than without (x$r)"
is "$(json_get "$TMPD/high.json" reason)" exited "reason exited (not oom-killed)"

done_testing
