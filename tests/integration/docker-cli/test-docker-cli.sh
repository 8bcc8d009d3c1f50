#!/bin/bash
# SPDX-License-Identifier: MIT
# The docker backend through the tfrun CLI, on a real dockerd, side by side with the native backend: the
# same spec on both gives the same effective limits, the same OOM report, the same exit statuses; output
# arrives complete and on the right streams; signals and timeouts behave; every bad situation says why
# with 125; and no container is left behind.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
need_root

. "$SRCDIR/tests/integration/docker-cli/common.sh"



# --- effective limits read inside are the native ones ---
pair eff "command: [$PROBE, limits]" "limits: {memory: 64M, pids: 20, cpus: 0.5, cpuset: '0'}"
nat=$("$TFRUN" -q "$TMPD/eff-native.yaml" | grep -v '^cgroup=')
dkr=$("$TFRUN" -q "$TMPD/eff-docker.yaml" | grep -v '^cgroup=')
is "$dkr" "$nat" "effective limits inside the container equal the native ones"
echo "$dkr" | grep -qx 'memory=67108864' && echo "$dkr" | grep -qx 'pids=20' &&
        echo "$dkr" | grep -qx 'cpu_quota=50000' && echo "$dkr" | grep -qx 'cpu_period=100000' &&
        echo "$dkr" | grep -qx 'cpuset=0'
ok "docker: memory 67108864, pids 20, cpu 50000/100000, cpuset 0"
diag "$dkr"
no_container_left eff-docker "limits"

# --- OOM: reported alike on both ---
pair oom "command: [$PROBE, alloc, '200']" "limits: {memory: 32M, memory_swap: 0}"
for b in native docker; do
        "$TFRUN" --json "$TMPD/oom-$b.yaml" >"$TMPD/oom-$b.json" 2>/dev/null
        is "$?" 137 "$b: 200M under memory 32M exits 137"
        is "$(json_get "$TMPD/oom-$b.json" reason)" oom-killed "$b: reason oom-killed"
        is "$(json_get "$TMPD/oom-$b.json" state)" oom-killed "$b: state oom-killed"
        "$TFRUN" "$TMPD/oom-$b.yaml" 2>"$TMPD/oom-$b.err" >/dev/null
        grep -q "oom-$b $b status=137 reason=oom-killed signal=SIGKILL" "$TMPD/oom-$b.err"
        ok "$b: OOM in the summary line"
done
no_container_left oom-docker "OOM"

# --- pids limit bites ---
pair pids "command: [$PROBE, fork, '100']" "limits: {pids: 16}"
"$TFRUN" -q "$TMPD/pids-docker.yaml" >"$TMPD/pids.out"
forked=$(sed -n 's/^forked=\([0-9]*\) failed=\([0-9]*\)$/\1/p' "$TMPD/pids.out")
failed=$(sed -n 's/^forked=\([0-9]*\) failed=\([0-9]*\)$/\2/p' "$TMPD/pids.out")
[ -n "$forked" ] && [ "$forked" -le 15 ] && [ "$failed" -ge 85 ]
ok "docker: pids 16: at most 15 forks succeed ($forked ok, ${failed:-?} failed)"

# --- exit codes and death by signal propagate alike ---
for c in 0 3; do
        pair "exit$c" "command: [$PROBE, exit, '$c']"
        for b in native docker; do
                "$TFRUN" -q "$TMPD/exit$c-$b.yaml"
                is "$?" "$c" "$b: exit $c propagates"
        done
done
# A container's PID 1 cannot die of a signal it has no handler for (the kernel protects a namespace's
# init), so the signalled process is a child of sh on both backends, and sh reports 128+N.
pair sig "command: [sh, -c, '$PROBE kill-self 15; exit \$?']"
for b in native docker; do
        "$TFRUN" -q "$TMPD/sig-$b.yaml"
        is "$?" 143 "$b: death by SIGTERM gives 143"
