#!/bin/bash
# SPDX-License-Identifier: MIT
# The limit read-back of test-limit-parity.sh on pure cgroup v2: `tfprobe cgfiles` inside the job natively,
# on the docker backend and under plain `docker run` with the documented equivalent flags, compared field by
# field. The build machines' engines run on cgroup v1; here a dockerd of the guest's own (the host's
# binaries, data in the guest's tmpfs, vfs storage, no network) runs on the guest's v2 hierarchy.
#
# cpu_weight W: on v2 the docker backend sends the CpuShares that runc 1.1 (1 + (shares - 2) * 9999 /
# 262142) turns back into cpu.weight W, so all three read W; plain `docker run` gets that --cpu-shares.
# Allowed differences, each named in docs/spec.md ("Differences natives vs containers"):
#   io.weight, cpuset.cpus.effective
#                      present only in the container (runc enables every controller; natively tfrun
#                      enables memory, pids and what a limit needs).
# Everything else (memory.max, memory.swap.max, cpu.max, pids.max, the cgroup namespace's root, the
# open-files limit) must be equal on all three.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
. "$SRCDIR/tests/vm/v2/common.sh"

# Under TCG the first docker run of the boot maps the docker module and libcurl's dependencies from a cold
# 9p page cache inside one dispatch (2.4 s measured on a loaded host): page faults, not a blocking call, so
# the loop's watchdog gets a bound that fits the emulator.
export TFRUN_LOOP_WARN_MS=15000
DOCKERD=$(command -v dockerd || true)
DOCKER=$(command -v docker || true)
if [ -z "$DOCKERD" ] || [ -z "$DOCKER" ] || [ ! -x /bin/busybox ]; then
        skip_all "needs dockerd, docker and /bin/busybox on the host (scripts/setup-docker.sh installs them)"
fi

D=$TMPD/docker
mkdir -p "$D/data" "$D/exec"
# The engine in a cgroup of its own, as on any host (systemd's docker.service): dockerd 20.10 decides
# whether it may limit swap from its own cgroup's memory.swap.max, which the root cgroup does not have.
for c in memory pids cpu io cpuset; do echo "+$c" >"$CG/cgroup.subtree_control" 2>/dev/null; done
mkdir -p "$CG/test-dockerd"
(
        echo "$BASHPID" >"$CG/test-dockerd/cgroup.procs" &&
                exec "$DOCKERD" --iptables=false --bridge=none --ip-forward=false --ip-masq=false \
                        --data-root "$D/data" --exec-root "$D/exec" --pidfile "$D/pid" \
                        --host "unix://$D/sock" >"$D/log" 2>&1 </dev/null
) &
DPID=$!
cleanup() {
        kill "$DPID" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.2; done
        rmdir "$CG/test-dockerd" 2>/dev/null
}
trap cleanup EXIT
export DOCKER_HOST=unix://$D/sock
up=false
for _ in $(seq 240); do
        if "$DOCKER" version >/dev/null 2>&1; then up=true; break; fi
        kill -0 "$DPID" 2>/dev/null || break
        sleep 0.5
done
if ! $up; then
        fail "dockerd started in the guest"
        diag "$(tail -n 20 "$D/log")"
        done_testing
        exit 1
fi
pass "dockerd started in the guest ($("$DOCKER" version --format '{{.Server.Version}}, API {{.Server.APIVersion}}'))"
is "$("$DOCKER" info --format '{{.CgroupVersion}}')" 2 "the engine runs on cgroup v2"

IMAGE=tfrun-test/busybox:latest
R=$TMPD/rootfs
mkdir -p "$R/bin" "$R/tmp" "$R/proc" "$R/sys" "$R/dev" "$R/etc"
cp /bin/busybox "$R/bin/busybox" && ln -s busybox "$R/bin/sh"
tar -C "$R" -c . | "$DOCKER" import - "$IMAGE" >/dev/null
ok "the test image imported"

