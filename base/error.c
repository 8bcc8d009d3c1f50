/* SPDX-License-Identifier: MIT */
#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int verror(tf_error **err, int code, const char *fmt, va_list ap, int with_strerror) {
        if (code < 0)
                code = -code;
        if (code == 0)
                code = EIO;
        if (!err)
                return -code;

        char *msg = NULL;
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        if (msg && with_strerror) {
                char *m2 = NULL;
                if (asprintf(&m2, "%s: %s", msg, strerror(code)) >= 0) {
                        free(msg);
                        msg = m2;
                }
        }
        tf_error *e = calloc(1, sizeof(*e));
        if (!e) {
                free(msg);
                return -code;
        }
        e->code = code;
        e->msg = msg ? msg : strdup(strerror(code));
        tf_error_free(*err);
        *err = e;
        return -code;
}

int tf_error_set(tf_error **err, int code, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = verror(err, code, fmt, ap, 0);
        va_end(ap);
        return r;
}

int tf_error_setc(tf_error **err, int code, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = verror(err, code, fmt, ap, 1);
        va_end(ap);
        return r;
}

int tf_error_prefix(tf_error **err, const char *fmt, ...) {
        if (!err || !*err)
                return -EIO;
        char *pre = NULL, *msg = NULL;
        va_list ap;
        va_start(ap, fmt);
        int n = vasprintf(&pre, fmt, ap);
        va_end(ap);
        if (n >= 0 && asprintf(&msg, "%s: %s", pre, (*err)->msg ? (*err)->msg : "") >= 0) {
                free((*err)->msg);
                (*err)->msg = msg;
        }
        free(pre);
        return -(*err)->code;
}

tf_error *tf_error_free(tf_error *e) {
        if (e) {
                free(e->msg);
                free(e);
        }
        return NULL;
}
