/* SPDX-License-Identifier: MIT */
/*
 * The sandbox's child side, between fork and exec: system calls only, on data the plan already holds.
 * Nothing here allocates or prints (no malloc, no stdio, no NSS): a failure names its step in the caller's
 * `what` buffer and returns -errno. See sandbox.h for the order.
 */
#include "sandbox/sandbox.h"
#include "sandbox/sandbox-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"

/* Under read_only_root these stay writable, as they are in a container with a read-only rootfs. */
static const char *const api_mounts_rw[] = {"/proc", "/dev/shm", "/dev/pts", "/dev/mqueue"};

static const char *cap_name(unsigned c) {
        const char *n = tf_cap_name(c);
        return n ? n : "?";
}

static void what_set(char *what, size_t len, const char *a, const char *b) {
        if (!what || len == 0)
                return;
        size_t n = 0;
        for (const char *s = a; s && *s && n + 1 < len; s++)
                what[n++] = *s;
        for (const char *s = b; s && *s && n + 1 < len; s++)
                what[n++] = *s;
        what[n] = 0;
}

static int fail(char *what, size_t len, const char *a, const char *b) {
        int e = errno ? errno : EIO;
        what_set(what, len, a, b);
        return -e;
}

static int loopback_up(char *what, size_t len) {
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return fail(what, len, "sandbox.network: socket for lo", NULL);
        struct ifreq ifr;
        memset(&ifr, 0, sizeof(ifr));
        memcpy(ifr.ifr_name, "lo", 3);
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
                int r = fail(what, len, "sandbox.network: SIOCGIFFLAGS lo", NULL);
                close(fd);
                return r;
        }
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) {
                int r = fail(what, len, "sandbox.network: bring lo up", NULL);
                close(fd);
                return r;
        }
        close(fd);
        return 0;
}

/* mkdir -p for a target inside the private /tmp; the last component as directory or empty file. */
/* As Docker (20.10+) does for a container with a network namespace of its own: any user may bind any
 * port there. Only `lo` exists, so a low port gives no one a service to impersonate. /proc/sys/net
 * shows the namespace of the process that opens it: ours, the new one. Where the knob is missing
 * (Linux < 4.11) or /proc/sys cannot be written (a read-only /proc/sys in a container, a hardened host),
 * the namespace keeps the kernel's 1024: stricter than Docker, never looser. */
