/* SPDX-License-Identifier: MIT */
/*
 * The asynchronous transport: every call is an easy handle in the client's one multi handle, driven by the
 * caller's event loop through curl_multi_socket_action() (CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION hand the
 * sockets and the one timer to the loop). Requests are built and answers parsed by the same helpers as the
 * blocking calls (docker-internal.h), so both say the same things.
 *
 * Completions are never delivered from inside libcurl: its callbacks only record (a header block, a
 * body byte); ready() and done() run after curl_multi_socket_action() has returned, where libcurl allows
 * adding and removing handles, so a completion may issue the next call or cancel another.
 *
 * The attach stream's output goes to tfrun's fds through output.c, which never blocks: what a reader does
 * not take is queued, and once a stream has TF_DOCKER_OUTPUT_MAX bytes queued the transfer is paused
 * (curl_easy_pause(CURLPAUSE_RECV): libcurl stops reading the socket, the engine's buffers fill, the
 * container's writes block, as they would on a full pipe of its own). The fd the queue waits for is a
 * watch of the loop (TF_DOCKER_WATCH_OUT) like the client's sockets; when it has drained below half the
 * bound the transfer goes on. A stream that ends with output still queued completes once it is written
 * (or dropped by tf_docker_attach_drop()).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/cleanup.h"
#include "base/strutil.h"
#include "base/timeutil.h"
#include "docker/docker-internal.h"

enum stage {
        STAGE_PING,    /* an unconnected client: GET /_ping first, */
        STAGE_VERSION, /* then GET /version, */
        STAGE_MAIN,    /* then the call itself */
};

enum kind {
        KIND_CONNECT,
        KIND_IMAGE_INSPECT,
        KIND_PULL,
        KIND_LIST,
        KIND_CREATE,
        KIND_START,
        KIND_KILL,
        KIND_INSPECT,
        KIND_WAIT,
        KIND_OOM,
        KIND_REMOVE,
        KIND_ATTACH,
        KIND_JSON, /* tf_docker_request_async(): any call answered with JSON (Swarm services, tasks) */
};

struct tf_docker_call {
        tf_docker *d; /* borrowed */
        tf_docker_call *next, *prev;
        enum kind kind;
        enum stage stage;
        CURL *easy;
        bool in_multi;
        struct curl_slist *hdrs;
        char *url;
        char *call; /* for messages: "create container" */
        const char *method;
        char *path, *body;
        uint64_t timeout_usec; /* 0: none */
        char ping_api[16];
        char errbuf[CURL_ERROR_SIZE];
        struct docker_resp resp;
        bool too_big, headers_done, ready_pending;
        char *key;                  /* list: the label whose values are wanted */
        struct docker_pull pull;    /* pull */
        struct tf_docker_demux demux; /* attach */
        tf_error *feed_err;         /* attach: why demultiplexing stopped */
        struct docker_out out;      /* attach: the output not yet written */
        int out_watch;              /* attach: the output fd watched for EPOLLOUT; -1: none */
        bool want_pause, paused;    /* attach: a stream has TF_DOCKER_OUTPUT_MAX bytes queued */
        bool held;                  /* attach: the stream ended; done() waits for the output */
        int held_r;
        tf_error *held_err;
        bool told_paused, told_held; /* attach: stalled() called for either */
        bool stall_pending;
        uint64_t skip[3];           /* logs: payload bytes of each stream not to deliver again */
        tf_docker_output_fn output; /* attach: the caller's sink, instead of out */
        void *output_userdata;
        void (*stalled)(tf_docker_call *c, bool ended, void *userdata);
        void (*ready)(tf_docker_call *c, void *userdata);
        tf_docker_done_fn done;
        void *userdata;
};

size_t tf_docker_calls(const tf_docker *d) {
        size_t n = 0;
        for (const tf_docker_call *c = d->calls; c; c = c->next)
                n++;
        return n;
}

static void call_unlink(tf_docker_call *c) {
        tf_docker *d = c->d;
        if (c->prev)
                c->prev->next = c->next;
        else if (d->calls == c)
                d->calls = c->next;
        if (c->next)
                c->next->prev = c->prev;
        c->next = c->prev = NULL;
}

