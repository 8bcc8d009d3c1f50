#!/bin/bash
# SPDX-License-Identifier: MIT
# Runs inside the test VM (see run-suite.sh): `meson test` on the given suites of $BUILDDIR and reports
# one TAP line per meson test, so the host's meson shows what passed in the guest. The build dir must be
# writable (run-suite.sh mounts it as an overlay): meson test writes its logs there.
# A suite with no test at all is not an error: then the guest only proves `meson test --list` works.
set -u
: "${BUILDDIR:?BUILDDIR must point at the meson build dir}"
[ $# -gt 0 ] || { echo "usage: guest-suite.sh SUITE..." >&2; exit 2; }
py=/usr/bin/python3
logbase=vm-$$
n=0
failed=0
tap() { # tap OK|NOT DESCRIPTION
        n=$((n + 1))
        if [ "$1" = OK ]; then echo "ok $n - $2"; else failed=$((failed + 1)); echo "not ok $n - $2"; fi
}
diag() { sed 's/^/# /'; }

suites=()
for s in "$@"; do
        # The VM suite would boot a VM inside the VM.
        if [ "$s" = vm ] || [[ "$s" = *:vm ]]; then
                tap NOT "suite $s cannot run inside the VM"
                continue
        fi
        suites+=("$s")
done

# Which of the asked suites have tests? meson test --suite with no match runs nothing and still succeeds.
have=()
intro_ok=0
if [ ${#suites[@]} -gt 0 ]; then
        # meson-info/ holds what `meson introspect --tests` prints, without a second meson start (~5 s
        # under TCG).
        if [ -s "$BUILDDIR/meson-info/intro-tests.json" ]; then
                intro=$(cat "$BUILDDIR/meson-info/intro-tests.json") && intro_ok=1
        elif intro=$(meson introspect "$BUILDDIR" --tests 2>&1); then
                intro_ok=1
        fi
        if [ "$intro_ok" = 1 ] && found=$(printf '%s' "$intro" | "$py" -c '
import json, sys
tests = json.load(sys.stdin)
for want in sys.argv[1:]:
    if any(s == want or s.endswith(":" + want) for t in tests for s in t["suite"]):
        print(want)
' "${suites[@]}"); then
                [ -z "$found" ] || mapfile -t have <<<"$found"
        else
                printf '%s\n' "${intro:-}" | tail -n 20 | diag
                tap NOT "the guest can read the build dir's test list"
        fi
fi

for s in "${suites[@]}"; do
        case " ${have[*]-} " in
        *" $s "*) ;;
        *) echo "# suite $s has no test registered: checking that meson test --list runs" ;;
        esac
done

if [ ${#have[@]} -eq 0 ] && [ ${#suites[@]} -gt 0 ]; then
        if out=$(meson test -C "$BUILDDIR" --no-rebuild --list 2>&1); then
                printf '%s\n' "$out" | diag
                tap OK "guest ran meson test --list ($(printf '%s\n' "$out" | grep -c .) tests, none in: ${suites[*]})"
        else
                printf '%s\n' "$out" | diag
                tap NOT "guest ran meson test --list"
        fi
elif [ ${#have[@]} -gt 0 ]; then
        args=()
        for s in "${have[@]}"; do args+=(--suite "$s"); done
        # TCG is several times slower than the host: stretch the per-test timeouts.
        meson test -C "$BUILDDIR" --no-rebuild --print-errorlogs --logbase "$logbase" \
                -t "${VM_TIMEOUT_MULTIPLIER:-4}" "${args[@]}" 2>&1 | diag
        rc=${PIPESTATUS[0]}
        json=$BUILDDIR/meson-logs/$logbase.json
        if [ ! -s "$json" ]; then
                tap NOT "meson test ran in the guest (exit $rc, no $json)"
        else
                # One TAP line per meson test; subtests stay in meson's log printed above.
                res=$("$py" - "$json" "$n" <<'EOF'
import json, sys
n = int(sys.argv[2])
bad = 0
for line in open(sys.argv[1]):
    t = json.loads(line)
    n += 1
    r, name, d = t["result"], t["name"], t.get("duration", 0)
    if r == "OK":
        print(f"ok {n} - {name} ({d:.1f}s in the VM)")
    elif r == "SKIP":
        print(f"ok {n} - {name} # SKIP in the VM")
    elif r == "EXPECTEDFAIL":
        print(f"ok {n} - {name} # TODO expected failure")
    else:
        bad += 1
        print(f"not ok {n} - {name}: {r} in the VM (exit {t.get('returncode')})")
        # meson prints only stderr of a failed TAP test; its own TAP (with the diagnostics) is in the
        # guest's log, which vanishes with the overlay: show the failures and their diagnostics here.
        out = (t.get("stdout") or "").splitlines()
        keep = [l for l in out if l.startswith("not ok") or l.startswith("#") or l.startswith("Bail out")]
        for l in keep[-60:]:
            print(f"#   {name}: {l}")
print(f"COUNT {n} {bad}")
EOF
)
                printf '%s\n' "$res" | grep -v '^COUNT '
                read -r _ n bad <<<"$(printf '%s\n' "$res" | grep '^COUNT ')"
                failed=$((failed + bad))
                if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
                        tap NOT "meson test exit status in the guest is $rc"
                fi
        fi
fi
echo "1..$n"
[ "$failed" -eq 0 ]