static int unprivileged_ports(char *what, size_t len) {
        int fd = open("/proc/sys/net/ipv4/ip_unprivileged_port_start", O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT || errno == EROFS || errno == EACCES || errno == EPERM
                               ? 0
                               : fail(what, len, "sandbox.network: open ip_unprivileged_port_start", NULL);
        ssize_t w = write(fd, "0", 1);
        int e = errno;
        close(fd);
        if (w != 1) {
                errno = w < 0 ? e : EIO;
                return fail(what, len, "sandbox.network: set ip_unprivileged_port_start to 0", NULL);
        }
        return 0;
}

static int create_in_tmp(const struct plan_mount *m, char *what, size_t len) {
        char buf[PATH_MAX];
        size_t n = strlen(m->target);
        if (n >= sizeof(buf)) {
                errno = ENAMETOOLONG;
                return fail(what, len, "mounts: create target ", m->target);
        }
        memcpy(buf, m->target, n + 1);
        for (char *c = buf + 5; *c; c++) {
                if (*c != '/')
                        continue;
                *c = 0;
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return fail(what, len, "mounts: create target ", m->target);
                *c = '/';
        }
        if (m->is_dir) {
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return fail(what, len, "mounts: create target ", m->target);
        } else {
                int fd = open(buf, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (fd < 0)
                        return fail(what, len, "mounts: create target ", m->target);
                close(fd);
        }
        return 0;
}

static int attach_mount(const struct plan_mount *m, int tree, char *what, size_t len) {
        if (m->create_in_tmp) {
                int r = create_in_tmp(m, what, len);
                if (r < 0)
                        return r;
        }
        /* The target again without symbolic links: the host may have changed since prepare. */
        struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS};
        int tfd = (int)syscall(SYS_openat2, AT_FDCWD, m->target, &how, sizeof(how));
        if (tfd < 0)
                return fail(what, len, "mounts: open target ", m->target);
        int r = move_mount(tree, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
        if (r < 0) {
                r = fail(what, len, "mounts: bind onto ", m->target);
                close(tfd);
                return r;
        }
        close(tfd);
        return 0;
}

/* Writes text to a /proc/self file (uid_map and the like). */
static int write_proc(const char *path, const char *text, size_t n, char *what, size_t len) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return fail(what, len, "sandbox: user namespace: open ", path);
        ssize_t w = write(fd, text, n);
        int e = errno;
        close(fd);
        if (w != (ssize_t)n) {
                errno = w < 0 ? e : EIO;
                return fail(what, len, "sandbox: user namespace: write ", path);
        }
        return 0;
}

/* "ID ID 1\n" without stdio. */
static size_t format_map(char *buf, unsigned long id) {
        char digits[24];
        size_t n = 0, o = 0;
        do
                digits[n++] = (char)('0' + id % 10);
        while ((id /= 10) > 0);
        for (int k = 0; k < 2; k++) {
                for (size_t i = n; i > 0; i--)
                        buf[o++] = digits[i - 1];
                buf[o++] = ' ';
        }
        buf[o++] = '1';
        buf[o++] = '\n';
        return o;
}

/* A non-root tfrun's child, cloned into a user namespace of its own: map only tfrun's uid and gid (the
 * only mapping an unprivileged process may write), with setgroups denied, as `unshare -r` does but
 * without becoming root in it: the service keeps its uid, and execve leaves it no capabilities. */
static int map_userns(const struct tf_sandbox_plan *p, char *what, size_t len) {
        char buf[64];
        int r = write_proc("/proc/self/setgroups", "deny", 4, what, len);
        if (r < 0)
                return r;
        r = write_proc("/proc/self/uid_map", buf, format_map(buf, p->outer_uid), what, len);
        if (r < 0)
                return r;
        return write_proc("/proc/self/gid_map", buf, format_map(buf, p->outer_gid), what, len);
}

/* Docker's masked paths (a file: /dev/null bound over; a directory: an empty read-only tmpfs) and
 * read-only paths (bound read-only onto themselves), those the kernel has. */
static int mask_system_paths(char *what, size_t len) {
        for (size_t i = 0; tf_sandbox_masked_paths[i]; i++) {
                const char *path = tf_sandbox_masked_paths[i];
                struct stat st;
                if (lstat(path, &st) < 0) {
                        if (errno == ENOENT)
                                continue;
                        return fail(what, len, "sandbox.system_paths: stat ", path);
                }
                int r = S_ISDIR(st.st_mode) ? mount("tmpfs", path, "tmpfs",
                                                    MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0")
                                            : mount("/dev/null", path, NULL, MS_BIND, NULL);
                if (r < 0)
                        return fail(what, len, "sandbox.system_paths: mask ", path);
        }
        for (size_t i = 0; tf_sandbox_readonly_paths[i]; i++) {
                const char *path = tf_sandbox_readonly_paths[i];
                if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
                        if (errno == ENOENT)
                                continue;
                        return fail(what, len, "sandbox.system_paths: bind ", path);
                }
                struct mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY};
                if (mount_setattr(AT_FDCWD, path, AT_RECURSIVE, &a, sizeof(a)) < 0)
                        return fail(what, len, "sandbox.system_paths: make read-only: ", path);
        }
        return 0;
}

/* The IPC namespace's own POSIX message queues and a /dev/shm of its own (Docker's: 64 MiB), so that
 * neither is the host's; where the host has no such directory there is nothing to hide. */
