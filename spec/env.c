/* SPDX-License-Identifier: MIT */
/*
 * spec/env.c: env: (a mapping, with ${VAR} and ${VAR:-default} interpolated from the environment tfrun was
 * given) and env_file: (files of KEY=VALUE lines, read at load, not interpolated).
 */

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/strutil.h"
#include "spec/spec-internal.h"

/* ---- env ---------------------------------------------------------------------------------------------- */

static bool env_name_valid(const char *s, size_t n) {
        if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
                        return false;
        return true;
}

bool spec_var_name_valid(const char *s, size_t n) {
        return env_name_valid(s, n);
}

static const char *env_lookup(char *const *env, const char *name, size_t n) {
        for (size_t i = 0; env && env[i]; i++)
                if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
                        return env[i] + n + 1;
        return NULL;
}

const char *spec_env_lookup(struct ctx *c, const char *name, size_t n) {
        return env_lookup(c->environ_in, name, n);
}

/* Sets NAME=VALUE in *v, replacing an entry of the same name in place. */
void spec_env_set(char ***v, char *kv) {
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

/* A reference to an output in a step's text: kept as written at b->len, replaced at run time. */
static void add_ref(struct ctx *c, enum tf_step_ref_field field, size_t index, const char *env_name,
                    size_t offset, size_t len, const char *name, size_t n, const char *def, size_t defn) {
        struct tf_step *st = c->step;
        st->refs = tf_realloc(st->refs, (st->n_refs + 1) * sizeof(struct tf_step_ref));
        c->ref_env_names = tf_realloc(c->ref_env_names, (st->n_refs + 1) * sizeof(char *));
        st->refs[st->n_refs] = (struct tf_step_ref){
                .field = field,
                .index = index,
                .offset = offset,
                .len = len,
                .var = tf_strndup(name, n),
                .default_value = def ? tf_strndup(def, defn) : NULL,
        };
        c->ref_env_names[st->n_refs] = env_name ? tf_strdup(env_name) : NULL;
        st->n_refs++;
}

int spec_step_var(struct ctx *c, const struct node *v, const char *kp, const char *name, size_t n,
                  bool may_be_unset, const char *what, const char **ret_value) {
        for (char **o = c->outputs_avail; o && *o; o++)
                if (strlen(*o) == n && strncmp(*o, name, n) == 0)
                        return 1;
        const char *val = env_lookup(c->environ_in, name, n);
        *ret_value = val;
        if (val || may_be_unset)
                return 0;
        _cleanup_free_ char *text =
                what[0] == '$' ? tf_asprintf(", or $${%.*s} for the text", (int)n, name) : tf_strdup("");
        const struct tf_spec *top = c->top ? c->top->s : NULL;
        for (size_t i = 0; top && i < top->n_steps; i++) {
                const struct tf_step *o = &top->steps[i];
                if (o->output && strlen(o->output) == n && strncmp(o->output, name, n) == 0)
                        return spec_fail(
                                c, v->pos, kp,
                                "%s is the output of step '%s', which this step does not depend on; "
                                "expected '%s' in depends_on (or a step that depends on it)%s",
                                what, o->name, o->name, text);
        }
        return spec_fail(c, v->pos, kp,
                         "%s is neither the output of a step this step depends on nor set in the "
                         "environment; expected a step with output: %.*s in depends_on, %.*s set in the "
                         "environment%s",
                         what, (int)n, name, (int)n, name, text);
}

int spec_step_template(struct ctx *c, const struct node *v, const char *kp, const char *in,
                       enum tf_step_ref_field field, size_t index, char **ret) {
        static const char braces[] = "expected ${NAME} or ${NAME:-default}, or $${ for a literal ${";
        struct strbuf b = {0};
        sb_append(&b, "", 0);
        for (size_t i = 0; in[i];) {
                if (in[i] == '$' && in[i + 1] == '$' && in[i + 2] == '{') {
                        sb_append(&b, "${", 2);
                        i += 3;
                        continue;
                }
                if (in[i] != '$' || in[i + 1] != '{') {
                        size_t n = 1 + strcspn(in + i + 1, "$");
                        sb_append(&b, in + i, n);
                        i += n;
                        continue;
                }
                const char *name = in + i + 2;
                size_t n = 0;
                while (isalnum((unsigned char)name[n]) || name[n] == '_')
                        n++;
                const char *after = name + n, *def = NULL, *end;
                size_t defn = 0;
                _cleanup_free_ char *q = spec_quote_text(in);
                if (!env_name_valid(name, n) || (*after != '}' && !tf_startswith(after, ":-"))) {
                        free(b.p);
                        return spec_fail(c, v->pos, kp, "%s has a malformed ${...}; %s", q, braces);
                }
                if (*after == '}')
                        end = after + 1;
                else {
                        def = after + 2;
                        const char *close = strchr(def, '}');
                        if (!close) {
                                free(b.p);
                                return spec_fail(c, v->pos, kp, "%s has an unterminated ${...}; %s", q,
                                                 braces);
                        }
                        defn = (size_t)(close - def);
                        end = close + 1;
                }
                _cleanup_free_ char *what = tf_asprintf("${%.*s}", (int)n, name);
                const char *val = NULL;
                int r = spec_step_var(c, v, kp, name, n, def != NULL, what, &val);
                if (r < 0) {
                        free(b.p);
                        return r;
                }
                size_t len = (size_t)(end - (in + i));
                if (r > 0) {
                        add_ref(c, field, index, NULL, b.len, len, name, n, def, defn);
                        sb_append(&b, in + i, len);
                } else if (val && (*val || !def))
                        sb_append(&b, val, strlen(val));
                else
                        sb_append(&b, def, defn);
                i += len;
        }
        *ret = b.p;
        return 0;
}

static int interpolate(struct ctx *c, const struct node *v, const char *kp, const char *env_name,
                       char **ret) {
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
                        r = spec_fail(c, v->pos, kp,
                                      "$%.*s is not replaced; expected ${%.*s}, or $$%.*s for the text",
                                      (int)n, s + i + 1, (int)n, s + i + 1, (int)n, s + i + 1);
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
                _cleanup_free_ char *q = spec_quoted(v);
                if (!env_name_valid(name, n) || (*after != '}' && !tf_startswith(after, ":-"))) {
                        r = spec_fail(c, v->pos, kp, "%s has a malformed ${...}; %s", q, braces);
                        break;
                }
                const char *val = env_lookup(c->environ_in, name, n);
                if (c->step) {
                        /* A step: ${NAME} may name an output of a step it depends on (kept for run time). */
                        const char *close = *after == '}' ? after : strchr(after, '}');
                        if (!close) {
                                r = spec_fail(c, v->pos, kp, "%s has an unterminated ${...}; %s", q, braces);
                                break;
                        }
                        _cleanup_free_ char *what = tf_asprintf("${%.*s}", (int)n, name);
                        r = spec_step_var(c, v, kp, name, n, *after != '}', what, &val);
                        if (r < 0)
                                break;
                        if (r > 0) {
                                size_t len = (size_t)(close + 1 - (s + i));
                                const char *def = *after == '}' ? NULL : after + 2;
                                add_ref(c, TF_REF_ENV, 0, env_name, b.len, len, name, n, def,
                                        def ? (size_t)(close - def) : 0);
                                sb_append(&b, s + i, len);
                                i += len;
                                r = 0;
                                continue;
                        }
                }
                if (*after == '}') {
                        if (!val) {
                                r = spec_fail(c, v->pos, kp,
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
                        r = spec_fail(c, v->pos, kp, "%s has an unterminated ${...}; %s", q, braces);
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

int spec_parse_env(struct ctx *c, const struct node *v, const char *kp) {
        int r = spec_expect_map(c, v, kp, "{LOG_LEVEL: info}");
        if (r < 0)
                return r;
        for (size_t i = 0; i + 1 < v->n_items; i += 2) {
                const struct node *k = v->items[i], *val = v->items[i + 1];
                _cleanup_free_ char *ikp = spec_kp_join(kp, k->text);
                for (size_t j = 0; j < i; j += 2)
                        if (streq(v->items[j]->text, k->text))
                                return spec_fail(c, k->pos, ikp,
                                                 "duplicate key (first at %u:%u); expected each key once",
                                                 v->items[j]->pos.line, v->items[j]->pos.column);
                if (!env_name_valid(k->text, strlen(k->text))) {
                        _cleanup_free_ char *q = spec_quoted(k);
                        return spec_fail(
                                c, k->pos, ikp,
                                "%s is not a valid variable name; expected letters, digits and '_', not "
                                "starting with a digit",
                                q);
                }
                const char *t = NULL;
                r = spec_get_scalar(c, val, ikp, "a string, number or boolean (write '' for an empty value)",
                                    &t);
                if (r < 0)
                        return r;
                _cleanup_free_ char *x = NULL;
                r = interpolate(c, val, ikp, k->text, &x);
                if (r < 0)
                        return r;
                spec_env_set(&c->env_inline, tf_asprintf("%s=%s", k->text, x));
        }
        return 0;
}

static int read_env_file(struct ctx *c, const struct node *v, const char *kp, const char *abs) {
        _cleanup_free_ char *buf = NULL;
        size_t len;
        _cleanup_free_ char *q = spec_quoted(v);
        bool opened;
        int r = spec_read_file(abs, SPEC_MAX_SIZE, &buf, &len, &opened);
        if (r == -EFBIG)
                return spec_fail(c, v->pos, kp,
                                 "%s is larger than 1 MiB; expected a file of KEY=VALUE lines", q);
        if (r < 0)
                return spec_fail(
                        c, v->pos, kp,
                        "%s cannot be read: %s; expected a file of KEY=VALUE lines (relative to the spec's "
                        "directory)",
                        q, strerror(-r));
        if (strlen(buf) != len)
                return spec_fail(c, v->pos, kp,
                                 "%s contains a NUL byte; expected a text file of KEY=VALUE lines", q);
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
                        _cleanup_free_ char *ql = spec_quote_text(line);
                        return spec_fail(c, v->pos, kp,
                                         "%s line %u: %s is not KEY=VALUE; expected NAME=value lines", q,
                                         lineno, ql);
                }
                char *val = eq + 1;
                size_t vn = strlen(val);
                if (vn >= 2 && (val[0] == '"' || val[0] == '\'') && val[vn - 1] == val[0]) {
                        val[vn - 1] = 0;
                        val++;
                }
                spec_env_set(&c->env_from_files, tf_asprintf("%.*s=%s", (int)(eq - line), line, val));
        }
        return 0;
}

int spec_parse_env_file(struct ctx *c, const struct node *v, const char *kp) {
        static const char expected[] = "a file name or a list of them (e.g. [.env])";
        struct tf_spec *s = c->s;
        if (v->type == NODE_SEQ) {
                for (size_t i = 0; i < v->n_items; i++) {
                        _cleanup_free_ char *ikp = spec_kp_index(kp, i);
                        _cleanup_free_ char *f = NULL;
                        int r = spec_get_string(c, v->items[i], ikp, "a file name", true, &f);
                        if (r < 0)
                                return r;
                        char *abs = spec_path_resolve(s->dir, f);
                        tf_strv_consume(&s->env_files, abs);
                        r = read_env_file(c, v->items[i], ikp, abs);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        _cleanup_free_ char *f = NULL;
        int r = spec_get_string(c, v, kp, expected, true, &f);
        if (r < 0)
                return r;
        char *abs = spec_path_resolve(s->dir, f);
        tf_strv_consume(&s->env_files, abs);
        return read_env_file(c, v, kp, abs);
}