TFRUN_NOFILE=4096
field() { sed -n "s|^$2=||p" "$TMPD/$1.out"; }
# row NAME 'LIMITS' CPU_WEIGHT DOCKER-RUN-FLAGS...: LIMITS natively and on the docker backend, the flags under
# plain `docker run`; CPU_WEIGHT: the spec's cpu_weight (or -).
row() {
        local name=$1 lim=$2 cw=$3 col key a v bad
        shift 3
        printf 'name: %s\ncommand: [%s, cgfiles]\nlimits: %s\n' "$name" "$PROBE" "$lim" >"$TMPD/$name-native.yaml"
        printf 'name: %s\nimage: %s\ncommand: [%s, cgfiles]\nmounts: [{source: %s, target: %s, read_only: true}]\nsandbox: {network: none}\nlimits: %s\n' \
                "$name" "$IMAGE" "$PROBE" "$PROBE" "$PROBE" "$lim" >"$TMPD/$name-docker.yaml"
        for b in native docker; do
                (ulimit -n "$TFRUN_NOFILE" && exec "$TFRUN" -q "$TMPD/$name-$b.yaml") \
                        >"$TMPD/$name-$b.out" 2>"$TMPD/$name-$b.err"
                is "$?" 0 "$name: $b run of limits $lim exits 0"
                [ -s "$TMPD/$name-$b.err" ] && diag "$b: $(cat "$TMPD/$name-$b.err")"
        done
        "$DOCKER" run --rm --network none -v "$PROBE:$PROBE:ro" --cgroupns private \
                --security-opt no-new-privileges --security-opt "seccomp=$SRCDIR/sandbox/seccomp-default.json" \
                --ulimit "nofile=$TFRUN_NOFILE:$TFRUN_NOFILE" "$@" "$IMAGE" "$PROBE" cgfiles \
                >"$TMPD/$name-plain.out" 2>"$TMPD/$name-plain.err"
        is "$?" 0 "$name: plain docker run $* exits 0"
        [ -s "$TMPD/$name-plain.err" ] && diag "plain: $(cat "$TMPD/$name-plain.err")"
        diag "$name native: $(tr '\n' ' ' <"$TMPD/$name-native.out")"
        diag "$name plain:  $(tr '\n' ' ' <"$TMPD/$name-plain.out")"
        is "$(field "$name-native" cgroup)" v2 "$name: the native job read v2 files"
        for col in docker plain; do
                bad=
                while IFS='=' read -r key a; do
                        v=$(field "$name-$col" "$key")
                        case $key in
                        io.weight | cpuset.cpus.effective)
                                [ "$a" = absent ] || [ "$a" = "$v" ] || bad="$bad $key (native $a, $col $v)"
                                continue ;;
                        esac
                        [ "$a" = "$v" ] || bad="$bad $key (native $a, $col $v)"
                done <"$TMPD/$name-native.out"
                if [ -z "$bad" ]; then pass "$name: $col reads what the native job reads"; else
                        fail "$name: $col reads what the native job reads"
                        diag "differs:$bad"
                fi
        done
        if [ "$cw" != - ]; then
                for col in native docker plain; do
                        is "$(field "$name-$col" cpu.weight)" "$cw" "$name: $col: cpu.weight is the spec's $cw"
                done
        fi
}

M64=67108864
row mixed "{memory: 64M, pids: 20, cpus: 0.5}" - -m 64M --pids-limit 20 --cpus 0.5
is "$(field mixed-native memory.swap.max)" $M64 "mixed: memory 64M alone allows as much again of swap"
row memsw0 "{memory: 64M, memory_swap: 0}" - -m 64M --memory-swap 64M
is "$(field memsw0-native memory.swap.max)" 0 "memsw0: memory_swap 0 allows no swap"
# 5220: the smallest shares runc 1.1 turns into cpu.weight 200 (tf_cpu_weight_to_runc_v2_shares()).
row cpuw "{cpu_weight: 200}" 200 --cpu-shares 5220

