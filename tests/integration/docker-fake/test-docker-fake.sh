#!/bin/bash
# SPDX-License-Identifier: MIT
# The docker backend against a fake engine (fake-engine.py) for faults a real engine will not produce:
# garbage, an engine that never answers, one that drips, a cut attach stream, a slow DELETE, a kill never
# answered. Through the real tfrun binary; every run with TFRUN_LOOP_WARN_MS=300 and
# TFRUN_LOOP_WARN_FATAL=1, so a dispatch that blocks the loop aborts tfrun and fails the test. Bounds are
# generous (the point is seconds instead of the 30 s of a blocking call), never precise timings.
. "$SRCDIR/tests/lib.sh"
command -v python3 >/dev/null || skip_all "needs python3"
FAKE="$SRCDIR/tests/integration/docker-fake/fake-engine.py"
export DOCKER_HOST=unix://$TMPD/engine.sock TFRUN_LOOP_WARN_MS=300 TFRUN_LOOP_WARN_FATAL=1
FP=
stop_fake() { [ -n "$FP" ] && kill "$FP" 2>/dev/null && wait "$FP" 2>/dev/null; FP=; }
trap 'stop_fake; rm -rf "$TMPD"' EXIT
fake() {
        stop_fake
        python3 "$FAKE" "$TMPD/engine.sock" "$TMPD/state" "$1" >"$TMPD/fake.out" 2>&1 &
        FP=$!
        for _ in $(seq 50); do grep -q ready "$TMPD/fake.out" 2>/dev/null && return; sleep 0.1; done
        echo "Bail out! fake engine did not start: $(cat "$TMPD/fake.out")"; exit 1
}
spec() {
        local f="$TMPD/$1.yaml"
        { echo "name: $1"; echo "image: fake/busybox:latest"; printf '%s\n' "${@:2}"; } >"$f"
        echo "$f"
}
# run SPEC [SIGNAL DELAY [COUNT]]: tfrun on SPEC, optionally signalled COUNT times (0.1 s apart) after
# DELAY s; sets RC, SECS (ms, from the first signal when there was one), ERR.
run() {
        local t0 t1
        t0=$(date +%s%N)
        "$TFRUN" "$1" >"$TMPD/out" 2>"$TMPD/err" &
        local p=$!
        if [ -n "${2:-}" ]; then
                sleep "$3"
                t0=$(date +%s%N)
                for _ in $(seq "${4:-1}"); do kill -"$2" "$p"; sleep 0.1; done
        fi
        wait "$p"
        RC=$?
        t1=$(date +%s%N)
        SECS=$(( (t1 - t0) / 1000000 ))
        ERR=$(cat "$TMPD/err")
}
loop_clean() {
        if grep -q "loop: a dispatch took" "$TMPD/err"; then fail "$1: no blocking dispatch"; diag "$ERR"
        else pass "$1: no blocking dispatch"; fi
}
nothing_left() {
        if [ -s "$TMPD/state.live" ]; then fail "$1: no container left"; diag "left: $(cat "$TMPD/state.live")"
        else pass "$1: no container left"; fi
}
below() { # below MS LIMIT DESCRIPTION
        if [ "$1" -lt "$2" ]; then pass "$3 (${1} ms)"; else fail "$3"; diag "took $1 ms, bound $2 ms"; fi
}

# --- garbage: a clear start failure, at once ---
fake garbage
S=$(spec garb "command: [exit, '0']")
run "$S"
is "$RC" 125 "garbage: status 125"
echo "$ERR" | grep -q "^tfrun: $S: ping Docker engine: talking to the Docker engine at unix://$TMPD/engine.sock: "
ok "garbage: the message names the call and the socket"
loop_clean garbage

# --- an engine that never answers: signals and timeout acted on while starting ---
# A one-shot tfrun forwards the first SIGTERM/SIGINT to the service and stops it at the second; while
# the container does not exist yet there is nothing to forward to, so the second one is what acts.
fake hang
S=$(spec hang "command: [sleep, '30']")
for sig in TERM INT; do
        run "$S" $sig 1 2
        is "$RC" 143 "hang + SIG$sig: status 143 (the stop signal's)"
        below "$SECS" 2000 "hang + SIG$sig: acted on within 2 s"
        echo "$ERR" | grep -qx "tfrun: $S: stopped while connecting to the Docker engine at unix://$TMPD/engine.sock"
        ok "hang + SIG$sig: says what it was doing"
        echo "$ERR" | grep -q "hang docker status=143 reason=cancelled"
        ok "hang + SIG$sig: reason cancelled"
        loop_clean "hang + SIG$sig"
