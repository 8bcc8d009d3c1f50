#!/bin/bash
# SPDX-License-Identifier: MIT
# Rootless on cgroup v2: a user given a delegated subtree (the directory and its cgroup.procs,
# cgroup.subtree_control and cgroup.threads chowned to it, as systemd's Delegate=yes does) runs a limited
# service with --cgroup-parent, or from a cgroup of its own inside the subtree; without delegation the
# refusal says what is missing, before anything is created.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
. "$SRCDIR/tests/vm/v2/common.sh"

command -v setpriv >/dev/null || skip_all "no setpriv (util-linux)"
U=4242
as_user() { setpriv --reuid=$U --regid=$U --clear-groups --inh-caps=-all -- "$@"; }
chmod 0755 "$TMPD"
is "$(as_user id -u)" $U "setpriv drops to uid $U"

f=$(spec rl "command: [$PROBE, limits]" "limits: {memory: 64M, pids: 20, cpus: 0.5}")
chmod 0644 "$f"

# No delegation at all: tfrun runs in the root cgroup, which belongs to root.
as_user "$TFRUN" -q "$f" >/dev/null 2>"$TMPD/nodeleg.err"
is "$?" 125 "uid $U without delegation: exit 125"
diag "$(cat "$TMPD/nodeleg.err")"
grep -q "cgroup parent $CG (cgroup v2) is not delegated to uid $U" "$TMPD/nodeleg.err"; ok "names the parent and the uid"
grep -q "Delegate=yes" "$TMPD/nodeleg.err" && grep -q -- "--cgroup-parent" "$TMPD/nodeleg.err"; ok "and the fix"
is "$(tfrun_cg_left)" "" "nothing was created"

# The delegated subtree.
echo "+cpu +memory +pids" >$CG/cgroup.subtree_control
D=$CG/deleg
mkdir $D
chown $U:$U $D $D/cgroup.procs $D/cgroup.subtree_control $D/cgroup.threads

# A root-owned cgroup beside it is still not the user's.
mkdir $CG/other
as_user "$TFRUN" -q --cgroup-parent /other "$f" >/dev/null 2>"$TMPD/other.err"
is "$?" 125 "--cgroup-parent of a root-owned cgroup: exit 125"
grep -q "cgroup parent $CG/other (cgroup v2) is not delegated to uid $U" "$TMPD/other.err"; ok "says it is not delegated"
rmdir $CG/other

# Delegated, but tfrun is outside the subtree: cgroup v2 forbids moving a process (clone3 into a cgroup
# included) across the boundary. Refused up front, naming the common ancestor.
as_user "$TFRUN" -q --cgroup-parent /deleg "$f" >/dev/null 2>"$TMPD/outside.err"
is "$?" 125 "tfrun outside the delegated subtree: exit 125"
diag "$(cat "$TMPD/outside.err")"
grep -q "tfrun runs in $CG, the service would go below $CG/deleg, and their common ancestor $CG has a cgroup.procs" \
        "$TMPD/outside.err"; ok "names where tfrun runs, where the service goes, and the common ancestor"
is "$(find $D -mindepth 1 -type d)" "" "nothing was created"

# Inside: root puts the user's shell in the subtree (as systemd does for a delegated unit), the user makes
# its own leaf there, moves itself into it and runs tfrun with --cgroup-parent /deleg.
sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$D" \
        setpriv --reuid=$U --regid=$U --clear-groups --inh-caps=-all -- \
        sh -c 'mkdir "$0/init" && echo $$ >"$0/init/cgroup.procs" && exec "$@"' "$D" \
        "$TFRUN" --json --cgroup-parent /deleg "$f" >"$TMPD/in.json" 2>"$TMPD/in.err"
