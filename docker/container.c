/* SPDX-License-Identifier: MIT */
/* Container lifecycle: create, attach, start, wait, stop/kill, inspect, remove, list. */

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/parse.h"
#include "base/strutil.h"
#include "base/timeutil.h"
#include "docker/docker-internal.h"

/* Ids and names are [a-zA-Z0-9][a-zA-Z0-9_.-]*; escaping keeps anything else from bending the path. */
char *docker_cpath(const char *id, const char *suffix) {
        _cleanup_free_ char *e = docker_escape(id);
        return tf_asprintf("/containers/%s%s", e, suffix);
}

/* Run req and parse its answer body; *ret is NULL when the body is empty or not JSON (callers check the
 * shape they need and say what was missing). */
static int call_json(tf_docker *d, const struct docker_req *req, json_t **ret, tf_error **err) {
        struct docker_resp resp;
        int r = docker_call(d, req, &resp, err);
        if (r < 0)
                return r;
        *ret = resp.len ? json_loadb(resp.body, resp.len, 0, NULL) : NULL;
        docker_resp_done(&resp);
        return 0;
}

static void signame(int sig, char *buf, size_t len) {
        const char *n = tf_signal_name(sig);
        if (n)
                snprintf(buf, len, "%s", n);
        else
                snprintf(buf, len, "%d", sig);
}

int tf_docker_container_create(tf_docker *d, const char *name, json_t *body, char **ret_id,
                               char ***ret_warnings, tf_error **err) {
        _cleanup_free_ char *text = json_dumps(body, JSON_COMPACT);
        if (!text)
                tf_oom();
        _cleanup_free_ char *path = NULL;
        if (name) {
                _cleanup_free_ char *e = docker_escape(name);
                path = tf_asprintf("/containers/create?name=%s", e);
        } else
                path = tf_strdup("/containers/create");
        json_t *j = NULL;
        int r = call_json(d,
                          &(struct docker_req){
                                  .call = "create container",
                                  .method = "POST",
                                  .path = path,
                                  .body = text,
                                  .timeout_usec = d->timeout_usec
                          },
                          &j, err);
        if (r < 0)
                return r;
        _cleanup_strv_free_ char **w = NULL;
        r = docker_parse_create(j, ret_id, &w, err);
        json_decref(j);
        if (r >= 0 && ret_warnings)
                *ret_warnings = TAKE_PTR(w);
        return r;
}

int docker_parse_create(json_t *j, char **ret_id, char ***ret_warnings, tf_error **err) {
        const char *id = json_string_value(json_object_get(j, "Id"));
        if (!id)
                return tf_error_set(err, EPROTO, "create container: the engine's answer has no Id");
        char **w = NULL;
        json_t *ws = json_object_get(j, "Warnings"), *v;
        size_t i;
        json_array_foreach(ws, i, v) if (json_string_value(v) && *json_string_value(v))
                tf_strv_push(&w, json_string_value(v));
        *ret_warnings = w;
        *ret_id = tf_strdup(id);
        return 0;
}

/* A call whose answer body does not matter: status >= 400 is the only thing read. */
static int call_discard(tf_docker *d, const char *call, const char *method, const char *path, tf_error **err) {
        struct docker_resp resp;
        int r = docker_call(d,
                            &(struct docker_req){
                                    .call = call, .method = method, .path = path, .timeout_usec = d->timeout_usec},
                            &resp, err);
        if (r < 0)
                return r;
        docker_resp_done(&resp);
        return 0;
}

int tf_docker_container_start(tf_docker *d, const char *id, tf_error **err) {
        _cleanup_free_ char *path = docker_cpath(id, "/start");
        return call_discard(d, "start container", "POST", path, err);
}

/* ---- attach: its own easy handle in a multi handle, so that start can go out while it is open ----
 *
 * The transfer is driven only through libcurl's multi-socket interface (curl_multi_socket_action): the
 * socket and timer callbacks keep a small table of what libcurl wants to wait for, and the blocking paths
 * (begin, finish) poll() that table. This is the blocking attach, for tests and tools; an event loop uses
 * tf_docker_attach_async() (async.c), a transfer in the client's one multi handle.
 */

#define ATTACH_MAX_SOCKETS 8

struct attach_sock {
        int fd;
        int what; /* TF_DOCKER_WATCH_* */
};

