/* SPDX-License-Identifier: MIT */
/*
 * A run's output as timestamped lines in a file of its own, and as a prefixed copy on tfrun's stdout
 * (outlog.h says what is written). Costs are per read, not per line: one clock read and one timestamp per
 * chunk fed (the lines of one read arrived together; none once the file is full), file and copy buffered
 * per feed and written with one write() each, and once the cap is reached a line is only counted (memchr)
 * unless a copy is wanted.
 */
#include "runner/outlog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/strutil.h"
#include "base/timeutil.h"
#include "runner/log.h"
#include "runner/runner.h"

/* Read per dispatch of a watched fd: a chatty run does not starve the loop's other sources. */
#define READ_CHUNK (64u * 1024)
#define READ_BUDGET (4 * READ_CHUNK)
/* At the end: what the pipes may still hold, and no more (a writer outside the run keeps writing). */
#define FINAL_BUDGET (4u * 1024 * 1024)
#define BUF_MIN (64u * 1024)

struct outlog_stream {
        struct tf_outlog *log;
        int stream; /* 1, 2 */
        int fd;     /* watched pipe, -1: none */
        struct tf_source *src;
        struct tf_loop *loop;
        /* echo_raw: tfrun's fd does not take the copy; the pipe is not read until it does. */
        struct tf_source *held_src;
        char *part; /* the current line so far (line_max bytes at most) */
        size_t part_len;
        bool counted_mid; /* counting only: bytes of an unfinished line went by */
};

struct tf_outlog {
        char *path;
        int fd;
        uint64_t max_bytes;
        uint64_t head_max; /* max_bytes without the tail's share */
        size_t line_max;
        /* The tail (tail_cap > 0): whole formatted lines, the oldest dropped first. */
        char *tbuf;
        size_t tlen, tcap;
        uint64_t tail_dropped, tail_dropped_lines;
        char *echo_prefix;
        size_t echo_prefix_len;
        bool echo_raw;
        bool finished;
        bool truncated;
        uint64_t file_bytes, out_bytes, out_lines;
        uint64_t echo_dropped; /* lines not taken by tfrun's stdout/stderr, not said yet */
        char ts[48];           /* the current feed's timestamp and its length */
        size_t ts_len;
        char *fbuf; /* file lines not written yet */
        size_t flen, fcap;
        char *ebuf; /* copy lines of the current feed (one stream) */
        size_t elen, ecap;
        uint64_t elines;
        int estream;
        struct outlog_stream s[3];
        /* tf_outlog_capture(): stdout's bytes as they came, up to cap_max. */
        char *cap;
        size_t cap_len, cap_max;
        bool capturing, cap_over;
};

static bool name_ok(const char *s) {
        return s && *s && !streq(s, ".") && !streq(s, "..") && !strchr(s, '/');
}

