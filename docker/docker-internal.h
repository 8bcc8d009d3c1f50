/* SPDX-License-Identifier: MIT */
#pragma once

/* Internals of docker/: the client object, the transport, and the pure request/response helpers that a
 * later multi-socket transport will share with the blocking one. */

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "docker/docker.h"

struct tf_docker {
        char *socket_path;
        CURL *curl; /* reused between calls: keeps one connection to the engine open */
        uint64_t timeout_usec;
        bool connected;
        int api_major, api_minor;
        char api[16]; /* negotiated, "1.41" */
        char *engine_version;
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
