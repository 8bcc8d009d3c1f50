#!/bin/bash
# SPDX-License-Identifier: MIT
# Workflows: the DAG runs as it says (parallel branches overlap, max_parallel serialises, outputs arrive
# byte-exact without a shell), failures skip their dependants and fire on_failure with the run's facts,
# continue_on and when: as documented, a step's restart:, --json's steps, SIGTERM stops the whole run.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
. "$SRCDIR/tests/integration/workflow/common.sh"
need_root
D=$TMPD

# ---- the diamond a -> (b, c) -> d: b and c overlap in time; d gets both outputs ----
diamond() { # NAME MAX_PARALLEL_LINE
        wf "$1" "$2" "steps:" \
        "  - {name: a, command: [echo, from-a], output: A}" \
        "  - name: b" \
        "    depends_on: [a]" \
        "    command: [sh, -c, 'date +%s%N >$D/$1.b.start; sleep 0.5; date +%s%N >$D/$1.b.end; echo \"b saw \$1\"', sh, '\${A}']" \
        "    output: B" \
        "  - name: c" \
        "    depends_on: [a]" \
        "    command: [sh, -c, 'date +%s%N >$D/$1.c.start; sleep 0.5; date +%s%N >$D/$1.c.end; echo \"c saw \$1\"', sh, '\${A}']" \
        "    output: C" \
        "  - name: d" \
        "    depends_on: [b, c]" \
        "    command: [sh, -c, 'printf %s \"\$1|\$BOTH\" >$D/$1.d.out', sh, '\${B}']" \
        "    env: {BOTH: '\${C}'}"
}
f=$(diamond dia "max_parallel: 4")
"$TFRUN" --json "$f" >"$D/dia.json" 2>"$D/dia.err"; rc=$?
is "$rc" 0 "diamond: exit 0"
is "$(steps_summary "$D/dia.json")" "a=succeeded b=succeeded c=succeeded d=succeeded" "diamond: every step succeeded"
check "diamond: b and c overlap in time (their own timestamps)" \
        overlap "$(cat $D/dia.b.start)" "$(cat $D/dia.b.end)" "$(cat $D/dia.c.start)" "$(cat $D/dia.c.end)"
is "$(cat $D/dia.d.out)" "b saw from-a|c saw from-a" "diamond: d received both outputs (argv and env)"
grep -q '^tfrun: dia.b: succeeded status=0' "$D/dia.err"; ok "diamond: a summary line per step on stderr"

f=$(diamond ser "max_parallel: 1")
"$TFRUN" -q "$f" >/dev/null; is "$?" 0 "max_parallel 1: exit 0"
if overlap "$(cat $D/ser.b.start)" "$(cat $D/ser.b.end)" "$(cat $D/ser.c.start)" "$(cat $D/ser.c.end)"; then
        fail "max_parallel 1: b and c do not overlap"
else pass "max_parallel 1: b and c do not overlap"; fi
[ "$(cat $D/ser.b.end)" -le "$(cat $D/ser.c.start)" ]; ok "max_parallel 1: ready steps start in document order (b before c)"

# ---- a failure skips its dependants and runs on_failure with the run's facts ----
f=$(wf wfail "steps:" \
        "  - {name: a, command: [sh, -c, 'echo failing; exit 3']}" \
        "  - {name: b, depends_on: [a], command: [touch, $D/wfail.b]}" \
        "  - {name: c, depends_on: [b], command: [touch, $D/wfail.c]}" \
        "  - {name: ind, command: [touch, $D/wfail.ind]}" \
        "handlers:" \
        "  on_success: {command: [touch, $D/wfail.success]}" \
        "  on_failure: {command: [sh, -c, 'env | grep -E \"^TFRUN_(FAILED_STEP|FAILED_STEP_LOG|RUN_ID|SERVICE|STATUS)=\" | sort >$D/wfail.env']}" \
        "  on_exit: {command: [sh, -c, 'echo \$TFRUN_STATUS >$D/wfail.exit']}")
