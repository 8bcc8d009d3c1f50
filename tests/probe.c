/* SPDX-License-Identifier: MIT */
/*
 * tfprobe: a small static program that integration tests run as the service, to look from inside the
 * child and to make limits bite. Static so that it also runs in a bare busybox container and in the VM.
 *
 *   tfprobe alloc MB [HOLD_MS]     allocate and touch MB MiB, then hold them
 *   tfprobe fork N                 try N forks of sleeping children; print "forked=A failed=B"; reap
 *   tfprobe spin SECONDS           busy loop for SECONDS of wall time
 *   tfprobe ignore-term SECONDS N  ignore SIGTERM, start N children that ignore it too, sleep
 *   tfprobe sleep SECONDS          plain sleep
 *   tfprobe exit CODE              exit with CODE
 *   tfprobe kill-self SIG          raise SIG (number)
 *   tfprobe cgroup                 print /proc/self/cgroup
 *   tfprobe limits                 print the effective limits of its own cgroup, v1 or v2, one per line
 *                                  (swap: swap alone, v2 memory.swap.max or v1 memsw - memory)
 *   tfprobe cgfiles                the cgroup's limit files as the job sees them, FILE=CONTENT (or
 *                                  FILE=absent), then cgroup_path (the path /proc/self/cgroup gives for
 *                                  those controllers, "/" in a private cgroup namespace) and nofile_soft,
 *                                  nofile_hard (getrlimit). v1: memory.limit_in_bytes,
 *                                  memory.memsw.limit_in_bytes, cpu.cfs_quota_us, cpu.cfs_period_us,
 *                                  cpu.shares, cpuset.cpus, pids.max, blkio.weight, blkio.bfq.weight;
 *                                  v2: memory.max, memory.swap.max, cpu.max, cpu.weight,
 *                                  cpuset.cpus.effective, pids.max, io.weight, io.bfq.weight
 *   tfprobe fds                    list open fds (from /proc/self/fd)
 *   tfprobe env NAME...            print NAME=value for each (or NAME unset)
 *   tfprobe rlimit-nofile          print soft and hard RLIMIT_NOFILE
 *   tfprobe ids                    print uid, gid and supplementary groups
 *   tfprobe cwd                    print the working directory
 *   tfprobe output BYTES           write BYTES of a known pattern to stdout
 *   tfprobe interleave N           alternate N lines between stdout and stderr
 *   tfprobe syscall NAME...        try each system call with harmless arguments, print NAME=OK or
 *                                  NAME=ERRNO (as bubblewrap's try-syscall: a filtered call answers EPERM
 *                                  or ENOSYS, an allowed one its own error for the bad argument)
 *   tfprobe status                 print CapInh CapPrm CapEff CapBnd CapAmb NoNewPrivs Seccomp, KEY=VALUE
 *   tfprobe bind PORT              bind a TCP socket to 127.0.0.1:PORT; print bound or bind=ERRNO
 *   tfprobe netdev                 list the interface names of /proc/net/dev, one per line
 *   tfprobe write PATH             create PATH and write to it; print wrote or write=ERRNO
 *   tfprobe ls DIR                 list DIR's entries (without . and ..), one per line, or ls=ERRNO
 *   tfprobe cat PATH               print a file (a sysctl, say), or cat=ERRNO
 *   tfprobe orphan                 leave an orphan that exits after 100 ms, wait 600 ms, print
 *                                  "self=PID zombies=N" (N: processes in state Z visible in /proc)
 *   tfprobe mountopts PATH         print the mount point PATH's filesystem type and options (mountinfo)
 *   tfprobe walls                  the sandbox's walls, one key=value per line: ns_{ipc,uts,mnt,pid,cgroup}
 *                                  same|private against $TFPROBE_NS_<NAME> (the host's ids, "ipc:[N]");
 *                                  proc_sys (open core_pattern for writing), sysrq (the same for
 *                                  /proc/sysrq-trigger), cgroup_procs (own pid into the parent cgroup's
 *                                  cgroup.procs, v1 memory or v2): writable or the errno name; sys
 *                                  and ro_<path>: ro|rw; mask_<path>: empty, content, absent or errno;
 *                                  kill_host (kill($TFPROBE_HOST_PID, 0)): ok or errno; hostname
 *                                  same|other against $TFPROBE_HOSTNAME
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/statvfs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void cat(const char *path) {
        FILE *f = fopen(path, "re");
        if (!f)
                return;
        char line[4096];
        while (fgets(line, sizeof line, f))
                fputs(line, stdout);
        fclose(f);
}

static int read_line(const char *path, char *buf, size_t len) {
        FILE *f = fopen(path, "re");
        if (!f)
                return -1;
        if (!fgets(buf, (int) len, f)) {
                fclose(f);
                return -1;
        }
        fclose(f);
        buf[strcspn(buf, "\n")] = 0;
        return 0;
}

/* The cgroup path of controller `ctl` ("" for the v2 entry). */
static int own_cgroup(const char *ctl, char *out, size_t len) {
        FILE *f = fopen("/proc/self/cgroup", "re");
        if (!f)
                return -1;
        char line[4096];
        int found = -1;
        while (fgets(line, sizeof line, f)) {
                line[strcspn(line, "\n")] = 0;
                char *a = strchr(line, ':');
                if (!a)
                        continue;
                char *b = strchr(a + 1, ':');
                if (!b)
                        continue;
                *b = 0;
                const char *ctls = a + 1;
                int match = 0;
                if (!*ctl)
                        match = !*ctls;
                else {
                        char tmp[256];
                        snprintf(tmp, sizeof tmp, ",%s,", ctls);
                        char want[64];
                        snprintf(want, sizeof want, ",%s,", ctl);
                        match = strstr(tmp, want) != NULL;
                }
                if (match) {
                        snprintf(out, len, "%s", b + 1);
                        found = 0;
                        break;
                }
        }
        fclose(f);
        return found;
}

