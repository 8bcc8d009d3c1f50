/* SPDX-License-Identifier: MIT */
/*
 * The swarm backend: each run is one Docker Swarm service in replicated-job mode (one task, restart
 * condition none: tfrun's own restart policy decides retries), created through the swarm manager that
 * DOCKER_HOST names, labelled tfrun.service and tfrun.run.
 *
 * Sequence: connect (version check), build the service body for the engine's API version (what it cannot
 * express is refused here, before anything is created: docker/swarm.c), create, then two things at once:
 * the task's logs, followed (GET /services/{id}/logs?follow=1, frames as attach's), and the task's status,
 * polled (GET /tasks?filters={"service":[id]} every POLL_USEC: API 1.41 has no task events). The run is
 * RUNNING once the task runs. When the task is in a final state the follow stream is dropped and the logs
 * are read once more without follow, skipping what the stream gave already, so that the output is
 * complete even when the log broker lagged behind the task's end (a follow stream never ends by itself for
 * a job that has completed). Then the exit is read from the task's Status: ContainerStatus.ExitCode, State
 * failed/complete, Err; the service is removed (its DELETE goes on after the run, holding the loop).
 *
 * OOM kills: the task's status has no OOM flag. When the exit is 137 under a memory limit and tfrun did not
 * kill it, the container is inspected through the manager's engine (a task on the manager's own node: its
 * State.OOMKilled is read); a task on another node's engine cannot be inspected from here, and such an
 * exit is counted as an OOM kill, said in a log line.
 *
 * Stop and timeout: a Swarm task cannot be signalled through the service API, so any stop removes the
 * service: the node's agent stops the container with the spec's stop signal and, after its grace
 * (ContainerSpec.StopSignal, StopGracePeriod), SIGKILL. The run ends once the service has no task left.
 * Other forwarded signals cannot be delivered and are refused with a warning.
 *
 * A node lost: while the task runs its node is read once a second (GET /nodes/{id}); a node the swarm
 * marks down ends the run as node-lost (the task would stay "running" in the manager's records, and its
 * logs never come). The last logs of an ended task are waited for at most TAIL_USEC.
 *
 * Other nodes' engines (ctx->swarm_nodes, `tfrun up --swarm-node`): each is asked for its node id; a
 * task's exited container is removed, and its OOM kill read, through its own node's engine, and the
 * manager's sweep removes the exited containers lost runs left there.
 *
 * Nothing here blocks tfrun's loop: every Engine API call is an asynchronous call of docker/.
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
#include "base/strutil.h"
#include "base/timeutil.h"
#include "docker/docker.h"
#include "runner/outlog.h"
#include "runner/runner.h"
#include "spec/limits.h"

/* The task's status is polled this often. */
#define POLL_USEC (100 * UINT64_C(1000))
/* The DELETE of a service at the end of a run, which tfrun waits for before it exits. */
#define REMOVE_TIMEOUT_USEC (10 * UINT64_C(1000000))
/* After a stop removed the service, how long its task may take to go, beyond the stop grace. */
#define GONE_USEC (10 * UINT64_C(1000000))
/* How often the node of a running task is asked for (GET /nodes/{id}): a node that went down leaves its
 * task "running" in the manager's records for good (until it is orphaned, after 24 h), so its state is the
 * only sign. */
#define NODE_CHECK_USEC (1000 * UINT64_C(1000))
/* The last logs of a task once it ended: a node that went away may never send them. */
#define TAIL_USEC (5 * UINT64_C(1000000))
/* An id as the engine makes them (25 lower-case alphanumerics); bounded before a path is built with it. */
#define ID_MAX 64

struct watch {
        int fd;
        struct tf_source *src;
};

/* One engine client with its watches on the loop: the swarm manager's, or another node's. */
struct engine {
        struct tf_loop *loop; /* borrowed */
        tf_docker *d;
        struct watch *watches;
        size_t n_watches;
        struct tf_source *timer;
        /* A node's engine (not the manager's): its address as given, and its node id once GET /info
         * answered (NULL until then, or when it is not part of the swarm). */
        char *host;
        char *node_id;
        tf_docker_call *call;
};

struct removal {
        struct sctx *x;
        char *id, *name;
        char *container; /* the task's container, removed after the service (see remove_later()) */
        char *node;      /* the node it ran on */
        tf_docker_call *call;
        struct removal *next;
};

struct sweeper {
        struct sctx *x;
        char *service;
        char **ids, **runs;
        json_t **specs;  /* each service's Spec, with the stop constraint added (stop_spec()) */
        long long *versions;
        size_t next;
        tf_docker_call *call;
        struct sweeper *next_sweeper;
};

/* The exited task containers one service's lost runs left on a --swarm-node engine (see csweep_begin()). */
struct csweep {
        struct sctx *x;
        struct engine *g;
        char *service;
        char **ids, **runs;
        size_t next;
        tf_docker_call *call;
        struct csweep *next_csweep;
};

/* The process-wide state: ctx->backend_state[TF_RUN_CTX_SWARM]. */
struct sctx {
        struct tf_loop *loop; /* borrowed */
        tf_docker *d;         /* mgr.d */
        struct engine mgr;
        struct engine *nodes; /* the engines of other nodes (--swarm-node) */
        size_t n_nodes;
        char **live_ids; /* services this process created and has not removed yet */
        struct removal *removals;
        struct sweeper *sweepers;
        struct csweep *csweeps;
};

enum step {
        STEP_CONNECT,
        STEP_CREATE,
        STEP_WAIT,     /* created: polling until the task runs */
        STEP_RUNNING,  /* the task runs */
        STEP_TAIL,     /* the task ended: the rest of its logs */
        STEP_EXIT,     /* reading an OOM kill on the manager's node */
        STEP_STOPPING, /* tfrun stopped the task (service update): until it is over, then the DELETE */
        STEP_DONE,
};

struct swr {
        struct tf_run *run; /* borrowed */
        struct sctx *x;     /* borrowed */
        json_t *body;
        char *id; /* the service */
        enum step step;
        tf_docker_call *call;    /* the sequence's call in flight */
        tf_docker_call *logs;    /* the followed logs */
        tf_docker_call *poll;    /* a tasks list in flight */
        tf_docker_call *rm;      /* the stop's DELETE */
        struct tf_source *timer; /* the next poll */
        tf_docker_call *node_call;   /* GET /nodes/{id} of the task's node */
        uint64_t node_checked;       /* when node_call was last sent (CLOCK_MONOTONIC) */
        struct tf_source *tail_timer; /* bounds STEP_TAIL */
        uint64_t bytes[3];       /* payload delivered per stream */
        int stop_sig;
        uint64_t stop_deadline;
        bool aborting; /* the stop came while starting: the run ends as a start failure */
        bool deleting; /* the stop's DELETE was sent */
        char *task_id; /* the task, once seen */
        bool removed;  /* the service is deleted (a stop): cleanup has nothing to remove */
        bool oom, oom_known;
        /* The task's final status. */
        char *state, *task_err, *node_id, *container_id;
        int exit_code;
        bool have_exit_code;
};

