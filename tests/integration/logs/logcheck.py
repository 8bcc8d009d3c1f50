#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# logcheck.py LOG SINCE STREAM: check every line of a run's log (runner/outlog.h: "TIMESTAMP STREAM TEXT",
# the timestamp UTC with microseconds between SINCE (epoch seconds) and now, the stream one of stdout,
# stderr, their /partial pieces, or tfrun) and print what STREAM wrote, pieces joined, one line each.
# STREAM "kinds": print each line's stream field instead.
import datetime
import re
import sys
import time

path, since, want = sys.argv[1], float(sys.argv[2]), sys.argv[3]
line_re = re.compile(rb"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (stdout|stderr|stdout/partial|stderr/partial|tfrun) (.*)$",
                     re.S)
out = []
pending = b""
now = time.time()
data = open(path, "rb").read()
if data and not data.endswith(b"\n"):
    sys.exit("%s: does not end with a newline" % path)
for n, raw in enumerate(data.split(b"\n")[:-1], 1):
    m = line_re.match(raw)
    if not m:
        sys.exit("%s:%d: not a log line: %r" % (path, n, raw[:200]))
    ts = datetime.datetime.strptime(m.group(1).decode(), "%Y-%m-%dT%H:%M:%S.%fZ")
    t = ts.replace(tzinfo=datetime.timezone.utc).timestamp()
    if not since - 1 <= t <= now + 1:
        sys.exit("%s:%d: timestamp %s is not between the run's start and now" % (path, n, m.group(1).decode()))
    kind = m.group(2).decode()
    if want == "kinds":
        out.append(kind.encode())
    elif kind == want + "/partial":
        pending += m.group(3)
    elif kind == want:
        out.append(pending + m.group(3))
        pending = b""
if pending:
    sys.exit("%s: a partial piece of %s is not followed by its line's end" % (path, want))
sys.stdout.buffer.write(b"".join(l + b"\n" for l in out))
