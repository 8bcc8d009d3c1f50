#!/bin/bash
# SPDX-License-Identifier: MIT
# The sandbox through the tfrun CLI on both backends: the SAME spec run natively and as a container on a
# real dockerd, and the protection read from inside each with the static probe (seccomp verdicts per system
# call, capability sets, no_new_privs, network devices, read-only root, private /tmp, open descriptors).
# Refusals (symbolic link in a mount source, malformed seccomp profile, unknown capability) exit 125 with
# their exact message and leave nothing behind. Where Docker itself behaves differently
# (ip_unprivileged_port_start) the test asserts what Docker really does and says so; the native-only
# cap_ambient is a spec key the docker backend refuses.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
need_root

. "$SRCDIR/tests/integration/docker-cli/common.sh"

# private_tmp hides the host's /tmp from the native service, and a build tree may live there (a CI clone):
# run a copy of the probe kept outside /tmp, readable and executable by uid 65534.
PROBE_DIR=$(mktemp -d /run/tfrun-sandbox-cli.XXXXXX)
chmod 755 "$PROBE_DIR"
cp "$TFPROBE" "$PROBE_DIR/tfprobe"
chmod 755 "$PROBE_DIR/tfprobe"
PROBE=$PROBE_DIR/tfprobe
trap 'rm -rf "$TMPD" "$PROBE_DIR"' EXIT

# containers_created SERVICE SINCE: how many containers the engine created for SERVICE since SINCE (unix time).
containers_created() {
        curl -sf --unix-socket "$SOCK" -G "http://localhost/events" --data-urlencode "since=$2" \
                --data-urlencode "until=$(($(date +%s) + 1))" \
                --data-urlencode "filters={\"type\":[\"container\"],\"event\":[\"create\"],\"label\":[\"tfrun.service=$1\"]}" |
                grep -c '"create"' || true
}

# both NAME: runs the pair, output in $TMPD/NAME-{native,docker}.out, exit status checked to be 0.
both() {
        local b
        for b in native docker; do
                "$TFRUN" -q "$TMPD/$1-$b.yaml" >"$TMPD/$1-$b.out" 2>"$TMPD/$1-$b.err"
                is "$?" 0 "$1: $b run exits 0"
        done
}
out() { tr '\n' ' ' <"$TMPD/$1.out" | sed 's/ $//'; }
# field NAME KEY: KEY=VALUE from a probe's output.
field() { sed -n "s/^$2=//p" "$TMPD/$1.out"; }

# ================================================================================================ seccomp
# Harmless arguments: an allowed call answers its own error (EOPNOTSUPP, EFAULT, EBADF, EINVAL) or
# succeeds; Docker's default profile answers EPERM (ENOSYS for clone3, so that glibc falls back to clone).
SYSCALLS="reboot kexec_load keyctl add_key unshare-user setns kcmp clone3 personality-bad getpid"
FILTERED="reboot=EPERM kexec_load=EPERM keyctl=EPERM add_key=EPERM unshare-user=EPERM setns=EPERM kcmp=EPERM clone3=ENOSYS personality-bad=EPERM getpid=OK"
argv() { echo "[$PROBE, syscall, $(echo "$*" | sed 's/ /, /g')]"; }

pair scdef "command: $(argv $SYSCALLS)" "sandbox: {seccomp: default}"
both scdef
is "$(out scdef-native)" "$FILTERED" "seccomp default, native: Docker's profile refuses reboot, kexec_load, keyctl, add_key, unshare(CLONE_NEWUSER), setns, kcmp, odd personalities with EPERM, clone3 with ENOSYS; getpid works"
is "$(out scdef-docker)" "$FILTERED" "seccomp default, docker (tfrun's pinned profile as SecurityOpt): the same verdicts"
is "$(grep -c . "$TMPD/scdef-docker.out")" 10 "docker: ten verdicts, nothing else printed"

# The same capabilities without a filter: the EPERMs above came from the filter, not from missing privileges.
pair scunc "command: $(argv $SYSCALLS)" "sandbox: {seccomp: unconfined}"
both scunc
is "$(out scunc-docker)" "$(out scunc-native)" "seccomp unconfined: the same verdicts on both backends"
for c in keyctl add_key unshare-user setns kcmp personality-bad; do
        v=$(field scunc-native "$c")
        [ -n "$v" ] && [ "$v" != EPERM ]
        ok "unconfined: $c is not refused ($v): the EPERM under default is the filter's"
