#!/bin/bash
# SPDX-License-Identifier: MIT
# The sandbox's walls read from inside the job three ways for the same settings: natively, on the docker
# backend, and under plain `docker run` with the same flags (the engine's own answer). `tfprobe walls`
# prints one key=value per fact (namespaces against the host's ids, /proc/sys, /sys, the masked and
# read-only paths, the parent cgroup's cgroup.procs, a host pid, the hostname); the three must agree
# field by field except for the differences docs/spec.md names ("Differences natives vs containers"),
# which are the only ones allowed here:
#   hostname   a container gets its own (the container id); natively the uts namespace keeps a copy of
#              the host's
#   ns_cgroup  plain `docker run` on cgroup v1 keeps the host's cgroup namespace (the engine's default
#              there); tfrun asks for a private one on both backends
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
need_root

. "$SRCDIR/tests/integration/docker-cli/common.sh"

plain_docker_setup walls
# A host process for kill(pid, 0) from inside: visible only from the host's pid namespace.
sleep 300 &
HOST_PID=$!
trap 'kill $HOST_PID 2>/dev/null; rm -rf "$TMPD" "$PROBE_DIR"' EXIT

if [ -f /sys/fs/cgroup/cgroup.controllers ]; then V1=false; else V1=true; fi

# The host's facts the probe compares with, as spec env and as `docker run -e`.
ENV_YAML="env: {TFPROBE_HOST_PID: '$HOST_PID', TFPROBE_HOSTNAME: '$(hostname)'"
ENV_FLAGS=(-e "TFPROBE_HOST_PID=$HOST_PID" -e "TFPROBE_HOSTNAME=$(hostname)")
for ns in ipc uts mnt pid cgroup; do
        id=$(readlink "/proc/self/ns/$ns")
        ENV_YAML="$ENV_YAML, TFPROBE_NS_$ns: '$id'"
        ENV_FLAGS+=(-e "TFPROBE_NS_$ns=$id")
done
ENV_YAML="$ENV_YAML}"

# plain NAME DOCKER-RUN-FLAGS...: the probe under plain `docker run`, output in $TMPD/NAME-plain.out.
plain() {
        local name=$1
        shift
        "$DOCKER" run --rm --label "$LABEL" --network none -v "$PROBE:$PROBE:ro" "${ENV_FLAGS[@]}" "$@" \
                "$IMAGE" "$PROBE" walls >"$TMPD/$name-plain.out" 2>"$TMPD/$name-plain.err"
        is "$?" 0 "$name: plain docker run exits 0"
        [ -s "$TMPD/$name-plain.err" ] && diag "plain: $(cat "$TMPD/$name-plain.err")"
}
# run_tf NAME BACKEND: NAME-BACKEND.yaml through tfrun, output in $TMPD/NAME-BACKEND.out.
run_tf() {
        "$TFRUN" -q "$TMPD/$1-$2.yaml" >"$TMPD/$1-$2.out" 2>"$TMPD/$1-$2.err"
        is "$?" 0 "$1: $2 run exits 0"
        [ -s "$TMPD/$1-$2.err" ] && diag "$2: $(cat "$TMPD/$1-$2.err")"
}
field() { sed -n "s|^$2=||p" "$TMPD/$1.out"; }

# compare NAME ALLOWED...: the docker backend and plain docker run print the same keys as the native run,
# with the same values, but for the keys in ALLOWED (each "COLUMN:KEY", COLUMN docker or plain).
compare() {
        local name=$1 col key a b bad
        shift
        for col in docker plain; do
                is "$(cut -d= -f1 "$TMPD/$name-$col.out")" "$(cut -d= -f1 "$TMPD/$name-native.out")" \
                        "$name: $col prints the native run's keys"
                bad=
                while IFS='=' read -r key a; do
                        b=$(field "$name-$col" "$key")
                        [ "$a" = "$b" ] && continue
                        case " $* " in *" $col:$key "*) continue ;; esac
                        bad="$bad $key (native $a, $col $b)"
                done <"$TMPD/$name-native.out"
                if [ -z "$bad" ]; then pass "$name: $col agrees with native but for the named differences"; else
                        fail "$name: $col agrees with native but for the named differences"
                        diag "differs:$bad"
                fi
        done
}
# want NAME KEY VALUE: the native run's KEY is VALUE (so that the walls are there, not just alike).
want() { is "$(field "$1-native" "$2")" "$3" "$1: native $2=$3"; }

