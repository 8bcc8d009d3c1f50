/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A service: one spec, its fire plan and timers, its jobs, the retries of each job, its persistent state.
 * It lives on a loop it does not own, beside other services: the process (supervise.c today, the manager
 * later) owns the loop, the signals and the exit. All time comes from the loop's clock (tf_loop_now), so
 * the service logic runs on a virtual clock in unit tests.
 *
 * A job is one fire of the schedule (or one trigger) and its retries: with `overlap: allow` several jobs
 * run at once, each with its own attempt count and retry timer.
 */

#include <stdbool.h>

#include "runner/runner.h"

struct tf_service;
/* One job of a service (a fire or a trigger and its retries), as the owner's admission sees it. */
struct tf_service_job;

/* What started a job; recorded in history. */
enum tf_trigger {
        TF_TRIGGER_START,    /* one-shot: the run at start */
        TF_TRIGGER_SCHEDULE, /* a fire of the schedule */
        TF_TRIGGER_CATCHUP,  /* persistent: the fire missed while nothing ran */
        TF_TRIGGER_REBOOT,   /* cron @reboot */
        TF_TRIGGER_MANUAL,   /* `tfrun trigger`, the API */
        TF_TRIGGER_RETRY,    /* restart: a later attempt of the same job */
        TF_TRIGGER_SERVICE,  /* another service's on_success / on_failure (the manager) */
        TF_TRIGGER_PATH,     /* a file trigger (schedule.path) */
};
const char *tf_trigger_name(enum tf_trigger t);

/* What the owner hears of each run; every pointer is valid for the call only. `scheduled_usec`: the fire
 * time the job is for (0 when it was not scheduled). run_started comes right after tf_run_start() (the
 * run's start time and log are set), always before run_ended. */
struct tf_service_hooks {
        void (*run_started)(struct tf_service *s, const struct tf_run *r, enum tf_trigger trigger,
                            unsigned attempt, uint64_t scheduled_usec, void *userdata);
        /* After the run's report; r->result holds the outcome. */
        void (*run_ended)(struct tf_service *s, const struct tf_run *r, void *userdata);
        /* After run_ended, when that run was the job's last (no retry follows: it succeeded, the restart
         * policy does not retry it, its retries are used up, or the service is draining). Not called for a
         * job whose pending retry was dropped (stop, replace, drain): its last run ended earlier. The job's
         * extra is r->extra. attempts: how many runs the job made (1 without retries). One call per job, so
         * that what is said once per fire (an alert, a trigger) is not said per attempt. May be NULL. */
        void (*job_ended)(struct tf_service *s, const struct tf_run *r, unsigned attempts, void *userdata);
        /* A fire of the schedule that did not run as planned: "overlap" (skipped: the previous run still
         * going) or "downtime" (persistent: the catch-up of fires missed while nothing ran, just before its
         * run starts; scheduled_usec: the first fire missed). May be NULL. */
        void (*fire_missed)(struct tf_service *s, const char *reason, uint64_t scheduled_usec,
                            void *userdata);
        /* Admission (the manager's budget and queues), both or neither; may be NULL. admit is asked before
         * each run of a job (each attempt) is created: true starts it now (the owner took what it
         * reserves); false makes the job wait, without a run, until the owner calls
         * tf_service_job_admit() or tf_service_job_reject() (from the loop, never from inside a hook).
         * release is called once for each admit: when the admitted run ended, or when a waiting job was
         * dropped (stop, drain, a replace, the service freed). Overlap policies apply before: a waiting
         * job is a job, so `overlap: skip` skips a fire while one waits. */
        bool (*admit)(struct tf_service *s, struct tf_service_job *job, void *userdata);
        void (*release)(struct tf_service *s, struct tf_service_job *job, void *userdata);
        void *userdata;
};

struct tf_service_options {
        const struct tf_run_options *run; /* borrowed, outlives the service */
        const char *state_dir;            /* persistent: NULL = tf_default_state_dir() */
        bool resident;                    /* fire on the schedule; else one run at start */
        /* Resident only: a spec without a schedule is a service that runs when triggered (the manager's
         * one-shot services); without this such a spec is refused. */
        bool allow_unscheduled;
        const struct tf_service_hooks *hooks; /* borrowed; NULL: none */
};

/* Default state directory: /var/lib/tfrun as root, else $XDG_STATE_HOME/tfrun or ~/.local/state/tfrun. */
char *tf_default_state_dir(void);

/* Takes spec (also on failure). Nothing is armed or started before tf_service_start(). */
int tf_service_new(struct tf_run_ctx *ctx, struct tf_spec *spec, const struct tf_service_options *o,
                   struct tf_service **ret, tf_error **err);
void tf_service_free(struct tf_service *s);

/* Arm the schedule (resident: persistent catch-up and @reboot as deferred runs) or, one-shot, defer the one
 * run. */
void tf_service_start(struct tf_service *s);

/* Replace the spec (takes it, also on failure): running jobs finish under the old one; the fire plan keeps
 * its anchor (`every:` its phase) and an unchanged next fire keeps its timer and delay. */
int tf_service_reload(struct tf_service *s, struct tf_spec *spec, tf_error **err);

