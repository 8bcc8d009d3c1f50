#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Counts TAP subtests over meson testlog.json files and prints "N passed, N failed, N skipped".

A test whose TAP shows no failure but which meson judged failed (crash, timeout, bad plan) counts as one
failure. Exit status: 1 if anything failed, or, under CI=true, if anything was skipped."""
import json, os, re, sys

passed = failed = skipped = 0
for path in sys.argv[1:]:
    if not os.path.exists(path):
        print(f"tap-summary: {path} missing", file=sys.stderr)
        failed += 1
        continue
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            t = json.loads(line)
            out = t.get("stdout") or ""
            p = fl = sk = 0
            for l in out.splitlines():
                if re.match(r"^ok\b", l):
                    if re.search(r"#\s*SKIP", l, re.I):
                        sk += 1
                    else:
                        p += 1
                elif re.match(r"^not ok\b", l):
                    fl += 1
                elif re.match(r"^1\.\.0\s*#\s*SKIP", l, re.I):
                    sk += 1
            res = t.get("result", "")
            if res in ("FAIL", "TIMEOUT", "ERROR", "UNEXPECTEDPASS", "INTERRUPT") and fl == 0:
                fl = 1
                print(f"tap-summary: {t.get('name')} {res}", file=sys.stderr)
            if res == "SKIP" and p + fl + sk == 0:
                sk = 1
            if p + fl + sk == 0 and res == "OK":
                p = 1  # a non-TAP test that passed
            passed += p; failed += fl; skipped += sk
print(f"{passed} passed, {failed} failed, {skipped} skipped")
ci = os.environ.get("CI") == "true"
sys.exit(1 if failed or (ci and skipped) else 0)
