/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Shared by the spec/ sources; not part of the public API (spec/spec.h is). The rooms:
 *   yaml.c    the YAML document read into a node tree with positions, and its document-level refusals
 *   value.c   messages ("FILE:LINE:COL: KEYPATH: ..."), suggestions, typed scalars (strings, booleans,
 *             numbers, sizes, durations, enums) and paths
 *   env.c     env: with ${VAR} interpolation, env_file:
 *   schema.c  the key tables, one entry per key with its parser, and the whole-document checks
 *   spec.c    load, free, where, enum names
 * The reference of the format is the comment at the top of spec.c (and docs/spec.md).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "base/cleanup.h"
#include "spec/spec.h"

#define SPEC_MAX_SIZE ((size_t)1024 * 1024)
#define SPEC_MAX_DEPTH 16
#define SPEC_MAX_ITEMS 1024
#define SPEC_MIN_MEMORY ((uint64_t)1024 * 1024)
#define SPEC_MAX_NOFILE ((uint64_t)1 << 30)
#define SPEC_MAX_CPUS 10000
/* `memory: N` with N at most this is taken for a forgotten M (N megabytes, up to 64G). */
#define SPEC_MAX_FORGOTTEN_M 65536

/* ---- yaml.c: the node tree ---------------------------------------------------------------------------- */

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

struct node *spec_node_free(struct node *n);
static inline void spec_node_freep(struct node **n) {
        spec_node_free(*n);
}
#define _cleanup_node_ _cleanup_(spec_node_freep)

/* `key:`, `key: ~` and `key: null` (unquoted): YAML's null. */
bool spec_is_null(const struct node *n);

struct ctx;

/* Reads buf (one YAML document) into *ret (NULL for an empty stream). Anchors, aliases, tags, a second
 * document, NUL characters, too deep or too long collections and non-scalar keys are refused here. */
int spec_build_tree(struct ctx *c, const char *buf, size_t len, struct node **ret);

/* ---- the load's context ------------------------------------------------------------------------------- */

struct ctx {
        const char *path;
        char *const *environ_in;
        struct tf_spec *s;
        tf_error **err;
        struct tf_pos root_pos;
        char **env_inline;     /* from env:, interpolated */
        char **env_from_files; /* from env_file:, one entry per name */
        struct tf_pos pos_backend_value, pos_env_file, pos_working_dir_value, pos_sandbox_value;
        bool have_backend, have_max_retries;
        struct tf_pos pos_max_retries, pos_backoff_initial;
        bool have_backoff_initial, have_backoff_max;
        struct tf_pos pos_restart;
        bool have_stop;

        /* A workflow: the top level's steps: and handlers: values, read in finish (after every other key,
         * whatever the order of the document). */
        const struct node *steps_node, *handlers_node, *handler_nodes[3];
        struct tf_pos handler_key_pos[3];
        struct ctx *subs; /* one per step, then one per handler */
        size_t n_subs;

        /* A step's own context (parsed with the same key parsers as the top level, into its own spec). */
        struct ctx *top; /* NULL at the top level */
        struct tf_step *step;
        char *kp_prefix; /* "steps[2]", "handlers.on_failure"; NULL at the top level */
        const struct node *step_map, *deps_node;
        bool prescan;         /* the first pass over a step: only name, depends_on and output are read */
        char **outputs_avail; /* outputs of the steps this step depends on, transitively (NULL-terminated) */
        char **ref_env_names; /* parallel to step->refs: the env entry of a TF_REF_ENV reference */
};

/* ---- value.c: messages -------------------------------------------------------------------------------- */

/* Sets *c->err to "FILE:LINE:COL: KEYPATH: what" (KEYPATH left out when kp is NULL or empty), on one line;
 * returns -EINVAL. */
