/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/parse.h"
#include "base/strutil.h"
#include "base/timeutil.h"
#include "runner/runner.h"

void tf_log(const char *fmt, ...) {
        char buf[4096];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        fprintf(stderr, "tfrun: %s\n", buf);
}

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

/* The backend for a spec (its resolved_backend); the docker one is loaded on first use. */
static int backend_for(const struct tf_spec *spec, const struct tf_backend_ops **ret, tf_error **err) {
        switch (spec->resolved_backend) {
        case TF_BACKEND_NATIVE:
                *ret = &tf_native_backend;
                return 0;
        case TF_BACKEND_DOCKER:
                return tf_run_load_docker_backend(ret, err);
        default:
                return tf_error_set(err, EOPNOTSUPP, "%s: backend %s is not available in this build", spec->path,
                                    tf_backend_name(spec->resolved_backend));
        }
}

int tf_run_new(const struct tf_spec *spec, const struct tf_run_options *opts, struct tf_loop *loop,
               struct tf_run **ret, tf_error **err) {
        static unsigned counter;
        const struct tf_backend_ops *ops = NULL;
        int k = backend_for(spec, &ops, err);
        if (k < 0)
                return k;
        struct tf_run *r = tf_malloc0(sizeof(*r));
        r->spec = spec;
        r->opts = opts;
        r->ops = ops;
        r->loop = loop;
        r->run_id = tf_asprintf("%s-%d-%u", spec->name, (int) getpid(), ++counter);
        r->state = TF_RUN_PENDING;
        r->result = (struct tf_run_result){
                .exit_code = -1,
                .cpu_usec = TF_UNSET,
                .memory_peak = TF_UNSET,
                .pids_peak = TF_UNSET,
        };
        *ret = r;
        return 0;
}

void tf_run_free(struct tf_run *r) {
        if (!r)
                return;
        tf_source_remove(r->timeout_source);
        tf_source_remove(r->grace_source);
        if (r->ops && r->ops->cleanup)
                r->ops->cleanup(r);
        free(r->run_id);
        free(r);
}

/* The end of every run that started. on_done is the last thing that touches r: it may free it. */
static void finish(struct tf_run *r) {
        tf_source_remove(r->timeout_source);
        tf_source_remove(r->grace_source);
        r->timeout_source = r->grace_source = NULL;
        r->result.wall_usec = tf_now(CLOCK_MONOTONIC) - r->start_mono_usec;
        r->ops->cleanup(r);
        if (r->on_done)
                r->on_done(r, r->on_done_userdata);
}

void tf_run_exec_failed(struct tf_run *r, int exit_status, const char *msg) {
        tf_log("%s", msg);
        r->result.exit_status = exit_status;
        r->result.exit_code = exit_status;
        r->result.reason = exit_status == 127 ? "not-found" : "not-executable";
        r->state = TF_RUN_FAILED;
        /* No finish() here: we are inside start(); tf_run_start() finishes the run once start() returns. */
}

