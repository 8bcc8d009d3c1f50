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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/strutil.h"
#include "runner/log.h"
#include "runner/loop.h"
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

/* A log that takes a spare: SERVICE/ID.log (or ID.2.log ...) exists, 0600, and holds what was fed. */
static void spare_log(struct tf_outlog_spares *sp, const char *id, const char *want_name, const char *what) {
        struct tf_outlog_options o = { .dir = dir, .spares = sp };
        struct tf_outlog *l = NULL;
        tf_error *e = NULL;
        if (tf_outlog_open(&o, "spare", id, &l, &e) < 0) {
                tap_ok(0, __FILE__, __LINE__, "%s: %s", what, e->msg);
                tf_error_free(e);
                return;
        }
        tf_outlog_feed(l, 1, "line\n", 5);
        char path[256];
        snprintf(path, sizeof(path), "%s/spare/%s", dir, want_name);
        IS_STR(tf_outlog_path(l), path, "%s: the log's name", what);
        tf_outlog_free(l);
        struct stat st;
        OK(stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600 && st.st_nlink == 1,
           "%s: a regular file, 0600, one link", what);
        int fd = open(path, O_RDONLY);
        char b[128] = "";
        ssize_t k = fd < 0 ? -1 : read(fd, b, sizeof(b) - 1);
        if (fd >= 0)
                close(fd);
        OK(k > 0 && strstr(b, " line\n"), "%s: it holds the run's line", what);
}

static void test_spares(void) {
        struct tf_loop *loop = NULL;
        struct tf_outlog_spares *sp = NULL;
        tf_error *e = NULL;
        if (tf_loop_new_virtual(0, 0, &loop, &e) < 0 || tf_outlog_spares_new(loop, dir, 2, &sp, &e) < 0)
                abort();
        IS_INT(tf_outlog_spares_ready(sp), 0, "spares: none before the loop runs (made from its timer)");
        tf_loop_advance(loop, 0);
        IS_INT(tf_outlog_spares_ready(sp), 2, "spares: the loop made as many as asked");
        spare_log(sp, "a", "a.log", "a spare");
        IS_INT(tf_outlog_spares_ready(sp), 1, "spares: the log took one");
        /* A name that exists: the link neither replaces it nor follows it (a symbolic link planted there). */
        char p[256];
        snprintf(p, sizeof(p), "%s/spare/b.log", dir);
        OK(symlink("/tmp/tfrun-outlog-never", p) == 0, "a symbolic link at b.log");
        spare_log(sp, "b", "b.2.log", "a spare at a taken name");
        struct stat st;
        OK(lstat(p, &st) == 0 && S_ISLNK(st.st_mode) && lstat("/tmp/tfrun-outlog-never", &st) < 0,
           "the link is still there and nothing was made where it points");
        IS_INT(tf_outlog_spares_ready(sp), 0, "spares: the second one taken");
        spare_log(sp, "c", "c.log", "no spare left: created");
        tf_loop_advance(loop, 50000);
        IS_INT(tf_outlog_spares_ready(sp), 0, "spares: none made while the runs come (50 ms after a take)");
        tf_loop_advance(loop, 60000);
        IS_INT(tf_outlog_spares_ready(sp), 2, "spares: made again once the runs pause (100 ms)");
        snprintf(p, sizeof(p), "ls -A %s | sort | tr '\\n' ' '", dir);
        FILE *f = popen(p, "r");
        char ls[256] = "";
        if (f) {
                if (!fgets(ls, sizeof(ls), f))
                        ls[0] = 0;
                pclose(f);
        }
        IS_STR(ls, "spare web ", "spares leave no file of their own in the logs' root");
        tf_outlog_spares_free(sp);
        tf_loop_free(loop);
}

int main(void) {
        if (!mkdtemp(dir))
                abort();
        test_prefix();
        test_drop();
        test_spares();
        char cmd[64];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd) != 0)
                return 1;
        printf("1..%d\n", tap_count);
        return tap_failed ? 1 : 0;
}