"$TFRUN" --json --log-dir "$D/logs" "$f" >"$D/wfail.json" 2>"$D/wfail.err"; rc=$?
is "$rc" 3 "failing step: the run exits with the failed step's status (3)"
is "$(json_get "$D/wfail.json" reason)" "exited" "failing step: reason exited"
is "$(steps_summary "$D/wfail.json")" "a=failed b=skipped c=skipped ind=succeeded on_failure=succeeded on_exit=succeeded" \
        "failing step: dependants skipped (also transitively), the independent step ran, on_failure and on_exit ran"
is "$(step_get "$D/wfail.json" b why)" "needs a, which failed" "failing step: b's why"
is "$(step_get "$D/wfail.json" c why)" "needs b, which was skipped" "failing step: c's why"
[ ! -e $D/wfail.b ] && [ ! -e $D/wfail.c ] && [ -e $D/wfail.ind ] && [ ! -e $D/wfail.success ]; ok "failing step: b, c and on_success did not run"
run_id=$(json_get "$D/wfail.json" run_id)
alog=$(step_get "$D/wfail.json" a log_path)
is "$alog" "$D/logs/wfail/$run_id.a.log" "the step's log: DIR/SERVICE/RUN_ID.STEP.log"
grep -q ' stdout failing$' "$alog"; ok "the step's log holds its output"
is "$(cat $D/wfail.env)" "TFRUN_FAILED_STEP=a
TFRUN_FAILED_STEP_LOG=$alog
TFRUN_RUN_ID=$run_id
TFRUN_SERVICE=wfail
TFRUN_STATUS=failed" "on_failure: the run's facts in its env"
is "$(cat $D/wfail.exit)" "failed" "on_exit: TFRUN_STATUS failed"
grep -q 'tfrun: wfail.b: skipped: needs a, which failed' "$D/logs/wfail/$run_id.log"; ok "the run's log says how its steps went"

# A failing handler fails the run.
f=$(wf hfail "steps:" "  - {name: a, command: ['true']}" "handlers:" "  on_success: {command: [sh, -c, 'exit 6']}")
"$TFRUN" -q "$f"; is "$?" 6 "a failing on_success fails the run with its status"

# ---- continue_on ----
f=$(wf cont "steps:" \
        "  - {name: a, command: [sh, -c, 'exit 5'], continue_on: {failure: true}}" \
        "  - {name: b, depends_on: [a], command: [touch, $D/cont.b]}" \
        "  - {name: c, command: [sh, -c, 'exit 4'], continue_on: {exit_codes: [4, 9]}}" \
        "  - {name: d, depends_on: [c], command: [touch, $D/cont.d]}" \
        "  - {name: e, command: [sh, -c, 'exit 7'], continue_on: {exit_codes: [4]}}" \
        "  - {name: f, depends_on: [e], command: [touch, $D/cont.f]}")
"$TFRUN" --json "$f" >"$D/cont.json" 2>/dev/null; rc=$?
is "$(steps_summary "$D/cont.json")" "a=failed b=succeeded c=succeeded d=succeeded e=failed f=skipped" \
        "continue_on: failure lets b run, exit_codes [4] make c succeed, exit 7 is not in e's list"
[ -e $D/cont.b ] && [ -e $D/cont.d ] && [ ! -e $D/cont.f ]; ok "continue_on: b and d ran, f did not"
is "$rc" 7 "continue_on: the run failed by e alone (exit 7)"
f=$(wf cont2 "steps:" "  - {name: a, command: [sh, -c, 'exit 5'], continue_on: {failure: true}}" \
        "  - {name: b, depends_on: [a], command: ['true']}")
"$TFRUN" "$f" 2>"$D/cont2.err"; is "$?" 0 "continue_on failure: the run succeeds"
grep -q '^tfrun: cont2 workflow status=0 reason=exited wall=' "$D/cont2.err"; ok "the run's summary line after its steps'"