static void out_watch(tf_docker_call *c, int fd) {
        tf_docker *d = c->d;
        if (fd == c->out_watch)
                return;
        if (c->out_watch >= 0)
                d->watch.fd(d->watch.userdata, c->out_watch, 0);
        c->out_watch = -1;
        if (fd >= 0 && d->watch.fd(d->watch.userdata, fd, TF_DOCKER_WATCH_OUT) == 0)
                c->out_watch = fd;
}

static void call_free(tf_docker_call *c) {
        if (c->kind == KIND_ATTACH) {
                /* The loop stops watching the output fd before it is closed. */
                out_watch(c, -1);
                docker_out_done(&c->out);
        }
        tf_error_free(c->held_err);
        if (c->in_multi)
                curl_multi_remove_handle(c->d->multi, c->easy);
        if (c->easy)
                curl_easy_cleanup(c->easy);
        curl_slist_free_all(c->hdrs);
        docker_resp_done(&c->resp);
        free(c->url);
        free(c->call);
        free(c->path);
        free(c->body);
        free(c->key);
        free(c->pull.line);
        free(c->pull.error);
        tf_error_free(c->feed_err);
        free(c);
}

void tf_docker_call_cancel(tf_docker_call *c) {
        if (!c)
                return;
        call_unlink(c);
        call_free(c);
}

static void reply_done(struct tf_docker_reply *rep) {
        free(rep->id);
        tf_strv_free(rep->warnings);
        tf_docker_state_done(&rep->state);
        tf_strv_free(rep->ids);
        tf_strv_free(rep->values);
        json_decref(rep->json);
}

/* ---- libcurl's callbacks: record only ---- */

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
        tf_docker *d = userp;
        int w = what == CURL_POLL_IN      ? TF_DOCKER_WATCH_IN
                : what == CURL_POLL_OUT   ? TF_DOCKER_WATCH_OUT
                : what == CURL_POLL_INOUT ? TF_DOCKER_WATCH_IN | TF_DOCKER_WATCH_OUT
                                          : 0;
        /* A failure fails the transfers on that socket, which then complete with the error. */
        return d->watch.fd(d->watch.userdata, fd, w) < 0 ? -1 : 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp) {
        tf_docker *d = userp;
        uint64_t at = timeout_ms < 0 ? 0 : tf_now(CLOCK_MONOTONIC) + (uint64_t) timeout_ms * 1000;
        d->timer_at = at;
        /* A kick is due now; tf_docker_on_timer() puts libcurl's time back after it. */
        if (d->kicked)
                return 0;
        return d->watch.timer(d->watch.userdata, at) < 0 ? -1 : 0;
}

/* Work of our own (a held completion) that must run from the loop, not from inside the caller: the
 * watch's timer, due now, comes back through tf_docker_on_timer(). */
static void kick(tf_docker *d) {
        d->kicked = true;
        d->watch.timer(d->watch.userdata, tf_now(CLOCK_MONOTONIC));
}

static size_t header_cb(char *buf, size_t size, size_t n, void *userdata) {
        tf_docker_call *c = userdata;
        size_t len = size * n;
        if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
                /* A new status line (after a 100 Continue, say): headers start over. */
                c->headers_done = false;
                int code = 0;
                const char *sp = memchr(buf, ' ', len);
                if (sp && sscanf(sp, " %d", &code) == 1)
                        c->resp.status = code;
        } else if ((len == 2 && buf[0] == '\r') || (len == 1 && buf[0] == '\n')) {
                if (c->resp.status >= 200 && !c->headers_done) {
                        c->headers_done = true;
                        if (c->ready && c->stage == STAGE_MAIN && c->resp.status == 200)
                                c->ready_pending = true;
                }
        } else
                docker_resp_header_api_version(&c->resp, buf, len);
        return len;
}

