/* SPDX-License-Identifier: MIT */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/strutil.h"
#include "base/timeutil.h"

/* 'tfru': PRAGMA application_id tells a tfrun history from any other SQLite file. */
#define APPLICATION_ID 0x74667275
#define USEC_PER_DAY (UINT64_C(86400) * 1000000)
/* Retention deletes at most this many runs per transaction, so that the log paths it hands back after the
 * commit are a bounded list. */
#define RETENTION_BATCH 500
/* SQLite's automatic checkpoint, after a commit that grows the WAL past this many pages (16 MiB): only for
 * an owner that never calls tf_store_checkpoint() at a quiet moment (see tf_store_open()). */
#define CHECKPOINT_PAGES 4000
/* A list of service names, as a token's services and a query's filter hold them. */
#define NAME_LIST_CHARS "abcdefghijklmnopqrstuvwxyz0123456789_.-,"

/*
 * Schema migrations: migrations[v] takes the schema from version v to v + 1, in one transaction with the
 * PRAGMA user_version that records it. The next version is a new entry at the end (an ALTER TABLE, or a
 * table rebuilt under a new name and renamed); an entry is never edited once released.
 */
static const char *const migrations[] = {
        /* 0 -> 1 */
        "CREATE TABLE runs ("
        "  run_id TEXT PRIMARY KEY NOT NULL,"
        "  service TEXT NOT NULL,"
        "  trigger TEXT NOT NULL,"
        "  attempt INTEGER NOT NULL,"
        "  scheduled_usec INTEGER,"
        "  started_usec INTEGER NOT NULL,"
        "  ended_usec INTEGER,"
        "  status TEXT NOT NULL,"
        "  reason TEXT,"
        "  exit_code INTEGER,"
        "  signal INTEGER,"
        "  oom INTEGER NOT NULL DEFAULT 0,"
        "  peak_memory INTEGER,"
        "  cpu_usec INTEGER,"
        "  backend TEXT NOT NULL,"
        "  log_path TEXT,"
        "  manager_id TEXT NOT NULL,"
        /* The invariant every query relies on, kept by the database too. */
        "  CHECK ((ended_usec IS NULL) = (status = 'running'))"
        ");"
        /* run_id after started_usec: the order of every listing, so the index gives it without a sort. */
        "CREATE INDEX runs_service_started ON runs(service, started_usec, run_id);"
        "CREATE INDEX runs_started ON runs(started_usec, run_id);"
        "CREATE INDEX runs_status ON runs(status, started_usec, run_id);"
        "CREATE TABLE steps ("
        "  run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"
        "  name TEXT NOT NULL,"
        "  position INTEGER NOT NULL,"
        "  status TEXT NOT NULL,"
        "  exit_code INTEGER,"
        "  started_usec INTEGER NOT NULL,"
        "  ended_usec INTEGER,"
        "  output_size INTEGER,"
        "  log_path TEXT,"
        "  PRIMARY KEY (run_id, name)"
        ");"
        "CREATE TABLE service_state ("
        "  service TEXT PRIMARY KEY NOT NULL,"
        "  enabled INTEGER NOT NULL,"
        "  last_fire_usec INTEGER,"
        "  json TEXT,"
        "  updated_usec INTEGER NOT NULL"
        ");"
        /* Totals per (service, status), counted when a run gets its final status and never decremented:
         * metrics counters must not go back when retention deletes rows. */
        "CREATE TABLE run_counts ("
        "  service TEXT NOT NULL,"
        "  status TEXT NOT NULL,"
        "  total INTEGER NOT NULL,"
        "  PRIMARY KEY (service, status)"
        ") WITHOUT ROWID;"
        "CREATE TRIGGER runs_count_insert AFTER INSERT ON runs WHEN NEW.status <> 'running' BEGIN"
        "  INSERT INTO run_counts(service, status, total) VALUES (NEW.service, NEW.status, 1)"
        "    ON CONFLICT(service, status) DO UPDATE SET total = total + 1;"
        "END;"
        "CREATE TRIGGER runs_count_end AFTER UPDATE OF status ON runs"
        "  WHEN OLD.status = 'running' AND NEW.status <> 'running' BEGIN"
        "  INSERT INTO run_counts(service, status, total) VALUES (NEW.service, NEW.status, 1)"
        "    ON CONFLICT(service, status) DO UPDATE SET total = total + 1;"
        "END;"
        "PRAGMA application_id = 1952871029;", /* APPLICATION_ID */
        /* 1 -> 2: the network API's bearer tokens, by hash only (manager/auth.c). */
        "CREATE TABLE tokens ("
        "  name TEXT PRIMARY KEY NOT NULL,"
        "  role TEXT NOT NULL,"
        "  services TEXT,"
        "  hash TEXT NOT NULL UNIQUE,"
        "  created_usec INTEGER NOT NULL,"
        "  last_used_usec INTEGER"
        ");",
        /* 2 -> 3: workflows (issue 13): a step's whole result and the output it passes on, which `tfrun
         * retry` reuses; the run a run retries. retry_of is no foreign key: retention may delete the run
         * retried, and the link then names a run that is gone, which is what happened. */
        "ALTER TABLE runs ADD COLUMN retry_of TEXT;"
        "ALTER TABLE steps ADD COLUMN reason TEXT;"
        "ALTER TABLE steps ADD COLUMN signal INTEGER;"
        "ALTER TABLE steps ADD COLUMN oom INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE steps ADD COLUMN peak_memory INTEGER;"
        "ALTER TABLE steps ADD COLUMN why TEXT;"
        "ALTER TABLE steps ADD COLUMN output BLOB;"
        "CREATE INDEX runs_retry_of ON runs(retry_of) WHERE retry_of IS NOT NULL;",
};
_Static_assert(ELEMENTSOF(migrations) == TF_STORE_SCHEMA_VERSION, "one migration per schema version");

#define RUN_COLS                                                                                            \
        "run_id, service, trigger, attempt, scheduled_usec, started_usec, ended_usec, status, reason, "     \
        "exit_code, signal, oom, peak_memory, cpu_usec, backend, log_path, manager_id, retry_of"
#define STEP_COLS                                                                                           \
        "run_id, name, position, status, exit_code, started_usec, ended_usec, output_size, log_path, "      \
        "reason, signal, oom, peak_memory, why, output"
#define ORDER_NEWEST " ORDER BY started_usec DESC, run_id DESC"

/* The fixed statements, prepared once on first use and kept. */
enum {
        ST_RUN_INSERT,
        ST_RUN_END,
        ST_RUN_STATUS,
        ST_RUN_GET,
        ST_RUN_LAST,
        ST_RUN_LAST_STATUS,
        ST_RUNNING_OTHERS,
        ST_MARK_LOST,
        ST_MARK_LOST_STEPS,
        ST_COUNTS,
        ST_RETENTION_VICTIMS,
        ST_STEP_LOGS,
        ST_RUN_DELETE,
        ST_STEP_INSERT,
        ST_STEP_END,
        ST_STEP_STATUS,
        ST_STEPS,
        ST_STEP_GET,
        ST_SERVICE_GET,
        ST_SERVICE_SET,
        ST_TOKEN_INSERT,
        ST_TOKEN_DELETE,
        ST_TOKEN_USED,
        ST_TOKENS,
        _ST_MAX,
};