done
is "$(field scunc-native clone3)" EINVAL "unconfined: clone3 reaches the kernel (EINVAL for size 0)"

# reboot and kexec_load also need CAP_SYS_BOOT. With it, Docker's profile allows reboot (its rule is
# conditional on the capability: tfrun evaluates it against the final set as moby does) and still refuses
# kexec_load, which without a filter reaches the kernel (EINVAL for too many segments, or ENOSYS when the
# kernel has no kexec).
pair scboot "command: $(argv reboot kexec_load keyctl)" "sandbox: {seccomp: default, cap_add: [SYS_BOOT]}"
both scboot
is "$(out scboot-native)" "reboot=EINVAL kexec_load=EPERM keyctl=EPERM" \
        "native, cap_add SYS_BOOT: reboot allowed by the profile (EINVAL: bad magic), kexec_load and keyctl filtered"
is "$(out scboot-docker)" "$(out scboot-native)" "docker, cap_add SYS_BOOT: the same verdicts"
pair scbootu "command: $(argv kexec_load)" "sandbox: {seccomp: unconfined, cap_add: [SYS_BOOT]}"
both scbootu
v=$(field scbootu-native kexec_load)
[ "$v" = EINVAL ] || [ "$v" = ENOSYS ]
ok "unconfined with SYS_BOOT: kexec_load reaches the kernel ($v), so its EPERM above is the filter's"
is "$(out scbootu-docker)" "$(out scbootu-native)" "docker agrees"

# One profile on both backends: tfrun sends its pinned profile (moby profiles/seccomp v0.2.3) to the
# engine, so the engine's own built-in one (Docker 20.10's lets socket(AF_VSOCK) and io_uring through) no
# longer decides. The full comparison, every syscall number, is tests/integration/seccomp-parity.
pair scver "command: $(argv socket-vsock io_uring_setup)" "sandbox: {seccomp: default}"
both scver
is "$(out scver-native)" "socket-vsock=EPERM io_uring_setup=EPERM" "native: socket(AF_VSOCK) and io_uring_setup refused (the pinned profile)"
is "$(out scver-docker)" "$(out scver-native)" "docker: the same verdicts, whatever the engine's version"

# ================================================================================================ capabilities
# uid 0, cap_drop ALL: nothing in any set, no_new_privs, a filter.
pair capnone "command: [$PROBE, status]" "sandbox: {cap_drop: [ALL]}"
both capnone
want="CapInh=0000000000000000 CapPrm=0000000000000000 CapEff=0000000000000000 CapBnd=0000000000000000 CapAmb=0000000000000000 NoNewPrivs=1 Seccomp=2"
is "$(out capnone-native)" "$want" "native, root, cap_drop ALL: every capability set empty, NoNewPrivs 1, Seccomp 2 (filter)"
is "$(out capnone-docker)" "$want" "docker, root, cap_drop ALL: the same"

# uid 0, cap_drop ALL + cap_add NET_BIND_SERVICE: exactly that one capability, on both.
pair caproot "command: [$PROBE, status]" "sandbox: {cap_drop: [ALL], cap_add: [NET_BIND_SERVICE]}"
both caproot
for b in native docker; do
        is "$(field caproot-$b CapEff)/$(field caproot-$b CapPrm)/$(field caproot-$b CapBnd)" \
                0000000000000400/0000000000000400/0000000000000400 "$b, root: CapEff = CapPrm = CapBnd = NET_BIND_SERVICE only"
done

# A non-root user with cap_add NET_BIND_SERVICE, on the host's network (no namespace sysctl in the way):
# Docker puts cap_add in the bounding set only, so a non-root process ends with CapEff 0 (moby issues 8460,
# 45491) and cannot bind port 80; natively the same. sandbox.cap_ambient: true is the native-only way to
# keep cap_add as ambient capabilities (the docker backend refuses it; tests/integration/docker-cli/test-parity.sh).
pair capuser "user: '65534:65534'" "command: [sh, -c, '$PROBE status; $PROBE bind 80']" \
        "sandbox: {cap_drop: [ALL], cap_add: [NET_BIND_SERVICE], network: host}"
both capuser
for b in native docker; do
        is "$(out capuser-$b)" "CapInh=0000000000000000 CapPrm=0000000000000000 CapEff=0000000000000000 CapBnd=0000000000000400 CapAmb=0000000000000000 NoNewPrivs=1 Seccomp=2 bind=EACCES" \
                "$b, uid 65534: NET_BIND_SERVICE only in the bounding set, CapEff 0; port 80 refused (EACCES), as Docker does"
