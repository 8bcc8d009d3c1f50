#!/bin/bash
# SPDX-License-Identifier: MIT
# Runs one command as root inside a throw-away qemu VM (TCG) booted on the newest installed Debian
# kernel with a pure cgroup v2 hierarchy, and brings back its output and exit status.
#
#   run-in-vm.sh [--timeout SECS] [--disk FILE] [--rw DIR]... [--overlay DIR]... -- CMD ARGS...
#   run-in-vm.sh --check        prerequisites present? prints the kernel or the reason, exit 0/1
#
# The guest sees the host's root read-only (9p) and chroots into it, so CMD runs the host's own binaries
# and libraries, in the same working directory. /tmp, /var/tmp, /run and /dev/shm are empty tmpfs in the
# guest (the host's are hidden): write there, or ask for a writable directory:
#   --rw DIR       DIR is shared writable: the guest's changes land on the host.
#   --overlay DIR  DIR is writable in the guest, changes stay in guest memory and vanish at exit
#                  (used for a meson build dir: meson test writes logs into it).
#   --disk FILE    FILE (raw image) is attached as a virtio disk, /dev/vda in the guest (io.max tests).
#   --timeout SECS the whole VM, boot included, is killed after SECS (default 600).
#
# Environment passed to CMD: PATH, HOME=/root, LANG=C.UTF-8, TERM=dumb, CI, TFRUN_IN_VM=1, and every
# variable named in VM_PASS_ENV (space separated). Settings: VM_WORKDIR (initramfs cache and run dirs;
# default $BUILDDIR/vm, else /tmp/tfrun-vm), VM_KERNEL (a vmlinuz path; default the newest in /boot),
# VM_VERBOSE=1 (timings and the console on stderr).
#
# Exit status: CMD's own, or 124 if the VM timed out, or 125 if the harness failed (the last 40 console
# lines are printed to stderr in both cases).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
timeout=600
disk=
check=0
rw_dirs=()
ov_dirs=()

usage() {
        sed -n '3,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
        exit 125
}
err() { echo "run-in-vm: $*" >&2; }

while [ $# -gt 0 ]; do
        case "$1" in
        --timeout) timeout=${2:?}; shift 2 ;;
        --disk) disk=${2:?}; shift 2 ;;
        --rw) rw_dirs+=("$(realpath -e -- "${2:?}")"); shift 2 ;;
        --overlay) ov_dirs+=("$(realpath -e -- "${2:?}")"); shift 2 ;;
        --check) check=1; shift ;;
        --) shift; break ;;
        -h|--help) usage ;;
        *) err "unknown option $1"; usage ;;
        esac
done
[[ "$timeout" =~ ^[0-9]+$ ]] || { err "--timeout wants whole seconds, got '$timeout'"; exit 125; }

# Prerequisites. A caller that wants to SKIP uses --check first.
missing() {
        if [ "$check" = 1 ]; then echo "$*"; exit 1; fi
        err "$* (run scripts/setup-vm.sh)"
        exit 125
}
qemu=$(command -v qemu-system-x86_64 || true)
[ -n "$qemu" ] || missing "qemu-system-x86_64 not installed"
if [ -n "${VM_KERNEL:-}" ]; then
        kimg=$VM_KERNEL
else
        kimg=$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1 || true)
