#!/bin/bash
# SPDX-License-Identifier: MIT
# Installs what tfrun needs on Debian 12 (root). `build`: compiler, meson and libraries. `test`: also what
# the test suites and the short fuzz runs use. Idempotent, and quick when everything is already there.
set -euo pipefail
what=${1:-build}
pkgs=(gcc pkg-config meson ninja-build libyaml-dev libjansson-dev libcgroup-dev libseccomp-dev
      libcurl4-openssl-dev libsqlite3-dev libmicrohttpd-dev)
if [ "$what" = test ]; then
        pkgs+=(python3 python3-croniter cgroup-tools busybox-static procps libc6-dev systemd strace bubblewrap gcovr sqlite3
               curl util-linux
               prometheus # promtool, for `promtool check metrics` on /metrics (its daemon is kept from starting)
               clang libclang-rt-14-dev # clang's libFuzzer (-fsanitize=fuzzer) for the short fuzz runs
               chromium nodejs) # the dashboard's browser test (puppeteer-core from npm, below)
        # Debian's npm, unless a nodejs that brings its own (NodeSource's conflicts with it) is there.
        command -v npm >/dev/null || pkgs+=(npm)
fi
missing=()
for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
        echo "install-deps: installing ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # prometheus is wanted for promtool only: no maintainer script may start its server (policy-rc.d
        # exit 101 is Debian's "do not start services"; one already there is left as it is).
        own_policy=
        if [ ! -e /usr/sbin/policy-rc.d ]; then
                printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
                chmod 755 /usr/sbin/policy-rc.d
                own_policy=1
        fi
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        [ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d
fi
# The dashboard test drives Debian's chromium with puppeteer-core (no browser download), pinned by
# tests/integration/dashboard/package-lock.json into node_modules there (gitignored). Skipped when the
# locked version is in place already.
if [ "$what" = test ]; then
        dash=$(cd "$(dirname "$0")/.." && pwd)/tests/integration/dashboard
        want=$(node -p 'require(process.argv[1]).packages["node_modules/puppeteer-core"].version' \
                "$dash/package-lock.json")
        have=$(node -p 'require(process.argv[1]).version' "$dash/node_modules/puppeteer-core/package.json" \
                2>/dev/null || true)
        if [ "$want" != "$have" ]; then
                echo "install-deps: npm ci in $dash (puppeteer-core $want)" >&2
                (cd "$dash" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >/dev/null)
        fi
fi