static int private_ipc_mounts(char *what, size_t len) {
        if (mount("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 &&
            errno != ENOENT)
                return fail(what, len, "sandbox.ipc: mount mqueue on /dev/mqueue", NULL);
        if (mount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k") <
                    0 &&
            errno != ENOENT)
                return fail(what, len, "sandbox.ipc: mount tmpfs on /dev/shm", NULL);
        return 0;
}

/* In the new cgroup namespace, the host's cgroup filesystems again, read-only: the service's own cgroup
 * is their root, as in a container. Through fsopen()/fsmount(): mount(2) refuses a filesystem on a mount
 * point that already shows the same one (EBUSY), which is just what this does. */
static int cgroup_mount(const struct plan_cgmount *m, char *what, size_t len) {
        int fs = (int)syscall(SYS_fsopen, m->v2 ? "cgroup2" : "cgroup", FSOPEN_CLOEXEC);
        if (fs < 0)
                return fail(what, len, "sandbox.cgroupns: fsopen for ", m->target);
        char opts[256];
        size_t n = m->data ? strlen(m->data) : 0;
        if (n >= sizeof(opts))
                n = sizeof(opts) - 1;
        memcpy(opts, m->data ? m->data : "", n);
        opts[n] = 0;
        if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "source", "cgroup", 0) < 0) {
                int r = fail(what, len, "sandbox.cgroupns: configure the cgroup filesystem for ", m->target);
                close(fs);
                return r;
        }
        /* v1: the hierarchy's controllers as flags, name=X as a string. */
        for (char *o = opts, *next; o && *o; o = next) {
                next = strchr(o, ',');
                if (next)
                        *next++ = 0;
                char *eq = strchr(o, '=');
                if (eq)
                        *eq = 0;
                if (syscall(SYS_fsconfig, fs, eq ? FSCONFIG_SET_STRING : FSCONFIG_SET_FLAG, o,
                            eq ? eq + 1 : NULL, 0) < 0) {
                        int r = fail(what, len, "sandbox.cgroupns: configure the cgroup filesystem for ",
                                     m->target);
                        close(fs);
                        return r;
                }
        }
        int mfd = -1;
        if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0 ||
            (mfd = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC,
                                MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                        MOUNT_ATTR_NOEXEC)) < 0 ||
            move_mount(mfd, "", AT_FDCWD, m->target, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
                int r = fail(what, len, "sandbox.cgroupns: mount the cgroup filesystem on ", m->target);
                if (mfd >= 0)
                        close(mfd);
                close(fs);
                return r;
        }
        close(mfd);
        close(fs);
        return 0;
}

static int cgroup_mounts(const struct tf_sandbox_plan *p, char *what, size_t len) {
        for (size_t i = 0; i < p->n_cgmounts; i++) {
                int r = cgroup_mount(&p->cgmounts[i], what, len);
                if (r < 0)
                        return r;
        }
        return 0;
}

