/* SPDX-License-Identifier: MIT */
/*
 * Alerts (manager/alerts.h). The webhook transport follows docker/async.c: one multi handle driven by
 * curl_multi_socket_action() from the loop's sources (CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION only record
 * what to watch), completions read with curl_multi_info_read() after it returned, where handles may be
 * removed. A delivery's retry is a loop timer; every attempt is signed afresh (its timestamp is part of
 * what is signed, so a receiver may refuse old ones).
 */
#include "manager/alerts.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "base/cleanup.h"
#include "base/parse.h"
#include "base/sha256.h"
#include "base/strutil.h"
#include "base/timeutil.h"
#include "config.h"
#include "runner/log.h"

#define BUCKETS 256u
/* Between attempts: 1 s, doubled each time, at most a minute. */
#define RETRY_INITIAL_USEC TF_USEC_PER_SEC
#define RETRY_MAX_USEC (60 * TF_USEC_PER_SEC)
/* What is kept of a receiver's answer: nothing is read from it but its status. */
#define ANSWER_MAX 4096u
/* Deliveries at once (a flapping service with a dead receiver must not grow this without end). */
#define PENDING_MAX 1000u

enum { NOTIFIER_WEBHOOK, NOTIFIER_COMMAND };

struct asvc {
        char *name;
        struct tf_service *svc; /* borrowed; NULL once gone */
        struct tf_alerts *a;
        bool seeded;
        bool failing;               /* the last job ended in a failure (for recovery) */
        uint64_t last_success_usec; /* 0: none known */
        uint64_t started_for;       /* the newest fire time a run started for */
        uint64_t missed_for;        /* the newest fire time a missed alert was sent for */
        uint64_t deadman_for;       /* the fire time the dead-man timer is armed for; 0: none */
        struct tf_source *deadman, *stale;
        bool stale_alerted;
        struct tf_alert_counters n;
        struct asvc *next;
};

struct delivery {
        struct tf_alerts *a;
        struct asvc *as; /* counters only; services are never freed before the alerts */
        enum tf_alert kind;
        char *what;   /* for messages: "web: failure alert for web-12-3" */
        char *url;    /* copies: a reload may free the spec meanwhile */
        char *origin; /* scheme://host[:port] of url: what messages name (a URL may hold a token) */
        char *secret;
        size_t secret_len;
        char *body;
        unsigned attempt, attempts;
        uint64_t timeout_usec;
        CURL *easy;
        struct curl_slist *hdrs;
        char errbuf[CURL_ERROR_SIZE];
        size_t answer_bytes;
        struct tf_source *retry;
        struct delivery *next;
};

struct watch {
        int fd;
        struct tf_source *src;
};

struct command {
        struct tf_alerts *a;
        struct asvc *as;
        struct tf_spec *spec;
        struct tf_run *run;
        char *what;
        struct command *next;
};

struct tf_alerts {
        struct tf_run_ctx *ctx;
        struct tf_loop *loop;
        const struct tf_run_options *ro;
        tf_store *store;
        const struct tf_notify *dflt;
        uint64_t started_usec;
        CURLM *multi;
        struct watch *watches;
        size_t n_watches;
        struct tf_source *timer;
        struct delivery *deliveries;
        unsigned n_pending;
        struct command *commands;
        struct asvc *bucket[BUCKETS];
};

static size_t hash_name(const char *s) {
        uint64_t h = 1469598103934665603ULL;
        for (; *s; s++) {
                h ^= (unsigned char)*s;
                h *= 1099511628211ULL;
        }
        return (size_t)(h & (BUCKETS - 1));
}

static struct asvc *find(struct tf_alerts *a, const char *name) {
        for (struct asvc *s = a->bucket[hash_name(name)]; s; s = s->next)
                if (streq(s->name, name))
                        return s;
        return NULL;
}

static struct asvc *get(struct tf_alerts *a, const char *name) {
        struct asvc *s = find(a, name);
        if (s)
                return s;
        size_t b = hash_name(name);
        s = tf_malloc0(sizeof(*s));
        s->name = tf_strdup(name);
        s->a = a;
        s->next = a->bucket[b];
        a->bucket[b] = s;
        return s;
}

