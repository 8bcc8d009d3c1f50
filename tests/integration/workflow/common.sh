# SPDX-License-Identifier: MIT
# Shared by the workflow tests (sourced after tests/lib.sh and tests/integration/native/common.sh).

# wf NAME LINES...: a workflow spec $TMPD/NAME.yaml (as `spec`).
wf() { spec "$@"; }

# step_get FILE STEP KEY: a field of one step of tfrun's --json object.
step_get() {
        python3 -c '
import json, sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
for s in d["steps"]:
    if s["name"] == sys.argv[2]:
        v = s[sys.argv[3]]
        print("null" if v is None else str(v).lower() if isinstance(v, bool) else v)
        break
else:
    print("absent")' "$1" "$2" "$3"
}

# steps_summary FILE: "name=status" for every step, in order, space-separated.
steps_summary() {
        python3 -c '
import json, sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print(" ".join(s["name"] + "=" + s["status"] for s in d["steps"]))' "$1"
}

# overlap A_START A_END B_START B_END (nanoseconds): true when the intervals overlap.
overlap() { [ "$1" -lt "$4" ] && [ "$3" -lt "$2" ]; }
