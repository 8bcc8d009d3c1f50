#!/bin/bash
# SPDX-License-Identifier: MIT
# A workflow's top-level limits bound the whole run: its cgroup is the parent of every step's, so two steps
# that each stay under their own limit but together exceed the workflow's cannot both finish; a timeout of
# the run cancels its running steps; nothing is left behind, also after kill -9 (the next run sweeps).
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
. "$SRCDIR/tests/integration/workflow/common.sh"
need_root
D=$TMPD

# Every cgroup of workflow NAME: its own and its steps'.
wf_cgroups() { find /sys/fs/cgroup -maxdepth 10 -type d \( -name "tfrun-$1-*" -o -name "tfrun-$1.*" \) 2>/dev/null; }
no_wf_cgroup_left() {
        local left
        left=$(wf_cgroups "$1")
        if [ -z "$left" ]; then pass "$2: no cgroup left"; else fail "$2: no cgroup left"; diag "left: $left"; fi
}

# ---- the steps' cgroups sit below the workflow's, which has the top-level limits ----
f=$(wf wfwhere "limits: {memory: 96M, memory_swap: 0, pids: 50}" "steps:" \
        "  - {name: where, command: [$PROBE, cgroup], output: CG, sandbox: host}")
"$TFRUN" --json-file "$D/where.json" "$f" >"$D/where.out" 2>/dev/null; rc=$?
is "$rc" 0 "where: exit 0"
run_id=$(json_get "$D/where.json" run_id)
grep -q "memory:.*/tfrun-$run_id/tfrun-wfwhere.where-" "$D/where.out"; ok "a native step's memory cgroup is below the workflow's (tfrun-RUN_ID)"
grep -q "pids:.*/tfrun-$run_id/tfrun-wfwhere.where-" "$D/where.out"; ok "and its pids cgroup"
no_wf_cgroup_left wfwhere "where"

# ---- two parallel steps under their own limits, over the workflow's together ----
alone=$(wf wfalone "limits: {memory: 96M, memory_swap: 0}" "steps:" \
        "  - {name: x, command: [$PROBE, alloc, '60', '2000'], limits: {memory: 80M, memory_swap: 0}}")
"$TFRUN" -q "$alone" >/dev/null; is "$?" 0 "one step of 60M under its 80M and the workflow's 96M: succeeds"
f=$(wf wfmem "limits: {memory: 96M, memory_swap: 0}" "steps:" \
        "  - {name: x, command: [$PROBE, alloc, '60', '3000'], limits: {memory: 80M, memory_swap: 0}}" \
        "  - {name: y, command: [$PROBE, alloc, '60', '3000'], limits: {memory: 80M, memory_swap: 0}}")
"$TFRUN" --json-file "$D/mem.json" "$f" >/dev/null 2>"$D/mem.err"; rc=$?
s=$(steps_summary "$D/mem.json")
case "$s" in
"x=failed y=succeeded" | "x=succeeded y=failed") pass "two steps of 60M together over 96M: one failed, one succeeded ($s)" ;;
*) fail "two steps of 60M together over 96M: one failed, one succeeded"; diag "got: $s"; cat "$D/mem.err" | sed 's/^/# /' ;;
esac
victim=x; [ "$s" = "x=succeeded y=failed" ] && victim=y
is "$(step_get "$D/mem.json" $victim reason)" "oom-killed" "the failed step was OOM-killed"
is "$(step_get "$D/mem.json" $victim oom)" "true" "its step result says oom"
is "$rc" 137 "the run exits 137"
is "$(json_get "$D/mem.json" reason)" "oom-killed" "the run's reason: oom-killed"
peak=$(json_get "$D/mem.json" memory_peak_bytes)
[ "$peak" -le $((96 * 1024 * 1024)) ] && [ "$peak" -gt $((60 * 1024 * 1024)) ]; ok "the run's peak is the workflow cgroup's, within 96M ($peak)"
grep -q "tfrun: wfmem.$victim: failed status=137 reason=oom-killed" "$D/mem.err"; ok "the victim's summary line says oom-killed"
no_wf_cgroup_left wfmem "memory"

# ---- a timeout of the whole run cancels its running steps ----
f=$(wf wfto "timeout: 1s" "limits: {pids: 64}" "steps:" \
        "  - {name: s1, command: [$PROBE, sleep, '41']}" \
        "  - {name: s2, command: [$PROBE, ignore-term, '41', '2'], stop: {grace: 500ms}}" \
        "  - {name: later, depends_on: [s1], command: [touch, $D/to.later]}")
"$TFRUN" --json-file "$D/to.json" "$f" >/dev/null 2>&1; rc=$?
is "$rc" 124 "timeout: exit 124"
is "$(json_get "$D/to.json" reason)" "timed-out" "timeout: reason timed-out"
is "$(steps_summary "$D/to.json")" "s1=cancelled s2=cancelled later=cancelled" "timeout: running steps and the pending one cancelled"
is "$(step_get "$D/to.json" s1 signal)" "SIGTERM" "timeout: s1 stopped by its stop signal"
is "$(step_get "$D/to.json" s2 signal)" "SIGKILL" "timeout: s2 (ignores SIGTERM) killed after its own grace"
wall=$(json_get "$D/to.json" wall_usec)
[ "$wall" -lt 4000000 ]; ok "timeout: the run ended soon after it ($wall us)"
[ ! -e $D/to.later ]; ok "timeout: nothing started after it"
no_wf_cgroup_left wfto "timeout"
no_process_left "$PROBE sleep 41" "timeout"
no_process_left "$PROBE ignore-term 41" "timeout"

# ---- kill -9 of tfrun: the next run of the workflow sweeps its cgroup and its steps' ----
f=$(wf wfsw "limits: {pids: 64}" "steps:" "  - {name: s, command: [$PROBE, sleep, '43']}")
"$TFRUN" -q "$f" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 50); do [ -n "$(cgroup_dirs wfsw.s)" ] && break; sleep 0.1; done
kill -9 $pid; wait $pid 2>/dev/null
[ -n "$(wf_cgroups wfsw | grep -- "-$pid-")" ]; ok "kill -9: the workflow's cgroups are left"
f2=$(wf wfsw "limits: {pids: 64}" "steps:" "  - {name: s, command: ['true']}")
"$TFRUN" "$f2" >/dev/null 2>"$D/sw.err"; is "$?" 0 "the next run: exit 0"
grep -q "removed cgroup .*tfrun-wfsw-$pid-1 left by run wfsw-$pid-1" "$D/sw.err"; ok "the next run removed the workflow's cgroup and said so"
grep -q "removed cgroup .*tfrun-wfsw.s-$pid-" "$D/sw.err"; ok "and its step's cgroup below it"
no_wf_cgroup_left wfsw "sweep"
no_process_left "$PROBE sleep 43" "sweep"

echo "1..$TAP_N"
[ "$TAP_FAILED" -eq 0 ]
