/* SPDX-License-Identifier: MIT */
#include "runner/supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/parse.h"
#include "base/strutil.h"
#include "base/timeutil.h"
#include "runner/fireplan.h"

/* A spec shared by the runs started from it: a SIGHUP reload must not pull it from under a running job. */
struct spec_ref {
        struct tf_spec *spec;
        struct tf_fire_plan *plan;
        unsigned refs;
};

struct job {
        struct supervisor *sv;
        struct spec_ref *ref;
        struct tf_run *run;
        unsigned attempt; /* 0 for the first run of a fire */
        struct job *next;
};

struct supervisor {
        const struct tf_supervise_options *o;
        struct tf_loop *loop;
        struct tf_run_ctx ctx;
        struct spec_ref *cur;
        struct job *jobs;
        unsigned n_jobs;
        struct tf_source *fire_timer;  /* CLOCK_REALTIME, cancel-on-set */
        struct tf_source *retry_timer; /* CLOCK_MONOTONIC */
        uint64_t next_due;             /* the scheduled time of the armed fire (without delay) */
        uint64_t fire_at;              /* next_due plus the randomized delay: when the timer goes off */
        unsigned retry_attempt;        /* > 0 while a retry is pending */
        bool queued;                   /* overlap queue/replace: one fire waits for the running job */
        bool stopping;
        unsigned interrupts;
        int status;
        char *state_path;
};

static const int handled_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

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

char *tf_default_state_dir(void) {
        if (geteuid() == 0)
                return tf_strdup("/var/lib/tfrun");
        const char *x = getenv("XDG_STATE_HOME");
        if (x && *x == '/')
                return tf_asprintf("%s/tfrun", x);
        const char *h = getenv("HOME");
        return tf_asprintf("%s/.local/state/tfrun", h && *h ? h : "/tmp");
}

static void fmt_time(char *buf, size_t len, uint64_t usec) {
        time_t t = (time_t) (usec / TF_USEC_PER_SEC);
        struct tm tm;
        gmtime_r(&t, &tm);
        char b[32];
        strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf, len, "%s.%06" PRIu64 "Z", b, usec % TF_USEC_PER_SEC);
}

static uint64_t random_below(uint64_t n) {
        if (n == 0)
                return 0;
        uint64_t r = 0;
        if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t) sizeof(r))
                r = tf_now(CLOCK_MONOTONIC) * 6364136223846793005ULL;
        return r % n;
}

/* --- persistent state: the last start time, written atomically (temp + fsync + rename) --- */

static int mkdir_p(const char *path) {
        _cleanup_free_ char *p = tf_strdup(path);
        for (char *s = p + 1; *s; s++)
                if (*s == '/') {
                        *s = 0;
                        if (mkdir(p, 0755) < 0 && errno != EEXIST)
                                return -errno;
                        *s = '/';
                }
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static int state_write(struct supervisor *sv, uint64_t start_usec) {
        if (!sv->state_path)
                return 0;
        _cleanup_free_ char *dir = tf_strdup(sv->state_path);
        *strrchr(dir, '/') = 0;
        int r = mkdir_p(dir);
        if (r < 0)
                return r;
        /* O_EXCL under a random name (mkostemp), never through a symlink: the state directory may be
         * one that others can write. */
        _cleanup_free_ char *tmp = tf_asprintf("%s.tmp.XXXXXX", sv->state_path);
        _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, 0644) < 0) {
                r = -errno;
                unlink(tmp);
                return r;
        }
        char buf[128];
        int n = snprintf(buf, sizeof(buf), "{\"last_start_usec\": %" PRIu64 "}\n", start_usec);
        if (write(fd, buf, (size_t) n) != n || fsync(fd) < 0) {
                r = -errno;
                unlink(tmp);
                return r ? r : -EIO;
        }
        if (rename(tmp, sv->state_path) < 0) {
                r = -errno;
                unlink(tmp);
                return r;
        }
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                fsync(dfd);
        return 0;
}

/* -ENOENT when there is no state yet; a file that exists but cannot be used is said, not silently taken
 * for "never ran": the catch-up it would have given is lost, and the user should know why. */
