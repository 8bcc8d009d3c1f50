/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>
#include <time.h>

#include <stddef.h>

/* Current time of `clock` in microseconds. */
uint64_t tf_now(clockid_t clock);

static inline struct timespec tf_usec_to_timespec(uint64_t u) {
        return (struct timespec){ .tv_sec = (time_t) (u / 1000000), .tv_nsec = (long) (u % 1000000) * 1000 };
}

/* usec since the epoch as UTC ISO 8601 with microseconds, "2026-12-01T19:50:28.373489Z"; returns buf. */
char *tf_format_utc_usec(char *buf, size_t len, uint64_t usec);
