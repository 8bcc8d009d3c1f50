/* SPDX-License-Identifier: MIT */
#include "manager/admission.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/io.h"
#include "base/parse.h"
#include "base/strutil.h"
#include "manager/budget.h"
#include "runner/log.h"
#include "runner/runner.h"
#include "spec/limits.h"

/* While starts wait for pressure to fall, it is read again this often: avg10 is a 10 s average, and the
 * kernel's PSI triggers tell of a rise, not of a fall. Only while runs wait. */
#define PRESSURE_RECHECK_USEC (1 * TF_USEC_PER_SEC)

enum why { WHY_NONE, WHY_RESERVATION, WHY_QUEUE_FULL, WHY_PRESSURE };
static const char *const why_names[] = {[WHY_NONE] = "next",
                                        [WHY_RESERVATION] = "reservation",
                                        [WHY_QUEUE_FULL] = "queue full",
                                        [WHY_PRESSURE] = "pressure"};

struct queue {
        char *name;
        uint64_t max; /* TF_UNSET: no bound */
        unsigned running, waiting;
};

/* One job of a service, waiting (in both lists) or holding its reservation (in neither). */
struct entry {
        struct tf_admission *a;
        struct tf_service_job *job;
        struct queue *q;
        uint64_t cpu, mem; /* what it reserves */
        int64_t priority;
        int64_t key;  /* priority * aging - enqueued: higher first */
        uint64_t seq; /* arrival: ties, and FIFO */
        uint64_t enq_mono, enq_rt;
        enum why why;
        bool holding;
        bool preemptible; /* its spec's preemptible: */
        bool preempting;  /* holding, and being stopped to make room */
        struct entry *prev, *next;   /* by key */
        struct entry *hprev, *hnext; /* holding: what preemption may choose from */
        struct entry *fprev, *fnext; /* by arrival (max_wait) */
};

struct psi_file {
        enum tf_psi_resource res;
        bool budget; /* the budget cgroup's own file (v2), not the host's */
        char *path;
        const struct tf_psi_threshold *t; /* borrowed from the settings */
};

struct tf_admission {
        struct tf_loop *loop;
        const struct tf_settings *st;
        struct tf_budget *budget;
        struct queue *queues;
        size_t n_queues;
        struct entry *head, *tail, *fhead, *ftail, *hhead;
        unsigned n_waiting, n_holding;
        /* Preemption in flight: the waiting run the room is for, and how many runs still stop for it. The
         * room goes to it first; no other preemption starts meanwhile. */
        struct entry *beneficiary;
        unsigned n_preempting;
        uint64_t preemptions;
        uint64_t held_cpu, held_mem, seq;
        struct tf_source *pass_src, *wait_timer, *pressure_timer;
        struct psi_file psi[2 * TF_PSI_N];
        size_t n_psi;
        /* A settings reload: the files its thresholds need, from the check until it applies. */
        struct psi_file next_psi[2 * TF_PSI_N];
        size_t n_next_psi;
        char pressure_why[160];
        /* Decisions (an admit, a pass over the queue) and their cost, for `GET queue` and
         * bench/admission.sh. */
        uint64_t decisions, decision_nsec, max_decision_nsec;
};

static uint64_t now_nsec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void count_decision(struct tf_admission *a, uint64_t start_nsec) {
        uint64_t d = now_nsec() - start_nsec;
        a->decisions++;
        a->decision_nsec += d;
        if (d > a->max_decision_nsec)
                a->max_decision_nsec = d;
}

/* ---- pressure ---- */

/* "some avg10=1.23 avg60=..." : the avg10 of the line starting with `kind`; -1 when absent. */
static double psi_avg10(const char *text, const char *kind) {
        size_t n = strlen(kind);
        for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (strncmp(l, kind, n) == 0 && l[n] == ' ') {
                        const char *v = strstr(l, "avg10=");
                        return v ? strtod(v + 6, NULL) : -1;
                }
        return -1;
}

/* A pressure file into buf (NUL-terminated); -errno. Into the caller's buffer: re-read every second while
 * runs wait, with no allocation. */
static int read_psi(const char *path, char *buf, size_t size) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t n = read(fd, buf, size - 1);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        return 0;
}