done
pair sigk "command: [sh, -c, '$PROBE kill-self 9; exit \$?']"
"$TFRUN" --json "$TMPD/sigk-docker.yaml" >"$TMPD/sigk.json" 2>/dev/null
is "$?" 137 "docker: death by SIGKILL gives 137"
is "$(json_get "$TMPD/sigk.json" reason)" signaled "docker: without OOMKilled, 137 is a kill, not an OOM"
pair nocmd "command: [no-such-command-tfrun]"
for b in native docker; do
        "$TFRUN" -q "$TMPD/nocmd-$b.yaml" 2>/dev/null
        is "$?" 127 "$b: a missing command gives 127"
done
no_container_left exit3-docker "exit codes"
no_container_left nocmd-docker "missing command"

# --- timeout: stop signal (ignored by a PID 1 sleep), grace, SIGKILL; 124; container removed ---
spec to "image: $IMAGE" "command: [sleep, '30']" "timeout: 1s" "stop: {grace: 1s}" >/dev/null
start=$(date +%s%N)
"$TFRUN" "$TMPD/to.yaml" 2>"$TMPD/to.err"
is "$?" 124 "docker: timeout gives 124"
el=$((($(date +%s%N) - start) / 1000000))
[ "$el" -lt 10000 ]; ok "docker: timed out run ended after ${el}ms (timeout 1s + grace 1s), not after 30s"
grep -q 'status=124 reason=timed-out' "$TMPD/to.err"; ok "docker: timeout in the summary line"
no_container_left to "timeout"

# --- SIGTERM to tfrun is forwarded to the container; a second one stops it per stop: ---
spec term "image: $IMAGE" "command: [sh, -c, 'trap \"echo got-term; exit 7\" TERM; echo ready; sleep 30 & wait']" >/dev/null
"$TFRUN" -q "$TMPD/term.yaml" >"$TMPD/term.out" &
p=$!
for _ in $(seq 50); do grep -q ready "$TMPD/term.out" 2>/dev/null && break; sleep 0.1; done
kill -TERM $p
wait $p
is "$?" 7 "docker: SIGTERM forwarded: the service's handler ran and its exit code 7 came back"
grep -qx got-term "$TMPD/term.out"; ok "docker: the service saw SIGTERM"
no_container_left term "SIGTERM"

spec term2 "image: $IMAGE" "command: [sh, -c, 'echo ready; exec sleep 30']" "stop: {grace: 1s}" >/dev/null
"$TFRUN" "$TMPD/term2.yaml" >"$TMPD/term2.out" 2>"$TMPD/term2.err" &
p=$!
for _ in $(seq 50); do grep -q ready "$TMPD/term2.out" 2>/dev/null && break; sleep 0.1; done
kill -TERM $p
sleep 0.3
kill -TERM $p
wait $p
is "$?" 137 "docker: a second SIGTERM stops the run per stop: (PID 1 ignores SIGTERM, SIGKILL after grace)"
grep -q 'reason=cancelled' "$TMPD/term2.err"; ok "docker: reported as cancelled"
no_container_left term2 "second SIGTERM"

# --- output: complete and on the right streams ---
pair big "command: [$PROBE, output, '10485760']"
"$TFRUN" -q "$TMPD/big-docker.yaml" >"$TMPD/big-docker.out"
"$TFRUN" -q "$TMPD/big-native.yaml" >"$TMPD/big-native.out"
is "$(stat -c %s "$TMPD/big-docker.out")" 10485760 "docker: 10 MB of stdout arrive complete"
cmp -s "$TMPD/big-docker.out" "$TMPD/big-native.out"; ok "docker: and byte for byte as on the native backend"

# Lines written with pauses between them keep their order and their stream. Back-to-back writes to the two
# streams may be reordered by the engine itself (it copies stdout and stderr in separate goroutines; `docker
# run` shows the same), so only paced output is compared across streams.
pair lines "command: [sh, -c, 'echo o1; sleep 0.2; echo e1 >&2; sleep 0.2; echo o2; sleep 0.2; echo e2 >&2; sleep 0.2; echo o3']"
for b in native docker; do
        "$TFRUN" -q "$TMPD/lines-$b.yaml" >"$TMPD/lines-$b.both" 2>&1
        is "$(tr '\n' ' ' <"$TMPD/lines-$b.both")" "o1 e1 o2 e2 o3 " "$b: paced lines arrive in order"
        "$TFRUN" -q "$TMPD/lines-$b.yaml" >"$TMPD/lines-$b.out" 2>"$TMPD/lines-$b.err"
        is "$(tr '\n' ' ' <"$TMPD/lines-$b.out")/$(tr '\n' ' ' <"$TMPD/lines-$b.err")" "o1 o2 o3 /e1 e2 " \
                "$b: stdout and stderr on the right streams"