static const char *const statements[_ST_MAX] = {
        [ST_RUN_INSERT] =
                "INSERT INTO runs (" RUN_COLS ") "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
        [ST_RUN_END] =
                "UPDATE runs SET ended_usec = ?2, status = ?3, reason = ?4, exit_code = ?5, signal = ?6, "
                "oom = ?7, peak_memory = ?8, cpu_usec = ?9, log_path = COALESCE(?10, log_path) "
                "WHERE run_id = ?1 AND ended_usec IS NULL",
        [ST_RUN_STATUS] = "SELECT status FROM runs WHERE run_id = ?1",
        [ST_RUN_GET] = "SELECT " RUN_COLS " FROM runs WHERE run_id = ?1",
        [ST_RUN_LAST] = "SELECT " RUN_COLS " FROM runs WHERE service = ?1" ORDER_NEWEST " LIMIT 1",
        [ST_RUN_LAST_STATUS] =
                "SELECT " RUN_COLS " FROM runs WHERE service = ?1 AND status = ?2" ORDER_NEWEST " LIMIT 1",
        [ST_RUNNING_OTHERS] = "SELECT " RUN_COLS
                              " FROM runs WHERE status = 'running' AND manager_id IS NOT ?1" ORDER_NEWEST,
        [ST_MARK_LOST] = "UPDATE runs SET status = 'lost', ended_usec = MAX(started_usec, ?2), "
                         "reason = 'its manager ' || manager_id || ' is gone' "
                         "WHERE run_id = ?1 AND ended_usec IS NULL",
        /* A lost run's steps that were running were stopped with it: cancelled, not running forever. */
        [ST_MARK_LOST_STEPS] = "UPDATE steps SET status = 'cancelled', ended_usec = MAX(started_usec, ?2), "
                               "reason = 'its run was lost' WHERE run_id = ?1 AND ended_usec IS NULL",
        [ST_COUNTS] = "SELECT service, status, total FROM run_counts "
                      "UNION ALL SELECT service, 'running', count(*) FROM runs WHERE status = 'running' "
                      "GROUP BY service ORDER BY 1, 2",
        /* Ended runs of ?1 beyond the newest ?2 (when ?2 > 0) or ended before ?3 (when ?3 > 0). */
        [ST_RETENTION_VICTIMS] =
                "SELECT run_id, log_path FROM runs WHERE service = ?1 AND status <> 'running' AND ("
                "  (?2 > 0 AND run_id IN (SELECT run_id FROM runs WHERE service = ?1 AND status <> "
                "'running'" ORDER_NEWEST " LIMIT -1 OFFSET ?2))"
                "  OR (?3 > 0 AND ended_usec < ?3)) LIMIT ?4",
        [ST_STEP_LOGS] =
                "SELECT log_path FROM steps WHERE run_id = ?1 AND log_path IS NOT NULL ORDER BY position",
        [ST_RUN_DELETE] = "DELETE FROM runs WHERE run_id = ?1",
        [ST_STEP_INSERT] = "INSERT INTO steps (" STEP_COLS ") "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        [ST_STEP_END] =
                "UPDATE steps SET status = ?3, exit_code = ?4, ended_usec = ?5, output_size = ?6, "
                "log_path = COALESCE(?7, log_path), reason = ?8, signal = ?9, oom = ?10, peak_memory = ?11, "
                "why = ?12, output = ?13 WHERE run_id = ?1 AND name = ?2 AND ended_usec IS NULL",
        [ST_STEP_STATUS] = "SELECT status FROM steps WHERE run_id = ?1 AND name = ?2",
        [ST_STEPS] = "SELECT " STEP_COLS " FROM steps WHERE run_id = ?1 ORDER BY position, name",
        [ST_STEP_GET] = "SELECT " STEP_COLS " FROM steps WHERE run_id = ?1 AND name = ?2",
        [ST_SERVICE_GET] = "SELECT service, enabled, last_fire_usec, json, updated_usec FROM service_state "
                           "WHERE service = ?1",
        [ST_SERVICE_SET] =
                "INSERT INTO service_state (service, enabled, last_fire_usec, json, updated_usec) "
                "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(service) DO UPDATE SET "
                "enabled = excluded.enabled, last_fire_usec = excluded.last_fire_usec, "
                "json = excluded.json, updated_usec = excluded.updated_usec",
        [ST_TOKEN_INSERT] = "INSERT INTO tokens (name, role, services, hash, created_usec, last_used_usec) "
                            "VALUES (?1, ?2, ?3, ?4, ?5, NULL)",
        [ST_TOKEN_DELETE] = "DELETE FROM tokens WHERE name = ?1",
        [ST_TOKEN_USED] = "UPDATE tokens SET last_used_usec = ?2 WHERE name = ?1",
        [ST_TOKENS] = "SELECT name, role, services, hash, created_usec, last_used_usec FROM tokens "
                      "ORDER BY name",
};

struct tf_store {
        sqlite3 *db;
        char *path;
        bool readonly;
        sqlite3_stmt *st[_ST_MAX];
};

static const char *const run_statuses[] = {
        "running", "success", "failure", "timeout", "oom", "cancelled", "skipped", "lost",
};
/* A step is never lost (its run is), and may be reused by a retry. */
static const char *const step_statuses[] = {
        "running", "success", "failure", "timeout", "oom", "cancelled", "skipped", "reused",
};

/* ---- errors ------------------------------------------------------------------------------------------ */

static int errno_of(int rc) {
        switch (rc & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return EBUSY;
        case SQLITE_READONLY:
                return EROFS;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
                return EBADMSG;
        case SQLITE_FULL:
                return ENOSPC;
        case SQLITE_NOMEM:
                return ENOMEM;
        case SQLITE_PERM:
        case SQLITE_AUTH:
                return EACCES;
        case SQLITE_TOOBIG:
                return E2BIG;
        case SQLITE_CANTOPEN:
                return ENOENT;
        case SQLITE_CONSTRAINT:
                if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
                        return EEXIST;
                if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
                        return ENOENT;
                return EINVAL;
        default:
                return EIO;
        }
}

static const char *hint_of(int rc, bool readonly) {
        switch (rc & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return " (another process holds the database locked: only one tfrun up may use a state dir)";
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
                return " (move the file aside, and its -wal and -shm files, to start an empty history, or "
                       "restore it from a backup)";
        case SQLITE_READONLY:
                return readonly ? " (opened read-only)" : " (the file or its directory is read-only)";
        case SQLITE_FULL:
                return " (the file system is full)";
        default:
                return "";
        }
}

/* "history 'PATH': CONTEXT: SQLite's message (hint)", returning the matching -errno. */
static __attribute__((format(printf, 4, 5))) int sql_fail(tf_store *s, int rc, tf_error **err,
                                                          const char *fmt, ...) {
        char ctx[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx, sizeof(ctx), fmt, ap);
        va_end(ap);
        const char *msg = s->db && sqlite3_errcode(s->db) == rc ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
        return tf_error_set(err, errno_of(rc), "history '%s': %s: %s%s", s->path, ctx, msg,
                            hint_of(rc, s->readonly));
}

/* ---- input validation -------------------------------------------------------------------------------- */

/* The input, quoted for a message: at most 48 bytes, anything unprintable as \xNN. */
static void quote(char *buf, size_t len, const char *s, size_t n) {
        size_t o = 0;
        for (size_t i = 0; i < n && o + 5 < len; i++) {
                unsigned char c = (unsigned char)s[i];
                if (i >= 48) {
                        o += (size_t)snprintf(buf + o, len - o, "...");
                        break;
                }
                if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\')
                        buf[o++] = (char)c;
                else
                        o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
        }
        buf[o < len ? o : len - 1] = 0;
}

static int invalid(tf_error **err, const char *what, const char *s, size_t n, const char *expected) {
        char q[256];
        quote(q, sizeof(q), s, n);
        return tf_error_set(err, EINVAL, "store: %s '%s' is invalid: expected %s", what, q, expected);
}

/* Identifiers: run ids "<name>-<pid>-<n>", service names, backends, manager ids, step names. */
static int check_id(const char *s, const char *what, tf_error **err) {
        static const char expected[] = "1 to 255 bytes of letters, digits, '_', '.', ':', '@' and '-'";
        if (!s)
                return tf_error_set(err, EINVAL, "store: %s is missing", what);
        size_t n = strnlen(s, TF_STORE_ID_MAX + 1);
        if (n == 0 || n > TF_STORE_ID_MAX)
                return invalid(err, what, s, n, expected);
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      strchr("_.:@-", c)))
                        return invalid(err, what, s, n, expected);
        }
        return 0;
}

/* trigger: a lower-case word. */
static int check_word(const char *s, const char *what, tf_error **err) {
        static const char expected[] = "1 to 32 lower-case letters, digits and '-', starting with a letter";
        if (!s)
                return tf_error_set(err, EINVAL, "store: %s is missing", what);
        size_t n = strnlen(s, TF_STORE_WORD_MAX + 1);
        if (n == 0 || n > TF_STORE_WORD_MAX || !(s[0] >= 'a' && s[0] <= 'z'))
                return invalid(err, what, s, n, expected);
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
                        return invalid(err, what, s, n, expected);
        return 0;
}

static int check_status(const char *s, const char *what, tf_error **err) {
        static const char expected[] = "running, success, failure, timeout, oom, cancelled, skipped or lost";
        if (!s)
                return tf_error_set(err, EINVAL, "store: %s is missing", what);
        for (size_t i = 0; i < ELEMENTSOF(run_statuses); i++)
                if (streq(s, run_statuses[i]))
                        return 0;
        return invalid(err, what, s, strnlen(s, TF_STORE_WORD_MAX + 1), expected);
}

static int check_step_status(const char *s, tf_error **err) {
        static const char expected[] =
                "running, success, failure, timeout, oom, cancelled, skipped or reused";
        if (!s)
                return tf_error_set(err, EINVAL, "store: step status is missing");
        for (size_t i = 0; i < ELEMENTSOF(step_statuses); i++)
                if (streq(s, step_statuses[i]))
                        return 0;
        return invalid(err, "step status", s, strnlen(s, TF_STORE_WORD_MAX + 1), expected);
}

/* Well-formed UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF); control characters only
 * those in `allowed`. Returns the offset of the first bad byte, or n. */
