/* SPDX-License-Identifier: MIT */
/*
 * A workflow (`steps:`) run: one struct tf_run of the service (one run id, timeout, stop, report) whose
 * backend is this file. Its "process" is the DAG: each step is a child tf_run of the step's own spec
 * ("SERVICE.STEP", on its own backend, native or docker), started from the loop as its dependencies end,
 * at most max_parallel at once, ready steps in document order. Nothing here blocks: children end through
 * their on_done, `when:` commands are child runs too, retries wait on timers.
 *
 * The pieces, in the order a run goes through them:
 *   - start: the workflow's cgroup (only when the top level sets limits: tfrun-<run id> with those limits,
 *     the parent of every native step's cgroup and the CgroupParent of every container), the results
 *     (one per step, in document order; handlers are appended as they run), the reused steps of a retry;
 *   - schedule(): steps whose dependencies all ended are skipped (a dependency that did not succeed and
 *     does not continue_on), cancelled (the run is stopping) or begun: value conditions decided at once,
 *     command conditions run one after the other, then the step itself;
 *   - a step's end: succeeded (exit 0 or a continue_on exit code) or failed; `restart:` retries a failed
 *     one after its backoff (the slot stays taken); output: captured from its stdout;
 *   - the DAG's end: on_success or on_failure, then on_exit (not after a stop: the run's time is up);
 *   - the run's end: tf_run_child_exited() with the first failed step's exit (or 0), collect() sums.
 */
#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "base/cleanup.h"
#include "base/parse.h"
#include "base/strutil.h"
#include "base/timeutil.h"
#include "cgroup/cgroup.h"
#include "runner/log.h"
#include "runner/outlog.h"
#include "runner/runner.h"

/* A step's output: at most this much of its stdout; more fails the step. */
#define OUTPUT_MAX (1024u * 1024)
#define N_HANDLERS 3

struct workflow;

struct wstep {
        struct workflow *w;
        const struct tf_step *step;
        size_t res_index;    /* in r->result.steps */
        struct tf_run *run;  /* the attempt running */
        struct tf_run *cond; /* a when: command running */
        size_t cond_next;    /* the next condition to decide */
        struct tf_spec
                xspec; /* the step's spec as run: a shallow copy with its own argv, env, working_dir */
        struct tf_spec cspec; /* the same for a condition's command (argv borrowed from the condition) */
        char **argv, **env;
        char *working_dir;
        char **handler_env; /* a handler's facts, "KEY=VALUE" */
        unsigned attempt;
        struct tf_source *retry_timer;
        bool active;  /* holds a slot: deciding conditions, running, waiting for a retry */
        bool stopped; /* the run's stop reached it */
};

struct workflow {
        struct tf_run *r;
        struct wstep *st; /* spec->n_steps steps, then up to N_HANDLERS handlers */
        size_t n;
        size_t n_handlers;
        size_t active;
        bool stopping;       /* nothing new starts; pending steps are cancelled */
        int phase;           /* 0: the DAG; 1: on_success/on_failure; 2: on_exit; 3: ended */
        bool failed;         /* the outcome so far */
        size_t first_failed; /* index in r->result.steps of the first step (or handler) that failed it */
        struct tf_run_options copts; /* the steps' options: the workflow's, below its cgroup */
        struct tf_cg *cg;
        char *cg_name, *cg_rel, *docker_parent;
        struct tf_source *kick, *stop_defer;
};

static void schedule(struct workflow *w);
static void launch(struct wstep *ws);
static void next_condition(struct wstep *ws);

static struct tf_step_result *res_of(struct wstep *ws) {
        return &ws->w->r->result.steps[ws->res_index];
}

static bool limits_set(const struct tf_limits *l) {
        return l->cpu_quota_usec != TF_UNSET || l->cpu_weight != TF_UNSET || l->cpuset ||
               l->memory != TF_UNSET || l->memory_high != TF_UNSET || l->memory_swap != TF_UNSET ||
               l->pids != TF_UNSET || l->io_weight != TF_UNSET || l->n_io > 0;
}

static bool status_final(enum tf_step_status s) {
        return s != TF_STEP_PENDING && s != TF_STEP_RUNNING;
}

static const char *output_of(struct workflow *w, const char *var) {
        for (size_t i = 0; i < w->n; i++) {
                const struct tf_step_result *sr = &w->r->result.steps[i];
                if (sr->step->output && streq(sr->step->output, var) && sr->output)
                        return sr->output;
        }
        return NULL;
}