/* ---- the process-wide state (as docker-backend.c's) ---- */

static void live_remove(struct sctx *x, const char *id) {
        for (size_t i = 0; x->live_ids && x->live_ids[i]; i++)
                if (streq(x->live_ids[i], id)) {
                        free(x->live_ids[i]);
                        size_t n = tf_strv_length(x->live_ids);
                        x->live_ids[i] = x->live_ids[n - 1];
                        x->live_ids[n - 1] = NULL;
                        break;
                }
}

static int on_client_io(struct tf_source *s, int fd, uint32_t events, void *userdata) {
        struct engine *g = userdata;
        _cleanup_error_ tf_error *e = NULL;
        int what = ((events & EPOLLIN) ? TF_DOCKER_WATCH_IN : 0) |
                   ((events & EPOLLOUT) ? TF_DOCKER_WATCH_OUT : 0) |
                   ((events & (EPOLLERR | EPOLLHUP)) ? TF_DOCKER_WATCH_ERR : 0);
        if (tf_docker_on_fd(g->d, fd, what, &e) < 0)
                tf_log("warning: %s", e->msg);
        return 0;
}

static int on_client_timer(struct tf_source *s, int fd, uint32_t events, void *userdata) {
        struct engine *g = userdata;
        _cleanup_error_ tf_error *e = NULL;
        if (tf_docker_on_timer(g->d, &e) < 0)
                tf_log("warning: %s", e->msg);
        return 0;
}

static int watch_fd(void *userdata, int fd, int what) {
        struct engine *g = userdata;
        for (size_t i = 0; i < g->n_watches; i++)
                if (g->watches[i].fd == fd) {
                        tf_source_remove(g->watches[i].src);
                        g->watches[i] = g->watches[--g->n_watches];
                        break;
                }
        if (what == 0)
                return 0;
        uint32_t ev =
                ((what & TF_DOCKER_WATCH_IN) ? EPOLLIN : 0) | ((what & TF_DOCKER_WATCH_OUT) ? EPOLLOUT : 0);
        _cleanup_error_ tf_error *e = NULL;
        struct tf_source *src;
        int r = tf_loop_add_io(g->loop, fd, ev, on_client_io, g, &src, &e);
        if (r < 0)
                return r;
        g->watches = tf_realloc(g->watches, (g->n_watches + 1) * sizeof(*g->watches));
        g->watches[g->n_watches++] = (struct watch){.fd = fd, .src = src};
        return 0;
}

static int watch_timer(void *userdata, uint64_t at) {
        struct engine *g = userdata;
        if (at == 0) {
                tf_source_remove(g->timer);
                g->timer = NULL;
                return 0;
        }
        if (g->timer)
                return tf_source_set_time(g->timer, at);
        _cleanup_error_ tf_error *e = NULL;
        return tf_loop_add_timer(g->loop, CLOCK_MONOTONIC, at, on_client_timer, g, &g->timer, &e);
}

/* A client for host on the loop (nothing sent yet). */
static int engine_init(struct engine *g, struct tf_loop *loop, const char *host, tf_error **err) {
        *g = (struct engine){.loop = loop};
        int r = tf_docker_new(host, &g->d, err);
        if (r < 0)
                return r;
        return tf_docker_watch(
                g->d, &(struct tf_docker_watch){.fd = watch_fd, .timer = watch_timer, .userdata = g}, err);
}

static void engine_done(struct engine *g) {
        tf_docker_call_cancel(g->call);
        g->call = NULL;
        g->d = g->d ? tf_docker_free(g->d) : NULL;
        for (size_t i = 0; i < g->n_watches; i++)
                tf_source_remove(g->watches[i].src);
        free(g->watches);
        g->watches = NULL;
        g->n_watches = 0;
        tf_source_remove(g->timer);
        g->timer = NULL;
        free(g->host);
        free(g->node_id);
}

/* The engine of the node with this id, if tfrun was given it (--swarm-node); else NULL. */
static struct engine *node_engine(struct sctx *x, const char *node_id) {
        for (size_t i = 0; node_id && i < x->n_nodes; i++)
                if (x->nodes[i].node_id && streq(x->nodes[i].node_id, node_id))
                        return &x->nodes[i];
        return NULL;
}

static void on_node_info(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep,
                         void *userdata) {
        struct engine *g = userdata;
        g->call = NULL;
        const char *id = json_string_value(
                json_object_get(json_object_get(rep ? rep->json : NULL, "Swarm"), "NodeID"));
        if (r < 0 || !id || !*id) {
                tf_log("warning: swarm node engine %s: %s", g->host,
                       r < 0 ? err->msg : "not part of a swarm (its GET /info has no Swarm.NodeID)");
                return;
        }
        g->node_id = tf_strdup(id);
}

static void sweeper_free(struct sweeper *w) {
        for (size_t i = 0; w->specs && w->ids && w->ids[i]; i++)
                json_decref(w->specs[i]);
        free(w->specs);
        free(w->versions);
        tf_strv_free(w->ids);
        tf_strv_free(w->runs);
        free(w->service);
        free(w);
}

static void removal_free(struct removal *m);

static void csweep_free(struct csweep *w) {
        tf_docker_call_cancel(w->call);
        tf_strv_free(w->ids);
        tf_strv_free(w->runs);
        free(w->service);
        free(w);
}

static void sctx_free(void *p) {
        struct sctx *x = p;
        while (x->csweeps) {
                struct csweep *w = x->csweeps;
                x->csweeps = w->next_csweep;
                tf_loop_release(x->loop);
                csweep_free(w);
        }
        engine_done(&x->mgr);
        for (size_t i = 0; i < x->n_nodes; i++)
                engine_done(&x->nodes[i]);
        free(x->nodes);
        x->d = NULL;
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
                removal_free(m);
        }
        tf_strv_free(x->live_ids);
        free(x);
}