is "$?" 0 "uid $U inside its delegated subtree runs a limited service with --cgroup-parent /deleg"
diag "$(cat "$TMPD/in.err")"
grep -qx memory=67108864 "$TMPD/in.json" && grep -qx pids=20 "$TMPD/in.json" && grep -qx cpu_quota=50000 "$TMPD/in.json"
ok "its limits hold inside the child (memory 64M, pids 20, cpus 0.5)"
is "$(stat -c %u $D/init)" $U "the user's own leaf belongs to it"
sub=$(cat $D/cgroup.subtree_control)
[[ " $sub " == *" memory "* && " $sub " == *" pids "* && " $sub " == *" cpu "* ]]; ok "the user's tfrun enabled the controllers in /deleg ($sub)"
is "$(find $D -mindepth 1 -type d -name 'tfrun-*')" "" "no service cgroup left in /deleg"

# start_in LEAF CMD...: CMD as the user, placed by root in the cgroup LEAF of the subtree.
start_in() {
        sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG$1" \
                setpriv --reuid=$U --regid=$U --clear-groups --inh-caps=-all -- "${@:2}"
}

# A limit that bites for the user too: 8 pids, 50 forks.
fp=$(spec rlpids "command: [$PROBE, fork, '50']" "limits: {pids: 8}")
chmod 0644 "$fp"
start_in /deleg/init "$TFRUN" -q --cgroup-parent /deleg "$fp" >"$TMPD/pids.out" 2>"$TMPD/pids.err"
pout=$(cat "$TMPD/pids.out")
[[ "$pout" =~ failed=(4[2-9]|50)$ ]]; ok "pids 8 bites for the user's service ($pout)"
diag "$(cat "$TMPD/pids.err")"

# Without --cgroup-parent: tfrun in the user's own leaf /deleg/init moves itself into a supervisor leaf
# it may create there, enables the controllers in /deleg/init, and the service lands beside it.
# cgroupns: host: the default cgroup namespace would show the service's own cgroup as / (checked below).
fc=$(spec rlcg "command: [$PROBE, cgroup]" "limits: {memory: 32M}" "sandbox: {cgroupns: host}")
chmod 0644 "$fc"
start_in /deleg/init "$TFRUN" -q "$fc" >"$TMPD/own.out" 2>"$TMPD/own.err"
is "$?" 0 "uid $U without --cgroup-parent, from its own leaf in the subtree"
diag "$(cat "$TMPD/own.err")"
own=$(cat "$TMPD/own.out")
[[ "$own" =~ ^0::/deleg/init/tfrun-rlcg-[0-9-]+$ ]]; ok "the service ran in /deleg/init/tfrun-rlcg-* ($own)"
is "$(stat -c %u $D/init/tfrun-supervisor 2>&1)" $U "tfrun's leaf /deleg/init/tfrun-supervisor belongs to the user"
# /deleg/init now has controllers enabled, so it may hold no process (cgroup v2's no-internal-process
# rule: writing a pid there fails with EBUSY): the runs below start from tfrun's leaf, as a user's next
# tfrun would.
L=/deleg/init/tfrun-supervisor

