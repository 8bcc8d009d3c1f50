/* SPDX-License-Identifier: MIT */
/*
 * bench/launch-warm: N launches of one spec in one process, through the runner's own run/native code
 * (linked the way tests link it), against N bare fork+exec+wait of the same command. The first launch
 * pays the per-process costs (libcgroup's cgroup_init(), the host detection, a sandbox filter's
 * compile or cache read); the others are what a long-running tfrun pays per launch.
 *
 * Usage: launch-warm N SPEC      (root; prints first, median and mean per launch, and the overhead)
 * Launches alternate with the bare ones, so that both see the same host.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runner/runner.h"

extern char **environ;

struct bench {
        const struct tf_spec *spec;
        struct tf_run_ctx ctx;
        struct tf_run_options opts;
        int n, done;
        uint64_t t0;
        double *tfrun_us, *bare_us;
        int failed;
};

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000 + (uint64_t) ts.tv_nsec;
}

static double bare_once(char **argv) {
        uint64_t t0 = now_ns();
        pid_t pid = fork();
        if (pid == 0) {
                execvp(argv[0], argv);
                _exit(127);
        }
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        return (double) (now_ns() - t0) / 1e3;
}

static void launch(struct bench *b);

static void on_done(struct tf_run *r, void *userdata) {
        struct bench *b = userdata;
        b->tfrun_us[b->done] = (double) (now_ns() - b->t0) / 1e3;
        if (r->result.exit_status != 0) {
                b->failed++;
                fprintf(stderr, "launch-warm: launch %d exited %d (code %d, signal %d)%s%s\n", b->done,
                        r->result.exit_status, r->result.exit_code, r->result.signal,
                        r->result.error ? ": " : "", r->result.error ? r->result.error : "");
        }
        tf_run_free(r);
        b->bare_us[b->done] = bare_once(b->spec->argv);
        if (++b->done == b->n)
                tf_loop_exit(b->ctx.loop, 0);
        else
                launch(b);
}

static void launch(struct bench *b) {
        struct tf_run *r;
        tf_error *e = NULL;
        if (tf_run_new(&b->ctx, b->spec, &b->opts, &r, &e) < 0) {
                fprintf(stderr, "launch-warm: %s\n", e->msg);
                exit(1);
        }
        b->t0 = now_ns();
        tf_run_start(r, on_done, b);
}

static int cmp(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static void report(const char *what, double *v, int n) {
        double first = v[0], sum = 0;
        for (int i = 1; i < n; i++)
                sum += v[i];
        qsort(v + 1, (size_t) n - 1, sizeof(*v), cmp);
        printf("%-6s first=%.0fus warm_median=%.0fus warm_mean=%.0fus\n", what, first, v[1 + (n - 1) / 2],
               sum / (n - 1));
}

int main(int argc, char **argv) {
        if (argc != 3 || atoi(argv[1]) < 2) {
                fprintf(stderr, "usage: launch-warm N SPEC   (N >= 2)\n");
                return 2;
        }
        /* The runs' cgroups are named with this pid: a tfrun's sweep (a manager's at start, on a shared
         * host) takes a cgroup whose maker is not called tfrun* for one whose pid was reused. */
        prctl(PR_SET_NAME, "tfrun-lwarm");
        struct bench b = { .n = atoi(argv[1]), .opts = { .quiet = true } };
        struct tf_spec *spec;
        struct tf_loop *loop;
        tf_error *e = NULL;
        if (tf_spec_load(argv[2], environ, &spec, &e) < 0 || tf_loop_new(&loop, &e) < 0) {
                fprintf(stderr, "launch-warm: %s\n", e->msg);
                return 1;
        }
        b.spec = spec;
        b.tfrun_us = calloc((size_t) b.n, sizeof(double));
        b.bare_us = calloc((size_t) b.n, sizeof(double));
        tf_run_ctx_init(&b.ctx, loop);
        launch(&b);
        int r = tf_loop_run(loop);
        tf_run_ctx_done(&b.ctx);
        tf_loop_free(loop);
        if (r < 0 || b.failed) {
                fprintf(stderr, "launch-warm: loop %d, %d launches failed\n", r, b.failed);
                return 1;
        }
        report("tfrun", b.tfrun_us, b.n); /* sorts from the second on */
        report("bare", b.bare_us, b.n);
        double tm = b.tfrun_us[1 + (b.n - 1) / 2], bm = b.bare_us[1 + (b.n - 1) / 2];
        printf("warm overhead over bare fork+exec (medians): %.0fus\n", tm - bm);
        tf_spec_free(spec);
        return 0;
}