static const struct tf_notify *notify_of(struct tf_alerts *a, const struct tf_spec *spec) {
        if (spec->notify.present)
                return &spec->notify;
        return a->dflt;
}

static bool wants(const struct tf_notify *n, enum tf_alert k) {
        return n && (n->on & TF_ALERT_BIT(k));
}

/* ---- libcurl on the loop ---- */

static void drive(struct tf_alerts *a, curl_socket_t fd, int ev);

static int on_io(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        struct tf_alerts *a = userdata;
        int ev = ((events & EPOLLIN) ? CURL_CSELECT_IN : 0) | ((events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                 ((events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
        drive(a, fd, ev);
        return 0;
}

static int on_curl_timer(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        struct tf_alerts *a = userdata;
        drive(a, CURL_SOCKET_TIMEOUT, 0);
        return 0;
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
        struct tf_alerts *a = userp;
        for (size_t i = 0; i < a->n_watches; i++)
                if (a->watches[i].fd == fd) {
                        tf_source_remove(a->watches[i].src);
                        a->watches[i] = a->watches[--a->n_watches];
                        break;
                }
        if (what == CURL_POLL_REMOVE)
                return 0;
        uint32_t ev = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
        _cleanup_error_ tf_error *e = NULL;
        struct tf_source *src = NULL;
        if (tf_loop_add_io(a->loop, fd, ev, on_io, a, &src, &e) < 0) {
                tf_log("warning: alerts: watching a webhook's socket: %s", e->msg);
                return -1; /* the transfers on it fail, and complete with the error */
        }
        a->watches = tf_realloc(a->watches, (a->n_watches + 1) * sizeof(*a->watches));
        a->watches[a->n_watches++] = (struct watch){.fd = fd, .src = src};
        return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp) {
        struct tf_alerts *a = userp;
        if (timeout_ms < 0) {
                tf_source_remove(a->timer);
                a->timer = NULL;
                return 0;
        }
        uint64_t at = tf_loop_now(a->loop, CLOCK_MONOTONIC) + (uint64_t)timeout_ms * 1000;
        if (a->timer)
                return tf_source_set_time(a->timer, at) < 0 ? -1 : 0;
        _cleanup_error_ tf_error *e = NULL;
        return tf_loop_add_timer(a->loop, CLOCK_MONOTONIC, at, on_curl_timer, a, &a->timer, &e) < 0 ? -1 : 0;
}

static size_t discard_cb(char *buf, size_t size, size_t n, void *userdata) {
        struct delivery *d = userdata;
        d->answer_bytes += size * n;
        /* A receiver that streams an endless answer is cut off: its status is all that matters. */
        return d->answer_bytes > ANSWER_MAX ? 0 : size * n;
}

/* ---- deliveries ---- */

static void delivery_free(struct delivery *d) {
        struct tf_alerts *a = d->a;
        for (struct delivery **p = &a->deliveries; *p; p = &(*p)->next)
                if (*p == d) {
                        *p = d->next;
                        a->n_pending--;
                        break;
                }
        if (d->easy) {
                curl_multi_remove_handle(a->multi, d->easy);
                curl_easy_cleanup(d->easy);
        }
        curl_slist_free_all(d->hdrs);
        tf_source_remove(d->retry);
        if (d->secret)
                explicit_bzero(d->secret, d->secret_len);
        free(d->secret);
        free(d->what);
        free(d->url);
        free(d->origin);
        free(d->body);
        free(d);
}

static void attempt(struct delivery *d);

static int on_retry(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        struct delivery *d = userdata;
        tf_source_remove(src);
        d->retry = NULL;
        attempt(d);
        return 0;
}

/* One attempt ended (ok, or why not): the next attempt after its delay, or the end of the delivery. */
static void attempt_done(struct delivery *d, bool ok, const char *why) {
        struct asvc *as = d->as;
        as->n.attempts[NOTIFIER_WEBHOOK][ok ? 0 : 1]++;
        if (d->easy) {
                curl_multi_remove_handle(d->a->multi, d->easy);
                curl_easy_cleanup(d->easy);
                d->easy = NULL;
        }
        curl_slist_free_all(d->hdrs);
        d->hdrs = NULL;
        if (ok) {
                as->n.deliveries[NOTIFIER_WEBHOOK][0]++;
                tf_log("%s: delivered to %s (attempt %u)", d->what, d->origin, d->attempt);
                delivery_free(d);
                return;
        }
        if (d->attempt >= d->attempts) {
                as->n.deliveries[NOTIFIER_WEBHOOK][1]++;
                tf_log("warning: %s: webhook %s: %s; gave up after %u attempt%s", d->what, d->origin, why,
                       d->attempt, d->attempt == 1 ? "" : "s");
                delivery_free(d);
                return;
        }
        uint64_t delay = RETRY_INITIAL_USEC;
        for (unsigned i = 1; i < d->attempt && delay < RETRY_MAX_USEC; i++)
                delay *= 2;
        if (delay > RETRY_MAX_USEC)
                delay = RETRY_MAX_USEC;
        char b[32];
        tf_log("warning: %s: webhook %s: %s; attempt %u of %u in %s", d->what, d->origin, why,
               d->attempt + 1, d->attempts, tf_format_duration(b, sizeof(b), delay));
        _cleanup_error_ tf_error *e = NULL;
        if (tf_loop_add_timer(d->a->loop, CLOCK_MONOTONIC, tf_loop_now(d->a->loop, CLOCK_MONOTONIC) + delay,
                              on_retry, d, &d->retry, &e) < 0) {
                as->n.deliveries[NOTIFIER_WEBHOOK][1]++;
                tf_log("warning: %s: no retry: %s", d->what, e->msg);
                delivery_free(d);
        }
}

static void drive(struct tf_alerts *a, curl_socket_t fd, int ev) {
        int running = 0;
        CURLMcode mc = curl_multi_socket_action(a->multi, fd, ev, &running);
        if (mc != CURLM_OK)
                tf_log("warning: alerts: %s", curl_multi_strerror(mc));
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(a->multi, &left))) {
                if (m->msg != CURLMSG_DONE)
                        continue;
                struct delivery *d = NULL;
                CURLcode cc = m->data.result;
                curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&d);
                long code = 0;
                curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
                char why[CURL_ERROR_SIZE + 64];
                if (cc == CURLE_WRITE_ERROR && d->answer_bytes > ANSWER_MAX && code >= 200 && code < 300)
                        cc = CURLE_OK; /* the status came; the rest was cut off on purpose */
                if (cc != CURLE_OK)
                        snprintf(why, sizeof(why), "%s", d->errbuf[0] ? d->errbuf : curl_easy_strerror(cc));
                else
                        snprintf(why, sizeof(why), "answered %ld", code);
                attempt_done(d, cc == CURLE_OK && code >= 200 && code < 300, why);
        }
}

static void attempt(struct delivery *d) {
        struct tf_alerts *a = d->a;
        d->attempt++;
        d->answer_bytes = 0;
        d->errbuf[0] = 0;
        d->easy = curl_easy_init();
        if (!d->easy)
                tf_oom();
        /* Signed afresh: the timestamp is the attempt's, and part of what is signed. */
        char ts[32], hdr[64 + 2 * TF_SHA256_SIZE];
        snprintf(ts, sizeof(ts), "%" PRIu64, tf_now(CLOCK_REALTIME) / TF_USEC_PER_SEC);
        snprintf(hdr, sizeof(hdr), "X-Tfrun-Timestamp: %s", ts);
        d->hdrs = curl_slist_append(d->hdrs, "Content-Type: application/json");
        d->hdrs = curl_slist_append(d->hdrs, hdr);
        snprintf(hdr, sizeof(hdr), "X-Tfrun-Alert: %s", tf_alert_name(d->kind));
        d->hdrs = curl_slist_append(d->hdrs, hdr);
        d->hdrs = curl_slist_append(d->hdrs, "Expect:"); /* no 100-continue round trip */
        if (d->secret) {
                _cleanup_free_ char *msg = tf_asprintf("%s.%s", ts, d->body);
                uint8_t mac[TF_SHA256_SIZE];
                char hex[2 * TF_SHA256_SIZE + 1];
                tf_hmac_sha256(d->secret, d->secret_len, msg, strlen(msg), mac);
                tf_hex(mac, sizeof(mac), hex);
                snprintf(hdr, sizeof(hdr), "X-Tfrun-Signature: sha256=%s", hex);
                d->hdrs = curl_slist_append(d->hdrs, hdr);
                explicit_bzero(mac, sizeof(mac));
        }
        if (!d->hdrs)
                tf_oom();
        CURL *e = d->easy;
        curl_easy_setopt(e, CURLOPT_URL, d->url);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, d->hdrs);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, d->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(d->body));
        curl_easy_setopt(e, CURLOPT_USERAGENT, "tfrun/" TF_VERSION);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(d->timeout_usec / 1000));
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_cb);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, d);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, d->errbuf);
        curl_easy_setopt(e, CURLOPT_PRIVATE, d);
        CURLMcode mc = curl_multi_add_handle(a->multi, e);
        if (mc != CURLM_OK)
                attempt_done(d, false, curl_multi_strerror(mc));
}

