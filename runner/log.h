/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * tfrun's own messages (stderr) and its --json object (stdout), written without ever blocking the loop: a
 * reader that stops reading (a full pipe, a terminal on ^S) must not hold up timeouts and signals. What the
 * fd does not take at once waits in a bounded queue (TF_OUT_QUEUE_MAX per fd; beyond it, bytes are dropped
 * and counted) and goes out with the next write or at exit. fds 1 and 2 keep their open file descriptions
 * untouched (see tf_out_dest_open() in base/io.c).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TF_OUT_QUEUE_MAX (256u * 1024)

/* Write s[n] to fd 1 or 2 now as far as it takes it; queue the rest. Never blocks on a reader. */
void tf_out(int fd, const char *s, size_t n);

/* All of s[n] or nothing: written and queued like tf_out() when the queue has room for what the fd does
 * not take at once, else nothing is written and false is returned (the caller counts what it dropped:
 * whole lines, never a torn one). n must not exceed TF_OUT_QUEUE_MAX. */
bool tf_out_try(int fd, const char *s, size_t n);

/* What waits in fd 1's or 2's queue; the descriptor to watch for EPOLLOUT meanwhile (-1: none); and one
 * more try to write it. For a copy of a run's output that holds the run back (a full pipe) rather than
 * lose it, as an inherited stdout would. */
size_t tf_out_queued(int fd);
int tf_out_watch_fd(int fd);
void tf_out_pump(int fd);

/* At exit: wait up to timeout_usec in all for the readers to take what is queued, then drop the rest and
 * say how much was lost (on stderr, if it takes it). */
void tf_out_flush(uint64_t timeout_usec);
