/* SPDX-License-Identifier: MIT */
/*
 * One service cgroup over whatever the host has. The lifecycle (check, create, attach, kill, stats,
 * destroy) is written once over a list of "leaves", one per mounted hierarchy we need; v1 and v2 differ
 * only in the plan of (file, value) settings each limit becomes and in the files stats are read from.
 *
 * libcgroup writes every limit (and attaches a pid from outside). The leaves themselves are mkdir(2)
 * and rmdir(2) here: libcgroup's cgroup_create_cgroup() and cgroup_delete_cgroup_ext() re-read
 * /proc/mounts for every directory and walk every path component (mkdir -p), which was about half a
 * millisecond of each sandboxed launch (seven leaves on a hybrid host; docs/benchmarks.md), and in 2.0.2
 * they create nothing in a controller-less cgroup2 hierarchy and report success for an rmdir that failed.
 * Single files are read here too (cgroup_get_cgroup() reads every file of every controller).
 */
#include "cgroup/cgroup.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libcgroup.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <dirent.h>
#include <limits.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/io.h"
#include "base/parse.h"
#include "base/strutil.h"
#include "spec/limits.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif

#define CG_ROOT "/sys/fs/cgroup"
/* How deep below a service's leaf kill and remove look for cgroups the service made itself. */
#define SIGNAL_DEPTH_MAX 32
#define SUPERVISOR_NAME "tfrun-supervisor"

/* The cgroup v2 weight range (cpu.weight, io.weight); CPUWeight= -> CPUShares= is spec/limits.h's. */
#define CG_WEIGHT_DEFAULT UINT64_C(100)
#define CG_WEIGHT_MAX UINT64_C(10000)
/* systemd's IOWeight= -> BlockIOWeight= (cgroup_weight_io_to_blkio()), and the BFQ mapping it uses. */
#define BLKIO_WEIGHT_DEFAULT UINT64_C(500)
#define BLKIO_WEIGHT_MIN UINT64_C(10)
#define BLKIO_WEIGHT_MAX UINT64_C(1000)
#define BFQ_WEIGHT_MAX UINT64_C(1000)

enum ctl { CTL_CPU, CTL_CPUACCT, CTL_CPUSET, CTL_MEMORY, CTL_PIDS, CTL_IO, _CTL_MAX };

static const char *const ctl_v1_name[_CTL_MAX] = {"cpu", "cpuacct", "cpuset", "memory", "pids", "blkio"};
/* cpuacct has no v2 twin: cpu.stat's usage_usec exists in every v2 cgroup, controller or not. */
static const char *const ctl_v2_name[_CTL_MAX] = {"cpu", NULL, "cpuset", "memory", "pids", "io"};

/* What the host offers (tf_cg_host_new): its cgroup mode and mounts, tfrun's own cgroups, and the inotify fd
 * of every cgroup's cgroup.events. One per process, passed down, never static: a plan and a cgroup borrow
 * it. */
struct tf_cg_host {
        enum tf_cg_mode mode;
        char *v2_mnt; /* NULL when no cgroup2 is mounted */
        char *v2_own; /* tfrun's v2 cgroup as first read (before any move into tfrun-supervisor) */
        bool moved;   /* tfrun moved itself into v2_own/tfrun-supervisor */
        struct {
                int version; /* 0 absent, 1, 2 */
                char *mnt;
                char *own;
        } ctl[_CTL_MAX];
        /* One inotify fd for every cgroup's cgroup.events (tf_cg_watch), -1 until first used: closing an
         * inotify fd waits for an SRCU grace period (about 20 ms here), far too much per run; removing a
         * watch does not. Closed with the host. */
        int events_fd;
};

/* libcgroup's own state is process-wide: cgroup_init() scans /proc/mounts and clears a 2.35 MiB table,
 * so it runs once per process, whatever number of hosts are made. */
static bool lcg_initialised;

/* How a value read back is compared with what was written. */
enum cmp {
        CMP_EXACT,
        CMP_PAGES,   /* a byte count the kernel rounds down to whole pages */
        CMP_CPULIST, /* "0,1" reads back as "0-1" */
        CMP_DEVLINE, /* v1 throttle: the line "MAJ:MIN value" */
        CMP_IOMAX,   /* v2 io.max: every key=value written is on the device's line */
        CMP_WEIGHT,  /* "N" or a "default N" line */
};

struct setting {
        enum ctl ctl;
        const char *key;  /* the spec key, for messages */
        const char *file; /* static */
        char *value;
        enum cmp cmp;
        char dev[32]; /* "MAJ:MIN" for CMP_DEVLINE, CMP_IOMAX */
        struct tf_pos pos; /* of the spec key, for a refusal at create */
};

struct plan {
        struct setting *s;
        size_t n;
        unsigned need; /* controllers the limits need: bit per enum ctl */
        unsigned want; /* controllers that are only nice to have (stats) */
        char *parent[_CTL_MAX];
        char *v2_parent;
        struct tf_cg_host *host; /* borrowed */
};

/* What tf_cg_check() found and tf_cg_create_from() makes: built once per run. */
struct tf_cg_plan {
        struct plan p;
        char *name;
        char *spec_path;
};

struct leaf {
        int version;
        char *mnt;
        char *rel;  /* path below the mount, "/a/b/name" */
        char *path; /* mnt + rel */
        unsigned ctls;
        struct cgroup *lone; /* one controller (NULL: controller-less): attach, modify */
        const char *lctl;    /* libcgroup's name for this hierarchy */
        int dfd;             /* O_PATH */
        int lock_fd;         /* the directory's flock, held (-1: none): tf_cg_take(), hold() */
        bool created;
};

struct tf_cg {
        struct leaf *leaves;
        size_t n_leaves;
        struct leaf *unified; /* the v2 leaf (pure v2: the only one; hybrid: tracking), or NULL */
        struct leaf *by_ctl[_CTL_MAX];
        bool has_v1;
        struct tf_cg_host *host; /* borrowed from the plan: outlives cg */
        int wd; /* the watch on the unified leaf's cgroup.events in the process's inotify fd; -1: none */
};

/* ---- small file helpers ---- */

static int read_at(int dfd, const char *name, char *buf, size_t size) {
        _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t k = tf_read_full(fd, buf, size - 1);
        if (k < 0)
                return (int)k;
        size_t n = (size_t)k;
        buf[n] = 0;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
                buf[--n] = 0;
        return (int)n;
}

static int write_at(int dfd, const char *name, const char *value) {
        _cleanup_close_ int fd = openat(dfd, name, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        size_t len = strlen(value);
        ssize_t k = write(fd, value, len);
        if (k < 0)
                return -errno;
        return (size_t)k == len ? 0 : -EIO;
}

static int read_path(const char *path, char *buf, size_t size) {
        return read_at(AT_FDCWD, path, buf, size);
}

/* "key N" line of a flat keyed file (cpu.stat, memory.events, memory.oom_control). */
static int keyed_u64(const char *text, const char *key, uint64_t *ret) {
        size_t kl = strlen(key);
        for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
                if (strncmp(p, key, kl) == 0 && p[kl] == ' ') {
                        char num[32];
                        size_t i = 0;
                        for (const char *q = p + kl + 1; *q >= '0' && *q <= '9' && i + 1 < sizeof(num); q++)
                                num[i++] = *q;
                        num[i] = 0;
                        return tf_parse_u64(num, ret);
                }
        }
        return -ENOENT;
}

static bool is_cgroup2(const char *path) {
        struct statfs sfs;
        return statfs(path, &sfs) == 0 && (uint64_t)sfs.f_type == (uint64_t)CGROUP2_SUPER_MAGIC;
}

static char *join(const char *a, const char *b) {
        /* Paths below a mount are kept as "/x/y"; "/" + "name" must not become "//name". */
        if (streq(a, "/") || !*a)
                return tf_asprintf("/%s", b[0] == '/' ? b + 1 : b);
        return tf_asprintf("%s/%s", a, b[0] == '/' ? b + 1 : b);
}

static char *full_path(const char *mnt, const char *rel) {
        return streq(rel, "/") ? tf_strdup(mnt) : tf_asprintf("%s%s", mnt, rel);
}

static int lcg_errno(int r) {
        if (r == ECGOTHER || r == ECGROUPVALUENOTEXIST || r == ECGCANTSETVALUE || r == ECGNONEMPTY) {
                int e = cgroup_get_last_errno();
                if (e > 0)
                        return e;
                if (r == ECGNONEMPTY)
                        return EBUSY;
                if (r == ECGROUPVALUENOTEXIST)
                        return ENOENT;
        }
        return r == 0 ? 0 : EIO;
}

/* libcgroup's own text for its codes, errno's for ECGOTHER (cgroup_strerror(0) is a misleading text). */
static const char *lcg_strerror(int r) {
        int e = lcg_errno(r);
        if (r >= 50000 && r != ECGOTHER && !(r == ECGROUPVALUENOTEXIST && e != ENOENT))
                return cgroup_strerror(r);
        return strerror(e);
}

/* ---- detection ---- */

static int ctl_from_name(const char *name, int version) {
        for (int i = 0; i < _CTL_MAX; i++)
                if (streq(name, version == 2 ? ctl_v2_name[i] : ctl_v1_name[i]))
                        return i;
        return -1;
}

static int parse_self_cgroup(struct tf_cg_host *h, tf_error **err) {
        _cleanup_fclose_ FILE *f = fopen("/proc/self/cgroup", "re");
        if (!f)
                return tf_error_setc(err, errno, "cgroup: open /proc/self/cgroup");
        char line[4096];
        while (fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\n")] = 0;
                char *c1 = strchr(line, ':');
                char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
                if (!c2)
                        continue;
                *c2 = 0;
                const char *ctrls = c1 + 1, *path = c2 + 1;
                if (!*ctrls) {
                        if (!h->v2_own)
                                h->v2_own = tf_strdup(path);
                        continue;
                }
                _cleanup_free_ char *copy = tf_strdup(ctrls);
                char *save = NULL;
                for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                        int i = ctl_from_name(t, 1);
                        if (i >= 0 && !h->ctl[i].own)
                                h->ctl[i].own = tf_strdup(path);
                }
        }
        return 0;
}

static int host_detect(struct tf_cg_host *h, tf_error **err) {
        int r;
        if (!lcg_initialised) {
                r = cgroup_init();
                if (r != 0)
                        return tf_error_set(err, lcg_errno(r), "cgroup: libcgroup cannot initialise: %s",
                                            lcg_strerror(r));
                lcg_initialised = true;
        }

        if (is_cgroup2(CG_ROOT)) {
                h->mode = TF_CG_V2;
                h->v2_mnt = tf_strdup(CG_ROOT);
        } else {
                h->mode = TF_CG_HYBRID;
                if (is_cgroup2(CG_ROOT "/unified"))
                        h->v2_mnt = tf_strdup(CG_ROOT "/unified");
        }

        void *it = NULL;
        struct cgroup_mount_point mp;
        r = cgroup_get_controller_begin(&it, &mp);
        while (r == 0) {
                /* A controller is bound to exactly one hierarchy: where v2 has it, v1 does not. */
                int version = h->v2_mnt && streq(mp.path, h->v2_mnt) ? 2 : 1;
                int i = ctl_from_name(mp.name, version);
                if (i >= 0 && h->ctl[i].version == 0) {
                        h->ctl[i].version = version;
                        h->ctl[i].mnt = tf_strdup(mp.path);
                }
                r = cgroup_get_controller_next(&it, &mp);
        }
        cgroup_get_controller_end(&it);

        r = parse_self_cgroup(h, err);
        if (r < 0)
                return r;
        if (h->v2_mnt && !h->v2_own)
                h->v2_own = tf_strdup("/");
        /* Started inside the leaf an earlier tfrun made for itself (a restarted unit, a script that put
         * itself there because the parent now has controllers and so accepts no process): the services
         * belong beside it, in the cgroup it was made to free, not one level deeper. */
        if (h->v2_own && tf_endswith(h->v2_own, "/" SUPERVISOR_NAME)) {
                size_t n = strlen(h->v2_own) - strlen("/" SUPERVISOR_NAME);
                char *up = n == 0 ? tf_strdup("/") : tf_strndup(h->v2_own, n);
                free(h->v2_own);
                h->v2_own = up;
                h->moved = true;
        }
        for (int i = 0; i < _CTL_MAX; i++) {
                if (h->ctl[i].version == 2) {
                        free(h->ctl[i].own);
                        h->ctl[i].own = tf_strdup(h->v2_own);
                } else if (h->ctl[i].version == 1 && !h->ctl[i].own)
                        h->ctl[i].own = tf_strdup("/");
        }
        return 0;
}

