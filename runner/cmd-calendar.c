/* SPDX-License-Identifier: MIT */
/*
 * tfrun calendar [--cron] [--iterations=N] [--base-time=TIMESTAMP] EXPR...
 *
 * Prints what `systemd-analyze calendar` prints, line for line: "Original form" (only when it differs
 * from the normalized one), "Normalized form", "Next elapse", "(in UTC)" (unless the local zone is UTC),
 * "From now", then "Iter. #N" for further elapses. Field names are right-aligned to the widest one, as
 * systemd's vertical table does. Like systemd-analyze, an invalid expression is reported and the others
 * are still printed; the exit status is then 125 (tfrun's own failure) instead of systemd's 1.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/parse.h"
#include "base/strutil.h"
#include "base/timeutil.h"
#include "runner/commands.h"
#include "schedule/schedule.h"

#define ITERATIONS_MAX 100000

struct row {
        char *field, *value;
};

struct table {
        struct row *rows;
        size_t n;
};

static void add_row(struct table *t, char *field, char *value) {
        t->rows = tf_realloc(t->rows, sizeof(struct row) * (t->n + 1));
        t->rows[t->n++] = (struct row){ field, value };
}

static void table_print_free(struct table *t) {
        size_t w = 0;

        for (size_t i = 0; i < t->n; i++)
                if (strlen(t->rows[i].field) > w)
                        w = strlen(t->rows[i].field);
        for (size_t i = 0; i < t->n; i++) {
                printf("%*s: %s\n", (int) w, t->rows[i].field, t->rows[i].value);
                free(t->rows[i].field);
                free(t->rows[i].value);
        }
        free(t->rows);
        *t = (struct table){};
}

static void table_free(struct table *t) {
        for (size_t i = 0; i < t->n; i++) {
                free(t->rows[i].field);
                free(t->rows[i].value);
        }
        free(t->rows);
}

static int show_one(const char *expr, bool cron, unsigned iterations, uint64_t base, uint64_t now) {
        _cleanup_error_ tf_error *err = NULL;
        _cleanup_cal_ tf_cal *cal = NULL;
        _cleanup_cron_ tf_cron *cr = NULL;
        _cleanup_free_ char *norm = NULL;
        const tf_tz *local = tf_tz_local();
        struct table t = {};
        char buf[128];
        int r;

        r = cron ? tf_cron_parse(expr, &cr, &err) : tf_cal_parse(expr, &cal, &err);
        if (r < 0) {
                fprintf(stderr, "tfrun calendar: %s\n", err ? err->msg : "invalid expression");
                return r;
        }
        norm = cron ? tf_cron_format(cr) : tf_cal_format(cal);
        if (!streq(norm, expr))
                add_row(&t, tf_strdup("Original form"), tf_strdup(expr));
        add_row(&t, tf_strdup("Normalized form"), tf_strdup(norm));

        for (unsigned i = 0; i < iterations; i++) {
                uint64_t next;

                r = cron ? tf_cron_next(cr, base, &next, &err) : tf_cal_next(cal, base, &next, &err);
                if (r == -ENOENT) {
                        if (i == 0)
                                add_row(&t, tf_strdup("Next elapse"), tf_strdup("never"));
                        break;
                }
                if (r < 0) {
                        fprintf(stderr, "tfrun calendar: failed to determine next elapse for '%s': %s\n", expr,
                                err ? err->msg : "error");
                        table_free(&t);
                        return r;
                }
                add_row(&t, i == 0 ? tf_strdup("Next elapse") : tf_asprintf("Iter. #%u", i + 1),
                        tf_strdup(tf_sched_format_timestamp(buf, sizeof buf, next, local, false)));
                if (!tf_tz_is_utc(local))
                        add_row(&t, tf_strdup("(in UTC)"),
                                tf_strdup(tf_sched_format_timestamp(buf, sizeof buf, next, local, true)));
                add_row(&t, tf_strdup("From now"), tf_strdup(tf_sched_format_relative(buf, sizeof buf, next, now)));
                base = next;
        }
        table_print_free(&t);
        return 0;
}

static void help(void) {
        printf("Usage: tfrun calendar [--cron] [--iterations=N] [--base-time=TIMESTAMP] EXPR...\n\n"
               "Print the normalized form and the next elapses of calendar expressions (systemd.time(7)),\n"
               "the way `systemd-analyze calendar` does; with --cron, of cron expressions.\n\n"
               "  --iterations=N        show N elapses (default 1, 0 shows only the normalized form)\n"
               "  --base-time=TIME      start from TIME ('2026-03-28 12:00:00 UTC', '@1774699200') instead of now\n"
               "  --cron                EXPR are cron expressions ('[CRON_TZ=Zone ]m h dom mon dow')\n");
}

int tf_cmd_calendar(int argc, char **argv) {
        static const struct option options[] = {
                { "iterations", required_argument, NULL, 'i' },
                { "base-time", required_argument, NULL, 'b' },
                { "cron", no_argument, NULL, 'c' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_error_ tf_error *err = NULL;
        const char *base_arg = NULL;
        unsigned iterations = 1;
        bool cron = false;
        uint64_t now, base, v;
        int c, rc = 0;

        optind = 0;
        opterr = 0;
        /* Options may follow expressions, as with systemd-analyze; "--" ends them. */
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'i':
                        if (tf_parse_u64(optarg, &v) < 0 || v > ITERATIONS_MAX) {
                                fprintf(stderr, "tfrun calendar: invalid --iterations '%s' (0..%d)\n", optarg,
                                        ITERATIONS_MAX);
                                return 125;
                        }
                        iterations = (unsigned) v;
                        break;
                case 'b':
                        base_arg = optarg;
                        break;
                case 'c':
                        cron = true;
                        break;
                case 'h':
                        help();
                        return 0;
                default:
                        fprintf(stderr, "tfrun calendar: unknown option '%s' (see --help; use -- before expressions "
                                "that start with '-')\n", argv[optind - 1]);
                        return 125;
                }
        if (optind >= argc) {
                fprintf(stderr, "tfrun calendar: expected at least one expression (see --help)\n");
                return 125;
        }

        now = tf_now(CLOCK_REALTIME);
        base = now; /* one base for all expressions, as systemd-analyze does */
        if (base_arg && tf_sched_parse_timestamp(base_arg, now, &base, &err) < 0) {
                fprintf(stderr, "tfrun calendar: --base-time: %s\n", err->msg);
                return 125;
        }

        for (int i = optind; i < argc; i++) {
                if (show_one(argv[i], cron, iterations, base, now) < 0)
                        rc = 125;
                if (i + 1 < argc)
                        putchar('\n');
                fflush(stdout);
        }
        return rc;
}
