/* SPDX-License-Identifier: MIT */
#include "manager/manager.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/io.h"
#include "base/parse.h"
#include "base/strutil.h"
#include "base/timeutil.h"
#include "manager/admission.h"
#include "manager/alerts.h"
#include "manager/api.h"
#include "manager/auth.h"
#include "manager/budget.h"
#include "manager/client.h"
#include "manager/http.h"
#include "manager/metrics.h"
#include "manager/ui.h"
#include "runner/log.h"
#include "runner/outlog.h"
#include "runner/pathwatch.h"
#include "runner/runner.h"
#include "runner/service.h"
#include "spec/limits.h"
#include "spec/settings.h"
#include "spec/spec.h"
#include "store/store.h"

/* History kept per service unless its spec says otherwise: the newest runs and the last days. */
#define KEEP_RUNS_DEFAULT 1000u
#define KEEP_DAYS_DEFAULT 30u
/* keep_days is also enforced for services that do not run: once an hour, and once at start. */
#define RETENTION_PERIOD_USEC (3600 * TF_USEC_PER_SEC)
/* The history's WAL is checkpointed (two fdatasyncs, 5-6 ms) once its writes have paused this long, and
 * at the latest this long after the first write since the last checkpoint: not in the commit of whichever
 * run start crossed SQLite's threshold (store/store.c). */
#define CHECKPOINT_QUIET_USEC (1 * TF_USEC_PER_SEC)
#define CHECKPOINT_MAX_DELAY_USEC (10 * TF_USEC_PER_SEC)

/* One file of DIR. */
struct msvc {
        struct tf_manager *m;
        char *file;  /* DIR/x.yaml */
        char *name;  /* the service's name; NULL when the file did not load */
        char *error; /* why it did not load (broken entry); NULL for a service */
        uint64_t hash; /* of the file's bytes, to tell an unchanged file on reload */
        bool seen;     /* reload: still in DIR */
        bool removed;  /* gone from DIR, waiting for its running runs to end */
        bool started;  /* tf_service_start() was called */
        struct tf_service *svc;
        /* Each service's own run options: its output goes to its log and to the manager's stdout after its
         * own prefix ("web    | "). */
        struct tf_run_options ro;
        struct tf_outlog_options lo;
        char *prefix;
        /* This service's entry of GET /api/v1/services as JSON text, and what it was made from: a listing
         * of 1,000 services rebuilds only the entries whose inputs changed (jansson building and dumping
         * all of them took ~10 ms of CPU per listing: bench/manager.sh, docs/benchmarks.md). */
        char *entry;
        size_t entry_len;
        struct entry_key {
                const struct tf_service *svc;
                const struct tf_spec *spec;
                uint64_t hash, next, ended;
                const struct tf_run_result *last;
                const char *state;
                unsigned running, runs_started;
                bool enabled;
        } entry_key;
        struct msvc *next;
};

/* A run going on, for `logs -f` and for the history row it ends. */
struct live {
        char *run_id;
        struct live *next;
};

struct tf_manager {
        struct tf_manager_options o;
        char *state_dir;
        struct tf_loop *loop;
        struct tf_run_ctx ctx;
        struct tf_run_options run_opts;
        struct tf_service_hooks hooks;
        struct msvc *svcs;
        int lock_fd, sig_fd;
        bool stopping;
        unsigned interrupts;
        uint64_t started_usec;
        char *manager_id; /* boot id, pid, start time: whose runs a history row's "running" means */
        char *logs_dir;   /* STATE_DIR/logs */
        struct tf_outlog_spares *log_spares;
        char *socket_path;
        tf_store *store;
        struct tf_http_server *http;
        struct tf_auth *auth;       /* the network API's tokens (manager/auth.c) */
        struct tf_metrics *metrics; /* GET /metrics (manager/metrics.c) */
        struct tf_alerts *alerts;   /* notify: (manager/alerts.c) */
        struct live *live;
        struct tf_source *retention_timer;
        struct tf_source *checkpoint_timer;
        struct tf_source *logdir_timer; /* makes the log directories of services loaded (logdir_queue()) */
        char **logdir_todo;
        size_t logdir_next;
        uint64_t history_written, history_dirty_since; /* CLOCK_MONOTONIC; dirty_since 0: checkpointed */
        char **lost_docker; /* services with docker runs marked lost: their containers are swept at start */
        char **lost_swarm;  /* the same for swarm runs: their services */
        struct tf_budget *budget;  /* budget: in the settings: the parent cgroup of every run */
        struct tf_admission *adm;  /* --config: reservations, queues, pressure (manager/admission.c) */
        /* Settings read by reloads (the first are the caller's): every one kept to the end, since
         * alerts in flight may hold the notify: of the one they were made under. */
        struct tf_settings **settings_read;
        size_t n_settings_read;
};

static const int handled_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

/* FNV-1a: change detection only, not security. */
static uint64_t hash_bytes(const char *b, size_t n) {
        uint64_t h = 1469598103934665603ULL;
        for (size_t i = 0; i < n; i++) {
                h ^= (unsigned char) b[i];
                h *= 1099511628211ULL;
        }
        return h;
}

static bool is_spec_file(const char *n) {
        return n[0] != '.' && (tf_endswith(n, ".yaml") || tf_endswith(n, ".yml"));
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

/* The spec files of DIR, sorted (the first of two files with one name keeps it). */
static int list_dir(const char *dir, char ***ret, tf_error **err) {
        _cleanup_(closedirp) DIR *d = opendir(dir);
        if (!d)
                return tf_error_set(err, errno, "%s: %s", dir, strerror(errno));
        char **v = NULL;
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!is_spec_file(de->d_name))
                        continue;
                v = tf_realloc(v, (n + 2) * sizeof(*v));
                v[n++] = tf_asprintf("%s/%s", dir, de->d_name);
                v[n] = NULL;
        }
        if (!v)
                v = tf_malloc0(sizeof(*v));
        qsort(v, n, sizeof(*v), cmp_str);
        *ret = v;
        return 0;
}

static struct msvc *find_name(struct tf_manager *m, const char *name) {
        for (struct msvc *s = m->svcs; s; s = s->next)
                if (s->name && !s->removed && streq(s->name, name))
                        return s;
        return NULL;
}

static void msvc_free(struct msvc *s) {
        if (!s)
                return;
        if (s->svc && s->m->alerts)
                tf_alerts_service_unset(s->m->alerts, s->svc);
        tf_service_free(s->svc);
        free(s->prefix);
        free(s->entry);
        free(s->file);
        free(s->name);
        free(s->error);
        free(s);
}

static void unlink_msvc(struct tf_manager *m, struct msvc *s) {
        for (struct msvc **p = &m->svcs; *p; p = &(*p)->next)
                if (*p == s) {
                        *p = s->next;
                        return;
                }
}

/* The hash of a file's bytes. */
static int file_hash(const char *file, uint64_t *ret) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r = tf_read_file(file, 1 << 20, &buf, &len);
        if (r < 0)
                return r;
        *ret = hash_bytes(buf, len);
        return 0;
}

/* Load and check one file: the spec (takes nothing on failure) and its hash. The backend's own checks
 * (limits this host cannot honour) are made here too, so that `ps` shows a broken service at once. */
static int load_spec(struct tf_manager *m, const char *file, struct tf_spec **ret, uint64_t *ret_hash, tf_error **err) {
        int r = file_hash(file, ret_hash);
        if (r < 0)
                return tf_error_set(err, -r, "%s: %s", file, strerror(-r));
        struct tf_spec *spec = NULL;
        r = tf_spec_load(file, NULL, &spec, err);
        if (r < 0)
                return r;
        /* --swarm: an image without a backend: key goes to the swarm instead of the local engine. What the
         * swarm cannot honour (the default sandbox's no_new_privileges ...) is then refused below. */
        if (m->o.swarm && spec->backend == TF_BACKEND_AUTO && spec->image && spec->n_steps == 0)
                spec->resolved_backend = TF_BACKEND_SWARM;
        /* tf_run_check() makes a run to check it: the id it takes is given back. */
        unsigned counter = m->ctx.run_counter;
        r = tf_run_check(&m->ctx, spec, &m->run_opts, err);
        /* The spec's notify:, else the settings' default. */
        const struct tf_notify *nt = spec->notify.present                                ? &spec->notify
                                     : m->o.settings && m->o.settings->notify.present ? &m->o.settings->notify
                                                                                       : NULL;
        if (r == 0 && nt && nt->argv) {
                /* The notifier runs as a native run of its own: what it needs is checked now too. */
                struct tf_spec *ns = NULL;
                tf_spec_notify_command(spec, nt, &ns);
                r = tf_run_check(&m->ctx, ns, &m->run_opts, err);
                tf_spec_free(ns);
                if (r < 0)
                        tf_error_prefix(err, "notify.command");
        }
        m->ctx.run_counter = counter;
        /* A queue this manager does not have, a reservation larger than the whole budget: it could never
         * start, so it is broken now rather than waiting for ever. */
        if (r >= 0 && m->adm)
                r = tf_admission_check_spec(m->adm, spec, err);
        if (r < 0) {
                tf_spec_free(spec);
                return r;
        }
        *ret = spec;
        return 0;
}

static void on_service_idle(struct tf_service *svc, void *userdata);

/* `tfrun disable` survives a restart: the state is read before the service's first fire is armed. */
static void restore_state(struct tf_manager *m, struct msvc *s) {
        _cleanup_error_ tf_error *e = NULL;
        struct tf_store_service_state *st = NULL;
        int r = tf_store_service_get(m->store, s->name, &st, &e);
        if (r == -ENOENT)
                return;
        if (r < 0) {
                tf_log("warning: %s: its saved state: %s", s->name, e->msg);
                return;
        }
        if (!st->enabled) {
                tf_service_set_enabled(s->svc, false);
                tf_log("%s: disabled (since %s); `tfrun enable %s` to fire again", s->name,
                       st->updated_usec ? "an earlier manager" : "before", s->name);
        }
        free(st);
}

/*
 * A service's log directory is made once it is loaded, a few per loop round from a timer, rather than by
 * its first run: a mkdir is the slowest step of a first trigger on a busy filesystem (0.25 to over 1 ms
 * on this host's ext4, bench/manager.sh part 4). A run that comes first makes it itself, as before; a
 * directory that cannot be made is left for that run to report.
 */
#define LOGDIR_BATCH 4
/* Log files made ahead (runner/outlog.h): a burst of this many runs starts without a file creation, more
 * than bench/manager.sh's 100 triggers back to back; one descriptor and one empty inode each, and never
 * more than an eighth of the descriptors the manager may open (128 of systemd's default 1024). */
#define LOG_SPARES 128

static unsigned log_spares_max(void) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur / 8 >= LOG_SPARES)
                return LOG_SPARES;
        return (unsigned) (rl.rlim_cur / 8);
}

static int on_logdir_timer(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        struct tf_manager *m = userdata;
        for (int k = 0; k < LOGDIR_BATCH && m->logdir_todo && m->logdir_todo[m->logdir_next]; k++) {
                int d = tf_outlog_dir_open(m->logs_dir, m->logdir_todo[m->logdir_next++], NULL);
                if (d >= 0)
                        close(d);
        }
        if (m->logdir_todo && m->logdir_todo[m->logdir_next]) {
                tf_source_set_time(src, tf_loop_now(m->loop, CLOCK_MONOTONIC));
                return 0;
        }
        tf_strv_free(m->logdir_todo);
        m->logdir_todo = NULL;
        m->logdir_next = 0;
        tf_source_set_time(src, UINT64_MAX);
        return 0;
}

