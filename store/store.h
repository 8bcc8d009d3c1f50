/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The manager's run history: one SQLite database (WAL) at STATE_DIR/tfrun.db (docs/running.md, "History").
 *
 * One row per run, a row per workflow step, and a row of persisted state per service. Every call is a
 * prepared statement with bound parameters; every text input is length-bounded and validated before it
 * reaches SQLite. Functions return 0 (or a count) or -errno and fill `tf_error **err` last. A database
 * another connection holds locked is an error at once (-EBUSY), never a wait: the manager's loop must not
 * block, and one manager per state dir is the caller's lock.
 *
 * Strings in a struct handed to a callback are borrowed: valid only during the callback. A callback
 * returns 0 to go on, > 0 to stop early (the call then returns 0), or -errno to fail the call with that
 * error. Callbacks must not call back into the same store. A store is used from one thread.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct tf_store tf_store;

/* Bounds on what a caller may store; longer input is refused (-EINVAL), never cut. */
#define TF_STORE_ID_MAX 255      /* run_id, service, backend, manager_id, step name */
#define TF_STORE_WORD_MAX 32     /* trigger, status */
#define TF_STORE_PATH_MAX 4096   /* log_path */
#define TF_STORE_REASON_MAX 4096 /* reason */
#define TF_STORE_JSON_MAX 65536  /* service_state.json */
#define TF_STORE_QUERY_MAX 10000 /* rows per tf_store_query() */
#define TF_STORE_OUTPUT_MAX (1024 * 1024) /* a step's output (what a workflow passes on), bytes */

/* An integer field the caller does not know is stored as NULL. */
#define TF_STORE_UNKNOWN INT64_C(-1)

/* The schema version this build writes (PRAGMA user_version). */
#define TF_STORE_SCHEMA_VERSION 3

enum {
        /* Open an existing history read-only: nothing is created or migrated; writes fail with -EROFS. */
        TF_STORE_READONLY = 1 << 0,
};

/*
 * One run, used both in (tf_store_run_begin(), tf_store_run_end()) and out (queries).
 * Status is one of running, success, failure, timeout, oom, cancelled, skipped, lost; a run is "running"
 * exactly while ended_usec is 0 (NULL in the table). trigger is a lower-case word (schedule, manual,
 * catchup, retry, rerun, start, dependency, ...). Identifiers (run_id, service, backend, manager_id,
 * retry_of) are 1 to TF_STORE_ID_MAX bytes of [A-Za-z0-9_.:@-].
 */
struct tf_store_run {
        const char *run_id;
        const char *service;
        const char *trigger;
        int64_t attempt;         /* 1 for the first try */
        uint64_t scheduled_usec; /* when the schedule meant it to start; 0: not scheduled (NULL) */
        uint64_t started_usec;   /* CLOCK_REALTIME usec; required */
        uint64_t ended_usec;     /* 0: still running (NULL) */
        const char *status;
        const char *reason; /* NULL or free text (UTF-8, tabs and newlines allowed) */
        int exit_code;      /* -1: none (killed, or not started) */
        int signal;         /* 0: none */
        bool oom;
        int64_t peak_memory;    /* bytes; TF_STORE_UNKNOWN */
        int64_t cpu_usec;       /* TF_STORE_UNKNOWN */
        const char *backend;    /* native, docker */
        const char *log_path;   /* NULL or an absolute path */
        const char *manager_id; /* opaque: which manager instance owns the run (boot id, pid, start) */
        const char *retry_of;   /* NULL, or the run this one retries (`tfrun retry`): set at begin only */
};

/* A struct tf_store_run with every integer at its "none" value, for callers to fill. */
#define TF_STORE_RUN_INIT                                                                                   \
        ((struct tf_store_run){.attempt = 1,                                                                \
                               .exit_code = -1,                                                             \
                               .peak_memory = TF_STORE_UNKNOWN,                                             \
                               .cpu_usec = TF_STORE_UNKNOWN})

/*
 * One step of a workflow run (or one of its handlers). status is one of running, success, failure, timeout,
 * oom, cancelled, skipped (its `when:` was false, or a step it needs did not succeed) or reused (a retry
 * took its recorded output instead of running it); a step is "running" exactly while ended_usec is 0. order
 * is the step's position in the workflow (handlers after the steps). output is what the step passes on
 * (`output: VAR`): NULL when it has none, else output_len bytes (any bytes, at most TF_STORE_OUTPUT_MAX).
 */
