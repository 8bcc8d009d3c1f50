/* SPDX-License-Identifier: MIT */
/*
 * Cron expressions with Vixie/cronie semantics. Fields are bit sets; the next run is found day by day
 * over local dates (skipping months that cannot match), then over the day's wall times, each mapped to
 * real instants through the zone: zero instants (a skipped wall time), one, or two (a repeated one).
 * DST follows cronie's cron.c: after a forward jump the fixed-time jobs of the skipped minutes run
 * once; after a backward jump only wildcard jobs run again.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/cleanup.h"
#include "base/strutil.h"
#include "schedule/sched-internal.h"
#include "schedule/schedule.h"

#define USEC_PER_SEC UINT64_C(1000000)
/* Search horizon: the rarest satisfiable expressions (Feb 29 on a given weekday, with the AND rule)
 * repeat within 40 years; beyond the calendar engine's MAX_YEAR nothing is searched either. */
#define CRON_SEARCH_YEARS 60
#define CRON_MAX_YEAR 2199

enum { C_SEC, C_MIN, C_HOUR, C_DOM, C_MON, C_DOW, C_YEAR, C_N };
#define CRON_MIN_YEAR 1970

static const struct {
        const char *name;
        int min, max;
} fields[C_N] = {
        [C_SEC] = { "second", 0, 59 },      [C_MIN] = { "minute", 0, 59 }, [C_HOUR] = { "hour", 0, 23 },
        [C_DOM] = { "day of month", 1, 31 }, [C_MON] = { "month", 1, 12 }, [C_DOW] = { "day of week", 0, 7 },
        [C_YEAR] = { "year", CRON_MIN_YEAR, CRON_MAX_YEAR },
};

/* A field's values as bits, value - base (base: 1970 for years, else 0); 256 bits hold 1970..2199. */
struct cset {
        uint64_t w[4];
};

static int base_of(int f) {
        return f == C_YEAR ? CRON_MIN_YEAR : 0;
}

static bool cs_has(const struct cset *s, int i) {
        return (s->w[i >> 6] >> (i & 63)) & 1;
}

static void cs_add(struct cset *s, int i) {
        s->w[i >> 6] |= UINT64_C(1) << (i & 63);
}

static const char *const month_names[] = { "jan", "feb", "mar", "apr", "may", "jun",
                                           "jul", "aug", "sep", "oct", "nov", "dec" };
static const char *const dow_names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };

struct tf_cron {
        uint64_t bits[C_YEAR]; /* second .. day of week; the search tests these often */
        struct cset years;
        bool star[C_N]; /* the field's text began with '*' (Vixie's *_STAR flags) */
        bool reboot;
        char *tz;       /* NULL: the local zone */
};

struct cparser {
        const char *expr;
        tf_error **err;
};

