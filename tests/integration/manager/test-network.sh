#!/bin/bash
# SPDX-License-Identifier: MIT
# The network API (`tfrun up --listen`) and /metrics, driven with curl over 127.0.0.1: no token and a wrong
# one are 401 (WWW-Authenticate: Bearer), a read token may not trigger (403), a token limited to services
# sees only those and is refused the others, operate triggers, admin reloads, a revoked token is 401; the
# token is never in the manager's log, in `token list` or in the history file (its SHA-256 is); path
# traversal and the request bounds hold on TCP; a non-loopback --listen warns. /metrics passes
# `promtool check metrics`, its counts match the history, and its counters do not go back across a restart.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
need_root
. "$SRCDIR/tests/integration/manager/common.sh"

# hc TOKEN METHOD PATH [CURL ARGS...]: the status code of one request over TCP ("-": no token).
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
# get TOKEN PATH: the body.
get() { curl -s -H "Authorization: Bearer $1" "http://127.0.0.1:$PORT$2"; }
names() { python3 -c 'import json,sys; print(" ".join(s["name"] for s in json.load(sys.stdin)["services"]))'; }
# metric TEXT NAME{LABELS}: the value of one sample, or "absent".
metric() { awk -v k="$2" '$1 == k { print $2; f = 1 } END { if (!f) print "absent" }' <<<"$1"; }
wait_status() { # wait_status SERVICE STATUS N: until N runs of SERVICE have STATUS in the history
        local i
        for i in $(seq 100); do
                [ "$(v history "$1" --status "$2" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["runs"]))')" -ge "$3" ] && return 0
                sleep 0.1
        done
        return 1
}

svc ok "command: [true]"
svc bad "command: [sh, -c, 'exit 3']"
svc other "command: [true]"
# Fires every second, runs for 2.5: the fires in between are skipped (overlap: skip).
svc busy "command: [sleep, '2.5']" "schedule: {every: 1s, overlap: skip}" "stop: {grace: 1s}"
up --listen :0
PORT=$(grep -o 'api: listening on 127.0.0.1:[0-9]*' "$TMPD/up.log" | head -1 | sed 's/.*://')
[ -n "$PORT" ]; ok "--listen :0 listens on 127.0.0.1 and logs its port ($PORT)"

R=$(v token create reader --role read); is "$?" 0 "token create: exit 0"
[[ "$R" =~ ^tfr_[0-9a-f]{64}$ ]]; ok "token create prints the token alone (tfr_ and 256 bits in hex)"
O=$(v token create op --role operate --services ok,bad)
A=$(v token create adm --role admin)
L=$(v token create lim --role read --services ok)
[ -n "$O" ] && [ -n "$A" ] && [ -n "$L" ]; ok "operate, admin and service-limited tokens"
v token create reader --role read >/dev/null 2>"$TMPD/err"; is "$?" 125 "token create: a name taken is refused"
grep -q "a token named 'reader' exists already" "$TMPD/err"; ok "  saying so ($(cat "$TMPD/err"))"
v token create x --role root >/dev/null 2>"$TMPD/err"; is "$?" 125 "token create: an unknown role is refused"
grep -q "expected read, operate or admin" "$TMPD/err"; ok "  naming the roles"

# Authentication.
is "$(hc - GET /api/v1/services)" 401 "no token: 401"
curl -s -D - -o /dev/null "http://127.0.0.1:$PORT/api/v1/services" | grep -qi '^WWW-Authenticate: Bearer'
ok "  with WWW-Authenticate: Bearer"
is "$(hc "tfr_$(printf '%064d' 0)" GET /api/v1/services)" 401 "a wrong token: 401"
is "$(hc "${R}x" GET /api/v1/services)" 401 "the token with a byte more: 401"
is "$(hc - GET /api/v1/nosuchpath)" 401 "no token on an unknown path: 401, not 404 (the routes are not probed)"
is "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Basic $R" "http://127.0.0.1:$PORT/api/v1/services")" \
        401 "another scheme: 401"