static void logdir_queue(struct tf_manager *m, const char *service) {
        tf_strv_push(&m->logdir_todo, service);
        uint64_t now = tf_loop_now(m->loop, CLOCK_MONOTONIC);
        if (m->logdir_timer) {
                tf_source_set_time(m->logdir_timer, now);
                return;
        }
        _cleanup_error_ tf_error *e = NULL;
        if (tf_loop_add_timer(m->loop, CLOCK_MONOTONIC, now, on_logdir_timer, m, &m->logdir_timer, &e) < 0)
                tf_log("warning: %s", e->msg); /* the first runs make them */
}

static int make_service(struct tf_manager *m, struct msvc *s, struct tf_spec *spec, tf_error **err) {
        /* docker compose pads the names to one width; a fixed minimum keeps most columns aligned without
         * knowing every name in advance (services come and go with reloads). */
        free(s->prefix);
        s->prefix = tf_asprintf("%-10s | ", spec->name);
        /* Past the cap, the head and the last quarter: how a long run ended matters as much as how it
         * began. */
        uint64_t cap = m->o.log_max ? m->o.log_max : TF_OUTLOG_MAX_DEFAULT;
        s->lo = (struct tf_outlog_options){ .dir = m->logs_dir, .echo_prefix = s->prefix, .max_bytes = cap,
                                            .tail_bytes = cap / 4, .spares = m->log_spares };
        s->ro = m->run_opts;
        s->ro.log = &s->lo;
        struct tf_service_options so = {
                .run = &s->ro,
                .state_dir = m->state_dir,
                .resident = true,
                .allow_unscheduled = true,
                .hooks = &m->hooks,
        };
        int r = tf_service_new(&m->ctx, spec, &so, &s->svc, err);
        if (r < 0)
                return r;
        tf_service_on_idle(s->svc, on_service_idle, s);
        logdir_queue(m, spec->name);
        return 0;
}

/* A new entry for FILE: a service, or a broken entry saying why. */
static struct msvc *add_file(struct tf_manager *m, const char *file, bool start) {
        _cleanup_error_ tf_error *e = NULL;
        struct msvc *s = tf_malloc0(sizeof(*s));
        s->m = m;
        s->file = tf_strdup(file);
        s->seen = true;
        struct tf_spec *spec = NULL;
        if (load_spec(m, file, &spec, &s->hash, &e) == 0) {
                struct msvc *other = find_name(m, spec->name);
                if (other) {
                        tf_error_set(&e, EEXIST, "%s: name '%s' is already used by %s; give one of them another name",
                                     file, spec->name, other->file);
                        tf_spec_free(spec);
                } else {
                        s->name = tf_strdup(spec->name);
                        if (make_service(m, s, spec, &e) < 0) {
                                free(s->name);
                                s->name = NULL;
                        } else
                                restore_state(m, s);
                }
        }
        if (e) {
                s->error = tf_strdup(e->msg);
                tf_log("%s", e->msg);
        }
        s->next = m->svcs;
        m->svcs = s;
        if (s->svc && start) {
                tf_service_start(s->svc);
                s->started = true;
                tf_alerts_service_set(m->alerts, s->svc);
        }
        return s;
}

static void on_service_idle(struct tf_service *svc, void *userdata) {
        struct msvc *s = userdata;
        struct tf_manager *m = s->m;
        if (s->removed) {
                /* Gone from DIR and its last run ended: now it can go. */
                tf_log("%s: removed (its last run ended)", s->name);
                unlink_msvc(m, s);
                msvc_free(s);
        }
        if (m->stopping) {
                for (struct msvc *o = m->svcs; o; o = o->next)
                        if (o->svc && !tf_service_idle(o->svc))
                                return;
                tf_loop_exit(m->loop, 0);
        }
}

/* Done with an entry that left DIR (or became broken): no more fires; it goes once idle. */
static void retire(struct tf_manager *m, struct msvc *s) {
        if (!s->svc) {
                unlink_msvc(m, s);
                msvc_free(s);
                return;
        }
        s->removed = true;
        /* No more alerts of its schedule (its last run's end still tells). */
        tf_alerts_service_unset(m->alerts, s->svc);
        tf_service_drain(s->svc);
        if (tf_service_idle(s->svc)) {
                unlink_msvc(m, s);
                msvc_free(s);
        }
}

static json_t *strings_append(json_t *a, const char *s) {
        json_array_append_new(a, json_string(s));
        return a;
}

/* The entry of each file of DIR: the entries sorted by file, so that a reload of N files costs
 * N log N comparisons rather than N^2 / 2 (1,000 files: half a million strcmp). */
struct by_file {
        char *file; /* owned */
        struct msvc *s;
};

static int cmp_by_file(const void *a, const void *b) {
        return strcmp(((const struct by_file *) a)->file, ((const struct by_file *) b)->file);
}

static void by_file_freep(struct by_file **v) {
        for (size_t i = 0; *v && (*v)[i].file; i++)
                free((*v)[i].file);
        free(*v);
}

static struct by_file *index_files(struct tf_manager *m, size_t *ret_n) {
        size_t n = 0;
        for (struct msvc *s = m->svcs; s; s = s->next)
                n += !s->removed;
        struct by_file *v = tf_malloc0((n + 1) * sizeof(*v));
        n = 0;
        for (struct msvc *s = m->svcs; s; s = s->next)
                if (!s->removed)
                        /* A copy: an entry retired during the reload frees its file, and later
                         * lookups still compare against its name. */
                        v[n++] = (struct by_file){ tf_strdup(s->file), s };
        qsort(v, n, sizeof(*v), cmp_by_file);
        *ret_n = n;
        return v;
}


/* --- triggers between services: on_success, on_failure --- */

static const char *const trigger_keys[] = { "on_success", "on_failure" };

static const struct tf_service_refs *trigger_refs(const struct tf_spec *spec, size_t k) {
        return k == 0 ? &spec->on_success_services : &spec->on_failure_services;
}

static char *ref_kp(const struct tf_service_refs *refs, size_t k, size_t i) {
        return refs->list ? tf_asprintf("%s[%zu]", trigger_keys[k], i) : tf_strdup(trigger_keys[k]);
}

/* The live entries (a service, not leaving), and for each its targets' indexes (-1: no such service). */
struct graph {
        struct msvc **v;
        size_t n;
        char **why; /* per entry: why it is refused (NULL: it is not) */
};

static ssize_t graph_index(const struct graph *g, const char *name) {
        for (size_t i = 0; i < g->n; i++)
                if (streq(g->v[i]->name, name))
                        return (ssize_t) i;
        return -1;
}

/* A depth-first walk over the entries not refused yet; a cycle found leaves its entries on path[from..]. */
static bool graph_visit(struct graph *g, size_t u, unsigned char *color, size_t *path, size_t *depth,
                        size_t *ret_from) {
        color[u] = 1;
        path[(*depth)++] = u;
        const struct tf_spec *spec = tf_service_spec(g->v[u]->svc);
        for (size_t k = 0; k < ELEMENTSOF(trigger_keys); k++) {
                const struct tf_service_refs *refs = trigger_refs(spec, k);
                for (size_t i = 0; i < refs->n; i++) {
                        ssize_t w = graph_index(g, refs->refs[i].name);
                        if (w < 0 || g->why[w])
                                continue;
                        if (color[w] == 1) {
                                size_t j = *depth;
                                while (path[j - 1] != (size_t) w)
                                        j--;
                                *ret_from = j - 1;
                                return true;
                        }
                        if (color[w] == 0 && graph_visit(g, (size_t) w, color, path, depth, ret_from))
                                return true;
                }
        }
        (*depth)--;
        color[u] = 2;
        return false;
}

/* The first edge of u to v, for the position a message points at. */
static void edge_of(const struct tf_spec *spec, const char *to, size_t *ret_k, size_t *ret_i) {
        for (size_t k = 0; k < ELEMENTSOF(trigger_keys); k++) {
                const struct tf_service_refs *refs = trigger_refs(spec, k);
                for (size_t i = 0; i < refs->n; i++)
                        if (streq(refs->refs[i].name, to)) {
                                *ret_k = k;
                                *ret_i = i;
                                return;
                        }
        }
        *ret_k = *ret_i = 0;
}

/* Every cycle among the entries: each entry in one is refused with a message naming the cycle, starting at
 * the name that sorts first, so that each of its files says the same "a -> b -> a". */
static void graph_cycles(struct graph *g) {
        for (;;) {
                _cleanup_free_ unsigned char *color = tf_malloc0(g->n + 1);
                _cleanup_free_ size_t *path = tf_malloc0((g->n + 1) * sizeof(size_t));
                size_t depth = 0, from = 0;
                bool found = false;
                for (size_t i = 0; i < g->n && !found; i++)
                        if (!g->why[i] && color[i] == 0)
                                found = graph_visit(g, i, color, path, &depth, &from);
                if (!found)
                        return;
                size_t len = depth - from, first = 0;
                size_t *cyc = path + from;
                for (size_t i = 1; i < len; i++)
                        if (strcmp(g->v[cyc[i]]->name, g->v[cyc[first]]->name) < 0)
                                first = i;
                _cleanup_free_ char *text = tf_strdup(g->v[cyc[first]]->name);
                for (size_t i = 1; i <= len; i++) {
                        char *t = tf_asprintf("%s -> %s", text, g->v[cyc[(first + i) % len]]->name);
                        free(text);
                        text = t;
                }
                for (size_t i = 0; i < len; i++) {
                        const struct tf_spec *spec = tf_service_spec(g->v[cyc[i]]->svc);
                        size_t k, j;
                        edge_of(spec, g->v[cyc[(i + 1) % len]]->name, &k, &j);
                        const struct tf_service_refs *refs = trigger_refs(spec, k);
                        _cleanup_free_ char *w = tf_spec_where(spec, refs->refs[j].pos);
                        _cleanup_free_ char *kp = ref_kp(refs, k, j);
                        g->why[cyc[i]] = tf_asprintf(
                                "%s: %s: %s: a cycle among services (each triggers the next through on_success "
                                "or on_failure); expected no cycle: drop one of these triggers",
                                w, kp, text);
                }
        }
}

static void json_array_remove_string(json_t *a, const char *s) {
        for (size_t i = 0; a && i < json_array_size(a); i++)
                if (json_is_string(json_array_get(a, i)) && streq(json_string_value(json_array_get(a, i)), s)) {
                        json_array_remove(a, i);
                        return;
                }
}

/* A loaded service turned broken by a check across services (triggers, admission): a broken entry for its
 * file takes its place in the listing (error owned), and it is retired; its running runs go on. */
static void break_service(struct tf_manager *m, struct msvc *s, char *error, json_t *broken, json_t *added,
                          json_t *changed) {
        struct msvc *b = tf_malloc0(sizeof(*b));
        b->m = m;
        b->file = tf_strdup(s->file);
        b->seen = true;
        b->hash = s->hash;
        b->error = error;
        b->next = m->svcs;
        m->svcs = b;
        if (broken)
                json_array_append_new(broken, json_pack("{s:s,s:s}", "file", s->file, "error", b->error));
        json_array_remove_string(added, s->name);
        json_array_remove_string(changed, s->name);
        if (s->started && s->name)
                tf_log("%s: refused; no more fires (running runs go on to their end)", s->name);
        retire(m, s);
}

/* After a load or reload, before new entries start: a service naming one that DIR does not have, or one
 * in a cycle of triggers, is refused like a file that does not validate (ps shows it broken, with the
 * message); a running one is retired (no more fires; its runs go on to their end). The next reload looks
 * again. broken, added, changed: the reload's answer (NULL at start). */