done
no_container_left lines-docker "output"

# --- --json and the summary name the docker backend ---
spec js "image: $IMAGE" "command: [true]" >/dev/null
"$TFRUN" --json "$TMPD/js.yaml" >"$TMPD/js.json"
is "$(json_get "$TMPD/js.json" backend)/$(json_get "$TMPD/js.json" status)/$(json_get "$TMPD/js.json" memory_peak_bytes)" \
        "docker/0/null" "--json: backend docker, status 0, memory peak unknown (null)"

# --- bad situations: 125, a clear message, nothing left behind ---
# bad NAME WANT_MESSAGE_REGEX DESCRIPTION [env/command prefix...] : runs tfrun on $TMPD/NAME.yaml
bad() {
        local name=$1 want=$2 desc=$3
        shift 3
        "$@" "$TFRUN" "$TMPD/$name.yaml" >"$TMPD/$name.out" 2>"$TMPD/$name.err"
        is "$?" 125 "$desc: exit 125"
        if grep -qE -- "$want" "$TMPD/$name.err"; then pass "$desc: message"; else
                fail "$desc: message"
                diag "got: $(cat "$TMPD/$name.err")" "want: /$want/"
        fi
        no_container_left "$name" "$desc"
}
spec ok1 "image: $IMAGE" "command: [true]" >/dev/null
bad ok1 "ping Docker engine: connect to the Docker engine at unix://$TMPD/missing.sock: No such file or directory \(is dockerd running\? DOCKER_HOST selects another socket\)" \
        "no daemon (DOCKER_HOST at a missing socket)" env DOCKER_HOST="unix://$TMPD/missing.sock"
chmod 755 "$TMPD"
chmod 644 "$TMPD/ok1.yaml"
bad ok1 "connect to the Docker engine at unix://$SOCK: Permission denied \(the socket is not accessible to this user" \
        "permission denied (unprivileged user)" setpriv --reuid=65534 --regid=65534 --clear-groups
spec nopull "image: 127.0.0.1:1/nope:1.0" "command: [true]" >/dev/null
bad nopull "image 127.0.0.1:1/nope:1.0 is not present locally and cannot be pulled: pull image '127.0.0.1:1/nope:1.0': engine said 500: .*connection refused" \
        "image absent and not pullable"
spec badref "image: 'Bad/Ref:1'" "command: [true]" >/dev/null
bad badref "badref.yaml:2:1: image: invalid image reference 'Bad/Ref:1': repository name must be lowercase" \
        "invalid image reference"
spec cpuset99 "image: $IMAGE" "command: [true]" "limits: {cpuset: '99'}" >/dev/null
bad cpuset99 "cpuset99.yaml: create container: engine said 400: Requested CPUs are not available - requested 99" \
        "create rejected by the engine (cpuset 99)"
spec memhigh "image: $IMAGE" "command: [true]" "limits: {memory_high: 10M}" >/dev/null
bad memhigh "memhigh.yaml:4:10: limits.memory_high: Docker has no equivalent of memory.high" \
        "memory_high refused"
spec iow5 "image: $IMAGE" "command: [true]" "limits: {io_weight: 5}" >/dev/null
bad iow5 "iow5.yaml:4:10: limits.io_weight: Docker's BlkioWeight accepts 10..1000, got 5" \
        "io_weight outside 10..1000 refused"
# This host's v1 blkio has no weight file: the engine answers the create with a warning and would run the
# container without the limit.
if [ -e "$(awk -F: '$2 == "blkio" {print "/sys/fs/cgroup/blkio" $3}' /proc/self/cgroup)/blkio.weight" ]; then
        skip "the engine supports BlkioWeight here: no dropped-limit warning to provoke"