done
pair capamb "user: '65534:65534'" "command: [sh, -c, '$PROBE status; $PROBE bind 80']" \
        "sandbox: {cap_drop: [ALL], cap_add: [NET_BIND_SERVICE], cap_ambient: true, network: host}"
"$TFRUN" -q "$TMPD/capamb-native.yaml" >"$TMPD/capamb-native.out" 2>"$TMPD/capamb-native.err"
is "$?" 0 "cap_ambient, native: exits 0"
is "$(out capamb-native)" "CapInh=0000000000000400 CapPrm=0000000000000400 CapEff=0000000000000400 CapBnd=0000000000000400 CapAmb=0000000000000400 NoNewPrivs=1 Seccomp=2 bound" \
        "native, uid 65534, cap_ambient: NET_BIND_SERVICE ambient and effective, nothing else; binds 127.0.0.1:80"
pair capuser0 "user: '65534:65534'" "command: [sh, -c, '$PROBE status; $PROBE bind 80']" \
        "sandbox: {cap_drop: [ALL], network: host}"
both capuser0
for b in native docker; do
        is "$(field capuser0-$b CapEff)/$(tail -1 "$TMPD/capuser0-$b.out")" 0000000000000000/bind=EACCES \
                "$b, uid 65534 without cap_add: CapEff 0, port 80 refused"
done

# In a network namespace of its own Docker (20.10+) also sets net.ipv4.ip_unprivileged_port_start=0, so
# any user binds port 80 on `lo` whatever the capabilities; tfrun's network: none does the same.
pair portns "user: '65534:65534'" \
        "command: [sh, -c, '$PROBE cat /proc/sys/net/ipv4/ip_unprivileged_port_start; $PROBE bind 80']" \
        "sandbox: {cap_drop: [ALL], network: none}"
both portns
is "$(out portns-native)" "0 bound" "native, network none, no capability: ip_unprivileged_port_start 0 (as Docker), port 80 bound"
is "$(out portns-docker)" "0 bound" "docker, network none, no capability: ip_unprivileged_port_start 0 (Docker's default), port 80 bound"
is "$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)" 1024 "the host's own namespace keeps 1024"
pair portnsc "user: '65534:65534'" "command: [$PROBE, bind, '80']" \
        "sandbox: {cap_drop: [ALL], cap_add: [NET_BIND_SERVICE], network: none}"
both portnsc
is "$(out portnsc-native)/$(out portnsc-docker)" "bound/bound" "network none with cap_add NET_BIND_SERVICE: port 80 bound on both"

# ================================================================================================ network
pair net "command: [$PROBE, netdev]" "sandbox: {network: none}"
both net
is "$(out net-native)" lo "native, network none: /proc/net/dev lists only lo"
is "$(out net-docker)" lo "docker, network none: only lo"

# ================================================================================================ pid namespace
# pid: private: an init as pid 1 (tfrun's own natively, the engine's docker-init in a container), the
# service below it. The probe leaves an orphan that exits and waits only for its own child: the init must
# reap the orphan.
pair pidp "command: [sh, -c, 'echo init=\$(cat /proc/1/comm); echo procs=\$(ls -d /proc/[0-9]* | wc -l); $PROBE orphan']" \
        "sandbox: {pid: private}"
both pidp
is "$(field pidp-native init)/$(field pidp-docker init)" "tfrun-init/docker-init" "pid private: pid 1 is an init on both (tfrun-init, docker-init)"
# The service starts before its init execs tfrun-init (the init is suspended until the service's execve):
# the init must carry its name from before the service starts, and again at once after its execveat
# renamed it after the memfd (a sanitizer build forks the service, which then waits for that rename).
# About one run in twenty read `tfrun` or `memfd:tfrun-ini` when it did not.
spec pidname "backend: native" "command: [cat, /proc/1/comm]" "sandbox: {pid: private}" >/dev/null
for i in $(seq 200); do "$TFRUN" -q "$TMPD/pidname.yaml" 2>&1; done | sort | uniq -c | sed 's/^ *//' >"$TMPD/pidname.out"
is "$(out pidname)" "200 tfrun-init" "pid private, native: pid 1 reads tfrun-init in 200 runs of 200, however early the service looks"
sn=$(out pidp-native | grep -o 'self=[0-9]*'); sd=$(out pidp-docker | grep -o 'self=[0-9]*')
[ -n "$sn" ] && [ -n "$sd" ] && [ "$sn" != self=1 ] && [ "$sd" != self=1 ]
ok "pid private: the service is not pid 1 on either ($(out pidp-native); $(out pidp-docker))"
is "$(out pidp-native | grep -o 'zombies=[0-9]*')/$(out pidp-docker | grep -o 'zombies=[0-9]*')" zombies=0/zombies=0 \
        "pid private: the orphan that exited was reaped on both"
