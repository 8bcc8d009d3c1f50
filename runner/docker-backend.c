/* SPDX-License-Identifier: MIT */
/*
 * The docker backend: the service as a container created through the Docker Engine API.
 *
 * Sequence: connect (version check), remove what a crashed tfrun left of this service, make sure the image
 * is there (pull when absent), create (labels tfrun.service and tfrun.run), attach, start. Attaching before
 * start is what makes the output complete however short the container's life (see docker/docker.h). The
 * stream ends when the container has exited; an inspect then gives the exit code, FinishedAt and OOMKilled.
 *
 * Nothing here blocks tfrun's loop: every Engine API call is an asynchronous call of docker/ (libcurl's
 * multi interface, one multi handle per process, its sockets and timer sources of the loop), and the
 * backend is a state machine driven by their completions: start() issues the first call and returns,
 * tf_run_started() once the container runs, tf_run_start_failed() with the call's message when a step
 * fails. A timeout or a stop while starting aborts: the call in flight is dropped and what was made is
 * removed. Signals are kill calls. The short second looks for an OOM kill are loop timers, and the run's
 * wall time ends when the container exited, not after them.
 *
 * Process-wide (the run ctx's backend state): the client and its multi handle, the loop sources, the
 * containers this process made and has not removed yet, and the DELETEs in flight: a container's DELETE
 * goes on after its run is freed, and holds the loop (tf_loop_hold) so that tfrun waits for it, bounded by
 * REMOVE_TIMEOUT_USEC, before it exits.
 *
 * What this backend cannot report: CPU time and peak memory. The engine removes the container's cgroup as
 * soon as its main process exits, before we learn of the exit, and GET /containers/{id}/stats of a
 * stopped container returns zeros. Polling stats while it runs would cost a call per interval and still
 * miss the peak, so these stay unknown ("-" in the summary, null in --json). OOM kills are a flag in the
 * engine's state: oom_kills is 1 when any process of the container was OOM-killed, else 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/resource.h>
#include <sys/vfs.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "base/cleanup.h"
#include "base/parse.h"
#include "base/strutil.h"
#include "base/timeutil.h"
#include "docker/docker.h"
#include "runner/outlog.h"
#include "runner/runner.h"
#include "sandbox/sandbox.h"
#include "spec/limits.h"

/* A pull is bounded; the run's own timeout, if any, covers it too. */
#define PULL_TIMEOUT_USEC (15 * 60 * UINT64_C(1000000))
/* After the output stream ended, how long the engine may take to record the exit. */
#define EXIT_WAIT_USEC (10 * UINT64_C(1000000))
/* See on_exit_state(): at most 10 x 20 ms, only for a SIGKILL under a memory limit. */
#define OOM_RECHECKS 10
#define OOM_EVENT_CHECKS 25 /* with OOM_RECHECK_USEC: about 1 s at most */
#define OOM_RECHECK_USEC 20000
/* The DELETE at the end of a run, which tfrun waits for before it exits. */
#define REMOVE_TIMEOUT_USEC (10 * UINT64_C(1000000))
/* After SIGKILL, how long the container's output may take to end before tfrun gives up on it (a hung
 * engine): the run ends as tfrun's failure and the container's DELETE is left to the next sweep. */
#define LOST_USEC (5 * UINT64_C(1000000))
/* After the container's exit, how long a reader that does not read may hold its last output (at most the
 * spec's stop grace): then the rest is dropped with a warning, and the run ends. */
#define FLUSH_USEC (2 * UINT64_C(1000000))

struct watch {
        int fd;
        struct tf_source *src;
};

struct removal {
        struct dctx *x;
        char *id, *name;
        tf_docker_call *call;
        struct removal *next;
};

/* The process-wide state: ctx->backend_state[TF_RUN_CTX_DOCKER]. */
struct dctx {
        struct tf_loop *loop; /* borrowed */
        tf_docker *d;
        struct watch *watches;
        size_t n_watches;
        struct tf_source *timer;
        /* Containers this process created and has not removed yet: the stale sweep must not take a
         * container of a concurrent run of ours for one left by an earlier tfrun that had the same pid. */
        char **live_ids;
        struct removal *removals; /* DELETEs in flight, each holding the loop */
        struct sweeper *sweepers; /* sweeps of services (the manager at start), each holding the loop */
        char *cgroup_driver;      /* GET /info's CgroupDriver, asked once a run has a cgroup parent */
};

/* The manager's sweep of one service's containers, without a run (docker_sweep()). */
struct sweeper {
        struct dctx *x;
        char *service;
        char **ids, **runs;
        size_t next;
        tf_docker_call *call;
        struct sweeper *next_sweeper;
};

enum step {
        STEP_CONNECT,
        STEP_SWEEP,
        STEP_IMAGE,
        STEP_PULL,
        STEP_CREATE,
        STEP_ATTACH,
        STEP_START,
        STEP_RUNNING,
        STEP_EXIT, /* the stream ended: reading the exit */
        STEP_DONE,
};

struct kill {
        struct dkr *k;
        tf_docker_call *call;
        struct kill *next;
};

struct dkr {
        struct tf_run *run; /* borrowed: the run owns us */
        struct dctx *x;     /* borrowed: the ctx owns it */
        json_t *body;       /* the create body, built (and limits refused) in check() */
        char *id;
        enum step step;
        tf_docker_call *call;   /* the sequence's call in flight */
        tf_docker_call *attach; /* the output stream */
        tf_docker_call *waiter; /* the exit, while a reader holds the stream back */
        int pidfd;              /* the same, through the container's main process; -1: none */
        struct tf_source *pidfd_src;
        struct kill *kills;     /* signals in flight */
        char **stale_ids, **stale_runs;
        size_t stale_next;
        char pull_last[256];
        bool pull_tty;
        bool stream_ended; /* before start's answer came */
        uint64_t stream_end_usec;
        bool stalled;          /* a reader holds the output back (tf_docker_attach_on_stall) */
        bool watching_exit;
        uint64_t gone_usec;    /* a wait said the container is gone before its stream ended; 0: not */
        uint64_t held_usec;    /* the stream ended with output still queued; 0: not */
        struct tf_source *flush; /* the bound on the last output's flush */
        bool waited, exited, oom, oom_known;
        bool child_looked; /* the one second look for a child's OOM kill was made */
        unsigned rechecks, event_checks;
        struct tf_docker_state st;
        struct tf_source *recheck, *lost;
};

static void live_remove(struct dctx *x, const char *id) {
        for (size_t i = 0; x->live_ids && x->live_ids[i]; i++)
                if (streq(x->live_ids[i], id)) {
                        free(x->live_ids[i]);
                        size_t n = tf_strv_length(x->live_ids);
                        x->live_ids[i] = x->live_ids[n - 1];
                        x->live_ids[n - 1] = NULL;
                        break;
                }
        if (x->live_ids && !x->live_ids[0]) {
                free(x->live_ids);
                x->live_ids = NULL;
        }
}

/* ---- the process-wide state: the client's sockets and timer as loop sources ---- */

