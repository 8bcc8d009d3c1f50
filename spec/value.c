/* SPDX-License-Identifier: MIT */
/*
 * spec/value.c: messages, suggestions and typed scalars. Every message reads
 * "FILE:LINE:COL: KEYPATH: what is wrong; expected WHAT[; did you mean 'X'?]" on one line.
 */

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/parse.h"
#include "base/strutil.h"
#include "spec/spec-internal.h"

/* A message is one line whatever the input holds: keys, values and file names are user text, and a YAML
 * key may contain a newline. Control characters are written as C escapes. */
static char *one_line(const char *s) {
        char *out = tf_malloc0(strlen(s) * 4 + 1), *p = out;
        for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
                if (*q == '\n')
                        p = stpcpy(p, "\\n");
                else if (*q == '\r')
                        p = stpcpy(p, "\\r");
                else if (*q == '\t')
                        p = stpcpy(p, "\\t");
                else if (*q < 0x20 || *q == 0x7f)
                        p += sprintf(p, "\\x%02x", *q);
                else
                        *p++ = (char)*q;
        }
        *p = 0;
        return out;
}

int spec_fail(struct ctx *c, struct tf_pos pos, const char *kp, const char *fmt, ...) {
        _cleanup_free_ char *what = NULL;
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(&what, fmt, ap);
        va_end(ap);
        if (r < 0)
                tf_oom();
        _cleanup_free_ char *msg =
                kp && *kp ? tf_asprintf("%s:%u:%u: %s: %s", c->path, pos.line, pos.column, kp, what)
                          : tf_asprintf("%s:%u:%u: %s", c->path, pos.line, pos.column, what);
        _cleanup_free_ char *line = one_line(msg);
        return tf_error_set(c->err, EINVAL, "%s", line);
}

