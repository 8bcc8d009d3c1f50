/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The one error object threaded through every fallible call (after crun's libcrun_error_t).
 *
 * A fallible function returns >= 0 on success or -errno on failure and takes `tf_error **err` last.
 * On failure it has filled *err (if err is non-NULL) with a message a person can read, naming the
 * object: "write 'memory.max' in /sys/fs/cgroup/x: Device or resource busy". Callers add context
 * with tf_error_prefix() on the way up; the runner prints it once.
 */

#include <stdarg.h>
#include <stddef.h>

typedef struct tf_error {
        int code;  /* positive errno */
        char *msg; /* owned */
} tf_error;

/* Fill *err (freeing any previous error) and return -code. code may be given as positive or negative
 * errno. With err == NULL only the return value carries the failure. */
int tf_error_set(tf_error **err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Like tf_error_set() and append ": strerror(code)". */
int tf_error_setc(tf_error **err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prepend "context: " to an existing error. Returns -(*err)->code, or -EIO if there is none. */
int tf_error_prefix(tf_error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* NULL-safe; returns NULL so that `e = tf_error_free(e);` reads naturally. */
tf_error *tf_error_free(tf_error *e);

static inline void tf_error_freep(tf_error **e) {
        if (e && *e) {
                tf_error_free(*e);
                *e = NULL;
        }
}
#define _cleanup_error_ __attribute__((cleanup(tf_error_freep)))
