/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/io.h"
#include "base/parse.h"
#include "base/strutil.h"
#include "base/timeutil.h"
#include "runner/log.h"
#include "runner/outlog.h"
#include "runner/runner.h"


const char *tf_run_state_name(enum tf_run_state s) {
        static const char *const names[] = {
                [TF_RUN_PENDING] = "pending",     [TF_RUN_STARTING] = "starting",
                [TF_RUN_RUNNING] = "running",     [TF_RUN_STOPPING] = "stopping",
                [TF_RUN_SUCCEEDED] = "succeeded", [TF_RUN_FAILED] = "failed",
                [TF_RUN_TIMED_OUT] = "timed-out", [TF_RUN_OOM_KILLED] = "oom-killed",
                [TF_RUN_CANCELLED] = "cancelled",
        };
        return names[s];
}

const char *tf_run_reason_name(enum tf_run_reason r) {
        static const char *const names[] = {
                [TF_REASON_NONE] = "none",
                [TF_REASON_EXITED] = "exited",
                [TF_REASON_SIGNALED] = "signaled",
                [TF_REASON_TIMED_OUT] = "timed-out",
                [TF_REASON_OOM_KILLED] = "oom-killed",
                [TF_REASON_CANCELLED] = "cancelled",
                [TF_REASON_NOT_FOUND] = "not-found",
                [TF_REASON_NOT_EXECUTABLE] = "not-executable",
                [TF_REASON_START_FAILED] = "start-failed",
                [TF_REASON_INVALID_SPEC] = "invalid-spec",
                [TF_REASON_NODE_LOST] = "node-lost",
        };
        return (unsigned) r < ELEMENTSOF(names) ? names[r] : "unknown";
}

void tf_run_ctx_init(struct tf_run_ctx *c, struct tf_loop *loop) {
        *c = (struct tf_run_ctx){ .loop = loop };
}

void tf_run_ctx_done(struct tf_run_ctx *c) {
        for (size_t i = 0; i < ELEMENTSOF(c->backend_state); i++)
                if (c->backend_state[i] && c->backend_state_free[i]) {
                        c->backend_state_free[i](c->backend_state[i]);
                        c->backend_state[i] = NULL;
                }
}

/* The backend for a spec (its resolved_backend); the docker one is loaded on first use. */
static int backend_for(const struct tf_run_ctx *ctx, const struct tf_spec *spec,
                       const struct tf_backend_ops **ret, tf_error **err) {
        if (spec->n_steps > 0) {
                *ret = &tf_workflow_backend;
                return 0;
        }
        if (ctx->backend_override) {
                *ret = ctx->backend_override;
                return 0;
        }
        switch (spec->resolved_backend) {
        case TF_BACKEND_NATIVE:
                *ret = &tf_native_backend;
                return 0;
        case TF_BACKEND_DOCKER:
                return tf_run_load_docker_backend(ret, err);
        case TF_BACKEND_SWARM:
                return tf_run_load_swarm_backend(ret, err);
        default:
                return tf_error_set(err, EOPNOTSUPP, "%s: backend %s is not available in this build", spec->path,
                                    tf_backend_name(spec->resolved_backend));
        }
}

void tf_run_result_init(struct tf_run_result *res) {
        *res = (struct tf_run_result){
                .exit_code = -1,
                .cpu_usec = TF_UNSET,
                .memory_peak = TF_UNSET,
                .pids_peak = TF_UNSET,
                .oom_kills = TF_UNSET,
                .pids_refused = TF_UNSET,
        };
}

void tf_run_result_done(struct tf_run_result *res) {
        for (size_t i = 0; i < res->n_steps; i++) {
                struct tf_step_result *st = &res->steps[i];
                free(st->run_id);
                free(st->output);
                free(st->why);
                tf_run_result_done(&st->result);
        }
        free(res->steps);
        free(res->log_path);
        free(res->error);
        tf_run_result_init(res);
}

