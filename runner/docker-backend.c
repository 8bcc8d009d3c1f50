/* SPDX-License-Identifier: MIT */
/*
 * The docker backend: the service as a container created through the Docker Engine API.
 *
 * Sequence: connect (version check), remove what a crashed tfrun left of this service, make sure the image
 * is there (pull when absent), create (labels tfrun.service and tfrun.run), attach, start. Attaching before
 * start is what makes the output complete however short the container's life (see docker/docker.h). The
 * attach stream is the one long-lived call: its socket and timer are sources of tfrun's event loop, so
 * timeouts and signals are handled while the container runs. The stream ends when the container has
 * exited; a short inspect then gives the exit code and OOMKilled. Every other call is blocking with the
 * client's timeout.
 *
 * What this backend cannot report: CPU time and peak memory. The engine removes the container's cgroup as
 * soon as its main process exits, before we learn of the exit, and GET /containers/{id}/stats of a
 * stopped container returns zeros. Polling stats while it runs would cost a call per interval and still
 * miss the peak, so these stay unknown ("-" in the summary, null in --json).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "base/cleanup.h"
#include "base/parse.h"
#include "base/strutil.h"
#include "docker/docker.h"
#include "runner/runner.h"
#include "runner/sandbox.h"

/* A pull runs before anything else of the run and blocks the loop; bound it. */
#define PULL_TIMEOUT_USEC (15 * 60 * UINT64_C(1000000))
/* After the output stream ended, how long the engine may take to record the exit. */
#define EXIT_WAIT_USEC (10 * UINT64_C(1000000))
#define MAX_WATCHES 8
/* See read_exit(): at most 10 x 20 ms, only for a SIGKILL under a memory limit. */
#define OOM_RECHECKS 10
#define OOM_EVENT_CHECKS 25 /* with OOM_RECHECK_USEC: about 1 s at most */
#define OOM_RECHECK_USEC 20000

struct watch {
        int fd;
        struct tf_source *src;
};

struct dkr {
        struct tf_run *run; /* borrowed: the run owns us */
        tf_docker *d;
        json_t *body; /* the create body, built (and limits refused) in check() */
        char *id;
        tf_docker_attach *attach;
        struct watch watches[MAX_WATCHES];
        size_t n_watches;
        struct tf_source *timer;
        bool exited, oom;
};

/* Containers this process created and has not removed yet: the stale sweep must not take a container of a
 * concurrent run of ours for one left by an earlier tfrun that had the same pid. */
static char **live_ids;

static void live_remove(const char *id) {
        for (size_t i = 0; live_ids && live_ids[i]; i++)
                if (streq(live_ids[i], id)) {
                        free(live_ids[i]);
                        size_t n = tf_strv_length(live_ids);
                        live_ids[i] = live_ids[n - 1];
                        live_ids[n - 1] = NULL;
                        return;
                }
}

static int docker_check(struct tf_run *r, tf_error **err) {
        const struct tf_spec *s = r->spec;
        struct dkr *k = tf_malloc0(sizeof(*k));
        k->run = r;
        r->backend = k;

        if (r->opts->cgroup_parent)
                return tf_error_set(err, EOPNOTSUPP,
                                    "%s: --cgroup-parent places native services; the Docker engine places "
                                    "containers in its own cgroups (drop the option or use backend: native)",
                                    s->path);
        /* Every refusal of a limit Docker cannot express happens here, before any call to the engine. */
        int ret = tf_docker_create_body(s, r->run_id, &k->body, err);
        if (ret < 0)
                return ret;
        /* The engine checks a profile's actions and architectures only when the container starts. */
        ret = tf_sandbox_check_seccomp_profile(s, err);
        if (ret < 0)
                return ret;
        return tf_docker_new(NULL, &k->d, err);
}

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

/* Containers of this service whose tfrun is gone (crashed, killed) are removed before the next run. Not
 * fatal: a failure here is logged and the run goes on. */