static size_t write_cb(char *buf, size_t size, size_t n, void *userdata) {
        tf_docker_call *c = userdata;
        size_t len = size * n;
        bool ok = c->resp.status >= 200 && c->resp.status < 300 && c->stage == STAGE_MAIN;
        if (ok && c->kind == KIND_ATTACH) {
                int r = tf_docker_demux_feed(&c->demux, buf, len, &c->feed_err);
                if (r < 0) {
                        c->resp.cb_error = r;
                        return CURL_WRITEFUNC_ERROR;
                }
                return len;
        }
        if (ok && c->kind == KIND_PULL) {
                int r = docker_pull_data(buf, len, &c->pull);
                if (r < 0) {
                        c->resp.cb_error = r;
                        return CURL_WRITEFUNC_ERROR;
                }
                return len;
        }
        if (c->resp.len + len > TF_DOCKER_JSON_MAX) {
                c->too_big = true;
                return CURL_WRITEFUNC_ERROR;
        }
        c->resp.body = tf_realloc(c->resp.body, c->resp.len + len + 1);
        memcpy(c->resp.body + c->resp.len, buf, len);
        c->resp.len += len;
        c->resp.body[c->resp.len] = '\0';
        return len;
}

/* ---- a call's stages ---- */

static const char *stage_call(const tf_docker_call *c) {
        return c->stage == STAGE_PING ? "ping Docker engine"
               : c->stage == STAGE_VERSION ? "get Docker engine version"
                                           : c->call;
}

/* Put the transfer of the current stage into the multi handle; it goes out on the next timer. */
static int stage_begin(tf_docker_call *c, tf_error **err) {
        tf_docker *d = c->d;
        bool main = c->stage == STAGE_MAIN;
        const char *path = c->stage == STAGE_PING ? "/_ping" : c->stage == STAGE_VERSION ? "/version" : c->path;
        free(c->url);
        c->url = docker_url(d, path, !main || c->kind == KIND_CONNECT);
        docker_resp_done(&c->resp);
        c->resp = (struct docker_resp){};
        c->headers_done = c->too_big = false;
        c->errbuf[0] = '\0';

        CURL *e = c->easy;
        curl_easy_setopt(e, CURLOPT_URL, c->url);
        uint64_t t = main ? c->timeout_usec : d->timeout_usec;
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long) (t / 1000));
        if (main && streq(c->method, "POST")) {
                const char *b = c->body ? c->body : "";
                curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long) strlen(b));
                curl_easy_setopt(e, CURLOPT_POSTFIELDS, b);
        } else if (main && !streq(c->method, "GET"))
                curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, c->method);
        CURLMcode mc = curl_multi_add_handle(d->multi, e);
        if (mc != CURLM_OK)
                return tf_error_set(err, EIO, "%s: %s", c->call, curl_multi_strerror(mc));
        c->in_multi = true;
        return 0;
}

static void complete(tf_docker_call *c, int r, tf_error *e, struct tf_docker_reply *rep) {
        if (c->kind == KIND_ATTACH) {
                if (docker_out_queued(&c->out) > 0 && !c->out.discard) {
                        /* The output is the container's too: done() once it is written or dropped. */
                        c->held = true;
                        c->held_r = r;
                        tf_error_free(c->held_err);
                        c->held_err = e;
                        if (c->stalled && !c->told_held)
                                c->stall_pending = true;
                        return;
                }
                rep->out_dropped = c->out.dropped[1];
                rep->err_dropped = c->out.dropped[2];
        }
        call_unlink(c);
        if (c->done)
                c->done(c, r, e, rep, c->userdata);
        reply_done(rep);
        tf_error_free(e);
        call_free(c);
}

static int parse_json(tf_docker_call *c, json_t **ret) {
        *ret = c->resp.len ? json_loadb(c->resp.body, c->resp.len, 0, NULL) : NULL;
        return 0;
}