const char *tf_step_status_name(enum tf_step_status s) {
        static const char *const names[] = {
                [TF_STEP_PENDING] = "pending",     [TF_STEP_RUNNING] = "running", [TF_STEP_SUCCEEDED] = "succeeded",
                [TF_STEP_FAILED] = "failed",       [TF_STEP_SKIPPED] = "skipped", [TF_STEP_CANCELLED] = "cancelled",
                [TF_STEP_REUSED] = "reused",
        };
        return (size_t) s < ELEMENTSOF(names) && names[s] ? names[s] : "?";
}

/* env with each of add's "KEY=VALUE" replacing the entry of the same key, or appended. */
static char **env_merge(char *const *env, char *const *add) {
        char **v = tf_strv_copy(env);
        for (size_t i = 0; add && add[i]; i++) {
                const char *eq = strchr(add[i], '=');
                size_t klen = eq ? (size_t) (eq - add[i]) : strlen(add[i]);
                bool replaced = false;
                for (size_t k = 0; v && v[k]; k++)
                        if (strncmp(v[k], add[i], klen) == 0 && v[k][klen] == '=') {
                                free(v[k]);
                                v[k] = tf_strdup(add[i]);
                                replaced = true;
                                break;
                        }
                if (!replaced)
                        tf_strv_push(&v, add[i]);
        }
        return v;
}

struct tf_run_extra *tf_run_extra_dup(const struct tf_run_extra *x) {
        if (!x)
                return NULL;
        struct tf_run_extra *c = tf_malloc0(sizeof(*c));
        c->env = tf_strv_copy(x->env);
        c->retry_of = x->retry_of ? tf_strdup(x->retry_of) : NULL;
        if (x->n_reuse > 0) {
                struct tf_step_reuse *v = tf_malloc0(x->n_reuse * sizeof(*v));
                for (size_t i = 0; i < x->n_reuse; i++) {
                        v[i].name = tf_strdup(x->reuse[i].name);
                        if (x->reuse[i].output) {
                                char *o = tf_malloc0(x->reuse[i].output_len + 1);
                                memcpy(o, x->reuse[i].output, x->reuse[i].output_len);
                                v[i].output = o;
                                v[i].output_len = x->reuse[i].output_len;
                        }
                }
                c->reuse = v;
                c->n_reuse = x->n_reuse;
        }
        return c;
}

void tf_run_extra_free(struct tf_run_extra *x) {
        if (!x)
                return;
        tf_strv_free(x->env);
        free((char *) x->retry_of);
        for (size_t i = 0; i < x->n_reuse; i++) {
                free((char *) x->reuse[i].name);
                free((char *) x->reuse[i].output);
        }
        free((struct tf_step_reuse *) x->reuse);
        free(x);
}

void tf_run_set_extra(struct tf_run *r, const struct tf_run_extra *x) {
        assert(r->state == TF_RUN_PENDING && !r->extra);
        if (!x)
                return;
        r->extra = tf_run_extra_dup(x);
        if (r->extra->env && r->extra->env[0]) {
                /* A shallow copy: everything but env stays the caller's (the spec outlives the run). */
                r->own_spec = tf_malloc0(sizeof(*r->own_spec));
                *r->own_spec = *r->spec;
                r->own_spec->env = env_merge(r->spec->env, r->extra->env);
                r->spec = r->own_spec;
        }
}

static void run_extra_done(struct tf_run *r) {
        tf_run_extra_free(r->extra);
        r->extra = NULL;
        if (r->own_spec) {
                tf_strv_free(r->own_spec->env);
                free(r->own_spec);
                r->own_spec = NULL;
        }
}

int tf_run_new(struct tf_run_ctx *ctx, const struct tf_spec *spec, const struct tf_run_options *opts,
               struct tf_run **ret, tf_error **err) {
        struct tf_run *r = tf_malloc0(sizeof(*r));
        r->spec = spec;
        r->opts = opts;
        r->ctx = ctx;
        r->loop = ctx->loop;
        r->run_id = tf_asprintf("%s-%d-%u", spec->name, (int) getpid(), ++ctx->run_counter);
        r->state = TF_RUN_PENDING;
        tf_run_result_init(&r->result);
        *ret = r;
        return 0;
}

