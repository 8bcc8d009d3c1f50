/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Read until len bytes or end of file, retrying EINTR. Returns the bytes read (< len only at end of file)
 * or -errno. */
ssize_t tf_read_full(int fd, void *buf, size_t len);

/* Replace path with data atomically: a temporary file beside it under a random name, created
 * O_EXCL|O_NOFOLLOW (a directory others may write cannot redirect it), written, fsynced, given `mode`,
 * renamed over path, and the directory fsynced. Readers see the old content or the new, never a part.
 * 0 or -errno; nothing is left behind on failure. */
int tf_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