static int sctx_get(struct tf_run_ctx *ctx, struct sctx **ret, tf_error **err) {
        if (ctx->backend_state[TF_RUN_CTX_SWARM]) {
                *ret = ctx->backend_state[TF_RUN_CTX_SWARM];
                return 0;
        }
        struct sctx *x = tf_malloc0(sizeof(*x));
        x->loop = ctx->loop;
        int r = engine_init(&x->mgr, ctx->loop, ctx->swarm_host, err);
        if (r < 0) {
                sctx_free(x);
                return r;
        }
        x->d = x->mgr.d;
        size_t n = ctx->swarm_nodes ? tf_strv_length((char **)ctx->swarm_nodes) : 0;
        /* Not moved once made: each engine is its watches' userdata. */
        x->nodes = tf_malloc0((n + 1) * sizeof(*x->nodes));
        for (size_t i = 0; i < n; i++) {
                struct engine *g = &x->nodes[x->n_nodes];
                _cleanup_error_ tf_error *e = NULL;
                if (engine_init(g, ctx->loop, ctx->swarm_nodes[i], &e) < 0 ||
                    tf_docker_request_async(g->d, "read the node's swarm id", "GET", "/info", NULL, 0,
                                            on_node_info, g, &g->call, &e) < 0) {
                        tf_log("warning: swarm node engine %s: %s", ctx->swarm_nodes[i], e->msg);
                        engine_done(g);
                        continue;
                }
                g->host = tf_strdup(ctx->swarm_nodes[i]);
                x->n_nodes++;
        }
        ctx->backend_state[TF_RUN_CTX_SWARM] = x;
        ctx->backend_state_free[TF_RUN_CTX_SWARM] = sctx_free;
        *ret = x;
        return 0;
}