void tf_run_free(struct tf_run *r) {
        if (!r)
                return;
        tf_source_remove(r->timeout_source);
        tf_source_remove(r->grace_source);
        tf_source_remove(r->finish_source);
        if (r->ops && r->ops->cleanup)
                r->ops->cleanup(r);
        tf_outlog_free(r->outlog);
        tf_run_result_done(&r->result);
        run_extra_done(r);
        free(r->run_id);
        free(r);
}

static bool is_final(enum tf_run_state s) {
        return s >= TF_RUN_SUCCEEDED;
}

static int on_finish(struct tf_source *s, int fd, uint32_t events, void *userdata) {
        struct tf_run *r = userdata;
        r->finish_source = NULL;
        tf_source_remove(r->timeout_source);
        tf_source_remove(r->grace_source);
        r->timeout_source = r->grace_source = NULL;
        /* The run's processes are gone (native: its cgroup is empty; docker: the attach stream ended):
         * what the pipes still hold is the last of its output, read before the result is. */
        if (r->outlog) {
                tf_outlog_finish(r->outlog);
                struct tf_run_result *res = &r->result;
                free(res->log_path);
                res->log_path = tf_outlog_path(r->outlog) ? tf_strdup(tf_outlog_path(r->outlog)) : NULL;
                res->log_bytes = tf_outlog_file_bytes(r->outlog);
                res->output_bytes = tf_outlog_output_bytes(r->outlog);
                res->output_lines = tf_outlog_output_lines(r->outlog);
                res->log_truncated = tf_outlog_truncated(r->outlog);
        }
        if (r->ops)
                r->ops->cleanup(r);
        if (r->on_done)
                r->on_done(r, r->on_done_userdata); /* last: it may free r */
        return 0;
}

/* The one way a run ends: its result is complete, the state final. The rest (cleanup, on_done) happens
 * from a deferred call, so that a backend may end the run from anywhere, inside start() included. */
/* The main process ended (or never started): the wall time stops here, whatever collecting takes after.
 * A backend that saw the end earlier has set it already. */
static void mark_ended(struct tf_run *r) {
        if (!r->ended) {
                r->ended = true;
                r->result.wall_usec = tf_loop_now(r->loop, CLOCK_MONOTONIC) - r->start_mono_usec;
        }
}

static void end_run(struct tf_run *r) {
        mark_ended(r);
        if (r->finish_source)
                return;
        tf_source_remove(r->timeout_source);
        tf_source_remove(r->grace_source);
        r->timeout_source = r->grace_source = NULL;
        tf_loop_defer(r->loop, on_finish, r, &r->finish_source);
}

static void set_error(struct tf_run *r, const char *msg) {
        free(r->result.error);
        r->result.error = msg ? tf_strdup(msg) : NULL;
}

void tf_run_start_failed(struct tf_run *r, tf_error *err) {
        struct tf_run_result *res = &r->result;
        if (is_final(r->state)) {
                tf_error_free(err);
                return;
        }
        set_error(r, err ? err->msg : "start failed");
        tf_error_free(err);
        res->exit_code = -1;
        res->signal = 0;
        if (r->stopping == TF_REASON_TIMED_OUT) {
                /* The timeout came while it was still starting (a long pull, a hung engine). */
                res->exit_status = 124;
                res->reason = TF_REASON_TIMED_OUT;
                r->state = TF_RUN_TIMED_OUT;
        } else if (r->stopping == TF_REASON_CANCELLED) {
                /* Stopped before the process existed: as if the stop signal had ended it. */
                res->exit_status = 128 + r->spec->stop_signal;
                res->reason = TF_REASON_CANCELLED;
                r->state = TF_RUN_CANCELLED;
        } else {
                res->exit_status = 125;
                res->reason = TF_REASON_START_FAILED;
                r->state = TF_RUN_FAILED;
        }
        end_run(r);
}