static size_t utf8_bad(const unsigned char *p, size_t n, const char *allowed) {
        size_t i = 0;
        while (i < n) {
                unsigned char c = p[i];
                if (c < 0x80) {
                        if ((c < 0x20 || c == 0x7f) && !(c && strchr(allowed, c)))
                                return i;
                        i++;
                        continue;
                }
                size_t len;
                uint32_t cp, min;
                if ((c & 0xe0) == 0xc0)
                        len = 2, cp = c & 0x1f, min = 0x80;
                else if ((c & 0xf0) == 0xe0)
                        len = 3, cp = c & 0x0f, min = 0x800;
                else if ((c & 0xf8) == 0xf0)
                        len = 4, cp = c & 0x07, min = 0x10000;
                else
                        return i;
                if (n - i < len)
                        return i;
                for (size_t k = 1; k < len; k++) {
                        if ((p[i + k] & 0xc0) != 0x80)
                                return i;
                        cp = (cp << 6) | (p[i + k] & 0x3f);
                }
                if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return i;
                i += len;
        }
        return n;
}

/* Free text of n bytes (NULL allowed): UTF-8, at most max bytes, control characters only from allowed. */
static int check_text(const char *s, size_t n, size_t max, const char *allowed, const char *what,
                      tf_error **err) {
        if (!s)
                return 0;
        if (n > max)
                return tf_error_set(err, EINVAL, "store: %s is %zu bytes long: at most %zu are stored", what,
                                    n, max);
        size_t bad = utf8_bad((const unsigned char *)s, n, allowed);
        if (bad < n) {
                char q[32];
                quote(q, sizeof(q), s + bad, 1);
                return tf_error_set(err, EINVAL, "store: %s has '%s' at byte %zu: expected %s", what, q, bad,
                                    !s[bad]                        ? "text without NUL bytes"
                                    : (unsigned char)s[bad] < 0x80 ? "text without control characters"
                                                                   : "well-formed UTF-8");
        }
        return 0;
}

static int check_cstr(const char *s, size_t max, const char *allowed, const char *what, tf_error **err) {
        return s ? check_text(s, strnlen(s, max + 1), max, allowed, what, err) : 0;
}

static int check_path(const char *s, const char *what, tf_error **err) {
        if (!s)
                return 0;
        if (s[0] != '/')
                return invalid(err, what, s, strnlen(s, TF_STORE_PATH_MAX + 1), "an absolute path");
        return check_cstr(s, TF_STORE_PATH_MAX, "", what, err);
}

static int check_time(uint64_t t, const char *what, tf_error **err) {
        if (t > INT64_MAX)
                return tf_error_set(err, ERANGE, "store: %s %llu is out of range", what,
                                    (unsigned long long)t);
        return 0;
}

/* ---- statements ------------------------------------------------------------------------------------- */

static void stmt_resetp(sqlite3_stmt **st) {
        if (*st) {
                sqlite3_reset(*st);
                sqlite3_clear_bindings(*st);
        }
}
static void stmt_finalizep(sqlite3_stmt **st) {
        sqlite3_finalize(*st);
}
#define _cleanup_reset_ _cleanup_(stmt_resetp)
#define _cleanup_finalize_ _cleanup_(stmt_finalizep)

static int stmt(tf_store *s, int id, sqlite3_stmt **ret, tf_error **err) {
        if (!s->st[id]) {
                int rc = sqlite3_prepare_v3(s->db, statements[id], -1, SQLITE_PREPARE_PERSISTENT, &s->st[id],
                                            NULL);
                if (rc != SQLITE_OK)
                        return sql_fail(s, rc, err, "prepare statement %d", id);
        }
        *ret = s->st[id];
        return 0;
}

/* Borrowed text: the caller's string outlives the statement's use of it. */
static void bind_text(sqlite3_stmt *st, int i, const char *v) {
        if (v)
                sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
        else
                sqlite3_bind_null(st, i);
}
/* 0 is NULL: "not scheduled", "still running". */
static void bind_time(sqlite3_stmt *st, int i, uint64_t v) {
        if (v)
                sqlite3_bind_int64(st, i, (sqlite3_int64)v);
        else
                sqlite3_bind_null(st, i);
}
static void bind_int(sqlite3_stmt *st, int i, int64_t v, int64_t none) {
        if (v == none)
                sqlite3_bind_null(st, i);
        else
                sqlite3_bind_int64(st, i, v);
}

static const char *col_text(sqlite3_stmt *st, int i) {
        return (const char *)sqlite3_column_text(st, i);
}
static int64_t col_int(sqlite3_stmt *st, int i, int64_t none) {
        return sqlite3_column_type(st, i) == SQLITE_NULL ? none : sqlite3_column_int64(st, i);
}

/* One statement that returns no rows, run to completion. */
static int step_done(tf_store *s, sqlite3_stmt *st, tf_error **err, const char *what) {
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
                return sql_fail(s, rc, err, "%s", what);
        return 0;
}

static int exec(tf_store *s, const char *sql, tf_error **err) {
        int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
                return sql_fail(s, sqlite3_extended_errcode(s->db), err, "%s", sql);
        return 0;
}

/* A PRAGMA takes no bound parameter; the number is ours, not input. */
static int write_schema_version(tf_store *s, tf_error **err) {
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", TF_STORE_SCHEMA_VERSION);
        return exec(s, sql, err);
}

/* Ends a transaction that was not committed (every early return after BEGIN). */
static void rollbackp(tf_store **s) {
        if (*s && !sqlite3_get_autocommit((*s)->db))
                sqlite3_exec((*s)->db, "ROLLBACK", NULL, NULL, NULL);
}
#define _cleanup_rollback_ _cleanup_(rollbackp)

/* ---- open, schema ------------------------------------------------------------------------------------ */

static int pragma_int(tf_store *s, const char *sql, int64_t *ret, tf_error **err) {
        _cleanup_finalize_ sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
        if (rc == SQLITE_OK) {
                rc = sqlite3_step(st);
                if (rc == SQLITE_ROW) {
                        *ret = sqlite3_column_int64(st, 0);
                        return 0;
                }
        }
        return sql_fail(s, sqlite3_extended_errcode(s->db), err, "%s", sql);
}

static int migrate(tf_store *s, tf_error **err) {
        int64_t version, app_id, objects;
        int r;

        /* The first read of the file: here a file that is not SQLite at all fails (SQLITE_NOTADB). */
        r = pragma_int(s, "PRAGMA application_id", &app_id, err);
        if (r < 0)
                return r;
        r = pragma_int(s, "PRAGMA user_version", &version, err);
        if (r < 0)
                return r;
        r = pragma_int(s, "SELECT count(*) FROM sqlite_master", &objects, err);
        if (r < 0)
                return r;
        if (app_id != APPLICATION_ID && !(app_id == 0 && version == 0 && objects == 0))
                return tf_error_set(
                        err, EBADMSG,
                        "history '%s': an SQLite database, but not a tfrun history (application_id "
                        "%lld): move it aside, or give the manager another state dir",
                        s->path, (long long)app_id);
        if (version > TF_STORE_SCHEMA_VERSION)
                return tf_error_set(
                        err, EPROTO,
                        "history '%s': schema version %lld was written by a newer tfrun (this one "
                        "knows up to %d): run that version, or move the file aside",
                        s->path, (long long)version, TF_STORE_SCHEMA_VERSION);
        if (version == TF_STORE_SCHEMA_VERSION)
                return 0;
        if (s->readonly)
                return tf_error_set(
                        err, EROFS,
                        "history '%s': schema version %lld needs migrating to %d, which a read-only "
                        "open cannot do: open it read-write once (tfrun up does)",
                        s->path, (long long)version, TF_STORE_SCHEMA_VERSION);

        _cleanup_rollback_ tf_store *txn = s;
        r = exec(s, "BEGIN IMMEDIATE", err);
        if (r < 0)
                return r;
        /* Again inside the write lock: another process may have migrated it meanwhile. */
        r = pragma_int(s, "PRAGMA user_version", &version, err);
        if (r < 0)
                return r;
        for (int64_t v = version; v < TF_STORE_SCHEMA_VERSION; v++) {
                r = exec(s, migrations[v], err);
                if (r < 0)
                        return tf_error_prefix(err, "migrate schema %lld to %lld", (long long)v,
                                               (long long)v + 1);
        }
        r = write_schema_version(s, err);
        if (r < 0)
                return r;
        return exec(s, "COMMIT", err);
}

int tf_store_checkpoint(tf_store *s, tf_error **err) {
        int frames = 0, done = 0;
        int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &frames, &done);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
                return sql_fail(s, rc, err, "checkpoint");
        /* Everything moved: the next writer restarts the WAL from its start, and that rewrites the WAL
         * header with an fdatasync of its own (about a millisecond here, under synchronous=NORMAL too),
         * which would land on the first run recorded after a pause, in the path of the next trigger. One
         * write of nothing new (the schema version again) pays for it now, while it is quiet. */
        if (rc == SQLITE_OK && frames > 0 && done == frames)
                return write_schema_version(s, err);
        return 0;
}

tf_store *tf_store_free(tf_store *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < _ST_MAX; i++)
                sqlite3_finalize(s->st[i]);
        /* The last connection to close checkpoints the WAL into the database and removes it. */
        sqlite3_close_v2(s->db);
        free(s->path);
        free(s);
        return NULL;
}