static bool id_ok(const char *id) {
        size_t n = id ? strlen(id) : 0;
        if (n == 0 || n > ID_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9')))
                        return false;
        return true;
}

static void removal_free(struct removal *m) {
        free(m->id);
        free(m->name);
        free(m->container);
        free(m->node);
        free(m);
}

static void on_removed(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep,
                       void *userdata) {
        struct removal *m = userdata;
        struct sctx *x = m->x;
        if (m->id) {
                if (r < 0 && err->code != ENOENT)
                        tf_log("warning: %s: remove swarm service %.12s: %s", m->name, m->id, err->msg);
                live_remove(x, m->id);
                m->id = (free(m->id), NULL);
                _cleanup_error_ tf_error *e = NULL;
                struct engine *g = node_engine(x, m->node);
                if (m->container &&
                    tf_docker_container_remove_async(g ? g->d : x->d, m->container, true, REMOVE_TIMEOUT_USEC,
                                                     on_removed, m, &m->call, &e) == 0)
                        return;
        }
        /* ENOENT: the container is on another node's engine that tfrun was not given (see
         * remove_later()). */
        for (struct removal **p = &x->removals; *p; p = &(*p)->next)
                if (*p == m) {
                        *p = m->next;
                        break;
                }
        tf_loop_release(x->loop);
        removal_free(m);
}

static int service_delete(struct sctx *x, const char *id, tf_docker_done_fn done, void *userdata,
                          tf_docker_call **ret, tf_error **err) {
        _cleanup_free_ char *path = tf_asprintf("/services/%s", id);
        return tf_docker_request_async(x->d, "remove swarm service", "DELETE", path, NULL,
                                       REMOVE_TIMEOUT_USEC, done, userdata, ret, err);
}

/* The service's DELETE, owned by the process: it outlives the run. Takes id.
 *
 * A job's finished task keeps its container on its node after `service rm` (moby does not remove the
 * containers of completed job tasks, and its task reaper keeps a job's task records whatever the task
 * history limit): the container is removed afterwards through its node's engine when tfrun was given it
 * (--swarm-node), else through the manager's engine, which has it when the task ran on the manager's own
 * node; on another node that engine answers 404 and the exited container stays there (docs/spec.md). */
static void remove_later(struct sctx *x, char *id, const char *container, const char *node,
                         const char *name) {
        _cleanup_error_ tf_error *e = NULL;
        struct removal *m = tf_malloc0(sizeof(*m));
        *m = (struct removal){.x = x,
                              .id = id,
                              .name = tf_strdup(name),
                              .container = container && id_ok(container) ? tf_strdup(container) : NULL,
                              .node = node ? tf_strdup(node) : NULL};
        if (service_delete(x, id, on_removed, m, &m->call, &e) < 0) {
                tf_log("warning: %s: remove swarm service %.12s: %s", name, id, e->msg);
                live_remove(x, id);
                removal_free(m);
                return;
        }
        m->next = x->removals;
        x->removals = m;
        tf_loop_hold(x->loop);
}

/* ---- check ---- */

/* The API's minor version ("1.41" -> 41). */
static int api_minor(const char *v) {
        const char *dot = v ? strchr(v, '.') : NULL;
        return dot ? atoi(dot + 1) : 0;
}

static int swarm_check(struct tf_run *r, tf_error **err) {
        const struct tf_spec *s = r->spec;
        struct swr *k = tf_malloc0(sizeof(*k));
        k->run = r;
        r->backend = k;
        if (r->opts->cgroup_parent)
                return tf_error_set(
                        err, EOPNOTSUPP,
                        "%s: --cgroup-parent places native services; a swarm node's engine places "
                        "tasks in its own cgroups (drop the option or use backend: native)",
                        s->path);
        /* Before the engine is asked: what no API version tfrun speaks can express. The body is built again
         * for the engine's own version once connected, still before anything is created. */
        int ret = tf_docker_service_body(s, r->run_id, 0, &k->body, err);
        if (ret < 0)
                return ret;
        return sctx_get(r->ctx, &k->x, err);
}

/* ---- the run ---- */

static tf_error *error_copy(const tf_error *e) {
        tf_error *c = NULL;
        tf_error_set(&c, e ? e->code : EIO, "%s", e && e->msg ? e->msg : "start failed");
        return c;
}

static void unwind(struct swr *k) {
        tf_docker_call_cancel(k->call);
        k->call = NULL;
        tf_docker_call_cancel(k->logs);
        k->logs = NULL;
        tf_docker_call_cancel(k->poll);
        k->poll = NULL;
        tf_source_remove(k->timer);
        k->timer = NULL;
        tf_docker_call_cancel(k->node_call);
        k->node_call = NULL;
        tf_source_remove(k->tail_timer);
        k->tail_timer = NULL;
        k->step = STEP_DONE;
}

static void fail(struct swr *k, tf_error *e) {
        struct tf_run *r = k->run;
        unwind(k);
        if (!tf_startswith(e->msg, r->spec->path))
                tf_error_prefix(&e, "%s", r->spec->path);
        tf_run_start_failed(r, e);
}

static void on_output(void *userdata, int stream, const uint8_t *p, size_t n) {
        struct swr *k = userdata;
        if (stream == 1 || stream == 2)
                k->bytes[stream] += n;
        if (k->run->outlog)
                tf_outlog_feed(k->run->outlog, stream, p, n);
}

static bool output_to_fds(const struct swr *k) {
        return !k->run->outlog || tf_outlog_echo_raw(k->run->outlog);
}

static void on_logs_end(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep,
                        void *userdata) {
        struct swr *k = userdata;
        k->logs = NULL;
        /* Not fatal: the logs are read again at the task's end. */
        if (r < 0)
                tf_log("warning: %s: following the task's logs: %s", k->run->run_id, err->msg);
}

static void schedule_poll(struct swr *k);
static void report_exit(struct swr *k);

static void on_oom_inspected(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep,
                             void *userdata) {
        struct swr *k = userdata;
        k->call = NULL;
        if (r == 0) {
                k->oom = rep->state.oom_killed;
                k->oom_known = true;
        } else {
                /* Another node's container: this engine cannot see it. */
                k->oom = true;
                tf_log("%s: exit 137 under limits.memory on node %.12s, whose engine tfrun cannot ask "
                       "(--swarm-node gives it): counted as an OOM kill (a Swarm task's status has no OOM "
                       "flag)",
                       k->run->run_id, k->node_id ? k->node_id : "?");
        }
        report_exit(k);
}

static void report_exit(struct swr *k) {
        struct tf_run *r = k->run;
        const struct tf_spec *s = r->spec;
        if (k->step != STEP_EXIT && k->exit_code == 137 && tf_limit_is_finite(s->limits.memory) &&
            r->stopping == TF_REASON_NONE && k->container_id && id_ok(k->container_id)) {
                _cleanup_error_ tf_error *e = NULL;
                k->step = STEP_EXIT;
                struct engine *g = node_engine(k->x, k->node_id);
                if (tf_docker_container_inspect_async(g ? g->d : k->x->d, k->container_id, on_oom_inspected,
                                                      k, &k->call, &e) == 0)
                        return;
        }
        k->step = STEP_DONE;
        if (r->state == TF_RUN_STARTING)
                tf_run_started(r);
        int code = CLD_EXITED, status = k->exit_code;
        if (k->exit_code > 128 && k->exit_code < 128 + 65) {
                code = CLD_KILLED;
                status = k->exit_code - 128;
        }
        if (k->oom)
                k->oom_known = true;
        tf_run_child_exited(r, code, status);
}

static void on_tail_end(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep,
                        void *userdata) {
        struct swr *k = userdata;
        k->call = NULL;
        tf_source_remove(k->tail_timer);
        k->tail_timer = NULL;
        if (r < 0)
                tf_log("warning: %s: reading the task's logs: %s", k->run->run_id, err->msg);
        report_exit(k);
}

static int on_tail_timeout(struct tf_source *s, int fd, uint32_t events, void *userdata) {
        struct swr *k = userdata;
        tf_source_remove(s);
        k->tail_timer = NULL;
        tf_docker_call_cancel(k->call);
        k->call = NULL;
        tf_log("warning: %s: the task's last logs did not come within %llu s (its node %.12s may be gone): "
               "the run's log may lack its end",
               k->run->run_id, (unsigned long long)(TAIL_USEC / 1000000), k->node_id ? k->node_id : "?");
        report_exit(k);
        return 0;
}

/* The task reached a final state: its last logs, then its exit. */
static void task_ended(struct swr *k) {
        struct tf_run *r = k->run;
        tf_docker_call_cancel(k->logs);
        k->logs = NULL;
        bool ran = k->container_id && *k->container_id;
        if (!ran) {
                /* Never got a container: a node refused it (image absent, placement impossible ...). */
                tf_error *e = NULL;
                tf_error_set(&e, EIO, "swarm task %s: %s", k->state ? k->state : "ended",
                             k->task_err ? k->task_err : "no reason given");
                return fail(k, e);
        }
        if (!k->have_exit_code && k->task_err) {
                /* "starting container failed: ... executable file not found": the command's fault. */
                int st = strstr(k->task_err, "executable file not found") ||
                                         strstr(k->task_err, "no such file or directory")
                                 ? 127
                         : strstr(k->task_err, "permission denied") ? 126
                                                                    : 0;
                if (st && r->state == TF_RUN_STARTING) {
                        unwind(k);
                        return tf_run_exec_failed(r, st, k->task_err);
                }
        }
        _cleanup_error_ tf_error *e = NULL;
        k->step = STEP_TAIL;
        bool fds = output_to_fds(k);
        if (tf_docker_service_logs_async(k->x->d, k->id, false, k->bytes[1], k->bytes[2],
                                         fds ? STDOUT_FILENO : -1, fds ? STDERR_FILENO : -1, on_output, k,
                                         on_tail_end, k, &k->call, &e) < 0) {
                tf_log("warning: %s: reading the task's logs: %s", r->run_id, e->msg);
                return report_exit(k);
        }
        if (tf_loop_add_timer(r->loop, CLOCK_MONOTONIC, tf_now(CLOCK_MONOTONIC) + TAIL_USEC, on_tail_timeout,
                              k, &k->tail_timer, &e) < 0)
                tf_log("warning: %s: %s", r->run_id, e->msg);
}

static bool state_final(const char *s) {
        static const char *const final[] = {"complete", "failed",   "rejected",
                                            "shutdown", "orphaned", "remove"};
        for (size_t i = 0; i < ELEMENTSOF(final); i++)
                if (streq(s, final[i]))
                        return true;
        return false;
}

static void set_str(char **p, const char *v) {
        free(*p);
        *p = v && *v ? tf_strdup(v) : NULL;
}

static void stopping_tasks(struct swr *k, json_t *tasks);
static void stop_delete(struct swr *k);

/* The task's node answered: a node that is down (or unknown, disconnected) ends the run now, as lost: its
 * task would stay "running" in the manager's records, and its logs never come. */
static void on_node(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep, void *userdata) {
        struct swr *k = userdata;
        k->node_call = NULL;
        if (r < 0) {
                /* The manager that does not answer is the poll's business. */
                return;
        }
        json_t *st = json_object_get(rep->json, "Status");
        const char *state = json_string_value(json_object_get(st, "State"));
        if (!state || !(streq(state, "down") || streq(state, "unknown") || streq(state, "disconnected")))
                return;
        if (k->step != STEP_WAIT && k->step != STEP_RUNNING)
                return;
        json_t *desc = json_object_get(rep->json, "Description");
        const char *host = json_string_value(json_object_get(desc, "Hostname"));
        const char *addr = json_string_value(json_object_get(st, "Addr"));
        const char *why = json_string_value(json_object_get(st, "Message"));
        _cleanup_free_ char *msg = tf_asprintf(
                "swarm node %s (hostname %s, address %s) is %s (%s) while task %.12s %s on it: the run's "
                "end is unknown; its service is removed, and what the task left there stays on that node",
                k->node_id, host ? host : "?", addr ? addr : "?", state, why && *why ? why : "no message",
                k->task_id ? k->task_id : "?", k->step == STEP_RUNNING ? "ran" : "was starting");
        struct tf_run *run = k->run;
        unwind(k);
        if (run->state == TF_RUN_STARTING) {
                tf_error *e = NULL;
                tf_error_set(&e, EHOSTDOWN, "%s", msg);
                return fail(k, e);
        }
        tf_run_lost(run, msg);
}

static void check_node(struct swr *k) {
        uint64_t now = tf_now(CLOCK_MONOTONIC);
        if (k->node_call || !id_ok(k->node_id) || now - k->node_checked < NODE_CHECK_USEC)
                return;
        k->node_checked = now;
        _cleanup_error_ tf_error *e = NULL;
        _cleanup_free_ char *path = tf_asprintf("/nodes/%s", k->node_id);
        if (tf_docker_request_async(k->x->d, "read the task's node", "GET", path, NULL, 0, on_node, k,
                                    &k->node_call, &e) < 0)
                tf_log("warning: %s: %s", k->run->run_id, e->msg);
}

static void on_tasks(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep, void *userdata) {
        struct swr *k = userdata;
        struct tf_run *run = k->run;
        k->poll = NULL;
        /* A service gone meanwhile is answered with 404: nothing to wait for. */
        if (r == -ENOENT && k->step == STEP_STOPPING)
                return stop_delete(k);
        if (r < 0) {
                /* A manager that does not answer: tried again, the run's timeout bounds it. */
                tf_log("warning: %s: reading the swarm task's status: %s", run->run_id, err->msg);
                return schedule_poll(k);
        }
        size_t n = json_array_size(rep->json);
        if (k->step == STEP_STOPPING)
                return stopping_tasks(k, rep->json);
        json_t *task = NULL;
        for (size_t i = 0; i < n; i++) {
                json_t *t = json_array_get(rep->json, i);
                const char *st = json_string_value(json_object_get(json_object_get(t, "Status"), "State"));
                /* The one task there is; should the engine have made another, the one not over yet. */
                if (!task || (st && !state_final(st)))
                        task = t;
        }
        if (!task)
                return schedule_poll(k);
        json_t *status = json_object_get(task, "Status");
        json_t *cs = json_object_get(status, "ContainerStatus");
        const char *st = json_string_value(json_object_get(status, "State"));
        if (!st)
                return schedule_poll(k);
        set_str(&k->state, st);
        set_str(&k->task_err, json_string_value(json_object_get(status, "Err")));
        set_str(&k->node_id, json_string_value(json_object_get(task, "NodeID")));
        set_str(&k->container_id, json_string_value(json_object_get(cs, "ContainerID")));
        set_str(&k->task_id, json_string_value(json_object_get(task, "ID")));
        json_t *ec = json_object_get(cs, "ExitCode");
        k->have_exit_code = json_is_integer(ec);
        k->exit_code = k->have_exit_code ? (int)json_integer_value(ec) : (streq(st, "complete") ? 0 : -1);
        if (streq(st, "complete"))
                k->exit_code = k->have_exit_code ? k->exit_code : 0;
        if (state_final(st)) {
                /* A short task may be over before a poll saw it run: its node is said all the same. */
                if (k->step == STEP_WAIT && k->node_id && k->container_id)
                        tf_log("%s: swarm task on node %s", run->run_id, k->node_id);
                if (k->exit_code < 0 && k->container_id) {
                        k->exit_code = 255;
                        k->have_exit_code = false;
                }
                return task_ended(k);
        }
        if (streq(st, "running") && k->step == STEP_WAIT) {
                k->step = STEP_RUNNING;
                if (k->node_id)
                        tf_log("%s: swarm task on node %s", run->run_id, k->node_id);
                tf_run_started(run);
        }
        check_node(k);
        schedule_poll(k);
}

static int on_poll_timer(struct tf_source *s, int fd, uint32_t events, void *userdata) {
        struct swr *k = userdata;
        tf_source_remove(s);
        k->timer = NULL;
        _cleanup_error_ tf_error *e = NULL;
        /* The id was checked: [a-z0-9] needs no escaping. */
        _cleanup_free_ char *path =
                tf_asprintf("/tasks?filters=%%7B%%22service%%22%%3A%%5B%%22%s%%22%%5D%%7D", k->id);
        if (tf_docker_request_async(k->x->d, "read the swarm task's status", "GET", path, NULL, 0, on_tasks,
                                    k, &k->poll, &e) < 0) {
                tf_log("warning: %s: %s", k->run->run_id, e->msg);
                schedule_poll(k);
        }
        return 0;
}

static void schedule_poll(struct swr *k) {
        _cleanup_error_ tf_error *e = NULL;
        if (k->timer || k->poll)
                return;
        if (tf_loop_add_timer(k->run->loop, CLOCK_MONOTONIC, tf_now(CLOCK_MONOTONIC) + POLL_USEC,
                              on_poll_timer, k, &k->timer, &e) < 0)
                tf_log("warning: %s: %s", k->run->run_id, e->msg);
}

static void on_created(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep,
                       void *userdata) {
        struct swr *k = userdata;
        k->call = NULL;
        if (r < 0)
                return fail(k, error_copy(err));
        const char *id = json_string_value(json_object_get(rep->json, "ID"));
        if (!id_ok(id)) {
                tf_error *e = NULL;
                tf_error_set(&e, EPROTO, "create swarm service: the engine's answer has no valid ID");
                return fail(k, e);
        }
        k->id = tf_strdup(id);
        tf_strv_push(&k->x->live_ids, k->id);
        json_t *warn = json_object_get(rep->json, "Warnings");
        for (size_t i = 0; i < json_array_size(warn); i++)
                if (json_string_value(json_array_get(warn, i)))
                        tf_log("%s: engine warning: %s", k->run->spec->name,
                               json_string_value(json_array_get(warn, i)));
        k->step = STEP_WAIT;
        _cleanup_error_ tf_error *e = NULL;
        bool fds = output_to_fds(k);
        if (tf_docker_service_logs_async(k->x->d, k->id, true, 0, 0, fds ? STDOUT_FILENO : -1,
                                         fds ? STDERR_FILENO : -1, on_output, k, on_logs_end, k, &k->logs,
                                         &e) < 0)
                tf_log("warning: %s: following the task's logs: %s", k->run->run_id, e->msg);
        schedule_poll(k);
}

static void on_connected(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep,
                         void *userdata) {
        struct swr *k = userdata;
        k->call = NULL;
        if (r < 0)
                return fail(k, error_copy(err));
        /* The engine's own API version decides what the service can say: refused here, before create. */
        tf_error *e = NULL;
        json_decref(k->body);
        k->body = NULL;
        if (tf_docker_service_body(k->run->spec, k->run->run_id, api_minor(tf_docker_api_version(k->x->d)),
                                   &k->body, &e) < 0)
                return fail(k, e);
        k->step = STEP_CREATE;
        if (tf_docker_request_async(k->x->d, "create swarm service", "POST", "/services/create", k->body, 0,
                                    on_created, k, &k->call, &e) < 0)
                fail(k, e);
}

static int swarm_start(struct tf_run *r, tf_error **err) {
        struct swr *k = r->backend;
        k->step = STEP_CONNECT;
        int ret = tf_docker_connect_async(k->x->d, on_connected, k, &k->call, err);
        if (ret < 0 && !tf_startswith((*err)->msg, r->spec->path))
                return tf_error_prefix(err, "%s", r->spec->path);
        return ret;
}

/* ---- stop: a Swarm task cannot be signalled through the manager ----
 *
 * Removing the service does not stop a job's task (moby: the container of a replicated job runs on after
 * `service rm`), but a new job iteration does: the service is updated with a constraint no node meets, the
 * orchestrator shuts the old task down (the node's agent sends StopSignal, then SIGKILL after
 * StopGracePeriod, and removes the container) and the new task waits, unplaced, until the DELETE. */

#define STOP_CONSTRAINT "node.id==tfrun-stopped"

static void stop_end(struct swr *k) {
        struct tf_run *r = k->run;
        k->step = STEP_DONE;
        tf_docker_call_cancel(k->logs);
        k->logs = NULL;
        if (k->aborting) {
                tf_error *e = NULL;
                tf_error_set(&e, ECANCELED, "%s: stopped while waiting for the swarm task to run",
                             r->spec->path);
                return tf_run_start_failed(r, e);
        }
        if (r->state == TF_RUN_STARTING)
                tf_run_started(r);
        tf_run_child_exited(r, CLD_KILLED, k->stop_sig);
}

static void on_stop_removed(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep,
                            void *userdata) {
        struct swr *k = userdata;
        k->rm = NULL;
        if (r < 0 && err->code != ENOENT)
                tf_log("warning: %s: remove swarm service %.12s: %s", k->run->run_id, k->id, err->msg);
        else {
                k->removed = true;
                live_remove(k->x, k->id);
        }
        stop_end(k);
}

static void stop_delete(struct swr *k) {
        _cleanup_error_ tf_error *e = NULL;
        k->deleting = true;
        tf_source_remove(k->timer);
        k->timer = NULL;
        if (service_delete(k->x, k->id, on_stop_removed, k, &k->rm, &e) < 0) {
                tf_log("warning: %s: %s", k->run->run_id, e->msg);
                stop_end(k);
        }
}

/* While stopping: the old task over (or gone), or the bound passed: the DELETE. */
static void stopping_tasks(struct swr *k, json_t *tasks) {
        bool over = true;
        for (size_t i = 0; i < json_array_size(tasks); i++) {
                json_t *t = json_array_get(tasks, i);
                const char *id = json_string_value(json_object_get(t, "ID"));
                const char *st = json_string_value(json_object_get(json_object_get(t, "Status"), "State"));
                if (id && k->task_id && streq(id, k->task_id) && st && !state_final(st))
                        over = false;
        }
        if (!over && tf_now(CLOCK_MONOTONIC) < k->stop_deadline)
                return schedule_poll(k);
        if (!over)
                tf_log("warning: %s: the swarm task %.12s did not stop in time; removing its service",
                       k->run->run_id, k->task_id);
        stop_delete(k);
}

/* A service's Spec (changed in place) with the constraint no node meets added. */
static void stop_spec(json_t *spec) {
        json_t *tt = json_object_get(spec, "TaskTemplate");
        json_t *pl = json_object_get(tt, "Placement");
        if (!json_is_object(pl)) {
                pl = json_object();
                json_object_set_new(tt, "Placement", pl);
        }
        json_t *cons = json_object_get(pl, "Constraints");
        if (!json_is_array(cons)) {
                cons = json_array();
                json_object_set_new(pl, "Constraints", cons);
        }
        json_array_append_new(cons, json_string(STOP_CONSTRAINT));
}

static void on_stop_updated(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep,
                            void *userdata) {
        struct swr *k = userdata;
        k->rm = NULL;
        if (r < 0) {
                tf_log("warning: %s: stopping the swarm task: %s", k->run->run_id, err->msg);
                return stop_delete(k);
        }
        if (!k->task_id)
                return stop_delete(k);
        schedule_poll(k);
}

static void on_stop_inspected(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep,
                              void *userdata) {
        struct swr *k = userdata;
        _cleanup_error_ tf_error *e = NULL;
        k->rm = NULL;
        json_t *spec = json_object_get(rep->json, "Spec");
        json_t *version = json_object_get(json_object_get(rep->json, "Version"), "Index");
        if (r < 0 || !json_is_object(spec) || !json_is_integer(version)) {
                tf_log("warning: %s: stopping the swarm task: %s", k->run->run_id,
                       r < 0 ? err->msg : "the engine's answer has no Spec and Version");
                return stop_delete(k);
        }
        stop_spec(spec);
        _cleanup_free_ char *path = tf_asprintf("/services/%s/update?version=%lld", k->id,
                                                (long long)json_integer_value(version));
        if (tf_docker_request_async(k->x->d, "stop the swarm task (update its service)", "POST", path, spec,
                                    0, on_stop_updated, k, &k->rm, &e) < 0) {
                tf_log("warning: %s: %s", k->run->run_id, e->msg);
                stop_delete(k);
        }
}

static int stop_begin(struct swr *k, int sig, tf_error **err) {
        struct tf_run *r = k->run;
        k->step = STEP_STOPPING;
        k->stop_sig = sig;
        k->stop_deadline = tf_now(CLOCK_MONOTONIC) + r->spec->stop_grace_usec + GONE_USEC;
        tf_docker_call_cancel(k->poll);
        k->poll = NULL;
        tf_source_remove(k->timer);
        k->timer = NULL;
        _cleanup_free_ char *path = tf_asprintf("/services/%s", k->id);
        return tf_docker_request_async(k->x->d, "inspect swarm service", "GET", path, NULL, 0,
                                       on_stop_inspected, k, &k->rm, err);
}

static void swarm_abort(struct tf_run *r) {
        struct swr *k = r->backend;
        if (!k || k->step >= STEP_RUNNING)
                return;
        if (k->step == STEP_WAIT && k->id) {
                /* The task may be starting on its node: stopped as a running one would be. */
                _cleanup_error_ tf_error *e = NULL;
                k->aborting = true;
                if (stop_begin(k, r->spec->stop_signal, &e) == 0)
                        return;
                tf_log("warning: %s: %s", r->run_id, e->msg);
        }
        tf_error *e = NULL;
        tf_error_set(&e, ECANCELED, "%s: stopped while %s", r->spec->path,
                     k->step == STEP_CONNECT  ? "connecting to the swarm manager"
                     : k->step == STEP_CREATE ? "creating the swarm service"
                                              : "waiting for the swarm task to run");
        unwind(k);
        tf_run_start_failed(r, e);
}

static int swarm_signal(struct tf_run *r, int sig, bool all, tf_error **err) {
        struct swr *k = r->backend;
        if (!k || !k->id || k->step == STEP_DONE || k->step == STEP_STOPPING || k->step == STEP_TAIL ||
            k->step == STEP_EXIT)
                return 0;
        if (r->stopping == TF_REASON_NONE) {
                tf_log("warning: %s: a Swarm task cannot be sent signal %d: not delivered", r->run_id, sig);
                return 0;
        }
        /* The stop: the node's agent sends the spec's stop signal, then SIGKILL after its grace. */
        return stop_begin(k, sig, err);
}

static int swarm_collect(struct tf_run *r, struct tf_run_result *res, bool *oom, tf_error **err) {
        struct swr *k = r->backend;
        *oom = k && k->oom;
        if (k && k->oom_known)
                res->oom_kills = k->oom ? 1 : 0;
        return 0;
}

static void swarm_cleanup(struct tf_run *r) {
        struct swr *k = r->backend;
        if (!k)
                return;
        unwind(k);
        if (k->rm) {
                /* The stop's DELETE is still going: hand the removal to the process. */
                tf_docker_call_cancel(k->rm);
                k->rm = NULL;
                k->removed = false;
        }
        if (k->id && !k->removed)
                remove_later(k->x, TAKE_PTR(k->id), k->container_id, k->node_id, r->spec->name);
        free(k->id);
        free(k->state);
        free(k->task_err);
        free(k->node_id);
        free(k->container_id);
        free(k->task_id);
        json_decref(k->body);
        free(k);
        r->backend = NULL;
}

/* ---- the manager's sweep at start: services whose tfrun is gone ---- */

static bool pid_is_tfrun(pid_t pid) {
        if (pid <= 0)
                return false;
        if (kill(pid, 0) < 0 && errno == ESRCH)
                return false;
        char path[64], comm[32] = "";
        snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return true;
        ssize_t n = read(fd, comm, sizeof(comm) - 1);
        if (n <= 0)
                return true;
        comm[n] = 0;
        return tf_startswith(comm, "tfrun");
}

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

static bool is_stale(struct sctx *x, const char *id, const char *run, const char *service) {
        pid_t pid = run_label_pid(run, service);
        if (pid < 0)
                return false;
        return pid == getpid() ? !tf_strv_contains(x->live_ids, id) : !pid_is_tfrun(pid);
}

static void sweeper_done(struct sweeper *w) {
        struct sctx *x = w->x;
        for (struct sweeper **p = &x->sweepers; *p; p = &(*p)->next_sweeper)
                if (*p == w) {
                        *p = w->next_sweeper;
                        break;
                }
        tf_loop_release(x->loop);
        sweeper_free(w);
}

static void sweeper_next(struct sweeper *w);

static void on_sweeper_removed(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep,
                               void *userdata) {
        struct sweeper *w = userdata;
        const char *id = w->ids[w->next], *run = w->runs[w->next];
        w->call = NULL;
        if (r < 0 && err->code != ENOENT)
                tf_log("warning: %s: removing swarm service %.12s left by run %s: %s", w->service, id, run,
                       err->msg);
        else
                tf_log("%s: removed swarm service %.12s left by run %s (its tfrun, pid %d, is gone)",
                       w->service, id, run, (int)run_label_pid(run, w->service));
        w->next++;
        sweeper_next(w);
}

/* The update made the orchestrator shut the task down (see stop_spec()): now the DELETE. */
static void on_sweeper_stopped(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep,
                               void *userdata) {
        struct sweeper *w = userdata;
        const char *id = w->ids[w->next], *run = w->runs[w->next];
        _cleanup_error_ tf_error *e = NULL;
        w->call = NULL;
        if (r < 0)
                tf_log("warning: %s: stopping the task of swarm service %.12s left by run %s: %s", w->service, id,
                       run, err->msg);
        if (service_delete(w->x, id, on_sweeper_removed, w, &w->call, &e) == 0)
                return;
        tf_log("warning: %s: removing swarm service %.12s left by run %s: %s", w->service, id, run, e->msg);
        w->next++;
        sweeper_next(w);
}

static void sweeper_next(struct sweeper *w) {
        for (; w->ids && w->ids[w->next]; w->next++) {
                const char *id = w->ids[w->next], *run = w->runs[w->next];
                if (!id_ok(id) || !is_stale(w->x, id, run, w->service))
                        continue;
                _cleanup_error_ tf_error *e = NULL;
                /* A job's task runs on after `service rm`: a new iteration no node can place stops it. */
                _cleanup_free_ char *path = tf_asprintf("/services/%s/update?version=%lld", id, w->versions[w->next]);
                if (w->specs[w->next] &&
                    tf_docker_request_async(w->x->d, "stop the swarm task (update its service)", "POST", path,
                                            w->specs[w->next], 0, on_sweeper_stopped, w, &w->call, &e) == 0)
                        return;
                tf_error_free(TAKE_PTR(e));
                if (service_delete(w->x, id, on_sweeper_removed, w, &w->call, &e) == 0)
                        return;
                tf_log("warning: %s: removing swarm service %.12s left by run %s: %s", w->service, id, run,
                       e->msg);
        }
        sweeper_done(w);
}

static void on_sweeper_listed(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep,
                              void *userdata) {
        struct sweeper *w = userdata;
        w->call = NULL;
        if (r < 0) {
                tf_log("warning: %s: looking for swarm services left by an earlier tfrun: %s", w->service,
                       err->msg);
                return sweeper_done(w);
        }
        size_t n = json_array_size(rep->json);
        w->ids = tf_malloc0((n + 1) * sizeof(char *));
        w->runs = tf_malloc0((n + 1) * sizeof(char *));
        w->specs = tf_malloc0((n + 1) * sizeof(json_t *));
        w->versions = tf_malloc0((n + 1) * sizeof(long long));
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
                json_t *sv = json_array_get(rep->json, i);
                const char *id = json_string_value(json_object_get(sv, "ID"));
                json_t *labels = json_object_get(json_object_get(sv, "Spec"), "Labels");
                const char *run = json_string_value(json_object_get(labels, "tfrun.run"));
                const char *svc = json_string_value(json_object_get(labels, "tfrun.service"));
                if (!id || !run || !svc || !streq(svc, w->service))
                        continue;
                json_t *spec = json_object_get(sv, "Spec");
                json_t *ver = json_object_get(json_object_get(sv, "Version"), "Index");
                if (json_is_object(spec) && json_is_integer(ver)) {
                        w->specs[k] = json_deep_copy(spec);
                        stop_spec(w->specs[k]);
                        w->versions[k] = (long long)json_integer_value(ver);
                }
                w->ids[k] = tf_strdup(id);
                w->runs[k++] = tf_strdup(run);
        }
        sweeper_next(w);
}