/* The PATH execvp() searched in the child: the spec's env (which overrides tfrun's), else tfrun's own, else
 * glibc's default. */
static const char *child_path(const struct tf_spec *spec) {
        for (char **e = spec->env; e && *e; e++)
                if (tf_startswith(*e, "PATH="))
                        return *e + 5;
        const char *p = getenv("PATH");
        return p ? p : "/bin:/usr/bin";
}

void tf_run_exec_failed(struct tf_run *r, int exit_status, const char *msg) {
        if (is_final(r->state))
                return;
        const struct tf_spec *spec = r->spec;
        if (exit_status == 127 && r->ops == &tf_native_backend && spec->argv && !strchr(spec->argv[0], '/')) {
                /* "nosuchcmd: No such file or directory" does not say where tfrun looked. */
                _cleanup_free_ char *w = tf_spec_where(spec, spec->pos_command);
                _cleanup_free_ char *m = tf_asprintf("%s: command: '%s' was not found in PATH (%s); give its full "
                                                     "path, or set PATH in env:",
                                                     w, spec->argv[0], child_path(spec));
                set_error(r, m);
        } else
                set_error(r, msg);
        r->result.exit_status = exit_status;
        r->result.exit_code = exit_status;
        r->result.reason = exit_status == 127 ? TF_REASON_NOT_FOUND : TF_REASON_NOT_EXECUTABLE;
        r->state = TF_RUN_FAILED;
        end_run(r);
}

void tf_run_lost(struct tf_run *r, const char *msg) {
        if (is_final(r->state))
                return;
        mark_ended(r);
        set_error(r, msg);
        r->result.exit_status = 125;
        r->result.exit_code = -1;
        r->result.signal = 0;
        r->result.reason = TF_REASON_NODE_LOST;
        r->state = TF_RUN_FAILED;
        end_run(r);
}

static void do_stop(struct tf_run *r);

void tf_run_started(struct tf_run *r) {
        if (r->state != TF_RUN_STARTING)
                return;
        r->state = TF_RUN_RUNNING;
        /* A stop asked for while starting, by a backend that cannot abort a start: now it can stop. */
        if (r->stopping != TF_REASON_NONE)
                do_stop(r);
        else if (r->pending_signal) {
                int sig = r->pending_signal;
                r->pending_signal = 0;
                tf_run_forward_signal(r, sig);
        }
}

void tf_run_child_exited(struct tf_run *r, int code, int status) {
        struct tf_run_result *res = &r->result;
        bool oom = false;
        _cleanup_error_ tf_error *e = NULL;

        if (is_final(r->state))
                return;
        mark_ended(r);
        if (r->ops->collect(r, res, &oom, &e) < 0)
                tf_log("warning: collect %s: %s", r->run_id, e->msg);

        if (code == CLD_EXITED) {
                res->exit_code = status;
                res->signal = 0;
                res->exit_status = status;
        } else {
                res->exit_code = -1;
                res->signal = status;
                res->exit_status = 128 + status;
        }
        /* tfrun stopped it only if the stop came before the end: a backend that knows when the main
         * process really ended (a container's FinishedAt) tells us with exit_realtime_usec. */
        bool stopped = r->stopping != TF_REASON_NONE &&
                       !(r->exit_realtime_usec && r->exit_realtime_usec < r->stop_realtime_usec);

        if (stopped && r->stopping == TF_REASON_TIMED_OUT) {
                res->exit_status = 124;
                res->reason = TF_REASON_TIMED_OUT;
                r->state = TF_RUN_TIMED_OUT;
        } else if (oom && res->signal == SIGKILL) {
                res->reason = TF_REASON_OOM_KILLED;
                r->state = TF_RUN_OOM_KILLED;
        } else if (stopped) {
                res->reason = TF_REASON_CANCELLED;
                r->state = TF_RUN_CANCELLED;
        } else if (res->signal) {
                res->reason = TF_REASON_SIGNALED;
                r->state = TF_RUN_FAILED;
        } else {
                res->reason = TF_REASON_EXITED;
                r->state = res->exit_code == 0 ? TF_RUN_SUCCEEDED : TF_RUN_FAILED;
        }
        end_run(r);
}

