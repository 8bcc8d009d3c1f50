/* SPDX-License-Identifier: MIT */
#pragma once

/* Internals of docker/: the client object, the two transports (blocking: one reused easy handle, client.c;
 * asynchronous: easy handles in one multi handle driven by the caller's event loop, async.c), and the pure
 * request/response helpers both share. */

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/io.h"
#include "docker/docker.h"

struct tf_docker {
        char *socket_path;
        CURL *curl; /* reused between calls: keeps one connection to the engine open */
        uint64_t timeout_usec;
        bool connected;
        int api_major, api_minor;
        char api[16]; /* negotiated, "1.41" */
        char *engine_version;
        /* The asynchronous transport (async.c): created by tf_docker_watch(). */
        CURLM *multi;
        struct tf_docker_watch watch;
        struct tf_docker_call *calls; /* in flight */
        bool dispatching;             /* inside curl_multi_socket_action: completions are queued */
        uint64_t timer_at;            /* libcurl's timer as last set through watch.timer (0: none) */
        bool kicked;                  /* watch.timer moved to now for a completion of our own */
};

/* Streaming consumer of a 2xx response body; return 0 to go on, -errno to abort the transfer. */
typedef int (*docker_data_fn)(const char *buf, size_t len, void *userdata);

struct docker_req {
        const char *call;       /* for messages: "create container" */
        const char *method;     /* "GET", "POST", "DELETE" */
        const char *path;       /* unversioned, with query: "/containers/create?name=x" */
        const char *body;       /* JSON, or NULL */
        bool unversioned;       /* /_ping and /version before negotiation */
        uint64_t timeout_usec;  /* 0: none */
        docker_data_fn on_data; /* NULL: collect the body (bounded by TF_DOCKER_JSON_MAX) */
        void *userdata;
};

struct docker_resp {
        long status;
        char *body; /* NUL-terminated, owned; error bodies are always collected here */
        size_t len;
        char api_version[16]; /* the Api-Version header, if any */
        int cb_error;         /* what on_data returned when it aborted */
};
void docker_resp_done(struct docker_resp *r);
/* One response header line (libcurl's header callback): when it is Api-Version, its value into
 * r->api_version. Returns whether it was. */
bool docker_resp_header_api_version(struct docker_resp *r, const char *buf, size_t len);

/* Ensure connected, then run the request. Transport failures give -errno with "<call>: ..."; an HTTP
 * status >= 400 is NOT an error here (the caller decides; docker_engine_error() makes the message). */
int docker_http(tf_docker *d, const struct docker_req *req, struct docker_resp *resp, tf_error **err);
/* docker_http() plus: status >= 400 becomes docker_engine_error(). */
int docker_call(tf_docker *d, const struct docker_req *req, struct docker_resp *resp, tf_error **err);

/* "<call>: engine said <status>: <message>" with the "message" of a JSON error body (or the raw body),
 * and -errno mapped from the status. */
int docker_engine_error(const char *call, long status, const char *body, size_t len, tf_error **err);
int docker_status_errno(long status);

/* "1.41" -> 1, 41. -EINVAL when malformed. */
int docker_api_parse(const char *s, int *ret_major, int *ret_minor);
bool docker_api_at_least(const tf_docker *d, int major, int minor);

/* URL-escape a query value (caller frees). */
char *docker_escape(const char *s);

/* Easy handle set up for the engine: unix socket, no signals, connect timeout. */
CURL *docker_easy_new(const tf_docker *d);
/* Versioned URL of a path (caller frees). */
char *docker_url(const tf_docker *d, const char *path, bool unversioned);
/* The message of a transport failure: "connect to the Docker engine at unix:///x: ..." */
int docker_curl_error(const tf_docker *d, CURL *c, CURLcode cc, const char *call, const char *errbuf,
                      tf_error **err);

/* Split a (validated) reference into what POST /images/create wants: fromImage and tag (a tag, or the
 * digest "sha256:..."; "latest" when neither is given). */
