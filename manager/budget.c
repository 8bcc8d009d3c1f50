/* SPDX-License-Identifier: MIT */
#include "manager/budget.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/io.h"
#include "base/parse.h"
#include "base/strutil.h"
#include "runner/log.h"
#include "runner/runner.h"
#include "spec/limits.h"

#define BUDGET_PREFIX "tfrun-budget-"

struct tf_budget {
        struct tf_cg_host *host; /* borrowed */
        const struct tf_settings *st;
        struct tf_cg *cg;
        char *path;        /* below the mounts */
        char **made;       /* ancestors made for it (hierarchies where tfrun's own cgroup is higher up) */
        char **made_other; /* the path itself and its ancestors in the v1 hierarchies tfrun does not use */
};

/* The mounts of the v1 hierarchies tfrun's cgroup/ does not use (freezer, devices, name=systemd, ...).
 * The engine's runtime makes a container's cgroup below its CgroupParent in every v1 hierarchy (mkdir -p)
 * and removes only the container's own: the budget's path there is made by the manager, so that it is
 * the manager's to remove. */
static char **other_v1_mounts(void) {
        static const char *const used[] = {"cpu", "cpuacct", "cpuset", "memory", "pids", "blkio"};
        char **v = NULL;
        FILE *f = fopen("/proc/self/mounts", "re");
        if (!f)
                return NULL;
        char line[4096];
        while (fgets(line, sizeof(line), f)) {
                char src[256], mnt[1024], type[64], opts[1024];
                if (sscanf(line, "%255s %1023s %63s %1023s", src, mnt, type, opts) != 4 ||
                    !streq(type, "cgroup"))
                        continue;
                bool ours = false;
                for (char *tok = strtok(opts, ","); tok && !ours; tok = strtok(NULL, ","))
                        for (size_t i = 0; i < ELEMENTSOF(used); i++)
                                ours |= streq(tok, used[i]);
                if (!ours)
                        tf_strv_push(&v, mnt);
        }
        fclose(f);
        return v;
}

/* mkdir -p mnt + rel for each mount, each directory made pushed on *made (outermost first). */
static void make_in_others(char **mounts, const char *rel, char ***made) {
        for (char **m = mounts; m && *m; m++) {
                _cleanup_free_ char *full = tf_asprintf("%s%s", *m, rel);
                for (char *p = full + strlen(*m) + 1; p && *p;) {
                        char *slash = strchr(p, '/');
                        if (slash)
                                *slash = 0;
                        if (mkdir(full, 0755) == 0)
                                tf_strv_push(made, full);
                        if (slash)
                                *slash = '/';
                        p = slash ? slash + 1 : NULL;
                }
        }
}

/* A budget of another manager is left alone while its tfrun lives. */
static bool owner_alive(pid_t pid) {
        if (pid == getpid())
                return false; /* an earlier manager had our pid: ours is not made yet */
        char path[64], comm[64];
        snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd < 0 ? -1 : read(fd, comm, sizeof(comm) - 1);
        if (n <= 0)
                return false;
        comm[n] = 0;
        comm[strcspn(comm, "\n")] = 0;
        return streq(comm, "tfrun");
}

static void sweep(struct tf_cg_host *h, const char *parent) {
        _cleanup_error_ tf_error *e = NULL;
        _cleanup_strv_free_ char **names = NULL;
        if (tf_cg_list(h, parent, BUDGET_PREFIX, &names, &e) < 0) {
                tf_log("warning: budget: looking for budgets left by earlier managers: %s", e->msg);
                return;
        }
        for (char **p = names; p && *p; p++) {
                uint64_t pid;
                if (tf_parse_u64(*p + strlen(BUDGET_PREFIX), &pid) < 0 || pid == 0 || pid > INT32_MAX ||
                    owner_alive((pid_t)pid))
                        continue;
                struct tf_cg *cg = NULL;
                tf_error_free(e);
                e = NULL;
                if (tf_cg_open(h, parent, *p, &cg, &e) < 0)
                        continue;
                if (tf_cg_take(cg) < 0) {
                        /* A live manager in another pid namespace, where its pid is another process's. */
                        tf_cg_free(cg);
                        continue;
                }
                _cleanup_free_ char *where = tf_strdup(tf_cg_path(cg));
                _cleanup_strv_free_ char **others = other_v1_mounts();
                for (char **m = others; m && *m; m++) {
                        _cleanup_free_ char *d =
                                tf_asprintf("%s%s/%s", *m, streq(parent, "/") ? "" : parent, *p);
                        (void)rmdir(d);
                }
                if (tf_cg_destroy(cg, &e) < 0)
                        tf_log("warning: budget: %s, left by manager %d (gone): %s", where, (int)pid,
                               e->msg);
                else
                        tf_log("budget: removed %s, left by manager %d (gone), and what ran below it", where,
                               (int)pid);
        }
}