struct tf_docker_attach {
        tf_docker *d; /* borrowed */
        CURL *easy;
        CURLM *multi;
        struct curl_slist *hdrs;
        char *url;
        char *call;
        char errbuf[CURL_ERROR_SIZE];
        struct tf_docker_demux demux;
        bool headers_done, done;
        CURLcode result;
        long status;
        char *errbody;
        size_t errlen;
        tf_error *feed_err;
        struct attach_sock socks[ATTACH_MAX_SOCKETS];
        size_t n_socks;
        bool timer_set;
        uint64_t timer_at; /* CLOCK_MONOTONIC usec */
};

static int curl_what(int what) {
        switch (what) {
        case CURL_POLL_IN:
                return TF_DOCKER_WATCH_IN;
        case CURL_POLL_OUT:
                return TF_DOCKER_WATCH_OUT;
        case CURL_POLL_INOUT:
                return TF_DOCKER_WATCH_IN | TF_DOCKER_WATCH_OUT;
        default:
                return 0;
        }
}

static int attach_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
        struct tf_docker_attach *a = userp;
        int w = curl_what(what);
        size_t i;
        for (i = 0; i < a->n_socks; i++)
                if (a->socks[i].fd == fd)
                        break;
        if (w == 0) {
                if (i < a->n_socks)
                        a->socks[i] = a->socks[--a->n_socks];
        } else if (i < a->n_socks)
                a->socks[i].what = w;
        else if (a->n_socks < ATTACH_MAX_SOCKETS)
                a->socks[a->n_socks++] = (struct attach_sock){.fd = fd, .what = w};
        else
                return -1; /* one transfer on one connection: cannot happen */
        return 0;
}

static int attach_timer_cb(CURLM *multi, long timeout_ms, void *userp) {
        struct tf_docker_attach *a = userp;
        a->timer_set = timeout_ms >= 0;
        a->timer_at = a->timer_set ? tf_now(CLOCK_MONOTONIC) + (uint64_t)timeout_ms * 1000 : 0;
        return 0;
}

static size_t attach_header(char *buf, size_t size, size_t n, void *userdata) {
        struct tf_docker_attach *a = userdata;
        size_t len = size * n;
        if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
                /* A new status line (after a 100 Continue, say): headers start over. */
                a->headers_done = false;
                int code = 0;
                const char *sp = memchr(buf, ' ', len);
                if (sp && sscanf(sp, " %d", &code) == 1)
                        a->status = code;
        } else if ((len == 2 && buf[0] == '\r') || (len == 1 && buf[0] == '\n')) {
                if (a->status >= 200)
                        a->headers_done = true;
        }
        return len;
}

static size_t attach_write(char *buf, size_t size, size_t n, void *userdata) {
        struct tf_docker_attach *a = userdata;
        size_t len = size * n;
        if (a->status != 200) {
                if (a->errlen + len > 64 * 1024)
                        return len; /* enough of an error text */
                a->errbody = tf_realloc(a->errbody, a->errlen + len + 1);
                memcpy(a->errbody + a->errlen, buf, len);
                a->errlen += len;
                a->errbody[a->errlen] = '\0';
                return len;
        }
        if (tf_docker_demux_feed(&a->demux, buf, len, &a->feed_err) < 0)
                return CURL_WRITEFUNC_ERROR;
        return len;
}

/* One socket action (fd, or CURL_SOCKET_TIMEOUT), then collect the end of the transfer. */
static int attach_action(struct tf_docker_attach *a, curl_socket_t fd, int ev_bitmask) {
        int running = 0;
        CURLMcode mc = curl_multi_socket_action(a->multi, fd, ev_bitmask, &running);
        if (mc != CURLM_OK)
                return -EIO;
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(a->multi, &left)))
                if (msg->msg == CURLMSG_DONE) {
                        a->done = true;
                        a->result = msg->data.result;
                }
        return 0;
}

