# SPDX-License-Identifier: MIT
# Shared by the manager tests (sourced after tests/lib.sh): a manager over $SVC with its state in $ST,
# its socket at $MSOCK, its stdout and stderr in $TMPD/up.log.
SVC=$TMPD/services
ST=$TMPD/state
MSOCK=$TMPD/tfrun.sock
mkdir -p "$SVC"
UP_PID=
# A long run's sleep: 300 s, with this test's pid (fixed width) as the fraction, so that "no process left"
# finds this test's runs only, never another test's or agent's `sleep 300` on a shared host.
LONG=300.$(printf %07d $$)
LONG_RE="sleep 300\\.$(printf %07d $$)( |\$)"

# svc NAME BODY...: $SVC/NAME.yaml with "name: NAME" and the lines given.
svc() {
        local name=$1
        shift
        { echo "name: $name"; printf '%s\n' "$@"; } >"$SVC/$name.yaml"
}

# up [ARGS...]: start the manager in the background; waits until it says it manages its services.
up() {
        san_check
        : >"$TMPD/up.log"
        "$TFRUN" up "$SVC" --state-dir "$ST" --socket "$MSOCK" "$@" >>"$TMPD/up.log" 2>&1 &
        UP_PID=$!
        wait_log "managing [0-9]* service" 20 || diag "the manager did not come up: $(tail -5 "$TMPD/up.log")"
}

# down: SIGTERM, and the manager's exit status.
down() {
        kill -TERM "$UP_PID" 2>/dev/null
        wait "$UP_PID"
        local rc=$?
        UP_PID=
        return $rc
}

# san_check: a sanitizer's report in the manager's output so far is a failure (under ASan the manager keeps
# running after some of them, and its output is not the test's).
san_check() {
        [ -f "$TMPD/up.log" ] || return 0
        if grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$TMPD/up.log"; then
                fail "the manager's sanitizer report"
                diag "$(grep -E -A12 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$TMPD/up.log" | head -40)"
        fi
}

# wait_log REGEX SECONDS [FILE]: until a line of the manager's output matches.
wait_log() {
        local i n=$(($2 * 10)) f=${3:-$TMPD/up.log}
        for ((i = 0; i < n; i++)); do
                grep -Eq -- "$1" "$f" 2>/dev/null && return 0
                sleep 0.1
        done
        return 1
}

# count_log REGEX: lines of the manager's output that match.
count_log() { grep -Ec -- "$1" "$TMPD/up.log"; }

cleanup_up() {
        [ -n "$UP_PID" ] && kill -KILL "$UP_PID" 2>/dev/null
        rm -rf "$TMPD"
}
trap cleanup_up EXIT

# v VERB...: a verb against this test's manager.
v() { "$TFRUN" "$@" --socket "$MSOCK"; }
# wait_for EXPR SECONDS: until EXPR (evaluated) is true, at most SECONDS.
wait_for() { local i; for ((i = 0; i < $2 * 10; i++)); do eval "$1" && return 0; sleep 0.1; done; return 1; }
