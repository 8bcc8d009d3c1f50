/* SPDX-License-Identifier: MIT */
/*
 * A container's output on its way to tfrun's stdout and stderr without blocking tfrun's loop.
 *
 * Where each destination is opened and how: tf_out_dest_open() in base/io.c.
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
#include "base/io.h"
#include "base/strutil.h"
#include "docker/docker-internal.h"

#define CHUNK_MIN (64u * 1024)

struct docker_out_chunk {
        struct docker_out_chunk *next;
        int stream;
        size_t len, off, cap;
        uint8_t data[];
};

void docker_out_init(struct docker_out *o, int out_fd, int err_fd) {
        *o = (struct docker_out){};
        o->dest[0].fd = -1;
        tf_out_dest_open(&o->dest[1], out_fd);
        tf_out_dest_open(&o->dest[2], err_fd);
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
                tf_out_dest_close(&o->dest[i]);
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
        const struct tf_out_dest *d = &o->dest[stream];
        if (d->fd < 0)
                return 0;
        /* Nothing queued: straight to the fd, the queue takes only what it refuses. */
        if (!o->head) {
                ssize_t w = tf_out_dest_write(d, p, n);
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
                ssize_t w = tf_out_dest_write(&o->dest[c->stream], c->data + c->off, c->len - c->off);
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