/* The logs' root, made 0700 when missing: its fd, or -errno; *mkdir_failed tells which step failed. */
static int root_open(const char *dir, bool *mkdir_failed) {
        *mkdir_failed = mkdir(dir, 0700) < 0 && errno != EEXIST;
        if (*mkdir_failed)
                return -errno;
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

int tf_outlog_dir_open(const char *dir, const char *service, tf_error **err) {
        if (!name_ok(service))
                return tf_error_set(err, EINVAL, "log directory: '%s' cannot be a directory name", service);
        bool mkdir_failed;
        _cleanup_close_ int root = root_open(dir, &mkdir_failed);
        if (root < 0)
                return mkdir_failed ? tf_error_setc(err, -root, "log directory %s: create", dir)
                                    : tf_error_setc(err, -root, "log directory %s", dir);
        if (mkdirat(root, service, 0700) < 0 && errno != EEXIST)
                return tf_error_setc(err, errno, "log directory %s/%s: create", dir, service);
        /* O_NOFOLLOW: a link planted at SERVICE would send the logs (created 0600, but in a place someone
         * else chose) anywhere. */
        int fd = openat(root, service, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                int e = errno;
                struct stat st;
                if ((e == ELOOP || e == ENOTDIR) && fstatat(root, service, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                        if (S_ISLNK(st.st_mode))
                                return tf_error_set(err, ELOOP,
                                                    "log directory %s/%s is a symbolic link; tfrun keeps "
                                                    "logs only in a directory of its own: remove the link",
                                                    dir, service);
                        return tf_error_set(err, ENOTDIR, "log directory %s/%s exists and is not a "
                                            "directory", dir, service);
                }
                return tf_error_setc(err, e, "log directory %s/%s", dir, service);
        }
        struct stat st;
        if (fstat(fd, &st) < 0) {
                int e = errno;
                close(fd);
                return tf_error_setc(err, e, "log directory %s/%s: stat", dir, service);
        }
        if (st.st_uid != geteuid() || (st.st_mode & 0022)) {
                close(fd);
                if (st.st_uid != geteuid())
                        return tf_error_set(err, EPERM,
                                            "log directory %s/%s belongs to uid %u, not to tfrun's uid %u; "
                                            "remove it or choose another log directory",
                                            dir, service, (unsigned) st.st_uid, (unsigned) geteuid());
                return tf_error_set(err, EPERM, "log directory %s/%s can be written by others (mode %04o); "
                                    "make it 0700", dir, service, (unsigned) (st.st_mode & 07777));
        }
        return fd;
}

/* After the last spare taken, this long without another before making more: the runs of a burst (a
 * schedule's minute, triggers back to back) are not held up by the files made for the next one. */
#define SPARES_QUIET_USEC (100 * 1000)
/* Made per loop round while filling: one, so that a trigger that comes meanwhile waits for one file
 * creation at most (up to ~1 ms on a busy ext4), not for a batch. */
#define SPARES_BATCH 1

struct tf_outlog_spares {
        struct tf_loop *loop;
        struct tf_source *timer;
        char *dir;
        int dfd; /* dir, once it exists */
        int *fds;
        unsigned n, max;
        bool off; /* an unnamed file or its link was refused: no more */
};

static int spare_make(struct tf_outlog_spares *sp) {
        if (sp->dfd < 0) {
                bool mkdir_failed;
                int fd = root_open(sp->dir, &mkdir_failed);
                if (fd < 0)
                        return fd;
                sp->dfd = fd;
        }
        int fd = openat(sp->dfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0) {
                /* A filesystem without unnamed files (EOPNOTSUPP, or EISDIR before Linux 3.11): each log
                 * is created as before. */
                int e = errno;
                if (e == EOPNOTSUPP || e == EISDIR || e == EINVAL)
                        sp->off = true;
                return -e;
        }
        sp->fds[sp->n++] = fd;
        return 0;
}

static int on_spares_timer(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        struct tf_outlog_spares *sp = userdata;
        uint64_t next = tf_loop_now(sp->loop, CLOCK_MONOTONIC);
        for (int k = 0; k < SPARES_BATCH && sp->n < sp->max && !sp->off; k++)
                if (spare_make(sp) < 0) {
                        next = UINT64_MAX; /* no directory yet, a full disk: the next take tries again */
                        break;
                }
        tf_source_set_time(src, sp->n < sp->max && !sp->off ? next : UINT64_MAX);
        return 0;
}

int tf_outlog_spares_new(struct tf_loop *loop, const char *dir, unsigned max, struct tf_outlog_spares **ret,
                         tf_error **err) {
        struct tf_outlog_spares *sp = tf_malloc0(sizeof(*sp));
        sp->loop = loop;
        sp->dir = tf_strdup(dir);
        sp->dfd = -1;
        sp->max = max;
        sp->fds = tf_malloc0(sizeof(*sp->fds) * (max ? max : 1));
        int r = tf_loop_add_timer(loop, CLOCK_MONOTONIC, tf_loop_now(loop, CLOCK_MONOTONIC), on_spares_timer, sp,
                                  &sp->timer, err);
        if (r < 0) {
                tf_outlog_spares_free(sp);
                return r;
        }
        *ret = sp;
        return 0;
}

unsigned tf_outlog_spares_ready(const struct tf_outlog_spares *sp) {
        return sp ? sp->n : 0;
}

struct tf_outlog_spares *tf_outlog_spares_free(struct tf_outlog_spares *sp) {
        if (!sp)
                return NULL;
        tf_source_remove(sp->timer);
        for (unsigned i = 0; i < sp->n; i++)
                close(sp->fds[i]);
        if (sp->dfd >= 0)
                close(sp->dfd);
        free(sp->fds);
        free(sp->dir);
        free(sp);
        return NULL;
}

/* Make more once no spare has been asked for in SPARES_QUIET_USEC (each ask pushes it back). */
static void spares_after_pause(struct tf_outlog_spares *sp) {
        tf_source_set_time(sp->timer, tf_loop_now(sp->loop, CLOCK_MONOTONIC) + SPARES_QUIET_USEC);
}

/* Give the newest spare the name `name` in dfd: its fd, or -EEXIST (the name is taken: try the next),
 * or another -errno (none taken: create the file as without spares). */
static int spare_link(struct tf_outlog_spares *sp, int dfd, const char *name) {
        if (!sp || sp->off)
                return -ENOENT;
        if (sp->n == 0) {
                /* Taken faster than made, or none could be made yet: more once the runs pause. */
                spares_after_pause(sp);
                return -ENOENT;
        }
        int fd = sp->fds[sp->n - 1];
        /* By /proc rather than AT_EMPTY_PATH, which wants CAP_DAC_READ_SEARCH; a link never replaces
         * nor follows what is at its new name. */
        char proc[40];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        if (linkat(AT_FDCWD, proc, dfd, name, AT_SYMLINK_FOLLOW) < 0) {
                int e = errno;
                if (e != EEXIST && e != EXDEV && e != ENOSPC && e != EDQUOT) {
                        /* No /proc, or a kernel or policy that refuses the link: not again. */
                        sp->off = true;
                        for (unsigned i = 0; i < sp->n; i++)
                                close(sp->fds[i]);
                        sp->n = 0;
                }
                return -e;
        }
        sp->n--;
        /* The spare's times are from when it was made: a log's are from its run (find -mtime, ls -t). */
        (void) futimens(fd, NULL);
        spares_after_pause(sp);
        return fd;
}

int tf_outlog_open(const struct tf_outlog_options *o, const char *service, const char *run_id,
                   struct tf_outlog **ret, tf_error **err) {
        if (!o->dir) {
                /* No file: the copy and the capture only. */
                struct tf_outlog *l = tf_malloc0(sizeof(*l));
                l->fd = -1;
                l->max_bytes = l->head_max = TF_OUTLOG_MAX_DEFAULT;
                l->line_max = TF_OUTLOG_LINE_MAX_DEFAULT;
                l->echo_raw = o->echo_raw;
                if (o->echo_prefix) {
                        l->echo_prefix = tf_strdup(o->echo_prefix);
                        l->echo_prefix_len = strlen(o->echo_prefix) > 256 ? 256 : strlen(o->echo_prefix);
                }
                for (int i = 1; i <= 2; i++)
                        l->s[i] = (struct outlog_stream){ .log = l, .stream = i, .fd = -1 };
                *ret = l;
                return 0;
        }
        if (!name_ok(run_id))
                return tf_error_set(err, EINVAL, "log file: '%s' cannot be a file name", run_id);
        _cleanup_close_ int dfd = tf_outlog_dir_open(o->dir, service, err);
        if (dfd < 0)
                return dfd;
        int fd = -1;
        _cleanup_free_ char *name = NULL;
        for (unsigned k = 1; k <= 100 && fd < 0; k++) {
                free(name);
                name = k == 1 ? tf_asprintf("%s.log", run_id) : tf_asprintf("%s.%u.log", run_id, k);
                fd = spare_link(o->spares, dfd, name);
                if (fd == -EEXIST)
                        continue;
                if (fd < 0)
                        fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd < 0 && errno != EEXIST)
                        return tf_error_setc(err, errno, "log file %s/%s/%s: create", o->dir, service, name);
        }
        if (fd < 0)
                return tf_error_setc(err, EEXIST, "log file %s/%s/%s: create", o->dir, service, name);

        struct tf_outlog *l = tf_malloc0(sizeof(*l));
        l->fd = fd;
        l->path = tf_asprintf("%s/%s/%s", o->dir, service, name);
        l->max_bytes = o->max_bytes ? o->max_bytes : TF_OUTLOG_MAX_DEFAULT;
        l->tcap = (size_t) (o->tail_bytes < l->max_bytes / 2 ? o->tail_bytes : l->max_bytes / 2);
        l->head_max = l->max_bytes - l->tcap;
        l->line_max = o->line_max ? o->line_max : TF_OUTLOG_LINE_MAX_DEFAULT;
        if (l->line_max > TF_OUTLOG_LINE_MAX_LIMIT)
                l->line_max = TF_OUTLOG_LINE_MAX_LIMIT;
        if (o->echo_prefix) {
                l->echo_prefix = tf_strdup(o->echo_prefix);
                l->echo_prefix_len = strlen(o->echo_prefix);
                if (l->echo_prefix_len > 256)
                        l->echo_prefix_len = 256;
        }
        l->echo_raw = o->echo_raw;
        for (int i = 1; i <= 2; i++)
                l->s[i] = (struct outlog_stream){ .log = l, .stream = i, .fd = -1 };
        *ret = l;
        return 0;
}

static void file_flush(struct tf_outlog *l) {
        size_t off = 0;
        while (off < l->flen && l->fd >= 0) {
                ssize_t w = write(l->fd, l->fbuf + off, l->flen - off);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0) {
                        /* A full disk: the run goes on, its log ends here, and says so once. */
                        tf_log("warning: %s: write: %s; the rest of this run's output is not kept", l->path,
                               w < 0 ? strerror(errno) : "no progress");
                        l->truncated = true;
                        close(l->fd);
                        l->fd = -1;
                        break;
                }
                off += (size_t) w;
        }
        l->flen = 0;
}