static const char *lookup(const char *var, void *userdata) {
        return output_of(userdata, var);
}

/* env with each of add's "KEY=VALUE" replacing the entry of the same key, or appended (takes env). */
static char **env_add(char **env, char *const *add) {
        for (size_t i = 0; add && add[i]; i++) {
                const char *eq = strchr(add[i], '=');
                size_t klen = eq ? (size_t)(eq - add[i]) : strlen(add[i]);
                bool replaced = false;
                for (size_t k = 0; env && env[k]; k++)
                        if (strncmp(env[k], add[i], klen) == 0 && env[k][klen] == '=') {
                                free(env[k]);
                                env[k] = tf_strdup(add[i]);
                                replaced = true;
                                break;
                        }
                if (!replaced)
                        tf_strv_push(&env, add[i]);
        }
        return env;
}

/* For messages: a value shown whole when short, else its start. */
static char *shown(const char *v) {
        size_t n = strlen(v);
        return n <= 60 ? tf_asprintf("'%s'", v) : tf_asprintf("'%.57s...'", v);
}

static void step_line(struct workflow *w, const struct tf_step_result *sr) {
        const struct tf_run_result *res = &sr->result;
        _cleanup_free_ char *line = NULL;
        if (res->reason != TF_REASON_NONE) {
                char wall[32], mem[32] = "-";
                tf_format_duration_short(wall, sizeof(wall), res->wall_usec);
                if (res->memory_peak != TF_UNSET)
                        tf_format_size(mem, sizeof(mem), res->memory_peak);
                line = tf_asprintf("%s: %s status=%d reason=%s wall=%s mem_peak=%s%s%s%s%s",
                                   sr->step->spec->name, tf_step_status_name(sr->status), res->exit_status,
                                   tf_run_reason_name(res->reason), wall, mem, res->log_path ? " log=" : "",
                                   res->log_path ? res->log_path : "", sr->why ? ": " : "",
                                   sr->why ? sr->why : "");
        } else
                line = tf_asprintf("%s: %s%s%s", sr->step->spec->name, tf_step_status_name(sr->status),
                                   sr->why ? ": " : "", sr->why ? sr->why : "");
        /* The run's own log (the manager's RUN_ID.log) says how its steps went; its prefixed copy (the
         * manager's stdout and stderr) shows the line, so it is not logged a second time. */
        bool echoed = w->r->outlog && w->r->opts->log && w->r->opts->log->echo_prefix;
        if (!w->r->opts->quiet && !echoed)
                tf_log("%s", line);
        if (w->r->outlog) {
                _cleanup_free_ char *l = tf_asprintf("tfrun: %s\n", line);
                tf_outlog_feed(w->r->outlog, 2, l, strlen(l));
        }
}

static void notify(struct workflow *w, struct wstep *ws) {
        const struct tf_run_options *o = w->r->opts;
        if (o->on_step)
                o->on_step(w->r, res_of(ws), o->on_step_userdata);
}

/* The step reached its final status (why: taken). */
static void finish(struct wstep *ws, enum tf_step_status status, char *why) {
        struct workflow *w = ws->w;
        struct tf_step_result *sr = res_of(ws);
        sr->status = status;
        free(sr->why);
        sr->why = why;
        if (ws->active) {
                ws->active = false;
                w->active--;
        }
        if (status == TF_STEP_FAILED && (!ws->step->continue_on.failure || ws->step->handler) &&
            !w->failed) {
                w->failed = true;
                w->first_failed = ws->res_index;
        }
        step_line(w, sr);
        notify(w, ws);
}

static void kick(struct workflow *w);

static bool exit_code_continues(const struct tf_step *st, const struct tf_run_result *res) {
        if (res->reason != TF_REASON_EXITED)
                return false;
        for (size_t i = 0; i < st->continue_on.n_exit_codes; i++)
                if (st->continue_on.exit_codes[i] == res->exit_code)
                        return true;
        return false;
}

static int on_retry(struct tf_source *s, int fd, uint32_t events, void *userdata) {
        struct wstep *ws = userdata;
        tf_source_remove(s);
        ws->retry_timer = NULL;
        launch(ws);
        return 0;
}

