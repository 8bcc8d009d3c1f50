#!/bin/bash
# SPDX-License-Identifier: MIT
# timeout and stop on cgroup v2: the whole tree dies through cgroup.kill (kernel >= 5.14), and the
# freeze + kill + thaw fallback (forced with TFRUN_CG_NO_KILL_FILE=1) does the same job. Both are watched
# with strace to know which path ran, and both must leave no process and no cgroup behind.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
. "$SRCDIR/tests/vm/v2/common.sh"

have_strace=1
command -v strace >/dev/null || have_strace=0

# A stubborn tree: ignores SIGTERM, 4 children that ignore it too; and a shell that keeps forking; and a
# process the service (root) moved into a cgroup of its own below its leaf.
cat >"$TMPD/forker.sh" <<EOS
#!/bin/sh
trap '' TERM INT
while :; do $PROBE sleep 30 & sleep 0.05; done
EOS
cat >"$TMPD/nested.sh" <<EOS
#!/bin/sh
trap '' TERM
me=\$(sed -n 's/^0:://p' /proc/self/cgroup)
mkdir /sys/fs/cgroup\$me/inner
sh -c 'echo \$\$ >/sys/fs/cgroup'\$me'/inner/cgroup.procs; trap "" TERM; exec $PROBE ignore-term 30 2' &
$PROBE ignore-term 30 2
EOS
# The same forker, dying of SIGINT (only TERM ignored): the main process ends, the rest is killed.
sed "s/trap '' TERM INT/trap '' TERM/" "$TMPD/forker.sh" >"$TMPD/forker-int.sh"
chmod +x "$TMPD/forker.sh" "$TMPD/nested.sh" "$TMPD/forker-int.sh"

# run_case MODE NAME COMMAND: MODE is "kill" (cgroup.kill) or "fallback".
run_case() {
        local mode=$1 name=$2 cmd=$3 envs=() f rc st=()
        [ "$mode" = fallback ] && envs=(TFRUN_CG_NO_KILL_FILE=1)
        # sandbox: host: nested.sh makes a cgroup of its own below the service's (read-only in the
        # default sandbox), and what is killed here must be what the cgroup holds, not what a pid
        # namespace's end would take with it.
        f=$(spec "$name" "command: [$cmd]" "timeout: 1500ms" "stop: {signal: SIGTERM, grace: 500ms}" "sandbox: host")
        # Every system call of the traced tree stops in strace: under TCG on a loaded host, a kill pass over
        # the forker's processes took 1.3-1.8 s, over the suite's 1 s loop warning (tests/meson.build),
        # which is fatal. A hang still aborts tfrun at 10 s.
        [ "$have_strace" = 1 ] && st=(strace -f -qq -o "$TMPD/$name.st" -e trace=openat,write) &&
                envs+=(TFRUN_LOOP_WARN_MS=10000)
        env "${envs[@]}" "${st[@]}" "$TFRUN" --json "$f" >"$TMPD/$name.json" 2>"$TMPD/$name.err"; rc=$?
        is "$rc" 124 "$mode, $name: timed out (124)"
        is "$(json_get "$TMPD/$name.json" reason)" timed-out "$mode, $name: reason timed-out"
        sleep 0.2
        no_process_left "$PROBE sleep 30" "$mode, $name"
        no_process_left "$PROBE ignore-term" "$mode, $name"
        is "$(tfrun_cg_left)" "" "$mode, $name: no cgroup left"
        if [ "$have_strace" = 0 ]; then
                skip "strace is not installed on the host (apt-get install strace)"
                return
        fi
        if [ "$mode" = kill ]; then
                grep -q 'openat([0-9]*, "cgroup.kill", O_WRONLY' "$TMPD/$name.st"; ok "$mode, $name: cgroup.kill was written"
        else
                ! grep -q 'cgroup.kill' "$TMPD/$name.st" && grep -q 'openat([0-9]*, "cgroup.freeze", O_WRONLY' "$TMPD/$name.st"
                ok "$mode, $name: no cgroup.kill; cgroup.freeze was used"
        fi
}

for mode in kill fallback; do
        run_case $mode "$mode-stubborn" "$PROBE, ignore-term, '30', '4'"
        run_case $mode "$mode-forker" "$TMPD/forker.sh"
        run_case $mode "$mode-nested" "$TMPD/nested.sh"
done

# Stop by the operator (SIGINT to tfrun), fallback path: the same, and the service dies of it.
for mode in kill fallback; do
        envs=()
        [ "$mode" = fallback ] && envs=(TFRUN_CG_NO_KILL_FILE=1)
        f=$(spec "int-$mode" "command: [$TMPD/forker-int.sh]" "stop: {grace: 300ms}")
        env "${envs[@]}" "$TFRUN" "$f" >/dev/null 2>"$TMPD/int-$mode.err" &
        pid=$!
        wait_for sh -c "pgrep -f '$PROBE sleep 30' >/dev/null"
        sleep 0.5
        kill -INT $pid
        wait $pid; rc=$?
        is "$rc" 130 "$mode: SIGINT to tfrun: the service dies of it (130)"
        sleep 0.2
        no_process_left "$PROBE sleep 30" "$mode, SIGINT"
        is "$(tfrun_cg_left)" "" "$mode, SIGINT: no cgroup left"
done

done_testing
