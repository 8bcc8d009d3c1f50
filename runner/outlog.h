/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A run's stdout and stderr kept as data (the manager's per-run logs, `tfrun --log-dir`): every line goes
 * to DIR/SERVICE/RUN_ID.log as
 *
 *     2026-12-01T22:00:00.123456Z stdout hello
 *
 * (the UTC time tfrun read it, the stream, the line), and optionally a copy to tfrun's own stdout and
 * stderr. The sink never blocks the loop and never holds the run back:
 *   - the file is capped (max_bytes): the line that would cross the cap is replaced by one line from
 *     "tfrun" saying the log was truncated at N bytes; what follows is only counted, or, with
 *     tail_bytes, kept in memory as the log's last lines and written after the marker at the end;
 *   - a line longer than line_max is written in pieces of line_max bytes, every piece but the last with
 *     the stream "stdout/partial" (a reader joins a partial piece with the next line of its stream);
 *   - a last line without a newline is written as a line when the run ends;
 *   - the prefixed copy goes through tf_out_try() (runner/log.h): what tfrun's stdout does not take at
 *     once is dropped by whole lines and said with a "[N lines dropped]" line once it takes lines again
 *     (a manager's services never wait for its stdout); the raw copy (echo_raw) holds the run back
 *     instead, as an inherited stdout would.
 * Backends feed it: native from two pipes it watches itself (tf_outlog_watch; the raw copy is made
 * there), docker from the attach stream's demultiplexed frames (tf_outlog_feed; the raw copy is docker's
 * own output path, with its pauses).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "runner/loop.h"

#define TF_OUTLOG_MAX_DEFAULT (10u * 1024 * 1024)
#define TF_OUTLOG_LINE_MAX_DEFAULT (16u * 1024)
/* line_max is clamped to this: a line and its prefix must fit tf_out's queue whole. */
#define TF_OUTLOG_LINE_MAX_LIMIT (128u * 1024)

struct tf_outlog_options {
        const char *dir;         /* the logs' root: each run's log is DIR/SERVICE/RUN_ID.log */
        uint64_t max_bytes;      /* the log file's cap; 0: TF_OUTLOG_MAX_DEFAULT */
        size_t line_max;         /* longer lines are written in pieces; 0: TF_OUTLOG_LINE_MAX_DEFAULT */
        /* The copy on tfrun's own fds, stdout lines on stdout and stderr lines on stderr (as docker
         * compose does): echo_prefix set: each line after the prefix ("web    | "), the manager's view;
         * echo_raw: the bytes as they come, unchanged (`tfrun --log-dir`: the terminal sees what it saw
         * without the option). Neither: no copy. */
        const char *echo_prefix;
        bool echo_raw;
        /* Past the cap, keep the last tail_bytes of lines too (0: none, the head only): the file then
         * holds the first max_bytes - tail_bytes, one line saying how much was left out, and the tail,
         * written when the run ends (the end of a long log says how it ended). At most max_bytes / 2. */
        uint64_t tail_bytes;
        /* Unnamed files made ahead in dir (tf_outlog_spares_new()): the log takes one of them when it
         * can. NULL: each log is created on its run's start. */
        struct tf_outlog_spares *spares;
};

struct tf_outlog;

/* Open (create, 0700, mode checked) DIR/SERVICE below dir (created 0700 when missing) without following
 * a symbolic link at SERVICE: returns the directory's fd (O_CLOEXEC). Refused with a message naming the
 * path: a symbolic link or something else than a directory there, a directory of another owner, or one
 * that others can write to. */
int tf_outlog_dir_open(const char *dir, const char *service, tf_error **err);

/* Create the run's log file (O_CREAT|O_EXCL|O_NOFOLLOW, 0600, or a spare linked there, which neither
 * replaces nor follows what is at that name) as o->dir/SERVICE/RUN_ID.log; when that name exists (a run
 * id of an earlier tfrun with the same pid), RUN_ID.2.log and so on. o is copied. */
int tf_outlog_open(const struct tf_outlog_options *o, const char *service, const char *run_id,
                   struct tf_outlog **ret, tf_error **err);

/*
 * Spare log files for a resident tfrun: up to max unnamed files (O_TMPFILE, 0600) in dir, made from a
 * timer of loop once the runs pause, so that a run's log on its way to exec is a link (linkat, tens of
 * microseconds) rather than an inode allocation (0.1 to over 1 ms on a busy ext4: the slowest step of a
 * trigger, bench/manager.sh part 4). An unused spare needs no cleanup: it goes with the process, kill -9
 * included. Where unnamed files or their link through /proc cannot be made, there are none and each log
 * is created as without spares.
 */
struct tf_outlog_spares;
int tf_outlog_spares_new(struct tf_loop *loop, const char *dir, unsigned max, struct tf_outlog_spares **ret,
                         tf_error **err);
unsigned tf_outlog_spares_ready(const struct tf_outlog_spares *sp);
struct tf_outlog_spares *tf_outlog_spares_free(struct tf_outlog_spares *sp); /* NULL-safe */

/* Bytes of stream 1 (stdout) or 2 (stderr), split anywhere. */
void tf_outlog_feed(struct tf_outlog *l, int stream, const void *p, size_t n);

/* Take fd (the read end of the run's stdout or stderr pipe; made O_NONBLOCK here) and read it from loop,
 * a bounded amount per dispatch, until EOF or tf_outlog_finish(). */
int tf_outlog_watch(struct tf_outlog *l, struct tf_loop *loop, int fd, int stream, tf_error **err);

/* The run has ended (its processes are gone): read what the watched fds still hold (bounded: a writer
 * that escaped the run cannot hold this up), close them, write the last partial lines and close the
 * file. Idempotent. */
void tf_outlog_finish(struct tf_outlog *l);

/* Keep stdout's bytes, unchanged, in memory too (a workflow step's `output:`), at most max of them; what
 * comes beyond is not kept and sets *ret_over. The buffer is the log's (NUL-terminated; "" when empty). */
void tf_outlog_capture(struct tf_outlog *l, size_t max);
const char *tf_outlog_captured(const struct tf_outlog *l, size_t *ret_len, bool *ret_over);

/* The log file's path; NULL for a log opened without o->dir (no file: the copy and the capture only). */
const char *tf_outlog_path(const struct tf_outlog *l);
uint64_t tf_outlog_file_bytes(const struct tf_outlog *l);   /* bytes in the log file */
uint64_t tf_outlog_output_bytes(const struct tf_outlog *l); /* bytes the run wrote, kept or not */
uint64_t tf_outlog_output_lines(const struct tf_outlog *l); /* its lines (a last one without newline too) */
bool tf_outlog_truncated(const struct tf_outlog *l);
/* The options' echo_raw: a backend that copies the bytes to tfrun's fds itself (docker) does. */
bool tf_outlog_echo_raw(const struct tf_outlog *l);

struct tf_outlog *tf_outlog_free(struct tf_outlog *l); /* NULL-safe; finishes first */
