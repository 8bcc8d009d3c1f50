/* SPDX-License-Identifier: MIT */
/*
 * Replays corpora through a fuzz target without libFuzzer, so that every corpus runs in the normal test
 * run (and under ASan+UBSan when the build is sanitized). Arguments are files or directories (every
 * regular file in them, in name order). Output is TAP: one test point per input. A crash or a broken
 * property aborts the process, which fails the test and names the input on stderr.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

/* Targets that need set-up define it; libFuzzer calls it the same way. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv) {
        return 0;
}

static int n_tests, n_failed;

static int read_all(const char *path, uint8_t **ret, size_t *ret_len) {
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        size_t cap = 4096, len = 0;
        uint8_t *buf = malloc(cap);
        for (;;) {
                if (!buf) {
                        close(fd);
                        return -ENOMEM;
                }
                if (len == cap) {
                        cap *= 2;
                        uint8_t *nb = realloc(buf, cap);
                        if (!nb)
                                free(buf);
                        buf = nb;
                        continue;
                }
                ssize_t n = read(fd, buf + len, cap - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int e = errno;
                        free(buf);
                        close(fd);
                        return -e;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        close(fd);
        *ret = buf;
        *ret_len = len;
        return 0;
}

static void run_file(const char *path) {
        uint8_t *buf = NULL;
        size_t len = 0;
        int r = read_all(path, &buf, &len);
        n_tests++;
        if (r < 0) {
                n_failed++;
                printf("not ok %d - %s: %s\n", n_tests, path, strerror(-r));
                fflush(stdout);
                return;
        }
        /* Name the input before running it: if it crashes, the log says which one. */
        fprintf(stderr, "# running %s (%zu bytes)\n", path, len);
        /* A copy of exactly len bytes, so ASan catches any read past the input's end. */
        uint8_t *exact = malloc(len ? len : 1);
        if (!exact)
                abort();
        memcpy(exact, buf, len);
        free(buf);
        LLVMFuzzerTestOneInput(exact, len);
        free(exact);
        printf("ok %d - %s\n", n_tests, path);
        fflush(stdout);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_dir(const char *dir) {
        struct dirent **list = NULL;
        int n = scandir(dir, &list, NULL, alphasort);
        if (n < 0) {
                n_tests++;
                n_failed++;
                printf("not ok %d - %s: %s\n", n_tests, dir, strerror(errno));
                return;
        }
        for (int i = 0; i < n; i++) {
                char *p = NULL;
                struct stat st;
                if (list[i]->d_name[0] != '.' && asprintf(&p, "%s/%s", dir, list[i]->d_name) >= 0 &&
                    stat(p, &st) == 0 && S_ISREG(st.st_mode))
                        run_file(p);
                free(p);
                free(list[i]);
        }
        free(list);
}

int main(int argc, char **argv) {
        if (argc < 2) {
                fprintf(stderr, "usage: %s CORPUS_DIR|FILE...\n", argv[0]);
                return 2;
        }
        LLVMFuzzerInitialize(&argc, &argv);
        qsort(argv + 1, (size_t)argc - 1, sizeof(char *), cmp_str);
        for (int i = 1; i < argc; i++) {
                struct stat st;
                if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
                        run_dir(argv[i]);
                else
                        run_file(argv[i]);
        }
        /* An empty corpus proves nothing: fail rather than pass silently. */
        if (n_tests == 0) {
                printf("not ok 1 - no inputs in the corpus\n");
                n_tests = n_failed = 1;
        }
        printf("1..%d\n", n_tests);
        return n_failed ? 1 : 0;
}