/* Service names are [a-z0-9_.-]: only '=' of the label filter needs escaping. */
static void on_sweeper_connected(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep,
                                 void *userdata) {
        struct sweeper *w = userdata;
        w->call = NULL;
        _cleanup_error_ tf_error *e = NULL;
        if (r < 0) {
                tf_log("warning: %s: swarm services left by an earlier tfrun are not swept: %s", w->service,
                       err->msg);
                return sweeper_done(w);
        }
        _cleanup_free_ char *path =
                tf_asprintf("/services?filters=%%7B%%22label%%22%%3A%%5B%%22tfrun.service%%3D%s%%22%%5D%%7D",
                            w->service);
        if (tf_docker_request_async(w->x->d, "list swarm services", "GET", path, NULL, 0, on_sweeper_listed,
                                    w, &w->call, &e) < 0) {
                tf_log("warning: %s: looking for swarm services left by an earlier tfrun: %s", w->service,
                       e->msg);
                sweeper_done(w);
        }
}

static bool service_name_ok(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > 63)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
                      s[i] == '.' || s[i] == '-'))
                        return false;
        return true;
}

static void csweep_done(struct csweep *w) {
        struct sctx *x = w->x;
        for (struct csweep **p = &x->csweeps; *p; p = &(*p)->next_csweep)
                if (*p == w) {
                        *p = w->next_csweep;
                        break;
                }
        w->call = NULL;
        tf_loop_release(x->loop);
        csweep_free(w);
}

