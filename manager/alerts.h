/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Alerts (`notify:` in a spec, docs/manager.md "Alerts"): what the manager's service hooks tell, turned into
 * one alert per job (not per attempt) or per missed fire, delivered by a webhook (a signed POST through
 * libcurl's multi interface on the manager's loop, retried with backoff, a bounded number of attempts)
 * and/or a command (a native run of its own, bounded, the facts in its environment). Nothing here blocks
 * the loop. Deliveries are counted for /metrics; the secret is never logged.
 *
 * Missed fires: a fire skipped by overlap, a fire missed while no manager ran (persistent catch-up), and a
 * dead-man timer per service at each fire time plus the grace that alerts when no run for that fire has
 * started by then. Stale: a timer at the last success plus the age.
 */

#include <stdbool.h>
#include <stdint.h>

#include "runner/runner.h"
#include "runner/service.h"
#include "store/store.h"

struct tf_alerts;

/* Counters since the manager started, per service with a notify: (for /metrics). notifier: 0 webhook,
 * 1 command; result: 0 success, 1 failure. */
struct tf_alert_counters {
        uint64_t raised[TF_ALERT_N];
        uint64_t attempts[2][2];   /* webhook POSTs / command runs, by their outcome */
        uint64_t deliveries[2][2]; /* alerts delivered, or given up on after the last attempt */
};

/* ro: the options notifier commands run with (borrowed, outlives a). */
int tf_alerts_new(struct tf_run_ctx *ctx, const struct tf_run_options *ro, tf_store *store,
                  struct tf_alerts **ret, tf_error **err);
/* Deliveries still waiting are dropped (and said); running commands were waited for by the loop. */
void tf_alerts_free(struct tf_alerts *a);

/* The manager-wide default for services whose spec has no notify: (borrowed; NULL: none). */
void tf_alerts_set_default(struct tf_alerts *a, const struct tf_notify *n);

/* A service appeared, was reloaded, enabled or disabled: its timers follow its spec and its schedule. */
void tf_alerts_service_set(struct tf_alerts *a, struct tf_service *svc);
/* svc is going away (freed after this); nothing is forgotten if another service took the name. */
void tf_alerts_service_unset(struct tf_alerts *a, struct tf_service *svc);

/* From the manager's hooks. status: the history's word for the run's result (success, failure, ...). */
void tf_alerts_run_started(struct tf_alerts *a, struct tf_service *svc, const struct tf_run *r,
                           uint64_t scheduled_usec);
void tf_alerts_job_ended(struct tf_alerts *a, struct tf_service *svc, const struct tf_run *r,
                         const char *status, unsigned attempts);
void tf_alerts_fire_missed(struct tf_alerts *a, struct tf_service *svc, const char *reason,
                           uint64_t scheduled_usec);

/* NULL for a service that never had a notify: (nothing to show). */
const struct tf_alert_counters *tf_alerts_counters(struct tf_alerts *a, const char *service);
/* Deliveries in flight or waiting for their retry. */
unsigned tf_alerts_pending(const struct tf_alerts *a);
