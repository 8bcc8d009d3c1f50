# SPDX-License-Identifier: MIT
# TAP helpers for integration tests (sourced). Meson runs these with protocol: 'tap'.
# Environment from meson: TFRUN (the binary), TFPROBE (tests/probe), SRCDIR (project root).

set -u
TAP_N=0
TAP_FAILED=0
: "${TFRUN:?TFRUN must point at the tfrun binary}"
: "${SRCDIR:?SRCDIR must point at the source tree}"
FIXTURES="$SRCDIR/tests/fixtures"
TMPD=$(mktemp -d /tmp/tfrun-test.XXXXXX)
trap 'rm -rf "$TMPD"' EXIT

ok() {      # ok DESCRIPTION   (uses $? of the previous command when called as: cmd; ok "desc")
        local rc=$?
        TAP_N=$((TAP_N + 1))
        if [ "$rc" -eq 0 ]; then
                echo "ok $TAP_N - $*"
        else
                TAP_FAILED=$((TAP_FAILED + 1))
                echo "not ok $TAP_N - $*"
        fi
}

pass() { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $*"; }
fail() { TAP_N=$((TAP_N + 1)); TAP_FAILED=$((TAP_FAILED + 1)); echo "not ok $TAP_N - $*"; }
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }

# check DESCRIPTION COND...  : runs the condition, records the result
check() {
        local d=$1
        shift
        if "$@"; then pass "$d"; else fail "$d"; diag "failed: $*"; fi
}

# is GOT WANT DESCRIPTION
is() {
        if [ "$1" = "$2" ]; then pass "$3"; else
                fail "$3"
                diag "got:  $1" "want: $2"
        fi
}

# skip REASON : a missing component. Under CI=true it is a failure.
skip() {
        TAP_N=$((TAP_N + 1))
        if [ "${CI:-}" = true ]; then
                TAP_FAILED=$((TAP_FAILED + 1))
                echo "not ok $TAP_N - SKIP not allowed under CI=true: $*"
        else
                echo "ok $TAP_N # SKIP $*"
        fi
}

# skip_all REASON: the whole file cannot run here.
skip_all() {
        if [ "${CI:-}" = true ]; then
                echo "not ok 1 - SKIP not allowed under CI=true: $*"
                echo "1..1"
                exit 1
        fi
        echo "1..0 # SKIP $*"
        exit 0
}

need_root() { [ "$(id -u)" = 0 ] || skip_all "needs root"; }

# bad_fixtures MIN KIND: every NAME.yaml in the current directory through `tfrun validate` and `tfrun run`:
# exit 125 and exactly "tfrun: $(cat NAME.err)"; at least MIN of them.
bad_fixtures() {
        local min=$1 kind=$2 n=0 y name want cmd got rc
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
        [ "$n" -ge "$min" ]; ok "at least $min $kind fixtures ($n)"
}

done_testing() {
        echo "1..$TAP_N"
        [ "$TAP_FAILED" -eq 0 ]
}
