#!/bin/bash
# SPDX-License-Identifier: MIT
# The manager's budget (`tfrun up --config`) on pure cgroup v2:
# - one budget cgroup, at one path, with memory.max, cpu.max, pids.max and io.max as the settings say;
# - three services reserving 128M each under a 256M budget and a storm of 60 triggers: never more than
#   two run at once (the budget's children sampled every 50 ms, and the runs' own timestamps);
# - two direct-IO writers at once under budget.io write_bps 2M: together they write at the budget's rate
#   (io.max is hierarchical on v2, unlike v1's blk-throttle);
# - a native run allocating past the budget (no limit of its own) is OOM-killed inside it: the budget's
#   memory.events.local counts the OOM at its own limit, the manager lives on;
# - the budget cgroup is gone when the manager exits;
# - the budget's own cpu.pressure is read with the admission thresholds: with the host-wide PSI made
#   quiet (TFRUN_PRESSURE_DIR), CPU contention inside the budget holds a start, named by the budget's file,
#   and the start goes ahead once the contention stops.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
. "$SRCDIR/tests/vm/v2/common.sh"
. "$SRCDIR/tests/integration/manager/common.sh"

# Under TCG a native start costs ~10x the host's; the loop's watchdog gets a bound that fits the emulator.
export TFRUN_LOOP_WARN_MS=5000
v() { "$TFRUN" "$@" --socket "$MSOCK"; }
# until SECONDS COND...: polls COND every 0.1 s.
until_t() {
        local n=$(($1 * 10)) i
        shift
        for ((i = 0; i < n; i++)); do
                "$@" && return 0
                sleep 0.1
        done
        return 1
}
budget_dir() { sed -n 's/^tfrun: budget: \(\/[^ ]*\) (every run.*/\1/p' "$TMPD/up.log" | tail -1; }
budgets() { find $CG -mindepth 1 -type d -name 'tfrun-budget-*' 2>/dev/null; }
stamp_cmd() { echo "command: [sh, -c, 'echo \"$1 start \$(date +%s%N)\" >>$TMPD/stamps; sleep $2; echo \"$1 end \$(date +%s%N)\" >>$TMPD/stamps']"; }
max_overlap() { grep -E "^[abc] " "$TMPD/stamps" | sort -k3,3n | awk '$2 == "start" { n++; if (n > m) m = n } $2 == "end" { n-- } END { print m + 0 }'; }
ends() { [ "$(grep -cE "^$1 end " "$TMPD/stamps" 2>/dev/null)" -ge "$2" ]; }

have_vda=false
[ -b /dev/vda ] && have_vda=true

# ---- limits as written, the storm, io, OOM ----------------------------------------------------------------
{
        echo "budget:"
        echo "  memory: 256M"
        echo "  cpus: 1.5"
        echo "  pids: 300"
        $have_vda && echo "  io: [{device: /dev/vda, write_bps: 2M}]"
} >"$TMPD/set.yaml"
for n in a b c; do svc "$n" "$(stamp_cmd "$n" 0.3)" "limits: {memory: 128M}" "schedule: {every: 1h, overlap: allow}"; done
for n in w1 w2; do
        seek=0
        [ "$n" = w2 ] && seek=128
        svc "$n" "command: [sh, -c, 'echo \"$n start \$(date +%s%N)\" >>$TMPD/stamps; dd if=/dev/zero of=/dev/vda bs=64k count=64 seek=$seek oflag=direct 2>$TMPD/$n.dd; echo \"$n end \$(date +%s%N)\" >>$TMPD/stamps']"
done
svc hog "command: [$PROBE, alloc, '400']"
up --config "$TMPD/set.yaml"
B=$(budget_dir)
[ -n "$B" ] && [ -d "$B" ]; ok "the budget's cgroup exists: $B"
is "$(budgets)" "$B" "one budget cgroup, at one path ($(dirname "$B"))"
is "$(cat "$B/memory.max")" $((256 << 20)) "memory.max is budget.memory"
is "$(cat "$B/cpu.max")" "150000 100000" "cpu.max is budget.cpus"
is "$(cat "$B/pids.max")" 300 "pids.max is budget.pids"
if $have_vda; then
        is "$(cat "$B/io.max")" "$(cat /sys/block/vda/dev) rbps=max wbps=$((2 << 20)) riops=max wiops=max" \
                "io.max is budget.io"