static int state_read(struct supervisor *sv, uint64_t *ret) {
        json_error_t je;
        if (access(sv->state_path, F_OK) < 0 && errno == ENOENT)
                return -ENOENT;
        json_t *o = json_load_file(sv->state_path, JSON_REJECT_DUPLICATES, &je);
        json_t *v = o ? json_object_get(o, "last_start_usec") : NULL;
        int r = json_is_integer(v) && json_integer_value(v) > 0 ? 0 : -EINVAL;
        if (r == 0)
                *ret = (uint64_t) json_integer_value(v);
        else
                tf_log("warning: %s: persistent state %s is unreadable (%s); kept nothing of it: no catch-up "
                       "this time, and the next start rewrites it",
                       sv->cur->spec->name, sv->state_path,
                       o ? "no positive integer last_start_usec" : je.text);
        json_decref(o);
        return r;
}

/* --- runs --- */

static void arm_next_fire(struct supervisor *sv, uint64_t after);
static void start_job(struct supervisor *sv, unsigned attempt);

static bool busy(const struct supervisor *sv) {
        return sv->n_jobs > 0 || sv->retry_timer;
}

static void maybe_exit(struct supervisor *sv) {
        if (busy(sv) || sv->queued)
                return;
        if (sv->stopping || !sv->o->resident)
                tf_loop_exit(sv->loop, 0);
}

static void job_remove(struct supervisor *sv, struct job *j) {
        for (struct job **p = &sv->jobs; *p; p = &(*p)->next)
                if (*p == j) {
                        *p = j->next;
                        break;
                }
        sv->n_jobs--;
}

static bool should_retry(const struct tf_spec *s, const struct tf_run *r, unsigned attempt) {
        if (s->restart.policy == TF_RESTART_NO)
                return false;
        if (r->state == TF_RUN_CANCELLED)
                return false;
        if (s->restart.policy == TF_RESTART_ON_FAILURE && r->state == TF_RUN_SUCCEEDED)
                return false;
        return s->restart.max_retries == TF_UNSET || attempt < s->restart.max_retries;
}

/* Exponential backoff from `initial`, doubled per attempt, capped at `max`; with jitter, a random point in
 * the upper half, so retries of many services spread out but never come sooner than half the step. */
static uint64_t backoff(const struct tf_spec *s, unsigned attempt) {
        uint64_t d = s->restart.backoff_initial_usec;
        for (unsigned i = 1; i < attempt && d < s->restart.backoff_max_usec; i++)
                d = d > UINT64_MAX / 2 ? UINT64_MAX : d * 2;
        if (d > s->restart.backoff_max_usec)
                d = s->restart.backoff_max_usec;
        if (s->restart.jitter)
                d = d / 2 + random_below(d / 2 + 1);
        return d;
}

static int on_retry(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        struct supervisor *sv = userdata;
        tf_source_remove(src);
        sv->retry_timer = NULL;
        unsigned a = sv->retry_attempt;
        sv->retry_attempt = 0;
        if (!sv->stopping)
                start_job(sv, a);
        maybe_exit(sv);
        return 0;
}

static void on_run_done(struct tf_run *r, void *userdata) {
        struct job *j = userdata;
        struct supervisor *sv = j->sv;
        tf_run_report(r);
        sv->status = r->result.exit_status;
        job_remove(sv, j);
        const struct tf_spec *s = j->ref->spec;
        unsigned attempt = j->attempt;
        bool retry = !sv->stopping && should_retry(s, r, attempt);
        /* Safe here: on_done is the last thing a run does (see finish() in run.c). */
        tf_run_free(r);
        ref_put(j->ref);
        free(j);

        if (retry && !sv->retry_timer) {
                uint64_t d = backoff(s, attempt + 1);
                char b[64];
                tf_log("%s: retry %u in %s (restart: %s)", s->name, attempt + 1,
                       tf_format_duration(b, sizeof(b), d),
                       s->restart.policy == TF_RESTART_ALWAYS ? "always" : "on-failure");
                _cleanup_error_ tf_error *e = NULL;
                sv->retry_attempt = attempt + 1;
                if (tf_loop_add_timer(sv->loop, CLOCK_MONOTONIC, tf_now(CLOCK_MONOTONIC) + d, on_retry, sv,
                                      &sv->retry_timer, &e) < 0)
                        tf_log("%s: cannot arm the retry timer: %s", s->name, e->msg);
                return;
        }
        if (sv->queued && !sv->stopping) {
                sv->queued = false;
                start_job(sv, 0);
        }
        maybe_exit(sv);
}

