/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * schedule/: calendar expressions (systemd.time(7), as systemd 252 parses, normalizes and evaluates them),
 * cron expressions (Vixie/cronie), and the time zone reader both use.
 *
 * Times are CLOCK_REALTIME microseconds since the epoch (uint64_t). Nothing here switches the process's
 * TZ: named zones are read from /usr/share/zoneinfo by a small cache (tf_tz_*), so many zones can be
 * evaluated side by side. Library code: it never prints; failures come back as -errno plus a tf_error.
 */

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "base/error.h"

/* ---- time zones -------------------------------------------------------------------------------- */

/* A loaded zone. Zones live in a cache (tf_tz_cache) as long as it does: callers borrow the pointer and
 * never free it. When the zone's TZif file changes (a tzdata update, a new /etc/localtime), the cache reads
 * it again into the same object: a borrowed pointer stays valid and sees the new rules. Thread-unsafe (the
 * runner is single-threaded by design). */
typedef struct tf_tz tf_tz;

/* A zone cache: the zones by name, the local zone per $TZ value. tf_tz_load() and tf_tz_local() (and the
 * calendar and cron engines) use the process's default one; more can be made, e.g. for tests. */
typedef struct tf_tz_cache tf_tz_cache;

tf_tz_cache *tf_tz_cache_new(void);
/* Frees the cache and every zone it handed out. NULL-safe; returns NULL. */
tf_tz_cache *tf_tz_cache_free(tf_tz_cache *c);
/* The cache tf_tz_load() and tf_tz_local() use (made on first use, freed at exit). */
tf_tz_cache *tf_tz_cache_default(void);
/* Look at every zone's TZif file now and read the changed ones again, in place. A file that vanished or
 * no longer parses keeps the rules read before. Returns how many zones were read again. */
int tf_tz_cache_reload(tf_tz_cache *c);
/* How long a cache hit trusts what it read before looking at the file again (a stat(); default 60 s,
 * 0: on every hit, UINT64_MAX: only on tf_tz_cache_reload()). */
void tf_tz_cache_set_recheck(tf_tz_cache *c, uint64_t usec);
/* tf_tz_load() and tf_tz_local() in a given cache. */
int tf_tz_cache_load(tf_tz_cache *c, const char *name, const tf_tz **ret, tf_error **err);
const tf_tz *tf_tz_cache_local(tf_tz_cache *c);

/* Load a zone by IANA name ("Europe/Berlin", "UTC") from /usr/share/zoneinfo, through the default cache. A
 * name that is not a valid zone name (systemd's rules: [A-Za-z0-9_+-] path components, no leading '/', no
 * "//") fails with -EINVAL, one without a readable TZif file with -ENOENT (or -EBADMSG); more than 4096
 * distinct zones in one cache (more than tzdata names) with -ENOSPC. */
int tf_tz_load(const char *name, const tf_tz **ret, tf_error **err);

/* The local zone: $TZ if set (a leading ':' is ignored; a zone name, an absolute TZif path or a POSIX TZ
 * rule like "EST5EDT,M3.2.0,M11.1.0"), else /etc/localtime, else UTC. Cached per $TZ value: a pointer
 * stays valid when $TZ changes (until 64 further distinct values were seen). Never fails: an unreadable
 * zone degrades to UTC, as libc does. */
const tf_tz *tf_tz_local(void);

/* The zone UTC (always available, also without tzdata). */
const tf_tz *tf_tz_utc(void);

/* True if `name` would be accepted by tf_tz_load() (systemd's timezone_is_valid()). */
bool tf_tz_name_valid(const char *name);

/* The zone's name as given ("Europe/Berlin"; for the local zone the $TZ value or "localtime"). */
const char *tf_tz_name(const tf_tz *tz);

/* libc's tzname[0] / tzname[1] for this zone (standard and daylight abbreviations). */
const char *tf_tz_abbrev(const tf_tz *tz, bool dst);

/* libc's (timezone == 0 && daylight == 0): the zone is UTC for all purposes of display. */
bool tf_tz_is_utc(const tf_tz *tz);

/* localtime_r() in `tz`: fills tm (tm_gmtoff, tm_isdst, tm_wday, tm_yday; tm_zone points into the
 * cached zone). Returns 0 or -ERANGE. */
int tf_tz_localtime(const tf_tz *tz, int64_t t, struct tm *tm);

/* mktime() in `tz` with glibc's exact rules (a skipped wall time is shifted by the size of the gap,
 * an ambiguous one resolved by tm_isdst or, when it is -1, by `*guess`, the offset the previous call
 * used: glibc keeps that offset in a static variable, we make it explicit). `guess` may be NULL.
 * Normalizes *tm like mktime() does. Returns the time (may be negative) or INT64_MIN on overflow. */
int64_t tf_tz_mktime(const tf_tz *tz, struct tm *tm, long *guess);

/* ---- calendar expressions (systemd.time(7)) ----------------------------------------------------- */

typedef struct tf_cal tf_cal;

/* Limits, enforced with a clear error. systemd caps components per field at 241 and the search at
 * 1000 iterations; we do the same and also cap the expression length. */
#define TF_CAL_EXPR_MAX 4096
#define TF_CAL_COMPONENTS_MAX 240
#define TF_CAL_ITERATIONS_MAX 1000

