/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>
#include <time.h>

/* Current time of `clock` in microseconds. */
uint64_t tf_now(clockid_t clock);

static inline struct timespec tf_usec_to_timespec(uint64_t u) {
        return (struct timespec){ .tv_sec = (time_t) (u / 1000000), .tv_nsec = (long) (u % 1000000) * 1000 };
}