static void on_step_done(struct tf_run *child, void *userdata) {
        struct wstep *ws = userdata;
        struct workflow *w = ws->w;
        struct tf_step_result *sr = res_of(ws);
        const struct tf_step *st = ws->step;

        ws->run = NULL;
        tf_run_result_done(&sr->result);
        sr->result = child->result;
        tf_run_result_init(&child->result);
        size_t out_len = 0;
        bool over = false;
        const char *out =
                st->output && child->outlog ? tf_outlog_captured(child->outlog, &out_len, &over) : NULL;

        enum tf_step_status status = child->state == TF_RUN_SUCCEEDED || exit_code_continues(st, &sr->result)
                                             ? TF_STEP_SUCCEEDED
                                             : TF_STEP_FAILED;
        char *why = NULL;
        if (status == TF_STEP_SUCCEEDED && over) {
                status = TF_STEP_FAILED;
                why = tf_asprintf(
                        "its output (output: %s) is more than %u bytes (1 MiB), the most a step may "
                        "pass on; write it to a file and pass the file's name",
                        st->output, OUTPUT_MAX);
        } else if (status == TF_STEP_SUCCEEDED && out) {
                free(sr->output);
                /* One trailing newline is the line's end, not the value's (as $(...) in a shell, but only
                 * one: the rest is the step's own). */
                if (out_len > 0 && out[out_len - 1] == '\n')
                        out_len--;
                sr->output = tf_malloc0(out_len + 1);
                memcpy(sr->output, out, out_len);
                sr->output_len = out_len;
        } else if (status == TF_STEP_FAILED && sr->result.error)
                why = tf_strdup(sr->result.error);
        tf_run_free(child);

        if ((ws->stopped || w->stopping) && status == TF_STEP_FAILED) {
                free(why);
                finish(ws, TF_STEP_CANCELLED, tf_strdup("the run was stopped"));
                kick(w);
                return;
        }
        const struct tf_spec *spec = st->spec;
        if (status == TF_STEP_FAILED && spec->restart.policy != TF_RESTART_NO &&
            (spec->restart.max_retries == TF_UNSET || ws->attempt <= spec->restart.max_retries)) {
                uint64_t d = tf_restart_backoff(spec, ws->attempt);
                char ds[32];
                tf_format_duration_short(ds, sizeof(ds), d);
                if (!w->r->opts->quiet)
                        tf_log("%s: attempt %u failed (status=%d reason=%s); retrying in %s", spec->name,
                               ws->attempt, sr->result.exit_status, tf_run_reason_name(sr->result.reason),
                               ds);
                _cleanup_error_ tf_error *e = NULL;
                if (tf_loop_add_timer(w->r->loop, CLOCK_MONOTONIC,
                                      tf_loop_now(w->r->loop, CLOCK_MONOTONIC) + d, on_retry, ws,
                                      &ws->retry_timer, &e) == 0) {
                        free(why);
                        return;
                }
                tf_log("warning: %s: %s; not retried", spec->name, e->msg);
        }
        finish(ws, status, why);
        kick(w);
}

/* Start one attempt of the step itself. */
static void launch(struct wstep *ws) {
        struct workflow *w = ws->w;
        struct tf_run *r = w->r;
        struct tf_step_result *sr = res_of(ws);
        const struct tf_step *st = ws->step;
        _cleanup_error_ tf_error *e = NULL;

        ws->attempt++;
        struct tf_run *child = NULL;
        if (tf_run_new(r->ctx, &ws->xspec, &w->copts, &child, &e) < 0) {
                finish(ws, TF_STEP_FAILED, tf_strdup(e->msg));
                kick(w);
                return;
        }
        /* The step's log: DIR/SERVICE/RUN_ID.STEP.log beside the run's (a retried attempt:
         * RUN_ID.STEP.2.log,
         * ...). Without a log directory, a step whose stdout is an output still goes through one (no file)
         * to be captured, its bytes copied to tfrun's own stdout and stderr as they come. */
        if (r->opts->log || st->output) {
                struct tf_outlog_options lo =
                        r->opts->log ? *r->opts->log : (struct tf_outlog_options){.echo_raw = true};
                if (tf_outlog_open(&lo, r->spec->name, sr->run_id, &child->outlog, &e) < 0) {
                        tf_run_free(child);
                        finish(ws, TF_STEP_FAILED, tf_strdup(e->msg));
                        kick(w);
                        return;
                }
                if (st->output)
                        tf_outlog_capture(child->outlog, OUTPUT_MAX);
        }
        ws->run = child;
        /* The attempt's log is known before it runs: the owner can follow it (logs -f --step). */
        free(sr->result.log_path);
        sr->result.log_path =
                child->outlog && tf_outlog_path(child->outlog) ? tf_strdup(tf_outlog_path(child->outlog)) : NULL;
        if (sr->status != TF_STEP_RUNNING) {
                sr->status = TF_STEP_RUNNING;
                sr->result.start_realtime_usec = tf_loop_now(r->loop, CLOCK_REALTIME);
                notify(w, ws);
        }
        tf_run_start(child, on_step_done, ws);
}

