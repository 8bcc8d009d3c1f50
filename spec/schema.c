/* SPDX-License-Identifier: MIT */
/*
 * spec/schema.c: the schema as tables, one entry per key with its parser, and the checks that need the
 * whole document.
 */

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/parse.h"
#include "base/strutil.h"
#include "spec/caps.h"
#include "spec/limits.h"
#include "spec/spec-internal.h"

/* ---- mappings ----------------------------------------------------------------------------------------- */

/* A key of a mapping and its parser: the parser is found through the key's own entry, so a key cannot
 * exist without it, and the names a "did you mean" compares with come from the same table. */
struct key;

struct field {
        const struct key *key;
        const struct node *k, *v;
        const char *kp; /* the key path, e.g. limits.memory */
        void *obj;      /* what the mapping fills: the spec, its limits, one io entry, one mount... */
};

typedef int (*key_parser)(struct ctx *c, const struct field *f);

struct key {
        const char *name;
        key_parser parse;
        const struct key *sub; /* a section's own keys (the parser walks them) */
        size_t n_sub;
        bool early; /* a step's key read in the first pass (name, depends_on, output) */
};

#define KEY(n, p)                                                                                           \
        { .name = n, .parse = p }
#define SECTION(n, p, t)                                                                                    \
        { .name = n, .parse = p, .sub = t, .n_sub = ELEMENTSOF(t) }
#define EARLY(n, p)                                                                                         \
        { .name = n, .parse = p, .early = true }

static const char **key_names(const struct key *keys, size_t n) {
        const char **names = tf_malloc0((n + 1) * sizeof(char *));
        for (size_t i = 0; i < n; i++)
                names[i] = keys[i].name;
        return names;
}

/* A key written at the top level that belongs in a section: `memory: 1G` -> "limits.memory". */
static char *section_hint(const char *key, const struct key *top, size_t n_top) {
        for (size_t i = 0; i < n_top; i++)
                for (size_t j = 0; j < top[i].n_sub; j++)
                        if (streq(key, top[i].sub[j].name))
                                return tf_asprintf("%s.%s", top[i].name, key);
        return NULL;
}

/* docker-compose's keys, written in a spec by someone who knows compose: tfrun's key, or why there is
 * none. */
static const struct compose_key {
        const char *key;
        const char *tfrun; /* NULL: no equivalent */
        const char *note;
} compose_keys[] = {
        {"volumes", "mounts", "e.g. mounts: [{source: ./data, target: /data, read_only: true}]"},
        {"environment", "env", "a mapping, e.g. env: {LOG_LEVEL: info}"},
        {"mem_limit", "limits.memory", "e.g. limits: {memory: 512M}"},
        {"memswap_limit", "limits.memory_swap",
         "swap alone, not memory + swap as in compose, e.g. limits: {memory: 512M, memory_swap: 512M}"},
        {"mem_reservation", "limits.memory_high", "a throttle, native backend on cgroup v2 only"},
        {"pids_limit", "limits.pids", "e.g. limits: {pids: 100}"},
        {"cpu_shares", "limits.cpu_weight", "1..10000, 100 being the default (1024 shares)"},
        {"ulimits", "limits.nofile", "the open files limit, e.g. limits: {nofile: 4096}"},
        {"entrypoint", "command", "the image's entrypoint is kept; command: replaces its command"},
        {"workdir", "working_dir", "e.g. working_dir: /srv/app"},
        {"cwd", "working_dir", "e.g. working_dir: /srv/app"},
        {"container_name", "name", "e.g. name: web"},
        {"hostname", "name", "the service's name; tfrun sets no host name"},
        {"stop_signal", "stop.signal", "e.g. stop: {signal: SIGINT}"},
        {"stop_grace_period", "stop.grace", "e.g. stop: {grace: 30s}"},
        {"read_only", "sandbox.read_only_root", "e.g. sandbox: {read_only_root: true}"},
        {"network_mode", "sandbox.network", "e.g. sandbox: {network: none}"},
        {"networks", "sandbox.network", "one network, e.g. sandbox: {network: backend}"},
        {"security_opt", "sandbox.seccomp",
         "and sandbox.no_new_privileges, e.g. sandbox: {seccomp: ./p.json}"},
        {"tmpfs", "sandbox.private_tmp", "a fresh /tmp, e.g. sandbox: {private_tmp: true}"},
        {"deploy", "limits", "e.g. limits: {memory: 512M, cpus: 1.5}"},
        {"ports", NULL,
         "a native service shares the host's network, and sandbox.network: host gives a container the "
         "host's; expected no ports: key"},
        {"depends_on", NULL,
         "a spec is one service and tfrun starts no other service; expected one spec per "
         "service, started in order, or a workflow whose steps depend on each other (steps: [{name: b, "
         "depends_on: [a], command: [...]}])"},
        {"services", NULL,
         "a spec is one service, not a compose file; expected the service's keys at the "
         "top level (e.g. command:, image:, limits:)"},
        {"version", NULL, "a spec is one service, not a compose file; expected no version: key"},
        {"privileged", NULL, "expected the capabilities it needs, e.g. sandbox: {cap_add: [NET_ADMIN]}"},
};

static int compose_fail(struct ctx *c, const struct node *k, const char *kp) {
        for (size_t i = 0; i < ELEMENTSOF(compose_keys); i++) {
                const struct compose_key *ck = &compose_keys[i];
                if (!streq(ck->key, k->text))
                        continue;
                if (ck->tfrun)
                        return spec_fail(c, k->pos, kp,
                                         "unknown key (docker-compose's); did you mean '%s'? (%s)",
                                         ck->tfrun, ck->note);
                return spec_fail(c, k->pos, kp,
                                 "unknown key (docker-compose's), with no tfrun equivalent: %s", ck->note);
        }
        return 0;
}

static int unknown_key(struct ctx *c, const struct node *k, const char *parent_kp, const char *kp,
                       const struct key *keys, size_t n_keys) {
        int r = !parent_kp ? compose_fail(c, k, kp) : 0;
        if (r < 0)
                return r;
        _cleanup_free_ const char **names = key_names(keys, n_keys);
        _cleanup_free_ char *hint = !parent_kp ? section_hint(k->text, keys, n_keys) : NULL;
        const char *s = hint ? hint : spec_suggest(k->text, names, n_keys);
        if (s)
                return spec_fail(c, k->pos, kp, "unknown key; did you mean '%s'?", s);
        _cleanup_free_ char *alts = spec_join_alternatives(names, n_keys, ", ");
        return spec_fail(c, k->pos, kp, "unknown key; expected one of %s", alts);
}

/* Walks a mapping (the caller has checked that it is one) in document order: duplicate and unknown keys
 * are errors, every known key goes to its entry's parser with obj. */
static int walk_map(struct ctx *c, const struct node *map, const char *parent_kp, const struct key *keys,
                    size_t n_keys, void *obj) {
        for (size_t i = 0; i + 1 < map->n_items; i += 2) {
                const struct node *k = map->items[i], *v = map->items[i + 1];
                const char *name = k->text;
                _cleanup_free_ char *kp = spec_kp_join(parent_kp, name);

                if (spec_is_null(k) || spec_blank(name))
                        return spec_fail(c, k->pos, parent_kp, "empty key; expected key: value");
                for (size_t j = 0; j < i; j += 2)
                        if (streq(map->items[j]->text, name))
                                return spec_fail(c, k->pos, kp,
                                                 "duplicate key (first at %u:%u); expected each key once",
                                                 map->items[j]->pos.line, map->items[j]->pos.column);
                const struct key *e = NULL;
                for (size_t j = 0; j < n_keys && !e; j++)
                        if (streq(keys[j].name, name))
                                e = &keys[j];
                if (!e)
                        return unknown_key(c, k, parent_kp, kp, keys, n_keys);
                assert(e->parse);
                /* A step's mapping is walked twice: its name, depends_on and output first (the graph),
                 * then the rest, with the outputs it may use known. Both passes check every key. */
                if (c->step && c->prescan != e->early)
                        continue;
                int r = e->parse(c, &(struct field){.key = e, .k = k, .v = v, .kp = kp, .obj = obj});
                if (r < 0)
                        return r;
        }
        return 0;
}

/* A section: a mapping walked against its own keys. */
static int walk_section(struct ctx *c, const struct field *f, const char *example, void *obj) {
        int r = spec_expect_map(c, f->v, f->kp, example);
        if (r < 0)
                return r;
        return walk_map(c, f->v, f->kp, f->key->sub, f->key->n_sub, obj);
}

/* ---- name, command, user ------------------------------------------------------------------------------ */

static bool name_valid(const char *s) {
        size_t n = strlen(s);
        if (n < 1 || n > 63)
                return false;
        if (!islower((unsigned char)s[0]) && !isdigit((unsigned char)s[0]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || isdigit((unsigned char)s[i]) || strchr("_.-", s[i])))
                        return false;
        return true;
}

/* A valid name close to s, for "did you mean": lower case, other characters to '-'. NULL if none. */
static char *name_suggestion(const char *s) {
        char *out = tf_malloc0(64);
        size_t o = 0;
        for (const char *p = s; *p && o < 63; p++) {
                char ch = (char)tolower((unsigned char)*p);
                if (o == 0 && !((ch >= 'a' && ch <= 'z') || isdigit((unsigned char)ch)))
                        continue;
                out[o++] = ((ch >= 'a' && ch <= 'z') || isdigit((unsigned char)ch) || strchr("_.-", ch))
                                   ? ch
                                   : '-';
        }
        out[o] = 0;
        if (!name_valid(out)) {
                free(out);
                return NULL;
        }
        return out;
}

static const char NAME_EXPECTED[] = "lower-case letters, digits, '_', '.' and '-', starting with a letter "
                                    "or digit, at most 63 characters";

static int parse_name(struct ctx *c, const struct node *v, const char *kp, char **ret) {
        free(*ret);
        *ret = NULL;
        int r = spec_get_string(c, v, kp, NAME_EXPECTED, false, ret);
        if (r < 0)
                return r;
        if (name_valid(*ret))
                return 0;
        _cleanup_free_ char *q = spec_quoted(v);
        _cleanup_free_ char *sug = name_suggestion(*ret);
        if (sug)
                return spec_fail(c, v->pos, kp, "%s is not a valid name; expected %s; did you mean '%s'?", q,
                                 NAME_EXPECTED, sug);
        return spec_fail(c, v->pos, kp, "%s is not a valid name; expected %s", q, NAME_EXPECTED);
}

static int default_name(struct ctx *c) {
        const char *slash = strrchr(c->path, '/');
        const char *base = slash ? slash + 1 : c->path;
        size_t n = strlen(base);
        if (tf_endswith(base, ".yaml"))
                n -= 5;
        else if (tf_endswith(base, ".yml"))
                n -= 4;
        _cleanup_free_ char *name = tf_strndup(base, n);
        if (name_valid(name)) {
                c->s->name = TAKE_PTR(name);
                return 0;
        }
        _cleanup_free_ char *q = spec_quote_text(name);
        _cleanup_free_ char *sug = name_suggestion(name);
        if (sug)
                return spec_fail(
                        c, c->root_pos, "name",
                        "missing, and the file name %s is not a valid name; expected a name: key with %s; "
                        "did you mean 'name: %s'?",
                        q, NAME_EXPECTED, sug);
        return spec_fail(c, c->root_pos, "name",
                         "missing, and the file name %s is not a valid name; expected a name: key with %s",
                         q, NAME_EXPECTED);
}

static const char COMMAND_EXPECTED[] =
        "a list of strings (e.g. [python3, app.py]) or a command line (e.g. python3 app.py)";

/* A shell operator outside quotes in a command line: && || | ; > >> < & 2>&1 $( and `, alone or
 * attached to a word. No shell runs the command, so the program would get the operator as an argument.
 * Quotes and backslashes are read as tf_split_shell() reads them. Sets the operator's offset and length. */
static bool find_shell_operator(const char *t, size_t *ret_off, size_t *ret_len) {
        bool word_start = true;
        for (size_t i = 0; t[i];) {
                char ch = t[i];
                if (ch == '\'') {
                        const char *e = strchr(t + i + 1, '\'');
                        if (!e)
                                return false;
                        i = (size_t)(e - t) + 1;
                } else if (ch == '"') {
                        for (i++; t[i] && t[i] != '"'; i++)
                                if (t[i] == '\\' && t[i + 1])
                                        i++;
                        if (!t[i])
                                return false;
                        i++;
                } else if (ch == '\\') {
                        i += t[i + 1] ? 2 : 1;
                } else if (strchr("&|;<>`", ch) || (ch == '$' && t[i + 1] == '(') ||
                           (word_start && isdigit((unsigned char)ch) && t[i + 1] &&
                            strchr("<>", t[i + 1]))) {
                        size_t n = ch == '$' ? 2 : ch == '`' ? 1 : 0;
                        if (!n) {
                                n = isdigit((unsigned char)ch) ? 1 : 0;
                                n += strspn(t + i + n, "&|;<>");
                                /* 2>&1, <&0 */
                                if (n >= 2 && t[i + n - 1] == '&' &&
                                    (isdigit((unsigned char)t[i + n]) || t[i + n] == '-'))
                                        n++;
                        }
                        *ret_off = i;
                        *ret_len = n;
                        return true;
                } else
                        i++;
                word_start = ch == ' ' || ch == '\t' || ch == '\n';
        }
        return false;
}

/* The column of byte `off` of a scalar's text, exact when the scalar sits on one line (and has no escapes
 * inside quotes). */
static struct tf_pos text_pos(const struct node *v, size_t off) {
        struct tf_pos p = v->pos;
        if (v->end.line != v->pos.line)
                return p;
        size_t chars = 0;
        for (size_t i = 0; i < off; i++)
                if (((unsigned char)v->text[i] & 0xc0) != 0x80)
                        chars++;
        p.column += (unsigned)chars + (v->style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                                       v->style == YAML_DOUBLE_QUOTED_SCALAR_STYLE);
        return p;
}

/* The command line as a YAML single-quoted string: ' doubled. */
static char *yaml_single_quoted(const char *t) {
        char *out = tf_malloc0(strlen(t) * 2 + 3), *p = out;
        *p++ = '\'';
        for (; *t; t++) {
                if (*t == '\'')
                        *p++ = '\'';
                *p++ = *t;
        }
        *p++ = '\'';
        return out;
}