static void limit(const char *key, const char *ctl, const char *file) {
        char cg[2048], path[4096], val[256];
        int v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
        if (own_cgroup(v2 ? "" : ctl, cg, sizeof cg) < 0) {
                printf("%s=?\n", key);
                return;
        }
        if (v2)
                snprintf(path, sizeof path, "/sys/fs/cgroup%s/%s", cg, file);
        else
                snprintf(path, sizeof path, "/sys/fs/cgroup/%s%s/%s", ctl, cg, file);
        /* In a container on v1, /proc/self/cgroup names the host's path while the container sees its own
         * cgroup mounted at the controller's root. */
        if (read_line(path, val, sizeof val) < 0 &&
            (v2 ? snprintf(path, sizeof path, "/sys/fs/cgroup/%s", file)
                : snprintf(path, sizeof path, "/sys/fs/cgroup/%s/%s", ctl, file),
             read_line(path, val, sizeof val) < 0))
                printf("%s=?\n", key);
        else
                printf("%s=%s\n", key, val);
}

/* The limit's file as limit() finds it (the job's cgroup, or a container's own at the controller root). */
static int limit_value(const char *ctl, const char *file, char *val, size_t len) {
        char cg[2048], path[4096];
        int v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
        if (own_cgroup(v2 ? "" : ctl, cg, sizeof cg) < 0)
                return -1;
        if (v2)
                snprintf(path, sizeof path, "/sys/fs/cgroup%s/%s", cg, file);
        else
                snprintf(path, sizeof path, "/sys/fs/cgroup/%s%s/%s", ctl, cg, file);
        if (read_line(path, val, len) == 0)
                return 0;
        if (v2)
                snprintf(path, sizeof path, "/sys/fs/cgroup/%s", file);
        else
                snprintf(path, sizeof path, "/sys/fs/cgroup/%s/%s", ctl, file);
        return read_line(path, val, len);
}

/* Swap alone, as the spec's memory_swap means it: v2's memory.swap.max; on v1 memory.memsw.limit_in_bytes
 * minus memory.limit_in_bytes ("max" when memsw is the kernel's unlimited, which is page-aligned
 * LLONG_MAX). "?" where the host does not account swap. */
static void swap_limit(int v2) {
        char val[256], mem[256];
        if (v2) {
                int r = limit_value("memory", "memory.swap.max", val, sizeof val);
                printf("swap=%s\n", r == 0 ? val : "?");
                return;
        }
        if (limit_value("memory", "memory.memsw.limit_in_bytes", val, sizeof val) < 0 ||
            limit_value("memory", "memory.limit_in_bytes", mem, sizeof mem) < 0) {
                printf("swap=?\n");
                return;
        }
        unsigned long long sw = strtoull(val, NULL, 10), m = strtoull(mem, NULL, 10);
        if (sw >= 0x7ffffffffffff000ULL)
                printf("swap=max\n");
        else
                printf("swap=%llu\n", sw - m);
}

