#!/bin/bash
# SPDX-License-Identifier: MIT
# Nothing left behind after kill -9: a native run whose tfrun (or whose whole process group) is killed with
# SIGKILL leaves grandchildren that PR_SET_PDEATHSIG does not reach, and its cgroups in every hierarchy.
# The next run of the same service kills and removes them; a live tfrun's run is never touched, nor a
# cgroup of another service, nor one that tfrun did not name. Real tfrun, real cgroups, real SIGKILL.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
need_root
export TFRUN_LOOP_WARN_MS=${TFRUN_LOOP_WARN_MS:-500} TFRUN_LOOP_WARN_FATAL=1

# Every process of a run carries this marker in its argv (unique to this test process: other test runs
# may be sweeping their own services on this machine at the same time).
M="tfsweep$$"
# Background processes get no stdout of ours (a leftover holding the TAP pipe would hold meson until its
# timeout), and whatever this test started and a failure left is killed at exit, by pid.
cleanup() {
        local p
        p=$(pgrep -f -- "$M" | tr '\n' ' ')
        [ -z "$p" ] || kill -KILL $p 2>/dev/null
        rm -rf "$TMPD"
}
trap cleanup EXIT
# job.sh MARK: a main process and two grandchildren in sessions of their own (a SIGKILL to tfrun's process
# group does not reach them), all ignoring SIGTERM, with children of their own that come and go.
cat >"$TMPD/job.sh" <<'EOF'
trap '' TERM
for i in 1 2; do
        setsid sh -c 'trap "" TERM; while :; do sleep 1; done' "$1-g$i" &
done
while :; do sleep 1; done
EOF

# job_spec NAME [LINES...]: the long job under service NAME; quick_spec NAME: `true` under the same name.
# pid: host: in the default sandbox's pid namespace nothing outlives the init, which PR_SET_PDEATHSIG
# kills with tfrun (checked last); the host's pid namespace is where leftovers exist to be swept.
job_spec() { local n=$1; shift; spec "$n" "command: [sh, $TMPD/job.sh, $M-$n]" "sandbox: {pid: host}" "$@"; }
quick_spec() {
        local f="$TMPD/$1-quick.yaml"
        printf 'name: %s\ncommand: ["true"]\n' "$1" >"$f"
        echo "$f"
}
count() { pgrep -fc -- "$1" 2>/dev/null || true; }
# wait_count N PATTERN: until at least N processes match (at most 10 s).
wait_count() {
        for _ in $(seq 100); do [ "$(count "$2")" -ge "$1" ] && return 0; sleep 0.1; done
        return 1
}
# run_dirs NAME PID: the cgroup directories of tfrun PID's runs of NAME, in any hierarchy.
run_dirs() { cgroup_dirs "$1-$2"; }
nhier() { run_dirs "$1" "$2" | wc -l; }