/* Drive the transfer until the headers are in (until_headers) or it is over, or the deadline passes. */
static int attach_pump(struct tf_docker_attach *a, uint64_t deadline, bool until_headers) {
        for (;;) {
                if (a->done || (until_headers && a->headers_done))
                        return 0;
                uint64_t now = tf_now(CLOCK_MONOTONIC);
                if (a->timer_set && a->timer_at <= now) {
                        a->timer_set = false;
                        if (attach_action(a, CURL_SOCKET_TIMEOUT, 0) < 0)
                                return -EIO;
                        continue;
                }
                if (deadline && now >= deadline)
                        return -ETIMEDOUT;
                uint64_t until = deadline;
                if (a->timer_set && (!until || a->timer_at < until))
                        until = a->timer_at;
                int wait_ms = until ? (int)((until - now + 999) / 1000) : -1;
                struct pollfd pfd[ATTACH_MAX_SOCKETS];
                size_t n = a->n_socks;
                for (size_t i = 0; i < n; i++)
                        pfd[i] = (struct pollfd){
                                .fd = a->socks[i].fd,
                                .events = (short)(((a->socks[i].what & TF_DOCKER_WATCH_IN) ? POLLIN : 0) |
                                                  ((a->socks[i].what & TF_DOCKER_WATCH_OUT) ? POLLOUT : 0)),
                        };
                int k = poll(pfd, n, wait_ms);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                for (size_t i = 0; i < n && k > 0; i++) {
                        if (!pfd[i].revents)
                                continue;
                        int ev = ((pfd[i].revents & POLLIN) ? CURL_CSELECT_IN : 0) |
                                 ((pfd[i].revents & POLLOUT) ? CURL_CSELECT_OUT : 0) |
                                 ((pfd[i].revents & (POLLERR | POLLHUP)) ? CURL_CSELECT_ERR : 0);
                        if (attach_action(a, pfd[i].fd, ev) < 0)
                                return -EIO;
                }
        }
}

static int attach_result(struct tf_docker_attach *a, tf_error **err) {
        if (a->feed_err) {
                int code = a->feed_err->code;
                tf_error_set(err, code, "%s: %s", a->call, a->feed_err->msg);
                return -code;
        }
        if (a->result != CURLE_OK)
                return docker_curl_error(a->d, a->easy, a->result, a->call, a->errbuf, err);
        if (a->status != 200)
                return docker_engine_error(a->call, a->status, a->errbody, a->errlen, err);
        return 0;
}