# The named differences: the hostname wherever the uts namespace is private, the cgroup namespace of
# plain docker run on v1.
named() {
        local uts_private=$1 l=()
        $uts_private && l+=(docker:hostname plain:hostname)
        $V1 && l+=(plain:ns_cgroup)
        echo "${l[@]}"
}

# ================================================================================= no sandbox key: walls
pair def "command: [$PROBE, walls]" "$ENV_YAML"
run_tf def native
run_tf def docker
plain def
compare def $(named true)
for ns in ipc uts mnt pid cgroup; do want def "ns_$ns" private; done
want def proc_sys EROFS
want def sys ro
want def ro_/proc/sys ro
want def kill_host ESRCH
want def hostname same
want def cgroup_procs EROFS
for p in /proc/keys /proc/timer_list /proc/acpi /sys/firmware; do
        [ -e "$p" ] && want def "mask_$p" empty
done
is "$(field def-native sysrq)" "$([ -e /proc/sysrq-trigger ] && echo EROFS || echo absent)" \
        "def: native /proc/sysrq-trigger read-only (or absent on this kernel)"

# ====================================================================== the host's pid, ipc, uts namespaces
pair hostns "command: [$PROBE, walls]" "$ENV_YAML" "sandbox: {pid: host, ipc: host, uts: host}"
run_tf hostns native
run_tf hostns docker
plain hostns --pid host --ipc host --uts host
compare hostns $(named false)
for ns in ipc uts pid; do want hostns "ns_$ns" same; done
want hostns ns_mnt private
want hostns kill_host ok
want hostns hostname same
want hostns proc_sys EROFS

# ======================================================================= system_paths: unconfined
pair sysun "command: [$PROBE, walls]" "$ENV_YAML" "sandbox: {system_paths: unconfined}"
run_tf sysun native
run_tf sysun docker
plain sysun --security-opt systempaths=unconfined
compare sysun $(named true)
want sysun proc_sys writable
want sysun ro_/proc/sys rw
want sysun sys ro
want sysun cgroup_procs EROFS
for p in /proc/keys /proc/timer_list; do
        [ -e "$p" ] && want sysun "mask_$p" content
done

# ======================================================================= sandbox: host (native only)
spec host-native "command: [$PROBE, walls]" "$ENV_YAML" "sandbox: host" >/dev/null
run_tf host native
for ns in ipc uts mnt pid cgroup; do want host "ns_$ns" same; done
want host proc_sys writable
want host sys rw
want host kill_host ok
want host hostname same
want host cgroup_procs writable
[ -e /proc/keys ] && want host mask_/proc/keys content
spec host-docker "image: $IMAGE" "command: [$PROBE, walls]" "sandbox: host" >/dev/null
"$TFRUN" -q "$TMPD/host-docker.yaml" >/dev/null 2>"$TMPD/host-docker.err"
is "$?" 125 "sandbox: host on the docker backend: refused, 125"
grep -q "sandbox: 'host' (no sandbox) exists only with the native backend" "$TMPD/host-docker.err"
ok "sandbox: host on the docker backend: the message names the key and what to write instead"

no_cgroup_left def-native "walls"
[ -z "$("$DOCKER" ps -aq --filter "label=$LABEL")" ]; ok "no plain container left"
no_container_left def-docker "walls"
done_testing
