/* SPDX-License-Identifier: MIT */
/*
 * spec/: service.yaml -> struct tf_spec.
 *
 * Reading
 * - A spec is one YAML document (libyaml, events API) whose top level is a mapping. It is read into a small
 *   node tree first (with 1-based line:column for every node), then checked key by key against the schema.
 * - Refused before the schema is looked at, each with its own message: files larger than 1 MiB, more than
 *   one document, anchors (&a), aliases (*a) and tags (!!str): none is needed for a spec, and refusing
 *   aliases rules out expansion bombs; nesting deeper than 16 levels; more than 1024 items in one list or
 *   keys in one mapping; keys that are not plain strings; NUL characters in values; tabs used for
 *   indentation (detected by tfrun, because libyaml's own message for them is cryptic).
 * - Unknown keys are errors, with a suggestion when a known key is close ("did you mean 'memory'?"), or
 *   when a top-level key belongs in a section (`memory:` -> 'limits.memory'). docker-compose's keys at the
 *   top level (volumes, environment, mem_limit, entrypoint, container_name, ports, depends_on, services,
 *   ...) name tfrun's key or say that there is none; `restart: always` (compose's string form) suggests
 *   `restart: {policy: always}`. Duplicate keys are errors.
 * - Every error message reads `FILE:LINE:COL: KEYPATH: what is wrong; expected WHAT[; did you mean 'X'?]`,
 *   with FILE as given to tf_spec_load(), LINE:COL 1-based and pointing at the offending key or value,
 *   and KEYPATH like `limits.io[0].device`. Messages about the document as a whole (empty, not a mapping,
 *   YAML syntax, tabs, too large) leave KEYPATH out. The return value is then -EINVAL. A file that cannot
 *   be read gives its errno (-ENOENT, -EISDIR, -EACCES) and "FILE: cannot open: <strerror>" or
 *   "FILE: is a directory, expected a spec file", without a position.
 * - Suggestions compare case-insensitively by edit distance (at most 1 for words of up to 3 letters, 2 up
 *   to 8, else 3), preferring a candidate with the same letters on a tie, so swapped letters find their word.
 *
 * Values
 * - Scalars are text: a quoted "64" is accepted where a number is expected, and numbers or booleans given
 *   where a string is expected (env values, command arguments) are kept as written ("1.50" stays "1.50").
 *   A key with no value (`key:`, `key: ~`, `key: null`) is an error, never "unset": leave the key out.
 * - Booleans are `true` or `false` only; YAML 1.1's yes/no/on/off are refused with "expected true or false".
 * - Whole numbers are plain decimal. Sizes are bytes or a number with a binary suffix K, M, G, T (P, E;
 *   fractions allowed: 1.5G; 2G, 2GB and 2GiB all mean 2^31 bytes); memory, memory_high, memory_swap and
 *   pids also take `max` or `infinity` (TF_LIMIT_MAX). A size with a space or a spelled-out unit ('2 GB',
 *   '1.5 gigabytes') is refused with the accepted form suggested ('2G'). A bare number is bytes: below the
 *   1M minimum, a number up to 65536 is taken for a forgotten M ('512' -> '512M'), a larger one for bytes
 *   meant as a decimal megabyte ('1000000' -> '1M').
 *   Durations follow systemd: 90s, 1h30m, '1h 30min', 2d; a bare number is seconds.
 *
 * Keys (defaults in brackets)
 * - name [file basename without .yaml/.yml]: [a-z0-9][a-z0-9_.-]{0,62}. When name: is absent and the
 *   basename does not match, that is an error that suggests a valid name.
 * - description: any text.
 * - command: a list of strings (argv as is), or a string split like a POSIX shell would (quotes and
 *   backslashes; no expansion, no shell is run). Must yield at least one word. Required unless image: is set
 *   (then the image's own command runs). A shell operator outside quotes in the string (&& || | ; > >> <
 *   & 2>&1 $( `), alone or attached to a word, is refused with the operator's position: no shell would
 *   run it, and the program would get it as an argument. Write [sh, -c, '...'] for a shell, or quote it.
 * - image: a container image reference (no whitespace). backend [auto]: auto | native | docker.
 *   resolved_backend is docker when image: is set and backend is auto, else native. backend: native with
 *   an image and backend: docker without one are errors.
 * - working_dir: an absolute path. With sandbox.private_tmp on the native backend, a working_dir
 *   strictly under /tmp is refused unless a mount's target holds it: the private /tmp is empty, and nothing
 *   creates it (the docker engine creates a missing working directory, so docker specs may).
 * - env: a mapping NAME: value, NAME matching [A-Za-z_][A-Za-z0-9_]*. In values, ${VAR} and
 *   ${VAR:-default} (default used when VAR is unset or empty; taken literally) are replaced from the
 *   environment tfrun was given, $$ is a literal $. ${VAR} with VAR unset is an error, as is $VAR without
 *   braces (write ${VAR}, or $$VAR for the literal text). A $ before anything else stays literal.
 * - env_file: a path or a list of paths, relative to the spec's directory, read at load. Lines KEY=VALUE;
 *   blank lines and lines starting with # are skipped; an optional leading `export ` is dropped; a value
 *   wrapped in matching single or double quotes is unwrapped, otherwise trailing whitespace is trimmed.
 *   No interpolation in env files. Later files override earlier ones, and env: overrides them all.
 *   tf_spec.env holds one "NAME=VALUE" per name: env_file names first (in first-seen order, with their
 *   final values), then names only set by env:.
 * - user: "name", "uid", "uid:gid", "name:group" (also "uid:group", "name:gid"); numeric parts are filled
 *   into uid/gid (else (uid_t)-1 / (gid_t)-1) and names are resolved by the runner.
 * - limits: cpus (0.01..10000; quota = round(cpus * 100000) over a 100000 us period), cpu_weight
 *   (1..10000), cpuset ("0-3,6": numbers and ascending ranges, comma separated), memory and memory_high
 *   (sizes of at least 1M, or max), memory_swap (a size, 0 allowed, or max), pids (1.. or max), io_weight
 *   (1..10000), io (a list of {device: absolute path, read_bps, write_bps: sizes > 0, read_iops,
 *   write_iops: whole numbers > 0}, at least one limit per device), nofile (1..2^30, soft and hard).
 * - timeout: a duration > 0; `infinity` means none, as does leaving it out.
 * - stop: signal [SIGTERM] (name with or without SIG, any case, a number, or SIGRTMIN+N), grace [10s].
 * - restart: policy [no]: no | on-failure | always; max_retries [unlimited] (not with policy no);
 *   backoff: initial [1s] > 0, max [5m] >= initial, jitter [true].
 * - schedule: calendar (a string or a list of systemd OnCalendar expressions), cron (a string), every (a
 *   duration > 0); at least one of the three. persistent [false], randomized_delay [0], overlap [skip]:
 *   skip | queue | replace | allow. Calendar and cron syntax is checked by schedule/, which gets their
 *   positions.
 * - sandbox: seccomp [default]: default | unconfined | a path to a Docker-format JSON profile (a value
 *   with a '/' or ending in .json; resolved against the spec's directory, not opened here);
 *   no_new_privileges [true]; cap_drop, cap_add: lists of capability names with or without CAP_, any
 *   case, stored upper case without the prefix, checked against Linux's names, plus ALL;
 *   read_only_root [false]; network [unset]: none | host | bridge | a network name
 *   ([A-Za-z0-9][A-Za-z0-9_.-]*; a different-case none/host/bridge is refused); private_tmp [false];
 *   pid [unset]: private | host.
 * - mounts: a list of {source (required; relative to the spec's directory), target (required, absolute),
 *   read_only [false]}.
 * Relative paths are resolved lexically (".." and "." folded) against the absolute directory of the spec
 * file; nothing but env_file is opened at load. Vectors (env, env_files, cap_drop, cap_add) are never
 * NULL after a successful load; argv is NULL only when image: is set without command:.
 */

#include "spec/spec.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "base/cleanup.h"
#include "base/parse.h"
#include "base/strutil.h"

#define SPEC_MAX_SIZE ((size_t)1024 * 1024)
#define SPEC_MAX_DEPTH 16
#define SPEC_MAX_ITEMS 1024
#define SPEC_MIN_MEMORY ((uint64_t)1024 * 1024)
#define SPEC_MAX_NOFILE ((uint64_t)1 << 30)
#define SPEC_MAX_CPUS 10000
/* `memory: N` with N at most this is taken for a forgotten M (N megabytes, up to 64G). */
#define SPEC_MAX_FORGOTTEN_M 65536

extern char **environ;

/* ---- node tree ---------------------------------------------------------------------------------------- */

enum node_type { NODE_SCALAR, NODE_MAP, NODE_SEQ };

struct node {
        enum node_type type;
        struct tf_pos pos; /* start */
        struct tf_pos end; /* end (exclusive) */
        yaml_scalar_style_t style;
        char *text;          /* scalars: NUL-free text */
        struct node **items; /* maps: key, value, key, value, ...; sequences: the items */
        size_t n_items;
};

static struct node *node_free(struct node *n) {
        if (!n)
                return NULL;
        for (size_t i = 0; i < n->n_items; i++)
                node_free(n->items[i]);
        free(n->items);
        free(n->text);
        free(n);
        return NULL;
}
static void node_freep(struct node **n) {
        node_free(*n);
}
#define _cleanup_node_ _cleanup_(node_freep)

static size_t node_len(const struct node *n) {
        return n->type == NODE_MAP ? n->n_items / 2 : n->n_items;
}

/* `key:`, `key: ~` and `key: null` (unquoted): YAML's null. */
static bool is_null(const struct node *n) {
        return n->type == NODE_SCALAR && n->style == YAML_PLAIN_SCALAR_STYLE &&
               (streq(n->text, "") || streq(n->text, "~") || streq(n->text, "null") ||
                streq(n->text, "Null") || streq(n->text, "NULL"));
}

static struct tf_pos mark_pos(yaml_mark_t m) {
        return (struct tf_pos){.line = (unsigned)m.line + 1, .column = (unsigned)m.column + 1};
}

/* ---- context and messages ----------------------------------------------------------------------------- */

struct ctx {
        const char *path;
        char *const *environ_in;
        struct tf_spec *s;
        tf_error **err;
        struct tf_pos root_pos;
        char **env_inline;     /* from env:, interpolated */
        char **env_from_files; /* from env_file:, one entry per name */
        struct tf_pos pos_backend_value, pos_env_file, pos_working_dir_value;
        bool have_backend, have_max_retries;
        struct tf_pos pos_max_retries, pos_backoff_initial;
        bool have_backoff_initial, have_backoff_max;
};

/* A message is one line whatever the input holds: keys, values and file names are user text, and a YAML
 * key may contain a newline. Control characters are written as C escapes. */
static char *one_line(const char *s) {
        char *out = tf_malloc0(strlen(s) * 4 + 1), *p = out;
        for (const unsigned char *q = (const unsigned char *) s; *q; q++) {
                if (*q == '\n')
                        p = stpcpy(p, "\\n");
                else if (*q == '\r')
                        p = stpcpy(p, "\\r");
                else if (*q == '\t')
                        p = stpcpy(p, "\\t");
                else if (*q < 0x20 || *q == 0x7f)
                        p += sprintf(p, "\\x%02x", *q);
                else
                        *p++ = (char) *q;
        }
        *p = 0;
        return out;
}