/* A value as it appears in a message: quoted, one line, and short. */
char *spec_quote_text(const char *t) {
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

char *spec_quoted(const struct node *n) {
        return spec_quote_text(n->text);
}

int spec_wrong_type(struct ctx *c, const struct node *n, const char *kp, const char *expected) {
        if (spec_is_null(n))
                return spec_fail(c, n->pos, kp, "no value; expected %s", expected);
        if (n->type == NODE_MAP)
                return spec_fail(c, n->pos, kp, "got a mapping; expected %s", expected);
        if (n->type == NODE_SEQ)
                return spec_fail(c, n->pos, kp, "got a list; expected %s", expected);
        _cleanup_free_ char *q = spec_quoted(n);
        return spec_fail(c, n->pos, kp, "got %s; expected %s", q, expected);
}

char *spec_kp_join(const char *parent, const char *key) {
        if (!parent || !*parent)
                return tf_strdup(key);
        return tf_asprintf("%s.%s", parent, key);
}

char *spec_kp_index(const char *parent, size_t i) {
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
const char *spec_suggest(const char *word, const char *const *cands, size_t n) {
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
char *spec_join_alternatives(const char *const *names, size_t n, const char *last_sep) {
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

/* ---- scalar helpers ----------------------------------------------------------------------------------- */

int spec_get_scalar(struct ctx *c, const struct node *n, const char *kp, const char *expected,
                    const char **ret) {
        if (n->type != NODE_SCALAR || spec_is_null(n))
                return spec_wrong_type(c, n, kp, expected);
        *ret = n->text;
        return 0;
}

bool spec_blank(const char *s) {
        return s[strspn(s, " \t\n\r")] == 0;
}

int spec_get_string(struct ctx *c, const struct node *n, const char *kp, const char *expected, bool nonempty,
                    char **ret) {
        const char *t = NULL;
        int r = spec_get_scalar(c, n, kp, expected, &t);
        if (r < 0)
                return r;
        if (nonempty && spec_blank(t))
                return spec_fail(c, n->pos, kp, "empty string; expected %s", expected);
        free(*ret);
        *ret = tf_strdup(t);
        return 0;
}

int spec_get_bool(struct ctx *c, const struct node *n, const char *kp, bool *ret) {
        const char *t = NULL;
        int r = spec_get_scalar(c, n, kp, "true or false", &t);
        if (r < 0)
                return r;
        if (streq(t, "true"))
                *ret = true;
        else if (streq(t, "false"))
                *ret = false;
        else {
                _cleanup_free_ char *q = spec_quoted(n);
                return spec_fail(c, n->pos, kp, "%s is not a boolean; expected true or false", q);
        }
        return 0;
}

/* A whole number in [min, max]; `expected` describes the range for messages. */
int spec_get_uint(struct ctx *c, const struct node *n, const char *kp, uint64_t min, uint64_t max,
                  const char *expected, uint64_t *ret) {
        const char *t = NULL;
        int r = spec_get_scalar(c, n, kp, expected, &t);
        if (r < 0)
                return r;
        uint64_t v;
        r = tf_parse_u64(t, &v);
        if (r == -EINVAL) {
                _cleanup_free_ char *q = spec_quoted(n);
                return spec_fail(c, n->pos, kp, "%s is not a whole number; expected %s", q, expected);
        }
        if (r < 0 || v < min || v > max)
                return spec_fail(c, n->pos, kp, "%s is out of range; expected %s", t, expected);
        *ret = v;
        return 0;
}

bool spec_is_max_word(const char *t) {
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
int spec_get_size(struct ctx *c, const struct node *n, const char *kp, bool allow_max, uint64_t min,
                  uint64_t *ret) {
        const char *t = NULL;
        int r = spec_get_scalar(c, n, kp, SIZE_EXPECTED, &t);
        if (r < 0)
                return r;
        if (allow_max && spec_is_max_word(t)) {
                *ret = TF_LIMIT_MAX;
                return 0;
        }
        uint64_t v;
        r = tf_parse_size(t, &v);
        _cleanup_free_ char *q = spec_quoted(n);
        if (r == -ERANGE || (r == 0 && v >= TF_LIMIT_MAX))
                return spec_fail(c, n->pos, kp, "%s is too large; expected a size below 16E", q);
        if (r < 0) {
                _cleanup_free_ char *sug = size_suggestion(t);
                if (sug)
                        return spec_fail(
                                c, n->pos, kp,
                                "%s is not a size; expected the number and its unit without a space "
                                "(units are binary: 1G = 1024M); did you mean '%s'?",
                                q, sug);
                return spec_fail(c, n->pos, kp, "%s is not a size; expected %s", q, SIZE_EXPECTED);
        }
        if (v < min) {
                if (min == 1)
                        return spec_fail(c, n->pos, kp, "%s is too small; expected more than 0", q);
                assert(min == SPEC_MIN_MEMORY);
                uint64_t bytes;
                if (tf_parse_u64(t, &bytes) < 0)
                        return spec_fail(c, n->pos, kp, "%s is too small; expected at least 1M", q);
                /* `memory: 512` is 512 bytes: almost certainly a forgotten unit, as long as the number
                 * with an M is a plausible limit (up to 64G). A larger bare number was meant as bytes
                 * (1000000: a decimal megabyte), and the nearest limit is the smallest one. */
                if (bytes <= SPEC_MAX_FORGOTTEN_M)
                        return spec_fail(c, n->pos, kp,
                                         "%s bytes is too small; expected at least 1M; did you mean "
                                         "'%sM'?",
                                         t, t);
                return spec_fail(
                        c, n->pos, kp,
                        "%s bytes is too small (a number without a unit is bytes); expected at least 1M "
                        "(1048576 bytes); did you mean "
                        "'1M'?",
                        t);
        }
        *ret = v;
        return 0;
}

static const char DURATION_EXPECTED[] = "e.g. 90s, 1h30m or '1h 30min'";

int spec_get_duration(struct ctx *c, const struct node *n, const char *kp, unsigned flags, uint64_t *ret) {
        const char *t = NULL;
        int r = spec_get_scalar(c, n, kp, "a duration (e.g. 90s, 1h30m or '1h 30min')", &t);
        if (r < 0)
                return r;
        uint64_t v;
        r = tf_parse_duration(t, &v);
        _cleanup_free_ char *q = spec_quoted(n);
        if (r == -ERANGE)
                return spec_fail(c, n->pos, kp, "%s is too long; expected a shorter duration", q);
        if (r < 0)
                return spec_fail(c, n->pos, kp, "%s is not a duration; expected %s", q, DURATION_EXPECTED);
        if (v == TF_USEC_INFINITY && !(flags & DUR_INFINITY))
                return spec_fail(c, n->pos, kp,
                                 "%s is not allowed here; expected a finite duration (e.g. 90s)", q);
        if (v == 0 && !(flags & DUR_ZERO))
                return spec_fail(c, n->pos, kp, "%s is too short; expected a duration above 0 (e.g. 30s)",
                                 q);
        *ret = v;
        return 0;
}

int spec_get_enum(struct ctx *c, const struct node *n, const char *kp, const char *what,
                  const char *const *names, size_t n_names, int *ret) {
        _cleanup_free_ char *alts = spec_join_alternatives(names, n_names, " or ");
        const char *t = NULL;
        int r = spec_get_scalar(c, n, kp, alts, &t);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_names; i++)
                if (streq(t, names[i])) {
                        *ret = (int)i;
                        return 0;
                }
        _cleanup_free_ char *q = spec_quoted(n);
        const char *s = spec_suggest(t, names, n_names);
        if (s)
                return spec_fail(c, n->pos, kp, "%s is not %s; expected %s; did you mean '%s'?", q, what,
                                 alts, s);
        return spec_fail(c, n->pos, kp, "%s is not %s; expected %s", q, what, alts);
}

/* ---- paths -------------------------------------------------------------------------------------------- */

/* Lexical normalisation of an absolute path: "//", "." and ".." folded, no trailing slash. */
char *spec_path_normalize(const char *p) {
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

char *spec_path_resolve(const char *dir, const char *p) {
        if (p[0] == '/')
                return spec_path_normalize(p);
        _cleanup_free_ char *j = tf_asprintf("%s/%s", dir, p);
        return spec_path_normalize(j);
}

int spec_expect_map(struct ctx *c, const struct node *n, const char *kp, const char *example) {
        if (n->type == NODE_MAP)
                return 0;
        _cleanup_free_ char *e = tf_asprintf("a mapping (e.g. %s)", example);
        return spec_wrong_type(c, n, kp, e);
}

int spec_expect_list(struct ctx *c, const struct node *n, const char *kp, const char *expected) {
        if (n->type == NODE_SEQ)
                return 0;
        return spec_wrong_type(c, n, kp, expected);
}

/* cpus: 0.01..10000 as a CFS quota over TF_CPU_PERIOD_USEC (the same rounding as limits.cpus). */
int spec_get_cpus(struct ctx *c, const struct node *v, const char *kp, uint64_t *ret_quota) {
        static const char expected[] = "0.01 to 10000 (a number of CPUs, e.g. 1.5)";
        const char *t = NULL;
        int r = spec_get_scalar(c, v, kp, expected, &t);
        if (r < 0)
                return r;
        const char *p = t + (t[0] == '-' || t[0] == '+');
        size_t ip = strspn(p, "0123456789"), fp = 0;
        if (p[ip] == '.')
                fp = strspn(p + ip + 1, "0123456789");
        bool ok = (ip > 0 || fp > 0) && p[ip + (p[ip] == '.' ? 1 + fp : 0)] == 0 && !(p[ip] == '.' && fp == 0);
        if (!ok) {
                _cleanup_free_ char *q = spec_quoted(v);
                return spec_fail(c, v->pos, kp, "%s is not a number; expected %s", q, expected);
        }
        double d = strtod(t, NULL);
        if (!(d >= 0.01 && d <= SPEC_MAX_CPUS))
                return spec_fail(c, v->pos, kp, "%s is out of range; expected %s", t, expected);
        *ret_quota = (uint64_t)(d * (double)TF_CPU_PERIOD_USEC + 0.5);
        return 0;
}