/* The main request ended with an answer: what it means, as the blocking call would say it. */
static int finish(tf_docker_call *c, struct tf_docker_reply *rep, tf_error **err) {
        struct docker_resp *resp = &c->resp;
        _cleanup_(json_decrefp) json_t *j = NULL;
        int r;

        if (c->kind == KIND_KILL)
                return docker_kill_status(c->call, resp, err);
        if (resp->status >= 400 || (c->kind == KIND_ATTACH && resp->status != 200))
                return docker_engine_error(c->call, resp->status, resp->body, resp->len, err);
        switch (c->kind) {
        case KIND_CONNECT:
        case KIND_KILL:
        case KIND_START:
        case KIND_REMOVE:
                return 0;
        case KIND_ATTACH:
                r = tf_docker_demux_end(&c->demux, err);
                return r < 0 ? tf_error_prefix(err, "%s", c->call) : 0;
        case KIND_PULL:
                return docker_pull_finish(&c->pull, c->call, 0, err);
        case KIND_OOM:
                rep->found = docker_parse_oom_events(resp->body);
                return 0;
        case KIND_IMAGE_INSPECT:
                parse_json(c, &j);
                if (!json_string_value(json_object_get(j, "Id")))
                        return tf_error_set(err, EPROTO, "%s: the engine's answer has no Id", c->call);
                rep->id = tf_strdup(json_string_value(json_object_get(j, "Id")));
                return 0;
        case KIND_CREATE:
                parse_json(c, &j);
                return docker_parse_create(j, &rep->id, &rep->warnings, err);
        case KIND_INSPECT:
                parse_json(c, &j);
                return docker_parse_inspect(j, &rep->state, err);
        case KIND_WAIT:
                parse_json(c, &j);
                return docker_parse_wait(j, &rep->status_code, err);
        case KIND_LIST:
                parse_json(c, &j);
                return docker_parse_list(j, c->key, &rep->ids, c->key ? &rep->values : NULL, err);
        case KIND_JSON:
                parse_json(c, &rep->json);
                if (resp->len > 0 && !rep->json)
                        return tf_error_set(err, EPROTO, "%s: the engine's answer is not JSON", c->call);
                return 0;
        }
        return tf_error_set(err, EINVAL, "%s: unknown call", c->call);
}

/* The transfer of the current stage is over (cc): go on to the next stage or complete the call. */
static void transfer_done(tf_docker_call *c, CURLcode cc) {
        tf_docker *d = c->d;
        struct tf_docker_reply rep = {};
        tf_error *e = NULL;
        int r = 0;

        curl_multi_remove_handle(d->multi, c->easy);
        c->in_multi = false;
        const char *what = stage_call(c);
        if (cc != CURLE_OK) {
                if (c->too_big)
                        r = tf_error_set(&e, EFBIG, "%s: the engine's answer exceeds %u bytes", what,
                                         TF_DOCKER_JSON_MAX);
                else if (c->feed_err)
                        r = tf_error_set(&e, c->feed_err->code, "%s: %s", c->call, c->feed_err->msg);
                else if (c->resp.cb_error)
                        r = tf_error_setc(&e, c->resp.cb_error, "%s: reading the engine's answer", what);
                else
                        r = docker_curl_error(d, c->easy, cc, what, c->errbuf, &e);
                if (c->stage != STAGE_MAIN && c->kind != KIND_CONNECT)
                        tf_error_prefix(&e, "%s", c->call);
                if (c->kind == KIND_PULL)
                        r = docker_pull_finish(&c->pull, c->call, r, &e);
                return complete(c, r, e, &rep);
        }
        switch (c->stage) {
        case STAGE_PING:
                if (c->resp.status != 200) {
                        r = docker_engine_error(what, c->resp.status, c->resp.body, c->resp.len, &e);
                        break;
                }
                snprintf(c->ping_api, sizeof(c->ping_api), "%s", c->resp.api_version);
                c->stage = STAGE_VERSION;
                r = stage_begin(c, &e);
                if (r == 0)
                        return;
                break;
        case STAGE_VERSION:
                if (c->resp.status != 200)
                        r = docker_engine_error(what, c->resp.status, c->resp.body, c->resp.len, &e);
                else
                        r = docker_version_apply(d, c->ping_api, c->resp.body, c->resp.len, &e);
                if (r < 0 || c->kind == KIND_CONNECT)
                        break;
                c->stage = STAGE_MAIN;
                r = stage_begin(c, &e);
                if (r == 0)
                        return;
                break;
        case STAGE_MAIN:
                r = finish(c, &rep, &e);
                return complete(c, r, e, &rep);
        }
        if (r < 0 && c->kind != KIND_CONNECT)
                tf_error_prefix(&e, "%s", c->call);
        complete(c, r, e, &rep);
}

/* After a socket action: attach streams that were accepted, then calls that ended, in that order (a
 * stream accepted and ended in one read is ready before it is done). */
