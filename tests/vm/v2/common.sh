# SPDX-License-Identifier: MIT
# Shared by the 'v2' suite (sourced after tests/lib.sh and tests/integration/native/common.sh). These tests
# run only inside the test VM (tests/vm/v2.sh boots it and runs `meson test --suite v2` there): they write
# to the root of a fresh pure cgroup v2 hierarchy, which must never happen on a real host.

if [ "${TFRUN_IN_VM:-}" != 1 ]; then
        echo "Bail out! the 'v2' suite runs only inside the test VM: meson test --suite vm vm-v2"
        exit 1
fi
need_root

CG=/sys/fs/cgroup
[ "$(stat -f -c %T $CG)" = cgroup2fs ] || {
        echo "Bail out! $CG is not a cgroup2 mount"
        exit 1
}

# cg_of_pid PID: the v2 cgroup path of PID ("/tfrun-x-1-1").
cg_of_pid() { sed -n 's/^0:://p' "/proc/$1/cgroup"; }

# wait_for COND...: up to 10 s for a condition.
wait_for() {
        local i
        for i in $(seq 100); do
                "$@" && return 0
                sleep 0.1
        done
        return 1
}

# ratio A B: A/B with 3 decimals.
ratio() { python3 -c "import sys; a,b=map(float,sys.argv[1:]); print(round(a/b, 3) if b else 'inf')" "$1" "$2"; }

# tfrun_cg_left: any service cgroup (tfrun-*, not the supervisor leaf) left anywhere in the hierarchy.
tfrun_cg_left() { find $CG -mindepth 1 -type d -name 'tfrun-*' ! -name tfrun-supervisor 2>/dev/null; }