int tf_store_open(const char *path, unsigned flags, tf_store **ret, tf_error **err) {
        bool ro = flags & TF_STORE_READONLY;
        int r;

        if (!path || !*path || strnlen(path, PATH_MAX) >= PATH_MAX)
                return tf_error_set(err, EINVAL, "store: the history path is empty or too long");

        /*
         * Our own open first: it creates the file with mode 0600 (SQLite would use 0644 less the umask) and
         * refuses a symbolic link by name; O_NONBLOCK so that a FIFO put there cannot hang the open.
         * SQLite then opens the same name with SQLITE_OPEN_NOFOLLOW, and the -wal and -shm files it makes
         * take this file's mode.
         */
        _cleanup_close_ int fd = open(
                path, (ro ? O_RDONLY : O_RDWR | O_CREAT) | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                0600);
        if (fd < 0) {
                if (errno == ELOOP)
                        return tf_error_set(
                                err, ELOOP,
                                "history '%s' is a symbolic link: refused (the state dir's files "
                                "must be its own: remove the link)",
                                path);
                return tf_error_setc(err, errno, "open history '%s'", path);
        }
        struct stat st;
        if (fstat(fd, &st) < 0)
                return tf_error_setc(err, errno, "stat history '%s'", path);
        if (!S_ISREG(st.st_mode))
                return tf_error_set(err, EINVAL, "history '%s' is not a regular file", path);
        /* History is private to the manager: an existing file others may read is made 0600 again. */
        if (!ro && (st.st_mode & 077) && fchmod(fd, st.st_mode & 0700) < 0)
                return tf_error_setc(err, errno, "chmod history '%s'", path);

        _cleanup_store_ tf_store *s = tf_malloc0(sizeof(*s));
        s->path = tf_strdup(path);
        s->readonly = ro;
        int rc = sqlite3_open_v2(path, &s->db,
                                 (ro ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOFOLLOW |
                                         SQLITE_OPEN_NOMUTEX,
                                 NULL);
        if (rc != SQLITE_OK) {
                if (!s->db)
                        return tf_error_set(err, ENOMEM, "history '%s': %s", path, sqlite3_errstr(rc));
                return sql_fail(s, rc, err, "open");
        }
        sqlite3_extended_result_codes(s->db, 1);

        /* The name still is the file we checked (the state dir is the manager's, but say so cheaply). Our
         * descriptor is closed before SQLite takes any lock: closing another descriptor of the same file
         * would drop the process's POSIX locks on it. */
        struct stat st2;
        if (stat(path, &st2) < 0 || st2.st_dev != st.st_dev || st2.st_ino != st.st_ino)
                return tf_error_set(err, EAGAIN, "history '%s' was replaced while being opened", path);
        close(TAKE_FD(fd));

        /*
         * Never wait for a lock: a locked database fails the call with -EBUSY at once, because the
         * manager's loop must not block, and another writer can only be a second manager on the same
         * state dir, which the caller's lock already refuses.
         */
        sqlite3_busy_timeout(s->db, 0);
        /* The schema is ours alone: no SQL function, trigger or view in it may do more than plain SQL, and
         * no statement may write the schema by hand. */
        sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
        sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
        sqlite3_db_config(s->db, SQLITE_DBCONFIG_ENABLE_FKEY, 1, NULL);
        /* A row holds at most a step's output (TF_STORE_OUTPUT_MAX) and bounded text beside it. */
        sqlite3_limit(s->db, SQLITE_LIMIT_LENGTH, 2 * TF_STORE_OUTPUT_MAX);

        if (!ro) {
                /*
                 * WAL with synchronous=NORMAL: a commit appends to the WAL without an fsync; the WAL is
                 * synced at each checkpoint. A process killed at any instant (kill -9, a crash) loses
                 * nothing committed, since the WAL is in the page cache the kernel writes out anyway. A
                 * power loss or kernel crash may lose the last transactions since the last checkpoint, but
                 * never corrupts the database: recovery replays the WAL up to its last valid commit. For a
                 * history of runs that is durable enough, and it keeps an fsync off every run's start and
                 * end.
                 *
                 * The checkpoint itself (fdatasync of the WAL, the pages copied, fdatasync of the database:
                 * 5-6 ms here, once per ~110 runs) is the owner's to call at a quiet moment
                 * (tf_store_checkpoint(); the manager's comes a second after its history's last write),
                 * not SQLite's in whichever commit crossed 1,000 pages: that one stalled a run's start in
                 * the manager's loop (bench/manager.sh). SQLite's own stays as the bound for a history
                 * that never goes quiet, at CHECKPOINT_PAGES. Nothing changes for a crash; a power loss
                 * now loses at most the writes of the last second (or of the last CHECKPOINT_PAGES), where
                 * it could lose up to 1,000 pages of a history written slowly, hours of it.
                 */
                _cleanup_finalize_ sqlite3_stmt *jm = NULL;
                rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &jm, NULL);
                if (rc == SQLITE_OK)
                        rc = sqlite3_step(jm);
                if (rc != SQLITE_ROW)
                        return sql_fail(s, sqlite3_extended_errcode(s->db), err, "set journal_mode WAL");
                if (!streq(col_text(jm, 0), "wal"))
                        return tf_error_set(err, EIO, "history '%s': journal_mode WAL refused (got %s)",
                                            path, col_text(jm, 0) ? col_text(jm, 0) : "nothing");
                r = exec(s, "PRAGMA synchronous = NORMAL", err);
                if (r < 0)
                        return r;
                char sql[64];
                snprintf(sql, sizeof(sql), "PRAGMA wal_autocheckpoint = %d", CHECKPOINT_PAGES);
                r = exec(s, sql, err);
                if (r < 0)
                        return r;
                /* Bounds the WAL file on disk: a checkpoint leaves it at its largest size otherwise. */
                r = exec(s, "PRAGMA journal_size_limit = 8388608", err);
                if (r < 0)
                        return r;
        }
        /* steps' ON DELETE CASCADE relies on it; a build of SQLite without foreign keys says 0 here. */
        int64_t fk = 0;
        r = pragma_int(s, "PRAGMA foreign_keys", &fk, err);
        if (r < 0)
                return r;
        if (fk != 1)
                return tf_error_set(err, ENOTSUP, "history '%s': this SQLite does not enforce foreign keys",
                                    path);
        r = migrate(s, err);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

int tf_store_check(tf_store *s, tf_error **err) {
        _cleanup_finalize_ sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(s->db, "PRAGMA quick_check(1)", -1, &st, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
                return sql_fail(s, sqlite3_extended_errcode(s->db), err, "quick_check");
        if (streq(col_text(st, 0), "ok"))
                return 0;
        /* One line: SQLite's report reads "*** in database main ***\nPage 3: ...". */
        const char *t = col_text(st, 0) ? col_text(st, 0) : "?";
        if (tf_startswith(t, "*** in database main ***\n"))
                t += strlen("*** in database main ***\n");
        _cleanup_free_ char *line = tf_strndup(t, 512);
        for (char *c = line; *c; c++)
                if (*c == '\n')
                        *c = ' ';
        return tf_error_set(
                err, EBADMSG,
                "history '%s' is damaged: %s (move it aside, and its -wal and -shm files, to start an "
                "empty history, or restore it from a backup)",
                s->path, line);
}

/* ---- runs -------------------------------------------------------------------------------------------- */

static void read_run(sqlite3_stmt *st, struct tf_store_run *r) {
        *r = (struct tf_store_run){
                .run_id = col_text(st, 0),
                .service = col_text(st, 1),
                .trigger = col_text(st, 2),
                .attempt = col_int(st, 3, 0),
                .scheduled_usec = (uint64_t)col_int(st, 4, 0),
                .started_usec = (uint64_t)col_int(st, 5, 0),
                .ended_usec = (uint64_t)col_int(st, 6, 0),
                .status = col_text(st, 7),
                .reason = col_text(st, 8),
                .exit_code = (int)col_int(st, 9, -1),
                .signal = (int)col_int(st, 10, 0),
                .oom = col_int(st, 11, 0) != 0,
                .peak_memory = col_int(st, 12, TF_STORE_UNKNOWN),
                .cpu_usec = col_int(st, 13, TF_STORE_UNKNOWN),
                .backend = col_text(st, 14),
                .log_path = col_text(st, 15),
                .manager_id = col_text(st, 16),
                .retry_of = col_text(st, 17),
        };
}

/* A copy of r in one allocation, its strings after the struct. */
static struct tf_store_run *run_copy(const struct tf_store_run *r) {
        const char *const src[] = {r->run_id,  r->service,  r->trigger,    r->status,  r->reason,
                                   r->backend, r->log_path, r->manager_id, r->retry_of};
        size_t len = sizeof(*r);
        for (size_t i = 0; i < ELEMENTSOF(src); i++)
                len += src[i] ? strlen(src[i]) + 1 : 0;
        struct tf_store_run *c = tf_malloc0(len);
        *c = *r;
        char *p = (char *)(c + 1);
        const char **dst[] = {&c->run_id,  &c->service,  &c->trigger,    &c->status,  &c->reason,
                              &c->backend, &c->log_path, &c->manager_id, &c->retry_of};
        for (size_t i = 0; i < ELEMENTSOF(src); i++) {
                if (!src[i])
                        continue;
                size_t n = strlen(src[i]) + 1;
                memcpy(p, src[i], n);
                *dst[i] = p;
                p += n;
        }
        return c;
}

static int check_result(const struct tf_store_run *run, tf_error **err) {
        int r;
        if ((r = check_status(run->status, "status", err)) < 0 ||
            (r = check_cstr(run->reason, TF_STORE_REASON_MAX, "\t\n", "reason", err)) < 0 ||
            (r = check_path(run->log_path, "log_path", err)) < 0 ||
            (r = check_time(run->ended_usec, "ended_usec", err)) < 0)
                return r;
        if (run->exit_code < -1 || run->exit_code > 255)
                return tf_error_set(err, EINVAL, "store: exit_code %d is out of range (0 to 255, -1: none)",
                                    run->exit_code);
        if (run->signal < 0 || run->signal > 128)
                return tf_error_set(err, EINVAL, "store: signal %d is out of range", run->signal);
        if (run->peak_memory < TF_STORE_UNKNOWN || run->cpu_usec < TF_STORE_UNKNOWN)
                return tf_error_set(err, EINVAL,
                                    "store: peak_memory and cpu_usec are >= 0 or TF_STORE_UNKNOWN");
        return 0;
}

int tf_store_run_begin(tf_store *s, const struct tf_store_run *run, tf_error **err) {
        struct tf_store_run v = *run;
        sqlite3_stmt *p = NULL;
        int r;

        if (!v.status)
                v.status = "running";
        if ((r = check_id(v.run_id, "run_id", err)) < 0 || (r = check_id(v.service, "service", err)) < 0 ||
            (r = check_word(v.trigger, "trigger", err)) < 0 ||
            (r = check_id(v.backend, "backend", err)) < 0 ||
            (r = check_id(v.manager_id, "manager_id", err)) < 0 ||
            (v.retry_of && (r = check_id(v.retry_of, "retry_of", err)) < 0) ||
            (r = check_result(&v, err)) < 0 ||
            (r = check_time(v.scheduled_usec, "scheduled_usec", err)) < 0 ||
            (r = check_time(v.started_usec, "started_usec", err)) < 0)
                return r;
        if (v.started_usec == 0)
                return tf_error_set(err, EINVAL, "store: run %s: started_usec is missing", v.run_id);
        if ((v.ended_usec == 0) != streq(v.status, "running"))
                return tf_error_set(
                        err, EINVAL,
                        "store: run %s: status %s with %s: a run is running exactly until it ends", v.run_id,
                        v.status, v.ended_usec ? "an end time" : "no end time");
        if (v.attempt < 1)
                return tf_error_set(err, EINVAL, "store: run %s: attempt %lld: expected 1 or more", v.run_id,
                                    (long long)v.attempt);

        r = stmt(s, ST_RUN_INSERT, &p, err);
        if (r < 0)
                return r;
        _cleanup_reset_ sqlite3_stmt *st = p;
        bind_text(st, 1, v.run_id);
        bind_text(st, 2, v.service);
        bind_text(st, 3, v.trigger);
        sqlite3_bind_int64(st, 4, v.attempt);
        bind_time(st, 5, v.scheduled_usec);
        bind_time(st, 6, v.started_usec);
        bind_time(st, 7, v.ended_usec);
        bind_text(st, 8, v.status);
        bind_text(st, 9, v.reason);
        bind_int(st, 10, v.exit_code, -1);
        bind_int(st, 11, v.signal, 0);
        sqlite3_bind_int(st, 12, v.oom);
        bind_int(st, 13, v.peak_memory, TF_STORE_UNKNOWN);
        bind_int(st, 14, v.cpu_usec, TF_STORE_UNKNOWN);
        bind_text(st, 15, v.backend);
        bind_text(st, 16, v.log_path);
        bind_text(st, 17, v.manager_id);
        bind_text(st, 18, v.retry_of);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
                return tf_error_set(err, EEXIST, "history '%s': run %s is already recorded", s->path,
                                    v.run_id);
        if (rc != SQLITE_DONE)
                return sql_fail(s, rc, err, "record run %s", v.run_id);
        return 0;
}

/* Why a row keyed by id was not updated: it is not there (-ENOENT), or has ended (-EALREADY). */
static int not_updated(tf_store *s, int id, const char *what, const char *run_id, const char *name,
                       tf_error **err) {
        sqlite3_stmt *p = NULL;
        int r = stmt(s, id, &p, err);
        if (r < 0)
                return r;
        _cleanup_reset_ sqlite3_stmt *st = p;
        bind_text(st, 1, run_id);
        if (name)
                bind_text(st, 2, name);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return tf_error_set(err, ENOENT, "history '%s': no %s %s%s%s", s->path, what, run_id,
                                    name ? " step " : "", name ? name : "");
        if (rc != SQLITE_ROW)
                return sql_fail(s, rc, err, "look up %s %s", what, run_id);
        return tf_error_set(err, EALREADY, "history '%s': %s %s%s%s has already ended (%s)", s->path, what,
                            run_id, name ? " step " : "", name ? name : "", col_text(st, 0));
}

int tf_store_run_end(tf_store *s, const struct tf_store_run *run, tf_error **err) {
        sqlite3_stmt *p = NULL;
        int r;

        if ((r = check_id(run->run_id, "run_id", err)) < 0 || (r = check_result(run, err)) < 0)
                return r;
        if (streq(run->status, "running"))
                return tf_error_set(err, EINVAL, "store: run %s: an end needs a final status, not running",
                                    run->run_id);
        r = stmt(s, ST_RUN_END, &p, err);
        if (r < 0)
                return r;
        _cleanup_reset_ sqlite3_stmt *st = p;
        bind_text(st, 1, run->run_id);
        bind_time(st, 2, run->ended_usec ? run->ended_usec : tf_now(CLOCK_REALTIME));
        bind_text(st, 3, run->status);
        bind_text(st, 4, run->reason);
        bind_int(st, 5, run->exit_code, -1);
        bind_int(st, 6, run->signal, 0);
        sqlite3_bind_int(st, 7, run->oom);
        bind_int(st, 8, run->peak_memory, TF_STORE_UNKNOWN);
        bind_int(st, 9, run->cpu_usec, TF_STORE_UNKNOWN);
        bind_text(st, 10, run->log_path);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
                return sql_fail(s, rc, err, "record the end of run %s", run->run_id);
        if (sqlite3_changes(s->db) == 0)
                return not_updated(s, ST_RUN_STATUS, "run", run->run_id, NULL, err);
        return 0;
}

int tf_store_mark_lost(tf_store *s, const char *current_manager_id, tf_store_run_cb cb, void *userdata,
                       unsigned *ret_n, tf_error **err) {
        _cleanup_strv_free_ char **ids = NULL;
        sqlite3_stmt *p = NULL;
        int r;

        r = check_id(current_manager_id, "manager_id", err);
        if (r < 0)
                return r;
        _cleanup_rollback_ tf_store *txn = s;
        r = exec(s, "BEGIN IMMEDIATE", err);
        if (r < 0)
                return r;
        {
                r = stmt(s, ST_RUNNING_OTHERS, &p, err);
                if (r < 0)
                        return r;
                _cleanup_reset_ sqlite3_stmt *st = p;
                bind_text(st, 1, current_manager_id);
                int rc;
                while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                        struct tf_store_run run;
                        read_run(st, &run);
                        if (cb) {
                                r = cb(&run, userdata);
                                if (r < 0)
                                        return r;
                        }
                        /* Changed after the scan: an update under a running SELECT of the same rows could
                         * move them in the index it walks. */
                        tf_strv_push(&ids, run.run_id);
                        if (r > 0)
                                break;
                }
                if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                        return sql_fail(s, rc, err, "list running runs");
        }
        uint64_t now = tf_now(CLOCK_REALTIME);
        for (int which = ST_MARK_LOST; which <= ST_MARK_LOST_STEPS; which++) {
                r = stmt(s, which, &p, err);
                if (r < 0)
                        return r;
                _cleanup_reset_ sqlite3_stmt *st = p;
                for (char **id = ids; id && *id; id++) {
                        sqlite3_reset(st);
                        bind_text(st, 1, *id);
                        bind_time(st, 2, now);
                        r = step_done(s, st, err,
                                      which == ST_MARK_LOST ? "mark runs lost" : "end lost runs' steps");
                        if (r < 0)
                                return r;
                }
        }
        r = exec(s, "COMMIT", err);
        if (r < 0)
                return r;
        if (ret_n)
                *ret_n = (unsigned)tf_strv_length(ids);
        return 0;
}

static int get_one(tf_store *s, sqlite3_stmt *st, const char *what, struct tf_store_run **ret,
                   tf_error **err) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return tf_error_set(err, ENOENT, "history '%s': no %s", s->path, what);
        if (rc != SQLITE_ROW)
                return sql_fail(s, rc, err, "look up %s", what);
        struct tf_store_run run;
        read_run(st, &run);
        *ret = run_copy(&run);
        return 0;
}