# The init holds nothing worth borrowing: CAP_KILL only, a filter of its own (Seccomp 2).
spec pidinit "command: [sh, -c, 'grep -E \"^(CapEff|CapBnd|Seccomp|NoNewPrivs):\" /proc/1/status | tr -d \"\\t\" | tr \"\\n\" \" \"']" \
        "sandbox: {pid: private, seccomp: unconfined}" >/dev/null
is "$("$TFRUN" -q "$TMPD/pidinit.yaml")" "CapEff:0000000000000020 CapBnd:0000000000000020 NoNewPrivs:1 Seccomp:2 " \
        "native, pid private: the init keeps CAP_KILL only, no_new_privs and a filter, even when the service has none"
p1=$(field pidp-native procs)
[ -n "$p1" ] && [ "$p1" -le 6 ]
ok "native pid private: /proc is the namespace's own ($p1 processes)"
# The zombie check can fail: in a container without an init the probe is pid 1 and never reaps the orphan.
spec pidd "image: $IMAGE" "mounts: [{source: $PROBE, target: $PROBE, read_only: true}]" "command: [$PROBE, orphan]" >/dev/null
"$TFRUN" -q "$TMPD/pidd.yaml" >"$TMPD/pidd.out" 2>"$TMPD/pidd.err"
is "$(out pidd)" "self=1 zombies=1" "docker, pid unset: the probe is pid 1 and the orphan stays a zombie (the check above can fail)"
# The service's own end comes back through the init: an exit code, a signal (128+N).
pair pidx "command: [sh, -c, 'exit 3']" "sandbox: {pid: private}"
pair pids "command: [sh, -c, 'kill -USR1 \$\$; sleep 5']" "sandbox: {pid: private}"
for b in native docker; do
        "$TFRUN" -q "$TMPD/pidx-$b.yaml"
        is "$?" 3 "$b, pid private: the service's exit code 3 passes the init"
        "$TFRUN" -q "$TMPD/pids-$b.yaml"
        is "$?" 138 "$b, pid private: the service's death by SIGUSR1 is reported as 138"
done
grep -q 'reason=signaled signal=SIGUSR1' < <("$TFRUN" "$TMPD/pids-native.yaml" 2>&1)
ok "native, pid private: the summary names the service's signal, not the init's status"
# SIGTERM to tfrun is forwarded through the init to the service, whose handler decides.
pair pidt "command: [sh, -c, 'trap \"echo got-term; exit 7\" TERM; echo ready; sleep 30 & wait']" "sandbox: {pid: private}"
for b in native docker; do
        "$TFRUN" -q "$TMPD/pidt-$b.yaml" >"$TMPD/pidt-$b.out" &
        p=$!
        for _ in $(seq 100); do grep -q ready "$TMPD/pidt-$b.out" 2>/dev/null && break; sleep 0.1; done
        kill -TERM $p
        wait $p
        is "$?" 7 "$b, pid private: SIGTERM to tfrun reaches the service through the init (exit 7 from its handler)"
done
# Where tfrun-init cannot be executed, the child stays the namespace's init itself (a fork of tfrun) with
# the same walls. vm.memfd_noexec=2 (Linux 6.3+) refuses the executable memfd tfrun-init runs from; the
# sysctl belongs to a pid namespace, so the test sets it in one of its own (unshare), never the host's.
# tfrun's pid there is a small number that another tfrun's sweep would take for a dead tfrun's: the runs
# go below a cgroup parent of the test's own, which no sweep looks into.
if [ ! -e /proc/sys/vm/memfd_noexec ]; then
        skip "in-process init: this kernel has no vm.memfd_noexec (Linux 6.3+) to refuse tfrun-init with"