static void csweep_next(struct csweep *w);

static void on_csweep_removed(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep,
                              void *userdata) {
        struct csweep *w = userdata;
        const char *id = w->ids[w->next], *run = w->runs[w->next];
        w->call = NULL;
        if (r < 0 && err->code != ENOENT)
                tf_log("warning: %s: removing the exited container %.12s of run %s on %s: %s", w->service, id,
                       run, w->g->host, err->msg);
        else
                tf_log("%s: removed the exited container %.12s left by run %s on %s (its tfrun, pid %d, is "
                       "gone)",
                       w->service, id, run, w->g->host, (int)run_label_pid(run, w->service));
        w->next++;
        csweep_next(w);
}

static void csweep_next(struct csweep *w) {
        for (; w->ids && w->ids[w->next]; w->next++) {
                const char *id = w->ids[w->next], *run = w->runs[w->next];
                if (!is_stale(w->x, id, run, w->service))
                        continue;
                _cleanup_error_ tf_error *e = NULL;
                if (tf_docker_container_remove_async(w->g->d, id, true, REMOVE_TIMEOUT_USEC, on_csweep_removed,
                                                     w, &w->call, &e) == 0)
                        return;
                tf_log("warning: %s: removing the exited container %.12s of run %s on %s: %s", w->service, id,
                       run, w->g->host, e->msg);
        }
        csweep_done(w);
}

