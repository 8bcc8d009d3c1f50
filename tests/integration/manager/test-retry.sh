#!/bin/bash
# SPDX-License-Identifier: MIT
# tfrun retry through the real manager and its real SQLite history: a plain run retried (a new run linked by
# retry_of, trigger rerun, in history and in the database file), every refusal with its message (unknown
# run, a run still running, --from on a plain run, a service gone, bad operands), logs --step refusals; the
# API's POST runs/ID/retry over TCP with no token, a read token, an operate token of another service, an
# operate token of the service and an admin token, and its bad input. A workflow (steps a -> b -> c and
# a -> d, where b fails once, proven by counter files): history, status and GET runs/ID show the steps,
# logs --step prints one step's log, the retry reruns b and c only and reuses a's and d's outputs (their
# counter files say they did not run again, and b receives a's output), --from a reruns everything, and a
# spec whose steps changed is refused, naming what changed.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
need_root
. "$SRCDIR/tests/integration/manager/common.sh"

jget() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1].split("."):
    d = d[int(k)] if isinstance(d, list) else d.get(k)
print("null" if d is None else d)' "$1"; }
# api PATH: GET over the unix socket.
api() { curl -s --unix-socket "$MSOCK" "http://tfrun$1"; }
# hc TOKEN METHOD PATH [CURL ARGS...]: the status code of one request over TCP ("-": no token); body in $TMPD/body.
hc() {
        local tok=$1 m=$2 p=$3
        shift 3
        if [ "$tok" = - ]; then
                curl -s -o "$TMPD/body" -w '%{http_code}' -X "$m" "$@" "http://127.0.0.1:$PORT$p"
        else
                curl -s -o "$TMPD/body" -w '%{http_code}' -X "$m" -H "Authorization: Bearer $tok" "$@" \
                        "http://127.0.0.1:$PORT$p"
        fi
}
# wait_end RUN_ID: until the history says the run ended; prints its status.
wait_end() {
        local i s=
        for i in $(seq 200); do
                s=$(api "/api/v1/runs/$1" | jget status 2>/dev/null)
                [ -n "$s" ] && [ "$s" != running ] && [ "$s" != null ] && break
                sleep 0.05
        done
        echo "$s"
}
# steps RUN_ID: "name:status ..." from GET runs/ID.
steps() { api "/api/v1/runs/$1" | python3 -c 'import json,sys; print(" ".join(s["name"]+":"+s["status"] for s in json.load(sys.stdin)["steps"]))'; }

C=$TMPD/counters
mkdir -p "$C"
# Fails the first time (exit 3), succeeds from the second on; each run adds a line to its counter file.
svc flaky "command: [sh, -c, 'echo run >>$C/flaky; n=\$(wc -l <$C/flaky); echo attempt-\$n; [ \$n -ge 2 ] || exit 3']"
svc long "command: [sleep, '300']" "stop: {grace: 1s}"
svc other "command: [true]"
svc gone "command: [true]"
# b fails the first time only; a's output reaches b as its argument.
svc wf "steps:" \
        "  - name: a" \
        "    command: [sh, -c, 'echo run >>$C/a; printf \"out of a\"']" \
        "    output: A_OUT" \
        "  - name: b" \
        "    depends_on: a" \
        "    command: [sh, -c, 'echo run >>$C/b; echo \"b got: \$1\"; [ \$(wc -l <$C/b) -ge 2 ] || exit 4', sh, '\${A_OUT}']" \
        "  - name: c" \
        "    depends_on: b" \
        "    command: [sh, -c, 'echo run >>$C/c']" \
        "  - name: d" \
        "    depends_on: a" \
        "    command: [sh, -c, 'echo run >>$C/d; echo d-out']"
# q's output has quotes, a '$', a backslash and a newline; r writes what it gets to a file, and fails the
# first time.
svc wq "steps:" \
        "  - name: q" \
        "    command: [sh, -c, 'echo run >>$C/q; printf \"%s\" \"\$1\"', sh, \"it's \\\"q\\\" \$HOME \\\\ a\\nline 2\"]" \
        "    output: Q" \
        "  - name: r" \
        "    depends_on: q" \
        "    command: [sh, -c, 'echo run >>$C/r; printf %s \"\$1\" >$C/r.arg; [ \$(wc -l <$C/r) -ge 2 ]', sh, '\${Q}']"