static int cfail(struct cparser *ps, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int cfail(struct cparser *ps, int code, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        return tf_error_set(ps->err, code, "'%s': %s", ps->expr, msg ? msg : "invalid expression");
}

tf_cron *tf_cron_free(tf_cron *c) {
        if (c) {
                free(c->tz);
                free(c);
        }
        return NULL;
}

bool tf_cron_is_reboot(const tf_cron *c) {
        return c->reboot;
}

/* One value: a number or, in month/day-of-week fields, a name. */
static int parse_value(struct cparser *ps, int f, const char **p, int *ret) {
        const char *s = *p;

        if (isdigit((unsigned char) *s)) {
                long v = 0;
                while (isdigit((unsigned char) *s)) {
                        if (v < 100000)
                                v = v * 10 + (*s - '0');
                        s++;
                }
                if (v < fields[f].min || v > fields[f].max)
                        return cfail(ps, EINVAL, "%s %.*s out of range %d..%d at column %d", fields[f].name,
                                     (int) (s - *p), *p, fields[f].min, fields[f].max, (int) (*p - ps->expr) + 1);
                *ret = (int) v;
                *p = s;
                return 0;
        }
        if (isalpha((unsigned char) *s)) {
                size_t n = 0;
                while (isalpha((unsigned char) s[n]))
                        n++;
                if (n == 3 && f == C_MON)
                        for (int i = 0; i < 12; i++)
                                if (strncasecmp(s, month_names[i], 3) == 0) {
                                        *ret = i + 1;
                                        *p = s + 3;
                                        return 0;
                                }
                if (n == 3 && f == C_DOW)
                        for (int i = 0; i < 7; i++)
                                if (strncasecmp(s, dow_names[i], 3) == 0) {
                                        *ret = i;
                                        *p = s + 3;
                                        return 0;
                                }
                return cfail(ps, EINVAL, "unknown %s name '%.*s' at column %d", fields[f].name, (int) n, s,
                             (int) (s - ps->expr) + 1);
        }
        if (*s == 0 || *s == ' ')
                return cfail(ps, EINVAL, "%s: expected a value at column %d", fields[f].name,
                             (int) (s - ps->expr) + 1);
        return cfail(ps, EINVAL, "%s: unexpected '%c' at column %d", fields[f].name, *s, (int) (s - ps->expr) + 1);
}

/* Quartz's and cronexpr's day syntax (L, W, #, ?), which cronie does not have: name it, and the calendar
 * expression that does the job where there is one ('*-*~01' is the last day of every month). */
static int refuse_quartz(struct cparser *ps, int f, const char *item, size_t len) {
        static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
        static const char *const long_days[] = { "Sunday",   "Monday", "Tuesday",  "Wednesday",
                                                 "Thursday", "Friday", "Saturday", "Sunday" };
        const char *q = NULL, *what = NULL;
        _cleanup_free_ char *hint = NULL;

        if (f != C_DOM && f != C_DOW)
                return 0;
        for (size_t i = 0; i < len && !q; i++) {
                char ch = item[i];
                if (ch == '?' || ch == '#')
                        q = item + i;
                else if ((ch == 'L' || ch == 'l' || ch == 'W' || ch == 'w') && f == C_DOM)
                        q = item + i;
                else if ((ch == 'L' || ch == 'l') && f == C_DOW) /* no weekday name has an L */
                        q = item + i;
        }
        if (!q)
                return 0;

        /* The weekday before 'L' or '#' ("5L", "fri#3"), for the hint. */
        int day = -1;
        if (f == C_DOW && q > item) {
                if (isdigit((unsigned char) *item)) {
                        char *e;
                        long v = strtol(item, &e, 10);
                        if (e == q && v >= 0 && v <= 7)
                                day = (int) v;
                } else if (q - item == 3)
                        for (int i = 0; i < 7; i++)
                                if (strncasecmp(item, dow_names[i], 3) == 0)
                                        day = i;
        }
        if (f == C_DOM && (memchr(item, 'W', len) || memchr(item, 'w', len)))
                q = memchr(item, 'W', len) ?: memchr(item, 'w', len); /* "LW" is about W */
        switch (*q) {
        case '?':
                what = "'?' (no specific value)";
                hint = tf_strdup("write '*' for it");
                break;
        case '#': {
                long k = strtol(q + 1, NULL, 10);
                what = "'#' (the Nth weekday of the month)";
                if (day >= 0 && k >= 1 && k <= 5) {
                        if (asprintf(&hint,
                                     "use a calendar expression instead, e.g. calendar: '%s "
                                     "*-*-%02ld..%02ld'",
                                     days[day], 7 * k - 6, k == 5 ? 31 : 7 * k) < 0)
                                tf_oom();
                } else
                        hint = tf_strdup(
                                "use a calendar expression instead, e.g. calendar: 'Fri *-*-15..21' "
                                "(the third Friday of the month)");
                break;
        }
        case 'W':
        case 'w':
                what = "'W' (the nearest weekday)";
                hint = tf_strdup(
                        "there is no nearest-weekday rule, but a calendar expression combines weekdays and "
                        "days, e.g. calendar: 'Mon..Fri *-*-01..03' (weekdays among the 1st to the 3rd)");
                break;
        default:
                if (f == C_DOW) {
                        what = "'L' (the last such weekday of the month)";
                        if (asprintf(&hint,
                                     "use a calendar expression instead, e.g. calendar: '%s *-*~01..07' "
                                     "(the last %s of the month)",
                                     days[day >= 0 ? day : 5], long_days[day >= 0 ? day : 5]) < 0)
                                tf_oom();
                        break;
                }
                what = "'L' (the last day of the month)";
                long back = 0;
                if (q == item && len > 2 && item[1] == '-' && isdigit((unsigned char) item[2]))
                        back = strtol(item + 2, NULL, 10);
                if (back > 30)
                        back = 30;
                if (back > 0) {
                        if (asprintf(&hint,
                                     "use a calendar expression instead, e.g. calendar: '*-*~%02ld' (%ld "
                                     "day%s before the last day of every month)",
                                     back + 1, back, back == 1 ? "" : "s") < 0)
                                tf_oom();
                } else
                        hint = tf_strdup(
                                "use a calendar expression instead, e.g. calendar: '*-*~01' (the last day "
                                "of every month)");
        }
        return cfail(ps, EINVAL,
                     "%s %s at column %d is not supported by tfrun's cron (it follows cronie, which has "
                     "no L, W, # or ?); %s",
                     fields[f].name, what, (int) (q - ps->expr) + 1, hint);
}

static int parse_field(struct cparser *ps, int f, const char *s, size_t len, tf_cron *c) {
        const char *p = s, *end = s + len;
        int r;

        c->star[f] = *s == '*';
        for (;;) {
                const char *item = p;
                int lo, hi, step = 1;

                const char *comma = memchr(p, ',', (size_t) (end - p));
                r = refuse_quartz(ps, f, item, (size_t) ((comma ? comma : end) - p));
                if (r < 0)
                        return r;

                if (*p == '*') {
                        lo = fields[f].min;
                        hi = f == C_DOW ? 6 : fields[f].max;
                        p++;
                } else {
                        r = parse_value(ps, f, &p, &lo);
                        if (r < 0)
                                return r;
                        hi = lo;
                        if (*p == '-') {
                                p++;
                                r = parse_value(ps, f, &p, &hi);
                                if (r < 0)
                                        return r;
                                if (hi < lo)
                                        return cfail(ps, EINVAL, "%s range '%.*s' goes backwards at column %d",
                                                     fields[f].name, (int) (p - item), item,
                                                     (int) (item - ps->expr) + 1);
                        } else if (*p == '/')
                                hi = fields[f].max; /* "N/S" is N-max/S, with cronie's max (7 for weekdays) */
                }
                if (*p == '/') {
                        const char *sp = ++p;
                        long v = 0;
                        if (!isdigit((unsigned char) *p))
                                return cfail(ps, EINVAL, "%s: expected a step after '/' at column %d",
                                             fields[f].name, (int) (p - ps->expr) + 1);
                        while (isdigit((unsigned char) *p)) {
                                if (v < 100000)
                                        v = v * 10 + (*p - '0');
                                p++;
                        }
                        if (v == 0 || v > fields[f].max - fields[f].min + 1)
                                return cfail(ps, EINVAL, "%s step '%.*s' out of range 1..%d at column %d",
                                             fields[f].name, (int) (p - sp), sp,
                                             fields[f].max - fields[f].min + 1, (int) (sp - ps->expr) + 1);
                        step = (int) v;
                }
                for (int v = lo; v <= hi; v += step)
                        if (f == C_YEAR)
                                cs_add(&c->years, v - CRON_MIN_YEAR);
                        else
                                c->bits[f] |= UINT64_C(1) << (f == C_DOW && v == 7 ? 0 : v);
                if (p == end)
                        return 0;
                if (*p != ',')
                        return cfail(ps, EINVAL, "%s: unexpected '%c' at column %d", fields[f].name, *p,
                                     (int) (p - ps->expr) + 1);
                p++;
                if (p == end)
                        return cfail(ps, EINVAL, "%s: expected a value after ',' at column %d", fields[f].name,
                                     (int) (p - ps->expr) + 1);
        }
}

int tf_cron_parse(const char *expr, tf_cron **ret, tf_error **err) {
        struct cparser ps = { .expr = expr, .err = err };
        static const struct {
                const char *name, *expansion;
        } shorthands[] = {
                { "@yearly", "0 0 1 1 *" }, { "@annually", "0 0 1 1 *" }, { "@monthly", "0 0 1 * *" },
                { "@weekly", "0 0 * * 0" }, { "@daily", "0 0 * * *" },   { "@midnight", "0 0 * * *" },
                { "@hourly", "0 * * * *" },
        };
        const char *p, *starts[C_N + 1];
        size_t lens[C_N + 1], n = 0;
        _cleanup_(tf_cron_freep) tf_cron *c = NULL;
        int r;

        if (!expr)
                return tf_error_set(err, EINVAL, "cron expression missing");
        if (strlen(expr) > TF_CRON_EXPR_MAX)
                return tf_error_set(err, EINVAL, "'%.40s...': expression too long (at most %d characters)", expr,
                                    TF_CRON_EXPR_MAX);
        c = tf_malloc0(sizeof *c);
        p = expr + strspn(expr, " \t");

        if (strncmp(p, "CRON_TZ=", 8) == 0 || strncmp(p, "TZ=", 3) == 0) {
                const char *z = p + (p[0] == 'C' ? 8 : 3);
                size_t zl = strcspn(z, " \t");
                _cleanup_free_ char *name = tf_strndup(z, zl);
                const tf_tz *tz;
                if (tf_tz_load(name, &tz, NULL) < 0)
                        return cfail(&ps, EINVAL, "unknown time zone '%s' at column %d", name,
                                     (int) (z - expr) + 1);
                c->tz = TAKE_PTR(name);
                p = z + zl;
                p += strspn(p, " \t");
        }
        if (*p == 0)
                return cfail(&ps, EINVAL, "empty expression");

        if (*p == '@') {
                size_t wl = strcspn(p, " \t");
                if (p[wl + strspn(p + wl, " \t")] != 0)
                        return cfail(&ps, EINVAL, "unexpected text after '%.*s' at column %d", (int) wl, p,
                                     (int) (p + wl - expr) + 2);
                if (wl == 7 && strncasecmp(p, "@reboot", 7) == 0) {
                        c->reboot = true;
                        *ret = TAKE_PTR(c);
                        return 0;
                }
                for (size_t i = 0; i < ELEMENTSOF(shorthands); i++)
                        if (strlen(shorthands[i].name) == wl && strncasecmp(p, shorthands[i].name, wl) == 0) {
                                _cleanup_(tf_cron_freep) tf_cron *x = NULL;
                                r = tf_cron_parse(shorthands[i].expansion, &x, NULL);
                                if (r < 0)
                                        return r;
                                x->tz = TAKE_PTR(c->tz);
                                *ret = TAKE_PTR(x);
                                return 0;
                        }
                return cfail(&ps, EINVAL, "unknown shorthand '%.*s' at column %d", (int) wl, p, (int) (p - expr) + 1);
        }

        while (*p) {
                size_t l = strcspn(p, " \t");
                if (n >= C_N)
                        return cfail(&ps, EINVAL, "too many fields (expected 5, 6 or 7) at column %d",
                                     (int) (p - expr) + 1);
                starts[n] = p;
                lens[n++] = l;
                p += l;
                p += strspn(p, " \t");
        }
        if (n < 5)
                return cfail(&ps, EINVAL, "expected 5, 6 or 7 fields, got %zu", n);
        /* As supercronic (cronexpr) reads them: 5 fields MIN HOUR DOM MON DOW, 6 add the YEAR, 7 put SEC
         * first. Not croniter's seconds-last 6th field, nor the seconds-first 6 of Quartz or robfig/cron:
         * our users come from supercronic. */
        for (size_t i = 0; i < n; i++) {
                int f = (int) i + (n == 7 ? C_SEC : C_MIN);
                r = parse_field(&ps, f, starts[i], lens[i], c);
                if (r < 0 && n == 6 && f == C_YEAR && err && *err) {
                        _cleanup_free_ char *msg = TAKE_PTR((*err)->msg);
                        return tf_error_set(err, EINVAL,
                                            "%s; 6 fields are minute hour day month weekday year, as "
                                            "supercronic reads them (seconds come first in 7 fields: '%s *' "
                                            "if the first is seconds)",
                                            msg, expr);
                }
                if (r < 0)
                        return r;
        }
        if (n != 7)
                c->bits[C_SEC] = 1;
        if (n == 5)
                for (int y = CRON_MIN_YEAR; y <= CRON_MAX_YEAR; y++)
                        cs_add(&c->years, y - CRON_MIN_YEAR);
        *ret = TAKE_PTR(c);
        return 0;
}

static bool bit(uint64_t b, int v) {
        return (b >> v) & 1;
}

static struct cset field_set(const tf_cron *c, int f) {
        return f == C_YEAR ? c->years : (struct cset){ .w = { c->bits[f] } };
}

/* Values of `b` (as indices from base) in lo..hi as a sorted list of numbers and ranges (runs of 3 or more),
 * each preceded by a comma unless it is the first thing printed. */
static void format_list(FILE *f, const struct cset *b, int base, int lo, int hi, bool first) {
        for (int v = lo; v <= hi; v++) {
                if (!cs_has(b, v))
                        continue;
                int e = v;
                while (e + 1 <= hi && cs_has(b, e + 1))
                        e++;
                if (!first)
                        fputc(',', f);
                first = false;
                if (e - v >= 2)
                        fprintf(f, "%d-%d", v + base, e + base);
                else if (e > v)
                        fprintf(f, "%d,%d", v + base, e + base);
                else
                        fprintf(f, "%d", v + base);
                v = e;
        }
}

/* Does `b` hold every index "*\/s" selects in lo..hi? Then take them out. */
static bool take_star_step(struct cset *b, int lo, int hi, int s) {
        for (int v = lo; v <= hi; v += s)
                if (!cs_has(b, v))
                        return false;
        for (int v = lo; v <= hi; v += s)
                b->w[v >> 6] &= ~(UINT64_C(1) << (v & 63));
        return true;
}

static bool field_full(const tf_cron *c, int fi) {
        struct cset b = field_set(c, fi);
        int base = base_of(fi);
        return take_star_step(&b, fields[fi].min - base, (fi == C_DOW ? 6 : fields[fi].max) - base, 1);
}

static void format_field(FILE *f, const tf_cron *c, int fi) {
        int base = base_of(fi), lo = fields[fi].min - base, hi = (fi == C_DOW ? 6 : fields[fi].max) - base;
        struct cset b = field_set(c, fi);

        /* The year has no day or DST rule to carry: every year is "*" however it was written. */
        if (!c->star[fi] && !(fi == C_YEAR && field_full(c, fi))) {
                format_list(f, &b, base, lo, hi, true);
                return;
        }
        /* Written with a leading star: keep one, it carries the Vixie day rule and cronie's DST rule ("0-23"
         * selects every hour too, but without the star it makes the job fixed-time and, in the day fields,
         * ORs DOM with DOW). A star field always selects lo, so some "*\/s" (at worst s = hi - lo + 1, which
         * is lo alone) fits inside it: print the smallest such s, the one covering the most values, then what
         * it leaves out ("*\/15,7"). A function of the bits alone, so the form is a fixed point. */
        for (int s = 1; s <= hi - lo + 1; s++) {
                struct cset rest = b;
                if (!take_star_step(&rest, lo, hi, s))
                        continue;
                if (s == 1)
                        fputc('*', f);
                else
                        fprintf(f, "*/%d", s);
                format_list(f, &rest, base, lo, hi, false);
                return;
        }
        abort(); /* not reached: a star field selects lo, so s = hi - lo + 1 fits */
}

char *tf_cron_format(const tf_cron *c) {
        char *buf = NULL;
        size_t sz = 0;
        FILE *f = open_memstream(&buf, &sz);

        if (!f)
                tf_oom();
        if (c->tz)
                fprintf(f, "CRON_TZ=%s ", c->tz);
        if (c->reboot)
                fputs("@reboot", f);
        else {
                /* Five fields when they say it all; else all seven, seconds first and the year last, so that
                 * the form never has the 6 fields that cron dialects read three ways. */
                bool seven = c->bits[C_SEC] != 1 || !field_full(c, C_YEAR);
                for (int i = seven ? C_SEC : C_MIN; i < (seven ? C_N : C_YEAR); i++) {
                        if (i > (seven ? C_SEC : C_MIN))
                                fputc(' ', f);
                        format_field(f, c, i);
                }
        }
        if (fclose(f) != 0 || !buf)
                tf_oom();
        return buf;
}

/* ---- next run ---------------------------------------------------------------------------------- */

static int32_t off_at(const tf_tz *tz, int64_t t) {
        return tf_tz_utoff(tz, t);
}

/* Bounds of the offsets instants() may use for any wall time in L..L+span (it samples a day either side):
 * every instant of those wall times lies in [L - *hi, L + span - *lo]. */
static void off_bounds(const tf_tz *tz, int64_t L, int64_t span, int32_t *lo, int32_t *hi) {
        const int64_t at[] = { L - 86400, L, L + span, L + span + 86400 };
        *lo = INT32_MAX;
        *hi = INT32_MIN;
        for (size_t i = 0; i < ELEMENTSOF(at); i++) {
                int32_t o = off_at(tz, at[i]);
                *lo = o < *lo ? o : *lo;
                *hi = o > *hi ? o : *hi;
        }
}

/* No instant of the wall times L..L+span can be after `base` and before `best`: skip them. */
static bool span_useless(const tf_tz *tz, int64_t L, int64_t span, int64_t base, int64_t best) {
        int32_t lo, hi;
        off_bounds(tz, L, span, &lo, &hi);
        return L + span - lo <= base || L - hi >= best;
}

/* The instants whose wall clock reads L (0, 1 or 2 of them, ascending); for 0, *gap_end is the
 * instant the clock jumped over L. */
static int instants(const tf_tz *tz, int64_t L, int64_t out[2], int64_t *gap_end) {
        int32_t offs[3] = { off_at(tz, L - 86400), off_at(tz, L), off_at(tz, L + 86400) };
        int n = 0;

        for (int i = 0; i < 3; i++) {
                int64_t t = L - offs[i];
                if (off_at(tz, t) != offs[i])
                        continue;
                bool dup = false;
                for (int j = 0; j < n; j++)
                        dup = dup || out[j] == t;
                if (!dup && n < 2)
                        out[n++] = t;
        }
        if (n == 2 && out[0] > out[1]) {
                int64_t x = out[0];
                out[0] = out[1];
                out[1] = x;
        }
        if (n == 0) {
                /* In a gap: the jump happened between L - off_after and L - off_before. */
                int64_t lo = L - (offs[0] > offs[2] ? offs[0] : offs[2]);
                int64_t hi = L - (offs[0] < offs[2] ? offs[0] : offs[2]);
                int32_t olo = off_at(tz, lo);
                while (hi - lo > 1) {
                        int64_t mid = lo + (hi - lo) / 2;
                        if (off_at(tz, mid) == olo)
                                lo = mid;
                        else
                                hi = mid;
                }
                *gap_end = hi;
        }
        return n;
}

static bool year_ok(const tf_cron *c, int64_t y) {
        return y >= CRON_MIN_YEAR && y <= CRON_MAX_YEAR && cs_has(&c->years, (int) (y - CRON_MIN_YEAR));
}

static bool day_matches(const tf_cron *c, int mday, int wday) {
        bool dom = bit(c->bits[C_DOM], mday), dow = bit(c->bits[C_DOW], wday);
        if (c->star[C_DOM] || c->star[C_DOW])
                return dom && dow;
        return dom || dow;
}

int tf_cron_next(const tf_cron *c, uint64_t after, uint64_t *ret, tf_error **err) {
        const tf_tz *tz;
        int64_t base = (int64_t) (after / USEC_PER_SEC), best = INT64_MAX, day0, lb;
        bool fixed = !c->star[C_MIN] && !c->star[C_HOUR];
        bool many_secs = (c->bits[C_SEC] & (c->bits[C_SEC] - 1)) != 0;
        int r;

        if (c->reboot)
                return tf_error_set(err, ENOENT, "@reboot has no next time");
        if (c->tz) {
                r = tf_tz_load(c->tz, &tz, err);
                if (r < 0)
                        return r;
        } else
                tz = tf_tz_local();

        /* Offsets near the base bound which wall times can map after it. */
        int32_t omin = off_at(tz, base), omax = omin;
        for (int d = -2; d <= 2; d++) {
                int32_t o = off_at(tz, base + d * 43200);
                omin = o < omin ? o : omin;
                omax = o > omax ? o : omax;
        }
        lb = base + omin; /* a run after base has a wall time L > base + its offset >= lb */
        day0 = (lb - 86400) / 86400 - ((lb - 86400) % 86400 < 0);

        /* The horizon counts searched days only: years the year field leaves out are jumped over. */
        int64_t horizon = day0 + CRON_SEARCH_YEARS * 366;
        for (int64_t day = day0; day < horizon; day++) {
                int64_t y;
                int m, d;

                tf_civil_from_days(day, &y, &m, &d);
                if (y > CRON_MAX_YEAR)
                        break;
                if (!year_ok(c, y)) {
                        int64_t y2 = y + 1;
                        while (y2 <= CRON_MAX_YEAR && !year_ok(c, y2))
                                y2++;
                        if (y2 > CRON_MAX_YEAR)
                                break;
                        int64_t to = tf_days_from_civil(y2, 1, 1) - 1;
                        horizon += to - day;
                        day = to;
                        continue;
                }
                if (!bit(c->bits[C_MON], m)) {
                        /* Jump to the first of the next month. */
                        day = tf_days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) - 1;
                        continue;
                }
                int wday = (int) (((day % 7) + 11) % 7);
                if (!day_matches(c, d, wday))
                        continue;

                for (int h = 0; h < 24; h++) {
                        if (!bit(c->bits[C_HOUR], h))
                                continue;
                        int64_t Lh = day * 86400 + h * 3600;
                        if (Lh + 3599 < lb - 7200)
                                continue;
                        if (best != INT64_MAX && Lh - 2 * 86400 > best)
                                break;
                        if (span_useless(tz, Lh, 3599, base, best))
                                continue;
                        for (int mi = 0; mi < 60; mi++) {
                                if (!bit(c->bits[C_MIN], mi))
                                        continue;
                                int64_t Lm = Lh + mi * 60;
                                if (Lm + 59 < lb - 7200)
                                        continue;
                                /* Worth a look of its own only when the minute holds several seconds. */
                                if (many_secs && span_useless(tz, Lm, 59, base, best))
                                        continue;
                                for (int s = 0; s < 60; s++) {
                                        if (!bit(c->bits[C_SEC], s))
                                                continue;
                                        int64_t L = Lm + s, ts[2], gap_end = 0;
                                        int n = instants(tz, L, ts, &gap_end);
                                        if (n == 0) {
                                                if (fixed && gap_end > base && gap_end < best)
                                                        best = gap_end;
                                                continue;
                                        }
                                        /* A repeated wall time: fixed-time jobs run in the first pass only. */
                                        if (n == 2 && fixed)
                                                n = 1;
                                        for (int i = 0; i < n; i++)
                                                if (ts[i] > base && ts[i] < best)
                                                        best = ts[i];
                                }
                        }
                }
                if (best != INT64_MAX) {
                        /* Later days cannot be earlier, except across a repeated hour around midnight:
                         * look one more day ahead only while the best is within the next day's reach. */
                        int64_t next_day_start = (day + 1) * 86400 - omax;
                        if (best <= next_day_start)
                                break;
                }
        }
        if (best == INT64_MAX)
                return tf_error_set(err, ENOENT, "cron expression never runs again");
        *ret = (uint64_t) best * USEC_PER_SEC;
        return 0;
}