static void file_append(struct tf_outlog *l, const char *p, size_t n) {
        if (l->flen + n > l->fcap) {
                file_flush(l);
                if (n > l->fcap) {
                        l->fcap = n > BUF_MIN ? n : BUF_MIN;
                        free(l->fbuf);
                        l->fbuf = tf_malloc0(l->fcap);
                }
        }
        memcpy(l->fbuf + l->flen, p, n);
        l->flen += n;
}

static void stamp(struct tf_outlog *l);

/* "TIME STREAM LINE\n" at b, which has room for it. */
static void put_line(const struct tf_outlog *l, char *b, const char *name, size_t nl, const char *p, size_t n) {
        memcpy(b, l->ts, l->ts_len);
        b += l->ts_len;
        *b++ = ' ';
        memcpy(b, name, nl);
        b += nl;
        *b++ = ' ';
        memcpy(b, p, n);
        b[n] = '\n';
}

/* A whole line for the tail (never split: the oldest whole lines make room). The buffer is twice the tail,
 * so making room is one memmove now and then. */
static void tail_line(struct tf_outlog *l, const char *name, const char *p, size_t n) {
        size_t nl = strlen(name), need = l->ts_len + 1 + nl + 1 + n + 1;
        if (!l->tbuf)
                l->tbuf = tf_malloc0(2 * l->tcap + 1);
        if (need > l->tcap) {
                /* Longer than the whole tail (a tiny tail): counted, not kept. */
                l->tail_dropped += need;
                l->tail_dropped_lines++;
                return;
        }
        if (l->tlen + need > 2 * l->tcap) {
                /* Keep the newest lines that fit in tcap - need, from a line's start. */
                size_t i = l->tlen + need - l->tcap;
                while (i < l->tlen && l->tbuf[i - 1] != '\n')
                        i++;
                for (size_t j = 0; j < i; j++)
                        l->tail_dropped_lines += l->tbuf[j] == '\n';
                l->tail_dropped += i;
                memmove(l->tbuf, l->tbuf + i, l->tlen - i);
                l->tlen -= i;
        }
        put_line(l, l->tbuf + l->tlen, name, nl, p, n);
        l->tlen += need;
}