/* Parse a calendar expression. On failure -EINVAL (or -ERANGE, -ENOBUFS) and *err names the offending
 * part with its 1-based column: "'Mon..Fry 09:00': unknown weekday 'Fry' at column 6".
 * A trailing word that is the local zone's tzname[0]/[1] ("CET") is honoured as systemd does (it pins
 * tm_isdst), so parsing depends on the local zone like systemd's does. */
int tf_cal_parse(const char *expr, tf_cal **ret, tf_error **err);

/* NULL-safe; returns NULL. */
tf_cal *tf_cal_free(tf_cal *c);
static inline void tf_cal_freep(tf_cal **c) {
        tf_cal_free(*c);
}
#define _cleanup_cal_ __attribute__((cleanup(tf_cal_freep)))

/* The normalized form exactly as systemd-analyze prints it ("Mon..Fri *-*-* 09:00:00 Europe/Berlin").
 * Returns a malloc'd string (never NULL: allocation failure aborts). */
char *tf_cal_format(const tf_cal *c);

/* The first elapse strictly after `after` (microseconds), as systemd's calendar_spec_next_usec().
 * Returns 0, -ENOENT when the expression never elapses again, -EDEADLK when the iteration cap was
 * hit (err says so). */
int tf_cal_next(const tf_cal *c, uint64_t after, uint64_t *ret, tf_error **err);

/* ---- cron expressions -------------------------------------------------------------------------- */

typedef struct tf_cron tf_cron;

#define TF_CRON_EXPR_MAX 1024

/* Parse "MIN HOUR DOM MON DOW", as supercronic (cronexpr) does also "MIN HOUR DOM MON DOW YEAR" (6 fields)
 * and "SEC MIN HOUR DOM MON DOW YEAR" (7; years 1970..2199); the @-shorthands (@yearly @annually @monthly
 * @weekly @daily @midnight @hourly @reboot); names jan..dec and sun..sat (any case, also in ranges); 0 and 7
 * are Sunday; "N/S" means N-max/S. An optional leading "CRON_TZ=Zone " (or "TZ=Zone ") evaluates it in that
 * zone instead of the local one. Quartz's L, W, # and ? are refused with the calendar form to use instead.
 * Errors: "'0 25 * * *': hour 25 out of range 0..23 at column 3". */
int tf_cron_parse(const char *expr, tf_cron **ret, tf_error **err);

tf_cron *tf_cron_free(tf_cron *c);
static inline void tf_cron_freep(tf_cron **c) {
        tf_cron_free(*c);
}
#define _cleanup_cron_ __attribute__((cleanup(tf_cron_freep)))

/* Canonical form: "[CRON_TZ=Zone ]MIN HOUR DOM MON DOW" when the seconds are 0 and every year runs, else
 * all seven fields "SEC MIN HOUR DOM MON DOW YEAR": never 6 fields, which cron dialects read three ways.
 * Every field is a sorted, comma-separated list of numbers and ranges "a-b" (maximal runs of 3 or more
 * consecutive values), or "*" when the field selects every value AND was written with a leading '*' ("0-23"
 * stays "0-23": without the star it means something else, see below; a year has no such rule, every year is
 * "*"). A field written with a leading '*' that does not select every value stays "*\/S" followed by the
 * values that step leaves out ("*\/15,7"): the leading star changes Vixie's day rule (DOM and DOW are ANDed
 * when either starts with '*', ORed otherwise) and cronie's DST rule (wildcard jobs), so it is kept. Names
 * become numbers, Sunday is 0 (7 folds into it). "@reboot" stays "@reboot"; other @-shorthands expand. The
 * form is a fixed point: parsed again it prints itself and runs at the same times. */
char *tf_cron_format(const tf_cron *c);

/* True for @reboot: it has no next time (tf_cron_next returns -ENOENT). */
bool tf_cron_is_reboot(const tf_cron *c);

/* The first run strictly after `after`. DST as cronie: a fixed-time job (minute and hour fields not
 * starting with '*') whose wall time falls into a skipped hour runs once at the instant of the jump;
 * one whose wall time repeats runs once, in the first pass. A wildcard job (minute or hour field starts
 * with '*') follows the wall clock: skipped times are not made up, repeated times run again.
 * Returns 0 or -ENOENT (never again, e.g. "0 0 30 2 *"). */
int tf_cron_next(const tf_cron *c, uint64_t after, uint64_t *ret, tf_error **err);

/* ---- timestamps for the CLI -------------------------------------------------------------------- */

/* Parse a timestamp like systemd's parse_timestamp() does for the common forms: "@EPOCH[.frac]",
 * "YYYY-MM-DD [HH:MM[:SS[.frac]]]" with an optional leading weekday and trailing "UTC" or zone name,
 * "HH:MM[:SS]" (today), "now", "today", "yesterday", "tomorrow", "+SPAN", "-SPAN", "SPAN ago".
 * Local times use tf_tz_local(). Returns 0 or -EINVAL with err. */
int tf_sched_parse_timestamp(const char *s, uint64_t now, uint64_t *ret, tf_error **err);

/* "Mon 2026-03-30 09:00:00 CEST" in `tz` (systemd's format_timestamp()); with utc true the zone is
 * printed as "UTC". buf must hold 64 bytes. */
char *tf_sched_format_timestamp(char *buf, size_t len, uint64_t usec, const tf_tz *tz, bool utc);

/* "7 months 25 days ago", "19h left" (systemd's format_timestamp_relative()). */
char *tf_sched_format_relative(char *buf, size_t len, uint64_t usec, uint64_t now);
