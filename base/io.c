/* SPDX-License-Identifier: MIT */
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static int write_all(int fd, const void *data, size_t len) {
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
                r = write_all(fd, data, len);
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
