#!/bin/bash
# SPDX-License-Identifier: MIT
# The native backend end to end: exit codes, stdio, env, user, working_dir, nofile, reports.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
need_root

f=$(spec hello "command: [echo, hello world]")
out=$("$TFRUN" "$f" 2>"$TMPD/err"); rc=$?
is "$rc" 0 "hello exits 0"
is "$out" "hello world" "stdout passes through"
grep -q '^tfrun: hello native status=0 reason=exited wall=' "$TMPD/err"; ok "summary line on stderr"
grep -q 'cpu=[0-9.]*m\?s mem_peak=[0-9.]*[KMG]\?B\? pids_peak=[0-9]' "$TMPD/err"; ok "summary has cpu, peak memory and pids"
"$TFRUN" run "$f" >/dev/null 2>&1; is "$?" 0 "tfrun run FILE works too"

f=$(spec code "command: [$PROBE, exit, '3']")
"$TFRUN" -q "$f"; is "$?" 3 "the child's exit code is tfrun's"

f=$(spec sig "command: [$PROBE, kill-self, '10']")
"$TFRUN" "$f" 2>"$TMPD/err"; is "$?" 138 "killed by SIGUSR1: 128+10"
grep -q 'reason=signaled signal=SIGUSR1' "$TMPD/err"; ok "reason names the signal"

f=$(spec notfound "command: [/nonexistent/cmd]")
"$TFRUN" "$f" 2>"$TMPD/err"; is "$?" 127 "command not found: 127"
grep -q '^tfrun: /nonexistent/cmd: No such file or directory' "$TMPD/err"; ok "not-found message"
no_cgroup_left notfound "not found"

printf 'echo hi\n' >"$TMPD/noexec.sh"; chmod 644 "$TMPD/noexec.sh"
f=$(spec noexec "command: [$TMPD/noexec.sh]")
"$TFRUN" -q "$f" 2>/dev/null; is "$?" 126 "not executable: 126"

printf '# comment\nexport FROM_FILE=file\nBOTH=file\nQUOTED="q v"\n' >"$TMPD/x.env"
f=$(spec envs "command: [$PROBE, env, FOO, BAR, BOTH, FROM_FILE, QUOTED, DOLLAR, HOME]" \
        "env_file: x.env" \
        "env: {FOO: '\${TFTEST_VAR}-x', BAR: '\${TFTEST_NOPE:-dflt}', BOTH: env, DOLLAR: 'a\$\$b'}")
out=$(TFTEST_VAR=val HOME=/home/t "$TFRUN" -q "$f")
is "$out" "FOO=val-x
BAR=dflt
BOTH=env
FROM_FILE=file
QUOTED=q v
DOLLAR=a\$b
HOME=/home/t" "env, \${VAR} interpolation, defaults, env_file, override order, inherited env"

f=$(spec wd "command: [$PROBE, cwd]" "working_dir: /usr/share")
is "$("$TFRUN" -q "$f")" "/usr/share" "working_dir"
f=$(spec wd-missing "command: [$PROBE, cwd]" "working_dir: /nonexistent/dir")
"$TFRUN" "$f" >/dev/null 2>"$TMPD/wd.err"; is "$?" 125 "missing working_dir: 125"
is "$(cat "$TMPD/wd.err")" "tfrun: $f:3:1: working_dir: /nonexistent/dir: no such directory on this host; create it or choose another working_dir" \
        "missing working_dir: the message names the position"
f=$(spec wd-file "command: [$PROBE, cwd]" "working_dir: /etc/hostname")
"$TFRUN" "$f" >/dev/null 2>"$TMPD/wd.err"; is "$?" 125 "working_dir on a file: 125"
is "$(cat "$TMPD/wd.err")" "tfrun: $f:3:1: working_dir: /etc/hostname is not a directory" \
        "working_dir on a file: the message names the position"

f=$(spec usr "command: [$PROBE, ids]" "user: nobody")
is "$("$TFRUN" -q "$f")" "uid=65534 gid=65534 groups=65534" "user nobody: uid, gid, no root groups"
f=$(spec usr2 "command: [$PROBE, ids]" "user: '1234:5678'")
is "$("$TFRUN" -q "$f")" "uid=1234 gid=5678 groups=" "numeric uid:gid, no supplementary groups"

f=$(spec nofile "command: [$PROBE, rlimit-nofile]" "limits: {nofile: 123}")
is "$("$TFRUN" -q "$f")" "soft=123 hard=123" "nofile sets RLIMIT_NOFILE"

f=$(spec strcmd "command: \"$PROBE env 'A B'\"")
is "$("$TFRUN" -q "$f")" "A B unset" "a string command is split like a shell, without one"

f=$(spec stdin "command: [cat]")
is "$(echo piped | "$TFRUN" -q "$f")" "piped" "stdin passes through"

f=$(spec fds "command: [$PROBE, fds]")
is "$(exec 7</dev/null; "$TFRUN" -q "$f" | tr '\n' ' ')" "0 1 2 " "the child sees only fds 0, 1, 2"

