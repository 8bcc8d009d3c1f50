#!/bin/bash
# SPDX-License-Identifier: MIT
# Every bad-spec fixture through the real CLI: exit 125, its exact message, and nothing started.
. "$SRCDIR/tests/lib.sh"
cd "$FIXTURES/bad" || exit 1
before=$(find /sys/fs/cgroup -maxdepth 8 -type d -name 'tfrun-*' 2>/dev/null | sort)
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
[ "$n" -ge 20 ]; ok "at least 20 bad-spec fixtures ($n)"
after=$(find /sys/fs/cgroup -maxdepth 8 -type d -name 'tfrun-*' 2>/dev/null | sort)
is "$after" "$before" "no bad spec created a cgroup"

# File-level failures.
"$TFRUN" validate "$TMPD/nope.yaml" 2>"$TMPD/err"; is "$?" 125 "missing file: 125"
is "$(cat "$TMPD/err")" "tfrun: $TMPD/nope.yaml: cannot open: No such file or directory" "missing file: message"
"$TFRUN" validate "$TMPD" 2>"$TMPD/err"; is "$?" 125 "a directory: 125"
is "$(cat "$TMPD/err")" "tfrun: $TMPD: is a directory, expected a spec file" "a directory: message"
done_testing
