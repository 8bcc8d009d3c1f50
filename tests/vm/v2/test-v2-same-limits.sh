#!/bin/bash
# SPDX-License-Identifier: MIT
# The same spec on the host (cgroup v1/hybrid) and here (pure cgroup v2) gives the same effective limits,
# read from inside the child with `tfprobe limits` on both sides. tests/vm/v2.sh ran the host side before
# booting the VM and left its spec and output in $BUILDDIR/tests/vm/v2-host/ (the guest sees the build dir).
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
. "$SRCDIR/tests/vm/v2/common.sh"

H=$BUILDDIR/tests/vm/v2-host
if [ ! -s "$H/same-limits.yaml" ] || [ ! -f "$H/host.out" ]; then
        fail "the host side left no result in $H (run through tests/vm/v2.sh)"
        done_testing
        exit 1
fi
diag "spec:" "$(cat "$H/same-limits.yaml")"
is "$(cat "$H/host.rc")" 0 "tfrun ran the spec on the host"
[ -s "$H/host.err" ] && diag "host stderr: $(cat "$H/host.err")"
is "$(sed -n 's/^cgroup=//p' "$H/host.out")" v1 "the host side read v1 files"

"$TFRUN" -q "$H/same-limits.yaml" >"$TMPD/guest.out" 2>"$TMPD/guest.err"
is "$?" 0 "tfrun ran the same spec in the VM"
is "$(sed -n 's/^cgroup=//p' "$TMPD/guest.out")" v2 "the guest side read v2 files"
diag "host:  $(grep -v '^cgroup=' "$H/host.out" | tr '\n' ' ')" "guest: $(grep -v '^cgroup=' "$TMPD/guest.out" | tr '\n' ' ')"
for key in memory pids cpu_quota cpu_period cpuset; do
        hv=$(sed -n "s/^$key=//p" "$H/host.out")
        gv=$(sed -n "s/^$key=//p" "$TMPD/guest.out")
        [ -n "$hv" ] && [ "$hv" != "?" ] && [ "$hv" = "$gv" ]; ok "$key: host v1 '$hv' = guest v2 '$gv'"
done
is "$(grep -v '^cgroup=' "$TMPD/guest.out")" "$(grep -v '^cgroup=' "$H/host.out")" "the whole effective-limit report is the same"

done_testing