int spec_fail(struct ctx *c, struct tf_pos pos, const char *kp, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* A value as it appears in a message: quoted, one line, and short. Caller frees. */
char *spec_quote_text(const char *t);
char *spec_quoted(const struct node *n);
/* "no value", "got a mapping", "got a list" or "got 'x'"; expected ... */
int spec_wrong_type(struct ctx *c, const struct node *n, const char *kp, const char *expected);
char *spec_kp_join(const char *parent, const char *key);
char *spec_kp_index(const char *parent, size_t i);
/* The candidate closest to `word` (case-insensitively), if close enough to be a likely typo. */
const char *spec_suggest(const char *word, const char *const *cands, size_t n);
/* "a, b<last_sep>c" */
char *spec_join_alternatives(const char *const *names, size_t n, const char *last_sep);

/* ---- value.c: typed scalars --------------------------------------------------------------------------- */

int spec_expect_map(struct ctx *c, const struct node *n, const char *kp, const char *example);
int spec_expect_list(struct ctx *c, const struct node *n, const char *kp, const char *expected);
int spec_get_scalar(struct ctx *c, const struct node *n, const char *kp, const char *expected,
                    const char **ret);
bool spec_blank(const char *s);
int spec_get_string(struct ctx *c, const struct node *n, const char *kp, const char *expected, bool nonempty,
                    char **ret);
int spec_get_bool(struct ctx *c, const struct node *n, const char *kp, bool *ret);
/* A whole number in [min, max]; `expected` describes the range for messages. */
int spec_get_uint(struct ctx *c, const struct node *n, const char *kp, uint64_t min, uint64_t max,
                  const char *expected, uint64_t *ret);
/* max or infinity */
bool spec_is_max_word(const char *t);
/* A number of CPUs (0.01..10000) as a quota over TF_CPU_PERIOD_USEC, as limits.cpus. */
int spec_get_cpus(struct ctx *c, const struct node *v, const char *kp, uint64_t *ret_quota);
/* A size in bytes of at least `min` (1, or SPEC_MIN_MEMORY); with allow_max also max/infinity
 * (TF_LIMIT_MAX). */
int spec_get_size(struct ctx *c, const struct node *n, const char *kp, bool allow_max, uint64_t min,
                  uint64_t *ret);
enum {
        DUR_ZERO = 1 << 0,     /* 0 is allowed */
        DUR_INFINITY = 1 << 1, /* infinity is allowed (returned as TF_USEC_INFINITY) */
};
int spec_get_duration(struct ctx *c, const struct node *n, const char *kp, unsigned flags, uint64_t *ret);
/* One of names; *ret its index. `what` names the kind for messages ("a backend"). */
int spec_get_enum(struct ctx *c, const struct node *n, const char *kp, const char *what,
                  const char *const *names, size_t n_names, int *ret);

/* Lexical normalisation of an absolute path: "//", "." and ".." folded, no trailing slash. */
char *spec_path_normalize(const char *p);
/* p against dir (absolute) unless p is absolute, normalised. */
char *spec_path_resolve(const char *dir, const char *p);

/* ---- env.c -------------------------------------------------------------------------------------------- */

int spec_parse_env(struct ctx *c, const struct node *v, const char *kp);
int spec_parse_env_file(struct ctx *c, const struct node *v, const char *kp);
/* [A-Za-z_][A-Za-z0-9_]* */
bool spec_var_name_valid(const char *s, size_t n);
/* The value of NAME (n bytes) in the load's environment, or NULL. */
const char *spec_env_lookup(struct ctx *c, const char *name, size_t n);
/* In a step's command and working_dir: ${NAME} and ${NAME:-default} (a reference when NAME is an output of
 * a step it depends on, else replaced from the environment), $${ for a literal ${, every other $ literal.
 * `in` is the text (an argv element after splitting), v the node for positions. */
int spec_step_template(struct ctx *c, const struct node *v, const char *kp, const char *in,
                       enum tf_step_ref_field field, size_t index, char **ret);
/* Whether `name` (n bytes) is an output a step may use, and the message when it is neither that nor set in
 * the environment: 1 output, 0 not an output (*ret_value its environment value, NULL when unset), <0 when
 * !may_be_unset and it is neither. `what` names it in the message ("${X}", "'X'"). */
int spec_step_var(struct ctx *c, const struct node *v, const char *kp, const char *name, size_t n,
                  bool may_be_unset, const char *what, const char **ret_value);

/* ---- schema.c: workflows ------------------------------------------------------------------------------ */

/* A cycle among steps[0..n) along deps, if any: *ret gets its steps in run order, starting at the one
 * earliest in the document, without repeating it (a -> b -> c -> a gives a, b, c); caller frees. The
 * first cycle a depth-first walk in document order meets. */
bool spec_steps_cycle(const struct tf_step *steps, size_t n, size_t **ret, size_t *ret_len);
/* Sets NAME=VALUE (kv, taken) in *v, replacing an entry of the same name in place. */
void spec_env_set(char ***v, char *kv);

/* ---- schema.c ----------------------------------------------------------------------------------------- */

/* Checks the top-level mapping root against the schema and fills c->s, then the whole-document rules. */
/* notify: (a spec's, or a default of the manager's settings read with the same keys): parses the mapping v of
 * key into *n (its earlier contents freed first), reads the webhook's secret file (a relative path against
 * dir, absolute), and checks what notify: alone decides. That missed alerts need a schedule is the
 * caller's to check (a default applies them to scheduled services only). */
/* limits.io (a list of {device, read_bps, write_bps, read_iops, write_iops}) into l->io and l->n_io; also
 * the settings' budget.io, so that both read the same syntax with the same messages. */
int spec_parse_io(struct ctx *c, const struct node *v, const char *kp, struct tf_limits *l);
int spec_parse_notify(struct ctx *c, const char *dir, const struct node *key, const struct node *v,
                      const char *kp, struct tf_notify *n);
int spec_apply_schema(struct ctx *c, const struct node *root);
/* Frees what the load's context holds (not the spec). */
void spec_ctx_done(struct ctx *c);

/* ---- spec.c ------------------------------------------------------------------------------------------- */

/* Reads a whole file of at most `max` bytes. -EFBIG when larger; *ret_opened tells open() failures apart. */
int spec_read_file(const char *path, size_t max, char **ret, size_t *ret_len, bool *ret_opened);
/* A new spec with every default set (nothing allocated but the struct). */
struct tf_spec *spec_new(void);
void spec_step_done(struct tf_step *st);
