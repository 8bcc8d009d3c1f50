#!/bin/bash
# SPDX-License-Identifier: MIT
# Runs meson test suites of $BUILDDIR inside one boot of the pure cgroup v2 test VM and reports the
# guest's per-test results as TAP on the host (for meson's protocol: tap, or a person).
#
#   BUILDDIR=/path/to/build run-suite.sh SUITE...
#
# The build dir is mounted as an overlay in the guest: meson test may write its logs there, the host's
# copy is left untouched (measured: no copy at all, where copying the build dir to the guest's /tmp
# costs a 9p read of every file). Tests in the suite must already be built (--no-rebuild).
# Options for the VM come from the environment: VM_SUITE_TIMEOUT (seconds, default 840),
# VM_TIMEOUT_MULTIPLIER (meson -t in the guest, default 4), VM_PASS_ENV (more variables to pass),
# VM_SCRATCH_DISK (a size: a sparse scratch disk attached as /dev/vda), VM_RW_DIRS (host directories,
# space separated, shared writable: e.g. where GCOV_PREFIX points, so coverage data comes back).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${BUILDDIR:?BUILDDIR must point at the meson build dir}"
[ $# -gt 0 ] || { echo "usage: BUILDDIR=DIR run-suite.sh SUITE..." >&2; exit 2; }
BUILDDIR=$(realpath -e -- "$BUILDDIR") || exit 1
export BUILDDIR
export VM_PASS_ENV="BUILDDIR VM_TIMEOUT_MULTIPLIER ${VM_PASS_ENV:-}"
opts=()
[ -n "${VM_SCRATCH_DISK:-}" ] && opts+=(--scratch-disk "$VM_SCRATCH_DISK")
for d in ${VM_RW_DIRS:-}; do
        opts+=(--rw "$d")
done
exec "$here/vm-tap.sh" --timeout "${VM_SUITE_TIMEOUT:-840}" "${opts[@]}" --overlay "$BUILDDIR" \
        -- "$here/guest-suite.sh" "$@"
