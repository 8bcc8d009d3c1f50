#!/bin/bash
# SPDX-License-Identifier: MIT
# cpu.weight on cgroup v2: two busy services pinned to the same CPU (cpuset) with weights 100 and 300 share
# it about 1:3. Both run at once, each for the same wall time; the CPU time each got comes from its
# cgroup's cpu.stat (tfrun's cpu_usec).
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
. "$SRCDIR/tests/vm/v2/common.sh"

[ "$(nproc)" -ge 2 ] || diag "one CPU only: the pinning is then the whole machine"
secs=8
fa=$(spec w100 "command: [$PROBE, spin, '$secs']" "limits: {cpu_weight: 100, cpuset: '0'}")
fb=$(spec w300 "command: [$PROBE, spin, '$secs']" "limits: {cpu_weight: 300, cpuset: '0'}")
"$TFRUN" --json "$fa" >"$TMPD/a.json" 2>"$TMPD/a.err" &
pa=$!
"$TFRUN" --json "$fb" >"$TMPD/b.json" 2>"$TMPD/b.err" &
pb=$!
wait $pa; ra=$?
wait $pb; rb=$?
is "$ra/$rb" "0/0" "both services ran"
ca=$(json_get "$TMPD/a.json" cpu_usec)
cb=$(json_get "$TMPD/b.json" cpu_usec)
r=$(ratio "$cb" "$ca")
total=$(ratio "$((ca + cb))" "$((secs * 1000000))")
diag "weight 100: ${ca}us, weight 300: ${cb}us of CPU in ${secs}s each: ratio $r, together $total CPU"
float_between "$r" 2.4 3.6; ok "weights 100:300 on one CPU share it 1:$r (2.4..3.6)"
float_between "$total" 0.8 1.1; ok "together they used one CPU ($total): the cpuset held"

# The weight and the cpuset as the child sees them.
f=$(spec wread "command: [sh, -c, 'd=/sys/fs/cgroup\$(sed -n s/^0:://p /proc/self/cgroup); cat \$d/cpu.weight \$d/cpuset.cpus.effective']" \
        "limits: {cpu_weight: 300, cpuset: '0'}")
is "$("$TFRUN" -q "$f" | tr '\n' ' ')" "300 0 " "cpu.weight 300 and cpuset 0 inside the child"
is "$(tfrun_cg_left)" "" "no cgroup left"

done_testing
