/* table_tree: the YAML reader, from libyaml's events to a tree of nodes.
 *
 * The schema needs every value with the line and column it came from, and a
 * whole tree to look at keys in any order, so the event stream is read into
 * nodes first. The YAML that a table must not use is refused here: anchors,
 * aliases, tags, keys that are not strings, more than one document, nesting
 * deeper than DEPTH_MAX, text that is not UTF-8. A YAML syntax error is
 * explained here too, in our words and where the fault began (an unclosed
 * quote where it opened, a tab as a tab), since only the reader knows what
 * libyaml had read when it stopped. */
#include "table_int.h"

#include "utf8.h"

#include <stdarg.h>
#include <stdio.h>
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

/* ---- syntax errors in our words ----
 * libyaml says what its scanner or parser expected, at the place where it
 * gave up: an unclosed quote reads on to the next quote and fails lines
 * later, a tab is "a character that cannot start any token". What follows
 * reads its error (problem, context and their marks) with what the reader
 * had seen, and says what is wrong at the place the fault began. libyaml's
 * words remain only for what is not recognised here. */

/* What the reader had seen when libyaml stopped. */
struct tree_seen {
    struct node *const *open; /* collections still open, innermost last */
    size_t depth;
    bool any;               /* a node was read */
    bool quoted;            /* the last node was a quoted scalar */
    yaml_mark_t start, end; /* the last node's marks */
};

/* The width of the line break at s[i] as libyaml counts lines (\r\n, \r,
 * \n, NEL, LS, PS), 0 if none. */
static size_t tree_break_at(const unsigned char *s, size_t n, size_t i)
{
    if (s[i] == '\r')
        return i + 1 < n && s[i + 1] == '\n' ? 2 : 1;
    if (s[i] == '\n')
        return 1;
    if (s[i] == 0xC2 && i + 1 < n && s[i + 1] == 0x85)
        return 2;
    if (s[i] == 0xE2 && i + 2 < n && s[i + 1] == 0x80 && (s[i + 2] == 0xA8 || s[i + 2] == 0xA9))
        return 3;
    return 0;
}

/* The byte offset of 0-based line and column (characters, as libyaml's
 * marks count them); false past the end or for text libyaml read as
 * UTF-16. */
static bool tree_offset(const struct loader *ld, size_t line, size_t col, size_t *at)
{
    const unsigned char *s = (const unsigned char *)ld->text;
    size_t n = ld->len, i = 0;
    if (n >= 2 && ((s[0] == 0xFF && s[1] == 0xFE) || (s[0] == 0xFE && s[1] == 0xFF)))
        return false;
    if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    for (size_t l = 0; l < line; l++) {
        while (i < n && !tree_break_at(s, n, i))
            i++;
        if (i == n)
            return false;
        i += tree_break_at(s, n, i);
    }
    for (size_t c = 0; c < col; c++) {
        if (i == n || tree_break_at(s, n, i))
            return false;
        for (i++; i < n && (s[i] & 0xC0) == 0x80; i++)
            ;
    }
    *at = i;
    return i < n;
}

/* The character at mark when it is ASCII, else 0. */
static char tree_char_at(const struct loader *ld, yaml_mark_t m)
{
    size_t at;
    if (!tree_offset(ld, m.line, m.column, &at) || (unsigned char)ld->text[at] >= 0x80)
        return 0;
    return ld->text[at];
}

/* The offset of mark's line, and whether only blanks precede mark on it. */
static bool tree_line_of(const struct loader *ld, yaml_mark_t m, size_t *from, size_t *to)
{
    return tree_offset(ld, m.line, 0, from) && tree_offset(ld, m.line, m.column, to);
}

static bool tree_starts_line(const struct loader *ld, yaml_mark_t m)
{
    size_t from, to;
    if (!tree_line_of(ld, m, &from, &to))
        return false;
    while (from < to && (ld->text[from] == ' ' || ld->text[from] == '\t'))
        from++;
    return from == to;
}

static bool tree_is(const char *s, const char *what)
{
    return s && strcmp(s, what) == 0;
}