struct tf_cg_host *tf_cg_host_free(struct tf_cg_host *h) {
        if (!h)
                return NULL;
        free(h->v2_mnt);
        free(h->v2_own);
        for (int i = 0; i < _CTL_MAX; i++) {
                free(h->ctl[i].mnt);
                free(h->ctl[i].own);
        }
        if (h->events_fd >= 0)
                close(h->events_fd);
        free(h);
        return NULL;
}

int tf_cg_host_new(struct tf_cg_host **ret, tf_error **err) {
        struct tf_cg_host *h = tf_malloc0(sizeof(*h));
        h->events_fd = -1;
        int r = host_detect(h, err);
        if (r < 0) {
                tf_cg_host_free(h);
                return r;
        }
        *ret = h;
        return 0;
}

enum tf_cg_mode tf_cg_host_mode(const struct tf_cg_host *h) {
        return h->mode;
}

const char *tf_cg_mode_name(enum tf_cg_mode m) {
        switch (m) {
        case TF_CG_V2:
                return "v2";
        case TF_CG_HYBRID:
                return "hybrid";
        }
        return "unknown";
}

/* ---- the plan: limits -> (controller, file, value) in write order ---- */

static void plan_done(struct plan *p) {
        for (size_t i = 0; i < p->n; i++)
                free(p->s[i].value);
        free(p->s);
        for (int i = 0; i < _CTL_MAX; i++)
                free(p->parent[i]);
        free(p->v2_parent);
        *p = (struct plan){};
}

static struct setting *add(struct plan *p, enum ctl c, const char *key, const char *file, enum cmp cmp,
                           char *value) {
        p->s = tf_realloc(p->s, (p->n + 1) * sizeof(*p->s));
        struct setting *s = &p->s[p->n++];
        *s = (struct setting){.ctl = c, .key = key, .file = file, .value = value, .cmp = cmp};
        p->need |= 1u << c;
        return s;
}

static char *u64s(uint64_t v) {
        return tf_asprintf("%" PRIu64, v);
}

static int ctl_version(const struct plan *p, enum ctl c) {
        return p->host->ctl[c].version;
}

static int missing_ctl(enum ctl c, const char *key, tf_error **err) {
        return tf_error_set(err, EOPNOTSUPP,
                            "%s: this host has no %s controller (neither cgroup v2 nor v1 has it mounted)",
                            key, ctl_v1_name[c]);
}

