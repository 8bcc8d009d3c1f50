/* SPDX-License-Identifier: MIT */
/*
 * The CLI side (manager/client.c) for test-http.sh:
 *   test-http-client socket-path [OPTION]         the socket a verb would use
 *   test-http-client request SOCKET METHOD PATH [BODY]   prints "STATUS BODY"
 *   test-http-client stream SOCKET PATH           prints each chunk as it comes; after each line but the
 *                                                 last, POST /api/v1/feed asks the server for the next one
 * Errors: "error: MESSAGE" on stderr, exit 1.
 */
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/strutil.h"
#include "manager/client.h"

struct feed {
        const char *socket;
        unsigned lines;
};

static int on_chunk(const char *buf, size_t n, void *ud) {
        struct feed *f = ud;
        fwrite(buf, 1, n, stdout);
        fflush(stdout);
        for (size_t i = 0; i < n; i++)
                if (buf[i] == '\n')
                        f->lines++;
        /* The server writes line N+1 only when asked: a line that arrives proves the stream is live. */
        if (f->lines < 3) {
                long st = 0;
                json_t *j = NULL;
                _cleanup_error_ tf_error *e = NULL;
                if (tf_api_request(f->socket, "POST", "/api/v1/feed", NULL, 10000, &st, &j, &e) < 0) {
                        fprintf(stderr, "error: feed: %s\n", e->msg);
                        return -1;
                }
                json_decref(j);
        }
        return 0;
}

int main(int argc, char **argv) {
        _cleanup_error_ tf_error *e = NULL;
        if (argc >= 2 && streq(argv[1], "socket-path")) {
                _cleanup_free_ char *p = NULL;
                if (tf_api_socket_path(argc > 2 ? argv[2] : NULL, &p, &e) < 0) {
                        fprintf(stderr, "error: %s\n", e->msg);
                        return 1;
                }
                printf("%s\n", p);
                return 0;
        }
        if (argc >= 5 && streq(argv[1], "request")) {
                json_t *body = NULL;
                if (argc > 5) {
                        json_error_t je;
                        body = json_loads(argv[5], 0, &je);
                        if (!body) {
                                fprintf(stderr, "error: bad JSON body: %s\n", je.text);
                                return 2;
                        }
                }
                long st = 0;
                json_t *j = NULL;
                int r = tf_api_request(argv[2], argv[3], argv[4], body, 10000, &st, &j, &e);
                json_decref(body);
                if (r < 0) {
                        fprintf(stderr, "error: %s\n", e->msg);
                        return 1;
                }
                _cleanup_free_ char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
                printf("%ld %s\n", st, text);
                json_decref(j);
                return 0;
        }
        if (argc == 4 && streq(argv[1], "stream")) {
                struct feed f = {.socket = argv[2]};
                long st = 0;
                int r = tf_api_stream(argv[2], argv[3], on_chunk, &f, &st, &e);
                if (r < 0) {
                        fprintf(stderr, "error: %s\n", e ? e->msg : "stopped");
                        return 1;
                }
                printf("status %ld\n", st);
                return 0;
        }
        if (argc == 3 && streq(argv[1], "escape")) {
                _cleanup_free_ char *s = tf_api_escape(argv[2]);
                printf("%s\n", s);
                return 0;
        }
        fprintf(stderr,
                "usage: %s socket-path [OPTION] | request SOCKET METHOD PATH [BODY] | stream SOCKET PATH | "
                "escape SEGMENT\n",
                argv[0]);
        return 2;
}