static void on_cond_done(struct tf_run *child, void *userdata) {
        struct wstep *ws = userdata;
        struct workflow *w = ws->w;
        const struct tf_condition *c = &ws->step->when[ws->cond_next];
        bool exited = child->result.reason == TF_REASON_EXITED;
        int code = child->result.exit_code;
        _cleanup_free_ char *err = child->result.error ? tf_strdup(child->result.error) : NULL;
        enum tf_run_reason reason = child->result.reason;
        int status = child->result.exit_status;
        ws->cond = NULL;
        tf_run_free(child);
        if (w->stopping) {
                finish(ws, TF_STEP_CANCELLED, tf_strdup("the run was stopped"));
                kick(w);
                return;
        }
        if (!exited || code != c->exit_code) {
                _cleanup_free_ char *cmd = tf_strv_join_quoted(c->argv);
                char *why;
                if (err)
                        why = tf_asprintf("when: command '%s' did not run: %s", cmd, err);
                else if (exited)
                        why = tf_asprintf("when: command '%s' exited %d, not %d", cmd, code, c->exit_code);
                else
                        why = tf_asprintf("when: command '%s' ended with status %d (%s), not exit %d", cmd,
                                          status, tf_run_reason_name(reason), c->exit_code);
                finish(ws, TF_STEP_SKIPPED, why);
                kick(w);
                return;
        }
        ws->cond_next++;
        next_condition(ws);
}

/* The command conditions one after the other (the value ones are decided already), then the step. A
 * command runs as the step would, on its backend and in its sandbox, with its limits, env and timeout,
 * below the workflow's cgroup; its output is not kept; only its exit code counts. */
static void next_condition(struct wstep *ws) {
        struct workflow *w = ws->w;
        const struct tf_step *st = ws->step;
        while (ws->cond_next < st->n_when && st->when[ws->cond_next].kind != TF_COND_COMMAND)
                ws->cond_next++;
        if (ws->cond_next >= st->n_when) {
                launch(ws);
                return;
        }
        const struct tf_condition *c = &st->when[ws->cond_next];
        ws->cspec = ws->xspec;
        ws->cspec.argv = c->argv;
        ws->cspec.restart.policy = TF_RESTART_NO;
        _cleanup_error_ tf_error *e = NULL;
        struct tf_run *child = NULL;
        struct tf_outlog_options discard = {};
        if (tf_run_new(w->r->ctx, &ws->cspec, &w->copts, &child, &e) < 0 ||
            tf_outlog_open(&discard, w->r->spec->name, "condition", &child->outlog, &e) < 0) {
                tf_run_free(child);
                finish(ws, TF_STEP_FAILED, tf_asprintf("when: %s", e->msg));
                kick(w);
                return;
        }
        ws->cond = child;
        tf_run_start(child, on_cond_done, ws);
}

/* Value conditions: NULL when all hold, else why not. */
static char *values_hold(struct workflow *w, const struct tf_step *st) {
        for (size_t i = 0; i < st->n_when; i++) {
                const struct tf_condition *c = &st->when[i];
                if (c->kind == TF_COND_COMMAND)
                        continue;
                const char *v = c->var_is_output ? output_of(w, c->var) : c->env_value;
                if (!v)
                        v = "";
                _cleanup_free_ char *sv = shown(v), *sw = shown(c->value);
                switch (c->kind) {
                case TF_COND_EQUALS:
                        if (!streq(v, c->value))
                                return tf_asprintf("when: %s is %s, not %s", c->var, sv, sw);
                        break;
                case TF_COND_NOT_EQUALS:
                        if (streq(v, c->value))
                                return tf_asprintf("when: %s is %s", c->var, sv);
                        break;
                case TF_COND_MATCHES: {
                        regex_t re;
                        if (regcomp(&re, c->value, REG_EXTENDED | REG_NOSUB) != 0)
                                return tf_asprintf("when: %s: the expression %s does not compile", c->var,
                                                   sw);
                        int m = regexec(&re, v, 0, NULL, 0);
                        regfree(&re);
                        if (m != 0)
                                return tf_asprintf("when: %s is %s, which does not match %s", c->var, sv,
                                                   sw);
                        break;
                }
                default:
                        break;
                }
        }
        return NULL;
}

