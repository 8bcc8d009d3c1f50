/* SPDX-License-Identifier: MIT */
/*
 * The control API's routes (DESIGN.md "The manager"): what the CLI verbs and, later, the dashboard use. Every
 * parameter is checked by manager/http.c's rules before a name reaches the manager or a query the store.
 */
#include "manager/api.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/parse.h"
#include "base/strutil.h"
#include "base/timeutil.h"
#include "manager/auth.h"
#include "manager/http.h"
#include "manager/metrics.h"
#include "manager/ui.h"
#include "runner/log.h"
#include "runner/runner.h"
#include "store/store.h"

#define FOLLOW_POLL_USEC (200 * 1000)
#define TAIL_MAX_LINES 100000u

static int bad_name(struct tf_http_response *resp, const char *what, const char *v) {
        tf_http_respond_error(resp, 400,
                              "invalid %s '%.80s': expected [a-z0-9][a-z0-9_.-]{0,62}%s", what, v ? v : "",
                              streq(what, "run id") ? " followed by -PID-N" : "");
        return TF_HTTP_DONE;
}

static int from_errno(struct tf_http_response *resp, int r, const tf_error *e) {
        unsigned st = r == -ENOENT                                      ? 404
                      : r == -EBADF || r == -EBUSY || r == -ESTALE || r == -EALREADY ? 409
                      : r == -ESHUTDOWN                                 ? 503
                      : r == -EINVAL                                    ? 400
                                                                        : 500;
        tf_http_respond_error(resp, st, "%s", e && e->msg ? e->msg : strerror(-r));
        return TF_HTTP_DONE;
}

static bool token_allows(const char *name, void *userdata) {
        return name && tf_auth_service_allowed(userdata, name);
}

static int h_services(struct tf_http_request *req, struct tf_http_response *resp, void *userdata) {
        struct tf_manager *m = userdata;
        /* A token limited to some services sees those alone (a broken file has no name: nobody's). The
         * list is the manager's cached entries (the same JSON as tf_manager_services_json() dumped). */
        json_t *b = tf_manager_budget_json(m);
        _cleanup_free_ char *bt = b ? json_dumps(b, JSON_COMPACT) : NULL;
        json_decref(b);
        _cleanup_free_ char *after = bt ? tf_asprintf(",\"budget\":%s}\n", bt) : tf_strdup("}\n");
        size_t len;
        char *body = tf_manager_services_text(m, "{\"services\":", after,
                                              tf_auth_services(req) ? token_allows : NULL, req, &len);
        tf_http_respond_text(resp, 200, "application/json", body, len);
        return TF_HTTP_DONE;
}

/* The runs waiting for admission, in the order they would start. A token limited to some services sees
 * theirs alone (positions stay the queue's own). */
static int h_queue(struct tf_http_request *req, struct tf_http_response *resp, void *userdata) {
        struct tf_manager *m = userdata;
        json_t *o = tf_manager_queue_json(m), *a = json_object_get(o, "waiting");
        if (tf_auth_services(req))
                for (size_t i = json_array_size(a); i-- > 0;) {
                        const char *n = json_string_value(json_object_get(json_array_get(a, i), "service"));
                        if (!n || !tf_auth_service_allowed(req, n))
                                json_array_remove(a, i);
                }
        tf_http_respond_json(resp, 200, o);
        return TF_HTTP_DONE;
}

static int h_service(struct tf_http_request *req, struct tf_http_response *resp, void *userdata) {
        struct tf_manager *m = userdata;
        const char *name = tf_http_request_param(req, "name");
        if (!tf_http_valid_name(name))
                return bad_name(resp, "service name", name);
        json_t *o = tf_manager_service_status_json(m, name);
        if (!o) {
                tf_http_respond_error(resp, 404, "no service '%s' (see `tfrun ps`)", name);
                return TF_HTTP_DONE;
        }
        tf_http_respond_json(resp, 200, o);
        return TF_HTTP_DONE;
}

static int h_trigger(struct tf_http_request *req, struct tf_http_response *resp, void *userdata) {
        struct tf_manager *m = userdata;
        _cleanup_error_ tf_error *e = NULL;
        const char *name = tf_http_request_param(req, "name");
        if (!tf_http_valid_name(name))
                return bad_name(resp, "service name", name);
        json_t *o = NULL;
        int r = tf_manager_trigger(m, name, &o, &e);
        if (r < 0)
                return from_errno(resp, r, e);
        tf_http_respond_json(resp, 200, o);
        return TF_HTTP_DONE;
}

