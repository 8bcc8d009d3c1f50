/* SPDX-License-Identifier: MIT */
/*
 * Calendar expressions as systemd 252 understands them (systemd.time(7)). The structure follows systemd's
 * calendarspec.c: each field is a list of {start, stop, repeat} components, weekdays a bit mask;
 * parse -> normalize -> validate -> format, and the next elapse is an odometer over the fields that
 * leans on mktime() normalization (ours, tf_tz_mktime(), reproduces glibc's) with an iteration cap.
 * Every quirk that makes systemd-analyze print what it prints is kept on purpose; the comments say
 * which.
 */
#include <ctype.h>
#include <inttypes.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/cleanup.h"
#include "base/strutil.h"
#include "schedule/sched-internal.h"
#include "schedule/schedule.h"

#define USEC_PER_SEC 1000000
#define BITS_WEEKDAYS 127
#define MIN_YEAR 1970
#define MAX_YEAR 2199
/* systemd's USEC_TIMESTAMP_FORMATTABLE_MAX on 64-bit: the end of year 9999. */
#define USEC_FORMATTABLE_MAX UINT64_C(253402214399999999)

struct comp {
        int start, stop, repeat;
        int pos, len; /* where the component was written, for messages */
};

struct chain {
        struct comp *v;
        size_t n; /* 0: unrestricted ('*') */
};

struct tf_cal {
        int weekdays; /* bit 0 = Monday; -1 = any */
        bool end_of_month;
        bool utc;
        int dst; /* -1, or the tzname[] index the expression named */
        char *timezone;
        struct chain year, month, day, hour, minute, usec;
};

enum field { F_YEAR, F_MONTH, F_DAY, F_HOUR, F_MINUTE, F_SECOND };
static const char *const field_name[] = { "year", "month", "day", "hour", "minute", "second" };

struct parser {
        const char *expr; /* the original expression, quoted in messages */
        const char *base; /* the text being parsed: a prefix of expr, so offsets are columns */
        tf_error **err;
        bool failed;
};

static int fail(struct parser *ps, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct parser *ps, int code, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        if (ps->failed) /* keep the first, most precise message */
                return -code;
        ps->failed = true;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        return tf_error_set(ps->err, code, "'%s': %s", ps->expr, msg ? msg : "invalid expression");
}

static int col(struct parser *ps, const char *p) {
        return (int) (p - ps->base) + 1;
}

/* The word (up to a separator) at p, for messages. */
static char *word_at(const char *p) {
        size_t n = strcspn(p, " ,.-~:/");
        if (n == 0)
                n = *p ? 1 : 0;
        if (n > 40)
                n = 40;
        return tf_strndup(p, n);
}

static int fail_at(struct parser *ps, const char *p, const char *what) {
        if (*p == 0)
                return fail(ps, EINVAL, "%s: unexpected end of expression at column %d", what, col(ps, p));
        if (isalpha((unsigned char) *p)) {
                _cleanup_free_ char *w = word_at(p);
                return fail(ps, EINVAL, "unexpected word '%s' at column %d", w, col(ps, p));
        }
        return fail(ps, EINVAL, "%s: unexpected '%c' at column %d", what, *p, col(ps, p));
}

static void chain_add(struct chain *ch, struct comp c) {
        ch->v = tf_realloc(ch->v, sizeof(struct comp) * (ch->n + 1));
        ch->v[ch->n++] = c;
}

static void chain_const(struct chain *ch, int v) {
        chain_add(ch, (struct comp){ .start = v, .stop = -1, .repeat = 0, .pos = 0, .len = 0 });
}

tf_cal *tf_cal_free(tf_cal *c) {
        if (!c)
                return NULL;
        free(c->year.v);
        free(c->month.v);
        free(c->day.v);
        free(c->hour.v);
        free(c->minute.v);
        free(c->usec.v);
        free(c->timezone);
        free(c);
        return NULL;
}

/* ---- parsing ----------------------------------------------------------------------------------- */

