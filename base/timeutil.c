/* SPDX-License-Identifier: MIT */
#include "timeutil.h"

uint64_t tf_now(clockid_t clock) {
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}
