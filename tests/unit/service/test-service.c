/* SPDX-License-Identifier: MIT */
/*
 * The service logic in virtual time. Specs are real YAML files loaded by the real parser; the runs are real
 * tf_run objects driven by run.c; only the backend is the test's own: a run of `command: [fake, DURATION,
 * CODE]` lasts DURATION of virtual time and exits with CODE, and the stop signal ends it at once with that
 * signal. Every run's start is recorded as seconds after T0, so whole schedules are checked in
 * milliseconds of real time.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/parse.h"
#include "base/strutil.h"
#include "runner/runner.h"
#include "runner/service.h"
#include "runner/supervise.h"
#include "tests/tap.h"

#define SEC UINT64_C(1000000)
/* 2026-03-02 10:00:00 UTC, a Monday: whole hours and minutes fall on round virtual times. */
#define T0 (UINT64_C(1772445600) * SEC)

/* The real backends are not linked: the context's override is the only backend here. */
const struct tf_backend_ops tf_native_backend;
const struct tf_backend_ops tf_workflow_backend;
int tf_run_load_docker_backend(const struct tf_backend_ops **ret, tf_error **err) {
        return tf_error_set(err, ENOTSUP, "no docker in this test");
}
int tf_run_load_swarm_backend(const struct tf_backend_ops **ret, tf_error **err) {
        return tf_error_set(err, ENOTSUP, "no swarm in this test");
}

static struct tf_loop *loop;
static unsigned starts[256];
static unsigned n_starts;
static char tmpdir[] = "/tmp/tfrun-test-service-XXXXXX";

struct fake {
        struct tf_source *end;
        int code, sig;
};

static unsigned vsec(void) {
        return (unsigned) ((tf_loop_now(loop, CLOCK_REALTIME) - T0) / SEC);
}

static int fake_check(struct tf_run *r, tf_error **err) {
        r->backend = tf_malloc0(sizeof(struct fake));
        return 0;
}

static int on_end(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        struct tf_run *r = userdata;
        struct fake *f = r->backend;
        tf_source_remove(src);
        f->end = NULL;
        tf_run_child_exited(r, f->sig ? CLD_KILLED : CLD_EXITED, f->sig ? f->sig : f->code);
        return 0;
}

static int fake_start(struct tf_run *r, tf_error **err) {
        struct fake *f = r->backend;
        uint64_t d = 0, code = 0;
        if (tf_parse_duration(r->spec->argv[1], &d) < 0 || tf_parse_u64(r->spec->argv[2], &code) < 0)
                return tf_error_set(err, EINVAL, "bad fake command");
        f->code = (int) code;
        if (n_starts < ELEMENTSOF(starts))
                starts[n_starts++] = vsec();
        int k = tf_loop_add_timer(r->loop, CLOCK_MONOTONIC, tf_loop_now(r->loop, CLOCK_MONOTONIC) + d, on_end, r,
                                  &f->end, err);
        if (k < 0)
                return k;
        tf_run_started(r);
        return 0;
}

static int fake_signal(struct tf_run *r, int sig, bool all, tf_error **err) {
        struct fake *f = r->backend;
        if (f->end && (sig == r->spec->stop_signal || sig == SIGKILL)) {
                f->sig = sig;
                tf_source_set_time(f->end, tf_loop_now(r->loop, CLOCK_MONOTONIC));
        }
        return 0;
}

static int fake_collect(struct tf_run *r, struct tf_run_result *res, bool *oom, tf_error **err) {
        *oom = false;
        return 0;
}

static void fake_cleanup(struct tf_run *r) {
        struct fake *f = r->backend;
        if (!f)
                return;
        tf_source_remove(f->end);
        free(f);
        r->backend = NULL;
}

static const struct tf_backend_ops fake_ops = {
        .name = "fake",
        .check = fake_check,
        .start = fake_start,
        .signal = fake_signal,
        .collect = fake_collect,
        .cleanup = fake_cleanup,
};

