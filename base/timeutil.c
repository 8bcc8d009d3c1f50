/* SPDX-License-Identifier: MIT */
#include "timeutil.h"

#include <inttypes.h>
#include <stdio.h>

uint64_t tf_now(clockid_t clock) {
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

char *tf_format_utc_usec(char *buf, size_t len, uint64_t usec) {
        time_t t = (time_t) (usec / 1000000);
        struct tm tm;
        gmtime_r(&t, &tm);
        char b[32];
        strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf, len, "%s.%06" PRIu64 "Z", b, usec % 1000000);
        return buf;
}