# Pure cgroup v2 has one hierarchy; a hybrid host has the v1 ones a run uses (memory and pids at least)
# and the v2 one.
if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then NHIER=1
elif [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then NHIER=3
else NHIER=2; fi
# left_behind NAME PID WHAT: the precondition that makes the test able to fail: the killed tfrun did
# leave its grandchildren and its cgroups.
left_behind() {
        local g n
        sleep 0.2
        g=$(count "$M-$1-g")
        n=$(nhier "$1" "$2")
        check "$3: the killed tfrun left its 2 grandchildren running (found $g)" test "$g" = 2
        check "$3: and its cgroup in every hierarchy ($n directories, $NHIER at least)" test "$n" -ge "$NHIER"
}

# swept NAME PID WHAT [ENV...]: the next run of NAME removes what tfrun PID left, and says so.
swept() {
        local name=$1 pid=$2 what=$3 q rc
        shift 3
        q=$(quick_spec "$name")
        env "$@" "$TFRUN" "$q" 2>"$TMPD/next.err"; rc=$?
        is "$rc" 0 "$what: the next run of $name succeeds"
        grep -q "^tfrun: $name: removed cgroup /sys/fs/cgroup/.*tfrun-$name-$pid-1 left by run $name-$pid-1 (its tfrun, pid $pid, is gone)$" "$TMPD/next.err"
        ok "$what: the next run logs the cgroup it removed"
        [ "$(grep -c 'removed cgroup' "$TMPD/next.err")" = 1 ]; ok "$what: one line per swept cgroup"
        grep -q warning "$TMPD/next.err" && { fail "$what: no warning"; diag "$(cat "$TMPD/next.err")"; }
        no_process_left "$M-$name" "$what"
        local left; left=$(run_dirs "$name" "$pid")
        if [ -z "$left" ]; then pass "$what: no cgroup of the killed run left in any hierarchy"; else
                fail "$what: no cgroup of the killed run left in any hierarchy"
                diag "left: $left"
        fi
        no_cgroup_left "$name" "$what (the next run's own included)"
}

# ---- one-shot: tfrun alone killed with SIGKILL
f=$(job_spec sw-one)
"$TFRUN" "$f" >/dev/null 2>&1 &
pid=$!
wait_count 2 "$M-sw-one-g"; ok "one-shot: the job and its grandchildren run"
kill -KILL "$pid"; wait "$pid" 2>/dev/null
left_behind sw-one "$pid" "one-shot, kill -9 tfrun"
swept sw-one "$pid" "one-shot, kill -9 tfrun"

# ---- one-shot: the whole process group killed (tfrun leads it; the main child shares it)
f=$(job_spec sw-pgrp)
setsid "$TFRUN" "$f" >/dev/null 2>&1 &
pid=$!
wait_count 2 "$M-sw-pgrp-g"; ok "process group: the job and its grandchildren run"
is "$(ps -o pgid= -p "$pid" | tr -d ' ')" "$pid" "process group: tfrun leads its own process group"
kill -KILL -- "-$pid"; wait "$pid" 2>/dev/null
check "process group: the main child died with the group" test "$(count "$M-sw-pgrp\$")" = 0
left_behind sw-pgrp "$pid" "kill -9 of the process group"
swept sw-pgrp "$pid" "kill -9 of the process group"

# ---- the same, swept by the freeze/kill/thaw path (kernels without cgroup.kill)
f=$(job_spec sw-nokill)
"$TFRUN" "$f" >/dev/null 2>&1 &
pid=$!
wait_count 2 "$M-sw-nokill-g"
kill -KILL "$pid"; wait "$pid" 2>/dev/null
left_behind sw-nokill "$pid" "without cgroup.kill"
swept sw-nokill "$pid" "without cgroup.kill" TFRUN_CG_NO_KILL_FILE=1

# ---- resident: a scheduled tfrun killed in the middle of a run
f=$(job_spec sw-res "schedule: {every: 1s}")
"$TFRUN" "$f" >/dev/null 2>"$TMPD/res.err" &
pid=$!
wait_count 2 "$M-sw-res-g"; ok "resident: the scheduled run and its grandchildren run"
grep -q "sw-res: firing" "$TMPD/res.err"; ok "resident: the run was a scheduled fire"
kill -KILL "$pid"; wait "$pid" 2>/dev/null
left_behind sw-res "$pid" "resident, kill -9 mid-run"
swept sw-res "$pid" "resident, kill -9 mid-run"

# ---- a live tfrun's run is not disturbed by a second tfrun's sweep (one-shot and resident)
f=$(job_spec sw-live "stop: {grace: 1s}")
"$TFRUN" "$f" >/dev/null 2>"$TMPD/live.err" &
pid=$!
wait_count 2 "$M-sw-live-g"
before=$(run_dirs sw-live "$pid" | sort)
q=$(quick_spec sw-live)
"$TFRUN" "$q" 2>"$TMPD/live2.err"; is "$?" 0 "live: a second tfrun runs the same service"
grep -q "removed cgroup" "$TMPD/live2.err" && { fail "live: the second tfrun swept nothing"; diag "$(cat "$TMPD/live2.err")"; }
check "live: the first run's job and grandchildren still run" test "$(count "$M-sw-live")" = 3
is "$(run_dirs sw-live "$pid" | sort)" "$before" "live: the first run's cgroups are all still there"
is "$(cat /proc/$pid/comm 2>/dev/null)" tfrun "live: the first tfrun still runs"
f2=$(job_spec sw-live2 "schedule: {every: 1s}" "stop: {grace: 1s}")
"$TFRUN" "$f2" >/dev/null 2>"$TMPD/live3.err" &
rpid=$!
wait_count 2 "$M-sw-live2-g"
printf 'name: sw-live2\ncommand: ["true"]\nschedule: {every: 1h}\n' >"$TMPD/sw-live2-r.yaml"
"$TFRUN" --now "$TMPD/sw-live2-r.yaml" 2>"$TMPD/live4.err"; is "$?" 0 "live resident: a second tfrun runs the same service once"
grep -q "removed cgroup" "$TMPD/live4.err" && { fail "live resident: the second tfrun swept nothing"; diag "$(cat "$TMPD/live4.err")"; }
check "live resident: its job and grandchildren still run" test "$(count "$M-sw-live2")" = 3
# Both end as they would have: a second SIGTERM stops per stop: (grace 1s, then every process).
kill -TERM "$pid"; sleep 0.2; kill -TERM "$pid"; wait "$pid"
is "$?" 137 "live: the first tfrun, stopped, reports its run (137: SIGKILL after the grace)"
kill -TERM "$rpid"; wait "$rpid"; is "$?" 0 "live resident: stopped, it exits 0"
grep -q warning "$TMPD/live.err" "$TMPD/live3.err" && { fail "live: no warning"; diag "$(cat "$TMPD/live.err" "$TMPD/live3.err")"; }
no_process_left "$M-sw-live" "live"
no_cgroup_left sw-live "live"
no_cgroup_left sw-live2 "live resident"

# ---- a live tfrun in a pid namespace of its own (a container sharing these hierarchies): its cgroups are
# named with its pid there, 1, which here is another process. Their lock on the directory keeps a sweep
# from this namespace off them.
# ns_tfrun PID: the tfrun below unshare PID (its child, or the child's child), waited for up to 5 s.
ns_tfrun() {
        local t
        for _ in $(seq 50); do
                t=$(pgrep -x tfrun -P "$1"; for c in $(pgrep -P "$1"); do pgrep -x tfrun -P "$c"; done)
                [ -n "$t" ] && { echo "$t" | head -1; return 0; }
                sleep 0.1
        done
        return 1
}
if ! command -v unshare >/dev/null; then
        skip "another pid namespace: no unshare(1)"
else
        f=$(job_spec sw-ns "stop: {grace: 1s}")
        unshare --pid --fork --mount-proc --kill-child "$TFRUN" "$f" >/dev/null 2>"$TMPD/ns.err" &
        up=$!
        wait_count 2 "$M-sw-ns-g"
        ok "pid namespace: the job and its grandchildren run" || diag "tfrun there: $(cat "$TMPD/ns.err")"
        tp=$(ns_tfrun "$up") || tp=
        is "$(awk '/^NSpid:/ { print $3 }' /proc/${tp:-0}/status 2>/dev/null)" 1 "pid namespace: tfrun is pid 1 there"
        check "pid namespace: its cgroups are named with that pid" test "$(nhier sw-ns 1)" -ge "$NHIER"
        before=$(run_dirs sw-ns 1 | sort)
        q=$(quick_spec sw-ns)
        "$TFRUN" "$q" 2>"$TMPD/ns2.err"; is "$?" 0 "pid namespace: a tfrun here runs the same service"
        grep -q "removed cgroup" "$TMPD/ns2.err" && { fail "pid namespace: the tfrun here swept nothing"; diag "$(cat "$TMPD/ns2.err")"; }
        check "pid namespace: the job and its grandchildren still run" test "$(count "$M-sw-ns")" = 3
        is "$(run_dirs sw-ns 1 | sort)" "$before" "pid namespace: its cgroups are all still there"
        # A second tfrun in a namespace of its own is pid 1 there too: its first run would have the same
        # name. It is refused and says why; the live run is not touched.
        unshare --pid --fork --mount-proc --kill-child "$TFRUN" "$q" 2>"$TMPD/ns3.err"
        is "$?" 125 "pid namespace: a second one, pid 1 in its own, running the same service: refused (125)"
        grep -q "^tfrun: create cgroup /sys/fs/cgroup/.*tfrun-sw-ns-1-1: a live tfrun holds a cgroup of that name (one whose pid in its own pid namespace is ours here); expected another name: give the two different cgroup parents (--cgroup-parent) or, for a service, another name$" "$TMPD/ns3.err"
        ok "pid namespace: ...saying why" || diag "$(cat "$TMPD/ns3.err")"
        check "pid namespace: the first one's job still runs" test "$(count "$M-sw-ns")" = 3
        if [ -n "$tp" ]; then
                kill -TERM "$tp"; sleep 0.2; kill -TERM "$tp"; wait "$up"
                is "$?" 137 "pid namespace: the tfrun there, stopped, reports its run (137: SIGKILL after the grace)"
        else
                kill -KILL "$up"; wait "$up"
                fail "pid namespace: the tfrun there, stopped, reports its run (not found)"
        fi
        no_process_left "$M-sw-ns" "pid namespace"
        no_cgroup_left sw-ns "pid namespace"
        # Its kill -9 drops the lock with the process: the next run here sweeps what it left. tfrun is pid 2
        # there, below a `sleep` as the namespace's init, so that its run's grandchildren outlive it.
        f=$(job_spec sw-ns9)
        unshare --pid --fork --mount-proc --kill-child sh -c '"$0" "$1" & exec sleep 300' "$TFRUN" "$f" \
                >/dev/null 2>&1 &
        up=$!
        wait_count 2 "$M-sw-ns9-g"
        tp=$(ns_tfrun "$up") || tp=
        is "$(awk '/^NSpid:/ { print $3 }' /proc/${tp:-0}/status 2>/dev/null)" 2 "pid namespace, kill -9: tfrun is pid 2 there"
        [ -n "$tp" ] && kill -KILL "$tp"
        left_behind sw-ns9 2 "pid namespace, kill -9 tfrun"
        q=$(quick_spec sw-ns9)
        "$TFRUN" "$q" 2>"$TMPD/ns9.err"; is "$?" 0 "pid namespace, kill -9: the next run here succeeds"
        grep -Eq "^tfrun: sw-ns9: removed cgroup /sys/fs/cgroup/.*tfrun-sw-ns9-2-1 left by run sw-ns9-2-1 \(its tfrun, pid 2, is gone(; the pid is now another process's)?\)$" "$TMPD/ns9.err"
        ok "pid namespace, kill -9: the next run here removes its cgroup" || diag "$(cat "$TMPD/ns9.err")"
        no_process_left "$M-sw-ns9" "pid namespace, kill -9 (the grandchildren killed by the sweep)"
        no_cgroup_left sw-ns9 "pid namespace, kill -9"
        kill -KILL "$up"; wait "$up" 2>/dev/null
fi

# ---- whose cgroups: made by hand in the cgroup2 hierarchy, below tfrun's own cgroup
v2mnt=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
v2own=$(sed -n 's/^0:://p' /proc/self/cgroup)
if [ -z "$v2mnt" ]; then
        skip "no cgroup2 hierarchy: the hand-made cgroups need one"
else
        base="$v2mnt${v2own%/}"
        # A cgroup named with the pid of a live tfrun that did not make it: that tfrun started after a
        # process in it (its pid was reused). And one named with a pid that is now `sleep`'s.
        sh -c 'while :; do sleep 1; done' "$M-reused" >/dev/null & rp=$!
        sh -c 'while :; do sleep 1; done' "$M-other" >/dev/null & op=$!
        sleep 0.05 # a clock tick between their start and the tfrun's below
        f=$(spec sw-idle "command: [sleep, '300']" "schedule: {every: 1h}")
        "$TFRUN" "$f" >/dev/null 2>&1 & tp=$!
        for _ in $(seq 50); do [ "$(cat /proc/$tp/comm 2>/dev/null)" = tfrun ] && break; sleep 0.1; done
        mkdir "$base/tfrun-sw-hand-$tp-1" "$base/tfrun-sw-hand-$op-7"
        echo "$rp" >"$base/tfrun-sw-hand-$tp-1/cgroup.procs"
        # Left alone: a service whose name starts with this one's (its tfrun gone too), and names tfrun
        # does not make.
        true & dead=$!; wait $dead
        mkdir "$base/tfrun-sw-hand-b-$dead-1" "$base/tfrun-sw-hand-x-1" "$base/tfrun-sw-hand-$dead"
        echo "$op" >"$base/tfrun-sw-hand-b-$dead-1/cgroup.procs"
        q=$(quick_spec sw-hand)
        "$TFRUN" "$q" 2>"$TMPD/hand.err"; is "$?" 0 "hand-made: the run succeeds"
        grep -q "^tfrun: sw-hand: removed cgroup $base/tfrun-sw-hand-$tp-1 left by run sw-hand-$tp-1 (its tfrun, pid $tp, is gone; the pid is now another process's)$" "$TMPD/hand.err"
        ok "a live tfrun that started after a process in the cgroup did not make it: swept"
        grep -q "^tfrun: sw-hand: removed cgroup $base/tfrun-sw-hand-$op-7 left by run sw-hand-$op-7 (its tfrun, pid $op, is gone; the pid is now another process's)$" "$TMPD/hand.err"
        ok "a pid that is now another program's: swept"
        check "the process in the swept cgroup was killed" test "$(count "$M-reused")" = 0
        [ -d "$base/tfrun-sw-hand-$tp-1" ] || [ -d "$base/tfrun-sw-hand-$op-7" ]
        check "both removed" test $? = 1
        check "another service's cgroup (sw-hand-b) is left alone" test -d "$base/tfrun-sw-hand-b-$dead-1"
        check "and the process in it" test "$(count "$M-other")" = 1
        check "a name tfrun does not make (no pid) is left alone" test -d "$base/tfrun-sw-hand-x-1"
        check "a name tfrun does not make (no counter) is left alone" test -d "$base/tfrun-sw-hand-$dead"
        check "the live tfrun that lent its pid still runs" test "$(cat /proc/$tp/comm 2>/dev/null)" = tfrun
        kill -TERM "$tp"; wait "$tp"
        kill "$op" "$rp" 2>/dev/null; wait "$op" "$rp" 2>/dev/null
        rmdir "$base/tfrun-sw-hand-b-$dead-1" "$base/tfrun-sw-hand-x-1" "$base/tfrun-sw-hand-$dead"
        no_cgroup_left sw-idle "the live tfrun, stopped"
fi

# ---- the default sandbox: the job's pid namespace ends with tfrun, grandchildren included; only the
# (empty) cgroups are left for the next run to remove.
f=$(spec sw-ns "command: [sh, $TMPD/job.sh, $M-sw-ns]")
"$TFRUN" "$f" >/dev/null 2>&1 &
pid=$!
wait_count 2 "$M-sw-ns-g"; ok "default sandbox: the job and its grandchildren run"
kill -KILL "$pid"; wait "$pid" 2>/dev/null
for _ in $(seq 50); do [ "$(count "$M-sw-ns")" = 0 ] && break; sleep 0.1; done
is "$(count "$M-sw-ns")" 0 "default sandbox, kill -9 tfrun: no process of the job outlives it"
swept sw-ns "$pid" "default sandbox, kill -9 tfrun"

done_testing
