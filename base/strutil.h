/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* String helpers. Allocation failure aborts (tf_oom): a runner that cannot allocate a few bytes cannot
 * report anything useful either, and this keeps every caller's error paths about real failures. */

_Noreturn void tf_oom(void);
void *tf_malloc0(size_t n);
void *tf_realloc(void *p, size_t n);
char *tf_strdup(const char *s);
char *tf_strndup(const char *s, size_t n);
char *tf_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static inline bool streq(const char *a, const char *b) {
        return a && b && __builtin_strcmp(a, b) == 0;
}
bool tf_startswith(const char *s, const char *prefix);
bool tf_endswith(const char *s, const char *suffix);

size_t tf_strv_length(char *const *v);
/* Appends a copy of s to the NULL-terminated vector *v (which may be NULL). */
void tf_strv_push(char ***v, const char *s);
/* Appends s itself, taking ownership. */
void tf_strv_consume(char ***v, char *s);
char **tf_strv_copy(char *const *v);
bool tf_strv_contains(char *const *v, const char *s);

/* Levenshtein distance, for "did you mean" suggestions. */
unsigned tf_edit_distance(const char *a, const char *b);

/* Split a command line like a POSIX shell would (quotes '' "", backslash escapes), without running one
 * and without expansions. Returns 0, -EINVAL with *err_offset at the offending byte (unterminated
 * quote), or -ENOMEM. */
int tf_split_shell(const char *s, char ***ret, size_t *err_offset);

/* Join argv with spaces, quoting words that need it, for messages. */
char *tf_strv_join_quoted(char *const *v);