/* Whether any block device uses the bfq scheduler, the only one that honours blkio.bfq.weight. */
static bool any_bfq_device(void) {
        DIR *d = opendir("/sys/block");
        if (!d)
                return false;
        bool found = false;
        struct dirent *de;
        while (!found && (de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                char path[PATH_MAX], buf[256];
                snprintf(path, sizeof(path), "/sys/block/%s/queue/scheduler", de->d_name);
                if (read_path(path, buf, sizeof(buf)) > 0 && strstr(buf, "[bfq]"))
                        found = true;
        }
        closedir(d);
        return found;
}

/* "0-2,5" <-> a bitmap, to compare cpu lists the way the kernel prints them. */
#define CPULIST_MAX 8192
static int cpulist_parse(const char *s, bool bits[static CPULIST_MAX]) {
        memset(bits, 0, CPULIST_MAX * sizeof(bool));
        const char *p = s;
        while (*p) {
                char *end;
                errno = 0;
                unsigned long a = strtoul(p, &end, 10), b = a;
                if (end == p || errno || a >= CPULIST_MAX)
                        return -EINVAL;
                p = end;
                if (*p == '-') {
                        b = strtoul(p + 1, &end, 10);
                        if (end == p + 1 || b >= CPULIST_MAX || b < a)
                                return -EINVAL;
                        p = end;
                }
                for (unsigned long i = a; i <= b; i++)
                        bits[i] = true;
                if (*p == ',')
                        p++;
                else if (*p)
                        return -EINVAL;
        }
        return 0;
}

static int cpulist_norm(const char *s, char *out, size_t size) {
        static bool bits[CPULIST_MAX];
        if (cpulist_parse(s, bits) < 0)
                return -EINVAL;
        size_t n = 0;
        out[0] = 0;
        for (unsigned i = 0; i < CPULIST_MAX; i++) {
                if (!bits[i])
                        continue;
                unsigned j = i;
                while (j + 1 < CPULIST_MAX && bits[j + 1])
                        j++;
                int k = j == i ? snprintf(out + n, size - n, "%s%u", n ? "," : "", i)
                               : snprintf(out + n, size - n, "%s%u-%u", n ? "," : "", i, j);
                if (k < 0 || (size_t)k >= size - n)
                        return -ENOBUFS;
                n += (size_t)k;
                i = j;
        }
        return 0;
}

static char *parent_path(enum ctl c, const struct plan *p) {
        return full_path(p->host->ctl[c].mnt, p->parent[c]);
}

static int io_device(const struct tf_io_limit *io, size_t idx, char *dev, size_t size, tf_error **err) {
        struct stat st;
        if (!io->device)
                return tf_error_set(err, EINVAL, "limits.io[%zu].device: missing", idx);
        if (stat(io->device, &st) < 0)
                return tf_error_setc(err, errno, "limits.io[%zu].device: %s", idx, io->device);
        if (!S_ISBLK(st.st_mode))
                return tf_error_set(
                        err, EOPNOTSUPP,
                        "limits.io[%zu].device: %s is not a block device; io limits apply to whole "
                        "disks such as /dev/vda",
                        idx, io->device);
        snprintf(dev, size, "%u:%u", major(st.st_rdev), minor(st.st_rdev));
        /* Both blk-throttle and io.max refuse partitions (ENODEV); say so before creating anything. */
        char path[128];
        snprintf(path, sizeof(path), "/sys/dev/block/%s/partition", dev);
        if (access(path, F_OK) == 0)
                return tf_error_set(err, EOPNOTSUPP,
                                    "limits.io[%zu].device: %s is a partition; the kernel throttles whole "
                                    "disks only, name the disk it belongs to",
                                    idx, io->device);
        return 0;
}

static int plan_io(const struct tf_limits *l, struct plan *p, tf_error **err) {
        for (size_t i = 0; i < l->n_io; i++) {
                const struct tf_io_limit *io = &l->io[i];
                char dev[32];
                int r = io_device(io, i, dev, sizeof(dev), err);
                if (r < 0)
                        return r;
                static const char *const v2key[] = {"rbps", "wbps", "riops", "wiops"};
                static const char *const v1file[] = {
                        "blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device",
                        "blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device"};
                const uint64_t v[] = {io->read_bps, io->write_bps, io->read_iops, io->write_iops};
                if (ctl_version(p, CTL_IO) == 2) {
                        _cleanup_free_ char *line = tf_strdup(dev);
                        bool any = false;
                        for (size_t k = 0; k < ELEMENTSOF(v); k++) {
                                if (!tf_limit_is_set(v[k]))
                                        continue;
                                char *n = v[k] == TF_LIMIT_MAX
                                                  ? tf_asprintf("%s %s=max", line, v2key[k])
                                                  : tf_asprintf("%s %s=%" PRIu64, line, v2key[k], v[k]);
                                free(line);
                                line = n;
                                any = true;
                        }
                        if (any) {
                                struct setting *s =
                                        add(p, CTL_IO, "limits.io", "io.max", CMP_IOMAX, TAKE_PTR(line));
                                snprintf(s->dev, sizeof(s->dev), "%s", dev);
                        }
                } else {
                        for (size_t k = 0; k < ELEMENTSOF(v); k++) {
                                /* No rule is v1's "unlimited": max needs no write. */
                                if (!tf_limit_is_finite(v[k]))
                                        continue;
                                struct setting *s = add(p, CTL_IO, "limits.io", v1file[k], CMP_DEVLINE,
                                                        tf_asprintf("%s %" PRIu64, dev, v[k]));
                                snprintf(s->dev, sizeof(s->dev), "%s", dev);
                        }
                }
        }
        return 0;
}

static uint64_t bfq_weight(uint64_t w) {
        /* systemd's mapping of [1..10000] (default 100) onto BFQ's [1..1000] (default 100). */
        if (w <= CG_WEIGHT_DEFAULT)
                return w;
        return CG_WEIGHT_DEFAULT + (w - CG_WEIGHT_DEFAULT) * (BFQ_WEIGHT_MAX - CG_WEIGHT_DEFAULT) /
                                           (CG_WEIGHT_MAX - CG_WEIGHT_DEFAULT);
}

static int plan_io_weight(const struct tf_limits *l, struct plan *p, tf_error **err) {
        if (!tf_limit_is_set(l->io_weight))
                return 0;
        if (ctl_version(p, CTL_IO) == 2) {
                add(p, CTL_IO, "limits.io_weight", "io.weight", CMP_WEIGHT,
                    tf_asprintf("default %" PRIu64, l->io_weight));
                return 0;
        }
        if (ctl_version(p, CTL_IO) == 0)
                return tf_error_set(
                        err, EOPNOTSUPP,
                        "limits.io_weight: this host has no io weight controller (neither the "
                        "cgroup v2 io controller nor cgroup v1 blkio is mounted); remove io_weight "
                        "or run on a cgroup v2 host");
        _cleanup_free_ char *pp = parent_path(CTL_IO, p);
        _cleanup_free_ char *f1 = tf_asprintf("%s/blkio.weight", pp);
        if (access(f1, F_OK) == 0) {
                uint64_t w = l->io_weight * BLKIO_WEIGHT_DEFAULT / CG_WEIGHT_DEFAULT;
                w = w < BLKIO_WEIGHT_MIN ? BLKIO_WEIGHT_MIN : w > BLKIO_WEIGHT_MAX ? BLKIO_WEIGHT_MAX : w;
                add(p, CTL_IO, "limits.io_weight", "blkio.weight", CMP_WEIGHT, u64s(w));
                return 0;
        }
        /* blkio.bfq.weight is hidden in the root cgroup; the bfq statistics files are not. A bfq weight
         * is a silent no-op on devices with another scheduler, so it only counts when some device uses
         * bfq. */
        _cleanup_free_ char *f2 = tf_asprintf("%s/blkio.bfq.io_service_bytes", pp);
        bool bfq = access(f2, F_OK) == 0;
        if (bfq && any_bfq_device()) {
                add(p, CTL_IO, "limits.io_weight", "blkio.bfq.weight", CMP_WEIGHT,
                    u64s(bfq_weight(l->io_weight)));
                return 0;
        }
        if (bfq)
                return tf_error_set(
                        err, EOPNOTSUPP,
                        "limits.io_weight: this host has no io weight controller (cgroup v1 blkio "
                        "without blkio.weight, and no block device uses the bfq scheduler that "
                        "blkio.bfq.weight needs); remove io_weight or run on a cgroup v2 host");
        return tf_error_set(
                err, EOPNOTSUPP,
                "limits.io_weight: this host has no io weight controller (cgroup v1 blkio without "
                "blkio.weight); remove io_weight or run on a cgroup v2 host");
}

/* The host cannot limit swap: a memory limit alone would leave swap unlimited where Docker's default
 * limits it to the size of memory (and the engine drops it, "Memory limited without swap"). Refused, as the
 * docker backend refuses that warning, with the explicit way out. */
static int no_swap_accounting(const char *key, const char *file, tf_error **err) {
        if (streq(key, "limits.memory"))
                return tf_error_set(err, EOPNOTSUPP,
                                    "limits.memory: this host does not account swap (no %s), so the swap "
                                    "limit that goes with memory (as large as memory, as in Docker) cannot "
                                    "be set; add memory_swap: max to leave swap unlimited, or enable swap "
                                    "accounting (cgroup v1: boot with swapaccount=1)",
                                    file);
        return tf_error_set(err, EOPNOTSUPP,
                            "limits.memory_swap: this host does not account swap (no %s); remove "
                            "memory_swap (or set it to max), or enable swap accounting (cgroup v1: boot "
                            "with swapaccount=1)",
                            file);
}

static bool word_in(const char *list, const char *w);

/* Whether the swap file's absence says something about swap accounting: only where the parent exists and
 * offers the memory controller. Otherwise the parents' check (plan_check_parents) names the real problem
 * (a missing parent, a controller not delegated) and the swap question does not arise yet. */
static bool swap_file_telling(const char *pp, bool v2) {
        if (access(pp, F_OK) < 0)
                return false;
        if (!v2)
                return true;
        _cleanup_free_ char *f = tf_asprintf("%s/cgroup.controllers", pp);
        char buf[512];
        return read_path(f, buf, sizeof(buf)) >= 0 && word_in(buf, "memory");
}

static int plan_memory(const struct tf_limits *l, struct plan *p, tf_error **err) {
        bool v2 = ctl_version(p, CTL_MEMORY) == 2;
        bool any = (tf_limit_is_set(l->memory) || tf_limit_is_set(l->memory_high) ||
                    tf_limit_is_set(l->memory_swap));
        if (any && ctl_version(p, CTL_MEMORY) == 0)
                return missing_ctl(CTL_MEMORY,
                                   tf_limit_is_set(l->memory)        ? "limits.memory"
                                   : tf_limit_is_set(l->memory_high) ? "limits.memory_high"
                                                                     : "limits.memory_swap",
                                   err);
        /* A new cgroup starts unlimited: an explicit "max" needs no write. */
        if (tf_limit_is_finite(l->memory))
                add(p, CTL_MEMORY, "limits.memory", v2 ? "memory.max" : "memory.limit_in_bytes", CMP_PAGES,
                    u64s(l->memory));
        if (tf_limit_is_set(l->memory_high)) {
                if (!v2)
                        return tf_error_set(err, EOPNOTSUPP,
                                            "limits.memory_high: cgroup v1 has no equivalent of memory.high "
                                            "(needs cgroup v2)");
                if (l->memory_high != TF_LIMIT_MAX)
                        add(p, CTL_MEMORY, "limits.memory_high", "memory.high", CMP_PAGES,
                            u64s(l->memory_high));
        }
        bool derived = tf_limit_is_finite(l->memory) && !tf_limit_is_set(l->memory_swap);
        if (!derived && !tf_limit_is_finite(l->memory_swap))
                return 0; /* swap "max", or no memory limit to derive one from: nothing to write */

        /* memory without memory_swap: Docker's default, swap as large as memory (MemorySwap = 2 x Memory),
         * so that one spec reads back the same on both backends. */
        uint64_t swap = derived ? l->memory : l->memory_swap;
        const char *key = derived ? "limits.memory" : "limits.memory_swap";
        _cleanup_free_ char *pp = parent_path(CTL_MEMORY, p);
        if (v2) {
                /* The root cgroup has no memory.swap.max even where swap is accounted: only a real
                 * parent tells before anything is made (the write itself fails clearly otherwise). */
                _cleanup_free_ char *f = tf_asprintf("%s/memory.swap.max", pp);
                if (!streq(p->parent[CTL_MEMORY], "/") && swap_file_telling(pp, true) && access(f, F_OK) < 0)
                        return no_swap_accounting(key, "memory.swap.max", err);
                add(p, CTL_MEMORY, key, "memory.swap.max", CMP_PAGES, u64s(swap));
                return 0;
        }
        if (!tf_limit_is_finite(l->memory))
                return tf_error_set(err, EOPNOTSUPP,
                                    "limits.memory_swap: cgroup v1 limits memory and swap together "
                                    "(memory.memsw.limit_in_bytes = memory + swap), so it needs "
                                    "limits.memory set as well");
        _cleanup_free_ char *f = tf_asprintf("%s/memory.memsw.limit_in_bytes", pp);
        if (swap_file_telling(pp, false) && access(f, F_OK) < 0)
                return no_swap_accounting(key, "memory.memsw.limit_in_bytes", err);
        struct tf_limits both = {.memory = l->memory, .memory_swap = swap};
        uint64_t memsw;
        if (tf_limits_memsw(&both, &memsw) < 0)
                return tf_error_set(err, ERANGE, "%s: memory + swap overflows", key);
        add(p, CTL_MEMORY, key, "memory.memsw.limit_in_bytes", CMP_PAGES, u64s(memsw));
        return 0;
}

/* The CPUs the service's cgroup may be given are those of its parent (cpuset.effective_cpus on v1,
 * cpuset.cpus.effective on v2; both leave offline CPUs out). Asking for others fails at create with
 * the kernel's bare ERANGE or EINVAL: say which ones exist instead, before anything is made. */
static int cpuset_available(const char *want, const struct plan *p, tf_error **err) {
        _cleanup_free_ char *pp = parent_path(CTL_CPUSET, p);
        const char *const files[] = {"cpuset.cpus.effective", "cpuset.effective_cpus", "cpuset.cpus"};
        char have[1024] = "";
        _cleanup_free_ char *from = NULL;
        for (size_t i = 0; i < ELEMENTSOF(files) && !from; i++) {
                _cleanup_free_ char *f = tf_asprintf("%s/%s", pp, files[i]);
                if (read_path(f, have, sizeof(have)) > 0)
                        from = TAKE_PTR(f);
        }
        if (!from) {
                from = tf_strdup("/sys/devices/system/cpu/online");
                if (read_path(from, have, sizeof(have)) <= 0)
                        return 0; /* nothing to compare with: the kernel decides at create */
        }
        static bool w[CPULIST_MAX], h[CPULIST_MAX];
        if (cpulist_parse(want, w) < 0 || cpulist_parse(have, h) < 0)
                return 0;
        char missing[256] = "";
        size_t n = 0;
        for (unsigned i = 0; i < CPULIST_MAX; i++)
                if (w[i] && !h[i] && n + 16 < sizeof(missing))
                        n += (size_t)snprintf(missing + n, sizeof(missing) - n, "%s%u", n ? "," : "", i);
        if (!n)
                return 0;
        char online[256] = "", norm[256];
        if (read_path("/sys/devices/system/cpu/online", online, sizeof(online)) <= 0)
                snprintf(online, sizeof(online), "?");
        if (cpulist_norm(missing, norm, sizeof(norm)) < 0)
                snprintf(norm, sizeof(norm), "%s", missing);
        bool one = !strpbrk(norm, ",-");
        return tf_error_set(err, EOPNOTSUPP,
                            "limits.cpuset: CPU%s %s of '%s' %s not available here: the cgroup parent offers "
                            "CPUs %s (%s; online: %s); choose CPUs among those",
                            one ? "" : "s", norm, want, one ? "is" : "are", have, from, online);
}

static int plan_cpu(const struct tf_limits *l, struct plan *p, tf_error **err) {
        bool v2 = ctl_version(p, CTL_CPU) == 2;
        if (tf_limit_is_finite(l->cpu_quota_usec)) {
                if (!ctl_version(p, CTL_CPU))
                        return missing_ctl(CTL_CPU, "limits.cpus", err);
                uint64_t period =
                        tf_limit_is_set(l->cpu_period_usec) ? l->cpu_period_usec : TF_CPU_PERIOD_USEC;
                if (v2)
                        add(p, CTL_CPU, "limits.cpus", "cpu.max", CMP_EXACT,
                            tf_asprintf("%" PRIu64 " %" PRIu64, l->cpu_quota_usec, period));
                else {
                        /* Period first: the kernel checks the quota against the period in force. */
                        add(p, CTL_CPU, "limits.cpus", "cpu.cfs_period_us", CMP_EXACT, u64s(period));
                        add(p, CTL_CPU, "limits.cpus", "cpu.cfs_quota_us", CMP_EXACT,
                            u64s(l->cpu_quota_usec));
                }
        }
        if (tf_limit_is_set(l->cpu_weight)) {
                if (!ctl_version(p, CTL_CPU))
                        return missing_ctl(CTL_CPU, "limits.cpu_weight", err);
                if (v2)
                        add(p, CTL_CPU, "limits.cpu_weight", "cpu.weight", CMP_EXACT, u64s(l->cpu_weight));
                else {
                        add(p, CTL_CPU, "limits.cpu_weight", "cpu.shares", CMP_EXACT,
                            u64s(tf_cpu_weight_to_shares(l->cpu_weight)));
                }
        }
        if (l->cpuset) {
                char norm[1024];
                if (cpulist_norm(l->cpuset, norm, sizeof(norm)) < 0)
                        return tf_error_set(err, EINVAL,
                                            "limits.cpuset: '%s' is not a cpu list like \"0-1,3\"",
                                            l->cpuset);
                if (!ctl_version(p, CTL_CPUSET))
                        return missing_ctl(CTL_CPUSET, "limits.cpuset", err);
                if (ctl_version(p, CTL_CPUSET) == 1) {
                        /* A v1 cpuset with empty mems (or cpus) refuses every task: inherit the parent's
                         * memory nodes (v2 does that by itself when cpuset.mems is left empty). */
                        _cleanup_free_ char *pp = parent_path(CTL_CPUSET, p);
                        _cleanup_free_ char *f = tf_asprintf("%s/cpuset.mems", pp);
                        char mems[1024];
                        int r = read_path(f, mems, sizeof(mems));
                        if (r < 0)
                                return tf_error_setc(err, r, "limits.cpuset: read %s", f);
                        if (r == 0)
                                return tf_error_set(
                                        err, EOPNOTSUPP,
                                        "limits.cpuset: the parent cpuset %s has no memory nodes "
                                        "(cpuset.mems is empty)",
                                        pp);
                        add(p, CTL_CPUSET, "limits.cpuset", "cpuset.mems", CMP_CPULIST, tf_strdup(mems));
                }
                int r = cpuset_available(l->cpuset, p, err);
                if (r < 0)
                        return r;
                add(p, CTL_CPUSET, "limits.cpuset", "cpuset.cpus", CMP_CPULIST, tf_strdup(l->cpuset));
        }
        return 0;
}

static const char *key_of(const struct plan *p, enum ctl c) {
        for (size_t i = 0; i < p->n; i++)
                if (p->s[i].ctl == c)
                        return p->s[i].key;
        return "limits";
}

static bool word_in(const char *list, const char *w) {
        size_t n = strlen(w);
        for (const char *q = list; q && *q;) {
                q += strspn(q, " \n");
                size_t m = strcspn(q, " \n");
                if (m == n && strncmp(q, w, n) == 0)
                        return true;
                q += m;
        }
        return false;
}

static bool writable(const char *dir, const char *file) {
        _cleanup_free_ char *f = file ? tf_asprintf("%s/%s", dir, file) : tf_strdup(dir);
        return faccessat(AT_FDCWD, f, W_OK, AT_EACCESS) == 0;
}

/* The deepest cgroup containing both a and b (paths below the mount, "/x/y"). */
static char *common_ancestor(const char *a, const char *b) {
        size_t n = 0;
        for (size_t i = 0;; i++) {
                bool ea = a[i] == 0 || a[i] == '/', eb = b[i] == 0 || b[i] == '/';
                if (ea && eb)
                        n = i;
                if (a[i] != b[i] || !a[i])
                        break;
        }
        return n == 0 ? tf_strdup("/") : tf_strndup(a, n);
}

/* cgroup v2 delegation (Documentation/admin-guide/cgroup-v2.rst, "Delegation Containment"): making the
 * service cgroup needs write access to the parent directory, enabling controllers needs its
 * cgroup.subtree_control, and moving a process (clone3 with CLONE_INTO_CGROUP included) needs the
 * cgroup.procs of the common ancestor of where tfrun runs and where the child goes. Checked before
 * anything is created, so that a user without delegation reads what is missing instead of an EACCES from
 * libcgroup or clone3. Root passes (CAP_DAC_OVERRIDE). */
static int v2_check_delegation(const struct plan *p, const char *subtree, tf_error **err) {
        _cleanup_free_ char *pp = full_path(p->host->v2_mnt, p->v2_parent);
        int uid = (int)geteuid();
        if (!writable(pp, NULL))
                return tf_error_set(
                        err, EACCES,
                        "cgroup parent %s (cgroup v2) is not delegated to uid %d: it may not create "
                        "cgroups there; run as root, or delegate a subtree to this user (systemd: "
                        "Delegate=yes; by hand: chown the directory and its cgroup.procs, "
                        "cgroup.subtree_control and cgroup.threads to the user) and pass it with "
                        "--cgroup-parent",
                        pp, uid);
        bool add = false;
        for (int c = 0; c < _CTL_MAX; c++)
                if (((p->need | p->want) & (1u << c)) && ctl_version(p, c) == 2 &&
                    !word_in(subtree, ctl_v2_name[c]))
                        add = true;
        if (add && !writable(pp, "cgroup.subtree_control"))
                return tf_error_set(err, EACCES,
                                    "cgroup parent %s (cgroup v2): cgroup.subtree_control is not "
                                    "writable by uid %d, so the controllers the limits need cannot be "
                                    "enabled for its children (current: '%s'); enable them there as its "
                                    "owner, or delegate the subtree with its cgroup.subtree_control",
                                    pp, uid, subtree);
        _cleanup_free_ char *anc = common_ancestor(p->host->v2_own, p->v2_parent);
        _cleanup_free_ char *ap = full_path(p->host->v2_mnt, anc);
        if (!writable(ap, "cgroup.procs")) {
                _cleanup_free_ char *own = full_path(p->host->v2_mnt, p->host->v2_own);
                return tf_error_set(
                        err, EACCES,
                        "cgroup v2 lets uid %d move processes only inside a subtree delegated to it: "
                        "tfrun runs in %s, the service would go below %s, and their common ancestor "
                        "%s has a cgroup.procs this user may not write; start tfrun from inside the "
                        "delegated subtree (e.g. systemd-run --user --scope -p Delegate=yes tfrun ...)",
                        uid, own, pp, ap);
        }
        return 0;
}

/* Parents must exist (only the leaf is created, so that destroy removes everything made) and, on v2,
 * offer each controller. Controllers wanted only for statistics are dropped quietly when missing. */
static int plan_check_parents(struct plan *p, tf_error **err) {
        char v2ctl[512] = "", v2sub[512] = "";
        if (p->host->v2_mnt) {
                _cleanup_free_ char *pp = full_path(p->host->v2_mnt, p->v2_parent);
                _cleanup_free_ char *f = tf_asprintf("%s/cgroup.controllers", pp);
                int r = read_path(f, v2ctl, sizeof(v2ctl));
                if (r < 0)
                        return tf_error_setc(
                                err, r, "cgroup parent %s (cgroup v2)%s", pp,
                                r == -ENOENT ? ": create it first, or choose another --cgroup-parent" : "");
                _cleanup_free_ char *fs = tf_asprintf("%s/cgroup.subtree_control", pp);
                r = read_path(fs, v2sub, sizeof(v2sub));
                if (r < 0)
                        return tf_error_setc(err, r, "read %s", fs);
        }
        for (int c = 0; c < _CTL_MAX; c++) {
                unsigned bit = 1u << c;
                if (!((p->need | p->want) & bit))
                        continue;
                bool needed = p->need & bit;
                if (ctl_version(p, c) == 2) {
                        if (word_in(v2ctl, ctl_v2_name[c]))
                                continue;
                        if (!needed) {
                                p->want &= ~bit;
                                continue;
                        }
                        _cleanup_free_ char *pp = full_path(p->host->v2_mnt, p->v2_parent);
                        return tf_error_set(
                                err, EOPNOTSUPP,
                                "%s: the %s controller is not available in %s (cgroup.controllers: "
                                "'%s'); delegate it to this cgroup (systemd: Delegate=yes) or run "
                                "tfrun as root with another --cgroup-parent",
                                key_of(p, c), ctl_v2_name[c], pp, v2ctl);
                }
                if (ctl_version(p, c) == 0) {
                        p->want &= ~bit;
                        continue;
                }
                _cleanup_free_ char *pp = parent_path(c, p);
                struct stat st;
                if (stat(pp, &st) < 0) {
                        if (!needed && errno == ENOENT) {
                                p->want &= ~bit;
                                continue;
                        }
                        return tf_error_setc(err, errno, "cgroup parent %s%s", pp,
                                             errno == ENOENT
                                                     ? ": create it first, or choose another --cgroup-parent"
                                                     : "");
                }
        }
        return p->host->v2_mnt ? v2_check_delegation(p, v2sub, err) : 0;
}

/* A parent is absolute (below each hierarchy's root) or relative (below tfrun's own cgroup in each
 * hierarchy, which may differ between v1 hierarchies: a workflow's cgroup and its steps'). */
static int parent_check(const char *parent, tf_error **err) {
        if (parent && (!*parent || streq(parent, "..") || tf_startswith(parent, "../") ||
                       strstr(parent, "/../") || tf_endswith(parent, "/..")))
                return tf_error_set(
                        err, EINVAL,
                        "cgroup parent '%s': expected an absolute path below the hierarchy root, "
                        "without '..'",
                        parent);
        return 0;
}

/* The parent in hierarchy i (_CTL_MAX: the unified one), as "/x/y" below its mount. */
static char *hier_parent(const struct tf_cg_host *h, const char *parent, int i) {
        const char *own = i == _CTL_MAX ? h->v2_own : h->ctl[i].own;
        if (!parent)
                return tf_strdup(own);
        if (parent[0] == '/')
                return tf_strdup(parent);
        return join(own, parent);
}

static bool leaf_name_ok(const char *name) {
        return name && *name && !strchr(name, '/') && !streq(name, ".") && !streq(name, "..");
}

static int plan_build(struct tf_cg_host *h, const struct tf_limits *l, const struct tf_cg_options *o,
                      struct plan *p, tf_error **err) {
        int r;
        p->host = h;
        const char *parent = o ? o->parent : NULL;
        r = parent_check(parent, err);
        if (r < 0)
                return r;
        for (int c = 0; c < _CTL_MAX; c++)
                if (h->ctl[c].version)
                        p->parent[c] = hier_parent(h, parent, c);
        if (h->v2_mnt)
                p->v2_parent = hier_parent(h, parent, _CTL_MAX);

        if (l) {
                r = plan_cpu(l, p, err);
                if (r >= 0)
                        r = plan_memory(l, p, err);
                if (r >= 0 && tf_limit_is_finite(l->pids)) {
                        if (!ctl_version(p, CTL_PIDS))
                                r = missing_ctl(CTL_PIDS, "limits.pids", err);
                        else
                                add(p, CTL_PIDS, "limits.pids", "pids.max", CMP_EXACT, u64s(l->pids));
                }
                if (r >= 0)
                        r = plan_io_weight(l, p, err);
                if (r >= 0 && l->n_io > 0) {
                        if (!ctl_version(p, CTL_IO))
                                r = missing_ctl(CTL_IO, "limits.io", err);
                        else
                                r = plan_io(l, p, err);
                }
                /* nofile is a setrlimit() in the runner, not a cgroup limit. */
                if (r < 0)
                        return r;
        }

        /* Statistics: peak memory and OOM kills, peak pids, and CPU time. CPU time comes for free from
         * cpu.stat in any v2 cgroup; without a v2 hierarchy it costs the cpuacct hierarchy. */
        p->want |= 1u << CTL_MEMORY | 1u << CTL_PIDS;
        if (!h->v2_mnt)
                p->want |= 1u << CTL_CPUACCT;
        if (o && o->every_controller)
                for (int c = 0; c < _CTL_MAX; c++)
                        if (h->ctl[c].version == 1)
                                p->want |= 1u << c;
        p->want &= ~p->need;
        r = plan_check_parents(p, err);
        if (r < 0)
                return r;
        /* A cpuset leaf wanted for no limit takes the parent's cpus and mems (cpuset_inherit()); a parent
         * without both (a --cgroup-parent made by hand) could hold no task below it: keep out of it. */
        unsigned cs = 1u << CTL_CPUSET;
        if ((p->want & cs) && ctl_version(p, CTL_CPUSET) == 1) {
                _cleanup_free_ char *pp = parent_path(CTL_CPUSET, p);
                _cleanup_free_ char *fc = tf_asprintf("%s/cpuset.cpus", pp);
                _cleanup_free_ char *fm = tf_asprintf("%s/cpuset.mems", pp);
                char v[1024];
                if (read_path(fc, v, sizeof(v)) <= 0 || read_path(fm, v, sizeof(v)) <= 0)
                        p->want &= ~cs;
        }
        return 0;
}

/* The position of a spec key named at the start of a message ("limits.io[1].device: ..."). */
static struct tf_pos key_pos(const struct tf_limits *l, const char *msg) {
        static const struct {
                const char *key;
                size_t off;
        } keys[] = {
                {"limits.cpus", offsetof(struct tf_limits, pos_cpus)},
                {"limits.cpu_weight", offsetof(struct tf_limits, pos_cpu_weight)},
                {"limits.cpuset", offsetof(struct tf_limits, pos_cpuset)},
                {"limits.memory", offsetof(struct tf_limits, pos_memory)},
                {"limits.memory_high", offsetof(struct tf_limits, pos_memory_high)},
                {"limits.memory_swap", offsetof(struct tf_limits, pos_memory_swap)},
                {"limits.pids", offsetof(struct tf_limits, pos_pids)},
                {"limits.io_weight", offsetof(struct tf_limits, pos_io_weight)},
                {"limits.io", offsetof(struct tf_limits, pos_io)},
        };
        size_t kl = strcspn(msg, ":[");
        if (tf_startswith(msg, "limits.io[")) {
                unsigned long i = strtoul(msg + strlen("limits.io["), NULL, 10);
                if (i < l->n_io && l->io[i].pos.line)
                        return l->io[i].pos;
        }
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (strlen(keys[i].key) == kl && strncmp(msg, keys[i].key, kl) == 0)
                        return *(const struct tf_pos *)((const char *)l + keys[i].off);
        return (struct tf_pos){};
}

/* A refusal about a spec key starts with the key (every message of the plan and of apply() does); the
 * spec's FILE:LINE:COL goes before it, as tf_spec_where() prints it. */
static int at_pos(const char *spec_path, struct tf_pos pos, int r, tf_error **err) {
        if (r >= 0 || !spec_path || !err || !*err || !tf_startswith((*err)->msg, "limits."))
                return r;
        if (pos.line == 0)
                return tf_error_prefix(err, "%s", spec_path);
        return tf_error_prefix(err, "%s:%u:%u", spec_path, pos.line, pos.column);
}

int tf_cg_check(struct tf_cg_host *h, const struct tf_limits *limits, const struct tf_cg_options *o,
                struct tf_cg_plan **ret, tf_error **err) {
        if (!o || !leaf_name_ok(o->name))
                return tf_error_set(err, EINVAL, "cgroup: a leaf name without '/' is required");
        struct tf_cg_plan *cp = tf_malloc0(sizeof(*cp));
        int r = plan_build(h, limits, o, &cp->p, err);
        if (r < 0) {
                if (limits && err && *err)
                        r = at_pos(o->spec_path, key_pos(limits, (*err)->msg), r, err);
                tf_cg_plan_free(cp);
                return r;
        }
        for (size_t i = 0; limits && i < cp->p.n; i++)
                cp->p.s[i].pos = key_pos(limits, cp->p.s[i].key);
        cp->name = tf_strdup(o->name);
        cp->spec_path = o->spec_path ? tf_strdup(o->spec_path) : NULL;
        if (ret)
                *ret = cp;
        else
                tf_cg_plan_free(cp);
        return 0;
}

void tf_cg_plan_free(struct tf_cg_plan *cp) {
        if (!cp)
                return;
        plan_done(&cp->p);
        free(cp->name);
        free(cp->spec_path);
        free(cp);
}

/* ---- leaves ---- */

static struct leaf *leaf_for(struct tf_cg *cg, int version, const char *mnt, const char *parent,
                             const char *name) {
        for (size_t i = 0; i < cg->n_leaves; i++)
                if (streq(cg->leaves[i].mnt, mnt))
                        return &cg->leaves[i];
        struct leaf *l = &cg->leaves[cg->n_leaves++];
        *l = (struct leaf){.version = version, .mnt = tf_strdup(mnt), .dfd = -1, .lock_fd = -1};
        l->rel = join(parent, name);
        l->path = full_path(mnt, l->rel);
        if (version == 1)
                cg->has_v1 = true;
        else
                cg->unified = l;
        return l;
}

static int leaf_add_ctl(struct leaf *l, enum ctl c) {
        const char *name = l->version == 2 ? ctl_v2_name[c] : ctl_v1_name[c];
        l->ctls |= 1u << c;
        /* Co-mounted v1 controllers (cpu,cpuacct) share one directory; on v2 the controllers are enabled
         * in the parent's cgroup.subtree_control by v2_enable(). */
        if (!l->lone) {
                l->lone = cgroup_new_cgroup(l->rel);
                if (!l->lone || !cgroup_add_controller(l->lone, name))
                        return -ENOMEM;
                l->lctl = name;
        }
        return 0;
}

static void leaf_free(struct leaf *l) {
        if (l->dfd >= 0)
                close(l->dfd);
        if (l->lock_fd >= 0)
                close(l->lock_fd);
        if (l->lone)
                cgroup_free(&l->lone);
        free(l->mnt);
        free(l->rel);
        free(l->path);
}

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}