static int parse_weekdays(struct parser *ps, const char **p, tf_cal *c) {
        static const struct {
                const char *name;
                int nr;
        } day_nr[] = {
                { "Monday", 0 },   { "Mon", 0 }, { "Tuesday", 1 },  { "Tue", 1 }, { "Wednesday", 2 },
                { "Wed", 2 },      { "Thursday", 3 }, { "Thu", 3 }, { "Friday", 4 }, { "Fri", 4 },
                { "Saturday", 5 }, { "Sat", 5 }, { "Sunday", 6 },   { "Sun", 6 },
        };
        int l = -1;
        const char *range_start = NULL;
        bool first = true;

        for (;;) {
                size_t i;

                for (i = 0; i < ELEMENTSOF(day_nr); i++) {
                        size_t skip = strlen(day_nr[i].name);

                        if (strncasecmp(*p, day_nr[i].name, skip) != 0)
                                continue;
                        char next = (*p)[skip];
                        if (next != 0 && next != '-' && next != '.' && next != ',' && next != ' ') {
                                _cleanup_free_ char *w = word_at(*p);
                                return fail(ps, EINVAL, "unknown weekday '%s' at column %d", w, col(ps, *p));
                        }

                        c->weekdays |= 1 << day_nr[i].nr;
                        if (l >= 0) {
                                if (l > day_nr[i].nr) {
                                        _cleanup_free_ char *w = tf_strndup(range_start,
                                                                            (size_t) (*p + skip - range_start));
                                        return fail(ps, EINVAL, "weekday range '%s' goes backwards at column %d",
                                                    w, col(ps, range_start));
                                }
                                for (int j = l + 1; j < day_nr[i].nr; j++)
                                        c->weekdays |= 1 << j;
                        }
                        *p += skip;
                        break;
                }

                if (i >= ELEMENTSOF(day_nr)) {
                        if (first)
                                return 0; /* no weekdays: the date follows */
                        if (isalpha((unsigned char) **p)) {
                                _cleanup_free_ char *w = word_at(*p);
                                return fail(ps, EINVAL, "unknown weekday '%s' at column %d", w, col(ps, *p));
                        }
                        return fail_at(ps, *p, "expected a weekday");
                }

                if (**p == 0)
                        return 0;
                if (**p == ' ') {
                        *p += strspn(*p, " ");
                        return 0;
                }

                if (**p == '.') {
                        if (l >= 0)
                                return fail(ps, EINVAL, "weekday range continues at column %d", col(ps, *p));
                        if ((*p)[1] != '.')
                                return fail(ps, EINVAL, "weekday range needs '..' at column %d", col(ps, *p));
                        l = day_nr[i].nr;
                        range_start = *p - strlen(day_nr[i].name);
                        *p += 2;
                } else if (**p == '-') {
                        /* "Mon-Fri": the range syntax systemd keeps for backwards compatibility */
                        if (l >= 0)
                                return fail(ps, EINVAL, "weekday range continues at column %d", col(ps, *p));
                        l = day_nr[i].nr;
                        range_start = *p - strlen(day_nr[i].name);
                        *p += 1;
                } else if (**p == ',') {
                        l = -1;
                        *p += 1;
                }

                /* A trailing comma is fine, an open range is not. */
                if (**p == 0 || **p == ' ') {
                        if (l >= 0)
                                return fail(ps, EINVAL, "open weekday range at column %d", col(ps, range_start));
                        *p += strspn(*p, " ");
                        return 0;
                }
                first = false;
        }
}

/* A non-negative decimal (for seconds: with up to 6 fractional digits, the 7th rounds) as systemd's
 * parse_component_decimal(). */
static int parse_decimal(struct parser *ps, const char **p, bool usec, int *ret) {
        const char *e = *p;
        unsigned long long value = 0;
        bool overflow = false;

        if (!isdigit((unsigned char) *e))
                return fail_at(ps, e, "expected a number");
        while (isdigit((unsigned char) *e)) {
                if (value > (ULLONG_MAX - 9) / 10)
                        overflow = true;
                else
                        value = value * 10 + (unsigned) (*e - '0');
                e++;
        }
        if (!overflow && usec) {
                if (value > ULLONG_MAX / USEC_PER_SEC)
                        overflow = true;
                value *= USEC_PER_SEC;
                /* One '.' is a decimal point, ".." a range. */
                if (e[0] == '.' && e[1] != '.') {
                        unsigned add = 0;
                        size_t i;

                        e++;
                        for (i = 0; i < 6; i++, e++) {
                                if (!isdigit((unsigned char) *e)) {
                                        if (i == 0)
                                                return fail(ps, EINVAL,
                                                            "expected digits after the decimal point at column %d",
                                                            col(ps, e));
                                        for (; i < 6; i++)
                                                add *= 10;
                                        break;
                                }
                                add = add * 10 + (unsigned) (*e - '0');
                        }
                        if (*e >= '5' && *e <= '9')
                                add++;
                        e += strspn(e, "0123456789");
                        value += add;
                }
        }
        if (overflow || value > INT_MAX) {
                _cleanup_free_ char *w = tf_strndup(*p, (size_t) (e - *p));
                return fail(ps, ERANGE, "number '%s' too large at column %d", w, col(ps, *p));
        }
        *p = e;
        *ret = (int) value;
        return 0;
}

static int parse_chain(struct parser *ps, const char **p, bool usec, struct chain *ch) {
        const char *e = *p;
        int r;

        if (*e == '*') {
                if (usec)
                        chain_add(ch, (struct comp){ .start = 0, .stop = -1, .repeat = USEC_PER_SEC,
                                                     .pos = col(ps, e) - 1, .len = 1 });
                *p = e + 1;
                return 0;
        }

        for (size_t nesting = 0;; nesting++) {
                int start, stop = -1, repeat = 0;
                const char *b = e;

                if (nesting > TF_CAL_COMPONENTS_MAX)
                        return fail(ps, ENOBUFS, "too many values in one field (more than %d) at column %d",
                                    TF_CAL_COMPONENTS_MAX + 1, col(ps, e));
                r = parse_decimal(ps, &e, usec, &start);
                if (r < 0)
                        return r;
                if (e[0] == '.' && e[1] == '.') {
                        e += 2;
                        r = parse_decimal(ps, &e, usec, &stop);
                        if (r < 0)
                                return r;
                        repeat = usec ? USEC_PER_SEC : 1;
                }
                if (*e == '/') {
                        const char *rp = e;
                        e++;
                        r = parse_decimal(ps, &e, usec, &repeat);
                        if (r < 0)
                                return r;
                        if (repeat == 0)
                                return fail(ps, ERANGE, "repetition '%.*s' must be positive at column %d",
                                            (int) (e - rp), rp, col(ps, rp));
                } else {
                        if (start > INT_MAX - repeat)
                                return fail(ps, ERANGE, "number too large at column %d", col(ps, b));
                        /* A seconds range without repetition steps by 1s; it has to fit one step. */
                        if (usec && stop >= 0 && start + repeat > stop)
                                return fail(ps, EINVAL, "seconds range '%.*s' is shorter than 1s at column %d",
                                            (int) (e - b), b, col(ps, b));
                }
                if (!strchr(" ,-~:", *e) && *e != 0)
                        return fail_at(ps, e, "expected ',', '..', '/' or a separator");

                chain_add(ch, (struct comp){ .start = start, .stop = stop, .repeat = repeat,
                                             .pos = col(ps, b) - 1, .len = (int) (e - b) });
                if (*e != ',')
                        break;
                e++;
        }
        *p = e;
        return 0;
}

