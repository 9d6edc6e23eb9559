/* table_tree: the YAML reader, from libyaml's events to a tree of nodes.
 *
 * The schema needs every value with the line and column it came from, and a
 * whole tree to look at keys in any order, so the event stream is read into
 * nodes first. The YAML that a table must not use is refused here: anchors,
 * aliases, tags, keys that are not strings, more than one document, nesting
 * deeper than DEPTH_MAX, text that is not UTF-8. */
#include "table_int.h"

#include "utf8.h"

#include <string.h>
#include <yaml.h>

#define DEPTH_MAX 16

/* ---- the YAML event stream to a tree ---- */

static void tree_place(struct node *n, yaml_mark_t mark)
{
    n->line = (unsigned)mark.line + 1;
    n->col = (unsigned)mark.column + 1;
}

/* libyaml gives reader errors (bad UTF-8, control characters) as a byte
 * offset only; columns count characters, as libyaml's marks do. */
static void tree_place_offset(const char *text, size_t offset, unsigned *line, unsigned *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < offset; i++)
        if (text[i] == '\n') {
            ++*line;
            *col = 1;
        } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
            ++*col;
        }
}

static void tree_syntax_error(struct loader *ld, const yaml_parser_t *p)
{
    unsigned line, col;
    if (p->error == YAML_MEMORY_ERROR) {
        ld->oom = true;
        return;
    }
    if (p->error == YAML_READER_ERROR) {
        tree_place_offset(ld->text, p->problem_offset, &line, &col);
        load_fail_at(ld, line, col, "unreadable text: %s", p->problem);
        return;
    }
    line = (unsigned)p->problem_mark.line + 1;
    col = (unsigned)p->problem_mark.column + 1;
    load_fail_at(ld, line, col, "syntax error: %s%s%s", p->problem ? p->problem : "unknown",
                 p->context ? " " : "", p->context ? p->context : "");
}

static void tree_check_props(struct loader *ld, const struct node *n, const yaml_char_t *anchor,
                             const yaml_char_t *tag)
{
    if (anchor)
        load_fail(ld, n, "anchors are not allowed (&%s)", (const char *)anchor);
    if (tag) {
        /* libyaml decodes a tag's %-escapes unchecked: a newline, an escape
         * sequence or an overlong form would reach the terminal and the log */
        struct node t = {.text = (const char *)tag, .len = strlen((const char *)tag)};
        load_fail(ld, n, "tags are not allowed (%s)",
                  utf8_valid(t.text, t.len) ? load_quote(ld, &t) : "?");
    }
}

static struct node *tree_node_from(struct loader *ld, const yaml_event_t *ev)
{
    struct node *n = load_scratch(ld, sizeof *n);
    if (!n)
        return NULL;
    *n = (struct node){.kind = NODE_BAD};
    tree_place(n, ev->start_mark);
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        load_fail(ld, n, "aliases are not allowed (*%s)", (const char *)ev->data.alias.anchor);
        break;
    case YAML_SCALAR_EVENT:
        tree_check_props(ld, n, ev->data.scalar.anchor, ev->data.scalar.tag);
        n->len = ev->data.scalar.length;
        n->text = table_arena_strndup(&ld->scratch, (const char *)ev->data.scalar.value, n->len);
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        if (!n->text)
            ld->oom = true;
        else if (!utf8_valid(n->text, n->len))
            load_fail(ld, n, "string is not valid UTF-8 or contains NUL");
        else
            n->kind = NODE_SCALAR;
        break;
    case YAML_SEQUENCE_START_EVENT:
        tree_check_props(ld, n, ev->data.sequence_start.anchor, ev->data.sequence_start.tag);
        n->kind = NODE_SEQ;
        break;
    default:
        tree_check_props(ld, n, ev->data.mapping_start.anchor, ev->data.mapping_start.tag);
        n->kind = NODE_MAP;
        break;
    }
    return n;
}

static void tree_attach(struct loader *ld, struct node *parent, struct node *n)
{
    bool is_key = parent->kind == NODE_MAP && parent->n_children % 2 == 0;
    if (is_key && (n->kind == NODE_MAP || n->kind == NODE_SEQ))
        load_fail(ld, n, "keys must be strings, not a %s", n->kind == NODE_MAP ? "map" : "list");
    if (parent->last)
        parent->last->next = n;
    else
        parent->child = n;
    parent->last = n;
    parent->n_children++;
}

struct node *tree_read(struct loader *ld)
{
    yaml_parser_t p;
    struct node *stack[DEPTH_MAX], *root = NULL;
    size_t depth = 0, docs = 0;
    bool done = false;

    if (!yaml_parser_initialize(&p)) {
        ld->oom = true;
        return NULL;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)ld->text, ld->len);
    while (!done && !ld->oom) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            tree_syntax_error(ld, &p);
            root = NULL;
            break;
        }
        struct node *n = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                load_fail_at(ld, (unsigned)ev.start_mark.line + 1,
                             (unsigned)ev.start_mark.column + 1,
                             "only one YAML document is allowed");
                done = true;
            }
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        case YAML_ALIAS_EVENT:
        case YAML_SCALAR_EVENT:
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            n = tree_node_from(ld, &ev);
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
        if (!n)
            continue;
        if (depth > 0)
            tree_attach(ld, stack[depth - 1], n);
        else
            root = n;
        if (n->kind == NODE_MAP || n->kind == NODE_SEQ) {
            if (depth == DEPTH_MAX) {
                load_fail(ld, n, "nested deeper than %d levels", DEPTH_MAX);
                root = NULL;
                break;
            }
            stack[depth++] = n;
        }
    }
    yaml_parser_delete(&p);
    if (ld->n_errors == 0 && !ld->oom &&
        (!root || (root->kind == NODE_SCALAR && root->plain && root->len == 0))) {
        load_fail_at(ld, 1, 1, "the file is empty");
        root = NULL;
    }
    return root;
}