# Roles.
is "$(hc "$R" GET /api/v1/services)" 200 "read: GET services"
is "$(hc "$R" GET /metrics)" 200 "read: GET /metrics"
is "$(hc "$R" POST /api/v1/services/ok/trigger)" 403 "read: trigger is 403"
grep -q "needs operate" "$TMPD/body"; ok "  saying which role it needs ($(cat "$TMPD/body"))"
is "$(hc "$R" POST /api/v1/reload)" 403 "read: reload is 403"
is "$(hc "$R" GET /api/v1/tokens)" 403 "read: the token list is 403"
is "$(hc "$O" POST /api/v1/services/ok/trigger)" 200 "operate: trigger"
grep -q '"outcome":"started"' "$TMPD/body"; ok "  the run started"
is "$(hc "$O" POST /api/v1/services/other/trigger)" 403 "operate limited to ok,bad: trigger other is 403"
is "$(hc "$O" POST /api/v1/reload)" 403 "operate: reload is 403"
is "$(hc "$A" POST /api/v1/reload)" 200 "admin: reload"
is "$(hc "$A" GET /api/v1/tokens)" 200 "admin: the token list"
is "$(hc "$A" POST /api/v1/services -d '{"command":["id"]}')" 405 "no endpoint takes a spec: POST services is 405"

# A token limited to services.
LA=$(v token create limadm --role admin --services ok)
is "$(hc "$LA" POST /api/v1/tokens -d '{"name":"esc","role":"admin"}')" 403 \
        "an admin token limited to services may not make tokens (it could lift its own limit)"
is "$(hc "$LA" POST /api/v1/reload)" 403 "  nor reload"
is "$(hc "$LA" POST /api/v1/services/ok/disable)" 200 "  but it operates its service (disable)"
is "$(hc "$LA" POST /api/v1/services/ok/enable)" 200 "  (enable)"
v token revoke limadm >/dev/null
is "$(get "$L" /api/v1/services | names)" ok "limited to ok: the listing shows ok alone"
is "$(hc "$L" GET /api/v1/services/other)" 403 "limited: another service is 403"
is "$(hc "$L" GET /api/v1/services/ok)" 200 "limited: its own service"
is "$(hc "$L" GET '/api/v1/runs?service=other')" 403 "limited: the runs of another service are 403"
oid=$(v trigger other)
v trigger bad >/dev/null
v trigger ok >/dev/null
wait_status ok success 2 && wait_status bad failure 1 && wait_status other success 1; ok "runs: ok 2, bad 1 (failing), other 1"
is "$(get "$L" '/api/v1/runs?limit=100' | python3 -c 'import json,sys; print(" ".join(sorted(set(r["service"] for r in json.load(sys.stdin)["runs"]))))')" \
        ok "limited: the run history holds its service's runs alone"
is "$(hc "$L" GET "/api/v1/runs/$oid")" 403 "limited: a run of another service is 403"
is "$(hc "$L" GET "/api/v1/runs/$oid/log")" 403 "limited: its log is 403"
is "$(hc "$R" GET "/api/v1/runs/$oid/log")" 200 "read: a run's log"

# Names checked after decoding, over TCP too.
is "$(hc "$A" GET /api/v1/services/..%2Fetc)" 400 "TCP: %2F in a name is 400"
is "$(hc "$A" GET /api/v1/services/%2e%2e)" 400 "TCP: %2e%2e is 400"
is "$(hc "$A" GET /api/v1/services/a%00b)" 400 "TCP: %00 is 400"
is "$(hc "$A" GET /api/v1/runs/%2e%2e%2F%2e%2e/log)" 400 "TCP: a run id of ../.. is 400"
# The bounds, over TCP too.
head -c 70000 /dev/zero | tr '\0' a >"$TMPD/big"
is "$(hc "$A" POST /api/v1/reload -H 'Content-Type: application/json' --data-binary @"$TMPD/big")" 413 \
        "TCP: a body over 64 KiB is 413"
hdrs=(); for i in $(seq 70); do hdrs+=(-H "X-H$i: v"); done
is "$(hc "$A" GET /api/v1/services "${hdrs[@]}")" 431 "TCP: more than 64 header fields is 431"

# Revocation.
is "$(v token revoke reader)" "reader: revoked" "token revoke"
is "$(hc "$R" GET /api/v1/services)" 401 "a revoked token: 401"
v token revoke reader 2>"$TMPD/err"; is "$?" 125 "revoking it again: 125"

# The tokens are nowhere but with their owners.
v token list >"$TMPD/list"; is "$?" 0 "token list: exit 0"
grep -Eq '^lim +read +ok ' "$TMPD/list" && grep -Eq '^op +operate +ok,bad ' "$TMPD/list" &&
        grep -Eq '^adm +admin +\(all\) ' "$TMPD/list"
ok "token list: names, roles, services"
v token list --json >>"$TMPD/list"
leaks=0
for t in "$O" "$A" "$L" "$R"; do
        grep -qF -- "$t" "$TMPD/up.log" && leaks=$((leaks + 1))
        grep -qF -- "$t" "$TMPD/list" && leaks=$((leaks + 1))
        grep -qaF -- "$t" "$ST"/tfrun.db* && leaks=$((leaks + 1))
        grep -qaF -- "${t#tfr_}" "$ST"/tfrun.db* && leaks=$((leaks + 1))