static void start_job(struct supervisor *sv, unsigned attempt) {
        _cleanup_error_ tf_error *e = NULL;
        struct job *j = tf_malloc0(sizeof(*j));
        j->sv = sv;
        j->ref = sv->cur;
        j->ref->refs++;
        j->attempt = attempt;
        if (tf_run_new(&sv->ctx, j->ref->spec, &sv->o->run, &j->run, &e) < 0) {
                tf_log("%s", e->msg);
                sv->status = 125;
                ref_put(j->ref);
                free(j);
                maybe_exit(sv);
                return;
        }
        j->next = sv->jobs;
        sv->jobs = j;
        sv->n_jobs++;
        const struct tf_spec *spec = j->ref->spec;
        if (spec->schedule.persistent) {
                int r = state_write(sv, tf_now(CLOCK_REALTIME));
                if (r < 0)
                        tf_log("%s: cannot record the start in %s: %s", spec->name, sv->state_path, strerror(-r));
        }
        /* Every outcome, a refused start included, comes back through on_run_done. */
        tf_run_start(j->run, on_run_done, j);
}

/* --- firing --- */

static void fire(struct supervisor *sv, const char *why) {
        const struct tf_spec *s = sv->cur->spec;
        if (busy(sv)) {
                switch (s->schedule.overlap) {
                case TF_OVERLAP_SKIP:
                        tf_log("%s: %s: skipped, the previous run is still going (overlap: skip)", s->name, why);
                        return;
                case TF_OVERLAP_QUEUE:
                        if (sv->queued)
                                tf_log("%s: %s: skipped, one run is already queued (overlap: queue)", s->name, why);
                        else
                                tf_log("%s: %s: queued behind the running one (overlap: queue)", s->name, why);
                        sv->queued = true;
                        return;
                case TF_OVERLAP_REPLACE:
                        tf_log("%s: %s: stopping the running one to replace it (overlap: replace)", s->name, why);
                        sv->queued = true;
                        for (struct job *j = sv->jobs; j; j = j->next)
                                tf_run_stop(j->run, true);
                        if (sv->retry_timer) {
                                tf_source_remove(sv->retry_timer);
                                sv->retry_timer = NULL;
                                if (!sv->n_jobs) {
                                        sv->queued = false;
                                        start_job(sv, 0);
                                }
                        }
                        return;
                case TF_OVERLAP_ALLOW:
                        break;
                }
        }
        start_job(sv, 0);
}

static int on_fire(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        struct supervisor *sv = userdata;
        uint64_t now = tf_now(CLOCK_REALTIME);
        if (events == 0) {
                /* The realtime clock was set (or DST/zone change): recompute from the new now. */
                arm_next_fire(sv, now);
                char b[40];
                fmt_time(b, sizeof(b), sv->next_due);
                tf_log("%s: the system clock changed; next fire recomputed: %s", sv->cur->spec->name, b);
                return 0;
        }
        if (now < sv->next_due) {
                /* Woken early (clock set backwards without a cancel): re-arm for the same deadline. */
                arm_next_fire(sv, sv->next_due - 1);
                return 0;
        }
        char due[40];
        fmt_time(due, sizeof(due), sv->next_due);
        char why[96];
        snprintf(why, sizeof(why), "fire for %s", due);
        tf_log("%s: firing (scheduled %s, delay %" PRIu64 "us, late %" PRIu64 "us)", sv->cur->spec->name, due,
               sv->fire_at - sv->next_due, now - sv->fire_at);
        uint64_t last = sv->next_due;
        fire(sv, why);
        arm_next_fire(sv, last > now ? last : now);
        return 0;
}

static void arm_next_fire(struct supervisor *sv, uint64_t after) {
        const struct tf_spec *s = sv->cur->spec;
        uint64_t next;
        if (tf_fire_plan_next(sv->cur->plan, after, &next) < 0) {
                tf_log("%s: the schedule has no future fire time", s->name);
                if (sv->fire_timer) {
                        tf_source_remove(sv->fire_timer);
                        sv->fire_timer = NULL;
                }
                return;
        }
        sv->next_due = next;
        sv->fire_at = next + random_below(s->schedule.randomized_delay_usec);
        _cleanup_error_ tf_error *e = NULL;
        if (sv->fire_timer)
                tf_source_set_time(sv->fire_timer, sv->fire_at);
        else if (tf_loop_add_timer(sv->loop, CLOCK_REALTIME, sv->fire_at, on_fire, sv, &sv->fire_timer, &e) < 0)
                tf_log("%s: cannot arm the schedule timer: %s", s->name, e->msg);
}

