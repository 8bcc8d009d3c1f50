#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# explain-json.py HUMAN JSON: `tfrun explain` and `tfrun explain --json` of the same spec and options say the
# same things. The JSON must be one object with the documented keys (docs/export.md); each part of the human
# output is rendered again from the JSON and compared line by line (the bodies as parsed JSON). Prints what
# differs and exits 1; silent and 0 when they agree.
import datetime
import json
import sys

human = open(sys.argv[1]).read().split("\n")
j = json.load(open(sys.argv[2]))
bad = []


def want(cond, what):
    if not cond:
        bad.append(what)


TOP = {"spec", "service", "backend", "backend_auto", "only", "cgroup", "native", "docker", "swarm", "systemd",
       "schedule"}
want(isinstance(j, dict), "not one object")
want(set(j) <= TOP, "unknown top-level keys: %s" % sorted(set(j) - TOP))
for k in ("spec", "service", "backend", "backend_auto", "schedule"):
    want(k in j, "no key " + k)

want(human[0] == "%s: service %s, backend %s%s" % (j["spec"], j["service"], j["backend"],
                                                    " (auto)" if j["backend_auto"] else ""), "first line")

# The human output as sections: a line that does not start with a space opens one.
sections, cur = [], None
for line in human[1:]:
    if line == "":
        continue
    if not line.startswith(" "):
        cur = [line, []]
        sections.append(cur)
    else:
        cur[1].append(line)
heads = [s[0] for s in sections]


def section(head):
    for h, body in sections:
        if h == head or h.startswith(head):
            return body
    return None


def row(r):
    if r.get("refused"):
        file, value, key = "(none)", "refused", "%s: %s" % (r["key"], r["refused"])
    elif r["value"] is None:
        file, value, key = r["file"], "(%s)" % r["note"], r["key"]
    else:
        file, value = r["file"], r["value"]
        key = "%s (%s)" % (r["key"], r["note"]) if r.get("note") else r["key"]
    return "  %-40s %-28s %s" % (file, value, key)


if "cgroup" in j:
    cg = j["cgroup"]
    want(cg["written_by"] in ("tfrun", "engine"), "cgroup.written_by")
    want((cg["written_by"] == "engine") ==
         ("(a container: the engine writes these files for it, with the same values)" in heads),
         "cgroup.written_by vs the human note")
    for ver, head in (("v2", "cgroup v2:"), ("v1", "cgroup v1 ")):
        rows = [row(r) for r in cg[ver]] or ["  (no limit: nothing written)"]
        want(section(head) == rows, "cgroup %s rows: %s vs %s" % (ver, rows, section(head)))
else:
    want(section("cgroup v2:") is None, "cgroup in the human output only")

if "native" in j:
    n, body = j["native"], section("sandbox (native):")
    want(body is not None, "native in the JSON only")
    if "refused" in n:
        want(body == ["  refused: " + n["refused"]], "native.refused")
    elif n["sandbox"] == "host":
        want(body == ["  none (sandbox: host): the plain child of tfrun"], "native: sandbox host")
    else:
        want(body[0] == "  namespaces:        %s (+ user when tfrun is not root)" % " ".join(n["namespaces"]),
             "native.namespaces")
        seccomp = [l for l in body if l.startswith("  seccomp:")][0]
        sc = n["seccomp"]
        if sc["mode"] == "default":
            want("default, %s: %d syscalls allowed" % (sc["revision"], sc["allowed"]) in seccomp and
                 "(with argument conditions: %s)" % " ".join(sc["conditional"]) in seccomp, "native.seccomp")
        else:
            want(sc["mode"] in seccomp, "native.seccomp.mode")
        caps = [l for l in body if l.startswith("  capabilities:")][0]
        want(caps.startswith("  capabilities:      %s (bounding set" % (" ".join(n["capabilities"]) or "none")),
             "native.capabilities")
        want("  no_new_privileges: %s" % ("yes" if n["no_new_privileges"] else "no") in body,
             "native.no_new_privileges")
        want("  network:           " + n["network"] in body, "native.network")
        sp = n["system_paths"]
        if sp["mode"] == "masked":
            want("  masked paths:      " + " ".join(sp["masked"]) in body and
                 "  read-only paths:   " + " ".join(sp["read_only"]) in body and
                 "  (%s)" % sp["revision"] in body, "native.system_paths")
        else:
            want("  system paths:      unconfined" in body, "native.system_paths unconfined")
        want("  root filesystem:   the host's, %s" % ("read-only" if n["read_only_root"] else "writable") in body,
             "native.read_only_root")
        want(n["private_tmp"] == any(l.startswith("  /tmp:") for l in body), "native.private_tmp")
        want(["  mount:             %s -> %s%s" % (m["source"], m["target"], " (read-only)" if m["read_only"] else "")
              for m in n["mounts"]] == [l for l in body if l.startswith("  mount:")], "native.mounts")
        want((n["rlimit_nofile"] is None) == (not any(l.startswith("  rlimit:") for l in body)),
             "native.rlimit_nofile")
else:
    want(section("sandbox (native):") is None, "native in the human output only")


def body_of(lines, name):
    lines = [l for l in lines if not l.startswith("  (")]
    if len(lines) == 1 and lines[0].startswith("  refused: "):
        return {"refused": lines[0][len("  refused: "):]}
    return {name: json.loads("\n".join(l[2:] for l in lines))}


for key, head, name in (("docker", "docker: POST /containers/create body:", "create_body"),
                        ("swarm", "swarm: POST /services/create body:", "service_spec")):
    body = section(head)
    want((key in j) == (body is not None), key + ": in one output only")
    if key in j and body is not None:
        got = {k: v for k, v in j[key].items() if k in ("refused", name)}
        want(body_of(body, name) == got, key + ": the body differs")
        if key == "docker" and name in j[key]:
            want(j[key]["nofile_from_tfrun"] == any(l.startswith("  (without limits.nofile") for l in body),
                 "docker.nofile_from_tfrun")

if "systemd" in j:
    sd = j["systemd"]
    if "refused" in sd:
        want(section("systemd:") == ["  refused: " + sd["refused"]], "systemd.refused")
    else:
        for unit, name in (("service", sd["service_name"]), ("timer", sd["timer_name"])):
            body = section("systemd: %s:" % name) if name else None
            want((sd[unit] is None) == (body is None), "systemd.%s: in one output only" % unit)
            if sd[unit] is not None:
                want(["  " + l for l in sd[unit].split("\n") if l] == body, "systemd.%s: the text differs" % unit)
else:
    want(not any(h.startswith("systemd") for h in heads), "systemd in the human output only")

sched = section("schedule:")
if j["schedule"] is None:
    want("schedule: none (runs once when started)" in heads, "schedule null")
else:
    s = j["schedule"]
    lines = ["  @reboot (at start)"] if s["reboot"] else []
    lines += ["  path: %s %s (when it happens)" % (p["kind"], p["path"]) for p in s["paths"]]
    lines += ["  " + f["local"] for f in s["fires"]]
    if not s["fires"] and not s["paths"]:
        lines.append("  (none: this schedule never fires)")
    want(sched == lines, "schedule: %s vs %s" % (lines, sched))
    for f in s["fires"]:
        want(f["epoch_usec"] // 1000000 == f["epoch"], "schedule: epoch and epoch_usec")
        utc = datetime.datetime.strptime(f["utc"][:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
        want(f["utc"].endswith("Z") and utc.timestamp() == f["epoch"], "schedule: ISO 8601 and epoch agree")

for b in bad:
    print(b)
sys.exit(1 if bad else 0)
