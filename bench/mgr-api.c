/* SPDX-License-Identifier: MIT */
/*
 * bench/mgr-api: the manager's control API without a process start per call: plain HTTP/1.1, one connection
 * per request (as the verbs make them) unless MGR_API_KEEPALIVE is set, no library.
 *
 * ADDR is the manager's unix socket, or tcp:IPV4:PORT for `tfrun up --listen`; over TCP the token in
 * $MGR_API_TOKEN goes in every request's Authorization header (its check is part of what is measured).
 *
 *   mgr-api ADDR get PATH N       N round trips of GET PATH; prints "median_us p99_us max_us bytes"
 *   mgr-api ADDR post PATH N      the same with POST (an empty body)
 *   mgr-api ADDR trigger NAME...  POST .../NAME/trigger back to back; prints "NAME sent_usec run_id" per
 *                                 call, sent_usec the CLOCK_REALTIME just before the request is written;
 *                                 each must have started, be waiting for admission or queued behind a
 *                                 running one (overlap: queue), run id "-"
 *   mgr-api ADDR load PATH SECONDS CLIENTS [NAME...]
 *                                 CLIENTS processes send GET PATH one after another for SECONDS; with NAMEs,
 *                                 one more process triggers each of them once, evenly spread over the
 *                                 window's first three quarters. Prints "rps median_us p99_us max_us
 *                                 requests triggered" (rps: requests over the time from the first sent to
 *                                 the last answered)
 *   mgr-api - bare N STAMP FILE   the baseline of trigger-to-exec: N fork+exec of STAMP FILE from this
 *                                 process; prints "median_us p99_us max_us" of its stamp minus the time
 *                                 before the fork
 *
 * Any answer other than 200 fails the benchmark (exit 1).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char *sock_path;
static struct sockaddr_in tcp_addr; /* sin_port 0: the unix socket */
static const char *token;
static bool keepalive;
static int kept_fd = -1;

static double now(clockid_t c) {
        struct timespec ts;
        clock_gettime(c, &ts);
        return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int connect_to(void) {
        int fd;
        if (tcp_addr.sin_port) {
                fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd >= 0 && connect(fd, (struct sockaddr *)&tcp_addr, sizeof(tcp_addr)) == 0) {
                        int one = 1;
                        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                        return fd;
                }
        } else {
                struct sockaddr_un sa = {.sun_family = AF_UNIX};
                snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
                        return fd;
        }
        fprintf(stderr, "mgr-api: %s: %s\n", sock_path, strerror(errno));
        if (fd >= 0)
                close(fd);
        return -1;
}

/* Where the answer in b[0..len) ends: after its body by Content-Length; 0 while it is not all there, or
 * when it has no Content-Length (then it ends with the connection). */
static size_t answer_end(const char *b, size_t len) {
        const char *h = strstr(b, "\r\n\r\n");
        if (!h)
                return 0;
        size_t head = (size_t)(h - b) + 4;
        for (const char *p = b; p < h; p = strstr(p, "\r\n") + 2)
                if (strncasecmp(p, "Content-Length:", 15) == 0) {
                        size_t n = head + strtoul(p + 15, NULL, 10);
                        return n <= len ? n : 0;
                }
        return 0;
}

/* One request: the whole answer (status line to the body's end) in *buf. Returns its length, or -1. */
static ssize_t request(const char *method, const char *path, char **buf, double *sent_usec) {
        int fd = kept_fd >= 0 ? kept_fd : connect_to();
        kept_fd = -1;
        if (fd < 0)
                return -1;
        char req[1024], auth[600] = "";
        if (tcp_addr.sin_port && token)
                snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", token);
        int n = snprintf(req, sizeof(req),
                         "%s %s HTTP/1.1\r\nHost: localhost\r\n%sContent-Length: 0\r\n%s\r\n", method, path,
                         auth, keepalive ? "" : "Connection: close\r\n");
        if (sent_usec)
                *sent_usec = now(CLOCK_REALTIME);
        if (write(fd, req, (size_t)n) != n) {
                close(fd);
                return -1;
        }
        size_t cap = 1 << 16, len = 0, end = 0;
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
                b[len] = 0;
                if (keepalive && (end = answer_end(b, len)))
                        break;
        }
        if (keepalive && end && end == len)
                kept_fd = fd;
        else
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

/* The nearest-rank p99 of n sorted samples: the 99th of 100, not the largest (printed apart as max). */
#define P99(n) (((size_t) (n) * 99 + 99) / 100 - 1)
#define LOAD_MAX 200000 /* latencies kept per client */

struct client_out {
        double first_sent, last_done; /* CLOCK_MONOTONIC */
        size_t n;
        int failed;
        double lat[LOAD_MAX];
};