int tf_sandbox_child_namespaces(const struct tf_sandbox_plan *p, char *what, size_t len) {
        int trees[TF_SANDBOX_MAX_MOUNTS];
        size_t n = p->n_mounts;
        int r = 0;

        for (size_t i = 0; i < n; i++)
                trees[i] = -1;
        if (p->userns) {
                r = map_userns(p, what, len);
                if (r < 0)
                        return r;
        }
        /* Bind sources are cloned while still in tfrun's mount namespace: open_tree() refuses a mount
         * of another namespace, which the pinned source would be once we have unshared. */
        for (size_t i = 0; i < n; i++) {
                const struct plan_mount *m = &p->mounts[i];
                trees[i] = open_tree(m->source_fd, "",
                                     OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
                if (trees[i] < 0) {
                        r = fail(what, len, "mounts: clone source for ", m->target);
                        goto out;
                }
                if (m->read_only) {
                        struct mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY};
                        if (mount_setattr(trees[i], "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof(a)) < 0) {
                                r = fail(what, len, "mounts: make read-only: ", m->target);
                                goto out;
                        }
                }
        }

        /* The cgroup namespace's root is the cgroup we are in: the caller placed us first. */
        int flags = (p->unshare_mnt ? CLONE_NEWNS : 0) | (p->unshare_net ? CLONE_NEWNET : 0) |
                    (p->unshare_ipc ? CLONE_NEWIPC : 0) | (p->unshare_uts ? CLONE_NEWUTS : 0) |
                    (p->unshare_cgroup ? CLONE_NEWCGROUP : 0);
        if (flags && unshare(flags) < 0) {
                r = fail(what, len, "sandbox: unshare (mount, network, ipc, uts, cgroup namespaces)", NULL);
                goto out;
        }

        /* Before the mounts: /proc/sys is read-only after them. */
        if (p->unshare_net) {
                r = loopback_up(what, len);
                if (r < 0)
                        goto out;
                r = unprivileged_ports(what, len);
                if (r < 0)
                        goto out;
        }

        if (p->unshare_mnt) {
                /* Host mounts still propagate in; nothing done here propagates out. */
                if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) {
                        r = fail(what, len, "sandbox: make / rslave", NULL);
                        goto out;
                }
                if (p->read_only_root) {
                        struct mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY};
                        if (mount_setattr(AT_FDCWD, "/", AT_RECURSIVE, &a, sizeof(a)) < 0) {
                                r = fail(what, len, "sandbox.read_only_root: mount_setattr / read-only",
                                         NULL);
                                goto out;
                        }
                        struct mount_attr rw = {.attr_clr = MOUNT_ATTR_RDONLY};
                        for (size_t i = 0; i < ELEMENTSOF(api_mounts_rw); i++)
                                /* EINVAL: not a mount point here; ENOENT: absent. Either way nothing
                                 * to keep writable. */
                                if (mount_setattr(AT_FDCWD, api_mounts_rw[i], 0, &rw, sizeof(rw)) < 0 &&
                                    errno != EINVAL && errno != ENOENT) {
                                        r = fail(what, len, "sandbox.read_only_root: keep writable ",
                                                 api_mounts_rw[i]);
                                        goto out;
                                }
                }
                /* The caller is pid 1 of the new pid namespace: this procfs shows that namespace. It is
                 * mounted after the read-only step, so it stays writable as Docker's /proc is. */
                if (p->pid_private &&
                    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
                        r = fail(what, len, "sandbox.pid: mount proc on /proc", NULL);
                        goto out;
                }
                if (p->mask_system_paths) {
                        r = mask_system_paths(what, len);
                        if (r < 0)
                                goto out;
                }
                if (p->unshare_ipc) {
                        r = private_ipc_mounts(what, len);
                        if (r < 0)
                                goto out;
                }
                if (p->unshare_cgroup) {
                        r = cgroup_mounts(p, what, len);
                        if (r < 0)
                                goto out;
                }
                /* /sys read-only, everything under it too (the cgroup tree above the service's own among
                 * it), as a container's; a fresh sysfs would need the network namespace's ownership. */
                struct mount_attr ro = {.attr_set = MOUNT_ATTR_RDONLY};
                if (mount_setattr(AT_FDCWD, "/sys", AT_RECURSIVE, &ro, sizeof(ro)) < 0 && errno != ENOENT &&
                    errno != EINVAL) {
                        r = fail(what, len, "sandbox: make /sys read-only", NULL);
                        goto out;
                }
                if (p->private_tmp &&
                    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0) {
                        r = fail(what, len, "sandbox.private_tmp: mount tmpfs on /tmp", NULL);
                        goto out;
                }
                for (size_t i = 0; i < n; i++) {
                        r = attach_mount(&p->mounts[i], trees[i], what, len);
                        if (r < 0)
                                goto out;
                }
        }

out:
        for (size_t i = 0; i < n; i++)
                if (trees[i] >= 0)
                        close(trees[i]);
        return r;
}

int tf_sandbox_child_bounding(const struct tf_sandbox_plan *p, char *what, size_t len) {
        if (!p->manage_caps)
                return 0;
        for (unsigned c = 0; c <= p->cap_last; c++) {
                if (p->caps & CAPBIT(c))
                        continue;
                if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
                        return fail(what, len, "sandbox: drop from bounding set CAP_",
                                    cap_name(c));
        }
        /* Through the user switch we keep our permitted set; privileges() then cuts it to the plan. */
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
                return fail(what, len, "sandbox: PR_SET_KEEPCAPS", NULL);
        return 0;
}

static int capset3(uint64_t eff, uint64_t perm, uint64_t inh) {
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
        struct __user_cap_data_struct d[2] = {
                {.effective = (uint32_t)eff, .permitted = (uint32_t)perm, .inheritable = (uint32_t)inh},
                {.effective = (uint32_t)(eff >> 32),
                 .permitted = (uint32_t)(perm >> 32),
                 .inheritable = (uint32_t)(inh >> 32)},
        };
        return (int)syscall(SYS_capset, &h, d);
}

static int capget_permitted(uint64_t *perm) {
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
        struct __user_cap_data_struct d[2];
        memset(d, 0, sizeof(d));
        if (syscall(SYS_capget, &h, d) < 0)
                return -1;
        *perm = (uint64_t)d[0].permitted | ((uint64_t)d[1].permitted << 32);
        return 0;
}

static int install_filter(const struct tf_sandbox_plan *p, char *what, size_t len) {
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, p->seccomp_flags, &p->prog) < 0) {
                if (errno == ENOSYS && p->seccomp_flags == 0 &&
                    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &p->prog, 0, 0) == 0)
                        return 0;
                return fail(what, len, "sandbox.seccomp: install filter", NULL);
        }
        return 0;
}

