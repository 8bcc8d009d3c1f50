#!/bin/bash
# SPDX-License-Identifier: MIT
# io.max on cgroup v2: a direct-IO writer (and reader) on the VM's scratch virtio disk (/dev/vda, attached
# by tests/vm/v2.sh) runs at the configured bytes per second within +-20 %, and much faster without.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/integration/native/common.sh"
. "$SRCDIR/tests/vm/v2/common.sh"

[ -b /dev/vda ] || skip_all "no /dev/vda: the VM needs a scratch disk (VM_SCRATCH_DISK for run-suite.sh)"
dev=$(cat /sys/block/vda/dev)

# dd_rate FILE: bytes per second from dd's summary line ("N bytes (...) copied, S s, ...").
dd_rate() {
        python3 -c '
import re, sys
m = re.search(r"^(\d+) bytes .* copied, ([0-9.]+) s", open(sys.argv[1]).read(), re.M)
print(int(int(m.group(1)) / float(m.group(2))) if m else 0)' "$1"
}

# 10 MiB written with O_DIRECT in 64 KiB blocks; 2 MiB/s should take about 5 s.
bps=$((2 << 20))
f=$(spec io-free "command: [dd, if=/dev/zero, of=/dev/vda, bs=64k, count=160, oflag=direct]")
"$TFRUN" -q "$f" 2>"$TMPD/free.err"
is "$?" 0 "unlimited direct writer runs"
free=$(dd_rate "$TMPD/free.err")
diag "unlimited: $free B/s"

f=$(spec io-w "command: [sh, -c, 'cat /sys/fs/cgroup\$(sed -n s/^0:://p /proc/self/cgroup)/io.max; exec dd if=/dev/zero of=/dev/vda bs=64k count=160 oflag=direct']" \
        "limits: {io: [{device: /dev/vda, write_bps: 2M}]}")
"$TFRUN" -q "$f" >"$TMPD/w.out" 2>"$TMPD/w.err"
is "$?" 0 "direct writer under write_bps 2M runs"
is "$(cat "$TMPD/w.out")" "$dev rbps=max wbps=$bps riops=max wiops=max" "io.max inside the child"
w=$(dd_rate "$TMPD/w.err")
r=$(ratio "$w" "$bps")
diag "write_bps 2M: $w B/s (x$r of the limit)"
float_between "$r" 0.8 1.2; ok "write rate within 20 % of 2 MiB/s ($w B/s)"
r2=$(ratio "$free" "$w")
float_between "$r2" 2 1000000; ok "the limit is what bit: unlimited is x$r2 faster"

# Reads: 4 MiB/s on 16 MiB read back with O_DIRECT (no page cache to hide behind).
bps=$((4 << 20))
f=$(spec io-r "command: [dd, if=/dev/vda, of=/dev/null, bs=64k, count=256, iflag=direct]" \
        "limits: {io: [{device: /dev/vda, read_bps: 4M}]}")
"$TFRUN" -q "$f" 2>"$TMPD/r.err"
is "$?" 0 "direct reader under read_bps 4M runs"
rd=$(dd_rate "$TMPD/r.err")
r=$(ratio "$rd" "$bps")
diag "read_bps 4M: $rd B/s (x$r of the limit)"
float_between "$r" 0.8 1.2; ok "read rate within 20 % of 4 MiB/s ($rd B/s)"

# IOPS: 50 writes/s of 4 KiB, 150 of them: about 3 s.
f=$(spec io-iops "command: [dd, if=/dev/zero, of=/dev/vda, bs=4k, count=150, oflag=direct]" \
        "limits: {io: [{device: /dev/vda, write_iops: 50}]}")
"$TFRUN" --json "$f" >"$TMPD/iops.json" 2>"$TMPD/iops.err"
secs=$(python3 -c '
import re, sys
m = re.search(r"copied, ([0-9.]+) s", open(sys.argv[1]).read())
print(m.group(1) if m else 0)' "$TMPD/iops.err")
r=$(ratio 150 "$secs")
diag "write_iops 50: 150 writes in ${secs}s ($r/s)"
float_between "$r" 40 60; ok "write iops within 20 % of 50/s ($r/s)"

# A partition or a non-block device is refused before anything starts.
f=$(spec io-bad "command: [true]" "limits: {io: [{device: /dev/null, write_bps: 1M}]}")
"$TFRUN" -q "$f" 2>"$TMPD/bad.err"
is "$?" 125 "io limit on /dev/null: exit 125"
grep -q "limits.io\[0\].device: /dev/null is not a block device" "$TMPD/bad.err"; ok "says it is not a block device"
is "$(tfrun_cg_left)" "" "no cgroup left"

done_testing
