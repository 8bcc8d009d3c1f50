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

/* Opens an absolute path O_PATH, one component at a time with O_NOFOLLOW from "/", so that no symbolic
 * link in any component is followed (openat2(RESOLVE_NO_SYMLINKS) would not say which component, and is
 * not on every kernel). On success *ret_fd, when ret_fd is not NULL, owns an O_PATH|O_CLOEXEC descriptor of
 * the path. Fails with -ELOOP when a component is a link, -ENOENT when one is missing, or another -errno;
 * then *ret_bad (when the walk got as far as a component) owns the prefix of path up to and including the
 * component that failed. */
int tf_open_nofollow(const char *path, int *ret_fd, char **ret_bad);
