/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * GET /metrics: the manager in the Prometheus text format 0.0.4 (docs/manager.md "Metrics").
 *
 * Run totals by result come from the history's run_counts (store/: counted once per run as it ends, never
 * decremented, kept when retention deletes rows), so they never go back, across restarts too. What the
 * history does not count (durations, retries, OOM kills, missed fires) is counted here in memory from the
 * manager's hooks since it started: a restart is a counter reset, which Prometheus' rate() expects.
 */

#include <stdint.h>

#include "manager/http.h"
#include "runner/runner.h"
#include "runner/service.h"
#include "store/store.h"

struct tf_metrics;

int tf_metrics_new(tf_store *store, struct tf_metrics **ret);
void tf_metrics_free(struct tf_metrics *x);

/* From the manager's service hooks. */
void tf_metrics_run_started(struct tf_metrics *x, const char *service, enum tf_trigger trigger,
                            uint64_t started_usec);
/* result: the history's word (success, failure, ...). */
void tf_metrics_run_ended(struct tf_metrics *x, const char *service, const struct tf_run_result *res,
                          const char *result, uint64_t ended_usec);
void tf_metrics_fire_missed(struct tf_metrics *x, const char *service, const char *reason);

/* The route's handler; userdata: the manager. */
int tf_metrics_h(struct tf_http_request *req, struct tf_http_response *resp, void *userdata);
