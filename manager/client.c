/* SPDX-License-Identifier: MIT */
#include "manager/client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/strutil.h"
#include "base/timeutil.h"

/* An answer bigger than this is not the manager's (its largest, a long history, is far below). */
#define ANSWER_MAX (64u * 1024 * 1024)
/* The status line and headers: libmicrohttpd's are a few hundred bytes. */
#define HEAD_MAX (64u * 1024)
#define CONNECT_TIMEOUT_MS 5000

/*
 * HTTP/1.1 over the manager's unix socket, by hand: one request per connection, closed once its answer
 * is read; an answer delimited by Content-Length, chunked transfer coding (streams) or the connection's end.
 * libcurl did this before; mapping it and its TLS, LDAP and Kerberos libraries cost each verb more than
 * the manager's whole answer (18 ms of a 25 ms `tfrun status`, bench/manager.sh).
 */

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
        static const char hex[] = "0123456789ABCDEF";
        size_t n = strlen(segment);
        char *r = tf_malloc0(3 * n + 1), *p = r;
        for (const unsigned char *c = (const unsigned char *)segment; *c; c++) {
                /* RFC 3986's unreserved characters stay; everything else is %XX, as curl_easy_escape(). */
                if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
                    *c == '-' || *c == '.' || *c == '_' || *c == '~')
                        *p++ = (char)*c;
                else {
                        *p++ = '%';
                        *p++ = hex[*c >> 4];
                        *p++ = hex[*c & 15];
                }
        }
        *p = 0;
        return r;
}

const char *tf_api_error_message(json_t *body) {
        return json_string_value(json_object_get(body, "error"));
}

struct conn {
        const char *socket_path;
        int fd;
        uint64_t deadline; /* CLOCK_MONOTONIC usec; 0: none */
        /* The answer: status, then the body as it is decoded. */
        long status;
        bool chunked, has_length, done;
        uint64_t length, got;
        /* chunked: the size line being read, and what is left of the current chunk */
        char line[64];
        size_t line_len;
        uint64_t chunk_left;
        enum { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER } ch;
        /* the body: collected, or given to cb (a stream with a status below 400) */
        char *buf;
        size_t len;
        tf_api_chunk_cb cb;
        void *userdata;
        int cb_result;
};

static void closep(struct conn *c) {
        if (c->fd >= 0)
                close(c->fd);
        free(c->buf);
}

/* Waits for fd to be ready for events before the deadline: 0, or -ETIMEDOUT, or -errno. */
static int wait_fd(struct conn *c, short events) {
        for (;;) {
                int ms = -1;
                if (c->deadline) {
                        uint64_t now = tf_now(CLOCK_MONOTONIC);
                        if (now >= c->deadline)
                                return -ETIMEDOUT;
                        ms = (int)((c->deadline - now + 999) / 1000);
                }
                struct pollfd p = {.fd = c->fd, .events = events};
                int r = poll(&p, 1, ms);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        return -ETIMEDOUT;
                return 0;
        }
}

static int transport_error(struct conn *c, int r, tf_error **err) {
        if (r == -ETIMEDOUT)
                return tf_error_set(err, ETIMEDOUT, "the manager at %s did not answer in time",
                                    c->socket_path);
        return tf_error_set(err, -r, "talking to the manager at %s: %s", c->socket_path, strerror(-r));
}