static char *origin_of(const char *url) {
        const char *p = strstr(url, "://");
        p = p ? p + 3 : url;
        size_t n = strcspn(p, "/?#");
        /* user:password@ is not shown either */
        const char *at = memchr(p, '@', n);
        if (at) {
                n -= (size_t)(at + 1 - p);
                p = at + 1;
        }
        return tf_asprintf("%.*s%.*s", (int)(strstr(url, "://") ? strstr(url, "://") + 3 - url : 0), url,
                           (int)n, p);
}

static void webhook(struct tf_alerts *a, struct asvc *as, const struct tf_notify *n, enum tf_alert kind,
                    const char *what, json_t *body) {
        if (a->n_pending >= PENDING_MAX) {
                as->n.deliveries[NOTIFIER_WEBHOOK][1]++;
                tf_log("warning: %s: dropped: %u webhook deliveries are already waiting", what,
                       a->n_pending);
                return;
        }
        struct delivery *d = tf_malloc0(sizeof(*d));
        d->a = a;
        d->as = as;
        d->kind = kind;
        d->what = tf_strdup(what);
        d->url = tf_strdup(n->webhook.url);
        d->origin = origin_of(n->webhook.url);
        if (n->webhook.secret) {
                d->secret = tf_malloc0(n->webhook.secret_len + 1);
                memcpy(d->secret, n->webhook.secret, n->webhook.secret_len);
                d->secret_len = n->webhook.secret_len;
        }
        d->body = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
        if (!d->body)
                tf_oom();
        d->attempts = n->webhook.attempts ? n->webhook.attempts : TF_NOTIFY_ATTEMPTS_DEFAULT;
        d->timeout_usec = n->webhook.timeout_usec ? n->webhook.timeout_usec : 10 * TF_USEC_PER_SEC;
        d->next = a->deliveries;
        a->deliveries = d;
        a->n_pending++;
        attempt(d);
}

