#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# A webhook receiver for the alert tests, on 127.0.0.1: each POST is checked the way a user's receiver
# would (HMAC-SHA256 of "timestamp.body" with the shared secret, compared in constant time) and written as
# one JSON line to LOG: {"path", "timestamp", "signature_ok", "alert", "body"}. --fail-first N answers 500
# to the first N posts (to see tfrun retry). The port it got is written to PORTFILE once it listens.
import argparse, hashlib, hmac, http.server, json, sys

ap = argparse.ArgumentParser()
ap.add_argument("--secret-file", required=True)
ap.add_argument("--log", required=True)
ap.add_argument("--port-file", required=True)
ap.add_argument("--port", type=int, default=0)
ap.add_argument("--fail-first", type=int, default=0)
args = ap.parse_args()
secret = open(args.secret_file, "rb").read().rstrip(b"\r\n")
seen = 0


class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global seen
        seen += 1
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        ts = self.headers.get("X-Tfrun-Timestamp", "")
        sig = self.headers.get("X-Tfrun-Signature", "")
        want = "sha256=" + hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        rec = {"path": self.path, "timestamp": ts, "signature_ok": hmac.compare_digest(sig, want),
               "alert": self.headers.get("X-Tfrun-Alert"), "n": seen, "body": parsed}
        code = 500 if seen <= args.fail_first else 200
        rec["answered"] = code
        with open(args.log, "a") as f:
            f.write(json.dumps(rec, sort_keys=True) + "\n")
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


srv = http.server.HTTPServer(("127.0.0.1", args.port), H)
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(args.port_file + ".tmp", args.port_file)
srv.serve_forever()