static int conn_open(struct conn *c, tf_error **err) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        size_t n = strlen(c->socket_path);
        if (n >= sizeof(sa.sun_path))
                return tf_error_set(err, ENAMETOOLONG, "cannot reach the manager at %s: %s", c->socket_path,
                                    strerror(ENAMETOOLONG));
        memcpy(sa.sun_path, c->socket_path, n);
        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0)
                return tf_error_set(err, errno, "socket: %s", strerror(errno));
        /* A full backlog (the manager at its connection limit) makes connect() wait for room: at most
         * CONNECT_TIMEOUT_MS, as libcurl's connect timeout did, or what is left of the call's own bound. */
        uint64_t ms = CONNECT_TIMEOUT_MS;
        if (c->deadline) {
                uint64_t now = tf_now(CLOCK_MONOTONIC);
                uint64_t left = c->deadline > now ? (c->deadline - now + 999) / 1000 : 1;
                ms = left < ms ? left : ms;
        }
        struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
        int r = 0;
        if (setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
            connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                r = errno == EAGAIN || errno == EINPROGRESS ? -ETIMEDOUT : -errno;
        /* Then non-blocking: every wait after this one is poll()'s, against the deadline. */
        struct timeval none = {};
        if (r == 0 && (setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof(none)) < 0 ||
                       fcntl(c->fd, F_SETFL, O_NONBLOCK) < 0))
                r = -errno;
        if (r == -ECONNREFUSED || r == -ENOENT)
                return tf_error_set(err, -r, "cannot reach the manager at %s: %s — is `tfrun up` running?",
                                    c->socket_path, strerror(-r));
        if (r == -ETIMEDOUT)
                return tf_error_set(err, ETIMEDOUT, "cannot reach the manager at %s: %s", c->socket_path,
                                    "the connection timed out");
        if (r < 0)
                return tf_error_set(err, -r, "cannot reach the manager at %s: %s", c->socket_path,
                                    strerror(-r));
        return 0;
}

static int write_all(struct conn *c, const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno == EAGAIN) {
                        int r = wait_fd(c, POLLOUT);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (k < 0)
                        return -errno;
                p += k;
                n -= (size_t)k;
        }
        return 0;
}

/* Body bytes (decoded): to the stream's callback once the status says it is one, else collected. */
static int body_bytes(struct conn *c, const char *p, size_t n) {
        if (n == 0)
                return 0;
        if (c->cb && c->status > 0 && c->status < 400) {
                int r = c->cb(p, n, c->userdata);
                if (r < 0) {
                        c->cb_result = r;
                        return r;
                }
                return 0;
        }
        if (c->len + n > ANSWER_MAX)
                return -EFBIG;
        c->buf = tf_realloc(c->buf, c->len + n + 1);
        memcpy(c->buf + c->len, p, n);
        c->len += n;
        c->buf[c->len] = 0;
        return 0;
}

/* Raw bytes after the headers: through the chunked decoder, or counted against Content-Length. */
static int feed(struct conn *c, const char *p, size_t n) {
        int r;
        if (!c->chunked) {
                if (c->has_length && n > c->length - c->got)
                        n = (size_t)(c->length - c->got);
                c->got += n;
                if (c->has_length && c->got == c->length)
                        c->done = true;
                return body_bytes(c, p, n);
        }
        while (n > 0 && !c->done) {
                switch (c->ch) {
                case CH_SIZE:
                case CH_DATA_END:
                case CH_TRAILER:
                        /* A line: the chunk's size (extensions after ';' ignored), the CRLF after its data,
                         * or a trailer line (the empty one ends the body). */
                        if (*p != '\n') {
                                if (c->line_len + 1 >= sizeof(c->line))
                                        return -EPROTO;
                                c->line[c->line_len++] = *p;
                                p++, n--;
                                continue;
                        }
                        p++, n--;
                        if (c->line_len && c->line[c->line_len - 1] == '\r')
                                c->line_len--;
                        c->line[c->line_len] = 0;
                        if (c->ch == CH_DATA_END) {
                                if (c->line_len != 0)
                                        return -EPROTO;
                                c->ch = CH_SIZE;
                        } else if (c->ch == CH_TRAILER) {
                                if (c->line_len == 0)
                                        c->done = true;
                        } else {
                                char *end;
                                errno = 0;
                                unsigned long long v = strtoull(c->line, &end, 16);
                                if (end == c->line || errno || (*end && *end != ';' && *end != ' '))
                                        return -EPROTO;
                                if (v > ANSWER_MAX)
                                        return -EFBIG;
                                c->chunk_left = v;
                                c->ch = v ? CH_DATA : CH_TRAILER;
                        }
                        c->line_len = 0;
                        break;
                case CH_DATA: {
                        size_t k = n < c->chunk_left ? n : (size_t)c->chunk_left;
                        r = body_bytes(c, p, k);
                        if (r < 0)
                                return r;
                        p += k, n -= k;
                        c->chunk_left -= k;
                        if (c->chunk_left == 0)
                                c->ch = CH_DATA_END;
                        break;
                }
                }
        }
        return 0;
}