/* The step's spec as it runs: outputs in place of its references, the run's extra env, a handler's facts. */
static void prepare(struct wstep *ws) {
        struct workflow *w = ws->w;
        const struct tf_step *st = ws->step;
        tf_strv_free(ws->argv);
        tf_strv_free(ws->env);
        free(ws->working_dir);
        ws->argv = ws->env = NULL;
        ws->working_dir = NULL;
        if (st->n_refs > 0)
                tf_step_expand(st, lookup, w, &ws->argv, &ws->env, &ws->working_dir);
        else {
                ws->argv = tf_strv_copy(st->spec->argv);
                ws->env = tf_strv_copy(st->spec->env);
                ws->working_dir = st->spec->working_dir ? tf_strdup(st->spec->working_dir) : NULL;
        }
        if (w->r->extra)
                ws->env = env_add(ws->env, w->r->extra->env);
        ws->env = env_add(ws->env, ws->handler_env);
        ws->xspec = *st->spec;
        ws->xspec.argv = ws->argv;
        ws->xspec.env = ws->env;
        ws->xspec.working_dir = ws->working_dir;
}

static void begin(struct wstep *ws) {
        struct workflow *w = ws->w;
        ws->active = true;
        w->active++;
        char *why = values_hold(w, ws->step);
        if (why) {
                finish(ws, TF_STEP_SKIPPED, why);
                kick(w); /* a handler has no further round of schedule() to notice */
                return;
        }
        prepare(ws);
        ws->cond_next = 0;
        next_condition(ws);
}

static const char *not_ok(const struct tf_step_result *d) {
        switch (d->status) {
        case TF_STEP_SUCCEEDED:
        case TF_STEP_REUSED:
                return NULL;
        case TF_STEP_FAILED:
                return d->step->continue_on.failure ? NULL : "failed";
        case TF_STEP_SKIPPED:
                return d->step->continue_on.skipped ? NULL : "was skipped";
        default:
                return "was cancelled";
        }
}

static void end_workflow(struct workflow *w);

/* A handler runs as a step after the DAG, with the run's facts in its env; appended to the results. */
static void start_handler(struct workflow *w, const struct tf_step *h) {
        struct tf_run *r = w->r;
        size_t k = r->result.n_steps++;
        struct tf_step_result *sr = &r->result.steps[k];
        *sr = (struct tf_step_result){.step = h,
                                      .position = k,
                                      .status = TF_STEP_PENDING,
                                      .run_id = tf_asprintf("%s.%s", r->run_id, h->name)};
        tf_run_result_init(&sr->result);
        struct wstep *ws = &w->st[w->n + w->n_handlers++];
        *ws = (struct wstep){.w = w, .step = h, .res_index = k};
        tf_strv_consume(&ws->handler_env, tf_asprintf("TFRUN_SERVICE=%s", r->spec->name));
        tf_strv_consume(&ws->handler_env, tf_asprintf("TFRUN_RUN_ID=%s", r->run_id));
        tf_strv_consume(&ws->handler_env,
                        tf_asprintf("TFRUN_STATUS=%s", w->failed ? "failed" : "succeeded"));
        if (w->failed) {
                const struct tf_step_result *f = &r->result.steps[w->first_failed];
                tf_strv_consume(&ws->handler_env, tf_asprintf("TFRUN_FAILED_STEP=%s", f->step->name));
                if (f->result.log_path)
                        tf_strv_consume(&ws->handler_env,
                                        tf_asprintf("TFRUN_FAILED_STEP_LOG=%s", f->result.log_path));
        }
        begin(ws);
}

static bool dag_done(struct workflow *w) {
        for (size_t i = 0; i < w->n; i++)
                if (!status_final(w->r->result.steps[i].status))
                        return false;
        return w->active == 0;
}

