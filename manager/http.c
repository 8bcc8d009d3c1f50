/* SPDX-License-Identifier: MIT */
/*
 * Why libmicrohttpd: it is GNU's small HTTP/1.1 server library, maintained for two decades, packaged in
 * Debian (libmicrohttpd-dev), and it has an external-select mode: no thread of its own, one epoll fd
 * (MHD_USE_EPOLL) that our loop watches, MHD_run() when it is ready and MHD_get_timeout() for its timers.
 * That keeps the control API inside tfrun's one loop, as everything else is. Its suspend/resume lets a
 * request wait for the loop (a trigger waiting for its run) and a streamed body wait for data (logs -f)
 * without blocking anything. The alternatives looked at either want threads of their own (civetweb,
 * mongoose's examples) or are not in Debian.
 *
 * One libmicrohttpd daemon per listener: a daemon has one listening socket, and the unix socket and the
 * TCP address differ in who may call (SO_PEERCRED applies to the unix socket only).
 */
#include "manager/http.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/strutil.h"
#include "base/timeutil.h"
#include "runner/runner.h"

struct listener {
        struct tf_http_server *server;
        struct MHD_Daemon *daemon;
        int listen_fd; /* MHD's after MHD_start_daemon (it closes it on stop) */
        bool is_unix;
        char *path; /* unix: the socket we created, removed at the end if it is still ours */
        dev_t dev;
        ino_t ino;
        struct tf_source *io, *timer;
        struct tf_http_request *held; /* requests a handler holds: pending or streaming */
        struct listener *next;
};

struct tf_http_server {
        struct tf_loop *loop;               /* borrowed */
        const struct tf_http_route *routes; /* borrowed */
        void *userdata;                     /* borrowed */
        struct tf_http_options opts;
        struct listener *listeners;
        bool freeing;
};

struct tf_http_response {
        struct tf_http_request *req;
};

struct tf_http_stream {
        struct tf_http_request *req;
        char *buf;
        size_t len, off, cap, max; /* buf[off..len) waits for the reader; cap <= max */
        bool ended, cut;
};

struct tf_http_request {
        struct listener *li;
        struct MHD_Connection *conn;
        char *target;       /* the request target as sent: path?query */
        char *path;         /* its path, still encoded */
        const char *method; /* libmicrohttpd's */
        bool have_peer, refused;
        struct ucred peer;
        const void *auth;
        char peer_addr[INET6_ADDRSTRLEN + 16];
        bool started, dispatched, queued;
        const struct tf_http_route *route;
        char *seg[TF_HTTP_SEGMENTS_MAX]; /* decoded */
        unsigned n_seg;
        char *body;
        size_t body_len;
        /* The answer, queued from the next access-handler call. */
        struct MHD_Response *answer;
        unsigned status;
        bool held, suspended;
        struct tf_source *watch; /* while suspended: the client's hangup */
        void (*gone)(void *);
        void *gone_userdata;
        struct tf_http_stream *stream;
        struct tf_http_response resp;
        struct tf_http_request *hnext, **hprev;
};