static void chain_move(struct chain *to, struct chain *from) {
        free(to->v);
        *to = *from;
        *from = (struct chain){};
}

static void chain_clear(struct chain *ch) {
        free(ch->v);
        *ch = (struct chain){};
}

/* @EPOCH: a single point in time, UTC. */
static int parse_epoch(struct parser *ps, const char **p, tf_cal *c) {
        const char *s = *p + 1, *e = s;
        unsigned long long v = 0;
        bool neg = false, overflow = false;

        /* strtoul()'s leniency, which systemd inherits: leading blanks and a sign. */
        while (isspace((unsigned char) *e))
                e++;
        if (*e == '+' || *e == '-')
                neg = *e++ == '-';
        if (!isdigit((unsigned char) *e))
                return fail_at(ps, e, "expected seconds since the epoch");
        while (isdigit((unsigned char) *e)) {
                if (v > (ULLONG_MAX - 9) / 10)
                        overflow = true;
                else
                        v = v * 10 + (unsigned) (*e - '0');
                e++;
        }
        int64_t t = neg ? -(int64_t) v : (int64_t) v;
        if (overflow || v > (UINT64_C(1) << 50))
                return fail(ps, ERANGE, "timestamp '%.*s' out of range at column %d", (int) (e - *p), *p,
                            col(ps, *p));

        struct tm tm;
        (void) tf_tz_localtime(tf_tz_utc(), t, &tm);
        if (tm.tm_year + 1900 < MIN_YEAR || tm.tm_year + 1900 > MAX_YEAR)
                return fail(ps, EINVAL, "timestamp '%.*s' out of range %d..%d at column %d", (int) (e - *p), *p,
                            MIN_YEAR, MAX_YEAR, col(ps, *p));
        chain_const(&c->year, tm.tm_year + 1900);
        chain_const(&c->month, tm.tm_mon + 1);
        chain_const(&c->day, tm.tm_mday);
        chain_const(&c->hour, tm.tm_hour);
        chain_const(&c->minute, tm.tm_min);
        chain_const(&c->usec, tm.tm_sec * USEC_PER_SEC);
        c->utc = true;
        *p = e;
        return 1;
}

static int parse_date(struct parser *ps, const char **p, tf_cal *c) {
        struct chain first = {}, second = {}, third = {};
        const char *t = *p;
        int r;

        if (*t == 0)
                return 0;
        if (*t == '@')
                return parse_epoch(ps, p, c);

        r = parse_chain(ps, &t, false, &first);
        if (r < 0)
                goto out;
        /* Already the end, or a ':'? Then this was a time, not a date; the time parser starts over. */
        if (*t == 0 || *t == ':') {
                r = 0;
                goto out;
        }
        if (*t == '~')
                c->end_of_month = true;
        else if (*t != '-') {
                r = fail_at(ps, t, "expected '-' or '~' in the date");
                goto out;
        }
        t++;
        r = parse_chain(ps, &t, false, &second);
        if (r < 0)
                goto out;
        if (*t == 0 || *t == ' ') {
                *p = t + strspn(t, " ");
                chain_move(&c->month, &first);
                chain_move(&c->day, &second);
                r = 0;
                goto out;
        } else if (c->end_of_month) {
                r = fail(ps, EINVAL, "'~' must separate month and day at column %d", col(ps, t));
                goto out;
        }
        if (*t == '~')
                c->end_of_month = true;
        else if (*t != '-') {
                r = fail_at(ps, t, "expected '-' or '~' in the date");
                goto out;
        }
        t++;
        r = parse_chain(ps, &t, false, &third);
        if (r < 0)
                goto out;
        if (*t != 0 && *t != ' ') {
                r = fail_at(ps, t, "expected a space after the date");
                goto out;
        }
        *p = t + strspn(t, " ");
        chain_move(&c->year, &first);
        chain_move(&c->month, &second);
        chain_move(&c->day, &third);
        r = 0;
out:
        chain_clear(&first);
        chain_clear(&second);
        chain_clear(&third);
        return r;
}

static int parse_time(struct parser *ps, const char **p, tf_cal *c) {
        struct chain h = {}, m = {}, s = {};
        const char *t = *p;
        int r;

        if (*t == 0) {
                /* No time at all means 00:00:00. */
                chain_const(&h, 0);
                chain_const(&m, 0);
                chain_const(&s, 0);
                goto finish;
        }
        r = parse_chain(ps, &t, false, &h);
        if (r < 0)
                goto fail;
        if (*t != ':') {
                r = fail_at(ps, t, "expected ':' after the hour");
                goto fail;
        }
        t++;
        r = parse_chain(ps, &t, false, &m);
        if (r < 0)
                goto fail;
        if (*t == 0) {
                chain_const(&s, 0);
                goto finish;
        }
        if (*t != ':') {
                r = fail_at(ps, t, "expected ':' after the minute");
                goto fail;
        }
        t++;
        r = parse_chain(ps, &t, true, &s);
        if (r < 0)
                goto fail;
        if (*t != 0) {
                r = fail_at(ps, t, "expected the end after the seconds");
                goto fail;
        }
finish:
        *p = t;
        chain_move(&c->hour, &h);
        chain_move(&c->minute, &m);
        chain_move(&c->usec, &s);
        return 0;
fail:
        chain_clear(&h);
        chain_clear(&m);
        chain_clear(&s);
        return r;
}

