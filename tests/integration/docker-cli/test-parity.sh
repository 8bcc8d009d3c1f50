#!/bin/bash
# SPDX-License-Identifier: MIT
# Capabilities and memory+swap read back from inside the job three ways for the same settings: natively,
# on the docker backend, and under plain `docker run` with the same flags (the engine's own answer). The
# probe prints /proc/self/status (CapInh CapPrm CapEff CapBnd CapAmb NoNewPrivs Seccomp) and the cgroup's
# memory and swap limits (v1: swap = memory.memsw.limit_in_bytes - memory.limit_in_bytes).
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
need_root

. "$SRCDIR/tests/integration/docker-cli/common.sh"

plain_docker_setup parity
trap 'rm -rf "$TMPD" "$PROBE_DIR"' EXIT

# plain NAME DOCKER-RUN-FLAGS... -- ARGS: the probe under plain `docker run`, output in $TMPD/NAME-plain.out.
plain() {
        local name=$1 flags=()
        shift
        while [ "$1" != -- ]; do flags+=("$1"); shift; done
        shift
        "$DOCKER" run --rm --label "$LABEL" --network none -v "$PROBE:$PROBE:ro" "${flags[@]}" "$IMAGE" \
                "$PROBE" "$@" >"$TMPD/$name-plain.out" 2>"$TMPD/$name-plain.err"
        echo $? >"$TMPD/$name-plain.rc"
}
# three NAME: runs NAME-native and NAME-docker through tfrun; each exits 0.
three() {
        local b
        for b in native docker; do
                "$TFRUN" -q "$TMPD/$1-$b.yaml" >"$TMPD/$1-$b.out" 2>"$TMPD/$1-$b.err"
                is "$?" 0 "$1: $b run exits 0"
                [ -s "$TMPD/$1-$b.err" ] && diag "$b: $(cat "$TMPD/$1-$b.err")"
        done
        is "$(cat "$TMPD/$1-plain.rc")" 0 "$1: plain docker run exits 0"
        [ -s "$TMPD/$1-plain.err" ] && diag "plain: $(cat "$TMPD/$1-plain.err")"
}
out() { tr '\n' ' ' <"$TMPD/$1.out" | sed 's/ $//'; }
# same NAME WANT DESCRIPTION: native, docker backend and plain docker run all print WANT.
same() {
        local b
        for b in native docker plain; do
                is "$(out "$1-$b")" "$2" "$3: $b"
        done
}

# tfrun's sandbox means no_new_privileges and the pinned seccomp profile on both backends; plain docker
# run gets the same two by flag.
SECOPT=(--security-opt no-new-privileges --security-opt "seccomp=$SRCDIR/sandbox/seccomp-default.json")
DEFCAPS=00000000a80425fb # Docker's default set (moby oci/caps/defaults.go)

# =========================================================================================== capabilities
pair cdef "command: [$PROBE, status]" "sandbox: {}"
plain cdef "${SECOPT[@]}" -- status
three cdef
same cdef "CapInh=0000000000000000 CapPrm=$DEFCAPS CapEff=$DEFCAPS CapBnd=$DEFCAPS CapAmb=0000000000000000 NoNewPrivs=1 Seccomp=2" \
        "sandbox {}: Docker's default capabilities, NoNewPrivs 1"

pair cnone "command: [$PROBE, status]" "sandbox: {cap_drop: [ALL]}"
plain cnone "${SECOPT[@]}" --cap-drop ALL -- status
three cnone
same cnone "CapInh=0000000000000000 CapPrm=0000000000000000 CapEff=0000000000000000 CapBnd=0000000000000000 CapAmb=0000000000000000 NoNewPrivs=1 Seccomp=2" \
        "cap_drop ALL: every set empty"

pair cnet "command: [$PROBE, status]" "sandbox: {cap_add: [NET_ADMIN]}"
plain cnet "${SECOPT[@]}" --cap-add NET_ADMIN -- status
three cnet
same cnet "CapInh=0000000000000000 CapPrm=00000000a80435fb CapEff=00000000a80435fb CapBnd=00000000a80435fb CapAmb=0000000000000000 NoNewPrivs=1 Seccomp=2" \
        "cap_add NET_ADMIN: the default set plus bit 12"

