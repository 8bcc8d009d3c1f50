#!/bin/bash
# SPDX-License-Identifier: MIT
# One budget for native runs and containers (real dockerd): with `budget:` in the settings a container is
# created below the budget's cgroup (HostConfig.CgroupParent), beside the native runs; together they hit
# the budget's memory limit: the OOM kill happens inside the budget (its memory.failcnt counts it, its peak
# never passes the cap), the manager and the host go on.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
need_root
. "$SRCDIR/tests/integration/docker-cli/common.sh"
. "$SRCDIR/tests/integration/manager/common.sh"
trap cleanup_up EXIT

jget() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1].split("."):
    d = d[int(k)] if isinstance(d, list) else d.get(k)
print("null" if d is None else d)' "$1"; }
budget_dir() { sed -n 's/^tfrun: budget: \(\/[^ ]*\) (every run.*/\1/p' "$TMPD/up.log" | tail -1; }

printf 'budget: {memory: 192M}\n' >"$TMPD/set.yaml"
# Each reserves 16M (so both are admitted) but may use up to 150M: the budget, not their limits, bites.
svc nat "command: [$PROBE, alloc, '120', '4000']" "limits: {memory: 150M, memory_swap: 0}" "requests: {memory: 16M}"
svc dock "image: $IMAGE" "mounts: [{source: $PROBE, target: $PROBE, read_only: true}]" \
        "command: [$PROBE, alloc, '120', '4000']" "limits: {memory: 150M, memory_swap: 0}" "requests: {memory: 16M}"
svc both "image: $IMAGE" "command: [sleep, '3']" "limits: {memory: 32M}"
svc nsleep "command: [sleep, '3']" "limits: {memory: 32M}"
# A workflow with top-level limits and a container step: its cgroup below the budget, the container below it.
svc wfb "limits: {memory: 64M}" "steps:" "  - {name: d, image: $IMAGE, command: [sleep, '2']}" \
        "  - {name: n, command: [sleep, '2']}"
up --config "$TMPD/set.yaml"
B=$(budget_dir)
[ -d "$B" ]; ok "the budget's cgroup: $B"

# Placement: a container and a native run below the one parent.
v trigger both >/dev/null
v trigger nsleep >/dev/null
wait_for '[ -n "$(ls -d "$B"/tfrun-nsleep-* 2>/dev/null)" ] && [ -n "$(ls "$B" | grep -E "^[0-9a-f]{64}$")" ]' 20
ok "a container's cgroup and a native run's cgroup are both below $B"
cid=$(ls "$B" | grep -E '^[0-9a-f]{64}$' | head -1)
is "$(cat "$B/$cid/memory.limit_in_bytes" 2>/dev/null)" $((32 << 20)) "the container's own limit is set, below the budget"
p=; read -r p <"$B/$cid/cgroup.procs"; [ -n "$p" ]; ok "the container's process is in it"
is "$(curl -sf --unix-socket "$SOCK" "http://localhost/containers/$cid/json" | jget HostConfig.CgroupParent)" \
        "${B#/sys/fs/cgroup/memory}" "the engine was given the budget as CgroupParent"
wait_for '[ "$(v history both --json | jget runs.0.status)" = success ] && [ "$(v history nsleep --json | jget runs.0.status)" = success ]' 20
ok "both ran to success"

# Together they pass the budget's limit (2 x 120M > 192M): an OOM kill inside the budget.
fc0=$(cat "$B/memory.failcnt")
v trigger dock >/dev/null
wait_for '[ -n "$(ls "$B" | grep -E "^[0-9a-f]{64}$")" ]' 20
v trigger nat >/dev/null
wait_for '[ "$(v history dock --json | jget runs.0.status)" != running ] && [ "$(v history nat --json | jget runs.0.status)" != running ] && [ "$(v history dock --json | jget runs.0.status)" != null ]' 30
ok "both memory-hungry runs ended"
sd=$(v history dock --json | jget runs.0.status); sn=$(v history nat --json | jget runs.0.status)
[ "$sd" != success ] || [ "$sn" != success ]; ok "at least one was killed (docker: $sd, native: $sn)"
[ "$(cat "$B/memory.failcnt")" -gt "$fc0" ]; ok "the budget's own limit was hit (memory.failcnt $fc0 -> $(cat "$B/memory.failcnt"))"
[ "$(cat "$B/memory.max_usage_in_bytes")" -le $((192 << 20)) ]; ok "the budget's peak stayed within 192M ($(cat "$B/memory.max_usage_in_bytes"))"
kill -0 "$UP_PID"; ok "the manager is still running"
v trigger wfb >/dev/null
wait_for '[ -n "$(ls "$B"/tfrun-wfb-*/ 2>/dev/null | grep -E "^[0-9a-f]{64}$")" ]' 20
ok "a workflow's container step runs below the workflow's cgroup, below the budget"
W=$(ls -d "$B"/tfrun-wfb-* | head -1)
cid=$(ls "$W" | grep -E '^[0-9a-f]{64}$' | head -1)
is "$(curl -sf --unix-socket "$SOCK" "http://localhost/containers/$cid/json" | jget HostConfig.CgroupParent)" \
        "${W#/sys/fs/cgroup/memory}" "the engine was given the workflow's cgroup as CgroupParent"
is "$(cat "$W/memory.limit_in_bytes")" $((64 << 20)) "the workflow's limit is on it"
wait_for '[ "$(v history wfb --json | jget runs.0.status)" = success ]' 20
ok "the workflow ran to success"
wait_for '[ -z "$(cgroup_dirs wfb)" ]' 10
no_cgroup_left wfb "a workflow under the budget (every hierarchy)"
v ps | grep -q "^budget: memory"; ok "ps shows the budget"
down; is "$?" 0 "the manager stops"
[ ! -e "$B" ]; ok "the budget's cgroup is removed"
no_container_left dock "after the manager"
san_check
done_testing