static void load_client(const char *path, double until, struct client_out *o) {
        o->first_sent = now(CLOCK_MONOTONIC);
        while (o->n < LOAD_MAX) {
                char *b = NULL;
                double t0 = now(CLOCK_MONOTONIC);
                if (t0 >= until)
                        break;
                if (request("GET", path, &b, NULL) < 0) {
                        o->failed = 1;
                        return;
                }
                free(b);
                o->last_done = now(CLOCK_MONOTONIC);
                o->lat[o->n++] = o->last_done - t0;
        }
}

static int trigger_one(const char *name) {
        char path[256], *b = NULL;
        snprintf(path, sizeof(path), "/api/v1/services/%s/trigger", name);
        if (request("POST", path, &b, NULL) < 0)
                return -1;
        free(b);
        return 0;
}

/* CLIENTS readers of PATH for SECONDS, and the NAMEs triggered meanwhile by one more process. */
static int load(const char *path, double seconds, int clients, char **names, int n_names) {
        if (seconds <= 0 || clients < 1 || clients > 64) {
                fprintf(stderr, "mgr-api: load: SECONDS > 0 and CLIENTS 1..64\n");
                return 2;
        }
        struct client_out *out = mmap(NULL, sizeof(*out) * (size_t)clients, PROT_READ | PROT_WRITE,
                                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (out == MAP_FAILED)
                return 1;
        char *warm = NULL;
        if (request("GET", path, &warm, NULL) < 0)
                return 1;
        free(warm);
        double start = now(CLOCK_MONOTONIC), until = start + seconds * 1e6;
        pid_t pids[65];
        int n = 0;
        for (int i = 0; i < clients + (n_names > 0); i++) {
                pid_t p = fork();
                if (p < 0)
                        return 1;
                if (p == 0) {
                        kept_fd = -1; /* the warm-up's connection is the parent's */
                        if (i < clients) {
                                load_client(path, until, &out[i]);
                                _exit(out[i].failed);
                        }
                        for (int k = 0; k < n_names; k++) {
                                double at = start + seconds * 1e6 * 0.75 * k / n_names;
                                for (double t; (t = now(CLOCK_MONOTONIC)) < at;)
                                        usleep((useconds_t)(at - t));
                                if (trigger_one(names[k]) < 0)
                                        _exit(1);
                        }
                        _exit(0);
                }
                pids[n++] = p;
        }
        int failed = 0;
        for (int i = 0; i < n; i++) {
                int st;
                if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                        failed = 1;
        }
        if (failed)
                return 1;
        size_t total = 0;
        double first = until, last = start;
        for (int i = 0; i < clients; i++) {
                total += out[i].n;
                first = out[i].first_sent < first ? out[i].first_sent : first;
                last = out[i].last_done > last ? out[i].last_done : last;
        }
        if (!total)
                return 1;
        double *t = malloc(total * sizeof(double));
        size_t k = 0;
        for (int i = 0; i < clients; i++)
                for (size_t j = 0; j < out[i].n; j++)
                        t[k++] = out[i].lat[j];
        qsort(t, total, sizeof(double), cmp);
        printf("%.0f %.0f %.0f %.0f %zu %d\n", (double)total / ((last - first) / 1e6), t[total / 2],
               t[P99(total)], t[total - 1], total, n_names);
        return 0;
}

int main(int argc, char **argv) {
        if (argc < 4) {
                fprintf(stderr,
                        "usage: mgr-api ADDR get|post PATH N | ADDR trigger NAME... | ADDR load PATH "
                        "SECONDS CLIENTS [NAME...] | - bare N STAMP FILE\n");
                return 2;
        }
        sock_path = argv[1];
        token = getenv("MGR_API_TOKEN");
        keepalive = getenv("MGR_API_KEEPALIVE") != NULL;
        if (!strncmp(sock_path, "tcp:", 4)) {
                char host[64];
                unsigned port;
                if (sscanf(sock_path + 4, "%63[^:]:%u", host, &port) != 2 || port == 0 || port > 65535 ||
                    inet_pton(AF_INET, host, &tcp_addr.sin_addr) != 1) {
                        fprintf(stderr, "mgr-api: %s: expected tcp:IPV4:PORT\n", sock_path);
                        return 2;
                }
                tcp_addr.sin_family = AF_INET;
                tcp_addr.sin_port = htons((uint16_t)port);
        }
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
                printf("%.0f %.0f %.0f %zd\n", t[n / 2], t[P99(n)], t[n - 1], bytes);
                return 0;
        }
        if (!strcmp(argv[2], "load") && argc >= 6)
                return load(argv[3], atof(argv[4]), atoi(argv[5]), argv + 6, argc - 6);
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
                printf("%.0f %.0f %.0f\n", t[n / 2], t[P99(n)], t[n - 1]);
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