static int h_stop(struct tf_http_request *req, struct tf_http_response *resp, void *userdata) {
        struct tf_manager *m = userdata;
        _cleanup_error_ tf_error *e = NULL;
        const char *name = tf_http_request_param(req, "name");
        if (!tf_http_valid_name(name))
                return bad_name(resp, "service name", name);
        unsigned n = 0;
        int r = tf_manager_stop(m, name, &n, &e);
        if (r < 0)
                return from_errno(resp, r, e);
        tf_http_respond_json(resp, 200, json_pack("{s:s,s:I}", "service", name, "stopping", (json_int_t) n));
        return TF_HTTP_DONE;
}

static int set_enabled(struct tf_http_request *req, struct tf_http_response *resp, void *userdata, bool en) {
        struct tf_manager *m = userdata;
        _cleanup_error_ tf_error *e = NULL;
        const char *name = tf_http_request_param(req, "name");
        if (!tf_http_valid_name(name))
                return bad_name(resp, "service name", name);
        int r = tf_manager_set_enabled(m, name, en, &e);
        if (r < 0)
                return from_errno(resp, r, e);
        tf_http_respond_json(resp, 200, tf_manager_service_json(m, name));
        return TF_HTTP_DONE;
}

static int h_enable(struct tf_http_request *req, struct tf_http_response *resp, void *userdata) {
        return set_enabled(req, resp, userdata, true);
}

static int h_disable(struct tf_http_request *req, struct tf_http_response *resp, void *userdata) {
        return set_enabled(req, resp, userdata, false);
}

static int h_reload(struct tf_http_request *req, struct tf_http_response *resp, void *userdata) {
        json_t *o = tf_manager_reload(userdata);
        /* Nothing was reloaded (the settings do not read, DIR cannot be listed): an error, which `tfrun
         * reload` reports with a non-zero exit. Broken spec files are part of a reload that happened. */
        tf_http_respond_json(resp, json_object_get(o, "error") ? 422 : 200, o);
        return TF_HTTP_DONE;
}

struct run_list {
        tf_store *store;
        json_t *runs;
};

/* A listing's run, with its steps (without their outputs: GET runs/ID has those). */
static int add_run(const struct tf_store_run *run, void *userdata) {
        struct run_list *l = userdata;
        json_t *o = tf_api_run_json(run);
        tf_api_run_add_steps(o, l->store, run->run_id, false);
        json_array_append_new(l->runs, o);
        return 0;
}

static int h_runs(struct tf_http_request *req, struct tf_http_response *resp, void *userdata) {
        struct tf_manager *m = userdata;
        _cleanup_error_ tf_error *e = NULL;
        struct tf_store_filter f = { .limit = 20 };
        const char *v;
        if ((v = tf_http_request_query(req, "service"))) {
                if (!tf_http_valid_name(v))
                        return bad_name(resp, "service name", v);
                f.service = v;
        }
        if ((v = tf_http_request_query(req, "status"))) {
                static const char *const ok[] = { "running", "success", "failure", "timeout", "oom",
                                                  "cancelled", "skipped", "lost" };
                bool found = false;
                for (size_t i = 0; i < ELEMENTSOF(ok); i++)
                        found |= streq(v, ok[i]);
                if (!found) {
                        tf_http_respond_error(resp, 400,
                                              "invalid status '%.40s': expected running, success, failure, "
                                              "timeout, oom, cancelled, skipped or lost",
                                              v);
                        return TF_HTTP_DONE;
                }
                f.status = v;
        }
        if ((v = tf_http_request_query(req, "since_usec"))) {
                uint64_t u;
                if (tf_parse_u64(v, &u) < 0) {
                        tf_http_respond_error(resp, 400, "invalid since_usec '%.40s': expected microseconds", v);
                        return TF_HTTP_DONE;
                }
                f.since_usec = u;
        }
        if ((v = tf_http_request_query(req, "limit"))) {
                uint64_t u;
                if (tf_parse_u64(v, &u) < 0 || u == 0 || u > TF_STORE_QUERY_MAX) {
                        tf_http_respond_error(resp, 400, "invalid limit '%.40s': expected 1..%u", v,
                                              TF_STORE_QUERY_MAX);
                        return TF_HTTP_DONE;
                }
                f.limit = (unsigned) u;
        }
        if ((v = tf_http_request_query(req, "before"))) {
                if (!tf_http_valid_run_id(v))
                        return bad_name(resp, "run id", v);
                f.before = v;
        }
        f.services = tf_auth_services(req);
        struct run_list l = { tf_manager_store(m), json_array() };
        int r = tf_store_query(l.store, &f, add_run, &l, &e);
        if (r < 0) {
                json_decref(l.runs);
                return from_errno(resp, r, e);
        }
        tf_http_respond_json(resp, 200, json_pack("{s:o}", "runs", l.runs));
        return TF_HTTP_DONE;
}

