/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The control API's HTTP server, served inside tfrun's one event loop (runner/loop.h), no threads.
 *
 * A server owns a route table and any number of listeners: a unix socket (the control API: only the
 * manager's uid and root get in, by SO_PEERCRED) and, for the network API to come, a TCP address. Requests
 * are routed by {method, "/api/v1/services/{name}/trigger"} to handlers; path segments are URL-decoded and
 * checked before any handler sees them. Answers are JSON (jansson), errors {"error": "..."}.
 *
 * A handler answers at once (tf_http_respond_json(), tf_http_respond_error()), or later from the loop:
 * it returns TF_HTTP_PENDING, keeps `resp` and answers through it when the result is there (a trigger
 * that waits for its run). A streamed answer (tf_http_respond_stream(), for `logs -f`) is fed with
 * tf_http_stream_write() as lines come and closed with tf_http_stream_end().
 *
 * Every input is bounded: URL length, header count and size, body size, connections, idle time per
 * connection (a client that sends half a request and stalls is dropped after the timeout and never holds
 * up the loop or other clients), and a stream's buffer (a reader that does not keep up is cut off).
 */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "runner/loop.h"

#define TF_HTTP_URL_MAX 4096u   /* request target (path and query), bytes; 414 beyond */
#define TF_HTTP_HEADERS_MAX 64u /* header fields; 431 beyond */
#define TF_HTTP_HEADER_BYTES_MAX                                                                            \
        (32u * 1024)                     /* request line and headers together: libmicrohttpd's buffer       \
                                          */
#define TF_HTTP_QUERY_MAX 32u            /* query parameters; 400 beyond */
#define TF_HTTP_SEGMENTS_MAX 16u         /* path segments; 404 beyond (no route is that deep) */
#define TF_HTTP_BODY_MAX (64u * 1024)    /* default request body limit; 413 beyond */
#define TF_HTTP_STREAM_MAX (256u * 1024) /* default bytes a stream buffers for a slow reader */

struct tf_http_server;
struct tf_http_request;
struct tf_http_response;
struct tf_http_stream;

/* A handler's return: TF_HTTP_DONE when it answered through resp (answering nothing is a 500), or
 * TF_HTTP_PENDING when it will answer later. */
enum { TF_HTTP_DONE = 0, TF_HTTP_PENDING = 1 };

typedef int (*tf_http_handler)(struct tf_http_request *req, struct tf_http_response *resp, void *userdata);

/* One route: method ("GET", "POST", ...) and a pattern of '/'-separated segments, each literal or a
 * parameter "{name}" that matches one non-empty segment; the pattern "/" matches the path "/" alone. A table
 * ends with an entry whose method is NULL. perm is the authorize callback's (what the route needs: a role);
 * the server does not read it. */
struct tf_http_route {
        const char *method;
        const char *pattern;
        tf_http_handler handler;
        unsigned perm;
};

/* Called for every request on every listener, after its path was decoded, checked and routed and before
 * its body is read: route is NULL when the path did not route (its 400/404/405 is answered only if this
 * lets it through, so that a caller without credentials learns nothing of the routes). Returns 0 to go on,
 * or the status to refuse with (401 gets `WWW-Authenticate: Bearer`) and its message in why. It may attach
 * what it learnt of the caller with tf_http_request_set_auth(). */
typedef unsigned (*tf_http_authorize)(struct tf_http_request *req, const struct tf_http_route *route,
                                      void *userdata, char *why, size_t why_size);

/* Zero fields take the defaults. */
struct tf_http_options {
        unsigned connection_limit;       /* per listener; default 64 */
        unsigned connection_timeout_sec; /* idle time before a connection is dropped; default 30 */
        size_t body_max;                 /* default TF_HTTP_BODY_MAX */
        size_t stream_max;               /* default TF_HTTP_STREAM_MAX */
        tf_http_authorize authorize;     /* NULL: none (every caller the listener lets in may call) */
        const char *const *headers;      /* NULL, or {name, value, ..., NULL}: added to every answer */
};

/* routes and userdata are borrowed and must outlive the server; userdata goes to every handler. opts may
 * be NULL. */
int tf_http_server_new(struct tf_loop *loop, const struct tf_http_route *routes, void *userdata,
                       const struct tf_http_options *opts, struct tf_http_server **ret, tf_error **err);
/* NULL-safe. Answers pending requests with 503 and cuts streams (their owners' gone callbacks run first),
 * closes every listener and removes the unix sockets it created. */
void tf_http_server_free(struct tf_http_server *s);

/* Listen on a unix socket at path, created safely: its directory is created mode 0700 if missing and must
 * be owned by us and writable by nobody else; a socket already at path is replaced only if nobody answers
 * on it (-EADDRINUSE "another manager is listening at PATH" otherwise), anything else there is refused; the
 * new socket is mode 0600. Callers other than our uid and root are refused with 403 (SO_PEERCRED) and one
 * log line naming their uid and pid. */
int tf_http_listen_unix(struct tf_http_server *s, const char *path, tf_error **err);
/* Listen on TCP at address (an IPv4 or IPv6 literal) and port (0: any free one; ret_port, if non-NULL,
 * gets the one bound). There is no caller check on TCP but the authorize callback (the manager's bearer
 * tokens, manager/auth.c): a server without one should not listen on TCP. */
int tf_http_listen_tcp(struct tf_http_server *s, const char *address, uint16_t port, uint16_t *ret_port,
                       tf_error **err);

/* The checks handlers apply to their parameters. A service name is spec/'s rule:
 * [a-z0-9][a-z0-9_.-]{0,62}. A run id is the same alphabet, up to 128 bytes ("SERVICE-PID-N"). */
bool tf_http_valid_name(const char *s);
bool tf_http_valid_run_id(const char *s);

/* The request, valid until it is answered (for a pending one: until the answer, or its gone callback). */
const char *tf_http_request_method(const struct tf_http_request *req);
const char *tf_http_request_path(const struct tf_http_request *req); /* as sent, without the query */
/* A "{name}" segment of the route, decoded; NULL when the route has no such parameter. */
const char *tf_http_request_param(const struct tf_http_request *req, const char *name);
/* A query parameter, decoded; NULL if absent, "" for "?key" without a value. */
const char *tf_http_request_query(const struct tf_http_request *req, const char *key);
const char *tf_http_request_header(const struct tf_http_request *req, const char *name);
const char *tf_http_request_body(const struct tf_http_request *req, size_t *ret_len); /* NUL-terminated */
/* The body as a JSON object; an empty body gives an empty object. -EINVAL with the parser's message. */
int tf_http_request_json(const struct tf_http_request *req, json_t **ret, tf_error **err);
/* The request came in on a unix socket (else on TCP). */
bool tf_http_request_is_unix(const struct tf_http_request *req);
/* The caller's address on TCP ("127.0.0.1:PORT", "[::1]:PORT"); NULL on a unix socket. */
const char *tf_http_request_peer_address(struct tf_http_request *req);
/* The authorize callback's note on the caller (borrowed; NULL before it set one). */
void tf_http_request_set_auth(struct tf_http_request *req, const void *auth);
const void *tf_http_request_auth(const struct tf_http_request *req);
/* The caller's credentials on a unix socket (false on TCP). */
bool tf_http_request_peer(const struct tf_http_request *req, uid_t *ret_uid, pid_t *ret_pid);

/* Answer with body (taken; NULL: an empty object) as application/json. Once per request; a second
 * answer is ignored. From a pending request, the answer goes out from the loop; resp is then gone. */
void tf_http_respond_json(struct tf_http_response *resp, unsigned status, json_t *body);
void tf_http_respond_error(struct tf_http_response *resp, unsigned status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Answer with body[len] (taken: malloc'ed, freed by the server) as content_type. */
void tf_http_respond_text(struct tf_http_response *resp, unsigned status, const char *content_type,
                          char *body, size_t len);
/* Answer with data[len], which outlives the server (a file compiled in), as content_type. */
void tf_http_respond_static(struct tf_http_response *resp, unsigned status, const char *content_type,
                            const void *data, size_t len);
/* A streamed answer (chunked), of content_type (NULL: application/x-ndjson). The stream is the caller's
 * handle until tf_http_stream_end(), a failed tf_http_stream_write(), or the gone callback. */
struct tf_http_stream *tf_http_respond_stream(struct tf_http_response *resp, unsigned status,
                                              const char *content_type);
/* Called once, from the loop, when a pending request or an open stream goes away before its owner let go
 * (the client left, the connection was cut, the server is freed); resp and its stream are invalid after it.
 * Its callback must not call back into the server. */
void tf_http_response_on_gone(struct tf_http_response *resp, void (*cb)(void *userdata), void *userdata);

/* Queue buf[n] on the stream; never blocks. -ENOBUFS when the reader let more than stream_max bytes pile
 * up: the stream is cut off (the connection closes, the reader sees a truncated chunked body) and the
 * handle is invalid after the return. */
int tf_http_stream_write(struct tf_http_stream *st, const void *buf, size_t n);
/* The end of the stream, once what is queued has gone out. The handle is invalid after the call. */
void tf_http_stream_end(struct tf_http_stream *st);
