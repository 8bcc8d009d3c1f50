#!/bin/bash
# SPDX-License-Identifier: MIT
# Placement on a pure cgroup v2 kernel: the child is born in its leaf (clone3 with CLONE_INTO_CGROUP, no
# attach step), tfrun leaves its own cgroup for a leaf of its own when "no internal processes" demands it,
# enables the controllers the limits need in cgroup.subtree_control, and says what to do when it cannot.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
. "$SRCDIR/tests/vm/v2/common.sh"

is "$(cg_of_pid $$)" "/" "the suite runs in the root cgroup of the guest's fresh hierarchy"

# The first thing the command does is print /proc/self/cgroup: it is already the service's leaf.
# pid: host, so that the clone3 child is the one that execs the probe; cgroupns: host, so that
# /proc/self/cgroup names the leaf (the default cgroup namespace shows it as /).
f=$(spec place "command: [$PROBE, cgroup]" "limits: {memory: 64M, pids: 32}" "sandbox: {pid: host, cgroupns: host}")
out=$("$TFRUN" -q "$f"); rc=$?
is "$rc" 0 "tfrun runs the probe"
first=$(printf '%s\n' "$out" | head -n 1)
[[ "$first" =~ ^0::/tfrun-place-[0-9]+-[0-9]+$ ]]; ok "the child's first look at /proc/self/cgroup is its leaf ($first)"
is "$(printf '%s\n' "$out" | wc -l)" 1 "one line: only the unified hierarchy exists"

# strace from the host root: clone3 carries CLONE_INTO_CGROUP and the leaf's O_PATH fd, and tfrun never
# writes a pid into a cgroup.procs (there is no attach step to race with the child).
if command -v strace >/dev/null; then
        # Every system call stops in strace: under TCG on a loaded host a dispatch of the traced tfrun
        # takes over the suite's fatal 1 s loop warning (tests/meson.build). A hang still aborts it, at
        # 10 s (here and below).
        TFRUN_LOOP_WARN_MS=10000 strace -f -qq -o "$TMPD/st" -e trace=clone3,openat,write,execve \
                "$TFRUN" -q "$f" >"$TMPD/st.out" 2>&1
        is "$?" 0 "tfrun under strace runs"
        leaf_fd=$(sed -n 's|.*openat(AT_FDCWD, "/sys/fs/cgroup/tfrun-place-[0-9-]*", [^)]*O_PATH[^)]*) = \([0-9]*\)$|\1|p' \
                "$TMPD/st" | tail -n 1)
        cl=$(grep -m1 'clone3(' "$TMPD/st")
        diag "$cl"
        [[ "$cl" == *CLONE_INTO_CGROUP* ]]; ok "clone3 asks for CLONE_INTO_CGROUP"
        [ -n "$leaf_fd" ] && [[ "$cl" == *"cgroup=$leaf_fd}"* ]]; ok "... into the leaf's O_PATH fd ($leaf_fd)"
        # The child shares tfrun's memory until its execve (CLONE_VFORK): strace then splits clone3 into
        # "clone3(... <unfinished ...>" and "<... clone3 resumed> ... = PID".
        child=$(sed -n -E 's/.*clone3(\(| resumed>).* = ([0-9]+)$/\2/p' "$TMPD/st" | head -n 1)
        [ -n "$child" ] && grep -q "^$child  *execve(\"$PROBE\"" "$TMPD/st"; ok "the child ($child) execs the probe"
        ! grep -E 'openat\([^)]*cgroup\.procs", O_WRONLY' "$TMPD/st" >/dev/null; ok "no cgroup.procs is opened for writing"
        grep -q "^0::/tfrun-place-" "$TMPD/st.out"; ok "under strace too the child starts in its leaf"
else
        skip "strace is not installed on the host (apt-get install strace)"
fi
is "$(tfrun_cg_left)" "" "no service cgroup left"

# sandbox.pid: private: one clone3 makes the child pid 1 of a new pid namespace AND places it in its leaf;
# the service (pid 2, forked by the init) is in the same leaf, and the init reaps its orphans.
f=$(spec pidns "command: [sh, -c, 'cat /proc/self/cgroup; cat /proc/1/cgroup; $PROBE orphan']" "sandbox: {pid: private, cgroupns: host}")
out=$("$TFRUN" -q "$f"); rc=$?
is "$rc" 0 "pid private: tfrun runs the service"
is "$(printf '%s\n' "$out" | sed -n 1p | sed 's/-[0-9]*-[0-9]*$//')/$(printf '%s\n' "$out" | sed -n 2p | sed 's/-[0-9]*-[0-9]*$//')" \
        "0::/tfrun-pidns/0::/tfrun-pidns" "pid private: the service and its init are both in the service's leaf"
[[ "$(printf '%s\n' "$out" | tail -n 1)" =~ ^self=[0-9]+\ zombies=0$ ]]; ok "pid private: the init reaped the orphan ($(printf '%s\n' "$out" | tail -n 1))"
if command -v strace >/dev/null; then
        TFRUN_LOOP_WARN_MS=10000 strace -f -qq -o "$TMPD/stp" -e trace=clone3 \
                "$TFRUN" -q "$f" >/dev/null 2>&1
        cl=$(grep -m1 'clone3(' "$TMPD/stp")
        diag "$cl"
        [[ "$cl" == *CLONE_NEWPID* && "$cl" == *CLONE_INTO_CGROUP* ]]; ok "clone3 asks for CLONE_NEWPID and CLONE_INTO_CGROUP together"
