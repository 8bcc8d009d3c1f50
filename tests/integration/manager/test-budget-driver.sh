#!/bin/bash
# SPDX-License-Identifier: MIT
# The budget gives containers HostConfig.CgroupParent as a cgroupfs path, which an engine with the systemd
# cgroup driver cannot use. The docker backend asks the engine (GET /info, on the loop) before the first
# container of a run with a cgroup parent: an engine saying CgroupDriver systemd (a fake engine: no real
# one here runs with that driver) fails the run with the driver named and what to change; the same
# engine saying cgroupfs runs it below the budget, and so does the real engine when there is one.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
need_root
command -v python3 >/dev/null || skip_all "needs python3"
. "$SRCDIR/tests/integration/manager/common.sh"
FAKE="$SRCDIR/tests/integration/docker-fake/fake-engine.py"
export DOCKER_HOST=unix://$TMPD/engine.sock
FP=
stop_fake() { [ -n "$FP" ] && kill "$FP" 2>/dev/null && wait "$FP" 2>/dev/null; FP=; }
trap 'stop_fake; cleanup_up' EXIT
fake() {
        stop_fake
        rm -f "$TMPD/engine"*
        python3 "$FAKE" "$TMPD/engine.sock" "$TMPD/engine" "$1" >"$TMPD/fake.out" 2>&1 &
        FP=$!
        for _ in $(seq 50); do grep -q ready "$TMPD/fake.out" 2>/dev/null && return; sleep 0.1; done
        echo "Bail out! fake engine did not start: $(cat "$TMPD/fake.out")"; exit 1
}
last() { v history "$1" --json 2>/dev/null | python3 -c 'import json,sys; r=json.load(sys.stdin)["runs"]; print(r[0]["status"] if r else "")'; }
budget_path() { sed -n 's/^tfrun: budget: \/sys\/fs\/cgroup\/memory\(\/[^ ]*\) (every run.*/\1/p' "$TMPD/up.log" | tail -1; }
wait_until() { local i; for ((i = 0; i < $2 * 10; i++)); do eval "$1" && return 0; sleep 0.1; done; return 1; }

printf 'budget: {memory: 256M}\n' >"$TMPD/set.yaml"
svc box "image: fake/busybox:latest" "command: [exit, '0']"

# ---- systemd: refused, named ----------------------------------------------------------------------------
fake systemd-driver
up --config "$TMPD/set.yaml"
BP=$(budget_path)
[ -n "$BP" ]; ok "the budget's path, from the log: $BP"
v trigger box >/dev/null
wait_until 'case "$(last box)" in "" | running) false ;; esac' 20; ok "the run ended"
is "$(last box)" failure "a container under the budget with a systemd-driver engine: the run fails"
want="$SVC/box.yaml: the Docker engine ($TMPD/engine.sock) uses the systemd cgroup driver (GET /info: CgroupDriver systemd), which cannot place containers below $BP, the cgroup of the manager's budget or of a workflow; expected an engine with the cgroupfs driver (dockerd --exec-opt native.cgroupdriver=cgroupfs, or \"exec-opts\": [\"native.cgroupdriver=cgroupfs\"] in daemon.json), or no budget: in the manager's settings"
grep -qF "$want" "$TMPD/up.log"; ok "the message names the driver, the cgroup and what to change"
grep -q "^create " "$TMPD/engine" 2>/dev/null; is "$?" 1 "no container was created"
v trigger box >/dev/null
wait_until '[ "$(v history box --json | python3 -c "import json,sys; print(len(json.load(sys.stdin)[\"runs\"]))")" = 2 ]' 20
is "$(grep -c "uses the systemd cgroup driver" "$TMPD/up.log")" 2 "a second run is refused as well (the driver asked once, kept)"
is "$(last box)" failure "... and fails"
down; is "$?" 0 "the manager stops"
san_check

# ---- cgroupfs: below the budget ---------------------------------------------------------------------------
fake ok
up --config "$TMPD/set.yaml"
BP=$(budget_path)
[ -n "$BP" ]; ok "the budget's path, from the log: $BP"
v trigger box >/dev/null
wait_until 'case "$(last box)" in "" | running) false ;; esac' 20
is "$(last box)" success "the same engine with the cgroupfs driver: the run succeeds"
is "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["HostConfig"]["CgroupParent"])' "$TMPD/engine.body")" \
        "$BP" "its container's CgroupParent is the budget"
grep -q "cgroup driver" "$TMPD/up.log"; is "$?" 1 "nothing said about the driver"
down
stop_fake
san_check

# ---- the real engine ----------------------------------------------------------------------------------------
if [ -S /var/run/docker.sock ] && drv=$(curl -sf --unix-socket /var/run/docker.sock http://localhost/info |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["CgroupDriver"])'); then
        unset DOCKER_HOST
        . "$SRCDIR/tests/integration/docker-cli/common.sh"
        svc box "image: $IMAGE" "command: [true]"
        up --config "$TMPD/set.yaml"
        v trigger box >/dev/null
        wait_until 'case "$(last box)" in "" | running) false ;; esac' 60
        if [ "$drv" = cgroupfs ]; then
                is "$(last box)" success "the real engine (CgroupDriver $drv): the run succeeds below the budget"
        else
                is "$(last box)" failure "the real engine (CgroupDriver $drv): refused"
        fi
        down
else
        skip "no dockerd at /var/run/docker.sock (scripts/setup-docker.sh starts one)"
fi

done_testing