static int on_grace(struct tf_source *s, int fd, uint32_t events, void *userdata) {
        struct tf_run *r = userdata;
        _cleanup_error_ tf_error *e = NULL;
        tf_source_remove(s);
        r->grace_source = NULL;
        if (r->ops->signal(r, SIGKILL, true, &e) < 0)
                tf_log("warning: kill %s: %s", r->run_id, e->msg);
        return 0;
}

static void do_stop(struct tf_run *r) {
        _cleanup_error_ tf_error *e = NULL;
        r->state = TF_RUN_STOPPING;
        if (r->ops->signal(r, r->spec->stop_signal, true, &e) < 0)
                tf_log("warning: stop %s: %s", r->run_id, e ? e->msg : "");
        uint64_t at = tf_loop_now(r->loop, CLOCK_MONOTONIC) + r->spec->stop_grace_usec;
        if (tf_loop_add_timer(r->loop, CLOCK_MONOTONIC, at, on_grace, r, &r->grace_source, &e) < 0) {
                tf_log("warning: %s; killing at once", e->msg);
                on_grace(NULL, -1, 0, r);
        }
}

void tf_run_stop(struct tf_run *r, bool cancel) {
        _cleanup_error_ tf_error *e = NULL;
        if (is_final(r->state) || r->ended || r->state == TF_RUN_PENDING)
                return;
        if (r->state == TF_RUN_STOPPING) {
                /* Asked again while stopping: do not wait for the grace period. */
                if (r->ops->signal(r, SIGKILL, true, &e) < 0)
                        tf_log("warning: kill %s: %s", r->run_id, e->msg);
                return;
        }
        if (r->stopping == TF_REASON_NONE) {
                r->stopping = cancel ? TF_REASON_CANCELLED : TF_REASON_TIMED_OUT;
                r->stop_realtime_usec = tf_loop_now(r->loop, CLOCK_REALTIME);
        }
        if (r->state == TF_RUN_STARTING) {
                if (r->ops->abort)
                        r->ops->abort(r);
                return; /* else stopped by tf_run_started() */
        }
        do_stop(r);
}

void tf_run_forward_signal(struct tf_run *r, int sig) {
        _cleanup_error_ tf_error *e = NULL;
        if (r->state == TF_RUN_STARTING) {
                /* The process may already run (a container runs before the engine answers its start), so
                 * the signal is for it: delivered once the backend says it runs. A second SIGINT/SIGTERM
                 * to tfrun stops the run, which aborts a start that hangs (docs/running.md). */
                r->pending_signal = sig;
                return;
        }
        if (r->state != TF_RUN_RUNNING && r->state != TF_RUN_STOPPING)
                return;
        if (r->ops->signal(r, sig, false, &e) < 0)
                tf_log("warning: forward %s: %s", tf_signal_name(sig), e->msg);
}

static int on_timeout(struct tf_source *s, int fd, uint32_t events, void *userdata) {
        struct tf_run *r = userdata;
        tf_source_remove(s);
        r->timeout_source = NULL;
        tf_run_stop(r, false);
        return 0;
}

int tf_run_check(struct tf_run_ctx *ctx, const struct tf_spec *spec, const struct tf_run_options *opts,
                 tf_error **err) {
        struct tf_run *r = NULL;
        int ret = tf_run_new(ctx, spec, opts, &r, err);
        if (ret < 0)
                return ret;
        ret = backend_for(ctx, spec, &r->ops, err);
        if (ret == 0)
                ret = r->ops->check(r, err);
        tf_run_free(r);
        return ret;
}