bool tf_http_valid_name(const char *s) {
        if (!s || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
                return false;
        size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_.-");
        return s[n] == 0 && n <= 63;
}

bool tf_http_valid_run_id(const char *s) {
        if (!s || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
                return false;
        size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_.-");
        return s[n] == 0 && n <= 128;
}

/* Percent-decoding of one path segment. -EINVAL for a bad escape; the result may hold NUL and '/', which
 * the caller refuses. */
static int decode_segment(const char *s, size_t n, char **ret, size_t *ret_len) {
        char *out = tf_malloc0(n + 1);
        size_t j = 0;
        for (size_t i = 0; i < n; i++) {
                if (s[i] != '%') {
                        out[j++] = s[i];
                        continue;
                }
                if (i + 2 >= n || !isxdigit((unsigned char)s[i + 1]) || !isxdigit((unsigned char)s[i + 2])) {
                        free(out);
                        return -EINVAL;
                }
                char h[3] = {s[i + 1], s[i + 2], 0};
                out[j++] = (char)strtoul(h, NULL, 16);
                i += 2;
        }
        out[j] = 0;
        *ret = out;
        *ret_len = j;
        return 0;
}

/* ---- answers ---- */

static struct MHD_Response *json_response(json_t *body) {
        char *text = json_dumps(body, JSON_COMPACT);
        if (!text)
                tf_oom();
        size_t n = strlen(text);
        /* One newline at the end, for curl in a terminal and for line-based readers. */
        text = tf_realloc(text, n + 2);
        text[n] = '\n';
        text[n + 1] = 0;
        struct MHD_Response *r = MHD_create_response_from_buffer(n + 1, text, MHD_RESPMEM_MUST_FREE);
        if (!r)
                tf_oom();
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        return r;
}

static struct MHD_Response *error_response(const char *msg) {
        json_t *o = json_pack("{s:s}", "error", msg);
        struct MHD_Response *r = json_response(o);
        json_decref(o);
        return r;
}

static void held_remove(struct tf_http_request *r) {
        if (!r->held)
                return;
        *r->hprev = r->hnext;
        if (r->hnext)
                r->hnext->hprev = r->hprev;
        r->hnext = NULL;
        r->hprev = NULL;
        r->held = false;
}

static void held_add(struct tf_http_request *r) {
        if (r->held)
                return;
        r->hnext = r->li->held;
        if (r->hnext)
                r->hnext->hprev = &r->hnext;
        r->hprev = &r->li->held;
        r->li->held = r;
        r->held = true;
}

/* Set the answer; the access handler queues it on its next call (now, or after a resume). */
static void set_answer(struct tf_http_request *r, unsigned status, struct MHD_Response *answer) {
        if (r->answer || r->queued) {
                MHD_destroy_response(answer);
                return;
        }
        r->status = status;
        r->answer = answer;
}

static void resume(struct tf_http_request *r) {
        if (!r->suspended)
                return;
        r->suspended = false;
        tf_source_remove(TAKE_PTR(r->watch));
        MHD_resume_connection(r->conn);
        /* Without an inter-thread channel (no threads here) libmicrohttpd takes a resumed connection up
         * only in its next MHD_run(): when the resume comes from outside its callbacks (a loop timer
         * feeding `logs -f`), nothing else would wake it. Run it from the loop at once. */
        struct tf_loop *loop = r->li->server->loop;
        (void)tf_source_set_time(r->li->timer, tf_loop_now(loop, CLOCK_MONOTONIC));
}

/* The client of a suspended connection hung up (libmicrohttpd does not watch a suspended connection, so
 * a `logs -f` left with ^C on a quiet service would hold its connection, one of connection_limit, for
 * ever). Tell the owner, then let libmicrohttpd close it. */
/* A held request's end without its owner: the owner is told (and lets go), a stream is cut, a pending
 * answer becomes a 503 saying why. */
static void let_go(struct tf_http_request *r, const char *why) {
        if (r->held) {
                held_remove(r);
                if (r->gone)
                        r->gone(r->gone_userdata);
                r->gone = NULL;
        }
        if (r->stream)
                r->stream->cut = true;
        else
                set_answer(r, MHD_HTTP_SERVICE_UNAVAILABLE, error_response(why));
        resume(r);
}

static int on_hangup(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        struct tf_http_request *r = userdata;
        let_go(r, "the client went away");
        return 0;
}

static void suspend(struct tf_http_request *r) {
        if (r->suspended)
                return;
        r->suspended = true;
        MHD_suspend_connection(r->conn);
        const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        /* EPOLLRDHUP alone: data the client sends meanwhile stays for libmicrohttpd (EPOLLHUP and EPOLLERR
         * are always reported). */
        if (ci)
                (void)tf_loop_add_io(r->li->server->loop, ci->connect_fd, EPOLLRDHUP, on_hangup, r,
                                     &r->watch, NULL);
}

void tf_http_respond_json(struct tf_http_response *resp, unsigned status, json_t *body) {
        struct tf_http_request *r = resp->req;
        if (!body)
                body = json_object();
        set_answer(r, status, json_response(body));
        json_decref(body);
        if (!r->stream) {
                held_remove(r);
                resume(r);
        }
}

void tf_http_respond_text(struct tf_http_response *resp, unsigned status, const char *content_type,
                          char *body, size_t len) {
        struct tf_http_request *r = resp->req;
        struct MHD_Response *a = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (!a)
                tf_oom();
        MHD_add_response_header(a, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        set_answer(r, status, a);
        if (!r->stream) {
                held_remove(r);
                resume(r);
        }
}

void tf_http_respond_static(struct tf_http_response *resp, unsigned status, const char *content_type,
                            const void *data, size_t len) {
        struct tf_http_request *r = resp->req;
        struct MHD_Response *a = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_PERSISTENT);
        if (!a)
                tf_oom();
        MHD_add_response_header(a, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        set_answer(r, status, a);
        if (!r->stream) {
                held_remove(r);
                resume(r);
        }
}

void tf_http_respond_error(struct tf_http_response *resp, unsigned status, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        char *msg = NULL;
        if (vasprintf(&msg, fmt, ap) < 0)
                tf_oom();
        va_end(ap);
        struct tf_http_request *r = resp->req;
        set_answer(r, status, error_response(msg));
        free(msg);
        if (!r->stream) {
                held_remove(r);
                resume(r);
        }
}

void tf_http_response_on_gone(struct tf_http_response *resp, void (*cb)(void *userdata), void *userdata) {
        resp->req->gone = cb;
        resp->req->gone_userdata = userdata;
}

/* ---- streams ---- */

/* libmicrohttpd asks for the next bytes of the chunked body. Nothing queued: suspend the connection
 * (returning 0 without it would make libmicrohttpd ask again at once, a busy loop) until a write or the
 * end resumes it. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
        struct tf_http_stream *st = cls;
        if (st->cut)
                return MHD_CONTENT_READER_END_WITH_ERROR;
        if (st->len > st->off) {
                size_t n = st->len - st->off;
                if (n > max)
                        n = max;
                memcpy(buf, st->buf + st->off, n);
                st->off += n;
                if (st->off == st->len)
                        st->off = st->len = 0;
                return (ssize_t)n;
        }
        if (st->ended)
                return MHD_CONTENT_READER_END_OF_STREAM;
        if (st->req)
                suspend(st->req);
        return 0;
}

struct tf_http_stream *tf_http_respond_stream(struct tf_http_response *resp, unsigned status,
                                              const char *content_type) {
        struct tf_http_request *r = resp->req;
        if (r->answer || r->queued || r->stream)
                return NULL;
        struct tf_http_stream *st = tf_malloc0(sizeof(*st));
        st->req = r;
        st->max = r->li->server->opts.stream_max;
        /* The block size bounds one read; our buffer is the real bound. */
        struct MHD_Response *a =
                MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, st, NULL);
        if (!a)
                tf_oom();
        MHD_add_response_header(a, MHD_HTTP_HEADER_CONTENT_TYPE,
                                content_type ? content_type : "application/x-ndjson");
        /* A proxy or curl must not wait for a full buffer before it shows a line. */
        MHD_add_response_header(a, "X-Accel-Buffering", "no");
        r->stream = st;
        set_answer(r, status, a);
        /* The owner holds the request until the end of the stream; the answer (its head) goes out now. */
        held_add(r);
        resume(r);
        return st;
}

int tf_http_stream_write(struct tf_http_stream *st, const void *buf, size_t n) {
        struct tf_http_request *r = st->req;
        if (st->len - st->off + n > st->max) {
                /* The reader did not keep up: rather cut it off than buffer without bound or block. */
                st->cut = true;
                held_remove(r);
                resume(r);
                return -ENOBUFS;
        }
        if (st->len + n > st->cap) {
                /* Compact first; grow (doubling, up to max) only for what is really waiting: an idle
                 * `logs -f` costs a few KiB, not max. */
                if (st->off) {
                        memmove(st->buf, st->buf + st->off, st->len - st->off);
                        st->len -= st->off;
                        st->off = 0;
                }
                if (st->len + n > st->cap) {
                        size_t cap = st->cap ? st->cap * 2 : 4096;
                        while (cap < st->len + n)
                                cap *= 2;
                        st->cap = cap < st->max ? cap : st->max;
                        st->buf = tf_realloc(st->buf, st->cap);
                }
        }
        memcpy(st->buf + st->len, buf, n);
        st->len += n;
        resume(r);
        return 0;
}

void tf_http_stream_end(struct tf_http_stream *st) {
        st->ended = true;
        held_remove(st->req);
        resume(st->req);
}

/* ---- requests ---- */

const char *tf_http_request_method(const struct tf_http_request *req) {
        return req->method;
}

const char *tf_http_request_path(const struct tf_http_request *req) {
        return req->path;
}

const char *tf_http_request_param(const struct tf_http_request *req, const char *name) {
        if (!req->route)
                return NULL;
        const char *p = req->route->pattern;
        size_t nlen = strlen(name);
        for (unsigned i = 0; *p && i < req->n_seg; i++) {
                while (*p == '/')
                        p++;
                size_t len = strcspn(p, "/");
                if (len == nlen + 2 && p[0] == '{' && strncmp(p + 1, name, nlen) == 0 && p[len - 1] == '}')
                        return req->seg[i];
                p += len;
        }
        return NULL;
}

const char *tf_http_request_query(const struct tf_http_request *req, const char *key) {
        return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *tf_http_request_header(const struct tf_http_request *req, const char *name) {
        return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *tf_http_request_body(const struct tf_http_request *req, size_t *ret_len) {
        if (ret_len)
                *ret_len = req->body_len;
        return req->body ? req->body : "";
}

int tf_http_request_json(const struct tf_http_request *req, json_t **ret, tf_error **err) {
        if (req->body_len == 0) {
                *ret = json_object();
                return 0;
        }
        json_error_t je;
        json_t *j = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
        if (!j)
                return tf_error_set(err, EINVAL, "the request body is not JSON: %s (line %d, column %d)",
                                    je.text, je.line, je.column);
        if (!json_is_object(j)) {
                json_decref(j);
                return tf_error_set(err, EINVAL, "the request body must be a JSON object");
        }
        *ret = j;
        return 0;
}

bool tf_http_request_is_unix(const struct tf_http_request *req) {
        return req->li->is_unix;
}

const char *tf_http_request_peer_address(struct tf_http_request *req) {
        if (req->li->is_unix)
                return NULL;
        if (!req->peer_addr[0]) {
                const union MHD_ConnectionInfo *ci =
                        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
                char a[INET6_ADDRSTRLEN] = "?";
                unsigned port = 0;
                if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET) {
                        const struct sockaddr_in *in = (const struct sockaddr_in *)ci->client_addr;
                        inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
                        port = ntohs(in->sin_port);
                        snprintf(req->peer_addr, sizeof(req->peer_addr), "%s:%u", a, port);
                } else if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET6) {
                        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ci->client_addr;
                        inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
                        port = ntohs(in6->sin6_port);
                        snprintf(req->peer_addr, sizeof(req->peer_addr), "[%s]:%u", a, port);
                } else
                        snprintf(req->peer_addr, sizeof(req->peer_addr), "?");
        }
        return req->peer_addr;
}

void tf_http_request_set_auth(struct tf_http_request *req, const void *auth) {
        req->auth = auth;
}

const void *tf_http_request_auth(const struct tf_http_request *req) {
        return req->auth;
}

bool tf_http_request_peer(const struct tf_http_request *req, uid_t *ret_uid, pid_t *ret_pid) {
        if (!req->have_peer)
                return false;
        if (ret_uid)
                *ret_uid = req->peer.uid;
        if (ret_pid)
                *ret_pid = req->peer.pid;
        return true;
}

static void request_free(struct tf_http_request *r) {
        held_remove(r);
        tf_source_remove(r->watch);
        if (r->answer)
                MHD_destroy_response(r->answer);
        for (unsigned i = 0; i < r->n_seg; i++)
                free(r->seg[i]);
        if (r->stream) {
                free(r->stream->buf);
                free(r->stream);
        }
        free(r->body);
        free(r->path);
        free(r->target);
        free(r);
}

/* libmicrohttpd's first sight of a request: the target exactly as sent (before it decodes the path, which
 * would turn %2F into a separator), and the caller, once per request. Its return is the request's
 * context. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn) {
        struct listener *li = cls;
        struct tf_http_request *r = tf_malloc0(sizeof(*r));
        r->li = li;
        r->conn = conn;
        r->resp.req = r;
        r->target = tf_strdup(uri ? uri : "");
        r->path = tf_strndup(r->target, strcspn(r->target, "?"));
        if (li->is_unix) {
                const union MHD_ConnectionInfo *ci =
                        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
                socklen_t len = sizeof(r->peer);
                if (ci && getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &r->peer, &len) == 0)
                        r->have_peer = true;
                /* The manager's own uid, or root; nobody else, whatever the socket's file mode says. */
                if (!r->have_peer || (r->peer.uid != geteuid() && r->peer.uid != 0))
                        r->refused = true;
        }
        return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe) {
        struct tf_http_request *r = *req_cls;
        if (!r)
                return;
        *req_cls = NULL;
        if (r->held) {
                held_remove(r);
                if (r->gone)
                        r->gone(r->gone_userdata);
        }
        if (r->stream)
                r->stream->req = NULL;
        request_free(r);
}