static void on_csweep_listed(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep,
                             void *userdata) {
        struct csweep *w = userdata;
        w->call = NULL;
        if (r < 0) {
                tf_log("warning: %s: looking for exited task containers on %s: %s", w->service, w->g->host,
                       err->msg);
                return csweep_done(w);
        }
        for (size_t i = 0; i < json_array_size(rep->json); i++) {
                json_t *ct = json_array_get(rep->json, i);
                const char *id = json_string_value(json_object_get(ct, "Id"));
                json_t *labels = json_object_get(ct, "Labels");
                const char *run = json_string_value(json_object_get(labels, "tfrun.run"));
                const char *svc = json_string_value(json_object_get(labels, "tfrun.service"));
                if (!id_ok(id) || !run || !svc || !streq(svc, w->service))
                        continue;
                tf_strv_push(&w->ids, id);
                tf_strv_push(&w->runs, run);
        }
        csweep_next(w);
}

/* A job's completed task keeps its container on its node, whatever is done through the manager (see
 * remove_later()): on each node engine tfrun was given, the exited ones of runs whose tfrun is gone. Only
 * containers of swarm tasks (com.docker.swarm.task.id), never the docker backend's. */
static void csweep_begin(struct sctx *x, struct engine *g, const char *service) {
        _cleanup_error_ tf_error *e = NULL;
        struct csweep *w = tf_malloc0(sizeof(*w));
        *w = (struct csweep){.x = x, .g = g, .service = tf_strdup(service)};
        /* {"label":["tfrun.service=NAME","com.docker.swarm.task.id"],"status":["exited"]}; NAME checked. */
        _cleanup_free_ char *path = tf_asprintf(
                "/containers/json?all=1&filters=%%7B%%22label%%22%%3A%%5B%%22tfrun.service%%3D%s%%22%%2C%%22"
                "com.docker.swarm.task.id%%22%%5D%%2C%%22status%%22%%3A%%5B%%22exited%%22%%5D%%7D",
                service);
        if (tf_docker_request_async(g->d, "list exited task containers", "GET", path, NULL, 0, on_csweep_listed,
                                    w, &w->call, &e) < 0) {
                tf_log("warning: %s: looking for exited task containers on %s: %s", service, g->host, e->msg);
                csweep_free(w);
                return;
        }
        tf_loop_hold(x->loop);
        w->next_csweep = x->csweeps;
        x->csweeps = w;
}

static int swarm_sweep(struct tf_run_ctx *ctx, const char *service, tf_error **err) {
        if (!service_name_ok(service))
                return tf_error_set(err, EINVAL, "%s: not a service name", service);
        struct sctx *x = NULL;
        int r = sctx_get(ctx, &x, err);
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
        tf_loop_hold(x->loop);
        w->next_sweeper = x->sweepers;
        x->sweepers = w;
        for (size_t i = 0; i < x->n_nodes; i++)
                csweep_begin(x, &x->nodes[i], service);
        return 0;
}

static const struct tf_backend_ops tf_swarm_backend = {
        .name = "swarm",
        .check = swarm_check,
        .start = swarm_start,
        .abort = swarm_abort,
        .signal = swarm_signal,
        .collect = swarm_collect,
        .cleanup = swarm_cleanup,
        .sweep = swarm_sweep,
};

__attribute__((visibility("default"))) const struct tf_backend_ops *
tf_module_swarm_backend(const char *version) {
        return streq(version, TF_VERSION) ? &tf_swarm_backend : NULL;
}