static int attach_sink(void *userdata, int stream, const uint8_t *p, size_t n, tf_error **err) {
        tf_docker_call *c = userdata;
        if (stream >= 0 && stream <= 2 && c->skip[stream] > 0) {
                size_t k = c->skip[stream] < n ? (size_t)c->skip[stream] : n;
                c->skip[stream] -= k;
                p += k;
                n -= k;
                if (n == 0)
                        return 0;
        }
        if (c->output && (stream == 1 || stream == 2))
                c->output(c->output_userdata, stream, p, n);
        int r = docker_out_push(&c->out, stream, p, n, err);
        if (r == 0 && c->out.queued[stream] >= TF_DOCKER_OUTPUT_MAX)
                c->want_pause = true;
        return r;
}

/* After libcurl or the output moved: watch the fd the queue waits for, pause a transfer whose queue is
 * full (here, not inside the write callback, where libcurl is in the middle of its read loop). */
static void settle(tf_docker_call *c) {
        out_watch(c, docker_out_blocked_fd(&c->out));
        if (c->in_multi && c->want_pause && !c->paused && !c->out.discard) {
                curl_easy_pause(c->easy, CURLPAUSE_RECV);
                c->paused = true;
                if (c->stalled && !c->told_paused)
                        c->stall_pending = true;
        }
}

/* The output fd takes bytes again. */
static void out_ready(tf_docker_call *c) {
        tf_error *e = NULL;
        int r = docker_out_flush(&c->out, &e);
        if (r < 0) {
                /* The reader is gone: the stream cannot go on. */
                if (c->in_multi) {
                        curl_multi_remove_handle(c->d->multi, c->easy);
                        c->in_multi = false;
                }
                docker_out_drop(&c->out);
                tf_error_prefix(&e, "%s", c->call);
                tf_error_free(c->held_err);
                c->held = true;
                c->held_r = r;
                c->held_err = e;
                return;
        }
        if (c->paused && docker_out_queued(&c->out) < TF_DOCKER_OUTPUT_MAX / 2) {
                c->paused = c->want_pause = false;
                /* libcurl may hand over what it had read before this returns. */
                if (c->in_multi)
                        curl_easy_pause(c->easy, CURLPAUSE_CONT);
        }
}

static void collect(tf_docker *d) {
        for (tf_docker_call *c = d->calls; c; c = c->next)
                if (c->kind == KIND_ATTACH)
                        settle(c);
        for (;;) {
                tf_docker_call *c = d->calls;
                while (c && !c->ready_pending)
                        c = c->next;
                if (!c)
                        break;
                c->ready_pending = false;
                c->ready(c, c->userdata);
        }
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(d->multi, &left))) {
                if (m->msg != CURLMSG_DONE)
                        continue;
                tf_docker_call *c = NULL;
                CURLcode cc = m->data.result;
                curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **) &c);
                transfer_done(c, cc);
        }
        /* Streams whose output has now gone (or was dropped), then streams that stall. */
        for (;;) {
                tf_docker_call *c = d->calls;
                while (c && !(c->held && (docker_out_queued(&c->out) == 0 || c->out.discard)))
                        c = c->next;
                if (!c)
                        break;
                c->held = false;
                struct tf_docker_reply rep = {};
                complete(c, c->held_r, TAKE_PTR(c->held_err), &rep);
        }
        for (;;) {
                tf_docker_call *c = d->calls;
                while (c && !c->stall_pending)
                        c = c->next;
                if (!c)
                        break;
                c->stall_pending = false;
                bool ended = c->held;
                if (ended)
                        c->told_held = true;
                else
                        c->told_paused = true;
                c->stalled(c, ended, c->userdata);
        }
        for (tf_docker_call *c = d->calls; c; c = c->next)
                if (c->kind == KIND_ATTACH)
                        settle(c);
}

static int drive(tf_docker *d, curl_socket_t fd, int ev, tf_error **err) {
        int running = 0;
        CURLMcode mc = curl_multi_socket_action(d->multi, fd, ev, &running);
        if (mc != CURLM_OK)
                return tf_error_set(err, EIO, "Docker engine client: %s", curl_multi_strerror(mc));
        collect(d);
        return 0;
}