/* Cgroups the service made below its leaf (it may, running as root or with delegation), deepest first:
 * the leaf's rmdir fails with EBUSY while any exists. They are empty once the tree was killed. */
static void remove_children(int dfd, unsigned depth) {
        int dd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = dd < 0 ? NULL : fdopendir(dd);
        if (!d) {
                if (dd >= 0)
                        close(dd);
                return;
        }
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_type != DT_DIR || de->d_name[0] == '.')
                        continue;
                if (depth < SIGNAL_DEPTH_MAX) {
                        _cleanup_close_ int sub = openat(dirfd(d), de->d_name, O_PATH | O_DIRECTORY | O_CLOEXEC);
                        if (sub >= 0)
                                remove_children(sub, depth + 1);
                }
                (void)unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
        }
        closedir(d);
}

/* One attempt, never a wait: -EBUSY while the kernel still holds the cgroup (the caller empties it
 * first, tf_cg_populated(), and retries from its loop). */
static int leaf_remove(struct leaf *l, tf_error **err) {
        if (!l->created)
                return 0;
        /* Sub-cgroups the service made are looked for only when they keep the leaf (EBUSY): listing
         * every leaf of every run for them was the larger part of a removal. */
        int e = rmdir(l->path) < 0 ? errno : 0;
        if ((e == EBUSY || e == ENOTEMPTY) && l->dfd >= 0) {
                remove_children(l->dfd, 0);
                e = rmdir(l->path) < 0 ? errno : 0;
        }
        if (e == 0 || e == ENOENT) {
                l->created = false;
                return 0;
        }
        if (e == ENOTEMPTY)
                e = EBUSY;
        return tf_error_set(err, e, "remove cgroup %s: %s", l->path, strerror(e));
}