/* cgroup/ names the spec's keys ("limits.memory: ..."): here they are the settings' budget keys. */
static int budget_error(const struct tf_settings *st, tf_error **err, int r) {
        if (!err || !*err)
                return r;
        const char *m = (*err)->msg, *k = strstr(m, "limits.");
        _cleanup_free_ char *msg =
                k ? tf_asprintf("%.*sbudget.%s", (int)(k - m), m, k + strlen("limits.")) : tf_strdup(m);
        tf_error_free(*err);
        *err = NULL;
        return tf_error_set(err, -r, "%s", msg);
}

/* v1's blk-throttle is flat: a cgroup's blkio.throttle.* bound its own tasks, not its children's (the kernel
 * keeps hierarchical throttling for the default hierarchy; measured on this project's hybrid hosts: a
 * child of a cgroup throttled to 1 MiB/s writes at 150 MB/s). Written on the budget, the limits would
 * bound nothing it runs: refused, as any limit the host cannot enforce. */
static int check_io(struct tf_cg_host *h, const struct tf_settings *st, tf_error **err) {
        if (st->budget.n_io == 0 || tf_cg_host_mode(h) == TF_CG_V2)
                return 0;
        _cleanup_free_ char *where = tf_settings_where(st, st->budget.pos_io);
        return tf_error_set(err, EOPNOTSUPP,
                            "%s: budget.io: this host's io controller is cgroup v1 blkio, whose throttling "
                            "is not hierarchical (a limit on the budget's cgroup would not bound the runs "
                            "below it); expected no budget.io here (a spec's own limits.io still works), or "
                            "a cgroup v2 host",
                            where);
}

int tf_budget_new(struct tf_cg_host *h, const struct tf_settings *st, const char *parent,
                  struct tf_budget **ret, tf_error **err) {
        int r = check_io(h, st, err);
        if (r < 0)
                return r;
        const char *base = parent ?: tf_cg_host_deepest_own(h);
        _cleanup_strv_free_ char **others = NULL;
        struct tf_budget *b = tf_malloc0(sizeof(*b));
        b->host = h;
        b->st = st;
        char name[64];
        snprintf(name, sizeof(name), BUDGET_PREFIX "%d", (int)getpid());
        b->path = streq(base, "/") ? tf_asprintf("/%s", name) : tf_asprintf("%s/%s", base, name);
        r = tf_cg_make_parent(h, base, &b->made, err);
        if (r < 0)
                goto fail;
        sweep(h, base);
        others = other_v1_mounts();
        make_in_others(others, b->path, &b->made_other);
        struct tf_cg_options o = {
                .parent = base, .name = name, .spec_path = st->path, .every_controller = true};
        r = tf_cg_create(h, &st->budget, &o, &b->cg, err);
        if (r < 0) {
                r = budget_error(st, err, r);
                goto fail;
        }
        *ret = b;
        return 0;
fail:
        tf_budget_free(b);
        return r;
}