static struct tf_spec *load(const char *name, const char *yaml) {
        _cleanup_free_ char *path = tf_asprintf("%s/%s.yaml", tmpdir, name);
        FILE *f = fopen(path, "we");
        fputs(yaml, f);
        fclose(f);
        struct tf_spec *spec = NULL;
        _cleanup_error_ tf_error *e = NULL;
        if (tf_spec_load(path, NULL, &spec, &e) < 0) {
                printf("# %s\n", e->msg);
                abort();
        }
        return spec;
}

struct world {
        struct tf_run_ctx ctx;
        struct tf_run_options ro;
        struct tf_service *svc;
        bool idle;
};

static void on_idle(struct tf_service *s, void *userdata) {
        ((struct world *) userdata)->idle = true;
}

/* What the hooks heard: "S:trigger:attempt" and "E:status" in order. */
static char heard[1024];
static void heard_add(const char *s) {
        size_t n = strlen(heard);
        snprintf(heard + n, sizeof(heard) - n, "%s%s", n ? " " : "", s);
}
static void hook_started(struct tf_service *s, const struct tf_run *r, enum tf_trigger t, unsigned attempt,
                         uint64_t scheduled, void *userdata) {
        char b[64];
        snprintf(b, sizeof(b), "S:%s:%u%s", tf_trigger_name(t), attempt, scheduled ? ":sched" : "");
        heard_add(b);
}
static void hook_ended(struct tf_service *s, const struct tf_run *r, void *userdata) {
        char b[32];
        snprintf(b, sizeof(b), "E:%d", r->result.exit_status);
        heard_add(b);
}
/* "J:status" in heard: the job's last run (on_success/on_failure fire from here); "J:status:attempts" in
 * jobs_heard. fire_missed: the fire it names. */
static char jobs_heard[256];
static uint64_t missed_at;
static void hook_job_ended(struct tf_service *s, const struct tf_run *r, unsigned attempts, void *userdata) {
        char b[32];
        snprintf(b, sizeof(b), "J:%d", r->result.exit_status);
        heard_add(b);
        size_t n = strlen(jobs_heard);
        snprintf(jobs_heard + n, sizeof(jobs_heard) - n, "%sJ:%d:%u", n ? " " : "", r->result.exit_status,
                 attempts);
}
static void hook_missed(struct tf_service *s, const char *reason, uint64_t scheduled, void *userdata) {
        missed_at = scheduled;
}
static const struct tf_service_hooks hooks = { .run_started = hook_started, .run_ended = hook_ended,
                                               .job_ended = hook_job_ended, .fire_missed = hook_missed };
/* The hooks world_begin() gives the service (a test may swap in its own). */
static const struct tf_service_hooks *world_hooks = &hooks;

static void world_begin(struct world *w, const char *name, const char *yaml, bool resident) {
        _cleanup_error_ tf_error *e = NULL;
        *w = (struct world){ .ro = { .quiet = true } };
        n_starts = 0;
        heard[0] = 0;
        jobs_heard[0] = 0;
        missed_at = 0;
        if (tf_loop_new_virtual(T0, 1000 * SEC, &loop, &e) < 0)
                abort();
        tf_run_ctx_init(&w->ctx, loop);
        w->ctx.backend_override = &fake_ops;
        struct tf_service_options so = { .run = &w->ro, .state_dir = tmpdir, .resident = resident,
                                         .allow_unscheduled = true, .hooks = world_hooks };
        if (tf_service_new(&w->ctx, load(name, yaml), &so, &w->svc, &e) < 0) {
                printf("# %s\n", e->msg);
                abort();
        }
        tf_service_on_idle(w->svc, on_idle, w);
        tf_service_start(w->svc);
}

static void world_end(struct world *w) {
        tf_service_free(w->svc);
        tf_run_ctx_done(&w->ctx);
        tf_loop_free(loop);
        loop = NULL;
}

static void advance(unsigned secs) {
        if (tf_loop_advance(loop, (uint64_t) secs * SEC) < 0)
                abort();
}