# ALL is the engine's list (Docker 20.10: CHOWN..AUDIT_READ, bits 0..37), not the kernel's (which may
# go on to PERFMON, BPF, CHECKPOINT_RESTORE), intersected with nothing: a root service must be able to
# hold every one of them.
held=$(sed -n 's/^CapBnd:\t//p' /proc/self/status)
all=$(printf '%016x' $((0x3fffffffff & 0x$held)))
if [ "$all" = 0000003fffffffff ]; then
        pair call "command: [$PROBE, status]" "sandbox: {cap_add: [ALL]}"
        plain call "${SECOPT[@]}" --cap-add ALL -- status
        three call
        same call "CapInh=0000000000000000 CapPrm=$all CapEff=$all CapBnd=$all CapAmb=0000000000000000 NoNewPrivs=1 Seccomp=2" \
                "cap_add ALL: bits 0..37, no PERFMON, BPF, CHECKPOINT_RESTORE"
else
        # This host keeps some capability from tfrun (and from dockerd): plain docker run fails in runc,
        # tfrun refuses on both backends before anything starts and names what is missing.
        pair call "command: [$PROBE, status]" "sandbox: {cap_add: [ALL]}"
        plain call "${SECOPT[@]}" --cap-add ALL -- status
        [ "$(cat "$TMPD/call-plain.rc")" != 0 ]
        ok "cap_add ALL on a host that withholds $(printf '%016x' $((0x3fffffffff & ~0x$held))): plain docker run fails"
        grep -q "unable to apply caps" "$TMPD/call-plain.err"; ok "plain docker run: runc's 'unable to apply caps'"
        for b in native docker; do
                "$TFRUN" -q "$TMPD/call-$b.yaml" >"$TMPD/call-$b.out" 2>"$TMPD/call-$b.err"
                is "$?" 125 "cap_add ALL, $b: refused, 125"
                grep -q "sandbox.cap_add: this host does not grant .* to tfrun (not in its bounding set), so a root service cannot hold" "$TMPD/call-$b.err"
                ok "cap_add ALL, $b: the message names the capability"; diag "$(cat "$TMPD/call-$b.err")"
        done
        no_cgroup_left call-native "cap_add ALL refused"
        # The way out the message gives: drop what the host withholds; then all three agree.
        missing=$(sed -n 's/.*so a root service cannot hold [a-z]*; add \(.*\) to cap_drop$/\1/p' "$TMPD/call-native.err")
        drops=$(echo "$missing" | sed 's/, /,/g')
        pair callr "command: [$PROBE, status]" "sandbox: {cap_add: [ALL], cap_drop: [$missing]}"
        plain callr "${SECOPT[@]}" --cap-add ALL $(for c in ${drops//,/ }; do echo "--cap-drop $c"; done) -- status
        three callr
        same callr "CapInh=0000000000000000 CapPrm=$all CapEff=$all CapBnd=$all CapAmb=0000000000000000 NoNewPrivs=1 Seccomp=2" \
                "cap_add ALL, cap_drop [$missing]: bits 0..37 that the host grants, no PERFMON, BPF, CHECKPOINT_RESTORE"
fi

# uid 1000 with cap_add: Docker widens only the bounding set; the process holds nothing after execve.
pair cuser "user: '1000:1000'" "command: [$PROBE, status]" "sandbox: {cap_add: [NET_BIND_SERVICE]}"
plain cuser "${SECOPT[@]}" --user 1000:1000 --cap-add NET_BIND_SERVICE -- status
three cuser
same cuser "CapInh=0000000000000000 CapPrm=0000000000000000 CapEff=0000000000000000 CapBnd=$DEFCAPS CapAmb=0000000000000000 NoNewPrivs=1 Seccomp=2" \
        "uid 1000, cap_add NET_BIND_SERVICE: only the bounding set, no ambient"
pair cuserall "user: '1000:1000'" "command: [$PROBE, status]" "sandbox: {cap_add: [ALL]}"
plain cuserall "${SECOPT[@]}" --user 1000:1000 --cap-add ALL -- status
three cuserall
same cuserall "CapInh=0000000000000000 CapPrm=0000000000000000 CapEff=0000000000000000 CapBnd=$all CapAmb=0000000000000000 NoNewPrivs=1 Seccomp=2" \
        "uid 1000, cap_add ALL: the bounding set of ALL (what the host grants), nothing held"

# The native-only difference is a spec key: cap_ambient keeps cap_add as ambient capabilities for a
# non-root user; the docker backend refuses it before creating anything.
pair camb "user: '1000:1000'" "command: [$PROBE, status]" "sandbox: {cap_add: [NET_BIND_SERVICE], cap_ambient: true}"
"$TFRUN" -q "$TMPD/camb-native.yaml" >"$TMPD/camb-native.out" 2>"$TMPD/camb-native.err"
is "$?" 0 "cap_ambient, native: runs"
is "$(out camb-native)" "CapInh=0000000000000400 CapPrm=0000000000000400 CapEff=0000000000000400 CapBnd=$DEFCAPS CapAmb=0000000000000400 NoNewPrivs=1 Seccomp=2" \
        "cap_ambient, native, uid 1000: NET_BIND_SERVICE inheritable, permitted, effective and ambient"
"$TFRUN" -q "$TMPD/camb-docker.yaml" >"$TMPD/camb-docker.out" 2>"$TMPD/camb-docker.err"
is "$?" 125 "cap_ambient, docker: refused, 125"
is "$(cat "$TMPD/camb-docker.err")" "tfrun: $TMPD/camb-docker.yaml:6:40: sandbox.cap_ambient: Docker gives a non-root user no ambient capabilities (cap_add only widens its bounding set); remove cap_ambient or use the native backend" \
        "cap_ambient, docker: the message names the key and the way out"
no_container_left camb-docker "cap_ambient refused"

# =========================================================================================== memory + swap
# limits SPEC-LIMITS DOCKER-FLAGS...: memory and swap as the probe reads them, all three alike.
n=0
swap_case() {
        local lim=$1 want=$2 desc=$3
        shift 3
        n=$((n + 1))
        pair "sw$n" "command: [$PROBE, limits]" "limits: $lim"
        plain "sw$n" "$@" -- limits
        three "sw$n"
        local b
        for b in native docker plain; do
                grep -E '^(memory|swap)=' "$TMPD/sw$n-$b.out" >"$TMPD/sw$n-$b.ms"
                is "$(tr '\n' ' ' <"$TMPD/sw$n-$b.ms" | sed 's/ $//')" "$want" "$desc: $b"
        done
}
swap_case "{memory: 64M}" "memory=67108864 swap=67108864" "memory 64M alone: swap as large as memory (Docker's default)" -m 64M
swap_case "{memory: 64M, memory_swap: max}" "memory=67108864 swap=max" "memory 64M, memory_swap max: swap unlimited" -m 64M --memory-swap -1
swap_case "{memory: 64M, memory_swap: 0}" "memory=67108864 swap=0" "memory 64M, memory_swap 0: no swap" -m 64M --memory-swap 64M
swap_case "{memory: 64M, memory_swap: 32M}" "memory=67108864 swap=33554432" "memory 64M, memory_swap 32M" -m 64M --memory-swap 96M
swap_case "{memory_swap: max}" "memory=9223372036854771712 swap=max" "memory_swap max alone: nothing limited, on docker too"
if [ -e /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes ]; then
        # The raw v1 file behind swap= for the first case: memory + swap.
        "$DOCKER" run --rm --label "$LABEL" --network none -m 64M "$IMAGE" cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes >"$TMPD/memsw.plain"
        is "$(cat "$TMPD/memsw.plain")" 134217728 "plain docker run -m 64M: memory.memsw.limit_in_bytes 128M"
        spec rawsw "backend: native" "limits: {memory: 64M}" \
                "command: [sh, -c, 'cat /sys/fs/cgroup/memory\$(sed -n \"s/^[0-9]*:memory://p\" /proc/self/cgroup)/memory.memsw.limit_in_bytes']" >/dev/null
        is "$("$TFRUN" -q "$TMPD/rawsw.yaml")" 134217728 "native, memory 64M: memory.memsw.limit_in_bytes 128M in the job's cgroup"
fi
is "$("$DOCKER" ps -aq --filter "label=$LABEL" | wc -l)" 0 "no plain container left"
no_container_left "" "parity"

done_testing