static int on_client_io(struct tf_source *s, int fd, uint32_t events, void *userdata) {
        struct dctx *x = userdata;
        _cleanup_error_ tf_error *e = NULL;
        int what = ((events & EPOLLIN) ? TF_DOCKER_WATCH_IN : 0) | ((events & EPOLLOUT) ? TF_DOCKER_WATCH_OUT : 0) |
                   ((events & (EPOLLERR | EPOLLHUP)) ? TF_DOCKER_WATCH_ERR : 0);
        if (tf_docker_on_fd(x->d, fd, what, &e) < 0)
                tf_log("warning: %s", e->msg);
        return 0;
}

static int on_client_timer(struct tf_source *s, int fd, uint32_t events, void *userdata) {
        struct dctx *x = userdata;
        _cleanup_error_ tf_error *e = NULL;
        if (tf_docker_on_timer(x->d, &e) < 0)
                tf_log("warning: %s", e->msg);
        return 0;
}

static int watch_fd(void *userdata, int fd, int what) {
        struct dctx *x = userdata;
        for (size_t i = 0; i < x->n_watches; i++)
                if (x->watches[i].fd == fd) {
                        tf_source_remove(x->watches[i].src);
                        x->watches[i] = x->watches[--x->n_watches];
                        break;
                }
        if (what == 0)
                return 0;
        uint32_t ev = ((what & TF_DOCKER_WATCH_IN) ? EPOLLIN : 0) | ((what & TF_DOCKER_WATCH_OUT) ? EPOLLOUT : 0);
        _cleanup_error_ tf_error *e = NULL;
        struct tf_source *src;
        int r = tf_loop_add_io(x->loop, fd, ev, on_client_io, x, &src, &e);
        if (r < 0)
                return r;
        x->watches = tf_realloc(x->watches, (x->n_watches + 1) * sizeof(*x->watches));
        x->watches[x->n_watches++] = (struct watch){ .fd = fd, .src = src };
        return 0;
}

static int watch_timer(void *userdata, uint64_t at) {
        struct dctx *x = userdata;
        if (at == 0) {
                tf_source_remove(x->timer);
                x->timer = NULL;
                return 0;
        }
        if (x->timer)
                return tf_source_set_time(x->timer, at);
        _cleanup_error_ tf_error *e = NULL;
        return tf_loop_add_timer(x->loop, CLOCK_MONOTONIC, at, on_client_timer, x, &x->timer, &e);
}

static void sweeper_free(struct sweeper *w) {
        tf_strv_free(w->ids);
        tf_strv_free(w->runs);
        free(w->service);
        free(w);
}

static void dctx_free(void *p) {
        struct dctx *x = p;
        /* First: dropping the transfers tells watch_fd() to remove their sources. */
        x->d = tf_docker_free(x->d);
        while (x->sweepers) {
                struct sweeper *w = x->sweepers;
                x->sweepers = w->next_sweeper;
                tf_loop_release(x->loop);
                sweeper_free(w);
        }
        while (x->removals) {
                struct removal *m = x->removals;
                x->removals = m->next;
                tf_loop_release(x->loop);
                free(m->id);
                free(m->name);
                free(m);
        }
        for (size_t i = 0; i < x->n_watches; i++)
                tf_source_remove(x->watches[i].src);
        free(x->watches);
        tf_source_remove(x->timer);
        tf_strv_free(x->live_ids);
        free(x->cgroup_driver);
        free(x);
}

static int dctx_get_ctx(struct tf_run_ctx *ctx, struct dctx **ret, tf_error **err) {
        if (ctx->backend_state[TF_RUN_CTX_DOCKER]) {
                *ret = ctx->backend_state[TF_RUN_CTX_DOCKER];
                return 0;
        }
        tf_docker *d = NULL;
        int ret_ = tf_docker_new(NULL, &d, err);
        if (ret_ < 0)
                return ret_;
        struct dctx *x = tf_malloc0(sizeof(*x));
        x->loop = ctx->loop;
        x->d = d;
        ret_ = tf_docker_watch(d, &(struct tf_docker_watch){ .fd = watch_fd, .timer = watch_timer, .userdata = x },
                               err);
        if (ret_ < 0) {
                dctx_free(x);
                return ret_;
        }
        ctx->backend_state[TF_RUN_CTX_DOCKER] = x;
        ctx->backend_state_free[TF_RUN_CTX_DOCKER] = dctx_free;
        *ret = x;
        return 0;
}

static int dctx_get(struct tf_run *r, struct dctx **ret, tf_error **err) {
        return dctx_get_ctx(r->ctx, ret, err);
}

static void on_removed(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep, void *userdata) {
        struct removal *m = userdata;
        struct dctx *x = m->x;
        if (r < 0 && err->code != ENOENT)
                tf_log("warning: %s: remove container %.12s: %s", m->name, m->id, err->msg);
        live_remove(x, m->id);
        for (struct removal **p = &x->removals; *p; p = &(*p)->next)
                if (*p == m) {
                        *p = m->next;
                        break;
                }
        tf_loop_release(x->loop);
        free(m->id);
        free(m->name);
        free(m);
}

/* The container's DELETE, owned by the process: it outlives the run. */
static void remove_later(struct dctx *x, char *id, const char *name) {
        _cleanup_error_ tf_error *e = NULL;
        struct removal *m = tf_malloc0(sizeof(*m));
        *m = (struct removal){ .x = x, .id = id, .name = tf_strdup(name) };
        if (tf_docker_container_remove_async(x->d, id, true, REMOVE_TIMEOUT_USEC, on_removed, m, &m->call, &e) < 0) {
                tf_log("warning: %s: remove container %.12s: %s", name, id, e->msg);
                live_remove(x, id);
                free(m->id);
                free(m->name);
                free(m);
                return;
        }
        m->next = x->removals;
        x->removals = m;
        tf_loop_hold(x->loop);
}

/* ---- check ---- */

