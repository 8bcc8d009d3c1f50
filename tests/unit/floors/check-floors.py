#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The floors of DESIGN.md, checked: every `#include "X/..."` in a module's sources must name the module
itself or one below it. base/ uses nothing; spec/ and schedule/ use base/; cgroup/, docker/ and sandbox/ use
base/ and spec/; runner/ (with the CLI) uses all of those; store/ (the run history) uses base/ alone; manager/
sits above runner/ and store/.
An include of anything else (another module, tests/, runner/ from below) fails, naming file:line.

Usage: check-floors.py [SRCDIR] (default: $SRCDIR or the checkout this file is in). Output is TAP.
"""
import os
import re
import sys

BELOW = {
    "base": set(),
    "spec": {"base"},
    "schedule": {"base"},
    "cgroup": {"base", "spec"},
    "docker": {"base", "spec"},
    "sandbox": {"base", "spec"},
    "runner": {"base", "spec", "schedule", "cgroup", "docker", "sandbox"},
    "store": {"base"},
    "manager": {"base", "spec", "schedule", "cgroup", "docker", "sandbox", "runner", "store"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"/]+)/[^"]*"')
# A module's meson.build compiling another module's file: "meson.project_source_root() / 'runner' / 'x.c'"
# or '../runner/x.c' (how schedule/ once built runner/cmd-calendar.c).
MESON_PATH = re.compile(r"""/\s*'([a-z]+)'\s*/|'\.\./([a-z]+)/""")


def offences(src, module):
    """(file:line, included path) for every include in `module` that runs up or sideways."""
    allowed = BELOW[module] | {module}
    out = []
    top = os.path.join(src, module)
    for root, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            if name.endswith((".c", ".h")):
                pattern = INCLUDE
            elif name == "meson.build":
                pattern = MESON_PATH
            else:
                continue
            with open(path, encoding="utf-8", errors="replace") as f:
                for n, line in enumerate(f, 1):
                    for m in pattern.finditer(line):
                        target = next(g for g in m.groups() if g)
                        if target in BELOW and target not in allowed:
                            out.append((f"{os.path.relpath(path, src)}:{n}", line.strip()))
                        elif pattern is INCLUDE and target not in allowed:
                            out.append((f"{os.path.relpath(path, src)}:{n}", line.strip()))
    return out


def self_test():
    """The checker must catch what it is for: a planted include and a planted meson path."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "schedule"))
        with open(os.path.join(d, "schedule", "x.c"), "w") as f:
            f.write('#include <stdio.h>\n#include "base/error.h"\n#include "runner/runner.h"\n')
        with open(os.path.join(d, "schedule", "meson.build"), "w") as f:
            f.write("x = files('a.c', meson.project_source_root() / 'runner' / 'cmd-calendar.c')\n")
        got = [w for w, _ in offences(d, "schedule")]
        return got == ["schedule/meson.build:1", "schedule/x.c:3"], got


def main():
    here = os.path.abspath(__file__)
    for _ in range(4):  # tests/unit/floors/check-floors.py
        here = os.path.dirname(here)
    src = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SRCDIR") or here
    n = failed = 0
    caught, got = self_test()
    n += 1
    if caught:
        print(f"ok {n} - the check catches a planted include and a planted meson path")
    else:
        failed += 1
        print(f"not ok {n} - the check catches a planted include and a planted meson path: got {got}")
    for module in BELOW:
        if not os.path.isdir(os.path.join(src, module)):
            continue
        n += 1
        bad = offences(src, module)
        allowed = ", ".join(sorted(BELOW[module])) or "nothing"
        if bad:
            failed += 1
            print(f"not ok {n} - {module}/ includes only {allowed}: {len(bad)} run(s) up or sideways")
            for where, inc in bad:
                print(f"#   {where}: {inc}")
        else:
            print(f"ok {n} - {module}/ includes only {allowed}")
    print(f"1..{n}")
    return 1 if failed or n < 2 else 0


if __name__ == "__main__":
    sys.exit(main())
