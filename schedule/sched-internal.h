/* SPDX-License-Identifier: MIT */
#pragma once

/* Helpers shared by the schedule/ sources; not part of the public API. */

#include <stdint.h>

#include "schedule/schedule.h"

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12) and back. */
int64_t tf_days_from_civil(int64_t y, int m, int d);
void tf_civil_from_days(int64_t days, int64_t *ret_y, int *ret_m, int *ret_d);

/* The UTC offset of `tz` at `t` (seconds east), without filling a struct tm: the cron search asks often. */
int32_t tf_tz_utoff(const tf_tz *tz, int64_t t);