/* Run now, under the overlap policy, as a fire would. */
void tf_service_trigger(struct tf_service *s, const char *why);

enum tf_trigger_outcome {
        TF_TRIGGER_STARTED,  /* a run was created (*ret_run_id set) */
        TF_TRIGGER_QUEUED,   /* overlap: queue or replace: it starts when the running one ends */
        TF_TRIGGER_SKIPPED,  /* overlap: skip (or one is queued already) */
        TF_TRIGGER_DRAINING, /* the service is stopping */
        TF_TRIGGER_FAILED,   /* the run could not be created (logged; status 125) */
        TF_TRIGGER_WAITING,  /* admission: the job waits for room in the budget or its queue */
};
/* The same, saying what became of it; *ret_run_id (may be NULL) gets a copy of the new run's id. */
enum tf_trigger_outcome tf_service_trigger_as(struct tf_service *s, enum tf_trigger kind, const char *why,
                                              char **ret_run_id);
/* The same, the job (each of its attempts, and a queued fire) carrying extra (copied; NULL: none). */
enum tf_trigger_outcome tf_service_trigger_ex(struct tf_service *s, enum tf_trigger kind, const char *why,
                                              const struct tf_run_extra *extra, char **ret_run_id);

/* Admission (see tf_service_hooks.admit): start the waiting job's run now, or drop it, recorded as a missed
 * fire (fire_missed with `reason`, e.g. "admission"). */
void tf_service_job_admit(struct tf_service_job *job);
void tf_service_job_reject(struct tf_service_job *job, const char *reason);
/* Admission: stop the admitted job's running run per its `stop:` (signal, grace, kill), asynchronously, to
 * make room; release follows when it ended. It ends cancelled (not a failure) with `why` as its reason, and
 * counts as a failed attempt for restart: (a retry asks for admission anew). False when it has no run that
 * could be stopped (or is being preempted already). */
bool tf_service_job_preempt(struct tf_service_job *job, const char *why);
/* The job's fire time (0 when not scheduled), what started it, its attempt (0 first), its service. */
uint64_t tf_service_job_scheduled(const struct tf_service_job *job);
enum tf_trigger tf_service_job_trigger(const struct tf_service_job *job);
unsigned tf_service_job_attempt(const struct tf_service_job *job);
struct tf_service *tf_service_job_service(const struct tf_service_job *job);
/* The spec the job's runs use (its reservation, queue and priority): a reload does not change it. */
const struct tf_spec *tf_service_job_spec(const struct tf_service_job *job);
/* One pointer the owner keeps on the job (its queue entry). */
void tf_service_job_set_tag(struct tf_service_job *job, void *tag);
void *tf_service_job_tag(const struct tf_service_job *job);

/* Resident: a disabled service does not fire (its timer is disarmed) but may be triggered; enabling
 * re-arms from now. Running runs are never touched. */
void tf_service_set_enabled(struct tf_service *s, bool enabled);
bool tf_service_enabled(const struct tf_service *s);
/* Stop the running runs per `stop:` (cancelled: no retry); pending retries are dropped. The schedule goes
 * on. Returns how many runs were asked to stop. */
unsigned tf_service_stop_runs(struct tf_service *s);
/* Runs now running (STARTING..STOPPING), and the id of the newest of them (NULL when none). */
unsigned tf_service_running(const struct tf_service *s, const char **newest_run_id);
/* Ended runs' outcome: the last one's result (NULL before any); pointer valid until the next run ends. */
const struct tf_run_result *tf_service_last_result(const struct tf_service *s, uint64_t *ended_usec);

/* No more fires and no more retries; running runs go on to their end. */
void tf_service_drain(struct tf_service *s);
/* Drain, and stop every running run per `stop:` (cancelled). Asked again: kill at once. */
void tf_service_stop(struct tf_service *s);
/* Forward a signal tfrun received to the main process of every running run. from_terminal: the kernel
 * sent it to the foreground process group, so runs in that group already have it. */
void tf_service_forward_signal(struct tf_service *s, int sig, bool from_terminal);

/* Nothing running, no retry pending, nothing queued. */
bool tf_service_idle(const struct tf_service *s);
/* Called (from the loop) each time the service becomes idle. */
void tf_service_on_idle(struct tf_service *s, void (*cb)(struct tf_service *s, void *userdata), void *userdata);

/* The exit status of the last run that ended (125 when a run could not be created); 0 before any. */
int tf_service_last_status(const struct tf_service *s);
const struct tf_spec *tf_service_spec(const struct tf_service *s);
/* Runs waiting to start: a fire queued behind a running run, and jobs waiting for their retry. */
unsigned tf_service_waiting(const struct tf_service *s);
/* Of those, the jobs waiting for the owner's admission (tf_service_hooks.admit). */
unsigned tf_service_admission_waiting(const struct tf_service *s);
/* Runs started so far (attempts included). */
unsigned tf_service_runs_started(const struct tf_service *s);
/* Up to n next fire times of the schedule after now (not counting randomized delays); how many. 0 for a
 * disabled or unscheduled service. */
unsigned tf_service_next_fires(const struct tf_service *s, uint64_t *out, unsigned n);
/* The scheduled time of the armed fire; 0 when none is armed. */
uint64_t tf_service_next_fire(const struct tf_service *s);
