/* SPDX-License-Identifier: MIT */
/* The run history (store/store.h) on real SQLite files in a temporary directory. Usage: test-store
 * STORE_WRITER (the program the crash test kills) V2_FIXTURE (tests/unit/store/v2.sql). */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strutil.h"
#include "base/timeutil.h"
#include "store/store.h"
#include "tests/tap.h"

#define DAY (UINT64_C(86400) * 1000000)

static char dir[64];
static const char *writer;

static char *in_dir(const char *name) {
        return tf_asprintf("%s/%s", dir, name);
}

/* Expected messages, freed at exit. */
static char **kept_strings;
static __attribute__((format(printf, 1, 2))) const char *kept(const char *fmt, ...) {
        va_list ap;
        char *out = NULL;
        va_start(ap, fmt);
        if (vasprintf(&out, fmt, ap) < 0)
                abort();
        va_end(ap);
        tf_strv_consume(&kept_strings, out);
        return out;
}

static const char *msg(tf_error *e) {
        return e && e->msg ? e->msg : "(no error)";
}

static tf_store *open_ok(const char *path) {
        _cleanup_error_ tf_error *err = NULL;
        tf_store *s = NULL;
        int r = tf_store_open(path, 0, &s, &err);
        if (!OK(r == 0, "open %s", path))
                printf("#   %s\n", msg(err));
        return s;
}

/* A raw connection beside the store's, for what the API does not show (pragmas, locks). */
static sqlite3 *raw(const char *path) {
        sqlite3 *db = NULL;
        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
                printf("# raw open %s: %s\n", path, db ? sqlite3_errmsg(db) : "?");
                abort();
        }
        return db;
}

/* A new file, through SQLite alone: what an older tfrun made. */
static sqlite3 *raw_create(const char *path) {
        sqlite3 *db = NULL;
        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
                printf("# raw create %s: %s\n", path, db ? sqlite3_errmsg(db) : "?");
                abort();
        }
        return db;
}

/* The SQL of a file run on db: 0, or -1 with SQLite's message printed. */
static int load_file(sqlite3 *db, const char *file) {
        char buf[1 << 16];
        FILE *f = fopen(file, "re");
        if (!f) {
                printf("# %s: %s\n", file, strerror(errno));
                return -1;
        }
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        char *e = NULL;
        if (sqlite3_exec(db, buf, NULL, NULL, &e) != SQLITE_OK) {
                printf("# %s: %s\n", file, e ? e : "?");
                sqlite3_free(e);
                return -1;
        }
        return 0;
}

static char *raw_text(sqlite3 *db, const char *sql) {
        sqlite3_stmt *st = NULL;
        char *out = NULL;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
                out = tf_strdup(sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0)
                                                           : "NULL");
        else
                out = tf_asprintf("error: %s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return out;
}

static struct tf_store_run mkrun(const char *id, const char *service, uint64_t started,
                                 const char *manager) {
        struct tf_store_run r = TF_STORE_RUN_INIT;
        r.run_id = id;
        r.service = service;
        r.trigger = "schedule";
        r.started_usec = started;
        r.backend = "native";
        r.manager_id = manager;
        return r;
}

static int begin(tf_store *s, const char *id, const char *service, uint64_t started, const char *manager) {
        _cleanup_error_ tf_error *err = NULL;
        struct tf_store_run r = mkrun(id, service, started, manager);
        int ret = tf_store_run_begin(s, &r, &err);
        if (ret < 0)
                printf("# begin %s: %s\n", id, msg(err));
        return ret;
}

static int end(tf_store *s, const char *id, const char *status, uint64_t ended, const char *log) {
        _cleanup_error_ tf_error *err = NULL;
        struct tf_store_run r = TF_STORE_RUN_INIT;
        r.run_id = id;
        r.status = status;
        r.ended_usec = ended;
        r.exit_code = streq(status, "success") ? 0 : 1;
        r.log_path = log;
        int ret = tf_store_run_end(s, &r, &err);
        if (ret < 0)
                printf("# end %s: %s\n", id, msg(err));
        return ret;
}

/* Query results as "id id id". */
static int collect(const struct tf_store_run *r, void *userdata) {
        char **out = userdata;
        char *n = tf_asprintf("%s%s%s", *out ? *out : "", *out ? " " : "", r->run_id);
        free(*out);
        *out = n;
        return 0;
}
static char *query(tf_store *s, struct tf_store_filter f, int *ret) {
        _cleanup_error_ tf_error *err = NULL;
        char *out = NULL;
        *ret = tf_store_query(s, &f, collect, &out, &err);
        if (*ret < 0)
                printf("# query: %s\n", msg(err));
        return out ? out : tf_strdup("");
}

static void test_schema(void) {
        _cleanup_free_ char *path = in_dir("schema.db"), *wal = tf_asprintf("%s-wal", path);
        tf_store *s = open_ok(path);
        struct stat st;
        OK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "the database is created mode 0600");
        OK(begin(s, "a-1", "a", 100, "m1") == 0, "a run is recorded");
        OK(stat(wal, &st) == 0 && (st.st_mode & 0777) == 0600, "its WAL file is mode 0600 too");
        sqlite3 *db = raw(path);
        _cleanup_free_ char *jm = raw_text(db, "PRAGMA journal_mode"),
                            *uv = raw_text(db, "PRAGMA user_version"),
                            *tables = raw_text(db, "SELECT group_concat(name, ' ') FROM (SELECT name FROM "
                                                   "sqlite_master WHERE type = 'table' ORDER BY name)"),
                            *idx = raw_text(
                                    db,
                                    "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master "
                                    "WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name)");
        IS_STR(jm, "wal", "journal_mode is WAL");
        IS_STR(uv, "3", "user_version is the schema version");
        IS_STR(tables, "run_counts runs service_state steps tokens", "the tables");
        IS_STR(idx, "runs_retry_of runs_service_started runs_started runs_status", "the indexes");
        sqlite3_close(db);
        tf_store_free(s);

        s = open_ok(path);
        _cleanup_free_ struct tf_store_run *r = NULL;
        _cleanup_error_ tf_error *err = NULL;
        OK(tf_store_get_run(s, "a-1", &r, &err) == 0 && streq(r->status, "running"),
           "reopened, the run is there");
        OK(tf_store_check(s, &err) == 0, "quick_check passes");
        tf_store_free(s);
}