fi
[ -n "$kimg" ] && [ -f "$kimg" ] || missing "no kernel image in /boot (linux-image-amd64)"
[ -r "$kimg" ] || missing "kernel image $kimg is not readable"
kver=${kimg##*/vmlinuz-}
moddir=/lib/modules/$kver
[ -d "$moddir" ] || missing "no modules for kernel $kver in $moddir"
busybox=/bin/busybox
# ldd fails on a static binary; the initramfs has no libraries for a dynamic one.
{ [ -x "$busybox" ] && ! ldd "$busybox" >/dev/null 2>&1; } || missing "no static busybox (busybox-static)"
[ -x /bin/bash ] || missing "no /bin/bash to run the job in the guest"
if [ "$check" = 1 ]; then
        echo "$kver"
        exit 0
fi
[ $# -gt 0 ] || { err "no command given"; usage; }
if [ -n "$disk" ]; then
        [ -f "$disk" ] || { err "--disk $disk: no such file"; exit 125; }
        disk=$(realpath -e -- "$disk")
fi

workdir=${VM_WORKDIR:-}
if [ -z "$workdir" ]; then
        if [ -n "${BUILDDIR:-}" ]; then workdir=$BUILDDIR/vm; else workdir=/tmp/tfrun-vm; fi
fi
mkdir -p "$workdir"

run=
irtmp=
qpid=
tpid=
# shellcheck disable=SC2317  # (invoked by the traps)
cleanup() {
        local rc=$?
        set +e
        [ -n "$irtmp" ] && rm -rf -- "$irtmp" "$irtmp.cpio.gz"
        [ -n "$qpid" ] && kill "$qpid" 2>/dev/null && wait "$qpid" 2>/dev/null
        [ -n "$tpid" ] && kill "$tpid" 2>/dev/null && wait "$tpid" 2>/dev/null
        [ -n "$run" ] && rm -rf -- "$run"
        return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --- initramfs, cached per kernel and per inputs --------------------------------------------------------
# The key covers everything that goes into the image, so editing init.sh or upgrading a package rebuilds.
key=$( { cat "$here/init.sh"; sed -n '/^build_initramfs()/,/^}/p' "${BASH_SOURCE[0]}";
         stat -L -c '%n %s %Y' "$busybox" "$kimg" "$moddir/modules.dep"; } | sha256sum | cut -c1-16)
initrd=$workdir/initramfs-$kver-$key.cpio.gz

build_initramfs() {
        local out=$1 tmp rel m f
        tmp=$(mktemp -d "$workdir/initramfs.XXXXXX")
        irtmp=$tmp
        mkdir -p "$tmp"/{bin,dev,proc,sys,job,host,lib/modules/"$kver"}
        cp "$busybox" "$tmp/bin/busybox"
        ln -s busybox "$tmp/bin/sh"       # for /init's #!; init installs the other applets itself
        cp "$here/init.sh" "$tmp/init"
        chmod 0755 "$tmp/init"
        # The dependency closure, as the kernel's own modules.dep has it; "builtin" lines need nothing.
        # (modprobe takes one module per call: further words would be module parameters.)
        for m in $(for want in virtio_pci 9pnet_virtio 9p virtio_blk overlay; do
                           modprobe -S "$kver" --show-depends "$want" 2>/dev/null || true
                   done | awk '$1 == "insmod" { print $2 }' | sort -u); do
                rel=${m#"$moddir"/}
                mkdir -p "$tmp/lib/modules/$kver/$(dirname "$rel")"
                f=$tmp/lib/modules/$kver/$rel
                # busybox may be built without xz/zstd support: store modules uncompressed.
                case "$m" in
                *.ko.xz) xz -dc "$m" >"${f%.xz}" ;;
                *.ko.zst) zstd -qdc "$m" >"${f%.zst}" ;;
                *.ko.gz) gzip -dc "$m" >"${f%.gz}" ;;
                *) cp "$m" "$f" ;;
                esac
        done
        [ -n "$(find "$tmp/lib/modules/$kver" -name '9p.ko')" ] || {
                # 9p built in is fine; a kernel without it cannot run the harness at all.
                grep -q '/9p.ko' "$moddir/modules.builtin" || { err "kernel $kver has no 9p"; return 1; }
        }
        for f in modules.builtin modules.builtin.modinfo modules.order; do
                [ -f "$moddir/$f" ] && cp "$moddir/$f" "$tmp/lib/modules/$kver/"
        done
        # A modules.dep (and friends) naming exactly the files we copied, under their uncompressed names.
        depmod -b "$tmp" "$kver" || { err "depmod failed"; return 1; }
        (cd "$tmp" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet) | gzip -1 >"$tmp.cpio.gz"
        mv -f "$tmp.cpio.gz" "$out"
        rm -rf "$tmp"
        irtmp=
}

if [ ! -s "$initrd" ]; then
        [ "${VM_VERBOSE:-0}" = 1 ] && err "building $initrd"
        command -v depmod >/dev/null || missing "depmod (kmod) not installed"
        build_initramfs "$initrd"
        # Older images of the same kernel are dead weight.
        find "$workdir" -maxdepth 1 -name "initramfs-$kver-*.cpio.gz" ! -name "${initrd##*/}" -mmin +10 \
                -delete 2>/dev/null || true
fi

