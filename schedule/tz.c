/* SPDX-License-Identifier: MIT */
/*
 * A small TZif reader (RFC 8536: the v2+ 64-bit section and the POSIX TZ footer for times after the last
 * transition) plus localtime()/mktime() over it. mktime() reproduces glibc's algorithm, including the
 * way it resolves skipped and repeated wall times, because systemd's calendar arithmetic is built on it
 * and "exactly as systemd" means "exactly as glibc's mktime()".
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/io.h"
#include "base/strutil.h"
#include "schedule/schedule.h"
#include "schedule/sched-internal.h"

#define ZONEINFO "/usr/share/zoneinfo/"
#define TZIF_MAX_SIZE (1024 * 1024)
#define TZ_LOCALS_MAX 64
/* Named zones are kept, not recycled (callers hold them), so their number is what tzdata names: about
 * 600 with backward links, 900 with posix/ and right/. The cap only guards against a zoneinfo tree gone
 * strange; a manager over services in hundreds of zones must never meet it. */
#define TZ_ZONES_MAX 4096
/* How often a cache hit looks at its TZif file again (a tzdata update, a new /etc/localtime). */
#define TZ_RECHECK_USEC (60 * UINT64_C(1000000))

struct ttinfo {
        int32_t utoff;
        bool isdst;
        char abbr[16];
};

/* One POSIX TZ rule date: Jn (julian, no Feb 29), n (zero-based day of year) or Mm.w.d. */
struct rule_date {
        char kind; /* 'J', 'D', 'M' */
        int m, w, d, n;
        int32_t time; /* seconds after local midnight, may be negative or > 24h (RFC 8536 extension) */
};

struct posix_tz {
        bool valid;
        struct ttinfo std, dst;
        bool has_dst;
        struct rule_date start, end;
};

struct tf_tz {
        char *name;
        int64_t *trans;
        uint8_t *trans_type;
        size_t ntrans;
        struct ttinfo *types;
        size_t ntypes;
        struct posix_tz footer;
        char *env; /* for the local zone: the $TZ value it was made from ("" for /etc/localtime) */
        char *path; /* the TZif file it was read from (NULL: a POSIX rule, or UTC) */
        struct file_id {
                dev_t dev;
                ino_t ino;
                off_t size;
                struct timespec mtim, ctim;
        } id;       /* of that file when it was read (stat(), so a replaced symlink target counts) */
        uint64_t checked; /* CLOCK_MONOTONIC usec of the last look at the file */
};

struct tf_tz_cache {
        tf_tz **zones;
        size_t n_zones, n_alloc;
        /* Local zones, one per $TZ value seen: a zone handed out stays valid when $TZ changes. Bounded:
         * past TZ_LOCALS_MAX distinct values the oldest is recycled. */
        tf_tz *locals[TZ_LOCALS_MAX];
        size_t n_locals, next_local;
        tf_tz *local_zone;
        uint64_t recheck_usec;
};

static tf_tz utc_zone = {
        .name = (char *) "UTC",
        .footer = { .valid = true, .std = { 0, false, "UTC" }, .dst = { 0, false, "UTC" } },
};

static void tz_free(tf_tz *z) {
        if (!z || z == &utc_zone)
                return;
        free(z->name);
        free(z->trans);
        free(z->trans_type);
        free(z->types);
        free(z->env);
        free(z->path);
        free(z);
}

/* ---- POSIX TZ strings ---------------------------------------------------------------------------- */

static const char *parse_tz_name(const char *p, char *out, size_t outlen) {
        size_t n = 0;

        if (*p == '<') {
                p++;
                while (*p && *p != '>') {
                        if (n + 1 < outlen)
                                out[n++] = *p;
                        p++;
                }
                if (*p != '>')
                        return NULL;
                p++;
        } else {
                while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')) {
                        if (n + 1 < outlen)
                                out[n++] = *p;
                        p++;
                }
        }
        out[n] = 0;
        return n >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]], returned in seconds. */