/* Effective limits in one vocabulary whatever the cgroup version, so that tests compare v1 and v2. */
static int limits(void) {
        int v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
        printf("cgroup=%s\n", v2 ? "v2" : "v1");
        if (v2) {
                limit("memory", "memory", "memory.max");
                swap_limit(1);
                limit("pids", "pids", "pids.max");
                char cg[2048], path[4096], val[256];
                if (own_cgroup("", cg, sizeof cg) == 0) {
                        snprintf(path, sizeof path, "/sys/fs/cgroup%s/cpu.max", cg);
                        if (read_line(path, val, sizeof val) == 0) {
                                char q[64], p[64];
                                if (sscanf(val, "%63s %63s", q, p) == 2)
                                        printf("cpu_quota=%s\ncpu_period=%s\n", strcmp(q, "max") ? q : "-1", p);
                        }
                }
                limit("cpuset", "cpuset", "cpuset.cpus");
        } else {
                limit("memory", "memory", "memory.limit_in_bytes");
                swap_limit(0);
                limit("pids", "pids", "pids.max");
                limit("cpu_quota", "cpu", "cpu.cfs_quota_us");
                limit("cpu_period", "cpu", "cpu.cfs_period_us");
                limit("cpuset", "cpuset", "cpuset.cpus");
        }
        return 0;
}

/* Raw limit files, named as the kernel names them, so that a comparison sees what was written and not a
 * translation of it. Read in the job's own cgroup (limit_value: its path, else the controller's root). */
static int cgfiles(void) {
        static const char *const v1[][2] = {
                {"memory", "memory.limit_in_bytes"}, {"memory", "memory.memsw.limit_in_bytes"},
                {"cpu", "cpu.cfs_quota_us"},         {"cpu", "cpu.cfs_period_us"},
                {"cpu", "cpu.shares"},               {"cpuset", "cpuset.cpus"},
                {"pids", "pids.max"},                {"blkio", "blkio.weight"},
                {"blkio", "blkio.bfq.weight"},
        };
        static const char *const v2[][2] = {
                {"", "memory.max"}, {"", "memory.swap.max"},       {"", "cpu.max"},   {"", "cpu.weight"},
                {"", "pids.max"},   {"", "cpuset.cpus.effective"}, {"", "io.weight"}, {"", "io.bfq.weight"},
        };
        int is_v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
        const char *const(*t)[2] = is_v2 ? v2 : v1;
        size_t n = is_v2 ? sizeof v2 / sizeof v2[0] : sizeof v1 / sizeof v1[0];
        char paths[512] = "", cg[2048], val[256];
        printf("cgroup=%s\n", is_v2 ? "v2" : "v1");
        for (size_t i = 0; i < n; i++) {
                int r = limit_value(t[i][0], t[i][1], val, sizeof val);
                printf("%s=%s\n", t[i][1], r == 0 ? val : "absent");
                /* The distinct paths of the controllers read, in order: one "/" when all are the root. */
                if (own_cgroup(t[i][0], cg, sizeof cg) < 0)
                        snprintf(cg, sizeof cg, "?");
                char have[sizeof paths + 2];
                snprintf(have, sizeof have, " %s ", paths);
                size_t used = strlen(paths);
                char needle[sizeof paths + 2];
                snprintf(needle, sizeof needle, " %.*s ", (int) sizeof paths - 1, cg);
                if (!strstr(have, needle) && used + strlen(cg) + 2 < sizeof paths)
                        snprintf(paths + used, sizeof paths - used, "%s%.*s", used ? " " : "",
                                 (int) (sizeof paths - used - 2), cg);
        }
        printf("cgroup_path=%s\n", paths);
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return 1;
        printf("nofile_soft=%llu\nnofile_hard=%llu\n", (unsigned long long) rl.rlim_cur,
               (unsigned long long) rl.rlim_max);
        return 0;
}

static const char *errname(int e) {
        const char *n = strerrorname_np(e);
        return n ? n : "E?";
}

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#endif

/* Each call's arguments are chosen so that, when the filter lets it through, the kernel refuses it for a
 * reason other than EPERM (or succeeds harmlessly in this short-lived process). */