/* True when a threshold is passed; why says which. */
static bool pressure_high(struct tf_admission *a, char *why, size_t len) {
        for (size_t i = 0; i < a->n_psi; i++) {
                const struct psi_file *p = &a->psi[i];
                char buf[512];
                if (read_psi(p->path, buf, sizeof(buf)) < 0)
                        continue; /* checked at start; a read that fails now does not hold starts */
                const char *kinds[] = {"some", "full"};
                const double lim[] = {p->t->some, p->t->full};
                for (size_t k = 0; k < 2; k++) {
                        double v = lim[k] >= 0 ? psi_avg10(buf, kinds[k]) : -1;
                        if (v >= 0 && v > lim[k]) {
                                snprintf(why, len, "%s%s %s avg10 %.2f > %.2f (%s)",
                                         p->budget ? "budget " : "", tf_psi_resource_name(p->res), kinds[k],
                                         v, lim[k], p->path);
                                return true;
                        }
                }
        }
        return false;
}

/* ---- the lists ---- */

static bool before(const struct entry *x, const struct entry *y) {
        return x->key > y->key || (x->key == y->key && x->seq < y->seq);
}

static void insert(struct tf_admission *a, struct entry *e) {
        /* From the tail: most arrivals sort last. */
        struct entry *p = a->tail;
        while (p && before(e, p))
                p = p->prev;
        e->prev = p;
        e->next = p ? p->next : a->head;
        if (e->next)
                e->next->prev = e;
        else
                a->tail = e;
        if (p)
                p->next = e;
        else
                a->head = e;
        e->fprev = a->ftail;
        e->fnext = NULL;
        if (a->ftail)
                a->ftail->fnext = e;
        else
                a->fhead = e;
        a->ftail = e;
        a->n_waiting++;
        e->q->waiting++;
}

static void unlink_entry(struct tf_admission *a, struct entry *e) {
        if (e->prev)
                e->prev->next = e->next;
        else
                a->head = e->next;
        if (e->next)
                e->next->prev = e->prev;
        else
                a->tail = e->prev;
        if (e->fprev)
                e->fprev->fnext = e->fnext;
        else
                a->fhead = e->fnext;
        if (e->fnext)
                e->fnext->fprev = e->fprev;
        else
                a->ftail = e->fprev;
        e->prev = e->next = e->fprev = e->fnext = NULL;
        a->n_waiting--;
        e->q->waiting--;
}

static void hold(struct tf_admission *a, struct entry *e) {
        e->holding = true;
        e->hprev = NULL;
        e->hnext = a->hhead;
        if (a->hhead)
                a->hhead->hprev = e;
        a->hhead = e;
        a->held_cpu += e->cpu;
        a->held_mem += e->mem;
        a->n_holding++;
        e->q->running++;
}

/* Whether e fits once `mem` and `cpu` more are free. */
static bool fits_freeing(const struct tf_admission *a, const struct entry *e, uint64_t mem, uint64_t cpu) {
        const struct tf_limits *b = &a->st->budget;
        if (!a->budget)
                return true;
        if (tf_limit_is_finite(b->memory) && a->held_mem - mem + e->mem > b->memory)
                return false;
        if (b->cpu_quota_usec != TF_UNSET && a->held_cpu - cpu + e->cpu > b->cpu_quota_usec)
                return false;
        return true;
}

static bool fits(const struct tf_admission *a, const struct entry *e) {
        return fits_freeing(a, e, 0, 0);
}

static bool queue_full(const struct queue *q) {
        return q->max != TF_UNSET && q->running >= q->max;
}

/* ---- passes and timers ---- */

static void arm_wait_timer(struct tf_admission *a);
static int on_pass(struct tf_source *src, int fd, uint32_t events, void *userdata);

static void schedule_pass(struct tf_admission *a) {
        if (!a->pass_src && a->head)
                (void)tf_loop_defer(a->loop, on_pass, a, &a->pass_src);
}

static int on_pressure_timer(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        struct tf_admission *a = userdata;
        tf_source_remove(a->pressure_timer);
        a->pressure_timer = NULL;
        schedule_pass(a);
        return 0;
}

/* Victims: lowest priority first, newest first within one. */
static int cmp_victims(const void *x, const void *y) {
        const struct entry *p = *(struct entry *const *)x, *q = *(struct entry *const *)y;
        if (p->priority != q->priority)
                return p->priority < q->priority ? -1 : 1;
        return p->seq > q->seq ? -1 : p->seq < q->seq;
}