static void schedule(struct workflow *w) {
        struct tf_run *r = w->r;
        const struct tf_spec *spec = r->spec;
        if (w->phase == 3)
                return;
        if (w->phase == 0) {
                bool changed;
                do {
                        changed = false;
                        for (size_t i = 0; i < w->n; i++) {
                                struct wstep *ws = &w->st[i];
                                struct tf_step_result *sr = res_of(ws);
                                if (sr->status != TF_STEP_PENDING || ws->active)
                                        continue;
                                if (w->stopping) {
                                        finish(ws, TF_STEP_CANCELLED,
                                               tf_strdup("the run was stopped before it could start"));
                                        changed = true;
                                        continue;
                                }
                                bool ready = true;
                                const char *bad = NULL;
                                const struct tf_step_result *bad_dep = NULL;
                                for (size_t d = 0; d < ws->step->n_deps && ready; d++) {
                                        const struct tf_step_result *dr =
                                                &r->result.steps[ws->step->deps[d]];
                                        if (!status_final(dr->status))
                                                ready = false;
                                        else if (!bad && (bad = not_ok(dr)))
                                                bad_dep = dr;
                                }
                                if (!ready)
                                        continue;
                                if (bad) {
                                        finish(ws, TF_STEP_SKIPPED,
                                               tf_asprintf("needs %s, which %s", bad_dep->step->name, bad));
                                        changed = true;
                                        continue;
                                }
                                /* TF_UNSET: no bound (the spec refuses max_parallel: 0). */
                                if (spec->max_parallel != TF_UNSET && w->active >= spec->max_parallel)
                                        continue;
                                begin(ws);
                                changed = true;
                        }
                } while (changed);
                if (!dag_done(w))
                        return;
                w->phase = 1;
                /* After a stop the run's time is up: no handler runs. */
                const struct tf_step *h = w->failed ? spec->on_failure : spec->on_success;
                if (!w->stopping && h) {
                        start_handler(w, h);
                        return;
                }
        }
        if (w->phase == 1) {
                if (w->active > 0)
                        return;
                w->phase = 2;
                if (!w->stopping && spec->on_exit) {
                        start_handler(w, spec->on_exit);
                        return;
                }
        }
        if (w->phase == 2 && w->active == 0) {
                w->phase = 3;
                end_workflow(w);
        }
}

static int on_kick(struct tf_source *s, int fd, uint32_t events, void *userdata) {
        struct workflow *w = userdata;
        w->kick = NULL;
        schedule(w);
        return 0;
}

/* Schedule from the loop, once per round however many steps ended: never from inside the call that ended
 * a step (a skip or a condition decided inside begin()). */
static void kick(struct workflow *w) {
        if (!w->kick)
                tf_loop_defer(w->r->loop, on_kick, w, &w->kick);
}

static void end_workflow(struct workflow *w) {
        struct tf_run *r = w->r;
        if (r->stopping == TF_REASON_CANCELLED) {
                /* As a process ended by the stop signal (run.c keeps 124 for a timeout). */
                tf_run_child_exited(r, CLD_KILLED, r->spec->stop_signal);
                return;
        }
        if (!w->failed) {
                tf_run_child_exited(r, CLD_EXITED, 0);
                return;
        }
        /* The run ends as its first failed step did: that step's exit status (124 for its own timeout,
         * 125-127 when it could not start), its signal, an OOM kill. */
        const struct tf_run_result *f = &r->result.steps[w->first_failed].result;
        if (f->signal)
                tf_run_child_exited(r, CLD_KILLED, f->signal);
        else
                tf_run_child_exited(r, CLD_EXITED, f->exit_status > 0 ? f->exit_status : 1);
}

/* ---- the backend ---- */

static bool has_docker_steps(const struct tf_spec *s) {
        for (size_t i = 0; i < s->n_steps; i++)
                if (s->steps[i].spec->resolved_backend == TF_BACKEND_DOCKER)
                        return true;
        const struct tf_step *h[] = {s->on_success, s->on_failure, s->on_exit};
        for (size_t i = 0; i < ELEMENTSOF(h); i++)
                if (h[i] && h[i]->spec->resolved_backend == TF_BACKEND_DOCKER)
                        return true;
        return false;
}

