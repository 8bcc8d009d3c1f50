/* SPDX-License-Identifier: MIT */
/*
 * The control API's HTTP server (manager/http.c) on a real loop and a real socket, with a toy route table
 * that exercises each way of answering: at once, later (suspend/resume), streamed, cut off. Driven by
 * test-http.sh with curl and test-http-client.
 *
 * Usage: test-http-server SOCKET [--limit N] [--timeout SEC] [--stream-max BYTES] [--tcp]
 * Prints "ready" (and "tcp PORT") on stdout once it listens; exits 0 after POST /api/v1/quit, 1 when it
 * cannot listen (the message on stderr).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/strutil.h"
#include "manager/http.h"
#include "runner/log.h"
#include "runner/loop.h"
#include "runner/runner.h"

struct state {
        struct tf_loop *loop;
        struct tf_http_response *trigger[8]; /* pending triggers, answered by POST /release */
        unsigned n_trigger;
        struct tf_http_stream *log; /* the stream POST /feed writes to */
        unsigned log_lines;
        struct tf_http_stream *flood;
        struct tf_source *flood_timer;
        size_t flooded;
        unsigned holds;
};

static int h_services(struct tf_http_request *req, struct tf_http_response *resp, void *ud) {
        tf_http_respond_json(resp, 200, json_pack("{s:[s,s]}", "services", "a", "b"));
        return TF_HTTP_DONE;
}

static int h_service(struct tf_http_request *req, struct tf_http_response *resp, void *ud) {
        const char *name = tf_http_request_param(req, "name");
        if (!tf_http_valid_name(name)) {
                tf_http_respond_error(resp, 400, "invalid service name '%s'", name);
                return TF_HTTP_DONE;
        }
        const char *v = tf_http_request_query(req, "verbose");
        tf_http_respond_json(resp, 200, json_pack("{s:s,s:s?}", "name", name, "verbose", v));
        return TF_HTTP_DONE;
}

static void trigger_gone(void *ud) {
        struct tf_http_response **slot = ud;
        *slot = NULL;
        tf_log("trigger: gone");
}

static int h_trigger(struct tf_http_request *req, struct tf_http_response *resp, void *ud) {
        struct state *s = ud;
        const char *name = tf_http_request_param(req, "name");
        if (!tf_http_valid_name(name)) {
                tf_http_respond_error(resp, 400, "invalid service name '%s'", name);
                return TF_HTTP_DONE;
        }
        if (s->n_trigger == ELEMENTSOF(s->trigger)) {
                tf_http_respond_error(resp, 429, "too many pending triggers");
                return TF_HTTP_DONE;
        }
        s->trigger[s->n_trigger] = resp;
        tf_http_response_on_gone(resp, trigger_gone, &s->trigger[s->n_trigger]);
        s->n_trigger++;
        return TF_HTTP_PENDING;
}

static int h_release(struct tf_http_request *req, struct tf_http_response *resp, void *ud) {
        struct state *s = ud;
        unsigned n = 0;
        for (unsigned i = 0; i < s->n_trigger; i++)
                if (s->trigger[i]) {
                        tf_http_respond_json(s->trigger[i], 200,
                                             json_pack("{s:s,s:b}", "run_id", "a-1-1", "waited", 1));
                        s->trigger[i] = NULL;
                        n++;
                }
        s->n_trigger = 0;
        tf_http_respond_json(resp, 200, json_pack("{s:i}", "released", n));
        return TF_HTTP_DONE;
}

static int h_echo(struct tf_http_request *req, struct tf_http_response *resp, void *ud) {
        json_t *j = NULL;
        _cleanup_error_ tf_error *e = NULL;
        if (tf_http_request_json(req, &j, &e) < 0) {
                tf_http_respond_error(resp, 400, "%s", e->msg);
                return TF_HTTP_DONE;
        }
        size_t n;
        tf_http_request_body(req, &n);
        tf_http_respond_json(resp, 200, json_pack("{s:o,s:I}", "body", j, "bytes", (json_int_t)n));
        return TF_HTTP_DONE;
}