# The manager's budget on v2: a container's cgroup lands below the budget's cgroup (HostConfig.CgroupParent,
# the engine's cgroupfs driver, which the docker backend asks GET /info for), with its own limit.
mkdir -p "$TMPD/svc"
printf 'budget: {memory: 256M, pids: 200}\n' >"$TMPD/set.yaml"
printf 'name: boxed\nimage: %s\ncommand: [%s, alloc, "1", "6000"]\nmounts: [{source: %s, target: %s, read_only: true}]\nlimits: {memory: 32M}\nsandbox: {network: none}\n' \
        "$IMAGE" "$PROBE" "$PROBE" "$PROBE" >"$TMPD/svc/boxed.yaml"
"$TFRUN" up "$TMPD/svc" --config "$TMPD/set.yaml" --state-dir "$TMPD/mst" --socket "$TMPD/m.sock" >"$TMPD/up.log" 2>&1 &
MPID=$!
for _ in $(seq 200); do grep -q "managing [0-9]* service" "$TMPD/up.log" && break; sleep 0.1; done
B=$(sed -n 's/^tfrun: budget: \(\/[^ ]*\) (every run.*/\1/p' "$TMPD/up.log")
[ -n "$B" ] && [ -d "$B" ]; ok "the manager's budget cgroup: ${B:-none} ($(grep -c . "$TMPD/up.log") lines of log)"
"$TFRUN" trigger boxed --socket "$TMPD/m.sock" >/dev/null
cdir=
for _ in $(seq 600); do
        cdir=$(find "$B" -mindepth 1 -maxdepth 1 -type d -regextype posix-extended -regex '.*/[0-9a-f]{64}' 2>/dev/null | head -1)
        [ -n "$cdir" ] && break
        sleep 0.1
done
[ -n "$cdir" ]; ok "a container's cgroup is below the budget: ${cdir:-none}"
# runc makes the directory, then writes the limits: the container's process is in it once they are set.
# (cgroupfs files have no size: read them.)
for _ in $(seq 300); do
        p=
        read -r p <"$cdir/cgroup.procs" 2>/dev/null
        [ -n "$p" ] && break
        sleep 0.1
done
diag "the container's cgroup: controllers $(cat "$cdir/cgroup.controllers" 2>&1), pid ${p:-none}"
is "$(cat "$cdir/memory.max" 2>/dev/null)" $((32 << 20)) "with the container's own memory.max"
is "$(cat "$B/memory.max")" $((256 << 20)) "below the budget's memory.max"
for _ in $(seq 300); do [ -d "$cdir" ] || break; sleep 0.1; done
st=$("$TFRUN" history boxed --json --socket "$TMPD/m.sock" 2>/dev/null | python3 -c 'import json,sys; r=json.load(sys.stdin)["runs"]; print(r[0]["status"] if r else "")')
for _ in $(seq 300); do [ "$st" = running ] || break; sleep 0.2
        st=$("$TFRUN" history boxed --json --socket "$TMPD/m.sock" 2>/dev/null | python3 -c 'import json,sys; r=json.load(sys.stdin)["runs"]; print(r[0]["status"] if r else "")')
done
is "$st" success "the container under the budget ran to success"
grep -q "cgroup driver" "$TMPD/up.log"; is "$?" 1 "the guest's engine (cgroupfs driver) is accepted"
kill -TERM "$MPID"
wait "$MPID"
is "$?" 0 "the manager stops"
[ ! -e "$B" ]; ok "the budget cgroup is removed at exit"
diag "$(grep -v '^tfrun: boxed' "$TMPD/up.log" | tail -5)"

is "$("$DOCKER" ps -aq --filter label=tfrun.service | wc -l)" 0 "no container left"
is "$(tfrun_cg_left)" "" "no tfrun cgroup left"

done_testing
