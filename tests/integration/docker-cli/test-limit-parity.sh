#!/bin/bash
# SPDX-License-Identifier: MIT
# The limit matrix read back from inside the job three ways for the same limits: natively, on the docker
# backend, and under plain `docker run` with the documented equivalent flags (docs/spec.md "Limits on
# each backend"). `tfprobe cgfiles` prints the cgroup's limit files as the job sees them, raw (v1:
# memory.limit_in_bytes, memory.memsw.limit_in_bytes, cpu.cfs_quota_us, cpu.cfs_period_us, cpu.shares,
# cpuset.cpus, pids.max, blkio.weight, blkio.bfq.weight; v2: memory.max, memory.swap.max, cpu.max,
# cpu.weight, pids.max, cpuset.cpus.effective, io.weight, io.bfq.weight), the cgroup path
# /proc/self/cgroup gives (the root: a private cgroup namespace on all three) and getrlimit(RLIMIT_NOFILE).
# The three must agree field by field, the open-files limit included: without limits.nofile a native job
# inherits tfrun's own limit and the docker backend sends that limit as the container's Ulimits (plain
# `docker run` gets the same as `--ulimit nofile=S:H`); the rows without nofile run tfrun under `ulimit -n
# 4096`, below the engine's own, so that a container left to the engine would read differently.
# Each row also checks the values it sets against what the spec means (v1 names; on v2 only the
# comparison runs).
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
need_root

. "$SRCDIR/tests/integration/docker-cli/common.sh"

plain_docker_setup limit-parity
trap 'rm -rf "$TMPD" "$PROBE_DIR"' EXIT

if [ -f /sys/fs/cgroup/cgroup.controllers ]; then V1=false; else V1=true; fi
ONLINE=$(cat /sys/devices/system/cpu/online)
# tfrun's own open-files limit in the rows that leave nofile unset: below the engine's, which a
# container would get if the backend did not send tfrun's.
TFRUN_NOFILE=4096
ENGINE_NOFILE=$("$DOCKER" run --rm --label "$LABEL" --network none "$IMAGE" sh -c 'ulimit -Sn; ulimit -Hn' |
        tr '\n' ' ')
read -r ENGINE_SOFT ENGINE_HARD <<<"$ENGINE_NOFILE"
diag "the engine's open-files limit: soft $ENGINE_SOFT, hard $ENGINE_HARD;" \
        "tfrun's in the rows without nofile: $TFRUN_NOFILE"
[ "$ENGINE_SOFT" != "$TFRUN_NOFILE" ] ||
        skip_all "the engine's nofile is $TFRUN_NOFILE, the value this test gives tfrun"

field() { sed -n "s|^$2=||p" "$TMPD/$1.out"; }

