/* SPDX-License-Identifier: MIT */
/* The client object, version negotiation, and the blocking transport (one reused libcurl easy handle). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/cleanup.h"
#include "base/strutil.h"
#include "docker/docker-internal.h"

static void curl_global(void) {
        static bool done;
        /* Not thread-safe, like curl_global_init itself; tfrun is single-threaded. */
        if (!done) {
                curl_global_init(CURL_GLOBAL_DEFAULT);
                done = true;
        }
}

int tf_docker_new(const char *host, tf_docker **ret, tf_error **err) {
        const char *from = "host";
        if (!host || !*host) {
                host = getenv("DOCKER_HOST");
                from = "DOCKER_HOST";
                if (!host || !*host) {
                        host = "unix://" TF_DOCKER_DEFAULT_SOCKET;
                        from = "default";
                }
        }
        const char *path;
        if (tf_startswith(host, "unix://"))
                path = host + strlen("unix://");
        else if (host[0] == '/')
                path = host;
        else
                return tf_error_set(err, EPROTONOSUPPORT,
                                    "docker host '%s' (%s): only unix:///path sockets are supported "
                                    "(tcp://, ssh:// and npipe:// are not)",
                                    host, from);
        if (path[0] != '/')
                return tf_error_set(err, EINVAL, "docker host '%s' (%s): the socket path must be absolute",
                                    host, from);
        curl_global();
        tf_docker *d = tf_malloc0(sizeof(*d));
        d->socket_path = tf_strdup(path);
        d->timeout_usec = TF_DOCKER_DEFAULT_TIMEOUT_USEC;
        *ret = d;
        return 0;
}

tf_docker *tf_docker_free(tf_docker *d) {
        if (!d)
                return NULL;
        while (d->calls)
                tf_docker_call_cancel(d->calls);
        if (d->multi)
                curl_multi_cleanup(d->multi);
        if (d->curl)
                curl_easy_cleanup(d->curl);
        free(d->socket_path);
        free(d->engine_version);
        free(d);
        return NULL;
}

void tf_docker_set_timeout(tf_docker *d, uint64_t usec) {
        d->timeout_usec = usec ? usec : TF_DOCKER_DEFAULT_TIMEOUT_USEC;
}

const char *tf_docker_socket_path(const tf_docker *d) {
        return d->socket_path;
}
const char *tf_docker_api_version(const tf_docker *d) {
        return d->connected ? d->api : NULL;
}
const char *tf_docker_engine_version(const tf_docker *d) {
        return d->connected ? d->engine_version : NULL;
}

void docker_resp_done(struct docker_resp *r) {
        free(r->body);
        r->body = NULL;
        r->len = 0;
}

bool docker_resp_header_api_version(struct docker_resp *r, const char *buf, size_t len) {
        static const char key[] = "api-version:";
        if (len <= sizeof(key) - 1 || strncasecmp(buf, key, sizeof(key) - 1) != 0)
                return false;
        const char *v = buf + sizeof(key) - 1;
        size_t vl = len - (sizeof(key) - 1);
        while (vl > 0 && (*v == ' ' || *v == '\t'))
                v++, vl--;
        while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
                vl--;
        if (vl < sizeof(r->api_version)) {
                memcpy(r->api_version, v, vl);
                r->api_version[vl] = '\0';
        }
        return true;
}

int docker_api_parse(const char *s, int *ret_major, int *ret_minor) {
        int ma, mi, n = 0;
        if (!s || sscanf(s, "%d.%d%n", &ma, &mi, &n) != 2 || s[n] != '\0' || ma < 0 || mi < 0)
                return -EINVAL;
        *ret_major = ma;
        *ret_minor = mi;
        return 0;
}

bool docker_api_at_least(const tf_docker *d, int major, int minor) {
        return d->api_major > major || (d->api_major == major && d->api_minor >= minor);
}

char *docker_escape(const char *s) {
        char *e = curl_easy_escape(NULL, s, 0);
        if (!e)
                tf_oom();
        char *r = tf_strdup(e);
        curl_free(e);
        return r;
}

char *docker_url(const tf_docker *d, const char *path, bool unversioned) {
        /* The host part is ignored on a unix socket, but HTTP/1.1 needs one for the Host header. */
        if (unversioned || !d->connected)
                return tf_asprintf("http://localhost%s", path);
        return tf_asprintf("http://localhost/v%s%s", d->api, path);
}

CURL *docker_easy_new(const tf_docker *d) {
        CURL *c = curl_easy_init();
        if (!c)
                tf_oom();
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, d->socket_path);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
        curl_easy_setopt(c, CURLOPT_USERAGENT,
                         "tfrun/"
                         "docker");
        return c;
}

