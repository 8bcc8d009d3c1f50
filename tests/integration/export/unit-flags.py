#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Prove that the `docker run` of an exported container unit says what tfrun's create body says.

Usage: unit-flags.py UNIT BODY.json NAME
Takes ExecStart= of UNIT (systemd's quoting: "..." with C escapes, $$ and %% doubled), runs it as
`docker create` under NAME on the real engine, and compares every HostConfig key of BODY (the body the
docker backend sends, as `tfrun explain` prints it, with the profile named) with `docker inspect`.
"""
import json
import re
import shlex
import subprocess
import sys

unit, body_path, name = sys.argv[1:4]
line = next(l for l in open(unit) if l.startswith("ExecStart="))[len("ExecStart="):].rstrip("\n")
words = [w.replace("$$", "$").replace("%%", "%") for w in shlex.split(line)]
assert words[:3] == ["docker", "run", "--rm"], words[:3]
args = [a for a in words[3:] if not a.startswith("--name=")]
subprocess.run(["docker", "rm", "-f", name], capture_output=True)
subprocess.run(["docker", "create", "--name=" + name] + args, check=True, capture_output=True)
try:
    got = json.loads(subprocess.run(["docker", "inspect", name], check=True, capture_output=True).stdout)[0]
finally:
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)
body = json.load(open(body_path))
hc, bad = got["HostConfig"], []
for k, want in body["HostConfig"].items():
    have = hc.get(k)
    if k == "SecurityOpt":
        # The CLI read the profile file and sent its text: compare it with the pinned profile.
        prof = [o for o in have if o.startswith("seccomp=")]
        have = [o for o in have if not o.startswith("seccomp=")]
        want = [o for o in want if not o.startswith("seccomp=")]
        pinned = json.load(open(sys.argv[4])) if len(sys.argv) > 4 else None
        if pinned is not None and (len(prof) != 1 or json.loads(prof[0][8:]) != pinned):
            bad.append("SecurityOpt seccomp: not the pinned profile")
    if k in ("MaskedPaths", "ReadonlyPaths"):
        continue  # the CLI cannot pin them: a gap the unit lists
    if k == "Init" and want is False and have is None:
        continue  # the CLI cannot say false: a gap the unit lists
    if k in ("CapAdd", "CapDrop"):
        # The CLI writes capabilities with their CAP_ prefix.
        have = [c[4:] if c.startswith("CAP_") else c for c in have or []]
    if k == "AutoRemove":
        continue  # --rm: the unit's docker run removes the container, tfrun removes it itself
    if have != want:
        bad.append("%s: body %r, docker run %r" % (k, want, have))
cfg = got["Config"]
for k in ("Image", "Cmd", "Env", "User", "WorkingDir", "StopSignal"):
    if k in body and k != "Env" and cfg.get(k) != body[k]:
        bad.append("Config.%s: body %r, docker run %r" % (k, body[k], cfg.get(k)))
if "Env" in body and not set(body["Env"]) <= set(cfg.get("Env") or []):
    bad.append("Config.Env: %r not in %r" % (body["Env"], cfg.get("Env")))
for k, v in body.get("Labels", {}).items():
    if cfg.get("Labels", {}).get(k) != v:
        bad.append("Label %s" % k)
if bad:
    print("\n".join(bad))
sys.exit(1 if bad else 0)
