#!/bin/bash
# SPDX-License-Identifier: MIT
# Every example in examples/ validates, and each runs as documented.
. "$SRCDIR/tests/lib.sh"
need_root
E=$SRCDIR/examples
for f in "$E"/*.yaml; do
        "$TFRUN" validate "$f" >/dev/null; ok "$(basename "$f") validates"
done
out=$("$TFRUN" "$E/hello.yaml" 2>"$TMPD/err"); is "$?" 0 "hello.yaml runs"
is "$out" "hello from a cgroup of 67108864 bytes" "hello.yaml reads its own memory limit at its cgroup namespace's root"
out=$("$TFRUN" "$E/sandboxed.yaml" 2>/dev/null); is "$?" 0 "sandboxed.yaml runs"
is "$out" "capabilities: CapEff:	0000000000000000
0
pid 1: tfrun-init" "sandboxed.yaml: no capabilities, empty private /tmp, tfrun's init as pid 1"
out=$("$TFRUN" next -n 3 "$E/nightly.yaml"); is "$(echo "$out" | wc -l)" 3 "nightly.yaml: tfrun next lists 3 fire times"
echo "$out" | grep -qv '^Sat\|^Sun'; ok "nightly.yaml fires on weekdays"
out=$("$TFRUN" run --now "$E/nightly.yaml" 2>/dev/null); is "$?" 0 "nightly.yaml runs once with --now"
out=$("$TFRUN" -q "$E/workflow.yaml" 2>/dev/null); is "$?" 0 "workflow.yaml runs"
n=$(ls / | wc -l)
is "$(echo "$out" | tail -2)" "$n entries in / in $(date -u +%Y)
report: succeeded" "workflow.yaml: summary gets both outputs, on_exit the status"
if bash "$SRCDIR/scripts/setup-docker.sh" >"$TMPD/setup.log" 2>&1; then
        out=$("$TFRUN" "$E/container.yaml" 2>/dev/null); is "$?" 0 "container.yaml runs"
        is "$out" "hello from a container: 67108864" "container.yaml sees its 64M limit"
else
        skip "container.yaml: no dockerd ($(tail -1 "$TMPD/setup.log"))"
fi
done_testing
