/* SPDX-License-Identifier: MIT */
#include "strutil.h"
#include "cleanup.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void tf_oom(void) {
        static const char m[] = "tfrun: out of memory\n";
        ssize_t _unused_ r = write(STDERR_FILENO, m, sizeof(m) - 1);
        abort();
}

void *tf_malloc0(size_t n) {
        void *p = calloc(1, n ? n : 1);
        if (!p)
                tf_oom();
        return p;
}

void *tf_realloc(void *p, size_t n) {
        void *q = realloc(p, n ? n : 1);
        if (!q)
                tf_oom();
        return q;
}

char *tf_strdup(const char *s) {
        if (!s)
                return NULL;
        char *d = strdup(s);
        if (!d)
                tf_oom();
        return d;
}

char *tf_strndup(const char *s, size_t n) {
        char *d = strndup(s, n);
        if (!d)
                tf_oom();
        return d;
}

char *tf_asprintf(const char *fmt, ...) {
        char *s = NULL;
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                tf_oom();
        return s;
}

bool tf_startswith(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool tf_endswith(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

void tf_strv_free(char **v) {
        if (!v)
                return;
        for (char **p = v; *p; p++)
                free(*p);
        free(v);
}

size_t tf_strv_length(char *const *v) {
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

void tf_strv_consume(char ***v, char *s) {
        size_t n = tf_strv_length(*v);
        char **nv = tf_realloc(*v, (n + 2) * sizeof(char *));
        nv[n] = s;
        nv[n + 1] = NULL;
        *v = nv;
}

void tf_strv_push(char ***v, const char *s) {
        tf_strv_consume(v, tf_strdup(s));
}

char **tf_strv_copy(char *const *v) {
        char **c = tf_malloc0((tf_strv_length(v) + 1) * sizeof(char *));
        for (size_t i = 0; v && v[i]; i++)
                c[i] = tf_strdup(v[i]);
        return c;
}

bool tf_strv_contains(char *const *v, const char *s) {
        for (size_t i = 0; v && v[i]; i++)
                if (streq(v[i], s))
                        return true;
        return false;
}

unsigned tf_edit_distance(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b);
        if (la > 64 || lb > 64)
                return 1000;
        unsigned row[65];
        for (size_t j = 0; j <= lb; j++)
                row[j] = (unsigned) j;
        for (size_t i = 1; i <= la; i++) {
                unsigned prev = row[0];
                row[0] = (unsigned) i;
                for (size_t j = 1; j <= lb; j++) {
                        unsigned cur = row[j];
                        unsigned sub = prev + (a[i - 1] != b[j - 1]);
                        unsigned del = row[j] + 1, ins = row[j - 1] + 1;
                        row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
                        prev = cur;
                }
        }
        return row[lb];
}

int tf_split_shell(const char *s, char ***ret, size_t *err_offset) {
        _cleanup_strv_free_ char **v = tf_malloc0(sizeof(char *));
        size_t len = strlen(s);
        _cleanup_free_ char *word = tf_malloc0(len + 1);
        size_t i = 0;

        for (;;) {
                while (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')
                        i++;
                if (!s[i])
                        break;
                size_t w = 0;
                while (s[i] && s[i] != ' ' && s[i] != '\t' && s[i] != '\n') {
                        char c = s[i];
                        if (c == '\'') {
                                size_t start = i++;
                                while (s[i] && s[i] != '\'')
                                        word[w++] = s[i++];
                                if (!s[i]) {
                                        if (err_offset)
                                                *err_offset = start;
                                        return -EINVAL;
                                }
                                i++;
                        } else if (c == '"') {
                                size_t start = i++;
                                while (s[i] && s[i] != '"') {
                                        /* Inside double quotes a backslash only escapes these, as in sh. */
                                        if (s[i] == '\\' && s[i + 1] && strchr("\"\\$`", s[i + 1]))
                                                i++;
                                        word[w++] = s[i++];
                                }
                                if (!s[i]) {
                                        if (err_offset)
                                                *err_offset = start;
                                        return -EINVAL;
                                }
                                i++;
                        } else if (c == '\\') {
                                if (!s[i + 1]) {
                                        if (err_offset)
                                                *err_offset = i;
                                        return -EINVAL;
                                }
                                word[w++] = s[i + 1];
                                i += 2;
                        } else
                                word[w++] = s[i++];
                }
                tf_strv_consume(&v, tf_strndup(word, w));
        }
        *ret = TAKE_PTR(v);
        return 0;
}

char *tf_strv_join_quoted(char *const *v) {
        size_t cap = 1;
        for (size_t i = 0; v && v[i]; i++)
                cap += strlen(v[i]) * 4 + 3;
        char *out = tf_malloc0(cap), *p = out;
        for (size_t i = 0; v && v[i]; i++) {
                if (i)
                        *p++ = ' ';
                bool plain = *v[i] != 0 && strspn(v[i], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                        "0123456789_-./=:,+@%") == strlen(v[i]);
                if (plain) {
                        p = stpcpy(p, v[i]);
                        continue;
                }
                *p++ = '\'';
                for (const char *c = v[i]; *c; c++) {
                        if (*c == '\'')
                                p = stpcpy(p, "'\\''");
                        else
                                *p++ = *c;
                }
                *p++ = '\'';
        }
        *p = 0;
        return out;
}