void tf_run_start(struct tf_run *r, void (*on_done)(struct tf_run *, void *), void *userdata) {
        _cleanup_error_ tf_error *e = NULL;
        r->on_done = on_done;
        r->on_done_userdata = userdata;
        r->state = TF_RUN_STARTING;
        r->start_mono_usec = tf_loop_now(r->loop, CLOCK_MONOTONIC);
        r->result.start_realtime_usec = tf_loop_now(r->loop, CLOCK_REALTIME);
        if (backend_for(r->ctx, r->spec, &r->ops, &e) < 0 || r->ops->check(r, &e) < 0) {
                tf_run_start_failed(r, TAKE_PTR(e));
                return;
        }
        /* No run without the log it was asked to keep. */
        if (r->opts->log && !r->outlog &&
            tf_outlog_open(r->opts->log, r->spec->name, r->run_id, &r->outlog, &e) < 0) {
                tf_run_start_failed(r, TAKE_PTR(e));
                return;
        }
        /* The timeout covers the start too: a pull or a hung engine cannot hold a run past it. */
        if (r->spec->timeout_usec != TF_UNSET && r->spec->timeout_usec != TF_USEC_INFINITY &&
            tf_loop_add_timer(r->loop, CLOCK_MONOTONIC, r->start_mono_usec + r->spec->timeout_usec, on_timeout,
                              r, &r->timeout_source, &e) < 0) {
                /* Never run without the timeout the spec asked for. */
                tf_run_start_failed(r, TAKE_PTR(e));
                return;
        }
        if (r->ops->start(r, &e) < 0)
                tf_run_start_failed(r, TAKE_PTR(e));
}

static void fmt_opt_size(char *buf, size_t len, uint64_t v) {
        if (v == TF_UNSET)
                snprintf(buf, len, "-");
        else
                tf_format_size(buf, len, v);
}

json_t *tf_run_result_json(const char *service, const char *backend, const char *run_id,
                           const struct tf_run_result *res) {
        json_t *o = json_object();
        json_object_set_new(o, "service", service ? json_string(service) : json_null());
        json_object_set_new(o, "backend", backend ? json_string(backend) : json_null());
        json_object_set_new(o, "run_id", run_id ? json_string(run_id) : json_null());
        json_object_set_new(o, "status", json_integer(res->exit_status));
        json_object_set_new(o, "reason", json_string(tf_run_reason_name(res->reason)));
        json_object_set_new(o, "exit_code", res->exit_code >= 0 ? json_integer(res->exit_code) : json_null());
        const char *sn = res->signal ? tf_signal_name(res->signal) : NULL;
        json_object_set_new(o, "signal", res->signal ? json_string(sn ? sn : "?") : json_null());
        json_object_set_new(o, "error", res->error ? json_string(res->error) : json_null());
        if (res->start_realtime_usec) {
                char ts[96];
                tf_format_utc_usec(ts, sizeof(ts), res->start_realtime_usec);
                json_object_set_new(o, "started_at", json_string(ts));
        } else
                json_object_set_new(o, "started_at", json_null());
        json_object_set_new(o, "wall_usec", json_integer((json_int_t) res->wall_usec));
#define OPT(k, v) json_object_set_new(o, k, (v) == TF_UNSET ? json_null() : json_integer((json_int_t) (v)))
        OPT("cpu_usec", res->cpu_usec);
        OPT("memory_peak_bytes", res->memory_peak);
        OPT("pids_peak", res->pids_peak);
        OPT("oom_kills", res->oom_kills);
        OPT("pids_refused", res->pids_refused);
#undef OPT
        if (res->log_path) {
                json_object_set_new(o, "log_path", json_string(res->log_path));
                json_object_set_new(o, "log_bytes", json_integer((json_int_t) res->log_bytes));
                json_object_set_new(o, "log_truncated", json_boolean(res->log_truncated));
                json_object_set_new(o, "output_bytes", json_integer((json_int_t) res->output_bytes));
                json_object_set_new(o, "output_lines", json_integer((json_int_t) res->output_lines));
        }
        if (res->n_steps > 0) {
                json_t *a = json_array();
                for (size_t i = 0; i < res->n_steps; i++)
                        json_array_append_new(a, tf_step_result_json(&res->steps[i]));
                json_object_set_new(o, "steps", a);
        }
        return o;
}