/* "10 20 30" */
static const char *starts_str(void) {
        static char buf[1024];
        size_t len = 0;
        buf[0] = 0;
        for (unsigned i = 0; i < n_starts && len < sizeof(buf) - 16; i++)
                len += (size_t) snprintf(buf + len, sizeof(buf) - len, "%s%u", i ? " " : "", starts[i]);
        return buf;
}

static void test_oneshot(void) {
        struct world w;
        world_begin(&w, "once", "command: [fake, 5s, 3]\n", false);
        advance(0);
        IS_STR(starts_str(), "0", "one-shot: one run at once");
        OK(!w.idle, "one-shot: not idle while it runs");
        advance(5);
        OK(w.idle, "one-shot: idle once the run ended");
        IS_INT(tf_service_last_status(&*w.svc), 3, "one-shot: the run's status");
        IS_STR(jobs_heard, "J:3:1", "one-shot: job_ended once");
        world_end(&w);
}

static void test_overlap_skip(void) {
        struct world w;
        world_begin(&w, "skip", "command: [fake, 15s, 0]\nschedule: {every: 10s, overlap: skip}\n", true);
        advance(65);
        /* 10 runs to 25: 20 skipped; 30 to 45: 40 skipped; 50 to 65. */
        IS_STR(starts_str(), "10 30 50", "overlap skip: a fire during a run is skipped");
        world_end(&w);
}

static void test_overlap_queue(void) {
        struct world w;
        world_begin(&w, "queue", "command: [fake, 15s, 0]\nschedule: {every: 10s, overlap: queue}\n", true);
        advance(70);
        /* 10..25; 20 queued -> 25..40; 30 queued; 40 would queue a second: one only -> 40..55; 50 queued
         * -> 55..70; 60 queued -> 70. */
        IS_STR(starts_str(), "10 25 40 55 70", "overlap queue: one fire waits, later ones are dropped");
        world_end(&w);
}

static void test_overlap_replace(void) {
        struct world w;
        world_begin(&w, "replace", "command: [fake, 15s, 0]\nschedule: {every: 10s, overlap: replace}\n", true);
        advance(35);
        IS_STR(starts_str(), "10 20 30", "overlap replace: each fire stops the running one and starts at once");
        world_end(&w);
}

static void test_retries_per_job(void) {
        struct world w;
        world_begin(&w, "retry",
                    "command: [fake, 15s, 1]\nschedule: {every: 10s, overlap: allow}\n"
                    "restart: {policy: on-failure, max_retries: 1, backoff: {initial: 2s, max: 2s, jitter: false}}\n",
                    true);
        advance(38);
        /* 10 fails at 25 -> retry at 27; 20 fails at 35 -> retry at 37 (two jobs, two retries); 30 too. */
        IS_STR(starts_str(), "10 20 27 30 37", "overlap allow: every failed job gets its own retry");
        world_end(&w);
}

static void test_retry_limit(void) {
        struct world w;
        world_begin(&w, "retry2",
                    "command: [fake, 1s, 2]\n"
                    "restart: {policy: on-failure, max_retries: 2, backoff: {initial: 1s, max: 10s, jitter: false}}\n",
                    false);
        advance(60);
        /* 0..1 fail, +1s -> 2..3 fail, +2s -> 5..6 fail: no more. */
        IS_STR(starts_str(), "0 2 5", "retries: backoff doubles, max_retries bounds them");
        OK(w.idle, "retries: idle after the last attempt");
        IS_INT(tf_service_last_status(w.svc), 2, "retries: the last attempt's status");
        IS_STR(jobs_heard, "J:2:3", "job_ended: once, after the last of the 3 attempts");
        world_end(&w);
}

