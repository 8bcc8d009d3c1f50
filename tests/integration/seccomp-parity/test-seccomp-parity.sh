#!/bin/bash
# SPDX-License-Identifier: MIT
# One seccomp profile for both backends (docs/spec.md, "Seccomp"): tfprobe-seccomp reports the filter's
# verdict for every x86_64 syscall number 0..460 and for the argument-conditional cases of Docker's profile
# (clone flags, socket families, personality values) without executing any call (tests/seccomp-verdicts.c),
# under
#   - the native backend,
#   - the docker backend (tfrun sends its pinned profile as HostConfig.SecurityOpt),
#   - a plain `docker run` (/usr/bin/docker) with the same flags: --security-opt seccomp=<the pinned
#     sandbox/seccomp-default.json>, the same capabilities, no-new-privileges, --network none, the same user,
# and the three are compared field by field. Any difference fails: DESIGN.md names none for seccomp.
# Anchors per case make sure the comparison compares something (the ENOSYS line, an EPERM, a capability-
# gated rule opening, a conditional rule).
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
need_root
. "$SRCDIR/tests/integration/docker-cli/common.sh"

DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || skip_all "no $DOCKER"
PROFILE=$SRCDIR/sandbox/seccomp-default.json
# A copy outside /tmp and the build tree, readable and executable by uid 1000.
PROBE_DIR=$(mktemp -d /run/tfrun-seccomp-parity.XXXXXX)
chmod 755 "$PROBE_DIR"
cp "$TFPROBE_SECCOMP" "$PROBE_DIR/tfprobe-seccomp"
chmod 755 "$PROBE_DIR/tfprobe-seccomp"
PROBE=$PROBE_DIR/tfprobe-seccomp
LABEL=tfrun-test=seccomp-parity-$$
cleanup() {
        "$DOCKER" ps -aq --filter "label=$LABEL" | xargs -r "$DOCKER" rm -f >/dev/null 2>&1
        rm -rf "$TMPD" "$PROBE_DIR"
}
trap cleanup EXIT

# The mechanism itself: a call a filter denies with ERRNO never reaches the notification listener (ERRNO
# outranks USER_NOTIF on this kernel), one it allows does and is not executed.
is "$("$PROBE" selftest | tr '\n' ' ')" "self:getppid=EACCES self:getpid=allowed done=1 " \
        "probe self-test: ERRNO outranks USER_NOTIF, an allowed call is answered by the listener"

# verdicts NAME SANDBOX USER DOCKER_FLAGS...: runs the probe three ways; $TMPD/NAME-{native,docker,run}.out
verdicts() {
        local name=$1 sandbox=$2 user=$3 b
        shift 3
        pair "$name" "command: [$PROBE]" "sandbox: $sandbox" ${user:+"user: '$user'"}
        for b in native docker; do
                "$TFRUN" -q "$TMPD/$name-$b.yaml" >"$TMPD/$name-$b.out" 2>"$TMPD/$name-$b.err"
                is "$?" 0 "$name: $b run exits 0"
        done
        "$DOCKER" run --rm --label "$LABEL" --network none --security-opt no-new-privileges \
                -v "$PROBE:$PROBE:ro" ${user:+--user "$user"} "$@" "$IMAGE" "$PROBE" \
                >"$TMPD/$name-run.out" 2>"$TMPD/$name-run.err"
        is "$?" 0 "$name: plain docker run exits 0"
        for b in native docker run; do
                grep -q '^done=' "$TMPD/$name-$b.out"
                ok "$name: $b: the probe finished ($(grep -c = "$TMPD/$name-$b.out") lines)"
        done
        for b in docker run; do
                if cmp -s "$TMPD/$name-native.out" "$TMPD/$name-$b.out"; then
                        pass "$name: native and $b agree on all $(grep -c = "$TMPD/$name-native.out") verdicts"
                else
                        fail "$name: native and $b agree on every verdict"
                        diag "differences (native vs $b):" \
                                "$(diff "$TMPD/$name-native.out" "$TMPD/$name-$b.out" | grep '^[<>]' | head -40)"
                fi
        done
}
# v NAME KEY: the native verdict of KEY.
v() { sed -n "s/^$2=//p" "$TMPD/$1-native.out"; }
# anchors NAME "KEY=VERDICT ...": each must hold natively (and so on the other two, which agree).
anchors() {
        local name=$1 kv
        for kv in $2; do
                is "$(v "$name" "${kv%%=*}")" "${kv#*=}" "$name: ${kv%%=*} is ${kv#*=}"
        done
}

