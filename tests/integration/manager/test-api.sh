#!/bin/bash
# SPDX-License-Identifier: MIT
# The manager seen through its control API and the verbs: ps (NEXT as `tfrun next` computes it), status,
# trigger (the run in history and logs), stop, disable (kept across a restart), reload, history filters,
# logs (-n, -f), a caller of another uid refused by SO_PEERCRED, every verb's bad input; kill -9 of the
# manager during a native and a docker run (lost, nothing left after the restart); 20 runs each followed by
# a kill -9 of the manager, none lost from the history.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
need_root
. "$SRCDIR/tests/integration/docker-cli/common.sh"
. "$SRCDIR/tests/integration/manager/common.sh"

jget() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1].split("."):
    d = d[int(k)] if isinstance(d, list) else d.get(k)
print("null" if d is None else d)' "$1"; }

svc cal "command: [true]" "schedule: {calendar: '*-*-* 03:00:00'}"
svc cron "command: [true]" "schedule: {cron: '15 4 * * *'}"
svc every "command: [true]" "schedule: {every: 1h}"
svc job "command: [sh, -c, 'echo job-out; echo job-err >&2; sleep 0.2; echo second']"
svc long "command: [sleep, '$LONG']" "stop: {grace: 2s}"
svc dock "image: $IMAGE" "command: [sh, -c, 'echo from-docker']"
up
is "$(v ps --json | python3 -c 'import json,sys; print(" ".join(s["name"] for s in json.load(sys.stdin)["services"]))')" \
        "cal cron dock every job long" "ps --json lists every service, in file order"
# epoch SECONDS of a time as ps --json or tfrun next prints it.
epoch() { python3 -c 'import sys,datetime as d; t=sys.argv[1]
try: print(int(d.datetime.strptime(t[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=d.timezone.utc).timestamp()))
except ValueError: print(int(d.datetime.strptime(t, "%a %Y-%m-%d %H:%M:%S UTC").replace(tzinfo=d.timezone.utc).timestamp()))' "$1"; }
for s in cal cron; do
        want=$("$TFRUN" next -n 1 "$SVC/$s.yaml" | head -1)
        got=$(v ps --json | python3 -c 'import json,sys; print([x for x in json.load(sys.stdin)["services"] if x["name"]==sys.argv[1]][0]["next"])' "$s")
        is "$(epoch "$got")" "$(epoch "$want")" "ps: $s's NEXT is what tfrun next says ($got, $want)"
done
v ps >"$TMPD/ps.out"; ok "ps: exit 0"
head -1 "$TMPD/ps.out" | grep -q "^NAME *BACKEND *STATE *LAST (UTC) *RESULT *NEXT (UTC) *LEFT"; ok "ps: the table's columns"
grep -Eq "^job +native +idle " "$TMPD/ps.out"; ok "ps: a one-shot spec is idle"
grep -Eq "^every +native +waiting .* (59min|1h)" "$TMPD/ps.out"; ok "ps: every 1h is waiting, about an hour left"

# trigger: the run id, then history and logs.
id=$(v trigger job); is "$?" 0 "trigger: exit 0"
[[ "$id" =~ ^job-[0-9]+-[0-9]+$ ]]; ok "trigger prints the run id ($id)"
for _ in $(seq 50); do [ "$(v history job --json | jget runs.0.status)" = success ] && break; sleep 0.1; done
is "$(v history job --json | jget runs.0.run_id)" "$id" "history: the triggered run"
is "$(v history job --json | jget runs.0.trigger)" manual "history: its trigger is manual"
is "$(v history job --json | jget runs.0.exit_code)" 0 "history: its exit code"
v logs "$id" >"$TMPD/log.out"; is "$?" 0 "logs RUN_ID: exit 0"
grep -Eq '^[0-9T:.-]+Z stdout job-out$' "$TMPD/log.out" && grep -Eq '^[0-9T:.-]+Z stderr job-err$' "$TMPD/log.out"
ok "logs: both streams, timestamped"
is "$(v logs job -n 1 | sed 's/^[^ ]* //')" "stdout second" "logs NAME -n 1: the newest run's last line"
grep -Eq '^job +\| job-out$' "$TMPD/up.log"; ok "the manager's output: the line after the service's name"
is "$(v status job --json | jget runs.0.run_id)" "$id" "status: the last runs"

# stop a long run.
lid=$(v trigger long)
for _ in $(seq 50); do [ "$(v ps --json | python3 -c 'import json,sys; print([x for x in json.load(sys.stdin)["services"] if x["name"]=="long"][0]["state"])')" = running ] && break; sleep 0.1; done
is "$(v status long --json | jget state)" running "a triggered long run is running"
pgrep -f -- "$LONG_RE" >/dev/null; ok "its sleep is what the no-process checks look for (the pattern can fail)"
is "$(v stop long)" "long: 1 run(s) stopping" "stop: one run stopping"
for _ in $(seq 50); do [ "$(v history long --json | jget runs.0.status)" = cancelled ] && break; sleep 0.1; done
is "$(v history long --json | jget runs.0.status)" cancelled "stop: the run ended cancelled"
no_process_left "$LONG_RE" "stop"

# docker through the manager.
did=$(v trigger dock)
for _ in $(seq 100); do [ "$(v history dock --json | jget runs.0.status)" = success ] && break; sleep 0.1; done
is "$(v history dock --json | jget runs.0.status)" success "a docker run through the manager"
v logs "$did" | grep -q 'stdout from-docker$'; ok "its log"

# disable survives a restart; enable fires again.
svc tick "command: [true]" "schedule: {every: 1s}"
is "$(v reload)" "1 added, 0 changed, 0 removed, 0 broken, 6 unchanged" "reload through the API"
v disable tick >/dev/null; ok "disable: exit 0"
is "$(v status tick --json | jget state)" disabled "disabled"
n1=$(v history tick --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["runs"]))')
sleep 2.5
n2=$(v history tick --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["runs"]))')
is "$n2" "$n1" "disabled: no more fires"
down; is "$?" 0 "manager stopped"
up
is "$(v status tick --json | jget enabled)" False "disable survives a restart"
v enable tick >/dev/null
sleep 1.5
n3=$(v history tick --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["runs"]))')
[ "$n3" -gt "$n2" ]; ok "enabled: fires again ($n2 -> $n3)"
v disable tick >/dev/null

