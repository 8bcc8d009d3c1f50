# SPDX-License-Identifier: MIT
# Shared by the native integration tests (sourced after tests/lib.sh).

PROBE="$TFPROBE"

# spec NAME BODY... : writes $TMPD/NAME.yaml with "name: NAME" and the given lines, prints its path.
spec() {
        local name=$1
        shift
        local f="$TMPD/$name.yaml"
        { echo "name: $name"; printf '%s\n' "$@"; } >"$f"
        echo "$f"
}

# cgroup_dirs NAME: every cgroup directory tfrun made for service NAME, in any hierarchy.
cgroup_dirs() {
        find /sys/fs/cgroup -maxdepth 8 -type d -name "tfrun-$1-*" 2>/dev/null
}

# no_cgroup_left NAME DESCRIPTION
no_cgroup_left() {
        local left
        left=$(cgroup_dirs "$1")
        if [ -z "$left" ]; then pass "$2: no cgroup left"; else
                fail "$2: no cgroup left"
                diag "left: $left"
        fi
}

# json_get FILE KEY: a top-level field of tfrun's --json object (the last line: the service's own output
# comes before it on the same stdout).
json_get() {
        python3 -c 'import json,sys; v=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])[sys.argv[2]]; print("null" if v is None else v)' "$1" "$2"
}

# no_process_left PATTERN DESCRIPTION: nothing matching PATTERN among our own processes.
no_process_left() {
        local left
        left=$(pgrep -f -- "$1" || true)
        if [ -z "$left" ]; then pass "$2: no process left"; else
                fail "$2: no process left"
                diag "left: $(ps -o pid,args -p "$(echo $left | tr ' ' ,)")"
        fi
}

# float_between VALUE LOW HIGH
float_between() {
        python3 -c 'import sys; v,l,h=map(float,sys.argv[1:]); sys.exit(0 if l<=v<=h else 1)' "$1" "$2" "$3"
}
