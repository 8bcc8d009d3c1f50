#!/bin/bash
# SPDX-License-Identifier: MIT
# File triggers (schedule.path) with real inotify: a burst of 100 files is one fire; exists, glob, changed,
# modified and not_empty each fire, also for paths whose directories appear later; combined with every:
# under the manager (history: trigger "path" beside "schedule"); a one-shot `tfrun FILE` with only a path
# trigger stays resident until SIGTERM. Counts and order, not timings.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
need_root
W=$TMPD/watched
mkdir -p "$W"
PIDS=()
cleanup() {
        for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
        rm -rf "$TMPD"
}
trap cleanup EXIT

lines() { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }
wait_lines() {
        local i
        for ((i = 0; i < $3 * 10; i++)); do
                [ "$(lines "$1")" -ge "$2" ] && return 0
                sleep 0.1
        done
        return 1
}
wait_grep() {
        local i
        for ((i = 0; i < $3 * 10; i++)); do
                grep -q -- "$1" "$2" 2>/dev/null && return 0
                sleep 0.1
        done
        return 1
}
# fired NAME N: NAME ran N times and its Nth run has ended (a fire while a run goes on meets overlap: skip).
fired() {
        wait_lines "$TMPD/$1.count" "$2" 10 || return 1
        local i
        for ((i = 0; i < 100; i++)); do
                [ "$(grep -c "^tfrun: $1 native status=" "$TMPD/$1.err")" -ge "$2" ] && return 0
                sleep 0.1
        done
        return 1
}
# watch NAME PATHSPEC: `tfrun FILE` of a service that appends a line to $TMPD/NAME.count per run, in the
# background, with schedule.path PATHSPEC; waits until it watches. Sets $pid.
watch() {
        local f
        f=$(spec "$1" "command: [sh, -c, 'echo run >> $TMPD/$1.count']" "schedule:" "  path: $2")
        "$TFRUN" --state-dir "$TMPD/state" "$f" >"$TMPD/$1.out" 2>"$TMPD/$1.err" &
        pid=$!
        PIDS+=("$pid")
        wait_grep "$1: watching" "$TMPD/$1.err" 10 || diag "$1 does not watch: $(cat "$TMPD/$1.err")"
}
# quiet NAME N: after a settle period and a run's time, still exactly N runs.
quiet() {
        sleep 1.2
        is "$(lines "$TMPD/$1.count")" "$2" "$1: $2 run(s), no more"
}

f=$(spec nexted "command: [true]" "schedule:" "  path: {exists: $W/x, glob: '$W/*.csv'}")
is "$("$TFRUN" next "$f")" "path: exists $W/x (when it happens)
path: glob $W/*.csv (when it happens)" "next lists the path triggers"

# A burst: 100 files created in one go fire once; a later burst fires again.
mkdir "$W/burst"
watch burst "{changed: $W/burst, settle: 300ms}"
burst_pid=$pid
for i in $(seq 100); do echo "$i" >"$W/burst/f$i"; done
fired burst 1; ok "burst: the 100 files fired"
quiet burst 1
is "$(grep -c 'firing (path: changed' "$TMPD/burst.err")" 1 "burst: one fire logged for 100 files"
for i in $(seq 100); do rm "$W/burst/f$i"; done
fired burst 2; ok "burst: a second burst (100 removals) fires again"
quiet burst 2

# exists, for a path whose directories do not exist yet.
watch exists "{exists: $W/later/deeper/flag, settle: 100ms}"
sleep 0.3
is "$(lines "$TMPD/exists.count")" 0 "exists: nothing yet"
mkdir -p "$W/later/deeper"
sleep 0.5
is "$(lines "$TMPD/exists.count")" 0 "exists: its directory appearing does not fire"
: >"$W/later/deeper/flag"
fired exists 1; ok "exists: the file appearing two directories down fires"
quiet exists 1
echo more >>"$W/later/deeper/flag"
quiet exists 1
rm "$W/later/deeper/flag"
sleep 0.3
: >"$W/later/deeper/flag"
fired exists 2; ok "exists: removed and created again: fires again"

# exists at start: a path that is there already fires once, as a .path unit does.
: >"$W/present"
watch present "{exists: $W/present, settle: 100ms}"
fired present 1; ok "exists: a path present at start fires once"
quiet present 1

# glob: only matching names fire; the directory comes later.
watch glob "{glob: '$W/in/*.csv', settle: 100ms}"
mkdir "$W/in"
: >"$W/in/notes.txt"
sleep 0.6
is "$(lines "$TMPD/glob.count")" 0 "glob: a name that does not match does not fire"
: >"$W/in/data.csv"
fired glob 1; ok "glob: a matching name fires"
mv "$W/in/notes.txt" "$W/in/moved.csv"
fired glob 2; ok "glob: a name renamed into the pattern fires"
quiet glob 2

# not_empty: an empty directory at start does not fire; its first entry does.
mkdir "$W/spool"
watch spool "{not_empty: $W/spool, settle: 100ms}"
sleep 0.5
is "$(lines "$TMPD/spool.count")" 0 "not_empty: an empty directory does not fire"
: >"$W/spool/job1"
fired spool 1; ok "not_empty: the first entry fires"
quiet spool 1

# changed vs modified on one file: a write without close fires modified only.
echo v1 >"$W/conf"
watch changed "{changed: $W/conf, settle: 100ms}"
watch modified "{modified: $W/conf, settle: 100ms}"
sleep 0.3
exec 7>>"$W/conf"
echo v2 >&7
fired modified 1; ok "modified: a write fires before the file is closed"
sleep 0.6
is "$(lines "$TMPD/changed.count")" 0 "changed: not before the close"
exec 7>&-
fired changed 1; ok "changed: the close after writing fires"
mv "$W/conf" "$W/conf.old" && echo v3 >"$W/conf.new" && mv "$W/conf.new" "$W/conf"
fired changed 2; ok "changed: the file replaced by a rename fires"

# One-shot and resident: `tfrun FILE` with only a path trigger stays, and SIGTERM ends it with 0.
kill -0 "$burst_pid" 2>/dev/null; ok "one-shot with a path trigger is still resident after its runs"
kill -TERM "$burst_pid"
wait "$burst_pid"; is "$?" 0 "SIGTERM ends it with status 0"
for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
PIDS=()

# Combined with every: under the manager, both kinds fire, and history says which.
. "$SRCDIR/tests/integration/manager/common.sh"
trap 'cleanup; cleanup_up' EXIT
export TFRUN_SOCKET=$MSOCK
svc combo "command: [sh, -c, 'echo run >> $TMPD/combo.count']" \
        "schedule: {every: 2s, overlap: queue, path: {exists: $W/combo-flag, settle: 100ms}}"
up
wait_lines "$TMPD/combo.count" 1 10; ok "combo: the interval fires"
: >"$W/combo-flag"
wait_log "combo: firing \(path: exists $W/combo-flag\)" 10; ok "combo: the path fires"
wait_lines "$TMPD/combo.count" 3 10
triggers=$("$TFRUN" history combo --json | python3 -c 'import json,sys; print(" ".join(sorted({r["trigger"] for r in json.load(sys.stdin)["runs"]})))')
is "$triggers" "path schedule" "combo: history records trigger 'path' beside 'schedule'"
"$TFRUN" ps --json | python3 -c 'import json,sys; s=[x for x in json.load(sys.stdin)["services"] if x["name"]=="combo"][0]; assert s["next"], s'
ok "combo: the interval's next fire is still shown"
down; ok "the manager stops cleanly"
san_check
done_testing