static const char *parse_tz_hms(const char *p, int32_t *ret) {
        int sign = 1, h = 0, m = 0, s = 0;

        if (*p == '+' || *p == '-')
                sign = *p++ == '-' ? -1 : 1;
        if (*p < '0' || *p > '9')
                return NULL;
        while (*p >= '0' && *p <= '9')
                h = h * 10 + (*p++ - '0');
        if (*p == ':') {
                p++;
                while (*p >= '0' && *p <= '9')
                        m = m * 10 + (*p++ - '0');
                if (*p == ':') {
                        p++;
                        while (*p >= '0' && *p <= '9')
                                s = s * 10 + (*p++ - '0');
                }
        }
        if (h > 167 || m > 59 || s > 59)
                return NULL;
        *ret = sign * (h * 3600 + m * 60 + s);
        return p;
}

static const char *parse_rule_date(const char *p, struct rule_date *r) {
        char *e;

        *r = (struct rule_date){ .time = 7200 };
        if (*p == 'J') {
                r->kind = 'J';
                r->n = (int) strtol(p + 1, &e, 10);
                if (e == p + 1 || r->n < 1 || r->n > 365)
                        return NULL;
                p = e;
        } else if (*p == 'M') {
                r->kind = 'M';
                r->m = (int) strtol(p + 1, &e, 10);
                if (e == p + 1 || *e != '.' || r->m < 1 || r->m > 12)
                        return NULL;
                p = e + 1;
                r->w = (int) strtol(p, &e, 10);
                if (e == p || *e != '.' || r->w < 1 || r->w > 5)
                        return NULL;
                p = e + 1;
                r->d = (int) strtol(p, &e, 10);
                if (e == p || r->d < 0 || r->d > 6)
                        return NULL;
                p = e;
        } else if (*p >= '0' && *p <= '9') {
                r->kind = 'D';
                r->n = (int) strtol(p, &e, 10);
                if (r->n > 365)
                        return NULL;
                p = e;
        } else
                return NULL;

        if (*p == '/') {
                p = parse_tz_hms(p + 1, &r->time);
                if (!p)
                        return NULL;
        }
        return p;
}

static int parse_posix_tz(const char *s, struct posix_tz *ret) {
        struct posix_tz z = {};
        int32_t off;
        const char *p;

        p = parse_tz_name(s, z.std.abbr, sizeof z.std.abbr);
        if (!p)
                return -EINVAL;
        p = parse_tz_hms(p, &off);
        if (!p)
                return -EINVAL;
        z.std.utoff = -off; /* POSIX offsets are west-positive */
        z.dst = z.std;
        if (*p == 0) {
                z.valid = true;
                *ret = z;
                return 0;
        }

        p = parse_tz_name(p, z.dst.abbr, sizeof z.dst.abbr);
        if (!p)
                return -EINVAL;
        z.dst.isdst = true;
        z.has_dst = true;
        z.dst.utoff = z.std.utoff + 3600;
        if (*p && *p != ',') {
                p = parse_tz_hms(p, &off);
                if (!p)
                        return -EINVAL;
                z.dst.utoff = -off;
        }
        if (*p == 0) {
                /* No rule: the historic US default glibc also falls back to. */
                z.start = (struct rule_date){ .kind = 'M', .m = 3, .w = 2, .d = 0, .time = 7200 };
                z.end = (struct rule_date){ .kind = 'M', .m = 11, .w = 1, .d = 0, .time = 7200 };
        } else {
                if (*p != ',')
                        return -EINVAL;
                p = parse_rule_date(p + 1, &z.start);
                if (!p || *p != ',')
                        return -EINVAL;
                p = parse_rule_date(p + 1, &z.end);
                if (!p || *p != 0)
                        return -EINVAL;
        }
        z.valid = true;
        *ret = z;
        return 0;
}

/* ---- calendar arithmetic ------------------------------------------------------------------------- */