done
is "$leaks" 0 "no token in the manager's log, in token list or in the history file"
h=$(printf '%s' "$A" | sha256sum | cut -d' ' -f1)
is "$(sqlite3 "$ST/tfrun.db" "SELECT name FROM tokens WHERE hash = '$h'")" adm "the history holds the token's SHA-256"
grep -q "hash" "$TMPD/list"; is "$?" 1 "token list shows no hash"
is "$(stat -c %a "$ST/tfrun.db")" 600 "the history file is mode 0600"
grep -q "api: refused GET /api/v1/services from 127.0.0.1:[0-9]*: 401" "$TMPD/up.log"; ok "a refusal is logged with the caller's address"

# /metrics.
scraped_at=$(date +%s)
M=$(get "$A" /metrics)
scraped_by=$(date +%s)
if command -v promtool >/dev/null; then
        promtool check metrics <<<"$M" >"$TMPD/promtool" 2>&1; is "$?" 0 "promtool check metrics: the output is valid"
        [ -s "$TMPD/promtool" ] && diag "$(cat "$TMPD/promtool")"
else
        skip "promtool is not installed (Debian package prometheus)"
fi
is "$(curl -s --unix-socket "$MSOCK" http://x/metrics | grep -c '^tfrun_build_info{version=')" 1 "/metrics on the unix socket too"
hist() { v history "$1" --status "$2" -n 1000 --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["runs"]))'; }
is "$(metric "$M" 'tfrun_runs_total{service="ok",result="success"}')" "$(hist ok success)" "runs_total ok/success is the history's (2)"
is "$(metric "$M" 'tfrun_runs_total{service="bad",result="failure"}')" 1 "runs_total bad/failure: 1"
is "$(metric "$M" 'tfrun_runs_total{service="bad",result="success"}')" 0 "runs_total bad/success: 0"
is "$(metric "$M" 'tfrun_last_exit_code{service="bad"}')" 3 "last_exit_code bad: 3"
is "$(metric "$M" 'tfrun_last_success_timestamp_seconds{service="bad"}')" absent "bad never succeeded: no last success"
is "$(metric "$M" 'tfrun_run_duration_seconds_count{service="ok"}')" 2 "the duration histogram counts ok's 2 runs"
is "$(metric "$M" 'tfrun_run_duration_seconds_bucket{service="ok",le="+Inf"}')" 2 "  its +Inf bucket too"
last_ok=$(v history ok --status success -n 1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["runs"][0]["ended_usec"] // 1000000)')
is "$(metric "$M" 'tfrun_last_success_timestamp_seconds{service="ok"}' | cut -d. -f1)" "$last_ok" \
        "last_success_timestamp ok: the history's last success"
next=$(metric "$M" 'tfrun_next_run_timestamp_seconds{service="busy"}' | cut -d. -f1)
# every: 1s: the armed fire is at most a second after the scrape (bounds from the clock around the scrape,
# not after the checks above, which may take seconds on a busy host).
[ "$next" != absent ] && [ "$next" -ge "$((scraped_at - 1))" ] && [ "$next" -le "$((scraped_by + 2))" ]
ok "next_run_timestamp busy: within a second or so of the scrape ($next, scraped $scraped_at..$scraped_by)"
is "$(metric "$M" 'tfrun_services{state="broken"}')" 0 "services: none broken"
is "$(metric "$M" 'tfrun_build_info{version="'"$("$TFRUN" --version | awk '{print $NF}')"'"}')" 1 "build_info names the version"
grep -q '^tfrun_loop_lag_seconds [0-9.]*$' <<<"$M"; ok "loop_lag_seconds"
grep -q '^tfrun_queue_runs [0-9]*$' <<<"$M"; ok "queue_runs"
for f in tfrun_runs_total tfrun_run_duration_seconds tfrun_last_run_timestamp_seconds tfrun_missed_runs_total \
        tfrun_retries_total tfrun_oom_kills_total tfrun_running tfrun_services; do
        grep -q "^# HELP $f " <<<"$M" && grep -q "^# TYPE $f " <<<"$M" || fail "HELP and TYPE for $f"
done
pass "HELP and TYPE for every family"
is "$(get "$L" /metrics | grep -o 'service="[a-z]*"' | sort -u | tr '\n' ' ')" 'service="ok" ' \
        "a limited token's /metrics shows its services alone"
# busy skips a fire while it runs: missed (overlap), and a skipped run in the history.
for _ in $(seq 60); do
        M=$(get "$A" /metrics)
        [ "$(metric "$M" 'tfrun_missed_runs_total{service="busy",reason="overlap"}')" -ge 1 ] && break
        sleep 0.1
done
[ "$(metric "$M" 'tfrun_missed_runs_total{service="busy",reason="overlap"}')" -ge 1 ]; ok "missed_runs_total overlap counts a skipped fire"
# busy goes on skipping (every second) between the scrape and the history's answer: the history's count
# lies between the scrape before it and one after it.
h=$(hist busy skipped)
m1=$(metric "$M" 'tfrun_runs_total{service="busy",result="skipped"}')
m2=$(metric "$(get "$A" /metrics)" 'tfrun_runs_total{service="busy",result="skipped"}')
[ "$m1" -ge 1 ] && [ "$m1" -le "$h" ] && [ "$h" -le "$m2" ]
ok "runs_total busy/skipped is the history's ($m1 scraped before, $h in the history, $m2 scraped after)"
# busy is running most of the time (2.5 s of every 3): until a scrape sees it.
seen=0
for _ in $(seq 50); do
        [ "$(metric "$(get "$A" /metrics)" 'tfrun_running{service="busy"}')" = 1 ] && { seen=1; break; }
        sleep 0.1
done
is "$seen" 1 "running busy: 1 while it runs"
if command -v promtool >/dev/null; then
        promtool check metrics <<<"$M" >/dev/null 2>&1; ok "promtool check metrics during a run"
else
        skip "promtool is not installed"
fi

# Counters do not go back across a restart.
rm -f "$SVC/busy.yaml"
v reload >/dev/null
B=$(get "$A" /metrics)
down; is "$?" 0 "manager stopped"
up --listen :0
PORT=$(grep -o 'api: listening on 127.0.0.1:[0-9]*' "$TMPD/up.log" | head -1 | sed 's/.*://')
is "$(hc "$A" GET /api/v1/services)" 200 "the tokens survive a restart"
is "$(hc "$R" GET /api/v1/services)" 401 "  and a revoked one stays revoked"
M2=$(get "$A" /metrics)
lower=0
while read -r k val; do
        now=$(metric "$M2" "$k")
        [ "$now" = absent ] && continue
        python3 -c 'import sys; sys.exit(0 if float(sys.argv[2]) >= float(sys.argv[1]) else 1)' "$val" "$now" ||
                { lower=$((lower + 1)); diag "$k: $val before, $now after"; }
done < <(grep '^tfrun_runs_total{' <<<"$B")
is "$lower" 0 "runs_total: no value lower after the restart"
is "$(metric "$M2" 'tfrun_runs_total{service="ok",result="success"}')" 2 "runs_total ok/success still 2"
is "$(metric "$M2" 'tfrun_last_success_timestamp_seconds{service="ok"}' | cut -d. -f1)" "$last_ok" \
        "last_success_timestamp ok comes back from the history"
v trigger ok >/dev/null; wait_status ok success 3
is "$(metric "$(get "$A" /metrics)" 'tfrun_runs_total{service="ok",result="success"}')" 3 "one more run: 3"
down; is "$?" 0 "manager stopped"

# A non-loopback address: said loudly (192.0.2.1 is TEST-NET-1, never on this host: the bind fails, so the
# warning is checked without opening anything to the network).
up_bad() { "$TFRUN" up "$SVC" --state-dir "$ST" --socket "$MSOCK" --listen "$1" >"$TMPD/bad.log" 2>&1; }
up_bad 192.0.2.1:0; is "$?" 125 "--listen 192.0.2.1:0: no such local address, 125"
grep -q "warning: api: --listen 192.0.2.1 is not a loopback address" "$TMPD/bad.log"; ok "  warned it is not loopback"
up_bad localhost:80; is "$?" 125 "--listen localhost:80: a host name, 125"
grep -q "is not an IPv4 or IPv6 address" "$TMPD/bad.log"; ok "  saying so ($(cat "$TMPD/bad.log"))"
up_bad 127.0.0.1:99999; is "$?" 125 "--listen with port 99999: 125"
up_bad ::1:80; is "$?" 125 "--listen ::1:80 (IPv6 without brackets): 125"
grep -q "expected ADDR:PORT" "$TMPD/bad.log"; ok "  saying how to write it"

san_check
echo "1..$TAP_N"
exit $((TAP_FAILED > 0))
