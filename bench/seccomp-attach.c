/* SPDX-License-Identifier: MIT */
/*
 * bench/seccomp-attach: what attaching one seccomp filter costs. N times: fork, set no_new_privs, time
 * seccomp(SECCOMP_SET_MODE_FILTER) of the raw BPF in FILE (struct sock_filter, 8 bytes each, as
 * bench/sandbox.sh extracts it from tfrun's filter cache), exit. Prints the median in microseconds.
 *
 * Usage: seccomp-attach N FILE
 */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
        static struct sock_filter insns[BPF_MAXINSNS];
        int n = argc == 3 ? atoi(argv[1]) : 0;
        FILE *f = argc == 3 ? fopen(argv[2], "rb") : NULL;
        if (n < 1 || !f) {
                fprintf(stderr, "usage: seccomp-attach N FILE\n");
                return 2;
        }
        size_t len = fread(insns, sizeof(insns[0]), BPF_MAXINSNS, f);
        fclose(f);
        struct sock_fprog prog = {.len = (unsigned short)len, .filter = insns};
        double *shared =
                mmap(NULL, sizeof(double), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        double *t = calloc((size_t)n, sizeof(double));
        if (shared == MAP_FAILED || !t)
                return 1;
        for (int i = 0; i < n; i++) {
                pid_t pid = fork();
                if (pid == 0) {
                        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                                _exit(1);
                        double a = now_us();
                        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
                                _exit(1);
                        *shared = now_us() - a;
                        _exit(0);
                }
                int st;
                if (pid < 0 || waitpid(pid, &st, 0) < 0 || st != 0) {
                        fprintf(stderr, "seccomp-attach: the filter was refused\n");
                        return 1;
                }
                t[i] = *shared;
        }
        qsort(t, (size_t)n, sizeof(double), cmp);
        printf("%zu instructions: attach median %.0f us over %d\n", len, t[n / 2], n);
        return 0;
}
