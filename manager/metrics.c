/* SPDX-License-Identifier: MIT */
/*
 * The Prometheus exposition (manager/metrics.h). A scrape walks the services once into an array, reads the
 * history's totals in one query, and writes each metric family in one block (the format wants a family's
 * samples together, after its HELP and TYPE). Per-service state lives in a hash table by name, so that a
 * hook or a scrape costs no walk over a thousand services.
 */
#include "manager/metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/parse.h"
#include "base/strutil.h"
#include "base/timeutil.h"
#include "config.h"
#include "manager/alerts.h"
#include "manager/auth.h"
#include "manager/manager.h"
#include "runner/loop.h"

#define BUCKETS 1024u /* hash buckets; a power of two */

/* Duration histogram bounds, in seconds: from a tenth of a second to an hour. */
static const double bounds[] = {0.1, 0.5, 1, 5, 10, 30, 60, 300, 600, 1800, 3600};
static const char *const bound_labels[] = {"0.1", "0.5", "1",   "5",    "10",  "30",
                                           "60",  "300", "600", "1800", "3600"};
#define N_BOUNDS (sizeof(bounds) / sizeof(bounds[0]))
_Static_assert(N_BOUNDS == sizeof(bound_labels) / sizeof(bound_labels[0]), "one label per bound");

/* The history's result words, in the order they are shown. */
static const char *const results[] = {"success",   "failure", "timeout", "oom",
                                      "cancelled", "skipped", "lost"};
#define N_RESULTS (sizeof(results) / sizeof(results[0]))

struct svc_metrics {
        char *name;
        bool seeded;            /* last run / last success read from the history once */
        uint64_t last_run_usec; /* start of the newest run; 0: none */
        uint64_t last_success_usec;
        int last_exit; /* -1: unknown */
        uint64_t bucket[N_BOUNDS];
        uint64_t count;
        double sum;
        uint64_t retries, oom_kills, missed_overlap, missed_downtime, missed_admission;
        uint64_t totals[N_RESULTS]; /* scratch for a scrape */
        struct svc_metrics *next;
};

struct tf_metrics {
        tf_store *store;
        struct svc_metrics *bucket[BUCKETS];
};

int tf_metrics_new(tf_store *store, struct tf_metrics **ret) {
        struct tf_metrics *x = tf_malloc0(sizeof(*x));
        x->store = store;
        *ret = x;
        return 0;
}

void tf_metrics_free(struct tf_metrics *x) {
        if (!x)
                return;
        for (size_t i = 0; i < BUCKETS; i++)
                while (x->bucket[i]) {
                        struct svc_metrics *s = x->bucket[i];
                        x->bucket[i] = s->next;
                        free(s->name);
                        free(s);
                }
        free(x);
}

static size_t hash_name(const char *s) {
        uint64_t h = 1469598103934665603ULL;
        for (; *s; s++) {
                h ^= (unsigned char)*s;
                h *= 1099511628211ULL;
        }
        return (size_t)(h & (BUCKETS - 1));
}

/* The service's entry, made (and its last run and last success read from the history) on first use. */
static struct svc_metrics *get(struct tf_metrics *x, const char *name) {
        size_t b = hash_name(name);
        for (struct svc_metrics *s = x->bucket[b]; s; s = s->next)
                if (streq(s->name, name))
                        return s;
        struct svc_metrics *s = tf_malloc0(sizeof(*s));
        s->name = tf_strdup(name);
        s->last_exit = -1;
        s->next = x->bucket[b];
        x->bucket[b] = s;
        return s;
}

static void seed(struct tf_metrics *x, struct svc_metrics *s) {
        if (s->seeded)
                return;
        s->seeded = true;
        _cleanup_error_ tf_error *e = NULL;
        struct tf_store_run *r = NULL;
        if (tf_store_last_run(x->store, s->name, NULL, &r, &e) == 0) {
                if (!s->last_run_usec)
                        s->last_run_usec = r->started_usec;
                if (s->last_exit < 0 && r->ended_usec)
                        s->last_exit = r->exit_code >= 0 ? r->exit_code : r->signal ? 128 + r->signal : -1;
                free(r);
                r = NULL;
        }
        tf_error_free(e);
        e = NULL;
        if (!s->last_success_usec && tf_store_last_run(x->store, s->name, "success", &r, &e) == 0) {
                s->last_success_usec = r->ended_usec;
                free(r);
        }
}