static void remove_stale(struct dkr *k, const struct tf_spec *s) {
        _cleanup_error_ tf_error *e = NULL;
        _cleanup_free_ char *label = tf_asprintf("tfrun.service=%s", s->name);
        _cleanup_strv_free_ char **ids = NULL, **runs = NULL;
        if (tf_docker_container_list_labels(k->d, label, "tfrun.run", &ids, &runs, &e) < 0) {
                tf_log("warning: %s: looking for containers left by an earlier tfrun: %s", s->name, e->msg);
                return;
        }
        for (size_t i = 0; ids[i]; i++) {
                pid_t pid = run_label_pid(runs[i], s->name);
                if (pid < 0)
                        continue;
                if (pid == getpid() ? tf_strv_contains(live_ids, ids[i]) : pid_is_tfrun(pid))
                        continue;
                if (tf_docker_container_remove(k->d, ids[i], true, &e) < 0 && e->code != ENOENT) {
                        tf_log("warning: %s: removing container %.12s left by run %s: %s", s->name, ids[i],
                               runs[i], e->msg);
                        e = tf_error_free(e);
                        continue;
                }
                e = tf_error_free(e);
                tf_log("%s: removed container %.12s left by run %s (its tfrun, pid %d, is gone)", s->name,
                       ids[i], runs[i], (int)pid);
        }
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

static int ensure_image(struct dkr *k, const char *ref, tf_error **err) {
        int ret = tf_docker_image_inspect(k->d, ref, NULL, err);
        if (ret != -ENOENT)
                return ret;
        tf_error_freep(err);
        bool tty = isatty(STDERR_FILENO);
        char last[256] = "";
        if (tty)
                fprintf(stderr, "tfrun: image %s is not present locally: pulling", ref);
        ret = tf_docker_image_pull(k->d, ref, tty ? on_pull : NULL, last, PULL_TIMEOUT_USEC, err);
        if (tty)
                fputc('\n', stderr);
        if (ret < 0)
                return tf_error_prefix(err, "image %s is not present locally and cannot be pulled", ref);
        return 0;
}

/* The engine's create warnings that say it dropped (or weakened) a limit, e.g. "Your kernel does not
 * support Block I/O weight or the cgroup is not mounted. Weight discarded." Others (networking notes) are
 * only passed on. */
static bool warning_drops_limit(const char *w) {
        return strstr(w, "does not support") || strstr(w, "discarded") || strstr(w, "imited without");
}

/* Docker CLI's rule for start failures that are the command's fault: 127 not found, 126 not executable. */
static int exec_failure_status(const char *msg) {
        if (strstr(msg, "executable file not found") || strstr(msg, "no such file or directory"))
                return 127;
        if (strstr(msg, "permission denied"))
                return 126;
        return 0;
}

/* ---- the attach stream in the loop ---- */

static void stream_ended(struct dkr *k);

static int on_stream_io(struct tf_source *s, int fd, uint32_t events, void *userdata) {
        struct dkr *k = userdata;
        _cleanup_error_ tf_error *e = NULL;
        int what = ((events & EPOLLIN) ? TF_DOCKER_WATCH_IN : 0) |
                   ((events & EPOLLOUT) ? TF_DOCKER_WATCH_OUT : 0) |
                   ((events & (EPOLLERR | EPOLLHUP)) ? TF_DOCKER_WATCH_ERR : 0);
        int r = tf_docker_attach_on_fd(k->attach, fd, what, &e);
        if (r < 0)
                tf_log("warning: %s: %s", k->run->run_id, e->msg);
        if (r != 0)
                stream_ended(k);
        return 0;
}

static int on_stream_timer(struct tf_source *s, int fd, uint32_t events, void *userdata) {
        struct dkr *k = userdata;
        _cleanup_error_ tf_error *e = NULL;
        int r = tf_docker_attach_on_timer(k->attach, &e);
        if (r < 0)
                tf_log("warning: %s: %s", k->run->run_id, e->msg);
        if (r != 0)
                stream_ended(k);
        return 0;
}

static int watch_fd(void *userdata, int fd, int what) {
        struct dkr *k = userdata;
        for (size_t i = 0; i < k->n_watches; i++)
                if (k->watches[i].fd == fd) {
                        tf_source_remove(k->watches[i].src);
                        k->watches[i] = k->watches[--k->n_watches];
                        break;
                }
        if (what == 0)
                return 0;
        if (k->n_watches == MAX_WATCHES)
                return -ENOSPC;
        uint32_t ev =
                ((what & TF_DOCKER_WATCH_IN) ? EPOLLIN : 0) | ((what & TF_DOCKER_WATCH_OUT) ? EPOLLOUT : 0);
        struct watch *w = &k->watches[k->n_watches];
        _cleanup_error_ tf_error *e = NULL;
        int r = tf_loop_add_io(k->run->loop, fd, ev, on_stream_io, k, &w->src, &e);
        if (r < 0)
                return r;
        w->fd = fd;
        k->n_watches++;
        return 0;
}

static int watch_timer(void *userdata, uint64_t at) {
        struct dkr *k = userdata;
        if (at == 0) {
                tf_source_remove(k->timer);
                k->timer = NULL;
                return 0;
        }
        if (k->timer)
                return tf_source_set_time(k->timer, at);
        _cleanup_error_ tf_error *e = NULL;
        return tf_loop_add_timer(k->run->loop, CLOCK_MONOTONIC, at, on_stream_timer, k, &k->timer, &e);
}

static void unwatch_all(struct dkr *k) {
        for (size_t i = 0; i < k->n_watches; i++)
                tf_source_remove(k->watches[i].src);
        k->n_watches = 0;
        tf_source_remove(k->timer);
        k->timer = NULL;
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

static int read_exit(struct dkr *k, int *ret_code, int *ret_status, tf_error **err) {
        struct tf_docker_state st;
        int r = tf_docker_container_inspect(k->d, k->id, &st, err);
        if (r < 0)
                return r;
        if (st.running) {
                /* The engine closes the stream a moment before it records the exit. */
                tf_docker_state_done(&st);
                r = tf_docker_container_wait(k->d, k->id, EXIT_WAIT_USEC, NULL, err);
                if (r == -ETIMEDOUT)
                        return tf_error_set(
                                err, EIO,
                                "the container's output stream ended but the container still runs");
                if (r < 0)
                        return r;
                r = tf_docker_container_inspect(k->d, k->id, &st, err);
                if (r < 0)
                        return r;
        }
        /* The shim reports the OOM kill and the exit on separate paths, so the engine may record the exit
         * first and set OOMKilled a few milliseconds later. A SIGKILL under a memory limit is worth a short
         * second look; `docker inspect` right after `docker wait` has the same race. */
        const struct tf_limits *l = &k->run->spec->limits;
        bool mem_limited = l->memory != TF_UNSET && l->memory != TF_LIMIT_MAX;
        for (unsigned i = 0;
             i < OOM_RECHECKS && mem_limited && !st.oom_killed && st.exit_code == 128 + SIGKILL; i++) {
                usleep(OOM_RECHECK_USEC);
                struct tf_docker_state again;
                if (tf_docker_container_inspect(k->d, k->id, &again, NULL) < 0)
                        break;
                tf_docker_state_done(&st);
                st = again;
        }
        /* Still no flag: the OOM event may have reached the engine after the exit, in which case only the
         * engine's event log knows (see tf_docker_container_oom_event()). */
        bool oom = st.oom_killed;
        int64_t since = (int64_t) (k->run->result.start_realtime_usec / 1000000) - 1;
        for (unsigned i = 0; i < OOM_EVENT_CHECKS && mem_limited && !oom && st.exit_code == 128 + SIGKILL; i++) {
                int found = 0;
                if (tf_docker_container_oom_event(k->d, k->id, since, (int64_t) time(NULL), &found, NULL) < 0)
                        break;
                oom = found;
                if (!oom)
                        usleep(OOM_RECHECK_USEC);
        }
        if (st.error)
                tf_log("%s: the engine reports: %s", k->run->spec->name, st.error);
        k->oom = oom;
        exit_to_wait(st.exit_code, ret_code, ret_status);
        tf_docker_state_done(&st);
        return 0;
}

static void stream_ended(struct dkr *k) {
        struct tf_run *r = k->run;
        _cleanup_error_ tf_error *e = NULL;
        int code = CLD_EXITED, status = 125;

        unwatch_all(k);
        if (tf_docker_attach_result(k->attach, &e) < 0) {
                tf_log("warning: %s: output: %s", r->run_id, e->msg);
                e = tf_error_free(e);
        }
        if (read_exit(k, &code, &status, &e) < 0) {
                /* tfrun lost track of the container: that is tfrun's failure (125), and the container goes.
                 */
                tf_log("%s: %s", r->spec->name, e->msg);
                e = tf_error_free(e);
                if (tf_docker_container_kill(k->d, k->id, SIGKILL, &e) < 0)
                        tf_log("warning: %s", e->msg);
                code = CLD_EXITED;
                status = 125;
        }
        k->exited = true;
        /* Last: this may finish the run, clean us up and free r. */
        tf_run_child_exited(r, code, status);
}

static int start_container(struct tf_run *r, tf_error **err) {
        const struct tf_spec *s = r->spec;
        struct dkr *k = r->backend;
        int ret = tf_docker_connect(k->d, err);
        if (ret < 0)
                return ret;
        remove_stale(k, s);
        ret = ensure_image(k, s->image, err);
        if (ret < 0)
                return ret;

        _cleanup_free_ char *name = tf_asprintf("tfrun-%s", r->run_id);
        _cleanup_strv_free_ char **warnings = NULL;
        ret = tf_docker_container_create(k->d, name, k->body, &k->id, &warnings, err);
        if (ret < 0)
                return ret;
        tf_strv_push(&live_ids, k->id);
        for (size_t i = 0; warnings && warnings[i]; i++) {
                if (warning_drops_limit(warnings[i]))
                        /* Never run with less than the spec asked for; cleanup() removes the container. */
                        return tf_error_set(err, EOPNOTSUPP,
                                            "%s: the Docker engine would drop a limit of this spec: \"%s\" "
                                            "(remove the limit or use backend: native)",
                                            s->path, warnings[i]);
                tf_log("%s: engine warning: %s", s->name, warnings[i]);
        }

        ret = tf_docker_attach_begin(k->d, k->id, STDOUT_FILENO, STDERR_FILENO, &k->attach, err);
        if (ret < 0)
                return ret;
        ret = tf_docker_container_start(k->d, k->id, err);
        if (ret < 0) {
                int st = exec_failure_status((*err)->msg);
                if (st) {
                        _cleanup_free_ char *msg = tf_strdup((*err)->msg);
                        tf_error_freep(err);
                        tf_run_exec_failed(r, st, msg);
                        return 0;
                }
                return ret;
        }
        struct tf_docker_watch w = {.fd = watch_fd, .timer = watch_timer, .userdata = k};
        ret = tf_docker_attach_watch(k->attach, &w, err);
        if (ret == 0)
                tf_run_started(r);
        return ret;
}

static int docker_start(struct tf_run *r, tf_error **err) {
        int ret = start_container(r, err);
        if (ret < 0 && !tf_startswith((*err)->msg, r->spec->path))
                return tf_error_prefix(err, "%s", r->spec->path);
        return ret;
}

static int docker_signal(struct tf_run *r, int sig, bool all, tf_error **err) {
        struct dkr *k = r->backend;
        /* The same call either way: PID 1 is the main process, and when it dies of SIGKILL the kernel kills
         * the rest of the container's pid namespace. */
        if (!k || !k->id || k->exited)
                return 0;
        return tf_docker_container_kill(k->d, k->id, sig, err);
}

static int docker_collect(struct tf_run *r, struct tf_run_result *res, bool *oom, tf_error **err) {
        struct dkr *k = r->backend;
        /* cpu, memory and pids peaks stay TF_UNSET: see the top of this file. */
        *oom = k && k->oom;
        return 0;
}

static void docker_cleanup(struct tf_run *r) {
        struct dkr *k = r->backend;
        if (!k)
                return;
        /* First: freeing the transfer calls watch_fd() to drop its sources. */
        tf_docker_attach_free(k->attach);
        k->attach = NULL;
        unwatch_all(k);
        if (k->id) {
                _cleanup_error_ tf_error *e = NULL;
                if (tf_docker_container_remove(k->d, k->id, true, &e) < 0 && e->code != ENOENT)
                        tf_log("warning: %s: remove container %.12s: %s", r->spec->name, k->id, e->msg);
                live_remove(k->id);
                free(k->id);
        }
        tf_docker_free(k->d);
        json_decref(k->body);
        free(k);
        r->backend = NULL;
        if (live_ids && !live_ids[0]) {
                free(live_ids);
                live_ids = NULL;
        }
}

static const struct tf_backend_ops tf_docker_backend = {
        .name = "docker",
        .check = docker_check,
        .start = docker_start,
        .signal = docker_signal,
        .collect = docker_collect,
        .cleanup = docker_cleanup,
};

/* The module's one entry point (runner/modules.c); the version must match tfrun's exactly. */
__attribute__((visibility("default"))) const struct tf_backend_ops *tf_module_docker_backend(const char *version) {
        return streq(version, TF_VERSION) ? &tf_docker_backend : NULL;
}
