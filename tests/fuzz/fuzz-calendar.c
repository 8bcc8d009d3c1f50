/* SPDX-License-Identifier: MIT */
/*
 * schedule/ calendar expressions: tf_cal_parse() on arbitrary text, then tf_cal_format() and tf_cal_next()
 * from fixed base times. Properties (systemd's test-calendarspec round trip and more):
 *   - a failure is -errno with a message that quotes the expression ("'EXPR': ...");
 *   - the normalized form parses again, and formats to itself (a fixed point);
 *   - the normalized form elapses when the original does (same first elapse from every base time);
 *   - tf_cal_next() returns 0 with a time strictly after the base, -ENOENT, or -EDEADLK (the iteration
 *     cap) with a message; elapses chained from one another strictly increase.
 * The local zone is fixed (Europe/Berlin, or $TF_FUZZ_TZ) because a trailing "CET"/"CEST" depends on it;
 * a zone with DST also puts the gap and fold paths within reach.
 */

#include <errno.h>
#include <stdbool.h>
#include <time.h>

#include "base/cleanup.h"
#include "schedule/schedule.h"
#include "fuzz.h"

#define USEC UINT64_C(1000000)

static const uint64_t bases[] = {
        0,                         /* the epoch */
        UINT64_C(1774738800) * USEC,       /* 2026-03-29 01:00 CET: spring-forward day in Berlin */
        UINT64_C(1792882800) * USEC + 1,   /* 2026-10-25 01:00 CEST (+1 µs): fall-back day */
        UINT64_C(1709164800) * USEC,       /* 2024-02-29, a leap day */
        UINT64_C(4102444799) * USEC,       /* 2099-12-31 23:59:59 UTC */
        UINT64_C(7258118399) * USEC,       /* 2199-12-31 23:59:59 UTC, the last year allowed */
};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        const char *tz = getenv("TF_FUZZ_TZ");
        setenv("TZ", tz ? tz : "Europe/Berlin", 1);
        tzset();
        return 0;
}

static int next_checked(const tf_cal *c, const char *what, uint64_t after, uint64_t *ret) {
        tf_error *err = NULL;
        uint64_t t = 0;
        int r = tf_cal_next(c, after, &t, &err);
        FUZZ_ASSERT(r == 0 || r == -ENOENT || r == -EDEADLK, "'%s': tf_cal_next returned %d", what, r);
        if (r == -EDEADLK)
                FUZZ_ASSERT(err && err->msg && !strchr(err->msg, '\n'), "'%s': -EDEADLK without a message",
                            what);
        if (r == 0)
                FUZZ_ASSERT(t > after, "'%s': next after %llu is %llu, not later", what,
                            (unsigned long long)after, (unsigned long long)t);
        tf_error_free(err);
        *ret = t;
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > TF_CAL_EXPR_MAX + 16)
                return 0;
        _cleanup_free_ char *expr = fuzz_cstring(data, size);
        if (!expr)
                return 0;

        tf_cal *c = NULL;
        tf_error *err = NULL;
        int r = tf_cal_parse(expr, &c, &err);
        if (r < 0) {
                FUZZ_ASSERT(c == NULL, "failure but a result");
                FUZZ_ASSERT(err && err->msg, "failure %d without a message", r);
                /* The message quotes the expression verbatim, so an expression holding a newline makes
                 * a message of two lines: only the leading quote is checked. */
                FUZZ_ASSERT(err->msg[0] == '\'', "message does not start with the quoted expression: %s",
                            err->msg);
                tf_error_free(err);
                return 0;
        }
        FUZZ_ASSERT(c && !err, "success without a result");

        _cleanup_free_ char *s1 = tf_cal_format(c);
        tf_cal *c2 = NULL;
        r = tf_cal_parse(s1, &c2, &err);
        FUZZ_ASSERT(r == 0, "'%s' normalizes to '%s', which does not parse: %s", expr, s1,
                    err ? err->msg : "?");
        _cleanup_free_ char *s2 = tf_cal_format(c2);
        FUZZ_ASSERT(strcmp(s1, s2) == 0, "'%s' -> '%s' -> '%s': not a fixed point", expr, s1, s2);

        for (size_t i = 0; i < ELEMENTSOF(bases); i++) {
                uint64_t t1, t2;
                int r1 = next_checked(c, expr, bases[i], &t1);
                int r2 = next_checked(c2, s1, bases[i], &t2);
                FUZZ_ASSERT(r1 == r2 && (r1 != 0 || t1 == t2),
                            "'%s' and its normal form '%s' differ from %llu: %d/%llu vs %d/%llu", expr, s1,
                            (unsigned long long)bases[i], r1, (unsigned long long)t1, r2,
                            (unsigned long long)t2);
                /* A few chained elapses from the first base times only: enough for the odometer's
                 * carries, cheap enough for the fuzzer's speed. */
                for (int k = 0; r1 == 0 && k < 2 && i < 3; k++) {
                        uint64_t t3;
                        r1 = next_checked(c, expr, t1, &t3);
                        t1 = t3;
                }
        }
        tf_cal_free(c2);
        tf_cal_free(c);
        return 0;
}