int tf_store_get_run(tf_store *s, const char *run_id, struct tf_store_run **ret, tf_error **err) {
        sqlite3_stmt *p = NULL;
        int r;
        if ((r = check_id(run_id, "run_id", err)) < 0 || (r = stmt(s, ST_RUN_GET, &p, err)) < 0)
                return r;
        _cleanup_reset_ sqlite3_stmt *st = p;
        bind_text(st, 1, run_id);
        char what[TF_STORE_ID_MAX + 8];
        snprintf(what, sizeof(what), "run %s", run_id);
        return get_one(s, st, what, ret, err);
}

int tf_store_last_run(tf_store *s, const char *service, const char *status, struct tf_store_run **ret,
                      tf_error **err) {
        sqlite3_stmt *p = NULL;
        int r;
        if ((r = check_id(service, "service", err)) < 0 ||
            (status && (r = check_status(status, "status", err)) < 0))
                return r;
        r = stmt(s, status ? ST_RUN_LAST_STATUS : ST_RUN_LAST, &p, err);
        if (r < 0)
                return r;
        _cleanup_reset_ sqlite3_stmt *st = p;
        bind_text(st, 1, service);
        if (status)
                bind_text(st, 2, status);
        char what[TF_STORE_ID_MAX + 64];
        snprintf(what, sizeof(what), "%s%srun of service %s", status ? status : "", status ? " " : "",
                 service);
        return get_one(s, st, what, ret, err);
}