static int parse_command(struct ctx *c, const struct node *v, const char *kp, char ***ret) {
        if (v->type == NODE_SEQ) {
                if (v->n_items == 0)
                        return spec_fail(
                                c, v->pos, kp,
                                "empty list; expected a program and its arguments (e.g. [python3, app.py])");
                _cleanup_strv_free_ char **argv = tf_malloc0((v->n_items + 1) * sizeof(char *));
                for (size_t i = 0; i < v->n_items; i++) {
                        _cleanup_free_ char *ikp = spec_kp_index(kp, i);
                        const char *t = NULL;
                        int r = spec_get_scalar(c, v->items[i], ikp, "a string", &t);
                        if (r < 0)
                                return r;
                        if (i == 0 && !*t)
                                return spec_fail(c, v->items[i]->pos, ikp,
                                                 "empty program name; expected a program (e.g. python3)");
                        argv[i] = tf_strdup(t);
                }
                tf_strv_free(*ret);
                *ret = TAKE_PTR(argv);
                return 0;
        }
        const char *t = NULL;
        int r = spec_get_scalar(c, v, kp, COMMAND_EXPECTED, &t);
        if (r < 0)
                return r;
        _cleanup_strv_free_ char **argv = NULL;
        size_t off = 0;
        r = tf_split_shell(t, &argv, &off);
        if (r == -EINVAL) {
                /* Point at the quote itself. */
                struct tf_pos p = text_pos(v, off);
                if (t[off] == '\\')
                        return spec_fail(c, p, kp, "a backslash at the end; expected a character after it");
                return spec_fail(c, p, kp, "unterminated %c quote; expected a closing %c", t[off], t[off]);
        }
        if (r < 0)
                return tf_error_setc(c->err, r, "%s: command", c->path);
        if (!argv || !argv[0])
                return spec_fail(c, v->pos, kp,
                                 "empty string; expected a program and its arguments (e.g. python3 app.py)");
        size_t op_len;
        if (find_shell_operator(t, &off, &op_len)) {
                _cleanup_free_ char *sq = yaml_single_quoted(t);
                return spec_fail(
                        c, text_pos(v, off), kp,
                        "'%.*s' is a shell operator, but no shell runs the command (%s would get it as "
                        "an argument); expected [sh, -c, '...'] to run a shell, or the operator quoted; "
                        "did you mean [sh, -c, %s]?",
                        (int)op_len, t + off, argv[0], sq);
        }
        tf_strv_free(*ret);
        *ret = TAKE_PTR(argv);
        return 0;
}

static bool user_part_valid(const char *s, size_t n) {
        if (n == 0 || n > 32 || s[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]) && !(s[i] == '$' && i == n - 1))
                        return false;
        return true;
}

/* A numeric user part: all digits, fitting in uid_t/gid_t without being (uid_t)-1. */
static int user_number(const char *s, size_t n, uint32_t *ret) {
        if (strspn(s, "0123456789") < n)
                return 0;
        _cleanup_free_ char *d = tf_strndup(s, n);
        uint64_t v;
        if (tf_parse_u64(d, &v) < 0 || v >= UINT32_MAX)
                return -ERANGE;
        *ret = (uint32_t)v;
        return 1;
}

static int parse_user(struct ctx *c, const struct node *v, const char *kp) {
        static const char expected[] = "name, uid, uid:gid or name:group (e.g. 1000:1000)";
        struct tf_spec *s = c->s;
        int r = spec_get_string(c, v, kp, expected, false, &s->user);
        if (r < 0)
                return r;
        const char *u = s->user, *colon = strchr(u, ':');
        size_t un = colon ? (size_t)(colon - u) : strlen(u);
        const char *g = colon ? colon + 1 : NULL;
        size_t gn = g ? strlen(g) : 0;
        _cleanup_free_ char *q = spec_quoted(v);
        if (!user_part_valid(u, un) || (g && !user_part_valid(g, gn)))
                return spec_fail(c, v->pos, kp, "%s is not a user; expected %s", q, expected);
        uint32_t id;
        r = user_number(u, un, &id);
        if (r < 0)
                return spec_fail(c, v->pos, kp, "%s: the uid is out of range; expected 0 to 4294967294", q);
        if (r > 0)
                s->uid = (uid_t)id;
        if (g) {
                r = user_number(g, gn, &id);
                if (r < 0)
                        return spec_fail(c, v->pos, kp,
                                         "%s: the gid is out of range; expected 0 to 4294967294", q);
                if (r > 0)
                        s->gid = (gid_t)id;
        }
        return 0;
}

/* ---- limits ------------------------------------------------------------------------------------------- */

static int parse_cpus(struct ctx *c, const struct node *v, const char *kp) {
        static const char expected[] = "0.01 to 10000 (a number of CPUs, e.g. 1.5)";
        const char *t = NULL;
        int r = spec_get_scalar(c, v, kp, expected, &t);
        if (r < 0)
                return r;
        const char *p = t + (t[0] == '-' || t[0] == '+');
        size_t ip = strspn(p, "0123456789"), fp = 0;
        if (p[ip] == '.')
                fp = strspn(p + ip + 1, "0123456789");
        bool ok =
                (ip > 0 || fp > 0) && p[ip + (p[ip] == '.' ? 1 + fp : 0)] == 0 && !(p[ip] == '.' && fp == 0);
        if (!ok) {
                _cleanup_free_ char *q = spec_quoted(v);
                return spec_fail(c, v->pos, kp, "%s is not a number; expected %s", q, expected);
        }
        double d = strtod(t, NULL);
        if (!(d >= 0.01 && d <= SPEC_MAX_CPUS))
                return spec_fail(c, v->pos, kp, "%s is out of range; expected %s", t, expected);
        c->s->limits.cpu_quota_usec = (uint64_t)(d * (double)TF_CPU_PERIOD_USEC + 0.5);
        c->s->limits.cpu_period_usec = TF_CPU_PERIOD_USEC;
        return 0;
}

static int parse_cpuset(struct ctx *c, const struct node *v, const char *kp) {
        static const char expected[] = "CPU numbers and ranges (e.g. 0-1,3)";
        struct tf_limits *l = &c->s->limits;
        int r = spec_get_string(c, v, kp, expected, false, &l->cpuset);
        if (r < 0)
                return r;
        const char *p = l->cpuset;
        bool ok = *p != 0;
        while (ok && *p) {
                char *end;
                if (!isdigit((unsigned char)*p)) {
                        ok = false;
                        break;
                }
                unsigned long a = strtoul(p, &end, 10), b = a;
                p = end;
                if (*p == '-') {
                        p++;
                        if (!isdigit((unsigned char)*p)) {
                                ok = false;
                                break;
                        }
                        b = strtoul(p, &end, 10);
                        p = end;
                }
                if (a > 65535 || b > 65535 || b < a)
                        ok = false;
                else if (*p == ',' && p[1])
                        p++;
                else if (*p)
                        ok = false;
        }
        if (!ok) {
                _cleanup_free_ char *q = spec_quoted(v);
                return spec_fail(c, v->pos, kp, "%s is not a CPU list; expected %s", q, expected);
        }
        return 0;
}

static const char IOPS_EXPECTED[] = "a whole number of operations per second above 0 (e.g. 500)";

static int io_device(struct ctx *c, const struct field *f) {
        struct tf_io_limit *io = f->obj;
        int r = spec_get_string(c, f->v, f->kp, "a block device path (e.g. /dev/vda)", true, &io->device);
        if (r < 0)
                return r;
        if (io->device[0] != '/') {
                _cleanup_free_ char *q = spec_quoted(f->v);
                return spec_fail(c, f->v->pos, f->kp,
                                 "%s is relative; expected an absolute device path (e.g. /dev/vda)", q);
        }
        return 0;
}

static int io_read_bps(struct ctx *c, const struct field *f) {
        return spec_get_size(c, f->v, f->kp, false, 1, &((struct tf_io_limit *)f->obj)->read_bps);
}

static int io_write_bps(struct ctx *c, const struct field *f) {
        return spec_get_size(c, f->v, f->kp, false, 1, &((struct tf_io_limit *)f->obj)->write_bps);
}

static int io_read_iops(struct ctx *c, const struct field *f) {
        return spec_get_uint(c, f->v, f->kp, 1, UINT64_MAX - 2, IOPS_EXPECTED,
                             &((struct tf_io_limit *)f->obj)->read_iops);
}

static int io_write_iops(struct ctx *c, const struct field *f) {
        return spec_get_uint(c, f->v, f->kp, 1, UINT64_MAX - 2, IOPS_EXPECTED,
                             &((struct tf_io_limit *)f->obj)->write_iops);
}

static const struct key io_keys[] = {
        KEY("device", io_device),       KEY("read_bps", io_read_bps),     KEY("write_bps", io_write_bps),
        KEY("read_iops", io_read_iops), KEY("write_iops", io_write_iops),
};

int spec_parse_io(struct ctx *c, const struct node *v, const char *kp, struct tf_limits *l) {
        static const char example[] = "{device: /dev/vda, read_bps: 10M}";
        int r = spec_expect_list(c, v, kp, "a list of mappings (e.g. [{device: /dev/vda, read_bps: 10M}])");
        if (r < 0)
                return r;
        l->io = tf_malloc0(v->n_items * sizeof(struct tf_io_limit));
        l->n_io = v->n_items;
        for (size_t i = 0; i < v->n_items; i++) {
                struct tf_io_limit *io = &l->io[i];
                const struct node *e = v->items[i];
                _cleanup_free_ char *ikp = spec_kp_index(kp, i);
                io->read_bps = io->write_bps = io->read_iops = io->write_iops = TF_UNSET;
                io->pos = e->pos;
                r = spec_expect_map(c, e, ikp, example);
                if (r < 0)
                        return r;
                r = walk_map(c, e, ikp, io_keys, ELEMENTSOF(io_keys), io);
                if (r < 0)
                        return r;
                if (!io->device) {
                        _cleanup_free_ char *dkp = spec_kp_join(ikp, "device");
                        return spec_fail(c, e->pos, dkp,
                                         "missing; expected a block device path (e.g. /dev/vda)");
                }
                if (io->read_bps == TF_UNSET && io->write_bps == TF_UNSET && io->read_iops == TF_UNSET &&
                    io->write_iops == TF_UNSET)
                        return spec_fail(
                                c, e->pos, ikp,
                                "no limit given; expected at least one of read_bps, write_bps, read_iops or "
                                "write_iops");
        }
        return 0;
}

static int limits_cpus(struct ctx *c, const struct field *f) {
        c->s->limits.pos_cpus = f->k->pos;
        return parse_cpus(c, f->v, f->kp);
}

static int limits_cpu_weight(struct ctx *c, const struct field *f) {
        struct tf_limits *l = f->obj;
        l->pos_cpu_weight = f->k->pos;
        return spec_get_uint(c, f->v, f->kp, 1, 10000, "a whole number from 1 to 10000", &l->cpu_weight);
}

static int limits_cpuset(struct ctx *c, const struct field *f) {
        c->s->limits.pos_cpuset = f->k->pos;
        return parse_cpuset(c, f->v, f->kp);
}

static int limits_memory(struct ctx *c, const struct field *f) {
        struct tf_limits *l = f->obj;
        l->pos_memory = f->k->pos;
        return spec_get_size(c, f->v, f->kp, true, SPEC_MIN_MEMORY, &l->memory);
}

static int limits_memory_high(struct ctx *c, const struct field *f) {
        struct tf_limits *l = f->obj;
        l->pos_memory_high = f->k->pos;
        return spec_get_size(c, f->v, f->kp, true, SPEC_MIN_MEMORY, &l->memory_high);
}

static int limits_memory_swap(struct ctx *c, const struct field *f) {
        struct tf_limits *l = f->obj;
        l->pos_memory_swap = f->k->pos;
        return spec_get_size(c, f->v, f->kp, true, 0, &l->memory_swap);
}

static int limits_pids(struct ctx *c, const struct field *f) {
        static const char expected[] = "a whole number of 1 or more, or max";
        struct tf_limits *l = f->obj;
        l->pos_pids = f->k->pos;
        const char *t = NULL;
        int r = spec_get_scalar(c, f->v, f->kp, expected, &t);
        if (r < 0)
                return r;
        if (spec_is_max_word(t)) {
                l->pids = TF_LIMIT_MAX;
                return 0;
        }
        return spec_get_uint(c, f->v, f->kp, 1, UINT64_MAX - 2, expected, &l->pids);
}

static int limits_io_weight(struct ctx *c, const struct field *f) {
        struct tf_limits *l = f->obj;
        l->pos_io_weight = f->k->pos;
        return spec_get_uint(c, f->v, f->kp, 1, 10000, "a whole number from 1 to 10000", &l->io_weight);
}

static int limits_io(struct ctx *c, const struct field *f) {
        c->s->limits.pos_io = f->k->pos;
        return spec_parse_io(c, f->v, f->kp, &c->s->limits);
}

static int limits_nofile(struct ctx *c, const struct field *f) {
        struct tf_limits *l = f->obj;
        l->pos_nofile = f->k->pos;
        return spec_get_uint(c, f->v, f->kp, 1, SPEC_MAX_NOFILE, "a whole number from 1 to 1073741824",
                             &l->nofile);
}

static const struct key limits_keys[] = {
        KEY("cpus", limits_cpus),
        KEY("cpu_weight", limits_cpu_weight),
        KEY("cpuset", limits_cpuset),
        KEY("memory", limits_memory),
        KEY("memory_high", limits_memory_high),
        KEY("memory_swap", limits_memory_swap),
        KEY("pids", limits_pids),
        KEY("io_weight", limits_io_weight),
        KEY("io", limits_io),
        KEY("nofile", limits_nofile),
};

/* ---- stop, restart, schedule -------------------------------------------------------------------------- */

static int parse_signal(struct ctx *c, const struct node *v, const char *kp) {
        static const char expected[] = "a signal name like SIGTERM, or a number";
        const char *t = NULL;
        int r = spec_get_scalar(c, v, kp, expected, &t);
        if (r < 0)
                return r;
        int sig = tf_parse_signal(t);
        if (sig > 0) {
                c->s->stop_signal = sig;
                return 0;
        }
        if (t[strspn(t, "0123456789")] == 0)
                return spec_fail(c, v->pos, kp,
                                 "%s is not a signal number; expected 1 to %d, or a name like SIGTERM", t,
                                 SIGRTMAX);
        /* Compare without the SIG prefix, so that "SIGFOO" is not "close" to SIGFPE through SIG alone. */
        const char *names[SIGSYS + 1];
        size_t n = 0;
        for (int i = 1; i <= SIGSYS; i++)
                if (tf_signal_name(i))
                        names[n++] = tf_signal_name(i) + 3;
        const char *s = spec_suggest(strncasecmp(t, "SIG", 3) == 0 ? t + 3 : t, names, n);
        _cleanup_free_ char *q = spec_quoted(v);
        if (s)
                return spec_fail(c, v->pos, kp, "%s is not a signal; expected %s; did you mean 'SIG%s'?", q,
                                 expected, s);
        return spec_fail(c, v->pos, kp, "%s is not a signal; expected %s", q, expected);
}

static int stop_signal(struct ctx *c, const struct field *f) {
        return parse_signal(c, f->v, f->kp);
}

static int stop_grace(struct ctx *c, const struct field *f) {
        return spec_get_duration(c, f->v, f->kp, DUR_ZERO, &c->s->stop_grace_usec);
}

static const struct key stop_keys[] = {
        KEY("signal", stop_signal),
        KEY("grace", stop_grace),
};

static int history_keep_runs(struct ctx *c, const struct field *f) {
        return spec_get_uint(c, f->v, f->kp, 1, 1000000, "a number of runs from 1 to 1000000",
                             &c->s->history.keep_runs);
}

static int history_keep_days(struct ctx *c, const struct field *f) {
        return spec_get_uint(c, f->v, f->kp, 1, 36500, "a number of days from 1 to 36500", &c->s->history.keep_days);
}

static const struct key history_keys[] = {
        KEY("keep_runs", history_keep_runs),
        KEY("keep_days", history_keep_days),
};