else
        spec iow100 "image: $IMAGE" "command: [true]" "limits: {io_weight: 100}" >/dev/null
        bad iow100 "iow100.yaml:4:10: limits.io_weight: the Docker engine would drop this limit: \"Your kernel does not support Block I/O weight.*Weight discarded.\" \(remove it or use backend: native\)" \
                "engine warning that drops a limit (BlkioWeight)"
fi
# An engine older than API 1.41: a fake one (no such engine can run here) that answers only /_ping and
# /version the way Docker 1.13 did.
cat >"$TMPD/old-engine.py" <<'PY'
import http.server, socketserver, sys, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/_ping":
            body, ctype = b"OK", "text/plain"
        elif self.path == "/version":
            body, ctype = b'{"Version":"1.13.1","ApiVersion":"1.26","MinAPIVersion":"1.12"}', "application/json"
        else:
            self.send_response(404); self.end_headers(); return
        self.send_response(200)
        self.send_header("Api-Version", "1.26")
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
class S(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    def get_request(self):
        r, _ = super().get_request()
        return r, ("local", 0)
S(sys.argv[1], H).serve_forever()
PY
python3 "$TMPD/old-engine.py" "$TMPD/old.sock" &
old_pid=$!
for _ in $(seq 50); do [ -S "$TMPD/old.sock" ] && break; sleep 0.1; done
bad ok1 "Docker engine 1.13.1 at unix://$TMPD/old.sock speaks API 1.26; tfrun needs API 1.41 or newer \(Docker 20.10\+\): upgrade the engine" \
        "engine too old (a fake engine speaking API 1.26)" env DOCKER_HOST="unix://$TMPD/old.sock"
kill "$old_pid"
wait "$old_pid" 2>/dev/null

# --- a container left by a crashed tfrun is removed on the next run of its service ---
sh -c 'exit 0' &
dead=$!
wait $dead
stale=$(curl -sf --unix-socket "$SOCK" -H 'Content-Type: application/json' \
        -d "{\"Image\":\"$IMAGE\",\"Cmd\":[\"sleep\",\"60\"],\"Labels\":{\"tfrun.service\":\"stale\",\"tfrun.run\":\"stale-$dead-1\"},\"HostConfig\":{\"NetworkMode\":\"none\"}}" \
        http://localhost/containers/create | python3 -c 'import json,sys; print(json.load(sys.stdin)["Id"])')
curl -sf --unix-socket "$SOCK" -X POST "http://localhost/containers/$stale/start"
# A container of a live tfrun (this shell's pid is not tfrun's, but a live tfrun is what matters: use one).
spec stale "image: $IMAGE" "command: [true]" >/dev/null
"$TFRUN" -q "$TMPD/stale.yaml" 2>"$TMPD/stale.err"
is "$?" 0 "stale: the next run succeeds"
grep -q "stale: removed container ${stale:0:12} left by run stale-$dead-1 (its tfrun, pid $dead, is gone)" "$TMPD/stale.err"
ok "stale: a log line names the removed container"
no_container_left stale "stale container"

spec live "image: $IMAGE" "command: [sleep, '3']" >/dev/null
"$TFRUN" -q "$TMPD/live.yaml" &
lp=$!
sleep 1
"$TFRUN" -q "$TMPD/live.yaml" 2>"$TMPD/live.err"
! grep -q "removed container" "$TMPD/live.err"
ok "stale: the container of a running tfrun is left alone"
wait $lp
is "$?" 0 "stale: the concurrent run was not disturbed"

# --- at the end: no container with label tfrun.service remains ---
no_container_left "" "all runs"
# ^C typed at a terminal: the container is in no process group of ours, so tfrun forwards it (once).
f=$(spec dctrlc "image: $IMAGE" "command: [sh, -c, 'trap \"echo got-INT; exit 9\" INT; echo ready; while :; do sleep 0.1; done']")
out=$(python3 "$SRCDIR/tests/integration/native/ctrl-c.py" "$TFRUN" "$f" ready)
is "$(echo "$out" | head -1)" 9 "docker: ^C on a terminal reaches the container (status 9)"
is "$(echo "$out" | grep -c got-INT)" 1 "docker: ^C delivered exactly once"

done_testing