int docker_ref_split(const char *ref, char **ret_image, char **ret_tag);

/* Parse one line of the pull progress stream. Returns 1 with *ret_error (caller frees) when the line
 * reports an error, 0 otherwise (p filled, pointing into j). */
int docker_pull_parse(json_t *j, struct tf_docker_pull_progress *p, char **ret_error);

/* GET /version's answer (after /_ping gave ping_api, "" if none): negotiate and mark d connected. */
int docker_version_apply(tf_docker *d, const char *ping_api, const char *body, size_t len, tf_error **err);

/* ---- requests built and answers parsed, shared by both transports (container.c) ---- */
char *docker_cpath(const char *id, const char *suffix); /* "/containers/<escaped id><suffix>" */
char *docker_list_path(const char *label);
char *docker_kill_path(const char *id, int sig, char **ret_call);
char *docker_oom_event_path(const char *id, int64_t since, int64_t until);
/* A refusal of a spec key as *err (returns -code): "FILE:LINE:COL: " + message when the spec knows where the
 * key was; without a position, "FILE: " (or "spec: ") + message with name_spec, else the message alone. */
__attribute__((format(printf, 6, 7))) int docker_refuse(const struct tf_spec *s, struct tf_pos pos,
                                                        bool name_spec, tf_error **err, int code,
                                                        const char *fmt, ...);
int docker_parse_create(json_t *j, char **ret_id, char ***ret_warnings, tf_error **err);
int docker_parse_wait(json_t *j, int *ret_status, tf_error **err);
int docker_parse_inspect(json_t *j, struct tf_docker_state *ret, tf_error **err);
int docker_parse_list(json_t *j, const char *key, char ***ret_ids, char ***ret_values, tf_error **err);
bool docker_parse_oom_events(const char *body);
/* kill's answer: 409 "is not running" is success. */
int docker_kill_status(const char *call, const struct docker_resp *resp, tf_error **err);
/* POST /images/create?fromImage=&tag= for a (checked) reference. */
char *docker_pull_path(const char *ref);

/* The pull progress stream, line by line (image.c). */
struct docker_pull {
        char *line;
        size_t len;
        char *error;
        tf_docker_pull_cb cb;
        void *userdata;
};
int docker_pull_data(const char *buf, size_t len, void *userdata);
/* After the stream: the last line, and the error the stream reported (or the transfer's, r < 0). */
int docker_pull_finish(struct docker_pull *p, const char *call, int r, tf_error **err);

/* ---- attached output on its way to tfrun's fds without blocking (output.c) ---- */
struct docker_out_chunk;
struct docker_out {
        struct tf_out_dest dest[3]; /* by stream: 1 stdout, 2 stderr */
        struct docker_out_chunk *head, *tail; /* one queue for both streams, in the engine's order */
        size_t queued[3];
        uint64_t written[3], dropped[3];
        bool discard; /* after docker_out_drop(): everything pushed is counted as dropped */
};
/* Open the destinations (see output.c for why each kind is opened as it is). out_fd/err_fd -1: discard. */
void docker_out_init(struct docker_out *o, int out_fd, int err_fd);
void docker_out_done(struct docker_out *o);
/* Payload of stream 1 or 2 (0 is ignored): written at once as far as the fd takes it, the rest queued.
 * -errno with "attach stream: write stdout: ..." when a write fails. */
int docker_out_push(struct docker_out *o, int stream, const uint8_t *p, size_t n, tf_error **err);
/* Write what is queued, in order, as far as the fds take it. */
int docker_out_flush(struct docker_out *o, tf_error **err);
/* The fd the head of the queue waits for (-1: nothing queued). */
int docker_out_blocked_fd(const struct docker_out *o);
size_t docker_out_queued(const struct docker_out *o);
/* Give up on the reader: the queue is dropped and what is pushed from now on too, counted in dropped[]. */
void docker_out_drop(struct docker_out *o);