/* At the end: the marker and the newest tail_bytes of what followed the head. */
static void tail_write(struct tf_outlog *l) {
        if (!l->tbuf || l->fd < 0)
                return;
        size_t start = 0;
        if (l->tlen > l->tcap) {
                start = l->tlen - l->tcap;
                while (start < l->tlen && l->tbuf[start - 1] != '\n')
                        start++;
                for (size_t j = 0; j < start; j++)
                        l->tail_dropped_lines += l->tbuf[j] == '\n';
                l->tail_dropped += start;
        }
        char m[256];
        stamp(l);
        int k = snprintf(m, sizeof(m),
                         "%s tfrun log truncated at %" PRIu64 " bytes: %" PRIu64 " bytes (%" PRIu64
                         " lines) left out; the last %zu bytes follow\n",
                         l->ts, l->file_bytes, l->tail_dropped, l->tail_dropped_lines, l->tlen - start);
        if (k > 0) {
                file_append(l, m, (size_t) k);
                l->file_bytes += (uint64_t) k;
        }
        file_flush(l);
        size_t off = start;
        while (off < l->tlen) {
                size_t n = l->tlen - off < l->fcap ? l->tlen - off : l->fcap;
                file_append(l, l->tbuf + off, n);
                file_flush(l);
                off += n;
        }
        l->file_bytes += l->tlen - start;
        l->tlen = 0;
}