static int backoff_initial(struct ctx *c, const struct field *f) {
        c->have_backoff_initial = true;
        c->pos_backoff_initial = f->v->pos;
        return spec_get_duration(c, f->v, f->kp, 0, &c->s->restart.backoff_initial_usec);
}

static int backoff_max(struct ctx *c, const struct field *f) {
        c->have_backoff_max = true;
        return spec_get_duration(c, f->v, f->kp, 0, &c->s->restart.backoff_max_usec);
}

static int backoff_jitter(struct ctx *c, const struct field *f) {
        return spec_get_bool(c, f->v, f->kp, &c->s->restart.jitter);
}

static const struct key backoff_keys[] = {
        KEY("initial", backoff_initial),
        KEY("max", backoff_max),
        KEY("jitter", backoff_jitter),
};

static int restart_policy(struct ctx *c, const struct field *f) {
        static const char *const policies[] = {"no", "on-failure", "always"};
        int p;
        int r = spec_get_enum(c, f->v, f->kp, "a restart policy", policies, ELEMENTSOF(policies), &p);
        if (r < 0)
                return r;
        c->s->restart.policy = (enum tf_restart_policy)p;
        return 0;
}

static int restart_max_retries(struct ctx *c, const struct field *f) {
        c->have_max_retries = true;
        c->pos_max_retries = f->k->pos;
        return spec_get_uint(c, f->v, f->kp, 0, UINT64_MAX - 2, "a whole number (0 or more)",
                             &c->s->restart.max_retries);
}

static int restart_backoff(struct ctx *c, const struct field *f) {
        return walk_section(c, f, "{initial: 1s, max: 5m}", f->obj);
}

static const struct key restart_keys[] = {
        KEY("policy", restart_policy),
        KEY("max_retries", restart_max_retries),
        SECTION("backoff", restart_backoff, backoff_keys),
};

/* `restart: always`, compose's form: the mapping it means. */
static int restart_scalar(struct ctx *c, const struct node *v, const char *kp) {
        static const char expected[] = "a mapping of policy, max_retries and backoff";
        if (v->type != NODE_SCALAR || spec_is_null(v))
                return 0;
        const char *t = v->text;
        _cleanup_free_ char *q = spec_quoted(v), *sug = NULL;
        uint64_t n;
        if (streq(t, "no") || streq(t, "always") || streq(t, "on-failure"))
                sug = tf_asprintf("{policy: %s}", t);
        else if (streq(t, "unless-stopped"))
                sug = tf_strdup("{policy: always}");
        else if (tf_startswith(t, "on-failure:") && tf_parse_u64(t + 11, &n) == 0)
                sug = tf_asprintf("{policy: on-failure, max_retries: %" PRIu64 "}", n);
        if (sug)
                return spec_fail(c, v->pos, kp,
                                 "got %s (docker-compose's form); expected %s; did you mean 'restart: %s'?",
                                 q, expected, sug);
        return 0;
}

static int sched_expr(struct ctx *c, const struct node *v, const char *kp, const char *expected,
                      struct tf_schedule_expr *e) {
        e->pos = v->pos;
        return spec_get_string(c, v, kp, expected, true, &e->expr);
}