static bool is_leap(int64_t y) {
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12), Howard Hinnant's algorithm. */
int64_t tf_days_from_civil(int64_t y, int m, int d) {
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        int64_t yoe = y - era * 400;
        int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

void tf_civil_from_days(int64_t z, int64_t *ry, int *rm, int *rd) {
        z += 719468;
        int64_t era = (z >= 0 ? z : z - 146096) / 146097;
        int64_t doe = z - era * 146097;
        int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        int64_t y = yoe + era * 400;
        int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        int64_t mp = (5 * doy + 2) / 153;
        int d = (int) (doy - (153 * mp + 2) / 5 + 1);
        int m = (int) (mp < 10 ? mp + 3 : mp - 9);
        *ry = y + (m <= 2);
        *rm = m;
        *rd = d;
}

static int64_t floor_div(int64_t a, int64_t b) {
        return a / b - (a % b != 0 && ((a < 0) != (b < 0)));
}

/* UTC seconds -> broken-down time with the given offset applied. */
static void fill_tm(int64_t t, int32_t off, struct tm *tm) {
        int64_t l = t + off, days = floor_div(l, 86400), secs = l - days * 86400, y;
        int m, d;

        tf_civil_from_days(days, &y, &m, &d);
        tm->tm_year = (int) (y - 1900);
        tm->tm_mon = m - 1;
        tm->tm_mday = d;
        tm->tm_hour = (int) (secs / 3600);
        tm->tm_min = (int) (secs / 60 % 60);
        tm->tm_sec = (int) (secs % 60);
        tm->tm_wday = (int) (((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
        tm->tm_yday = (int) (days - tf_days_from_civil(y, 1, 1));
}

/* The UTC time at which a rule date/time (local, at offset `off`) happens in year y. */
static int64_t rule_time(const struct rule_date *r, int64_t y, int32_t off) {
        int64_t days;

        switch (r->kind) {
        case 'J':
                days = tf_days_from_civil(y, 1, 1) + r->n - 1;
                if (is_leap(y) && r->n >= 60)
                        days++;
                break;
        case 'D':
                days = tf_days_from_civil(y, 1, 1) + r->n;
                break;
        default: {
                static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
                int64_t first = tf_days_from_civil(y, r->m, 1);
                int wday1 = (int) (((first % 7) + 11) % 7);
                int d = (r->d - wday1 + 7) % 7 + 1 + (r->w - 1) * 7;
                int len = mdays[r->m - 1] + (r->m == 2 && is_leap(y));
                while (d > len)
                        d -= 7;
                days = first + d - 1;
        }
        }
        return days * 86400 + r->time - off;
}

static const struct ttinfo *posix_lookup(const struct posix_tz *z, int64_t t) {
        int64_t y, start, end;
        int m, d;

        if (!z->has_dst)
                return &z->std;
        tf_civil_from_days(floor_div(t, 86400), &y, &m, &d);
        start = rule_time(&z->start, y, z->std.utoff);
        end = rule_time(&z->end, y, z->dst.utoff);
        if (start < end)
                return t >= start && t < end ? &z->dst : &z->std;
        /* Southern hemisphere: daylight time spans the new year. */
        return t >= end && t < start ? &z->std : &z->dst;
}

static const struct ttinfo *lookup(const tf_tz *z, int64_t t) {
        if (z->ntrans == 0 || t >= z->trans[z->ntrans - 1]) {
                if (z->footer.valid)
                        return posix_lookup(&z->footer, t);
                if (z->ntrans > 0)
                        return &z->types[z->trans_type[z->ntrans - 1]];
                return z->ntypes > 0 ? &z->types[0] : &utc_zone.footer.std;
        }
        if (t < z->trans[0]) {
                /* Before the first transition: the first standard-time type, as glibc does. */
                for (size_t i = 0; i < z->ntypes; i++)
                        if (!z->types[i].isdst)
                                return &z->types[i];
                return &z->types[0];
        }
        size_t lo = 0, hi = z->ntrans - 1; /* trans[lo] <= t < trans[hi] */
        while (hi - lo > 1) {
                size_t mid = lo + (hi - lo) / 2;
                if (z->trans[mid] <= t)
                        lo = mid;
                else
                        hi = mid;
        }
        return &z->types[z->trans_type[lo]];
}

int tf_tz_localtime(const tf_tz *tz, int64_t t, struct tm *tm) {
        const struct ttinfo *ti;

        if (t < -(INT64_C(1) << 50) || t > (INT64_C(1) << 50))
                return -ERANGE;
        ti = lookup(tz, t);
        *tm = (struct tm){};
        fill_tm(t, ti->utoff, tm);
        tm->tm_isdst = ti->isdst;
        tm->tm_gmtoff = ti->utoff;
        tm->tm_zone = ti->abbr;
        return 0;
}

int32_t tf_tz_utoff(const tf_tz *tz, int64_t t) {
        return lookup(tz, t)->utoff;
}

static int32_t utoff_at(const tf_tz *tz, int64_t t, bool *isdst) {
        const struct ttinfo *ti = lookup(tz, t);
        if (isdst)
                *isdst = ti->isdst;
        return ti->utoff;
}

int64_t tf_tz_mktime(const tf_tz *tz, struct tm *tm, long *guess) {
        long local_guess = 0;
        int64_t year, mon, L, t, t0, tprev, tprev2;
        int sec, sec_requested;
        bool dst;

        if (!guess)
                guess = &local_guess;

        /* Months fold into years; days, hours, minutes and seconds may be out of range and simply add
         * up linearly, exactly like glibc's ydhms_diff(). Seconds are clamped to 0..59 for the search
         * and the difference added back afterwards (glibc's leap-second precaution). */
        mon = tm->tm_mon;
        year = (int64_t) tm->tm_year + 1900 + floor_div(mon, 12);
        mon -= floor_div(mon, 12) * 12;
        if (year < -100000 || year > 100000)
                return INT64_MIN;
        sec_requested = tm->tm_sec;
        sec = sec_requested < 0 ? 0 : sec_requested > 59 ? 59 : sec_requested;
        L = (tf_days_from_civil(year, (int) mon + 1, 1) + tm->tm_mday - 1) * 86400 +
                (int64_t) tm->tm_hour * 3600 + (int64_t) tm->tm_min * 60 + sec;

        t0 = L - *guess;
        t = tprev = tprev2 = t0;
        for (int probes = 0;; probes++) {
                int64_t gt = L - utoff_at(tz, t, &dst);
                if (gt == t)
                        break; /* converged */
                if (gt == tprev && t != tprev) {
                        /* Oscillating between two values: the wall time lies in a gap. glibc returns
                         * the one of the two whose isdst differs from the requested one; with no
                         * request, the one that is daylight time. */
                        bool dst_prev;
                        (void) utoff_at(tz, tprev, &dst_prev);
                        bool want_dst = tm->tm_isdst < 0 ? true : tm->tm_isdst == 0;
                        if (dst != want_dst && dst_prev == want_dst)
                                t = tprev;
                        goto found;
                }
                if (probes >= 6)
                        return INT64_MIN;
                tprev2 = tprev;
                tprev = t;
                t = gt;
        }
        (void) tprev2;

        if (tm->tm_isdst >= 0 && (tm->tm_isdst != 0) != dst) {
                /* A wall time that exists, but not with the requested isdst: glibc looks for the
                 * nearest time (in steps of about a week, up to ~17 years) that has the requested
                 * isdst and uses that offset. */
                const int64_t stride = 601200, bound = 536454000;
                for (int64_t delta = stride; delta < bound; delta += stride)
                        for (int dir = -1; dir <= 1; dir += 2) {
                                int64_t ot = t + delta * dir;
                                bool odst;
                                int32_t ooff = utoff_at(tz, ot, &odst);
                                if (odst == (tm->tm_isdst != 0)) {
                                        t = L - ooff;
                                        goto found;
                                }
                        }
        }

found:
        *guess = (long) (L - t);
        t += sec_requested - sec;
        (void) tf_tz_localtime(tz, t, tm);
        return t;
}

/* ---- loading ----------------------------------------------------------------------------------- */

bool tf_tz_name_valid(const char *name) {
        bool slash = false;

        if (!name || !*name)
                return false;
        if (streq(name, "UTC"))
                return true;
        if (name[0] == '/')
                return false;
        for (const char *p = name; *p; p++) {
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      *p == '-' || *p == '_' || *p == '+' || *p == '/'))
                        return false;
                if (*p == '/') {
                        if (slash)
                                return false;
                        slash = true;
                } else
                        slash = false;
        }
        if (slash || strlen(name) >= PATH_MAX - sizeof(ZONEINFO))
                return false;
        return true;
}

static uint32_t be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p) {
        return (int64_t) ((uint64_t) be32(p) << 32 | be32(p + 4));
}

static void file_id_of(const struct stat *st, struct file_id *id) {
        *id = (struct file_id){ .dev = st->st_dev, .ino = st->st_ino, .size = st->st_size,
                                .mtim = st->st_mtim, .ctim = st->st_ctim };
}

static bool file_id_eq(const struct file_id *a, const struct file_id *b) {
        return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
               a->mtim.tv_sec == b->mtim.tv_sec && a->mtim.tv_nsec == b->mtim.tv_nsec &&
               a->ctim.tv_sec == b->ctim.tv_sec && a->ctim.tv_nsec == b->ctim.tv_nsec;
}

static int read_file(const char *path, uint8_t **ret, size_t *ret_len, struct file_id *ret_id) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ uint8_t *buf = NULL;
        struct stat st;
        size_t n = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EISDIR;
        if (st.st_size > TZIF_MAX_SIZE)
                return -EFBIG;
        file_id_of(&st, ret_id);
        buf = tf_malloc0((size_t) st.st_size + 1);
        ssize_t k = tf_read_full(fd, buf, (size_t) st.st_size);
        if (k < 0)
                return (int) k;
        n = (size_t) k;
        *ret = TAKE_PTR(buf);
        *ret_len = n;
        return 0;
}

