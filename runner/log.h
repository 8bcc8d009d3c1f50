/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * tfrun's own messages (stderr) and its --json object (stdout), written without ever blocking the loop: a
 * reader that stops reading (a full pipe, a terminal on ^S) must not hold up timeouts and signals. What the
 * fd does not take at once waits in a bounded queue (TF_OUT_QUEUE_MAX per fd; beyond it, bytes are dropped
 * and counted) and goes out with the next write or at exit. fds 1 and 2 keep their open file descriptions
 * untouched (see tf_out_dest_open() in base/io.c).
 */

#include <stddef.h>
#include <stdint.h>

#define TF_OUT_QUEUE_MAX (256u * 1024)

/* Write s[n] to fd 1 or 2 now as far as it takes it; queue the rest. Never blocks on a reader. */
void tf_out(int fd, const char *s, size_t n);

/* At exit: wait up to timeout_usec in all for the readers to take what is queued, then drop the rest and
 * say how much was lost (on stderr, if it takes it). */
void tf_out_flush(uint64_t timeout_usec);