static void test_job_ended_once(void) {
        struct world w;
        world_begin(&w, "jobend",
                    "command: [fake, 1s, 2]\n"
                    "restart: {policy: on-failure, max_retries: 2, backoff: {initial: 1s, max: 10s, jitter: false}}\n",
                    false);
        advance(60);
        IS_STR(heard, "S:start:0 E:2 S:retry:1 E:2 S:retry:2 E:2 J:2",
               "job_ended: once, after the last of three attempts");
        world_end(&w);
        world_begin(&w, "jobdrain",
                    "command: [fake, 1s, 2]\nrestart: {policy: always, backoff: {initial: 30s, jitter: false}}\n",
                    false);
        advance(5);
        tf_service_drain(w.svc);
        advance(60);
        IS_STR(heard, "S:start:0 E:2", "job_ended: not for a job whose pending retry was dropped");
        world_end(&w);
        world_begin(&w, "jobdrain2", "command: [fake, 5s, 0]\nrestart: {policy: always}\n", false);
        advance(1);
        tf_service_drain(w.svc);
        advance(10);
        IS_STR(heard, "S:start:0 E:0 J:0", "job_ended: a run that ends while draining is its job's last");
        world_end(&w);
}

static void test_drain_cancels_retry(void) {
        struct world w;
        world_begin(&w, "drain",
                    "command: [fake, 1s, 2]\nrestart: {policy: always, backoff: {initial: 30s, jitter: false}}\n",
                    false);
        advance(5);
        OK(!w.idle, "drain: a pending retry keeps the service busy");
        tf_service_drain(w.svc);
        advance(0);
        OK(w.idle, "drain: a pending retry is dropped");
        advance(60);
        IS_STR(starts_str(), "0", "drain: no run after it");
        world_end(&w);
}

static void test_stop(void) {
        struct world w;
        world_begin(&w, "stop", "command: [fake, 100s, 0]\nschedule: {every: 10s}\n", true);
        advance(15);
        tf_service_stop(w.svc);
        advance(1);
        OK(w.idle, "stop: the running run is stopped");
        IS_INT(tf_service_last_status(w.svc), 128 + SIGTERM, "stop: it ended by the stop signal");
        advance(60);
        IS_STR(starts_str(), "10", "stop: no fire after it");
        world_end(&w);
}

static void test_reload_keeps_anchor(void) {
        struct world w;
        const char *y = "command: [fake, 1s, 0]\nschedule: {every: 3s}\n";
        world_begin(&w, "anchor", y, true);
        for (int i = 0; i < 6; i++) {
                advance(2);
                _cleanup_error_ tf_error *e = NULL;
                OK(tf_service_reload(w.svc, load("anchor", y), &e) == 0, "reload %d", i);
        }
        /* Reloaded at 2, 4, ..., 12: the series stays on 3, 6, 9, 12. */
        IS_STR(starts_str(), "3 6 9 12", "reload every 2 s keeps every: 3s firing on its anchor");
        world_end(&w);
}

/* A reload in the same loop round as a due fire, before its timer callback runs (a SIGHUP read first from
 * the same epoll wait): the due fire still runs. */
static struct world *reload_world;
static const char *reload_yaml;
static int on_reload_timer(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        _cleanup_error_ tf_error *e = NULL;
        tf_source_remove(src);
        if (tf_service_reload(reload_world->svc, load("due", reload_yaml), &e) < 0)
                abort();
        return 0;
}

static void test_reload_at_due_fire(void) {
        struct world w;
        reload_yaml = "command: [fake, 1s, 0]\nschedule: {every: 3s}\n";
        reload_world = &w;
        _cleanup_error_ tf_error *e = NULL;
        world_begin(&w, "due", reload_yaml, true);
        /* Armed after the service's timer for the same instant: runs first only if the loop orders by
         * arming; both orders must give the fire. */
        for (int first = 0; first < 2; first++) {
                uint64_t at = T0 + (uint64_t) (3 + 3 * first) * SEC;
                if (tf_loop_add_timer(loop, CLOCK_REALTIME, at, on_reload_timer, NULL, NULL, &e) < 0)
                        abort();
        }
        advance(7);
        IS_STR(starts_str(), "3 6", "a reload at the instant of a due fire keeps the fire");
        world_end(&w);
}