/* w waits because its reservation does not fit: stop, per their stop:, as few preemptible runs of a
 * strictly lower priority as make it fit, or none when even all of them would not. One preemption at a
 * time: while its victims stop, what they free is for w (on_pass gives it to w first). */
static void preempt_for(struct tf_admission *a, struct entry *w) {
        if (a->n_preempting > 0 || !a->budget)
                return;
        unsigned n = 0;
        for (struct entry *h = a->hhead; h; h = h->hnext)
                n += h->preemptible && !h->preempting && h->priority < w->priority;
        if (n == 0)
                return;
        _cleanup_free_ struct entry **v = tf_malloc0(n * sizeof(*v));
        n = 0;
        for (struct entry *h = a->hhead; h; h = h->hnext)
                if (h->preemptible && !h->preempting && h->priority < w->priority)
                        v[n++] = h;
        qsort(v, n, sizeof(*v), cmp_victims);
        uint64_t mem = 0, cpu = 0;
        unsigned k = 0;
        while (k < n && !fits_freeing(a, w, mem, cpu)) {
                mem += v[k]->mem;
                cpu += v[k]->cpu;
                k++;
        }
        if (!fits_freeing(a, w, mem, cpu))
                return; /* stopping them all would not make room: nothing is stopped for nothing */
        const struct tf_spec *ws = tf_service_job_spec(w->job);
        char x[32];
        _cleanup_free_ char *why = tf_asprintf(
                "preempted: stopped to make room for %s (priority %" PRId64 ", reserves %s and %.2f CPUs)",
                ws->name, w->priority, tf_format_size(x, sizeof(x), w->mem),
                (double)w->cpu / TF_CPU_PERIOD_USEC);
        a->beneficiary = w;
        /* Marked before any is stopped: a stop that ends a run at once releases it from inside the loop
         * below (v[i] is not touched after its own stop). */
        for (unsigned i = 0; i < k; i++) {
                v[i]->preempting = true;
                a->n_preempting++;
        }
        for (unsigned i = 0; i < k; i++) {
                struct entry *h = v[i];
                a->preemptions++;
                /* False: no run to stop (it is ending already); its release frees the room anyway. */
                (void)tf_service_job_preempt(h->job, why);
        }
}

static int on_pass(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        struct tf_admission *a = userdata;
        a->pass_src = NULL;
        if (!a->head)
                return 0;
        uint64_t t0 = now_nsec(), admitted_nsec = 0;
        if (pressure_high(a, a->pressure_why, sizeof(a->pressure_why))) {
                for (struct entry *e = a->head; e; e = e->next)
                        e->why = WHY_PRESSURE;
                if (!a->pressure_timer) {
                        _cleanup_error_ tf_error *e = NULL;
                        if (tf_loop_add_timer(a->loop, CLOCK_MONOTONIC,
                                              tf_loop_now(a->loop, CLOCK_MONOTONIC) + PRESSURE_RECHECK_USEC,
                                              on_pressure_timer, a, &a->pressure_timer, &e) < 0)
                                tf_log("warning: admission: no pressure re-check: %s", e->msg);
                }
                count_decision(a, t0);
                return 0;
        }
        a->pressure_why[0] = 0;
        /* The room preempted runs freed goes to the run they were stopped for, before anyone else. */
        struct entry *w = a->beneficiary;
        if (w && !queue_full(w->q) && fits(a, w)) {
                a->beneficiary = NULL;
                unlink_entry(a, w);
                hold(a, w);
                uint64_t t = now_nsec();
                tf_service_job_admit(w->job);
                admitted_nsec += now_nsec() - t;
        }
        bool blocked = false;
        for (struct entry *e = a->head, *next; e; e = next) {
                next = e->next;
                if (blocked) {
                        e->why = WHY_RESERVATION;
                        continue;
                }
                if (queue_full(e->q)) {
                        e->why = WHY_QUEUE_FULL;
                        continue;
                }
                if (!fits(a, e)) {
                        e->why = WHY_RESERVATION;
                        blocked = true;
                        preempt_for(a, e);
                        continue;
                }
                unlink_entry(a, e);
                hold(a, e);
                /* May end the job at once (its run could not be created): release() frees e then. The
                 * run's start is not the decision's cost. */
                uint64_t t = now_nsec();
                tf_service_job_admit(e->job);
                admitted_nsec += now_nsec() - t;
        }
        arm_wait_timer(a);
        count_decision(a, t0 + admitted_nsec);
        return 0;
}

