#!/bin/bash
# SPDX-License-Identifier: MIT
# Every bad-spec fixture through the real CLI: exit 125, its exact message, and nothing started.
. "$SRCDIR/tests/lib.sh"
cd "$FIXTURES/bad" || exit 1
before=$(find /sys/fs/cgroup -maxdepth 8 -type d -name 'tfrun-*' 2>/dev/null | sort)
bad_fixtures 20 bad-spec
after=$(find /sys/fs/cgroup -maxdepth 8 -type d -name 'tfrun-*' 2>/dev/null | sort)
is "$after" "$before" "no bad spec created a cgroup"

# File-level failures.
"$TFRUN" validate "$TMPD/nope.yaml" 2>"$TMPD/err"; is "$?" 125 "missing file: 125"
is "$(cat "$TMPD/err")" "tfrun: $TMPD/nope.yaml: cannot open: No such file or directory" "missing file: message"
"$TFRUN" validate "$TMPD" 2>"$TMPD/err"; is "$?" 125 "a directory: 125"
is "$(cat "$TMPD/err")" "tfrun: $TMPD: is a directory, expected a spec file" "a directory: message"
done_testing