# s1 writes for about a second while s2 sleeps on: logs -f --step s1 ends with s1, not with the run.
svc wf2 "steps:" \
        "  - name: s1" \
        "    command: [sh, -c, 'for i in 1 2 3; do echo l-\$i; sleep 0.3; done']" \
        "  - name: s2" \
        "    command: [sleep, '30']" \
        "stop: {grace: 1s}"
up --listen :0
PORT=$(grep -o 'api: listening on 127.0.0.1:[0-9]*' "$TMPD/up.log" | head -1 | sed 's/.*://')
lines() { [ -f "$C/$1" ] && wc -l <"$C/$1" | tr -d ' ' || echo 0; }

# --- a plain run retried ---------------------------------------------------------------------------------
p1=$(v trigger flaky)
is "$(wait_end "$p1")" failure "a plain run that fails"
p2=$(v retry "$p1"); is "$?" 0 "retry RUN_ID: exit 0"
[[ "$p2" =~ ^flaky-[0-9]+-[0-9]+$ ]] && [ "$p2" != "$p1" ]; ok "retry prints the new run's id ($p2)"
is "$(wait_end "$p2")" success "the retry ran again, and succeeded this time"
is "$(lines flaky)" 2 "the command ran twice in all (its counter file)"
is "$(v history flaky -n 1 --json | jget runs.0.retry_of)" "$p1" "history: the retry names the run it retries"
is "$(v history flaky -n 1 --json | jget runs.0.trigger)" rerun "history: its trigger is rerun"
is "$(v history flaky -n 2 --json | jget runs.1.retry_of)" null "history: the first run retries nothing"
is "$(sqlite3 "$ST/tfrun.db" "SELECT trigger || ' ' || retry_of FROM runs WHERE run_id = '$p2'")" "rerun $p1" \
        "the database file: the row's trigger and retry_of"
v history flaky >"$TMPD/hist.out"
grep -q "^$p2 .* rerun " "$TMPD/hist.out" && grep -q "^  retry of $p1\$" "$TMPD/hist.out"
ok "history's table: the rerun, and the run it retries under it"
v logs "$p2" | grep -q 'stdout attempt-2$'; ok "logs of the retry: its own output"
p3=$(v retry "$p2")
is "$(wait_end "$p3")" success "a run that succeeded may be retried too (a plain run runs again)"
is "$(api "/api/v1/runs/$p3" | jget retry_of)" "$p2" "GET runs/ID: retry_of"
is "$(api "/api/v1/runs/$p3" | jget steps)" "[]" "GET runs/ID: a plain run has no steps"

# --- refusals ----------------------------------------------------------------------------------------------
v retry nosuch-1-1 2>"$TMPD/err"; is "$?" 125 "retry of an unknown run: 125"
is "$(cat "$TMPD/err")" "tfrun: retry: no run 'nosuch-1-1' in the history (see \`tfrun history\`)" "  its message"
lid=$(v trigger long)
for _ in $(seq 100); do [ "$(api "/api/v1/runs/$lid" | jget status)" = running ] && break; sleep 0.05; done
v retry "$lid" 2>"$TMPD/err"; is "$?" 125 "retry of a run still running: 125"
is "$(cat "$TMPD/err")" "tfrun: retry: run $lid is still running: a retry starts from its end (wait for it, or \`tfrun stop long\`)" \
        "  its message"
v stop long >/dev/null
is "$(wait_end "$lid")" cancelled "  (stopped)"
v retry "$p1" --from a 2>"$TMPD/err"; is "$?" 125 "--from on a plain run: 125"
is "$(cat "$TMPD/err")" "tfrun: retry: --from a: run $p1 is not a workflow run (flaky has no steps): retry it without --from" \
        "  its message"
gid=$(v trigger gone); wait_end "$gid" >/dev/null
rm "$SVC/gone.yaml"; v reload >/dev/null
v retry "$gid" 2>"$TMPD/err"; is "$?" 125 "retry of a run whose service left DIR: 125"
is "$(cat "$TMPD/err")" "tfrun: retry: run $gid is of service 'gone', which is no longer in $SVC (or does not load: see \`tfrun ps\`)" \
        "  its message"