static int h_run(struct tf_http_request *req, struct tf_http_response *resp, void *userdata) {
        struct tf_manager *m = userdata;
        _cleanup_error_ tf_error *e = NULL;
        const char *id = tf_http_request_param(req, "id");
        if (!tf_http_valid_run_id(id))
                return bad_name(resp, "run id", id);
        struct tf_store_run *run = NULL;
        int r = tf_store_get_run(tf_manager_store(m), id, &run, &e);
        if (r == -ENOENT) {
                tf_http_respond_error(resp, 404, "no run '%s' in the history (see `tfrun history`)", id);
                return TF_HTTP_DONE;
        }
        if (r < 0)
                return from_errno(resp, r, e);
        json_t *o = tf_api_run_json(run);
        tf_api_run_add_steps(o, tf_manager_store(m), run->run_id, true);
        tf_http_respond_json(resp, 200, o);
        free(run);
        return TF_HTTP_DONE;
}

/* POST runs/{id}/retry, the step to rerun from in the body ({"from": "b"}) or the query (?from=b). */
static int h_retry(struct tf_http_request *req, struct tf_http_response *resp, void *userdata) {
        struct tf_manager *m = userdata;
        _cleanup_error_ tf_error *e = NULL;
        const char *id = tf_http_request_param(req, "id");
        if (!tf_http_valid_run_id(id))
                return bad_name(resp, "run id", id);
        json_t *body = NULL;
        if (tf_http_request_json(req, &body, &e) < 0) {
                tf_http_respond_error(resp, 400, "the body: %s", e->msg);
                return TF_HTTP_DONE;
        }
        _cleanup_(json_decrefp) json_t *bodyp = body;
        const char *from = tf_http_request_query(req, "from");
        json_t *jf = json_object_get(body, "from");
        if (jf && !json_is_null(jf)) {
                if (!json_is_string(jf)) {
                        tf_http_respond_error(resp, 400, "invalid \"from\": expected a step's name (a string)");
                        return TF_HTTP_DONE;
                }
                if (from && !streq(from, json_string_value(jf))) {
                        tf_http_respond_error(resp, 400, "from is given twice (body and query), differently");
                        return TF_HTTP_DONE;
                }
                from = json_string_value(jf);
        }
        if (from && !tf_http_valid_name(from))
                return bad_name(resp, "step name", from);
        json_t *o = NULL;
        int r = tf_manager_retry(m, id, from, &o, &e);
        if (r < 0)
                return from_errno(resp, r, e);
        tf_http_respond_json(resp, 200, o);
        return TF_HTTP_DONE;
}

/* --- logs --- */

/* The last n lines of fd's file (from offset 0): the offset where they begin. Reads backwards in blocks. */
static off_t tail_offset(int fd, unsigned n) {
        off_t end = lseek(fd, 0, SEEK_END);
        if (end <= 0 || n == 0)
                return end < 0 ? 0 : end;
        char buf[8192];
        off_t pos = end;
        unsigned lines = 0;
        bool first = true;
        while (pos > 0) {
                size_t k = pos > (off_t) sizeof(buf) ? sizeof(buf) : (size_t) pos;
                pos -= (off_t) k;
                if (pread(fd, buf, k, pos) != (ssize_t) k)
                        return 0;
                for (size_t i = k; i-- > 0;) {
                        if (buf[i] != '\n')
                                continue;
                        /* The newline that ends the file ends the last line; it does not start one. */
                        if (first && pos + (off_t) i == end - 1) {
                                first = false;
                                continue;
                        }
                        first = false;
                        if (++lines == n)
                                return pos + (off_t) i + 1;
                }
        }
        return 0;
}