static void test_runs(void) {
        _cleanup_free_ char *path = in_dir("runs.db");
        _cleanup_error_ tf_error *err = NULL;
        tf_store *s = open_ok(path);

        struct tf_store_run in = mkrun("web-12-1", "web", 1700000000000000, "boot:12:99");
        in.trigger = "manual";
        in.attempt = 2;
        in.scheduled_usec = 1699999999000000;
        in.log_path = "/var/lib/tfrun/logs/web/web-12-1.log";
        OK(tf_store_run_begin(s, &in, &err) == 0, "run_begin");
        IS_INT(tf_store_run_begin(s, &in, &err), -EEXIST, "the same run_id again: -EEXIST");
        IS_STR(msg(err), kept("history '%s': run web-12-1 is already recorded", path), "  its message");

        _cleanup_free_ struct tf_store_run *r = NULL;
        OK(tf_store_get_run(s, "web-12-1", &r, &err) == 0, "get_run");
        IS_STR(r->service, "web", "  service");
        IS_STR(r->trigger, "manual", "  trigger");
        IS_INT(r->attempt, 2, "  attempt");
        IS_INT(r->scheduled_usec, 1699999999000000, "  scheduled_usec");
        IS_INT(r->started_usec, 1700000000000000, "  started_usec");
        IS_INT(r->ended_usec, 0, "  ended_usec NULL while running");
        IS_STR(r->status, "running", "  status running");
        OK(r->reason == NULL && r->exit_code == -1 && r->signal == 0 && !r->oom &&
                   r->peak_memory == TF_STORE_UNKNOWN && r->cpu_usec == TF_STORE_UNKNOWN,
           "  the result fields are none");
        IS_STR(r->backend, "native", "  backend");
        IS_STR(r->log_path, "/var/lib/tfrun/logs/web/web-12-1.log", "  log_path");
        IS_STR(r->manager_id, "boot:12:99", "  manager_id");
        IS_STR(r->retry_of, NULL, "  retry_of NULL: not a retry");
        free(TAKE_PTR(r));

        /* A retry names the run it retries. */
        struct tf_store_run rt = mkrun("web-12-9", "web", 1700000020000000, "boot:12:99");
        rt.trigger = "rerun";
        rt.retry_of = "web-12-1";
        OK(tf_store_run_begin(s, &rt, &err) == 0, "a retry is recorded");
        OK(tf_store_get_run(s, "web-12-9", &r, &err) == 0 && r->retry_of && streq(r->retry_of, "web-12-1") &&
                   streq(r->trigger, "rerun"),
           "  with retry_of and its trigger");
        free(TAKE_PTR(r));
        rt.run_id = "web-12-10";
        rt.retry_of = "../etc";
        IS_INT(tf_store_run_begin(s, &rt, &err), -EINVAL, "  a retry_of that is no run id: -EINVAL");
        IS_STR(msg(err),
               "store: retry_of '../etc' is invalid: expected 1 to 255 bytes of letters, digits, '_', '.', "
               "':', '@' and '-'",
               "  its message");

        struct tf_store_run e = TF_STORE_RUN_INIT;
        e.run_id = "web-12-1";
        e.status = "oom";
        e.ended_usec = 1700000005000000;
        e.reason = "oom-killed\n\tby the kernel";
        e.signal = 9;
        e.oom = true;
        e.peak_memory = 64 << 20;
        e.cpu_usec = 1234;
        OK(tf_store_run_end(s, &e, &err) == 0, "run_end");
        OK(tf_store_get_run(s, "web-12-1", &r, &err) == 0, "get_run after the end");
        OK(streq(r->status, "oom") && r->ended_usec == 1700000005000000 && streq(r->reason, e.reason) &&
                   r->exit_code == -1 && r->signal == 9 && r->oom && r->peak_memory == 64 << 20 &&
                   r->cpu_usec == 1234,
           "  the result is stored");
        IS_STR(r->log_path, "/var/lib/tfrun/logs/web/web-12-1.log",
               "  log_path kept when the end gives none");
        IS_INT(tf_store_run_end(s, &e, &err), -EALREADY, "ending it again: -EALREADY");
        IS_STR(msg(err), kept("history '%s': run web-12-1 has already ended (oom)", path), "  its message");
        e.run_id = "web-12-2";
        IS_INT(tf_store_run_end(s, &e, &err), -ENOENT, "ending an unknown run: -ENOENT");
        IS_INT(tf_store_get_run(s, "nope", &r, &err), -ENOENT, "get_run of an unknown run: -ENOENT");
        IS_STR(msg(err), kept("history '%s': no run nope", path), "  its message");

        /* A skip is recorded over at once. */
        struct tf_store_run sk = mkrun("web-12-3", "web", 1700000010000000, "boot:12:99");
        sk.status = "skipped";
        sk.ended_usec = sk.started_usec;
        sk.reason = "the previous run is still going (overlap: skip)";
        OK(tf_store_run_begin(s, &sk, &err) == 0, "a skipped run is recorded ended");
        sk.ended_usec = 0;
        sk.run_id = "web-12-4";
        IS_INT(tf_store_run_begin(s, &sk, &err), -EINVAL, "skipped without an end time: -EINVAL");
        IS_STR(msg(err),
               "store: run web-12-4: status skipped with no end time: a run is running exactly until it "
               "ends",
               "  its message");
        tf_store_free(s);
}

static void test_query(void) {
        _cleanup_free_ char *path = in_dir("query.db");
        _cleanup_error_ tf_error *err = NULL;
        tf_store *s = open_ok(path);
        int n;
        /* a-1..a-6 and b-1..b-3, started at 10, 20, ...; b-2 and a-3 start at the same instant. */
        begin(s, "a-1", "a", 10, "m");
        begin(s, "a-2", "a", 20, "m");
        begin(s, "a-3", "a", 30, "m");
        begin(s, "b-1", "b", 15, "m");
        begin(s, "b-2", "b", 30, "m");
        begin(s, "a-4", "a", 40, "m");
        begin(s, "b-3", "b", 50, "m");
        begin(s, "a-5", "a", 60, "m");
        begin(s, "a-6", "a", 70, "m");
        end(s, "a-1", "success", 11, NULL);
        end(s, "a-2", "failure", 21, NULL);
        end(s, "a-3", "success", 31, NULL);
        end(s, "b-1", "timeout", 16, NULL);
        end(s, "a-4", "failure", 41, NULL);
        end(s, "a-5", "success", 61, NULL);

        _cleanup_free_ char *all = query(s, (struct tf_store_filter){}, &n);
        IS_STR(all, "a-6 a-5 b-3 a-4 b-2 a-3 a-2 b-1 a-1",
               "all runs, newest first (same start: run_id descending)");
        IS_INT(n, 9, "  the count returned");
        _cleanup_free_ char *a = query(s, (struct tf_store_filter){.service = "a"}, &n);
        IS_STR(a, "a-6 a-5 a-4 a-3 a-2 a-1", "filter by service");
        _cleanup_free_ char *fail = query(s, (struct tf_store_filter){.status = "failure"}, &n);
        IS_STR(fail, "a-4 a-2", "filter by status");
        _cleanup_free_ char *running = query(s, (struct tf_store_filter){.status = "running"}, &n);
        IS_STR(running, "a-6 b-3 b-2", "the running ones");
        _cleanup_free_ char *as =
                query(s, (struct tf_store_filter){.service = "a", .status = "success"}, &n);
        IS_STR(as, "a-5 a-3 a-1", "service and status");
        _cleanup_free_ char *since = query(s, (struct tf_store_filter){.since_usec = 30}, &n);
        IS_STR(since, "a-6 a-5 b-3 a-4 b-2 a-3", "since (inclusive)");
        _cleanup_free_ char *lim = query(s, (struct tf_store_filter){.limit = 3}, &n);
        IS_STR(lim, "a-6 a-5 b-3", "limit");
        _cleanup_free_ char *page2 = query(s, (struct tf_store_filter){.limit = 3, .before = "b-3"}, &n);
        IS_STR(page2, "a-4 b-2 a-3", "the next page: before a run_id");
        _cleanup_free_ char *page3 = query(s, (struct tf_store_filter){.limit = 3, .before = "a-3"}, &n);
        IS_STR(page3, "a-2 b-1 a-1", "and the one after it (a tie on started_usec does not lose a row)");
        _cleanup_free_ char *prev = query(s, (struct tf_store_filter){.limit = 2, .after = "b-2"}, &n);
        IS_STR(prev, "b-3 a-4", "the previous page: the rows next to `after`, newest first");
        _cleanup_free_ char *range = query(s, (struct tf_store_filter){.after = "a-2", .before = "a-4"}, &n);
        IS_STR(range, "b-2 a-3", "before and after together");
        _cleanup_free_ char *svc_page =
                query(s, (struct tf_store_filter){.service = "b", .before = "a-6", .limit = 2}, &n);
        IS_STR(svc_page, "b-3 b-2", "a cursor with a filter");

        IS_INT(tf_store_query(s, &(struct tf_store_filter){.limit = TF_STORE_QUERY_MAX + 1}, collect, NULL,
                              &err),
               -EINVAL, "a limit over TF_STORE_QUERY_MAX: -EINVAL");
        IS_STR(msg(err), "store: limit 10001: at most 10000 rows per query", "  its message");
        IS_INT(tf_store_query(s, &(struct tf_store_filter){.before = "zz-1"}, collect, NULL, &err), -ENOENT,
               "a cursor naming no run: -ENOENT");
        IS_INT(tf_store_query(s, &(struct tf_store_filter){.status = "done"}, collect, NULL, &err), -EINVAL,
               "a bad status filter: -EINVAL");

        _cleanup_free_ struct tf_store_run *last = NULL, *ok = NULL;
        OK(tf_store_last_run(s, "a", NULL, &last, &err) == 0 && streq(last->run_id, "a-6"), "last run of a");
        OK(tf_store_last_run(s, "a", "success", &ok, &err) == 0 && streq(ok->run_id, "a-5"),
           "last success of a");
        IS_INT(tf_store_last_run(s, "b", "success", &ok, &err), -ENOENT, "no success of b: -ENOENT");
        IS_STR(msg(err), kept("history '%s': no success run of service b", path), "  its message");
        tf_store_free(s);
}