json_t *tf_step_result_json(const struct tf_step_result *st) {
        const struct tf_run_result *res = &st->result;
        bool ran = st->status != TF_STEP_SKIPPED && st->status != TF_STEP_REUSED &&
                   !(st->status == TF_STEP_CANCELLED && res->reason == TF_REASON_NONE) &&
                   st->status != TF_STEP_PENDING;
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(st->step->name));
        json_object_set_new(o, "run_id", st->run_id ? json_string(st->run_id) : json_null());
        json_object_set_new(o, "handler", json_boolean(st->step->handler));
        json_object_set_new(o, "status", json_string(tf_step_status_name(st->status)));
        json_object_set_new(o, "backend", json_string(tf_backend_name(st->step->spec->resolved_backend)));
        json_object_set_new(o, "exit_status", ran ? json_integer(res->exit_status) : json_null());
        json_object_set_new(o, "exit_code",
                            ran && res->exit_code >= 0 ? json_integer(res->exit_code) : json_null());
        const char *sn = res->signal ? tf_signal_name(res->signal) : NULL;
        json_object_set_new(o, "signal", res->signal ? json_string(sn ? sn : "?") : json_null());
        json_object_set_new(o, "reason", ran ? json_string(tf_run_reason_name(res->reason)) : json_null());
        json_object_set_new(o, "error", res->error ? json_string(res->error) : json_null());
        json_object_set_new(o, "why", st->why ? json_string(st->why) : json_null());
        if (ran && res->start_realtime_usec) {
                char ts[96];
                tf_format_utc_usec(ts, sizeof(ts), res->start_realtime_usec);
                json_object_set_new(o, "started_at", json_string(ts));
                tf_format_utc_usec(ts, sizeof(ts), res->start_realtime_usec + res->wall_usec);
                json_object_set_new(o, "ended_at", json_string(ts));
        } else {
                json_object_set_new(o, "started_at", json_null());
                json_object_set_new(o, "ended_at", json_null());
        }
        json_object_set_new(o, "wall_usec", ran ? json_integer((json_int_t) res->wall_usec) : json_null());
#define OPT(k, v) \
        json_object_set_new(o, k, !ran || (v) == TF_UNSET ? json_null() : json_integer((json_int_t) (v)))
        OPT("cpu_usec", res->cpu_usec);
        OPT("memory_peak_bytes", res->memory_peak);
        OPT("pids_peak", res->pids_peak);
        OPT("oom_kills", res->oom_kills);
#undef OPT
        json_object_set_new(o, "oom", json_boolean(res->reason == TF_REASON_OOM_KILLED));
        json_object_set_new(o, "log_path", res->log_path ? json_string(res->log_path) : json_null());
        json_object_set_new(o, "output_bytes",
                            st->step->output && st->output ? json_integer((json_int_t) st->output_len)
                                                           : json_null());
        return o;
}

static int write_json_file(const char *path, json_t *obj, tf_error **err) {
        _cleanup_free_ char *s = json_dumps(obj, JSON_COMPACT);
        if (!s)
                return tf_error_set(err, ENOMEM, "--json-file %s: cannot encode the result", path);
        _cleanup_free_ char *line = tf_asprintf("%s\n", s);
        int r = tf_write_file_atomic(path, line, strlen(line), 0644);
        if (r < 0)
                return tf_error_setc(err, r, "--json-file %s", path);
        return 0;
}