/* ---- commands ---- */

static void command_done(struct tf_run *r, void *userdata) {
        struct command *c = userdata;
        struct tf_alerts *a = c->a;
        bool ok = r->result.exit_status == 0;
        c->as->n.attempts[NOTIFIER_COMMAND][ok ? 0 : 1]++;
        c->as->n.deliveries[NOTIFIER_COMMAND][ok ? 0 : 1]++;
        if (ok)
                tf_log("%s: command %s done", c->what, c->spec->argv[0]);
        else
                tf_log("warning: %s: command %s failed: %s (status %d)", c->what, c->spec->argv[0],
                       r->result.error ? r->result.error : tf_run_reason_name(r->result.reason),
                       r->result.exit_status);
        for (struct command **p = &a->commands; *p; p = &(*p)->next)
                if (*p == c) {
                        *p = c->next;
                        break;
                }
        tf_run_free(r);
        tf_spec_free(c->spec);
        free(c->what);
        free(c);
        tf_loop_release(a->loop);
}

static void env_add(char ***v, const char *k, const char *val) {
        _cleanup_free_ char *kv = tf_asprintf("%s=%s", k, val ? val : "");
        tf_strv_push(v, kv);
}

static void command(struct tf_alerts *a, struct asvc *as, const struct tf_spec *spec,
                    const struct tf_notify *n, const char *what, char **env) {
        _cleanup_error_ tf_error *e = NULL;
        struct command *c = tf_malloc0(sizeof(*c));
        c->a = a;
        c->as = as;
        c->what = tf_strdup(what);
        tf_spec_notify_command(spec, n, &c->spec);
        if (tf_run_new(a->ctx, c->spec, a->ro, &c->run, &e) < 0) {
                as->n.attempts[NOTIFIER_COMMAND][1]++;
                as->n.deliveries[NOTIFIER_COMMAND][1]++;
                tf_log("warning: %s: command %s: %s", what, n->argv[0], e->msg);
                tf_spec_free(c->spec);
                free(c->what);
                free(c);
                return;
        }
        struct tf_run_extra x = {.env = env};
        tf_run_set_extra(c->run, &x);
        c->next = a->commands;
        a->commands = c;
        /* A manager asked to stop waits for its notifiers (each bounded by its timeout). */
        tf_loop_hold(a->loop);
        tf_run_start(c->run, command_done, c);
}