else
        FBP=fbtest-$$
        # fbparent.py NAME mk|rm: the parent in every hierarchy, below the test's own cgroup (a cpuset with
        # its parent's cpus and mems); rm names what is left below it and removes it when nothing is.
        cat >"$TMPD/fbparent.py" <<'PY'
import os, sys
name, act = sys.argv[1], sys.argv[2]
own = {}
for line in open("/proc/self/cgroup"):
    hid, ctl, path = line.rstrip("\n").split(":", 2)
    own[ctl] = path
for line in open("/proc/self/mountinfo"):
    l, r = line.split(" - ")
    mnt, fstype, opts = l.split()[4], r.split()[0], r.split()[2]
    if fstype == "cgroup2":
        key = ""
    elif fstype == "cgroup":
        ks = [o for o in opts.split(",") if o in ("cpu", "cpuacct", "cpuset", "memory", "pids", "blkio",
                                                 "devices", "freezer", "net_cls", "net_prio", "perf_event",
                                                 "hugetlb", "rdma", "misc") or o.startswith("name=")]
        key = next((k for k in own if k and set(k.split(",")) == set(ks)), None)
    else:
        continue
    if key is None or key not in own:
        continue
    d = mnt + own[key].rstrip("/") + "/" + name
    if act == "mk":
        os.makedirs(d, exist_ok=True)
        if "cpuset" in key.split(","):
            for f in ("cpuset.cpus", "cpuset.mems"):
                open(d + "/" + f, "w").write(open(os.path.dirname(d) + "/" + f).read())
    elif os.path.isdir(d):
        left = [e for e in os.listdir(d) if os.path.isdir(d + "/" + e)]
        if left:
            print(d + ": " + " ".join(left))
        else:
            os.rmdir(d)
PY
        python3 "$TMPD/fbparent.py" "$FBP" mk
        noexec_before=$(cat /proc/sys/vm/memfd_noexec)
        cat >"$TMPD/fb.sh" <<EOS
echo 2 >/proc/sys/vm/memfd_noexec && echo noexec=\$(cat /proc/sys/vm/memfd_noexec)
T="$TFRUN -q --cgroup-parent $FBP"
echo init=\$(\$T "$TMPD/fbinit.yaml")
\$T "$TMPD/fbx.yaml"; echo exit=\$?
\$T "$TMPD/fbs.yaml"; echo signal=\$?
echo orphan=\$(\$T "$TMPD/fbo.yaml")
\$T "$TMPD/fbt.yaml" >"$TMPD/fbt.out" & p=\$!
for _ in \$(seq 100); do grep -q ready "$TMPD/fbt.out" 2>/dev/null && break; sleep 0.1; done
kill -TERM \$p; wait \$p; echo term=\$?
EOS
        spec fbinit "backend: native" "sandbox: {pid: private, seccomp: unconfined}" \
                "command: [sh, -c, 'echo \$(cat /proc/1/comm) \$(grep -E \"^(VmRSS|CapEff|CapBnd|Seccomp|NoNewPrivs):\" /proc/1/status | tr -d \"\\t \" | tr \"\\n\" \" \")']" >/dev/null
        spec fbx "backend: native" "sandbox: {pid: private}" "command: [sh, -c, 'exit 3']" >/dev/null
        spec fbs "backend: native" "sandbox: {pid: private}" "command: [sh, -c, 'kill -USR1 \$\$; sleep 5']" >/dev/null
        spec fbo "backend: native" "sandbox: {pid: private}" "command: [$PROBE, orphan]" >/dev/null
        spec fbt "backend: native" "sandbox: {pid: private}" \
                "command: [sh, -c, 'trap \"echo got-term; exit 7\" TERM; echo ready; sleep 30 & wait']" >/dev/null
        unshare --pid --fork --mount-proc bash "$TMPD/fb.sh" >"$TMPD/fb.out" 2>"$TMPD/fb.err"
        fbf() { sed -n "s/^$1=//p" "$TMPD/fb.out"; }
        is "$(fbf noexec)" 2 "in-process init: vm.memfd_noexec is 2 in the test's pid namespace" || diag "$(cat "$TMPD/fb.err")"
        is "$(cat /proc/sys/vm/memfd_noexec)" "$noexec_before" "in-process init: the test's own vm.memfd_noexec is untouched"
        fi_rss=$(fbf init | grep -o 'VmRSS:[0-9]*' | cut -d: -f2)
        [ -n "$fi_rss" ] && [ "$fi_rss" -gt 500 ]
        ok "in-process init: pid 1 is a fork of tfrun, not the 16 kB tfrun-init (VmRSS ${fi_rss:-?} kB)"
        is "$(fbf init | sed 's/VmRSS:[0-9]*kB //')" "tfrun-init CapEff:0000000000000020 CapBnd:0000000000000020 NoNewPrivs:1 Seccomp:2" \
                "in-process init: named tfrun-init, CAP_KILL only, no_new_privs and a filter of its own"
        is "$(fbf exit)/$(fbf signal)" 3/138 "in-process init: the service's exit code 3 and its death by SIGUSR1 (138) pass the init"
        is "$(fbf orphan)" "self=2 zombies=0" "in-process init: the orphan that exited was reaped"
        is "$(fbf term)/$(grep -c got-term "$TMPD/fbt.out")" 7/1 "in-process init: SIGTERM to tfrun reaches the service once (exit 7 from its handler)"
        is "$(python3 "$TMPD/fbparent.py" "$FBP" rm)" "" "in-process init: no cgroup left below the test's parent, which is removed"