/* "Name: value" of one header line (without CRLF), the name case-insensitive: the value, or NULL. */
static const char *header_value(const char *line, const char *name) {
        size_t n = strlen(name);
        if (strncasecmp(line, name, n) != 0 || line[n] != ':')
                return NULL;
        line += n + 1;
        while (*line == ' ' || *line == '\t')
                line++;
        return line;
}

static int parse_head(struct conn *c, char *head) {
        /* "HTTP/1.1 200 OK" */
        if (strncmp(head, "HTTP/1.", 7) != 0 || !head[7] || head[8] != ' ')
                return -EPROTO;
        char *end;
        long st = strtol(head + 9, &end, 10);
        if (st < 100 || st > 599 || (*end && *end != ' ' && *end != '\r'))
                return -EPROTO;
        c->status = st;
        for (char *l = strstr(head, "\r\n"); l && l[2]; l = strstr(l, "\r\n")) {
                l += 2;
                char *e = strstr(l, "\r\n");
                if (e)
                        *e = 0;
                const char *v;
                if ((v = header_value(l, "Content-Length"))) {
                        errno = 0;
                        unsigned long long n = strtoull(v, &end, 10);
                        if (errno || end == v)
                                return -EPROTO;
                        if (n > ANSWER_MAX)
                                return -EFBIG;
                        c->has_length = true;
                        c->length = n;
                } else if ((v = header_value(l, "Transfer-Encoding")) && strcasestr(v, "chunked"))
                        c->chunked = true;
                if (!e)
                        break;
                *e = '\r';
        }
        if (c->chunked)
                c->has_length = false;
        if (c->has_length && c->length == 0)
                c->done = true;
        return 0;
}

/* Sends the request and reads the answer to its end: 0, or -errno (-ETIMEDOUT, -EFBIG, -EPROTO, a
 * callback's own value). */