void tf_metrics_run_started(struct tf_metrics *x, const char *service, enum tf_trigger trigger,
                            uint64_t started_usec) {
        struct svc_metrics *s = get(x, service);
        seed(x, s);
        s->last_run_usec = started_usec;
        if (trigger == TF_TRIGGER_RETRY)
                s->retries++;
}

void tf_metrics_run_ended(struct tf_metrics *x, const char *service, const struct tf_run_result *res,
                          const char *result, uint64_t ended_usec) {
        struct svc_metrics *s = get(x, service);
        seed(x, s);
        s->last_exit = res->exit_status;
        if (streq(result, "success"))
                s->last_success_usec = ended_usec;
        if (res->oom_kills != TF_UNSET && res->oom_kills > 0)
                s->oom_kills += res->oom_kills;
        else if (res->reason == TF_REASON_OOM_KILLED)
                s->oom_kills++;
        double d = (double)res->wall_usec / 1e6;
        for (size_t i = 0; i < N_BOUNDS; i++)
                if (d <= bounds[i])
                        s->bucket[i]++;
        s->count++;
        s->sum += d;
}

void tf_metrics_fire_missed(struct tf_metrics *x, const char *service, const char *reason) {
        struct svc_metrics *s = get(x, service);
        if (streq(reason, "overlap"))
                s->missed_overlap++;
        else if (streq(reason, "admission"))
                s->missed_admission++;
        else
                s->missed_downtime++;
}

/* --- the scrape --- */

static void family(FILE *f, const char *name, const char *type, const char *help);

/* The manager's budget (--config): its caps, what its cgroup uses now, what running runs reserve, and the
 * runs waiting for admission. Absent without settings. */
static void budget_metrics(FILE *f, struct tf_manager *m) {
        json_t *b = tf_manager_budget_json(m);
        if (!b)
                return;
        json_t *lim = json_object_get(b, "limits"), *use = json_object_get(b, "usage"), *held = json_object_get(b, "held");
        static const char *const res[] = { "memory", "cpus", "pids" };
        if (json_is_object(lim)) {
                family(f, "tfrun_budget_limit", "gauge",
                       "The budget's caps: memory in bytes, cpus, pids (the parent cgroup of every run).");
                for (size_t i = 0; i < ELEMENTSOF(res); i++) {
                        json_t *v = json_object_get(lim, res[i]);
                        if (json_is_number(v))
                                fprintf(f, "tfrun_budget_limit{resource=\"%s\"} %.17g\n", res[i], json_number_value(v));
                }
                family(f, "tfrun_budget_usage", "gauge", "What the budget's cgroup uses now: memory in bytes, pids.");
                for (size_t i = 0; i < ELEMENTSOF(res); i++) {
                        json_t *v = json_object_get(use, res[i]);
                        if (json_is_number(v))
                                fprintf(f, "tfrun_budget_usage{resource=\"%s\"} %.17g\n", res[i], json_number_value(v));
                }
                json_t *cpu = json_object_get(use, "cpu_seconds");
                if (json_is_number(cpu)) {
                        family(f, "tfrun_budget_cpu_seconds_total", "counter",
                               "CPU time used below the budget's cgroup since it was made.");
                        fprintf(f, "tfrun_budget_cpu_seconds_total %.17g\n", json_number_value(cpu));
                }
        }
        family(f, "tfrun_budget_reserved", "gauge", "What the running runs reserve of the budget: memory in bytes, cpus.");
        fprintf(f, "tfrun_budget_reserved{resource=\"memory\"} %.17g\n", json_number_value(json_object_get(held, "memory")));
        fprintf(f, "tfrun_budget_reserved{resource=\"cpus\"} %.17g\n", json_number_value(json_object_get(held, "cpus")));
        family(f, "tfrun_admission_waiting", "gauge", "Runs waiting for admission (budget, queue, pressure).");
        fprintf(f, "tfrun_admission_waiting %" JSON_INTEGER_FORMAT "\n", json_integer_value(json_object_get(b, "waiting")));
        family(f, "tfrun_preemptions_total", "counter", "Runs stopped to make room for a higher priority one (preemptible: true).");
        fprintf(f, "tfrun_preemptions_total %" JSON_INTEGER_FORMAT "\n", json_integer_value(json_object_get(b, "preemptions")));
        json_decref(b);
}

struct entry {
        const char *name;
        const struct tf_service *svc;
        struct svc_metrics *m;
};

struct walk {
        struct tf_metrics *x;
        struct tf_http_request *req;
        struct entry *v;
        size_t n, cap;
        unsigned states[6]; /* waiting, running, idle, disabled, broken, queued */
};