/* Route: decode and check every segment, then find the pattern. Returns the status to answer with
 * (0: routed), with *ret_allow naming the methods of a path matched under another method. */
static unsigned route(struct tf_http_request *r, char *allow, size_t allow_size, char *why,
                      size_t why_size) {
        const char *p = r->path;
        if (*p != '/') {
                snprintf(why, why_size, "the path must start with '/'");
                return MHD_HTTP_BAD_REQUEST;
        }
        while (*p) {
                p++; /* the '/' */
                size_t len = strcspn(p, "/");
                if (r->n_seg == TF_HTTP_SEGMENTS_MAX) {
                        snprintf(why, why_size, "no such path: %s", r->path);
                        return MHD_HTTP_NOT_FOUND;
                }
                char *seg;
                size_t seg_len;
                if (decode_segment(p, len, &seg, &seg_len) < 0) {
                        snprintf(why, why_size, "path segment %u has a bad percent escape", r->n_seg + 1);
                        return MHD_HTTP_BAD_REQUEST;
                }
                r->seg[r->n_seg++] = seg;
                /* Checked after decoding, so that %2F, %00 and %2e%2e are what they mean. */
                const char *bad = seg_len != strlen(seg) ? "holds a NUL byte"
                                  : strchr(seg, '/')     ? "holds a '/'"
                                  : streq(seg, ".")      ? "is '.'"
                                  : streq(seg, "..")     ? "is '..'"
                                                         : NULL;
                if (bad) {
                        snprintf(why, why_size, "path segment %u %s (once decoded): not allowed", r->n_seg,
                                 bad);
                        return MHD_HTTP_BAD_REQUEST;
                }
                p += len;
        }
        bool path_found = false;
        allow[0] = 0;
        for (const struct tf_http_route *rt = r->li->server->routes; rt->method; rt++) {
                const char *q = rt->pattern;
                unsigned i = 0;
                bool match = true;
                while (*q && match) {
                        while (*q == '/')
                                q++;
                        size_t len = strcspn(q, "/");
                        if (len == 0)
                                break;
                        if (i >= r->n_seg)
                                match = false;
                        else if (q[0] == '{')
                                match = r->seg[i][0] != 0;
                        else
                                match = strlen(r->seg[i]) == len && strncmp(r->seg[i], q, len) == 0;
                        i++;
                        q += len;
                }
                /* "/" is the one path whose only segment is empty. */
                if (streq(rt->pattern, "/"))
                        match = r->n_seg == 1 && r->seg[0][0] == 0;
                else if (i != r->n_seg)
                        match = false;
                if (!match)
                        continue;
                if (streq(rt->method, r->method)) {
                        r->route = rt;
                        return 0;
                }
                if (!path_found || !strstr(allow, rt->method)) {
                        size_t n = strlen(allow);
                        snprintf(allow + n, allow_size - n, "%s%s", n ? ", " : "", rt->method);
                }
                path_found = true;
        }
        if (path_found) {
                snprintf(why, why_size, "method %s is not allowed on %s (allowed: %s)", r->method, r->path,
                         allow);
                return MHD_HTTP_METHOD_NOT_ALLOWED;
        }
        snprintf(why, why_size, "no such path: %s", r->path);
        return MHD_HTTP_NOT_FOUND;
}

