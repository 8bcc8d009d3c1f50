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

struct tf_service_options {
        const struct tf_run_options *run; /* borrowed, outlives the service */
        const char *state_dir;            /* persistent: NULL = tf_default_state_dir() */
        bool resident;                    /* fire on the schedule; else one run at start */
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
/* Runs started so far (attempts included). */
unsigned tf_service_runs_started(const struct tf_service *s);
/* The scheduled time of the armed fire; 0 when none is armed. */
uint64_t tf_service_next_fire(const struct tf_service *s);
