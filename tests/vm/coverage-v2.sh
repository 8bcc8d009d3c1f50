#!/bin/bash
# SPDX-License-Identifier: MIT
# Line coverage of cgroup/ from the 'v2' suite on the real cgroup v2 kernel (docs/testing.md, "cgroup v2
# coverage"). Builds a gcov-instrumented tree, runs vm-v2 (host half excluded: only the guest's data
# counts), brings the guest's .gcda back through a writable 9p share and summarises with gcovr.
#
#   tests/vm/coverage-v2.sh [BUILDDIR]        default BUILDDIR: build-v2-cov next to the sources
#
# The guest's root is read-only, so gcov cannot write .gcda next to the objects: GCOV_PREFIX points the
# guest's processes at a host directory shared with run-in-vm.sh --rw (through VM_RW_DIRS).
set -euo pipefail
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
b=${1:-$src/build-v2-cov}
command -v gcovr >/dev/null || { echo "coverage-v2: gcovr is not installed (apt-get install gcovr)" >&2; exit 1; }
if [ -f "$b/build.ninja" ]; then
        meson configure "$b" -Db_coverage=true >/dev/null
else
        meson setup "$b" "$src" -Db_coverage=true >/dev/null
fi
ninja -C "$b" >/dev/null
b=$(realpath "$b")
gc=$(mktemp -d /tmp/tfrun-v2-gcda.XXXXXX)
trap 'rm -rf "$gc"' EXIT
chmod 0777 "$gc"        # the rootless tests' processes (uid 4242) write there too
find "$b" -name '*.gcda' -delete
GCOV_PREFIX=$gc VM_RW_DIRS=$gc VM_PASS_ENV=GCOV_PREFIX meson test -C "$b" --suite vm vm-v2 --print-errorlogs
# The host half of vm-v2 (one tfrun on this host's v1 cgroups) wrote next to the objects: drop it, then
# put the guest's data there.
find "$b" -name '*.gcda' -delete
[ -d "$gc/$b" ] || { echo "coverage-v2: the guest wrote no coverage data under $gc$b" >&2; exit 1; }
cp -r "$gc/$b/." "$b/"
cd "$src"
gcovr -r "$src" --filter 'cgroup/' "$b" --txt
gcovr -r "$src" --filter 'cgroup/' "$b" --html-details -o "$b/cgroup-v2-coverage.html" >/dev/null
echo "coverage-v2: details in $b/cgroup-v2-coverage.html"
