/* SPDX-License-Identifier: MIT */
/* Timestamps as systemd-analyze reads and prints them (parse_timestamp(), format_timestamp(),
 * format_timestamp_relative()), so `tfrun calendar` output can be compared with it line by line. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/cleanup.h"
#include "base/parse.h"
#include "base/strutil.h"
#include "schedule/sched-internal.h"
#include "schedule/schedule.h"

#define USEC_PER_SEC UINT64_C(1000000)
#define USEC_PER_MINUTE (60 * USEC_PER_SEC)
#define USEC_PER_HOUR (60 * USEC_PER_MINUTE)
#define USEC_PER_DAY (24 * USEC_PER_HOUR)
#define USEC_PER_WEEK (7 * USEC_PER_DAY)
#define USEC_PER_MONTH (UINT64_C(2629800) * USEC_PER_SEC)
#define USEC_PER_YEAR (UINT64_C(31557600) * USEC_PER_SEC)

static const char *const wdays[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };

char *tf_sched_format_timestamp(char *buf, size_t len, uint64_t usec, const tf_tz *tz, bool utc) {
        struct tm tm;

        if (tf_tz_localtime(utc ? tf_tz_utc() : tz, (int64_t) (usec / USEC_PER_SEC), &tm) < 0) {
                snprintf(buf, len, "n/a");
                return buf;
        }
        snprintf(buf, len, "%s %04d-%02d-%02d %02d:%02d:%02d%s%s", wdays[tm.tm_wday], tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 utc || (tm.tm_zone && *tm.tm_zone) ? " " : "", utc ? "UTC" : tm.tm_zone ? tm.tm_zone : "");
        return buf;
}

char *tf_sched_format_relative(char *buf, size_t len, uint64_t t, uint64_t n) {
        const char *s;
        uint64_t d;

        if (n > t) {
                d = n - t;
                s = " ago";
        } else {
                d = t - n;
                s = " left";
        }
        if (d >= USEC_PER_YEAR) {
                uint64_t y = d / USEC_PER_YEAR, m = (d % USEC_PER_YEAR) / USEC_PER_MONTH;
                snprintf(buf, len, "%" PRIu64 " %s %" PRIu64 " %s%s", y, y == 1 ? "year" : "years", m,
                         m == 1 ? "month" : "months", s);
        } else if (d >= USEC_PER_MONTH) {
                uint64_t m = d / USEC_PER_MONTH, dd = (d % USEC_PER_MONTH) / USEC_PER_DAY;
                snprintf(buf, len, "%" PRIu64 " %s %" PRIu64 " %s%s", m, m == 1 ? "month" : "months", dd,
                         dd == 1 ? "day" : "days", s);
        } else if (d >= USEC_PER_WEEK) {
                uint64_t w = d / USEC_PER_WEEK, dd = (d % USEC_PER_WEEK) / USEC_PER_DAY;
                snprintf(buf, len, "%" PRIu64 " %s %" PRIu64 " %s%s", w, w == 1 ? "week" : "weeks", dd,
                         dd == 1 ? "day" : "days", s);
        } else if (d >= 2 * USEC_PER_DAY)
                snprintf(buf, len, "%" PRIu64 " days%s", d / USEC_PER_DAY, s);
        else if (d >= 25 * USEC_PER_HOUR)
                snprintf(buf, len, "1 day %" PRIu64 "h%s", (d - USEC_PER_DAY) / USEC_PER_HOUR, s);
        else if (d >= 6 * USEC_PER_HOUR)
                snprintf(buf, len, "%" PRIu64 "h%s", d / USEC_PER_HOUR, s);
        else if (d >= USEC_PER_HOUR)
                snprintf(buf, len, "%" PRIu64 "h %" PRIu64 "min%s", d / USEC_PER_HOUR,
                         (d % USEC_PER_HOUR) / USEC_PER_MINUTE, s);
        else if (d >= 5 * USEC_PER_MINUTE)
                snprintf(buf, len, "%" PRIu64 "min%s", d / USEC_PER_MINUTE, s);
        else if (d >= USEC_PER_MINUTE)
                snprintf(buf, len, "%" PRIu64 "min %" PRIu64 "s%s", d / USEC_PER_MINUTE,
                         (d % USEC_PER_MINUTE) / USEC_PER_SEC, s);
        else if (d >= USEC_PER_SEC)
                snprintf(buf, len, "%" PRIu64 "s%s", d / USEC_PER_SEC, s);
        else if (d >= 1000)
                snprintf(buf, len, "%" PRIu64 "ms%s", d / 1000, s);
        else if (d > 0)
                snprintf(buf, len, "%" PRIu64 "us%s", d, s);
        else
                snprintf(buf, len, "now");
        return buf;
}

/* "YYYY-MM-DD[ HH:MM[:SS[.frac]]]" or "HH:MM[:SS[.frac]]"; ret fields, has_date. */
static int parse_datetime(const char *s, struct tm *tm, uint64_t *frac, bool *has_date) {
        int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
        const char *p = s;

        *frac = 0;
        *has_date = false;
        if (sscanf(p, "%4d-%2d-%2d%n", &y, &mo, &d, &n) == 3 && n > 0) {
                *has_date = true;
                tm->tm_year = y - 1900;
                tm->tm_mon = mo - 1;
                tm->tm_mday = d;
                p += n;
                if (*p == 0)
                        goto done;
                if (*p != ' ' && *p != 'T')
                        return -EINVAL;
                p++;
        }
        n = 0;
        if (sscanf(p, "%2d:%2d%n", &h, &mi, &n) != 2 || n == 0)
                return -EINVAL;
        p += n;
        if (*p == ':') {
                p++;
                if (!isdigit((unsigned char) p[0]) || !isdigit((unsigned char) p[1]))
                        return -EINVAL;
                sec = (p[0] - '0') * 10 + (p[1] - '0');
                p += 2;
                if (*p == '.') {
                        uint64_t m = 100000;
                        p++;
                        if (!isdigit((unsigned char) *p))
                                return -EINVAL;
                        for (; isdigit((unsigned char) *p); p++, m /= 10)
                                *frac += (uint64_t) (*p - '0') * m;
                }
        }
        if (*p != 0)
                return -EINVAL;
        if (h > 23 || mi > 59 || sec > 60)
                return -EINVAL;
done:
        if (*has_date && (mo < 1 || mo > 12 || d < 1 || d > 31))
                return -EINVAL;
        tm->tm_hour = h;
        tm->tm_min = mi;
        tm->tm_sec = sec;
        return 0;
}