/* The engine is local (a unix socket): its host's cgroup layout is this one's. */
static bool host_is_cgroup_v2(void) {
        struct statfs fs;
        return statfs("/sys/fs/cgroup", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

static int docker_check(struct tf_run *r, tf_error **err) {
        const struct tf_spec *s = r->spec;
        struct dkr *k = tf_malloc0(sizeof(*k));
        k->run = r;
        k->pidfd = -1;
        r->backend = k;

        if (r->opts->cgroup_parent && !r->opts->container_cgroup_parent)
                return tf_error_set(err, EOPNOTSUPP,
                                    "%s: --cgroup-parent places native services; the Docker engine places "
                                    "containers in its own cgroups (drop the option or use backend: native)",
                                    s->path);
        /* Every refusal of a limit Docker cannot express happens here, before any call to the engine. */
        /* Without limits.nofile a native job inherits tfrun's open-files limit: a container gets the same,
         * not whatever the engine's shim has (DESIGN.md: equal read-back inside the job). */
        struct rlimit nofile = {};
        if (getrlimit(RLIMIT_NOFILE, &nofile) < 0 || nofile.rlim_cur == RLIM_INFINITY)
                nofile = (struct rlimit){};
        const struct tf_docker_pinned pinned = {.seccomp_profile = tf_seccomp_default_profile,
                                                .masked_paths = tf_sandbox_masked_paths,
                                                .readonly_paths = tf_sandbox_readonly_paths,
                                                .nofile_soft = nofile.rlim_cur,
                                                .nofile_hard = nofile.rlim_max == RLIM_INFINITY
                                                                       ? nofile.rlim_cur
                                                                       : nofile.rlim_max,
                                                .cgroup_v2 = host_is_cgroup_v2()};
        int ret = tf_docker_create_body(s, r->run_id, &pinned, &k->body, err);
        if (ret < 0)
                return ret;
        /* Below the manager's budget or a workflow's cgroup: the engine (cgroupfs driver) makes PARENT/<id> in every hierarchy. */
        if (r->opts->container_cgroup_parent)
                json_object_set_new(json_object_get(k->body, "HostConfig"), "CgroupParent",
                                    json_string(r->opts->container_cgroup_parent));
        /* The engine checks a profile's actions and architectures only when the container starts. */
        ret = tf_sandbox_check_seccomp_profile(s, err);
        if (ret < 0)
                return ret;
        ret = tf_sandbox_check_capabilities(s, err);
        if (ret < 0)
                return ret;
        /* No I/O: the client is only made (a DOCKER_HOST it cannot use is refused here). */
        return dctx_get(r, &k->x, err);
}

/* ---- helpers ---- */

static bool pid_is_tfrun(pid_t pid) {
        if (pid <= 0)
                return false;
        if (kill(pid, 0) < 0 && errno == ESRCH)
                return false;
        /* Alive, but the pid may have been reused by something else since the crash. */
        char path[64], comm[32] = "";
        snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return true; /* cannot tell (hidepid): leave it alone */
        ssize_t n = read(fd, comm, sizeof(comm) - 1);
        if (n <= 0)
                return true;
        comm[n] = 0;
        return tf_startswith(comm, "tfrun");
}

/* "<name>-<pid>-<n>" -> pid; -1 when the label is not one of ours for this service. */
static pid_t run_label_pid(const char *run, const char *name) {
        size_t nl = strlen(name);
        if (strncmp(run, name, nl) != 0 || run[nl] != '-')
                return -1;
        char *end;
        errno = 0;
        long pid = strtol(run + nl + 1, &end, 10);
        if (errno || end == run + nl + 1 || *end != '-' || pid <= 0 || pid > INT32_MAX)
                return -1;
        return (pid_t)pid;
}

static void on_pull(const struct tf_docker_pull_progress *p, void *userdata) {
        char *last = userdata;
        char line[256];
        if (p->total > 0 && p->current >= 0)
                snprintf(line, sizeof(line), "%s %s %lld/%lld", p->id ? p->id : "", p->status,
                         (long long)p->current, (long long)p->total);
        else
                snprintf(line, sizeof(line), "%s %s", p->id ? p->id : "", p->status ? p->status : "");
        /* Byte counters change on every message: show them on one rewritten line, the rest line by line. */
        bool progress = p->total > 0;
        if (!progress && streq(line, last))
                return;
        fprintf(stderr, progress ? "\rtfrun: pull: %-70.70s" : "\ntfrun: pull: %s", line);
        snprintf(last, 256, "%s", line);
}

/* The engine's create warnings that say it dropped (or weakened) a limit, e.g. "Your kernel does not
 * support Block I/O weight or the cgroup is not mounted. Weight discarded." Others (networking notes) are
 * only passed on. */
static bool warning_drops_limit(const char *w) {
        return strstr(w, "does not support") || strstr(w, "discarded") || strstr(w, "imited without");
}

/* The spec key behind a dropped-limit warning (the engine's wording, moby daemon/daemon_unix.go
 * verifyPlatformContainerResources), so that the refusal names it with its position; NULL when the
 * warning is not one of those. Swap first: its warning also speaks of memory. */
static const char *warning_key(const struct tf_spec *s, const char *w, struct tf_pos *pos) {
        const struct tf_limits *l = &s->limits;
        const struct {
                const char *needle, *key;
                struct tf_pos pos;
        } map[] = {
                {"swap", l->pos_memory_swap.line ? "limits.memory_swap" : "limits.memory",
                 l->pos_memory_swap.line ? l->pos_memory_swap : l->pos_memory},
                {"memory limit", "limits.memory", l->pos_memory},
                {"pids limit", "limits.pids", l->pos_pids},
                {"CPU shares", "limits.cpu_weight", l->pos_cpu_weight},
                {"cfs period", "limits.cpus", l->pos_cpus},
                {"cfs quota", "limits.cpus", l->pos_cpus},
                {"cpuset", "limits.cpuset", l->pos_cpuset},
                {"Block I/O weight", "limits.io_weight", l->pos_io_weight},
                {"Block I/O", "limits.io", l->pos_io},
                {"Block read", "limits.io", l->pos_io},
                {"Block write", "limits.io", l->pos_io},
        };
        for (size_t i = 0; i < ELEMENTSOF(map); i++)
                if (strstr(w, map[i].needle)) {
                        *pos = map[i].pos;
                        return map[i].key;
                }
        return NULL;
}

/* Docker CLI's rule for start failures that are the command's fault: 127 not found, 126 not executable. */
static int exec_failure_status(const char *msg) {
        if (strstr(msg, "executable file not found") || strstr(msg, "no such file or directory"))
                return 127;
        if (strstr(msg, "permission denied"))
                return 126;
        return 0;
}

/* The exit as waitid() would say it. Docker reports a death by signal N as exit code 128+N, like a shell;
 * it is read back that way, as `docker run` users expect (an exit(137) by hand looks the same). */
static void exit_to_wait(int exit_code, int *ret_code, int *ret_status) {
        if (exit_code > 128 && exit_code < 128 + 65) {
                *ret_code = CLD_KILLED;
                *ret_status = exit_code - 128;
        } else {
                *ret_code = CLD_EXITED;
                *ret_status = exit_code;
        }
}

/* ---- the start sequence ---- */

static tf_error *error_copy(const tf_error *e) {
        tf_error *c = NULL;
        tf_error_set(&c, e ? e->code : EIO, "%s", e && e->msg ? e->msg : "start failed");
        return c;
}

static void unwatch_pid(struct dkr *k) {
        tf_source_remove(k->pidfd_src);
        k->pidfd_src = NULL;
        if (k->pidfd >= 0)
                close(k->pidfd);
        k->pidfd = -1;
}

static void unwind(struct dkr *k) {
        tf_docker_call_cancel(k->call);
        k->call = NULL;
        tf_docker_call_cancel(k->attach);
        k->attach = NULL;
        tf_docker_call_cancel(k->waiter);
        k->waiter = NULL;
        unwatch_pid(k);
        tf_source_remove(k->flush);
        k->flush = NULL;
        k->step = STEP_DONE;
}

/* A step failed: the run ends as a start failure (cleanup removes what was made). Takes e. */
static void fail(struct dkr *k, tf_error *e) {
        struct tf_run *r = k->run;
        unwind(k);
        if (!tf_startswith(e->msg, r->spec->path))
                tf_error_prefix(&e, "%s", r->spec->path);
        tf_run_start_failed(r, e);
}

static void step_image(struct dkr *k);
static void step_create(struct dkr *k);
static void sweep_next(struct dkr *k);

/* A container of service's whose tfrun is gone: another process's pid, no longer a tfrun, or ours but not
 * one this process has running. */
static bool is_stale(struct dctx *x, const char *id, const char *run, const char *service) {
        pid_t pid = run_label_pid(run, service);
        if (pid < 0)
                return false;
        return pid == getpid() ? !tf_strv_contains(x->live_ids, id) : !pid_is_tfrun(pid);
}

static void on_connected(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep, void *userdata);

static int docker_start(struct tf_run *r, tf_error **err) {
        struct dkr *k = r->backend;
        k->step = STEP_CONNECT;
        int ret = tf_docker_connect_async(k->x->d, on_connected, k, &k->call, err);
        if (ret < 0 && !tf_startswith((*err)->msg, r->spec->path))
                return tf_error_prefix(err, "%s", r->spec->path);
        return ret;
}

static void on_listed(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep, void *userdata) {
        struct dkr *k = userdata;
        k->call = NULL;
        /* Not fatal: a failure here is logged and the run goes on. */
        if (r < 0) {
                tf_log("warning: %s: looking for containers left by an earlier tfrun: %s", k->run->spec->name,
                       err->msg);
                return step_image(k);
        }
        k->stale_ids = TAKE_PTR(rep->ids);
        k->stale_runs = TAKE_PTR(rep->values);
        k->stale_next = 0;
        sweep_next(k);
}

static void step_sweep(struct dkr *k);

/* HostConfig.CgroupParent (the manager's budget, a workflow's cgroup) is a cgroupfs path: an engine with the
 * systemd cgroup driver wants a slice name there ("x.slice") and refuses the path or, worse, puts the
 * container elsewhere, outside the budget. Refused, with what to change. */
static int driver_check(struct dkr *k, tf_error **err) {
        const char *drv = k->x->cgroup_driver;
        if (!drv || !streq(drv, "systemd"))
                return 0;
        return tf_error_set(err, EOPNOTSUPP,
                            "%s: the Docker engine (%s) uses the systemd cgroup driver (GET /info: CgroupDriver "
                            "systemd), which cannot place containers below %s, the cgroup of the manager's "
                            "budget or of a workflow; expected an engine with the cgroupfs driver (dockerd "
                            "--exec-opt native.cgroupdriver=cgroupfs, or \"exec-opts\": "
                            "[\"native.cgroupdriver=cgroupfs\"] in daemon.json), or no budget: in the "
                            "manager's settings",
                            k->run->spec->path, tf_docker_socket_path(k->x->d),
                            k->run->opts->container_cgroup_parent);
}

static void on_info(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep, void *userdata) {
        struct dkr *k = userdata;
        k->call = NULL;
        if (r < 0)
                return fail(k, error_copy(err));
        const char *drv = json_string_value(json_object_get(rep->json, "CgroupDriver"));
        /* An engine that does not say (older than 1.13's API) has only cgroupfs. */
        free(k->x->cgroup_driver);
        k->x->cgroup_driver = tf_strdup(drv ? drv : "cgroupfs");
        tf_error *e = NULL;
        if (driver_check(k, &e) < 0)
                return fail(k, e);
        step_sweep(k);
}

static void on_connected(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep, void *userdata) {
        struct dkr *k = userdata;
        k->call = NULL;
        if (r < 0)
                return fail(k, error_copy(err));
        if (k->run->opts->container_cgroup_parent && !k->x->cgroup_driver) {
                tf_error *e = NULL;
                k->step = STEP_CONNECT;
                if (tf_docker_request_async(k->x->d, "read the engine's cgroup driver", "GET", "/info", NULL, 0,
                                            on_info, k, &k->call, &e) < 0)
                        fail(k, e);
                return;
        }
        if (k->run->opts->container_cgroup_parent) {
                tf_error *e = NULL;
                if (driver_check(k, &e) < 0)
                        return fail(k, e);
        }
        step_sweep(k);
}

static void step_sweep(struct dkr *k) {
        /* Containers of this service whose tfrun is gone (crashed, killed) are removed before the run. */
        _cleanup_error_ tf_error *e = NULL;
        _cleanup_free_ char *label = tf_asprintf("tfrun.service=%s", k->run->spec->name);
        k->step = STEP_SWEEP;
        if (tf_docker_container_list_labels_async(k->x->d, label, "tfrun.run", on_listed, k, &k->call, &e) < 0) {
                tf_log("warning: %s: looking for containers left by an earlier tfrun: %s", k->run->spec->name,
                       e->msg);
                step_image(k);
        }
}

static void on_swept(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep, void *userdata) {
        struct dkr *k = userdata;
        const char *name = k->run->spec->name, *id = k->stale_ids[k->stale_next],
                   *run = k->stale_runs[k->stale_next];
        k->call = NULL;
        if (r < 0 && err->code != ENOENT)
                tf_log("warning: %s: removing container %.12s left by run %s: %s", name, id, run, err->msg);
        else
                tf_log("%s: removed container %.12s left by run %s (its tfrun, pid %d, is gone)", name, id, run,
                       (int) run_label_pid(run, name));
        k->stale_next++;
        sweep_next(k);
}

/* One stale container at a time, in the engine's order, so the log reads as it did. */
static void sweep_next(struct dkr *k) {
        const char *name = k->run->spec->name;
        for (; k->stale_ids && k->stale_ids[k->stale_next]; k->stale_next++) {
                const char *id = k->stale_ids[k->stale_next], *run = k->stale_runs[k->stale_next];
                if (!is_stale(k->x, id, run, name))
                        continue;
                _cleanup_error_ tf_error *e = NULL;
                if (tf_docker_container_remove_async(k->x->d, id, true, 0, on_swept, k, &k->call, &e) == 0)
                        return;
                tf_log("warning: %s: removing container %.12s left by run %s: %s", name, id, run, e->msg);
        }
        k->stale_ids = (tf_strv_free(k->stale_ids), NULL);
        k->stale_runs = (tf_strv_free(k->stale_runs), NULL);
        step_image(k);
}

static void on_pulled(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep, void *userdata) {
        struct dkr *k = userdata;
        k->call = NULL;
        if (k->pull_tty)
                fputc('\n', stderr);
        if (r < 0) {
                tf_error *e = error_copy(err);
                tf_error_prefix(&e, "image %s is not present locally and cannot be pulled", k->run->spec->image);
                return fail(k, e);
        }
        step_create(k);
}

static void on_image(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep, void *userdata) {
        struct dkr *k = userdata;
        const char *ref = k->run->spec->image;
        k->call = NULL;
        if (r == 0)
                return step_create(k);
        if (r != -ENOENT)
                return fail(k, error_copy(err));
        tf_error *e = NULL;
        k->pull_tty = isatty(STDERR_FILENO);
        k->pull_last[0] = '\0';
        if (k->pull_tty)
                fprintf(stderr, "tfrun: image %s is not present locally: pulling", ref);
        k->step = STEP_PULL;
        if (tf_docker_image_pull_async(k->x->d, ref, k->pull_tty ? on_pull : NULL, k->pull_last, PULL_TIMEOUT_USEC,
                                       on_pulled, k, &k->call, &e) < 0) {
                if (k->pull_tty)
                        fputc('\n', stderr);
                tf_error_prefix(&e, "image %s is not present locally and cannot be pulled", ref);
                fail(k, e);
        }
}

static void step_image(struct dkr *k) {
        tf_error *e = NULL;
        k->step = STEP_IMAGE;
        if (tf_docker_image_inspect_async(k->x->d, k->run->spec->image, on_image, k, &k->call, &e) < 0)
                fail(k, e);
}

static void on_attached(tf_docker_call *c, void *userdata);
static void on_stall(tf_docker_call *c, bool ended, void *userdata);
static void on_stream_end(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep, void *userdata);

static void on_output(void *userdata, int stream, const uint8_t *p, size_t n) {
        tf_outlog_feed(userdata, stream, p, n);
}

static void on_created(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep, void *userdata) {
        struct dkr *k = userdata;
        const struct tf_spec *s = k->run->spec;
        k->call = NULL;
        if (r < 0)
                return fail(k, error_copy(err));
        k->id = TAKE_PTR(rep->id);
        tf_strv_push(&k->x->live_ids, k->id);
        for (size_t i = 0; rep->warnings && rep->warnings[i]; i++) {
                if (warning_drops_limit(rep->warnings[i])) {
                        /* Never run with less than the spec asked for; cleanup() removes the container. */
                        tf_error *e = NULL;
                        struct tf_pos pos = {0};
                        const char *key = warning_key(s, rep->warnings[i], &pos);
                        _cleanup_free_ char *where = tf_spec_where(s, pos);
                        if (key)
                                tf_error_set(&e, EOPNOTSUPP,
                                             "%s: %s: the Docker engine would drop this limit: \"%s\" "
                                             "(remove it or use backend: native)",
                                             where, key, rep->warnings[i]);
                        else
                                tf_error_set(&e, EOPNOTSUPP,
                                             "%s: the Docker engine would drop a limit of this spec: \"%s\" "
                                             "(remove the limit or use backend: native)",
                                             s->path, rep->warnings[i]);
                        return fail(k, e);
                }
                tf_log("%s: engine warning: %s", s->name, rep->warnings[i]);
        }
        tf_error *e = NULL;
        k->step = STEP_ATTACH;
        /* With a log (tf_run_options.log) the frames go to the run's sink; to tfrun's fds only when the
         * log wants them there unchanged (echo_raw: `--log-dir`), with the pauses of a reader that lags. */
        struct tf_outlog *log = k->run->outlog;
        bool fds = !log || tf_outlog_echo_raw(log);
        if (tf_docker_attach_async(k->x->d, k->id, fds ? STDOUT_FILENO : -1, fds ? STDERR_FILENO : -1,
                                   on_attached, on_stream_end, k, &k->attach, &e) < 0)
                return fail(k, e);
        if (log)
                tf_docker_attach_set_output(k->attach, on_output, log);
        tf_docker_attach_on_stall(k->attach, on_stall);
}

static void step_create(struct dkr *k) {
        _cleanup_free_ char *name = tf_asprintf("tfrun-%s", k->run->run_id);
        tf_error *e = NULL;
        k->step = STEP_CREATE;
        if (tf_docker_container_create_async(k->x->d, name, k->body, on_created, k, &k->call, &e) < 0)
                fail(k, e);
}

static void read_exit(struct dkr *k);
static void watch_exit(struct dkr *k);

static void on_started(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep, void *userdata) {
        struct dkr *k = userdata;
        k->call = NULL;
        if (r < 0) {
                int st = exec_failure_status(err->msg);
                if (!st)
                        return fail(k, error_copy(err));
                unwind(k);
                tf_run_exec_failed(k->run, st, err->msg);
                return;
        }
        k->step = STEP_RUNNING;
        tf_run_started(k->run);
        if (k->stream_ended)
                read_exit(k);
        else if (k->stalled)
                watch_exit(k);
}

/* The engine accepted the attach: from now on every byte the container writes reaches us. */
static void on_attached(tf_docker_call *c, void *userdata) {
        struct dkr *k = userdata;
        tf_error *e = NULL;
        k->step = STEP_START;
        if (tf_docker_container_start_async(k->x->d, k->id, on_started, k, &k->call, &e) < 0)
                fail(k, e);
}

/* ---- the exit ---- */

static bool mem_limited(const struct dkr *k) {
        const struct tf_limits *l = &k->run->spec->limits;
        return tf_limit_is_finite(l->memory);
}

/* State.FinishedAt, "2024-12-01T19:41:00.123456789Z", in usec since the epoch; 0 when unknown. */
static uint64_t parse_finished(const char *s) {
        struct tm tm = {};
        int n = 0;
        if (!s || sscanf(s, "%d-%d-%dT%d:%d:%d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                         &tm.tm_sec, &n) != 6 || tm.tm_year < 1970)
                return 0; /* "0001-01-01T00:00:00Z": never finished */
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        const char *p = s + n;
        uint64_t usec = 0, scale = 100000;
        if (*p == '.')
                for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
                        usec += (uint64_t) (*p - '0') * scale;
        time_t t = timegm(&tm);
        if (*p != 'Z' || t < 0)
                return 0;
        return (uint64_t) t * TF_USEC_PER_SEC + usec;
}

static void on_killed(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep, void *userdata) {
        struct kill *kl = userdata;
        struct dkr *k = kl->k;
        for (struct kill **p = &k->kills; *p; p = &(*p)->next)
                if (*p == kl) {
                        *p = kl->next;
                        break;
                }
        if (r < 0)
                tf_log("warning: %s: %s", k->run->run_id, err->msg);
        free(kl);
}

static int send_signal(struct dkr *k, int sig, tf_error **err) {
        struct kill *kl = tf_malloc0(sizeof(*kl));
        kl->k = k;
        int r = tf_docker_container_kill_async(k->x->d, k->id, sig, on_killed, kl, &kl->call, err);
        if (r < 0) {
                free(kl);
                return r;
        }
        kl->next = k->kills;
        k->kills = kl;
        return 0;
}

/* tfrun lost track of the container (the engine does not say how it ended): that is tfrun's failure
 * (125), and the container goes. */
static void lost(struct dkr *k, const char *msg) {
        struct tf_run *r = k->run;
        _cleanup_error_ tf_error *e = NULL;
        tf_log("%s: %s", r->spec->name, msg);
        unwind(k);
        tf_source_remove(k->recheck);
        tf_source_remove(k->lost);
        k->recheck = k->lost = NULL;
        if (send_signal(k, SIGKILL, &e) < 0)
                tf_log("warning: %s", e->msg);
        k->exited = true;
        tf_run_child_exited(r, CLD_EXITED, 125);
}

static void finish_exit(struct dkr *k) {
        struct tf_run *r = k->run;
        int code, status;
        if (k->st.error)
                tf_log("%s: the engine reports: %s", r->spec->name, k->st.error);
        k->oom = k->oom || k->st.oom_killed;
        k->oom_known = true;
        r->exit_realtime_usec = parse_finished(k->st.finished);
        exit_to_wait(k->st.exit_code, &code, &status);
        k->exited = true;
        k->step = STEP_DONE;
        /* Last: this may finish the run. */
        tf_run_child_exited(r, code, status);
}

static void exit_next(struct dkr *k);

static void on_recheck_state(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep,
                             void *userdata) {
        struct dkr *k = userdata;
        k->call = NULL;
        if (r < 0)
                k->rechecks = OOM_RECHECKS;
        else {
                tf_docker_state_done(&k->st);
                k->st = rep->state;
                rep->state = (struct tf_docker_state){};
        }
        exit_next(k);
}

static void on_oom_event(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep, void *userdata) {
        struct dkr *k = userdata;
        k->call = NULL;
        if (r < 0)
                k->event_checks = OOM_EVENT_CHECKS;
        else if (rep->found)
                k->oom = true;
        else
                k->event_checks++;
        exit_next(k);
}

static int on_recheck(struct tf_source *s, int fd, uint32_t events, void *userdata) {
        struct dkr *k = userdata;
        tf_source_remove(s);
        k->recheck = NULL;
        int r;
        if (k->rechecks < OOM_RECHECKS) {
                k->rechecks++;
                r = tf_docker_container_inspect_async(k->x->d, k->id, on_recheck_state, k, &k->call, NULL);
                if (r < 0)
                        k->rechecks = OOM_RECHECKS;
        } else {
                int64_t since = (int64_t) (k->run->result.start_realtime_usec / TF_USEC_PER_SEC) - 1;
                r = tf_docker_container_oom_event_async(k->x->d, k->id, since, (int64_t) time(NULL), on_oom_event,
                                                        k, &k->call, NULL);
                if (r < 0)
                        k->event_checks = OOM_EVENT_CHECKS;
        }
        if (r < 0)
                exit_next(k);
        return 0;
}

/*
 * The shim reports the OOM kill and the exit on separate paths, so the engine may record the exit first and
 * set OOMKilled a few milliseconds later: a SIGKILL under a memory limit is worth a short second look
 * (`docker inspect` right after `docker wait` has the same race). Still no flag: the OOM event may have
 * reached the engine after the exit, and then only the engine's event log knows (see
 * tf_docker_container_oom_event()). The looks are spaced by loop timers; the run's wall time was taken
 * at the exit, before them.
 */
static void exit_next(struct dkr *k) {
        bool unsure = mem_limited(k) && !k->st.oom_killed && !k->oom;
        bool suspect = unsure && k->st.exit_code == 128 + SIGKILL;
        /* A main process that exited by itself may still have lost a child to the OOM killer, and the same
         * race hides that (seen under load: OOMKilled set after the exit was recorded): one second look at
         * the state and one at the event log. */
        if (unsure && !suspect && !k->child_looked) {
                k->child_looked = true;
                k->rechecks = OOM_RECHECKS - 1;
                k->event_checks = OOM_EVENT_CHECKS - 1;
        }
        if (unsure && (k->rechecks < OOM_RECHECKS || k->event_checks < OOM_EVENT_CHECKS)) {
                _cleanup_error_ tf_error *e = NULL;
                /* The first look at the event log goes at once, the others after a pause. */
                uint64_t delay = k->rechecks == OOM_RECHECKS && k->event_checks == 0 ? 0 : OOM_RECHECK_USEC;
                if (tf_loop_add_timer(k->run->loop, CLOCK_MONOTONIC, tf_now(CLOCK_MONOTONIC) + delay, on_recheck, k,
                                      &k->recheck, &e) == 0)
                        return;
        }
        finish_exit(k);
}

static void on_exit_state(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep, void *userdata);

static void on_exit_wait(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep, void *userdata) {
        struct dkr *k = userdata;
        tf_error *e = NULL;
        k->call = NULL;
        if (r == -ETIMEDOUT)
                return lost(k, "the container's output stream ended but the container still runs");
        if (r < 0)
                return lost(k, err->msg);
        if (tf_docker_container_inspect_async(k->x->d, k->id, on_exit_state, k, &k->call, &e) < 0) {
                lost(k, e->msg);
                tf_error_free(e);
        }
}

static void on_exit_state(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep, void *userdata) {
        struct dkr *k = userdata;
        struct tf_run *run = k->run;
        tf_error *e = NULL;
        k->call = NULL;
        if (r < 0)
                return lost(k, err->msg);
        if (rep->state.running && !k->waited) {
                /* The engine closes the stream a moment before it records the exit. */
                k->waited = true;
                if (tf_docker_container_wait_async(k->x->d, k->id, EXIT_WAIT_USEC, on_exit_wait, k, &k->call,
                                                   &e) < 0) {
                        lost(k, e->msg);
                        tf_error_free(e);
                }
                return;
        }
        /* The main process ended when its output did (or, after a wait, about now): the wall time ends here,
         * not after the OOM looks below. */
        if (!run->ended) {
                uint64_t at = k->waited && !k->gone_usec ? tf_now(CLOCK_MONOTONIC) : k->stream_end_usec;
                run->ended = true;
                run->result.wall_usec = at - run->start_mono_usec;
        }
        tf_docker_state_done(&k->st);
        k->st = rep->state;
        rep->state = (struct tf_docker_state){};
        exit_next(k);
}

static void read_exit(struct dkr *k) {
        tf_error *e = NULL;
        k->step = STEP_EXIT;
        if (tf_docker_container_inspect_async(k->x->d, k->id, on_exit_state, k, &k->call, &e) < 0) {
                lost(k, e->msg);
                tf_error_free(e);
        }
}

/* ---- a reader that holds the output back ----
 *
 * The attach stream pauses when tfrun's stdout or stderr does not take the output (docker/docker.h). The
 * container's end then shows neither as the stream's end nor in the engine's state: the engine records an
 * exit only once the container's output is copied out, which the paused stream holds back (its inspect and
 * wait block meanwhile). So the end is watched on the container's main process itself, a pidfd of the
 * host pid the engine reports (checked by its cgroup, which names the container), else, where tfrun cannot
 * see that process, by the engine's wait. Once the process is gone, the last output has FLUSH_USEC (at
 * most the stop grace; for a run tfrun stopped, counted from the stop) to be read; then the rest is
 * dropped and the stream comes to its end, so that the run's status and timing never wait for a reader
 * longer. Timeouts and signals are not held meanwhile:
 * they are kill calls on connections of their own.
 */

static uint64_t flush_bound(const struct dkr *k) {
        uint64_t g = k->run->spec->stop_grace_usec;
        return g < FLUSH_USEC ? g : FLUSH_USEC;
}

static const char *flush_bound_text(const struct dkr *k) {
        static char buf[32];
        uint64_t ms = flush_bound(k) / 1000;
        snprintf(buf, sizeof(buf), ms % 1000 ? "%llu ms" : "%llu s",
                 (unsigned long long) (ms % 1000 ? ms : ms / 1000));
        return buf;
}

static int on_flush_bound(struct tf_source *s, int fd, uint32_t events, void *userdata) {
        struct dkr *k = userdata;
        tf_source_remove(s);
        k->flush = NULL;
        if (k->attach)
                tf_docker_attach_drop(k->attach);
        return 0;
}

/* The container's output ended (or the container is gone) but not all of it is out: bound the flush. */
static void bound_flush(struct dkr *k) {
        const struct tf_run *r = k->run;
        if (k->flush || !k->attach)
                return;
        /* A run tfrun is stopping: the reader has had the bound since the stop already. */
        uint64_t bound = flush_bound(k), rt = tf_now(CLOCK_REALTIME);
        if (r->stopping != TF_REASON_NONE && r->stop_realtime_usec && rt > r->stop_realtime_usec)
                bound = rt - r->stop_realtime_usec >= bound ? 0 : bound - (rt - r->stop_realtime_usec);
        _cleanup_error_ tf_error *e = NULL;
        if (tf_loop_add_timer(r->loop, CLOCK_MONOTONIC, tf_now(CLOCK_MONOTONIC) + bound, on_flush_bound, k,
                              &k->flush, &e) < 0) {
                tf_log("warning: %s: %s", k->run->run_id, e->msg);
                tf_docker_attach_drop(k->attach);
        }
}

static void container_gone(struct dkr *k) {
        if (k->gone_usec)
                return;
        k->gone_usec = tf_now(CLOCK_MONOTONIC);
        /* Not a hung engine: a kill was carried out, and no other is needed. */
        tf_source_remove(k->lost);
        k->lost = NULL;
        bound_flush(k);
}

static void on_waited(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep, void *userdata) {
        struct dkr *k = userdata;
        k->waiter = NULL;
        if (r < 0) {
                /* The stream's end will tell, once the reader reads. */
                tf_log("warning: %s: %s", k->run->run_id, err->msg);
                return;
        }
        container_gone(k);
}

static int on_pid_exit(struct tf_source *s, int fd, uint32_t events, void *userdata) {
        struct dkr *k = userdata;
        unwatch_pid(k);
        container_gone(k);
        return 0;
}

/* A pidfd of pid when it is the main process of container id as tfrun sees it: the engine's pid is the
 * host's, and tfrun may live in another pid namespace, where the same number is another process. */
static int container_pidfd(pid_t pid, const char *id) {
        if (pid <= 0)
                return -1;
        _cleanup_close_ int pfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (pfd < 0)
                return -1;
        /* The pidfd pins the process: what /proc says from now on is about it (or it has exited). */
        char path[64], buf[4096];
        snprintf(path, sizeof(path), "/proc/%d/cgroup", (int) pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return -1;
        buf[n] = '\0';
        return strstr(buf, id) ? TAKE_FD(pfd) : -1;
}

static void on_stall_state(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep,
                           void *userdata) {
        struct dkr *k = userdata;
        _cleanup_error_ tf_error *e = NULL;
        k->waiter = NULL;
        if (r == 0 && !rep->state.running)
                return container_gone(k);
        int fd = r == 0 ? container_pidfd(rep->state.pid, k->id) : -1;
        if (fd >= 0) {
                k->pidfd = fd;
                if (tf_loop_add_io(k->run->loop, fd, EPOLLIN, on_pid_exit, k, &k->pidfd_src, &e) == 0)
                        return;
                unwatch_pid(k);
                tf_error_free(TAKE_PTR(e));
        }
        if (tf_docker_container_wait_async(k->x->d, k->id, 0, on_waited, k, &k->waiter, &e) < 0)
                tf_log("warning: %s: %s", k->run->run_id, e->msg);
}

static void watch_exit(struct dkr *k) {
        _cleanup_error_ tf_error *e = NULL;
        if (k->watching_exit || k->gone_usec)
                return;
        k->watching_exit = true;
        if (tf_docker_container_inspect_async(k->x->d, k->id, on_stall_state, k, &k->waiter, &e) < 0)
                tf_log("warning: %s: %s", k->run->run_id, e->msg);
}

static void on_stall(tf_docker_call *c, bool ended, void *userdata) {
        struct dkr *k = userdata;
        k->stalled = true;
        if (ended) {
                /* The stream ends when the container's output closes, at its exit: the time of the end. */
                k->held_usec = tf_now(CLOCK_MONOTONIC);
                bound_flush(k);
        } else if (k->step == STEP_RUNNING)
                watch_exit(k);
}

static void on_stream_end(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep, void *userdata) {
        struct dkr *k = userdata;
        k->attach = NULL;
        if (k->step == STEP_ATTACH) {
                /* Never accepted: the attach itself failed. */
                tf_error *e = error_copy(err);
                if (r == 0)
                        tf_error_set(&e, EPROTO, "attach to container: the engine closed the stream at once");
                return fail(k, e);
        }
        if (r < 0)
                tf_log("warning: %s: output: %s", k->run->run_id, err->msg);
        if (rep->out_dropped || rep->err_dropped)
                tf_log("warning: %s: dropped %llu bytes of the container's stdout and %llu of its stderr: "
                       "nothing read them within %s of the run's end",
                       k->run->spec->name, (unsigned long long) rep->out_dropped,
                       (unsigned long long) rep->err_dropped, flush_bound_text(k));
        tf_docker_call_cancel(k->waiter);
        k->waiter = NULL;
        unwatch_pid(k);
        tf_source_remove(k->flush);
        k->flush = NULL;
        k->stream_end_usec = tf_now(CLOCK_MONOTONIC);
        if (k->gone_usec && k->gone_usec < k->stream_end_usec)
                k->stream_end_usec = k->gone_usec;
        if (k->held_usec && k->held_usec < k->stream_end_usec)
                k->stream_end_usec = k->held_usec;
        if (k->step == STEP_START) {
                k->stream_ended = true; /* read once start has answered */
                return;
        }
        read_exit(k);
}

/* ---- the run's other operations ---- */

static const char *step_what(const struct dkr *k, char *buf, size_t len) {
        const char *ref = k->run->spec->image;
        switch (k->step) {
        case STEP_CONNECT:
                snprintf(buf, len, "connecting to the Docker engine at unix://%s", tf_docker_socket_path(k->x->d));
                return buf;
        case STEP_SWEEP:
                return "removing containers left by an earlier tfrun";
        case STEP_IMAGE:
                snprintf(buf, len, "looking for image %s", ref);
                return buf;
        case STEP_PULL:
                snprintf(buf, len, "pulling image %s", ref);
                return buf;
        case STEP_CREATE:
                return "creating the container";
        case STEP_ATTACH:
                return "attaching to the container";
        default:
                return "starting the container";
        }
}

/* A timeout or a stop while starting: drop the call in flight; cleanup() removes what was made. */
static void docker_abort(struct tf_run *r) {
        struct dkr *k = r->backend;
        if (!k || k->step >= STEP_RUNNING)
                return;
        char buf[512];
        tf_error *e = NULL;
        tf_error_set(&e, ECANCELED, "%s: stopped while %s", r->spec->path, step_what(k, buf, sizeof(buf)));
        if (k->step == STEP_PULL && k->pull_tty)
                fputc('\n', stderr);
        unwind(k);
        tf_run_start_failed(r, e);
}

static int on_lost(struct tf_source *s, int fd, uint32_t events, void *userdata) {
        struct dkr *k = userdata;
        tf_source_remove(s);
        k->lost = NULL;
        if (k->step == STEP_RUNNING || (k->step == STEP_EXIT && !k->run->ended))
                lost(k, "the container did not end within 5 s of SIGKILL (is the Docker engine hung?)");
        return 0;
}

static int docker_signal(struct tf_run *r, int sig, bool all, tf_error **err) {
        struct dkr *k = r->backend;
        /* The same call either way: PID 1 is the main process, and when it dies of SIGKILL the kernel kills
         * the rest of the container's pid namespace. */
        if (!k || !k->id || k->exited || k->gone_usec || k->step < STEP_RUNNING || k->step == STEP_DONE)
                return 0;
        int ret = send_signal(k, sig, err);
        if (ret < 0)
                return ret;
        /* A kill the engine never carries out must not hold the run forever. */
        if (sig == SIGKILL && !k->lost) {
                _cleanup_error_ tf_error *e = NULL;
                if (tf_loop_add_timer(r->loop, CLOCK_MONOTONIC, tf_now(CLOCK_MONOTONIC) + LOST_USEC, on_lost, k,
                                      &k->lost, &e) < 0)
                        tf_log("warning: %s: %s", r->run_id, e->msg);
        }
        return 0;
}

static int docker_collect(struct tf_run *r, struct tf_run_result *res, bool *oom, tf_error **err) {
        struct dkr *k = r->backend;
        /* cpu, memory and pids peaks stay TF_UNSET: see the top of this file. */
        *oom = k && k->oom;
        if (k && k->oom_known)
                res->oom_kills = k->oom ? 1 : 0;
        return 0;
}

static void docker_cleanup(struct tf_run *r) {
        struct dkr *k = r->backend;
        if (!k)
                return;
        unwind(k);
        while (k->kills) {
                struct kill *kl = k->kills;
                k->kills = kl->next;
                tf_docker_call_cancel(kl->call);
                free(kl);
        }
        tf_source_remove(k->recheck);
        tf_source_remove(k->lost);
        tf_source_remove(k->flush);
        if (k->id)
                remove_later(k->x, TAKE_PTR(k->id), r->spec->name);
        tf_strv_free(k->stale_ids);
        tf_strv_free(k->stale_runs);
        tf_docker_state_done(&k->st);
        json_decref(k->body);
        free(k);
        r->backend = NULL;
}

/* --- the manager's sweep at start: one service's containers whose tfrun is gone, without a run --- */

static void sweeper_done(struct sweeper *w) {
        struct dctx *x = w->x;
        for (struct sweeper **p = &x->sweepers; *p; p = &(*p)->next_sweeper)
                if (*p == w) {
                        *p = w->next_sweeper;
                        break;
                }
        tf_loop_release(x->loop);
        sweeper_free(w);
}

static void sweeper_next(struct sweeper *w);

static void on_sweeper_removed(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep, void *userdata) {
        struct sweeper *w = userdata;
        const char *id = w->ids[w->next], *run = w->runs[w->next];
        w->call = NULL;
        if (r < 0 && err->code != ENOENT)
                tf_log("warning: %s: removing container %.12s left by run %s: %s", w->service, id, run, err->msg);
        else
                tf_log("%s: removed container %.12s left by run %s (its tfrun, pid %d, is gone)", w->service, id,
                       run, (int) run_label_pid(run, w->service));
        w->next++;
        sweeper_next(w);
}

static void sweeper_next(struct sweeper *w) {
        for (; w->ids && w->ids[w->next]; w->next++) {
                const char *id = w->ids[w->next], *run = w->runs[w->next];
                if (!is_stale(w->x, id, run, w->service))
                        continue;
                _cleanup_error_ tf_error *e = NULL;
                if (tf_docker_container_remove_async(w->x->d, id, true, 0, on_sweeper_removed, w, &w->call, &e) == 0)
                        return;
                tf_log("warning: %s: removing container %.12s left by run %s: %s", w->service, id, run, e->msg);
        }
        sweeper_done(w);
}

static void on_sweeper_listed(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep, void *userdata) {
        struct sweeper *w = userdata;
        w->call = NULL;
        if (r < 0) {
                tf_log("warning: %s: looking for containers left by an earlier tfrun: %s", w->service, err->msg);
                return sweeper_done(w);
        }
        w->ids = TAKE_PTR(rep->ids);
        w->runs = TAKE_PTR(rep->values);
        sweeper_next(w);
}

static void on_sweeper_connected(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep,
                                 void *userdata) {
        struct sweeper *w = userdata;
        w->call = NULL;
        _cleanup_error_ tf_error *e = NULL;
        if (r < 0) {
                tf_log("warning: %s: containers left by an earlier tfrun are not swept: %s", w->service, err->msg);
                return sweeper_done(w);
        }
        _cleanup_free_ char *label = tf_asprintf("tfrun.service=%s", w->service);
        if (tf_docker_container_list_labels_async(w->x->d, label, "tfrun.run", on_sweeper_listed, w, &w->call, &e) < 0) {
                tf_log("warning: %s: looking for containers left by an earlier tfrun: %s", w->service, e->msg);
                sweeper_done(w);
        }
}

static int docker_sweep(struct tf_run_ctx *ctx, const char *service, tf_error **err) {
        struct dctx *x = NULL;
        int r = dctx_get_ctx(ctx, &x, err);
        if (r < 0)
                return r;
        struct sweeper *w = tf_malloc0(sizeof(*w));
        w->x = x;
        w->service = tf_strdup(service);
        r = tf_docker_connect_async(x->d, on_sweeper_connected, w, &w->call, err);
        if (r < 0) {
                sweeper_free(w);
                return r;
        }
        /* The sweep finishes even when the manager is asked to stop meanwhile; its calls are bounded. */
        tf_loop_hold(x->loop);
        w->next_sweeper = x->sweepers;
        x->sweepers = w;
        return 0;
}

static const struct tf_backend_ops tf_docker_backend = {
        .name = "docker",
        .check = docker_check,
        .start = docker_start,
        .abort = docker_abort,
        .signal = docker_signal,
        .collect = docker_collect,
        .cleanup = docker_cleanup,
        .sweep = docker_sweep,
};

/* The module's one entry point (runner/modules.c); the version must match tfrun's exactly. */
__attribute__((visibility("default"))) const struct tf_backend_ops *tf_module_docker_backend(const char *version) {
        return streq(version, TF_VERSION) ? &tf_docker_backend : NULL;
}
