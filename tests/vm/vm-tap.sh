#!/bin/bash
# SPDX-License-Identifier: MIT
# Host side of a VM test for meson (protocol: tap): runs a TAP-producing command in the test VM and
# guarantees a well-formed TAP result on the host, whatever happens to the VM.
#
#   vm-tap.sh [--scratch-disk SIZE] [run-in-vm.sh options] -- CMD ARGS...
#
# SKIPs (through tests/lib.sh skip_all, a failure under CI=true) when qemu or a kernel is missing.
# --scratch-disk SIZE creates a sparse raw image of SIZE (truncate syntax) and attaches it (/dev/vda).
# If the VM times out or dies before CMD prints its plan, a "not ok" line and a plan are added, with the
# console's last lines as diagnostics. Timings (boot, command, total) follow the plan as a comment.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${SRCDIR:=$(cd "$here/../.." && pwd)}"
: "${TFRUN:=${BUILDDIR:-/nonexistent}/runner/tfrun}"
export SRCDIR TFRUN
# shellcheck source=../lib.sh
. "$SRCDIR/tests/lib.sh"

[ "${TFRUN_IN_VM:-}" = 1 ] && skip_all "already inside the test VM"
reason=$("$here/run-in-vm.sh" --check 2>&1) || skip_all "no VM: $reason (run scripts/setup-vm.sh)"

opts=()
while [ $# -gt 0 ]; do
        case "$1" in
        --scratch-disk)
                truncate -s "$2" "$TMPD/scratch.img" || exit 1
                opts+=(--disk "$TMPD/scratch.img")
                shift 2
                ;;
        --) shift; break ;;
        *) opts+=("$1"); shift ;;
        esac
done

export VM_TIMINGS=$TMPD/timings
"$here/run-in-vm.sh" "${opts[@]}" -- "$@" | tee "$TMPD/out"
rc=${PIPESTATUS[0]}
tr -d '\r' <"$TMPD/out" >"$TMPD/out.clean"
if ! grep -Eq '^1\.\.[0-9]+' "$TMPD/out.clean"; then
        n=$(grep -Ec '^(not )?ok [0-9]+' "$TMPD/out.clean")
        n=$((n + 1))
        case "$rc" in
        124) why="the VM timed out" ;;
        125) why="the VM harness failed" ;;
        *) why="the command exited $rc" ;;
        esac
        echo "not ok $n - VM run did not finish its TAP output: $why (details on stderr)"
        echo "1..$n"
        [ "$rc" -ne 0 ] || rc=1
fi
[ -s "$VM_TIMINGS" ] && echo "# vm: $(cat "$VM_TIMINGS")"
exit "$rc"