static void log_gone(void *ud) {
        struct state *s = ud;
        s->log = NULL;
        tf_log("log: gone");
}

static void feed_line(struct state *s) {
        char line[32];
        int n = snprintf(line, sizeof(line), "line %u\n", ++s->log_lines);
        if (tf_http_stream_write(s->log, line, (size_t)n) < 0) {
                s->log = NULL;
                return;
        }
        if (s->log_lines == 3) {
                tf_http_stream_end(s->log);
                s->log = NULL;
        }
}

/* The first line at once; each POST /feed writes the next; the third ends the stream. */
static int h_log(struct tf_http_request *req, struct tf_http_response *resp, void *ud) {
        struct state *s = ud;
        const char *id = tf_http_request_param(req, "id");
        if (!tf_http_valid_run_id(id)) {
                tf_http_respond_error(resp, 400, "invalid run id '%s'", id);
                return TF_HTTP_DONE;
        }
        if (s->log) {
                tf_http_respond_error(resp, 409, "a log stream is open already");
                return TF_HTTP_DONE;
        }
        s->log = tf_http_respond_stream(resp, 200, "text/plain");
        s->log_lines = 0;
        tf_http_response_on_gone(resp, log_gone, s);
        feed_line(s);
        return TF_HTTP_PENDING;
}

static int h_feed(struct tf_http_request *req, struct tf_http_response *resp, void *ud) {
        struct state *s = ud;
        if (!s->log) {
                tf_http_respond_error(resp, 409, "no log stream is open");
                return TF_HTTP_DONE;
        }
        feed_line(s);
        tf_http_respond_json(resp, 200, json_pack("{s:i}", "fed", s->log_lines));
        return TF_HTTP_DONE;
}

/* 16 KiB every 5 ms, never ended: a reader that does not read is cut off once stream-max piles up. */
static int flood_tick(struct tf_source *src, int fd, uint32_t events, void *ud) {
        struct state *s = ud;
        if (!s->flood)
                return 0;
        static char chunk[16 * 1024];
        memset(chunk, 'x', sizeof(chunk));
        if (tf_http_stream_write(s->flood, chunk, sizeof(chunk)) < 0) {
                tf_log("flood: cut off after %zu bytes", s->flooded);
                s->flood = NULL;
                return 0;
        }
        s->flooded += sizeof(chunk);
        tf_source_set_time(src, tf_loop_now(s->loop, CLOCK_MONOTONIC) + 5000);
        return 0;
}

static void flood_gone(void *ud) {
        struct state *s = ud;
        s->flood = NULL;
        tf_log("flood: gone");
}

static int h_flood(struct tf_http_request *req, struct tf_http_response *resp, void *ud) {
        struct state *s = ud;
        if (s->flood) {
                tf_http_respond_error(resp, 409, "a flood is on already");
                return TF_HTTP_DONE;
        }
        s->flood = tf_http_respond_stream(resp, 200, NULL);
        s->flooded = 0;
        tf_http_response_on_gone(resp, flood_gone, s);
        if (!s->flood_timer)
                tf_loop_add_timer(s->loop, CLOCK_MONOTONIC, 0, flood_tick, s, &s->flood_timer, NULL);
        else
                tf_source_set_time(s->flood_timer, 0);
        return TF_HTTP_PENDING;
}

static void hold_gone(void *ud) {
        struct state *s = ud;
        s->holds--;
        tf_log("hold: gone");
}

/* Never answered: the server's free answers it (503) after telling us. */
static int h_hold(struct tf_http_request *req, struct tf_http_response *resp, void *ud) {
        struct state *s = ud;
        s->holds++;
        tf_http_response_on_gone(resp, hold_gone, s);
        return TF_HTTP_PENDING;
}

static int h_pending(struct tf_http_request *req, struct tf_http_response *resp, void *ud) {
        struct state *s = ud;
        unsigned n = 0;
        for (unsigned i = 0; i < s->n_trigger; i++)
                n += s->trigger[i] != NULL;
        tf_http_respond_json(resp, 200, json_pack("{s:i,s:i}", "triggers", n, "holds", s->holds));
        return TF_HTTP_DONE;
}