static void check_triggers(struct tf_manager *m, json_t *broken, json_t *added, json_t *changed) {
        struct graph g = {};
        for (struct msvc *s = m->svcs; s; s = s->next)
                g.n += s->svc && !s->removed;
        g.v = tf_malloc0((g.n + 1) * sizeof(*g.v));
        g.why = tf_malloc0((g.n + 1) * sizeof(*g.why));
        g.n = 0;
        for (struct msvc *s = m->svcs; s; s = s->next)
                if (s->svc && !s->removed)
                        g.v[g.n++] = s;
        for (size_t u = 0; u < g.n; u++) {
                const struct tf_spec *spec = tf_service_spec(g.v[u]->svc);
                for (size_t k = 0; k < ELEMENTSOF(trigger_keys) && !g.why[u]; k++) {
                        const struct tf_service_refs *refs = trigger_refs(spec, k);
                        for (size_t i = 0; i < refs->n && !g.why[u]; i++) {
                                if (graph_index(&g, refs->refs[i].name) >= 0)
                                        continue;
                                _cleanup_free_ char *w = tf_spec_where(spec, refs->refs[i].pos);
                                _cleanup_free_ char *kp = ref_kp(refs, k, i);
                                g.why[u] = tf_asprintf("%s: %s: no service '%s' in %s; expected the name of a "
                                                       "service of that directory (see `tfrun ps`)",
                                                       w, kp, refs->refs[i].name, m->o.dir);
                        }
                }
        }
        graph_cycles(&g);
        for (size_t u = 0; u < g.n; u++) {
                struct msvc *s = g.v[u];
                if (!g.why[u])
                        continue;
                tf_log("%s", g.why[u]);
                break_service(m, s, g.why[u], broken, added, changed);
        }
        free(g.v);
        free(g.why);
}

static void start_new(struct tf_manager *m) {
        for (struct msvc *s = m->svcs; s; s = s->next)
                if (s->svc && !s->removed && !s->started) {
                        tf_service_start(s->svc);
                        s->started = true;
                        tf_alerts_service_set(m->alerts, s->svc);
                }
}

/* A spec whose load reads other files (env files, a webhook's secret) is parsed again on every reload:
 * their contents may have changed (a rotated secret) while the spec's bytes did not. */
static bool reads_files(const struct tf_spec *spec) {
        return tf_strv_length(spec->env_files) > 0 || spec->notify.webhook.secret_file;
}

/* A budget key the reload drops: its limit would stay in the cgroup as it is. */
static int budget_key_dropped(const struct tf_settings *old, const struct tf_settings *ns, tf_error **err) {
        const struct tf_limits *o = &old->budget, *n = &ns->budget;
        static const char *const keys[] = { "cpus", "memory", "memory_swap", "pids", "io_weight" };
        const bool was[] = { o->cpu_quota_usec != TF_UNSET, tf_limit_is_set(o->memory),
                             tf_limit_is_set(o->memory_swap), tf_limit_is_set(o->pids), o->io_weight != TF_UNSET };
        const bool is[] = { n->cpu_quota_usec != TF_UNSET, tf_limit_is_set(n->memory),
                            tf_limit_is_set(n->memory_swap), tf_limit_is_set(n->pids), n->io_weight != TF_UNSET };
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (was[i] && !is[i]) {
                        _cleanup_free_ char *w = tf_settings_where(ns, ns->pos_budget);
                        return tf_error_set(err, EINVAL,
                                            "%s: budget.%s: removed, but the budget's cgroup keeps the limit it "
                                            "was made with until the manager restarts; expected budget.%s "
                                            "(a new value applies at once), or a restart of the manager",
                                            w, keys[i], keys[i]);
                }
        /* The same for each io limit of each device: what io.max had stays there. */
        static const char *const io_keys[] = { "read_bps", "write_bps", "read_iops", "write_iops" };
        for (size_t i = 0; i < o->n_io; i++) {
                const struct tf_io_limit *od = &o->io[i], *nd = NULL;
                for (size_t j = 0; j < n->n_io && !nd; j++)
                        if (streq(n->io[j].device, od->device))
                                nd = &n->io[j];
                const uint64_t ov[] = { od->read_bps, od->write_bps, od->read_iops, od->write_iops };
                const uint64_t nv[] = { nd ? nd->read_bps : TF_UNSET, nd ? nd->write_bps : TF_UNSET,
                                        nd ? nd->read_iops : TF_UNSET, nd ? nd->write_iops : TF_UNSET };
                for (size_t k = 0; k < ELEMENTSOF(io_keys); k++)
                        if (ov[k] != TF_UNSET && nv[k] == TF_UNSET) {
                                _cleanup_free_ char *w = tf_settings_where(ns, ns->pos_budget);
                                return tf_error_set(err, EINVAL,
                                                    "%s: budget.io: %s of %s removed, but the budget's cgroup "
                                                    "keeps the limit it was made with until the manager restarts; "
                                                    "expected %s for %s (a new value applies at once), or a "
                                                    "restart of the manager",
                                                    w, io_keys[k], od->device, io_keys[k], od->device);
                        }
        }
        return 0;
}

/* --config FILE read again (SIGHUP, `tfrun reload`): a file that does not read, or asks for what cannot
 * change while runs live (a budget added or removed: the parent cgroup of running runs), or a budget below
 * what running runs hold, changes nothing and is the reload's error. Else admission (thresholds, max_wait,
 * aging, queues), the notify: defaults and the budget cgroup's limits apply at once. */
static int reload_settings(struct tf_manager *m, tf_error **err) {
        const struct tf_settings *old = m->o.settings;
        if (!old || !old->path)
                return 0;
        _cleanup_settings_ struct tf_settings *ns = NULL;
        int r = tf_settings_load(old->path, &ns, err);
        if (r < 0)
                return r;
        if (ns->have_budget && !old->have_budget) {
                _cleanup_free_ char *w = tf_settings_where(ns, ns->pos_budget);
                return tf_error_set(err, EINVAL,
                                    "%s: budget: added, but a budget is the parent cgroup of every run from the "
                                    "manager's start and running runs cannot move into one; expected no budget: "
                                    "until the manager restarts (its settings are unchanged)", w);
        }
        if (!ns->have_budget && old->have_budget)
                return tf_error_set(err, EINVAL,
                                    "%s: budget: removed, but the budget's cgroup is the parent of the running "
                                    "runs and cannot go while the manager runs; expected the budget: back, or a "
                                    "restart of the manager (its settings are unchanged)", ns->path);
        if (m->budget) {
                r = budget_key_dropped(old, ns, err);
                if (r < 0)
                        return r;
        }
        r = tf_admission_check_settings(m->adm, ns, err);
        if (r < 0)
                return r;
        if (m->budget) {
                r = tf_budget_set_limits(m->budget, ns, err);
                if (r < 0)
                        return r;
        }
        tf_admission_set_settings(m->adm, ns);
        tf_alerts_set_default(m->alerts, &ns->notify);
        m->o.settings = ns;
        m->settings_read = tf_realloc(m->settings_read, (m->n_settings_read + 1) * sizeof(*m->settings_read));
        m->settings_read[m->n_settings_read++] = TAKE_PTR(ns);
        tf_log("reload: %s: the settings apply", old->path);
        return 0;
}

/* After a settings reload: a service whose queue is gone, or whose reservation no longer fits the whole
 * budget, is broken as it would be at load (ps shows it; its running runs go on to their end). */
static void check_admission(struct tf_manager *m, json_t *broken, json_t *added, json_t *changed) {
        for (struct msvc *s = m->svcs, *next; s; s = next) {
                next = s->next;
                if (!s->svc || s->removed)
                        continue;
                _cleanup_error_ tf_error *e = NULL;
                if (tf_admission_check_spec(m->adm, tf_service_spec(s->svc), &e) == 0)
                        continue;
                tf_log("reload: %s", e->msg);
                break_service(m, s, tf_strdup(e->msg), broken, added, changed);
        }
}

json_t *tf_manager_reload(struct tf_manager *m) {
        _cleanup_error_ tf_error *e = NULL;
        if (reload_settings(m, &e) < 0) {
                tf_log("reload: %s; keeping the settings and every service as they are", e->msg);
                return json_pack("{s:s}", "error", e->msg);
        }
        bool settings = m->o.settings && m->o.settings->path;
        json_t *added = json_array(), *changed = json_array(), *removed = json_array(), *broken = json_array();
        unsigned unchanged = 0;
        char **files = NULL;
        if (list_dir(m->o.dir, &files, &e) < 0) {
                tf_log("reload: %s; keeping every service as it is", e->msg);
                json_t *o = json_pack("{s:s}", "error", e->msg);
                json_decref(added), json_decref(changed), json_decref(removed), json_decref(broken);
                return o;
        }
        for (struct msvc *s = m->svcs; s; s = s->next)
                s->seen = false;
        /* Entries added below are not in it, and need not be: each file of DIR comes once. */
        size_t n_index = 0;
        _cleanup_(by_file_freep) struct by_file *index = index_files(m, &n_index);
        for (char **f = files; *f; f++) {
                struct by_file key = { .file = *f };
                /* Found: the entry is still there (an entry is retired only at its own file). */
                struct by_file *hit = bsearch(&key, index, n_index, sizeof(*index), cmp_by_file);
                struct msvc *s = hit ? hit->s : NULL;
                if (!s) {
                        s = add_file(m, *f, false);
                        if (s->error)
                                json_array_append_new(broken, json_pack("{s:s,s:s}", "file", *f, "error", s->error));
                        else
                                strings_append(added, s->name);
                        continue;
                }
                s->seen = true;
                struct tf_spec *spec = NULL;
                uint64_t h = 0;
                tf_error_free(e);
                e = NULL;
                /* The same bytes make the same spec (unless it reads env files or a secret, whose contents
                 * may have changed): neither parsed nor checked again, so that a reload of 1,000 unchanged files
                 * costs their reads, not 1,000 parses and run checks (bench/manager.sh). */
                if (s->svc && !reads_files(tf_service_spec(s->svc)) &&
                    file_hash(*f, &h) == 0 && h == s->hash) {
                        free(s->error);
                        s->error = NULL;
                        unchanged++;
                        continue;
                }
                int r = load_spec(m, *f, &spec, &h, &e);
                if (r == 0 && s->svc && h == s->hash && !reads_files(spec)) {
                        tf_spec_free(spec);
                        unchanged++;
                        continue;
                }
                if (r < 0) {
                        /* A broken file keeps its running service under the old spec, as one tfrun does on
                         * SIGHUP: the neighbours and the service itself go on; ps shows the error. */
                        tf_log("reload: %s; %s", e->msg, s->svc ? "keeping the previous spec" : "still broken");
                        free(s->error);
                        s->error = tf_strdup(e->msg);
                        json_array_append_new(broken, json_pack("{s:s,s:s}", "file", *f, "error", e->msg));
                        continue;
                }
                if (!s->svc || !streq(spec->name, s->name)) {
                        /* A new name is a new service: the old one leaves, the new one arrives. */
                        if (s->name)
                                strings_append(removed, s->name);
                        tf_spec_free(spec);
                        retire(m, s);
                        struct msvc *n = add_file(m, *f, false);
                        if (n->error)
                                json_array_append_new(broken, json_pack("{s:s,s:s}", "file", *f, "error", n->error));
                        else
                                strings_append(added, n->name);
                        continue;
                }
                free(s->error);
                s->error = NULL;
                s->hash = h;
                if (tf_service_reload(s->svc, spec, &e) < 0) {
                        tf_log("reload: %s; keeping the previous spec", e->msg);
                        s->error = tf_strdup(e->msg);
                        json_array_append_new(broken, json_pack("{s:s,s:s}", "file", *f, "error", e->msg));
                        continue;
                }
                tf_alerts_service_set(m->alerts, s->svc);
                tf_log("%s: reloaded %s", s->name, s->file);
                strings_append(changed, s->name);
        }
        for (struct msvc *s = m->svcs, *next; s; s = next) {
                next = s->next;
                if (s->seen || s->removed)
                        continue;
                if (s->name) {
                        tf_log("%s: %s is gone; no more fires", s->name, s->file);
                        strings_append(removed, s->name);
                }
                retire(m, s);
        }
        tf_strv_free(files);
        if (settings)
                check_admission(m, broken, added, changed);
        check_triggers(m, broken, added, changed);
        start_new(m);
        tf_log("reload: %zu added, %zu changed, %zu removed, %zu broken, %u unchanged", json_array_size(added),
               json_array_size(changed), json_array_size(removed), json_array_size(broken), unchanged);
        return json_pack("{s:o,s:o,s:o,s:o,s:I}", "added", added, "changed", changed, "removed", removed, "broken",
                         broken, "unchanged", (json_int_t) unchanged);
}

