#!/bin/bash
# SPDX-License-Identifier: MIT
# vm-smoke, guest side (run by smoke.sh through run-in-vm.sh): proves the VM is what the VM tests need.
# A pure cgroup v2 kernel with the cpu, memory, io and pids controllers; a child cgroup whose limits
# can be written and read back; processes that can be placed in it; and the host's build dir runnable.
# Environment: BUILDDIR, SRCDIR, TFRUN (tests/lib.sh).
. "$SRCDIR/tests/lib.sh"

# What follows writes to the root of /sys/fs/cgroup: only ever in the throw-away guest.
if [ "${TFRUN_IN_VM:-}" != 1 ]; then
        echo "Bail out! guest-smoke.sh runs only inside the test VM (tests/vm/smoke.sh)"
        exit 1
fi
pass "running inside the test VM"
diag "kernel $(uname -r), $(nproc) CPUs, guest clock $(date -u '+%F %T')"
is "$(id -u)" 0 "running as root"

CG=/sys/fs/cgroup
is "$(awk '$2 == "/sys/fs/cgroup" { print $3 }' /proc/mounts)" cgroup2 "/sys/fs/cgroup is cgroup2"
is "$(awk '$3 == "cgroup" { n++ } END { print n + 0 }' /proc/mounts)" 0 "no cgroup v1 hierarchy mounted"
# cgroup_no_v1=all: even a v1 mount attempt of a controller must fail (the kernel is pure v2).
mkdir -p "$TMPD/v1"
check "cgroup v1 memory controller cannot be mounted" \
        sh -c "! mount -t cgroup -o memory none '$TMPD/v1' 2>/dev/null"
ctrl=$(cat $CG/cgroup.controllers)
diag "cgroup.controllers: $ctrl"
for c in cpu memory io pids; do
        check "root cgroup.controllers has $c" grep -qw "$c" $CG/cgroup.controllers
done
is "$(cat /proc/self/cgroup)" "0::/" "the test runs in the root cgroup of the fresh hierarchy"

child=$CG/tfrun-smoke.$$
check "create a child cgroup" mkdir "$child"
check "enable +memory +pids +cpu +io in subtree_control" \
        sh -c "echo '+memory +pids +cpu +io' > $CG/cgroup.subtree_control"
for c in cpu io memory pids; do
        check "child has controller $c" grep -qw "$c" "$child/cgroup.controllers"
done

echo 64M >"$child/memory.max"
is "$(cat "$child/memory.max")" 67108864 "memory.max 64M reads back as bytes"
echo 42 >"$child/pids.max"
is "$(cat "$child/pids.max")" 42 "pids.max reads back"
echo "50000 100000" >"$child/cpu.max"
is "$(cat "$child/cpu.max")" "50000 100000" "cpu.max reads back"
echo max >"$child/memory.swap.max" 2>/dev/null
is "$(cat "$child/memory.swap.max" 2>&1)" max "memory.swap.max exists"

if [ -b /dev/vda ]; then
        dev=$(cat /sys/block/vda/dev)
        echo "$dev wbps=1048576 riops=100" >"$child/io.max"
        is "$(cat "$child/io.max")" "$dev rbps=max wbps=1048576 riops=100 wiops=max" "io.max on /dev/vda reads back"
else
        skip "no /dev/vda: io.max needs a disk (run-in-vm.sh --disk)"
fi

# A process placed in the child is counted there, and limits bite: 42 pids allowed, so 60 forks fail.
sh -c "echo \$\$ > $child/cgroup.procs; exec sleep 30" &
pid=$!
for _ in $(seq 50); do grep -qx "$pid" "$child/cgroup.procs" && break; sleep 0.1; done
check "a process moved into the child is in its cgroup.procs" grep -qx "$pid" "$child/cgroup.procs"
check "cgroup.events says populated 1" grep -qx "populated 1" "$child/cgroup.events"
echo 1 >"$child/cgroup.kill"
wait "$pid" 2>/dev/null
for _ in $(seq 50); do grep -qx "populated 0" "$child/cgroup.events" && break; sleep 0.1; done
check "cgroup.kill empties the child" grep -qx "populated 0" "$child/cgroup.events"
echo 3 >"$child/pids.max"
sh -c "echo \$\$ > $child/cgroup.procs; for i in 1 2 3 4 5 6; do sleep 1 & done; wait" 2>"$TMPD/forks"
check "pids.max=3 makes fork fail in the child" grep -qi "fork\|resource\|again" "$TMPD/forks"
check "pids.events counts the refused forks" sh -c "awk '/^max/ { exit !(\$2 > 0) }' $child/pids.events"
echo 1 >"$child/cgroup.kill"
for _ in $(seq 50); do grep -qx "populated 0" "$child/cgroup.events" && break; sleep 0.1; done
check "remove the child cgroup" rmdir "$child"

tb=$BUILDDIR/tests/unit/base/test-base
if [ -x "$tb" ]; then
        "$tb" >"$TMPD/test-base.out" 2>&1
        is "$?" 0 "the host's build of test-base runs in the guest and passes"
        diag "$(tail -n 1 "$TMPD/test-base.out")"
else
        fail "no $tb (build it first)"
fi
check "/tmp is writable" touch /tmp/tfrun-smoke-w
check "the host root is read-only" sh -c "! touch /usr/tfrun-smoke-w 2>/dev/null"
done_testing
