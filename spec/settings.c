/* SPDX-License-Identifier: MIT */
/*
 * spec/settings.c: the manager's settings file (spec/settings.h), read with the spec's node tree and
 * scalar parsers, so that its messages and strictness are a spec's: "FILE:LINE:COL: KEYPATH: what;
 * expected ...", unknown keys with a suggestion, duplicate keys, no null values.
 */
#include "spec/settings.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/strutil.h"
#include "spec/spec-internal.h"

#define SETTINGS_MAX_QUEUES 64

struct sfield {
        const struct node *k, *v;
        const char *kp;
        void *obj;
};

struct skey {
        const char *name;
        int (*parse)(struct ctx *c, struct tf_settings *st, const struct sfield *f);
};

/* A mapping against a table: duplicate and unknown keys refused (with a suggestion), each known key to its
 * parser with obj. */
static int walk(struct ctx *c, struct tf_settings *st, const struct node *map, const char *parent_kp,
                const struct skey *keys, size_t n_keys, void *obj) {
        for (size_t i = 0; i + 1 < map->n_items; i += 2) {
                const struct node *k = map->items[i], *v = map->items[i + 1];
                _cleanup_free_ char *kp = spec_kp_join(parent_kp, k->text);
                if (spec_is_null(k) || spec_blank(k->text))
                        return spec_fail(c, k->pos, parent_kp, "empty key; expected key: value");
                for (size_t j = 0; j < i; j += 2)
                        if (streq(map->items[j]->text, k->text))
                                return spec_fail(c, k->pos, kp,
                                                 "duplicate key (first at %u:%u); expected each key once",
                                                 map->items[j]->pos.line, map->items[j]->pos.column);
                const struct skey *e = NULL;
                for (size_t j = 0; j < n_keys && !e; j++)
                        if (streq(keys[j].name, k->text))
                                e = &keys[j];
                if (!e) {
                        const char *names[16];
                        size_t n = 0;
                        for (size_t j = 0; j < n_keys && n < ELEMENTSOF(names); j++)
                                names[n++] = keys[j].name;
                        const char *s = spec_suggest(k->text, names, n);
                        if (s)
                                return spec_fail(c, k->pos, kp, "unknown key; did you mean '%s'?", s);
                        _cleanup_free_ char *alts = spec_join_alternatives(names, n, ", ");
                        return spec_fail(c, k->pos, kp, "unknown key; expected one of %s", alts);
                }
                int r = e->parse(c, st, &(struct sfield){.k = k, .v = v, .kp = kp, .obj = obj});
                if (r < 0)
                        return r;
        }
        return 0;
}

static int section(struct ctx *c, struct tf_settings *st, const struct sfield *f, const char *example,
                   const struct skey *keys, size_t n_keys, void *obj) {
        int r = spec_expect_map(c, f->v, f->kp, example);
        if (r < 0)
                return r;
        return walk(c, st, f->v, f->kp, keys, n_keys, obj);
}

/* ---- budget ------------------------------------------------------------------------------------------- */

static int budget_cpus(struct ctx *c, struct tf_settings *st, const struct sfield *f) {
        st->budget.pos_cpus = f->k->pos;
        st->budget.cpu_period_usec = TF_CPU_PERIOD_USEC;
        return spec_get_cpus(c, f->v, f->kp, &st->budget.cpu_quota_usec);
}

static int budget_memory(struct ctx *c, struct tf_settings *st, const struct sfield *f) {
        st->budget.pos_memory = f->k->pos;
        return spec_get_size(c, f->v, f->kp, false, SPEC_MIN_MEMORY, &st->budget.memory);
}

static int budget_memory_swap(struct ctx *c, struct tf_settings *st, const struct sfield *f) {
        st->budget.pos_memory_swap = f->k->pos;
        return spec_get_size(c, f->v, f->kp, true, 0, &st->budget.memory_swap);
}

static int budget_pids(struct ctx *c, struct tf_settings *st, const struct sfield *f) {
        st->budget.pos_pids = f->k->pos;
        return spec_get_uint(c, f->v, f->kp, 1, 4194304, "a whole number from 1 to 4194304",
                             &st->budget.pids);
}

static int budget_io_weight(struct ctx *c, struct tf_settings *st, const struct sfield *f) {
        st->budget.pos_io_weight = f->k->pos;
        return spec_get_uint(c, f->v, f->kp, 1, 10000, "a whole number from 1 to 10000",
                             &st->budget.io_weight);
}