static enum MHD_Result queue(struct tf_http_request *r) {
        struct MHD_Response *a = TAKE_PTR(r->answer);
        r->queued = true;
        const char *const *h = r->li->server->opts.headers;
        for (size_t i = 0; h && h[i] && h[i + 1]; i += 2)
                MHD_add_response_header(a, h[i], h[i + 1]);
        enum MHD_Result res = MHD_queue_response(r->conn, r->status, a);
        MHD_destroy_response(a);
        return res;
}

/* An answer before the body: libmicrohttpd then drops what body there is and closes the connection. */
static enum MHD_Result refuse(struct tf_http_request *r, unsigned status, const char *msg,
                              const char *allow) {
        struct MHD_Response *a = error_response(msg);
        if (allow)
                MHD_add_response_header(a, MHD_HTTP_HEADER_ALLOW, allow);
        set_answer(r, status, a);
        return queue(r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls) {
        struct listener *li = cls;
        struct tf_http_server *s = li->server;
        struct tf_http_request *r = *req_cls;
        if (!r)
                return MHD_NO; /* on_uri always runs first */
        if (!r->started) {
                r->started = true;
                r->method = method;
                if (r->refused) {
                        if (r->have_peer && geteuid() == 0)
                                tf_log("api: refused a caller on %s: uid %u (pid %d): only root may use it",
                                       li->path, (unsigned)r->peer.uid, (int)r->peer.pid);
                        else if (r->have_peer)
                                tf_log("api: refused a caller on %s: uid %u (pid %d): only uid %u and root "
                                       "may "
                                       "use it",
                                       li->path, (unsigned)r->peer.uid, (int)r->peer.pid,
                                       (unsigned)geteuid());
                        else
                                tf_log("api: refused a caller on %s: its credentials are unknown", li->path);
                        return refuse(r, MHD_HTTP_FORBIDDEN,
                                      "permission denied: only the manager's user and root "
                                      "may use this socket",
                                      NULL);
                }
                if (strlen(r->target) > TF_HTTP_URL_MAX)
                        return refuse(r, MHD_HTTP_URI_TOO_LONG,
                                      "the request target is longer than 4096 bytes", NULL);
                if (MHD_get_connection_values(conn, MHD_HEADER_KIND, NULL, NULL) > (int)TF_HTTP_HEADERS_MAX)
                        return refuse(r, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
                                      "the request has more than 64 header fields", NULL);
                if (MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, NULL, NULL) >
                    (int)TF_HTTP_QUERY_MAX)
                        return refuse(r, MHD_HTTP_BAD_REQUEST,
                                      "the request has more than 32 query parameters", NULL);
                char allow[128], why[256];
                unsigned st = route(r, allow, sizeof(allow), why, sizeof(why));
                if (s->opts.authorize) {
                        char awhy[256] = "permission denied";
                        unsigned a =
                                s->opts.authorize(r, st ? NULL : r->route, s->userdata, awhy, sizeof(awhy));
                        if (a) {
                                struct MHD_Response *ans = error_response(awhy);
                                if (a == MHD_HTTP_UNAUTHORIZED)
                                        MHD_add_response_header(ans, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                                                "Bearer realm=\"tfrun\"");
                                set_answer(r, a, ans);
                                return queue(r);
                        }
                }
                if (st)
                        return refuse(r, st, why, st == MHD_HTTP_METHOD_NOT_ALLOWED ? allow : NULL);
                const char *cl =
                        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
                if (cl) {
                        char *end;
                        errno = 0;
                        unsigned long long n = strtoull(cl, &end, 10);
                        if (errno || *end || n > s->opts.body_max) {
                                char m[96];
                                snprintf(m, sizeof(m), "the request body is larger than %zu bytes",
                                         s->opts.body_max);
                                return refuse(r, MHD_HTTP_CONTENT_TOO_LARGE, m, NULL);
                        }
                }
                return MHD_YES;
        }
        if (r->queued) {
                *upload_data_size = 0;
                return MHD_YES;
        }
        if (*upload_data_size) {
                /* A chunked body has no length to refuse up front: past the limit, the connection is closed
                 * (libmicrohttpd cannot answer in the middle of a body). */
                if (r->body_len + *upload_data_size > s->opts.body_max) {
                        tf_log("api: a request body (chunked) grew past %zu bytes: connection closed",
                               s->opts.body_max);
                        return MHD_NO;
                }
                r->body = tf_realloc(r->body, r->body_len + *upload_data_size + 1);
                memcpy(r->body + r->body_len, upload_data, *upload_data_size);
                r->body_len += *upload_data_size;
                r->body[r->body_len] = 0;
                *upload_data_size = 0;
                return MHD_YES;
        }
        if (!r->dispatched) {
                r->dispatched = true;
                int ret = r->route->handler(r, &r->resp, s->userdata);
                if (!r->answer && ret != TF_HTTP_PENDING)
                        set_answer(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                   error_response("the handler gave no answer"));
                if (!r->answer)
                        held_add(r);
        }
        if (r->answer)
                return queue(r);
        /* Pending: out of libmicrohttpd's sight until the answer resumes it. */
        suspend(r);
        return MHD_YES;
}

