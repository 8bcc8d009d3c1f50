#!/bin/bash
# SPDX-License-Identifier: MIT
# Each run's output kept (tfrun --log-dir, runner/outlog.c) on the backend named by $1 (native, docker):
# lines of both streams with their timestamps, the last line without newline, long lines in pieces, the
# cap with its marker and exact counts, a grandchild that keeps stdout open, a chatty run that does not
# hold the loop (tap_env sets TFRUN_LOOP_WARN_MS and makes a slow dispatch fatal), a lagging reader of
# the copy that loses nothing, and log directories that are refused.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
need_root
BACKEND=${1:?usage: test-logs.sh native|docker}
CHECK="$SRCDIR/tests/integration/logs/logcheck.py"
if [ "$BACKEND" = docker ]; then
        . "$SRCDIR/tests/integration/docker-cli/common.sh"
fi
L=$TMPD/logs

# mk NAME SCRIPT [LINES...]: a spec running `sh -c SCRIPT` on the backend under test.
mk() {
        local name=$1 script=$2
        shift 2
        if [ "$BACKEND" = docker ]; then
                spec "$name" "image: $IMAGE" "command: [sh, -c, '$script']" "$@"
        else
                spec "$name" "command: [sh, -c, '$script']" "$@"
        fi
}
# jget NAME KEY: a field of the result of the last run of NAME (--json-file $TMPD/NAME.json).
jget() {
        python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print("null" if v is None else str(v).lower() if isinstance(v, bool) else v)' \
                "$TMPD/$1.json" "$2"
}
# run NAME [OPTIONS...]: tfrun -q --log-dir $L --json-file $TMPD/NAME.json OPTIONS $TMPD/NAME.yaml, stdout in
# $TMPD/NAME.out, stderr in $TMPD/NAME.err; sets RC and T0 (the start, epoch seconds).
run() {
        local name=$1
        shift
        T0=$(date +%s.%N)
        "$TFRUN" -q --log-dir "$L" --json-file "$TMPD/$name.json" "$@" "$TMPD/$name.yaml" >"$TMPD/$name.out" 2>"$TMPD/$name.err"
        RC=$?
}
# stream NAME STREAM: what the log of NAME's last run says STREAM wrote (and that every line is well formed).
stream() {
        python3 "$CHECK" "$(jget "$1" log_path)" "$T0" "$2" || echo "<malformed log>"
}

# Both streams, interleaved, each ending without a newline.
mk mixed 'echo out1; echo err1 >&2; echo out2; echo err2 >&2; printf lastout; printf lasterr >&2' >/dev/null
run mixed
is "$RC" 0 "$BACKEND: a run with --log-dir exits with its status"
is "$(cat "$TMPD/mixed.out"; echo .)" "out1
out2
lastout." "$BACKEND: tfrun's stdout still has the run's stdout, byte for byte"
grep -q lasterr "$TMPD/mixed.err"; ok "$BACKEND: and its stderr the run's stderr"
log=$(jget mixed log_path)
case $log in "$L/mixed/mixed-"*.log) pass "$BACKEND: log_path is DIR/SERVICE/RUN_ID.log" ;;
*) fail "$BACKEND: log_path is DIR/SERVICE/RUN_ID.log"; diag "got: $log" ;; esac
is "$(jget mixed run_id)" "$(basename "$log" .log)" "$BACKEND: the log is named by the run id"
is "$(stream mixed stdout)" "out1
out2
lastout" "$BACKEND: the log has the stdout lines in order, the last one without newline too, timestamps valid"
is "$(stream mixed stderr)" "err1
err2
lasterr" "$BACKEND: and the stderr lines in order"
is "$(jget mixed output_bytes)" 34 "$BACKEND: output_bytes counts both streams"
is "$(jget mixed output_lines)" 6 "$BACKEND: output_lines counts the lines of both (a last one without newline too)"
is "$(jget mixed log_bytes)" "$(stat -c %s "$log")" "$BACKEND: log_bytes is the file's size"
is "$(jget mixed log_truncated)" false "$BACKEND: not truncated"
is "$(stat -c %a "$log") $(stat -c %a "$L/mixed") $(stat -c %a "$L")" "600 700 700" \
        "$BACKEND: the log is 0600, its directories 0700"

# A line longer than the bound (16 KiB) is written in pieces; joined, they are the line.
mk long 'head -c 40000 /dev/zero | tr "\0" x; echo; echo short' >/dev/null
run long
is "$(stream long kinds | tr '\n' ' ')" "stdout/partial stdout/partial stdout stdout " \
        "$BACKEND: a 40000-byte line is two 16 KiB partial pieces and its end"
is "$(stream long stdout | md5sum)" "$( (head -c 40000 /dev/zero | tr '\0' x; echo; echo short) | md5sum)" \
        "$BACKEND: the pieces joined are the line"
is "$(jget long output_lines)" 2 "$BACKEND: a long line counts once"

# Past the cap: one marker line, the rest only counted, the run unaffected.
mk capped 'yes 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopq | head -c 1000000' >/dev/null
run capped --log-max 64K
is "$RC" 0 "$BACKEND: a run past the cap succeeds"
is "$(jget capped output_bytes) $(jget capped output_lines) $(jget capped log_truncated)" "1000000 10000 true" \
        "$BACKEND: exact counts of what it wrote, truncated"