static int parse_tzif(const uint8_t *b, size_t len, tf_tz *z) {
        size_t off = 0;
        uint32_t isut, isstd, leap, timecnt, typecnt, charcnt;

        if (len < 44 || memcmp(b, "TZif", 4) != 0)
                return -EBADMSG;

#define COUNTS(h)                              \
        do {                                   \
                isut = be32((h) + 20);         \
                isstd = be32((h) + 24);        \
                leap = be32((h) + 28);         \
                timecnt = be32((h) + 32);      \
                typecnt = be32((h) + 36);      \
                charcnt = be32((h) + 40);      \
        } while (0)

        COUNTS(b);
        if (timecnt > 100000 || typecnt > 256 || charcnt > 65536 || leap > 100000)
                return -EBADMSG;
        bool v2 = b[4] >= '2';
        size_t tsize = 4;
        off = 44;
        if (v2) {
                size_t skip = (size_t) timecnt * 5 + typecnt * 6 + charcnt + leap * 8 + isstd + isut;
                if (off + skip + 44 > len)
                        return -EBADMSG;
                off += skip;
                if (memcmp(b + off, "TZif", 4) != 0)
                        return -EBADMSG;
                COUNTS(b + off);
                if (timecnt > 100000 || typecnt > 256 || charcnt > 65536 || leap > 100000)
                        return -EBADMSG;
                off += 44;
                tsize = 8;
        }
#undef COUNTS
        if (typecnt == 0)
                return -EBADMSG;
        size_t need = (size_t) timecnt * (tsize + 1) + typecnt * 6 + charcnt + leap * (tsize + 4) + isstd + isut;
        if (off + need > len)
                return -EBADMSG;

        z->ntrans = timecnt;
        z->trans = tf_malloc0(sizeof(int64_t) * (timecnt + 1));
        z->trans_type = tf_malloc0(timecnt + 1);
        for (uint32_t i = 0; i < timecnt; i++)
                z->trans[i] = tsize == 8 ? be64(b + off + i * 8) : (int32_t) be32(b + off + i * 4);
        off += (size_t) timecnt * tsize;
        for (uint32_t i = 0; i < timecnt; i++) {
                if (b[off + i] >= typecnt)
                        return -EBADMSG;
                z->trans_type[i] = b[off + i];
        }
        off += timecnt;
        const uint8_t *types = b + off, *chars = b + off + typecnt * 6;
        z->ntypes = typecnt;
        z->types = tf_malloc0(sizeof(struct ttinfo) * typecnt);
        for (uint32_t i = 0; i < typecnt; i++) {
                z->types[i].utoff = (int32_t) be32(types + i * 6);
                z->types[i].isdst = types[i * 6 + 4];
                uint8_t ai = types[i * 6 + 5];
                if (ai < charcnt) {
                        size_t n = strnlen((const char *) chars + ai, charcnt - ai);
                        if (n >= sizeof z->types[i].abbr)
                                n = sizeof z->types[i].abbr - 1;
                        memcpy(z->types[i].abbr, chars + ai, n);
                }
        }
        off += need - (size_t) timecnt * (tsize + 1);

        if (v2 && off < len && b[off] == '\n') {
                const char *s = (const char *) b + off + 1;
                const char *e = memchr(s, '\n', len - off - 1);
                if (e && e > s) {
                        _cleanup_free_ char *f = tf_strndup(s, (size_t) (e - s));
                        (void) parse_posix_tz(f, &z->footer);
                }
        }
        return 0;
}