/* --- signals and reloads --- */

static void reload(struct supervisor *sv) {
        _cleanup_error_ tf_error *e = NULL;
        struct tf_spec *spec = NULL;
        struct tf_fire_plan *plan = NULL;
        /* The old plan's origin: `every:` keeps its phase across reloads (a reload per 2 s must not
         * push a 3 s series forever ahead). */
        uint64_t origin = sv->cur->plan ? tf_fire_plan_origin(sv->cur->plan) : tf_now(CLOCK_REALTIME);
        if (tf_spec_load(sv->o->spec_path, NULL, &spec, &e) < 0 ||
            (spec->schedule.present && tf_fire_plan_new(spec, origin, &plan, &e) < 0)) {
                tf_log("reload: %s; keeping the previous spec", e->msg);
                tf_spec_free(spec);
                return;
        }
        if (!spec->schedule.present) {
                tf_log("reload: %s: the new spec has no schedule; keeping the previous spec", sv->o->spec_path);
                tf_spec_free(spec);
                return;
        }
        ref_put(sv->cur);
        sv->cur = ref_new(spec, plan);
        tf_log("%s: reloaded %s", spec->name, sv->o->spec_path);
        /* Unchanged next fire: keep the armed deadline and its randomized delay. */
        uint64_t next;
        if (sv->fire_timer && tf_fire_plan_next(plan, tf_now(CLOCK_REALTIME), &next) == 0 && next == sv->next_due)
                return;
        arm_next_fire(sv, tf_now(CLOCK_REALTIME));
}

static void stop_all(struct supervisor *sv) {
        sv->stopping = true;
        sv->queued = false;
        if (sv->fire_timer) {
                tf_source_remove(sv->fire_timer);
                sv->fire_timer = NULL;
        }
        if (sv->retry_timer) {
                tf_source_remove(sv->retry_timer);
                sv->retry_timer = NULL;
        }
        for (struct job *j = sv->jobs; j; j = j->next)
                tf_run_stop(j->run, true);
        maybe_exit(sv);
}