int tf_docker_on_fd(tf_docker *d, int fd, int what, tf_error **err) {
        for (tf_docker_call *c = d->calls; c; c = c->next)
                if (c->kind == KIND_ATTACH && c->out_watch == fd) {
                        out_ready(c);
                        collect(d);
                        return 0;
                }
        int ev = ((what & TF_DOCKER_WATCH_IN) ? CURL_CSELECT_IN : 0) |
                 ((what & TF_DOCKER_WATCH_OUT) ? CURL_CSELECT_OUT : 0) |
                 ((what & TF_DOCKER_WATCH_ERR) ? CURL_CSELECT_ERR : 0);
        return d->multi ? drive(d, fd, ev, err) : 0;
}

int tf_docker_on_timer(tf_docker *d, tf_error **err) {
        if (!d->multi)
                return 0;
        bool kicked = d->kicked;
        d->kicked = false;
        int r = drive(d, CURL_SOCKET_TIMEOUT, 0, err);
        /* Early for libcurl, which does nothing before its time: give it its own timer back. */
        if (kicked && !d->kicked)
                d->watch.timer(d->watch.userdata, d->timer_at);
        return r;
}

void tf_docker_attach_set_output(tf_docker_call *c, tf_docker_output_fn output, void *userdata) {
        c->output = output;
        c->output_userdata = userdata;
}

void tf_docker_attach_on_stall(tf_docker_call *c,
                               void (*stalled)(tf_docker_call *c, bool ended, void *userdata)) {
        c->stalled = stalled;
}

void tf_docker_attach_drop(tf_docker_call *c) {
        if (c->kind != KIND_ATTACH)
                return;
        docker_out_drop(&c->out);
        if (c->paused) {
                c->paused = c->want_pause = false;
                if (c->in_multi)
                        curl_easy_pause(c->easy, CURLPAUSE_CONT);
        }
        /* The watch goes and a held done() is delivered from the loop. */
        kick(c->d);
}

int tf_docker_watch(tf_docker *d, const struct tf_docker_watch *w, tf_error **err) {
        if (!w->fd || !w->timer)
                return tf_error_set(err, EINVAL, "Docker engine client: a watch needs fd and timer callbacks");
        if (!d->multi) {
                d->multi = curl_multi_init();
                if (!d->multi)
                        tf_oom();
                curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
                curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, d);
                curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
                curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, d);
        }
        d->watch = *w;
        return 0;
}

/* ---- the calls ---- */

static int call_new(tf_docker *d, enum kind kind, const char *call, const char *method, char *path,
                    tf_docker_done_fn done, void *userdata, tf_docker_call **ret, tf_error **err) {
        _cleanup_free_ char *p = path;
        if (!d->multi)
                return tf_error_set(err, EINVAL, "%s: the Docker engine client has no event loop", call);
        tf_docker_call *c = tf_malloc0(sizeof(*c));
        *c = (tf_docker_call){
                .d = d,
                .kind = kind,
                .stage = d->connected ? STAGE_MAIN : STAGE_PING,
                .call = tf_strdup(call),
                .method = method,
                .path = TAKE_PTR(p),
                .timeout_usec = d->timeout_usec,
                .out_watch = -1,
                .done = done,
                .userdata = userdata,
        };
        c->easy = docker_easy_new(d);
        curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
        curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->errbuf);
        curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
        curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, header_cb);
        curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, c);
        *ret = c;
        return 0;
}

/* Link and send: the first transfer goes out from the loop, never from inside the caller. */
static int call_go(tf_docker_call *c, tf_docker_call **ret, tf_error **err) {
        tf_docker *d = c->d;
        if (c->body)
                c->hdrs = curl_slist_append(c->hdrs, "Content-Type: application/json");
        /* No "Expect: 100-continue" round trip for larger bodies. */
        c->hdrs = curl_slist_append(c->hdrs, "Expect:");
        curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->hdrs);
        c->next = d->calls;
        if (d->calls)
                d->calls->prev = c;
        d->calls = c;
        int r = stage_begin(c, err);
        if (r < 0) {
                tf_docker_call_cancel(c);
                return r;
        }
        if (ret)
                *ret = c;
        return 0;
}

int tf_docker_connect_async(tf_docker *d, tf_docker_done_fn done, void *userdata, tf_docker_call **ret,
                            tf_error **err) {
        tf_docker_call *c;
        int r = call_new(d, KIND_CONNECT, "ping Docker engine", "GET", tf_strdup("/_ping"), done, userdata, &c,
                         err);
        return r < 0 ? r : call_go(c, ret, err);
}

