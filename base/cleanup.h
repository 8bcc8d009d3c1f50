/* SPDX-License-Identifier: MIT */
#pragma once

/* Scope-bound ownership (systemd's _cleanup_ and TAKE_PTR). Every owned pointer or fd declared with one
 * of these is released on every return path; TAKE_PTR/TAKE_FD hand ownership on. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void tf_freep(void *p) {
        free(*(void **) p);
}
static inline void tf_closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
static inline void tf_fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}
/* Frees a NULL-terminated vector of strings and the vector itself. */
void tf_strv_free(char **v);
static inline void tf_strv_freep(char ***v) {
        tf_strv_free(*v);
}

#define _cleanup_free_ _cleanup_(tf_freep)
#define _cleanup_close_ _cleanup_(tf_closep)
#define _cleanup_fclose_ _cleanup_(tf_fclosep)
#define _cleanup_strv_free_ _cleanup_(tf_strv_freep)

#define TAKE_PTR(p)                                   \
        ({                                            \
                __typeof__(p) _tp_ = (p);             \
                (p) = NULL;                           \
                _tp_;                                 \
        })
#define TAKE_FD(fd)                                   \
        ({                                            \
                int _tf_ = (fd);                      \
                (fd) = -1;                            \
                _tf_;                                 \
        })

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#define _unused_ __attribute__((unused))