fi
# ^C typed at a terminal: the kernel signals the whole foreground group, the service and the init
# included; the init forwards only what tfrun sends from outside (si_code <= 0, si_pid 0). The handler
# counts and the service lives on for 1.5 s, so a forwarded duplicate shows as a second line (unless
# the two arrive together and coalesce: the check can miss a duplicate, never invent one).
f=$(spec pidc "command: [sh, -c, 'trap \"echo got-INT\" INT; echo ready; i=0; while [ \$i -lt 15 ]; do sleep 0.1; i=\$((i+1)); done; exit 9']" "sandbox: {pid: private}")
out=$(python3 "$SRCDIR/tests/integration/native/ctrl-c.py" "$TFRUN" "$f" ready)
is "$(echo "$out" | head -1)/$(echo "$out" | grep -c got-INT)" 9/1 "native, pid private: ^C on a terminal reaches the service once (its handler ran once, status 9)"
no_cgroup_left pidc "pid private, ^C"
# A timeout's stop signal goes to every process of the service (as without a pid namespace): tfrun asks the
# init to signal its whole namespace rather than signalling the cgroup, which would also make the init
# forward a second copy to the service. The service waits for its child after the signal: when the service
# ends, whatever is left is killed at once (as without a pid namespace), which would race the child's handler.
f=$(spec pidto "command: [sh, -c, 'trap \"echo svc-term\" TERM; sh -c \"trap \\\"echo child-term; exit 0\\\" TERM; echo ready; while :; do sleep 0.1; done\" & wait; wait']" \
        "timeout: 1s" "stop: {grace: 5s}" "sandbox: {pid: private}")
start=$(date +%s%N)
"$TFRUN" -q "$f" >"$TMPD/pidto.out" 2>&1
is "$?" 124 "native, pid private, timeout: status 124"
el=$((($(date +%s%N) - start) / 1000000))
grep -qx svc-term "$TMPD/pidto.out" && grep -qx child-term "$TMPD/pidto.out"
ok "native, pid private, timeout: the stop signal reached the service and its child (their handlers ran)"
[ "$el" -lt 4000 ]; ok "native, pid private, timeout: over after ${el}ms, without waiting out the 5 s grace"
no_cgroup_left pidto "pid private, timeout"
# pid: host: the host's processes, on both.
pair pidh "command: [sh, -c, 'echo init=\$(cat /proc/1/comm)']" "sandbox: {pid: host}"
both pidh
is "$(out pidh-native)/$(out pidh-docker)" "init=$(cat /proc/1/comm)/init=$(cat /proc/1/comm)" "pid host: pid 1 is the host's on both"
for n in pidp pidx pids pidt pidh; do no_cgroup_left "$n-native" "pid $n"; done

# ================================================================================================ read-only root, private /tmp
pair rofs "command: [sh, -c, '$PROBE write /tfrun-rofs-probe; $PROBE write /tmp/w']" \
        "sandbox: {read_only_root: true, private_tmp: true}"
both rofs
is "$(out rofs-native)" "write=EROFS wrote" "native, read_only_root: a write to / fails with EROFS; the private /tmp stays writable"
is "$(out rofs-docker)" "write=EROFS wrote" "docker, ReadonlyRootfs: the same"
[ ! -e /tfrun-rofs-probe ]; ok "nothing was written to the host's /"

