/* SPDX-License-Identifier: MIT */
/*
 * timeit: times command sequences side by side, interleaved round by round so that machine noise falls on
 * every variant alike. Reports the median and p90 of each variant's wall time in microseconds.
 *
 *   timeit ROUNDS LABEL cmd args... [;; cmd args...] [:: LABEL cmd args... [;; ...]] ...
 *
 * Each variant is a sequence of commands run one after another (fork, exec, wait); a sequence fails the
 * benchmark if any command exits non-zero. Output: one line per variant, "LABEL median_us p90_us".
 * With TIMEIT_QUIET set, the commands' stdout and stderr go to /dev/null. With TIMEIT_FD9=PATH, every
 * command starts with PATH open read-only on descriptor 9 (fresh each time: `bwrap --seccomp 9` reads it
 * to EOF). With TIMEIT_GAP_MS=N, an untimed pause of N ms comes before each variant. With TIMEIT_P99 set,
 * each line ends with a third number, the p99.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#define MAXV 32
#define MAXS 16

struct variant {
        const char *label;
        char **steps[MAXS];
        int n_steps;
        double *samples;
};

static double now_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

static int run(char **argv) {
        pid_t p = fork();
        if (p == 0) {
                /* TIMEIT_QUIET=1: the commands' output would drown the report (and cost terminal time). */
                if (getenv("TIMEIT_QUIET")) {
                        int fd = open("/dev/null", O_WRONLY);
                        dup2(fd, 1);
                        dup2(fd, 2);
                }
                const char *fd9 = getenv("TIMEIT_FD9");
                if (fd9) {
                        int fd = open(fd9, O_RDONLY);
                        if (fd < 0 || dup2(fd, 9) < 0)
                                _exit(126);
                }
                execvp(argv[0], argv);
                _exit(127);
        }
        int st;
        if (p < 0 || waitpid(p, &st, 0) < 0)
                return -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int cmp(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
        if (argc < 4) {
                fprintf(stderr, "usage: timeit ROUNDS LABEL cmd... [;; cmd...] [:: LABEL cmd...]\n");
                return 2;
        }
        int rounds = atoi(argv[1]);
        struct variant v[MAXV] = {};
        int nv = 0;
        for (int i = 2; i < argc;) {
                if (nv == MAXV) {
                        fprintf(stderr, "timeit: at most %d variants\n", MAXV);
                        return 2;
                }
                struct variant *cur = &v[nv++];
                cur->label = argv[i++];
                cur->steps[cur->n_steps++] = &argv[i];
                for (; i < argc; i++) {
                        if (!strcmp(argv[i], ";;")) {
                                argv[i] = NULL;
                                if (cur->n_steps == MAXS) {
                                        fprintf(stderr, "timeit: at most %d steps\n", MAXS);
                                        return 2;
                                }
                                cur->steps[cur->n_steps++] = &argv[i + 1];
                        } else if (!strcmp(argv[i], "::")) {
                                argv[i++] = NULL;
                                break;
                        }
                }
        }
        for (int k = 0; k < nv; k++)
                v[k].samples = calloc((size_t) rounds, sizeof(double));
        /* TIMEIT_GAP_MS: an untimed pause before each variant, so that what one variant leaves to the kernel
         * (namespace teardown, RCU grace periods) is not billed to the next one. */
        const char *gap_s = getenv("TIMEIT_GAP_MS");
        long gap_ms = gap_s ? strtol(gap_s, NULL, 10) : 0;
        /* One warm-up round, not recorded. */
        for (int r = -1; r < rounds; r++)
                for (int k = 0; k < nv; k++) {
                        if (gap_ms > 0) {
                                struct timespec ts = { gap_ms / 1000, (gap_ms % 1000) * 1000000L };
                                nanosleep(&ts, NULL);
                        }
                        double t0 = now_us();
                        for (int s = 0; s < v[k].n_steps; s++) {
                                int rc = run(v[k].steps[s]);
                                if (rc != 0) {
                                        fprintf(stderr, "timeit: %s: step %d (%s) exited %d\n", v[k].label, s,
                                                v[k].steps[s][0], rc);
                                        return 1;
                                }
                        }
                        if (r >= 0)
                                v[k].samples[r] = now_us() - t0;
                }
        for (int k = 0; k < nv; k++) {
                qsort(v[k].samples, (size_t) rounds, sizeof(double), cmp);
                printf("%s %.0f %.0f", v[k].label, v[k].samples[rounds / 2], v[k].samples[(rounds * 9) / 10]);
                if (getenv("TIMEIT_P99"))
                        printf(" %.0f", v[k].samples[((size_t) rounds * 99 + 99) / 100 - 1]);
                printf("\n");
        }
        return 0;
}
