#!/bin/bash
# SPDX-License-Identifier: MIT
# `tfrun calendar` CLI contract, through the real tfrun: layout, exit codes, messages on stderr.
. "$SRCDIR/tests/lib.sh"
cal() { "$TFRUN" calendar "$@"; }

out=$(cal --iterations=2 --base-time='2026-03-28 12:00:00 UTC' 'Mon..Fri 09:00 Europe/Berlin' 2>"$TMPD/err")
rc=$?
is "$rc" 0 "valid expression: exit 0"
want="  Original form: Mon..Fri 09:00 Europe/Berlin
Normalized form: Mon..Fri *-*-* 09:00:00 Europe/Berlin
    Next elapse: Mon 2026-03-30 07:00:00 UTC"
is "$(TZ=UTC cal --base-time=@1774699200 'Mon..Fri 09:00 Europe/Berlin' | head -3)" "$want" "layout as systemd-analyze"
is "$(TZ=UTC cal --iterations=0 'daily' | wc -l)" 2 "--iterations=0 prints the forms only"
is "$(TZ=UTC cal --base-time=@0 '*-*-* 00:00:00' | grep -c 'Original form')" 0 "no Original form when already normalized"
is "$(TZ=Europe/Berlin cal --base-time=@1774699200 daily | grep -c '(in UTC)')" 1 "(in UTC) line outside UTC"
is "$(TZ=UTC cal --base-time=@1774699200 daily | grep -c '(in UTC)')" 0 "no (in UTC) line in UTC"
is "$(TZ=UTC cal --iterations=12 --base-time=@0 minutely | grep -c 'Iter. #1[0-2]: ')" 3 "Iter. #10..12 lines"
is "$(TZ=UTC cal --iterations=12 --base-time=@0 minutely | grep 'Iter. #10:' | cut -c1-16)" "      Iter. #10:" "Iter. #10 right-aligned"
is "$(TZ=UTC cal 2020-01-01 | tail -1)" "    Next elapse: never" "past expression: never"

cal 'Mon..Fry 09:00' >"$TMPD/out" 2>"$TMPD/err"
is "$?" 125 "invalid expression: exit 125"
is "$(cat "$TMPD/err")" "tfrun calendar: 'Mon..Fry 09:00': unknown weekday 'Fry' at column 6" "message on stderr"
is "$(wc -c <"$TMPD/out")" 0 "nothing on stdout for it"

out=$(TZ=UTC cal --base-time=@0 daily 'Fry' hourly 2>/dev/null)
is "$?" 125 "one bad expression among good ones: 125"
is "$(printf '%s\n' "$out" | grep -c 'Normalized form')" 2 "the good ones are still printed"

cal --cron --base-time=@1774699200 '0 25 * * *' 2>"$TMPD/err" >/dev/null
is "$?" 125 "invalid cron: exit 125"
is "$(cat "$TMPD/err")" "tfrun calendar: '0 25 * * *': hour 25 out of range 0..23 at column 3" "cron message"
is "$(TZ=UTC cal --cron --base-time=@1774699200 '*/15 9-17 * * mon-fri' | sed -n 2p)" \
   "Normalized form: */15 9-17 * * 1-5" "cron canonical form"
# 6 fields end with a year, 7 start with seconds (supercronic's reading); the form prints 5 or all 7
is "$(TZ=UTC cal --cron --iterations=0 '*/10 * * * * *' | sed -n 2p)" "Normalized form: */10 * * * *" \
   "6 fields: the 6th is the year"
is "$(TZ=UTC cal --cron --iterations=0 '0 9 * * 1-5 2027' | sed -n 2p)" \
   "Normalized form: 0 0 9 * * 1-5 2027" "a year prints all 7 fields"
is "$(TZ=UTC cal --cron --base-time=@1767225600 '*/10 * * * * * *' | sed -n 1,2p)" \
   "Normalized form: */10 * * * * * *
    Next elapse: Thu 2026-01-01 00:00:10 UTC" "7 fields: seconds first"
is "$(TZ=UTC cal --cron '0 */5 * * * 1-5' 2>&1 >/dev/null)" "tfrun calendar: '0 */5 * * * 1-5': year 1 \
out of range 1970..2199 at column 13; 6 fields are minute hour day month weekday year, as supercronic reads \
them (seconds come first in 7 fields: '0 */5 * * * 1-5 *' if the first is seconds)" "a 6th field, no year"
is "$(TZ=UTC cal --cron @reboot | tail -1)" "    Next elapse: never" "@reboot never elapses"

# Messages a new user can act on: cron's Quartz day syntax, a calendar weekday after the time.
cal --cron '0 3 L * *' 2>"$TMPD/err" >/dev/null
is "$?" 125 "cron L: exit 125"
is "$(cat "$TMPD/err")" "tfrun calendar: '0 3 L * *': day of month 'L' (the last day of the month) at \
column 5 is not supported by tfrun's cron (it follows cronie, which has no L, W, # or ?); use a calendar \
expression instead, e.g. calendar: '*-*~01' (the last day of every month)" "cron L: unsupported, with the calendar form"
cal --cron '0 3 * * 1#2' 2>"$TMPD/err" >/dev/null
is "$?" 125 "cron #: exit 125"
is "$(cat "$TMPD/err")" "tfrun calendar: '0 3 * * 1#2': day of week '#' (the Nth weekday of the month) at \
column 10 is not supported by tfrun's cron (it follows cronie, which has no L, W, # or ?); use a calendar \
expression instead, e.g. calendar: 'Mon *-*-08..14'" "cron #: unsupported, with the calendar form"
cal '09:00 Mon' 2>"$TMPD/err" >/dev/null
is "$?" 125 "calendar '09:00 Mon': exit 125"
is "$(cat "$TMPD/err")" "tfrun calendar: '09:00 Mon': the weekday goes first: 'Mon' at column 7 belongs \
before the date and time, as in 'Mon 09:00'" "calendar '09:00 Mon': the weekday goes first"
is "$(TZ=UTC cal --base-time=@1774699200 'Mon 09:00' | sed -n 2,3p)" "Normalized form: Mon *-*-* 09:00:00
    Next elapse: Mon 2026-03-30 09:00:00 UTC" "the suggested form works"

cal --base-time=garbage daily >/dev/null 2>&1
is "$?" 125 "bad --base-time: 125"
cal --iterations=x daily >/dev/null 2>&1
is "$?" 125 "bad --iterations: 125"
cal --help >/dev/null
is "$?" 0 "--help: 0"
is "$(TZ=UTC cal --base-time=@0 -- '-*-* 00:00' 2>&1 >/dev/null | cut -c1-40)" "tfrun calendar: '-*-* 00:00': expected a" \
   "-- ends options"
done_testing
