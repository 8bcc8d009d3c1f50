#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# stall.py KIND STALL [--signal SIG@SECS] [--out FILE] -- CMD...: run CMD with its stdout a KIND (pipe,
# socket, pty) that nobody reads for STALL seconds (or until CMD ends, whichever is first), optionally
# sending SIG to CMD SECS seconds after its start. Then reads what is there (all of it, to FILE when given).
# Prints "RC MS BYTES": CMD's exit status (128+N for a signal), the milliseconds from its start (from the
# signal, when one was sent) to its end, and the bytes read.
import os, pty, select, signal, socket, subprocess, sys, time

args = sys.argv[1:]
kind, stall = args[0], float(args[1])
sig, sig_at, out = None, None, None
i = 2
while args[i] != "--":
    if args[i] == "--signal":
        name, at = args[i + 1].split("@")
        sig, sig_at = getattr(signal, "SIG" + name), float(at)
    elif args[i] == "--out":
        out = args[i + 1]
    i += 2
cmd = args[i + 1:]

if kind == "pipe":
    r, w = os.pipe()
elif kind == "socket":
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    r, w = os.dup(a.fileno()), os.dup(b.fileno())
    a.close(), b.close()
elif kind == "pty":
    r, w = pty.openpty()
    import termios, tty
    tty.setraw(w)  # no echo, no newline translation: the bytes as they were written
else:
    sys.exit("unknown kind " + kind)

t0 = time.monotonic()
p = subprocess.Popen(cmd, stdout=w)
os.close(w)
sent = None
deadline = t0 + stall
while p.poll() is None and time.monotonic() < deadline:
    if sig and sent is None and time.monotonic() - t0 >= sig_at:
        p.send_signal(sig)
        sent = time.monotonic()
    time.sleep(0.01)
# Still running after the stall: read, so that it can end.
sink = open(out, "wb") if out else None
n = 0
os.set_blocking(r, False)
end = None
while True:
    if end is None and p.poll() is not None:
        end = time.monotonic()
    ready, _, _ = select.select([r], [], [], 0.2)
    if not ready:
        if end is not None:
            break
        continue
    try:
        data = os.read(r, 1 << 16)
    except (BlockingIOError, InterruptedError):
        continue
    except OSError:  # a pty whose other side closed: EIO
        data = b""
    if not data:
        if end is None:
            p.wait()
            end = time.monotonic()
        break
    n += len(data)
    if sink:
        sink.write(data)
rc = p.wait()
if end is None:
    end = time.monotonic()
rc = 128 - rc if rc < 0 else rc
print(rc, int(((end - (sent or t0))) * 1000), n)
