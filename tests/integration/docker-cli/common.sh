# SPDX-License-Identifier: MIT
# Shared by the tests that run one spec on both backends (sourced after tests/lib.sh and
# tests/integration/native/common.sh). Starts dockerd (or skips); PROBE may be set before `pair` is used.

bash "$SRCDIR/scripts/setup-docker.sh" >&2 ||
        skip_all "scripts/setup-docker.sh could not start dockerd with the test image (see its message)"
unset DOCKER_HOST
SOCK=/var/run/docker.sock
IMAGE=tfrun-test/busybox:latest

# containers_left [SERVICE]: ids of containers labelled by tfrun (for SERVICE, or any service).
containers_left() {
        local f='{"label":["tfrun.service'${1:+=$1}'"]}'
        curl -sf --unix-socket "$SOCK" -G "http://localhost/containers/json" --data-urlencode all=1 \
                --data-urlencode "filters=$f" | python3 -c 'import json,sys; print(" ".join(c["Id"][:12] for c in json.load(sys.stdin)))'
}
# containers_described [SERVICE]: the same, each with its service and run labels (for a failure's diag).
containers_described() {
        local f='{"label":["tfrun.service'${1:+=$1}'"]}'
        curl -sf --unix-socket "$SOCK" -G "http://localhost/containers/json" --data-urlencode all=1 \
                --data-urlencode "filters=$f" | python3 -c 'import json,sys; print(" ".join(c["Id"][:12] + "(" + c["Labels"].get("tfrun.run", "?") + ", " + c["State"] + ")" for c in json.load(sys.stdin)))'
}
no_container_left() {
        local left
        left=$(containers_left "$1")
        if [ -z "$left" ]; then pass "$2: no container left"; else
                fail "$2: no container left"
                diag "left: $(containers_described "$1")"
        fi
}

# pair NAME LINES...: the same spec for both backends, $TMPD/NAME-native.yaml and $TMPD/NAME-docker.yaml.
# The probe is bind-mounted at its host path, so the command line is identical.
pair() {
        local name=$1
        shift
        spec "$name-native" "backend: native" "$@" >/dev/null
        spec "$name-docker" "image: $IMAGE" "mounts: [{source: $PROBE, target: $PROBE, read_only: true}]" \
                "$@" >/dev/null
}

# plain_docker_setup NAME: the parity tests' common start: the docker CLI (or skip), a label of this test's
# own for its plain `docker run` containers, and PROBE: a copy of the probe outside /tmp and the build
# tree, readable and executable by uid 1000, in PROBE_DIR (the caller's EXIT trap removes it).
plain_docker_setup() {
        DOCKER=/usr/bin/docker
        [ -x "$DOCKER" ] || skip_all "no $DOCKER"
        LABEL=tfrun-$1-test=$$
        PROBE_DIR=$(mktemp -d "/run/tfrun-$1.XXXXXX")
        chmod 755 "$PROBE_DIR"
        cp "$TFPROBE" "$PROBE_DIR/tfprobe"
        chmod 755 "$PROBE_DIR/tfprobe"
        PROBE=$PROBE_DIR/tfprobe
}