static int run_exists(tf_store *s, const char *run_id, tf_error **err) {
        sqlite3_stmt *p = NULL;
        int r = stmt(s, ST_RUN_STATUS, &p, err);
        if (r < 0)
                return r;
        _cleanup_reset_ sqlite3_stmt *st = p;
        bind_text(st, 1, run_id);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return tf_error_set(err, ENOENT, "history '%s': no run %s", s->path, run_id);
        if (rc != SQLITE_ROW)
                return sql_fail(s, rc, err, "look up run %s", run_id);
        return 0;
}

int tf_store_query(tf_store *s, const struct tf_store_filter *filter, tf_store_run_cb cb, void *userdata,
                   tf_error **err) {
        static const struct tf_store_filter none = {};
        const struct tf_store_filter *f = filter ? filter : &none;
        int r;

        if ((f->service && (r = check_id(f->service, "service", err)) < 0) ||
            (f->status && (r = check_status(f->status, "status", err)) < 0) ||
            (f->before && (r = check_id(f->before, "before", err)) < 0) ||
            (f->after && (r = check_id(f->after, "after", err)) < 0) ||
            (r = check_time(f->since_usec, "since_usec", err)) < 0)
                return r;
        if (f->services) {
                size_t n = strnlen(f->services, TF_STORE_REASON_MAX + 1);
                if (n > TF_STORE_REASON_MAX || strspn(f->services, NAME_LIST_CHARS) != n)
                        return invalid(err, "services", f->services, n, "service names separated by ','");
        }
        if (f->limit > TF_STORE_QUERY_MAX)
                return tf_error_set(err, EINVAL, "store: limit %u: at most %d rows per query", f->limit,
                                    TF_STORE_QUERY_MAX);
        if ((f->before && (r = run_exists(s, f->before, err)) < 0) ||
            (f->after && (r = run_exists(s, f->after, err)) < 0))
                return r;

        /*
         * The statement is put together from the constant fragments below, chosen by which filters are
         * set; every value is a bound parameter. With `after`, the rows next to it are the oldest newer
         * ones, so those are picked in ascending order and then given newest first like every other list.
         */
        char sql[1024] = "";
        if (f->after)
                strcat(sql, "SELECT * FROM (");
        strcat(sql, "SELECT " RUN_COLS " FROM runs WHERE 1");
        if (f->service)
                strcat(sql, " AND service = :service");
        if (f->services)
                strcat(sql, " AND instr(',' || :services || ',', ',' || service || ',') > 0");
        if (f->status)
                strcat(sql, " AND status = :status");
        if (f->since_usec)
                strcat(sql, " AND started_usec >= :since");
        if (f->before)
                strcat(sql, " AND (started_usec, run_id) < (SELECT started_usec, run_id FROM runs WHERE "
                            "run_id = :before)");
        if (f->after)
                strcat(sql, " AND (started_usec, run_id) > (SELECT started_usec, run_id FROM runs WHERE "
                            "run_id = :after)"
                            " ORDER BY started_usec ASC, run_id ASC LIMIT :limit)");
        strcat(sql, ORDER_NEWEST);
        if (!f->after)
                strcat(sql, " LIMIT :limit");

        _cleanup_finalize_ sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
        if (rc != SQLITE_OK)
                return sql_fail(s, rc, err, "prepare the query");
        if (f->service)
                bind_text(st, sqlite3_bind_parameter_index(st, ":service"), f->service);
        if (f->status)
                bind_text(st, sqlite3_bind_parameter_index(st, ":status"), f->status);
        if (f->services)
                bind_text(st, sqlite3_bind_parameter_index(st, ":services"), f->services);
        if (f->since_usec)
                bind_time(st, sqlite3_bind_parameter_index(st, ":since"), f->since_usec);
        if (f->before)
                bind_text(st, sqlite3_bind_parameter_index(st, ":before"), f->before);
        if (f->after)
                bind_text(st, sqlite3_bind_parameter_index(st, ":after"), f->after);
        sqlite3_bind_int(st, sqlite3_bind_parameter_index(st, ":limit"),
                         f->limit ? (int)f->limit : TF_STORE_QUERY_MAX);

        int n = 0;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                struct tf_store_run run;
                read_run(st, &run);
                n++;
                if (cb) {
                        r = cb(&run, userdata);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                return n;
                }
        }
        if (rc != SQLITE_DONE)
                return sql_fail(s, rc, err, "query runs");
        return n;
}

int tf_store_counts(tf_store *s, tf_store_count_cb cb, void *userdata, tf_error **err) {
        sqlite3_stmt *p = NULL;
        int r = stmt(s, ST_COUNTS, &p, err);
        if (r < 0)
                return r;
        _cleanup_reset_ sqlite3_stmt *st = p;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                r = cb(col_text(st, 0), col_text(st, 1), (uint64_t)sqlite3_column_int64(st, 2), userdata);
                if (r < 0)
                        return r;
                if (r > 0)
                        return 0;
        }
        if (rc != SQLITE_DONE)
                return sql_fail(s, rc, err, "count runs");
        return 0;
}

/* One batch of retention: deletes up to RETENTION_BATCH runs in one transaction and returns their log
 * files as pairs (run_id, log_path) in *logs. Returns the number of runs deleted. */
static int retention_batch(tf_store *s, const char *service, unsigned keep_n, uint64_t cutoff, char ***logs,
                           tf_error **err) {
        _cleanup_strv_free_ char **ids = NULL;
        sqlite3_stmt *p = NULL;
        int r;

        _cleanup_rollback_ tf_store *txn = s;
        r = exec(s, "BEGIN IMMEDIATE", err);
        if (r < 0)
                return r;
        {
                r = stmt(s, ST_RETENTION_VICTIMS, &p, err);
                if (r < 0)
                        return r;
                _cleanup_reset_ sqlite3_stmt *st = p;
                bind_text(st, 1, service);
                sqlite3_bind_int64(st, 2, keep_n);
                sqlite3_bind_int64(st, 3, (sqlite3_int64)cutoff);
                sqlite3_bind_int(st, 4, RETENTION_BATCH);
                int rc;
                /* Pairs (run_id, log_path or ""). */
                while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                        tf_strv_push(&ids, col_text(st, 0));
                        tf_strv_push(&ids, col_text(st, 1) ? col_text(st, 1) : "");
                }
                if (rc != SQLITE_DONE)
                        return sql_fail(s, rc, err, "find runs to delete");
        }
        for (char **id = ids; id && id[0] && id[1]; id += 2) {
                if (id[1][0]) {
                        tf_strv_push(logs, id[0]);
                        tf_strv_push(logs, id[1]);
                }
                {
                        r = stmt(s, ST_STEP_LOGS, &p, err);
                        if (r < 0)
                                return r;
                        _cleanup_reset_ sqlite3_stmt *st = p;
                        bind_text(st, 1, *id);
                        int rc;
                        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                                tf_strv_push(logs, *id);
                                tf_strv_push(logs, col_text(st, 0));
                        }
                        if (rc != SQLITE_DONE)
                                return sql_fail(s, rc, err, "list the steps of run %s", *id);
                }
                r = stmt(s, ST_RUN_DELETE, &p, err);
                if (r < 0)
                        return r;
                _cleanup_reset_ sqlite3_stmt *st = p;
                bind_text(st, 1, *id);
                int rc = sqlite3_step(st);
                if (rc != SQLITE_DONE)
                        return sql_fail(s, rc, err, "delete run %s", id[0]);
        }
        r = exec(s, "COMMIT", err);
        if (r < 0)
                return r;
        return (int)tf_strv_length(ids) / 2;
}