static long try_syscall(const char *name, int *known) {
        *known = 1;
        if (!strcmp(name, "reboot"))
                return syscall(SYS_reboot, 0, 0, 0, NULL); /* bad magic: EINVAL once CAP_SYS_BOOT passes */
        if (!strcmp(name, "kexec_load"))
                return syscall(SYS_kexec_load, 0, (unsigned long) 1 << 30, NULL, 0); /* too many segments */
        if (!strcmp(name, "keyctl"))
                return syscall(SYS_keyctl, 0x7fff, 0, 0, 0, 0); /* unknown operation: EOPNOTSUPP */
        if (!strcmp(name, "add_key"))
                return syscall(SYS_add_key, NULL, NULL, NULL, 0, 0); /* EFAULT */
        if (!strcmp(name, "unshare-user"))
                return syscall(SYS_unshare, CLONE_NEWUSER); /* the probe exits right after */
        if (!strcmp(name, "setns"))
                return syscall(SYS_setns, -1, 0); /* EBADF */
        if (!strcmp(name, "kcmp")) {
                pid_t p = getpid();
                return syscall(SYS_kcmp, p, p, 0 /* KCMP_FILE */, 0, 0); /* fd 0 against itself: 0 */
        }
        if (!strcmp(name, "clone3"))
                return syscall(SYS_clone3, NULL, 0); /* size 0: EINVAL; Docker's profile answers ENOSYS */
        if (!strcmp(name, "io_uring_setup"))
                return syscall(SYS_io_uring_setup, 0, NULL); /* EFAULT or EINVAL */
        if (!strcmp(name, "socket-vsock")) {
                long fd = syscall(SYS_socket, AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd >= 0)
                        close((int) fd);
                return fd < 0 ? -1 : 0;
        }
        if (!strcmp(name, "personality-bad"))
                return syscall(SYS_personality, 0xffffffffUL - 1); /* not on Docker's list of personas */
        if (!strcmp(name, "getpid"))
                return syscall(SYS_getpid) > 0 ? 0 : -1;
        *known = 0;
        return -1;
}

static int syscalls(int n, char **names) {
        int rc = 0;
        for (int i = 0; i < n; i++) {
                int known;
                errno = 0;
                long r = try_syscall(names[i], &known);
                int e = errno;
                if (!known) {
                        fprintf(stderr, "tfprobe: unknown syscall test '%s'\n", names[i]);
                        rc = 2;
                } else if (r < 0)
                        printf("%s=%s\n", names[i], errname(e));
                else
                        printf("%s=OK\n", names[i]);
        }
        return rc;
}

static int status(void) {
        static const char *const keys[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs",
                                           "Seccomp"};
        FILE *f = fopen("/proc/self/status", "re");
        if (!f)
                return 1;
        char line[512];
        while (fgets(line, sizeof line, f)) {
                char *colon = strchr(line, ':');
                if (!colon)
                        continue;
                *colon = 0;
                for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
                        if (!strcmp(line, keys[i])) {
                                char *v = colon + 1;
                                v += strspn(v, " \t");
                                v[strcspn(v, "\n")] = 0;
                                printf("%s=%s\n", keys[i], v);
                        }
        }
        fclose(f);
        return 0;
}

static int bind_port(int port) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                printf("socket=%s\n", errname(errno));
                return 1;
        }
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (bind(fd, (struct sockaddr *) &a, sizeof a) < 0)
                printf("bind=%s\n", errname(errno));
        else
                printf("bound\n");
        close(fd);
        return 0;
}

static int netdev(void) {
        FILE *f = fopen("/proc/net/dev", "re");
        if (!f)
                return 1;
        char line[512];
        while (fgets(line, sizeof line, f)) {
                char *colon = strchr(line, ':');
                if (!colon)
                        continue; /* the two header lines */
                *colon = 0;
                printf("%s\n", line + strspn(line, " "));
        }
        fclose(f);
        return 0;
}

static int write_file(const char *path) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, "x\n", 2) != 2)
                printf("write=%s\n", errname(errno));
        else
                printf("wrote\n");
        if (fd >= 0)
                close(fd);
        return 0;
}

static int list_dir(const char *path) {
        DIR *d = opendir(path);
        if (!d) {
                printf("ls=%s\n", errname(errno));
                return 0;
        }
        struct dirent *e;
        while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                        printf("%s\n", e->d_name);
        closedir(d);
        return 0;
}

/* mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS"; the
 * last entry for PATH is the one on top. */