static int fail(struct ctx *c, struct tf_pos pos, const char *kp, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static int fail(struct ctx *c, struct tf_pos pos, const char *kp, const char *fmt, ...) {
        _cleanup_free_ char *what = NULL;
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(&what, fmt, ap);
        va_end(ap);
        if (r < 0)
                tf_oom();
        _cleanup_free_ char *msg = kp && *kp ? tf_asprintf("%s:%u:%u: %s: %s", c->path, pos.line, pos.column, kp, what)
                                             : tf_asprintf("%s:%u:%u: %s", c->path, pos.line, pos.column, what);
        _cleanup_free_ char *line = one_line(msg);
        return tf_error_set(c->err, EINVAL, "%s", line);
}

/* A value as it appears in a message: quoted, one line, and short. */
static char *quote_text(const char *t) {
        size_t n = strlen(t);
        char *out = tf_malloc0(n * 4 + 8), *p = out;
        size_t shown = 0;
        *p++ = '\'';
        for (const unsigned char *q = (const unsigned char *)t; *q; q++) {
                if (shown >= 48) {
                        p = stpcpy(p, "...");
                        break;
                }
                if (*q == '\n')
                        p = stpcpy(p, "\\n");
                else if (*q == '\t')
                        p = stpcpy(p, "\\t");
                else if (*q < 0x20 || *q == 0x7f)
                        p += sprintf(p, "\\x%02x", *q);
                else
                        *p++ = (char)*q;
                /* Count characters, not UTF-8 continuation bytes. */
                if ((*q & 0xc0) != 0x80)
                        shown++;
        }
        *p++ = '\'';
        *p = 0;
        return out;
}

static char *quoted(const struct node *n) {
        return quote_text(n->text);
}

static int wrong_type(struct ctx *c, const struct node *n, const char *kp, const char *expected) {
        if (is_null(n))
                return fail(c, n->pos, kp, "no value; expected %s", expected);
        if (n->type == NODE_MAP)
                return fail(c, n->pos, kp, "got a mapping; expected %s", expected);
        if (n->type == NODE_SEQ)
                return fail(c, n->pos, kp, "got a list; expected %s", expected);
        _cleanup_free_ char *q = quoted(n);
        return fail(c, n->pos, kp, "got %s; expected %s", q, expected);
}

static char *kp_join(const char *parent, const char *key) {
        if (!parent || !*parent)
                return tf_strdup(key);
        return tf_asprintf("%s.%s", parent, key);
}

static char *kp_index(const char *parent, size_t i) {
        return tf_asprintf("%s[%zu]", parent, i);
}

static char *lowercase(const char *s) {
        char *l = tf_strdup(s);
        for (char *p = l; *p; p++)
                *p = (char)tolower((unsigned char)*p);
        return l;
}

static int cmp_char(const void *a, const void *b) {
        return *(const char *)a - *(const char *)b;
}

static bool same_letters(const char *a, const char *b) {
        if (strlen(a) != strlen(b))
                return false;
        _cleanup_free_ char *x = tf_strdup(a), *y = tf_strdup(b);
        qsort(x, strlen(x), 1, cmp_char);
        qsort(y, strlen(y), 1, cmp_char);
        return streq(x, y);
}

/* The candidate closest to `word` (case-insensitively), if close enough to be a likely typo. */
static const char *suggest(const char *word, const char *const *cands, size_t n) {
        _cleanup_free_ char *lw = lowercase(word);
        size_t len = strlen(lw);
        unsigned limit = len <= 3 ? 1 : len <= 8 ? 2 : 3;
        const char *best = NULL;
        unsigned best_d = UINT32_MAX;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *lc = lowercase(cands[i]);
                unsigned d = tf_edit_distance(lw, lc);
                if (d > limit)
                        continue;
                /* Levenshtein counts a swap of two letters as 2, like two substitutions; on a tie prefer the
                 * candidate with the same letters ("TREM" is TERM, not TRAP). */
                d = 2 * d + !same_letters(lw, lc);
                if (d < best_d) {
                        best_d = d;
                        best = cands[i];
                }
        }
        return best;
}

/* "a, b or c" */
static char *join_alternatives(const char *const *names, size_t n, const char *last_sep) {
        size_t cap = 1;
        for (size_t i = 0; i < n; i++)
                cap += strlen(names[i]) + 8;
        char *out = tf_malloc0(cap), *p = out;
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        p = stpcpy(p, i + 1 == n ? last_sep : ", ");
                p = stpcpy(p, names[i]);
        }
        return out;
}

/* ---- reading YAML into nodes -------------------------------------------------------------------------- */

struct builder {
        struct ctx *c;
        struct node *root;
        struct node *stack[SPEC_MAX_DEPTH];
        size_t depth;
        unsigned n_documents;
};

/* The key path of the node being built, for errors found while reading. */
static char *builder_path(const struct builder *b, size_t upto) {
        char *p = tf_strdup("");
        for (size_t i = 0; i < upto; i++) {
                const struct node *n = b->stack[i];
                /* Below the innermost collection, the child being built is already the last item. */
                bool inner = i + 1 == b->depth;
                size_t k = inner ? n->n_items : n->n_items - 1; /* index of the item being built */
                char *np = NULL;
                if (n->type == NODE_MAP && k % 2 == 1)
                        np = kp_join(p, n->items[k - 1]->text);
                else if (n->type == NODE_SEQ)
                        np = kp_index(p, k);
                if (np) {
                        free(p);
                        p = np;
                }
        }
        return p;
}

static int build_fail(struct builder *b, yaml_mark_t m, const char *what) {
        _cleanup_free_ char *kp = builder_path(b, b->depth);
        return fail(b->c, mark_pos(m), kp, "%s", what);
}

static int builder_check(struct builder *b, const yaml_event_t *e, const char *anchor, const char *tag) {
        if (anchor)
                return build_fail(b, e->start_mark,
                                  "YAML anchors (&name) are not supported; expected the value written out");
        if (tag)
                return build_fail(b, e->start_mark,
                                  "YAML tags (such as !!str) are not supported; expected a plain value");
        if (b->depth == 0)
                return 0;
        const struct node *parent = b->stack[b->depth - 1];
        if (parent->type == NODE_MAP && parent->n_items % 2 == 0 && e->type != YAML_SCALAR_EVENT)
                return build_fail(b, e->start_mark, "a key must be a plain string; expected key: value");
        if (node_len(parent) >= SPEC_MAX_ITEMS && (parent->type == NODE_SEQ || parent->n_items % 2 == 0)) {
                /* Name the list itself, not its 1025th item. */
                _cleanup_free_ char *kp = builder_path(b, b->depth - 1);
                if (parent->type == NODE_SEQ)
                        return fail(b->c, parent->pos, kp, "more than %d items; expected a shorter list",
                                    SPEC_MAX_ITEMS);
                return fail(b->c, parent->pos, kp, "more than %d keys; expected a smaller mapping",
                            SPEC_MAX_ITEMS);
        }
        return 0;
}

static void builder_attach(struct builder *b, struct node *n) {
        if (b->depth == 0) {
                b->root = n;
                return;
        }
        struct node *parent = b->stack[b->depth - 1];
        parent->items = tf_realloc(parent->items, (parent->n_items + 1) * sizeof(struct node *));
        parent->items[parent->n_items++] = n;
}

/* Tabs in indentation make libyaml fail with "found character that cannot start any token" or "found a
 * tab character that violates indentation", both at the line with the tab. Finds such a tab on `line`. */
static bool find_indent_tab(const char *buf, size_t len, unsigned line, struct tf_pos *ret) {
        size_t i = 0;
        for (unsigned l = 1; l < line && i < len; i++)
                if (buf[i] == '\n')
                        l++;
        for (unsigned col = 1; i < len && (buf[i] == ' ' || buf[i] == '\t'); i++, col++)
                if (buf[i] == '\t') {
                        *ret = (struct tf_pos){line, col};
                        return true;
                }
        return false;
}

static struct tf_pos offset_pos(const char *buf, size_t len, size_t off) {
        struct tf_pos p = {1, 1};
        for (size_t i = 0; i < off && i < len; i++) {
                if (buf[i] == '\n') {
                        p.line++;
                        p.column = 1;
                } else if (((unsigned char)buf[i] & 0xc0) != 0x80)
                        p.column++;
        }
        return p;
}

static int yaml_fail(struct ctx *c, yaml_parser_t *p, const char *buf, size_t len) {
        struct tf_pos pos;
        if (p->error == YAML_READER_ERROR) {
                pos = offset_pos(buf, len, p->problem_offset);
                return fail(c, pos, NULL, "invalid YAML: %s; expected UTF-8 text",
                            p->problem ? p->problem : "cannot read");
        }
        pos = mark_pos(p->problem_mark);
        struct tf_pos tab;
        if (find_indent_tab(buf, len, pos.line, &tab))
                return fail(c, tab, NULL,
                            "tab character in indentation; expected spaces (YAML does not allow "
                            "tabs for indentation)");
        if (streq(p->problem, "mapping values are not allowed in this context"))
                return fail(c, pos, NULL,
                            "invalid YAML: mapping values are not allowed in this context; expected "
                            "quotes around a value that contains ': ' (e.g. 'echo a: b')");
        if (p->context) {
                struct tf_pos cp = mark_pos(p->context_mark);
                return fail(c, pos, NULL, "invalid YAML: %s (%s at %u:%u)",
                            p->problem ? p->problem : "error", p->context, cp.line, cp.column);
        }
        return fail(c, pos, NULL, "invalid YAML: %s", p->problem ? p->problem : "error");
}