int tf_store_retention(tf_store *s, const char *service, unsigned keep_n, unsigned keep_days,
                       tf_store_log_cb cb, void *userdata, tf_error **err) {
        int r, total = 0;

        r = check_id(service, "service", err);
        if (r < 0)
                return r;
        if (keep_n == 0 && keep_days == 0)
                return 0;
        uint64_t now = tf_now(CLOCK_REALTIME), cutoff = 0;
        if (keep_days) {
                uint64_t span = (uint64_t)keep_days * USEC_PER_DAY;
                /* Older than the epoch cannot be: nothing is deleted by age. A cutoff of 1 still counts. */
                cutoff = now > span ? now - span : 1;
        }
        for (;;) {
                _cleanup_strv_free_ char **logs = NULL;
                int n = retention_batch(s, service, keep_n, cutoff, &logs, err);
                if (n < 0)
                        return n;
                total += n;
                /* After the commit: a log file is removed only once no row names it any more. */
                for (char **l = logs; cb && l && l[0] && l[1]; l += 2) {
                        r = cb(l[0], l[1], userdata);
                        if (r < 0)
                                return r;
                }
                if (n < RETENTION_BATCH)
                        return total;
        }
}

/* ---- steps ------------------------------------------------------------------------------------------- */

static int check_step(const struct tf_store_step *step, tf_error **err) {
        int r;
        if ((r = check_id(step->run_id, "run_id", err)) < 0 ||
            (r = check_id(step->name, "step name", err)) < 0 ||
            (r = check_step_status(step->status, err)) < 0 ||
            (r = check_path(step->log_path, "step log_path", err)) < 0 ||
            (r = check_cstr(step->reason, TF_STORE_REASON_MAX, "\t\n", "step reason", err)) < 0 ||
            (r = check_cstr(step->why, TF_STORE_REASON_MAX, "\t\n", "step why", err)) < 0 ||
            (r = check_time(step->started_usec, "step started_usec", err)) < 0 ||
            (r = check_time(step->ended_usec, "step ended_usec", err)) < 0)
                return r;
        if (step->exit_code < -1 || step->exit_code > 255)
                return tf_error_set(err, EINVAL,
                                    "store: step exit_code %d is out of range (0 to 255, -1: none)",
                                    step->exit_code);
        if (step->signal < 0 || step->signal > 128)
                return tf_error_set(err, EINVAL, "store: step signal %d is out of range", step->signal);
        if (step->output_size < TF_STORE_UNKNOWN || step->peak_memory < TF_STORE_UNKNOWN)
                return tf_error_set(err, EINVAL,
                                    "store: step output_size and peak_memory are >= 0 or TF_STORE_UNKNOWN");
        /* Any bytes: an output is what the step printed, passed on byte-exact. Longer is refused, not cut:
         * a cut output reused by a retry would be a different input. */
        if (step->output && step->output_len > TF_STORE_OUTPUT_MAX)
                return tf_error_set(err, EINVAL,
                                    "store: step %s: its output is %zu bytes long: at most %d are stored",
                                    step->name, step->output_len, TF_STORE_OUTPUT_MAX);
        return 0;
}

/* output NULL is NULL; an empty output is a zero-length BLOB, so that "none" and "empty" stay apart. */
static void bind_output(sqlite3_stmt *st, int i, const struct tf_store_step *step) {
        if (step->output)
                sqlite3_bind_blob64(st, i, step->output_len ? step->output : "", step->output_len,
                                    SQLITE_STATIC);
        else
                sqlite3_bind_null(st, i);
}

static int64_t step_output_size(const struct tf_store_step *step) {
        return step->output ? (int64_t)step->output_len : step->output_size;
}

int tf_store_step_begin(tf_store *s, const struct tf_store_step *step, tf_error **err) {
        sqlite3_stmt *p = NULL;
        int r;
        if ((r = check_step(step, err)) < 0)
                return r;
        if (step->started_usec == 0)
                return tf_error_set(err, EINVAL, "store: step %s: started_usec is missing", step->name);
        if ((step->ended_usec == 0) != streq(step->status, "running"))
                return tf_error_set(err, EINVAL, "store: step %s: status %s with %s", step->name,
                                    step->status, step->ended_usec ? "an end time" : "no end time");
        r = stmt(s, ST_STEP_INSERT, &p, err);
        if (r < 0)
                return r;
        _cleanup_reset_ sqlite3_stmt *st = p;
        bind_text(st, 1, step->run_id);
        bind_text(st, 2, step->name);
        sqlite3_bind_int64(st, 3, step->order);
        bind_text(st, 4, step->status);
        bind_int(st, 5, step->exit_code, -1);
        bind_time(st, 6, step->started_usec);
        bind_time(st, 7, step->ended_usec);
        bind_int(st, 8, step_output_size(step), TF_STORE_UNKNOWN);
        bind_text(st, 9, step->log_path);
        bind_text(st, 10, step->reason);
        bind_int(st, 11, step->signal, 0);
        sqlite3_bind_int(st, 12, step->oom);
        bind_int(st, 13, step->peak_memory, TF_STORE_UNKNOWN);
        bind_text(st, 14, step->why);
        bind_output(st, 15, step);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
                return tf_error_set(err, EEXIST, "history '%s': run %s already has a step %s", s->path,
                                    step->run_id, step->name);
        if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
                return tf_error_set(err, ENOENT, "history '%s': no run %s (for step %s)", s->path,
                                    step->run_id, step->name);
        if (rc != SQLITE_DONE)
                return sql_fail(s, rc, err, "record step %s of run %s", step->name, step->run_id);
        return 0;
}

int tf_store_step_end(tf_store *s, const struct tf_store_step *step, tf_error **err) {
        sqlite3_stmt *p = NULL;
        int r;
        if ((r = check_step(step, err)) < 0)
                return r;
        if (streq(step->status, "running"))
                return tf_error_set(err, EINVAL, "store: step %s: an end needs a final status, not running",
                                    step->name);
        r = stmt(s, ST_STEP_END, &p, err);
        if (r < 0)
                return r;
        _cleanup_reset_ sqlite3_stmt *st = p;
        bind_text(st, 1, step->run_id);
        bind_text(st, 2, step->name);
        bind_text(st, 3, step->status);
        bind_int(st, 4, step->exit_code, -1);
        bind_time(st, 5, step->ended_usec ? step->ended_usec : tf_now(CLOCK_REALTIME));
        bind_int(st, 6, step_output_size(step), TF_STORE_UNKNOWN);
        bind_text(st, 7, step->log_path);
        bind_text(st, 8, step->reason);
        bind_int(st, 9, step->signal, 0);
        sqlite3_bind_int(st, 10, step->oom);
        bind_int(st, 11, step->peak_memory, TF_STORE_UNKNOWN);
        bind_text(st, 12, step->why);
        bind_output(st, 13, step);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
                return sql_fail(s, rc, err, "record the end of step %s of run %s", step->name, step->run_id);
        if (sqlite3_changes(s->db) == 0)
                return not_updated(s, ST_STEP_STATUS, "run", step->run_id, step->name, err);
        return 0;
}

static void read_step(sqlite3_stmt *st, struct tf_store_step *step) {
        bool has_output = sqlite3_column_type(st, 14) != SQLITE_NULL;
        *step = (struct tf_store_step){
                .run_id = col_text(st, 0),
                .name = col_text(st, 1),
                .order = col_int(st, 2, 0),
                .status = col_text(st, 3),
                .exit_code = (int)col_int(st, 4, -1),
                .started_usec = (uint64_t)col_int(st, 5, 0),
                .ended_usec = (uint64_t)col_int(st, 6, 0),
                .output_size = col_int(st, 7, TF_STORE_UNKNOWN),
                .log_path = col_text(st, 8),
                .reason = col_text(st, 9),
                .signal = (int)col_int(st, 10, 0),
                .oom = col_int(st, 11, 0) != 0,
                .peak_memory = col_int(st, 12, TF_STORE_UNKNOWN),
                .why = col_text(st, 13),
        };
        if (has_output) {
                /* An empty BLOB's pointer is NULL: "" keeps it an output. */
                const void *b = sqlite3_column_blob(st, 14);
                step->output_len = (size_t)sqlite3_column_bytes(st, 14);
                step->output = b ? b : "";
        }
}