static int on_wait_timer(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        struct tf_admission *a = userdata;
        uint64_t now = tf_loop_now(a->loop, CLOCK_MONOTONIC), max = a->st->admission.max_wait_usec;
        while (a->fhead && a->fhead->enq_mono + max <= now) {
                struct entry *e = a->fhead;
                struct tf_service_job *job = e->job;
                const struct tf_spec *spec = tf_service_job_spec(job);
                char b[64];
                tf_log("%s: waited %s for admission (%s), admission.max_wait: missed", spec->name,
                       tf_format_duration(b, sizeof(b), now - e->enq_mono), why_names[e->why]);
                unlink_entry(a, e);
                if (a->beneficiary == e)
                        a->beneficiary = NULL;
                tf_service_job_set_tag(job, NULL);
                free(e);
                tf_service_job_reject(job, "admission");
        }
        arm_wait_timer(a);
        schedule_pass(a);
        return 0;
}

static void arm_wait_timer(struct tf_admission *a) {
        uint64_t max = a->st->admission.max_wait_usec;
        if (max == TF_UNSET || !a->fhead) {
                tf_source_remove(a->wait_timer);
                a->wait_timer = NULL;
                return;
        }
        uint64_t at = a->fhead->enq_mono + max;
        _cleanup_error_ tf_error *e = NULL;
        if (a->wait_timer)
                tf_source_set_time(a->wait_timer, at);
        else if (tf_loop_add_timer(a->loop, CLOCK_MONOTONIC, at, on_wait_timer, a, &a->wait_timer, &e) < 0)
                tf_log("warning: admission: no max_wait timer: %s", e->msg);
}

/* ---- the hooks ---- */

static void reservation(const struct tf_spec *s, uint64_t *cpu, uint64_t *mem) {
        *mem = s->requests.memory != TF_UNSET         ? s->requests.memory
               : tf_limit_is_finite(s->limits.memory) ? s->limits.memory
                                                      : TF_RESERVE_MIN_MEMORY;
        *cpu = s->requests.cpu_quota_usec != TF_UNSET ? s->requests.cpu_quota_usec
               : s->limits.cpu_quota_usec != TF_UNSET ? s->limits.cpu_quota_usec
                                                      : TF_RESERVE_MIN_CPU_QUOTA;
}

static struct queue *queue_of(struct tf_admission *a, const struct tf_spec *s) {
        const char *name = s->queue ? s->queue : "default";
        for (size_t i = 0; i < a->n_queues; i++)
                if (streq(a->queues[i].name, name))
                        return &a->queues[i];
        return &a->queues[0]; /* checked at load; a reload cannot change a job's spec */
}

bool tf_admission_admit(struct tf_admission *a, struct tf_service_job *job) {
        const struct tf_spec *s = tf_service_job_spec(job);
        struct entry *e = tf_malloc0(sizeof(*e));
        e->a = a;
        e->job = job;
        e->q = queue_of(a, s);
        reservation(s, &e->cpu, &e->mem);
        e->priority = s->priority;
        e->preemptible = s->preemptible;
        e->enq_mono = tf_loop_now(a->loop, CLOCK_MONOTONIC);
        e->enq_rt = tf_loop_now(a->loop, CLOCK_REALTIME);
        e->seq = ++a->seq;
        uint64_t aging = a->st->admission.aging_usec;
        e->key = (int64_t)e->priority * (int64_t)aging - (int64_t)e->enq_mono;
        tf_service_job_set_tag(job, e);
        char why[160];
        uint64_t t0 = now_nsec();
        /* Nothing waits before it, and it fits: it starts now, without a loop round. */
        if (!a->head && !queue_full(e->q) && fits(a, e) && !pressure_high(a, why, sizeof(why))) {
                hold(a, e);
                count_decision(a, t0);
                return true;
        }
        insert(a, e);
        e->why = WHY_RESERVATION;
        arm_wait_timer(a);
        schedule_pass(a);
        count_decision(a, t0);
        return false;
}

