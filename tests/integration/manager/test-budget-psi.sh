#!/bin/bash
# SPDX-License-Identifier: MIT
# Admission on real memory pressure (host PSI, /proc/pressure/memory): a generator thrashes the page cache
# of a small memory cgroup of the test's own (it rereads a file larger than its limit, written from inside
# it, so every read reclaims in that cgroup: memory stalls the kernel counts); once memory "some" avg10 is
# above the settings' threshold, a triggered run waits (reason pressure); after the generator stops and
# avg10 decays below the threshold, the run starts. Skipped where the host has no PSI or is already under
# memory pressure (the decay could not be told from others' load).
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
need_root
. "$SRCDIR/tests/integration/manager/common.sh"
[ -r /proc/pressure/memory ] || skip_all "no /proc/pressure/memory (PSI) on this host"
THRESHOLD=1.0
avg10() { sed -n 's/^some avg10=\([0-9.]*\) .*/\1/p' /proc/pressure/memory; }
above() { python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)" "$(avg10)" "$1"; }
above 0.3 && skip_all "the host is under memory pressure already (some avg10 $(avg10))"
OWN=/sys/fs/cgroup/memory$(sed -n 's/^[0-9]*:memory:\(.*\)/\1/p' /proc/self/cgroup)
[ -d "$OWN" ] || skip_all "no v1 memory cgroup of the test's own (pure cgroup v2: the vm suite's business)"
GEN=$OWN/tfrun-test-psi-$$
DATA=/var/tmp/tfrun-test-psi-$$.bin
GEN_PID=
stop_gen() {
        [ -n "$GEN_PID" ] && kill "$GEN_PID" 2>/dev/null && wait "$GEN_PID" 2>/dev/null
        GEN_PID=
        rm -f "$DATA"
        [ -d "$GEN" ] && rmdir "$GEN" 2>/dev/null
        return 0
}
trap 'stop_gen; cleanup_up' EXIT
jget() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1].split("."):
    d = d[int(k)] if isinstance(d, list) else d.get(k)
print("null" if d is None else d)' "$1"; }

printf 'admission:\n  memory: {some: %s}\n' "$THRESHOLD" >"$TMPD/set.yaml"
svc p "command: [sh, -c, 'date +%s%N >$TMPD/started']"
up --config "$TMPD/set.yaml"

mkdir "$GEN" && echo 32M >"$GEN/memory.limit_in_bytes"
( echo "$BASHPID" >"$GEN/cgroup.procs"; head -c 256M /dev/urandom >"$DATA"; while :; do cat "$DATA" >/dev/null; done ) &
GEN_PID=$!
wait_for "above $THRESHOLD" 60; ok "the generator raises memory some avg10 above $THRESHOLD ($(avg10))"
is "$(v trigger p --json | jget outcome)" waiting "a trigger under pressure waits"
sleep 1.5
is "$(v queue --json | jget waiting.0.reason)" pressure "tfrun queue: reason pressure"
v queue | grep -q "memory some avg10 [0-9.]* > 1.00 (/proc/pressure/memory)"; ok "and which threshold"
[ ! -e "$TMPD/started" ]; ok "nothing started under pressure"
stop_gen
stopped=$(date +%s%N)
wait_for '[ -e "$TMPD/started" ]' 90; ok "after the generator stopped, pressure fell and the run started"
t=$(cat "$TMPD/started" 2>/dev/null || echo 0)
[ "$t" -gt "$stopped" ]; ok "it started after the generator stopped ($(( (t - stopped) / 1000000 )) ms later)"
is "$(v history p --json | jget runs.0.status)" success "the run succeeded"
down
san_check
done_testing
