#!/bin/bash
# SPDX-License-Identifier: MIT
# A real clock change recomputes the scheduler's deadline. The guest's clock is its own, so `date -s` here
# never touches the host (time namespaces cannot move CLOCK_REALTIME). Runs last in the suite and puts the
# clock back afterwards.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
. "$SRCDIR/tests/vm/v2/common.sh"

saved=$(date +%s); t0=$(cut -d' ' -f1 /proc/uptime)
restore() { date -s "@$(python3 -c "print(int($saved + $(cut -d' ' -f1 /proc/uptime) - $t0))")" >/dev/null; }
trap 'restore; rm -rf "$TMPD"' EXIT

count() { grep -c -- "$1" "$2" || true; }
date -s '2030-01-01 10:00:30 UTC' >/dev/null
f=$(spec clock "command: [echo, fired]" "schedule: {calendar: '*-*-* *:00:00 UTC'}")
"$TFRUN" --state-dir "$TMPD" "$f" >"$TMPD/out" 2>"$TMPD/err" &
bg=$!
wait_for grep -q 'next fire at 2030-01-01T11:00:00' "$TMPD/err"; ok "armed for 11:00:00"

# Forward past two fire times: no late run for 11:00 or 12:00, a new deadline at 14:00.
date -s '2030-01-01 13:30:00 UTC' >/dev/null
wait_for grep -q 'the system clock changed; next fire recomputed: 2030-01-01T14:00:00' "$TMPD/err"
ok "a forward jump recomputes the deadline (14:00:00)"
sleep 1
is "$(count '^fired$' "$TMPD/out")" 0 "no catch-up run for the hours jumped over"

# Backward: the deadline is recomputed again, from the earlier time.
date -s '2030-01-01 08:15:00 UTC' >/dev/null
wait_for grep -q 'next fire recomputed: 2030-01-01T09:00:00' "$TMPD/err"; ok "a backward jump recomputes the deadline (09:00:00)"

# And it still fires on time after the jumps.
date -s '2030-01-01 08:59:58 UTC' >/dev/null
wait_for grep -q '^fired$' "$TMPD/out"; ok "fires at the recomputed deadline"
grep -q 'firing (scheduled 2030-01-01T09:00:00' "$TMPD/err"; ok "the fire is the one for 09:00:00"
kill -TERM $bg; wait $bg; is "$?" 0 "stops cleanly"
diag "$(cat "$TMPD/err")"
done_testing