void tf_admission_release(struct tf_admission *a, struct tf_service_job *job) {
        struct entry *e = tf_service_job_tag(job);
        if (!e)
                return;
        tf_service_job_set_tag(job, NULL);
        if (e->holding) {
                a->held_cpu -= e->cpu;
                a->held_mem -= e->mem;
                a->n_holding--;
                e->q->running--;
                if (e->preempting)
                        a->n_preempting--;
                if (e->hprev)
                        e->hprev->hnext = e->hnext;
                else
                        a->hhead = e->hnext;
                if (e->hnext)
                        e->hnext->hprev = e->hprev;
        } else {
                unlink_entry(a, e);
                if (a->beneficiary == e)
                        a->beneficiary = NULL;
                arm_wait_timer(a);
        }
        free(e);
        schedule_pass(a);
}

void tf_admission_stop(struct tf_admission *a) {
        tf_source_remove(a->pass_src);
        a->pass_src = NULL;
}

/* ---- setup ---- */

/* The queues of st: "default" first, the queue of a spec without queue:, unbounded unless st says. */
static struct queue *queues_of(const struct tf_settings *st, size_t *ret_n) {
        struct queue *v = tf_malloc0((st->n_queues + 1) * sizeof(*v));
        size_t n = 0;
        v[n++] = (struct queue){.name = tf_strdup("default"), .max = TF_UNSET};
        for (size_t i = 0; i < st->n_queues; i++) {
                struct queue *q = streq(st->queues[i].name, "default") ? &v[0] : &v[n++];
                if (!q->name)
                        q->name = tf_strdup(st->queues[i].name);
                q->max = st->queues[i].max_concurrent;
        }
        *ret_n = n;
        return v;
}

static void psi_files_free(struct psi_file *psi, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(psi[i].path);
}

/* The pressure files st's thresholds need, into psi (2 * TF_PSI_N); a threshold this host has no PSI for
 * is refused at its position. */
static int psi_files(const struct tf_settings *st, struct tf_budget *budget, struct psi_file *psi,
                     size_t *ret_n, tf_error **err) {
        size_t n = 0;
        /* Host-wide PSI files; TFRUN_PRESSURE_DIR stands in for /proc/pressure in tests (a host without
         * PSI, or pressure made up on demand). */
        const char *dir = getenv("TFRUN_PRESSURE_DIR");
        if (!dir || !*dir)
                dir = "/proc/pressure";
        for (int r = 0; r < TF_PSI_N; r++) {
                const struct tf_psi_threshold *t = &st->admission.psi[r];
                if (t->some < 0 && t->full < 0)
                        continue;
                _cleanup_free_ char *path = tf_asprintf("%s/%s", dir, tf_psi_resource_name(r));
                char text[512] = "";
                int k = read_psi(path, text, sizeof(text));
                if (k < 0 || (t->full >= 0 && psi_avg10(text, "full") < 0) ||
                    (t->some >= 0 && psi_avg10(text, "some") < 0)) {
                        _cleanup_free_ char *where = tf_settings_where(st, t->pos);
                        int e = tf_error_set(
                                err, EOPNOTSUPP,
                                "%s: admission.%s: this host has no pressure information in %s (%s); PSI "
                                "needs "
                                "a kernel 4.20 or later built with CONFIG_PSI and not booted with psi=0; "
                                "expected no admission.%s thresholds here",
                                where, tf_psi_resource_name(r), path,
                                k < 0          ? strerror(-k)
                                : t->full >= 0 ? "no 'full' line"
                                               : "no 'some' line",
                                tf_psi_resource_name(r));
                        psi_files_free(psi, n);
                        return e;
                }
                psi[n++] = (struct psi_file){.res = r, .path = TAKE_PTR(path), .t = t};
                /* On v2 the budget's own pressure too: what its runs stall on, whatever the rest of the
                 * host does. Optional: a kernel without cgroup PSI files keeps the host-wide check. */
                const char *bd = tf_budget_pressure_dir(budget);
                _cleanup_free_ char *bp =
                        bd ? tf_asprintf("%s/%s.pressure", bd, tf_psi_resource_name(r)) : NULL;
                if (bp && access(bp, R_OK) == 0)
                        psi[n++] = (struct psi_file){.res = r, .path = TAKE_PTR(bp), .t = t, .budget = true};
        }
        *ret_n = n;
        return 0;
}