static void stamp(struct tf_outlog *l) {
        tf_format_utc_usec(l->ts, sizeof(l->ts), tf_now(CLOCK_REALTIME));
        l->ts_len = strlen(l->ts);
}

/* The copy of the current feed, in one all-or-nothing write; lines tfrun's fd does not take are counted
 * and said before the next lines that it takes. */
static void echo_flush(struct tf_outlog *l) {
        if (!l->elen && !l->elines)
                return;
        int fd = l->estream == 2 ? 2 : 1;
        if (l->echo_dropped) {
                char m[320];
                int k = snprintf(m, sizeof(m), "%.*s[%" PRIu64 " lines dropped]\n", (int) l->echo_prefix_len,
                                 l->echo_prefix, l->echo_dropped);
                if (k > 0 && tf_out_try(fd, m, (size_t) k))
                        l->echo_dropped = 0;
        }
        if (l->echo_dropped || !tf_out_try(fd, l->ebuf, l->elen))
                l->echo_dropped += l->elines;
        l->elen = 0;
        l->elines = 0;
}

static void echo_line(struct tf_outlog *l, int stream, const char *p, size_t n) {
        size_t need = l->echo_prefix_len + n + 1;
        if (stream != l->estream || l->elen + need > l->ecap) {
                echo_flush(l);
                l->estream = stream;
                if (need > l->ecap) {
                        l->ecap = need > BUF_MIN ? need : BUF_MIN;
                        free(l->ebuf);
                        l->ebuf = tf_malloc0(l->ecap);
                }
        }
        memcpy(l->ebuf + l->elen, l->echo_prefix, l->echo_prefix_len);
        memcpy(l->ebuf + l->elen + l->echo_prefix_len, p, n);
        l->ebuf[l->elen + need - 1] = '\n';
        l->elen += need;
        l->elines++;
}