void tf_run_emit_json(const struct tf_run_options *o, json_t *obj) {
        if (o->json_file) {
                _cleanup_error_ tf_error *e = NULL;
                if (write_json_file(o->json_file, obj, &e) < 0)
                        tf_log("%s", e->msg);
        }
        if (o->json) {
                _cleanup_free_ char *s = json_dumps(obj, JSON_COMPACT);
                if (s) {
                        _cleanup_free_ char *line = tf_asprintf("%s\n", s);
                        tf_out(1, line, strlen(line));
                }
        }
        json_decref(obj);
}

void tf_run_report(const struct tf_run *r) {
        const struct tf_run_result *res = &r->result;
        const char *backend = r->ops ? r->ops->name : tf_backend_name(r->spec->resolved_backend);
        if (res->error)
                tf_log("%s", res->error);
        if (r->opts->json || r->opts->json_file) {
                json_t *o = tf_run_result_json(r->spec->name, backend, r->run_id, res);
                json_object_set_new(o, "state", json_string(tf_run_state_name(r->state)));
                tf_run_emit_json(r->opts, o);
                if (r->opts->json)
                        return;
        }
        /* Nothing ran: the message says it all, as it did before anything was started. */
        if (r->opts->quiet || res->reason == TF_REASON_START_FAILED)
                return;
        char wall[32], cpu[32] = "-", mem[32], pids[32] = "-", sig[48] = "", extra[96] = "";
        tf_format_duration_short(wall, sizeof(wall), res->wall_usec);
        if (res->cpu_usec != TF_UNSET)
                tf_format_duration_short(cpu, sizeof(cpu), res->cpu_usec);
        fmt_opt_size(mem, sizeof(mem), res->memory_peak);
        if (res->pids_peak != TF_UNSET)
                snprintf(pids, sizeof(pids), "%" PRIu64, res->pids_peak);
        if (res->signal)
                snprintf(sig, sizeof(sig), " signal=%s", tf_signal_name(res->signal) ? tf_signal_name(res->signal) : "?");
        /* Facts that change the meaning of a plain exit: another process of the run was OOM-killed, or
         * the pids limit refused forks. */
        size_t el = 0;
        if (res->oom_kills != TF_UNSET && res->oom_kills > 0 && res->reason != TF_REASON_OOM_KILLED)
                el += (size_t) snprintf(extra + el, sizeof(extra) - el, " oom_kills=%" PRIu64, res->oom_kills);
        else if (res->oom_kills != TF_UNSET && res->oom_kills > 1)
                el += (size_t) snprintf(extra + el, sizeof(extra) - el, " oom_kills=%" PRIu64, res->oom_kills);
        if (res->pids_refused != TF_UNSET && res->pids_refused > 0)
                snprintf(extra + el, sizeof(extra) - el, " pids_refused=%" PRIu64, res->pids_refused);
        tf_log("%s %s status=%d reason=%s%s wall=%s cpu=%s mem_peak=%s pids_peak=%s%s%s%s%s", r->spec->name,
               backend, res->exit_status, tf_run_reason_name(res->reason), sig, wall, cpu, mem, pids, extra,
               res->log_path ? " log=" : "", res->log_path ? res->log_path : "",
               res->log_truncated ? " (truncated)" : "");
}

uint64_t tf_random_below(uint64_t n) {
        if (n == 0)
                return 0;
        uint64_t r = 0;
        if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t) sizeof(r))
                r = tf_now(CLOCK_MONOTONIC) * 6364136223846793005ULL;
        return r % n;
}

uint64_t tf_restart_backoff(const struct tf_spec *spec, unsigned attempt) {
        uint64_t d = spec->restart.backoff_initial_usec;
        for (unsigned i = 1; i < attempt && d < spec->restart.backoff_max_usec; i++)
                d = d > UINT64_MAX / 2 ? UINT64_MAX : d * 2;
        if (d > spec->restart.backoff_max_usec)
                d = spec->restart.backoff_max_usec;
        if (spec->restart.jitter)
                d = d / 2 + tf_random_below(d / 2 + 1);
        return d;
}
