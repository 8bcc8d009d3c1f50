#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# storm.py GAP_MS N SIGNALS CMD...: start CMD, give it 0.5 s to be in its loop with the service running, send N signals cycling through SIGNALS (e.g. TERM,INT,HUP) GAP_MS apart (0: back to back), wait
# for it, and print "rc=N" (negative: killed by that signal, as Popen says) and the summary line's status.
import os, re, signal, subprocess, sys, time

gap, n, names = float(sys.argv[1]) / 1000, int(sys.argv[2]), sys.argv[3].split(',')
p = subprocess.Popen(sys.argv[4:], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
time.sleep(0.5)
first = ''
for i in range(n):
    try:
        p.send_signal(getattr(signal, 'SIG' + names[i % len(names)]))
    except ProcessLookupError:
        break
    if gap:
        time.sleep(gap)
rest = p.stderr.read()
rc = p.wait(timeout=60)
m = re.findall(r'status=(\d+) reason=', first + rest)
print('rc=%d' % rc)
print('summary=%s' % (m[-1] if m else 'none'))
sys.stderr.write(first + rest)