int docker_status_errno(long status) {
        switch (status) {
        case 400:
                return EINVAL;
        case 401:
        case 403:
                return EACCES;
        case 404:
                return ENOENT;
        case 409:
                return EEXIST;
        case 304:
                return EALREADY;
        default:
                return EIO;
        }
}

int docker_engine_error(const char *call, long status, const char *body, size_t len, tf_error **err) {
        _cleanup_free_ char *msg = NULL;
        if (body && len > 0) {
                json_t *j = json_loadb(body, len, 0, NULL);
                const char *m = j ? json_string_value(json_object_get(j, "message")) : NULL;
                if (m)
                        msg = tf_strdup(m);
                json_decref(j);
                if (!msg) {
                        /* Not JSON (a proxy, an old engine): show the start of the raw text. */
                        size_t n = len > 512 ? 512 : len;
                        msg = tf_strndup(body, n);
                        size_t l = strlen(msg);
                        while (l > 0 && (msg[l - 1] == '\n' || msg[l - 1] == '\r'))
                                msg[--l] = '\0';
                }
        }
        return tf_error_set(err, docker_status_errno(status), "%s: engine said %ld: %s", call, status,
                            msg && *msg ? msg : "(no message)");
}

int docker_curl_error(const tf_docker *d, CURL *c, CURLcode cc, const char *call, const char *errbuf,
                      tf_error **err) {
        long oserr = 0;
        curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &oserr);
        const char *detail = errbuf && *errbuf ? errbuf : curl_easy_strerror(cc);
        switch (cc) {
        case CURLE_COULDNT_CONNECT: {
                struct stat st;
                if (stat(d->socket_path, &st) < 0)
                        return tf_error_set(err, errno,
                                            "%s: connect to the Docker engine at unix://%s: %s (is dockerd "
                                            "running? DOCKER_HOST selects another socket)",
                                            call, d->socket_path, strerror(errno));
                int e = oserr > 0 ? (int)oserr : ECONNREFUSED;
                if (e == EACCES || e == EPERM)
                        return tf_error_set(err, e,
                                            "%s: connect to the Docker engine at unix://%s: %s (the socket "
                                            "is not accessible to this user: run as root or as a member "
                                            "of the socket's group, usually 'docker')",
                                            call, d->socket_path, strerror(e));
                return tf_error_set(err, e,
                                    "%s: connect to the Docker engine at unix://%s: %s (is dockerd "
                                    "running?)",
                                    call, d->socket_path, strerror(e));
        }
        case CURLE_OPERATION_TIMEDOUT:
                return tf_error_set(err, ETIMEDOUT,
                                    "%s: no answer from the Docker engine at unix://%s in time: %s", call,
                                    d->socket_path, detail);
        case CURLE_OUT_OF_MEMORY:
                return tf_error_set(err, ENOMEM, "%s: %s", call, detail);
        default:
                return tf_error_set(err, oserr > 0 ? (int)oserr : EIO,
                                    "%s: talking to the Docker engine at unix://%s: %s", call,
                                    d->socket_path, detail);
        }
}

struct xfer {
        CURL *curl;
        const struct docker_req *req;
        struct docker_resp *resp;
        bool too_big;
};

static size_t on_header(char *buf, size_t size, size_t n, void *userdata) {
        struct xfer *x = userdata;
        docker_resp_header_api_version(x->resp, buf, size * n);
        return size * n;
}

static size_t on_write(char *buf, size_t size, size_t n, void *userdata) {
        struct xfer *x = userdata;
        size_t len = size * n;
        long status = 0;
        curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
        if (x->req->on_data && status >= 200 && status < 300) {
                int r = x->req->on_data(buf, len, x->req->userdata);
                if (r < 0) {
                        x->resp->cb_error = r;
                        return CURL_WRITEFUNC_ERROR;
                }
                return len;
        }
        if (x->resp->len + len > TF_DOCKER_JSON_MAX) {
                x->too_big = true;
                return CURL_WRITEFUNC_ERROR;
        }
        x->resp->body = tf_realloc(x->resp->body, x->resp->len + len + 1);
        memcpy(x->resp->body + x->resp->len, buf, len);
        x->resp->len += len;
        x->resp->body[x->resp->len] = '\0';
        return len;
}