static void write_state(const char *name, const char *text) {
        _cleanup_free_ char *p = tf_asprintf("%s/%s.state", tmpdir, name);
        FILE *f = fopen(p, "we");
        fputs(text, f);
        fclose(f);
}

static void test_persistent(void) {
        struct world w;
        char buf[128];
        /* Last start 3 h before T0: the hourly fires since were missed; one catch-up at start. */
        snprintf(buf, sizeof(buf), "{\"last_start_usec\": %llu}\n", (unsigned long long) (T0 - 3 * 3600 * SEC));
        write_state("pers", buf);
        world_begin(&w, "pers", "command: [fake, 1s, 0]\nschedule: {calendar: hourly, persistent: true}\n", true);
        advance(10);
        IS_STR(starts_str(), "0", "persistent: one catch-up run at start");
        OK(missed_at > T0 - 3 * 3600 * SEC && missed_at <= T0 - 2 * 3600 * SEC,
           "persistent: fire_missed names the first fire missed (within the hour after the last start)");
        _cleanup_free_ char *p = tf_asprintf("%s/pers.state", tmpdir);
        json_error_t je;
        json_t *o = json_load_file(p, 0, &je);
        OK(o && json_integer_value(json_object_get(o, "last_start_usec")) == (json_int_t) T0,
           "persistent: the start is recorded");
        json_decref(o);
        world_end(&w);

        /* Started again right after: nothing was missed since. */
        world_begin(&w, "pers", "command: [fake, 1s, 0]\nschedule: {calendar: hourly, persistent: true}\n", true);
        advance(10);
        IS_STR(starts_str(), "", "persistent: no catch-up when nothing was missed");
        advance(3600);
        IS_STR(starts_str(), "3600", "persistent: then on the schedule");
        world_end(&w);

        write_state("pers", "{\"last_start_usec\": \"garbage\"\n");
        world_begin(&w, "pers", "command: [fake, 1s, 0]\nschedule: {calendar: hourly, persistent: true}\n", true);
        advance(10);
        IS_STR(starts_str(), "", "persistent: a corrupt state file gives no catch-up (and a warning)");
        world_end(&w);
}

/* The manager's one-shot services: resident, no schedule, run when triggered, under overlap. */
static void test_unscheduled_trigger(void) {
        struct world w;
        world_begin(&w, "trig", "command: [fake, 10s, 0]\n", true);
        advance(5);
        IS_STR(starts_str(), "", "unscheduled: nothing runs by itself");
        IS_INT(tf_service_next_fire(w.svc), 0, "unscheduled: no next fire");
        char *id = NULL;
        IS_INT(tf_service_trigger_as(w.svc, TF_TRIGGER_MANUAL, "test", &id), TF_TRIGGER_STARTED, "trigger: started");
        OK(id && tf_startswith(id, "trig-"), "trigger: the run id is given back (%s)", id ? id : "NULL");
        const char *newest = NULL;
        IS_INT(tf_service_running(w.svc, &newest), 1, "trigger: one running");
        OK(newest && id && streq(newest, id), "trigger: the newest running run is it");
        free(id);
        IS_INT(tf_service_trigger_as(w.svc, TF_TRIGGER_MANUAL, "test", &id), TF_TRIGGER_SKIPPED,
               "trigger while running: skipped (overlap: skip)");
        OK(id == NULL, "skipped: no run id");
        OK(tf_service_last_result(w.svc, NULL) == NULL, "no result before a run ended");
        advance(10);
        uint64_t ended = 0;
        const struct tf_run_result *last = tf_service_last_result(w.svc, &ended);
        OK(last && last->exit_status == 0 && ended == T0 + 15 * SEC, "the last result and when it ended");
        IS_STR(starts_str(), "5", "one run, at the trigger");
        IS_STR(heard, "S:manual:0 E:0 J:0", "hooks: started as manual, ended with 0");
        world_end(&w);
}

