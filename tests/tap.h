/* SPDX-License-Identifier: MIT */
#pragma once

/* A tiny TAP producer for unit tests (meson runs them with protocol: 'tap'). */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_count, tap_failed;

static inline __attribute__((format(printf, 4, 5))) int tap_ok(int cond, const char *file, int line,
                                                               const char *fmt, ...) {
        va_list ap;
        tap_count++;
        printf("%sok %d - ", cond ? "" : "not ", tap_count);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
        if (!cond) {
                tap_failed++;
                printf("#   failed at %s:%d\n", file, line);
        }
        fflush(stdout);
        return cond;
}

#define OK(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define IS_STR(got, want, ...)                                                                    \
        ({                                                                                        \
                const char *_g = (got), *_w = (want);                                            \
                int _r = OK(_g && _w ? strcmp(_g, _w) == 0 : _g == _w, __VA_ARGS__);             \
                if (!_r)                                                                          \
                        printf("#   got:  '%s'\n#   want: '%s'\n", _g ? _g : "(null)",          \
                               _w ? _w : "(null)");                                               \
                _r;                                                                               \
        })

#define IS_INT(got, want, ...)                                                                    \
        ({                                                                                        \
                long long _g = (long long) (got), _w = (long long) (want);                        \
                int _r = OK(_g == _w, __VA_ARGS__);                                               \
                if (!_r)                                                                          \
                        printf("#   got:  %lld\n#   want: %lld\n", _g, _w);                     \
                _r;                                                                               \
        })

/* A test that needs a missing component skips outside CI; under CI=true the skip is a failure. */
static inline void tap_skip(const char *why) {
        const char *ci = getenv("CI");
        tap_count++;
        if (ci && strcmp(ci, "true") == 0) {
                tap_failed++;
                printf("not ok %d - SKIP not allowed under CI=true: %s\n", tap_count, why);
        } else
                printf("ok %d # SKIP %s\n", tap_count, why);
        fflush(stdout);
}

static inline int tap_done(void) {
        printf("1..%d\n", tap_count);
        return tap_failed ? 1 : 0;
}