static int leaves_remove(struct tf_cg *cg, tf_error **err) {
        int ret = 0;
        for (size_t i = 0; i <= cg->n_leaves; i++) {
                /* v1 leaves in reverse order, the v2 one last: until the end it lists (and kills) every
                 * process of the service. */
                struct leaf *l = i < cg->n_leaves ? &cg->leaves[cg->n_leaves - 1 - i] : cg->unified;
                if (!l || (i < cg->n_leaves && l == cg->unified))
                        continue;
                int r = leaf_remove(l, ret < 0 ? NULL : err);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}

static void cg_free(struct tf_cg *cg) {
        if (cg->wd >= 0)
                (void)inotify_rm_watch(cg->host->events_fd, cg->wd);
        for (size_t i = 0; i < cg->n_leaves; i++)
                leaf_free(&cg->leaves[i]);
        free(cg->leaves);
        free(cg);
}

/* The pids in dir's cgroup.procs other than tfrun's own, as "1 2 3" (shortened); how many, or -errno. */
static int other_procs(const char *dir, char *buf, size_t size) {
        _cleanup_free_ char *f = tf_asprintf("%s/cgroup.procs", dir);
        _cleanup_fclose_ FILE *fp = fopen(f, "re");
        if (!fp)
                return -errno;
        int n = 0, pid;
        size_t len = 0;
        buf[0] = 0;
        while (fscanf(fp, "%d", &pid) == 1) {
                if (pid == (int)getpid())
                        continue;
                n++;
                if (len + 16 < size)
                        len += (size_t)snprintf(buf + len, size - len, "%s%d", len ? " " : "", pid);
                else if (len + 4 < size && !tf_endswith(buf, "..."))
                        len += (size_t)snprintf(buf + len, size - len, " ...");
        }
        return n;
}

static int busy_error(const char *add_, const char *f, const char *pp, const char *others, tf_error **err) {
        return tf_error_set(err, EBUSY,
                            "write '%s' to %s: other processes live in %s%s%s%s and cgroup v2 gives "
                            "controllers to children only of cgroups without processes; run tfrun in a "
                            "cgroup of its own (systemd-run --scope -p Delegate=yes tfrun ..., or exec "
                            "tfrun so that it is alone there) or pass --cgroup-parent",
                            add_, f, pp, *others ? " (pids " : "", others, *others ? ")" : "");
}

/* cgroup v2 allows controllers in a cgroup's children only while the cgroup itself holds no process
 * ("no internal processes"). When the parent is tfrun's own cgroup, tfrun first moves itself into a
 * leaf of its own. Controllers are enabled here rather than left to libcgroup so that a missing
 * delegation gets a message naming the file and the fix. */
static int v2_enable(struct tf_cg_host *h, const struct leaf *l, const char *parent_rel, tf_error **err) {
        _cleanup_free_ char *pp = full_path(l->mnt, parent_rel);
        _cleanup_free_ char *f = tf_asprintf("%s/cgroup.subtree_control", pp);
        char cur[512], add_[256] = "";
        int r = read_path(f, cur, sizeof(cur));
        if (r < 0)
                return tf_error_setc(err, r, "read %s", f);
        for (int c = 0; c < _CTL_MAX; c++)
                if ((l->ctls & (1u << c)) && !word_in(cur, ctl_v2_name[c])) {
                        size_t n = strlen(add_);
                        snprintf(add_ + n, sizeof(add_) - n, "%s+%s", n ? " " : "", ctl_v2_name[c]);
                }
        if (!add_[0])
                return 0;

        if (!h->moved && streq(parent_rel, h->v2_own) && !streq(parent_rel, "/")) {
                /* Moving out helps only when tfrun is alone: otherwise it would leave an empty
                 * tfrun-supervisor behind and still fail on the others. */
                char others[128];
                r = other_procs(pp, others, sizeof(others));
                if (r < 0)
                        return tf_error_setc(err, r, "read %s/cgroup.procs", pp);
                if (r > 0)
                        return busy_error(add_, f, pp, others, err);
                _cleanup_free_ char *sup = tf_asprintf("%s/" SUPERVISOR_NAME, pp);
                if (mkdir(sup, 0755) < 0 && errno != EEXIST)
                        return tf_error_setc(err, errno,
                                             "create %s (tfrun leaves its own cgroup so that "
                                             "its children may have controllers)",
                                             sup);
                _cleanup_close_ int dfd = open(sup, O_PATH | O_DIRECTORY | O_CLOEXEC);
                char pid[32];
                snprintf(pid, sizeof(pid), "%d", (int)getpid());
                r = dfd < 0 ? -errno : write_at(dfd, "cgroup.procs", pid);
                if (r < 0)
                        return tf_error_setc(err, r, "move tfrun (pid %s) into %s", pid, sup);
                h->moved = true;
        }

        _cleanup_close_ int pfd = open(pp, O_PATH | O_DIRECTORY | O_CLOEXEC);
        r = pfd < 0 ? -errno : write_at(pfd, "cgroup.subtree_control", add_);
        if (r == -EBUSY) {
                char others[128];
                if (other_procs(pp, others, sizeof(others)) <= 0)
                        others[0] = 0;
                return busy_error(add_, f, pp, others, err);
        }
        if (r == -EACCES || r == -EPERM)
                return tf_error_setc(
                        err, r,
                        "write '%s' to %s: this cgroup is not delegated to uid %d; run as root or "
                        "under a delegated cgroup (systemd-run --user -p Delegate=yes)",
                        add_, f, (int)getuid());
        if (r < 0)
                return tf_error_setc(err, r, "write '%s' to %s", add_, f);
        return 0;
}

static int leaf_create(struct tf_cg_host *h, struct leaf *l, const char *parent_rel, tf_error **err) {
        if (l->version == 2 && l->ctls) {
                int r = v2_enable(h, l, parent_rel, err);
                if (r < 0)
                        return r;
        }
        /* Never adopt a directory an earlier run left (mkdir's EEXIST); the parent exists
         * (plan_check_parents()). */
        if (mkdir(l->path, 0755) < 0) {
                if (errno == EEXIST)
                        return tf_error_set(err, EEXIST,
                                            "create cgroup %s: it already exists (left over from an "
                                            "earlier run?)",
                                            l->path);
                return tf_error_setc(err, errno, "create cgroup %s", l->path);
        }
        l->created = true;
        l->dfd = open(l->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (l->dfd < 0)
                return tf_error_setc(err, errno, "open %s", l->path);
        return 0;
}

/* Whether what the kernel stored is what was asked (documented page rounding excepted). */
static bool readback_ok(const struct setting *s, const char *got) {
        switch (s->cmp) {
        case CMP_EXACT:
                return streq(got, s->value);
        case CMP_PAGES: {
                uint64_t g, w, page = (uint64_t)sysconf(_SC_PAGESIZE);
                if (tf_parse_u64(got, &g) < 0 || tf_parse_u64(s->value, &w) < 0)
                        return false;
                return g == w - w % page;
        }
        case CMP_CPULIST: {
                char a[1024], b[1024];
                return cpulist_norm(got, a, sizeof(a)) == 0 && cpulist_norm(s->value, b, sizeof(b)) == 0 &&
                       streq(a, b);
        }
        case CMP_DEVLINE:
        case CMP_IOMAX: {
                size_t dl = strlen(s->dev);
                for (const char *p = got; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
                        if (strncmp(p, s->dev, dl) != 0 || p[dl] != ' ')
                                continue;
                        size_t ll = strcspn(p, "\n");
                        _cleanup_free_ char *line = tf_strndup(p, ll);
                        if (s->cmp == CMP_DEVLINE)
                                return streq(line, s->value);
                        /* Every "key=value" written must be on the device's line. */
                        for (const char *t = s->value + dl; *t;) {
                                t += strspn(t, " ");
                                size_t tl = strcspn(t, " ");
                                if (tl == 0)
                                        break;
                                _cleanup_free_ char *tok = tf_strndup(t, tl);
                                if (!word_in(line + dl, tok))
                                        return false;
                                t += tl;
                        }
                        return true;
                }
                return false;
        }
        case CMP_WEIGHT: {
                const char *w = s->value;
                if (tf_startswith(w, "default "))
                        w += strlen("default ");
                if (streq(got, w))
                        return true;
                for (const char *p = got; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
                        if (tf_startswith(p, "default ") && strncmp(p + 8, w, strlen(w)) == 0 &&
                            (p[8 + strlen(w)] == '\n' || p[8 + strlen(w)] == 0))
                                return true;
                return false;
        }
        }
        return false;
}

static int apply(struct leaf *l, const struct setting *s, tf_error **err) {
        /* One value per cgroup_modify_cgroup(): when the kernel refuses one, the message names it. */
        struct cgroup *c = cgroup_new_cgroup(l->rel);
        struct cgroup_controller *cc = c ? cgroup_add_controller(c, l->lctl) : NULL;
        int r = cc ? cgroup_add_value_string(cc, s->file, s->value) : ECGFAIL;
        if (r == 0)
                r = cgroup_modify_cgroup(c);
        cgroup_free(&c);
        if (r != 0)
                return tf_error_set(err, lcg_errno(r), "%s: write '%s' to %s in %s: %s", s->key, s->value,
                                    s->file, l->path, lcg_strerror(r));

        char got[4096];
        int k = read_at(l->dfd, s->file, got, sizeof(got));
        if (k < 0)
                return tf_error_setc(err, k, "%s: read back %s in %s", s->key, s->file, l->path);
        if (!readback_ok(s, got))
                return tf_error_set(err, EINVAL,
                                    "%s: %s in %s reads back '%s' after writing '%s': the kernel did not "
                                    "store the limit as asked",
                                    s->key, s->file, l->path, got, s->value);
        return 0;
}

int tf_cg_create(struct tf_cg_host *h, const struct tf_limits *limits, const struct tf_cg_options *o,
                 struct tf_cg **ret, tf_error **err) {
        struct tf_cg_plan *cp = NULL;
        int r = tf_cg_check(h, limits, o, &cp, err);
        if (r >= 0)
                r = tf_cg_create_from(cp, ret, err);
        tf_cg_plan_free(cp);
        return r;
}

/* A v1 cpuset with empty cpus or mems refuses every task (and a new one starts empty unless the parent
 * has cgroup.clone_children): one made for no cpuset limit takes its parent's, as runc does. */
static int cpuset_inherit(const struct plan *p, struct leaf *l, tf_error **err) {
        _cleanup_free_ char *pp = parent_path(CTL_CPUSET, p);
        static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *f = tf_asprintf("%s/%s", pp, files[i]);
                char v[1024];
                int r = read_path(f, v, sizeof(v));
                if (r < 0)
                        return tf_error_setc(err, r, "cgroup: read %s", f);
                if (r == 0)
                        return tf_error_set(err, EOPNOTSUPP,
                                            "cgroup: the parent cpuset %s has an empty %s, so no task "
                                            "could join a cpuset below it",
                                            pp, files[i]);
                r = write_at(l->dfd, files[i], v);
                if (r < 0)
                        return tf_error_setc(err, r, "cgroup: write '%s' to %s in %s", v, files[i], l->path);
        }
        return 0;
}

/* The leaf whose lock holds a cgroup for its maker: the v2 one where there is one (hybrid: the tracking
 * leaf, made for every run), else the first. A sweep takes every leaf's, so either choice excludes it. */
static struct leaf *hold_leaf(struct tf_cg *cg) {
        return cg->unified ? cg->unified : cg->n_leaves > 0 ? &cg->leaves[0] : NULL;
}

/* An exclusive lock on a cgroup directory, held by the open file description: flock() works on cgroupfs,
 * the kernel drops it when the process holding it is gone (kill -9 included), and it says nothing about
 * pids, which other pid namespaces number differently. CLOEXEC: a child's execve() does not carry it,
 * and tfrun's sandboxed child closes what it does not need before it runs as init. The directory is
 * opened again: an O_PATH descriptor cannot be locked. */
static int lock_dir(int dfd, const char *path) {
        int fd = dfd >= 0 ? openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                          : open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                int e = errno;
                close(fd);
                return -e;
        }
        return fd;
}

static int hold(struct tf_cg *cg, tf_error **err) {
        struct leaf *l = hold_leaf(cg);
        if (!l)
                return 0;
        int fd = lock_dir(l->dfd, l->path);
        if (fd == -EWOULDBLOCK)
                /* Between its mkdir and this lock, another tfrun took the new cgroup: a sweep that found
                 * it unheld and is removing it. */
                return tf_error_set(err, EBUSY, "cgroup %s: another tfrun is sweeping it; try again", l->path);
        if (fd < 0)
                return tf_error_setc(err, fd, "cgroup %s: lock", l->path);
        l->lock_fd = fd;
        return 0;
}

/* A create that met an existing directory: whether a live process holds a leaf of that name (looked up
 * by path: the new leaves are not all open yet). */
static bool held_elsewhere(struct tf_cg *cg) {
        for (size_t i = 0; i < cg->n_leaves; i++) {
                int fd = lock_dir(-1, cg->leaves[i].path);
                if (fd == -EWOULDBLOCK)
                        return true;
                if (fd >= 0)
                        close(fd);
        }
        return false;
}

int tf_cg_take(struct tf_cg *cg) {
        for (size_t i = 0; i < cg->n_leaves; i++) {
                struct leaf *l = &cg->leaves[i];
                if (l->dfd < 0 || l->lock_fd >= 0)
                        continue;
                int fd = lock_dir(l->dfd, l->path);
                if (fd == -ENOENT)
                        continue; /* removed meanwhile */
                if (fd < 0) {
                        for (size_t j = 0; j < i; j++)
                                if (cg->leaves[j].lock_fd >= 0) {
                                        close(cg->leaves[j].lock_fd);
                                        cg->leaves[j].lock_fd = -1;
                                }
                        return fd == -EWOULDBLOCK ? -EBUSY : fd;
                }
                l->lock_fd = fd;
        }
        return 0;
}

int tf_cg_create_from(const struct tf_cg_plan *cp, struct tf_cg **ret, tf_error **err) {
        const struct plan *p = &cp->p;
        int r = 0;
        struct tf_cg *cg = tf_malloc0(sizeof(*cg));
        cg->wd = -1;
        cg->host = p->host;
        cg->leaves = tf_malloc0((_CTL_MAX + 1) * sizeof(*cg->leaves));
        for (int c = 0; c < _CTL_MAX && r >= 0; c++) {
                if (!((p->need | p->want) & (1u << c)))
                        continue;
                struct leaf *l =
                        leaf_for(cg, p->host->ctl[c].version, p->host->ctl[c].mnt, p->parent[c], cp->name);
                r = leaf_add_ctl(l, c);
                cg->by_ctl[c] = l;
        }
        /* The v2 hierarchy is used even without controllers: it tracks every descendant, knows when the
         * last one is gone (cgroup->events), kills them all at once (cgroup->kill) and counts CPU time. */
        if (r >= 0 && p->host->v2_mnt)
                (void)leaf_for(cg, 2, p->host->v2_mnt, p->v2_parent, cp->name);
        if (r < 0) {
                r = tf_error_set(err, ENOMEM, "cgroup: out of memory");
                goto fail;
        }

        for (size_t i = 0; i < cg->n_leaves; i++) {
                struct leaf *l = &cg->leaves[i];
                const char *parent_rel = l->version == 2 ? p->v2_parent : NULL;
                for (int c = 0; !parent_rel && c < _CTL_MAX; c++)
                        if (l->ctls & (1u << c))
                                parent_rel = p->parent[c];
                r = leaf_create(p->host, l, parent_rel, err);
                if (r == -EEXIST && held_elsewhere(cg))
                        /* Names carry the maker's pid, which is unique in one pid namespace only. */
                        r = tf_error_set(err, EEXIST,
                                         "create cgroup %s: a live tfrun holds a cgroup of that name (one "
                                         "whose pid in its own pid namespace is ours here); expected another "
                                         "name: give the two different cgroup parents (--cgroup-parent) or, "
                                         "for a service, another name",
                                         l->path);
                if (r < 0)
                        goto fail;
        }
        r = hold(cg, err);
        if (r < 0)
                goto fail;
        struct leaf *cs = cg->by_ctl[CTL_CPUSET];
        if (cs && cs->version == 1 && !(p->need & 1u << CTL_CPUSET)) {
                r = cpuset_inherit(p, cs, err);
                if (r < 0)
                        goto fail;
        }
        for (size_t i = 0; i < p->n; i++) {
                r = at_pos(cp->spec_path, p->s[i].pos, apply(cg->by_ctl[p->s[i].ctl], &p->s[i], err), err);
                if (r < 0)
                        goto fail;
        }
        *ret = cg;
        return 0;

fail:
        (void)leaves_remove(cg, NULL);
        cg_free(cg);
        return r;
}

int tf_cg_set_limits(struct tf_cg *cg, const struct tf_limits *limits, const char *parent, tf_error **err) {
        struct plan p = {};
        struct tf_cg_options o = {.parent = parent};
        int r = plan_build(cg->host, limits, &o, &p, err);
        for (size_t i = 0; r >= 0 && i < p.n; i++)
                if (!cg->by_ctl[p.s[i].ctl])
                        r = tf_error_set(err, EOPNOTSUPP,
                                         "%s: the cgroup was made without the %s controller, so the limit "
                                         "cannot be set on it now; expected the limits it was made with",
                                         p.s[i].key, ctl_v1_name[p.s[i].ctl]);
        /* On v1 memory.limit_in_bytes may never pass memory.memsw.limit_in_bytes: raising both needs memsw
         * first, lowering both the memory limit first. A write the kernel refuses is tried again once the
         * others are written. */
        _cleanup_free_ bool *again = tf_malloc0((p.n + 1) * sizeof(*again));
        for (size_t i = 0; r >= 0 && i < p.n; i++) {
                _cleanup_error_ tf_error *e = NULL;
                again[i] = apply(cg->by_ctl[p.s[i].ctl], &p.s[i], &e) < 0;
        }
        for (size_t i = 0; r >= 0 && i < p.n; i++)
                if (again[i])
                        r = apply(cg->by_ctl[p.s[i].ctl], &p.s[i], err);
        plan_done(&p);
        return r;
}

int tf_cg_clone_fd(struct tf_cg *cg) {
        return cg && cg->unified ? cg->unified->dfd : -1;
}

bool tf_cg_needs_attach(struct tf_cg *cg) {
        return cg && cg->has_v1;
}

int tf_cg_attach(struct tf_cg *cg, pid_t pid, tf_error **err) {
        char num[32];
        snprintf(num, sizeof(num), "%d", (int)pid);
        for (size_t i = 0; i < cg->n_leaves; i++) {
                struct leaf *l = &cg->leaves[i];
                int r;
                if (l->lone) {
                        /* On v1 libcgroup writes the "tasks" file: one thread. The runner attaches a child
                         * that is still single-threaded, blocked before exec. */
                        r = cgroup_attach_task_pid(l->lone, pid);
                        if (r != 0)
                                return tf_error_set(err, lcg_errno(r), "attach pid %d to %s: %s", (int)pid,
                                                    l->path, lcg_strerror(r));
                } else {
                        r = write_at(l->dfd, "cgroup.procs", num);
                        if (r < 0)
                                return tf_error_setc(err, r, "attach pid %d to %s", (int)pid, l->path);
                }
        }
        return 0;
}

int tf_cg_attach_self(struct tf_cg *cg, bool placed, char *what, size_t len) {
        for (size_t i = 0; i < cg->n_leaves; i++) {
                struct leaf *l = &cg->leaves[i];
                if (l->lone) {
                        /* What libcgroup's cgroup_attach_task_pid(lone, 0) writes, through the leaf's
                         * descriptor: no path to build, no stdio, no allocation (the caller may share
                         * tfrun's memory: runner/native.c's spawn_shared()). */
                        int r = write_at(l->dfd, "tasks", "0");
                        if (r < 0) {
                                snprintf(what, len, "cgroup: attach to %s", l->path);
                                return r;
                        }
                } else if (!placed) {
                        int r = write_at(l->dfd, "cgroup.procs", "0");
                        if (r < 0) {
                                snprintf(what, len, "cgroup: attach to %s", l->path);
                                return r;
                        }
                }
        }
        return 0;
}

/* The cgroup whose cgroup.procs lists every process of the service. */
static struct leaf *tracking(struct tf_cg *cg) {
        /* A leaf that is not open is one tf_cg_open() did not find after all (removed meanwhile). */
        if (cg->unified && cg->unified->dfd >= 0)
                return cg->unified;
        if (cg->by_ctl[CTL_MEMORY] && cg->by_ctl[CTL_MEMORY]->dfd >= 0)
                return cg->by_ctl[CTL_MEMORY];
        for (size_t i = 0; i < cg->n_leaves; i++)
                if (cg->leaves[i].dfd >= 0)
                        return &cg->leaves[i];
        return NULL;
}

struct pid_list {
        pid_t *v;
        size_t n;
};

/* Signal (sig 0: none) every process in the cgroup at dfd and in its descendants (a service running as
 * root may make cgroups of its own below its leaf), adding each to out when it is not NULL; returns how
 * many were listed, or -errno for the top cgroup. */
static int signal_tree(int dfd, int sig, struct pid_list *out, unsigned depth) {
        int fd = openat(dfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        FILE *f = fdopen(fd, "re");
        if (!f) {
                close(fd);
                return -ENOMEM;
        }
        int n = 0, pid;
        pid_t self = getpid();
        while (fscanf(f, "%d", &pid) == 1) {
                n++;
                if (pid > 0 && pid != self && sig)
                        (void)kill(pid, sig);
                if (out && pid > 0) {
                        out->v = tf_realloc(out->v, (out->n + 1) * sizeof(*out->v));
                        out->v[out->n++] = (pid_t)pid;
                }
        }
        fclose(f);
        if (depth >= SIGNAL_DEPTH_MAX)
                return n;
        int dd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = dd < 0 ? NULL : fdopendir(dd);
        if (!d) {
                if (dd >= 0)
                        close(dd);
                return n;
        }
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_type != DT_DIR || de->d_name[0] == '.')
                        continue;
                /* A child cgroup removed meanwhile is simply gone. */
                _cleanup_close_ int sub = openat(dirfd(d), de->d_name, O_PATH | O_DIRECTORY | O_CLOEXEC);
                int k = sub < 0 ? 0 : signal_tree(sub, sig, out, depth + 1);
                if (k > 0)
                        n += k;
        }
        closedir(d);
        return n;
}