static int cmp_comp(const void *a, const void *b) {
        const struct comp *x = a, *y = b;
        if (x->start != y->start)
                return x->start < y->start ? -1 : 1;
        if (x->stop != y->stop)
                return x->stop < y->stop ? -1 : 1;
        if (x->repeat != y->repeat)
                return x->repeat < y->repeat ? -1 : 1;
        return 0;
}

static void normalize_chain(struct chain *ch) {
        for (size_t i = 0; i < ch->n; i++) {
                struct comp *c = &ch->v[i];
                /* Trim the range to a multiple of the repetition; a range that cannot repeat even once,
                 * or a range of one value, becomes that value. */
                if (c->stop > c->start && c->repeat > 0)
                        c->stop -= (c->stop - c->start) % c->repeat;
                if ((c->stop > c->start && c->repeat > 0 && c->start + c->repeat > c->stop) ||
                    c->start == c->stop) {
                        c->repeat = 0;
                        c->stop = -1;
                }
        }
        if (ch->n <= 1)
                return;
        qsort(ch->v, ch->n, sizeof(struct comp), cmp_comp);
        size_t k = 0;
        for (size_t i = 0; i < ch->n; i++)
                if (k == 0 || cmp_comp(&ch->v[k - 1], &ch->v[i]) != 0)
                        ch->v[k++] = ch->v[i];
        ch->n = k;
}

static void fix_year(struct chain *ch) {
        /* 12 -> 2012, 89 -> 1989 */
        for (size_t i = 0; i < ch->n; i++) {
                struct comp *c = &ch->v[i];
                if (c->start >= 0 && c->start < 70)
                        c->start += 2000;
                if (c->stop >= 0 && c->stop < 70)
                        c->stop += 2000;
                if (c->start >= 70 && c->start < 100)
                        c->start += 1900;
                if (c->stop >= 70 && c->stop < 100)
                        c->stop += 1900;
        }
}

static void fmt_value(char *buf, size_t len, enum field f, int v) {
        if (f == F_SECOND) {
                if (v % USEC_PER_SEC)
                        snprintf(buf, len, "%d.%06d", v / USEC_PER_SEC, v % USEC_PER_SEC);
                else
                        snprintf(buf, len, "%d", v / USEC_PER_SEC);
        } else
                snprintf(buf, len, "%d", v);
}

static int chain_validate(struct parser *ps, const struct chain *ch, enum field f, int from, int to, bool eom) {
        char a[32], b[32];

        /* Days relative to the end of the month may be at most 28 days before it. */
        if (eom)
                to -= 3;
        for (size_t i = 0; i < ch->n; i++) {
                const struct comp *c = &ch->v[i];
                const char *txt = ps->base + c->pos;
                int n = c->len, column = c->pos + 1;
                const char *what = eom ? "day from the end of the month" : field_name[f];

                fmt_value(a, sizeof a, f, from);
                fmt_value(b, sizeof b, f, to);
                if (c->start < from || c->start > to || (c->stop >= 0 && (c->stop < from || c->stop > to)))
                        return fail(ps, EINVAL, "%s '%.*s' out of range %s..%s at column %d", what, n, txt, a, b,
                                    column);
                if (c->repeat > to - from)
                        return fail(ps, EINVAL, "%s repetition '%.*s' too large for %s..%s at column %d",
                                    field_name[f], n, txt, a, b, column);
                if (c->stop >= 0) {
                        if (c->start + c->repeat > c->stop)
                                return fail(ps, EINVAL, "%s range '%.*s' ends before it starts at column %d",
                                            field_name[f], n, txt, column);
                } else if ((eom && c->start - c->repeat < from) || (!eom && c->start + c->repeat > to))
                        return fail(ps, EINVAL, "%s repetition '%.*s' never repeats within %s..%s at column %d",
                                    field_name[f], n, txt, a, b, column);
        }
        return 0;
}

static int parse_shorthand(const char *p, tf_cal *c) {
        if (strcasecmp(p, "minutely") == 0) {
                chain_const(&c->usec, 0);
        } else if (strcasecmp(p, "hourly") == 0) {
                chain_const(&c->minute, 0);
                chain_const(&c->usec, 0);
        } else if (strcasecmp(p, "daily") == 0) {
                chain_const(&c->hour, 0);
                chain_const(&c->minute, 0);
                chain_const(&c->usec, 0);
        } else if (strcasecmp(p, "monthly") == 0) {
                chain_const(&c->day, 1);
                chain_const(&c->hour, 0);
                chain_const(&c->minute, 0);
                chain_const(&c->usec, 0);
        } else if (strcasecmp(p, "annually") == 0 || strcasecmp(p, "yearly") == 0 ||
                   strcasecmp(p, "anually") == 0) {
                chain_const(&c->month, 1);
                chain_const(&c->day, 1);
                chain_const(&c->hour, 0);
                chain_const(&c->minute, 0);
                chain_const(&c->usec, 0);
        } else if (strcasecmp(p, "weekly") == 0) {
                c->weekdays = 1;
                chain_const(&c->hour, 0);
                chain_const(&c->minute, 0);
                chain_const(&c->usec, 0);
        } else if (strcasecmp(p, "quarterly") == 0) {
                chain_const(&c->month, 1);
                chain_const(&c->month, 4);
                chain_const(&c->month, 7);
                chain_const(&c->month, 10);
                chain_const(&c->day, 1);
                chain_const(&c->hour, 0);
                chain_const(&c->minute, 0);
                chain_const(&c->usec, 0);
        } else if (strcasecmp(p, "biannually") == 0 || strcasecmp(p, "bi-annually") == 0 ||
                   strcasecmp(p, "semiannually") == 0 || strcasecmp(p, "semi-annually") == 0) {
                chain_const(&c->month, 1);
                chain_const(&c->month, 7);
                chain_const(&c->day, 1);
                chain_const(&c->hour, 0);
                chain_const(&c->minute, 0);
                chain_const(&c->usec, 0);
        } else
                return 0;
        return 1;
}