/* The spec's limits.io, parsed by the spec's own code: the same devices, sizes and messages. */
static int budget_io(struct ctx *c, struct tf_settings *st, const struct sfield *f) {
        st->budget.pos_io = f->k->pos;
        return spec_parse_io(c, f->v, f->kp, &st->budget);
}

static const struct skey budget_keys[] = {
        {"cpus", budget_cpus}, {"memory", budget_memory},       {"memory_swap", budget_memory_swap},
        {"pids", budget_pids}, {"io_weight", budget_io_weight}, {"io", budget_io},
};

static int top_budget(struct ctx *c, struct tf_settings *st, const struct sfield *f) {
        st->have_budget = true;
        st->pos_budget = f->k->pos;
        int r = section(c, st, f, "{cpus: 1.5, memory: 8G, pids: 4096}", budget_keys,
                        ELEMENTSOF(budget_keys), NULL);
        if (r < 0)
                return r;
        if (st->budget.memory_swap != TF_UNSET && st->budget.memory == TF_UNSET)
                return spec_fail(c, st->budget.pos_memory_swap, "budget.memory_swap",
                                 "swap is capped with memory; expected budget.memory as well");
        return 0;
}

/* ---- admission ---------------------------------------------------------------------------------------- */

static int get_percent(struct ctx *c, const struct sfield *f, double *ret) {
        static const char expected[] = "a percentage from 0 to 100 (PSI avg10, e.g. 10 or 2.5)";
        const char *t = NULL;
        int r = spec_get_scalar(c, f->v, f->kp, expected, &t);
        if (r < 0)
                return r;
        size_t ip = strspn(t, "0123456789"), fp = t[ip] == '.' ? strspn(t + ip + 1, "0123456789") : 0;
        bool ok = ip > 0 && t[ip + (t[ip] == '.' ? 1 + fp : 0)] == 0 && !(t[ip] == '.' && fp == 0);
        if (!ok) {
                _cleanup_free_ char *q = spec_quoted(f->v);
                return spec_fail(c, f->v->pos, f->kp, "%s is not a number; expected %s", q, expected);
        }
        double d = strtod(t, NULL);
        if (d > 100)
                return spec_fail(c, f->v->pos, f->kp, "%s is out of range; expected %s", t, expected);
        *ret = d;
        return 0;
}

static int psi_some(struct ctx *c, struct tf_settings *st, const struct sfield *f) {
        return get_percent(c, f, &((struct tf_psi_threshold *)f->obj)->some);
}

static int psi_full(struct ctx *c, struct tf_settings *st, const struct sfield *f) {
        return get_percent(c, f, &((struct tf_psi_threshold *)f->obj)->full);
}

static const struct skey psi_keys[] = {{"some", psi_some}, {"full", psi_full}};

static int admission_psi(struct ctx *c, struct tf_settings *st, const struct sfield *f,
                         enum tf_psi_resource res) {
        struct tf_psi_threshold *t = &st->admission.psi[res];
        t->pos = f->k->pos;
        int r = section(c, st, f, "{some: 10}", psi_keys, ELEMENTSOF(psi_keys), t);
        if (r < 0)
                return r;
        if (t->some < 0 && t->full < 0)
                return spec_fail(c, f->v->pos, f->kp, "no threshold given; expected some, full or both");
        /* The kernel has no "full" line for cpu at the system level before 5.13; tfrun reads what is
         * there and refuses what is not at start (manager/admission.c). */
        return 0;
}

static int admission_cpu(struct ctx *c, struct tf_settings *st, const struct sfield *f) {
        return admission_psi(c, st, f, TF_PSI_CPU);
}
static int admission_memory(struct ctx *c, struct tf_settings *st, const struct sfield *f) {
        return admission_psi(c, st, f, TF_PSI_MEMORY);
}
static int admission_io(struct ctx *c, struct tf_settings *st, const struct sfield *f) {
        return admission_psi(c, st, f, TF_PSI_IO);
}

static int admission_max_wait(struct ctx *c, struct tf_settings *st, const struct sfield *f) {
        st->admission.pos_max_wait = f->k->pos;
        return spec_get_duration(c, f->v, f->kp, DUR_INFINITY, &st->admission.max_wait_usec);
}

