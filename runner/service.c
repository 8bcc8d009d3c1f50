/* SPDX-License-Identifier: MIT */
#include "runner/service.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/io.h"
#include "base/parse.h"
#include "base/strutil.h"
#include "base/timeutil.h"
#include "runner/fireplan.h"
#include "runner/pathwatch.h"

/* A spec shared by the runs started from it: a reload must not pull it from under a running job. */
struct spec_ref {
        struct tf_spec *spec;
        struct tf_fire_plan *plan;
        unsigned refs;
};

struct job {
        struct tf_service *svc;
        struct spec_ref *ref;
        struct tf_run *run;            /* NULL while the job waits for its retry */
        struct tf_source *retry_timer; /* CLOCK_MONOTONIC */
        unsigned attempt;              /* 0 for the first run of a fire */
        enum tf_trigger trigger;       /* what started the job */
        uint64_t scheduled_usec;       /* the fire it is for; 0 when not scheduled */
        struct tf_run_extra *extra;    /* owned: what every attempt carries (tf_service_trigger_ex) */
        /* Admission: waiting for the owner's tf_service_job_admit(), or admitted (its run holds a
         * reservation until release). */
        bool waiting, admitted;
        /* Stopped to make room (tf_service_job_preempt): why, for its history; counts as a failed attempt
         * for restart:. Owned; NULL when not preempted. */
        char *preempted;
        void *tag;
        struct job *next;
};

struct tf_service {
        struct tf_run_ctx *ctx; /* borrowed */
        struct tf_loop *loop;   /* borrowed */
        struct tf_service_options o;
        struct spec_ref *cur;
        struct job *jobs;
        unsigned n_jobs;
        struct tf_source *fire_timer; /* CLOCK_REALTIME, cancel-on-set */
        struct tf_path_watch *watch;  /* schedule.path (resident); NULL when none */
        struct tf_source *idle_call;  /* deferred on_idle */
        struct tf_source *first[2];   /* deferred first runs: one-shot or catch-up, and @reboot */
        uint64_t missed_usec;         /* persistent: the first fire missed while nothing ran */
        uint64_t next_due;            /* the scheduled time of the armed fire (without delay) */
        uint64_t fire_at;             /* next_due plus the randomized delay: when the timer goes off */
        bool queued;                  /* overlap queue/replace: one fire waits for the running job */
        enum tf_trigger queued_kind;
        uint64_t queued_scheduled;
        struct tf_run_extra *queued_extra; /* owned */
        enum tf_trigger fire_kind;    /* of the fire being handled by tf_service_trigger() */
        uint64_t fire_scheduled;
        bool draining;
        bool disabled;
        unsigned runs_started;
        struct tf_run_result last;    /* the last ended run's result (last.error owned) */
        uint64_t last_ended_usec;     /* 0 before any */
        int status;
        char *state_path;
        void (*on_idle)(struct tf_service *s, void *userdata);
        void *on_idle_userdata;
};

static struct spec_ref *ref_new(struct tf_spec *spec, struct tf_fire_plan *plan) {
        struct spec_ref *r = tf_malloc0(sizeof(*r));
        r->spec = spec;
        r->plan = plan;
        r->refs = 1;
        return r;
}

static void ref_put(struct spec_ref *r) {
        if (!r || --r->refs > 0)
                return;
        tf_spec_free(r->spec);
        tf_fire_plan_free(r->plan);
        free(r);
}

static uint64_t now_rt(const struct tf_service *s) {
        return tf_loop_now(s->loop, CLOCK_REALTIME);
}

char *tf_default_state_dir(void) {
        if (geteuid() == 0)
                return tf_strdup("/var/lib/tfrun");
        const char *x = getenv("XDG_STATE_HOME");
        if (x && *x == '/')
                return tf_asprintf("%s/tfrun", x);
        const char *h = getenv("HOME");
        return tf_asprintf("%s/.local/state/tfrun", h && *h ? h : "/tmp");
}

/* --- persistent state: the last start time, written atomically (temp + fsync + rename) --- */