static int build_tree(struct ctx *c, const char *buf, size_t len, struct node **ret) {
        yaml_parser_t parser;
        struct builder b = {.c = c};
        int r = 0;

        if (!yaml_parser_initialize(&parser))
                tf_oom();
        yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);

        for (bool done = false; !done && r == 0;) {
                yaml_event_t e;
                if (!yaml_parser_parse(&parser, &e)) {
                        r = yaml_fail(c, &parser, buf, len);
                        break;
                }
                switch (e.type) {
                case YAML_STREAM_END_EVENT:
                        done = true;
                        break;
                case YAML_DOCUMENT_START_EVENT:
                        if (++b.n_documents > 1)
                                r = build_fail(&b, e.start_mark,
                                               "a second YAML document; expected one document per file");
                        break;
                case YAML_ALIAS_EVENT:
                        r = build_fail(
                                &b, e.start_mark,
                                "YAML aliases (*name) are not supported; expected the value written out");
                        break;
                case YAML_SCALAR_EVENT: {
                        r = builder_check(&b, &e, (const char *)e.data.scalar.anchor,
                                          (const char *)e.data.scalar.tag);
                        if (r < 0)
                                break;
                        if (strlen((const char *)e.data.scalar.value) != e.data.scalar.length) {
                                r = build_fail(&b, e.start_mark,
                                               "a NUL character in a value; expected text");
                                break;
                        }
                        struct node *n = tf_malloc0(sizeof(*n));
                        n->type = NODE_SCALAR;
                        n->pos = mark_pos(e.start_mark);
                        n->end = mark_pos(e.end_mark);
                        n->style = e.data.scalar.style;
                        n->text = tf_strndup((const char *)e.data.scalar.value, e.data.scalar.length);
                        builder_attach(&b, n);
                        break;
                }
                case YAML_SEQUENCE_START_EVENT:
                case YAML_MAPPING_START_EVENT: {
                        bool map = e.type == YAML_MAPPING_START_EVENT;
                        r = builder_check(
                                &b, &e,
                                (const char *)(map ? e.data.mapping_start.anchor
                                                   : e.data.sequence_start.anchor),
                                (const char *)(map ? e.data.mapping_start.tag : e.data.sequence_start.tag));
                        if (r < 0)
                                break;
                        if (b.depth >= SPEC_MAX_DEPTH) {
                                _cleanup_free_ char *what = tf_asprintf(
                                        "nested more than %d levels deep; expected a flatter structure",
                                        SPEC_MAX_DEPTH);
                                r = build_fail(&b, e.start_mark, what);
                                break;
                        }
                        struct node *n = tf_malloc0(sizeof(*n));
                        n->type = map ? NODE_MAP : NODE_SEQ;
                        n->pos = mark_pos(e.start_mark);
                        builder_attach(&b, n);
                        b.stack[b.depth++] = n;
                        break;
                }
                case YAML_SEQUENCE_END_EVENT:
                case YAML_MAPPING_END_EVENT:
                        if (b.depth > 0)
                                b.stack[--b.depth]->end = mark_pos(e.end_mark);
                        break;
                default:
                        break;
                }
                yaml_event_delete(&e);
        }
        yaml_parser_delete(&parser);
        if (r < 0) {
                node_free(b.root);
                return r;
        }
        *ret = b.root;
        return 0;
}

/* ---- scalar helpers ----------------------------------------------------------------------------------- */

static int get_scalar(struct ctx *c, const struct node *n, const char *kp, const char *expected,
                      const char **ret) {
        if (n->type != NODE_SCALAR || is_null(n))
                return wrong_type(c, n, kp, expected);
        *ret = n->text;
        return 0;
}

static bool blank(const char *s) {
        return s[strspn(s, " \t\n\r")] == 0;
}

static int get_string(struct ctx *c, const struct node *n, const char *kp, const char *expected,
                      bool nonempty, char **ret) {
        const char *t = NULL;
        int r = get_scalar(c, n, kp, expected, &t);
        if (r < 0)
                return r;
        if (nonempty && blank(t))
                return fail(c, n->pos, kp, "empty string; expected %s", expected);
        free(*ret);
        *ret = tf_strdup(t);
        return 0;
}

static int get_bool(struct ctx *c, const struct node *n, const char *kp, bool *ret) {
        const char *t = NULL;
        int r = get_scalar(c, n, kp, "true or false", &t);
        if (r < 0)
                return r;
        if (streq(t, "true"))
                *ret = true;
        else if (streq(t, "false"))
                *ret = false;
        else {
                _cleanup_free_ char *q = quoted(n);
                return fail(c, n->pos, kp, "%s is not a boolean; expected true or false", q);
        }
        return 0;
}

/* A whole number in [min, max]; `expected` describes the range for messages. */
static int get_uint(struct ctx *c, const struct node *n, const char *kp, uint64_t min, uint64_t max,
                    const char *expected, uint64_t *ret) {
        const char *t = NULL;
        int r = get_scalar(c, n, kp, expected, &t);
        if (r < 0)
                return r;
        uint64_t v;
        r = tf_parse_u64(t, &v);
        if (r == -EINVAL) {
                _cleanup_free_ char *q = quoted(n);
                return fail(c, n->pos, kp, "%s is not a whole number; expected %s", q, expected);
        }
        if (r < 0 || v < min || v > max)
                return fail(c, n->pos, kp, "%s is out of range; expected %s", t, expected);
        *ret = v;
        return 0;
}

static bool is_max_word(const char *t) {
        return streq(t, "max") || streq(t, "infinity");
}

static const char SIZE_EXPECTED[] = "bytes or a number with K, M, G or T (e.g. 512M)";

/* The accepted form of a size written with a space or a spelled-out unit: '2 GB', '512 MB', '1.5 G',
 * '2 GiB' -> '2G', '512M', '1.5G', '2G'. NULL when t is not such a size. */
static char *size_suggestion(const char *t) {
        static const struct {
                const char *word;
                char unit;
        } words[] = {
                {"kilobytes", 'K'}, {"kilobyte", 'K'}, {"megabytes", 'M'}, {"megabyte", 'M'},
                {"gigabytes", 'G'}, {"gigabyte", 'G'}, {"terabytes", 'T'}, {"terabyte", 'T'},
                {"kib", 'K'},       {"mib", 'M'},      {"gib", 'G'},       {"tib", 'T'},
                {"kb", 'K'},        {"mb", 'M'},       {"gb", 'G'},        {"tb", 'T'},
                {"k", 'K'},         {"m", 'M'},        {"g", 'G'},         {"t", 'T'},
        };
        size_t n = strspn(t, "0123456789.");
        if (n == 0 || t[n] == 0)
                return NULL;
        const char *u = t + n + strspn(t + n, " \t");
        for (size_t i = 0; i < ELEMENTSOF(words); i++)
                if (strcasecmp(u, words[i].word) == 0) {
                        char *sug = tf_asprintf("%.*s%c", (int)n, t, words[i].unit);
                        uint64_t v;
                        if (tf_parse_size(sug, &v) == 0)
                                return sug;
                        free(sug);
                        return NULL;
                }
        return NULL;
}

/* A size in bytes of at least `min`; with allow_max also max/infinity (TF_LIMIT_MAX). */
static int get_size(struct ctx *c, const struct node *n, const char *kp, bool allow_max, uint64_t min,
                    uint64_t *ret) {
        const char *t = NULL;
        int r = get_scalar(c, n, kp, SIZE_EXPECTED, &t);
        if (r < 0)
                return r;
        if (allow_max && is_max_word(t)) {
                *ret = TF_LIMIT_MAX;
                return 0;
        }
        uint64_t v;
        r = tf_parse_size(t, &v);
        _cleanup_free_ char *q = quoted(n);
        if (r == -ERANGE || (r == 0 && v >= TF_LIMIT_MAX))
                return fail(c, n->pos, kp, "%s is too large; expected a size below 16E", q);
        if (r < 0) {
                _cleanup_free_ char *sug = size_suggestion(t);
                if (sug)
                        return fail(c, n->pos, kp,
                                    "%s is not a size; expected the number and its unit without a space "
                                    "(units are binary: 1G = 1024M); did you mean '%s'?",
                                    q, sug);
                return fail(c, n->pos, kp, "%s is not a size; expected %s", q, SIZE_EXPECTED);
        }
        if (v < min) {
                if (min == 1)
                        return fail(c, n->pos, kp, "%s is too small; expected more than 0", q);
                assert(min == SPEC_MIN_MEMORY);
                uint64_t bytes;
                if (tf_parse_u64(t, &bytes) < 0)
                        return fail(c, n->pos, kp, "%s is too small; expected at least 1M", q);
                /* `memory: 512` is 512 bytes: almost certainly a forgotten unit, as long as the number
                 * with an M is a plausible limit (up to 64G). A larger bare number was meant as bytes
                 * (1000000: a decimal megabyte), and the nearest limit is the smallest one. */
                if (bytes <= SPEC_MAX_FORGOTTEN_M)
                        return fail(c, n->pos, kp,
                                    "%s bytes is too small; expected at least 1M; did you mean "
                                    "'%sM'?",
                                    t, t);
                return fail(c, n->pos, kp,
                            "%s bytes is too small (a number without a unit is bytes); expected at least 1M "
                            "(1048576 bytes); did you mean "
                            "'1M'?",
                            t);
        }
        *ret = v;
        return 0;
}

static const char DURATION_EXPECTED[] = "e.g. 90s, 1h30m or '1h 30min'";

enum {
        DUR_ZERO = 1 << 0,     /* 0 is allowed */
        DUR_INFINITY = 1 << 1, /* infinity is allowed (returned as TF_USEC_INFINITY) */
};

static int get_duration(struct ctx *c, const struct node *n, const char *kp, unsigned flags, uint64_t *ret) {
        const char *t = NULL;
        int r = get_scalar(c, n, kp, "a duration (e.g. 90s, 1h30m or '1h 30min')", &t);
        if (r < 0)
                return r;
        uint64_t v;
        r = tf_parse_duration(t, &v);
        _cleanup_free_ char *q = quoted(n);
        if (r == -ERANGE)
                return fail(c, n->pos, kp, "%s is too long; expected a shorter duration", q);
        if (r < 0)
                return fail(c, n->pos, kp, "%s is not a duration; expected %s", q, DURATION_EXPECTED);
        if (v == TF_USEC_INFINITY && !(flags & DUR_INFINITY))
                return fail(c, n->pos, kp, "%s is not allowed here; expected a finite duration (e.g. 90s)",
                            q);
        if (v == 0 && !(flags & DUR_ZERO))
                return fail(c, n->pos, kp, "%s is too short; expected a duration above 0 (e.g. 30s)", q);
        *ret = v;
        return 0;
}

static int get_enum(struct ctx *c, const struct node *n, const char *kp, const char *what,
                    const char *const *names, size_t n_names, int *ret) {
        _cleanup_free_ char *alts = join_alternatives(names, n_names, " or ");
        const char *t = NULL;
        int r = get_scalar(c, n, kp, alts, &t);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_names; i++)
                if (streq(t, names[i])) {
                        *ret = (int)i;
                        return 0;
                }
        _cleanup_free_ char *q = quoted(n);
        const char *s = suggest(t, names, n_names);
        if (s)
                return fail(c, n->pos, kp, "%s is not %s; expected %s; did you mean '%s'?", q, what, alts,
                            s);
        return fail(c, n->pos, kp, "%s is not %s; expected %s", q, what, alts);
}

/* ---- paths -------------------------------------------------------------------------------------------- */

/* Lexical normalisation of an absolute path: "//", "." and ".." folded, no trailing slash. */
static char *path_normalize(const char *p) {
        size_t len = strlen(p);
        char *out = tf_malloc0(len + 2);
        size_t o = 0;
        const char *s = p;
        while (*s) {
                while (*s == '/')
                        s++;
                if (!*s)
                        break;
                size_t n = strcspn(s, "/");
                if (n == 1 && s[0] == '.') {
                        /* nothing */
                } else if (n == 2 && s[0] == '.' && s[1] == '.') {
                        while (o > 0 && out[o - 1] != '/')
                                o--;
                        if (o > 0)
                                o--;
                } else {
                        out[o++] = '/';
                        memcpy(out + o, s, n);
                        o += n;
                }
                s += n;
        }
        if (o == 0)
                out[o++] = '/';
        out[o] = 0;
        return out;
}

