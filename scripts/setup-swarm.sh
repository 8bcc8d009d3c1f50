#!/bin/bash
# SPDX-License-Identifier: MIT
# A real two-node Docker Swarm on loopback for the swarm suite, made of two EXTRA engines: the main engine
# (/var/run/docker.sock) is shared with other tests and never joins a swarm.
#
#   setup-swarm.sh start   start both engines (idempotent), make node 1 a manager and node 2 a worker, import
#                          the test image into both; prints the manager's DOCKER_HOST on stdout
#   setup-swarm.sh stop    leave the swarm and stop the engines this script started, by their pid files
#   setup-swarm.sh status  exit 0 when the swarm answers with two ready nodes
#
# Node 1: /tmp/tfsw1 (socket, data-root, exec-root, pidfile), swarm on 127.0.0.41:2397.
# Node 2: /tmp/tfsw2, swarm on 127.0.0.42:2397. The data path port is 4799 (not the default 4789) and the
# addresses are private to this script, so nothing else on the host that speaks swarm collides with it.
# The test image is taken from the main engine (scripts/setup-docker.sh makes it). Root only.
# Exit status: 0 ready; 1 with a message on stderr.
set -euo pipefail

IMAGE=tfrun-test/busybox:latest
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER=$(command -v docker) || { echo "setup-swarm: docker CLI not found" >&2; exit 1; }
PORT=2397
DATA_PORT=4799

die() {
        echo "setup-swarm: $*" >&2
        exit 1
}

dir_of() { echo "/tmp/tfsw$1"; }
addr_of() { echo "127.0.0.4$1"; }
host_of() { echo "unix://$(dir_of "$1")/docker.sock"; }
dk() {
        local n=$1
        shift
        DOCKER_HOST=$(host_of "$n") "$DOCKER" "$@"
}

ping_ok() {
        curl -sf --max-time 2 --unix-socket "$(dir_of "$1")/docker.sock" http://localhost/_ping 2>/dev/null |
                grep -qx OK
}

start_engine() {
        local n=$1 d
        d=$(dir_of "$n")
        ping_ok "$n" && return 0
        mkdir -p "$d/root" "$d/exec"
        if [ -f "$d/pid" ] && ! kill -0 "$(cat "$d/pid")" 2>/dev/null; then
                rm -f "$d/pid"
        fi
        DOCKERD=$(command -v dockerd || echo /usr/sbin/dockerd)
        # setsid: the engine outlives this script; `stop` ends it by its pid file.
        setsid "$DOCKERD" --iptables=false --ip6tables=false --bridge=none --host "$(host_of "$n")" \
                --data-root "$d/root" --exec-root "$d/exec" --pidfile "$d/pid" \
                >>"$d/log" 2>&1 </dev/null &
        for _ in $(seq 1 80); do
                ping_ok "$n" && return 0
                sleep 0.5
        done
        tail -n 20 "$d/log" >&2 || true
        die "engine $n did not answer on $(host_of "$n") within 40 s; see $d/log"
}

swarm_state() {
        dk "$1" info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}' 2>/dev/null || echo "none"
}

ready_nodes() {
        dk 1 node ls --format '{{.Status}}' 2>/dev/null | grep -c '^Ready$' || true
}

cmd_start() {
        [ "$(id -u)" = 0 ] || die "needs root (starts dockerd)"
        "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1 ||
                die "$IMAGE missing on the main engine (run scripts/setup-docker.sh first)"
        start_engine 1
        start_engine 2
        if [ "$(swarm_state 1)" != "active true" ]; then
                dk 1 swarm init --advertise-addr "$(addr_of 1):$PORT" --listen-addr "$(addr_of 1):$PORT" \
                        --data-path-port "$DATA_PORT" >/dev/null || die "swarm init on engine 1 failed"
        fi
        if [ "$(swarm_state 2 | cut -d' ' -f1)" != "active" ]; then
                dk 2 swarm join --token "$(dk 1 swarm join-token -q worker)" \
                        --advertise-addr "$(addr_of 2):$PORT" --listen-addr "$(addr_of 2):$PORT" \
                        "$(addr_of 1):$PORT" >/dev/null || die "engine 2 could not join the swarm"
        fi
        for _ in $(seq 1 60); do
                [ "$(ready_nodes)" -ge 2 ] && break
                sleep 0.5
        done
        [ "$(ready_nodes)" -ge 2 ] || die "the swarm has $(ready_nodes) ready nodes, not 2"
        local id
        id=$("$DOCKER" image inspect -f '{{.Id}}' "$IMAGE")
        for n in 1 2; do
                if [ "$(dk "$n" image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null)" != "$id" ]; then
                        "$DOCKER" save "$IMAGE" | dk "$n" load >/dev/null || die "image load into engine $n failed"
                fi
        done
        host_of 1
}

cmd_stop() {
        local n d
        for n in 2 1; do
                d=$(dir_of "$n")
                if ping_ok "$n"; then
                        dk "$n" swarm leave --force >/dev/null 2>&1 || true
                fi
                if [ -f "$d/pid" ]; then
                        local pid
                        pid=$(cat "$d/pid")
                        kill "$pid" 2>/dev/null || true
                        for _ in $(seq 1 40); do
                                kill -0 "$pid" 2>/dev/null || break
                                sleep 0.25
                        done
                fi
        done
}

cmd_status() {
        ping_ok 1 && ping_ok 2 && [ "$(ready_nodes)" -ge 2 ]
}

case "${1:-start}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*) die "usage: setup-swarm.sh start|stop|status" ;;
esac
