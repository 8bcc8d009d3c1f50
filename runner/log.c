/* SPDX-License-Identifier: MIT */
/*
 * One queue per fd of tfrun's own output. Process-wide on purpose: fds 1 and 2 are the process's, whichever
 * service or run a line is about.
 */
#include "runner/log.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/io.h"
#include "base/strutil.h"
#include "base/timeutil.h"
#include "runner/runner.h"

struct out {
        struct tf_out_dest d;
        bool opened;
        char *buf;
        size_t len;
        uint64_t dropped;
};

static struct out outs[3]; /* by fd: 1 stdout, 2 stderr */

static struct out *out_for(int fd) {
        struct out *o = &outs[fd == 1 ? 1 : 2];
        if (!o->opened) {
                tf_out_dest_open(&o->d, fd == 1 ? 1 : 2);
                o->opened = true;
        }
        return o;
}

/* Write the queue's head as far as the fd takes it. A write error other than EAGAIN (the reader is gone)
 * drops what is queued: nobody will read it. */
static void pump(struct out *o) {
        while (o->len > 0) {
                ssize_t w = tf_out_dest_write(&o->d, o->buf, o->len);
                if (w == -EAGAIN || w == 0)
                        return;
                if (w < 0) {
                        o->dropped += o->len;
                        o->len = 0;
                        return;
                }
                memmove(o->buf, o->buf + w, o->len - (size_t) w);
                o->len -= (size_t) w;
        }
}

static void enqueue(struct out *o, const char *s, size_t n) {
        size_t room = TF_OUT_QUEUE_MAX - o->len;
        if (n > room) {
                o->dropped += n - room;
                n = room;
        }
        if (!n)
                return;
        if (!o->buf)
                o->buf = tf_malloc0(TF_OUT_QUEUE_MAX);
        memcpy(o->buf + o->len, s, n);
        o->len += n;
}

void tf_out(int fd, const char *s, size_t n) {
        struct out *o = out_for(fd);
        pump(o);
        if (o->len == 0) {
                ssize_t w = tf_out_dest_write(&o->d, s, n);
                if (w >= 0) {
                        s += w;
                        n -= (size_t) w;
                } else if (w != -EAGAIN) {
                        o->dropped += n;
                        return;
                }
        }
        enqueue(o, s, n);
}

bool tf_out_try(int fd, const char *s, size_t n) {
        struct out *o = out_for(fd);
        pump(o);
        if (o->len > 0 && n > TF_OUT_QUEUE_MAX - o->len)
                return false;
        if (o->len == 0) {
                ssize_t w = tf_out_dest_write(&o->d, s, n);
                if (w >= 0) {
                        s += w;
                        n -= (size_t) w;
                } else if (w != -EAGAIN)
                        return false;
        }
        enqueue(o, s, n);
        return true;
}

size_t tf_out_queued(int fd) {
        return out_for(fd)->len;
}

int tf_out_watch_fd(int fd) {
        struct out *o = out_for(fd);
        return o->d.mode == TF_OUT_BLOCKING ? -1 : o->d.fd;
}

void tf_out_pump(int fd) {
        pump(out_for(fd));
}

void tf_out_flush(uint64_t timeout_usec) {
        uint64_t end = tf_now(CLOCK_MONOTONIC) + timeout_usec;
        for (int fd = 1; fd <= 2; fd++) {
                struct out *o = &outs[fd];
                for (pump(o); o->len > 0; pump(o)) {
                        uint64_t now = tf_now(CLOCK_MONOTONIC);
                        if (now >= end)
                                break;
                        struct pollfd p = { .fd = o->d.fd, .events = POLLOUT };
                        if (poll(&p, 1, (int) ((end - now + 999) / 1000)) <= 0 || (p.revents & (POLLERR | POLLNVAL)))
                                break;
                }
                o->dropped += o->len;
                o->len = 0;
        }
        for (int fd = 1; fd <= 2; fd++) {
                struct out *o = &outs[fd];
                if (o->dropped) {
                        char line[160];
                        int n = snprintf(line, sizeof(line),
                                         "tfrun: warning: %llu bytes of tfrun's own %s were dropped: nobody read "
                                         "them\n",
                                         (unsigned long long) o->dropped, fd == 1 ? "stdout" : "stderr");
                        struct out *e = &outs[2];
                        if (e->opened && n > 0)
                                (void) tf_out_dest_write(&e->d, line, (size_t) n);
                }
                free(o->buf);
                o->buf = NULL;
                if (o->opened)
                        tf_out_dest_close(&o->d);
                *o = (struct out){};
        }
}

void tf_log(const char *fmt, ...) {
        char buf[4096];
        memcpy(buf, "tfrun: ", 7);
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(buf + 7, sizeof(buf) - 8, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        size_t len = 7 + ((size_t) n < sizeof(buf) - 8 ? (size_t) n : sizeof(buf) - 9);
        buf[len++] = '\n';
        tf_out(2, buf, len);
}