void tf_run_child_exited(struct tf_run *r, int code, int status) {
        struct tf_run_result *res = &r->result;
        bool oom = false;
        _cleanup_error_ tf_error *e = NULL;

        if (r->ops->collect(r, res, &oom, &e) < 0)
                tf_log("warning: collect %s: %s", r->run_id, e->msg);

        bool timed_out = r->state == TF_RUN_STOPPING && res->reason && streq(res->reason, "timed-out");
        bool cancelled = r->state == TF_RUN_STOPPING && res->reason && streq(res->reason, "cancelled");

        if (code == CLD_EXITED) {
                res->exit_code = status;
                res->signal = 0;
                res->exit_status = status;
        } else {
                res->exit_code = -1;
                res->signal = status;
                res->exit_status = 128 + status;
        }

        if (timed_out) {
                res->exit_status = 124;
                r->state = TF_RUN_TIMED_OUT;
        } else if (oom && res->signal == SIGKILL) {
                res->reason = "oom-killed";
                r->state = TF_RUN_OOM_KILLED;
        } else if (cancelled) {
                r->state = TF_RUN_CANCELLED;
        } else if (res->signal) {
                res->reason = "signaled";
                r->state = TF_RUN_FAILED;
        } else {
                res->reason = "exited";
                r->state = res->exit_code == 0 ? TF_RUN_SUCCEEDED : TF_RUN_FAILED;
        }
        finish(r);
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

void tf_run_stop(struct tf_run *r, bool cancel) {
        _cleanup_error_ tf_error *e = NULL;
        if (r->state == TF_RUN_STOPPING) {
                /* Asked again while stopping: do not wait for the grace period. */
                if (r->ops->signal(r, SIGKILL, true, &e) < 0)
                        tf_log("warning: kill %s: %s", r->run_id, e->msg);
                return;
        }
        if (r->state != TF_RUN_RUNNING)
                return;
        r->state = TF_RUN_STOPPING;
        r->result.reason = cancel ? "cancelled" : "timed-out";
        if (r->ops->signal(r, r->spec->stop_signal, true, &e) < 0)
                tf_log("warning: stop %s: %s", r->run_id, e ? e->msg : "");
        uint64_t at = tf_now(CLOCK_MONOTONIC) + r->spec->stop_grace_usec;
        if (tf_loop_add_timer(r->loop, CLOCK_MONOTONIC, at, on_grace, r, &r->grace_source, &e) < 0) {
                tf_log("warning: %s; killing at once", e->msg);
                on_grace(NULL, -1, 0, r);
        }
}

void tf_run_forward_signal(struct tf_run *r, int sig) {
        _cleanup_error_ tf_error *e = NULL;
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

int tf_run_start(struct tf_run *r, void (*on_done)(struct tf_run *, void *), void *userdata, tf_error **err) {
        r->on_done = on_done;
        r->on_done_userdata = userdata;
        int ret = r->ops->check(r, err);
        if (ret < 0)
                return ret;
        r->state = TF_RUN_STARTING;
        r->start_mono_usec = tf_now(CLOCK_MONOTONIC);
        r->result.start_realtime_usec = tf_now(CLOCK_REALTIME);
        ret = r->ops->start(r, err);
        if (ret < 0) {
                r->ops->cleanup(r);
                r->state = TF_RUN_FAILED;
                return ret;
        }
        if (r->state != TF_RUN_STARTING) {
                /* exec failed: the run is over. finish() calls on_done last, which may free r. */
                finish(r);
                return 0;
        }
        r->state = TF_RUN_RUNNING;
        if (r->spec->timeout_usec != TF_UNSET && r->spec->timeout_usec != TF_USEC_INFINITY) {
                ret = tf_loop_add_timer(r->loop, CLOCK_MONOTONIC, r->start_mono_usec + r->spec->timeout_usec,
                                        on_timeout, r, &r->timeout_source, err);
                if (ret < 0) {
                        /* Never run without the timeout the spec asked for. */
                        _cleanup_error_ tf_error *e = NULL;
                        r->ops->signal(r, SIGKILL, true, &e);
                        return ret;
                }
        }
        return 0;
}

static void fmt_opt_size(char *buf, size_t len, uint64_t v) {
        if (v == TF_UNSET)
                snprintf(buf, len, "-");
        else
                tf_format_size(buf, len, v);
}

void tf_run_report(const struct tf_run *r) {
        const struct tf_run_result *res = &r->result;
        if (r->opts->json) {
                json_t *o = json_object();
                json_object_set_new(o, "service", json_string(r->spec->name));
                json_object_set_new(o, "backend", json_string(r->ops->name));
                json_object_set_new(o, "run_id", json_string(r->run_id));
                json_object_set_new(o, "state", json_string(tf_run_state_name(r->state)));
                json_object_set_new(o, "status", json_integer(res->exit_status));
                json_object_set_new(o, "reason", json_string(res->reason ? res->reason : "unknown"));
                json_object_set_new(o, "exit_code", res->exit_code >= 0 ? json_integer(res->exit_code) : json_null());
                json_object_set_new(o, "signal",
                                    res->signal ? json_string(tf_signal_name(res->signal) ? tf_signal_name(res->signal) : "?")
                                                : json_null());
                char ts[64];
                time_t t = (time_t) (res->start_realtime_usec / TF_USEC_PER_SEC);
                struct tm tm;
                gmtime_r(&t, &tm);
                strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
                char ts2[96];
                snprintf(ts2, sizeof(ts2), "%s.%06" PRIu64 "Z", ts, res->start_realtime_usec % TF_USEC_PER_SEC);
                json_object_set_new(o, "started_at", json_string(ts2));
                json_object_set_new(o, "wall_usec", json_integer((json_int_t) res->wall_usec));
#define OPT(k, v) json_object_set_new(o, k, (v) == TF_UNSET ? json_null() : json_integer((json_int_t) (v)))
                OPT("cpu_usec", res->cpu_usec);
                OPT("memory_peak_bytes", res->memory_peak);
                OPT("pids_peak", res->pids_peak);
#undef OPT
                char *s = json_dumps(o, JSON_COMPACT);
                if (s) {
                        printf("%s\n", s);
                        fflush(stdout);
                        free(s);
                }
                json_decref(o);
                return;
        }
        if (r->opts->quiet)
                return;
        char wall[32], cpu[32] = "-", mem[32], pids[32] = "-", sig[48] = "";
        tf_format_duration_short(wall, sizeof(wall), res->wall_usec);
        if (res->cpu_usec != TF_UNSET)
                tf_format_duration_short(cpu, sizeof(cpu), res->cpu_usec);
        fmt_opt_size(mem, sizeof(mem), res->memory_peak);
        if (res->pids_peak != TF_UNSET)
                snprintf(pids, sizeof(pids), "%" PRIu64, res->pids_peak);
        if (res->signal)
                snprintf(sig, sizeof(sig), " signal=%s", tf_signal_name(res->signal) ? tf_signal_name(res->signal) : "?");
        tf_log("%s %s status=%d reason=%s%s wall=%s cpu=%s mem_peak=%s pids_peak=%s", r->spec->name, r->ops->name,
               res->exit_status, res->reason ? res->reason : "unknown", sig, wall, cpu, mem, pids);
}