/* --- signals --- */

static void stop_all(struct tf_manager *m) {
        m->stopping = true;
        bool busy = false;
        for (struct msvc *s = m->svcs; s; s = s->next)
                if (s->svc) {
                        tf_service_stop(s->svc);
                        busy |= !tf_service_idle(s->svc);
                }
        if (!busy)
                tf_loop_exit(m->loop, 0);
}

static void notify(const char *msg);

static int on_signal(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        struct tf_manager *m = userdata;
        struct signalfd_siginfo si;
        while (read(fd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
                int sig = (int) si.ssi_signo;
                if (sig == SIGINT || sig == SIGTERM) {
                        /* Once: stop every run per its `stop:`. Again: the runs are killed at once. */
                        m->interrupts++;
                        tf_log("%s: %s every service", tf_signal_name(sig),
                               m->interrupts > 1 ? "killing the runs of" : "stopping");
                        if (m->interrupts == 1)
                                notify("STOPPING=1");
                        stop_all(m);
                } else if (sig == SIGHUP) {
                        notify("RELOADING=1");
                        json_decref(tf_manager_reload(m));
                        notify("READY=1");
                } else
                        for (struct msvc *s = m->svcs; s; s = s->next)
                                if (s->svc)
                                        tf_service_forward_signal(s->svc, sig, false);
        }
        return 0;
}

/* sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET (a path, or '@' for the abstract
 * namespace). The socket is systemd's to give; a missing one is normal outside a unit. */
static void notify(const char *msg) {
        const char *p = getenv("NOTIFY_SOCKET");
        if (!p || (p[0] != '/' && p[0] != '@'))
                return;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t n = strlen(p);
        if (n >= sizeof(sa.sun_path))
                return;
        memcpy(sa.sun_path, p, n);
        if (p[0] == '@')
                sa.sun_path[0] = 0;
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return;
        if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *) &sa,
                   (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n)) < 0)
                tf_log("warning: sd_notify %s: %s", p, strerror(errno));
}

/* --- the state directory and its lock --- */

static int take_lock(struct tf_manager *m, tf_error **err) {
        int r = tf_mkdir_p(m->state_dir, 0700);
        if (r < 0)
                return tf_error_set(err, -r, "state directory %s: %s", m->state_dir, strerror(-r));
        _cleanup_free_ char *path = tf_asprintf("%s/manager.lock", m->state_dir);
        m->lock_fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (m->lock_fd < 0 && errno == ELOOP)
                return tf_error_set(err, ELOOP,
                                    "%s is a symbolic link: refusing to follow it (someone planted it there?); "
                                    "remove it",
                                    path);
        if (m->lock_fd < 0)
                return tf_error_set(err, errno, "%s: %s", path, strerror(errno));
        if (flock(m->lock_fd, LOCK_EX | LOCK_NB) < 0) {
                int k = errno;
                char buf[32] = "";
                ssize_t n = pread(m->lock_fd, buf, sizeof(buf) - 1, 0);
                buf[n > 0 ? n : 0] = 0;
                buf[strcspn(buf, "\n")] = 0;
                if (k == EWOULDBLOCK)
                        return tf_error_set(err, EBUSY,
                                            "another manager (pid %s) already runs on the state directory %s; "
                                            "stop it, or give this one another --state-dir",
                                            *buf ? buf : "?", m->state_dir);
                return tf_error_set(err, k, "%s: lock: %s", path, strerror(k));
        }
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "%d\n", (int) getpid());
        if (ftruncate(m->lock_fd, 0) < 0 || pwrite(m->lock_fd, buf, (size_t) n, 0) != n)
                return tf_error_set(err, errno, "%s: %s", path, strerror(errno));
        return 0;
}

/* --- lifecycle --- */

/* The history's word for an outcome (store/store.h), also ps's RESULT. */
static const char *result_word(const struct tf_run_result *res) {
        switch (res->reason) {
        case TF_REASON_EXITED:
                return res->exit_status == 0 ? "success" : "failure";
        case TF_REASON_TIMED_OUT:
                return "timeout";
        case TF_REASON_OOM_KILLED:
                return "oom";
        case TF_REASON_CANCELLED:
                return "cancelled";
        default:
                return "failure";
        }
}

static void live_add(struct tf_manager *m, const char *id) {
        struct live *l = tf_malloc0(sizeof(*l));
        l->run_id = tf_strdup(id);
        l->next = m->live;
        m->live = l;
}

static void live_remove(struct tf_manager *m, const char *id) {
        for (struct live **p = &m->live; *p; p = &(*p)->next)
                if (streq((*p)->run_id, id)) {
                        struct live *l = *p;
                        *p = l->next;
                        free(l->run_id);
                        free(l);
                        return;
                }
}

bool tf_manager_run_is_running(struct tf_manager *m, const char *run_id) {
        for (struct live *l = m->live; l; l = l->next)
                if (streq(l->run_id, run_id))
                        return true;
        return false;
}

static int on_checkpoint(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        struct tf_manager *m = userdata;
        uint64_t now = tf_loop_now(m->loop, CLOCK_MONOTONIC);
        uint64_t quiet = m->history_written + CHECKPOINT_QUIET_USEC,
                 latest = m->history_dirty_since + CHECKPOINT_MAX_DELAY_USEC;
        if (now < quiet && now < latest) {
                tf_source_set_time(src, quiet < latest ? quiet : latest);
                return 0;
        }
        _cleanup_error_ tf_error *e = NULL;
        if (tf_store_checkpoint(m->store, &e) < 0)
                tf_log("warning: history: %s", e->msg);
        m->history_dirty_since = 0;
        tf_source_set_time(src, UINT64_MAX);
        return 0;
}

/* The history was written: its checkpoint is due once the writes pause. */
static void history_written(struct tf_manager *m) {
        uint64_t now = tf_loop_now(m->loop, CLOCK_MONOTONIC);
        m->history_written = now;
        if (m->history_dirty_since)
                return;
        m->history_dirty_since = now;
        if (m->checkpoint_timer) {
                tf_source_set_time(m->checkpoint_timer, now + CHECKPOINT_QUIET_USEC);
                return;
        }
        _cleanup_error_ tf_error *e = NULL;
        if (tf_loop_add_timer(m->loop, CLOCK_MONOTONIC, now + CHECKPOINT_QUIET_USEC, on_checkpoint, m,
                              &m->checkpoint_timer, &e) < 0)
                /* SQLite's own checkpoint is the bound then (store/store.c). */
                tf_log("warning: history: no checkpoint timer: %s", e->msg);
}

/* The history's word for a step's status (store/store.h): a failure says how, as a run's does. NULL for a
 * step not started (nothing to record). */
static const char *step_word(const struct tf_step_result *st) {
        switch (st->status) {
        case TF_STEP_RUNNING:
                return "running";
        case TF_STEP_SUCCEEDED:
                return "success";
        case TF_STEP_SKIPPED:
                return "skipped";
        case TF_STEP_CANCELLED:
                return "cancelled";
        case TF_STEP_REUSED:
                return "reused";
        case TF_STEP_FAILED:
                return st->result.reason == TF_REASON_TIMED_OUT    ? "timeout"
                       : st->result.reason == TF_REASON_OOM_KILLED ? "oom"
                       : st->result.reason == TF_REASON_CANCELLED  ? "cancelled"
                                                                   : "failure";
        default:
                return NULL;
        }
}

/* A step's row: begun when it starts, completed when it ends; a step that never ran (skipped, reused, or
 * one that could not start) is recorded once, ended. */
static void record_step(struct tf_manager *m, const struct tf_run *r, const struct tf_step_result *st) {
        _cleanup_error_ tf_error *e = NULL;
        const char *word = step_word(st);
        if (!word)
                return;
        const struct tf_run_result *res = &st->result;
        bool running = st->status == TF_STEP_RUNNING;
        uint64_t now = tf_now(CLOCK_REALTIME);
        struct tf_store_step row = TF_STORE_STEP_INIT;
        row.run_id = r->run_id;
        row.name = st->step->name;
        row.order = (int64_t) st->position;
        row.status = word;
        row.started_usec = res->start_realtime_usec ? res->start_realtime_usec : now;
        row.ended_usec = running ? 0 : now > row.started_usec ? now : row.started_usec;
        row.exit_code = res->exit_code >= 0 && res->exit_code <= 255 ? res->exit_code : -1;
        row.signal = res->signal > 0 && res->signal <= 128 ? res->signal : 0;
        row.oom = res->reason == TF_REASON_OOM_KILLED || (res->oom_kills != TF_UNSET && res->oom_kills > 0);
        row.peak_memory = res->memory_peak != TF_UNSET ? (int64_t) res->memory_peak : TF_STORE_UNKNOWN;
        row.reason = res->error ? res->error : res->reason != TF_REASON_NONE ? tf_run_reason_name(res->reason) : NULL;
        row.why = st->why;
        row.log_path = res->log_path;
        /* A running step's log path is set when it starts (runner/workflow.c): `logs -f --step` follows
         * it; the end records the path of the attempt that ended. */
        if (st->output && st->output_len <= TF_STORE_OUTPUT_MAX) {
                row.output = st->output;
                row.output_len = st->output_len;
        } else if (st->output)
                tf_log("warning: %s: step %s: its output (%zu bytes) is too long for the history: a retry "
                       "cannot reuse it",
                       r->run_id, row.name, st->output_len);
        int k = running ? tf_store_step_begin(m->store, &row, &e) : tf_store_step_end(m->store, &row, &e);
        if (k == -ENOENT && !running) {
                tf_error_free(e);
                e = NULL;
                k = tf_store_step_begin(m->store, &row, &e);
        }
        if (k < 0)
                tf_log("warning: %s: step %s is not recorded in the history: %s", r->run_id, row.name, e->msg);
        history_written(m);
}

static void hook_step(const struct tf_run *r, const struct tf_step_result *st, void *userdata) {
        struct tf_manager *m = userdata;
        /* Before the run's row exists (steps started from inside tf_run_start()), hook_started records what
         * its steps did so far. */
        if (!tf_manager_run_is_running(m, r->run_id))
                return;
        record_step(m, r, st);
}

