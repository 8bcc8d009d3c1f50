#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# stalled-stderr.py CMD...: run CMD with stderr a full pipe that nobody reads; print "rc=N secs=S" once it ends
# (killed after 20 s: "rc=timeout"). The pipe is filled through a non-blocking write end, which is made
# blocking again before CMD gets it, as a shell's pipe would be.
import fcntl, os, subprocess, sys, time

r, w = os.pipe()
fcntl.fcntl(w, 1031, 4096)  # F_SETPIPE_SZ: one page
fl = fcntl.fcntl(w, fcntl.F_GETFL)
fcntl.fcntl(w, fcntl.F_SETFL, fl | os.O_NONBLOCK)
try:
    while True:
        os.write(w, b'x' * 512)
except BlockingIOError:
    pass
fcntl.fcntl(w, fcntl.F_SETFL, fl)
t = time.monotonic()
p = subprocess.Popen(sys.argv[1:], stderr=w, stdout=subprocess.DEVNULL)
os.close(w)
try:
    rc = p.wait(timeout=20)
    print('rc=%d secs=%.1f' % (rc, time.monotonic() - t))
except subprocess.TimeoutExpired:
    p.kill()
    p.wait()
    print('rc=timeout')
os.close(r)