static uint64_t now_usec(void) {
        struct timespec ts;
        /* The coarse clock is a vDSO read: cheap enough for every cache hit. */
        if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) < 0 && clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
                return 0;
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static int load_path(const char *name, const char *path, tf_tz **ret) {
        _cleanup_free_ uint8_t *buf = NULL;
        struct file_id id;
        size_t len = 0;
        int r;

        r = read_file(path, &buf, &len, &id);
        if (r < 0)
                return r;
        tf_tz *z = tf_malloc0(sizeof *z);
        r = parse_tzif(buf, len, z);
        if (r < 0) {
                tz_free(z);
                return r;
        }
        z->name = tf_strdup(name);
        z->path = tf_strdup(path);
        z->id = id;
        z->checked = now_usec();
        *ret = z;
        return 0;
}

/* Read z's file again if it changed since, into z itself: pointers handed out stay valid and see the new
 * rules. A file that vanished or no longer parses keeps the rules read before (as a running libc does).
 * Returns 1 if reloaded, 0 if unchanged (or not from a file), -errno if it could not be read. */
static int zone_refresh(tf_tz *z) {
        struct stat st;
        struct file_id id;
        tf_tz *n = NULL;
        int r;

        if (!z->path)
                return 0;
        z->checked = now_usec();
        if (stat(z->path, &st) < 0)
                return -errno;
        file_id_of(&st, &id);
        if (file_id_eq(&id, &z->id))
                return 0;
        r = load_path(z->name, z->path, &n);
        if (r < 0)
                return r;
        free(z->trans);
        free(z->trans_type);
        free(z->types);
        z->trans = TAKE_PTR(n->trans);
        z->trans_type = TAKE_PTR(n->trans_type);
        z->types = TAKE_PTR(n->types);
        z->ntrans = n->ntrans;
        z->ntypes = n->ntypes;
        z->footer = n->footer;
        z->id = n->id;
        tz_free(n);
        return 1;
}