v retry 2>"$TMPD/err"; is "$?" 125 "retry without a run id: 125"
is "$(cat "$TMPD/err")" "tfrun: retry: expected one run id, got 0 (see \`tfrun retry --help\`)" "  its message"
v retry "$p1" --step a 2>"$TMPD/err"; is "$?" 125 "retry --step: 125"
is "$(cat "$TMPD/err")" "tfrun: retry: unknown option '--step'; its options: --from STEP, --json, --socket PATH, --help" \
        "  its message"
v retry 'x/../y' 2>"$TMPD/err"; is "$?" 125 "retry of a run id with a '/': 125"
grep -q "invalid run id\|holds a '/'" "$TMPD/err"; ok "  refused before the history is asked ($(cat "$TMPD/err"))"
v retry "$p1" --from '../x' 2>"$TMPD/err"; is "$?" 125 "--from ../x: 125"
is "$(cat "$TMPD/err")" "tfrun: retry: invalid step name '../x': expected [a-z0-9][a-z0-9_.-]{0,62}" "  its message"
v logs "$p1" --step a 2>"$TMPD/err"; is "$?" 125 "logs --step of a plain run: 125"
is "$(cat "$TMPD/err")" "tfrun: logs: run '$p1' has no step 'a' (it is not a workflow run, or no step has started)" \
        "  its message"
v logs "$p1" --step 'A/b' 2>"$TMPD/err"; is "$?" 125 "logs --step with an invalid name: 125"
is "$(cat "$TMPD/err")" "tfrun: logs: invalid step name 'A/b': expected [a-z0-9][a-z0-9_.-]{0,62}" "  its message"
is "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$MSOCK" "http://tfrun/api/v1/runs/$p1/log?step=..%2Fetc")" 400 \
        "GET runs/ID/log?step=..%2Fetc: 400"

# --- the API, by role --------------------------------------------------------------------------------------
R=$(v token create reader --role read)
O=$(v token create op --role operate --services flaky)
OX=$(v token create opx --role operate --services other)
A=$(v token create adm --role admin)
is "$(hc - POST "/api/v1/runs/$p1/retry")" 401 "API retry without a token: 401"
is "$(hc "$R" POST "/api/v1/runs/$p1/retry")" 403 "API retry with a read token: 403"
grep -q "needs operate" "$TMPD/body"; ok "  saying it needs operate ($(cat "$TMPD/body"))"
is "$(hc "$OX" POST "/api/v1/runs/$p1/retry")" 403 "API retry with an operate token of another service: 403"
grep -q "limited to services other" "$TMPD/body"; ok "  saying which services it has"
n0=$(lines flaky)
is "$(hc "$O" POST "/api/v1/runs/$p1/retry")" 200 "API retry with an operate token of the service: 200"
is "$(jget outcome <"$TMPD/body")" started "  the run started"
is "$(jget retry_of <"$TMPD/body")" "$p1" "  retry_of in the answer"
is "$(wait_end "$(jget run_id <"$TMPD/body")")" success "  and ended"
is "$(hc "$A" POST "/api/v1/runs/$p1/retry")" 200 "API retry with an admin token: 200"
wait_end "$(jget run_id <"$TMPD/body")" >/dev/null
is "$(lines flaky)" $((n0 + 2)) "two API retries, two more runs (the read and other-service tokens ran nothing)"
is "$(hc "$O" POST "/api/v1/runs/nosuch-1-1/retry")" 404 "API retry of an unknown run: 404"
is "$(hc "$O" POST "/api/v1/runs/..%2Fx/retry")" 400 "API retry of ..%2Fx: 400"
is "$(hc "$O" POST "/api/v1/runs/$p1/retry" -H 'Content-Type: application/json' -d '{"from": 5}')" 400 \
        "API retry with a from that is not a string: 400"
is "$(hc "$O" POST "/api/v1/runs/$p1/retry" -d '{"from": "a"')" 400 "API retry with a body that is not JSON: 400"
is "$(hc "$O" POST "/api/v1/runs/$p1/retry?from=..%2F..")" 400 "API retry with ?from=..%2F..: 400"
is "$(hc "$A" POST "/api/v1/runs/$lid/retry?from=a" -d '{"from": "b"}')" 400 "API retry with from in the body and the query, differently: 400"
grep -q "from is given twice" "$TMPD/body"; ok "  saying so"