struct follow {
        struct tf_manager *m;
        struct tf_http_stream *st;
        struct tf_source *timer;
        int fd;
        off_t off;
        char *run_id;
        char *step; /* NULL: the run's own log */
};

/* What is followed still writes: the run goes on, and for a step, the step too (from the history). */
static bool follow_going(struct follow *f) {
        if (!tf_manager_run_is_running(f->m, f->run_id))
                return false;
        if (!f->step)
                return true;
        _cleanup_error_ tf_error *e = NULL;
        _cleanup_free_ struct tf_store_step *st = NULL;
        return tf_store_get_step(tf_manager_store(f->m), f->run_id, f->step, &st, &e) == 0 &&
               streq(st->status, "running");
}

static void follow_free(struct follow *f) {
        tf_source_remove(f->timer);
        if (f->fd >= 0)
                close(f->fd);
        free(f->run_id);
        free(f->step);
        free(f);
}

static void follow_gone(void *userdata) {
        follow_free(userdata);
}

/* Copy what the file gained since the last look; a bounded amount per tick. Returns -1 when the stream
 * was cut (the follower is freed by then). */
static int follow_pump(struct follow *f) {
        char buf[16384];
        for (int i = 0; i < 16; i++) {
                ssize_t n = pread(f->fd, buf, sizeof(buf), f->off);
                if (n <= 0)
                        break;
                f->off += n;
                if (tf_http_stream_write(f->st, buf, (size_t) n) < 0)
                        return -1; /* cut off: gone has run */
        }
        return 0;
}

static int on_follow_tick(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        struct follow *f = userdata;
        if (follow_pump(f) < 0)
                return 0;
        /* The run is over and everything it wrote is out: the stream ends. */
        if (!follow_going(f)) {
                if (follow_pump(f) < 0)
                        return 0;
                struct tf_http_stream *st = f->st;
                f->st = NULL;
                tf_source_remove(f->timer);
                f->timer = NULL;
                tf_http_stream_end(st);
                follow_free(f);
                return 0;
        }
        tf_source_set_time(f->timer, tf_now(CLOCK_MONOTONIC) + FOLLOW_POLL_USEC);
        return 0;
}