else
        skip "no /dev/vda: the VM needs a scratch disk for budget.io"
fi
diag "$(v ps 2>&1 | tail -1)"

# The storm: a populated child of the budget is a running run (cgroup.events "populated 1").
: >"$TMPD/samples"
(
        while :; do
                n=0
                for d in "$B"/*/; do grep -qx 'populated 1' "$d/cgroup.events" 2>/dev/null && n=$((n + 1)); done
                echo "$n" >>"$TMPD/samples"
                sleep 0.05
        done
) &
SAMPLER=$!
for i in $(seq 20); do for n in a b c; do v trigger "$n" >/dev/null 2>&1; done; done
v queue --json >"$TMPD/queue.json"
until_t 300 eval 'ends a 20 && ends b 20 && ends c 20'; ok "60 triggers: 60 runs ended"
kill "$SAMPLER"
wait "$SAMPLER" 2>/dev/null
diag "$(sort -n "$TMPD/samples" | uniq -c | tr '\n' ';')"
is "$(sort -n "$TMPD/samples" | tail -1)" 2 "sampled every 50 ms: at most two runs in the budget at once, and two seen"
is "$(max_overlap)" 2 "the runs' own timestamps: never more than two at once"
python3 -c 'import json,sys; w=json.load(open(sys.argv[1]))["waiting"]; sys.exit(not (len(w) >= 10 and w[0]["reason"] == "reservation"))' "$TMPD/queue.json"
ok "during the storm tfrun queue lists the waiting runs, waiting for their reservation"

# io: two writers of 4 MiB each at once, under one budget of 2 MiB/s.
if $have_vda; then
        v trigger w1 >/dev/null && v trigger w2 >/dev/null
        until_t 120 eval 'ends w1 1 && ends w2 1'; ok "the two writers ended"
        secs=$(python3 -c '
import sys
t = {}
for l in open(sys.argv[1]):
    n, what, ns = l.split()
    if n in ("w1", "w2"):
        t.setdefault(what, []).append(int(ns))
print(round((max(t["end"]) - min(t["start"])) / 1e9, 2))' "$TMPD/stamps")
        rate=$(python3 -c "print(int(8 * 1048576 / $secs))")
        diag "w1: $(tail -1 "$TMPD/w1.dd"); w2: $(tail -1 "$TMPD/w2.dd"); 8 MiB in ${secs}s together: $rate B/s"
        r=$(ratio "$rate" $((2 << 20)))
        float_between "$r" 0.6 1.15; ok "two writers together: $rate B/s, x$r of the budget's 2 MiB/s"
else
        skip "no /dev/vda"
        skip "no /dev/vda"
fi

# OOM inside the budget.
before=$(sed -n 's/^oom_kill //p' "$B/memory.events")
v trigger hog >/dev/null
hog_status() { v history hog --json 2>/dev/null | python3 -c 'import json,sys; r=json.load(sys.stdin)["runs"]; print(r[0]["status"] if r else "")'; }
until_t 120 eval '[ "$(hog_status)" = oom ]'; ok "alloc 400M with no limit of its own: the run is recorded oom"
after=$(sed -n 's/^oom_kill //p' "$B/memory.events")
[ "$after" -gt "$before" ]; ok "the budget's memory.events counts the kill (oom_kill $before -> $after)"
oom_local=$(sed -n 's/^oom //p' "$B/memory.events.local")
[ "$oom_local" -ge 1 ]; ok "memory.events.local: the budget's own limit was hit (oom $oom_local)"
kill -0 "$UP_PID"; ok "the manager survives the OOM kill"
v ps >/dev/null; ok "and answers"

# A reload (tfrun reload re-reads the settings): a new io rate applies to io.max at once; an io limit
# dropped is refused (io.max would keep it).
if $have_vda; then
        sed -i 's/write_bps: 2M/write_bps: 4M/' "$TMPD/set.yaml"
        v reload >/dev/null 2>&1; ok "a reload with budget.io write_bps 4M"
        is "$(cat "$B/io.max")" "$(cat /sys/block/vda/dev) rbps=max wbps=$((4 << 20)) riops=max wiops=max" \
                "io.max follows at once"
        sed -i 's/write_bps: 4M/read_bps: 4M/' "$TMPD/set.yaml"
        got=$(v reload 2>&1)
        echo "$got" | grep -qF "budget.io: write_bps of /dev/vda removed, but the budget's cgroup keeps the limit"
        ok "a reload dropping write_bps is refused, named"
        is "$(sed -n 's/.* wbps=\([0-9a-z]*\) .*/\1/p' "$B/io.max")" $((4 << 20)) "and io.max is unchanged"
else
        for _ in 1 2 3 4; do skip "no /dev/vda"; done
fi
down; is "$?" 0 "the manager stops"
[ ! -e "$B" ]; ok "the budget cgroup is removed at exit"
is "$(budgets)" "" "no budget cgroup left anywhere"
is "$(tfrun_cg_left)" "" "no run's cgroup left"
san_check

# ---- the budget's own pressure ---------------------------------------------------------------------------
# Host-wide PSI made quiet: only the budget's own cpu.pressure can hold a start.
P=$TMPD/pressure
mkdir -p "$P"
for r in cpu memory io; do
        printf 'some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n' >"$P/$r"
done
rm -f "$SVC"/*.yaml
: >"$TMPD/stamps"
printf 'budget: {memory: 512M, cpus: 1}\nadmission: {cpu: {some: 30}, memory: {some: 90}, io: {some: 90}}\n' >"$TMPD/set.yaml"
# Four spinning processes on the guest's two CPUs, under one CPU: always runnable tasks waiting.
svc spin "command: [sh, -c, 'for i in 1 2 3 4; do (while :; do :; done) & done; wait']"
svc late "$(stamp_cmd late 0)"
TFRUN_PRESSURE_DIR=$P up --config "$TMPD/set.yaml"
B=$(budget_dir)
ls "$B"/*.pressure >"$TMPD/pfiles" 2>&1
grep -q cpu.pressure "$TMPD/pfiles" && grep -q memory.pressure "$TMPD/pfiles" && grep -q io.pressure "$TMPD/pfiles"
ok "the budget has its own cpu, memory and io pressure files"
v trigger spin >/dev/null
avg10() { sed -n 's/^some avg10=\([0-9.]*\) .*/\1/p' "$B/cpu.pressure"; }
until_t 60 eval 'float_between "$(avg10)" 50 101'; ok "contention inside the budget: its cpu.pressure some avg10 $(avg10)"
diag "host-wide (real): $(head -1 /proc/pressure/cpu); budget: $(head -1 "$B/cpu.pressure")"
v trigger late >/dev/null
sleep 1.5
v queue --json >"$TMPD/q.json"
is "$(python3 -c 'import json,sys; w=json.load(open(sys.argv[1]))["waiting"]; print(w[0]["service"], w[0]["reason"] if w else "")' "$TMPD/q.json")" \
        "late pressure" "a start waits for pressure"
grep -qF "budget cpu some avg10" "$TMPD/q.json" && grep -qF "($B/cpu.pressure)" "$TMPD/q.json"
ok "named by the budget's own cpu.pressure"
diag "$(v queue 2>&1)"
[ ! -s "$TMPD/stamps" ]; ok "the waiting run has not started"
stopped=$(date +%s%N)
v stop spin >/dev/null
until_t 90 eval 'grep -q "^late start" "$TMPD/stamps"'; ok "once the contention stops, the waiting run starts"
started=$(sed -n 's/^late start //p' "$TMPD/stamps")
diag "started $(((started - stopped) / 1000000)) ms after the spinners stopped (avg10 decays over ~10 s)"
[ "${started:-0}" -gt "$stopped" ]; ok "and not before"
down; is "$?" 0 "the manager stops"
is "$(budgets)" "" "no budget cgroup left"
san_check

done_testing