static char *path_resolve(const char *dir, const char *p) {
        if (p[0] == '/')
                return path_normalize(p);
        _cleanup_free_ char *j = tf_asprintf("%s/%s", dir, p);
        return path_normalize(j);
}

static int spec_dir(const char *path, char **ret, tf_error **err) {
        const char *slash = strrchr(path, '/');
        _cleanup_free_ char *d = slash ? tf_strndup(path, (size_t)(slash - path) + 1) : tf_strdup(".");
        if (d[0] == '/') {
                *ret = path_normalize(d);
                return 0;
        }
        _cleanup_free_ char *cwd = getcwd(NULL, 0);
        if (!cwd)
                return tf_error_setc(err, errno, "%s: cannot resolve the spec's directory", path);
        _cleanup_free_ char *j = tf_asprintf("%s/%s", cwd, d);
        *ret = path_normalize(j);
        return 0;
}

/* Reads a whole file of at most `max` bytes. -EFBIG when larger; *ret_opened tells open() failures apart. */
static int read_file_bounded(const char *path, size_t max, char **ret, size_t *ret_len, bool *ret_opened) {
        *ret_opened = false;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        *ret_opened = true;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max)
                return -EFBIG;
        size_t cap = 4096, len = 0;
        _cleanup_free_ char *buf = tf_malloc0(cap + 1);
        for (;;) {
                if (len == cap) {
                        if (cap > max)
                                return -EFBIG;
                        cap *= 2;
                        buf = tf_realloc(buf, cap + 1);
                }
                ssize_t n = read(fd, buf + len, cap - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        if (len > max)
                return -EFBIG;
        buf[len] = 0;
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

/* ---- mappings ----------------------------------------------------------------------------------------- */

typedef int (*field_fn)(struct ctx *c, const char *key, const struct node *k, const struct node *v,
                        const char *kp, void *ud);

#define KEYS(...) ((const char *const[]){__VA_ARGS__}), ELEMENTSOF(((const char *const[]){__VA_ARGS__}))

static const char *const limits_keys[] = {"cpus",        "cpu_weight", "cpuset",    "memory", "memory_high",
                                          "memory_swap", "pids",       "io_weight", "io",     "nofile"};
static const char *const stop_keys[] = {"signal", "grace"};
static const char *const restart_keys[] = {"policy", "max_retries", "backoff"};
static const char *const schedule_keys[] = {"calendar",         "cron",   "every", "persistent",
                                            "randomized_delay", "overlap"};
static const char *const sandbox_keys[] = {"seccomp",        "no_new_privileges", "cap_drop",    "cap_add",
                                           "read_only_root", "network",           "private_tmp", "pid"};

/* A key written at the top level that belongs in a section: `memory: 1G` -> "limits.memory". */
static char *section_hint(const char *key) {
        static const struct {
                const char *section;
                const char *const *keys;
                size_t n;
        } sections[] = {
                {"limits", limits_keys, ELEMENTSOF(limits_keys)},
                {"stop", stop_keys, ELEMENTSOF(stop_keys)},
                {"restart", restart_keys, ELEMENTSOF(restart_keys)},
                {"schedule", schedule_keys, ELEMENTSOF(schedule_keys)},
                {"sandbox", sandbox_keys, ELEMENTSOF(sandbox_keys)},
        };
        for (size_t i = 0; i < ELEMENTSOF(sections); i++)
                for (size_t j = 0; j < sections[i].n; j++)
                        if (streq(key, sections[i].keys[j]))
                                return tf_asprintf("%s.%s", sections[i].section, key);
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
        {"depends_on", NULL, "a spec is one service and tfrun starts nothing else; expected one spec per "
                             "service, started in order"},
        {"services", NULL, "a spec is one service, not a compose file; expected the service's keys at the "
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
                        return fail(c, k->pos, kp, "unknown key (docker-compose's); did you mean '%s'? (%s)",
                                    ck->tfrun, ck->note);
                return fail(c, k->pos, kp, "unknown key (docker-compose's), with no tfrun equivalent: %s",
                            ck->note);
        }
        return 0;
}

/* Walks a mapping (the caller has checked that it is one) in document order: duplicate and unknown keys
 * are errors, every known key goes to fn. */
static int walk_map(struct ctx *c, const struct node *map, const char *parent_kp, const char *const *keys,
                    size_t n_keys, field_fn fn, void *ud) {
        for (size_t i = 0; i + 1 < map->n_items; i += 2) {
                const struct node *k = map->items[i], *v = map->items[i + 1];
                const char *key = k->text;
                _cleanup_free_ char *kp = kp_join(parent_kp, key);
                int r;

                if (is_null(k) || blank(key))
                        return fail(c, k->pos, parent_kp, "empty key; expected key: value");
                for (size_t j = 0; j < i; j += 2)
                        if (streq(map->items[j]->text, key))
                                return fail(c, k->pos, kp,
                                            "duplicate key (first at %u:%u); expected each key once",
                                            map->items[j]->pos.line, map->items[j]->pos.column);
                size_t found = n_keys;
                for (size_t j = 0; j < n_keys; j++)
                        if (streq(keys[j], key)) {
                                found = j;
                                break;
                        }
                if (found == n_keys) {
                        r = !parent_kp ? compose_fail(c, k, kp) : 0;
                        if (r < 0)
                                return r;
                        _cleanup_free_ char *hint = !parent_kp ? section_hint(key) : NULL;
                        const char *s = hint ? hint : suggest(key, keys, n_keys);
                        if (s)
                                return fail(c, k->pos, kp, "unknown key; did you mean '%s'?", s);
                        _cleanup_free_ char *alts = join_alternatives(keys, n_keys, ", ");
                        return fail(c, k->pos, kp, "unknown key; expected one of %s", alts);
                }
                r = fn(c, key, k, v, kp, ud);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int expect_map(struct ctx *c, const struct node *n, const char *kp, const char *example) {
        if (n->type == NODE_MAP)
                return 0;
        _cleanup_free_ char *e = tf_asprintf("a mapping (e.g. %s)", example);
        return wrong_type(c, n, kp, e);
}

static int expect_list(struct ctx *c, const struct node *n, const char *kp, const char *expected) {
        if (n->type == NODE_SEQ)
                return 0;
        return wrong_type(c, n, kp, expected);
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

static int parse_name(struct ctx *c, const struct node *v, const char *kp) {
        int r = get_string(c, v, kp, NAME_EXPECTED, false, &c->s->name);
        if (r < 0)
                return r;
        if (name_valid(c->s->name))
                return 0;
        _cleanup_free_ char *q = quoted(v);
        _cleanup_free_ char *sug = name_suggestion(c->s->name);
        if (sug)
                return fail(c, v->pos, kp, "%s is not a valid name; expected %s; did you mean '%s'?", q,
                            NAME_EXPECTED, sug);
        return fail(c, v->pos, kp, "%s is not a valid name; expected %s", q, NAME_EXPECTED);
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
        _cleanup_free_ char *q = quote_text(name);
        _cleanup_free_ char *sug = name_suggestion(name);
        if (sug)
                return fail(
                        c, c->root_pos, "name",
                        "missing, and the file name %s is not a valid name; expected a name: key with %s; "
                        "did you mean 'name: %s'?",
                        q, NAME_EXPECTED, sug);
        return fail(c, c->root_pos, "name",
                    "missing, and the file name %s is not a valid name; expected a name: key with %s", q,
                    NAME_EXPECTED);
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
                                n = isdigit((unsigned char)ch);
                                n += strspn(t + i + n, "&|;<>");
                                /* 2>&1, <&0 */
                                if (n >= 2 && t[i + n - 1] == '&' && (isdigit((unsigned char)t[i + n]) ||
                                                                       t[i + n] == '-'))
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

static int parse_command(struct ctx *c, const struct node *v, const char *kp) {
        struct tf_spec *s = c->s;
        if (v->type == NODE_SEQ) {
                if (v->n_items == 0)
                        return fail(
                                c, v->pos, kp,
                                "empty list; expected a program and its arguments (e.g. [python3, app.py])");
                _cleanup_strv_free_ char **argv = tf_malloc0((v->n_items + 1) * sizeof(char *));
                for (size_t i = 0; i < v->n_items; i++) {
                        _cleanup_free_ char *ikp = kp_index(kp, i);
                        const char *t = NULL;
                        int r = get_scalar(c, v->items[i], ikp, "a string", &t);
                        if (r < 0)
                                return r;
                        if (i == 0 && !*t)
                                return fail(c, v->items[i]->pos, ikp,
                                            "empty program name; expected a program (e.g. python3)");
                        argv[i] = tf_strdup(t);
                }
                s->argv = TAKE_PTR(argv);
                return 0;
        }
        const char *t = NULL;
        int r = get_scalar(c, v, kp, COMMAND_EXPECTED, &t);
        if (r < 0)
                return r;
        _cleanup_strv_free_ char **argv = NULL;
        size_t off = 0;
        r = tf_split_shell(t, &argv, &off);
        if (r == -EINVAL) {
                /* Point at the quote itself. */
                struct tf_pos p = text_pos(v, off);
                if (t[off] == '\\')
                        return fail(c, p, kp, "a backslash at the end; expected a character after it");
                return fail(c, p, kp, "unterminated %c quote; expected a closing %c", t[off], t[off]);
        }
        if (r < 0)
                return tf_error_setc(c->err, r, "%s: command", c->path);
        if (!argv || !argv[0])
                return fail(c, v->pos, kp,
                            "empty string; expected a program and its arguments (e.g. python3 app.py)");
        size_t op_len;
        if (find_shell_operator(t, &off, &op_len)) {
                _cleanup_free_ char *sq = yaml_single_quoted(t);
                return fail(c, text_pos(v, off), kp,
                            "'%.*s' is a shell operator, but no shell runs the command (%s would get it as "
                            "an argument); expected [sh, -c, '...'] to run a shell, or the operator quoted; "
                            "did you mean [sh, -c, %s]?",
                            (int)op_len, t + off, argv[0], sq);
        }
        s->argv = TAKE_PTR(argv);
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
        int r = get_string(c, v, kp, expected, false, &s->user);
        if (r < 0)
                return r;
        const char *u = s->user, *colon = strchr(u, ':');
        size_t un = colon ? (size_t)(colon - u) : strlen(u);
        const char *g = colon ? colon + 1 : NULL;
        size_t gn = g ? strlen(g) : 0;
        _cleanup_free_ char *q = quoted(v);
        if (!user_part_valid(u, un) || (g && !user_part_valid(g, gn)))
                return fail(c, v->pos, kp, "%s is not a user; expected %s", q, expected);
        uint32_t id;
        r = user_number(u, un, &id);
        if (r < 0)
                return fail(c, v->pos, kp, "%s: the uid is out of range; expected 0 to 4294967294", q);
        if (r > 0)
                s->uid = (uid_t)id;
        if (g) {
                r = user_number(g, gn, &id);
                if (r < 0)
                        return fail(c, v->pos, kp, "%s: the gid is out of range; expected 0 to 4294967294",
                                    q);
                if (r > 0)
                        s->gid = (gid_t)id;
        }
        return 0;
}

/* ---- env ---------------------------------------------------------------------------------------------- */

static bool env_name_valid(const char *s, size_t n) {
        if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
                        return false;
        return true;
}

static const char *env_lookup(char *const *env, const char *name, size_t n) {
        for (size_t i = 0; env && env[i]; i++)
                if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
                        return env[i] + n + 1;
        return NULL;
}

/* Sets NAME=VALUE in *v, replacing an entry of the same name in place. */
static void env_set(char ***v, char *kv) {
        size_t n = strcspn(kv, "=");
        for (size_t i = 0; *v && (*v)[i]; i++)
                if (strncmp((*v)[i], kv, n + 1) == 0) {
                        free((*v)[i]);
                        (*v)[i] = kv;
                        return;
                }
        tf_strv_consume(v, kv);
}

struct strbuf {
        char *p;
        size_t len, cap;
};

static void sb_append(struct strbuf *b, const char *s, size_t n) {
        if (b->len + n + 1 > b->cap) {
                b->cap = (b->len + n + 1) * 2;
                b->p = tf_realloc(b->p, b->cap);
        }
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = 0;
}

static int interpolate(struct ctx *c, const struct node *v, const char *kp, char **ret) {
        static const char braces[] = "expected ${NAME} or ${NAME:-default}, or $$ for a literal $";
        const char *s = v->text;
        struct strbuf b = {0};
        int r = 0;
        sb_append(&b, "", 0);
        for (size_t i = 0; s[i] && r == 0;) {
                if (s[i] != '$') {
                        size_t n = strcspn(s + i, "$");
                        sb_append(&b, s + i, n);
                        i += n;
                        continue;
                }
                if (s[i + 1] == '$') {
                        sb_append(&b, "$", 1);
                        i += 2;
                        continue;
                }
                if (isalpha((unsigned char)s[i + 1]) || s[i + 1] == '_') {
                        size_t n = 1;
                        while (isalnum((unsigned char)s[i + 1 + n]) || s[i + 1 + n] == '_')
                                n++;
                        r = fail(c, v->pos, kp,
                                 "$%.*s is not replaced; expected ${%.*s}, or $$%.*s for the text", (int)n,
                                 s + i + 1, (int)n, s + i + 1, (int)n, s + i + 1);
                        break;
                }
                if (s[i + 1] != '{') {
                        sb_append(&b, "$", 1);
                        i++;
                        continue;
                }
                const char *name = s + i + 2;
                size_t n = 0;
                while (isalnum((unsigned char)name[n]) || name[n] == '_')
                        n++;
                const char *after = name + n;
                _cleanup_free_ char *q = quoted(v);
                if (!env_name_valid(name, n) || (*after != '}' && !tf_startswith(after, ":-"))) {
                        r = fail(c, v->pos, kp, "%s has a malformed ${...}; %s", q, braces);
                        break;
                }
                const char *val = env_lookup(c->environ_in, name, n);
                if (*after == '}') {
                        if (!val) {
                                r = fail(c, v->pos, kp,
                                         "${%.*s} is not set in the environment; expected it set, or a "
                                         "default: "
                                         "${%.*s:-value}",
                                         (int)n, name, (int)n, name);
                                break;
                        }
                        sb_append(&b, val, strlen(val));
                        i = (size_t)(after + 1 - s);
                        continue;
                }
                const char *def = after + 2, *close = strchr(def, '}');
                if (!close) {
                        r = fail(c, v->pos, kp, "%s has an unterminated ${...}; %s", q, braces);
                        break;
                }
                if (val && *val)
                        sb_append(&b, val, strlen(val));
                else
                        sb_append(&b, def, (size_t)(close - def));
                i = (size_t)(close + 1 - s);
        }
        if (r < 0) {
                free(b.p);
                return r;
        }
        *ret = b.p;
        return 0;
}

static int parse_env(struct ctx *c, const struct node *v, const char *kp) {
        int r = expect_map(c, v, kp, "{LOG_LEVEL: info}");
        if (r < 0)
                return r;
        for (size_t i = 0; i + 1 < v->n_items; i += 2) {
                const struct node *k = v->items[i], *val = v->items[i + 1];
                _cleanup_free_ char *ikp = kp_join(kp, k->text);
                for (size_t j = 0; j < i; j += 2)
                        if (streq(v->items[j]->text, k->text))
                                return fail(c, k->pos, ikp,
                                            "duplicate key (first at %u:%u); expected each key once",
                                            v->items[j]->pos.line, v->items[j]->pos.column);
                if (!env_name_valid(k->text, strlen(k->text))) {
                        _cleanup_free_ char *q = quoted(k);
                        return fail(c, k->pos, ikp,
                                    "%s is not a valid variable name; expected letters, digits and '_', not "
                                    "starting with a digit",
                                    q);
                }
                const char *t = NULL;
                r = get_scalar(c, val, ikp, "a string, number or boolean (write '' for an empty value)", &t);
                if (r < 0)
                        return r;
                _cleanup_free_ char *x = NULL;
                r = interpolate(c, val, ikp, &x);
                if (r < 0)
                        return r;
                env_set(&c->env_inline, tf_asprintf("%s=%s", k->text, x));
        }
        return 0;
}

static int read_env_file(struct ctx *c, const struct node *v, const char *kp, const char *abs) {
        _cleanup_free_ char *buf = NULL;
        size_t len;
        _cleanup_free_ char *q = quoted(v);
        bool opened;
        int r = read_file_bounded(abs, SPEC_MAX_SIZE, &buf, &len, &opened);
        if (r == -EFBIG)
                return fail(c, v->pos, kp, "%s is larger than 1 MiB; expected a file of KEY=VALUE lines", q);
        if (r < 0)
                return fail(
                        c, v->pos, kp,
                        "%s cannot be read: %s; expected a file of KEY=VALUE lines (relative to the spec's "
                        "directory)",
                        q, strerror(-r));
        if (strlen(buf) != len)
                return fail(c, v->pos, kp, "%s contains a NUL byte; expected a text file of KEY=VALUE lines",
                            q);
        unsigned lineno = 0;
        for (char *line = buf, *next; line; line = next) {
                lineno++;
                next = strchr(line, '\n');
                if (next)
                        *next++ = 0;
                line += strspn(line, " \t");
                size_t n = strlen(line);
                while (n > 0 && strchr(" \t\r", line[n - 1]))
                        line[--n] = 0;
                if (n == 0 || line[0] == '#')
                        continue;
                if (tf_startswith(line, "export ")) {
                        line += 7;
                        line += strspn(line, " \t");
                }
                char *eq = strchr(line, '=');
                if (!eq || !env_name_valid(line, (size_t)(eq - line))) {
                        _cleanup_free_ char *ql = quote_text(line);
                        return fail(c, v->pos, kp,
                                    "%s line %u: %s is not KEY=VALUE; expected NAME=value lines", q, lineno,
                                    ql);
                }
                char *val = eq + 1;
                size_t vn = strlen(val);
                if (vn >= 2 && (val[0] == '"' || val[0] == '\'') && val[vn - 1] == val[0]) {
                        val[vn - 1] = 0;
                        val++;
                }
                env_set(&c->env_from_files, tf_asprintf("%.*s=%s", (int)(eq - line), line, val));
        }
        return 0;
}

static int parse_env_file(struct ctx *c, const struct node *v, const char *kp) {
        static const char expected[] = "a file name or a list of them (e.g. [.env])";
        struct tf_spec *s = c->s;
        if (v->type == NODE_SEQ) {
                for (size_t i = 0; i < v->n_items; i++) {
                        _cleanup_free_ char *ikp = kp_index(kp, i);
                        _cleanup_free_ char *f = NULL;
                        int r = get_string(c, v->items[i], ikp, "a file name", true, &f);
                        if (r < 0)
                                return r;
                        char *abs = path_resolve(s->dir, f);
                        tf_strv_consume(&s->env_files, abs);
                        r = read_env_file(c, v->items[i], ikp, abs);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        _cleanup_free_ char *f = NULL;
        int r = get_string(c, v, kp, expected, true, &f);
        if (r < 0)
                return r;
        char *abs = path_resolve(s->dir, f);
        tf_strv_consume(&s->env_files, abs);
        return read_env_file(c, v, kp, abs);
}

/* ---- limits ------------------------------------------------------------------------------------------- */

static int parse_cpus(struct ctx *c, const struct node *v, const char *kp) {
        static const char expected[] = "0.01 to 10000 (a number of CPUs, e.g. 1.5)";
        const char *t = NULL;
        int r = get_scalar(c, v, kp, expected, &t);
        if (r < 0)
                return r;
        const char *p = t + (t[0] == '-' || t[0] == '+');
        size_t ip = strspn(p, "0123456789"), fp = 0;
        if (p[ip] == '.')
                fp = strspn(p + ip + 1, "0123456789");
        bool ok =
                (ip > 0 || fp > 0) && p[ip + (p[ip] == '.' ? 1 + fp : 0)] == 0 && !(p[ip] == '.' && fp == 0);
        if (!ok) {
                _cleanup_free_ char *q = quoted(v);
                return fail(c, v->pos, kp, "%s is not a number; expected %s", q, expected);
        }
        double d = strtod(t, NULL);
        if (!(d >= 0.01 && d <= SPEC_MAX_CPUS))
                return fail(c, v->pos, kp, "%s is out of range; expected %s", t, expected);
        c->s->limits.cpu_quota_usec = (uint64_t)(d * (double)TF_CPU_PERIOD_USEC + 0.5);
        c->s->limits.cpu_period_usec = TF_CPU_PERIOD_USEC;
        return 0;
}

static int parse_cpuset(struct ctx *c, const struct node *v, const char *kp) {
        static const char expected[] = "CPU numbers and ranges (e.g. 0-1,3)";
        struct tf_limits *l = &c->s->limits;
        int r = get_string(c, v, kp, expected, false, &l->cpuset);
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
                _cleanup_free_ char *q = quoted(v);
                return fail(c, v->pos, kp, "%s is not a CPU list; expected %s", q, expected);
        }
        return 0;
}

static int io_field(struct ctx *c, const char *key, const struct node *k, const struct node *v,
                    const char *kp, void *ud) {
        struct tf_io_limit *io = ud;
        static const char iops[] = "a whole number of operations per second above 0 (e.g. 500)";
        if (streq(key, "device")) {
                int r = get_string(c, v, kp, "a block device path (e.g. /dev/vda)", true, &io->device);
                if (r < 0)
                        return r;
                if (io->device[0] != '/') {
                        _cleanup_free_ char *q = quoted(v);
                        return fail(c, v->pos, kp,
                                    "%s is relative; expected an absolute device path (e.g. /dev/vda)", q);
                }
                return 0;
        }
        if (streq(key, "read_bps"))
                return get_size(c, v, kp, false, 1, &io->read_bps);
        if (streq(key, "write_bps"))
                return get_size(c, v, kp, false, 1, &io->write_bps);
        if (streq(key, "read_iops"))
                return get_uint(c, v, kp, 1, UINT64_MAX - 2, iops, &io->read_iops);
        return get_uint(c, v, kp, 1, UINT64_MAX - 2, iops, &io->write_iops);
}

static int parse_io(struct ctx *c, const struct node *v, const char *kp) {
        static const char example[] = "{device: /dev/vda, read_bps: 10M}";
        struct tf_limits *l = &c->s->limits;
        int r = expect_list(c, v, kp, "a list of mappings (e.g. [{device: /dev/vda, read_bps: 10M}])");
        if (r < 0)
                return r;
        l->io = tf_malloc0(v->n_items * sizeof(struct tf_io_limit));
        l->n_io = v->n_items;
        for (size_t i = 0; i < v->n_items; i++) {
                struct tf_io_limit *io = &l->io[i];
                const struct node *e = v->items[i];
                _cleanup_free_ char *ikp = kp_index(kp, i);
                io->read_bps = io->write_bps = io->read_iops = io->write_iops = TF_UNSET;
                io->pos = e->pos;
                r = expect_map(c, e, ikp, example);
                if (r < 0)
                        return r;
                r = walk_map(c, e, ikp, KEYS("device", "read_bps", "write_bps", "read_iops", "write_iops"),
                             io_field, io);
                if (r < 0)
                        return r;
                if (!io->device) {
                        _cleanup_free_ char *dkp = kp_join(ikp, "device");
                        return fail(c, e->pos, dkp, "missing; expected a block device path (e.g. /dev/vda)");
                }
                if (io->read_bps == TF_UNSET && io->write_bps == TF_UNSET && io->read_iops == TF_UNSET &&
                    io->write_iops == TF_UNSET)
                        return fail(
                                c, e->pos, ikp,
                                "no limit given; expected at least one of read_bps, write_bps, read_iops or "
                                "write_iops");
        }
        return 0;
}

static int limits_field(struct ctx *c, const char *key, const struct node *k, const struct node *v,
                        const char *kp, void *ud) {
        struct tf_limits *l = &c->s->limits;
        if (streq(key, "cpus")) {
                l->pos_cpus = k->pos;
                return parse_cpus(c, v, kp);
        }
        if (streq(key, "cpu_weight")) {
                l->pos_cpu_weight = k->pos;
                return get_uint(c, v, kp, 1, 10000, "a whole number from 1 to 10000", &l->cpu_weight);
        }
        if (streq(key, "cpuset")) {
                l->pos_cpuset = k->pos;
                return parse_cpuset(c, v, kp);
        }
        if (streq(key, "memory")) {
                l->pos_memory = k->pos;
                return get_size(c, v, kp, true, SPEC_MIN_MEMORY, &l->memory);
        }
        if (streq(key, "memory_high")) {
                l->pos_memory_high = k->pos;
                return get_size(c, v, kp, true, SPEC_MIN_MEMORY, &l->memory_high);
        }
        if (streq(key, "memory_swap")) {
                l->pos_memory_swap = k->pos;
                return get_size(c, v, kp, true, 0, &l->memory_swap);
        }
        if (streq(key, "pids")) {
                l->pos_pids = k->pos;
                const char *t = NULL;
                int r = get_scalar(c, v, kp, "a whole number of 1 or more, or max", &t);
                if (r < 0)
                        return r;
                if (is_max_word(t)) {
                        l->pids = TF_LIMIT_MAX;
                        return 0;
                }
                return get_uint(c, v, kp, 1, UINT64_MAX - 2, "a whole number of 1 or more, or max",
                                &l->pids);
        }
        if (streq(key, "io_weight")) {
                l->pos_io_weight = k->pos;
                return get_uint(c, v, kp, 1, 10000, "a whole number from 1 to 10000", &l->io_weight);
        }
        if (streq(key, "io")) {
                l->pos_io = k->pos;
                return parse_io(c, v, kp);
        }
        l->pos_nofile = k->pos;
        return get_uint(c, v, kp, 1, SPEC_MAX_NOFILE, "a whole number from 1 to 1073741824", &l->nofile);
}

/* ---- stop, restart, schedule -------------------------------------------------------------------------- */

static int parse_signal(struct ctx *c, const struct node *v, const char *kp) {
        static const char expected[] = "a signal name like SIGTERM, or a number";
        const char *t = NULL;
        int r = get_scalar(c, v, kp, expected, &t);
        if (r < 0)
                return r;
        int sig = tf_parse_signal(t);
        if (sig > 0) {
                c->s->stop_signal = sig;
                return 0;
        }
        if (t[strspn(t, "0123456789")] == 0)
                return fail(c, v->pos, kp,
                            "%s is not a signal number; expected 1 to %d, or a name like SIGTERM", t,
                            SIGRTMAX);
        /* Compare without the SIG prefix, so that "SIGFOO" is not "close" to SIGFPE through SIG alone. */
        const char *names[SIGSYS + 1];
        size_t n = 0;
        for (int i = 1; i <= SIGSYS; i++)
                if (tf_signal_name(i))
                        names[n++] = tf_signal_name(i) + 3;
        const char *s = suggest(strncasecmp(t, "SIG", 3) == 0 ? t + 3 : t, names, n);
        _cleanup_free_ char *q = quoted(v);
        if (s)
                return fail(c, v->pos, kp, "%s is not a signal; expected %s; did you mean 'SIG%s'?", q,
                            expected, s);
        return fail(c, v->pos, kp, "%s is not a signal; expected %s", q, expected);
}

static int stop_field(struct ctx *c, const char *key, const struct node *k, const struct node *v,
                      const char *kp, void *ud) {
        if (streq(key, "signal"))
                return parse_signal(c, v, kp);
        return get_duration(c, v, kp, DUR_ZERO, &c->s->stop_grace_usec);
}

static int backoff_field(struct ctx *c, const char *key, const struct node *k, const struct node *v,
                         const char *kp, void *ud) {
        struct tf_spec *s = c->s;
        if (streq(key, "initial")) {
                c->have_backoff_initial = true;
                c->pos_backoff_initial = v->pos;
                return get_duration(c, v, kp, 0, &s->restart.backoff_initial_usec);
        }
        if (streq(key, "max")) {
                c->have_backoff_max = true;
                return get_duration(c, v, kp, 0, &s->restart.backoff_max_usec);
        }
        return get_bool(c, v, kp, &s->restart.jitter);
}

static int restart_field(struct ctx *c, const char *key, const struct node *k, const struct node *v,
                         const char *kp, void *ud) {
        static const char *const policies[] = {"no", "on-failure", "always"};
        struct tf_spec *s = c->s;
        if (streq(key, "policy")) {
                int p;
                int r = get_enum(c, v, kp, "a restart policy", policies, ELEMENTSOF(policies), &p);
                if (r < 0)
                        return r;
                s->restart.policy = (enum tf_restart_policy)p;
                return 0;
        }
        if (streq(key, "max_retries")) {
                c->have_max_retries = true;
                c->pos_max_retries = k->pos;
                return get_uint(c, v, kp, 0, UINT64_MAX - 2, "a whole number (0 or more)",
                                &s->restart.max_retries);
        }
        int r = expect_map(c, v, kp, "{initial: 1s, max: 5m}");
        if (r < 0)
                return r;
        return walk_map(c, v, kp, KEYS("initial", "max", "jitter"), backoff_field, NULL);
}

/* `restart: always`, compose's form: the mapping it means. */
static int restart_scalar(struct ctx *c, const struct node *v, const char *kp) {
        static const char expected[] = "a mapping of policy, max_retries and backoff";
        if (v->type != NODE_SCALAR || is_null(v))
                return 0;
        const char *t = v->text;
        _cleanup_free_ char *q = quoted(v), *sug = NULL;
        uint64_t n;
        if (streq(t, "no") || streq(t, "always") || streq(t, "on-failure"))
                sug = tf_asprintf("{policy: %s}", t);
        else if (streq(t, "unless-stopped"))
                sug = tf_strdup("{policy: always}");
        else if (tf_startswith(t, "on-failure:") && tf_parse_u64(t + 11, &n) == 0)
                sug = tf_asprintf("{policy: on-failure, max_retries: %" PRIu64 "}", n);
        if (sug)
                return fail(c, v->pos, kp,
                            "got %s (docker-compose's form); expected %s; did you mean 'restart: %s'?", q,
                            expected, sug);
        return 0;
}

static int sched_expr(struct ctx *c, const struct node *v, const char *kp, const char *expected,
                      struct tf_schedule_expr *e) {
        e->pos = v->pos;
        return get_string(c, v, kp, expected, true, &e->expr);
}

static int schedule_field(struct ctx *c, const char *key, const struct node *k, const struct node *v,
                          const char *kp, void *ud) {
        static const char *const overlaps[] = {"skip", "queue", "replace", "allow"};
        static const char cal[] = "a calendar expression (e.g. 'Mon..Fri 09:00')";
        struct tf_schedule *sc = &c->s->schedule;
        if (streq(key, "calendar")) {
                if (v->type == NODE_SEQ) {
                        if (v->n_items == 0)
                                return fail(c, v->pos, kp, "empty list; expected %s or a list of them", cal);
                        sc->calendar = tf_malloc0(v->n_items * sizeof(struct tf_schedule_expr));
                        sc->n_calendar = v->n_items;
                        for (size_t i = 0; i < v->n_items; i++) {
                                _cleanup_free_ char *ikp = kp_index(kp, i);
                                int r = sched_expr(c, v->items[i], ikp, cal, &sc->calendar[i]);
                                if (r < 0)
                                        return r;
                        }
                        return 0;
                }
                sc->calendar = tf_malloc0(sizeof(struct tf_schedule_expr));
                sc->n_calendar = 1;
                return sched_expr(c, v, kp,
                                  "a calendar expression or a list of them (e.g. 'Mon..Fri 09:00')",
                                  &sc->calendar[0]);
        }
        if (streq(key, "cron"))
                return sched_expr(c, v, kp, "a cron expression (e.g. '0 * * * *')", &sc->cron);
        if (streq(key, "every"))
                return get_duration(c, v, kp, 0, &sc->every_usec);
        if (streq(key, "persistent"))
                return get_bool(c, v, kp, &sc->persistent);
        if (streq(key, "randomized_delay"))
                return get_duration(c, v, kp, DUR_ZERO, &sc->randomized_delay_usec);
        int o;
        int r = get_enum(c, v, kp, "an overlap policy", overlaps, ELEMENTSOF(overlaps), &o);
        if (r < 0)
                return r;
        sc->overlap = (enum tf_overlap)o;
        return 0;
}

/* ---- sandbox, mounts ---------------------------------------------------------------------------------- */

static const char *const capabilities[] = {
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
};

int tf_spec_capability_number(const char *name) {
        for (size_t i = 0; name && i < ELEMENTSOF(capabilities); i++)
                if (streq(name, capabilities[i]))
                        return (int)i;
        return -EINVAL;
}

static int parse_caps(struct ctx *c, const struct node *v, const char *kp, char ***ret) {
        static const char expected[] = "a capability name like NET_ADMIN or SYS_PTRACE, or ALL";
        int r = expect_list(c, v, kp, "a list of capability names (e.g. [ALL])");
        if (r < 0)
                return r;
        tf_strv_free(*ret);
        *ret = tf_malloc0((v->n_items + 1) * sizeof(char *));
        for (size_t i = 0; i < v->n_items; i++) {
                _cleanup_free_ char *ikp = kp_index(kp, i);
                const char *t = NULL;
                r = get_scalar(c, v->items[i], ikp, expected, &t);
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
                _cleanup_free_ char *q = quoted(v->items[i]);
                const char *s = suggest(up, capabilities, ELEMENTSOF(capabilities));
                if (s)
                        return fail(c, v->items[i]->pos, ikp,
                                    "%s is not a capability; expected %s; did you mean '%s'?", q, expected,
                                    s);
                return fail(c, v->items[i]->pos, ikp, "%s is not a capability; expected %s", q, expected);
        }
        return 0;
}

static int parse_seccomp(struct ctx *c, const struct node *v, const char *kp) {
        static const char *const modes[] = {"default", "unconfined"};
        static const char expected[] =
                "default, unconfined or a path to a JSON profile (e.g. ./seccomp.json)";
        struct tf_sandbox *sb = &c->s->sandbox;
        const char *t = NULL;
        int r = get_scalar(c, v, kp, expected, &t);
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
                sb->seccomp_profile = path_resolve(c->s->dir, t);
                return 0;
        }
        _cleanup_free_ char *q = quoted(v);
        const char *s = suggest(t, modes, ELEMENTSOF(modes));
        if (s)
                return fail(c, v->pos, kp, "%s is not a seccomp mode; expected %s; did you mean '%s'?", q,
                            expected, s);
        return fail(c, v->pos, kp, "%s is not a seccomp mode; expected %s", q, expected);
}

static int parse_network(struct ctx *c, const struct node *v, const char *kp) {
        static const char *const modes[] = {"none", "host", "bridge"};
        static const char expected[] = "none, host, bridge or a network name";
        struct tf_sandbox *sb = &c->s->sandbox;
        const char *t = NULL;
        int r = get_scalar(c, v, kp, expected, &t);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(modes); i++) {
                if (streq(t, modes[i])) {
                        sb->network = (enum tf_network_mode)(TF_NETWORK_NONE + i);
                        return 0;
                }
                /* "None" or "HOST" is a typo far more often than a network's name. */
                if (strcasecmp(t, modes[i]) == 0) {
                        _cleanup_free_ char *q = quoted(v);
                        return fail(c, v->pos, kp,
                                    "%s is not a network mode; expected %s; did you mean '%s'?", q, expected,
                                    modes[i]);
                }
        }
        bool ok = strlen(t) <= 128 && isalnum((unsigned char)t[0]);
        for (const char *p = t; ok && *p; p++)
                ok = isalnum((unsigned char)*p) || strchr("_.-", *p);
        if (!ok) {
                _cleanup_free_ char *q = quoted(v);
                return fail(c, v->pos, kp,
                            "%s is not a network mode or name; expected %s (letters, digits, '_', '.', '-')",
                            q, expected);
        }
        sb->network = TF_NETWORK_NAMED;
        free(sb->network_name);
        sb->network_name = tf_strdup(t);
        return 0;
}

static int sandbox_field(struct ctx *c, const char *key, const struct node *k, const struct node *v,
                         const char *kp, void *ud) {
        struct tf_sandbox *sb = &c->s->sandbox;
        if (streq(key, "seccomp")) {
                sb->pos_seccomp = k->pos;
                return parse_seccomp(c, v, kp);
        }
        if (streq(key, "no_new_privileges"))
                return get_bool(c, v, kp, &sb->no_new_privileges);
        if (streq(key, "cap_drop"))
                return parse_caps(c, v, kp, &sb->cap_drop);
        if (streq(key, "cap_add"))
                return parse_caps(c, v, kp, &sb->cap_add);
        if (streq(key, "read_only_root"))
                return get_bool(c, v, kp, &sb->read_only_root);
        if (streq(key, "network")) {
                sb->pos_network = k->pos;
                return parse_network(c, v, kp);
        }
        if (streq(key, "pid")) {
                static const char *const modes[] = {"private", "host"};
                int m;
                sb->pos_pid = k->pos;
                int r = get_enum(c, v, kp, "a pid namespace mode", modes, ELEMENTSOF(modes), &m);
                if (r < 0)
                        return r;
                sb->pid = (enum tf_pid_mode)(TF_PID_PRIVATE + m);
                return 0;
        }
        return get_bool(c, v, kp, &sb->private_tmp);
}

static int mount_field(struct ctx *c, const char *key, const struct node *k, const struct node *v,
                       const char *kp, void *ud) {
        struct tf_mount *m = ud;
        if (streq(key, "source")) {
                _cleanup_free_ char *src = NULL;
                int r = get_string(c, v, kp, "a path on the host (relative to the spec's directory)", true,
                                   &src);
                if (r < 0)
                        return r;
                m->source = path_resolve(c->s->dir, src);
                return 0;
        }
        if (streq(key, "target")) {
                int r = get_string(c, v, kp, "an absolute path (e.g. /data)", true, &m->target);
                if (r < 0)
                        return r;
                if (m->target[0] != '/') {
                        _cleanup_free_ char *q = quoted(v);
                        return fail(c, v->pos, kp, "%s is relative; expected an absolute path (e.g. /data)",
                                    q);
                }
                char *n = path_normalize(m->target);
                free(m->target);
                m->target = n;
                return 0;
        }
        return get_bool(c, v, kp, &m->read_only);
}

static int parse_mounts(struct ctx *c, const struct node *v, const char *kp) {
        struct tf_spec *s = c->s;
        int r = expect_list(c, v, kp, "a list of mappings (e.g. [{source: ./data, target: /data}])");
        if (r < 0)
                return r;
        s->mounts = tf_malloc0(v->n_items * sizeof(struct tf_mount));
        s->n_mounts = v->n_items;
        for (size_t i = 0; i < v->n_items; i++) {
                struct tf_mount *m = &s->mounts[i];
                const struct node *e = v->items[i];
                _cleanup_free_ char *ikp = kp_index(kp, i);
                m->pos = e->pos;
                r = expect_map(c, e, ikp, "{source: ./data, target: /data}");
                if (r < 0)
                        return r;
                r = walk_map(c, e, ikp, KEYS("source", "target", "read_only"), mount_field, m);
                if (r < 0)
                        return r;
                if (!m->source) {
                        _cleanup_free_ char *skp = kp_join(ikp, "source");
                        return fail(c, e->pos, skp,
                                    "missing; expected a path on the host (relative to the spec's "
                                    "directory)");
                }
                if (!m->target) {
                        _cleanup_free_ char *tkp = kp_join(ikp, "target");
                        return fail(c, e->pos, tkp, "missing; expected an absolute path (e.g. /data)");
                }
        }
        return 0;
}

/* ---- top level ---------------------------------------------------------------------------------------- */

static const char *const top_keys[] = {
        "name", "description", "command", "image", "backend", "working_dir", "env",     "env_file",
        "user", "limits",      "timeout", "stop",  "restart", "schedule",    "sandbox", "mounts"};

static int top_field(struct ctx *c, const char *key, const struct node *k, const struct node *v,
                     const char *kp, void *ud) {
        static const char *const backends[] = {"auto", "native", "docker"};
        struct tf_spec *s = c->s;
        int r;

        if (streq(key, "name"))
                return parse_name(c, v, kp);
        if (streq(key, "description"))
                return get_string(c, v, kp, "a string", false, &s->description);
        if (streq(key, "command")) {
                s->pos_command = k->pos;
                return parse_command(c, v, kp);
        }
        if (streq(key, "image")) {
                s->pos_image = k->pos;
                r = get_string(c, v, kp, "an image reference (e.g. debian:12)", true, &s->image);
                if (r < 0)
                        return r;
                if (s->image[strcspn(s->image, " \t\n\r\v\f")] || s->image[0] == '-') {
                        _cleanup_free_ char *q = quoted(v);
                        return fail(c, v->pos, kp,
                                    "%s is not an image reference; expected e.g. debian:12 or "
                                    "registry.example.com/app:1.0",
                                    q);
                }
                return 0;
        }
        if (streq(key, "backend")) {
                int b;
                s->pos_backend = k->pos;
                c->pos_backend_value = v->pos;
                c->have_backend = true;
                r = get_enum(c, v, kp, "a backend", backends, ELEMENTSOF(backends), &b);
                if (r < 0)
                        return r;
                s->backend = (enum tf_backend)b;
                return 0;
        }
        if (streq(key, "working_dir")) {
                s->pos_working_dir = k->pos;
                c->pos_working_dir_value = v->pos;
                r = get_string(c, v, kp, "an absolute path (e.g. /srv/app)", true, &s->working_dir);
                if (r < 0)
                        return r;
                if (s->working_dir[0] != '/') {
                        _cleanup_free_ char *q = quoted(v);
                        return fail(c, v->pos, kp,
                                    "%s is relative; expected an absolute path (e.g. /srv/app)", q);
                }
                return 0;
        }
        if (streq(key, "env"))
                return parse_env(c, v, kp);
        if (streq(key, "env_file")) {
                c->pos_env_file = k->pos;
                return parse_env_file(c, v, kp);
        }
        if (streq(key, "user")) {
                s->pos_user = k->pos;
                return parse_user(c, v, kp);
        }
        if (streq(key, "limits")) {
                r = expect_map(c, v, kp, "{memory: 512M, cpus: 1}");
                if (r < 0)
                        return r;
                return walk_map(c, v, kp, limits_keys, ELEMENTSOF(limits_keys), limits_field, NULL);
        }
        if (streq(key, "timeout")) {
                r = get_duration(c, v, kp, DUR_INFINITY, &s->timeout_usec);
                if (r < 0)
                        return r;
                if (s->timeout_usec == TF_USEC_INFINITY)
                        s->timeout_usec = TF_UNSET;
                return 0;
        }
        if (streq(key, "stop")) {
                r = expect_map(c, v, kp, "{signal: SIGTERM, grace: 10s}");
                if (r < 0)
                        return r;
                return walk_map(c, v, kp, stop_keys, ELEMENTSOF(stop_keys), stop_field, NULL);
        }
        if (streq(key, "restart")) {
                r = restart_scalar(c, v, kp);
                if (r < 0)
                        return r;
                r = expect_map(c, v, kp, "{policy: on-failure, max_retries: 3}");
                if (r < 0)
                        return r;
                return walk_map(c, v, kp, restart_keys, ELEMENTSOF(restart_keys), restart_field, NULL);
        }
        if (streq(key, "schedule")) {
                s->schedule.present = true;
                s->schedule.pos = k->pos;
                r = expect_map(c, v, kp, "{every: 30m}");
                if (r < 0)
                        return r;
                r = walk_map(c, v, kp, schedule_keys, ELEMENTSOF(schedule_keys), schedule_field, NULL);
                if (r < 0)
                        return r;
                if (s->schedule.n_calendar == 0 && !s->schedule.cron.expr &&
                    s->schedule.every_usec == TF_UNSET)
                        return fail(c, v->pos, kp,
                                    "no trigger; expected at least one of calendar, cron or every");
                return 0;
        }
        if (streq(key, "sandbox")) {
                s->sandbox_present = true;
                s->pos_sandbox = k->pos;
                r = expect_map(c, v, kp, "{network: none, cap_drop: [ALL]}");
                if (r < 0)
                        return r;
                return walk_map(c, v, kp, sandbox_keys, ELEMENTSOF(sandbox_keys), sandbox_field, NULL);
        }
        s->pos_mounts = k->pos;
        return parse_mounts(c, v, kp);
}

static struct tf_spec *spec_new(void) {
        struct tf_spec *s = tf_malloc0(sizeof(*s));
        s->backend = TF_BACKEND_AUTO;
        s->uid = (uid_t)-1;
        s->gid = (gid_t)-1;
        struct tf_limits *l = &s->limits;
        l->cpu_quota_usec = l->cpu_period_usec = l->cpu_weight = l->memory = l->memory_high =
                l->memory_swap = l->pids = l->io_weight = l->nofile = TF_UNSET;
        s->timeout_usec = TF_UNSET;
        s->stop_signal = SIGTERM;
        s->stop_grace_usec = 10 * TF_USEC_PER_SEC;
        s->restart.policy = TF_RESTART_NO;
        s->restart.max_retries = TF_UNSET;
        s->restart.backoff_initial_usec = TF_USEC_PER_SEC;
        s->restart.backoff_max_usec = 5 * 60 * TF_USEC_PER_SEC;
        s->restart.jitter = true;
        s->schedule.every_usec = TF_UNSET;
        s->schedule.overlap = TF_OVERLAP_SKIP;
        s->sandbox.seccomp = TF_SECCOMP_DEFAULT;
        s->sandbox.no_new_privileges = true;
        s->sandbox.network = TF_NETWORK_UNSET;
        return s;
}

/* Natively, a working_dir strictly under /tmp does not exist in the empty /tmp that private_tmp gives the
 * service, unless a mount's target holds it (mount targets under a private /tmp are created in it), and
 * the chdir fails at run time. The docker engine creates a missing working directory (in the tmpfs). */
static int check_working_dir(struct ctx *c) {
        struct tf_spec *s = c->s;
        if (!s->working_dir || !s->sandbox.private_tmp || s->resolved_backend != TF_BACKEND_NATIVE)
                return 0;
        _cleanup_free_ char *wd = path_normalize(s->working_dir);
        if (!tf_startswith(wd, "/tmp/"))
                return 0;
        for (size_t i = 0; i < s->n_mounts; i++) {
                const char *t = s->mounts[i].target;
                size_t n = strlen(t);
                if (strncmp(wd, t, n) == 0 && (wd[n] == 0 || wd[n] == '/' || streq(t, "/")))
                        return 0;
        }
        _cleanup_free_ char *q = quote_text(s->working_dir);
        return fail(c, c->pos_working_dir_value, "working_dir",
                    "%s is under /tmp, and sandbox.private_tmp gives the service an empty /tmp of its own "
                    "(the native backend does not create it); "
                    "expected a working_dir outside /tmp, a mount whose target holds it (e.g. mounts: "
                    "[{source: ./work, target: %s}]) or private_tmp: false",
                    q, wd);
}

/* Checks that need the whole document. */
static int finish(struct ctx *c) {
        struct tf_spec *s = c->s;
        char a[64], b[64];

        if (!s->name) {
                int r = default_name(c);
                if (r < 0)
                        return r;
        }
        if (!s->argv && !s->image)
                return fail(
                        c, c->root_pos, "command",
                        "missing; expected a command to run (e.g. command: [python3, app.py]) or an image:");
        if (s->backend == TF_BACKEND_NATIVE && s->image)
                return fail(
                        c, c->pos_backend_value, "backend",
                        "native cannot run an image (an image needs the docker backend); expected docker or "
                        "auto, or no image: key");
        if (s->backend == TF_BACKEND_DOCKER && !s->image)
                return fail(c, c->pos_backend_value, "backend",
                            "docker needs an image; expected an image: key (e.g. image: debian:12)");
        s->resolved_backend = s->backend != TF_BACKEND_AUTO ? s->backend
                              : s->image                    ? TF_BACKEND_DOCKER
                                                            : TF_BACKEND_NATIVE;
        int r = check_working_dir(c);
        if (r < 0)
                return r;
        if (c->have_max_retries && s->restart.policy == TF_RESTART_NO)
                return fail(c, c->pos_max_retries, "restart.max_retries",
                            "has no effect with policy no; expected policy: on-failure or always");
        if (s->restart.backoff_initial_usec > s->restart.backoff_max_usec)
                return fail(c, c->pos_backoff_initial, "restart.backoff.initial",
                            "%s is longer than backoff.max (%s); expected initial <= max",
                            tf_format_duration(a, sizeof(a), s->restart.backoff_initial_usec),
                            tf_format_duration(b, sizeof(b), s->restart.backoff_max_usec));

        /* env_file entries first, env: overriding them by name. */
        char **env = TAKE_PTR(c->env_from_files);
        for (size_t i = 0; c->env_inline && c->env_inline[i]; i++)
                env_set(&env, TAKE_PTR(c->env_inline[i]));
        s->env = env ? env : tf_malloc0(sizeof(char *));
        if (!s->env_files)
                s->env_files = tf_malloc0(sizeof(char *));
        if (!s->sandbox.cap_drop)
                s->sandbox.cap_drop = tf_malloc0(sizeof(char *));
        if (!s->sandbox.cap_add)
                s->sandbox.cap_add = tf_malloc0(sizeof(char *));
        return 0;
}

static int load(struct ctx *c, const char *buf, size_t len) {
        _cleanup_node_ struct node *root = NULL;
        int r = build_tree(c, buf, len, &root);
        if (r < 0)
                return r;
        if (!root || is_null(root))
                return fail(c, (struct tf_pos){1, 1}, NULL,
                            "the spec is empty; expected a mapping of keys (e.g. command: [echo, hello])");
        if (root->type != NODE_MAP) {
                _cleanup_free_ char *q = root->type == NODE_SCALAR ? quoted(root) : NULL;
                return fail(c, root->pos, NULL,
                            "the document is %s; expected a mapping of keys (e.g. command: [echo, "
                            "hello])",
                            root->type == NODE_SEQ ? "a list" : q);
        }
        c->root_pos = root->pos;
        r = walk_map(c, root, NULL, top_keys, ELEMENTSOF(top_keys), top_field, NULL);
        if (r < 0)
                return r;
        return finish(c);
}

int tf_spec_load_buffer(const char *path, const char *buf, size_t len, char *const *environ_in,
                        struct tf_spec **ret, tf_error **err) {
        _cleanup_spec_ struct tf_spec *s = spec_new();
        struct ctx c = {
                .path = path,
                .environ_in = environ_in ? environ_in : environ,
                .s = s,
                .err = err,
        };

        if (len > SPEC_MAX_SIZE)
                return fail(&c, (struct tf_pos){1, 1}, NULL,
                            "the file is larger than 1 MiB; expected a smaller spec");
        s->path = tf_strdup(path);
        int r = spec_dir(path, &s->dir, err);
        if (r < 0)
                return r;
        r = load(&c, buf, len);
        tf_strv_free(c.env_inline);
        tf_strv_free(c.env_from_files);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

int tf_spec_load(const char *path, char *const *environ_in, struct tf_spec **ret, tf_error **err) {
        _cleanup_free_ char *buf = NULL;
        size_t len;
        bool opened;
        int r = read_file_bounded(path, SPEC_MAX_SIZE, &buf, &len, &opened);
        if (r == -EFBIG)
                return tf_error_set(err, EINVAL,
                                    "%s:1:1: the file is larger than 1 MiB; expected a smaller spec", path);
        if (r == -EISDIR)
                return tf_error_set(err, r, "%s: is a directory, expected a spec file", path);
        if (r < 0)
                return tf_error_setc(err, r, "%s: %s", path, opened ? "cannot read" : "cannot open");
        return tf_spec_load_buffer(path, buf, len, environ_in, ret, err);
}

struct tf_spec *tf_spec_free(struct tf_spec *s) {
        if (!s)
                return NULL;
        free(s->path);
        free(s->dir);
        free(s->name);
        free(s->description);
        tf_strv_free(s->argv);
        free(s->image);
        free(s->working_dir);
        tf_strv_free(s->env);
        tf_strv_free(s->env_files);
        free(s->user);
        free(s->limits.cpuset);
        for (size_t i = 0; i < s->limits.n_io; i++)
                free(s->limits.io[i].device);
        free(s->limits.io);
        for (size_t i = 0; i < s->schedule.n_calendar; i++)
                free(s->schedule.calendar[i].expr);
        free(s->schedule.calendar);
        free(s->schedule.cron.expr);
        free(s->sandbox.seccomp_profile);
        tf_strv_free(s->sandbox.cap_drop);
        tf_strv_free(s->sandbox.cap_add);
        free(s->sandbox.network_name);
        for (size_t i = 0; i < s->n_mounts; i++) {
                free(s->mounts[i].source);
                free(s->mounts[i].target);
        }
        free(s->mounts);
        free(s);
        return NULL;
}

char *tf_spec_where(const struct tf_spec *s, struct tf_pos pos) {
        const char *path = s && s->path ? s->path : "<spec>";
        if (pos.line == 0)
                return tf_strdup(path);
        return tf_asprintf("%s:%u:%u", path, pos.line, pos.column);
}

const char *tf_backend_name(enum tf_backend b) {
        switch (b) {
        case TF_BACKEND_AUTO:
                return "auto";
        case TF_BACKEND_NATIVE:
                return "native";
        case TF_BACKEND_DOCKER:
                return "docker";
        }
        return NULL;
}

const char *tf_restart_policy_name(enum tf_restart_policy p) {
        switch (p) {
        case TF_RESTART_NO:
                return "no";
        case TF_RESTART_ON_FAILURE:
                return "on-failure";
        case TF_RESTART_ALWAYS:
                return "always";
        }
        return NULL;
}

const char *tf_overlap_name(enum tf_overlap o) {
        switch (o) {
        case TF_OVERLAP_SKIP:
                return "skip";
        case TF_OVERLAP_QUEUE:
                return "queue";
        case TF_OVERLAP_REPLACE:
                return "replace";
        case TF_OVERLAP_ALLOW:
                return "allow";
        }
        return NULL;
}

const char *tf_seccomp_mode_name(enum tf_seccomp_mode m) {
        switch (m) {
        case TF_SECCOMP_DEFAULT:
                return "default";
        case TF_SECCOMP_UNCONFINED:
                return "unconfined";
        case TF_SECCOMP_PROFILE:
                return "profile";
        }
        return NULL;
}

const char *tf_pid_mode_name(enum tf_pid_mode m) {
        switch (m) {
        case TF_PID_UNSET:
                return "unset";
        case TF_PID_PRIVATE:
                return "private";
        case TF_PID_HOST:
                return "host";
        }
        return "?";
}

const char *tf_network_mode_name(enum tf_network_mode m) {
        switch (m) {
        case TF_NETWORK_UNSET:
                return "unset";
        case TF_NETWORK_NONE:
                return "none";
        case TF_NETWORK_HOST:
                return "host";
        case TF_NETWORK_BRIDGE:
                return "bridge";
        case TF_NETWORK_NAMED:
                return "named";
        }
        return NULL;
}