static int h_log(struct tf_http_request *req, struct tf_http_response *resp, void *userdata) {
        struct tf_manager *m = userdata;
        _cleanup_error_ tf_error *e = NULL;
        const char *id = tf_http_request_param(req, "id");
        if (!tf_http_valid_run_id(id))
                return bad_name(resp, "run id", id);
        unsigned tail = 0;
        const char *v = tf_http_request_query(req, "tail");
        if (v) {
                uint64_t u;
                if (tf_parse_u64(v, &u) < 0 || u > TAIL_MAX_LINES) {
                        tf_http_respond_error(resp, 400, "invalid tail '%.40s': expected 0..%u lines", v,
                                              TAIL_MAX_LINES);
                        return TF_HTTP_DONE;
                }
                tail = (unsigned) u;
        }
        v = tf_http_request_query(req, "follow");
        bool follow = v && (streq(v, "") || streq(v, "1") || streq(v, "true"));
        /* A step's name is checked before the history is asked: it never reaches a path at all (the log's
         * path is the one the history recorded for the step). */
        const char *step = tf_http_request_query(req, "step");
        if (step && !tf_http_valid_name(step))
                return bad_name(resp, "step name", step);
        struct tf_store_run *run = NULL;
        int r = tf_store_get_run(tf_manager_store(m), id, &run, &e);
        if (r == -ENOENT) {
                tf_http_respond_error(resp, 404, "no run '%s' in the history (see `tfrun history`)", id);
                return TF_HTTP_DONE;
        }
        if (r < 0)
                return from_errno(resp, r, e);
        _cleanup_free_ struct tf_store_run *runp = run;
        _cleanup_free_ struct tf_store_step *srow = NULL;
        const char *log_path = run->log_path;
        if (step) {
                r = tf_store_get_step(tf_manager_store(m), id, step, &srow, &e);
                if (r == -ENOENT) {
                        tf_http_respond_error(resp, 404, "run '%s' has no step '%s'%s", id, step,
                                              tf_store_steps(tf_manager_store(m), id, NULL, NULL, NULL) > 0
                                                      ? " (see `tfrun status` for its steps)"
                                                      : " (it is not a workflow run, or no step has started)");
                        return TF_HTTP_DONE;
                }
                if (r < 0)
                        return from_errno(resp, r, e);
                log_path = srow->log_path;
        }
        if (!log_path) {
                if (step)
                        tf_http_respond_error(resp, 404, "step '%s' of run '%s' has no log (%s)", step, id,
                                              srow->status);
                else
                        tf_http_respond_error(resp, 404, "run '%s' has no log", id);
                return TF_HTTP_DONE;
        }
        /* The path comes from the history the manager wrote, never from the request. */
        int fd = open(log_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0) {
                tf_http_respond_error(resp, errno == ENOENT ? 404 : 500, "run '%s': log %s: %s", id, log_path,
                                      strerror(errno));
                return TF_HTTP_DONE;
        }
        struct follow *f = tf_malloc0(sizeof(*f));
        f->m = m;
        f->fd = fd;
        f->run_id = tf_strdup(id);
        f->step = step ? tf_strdup(step) : NULL;
        f->off = tail ? tail_offset(fd, tail) : 0;
        f->st = tf_http_respond_stream(resp, 200, "text/plain; charset=utf-8");
        if (!f->st) {
                follow_free(f);
                return TF_HTTP_DONE;
        }
        tf_http_response_on_gone(resp, follow_gone, f);
        if (follow_pump(f) < 0)
                return TF_HTTP_DONE;
        if (follow && follow_going(f) &&
            tf_loop_add_timer(tf_manager_loop(m), CLOCK_MONOTONIC, tf_now(CLOCK_MONOTONIC) + FOLLOW_POLL_USEC,
                              on_follow_tick, f, &f->timer, &e) == 0)
                return TF_HTTP_DONE;
        struct tf_http_stream *st = f->st;
        f->st = NULL;
        tf_http_response_on_gone(resp, NULL, NULL);
        follow_free(f);
        tf_http_stream_end(st);
        return TF_HTTP_DONE;
}

static const struct tf_http_route routes[] = {
        { "GET", "/api/v1/services", h_services, TF_ROLE_READ },
        { "GET", "/api/v1/services/{name}", h_service, TF_ROLE_READ },
        { "POST", "/api/v1/services/{name}/trigger", h_trigger, TF_ROLE_OPERATE },
        { "POST", "/api/v1/services/{name}/stop", h_stop, TF_ROLE_OPERATE },
        { "POST", "/api/v1/services/{name}/enable", h_enable, TF_ROLE_OPERATE },
        { "POST", "/api/v1/services/{name}/disable", h_disable, TF_ROLE_OPERATE },
        { "POST", "/api/v1/reload", h_reload, TF_ROLE_ADMIN },
        { "GET", "/api/v1/queue", h_queue, TF_ROLE_READ },
        { "GET", "/api/v1/runs", h_runs, TF_ROLE_READ },
        { "GET", "/api/v1/runs/{id}", h_run, TF_ROLE_READ },
        { "GET", "/api/v1/runs/{id}/log", h_log, TF_ROLE_READ },
        { "POST", "/api/v1/runs/{id}/retry", h_retry, TF_ROLE_OPERATE },
        { "GET", "/api/v1/tokens", tf_auth_h_list, TF_ROLE_ADMIN },
        { "POST", "/api/v1/tokens", tf_auth_h_create, TF_ROLE_ADMIN },
        { "DELETE", "/api/v1/tokens/{name}", tf_auth_h_revoke, TF_ROLE_ADMIN },
        { "GET", "/metrics", tf_metrics_h, TF_ROLE_READ },
        { "GET", "/api/v1/whoami", tf_auth_h_whoami, TF_ROLE_NONE },
        { "GET", "/", tf_ui_h, TF_ROLE_NONE },
        { "GET", "/ui/{file}", tf_ui_h, TF_ROLE_NONE },
        {},
};

const struct tf_http_route *tf_api_routes(void) {
        return routes;
}

static json_t *usec_time(uint64_t usec) {
        if (!usec)
                return json_null();
        char b[40];
        tf_format_utc_usec(b, sizeof(b), usec);
        return json_string(b);
}