static void test_enable_disable(void) {
        struct world w;
        world_begin(&w, "dis",
                    "command: [fake, 1s, 1]\nschedule: {every: 10s}\n"
                    "restart: {policy: on-failure, max_retries: 1, backoff: {initial: 2s, max: 2s, jitter: false}}\n",
                    true);
        advance(15);
        tf_service_set_enabled(w.svc, false);
        OK(!tf_service_enabled(w.svc), "disabled");
        IS_INT(tf_service_next_fire(w.svc), 0, "disabled: no next fire");
        advance(30);
        IS_STR(starts_str(), "10 13", "disabled: no fire after 15 (the retry at 13 was before)");
        tf_service_trigger(w.svc, "test");
        advance(5);
        IS_STR(starts_str(), "10 13 45 48", "a disabled service may still be triggered (and retried)");
        tf_service_set_enabled(w.svc, true);
        OK(tf_service_next_fire(w.svc) == T0 + 60 * SEC, "enabled: the next fire is the schedule's (60)");
        advance(10);
        IS_STR(starts_str(), "10 13 45 48 60", "enabled: fires again");
        IS_STR(heard,
               "S:schedule:0:sched E:1 S:retry:1:sched E:1 J:1 S:manual:0 E:1 S:retry:1 E:1 J:1 "
               "S:schedule:0:sched",
               "hooks: schedule, retry, manual and their scheduled times");
        world_end(&w);
}

static void test_stop_runs(void) {
        struct world w;
        world_begin(&w, "stopr", "command: [fake, 100s, 0]\nschedule: {every: 10s, overlap: allow}\n", true);
        advance(25);
        IS_INT(tf_service_running(w.svc, NULL), 2, "two runs going");
        IS_INT(tf_service_stop_runs(w.svc), 2, "stop_runs: two asked to stop");
        advance(1);
        IS_INT(tf_service_running(w.svc, NULL), 0, "stopped");
        advance(5);
        IS_STR(starts_str(), "10 20 30", "the schedule goes on after a stop");
        world_end(&w);
}

/* --- admission: a gate of `gate_slots` runs at once, as the manager's admission is one --- */

static unsigned gate_slots, gate_held, gate_admits, gate_releases;
static struct tf_service_job *gate_waiting[64];
static unsigned gate_n_waiting;
static struct tf_source *gate_pass;
static bool gate_reject_next;

static int on_gate_pass(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        gate_pass = NULL;
        while (gate_n_waiting > 0 && gate_held < gate_slots) {
                struct tf_service_job *j = gate_waiting[0];
                memmove(gate_waiting, gate_waiting + 1, --gate_n_waiting * sizeof(*gate_waiting));
                if (gate_reject_next) {
                        gate_reject_next = false;
                        tf_service_job_reject(j, "admission");
                        continue;
                }
                gate_held++;
                tf_service_job_set_tag(j, (void *) 2);
                tf_service_job_admit(j);
        }
        return 0;
}

static bool gate_admit(struct tf_service *s, struct tf_service_job *job, void *userdata) {
        gate_admits++;
        char b[48];
        snprintf(b, sizeof(b), "A:%s:%u", tf_trigger_name(tf_service_job_trigger(job)), tf_service_job_attempt(job));
        heard_add(b);
        if (gate_held < gate_slots && gate_n_waiting == 0) {
                gate_held++;
                tf_service_job_set_tag(job, (void *) 2);
                return true;
        }
        tf_service_job_set_tag(job, (void *) 1);
        gate_waiting[gate_n_waiting++] = job;
        return false;
}

static void gate_release(struct tf_service *s, struct tf_service_job *job, void *userdata) {
        gate_releases++;
        if (tf_service_job_tag(job) == (void *) 2)
                gate_held--;
        else
                for (unsigned i = 0; i < gate_n_waiting; i++)
                        if (gate_waiting[i] == job) {
                                memmove(gate_waiting + i, gate_waiting + i + 1, (--gate_n_waiting - i) * sizeof(*gate_waiting));
                                break;
                        }
        heard_add("R");
        if (!gate_pass)
                tf_loop_defer(loop, on_gate_pass, NULL, &gate_pass);
}