static int count_line(const char *service, const char *status, uint64_t total, void *userdata) {
        char **out = userdata;
        char *n = tf_asprintf("%s%s%s/%s=%llu", *out ? *out : "", *out ? " " : "", service, status,
                              (unsigned long long)total);
        free(*out);
        *out = n;
        return 0;
}

static int log_line(const char *run_id, const char *log_path, void *userdata) {
        return count_line(run_id, log_path, 0, userdata);
}

static void test_retention_and_counts(void) {
        _cleanup_free_ char *path = in_dir("retention.db");
        _cleanup_error_ tf_error *err = NULL;
        tf_store *s = open_ok(path);
        uint64_t now = tf_now(CLOCK_REALTIME);
        char id[32], log[64];
        /* r-1 .. r-6 of service r, ended 6 .. 1 days ago; r-7 still running; o-1 another service's. */
        for (int i = 1; i <= 6; i++) {
                snprintf(id, sizeof(id), "r-%d", i);
                snprintf(log, sizeof(log), "/logs/r/r-%d.log", i);
                begin(s, id, "r", now - (uint64_t)(7 - i) * DAY - 1000, "m");
                end(s, id, i % 2 ? "success" : "failure", now - (uint64_t)(7 - i) * DAY, log);
        }
        begin(s, "r-7", "r", now - 10 * DAY, "m");
        begin(s, "o-1", "o", now - 30 * DAY, "m");
        end(s, "o-1", "success", now - 30 * DAY + 1, "/logs/o/o-1.log");
        struct tf_store_step step = {.run_id = "r-1",
                                     .name = "fetch",
                                     .order = 0,
                                     .status = "success",
                                     .exit_code = 0,
                                     .started_usec = 1,
                                     .ended_usec = 2,
                                     .output_size = 10,
                                     .log_path = "/logs/r/r-1.fetch.log"};
        OK(tf_store_step_begin(s, &step, &err) == 0, "a step of r-1");

        _cleanup_free_ char *counts = NULL;
        OK(tf_store_counts(s, count_line, &counts, &err) == 0, "counts");
        IS_STR(counts, "o/success=1 r/failure=3 r/running=1 r/success=3", "  per service and status");

        _cleanup_free_ char *logs = NULL;
        IS_INT(tf_store_retention(s, "r", 4, 0, log_line, &logs, &err), 2, "keep 4: two ended runs deleted");
        IS_STR(logs, "r-1//logs/r/r-1.log=0 r-1//logs/r/r-1.fetch.log=0 r-2//logs/r/r-2.log=0",
               "  the callback gets each deleted log file, the steps' too");
        int n;
        _cleanup_free_ char *left = query(s, (struct tf_store_filter){.service = "r"}, &n);
        IS_STR(left, "r-6 r-5 r-4 r-3 r-7", "  the newest 4 ended runs are kept, and the running one");
        sqlite3 *db = raw(path);
        _cleanup_free_ char *nsteps = raw_text(db, "SELECT count(*) FROM steps");
        IS_STR(nsteps, "0", "  the deleted run's steps went with it (ON DELETE CASCADE)");
        sqlite3_close(db);

        free(logs), logs = NULL;
        IS_INT(tf_store_retention(s, "r", 0, 3, log_line, &logs, &err), 2, "keep 3 days: two more deleted");
        IS_STR(logs, "r-3//logs/r/r-3.log=0 r-4//logs/r/r-4.log=0",
               "  the ones that ended more than 3 days ago");
        free(left);
        left = query(s, (struct tf_store_filter){.service = "r"}, &n);
        IS_STR(left, "r-6 r-5 r-7", "  a running run is kept, however old");
        IS_INT(tf_store_retention(s, "r", 1, 2, NULL, NULL, &err), 1, "keep 1 run and 2 days: r-5 goes too");
        IS_INT(tf_store_retention(s, "r", 0, 0, NULL, NULL, &err), 0, "no limits: nothing deleted");
        free(left);
        left = query(s, (struct tf_store_filter){}, &n);
        IS_STR(left, "r-6 r-7 o-1", "  other services are untouched");

        free(counts), counts = NULL;
        OK(tf_store_counts(s, count_line, &counts, &err) == 0, "counts after retention");
        IS_STR(counts, "o/success=1 r/failure=3 r/running=1 r/success=3",
               "  unchanged: totals never go back");
        end(s, "r-7", "cancelled", 0, NULL);
        free(counts), counts = NULL;
        tf_store_counts(s, count_line, &counts, &err);
        IS_STR(counts, "o/success=1 r/cancelled=1 r/failure=3 r/success=3", "  an end is counted once");
        tf_store_free(s);
}

static int lost_line(const struct tf_store_run *r, void *userdata) {
        char **out = userdata;
        char *n = tf_asprintf("%s%s%s/%s/%s", *out ? *out : "", *out ? " " : "", r->service, r->run_id,
                              r->backend);
        free(*out);
        *out = n;
        return 0;
}

static int step_line(const struct tf_store_step *st, void *userdata);
static void test_mark_lost(void) {
        _cleanup_free_ char *path = in_dir("lost.db");
        _cleanup_error_ tf_error *err = NULL;
        tf_store *s = open_ok(path);
        begin(s, "a-1", "a", 10, "old");
        begin(s, "a-2", "a", 20, "old");
        end(s, "a-2", "success", 21, NULL);
        begin(s, "b-1", "b", 30, "new");
        struct tf_store_run d = mkrun("c-1", "c", 40, "older");
        d.backend = "docker";
        tf_store_run_begin(s, &d, &err);
        struct tf_store_step st1 = TF_STORE_STEP_INIT, st2 = TF_STORE_STEP_INIT;
        st1.run_id = st2.run_id = "a-1";
        st1.name = "x", st1.status = "running", st1.started_usec = 11;
        st2.name = "y", st2.status = "success", st2.started_usec = 11, st2.ended_usec = 12, st2.order = 1;
        OK(tf_store_step_begin(s, &st1, &err) == 0 && tf_store_step_begin(s, &st2, &err) == 0,
           "a-1 has a step running and one ended");

        _cleanup_free_ char *seen = NULL;
        unsigned n = 99;
        OK(tf_store_mark_lost(s, "new", lost_line, &seen, &n, &err) == 0, "mark_lost");
        IS_INT(n, 2, "  two runs of gone managers");
        IS_STR(seen, "c/c-1/docker a/a-1/native",
               "  the callback got each one's service, run_id and backend");
        _cleanup_free_ struct tf_store_run *r = NULL;
        tf_store_get_run(s, "a-1", &r, &err);
        OK(streq(r->status, "lost") && r->ended_usec > 10, "  a-1 is lost, with an end time");
        IS_STR(r->reason, "its manager old is gone", "  and a reason naming its manager");
        free(r);
        _cleanup_free_ char *sl = NULL;
        tf_store_steps(s, "a-1", step_line, &sl, &err);
        IS_STR(sl, "x:cancelled:-1 y:success:-1",
               "  its running step is cancelled, the ended one left alone");
        tf_store_get_run(s, "b-1", &r, &err);
        IS_STR(r->status, "running", "  the current manager's run is left running");
        free(r);
        tf_store_get_run(s, "a-2", &r, &err);
        IS_STR(r->status, "success", "  an ended run is left alone");
        free(r), r = NULL;
        OK(tf_store_mark_lost(s, "new", NULL, NULL, &n, &err) == 0 && n == 0,
           "a second sweep finds nothing");
        IS_INT(end(s, "a-1", "success", 50, NULL), -EALREADY, "the late end of a lost run: -EALREADY");
        tf_store_free(s);
}