# ---- when: ----
export WF_MODE=fast
f=$(wf when "steps:" \
        "  - {name: a, command: [echo, blue], output: COLOR}" \
        "  - {name: v-eq, depends_on: [a], command: [touch, $D/when.v-eq], when: [{var: COLOR, equals: blue}]}" \
        "  - {name: v-ne, depends_on: [a], command: [touch, $D/when.v-ne], when: [{var: COLOR, not_equals: blue}]}" \
        "  - {name: v-re, depends_on: [a], command: [touch, $D/when.v-re], when: [{var: COLOR, matches: '^bl'}]}" \
        "  - {name: env, command: [touch, $D/when.env], when: [{var: WF_MODE, equals: slow}]}" \
        "  - {name: c-true, command: [touch, $D/when.c-true], when: [{command: [test, -d, /]}]}" \
        "  - {name: c-false, command: [touch, $D/when.c-false], when: [{command: [test, -e, $D/nope]}]}" \
        "  - {name: c-code, command: [touch, $D/when.c-code], when: [{command: [sh, -c, 'exit 3'], exit_code: 3}]}" \
        "  - {name: after-skip, depends_on: [c-false], command: [touch, $D/when.after-skip]}" \
        "  - {name: skip-ok, command: ['true'], when: [{command: ['false']}], continue_on: {skipped: true}}" \
        "  - {name: after-ok, depends_on: [skip-ok], command: [touch, $D/when.after-ok]}")
"$TFRUN" --json "$f" >"$D/when.json" 2>/dev/null; rc=$?
is "$rc" 0 "when: skipped steps do not fail the run"
is "$(steps_summary "$D/when.json")" \
        "a=succeeded v-eq=succeeded v-ne=skipped v-re=succeeded env=skipped c-true=succeeded c-false=skipped c-code=succeeded after-skip=skipped skip-ok=skipped after-ok=succeeded" \
        "when: value conditions on outputs and env, command conditions, continue_on skipped"
[ -e $D/when.v-eq ] && [ ! -e $D/when.v-ne ] && [ -e $D/when.v-re ] && [ ! -e $D/when.env ] && [ -e $D/when.c-true ] &&
        [ ! -e $D/when.c-false ] && [ -e $D/when.c-code ] && [ ! -e $D/when.after-skip ] && [ -e $D/when.after-ok ]
ok "when: exactly the steps whose conditions held ran"
is "$(step_get "$D/when.json" v-ne why)" "when: COLOR is 'blue'" "when: a false value condition's why"
is "$(step_get "$D/when.json" c-false why)" "when: command 'test -e $D/nope' exited 1, not 0" "when: a false command's why"
is "$(step_get "$D/when.json" env why)" "when: WF_MODE is 'fast', not 'slow'" "when: an env condition's why"

# A handler whose when: is false is skipped, and the run goes on to on_exit and ends.
f=$(wf hwhen "steps:" "  - {name: a, command: ['true']}" "handlers:" \
        "  on_success: {command: [touch, $D/hwhen.s], when: [{var: WF_MODE, equals: slow}]}" \
        "  on_exit: {command: [touch, $D/hwhen.e]}")
timeout 20 "$TFRUN" --json-file "$D/hwhen.json" "$f" >/dev/null 2>&1; is "$?" 0 "a handler skipped by its when: the run ends (0)"
is "$(steps_summary "$D/hwhen.json")" "a=succeeded on_success=skipped on_exit=succeeded" "a handler skipped by its when:, on_exit ran"

# ---- outputs byte-exact: quotes, spaces, newlines, $ and ${...}; no shell in between ----
printf '%s' "it's \"quoted\"  two  spaces \$HOME \${A} \$(id) \`x\` a\\b
second line
" >"$D/payload"
f=$(wf bytes "steps:" \
        "  - {name: p, command: [cat, $D/payload], output: P}" \
        "  - {name: nl2, command: [printf, 'x\n\n'], output: N}" \
        "  - name: argv" \
        "    depends_on: [p, nl2]" \
        "    command: [sh, -c, 'printf %s \"\$1\" >$D/bytes.argv; printf %s \"\$2\" >$D/bytes.nl2; printf %s \"\$V\" >$D/bytes.env', sh, '\${P}', '\${N}']" \
        "    env: {V: '<\${P}>'}")