int tf_sched_parse_timestamp(const char *s, uint64_t now, uint64_t *ret, tf_error **err) {
        _cleanup_free_ char *buf = NULL;
        const tf_tz *tz = tf_tz_local();
        bool utc = false, has_date;
        uint64_t span, frac;
        struct tm tm, base;
        char *p, *sp;
        size_t len;
        int64_t t;

        if (!s || !*s)
                return tf_error_set(err, EINVAL, "empty timestamp");
        if (streq(s, "now")) {
                *ret = now;
                return 0;
        }
        if (s[0] == '@') {
                uint64_t sec;
                const char *dot = strchr(s + 1, '.');
                _cleanup_free_ char *ip = dot ? tf_strndup(s + 1, (size_t) (dot - s - 1)) : tf_strdup(s + 1);
                if (tf_parse_u64(ip, &sec) < 0 || sec > UINT64_C(253402214399))
                        return tf_error_set(err, EINVAL, "invalid timestamp '%s'", s);
                frac = 0;
                if (dot) {
                        uint64_t m = 100000;
                        const char *q = dot + 1;
                        if (!*q)
                                return tf_error_set(err, EINVAL, "invalid timestamp '%s'", s);
                        for (; *q; q++, m /= 10) {
                                if (!isdigit((unsigned char) *q))
                                        return tf_error_set(err, EINVAL, "invalid timestamp '%s'", s);
                                frac += (uint64_t) (*q - '0') * m;
                        }
                }
                *ret = sec * USEC_PER_SEC + frac;
                return 0;
        }
        if (s[0] == '+' || s[0] == '-') {
                if (tf_parse_duration(s + 1, &span) < 0)
                        return tf_error_set(err, EINVAL, "invalid timestamp '%s'", s);
                if (s[0] == '+')
                        *ret = now + span;
                else
                        *ret = span > now ? 0 : now - span;
                return 0;
        }
        len = strlen(s);
        if (len > 4 && streq(s + len - 4, " ago")) {
                _cleanup_free_ char *v = tf_strndup(s, len - 4);
                if (tf_parse_duration(v, &span) < 0)
                        return tf_error_set(err, EINVAL, "invalid timestamp '%s'", s);
                *ret = span > now ? 0 : now - span;
                return 0;
        }

        buf = tf_strdup(s);
        p = buf;
        /* A trailing "UTC" or zone name. */
        sp = strrchr(p, ' ');
        if (sp) {
                if (strcasecmp(sp + 1, "UTC") == 0) {
                        utc = true;
                        *sp = 0;
                } else if (tf_tz_name_valid(sp + 1) && !isdigit((unsigned char) sp[1])) {
                        const tf_tz *z;
                        if (tf_tz_load(sp + 1, &z, NULL) >= 0) {
                                tz = z;
                                *sp = 0;
                        }
                }
        }
        /* A leading weekday is accepted and checked, like systemd does. */
        int want_wday = -1;
        for (int i = 0; i < 7; i++) {
                size_t n = strlen(wdays[i]);
                if (strncasecmp(p, wdays[i], n) == 0 && p[n] == ' ') {
                        want_wday = i;
                        p += n + 1;
                        break;
                }
        }

        (void) tf_tz_localtime(utc ? tf_tz_utc() : tz, (int64_t) (now / USEC_PER_SEC), &base);
        tm = base;
        tm.tm_isdst = -1;
        if (strcasecmp(p, "today") == 0 || strcasecmp(p, "yesterday") == 0 || strcasecmp(p, "tomorrow") == 0) {
                tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
                tm.tm_mday += strcasecmp(p, "yesterday") == 0 ? -1 : strcasecmp(p, "tomorrow") == 0 ? 1 : 0;
                frac = 0;
        } else if (parse_datetime(p, &tm, &frac, &has_date) < 0)
                return tf_error_set(err, EINVAL,
                                    "invalid timestamp '%s' (expected 'YYYY-MM-DD [HH:MM[:SS]] [UTC|ZONE]' or '@EPOCH')",
                                    s);
        tm.tm_isdst = -1;
        t = tf_tz_mktime(utc ? tf_tz_utc() : tz, &tm, NULL);
        if (t < 0 || t == INT64_MIN)
                return tf_error_set(err, EINVAL, "timestamp '%s' out of range", s);
        if (want_wday >= 0 && tm.tm_wday != want_wday)
                return tf_error_set(err, EINVAL, "timestamp '%s': weekday does not match the date", s);
        *ret = (uint64_t) t * USEC_PER_SEC + frac;
        return 0;
}