struct tf_store_step {
        const char *run_id;
        const char *name;
        int64_t order;
        const char *status;
        int exit_code; /* -1: none */
        uint64_t started_usec;
        uint64_t ended_usec;  /* 0: still running */
        int64_t output_size;  /* bytes; TF_STORE_UNKNOWN (set from output_len when output is given) */
        const char *log_path; /* NULL or an absolute path */
        const char *reason;   /* NULL or free text: how it ended (exited, oom-killed, ...) */
        int signal;           /* 0: none */
        bool oom;
        int64_t peak_memory; /* bytes; TF_STORE_UNKNOWN */
        const char *why;     /* NULL or free text for people: why it was skipped or failed */
        const char *output;
        size_t output_len;
};

/* A struct tf_store_step with every integer at its "none" value, for callers to fill. */
#define TF_STORE_STEP_INIT                                                                                  \
        ((struct tf_store_step){                                                                            \
                .exit_code = -1, .output_size = TF_STORE_UNKNOWN, .peak_memory = TF_STORE_UNKNOWN})

/* What tfrun persists per service (tfrun disable survives a restart). json: the caller's own, opaque. */
struct tf_store_service_state {
        const char *service;
        bool enabled;
        uint64_t last_fire_usec; /* 0: never fired */
        const char *json;        /* NULL or json_len bytes (UTF-8, no NUL) */
        size_t json_len;
        uint64_t updated_usec; /* out only: when it was last set */
};

/* Query filter; every field optional (NULL / 0). Rows come newest first (started_usec, then run_id). */
struct tf_store_filter {
        const char *service;
        const char *services; /* names separated by ',': only runs of those (a token's services) */
        const char *status;
        uint64_t since_usec; /* started at or after */
        unsigned limit;      /* 0: TF_STORE_QUERY_MAX; more than that is refused */
        const char *before;  /* run_id: only runs older than it (the next page) */
        const char *after;   /* run_id: only runs newer than it (the previous page) */
};

typedef int (*tf_store_run_cb)(const struct tf_store_run *run, void *userdata);
typedef int (*tf_store_step_cb)(const struct tf_store_step *step, void *userdata);
/* tf_store_counts(): running is the number running now; total the number of runs ever recorded with that
 * status (kept when retention deletes rows, so metrics counters never go back). */
typedef int (*tf_store_count_cb)(const char *service, const char *status, uint64_t total, void *userdata);
/* tf_store_retention(): once per log file of a deleted run (the run's and each step's), after the rows are
 * gone for good; the caller removes the file. */
typedef int (*tf_store_log_cb)(const char *run_id, const char *log_path, void *userdata);

/*
 * Open (creating it mode 0600 unless TF_STORE_READONLY) the history at path. The directory is the
 * caller's (the state dir, mode 0700). A symbolic link at path is refused; so is a file that is not an
 * SQLite database or not a tfrun history (-EBADMSG), or one written by a newer schema (-EPROTO). Creates
 * or migrates the schema to TF_STORE_SCHEMA_VERSION. *ret owns the store: tf_store_free().
 */
int tf_store_open(const char *path, unsigned flags, tf_store **ret, tf_error **err);
/* Moves what the WAL holds into the database (a passive checkpoint: two fdatasyncs when there is anything
 * to move). For its owner to call when the history is quiet: SQLite's own automatic checkpoint waits for
 * a WAL of 4,000 pages (store.c explains why). 0 also when a reader holds the WAL (the checkpoint then
 * stops short; the next one goes on), or -errno. A checkpoint that moved everything also restarts the
 * WAL (one small write), so that the next commit after the pause pays no sync. */
int tf_store_checkpoint(tf_store *s, tf_error **err);
/* NULL-safe; returns NULL. */
tf_store *tf_store_free(tf_store *s);
static inline void tf_store_freep(tf_store **s) {
        if (s && *s)
                *s = tf_store_free(*s);
}
#define _cleanup_store_ __attribute__((cleanup(tf_store_freep)))

/* PRAGMA quick_check: 0, or -EBADMSG naming the first problem. Reads the whole file: for start-up. */
int tf_store_check(tf_store *s, tf_error **err);

/* Record a run that starts (status NULL or "running", ended_usec 0), or one already over (a skip: status
 * and ended_usec given). -EEXIST if run_id is taken. */
int tf_store_run_begin(tf_store *s, const struct tf_store_run *run, tf_error **err);
/* End run->run_id with run's result fields (ended_usec 0: now; status not "running"; reason, exit_code,
 * signal, oom, peak_memory, cpu_usec, and log_path when non-NULL). -ENOENT if there is no such run,
 * -EALREADY if it has ended (as lost, say). */
