#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs `tfrun SPEC` on a real pseudo-terminal as the foreground process group, types ^C once, and prints
tfrun's exit status and output. Usage: ctrl-c.py TFRUN SPEC READY_TEXT"""
import os, pty, select, sys, time

tfrun, spec, ready = sys.argv[1], sys.argv[2], sys.argv[3].encode()
pid, fd = pty.fork()
if pid == 0:
    os.execv(tfrun, [tfrun, spec])
out, deadline = b"", time.time() + 30
while ready not in out and time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            out += os.read(fd, 4096)
        except OSError:
            break
time.sleep(0.3)
os.write(fd, b"\x03")  # the terminal turns this into SIGINT for the foreground process group
deadline, done = time.time() + 20, 0
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
if not done:
    if time.time() >= deadline:
        os.kill(pid, 9)
    done, status = os.waitpid(pid, 0)
while True:  # drain what the service wrote before it ended
    r, _, _ = select.select([fd], [], [], 0.5)
    if not r:
        break
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
print(os.waitstatus_to_exitcode(status))
sys.stdout.write(out.decode(errors="replace").replace("\r", ""))