static int http_raw(tf_docker *d, const struct docker_req *req, struct docker_resp *resp, tf_error **err) {
        if (!d->curl)
                d->curl = docker_easy_new(d);
        CURL *c = d->curl;
        _cleanup_free_ char *url = docker_url(d, req->path, req->unversioned);
        char errbuf[CURL_ERROR_SIZE] = "";
        struct xfer x = {.curl = c, .req = req, .resp = resp};
        struct curl_slist *hdrs = NULL;

        *resp = (struct docker_resp){};
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(req->timeout_usec / 1000));
        /* Reset the method from the previous call on this handle. */
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
        if (streq(req->method, "POST")) {
                const char *b = req->body ? req->body : "";
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(b));
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, b);
        } else if (!streq(req->method, "GET"))
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
        if (req->body)
                hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        /* No "Expect: 100-continue" round trip for larger bodies. */
        hdrs = curl_slist_append(hdrs, "Expect:");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);

        CURLcode cc = curl_easy_perform(c);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
        curl_slist_free_all(hdrs);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
        if (cc != CURLE_OK) {
                int r;
                if (x.too_big)
                        r = tf_error_set(err, EFBIG, "%s: the engine's answer exceeds %u bytes", req->call,
                                         TF_DOCKER_JSON_MAX);
                else if (resp->cb_error)
                        r = tf_error_setc(err, resp->cb_error, "%s: reading the engine's answer", req->call);
                else
                        r = docker_curl_error(d, c, cc, req->call, errbuf, err);
                docker_resp_done(resp);
                return r;
        }
        return 0;
}

int docker_version_apply(tf_docker *d, const char *ping_api, const char *body, size_t len, tf_error **err) {
        int r;
        json_t *j = json_loadb(body, len, 0, NULL);
        const char *api = json_string_value(json_object_get(j, "ApiVersion"));
        const char *ver = json_string_value(json_object_get(j, "Version"));
        if (!api)
                api = ping_api[0] ? ping_api : NULL;
        int ma, mi, wma, wmi;
        if (!api || docker_api_parse(api, &ma, &mi) < 0) {
                json_decref(j);
                return tf_error_set(err, EPROTO,
                                    "get Docker engine version: the engine did not say its API "
                                    "version");
        }
        (void)docker_api_parse(TF_DOCKER_API_MIN, &wma, &wmi);
        if (ma < wma || (ma == wma && mi < wmi)) {
                r = tf_error_set(err, EPROTONOSUPPORT,
                                 "Docker engine %s at unix://%s speaks API %s; tfrun needs API %s or newer "
                                 "(Docker 20.10+): upgrade the engine",
                                 ver ? ver : "(unknown version)", d->socket_path, api, TF_DOCKER_API_MIN);
                json_decref(j);
                return r;
        }
        (void)docker_api_parse(TF_DOCKER_API_MAX, &wma, &wmi);
        if (ma > wma || (ma == wma && mi > wmi))
                ma = wma, mi = wmi;
        d->api_major = ma;
        d->api_minor = mi;
        snprintf(d->api, sizeof(d->api), "%d.%d", ma, mi);
        free(d->engine_version);
        d->engine_version = tf_strdup(ver ? ver : "unknown");
        json_decref(j);
        d->connected = true;
        return 0;
}

int tf_docker_connect(tf_docker *d, tf_error **err) {
        if (d->connected)
                return 0;
        struct docker_resp resp;
        int r = http_raw(d,
                         &(struct docker_req){.call = "ping Docker engine",
                                              .method = "GET",
                                              .path = "/_ping",
                                              .unversioned = true,
                                              .timeout_usec = d->timeout_usec},
                         &resp, err);
        if (r < 0)
                return r;
        if (resp.status != 200) {
                r = docker_engine_error("ping Docker engine", resp.status, resp.body, resp.len, err);
                docker_resp_done(&resp);
                return r;
        }
        char ping_api[16];
        snprintf(ping_api, sizeof(ping_api), "%s", resp.api_version);
        docker_resp_done(&resp);

        r = http_raw(d,
                     &(struct docker_req){.call = "get Docker engine version",
                                          .method = "GET",
                                          .path = "/version",
                                          .unversioned = true,
                                          .timeout_usec = d->timeout_usec},
                     &resp, err);
        if (r < 0)
                return r;
        if (resp.status != 200) {
                r = docker_engine_error("get Docker engine version", resp.status, resp.body, resp.len, err);
                docker_resp_done(&resp);
                return r;
        }
        r = docker_version_apply(d, ping_api, resp.body, resp.len, err);
        docker_resp_done(&resp);
        return r;
}

int docker_http(tf_docker *d, const struct docker_req *req, struct docker_resp *resp, tf_error **err) {
        if (!req->unversioned) {
                int r = tf_docker_connect(d, err);
                if (r < 0) {
                        *resp = (struct docker_resp){};
                        return tf_error_prefix(err, "%s", req->call);
                }
        }
        return http_raw(d, req, resp, err);
}

int docker_call(tf_docker *d, const struct docker_req *req, struct docker_resp *resp, tf_error **err) {
        int r = docker_http(d, req, resp, err);
        if (r < 0)
                return r;
        if (resp->status >= 400) {
                r = docker_engine_error(req->call, resp->status, resp->body, resp->len, err);
                docker_resp_done(resp);
                return r;
        }
        return 0;
}