static int h_whoami(struct tf_http_request *req, struct tf_http_response *resp, void *ud) {
        uid_t uid;
        pid_t pid;
        if (!tf_http_request_peer(req, &uid, &pid))
                tf_http_respond_json(resp, 200, json_pack("{s:n}", "uid"));
        else
                tf_http_respond_json(resp, 200, json_pack("{s:i,s:i}", "uid", (int)uid, "pid", (int)pid));
        return TF_HTTP_DONE;
}

static int h_quit(struct tf_http_request *req, struct tf_http_response *resp, void *ud) {
        struct state *s = ud;
        tf_loop_exit(s->loop, 0);
        tf_http_respond_json(resp, 200, NULL);
        return TF_HTTP_DONE;
}

static int h_silent(struct tf_http_request *req, struct tf_http_response *resp, void *ud) {
        return TF_HTTP_DONE; /* answers nothing: the server's 500 */
}

static const struct tf_http_route routes[] = {
        {"GET", "/api/v1/services", h_services},
        {"GET", "/api/v1/services/{name}", h_service},
        {"POST", "/api/v1/services/{name}/trigger", h_trigger},
        {"POST", "/api/v1/release", h_release},
        {"POST", "/api/v1/echo", h_echo},
        {"PUT", "/api/v1/echo", h_echo},
        {"GET", "/api/v1/runs/{id}/log", h_log},
        {"POST", "/api/v1/feed", h_feed},
        {"GET", "/api/v1/flood", h_flood},
        {"GET", "/api/v1/hold", h_hold},
        {"GET", "/api/v1/pending", h_pending},
        {"GET", "/api/v1/whoami", h_whoami},
        {"GET", "/api/v1/silent", h_silent},
        {"POST", "/api/v1/quit", h_quit},
        {},
};

int main(int argc, char **argv) {
        if (argc < 2) {
                fprintf(stderr,
                        "usage: %s SOCKET [--limit N] [--timeout SEC] [--stream-max BYTES] [--tcp]\n",
                        argv[0]);
                return 2;
        }
        struct tf_http_options o = {};
        bool tcp = false;
        for (int i = 2; i < argc; i++) {
                if (streq(argv[i], "--limit") && i + 1 < argc)
                        o.connection_limit = (unsigned)atoi(argv[++i]);
                else if (streq(argv[i], "--timeout") && i + 1 < argc)
                        o.connection_timeout_sec = (unsigned)atoi(argv[++i]);
                else if (streq(argv[i], "--stream-max") && i + 1 < argc)
                        o.stream_max = (size_t)atol(argv[++i]);
                else if (streq(argv[i], "--tcp"))
                        tcp = true;
                else {
                        fprintf(stderr, "unknown option %s\n", argv[i]);
                        return 2;
                }
        }
        struct state s = {};
        _cleanup_error_ tf_error *e = NULL;
        struct tf_http_server *srv = NULL;
        if (tf_loop_new(&s.loop, &e) < 0 || tf_http_server_new(s.loop, routes, &s, &o, &srv, &e) < 0 ||
            tf_http_listen_unix(srv, argv[1], &e) < 0) {
                fprintf(stderr, "test-http-server: %s\n", e->msg);
                tf_http_server_free(srv);
                tf_loop_free(s.loop);
                return 1;
        }
        printf("ready\n");
        if (tcp) {
                uint16_t port = 0;
                if (tf_http_listen_tcp(srv, "127.0.0.1", 0, &port, &e) < 0) {
                        fprintf(stderr, "test-http-server: %s\n", e->msg);
                        return 1;
                }
                printf("tcp %u\n", (unsigned)port);
        }
        fflush(stdout);
        int r = tf_loop_run(s.loop);
        tf_http_server_free(srv);
        tf_source_remove(s.flood_timer);
        tf_loop_free(s.loop);
        tf_out_flush(1000000);
        return r < 0 ? 1 : 0;
}
