#!/bin/sh
# SPDX-License-Identifier: MIT
# PID 1 of the test VM (busybox, in the initramfs built by run-in-vm.sh). Mounts the host's root read-only
# over 9p, gives it a fresh pure cgroup v2 hierarchy and writable tmpfs where programs expect to write,
# runs the job in a chroot and powers off. The job's output and exit status go to the "job" 9p share, so
# they reach the host byte-exact whatever the kernel prints on the console.
PATH=/bin
export PATH
/bin/busybox --install -s /bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# Kernel chatter at warning level (OOM kills, hung tasks) stays in dmesg, off the console.
echo 3 >/proc/sys/kernel/printk

say() { echo "TFRUN-VM: $*" >/dev/console; }
die() {
        say "ERROR: $*"
        echo "TFRUN-VM-STATUS=125@" >/dev/console
        sync
        poweroff -f
}
up() { cut -d' ' -f1 /proc/uptime; }

say "init at $(up)s, kernel $(uname -r)"
# Missing modules are not fatal by themselves (they may be built in); the mounts below say what failed.
for m in virtio_pci 9pnet_virtio 9p virtio_blk overlay; do
        modprobe "$m" 2>/dev/null || say "modprobe $m failed (built in?)"
done

o9p="trans=virtio,version=9p2000.L,msize=262144"
mkdir -p /job /host
mount -t 9p -o "$o9p,cache=none" job /job || die "cannot mount the job share"
# The host's root does not change under a test run: cache=loose lets the guest keep pages and dentries,
# which makes starting big programs (python, meson) several times faster than cache=none.
mount -t 9p -o "$o9p,ro,cache=${VM_9P_CACHE:-loose}" host /host || die "cannot mount the host root"

H=/host
# A second view of the host root that the tmpfs below do not cover: the lower layer of overlays, so a
# build dir under the host's /tmp can still be made visible. (A virtio 9p tag mounts only once: bind.)
mkdir -p /hostro
mount --bind $H /hostro || die "bind the host root"
mount -t proc proc $H/proc || die "mount proc"
mount -t sysfs sysfs $H/sys || die "mount sysfs"
mount -t devtmpfs devtmpfs $H/dev || die "mount devtmpfs"
mkdir -p $H/dev/pts $H/dev/shm 2>/dev/null
# devtmpfs has no /dev/fd (bash process substitution) nor the std* links: udev would make them.
ln -sf /proc/self/fd $H/dev/fd
ln -sf /proc/self/fd/0 $H/dev/stdin
ln -sf /proc/self/fd/1 $H/dev/stdout
ln -sf /proc/self/fd/2 $H/dev/stderr
mount -t devpts -o newinstance,ptmxmode=0666 devpts $H/dev/pts
mount -t tmpfs -o mode=1777 tmpfs $H/dev/shm
# Only the unified hierarchy: the kernel also boots with cgroup_no_v1=all.
mount -t cgroup2 cgroup2 $H/sys/fs/cgroup || die "mount cgroup2"
# /tmp and /var/tmp: writable, but still showing the host's files (a CI clone or build tree may live
# under the host's /tmp): an overlay whose lower layer is the read-only host view and whose upper layer is
# guest memory, dropped at poweroff. Falls back to an empty tmpfs if the overlay cannot be made.
mkdir -p /tmpov
mount -t tmpfs -o mode=0755 tmpfs /tmpov || die "mount tmpfs for the /tmp overlays"
for d in tmp var/tmp; do
        u=/tmpov/$(echo "$d" | tr / _)
        mkdir -p "$u/upper" "$u/work"
        chmod 1777 "$u/upper"
        mount -t overlay overlay -o "lowerdir=/hostro/$d,upperdir=$u/upper,workdir=$u/work" "$H/$d" 2>/dev/null ||
                mount -t tmpfs -o mode=1777 tmpfs "$H/$d" || die "mount tmpfs on /$d"
done
mount -t tmpfs -o mode=0755 tmpfs $H/run || die "mount tmpfs on /run"

# Extra mounts asked for by the host, one per line: "rw TAG PATH" (a writable 9p share of that host
# directory) or "overlay - PATH" (PATH made writable, changes kept in guest memory and dropped at exit).
n=0
if [ -f /job/mounts ]; then
        while read -r kind tag path; do
                [ -n "$kind" ] || continue
                n=$((n + 1))
                case "$kind" in
                rw)
                        mkdir -p "$H$path" 2>/dev/null
                        mount -t 9p -o "$o9p,cache=none" "$tag" "$H$path" || die "mount rw share on $path"
                        ;;
                overlay)
                        ov=$H/run/tfrun-vm/overlay/$n
                        mkdir -p "$ov/upper" "$ov/work"
                        mkdir -p "$H$path" 2>/dev/null
                        mount -t overlay overlay \
                                -o "lowerdir=/hostro$path,upperdir=$ov/upper,workdir=$ov/work" "$H$path" \
                                || die "mount overlay on $path"
                        ;;
                *)
                        die "unknown mount kind $kind"
                        ;;
                esac
        done </job/mounts
fi

mkdir -p $H/run/tfrun-vm
cp /job/job.sh $H/run/tfrun-vm/job.sh || die "cannot copy the job script"
ip link set lo up 2>/dev/null

# The host's root becomes the root of the mount namespace (moved onto /, as switch_root does) before the
# chroot: a process whose root is not its namespace's root may create no user namespace, root included
# (create_user_ns(): current_chrooted() -> EPERM), and tfrun's default sandbox needs one when not root.
# This shell keeps the initramfs as its own root (a root taken before a mount on / does not see it), so
# /job and /dev/console below are still the initramfs's.
cd $H && mount -o move . / || die "move the host root onto /"

say "command starts at $(up)s"
# The job runs in the root cgroup of a fresh hierarchy, as root, with no controlling terminal.
chroot . /usr/bin/env -i /bin/bash /run/tfrun-vm/job.sh </dev/null >/job/out 2>&1
rc=$?
say "command ended at $(up)s"
echo "$rc" >/job/status
sync
echo "TFRUN-VM-STATUS=$rc@" >/dev/console
poweroff -f