static int signal_procs(struct leaf *l, int sig) {
        return signal_tree(l->dfd, sig, NULL, 0);
}

/* For tests only: TFRUN_CG_NO_KILL_FILE=1 makes tf_cg_kill() take the freeze+kill path it uses on
 * kernels without cgroup.kill (before 5.14), so that path runs on a kernel that has the file. */
static bool no_kill_file(void) {
        const char *v = secure_getenv("TFRUN_CG_NO_KILL_FILE");
        return v && streq(v, "1");
}

int tf_cg_kill(struct tf_cg *cg, int sig, tf_error **err) {
        struct leaf *t = cg ? tracking(cg) : NULL;
        if (!t)
                return 0;
        if (sig != SIGKILL) {
                int r = signal_procs(t, sig);
                return r < 0 ? tf_error_setc(err, r, "signal the processes of %s", t->path) : 0;
        }
        if (t->version == 2 && !no_kill_file()) {
                /* cgroup.kill (5.14+) kills the whole subtree and makes racing forks fail. */
                int r = write_at(t->dfd, "cgroup.kill", "1");
                if (r == 0)
                        return 0;
                if (r != -ENOENT)
                        return tf_error_setc(err, r, "write '1' to cgroup.kill in %s", t->path);
        }
        /* One pass, never a wait: the caller watches tf_cg_events_fd() and calls again if a fork raced
         * the pass (freezing first makes that unlikely where cgroup.freeze exists). */
        bool freeze = t->version == 2 && faccessat(t->dfd, "cgroup.freeze", F_OK, 0) == 0;
        if (freeze)
                (void)write_at(t->dfd, "cgroup.freeze", "1");
        int n = signal_procs(t, SIGKILL);
        if (freeze)
                (void)write_at(t->dfd, "cgroup.freeze", "0");
        if (n < 0)
                return tf_error_setc(err, n, "read cgroup.procs in %s", t->path);
        return 0;
}