# history filters.
is "$(v history --status cancelled --json | jget runs.0.service)" long "history --status cancelled"
is "$(v history --since 1h -n 1 --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["runs"]))')" 1 "history --since 1h -n 1: one run"

# SO_PEERCRED: another uid reaches the socket (opened up for this test) and is refused by the manager.
chmod 0711 "$TMPD"; chmod 0666 "$MSOCK"
setpriv --reuid=65534 --regid=65534 --clear-groups "$TFRUN" ps --socket "$MSOCK" 2>"$TMPD/peer.err"
is "$?" 125 "a caller of another uid: 125"
grep -q "403\|not allowed\|refused" "$TMPD/peer.err"; ok "and is told it is refused ($(cat "$TMPD/peer.err"))"
grep -q "uid 65534" "$TMPD/up.log"; ok "the manager logs the refused uid"
chmod 0600 "$MSOCK"; chmod 0700 "$TMPD"

# Bad input.
v status nosuch 2>"$TMPD/err"; is "$?" 125 "status of an unknown service: 125"
is "$(cat "$TMPD/err")" "tfrun: status: no service 'nosuch' (see \`tfrun ps\`)" "status of an unknown service: message"
v trigger nosuch 2>"$TMPD/err"; is "$?" 125 "trigger of an unknown service: 125"
is "$(cat "$TMPD/err")" "tfrun: trigger: no service 'nosuch' (see \`tfrun ps\`)" "trigger of an unknown service: message"
v history --since 7x 2>"$TMPD/err"; is "$?" 125 "history --since 7x: 125"
is "$(cat "$TMPD/err")" "tfrun: history: invalid --since '7x': expected a duration such as 30min, 12h or 7d" "history --since 7x: message"
v history -n 0 2>"$TMPD/err"; is "$?" 125 "history -n 0: 125"
is "$(cat "$TMPD/err")" "tfrun: history: invalid -n '0': expected a number of runs from 1 to 10000" "history -n 0: message"
v history --status bogus 2>"$TMPD/err"; is "$?" 125 "history --status bogus: 125"
is "$(cat "$TMPD/err")" "tfrun: history: invalid status 'bogus': expected running, success, failure, timeout, oom, cancelled, skipped or lost" "history --status bogus: message"
v status 'Bad/Name' 2>"$TMPD/err"; is "$?" 125 "status of an invalid name: 125"
v logs nosuch-1-1 2>"$TMPD/err"; is "$?" 125 "logs of an unknown run: 125"
is "$(cat "$TMPD/err")" "tfrun: logs: no run 'nosuch-1-1' and no service of that name with a run (see \`tfrun history\`)" "logs of an unknown run: message"
v ps --frob 2>"$TMPD/err"; is "$?" 125 "ps --frob: 125"
is "$(cat "$TMPD/err")" "tfrun: ps: unknown option '--frob'; its options: --json, --socket PATH, --help" "ps --frob: message"
v history -f 2>"$TMPD/err"; is "$?" 125 "history -f: 125"
is "$(cat "$TMPD/err")" "tfrun: history: unknown option '-f'; its options: --status S, --since DURATION, -n N, --json, --socket PATH, --help" "history -f: message"
"$TFRUN" ps --socket "$TMPD/none.sock" 2>"$TMPD/err"; is "$?" 125 "no manager: 125"
grep -qF "$TMPD/none.sock" "$TMPD/err" && grep -q "tfrun up" "$TMPD/err"; ok "no manager: names the socket and tfrun up ($(cat "$TMPD/err"))"