static const char *const state_names[] = {"waiting", "running", "idle", "disabled", "broken", "queued"};

static void on_entry(const char *name, const struct tf_service *svc, const char *state, void *userdata) {
        struct walk *w = userdata;
        if (name && !tf_auth_service_allowed(w->req, name))
                return;
        if (!name && tf_auth_services(w->req))
                return; /* a broken file is nobody's service */
        for (size_t i = 0; i < ELEMENTSOF(state_names); i++)
                if (streq(state, state_names[i]))
                        w->states[i]++;
        if (!name || !svc)
                return;
        if (w->n == w->cap) {
                w->cap = w->cap ? w->cap * 2 : 64;
                w->v = tf_realloc(w->v, w->cap * sizeof(*w->v));
        }
        struct svc_metrics *m = get(w->x, name);
        seed(w->x, m);
        memset(m->totals, 0, sizeof(m->totals));
        w->v[w->n++] = (struct entry){.name = name, .svc = svc, .m = m};
}

static int on_count(const char *service, const char *status, uint64_t total, void *userdata) {
        struct walk *w = userdata;
        size_t b = hash_name(service);
        struct svc_metrics *m = NULL;
        for (struct svc_metrics *s = w->x->bucket[b]; s; s = s->next)
                if (streq(s->name, service))
                        m = s;
        if (!m)
                return 0; /* not a service of DIR now (or not this token's) */
        for (size_t i = 0; i < N_RESULTS; i++)
                if (streq(status, results[i]))
                        m->totals[i] = total;
        return 0;
}

/* A label value: backslash, double quote and newline escaped (the format's three). Names are [a-z0-9_.-]
 * today; the escape keeps the output valid whatever a name may hold later. Appended at p (room for twice
 * v's length); returns the end. */
static char *label_at(char *p, const char *v) {
        for (;;) {
                size_t n = strcspn(v, "\\\"\n");
                memcpy(p, v, n);
                p += n;
                v += n;
                if (!*v)
                        return p;
                *p++ = '\\';
                *p++ = *v == '\n' ? 'n' : *v;
                v++;
        }
}

static void label(FILE *f, const char *v) {
        char b[256];
        size_t n = strlen(v);
        if (n <= sizeof(b) / 2) {
                fwrite_unlocked(b, 1, (size_t)(label_at(b, v) - b), f);
                return;
        }
        _cleanup_free_ char *h = tf_malloc0(2 * n + 1);
        fwrite_unlocked(h, 1, (size_t)(label_at(h, v) - h), f);
}

static void family(FILE *f, const char *name, const char *type, const char *help) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static char *append(char *p, const char *s, size_t n) {
        memcpy(p, s, n);
        return p + n;
}

/* One sample line, made in a buffer and written in one call: a scrape of a thousand services writes some
 * 27,000 of them, and stdio's per-call cost (a handful of calls per line through open_memstream) was half
 * of a scrape's time (perf, bench/manager.sh). */
static void sample_svc(FILE *f, const char *metric, const char *service, const char *extra_label,
                       const char *extra_value, const char *value) {
        size_t nm = strlen(metric), ns = strlen(service), nl = extra_label ? strlen(extra_label) : 0,
               ne = extra_label ? strlen(extra_value) : 0, nv = strlen(value);
        size_t need = nm + 2 * ns + nl + 2 * ne + nv + 32;
        char b[1024];
        _cleanup_free_ char *h = need > sizeof(b) ? tf_malloc0(need) : NULL;
        char *start = h ? h : b, *p = start;
        p = append(p, metric, nm);
        p = append(p, "{service=\"", 10);
        p = label_at(p, service);
        *p++ = '"';
        if (extra_label) {
                *p++ = ',';
                p = append(p, extra_label, nl);
                p = append(p, "=\"", 2);
                p = label_at(p, extra_value);
                *p++ = '"';
        }
        p = append(p, "} ", 2);
        p = append(p, value, nv);
        *p++ = '\n';
        fwrite_unlocked(start, 1, (size_t)(p - start), f);
}

/* Decimal digits of v, without printf's format parsing (tens of thousands per scrape). */
static const char *u64(char *b, size_t n, uint64_t v) {
        char *p = b + n;
        *--p = 0;
        do
                *--p = (char)('0' + v % 10);
        while ((v /= 10) && p > b);
        return p;
}

static const char *seconds(char *b, size_t n, uint64_t usec) {
        snprintf(b, n, "%" PRIu64 ".%06" PRIu64, usec / TF_USEC_PER_SEC, usec % TF_USEC_PER_SEC);
        return b;
}

