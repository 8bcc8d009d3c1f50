#!/bin/bash
# SPDX-License-Identifier: MIT
# The docker backend's output against readers that do not read, on a real dockerd, through the real tfrun:
# with tfrun's stdout a pipe, a socket or a terminal nobody reads, the timeout and signals are acted on in
# time, the container goes, and the output that could not be delivered is dropped with a warning naming
# the bytes; with a reader that reads late, every byte arrives, in order. Every run with
# TFRUN_LOOP_WARN_MS=300 and TFRUN_LOOP_WARN_FATAL=1: a dispatch that blocks the loop aborts tfrun.
# Bounds are generous (seconds instead of the 20 s the reader stalls), never precise timings.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
need_root
command -v python3 >/dev/null || skip_all "needs python3"
. "$SRCDIR/tests/integration/docker-cli/common.sh"
export TFRUN_LOOP_WARN_MS=300 TFRUN_LOOP_WARN_FATAL=1
STALL="$SRCDIR/tests/integration/docker-cli/stall.py"

# stalled KIND SECS [stall.py options] -- SPEC: tfrun on SPEC with its stdout a KIND nobody reads for SECS;
# sets RC, MS, BYTES, ERR.
stalled() {
        local kind=$1 secs=$2
        shift 2
        read -r RC MS BYTES < <(python3 "$STALL" "$kind" "$secs" "$@" 2>"$TMPD/err")
        ERR=$(cat "$TMPD/err")
}
below() { # below MS LIMIT DESCRIPTION
        if [ "$1" -lt "$2" ]; then pass "$3 (${1} ms)"; else fail "$3"; diag "took $1 ms, bound $2 ms" "$ERR"; fi
}
loop_clean() {
        if echo "$ERR" | grep -q "loop: a dispatch took"; then fail "$1: no blocking dispatch"; diag "$ERR"
        else pass "$1: no blocking dispatch"; fi
}
dropped_warned() { # dropped_warned NAME DESCRIPTION
        if echo "$ERR" | grep -Eq "^tfrun: warning: $1: dropped [1-9][0-9]* bytes of the container's stdout and 0 of its stderr: nothing read them within 1 s of the run's end$"
        then pass "$2: the dropped output is named in a warning"
        else fail "$2: the dropped output is named in a warning"; diag "$ERR"; fi
}

# --- timeout: a container printing without end, tfrun's stdout never read for 20 s ---
S=$(spec flood "image: $IMAGE" "command: [sh, -c, 'i=0; while :; do echo line \$i; i=\$((i+1)); done']" \
        "timeout: 3s" "stop: {grace: 1s}")
for kind in pipe socket pty; do
        stalled $kind 20 -- "$TFRUN" "$S"
        is "$RC" 124 "$kind not read + timeout 3s: status 124"
        below "$MS" 6000 "$kind not read + timeout 3s: ends within 6 s"
        echo "$ERR" | grep -q "^tfrun: flood docker status=124 reason=timed-out "
        ok "$kind not read + timeout 3s: reason timed-out"
        dropped_warned flood "$kind not read + timeout 3s"
        loop_clean "$kind not read + timeout 3s"
        no_container_left flood "$kind not read + timeout 3s"
done

# --- SIGTERM to tfrun while its stdout is not read: forwarded, and the run ends in time ---
S=$(spec term "image: $IMAGE" "stop: {grace: 1s}" \
        "command: [sh, -c, 'yes line & c=\$!; trap \"kill \$c; exit 143\" TERM; wait']")
stalled pipe 20 --signal TERM@2 -- "$TFRUN" "$S"
is "$RC" 143 "pipe not read + SIGTERM: status 143"
below "$MS" 3000 "pipe not read + SIGTERM: ends within 3 s of the signal"
dropped_warned term "pipe not read + SIGTERM"
loop_clean "pipe not read + SIGTERM"
no_container_left term "pipe not read + SIGTERM"

# --- a reader that reads late: 10 MB arrive complete, nothing dropped ---
line=0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ
S=$(spec big "image: $IMAGE" "command: [sh, -c, 'yes $line | head -c 10485760']")
want=$(yes $line | head -c 10485760 | sha256sum | cut -d' ' -f1)
for kind in pipe socket; do
        stalled $kind 2 --out "$TMPD/big.out" -- "$TFRUN" "$S"
        is "$RC" 0 "10 MB, $kind read after 2 s: status 0"
        is "$BYTES" 10485760 "10 MB, $kind read after 2 s: every byte arrives"
        is "$(sha256sum <"$TMPD/big.out" | cut -d' ' -f1)" "$want" "10 MB, $kind read after 2 s: the same bytes"
        if echo "$ERR" | grep -q "dropped"; then fail "10 MB, $kind: nothing dropped"; diag "$ERR"
        else pass "10 MB, $kind: nothing dropped"; fi
        loop_clean "10 MB, $kind read after 2 s"
done
no_container_left big "10 MB"

# --- the order of stdout and stderr frames is kept through the queue (both on one pipe) ---
# 200 kB (whole lines) fill the pipe and the queue first, so that the lines after them wait in tfrun's queue.
S=$(spec order "image: $IMAGE" "command: [sh, -c, 'yes filler | head -c 199997; for i in 1 2 3 4 5; do echo out\$i; sleep 0.1; echo err\$i >&2; sleep 0.1; done']")
python3 - "$TFRUN" "$S" >"$TMPD/order.out" <<'EOS'
import os, subprocess, sys, time
r, w = os.pipe()
p = subprocess.Popen(sys.argv[1:], stdout=w, stderr=w)
os.close(w)
time.sleep(2.5)  # the container has written everything by now; nobody has read yet
data = b""
while True:
    d = os.read(r, 1 << 16)
    if not d:
        break
    data += d
p.wait()
sys.stdout.buffer.write(data)
EOS
got=$(grep -v -e '^filler$' -e '^tfrun: ' "$TMPD/order.out" | tr '\n' ' ')
is "$got" "out1 err1 out2 err2 out3 err3 out4 err4 out5 err5 " "2>&1 into one pipe read late: frames in the order written"
is "$(grep -c '^filler$' "$TMPD/order.out")" 28571 "2>&1 into one pipe read late: the filler complete"
no_container_left order "order"

done_testing
