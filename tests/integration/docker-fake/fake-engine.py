#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A fake Docker engine on a unix socket, for the faults a real engine will not produce on demand.

Usage: fake-engine.py SOCKET STATEFILE MODE
  ok            behaves (enough of the API for one tfrun run)
  garbage       answers every request with bytes that are not HTTP
  hang          reads every request and never answers
  drip          answers /_ping one byte every 0.5 s
  cut-attach    closes the attach stream 0.3 s after start; the container goes on running
  delay-delete  takes 1.5 s to answer DELETE
  hang-kill     never answers a kill
  warn-swap     answers the create with the engine's dropped-swap warning (a host without swap accounting)
  warn-pids     answers the create with the engine's dropped-pids-limit warning
  systemd-driver  behaves, and GET /info says CgroupDriver systemd (every other mode: cgroupfs)
Containers run a pretend command: ["sleep", N] ends after N s with 0, ["exit", N] at once with N; a kill
ends it with 128+signal. STATEFILE gets one line per event ("create ID", "kill ID SIG", "delete ID") and
the containers not yet deleted are listed in STATEFILE.live after every change; the last create body is in
STATEFILE.body.
"""
import json
import os
import re
import signal
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler

SOCK, STATE, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
lock = threading.Condition()
containers = {}
counter = [0]


def event(line):
    with lock:
        with open(STATE, "a") as f:
            f.write(line + "\n")
        with open(STATE + ".live", "w") as f:
            f.write("".join(i + "\n" for i in containers))


def finish(c, code):
    with lock:
        if c["running"]:
            c["running"] = False
            c["code"] = code
            t = time.time()
            c["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%09dZ" % int(t % 1 * 1e9)
            lock.notify_all()


def program(c):
    cmd = c["cmd"]
    if cmd and cmd[0] == "exit":
        finish(c, int(cmd[1]))
    elif cmd and cmd[0] == "sleep":
        threading.Timer(float(cmd[1]), finish, (c, 0)).start()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, code, body=b"", ctype="application/json", headers=()):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Api-Version", "1.41")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def route(self, method):
        if MODE == "garbage":
            self.wfile.write(b"\x00\xffTHIS IS NOT HTTP\r\n\r\n")
            self.close_connection = True
            return
        if MODE == "hang":
            time.sleep(3600)
            return
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        path = re.sub(r"^/v1\.\d+", "", self.path.split("?")[0])
        query = self.path.partition("?")[2]
        if path == "/_ping":
            if MODE == "drip":
                for b in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK":
                    self.wfile.write(bytes([b]))
                    self.wfile.flush()
                    time.sleep(0.5)
                return
            return self.reply(200, b"OK", "text/plain")
        if path == "/version":
            return self.reply(200, {"ApiVersion": "1.41", "Version": "fake"})
        if path == "/info":
            return self.reply(200, {"CgroupDriver": "systemd" if MODE == "systemd-driver" else "cgroupfs",
                                    "CgroupVersion": "1"})
        if path == "/containers/json":
            return self.reply(200, [])
        if path.startswith("/images/"):
            return self.reply(200, {"Id": "sha256:" + "0" * 64})
        if path == "/events":
            return self.reply(200, b"")
        if path == "/containers/create":
            with lock:
                counter[0] += 1
                cid = "%064x" % (0xFACE0000 + counter[0])
                containers[cid] = {"cmd": json.loads(body).get("Cmd") or [], "running": False, "code": 0,
                                   "started": False, "finished": "0001-01-01T00:00:00Z"}
            event("create " + cid)
            # The body as the engine got it, for tests that compare it (tests/integration/export).
            with open(STATE + ".body", "wb" if isinstance(body, bytes) else "w") as f:
                f.write(body)
            warnings = {
                "warn-swap": ["Your kernel does not support swap limit capabilities or the cgroup is not "
                              "mounted. Memory limited without swap."],
                "warn-pids": ["Your kernel does not support pids limit capabilities or the cgroup is not "
                              "mounted. PIDs limit discarded."],
            }.get(MODE, [])
            return self.reply(201, {"Id": cid, "Warnings": warnings})
        m = re.match(r"^/containers/([0-9a-f]+)(/[a-z]+)?$", path)
        c = containers.get(m.group(1)) if m else None
        if not c:
            return self.reply(404, {"message": "No such container"})
        cid, op = m.group(1), m.group(2)
        if method == "DELETE":
            if MODE == "delay-delete":
                time.sleep(1.5)
            with lock:
                containers.pop(cid, None)
            event("delete " + cid)
            return self.reply(204)
        if op == "/attach":
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.docker.raw-stream")
            self.end_headers()
            self.wfile.flush()
            t0 = time.time()
            with lock:
                while not c["started"] or c["running"]:
                    if MODE == "cut-attach" and c["started"] and time.time() - t0 > 0.3:
                        break
                    lock.wait(0.1)
            out = b"fake output\n"
            self.wfile.write(b"\x01\x00\x00\x00" + len(out).to_bytes(4, "big") + out)
            self.close_connection = True
            return
        if op == "/start":
            with lock:
                c["running"] = c["started"] = True
                lock.notify_all()
            program(c)
            return self.reply(204)
        if op == "/kill":
            sig = re.search(r"signal=([A-Z0-9]+)", query).group(1)
            event("kill %s %s" % (cid, sig))
            if MODE == "hang-kill":
                time.sleep(3600)
                return
            if not c["running"]:
                return self.reply(409, {"message": "Container %s is not running" % cid})
            num = getattr(signal, sig, None) or getattr(signal, "SIG" + sig, 15)
            finish(c, 128 + int(num))
            return self.reply(204)
        if op == "/wait":
            with lock:
                while c["running"]:
                    lock.wait(0.1)
            return self.reply(200, {"StatusCode": c["code"]})
        if op == "/json":
            with lock:
                st = {"Status": "running" if c["running"] else "exited", "Running": c["running"],
                      "OOMKilled": False, "ExitCode": c["code"], "Pid": 0, "Error": "",
                      "FinishedAt": c["finished"]}
            return self.reply(200, {"Id": cid, "State": st})
        return self.reply(404, {"message": "fake engine: no route " + path})

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_DELETE(self):
        self.route("DELETE")


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


if os.path.exists(SOCK):
    os.unlink(SOCK)
srv = Server(SOCK, Handler)
open(STATE, "w").close()
open(STATE + ".live", "w").close()
print("ready", flush=True)
srv.serve_forever()
