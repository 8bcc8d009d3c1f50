/* SPDX-License-Identifier: MIT */
/*
 * bench/mgr-api: the manager's control API without a process start per call: plain HTTP/1.1 over its
 * unix socket, one connection per request (as the verbs make them), no library.
 *
 *   mgr-api SOCKET get PATH N       N round trips of GET PATH; prints "median_us p99_us max_us bytes"
 *   mgr-api SOCKET post PATH N      the same with POST (an empty body)
 *   mgr-api SOCKET trigger NAME...  POST .../NAME/trigger back to back; prints "NAME sent_usec run_id" per
 *                                   call, sent_usec the CLOCK_REALTIME just before the request is written;
 *                                   each must have started, be waiting for admission or queued behind
 *                                   a running one (overlap: queue), run id "-"
 *   mgr-api - bare N STAMP FILE     the baseline of trigger-to-exec: N fork+exec of STAMP FILE from this
 *                                   process; prints "median_us p99_us max_us" of its stamp minus the time
 *                                   before the fork
 *
 * Any answer other than 200 fails the benchmark (exit 1).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char *sock_path;

static double now(clockid_t c) {
        struct timespec ts;
        clock_gettime(c, &ts);
        return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* One request: the whole answer (status line to EOF) in *buf. Returns its length, or -1. */
static ssize_t request(const char *method, const char *path, char **buf, double *sent_usec) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                fprintf(stderr, "mgr-api: %s: %s\n", sock_path, strerror(errno));
                return -1;
        }
        char req[512];
        int n = snprintf(req, sizeof(req),
                         "%s %s HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n"
                         "Connection: close\r\n\r\n",
                         method, path);
        if (sent_usec)
                *sent_usec = now(CLOCK_REALTIME);
        if (write(fd, req, (size_t)n) != n) {
                close(fd);
                return -1;
        }
        size_t cap = 1 << 16, len = 0;
        char *b = malloc(cap);
        for (;;) {
                if (len + 4096 > cap)
                        b = realloc(b, cap *= 2);
                ssize_t k = read(fd, b + len, cap - len - 1);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                len += (size_t)k;
        }
        close(fd);
        b[len] = 0;
        if (strncmp(b, "HTTP/1.1 200", 12) != 0) {
                fprintf(stderr, "mgr-api: %s %s: %.200s\n", method, path, b);
                free(b);
                return -1;
        }
        *buf = b;
        return (ssize_t)len;
}

static int cmp(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
        if (argc < 4) {
                fprintf(stderr, "usage: mgr-api SOCKET get|post PATH N | SOCKET trigger NAME... | - bare N "
                                "STAMP FILE\n");
                return 2;
        }
        sock_path = argv[1];
        if ((!strcmp(argv[2], "get") || !strcmp(argv[2], "post")) && argc == 5) {
                const char *method = !strcmp(argv[2], "get") ? "GET" : "POST";
                int n = atoi(argv[4]);
                double *t = calloc((size_t)n, sizeof(double));
                ssize_t bytes = 0;
                for (int i = -1; i < n; i++) { /* one warm-up call */
                        char *b = NULL;
                        double t0 = now(CLOCK_MONOTONIC);
                        bytes = request(method, argv[3], &b, NULL);
                        if (bytes < 0)
                                return 1;
                        if (i >= 0)
                                t[i] = now(CLOCK_MONOTONIC) - t0;
                        free(b);
                }
                qsort(t, (size_t)n, sizeof(double), cmp);
                printf("%.0f %.0f %.0f %zd\n", t[n / 2], t[(n * 99) / 100], t[n - 1], bytes);
                return 0;
        }
        if (!strcmp(argv[2], "bare") && argc == 6) {
                int n = atoi(argv[3]);
                double *t = calloc((size_t)n, sizeof(double));
                for (int i = -1; i < n; i++) {
                        double t0 = now(CLOCK_REALTIME);
                        pid_t p = fork();
                        if (p == 0) {
                                execv(argv[4], (char *[]){argv[4], argv[5], NULL});
                                _exit(127);
                        }
                        int st;
                        if (p < 0 || waitpid(p, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                                return 1;
                        FILE *f = fopen(argv[5], "r");
                        long long stamp = 0;
                        if (!f || fscanf(f, "%lld", &stamp) != 1)
                                return 1;
                        fclose(f);
                        if (i >= 0)
                                t[i] = (double)stamp - t0;
                }
                qsort(t, (size_t)n, sizeof(double), cmp);
                printf("%.0f %.0f %.0f\n", t[n / 2], t[(n * 99) / 100], t[n - 1]);
                return 0;
        }
        if (!strcmp(argv[2], "trigger")) {
                for (int i = 3; i < argc; i++) {
                        char path[256], *b = NULL;
                        double sent;
                        snprintf(path, sizeof(path), "/api/v1/services/%s/trigger", argv[i]);
                        if (request("POST", path, &b, &sent) < 0)
                                return 1;
                        /* The answer's "run_id":"NAME-PID-N"; the outcome must be "started" (or "waiting":
                         * admission, bench/admission.sh, run id "-"). */
                        char id[128] = "-";
                        const char *p = strstr(b, "\"run_id\"");
                        if (p && (p = strchr(p + 8, '"')))
                                sscanf(p + 1, "%127[^\"]", id);
                        if (!strstr(b, "\"started\"") && !strstr(b, "\"waiting\"") && !strstr(b, "\"queued\"")) {
                                fprintf(stderr, "mgr-api: trigger %s: not started: %.200s\n", argv[i], b);
                                return 1;
                        }
                        printf("%s %.0f %s\n", argv[i], sent, id);
                        free(b);
                }
                return 0;
        }
        fprintf(stderr, "mgr-api: unknown mode %s\n", argv[2]);
        return 2;
}