/* ---- the loop's side ---- */

static void update_timer(struct listener *li) {
        MHD_UNSIGNED_LONG_LONG ms;
        uint64_t at = UINT64_MAX;
        if (MHD_get_timeout(li->daemon, &ms) == MHD_YES)
                at = tf_loop_now(li->server->loop, CLOCK_MONOTONIC) + (uint64_t)ms * 1000;
        (void)tf_source_set_time(li->timer, at);
}

static unsigned n_connections(struct listener *li) {
        const union MHD_DaemonInfo *di =
                MHD_get_daemon_info(li->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        return di ? di->num_connections : 0;
}

static int on_ready(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        struct listener *li = userdata;
        unsigned before = n_connections(li);
        (void)MHD_run(li->daemon);
        /* At its connection limit libmicrohttpd takes the listening socket out of its epoll set and puts it
         * back only at the start of its next round: when a connection closed in this one, run that round
         * now, or a client waiting in the backlog waits for some other event. */
        if (before >= li->server->opts.connection_limit && n_connections(li) < before)
                (void)MHD_run(li->daemon);
        update_timer(li);
        return 0;
}

static void listener_free(struct listener *li) {
        if (!li)
                return;
        if (li->daemon) {
                /* libmicrohttpd refuses to stop with suspended connections: answer or cut every held one,
                 * telling its owner first, then give the daemon one round to send what it can. */
                while (li->held)
                        let_go(li->held, "the manager is shutting down");
                (void)MHD_run(li->daemon);
                MHD_stop_daemon(li->daemon);
        } else if (li->listen_fd >= 0)
                close(li->listen_fd);
        tf_source_remove(li->io);
        tf_source_remove(li->timer);
        if (li->path) {
                struct stat st;
                if (lstat(li->path, &st) == 0 && st.st_dev == li->dev && st.st_ino == li->ino)
                        (void)unlink(li->path);
                free(li->path);
        }
        free(li);
}

int tf_http_server_new(struct tf_loop *loop, const struct tf_http_route *routes, void *userdata,
                       const struct tf_http_options *opts, struct tf_http_server **ret, tf_error **err) {
        struct tf_http_server *s = tf_malloc0(sizeof(*s));
        s->loop = loop;
        s->routes = routes;
        s->userdata = userdata;
        if (opts)
                s->opts = *opts;
        if (!s->opts.connection_limit)
                s->opts.connection_limit = 64;
        if (!s->opts.connection_timeout_sec)
                s->opts.connection_timeout_sec = 30;
        if (!s->opts.body_max)
                s->opts.body_max = TF_HTTP_BODY_MAX;
        if (!s->opts.stream_max)
                s->opts.stream_max = TF_HTTP_STREAM_MAX;
        *ret = s;
        return 0;
}

void tf_http_server_free(struct tf_http_server *s) {
        if (!s)
                return;
        s->freeing = true;
        while (s->listeners) {
                struct listener *li = s->listeners;
                s->listeners = li->next;
                listener_free(li);
        }
        free(s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
        char buf[512];
        vsnprintf(buf, sizeof(buf), fmt, ap);
        buf[strcspn(buf, "\n")] = 0;
        tf_log("api: %s", buf);
}

/* Hand a bound, listening socket to a new daemon on the loop. Takes fd. */
static int start(struct tf_http_server *s, struct listener *li, int fd, const char *what, tf_error **err) {
        li->server = s;
        li->listen_fd = fd;
        li->daemon = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL,
                                      NULL, on_request, li, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
                                      li, /* first, or libmicrohttpd prints before it is set */
                                      MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd, MHD_OPTION_CONNECTION_LIMIT,
                                      (unsigned)s->opts.connection_limit, MHD_OPTION_CONNECTION_TIMEOUT,
                                      (unsigned)s->opts.connection_timeout_sec,
                                      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)TF_HTTP_HEADER_BYTES_MAX,
                                      MHD_OPTION_URI_LOG_CALLBACK, on_uri, li, MHD_OPTION_NOTIFY_COMPLETED,
                                      on_completed, li, MHD_OPTION_END);
        if (!li->daemon) {
                close(fd);
                li->listen_fd = -1;
                listener_free(li);
                return tf_error_set(err, EIO, "%s: libmicrohttpd would not start on it", what);
        }
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(li->daemon, MHD_DAEMON_INFO_EPOLL_FD);
        int r;
        if (!di || di->epoll_fd < 0)
                r = tf_error_set(err, EIO, "%s: libmicrohttpd has no epoll fd", what);
        else
                r = tf_loop_add_io(s->loop, di->epoll_fd, EPOLLIN, on_ready, li, &li->io, err);
        if (r == 0)
                r = tf_loop_add_timer(s->loop, CLOCK_MONOTONIC, UINT64_MAX, on_ready, li, &li->timer, err);
        if (r < 0) {
                listener_free(li);
                return r;
        }
        update_timer(li);
        li->next = s->listeners;
        s->listeners = li;
        return 0;
}

