#!/bin/bash
# SPDX-License-Identifier: MIT
# A short libFuzzer run of one target over a scratch copy of its corpus (new inputs must not land in the
# source tree), as TAP: `run-fuzzer.sh NAME FUZZER CORPUS MAX_LEN`. FUZZ_SECONDS (default 15) bounds it.
# A crash, a sanitizer report, a leak, a timeout or a broken property fails it; the reproducer is kept
# under $FUZZ_ARTIFACTS (default: the build tree's fuzz-artifacts/) and named in the output.
set -uo pipefail
name=$1 fuzzer=$2 corpus=$3 max_len=$4
secs=${FUZZ_SECONDS:-15}
art=${FUZZ_ARTIFACTS:-$(dirname "$fuzzer")/fuzz-artifacts}/$name
tmp=$(mktemp -d /tmp/tfrun-fuzz.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/corpus" "$art"
cp "$corpus"/* "$tmp/corpus/"
touch "$tmp/start"
n=$(ls "$tmp/corpus" | wc -l)
"$fuzzer" -max_total_time="$secs" -timeout=10 -max_len="$max_len" -print_final_stats=1 \
        -artifact_prefix="$art/" "$tmp/corpus" >"$tmp/log" 2>&1
rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/log" | tail -1)
if [ "$rc" = 0 ] && [ -n "$runs" ] && [ "$runs" -gt 0 ]; then
        echo "ok 1 - fuzz-$name: ${secs}s over $n corpus inputs, $runs runs, no finding"
else
        echo "not ok 1 - fuzz-$name: exit $rc after ${runs:-0} runs (${secs}s over $n corpus inputs)"
        # To stderr as well: meson prints a failed test's stderr, and a CI log is all a finding in a
        # fresh clone leaves behind, so the reproducer's bytes go there too (printf %q to read, base64 to
        # replay byte for byte). tee -a: a stderr that is a file is appended to, not truncated.
        {
                grep -E '^(==[0-9]+==|SUMMARY|artifact_prefix|Test unit written|FUZZ|fuzz property|  |.*runtime error)' \
                        "$tmp/log" | head -40
                tail -5 "$tmp/log"
                find "$art" -type f -newer "$tmp/start" | while read -r f; do
                        echo "reproducer: $f ($(stat -c %s "$f") bytes): $(printf '%q' "$(head -c 400 "$f" | tr -d '\0')")"
                        echo "reproducer base64: $(head -c 4096 "$f" | base64 -w0)"
                done
        } | tee -a /dev/stderr | sed 's/^/# /'
fi
echo "1..1"