# logs -f: lines as they come, and the end of the stream with the run.
svc slow "command: [sh, -c, 'for i in 1 2 3 4 5; do echo line-\$i; sleep 0.3; done']"
v reload >/dev/null
sid=$(v trigger slow)
timeout 20 "$TFRUN" logs -f "$sid" --socket "$MSOCK" >"$TMPD/follow.out"; is "$?" 0 "logs -f: ends when the run ends"
is "$(sed 's/^[^ ]* //' "$TMPD/follow.out" | tr '\n' ' ')" "stdout line-1 stdout line-2 stdout line-3 stdout line-4 stdout line-5 " \
        "logs -f: every line, in order"

# Retention: keep_runs 3 keeps the newest three runs and their logs, no more.
svc keep "command: [true]" "history: {keep_runs: 3}"
v reload >/dev/null
kids=()
for i in 1 2 3 4 5; do
        kids+=("$(v trigger keep)")
        for _ in $(seq 50); do [ "$(v history keep -n 1 --json | jget runs.0.status)" = success ] && break; sleep 0.05; done
done
is "$(v history keep -n 100 --json | python3 -c 'import json,sys; print(" ".join(r["run_id"] for r in json.load(sys.stdin)["runs"]))')" \
        "${kids[4]} ${kids[3]} ${kids[2]}" "retention: the newest 3 runs are kept"
is "$(ls "$ST/logs/keep" | sort | tr '\n' ' ')" "$(printf '%s.log\n' "${kids[2]}" "${kids[3]}" "${kids[4]}" | sort | tr '\n' ' ')" \
        "retention: and their logs alone"

# kill -9 of the manager during a native run and a docker run: after the restart both are lost and
# nothing is left.
svc dlong "image: $IMAGE" "command: [sleep, '$LONG']"
v reload >/dev/null
nid=$(v trigger long); did=$(v trigger dlong)
for _ in $(seq 100); do [ -n "$(containers_left dlong)" ] && [ -n "$(cgroup_dirs long)" ] && break; sleep 0.1; done
[ -n "$(containers_left dlong)" ] && [ -n "$(cgroup_dirs long)" ]; ok "a native and a docker run going"
kill -KILL "$UP_PID"; wait "$UP_PID" 2>/dev/null; UP_PID=
up
for _ in $(seq 100); do [ -z "$(containers_left dlong)" ] && [ -z "$(cgroup_dirs long)" ] && break; sleep 0.1; done
is "$(v history long --json | jget runs.0.status)" lost "after kill -9: the native run is lost"
is "$(v history dlong --json | jget runs.0.status)" lost "after kill -9: the docker run is lost"
no_process_left "$LONG_RE" "after kill -9 and a restart"
no_cgroup_left long "after kill -9 and a restart"
no_container_left dlong "after kill -9 and a restart"

# 20 runs, each followed by a kill -9 of the manager: every run that ended is in the history.
svc k9 "command: [true]"
v reload >/dev/null
ids=()
for i in $(seq 20); do
        id=$(v trigger k9)
        ids+=("$id")
        for _ in $(seq 50); do [ "$(v history k9 -n 1 --json | jget runs.0.status)" = success ] && break; sleep 0.05; done
        kill -KILL "$UP_PID"; wait "$UP_PID" 2>/dev/null; UP_PID=
        up
done
got=$(v history k9 -n 100 --json | python3 -c 'import json,sys; print(" ".join(sorted(r["run_id"] for r in json.load(sys.stdin)["runs"] if r["status"]=="success")))')
is "$got" "$(printf '%s\n' "${ids[@]}" | sort | tr '\n' ' ' | sed 's/ $//')" "20 kill -9s: every finished run is in the history"
is "$(sqlite3 "$ST/tfrun.db" 'PRAGMA integrity_check')" ok "the history database is intact"
is "$(printf '%s\n' "${ids[@]}" | sort -u | wc -l)" 20 "20 distinct run ids across 20 managers"
down; is "$?" 0 "the last manager exits 0"

san_check
echo "1..$TAP_N"
exit $((TAP_FAILED > 0))