/* The socket's directory: ours alone. Missing, it is created 0700 (its parent must exist). */
static int check_dir(const char *path, tf_error **err) {
        _cleanup_free_ char *dir = tf_strdup(path);
        char *slash = strrchr(dir, '/');
        if (!slash)
                return tf_error_set(err, EINVAL, "socket path '%s' must be absolute", path);
        if (slash == dir)
                slash[1] = 0;
        else
                *slash = 0;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return tf_error_setc(err, errno, "create the socket's directory '%s'", dir);
        struct stat st;
        if (stat(dir, &st) < 0)
                return tf_error_setc(err, errno, "socket directory '%s'", dir);
        if (!S_ISDIR(st.st_mode))
                return tf_error_set(err, ENOTDIR, "socket directory '%s' is not a directory", dir);
        if (st.st_uid != geteuid())
                return tf_error_set(
                        err, EPERM,
                        "socket directory '%s' belongs to uid %u, not to us (uid %u): refusing to "
                        "listen there",
                        dir, (unsigned)st.st_uid, (unsigned)geteuid());
        if (st.st_mode & (S_IWGRP | S_IWOTH))
                return tf_error_set(
                        err, EPERM,
                        "socket directory '%s' is writable by group or others (mode %04o): refusing "
                        "to listen there; chmod go-w it",
                        dir, (unsigned)(st.st_mode & 07777));
        return 0;
}