# row NAME 'LIMITS' 'EXPECT' DOCKER-RUN-FLAGS...: LIMITS (a flow mapping) natively and on the docker
# backend, the flags under plain `docker run`; EXPECT: the v1 files' values the limits mean ("FILE=VALUE
# ..."), checked in all three.
row() {
        local name=$1 lim=$2 expect b col key a v bad nofile_set=false nofile_flag=
        expect=$(printf '%s' "$3" | tr -s ' \n' '  ')
        shift 3
        case $lim in *nofile*) nofile_set=true ;; *) nofile_flag="--ulimit nofile=$TFRUN_NOFILE:$TFRUN_NOFILE" ;; esac
        pair "$name" "command: [$PROBE, cgfiles]" "limits: $lim"
        # The sandbox's flags as tfrun sends them: a private cgroup namespace (the engine's default on v1
        # is the host's), no_new_privileges, the pinned seccomp profile.
        "$DOCKER" run --rm --label "$LABEL" --network none -v "$PROBE:$PROBE:ro" --cgroupns private \
                --security-opt no-new-privileges \
                --security-opt "seccomp=$SRCDIR/sandbox/seccomp-default.json" \
                "$@" $nofile_flag "$IMAGE" "$PROBE" cgfiles >"$TMPD/$name-plain.out" 2>"$TMPD/$name-plain.err"
        is "$?" 0 "$name: plain docker run $* $nofile_flag exits 0"
        [ -s "$TMPD/$name-plain.err" ] && diag "plain: $(cat "$TMPD/$name-plain.err")"
        for b in native docker; do
                if $nofile_set; then
                        "$TFRUN" -q "$TMPD/$name-$b.yaml" >"$TMPD/$name-$b.out" 2>"$TMPD/$name-$b.err"
                else
                        (ulimit -n "$TFRUN_NOFILE" && exec "$TFRUN" -q "$TMPD/$name-$b.yaml") \
                                >"$TMPD/$name-$b.out" 2>"$TMPD/$name-$b.err"
                fi
                is "$?" 0 "$name: $b run of limits $lim exits 0"
                [ -s "$TMPD/$name-$b.err" ] && diag "$b: $(cat "$TMPD/$name-$b.err")"
        done
        diag "$name native: $(tr '\n' ' ' <"$TMPD/$name-native.out")"
        for col in docker plain; do
                is "$(cut -d= -f1 "$TMPD/$name-$col.out")" "$(cut -d= -f1 "$TMPD/$name-native.out")" \
                        "$name: $col prints the native run's files"
                bad=
                while IFS='=' read -r key a; do
                        v=$(field "$name-$col" "$key")
                        [ "$a" = "$v" ] && continue
                        bad="$bad $key (native $a, $col $v)"
                done <"$TMPD/$name-native.out"
                if [ -z "$bad" ]; then pass "$name: $col reads what the native job reads"; else
                        fail "$name: $col reads what the native job reads"
                        diag "differs:$bad"
                fi
        done
        if ! $nofile_set; then
                is "$(field "$name-native" nofile_soft) $(field "$name-native" nofile_hard)" \
                        "$TFRUN_NOFILE $TFRUN_NOFILE" "$name: nofile unset, native: tfrun's own limit"
                for col in docker plain; do
                        is "$(field "$name-$col" nofile_soft) $(field "$name-$col" nofile_hard)" \
                                "$TFRUN_NOFILE $TFRUN_NOFILE" \
                                "$name: nofile unset, $col: tfrun's limit too (not the engine's $ENGINE_SOFT)"
                done
        fi
        for col in native docker plain; do
                is "$(field "$name-$col" cgroup_path)" / "$name: $col: /proc/self/cgroup names the root"
        done
        $V1 || return 0
        for col in native docker plain; do
                bad=
                for kv in $expect; do
                        v=$(field "$name-$col" "${kv%%=*}")
                        [ "$v" = "${kv#*=}" ] || bad="$bad ${kv%%=*}=$v (want ${kv#*=})"
                done
                if [ -z "$bad" ]; then pass "$name: $col: $expect"; else
                        fail "$name: $col: $expect"
                        diag "wrong:$bad"
                fi
        done
}

UNL=9223372036854771712 # v1's unlimited: LLONG_MAX rounded down to the page
M64=67108864
DEFAULTS="memory.limit_in_bytes=$UNL memory.memsw.limit_in_bytes=$UNL cpu.cfs_quota_us=-1"
DEFAULTS="$DEFAULTS cpu.cfs_period_us=100000 cpu.shares=1024 cpuset.cpus=$ONLINE pids.max=max"

row empty "{}" "$DEFAULTS"
row mem "{memory: 64M}" "memory.limit_in_bytes=$M64 memory.memsw.limit_in_bytes=$((2 * M64))" -m 64M
row memsw0 "{memory: 64M, memory_swap: 0}" "memory.limit_in_bytes=$M64 memory.memsw.limit_in_bytes=$M64" \
        -m 64M --memory-swap 64M
row memsw32 "{memory: 64M, memory_swap: 32M}" \
        "memory.limit_in_bytes=$M64 memory.memsw.limit_in_bytes=$((M64 + M64 / 2))" -m 64M --memory-swap 96M
row memswmax "{memory: 64M, memory_swap: max}" \
        "memory.limit_in_bytes=$M64 memory.memsw.limit_in_bytes=$UNL" -m 64M --memory-swap -1