int tf_sandbox_child_privileges(const struct tf_sandbox_plan *p, char *what, size_t len) {
        bool filter_done = false;

        if (p->manage_caps) {
                bool root = geteuid() == 0;
                uint64_t perm;
                if (p->seccomp && !p->no_new_privs) {
                        /* Without no_new_privs seccomp(2) needs CAP_SYS_ADMIN, which the final sets may
                         * lack: install the filter now, with what we still hold, as runc does. */
                        if (capget_permitted(&perm) < 0 || capset3(perm, perm, 0) < 0)
                                return fail(what, len, "sandbox: capset (raise for seccomp)", NULL);
                        int r = install_filter(p, what, len);
                        if (r < 0)
                                return r;
                        filter_done = true;
                }
                /* uid 0 keeps the whole final set; execve gives root its bounding set anyway. Anyone else
                 * keeps only what cap_add named, as ambient so that it survives execve. */
                uint64_t keep = root ? p->caps : p->ambient;
                if (capset3(keep, keep, root ? 0 : p->ambient) < 0)
                        return fail(what, len, "sandbox: capset", NULL);
                if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
                        return fail(what, len, "sandbox: clear ambient capabilities", NULL);
                if (!root)
                        for (unsigned c = 0; c <= p->cap_last; c++)
                                if ((p->ambient & CAPBIT(c)) &&
                                    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
                                        return fail(what, len, "sandbox.cap_add: raise ambient CAP_",
                                                    cap_name(c));
                if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
                        return fail(what, len, "sandbox: clear PR_SET_KEEPCAPS", NULL);
        }

        if (p->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return fail(what, len, "sandbox.no_new_privileges: prctl PR_SET_NO_NEW_PRIVS", NULL);

        if (p->seccomp && !filter_done)
                return install_filter(p, what, len);
        return 0;
}

int tf_sandbox_init_privileges(char *what, size_t len) {
        for (int cap = 0; cap <= 63; cap++)
                if (cap != CAP_KILL && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
                        if (errno == EINVAL)
                                break; /* past the kernel's last capability */
                        /* EPERM: no CAP_SETPCAP. The bounding set only limits what an exec may gain,
                         * and the init never execs and has no_new_privs. */
                        if (errno != EPERM)
                                return fail(what, len, "sandbox.pid: init: drop the bounding set", NULL);
                }
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
                return fail(what, len, "sandbox.pid: init: clear ambient capabilities", NULL);
        uint64_t perm = 0;
        if (capget_permitted(&perm) < 0)
                return fail(what, len, "sandbox.pid: init: capget", NULL);
        uint64_t keep = perm & CAPBIT(CAP_KILL);
        if (capset3(keep, keep, 0) < 0)
                return fail(what, len, "sandbox.pid: init: capset", NULL);
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return fail(what, len, "sandbox.pid: init: no_new_privs", NULL);
        return 0;
}

/* The init's own filter: its loop waits for signals (rt_sigtimedwait), reaps (wait4), forwards (kill),
 * reports (write) and exits; nothing else is allowed, on the native architecture only. */
#if defined(__x86_64__) && !defined(__ILP32__)
#define INIT_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define INIT_AUDIT_ARCH AUDIT_ARCH_AARCH64
#elif defined(__i386__)
#define INIT_AUDIT_ARCH AUDIT_ARCH_I386
#endif

int tf_sandbox_init_filter(char *what, size_t len) {
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                return fail(what, len, "sandbox.pid: init: not dumpable", NULL);
#ifdef INIT_AUDIT_ARCH
#define ALLOW_NR(nr) \
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
        struct sock_filter insns[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, INIT_AUDIT_ARCH, 1, 0),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                ALLOW_NR(__NR_rt_sigtimedwait),
                ALLOW_NR(__NR_wait4),
                ALLOW_NR(__NR_kill),
                ALLOW_NR(__NR_write),
                ALLOW_NR(__NR_exit_group),
                ALLOW_NR(__NR_exit),
                ALLOW_NR(__NR_restart_syscall),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        };
#undef ALLOW_NR
        struct sock_fprog prog = {.len = (unsigned short)ELEMENTSOF(insns), .filter = insns};
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
                return fail(what, len, "sandbox.pid: init: seccomp", NULL);
#endif
        return 0;
}