/* ---- raising an alert ---- */

static void fmt_time(char *b, size_t n, uint64_t usec) {
        if (usec)
                tf_format_utc_usec(b, n, usec);
        else
                snprintf(b, n, "%s", "");
}

/* body: the alert's JSON (taken). run: the run it is about (NULL for missed and stale). */
static void raise_alert(struct tf_alerts *a, struct asvc *as, const struct tf_spec *spec, enum tf_alert kind,
                        json_t *body, const struct tf_run *run, const char *status, const char *reason,
                        unsigned attempts, uint64_t scheduled_usec) {
        const struct tf_notify *n = notify_of(a, spec);
        as->n.raised[kind]++;
        char what[256];
        snprintf(what, sizeof(what), "%s: %s alert%s%s", spec->name, tf_alert_name(kind), run ? " for " : "",
                 run ? run->run_id : "");
        tf_log("%s (%s)", what, reason ? reason : status);
        char now[40], sched[40];
        fmt_time(now, sizeof(now), tf_now(CLOCK_REALTIME));
        fmt_time(sched, sizeof(sched), scheduled_usec);
        json_object_set_new(body, "alert", json_string(tf_alert_name(kind)));
        json_object_set_new(body, "service", json_string(spec->name));
        json_object_set_new(body, "time", json_string(now));
        json_object_set_new(body, "scheduled", scheduled_usec ? json_string(sched) : json_null());
        json_object_set_new(body, "scheduled_usec",
                            scheduled_usec ? json_integer((json_int_t)scheduled_usec) : json_null());
        if (n->webhook.url)
                webhook(a, as, n, kind, what, body);
        if (n->argv) {
                char **env = NULL;
                char b[32];
                env_add(&env, "TFRUN_ALERT", tf_alert_name(kind));
                env_add(&env, "TFRUN_SERVICE", spec->name);
                env_add(&env, "TFRUN_RUN_ID", run ? run->run_id : "");
                env_add(&env, "TFRUN_STATUS", status);
                env_add(&env, "TFRUN_REASON", reason);
                snprintf(b, sizeof(b), "%d", run ? run->result.exit_code : -1);
                env_add(&env, "TFRUN_EXIT_CODE", run ? b : "");
                snprintf(b, sizeof(b), "%u", attempts);
                env_add(&env, "TFRUN_ATTEMPTS", attempts ? b : "");
                env_add(&env, "TFRUN_SCHEDULED", sched);
                env_add(&env, "TFRUN_LOG", run && run->result.log_path ? run->result.log_path : "");
                command(a, as, spec, n, what, env);
                tf_strv_free(env);
        }
        json_decref(body);
}

/* ---- per service: history, the dead-man and stale timers ---- */