static int check_step(struct tf_run *r, const struct tf_step *st, tf_error **err) {
        /* A working_dir made of an output is checked when the step starts. */
        for (size_t i = 0; i < st->n_refs; i++)
                if (st->refs[i].field == TF_REF_WORKING_DIR)
                        return 0;
        struct tf_run_options o = *r->opts;
        /* Below the workflow's cgroup (top-level limits), a container gets its CgroupParent. */
        if (limits_set(&r->spec->limits) && st->spec->resolved_backend == TF_BACKEND_DOCKER)
                o.container_cgroup_parent = "/";
        return tf_run_check(r->ctx, st->spec, &o, err);
}

static int workflow_check(struct tf_run *r, tf_error **err) {
        const struct tf_spec *s = r->spec;
        for (size_t i = 0; i < s->n_steps; i++) {
                int k = check_step(r, &s->steps[i], err);
                if (k < 0)
                        return k;
        }
        const struct tf_step *h[] = {s->on_success, s->on_failure, s->on_exit};
        for (size_t i = 0; i < ELEMENTSOF(h); i++)
                if (h[i]) {
                        int k = check_step(r, h[i], err);
                        if (k < 0)
                                return k;
                }
        if (!limits_set(&s->limits))
                return 0;
        /* With container steps, the cgroup is at one path in every hierarchy (their CgroupParent). The
         * engine must take that path as a cgroupfs one: with the systemd cgroup driver it would have to be
         * a slice name, refused by the engine when the container is created. */
        return tf_native_parent_check(r, err);
}

static int workflow_start(struct tf_run *r, tf_error **err) {
        const struct tf_spec *s = r->spec;
        struct workflow *w = tf_malloc0(sizeof(*w));
        w->r = r;
        w->n = s->n_steps;
        r->backend = w;
        w->copts = *r->opts;
        w->copts.json = false;
        w->copts.json_file = NULL;
        w->copts.quiet = true; /* the workflow says how each step went, once */
        w->copts.on_step = NULL;
        w->copts.log = NULL; /* each step's log is opened here, beside the run's */
        if (limits_set(&s->limits)) {
                bool one_path = has_docker_steps(s);
                int k = tf_native_parent_create(r, one_path, &w->cg, &w->cg_name, &w->cg_rel, err);
                if (k < 0)
                        return k;
                w->copts.cgroup_parent = w->cg_rel;
                if (one_path) {
                        w->docker_parent = tf_strdup(w->cg_rel);
                        w->copts.container_cgroup_parent = w->docker_parent;
                }
        }
        w->st = tf_malloc0((w->n + N_HANDLERS) * sizeof(*w->st));
        r->result.steps = tf_malloc0((w->n + N_HANDLERS) * sizeof(*r->result.steps));
        r->result.n_steps = w->n;
        for (size_t i = 0; i < w->n; i++) {
                struct tf_step_result *sr = &r->result.steps[i];
                *sr = (struct tf_step_result){.step = &s->steps[i],
                                              .position = i,
                                              .status = TF_STEP_PENDING,
                                              .run_id = tf_asprintf("%s.%s", r->run_id, s->steps[i].name)};
                tf_run_result_init(&sr->result);
                w->st[i] = (struct wstep){.w = w, .step = &s->steps[i], .res_index = i};
        }
        tf_run_started(r);
        /* A retry: the steps it does not run again, with their recorded outputs. */
        for (size_t k = 0; r->extra && k < r->extra->n_reuse; k++) {
                const struct tf_step_reuse *u = &r->extra->reuse[k];
                for (size_t i = 0; i < w->n; i++) {
                        struct tf_step_result *sr = &r->result.steps[i];
                        if (!streq(s->steps[i].name, u->name) || sr->status != TF_STEP_PENDING)
                                continue;
                        if (u->output) {
                                sr->output = tf_malloc0(u->output_len + 1);
                                memcpy(sr->output, u->output, u->output_len);
                                sr->output_len = u->output_len;
                        }
                        sr->result.exit_status = 0;
                        sr->result.exit_code = 0;
                        finish(&w->st[i], TF_STEP_REUSED, NULL);
                }
        }
        kick(w);
        return 0;
}