int tf_store_steps(tf_store *s, const char *run_id, tf_store_step_cb cb, void *userdata, tf_error **err) {
        sqlite3_stmt *p = NULL;
        int r;
        if ((r = check_id(run_id, "run_id", err)) < 0 || (r = stmt(s, ST_STEPS, &p, err)) < 0)
                return r;
        _cleanup_reset_ sqlite3_stmt *st = p;
        bind_text(st, 1, run_id);
        int rc, n = 0;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                struct tf_store_step step;
                read_step(st, &step);
                n++;
                r = cb ? cb(&step, userdata) : 0;
                if (r < 0)
                        return r;
                if (r > 0)
                        return n;
        }
        if (rc != SQLITE_DONE)
                return sql_fail(s, rc, err, "list the steps of run %s", run_id);
        return n;
}

int tf_store_get_step(tf_store *s, const char *run_id, const char *name, struct tf_store_step **ret,
                      tf_error **err) {
        sqlite3_stmt *p = NULL;
        int r;
        if ((r = check_id(run_id, "run_id", err)) < 0 || (r = check_id(name, "step name", err)) < 0 ||
            (r = stmt(s, ST_STEP_GET, &p, err)) < 0)
                return r;
        _cleanup_reset_ sqlite3_stmt *st = p;
        bind_text(st, 1, run_id);
        bind_text(st, 2, name);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return tf_error_set(err, ENOENT, "history '%s': run %s has no step %s", s->path, run_id,
                                    name);
        if (rc != SQLITE_ROW)
                return sql_fail(s, rc, err, "look up step %s of run %s", name, run_id);
        struct tf_store_step step;
        read_step(st, &step);
        /* One allocation: the struct, then its strings, then the output (NUL-terminated for convenience). */
        const char *const src[] = {step.run_id,   step.name,   step.status,
                                   step.log_path, step.reason, step.why};
        size_t len = sizeof(step) + (step.output ? step.output_len + 1 : 0);
        for (size_t i = 0; i < ELEMENTSOF(src); i++)
                len += src[i] ? strlen(src[i]) + 1 : 0;
        struct tf_store_step *c = tf_malloc0(len);
        *c = step;
        char *q = (char *)(c + 1);
        const char **dst[] = {&c->run_id, &c->name, &c->status, &c->log_path, &c->reason, &c->why};
        for (size_t i = 0; i < ELEMENTSOF(src); i++) {
                if (!src[i])
                        continue;
                size_t n = strlen(src[i]) + 1;
                memcpy(q, src[i], n);
                *dst[i] = q;
                q += n;
        }
        if (step.output) {
                memcpy(q, step.output, step.output_len);
                q[step.output_len] = 0;
                c->output = q;
        }
        *ret = c;
        return 0;
}

/* ---- service state ----------------------------------------------------------------------------------- */

int tf_store_service_get(tf_store *s, const char *service, struct tf_store_service_state **ret,
                         tf_error **err) {
        sqlite3_stmt *p = NULL;
        int r;
        if ((r = check_id(service, "service", err)) < 0 || (r = stmt(s, ST_SERVICE_GET, &p, err)) < 0)
                return r;
        _cleanup_reset_ sqlite3_stmt *st = p;
        bind_text(st, 1, service);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return tf_error_set(err, ENOENT, "history '%s': no state for service %s", s->path, service);
        if (rc != SQLITE_ROW)
                return sql_fail(s, rc, err, "look up the state of service %s", service);
        const char *name = col_text(st, 0), *json = col_text(st, 3);
        size_t name_len = strlen(name), json_len = json ? (size_t)sqlite3_column_bytes(st, 3) : 0;
        struct tf_store_service_state *c = tf_malloc0(sizeof(*c) + name_len + 1 + (json ? json_len + 1 : 0));
        char *q = (char *)(c + 1);
        memcpy(q, name, name_len + 1);
        c->service = q;
        if (json) {
                memcpy(q + name_len + 1, json, json_len + 1);
                c->json = q + name_len + 1;
                c->json_len = json_len;
        }
        c->enabled = sqlite3_column_int(st, 1) != 0;
        c->last_fire_usec = (uint64_t)col_int(st, 2, 0);
        c->updated_usec = (uint64_t)col_int(st, 4, 0);
        *ret = c;
        return 0;
}

int tf_store_service_set(tf_store *s, const struct tf_store_service_state *state, tf_error **err) {
        sqlite3_stmt *p = NULL;
        int r;
        if ((r = check_id(state->service, "service", err)) < 0 ||
            (r = check_text(state->json, state->json_len, TF_STORE_JSON_MAX, "\t\n\r", "service state json",
                            err)) < 0 ||
            (r = check_time(state->last_fire_usec, "last_fire_usec", err)) < 0)
                return r;
        r = stmt(s, ST_SERVICE_SET, &p, err);
        if (r < 0)
                return r;
        _cleanup_reset_ sqlite3_stmt *st = p;
        bind_text(st, 1, state->service);
        sqlite3_bind_int(st, 2, state->enabled);
        bind_time(st, 3, state->last_fire_usec);
        if (state->json)
                sqlite3_bind_text(st, 4, state->json, (int)state->json_len, SQLITE_STATIC);
        else
                sqlite3_bind_null(st, 4);
        bind_time(st, 5, tf_now(CLOCK_REALTIME));
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
                return sql_fail(s, rc, err, "record the state of service %s", state->service);
        return 0;
}

/* ---- tokens ------------------------------------------------------------------------------------------ */

static int check_token(const struct tf_store_token *t, tf_error **err) {
        int r;
        if ((r = check_id(t->name, "token name", err)) < 0 ||
            (r = check_word(t->role, "token role", err)) < 0)
                return r;
        if (t->services) {
                size_t n = strnlen(t->services, TF_STORE_REASON_MAX + 1);
                if (n == 0 || n > TF_STORE_REASON_MAX || strspn(t->services, NAME_LIST_CHARS) != n)
                        return invalid(err, "token services", t->services, n,
                                       "service names separated by ','");
        }
        if (!t->hash || strlen(t->hash) != 64 || strspn(t->hash, "0123456789abcdef") != 64)
                return tf_error_set(err, EINVAL, "store: a token hash must be 64 lower-case hex digits");
        return check_time(t->created_usec, "created_usec", err);
}

int tf_store_token_add(tf_store *s, const struct tf_store_token *t, tf_error **err) {
        sqlite3_stmt *p = NULL;
        int r;
        if ((r = check_token(t, err)) < 0 || (r = stmt(s, ST_TOKEN_INSERT, &p, err)) < 0)
                return r;
        _cleanup_reset_ sqlite3_stmt *st = p;
        bind_text(st, 1, t->name);
        bind_text(st, 2, t->role);
        bind_text(st, 3, t->services);
        bind_text(st, 4, t->hash);
        bind_time(st, 5, t->created_usec);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
                return tf_error_set(err, EEXIST, "a token named '%s' exists already (revoke it first)",
                                    t->name);
        if (rc != SQLITE_DONE)
                return sql_fail(s, sqlite3_extended_errcode(s->db), err, "add token %s", t->name);
        return 0;
}

int tf_store_token_remove(tf_store *s, const char *name, tf_error **err) {
        sqlite3_stmt *p = NULL;
        int r;
        if ((r = check_id(name, "token name", err)) < 0 || (r = stmt(s, ST_TOKEN_DELETE, &p, err)) < 0)
                return r;
        _cleanup_reset_ sqlite3_stmt *st = p;
        bind_text(st, 1, name);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
                return sql_fail(s, rc, err, "revoke token %s", name);
        if (sqlite3_changes(s->db) == 0)
                return tf_error_set(err, ENOENT, "no token named '%s' (see `tfrun token list`)", name);
        return 0;
}

int tf_store_token_used(tf_store *s, const char *name, uint64_t usec, tf_error **err) {
        sqlite3_stmt *p = NULL;
        int r;
        if ((r = check_id(name, "token name", err)) < 0 ||
            (r = check_time(usec, "last_used_usec", err)) < 0 ||
            (r = stmt(s, ST_TOKEN_USED, &p, err)) < 0)
                return r;
        _cleanup_reset_ sqlite3_stmt *st = p;
        bind_text(st, 1, name);
        bind_time(st, 2, usec);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
                return sql_fail(s, rc, err, "record the use of token %s", name);
        return 0;
}

int tf_store_tokens(tf_store *s, tf_store_token_cb cb, void *userdata, tf_error **err) {
        sqlite3_stmt *p = NULL;
        int r = stmt(s, ST_TOKENS, &p, err);
        if (r < 0)
                return r;
        _cleanup_reset_ sqlite3_stmt *st = p;
        int rc, n = 0;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                struct tf_store_token t = {
                        .name = col_text(st, 0),
                        .role = col_text(st, 1),
                        .services = col_text(st, 2),
                        .hash = col_text(st, 3),
                        .created_usec = (uint64_t)col_int(st, 4, 0),
                        .last_used_usec = (uint64_t)col_int(st, 5, 0),
                };
                n++;
                r = cb(&t, userdata);
                if (r < 0)
                        return r;
                if (r > 0)
                        return n;
        }
        if (rc != SQLITE_DONE)
                return sql_fail(s, rc, err, "list the tokens");
        return n;
}
