/* SPDX-License-Identifier: MIT */
#include "manager/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/strutil.h"

/* An answer bigger than this is not the manager's (its largest, a long history, is far below). */
#define ANSWER_MAX (64u * 1024 * 1024)

int tf_api_socket_path(const char *option, char **ret, tf_error **err) {
        if (option && *option) {
                *ret = tf_strdup(option);
                return 0;
        }
        const char *e = secure_getenv("TFRUN_SOCKET");
        if (e && *e) {
                *ret = tf_strdup(e);
                return 0;
        }
        if (geteuid() == 0) {
                *ret = tf_strdup("/run/tfrun/tfrun.sock");
                return 0;
        }
        e = secure_getenv("XDG_RUNTIME_DIR");
        if (!e || *e != '/')
                return tf_error_set(
                        err, ENOENT,
                        "no socket for the manager: XDG_RUNTIME_DIR is not set (or not absolute); "
                        "pass --socket PATH or set TFRUN_SOCKET");
        *ret = tf_asprintf("%s/tfrun/tfrun.sock", e);
        return 0;
}

char *tf_api_escape(const char *segment) {
        char *e = curl_easy_escape(NULL, segment, 0);
        if (!e)
                tf_oom();
        char *r = tf_strdup(e);
        curl_free(e);
        return r;
}

const char *tf_api_error_message(json_t *body) {
        return json_string_value(json_object_get(body, "error"));
}

struct sink {
        char *buf;
        size_t len;
        bool too_big;
        /* Streaming: chunks go to cb once the status says the body is a stream, not an error. */
        CURL *easy;
        tf_api_chunk_cb cb;
        void *userdata;
        int cb_result;
};

static size_t collect(char *p, size_t size, size_t n, void *userdata) {
        struct sink *s = userdata;
        size_t len = size * n;
        if (s->cb) {
                long status = 0;
                curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
                if (status > 0 && status < 400) {
                        int r = s->cb(p, len, s->userdata);
                        if (r < 0) {
                                s->cb_result = r;
                                return 0; /* stops the transfer: CURLE_WRITE_ERROR */
                        }
                        return len;
                }
        }
        if (s->len + len > ANSWER_MAX) {
                s->too_big = true;
                return 0;
        }
        s->buf = tf_realloc(s->buf, s->len + len + 1);
        memcpy(s->buf + s->len, p, len);
        s->len += len;
        s->buf[s->len] = 0;
        return len;
}

static void curl_cleanupp(CURL **c) {
        if (*c)
                curl_easy_cleanup(*c);
}

static void slist_freep(struct curl_slist **l) {
        curl_slist_free_all(*l);
}

/* The transport's failure, said for a person: which socket, what the system said, what to do. */
static int transport_error(CURL *c, CURLcode cc, const char *socket_path, const char *errbuf,
                           tf_error **err) {
        long os_errno = 0;
        curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
        if (cc == CURLE_COULDNT_CONNECT) {
                int e = os_errno ? (int)os_errno : ECONNREFUSED;
                if (e == ECONNREFUSED || e == ENOENT)
                        return tf_error_set(err, e,
                                            "cannot reach the manager at %s: %s — is `tfrun up` running?",
                                            socket_path, strerror(e));
                return tf_error_set(err, e, "cannot reach the manager at %s: %s", socket_path, strerror(e));
        }
        if (cc == CURLE_OPERATION_TIMEDOUT)
                return tf_error_set(err, ETIMEDOUT, "the manager at %s did not answer in time", socket_path);
        return tf_error_set(err, EIO, "talking to the manager at %s: %s", socket_path,
                            errbuf[0] ? errbuf : curl_easy_strerror(cc));
}

static CURL *easy_new(const char *socket_path, const char *path, char *errbuf) {
        CURL *c = curl_easy_init();
        if (!c)
                tf_oom();
        _cleanup_free_ char *url = tf_asprintf("http://localhost%s", path);
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket_path);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
        /* No proxy from the environment may see a request meant for a local socket. */
        curl_easy_setopt(c, CURLOPT_PROXY, "");
        return c;
}

static int parse_answer(const struct sink *s, long status, const char *socket_path, json_t **ret,
                        tf_error **err) {
        json_error_t je;
        json_t *j = s->len ? json_loadb(s->buf, s->len, 0, &je) : NULL;
        if (!json_is_object(j)) {
                json_decref(j);
                return tf_error_set(
                        err, EPROTO,
                        "the manager at %s answered HTTP %ld with a body that is not a JSON object",
                        socket_path, status);
        }
        *ret = j;
        return 0;
}

int tf_api_request(const char *socket_path, const char *method, const char *path, json_t *body,
                   long timeout_ms, long *ret_status, json_t **ret_body, tf_error **err) {
        char errbuf[CURL_ERROR_SIZE] = "";
        _cleanup_(curl_cleanupp) CURL *c = easy_new(socket_path, path, errbuf);
        _cleanup_(slist_freep) struct curl_slist *hdrs = NULL;
        _cleanup_free_ char *text = NULL;
        struct sink s = {};
        if (body) {
                text = json_dumps(body, JSON_COMPACT);
                if (!text)
                        tf_oom();
                hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
                /* No "Expect: 100-continue" round trip for a small body. */
                hdrs = curl_slist_append(hdrs, "Expect:");
                curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
        } else if (streq(method, "POST")) {
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
        }
        if (!streq(method, "GET") && !streq(method, "POST"))
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        else if (streq(method, "POST"))
                curl_easy_setopt(c, CURLOPT_POST, 1L);
        if (timeout_ms > 0)
                curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
        CURLcode cc = curl_easy_perform(c);
        _cleanup_free_ char *buf = s.buf;
        if (s.too_big)
                return tf_error_set(err, EFBIG, "the manager at %s answered more than %u bytes", socket_path,
                                    ANSWER_MAX);
        if (cc != CURLE_OK)
                return transport_error(c, cc, socket_path, errbuf, err);
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        int r = parse_answer(&s, status, socket_path, ret_body, err);
        if (r < 0)
                return r;
        if (ret_status)
                *ret_status = status;
        return 0;
}

int tf_api_stream(const char *socket_path, const char *path, tf_api_chunk_cb cb, void *userdata,
                  long *ret_status, tf_error **err) {
        char errbuf[CURL_ERROR_SIZE] = "";
        _cleanup_(curl_cleanupp) CURL *c = easy_new(socket_path, path, errbuf);
        struct sink s = {.easy = c, .cb = cb, .userdata = userdata};
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
        CURLcode cc = curl_easy_perform(c);
        _cleanup_free_ char *buf = s.buf;
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (ret_status)
                *ret_status = status;
        if (s.cb_result < 0)
                return s.cb_result;
        if (s.too_big)
                return tf_error_set(err, EFBIG, "the manager at %s answered more than %u bytes", socket_path,
                                    ANSWER_MAX);
        if (cc != CURLE_OK)
                return transport_error(c, cc, socket_path, errbuf, err);
        if (status >= 400) {
                json_t *j = NULL;
                if (parse_answer(&s, status, socket_path, &j, err) < 0)
                        return -EPROTO;
                const char *m = tf_api_error_message(j);
                int r = tf_error_set(err, EPROTO, "%s", m ? m : "the manager refused the request");
                json_decref(j);
                return r;
        }
        return 0;
}