static bool endswith_word_nocase(const char *s, size_t len, const char *suffix, size_t *ret_cut) {
        size_t n = strlen(suffix);
        if (n == 0 || len < n + 2) /* something, a space, the word */
                return false;
        if (strncasecmp(s + len - n, suffix, n) != 0 || s[len - n - 1] != ' ')
                return false;
        *ret_cut = len - n - 1;
        return true;
}

/* Parse the expression body (zone suffix already cut off at `len`). */
static int parse_body(struct parser *ps, const char *p, tf_cal *c) {
        int r;

        if (*p == 0)
                return fail(ps, EINVAL, "empty expression");
        if (parse_shorthand(p, c))
                return 0;

        r = parse_weekdays(ps, &p, c);
        if (r < 0)
                return r;
        r = parse_date(ps, &p, c);
        if (r < 0)
                return r;
        if (r == 0) {
                r = parse_time(ps, &p, c);
                if (r < 0)
                        return r;
        }
        if (*p != 0)
                return fail_at(ps, p, "expected the end of the expression");
        return 0;
}

static int validate(struct parser *ps, tf_cal *c) {
        int r;

        if (streq(c->timezone, "UTC")) {
                c->utc = true;
                free(c->timezone);
                c->timezone = NULL;
        }
        if (c->weekdays <= 0 || c->weekdays >= BITS_WEEKDAYS)
                c->weekdays = -1;
        if (c->end_of_month && c->day.n == 0)
                c->end_of_month = false;
        fix_year(&c->year);
        normalize_chain(&c->year);
        normalize_chain(&c->month);
        normalize_chain(&c->day);
        normalize_chain(&c->hour);
        normalize_chain(&c->minute);
        normalize_chain(&c->usec);

        if ((r = chain_validate(ps, &c->year, F_YEAR, MIN_YEAR, MAX_YEAR, false)) < 0 ||
            (r = chain_validate(ps, &c->month, F_MONTH, 1, 12, false)) < 0 ||
            (r = chain_validate(ps, &c->day, F_DAY, 1, 31, c->end_of_month)) < 0 ||
            (r = chain_validate(ps, &c->hour, F_HOUR, 0, 23, false)) < 0 ||
            (r = chain_validate(ps, &c->minute, F_MINUTE, 0, 59, false)) < 0 ||
            (r = chain_validate(ps, &c->usec, F_SECOND, 0, 60 * USEC_PER_SEC - 1, false)) < 0)
                return r;
        return 0;
}

static tf_cal *cal_new(void) {
        tf_cal *c = tf_malloc0(sizeof *c);
        c->dst = -1;
        return c;
}