static int step_line(const struct tf_store_step *st, void *userdata) {
        char **out = userdata;
        char *n = tf_asprintf("%s%s%s:%s:%d", *out ? *out : "", *out ? " " : "", st->name, st->status,
                              st->exit_code);
        free(*out);
        *out = n;
        return 0;
}

static void test_steps(void) {
        _cleanup_free_ char *path = in_dir("steps.db");
        _cleanup_error_ tf_error *err = NULL;
        tf_store *s = open_ok(path);
        begin(s, "w-1", "w", 10, "m");
        struct tf_store_step a = TF_STORE_STEP_INIT, b = TF_STORE_STEP_INIT;
        a.run_id = b.run_id = "w-1";
        a.name = "build", a.order = 1, a.status = "running", a.started_usec = 11;
        b.name = "fetch", b.order = 0, b.status = "running", b.started_usec = 10;
        OK(tf_store_step_begin(s, &a, &err) == 0 && tf_store_step_begin(s, &b, &err) == 0,
           "two steps begin");
        IS_INT(tf_store_step_begin(s, &a, &err), -EEXIST, "the same step again: -EEXIST");
        struct tf_store_step orphan = b;
        orphan.run_id = "w-9";
        IS_INT(tf_store_step_begin(s, &orphan, &err), -ENOENT, "a step of an unknown run: -ENOENT");
        IS_STR(msg(err), kept("history '%s': no run w-9 (for step fetch)", path), "  its message");

        /* The whole result of a step, and its output byte-exact: NUL, quotes, newlines, '$', not UTF-8. */
        static const char out[] = "it's \"quoted\"\n$HOME ${x}\0after a NUL\xff\xfe";
        b.status = "success";
        b.exit_code = 0;
        b.ended_usec = 20;
        b.output = out;
        b.output_len = sizeof(out) - 1;
        b.reason = "exited";
        b.peak_memory = 4096;
        b.log_path = "/state/logs/w/w-1.fetch.log";
        OK(tf_store_step_end(s, &b, &err) == 0, "a step ends");
        IS_INT(tf_store_step_end(s, &b, &err), -EALREADY, "  ending it again: -EALREADY");
        _cleanup_free_ struct tf_store_step *got = NULL;
        OK(tf_store_get_step(s, "w-1", "fetch", &got, &err) == 0, "get_step");
        OK(got && got->output_len == sizeof(out) - 1 && memcmp(got->output, out, sizeof(out) - 1) == 0,
           "  its output, byte-exact");
        OK(got && got->output_size == (int64_t)sizeof(out) - 1, "  output_size is the output's length");
        OK(got && streq(got->reason, "exited") && got->peak_memory == 4096 && !got->oom &&
                   got->signal == 0 && got->why == NULL && got->ended_usec == 20 && got->started_usec == 10,
           "  reason, peak memory, oom, signal, why, times");
        IS_STR(got ? got->log_path : NULL, "/state/logs/w/w-1.fetch.log", "  its log path");
        free(TAKE_PTR(got));

        a.status = "oom";
        a.signal = 9;
        a.oom = true;
        a.reason = "oom-killed";
        a.why = "killed by the kernel's OOM killer\n\tat 64M";
        a.peak_memory = 64 << 20;
        OK(tf_store_step_end(s, &a, &err) == 0, "a step killed by the OOM killer ends");
        OK(tf_store_get_step(s, "w-1", "build", &got, &err) == 0 && got->oom && got->signal == 9 &&
                   streq(got->why, a.why) && got->output == NULL && got->output_size == TF_STORE_UNKNOWN,
           "  oom, signal and why kept; no output is NULL, not empty");
        free(TAKE_PTR(got));

        /* Skipped and reused steps are recorded over at once; an empty output is not no output. */
        struct tf_store_step sk = TF_STORE_STEP_INIT, ru = TF_STORE_STEP_INIT;
        sk.run_id = ru.run_id = "w-1";
        sk.name = "deploy", sk.order = 2, sk.status = "skipped", sk.started_usec = sk.ended_usec = 30;
        sk.why = "needs build, which failed";
        ru.name = "lint", ru.order = 3, ru.status = "reused", ru.started_usec = ru.ended_usec = 30;
        ru.output = "";
        ru.output_len = 0;
        OK(tf_store_step_begin(s, &sk, &err) == 0 && tf_store_step_begin(s, &ru, &err) == 0,
           "a skipped and a reused step are recorded ended");
        OK(tf_store_get_step(s, "w-1", "lint", &got, &err) == 0 && got->output && got->output_len == 0 &&
                   got->output_size == 0,
           "  an empty output stays an (empty) output");
        free(TAKE_PTR(got));
        IS_INT(tf_store_get_step(s, "w-1", "nope", &got, &err), -ENOENT,
               "get_step of an unknown step: -ENOENT");
        IS_STR(msg(err), kept("history '%s': run w-1 has no step nope", path), "  its message");

        _cleanup_free_ char *list = NULL;
        IS_INT(tf_store_steps(s, "w-1", step_line, &list, &err), 4, "steps listed");
        IS_STR(list, "fetch:success:0 build:oom:-1 deploy:skipped:-1 lint:reused:-1", "  in workflow order");

        /* An output of 1 MiB is stored whole; a byte more is refused, not cut. */
        char *big = malloc(TF_STORE_OUTPUT_MAX + 1);
        memset(big, 'x', TF_STORE_OUTPUT_MAX + 1);
        struct tf_store_step bg = TF_STORE_STEP_INIT;
        bg.run_id = "w-1", bg.name = "big", bg.order = 4, bg.status = "success", bg.exit_code = 0;
        bg.started_usec = bg.ended_usec = 40;
        bg.output = big;
        bg.output_len = TF_STORE_OUTPUT_MAX + 1;
        IS_INT(tf_store_step_begin(s, &bg, &err), -EINVAL, "an output of 1 MiB + 1 byte: -EINVAL");
        IS_STR(msg(err), "store: step big: its output is 1048577 bytes long: at most 1048576 are stored",
               "  its message");
        bg.output_len = TF_STORE_OUTPUT_MAX;
        IS_INT(tf_store_step_begin(s, &bg, &err), 0, "an output of 1 MiB is stored");
        OK(tf_store_get_step(s, "w-1", "big", &got, &err) == 0 && got->output_len == TF_STORE_OUTPUT_MAX &&
                   memcmp(got->output, big, TF_STORE_OUTPUT_MAX) == 0,
           "  and read back whole");
        free(TAKE_PTR(got));
        free(big);

        struct tf_store_step lost = sk;
        lost.name = "gone", lost.status = "lost";
        IS_INT(tf_store_step_begin(s, &lost, &err), -EINVAL,
               "a step status 'lost': -EINVAL (its run is lost)");
        IS_STR(msg(err),
               "store: step status 'lost' is invalid: expected running, success, failure, timeout, oom, "
               "cancelled, skipped or reused",
               "  its message");
        tf_store_free(s);
}

/* A version 2 history as the previous tfrun wrote it (tests/unit/store/v2.sql, a dump of such a file),
 * migrated to version 3: every row kept, the new columns none, and what version 3 adds works on it. */
