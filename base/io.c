/* SPDX-License-Identifier: MIT */
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "strutil.h"

ssize_t tf_read_full(int fd, void *buf, size_t len) {
        size_t n = 0;
        while (n < len) {
                ssize_t k = read(fd, (char *) buf + n, len - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        return (ssize_t) n;
}

int tf_read_file(const char *path, size_t max, char **ret, size_t *ret_len) {
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        struct stat st;
        if (fstat(fd, &st) < 0) {
                int k = errno;
                close(fd);
                return -k;
        }
        if (!S_ISREG(st.st_mode)) {
                close(fd);
                return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
        }
        if ((uint64_t) st.st_size > max) {
                close(fd);
                return -EFBIG;
        }
        /* One byte more than the size: a file that grew meanwhile is read up to max, not cut silently.
         * procfs, sysfs and cgroupfs files say size 0 whatever they hold: those are read until EOF, in
         * growing steps, still bounded by max. */
        size_t lim = max < SIZE_MAX - 1 ? max + 1 : SIZE_MAX - 1;
        size_t cap = st.st_size == 0                        ? (lim < 4096 ? lim : 4096)
                     : (size_t) st.st_size + 1 < lim ? (size_t) st.st_size + 1
                                                     : lim;
        char *b = malloc(cap + 1);
        if (!b) {
                close(fd);
                return -ENOMEM;
        }
        ssize_t n = tf_read_full(fd, b, cap);
        while (st.st_size == 0 && n == (ssize_t) cap && cap < lim) {
                size_t grown = cap < lim / 2 ? cap * 2 : lim;
                char *nb = realloc(b, grown + 1);
                if (!nb) {
                        free(b);
                        close(fd);
                        return -ENOMEM;
                }
                b = nb;
                ssize_t more = tf_read_full(fd, b + cap, grown - cap);
                if (more < 0) {
                        n = more;
                        break;
                }
                n = (ssize_t) cap + more;
                if ((size_t) more < grown - cap) {
                        cap = grown;
                        break;
                }
                cap = grown;
        }
        close(fd);
        if (n < 0 || (size_t) n > max) {
                free(b);
                return n < 0 ? (int) n : -EFBIG;
        }
        b[n] = 0;
        *ret = b;
        if (ret_len)
                *ret_len = (size_t) n;
        return 0;
}

int tf_mkdir_p(const char *path, mode_t mode) {
        char p[4096];
        size_t n = strlen(path);
        if (n == 0 || n >= sizeof(p))
                return -ENAMETOOLONG;
        memcpy(p, path, n + 1);
        for (char *c = p + 1; *c; c++)
                if (*c == '/') {
                        *c = 0;
                        if (mkdir(p, mode) < 0 && errno != EEXIST)
                                return -errno;
                        *c = '/';
                }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int tf_write_all(int fd, const void *data, size_t len) {
        size_t n = 0;
        while (n < len) {
                ssize_t k = write(fd, (const char *) data + n, len - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                n += (size_t) k;
        }
        return 0;
}

int tf_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode) {
        char tmp[PATH_MAX];
        if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int) sizeof(tmp))
                return -ENAMETOOLONG;
        int fd = mkostemp(tmp, O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        int r = 0;
        if (fchmod(fd, mode) < 0 || fsync(fd) < 0)
                r = -errno;
        if (r == 0)
                r = tf_write_all(fd, data, len);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        close(fd);
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                unlink(tmp);
                return r;
        }
        /* The rename is durable only once the directory is. */
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash)
                *(slash == dir ? slash + 1 : slash) = 0;
        int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
                (void) fsync(dfd);
                close(dfd);
        }
        return 0;
}

int tf_open_nofollow(const char *path, int *ret_fd, char **ret_bad) {
        _cleanup_close_ int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        _cleanup_free_ char *copy = tf_strdup(path);
        char *p = copy;
        for (;;) {
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                char *end = strchr(p, '/');
                if (end)
                        *end = 0;
                _cleanup_close_ int nfd = openat(fd, p, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                struct stat st;
                int r = nfd < 0 ? -errno : fstat(nfd, &st) < 0 ? -errno : S_ISLNK(st.st_mode) ? -ELOOP : 0;
                if (r < 0) {
                        *ret_bad = tf_strndup(path, (size_t)(p - copy) + strlen(p));
                        return r;
                }
                close(fd);
                fd = TAKE_FD(nfd);
                if (!end)
                        break;
                *end = '/';
                p = end + 1;
        }
        if (ret_fd)
                *ret_fd = TAKE_FD(fd);
        return 0;
}

/*
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
 */
static void dest_dup(struct tf_out_dest *d, int fd, enum tf_out_mode mode) {
        int c = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        *d = c >= 0 ? (struct tf_out_dest){ .fd = c, .own = true, .mode = mode }
                    : (struct tf_out_dest){ .fd = fd, .mode = TF_OUT_BLOCKING };
}

void tf_out_dest_open(struct tf_out_dest *d, int fd) {
        *d = (struct tf_out_dest){ .fd = fd, .mode = TF_OUT_BLOCKING };
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return;
        if (S_ISSOCK(st.st_mode)) {
                dest_dup(d, fd, TF_OUT_SOCKET);
                return;
        }
        if (!S_ISFIFO(st.st_mode) && !(S_ISCHR(st.st_mode) && isatty(fd))) {
                dest_dup(d, fd, TF_OUT_BLOCKING);
                return;
        }
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        int c = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (c < 0) {
                dest_dup(d, fd, TF_OUT_BLOCKING);
                return;
        }
        /* The same object, not another file that took its name. */
        struct stat st2;
        if (fstat(c, &st2) < 0 || st2.st_dev != st.st_dev || st2.st_ino != st.st_ino ||
            st2.st_rdev != st.st_rdev) {
                close(c);
                dest_dup(d, fd, TF_OUT_BLOCKING);
                return;
        }
        *d = (struct tf_out_dest){ .fd = c, .own = true, .mode = TF_OUT_NONBLOCK };
}

void tf_out_dest_close(struct tf_out_dest *d) {
        if (d->own && d->fd >= 0)
                close(d->fd);
        d->fd = -1;
        d->own = false;
}

ssize_t tf_out_dest_write(const struct tf_out_dest *d, const void *buf, size_t n) {
        const char *p = buf;
        size_t done = 0;
        while (done < n) {
                ssize_t w = d->mode == TF_OUT_SOCKET ? send(d->fd, p + done, n - done, MSG_DONTWAIT | MSG_NOSIGNAL)
                                                     : write(d->fd, p + done, n - done);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN && done > 0)
                                break;
                        return -errno;
                }
                /* A short write: once more, the next one says EAGAIN when it is full. */
                done += (size_t) w;
        }
        return (ssize_t) done;
}