static void seed(struct tf_alerts *a, struct asvc *as) {
        if (as->seeded)
                return;
        as->seeded = true;
        _cleanup_error_ tf_error *e = NULL;
        struct tf_store_run *r = NULL;
        if (tf_store_last_run(a->store, as->name, NULL, &r, &e) == 0) {
                const char *st = r->status ? r->status : "";
                as->failing = streq(st, "failure") || streq(st, "timeout") || streq(st, "oom") ||
                              streq(st, "lost");
                free(r);
                r = NULL;
        }
        tf_error_free(e);
        e = NULL;
        if (tf_store_last_run(a->store, as->name, "success", &r, &e) == 0) {
                as->last_success_usec = r->ended_usec;
                free(r);
        }
}

static void arm(struct asvc *as);

/* How late a fire may start: the grace, after the randomized delay the schedule itself may add. */
static uint64_t grace_of(const struct tf_spec *spec, const struct tf_notify *n) {
        return n->missed_grace_usec + spec->schedule.randomized_delay_usec;
}

static void missed_alert(struct asvc *as, const char *reason, uint64_t scheduled_usec) {
        struct tf_alerts *a = as->a;
        const struct tf_spec *spec = tf_service_spec(as->svc);
        if (!wants(notify_of(a, spec), TF_ALERT_MISSED))
                return;
        if (scheduled_usec && as->missed_for >= scheduled_usec)
                return; /* said already (the dead-man timer, then the late start) */
        if (scheduled_usec)
                as->missed_for = scheduled_usec;
        json_t *o = json_pack("{s:s,s:n,s:s}", "status", "missed", "run_id", "reason", reason);
        raise_alert(a, as, spec, TF_ALERT_MISSED, o, NULL, "missed", reason, 0, scheduled_usec);
}

static int on_deadman(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        struct asvc *as = userdata;
        uint64_t due = as->deadman_for;
        tf_source_remove(as->deadman);
        as->deadman = NULL;
        if (events == 0 || !as->svc) {
                /* The clock was set: the fire times move; arm again from the service's next fire. */
                as->deadman_for = 0;
                if (as->svc)
                        arm(as);
                return 0;
        }
        /* Nothing armed any more (disabled, draining, left DIR): that fire was not owed. */
        if (tf_service_enabled(as->svc) && tf_service_next_fire(as->svc) && as->started_for < due) {
                const struct tf_notify *n = notify_of(as->a, tf_service_spec(as->svc));
                char g[32];
                _cleanup_free_ char *why =
                        tf_asprintf("no run started within %s of its time (missed.grace)",
                                    tf_format_duration(g, sizeof(g), n->missed_grace_usec));
                missed_alert(as, why, due);
        }
        arm(as);
        return 0;
}

static int on_stale(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        struct asvc *as = userdata;
        tf_source_remove(as->stale);
        as->stale = NULL;
        if (!as->svc)
                return 0;
        struct tf_alerts *a = as->a;
        const struct tf_spec *spec = tf_service_spec(as->svc);
        const struct tf_notify *n = notify_of(a, spec);
        uint64_t base = as->last_success_usec ? as->last_success_usec : a->started_usec;
        uint64_t now = tf_loop_now(a->loop, CLOCK_REALTIME);
        if (events != 0 && wants(n, TF_ALERT_STALE) && now >= base + n->stale_usec && !as->stale_alerted &&
            tf_service_enabled(as->svc)) {
                as->stale_alerted = true;
                char d[32], t[40];
                fmt_time(t, sizeof(t), as->last_success_usec);
                _cleanup_free_ char *why =
                        as->last_success_usec
                                ? tf_asprintf("no success for %s (the last at %s)",
                                              tf_format_duration(d, sizeof(d), n->stale_usec), t)
                                : tf_asprintf("no success for %s (none recorded)",
                                              tf_format_duration(d, sizeof(d), n->stale_usec));
                json_t *o = json_pack("{s:s,s:n,s:s}", "status", "stale", "run_id", "reason", why);
                json_object_set_new(o, "last_success", as->last_success_usec ? json_string(t) : json_null());
                raise_alert(a, as, spec, TF_ALERT_STALE, o, NULL, "stale", why, 0, 0);
                return 0; /* once, until the next success */
        }
        arm(as);
        return 0;
}

