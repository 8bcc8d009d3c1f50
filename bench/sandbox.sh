#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/sandbox: the cost of the native sandbox. Side by side, interleaved, in one timeit run:
#   bare          fork+exec of /bin/true
#   tfrun         tfrun -q on a spec running /bin/true, no sandbox
#   tfrun-sbx     the same with `sandbox: {network: none, private_tmp: true}` (plus the defaults: Docker's
#                 seccomp profile, Docker's capability set, no_new_privileges)
#   tfrun-nosc    the same sandbox with seccomp: unconfined (what the filter costs: compile + install)
#   bwrap         bubblewrap with the same namespaces: --unshare-net --dev-bind / / --tmpfs /tmp
# Usage: bench/sandbox.sh [BUILDDIR] [ROUNDS]    (root; installs Debian's bubblewrap when missing)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
N=${2:-200}
[ "$(id -u)" = 0 ] || { echo "sandbox: needs root (network and mount namespaces)" >&2; exit 1; }
if ! command -v bwrap >/dev/null; then
        echo "sandbox: installing bubblewrap" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null ||
                { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; }
fi
ninja -C "$B" >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'name: bench\nbackend: native\ncommand: [/bin/true]\n' >"$tmp/plain.yaml"
printf 'name: bench-sbx\nbackend: native\ncommand: [/bin/true]\nsandbox: {network: none, private_tmp: true}\n' \
        >"$tmp/sbx.yaml"
printf 'name: bench-nosc\nbackend: native\ncommand: [/bin/true]\nsandbox: {network: none, private_tmp: true, seccomp: unconfined}\n' \
        >"$tmp/nosc.yaml"
# Each variant must really be sandboxed: check once, outside the timing.
"$B/tfrun" -q "$tmp/sbx.yaml"
bwrap --unshare-net --dev-bind / / --tmpfs /tmp /bin/true

"$B/bench/timeit" "$N" \
        bare /bin/true \
        :: tfrun "$B/tfrun" -q "$tmp/plain.yaml" \
        :: tfrun-sbx "$B/tfrun" -q "$tmp/sbx.yaml" \
        :: tfrun-nosc "$B/tfrun" -q "$tmp/nosc.yaml" \
        :: bwrap bwrap --unshare-net --dev-bind / / --tmpfs /tmp /bin/true | tee "$tmp/out"

python3 - "$tmp/out" "$N" "$(bwrap --version)" <<'EOS'
import sys
r = {l.split()[0]: float(l.split()[1]) for l in open(sys.argv[1])}
b, t, s, n, w = (r[k] for k in ("bare", "tfrun", "tfrun-sbx", "tfrun-nosc", "bwrap"))
print(f"rounds={sys.argv[2]} ({sys.argv[3]}) medians: bare={b:.0f}us tfrun={t:.0f}us tfrun-sbx={s:.0f}us "
      f"tfrun-nosc={n:.0f}us bwrap={w:.0f}us")
print(f"sandbox cost over tfrun: {s-t:.0f}us, of which seccomp (profile compile + install) {s-n:.0f}us")
print(f"tfrun-sbx / bwrap: {s/w:.2f} (target < 1)   tfrun-nosc / bwrap: {n/w:.2f}   tfrun-sbx / bare: {s/b:.1f}")
EOS