# The default sandbox for a non-root tfrun: its namespaces come from a user namespace of the child's own
# that maps only uid $U; the service keeps its uid, holds no capability, and sees its own cgroup as /.
# A host process of the same uid, which the service could signal if it shared the host's pid namespace
# (pid 1 would not do: inside, it is tfrun's init).
as_user sleep 300 &
host_pid=$!
fw=$(spec rlwalls "command: [$PROBE, walls]" "env: {TFPROBE_NS_pid: '$(readlink /proc/self/ns/pid)', TFPROBE_NS_cgroup: '$(readlink /proc/self/ns/cgroup)', TFPROBE_HOST_PID: '$host_pid'}")
fi_=$(spec rlids "command: [$PROBE, ids]")
fs=$(spec rlstatus "command: [$PROBE, status]")
chmod 0644 "$fw" "$fi_" "$fs"
start_in $L "$TFRUN" -q "$fw" >"$TMPD/walls.out" 2>"$TMPD/walls.err"
is "$?" 0 "uid $U, default sandbox: runs"
diag "$(cat "$TMPD/walls.err")"
grep -qx ns_pid=private "$TMPD/walls.out" && grep -qx ns_cgroup=private "$TMPD/walls.out"; ok "private pid and cgroup namespaces"
grep -qx kill_host=ESRCH "$TMPD/walls.out"; ok "a host process of uid $U is invisible (ESRCH)"
kill $host_pid
wait $host_pid 2>/dev/null
grep -qx sys=ro "$TMPD/walls.out" && grep -qx cgroup_procs=EROFS "$TMPD/walls.out"; ok "/sys and the cgroup tree read-only"
grep -qx mask_/proc/keys=empty "$TMPD/walls.out"; ok "/proc/keys masked"
start_in $L "$TFRUN" -q "$fi_" >"$TMPD/ids.out" 2>&1
is "$(cat "$TMPD/ids.out")" "uid=$U gid=$U groups=" "uid $U, default sandbox: the service keeps uid and gid $U, no groups"
start_in $L "$TFRUN" -q "$fs" >"$TMPD/st.out" 2>&1
grep -qx CapEff=0000000000000000 "$TMPD/st.out" && grep -qx NoNewPrivs=1 "$TMPD/st.out" && grep -qx Seccomp=2 "$TMPD/st.out"
ok "uid $U, default sandbox: no capability, no_new_privs, the seccomp filter"
# A kernel that allows no user namespace: refused before start, never run unconfined; `sandbox: host` runs.
old_max=$(cat /proc/sys/user/max_user_namespaces)
echo 0 >/proc/sys/user/max_user_namespaces
start_in $L "$TFRUN" -q "$fi_" >/dev/null 2>"$TMPD/nouserns.err"
is "$?" 125 "no user namespaces allowed: 125"
grep -q "sandbox: the default sandbox needs an unprivileged user namespace when tfrun is not root, and this kernel allows none (user.max_user_namespaces = 0); run tfrun as root, set user.max_user_namespaces to 1, or write \`sandbox: host\` to run unconfined" "$TMPD/nouserns.err"
ok "the message names the knob and the way out"
diag "$(cat "$TMPD/nouserns.err")"
fh=$(spec rlhost "command: [$PROBE, ids]" "sandbox: host")
chmod 0644 "$fh"
start_in $L "$TFRUN" -q "$fh" >"$TMPD/host.out" 2>&1
is "$(cat "$TMPD/host.out")" "uid=$U gid=$U groups=" "no user namespaces, sandbox: host: runs unconfined"
echo "$old_max" >/proc/sys/user/max_user_namespaces
# In a chroot the kernel creates no user namespace, not even for root (create_user_ns(): EPERM): the
# clone3 refusal says so, and nothing is left behind.
R=$TMPD/chroot
mkdir $R && mount --rbind / $R
sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG$L" chroot $R \
        setpriv --reuid=$U --regid=$U --clear-groups --inh-caps=-all -- \
        "$TFRUN" -q "$fi_" >/dev/null 2>"$TMPD/chroot.err"
is "$?" 125 "uid $U in a chroot, default sandbox: 125"
diag "$(cat "$TMPD/chroot.err")"
grep -q "sandbox: the kernel refused the user namespace the default sandbox needs when tfrun is not root (clone3: Operation not permitted): it allows none inside a chroot" "$TMPD/chroot.err"
ok "the message names the user namespace and the chroot"
is "$(tfrun_cg_left)" "" "no service cgroup left"
umount -R $R

# A root-owned cgroup inside the subtree is not the user's.
mkdir $D/rootowned
start_in $L "$TFRUN" -q --cgroup-parent /deleg/rootowned "$f" >/dev/null 2>"$TMPD/ro.err"
is "$?" 125 "a root-owned cgroup inside the subtree: exit 125"
grep -q "cgroup parent $D/rootowned (cgroup v2) is not delegated to uid $U" "$TMPD/ro.err"; ok "says it is not delegated"
diag "$(cat "$TMPD/ro.err")"
is "$(tfrun_cg_left)" "" "no service cgroup left"

done_testing