static int collect_token(const struct tf_store_token *t, void *userdata);
static void test_migrate_v2(const char *fixture) {
        _cleanup_error_ tf_error *err = NULL;
        _cleanup_free_ char *path = in_dir("v2.db");
        sqlite3 *db = raw_create(path);
        OK(load_file(db, fixture) == 0, "the v2 fixture loads (%s)", fixture);
        _cleanup_free_ char *uv0 = raw_text(db, "PRAGMA user_version");
        IS_STR(uv0, "2", "  a version 2 file");
        sqlite3_close(db);

        tf_store *s = open_ok(path);
        if (!s)
                return;
        db = raw(path);
        _cleanup_free_ char *uv = raw_text(db, "PRAGMA user_version"),
                            *rc = raw_text(db,
                                           "SELECT group_concat(name, ' ') FROM pragma_table_info('runs') "
                                           "WHERE cid >= 17"),
                            *sc = raw_text(db,
                                           "SELECT group_concat(name, ' ') FROM pragma_table_info('steps') "
                                           "WHERE cid >= 9");
        sqlite3_close(db);
        IS_STR(uv, "3", "v2 migrated: user_version 3");
        IS_STR(rc, "retry_of", "  runs gained retry_of");
        IS_STR(sc, "reason signal oom peak_memory why output", "  steps gained the rest of a step's result");
        _cleanup_free_ struct tf_store_run *r = NULL;
        OK(tf_store_get_run(s, "old-100-1", &r, &err) == 0 && streq(r->status, "failure") &&
                   r->exit_code == 3 && streq(r->log_path, "/state/logs/old/old-100-1.log") &&
                   r->retry_of == NULL,
           "  the ended run is kept, retry_of none");
        free(TAKE_PTR(r));
        OK(tf_store_get_run(s, "old-100-2", &r, &err) == 0 && streq(r->status, "running") &&
                   streq(r->backend, "docker"),
           "  the running run is kept");
        free(TAKE_PTR(r));
        _cleanup_free_ struct tf_store_step *st = NULL;
        OK(tf_store_get_step(s, "old-100-1", "a", &st, &err) == 0 && streq(st->status, "success") &&
                   st->output_size == 5 && st->output == NULL && st->reason == NULL && !st->oom &&
                   st->peak_memory == TF_STORE_UNKNOWN &&
                   streq(st->log_path, "/state/logs/old/old-100-1.a.log"),
           "  its step is kept, the new fields none");
        free(TAKE_PTR(st));
        _cleanup_free_ struct tf_store_service_state *ss = NULL;
        OK(tf_store_service_get(s, "old", &ss, &err) == 0 && !ss->enabled, "  the service's state is kept");
        _cleanup_free_ char *list = NULL;
        IS_INT(tf_store_tokens(s, collect_token, &list, &err), 1, "  the token is kept");
        struct tf_store_filter fl = {.status = "failure"};
        IS_INT(tf_store_query(s, &fl, NULL, NULL, &err), 1, "  queries work");

        /* What version 3 adds. */
        struct tf_store_run rt = mkrun("old-100-3", "old", 1700000003000000, "m2");
        rt.trigger = "rerun";
        rt.retry_of = "old-100-1";
        OK(tf_store_run_begin(s, &rt, &err) == 0, "  a retry of the old run is recorded");
        struct tf_store_step ru = TF_STORE_STEP_INIT;
        ru.run_id = "old-100-3", ru.name = "a", ru.status = "reused";
        ru.started_usec = ru.ended_usec = 1700000003000000;
        ru.output = "hello";
        ru.output_len = 5;
        OK(tf_store_step_begin(s, &ru, &err) == 0, "  with a step reused with its output");
        OK(tf_store_get_step(s, "old-100-3", "a", &st, &err) == 0 && st->output_len == 5 &&
                   memcmp(st->output, "hello", 5) == 0,
           "  and the output read back");
        OK(tf_store_check(s, &err) == 0, "  quick_check passes");
        tf_store_free(s);

        /* Opened again: nothing more to migrate. */
        s = open_ok(path);
        tf_store_free(s);
}

static void test_service_state(void) {
        _cleanup_free_ char *path = in_dir("state.db");
        _cleanup_error_ tf_error *err = NULL;
        tf_store *s = open_ok(path);
        _cleanup_free_ struct tf_store_service_state *got = NULL;
        IS_INT(tf_store_service_get(s, "web", &got, &err), -ENOENT, "no state yet: -ENOENT");
        static const char json[] = "{\"next\": 5}";
        struct tf_store_service_state st = {.service = "web",
                                            .enabled = false,
                                            .last_fire_usec = 123,
                                            .json = json,
                                            .json_len = sizeof(json) - 1};
        OK(tf_store_service_set(s, &st, &err) == 0, "set");
        tf_store_free(s);
        s = open_ok(path);
        OK(tf_store_service_get(s, "web", &got, &err) == 0, "get after a reopen");
        OK(got && streq(got->service, "web") && !got->enabled && got->last_fire_usec == 123 &&
                   got->json_len == sizeof(json) - 1 && streq(got->json, json) && got->updated_usec > 0,
           "  the state persisted (tfrun disable survives a restart)");
        free(got), got = NULL;
        st.enabled = true;
        st.json = NULL;
        OK(tf_store_service_set(s, &st, &err) == 0, "set again");
        OK(tf_store_service_get(s, "web", &got, &err) == 0 && got->enabled && !got->json, "  replaced");
        static const char nul[] = "{\"a\": \"x\0y\"}";
        st.json = nul;
        st.json_len = sizeof(nul) - 1;
        IS_INT(tf_store_service_set(s, &st, &err), -EINVAL, "json with a NUL byte: -EINVAL");
        IS_STR(msg(err), "store: service state json has '\\x00' at byte 8: expected text without NUL bytes",
               "  its message");
        tf_store_free(s);
}