# --- a workflow ------------------------------------------------------------------------------------------
if [ "$(v status wf --json | jget state)" = broken ]; then
        skip "workflows: the manager cannot run one yet ($(v status wf --json | jget error))"
        down
        san_check
        echo "1..$TAP_N"
        exit $((TAP_FAILED > 0))
fi
w1=$(v trigger wf)
is "$(wait_end "$w1")" failure "workflow: b fails, so the run fails"
is "$(steps "$w1")" "a:success b:failure c:skipped d:success" "workflow: each step's status in the history"
is "$(sqlite3 "$ST/tfrun.db" "SELECT group_concat(name || '=' || status || '/' || ifnull(exit_code, '-'), ' ') FROM (SELECT * FROM steps WHERE run_id = '$w1' ORDER BY position)")" \
        "a=success/0 b=failure/4 c=skipped/- d=success/0" "workflow: the database file's step rows"
is "$(sqlite3 "$ST/tfrun.db" "SELECT CAST(output AS TEXT) FROM steps WHERE run_id = '$w1' AND name = 'a'")" "out of a" \
        "workflow: a's output is in the history"
is "$(api "/api/v1/runs/$w1" | jget steps.0.output)" "out of a" "GET runs/ID: a step's output"
is "$(api "/api/v1/runs/$w1" | jget steps.2.why)" "$(v history wf -n 1 --json | jget runs.0.steps.2.why)" \
        "history --json: the steps, as GET runs/ID has them"
[ "$(api "/api/v1/runs/$w1" | jget steps.2.why)" != null ]; ok "a skipped step says why ($(api "/api/v1/runs/$w1" | jget steps.2.why))"
v history wf -n 1 >"$TMPD/wh.out"
grep -q "^$w1 " "$TMPD/wh.out" && grep -Eq '^  step a +.* success +0' "$TMPD/wh.out" &&
        grep -Eq '^  step b +.* failure +4' "$TMPD/wh.out" && grep -Eq '^  step c +.* skipped +-' "$TMPD/wh.out"
ok "history's table: the run, then its steps"
v status wf >"$TMPD/ws.out"
grep -Eq '^  step b +.* failure +4' "$TMPD/ws.out"; ok "status's table: the steps of its runs"
v logs "$w1" --step b >"$TMPD/wb.log"; is "$?" 0 "logs --step b: exit 0"
grep -q 'stdout b got: out of a$' "$TMPD/wb.log"; ok "logs --step b: b's own log (it got a's output)"
! grep -q 'd-out' "$TMPD/wb.log"; ok "  and not another step's"
v logs wf --step d | grep -q 'stdout d-out$'; ok "logs NAME --step d: the newest run's step d"
v logs "$w1" --step c 2>"$TMPD/err"; is "$?" 125 "logs --step of a skipped step: 125"
grep -q "step 'c' of run '$w1' has no log (skipped)" "$TMPD/err"; ok "  saying it has no log ($(cat "$TMPD/err"))"
v logs "$w1" --step zz 2>"$TMPD/err"; is "$?" 125 "logs --step of an unknown step: 125"
is "$(cat "$TMPD/err")" "tfrun: logs: run '$w1' has no step 'zz' (see \`tfrun status\` for its steps)" "  its message"

v retry "$w1" --from zz 2>"$TMPD/err"; is "$?" 125 "retry --from an unknown step: 125"
is "$(cat "$TMPD/err")" "tfrun: retry: --from zz: wf has no step 'zz'; its steps: a, b, c, d" "  its message"
v retry "$w1" --from dd 2>"$TMPD/err"; is "$?" 125 "retry --from a near miss: 125"
is "$(cat "$TMPD/err")" "tfrun: retry: --from dd: wf has no step 'dd' (did you mean 'd'?); its steps: a, b, c, d" \
        "  its message suggests the step"