int tf_admission_new(struct tf_loop *loop, const struct tf_settings *st, struct tf_budget *budget,
                     struct tf_admission **ret, tf_error **err) {
        struct tf_admission *a = tf_malloc0(sizeof(*a));
        a->loop = loop;
        a->st = st;
        a->budget = budget;
        a->queues = queues_of(st, &a->n_queues);
        int r = psi_files(st, budget, a->psi, &a->n_psi, err);
        if (r < 0) {
                tf_admission_free(a);
                return r;
        }
        *ret = a;
        return 0;
}

int tf_admission_check_settings(struct tf_admission *a, const struct tf_settings *st, tf_error **err) {
        char x[32], y[32];
        psi_files_free(a->next_psi, a->n_next_psi);
        a->n_next_psi = 0;
        int r = psi_files(st, a->budget, a->next_psi, &a->n_next_psi, err);
        if (r < 0)
                return r;
        const struct tf_limits *b = &st->budget;
        if (a->budget && tf_limit_is_finite(b->memory) && b->memory < a->held_mem) {
                _cleanup_free_ char *where = tf_settings_where(st, b->pos_memory);
                return tf_error_set(err, EINVAL,
                                    "%s: budget.memory: %s is less than the running runs hold (%s reserved "
                                    "by %u run%s); expected at least %s, or the reload once they ended",
                                    where, tf_format_size(x, sizeof(x), b->memory),
                                    tf_format_size(y, sizeof(y), a->held_mem), a->n_holding,
                                    a->n_holding == 1 ? "" : "s", y);
        }
        if (a->budget && b->cpu_quota_usec != TF_UNSET && b->cpu_quota_usec < a->held_cpu) {
                _cleanup_free_ char *where = tf_settings_where(st, b->pos_cpus);
                return tf_error_set(err, EINVAL,
                                    "%s: budget.cpus: %.2f is less than the running runs hold (%.2f CPUs "
                                    "reserved by %u run%s); expected at least %.2f, or the reload once they "
                                    "ended",
                                    where, (double)b->cpu_quota_usec / TF_CPU_PERIOD_USEC,
                                    (double)a->held_cpu / TF_CPU_PERIOD_USEC, a->n_holding,
                                    a->n_holding == 1 ? "" : "s",
                                    (double)a->held_cpu / TF_CPU_PERIOD_USEC);
        }
        return 0;
}

static struct queue *queue_named(struct queue *v, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (streq(v[i].name, name))
                        return &v[i];
        return &v[0];
}

void tf_admission_set_settings(struct tf_admission *a, const struct tf_settings *st) {
        size_t nq = 0;
        struct queue *q = queues_of(st, &nq);
        /* Every run keeps its queue by name; one whose queue is gone goes on in default (its service is
         * broken by the manager's checks, so no new run of it comes). */
        for (struct entry *e = a->hhead; e; e = e->hnext) {
                e->q = queue_named(q, nq, e->q->name);
                e->q->running++;
        }
        /* The waiting runs again, in arrival order, under the new aging. */
        struct entry *f = a->fhead;
        a->head = a->tail = a->fhead = a->ftail = NULL;
        a->n_waiting = 0;
        while (f) {
                struct entry *e = f;
                f = f->fnext;
                e->q = queue_named(q, nq, e->q->name);
                e->key = (int64_t)e->priority * (int64_t)st->admission.aging_usec - (int64_t)e->enq_mono;
                insert(a, e);
        }
        for (size_t i = 0; i < a->n_queues; i++)
                free(a->queues[i].name);
        free(a->queues);
        a->queues = q;
        a->n_queues = nq;
        psi_files_free(a->psi, a->n_psi);
        memcpy(a->psi, a->next_psi, sizeof(a->psi));
        a->n_psi = a->n_next_psi;
        a->n_next_psi = 0;
        a->pressure_why[0] = 0;
        a->st = st;
        arm_wait_timer(a);
        schedule_pass(a);
}

void tf_admission_free(struct tf_admission *a) {
        if (!a)
                return;
        tf_source_remove(a->pass_src);
        tf_source_remove(a->wait_timer);
        tf_source_remove(a->pressure_timer);
        a->beneficiary = NULL;
        while (a->head) {
                struct entry *e = a->head;
                unlink_entry(a, e);
                tf_service_job_set_tag(e->job, NULL);
                free(e);
        }
        for (size_t i = 0; i < a->n_queues; i++)
                free(a->queues[i].name);
        free(a->queues);
        psi_files_free(a->psi, a->n_psi);
        psi_files_free(a->next_psi, a->n_next_psi);
        free(a);
}