static void test_bad_input(void) {
        _cleanup_free_ char *path = in_dir("input.db");
        _cleanup_error_ tf_error *err = NULL;
        tf_store *s = open_ok(path);
        char longid[TF_STORE_ID_MAX + 2];
        memset(longid, 'x', sizeof(longid) - 1);
        longid[sizeof(longid) - 1] = 0;
        static const struct {
                const char *field, *value, *message;
        } t[] = {
                {"run_id", NULL, "store: run_id is missing"},
                {"run_id", "",
                 "store: run_id '' is invalid: expected 1 to 255 bytes of letters, digits, '_', '.', "
                 "':', '@' and '-'"},
                {"run_id", "a b",
                 "store: run_id 'a b' is invalid: expected 1 to 255 bytes of letters, digits, "
                 "'_', '.', ':', '@' and '-'"},
                {"service", "web\n",
                 "store: service 'web\\x0a' is invalid: expected 1 to 255 bytes of letters, "
                 "digits, '_', '.', ':', '@' and '-'"},
                {"service", "x';DROP TABLE runs;--",
                 "store: service 'x\\x27;DROP TABLE runs;--' is invalid: expected "
                 "1 to 255 bytes of letters, digits, '_', '.', ':', '@' and '-'"},
                {"trigger", "Schedule",
                 "store: trigger 'Schedule' is invalid: expected 1 to 32 lower-case letters, "
                 "digits and '-', starting with a letter"},
                {"status", "done",
                 "store: status 'done' is invalid: expected running, success, failure, timeout, "
                 "oom, cancelled, skipped or lost"},
                {"log_path", "logs/x.log",
                 "store: log_path 'logs/x.log' is invalid: expected an absolute path"},
                {"log_path", "/logs/\x01.log",
                 "store: log_path has '\\x01' at byte 6: expected text without control characters"},
                {"reason", "bad \xc3\x28 utf-8",
                 "store: reason has '\\xc3' at byte 4: expected well-formed UTF-8"},
                {"reason", "overlong \xc0\xaf",
                 "store: reason has '\\xc0' at byte 9: expected well-formed UTF-8"},
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                struct tf_store_run r = mkrun("ok-1", "ok", 10, "m");
                if (streq(t[i].field, "run_id"))
                        r.run_id = t[i].value;
                else if (streq(t[i].field, "service"))
                        r.service = t[i].value;
                else if (streq(t[i].field, "trigger"))
                        r.trigger = t[i].value;
                else if (streq(t[i].field, "status"))
                        r.status = t[i].value;
                else if (streq(t[i].field, "log_path"))
                        r.log_path = t[i].value;
                else
                        r.reason = t[i].value;
                IS_INT(tf_store_run_begin(s, &r, &err), -EINVAL, "%s %s refused", t[i].field,
                       t[i].value ? "bad value" : "missing");
                IS_STR(msg(err), t[i].message, "  its message");
        }
        struct tf_store_run r = mkrun(longid, "ok", 10, "m");
        IS_INT(tf_store_run_begin(s, &r, &err), -EINVAL, "a run_id of 256 bytes refused");
        IS_STR(msg(err),
               "store: run_id 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' is invalid: expected 1 "
               "to 255 bytes of letters, digits, '_', '.', ':', '@' and '-'",
               "  its message");
        longid[TF_STORE_ID_MAX] = 0;
        r = mkrun(longid, "ok", 10, "m");
        IS_INT(tf_store_run_begin(s, &r, &err), 0, "one of 255 bytes accepted");
        _cleanup_free_ char *reason = tf_malloc0(TF_STORE_REASON_MAX + 2);
        memset(reason, 'r', TF_STORE_REASON_MAX + 1);
        r = mkrun("ok-2", "ok", 10, "m");
        r.reason = reason;
        IS_INT(tf_store_run_begin(s, &r, &err), -EINVAL, "a reason over 4096 bytes refused");
        IS_STR(msg(err), "store: reason is 4097 bytes long: at most 4096 are stored", "  its message");
        r = mkrun("ok-3", "ok", 10, "m");
        r.reason = "caf\xc3\xa9: \xe2\x9c\x93\n\tdone";
        IS_INT(tf_store_run_begin(s, &r, &err), 0, "UTF-8 with a newline and a tab is a fine reason");
        r = mkrun("ok-4", "ok", 10, "m");
        r.exit_code = 256;
        IS_INT(tf_store_run_begin(s, &r, &err), -EINVAL, "exit_code 256 refused");
        r = mkrun("ok-5", "ok", (uint64_t)INT64_MAX + 1, "m");
        IS_INT(tf_store_run_begin(s, &r, &err), -ERANGE, "a time past INT64_MAX refused");
        r = mkrun("ok-6", "ok", 10, "m");
        r.status = "running";
        r.ended_usec = 11;
        IS_INT(tf_store_run_begin(s, &r, &err), -EINVAL, "running with an end time refused");
        int n;
        _cleanup_free_ char *all = query(s, (struct tf_store_filter){}, &n);
        IS_INT(n, 2, "only the two valid runs were stored");
        tf_store_free(s);
}

static void test_open_refusals(void) {
        _cleanup_error_ tf_error *err = NULL;
        tf_store *s = NULL;

        _cleanup_free_ char *target = in_dir("target.db"), *link = in_dir("link.db");
        tf_store_free(open_ok(target));
        OK(symlink(target, link) == 0, "symlink made");
        IS_INT(tf_store_open(link, 0, &s, &err), -ELOOP, "a symlinked history: -ELOOP");
        IS_STR(msg(err),
               kept("history '%s' is a symbolic link: refused (the state dir's files must be its "
                    "own: remove the link)",
                    link),
               "  its message");
        IS_INT(tf_store_open(link, TF_STORE_READONLY, &s, &err), -ELOOP, "  read-only too");

        _cleanup_free_ char *garbage = in_dir("garbage.db");
        _cleanup_close_ int fd = open(garbage, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        char junk[8192];
        for (size_t i = 0; i < sizeof(junk); i++)
                junk[i] = (char)(i * 7 + 3);
        OK(write(fd, junk, sizeof(junk)) == (ssize_t)sizeof(junk), "garbage written");
        IS_INT(tf_store_open(garbage, 0, &s, &err), -EBADMSG, "a file that is not SQLite: -EBADMSG");
        IS_STR(msg(err),
               kept("history '%s': set journal_mode WAL: file is not a database (move the file "
                    "aside, and its -wal and -shm files, to start an empty history, or restore it "
                    "from a backup)",
                    garbage),
               "  its message");
        IS_INT(tf_store_open(garbage, TF_STORE_READONLY, &s, &err), -EBADMSG, "  read-only too");
        IS_STR(msg(err),
               kept("history '%s': PRAGMA application_id: file is not a database (move the file "
                    "aside, and its -wal and -shm files, to start an empty history, or restore it "
                    "from a backup)",
                    garbage),
               "  its message");

        _cleanup_free_ char *other = in_dir("other.db");
        sqlite3 *db = NULL;
        sqlite3_open(other, &db);
        sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL);
        sqlite3_close(db);
        IS_INT(tf_store_open(other, 0, &s, &err), -EBADMSG, "another program's SQLite database: -EBADMSG");
        IS_STR(msg(err),
               kept("history '%s': an SQLite database, but not a tfrun history (application_id 0): "
                    "move it aside, or give the manager another state dir",
                    other),
               "  its message");

        _cleanup_free_ char *future = in_dir("future.db");
        tf_store_free(open_ok(future));
        db = raw(future);
        sqlite3_exec(db, "PRAGMA user_version = 7", NULL, NULL, NULL);
        sqlite3_close(db);
        IS_INT(tf_store_open(future, 0, &s, &err), -EPROTO, "a newer schema: -EPROTO");
        IS_STR(msg(err),
               kept("history '%s': schema version 7 was written by a newer tfrun (this one knows up "
                    "to 3): run that version, or move the file aside",
                    future),
               "  its message");

        _cleanup_free_ char *missing = in_dir("missing.db");
        IS_INT(tf_store_open(missing, TF_STORE_READONLY, &s, &err), -ENOENT,
               "read-only open of a missing file");
        OK(access(missing, F_OK) < 0, "  creates nothing");

        _cleanup_free_ char *fifo = in_dir("fifo.db");
        mkfifo(fifo, 0600);
        IS_INT(tf_store_open(fifo, TF_STORE_READONLY, &s, &err), -EINVAL, "a FIFO: refused without hanging");
        IS_STR(msg(err), kept("history '%s' is not a regular file", fifo), "  its message");

        _cleanup_free_ char *loose = in_dir("loose.db");
        _cleanup_close_ int lfd = open(loose, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        fchmod(lfd, 0644);
        tf_store_free(open_ok(loose));
        struct stat st;
        OK(stat(loose, &st) == 0 && (st.st_mode & 0777) == 0600,
           "an existing file others could read is made 0600");
}

/* Damage inside a file whose header is fine: the open may not see it; tf_store_check() does. */
static void test_damaged(void) {
        _cleanup_free_ char *path = in_dir("damaged.db");
        _cleanup_error_ tf_error *err = NULL;
        tf_store *s = open_ok(path);
        char id[32];
        for (int i = 0; i < 200; i++) {
                snprintf(id, sizeof(id), "d-%d", i);
                begin(s, id, "d", 10 + (uint64_t)i, "m");
        }
        tf_store_free(s); /* the last connection checkpoints the WAL into the file */
        struct stat st;
        OK(stat(path, &st) == 0 && st.st_size >= 4 * 4096, "a history of several pages");
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        char junk[4096];
        memset(junk, 0x5a, sizeof(junk));
        OK(pwrite(fd, junk, sizeof(junk), 2 * 4096) == (ssize_t)sizeof(junk), "page 3 overwritten");
        int r = tf_store_open(path, 0, &s, &err);
        if (r == 0)
                r = tf_store_check(s, &err);
        IS_INT(r, -EBADMSG, "the damage is found: -EBADMSG");
        OK(strstr(msg(err), path) && strstr(msg(err), "move it aside"),
           "  the message names the file and what to do");
        printf("# %s\n", msg(err));
        tf_store_free(s);
}

static void test_locked_and_readonly(void) {
        _cleanup_free_ char *path = in_dir("locked.db");
        _cleanup_error_ tf_error *err = NULL;
        tf_store *s = open_ok(path);
        begin(s, "a-1", "a", 10, "m");

        /* Another connection takes the write lock and keeps it. */
        sqlite3 *db = raw(path);
        OK(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK,
           "another connection holds the write lock");
        struct tf_store_run r = mkrun("a-2", "a", 20, "m");
        IS_INT(tf_store_run_begin(s, &r, &err), -EBUSY, "run_begin: -EBUSY, not a wait");
        IS_STR(msg(err),
               kept("history '%s': record run a-2: database is locked (another process holds the "
                    "database locked: only one tfrun up may use a state dir)",
                    path),
               "  its message");
        IS_INT(end(s, "a-1", "success", 11, NULL), -EBUSY, "run_end: -EBUSY");
        IS_INT(tf_store_mark_lost(s, "m", NULL, NULL, NULL, &err), -EBUSY, "mark_lost: -EBUSY");
        IS_INT(tf_store_retention(s, "a", 1, 0, NULL, NULL, &err), -EBUSY, "retention: -EBUSY");
        int n;
        _cleanup_free_ char *rows = query(s, (struct tf_store_filter){}, &n);
        IS_STR(rows, "a-1", "reads still work beside a writer (WAL)");
        tf_store *s2 = NULL;
        _cleanup_free_ char *fresh = in_dir("locked2.db");
        tf_store_free(open_ok(fresh));
        OK(tf_store_open(path, 0, &s2, &err) == 0, "a second open of a current schema needs no write lock");
        tf_store_free(s2);
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        OK(tf_store_run_begin(s, &r, &err) == 0, "once the lock is gone, writes work again");
        sqlite3_close(db);
        tf_store_free(s);

        /* A schema to create while another holds the lock: the open fails at once too. */
        _cleanup_free_ char *empty = in_dir("empty-locked.db");
        db = NULL;
        sqlite3_open(empty, &db);
        sqlite3_exec(db, "PRAGMA journal_mode = WAL; BEGIN IMMEDIATE", NULL, NULL, NULL);
        IS_INT(tf_store_open(empty, 0, &s2, &err), -EBUSY,
               "creating the schema under another's lock: -EBUSY");
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(db);

        OK(tf_store_open(path, TF_STORE_READONLY, &s, &err) == 0, "a read-only open");
        rows = (free(rows), query(s, (struct tf_store_filter){}, &n));
        IS_STR(rows, "a-2 a-1", "  reads");
        r = mkrun("a-3", "a", 30, "m");
        IS_INT(tf_store_run_begin(s, &r, &err), -EROFS, "  writes: -EROFS");
        IS_STR(msg(err),
               kept("history '%s': record run a-3: attempt to write a readonly database (opened "
                    "read-only)",
                    path),
               "  its message");
        tf_store_free(s);
}

static long long count_range(sqlite3 *db, const char *where, unsigned long lo, long long hi) {
        _cleanup_free_ char *sql =
                tf_asprintf("SELECT count(*) FROM runs WHERE CAST(substr(run_id, 3) AS INTEGER) "
                            "BETWEEN ?1 AND ?2 AND %s",
                            where);
        sqlite3_stmt *st = NULL;
        sqlite3_prepare_v2(db, sql, -1, &st, NULL);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)lo);
        sqlite3_bind_int64(st, 2, hi);
        long long n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
        sqlite3_finalize(st);
        return n;
}