marker=tfrun-sandbox-cli-marker-$$
touch "/tmp/$marker"
pair ptmp "command: [sh, -c, '$PROBE ls /tmp; $PROBE write /tmp/$marker-inside; $PROBE mountopts /tmp']" \
        "sandbox: {private_tmp: true}"
both ptmp
for b in native docker; do
        is "$(head -1 "$TMPD/ptmp-$b.out")" wrote "$b, private_tmp: /tmp starts empty (the host's $marker is not there)"
done
[ ! -e "/tmp/$marker-inside" ]; ok "what the services wrote in /tmp did not reach the host's /tmp"
rm -f "/tmp/$marker" "/tmp/$marker-inside"
is "$(tail -1 "$TMPD/ptmp-native.out")" "tmpfs rw,nosuid,nodev,relatime" "native, private_tmp: a tmpfs, nosuid, nodev, executable"
is "$(tail -1 "$TMPD/ptmp-docker.out")" "$(tail -1 "$TMPD/ptmp-native.out")" \
        "docker, private_tmp: the same mount options (the engine's implicit noexec is overridden)"

# ================================================================================================ descriptors
# tfrun's own inherited descriptors (3 and 7 here) never reach the service, sandboxed or not.
pair fds "command: [$PROBE, fds]" "sandbox: {network: none, private_tmp: true}"
for b in native docker; do
        "$TFRUN" -q "$TMPD/fds-$b.yaml" >"$TMPD/fds-$b.out" 3</dev/null 7<"$TMPD/fds-$b.yaml"
        is "$(out fds-$b)" "0 1 2" "$b: the service sees only fds 0, 1, 2"
done

# ================================================================================================ refusals: 125, exact message, nothing behind
# refused NAME WANT DESCRIPTION: $TMPD/NAME-{native,docker}.yaml exits 125 with WANT (a fixed string in
# which @F@ stands for the spec file), and neither a container nor a cgroup is left.
refused() {
        local name=$1 want=$2 desc=$3 b since
        for b in native docker; do
                since=$(date +%s)
                "$TFRUN" "$TMPD/$name-$b.yaml" >"$TMPD/$name-$b.out" 2>"$TMPD/$name-$b.err"
                is "$?" 125 "$desc, $b: exit 125"
                is "$(cat "$TMPD/$name-$b.err")" "tfrun: ${want//@F@/$TMPD/$name-$b.yaml}" "$desc, $b: message"
                is "$(containers_created "$name-$b" "$since")" 0 "$desc, $b: no container created"
        done
        no_cgroup_left "$name-native" "$desc"
}
# The refusal specs run `true` (the host's and busybox's): no probe bind, so the line numbers match.
# bare_pair NAME LINES...: NAME-native and NAME-docker with the same lines and nothing else between them.
bare_pair() {
        local name=$1
        shift
        spec "$name-native" "backend: native" "$@" >/dev/null
        spec "$name-docker" "image: $IMAGE" "$@" >/dev/null
}
mkdir -p "$TMPD/real/sub"
ln -s real "$TMPD/link"
bare_pair symlink "command: [true]" "mounts: [{source: $TMPD/link, target: /mnt}]"
refused symlink "@F@:4:10: mounts[0].source: '$TMPD/link' is a symbolic link; mount paths must not contain symbolic links (the real path is '$TMPD/real')" \
        "a symbolic link as mount source"
bare_pair symlink2 "command: [true]" "mounts: [{source: $TMPD/link/sub, target: /mnt}]"
refused symlink2 "@F@:4:10: mounts[0].source: '$TMPD/link' is a symbolic link; mount paths must not contain symbolic links (the real path is '$TMPD/real/sub')" \
        "a symbolic link in a parent of the mount source"
no_container_left "" "refusals"

bare_pair badcap "command: [true]" "sandbox: {cap_add: [NET_BIND]}"
refused badcap "@F@:4:21: sandbox.cap_add[0]: 'NET_BIND' is not a capability; expected a capability name like NET_ADMIN or SYS_PTRACE, or ALL" \
        "an unknown capability in cap_add"
bare_pair badcap2 "command: [true]" "sandbox: {cap_drop: [CAP_FOO]}"
refused badcap2 "@F@:4:22: sandbox.cap_drop[0]: 'CAP_FOO' is not a capability; expected a capability name like NET_ADMIN or SYS_PTRACE, or ALL" \
        "an unknown capability in cap_drop"