/* ---- load-time checks ---- */

int tf_admission_check_spec(struct tf_admission *a, const struct tf_spec *s, tf_error **err) {
        char x[32], y[32];
        if (s->queue) {
                bool known = false;
                for (size_t i = 0; i < a->n_queues && !known; i++)
                        known = streq(a->queues[i].name, s->queue);
                if (!known) {
                        _cleanup_free_ char *where = tf_spec_where(s, s->pos_queue);
                        char names[512] = "";
                        for (size_t i = 0; i < a->n_queues; i++) {
                                size_t n = strlen(names);
                                snprintf(names + n, sizeof(names) - n, "%s%s", i ? ", " : "",
                                         a->queues[i].name);
                        }
                        return tf_error_set(
                                err, EINVAL,
                                "%s: queue: '%s' is not a queue of this manager; expected one of %s "
                                "(queues: in %s)",
                                where, s->queue, names,
                                a->st->path ? a->st->path : "the settings, --config FILE");
                }
        }
        if (!a->budget)
                return 0;
        uint64_t cpu, mem;
        reservation(s, &cpu, &mem);
        const struct tf_limits *b = &a->st->budget;
        const char *src = s->requests.memory != TF_UNSET         ? "requests.memory"
                          : tf_limit_is_finite(s->limits.memory) ? "limits.memory"
                                                                 : "the minimum reservation";
        struct tf_pos pos = s->requests.memory != TF_UNSET         ? s->requests.pos_memory
                            : tf_limit_is_finite(s->limits.memory) ? s->limits.pos_memory
                                                                   : (struct tf_pos){1, 1};
        if (tf_limit_is_finite(b->memory) && mem > b->memory) {
                _cleanup_free_ char *where = tf_spec_where(s, pos);
                _cleanup_free_ char *bw = tf_settings_where(a->st, b->pos_memory);
                return tf_error_set(
                        err, EINVAL,
                        "%s: %s: reserves %s of memory, more than the manager's whole budget (budget.memory "
                        "%s at %s): it could never start; expected at most %s (requests: {memory: ...})",
                        where, src, tf_format_size(x, sizeof(x), mem),
                        tf_format_size(y, sizeof(y), b->memory), bw, y);
        }
        src = s->requests.cpu_quota_usec != TF_UNSET ? "requests.cpus"
              : s->limits.cpu_quota_usec != TF_UNSET ? "limits.cpus"
                                                     : "the minimum reservation";
        pos = s->requests.cpu_quota_usec != TF_UNSET ? s->requests.pos_cpus
              : s->limits.cpu_quota_usec != TF_UNSET ? s->limits.pos_cpus
                                                     : (struct tf_pos){1, 1};
        if (b->cpu_quota_usec != TF_UNSET && cpu > b->cpu_quota_usec) {
                _cleanup_free_ char *where = tf_spec_where(s, pos);
                _cleanup_free_ char *bw = tf_settings_where(a->st, b->pos_cpus);
                return tf_error_set(
                        err, EINVAL,
                        "%s: %s: reserves %.2f CPUs, more than the manager's whole budget (budget.cpus "
                        "%.2f at %s): it could never start; expected at most %.2f (requests: {cpus: ...})",
                        where, src, (double)cpu / TF_CPU_PERIOD_USEC,
                        (double)b->cpu_quota_usec / TF_CPU_PERIOD_USEC, bw,
                        (double)b->cpu_quota_usec / TF_CPU_PERIOD_USEC);
        }
        return 0;
}

/* ---- what the API shows ---- */