static void hook_started(struct tf_service *svc, const struct tf_run *r, enum tf_trigger trigger, unsigned attempt,
                         uint64_t scheduled_usec, void *userdata) {
        struct tf_manager *m = userdata;
        _cleanup_error_ tf_error *e = NULL;
        struct tf_store_run row = TF_STORE_RUN_INIT;
        const char *retry_of = r->extra ? r->extra->retry_of : NULL;
        row.run_id = r->run_id;
        row.service = r->spec->name;
        /* `tfrun retry`'s run is started as a manual trigger carrying retry_of; "retry" is the word of a
         * restart's later attempt already, so the history says "rerun" (its later attempts stay "retry"). */
        row.trigger = trigger == TF_TRIGGER_MANUAL && retry_of ? "rerun" : tf_trigger_name(trigger);
        row.retry_of = retry_of;
        row.attempt = attempt + 1;
        row.scheduled_usec = scheduled_usec;
        row.started_usec = r->result.start_realtime_usec ? r->result.start_realtime_usec : tf_now(CLOCK_REALTIME);
        row.status = "running";
        row.backend = tf_backend_name(r->spec->resolved_backend);
        row.log_path = r->outlog ? tf_outlog_path(r->outlog) : NULL;
        row.manager_id = m->manager_id;
        if (tf_store_run_begin(m->store, &row, &e) < 0)
                tf_log("warning: %s: not recorded in the history: %s", r->run_id, e->msg);
        history_written(m);
        live_add(m, r->run_id);
        for (size_t i = 0; i < r->result.n_steps; i++)
                record_step(m, r, &r->result.steps[i]);
        tf_metrics_run_started(m->metrics, r->spec->name, trigger, row.started_usec);
        tf_alerts_run_started(m->alerts, svc, r, scheduled_usec);
}

/* A fire skipped by overlap goes into the history as a skipped run (so that runs_total{result="skipped"}
 * counts it for good); either kind is counted in /metrics. */
static void hook_missed(struct tf_service *svc, const char *reason, uint64_t scheduled_usec,
                        void *userdata) {
        struct tf_manager *m = userdata;
        const struct tf_spec *spec = tf_service_spec(svc);
        tf_metrics_fire_missed(m->metrics, spec->name, reason);
        tf_alerts_fire_missed(m->alerts, svc, reason, scheduled_usec);
        bool admission = streq(reason, "admission");
        if (!streq(reason, "overlap") && !admission)
                return;
        char b[64];
        _cleanup_free_ char *why =
                admission ? tf_asprintf("admission: not admitted within admission.max_wait (%s)",
                                        tf_format_duration(b, sizeof(b), m->o.settings->admission.max_wait_usec))
                          : NULL;
        _cleanup_error_ tf_error *e = NULL;
        _cleanup_free_ char *id = tf_asprintf("%s-%d-%u", spec->name, (int) getpid(), ++m->ctx.run_counter);
        struct tf_store_run row = TF_STORE_RUN_INIT;
        row.run_id = id;
        row.service = spec->name;
        row.trigger = scheduled_usec || !admission ? "schedule" : "manual";
        row.scheduled_usec = scheduled_usec;
        row.started_usec = row.ended_usec = tf_now(CLOCK_REALTIME);
        row.status = "skipped";
        row.reason = admission ? why : "overlap: skip (the previous run was still going)";
        row.backend = tf_backend_name(spec->resolved_backend);
        row.manager_id = m->manager_id;
        if (tf_store_run_begin(m->store, &row, &e) < 0)
                tf_log("warning: %s: the skipped fire is not recorded in the history: %s", spec->name,
                       e->msg);
        history_written(m);
}

static int remove_log(const char *run_id, const char *log_path, void *userdata) {
        if (log_path && unlink(log_path) < 0 && errno != ENOENT)
                tf_log("warning: retention: %s: %s", log_path, strerror(errno));
        return 0;
}

static void retention(struct tf_manager *m, const struct tf_spec *spec) {
        _cleanup_error_ tf_error *e = NULL;
        unsigned keep_n = spec->history.keep_runs != TF_UNSET ? (unsigned) spec->history.keep_runs : KEEP_RUNS_DEFAULT;
        unsigned keep_d = spec->history.keep_days != TF_UNSET ? (unsigned) spec->history.keep_days : KEEP_DAYS_DEFAULT;
        if (tf_store_retention(m->store, spec->name, keep_n, keep_d, remove_log, m, &e) < 0)
                tf_log("warning: %s: history retention: %s", spec->name, e->msg);
}

static int on_retention(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        struct tf_manager *m = userdata;
        for (struct msvc *s = m->svcs; s; s = s->next)
                if (s->svc && !s->removed)
                        retention(m, tf_service_spec(s->svc));
        tf_source_set_time(m->retention_timer, tf_loop_now(m->loop, CLOCK_MONOTONIC) + RETENTION_PERIOD_USEC);
        return 0;
}

static void hook_ended(struct tf_service *svc, const struct tf_run *r, void *userdata) {
        struct tf_manager *m = userdata;
        _cleanup_error_ tf_error *e = NULL;
        const struct tf_run_result *res = &r->result;
        struct tf_store_run row = TF_STORE_RUN_INIT;
        row.run_id = r->run_id;
        row.status = result_word(res);
        row.reason = res->error ? res->error : tf_run_reason_name(res->reason);
        row.exit_code = res->exit_code;
        row.signal = res->signal;
        row.oom = res->reason == TF_REASON_OOM_KILLED || (res->oom_kills != TF_UNSET && res->oom_kills > 0);
        row.peak_memory = res->memory_peak != TF_UNSET ? (int64_t) res->memory_peak : TF_STORE_UNKNOWN;
        row.cpu_usec = res->cpu_usec != TF_UNSET ? (int64_t) res->cpu_usec : TF_STORE_UNKNOWN;
        row.log_path = res->log_path;
        if (tf_store_run_end(m->store, &row, &e) < 0)
                tf_log("warning: %s: its end is not recorded in the history: %s", r->run_id, e->msg);
        live_remove(m, r->run_id);
        tf_metrics_run_ended(m->metrics, r->spec->name, res, row.status, tf_now(CLOCK_REALTIME));
        retention(m, r->spec);
        history_written(m);
}


/* A job ended for good (its last attempt): the services its spec names for that outcome are triggered once,
 * with the run's facts in their env. A cancelled run (stopped) triggers nothing. */
static void triggers_job_ended(struct tf_manager *m, const struct tf_run *r) {
        const struct tf_spec *spec = r->spec;
        const struct tf_run_result *res = &r->result;
        if (res->reason == TF_REASON_CANCELLED || m->stopping)
                return;
        bool ok = res->reason == TF_REASON_EXITED && res->exit_status == 0;
        size_t k = ok ? 0 : 1;
        const struct tf_service_refs *refs = trigger_refs(spec, k);
        if (refs->n == 0)
                return;
        _cleanup_free_ char *e_svc = tf_asprintf("TFRUN_TRIGGER_SERVICE=%s", spec->name);
        _cleanup_free_ char *e_run = tf_asprintf("TFRUN_TRIGGER_RUN_ID=%s", r->run_id);
        _cleanup_free_ char *e_st = tf_asprintf("TFRUN_TRIGGER_STATUS=%s", result_word(res));
        char *env[] = { e_svc, e_run, e_st, NULL };
        struct tf_run_extra x = { .env = env };
        _cleanup_free_ char *why = tf_asprintf("%s of %s (%s)", trigger_keys[k], spec->name, r->run_id);
        for (size_t i = 0; i < refs->n; i++) {
                const char *name = refs->refs[i].name;
                struct msvc *t = find_name(m, name);
                if (!t || !t->svc) {
                        tf_log("warning: %s: %s: no service '%s' now (see `tfrun ps`); not triggered", spec->name,
                               trigger_keys[k], name);
                        continue;
                }
                _cleanup_free_ char *id = NULL;
                enum tf_trigger_outcome oc = tf_service_trigger_ex(t->svc, TF_TRIGGER_SERVICE, why, &x, &id);
                static const char *const words[] = { [TF_TRIGGER_STARTED] = "started", [TF_TRIGGER_QUEUED] = "queued",
                                                     [TF_TRIGGER_SKIPPED] = "skipped", [TF_TRIGGER_DRAINING] = "draining",
                                                     [TF_TRIGGER_FAILED] = "failed",
                                                     [TF_TRIGGER_WAITING] = "waiting" };
                tf_log("%s: %s: triggered %s: %s%s%s", spec->name, trigger_keys[k], name, words[oc],
                       id ? " " : "", id ? id : "");
        }
}

static bool hook_admit(struct tf_service *svc, struct tf_service_job *job, void *userdata) {
        struct tf_manager *m = userdata;
        return tf_admission_admit(m->adm, job);
}

static void hook_release(struct tf_service *svc, struct tf_service_job *job, void *userdata) {
        struct tf_manager *m = userdata;
        tf_admission_release(m->adm, job);
}

/* --config: the budget's cgroup (every run goes below it) and admission. Before any spec is loaded: the
 * run checks see the budget as the cgroup parent. */
static int setup_settings(struct tf_manager *m, tf_error **err) {
        const struct tf_settings *st = m->o.settings;
        if (!st)
                return 0;
        int r;
        if (st->have_budget) {
                struct tf_cg_host *h = NULL;
                r = tf_native_cg_host(&m->ctx, &h, err);
                if (r < 0)
                        return r;
                r = tf_budget_new(h, st, m->o.cgroup_parent, &m->budget, err);
                if (r < 0)
                        return r;
                m->run_opts.cgroup_parent = tf_budget_path(m->budget);
                m->run_opts.container_cgroup_parent = tf_budget_path(m->budget);
                tf_log("budget: %s (every run of this manager goes below it)", tf_budget_dir(m->budget));
        }
        r = tf_admission_new(m->loop, st, m->budget, &m->adm, err);
        if (r < 0)
                return r;
        m->hooks.admit = hook_admit;
        m->hooks.release = hook_release;
        return 0;
}

/* Once per job, after its last attempt: what alerts and triggers say once per fire. */
static void hook_job_ended(struct tf_service *svc, const struct tf_run *r, unsigned attempts,
                           void *userdata) {
        struct tf_manager *m = userdata;
        tf_alerts_job_ended(m->alerts, svc, r, result_word(&r->result), attempts);
        triggers_job_ended(m, r);
}

static int on_lost(const struct tf_store_run *run, void *userdata) {
        struct tf_manager *m = userdata;
        if (run->backend && streq(run->backend, "docker") && !tf_strv_contains(m->lost_docker, run->service))
                tf_strv_push(&m->lost_docker, run->service);
        if (run->backend && streq(run->backend, "swarm") && !tf_strv_contains(m->lost_swarm, run->service))
                tf_strv_push(&m->lost_swarm, run->service);
        tf_log("%s: run %s (%s, started by manager %s) was lost: its manager is gone; what it left is swept",
               run->service, run->run_id, run->backend ? run->backend : "?", run->manager_id ? run->manager_id : "?");
        return 0;
}

static int count_total(const char *service, const char *status, uint64_t total, void *userdata) {
        if (!streq(status, "running"))
                *(uint64_t *) userdata += total;
        return 0;
}

static char *make_manager_id(void) {
        char boot[64] = "noboot";
        _cleanup_free_ char *b = NULL;
        if (tf_read_file("/proc/sys/kernel/random/boot_id", 64, &b, NULL) == 0) {
                snprintf(boot, sizeof(boot), "%s", b);
                boot[strcspn(boot, "\n")] = 0;
        }
        return tf_asprintf("%s:%d:%" PRIu64, boot, (int) getpid(), tf_now(CLOCK_REALTIME));
}