/* The dead-man timer at the armed fire plus the grace; the stale timer at the last success plus the age. */
static void arm(struct asvc *as) {
        struct tf_alerts *a = as->a;
        _cleanup_error_ tf_error *e = NULL;
        const struct tf_notify *n = as->svc ? notify_of(a, tf_service_spec(as->svc)) : NULL;
        uint64_t due = as->svc && wants(n, TF_ALERT_MISSED) ? tf_service_next_fire(as->svc) : 0;
        if (!due) {
                tf_source_remove(as->deadman);
                as->deadman = NULL;
                as->deadman_for = 0;
        } else if (due != as->deadman_for || !as->deadman) {
                as->deadman_for = due;
                if (as->deadman)
                        tf_source_set_time(as->deadman, due + grace_of(tf_service_spec(as->svc), n));
                else if (tf_loop_add_timer(a->loop, CLOCK_REALTIME,
                                           due + grace_of(tf_service_spec(as->svc), n), on_deadman, as,
                                           &as->deadman, &e) < 0)
                        tf_log("warning: %s: no missed-run alerts: %s", as->name, e->msg);
        }
        if (!wants(n, TF_ALERT_STALE) || as->stale_alerted) {
                tf_source_remove(as->stale);
                as->stale = NULL;
                return;
        }
        uint64_t base = as->last_success_usec ? as->last_success_usec : a->started_usec;
        uint64_t at = base + n->stale_usec;
        if (as->stale)
                tf_source_set_time(as->stale, at);
        else if (tf_loop_add_timer(a->loop, CLOCK_REALTIME, at, on_stale, as, &as->stale, &e) < 0)
                tf_log("warning: %s: no stale alerts: %s", as->name, e->msg);
}

/* ---- the hooks ---- */

void tf_alerts_service_set(struct tf_alerts *a, struct tf_service *svc) {
        const struct tf_spec *spec = tf_service_spec(svc);
        struct asvc *as = notify_of(a, spec) ? get(a, spec->name) : find(a, spec->name);
        if (!as)
                return;
        as->svc = svc;
        seed(a, as);
        arm(as);
}

void tf_alerts_service_unset(struct tf_alerts *a, struct tf_service *svc) {
        struct asvc *as = find(a, tf_service_spec(svc)->name);
        if (!as || as->svc != svc)
                return;
        as->svc = NULL;
        arm(as);
}

void tf_alerts_run_started(struct tf_alerts *a, struct tf_service *svc, const struct tf_run *r,
                           uint64_t scheduled_usec) {
        const struct tf_notify *n = notify_of(a, r->spec);
        struct asvc *as = find(a, r->spec->name);
        if (!as || !n)
                return;
        if (scheduled_usec > as->started_for) {
                as->started_for = scheduled_usec;
                uint64_t now = tf_loop_now(a->loop, CLOCK_REALTIME);
                if (wants(n, TF_ALERT_MISSED) && now > scheduled_usec + grace_of(r->spec, n)) {
                        char d[32];
                        _cleanup_free_ char *why =
                                tf_asprintf("started %s after its time (missed.grace)",
                                            tf_format_duration(d, sizeof(d), now - scheduled_usec));
                        missed_alert(as, why, scheduled_usec);
                }
        }
        arm(as);
}

void tf_alerts_fire_missed(struct tf_alerts *a, struct tf_service *svc, const char *reason,
                           uint64_t scheduled_usec) {
        struct asvc *as = find(a, tf_service_spec(svc)->name);
        if (!as || !as->svc)
                return;
        const char *why = streq(reason, "overlap")    ? "overlap: skipped, the previous run was still going"
                          : streq(reason, "downtime") ? "downtime: the fire came while no manager ran "
                                                        "(persistent: caught up now)"
                          : streq(reason, "admission")
                                  ? "admission: not admitted within admission.max_wait (the budget was full)"
                                  : reason;
        missed_alert(as, why, scheduled_usec);
        if (scheduled_usec > as->started_for && streq(reason, "overlap"))
                as->started_for = scheduled_usec; /* said: the dead-man timer has nothing to add */
        arm(as);
}