static const char *detail(struct tf_admission *a, const struct entry *e, char *buf, size_t len) {
        char x[32], y[32], z[32];
        const struct tf_limits *b = &a->st->budget;
        switch (e->why) {
        case WHY_QUEUE_FULL:
                snprintf(buf, len, "queue %s: %u of %" PRIu64 " running", e->q->name, e->q->running,
                         e->q->max);
                break;
        case WHY_PRESSURE:
                snprintf(buf, len, "%s",
                         a->pressure_why[0] ? a->pressure_why : "pressure above a threshold");
                break;
        case WHY_RESERVATION:
                if (a->budget && tf_limit_is_finite(b->memory) && a->held_mem + e->mem > b->memory)
                        snprintf(buf, len, "reserves memory %s; %s of %s held",
                                 tf_format_size(x, sizeof(x), e->mem),
                                 tf_format_size(y, sizeof(y), a->held_mem),
                                 tf_format_size(z, sizeof(z), b->memory));
                else if (a->budget && b->cpu_quota_usec != TF_UNSET &&
                         a->held_cpu + e->cpu > b->cpu_quota_usec)
                        snprintf(buf, len, "reserves %.2f CPUs; %.2f of %.2f held",
                                 (double)e->cpu / TF_CPU_PERIOD_USEC,
                                 (double)a->held_cpu / TF_CPU_PERIOD_USEC,
                                 (double)b->cpu_quota_usec / TF_CPU_PERIOD_USEC);
                else
                        snprintf(buf, len, "behind a run whose reservation does not fit yet");
                break;
        default:
                snprintf(buf, len, "starts at the next pass");
        }
        return buf;
}

json_t *tf_admission_json(struct tf_admission *a) {
        json_t *w = json_array();
        uint64_t now = tf_loop_now(a->loop, CLOCK_MONOTONIC), aging = a->st->admission.aging_usec;
        unsigned pos = 0;
        for (struct entry *e = a->head; e; e = e->next) {
                const struct tf_spec *s = tf_service_job_spec(e->job);
                char d[256], t[40];
                uint64_t waited = now - e->enq_mono;
                tf_format_utc_usec(t, sizeof(t), e->enq_rt);
                json_t *o = json_pack(
                        "{s:s,s:s,s:I,s:f,s:I,s:f,s:s,s:s,s:s,s:s,s:{s:f,s:I}}", "service", s->name, "queue",
                        e->q->name, "priority", (json_int_t)e->priority, "effective_priority",
                        (double)e->priority + (double)waited / (double)aging, "position", (json_int_t)++pos,
                        "waiting_seconds", (double)waited / 1e6, "since", t, "reason", why_names[e->why],
                        "detail", detail(a, e, d, sizeof(d)), "trigger",
                        tf_trigger_name(tf_service_job_trigger(e->job)), "reserves", "cpus",
                        (double)e->cpu / TF_CPU_PERIOD_USEC, "memory", (json_int_t)e->mem);
                json_array_append_new(w, o);
        }
        json_t *q = json_array();
        for (size_t i = 0; i < a->n_queues; i++)
                json_array_append_new(q, json_pack("{s:s,s:o,s:I,s:I}", "name", a->queues[i].name,
                                                   "max_concurrent",
                                                   a->queues[i].max == TF_UNSET
                                                           ? json_null()
                                                           : json_integer((json_int_t)a->queues[i].max),
                                                   "running", (json_int_t)a->queues[i].running, "waiting",
                                                   (json_int_t)a->queues[i].waiting));
        json_t *o = json_pack("{s:o,s:o,s:{s:I,s:f,s:I}}", "waiting", w, "queues", q, "held", "runs",
                              (json_int_t)a->n_holding, "cpus", (double)a->held_cpu / TF_CPU_PERIOD_USEC,
                              "memory", (json_int_t)a->held_mem);
        if (a->pressure_why[0])
                json_object_set_new(o, "pressure", json_string(a->pressure_why));
        json_object_set_new(o, "preemptions", json_integer((json_int_t)a->preemptions));
        json_object_set_new(
                o, "decisions",
                json_pack("{s:I,s:f,s:f}", "count", (json_int_t)a->decisions, "mean_usec",
                          a->decisions ? (double)a->decision_nsec / (double)a->decisions / 1e3 : 0.0,
                          "max_usec", (double)a->max_decision_nsec / 1e3));
        if (a->budget)
                json_object_set_new(o, "budget", tf_budget_json(a->budget));
        return o;
}

uint64_t tf_admission_preemptions(const struct tf_admission *a) {
        return a ? a->preemptions : 0;
}

unsigned tf_admission_waiting(const struct tf_admission *a) {
        return a ? a->n_waiting : 0;
}

void tf_admission_held(const struct tf_admission *a, uint64_t *memory, uint64_t *cpu_quota, unsigned *runs) {
        *memory = a ? a->held_mem : 0;
        *cpu_quota = a ? a->held_cpu : 0;
        *runs = a ? a->n_holding : 0;
}