int tf_cg_events_fd(struct tf_cg_host *h) {
        if (h->events_fd >= 0)
                return h->events_fd;
        h->events_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        return h->events_fd < 0 ? -errno : h->events_fd;
}

int tf_cg_watch(struct tf_cg *cg) {
        if (!cg || !cg->unified || cg->unified->dfd < 0)
                return -EOPNOTSUPP;
        if (cg->wd >= 0)
                return 0;
        int fd = tf_cg_events_fd(cg->host);
        if (fd < 0)
                return fd;
        /* inotify reports IN_MODIFY on cgroup.events when a populated (or frozen) flag changes. */
        _cleanup_free_ char *f = tf_asprintf("%s/cgroup.events", cg->unified->path);
        cg->wd = inotify_add_watch(fd, f, IN_MODIFY);
        return cg->wd < 0 ? -errno : 0;
}

void tf_cg_events_drain(struct tf_cg_host *h) {
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        if (h->events_fd >= 0)
                while (read(h->events_fd, buf, sizeof(buf)) > 0)
                        ;
}

bool tf_cg_populated(struct tf_cg *cg) {
        struct leaf *t = cg ? tracking(cg) : NULL;
        if (!t)
                return false;
        char buf[4096];
        if (t->version == 2 && read_at(t->dfd, "cgroup.events", buf, sizeof(buf)) >= 0) {
                uint64_t v;
                return keyed_u64(buf, "populated", &v) == 0 && v > 0;
        }
        /* v1 has no populated flag (release_agent aside): any pid listed means populated. */
        int r = read_at(t->dfd, "cgroup.procs", buf, sizeof(buf));
        return r > 0;
}

static uint64_t read_u64_at(struct leaf *l, const char *file, const char *key) {
        char buf[4096];
        uint64_t v;
        if (!l || read_at(l->dfd, file, buf, sizeof(buf)) < 0)
                return TF_UNSET;
        if (key ? keyed_u64(buf, key, &v) < 0 : tf_parse_u64(buf, &v) < 0)
                return TF_UNSET;
        return v;
}

int tf_cg_stats(struct tf_cg *cg, struct tf_cg_stats *ret, tf_error **err) {
        struct tf_cg_stats s = {TF_UNSET, TF_UNSET, TF_UNSET, TF_UNSET, TF_UNSET};
        if (cg->unified)
                s.cpu_usage_usec = read_u64_at(cg->unified, "cpu.stat", "usage_usec");
        if (s.cpu_usage_usec == TF_UNSET && cg->by_ctl[CTL_CPUACCT]) {
                uint64_t ns = read_u64_at(cg->by_ctl[CTL_CPUACCT], "cpuacct.usage", NULL);
                s.cpu_usage_usec = ns == TF_UNSET ? TF_UNSET : ns / 1000;
        }
        struct leaf *m = cg->by_ctl[CTL_MEMORY];
        if (m && m->version == 2) {
                s.memory_peak = read_u64_at(m, "memory.peak", NULL);
                s.oom_kills = read_u64_at(m, "memory.events", "oom_kill");
        } else if (m) {
                s.memory_peak = read_u64_at(m, "memory.max_usage_in_bytes", NULL);
                s.oom_kills = read_u64_at(m, "memory.oom_control", "oom_kill");
        }
        s.pids_peak = read_u64_at(cg->by_ctl[CTL_PIDS], "pids.peak", NULL);
        /* pids.events counts the forks refused in this cgroup because of its own pids.max (or an
         * ancestor's, on kernels before 5.13: the count is then an upper bound of the service's). */
        s.pids_refused = read_u64_at(cg->by_ctl[CTL_PIDS], "pids.events", "max");
        *ret = s;
        return 0;
}

int tf_cg_remove(struct tf_cg *cg, tf_error **err) {
        if (!cg)
                return 0;
        if (tf_cg_populated(cg)) {
                int r = tf_cg_kill(cg, SIGKILL, err);
                if (r < 0)
                        return r;
                if (tf_cg_populated(cg)) {
                        struct leaf *t = tracking(cg);
                        return tf_error_set(err, EBUSY, "remove cgroup %s: processes still in it",
                                            t ? t->path : "?");
                }
        }
        return leaves_remove(cg, err);
}

void tf_cg_free(struct tf_cg *cg) {
        if (cg)
                cg_free(cg);
}

/* The blocking convenience for tools and tests; the runner waits from its loop instead. */
#define DESTROY_WAIT_MS 2000
int tf_cg_destroy(struct tf_cg *cg, tf_error **err) {
        if (!cg)
                return 0;
        int r = tf_cg_kill(cg, SIGKILL, err);
        int fd = tf_cg_populated(cg) && tf_cg_watch(cg) == 0 ? cg->host->events_fd : -1;
        uint64_t start = now_usec();
        while (r >= 0 && tf_cg_populated(cg) && now_usec() - start < DESTROY_WAIT_MS * 1000) {
                /* Without cgroup.events (no cgroup2 mounted), a short re-check. */
                struct pollfd pfd = {.fd = fd, .events = POLLIN};
                if (fd < 0 || poll(&pfd, 1, 10) == 0)
                        (void)tf_cg_kill(cg, SIGKILL, NULL);
                tf_cg_events_drain(cg->host);
        }
        int k = r < 0 ? r : tf_cg_remove(cg, err);
        if (k == -EBUSY) {
                /* Just emptied: the kernel may still hold the directory a moment. */
                for (int i = 0; i < 100 && k == -EBUSY; i++) {
                        poll(NULL, 0, 10);
                        k = tf_cg_remove(cg, NULL);
                }
                if (k < 0)
                        k = tf_cg_remove(cg, err);
        }
        cg_free(cg);
        return k;
}