static int admission_aging(struct ctx *c, struct tf_settings *st, const struct sfield *f) {
        /* The queue's key is priority x aging (in microseconds, signed 64 bits): a week keeps it far from
         * overflowing at priority 1000, and is longer than any wait worth aging. */
        int r = spec_get_duration(c, f->v, f->kp, 0, &st->admission.aging_usec);
        if (r < 0)
                return r;
        if (st->admission.aging_usec > 7 * 24 * 3600 * TF_USEC_PER_SEC) {
                _cleanup_free_ char *q = spec_quoted(f->v);
                return spec_fail(c, f->v->pos, f->kp, "%s is too long; expected at most 7d", q);
        }
        return 0;
}

static const struct skey admission_keys[] = {
        {"cpu", admission_cpu},           {"memory", admission_memory}, {"io", admission_io},
        {"max_wait", admission_max_wait}, {"aging", admission_aging},
};

static int top_admission(struct ctx *c, struct tf_settings *st, const struct sfield *f) {
        st->admission.present = true;
        st->admission.pos = f->k->pos;
        int r = section(c, st, f, "{memory: {some: 10}, max_wait: 1h}", admission_keys,
                        ELEMENTSOF(admission_keys), NULL);
        if (r < 0)
                return r;
        if (st->admission.max_wait_usec == TF_USEC_INFINITY)
                st->admission.max_wait_usec = TF_UNSET;
        return 0;
}

/* ---- queues ------------------------------------------------------------------------------------------- */

static bool queue_name_valid(const char *q) {
        return strlen(q) >= 1 && strlen(q) <= 63 &&
               (islower((unsigned char)q[0]) || isdigit((unsigned char)q[0])) &&
               q[strspn(q, "abcdefghijklmnopqrstuvwxyz0123456789_-")] == 0;
}

static int queue_max_concurrent(struct ctx *c, struct tf_settings *st, const struct sfield *f) {
        return spec_get_uint(c, f->v, f->kp, 1, 100000, "a whole number from 1 to 100000",
                             &((struct tf_settings_queue *)f->obj)->max_concurrent);
}

static const struct skey queue_keys[] = {{"max_concurrent", queue_max_concurrent}};