int tf_metrics_h(struct tf_http_request *req, struct tf_http_response *resp, void *userdata) {
        struct tf_manager *m = userdata;
        struct tf_metrics *x = tf_manager_metrics(m);
        _cleanup_error_ tf_error *e = NULL;
        struct walk w = {.x = x, .req = req};
        tf_manager_foreach(m, on_entry, &w);
        _cleanup_free_ struct entry *v = w.v;
        if (tf_store_counts(tf_manager_store(m), on_count, &w, &e) < 0) {
                tf_http_respond_error(resp, 500, "metrics: %s", e->msg);
                return TF_HTTP_DONE;
        }
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                tf_oom();
        char b[64];

        family(f, "tfrun_runs_total", "counter",
               "Runs that ended, by result (from the history's totals: kept across restarts and "
               "retention).");
        for (size_t i = 0; i < w.n; i++)
                for (size_t k = 0; k < N_RESULTS; k++)
                        sample_svc(f, "tfrun_runs_total", v[i].name, "result", results[k],
                                   u64(b, sizeof(b), v[i].m->totals[k]));

        family(f, "tfrun_run_duration_seconds", "histogram",
               "Wall time of the runs that ended since the manager started.");
        for (size_t i = 0; i < w.n; i++) {
                const struct svc_metrics *s = v[i].m;
                for (size_t k = 0; k < N_BOUNDS; k++)
                        sample_svc(f, "tfrun_run_duration_seconds_bucket", v[i].name, "le", bound_labels[k],
                                   u64(b, sizeof(b), s->bucket[k]));
                sample_svc(f, "tfrun_run_duration_seconds_bucket", v[i].name, "le", "+Inf",
                           u64(b, sizeof(b), s->count));
                snprintf(b, sizeof(b), "%.6f", s->sum);
                sample_svc(f, "tfrun_run_duration_seconds_sum", v[i].name, NULL, NULL, b);
                sample_svc(f, "tfrun_run_duration_seconds_count", v[i].name, NULL, NULL,
                           u64(b, sizeof(b), s->count));
        }

        family(f, "tfrun_last_run_timestamp_seconds", "gauge", "When the newest run started (Unix time).");
        for (size_t i = 0; i < w.n; i++)
                if (v[i].m->last_run_usec)
                        sample_svc(f, "tfrun_last_run_timestamp_seconds", v[i].name, NULL, NULL,
                                   seconds(b, sizeof(b), v[i].m->last_run_usec));
        family(f, "tfrun_last_success_timestamp_seconds", "gauge",
               "When the newest successful run ended (Unix time); absent before any.");
        for (size_t i = 0; i < w.n; i++)
                if (v[i].m->last_success_usec)
                        sample_svc(f, "tfrun_last_success_timestamp_seconds", v[i].name, NULL, NULL,
                                   seconds(b, sizeof(b), v[i].m->last_success_usec));
        family(f, "tfrun_next_run_timestamp_seconds", "gauge",
               "When the schedule fires next (Unix time); absent when nothing is armed.");
        for (size_t i = 0; i < w.n; i++) {
                uint64_t next = tf_service_next_fire(v[i].svc);
                if (next)
                        sample_svc(f, "tfrun_next_run_timestamp_seconds", v[i].name, NULL, NULL,
                                   seconds(b, sizeof(b), next));
        }
        family(f, "tfrun_last_exit_code", "gauge",
               "Exit status of the newest run that ended (128+N for signal N, as tfrun run exits).");
        for (size_t i = 0; i < w.n; i++)
                if (v[i].m->last_exit >= 0)
                        sample_svc(f, "tfrun_last_exit_code", v[i].name, NULL, NULL,
                                   u64(b, sizeof(b), (uint64_t)v[i].m->last_exit));
        family(f, "tfrun_running", "gauge", "Runs going on now.");
        for (size_t i = 0; i < w.n; i++)
                sample_svc(f, "tfrun_running", v[i].name, NULL, NULL,
                           u64(b, sizeof(b), tf_service_running(v[i].svc, NULL)));
        family(f, "tfrun_missed_runs_total", "counter",
               "Fires that did not run as planned since the manager started: overlap (skipped, the previous "
               "run still going), downtime (persistent catch-ups of fires missed while nothing ran), "
               "admission (waited longer than admission.max_wait).");
        for (size_t i = 0; i < w.n; i++) {
                sample_svc(f, "tfrun_missed_runs_total", v[i].name, "reason", "overlap",
                           u64(b, sizeof(b), v[i].m->missed_overlap));
                sample_svc(f, "tfrun_missed_runs_total", v[i].name, "reason", "downtime",
                           u64(b, sizeof(b), v[i].m->missed_downtime));
                sample_svc(f, "tfrun_missed_runs_total", v[i].name, "reason", "admission",
                           u64(b, sizeof(b), v[i].m->missed_admission));
        }
        family(f, "tfrun_retries_total", "counter", "Retry attempts started since the manager started.");
        for (size_t i = 0; i < w.n; i++)
                sample_svc(f, "tfrun_retries_total", v[i].name, NULL, NULL,
                           u64(b, sizeof(b), v[i].m->retries));
        family(f, "tfrun_oom_kills_total", "counter",
               "Processes of the service's runs the OOM killer took since the manager started.");
        for (size_t i = 0; i < w.n; i++)
                sample_svc(f, "tfrun_oom_kills_total", v[i].name, NULL, NULL,
                           u64(b, sizeof(b), v[i].m->oom_kills));

        /* Alerts: services with a notify: only (a thousand services without one cost no lines). */
        struct tf_alerts *al = tf_manager_alerts(m);
        static const char *const notifiers[] = {"webhook", "command"};
        static const char *const outcomes[] = {"success", "failure"};
        family(f, "tfrun_alerts_total", "counter", "Alerts raised since the manager started, by kind.");
        for (size_t i = 0; i < w.n; i++) {
                const struct tf_alert_counters *c = tf_alerts_counters(al, v[i].name);
                for (int k = 0; c && k < TF_ALERT_N; k++)
                        sample_svc(f, "tfrun_alerts_total", v[i].name, "alert", tf_alert_name(k),
                                   u64(b, sizeof(b), c->raised[k]));
        }
        static const char *const att_fam[] = {"tfrun_alert_attempts_total", "tfrun_alert_deliveries_total"};
        static const char *const att_help[] = {
                "Notifier attempts since the manager started (webhook POSTs, retries included; command "
                "runs), by outcome.",
                "Alerts delivered (success) or given up on after the last attempt (failure), since the "
                "manager started.",
        };
        for (size_t fam = 0; fam < 2; fam++) {
                family(f, att_fam[fam], "counter", att_help[fam]);
                for (size_t i = 0; i < w.n; i++) {
                        const struct tf_alert_counters *c = tf_alerts_counters(al, v[i].name);
                        for (size_t k = 0; c && k < 2; k++)
                                for (size_t o = 0; o < 2; o++) {
                                        fprintf(f, "%s{service=\"", att_fam[fam]);
                                        label(f, v[i].name);
                                        fprintf(f, "\",notifier=\"%s\",result=\"%s\"} %" PRIu64 "\n",
                                                notifiers[k], outcomes[o],
                                                fam == 0 ? c->attempts[k][o] : c->deliveries[k][o]);
                                }
                }
        }
        family(f, "tfrun_alert_deliveries_pending", "gauge",
               "Webhook deliveries in flight or waiting for their retry.");
        fprintf(f, "tfrun_alert_deliveries_pending %u\n", tf_alerts_pending(al));

        family(f, "tfrun_build_info", "gauge", "The tfrun serving these metrics.");
        fprintf(f, "tfrun_build_info{version=\"");
        label(f, TF_VERSION);
        fprintf(f, "\"} 1\n");
        family(f, "tfrun_services", "gauge",
               "Services of the manager's directory by state (broken: did not load).");
        for (size_t i = 0; i < ELEMENTSOF(state_names); i++)
                fprintf(f, "tfrun_services{state=\"%s\"} %u\n", state_names[i], w.states[i]);
        family(f, "tfrun_loop_lag_seconds", "gauge", "How late the event loop's most recent timer fired.");
        fprintf(f, "tfrun_loop_lag_seconds %s\n",
                seconds(b, sizeof(b), tf_loop_lag_usec(tf_manager_loop(m))));
        family(f, "tfrun_queue_runs", "gauge",
               "Runs waiting to start: fires queued behind a running run and retries waiting for their "
               "delay.");
        uint64_t q = 0;
        for (size_t i = 0; i < w.n; i++)
                q += tf_service_waiting(v[i].svc);
        fprintf(f, "tfrun_queue_runs %" PRIu64 "\n", q);
        budget_metrics(f, m);
        if (fclose(f) != 0)
                tf_oom();
        tf_http_respond_text(resp, 200, "text/plain; version=0.0.4; charset=utf-8", buf, len);
        return TF_HTTP_DONE;
}