/* Crash durability: store-writer is killed with SIGKILL once it has reported `after` commits (it may
 * have run ahead: everything it wrote on the pipe before it died counts as reported). Every commit any
 * writer reported must be there, and the file intact. Writer k records w-first[k], w-first[k]+1, ...
 * in order, so what it reported is a range. */
static void test_kill(void) {
        _cleanup_free_ char *path = in_dir("crash.db");
        static const unsigned after[] = {1, 7, 60, 250, 4};
        unsigned long first[ELEMENTSOF(after)], next = 0;
        long long last_began[ELEMENTSOF(after)], last_ended[ELEMENTSOF(after)];

        for (size_t k = 0; k < ELEMENTSOF(after); k++) {
                int p[2];
                if (pipe2(p, O_CLOEXEC) < 0)
                        abort();
                char arg[32], manager[32];
                first[k] = next;
                last_began[k] = last_ended[k] = (long long)next - 1;
                snprintf(arg, sizeof(arg), "%lu", next);
                snprintf(manager, sizeof(manager), "writer-%zu", k);
                pid_t pid = fork();
                if (pid == 0) {
                        dup2(p[1], STDOUT_FILENO);
                        execl(writer, writer, path, arg, manager, (char *)NULL);
                        _exit(127);
                }
                close(p[1]);
                _cleanup_fclose_ FILE *f = fdopen(p[0], "r");
                char line[64];
                unsigned seen = 0;
                bool killed = false;
                while (fgets(line, sizeof(line), f)) {
                        char what;
                        unsigned long i;
                        if (sscanf(line, "%c %lu", &what, &i) != 2)
                                break;
                        if (what == 'b')
                                last_began[k] = (long long)i;
                        else
                                last_ended[k] = (long long)i;
                        next = i + 2; /* past what it may have committed and not reported */
                        if (++seen == after[k] && !killed) {
                                kill(pid, SIGKILL);
                                killed = true;
                        }
                }
                int status;
                waitpid(pid, &status, 0);
                OK(seen >= after[k] && killed && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                   "writer %zu killed with SIGKILL after %u reported commits (%u reported in all)", k,
                   after[k], seen);

                sqlite3 *db = raw(path);
                _cleanup_free_ char *ic = raw_text(db, "PRAGMA integrity_check");
                IS_STR(ic, "ok", "  integrity_check after the kill");
                long long want_b = 0, want_e = 0, got_b = 0, got_e = 0;
                for (size_t j = 0; j <= k; j++) {
                        want_b += last_began[j] - (long long)first[j] + 1;
                        want_e += last_ended[j] - (long long)first[j] + 1;
                        got_b += count_range(db, "1", first[j], last_began[j]);
                        got_e +=
                                count_range(db, "status IN ('success', 'failure')", first[j], last_ended[j]);
                }
                IS_INT(got_b, want_b, "  every run any writer reported begun is there");
                IS_INT(got_e, want_e, "  every run any writer reported ended has its end");
                sqlite3_close(db);

                /* The next manager finds at most the one run that was in flight and marks it lost. */
                _cleanup_error_ tf_error *err = NULL;
                tf_store *s = open_ok(path);
                unsigned n = 99;
                OK(tf_store_mark_lost(s, "next", NULL, NULL, &n, &err) == 0 && n <= 1,
                   "  a reopen sweeps at most the run in flight (%u)", n);
                int total =
                        tf_store_query(s, &(struct tf_store_filter){.status = "running"}, NULL, NULL, &err);
                IS_INT(total, 0, "  and none is left running");
                tf_store_free(s);
        }
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
        return remove(p);
}

static int collect_token(const struct tf_store_token *t, void *userdata) {
        char **out = userdata;
        char *n = tf_asprintf("%s%s%s:%s:%s:%s:%d", *out ? *out : "", *out ? " " : "", t->name, t->role,
                              t->services ? t->services : "-", t->hash, t->last_used_usec != 0);
        free(*out);
        *out = n;
        return 0;
}

/* Tokens: add, a name taken, bad input, use, revoke; and a version 1 history (what tfrun wrote before the
 * tokens table) migrated to version 2 with its runs kept. */
