/* SPDX-License-Identifier: MIT */
#pragma once

/* A spec's whole schedule (every calendar expression, the cron expression, the interval) as one
 * "next fire time strictly after T" function over CLOCK_REALTIME microseconds. */

#include <stdint.h>

#include "base/error.h"
#include "spec/spec.h"

struct tf_fire_plan;

/* Parses the spec's expressions; an invalid one fails with "FILE:LINE:COL: schedule.calendar: ..."
 * (-EINVAL). `origin_usec` anchors `every:` (first fire at origin + every). */
int tf_fire_plan_new(const struct tf_spec *spec, uint64_t origin_usec, struct tf_fire_plan **ret, tf_error **err);

/* Earliest fire time > after_usec over every expression; -ENOENT when there is none (e.g. only
 * cron @reboot, or calendar years in the past). */
int tf_fire_plan_next(const struct tf_fire_plan *p, uint64_t after_usec, uint64_t *ret_usec);

/* True when the plan has an @reboot cron entry: fire once at start. */
int tf_fire_plan_has_reboot(const struct tf_fire_plan *p);

/* The anchor of `every:`: a reload passes the old plan's origin on, so the series keeps its phase. */
uint64_t tf_fire_plan_origin(const struct tf_fire_plan *p);

void tf_fire_plan_free(struct tf_fire_plan *p);