log=$(jget capped log_path)
size=$(stat -c %s "$log")
marker=$(tail -n 1 "$log")
kept=$((size - ${#marker} - 1))
case $marker in *" tfrun log truncated at $kept bytes: further output is counted, not kept") pass "$BACKEND: the last line says where the log was truncated" ;;
*) fail "$BACKEND: the last line says where the log was truncated"; diag "got: $marker" "kept: $kept" ;; esac
[ "$kept" -le 65536 ] && [ "$kept" -gt 60000 ]; ok "$BACKEND: the log holds up to the cap ($kept of 65536 bytes)"
is "$(jget capped log_bytes)" "$size" "$BACKEND: log_bytes is the file's size, marker included"
stream capped stdout | sort -u >"$TMPD/capped.kept"
is "$(cat "$TMPD/capped.kept")" "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopq" \
        "$BACKEND: only whole lines were kept"

# A grandchild that keeps stdout open after the main process is gone does not keep the run alive.
mk orphan 'echo main1; (sleep 31.5; echo late) & echo main2' >/dev/null
s=$(date +%s)
run orphan
is "$RC" 0 "$BACKEND: the run with a lingering grandchild ends with its main process"
[ $(($(date +%s) - s)) -lt 10 ]; ok "$BACKEND: in time, not when the grandchild ends"
is "$(stream orphan stdout)" "main1
main2" "$BACKEND: the log has the main process's lines"
[ "$BACKEND" = native ] && no_process_left "sleep 31.5" "$BACKEND: lingering grandchild"

# A timeout: what it wrote before is kept.
mk slow 'echo before; exec sleep 30' "timeout: 1s" >/dev/null
run slow
is "$RC" 124 "$BACKEND: a timed-out run"
is "$(stream slow stdout)" "before" "$BACKEND: keeps what it wrote before its timeout"

# A chatty run (50 MiB of short lines natively; 10 MiB on docker, where every 2-byte write of busybox's
# yes is a frame of its own and the engine, not tfrun, takes a minute for 50): the loop never warns (a
# slow dispatch is fatal under tap_env).
[ "$BACKEND" = docker ] && MB=10 || MB=50
mk chatty "yes | head -c $((MB << 20))" >/dev/null
T0=$(date +%s.%N)
"$TFRUN" -q --log-dir "$L" --json-file "$TMPD/chatty.json" "$TMPD/chatty.yaml" >/dev/null 2>"$TMPD/chatty.err"
is "$?" 0 "$BACKEND: $MB MiB of output through the log"
is "$(cat "$TMPD/chatty.err")" "" "$BACKEND: no loop warning, no message"
is "$(jget chatty output_bytes) $(jget chatty output_lines) $(jget chatty log_truncated)" "$((MB << 20)) $((MB << 19)) true" \
        "$BACKEND: every byte and line counted"

# A reader of tfrun's stdout that lags: the copy holds the run back rather than lose a byte.
mk lag 'head -c 3000000 /dev/zero | tr "\0" y | fold -w 99' >/dev/null
got=$("$TFRUN" -q --log-dir "$L" "$TMPD/lag.yaml" | (sleep 1; md5sum))
is "$got" "$(head -c 3000000 /dev/zero | tr '\0' y | fold -w 99 | md5sum)" \
        "$BACKEND: a lagging reader of tfrun's stdout gets every byte"

# Log directories tfrun does not write into.
mk refused 'echo ran >&2' >/dev/null
mkdir -p "$TMPD/l2" "$TMPD/elsewhere"
chmod 700 "$TMPD/l2"
ln -s "$TMPD/elsewhere" "$TMPD/l2/refused"
"$TFRUN" --log-dir "$TMPD/l2" "$TMPD/refused.yaml" >/dev/null 2>"$TMPD/refused.err"
is "$?" 125 "$BACKEND: a symbolic link at DIR/SERVICE: refused"
is "$(cat "$TMPD/refused.err")" "tfrun: log directory $TMPD/l2/refused is a symbolic link; tfrun keeps logs only in a directory of its own: remove the link" \
        "$BACKEND: the message names the link, nothing ran"
is "$(ls -A "$TMPD/elsewhere")" "" "$BACKEND: nothing was written where the link points"
mkdir -p "$TMPD/l3/refused"
chmod 777 "$TMPD/l3/refused"
"$TFRUN" --log-dir "$TMPD/l3" "$TMPD/refused.yaml" >/dev/null 2>"$TMPD/refused.err"
is "$?:$(cat "$TMPD/refused.err")" "125:tfrun: log directory $TMPD/l3/refused can be written by others (mode 0777); make it 0700" \
        "$BACKEND: a directory others can write to: refused"
[ "$BACKEND" = docker ] && no_container_left refused "$BACKEND: refused runs"

if [ "$BACKEND" = native ]; then
        # Without --log-dir, nothing changes: no log fields in the result.
        f=$(spec plain "command: [echo, hi]")
        "$TFRUN" -q --json-file "$TMPD/plain.json" "$f" >/dev/null
        is "$(jget plain output_bytes 2>/dev/null || echo absent)" absent "without --log-dir: no log fields"
        "$TFRUN" --log-max 1M "$f" >/dev/null 2>"$TMPD/opt.err"
        is "$?:$(cat "$TMPD/opt.err")" "125:tfrun: run: --log-max needs --log-dir" "--log-max alone: refused"
        "$TFRUN" --log-dir "$L" --log-max 12 "$f" >/dev/null 2>"$TMPD/opt.err"
        is "$?:$(cat "$TMPD/opt.err")" "125:tfrun: run: --log-max takes a size of at least 1K (10M, 512K, 1G), not '12'" \
                "--log-max too small: refused"
fi

done_testing