# Profiles tfrun can judge before anything exists on both backends: not JSON, not an object, missing.
printf '{"defaultAction": "SCMP_ACT_ERRNO",\n' >"$TMPD/p-syntax.json"
echo '["SCMP_ACT_ALLOW"]' >"$TMPD/p-array.json"
for p in syntax array missing; do
        bare_pair "prof$p" "command: [true]" "sandbox: {seccomp: $TMPD/p-$p.json}"
done
# refused2 NAME WANT_NATIVE WANT_DOCKER DESCRIPTION: as refused, with the wording of each backend.
refused2() {
        local name=$1 desc=$4 b since want
        for b in native docker; do
                [ "$b" = native ] && want=$2 || want=$3
                since=$(date +%s)
                "$TFRUN" "$TMPD/$name-$b.yaml" >"$TMPD/$name-$b.out" 2>"$TMPD/$name-$b.err"
                is "$?" 125 "$desc, $b: exit 125"
                is "$(cat "$TMPD/$name-$b.err")" "tfrun: ${want//@F@/$TMPD/$name-$b.yaml}" "$desc, $b: message"
                is "$(containers_created "$name-$b" "$since")" 0 "$desc, $b: no container created"
        done
        no_cgroup_left "$name-native" "$desc"
}
refused2 profsyntax \
        "@F@:4:11: sandbox.seccomp: seccomp profile $TMPD/p-syntax.json:2:0: string or '}' expected near end of file" \
        "@F@:4:11: sandbox.seccomp: profile $TMPD/p-syntax.json:2:0: string or '}' expected near end of file" \
        "a seccomp profile that is not JSON"
refused2 profarray \
        "@F@:4:11: sandbox.seccomp: seccomp profile $TMPD/p-array.json: expected a JSON object" \
        "@F@:4:11: sandbox.seccomp: profile $TMPD/p-array.json: expected a JSON object (Docker's seccomp format)" \
        "a seccomp profile that is not an object"
refused2 profmissing \
        "@F@:4:11: sandbox.seccomp: seccomp profile $TMPD/p-missing.json: No such file or directory" \
        "@F@:4:11: sandbox.seccomp: open profile $TMPD/p-missing.json: No such file or directory" \
        "a seccomp profile that does not exist"

# Profiles that are JSON objects but not valid profiles: the native backend compiles them in the parent and
# refuses before anything exists; the docker backend passes them to the engine, which only judges them
# when runc starts the container (create succeeds, start fails). tfrun removes the container and exits 125.
echo '{"defaultAction": "SCMP_ACT_BOGUS"}' >"$TMPD/p-action.json"
echo '{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_BOGUS"]}' >"$TMPD/p-arch.json"
for p in action arch; do
        bare_pair "prof$p" "command: [true]" "sandbox: {seccomp: $TMPD/p-$p.json}"
done
# semantic NAME WANT_NATIVE DOCKER_REGEX DESCRIPTION
semantic() {
        local name=$1 desc=$3 since
        "$TFRUN" "$TMPD/$name-native.yaml" >/dev/null 2>"$TMPD/$name-native.err"
        is "$?" 125 "$desc, native: exit 125"
        is "$(cat "$TMPD/$name-native.err")" "tfrun: $TMPD/$name-native.yaml:4:11: sandbox.seccomp: $2" \
                "$desc, native: message"
        no_cgroup_left "$name-native" "$desc, native"
        since=$(date +%s)
        "$TFRUN" "$TMPD/$name-docker.yaml" >/dev/null 2>"$TMPD/$name-docker.err"
        is "$?" 125 "$desc, docker: exit 125"
        # The engine would only reject it at start; tfrun checks it with the native parser before create.
        is "$(cat "$TMPD/$name-docker.err")" "tfrun: $TMPD/$name-docker.yaml:4:11: sandbox.seccomp: $2" \
                "$desc, docker: the same message as native"
        no_container_left "$name-docker" "$desc, docker"
        is "$(containers_created "$name-docker" "$since")" 0 "$desc, docker: no container created"
}
semantic profaction "seccomp profile $TMPD/p-action.json: defaultAction: unknown action 'SCMP_ACT_BOGUS'" \
        "a seccomp profile with an unknown action"
semantic profarch "seccomp profile $TMPD/p-arch.json: architectures[0]: unknown architecture 'SCMP_ARCH_BOGUS'" \
        "a seccomp profile with an unknown architecture"

no_container_left "" "all runs"
done_testing
