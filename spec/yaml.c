/* SPDX-License-Identifier: MIT */
/*
 * spec/yaml.c: a spec's YAML document (libyaml's events API) read into a node tree with 1-based positions.
 * Refused here, before the schema is looked at: anchors, aliases, tags, a second document, NUL characters,
 * nesting deeper than SPEC_MAX_DEPTH, more than SPEC_MAX_ITEMS items or keys, keys that are not scalars,
 * and libyaml's own errors (tabs in indentation found and named by tfrun).
 */

#include <stdlib.h>
#include <string.h>

#include "base/strutil.h"
#include "spec/spec-internal.h"

struct node *spec_node_free(struct node *n) {
        if (!n)
                return NULL;
        for (size_t i = 0; i < n->n_items; i++)
                spec_node_free(n->items[i]);
        free(n->items);
        free(n->text);
        free(n);
        return NULL;
}
static size_t node_len(const struct node *n) {
        return n->type == NODE_MAP ? n->n_items / 2 : n->n_items;
}

bool spec_is_null(const struct node *n) {
        return n->type == NODE_SCALAR && n->style == YAML_PLAIN_SCALAR_STYLE &&
               (streq(n->text, "") || streq(n->text, "~") || streq(n->text, "null") ||
                streq(n->text, "Null") || streq(n->text, "NULL"));
}

static struct tf_pos mark_pos(yaml_mark_t m) {
        return (struct tf_pos){.line = (unsigned)m.line + 1, .column = (unsigned)m.column + 1};
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
                        np = spec_kp_join(p, n->items[k - 1]->text);
                else if (n->type == NODE_SEQ)
                        np = spec_kp_index(p, k);
                if (np) {
                        free(p);
                        p = np;
                }
        }
        return p;
}

static int build_fail(struct builder *b, yaml_mark_t m, const char *what) {
        _cleanup_free_ char *kp = builder_path(b, b->depth);
        return spec_fail(b->c, mark_pos(m), kp, "%s", what);
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
                        return spec_fail(b->c, parent->pos, kp,
                                         "more than %d items; expected a shorter list", SPEC_MAX_ITEMS);
                return spec_fail(b->c, parent->pos, kp, "more than %d keys; expected a smaller mapping",
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
                return spec_fail(c, pos, NULL, "invalid YAML: %s; expected UTF-8 text",
                                 p->problem ? p->problem : "cannot read");
        }
        pos = mark_pos(p->problem_mark);
        struct tf_pos tab;
        if (find_indent_tab(buf, len, pos.line, &tab))
                return spec_fail(c, tab, NULL,
                                 "tab character in indentation; expected spaces (YAML does not allow "
                                 "tabs for indentation)");
        if (streq(p->problem, "mapping values are not allowed in this context"))
                return spec_fail(c, pos, NULL,
                                 "invalid YAML: mapping values are not allowed in this context; expected "
                                 "quotes around a value that contains ': ' (e.g. 'echo a: b')");
        if (p->context) {
                struct tf_pos cp = mark_pos(p->context_mark);
                return spec_fail(c, pos, NULL, "invalid YAML: %s (%s at %u:%u)",
                                 p->problem ? p->problem : "error", p->context, cp.line, cp.column);
        }
        return spec_fail(c, pos, NULL, "invalid YAML: %s", p->problem ? p->problem : "error");
}

int spec_build_tree(struct ctx *c, const char *buf, size_t len, struct node **ret) {
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
                spec_node_free(b.root);
                return r;
        }
        *ret = b.root;
        return 0;
}