row allmax "{memory: max, memory_swap: max, pids: max, cpuset: '$ONLINE'}" "$DEFAULTS" \
        --cpuset-cpus "$ONLINE"
row cpuhalf "{cpus: 0.5}" "cpu.cfs_quota_us=50000 cpu.cfs_period_us=100000 cpu.shares=1024" --cpus 0.5
row cpuw "{cpus: 1.5, cpu_weight: 200}" "cpu.cfs_quota_us=150000 cpu.shares=2048" \
        --cpus 1.5 --cpu-shares 2048
# The smallest of both: 1 ms of quota, and weight 1 = 10 shares (1 * 1024 / 100).
row cpumin "{cpus: 0.01, cpu_weight: 1}" "cpu.cfs_quota_us=1000 cpu.shares=10" --cpus 0.01 --cpu-shares 10
row cpuwmax "{cpu_weight: 10000}" "cpu.shares=102400 cpu.cfs_quota_us=-1" --cpu-shares 102400
row cpuset0 "{cpuset: '0'}" "cpuset.cpus=0" --cpuset-cpus 0
row pidsfd "{pids: 20, nofile: 256}" "pids.max=20 nofile_soft=256 nofile_hard=256" \
        --pids-limit 20 --ulimit nofile=256:256
row mixed "{memory: 128M, pids: 50, cpus: 0.25, nofile: 1024}" \
        "memory.limit_in_bytes=$((2 * M64)) memory.memsw.limit_in_bytes=$((4 * M64)) pids.max=50
         cpu.cfs_quota_us=25000 nofile_soft=1024 nofile_hard=1024" \
        -m 128M --pids-limit 50 --cpus 0.25 --ulimit nofile=1024:1024

# io_weight where the host has a weight to write: natively blkio.weight (io_weight * 5, systemd's
# conversion) or blkio.bfq.weight where a device uses bfq (io_weight up to 100 unchanged), on v2
# io.weight. Where it has none, both backends refuse before anything starts and plain `docker run`
# drops the weight with a warning.
pair iow "command: [$PROBE, cgfiles]" "limits: {io_weight: 50}"
"$TFRUN" -q "$TMPD/iow-native.yaml" >"$TMPD/iow-native.out" 2>"$TMPD/iow-native.err"
rc=$?
if [ "$rc" = 125 ] &&
        grep -q "limits.io_weight: this host has no io weight controller" "$TMPD/iow-native.err"; then
        diag "native: $(cat "$TMPD/iow-native.err")"
        pass "io_weight, native: refused on a host without an io weight to write, 125"
        no_cgroup_left iow-native "io_weight refused"
        "$TFRUN" -q "$TMPD/iow-docker.yaml" >"$TMPD/iow-docker.out" 2>"$TMPD/iow-docker.err"
        is "$?" 125 "io_weight, docker: refused too, 125"
        diag "docker: $(cat "$TMPD/iow-docker.err")"
        grep -q "^tfrun: $TMPD/iow-docker.yaml:5:10: limits.io_weight: the Docker engine would drop this limit: \"Your kernel does not support Block I/O weight" "$TMPD/iow-docker.err"
        ok "io_weight, docker: the message names the key and its position, and quotes the engine's warning"
        no_container_left iow-docker "io_weight refused"
        "$DOCKER" run --rm --label "$LABEL" --network none -v "$PROBE:$PROBE:ro" --cgroupns private \
                --blkio-weight 50 "$IMAGE" "$PROBE" cgfiles >"$TMPD/iow-plain.out" 2>"$TMPD/iow-plain.err"
        grep -q "Weight discarded" "$TMPD/iow-plain.err"
        ok "io_weight, plain docker run --blkio-weight: the engine discards it with a warning"
        is "$(field iow-plain blkio.weight)$(field iow-plain io.weight)" absent \
                "io_weight, plain docker run: no weight file to read"
else
        is "$rc" 0 "io_weight 50, native: runs"
        row iow "{io_weight: 50}" "" --blkio-weight 50
fi

is "$("$DOCKER" ps -aq --filter "label=$LABEL" | wc -l)" 0 "no plain container left"
no_container_left "" "limit parity"

done_testing