/* One line (or a piece of a long one) of a stream to the file and the copy. */
static void emit(struct tf_outlog *l, int stream, const char *p, size_t n, bool partial) {
        if (l->truncated && l->tcap && l->fd >= 0) {
                if (!l->ts_len)
                        stamp(l);
                const char *name = stream == 2 ? (partial ? "stderr/partial" : "stderr")
                                               : (partial ? "stdout/partial" : "stdout");
                tail_line(l, name, p, n);
        } else if (!l->truncated && l->fd >= 0) {
                if (!l->ts_len)
                        stamp(l);
                const char *name = stream == 2 ? (partial ? "stderr/partial" : "stderr")
                                               : (partial ? "stdout/partial" : "stdout");
                size_t nl = strlen(name), need = l->ts_len + 1 + nl + 1 + n + 1;
                if (l->tcap && l->file_bytes + need > l->head_max) {
                        /* The head is full: from here on lines go to the tail, and the marker is written
                         * with it at the end, when the amount left out is known. */
                        l->truncated = true;
                        file_flush(l);
                        tail_line(l, name, p, n);
                } else if (l->file_bytes + need > l->max_bytes) {
                        char m[160];
                        int k = snprintf(m, sizeof(m),
                                         "%s tfrun log truncated at %" PRIu64 " bytes: further output is "
                                         "counted, not kept\n",
                                         l->ts, l->file_bytes);
                        l->truncated = true;
                        if (k > 0) {
                                file_append(l, m, (size_t) k);
                                l->file_bytes += (uint64_t) k;
                        }
                } else {
                        if (l->flen + need > l->fcap)
                                file_flush(l);
                        if (need > l->fcap) {
                                file_append(l, l->ts, l->ts_len);
                                file_append(l, " ", 1);
                                file_append(l, name, nl);
                                file_append(l, " ", 1);
                                file_append(l, p, n);
                                file_append(l, "\n", 1);
                        } else {
                                put_line(l, l->fbuf + l->flen, name, nl, p, n);
                                l->flen += need;
                        }
                        l->file_bytes += need;
                }
        }
        if (l->echo_prefix)
                echo_line(l, stream, p, n);
}

void tf_outlog_feed(struct tf_outlog *l, int stream, const void *buf, size_t n) {
        if (!l || (stream != 1 && stream != 2) || n == 0)
                return;
        struct outlog_stream *st = &l->s[stream];
        const char *p = buf;
        l->out_bytes += n;
        if (l->capturing && stream == 1) {
                size_t take = n > l->cap_max - l->cap_len ? l->cap_max - l->cap_len : n;
                if (take < n)
                        l->cap_over = true;
                if (take) {
                        if (!l->cap)
                                l->cap = tf_malloc0(l->cap_max + 1);
                        memcpy(l->cap + l->cap_len, p, take);
                        l->cap_len += take;
                }
        }
        if (l->truncated && !l->echo_prefix && !l->tcap) {
                /* Only counted from here on. */
                const char *end = p + n, *q;
                while (p < end && (q = memchr(p, '\n', (size_t) (end - p)))) {
                        l->out_lines++;
                        st->counted_mid = false;
                        st->part_len = 0;
                        p = q + 1;
                }
                if (p < end)
                        st->counted_mid = true;
                return;
        }
        if (!l->fcap) {
                l->fcap = BUF_MIN > l->line_max + 128 ? BUF_MIN : l->line_max + 128;
                l->fbuf = tf_malloc0(l->fcap);
        }
        if (!st->part)
                st->part = tf_malloc0(l->line_max);
        l->ts_len = 0; /* stamped when a line of this feed goes to the file */
        while (n > 0) {
                const char *nl = memchr(p, '\n', n);
                size_t seg = nl ? (size_t) (nl - p) : n;
                if (nl && st->part_len == 0 && !st->counted_mid && seg <= l->line_max) {
                        /* The common case: a whole line in the chunk, written from where it is. */
                        emit(l, stream, p, seg, false);
                        l->out_lines++;
                        p += seg + 1;
                        n -= seg + 1;
                        continue;
                }
                while (seg > 0) {
                        if (st->part_len == l->line_max) {
                                /* Full, and the line goes on: a piece of it. */
                                emit(l, stream, st->part, st->part_len, true);
                                st->part_len = 0;
                        }
                        size_t take = l->line_max - st->part_len;
                        if (take > seg)
                                take = seg;
                        memcpy(st->part + st->part_len, p, take);
                        st->part_len += take;
                        p += take;
                        n -= take;
                        seg -= take;
                }
                if (nl) {
                        emit(l, stream, st->part, st->part_len, false);
                        l->out_lines++;
                        st->part_len = 0;
                        st->counted_mid = false;
                        p++;
                        n--;
                }
        }
        if (l->echo_prefix)
                echo_flush(l);
        file_flush(l);
}

