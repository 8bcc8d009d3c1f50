#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/docker: end-to-end cost of running a container, side by side, interleaved, in one run:
#   tfrun     tfrun -q on a busybox spec running `true` (memory + pids + cpus limits, network none)
#   cli       /usr/bin/docker run --rm with the same limits (the Debian CLI matching the engine; another
#             docker CLI may sit first on PATH)
#   api       the raw API sequence by curl --unix-socket: create, start, wait, delete
# Usage: bench/docker.sh [BUILDDIR] [ROUNDS]    (root; starts dockerd through scripts/setup-docker.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
N=${2:-30}
SOCK=/var/run/docker.sock
IMAGE=tfrun-test/busybox:latest
bash scripts/setup-docker.sh >&2
ninja -C "$B" >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/bench.yaml" <<EOS
name: dbench
image: $IMAGE
command: [true]
limits: {memory: 64M, pids: 64, cpus: 0.5}
sandbox: {network: none}
EOS

# The raw API: one script per round so that timeit runs it as one step.
cat >"$tmp/api.sh" <<EOS
#!/bin/sh
set -e
id=\$(curl -sf --unix-socket $SOCK -H 'Content-Type: application/json' \
        -d '{"Image":"$IMAGE","Cmd":["true"],"HostConfig":{"Memory":67108864,"PidsLimit":64,"NanoCpus":500000000,"NetworkMode":"none"}}' \
        http://localhost/v1.41/containers/create | sed 's/.*"Id":"\([0-9a-f]*\)".*/\1/')
curl -sf --unix-socket $SOCK -X POST http://localhost/v1.41/containers/\$id/start
curl -sf --unix-socket $SOCK -X POST http://localhost/v1.41/containers/\$id/wait >/dev/null
curl -sf --unix-socket $SOCK -X DELETE "http://localhost/v1.41/containers/\$id?v=1"
EOS
chmod +x "$tmp/api.sh"

"$B/bench/timeit" "$N" \
        tfrun "$B/tfrun" -q "$tmp/bench.yaml" \
        :: cli /usr/bin/docker run --rm --network none --memory 64m --pids-limit 64 --cpus 0.5 "$IMAGE" true \
        :: api "$tmp/api.sh" | tee "$tmp/out"

python3 - "$tmp/out" "$N" <<'EOS'
import sys
r = {l.split()[0]: (float(l.split()[1]), float(l.split()[2])) for l in open(sys.argv[1])}
t, c, a = r["tfrun"][0], r["cli"][0], r["api"][0]
print(f"rounds={sys.argv[2]} median: tfrun={t/1000:.1f}ms docker-cli={c/1000:.1f}ms raw-api={a/1000:.1f}ms")
print(f"tfrun / docker CLI: {t/c:.2f} (target < 1)   tfrun / raw API: {t/a:.2f} (target <= 1.10)")
EOS