static int on_signal(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        struct supervisor *sv = userdata;
        struct signalfd_siginfo si;
        while (read(fd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
                int sig = (int) si.ssi_signo;
                if (sv->o->resident) {
                        /* Resident: SIGINT/SIGTERM stop the running job per `stop` and end tfrun cleanly,
                         * SIGHUP re-reads the spec; others go to the running jobs. */
                        if (sig == SIGINT || sig == SIGTERM) {
                                if (!sv->stopping)
                                        tf_log("%s: %s: stopping", sv->cur->spec->name, tf_signal_name(sig));
                                stop_all(sv);
                        } else if (sig == SIGHUP)
                                reload(sv);
                        else
                                for (struct job *j = sv->jobs; j; j = j->next)
                                        tf_run_forward_signal(j->run, sig);
                        continue;
                }
                if (sig == SIGINT || sig == SIGTERM) {
                        if (++sv->interrupts >= 2) {
                                /* Asked again: stop the whole run per `stop`, then kill. */
                                sv->stopping = true;
                                for (struct job *j = sv->jobs; j; j = j->next)
                                        tf_run_stop(j->run, true);
                                if (sv->retry_timer) {
                                        tf_source_remove(sv->retry_timer);
                                        sv->retry_timer = NULL;
                                        maybe_exit(sv);
                                }
                                continue;
                        }
                        sv->stopping = true; /* no retries after an operator's interrupt */
                }
                /* A terminal's ^C reaches the whole foreground process group, a native service included;
                 * signals sent to tfrun alone (kill, systemd, a supervisor), and any signal for a container,
                 * which is in no group of ours, need forwarding. */
                for (struct job *j = sv->jobs; j; j = j->next)
                        if (si.ssi_code != SI_KERNEL || !j->run->ops->shares_pgrp)
                                tf_run_forward_signal(j->run, sig);
                if (!sv->n_jobs && sv->retry_timer) {
                        tf_source_remove(sv->retry_timer);
                        sv->retry_timer = NULL;
                        maybe_exit(sv);
                }
        }
        return 0;
}

static int on_start(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        struct supervisor *sv = userdata;
        tf_source_remove(src);
        start_job(sv, 0);
        maybe_exit(sv);
        return 0;
}

int tf_supervise(struct tf_spec *spec, const struct tf_supervise_options *o) {
        _cleanup_error_ tf_error *e = NULL;
        struct supervisor sv = { .o = o, .status = 0 };
        struct tf_fire_plan *plan = NULL;
        uint64_t now = tf_now(CLOCK_REALTIME);

        if (o->resident && tf_fire_plan_new(spec, now, &plan, &e) < 0) {
                tf_log("%s", e->msg);
                tf_spec_free(spec);
                return 125;
        }
        sv.cur = ref_new(spec, plan);

        /* Blocked before anything starts, so that no signal is lost between start and the loop. */
        sigset_t mask, old;
        sigemptyset(&mask);
        for (size_t i = 0; i < ELEMENTSOF(handled_signals); i++)
                sigaddset(&mask, handled_signals[i]);
        sigprocmask(SIG_BLOCK, &mask, &old);
        _cleanup_close_ int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        int status = 125;
        if (sfd < 0) {
                tf_log("signalfd: %s", strerror(errno));
                goto out;
        }
        if (tf_loop_new(&sv.loop, &e) < 0 || tf_loop_add_io(sv.loop, sfd, EPOLLIN, on_signal, &sv, NULL, &e) < 0) {
                tf_log("%s", e->msg);
                goto out;
        }
        tf_run_ctx_init(&sv.ctx, sv.loop);

        if (!o->resident) {
                /* One-shot: start at once, from inside the loop so that every path is the loop's. */
                if (tf_loop_add_timer(sv.loop, CLOCK_MONOTONIC, 1, on_start, &sv, NULL, &e) < 0) {
                        tf_log("%s", e->msg);
                        goto out;
                }
        } else {
                if (spec->schedule.persistent) {
                        _cleanup_free_ char *dir = o->state_dir ? tf_strdup(o->state_dir) : tf_default_state_dir();
                        sv.state_path = tf_asprintf("%s/%s.state", dir, spec->name);
                        uint64_t last, missed;
                        if (state_read(&sv, &last) == 0 && tf_fire_plan_next(plan, last, &missed) == 0 &&
                            missed <= now) {
                                char b[40];
                                fmt_time(b, sizeof(b), missed);
                                tf_log("%s: catching up the run missed at %s (persistent: true)", spec->name, b);
                                if (tf_loop_add_timer(sv.loop, CLOCK_MONOTONIC, 1, on_start, &sv, NULL, &e) < 0)
                                        tf_log("%s", e->msg);
                        }
                }
                if (tf_fire_plan_has_reboot(plan) &&
                    tf_loop_add_timer(sv.loop, CLOCK_MONOTONIC, 1, on_start, &sv, NULL, &e) < 0)
                        tf_log("%s", e->msg);
                arm_next_fire(&sv, now);
                if (sv.fire_timer) {
                        char b[40];
                        fmt_time(b, sizeof(b), sv.next_due);
                        tf_log("%s: waiting for the schedule; next fire at %s", spec->name, b);
                }
        }

        int r = tf_loop_run(sv.loop);
        if (r < 0) {
                tf_log("event loop: %s", strerror(-r));
                goto out;
        }
        status = o->resident ? 0 : sv.status;
out:
        while (sv.jobs) {
                struct job *j = sv.jobs;
                sv.jobs = j->next;
                tf_run_free(j->run);
                ref_put(j->ref);
                free(j);
        }
        tf_run_ctx_done(&sv.ctx);
        tf_loop_free(sv.loop);
        ref_put(sv.cur);
        free(sv.state_path);
        /* The handled signals stay blocked: restoring the old mask would deliver a SIGTERM still pending
         * from a burst with its default action, and tfrun would die of it after its summary instead of
         * exiting with the run's status. The process ends right after this. */
        (void) old;
        return status;
}