v retry "$w1" --json >"$TMPD/r.json"; is "$?" 0 "workflow retry: exit 0"
w2=$(jget run_id <"$TMPD/r.json")
is "$(jget rerun <"$TMPD/r.json")" "['b', 'c']" "  it reruns the failed and the skipped steps"
is "$(jget reused <"$TMPD/r.json")" "['a', 'd']" "  and reuses the others"
is "$(wait_end "$w2")" success "the retry succeeds"
is "$(steps "$w2")" "a:reused b:success c:success d:reused" "  a and d reused, b and c run"
is "$(lines a) $(lines d) $(lines b) $(lines c)" "1 1 2 1" "  a and d did not run again (counter files); b ran twice, c once"
v logs "$w2" --step b | grep -q 'stdout b got: out of a$'; ok "  b got a's recorded output"
is "$(api "/api/v1/runs/$w2" | jget steps.0.output)" "out of a" "  the reused step's output is recorded for the next retry"
is "$(api "/api/v1/runs/$w2" | jget retry_of)" "$w1" "  linked to the run it retries"
v retry "$w2" 2>"$TMPD/err"; is "$?" 125 "retry of a workflow run that succeeded in every step: 125"
grep -q "every step of run $w2 succeeded: nothing to retry" "$TMPD/err"; ok "  saying so, and what to do ($(cat "$TMPD/err"))"

w3=$(v retry "$w2" --from a); is "$?" 0 "retry --from a: exit 0"
is "$(wait_end "$w3")" success "  it succeeds"
is "$(steps "$w3")" "a:success b:success c:success d:success" "  every step ran: a and what follows it"
is "$(lines a) $(lines d) $(lines b) $(lines c)" "2 2 3 2" "  (counter files)"
w4=$(v retry "$w3" --from c)
is "$(wait_end "$w4")" success "retry --from c"
is "$(steps "$w4")" "a:reused b:reused c:success d:reused" "  reruns c alone (nothing follows it)"
is "$(lines a) $(lines b) $(lines c)" "2 3 3" "  (counter files)"

f1=$(v trigger wf2)
for _ in $(seq 100); do [ "$(steps "$f1")" = "s1:running s2:running" ] && break; sleep 0.05; done
timeout 20 "$TFRUN" logs -f "$f1" --step s1 --socket "$MSOCK" >"$TMPD/f1.out"; is "$?" 0 "logs -f --step s1: ends"
is "$(sed 's/^[^ ]* //' "$TMPD/f1.out" | tr '\n' ' ')" "stdout l-1 stdout l-2 stdout l-3 " "  with every line of s1, in order"
is "$(api "/api/v1/runs/$f1" | jget status) $(steps "$f1")" "running s1:success s2:running" \
        "  when s1 ended, while the run goes on"
v stop wf2 >/dev/null
is "$(wait_end "$f1")" cancelled "  (the run stopped)"
is "$(steps "$f1")" "s1:success s2:cancelled" "a stopped workflow: its running step is cancelled"

# An output reused byte for byte: quotes, '$', a backslash, a newline.
printf '%s' "it's \"q\" \$HOME \\ a
line 2" >"$TMPD/q.want"
q1=$(v trigger wq)
is "$(wait_end "$q1")" failure "byte-exact outputs: r fails the first time"
cmp -s "$C/r.arg" "$TMPD/q.want"; ok "  r got q's output byte for byte"
q2=$(v retry "$q1")
is "$(wait_end "$q2")" success "  its retry succeeds"
is "$(steps "$q2")" "q:reused r:success" "  q reused"
is "$(lines q) $(lines r)" "1 2" "  q ran once in all"
cmp -s "$C/r.arg" "$TMPD/q.want"; ok "  and r got q's recorded output byte for byte ($(od -c "$C/r.arg" | head -3 | tr -s ' ' | tr '\n' ' '))"

# The workflow's steps change: d becomes e; the old run's results are not the spec's any more.
sed -i 's/name: d$/name: e/' "$SVC/wf.yaml"
is "$(v reload)" "0 added, 1 changed, 0 removed, 0 broken, 5 unchanged" "the workflow changed (d renamed e)"
v retry "$w1" 2>"$TMPD/err"; is "$?" 125 "retry after the steps changed: 125"
is "$(cat "$TMPD/err")" "tfrun: retry: the steps of wf changed since run $w1 (step d is gone; then: a, b, c, d; now: a, b, c, e): its results cannot be reused (\`tfrun trigger wf\` runs it anew)" \
        "  its message names the change"
is "$(hc "$A" POST "/api/v1/runs/$w1/retry")" 409 "  the API: 409"

down; is "$?" 0 "the manager exits 0"
is "$(sqlite3 "$ST/tfrun.db" 'PRAGMA integrity_check')" ok "the history database is intact"
san_check
echo "1..$TAP_N"
exit $((TAP_FAILED > 0))