/* A cache hit: look at the file again once its recheck interval passed. */
static tf_tz *zone_hit(tf_tz_cache *c, tf_tz *z) {
        if (c->recheck_usec != UINT64_MAX && z->path) {
                uint64_t now = now_usec();
                if (now - z->checked >= c->recheck_usec)
                        (void) zone_refresh(z);
        }
        return z;
}

tf_tz_cache *tf_tz_cache_new(void) {
        tf_tz_cache *c = tf_malloc0(sizeof *c);
        c->recheck_usec = TZ_RECHECK_USEC;
        return c;
}

tf_tz_cache *tf_tz_cache_free(tf_tz_cache *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_zones; i++)
                tz_free(c->zones[i]);
        free(c->zones);
        for (size_t i = 0; i < c->n_locals; i++)
                tz_free(c->locals[i]);
        free(c);
        return NULL;
}

void tf_tz_cache_set_recheck(tf_tz_cache *c, uint64_t usec) {
        c->recheck_usec = usec;
}

int tf_tz_cache_reload(tf_tz_cache *c) {
        int n = 0;
        for (size_t i = 0; i < c->n_zones + c->n_locals; i++) {
                tf_tz *z = i < c->n_zones ? c->zones[i] : c->locals[i - c->n_zones];
                if (zone_refresh(z) > 0)
                        n++;
        }
        return n;
}

static tf_tz_cache *default_cache;

tf_tz_cache *tf_tz_cache_default(void) {
        if (!default_cache)
                default_cache = tf_tz_cache_new();
        return default_cache;
}

/* Leave nothing behind for leak checkers. */
static void __attribute__((destructor)) tz_default_cache_free(void) {
        default_cache = tf_tz_cache_free(default_cache);
}

const tf_tz *tf_tz_utc(void) {
        return &utc_zone;
}

int tf_tz_load(const char *name, const tf_tz **ret, tf_error **err) {
        return tf_tz_cache_load(tf_tz_cache_default(), name, ret, err);
}

const tf_tz *tf_tz_local(void) {
        return tf_tz_cache_local(tf_tz_cache_default());
}