# --- the job ------------------------------------------------------------------------------------------
run=$(mktemp -d "$workdir/run.XXXXXX")
{
        echo "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        echo "export HOME=/root LANG=C.UTF-8 TERM=dumb TFRUN_IN_VM=1"
        for v in CI ${VM_PASS_ENV:-}; do
                [[ "$v" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || { err "VM_PASS_ENV: bad name '$v'"; exit 125; }
                [ -n "${!v+set}" ] && printf 'export %s=%q\n' "$v" "${!v}"
        done
        printf 'cd -- %q || { echo "run-in-vm: working directory %q is not visible in the guest' "$PWD" "$PWD"
        echo ' (host /tmp, /var/tmp and /run are hidden by tmpfs; use --rw or --overlay)" >&2; exit 125; }'
        printf 'exec'
        printf ' %q' "$@"
        echo
} >"$run/job.sh"
: >"$run/mounts"
i=0
virtfs=(-virtfs "local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap"
        -virtfs "local,path=$run,mount_tag=job,security_model=none,multidevs=remap")
for d in "${rw_dirs[@]}"; do
        i=$((i + 1))
        echo "rw rw$i $d" >>"$run/mounts"
        virtfs+=(-virtfs "local,path=$d,mount_tag=rw$i,security_model=none,multidevs=remap")
done
for d in "${ov_dirs[@]}"; do
        echo "overlay - $d" >>"$run/mounts"
done
drive=()
[ -n "$disk" ] && drive=(-drive "file=$disk,if=virtio,format=raw,cache=unsafe")
: >"$run/out"
: >"$run/console"

append="console=ttyS0 panic=-1 loglevel=3 cgroup_no_v1=all"
[ -n "${VM_9P_CACHE:-}" ] && append="$append VM_9P_CACHE=$VM_9P_CACHE"

t0=$(date +%s.%N)
# KVM hangs under nesting on the machines this runs on: plain TCG, which needs no /dev/kvm either.
timeout -k 5 "$timeout" "$qemu" -accel tcg -cpu "${VM_CPU:-max}" -m 1024 -smp 2 -nodefaults -display none -no-reboot \
        -nic none -kernel "$kimg" -initrd "$initrd" -append "$append" \
        -serial "file:$run/console" "${virtfs[@]}" "${drive[@]}" </dev/null >"$run/qemu.log" 2>&1 &
qpid=$!
# Stream the output while it comes; tail ends by itself once qemu (via timeout) is gone.
tail -s 0.2 -n +1 -f --pid="$qpid" "$run/out" &
tpid=$!
if [ "${VM_VERBOSE:-0}" = 1 ]; then
        tail -s 0.2 -n +1 -f --pid="$qpid" "$run/console" >&2 &
fi
set +e
wait "$qpid"
qrc=$?
set -e
qpid=
wait "$tpid" || true
tpid=
t1=$(date +%s.%N)

console_tail() {
        err "last 40 lines of the console:"
        tail -n 40 "$run/console" | tr -d '\r' | sed 's/^/  | /' >&2
        if [ -s "$run/qemu.log" ]; then
                err "qemu said:"
                sed 's/^/  | /' "$run/qemu.log" >&2
        fi
}

if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
        err "timeout: the VM did not finish within ${timeout}s (kernel $kver)"
        console_tail
        exit 124
fi
if [ ! -s "$run/status" ]; then
        err "the VM stopped without a status (qemu exit $qrc, kernel $kver)"
        console_tail
        exit 125
fi
status=$(cat "$run/status")
if [ "${VM_VERBOSE:-0}" = 1 ] || [ -n "${VM_TIMINGS:-}" ]; then
        start=$(sed -n 's/.*TFRUN-VM: command starts at \([0-9.]*\)s.*/\1/p' "$run/console" | tr -d '\r')
        end=$(sed -n 's/.*TFRUN-VM: command ended at \([0-9.]*\)s.*/\1/p' "$run/console" | tr -d '\r')
        msg=$(awk -v a="$start" -v b="$end" -v t0="$t0" -v t1="$t1" -v k="$kver" 'BEGIN {
                printf "kernel %s, boot-to-command %.1fs (guest clock), command %.1fs, total %.1fs", k, a, b - a, t1 - t0 }')
        if [ -n "${VM_TIMINGS:-}" ]; then echo "$msg" >"$VM_TIMINGS"; else err "$msg"; fi
fi
exit "$status"
