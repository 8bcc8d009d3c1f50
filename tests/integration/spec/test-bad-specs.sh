#!/bin/bash
# SPDX-License-Identifier: MIT
# Every bad-spec fixture through the real CLI: exit 125, its exact message, and nothing started.
. "$SRCDIR/tests/lib.sh"
cd "$FIXTURES/bad" || exit 1
# Cgroups of the services these fixtures name (their name: or their file's name): other suites' services
# may come and go meanwhile, and are not this test's business.
names=$( (for y in *.yaml; do basename "$y" .yaml; sed -n 's/^name: *//p' "$y"; done; echo pipe; echo diamond) | sort -u)
ours() {
        find /sys/fs/cgroup -maxdepth 8 -type d -name 'tfrun-*' 2>/dev/null |
                awk -v names="$names" 'BEGIN { n = split(names, a, "\n"); for (i = 1; i <= n; i++) set[a[i]] = 1 }
                        { b = $0; sub(".*/tfrun-", "", b); sub("-[0-9]+-[0-9]+$", "", b); if (b in set) print }' | sort
}
before=$(ours)
bad_fixtures 20 bad-spec
# A valid workflow: validate accepts it (its steps checked like services), and run runs it
# (tests/integration/workflow has the rest).
cat >"$TMPD/pipe.yaml" <<'EOF'
name: pipe
steps:
  - {name: a, command: [echo, a], output: A}
  - {name: b, command: [echo, '${A}'], depends_on: [a]}
handlers:
  on_failure: {command: [echo, failed]}
EOF
got=$("$TFRUN" validate "$TMPD/pipe.yaml" 2>&1); is "$?" 0 "a workflow validates"
is "$got" "$TMPD/pipe.yaml: ok (workflow pipe, 2 steps)" "validate names it a workflow"
got=$("$TFRUN" run -q "$TMPD/pipe.yaml" 2>&1); is "$?" 0 "run of a workflow: 0"
is "$got" "a
a" "run of a workflow: a's output, then b's, made of it"
got=$("$TFRUN" validate "$FIXTURES/good/workflow-diamond.yaml" 2>&1); is "$?" 0 "the good diamond validates"
is "$got" "$FIXTURES/good/workflow-diamond.yaml: ok (workflow diamond, 4 steps)" "the good diamond: its line"
after=$(ours)
is "$after" "$before" "no bad spec created a cgroup"

# File-level failures.
"$TFRUN" validate "$TMPD/nope.yaml" 2>"$TMPD/err"; is "$?" 125 "missing file: 125"
is "$(cat "$TMPD/err")" "tfrun: $TMPD/nope.yaml: cannot open: No such file or directory" "missing file: message"
"$TFRUN" validate "$TMPD" 2>"$TMPD/err"; is "$?" 125 "a directory: 125"
is "$(cat "$TMPD/err")" "tfrun: $TMPD: is a directory, expected a spec file" "a directory: message"
# What the swarm backend refuses (docker/swarm.c): checked without an engine, by validate and by run, before
# anything is created.
cd "$FIXTURES/bad-swarm" || exit 1
bad_fixtures 7 bad-swarm
done_testing