int tf_docker_image_inspect_async(tf_docker *d, const char *ref, tf_docker_done_fn done, void *userdata,
                                  tf_docker_call **ret, tf_error **err) {
        int r = tf_docker_image_ref_check(ref, err);
        if (r < 0)
                return tf_error_prefix(err, "inspect image");
        _cleanup_free_ char *call = tf_asprintf("inspect image '%s'", ref);
        tf_docker_call *c;
        /* References contain '/' and ':' which the engine's router takes as they are. */
        r = call_new(d, KIND_IMAGE_INSPECT, call, "GET", tf_asprintf("/images/%s/json", ref), done, userdata,
                     &c, err);
        return r < 0 ? r : call_go(c, ret, err);
}

int tf_docker_image_pull_async(tf_docker *d, const char *ref, tf_docker_pull_cb cb, void *cb_userdata,
                               uint64_t timeout_usec, tf_docker_done_fn done, void *userdata,
                               tf_docker_call **ret, tf_error **err) {
        int r = tf_docker_image_ref_check(ref, err);
        if (r < 0)
                return tf_error_prefix(err, "pull image");
        _cleanup_free_ char *call = tf_asprintf("pull image '%s'", ref);
        tf_docker_call *c;
        r = call_new(d, KIND_PULL, call, "POST", docker_pull_path(ref), done, userdata, &c, err);
        if (r < 0)
                return r;
        c->timeout_usec = timeout_usec;
        c->pull = (struct docker_pull){ .cb = cb, .userdata = cb_userdata };
        return call_go(c, ret, err);
}

int tf_docker_container_list_labels_async(tf_docker *d, const char *label, const char *key,
                                          tf_docker_done_fn done, void *userdata, tf_docker_call **ret,
                                          tf_error **err) {
        tf_docker_call *c;
        int r = call_new(d, KIND_LIST, "list containers", "GET", docker_list_path(label), done, userdata, &c,
                         err);
        if (r < 0)
                return r;
        c->key = key ? tf_strdup(key) : NULL;
        return call_go(c, ret, err);
}

int tf_docker_container_create_async(tf_docker *d, const char *name, json_t *body, tf_docker_done_fn done,
                                     void *userdata, tf_docker_call **ret, tf_error **err) {
        char *path;
        if (name) {
                _cleanup_free_ char *e = docker_escape(name);
                path = tf_asprintf("/containers/create?name=%s", e);
        } else
                path = tf_strdup("/containers/create");
        tf_docker_call *c;
        int r = call_new(d, KIND_CREATE, "create container", "POST", path, done, userdata, &c, err);
        if (r < 0)
                return r;
        c->body = json_dumps(body, JSON_COMPACT);
        if (!c->body)
                tf_oom();
        return call_go(c, ret, err);
}

int tf_docker_container_start_async(tf_docker *d, const char *id, tf_docker_done_fn done, void *userdata,
                                    tf_docker_call **ret, tf_error **err) {
        tf_docker_call *c;
        int r = call_new(d, KIND_START, "start container", "POST", docker_cpath(id, "/start"), done, userdata,
                         &c, err);
        return r < 0 ? r : call_go(c, ret, err);
}

int tf_docker_container_kill_async(tf_docker *d, const char *id, int sig, tf_docker_done_fn done,
                                   void *userdata, tf_docker_call **ret, tf_error **err) {
        _cleanup_free_ char *call = NULL;
        char *path = docker_kill_path(id, sig, &call);
        tf_docker_call *c;
        int r = call_new(d, KIND_KILL, call, "POST", path, done, userdata, &c, err);
        return r < 0 ? r : call_go(c, ret, err);
}

int tf_docker_container_inspect_async(tf_docker *d, const char *id, tf_docker_done_fn done, void *userdata,
                                      tf_docker_call **ret, tf_error **err) {
        tf_docker_call *c;
        int r = call_new(d, KIND_INSPECT, "inspect container", "GET", docker_cpath(id, "/json"), done,
                         userdata, &c, err);
        return r < 0 ? r : call_go(c, ret, err);
}

