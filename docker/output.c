/* SPDX-License-Identifier: MIT */
/*
 * A container's output on its way to tfrun's stdout and stderr without blocking tfrun's loop.
 *
 * Why not O_NONBLOCK on fds 1 and 2 themselves: the flag lives in the open file description, which tfrun
 * shares with whoever gave it the fds (the shell and the other processes of a terminal, a service
 * manager's other writers, the rest of a pipeline). Set there, it is set for all of them, and a shell that
 * finds its terminal non-blocking fails its reads. So each destination gets a description of tfrun's own,
 * chosen by what the fd is:
 *   pipe, FIFO, terminal: reopened through /proc/self/fd/N (O_WRONLY|O_NONBLOCK|O_NOCTTY): the same pipe
 *           or terminal, a new description whose flags are ours. A terminal stopped by ^S then answers
 *           EAGAIN, and the loop waits for EPOLLOUT like for a full pipe.
 *   socket: a socket cannot be reopened through /proc (ENXIO); send(MSG_DONTWAIT) makes each write
 *           non-blocking without touching the description. It goes through a dup so that the loop's
 *           epoll watches a number of our own.
 *   regular file, block device, other character devices (/dev/null): written as they are, blocking:
 *           they do not wait for a reader (a full disk fails, it does not stall).
 * When a reopen fails (no /proc, a terminal tfrun may not open, a FIFO whose reader is gone), writes go to
 * the fd's own description, blocking, as before. Every destination is a number of our own (the reopen or a
 * dup), so that two runs writing to one fd watch it each through its own number.
 *
 * What the fd does not take at once is queued, in the order the engine sent it: stdout and stderr share
 * one queue, so frames reach a terminal or a 2>&1 pipe in the order the container wrote them, and a stalled
 * stdout holds stderr back as a blocking write did. The queue is bounded by its user (async.c pauses the
 * transfer when a stream has TF_DOCKER_OUTPUT_MAX bytes queued).
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/strutil.h"
#include "docker/docker-internal.h"

#define CHUNK_MIN (64u * 1024)

struct docker_out_chunk {
        struct docker_out_chunk *next;
        int stream;
        size_t len, off, cap;
        uint8_t data[];
};

/* A dup: a number of our own for the loop's epoll (the loop watches one source per fd number), the
 * description shared. */
static void dest_dup(struct docker_out_dest *d, int fd, enum docker_out_mode mode) {
        int c = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        *d = c >= 0 ? (struct docker_out_dest){.fd = c, .own = true, .mode = mode}
                    : (struct docker_out_dest){.fd = fd, .mode = DOCKER_OUT_BLOCKING};
}

static void dest_open(struct docker_out_dest *d, int fd) {
        *d = (struct docker_out_dest){.fd = fd, .mode = DOCKER_OUT_BLOCKING};
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return;
        if (S_ISSOCK(st.st_mode))
                return dest_dup(d, fd, DOCKER_OUT_SOCKET);
        if (!S_ISFIFO(st.st_mode) && !(S_ISCHR(st.st_mode) && isatty(fd)))
                return dest_dup(d, fd, DOCKER_OUT_BLOCKING);
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        int c = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (c < 0)
                return dest_dup(d, fd, DOCKER_OUT_BLOCKING);
        /* The same object, not another file that took its name. */
        struct stat st2;
        if (fstat(c, &st2) < 0 || st2.st_dev != st.st_dev || st2.st_ino != st.st_ino ||
            st2.st_rdev != st.st_rdev) {
                close(c);
                return dest_dup(d, fd, DOCKER_OUT_BLOCKING);
        }
        *d = (struct docker_out_dest){.fd = c, .own = true, .mode = DOCKER_OUT_NONBLOCK};
}

void docker_out_init(struct docker_out *o, int out_fd, int err_fd) {
        *o = (struct docker_out){};
        o->dest[0].fd = -1;
        dest_open(&o->dest[1], out_fd);
        dest_open(&o->dest[2], err_fd);
}