static void unwatch(struct outlog_stream *st) {
        tf_source_remove(st->src);
        st->src = NULL;
        tf_source_remove(st->held_src);
        st->held_src = NULL;
        if (st->fd >= 0)
                close(st->fd);
        st->fd = -1;
}

/* Read at most budget bytes; false once the fd is at EOF (or failed). */
static bool pump(struct outlog_stream *st, size_t budget, bool unbounded) {
        static char buf[READ_CHUNK];
        size_t got = 0;
        while (got < budget) {
                /* The raw copy never reads more than tfrun's queue for it can take: one dispatch's budget
                 * (four chunks) read past a queue half full would drop what the run wrote. What is not
                 * read waits in the pipe, and the run's writes block on it (hold()). The final read takes
                 * everything: the log file must have it all. */
                size_t want = sizeof(buf);
                if (st->log->echo_raw && !unbounded) {
                        size_t q = tf_out_queued(st->stream);
                        size_t room = q < TF_OUT_QUEUE_MAX ? TF_OUT_QUEUE_MAX - q : 0;
                        if (room == 0)
                                return true;
                        if (room < want)
                                want = room;
                }
                ssize_t k = read(st->fd, buf, want);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno == EAGAIN)
                        return true;
                if (k <= 0)
                        return false;
                if (st->log->echo_raw)
                        tf_out(st->stream, buf, (size_t) k);
                tf_outlog_feed(st->log, st->stream, buf, (size_t) k);
                got += (size_t) k;
        }
        return true;
}

static int on_readable(struct tf_source *s, int fd, uint32_t events, void *userdata);

/*
 * echo_raw (one-shot `--log-dir`): the copy on tfrun's stdout must not lose what an inherited stdout
 * would have kept. While half of tfrun's queue for that fd waits for its reader, the pipe is not read: the
 * run's writes block on the full pipe, as they would on tfrun's own. The fd that reader drains is watched
 * instead; the pipe is read again once the queue is down to a quarter.
 */
static int on_out_writable(struct tf_source *s, int fd, uint32_t events, void *userdata) {
        struct outlog_stream *st = userdata;
        tf_out_pump(st->stream);
        if (tf_out_queued(st->stream) > TF_OUT_QUEUE_MAX / 4 && !(events & (EPOLLERR | EPOLLHUP)))
                return 0;
        tf_source_remove(st->held_src);
        st->held_src = NULL;
        _cleanup_error_ tf_error *e = NULL;
        if (tf_loop_add_io(st->loop, st->fd, EPOLLIN, on_readable, st, &st->src, &e) < 0) {
                tf_log("warning: %s: %s", st->log->path, e->msg);
                unwatch(st);
        }
        return 0;
}

