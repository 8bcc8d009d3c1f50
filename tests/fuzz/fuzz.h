/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Shared by the fuzz targets. A target is a LLVMFuzzerTestOneInput() that libFuzzer drives (built with
 * -Dfuzzing=true under clang) or that replay.c drives over a corpus directory in the normal test run.
 * A broken property aborts: libFuzzer then saves the input as a crash, and a replay test fails.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_ASSERT(cond, ...)                                                                   \
        do {                                                                                     \
                if (!(cond)) {                                                                   \
                        fprintf(stderr, "fuzz property failed at %s:%d: %s\n", __FILE__, __LINE__, \
                                #cond);                                                          \
                        fprintf(stderr, "  " __VA_ARGS__);                                       \
                        fputc('\n', stderr);                                                     \
                        abort();                                                                 \
                }                                                                                \
        } while (0)

/* The input as a NUL-terminated string; NULL when it holds a NUL byte (the parsers take C strings, so
 * such inputs cannot reach them from a spec or a command line). Caller frees. */
static inline char *fuzz_cstring(const uint8_t *data, size_t size) {
        if (memchr(data, 0, size))
                return NULL;
        char *s = malloc(size + 1);
        if (!s)
                abort();
        memcpy(s, data, size);
        s[size] = 0;
        return s;
}

/* True if s is one line (no newline) that begins with prefix. */
static inline int fuzz_one_line_with_prefix(const char *s, const char *prefix) {
        return s && !strchr(s, '\n') && strncmp(s, prefix, strlen(prefix)) == 0;
}
