#!/bin/bash
# SPDX-License-Identifier: MIT
# `tfrun up DIR --config FILE`: every bad settings fixture is refused with exit 125 and its exact message,
# before anything is created (no state directory, no socket); a good one starts the manager.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/manager/common.sh"
trap cleanup_up EXIT
cd "$FIXTURES/bad-settings" || exit 1
n=0
for y in *.yaml; do
        name=${y%.yaml}
        want="tfrun: $(cat "$name.err")"
        got=$("$TFRUN" up "$SVC" --config "$y" --state-dir "$ST" --socket "$MSOCK" 2>&1 >/dev/null); rc=$?
        if [ "$rc" = 125 ] && [ "$got" = "$want" ]; then pass "$name: 125 and its message"; else
                fail "$name: 125 and its message"
                diag "rc:   $rc" "got:  $got" "want: $want"
        fi
        n=$((n + 1))
done
[ "$n" -ge 15 ]; ok "at least 15 bad settings fixtures ($n)"
[ ! -e "$ST" ] && [ ! -e "$MSOCK" ]; ok "a bad settings file created nothing"

"$TFRUN" up "$SVC" --config "$TMPD/nope.yaml" --state-dir "$ST" --socket "$MSOCK" 2>"$TMPD/err"
is "$?" 125 "a missing settings file: 125"
is "$(cat "$TMPD/err")" "tfrun: $TMPD/nope.yaml: cannot open: No such file or directory" "a missing settings file: its message"
"$TFRUN" up "$SVC" --config "$TMPD" --state-dir "$ST" --socket "$MSOCK" 2>"$TMPD/err"
is "$?" 125 "a directory as settings: 125"
is "$(cat "$TMPD/err")" "tfrun: $TMPD: is a directory, expected a settings file" "a directory as settings: its message"

# A good file (every section) and an empty one: the manager comes up.
cat >"$TMPD/good.yaml" <<'YAML'
# the manager's settings
queues:
  default: {max_concurrent: 8}
  batch: {max_concurrent: 2}
admission:
  max_wait: 1h
  aging: 30s
YAML
svc hello "command: [true]"
up --config "$TMPD/good.yaml"
grep -q "managing 1 service" "$TMPD/up.log"; ok "a good settings file: the manager comes up"
down; is "$?" 0 "and stops cleanly"
: >"$TMPD/empty.yaml"
up --config "$TMPD/empty.yaml"
grep -q "managing 1 service" "$TMPD/up.log"; ok "an empty settings file: the manager comes up"
down
san_check
done_testing