static void drop_queue(struct docker_out *o) {
        while (o->head) {
                struct docker_out_chunk *c = o->head;
                o->head = c->next;
                o->dropped[c->stream] += c->len - c->off;
                free(c);
        }
        o->tail = NULL;
        o->queued[1] = o->queued[2] = 0;
}

void docker_out_done(struct docker_out *o) {
        drop_queue(o);
        for (int i = 1; i <= 2; i++)
                if (o->dest[i].own && o->dest[i].fd >= 0)
                        close(o->dest[i].fd);
        o->dest[1].fd = o->dest[2].fd = -1;
}

/* Write what fd takes now: bytes written, or -errno (-EAGAIN: nothing taken). Blocking destinations
 * take everything or fail. */
static ssize_t dest_write(const struct docker_out_dest *d, const uint8_t *p, size_t n) {
        size_t done = 0;
        while (done < n) {
                ssize_t w = d->mode == DOCKER_OUT_SOCKET ? send(d->fd, p + done, n - done, MSG_DONTWAIT)
                                                         : write(d->fd, p + done, n - done);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN && done > 0)
                                break;
                        return -errno;
                }
                /* A short write: once more, the next one says EAGAIN when it is full. */
                done += (size_t)w;
        }
        return (ssize_t)done;
}

static int write_error(int stream, int r, tf_error **err) {
        return tf_error_setc(err, r, "attach stream: write %s", stream == 2 ? "stderr" : "stdout");
}

static void enqueue(struct docker_out *o, int stream, const uint8_t *p, size_t n) {
        struct docker_out_chunk *t = o->tail;
        if (!t || t->stream != stream || t->cap - t->len < n) {
                size_t cap = n > CHUNK_MIN ? n : CHUNK_MIN;
                t = tf_malloc0(sizeof(*t) + cap);
                t->stream = stream;
                t->cap = cap;
                if (o->tail)
                        o->tail->next = t;
                else
                        o->head = t;
                o->tail = t;
        }
        memcpy(t->data + t->len, p, n);
        t->len += n;
        o->queued[stream] += n;
}

int docker_out_push(struct docker_out *o, int stream, const uint8_t *p, size_t n, tf_error **err) {
        if (stream < 1 || stream > 2 || n == 0)
                return 0;
        if (o->discard) {
                o->dropped[stream] += n;
                return 0;
        }
        const struct docker_out_dest *d = &o->dest[stream];
        if (d->fd < 0)
                return 0;
        /* Nothing queued: straight to the fd, the queue takes only what it refuses. */
        if (!o->head) {
                ssize_t w = dest_write(d, p, n);
                if (w < 0 && w != -EAGAIN)
                        return write_error(stream, (int)w, err);
                if (w > 0) {
                        p += w;
                        n -= (size_t)w;
                        o->written[stream] += (uint64_t)w;
                }
        }
        if (n > 0)
                enqueue(o, stream, p, n);
        return 0;
}

int docker_out_flush(struct docker_out *o, tf_error **err) {
        while (o->head) {
                struct docker_out_chunk *c = o->head;
                ssize_t w = dest_write(&o->dest[c->stream], c->data + c->off, c->len - c->off);
                if (w == -EAGAIN)
                        return 0;
                if (w < 0)
                        return write_error(c->stream, (int)w, err);
                c->off += (size_t)w;
                o->queued[c->stream] -= (size_t)w;
                o->written[c->stream] += (uint64_t)w;
                if (c->off < c->len)
                        return 0;
                o->head = c->next;
                if (!o->head)
                        o->tail = NULL;
                free(c);
        }
        return 0;
}

int docker_out_blocked_fd(const struct docker_out *o) {
        return o->head ? o->dest[o->head->stream].fd : -1;
}

size_t docker_out_queued(const struct docker_out *o) {
        return o->queued[1] + o->queued[2];
}

void docker_out_drop(struct docker_out *o) {
        drop_queue(o);
        o->discard = true;
}
