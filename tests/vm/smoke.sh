#!/bin/bash
# SPDX-License-Identifier: MIT
# vm-smoke, host side: boots the test VM once (with a scratch disk for io.max) and runs guest-smoke.sh.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${BUILDDIR:?BUILDDIR must point at the meson build dir}"
export VM_PASS_ENV="BUILDDIR SRCDIR TFRUN ${VM_PASS_ENV:-}"
exec "$here/vm-tap.sh" --timeout "${VM_SMOKE_TIMEOUT:-840}" --scratch-disk 64M -- "$here/guest-smoke.sh"
