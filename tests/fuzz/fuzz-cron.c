/* SPDX-License-Identifier: MIT */
/*
 * schedule/ cron expressions: tf_cron_parse(), tf_cron_format(), tf_cron_next(). Properties:
 *   - a failure is -errno with a message that quotes the expression;
 *   - the canonical form parses again and formats to itself (a fixed point) and has the same next run
 *     from every base time;
 *   - tf_cron_next() returns 0 with a time strictly after the base, or -ENOENT (always for @reboot).
 * The local zone is fixed (Europe/Berlin, or $TF_FUZZ_TZ) so that cronie's DST rules are exercised.
 */

#include <errno.h>
#include <time.h>

#include "base/cleanup.h"
#include "schedule/schedule.h"
#include "fuzz.h"

#define USEC UINT64_C(1000000)

static const uint64_t bases[] = {
        0,
        UINT64_C(1774738800) * USEC,     /* spring-forward day in Berlin */
        UINT64_C(1792882800) * USEC + 1, /* fall-back day */
        UINT64_C(1709164800) * USEC,     /* 2024-02-29 */
        UINT64_C(4102444799) * USEC,     /* end of 2099 */
};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        const char *tz = getenv("TF_FUZZ_TZ");
        setenv("TZ", tz ? tz : "Europe/Berlin", 1);
        tzset();
        return 0;
}

static int next_checked(const tf_cron *c, const char *what, uint64_t after, uint64_t *ret) {
        tf_error *err = NULL;
        uint64_t t = 0;
        int r = tf_cron_next(c, after, &t, &err);
        FUZZ_ASSERT(r == 0 || r == -ENOENT, "'%s': tf_cron_next returned %d", what, r);
        FUZZ_ASSERT(r == 0 || (err && err->msg), "'%s': failure without a message", what);
        if (r == 0)
                FUZZ_ASSERT(t > after, "'%s': next after %llu is %llu, not later", what,
                            (unsigned long long)after, (unsigned long long)t);
        if (tf_cron_is_reboot(c))
                FUZZ_ASSERT(r == -ENOENT, "'%s': @reboot has a next time", what);
        tf_error_free(err);
        *ret = t;
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > TF_CRON_EXPR_MAX + 16)
                return 0;
        _cleanup_free_ char *expr = fuzz_cstring(data, size);
        if (!expr)
                return 0;

        tf_cron *c = NULL;
        tf_error *err = NULL;
        int r = tf_cron_parse(expr, &c, &err);
        if (r < 0) {
                FUZZ_ASSERT(c == NULL, "failure but a result");
                FUZZ_ASSERT(err && err->msg && err->msg[0] == '\'', "failure %d without a quoting message: %s",
                            r, err && err->msg ? err->msg : "(none)");
                tf_error_free(err);
                return 0;
        }
        FUZZ_ASSERT(c && !err, "success without a result");

        _cleanup_free_ char *s1 = tf_cron_format(c);
        tf_cron *c2 = NULL;
        r = tf_cron_parse(s1, &c2, &err);
        FUZZ_ASSERT(r == 0, "'%s' formats to '%s', which does not parse: %s", expr, s1, err ? err->msg : "?");
        _cleanup_free_ char *s2 = tf_cron_format(c2);
        FUZZ_ASSERT(strcmp(s1, s2) == 0, "'%s' -> '%s' -> '%s': not a fixed point", expr, s1, s2);
        FUZZ_ASSERT(tf_cron_is_reboot(c) == tf_cron_is_reboot(c2), "'%s': @reboot lost", expr);

        for (size_t i = 0; i < ELEMENTSOF(bases); i++) {
                uint64_t t1, t2;
                int r1 = next_checked(c, expr, bases[i], &t1);
                int r2 = next_checked(c2, s1, bases[i], &t2);
                FUZZ_ASSERT(r1 == r2 && (r1 != 0 || t1 == t2),
                            "'%s' and its canonical form '%s' differ from %llu: %d/%llu vs %d/%llu", expr, s1,
                            (unsigned long long)bases[i], r1, (unsigned long long)t1, r2,
                            (unsigned long long)t2);
                for (int k = 0; r1 == 0 && k < 2 && i < 3; k++) {
                        uint64_t t3;
                        r1 = next_checked(c, expr, t1, &t3);
                        t1 = t3;
                }
        }
        tf_cron_free(c2);
        tf_cron_free(c);
        return 0;
}