/* Something at path already: a socket nobody answers on is a dead manager's and goes; a live one is
 * another manager's; anything else is not ours to remove. */
static int clear_stale(const char *path, const struct sockaddr_un *sa, tf_error **err) {
        struct stat st;
        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : tf_error_setc(err, errno, "socket path '%s'", path);
        if (!S_ISSOCK(st.st_mode))
                return tf_error_set(err, EEXIST, "'%s' exists and is not a socket: refusing to replace it",
                                    path);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return tf_error_setc(err, errno, "socket");
        /* Non-blocking: a live listener with a full backlog answers EAGAIN, never a wait. */
        if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 || errno == EAGAIN ||
            errno == EINPROGRESS)
                return tf_error_set(err, EADDRINUSE, "another manager is listening at %s", path);
        if (errno != ECONNREFUSED)
                return tf_error_setc(err, errno, "probe the socket at '%s'", path);
        if (unlink(path) < 0 && errno != ENOENT)
                return tf_error_setc(err, errno, "remove the stale socket '%s'", path);
        return 0;
}

int tf_http_listen_unix(struct tf_http_server *s, const char *path, tf_error **err) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof(sa.sun_path))
                return tf_error_set(err, ENAMETOOLONG, "socket path '%s' is longer than %zu bytes", path,
                                    sizeof(sa.sun_path) - 1);
        memcpy(sa.sun_path, path, strlen(path) + 1);
        int r = check_dir(path, err);
        if (r < 0)
                return r;
        r = clear_stale(path, &sa, err);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return tf_error_setc(err, errno, "socket");
        /* Mode 0600 from the start: no window in which another user could connect. The loop has no threads,
         * so the process-wide umask is ours for these two calls. */
        mode_t old = umask(0177);
        r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        int e = errno;
        umask(old);
        if (r < 0)
                return tf_error_setc(err, e, "bind '%s'", path);
        struct listener *li = tf_malloc0(sizeof(*li));
        li->listen_fd = -1;
        li->is_unix = true;
        li->path = tf_strdup(path);
        struct stat st;
        if (stat(path, &st) == 0) {
                li->dev = st.st_dev;
                li->ino = st.st_ino;
        }
        if (listen(fd, 64) < 0) {
                r = tf_error_setc(err, errno, "listen on '%s'", path);
                listener_free(li);
                return r;
        }
        return start(s, li, TAKE_FD(fd), path, err);
}