static int mountopts(const char *path) {
        FILE *f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return 1;
        char line[4096], found[4096] = "";
        while (fgets(line, sizeof line, f)) {
                char mp[4096], opts[1024];
                if (sscanf(line, "%*s %*s %*s %*s %4095s %1023s", mp, opts) != 2 || strcmp(mp, path))
                        continue;
                const char *sep = strstr(line, " - ");
                char fstype[256] = "?";
                if (sep)
                        sscanf(sep + 3, "%255s", fstype);
                snprintf(found, sizeof found, "%s %s", fstype, opts);
        }
        fclose(f);
        printf("%s\n", *found ? found : "none");
        return 0;
}

/* Processes in state Z visible in /proc. */
static int count_zombies(void) {
        DIR *d = opendir("/proc");
        int n = 0;
        struct dirent *e;
        while (d && (e = readdir(d))) {
                if (e->d_name[0] < '0' || e->d_name[0] > '9')
                        continue;
                char path[300], buf[512];
                snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
                FILE *f = fopen(path, "re");
                if (!f)
                        continue;
                size_t len = fread(buf, 1, sizeof(buf) - 1, f);
                fclose(f);
                buf[len] = 0;
                char *rp = strrchr(buf, ')');
                if (rp && rp[1] == ' ' && rp[2] == 'Z')
                        n++;
        }
        if (d)
                closedir(d);
        return n;
}

/* What Docker masks and makes read-only (moby oci/defaults.go), written out again here: the probe is the
 * test's own oracle, not tfrun's table. */
