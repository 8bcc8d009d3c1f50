#!/bin/bash
# SPDX-License-Identifier: MIT
# Specs whose schedule/ expressions are refused (the spec module leaves their syntax to schedule/, so they
# are not in fixtures/bad): through the real CLI, `validate` and `run` exit 125 with exactly NAME.err.
. "$SRCDIR/tests/lib.sh"
cd "$FIXTURES/bad-schedule" || exit 1
n=0
for y in *.yaml; do
        name=${y%.yaml}
        [ -f "$name.err" ] || { fail "$name: has no .err file"; continue; }
        want="tfrun: $(cat "$name.err")"
        for cmd in validate run; do
                got=$("$TFRUN" $cmd "$y" 2>&1 >/dev/null); rc=$?
                if [ "$rc" = 125 ] && [ "$got" = "$want" ]; then pass "$cmd $name: 125 and its message"; else
                        fail "$cmd $name: 125 and its message"
                        diag "rc:   $rc" "got:  $got" "want: $want"
                fi
        done
        n=$((n + 1))
done
[ "$n" -ge 6 ]; ok "at least 6 bad-schedule fixtures ($n)"
for e in *.err; do [ -f "${e%.err}.yaml" ] || fail "$e has no .yaml"; done
done_testing