/* Parse with the zone suffix rules; `quiet` parses without keeping the error (for suggestions). */
static int parse_full(const char *expr, tf_cal **ret, tf_error **err) {
        _cleanup_free_ char *body = NULL;
        struct parser ps = { .expr = expr, .err = err };
        tf_cal *c = cal_new();
        size_t len = strlen(expr), cut;
        int r;

        if (endswith_word_nocase(expr, len, "UTC", &cut) && cut > 0) {
                c->utc = true;
                body = tf_strndup(expr, cut);
        } else {
                const tf_tz *local = tf_tz_local();
                int j;

                /* The local zone's own abbreviations pin tm_isdst, as systemd does with tzname[]. */
                for (j = 0; j <= 1; j++) {
                        const char *n = tf_tz_abbrev(local, j);
                        if (n && *n && endswith_word_nocase(expr, len, n, &cut) && cut > 0)
                                break;
                }
                if (j <= 1) {
                        c->dst = j;
                        body = tf_strndup(expr, cut);
                } else {
                        const char *sp = strrchr(expr, ' ');
                        if (sp && tf_tz_name_valid(sp + 1)) {
                                const tf_tz *z;
                                if (tf_tz_load(sp + 1, &z, NULL) >= 0) {
                                        c->timezone = tf_strdup(sp + 1);
                                        body = tf_strndup(expr, (size_t) (sp - expr));
                                }
                        }
                }
        }
        if (!body)
                body = tf_strdup(expr);
        /* Messages quote the expression as given; the body is a prefix of it, so offsets are columns. */
        ps.base = body;
        r = parse_body(&ps, body, c);
        if (r >= 0)
                r = validate(&ps, c);
        if (r < 0) {
                tf_cal_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

/* "09:00 Mon" (cron's or a sentence's order): systemd refuses it, as we do, but says only "Invalid
 * argument". If the expression parses with its last word (or the one before a trailing zone) moved to the
 * front and that word starts with a weekday, say so, with the form that works. Sets err and returns true
 * then. */
static bool weekday_last(const char *expr, tf_error **err) {
        static const char *const days[] = { "mon", "tue", "wed", "thu", "fri", "sat", "sun" };
        const char *wend = expr + strlen(expr);

        for (int tries = 0; tries < 2; tries++) {
                const char *w = wend;
                while (w > expr && w[-1] != ' ')
                        w--;
                if (w == expr)
                        return false;
                size_t wl = (size_t) (wend - w);
                bool day = false;
                for (size_t i = 0; i < ELEMENTSOF(days); i++)
                        day = day || (wl >= 3 && strncasecmp(w, days[i], 3) == 0);
                if (day) {
                        _cleanup_free_ char *moved = NULL;
                        tf_cal *probe = NULL;
                        const char *pend = w;
                        while (pend > expr && pend[-1] == ' ')
                                pend--;
                        int pl = (int) (pend - expr);
                        if (asprintf(&moved, "%.*s %.*s%s", (int) wl, w, pl, expr, wend) < 0)
                                tf_oom();
                        if (parse_full(moved, &probe, NULL) >= 0) {
                                tf_cal_free(probe);
                                tf_error_set(err, EINVAL,
                                             "'%s': the weekday goes first: '%.*s' at column %d "
                                             "belongs before the date and time, as in '%s'",
                                             expr, (int) wl, w, (int) (w - expr) + 1, moved);
                                return true;
                        }
                }
                /* once more, before a trailing zone: "09:00 Mon Europe/Berlin" */
                wend = w;
                while (wend > expr && wend[-1] == ' ')
                        wend--;
        }
        return false;
}

int tf_cal_parse(const char *expr, tf_cal **ret, tf_error **err) {
        size_t len;
        int r;

        if (!expr)
                return tf_error_set(err, EINVAL, "calendar expression missing");
        len = strlen(expr);
        if (len > TF_CAL_EXPR_MAX)
                return tf_error_set(err, EINVAL, "'%.40s...': expression too long (%zu characters, at most %d)",
                                    expr, len, TF_CAL_EXPR_MAX);
        r = parse_full(expr, ret, err);
        if (r < 0 && weekday_last(expr, err))
                return r;
        if (r < 0) {
                /* A last word that looks like a zone but is none, after an expression that is fine
                 * without it: name the zone, which is what is wrong. */
                const char *sp = strrchr(expr, ' ');
                if (sp && sp[1] && strpbrk(sp + 1, "/ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") &&
                    !strchr(sp + 1, ':') && !strchr(sp + 1, '.') && !strchr(sp + 1, ',')) {
                        _cleanup_free_ char *prefix = tf_strndup(expr, (size_t) (sp - expr));
                        tf_cal *probe = NULL;
                        if (parse_full(prefix, &probe, NULL) >= 0) {
                                tf_cal_free(probe);
                                return tf_error_set(err, EINVAL, "'%s': unknown time zone '%s' at column %d", expr,
                                                    sp + 1, (int) (sp - expr) + 2);
                        }
                }
                return r;
        }
        return 0;
}

/* ---- formatting -------------------------------------------------------------------------------- */

static void format_weekdays(FILE *f, int bits) {
        static const char *const days[] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
        bool need_comma = false;
        int l = -1, x;

        for (x = 0; x < 7; x++) {
                if (bits & (1 << x)) {
                        if (l < 0) {
                                if (need_comma)
                                        fputc(',', f);
                                else
                                        need_comma = true;
                                fputs(days[x], f);
                                l = x;
                        }
                } else if (l >= 0) {
                        if (x > l + 1) {
                                fputs(x > l + 2 ? ".." : ",", f);
                                fputs(days[x - 1], f);
                        }
                        l = -1;
                }
        }
        if (l >= 0 && x > l + 1) {
                fputs(x > l + 2 ? ".." : ",", f);
                fputs(days[x - 1], f);
        }
}

/* Every value of every component of the seconds chain is a whole second. */
static bool whole_seconds(const struct chain *ch) {
        for (size_t i = 0; i < ch->n; i++)
                if (ch->v[i].start % USEC_PER_SEC != 0 || ch->v[i].repeat % USEC_PER_SEC != 0)
                        return false;
        return true;
}

static void format_chain(FILE *f, int space, const struct chain *ch, bool usec) {
        int d = usec ? USEC_PER_SEC : 1;

        if (ch->n == 0) {
                fputc('*', f);
                return;
        }
        /* systemd looks only at the head of the sorted chain: "0/1,59" and "5/1,0/1" both print "*". That
         * head covers every whole second, not "0/1.15" (0, 1.15, 2.3, ...): with a component of
         * sub-second values beside it, "*" would change when the expression elapses, so the chain is
         * printed in full ("00/1,00/1.150000"), where systemd 252 prints "*". */
        if (usec && ch->v[0].start == 0 && ch->v[0].stop < 0 && ch->v[0].repeat == USEC_PER_SEC &&
            whole_seconds(ch)) {
                fputc('*', f);
                return;
        }
        for (size_t i = 0; i < ch->n; i++) {
                const struct comp *c = &ch->v[i];
                if (i > 0)
                        fputc(',', f);
                fprintf(f, "%0*i", space, c->start / d);
                if (c->start % d > 0)
                        fprintf(f, ".%06i", c->start % d);
                if (c->stop > 0)
                        fprintf(f, "..%0*i", space, c->stop / d);
                if (c->stop % d > 0)
                        fprintf(f, ".%06i", c->stop % d);
                if (c->repeat > 0 && !(c->stop > 0 && c->repeat == d))
                        fprintf(f, "/%i", c->repeat / d);
                if (c->repeat % d > 0)
                        fprintf(f, ".%06i", c->repeat % d);
        }
}

char *tf_cal_format(const tf_cal *c) {
        char *buf = NULL;
        size_t sz = 0;
        FILE *f = open_memstream(&buf, &sz);

        if (!f)
                tf_oom();
        if (c->weekdays > 0 && c->weekdays <= BITS_WEEKDAYS) {
                format_weekdays(f, c->weekdays);
                fputc(' ', f);
        }
        format_chain(f, 4, &c->year, false);
        fputc('-', f);
        format_chain(f, 2, &c->month, false);
        fputc(c->end_of_month ? '~' : '-', f);
        format_chain(f, 2, &c->day, false);
        fputc(' ', f);
        format_chain(f, 2, &c->hour, false);
        fputc(':', f);
        format_chain(f, 2, &c->minute, false);
        fputc(':', f);
        format_chain(f, 2, &c->usec, true);
        if (c->utc)
                fputs(" UTC", f);
        else if (c->timezone) {
                fputc(' ', f);
                fputs(c->timezone, f);
        } else if (c->dst == 0 || c->dst == 1) {
                const char *n = tf_tz_abbrev(tf_tz_local(), c->dst);
                if (n && *n) {
                        fputc(' ', f);
                        fputs(n, f);
                }
        }
        if (fclose(f) != 0 || !buf)
                tf_oom();
        return buf;
}

/* ---- next elapse ------------------------------------------------------------------------------- */

struct ctx {
        const tf_cal *spec;
        const tf_tz *tz;
        long guess; /* glibc's static localtime_offset, made explicit */
};

/* mktime() or timegm(): normalizes *tm, returns the time (negative on failure, as systemd tests). */
static int64_t mk(struct ctx *x, struct tm *tm) {
        int64_t t = tf_tz_mktime(x->spec->utc ? tf_tz_utc() : x->tz, tm, &x->guess);
        return t == INT64_MIN ? -1 : t;
}

static int find_end_of_month(struct ctx *x, const struct tm *tm, int day) {
        struct tm t = *tm;

        t.tm_mon++;
        t.tm_mday = 1 - day;
        if (mk(x, &t) < 0 || t.tm_mon != tm->tm_mon)
                return -1;
        return t.tm_mday;
}

static int find_matching_component(struct ctx *x, const struct chain *ch, const struct tm *tm, int *val) {
        bool eom = x->spec->end_of_month && ch == &x->spec->day, d_set = false;
        int d = -1, r;

        if (ch->n == 0)
                return 0;
        for (size_t i = 0; i < ch->n; i++) {
                const struct comp *c = &ch->v[i];
                int start = c->start, stop = c->stop;

                if (eom) {
                        start = find_end_of_month(x, tm, c->start);
                        stop = find_end_of_month(x, tm, c->stop);
                        if (stop > 0) {
                                int tmp = start;
                                start = stop;
                                stop = tmp;
                        }
                }
                if (start >= *val) {
                        if (!d_set || start < d) {
                                d = start;
                                d_set = true;
                        }
                } else if (c->repeat > 0) {
                        int k = start + c->repeat * ((*val - start + c->repeat - 1) / c->repeat);
                        if ((!d_set || k < d) && (stop < 0 || k <= stop)) {
                                d = k;
                                d_set = true;
                        }
                }
        }
        if (!d_set)
                return -ENOENT;
        r = *val != d;
        *val = d;
        return r;
}

static int tm_within_bounds(struct ctx *x, struct tm *tm) {
        struct tm t;
        int cmp;

        /* An upper bound on the year, so that impossible dates like "*-02-31" end the search. */
        if (tm->tm_year + 1900 > MAX_YEAR)
                return -ERANGE;
        t = *tm;
        if (mk(x, &t) < 0)
                return -EINVAL;
#define CMP(a, b) ((a) < (b) ? -1 : (a) > (b) ? 1 : 0)
        /* Normalization that moved a unit resets the smaller ones, so that 3-33 -> 4-2 does not skip
         * 4-1 and *:0/7 goes from :56 to the next :00. The normalized tm_isdst is kept too, which is what
         * makes systemd give up ("infinite loop") on some expressions around DST changes; we match it. */
        if ((cmp = CMP(t.tm_year, tm->tm_year)) != 0)
                t.tm_mon = 0;
        else if ((cmp = CMP(t.tm_mon, tm->tm_mon)) != 0)
                t.tm_mday = 1;
        else if ((cmp = CMP(t.tm_mday, tm->tm_mday)) != 0)
                t.tm_hour = 0;
        else if ((cmp = CMP(t.tm_hour, tm->tm_hour)) != 0)
                t.tm_min = 0;
        else if ((cmp = CMP(t.tm_min, tm->tm_min)) != 0)
                t.tm_sec = 0;
        else
                cmp = CMP(t.tm_sec, tm->tm_sec);
#undef CMP
        if (cmp < 0)
                return -EDEADLK; /* never go backwards */
        if (cmp > 0)
                *tm = t;
        return cmp == 0;
}

static bool matches_weekday(struct ctx *x, const struct tm *tm) {
        int bits = x->spec->weekdays;
        struct tm t;

        if (bits < 0 || bits >= BITS_WEEKDAYS)
                return true;
        t = *tm;
        if (mk(x, &t) < 0)
                return false;
        int k = t.tm_wday == 0 ? 6 : t.tm_wday - 1;
        return bits & (1 << k);
}

static bool tm_before(const struct tm *a, int ausec, const struct tm *b, int busec) {
        int d = a->tm_year != b->tm_year ? a->tm_year - b->tm_year
                : a->tm_mon != b->tm_mon ? a->tm_mon - b->tm_mon
                : a->tm_mday != b->tm_mday ? a->tm_mday - b->tm_mday
                : a->tm_hour != b->tm_hour ? a->tm_hour - b->tm_hour
                : a->tm_min != b->tm_min ? a->tm_min - b->tm_min
                : a->tm_sec != b->tm_sec ? a->tm_sec - b->tm_sec
                : ausec - busec;
        return d < 0;
}

static int find_next(struct ctx *x, struct tm *tm, int *usec) {
        const tf_cal *spec = x->spec;
        const struct tm start = *tm;
        const int start_usec = *usec;
        struct tm c = *tm;
        int tm_usec = *usec, r;
        bool stuck = false;

        for (unsigned iteration = 0; iteration < TF_CAL_ITERATIONS_MAX; iteration++) {
                /* Normalize the current date, then ask for the expression's own isdst; once stuck
                 * (below), keep the isdst mktime() chose, as systemd does. */
                (void) mk(x, &c);
                if (!stuck)
                        c.tm_isdst = spec->dst;

                c.tm_year += 1900;
                r = find_matching_component(x, &spec->year, &c, &c.tm_year);
                c.tm_year -= 1900;
                if (r > 0) {
                        c.tm_mon = 0;
                        c.tm_mday = 1;
                        c.tm_hour = c.tm_min = c.tm_sec = tm_usec = 0;
                }
                if (r < 0)
                        return r;
                if (tm_within_bounds(x, &c) <= 0)
                        return -ENOENT;

                c.tm_mon += 1;
                r = find_matching_component(x, &spec->month, &c, &c.tm_mon);
                c.tm_mon -= 1;
                if (r > 0) {
                        c.tm_mday = 1;
                        c.tm_hour = c.tm_min = c.tm_sec = tm_usec = 0;
                }
                if (r < 0 || (r = tm_within_bounds(x, &c)) < 0) {
                        c.tm_year++;
                        c.tm_mon = 0;
                        c.tm_mday = 1;
                        c.tm_hour = c.tm_min = c.tm_sec = tm_usec = 0;
                        continue;
                }
                if (r == 0)
                        continue;

                r = find_matching_component(x, &spec->day, &c, &c.tm_mday);
                if (r > 0)
                        c.tm_hour = c.tm_min = c.tm_sec = tm_usec = 0;
                if (r < 0 || (r = tm_within_bounds(x, &c)) < 0) {
                        c.tm_mon++;
                        c.tm_mday = 1;
                        c.tm_hour = c.tm_min = c.tm_sec = tm_usec = 0;
                        continue;
                }
                if (r == 0)
                        continue;

                if (!matches_weekday(x, &c)) {
                        c.tm_mday++;
                        c.tm_hour = c.tm_min = c.tm_sec = tm_usec = 0;
                        continue;
                }

                r = find_matching_component(x, &spec->hour, &c, &c.tm_hour);
                if (r > 0)
                        c.tm_min = c.tm_sec = tm_usec = 0;
                if (r < 0 || (r = tm_within_bounds(x, &c)) < 0) {
                        c.tm_mday++;
                        c.tm_hour = c.tm_min = c.tm_sec = tm_usec = 0;
                        continue;
                }
                if (r == 0)
                        continue; /* the hour may not exist today (DST): start over from the normalized time */

                r = find_matching_component(x, &spec->minute, &c, &c.tm_min);
                if (r > 0)
                        c.tm_sec = tm_usec = 0;
                if (r < 0 || (r = tm_within_bounds(x, &c)) < 0) {
                        c.tm_hour++;
                        c.tm_min = c.tm_sec = tm_usec = 0;
                        continue;
                }
                if (r == 0)
                        continue;

                c.tm_sec = c.tm_sec * USEC_PER_SEC + tm_usec;
                r = find_matching_component(x, &spec->usec, &c, &c.tm_sec);
                tm_usec = c.tm_sec % USEC_PER_SEC;
                c.tm_sec /= USEC_PER_SEC;
                if (r < 0 || (r = tm_within_bounds(x, &c)) < 0) {
                        c.tm_min++;
                        c.tm_sec = tm_usec = 0;
                        continue;
                }
                if (r == 0)
                        continue;

                /* DST can send the search back to or before where it started (an overflow into a
                 * skipped hour, normalized with the DST flag it landed on, resolves to the hour before
                 * the gap; a repeated hour reads the same twice). systemd 252 then advances an hour on
                 * the wall clock and lets mktime() pick the DST side from there on; so do we. */
                if (tm_before(&c, tm_usec, &start, start_usec)) {
                        stuck = true;
                        c.tm_hour++;
                        continue;
                }

                *tm = c;
                *usec = tm_usec;
                return 0;
        }
        return -EDEADLK;
}

int tf_cal_next(const tf_cal *c, uint64_t after, uint64_t *ret, tf_error **err) {
        struct ctx x = { .spec = c };
        struct tm tm;
        int tm_usec, r;
        int64_t t;

        if (c->timezone) {
                r = tf_tz_load(c->timezone, &x.tz, err);
                if (r < 0)
                        return r;
        } else
                x.tz = tf_tz_local();

        if (after > USEC_FORMATTABLE_MAX)
                return tf_error_set(err, EINVAL, "time %" PRIu64 " out of range", after);
        after++;
        t = (int64_t) (after / USEC_PER_SEC);
        (void) tf_tz_localtime(c->utc ? tf_tz_utc() : x.tz, t, &tm);
        tm_usec = (int) (after % USEC_PER_SEC);

        r = find_next(&x, &tm, &tm_usec);
        if (r == -EDEADLK) {
                _cleanup_free_ char *s = tf_cal_format(c);
                return tf_error_set(err, EDEADLK, "'%s': no next elapse found within %d iterations", s,
                                    TF_CAL_ITERATIONS_MAX);
        }
        if (r < 0)
                return tf_error_set(err, -r, "calendar expression never elapses again");
        t = mk(&x, &tm);
        if (t < 0)
                return tf_error_set(err, EINVAL, "calendar expression elapses before 1970");
        *ret = (uint64_t) t * USEC_PER_SEC + (uint64_t) tm_usec;
        return 0;
}