int tf_http_listen_tcp(struct tf_http_server *s, const char *address, uint16_t port, uint16_t *ret_port,
                       tf_error **err) {
        struct sockaddr_storage ss = {};
        socklen_t len;
        struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        if (inet_pton(AF_INET, address, &in4->sin_addr) == 1) {
                in4->sin_family = AF_INET;
                in4->sin_port = htons(port);
                len = sizeof(*in4);
        } else if (inet_pton(AF_INET6, address, &in6->sin6_addr) == 1) {
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons(port);
                len = sizeof(*in6);
        } else
                return tf_error_set(err, EINVAL, "listen address '%s' is not an IPv4 or IPv6 address",
                                    address);
        _cleanup_close_ int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return tf_error_setc(err, errno, "socket");
        int one = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&ss, len) < 0)
                return tf_error_setc(err, errno, "bind %s port %u", address, (unsigned)port);
        if (listen(fd, 64) < 0)
                return tf_error_setc(err, errno, "listen on %s port %u", address, (unsigned)port);
        if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
                return tf_error_setc(err, errno, "getsockname");
        uint16_t bound = ntohs(ss.ss_family == AF_INET ? in4->sin_port : in6->sin6_port);
        struct listener *li = tf_malloc0(sizeof(*li));
        li->listen_fd = -1;
        char what[96];
        snprintf(what, sizeof(what), "%s port %u", address, (unsigned)bound);
        int r = start(s, li, TAKE_FD(fd), what, err);
        if (r == 0 && ret_port)
                *ret_port = bound;
        return r;
}