done
S=$(spec hangt "command: [sleep, '30']" "timeout: 1s")
run "$S"
is "$RC" 124 "hang + timeout 1s: status 124"
below "$SECS" 3000 "hang + timeout 1s: ends within 3 s"
echo "$ERR" | grep -q "hangt docker status=124 reason=timed-out"
ok "hang + timeout: reason timed-out"
loop_clean "hang + timeout"

# --- an engine that drips its answer: the loop goes on ---
fake drip
S=$(spec drip "command: [sleep, '30']")
run "$S" TERM 1 2
is "$RC" 143 "drip + SIGTERM: status 143"
below "$SECS" 2000 "drip + SIGTERM: acted on within 2 s"
loop_clean "drip"

# --- the attach stream cut while the container runs: the timeout still acts ---
fake cut-attach
S=$(spec cut "command: [sleep, '30']" "timeout: 2s")
run "$S"
is "$RC" 124 "cut attach stream + timeout 2s: status 124"
below "$SECS" 5000 "cut attach stream + timeout 2s: ends within 5 s (was 11 s)"
grep -q "^kill .* SIGTERM" "$TMPD/state"
ok "cut attach stream: the stop signal reached the container"
nothing_left "cut attach stream"
loop_clean "cut attach stream"

# --- a running container, SIGTERM to tfrun (forwarded, then a stop), a short job ---
fake ok
S=$(spec run "command: [sleep, '30']")
run "$S" TERM 1
is "$RC" 143 "running + SIGTERM: status 143"
below "$SECS" 2000 "running + SIGTERM: forwarded within 2 s"
echo "$ERR" | grep -q "run docker status=143 reason=signaled signal=SIGTERM"
ok "running + SIGTERM: the container died of the forwarded SIGTERM"
grep -q "^kill .* SIGTERM" "$TMPD/state"
ok "running + SIGTERM: forwarded to the container"
nothing_left "running + SIGTERM"
S=$(spec short "command: [exit, '3']")
run "$S"
is "$RC" 3 "short job: its exit status"
grep -q "^fake output$" "$TMPD/out"
ok "short job: its output"
nothing_left "short job"
loop_clean "ok engine"

# --- a slow DELETE: tfrun waits for it, the summary does not ---
fake delay-delete
S=$(spec slowrm "command: [exit, '0']")
run "$S"
is "$RC" 0 "slow DELETE: status 0"
[ "$SECS" -ge 1400 ]
ok "slow DELETE: tfrun waited for the DELETE before exiting ($SECS ms)"
grep -q "^delete " "$TMPD/state"
ok "slow DELETE: the DELETE completed"
nothing_left "slow DELETE"
loop_clean "slow DELETE"

# --- a kill the engine never answers: bounded after SIGKILL ---
fake hang-kill
S=$(spec hangkill "command: [sleep, '30']" "timeout: 1s" "stop: {grace: 1s}")
run "$S"
is "$RC" 124 "kill never answered: status 124"
below "$SECS" 12000 "kill never answered: ends within timeout + grace + 5 s + slack"
echo "$ERR" | grep -q "the container did not end within 5 s of SIGKILL"
ok "kill never answered: says it gave up"
loop_clean "kill never answered"

# --- a create answered with a warning that drops a limit: refused with the key's position, removed ---
fake warn-swap
S=$(spec warnsw "command: [exit, '0']" "limits: {memory: 64M, memory_swap: 32M}")
run "$S"
is "$RC" 125 "dropped swap limit: status 125"
is "$ERR" "tfrun: $S:4:23: limits.memory_swap: the Docker engine would drop this limit: \"Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.\" (remove it or use backend: native)" \
        "dropped swap limit: the message names memory_swap and its position"
S=$(spec warnmem "command: [exit, '0']" "limits: {memory: 64M}")
run "$S"
is "$RC" 125 "dropped swap limit, memory alone: status 125"
echo "$ERR" | grep -q "^tfrun: $S:4:10: limits.memory: the Docker engine would drop this limit: "
ok "dropped swap limit, memory alone: the message names memory"
grep -q "^delete " "$TMPD/state"
ok "dropped swap limit: the created container is deleted"
nothing_left "dropped swap limit"
fake warn-pids
S=$(spec warnpids "command: [exit, '0']" "limits: {pids: 20}")
run "$S"
is "$RC" 125 "dropped pids limit: status 125"
echo "$ERR" | grep -q "^tfrun: $S:4:10: limits.pids: the Docker engine would drop this limit: \"Your kernel does not support pids limit"
ok "dropped pids limit: the message names pids and its position"
nothing_left "dropped pids limit"
loop_clean "dropped limits"

stop_fake
done_testing