static int schedule_calendar(struct ctx *c, const struct field *f) {
        static const char cal[] = "a calendar expression (e.g. 'Mon..Fri 09:00')";
        struct tf_schedule *sc = f->obj;
        const struct node *v = f->v;
        if (v->type == NODE_SEQ) {
                if (v->n_items == 0)
                        return spec_fail(c, v->pos, f->kp, "empty list; expected %s or a list of them", cal);
                sc->calendar = tf_malloc0(v->n_items * sizeof(struct tf_schedule_expr));
                sc->n_calendar = v->n_items;
                for (size_t i = 0; i < v->n_items; i++) {
                        _cleanup_free_ char *ikp = spec_kp_index(f->kp, i);
                        int r = sched_expr(c, v->items[i], ikp, cal, &sc->calendar[i]);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        sc->calendar = tf_malloc0(sizeof(struct tf_schedule_expr));
        sc->n_calendar = 1;
        return sched_expr(c, v, f->kp, "a calendar expression or a list of them (e.g. 'Mon..Fri 09:00')",
                          &sc->calendar[0]);
}

static int schedule_cron(struct ctx *c, const struct field *f) {
        struct tf_schedule *sc = f->obj;
        return sched_expr(c, f->v, f->kp, "a cron expression (e.g. '0 * * * *')", &sc->cron);
}

static int schedule_every(struct ctx *c, const struct field *f) {
        struct tf_schedule *sc = f->obj;
        return spec_get_duration(c, f->v, f->kp, 0, &sc->every_usec);
}

static int schedule_persistent(struct ctx *c, const struct field *f) {
        struct tf_schedule *sc = f->obj;
        return spec_get_bool(c, f->v, f->kp, &sc->persistent);
}

static int schedule_randomized_delay(struct ctx *c, const struct field *f) {
        struct tf_schedule *sc = f->obj;
        return spec_get_duration(c, f->v, f->kp, DUR_ZERO, &sc->randomized_delay_usec);
}

static int schedule_overlap(struct ctx *c, const struct field *f) {
        static const char *const overlaps[] = {"skip", "queue", "replace", "allow"};
        struct tf_schedule *sc = f->obj;
        int o;
        int r = spec_get_enum(c, f->v, f->kp, "an overlap policy", overlaps, ELEMENTSOF(overlaps), &o);
        if (r < 0)
                return r;
        sc->overlap = (enum tf_overlap)o;
        return 0;
}


/* ---- schedule.path: file triggers --------------------------------------------------------------------- */

#define SPEC_MAX_PATH_TRIGGERS 64
#define SPEC_MAX_PATH_SETTLE_USEC (UINT64_C(3600) * 1000000)

static const char *const path_kind_names[] = {"exists", "glob", "changed", "modified", "not_empty"};

static bool has_wildcard(const char *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (strchr("*?[", p[i]))
                        return true;
        return false;
}

static int path_entry(struct ctx *c, const struct node *v, const char *kp, enum tf_path_kind kind) {
        static const char expected[] = "an absolute path (e.g. /srv/inbox)";
        struct tf_schedule *sc = &c->s->schedule;
        _cleanup_free_ char *p = NULL;
        int r = spec_get_string(c, v, kp, expected, true, &p);
        if (r < 0)
                return r;
        _cleanup_free_ char *q = spec_quoted(v);
        if (p[0] != '/')
                return spec_fail(c, v->pos, kp,
                                 "%s is relative; expected %s: a path trigger watches the file system, not the "
                                 "spec's directory",
                                 q, expected);
        if (strlen(p) >= 4096)
                return spec_fail(c, v->pos, kp, "is %zu bytes long; expected a path shorter than 4096 bytes",
                                 strlen(p));
        _cleanup_free_ char *norm = spec_path_normalize(p);
        const char *slash = strrchr(norm, '/');
        if (kind == TF_PATH_GLOB) {
                if (has_wildcard(norm, (size_t)(slash - norm)))
                        return spec_fail(c, v->pos, kp,
                                         "%s has a wildcard in a directory; expected wildcards in the last "
                                         "component only (e.g. /srv/inbox/*.csv): that directory is watched "
                                         "for new names",
                                         q);
        } else if (has_wildcard(norm, strlen(norm)))
                return spec_fail(c, v->pos, kp,
                                 "%s has a wildcard, and %s watches that one path; expected a path without "
                                 "*, ? or [; did you mean 'glob: %s'?",
                                 q, path_kind_names[kind], norm);
        if (sc->n_paths >= SPEC_MAX_PATH_TRIGGERS)
                return spec_fail(c, v->pos, kp, "more than %d path triggers; expected at most %d in one spec",
                                 SPEC_MAX_PATH_TRIGGERS, SPEC_MAX_PATH_TRIGGERS);
        sc->paths = tf_realloc(sc->paths, (sc->n_paths + 1) * sizeof(struct tf_path_trigger));
        sc->paths[sc->n_paths++] = (struct tf_path_trigger){.kind = kind, .path = TAKE_PTR(norm), .pos = v->pos};
        return 0;
}

static int path_kind(struct ctx *c, const struct field *f, enum tf_path_kind kind) {
        const struct node *v = f->v;
        if (v->type != NODE_SEQ)
                return path_entry(c, v, f->kp, kind);
        if (v->n_items == 0)
                return spec_fail(c, v->pos, f->kp, "empty list; expected an absolute path or a list of them");
        for (size_t i = 0; i < v->n_items; i++) {
                _cleanup_free_ char *ikp = spec_kp_index(f->kp, i);
                int r = path_entry(c, v->items[i], ikp, kind);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int path_exists(struct ctx *c, const struct field *f) {
        return path_kind(c, f, TF_PATH_EXISTS);
}

static int path_glob(struct ctx *c, const struct field *f) {
        return path_kind(c, f, TF_PATH_GLOB);
}

static int path_changed(struct ctx *c, const struct field *f) {
        return path_kind(c, f, TF_PATH_CHANGED);
}

static int path_modified(struct ctx *c, const struct field *f) {
        return path_kind(c, f, TF_PATH_MODIFIED);
}

static int path_not_empty(struct ctx *c, const struct field *f) {
        return path_kind(c, f, TF_PATH_NOT_EMPTY);
}

static int path_settle(struct ctx *c, const struct field *f) {
        struct tf_schedule *sc = f->obj;
        int r = spec_get_duration(c, f->v, f->kp, 0, &sc->path_settle_usec);
        if (r < 0)
                return r;
        if (sc->path_settle_usec > SPEC_MAX_PATH_SETTLE_USEC) {
                _cleanup_free_ char *q = spec_quoted(f->v);
                return spec_fail(c, f->v->pos, f->kp, "%s is too long; expected at most 1h", q);
        }
        return 0;
}

static const struct key path_keys[] = {
        KEY("exists", path_exists),     KEY("glob", path_glob),           KEY("changed", path_changed),
        KEY("modified", path_modified), KEY("not_empty", path_not_empty), KEY("settle", path_settle),
};

static int schedule_path(struct ctx *c, const struct field *f) {
        struct tf_schedule *sc = f->obj;
        sc->pos_path = f->k->pos;
        if (f->v->type == NODE_SCALAR && !spec_is_null(f->v)) {
                _cleanup_free_ char *q = spec_quoted(f->v);
                return spec_fail(c, f->v->pos, f->kp,
                                 "got %s; expected a mapping of path triggers (exists, glob, changed, modified, "
                                 "not_empty); did you mean 'path: {exists: %s}'?",
                                 q, f->v->text);
        }
        int r = walk_section(c, f, "{exists: /srv/inbox/ready}", sc);
        if (r < 0)
                return r;
        if (sc->n_paths == 0)
                return spec_fail(c, f->v->pos, f->kp,
                                 "no path; expected at least one of exists, glob, changed, modified or "
                                 "not_empty (e.g. {changed: /etc/app.conf})");
        return 0;
}

static const struct key schedule_keys[] = {
        KEY("calendar", schedule_calendar),
        KEY("cron", schedule_cron),
        KEY("every", schedule_every),
        KEY("persistent", schedule_persistent),
        KEY("randomized_delay", schedule_randomized_delay),
        KEY("overlap", schedule_overlap),
        SECTION("path", schedule_path, path_keys),
};

/* ---- sandbox, mounts ---------------------------------------------------------------------------------- */

int tf_spec_capability_number(const char *name) {
        return tf_cap_number(name);
}

static int parse_caps(struct ctx *c, const struct node *v, const char *kp, char ***ret) {
        static const char expected[] = "a capability name like NET_ADMIN or SYS_PTRACE, or ALL";
        int r = spec_expect_list(c, v, kp, "a list of capability names (e.g. [ALL])");
        if (r < 0)
                return r;
        tf_strv_free(*ret);
        *ret = tf_malloc0((v->n_items + 1) * sizeof(char *));
        for (size_t i = 0; i < v->n_items; i++) {
                _cleanup_free_ char *ikp = spec_kp_index(kp, i);
                const char *t = NULL;
                r = spec_get_scalar(c, v->items[i], ikp, expected, &t);
                if (r < 0)
                        return r;
                if (strncasecmp(t, "CAP_", 4) == 0)
                        t += 4;
                char *up = tf_strdup(t);
                for (char *p = up; *p; p++)
                        *p = (char)toupper((unsigned char)*p);
                (*ret)[i] = up;
                if (streq(up, "ALL") || tf_spec_capability_number(up) >= 0)
                        continue;
                _cleanup_free_ char *q = spec_quoted(v->items[i]);
                const char *s = spec_suggest(up, tf_cap_names(), TF_CAP_COUNT);
                if (s)
                        return spec_fail(c, v->items[i]->pos, ikp,
                                         "%s is not a capability; expected %s; did you mean '%s'?", q,
                                         expected, s);
                return spec_fail(c, v->items[i]->pos, ikp, "%s is not a capability; expected %s", q,
                                 expected);
        }
        return 0;
}

static int parse_seccomp(struct ctx *c, const struct node *v, const char *kp) {
        static const char *const modes[] = {"default", "unconfined"};
        static const char expected[] =
                "default, unconfined or a path to a JSON profile (e.g. ./seccomp.json)";
        struct tf_sandbox *sb = &c->s->sandbox;
        const char *t = NULL;
        int r = spec_get_scalar(c, v, kp, expected, &t);
        if (r < 0)
                return r;
        if (streq(t, "default")) {
                sb->seccomp = TF_SECCOMP_DEFAULT;
                return 0;
        }
        if (streq(t, "unconfined")) {
                sb->seccomp = TF_SECCOMP_UNCONFINED;
                return 0;
        }
        if (strchr(t, '/') || tf_endswith(t, ".json")) {
                sb->seccomp = TF_SECCOMP_PROFILE;
                free(sb->seccomp_profile);
                sb->seccomp_profile = spec_path_resolve(c->s->dir, t);
                return 0;
        }
        _cleanup_free_ char *q = spec_quoted(v);
        const char *s = spec_suggest(t, modes, ELEMENTSOF(modes));
        if (s)
                return spec_fail(c, v->pos, kp, "%s is not a seccomp mode; expected %s; did you mean '%s'?",
                                 q, expected, s);
        return spec_fail(c, v->pos, kp, "%s is not a seccomp mode; expected %s", q, expected);
}

static int parse_network(struct ctx *c, const struct node *v, const char *kp) {
        static const char *const modes[] = {"none", "host", "bridge"};
        static const char expected[] = "none, host, bridge or a network name";
        struct tf_sandbox *sb = &c->s->sandbox;
        const char *t = NULL;
        int r = spec_get_scalar(c, v, kp, expected, &t);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(modes); i++) {
                if (streq(t, modes[i])) {
                        sb->network = (enum tf_network_mode)(TF_NETWORK_NONE + i);
                        return 0;
                }
                /* "None" or "HOST" is a typo far more often than a network's name. */
                if (strcasecmp(t, modes[i]) == 0) {
                        _cleanup_free_ char *q = spec_quoted(v);
                        return spec_fail(c, v->pos, kp,
                                         "%s is not a network mode; expected %s; did you mean '%s'?", q,
                                         expected, modes[i]);
                }
        }
        bool ok = strlen(t) <= 128 && isalnum((unsigned char)t[0]);
        for (const char *p = t; ok && *p; p++)
                ok = isalnum((unsigned char)*p) || strchr("_.-", *p);
        if (!ok) {
                _cleanup_free_ char *q = spec_quoted(v);
                return spec_fail(
                        c, v->pos, kp,
                        "%s is not a network mode or name; expected %s (letters, digits, '_', '.', '-')", q,
                        expected);
        }
        sb->network = TF_NETWORK_NAMED;
        free(sb->network_name);
        sb->network_name = tf_strdup(t);
        return 0;
}

static int sandbox_seccomp(struct ctx *c, const struct field *f) {
        c->s->sandbox.pos_seccomp = f->k->pos;
        return parse_seccomp(c, f->v, f->kp);
}

static int sandbox_no_new_privileges(struct ctx *c, const struct field *f) {
        return spec_get_bool(c, f->v, f->kp, &c->s->sandbox.no_new_privileges);
}

static int sandbox_cap_drop(struct ctx *c, const struct field *f) {
        return parse_caps(c, f->v, f->kp, &c->s->sandbox.cap_drop);
}

static int sandbox_cap_add(struct ctx *c, const struct field *f) {
        return parse_caps(c, f->v, f->kp, &c->s->sandbox.cap_add);
}

static int sandbox_read_only_root(struct ctx *c, const struct field *f) {
        return spec_get_bool(c, f->v, f->kp, &c->s->sandbox.read_only_root);
}

static int sandbox_network(struct ctx *c, const struct field *f) {
        c->s->sandbox.pos_network = f->k->pos;
        return parse_network(c, f->v, f->kp);
}

static int sandbox_cap_ambient(struct ctx *c, const struct field *f) {
        c->s->sandbox.pos_cap_ambient = f->k->pos;
        return spec_get_bool(c, f->v, f->kp, &c->s->sandbox.cap_ambient);
}

static int sandbox_private_tmp(struct ctx *c, const struct field *f) {
        return spec_get_bool(c, f->v, f->kp, &c->s->sandbox.private_tmp);
}

static int sandbox_pid(struct ctx *c, const struct field *f) {
        static const char *const modes[] = {"private", "host"};
        struct tf_sandbox *sb = &c->s->sandbox;
        int m;
        sb->pos_pid = f->k->pos;
        int r = spec_get_enum(c, f->v, f->kp, "a pid namespace mode", modes, ELEMENTSOF(modes), &m);
        if (r < 0)
                return r;
        sb->pid = (enum tf_pid_mode)(TF_PID_PRIVATE + m);
        return 0;
}

/* ipc, uts, cgroupns: private (the default) or host. */
static int parse_ns(struct ctx *c, const struct field *f, const char *what, enum tf_ns_mode *ret,
                    struct tf_pos *pos) {
        static const char *const modes[] = {"private", "host"};
        int m;
        *pos = f->k->pos;
        int r = spec_get_enum(c, f->v, f->kp, what, modes, ELEMENTSOF(modes), &m);
        if (r < 0)
                return r;
        *ret = m == 0 ? TF_NS_PRIVATE : TF_NS_HOST;
        return 0;
}

static int sandbox_ipc(struct ctx *c, const struct field *f) {
        struct tf_sandbox *sb = &c->s->sandbox;
        return parse_ns(c, f, "an ipc namespace mode", &sb->ipc, &sb->pos_ipc);
}

static int sandbox_uts(struct ctx *c, const struct field *f) {
        struct tf_sandbox *sb = &c->s->sandbox;
        return parse_ns(c, f, "a uts namespace mode", &sb->uts, &sb->pos_uts);
}

static int sandbox_cgroupns(struct ctx *c, const struct field *f) {
        struct tf_sandbox *sb = &c->s->sandbox;
        return parse_ns(c, f, "a cgroup namespace mode", &sb->cgroupns, &sb->pos_cgroupns);
}

static int sandbox_system_paths(struct ctx *c, const struct field *f) {
        static const char *const modes[] = {"masked", "unconfined"};
        struct tf_sandbox *sb = &c->s->sandbox;
        int m;
        sb->pos_system_paths = f->k->pos;
        int r = spec_get_enum(c, f->v, f->kp, "a system paths mode", modes, ELEMENTSOF(modes), &m);
        if (r < 0)
                return r;
        sb->system_paths = m == 0 ? TF_SYSTEM_PATHS_MASKED : TF_SYSTEM_PATHS_UNCONFINED;
        return 0;
}

static const struct key sandbox_keys[] = {
        KEY("seccomp", sandbox_seccomp),
        KEY("no_new_privileges", sandbox_no_new_privileges),
        KEY("cap_drop", sandbox_cap_drop),
        KEY("cap_add", sandbox_cap_add),
        KEY("cap_ambient", sandbox_cap_ambient),
        KEY("read_only_root", sandbox_read_only_root),
        KEY("network", sandbox_network),
        KEY("private_tmp", sandbox_private_tmp),
        KEY("pid", sandbox_pid),
        KEY("ipc", sandbox_ipc),
        KEY("uts", sandbox_uts),
        KEY("cgroupns", sandbox_cgroupns),
        KEY("system_paths", sandbox_system_paths),
};

static int mount_source(struct ctx *c, const struct field *f) {
        struct tf_mount *m = f->obj;
        _cleanup_free_ char *src = NULL;
        int r = spec_get_string(c, f->v, f->kp, "a path on the host (relative to the spec's directory)",
                                true, &src);
        if (r < 0)
                return r;
        m->source = spec_path_resolve(c->s->dir, src);
        return 0;
}

static int mount_target(struct ctx *c, const struct field *f) {
        struct tf_mount *m = f->obj;
        int r = spec_get_string(c, f->v, f->kp, "an absolute path (e.g. /data)", true, &m->target);
        if (r < 0)
                return r;
        if (m->target[0] != '/') {
                _cleanup_free_ char *q = spec_quoted(f->v);
                return spec_fail(c, f->v->pos, f->kp,
                                 "%s is relative; expected an absolute path (e.g. /data)", q);
        }
        char *n = spec_path_normalize(m->target);
        free(m->target);
        m->target = n;
        return 0;
}

static int mount_read_only(struct ctx *c, const struct field *f) {
        struct tf_mount *m = f->obj;
        return spec_get_bool(c, f->v, f->kp, &m->read_only);
}

static const struct key mount_keys[] = {
        KEY("source", mount_source),
        KEY("target", mount_target),
        KEY("read_only", mount_read_only),
};

static int parse_mounts(struct ctx *c, const struct node *v, const char *kp) {
        struct tf_spec *s = c->s;
        int r = spec_expect_list(c, v, kp, "a list of mappings (e.g. [{source: ./data, target: /data}])");
        if (r < 0)
                return r;
        s->mounts = tf_malloc0(v->n_items * sizeof(struct tf_mount));
        s->n_mounts = v->n_items;
        for (size_t i = 0; i < v->n_items; i++) {
                struct tf_mount *m = &s->mounts[i];
                const struct node *e = v->items[i];
                _cleanup_free_ char *ikp = spec_kp_index(kp, i);
                m->pos = e->pos;
                r = spec_expect_map(c, e, ikp, "{source: ./data, target: /data}");
                if (r < 0)
                        return r;
                r = walk_map(c, e, ikp, mount_keys, ELEMENTSOF(mount_keys), m);
                if (r < 0)
                        return r;
                if (!m->source) {
                        _cleanup_free_ char *skp = spec_kp_join(ikp, "source");
                        return spec_fail(c, e->pos, skp,
                                         "missing; expected a path on the host (relative to the spec's "
                                         "directory)");
                }
                if (!m->target) {
                        _cleanup_free_ char *tkp = spec_kp_join(ikp, "target");
                        return spec_fail(c, e->pos, tkp, "missing; expected an absolute path (e.g. /data)");
                }
        }
        return 0;
}

/* ---- top level ---------------------------------------------------------------------------------------- */

static int top_name(struct ctx *c, const struct field *f) {
        return parse_name(c, f->v, f->kp, &c->s->name);
}

static int top_description(struct ctx *c, const struct field *f) {
        return spec_get_string(c, f->v, f->kp, "a string", false, &c->s->description);
}

static int top_command(struct ctx *c, const struct field *f) {
        struct tf_spec *s = c->s;
        s->pos_command = f->k->pos;
        int r = parse_command(c, f->v, f->kp, &s->argv);
        if (r < 0 || !c->step)
                return r;
        /* A step's arguments take ${NAME}: outputs kept for run time, the environment's replaced now. */
        for (size_t i = 0; s->argv[i]; i++) {
                _cleanup_free_ char *ikp = f->v->type == NODE_SEQ ? spec_kp_index(f->kp, i) : NULL;
                char *t = NULL;
                r = spec_step_template(c, f->v->type == NODE_SEQ ? f->v->items[i] : f->v, ikp ? ikp : f->kp,
                                       s->argv[i], TF_REF_ARGV, i, &t);
                if (r < 0)
                        return r;
                free(s->argv[i]);
                s->argv[i] = t;
        }
        return 0;
}

static int top_image(struct ctx *c, const struct field *f) {
        struct tf_spec *s = c->s;
        s->pos_image = f->k->pos;
        int r = spec_get_string(c, f->v, f->kp, "an image reference (e.g. debian:12)", true, &s->image);
        if (r < 0)
                return r;
        if (s->image[strcspn(s->image, " \t\n\r\v\f")] || s->image[0] == '-') {
                _cleanup_free_ char *q = spec_quoted(f->v);
                return spec_fail(c, f->v->pos, f->kp,
                                 "%s is not an image reference; expected e.g. debian:12 or "
                                 "registry.example.com/app:1.0",
                                 q);
        }
        return 0;
}

static int top_backend(struct ctx *c, const struct field *f) {
        static const char *const backends[] = {"auto", "native", "docker", "swarm"};
        int b;
        c->s->pos_backend = f->k->pos;
        c->pos_backend_value = f->v->pos;
        c->have_backend = true;
        int r = spec_get_enum(c, f->v, f->kp, "a backend", backends, ELEMENTSOF(backends), &b);
        if (r < 0)
                return r;
        c->s->backend = (enum tf_backend)b;
        return 0;
}

/* A Swarm placement constraint: <attribute> == or != <value>, attribute one of what SwarmKit matches on
 * (node.id, node.hostname, node.role, node.platform.os, node.platform.arch, node.labels.<name>,
 * engine.labels.<name>). Checked here so that `tfrun validate` says what the manager would refuse. */
static bool placement_attr_ok(const char *a, size_t n) {
        static const char *const fixed[] = {"node.id", "node.hostname", "node.role", "node.platform.os",
                                            "node.platform.arch"};
        for (size_t i = 0; i < ELEMENTSOF(fixed); i++)
                if (strlen(fixed[i]) == n && strncmp(a, fixed[i], n) == 0)
                        return true;
        static const char *const prefixes[] = {"node.labels.", "engine.labels."};
        for (size_t i = 0; i < ELEMENTSOF(prefixes); i++) {
                size_t pl = strlen(prefixes[i]);
                if (n > pl && strncmp(a, prefixes[i], pl) == 0)
                        return true;
        }
        return false;
}

static int top_placement(struct ctx *c, const struct field *f) {
        static const char expected[] =
                "a constraint like node.role==manager or node.labels.disk!=ssd (attribute node.id, "
                "node.hostname, node.role, node.platform.os, node.platform.arch, node.labels.NAME or "
                "engine.labels.NAME; operator == or !=)";
        struct tf_spec *s = c->s;
        s->pos_placement = f->k->pos;
        int r = spec_expect_list(c, f->v, f->kp, "a list of constraints (e.g. [node.role==worker])");
        if (r < 0)
                return r;
        tf_strv_free(s->placement);
        s->placement = tf_malloc0((f->v->n_items + 1) * sizeof(char *));
        for (size_t i = 0; i < f->v->n_items; i++) {
                _cleanup_free_ char *ikp = spec_kp_index(f->kp, i);
                const char *t = NULL;
                r = spec_get_scalar(c, f->v->items[i], ikp, expected, &t);
                if (r < 0)
                        return r;
                const char *op = strstr(t, "==");
                const char *ne = strstr(t, "!=");
                if (!op || (ne && ne < op))
                        op = ne;
                size_t an = op ? (size_t)(op - t) : 0;
                while (an > 0 && t[an - 1] == ' ')
                        an--;
                const char *val = op ? op + 2 : NULL;
                while (val && *val == ' ')
                        val++;
                if (!op || !placement_attr_ok(t, an) || !*val || strstr(val, "==") || strstr(val, "!=") ||
                    strlen(t) > 256) {
                        _cleanup_free_ char *q = spec_quoted(f->v->items[i]);
                        return spec_fail(c, f->v->items[i]->pos, ikp,
                                         "%s is not a placement constraint; expected %s", q, expected);
                }
                s->placement[i] = tf_strdup(t);
        }
        return 0;
}

static int top_working_dir(struct ctx *c, const struct field *f) {
        struct tf_spec *s = c->s;
        s->pos_working_dir = f->k->pos;
        c->pos_working_dir_value = f->v->pos;
        int r = spec_get_string(c, f->v, f->kp, "an absolute path (e.g. /srv/app)", true, &s->working_dir);
        if (r < 0)
                return r;
        size_t n_refs = c->step ? c->step->n_refs : 0;
        if (c->step) {
                char *t = NULL;
                r = spec_step_template(c, f->v, f->kp, s->working_dir, TF_REF_WORKING_DIR, 0, &t);
                if (r < 0)
                        return r;
                free(s->working_dir);
                s->working_dir = t;
        }
        /* One that starts with an output is checked when the output is known (by the runner). */
        bool starts_with_ref = c->step && c->step->n_refs > n_refs && c->step->refs[n_refs].offset == 0;
        if (s->working_dir[0] != '/' && !starts_with_ref) {
                _cleanup_free_ char *q = spec_quoted(f->v);
                return spec_fail(c, f->v->pos, f->kp,
                                 "%s is relative; expected an absolute path (e.g. /srv/app)", q);
        }
        return 0;
}

static int top_env(struct ctx *c, const struct field *f) {
        return spec_parse_env(c, f->v, f->kp);
}

static int top_env_file(struct ctx *c, const struct field *f) {
        c->pos_env_file = f->k->pos;
        return spec_parse_env_file(c, f->v, f->kp);
}

static int top_user(struct ctx *c, const struct field *f) {
        c->s->pos_user = f->k->pos;
        return parse_user(c, f->v, f->kp);
}

static int top_limits(struct ctx *c, const struct field *f) {
        return walk_section(c, f, "{memory: 512M, cpus: 1}", &c->s->limits);
}

static int top_timeout(struct ctx *c, const struct field *f) {
        struct tf_spec *s = c->s;
        int r = spec_get_duration(c, f->v, f->kp, DUR_INFINITY, &s->timeout_usec);
        if (r < 0)
                return r;
        if (s->timeout_usec == TF_USEC_INFINITY)
                s->timeout_usec = TF_UNSET;
        return 0;
}

static int top_stop(struct ctx *c, const struct field *f) {
        c->have_stop = true;
        return walk_section(c, f, "{signal: SIGTERM, grace: 10s}", c->s);
}

static int top_restart(struct ctx *c, const struct field *f) {
        c->pos_restart = f->k->pos;
        int r = restart_scalar(c, f->v, f->kp);
        if (r < 0)
                return r;
        return walk_section(c, f, "{policy: on-failure, max_retries: 3}", c->s);
}

static int top_schedule(struct ctx *c, const struct field *f) {
        struct tf_schedule *sc = &c->s->schedule;
        sc->present = true;
        sc->pos = f->k->pos;
        int r = walk_section(c, f, "{every: 30m}", sc);
        if (r < 0)
                return r;
        if (sc->n_calendar == 0 && !sc->cron.expr && sc->every_usec == TF_UNSET && sc->n_paths == 0)
                return spec_fail(c, f->v->pos, f->kp,
                                 "no trigger; expected at least one of calendar, cron, every or path");
        return 0;
}

static int top_sandbox(struct ctx *c, const struct field *f) {
        c->s->sandbox_present = true;
        c->s->pos_sandbox = f->k->pos;
        /* The one scalar: `sandbox: host`, the explicit way out of the default sandbox. */
        if (f->v->type == NODE_SCALAR && !spec_is_null(f->v)) {
                static const char *const words[] = {"host"};
                static const char expected[] =
                        "host (no sandbox, native only) or a mapping of settings (e.g. {network: none, "
                        "cap_drop: [ALL]}; {} for the defaults)";
                const char *t = f->v->text;
                if (streq(t, "host")) {
                        c->s->sandbox.host = true;
                        c->pos_sandbox_value = f->v->pos;
                        return 0;
                }
                _cleanup_free_ char *q = spec_quoted(f->v);
                if (spec_suggest(t, words, ELEMENTSOF(words)))
                        return spec_fail(c, f->v->pos, f->kp,
                                         "%s is not a sandbox; expected %s; did you "
                                         "mean 'host'?",
                                         q, expected);
                return spec_fail(c, f->v->pos, f->kp, "%s is not a sandbox; expected %s", q, expected);
        }
        return walk_section(c, f, "{network: none, cap_drop: [ALL]}", &c->s->sandbox);
}

static int top_history(struct ctx *c, const struct field *f) {
        return walk_section(c, f, "{keep_runs: 100, keep_days: 30}", &c->s->history);
}

/* ---- requests, queue, priority (the manager's admission) ---------------------------------------------- */

static int requests_cpus(struct ctx *c, const struct field *f) {
        c->s->requests.pos_cpus = f->k->pos;
        return spec_get_cpus(c, f->v, f->kp, &c->s->requests.cpu_quota_usec);
}

static int requests_memory(struct ctx *c, const struct field *f) {
        c->s->requests.pos_memory = f->k->pos;
        return spec_get_size(c, f->v, f->kp, false, SPEC_MIN_MEMORY, &c->s->requests.memory);
}

static const struct key requests_keys[] = {
        KEY("cpus", requests_cpus),
        KEY("memory", requests_memory),
};

static int top_requests(struct ctx *c, const struct field *f) {
        c->s->requests.pos = f->k->pos;
        return walk_section(c, f, "{cpus: 0.5, memory: 256M}", c->s);
}

static int top_queue(struct ctx *c, const struct field *f) {
        static const char expected[] = "a queue's name from the manager's settings ([a-z0-9][a-z0-9_-]*)";
        c->s->pos_queue = f->v->pos;
        int r = spec_get_string(c, f->v, f->kp, expected, true, &c->s->queue);
        if (r < 0)
                return r;
        const char *q = c->s->queue;
        bool ok = strlen(q) <= 63 && (islower((unsigned char)q[0]) || isdigit((unsigned char)q[0])) &&
                  q[strspn(q, "abcdefghijklmnopqrstuvwxyz0123456789_-")] == 0;
        if (!ok) {
                _cleanup_free_ char *qq = spec_quoted(f->v);
                return spec_fail(c, f->v->pos, f->kp, "%s is not a queue name; expected %s", qq, expected);
        }
        return 0;
}

static int top_priority(struct ctx *c, const struct field *f) {
        static const char expected[] = "a whole number from -1000 to 1000 (higher starts first)";
        c->s->pos_priority = f->v->pos;
        const char *t = NULL;
        int r = spec_get_scalar(c, f->v, f->kp, expected, &t);
        if (r < 0)
                return r;
        bool neg = t[0] == '-';
        uint64_t v = 0;
        r = tf_parse_u64(t + neg, &v);
        if (r == -EINVAL || t[neg] == '+' || t[neg] == '-') {
                _cleanup_free_ char *q = spec_quoted(f->v);
                return spec_fail(c, f->v->pos, f->kp, "%s is not a whole number; expected %s", q, expected);
        }
        if (r < 0 || v > 1000)
                return spec_fail(c, f->v->pos, f->kp, "%s is out of range; expected %s", t, expected);
        c->s->priority = neg ? -(int64_t)v : (int64_t)v;
        return 0;
}

static int top_preemptible(struct ctx *c, const struct field *f) {
        c->s->pos_preemptible = f->v->pos;
        return spec_get_bool(c, f->v, f->kp, &c->s->preemptible);
}

/* A reservation larger than the limit holds room the run can never use. */
static int check_requests(struct ctx *c) {
        struct tf_spec *s = c->s;
        char a[32], b[32];
        if (s->requests.memory != TF_UNSET && tf_limit_is_finite(s->limits.memory) &&
            s->requests.memory > s->limits.memory)
                return spec_fail(c, s->requests.pos_memory, "requests.memory",
                                 "%s is more than limits.memory (%s); expected at most the limit",
                                 tf_format_size(a, sizeof(a), s->requests.memory),
                                 tf_format_size(b, sizeof(b), s->limits.memory));
        if (s->requests.cpu_quota_usec != TF_UNSET && s->limits.cpu_quota_usec != TF_UNSET &&
            s->requests.cpu_quota_usec > s->limits.cpu_quota_usec)
                return spec_fail(c, s->requests.pos_cpus, "requests.cpus",
                                 "%.2f is more than limits.cpus (%.2f); expected at most the limit",
                                 (double)s->requests.cpu_quota_usec / TF_CPU_PERIOD_USEC,
                                 (double)s->limits.cpu_quota_usec / TF_CPU_PERIOD_USEC);
        return 0;
}

static int top_mounts(struct ctx *c, const struct field *f) {
        c->s->pos_mounts = f->k->pos;
        return parse_mounts(c, f->v, f->kp);
}

/* ---- notify: alerts ----------------------------------------------------------------------------------- */

static const char *const alert_names[] = {"failure", "missed", "stale", "success", "recovery"};
_Static_assert(ELEMENTSOF(alert_names) == TF_ALERT_N, "one name per alert");

const char *tf_alert_name(enum tf_alert a) {
        return (size_t)a < ELEMENTSOF(alert_names) ? alert_names[a] : NULL;
}

/* What notify:'s keys fill, and what the checks after them need to know. */
struct notify_parse {
        struct tf_notify *n;
        const char *dir; /* relative paths are resolved against it */
        bool have_on, have_stale, have_missed;
        struct tf_pos pos_on, pos_on_word[TF_ALERT_N], pos_stale_key, pos_missed_key, pos_secret;
        const struct node *secret_node;
};

static int notify_on_word(struct ctx *c, struct notify_parse *p, const struct node *v, const char *kp) {
        static const char expected[] = "failure, missed, stale, success or recovery";
        const char *t = NULL;
        int r = spec_get_scalar(c, v, kp, expected, &t);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(alert_names); i++)
                if (streq(t, alert_names[i])) {
                        if (p->n->on & TF_ALERT_BIT(i))
                                return spec_fail(c, v->pos, kp,
                                                 "'%s' is listed twice; expected each alert once", t);
                        p->n->on |= TF_ALERT_BIT(i);
                        p->pos_on_word[i] = v->pos;
                        return 0;
                }
        _cleanup_free_ char *q = spec_quoted(v);
        const char *sug = spec_suggest(t, alert_names, ELEMENTSOF(alert_names));
        if (sug)
                return spec_fail(c, v->pos, kp, "%s is not an alert; expected %s; did you mean '%s'?", q,
                                 expected, sug);
        return spec_fail(c, v->pos, kp, "%s is not an alert; expected %s", q, expected);
}

static int notify_on(struct ctx *c, const struct field *f) {
        struct notify_parse *p = f->obj;
        p->have_on = true;
        p->pos_on = f->k->pos;
        if (f->v->type != NODE_SEQ)
                return notify_on_word(c, p, f->v, f->kp);
        if (f->v->n_items == 0)
                return spec_fail(c, f->v->pos, f->kp,
                                 "empty list; expected the alerts to send (e.g. on: [failure, missed])");
        for (size_t i = 0; i < f->v->n_items; i++) {
                _cleanup_free_ char *ikp = spec_kp_index(f->kp, i);
                int r = notify_on_word(c, p, f->v->items[i], ikp);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int missed_grace(struct ctx *c, const struct field *f) {
        struct notify_parse *p = f->obj;
        return spec_get_duration(c, f->v, f->kp, 0, &p->n->missed_grace_usec);
}

static const struct key missed_keys[] = {
        KEY("grace", missed_grace),
};

static int notify_missed(struct ctx *c, const struct field *f) {
        struct notify_parse *p = f->obj;
        p->have_missed = true;
        p->pos_missed_key = f->k->pos;
        return walk_section(c, f, "{grace: 5m}", p);
}

static int notify_stale(struct ctx *c, const struct field *f) {
        struct notify_parse *p = f->obj;
        p->have_stale = true;
        p->pos_stale_key = f->k->pos;
        return spec_get_duration(c, f->v, f->kp, 0, &p->n->stale_usec);
}

static int webhook_url(struct ctx *c, const struct field *f) {
        static const char expected[] = "an http:// or https:// URL (e.g. http://127.0.0.1:9000/hook)";
        struct notify_parse *p = f->obj;
        char **url = &p->n->webhook.url;
        int r = spec_get_string(c, f->v, f->kp, expected, true, url);
        if (r < 0)
                return r;
        const char *u = *url;
        size_t scheme = tf_startswith(u, "http://") ? 7 : tf_startswith(u, "https://") ? 8 : 0;
        bool ok = scheme > 0 && strlen(u) <= TF_NOTIFY_URL_MAX && u[scheme] && !strchr("/?#", u[scheme]);
        for (const char *ch = u; ok && *ch; ch++)
                ok = (unsigned char)*ch > 0x20 && *ch != 0x7f;
        if (!ok) {
                _cleanup_free_ char *q = spec_quoted(f->v);
                return spec_fail(c, f->v->pos, f->kp, "%s is not a URL tfrun can post to; expected %s%s", q,
                                 expected,
                                 strlen(u) > TF_NOTIFY_URL_MAX ? " of at most 2048 characters" : "");
        }
        return 0;
}

static int webhook_secret_file(struct ctx *c, const struct field *f) {
        struct notify_parse *p = f->obj;
        _cleanup_free_ char *path = NULL;
        int r = spec_get_string(c, f->v, f->kp, "a path to a file holding the secret", true, &path);
        if (r < 0)
                return r;
        free(p->n->webhook.secret_file);
        p->n->webhook.secret_file = spec_path_resolve(p->dir, path);
        p->secret_node = f->v;
        return 0;
}

/* The secret, read now (a spec that loads can sign): a regular file of 1..4096 bytes that other users can
 * neither read nor write. Its bytes are never put in a message. */
static int read_secret(struct ctx *c, struct notify_parse *p, const char *kp) {
        struct tf_notify *n = p->n;
        const struct node *v = p->secret_node;
        /* Messages name the file as written: the resolved path is the machine's, not the spec's. */
        const char *path = v->text;
        _cleanup_close_ int fd = open(n->webhook.secret_file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return spec_fail(c, v->pos, kp, "%s: %s; expected a readable file holding the secret", path,
                                 strerror(errno));
        struct stat st;
        if (fstat(fd, &st) < 0)
                return spec_fail(c, v->pos, kp, "%s: %s", path, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return spec_fail(c, v->pos, kp,
                                 "%s is not a regular file; expected a file holding the secret", path);
        if (st.st_size == 0 || st.st_size > (off_t)TF_NOTIFY_SECRET_MAX)
                return spec_fail(c, v->pos, kp, "%s is %s; expected a secret of 1 to %u bytes", path,
                                 st.st_size == 0 ? "empty" : "too large", TF_NOTIFY_SECRET_MAX);
        if (st.st_mode & (S_IROTH | S_IWOTH))
                return spec_fail(c, v->pos, kp,
                                 "%s can be %s by every user (mode %04o); expected a file only its owner "
                                 "(and group) can read (chmod 600 %s)",
                                 path, (st.st_mode & S_IROTH) ? "read" : "written",
                                 (unsigned)(st.st_mode & 07777), path);
        char *buf = tf_malloc0(TF_NOTIFY_SECRET_MAX + 1);
        size_t len = 0;
        for (;;) {
                ssize_t k = read(fd, buf + len, TF_NOTIFY_SECRET_MAX - len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0) {
                        if (k < 0) {
                                int e = errno;
                                free(buf);
                                return spec_fail(c, v->pos, kp, "%s: %s", path, strerror(e));
                        }
                        break;
                }
                len += (size_t)k;
                if (len == TF_NOTIFY_SECRET_MAX)
                        break;
        }
        /* `echo secret > file` leaves a newline that is not part of the secret. */
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
                len--;
        if (len == 0) {
                free(buf);
                return spec_fail(c, v->pos, kp,
                                 "%s holds only a newline; expected a secret of 1 to %u bytes", path,
                                 TF_NOTIFY_SECRET_MAX);
        }
        n->webhook.secret = buf;
        n->webhook.secret_len = len;
        return 0;
}

static int webhook_attempts(struct ctx *c, const struct field *f) {
        struct notify_parse *p = f->obj;
        uint64_t v = 0;
        int r = spec_get_uint(c, f->v, f->kp, 1, TF_NOTIFY_ATTEMPTS_MAX, "a number of attempts from 1 to 20",
                              &v);
        p->n->webhook.attempts = (unsigned)v;
        return r;
}

static int webhook_timeout(struct ctx *c, const struct field *f) {
        struct notify_parse *p = f->obj;
        return spec_get_duration(c, f->v, f->kp, 0, &p->n->webhook.timeout_usec);
}

static const struct key webhook_keys[] = {
        KEY("url", webhook_url),
        KEY("secret_file", webhook_secret_file),
        KEY("attempts", webhook_attempts),
        KEY("timeout", webhook_timeout),
};

static int notify_webhook(struct ctx *c, const struct field *f) {
        struct notify_parse *p = f->obj;
        p->n->pos_webhook = f->k->pos;
        int r = walk_section(c, f, "{url: http://127.0.0.1:9000/hook, secret_file: hook.secret}", p);
        if (r < 0)
                return r;
        if (!p->n->webhook.url)
                return spec_fail(
                        c, f->v->pos, f->kp,
                        "no url; expected {url: http://127.0.0.1:9000/hook, secret_file: hook.secret}");
        if (p->secret_node) {
                _cleanup_free_ char *kp = spec_kp_join(f->kp, "secret_file");
                return read_secret(c, p, kp);
        }
        return 0;
}

static int notify_command(struct ctx *c, const struct field *f) {
        struct notify_parse *p = f->obj;
        p->n->pos_command = f->k->pos;
        return parse_command(c, f->v, f->kp, &p->n->argv);
}

static int notify_timeout(struct ctx *c, const struct field *f) {
        struct notify_parse *p = f->obj;
        return spec_get_duration(c, f->v, f->kp, 0, &p->n->command_timeout_usec);
}

static const struct key notify_keys[] = {
        KEY("on", notify_on),
        SECTION("missed", notify_missed, missed_keys),
        KEY("stale", notify_stale),
        SECTION("webhook", notify_webhook, webhook_keys),
        KEY("command", notify_command),
        KEY("command_timeout", notify_timeout),
};

void tf_notify_done(struct tf_notify *n) {
        if (!n)
                return;
        free(n->webhook.url);
        free(n->webhook.secret_file);
        if (n->webhook.secret)
                explicit_bzero(n->webhook.secret, n->webhook.secret_len);
        free(n->webhook.secret);
        tf_strv_free(n->argv);
        *n = (struct tf_notify){};
}

int spec_parse_notify(struct ctx *c, const char *dir, const struct node *key, const struct node *v,
                      const char *kp, struct tf_notify *n) {
        static const char example[] = "{on: [failure], webhook: {url: http://127.0.0.1:9000/hook}}";
        tf_notify_done(n);
        n->present = true;
        n->pos = key->pos;
        n->missed_grace_usec = 60 * TF_USEC_PER_SEC;
        n->stale_usec = TF_UNSET;
        n->webhook.attempts = TF_NOTIFY_ATTEMPTS_DEFAULT;
        n->webhook.timeout_usec = 10 * TF_USEC_PER_SEC;
        n->command_timeout_usec = 60 * TF_USEC_PER_SEC;
        struct notify_parse p = {.n = n, .dir = dir};
        int r = spec_expect_map(c, v, kp, example);
        if (r < 0)
                return r;
        r = walk_map(c, v, kp, notify_keys, ELEMENTSOF(notify_keys), &p);
        if (r < 0)
                return r;
        if (!p.have_on)
                n->on = TF_ALERT_BIT(TF_ALERT_FAILURE) |
                        (p.have_missed ? TF_ALERT_BIT(TF_ALERT_MISSED) : 0) |
                        (p.have_stale ? TF_ALERT_BIT(TF_ALERT_STALE) : 0);
        if (p.have_stale && !(n->on & TF_ALERT_BIT(TF_ALERT_STALE))) {
                _cleanup_free_ char *skp = spec_kp_join(kp, "stale");
                return spec_fail(c, p.pos_stale_key, skp,
                                 "has no effect: on: does not list stale; expected stale in on: (e.g. on: "
                                 "[failure, stale]) or no stale: key");
        }
        if (p.have_missed && !(n->on & TF_ALERT_BIT(TF_ALERT_MISSED))) {
                _cleanup_free_ char *mkp = spec_kp_join(kp, "missed");
                return spec_fail(c, p.pos_missed_key, mkp,
                                 "has no effect: on: does not list missed; expected missed in on: (e.g. on: "
                                 "[failure, missed]) or no missed: key");
        }
        if ((n->on & TF_ALERT_BIT(TF_ALERT_STALE)) && !p.have_stale) {
                _cleanup_free_ char *okp = spec_kp_join(kp, "on");
                return spec_fail(
                        c, p.pos_on_word[TF_ALERT_STALE], okp,
                        "stale needs an age; expected a stale: key (e.g. stale: 1h, an alert when no "
                        "run succeeded for an hour)");
        }
        n->pos_missed = p.have_missed ? p.pos_missed_key : p.pos_on_word[TF_ALERT_MISSED];
        if (!n->webhook.url && !n->argv)
                return spec_fail(
                        c, v->pos, kp,
                        "no notifier; expected webhook: {url: ...}, command: [...] or both (e.g. %s)",
                        example);
        return 0;
}

static int top_notify(struct ctx *c, const struct field *f) {
        return spec_parse_notify(c, c->s->dir, f->k, f->v, f->kp, &c->s->notify);
}

/* ---- workflows: a step's own keys ----------------------------------------------------------------------
 */

static int step_name(struct ctx *c, const struct field *f) {
        c->step->pos_name = f->v->pos;
        return parse_name(c, f->v, f->kp, &c->step->name);
}

static int step_depends_on(struct ctx *c, const struct field *f) {
        const struct node *v = f->v;
        if (c->step->handler)
                return spec_fail(c, f->k->pos, f->kp,
                                 "a handler runs after the whole graph; expected no depends_on: key");
        /* One name may be written alone. */
        if (v->type == NODE_SCALAR && !spec_is_null(v)) {
                c->deps_node = v;
                return 0;
        }
        int r = spec_expect_list(c, v, f->kp, "a list of step names (e.g. [build, test])");
        if (r < 0)
                return r;
        for (size_t i = 0; i < v->n_items; i++) {
                _cleanup_free_ char *ikp = spec_kp_index(f->kp, i);
                const char *t = NULL;
                r = spec_get_scalar(c, v->items[i], ikp, "a step name", &t);
                if (r < 0)
                        return r;
        }
        c->deps_node = v;
        return 0;
}

static int step_output(struct ctx *c, const struct field *f) {
        struct tf_step *st = c->step;
        if (st->handler)
                return spec_fail(
                        c, f->k->pos, f->kp,
                        "a handler runs last, so no step could use its output; expected no output: key");
        st->pos_output = f->v->pos;
        free(st->output);
        st->output = NULL;
        int r = spec_get_string(c, f->v, f->kp, "a variable name (e.g. VERSION)", true, &st->output);
        if (r < 0)
                return r;
        if (!spec_var_name_valid(st->output, strlen(st->output))) {
                _cleanup_free_ char *q = spec_quoted(f->v);
                return spec_fail(c, f->v->pos, f->kp,
                                 "%s is not a variable name; expected letters, digits and '_', not starting "
                                 "with a digit (e.g. VERSION)",
                                 q);
        }
        return 0;
}

static int continue_failure(struct ctx *c, const struct field *f) {
        return spec_get_bool(c, f->v, f->kp, &c->step->continue_on.failure);
}

static int continue_skipped(struct ctx *c, const struct field *f) {
        return spec_get_bool(c, f->v, f->kp, &c->step->continue_on.skipped);
}

static int continue_exit_codes(struct ctx *c, const struct field *f) {
        struct tf_step *st = c->step;
        const struct node *v = f->v;
        int r = spec_expect_list(c, v, f->kp, "a list of exit codes (e.g. [1, 2])");
        if (r < 0)
                return r;
        free(st->continue_on.exit_codes);
        st->continue_on.exit_codes = tf_malloc0((v->n_items + 1) * sizeof(int));
        st->continue_on.n_exit_codes = 0;
        for (size_t i = 0; i < v->n_items; i++) {
                _cleanup_free_ char *ikp = spec_kp_index(f->kp, i);
                uint64_t code;
                r = spec_get_uint(c, v->items[i], ikp, 0, 255, "an exit code from 0 to 255", &code);
                if (r < 0)
                        return r;
                st->continue_on.exit_codes[st->continue_on.n_exit_codes++] = (int)code;
        }
        return 0;
}

static const struct key continue_keys[] = {
        KEY("failure", continue_failure),
        KEY("skipped", continue_skipped),
        KEY("exit_codes", continue_exit_codes),
};

static int step_continue_on(struct ctx *c, const struct field *f) {
        if (c->step->handler)
                return spec_fail(
                        c, f->k->pos, f->kp,
                        "a handler runs after the whole graph and nothing waits for it; expected no "
                        "continue_on: key");
        return walk_section(c, f, "{failure: true}", c->step);
}

/* One condition of when:, read key by key, then checked as a whole. */
struct cond_load {
        const struct node *var_k, *var, *test_k, *test, *command_k, *command, *exit_code_k, *exit_code;
        enum tf_condition_kind kind;
};

static int cond_var(struct ctx *c, const struct field *f) {
        struct cond_load *cl = f->obj;
        cl->var_k = f->k;
        cl->var = f->v;
        return 0;
}

static int cond_test(struct ctx *c, const struct field *f, enum tf_condition_kind kind) {
        struct cond_load *cl = f->obj;
        if (cl->test_k)
                return spec_fail(c, f->k->pos, f->kp,
                                 "a second test in one condition (after '%s'); expected one of equals, "
                                 "not_equals or matches per condition (write two conditions)",
                                 cl->test_k->text);
        cl->test_k = f->k;
        cl->test = f->v;
        cl->kind = kind;
        return 0;
}

static int cond_equals(struct ctx *c, const struct field *f) {
        return cond_test(c, f, TF_COND_EQUALS);
}

static int cond_not_equals(struct ctx *c, const struct field *f) {
        return cond_test(c, f, TF_COND_NOT_EQUALS);
}

static int cond_matches(struct ctx *c, const struct field *f) {
        return cond_test(c, f, TF_COND_MATCHES);
}

static int cond_command(struct ctx *c, const struct field *f) {
        struct cond_load *cl = f->obj;
        cl->command_k = f->k;
        cl->command = f->v;
        return 0;
}

static int cond_exit_code(struct ctx *c, const struct field *f) {
        struct cond_load *cl = f->obj;
        cl->exit_code_k = f->k;
        cl->exit_code = f->v;
        return 0;
}

static const struct key cond_keys[] = {
        KEY("var", cond_var),         KEY("equals", cond_equals),   KEY("not_equals", cond_not_equals),
        KEY("matches", cond_matches), KEY("command", cond_command), KEY("exit_code", cond_exit_code),
};

static const char COND_EXPECTED[] = "{var: NAME, equals: TEXT} (or not_equals, matches: REGEX), or "
                                    "{command: [test, -f, x], exit_code: 0}";

static int parse_condition(struct ctx *c, const struct node *e, const char *kp, struct tf_condition *cd) {
        struct cond_load cl = {0};
        cd->pos = e->pos;
        int r = spec_expect_map(c, e, kp, "{var: MODE, equals: release}");
        if (r < 0)
                return r;
        r = walk_map(c, e, kp, cond_keys, ELEMENTSOF(cond_keys), &cl);
        if (r < 0)
                return r;
        if (cl.command) {
                const struct node *k = cl.var_k ? cl.var_k : cl.test_k;
                if (k) {
                        _cleanup_free_ char *kkp = spec_kp_join(kp, k->text);
                        return spec_fail(c, k->pos, kkp,
                                         "a command condition tests an exit status, not a variable; "
                                         "expected %s",
                                         COND_EXPECTED);
                }
                _cleanup_free_ char *ckp = spec_kp_join(kp, "command");
                cd->kind = TF_COND_COMMAND;
                r = parse_command(c, cl.command, ckp, &cd->argv);
                if (r < 0)
                        return r;
                if (cl.exit_code) {
                        _cleanup_free_ char *xkp = spec_kp_join(kp, "exit_code");
                        uint64_t x;
                        r = spec_get_uint(c, cl.exit_code, xkp, 0, 255, "an exit code from 0 to 255", &x);
                        if (r < 0)
                                return r;
                        cd->exit_code = (int)x;
                }
                return 0;
        }
        if (cl.exit_code_k) {
                _cleanup_free_ char *xkp = spec_kp_join(kp, "exit_code");
                return spec_fail(c, cl.exit_code_k->pos, xkp,
                                 "only with command:; expected {command: [...], exit_code: N}");
        }
        if (!cl.var) {
                if (cl.test_k) {
                        _cleanup_free_ char *vkp = spec_kp_join(kp, "var");
                        return spec_fail(c, e->pos, vkp,
                                         "missing; expected the variable the condition tests (e.g. {var: "
                                         "MODE, %s: ...})",
                                         cl.test_k->text);
                }
                return spec_fail(c, e->pos, kp, "an empty condition; expected %s", COND_EXPECTED);
        }
        if (!cl.test)
                return spec_fail(c, e->pos, kp,
                                 "no test of '%s'; expected equals, not_equals or matches (e.g. {var: %s, "
                                 "equals: release})",
                                 cl.var->text, cl.var->text);
        _cleanup_free_ char *vkp = spec_kp_join(kp, "var");
        r = spec_get_string(c, cl.var, vkp, "a variable name (e.g. MODE)", true, &cd->var);
        if (r < 0)
                return r;
        if (!spec_var_name_valid(cd->var, strlen(cd->var))) {
                _cleanup_free_ char *q = spec_quoted(cl.var);
                return spec_fail(c, cl.var->pos, vkp,
                                 "%s is not a variable name; expected letters, digits and '_', not starting "
                                 "with a digit (an output or an environment variable, without ${})",
                                 q);
        }
        _cleanup_free_ char *what = tf_asprintf("'%s'", cd->var);
        const char *val = NULL;
        r = spec_step_var(c, cl.var, vkp, cd->var, strlen(cd->var), false, what, &val);
        if (r < 0)
                return r;
        cd->var_is_output = r > 0;
        if (!cd->var_is_output)
                cd->env_value = tf_strdup(val);
        cd->kind = cl.kind;
        _cleanup_free_ char *tkp = spec_kp_join(kp, cl.test_k->text);
        r = spec_get_string(c, cl.test, tkp,
                            cl.kind == TF_COND_MATCHES ? "a regular expression" : "a string", false,
                            &cd->value);
        if (r < 0)
                return r;
        if (cl.kind == TF_COND_MATCHES) {
                regex_t re;
                int rc = regcomp(&re, cd->value, REG_EXTENDED | REG_NOSUB);
                if (rc != 0) {
                        char buf[256];
                        regerror(rc, &re, buf, sizeof(buf));
                        _cleanup_free_ char *q = spec_quoted(cl.test);
                        return spec_fail(c, cl.test->pos, tkp,
                                         "%s is not a regular expression (%s); expected a POSIX extended "
                                         "regular expression (e.g. '^v[0-9]+$')",
                                         q, buf);
                }
                regfree(&re);
        }
        return 0;
}

static int step_when(struct ctx *c, const struct field *f) {
        struct tf_step *st = c->step;
        const struct node *v = f->v;
        int r = spec_expect_list(c, v, f->kp, "a list of conditions (e.g. [{var: MODE, equals: release}])");
        if (r < 0)
                return r;
        if (v->n_items == 0)
                return spec_fail(c, v->pos, f->kp,
                                 "empty list; expected at least one condition, or no when: key");
        st->when = tf_malloc0(v->n_items * sizeof(struct tf_condition));
        for (size_t i = 0; i < v->n_items; i++) {
                _cleanup_free_ char *ikp = spec_kp_index(f->kp, i);
                st->n_when = i + 1;
                r = parse_condition(c, v->items[i], ikp, &st->when[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static const struct key step_keys[] = {
        EARLY("name", step_name),
        EARLY("depends_on", step_depends_on),
        EARLY("output", step_output),
        KEY("command", top_command),
        KEY("image", top_image),
        KEY("backend", top_backend),
        KEY("working_dir", top_working_dir),
        KEY("env", top_env),
        KEY("env_file", top_env_file),
        KEY("user", top_user),
        SECTION("limits", top_limits, limits_keys),
        KEY("timeout", top_timeout),
        SECTION("stop", top_stop, stop_keys),
        SECTION("restart", top_restart, restart_keys),
        SECTION("sandbox", top_sandbox, sandbox_keys),
        KEY("mounts", top_mounts),
        KEY("when", step_when),
        SECTION("continue_on", step_continue_on, continue_keys),
};


/* ---- on_success, on_failure: services to trigger ------------------------------------------------------ */

static int top_service_refs(struct ctx *c, const struct field *f, struct tf_service_refs *refs) {
        static const char expected[] = "a service name or a list of them (e.g. [alert])";
        refs->pos = f->k->pos;
        const struct node *v = f->v;
        if (v->type == NODE_MAP)
                return spec_wrong_type(c, v, f->kp, expected);
        bool list = v->type == NODE_SEQ;
        refs->list = list;
        size_t n = list ? v->n_items : 1;
        if (list && n == 0)
                return spec_fail(c, v->pos, f->kp, "empty list; expected %s, or no %s: key", expected,
                                 f->key->name);
        refs->refs = tf_malloc0(n * sizeof(struct tf_service_ref));
        for (size_t i = 0; i < n; i++) {
                const struct node *e = list ? v->items[i] : v;
                _cleanup_free_ char *ikp = list ? spec_kp_index(f->kp, i) : tf_strdup(f->kp);
                struct tf_service_ref *ref = &refs->refs[i];
                ref->pos = e->pos;
                refs->n = i + 1;
                int r = parse_name(c, e, ikp, &ref->name);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < i; j++)
                        if (streq(refs->refs[j].name, ref->name))
                                return spec_fail(c, e->pos, ikp,
                                                 "'%s' is listed twice (first at %u:%u); expected each service "
                                                 "once",
                                                 ref->name, refs->refs[j].pos.line, refs->refs[j].pos.column);
        }
        return 0;
}

static int top_on_success(struct ctx *c, const struct field *f) {
        return top_service_refs(c, f, &c->s->on_success_services);
}

static int top_on_failure(struct ctx *c, const struct field *f) {
        return top_service_refs(c, f, &c->s->on_failure_services);
}

/* Once the name is known: a service that triggers itself is a cycle of one. */
static int check_self_trigger(struct ctx *c) {
        const struct tf_service_refs *refs[] = {&c->s->on_success_services, &c->s->on_failure_services};
        static const char *const keys[] = {"on_success", "on_failure"};
        for (size_t k = 0; k < ELEMENTSOF(refs); k++)
                for (size_t i = 0; i < refs[k]->n; i++)
                        if (streq(refs[k]->refs[i].name, c->s->name)) {
                                _cleanup_free_ char *kp = refs[k]->list ? spec_kp_index(keys[k], i)
                                                                          : tf_strdup(keys[k]);
                                return spec_fail(c, refs[k]->refs[i].pos, kp,
                                                 "'%s' is this service itself: %s -> %s is a cycle; expected "
                                                 "another service's name",
                                                 c->s->name, c->s->name, c->s->name);
                        }
        return 0;
}

/* ---- workflows: the top level's keys ------------------------------------------------------------------ */

static int top_steps(struct ctx *c, const struct field *f) {
        static const char example[] = "[{name: build, command: [make]}]";
        c->s->pos_steps = f->k->pos;
        _cleanup_free_ char *e = tf_asprintf("a list of steps (e.g. %s)", example);
        int r = spec_expect_list(c, f->v, f->kp, e);
        if (r < 0)
                return r;
        if (f->v->n_items == 0)
                return spec_fail(c, f->v->pos, f->kp, "empty list; expected at least one step (e.g. %s)",
                                 example);
        /* Read in finish, when the top level's defaults and name are known. */
        c->steps_node = f->v;
        return 0;
}

static int top_max_parallel(struct ctx *c, const struct field *f) {
        c->s->pos_max_parallel = f->k->pos;
        return spec_get_uint(c, f->v, f->kp, 1, UINT64_MAX - 2, "a whole number of steps, 1 or more",
                             &c->s->max_parallel);
}

static int handler_key(struct ctx *c, const struct field *f, size_t i) {
        c->handler_nodes[i] = f->v;
        c->handler_key_pos[i] = f->k->pos;
        return spec_expect_map(c, f->v, f->kp, "{command: [notify, done]}");
}

static int handler_on_success(struct ctx *c, const struct field *f) {
        return handler_key(c, f, 0);
}

static int handler_on_failure(struct ctx *c, const struct field *f) {
        return handler_key(c, f, 1);
}

static int handler_on_exit(struct ctx *c, const struct field *f) {
        return handler_key(c, f, 2);
}

static const char *const handler_names[] = {"on_success", "on_failure", "on_exit"};

static const struct key handler_keys[] = {
        KEY("on_success", handler_on_success),
        KEY("on_failure", handler_on_failure),
        KEY("on_exit", handler_on_exit),
};

static int top_handlers(struct ctx *c, const struct field *f) {
        c->s->pos_handlers = f->k->pos;
        c->handlers_node = f->v;
        return walk_section(c, f, "{on_failure: {command: [notify, failed]}}", c->s);
}

static const struct key top_keys[] = {
        KEY("name", top_name),
        KEY("description", top_description),
        KEY("command", top_command),
        KEY("image", top_image),
        KEY("backend", top_backend),
        KEY("working_dir", top_working_dir),
        KEY("env", top_env),
        KEY("env_file", top_env_file),
        KEY("user", top_user),
        SECTION("limits", top_limits, limits_keys),
        KEY("timeout", top_timeout),
        SECTION("stop", top_stop, stop_keys),
        SECTION("restart", top_restart, restart_keys),
        SECTION("schedule", top_schedule, schedule_keys),
        SECTION("sandbox", top_sandbox, sandbox_keys),
        KEY("mounts", top_mounts),
        KEY("placement", top_placement),
        SECTION("history", top_history, history_keys),
        SECTION("requests", top_requests, requests_keys),
        KEY("queue", top_queue),
        KEY("priority", top_priority),
        KEY("preemptible", top_preemptible),
        KEY("steps", top_steps),
        KEY("max_parallel", top_max_parallel),
        SECTION("handlers", top_handlers, handler_keys),
        KEY("on_success", top_on_success),
        KEY("on_failure", top_on_failure),
        KEY("notify", top_notify),
};

/* A key path in the service or step being finished: "backend", "steps[1].backend". */
static char *kp_in(const struct ctx *c, const char *key) {
        return spec_kp_join(c->kp_prefix, key);
}

/* Natively, a working_dir strictly under /tmp does not exist in the empty /tmp that private_tmp gives the
 * service, unless a mount's target holds it (mount targets under a private /tmp are created in it), and
 * the chdir fails at run time. The docker engine creates a missing working directory (in the tmpfs). */
static int check_working_dir(struct ctx *c) {
        struct tf_spec *s = c->s;
        if (!s->working_dir || !s->sandbox.private_tmp || s->resolved_backend != TF_BACKEND_NATIVE)
                return 0;
        _cleanup_free_ char *wd = spec_path_normalize(s->working_dir);
        if (!tf_startswith(wd, "/tmp/"))
                return 0;
        for (size_t i = 0; i < s->n_mounts; i++) {
                const char *t = s->mounts[i].target;
                size_t n = strlen(t);
                if (strncmp(wd, t, n) == 0 && (wd[n] == 0 || wd[n] == '/' || streq(t, "/")))
                        return 0;
        }
        _cleanup_free_ char *q = spec_quote_text(s->working_dir);
        _cleanup_free_ char *kp = kp_in(c, "working_dir");
        return spec_fail(
                c, c->pos_working_dir_value, kp,
                "%s is under /tmp, and sandbox.private_tmp gives the service an empty /tmp of its own "
                "(the native backend does not create it); "
                "expected a working_dir outside /tmp, a mount whose target holds it (e.g. mounts: "
                "[{source: ./work, target: %s}]) or private_tmp: false",
                q, wd);
}

/* The checks of one service (the top level) or one step once all its keys are read, and its vectors. */
static int finish_service(struct ctx *c) {
        struct tf_spec *s = c->s;
        char a[64], b[64];

        if (s->backend == TF_BACKEND_NATIVE && s->image) {
                _cleanup_free_ char *kp = kp_in(c, "backend");
                return spec_fail(
                        c, c->pos_backend_value, kp,
                        "native cannot run an image (an image needs the docker backend); expected docker or "
                        "auto, or no image: key");
        }
        if (s->backend == TF_BACKEND_DOCKER && !s->image) {
                _cleanup_free_ char *kp = kp_in(c, "backend");
                return spec_fail(c, c->pos_backend_value, kp,
                                 "docker needs an image; expected an image: key (e.g. image: debian:12)");
        }
        if (s->backend == TF_BACKEND_SWARM && !s->image) {
                _cleanup_free_ char *kp = kp_in(c, "backend");
                return spec_fail(c, c->pos_backend_value, kp,
                                 "swarm needs an image (every node pulls or has it); expected an image: key "
                                 "(e.g. image: debian:12)");
        }
        if (s->placement && s->backend != TF_BACKEND_SWARM) {
                _cleanup_free_ char *kp = kp_in(c, "placement");
                return spec_fail(c, s->pos_placement, kp,
                                 "places a Swarm task on a node, and this service does not run on a swarm; "
                                 "expected backend: swarm, or no placement: key");
        }
        s->resolved_backend = s->backend != TF_BACKEND_AUTO ? s->backend
                              : s->image                    ? TF_BACKEND_DOCKER
                                                            : TF_BACKEND_NATIVE;
        int r = check_working_dir(c);
        if (r < 0)
                return r;
        if (s->sandbox.host && s->resolved_backend == TF_BACKEND_SWARM) {
                _cleanup_free_ char *kp = kp_in(c, "sandbox");
                return spec_fail(c, c->pos_sandbox_value, kp,
                                 "'host' (no sandbox) exists only with the native backend, a Swarm task always "
                                 "has walls; expected the opt-out a Swarm service can honour: sandbox: "
                                 "{no_new_privileges: false}");
        }
        if (s->sandbox.host && s->resolved_backend == TF_BACKEND_DOCKER) {
                _cleanup_free_ char *kp = kp_in(c, "sandbox");
                return spec_fail(
                        c, c->pos_sandbox_value, kp,
                        "'host' (no sandbox) exists only with the native backend, a container always has "
                        "walls; expected the opt-outs a container has, e.g. sandbox: {pid: host, ipc: host, "
                        "uts: host, system_paths: unconfined}");
        }
        if (s->sandbox.host && s->n_mounts > 0) {
                _cleanup_free_ char *kp = kp_in(c, "sandbox");
                return spec_fail(c, c->pos_sandbox_value, kp,
                                 "'host' (no sandbox) has no mount namespace to bind mounts in; expected a "
                                 "mapping (e.g. sandbox: {pid: host, ipc: host, uts: host}) or no mounts:");
        }
        if (c->have_max_retries && s->restart.policy == TF_RESTART_NO) {
                _cleanup_free_ char *kp = kp_in(c, "restart.max_retries");
                return spec_fail(c, c->pos_max_retries, kp,
                                 "has no effect with policy no; expected policy: on-failure or always");
        }
        if (s->restart.backoff_initial_usec > s->restart.backoff_max_usec) {
                _cleanup_free_ char *kp = kp_in(c, "restart.backoff.initial");
                return spec_fail(c, c->pos_backoff_initial, kp,
                                 "%s is longer than backoff.max (%s); expected initial <= max",
                                 tf_format_duration(a, sizeof(a), s->restart.backoff_initial_usec),
                                 tf_format_duration(b, sizeof(b), s->restart.backoff_max_usec));
        }

        /* env_file entries first, env: overriding them by name; a step starts from the top level's env. */
        char **env = c->top ? tf_strv_copy(c->top->s->env) : NULL;
        for (size_t i = 0; c->env_from_files && c->env_from_files[i]; i++)
                spec_env_set(&env, TAKE_PTR(c->env_from_files[i]));
        for (size_t i = 0; c->env_inline && c->env_inline[i]; i++)
                spec_env_set(&env, TAKE_PTR(c->env_inline[i]));
        s->env = env ? env : tf_malloc0(sizeof(char *));
        if (!s->env_files)
                s->env_files = tf_malloc0(sizeof(char *));
        if (!s->sandbox.cap_drop)
                s->sandbox.cap_drop = tf_malloc0(sizeof(char *));
        if (!s->sandbox.cap_add)
                s->sandbox.cap_add = tf_malloc0(sizeof(char *));

        /* References in env: values were counted from the start of the value: now from the entry's, in
         * the final env. */
        for (size_t i = 0; c->step && i < c->step->n_refs; i++) {
                struct tf_step_ref *ref = &c->step->refs[i];
                const char *name = c->ref_env_names[i];
                if (ref->field != TF_REF_ENV)
                        continue;
                size_t n = strlen(name);
                for (size_t j = 0; s->env[j]; j++)
                        if (strncmp(s->env[j], name, n) == 0 && s->env[j][n] == '=') {
                                ref->index = j;
                                ref->offset += n + 1;
                                break;
                        }
        }
        return 0;
}

/* ---- workflows: the graph ----------------------------------------------------------------------------- */

/* A step that does not set them takes the top level's user, working_dir, sandbox, mounts, stop and
 * env_file list (env is merged by name in finish_service). */
static void inherit(struct ctx *sc) {
        const struct ctx *tc = sc->top;
        const struct tf_spec *t = tc->s;
        struct tf_spec *s = sc->s;
        if (!s->user && t->user) {
                s->user = tf_strdup(t->user);
                s->uid = t->uid;
                s->gid = t->gid;
                s->pos_user = t->pos_user;
        }
        if (!s->working_dir && t->working_dir) {
                s->working_dir = tf_strdup(t->working_dir);
                s->pos_working_dir = t->pos_working_dir;
                sc->pos_working_dir_value = tc->pos_working_dir_value;
        }
        if (!s->sandbox_present) {
                s->sandbox = t->sandbox;
                s->sandbox.seccomp_profile =
                        t->sandbox.seccomp_profile ? tf_strdup(t->sandbox.seccomp_profile) : NULL;
                s->sandbox.network_name =
                        t->sandbox.network_name ? tf_strdup(t->sandbox.network_name) : NULL;
                s->sandbox.cap_drop = tf_strv_copy(t->sandbox.cap_drop);
                s->sandbox.cap_add = tf_strv_copy(t->sandbox.cap_add);
                s->sandbox_present = t->sandbox_present;
                s->pos_sandbox = t->pos_sandbox;
                sc->pos_sandbox_value = tc->pos_sandbox_value;
        }
        if (s->pos_mounts.line == 0 && t->n_mounts > 0) {
                s->mounts = tf_malloc0(t->n_mounts * sizeof(struct tf_mount));
                s->n_mounts = t->n_mounts;
                for (size_t i = 0; i < t->n_mounts; i++) {
                        s->mounts[i] = t->mounts[i];
                        s->mounts[i].source = tf_strdup(t->mounts[i].source);
                        s->mounts[i].target = tf_strdup(t->mounts[i].target);
                }
                s->pos_mounts = t->pos_mounts;
        }
        if (!sc->have_stop) {
                s->stop_signal = t->stop_signal;
                s->stop_grace_usec = t->stop_grace_usec;
        }
        char **files = tf_strv_copy(t->env_files);
        for (size_t i = 0; s->env_files && s->env_files[i]; i++)
                tf_strv_push(&files, s->env_files[i]);
        tf_strv_free(s->env_files);
        s->env_files = files;
}

struct dfs {
        const struct tf_step *steps;
        unsigned char *color; /* 0 unseen, 1 on the path, 2 done */
        size_t *path, depth;
        size_t *cycle, cycle_len;
};

static bool dfs_visit(struct dfs *d, size_t v) {
        d->color[v] = 1;
        d->path[d->depth++] = v;
        const struct tf_step *st = &d->steps[v];
        for (size_t k = 0; k < st->n_deps; k++) {
                size_t w = st->deps[k];
                if (d->color[w] == 1) {
                        /* path[j] = w ... path[depth-1] = v, each depending on the next, v on w: in run
                         * order w, v, path[depth-2], ..., path[j+1]. */
                        size_t j = d->depth;
                        while (j > 0 && d->path[j - 1] != w)
                                j--;
                        j--;
                        d->cycle_len = d->depth - j;
                        d->cycle = tf_malloc0(d->cycle_len * sizeof(size_t));
                        d->cycle[0] = w;
                        for (size_t i = 1; i < d->cycle_len; i++)
                                d->cycle[i] = d->path[d->depth - i];
                        return true;
                }
                if (d->color[w] == 0 && dfs_visit(d, w))
                        return true;
        }
        d->depth--;
        d->color[v] = 2;
        return false;
}

bool spec_steps_cycle(const struct tf_step *steps, size_t n, size_t **ret, size_t *ret_len) {
        struct dfs d = {.steps = steps};
        d.color = tf_malloc0(n + 1);
        d.path = tf_malloc0((n + 1) * sizeof(size_t));
        bool found = false;
        for (size_t i = 0; i < n && !found; i++)
                if (d.color[i] == 0)
                        found = dfs_visit(&d, i);
        free(d.color);
        free(d.path);
        if (!found)
                return false;
        /* Start at the step earliest in the document. */
        size_t m = 0;
        for (size_t i = 1; i < d.cycle_len; i++)
                if (d.cycle[i] < d.cycle[m])
                        m = i;
        size_t *out = tf_malloc0(d.cycle_len * sizeof(size_t));
        for (size_t i = 0; i < d.cycle_len; i++)
                out[i] = d.cycle[(m + i) % d.cycle_len];
        free(d.cycle);
        *ret = out;
        *ret_len = d.cycle_len;
        return true;
}

/* The first pass over every step and handler: names, dependencies and outputs. */
static int read_graph(struct ctx *c) {
        struct tf_spec *s = c->s;
        size_t n = c->steps_node->n_items, n_handlers = 0;
        for (size_t h = 0; h < ELEMENTSOF(handler_names); h++)
                n_handlers += !!c->handler_nodes[h];
        s->steps = tf_malloc0(n * sizeof(struct tf_step));
        c->subs = tf_malloc0((n + n_handlers) * sizeof(struct ctx));
        for (size_t i = 0; i < n + ELEMENTSOF(handler_names); i++) {
                const struct node *map;
                struct tf_step *st;
                char *kp;
                if (i < n) {
                        map = c->steps_node->items[i];
                        st = &s->steps[i];
                        s->n_steps = i + 1;
                        kp = spec_kp_index("steps", i);
                } else {
                        size_t h = i - n;
                        map = c->handler_nodes[h];
                        if (!map)
                                continue;
                        st = tf_malloc0(sizeof(struct tf_step));
                        *(h == 0 ? &s->on_success : h == 1 ? &s->on_failure : &s->on_exit) = st;
                        st->handler = true;
                        st->name = tf_strdup(handler_names[h]);
                        st->pos_name = map->pos;
                        kp = spec_kp_join("handlers", handler_names[h]);
                }
                st->pos = map->pos;
                st->spec = spec_new();
                st->spec->path = tf_strdup(s->path);
                st->spec->dir = tf_strdup(s->dir);
                struct ctx *sc = &c->subs[c->n_subs++];
                *sc = (struct ctx){
                        .path = c->path,
                        .environ_in = c->environ_in,
                        .s = st->spec,
                        .err = c->err,
                        .root_pos = map->pos,
                        .top = c,
                        .step = st,
                        .kp_prefix = kp,
                        .step_map = map,
                        .prescan = true,
                };
                int r = spec_expect_map(sc, map, kp, "{name: build, command: [make]}");
                if (r < 0)
                        return r;
                r = walk_map(sc, map, kp, step_keys, ELEMENTSOF(step_keys), st);
                if (r < 0)
                        return r;
                if (!st->name) {
                        _cleanup_free_ char *nkp = spec_kp_join(kp, "name");
                        return spec_fail(c, map->pos, nkp, "missing; expected a name for the step (%s)",
                                         NAME_EXPECTED);
                }
        }
        return 0;
}

static int check_graph(struct ctx *c) {
        struct tf_spec *s = c->s;
        size_t n = s->n_steps;

        for (size_t i = 0; i < c->n_subs; i++)
                for (size_t j = 0; j < i; j++) {
                        const struct ctx *a = &c->subs[i], *b = &c->subs[j];
                        if (!streq(a->step->name, b->step->name))
                                continue;
                        /* A handler's name is its key's unless it has a name: key. */
                        bool named = !a->step->handler || a->step->pos_name.line != a->step->pos.line ||
                                     a->step->pos_name.column != a->step->pos.column;
                        _cleanup_free_ char *kp =
                                named ? spec_kp_join(a->kp_prefix, "name") : tf_strdup(a->kp_prefix);
                        return spec_fail(
                                c, a->step->pos_name, kp,
                                "'%s' is also the name of %s (at %u:%u); expected a name of its own",
                                a->step->name, b->kp_prefix, b->step->pos_name.line,
                                b->step->pos_name.column);
                }

        _cleanup_free_ const char **names = tf_malloc0((n + 1) * sizeof(char *));
        for (size_t i = 0; i < n; i++)
                names[i] = s->steps[i].name;
        for (size_t i = 0; i < n; i++) {
                const struct ctx *sc = &c->subs[i];
                struct tf_step *st = sc->step;
                const struct node *d = sc->deps_node;
                if (!d)
                        continue;
                bool one = d->type == NODE_SCALAR;
                size_t m = one ? 1 : d->n_items;
                _cleanup_free_ char *dkp = spec_kp_join(sc->kp_prefix, "depends_on");
                st->deps = tf_malloc0((m + 1) * sizeof(size_t));
                for (size_t k = 0; k < m; k++) {
                        const struct node *e = one ? d : d->items[k];
                        _cleanup_free_ char *ikp = one ? tf_strdup(dkp) : spec_kp_index(dkp, k);
                        _cleanup_free_ char *q = spec_quoted(e);
                        size_t j = 0;
                        while (j < n && !streq(names[j], e->text))
                                j++;
                        if (j == n) {
                                _cleanup_free_ char *alts =
                                        n <= 16 ? spec_join_alternatives(names, n, ", ")
                                                : tf_asprintf("the names of the %zu steps", n);
                                const char *sug = spec_suggest(e->text, names, n);
                                if (sug)
                                        return spec_fail(c, e->pos, ikp,
                                                         "unknown step %s; expected one of %s; did you mean "
                                                         "'%s'?",
                                                         q, alts, sug);
                                return spec_fail(c, e->pos, ikp, "unknown step %s; expected one of %s", q,
                                                 alts);
                        }
                        if (j == i)
                                return spec_fail(c, e->pos, ikp,
                                                 "%s is the step itself; expected the steps it waits for (a "
                                                 "step cannot depend on itself)",
                                                 q);
                        for (size_t k2 = 0; k2 < st->n_deps; k2++)
                                if (st->deps[k2] == j)
                                        return spec_fail(c, e->pos, ikp,
                                                         "%s is listed twice; expected each "
                                                         "step once",
                                                         q);
                        st->deps[st->n_deps++] = j;
                }
        }

        for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < i; j++) {
                        const struct tf_step *a = &s->steps[i], *b = &s->steps[j];
                        if (!a->output || !b->output || !streq(a->output, b->output))
                                continue;
                        _cleanup_free_ char *kp = spec_kp_join(c->subs[i].kp_prefix, "output");
                        return spec_fail(c, a->pos_output, kp,
                                         "'%s' is also the output of step '%s' (at %u:%u); expected an "
                                         "output name of its own",
                                         a->output, b->name, b->pos_output.line, b->pos_output.column);
                }

        _cleanup_free_ size_t *cycle = NULL;
        size_t len = 0;
        if (spec_steps_cycle(s->steps, n, &cycle, &len)) {
                _cleanup_free_ char *path = tf_strdup("");
                for (size_t i = 0; i <= len; i++) {
                        char *p =
                                tf_asprintf("%s%s%s", path, i ? " -> " : "", s->steps[cycle[i % len]].name);
                        free(path);
                        path = p;
                }
                return spec_fail(c, s->steps[cycle[0]].pos, "steps",
                                 "a cycle: %s (each step depends on the one before it); expected a graph "
                                 "without cycles: drop one of these depends_on",
                                 path);
        }
        return 0;
}

/* Each step's outputs it may use: those of every step it depends on, directly or not (a bit set per step,
 * filled in run order). Handlers run last and may use every output. */
static void outputs_available(struct ctx *c) {
        struct tf_spec *s = c->s;
        size_t n = s->n_steps, words = (n + 63) / 64;
        _cleanup_free_ size_t *order = NULL;
        int r = tf_spec_steps_order(s, &order);
        assert(r == 0);
        (void)r;
        _cleanup_free_ uint64_t *anc = tf_malloc0(n * words * sizeof(uint64_t) + 1);
        for (size_t k = 0; k < n; k++) {
                size_t v = order[k];
                uint64_t *a = anc + v * words;
                for (size_t d = 0; d < s->steps[v].n_deps; d++) {
                        size_t u = s->steps[v].deps[d];
                        const uint64_t *b = anc + u * words;
                        for (size_t w = 0; w < words; w++)
                                a[w] |= b[w];
                        a[u / 64] |= UINT64_C(1) << (u % 64);
                }
        }
        for (size_t i = 0; i < c->n_subs; i++) {
                struct ctx *sc = &c->subs[i];
                size_t m = 0;
                sc->outputs_avail = tf_malloc0((n + 1) * sizeof(char *));
                for (size_t u = 0; u < n; u++) {
                        bool dep = sc->step->handler || (anc[i * words + u / 64] >> (u % 64)) & 1;
                        if (dep && s->steps[u].output)
                                sc->outputs_avail[m++] = s->steps[u].output; /* borrowed */
                }
        }
}

static int finish_workflow(struct ctx *c) {
        struct tf_spec *s = c->s;
        int r = read_graph(c);
        if (r < 0)
                return r;
        r = check_graph(c);
        if (r < 0)
                return r;
        outputs_available(c);
        for (size_t i = 0; i < c->n_subs; i++) {
                struct ctx *sc = &c->subs[i];
                struct tf_spec *ss = sc->s;
                sc->prescan = false;
                r = walk_map(sc, sc->step_map, sc->kp_prefix, step_keys, ELEMENTSOF(step_keys), sc->step);
                if (r < 0)
                        return r;
                if (!ss->argv && !ss->image) {
                        _cleanup_free_ char *kp = kp_in(sc, "command");
                        return spec_fail(
                                sc, sc->step_map->pos, kp,
                                "missing; expected a command to run (e.g. command: [make, test]) or "
                                "an image:");
                }
                inherit(sc);
                r = finish_service(sc);
                if (r < 0)
                        return r;
                ss->name = tf_asprintf("%s.%s", s->name, sc->step->name);
        }
        return 0;
}

/* Keys of a service that a workflow has in its steps instead. */
static int check_workflow_top(struct ctx *c) {
        struct tf_spec *s = c->s;
        static const char tail[] = "or drop steps:";
        if (s->pos_command.line)
                return spec_fail(
                        c, s->pos_command, "command",
                        "given with steps:, and a workflow runs its steps, not a command of its own; "
                        "expected one of the two: drop command: (put it in a step) %s",
                        tail);
        if (s->image)
                return spec_fail(
                        c, s->pos_image, "image",
                        "given with steps:, and a workflow runs its steps, not an image of its own; "
                        "expected one of the two: drop image: (give the step that needs it image:) %s",
                        tail);
        if (c->have_backend)
                return spec_fail(c, s->pos_backend, "backend",
                                 "given with steps:, and each step has its own backend; expected one of the "
                                 "two: drop backend: (set it in the steps that need it) %s",
                                 tail);
        if (c->pos_restart.line)
                return spec_fail(
                        c, c->pos_restart, "restart",
                        "given with steps:, and a workflow retries its steps one by one; expected one "
                        "of the two: drop restart: (put it in the steps to retry) %s",
                        tail);
        return 0;
}

/* Checks that need the whole document. */
static int finish(struct ctx *c) {
        struct tf_spec *s = c->s;

        if (!s->name) {
                int r = default_name(c);
                if (r < 0)
                        return r;
        }
        if (c->steps_node) {
                int r = check_workflow_top(c);
                if (r < 0)
                        return r;
        } else {
                if (s->pos_max_parallel.line)
                        return spec_fail(c, s->pos_max_parallel, "max_parallel",
                                         "only a workflow runs steps side by side; expected steps:, or no "
                                         "max_parallel: key");
                if (c->handlers_node)
                        return spec_fail(
                                c, s->pos_handlers, "handlers",
                                "only a workflow has handlers (steps run after its graph); expected "
                                "steps:, or no handlers: key");
                if (!s->argv && !s->image)
                        return spec_fail(c, c->root_pos, "command",
                                         "missing; expected a command to run (e.g. command: [python3, "
                                         "app.py]) or an image:");
        }
        if (s->notify.present && (s->notify.on & TF_ALERT_BIT(TF_ALERT_MISSED)) && !s->schedule.present)
                return spec_fail(c, s->notify.pos_missed, "notify.missed",
                                 "a service without a schedule has no fire to miss; expected a schedule: (e.g. "
                                 "schedule: {every: 1h}) or no missed alerts");
        int r = check_self_trigger(c);
        if (r < 0)
                return r;
        r = finish_service(c);
        if (r < 0)
                return r;
        return c->steps_node ? finish_workflow(c) : 0;
}

void spec_ctx_done(struct ctx *c) {
        tf_strv_free(c->env_inline);
        tf_strv_free(c->env_from_files);
        c->env_inline = c->env_from_files = NULL;
        for (size_t i = 0; i < c->n_subs; i++) {
                struct ctx *sc = &c->subs[i];
                spec_ctx_done(sc);
                free(sc->kp_prefix);
                free(sc->outputs_avail);
                for (size_t k = 0; sc->ref_env_names && k < sc->step->n_refs; k++)
                        free(sc->ref_env_names[k]);
                free(sc->ref_env_names);
        }
        free(c->subs);
        c->subs = NULL;
        c->n_subs = 0;
}

int spec_apply_schema(struct ctx *c, const struct node *root) {
        int r = walk_map(c, root, NULL, top_keys, ELEMENTSOF(top_keys), c->s);
        if (r < 0)
                return r;
        r = finish(c);
        if (r < 0)
                return r;
        return check_requests(c);
}