# cgroupns: host shows the host's paths; the default cgroup namespace has the job's cgroup as its root.
f=$(spec cgdef "command: [$PROBE, cgroup]")
out=$("$TFRUN" -q "$f")
[ -n "$out" ] && ! echo "$out" | grep -qv ':/$'; ok "default sandbox: every hierarchy's path is / (cgroupns)"
f=$(spec cg "command: [$PROBE, cgroup]" "sandbox: {cgroupns: host}")
out=$("$TFRUN" -q "$f")
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
        echo "$out" | grep -q '^0::.*/tfrun-cg-[0-9]*-1$'; ok "the child runs in its own cgroup (v2)"
        is "$(echo "$out" | wc -l)" 1 "pure v2: one hierarchy"
else
        echo "$out" | grep -q ':memory:.*/tfrun-cg-[0-9]*-1$'; ok "the child runs in its own memory cgroup"
        echo "$out" | grep -q ':pids:.*/tfrun-cg-[0-9]*-1$'; ok "and its own pids cgroup"
fi

f=$(spec js "command: [$PROBE, exit, '4']")
"$TFRUN" --json "$f" >"$TMPD/js.json" 2>"$TMPD/err"; is "$?" 4 "--json keeps the exit status"
is "$(json_get "$TMPD/js.json" status)/$(json_get "$TMPD/js.json" reason)/$(json_get "$TMPD/js.json" exit_code)" \
        "4/exited/4" "--json status, reason, exit_code"
is "$(json_get "$TMPD/js.json" service)/$(json_get "$TMPD/js.json" backend)" "js/native" "--json service and backend"
[ "$(json_get "$TMPD/js.json" memory_peak_bytes)" -gt 0 ]; ok "--json peak memory"
[ ! -s "$TMPD/err" ]; ok "--json prints no summary line on stderr"

f=$(spec val "command: [true]")
is "$("$TFRUN" validate "$f")" "$f: ok (service val, backend native)" "validate says ok"
"$TFRUN" --version | grep -q '^tfrun [0-9]'; ok "--version"
"$TFRUN" --help | grep -q 'Usage: tfrun'; ok "--help"
"$TFRUN" 2>/dev/null; is "$?" 125 "no arguments: 125"
"$TFRUN" run "$TMPD/missing.yaml" 2>"$TMPD/err"; is "$?" 125 "missing file: 125"

# SIGTERM sent to tfrun reaches the service, which dies of it; the run is cleaned up.
f=$(spec fwd "command: [$PROBE, sleep, '30']")
"$TFRUN" "$f" 2>"$TMPD/err" &
pid=$!
for _ in $(seq 50); do [ -n "$(cgroup_dirs fwd)" ] && break; sleep 0.1; done
sleep 0.2
kill -TERM $pid; wait $pid; is "$?" 143 "SIGTERM is forwarded: the service dies of it (143)"
no_cgroup_left fwd "after SIGTERM"

# ^C typed at a terminal reaches the service once (the terminal already signals the whole foreground
# group; tfrun must not forward it a second time).
f=$(spec ctrlc "command: [sh, -c, 'trap \"echo got-INT; exit 9\" INT; echo ready; while :; do sleep 0.1; done']")
out=$(python3 "$SRCDIR/tests/integration/native/ctrl-c.py" "$TFRUN" "$f" ready)
is "$(echo "$out" | head -1)" 9 "^C on a terminal: the service's own handler decides (status 9)"
is "$(echo "$out" | grep -c got-INT)" 1 "^C on a terminal: delivered exactly once"
no_cgroup_left ctrlc "^C"

# The compiled seccomp filter is cached: a hit reuses the entry, a tampered or loosely permitted entry is
# never used (it is recompiled and replaced), and a filter from the cache still blocks.
C=$TMPD/cache
f=$(spec sc "command: [$PROBE, syscall, reboot, getpid]" "sandbox: {}")
is "$(TFRUN_CACHE_DIR=$C "$TFRUN" -q "$f")" "reboot=EPERM
getpid=OK" "default seccomp blocks reboot (compiled)"
entry=$(ls "$C"/seccomp/*.bpf 2>/dev/null | head -1)
[ -n "$entry" ] && [ "$(stat -c %a "$C/seccomp")" = 700 ]; ok "the compiled filter is cached in a 0700 directory"
ino=$(stat -c %i "$entry" 2>/dev/null)
is "$(TFRUN_CACHE_DIR=$C "$TFRUN" -q "$f")" "reboot=EPERM
getpid=OK" "default seccomp blocks reboot (from the cache)"
is "$(stat -c %i "$entry" 2>/dev/null)" "$ino" "the second run used the cached entry"
printf 'X' | dd of="$entry" bs=1 seek=40 conv=notrunc 2>/dev/null
is "$(TFRUN_CACHE_DIR=$C "$TFRUN" -q "$f")" "reboot=EPERM
getpid=OK" "a tampered entry: still blocked"
[ "$(stat -c %i "$entry")" != "$ino" ]; ok "a tampered entry is not used: recompiled and replaced"
ino=$(stat -c %i "$entry"); chmod 666 "$entry"
TFRUN_CACHE_DIR=$C "$TFRUN" -q "$f" >/dev/null
[ "$(stat -c %i "$entry")" != "$ino" ] && [ "$(stat -c %a "$entry")" = 600 ]; ok "a world-writable entry is not used: replaced by a 0600 one"

done_testing