"$TFRUN" -q "$f" >/dev/null; is "$?" 0 "outputs: exit 0"
head -c -1 "$D/payload" >"$D/want"
cmp -s "$D/want" "$D/bytes.argv"; ok "outputs: argv byte-exact (one trailing newline trimmed, the inner one kept)"
{ printf '<'; cat "$D/want"; printf '>'; } >"$D/want.env"
cmp -s "$D/want.env" "$D/bytes.env"; ok "outputs: inside an env value byte-exact"
is "$(od -An -c "$D/bytes.nl2" | tr -s ' ')" " x \n" "outputs: only one trailing newline is trimmed"

# More than 1 MiB of output fails the step.
f=$(wf big "steps:" "  - {name: p, command: [$PROBE, output, '1048577'], output: P}" \
        "  - {name: q, depends_on: [p], command: ['true']}")
"$TFRUN" --json-file "$D/big.json" "$f" >/dev/null 2>&1; rc=$?
is "$(steps_summary "$D/big.json")" "p=failed q=skipped" "output over 1 MiB: the step fails"
step_get "$D/big.json" p why | grep -q 'more than 1048576 bytes (1 MiB)'; ok "output over 1 MiB: why says so"
is "$rc" 1 "output over 1 MiB: the run fails (exit 1: the process itself exited 0)"
f=$(wf exact "steps:" "  - {name: p, command: [$PROBE, output, '1048576'], output: P}")
"$TFRUN" -q "$f" >/dev/null; is "$?" 0 "output of exactly 1 MiB is fine"

# ---- --json steps ----
for k in name status exit_code reason started_at ended_at wall_usec memory_peak_bytes oom log_path why; do
        [ "$(step_get "$D/wfail.json" a $k)" != absent ] || { fail "--json steps: field $k"; continue; }
        pass "--json steps: field $k"
done
is "$(step_get "$D/wfail.json" a exit_code)" 3 "--json steps: a's exit_code"
is "$(step_get "$D/wfail.json" b exit_code)" null "--json steps: a skipped step has no exit code"
is "$(json_get "$D/wfail.json" backend)" workflow "--json: backend workflow; the run's fields as for a run"

# ---- restart: on-failure retries the step inside the run ----
f=$(wf retry "steps:" \
        "  - name: flaky" \
        "    command: [sh, -c, 'echo x >>$D/retry.count; [ \$(wc -l <$D/retry.count) -ge 3 ]']" \
        "    restart: {policy: on-failure, max_retries: 3, backoff: {initial: 100ms, max: 200ms, jitter: false}}" \
        "  - {name: next, depends_on: [flaky], command: ['true']}")
"$TFRUN" --json "$f" >"$D/retry.json" 2>"$D/retry.err"; rc=$?
is "$rc" 0 "restart: the flaky step succeeds on its third attempt"
is "$(wc -l <$D/retry.count)" 3 "restart: three attempts"
is "$(grep -c 'retrying in' "$D/retry.err")" 2 "restart: two retries said on stderr"

# ---- SIGTERM to tfrun stops the run: running steps per their stop:, pending ones cancelled ----
f=$(wf term "steps:" "  - {name: s, command: [$PROBE, sleep, '30']}" \
        "  - {name: after, depends_on: [s], command: [touch, $D/term.after]}")
"$TFRUN" --json "$f" >"$D/term.json" 2>/dev/null &
pid=$!
for _ in $(seq 50); do [ -n "$(cgroup_dirs term.s)" ] && break; sleep 0.1; done
kill -TERM $pid
wait $pid; rc=$?
is "$rc" 143 "SIGTERM: the run is cancelled (128+SIGTERM)"
is "$(json_get "$D/term.json" reason)" cancelled "SIGTERM: reason cancelled"
is "$(steps_summary "$D/term.json")" "s=cancelled after=cancelled" "SIGTERM: the running step and the pending one cancelled"
[ ! -e $D/term.after ]; ok "SIGTERM: no step started after it"
no_cgroup_left term.s "SIGTERM"
no_process_left "$PROBE sleep 30" "SIGTERM"

echo "1..$TAP_N"
[ "$TAP_FAILED" -eq 0 ]