static void gate_missed(struct tf_service *s, const char *reason, uint64_t scheduled, void *userdata) {
        char b[48];
        snprintf(b, sizeof(b), "M:%s", reason);
        heard_add(b);
}

static const struct tf_service_hooks gate_hooks = { .admit = gate_admit, .release = gate_release,
                                                    .fire_missed = gate_missed };

static void gate_reset(unsigned slots) {
        gate_slots = slots;
        gate_held = gate_admits = gate_releases = gate_n_waiting = 0;
        gate_reject_next = false;
        gate_pass = NULL;
        world_hooks = &gate_hooks;
}

static void test_admission(void) {
        struct world w;
        gate_reset(1);
        world_begin(&w, "gate", "command: [fake, 15s, 0]\nschedule: {every: 10s, overlap: allow}\n", true);
        advance(20);
        IS_STR(starts_str(), "10", "admission: the second fire waits (one slot)");
        IS_INT(tf_service_running(w.svc, NULL), 1, "one running");
        IS_INT(tf_service_waiting(w.svc), 1, "one waiting for admission");
        advance(21);
        /* 10..25; 20 admitted at 25 (release, then the owner's pass) -> 40; 30 at 40 -> 55. */
        IS_STR(starts_str(), "10 25 40", "a waiting job starts when the running one releases its slot");
        IS_INT(tf_service_trigger_as(w.svc, TF_TRIGGER_MANUAL, "t", NULL), TF_TRIGGER_WAITING,
               "a trigger that must wait: TF_TRIGGER_WAITING");
        IS_INT(tf_service_stop_runs(w.svc), 1, "stop_runs: the running one is stopped");
        advance(1);
        IS_INT(tf_service_waiting(w.svc), 0, "stop_runs: the waiting jobs are dropped");
        IS_INT(gate_admits, gate_releases, "every admit has its release (%u)", gate_admits);
        world_end(&w);

        gate_reset(1);
        world_begin(&w, "gatereject", "command: [fake, 15s, 0]\nschedule: {every: 10s, overlap: allow}\n", true);
        advance(20);
        gate_reject_next = true;
        advance(6);
        IS_STR(starts_str(), "10", "a rejected job never starts");
        OK(strstr(heard, "M:admission") != NULL, "a rejected job is a missed fire with the owner's reason (%s)", heard);
        world_end(&w);
        IS_INT(gate_admits, gate_releases + 1, "a rejected job has no release (the owner dropped it)");

        gate_reset(1);
        world_begin(&w, "gateretry",
                    "command: [fake, 5s, 1]\nrestart: {policy: on-failure, max_retries: 1, backoff: {initial: 1s, max: 1s, "
                    "jitter: false}}\n",
                    true);
        tf_service_trigger(w.svc, "t");
        advance(20);
        IS_STR(starts_str(), "0 6", "a retry asks for admission again and starts once admitted");
        IS_STR(heard, "A:manual:0 R A:retry:1 R", "admit and release around each attempt");
        world_end(&w);
        world_hooks = &hooks;
}

int main(void) {
        if (!mkdtemp(tmpdir))
                return 1;
        test_oneshot();
        test_overlap_skip();
        test_overlap_queue();
        test_overlap_replace();
        test_retries_per_job();
        test_retry_limit();
        test_job_ended_once();
        test_drain_cancels_retry();
        test_stop();
        test_reload_keeps_anchor();
        test_reload_at_due_fire();
        test_persistent();
        test_unscheduled_trigger();
        test_enable_disable();
        test_stop_runs();
        test_admission();
        _cleanup_free_ char *cmd = tf_asprintf("rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
                return 1;
        printf("1..%d\n", tap_count);
        return tap_failed ? 1 : 0;
}