static int open_history(struct tf_manager *m, tf_error **err) {
        _cleanup_free_ char *db = tf_asprintf("%s/tfrun.db", m->state_dir);
        int r = tf_store_open(db, 0, &m->store, err);
        if (r < 0)
                return r;
        unsigned lost = 0;
        r = tf_store_mark_lost(m->store, m->manager_id, on_lost, m, &lost, err);
        if (r < 0)
                return r;
        /* Run ids are "<service>-<pid>-<n>": a later manager may get the same pid (after a reboot, say), so
         * n goes on from every run ever recorded, not from 1. */
        uint64_t total = 0;
        r = tf_store_counts(m->store, count_total, &total, err);
        if (r < 0)
                return r;
        m->ctx.run_counter = (unsigned) total;
        return 0;
}

int tf_manager_new(const struct tf_manager_options *o, struct tf_manager **ret, tf_error **err) {
        struct tf_manager *m = tf_malloc0(sizeof(*m));
        m->o = *o;
        m->lock_fd = m->sig_fd = -1;
        m->state_dir = o->state_dir ? tf_strdup(o->state_dir) : tf_default_state_dir();
        /* The history keeps each run's log path, absolute (the store refuses others): a relative
         * --state-dir is taken from the working directory now, or no run would be recorded. */
        _cleanup_free_ char *cwd = m->state_dir[0] != '/' ? getcwd(NULL, 0) : NULL;
        if (cwd) {
                char *abs = tf_asprintf("%s/%s", cwd, m->state_dir);
                free(m->state_dir);
                m->state_dir = abs;
        }
        m->logs_dir = tf_asprintf("%s/logs", m->state_dir);
        m->manager_id = make_manager_id();
        m->run_opts.cgroup_parent = o->cgroup_parent;
        m->run_opts.on_step = hook_step;
        m->run_opts.on_step_userdata = m;
        m->hooks = (struct tf_service_hooks){ .run_started = hook_started, .run_ended = hook_ended,
                                              .job_ended = hook_job_ended, .fire_missed = hook_missed,
                                              .userdata = m };
        int r;
        struct stat st;
        if (stat(o->dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
                r = tf_error_set(err, errno ? errno : ENOTDIR, "%s: %s", o->dir,
                                 errno ? strerror(errno) : "not a directory");
                goto fail;
        }
        r = take_lock(m, err);
        if (r < 0)
                goto fail;
        r = tf_loop_new(&m->loop, err);
        if (r < 0)
                goto fail;
        tf_run_ctx_init(&m->ctx, m->loop);
        r = tf_outlog_spares_new(m->loop, m->logs_dir, log_spares_max(), &m->log_spares, err);
        if (r < 0)
                goto fail;
        m->ctx.swarm_host = m->o.swarm_host;
        m->ctx.swarm_nodes = m->o.swarm_nodes;
        m->started_usec = tf_now(CLOCK_REALTIME);
        r = open_history(m, err);
        if (r < 0)
                goto fail;
        r = setup_settings(m, err);
        if (r < 0)
                goto fail;
        r = tf_api_socket_path(o->socket_path, &m->socket_path, err);
        if (r < 0)
                goto fail;
        r = tf_auth_new(m->store, &m->auth, err);
        if (r < 0)
                goto fail;
        (void) tf_metrics_new(m->store, &m->metrics);
        r = tf_alerts_new(&m->ctx, &m->run_opts, m->store, &m->alerts, err);
        if (r < 0)
                goto fail;
        tf_alerts_set_default(m->alerts, o->settings ? &o->settings->notify : NULL);
        struct tf_http_options ho = { .authorize = tf_auth_authorize, .headers = tf_ui_headers() };
        r = tf_http_server_new(m->loop, tf_api_routes(), m, &ho, &m->http, err);
        if (r < 0)
                goto fail;
        r = tf_http_listen_unix(m->http, m->socket_path, err);
        if (r < 0)
                goto fail;
        if (o->listen) {
                r = tf_auth_listen_tcp(m->http, o->listen, err);
                if (r < 0)
                        goto fail;
        }
        *ret = m;
        return 0;
fail:
        tf_manager_free(m);
        return r;
}

int tf_manager_run(struct tf_manager *m) {
        _cleanup_error_ tf_error *e = NULL;
        sigset_t mask;
        sigemptyset(&mask);
        for (size_t i = 0; i < ELEMENTSOF(handled_signals); i++)
                sigaddset(&mask, handled_signals[i]);
        /* Blocked for good, as in supervise.c: a pending SIGTERM must never take its default action. */
        sigprocmask(SIG_BLOCK, &mask, NULL);
        m->sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (m->sig_fd < 0 || tf_loop_add_io(m->loop, m->sig_fd, EPOLLIN, on_signal, m, NULL, &e) < 0) {
                tf_log("signals: %s", e ? e->msg : strerror(errno));
                return 125;
        }
        /* Runs of a manager that is gone (killed) left their cgroups: sweep them before anything starts. */
        if (tf_native_sweep(&m->ctx, m->o.cgroup_parent, NULL, &e) < 0) {
                tf_log("warning: sweeping what earlier runs left: %s", e->msg);
                tf_error_free(e);
                e = NULL;
        }
        /* Containers of lost docker runs: removed now rather than at their service's next run, which may be
         * a day away (or never, for a service that left DIR). */
        if (m->lost_docker && m->lost_docker[0]) {
                const struct tf_backend_ops *ops = NULL;
                if (tf_run_load_docker_backend(&ops, &e) < 0 || !ops->sweep) {
                        tf_log("warning: containers of lost runs are not swept: %s", e ? e->msg : "no sweep");
                        tf_error_free(e);
                        e = NULL;
                } else
                        for (char **sv = m->lost_docker; *sv; sv++)
                                if (ops->sweep(&m->ctx, *sv, &e) < 0) {
                                        tf_log("warning: %s: containers of lost runs are not swept: %s", *sv, e->msg);
                                        tf_error_free(e);
                                        e = NULL;
                                }
        }
        /* Swarm services of lost swarm runs, likewise (runner/swarm-backend.c). */
        if (m->lost_swarm && m->lost_swarm[0]) {
                const struct tf_backend_ops *ops = NULL;
                if (tf_run_load_swarm_backend(&ops, &e) < 0 || !ops->sweep) {
                        tf_log("warning: swarm services of lost runs are not swept: %s", e ? e->msg : "no sweep");
                        tf_error_free(e);
                        e = NULL;
                } else
                        for (char **sv = m->lost_swarm; *sv; sv++)
                                if (ops->sweep(&m->ctx, *sv, &e) < 0) {
                                        tf_log("warning: %s: swarm services of lost runs are not swept: %s", *sv,
                                               e->msg);
                                        tf_error_free(e);
                                        e = NULL;
                                }
        }
        char **files = NULL;
        if (list_dir(m->o.dir, &files, &e) < 0) {
                tf_log("%s", e->msg);
                return 125;
        }
        unsigned n_ok = 0, n_broken = 0;
        for (char **f = files; *f; f++) {
                struct msvc *s = add_file(m, *f, false);
                if (s->svc)
                        n_ok++;
                else
                        n_broken++;
        }
        tf_strv_free(files);
        /* Started after all are loaded, in file order: a name clash and the triggers between services are
         * decided before any fire. */
        check_triggers(m, NULL, NULL, NULL);
        n_ok = n_broken = 0;
        for (struct msvc *s = m->svcs; s; s = s->next) {
                if (s->removed)
                        continue;
                if (s->svc)
                        n_ok++;
                else
                        n_broken++;
        }
        start_new(m);
        if (tf_loop_add_timer(m->loop, CLOCK_MONOTONIC, tf_loop_now(m->loop, CLOCK_MONOTONIC), on_retention, m,
                              &m->retention_timer, &e) < 0) {
                tf_log("warning: no periodic history retention: %s", e->msg);
                tf_error_free(e);
                e = NULL;
        }
        tf_log("managing %u service%s from %s (%u broken); state in %s; API on %s", n_ok, n_ok == 1 ? "" : "s",
               m->o.dir, n_broken, m->state_dir, m->socket_path);
        notify("READY=1");
        int r = tf_loop_run(m->loop);
        if (r < 0) {
                tf_log("event loop: %s", strerror(-r));
                return 125;
        }
        return 0;
}

void tf_manager_free(struct tf_manager *m) {
        if (!m)
                return;
        tf_source_remove(m->retention_timer);
        tf_source_remove(m->checkpoint_timer);
        tf_source_remove(m->logdir_timer);
        tf_strv_free(m->logdir_todo);
        /* First the API: its streams (logs -f) hold loop timers and ask about runs. */
        tf_http_server_free(m->http);
        m->http = NULL;
        tf_auth_free(m->auth);
        m->auth = NULL;
        while (m->svcs) {
                struct msvc *s = m->svcs;
                m->svcs = s->next;
                msvc_free(s);
        }
        /* Before the loop: the server's listeners remove their sources from it. */
        tf_http_server_free(m->http);
        m->http = NULL;
        if (m->loop) {
                tf_loop_exit(m->loop, 0);
                (void) tf_loop_run(m->loop);
                /* After the services (their jobs release what they hold) and the runs' cgroups; before
                 * the run context, which owns the cgroup host the budget borrows. */
                tf_admission_free(m->adm);
                m->adm = NULL;
                tf_budget_free(m->budget);
                m->budget = NULL;
                /* After the loop's last round: notifier commands held it until they ended. */
                tf_alerts_free(m->alerts);
                m->alerts = NULL;
                m->log_spares = tf_outlog_spares_free(m->log_spares);
                tf_run_ctx_done(&m->ctx);
                tf_loop_free(m->loop);
        }
        /* After the alerts, which borrow their notify: defaults. */
        for (size_t i = 0; i < m->n_settings_read; i++)
                tf_settings_free(m->settings_read[i]);
        free(m->settings_read);
        tf_metrics_free(m->metrics);
        tf_store_free(m->store);
        while (m->live)
                live_remove(m, m->live->run_id);
        if (m->sig_fd >= 0)
                close(m->sig_fd);
        if (m->lock_fd >= 0)
                close(m->lock_fd);
        free(m->state_dir);
        free(m->logs_dir);
        free(m->manager_id);
        free(m->socket_path);
        tf_strv_free(m->lost_docker);
        tf_strv_free(m->lost_swarm);
        free(m);
}

/* --- what the API asks --- */

static char *fmt_time(uint64_t usec) {
        char b[40];
        tf_format_utc_usec(b, sizeof(b), usec);
        return tf_strdup(b);
}

static json_t *time_or_null(uint64_t usec) {
        if (!usec)
                return json_null();
        _cleanup_free_ char *t = fmt_time(usec);
        return json_string(t);
}

static const char *state_of(const struct msvc *s) {
        if (!s->svc)
                return "broken";
        return tf_service_running(s->svc, NULL)                 ? "running"
               : tf_service_admission_waiting(s->svc)        ? "queued"
               : !tf_service_spec(s->svc)->schedule.present ? "idle"
               : tf_service_enabled(s->svc)                  ? "waiting"
                                                             : "disabled";
}

void tf_manager_foreach(struct tf_manager *m,
                        void (*cb)(const char *name, const struct tf_service *svc, const char *state,
                                   void *userdata),
                        void *userdata) {
        /* The list is head-first: into an array, then in file order. */
        size_t n = 0;
        for (struct msvc *s = m->svcs; s; s = s->next)
                n += !s->removed;
        _cleanup_free_ struct msvc **v = tf_malloc0((n + 1) * sizeof(*v));
        size_t i = n;
        for (struct msvc *s = m->svcs; s; s = s->next)
                if (!s->removed)
                        v[--i] = s;
        for (i = 0; i < n; i++)
                cb(v[i]->svc ? v[i]->name : NULL, v[i]->svc, state_of(v[i]), userdata);
}

struct tf_auth *tf_manager_auth(struct tf_manager *m) {
        return m->auth;
}

struct tf_metrics *tf_manager_metrics(struct tf_manager *m) {
        return m->metrics;
}

struct tf_alerts *tf_manager_alerts(struct tf_manager *m) {
        return m->alerts;
}

static json_t *service_json(struct msvc *s) {
        json_t *o = json_object();
        json_object_set_new(o, "name", s->name ? json_string(s->name) : json_null());
        json_object_set_new(o, "file", json_string(s->file));
        if (s->error)
                json_object_set_new(o, "error", json_string(s->error));
        if (!s->svc) {
                json_object_set_new(o, "state", json_string("broken"));
                return o;
        }
        const struct tf_spec *spec = tf_service_spec(s->svc);
        const char *newest = NULL;
        unsigned running = tf_service_running(s->svc, &newest);
        bool enabled = tf_service_enabled(s->svc);
        uint64_t next = tf_service_next_fire(s->svc), ended = 0;
        const struct tf_run_result *last = tf_service_last_result(s->svc, &ended);
        json_object_set_new(o, "state", json_string(state_of(s)));
        json_object_set_new(o, "backend", json_string(tf_backend_name(spec->resolved_backend)));
        json_object_set_new(o, "scheduled", json_boolean(spec->schedule.present));
        json_object_set_new(o, "enabled", json_boolean(enabled));
        json_object_set_new(o, "running", json_integer(running));
        json_object_set_new(o, "running_run_id", newest ? json_string(newest) : json_null());
        json_object_set_new(o, "next", time_or_null(next));
        json_object_set_new(o, "next_usec", next ? json_integer((json_int_t) next) : json_null());
        json_object_set_new(o, "runs_started", json_integer(tf_service_runs_started(s->svc)));
        /* What else makes it run, and whom it triggers: present only when the spec has them. */
        for (size_t k = 0; k < ELEMENTSOF(trigger_keys); k++) {
                const struct tf_service_refs *refs = trigger_refs(spec, k);
                if (refs->n == 0)
                        continue;
                json_t *a = json_array();
                for (size_t i = 0; i < refs->n; i++)
                        json_array_append_new(a, json_string(refs->refs[i].name));
                json_object_set_new(o, trigger_keys[k], a);
        }
        if (spec->schedule.n_paths > 0) {
                json_t *a = json_array();
                for (size_t i = 0; i < spec->schedule.n_paths; i++)
                        json_array_append_new(a, json_pack("{s:s,s:s}", "kind",
                                                           tf_path_kind_name(spec->schedule.paths[i].kind), "path",
                                                           spec->schedule.paths[i].path));
                json_object_set_new(o, "paths", a);
        }
        if (last) {
                json_t *l = tf_run_result_json(s->name, tf_backend_name(spec->resolved_backend), NULL, last);
                json_object_set_new(l, "result", json_string(result_word(last)));
                json_object_set_new(l, "ended", time_or_null(ended));
                json_object_set_new(l, "ended_usec", json_integer((json_int_t) ended));
                json_object_set_new(o, "last", l);
        } else
                json_object_set_new(o, "last", json_null());
        return o;
}

json_t *tf_manager_services_json(struct tf_manager *m) {
        /* Sorted by file: the list is built head-first, so walk it into an array and reverse. */
        json_t *a = json_array();
        for (struct msvc *s = m->svcs; s; s = s->next)
                if (!s->removed)
                        json_array_insert_new(a, 0, service_json(s));
        return a;
}

/* Everything service_json() reads that may change while the entry lives (name and file do not); an
 * entry with an error is never cached. */
static bool entry_key_of(struct msvc *s, struct entry_key *k) {
        if (!s->svc || s->error)
                return false;
        memset(k, 0, sizeof(*k)); /* compared with memcmp: no stray padding */
        k->svc = s->svc;
        k->spec = tf_service_spec(s->svc);
        k->hash = s->hash;
        k->next = tf_service_next_fire(s->svc);
        k->last = tf_service_last_result(s->svc, &k->ended);
        k->state = state_of(s);
        k->running = tf_service_running(s->svc, NULL);
        k->runs_started = tf_service_runs_started(s->svc);
        k->enabled = tf_service_enabled(s->svc);
        return true;
}

static void entry_refresh(struct msvc *s) {
        struct entry_key k;
        bool cacheable = entry_key_of(s, &k);
        if (cacheable && s->entry && memcmp(&k, &s->entry_key, sizeof(k)) == 0)
                return;
        free(s->entry);
        json_t *o = service_json(s);
        s->entry = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        if (!s->entry)
                tf_oom();
        s->entry_len = strlen(s->entry);
        if (cacheable)
                memcpy(&s->entry_key, &k, sizeof(k));
        else
                memset(&s->entry_key, 0, sizeof(s->entry_key)); /* no svc: never equal to a key */
}

char *tf_manager_services_text(struct tf_manager *m, const char *before, const char *after,
                               bool (*allowed)(const char *name, void *userdata), void *userdata,
                               size_t *ret_len) {
        /* In file order: the list is head-first. */
        size_t n = 0;
        for (struct msvc *s = m->svcs; s; s = s->next)
                n += !s->removed;
        _cleanup_free_ struct msvc **v = tf_malloc0((n + 1) * sizeof(*v));
        size_t i = n, len = strlen(before) + strlen(after) + 2;
        for (struct msvc *s = m->svcs; s; s = s->next) {
                if (s->removed)
                        continue;
                v[--i] = s;
                if (allowed && !allowed(s->svc ? s->name : NULL, userdata)) {
                        v[i] = NULL;
                        continue;
                }
                entry_refresh(s);
                len += s->entry_len + 1;
        }
        char *text = tf_malloc0(len + 1), *p = text;
        p = stpcpy(p, before);
        *p++ = '[';
        bool first = true;
        for (i = 0; i < n; i++) {
                if (!v[i])
                        continue;
                if (!first)
                        *p++ = ',';
                first = false;
                memcpy(p, v[i]->entry, v[i]->entry_len);
                p += v[i]->entry_len;
        }
        *p++ = ']';
        p = stpcpy(p, after);
        *ret_len = (size_t) (p - text);
        return text;
}

json_t *tf_manager_service_json(struct tf_manager *m, const char *name) {
        struct msvc *s = find_name(m, name);
        if (!s)
                for (struct msvc *b = m->svcs; b; b = b->next)
                        if (!b->svc && !b->removed) {
                                /* A broken file is known by its file's base name without the suffix. */
                                const char *base = strrchr(b->file, '/');
                                base = base ? base + 1 : b->file;
                                size_t n = strcspn(base, ".");
                                if (strlen(name) == n && strncmp(base, name, n) == 0)
                                        s = b;
                        }
        return s ? service_json(s) : NULL;
}

static int lookup(struct tf_manager *m, const char *name, struct msvc **ret, tf_error **err) {
        struct msvc *s = find_name(m, name);
        if (!s)
                return tf_error_set(err, ENOENT, "no service '%s' (see `tfrun ps`)", name);
        *ret = s;
        return 0;
}

int tf_manager_trigger(struct tf_manager *m, const char *name, json_t **ret, tf_error **err) {
        struct msvc *s = NULL;
        int r = lookup(m, name, &s, err);
        if (r < 0)
                return r;
        if (m->stopping)
                return tf_error_set(err, ESHUTDOWN, "the manager is stopping");
        char *id = NULL;
        enum tf_trigger_outcome oc = tf_service_trigger_as(s->svc, TF_TRIGGER_MANUAL, "triggered", &id);
        static const char *const names[] = { [TF_TRIGGER_STARTED] = "started", [TF_TRIGGER_QUEUED] = "queued",
                                             [TF_TRIGGER_SKIPPED] = "skipped", [TF_TRIGGER_DRAINING] = "draining",
                                             [TF_TRIGGER_FAILED] = "failed", [TF_TRIGGER_WAITING] = "waiting" };
        *ret = json_pack("{s:s,s:s,s:s?}", "service", name, "outcome", names[oc], "run_id", id);
        free(id);
        return 0;
}

int tf_manager_stop(struct tf_manager *m, const char *name, unsigned *ret_stopped, tf_error **err) {
        struct msvc *s = NULL;
        int r = lookup(m, name, &s, err);
        if (r < 0)
                return r;
        *ret_stopped = tf_service_stop_runs(s->svc);
        tf_log("%s: stop asked: %u run%s stopping", name, *ret_stopped, *ret_stopped == 1 ? "" : "s");
        return 0;
}

int tf_manager_set_enabled(struct tf_manager *m, const char *name, bool enabled, tf_error **err) {
        struct msvc *s = NULL;
        int r = lookup(m, name, &s, err);
        if (r < 0)
                return r;
        struct tf_store_service_state st = { .service = name, .enabled = enabled };
        r = tf_store_service_set(m->store, &st, err);
        if (r < 0)
                return r; /* not changed: a disable that a restart would forget is not a disable */
        if (tf_service_enabled(s->svc) != enabled)
                tf_log("%s: %s", name, enabled ? "enabled" : "disabled: no more fires until enabled");
        tf_service_set_enabled(s->svc, enabled);
        tf_alerts_service_set(m->alerts, s->svc);
        return 0;
}

tf_store *tf_manager_store(struct tf_manager *m) {
        return m->store;
}

struct tf_loop *tf_manager_loop(struct tf_manager *m) {
        return m->loop;
}

struct status_runs {
        tf_store *store;
        json_t *runs;
};

static int add_run(const struct tf_store_run *run, void *userdata) {
        struct status_runs *w = userdata;
        json_t *o = tf_api_run_json(run);
        tf_api_run_add_steps(o, w->store, run->run_id, false);
        json_array_append_new(w->runs, o);
        return 0;
}

json_t *tf_manager_service_status_json(struct tf_manager *m, const char *name) {
        json_t *o = tf_manager_service_json(m, name);
        if (!o)
                return NULL;
        _cleanup_error_ tf_error *e = NULL;
        json_t *runs = json_array();
        struct tf_store_filter f = { .service = name, .limit = 10 };
        struct status_runs w = { m->store, runs };
        if (tf_store_query(m->store, &f, add_run, &w, &e) < 0)
                json_object_set_new(o, "history_error", json_string(e->msg));
        json_object_set_new(o, "runs", runs);
        struct msvc *s = find_name(m, name);
        json_t *next = json_array();
        if (s && s->svc) {
                uint64_t t[5];
                unsigned n = tf_service_next_fires(s->svc, t, ELEMENTSOF(t));
                for (unsigned i = 0; i < n; i++)
                        json_array_append_new(next, time_or_null(t[i]));
        }
        json_object_set_new(o, "next_fires", next);
        if (s && s->svc && m->adm) {
                const struct tf_spec *spec = tf_service_spec(s->svc);
                json_object_set_new(o, "queue", json_string(spec->queue ? spec->queue : "default"));
                json_object_set_new(o, "priority", json_integer(spec->priority));
        }
        json_t *b = tf_manager_budget_json(m);
        if (b)
                json_object_set_new(o, "budget", b);
        return o;
}

json_t *tf_manager_queue_json(struct tf_manager *m) {
        if (!m->adm)
                return json_pack("{s:[],s:[]}", "waiting", "queues");
        return tf_admission_json(m->adm);
}

json_t *tf_manager_budget_json(struct tf_manager *m) {
        if (!m->budget && !m->adm)
                return NULL;
        uint64_t mem = 0, cpu = 0;
        unsigned runs = 0;
        tf_admission_held(m->adm, &mem, &cpu, &runs);
        json_t *o = m->budget ? tf_budget_json(m->budget) : json_object();
        json_object_set_new(o, "held", json_pack("{s:I,s:f,s:I}", "runs", (json_int_t) runs, "cpus",
                                                 (double) cpu / TF_CPU_PERIOD_USEC, "memory", (json_int_t) mem));
        json_object_set_new(o, "waiting", json_integer(tf_admission_waiting(m->adm)));
        json_object_set_new(o, "preemptions", json_integer((json_int_t) tf_admission_preemptions(m->adm)));
        return o;
}

struct tf_budget *tf_manager_budget(struct tf_manager *m) {
        return m->budget;
}

struct tf_admission *tf_manager_admission(struct tf_manager *m) {
        return m->adm;
}

/* --- tfrun retry --- */

/* A step of the run retried, as the history has it. */
struct old_step {
        char *name;
        char *status;
        char *output; /* NULL: none recorded */
        size_t output_len;
};

struct old_steps {
        struct old_step *v;
        size_t n;
};

static int collect_step(const struct tf_store_step *st, void *userdata) {
        struct old_steps *o = userdata;
        o->v = tf_realloc(o->v, (o->n + 1) * sizeof(*o->v));
        struct old_step *x = &o->v[o->n++];
        *x = (struct old_step){ .name = tf_strdup(st->name), .status = tf_strdup(st->status) };
        if (st->output) {
                x->output = tf_malloc0(st->output_len + 1);
                memcpy(x->output, st->output, st->output_len);
                x->output_len = st->output_len;
        }
        return 0;
}

static void old_steps_done(struct old_steps *o) {
        for (size_t i = 0; i < o->n; i++) {
                free(o->v[i].name);
                free(o->v[i].status);
                free(o->v[i].output);
        }
        free(o->v);
}

static const struct old_step *old_step_find(const struct old_steps *o, const char *name) {
        for (size_t i = 0; i < o->n; i++)
                if (streq(o->v[i].name, name))
                        return &o->v[i];
        return NULL;
}

static bool is_handler_name(const struct tf_spec *spec, const char *name) {
        const struct tf_step *h[] = { spec->on_success, spec->on_failure, spec->on_exit };
        for (size_t i = 0; i < ELEMENTSOF(h); i++)
                if (h[i] && streq(h[i]->name, name))
                        return true;
        return false;
}

/* "a, b, c": the spec's steps. */
static char *spec_step_names(const struct tf_spec *spec) {
        char *out = tf_strdup("");
        for (size_t i = 0; i < spec->n_steps; i++) {
                char *t = tf_asprintf("%s%s%s", out, i ? ", " : "", spec->steps[i].name);
                free(out);
                out = t;
        }
        return out;
}

/* "a, b, c": the steps the run recorded (handlers left out). */
static char *old_step_names(const struct old_steps *o, const struct tf_spec *spec) {
        char *out = tf_strdup("");
        for (size_t i = 0; i < o->n; i++) {
                if (is_handler_name(spec, o->v[i].name))
                        continue;
                char *t = tf_asprintf("%s%s%s", out, *out ? ", " : "", o->v[i].name);
                free(out);
                out = t;
        }
        return out;
}

/*
 * Which steps the retry runs again (rerun[i] for spec->steps[i]): --from STEP and everything downstream of
 * it; else every step that did not succeed (failed, timed out, skipped, cancelled, never recorded) and
 * everything downstream of those, since a step's inputs are the outputs of the steps it needs. The rest
 * succeeded (or were reused) with inputs that do not change: they are reused with their outputs.
 */
static int plan_rerun(const struct tf_spec *spec, const struct old_steps *old, const char *from, bool *rerun,
                      tf_error **err) {
        _cleanup_free_ size_t *order = NULL;
        int r = tf_spec_steps_order(spec, &order);
        if (r < 0)
                return tf_error_set(err, -r, "%s: its steps have no order (a cycle?)", spec->name);
        for (size_t i = 0; i < spec->n_steps; i++) {
                const struct old_step *o = old_step_find(old, spec->steps[i].name);
                if (from)
                        rerun[i] = streq(spec->steps[i].name, from);
                else
                        rerun[i] = !o || !(streq(o->status, "success") || streq(o->status, "reused"));
        }
        for (size_t k = 0; k < spec->n_steps; k++) {
                const struct tf_step *st = &spec->steps[order[k]];
                for (size_t d = 0; d < st->n_deps && !rerun[order[k]]; d++)
                        rerun[order[k]] = rerun[st->deps[d]];
        }
        return 0;
}

int tf_manager_retry(struct tf_manager *m, const char *run_id, const char *from, json_t **ret, tf_error **err) {
        _cleanup_free_ struct tf_store_run *run = NULL;
        int r = tf_store_get_run(m->store, run_id, &run, err);
        if (r == -ENOENT) {
                tf_error_free(*err);
                *err = NULL;
                return tf_error_set(err, ENOENT, "no run '%s' in the history (see `tfrun history`)", run_id);
        }
        if (r < 0)
                return r;
        if (streq(run->status, "running"))
                return tf_error_set(err, EBUSY,
                                    "run %s is still running: a retry starts from its end (wait for it, or "
                                    "`tfrun stop %s`)",
                                    run_id, run->service);
        struct msvc *s = find_name(m, run->service);
        if (!s)
                return tf_error_set(err, ENOENT,
                                    "run %s is of service '%s', which is no longer in %s (or does not load: "
                                    "see `tfrun ps`)",
                                    run_id, run->service, m->o.dir);
        if (m->stopping)
                return tf_error_set(err, ESHUTDOWN, "the manager is stopping");
        const struct tf_spec *spec = tf_service_spec(s->svc);

        _cleanup_(old_steps_done) struct old_steps old = {};
        r = tf_store_steps(m->store, run_id, collect_step, &old, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *now_names = spec_step_names(spec), *then_names = old_step_names(&old, spec);

        if (spec->n_steps == 0) {
                if (*then_names)
                        return tf_error_set(err, ESTALE,
                                            "the spec of %s changed since run %s: that run had the steps %s, "
                                            "and %s has none now: nothing of it can be reused (`tfrun trigger "
                                            "%s` runs it anew)",
                                            run->service, run_id, then_names, run->service, run->service);
                if (from)
                        return tf_error_set(err, EINVAL,
                                            "--from %s: run %s is not a workflow run (%s has no steps): retry "
                                            "it without --from",
                                            from, run_id, run->service);
        }
        if (from) {
                bool found = false;
                const char *near = NULL;
                /* A suggestion only for a near miss: "zz" is no typo of "a". */
                unsigned best = (unsigned) strlen(from) / 3 + 2;
                for (size_t i = 0; i < spec->n_steps; i++) {
                        found |= streq(spec->steps[i].name, from);
                        unsigned d = tf_edit_distance(from, spec->steps[i].name);
                        if (d < best)
                                best = d, near = spec->steps[i].name;
                }
                if (!found) {
                        _cleanup_free_ char *hint = near ? tf_asprintf(" (did you mean '%s'?)", near) : NULL;
                        return tf_error_set(err, EINVAL, "--from %s: %s has no step '%s'%s; its steps: %s", from,
                                            run->service, from, hint ? hint : "", now_names);
                }
        }
        /*
         * What ran must still be what the spec says, or its results are not the spec's: every step the run
         * recorded is still there, every step of the spec was recorded (unless the run was lost with its
         * manager, before it reached them), and a step reused for its output still has one.
         */
        bool mismatch = false;
        _cleanup_free_ char *detail = NULL;
        for (size_t i = 0; i < old.n && !mismatch; i++) {
                bool known = is_handler_name(spec, old.v[i].name);
                for (size_t k = 0; k < spec->n_steps && !known; k++)
                        known = streq(spec->steps[k].name, old.v[i].name);
                if (!known) {
                        mismatch = true;
                        detail = tf_asprintf("step %s is gone", old.v[i].name);
                }
        }
        for (size_t k = 0; k < spec->n_steps && old.n > 0 && !mismatch; k++) {
                const struct old_step *o = old_step_find(&old, spec->steps[k].name);
                if (!o && !streq(run->status, "lost")) {
                        mismatch = true;
                        detail = tf_asprintf("step %s is new", spec->steps[k].name);
                } else if (o && spec->steps[k].output && !o->output &&
                           (streq(o->status, "success") || streq(o->status, "reused"))) {
                        mismatch = true;
                        detail = tf_asprintf("step %s passes on an output (output: %s) that run %s did not record",
                                             spec->steps[k].name, spec->steps[k].output, run_id);
                }
        }
        if (mismatch)
                return tf_error_set(err, ESTALE,
                                    "the steps of %s changed since run %s (%s; then: %s; now: %s): its results "
                                    "cannot be reused (`tfrun trigger %s` runs it anew)",
                                    run->service, run_id, detail, then_names, now_names, run->service);

        _cleanup_free_ bool *rerun = tf_malloc0((spec->n_steps + 1) * sizeof(*rerun));
        _cleanup_free_ struct tf_step_reuse *reuse = tf_malloc0((spec->n_steps + 1) * sizeof(*reuse));
        size_t n_reuse = 0, n_rerun = 0;
        json_t *jrerun = json_array(), *jreused = json_array();
        if (spec->n_steps > 0) {
                r = plan_rerun(spec, &old, from, rerun, err);
                if (r < 0) {
                        json_decref(jrerun), json_decref(jreused);
                        return r;
                }
                for (size_t i = 0; i < spec->n_steps; i++) {
                        const struct old_step *o = old_step_find(&old, spec->steps[i].name);
                        if (rerun[i] || !o) {
                                n_rerun++;
                                json_array_append_new(jrerun, json_string(spec->steps[i].name));
                                continue;
                        }
                        reuse[n_reuse++] = (struct tf_step_reuse){ .name = spec->steps[i].name,
                                                                   .output = o->output,
                                                                   .output_len = o->output_len };
                        json_array_append_new(jreused, json_string(spec->steps[i].name));
                }
                if (n_rerun == 0) {
                        json_decref(jrerun), json_decref(jreused);
                        return tf_error_set(err, EALREADY,
                                            "every step of run %s succeeded: nothing to retry (`tfrun retry %s "
                                            "--from STEP` reruns a step and what follows it, `tfrun trigger %s` "
                                            "the whole workflow)",
                                            run_id, run_id, run->service);
                }
        }
        struct tf_run_extra x = { .retry_of = run_id, .reuse = n_reuse ? reuse : NULL, .n_reuse = n_reuse };
        _cleanup_free_ char *why = tf_asprintf("retry of %s", run_id);
        char *id = NULL;
        enum tf_trigger_outcome oc = tf_service_trigger_ex(s->svc, TF_TRIGGER_MANUAL, why, &x, &id);
        static const char *const names[] = { [TF_TRIGGER_STARTED] = "started", [TF_TRIGGER_QUEUED] = "queued",
                                             [TF_TRIGGER_SKIPPED] = "skipped", [TF_TRIGGER_DRAINING] = "draining",
                                             [TF_TRIGGER_FAILED] = "failed", [TF_TRIGGER_WAITING] = "waiting" };
        if (oc == TF_TRIGGER_STARTED || oc == TF_TRIGGER_QUEUED || oc == TF_TRIGGER_WAITING)
                tf_log("%s: retry of %s%s%s: %s%s%s", run->service, run_id, from ? " from step " : "", from ? from : "",
                       names[oc], id ? " as " : "", id ? id : "");
        *ret = json_pack("{s:s,s:s,s:s?,s:s,s:o,s:o}", "service", run->service, "outcome", names[oc], "run_id", id,
                         "retry_of", run_id, "rerun", jrerun, "reused", jreused);
        free(id);
        return 0;
}