void tf_alerts_job_ended(struct tf_alerts *a, struct tf_service *svc, const struct tf_run *r,
                         const char *status, unsigned attempts) {
        const struct tf_spec *spec = r->spec;
        const struct tf_notify *n = notify_of(a, spec);
        struct asvc *as = find(a, spec->name);
        if (!as || !n)
                return;
        bool success = streq(status, "success");
        /* Stopped on request (tfrun stop, overlap: replace, the manager stopping): someone chose it. */
        bool failure = !success && !streq(status, "cancelled");
        bool was_failing = as->failing;
        if (success) {
                as->failing = false;
                as->last_success_usec = tf_now(CLOCK_REALTIME);
                as->stale_alerted = false;
        } else if (failure)
                as->failing = true;
        enum tf_alert kind = TF_ALERT_N;
        if (failure && wants(n, TF_ALERT_FAILURE))
                kind = TF_ALERT_FAILURE;
        else if (success && was_failing && wants(n, TF_ALERT_RECOVERY))
                kind = TF_ALERT_RECOVERY;
        else if (success && wants(n, TF_ALERT_SUCCESS))
                kind = TF_ALERT_SUCCESS;
        if (kind != TF_ALERT_N) {
                const struct tf_run_result *res = &r->result;
                json_t *o = json_object();
                json_object_set_new(o, "result",
                                    tf_run_result_json(spec->name, tf_backend_name(spec->resolved_backend),
                                                       r->run_id, res));
                json_object_set_new(o, "status", json_string(status));
                json_object_set_new(o, "run_id", json_string(r->run_id));
                json_object_set_new(o, "attempts", json_integer(attempts));
                const char *reason = res->error ? res->error : tf_run_reason_name(res->reason);
                json_object_set_new(o, "reason", json_string(reason));
                raise_alert(a, as, spec, kind, o, r, status, reason, attempts, 0);
        }
        arm(as);
}

/* ---- the object ---- */

int tf_alerts_new(struct tf_run_ctx *ctx, const struct tf_run_options *ro, tf_store *store,
                  struct tf_alerts **ret, tf_error **err) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return tf_error_set(err, EIO, "alerts: libcurl did not initialise");
        struct tf_alerts *a = tf_malloc0(sizeof(*a));
        a->ctx = ctx;
        a->loop = ctx->loop;
        a->ro = ro;
        a->store = store;
        a->started_usec = tf_now(CLOCK_REALTIME);
        a->multi = curl_multi_init();
        if (!a->multi)
                tf_oom();
        curl_multi_setopt(a->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
        curl_multi_setopt(a->multi, CURLMOPT_SOCKETDATA, a);
        curl_multi_setopt(a->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
        curl_multi_setopt(a->multi, CURLMOPT_TIMERDATA, a);
        *ret = a;
        return 0;
}

void tf_alerts_set_default(struct tf_alerts *a, const struct tf_notify *n) {
        a->dflt = n && n->present ? n : NULL;
}

void tf_alerts_free(struct tf_alerts *a) {
        if (!a)
                return;
        if (a->n_pending)
                tf_log("warning: alerts: %u webhook deliver%s dropped (the manager is stopping)",
                       a->n_pending, a->n_pending == 1 ? "y" : "ies");
        while (a->deliveries)
                delivery_free(a->deliveries);
        /* Commands still running (the loop is gone or going): their runs are freed, which kills them. */
        while (a->commands) {
                struct command *c = a->commands;
                a->commands = c->next;
                tf_run_free(c->run);
                tf_spec_free(c->spec);
                free(c->what);
                free(c);
        }
        for (size_t i = 0; i < a->n_watches; i++)
                tf_source_remove(a->watches[i].src);
        free(a->watches);
        tf_source_remove(a->timer);
        if (a->multi)
                curl_multi_cleanup(a->multi);
        for (size_t i = 0; i < BUCKETS; i++)
                while (a->bucket[i]) {
                        struct asvc *s = a->bucket[i];
                        a->bucket[i] = s->next;
                        tf_source_remove(s->deadman);
                        tf_source_remove(s->stale);
                        free(s->name);
                        free(s);
                }
        free(a);
}

const struct tf_alert_counters *tf_alerts_counters(struct tf_alerts *a, const char *service) {
        struct asvc *as = a ? find(a, service) : NULL;
        return as ? &as->n : NULL;
}

unsigned tf_alerts_pending(const struct tf_alerts *a) {
        return a ? a->n_pending : 0;
}
