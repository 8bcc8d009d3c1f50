#!/bin/bash
# SPDX-License-Identifier: MIT
# Limits on this host's real cgroups, each proven by watching it bite.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
need_root

# Effective values, read from inside the child.
f=$(spec eff "command: [$PROBE, limits]" "limits: {memory: 64M, pids: 20, cpus: 0.5, cpuset: '0'}")
out=$("$TFRUN" -q "$f")
echo "$out" | grep -qx 'memory=67108864'; ok "memory 64M reads 67108864 inside"
echo "$out" | grep -qx 'pids=20'; ok "pids 20 reads 20 inside"
echo "$out" | grep -qx 'cpu_quota=50000' && echo "$out" | grep -qx 'cpu_period=100000'; ok "cpus 0.5 reads 50000/100000 inside"
echo "$out" | grep -qx 'cpuset=0'; ok "cpuset 0 reads 0 inside"
diag "$out"

# Host-dependent refusals name the key's position and say what the host has; nothing is created.
f=$(spec cpuset-far "command: [true]" "limits: {cpuset: '0,4095'}")
"$TFRUN" "$f" 2>"$TMPD/cs.err"; is "$?" 125 "cpuset CPU 4095: refused, 125"
# The parent's file differs by hierarchy (v1 cpuset.effective_cpus, v2 cpuset.cpus.effective): take the one the
# message names and check that the CPUs it quotes are that file's and the host's.
cs_file=$(sed -n 's/.*offers CPUs [^ ]* (\([^;]*\);.*/\1/p' "$TMPD/cs.err")
case "$cs_file" in /sys/fs/cgroup/*cpus.effective|/sys/fs/cgroup/*effective_cpus) pass "cpuset CPU 4095: names the parent's file";;
        *) fail "cpuset CPU 4095: names the parent's file"; diag "$(cat "$TMPD/cs.err")";; esac
is "$(cat "$TMPD/cs.err")" "tfrun: $f:3:10: limits.cpuset: CPU 4095 of '0,4095' is not available here: the cgroup parent offers CPUs $(cat "$cs_file" 2>/dev/null) ($cs_file; online: $(cat /sys/devices/system/cpu/online)); choose CPUs among those" \
        "cpuset CPU 4095: the message names the position and the CPUs that exist"
no_cgroup_left cpuset-far "cpuset refused"
if [ -e /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
        f=$(spec memhigh "command: [true]" "limits: {memory: 64M, memory_high: 32M}")
        "$TFRUN" "$f" 2>"$TMPD/mh.err"; is "$?" 125 "memory_high on v1: refused, 125"
        is "$(cat "$TMPD/mh.err")" "tfrun: $f:3:23: limits.memory_high: cgroup v1 has no equivalent of memory.high (needs cgroup v2)" \
                "memory_high on v1: the message names the position"
        no_cgroup_left memhigh "memory_high refused"
else
        # A cgroup v2 host has memory.high: the same spec is accepted and runs (tests/vm proves it throttles).
        f=$(spec memhigh "command: [true]" "limits: {memory: 64M, memory_high: 32M}")
        "$TFRUN" -q "$f" 2>"$TMPD/mh.err"; is "$?" 0 "memory_high on v2: accepted and run"
        no_cgroup_left memhigh "memory_high on v2"
fi

# memory: 32M, allocating 200M is OOM-killed and reported as such.
f=$(spec oom "command: [$PROBE, alloc, '200']" "limits: {memory: 32M, memory_swap: 0}")
"$TFRUN" --json "$f" >"$TMPD/oom.json" 2>"$TMPD/oom.err"; rc=$?
is "$rc" 137 "OOM: exit 137"
is "$(json_get "$TMPD/oom.json" reason)" "oom-killed" "OOM: reason oom-killed"
"$TFRUN" "$f" 2>"$TMPD/oom.err" >/dev/null
grep -q 'status=137 reason=oom-killed signal=SIGKILL' "$TMPD/oom.err"; ok "OOM in the summary line"
no_cgroup_left oom "after OOM"

# A child (not the main process) OOM-killed: the main process exits 0, and the report says a process of
# the run was OOM-killed all the same.
f=$(spec child-oom "command: [/bin/sh, -c, '$PROBE alloc 200; echo child=\$?']" "limits: {memory: 32M, memory_swap: 0}")
"$TFRUN" --json "$f" >"$TMPD/coom.json" 2>/dev/null; rc=$?
is "$rc" 0 "child OOM: the main process exits 0"
grep -qx 'child=137' "$TMPD/coom.json"; ok "child OOM: the child was SIGKILLed"
is "$(json_get "$TMPD/coom.json" reason)" "exited" "child OOM: reason exited"
is "$(json_get "$TMPD/coom.json" oom_kills)" 1 "child OOM: JSON oom_kills 1"
"$TFRUN" "$f" 2>"$TMPD/coom.err" >/dev/null
grep -q 'status=0 reason=exited .* oom_kills=1' "$TMPD/coom.err"; ok "child OOM: summary says reason=exited and oom_kills=1"
diag "$(cat "$TMPD/coom.err")"
no_cgroup_left child-oom "after a child's OOM"

# Under the limit, the same program is fine and its peak is seen.
f=$(spec mem-ok "command: [$PROBE, alloc, '20']" "limits: {memory: 64M}")
"$TFRUN" --json "$f" >"$TMPD/memok.json"; is "$?" 0 "20M under 64M runs"
peak=$(json_get "$TMPD/memok.json" memory_peak_bytes)
[ "$peak" -ge $((20 << 20)) ] && [ "$peak" -le $((64 << 20)) ]; ok "peak memory between 20M and 64M ($peak)"

# pids: 16, forking 100 sleepers sees fork failures; nothing outlives the run.
f=$(spec pids "command: [$PROBE, fork, '100']" "limits: {pids: 16}")
"$TFRUN" "$f" >"$TMPD/pids.out" 2>"$TMPD/pids.err"
forked=$(sed -n 's/^forked=\([0-9]*\) failed=\([0-9]*\)$/\1/p' "$TMPD/pids.out")
failed=$(sed -n 's/^forked=\([0-9]*\) failed=\([0-9]*\)$/\2/p' "$TMPD/pids.out")
[ -n "$forked" ] && [ "$forked" -le 15 ] && [ "$failed" -ge 85 ]; ok "pids 16: at most 15 forks succeed ($forked ok, $failed failed)"
refused=$(sed -n 's/.* pids_refused=\([0-9]*\).*/\1/p' "$TMPD/pids.err")
[ -n "$refused" ] && [ "$refused" -eq "$failed" ]; ok "pids 16: summary says pids_refused=$refused, the $failed failed forks"
"$TFRUN" -q --json "$f" >"$TMPD/pids.json"
[ "$(json_get "$TMPD/pids.json" pids_refused)" -ge 85 ]; ok "pids 16: JSON pids_refused >= 85"
f=$(spec pids-ok "command: [$PROBE, fork, '3']" "limits: {pids: 16}")
"$TFRUN" --json "$f" >"$TMPD/pids-ok.json" 2>"$TMPD/pids-ok.err"
is "$(json_get "$TMPD/pids-ok.json" pids_refused)" 0 "pids 16, 3 forks: JSON pids_refused 0"
! grep -q pids_refused "$TMPD/pids-ok.err"; ok "pids 16, 3 forks: no pids_refused in the summary"
no_process_left "$PROBE fork" "pids"
no_cgroup_left pids "pids"