int tf_tz_cache_load(tf_tz_cache *c, const char *name, const tf_tz **ret, tf_error **err) {
        _cleanup_free_ char *path = NULL;
        tf_tz *z;
        int r;

        if (!tf_tz_name_valid(name))
                return tf_error_set(err, EINVAL, "invalid time zone name '%s'", name ? name : "");
        for (size_t i = 0; i < c->n_zones; i++)
                if (streq(c->zones[i]->name, name)) {
                        *ret = zone_hit(c, c->zones[i]);
                        return 0;
                }
        path = tf_asprintf(ZONEINFO "%s", name);
        r = load_path(name, path, &z);
        if (r < 0) {
                if (streq(name, "UTC")) {
                        *ret = &utc_zone;
                        return 0;
                }
                return tf_error_setc(err, r, "time zone '%s': %s", name, path);
        }
        if (c->n_zones >= TZ_ZONES_MAX) {
                tz_free(z);
                return tf_error_set(err, ENOSPC, "time zone '%s': more than %d distinct zones in use", name,
                                    TZ_ZONES_MAX);
        }
        if (c->n_zones == c->n_alloc) {
                c->n_alloc = c->n_alloc ? 2 * c->n_alloc : 16;
                c->zones = tf_realloc(c->zones, c->n_alloc * sizeof *c->zones);
        }
        c->zones[c->n_zones++] = z;
        *ret = z;
        return 0;
}

const tf_tz *tf_tz_cache_local(tf_tz_cache *c) {
        const char *e = getenv("TZ");
        const char *env = e ? e : "";
        tf_tz *z = NULL;

        if (c->local_zone && streq(c->local_zone->env, env))
                return zone_hit(c, c->local_zone);
        for (size_t i = 0; i < c->n_locals; i++)
                if (streq(c->locals[i]->env, env))
                        return zone_hit(c, (c->local_zone = c->locals[i]));

        if (!e) {
                if (load_path("localtime", "/etc/localtime", &z) < 0)
                        z = NULL;
        } else {
                const char *n = e[0] == ':' ? e + 1 : e;
                if (*n == 0)
                        z = NULL; /* TZ="" means UTC in glibc */
                else if (n[0] == '/') {
                        if (load_path(n, n, &z) < 0)
                                z = NULL;
                } else {
                        _cleanup_free_ char *path = tf_asprintf(ZONEINFO "%s", n);
                        if (tf_tz_name_valid(n) && load_path(n, path, &z) >= 0)
                                ;
                        else {
                                struct posix_tz p;
                                z = NULL;
                                if (parse_posix_tz(n, &p) >= 0) {
                                        z = tf_malloc0(sizeof *z);
                                        z->name = tf_strdup(n);
                                        z->footer = p;
                                }
                        }
                }
        }
        if (!z) {
                z = tf_malloc0(sizeof *z);
                z->name = tf_strdup(e ? e : "localtime");
                z->footer = utc_zone.footer;
        }
        z->env = tf_strdup(env);
        if (c->n_locals < TZ_LOCALS_MAX)
                c->locals[c->n_locals++] = z;
        else {
                tz_free(c->locals[c->next_local]);
                c->locals[c->next_local] = z;
                c->next_local = (c->next_local + 1) % TZ_LOCALS_MAX;
        }
        c->local_zone = z;
        return z;
}

const char *tf_tz_name(const tf_tz *tz) {
        return tz->name;
}

const char *tf_tz_abbrev(const tf_tz *tz, bool dst) {
        if (tz->footer.valid)
                return dst ? tz->footer.dst.abbr : tz->footer.std.abbr;
        /* No footer (v1 file): the abbreviations of the most recent types of each kind. */
        for (size_t i = tz->ntrans; i > 0; i--) {
                const struct ttinfo *ti = &tz->types[tz->trans_type[i - 1]];
                if (ti->isdst == dst)
                        return ti->abbr;
        }
        return tz->ntypes > 0 ? tz->types[0].abbr : "UTC";
}

bool tf_tz_is_utc(const tf_tz *tz) {
        if (tz->footer.valid)
                return tz->footer.std.utoff == 0 && !tz->footer.has_dst;
        for (size_t i = 0; i < tz->ntypes; i++)
                if (tz->types[i].utoff != 0 || tz->types[i].isdst)
                        return false;
        return true;
}