# Docker's defaults. 169 reboot and 246 kexec_load: EPERM (known, not allowed); 435 clone3: ENOSYS (the
# profile's errnoRet, so glibc falls back to clone); 425 io_uring_setup: EPERM (blocked since moby 25);
# 452 fchmodat2: allowed; 457..460: ENOSYS, above the highest number the profile names that libseccomp
# resolves (456 futex_requeue with libseccomp 2.5.4; a newer libseccomp moves the line on all three alike,
# so the anchor follows the native verdict of 456 and the first ENOSYS after it).
verdicts default "{network: none}" ""  --security-opt "seccomp=$PROFILE"
anchors default "169=EPERM 246=EPERM 435=ENOSYS 425=EPERM 452=allowed 0=allowed 39=allowed 460=ENOSYS
        clone:SIGCHLD=allowed clone:NEWUSER=EPERM clone:NEWTIME=allowed socket:40=EPERM socket:38=EPERM
        socket:39=allowed socket:2=allowed personality:0xffffffff=allowed personality:0x1=EPERM"
last=$(awk -F= '$1 ~ /^[0-9]+$/ && $2 == "allowed" {n = $1} END {print n}' "$TMPD/default-native.out")
first_enosys=$(awk -F= -v l="$last" '$1 ~ /^[0-9]+$/ && $1 > l && $2 == "ENOSYS" {print $1; exit}' "$TMPD/default-native.out")
is "$first_enosys" "$((last + 1))" "default: every number above the last allowed one ($last) answers ENOSYS"
n_enosys=$(grep -c '^[0-9]*=ENOSYS$' "$TMPD/default-native.out")
is "$(awk -F= -v l="$last" '$1 ~ /^[0-9]+$/ && $1 > l && $2 != "ENOSYS" && $2 != "not-probed"' "$TMPD/default-native.out")" "" \
        "default: nothing above $last answers anything but ENOSYS ($n_enosys ENOSYS in all, clone3 among them)"

verdicts capnone "{network: none, cap_drop: [ALL]}" "" --security-opt "seccomp=$PROFILE" --cap-drop ALL
anchors capnone "169=EPERM 161=EPERM 452=allowed"

# CAP_SYS_ADMIN opens the capability-gated rules: mount (165), umount2 (166), unshare (272), setns (308),
# clone with namespace flags, clone3 (435) allowed instead of ENOSYS.
verdicts sysadmin "{network: none, cap_add: [SYS_ADMIN]}" "" --security-opt "seccomp=$PROFILE" \
        --cap-add SYS_ADMIN
anchors sysadmin "165=allowed 166=allowed 272=allowed 308=allowed 435=allowed clone:NEWUSER=allowed
        clone:NEWNS=allowed 169=EPERM"

# More capability-gated entries: SYS_PTRACE (ptrace 101, process_vm_readv 310, kcmp 312), SYS_NICE
# (mbind 237, set_mempolicy_home_node 450), SYS_TIME (settimeofday 164), SYS_BOOT (reboot 169).
verdicts morecaps "{network: none, cap_add: [SYS_PTRACE, SYS_NICE, SYS_TIME, SYS_BOOT]}" "" \
        --security-opt "seccomp=$PROFILE" --cap-add SYS_PTRACE --cap-add SYS_NICE --cap-add SYS_TIME \
        --cap-add SYS_BOOT
anchors morecaps "101=allowed 310=allowed 312=allowed 237=allowed 450=allowed 164=allowed 169=allowed 246=EPERM"

# A non-root job: the filter is the same (the capability-gated entries follow the bounding set, which
# the user does not change).
verdicts user1000 "{network: none}" "1000:1000" --security-opt "seccomp=$PROFILE"
anchors user1000 "169=EPERM 435=ENOSYS 452=allowed 460=ENOSYS"
cmp -s "$TMPD/default-native.out" "$TMPD/user1000-native.out"
ok "user 1000: the same verdicts as root with the default capabilities"

# No filter: everything reaches the listener (the probe sees past nothing of its own).
verdicts unconfined "{network: none, seccomp: unconfined}" "" --security-opt seccomp=unconfined
is "$(grep -c -v -e '=allowed$' -e '=not-probed$' -e '^done=' "$TMPD/unconfined-native.out")" 0 \
        "unconfined: every call allowed"

is "$("$DOCKER" ps -aq --filter "label=$LABEL" | wc -l)" 0 "no plain docker run container left"
no_container_left "" "all runs"
done_testing
