#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs what tests/vm needs to boot a pure cgroup v2 kernel under qemu (TCG): qemu, a Debian kernel
# image with its modules, and busybox-static for the initramfs. Idempotent: does nothing (and needs no
# network) when everything is already there.
set -eu

# strace: the v2 placement and kill tests watch the syscalls from inside the guest.
pkgs="qemu-system-x86 linux-image-amd64 busybox-static strace"

missing=""
for p in $pkgs; do
        # dpkg-query prints "install ok installed" only for a fully configured package.
        st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        [ "$st" = "install ok installed" ] || missing="$missing $p"
done

if [ -n "$missing" ]; then
        if [ "$(id -u)" != 0 ]; then
                echo "setup-vm: need root to install:$missing" >&2
                exit 1
        fi
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        # shellcheck disable=SC2086
        apt-get install -y -q --no-install-recommends $missing
fi

# The harness boots the newest /boot/vmlinuz-*; a kernel package without its modules would not find 9p.
k=$(ls -1 /boot/vmlinuz-* 2>/dev/null | sed 's|^/boot/vmlinuz-||' | sort -V | tail -n 1)
if [ -z "$k" ] || [ ! -d "/lib/modules/$k" ]; then
        echo "setup-vm: no usable kernel in /boot (got '${k}')" >&2
        exit 1
fi
command -v qemu-system-x86_64 >/dev/null
echo "setup-vm: ready (kernel $k, $(qemu-system-x86_64 --version | head -n 1))"