static void tree_fail_mark(struct loader *ld, yaml_mark_t m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void tree_fail_mark(struct loader *ld, yaml_mark_t m, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    load_fail_at(ld, (unsigned)m.line + 1, (unsigned)m.column + 1, "%s", msg);
}

/* A tab where libyaml wants indentation: named at the tab. */
static bool tree_explain_tab(struct loader *ld, const yaml_parser_t *p)
{
    yaml_mark_t m = p->problem_mark;
    size_t from, to;
    bool tab_said = p->problem && strstr(p->problem, "tab character");
    if (!tab_said && !(tree_is(p->problem, "found character that cannot start any token") &&
                       tree_char_at(ld, m) == '\t'))
        return false;
    if (tree_char_at(ld, m) != '\t' && tree_line_of(ld, m, &from, &to)) {
        /* the first tab among the line's leading blanks */
        for (m.column = 0; from < ld->len && (ld->text[from] == ' ' || ld->text[from] == '\t');
             from++, m.column++)
            if (ld->text[from] == '\t')
                break;
        if (from == ld->len || ld->text[from] != '\t')
            m = p->problem_mark;
    }
    tree_fail_mark(ld, m, "a tab in the indentation: YAML indents with spaces only");
    return true;
}

/* An unclosed quote: the end of the file or of the document reached inside
 * it, or a string that ran on to the next quote, after which libyaml fails. */
static bool tree_explain_quote(struct loader *ld, const yaml_parser_t *p,
                               const struct tree_seen *seen)
{
    if (tree_is(p->context, "while scanning a quoted scalar") &&
        (tree_is(p->problem, "found unexpected end of stream") ||
         tree_is(p->problem, "found unexpected document indicator"))) {
        char q = tree_char_at(ld, p->context_mark) == '\'' ? '\'' : '"';
        tree_fail_mark(ld, p->context_mark,
                       "unclosed quote: the string opened here with %c has no closing %c", q, q);
        return true;
    }
    if (!seen->quoted || p->problem_mark.line != seen->end.line ||
        p->problem_mark.index < seen->end.index)
        return false;
    char q = tree_char_at(ld, seen->start) == '\'' ? '\'' : '"';
    if (seen->start.line < seen->end.line)
        tree_fail_mark(ld, seen->start,
                       "unclosed quote: the string opened here with %c runs on to the %c at "
                       "line %u, column %u",
                       q, q, (unsigned)seen->end.line + 1, (unsigned)seen->end.column);
    else
        tree_fail_mark(ld, seen->start,
                       "text after the string quoted here, which ends at the %c at column %u: "
                       "is a closing quote missing, or a quote inside it not escaped?",
                       q, (unsigned)seen->end.column);
    return true;
}

/* An unclosed [ or {: named where it opened when the fault is on a later
 * line, else the place where a "," or the closing bracket was expected. */
static bool tree_explain_flow(struct loader *ld, const yaml_parser_t *p,
                              const struct tree_seen *seen)
{
    bool list;
    yaml_mark_t open;
    if (tree_is(p->context, "while parsing a flow sequence") ||
        tree_is(p->context, "while parsing a flow mapping")) {
        list = tree_is(p->context, "while parsing a flow sequence");
        open = p->context_mark;
    } else if (tree_is(p->context, "while parsing a flow node") && seen->depth &&
               seen->open[seen->depth - 1]->flow) {
        const struct node *n = seen->open[seen->depth - 1];
        list = n->kind == NODE_SEQ;
        open = (yaml_mark_t){.line = n->line - 1, .column = n->col - 1};
    } else {
        return false;
    }
    const char *what = list ? "list" : "map";
    char opener = list ? '[' : '{', closer = list ? ']' : '}';
    yaml_mark_t at = p->problem_mark;
    char c = tree_char_at(ld, at);
    if (at.line > open.line)
        tree_fail_mark(ld, open,
                       "unclosed \"%c\": the %s opened here has no \"%c\" before line %u, "
                       "column %u",
                       opener, what, closer, (unsigned)at.line + 1, (unsigned)at.column + 1);
    else if ((c == ']' || c == '}') && c != closer)
        tree_fail_mark(ld, at, "\"%c\" here closes the \"%c\" opened at column %u: expected \"%c\"",
                       c, opener, (unsigned)open.column + 1, closer);
    else if (tree_is(p->context, "while parsing a flow node"))
        tree_fail_mark(ld, at, "expected a value here, in the %s opened at column %u", what,
                       (unsigned)open.column + 1);
    else
        tree_fail_mark(ld, at, "expected \",\" or \"%c\" here, in the %s opened at column %u",
                       closer, what, (unsigned)open.column + 1);
    return true;
}

/* A ':', '-', ']' or '}' where none may stand. */
static bool tree_explain_stray(struct loader *ld, const yaml_parser_t *p)
{
    yaml_mark_t at = p->problem_mark, ctx = p->context_mark;
    char c = tree_char_at(ld, at);
    if (c == ']' || c == '}')
        tree_fail_mark(ld, at, "stray \"%c\": no \"%c\" is open here", c, c == ']' ? '[' : '{');
    else if (c == ':' && p->error == YAML_PARSER_ERROR)
        tree_fail_mark(ld, at, "stray \":\": there is no key before it");
    else if (c == '-' && tree_is(p->context, "while parsing a block mapping") &&
             at.column == ctx.column)
        tree_fail_mark(ld, at, "stray \"-\": a list item where the map that starts at line %u, "
                               "column %u expects a key",
                       (unsigned)ctx.line + 1, (unsigned)ctx.column + 1);
    else if (c == '-' && tree_is(p->problem, "block sequence entries are not allowed in this "
                                             "context"))
        tree_fail_mark(ld, at, "stray \"-\": a list cannot start on the line of its key: begin "
                               "it on the next line, indented");
    else
        return false;
    return true;
}

/* A key without its ':', and text outside the top-level map. */
static bool tree_explain_key(struct loader *ld, const yaml_parser_t *p,
                             const struct tree_seen *seen)
{
    if (tree_is(p->context, "while scanning a simple key") &&
        tree_is(p->problem, "could not find expected ':'"))
        tree_fail_mark(ld, p->context_mark, "missing \":\" after the key that starts here (a "
                                            "line of a map is \"key: value\")");
    else if (tree_is(p->problem, "did not find expected <document start>") && seen->any)
        tree_fail_mark(ld, seen->start, "this text is outside the table's map: is a \"#\" "
                                        "missing before a comment, or a \":\" after a key?");
    else
        return false;
    return true;
}

/* Bad indentation: a line at a column where its map or list cannot go on,
 * and a key read as the rest of the text above it. */
static bool tree_explain_indent(struct loader *ld, const yaml_parser_t *p)
{
    yaml_mark_t at = p->problem_mark, ctx = p->context_mark;
    size_t from, to;
    if (tree_is(p->problem, "mapping values are not allowed in this context") &&
        tree_line_of(ld, at, &from, &to)) {
        for (size_t i = from; i + 1 < to; i++)
            if (ld->text[i] == ':' && (ld->text[i + 1] == ' ' || ld->text[i + 1] == '\t')) {
                tree_fail_mark(ld, at, "a second \": \" on this line: put a value that holds "
                                       "\": \" in quotes");
                return true;
            }
        for (at.column = 0; from < to && ld->text[from] == ' '; from++)
            at.column++;
        tree_fail_mark(ld, at, "bad indentation: this key reads as the rest of the text above it "
                               "(is it indented too far, or a \":\" missing above?)");
        return true;
    }
    if (p->error != YAML_PARSER_ERROR)
        return false;
    if (!tree_starts_line(ld, at)) {
        if (!tree_is(p->context, "while parsing a block mapping"))
            return false;
        tree_fail_mark(ld, at, "unexpected text here, after a complete value");
    } else if (tree_is(p->context, "while parsing a block mapping"))
        tree_fail_mark(ld, at, "bad indentation: a line at column %u, where the map that starts "
                               "at line %u has its keys at column %u",
                       (unsigned)at.column + 1, (unsigned)ctx.line + 1, (unsigned)ctx.column + 1);
    else if (tree_is(p->context, "while parsing a block collection"))
        tree_fail_mark(ld, at, "bad indentation: a line inside the list that starts at line %u, "
                               "column %u, but not one of its \"- \" items",
                       (unsigned)ctx.line + 1, (unsigned)ctx.column + 1);
    else
        return false;
    return true;
}

static void tree_syntax_error(struct loader *ld, const yaml_parser_t *p,
                              const struct tree_seen *seen)
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
    if (tree_explain_tab(ld, p) || tree_explain_quote(ld, p, seen) ||
        tree_explain_flow(ld, p, seen) || tree_explain_stray(ld, p) ||
        tree_explain_key(ld, p, seen) || tree_explain_indent(ld, p))
        return;
    char c = tree_char_at(ld, p->problem_mark);
    if ((c == '@' || c == '`') &&
        tree_is(p->problem, "found character that cannot start any token")) {
        tree_fail_mark(ld, p->problem_mark, "\"%c\" cannot start a value: put the value in quotes",
                       c);
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
        n->flow = ev->data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE;
        break;
    default:
        tree_check_props(ld, n, ev->data.mapping_start.anchor, ev->data.mapping_start.tag);
        n->kind = NODE_MAP;
        n->flow = ev->data.mapping_start.style == YAML_FLOW_MAPPING_STYLE;
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
    struct tree_seen seen = {.open = stack};
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
            seen.depth = depth;
            tree_syntax_error(ld, &p, &seen);
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
            seen.quoted = ev.type == YAML_SCALAR_EVENT &&
                          ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE &&
                          ev.data.scalar.style != YAML_LITERAL_SCALAR_STYLE &&
                          ev.data.scalar.style != YAML_FOLDED_SCALAR_STYLE;
            seen.any = true;
            seen.start = ev.start_mark;
            seen.end = ev.end_mark;
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
