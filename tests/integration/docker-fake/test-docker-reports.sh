#!/bin/bash
# SPDX-License-Identifier: MIT
# Truthful docker reports on the real dockerd: a child OOM-killed while the main process exits 0 is
# oom_kills=1 with reason exited; `exit 137` under a memory limit is not inflated by the OOM second looks;
# no dispatch blocks the loop (TFRUN_LOOP_WARN_MS=300 fatal).
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
PROBE=$TFPROBE
. "$SRCDIR/tests/integration/docker-cli/common.sh"
export TFRUN_LOOP_WARN_MS=300 TFRUN_LOOP_WARN_FATAL=1

spec choom "image: $IMAGE" "mounts: [{source: $PROBE, target: $PROBE, read_only: true}]" \
        "command: [sh, -c, '$PROBE alloc 200; exit 0']" "limits: {memory: 32M, memory_swap: 0}" >/dev/null
"$TFRUN" "$TMPD/choom.yaml" >/dev/null 2>"$TMPD/choom.err"
is "$?" 0 "child OOM: the main process's status 0"
grep -q "choom docker status=0 reason=exited .* oom_kills=1$" "$TMPD/choom.err"
ok "child OOM: reason exited, oom_kills=1 in the summary"
diag "$(tail -1 "$TMPD/choom.err")"
"$TFRUN" --json "$TMPD/choom.yaml" 2>/dev/null | tail -1 >"$TMPD/choom.json"
is "$(json_get "$TMPD/choom.json" oom_kills)" 1 "child OOM: oom_kills 1 in --json"
no_container_left choom "child OOM"

spec e137 "image: $IMAGE" "command: [sh, -c, 'exit 137']" "limits: {memory: 64M}" >/dev/null
"$TFRUN" --json "$TMPD/e137.yaml" 2>"$TMPD/e137.err" | tail -1 >"$TMPD/e137.json"
is "$?" 0 "exit 137: tfrun ran"
is "$(json_get "$TMPD/e137.json" status)" 137 "exit 137: status 137"
is "$(json_get "$TMPD/e137.json" reason)" signaled "exit 137: not an OOM kill"
wall=$(json_get "$TMPD/e137.json" wall_usec)
[ "$wall" -lt 600000 ]
ok "exit 137: wall $wall us, below 600 ms (the OOM second looks come after the exit)"
! grep -q "loop: a dispatch took" "$TMPD/e137.err" "$TMPD/choom.err"
ok "no blocking dispatch"
no_container_left e137 "exit 137"
done_testing