else
        skip "strace is not installed on the host (apt-get install strace)"
fi
is "$(tfrun_cg_left)" "" "no service cgroup left after pid private"

# Controllers for the children of a non-root cgroup demand that it holds no process ("no internal
# processes"). tfrun alone in such a cgroup moves itself into a leaf of its own, then enables what the
# limits need.
echo "+cpu +cpuset +io +memory +pids" >$CG/cgroup.subtree_control
S=$CG/svc-alone
mkdir $S
f=$(spec alone "command: [$PROBE, limits]" "limits: {memory: 48M, pids: 24, cpus: 0.5, cpuset: '0'}")
sh -c "echo \$\$ >$S/cgroup.procs && exec \"\$0\" -q \"\$1\"" "$TFRUN" "$f" >"$TMPD/alone.out" 2>"$TMPD/alone.err"
is "$?" 0 "tfrun alone in /svc-alone runs a limited service"
diag "$(cat "$TMPD/alone.err")"
grep -qx memory=50331648 "$TMPD/alone.out" && grep -qx pids=24 "$TMPD/alone.out" \
        && grep -qx cpu_quota=50000 "$TMPD/alone.out" && grep -qx cpuset=0 "$TMPD/alone.out"
ok "the limits hold inside the child"
sub=$(cat $S/cgroup.subtree_control)
for c in cpu cpuset memory pids; do
        [[ " $sub " == *" $c "* ]]; ok "tfrun enabled $c in /svc-alone's cgroup.subtree_control ($sub)"
done
[[ " $sub " != *" io "* ]]; ok "and not io, which no limit needs"
check "tfrun's own leaf is /svc-alone/tfrun-supervisor" test -d $S/tfrun-supervisor
is "$(cat $S/cgroup.procs)" "" "/svc-alone itself holds no process"
is "$(cat $S/tfrun-supervisor/cgroup.procs)" "" "the supervisor leaf is empty once tfrun exited"
is "$(tfrun_cg_left)" "" "no service cgroup left"
# /svc-alone now has controllers, so it accepts no process: a second tfrun is started in the supervisor
# leaf, and its services still go beside that leaf, not below it.
! sh -c "echo \$\$ >$S/cgroup.procs" 2>/dev/null; ok "the kernel now refuses processes in /svc-alone itself"
f2=$(spec again "command: [$PROBE, cgroup]" "limits: {memory: 48M}" "sandbox: {cgroupns: host}")
sh -c "echo \$\$ >$S/tfrun-supervisor/cgroup.procs && exec \"\$0\" -q \"\$1\"" "$TFRUN" "$f2" \
        >"$TMPD/again.out" 2>"$TMPD/again.err"
is "$?" 0 "a second tfrun started in /svc-alone/tfrun-supervisor runs"
diag "$(cat "$TMPD/again.err")"
again=$(cat "$TMPD/again.out")
[[ "$again" =~ ^0::/svc-alone/tfrun-again-[0-9-]+$ ]]; ok "its service is beside the supervisor leaf ($again)"
is "$(find $S -mindepth 1 -type d)" "$S/tfrun-supervisor" "nothing but the supervisor leaf below /svc-alone"
rmdir $S/tfrun-supervisor $S

# tfrun sharing its cgroup with another process cannot make it controller-capable: a clear refusal that
# names the other process, and no supervisor leaf made for nothing.
S=$CG/svc-shared
mkdir $S
sh -c "echo \$\$ >$S/cgroup.procs; \"\$0\" -q \"\$1\"; echo rc=\$?" "$TFRUN" "$f" >"$TMPD/shared.out" 2>"$TMPD/shared.err"
is "$(cat "$TMPD/shared.out")" "rc=125" "tfrun beside its parent shell in /svc-shared: exit 125"
diag "$(cat "$TMPD/shared.err")"
grep -q "other processes live in $S (pids [0-9]" "$TMPD/shared.err"; ok "the message names the other process"
grep -q "no internal processes\|without processes" "$TMPD/shared.err" && grep -q -- "--cgroup-parent" "$TMPD/shared.err"
ok "and says why and what to do"
check "no tfrun-supervisor made for nothing" test ! -e $S/tfrun-supervisor
rmdir $S

# A parent without the controller: the spec key, the controller and the fix are named, nothing is made.
mkdir $CG/nomem $CG/nomem/leaf
echo "+pids" >$CG/nomem/cgroup.subtree_control
f=$(spec nomem "command: [true]" "limits: {memory: 32M}")
"$TFRUN" -q --cgroup-parent /nomem/leaf "$f" 2>"$TMPD/nomem.err"
is "$?" 125 "memory limit under a parent without the memory controller: exit 125"
diag "$(cat "$TMPD/nomem.err")"
grep -q "limits.memory: the memory controller is not available in $CG/nomem/leaf" "$TMPD/nomem.err"; ok "names the key, the controller and the parent"
grep -q "Delegate=yes" "$TMPD/nomem.err"; ok "and the fix"
is "$(find $CG/nomem -mindepth 2 -type d)" "" "nothing was created"
rmdir $CG/nomem/leaf $CG/nomem

"$TFRUN" -q --cgroup-parent /does/not/exist "$f" 2>"$TMPD/nx.err"
is "$?" 125 "--cgroup-parent that does not exist: exit 125"
grep -q "cgroup parent $CG/does/not/exist (cgroup v2): create it first" "$TMPD/nx.err"; ok "says to create it first"

done_testing