int tf_store_run_end(tf_store *s, const struct tf_store_run *run, tf_error **err);

/* Every run still running whose manager_id is not current_manager_id becomes "lost", ended now (its steps
 * still running become "cancelled"). cb (may
 * be NULL) sees each one before the change commits, so that a crash in between gives them again next
 * time; it typically queues the sweep of the run's cgroup or container. *ret_n (may be NULL): how many. */
int tf_store_mark_lost(tf_store *s, const char *current_manager_id, tf_store_run_cb cb, void *userdata,
                       unsigned *ret_n, tf_error **err);

/* One run by id: -ENOENT if none. *ret is one allocation (strings inside it): free(). */
int tf_store_get_run(tf_store *s, const char *run_id, struct tf_store_run **ret, tf_error **err);
/* The newest run of service, with that status unless status is NULL (NULL: the last run; "success": the
 * last success). -ENOENT if none. *ret as for tf_store_get_run(). */
int tf_store_last_run(tf_store *s, const char *service, const char *status, struct tf_store_run **ret,
                      tf_error **err);
/* Runs matching f (NULL: all), newest first, at most f->limit. Returns the number of rows given to cb.
 * -ENOENT if f->before or f->after names no run. */
int tf_store_query(tf_store *s, const struct tf_store_filter *f, tf_store_run_cb cb, void *userdata,
                   tf_error **err);
/* For every (service, status) ever recorded: the total (see tf_store_count_cb), and for status "running"
 * the runs running now. Ordered by service, then status. */
int tf_store_counts(tf_store *s, tf_store_count_cb cb, void *userdata, tf_error **err);

/* Delete service's ended runs beyond the newest keep_n (0: no limit) and those that ended more than
 * keep_days ago (0: no limit); running runs are never deleted. cb (may be NULL) sees each log file of a
 * deleted run. Returns the number of runs deleted. */
int tf_store_retention(tf_store *s, const char *service, unsigned keep_n, unsigned keep_days,
                       tf_store_log_cb cb, void *userdata, tf_error **err);

/* Steps of a workflow run: begin inserts a running step, or one already over (skipped, reused: status and
 * ended_usec given) (-EEXIST if the run has that step, -ENOENT if there is no such run); end sets the
 * result fields (status, reason, exit_code, signal, oom, peak_memory, why, output, ended_usec (0: now), and
 * log_path when non-NULL) (-ENOENT: no such step, -EALREADY: it has ended); list gives them in order, with
 * their outputs; get gives one (-ENOENT if none; *ret is one allocation: free()). Deleting the run deletes
 * its steps. */
int tf_store_step_begin(tf_store *s, const struct tf_store_step *step, tf_error **err);
int tf_store_step_end(tf_store *s, const struct tf_store_step *step, tf_error **err);
int tf_store_steps(tf_store *s, const char *run_id, tf_store_step_cb cb, void *userdata, tf_error **err);
int tf_store_get_step(tf_store *s, const char *run_id, const char *name, struct tf_store_step **ret,
                      tf_error **err);

/* Persisted service state: get (-ENOENT if never set; *ret is one allocation: free()), set (insert or
 * replace; updated_usec is set to now). */
int tf_store_service_get(tf_store *s, const char *service, struct tf_store_service_state **ret,
                         tf_error **err);
int tf_store_service_set(tf_store *s, const struct tf_store_service_state *st, tf_error **err);

/* Bearer tokens of the network API (manager/auth.c): only the hash of a token is ever stored. name is an
 * identifier, role a word (read, operate, admin: the caller's), services NULL (all) or names separated by
 * ','; hash the 64 lower-case hex digits of its SHA-256; last_used_usec 0: never. */
struct tf_store_token {
        const char *name;
        const char *role;
        const char *services;
        const char *hash;
        uint64_t created_usec;
        uint64_t last_used_usec;
};
typedef int (*tf_store_token_cb)(const struct tf_store_token *t, void *userdata);
/* -EEXIST when the name is taken. */
int tf_store_token_add(tf_store *s, const struct tf_store_token *t, tf_error **err);
/* -ENOENT when there is no such token. */
int tf_store_token_remove(tf_store *s, const char *name, tf_error **err);
int tf_store_token_used(tf_store *s, const char *name, uint64_t usec, tf_error **err);
/* Every token, by name; returns how many were given to cb. */
int tf_store_tokens(tf_store *s, tf_store_token_cb cb, void *userdata, tf_error **err);