int tf_docker_container_wait_async(tf_docker *d, const char *id, uint64_t timeout_usec, tf_docker_done_fn done,
                                   void *userdata, tf_docker_call **ret, tf_error **err) {
        tf_docker_call *c;
        int r = call_new(d, KIND_WAIT, "wait for container", "POST",
                         docker_cpath(id, "/wait?condition=not-running"), done, userdata, &c, err);
        if (r < 0)
                return r;
        c->timeout_usec = timeout_usec;
        return call_go(c, ret, err);
}

int tf_docker_container_oom_event_async(tf_docker *d, const char *id, int64_t since, int64_t until,
                                        tf_docker_done_fn done, void *userdata, tf_docker_call **ret,
                                        tf_error **err) {
        tf_docker_call *c;
        int r = call_new(d, KIND_OOM, "read the engine's oom events", "GET",
                         docker_oom_event_path(id, since, until), done, userdata, &c, err);
        return r < 0 ? r : call_go(c, ret, err);
}

int tf_docker_container_remove_async(tf_docker *d, const char *id, bool force, uint64_t timeout_usec,
                                     tf_docker_done_fn done, void *userdata, tf_docker_call **ret,
                                     tf_error **err) {
        tf_docker_call *c;
        int r = call_new(d, KIND_REMOVE, "remove container", "DELETE",
                         docker_cpath(id, force ? "?force=1&v=1" : "?v=1"), done, userdata, &c, err);
        if (r < 0)
                return r;
        if (timeout_usec)
                c->timeout_usec = timeout_usec;
        return call_go(c, ret, err);
}

int tf_docker_attach_async(tf_docker *d, const char *id, int out_fd, int err_fd,
                           void (*ready)(tf_docker_call *c, void *userdata), tf_docker_done_fn done,
                           void *userdata, tf_docker_call **ret, tf_error **err) {
        tf_docker_call *c;
        /* No "Upgrade: tcp": the engine then answers a plain 200 and streams until the container's output
         * closes, which libcurl reads as a body delimited by the end of the connection. */
        int r = call_new(d, KIND_ATTACH, "attach to container", "POST",
                         docker_cpath(id, "/attach?stream=1&stdout=1&stderr=1"), done, userdata, &c, err);
        if (r < 0)
                return r;
        c->timeout_usec = 0;
        c->ready = ready;
        tf_docker_demux_init(&c->demux, -1, -1);
        c->demux.sink = attach_sink;
        c->demux.sink_userdata = c;
        docker_out_init(&c->out, out_fd, err_fd);
        return call_go(c, ret, err);
}

int tf_docker_request_async(tf_docker *d, const char *call, const char *method, const char *path, json_t *body,
                            uint64_t timeout_usec, tf_docker_done_fn done, void *userdata, tf_docker_call **ret,
                            tf_error **err) {
        tf_docker_call *c;
        int r = call_new(d, KIND_JSON, call, method, tf_strdup(path), done, userdata, &c, err);
        if (r < 0)
                return r;
        if (timeout_usec)
                c->timeout_usec = timeout_usec;
        if (body) {
                c->body = json_dumps(body, JSON_COMPACT);
                if (!c->body)
                        tf_oom();
        }
        return call_go(c, ret, err);
}

int tf_docker_service_logs_async(tf_docker *d, const char *id, bool follow, uint64_t skip_out, uint64_t skip_err,
                                 int out_fd, int err_fd, tf_docker_output_fn output, void *output_userdata,
                                 tf_docker_done_fn done, void *userdata, tf_docker_call **ret, tf_error **err) {
        tf_docker_call *c;
        _cleanup_free_ char *e = docker_escape(id);
        /* The same frames as attach (a service without a TTY): the same demultiplexer. */
        int r = call_new(d, KIND_ATTACH, "read the service's logs", "GET",
                         tf_asprintf("/services/%s/logs?follow=%d&stdout=1&stderr=1", e, follow ? 1 : 0), done,
                         userdata, &c, err);
        if (r < 0)
                return r;
        if (follow)
                c->timeout_usec = 0;
        tf_docker_demux_init(&c->demux, -1, -1);
        c->demux.sink = attach_sink;
        c->demux.sink_userdata = c;
        docker_out_init(&c->out, out_fd, err_fd);
        c->skip[1] = skip_out;
        c->skip[2] = skip_err;
        c->output = output;
        c->output_userdata = output_userdata;
        return call_go(c, ret, err);
}