static void test_tokens(const char *fixture) {
        _cleanup_error_ tf_error *err = NULL;
        _cleanup_free_ char *path = in_dir("tokens.db");
        tf_store *s = open_ok(path);
        static const char h1[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
                          h2[] = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
        struct tf_store_token t = { .name = "ci", .role = "read", .hash = h1, .created_usec = 1000 };
        IS_INT(tf_store_token_add(s, &t, &err), 0, "a token is added");
        struct tf_store_token again = t;
        again.hash = "0000000000000000000000000000000000000000000000000000000000000000";
        IS_INT(tf_store_token_add(s, &again, &err), -EEXIST, "the same name again: -EEXIST");
        IS_STR(msg(err), "a token named 'ci' exists already (revoke it first)", "  its message");
        struct tf_store_token u = { .name = "ops", .role = "operate", .services = "a,b", .hash = h2,
                                    .created_usec = 2000 };
        IS_INT(tf_store_token_add(s, &u, &err), 0, "a token limited to services");
        struct tf_store_token bad = u;
        bad.name = "x", bad.hash = "ABC";
        IS_INT(tf_store_token_add(s, &bad, &err), -EINVAL, "a hash that is not 64 hex digits: -EINVAL");
        bad.hash = h1, bad.services = "a;drop";
        IS_INT(tf_store_token_add(s, &bad, &err), -EINVAL, "services with a ';': -EINVAL");
        IS_INT(tf_store_token_used(s, "ops", 5000, &err), 0, "a use is recorded");
        _cleanup_free_ char *list = NULL;
        IS_INT(tf_store_tokens(s, collect_token, &list, &err), 2, "two tokens listed");
        _cleanup_free_ char *want = tf_asprintf("ci:read:-:%s:0 ops:operate:a,b:%s:1", h1, h2);
        IS_STR(list, want, "  by name, with role, services, hash and use");
        OK(begin(s, "a-1", "a", 100, "m1") == 0 && begin(s, "b-1", "b", 200, "m1") == 0 &&
                   begin(s, "c-1", "c", 300, "m1") == 0,
           "runs of a, b and c");
        struct tf_store_filter f = { .services = "a,b" };
        IS_INT(tf_store_query(s, &f, NULL, NULL, &err), 2, "a query limited to services a,b: their 2 runs");
        f.services = "c";
        IS_INT(tf_store_query(s, &f, NULL, NULL, &err), 1, "limited to c: 1 run");
        f.services = "a' OR 1";
        IS_INT(tf_store_query(s, &f, NULL, NULL, &err), -EINVAL, "services with a quote: -EINVAL");
        IS_INT(tf_store_token_remove(s, "ci", &err), 0, "a token is revoked");
        IS_INT(tf_store_token_remove(s, "ci", &err), -ENOENT, "revoked twice: -ENOENT");
        free(list);
        list = NULL;
        IS_INT(tf_store_tokens(s, collect_token, &list, &err), 1, "one token left");
        tf_store_free(s);

        /* A version 1 file: the version 2 fixture without the tokens table, as the previous tfrun left it.
         */
        _cleanup_free_ char *v1 = in_dir("v1.db");
        sqlite3 *db = raw_create(v1);
        OK(load_file(db, fixture) == 0 &&
                   sqlite3_exec(db,
                                "INSERT INTO runs (run_id, service, trigger, attempt, started_usec, status, "
                                "backend, manager_id) VALUES ('old-1', 'old', 'manual', 1, 100, 'running', "
                                "'native', 'm1'); DROP TABLE tokens; PRAGMA user_version = 1",
                                NULL, NULL, NULL) == SQLITE_OK,
           "v1: the file made a version 1 history");
        sqlite3_close(db);
        s = open_ok(v1);
        db = raw(v1);
        _cleanup_free_ char *uv = raw_text(db, "PRAGMA user_version"),
                            *tt = raw_text(db, "SELECT count(*) FROM sqlite_master WHERE name = 'tokens'");
        sqlite3_close(db);
        IS_STR(uv, "3", "v1 migrated: user_version 3");
        IS_STR(tt, "1", "v1 migrated: the tokens table exists");
        _cleanup_free_ struct tf_store_run *r = NULL;
        OK(tf_store_get_run(s, "old-1", &r, &err) == 0, "v1 migrated: its run is kept");
        IS_INT(tf_store_token_add(s, &t, &err), 0, "v1 migrated: a token can be added");
        tf_store_free(s);
}

/* The database file alone (its WAL left out): what it holds without the WAL, as after a power loss. */
static char *db_alone(const char *path, const char *copy, const char *sql) {
        size_t n = 0;
        FILE *in = fopen(path, "rb"), *out = fopen(copy, "wb");
        if (!in || !out)
                abort();
        char buf[65536];
        while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
                if (fwrite(buf, 1, n, out) != n)
                        abort();
        fclose(in);
        fclose(out);
        sqlite3 *db = raw(copy);
        char *t = raw_text(db, sql);
        sqlite3_close(db);
        _cleanup_free_ char *wal = tf_asprintf("%s-wal", copy), *shm = tf_asprintf("%s-shm", copy);
        unlink(copy), unlink(wal), unlink(shm);
        return t;
}

/* The checkpoint sequence of a WAL file's header (big-endian, bytes 12-15); UINT32_MAX when unreadable. */
static uint32_t wal_seq(const char *wal) {
        unsigned char h[32];
        int fd = open(wal, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? pread(fd, h, sizeof(h), 0) : -1;
        if (fd >= 0)
                close(fd);
        if (n != (ssize_t) sizeof(h))
                return UINT32_MAX;
        return (uint32_t) h[12] << 24 | (uint32_t) h[13] << 16 | (uint32_t) h[14] << 8 | h[15];
}

/* A commit stays in the WAL (SQLite checkpoints on its own only past 4,000 pages) until the owner's
 * checkpoint moves it into the database file. */
static void test_checkpoint(void) {
        _cleanup_free_ char *path = in_dir("ckpt.db"), *copy = in_dir("ckpt-copy.db");
        _cleanup_error_ tf_error *err = NULL;
        tf_store *s = open_ok(path);
        IS_INT(begin(s, "ck-1-1", "ck", 1700000000000000, "boot:1:1"), 0, "a run recorded");
        _cleanup_free_ char *before = db_alone(path, copy, "SELECT count(*) FROM runs");
        _cleanup_free_ char *wal = tf_asprintf("%s-wal", path);
        uint32_t seq0 = wal_seq(wal);
        OK(!streq(before, "1"), "before the checkpoint the database file alone lacks the run (%s)", before);
        IS_INT(tf_store_checkpoint(s, &err), 0, "checkpoint");
        _cleanup_free_ char *after = db_alone(path, copy, "SELECT count(*) FROM runs");
        IS_STR(after, "1", "after it the database file alone holds the run");
        /* The WAL was restarted at the checkpoint (a new header, then one frame of the schema version):
         * its checkpoint sequence (the header's bytes 12-15) moved on then, and the next commit appends to
         * it instead of restarting it and paying the restart's sync. */
        IS_INT((long long) wal_seq(wal), (long long) seq0 + 1, "the checkpoint restarted the WAL");
        IS_INT(begin(s, "ck-1-2", "ck", 1700000000000001, "boot:1:1"), 0, "a second run recorded");
        IS_INT((long long) wal_seq(wal), (long long) seq0 + 1, "the next commit did not restart it again");
        IS_INT(tf_store_checkpoint(s, &err), 0, "a second checkpoint");
        tf_store_free(s);
}

int main(int argc, char **argv) {
        if (argc != 3) {
                fprintf(stderr, "usage: test-store STORE_WRITER V2_FIXTURE\n");
                return 2;
        }
        writer = argv[1];
        snprintf(dir, sizeof(dir), "/tmp/tf-store-XXXXXX");
        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return 1;
        }
        test_schema();
        test_runs();
        test_query();
        test_retention_and_counts();
        test_mark_lost();
        test_steps();
        test_service_state();
        test_tokens(argv[2]);
        test_migrate_v2(argv[2]);
        test_checkpoint();
        test_bad_input();
        test_open_refusals();
        test_damaged();
        test_locked_and_readonly();
        test_kill();
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        tf_strv_free(kept_strings);
        return tap_done();
}
