/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Read until len bytes or end of file, retrying EINTR. Returns the bytes read (< len only at end of file)
 * or -errno. */
ssize_t tf_read_full(int fd, void *buf, size_t len);
