/* SPDX-License-Identifier: MIT */
#include "io.h"

#include <errno.h>
#include <unistd.h>

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