static int top_queues(struct ctx *c, struct tf_settings *st, const struct sfield *f) {
        static const char example[] = "{default: {max_concurrent: 8}, batch: {max_concurrent: 2}}";
        st->pos_queues = f->k->pos;
        int r = spec_expect_map(c, f->v, f->kp, example);
        if (r < 0)
                return r;
        size_t n = f->v->n_items / 2;
        if (n > SETTINGS_MAX_QUEUES)
                return spec_fail(c, f->v->pos, f->kp, "%zu queues; expected at most %d", n,
                                 SETTINGS_MAX_QUEUES);
        st->queues = tf_malloc0((n + 1) * sizeof(*st->queues));
        for (size_t i = 0; i < n; i++) {
                const struct node *k = f->v->items[2 * i], *v = f->v->items[2 * i + 1];
                _cleanup_free_ char *kp = spec_kp_join(f->kp, k->text);
                if (!queue_name_valid(k->text)) {
                        _cleanup_free_ char *q = spec_quoted(k);
                        return spec_fail(c, k->pos, kp,
                                         "%s is not a queue name; expected [a-z0-9][a-z0-9_-]*, at most 63 "
                                         "characters",
                                         q);
                }
                for (size_t j = 0; j < st->n_queues; j++)
                        if (streq(st->queues[j].name, k->text))
                                return spec_fail(c, k->pos, kp,
                                                 "duplicate key (first at %u:%u); expected each key once",
                                                 st->queues[j].pos.line, st->queues[j].pos.column);
                struct tf_settings_queue *q = &st->queues[st->n_queues++];
                *q = (struct tf_settings_queue){
                        .name = tf_strdup(k->text), .max_concurrent = TF_UNSET, .pos = k->pos};
                r = spec_expect_map(c, v, kp, "{max_concurrent: 2}");
                if (r < 0)
                        return r;
                r = walk(c, st, v, kp, queue_keys, ELEMENTSOF(queue_keys), q);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- notify: the default alerts ------------------------------------------------------------------------ */

static int top_notify(struct ctx *c, struct tf_settings *st, const struct sfield *f) {
        /* A spec's own parser: the same keys, checks and messages. */
        const char *slash = strrchr(st->path, '/');
        _cleanup_free_ char *d = slash ? tf_strndup(st->path, (size_t)(slash - st->path) + 1) : tf_strdup(".");
        _cleanup_free_ char *cwd = getcwd(NULL, 0);
        _cleanup_free_ char *dir = spec_path_resolve(cwd ? cwd : "/", d);
        return spec_parse_notify(c, dir, f->k, f->v, f->kp, &st->notify);
}

/* ---- the document ------------------------------------------------------------------------------------- */

/* One entry per section: adding one (notify:, ...) is a field in struct tf_settings, a parser, and a line
 * here. */
static const struct skey top_keys[] = {
        {"budget", top_budget},
        {"admission", top_admission},
        {"queues", top_queues},
        {"notify", top_notify},
};

struct tf_settings *tf_settings_new(void) {
        struct tf_settings *s = tf_malloc0(sizeof(*s));
        struct tf_limits *l = &s->budget;
        l->cpu_quota_usec = l->cpu_period_usec = l->cpu_weight = l->memory = l->memory_high =
                l->memory_swap = l->pids = l->io_weight = l->nofile = TF_UNSET;
        for (size_t i = 0; i < TF_PSI_N; i++)
                s->admission.psi[i].some = s->admission.psi[i].full = -1;
        s->admission.max_wait_usec = TF_UNSET;
        s->admission.aging_usec = TF_ADMISSION_AGING_DEFAULT_USEC;
        return s;
}

struct tf_settings *tf_settings_free(struct tf_settings *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_queues; i++)
                free(s->queues[i].name);
        free(s->queues);
        for (size_t i = 0; i < s->budget.n_io; i++)
                free(s->budget.io[i].device);
        free(s->budget.io);
        tf_notify_done(&s->notify);
        free(s->path);
        free(s);
        return NULL;
}

int tf_settings_load_buffer(const char *path, const char *buf, size_t len, struct tf_settings **ret,
                            tf_error **err) {
        _cleanup_settings_ struct tf_settings *s = tf_settings_new();
        s->path = tf_strdup(path);
        struct ctx c = {.path = path, .err = err};
        if (len > SPEC_MAX_SIZE)
                return spec_fail(&c, (struct tf_pos){1, 1}, NULL,
                                 "the file is larger than 1 MiB; expected a smaller settings file");
        _cleanup_node_ struct node *root = NULL;
        int r = spec_build_tree(&c, buf, len, &root);
        if (r < 0)
                return r;
        /* An empty file is a manager with no settings, as no --config. */
        if (root && !spec_is_null(root)) {
                if (root->type != NODE_MAP) {
                        _cleanup_free_ char *q = root->type == NODE_SCALAR ? spec_quoted(root) : NULL;
                        return spec_fail(&c, root->pos, NULL,
                                         "the document is %s; expected a mapping of sections (e.g. budget: "
                                         "{memory: 8G})",
                                         root->type == NODE_SEQ ? "a list" : q);
                }
                r = walk(&c, s, root, NULL, top_keys, ELEMENTSOF(top_keys), NULL);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

int tf_settings_load(const char *path, struct tf_settings **ret, tf_error **err) {
        _cleanup_free_ char *buf = NULL;
        size_t len;
        bool opened;
        int r = spec_read_file(path, SPEC_MAX_SIZE, &buf, &len, &opened);
        if (r == -EFBIG)
                return tf_error_set(
                        err, EINVAL,
                        "%s:1:1: the file is larger than 1 MiB; expected a smaller settings file", path);
        if (r == -EISDIR)
                return tf_error_set(err, -r, "%s: is a directory, expected a settings file", path);
        if (r < 0)
                return tf_error_setc(err, r, "%s: %s", path, opened ? "cannot read" : "cannot open");
        return tf_settings_load_buffer(path, buf, len, ret, err);
}

const struct tf_settings_queue *tf_settings_queue(const struct tf_settings *s, const char *name) {
        for (size_t i = 0; s && i < s->n_queues; i++)
                if (streq(s->queues[i].name, name))
                        return &s->queues[i];
        return NULL;
}

char *tf_settings_where(const struct tf_settings *s, struct tf_pos pos) {
        const char *p = s && s->path ? s->path : "<settings>";
        if (pos.line == 0)
                return tf_strdup(p);
        return tf_asprintf("%s:%u:%u", p, pos.line, pos.column);
}

const char *tf_psi_resource_name(enum tf_psi_resource r) {
        static const char *const names[] = {
                [TF_PSI_CPU] = "cpu", [TF_PSI_MEMORY] = "memory", [TF_PSI_IO] = "io"};
        return (size_t)r < ELEMENTSOF(names) ? names[r] : "?";
}