static const char *const walls_masked[] = {"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys",
                                           "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                                           "/proc/sched_debug", "/proc/scsi", "/sys/firmware"};
static const char *const walls_ro[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"};

static const char *open_wr(const char *path) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return errname(errno);
        close(fd);
        return "writable";
}

/* empty, content, absent or the errno name, for a file or a directory. */
static const char *masked(const char *path) {
        DIR *d = opendir(path);
        if (d) {
                struct dirent *e;
                int n = 0;
                while ((e = readdir(d)))
                        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                                n++;
                closedir(d);
                return n ? "content" : "empty";
        }
        if (errno != ENOTDIR)
                return errno == ENOENT ? "absent" : errname(errno);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? "absent" : errname(errno);
        char c;
        ssize_t n = read(fd, &c, 1);
        int e = errno;
        close(fd);
        return n > 0 ? "content" : n == 0 ? "empty" : errname(e);
}

static void ns_line(const char *name) {
        char path[64], env[64], id[128];
        snprintf(path, sizeof path, "/proc/self/ns/%s", name);
        snprintf(env, sizeof env, "TFPROBE_NS_%s", name);
        ssize_t n = readlink(path, id, sizeof id - 1);
        const char *host = getenv(env);
        if (n < 0 || !host) {
                printf("ns_%s=%s\n", name, n < 0 ? errname(errno) : "no-host-id");
                return;
        }
        id[n] = 0;
        printf("ns_%s=%s\n", name, strcmp(id, host) ? "private" : "same");
}

/* The parent of the cgroup this process is in, as this process sees the tree (v2, or v1's memory). */
static const char *cgroup_escape(void) {
        int v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
        char cg[4096], path[4600];
        if (own_cgroup(v2 ? "" : "memory", cg, sizeof cg) < 0)
                return "no-cgroup";
        /* The parent: one level up; in a cgroup namespace (path "/") the root of what is visible, which
         * is the job's own cgroup: writable there means writable everywhere the mount lets it. */
        char *slash = strrchr(cg, '/');
        if (slash)
                *slash = 0;
        snprintf(path, sizeof path, "/sys/fs/cgroup%s%s/cgroup.procs", v2 ? "" : "/memory", cg);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        /* In a container on v1 with the host's cgroup namespace, /proc/self/cgroup names host paths while
         * the mount's root is the container's own cgroup: the visible top is what there is to try. */
        if (fd < 0 && errno == ENOENT) {
                snprintf(path, sizeof path, "/sys/fs/cgroup%s/cgroup.procs", v2 ? "" : "/memory");
                fd = open(path, O_WRONLY | O_CLOEXEC);
        }
        if (fd < 0)
                return errname(errno);
        char pid[32];
        int n = snprintf(pid, sizeof pid, "%d\n", (int) getpid());
        ssize_t w = write(fd, pid, (size_t) n);
        int e = errno;
        close(fd);
        return w == n ? "writable" : errname(e);
}

static int walls(void) {
        static const char *const ns[] = {"ipc", "uts", "mnt", "pid", "cgroup"};
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
                ns_line(ns[i]);
        printf("proc_sys=%s\n", open_wr("/proc/sys/kernel/core_pattern"));
        struct statvfs sv;
        printf("sys=%s\n", statvfs("/sys", &sv) < 0           ? errname(errno)
                            : (sv.f_flag & ST_RDONLY) ? "ro"
                                                      : "rw");
        for (size_t i = 0; i < sizeof walls_ro / sizeof walls_ro[0]; i++)
                printf("ro_%s=%s\n", walls_ro[i],
                       statvfs(walls_ro[i], &sv) < 0 ? (errno == ENOENT ? "absent" : errname(errno))
                       : (sv.f_flag & ST_RDONLY)    ? "ro"
                                                    : "rw");
        printf("sysrq=%s\n",
               access("/proc/sysrq-trigger", F_OK) < 0 ? "absent" : open_wr("/proc/sysrq-trigger"));
        for (size_t i = 0; i < sizeof walls_masked / sizeof walls_masked[0]; i++)
                printf("mask_%s=%s\n", walls_masked[i], masked(walls_masked[i]));
        const char *hp = getenv("TFPROBE_HOST_PID");
        printf("kill_host=%s\n", !hp ? "no-pid" : kill((pid_t) atoi(hp), 0) < 0 ? errname(errno) : "ok");
        char host[256] = "";
        gethostname(host, sizeof host);
        const char *want = getenv("TFPROBE_HOSTNAME");
        printf("hostname=%s\n", want && !strcmp(host, want) ? "same" : "other");
        /* Last: on success this moves the probe out of the job's cgroup. */
        printf("cgroup_procs=%s\n", cgroup_escape());
        return 0;
}

int main(int argc, char **argv) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc < 2) {
                fprintf(stderr, "usage: tfprobe COMMAND ARGS (see tests/probe.c)\n");
                return 2;
        }
        const char *c = argv[1];
        if (!strcmp(c, "alloc") && argc >= 3) {
                size_t mb = strtoul(argv[2], NULL, 10);
                long hold = argc >= 4 ? strtol(argv[3], NULL, 10) : 0;
                for (size_t i = 0; i < mb; i++) {
                        char *p = malloc(1 << 20);
                        if (!p) {
                                printf("allocated=%zu failed\n", i);
                                return 1;
                        }
                        memset(p, (int) (i + 1), 1 << 20);
                }
                printf("allocated=%zu\n", mb);
                if (hold > 0)
                        usleep((useconds_t) hold * 1000);
                return 0;
        }
        if (!strcmp(c, "fork") && argc >= 3) {
                int n = atoi(argv[2]), ok = 0, failed = 0;
                pid_t pids[4096];
                for (int i = 0; i < n && i < 4096; i++) {
                        pid_t p = fork();
                        if (p == 0) {
                                sleep(30);
                                _exit(0);
                        }
                        if (p < 0)
                                failed++;
                        else
                                pids[ok++] = p;
                }
                printf("forked=%d failed=%d\n", ok, failed);
                for (int i = 0; i < ok; i++)
                        kill(pids[i], SIGKILL);
                for (int i = 0; i < ok; i++)
                        waitpid(pids[i], NULL, 0);
                return 0;
        }
        if (!strcmp(c, "spin") && argc >= 3) {
                double end = now() + atof(argv[2]);
                volatile unsigned long x = 0;
                while (now() < end)
                        for (int i = 0; i < 10000; i++)
                                x++;
                return 0;
        }
        if (!strcmp(c, "ignore-term") && argc >= 4) {
                signal(SIGTERM, SIG_IGN);
                int n = atoi(argv[3]);
                for (int i = 0; i < n; i++)
                        if (fork() == 0) {
                                sleep((unsigned) atoi(argv[2]));
                                _exit(0);
                        }
                printf("ready\n");
                sleep((unsigned) atoi(argv[2]));
                return 0;
        }
        if (!strcmp(c, "sleep") && argc >= 3) {
                usleep((useconds_t) (atof(argv[2]) * 1e6));
                return 0;
        }
        if (!strcmp(c, "exit") && argc >= 3)
                return atoi(argv[2]);
        if (!strcmp(c, "kill-self") && argc >= 3) {
                int sig = atoi(argv[2]);
                signal(sig, SIG_DFL);
                raise(sig);
                return 0;
        }
        if (!strcmp(c, "cgroup")) {
                cat("/proc/self/cgroup");
                return 0;
        }
        if (!strcmp(c, "limits"))
                return limits();
        if (!strcmp(c, "cgfiles"))
                return cgfiles();
        if (!strcmp(c, "fds")) {
                DIR *d = opendir("/proc/self/fd");
                if (!d)
                        return 1;
                int dfd = dirfd(d);
                struct dirent *e;
                while ((e = readdir(d)))
                        if (e->d_name[0] != '.' && atoi(e->d_name) != dfd)
                                printf("%s\n", e->d_name);
                closedir(d);
                return 0;
        }
        if (!strcmp(c, "env")) {
                for (int i = 2; i < argc; i++) {
                        const char *v = getenv(argv[i]);
                        if (v)
                                printf("%s=%s\n", argv[i], v);
                        else
                                printf("%s unset\n", argv[i]);
                }
                return 0;
        }
        if (!strcmp(c, "rlimit-nofile")) {
                struct rlimit rl;
                getrlimit(RLIMIT_NOFILE, &rl);
                printf("soft=%llu hard=%llu\n", (unsigned long long) rl.rlim_cur, (unsigned long long) rl.rlim_max);
                return 0;
        }
        if (!strcmp(c, "ids")) {
                gid_t g[64];
                int n = getgroups(64, g);
                printf("uid=%u gid=%u groups=", (unsigned) getuid(), (unsigned) getgid());
                for (int i = 0; i < n; i++)
                        printf("%s%u", i ? "," : "", (unsigned) g[i]);
                printf("\n");
                return 0;
        }
        if (!strcmp(c, "cwd")) {
                char buf[4096];
                printf("%s\n", getcwd(buf, sizeof buf) ? buf : "?");
                return 0;
        }
        if (!strcmp(c, "output") && argc >= 3) {
                long long n = atoll(argv[2]);
                char buf[65536];
                for (size_t i = 0; i < sizeof buf; i++)
                        buf[i] = (char) ('a' + i % 26);
                setvbuf(stdout, NULL, _IOFBF, 1 << 16);
                while (n > 0) {
                        size_t k = n > (long long) sizeof buf ? sizeof buf : (size_t) n;
                        if (fwrite(buf, 1, k, stdout) != k)
                                return 1;
                        n -= (long long) k;
                }
                return 0;
        }
        if (!strcmp(c, "interleave") && argc >= 3) {
                int n = atoi(argv[2]);
                setvbuf(stderr, NULL, _IOLBF, 0);
                for (int i = 0; i < n; i++) {
                        fprintf(i % 2 ? stderr : stdout, "line %d\n", i);
                        fflush(i % 2 ? stderr : stdout);
                }
                return 0;
        }
        if (!strcmp(c, "orphan")) {
                /* A child that leaves a grandchild and exits at once: the grandchild, orphaned, exits
                 * 100 ms later. Only the child is waited for, so whether the grandchild is reaped is up to
                 * the pid namespace's init (or the host's subreaper). */
                pid_t child = fork();
                if (child == 0) {
                        if (fork() == 0) {
                                usleep(100000);
                                _exit(0);
                        }
                        _exit(0);
                }
                waitpid(child, NULL, 0);
                usleep(600000);
                printf("self=%d zombies=%d\n", (int) getpid(), count_zombies());
                return 0;
        }
        if (!strcmp(c, "syscall"))
                return syscalls(argc - 2, argv + 2);
        if (!strcmp(c, "status"))
                return status();
        if (!strcmp(c, "bind") && argc >= 3)
                return bind_port(atoi(argv[2]));
        if (!strcmp(c, "netdev"))
                return netdev();
        if (!strcmp(c, "write") && argc >= 3)
                return write_file(argv[2]);
        if (!strcmp(c, "ls") && argc >= 3)
                return list_dir(argv[2]);
        if (!strcmp(c, "cat") && argc >= 3) {
                if (access(argv[2], R_OK) < 0)
                        printf("cat=%s\n", errname(errno));
                else
                        cat(argv[2]);
                return 0;
        }
        if (!strcmp(c, "walls"))
                return walls();
        if (!strcmp(c, "mountopts") && argc >= 3)
                return mountopts(argv[2]);
        fprintf(stderr, "tfprobe: unknown command '%s'\n", c);
        return 2;
}