# cpus: 0.5, a busy loop for 2 s uses 0.5 CPU +- 20 % (usage read from the cgroup). Both loops get the
# highest cpu_weight, so that other work on a busy host (a share, not a cap) cannot starve them below what
# they would use alone: the quota is what is measured.
f=$(spec cpu "command: [$PROBE, spin, '2']" "limits: {cpus: 0.5, cpu_weight: 10000}")
"$TFRUN" --json "$f" >"$TMPD/cpu.json"
cpu=$(json_get "$TMPD/cpu.json" cpu_usec); wall=$(json_get "$TMPD/cpu.json" wall_usec)
ratio=$(python3 -c "print(round($cpu/$wall, 3))")
float_between "$ratio" 0.4 0.6; ok "cpus 0.5: used $ratio CPU over ${wall}us (0.4..0.6)"

# Without a cpus limit the same loop uses a whole CPU: the limit above is what bit.
f=$(spec cpu-free "command: [$PROBE, spin, '1']" "limits: {cpu_weight: 10000}")
"$TFRUN" --json "$f" >"$TMPD/cpu2.json"
ratio=$(python3 -c "print(round($(json_get "$TMPD/cpu2.json" cpu_usec)/$(json_get "$TMPD/cpu2.json" wall_usec), 3))")
float_between "$ratio" 0.8 1.1; ok "no cpus limit: used $ratio CPU"

done_testing