static void stop_all(struct workflow *w, bool kill) {
        w->stopping = true;
        for (size_t i = 0; i < w->n + w->n_handlers; i++) {
                struct wstep *ws = &w->st[i];
                if (!ws->active)
                        continue;
                if (ws->retry_timer) {
                        tf_source_remove(ws->retry_timer);
                        ws->retry_timer = NULL;
                        finish(ws, TF_STEP_CANCELLED,
                               tf_strdup("the run was stopped before its next attempt"));
                        continue;
                }
                /* Each step by its own stop: (its signal, its grace); a second call kills at once. */
                if (ws->run) {
                        ws->stopped = true;
                        tf_run_stop(ws->run, true);
                        if (kill)
                                tf_run_stop(ws->run, true);
                }
                if (ws->cond) {
                        tf_run_stop(ws->cond, true);
                        if (kill)
                                tf_run_stop(ws->cond, true);
                }
        }
        kick(w);
}

static int on_stop_defer(struct tf_source *s, int fd, uint32_t events, void *userdata) {
        struct workflow *w = userdata;
        w->stop_defer = NULL;
        tf_run_stop(w->r, true);
        return 0;
}

static int workflow_signal(struct tf_run *r, int sig, bool all, tf_error **err) {
        struct workflow *w = r->backend;
        if (!w)
                return 0;
        if (!all) {
                /* A signal forwarded to the run (tfrun got SIGINT or SIGTERM): the workflow stops as a
                 * whole, each running step per its stop:, no further step starts. */
                if (!w->stop_defer && !w->stopping)
                        tf_loop_defer(r->loop, on_stop_defer, w, &w->stop_defer);
                return 0;
        }
        stop_all(w, sig == SIGKILL);
        return 0;
}

static int workflow_collect(struct tf_run *r, struct tf_run_result *res, bool *oom, tf_error **err) {
        struct workflow *w = r->backend;
        uint64_t cpu = TF_UNSET, mem = TF_UNSET, pids = TF_UNSET, kills = TF_UNSET, refused = TF_UNSET;
        for (size_t i = 0; i < r->result.n_steps; i++) {
                const struct tf_run_result *sr = &r->result.steps[i].result;
#define SUM(acc, v)                                                                                         \
        if ((v) != TF_UNSET)                                                                                \
        acc = (acc == TF_UNSET ? 0 : acc) + (v)
#define MAX(acc, v)                                                                                         \
        if ((v) != TF_UNSET && (acc == TF_UNSET || (v) > acc))                                              \
        acc = (v)
                SUM(cpu, sr->cpu_usec);
                MAX(mem, sr->memory_peak);
                MAX(pids, sr->pids_peak);
                SUM(kills, sr->oom_kills);
                SUM(refused, sr->pids_refused);
        }
        /* The workflow's cgroup knows the peak of all its native steps together. */
        struct tf_cg_stats cs;
        if (w && w->cg && tf_cg_stats(w->cg, &cs, NULL) >= 0) {
                MAX(mem, cs.memory_peak);
                MAX(pids, cs.pids_peak);
        }
#undef SUM
#undef MAX
        res->cpu_usec = cpu;
        res->memory_peak = mem;
        res->pids_peak = pids;
        res->oom_kills = kills;
        res->pids_refused = refused;
        *oom = w && w->failed && r->result.steps[w->first_failed].result.reason == TF_REASON_OOM_KILLED;
        return 0;
}

static void workflow_cleanup(struct tf_run *r) {
        struct workflow *w = r->backend;
        if (!w)
                return;
        r->backend = NULL;
        tf_source_remove(w->kick);
        tf_source_remove(w->stop_defer);
        for (size_t i = 0; i < w->n + w->n_handlers; i++) {
                struct wstep *ws = &w->st[i];
                tf_source_remove(ws->retry_timer);
                /* Only when the run is freed before it ended: its steps go with it (their cleanup kills). */
                tf_run_free(ws->run);
                tf_run_free(ws->cond);
                tf_strv_free(ws->argv);
                tf_strv_free(ws->env);
                tf_strv_free(ws->handler_env);
                free(ws->working_dir);
        }
        free(w->st);
        tf_native_parent_remove(r, w->cg, w->cg_name, w->docker_parent);
        free(w->cg_rel);
        free(w->docker_parent);
        free(w);
}

const struct tf_backend_ops tf_workflow_backend = {
        .name = "workflow",
        .shares_pgrp = false,
        .check = workflow_check,
        .start = workflow_start,
        .signal = workflow_signal,
        .collect = workflow_collect,
        .cleanup = workflow_cleanup,
};