json_t *tf_api_run_json(const struct tf_store_run *r) {
        json_t *o = json_object();
        json_object_set_new(o, "run_id", json_string(r->run_id));
        json_object_set_new(o, "service", json_string(r->service));
        json_object_set_new(o, "trigger", r->trigger ? json_string(r->trigger) : json_null());
        json_object_set_new(o, "attempt", json_integer(r->attempt));
        json_object_set_new(o, "status", r->status ? json_string(r->status) : json_null());
        json_object_set_new(o, "reason", r->reason ? json_string(r->reason) : json_null());
        json_object_set_new(o, "exit_code", r->exit_code >= 0 ? json_integer(r->exit_code) : json_null());
        json_object_set_new(o, "signal", r->signal ? json_integer(r->signal) : json_null());
        json_object_set_new(o, "oom", json_boolean(r->oom));
        json_object_set_new(o, "scheduled", usec_time(r->scheduled_usec));
        json_object_set_new(o, "started", usec_time(r->started_usec));
        json_object_set_new(o, "ended", usec_time(r->ended_usec));
        json_object_set_new(o, "scheduled_usec",
                            r->scheduled_usec ? json_integer((json_int_t) r->scheduled_usec) : json_null());
        json_object_set_new(o, "started_usec", json_integer((json_int_t) r->started_usec));
        json_object_set_new(o, "ended_usec", r->ended_usec ? json_integer((json_int_t) r->ended_usec) : json_null());
        json_object_set_new(o, "peak_memory",
                            r->peak_memory != TF_STORE_UNKNOWN ? json_integer(r->peak_memory) : json_null());
        json_object_set_new(o, "cpu_usec", r->cpu_usec != TF_STORE_UNKNOWN ? json_integer(r->cpu_usec) : json_null());
        json_object_set_new(o, "backend", r->backend ? json_string(r->backend) : json_null());
        json_object_set_new(o, "log_path", r->log_path ? json_string(r->log_path) : json_null());
        json_object_set_new(o, "retry_of", r->retry_of ? json_string(r->retry_of) : json_null());
        return o;
}

struct steps_json {
        json_t *a;
        bool outputs;
};

static int add_step(const struct tf_store_step *st, void *userdata) {
        struct steps_json *w = userdata;
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(st->name));
        json_object_set_new(o, "position", json_integer(st->order));
        json_object_set_new(o, "status", json_string(st->status));
        json_object_set_new(o, "reason", st->reason ? json_string(st->reason) : json_null());
        json_object_set_new(o, "why", st->why ? json_string(st->why) : json_null());
        json_object_set_new(o, "exit_code", st->exit_code >= 0 ? json_integer(st->exit_code) : json_null());
        json_object_set_new(o, "signal", st->signal ? json_integer(st->signal) : json_null());
        json_object_set_new(o, "oom", json_boolean(st->oom));
        json_object_set_new(o, "peak_memory",
                            st->peak_memory != TF_STORE_UNKNOWN ? json_integer(st->peak_memory) : json_null());
        json_object_set_new(o, "started", usec_time(st->started_usec));
        json_object_set_new(o, "ended", usec_time(st->ended_usec));
        json_object_set_new(o, "started_usec", json_integer((json_int_t) st->started_usec));
        json_object_set_new(o, "ended_usec", st->ended_usec ? json_integer((json_int_t) st->ended_usec) : json_null());
        json_object_set_new(o, "log_path", st->log_path ? json_string(st->log_path) : json_null());
        json_object_set_new(o, "output_size",
                            st->output_size != TF_STORE_UNKNOWN ? json_integer(st->output_size) : json_null());
        if (w->outputs) {
                /* JSON holds text: an output that is not UTF-8 is null here (output_size says it exists). */
                json_t *out = st->output ? json_stringn(st->output, st->output_len) : NULL;
                json_object_set_new(o, "output", out ? out : json_null());
        }
        json_array_append_new(w->a, o);
        return 0;
}

void tf_api_run_add_steps(json_t *run, tf_store *store, const char *run_id, bool outputs) {
        _cleanup_error_ tf_error *e = NULL;
        struct steps_json w = { json_array(), outputs };
        if (tf_store_steps(store, run_id, add_step, &w, &e) < 0)
                json_object_set_new(run, "steps_error", json_string(e->msg));
        json_object_set_new(run, "steps", w.a);
}
