/* SPDX-License-Identifier: MIT */
/*
 * spec/workflow.c: what a loaded workflow offers its runner: the steps in run order, and a step's command,
 * env and working_dir with the outputs it uses put in. The steps are read and checked in schema.c.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/strutil.h"
#include "spec/spec-internal.h"

void spec_step_done(struct tf_step *st) {
        if (!st)
                return;
        free(st->name);
        tf_spec_free(st->spec);
        free(st->deps);
        free(st->output);
        for (size_t i = 0; i < st->n_when; i++) {
                struct tf_condition *cd = &st->when[i];
                free(cd->var);
                free(cd->env_value);
                free(cd->value);
                tf_strv_free(cd->argv);
        }
        free(st->when);
        free(st->continue_on.exit_codes);
        for (size_t i = 0; i < st->n_refs; i++) {
                free(st->refs[i].var);
                free(st->refs[i].default_value);
        }
        free(st->refs);
}

/* Kahn's algorithm, taking the earliest ready step in the document each time, so that the order is the
 * document's wherever the graph allows it. */
int tf_spec_steps_order(const struct tf_spec *s, size_t **ret) {
        size_t n = s->n_steps;
        *ret = NULL;
        if (n == 0)
                return 0;
        _cleanup_free_ size_t *waiting = tf_malloc0(n * sizeof(size_t));
        _cleanup_free_ size_t *n_dependants = tf_malloc0((n + 1) * sizeof(size_t));
        _cleanup_free_ bool *done = tf_malloc0(n * sizeof(bool));
        /* The dependants of each step, as one array cut by offsets. */
        size_t total = 0;
        for (size_t i = 0; i < n; i++) {
                waiting[i] = s->steps[i].n_deps;
                for (size_t k = 0; k < s->steps[i].n_deps; k++)
                        n_dependants[s->steps[i].deps[k] + 1]++;
                total += s->steps[i].n_deps;
        }
        for (size_t i = 0; i < n; i++)
                n_dependants[i + 1] += n_dependants[i];
        _cleanup_free_ size_t *dependants = tf_malloc0((total + 1) * sizeof(size_t));
        _cleanup_free_ size_t *fill = tf_malloc0(n * sizeof(size_t));
        for (size_t i = 0; i < n; i++)
                for (size_t k = 0; k < s->steps[i].n_deps; k++) {
                        size_t u = s->steps[i].deps[k];
                        dependants[n_dependants[u] + fill[u]++] = i;
                }
        _cleanup_free_ size_t *order = tf_malloc0(n * sizeof(size_t));
        for (size_t k = 0; k < n; k++) {
                size_t pick = 0;
                while (pick < n && (done[pick] || waiting[pick] > 0))
                        pick++;
                if (pick == n)
                        return -EINVAL;
                done[pick] = true;
                order[k] = pick;
                for (size_t j = n_dependants[pick]; j < n_dependants[pick + 1]; j++)
                        waiting[dependants[j]]--;
        }
        *ret = TAKE_PTR(order);
        return 0;
}

/* text with the references of (field, index) replaced; the references are in increasing offset order. */
static char *expand_one(const struct tf_step *st, enum tf_step_ref_field field, size_t index,
                        const char *text, const char *(*lookup)(const char *var, void *userdata),
                        void *userdata) {
        size_t len = strlen(text), at = 0, n = 0, cap = len + 1;
        char *out = tf_malloc0(cap);
        for (size_t i = 0; i <= st->n_refs; i++) {
                const struct tf_step_ref *ref = i < st->n_refs ? &st->refs[i] : NULL;
                if (ref && (ref->field != field || ref->index != index))
                        continue;
                size_t upto = ref ? ref->offset : len;
                const char *val = NULL;
                if (ref) {
                        val = lookup(ref->var, userdata);
                        if ((!val || !*val) && ref->default_value)
                                val = ref->default_value;
                        if (!val)
                                val = "";
                }
                size_t vn = val ? strlen(val) : 0;
                if (n + (upto - at) + vn + 1 > cap) {
                        cap = (n + (upto - at) + vn + 1) * 2;
                        out = tf_realloc(out, cap);
                }
                memcpy(out + n, text + at, upto - at);
                n += upto - at;
                memcpy(out + n, val ? val : "", vn);
                n += vn;
                at = ref ? ref->offset + ref->len : len;
        }
        out[n] = 0;
        return out;
}

void tf_step_expand(const struct tf_step *st, const char *(*lookup)(const char *var, void *userdata),
                    void *userdata, char ***ret_argv, char ***ret_env, char **ret_working_dir) {
        const struct tf_spec *s = st->spec;
        char **argv = NULL, **env = tf_malloc0((tf_strv_length(s->env) + 1) * sizeof(char *));
        if (s->argv) {
                argv = tf_malloc0((tf_strv_length(s->argv) + 1) * sizeof(char *));
                for (size_t i = 0; s->argv[i]; i++)
                        argv[i] = expand_one(st, TF_REF_ARGV, i, s->argv[i], lookup, userdata);
        }
        for (size_t i = 0; s->env && s->env[i]; i++)
                env[i] = expand_one(st, TF_REF_ENV, i, s->env[i], lookup, userdata);
        *ret_argv = argv;
        *ret_env = env;
        *ret_working_dir = s->working_dir
                                   ? expand_one(st, TF_REF_WORKING_DIR, 0, s->working_dir, lookup, userdata)
                                   : NULL;
}
