#!/bin/bash
# SPDX-License-Identifier: MIT
# GET /api/v1/services is sent from entries the manager caches per service (rebuilt when what they are
# made of changes): after every kind of change, each entry of the listing must equal the same service's
# fields in GET /api/v1/services/NAME, which is built afresh. A trigger (running), a stop (its last result),
# stop, disable and enable, a reload that changes a spec, one that breaks it and one that mends it, a removed
# file and a new one, a token limited to some services. And a relative --state-dir records the runs.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
need_root
. "$SRCDIR/tests/integration/manager/common.sh"

api() { curl -s --unix-socket "$MSOCK" "http://localhost$1"; }

# same WHAT: every listed service's entry equals its own GET's fields (the keys of the entry); prints the
# differences.
same() {
        api /api/v1/services >"$TMPD/list.json"
        local names d
        names=$(python3 -c 'import json,sys; print(" ".join(s["name"] or "" for s in json.load(open(sys.argv[1]))["services"]))' "$TMPD/list.json")
        for n in $names; do api "/api/v1/services/$n" >"$TMPD/one-$n.json"; done
        d=$(python3 - "$TMPD" $names <<'EOF'
import json, sys
d, names = sys.argv[1], sys.argv[2:]
listed = {s["name"]: s for s in json.load(open(f"{d}/list.json"))["services"]}
for n in names:
    one = json.load(open(f"{d}/one-{n}.json"))
    bad = {k: (v, one.get(k)) for k, v in listed[n].items() if one.get(k) != v}
    if bad:
        print(n, bad)
EOF
)
        is "$d" "" "$1: the listing is each service's own"
}
state() { python3 -c 'import json,sys; print([s for s in json.load(sys.stdin)["services"] if s["name"] == sys.argv[1]][0][sys.argv[2]])' "$1" "$2"; }

svc a "command: [sleep, '60']" "stop: {grace: 1s}"
svc b "command: [true]" "schedule: {every: 1h}"
svc c "command: [true]" "schedule: {calendar: '*-*-* 03:00:00'}"
up
same "at start"
is "$(api /api/v1/services | state a runs_started)" 0 "a: no run yet"

v trigger a >/dev/null
is "$(api /api/v1/services | state a state)" running "a triggered: running at once"
same "a running"
v stop a >/dev/null
for _ in $(seq 50); do [ "$(api /api/v1/services | state a state)" = idle ] && break; sleep 0.1; done
is "$(api /api/v1/services | state a runs_started)" 1 "a: one run started"
api /api/v1/services | state a last | grep -q "'result': 'cancelled'"; ok "a stopped: its last result in the listing"
same "a ended"

v disable b >/dev/null
is "$(api /api/v1/services | state b enabled)" False "b disabled"
same "b disabled"
v enable b >/dev/null
is "$(api /api/v1/services | state b state)" waiting "b enabled again"
same "b enabled"

# c becomes a one-shot: scheduled, state and next change with the spec.
svc c "command: [true]"
v reload >/dev/null
is "$(api /api/v1/services | state c scheduled)" False "c changed by a reload: no schedule now"
same "c reloaded"
printf 'name: c\ncommand: [true]\nschedule: {every: nonsense}\n' >"$SVC/c.yaml"
v reload >/dev/null
api /api/v1/services | state c error | grep -q "every"; ok "c broken by a reload: its error in the listing"
same "c broken"
svc c "command: [true]" "schedule: {every: 2h}"
v reload >/dev/null
is "$(api /api/v1/services | python3 -c 'import json,sys; print("error" in [s for s in json.load(sys.stdin)["services"] if s["name"] == "c"][0])')" \
        False "c mended: no error"
same "c mended"
rm "$SVC/b.yaml"
svc d "command: [true]"
v reload >/dev/null
is "$(api /api/v1/services | python3 -c 'import json,sys; print(" ".join(s["name"] for s in json.load(sys.stdin)["services"]))')" \
        "a c d" "b removed, d added"
same "after the removal"

# Over TCP a token limited to a sees a alone.
down
up --listen :0
PORT=$(grep -o 'api: listening on 127.0.0.1:[0-9]*' "$TMPD/up.log" | head -1 | sed 's/.*://')
L=$(v token create lim --role read --services a)
is "$(curl -s -H "Authorization: Bearer $L" "http://127.0.0.1:$PORT/api/v1/services" |
        python3 -c 'import json,sys; print(" ".join(s["name"] for s in json.load(sys.stdin)["services"]))')" \
        a "a limited token's listing: its service alone"
same "after a restart"
down; is "$?" 0 "the manager exits 0"

# A relative --state-dir is the working directory's: the history records the runs (it keeps absolute log
# paths and refused relative ones, so that nothing was recorded).
(cd "$TMPD" && exec "$TFRUN" up "$SVC" --state-dir rel-state --socket "$MSOCK" >"$TMPD/rel.log" 2>&1) &
UP_PID=$!
wait_log "managing [0-9]* service" 20 "$TMPD/rel.log"
v trigger d >/dev/null
for _ in $(seq 50); do
        n=$(v history d --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["runs"]))')
        [ "$n" -ge 1 ] && [ "$(v history d --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["runs"][0]["status"])')" = success ] && break
        sleep 0.1
done
is "$n" 1 "a relative --state-dir: the run is in the history"
grep -q "not recorded in the history" "$TMPD/rel.log"; is "$?" 1 "  and no 'not recorded' warning"
[ -f "$TMPD/rel-state/tfrun.db" ]; ok "  the history is in the working directory's rel-state"
down; is "$?" 0 "the manager exits 0"

done_testing
