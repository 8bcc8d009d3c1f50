#!/bin/bash
# SPDX-License-Identifier: MIT
# Makes a real Docker Engine answer on /var/run/docker.sock with the local test image
# tfrun-test/busybox:latest. Idempotent: installs docker.io and busybox-static only when missing, starts
# dockerd only when the socket does not answer /_ping, imports the image only when it is absent.
# No registry is ever contacted: the image is built from the host's static busybox.
# Exit status: 0 ready; 1 with a message on stderr saying what failed.
set -euo pipefail

SOCK=/var/run/docker.sock
LOG=/tmp/tfrun-dockerd.log
PIDFILE=/run/tfrun-dockerd.pid
IMAGE=tfrun-test/busybox:latest
APPLETS="sh cat echo sleep dd head tail yes true false id env ls kill wc tr seq grep"

die() {
        echo "setup-docker: $*" >&2
        exit 1
}

[ "$(id -u)" = 0 ] || die "needs root (installs packages and starts dockerd)"

ping_ok() {
        curl -sf --max-time 2 --unix-socket "$SOCK" http://localhost/_ping 2>/dev/null | grep -qx OK
}

# The Debian CLI, not whatever else may be first on PATH: it matches the engine's API version.
DOCKER=/usr/bin/docker

missing=()
for p in docker.io busybox-static curl; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
        echo "setup-docker: installing ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq || die "apt-get update failed"
        apt-get install -y -qq "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
fi
DOCKERD=$(command -v dockerd || echo /usr/sbin/dockerd)
[ -x "$DOCKERD" ] || die "dockerd not found after installing docker.io"
[ -x "$DOCKER" ] || DOCKER=$(command -v docker) || die "docker CLI not found"
[ -x /bin/busybox ] || die "/bin/busybox not found after installing busybox-static"

if ! ping_ok; then
        # A stale pidfile from a dockerd that died would make dockerd refuse to start.
        if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
                rm -f /var/run/docker.pid
        fi
        echo "setup-docker: starting dockerd (log: $LOG)" >&2
        # setsid: dockerd must outlive this script and the test that ran it.
        setsid "$DOCKERD" --iptables=false --bridge=none >>"$LOG" 2>&1 </dev/null &
        echo $! >"$PIDFILE"
        for _ in $(seq 1 60); do
                ping_ok && break
                if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
                        tail -n 20 "$LOG" >&2 || true
                        die "dockerd exited during startup; see $LOG"
                fi
                sleep 0.5
        done
        ping_ok || { tail -n 20 "$LOG" >&2 || true; die "dockerd did not answer on $SOCK within 30 s; see $LOG"; }
fi

if ! "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then
        tmp=$(mktemp -d /tmp/tfrun-bb.XXXXXX)
        trap 'rm -rf "$tmp"' EXIT
        mkdir -p "$tmp/root/bin" "$tmp/root/tmp" "$tmp/root/proc" "$tmp/root/sys" "$tmp/root/dev" "$tmp/root/etc"
        chmod 1777 "$tmp/root/tmp"
        cp /bin/busybox "$tmp/root/bin/"
        for a in $APPLETS; do
                ln -s busybox "$tmp/root/bin/$a"
        done
        printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$tmp/root/etc/passwd"
        printf 'root:x:0:\nnogroup:x:65534:\n' >"$tmp/root/etc/group"
        tar -C "$tmp/root" -cf "$tmp/bb.tar" .
        "$DOCKER" import -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' "$tmp/bb.tar" "$IMAGE" >/dev/null ||
                die "docker import of $IMAGE failed"
fi
"$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1 || die "$IMAGE missing after import"
echo "setup-docker: dockerd ready on $SOCK with $IMAGE" >&2