static int exchange(struct conn *c, const char *method, const char *path, const char *body, tf_error **err) {
        int r = conn_open(c, err);
        if (r < 0)
                return r;
        size_t blen = body ? strlen(body) : 0;
        /* No "Connection: close": libmicrohttpd then misses a stream that this request's handler wrote to
         * (test-http.sh's feed), and the answer's own length or last chunk ends the exchange anyway. */
        _cleanup_free_ char *req =
                tf_asprintf("%s %s HTTP/1.1\r\nHost: localhost\r\n"
                            "%sContent-Length: %zu\r\n\r\n",
                            method, path, body ? "Content-Type: application/json\r\n" : "", blen);
        r = write_all(c, req, strlen(req));
        if (r == 0 && blen)
                r = write_all(c, body, blen);
        /* A server that answers before reading everything (an error) may close first: read its answer. */
        if (r < 0 && r != -EPIPE && r != -ECONNRESET)
                return transport_error(c, r, err);
        _cleanup_free_ char *head = tf_malloc0(HEAD_MAX + 1);
        size_t hlen = 0;
        bool in_body = false;
        char b[16384];
        for (;;) {
                ssize_t k = read(c->fd, b, sizeof(b));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno == EAGAIN) {
                        r = wait_fd(c, POLLIN);
                        if (r < 0)
                                return transport_error(c, r, err);
                        continue;
                }
                if (k < 0)
                        return transport_error(c, -errno, err);
                if (k == 0) {
                        /* The end of the connection ends a body without a length; anything else is cut. */
                        if (in_body && !c->chunked && !c->has_length)
                                return 0;
                        return tf_error_set(err, EPROTO, "talking to the manager at %s: %s", c->socket_path,
                                            in_body ? "the answer was cut short"
                                                    : "the connection closed "
                                                      "without an answer");
                }
                const char *p = b;
                size_t n = (size_t)k;
                if (!in_body) {
                        size_t take = n < HEAD_MAX - hlen ? n : HEAD_MAX - hlen;
                        memcpy(head + hlen, b, take);
                        size_t old = hlen;
                        hlen += take;
                        head[hlen] = 0;
                        char *end = strstr(head + (old > 3 ? old - 3 : 0), "\r\n\r\n");
                        if (!end) {
                                if (hlen == HEAD_MAX)
                                        return tf_error_set(err, EPROTO,
                                                            "the manager at %s answered headers "
                                                            "longer than %u bytes",
                                                            c->socket_path, HEAD_MAX);
                                continue;
                        }
                        size_t used = (size_t)(end + 4 - head) - old;
                        end[2] = 0;
                        r = parse_head(c, head);
                        if (r == -EFBIG)
                                goto too_big;
                        if (r < 0)
                                return tf_error_set(err, EPROTO,
                                                    "the manager at %s answered something that is "
                                                    "not HTTP",
                                                    c->socket_path);
                        in_body = true;
                        p += used;
                        n -= used;
                }
                r = feed(c, p, n);
                if (r == -EFBIG)
                        goto too_big;
                if (r < 0 && c->cb_result < 0)
                        return r;
                if (r < 0)
                        return tf_error_set(err, EPROTO,
                                            "the manager at %s answered a malformed chunked body",
                                            c->socket_path);
                if (c->done)
                        return 0;
        }
too_big:
        return tf_error_set(err, EFBIG, "the manager at %s answered more than %u bytes", c->socket_path,
                            ANSWER_MAX);
}

static int parse_answer(const struct conn *c, json_t **ret, tf_error **err) {
        json_error_t je;
        json_t *j = c->len ? json_loadb(c->buf, c->len, 0, &je) : NULL;
        if (!json_is_object(j)) {
                json_decref(j);
                return tf_error_set(
                        err, EPROTO,
                        "the manager at %s answered HTTP %ld with a body that is not a JSON object",
                        c->socket_path, c->status);
        }
        *ret = j;
        return 0;
}

int tf_api_request(const char *socket_path, const char *method, const char *path, json_t *body,
                   long timeout_ms, long *ret_status, json_t **ret_body, tf_error **err) {
        _cleanup_(closep) struct conn c = {.socket_path = socket_path, .fd = -1};
        if (timeout_ms > 0)
                c.deadline = tf_now(CLOCK_MONOTONIC) + (uint64_t)timeout_ms * 1000;
        _cleanup_free_ char *text = NULL;
        if (body) {
                text = json_dumps(body, JSON_COMPACT);
                if (!text)
                        tf_oom();
        }
        int r = exchange(&c, method, path, text, err);
        if (r < 0)
                return r;
        r = parse_answer(&c, ret_body, err);
        if (r < 0)
                return r;
        if (ret_status)
                *ret_status = c.status;
        return 0;
}

int tf_api_stream(const char *socket_path, const char *path, tf_api_chunk_cb cb, void *userdata,
                  long *ret_status, tf_error **err) {
        _cleanup_(closep) struct conn c = {
                .socket_path = socket_path, .fd = -1, .cb = cb, .userdata = userdata};
        int r = exchange(&c, "GET", path, NULL, err);
        if (ret_status)
                *ret_status = c.status;
        if (c.cb_result < 0)
                return c.cb_result;
        if (r < 0)
                return r;
        if (c.status >= 400) {
                json_t *j = NULL;
                if (parse_answer(&c, &j, err) < 0)
                        return -EPROTO;
                const char *m = tf_api_error_message(j);
                r = tf_error_set(err, EPROTO, "%s", m ? m : "the manager refused the request");
                json_decref(j);
                return r;
        }
        return 0;
}