int tf_docker_attach_begin(tf_docker *d, const char *id, int out_fd, int err_fd, tf_docker_attach **ret,
                           tf_error **err) {
        int r = tf_docker_connect(d, err);
        if (r < 0)
                return tf_error_prefix(err, "attach to container");
        _cleanup_(tf_docker_attach_freep) tf_docker_attach *a = tf_malloc0(sizeof(*a));
        a->d = d;
        a->call = tf_strdup("attach to container");
        tf_docker_demux_init(&a->demux, out_fd, err_fd);
        _cleanup_free_ char *path = docker_cpath(id, "/attach?stream=1&stdout=1&stderr=1");
        a->url = docker_url(d, path, false);
        a->easy = docker_easy_new(d);
        a->multi = curl_multi_init();
        if (!a->multi)
                tf_oom();
        curl_multi_setopt(a->multi, CURLMOPT_SOCKETFUNCTION, attach_socket_cb);
        curl_multi_setopt(a->multi, CURLMOPT_SOCKETDATA, a);
        curl_multi_setopt(a->multi, CURLMOPT_TIMERFUNCTION, attach_timer_cb);
        curl_multi_setopt(a->multi, CURLMOPT_TIMERDATA, a);
        /* No "Upgrade: tcp": the engine then answers a plain 200 and streams until the container's
         * output closes, which libcurl reads as a body delimited by the end of the connection. */
        a->hdrs = curl_slist_append(a->hdrs, "Expect:");
        curl_easy_setopt(a->easy, CURLOPT_URL, a->url);
        curl_easy_setopt(a->easy, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(a->easy, CURLOPT_POSTFIELDSIZE, 0L);
        curl_easy_setopt(a->easy, CURLOPT_HTTPHEADER, a->hdrs);
        curl_easy_setopt(a->easy, CURLOPT_ERRORBUFFER, a->errbuf);
        curl_easy_setopt(a->easy, CURLOPT_HEADERFUNCTION, attach_header);
        curl_easy_setopt(a->easy, CURLOPT_HEADERDATA, a);
        curl_easy_setopt(a->easy, CURLOPT_WRITEFUNCTION, attach_write);
        curl_easy_setopt(a->easy, CURLOPT_WRITEDATA, a);
        curl_multi_add_handle(a->multi, a->easy);

        r = attach_pump(a, tf_now(CLOCK_MONOTONIC) + d->timeout_usec, true);
        if (r == -ETIMEDOUT)
                return tf_error_set(err, ETIMEDOUT,
                                    "attach to container: no answer from the engine in time");
        if (r < 0)
                return tf_error_set(err, EIO, "attach to container: libcurl multi interface failed");
        if (a->status != 200 && !a->done) {
                /* An error answer is short: read it to the end for the engine's message. */
                r = attach_pump(a, tf_now(CLOCK_MONOTONIC) + d->timeout_usec, false);
                if (r < 0)
                        return tf_error_set(err, -r, "attach to container: reading the engine's error");
        }
        if (a->done || a->status != 200) {
                r = attach_result(a, err);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(a);
        return 0;
}

int tf_docker_attach_finish(tf_docker_attach *a, uint64_t timeout_usec, tf_error **err) {
        int r = attach_pump(a, timeout_usec ? tf_now(CLOCK_MONOTONIC) + timeout_usec : 0, false);
        if (r == -ETIMEDOUT)
                return tf_error_set(err, ETIMEDOUT, "attach to container: the output did not end in time");
        if (r < 0)
                return tf_error_set(err, EIO, "attach to container: libcurl multi interface failed");
        return tf_docker_attach_result(a, err);
}

int tf_docker_attach_result(tf_docker_attach *a, tf_error **err) {
        if (!a->done)
                return tf_error_set(err, EBUSY, "attach to container: the stream has not ended yet");
        int r = attach_result(a, err);
        if (r < 0)
                return r;
        r = tf_docker_demux_end(&a->demux, err);
        if (r < 0)
                return tf_error_prefix(err, "attach to container");
        return 0;
}

bool tf_docker_attach_done(const tf_docker_attach *a) {
        return a->done;
}

void tf_docker_attach_bytes(const tf_docker_attach *a, uint64_t *ret_out, uint64_t *ret_err) {
        if (ret_out)
                *ret_out = a->demux.bytes[1];
        if (ret_err)
                *ret_err = a->demux.bytes[2];
}

tf_docker_attach *tf_docker_attach_free(tf_docker_attach *a) {
        if (!a)
                return NULL;
        if (a->multi && a->easy)
                curl_multi_remove_handle(a->multi, a->easy);
        if (a->easy)
                curl_easy_cleanup(a->easy);
        if (a->multi)
                curl_multi_cleanup(a->multi);
        curl_slist_free_all(a->hdrs);
        free(a->url);
        free(a->call);
        free(a->errbody);
        tf_error_free(a->feed_err);
        free(a);
        return NULL;
}

/* ---- wait, kill, stop ---- */

int tf_docker_container_wait(tf_docker *d, const char *id, uint64_t timeout_usec, int *ret_status,
                             tf_error **err) {
        _cleanup_free_ char *path = docker_cpath(id, "/wait?condition=not-running");
        json_t *j = NULL;
        int r = call_json(d,
                          &(struct docker_req){
                                  .call = "wait for container",
                                  .method = "POST",
                                  .path = path,
                                  .timeout_usec = timeout_usec
                          },
                          &j, err);
        if (r < 0)
                return r;
        int status = 0;
        r = docker_parse_wait(j, &status, err);
        json_decref(j);
        if (r >= 0 && ret_status)
                *ret_status = status;
        return r;
}

int docker_parse_wait(json_t *j, int *ret_status, tf_error **err) {
        json_t *code = json_object_get(j, "StatusCode");
        const char *emsg = json_string_value(json_object_get(json_object_get(j, "Error"), "Message"));
        if (emsg && *emsg)
                return tf_error_set(err, EIO, "wait for container: engine said: %s", emsg);
        if (!json_is_integer(code))
                return tf_error_set(err, EPROTO, "wait for container: the engine's answer has no StatusCode");
        *ret_status = (int)json_integer_value(code);
        return 0;
}

int tf_docker_container_kill(tf_docker *d, const char *id, int sig, tf_error **err) {
        _cleanup_free_ char *call = NULL;
        _cleanup_free_ char *path = docker_kill_path(id, sig, &call);
        struct docker_resp resp;
        int r = docker_http(
                d,
                &(struct docker_req){
                        .call = call, .method = "POST", .path = path, .timeout_usec = d->timeout_usec},
                &resp, err);
        if (r < 0)
                return r;
        r = docker_kill_status(call, &resp, err);
        docker_resp_done(&resp);
        return r;
}

int docker_kill_status(const char *call, const struct docker_resp *resp, tf_error **err) {
        /* 409 "is not running": it is already where a kill would take it. */
        if (resp->status == 409 && resp->body && strstr(resp->body, "is not running"))
                return 0;
        if (resp->status >= 400)
                return docker_engine_error(call, resp->status, resp->body, resp->len, err);
        return 0;
}

char *docker_kill_path(const char *id, int sig, char **ret_call) {
        char s[32];
        signame(sig, s, sizeof(s));
        _cleanup_free_ char *suffix = tf_asprintf("/kill?signal=%s", s);
        *ret_call = tf_asprintf("send %s to container", s);
        return docker_cpath(id, suffix);
}

int tf_docker_container_stop(tf_docker *d, const char *id, int sig, uint64_t grace_usec, tf_error **err) {
        int r = tf_docker_connect(d, err);
        if (r < 0)
                return tf_error_prefix(err, "stop container");
        /* The engine's grace is whole seconds: round up, never cut a grace short. */
        uint64_t t = (grace_usec + TF_USEC_PER_SEC - 1) / TF_USEC_PER_SEC;
        if (docker_api_at_least(d, 1, 42)) {
                char s[32];
                signame(sig, s, sizeof(s));
                _cleanup_free_ char *suffix = tf_asprintf("/stop?signal=%s&t=%" PRIu64, s, t);
                _cleanup_free_ char *path = docker_cpath(id, suffix);
                struct docker_resp resp;
                r = docker_http(d,
                                &(struct docker_req){.call = "stop container",
                                                     .method = "POST",
                                                     .path = path,
                                                     .timeout_usec = t * TF_USEC_PER_SEC + d->timeout_usec},
                                &resp, err);
                if (r < 0)
                        return r;
                if (resp.status >= 400 && resp.status != 304)
                        r = docker_engine_error("stop container", resp.status, resp.body, resp.len, err);
                docker_resp_done(&resp);
                return r;
        }
        /* API 1.41's /stop has no signal parameter: do its work by hand. */
        r = tf_docker_container_kill(d, id, sig, err);
        if (r < 0)
                return tf_error_prefix(err, "stop container");
        if (grace_usec > 0) {
                r = tf_docker_container_wait(d, id, grace_usec, NULL, err);
                if (r == 0)
                        return 0;
                if (r != -ETIMEDOUT)
                        return tf_error_prefix(err, "stop container");
                tf_error_freep(err);
        }
        r = tf_docker_container_kill(d, id, SIGKILL, err);
        if (r < 0)
                return tf_error_prefix(err, "stop container");
        r = tf_docker_container_wait(d, id, d->timeout_usec, NULL, err);
        if (r < 0)
                return tf_error_prefix(err, "stop container");
        return 0;
}

/* ---- inspect, remove, list ---- */

void tf_docker_state_done(struct tf_docker_state *s) {
        free(s->status);
        free(s->error);
        free(s->finished);
        *s = (struct tf_docker_state){};
}

int tf_docker_container_inspect(tf_docker *d, const char *id, struct tf_docker_state *ret, tf_error **err) {
        _cleanup_free_ char *path = docker_cpath(id, "/json");
        json_t *j = NULL;
        int r = call_json(d,
                          &(struct docker_req){
                                  .call = "inspect container",
                                  .method = "GET",
                                  .path = path,
                                  .timeout_usec = d->timeout_usec
                          },
                          &j, err);
        if (r < 0)
                return r;
        r = docker_parse_inspect(j, ret, err);
        json_decref(j);
        return r;
}

int docker_parse_inspect(json_t *j, struct tf_docker_state *ret, tf_error **err) {
        json_t *st = json_object_get(j, "State");
        if (!json_is_object(st))
                return tf_error_set(err, EPROTO, "inspect container: the engine's answer has no State");
        const char *status = json_string_value(json_object_get(st, "Status"));
        const char *e = json_string_value(json_object_get(st, "Error"));
        const char *fin = json_string_value(json_object_get(st, "FinishedAt"));
        *ret = (struct tf_docker_state){
                .status = tf_strdup(status ? status : "unknown"),
                .running = json_is_true(json_object_get(st, "Running")),
                .oom_killed = json_is_true(json_object_get(st, "OOMKilled")),
                .exit_code = (int)json_integer_value(json_object_get(st, "ExitCode")),
                .pid = (int)json_integer_value(json_object_get(st, "Pid")),
                .error = e && *e ? tf_strdup(e) : NULL,
                .finished = fin ? tf_strdup(fin) : NULL,
        };
        return 0;
}

int tf_docker_container_remove(tf_docker *d, const char *id, bool force, tf_error **err) {
        _cleanup_free_ char *path = docker_cpath(id, force ? "?force=1&v=1" : "?v=1");
        return call_discard(d, "remove container", "DELETE", path, err);
}

int tf_docker_container_list_labels(tf_docker *d, const char *label, const char *key, char ***ret_ids,
                                    char ***ret_values, tf_error **err) {
        _cleanup_free_ char *path = docker_list_path(label);
        json_t *j = NULL;
        int r = call_json(d,
                          &(struct docker_req){
                                  .call = "list containers",
                                  .method = "GET",
                                  .path = path,
                                  .timeout_usec = d->timeout_usec
                          },
                          &j, err);
        if (r < 0)
                return r;
        r = docker_parse_list(j, key, ret_ids, ret_values, err);
        json_decref(j);
        return r;
}

char *docker_list_path(const char *label) {
        json_t *f = json_pack("{s:[s]}", "label", label);
        _cleanup_free_ char *ftext = json_dumps(f, JSON_COMPACT);
        json_decref(f);
        if (!ftext)
                tf_oom();
        _cleanup_free_ char *ef = docker_escape(ftext);
        return tf_asprintf("/containers/json?all=1&filters=%s", ef);
}

int docker_parse_list(json_t *j, const char *key, char ***ret_ids, char ***ret_values, tf_error **err) {
        if (!json_is_array(j))
                return tf_error_set(err, EPROTO, "list containers: the engine's answer is not a list");
        char **ids = tf_malloc0(sizeof(char *));
        char **values = key ? tf_malloc0(sizeof(char *)) : NULL;
        json_t *v;
        size_t i;
        json_array_foreach(j, i, v) {
                const char *id = json_string_value(json_object_get(v, "Id"));
                if (!id)
                        continue;
                tf_strv_push(&ids, id);
                if (key) {
                        const char *val =
                                json_string_value(json_object_get(json_object_get(v, "Labels"), key));
                        tf_strv_push(&values, val ? val : "");
                }
        }
        *ret_ids = ids;
        if (ret_values)
                *ret_values = values;
        else
                tf_strv_free(values);
        return 0;
}

int tf_docker_container_list(tf_docker *d, const char *label, char ***ret, tf_error **err) {
        return tf_docker_container_list_labels(d, label, NULL, ret, NULL, err);
}

int tf_docker_container_oom_event(tf_docker *d, const char *id, int64_t since, int64_t until, int *ret,
                                  tf_error **err) {
        _cleanup_free_ char *path = docker_oom_event_path(id, since, until);
        struct docker_resp resp;
        int r = docker_call(d,
                            &(struct docker_req){ .call = "read the engine's oom events", .method = "GET",
                                                  .path = path, .timeout_usec = d->timeout_usec },
                            &resp, err);
        if (r < 0)
                return r;
        *ret = docker_parse_oom_events(resp.body);
        docker_resp_done(&resp);
        return 0;
}

char *docker_oom_event_path(const char *id, int64_t since, int64_t until) {
        _cleanup_free_ char *ftext = tf_asprintf("{\"container\":[\"%s\"],\"event\":[\"oom\"]}", id);
        _cleanup_free_ char *ef = docker_escape(ftext);
        return tf_asprintf("/events?since=%lld&until=%lld&filters=%s", (long long) since, (long long) until,
                           ef);
}

bool docker_parse_oom_events(const char *body) {
        /* A stream of JSON objects, one per line; any object at all is a match of the filter. */
        return body && strstr(body, "\"oom\"") != NULL;
}
