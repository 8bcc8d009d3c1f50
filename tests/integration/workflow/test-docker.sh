#!/bin/bash
# SPDX-License-Identifier: MIT
# A native step and a docker step in one DAG, outputs passed both ways; the workflow's limits over a
# container step (CgroupParent), or their clear refusal where one path cannot name the workflow's cgroup.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
. "$SRCDIR/tests/integration/docker-cli/common.sh"
. "$SRCDIR/tests/integration/workflow/common.sh"
need_root
D=$TMPD

f=$(wf wfmix "steps:" \
        "  - {name: n, command: [echo, 'native said \"hi\" \$x'], output: N}" \
        "  - name: d" \
        "    depends_on: [n]" \
        "    image: $IMAGE" \
        "    command: [sh, -c, 'echo \"docker got [\$1] as \$(id -u)\"', sh, '\${N}']" \
        "    output: DK" \
        "  - {name: m, depends_on: [d], command: [sh, -c, 'printf %s \"\$1\" >$D/mix.out', sh, '\${DK}']}")
"$TFRUN" --json-file "$D/mix.json" "$f" >/dev/null 2>"$D/mix.err"; rc=$?
is "$rc" 0 "native + docker: exit 0"
is "$(steps_summary "$D/mix.json")" "n=succeeded d=succeeded m=succeeded" "native + docker: every step succeeded"
is "$(step_get "$D/mix.json" d backend)" docker "the docker step ran on docker"
is "$(step_get "$D/mix.json" n backend)" native "the native step natively"
is "$(cat $D/mix.out)" 'docker got [native said "hi" $x] as 0' "outputs: native -> container -> native, byte-exact"
no_container_left wfmix.d "native + docker"

# A failing container step skips its dependant natively.
f=$(wf wfmixf "steps:" "  - {name: d, image: $IMAGE, command: [sh, -c, 'exit 9']}" \
        "  - {name: n, depends_on: [d], command: [touch, $D/mixf.n]}")
"$TFRUN" --json-file "$D/mixf.json" "$f" >/dev/null 2>&1; rc=$?
is "$rc" 9 "a failing container step: the run exits 9"
is "$(steps_summary "$D/mixf.json")" "d=failed n=skipped" "a failing container step: its dependant skipped"

# A timeout of the whole run stops a running container step and a native one, each per its stop:.
f=$(wf wfdto "timeout: 2s" "steps:" \
        "  - {name: d, image: $IMAGE, command: [sleep, '37'], stop: {grace: 1s}}" \
        "  - {name: n, command: [$PROBE, sleep, '37']}" \
        "  - {name: after, depends_on: [d, n], command: [touch, $D/dto.after]}")
"$TFRUN" --json-file "$D/dto.json" "$f" >/dev/null 2>&1; rc=$?
is "$rc" 124 "timeout with a container step: 124"
is "$(steps_summary "$D/dto.json")" "d=cancelled n=cancelled after=cancelled" "timeout: the container and the native step cancelled, the pending one too"
[ ! -e $D/dto.after ]; ok "timeout: nothing started after it"
no_container_left wfdto.d "timeout"
no_cgroup_left wfdto.n "timeout"
no_process_left "$PROBE sleep 37" "timeout"

# The workflow's memory limit over a container step that has none of its own: CgroupParent puts the
# container below the workflow's cgroup, so allocating past it OOM-kills the container.
common=$(awk -F: '$2 != "" && $2 !~ /^name=/ { print $3 }' /proc/self/cgroup | sort -u | wc -l)
f=$(wf wfdkl "limits: {memory: 48M, memory_swap: 0}" "steps:" \
        "  - name: d" \
        "    image: $IMAGE" \
        "    mounts: [{source: $PROBE, target: $PROBE, read_only: true}]" \
        "    command: [$PROBE, alloc, '80', '500']")
if [ "$common" -le 1 ]; then
        "$TFRUN" --json-file "$D/dkl.json" "$f" >/dev/null 2>"$D/dkl.err"; rc=$?
        is "$rc" 137 "the workflow's 48M over a container allocating 80M: 137"
        is "$(step_get "$D/dkl.json" d reason)" oom-killed "the container step was OOM-killed by the workflow's limit"
        no_container_left wfdkl.d "container under the workflow's cgroup"
        no_cgroup_left wfdkl "container under the workflow's cgroup"
else
        # tfrun's own cgroups differ between hierarchies (this host: $(cat /proc/self/cgroup | tr '\n' ' ')):
        # one CgroupParent cannot name the workflow's cgroup in all of them. Refused, never dropped.
        out=$("$TFRUN" "$f" 2>&1 >/dev/null); rc=$?
        is "$rc" 125 "own cgroups differ between hierarchies: a container step under top-level limits is refused (125)"
        case "$out" in
        *"limits: the top-level limits bound container steps through the engine's CgroupParent"*"pass an absolute --cgroup-parent"*)
                pass "the refusal says why and what to do" ;;
        *) fail "the refusal says why and what to do"; diag "got: $out" ;;
        esac
        out=$("$TFRUN" validate "$f" 2>&1 >/dev/null); rc=$?
        is "$rc" 125 "tfrun validate refuses it too"
        no_container_left wfdkl.d "refused"
fi

echo "1..$TAP_N"
[ "$TAP_FAILED" -eq 0 ]
