/* SPDX-License-Identifier: MIT */
/*
 * The manager's view of runs' output (runner/outlog.c with echo_prefix): every line on tfrun's stdout or
 * stderr after the service's prefix, as docker compose shows it, and a reader that does not keep up loses
 * whole lines, said with a "[N lines dropped]" line, never a torn one and never a stalled feed. Run in a
 * child whose fds 1 and 2 are pipes of the test's (the TAP output is the parent's stdout).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/strutil.h"
#include "runner/log.h"
#include "runner/outlog.h"
#include "tests/tap.h"

static char dir[] = "/tmp/tfrun-outlog.XXXXXX";

static struct tf_outlog *open_log(const char *prefix) {
        struct tf_outlog_options o = { .dir = dir, .echo_prefix = prefix };
        static unsigned n;
        char id[32];
        snprintf(id, sizeof(id), "web-1-%u", ++n);
        struct tf_outlog *l = NULL;
        tf_error *e = NULL;
        if (tf_outlog_open(&o, "web", id, &l, &e) < 0) {
                fprintf(stderr, "%s\n", e->msg);
                _exit(3);
        }
        return l;
}

/* Everything fd holds until EOF. */
static char *slurp(int fd) {
        size_t len = 0, cap = 1 << 16;
        char *b = malloc(cap);
        for (;;) {
                if (len + 4096 > cap)
                        b = realloc(b, cap *= 2);
                ssize_t k = read(fd, b + len, cap - len - 1);
                if (k <= 0)
                        break;
                len += (size_t) k;
        }
        b[len] = 0;
        return b;
}

static void test_prefix(void) {
        int o[2], e[2];
        if (pipe(o) < 0 || pipe(e) < 0)
                abort();
        pid_t pid = fork();
        if (pid == 0) {
                dup2(o[1], 1);
                dup2(e[1], 2);
                close(o[0]), close(o[1]), close(e[0]), close(e[1]);
                struct tf_outlog *l = open_log("web    | ");
                tf_outlog_feed(l, 1, "hello\nwor", 9);
                tf_outlog_feed(l, 2, "oops\n", 5);
                tf_outlog_feed(l, 1, "ld\ntail", 7);
                tf_outlog_free(l);
                tf_out_flush(1000000);
                _exit(0);
        }
        close(o[1]), close(e[1]);
        char *out = slurp(o[0]), *err = slurp(e[0]);
        int st;
        waitpid(pid, &st, 0);
        OK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "prefix: the child ran");
        IS_STR(out, "web    | hello\nweb    | world\nweb    | tail\n",
               "stdout lines on stdout after the prefix, split reads joined, the last line ended");
        IS_STR(err, "web    | oops\n", "stderr lines on stderr after the prefix");
        free(out), free(err);
        close(o[0]), close(e[0]);
}

#define FED 40000

static void test_drop(void) {
        int o[2], go[2], fed[2];
        if (pipe(o) < 0 || pipe(go) < 0 || pipe(fed) < 0)
                abort();
        fcntl(o[1], F_SETPIPE_SZ, 4096);
        pid_t pid = fork();
        if (pid == 0) {
                dup2(o[1], 1);
                close(o[0]), close(o[1]), close(go[1]), close(fed[0]);
                struct tf_outlog *l = open_log("w | ");
                char line[32];
                /* Nobody reads meanwhile: the pipe and tfrun's queue fill, and the feed goes on. */
                for (int i = 0; i < FED; i++) {
                        int k = snprintf(line, sizeof(line), "line %d\n", i);
                        tf_outlog_feed(l, 1, line, (size_t) k);
                }
                char c = 'f';
                if (write(fed[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
                        _exit(4);
                tf_outlog_feed(l, 1, "after\n", 6);
                tf_outlog_free(l);
                tf_out_flush(5000000);
                _exit(0);
        }
        close(o[1]), close(go[0]), close(fed[1]);
        char c;
        OK(read(fed[0], &c, 1) == 1, "drop: %d lines fed without a reader, without blocking", FED);
        /* Read what is there, then let the child go on. */
        fcntl(o[0], F_SETFL, O_NONBLOCK);
        size_t len = 0, cap = 1 << 20;
        char *b = malloc(cap);
        for (;;) {
                ssize_t k = read(o[0], b + len, cap - len - 1);
                if (k <= 0)
                        break;
                len += (size_t) k;
        }
        if (write(go[1], "g", 1) != 1)
                abort();
        fcntl(o[0], F_SETFL, 0);
        for (;;) {
                if (len + 4096 > cap)
                        b = realloc(b, cap *= 2);
                ssize_t k = read(o[0], b + len, cap - len - 1);
                if (k <= 0)
                        break;
                len += (size_t) k;
        }
        b[len] = 0;
        int st;
        waitpid(pid, &st, 0);
        OK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "drop: the child ran");
        /* "w | line 0" .. "w | line K-1", "w | [M lines dropped]", "w | after", with K + M = FED. */
        int next = 0, dropped = -1, bad = 0, after = 0;
        for (char *s = b, *nl; *s; s = nl + 1) {
                nl = strchr(s, '\n');
                if (!nl) {
                        bad++;
                        break;
                }
                *nl = 0;
                int v;
                if (dropped < 0 && sscanf(s, "w | line %d", &v) == 1 && v == next)
                        next++;
                else if (dropped < 0 && sscanf(s, "w | [%d lines dropped]", &v) == 1)
                        dropped = v;
                else if (streq(s, "w | after"))
                        after++;
                else
                        bad++;
        }
        OK(next > 0 && dropped > 0, "the first %d lines came, then a marker for %d dropped", next, dropped);
        OK(next + dropped == FED, "the marker counts every line that was dropped (%d + %d = %d)", next,
           dropped, FED);
        OK(after == 1 && bad == 0, "then the next line; nothing torn or out of order");
        free(b);
        close(o[0]), close(go[1]), close(fed[0]);
}

int main(void) {
        if (!mkdtemp(dir))
                abort();
        test_prefix();
        test_drop();
        char cmd[64];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd) != 0)
                return 1;
        printf("1..%d\n", tap_count);
        return tap_failed ? 1 : 0;
}
