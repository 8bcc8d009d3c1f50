#!/bin/bash
# SPDX-License-Identifier: MIT
# Specs whose schedule/ expressions are refused (the spec module leaves their syntax to schedule/, so they
# are not in fixtures/bad): through the real CLI, `validate` and `run` exit 125 with exactly NAME.err.
. "$SRCDIR/tests/lib.sh"
cd "$FIXTURES/bad-schedule" || exit 1
bad_fixtures 6 bad-schedule
for e in *.err; do [ -f "${e%.err}.yaml" ] || fail "$e has no .yaml"; done
done_testing