static int mkdir_p(const char *path) {
        _cleanup_free_ char *p = tf_strdup(path);
        for (char *c = p + 1; *c; c++)
                if (*c == '/') {
                        *c = 0;
                        if (mkdir(p, 0755) < 0 && errno != EEXIST)
                                return -errno;
                        *c = '/';
                }
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static int state_write(struct tf_service *s, uint64_t start_usec) {
        if (!s->state_path)
                return 0;
        _cleanup_free_ char *dir = tf_strdup(s->state_path);
        *strrchr(dir, '/') = 0;
        int r = mkdir_p(dir);
        if (r < 0)
                return r;
        /* The state directory may be one that others can write: see tf_write_file_atomic(). */
        char buf[128];
        int n = snprintf(buf, sizeof(buf), "{\"last_start_usec\": %" PRIu64 "}\n", start_usec);
        return tf_write_file_atomic(s->state_path, buf, (size_t) n, 0644);
}

/* -ENOENT when there is no state yet; a file that exists but cannot be used is said, not silently taken
 * for "never ran": the catch-up it would have given is lost, and the user should know why. */
static int state_read(struct tf_service *s, uint64_t *ret) {
        json_error_t je;
        if (access(s->state_path, F_OK) < 0 && errno == ENOENT)
                return -ENOENT;
        json_t *o = json_load_file(s->state_path, JSON_REJECT_DUPLICATES, &je);
        json_t *v = o ? json_object_get(o, "last_start_usec") : NULL;
        int r = json_is_integer(v) && json_integer_value(v) > 0 ? 0 : -EINVAL;
        if (r == 0)
                *ret = (uint64_t) json_integer_value(v);
        else
                tf_log("warning: %s: persistent state %s is unreadable (%s); kept nothing of it: no catch-up "
                       "this time, and the next start rewrites it",
                       s->cur->spec->name, s->state_path, o ? "no positive integer last_start_usec" : je.text);
        json_decref(o);
        return r;
}

/* --- jobs --- */

static void arm_next_fire(struct tf_service *s, uint64_t after);
static bool run_job(struct job *j);

bool tf_service_idle(const struct tf_service *s) {
        return s->n_jobs == 0 && !s->queued;
}

static int on_idle_call(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        struct tf_service *s = userdata;
        s->idle_call = NULL;
        if (tf_service_idle(s) && s->on_idle)
                s->on_idle(s, s->on_idle_userdata);
        return 0;
}

/* Deferred: the owner may free the service from its callback. */
static void check_idle(struct tf_service *s) {
        if (tf_service_idle(s) && !s->idle_call)
                tf_loop_defer(s->loop, on_idle_call, s, &s->idle_call);
}

/* Once per admit: the owner frees what the job held or its place in the queue. */
static void job_release(struct job *j) {
        struct tf_service *s = j->svc;
        if (!j->waiting && !j->admitted)
                return;
        j->waiting = j->admitted = false;
        if (s->o.hooks && s->o.hooks->release)
                s->o.hooks->release(s, (struct tf_service_job *) j, s->o.hooks->userdata);
}

static void job_free(struct tf_service *s, struct job *j) {
        job_release(j);
        for (struct job **p = &s->jobs; *p; p = &(*p)->next)
                if (*p == j) {
                        *p = j->next;
                        s->n_jobs--;
                        break;
                }
        tf_source_remove(j->retry_timer);
        tf_run_free(j->run);
        ref_put(j->ref);
        tf_run_extra_free(j->extra);
        free(j->preempted);
        free(j);
}

static bool should_retry(const struct tf_spec *spec, const struct tf_run *r, unsigned attempt,
                         bool preempted) {
        if (spec->restart.policy == TF_RESTART_NO)
                return false;
        /* Stopped on request: no retry; stopped to make room: a failed attempt, retried per restart:. */
        if (r->state == TF_RUN_CANCELLED && !preempted)
                return false;
        if (spec->restart.policy == TF_RESTART_ON_FAILURE && r->state == TF_RUN_SUCCEEDED)
                return false;
        return spec->restart.max_retries == TF_UNSET || attempt < spec->restart.max_retries;
}

static int on_retry(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        struct job *j = userdata;
        tf_source_remove(src);
        j->retry_timer = NULL;
        run_job(j);
        return 0;
}

static void start_queued(struct tf_service *s);

static void on_run_done(struct tf_run *r, void *userdata) {
        struct job *j = userdata;
        struct tf_service *s = j->svc;
        const struct tf_spec *spec = j->ref->spec;
        tf_run_report(r);
        /* The history's reason for a run stopped to make room (its outcome stays cancelled: not a
         * failure). */
        bool preempted = j->preempted && r->result.reason == TF_REASON_CANCELLED;
        if (preempted && !r->result.error)
                r->result.error = tf_strdup(j->preempted);
        free(j->preempted);
        j->preempted = NULL;
        s->status = r->result.exit_status;
        /* A copy that owns its strings: the run goes away below. */
        free(s->last.error);
        free(s->last.log_path);
        s->last = r->result;
        s->last.steps = NULL; /* the last result's facts only; steps stay with the run (history has them) */
        s->last.n_steps = 0;
        s->last.error = r->result.error ? tf_strdup(r->result.error) : NULL;
        s->last.log_path = r->result.log_path ? tf_strdup(r->result.log_path) : NULL;
        s->last_ended_usec = now_rt(s);
        if (s->o.hooks && s->o.hooks->run_ended)
                s->o.hooks->run_ended(s, r, s->o.hooks->userdata);
        bool retry = !s->draining && should_retry(spec, r, j->attempt, preempted);
        /* Its reservation is free again before anything else starts (a retry asks for admission anew,
         * and what job_ended triggers may be admitted in its place). */
        job_release(j);
        if (retry) {
                uint64_t d = tf_restart_backoff(spec, j->attempt + 1);
                char b[64];
                tf_log("%s: retry %u in %s (restart: %s)", spec->name, j->attempt + 1,
                       tf_format_duration(b, sizeof(b), d),
                       spec->restart.policy == TF_RESTART_ALWAYS ? "always" : "on-failure");
                _cleanup_error_ tf_error *e = NULL;
                if (tf_loop_add_timer(s->loop, CLOCK_MONOTONIC, tf_loop_now(s->loop, CLOCK_MONOTONIC) + d,
                                      on_retry, j, &j->retry_timer, &e) == 0) {
                        j->attempt++;
                        /* Safe here: on_done is the last thing a run does. */
                        tf_run_free(r);
                        j->run = NULL;
                        return;
                }
                tf_log("%s: cannot arm the retry timer: %s", spec->name, e->msg);
        }
        /* The job's last run: what it ended as is the job's outcome. */
        if (s->o.hooks && s->o.hooks->job_ended)
                s->o.hooks->job_ended(s, r, j->attempt + 1, s->o.hooks->userdata);
        tf_run_free(r);
        j->run = NULL;
        job_free(s, j);
        start_queued(s);
        check_idle(s);
}

/* False when the job is gone (its run could not be created). */
static bool run_job(struct job *j) {
        struct tf_service *s = j->svc;
        _cleanup_error_ tf_error *e = NULL;
        if (s->o.hooks && s->o.hooks->admit && !j->admitted) {
                j->waiting = true;
                if (!s->o.hooks->admit(s, (struct tf_service_job *) j, s->o.hooks->userdata))
                        return true; /* tf_service_job_admit() comes back here */
                j->waiting = false;
                j->admitted = true;
        }
        if (tf_run_new(s->ctx, j->ref->spec, s->o.run, &j->run, &e) < 0) {
                tf_log("%s", e->msg);
                s->status = 125;
                job_free(s, j);
                check_idle(s);
                return false;
        }
        tf_run_set_extra(j->run, j->extra);
        const struct tf_spec *spec = j->ref->spec;
        s->runs_started++;
        if (spec->schedule.persistent) {
                int r = state_write(s, now_rt(s));
                if (r < 0)
                        tf_log("%s: cannot record the start in %s: %s", spec->name, s->state_path, strerror(-r));
        }
        /* Every outcome, a refused start included, comes back through on_run_done, from the loop: the run
         * is still there for the hook. */
        tf_run_start(j->run, on_run_done, j);
        if (s->o.hooks && s->o.hooks->run_started)
                s->o.hooks->run_started(s, j->run, j->attempt > 0 ? TF_TRIGGER_RETRY : j->trigger, j->attempt,
                                        j->scheduled_usec, s->o.hooks->userdata);
        return true;
}

/* Takes extra. NULL when the job is gone already (its run could not be created). */
static struct job *new_job(struct tf_service *s, enum tf_trigger kind, uint64_t scheduled_usec,
                           struct tf_run_extra *extra) {
        struct job *j = tf_malloc0(sizeof(*j));
        j->svc = s;
        j->extra = extra;
        j->trigger = kind;
        j->scheduled_usec = scheduled_usec;
        j->ref = s->cur;
        j->ref->refs++;
        j->next = s->jobs;
        s->jobs = j;
        s->n_jobs++;
        return run_job(j) ? j : NULL;
}

static void start_queued(struct tf_service *s) {
        if (s->queued && !s->draining && s->n_jobs == 0) {
                s->queued = false;
                struct tf_run_extra *x = s->queued_extra;
                s->queued_extra = NULL;
                new_job(s, s->queued_kind, s->queued_scheduled, x);
        }
}

/* --- admission --- */

void tf_service_job_admit(struct tf_service_job *job) {
        struct job *j = (struct job *) job;
        if (!j->waiting)
                return;
        j->waiting = false;
        j->admitted = true;
        run_job(j);
}

void tf_service_job_reject(struct tf_service_job *job, const char *reason) {
        struct job *j = (struct job *) job;
        struct tf_service *s = j->svc;
        if (!j->waiting)
                return;
        j->waiting = false; /* the owner dropped it already: no release */
        if (s->o.hooks && s->o.hooks->fire_missed)
                s->o.hooks->fire_missed(s, reason, j->scheduled_usec, s->o.hooks->userdata);
        job_free(s, j);
        start_queued(s);
        check_idle(s);
}

bool tf_service_job_preempt(struct tf_service_job *job, const char *why) {
        struct job *j = (struct job *) job;
        if (!j->admitted || !j->run || j->run->state < TF_RUN_STARTING || j->run->state > TF_RUN_STOPPING ||
            j->preempted)
                return false;
        j->preempted = tf_strdup(why);
        tf_log("%s: %s: stopping it (%s)", j->ref->spec->name, j->run->run_id, why);
        tf_run_stop(j->run, true);
        return true;
}

uint64_t tf_service_job_scheduled(const struct tf_service_job *job) {
        return ((const struct job *) job)->scheduled_usec;
}

enum tf_trigger tf_service_job_trigger(const struct tf_service_job *job) {
        const struct job *j = (const struct job *) job;
        return j->attempt > 0 ? TF_TRIGGER_RETRY : j->trigger;
}

unsigned tf_service_job_attempt(const struct tf_service_job *job) {
        return ((const struct job *) job)->attempt;
}

struct tf_service *tf_service_job_service(const struct tf_service_job *job) {
        return ((const struct job *) job)->svc;
}

const struct tf_spec *tf_service_job_spec(const struct tf_service_job *job) {
        return ((const struct job *) job)->ref->spec;
}

void tf_service_job_set_tag(struct tf_service_job *job, void *tag) {
        ((struct job *) job)->tag = tag;
}

void *tf_service_job_tag(const struct tf_service_job *job) {
        return ((const struct job *) job)->tag;
}

/* --- firing --- */

const char *tf_trigger_name(enum tf_trigger t) {
        static const char *const names[] = {
                [TF_TRIGGER_START] = "start",     [TF_TRIGGER_SCHEDULE] = "schedule", [TF_TRIGGER_CATCHUP] = "catchup",
                [TF_TRIGGER_REBOOT] = "reboot",   [TF_TRIGGER_MANUAL] = "manual",     [TF_TRIGGER_RETRY] = "retry",
                [TF_TRIGGER_SERVICE] = "service", [TF_TRIGGER_PATH] = "path",
        };
        return (size_t) t < ELEMENTSOF(names) && names[t] ? names[t] : "?";
}

enum tf_trigger_outcome tf_service_trigger_as(struct tf_service *s, enum tf_trigger kind, const char *why,
                                              char **ret_run_id) {
        return tf_service_trigger_ex(s, kind, why, NULL, ret_run_id);
}

enum tf_trigger_outcome tf_service_trigger_ex(struct tf_service *s, enum tf_trigger kind, const char *why,
                                              const struct tf_run_extra *extra, char **ret_run_id) {
        const struct tf_spec *spec = s->cur->spec;
        uint64_t scheduled = kind == TF_TRIGGER_SCHEDULE ? s->next_due : 0;
        if (ret_run_id)
                *ret_run_id = NULL;
        if (s->draining)
                return TF_TRIGGER_DRAINING;
        if (s->n_jobs > 0) {
                switch (spec->schedule.overlap) {
                case TF_OVERLAP_SKIP:
                        tf_log("%s: %s: skipped, the previous run is still going (overlap: skip)", spec->name, why);
                        return TF_TRIGGER_SKIPPED;
                case TF_OVERLAP_QUEUE:
                        if (s->queued) {
                                tf_log("%s: %s: skipped, one run is already queued (overlap: queue)", spec->name,
                                       why);
                                return TF_TRIGGER_SKIPPED;
                        }
                        tf_log("%s: %s: queued behind the running one (overlap: queue)", spec->name, why);
                        s->queued = true;
                        s->queued_kind = kind;
                        s->queued_scheduled = scheduled;
                        tf_run_extra_free(s->queued_extra);
                        s->queued_extra = tf_run_extra_dup(extra);
                        return TF_TRIGGER_QUEUED;
                case TF_OVERLAP_REPLACE:
                        tf_log("%s: %s: stopping the running one to replace it (overlap: replace)", spec->name,
                               why);
                        s->queued = true;
                        s->queued_kind = kind;
                        s->queued_scheduled = scheduled;
                        tf_run_extra_free(s->queued_extra);
                        s->queued_extra = tf_run_extra_dup(extra);
                        /* Jobs waiting for a retry are dropped; running ones are stopped and start the
                         * queued fire when the last one is done. */
                        for (struct job *j = s->jobs, *next; j; j = next) {
                                next = j->next;
                                if (!j->run)
                                        job_free(s, j);
                        }
                        for (struct job *j = s->jobs; j; j = j->next)
                                tf_run_stop(j->run, true);
                        start_queued(s);
                        return TF_TRIGGER_QUEUED;
                case TF_OVERLAP_ALLOW:
                        break;
                }
        }
        unsigned before = s->runs_started;
        struct job *j = new_job(s, kind, scheduled, tf_run_extra_dup(extra));
        if (!j)
                return TF_TRIGGER_FAILED;
        if (s->runs_started == before)
                return TF_TRIGGER_WAITING; /* j->waiting */
        if (ret_run_id)
                *ret_run_id = tf_strdup(j->run->run_id);
        return TF_TRIGGER_STARTED;
}

void tf_service_trigger(struct tf_service *s, const char *why) {
        (void) tf_service_trigger_as(s, TF_TRIGGER_MANUAL, why, NULL);
}

static int on_fire(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        struct tf_service *s = userdata;
        uint64_t now = now_rt(s);
        if (events == 0) {
                /* The realtime clock was set (or DST/zone change): recompute from the new now. */
                arm_next_fire(s, now);
                char b[40];
                tf_format_utc_usec(b, sizeof(b), s->next_due);
                tf_log("%s: the system clock changed; next fire recomputed: %s", s->cur->spec->name, b);
                return 0;
        }
        if (now < s->fire_at) {
                /* Woken early (clock set backwards without a cancel): re-arm for the same deadline. */
                tf_source_set_time(s->fire_timer, s->fire_at);
                return 0;
        }
        char due[40];
        tf_format_utc_usec(due, sizeof(due), s->next_due);
        char why[96];
        snprintf(why, sizeof(why), "fire for %s", due);
        tf_log("%s: firing (scheduled %s, delay %" PRIu64 "us, late %" PRIu64 "us)", s->cur->spec->name, due,
               s->fire_at - s->next_due, now - s->fire_at);
        uint64_t last = s->next_due;
        if (tf_service_trigger_as(s, TF_TRIGGER_SCHEDULE, why, NULL) == TF_TRIGGER_SKIPPED && s->o.hooks &&
            s->o.hooks->fire_missed)
                s->o.hooks->fire_missed(s, "overlap", last, s->o.hooks->userdata);
        arm_next_fire(s, last > now ? last : now);
        return 0;
}

static void arm_next_fire(struct tf_service *s, uint64_t after) {
        const struct tf_spec *spec = s->cur->spec;
        uint64_t next;
        if (s->draining || s->disabled || !s->cur->plan)
                return;
        if (tf_fire_plan_next(s->cur->plan, after, &next) < 0) {
                if (spec->schedule.n_calendar > 0 || spec->schedule.cron.expr || spec->schedule.every_usec != TF_UNSET)
                        tf_log("%s: the schedule has no future fire time", spec->name);
                tf_source_remove(s->fire_timer);
                s->fire_timer = NULL;
                s->next_due = 0;
                return;
        }
        s->next_due = next;
        s->fire_at = next + tf_random_below(spec->schedule.randomized_delay_usec);
        _cleanup_error_ tf_error *e = NULL;
        if (s->fire_timer)
                tf_source_set_time(s->fire_timer, s->fire_at);
        else if (tf_loop_add_timer(s->loop, CLOCK_REALTIME, s->fire_at, on_fire, s, &s->fire_timer, &e) < 0)
                tf_log("%s: cannot arm the schedule timer: %s", spec->name, e->msg);
}

/* --- file triggers --- */

static void on_path_fire(const char *why, void *userdata) {
        struct tf_service *s = userdata;
        if (s->draining)
                return;
        const char *name = s->cur->spec->name;
        if (s->disabled) {
                tf_log("%s: path: %s: not fired, the service is disabled", name, why);
                return;
        }
        _cleanup_free_ char *w = tf_asprintf("path: %s", why);
        tf_log("%s: firing (%s)", name, w);
        (void) tf_service_trigger_as(s, TF_TRIGGER_PATH, w, NULL);
}

/* (Re)watch the current spec's paths; initial: conditions that hold already fire. */
static void watch_paths(struct tf_service *s, bool initial) {
        const struct tf_spec *spec = s->cur->spec;
        tf_path_watch_free(s->watch);
        s->watch = NULL;
        if (!s->o.resident || s->draining || spec->schedule.n_paths == 0)
                return;
        _cleanup_error_ tf_error *e = NULL;
        if (tf_path_watch_new(s->loop, &spec->schedule, initial, on_path_fire, s, &s->watch, &e) < 0) {
                tf_log("%s: schedule.path: cannot watch: %s", spec->name, e->msg);
                return;
        }
        tf_log("%s: watching %zu path%s (settle %" PRIu64 "ms)", spec->name, spec->schedule.n_paths,
               spec->schedule.n_paths == 1 ? "" : "s", spec->schedule.path_settle_usec / 1000);
}

/* --- lifecycle --- */

int tf_service_new(struct tf_run_ctx *ctx, struct tf_spec *spec, const struct tf_service_options *o,
                   struct tf_service **ret, tf_error **err) {
        struct tf_fire_plan *plan = NULL;
        bool scheduled = o->resident && !(o->allow_unscheduled && !spec->schedule.present);
        if (scheduled && tf_fire_plan_new(spec, tf_loop_now(ctx->loop, CLOCK_REALTIME), &plan, err) < 0) {
                tf_spec_free(spec);
                return -EINVAL;
        }
        struct tf_service *s = tf_malloc0(sizeof(*s));
        s->ctx = ctx;
        s->loop = ctx->loop;
        s->o = *o;
        s->cur = ref_new(spec, plan);
        if (o->resident && spec->schedule.persistent) {
                _cleanup_free_ char *dir = o->state_dir ? tf_strdup(o->state_dir) : tf_default_state_dir();
                s->state_path = tf_asprintf("%s/%s.state", dir, spec->name);
        }
        *ret = s;
        return 0;
}

static int on_first(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        struct tf_service *s = userdata;
        enum tf_trigger kind = !s->o.resident ? TF_TRIGGER_START : TF_TRIGGER_CATCHUP;
        for (size_t i = 0; i < ELEMENTSOF(s->first); i++)
                if (s->first[i] == src) {
                        s->first[i] = NULL;
                        if (i == 1)
                                kind = TF_TRIGGER_REBOOT;
                }
        if (!s->draining) {
                if (kind == TF_TRIGGER_CATCHUP && s->o.hooks && s->o.hooks->fire_missed)
                        s->o.hooks->fire_missed(s, "downtime", s->missed_usec, s->o.hooks->userdata);
                (void) new_job(s, kind, 0, NULL);
        }
        check_idle(s);
        return 0;
}

void tf_service_start(struct tf_service *s) {
        const struct tf_spec *spec = s->cur->spec;
        if (!s->o.resident) {
                /* One-shot: from inside the loop, so that every path is the loop's. */
                tf_loop_defer(s->loop, on_first, s, &s->first[0]);
                return;
        }
        uint64_t now = now_rt(s), last, missed;
        bool catch_up = false;
        if (!s->cur->plan)
                return; /* a service that runs when triggered */
        if (s->state_path && state_read(s, &last) == 0 && tf_fire_plan_next(s->cur->plan, last, &missed) == 0 &&
            missed <= now) {
                char b[40];
                tf_format_utc_usec(b, sizeof(b), missed);
                tf_log("%s: catching up the run missed at %s (persistent: true)", spec->name, b);
                catch_up = true;
                s->missed_usec = missed;
        }
        if (catch_up)
                tf_loop_defer(s->loop, on_first, s, &s->first[0]);
        if (tf_fire_plan_has_reboot(s->cur->plan) && !s->disabled)
                tf_loop_defer(s->loop, on_first, s, &s->first[1]);
        watch_paths(s, true);
        arm_next_fire(s, now);
        if (s->fire_timer) {
                char b[40];
                tf_format_utc_usec(b, sizeof(b), s->next_due);
                tf_log("%s: waiting for the schedule; next fire at %s", spec->name, b);
        }
}

int tf_service_reload(struct tf_service *s, struct tf_spec *spec, tf_error **err) {
        struct tf_fire_plan *plan = NULL;
        /* The old plan's origin: `every:` keeps its phase across reloads (a reload per 2 s must not push a
         * 3 s series forever ahead). */
        uint64_t origin = s->cur->plan ? tf_fire_plan_origin(s->cur->plan) : now_rt(s);
        bool scheduled = s->o.resident && !(s->o.allow_unscheduled && !spec->schedule.present);
        if (scheduled && tf_fire_plan_new(spec, origin, &plan, err) < 0) {
                tf_spec_free(spec);
                return -EINVAL;
        }
        bool same_paths = tf_path_watch_same(&s->cur->spec->schedule, &spec->schedule);
        ref_put(s->cur);
        s->cur = ref_new(spec, plan);
        /* The watch copied its paths: an unchanged set keeps it (and a burst it is settling). */
        if (!same_paths || !s->watch)
                watch_paths(s, false);
        if (!scheduled) {
                tf_source_remove(s->fire_timer);
                s->fire_timer = NULL;
                s->next_due = 0;
                return 0;
        }
        /* Unchanged next fire: keep the armed deadline and its randomized delay. A fire already due (its
         * timer expired in the same loop round as the reload's signal, and has not run yet) is kept too:
         * it was owed under the old schedule, and re-arming from now would drop it. */
        uint64_t next, now = now_rt(s);
        if (s->fire_timer && s->fire_at <= now)
                return 0;
        if (s->fire_timer && tf_fire_plan_next(plan, now, &next) == 0 && next == s->next_due)
                return 0;
        arm_next_fire(s, now_rt(s));
        return 0;
}

void tf_service_drain(struct tf_service *s) {
        s->draining = true;
        s->queued = false;
        tf_path_watch_free(s->watch);
        s->watch = NULL;
        tf_source_remove(s->fire_timer);
        s->fire_timer = NULL;
        s->next_due = 0;
        for (struct job *j = s->jobs, *next; j; j = next) {
                next = j->next;
                if (!j->run)
                        job_free(s, j);
        }
        check_idle(s);
}

void tf_service_stop(struct tf_service *s) {
        tf_service_drain(s);
        for (struct job *j = s->jobs; j; j = j->next)
                if (j->run)
                        tf_run_stop(j->run, true);
}

void tf_service_forward_signal(struct tf_service *s, int sig, bool from_terminal) {
        /* A terminal's ^C reaches the whole foreground process group, a native service included; signals
         * sent to tfrun alone (kill, systemd, a supervisor), and any signal for a container, which is in no
         * group of ours, need forwarding. */
        for (struct job *j = s->jobs; j; j = j->next)
                if (j->run && (!from_terminal || !j->run->ops || !j->run->ops->shares_pgrp))
                        tf_run_forward_signal(j->run, sig);
}

void tf_service_set_enabled(struct tf_service *s, bool enabled) {
        if (s->disabled == !enabled)
                return;
        s->disabled = !enabled;
        if (s->disabled) {
                tf_source_remove(s->fire_timer);
                s->fire_timer = NULL;
                s->next_due = 0;
        } else if (s->o.resident)
                arm_next_fire(s, now_rt(s));
}

bool tf_service_enabled(const struct tf_service *s) {
        return !s->disabled;
}

unsigned tf_service_stop_runs(struct tf_service *s) {
        unsigned n = 0;
        s->queued = false;
        for (struct job *j = s->jobs, *next; j; j = next) {
                next = j->next;
                if (!j->run)
                        job_free(s, j);
        }
        for (struct job *j = s->jobs; j; j = j->next)
                if (j->run && j->run->state <= TF_RUN_STOPPING) {
                        tf_run_stop(j->run, true);
                        n++;
                }
        check_idle(s);
        return n;
}

unsigned tf_service_running(const struct tf_service *s, const char **newest_run_id) {
        unsigned n = 0;
        if (newest_run_id)
                *newest_run_id = NULL;
        /* Jobs are pushed at the head: the first seen is the newest. */
        for (const struct job *j = s->jobs; j; j = j->next)
                if (j->run && j->run->state >= TF_RUN_STARTING && j->run->state <= TF_RUN_STOPPING) {
                        if (n++ == 0 && newest_run_id)
                                *newest_run_id = j->run->run_id;
                }
        return n;
}

const struct tf_run_result *tf_service_last_result(const struct tf_service *s, uint64_t *ended_usec) {
        if (ended_usec)
                *ended_usec = s->last_ended_usec;
        return s->last_ended_usec ? &s->last : NULL;
}

void tf_service_on_idle(struct tf_service *s, void (*cb)(struct tf_service *s, void *userdata), void *userdata) {
        s->on_idle = cb;
        s->on_idle_userdata = userdata;
}

int tf_service_last_status(const struct tf_service *s) {
        return s->status;
}

const struct tf_spec *tf_service_spec(const struct tf_service *s) {
        return s->cur->spec;
}

unsigned tf_service_waiting(const struct tf_service *s) {
        unsigned n = s->queued;
        for (const struct job *j = s->jobs; j; j = j->next)
                n += !j->run;
        return n;
}

unsigned tf_service_admission_waiting(const struct tf_service *s) {
        unsigned n = 0;
        for (const struct job *j = s->jobs; j; j = j->next)
                n += j->waiting;
        return n;
}

unsigned tf_service_runs_started(const struct tf_service *s) {
        return s->runs_started;
}

unsigned tf_service_next_fires(const struct tf_service *s, uint64_t *out, unsigned n) {
        unsigned k = 0;
        if (s->disabled || !s->cur->plan || s->draining)
                return 0;
        for (uint64_t t = now_rt(s); k < n && tf_fire_plan_next(s->cur->plan, t, &t) == 0; k++)
                out[k] = t;
        return k;
}

uint64_t tf_service_next_fire(const struct tf_service *s) {
        return s->fire_timer ? s->next_due : 0;
}

void tf_service_free(struct tf_service *s) {
        if (!s)
                return;
        while (s->jobs)
                job_free(s, s->jobs);
        tf_source_remove(s->fire_timer);
        tf_path_watch_free(s->watch);
        tf_source_remove(s->idle_call);
        for (size_t i = 0; i < ELEMENTSOF(s->first); i++)
                tf_source_remove(s->first[i]);
        ref_put(s->cur);
        free(s->state_path);
        free(s->last.error);
        free(s->last.log_path);
        tf_run_extra_free(s->queued_extra);
        free(s);
}
