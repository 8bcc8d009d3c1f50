#!/bin/bash
# SPDX-License-Identifier: MIT
# vm-v2, host side: runs the host half of v2-same-limits (the spec on this host's cgroups, output kept in
# the build dir for the guest to compare), then boots the VM once, with a scratch disk for io.max, and
# runs the 'v2' suite (tests/vm/v2/) inside it through run-suite.sh.
# Environment: BUILDDIR, TFRUN, TFPROBE (meson sets them); VM_SCRATCH_DISK (default 256M) and the other
# run-suite.sh settings.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${BUILDDIR:?BUILDDIR must point at the meson build dir}"
: "${TFRUN:=$BUILDDIR/tfrun}"
: "${TFPROBE:=$BUILDDIR/tests/tfprobe}"

# Nothing here prints: the TAP stream is the guest's. Failures land in the files the guest test reads.
H=$BUILDDIR/tests/vm/v2-host
rm -rf -- "$H"
mkdir -p -- "$H"
printf 'name: same-limits\ncommand: [%s, limits]\nlimits: {memory: 64M, pids: 20, cpus: 0.5, cpuset: "0"}\n' \
        "$TFPROBE" >"$H/same-limits.yaml"
if [ "${TFRUN_IN_VM:-}" != 1 ]; then
        # (env -u: under tests/vm/coverage-v2.sh only the guest's coverage data goes to GCOV_PREFIX.)
        env -u GCOV_PREFIX "$TFRUN" -q "$H/same-limits.yaml" >"$H/host.out" 2>"$H/host.err"
        echo $? >"$H/host.rc"
fi

export VM_SCRATCH_DISK=${VM_SCRATCH_DISK:-256M}
exec "$here/run-suite.sh" v2
