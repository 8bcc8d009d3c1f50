/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Read until len bytes or end of file, retrying EINTR. Returns the bytes read (< len only at end of file)
 * or -errno. */
ssize_t tf_read_full(int fd, void *buf, size_t len);

/* The whole of a regular file of at most `max` bytes (-EFBIG beyond), NUL-terminated; *ret_len without the
 * NUL. 0 or -errno. */
int tf_read_file(const char *path, size_t max, char **ret, size_t *ret_len);

/* mkdir -p: each missing component made with `mode`; an existing one is left as it is. 0 or -errno. */
int tf_mkdir_p(const char *path, mode_t mode);

/* All of data to fd, retrying EINTR and short writes. 0 or -errno. */
int tf_write_all(int fd, const void *data, size_t len);

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

/*
 * An output fd written without blocking and without changing the open file description others share
 * (the terminal, the shell, the rest of a pipeline): see tf_out_dest_open() in io.c for how each kind of
 * fd is opened. Used for a container's output and for tfrun's own messages.
 */
enum tf_out_mode {
        TF_OUT_BLOCKING, /* the fd as given: a regular file, /dev/null, or a reopen that failed */
        TF_OUT_NONBLOCK, /* our own O_NONBLOCK description of the same pipe, FIFO or terminal */
        TF_OUT_SOCKET,   /* a dup of a socket, written with send(MSG_DONTWAIT) */
};
struct tf_out_dest {
        int fd; /* -1: discarded */
        bool own; /* fd is ours to close */
        enum tf_out_mode mode;
};
/* Every destination is a number of our own (a reopen or a dup) when the kernel allows, so that a loop
 * watching it for EPOLLOUT watches no one else's number. fd < 0: a discarding destination. */
void tf_out_dest_open(struct tf_out_dest *d, int fd);
void tf_out_dest_close(struct tf_out_dest *d);
/* Write what the fd takes now: bytes written, or -errno (-EAGAIN: nothing taken). A blocking destination
 * takes everything or fails. */
ssize_t tf_out_dest_write(const struct tf_out_dest *d, const void *p, size_t n);