int tf_budget_set_limits(struct tf_budget *b, const struct tf_settings *st, tf_error **err) {
        int r = check_io(b->host, st, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *parent = tf_strdup(b->path);
        *strrchr(parent, '/') = 0;
        r = tf_cg_set_limits(b->cg, &st->budget, *parent ? parent : "/", err);
        if (r < 0) {
                /* What was written of the new limits goes back to the old ones. */
                _cleanup_error_ tf_error *e = NULL;
                if (tf_cg_set_limits(b->cg, &b->st->budget, *parent ? parent : "/", &e) < 0)
                        tf_log("warning: budget: the previous limits could not be written back: %s", e->msg);
                return budget_error(st, err, r);
        }
        b->st = st;
        return 0;
}

void tf_budget_free(struct tf_budget *b) {
        if (!b)
                return;
        if (b->cg) {
                _cleanup_error_ tf_error *e = NULL;
                _cleanup_free_ char *where = tf_strdup(tf_cg_path(b->cg));
                if (tf_cg_destroy(b->cg, &e) < 0)
                        tf_log("warning: budget: %s: %s", where, e->msg);
        }
        tf_cg_rmdirs(b->made_other);
        tf_strv_free(b->made_other);
        tf_cg_rmdirs(b->made);
        tf_strv_free(b->made);
        /* Ancestors an earlier manager made and could not remove (killed). */
        _cleanup_free_ char *parent = tf_strdup(b->path);
        *strrchr(parent, '/') = 0;
        if (*parent) {
                tf_cg_rmdir_parent(b->host, parent);
                /* The same in the hierarchies tfrun does not use, where it sits at the root. */
                _cleanup_strv_free_ char **others = other_v1_mounts();
                for (char **m = others; m && *m; m++) {
                        _cleanup_free_ char *rel = tf_strdup(parent);
                        for (char *slash; *rel && (slash = strrchr(rel, '/')); *slash = 0) {
                                _cleanup_free_ char *d = tf_asprintf("%s%s", *m, rel);
                                (void)rmdir(d);
                        }
                }
        }
        free(b->path);
        free(b);
}

const char *tf_budget_path(const struct tf_budget *b) {
        return b ? b->path : NULL;
}

const char *tf_budget_pressure_dir(const struct tf_budget *b) {
        return b && tf_cg_host_mode(b->host) == TF_CG_V2 ? tf_cg_path(b->cg) : NULL;
}

const char *tf_budget_dir(const struct tf_budget *b) {
        return b ? tf_cg_path(b->cg) : NULL;
}

void tf_budget_usage(struct tf_budget *b, struct tf_cg_usage *ret) {
        tf_cg_usage(b->cg, ret);
}

static json_t *u64_or_null(uint64_t v) {
        return tf_limit_is_finite(v) ? json_integer((json_int_t)v) : json_null();
}

json_t *tf_budget_json(struct tf_budget *b) {
        const struct tf_limits *l = &b->st->budget;
        struct tf_cg_usage u;
        tf_cg_usage(b->cg, &u);
        json_t *lim = json_object();
        json_object_set_new(lim, "cpus",
                            l->cpu_quota_usec != TF_UNSET
                                    ? json_real((double)l->cpu_quota_usec / TF_CPU_PERIOD_USEC)
                                    : json_null());
        json_object_set_new(lim, "memory", u64_or_null(l->memory));
        json_object_set_new(lim, "memory_swap", u64_or_null(l->memory_swap));
        json_object_set_new(lim, "pids", u64_or_null(l->pids));
        json_object_set_new(lim, "io_weight", u64_or_null(l->io_weight));
        json_t *io = json_array();
        for (size_t i = 0; i < l->n_io; i++) {
                const struct tf_io_limit *d = &l->io[i];
                json_array_append_new(io, json_pack("{s:s,s:o,s:o,s:o,s:o}", "device", d->device, "read_bps",
                                                    u64_or_null(d->read_bps), "write_bps",
                                                    u64_or_null(d->write_bps), "read_iops",
                                                    u64_or_null(d->read_iops), "write_iops",
                                                    u64_or_null(d->write_iops)));
        }
        json_object_set_new(lim, "io", io);
        json_t *use = json_object();
        json_object_set_new(use, "memory", u64_or_null(u.memory));
        json_object_set_new(use, "pids", u64_or_null(u.pids));
        json_object_set_new(use, "cpu_seconds",
                            u.cpu_usec != TF_UNSET ? json_real((double)u.cpu_usec / 1e6) : json_null());
        return json_pack("{s:s,s:s,s:o,s:o}", "path", b->path, "dir", tf_cg_path(b->cg), "limits", lim,
                         "usage", use);
}