/* Whether the pipe is held now (no longer read until the queue is down to a quarter). */
static bool hold(struct outlog_stream *st) {
        int wfd = tf_out_watch_fd(st->stream);
        if (wfd < 0 || tf_out_queued(st->stream) < TF_OUT_QUEUE_MAX / 2)
                return false;
        _cleanup_error_ tf_error *e = NULL;
        /* Another run holding on the same fd (overlapping runs): read on, the copy drops what is over. */
        if (tf_loop_add_io(st->loop, wfd, EPOLLOUT, on_out_writable, st, &st->held_src, &e) < 0)
                return false;
        tf_source_remove(st->src);
        st->src = NULL;
        return true;
}

static int on_readable(struct tf_source *s, int fd, uint32_t events, void *userdata) {
        struct outlog_stream *st = userdata;
        if (!pump(st, READ_BUDGET, false))
                unwatch(st);
        else if (st->log->echo_raw && !hold(st) && tf_out_queued(st->stream) >= TF_OUT_QUEUE_MAX &&
                 !pump(st, READ_BUDGET, true))
                /* A full queue that cannot be held (its fd is another run's to wait on): read on, and the
                 * copy drops what is over, rather than spin on a pipe never read. */
                unwatch(st);
        return 0;
}

int tf_outlog_watch(struct tf_outlog *l, struct tf_loop *loop, int fd, int stream, tf_error **err) {
        struct outlog_stream *st = &l->s[stream == 2 ? 2 : 1];
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
                int e = errno;
                close(fd);
                return tf_error_setc(err, e, "output pipe");
        }
        unwatch(st);
        st->fd = fd;
        st->loop = loop;
        return tf_loop_add_io(loop, fd, EPOLLIN, on_readable, st, &st->src, err);
}

void tf_outlog_finish(struct tf_outlog *l) {
        if (!l || l->finished)
                return;
        for (int i = 1; i <= 2; i++)
                if (l->s[i].fd >= 0) {
                        pump(&l->s[i], FINAL_BUDGET, true);
                        unwatch(&l->s[i]);
                }
        /* The last lines without a newline. */
        l->ts_len = 0;
        for (int i = 1; i <= 2; i++) {
                struct outlog_stream *st = &l->s[i];
                if (st->part_len > 0 || st->counted_mid) {
                        l->out_lines++;
                        if (st->part_len > 0)
                                emit(l, i, st->part, st->part_len, false);
                        st->part_len = 0;
                        st->counted_mid = false;
                }
        }
        if (l->echo_prefix)
                echo_flush(l);
        file_flush(l);
        tail_write(l);
        if (l->fd >= 0)
                close(l->fd);
        l->fd = -1;
        l->finished = true;
}

const char *tf_outlog_path(const struct tf_outlog *l) {
        return l->path;
}

uint64_t tf_outlog_file_bytes(const struct tf_outlog *l) {
        return l->file_bytes;
}

uint64_t tf_outlog_output_bytes(const struct tf_outlog *l) {
        return l->out_bytes;
}

uint64_t tf_outlog_output_lines(const struct tf_outlog *l) {
        return l->out_lines;
}

bool tf_outlog_truncated(const struct tf_outlog *l) {
        return l->truncated;
}

bool tf_outlog_echo_raw(const struct tf_outlog *l) {
        return l->echo_raw;
}

struct tf_outlog *tf_outlog_free(struct tf_outlog *l) {
        if (!l)
                return NULL;
        tf_outlog_finish(l);
        for (int i = 1; i <= 2; i++)
                free(l->s[i].part);
        free(l->fbuf);
        free(l->ebuf);
        free(l->tbuf);
        free(l->echo_prefix);
        free(l->cap);
        free(l->path);
        free(l);
        return NULL;
}

void tf_outlog_capture(struct tf_outlog *l, size_t max) {
        l->capturing = true;
        l->cap_max = max;
}

const char *tf_outlog_captured(const struct tf_outlog *l, size_t *ret_len, bool *ret_over) {
        *ret_len = l->cap_len;
        *ret_over = l->cap_over;
        return l->cap ? l->cap : "";
}