const char *tf_cg_path(const struct tf_cg *cg) {
        if (!cg)
                return NULL;
        if (cg->by_ctl[CTL_MEMORY])
                return cg->by_ctl[CTL_MEMORY]->path;
        if (cg->unified)
                return cg->unified->path;
        return cg->n_leaves ? cg->leaves[0].path : NULL;
}

/* ---- cgroups of other runs: listing and adopting them for a sweep ---- */

/* Hierarchy i (a controller, or _CTL_MAX for the cgroup2 one): its mount, NULL when absent, and the
 * parent a run with this --cgroup-parent creates its leaf below (as plan_build() chooses it). */
static const char *hier_mnt(const struct tf_cg_host *h, int i) {
        return i == _CTL_MAX ? h->v2_mnt : h->ctl[i].version ? h->ctl[i].mnt : NULL;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

int tf_cg_list(struct tf_cg_host *h, const char *parent, const char *prefix, char ***ret, tf_error **err) {
        int r = parent_check(parent, err);
        if (r < 0)
                return r;
        _cleanup_strv_free_ char **names = NULL, **dirs = NULL;
        for (int i = 0; i <= _CTL_MAX; i++) {
                const char *mnt = hier_mnt(h, i);
                if (!mnt)
                        continue;
                _cleanup_free_ char *hp = hier_parent(h, parent, i);
                _cleanup_free_ char *dir = full_path(mnt, hp);
                /* Co-mounted v1 controllers (cpu,cpuacct) and every v2 controller share a directory. */
                if (tf_strv_contains(dirs, dir))
                        continue;
                tf_strv_push(&dirs, dir);
                DIR *d = opendir(dir);
                if (!d) {
                        if (errno == ENOENT)
                                continue; /* a --cgroup-parent not made yet: nothing below it */
                        return tf_error_setc(err, errno, "cgroup: list %s", dir);
                }
                struct dirent *de;
                while ((de = readdir(d)))
                        if (de->d_type == DT_DIR && tf_startswith(de->d_name, prefix) &&
                            leaf_name_ok(de->d_name) && !tf_strv_contains(names, de->d_name))
                                tf_strv_push(&names, de->d_name);
                closedir(d);
        }
        size_t n = tf_strv_length(names);
        if (n > 1)
                qsort(names, n, sizeof(*names), cmp_str);
        *ret = TAKE_PTR(names);
        return 0;
}

int tf_cg_open(struct tf_cg_host *h, const char *parent, const char *name, struct tf_cg **ret,
               tf_error **err) {
        int r = parent_check(parent, err);
        if (r < 0)
                return r;
        if (!leaf_name_ok(name))
                return tf_error_set(err, EINVAL, "cgroup: a leaf name without '/' is required");
        struct tf_cg *cg = tf_malloc0(sizeof(*cg));
        cg->wd = -1;
        cg->host = h;
        cg->leaves = tf_malloc0((_CTL_MAX + 1) * sizeof(*cg->leaves));
        for (int i = 0; i <= _CTL_MAX; i++) {
                const char *mnt = hier_mnt(h, i);
                if (!mnt)
                        continue;
                _cleanup_free_ char *pr = hier_parent(h, parent, i);
                _cleanup_free_ char *rel = join(pr, name);
                _cleanup_free_ char *path = full_path(mnt, rel);
                struct stat st;
                if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
                        continue;
                /* The same leaves, controllers and libcgroup handles as tf_cg_create_from() makes, so
                 * that removal goes the same way. */
                struct leaf *l = leaf_for(cg, i == _CTL_MAX ? 2 : h->ctl[i].version, mnt, pr, name);
                if (i < _CTL_MAX) {
                        if (leaf_add_ctl(l, i) < 0) {
                                cg_free(cg);
                                return tf_error_set(err, ENOMEM, "cgroup: out of memory");
                        }
                        cg->by_ctl[i] = l;
                }
        }
        size_t found = 0;
        for (size_t i = 0; i < cg->n_leaves; i++) {
                struct leaf *l = &cg->leaves[i];
                l->dfd = open(l->path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                l->created = l->dfd >= 0;
                found += l->created;
        }
        if (found == 0) {
                cg_free(cg);
                return tf_error_set(err, ENOENT, "cgroup: no cgroup named %s below the parent", name);
        }
        *ret = cg;
        return 0;
}

int tf_cg_pids(struct tf_cg *cg, pid_t **ret, size_t *ret_n, tf_error **err) {
        struct leaf *t = cg ? tracking(cg) : NULL;
        struct pid_list out = {};
        if (t && t->dfd >= 0) {
                int r = signal_tree(t->dfd, 0, &out, 0);
                if (r < 0) {
                        free(out.v);
                        return tf_error_setc(err, r, "read cgroup.procs in %s", t->path);
                }
        }
        *ret = out.v;
        *ret_n = out.n;
        return 0;
}

/* ---- a parent for many runs: the manager's budget ---- */

const char *tf_cg_host_deepest_own(const struct tf_cg_host *h) {
        const char *best = h->v2_own ? h->v2_own : "/";
        for (int c = 0; c < _CTL_MAX; c++)
                if (h->ctl[c].version && h->ctl[c].own && strlen(h->ctl[c].own) > strlen(best))
                        best = h->ctl[c].own;
        return best;
}

/* A v1 cpuset made by hand starts with empty cpus and mems, and so refuses every task below it. */
static int cpuset_copy_parent(const char *dir) {
        _cleanup_free_ char *parent = tf_strdup(dir);
        *strrchr(parent, '/') = 0;
        static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                char v[1024];
                _cleanup_free_ char *pf = tf_asprintf("%s/%s", parent, files[i]);
                _cleanup_free_ char *f = tf_asprintf("%s/%s", dir, files[i]);
                int r = read_path(pf, v, sizeof(v));
                if (r < 0)
                        return r;
                v[strcspn(v, "\n")] = 0;
                _cleanup_close_ int fd = open(f, O_WRONLY | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                if (write(fd, v, strlen(v)) < 0)
                        return -errno;
        }
        return 0;
}

int tf_cg_make_parent(struct tf_cg_host *h, const char *path, char ***made, tf_error **err) {
        int r = parent_check(path, err);
        if (r < 0)
                return r;
        _cleanup_strv_free_ char **dirs = NULL;
        for (int i = 0; i <= _CTL_MAX; i++) {
                const char *mnt = hier_mnt(h, i);
                if (!mnt)
                        continue;
                _cleanup_free_ char *full = full_path(mnt, path);
                if (tf_strv_contains(dirs, full))
                        continue; /* co-mounted controllers */
                tf_strv_push(&dirs, full);
                size_t base = strlen(mnt);
                for (char *p = full + base + 1; p && *p;) {
                        char *slash = strchr(p, '/');
                        if (slash)
                                *slash = 0;
                        if (mkdir(full, 0755) == 0) {
                                tf_strv_push(made, full);
                                if (i == CTL_CPUSET && h->ctl[i].version == 1 && (r = cpuset_copy_parent(full)) < 0)
                                        return tf_error_setc(err, r, "cgroup: give %s its parent's CPUs and memory nodes", full);
                        } else if (errno != EEXIST)
                                return tf_error_setc(err, errno, "cgroup: create %s", full);
                        if (slash)
                                *slash = '/';
                        p = slash ? slash + 1 : NULL;
                }
        }
        return 0;
}

void tf_cg_rmdirs(char **made) {
        for (size_t n = tf_strv_length(made); n > 0; n--)
                (void)rmdir(made[n - 1]);
}

int tf_cg_usage(struct tf_cg *cg, struct tf_cg_usage *ret) {
        struct tf_cg_usage u = {TF_UNSET, TF_UNSET, TF_UNSET};
        struct leaf *m = cg->by_ctl[CTL_MEMORY];
        if (m)
                u.memory = read_u64_at(m, m->version == 2 ? "memory.current" : "memory.usage_in_bytes", NULL);
        u.pids = read_u64_at(cg->by_ctl[CTL_PIDS], "pids.current", NULL);
        if (cg->unified)
                u.cpu_usec = read_u64_at(cg->unified, "cpu.stat", "usage_usec");
        if (u.cpu_usec == TF_UNSET && cg->by_ctl[CTL_CPUACCT]) {
                uint64_t ns = read_u64_at(cg->by_ctl[CTL_CPUACCT], "cpuacct.usage", NULL);
                u.cpu_usec = ns == TF_UNSET ? TF_UNSET : ns / 1000;
        }
        *ret = u;
        return 0;
}

const char *tf_cg_rel_path(const struct tf_cg *cg) {
        if (!cg)
                return NULL;
        if (cg->by_ctl[CTL_MEMORY])
                return cg->by_ctl[CTL_MEMORY]->rel;
        if (cg->unified)
                return cg->unified->rel;
        return cg->n_leaves ? cg->leaves[0].rel : NULL;
}

void tf_cg_rmdir_parent(struct tf_cg_host *h, const char *path) {
        _cleanup_strv_free_ char **dirs = NULL;
        for (int i = 0; i <= _CTL_MAX; i++) {
                const char *mnt = hier_mnt(h, i);
                if (!mnt)
                        continue;
                _cleanup_free_ char *own = hier_parent(h, NULL, i), *rel = tf_strdup(path);
                /* Innermost first, never tfrun's own cgroup or above it. */
                while (!streq(rel, "/") && *rel && !(tf_startswith(own, rel) &&
                                                     (own[strlen(rel)] == 0 || own[strlen(rel)] == '/'))) {
                        _cleanup_free_ char *full = full_path(mnt, rel);
                        if (!tf_strv_contains(dirs, full)) {
                                tf_strv_push(&dirs, full);
                                (void)rmdir(full);
                        }
                        *strrchr(rel, '/') = 0;
                }
        }
}

int tf_cg_rmdir_others(const char *path, bool empty_below) {
        static const char *const used[] = {"cpu", "cpuacct", "cpuset", "memory", "pids", "blkio"};
        /* Not tf_read_file(): a /proc file has no size. */
        _cleanup_fclose_ FILE *f = fopen("/proc/self/mounts", "re");
        if (!f || !path || path[0] != '/')
                return 0;
        char line[4096];
        int ret = 0;
        while (fgets(line, sizeof(line), f)) {
                char src[256], mnt[1024], type[64], opts[1024], *save = NULL;
                if (sscanf(line, "%255s %1023s %63s %1023s", src, mnt, type, opts) != 4 || !streq(type, "cgroup"))
                        continue;
                bool ours = false;
                for (char *tok = strtok_r(opts, ",", &save); tok && !ours; tok = strtok_r(NULL, ",", &save))
                        for (size_t i = 0; i < ELEMENTSOF(used); i++)
                                ours |= streq(tok, used[i]);
                if (ours)
                        continue;
                _cleanup_free_ char *rel = tf_strdup(path);
                if (empty_below) {
                        _cleanup_free_ char *d = tf_asprintf("%s%s", mnt, rel);
                        _cleanup_close_ int dfd = open(d, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (dfd >= 0)
                                remove_children(dfd, 0);
                }
                for (char *slash; *rel && (slash = strrchr(rel, '/')); *slash = 0) {
                        _cleanup_free_ char *d = tf_asprintf("%s%s", mnt, rel);
                        if (rmdir(d) < 0 && errno != ENOENT) {
                                if (streq(rel, path))
                                        ret = -EBUSY; /* the path itself: the runtime's not gone yet */
                                break;                /* not empty: its ancestors are not either */
                        }
                }
        }
        return ret;
}
