#include "table.h"

#include "duration.h"
#include "topic.h"
#include "cert.h"
#include "utf8.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define FILE_MAX ((size_t)1 << 20)
#define DEPTH_MAX 16
#define ERRORS_MAX 100
#define QUOTE_MAX 64 /* bytes of a user's string quoted in a message */
#define CHUNK_MIN 16384
#define ID_MAX 64
#define KIND_MAX 32
#define ATTEMPTS_MAX 100
#define COUNT_MAX 4294967295u /* max_open, retain_closed */
#define MESSAGE_MIN 1024
#define MESSAGE_MAX (64u << 20)

static const char *const priority_names[PRIO_COUNT] = {"routine", "urgent"};

const char *priority_name(priority_t p)
{
    return (unsigned)p < PRIO_COUNT ? priority_names[p] : "?";
}

int priority_parse(const char *s, size_t n, priority_t *p)
{
    for (unsigned i = 0; i < PRIO_COUNT; i++)
        if (strlen(priority_names[i]) == n && memcmp(s, priority_names[i], n) == 0) {
            *p = (priority_t)i;
            return 0;
        }
    return -1;
}

/* Everything a table or a load holds lives in one arena, freed at once. */
struct chunk {
    struct chunk *next;
    size_t used, size;
    max_align_t data[];
};

struct arena {
    struct chunk *head;
};

static void *arena_alloc(struct arena *a, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    struct chunk *c = a->head;
    if (!c || c->size - c->used < n) {
        size_t size = n > CHUNK_MIN ? n : CHUNK_MIN;
        c = malloc(sizeof *c + size);
        if (!c)
            return NULL;
        c->next = a->head;
        c->used = 0;
        c->size = size;
        a->head = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

static char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static void arena_clear(struct arena *a)
{
    while (a->head) {
        struct chunk *next = a->head->next;
        free(a->head);
        a->head = next;
    }
}

struct calendar {
    const char *name;
    workcal_t *clock;
};

struct table {
    struct arena arena;
    broker_conf_t conf;
    struct calendar *calendars; /* their workcal_t are the table's own */
    size_t n_calendars;
    agency_t *agencies;
    size_t n_agencies;
    const agency_t **by_id; /* sorted by id, for lookups */
    route_t *routes;
    size_t n_routes;
};

/* The document as a tree, so the schema can be checked with positions.
 * NODE_BAD stands where an error was already reported (an alias, a string
 * that is not UTF-8): the schema passes over it silently. A map's children
 * alternate key, value. */
enum node_kind { NODE_SCALAR, NODE_MAP, NODE_SEQ, NODE_BAD };

struct node {
    enum node_kind kind;
    bool plain;
    unsigned line, col; /* 1-based */
    const char *text;   /* scalars: NUL-terminated */
    size_t len;
    size_t n_children;
    struct node *child, *last, *next;
};

struct error {
    unsigned line, col; /* 0: the whole file */
    size_t seq;
    const char *msg;
};

struct loader {
    const char *name;
    const char *text;
    size_t len;
    struct arena scratch;
    struct error errors[ERRORS_MAX];
    size_t n_errors;
    bool too_many;
    bool oom;
    table_t *t;
};

/* Out of memory is reported once, as the whole file's error. */
static void *scratch_alloc(struct loader *ld, size_t n)
{
    void *p = arena_alloc(&ld->scratch, n);
    if (!p)
        ld->oom = true;
    return p;
}

static void vfail_at(struct loader *ld, unsigned line, unsigned col, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void vfail_at(struct loader *ld, unsigned line, unsigned col, const char *fmt, va_list ap)
{
    if (ld->n_errors == ERRORS_MAX) {
        ld->too_many = true;
        return;
    }
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    char *msg = n < 0 ? NULL : scratch_alloc(ld, (size_t)n + 1);
    if (msg)
        vsnprintf(msg, (size_t)n + 1, fmt, again);
    va_end(again);
    if (msg) {
        ld->errors[ld->n_errors] = (struct error){line, col, ld->n_errors, msg};
        ld->n_errors++;
    }
}

static void fail_at(struct loader *ld, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail_at(struct loader *ld, unsigned line, unsigned col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_at(ld, line, col, fmt, ap);
    va_end(ap);
}

static void fail(struct loader *ld, const struct node *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct loader *ld, const struct node *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_at(ld, at->line, at->col, fmt, ap);
    va_end(ap);
}

static char *keep_string(struct loader *ld, const char *s, size_t n)
{
    char *p = arena_strndup(&ld->t->arena, s, n);
    if (!p)
        ld->oom = true;
    return p;
}

static void *keep_array(struct loader *ld, size_t n, size_t size)
{
    void *p = arena_alloc(&ld->t->arena, n * size);
    if (!p)
        ld->oom = true;
    return p;
}

/* A user's string as messages quote it: short, on one line, whole characters. */
static const char *quote(struct loader *ld, const struct node *n)
{
    size_t len = n->len;
    if (len > QUOTE_MAX) {
        len = QUOTE_MAX;
        while (len > 0 && ((unsigned char)n->text[len] & 0xC0) == 0x80)
            len--;
    }
    char *q = scratch_alloc(ld, len + 4);
    if (!q)
        return "";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)n->text[i];
        q[i] = c < 0x20 || c == 0x7F || c == '"' ? '?' : (char)c;
    }
    strcpy(q + len, len < n->len ? "..." : "");
    return q;
}

/* ---- the YAML event stream to a tree ---- */

static void node_place(struct node *n, yaml_mark_t mark)
{
    n->line = (unsigned)mark.line + 1;
    n->col = (unsigned)mark.column + 1;
}

/* libyaml gives reader errors (bad UTF-8, control characters) as a byte
 * offset only; columns count characters, as libyaml's marks do. */
static void place_offset(const char *text, size_t offset, unsigned *line, unsigned *col)
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

static void syntax_error(struct loader *ld, const yaml_parser_t *p)
{
    unsigned line, col;
    if (p->error == YAML_MEMORY_ERROR) {
        ld->oom = true;
        return;
    }
    if (p->error == YAML_READER_ERROR) {
        place_offset(ld->text, p->problem_offset, &line, &col);
        fail_at(ld, line, col, "unreadable text: %s", p->problem);
        return;
    }
    line = (unsigned)p->problem_mark.line + 1;
    col = (unsigned)p->problem_mark.column + 1;
    fail_at(ld, line, col, "syntax error: %s%s%s", p->problem ? p->problem : "unknown",
            p->context ? " " : "", p->context ? p->context : "");
}

static void check_props(struct loader *ld, const struct node *n, const yaml_char_t *anchor,
                        const yaml_char_t *tag)
{
    if (anchor)
        fail(ld, n, "anchors are not allowed (&%s)", (const char *)anchor);
    if (tag) {
        /* libyaml decodes a tag's %-escapes unchecked: a newline, an escape
         * sequence or an overlong form would reach the terminal and the log */
        struct node t = {.text = (const char *)tag, .len = strlen((const char *)tag)};
        fail(ld, n, "tags are not allowed (%s)", utf8_valid(t.text, t.len) ? quote(ld, &t) : "?");
    }
}

static struct node *node_from(struct loader *ld, const yaml_event_t *ev)
{
    struct node *n = scratch_alloc(ld, sizeof *n);
    if (!n)
        return NULL;
    *n = (struct node){.kind = NODE_BAD};
    node_place(n, ev->start_mark);
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        fail(ld, n, "aliases are not allowed (*%s)", (const char *)ev->data.alias.anchor);
        break;
    case YAML_SCALAR_EVENT:
        check_props(ld, n, ev->data.scalar.anchor, ev->data.scalar.tag);
        n->len = ev->data.scalar.length;
        n->text = arena_strndup(&ld->scratch, (const char *)ev->data.scalar.value, n->len);
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        if (!n->text)
            ld->oom = true;
        else if (!utf8_valid(n->text, n->len))
            fail(ld, n, "string is not valid UTF-8 or contains NUL");
        else
            n->kind = NODE_SCALAR;
        break;
    case YAML_SEQUENCE_START_EVENT:
        check_props(ld, n, ev->data.sequence_start.anchor, ev->data.sequence_start.tag);
        n->kind = NODE_SEQ;
        break;
    default:
        check_props(ld, n, ev->data.mapping_start.anchor, ev->data.mapping_start.tag);
        n->kind = NODE_MAP;
        break;
    }
    return n;
}

static void attach(struct loader *ld, struct node *parent, struct node *n)
{
    bool is_key = parent->kind == NODE_MAP && parent->n_children % 2 == 0;
    if (is_key && (n->kind == NODE_MAP || n->kind == NODE_SEQ))
        fail(ld, n, "keys must be strings, not a %s", n->kind == NODE_MAP ? "map" : "list");
    if (parent->last)
        parent->last->next = n;
    else
        parent->child = n;
    parent->last = n;
    parent->n_children++;
}

/* The root of the first document, or NULL when there is nothing to check. */
static struct node *read_tree(struct loader *ld)
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
            syntax_error(ld, &p);
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
                fail_at(ld, (unsigned)ev.start_mark.line + 1, (unsigned)ev.start_mark.column + 1,
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
            n = node_from(ld, &ev);
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
        if (!n)
            continue;
        if (depth > 0)
            attach(ld, stack[depth - 1], n);
        else
            root = n;
        if (n->kind == NODE_MAP || n->kind == NODE_SEQ) {
            if (depth == DEPTH_MAX) {
                fail(ld, n, "nested deeper than %d levels", DEPTH_MAX);
                root = NULL;
                break;
            }
            stack[depth++] = n;
        }
    }
    yaml_parser_delete(&p);
    if (ld->n_errors == 0 && !ld->oom &&
        (!root || (root->kind == NODE_SCALAR && root->plain && root->len == 0))) {
        fail_at(ld, 1, 1, "the file is empty");
        root = NULL;
    }
    return root;
}

/* ---- the schema ---- */

struct field {
    const struct node *key, *value;
};

static bool text_is(const struct node *n, const char *s)
{
    return n->kind == NODE_SCALAR && strcmp(n->text, s) == 0;
}

static const char *kind_noun(enum node_kind kind)
{
    return kind == NODE_MAP ? "a map" : kind == NODE_SEQ ? "a list" : "a string";
}

/* Whether n is of that kind; if not, says so unless it was already reported. */
static bool is_kind(struct loader *ld, const struct node *n, enum node_kind kind, const char *what)
{
    if (n->kind == kind)
        return true;
    if (n->kind != NODE_BAD)
        fail(ld, n, "%s must be %s, not %s", what, kind_noun(kind), kind_noun(n->kind));
    return false;
}

/* "\"to\" in route \"x\"": how messages name a field. */
static const char *field_name(struct loader *ld, const struct field *f, const char *where)
{
    size_t n = f->key->len + strlen(where) + 8;
    char *s = scratch_alloc(ld, n);
    if (!s)
        return "";
    snprintf(s, n, "\"%s\" in %s", f->key->text, where);
    return s;
}

/* Sorts map's entries into fields[] by the names expected there; 0, or -1
 * when the node is no map. Unknown and repeated keys are reported. */
static int read_map(struct loader *ld, const struct node *map, const char *where,
                    const char *const *names, size_t n_names, struct field *fields)
{
    memset(fields, 0, n_names * sizeof *fields);
    if (!is_kind(ld, map, NODE_MAP, where))
        return -1;
    for (const struct node *k = map->child; k; k = k->next->next) {
        size_t i = 0;
        while (i < n_names && !text_is(k, names[i]))
            i++;
        if (k->kind != NODE_SCALAR) {
            continue; /* reported while reading the tree */
        } else if (i == n_names) {
            char expected[256] = "";
            for (size_t j = 0; j < n_names; j++)
                snprintf(expected + strlen(expected), sizeof expected - strlen(expected), "%s%s",
                         j ? ", " : "", names[j]);
            fail(ld, k, "unknown key \"%s\" in %s (expected %s)", quote(ld, k), where, expected);
        } else if (fields[i].key) {
            fail(ld, k, "duplicate key \"%s\" in %s (first on line %u)", names[i], where,
                 fields[i].key->line);
        } else {
            fields[i] = (struct field){k, k->next};
        }
    }
    return 0;
}

static void missing(struct loader *ld, const struct node *map, const char *key, const char *where)
{
    fail(ld, map, "missing key \"%s\" in %s", key, where);
}

static const struct node *scalar_of(struct loader *ld, const struct field *f, const char *where)
{
    return is_kind(ld, f->value, NODE_SCALAR, field_name(ld, f, where)) ? f->value : NULL;
}

static int read_string(struct loader *ld, const struct field *f, const char *where,
                       const char **out)
{
    const struct node *v = scalar_of(ld, f, where);
    if (!v)
        return -1;
    if (v->len == 0) {
        fail(ld, v, "%s must not be empty", field_name(ld, f, where));
        return -1;
    }
    *out = keep_string(ld, v->text, v->len);
    return 0;
}

/* Plain decimal only: YAML 1.1 would read 010 as octal and 0x10 as hex. */
static int read_uint(struct loader *ld, const struct field *f, const char *where, uint64_t min,
                     uint64_t max, uint64_t *out)
{
    const struct node *v = scalar_of(ld, f, where);
    if (!v)
        return -1;
    bool ok = v->plain && v->len > 0 && !(v->text[0] == '0' && v->len > 1);
    uint64_t value = 0;
    for (size_t i = 0; ok && i < v->len; i++) {
        ok = v->text[i] >= '0' && v->text[i] <= '9';
        value = value * 10 + (uint64_t)(v->text[i] - '0');
        ok = ok && value <= max;
    }
    if (!ok || value < min) {
        fail(ld, v, "%s must be an integer from %llu to %llu, not \"%s\"",
             field_name(ld, f, where), (unsigned long long)min, (unsigned long long)max,
             quote(ld, v));
        return -1;
    }
    *out = value;
    return 0;
}

static int read_duration(struct loader *ld, const struct field *f, const char *where,
                         uint64_t *out)
{
    const struct node *v = scalar_of(ld, f, where);
    const char *why;
    if (!v)
        return -1;
    if (duration_parse(v->text, v->len, out, &why) < 0) {
        fail(ld, v, "bad duration \"%s\" for %s: %s", quote(ld, v), field_name(ld, f, where), why);
        return -1;
    }
    return 0;
}

bool table_is_name(const char *s, size_t n, size_t max)
{
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return false;
    return true;
}

/* ---- broker ---- */

static const char *const broker_keys[] = {
    "name",     "endpoints",     "heartbeat", "max_message",  "max_open",
    "retain_closed", "data_dir", "retention", "dedup_window", "rate_limit",
};
enum {
    B_NAME,
    B_ENDPOINTS,
    B_HEARTBEAT,
    B_MAX_MESSAGE,
    B_MAX_OPEN,
    B_RETAIN,
    B_DATA_DIR,
    B_RETENTION,
    B_DEDUP,
    B_RATE,
    B_COUNT
};
static const char *const endpoint_keys[] = {"clients", "workers", "events"};

static void read_endpoint(struct loader *ld, const struct field *f, const char *where,
                          const char **out)
{
    static const char *const schemes[] = {"tcp://", "ipc://", "inproc://"};
    const char *s;
    if (!f->key || read_string(ld, f, where, &s) < 0)
        return;
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (strncmp(s, schemes[i], strlen(schemes[i])) == 0 && s[strlen(schemes[i])]) {
            *out = s;
            return;
        }
    fail(ld, f->value, "bad endpoint \"%s\" for %s (expected tcp://, ipc:// or inproc://...)",
         quote(ld, f->value), field_name(ld, f, where));
}

static const char *const rate_keys[] = {"per_second", "burst"};

/* Submissions per peer: per_second on average, burst at once (default:
 * per_second). */
static void read_rate(struct loader *ld, const struct field *top, broker_conf_t *c)
{
    struct field f[2];
    uint64_t v;
    const char *where = "broker rate_limit";
    if (read_map(ld, top->value, where, rate_keys, 2, f) < 0)
        return;
    if (!f[0].key)
        missing(ld, top->value, "per_second", where);
    else if (read_uint(ld, &f[0], where, 1, 1000000, &v) == 0)
        c->rate_per_second = c->rate_burst = (uint32_t)v;
    if (f[1].key && read_uint(ld, &f[1], where, 1, 1000000, &v) == 0)
        c->rate_burst = (uint32_t)v;
}

static void read_broker(struct loader *ld, const struct field *top)
{
    broker_conf_t *c = &ld->t->conf;
    struct field f[B_COUNT], ep[3];
    uint64_t v;

    if (!top->key || read_map(ld, top->value, "broker", broker_keys, B_COUNT, f) < 0)
        return;
    if (f[B_NAME].key)
        read_string(ld, &f[B_NAME], "broker", &c->name);
    if (f[B_ENDPOINTS].key &&
        read_map(ld, f[B_ENDPOINTS].value, "broker endpoints", endpoint_keys, 3, ep) == 0) {
        read_endpoint(ld, &ep[0], "broker endpoints", &c->clients_endpoint);
        read_endpoint(ld, &ep[1], "broker endpoints", &c->workers_endpoint);
        read_endpoint(ld, &ep[2], "broker endpoints", &c->events_endpoint);
    }
    if (f[B_HEARTBEAT].key)
        read_duration(ld, &f[B_HEARTBEAT], "broker", &c->heartbeat_ms);
    if (f[B_MAX_MESSAGE].key &&
        read_uint(ld, &f[B_MAX_MESSAGE], "broker", MESSAGE_MIN, MESSAGE_MAX, &v) == 0)
        c->max_message = (size_t)v;
    if (f[B_MAX_OPEN].key && read_uint(ld, &f[B_MAX_OPEN], "broker", 1, COUNT_MAX, &v) == 0)
        c->max_open = (size_t)v;
    if (f[B_RETAIN].key && read_uint(ld, &f[B_RETAIN], "broker", 0, COUNT_MAX, &v) == 0)
        c->retain_closed = (size_t)v;
    if (f[B_DATA_DIR].key)
        read_string(ld, &f[B_DATA_DIR], "broker", &c->data_dir);
    if (f[B_RETENTION].key)
        read_duration(ld, &f[B_RETENTION], "broker", &c->retention_ms);
    if (f[B_DEDUP].key)
        read_duration(ld, &f[B_DEDUP], "broker", &c->dedup_window_ms);
    if (f[B_RATE].key)
        read_rate(ld, &f[B_RATE], c);
}

/* ---- agencies ---- */

static const char *const agency_keys[] = {"name_fa", "name_en"};

static int by_id_order(const void *a, const void *b)
{
    const agency_t *x = *(const agency_t *const *)a, *y = *(const agency_t *const *)b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x > y) - (x < y);
}

static void read_agency(struct loader *ld, const struct node *key, agency_t *a)
{
    struct field f[2];
    char where[QUOTE_MAX + 16];

    snprintf(where, sizeof where, "agency \"%s\"", quote(ld, key));
    a->id = keep_string(ld, key->text, key->len);
    a->name_fa = a->name_en = "";
    if (!table_is_name(key->text, key->len, ID_MAX))
        fail(ld, key, "bad agency id \"%s\" (expected [a-z0-9_-], 1 to %d characters)",
             quote(ld, key), ID_MAX);
    if (read_map(ld, key->next, where, agency_keys, 2, f) < 0)
        return;
    if (!f[0].key && !f[1].key)
        fail(ld, key->next, "%s needs name_fa or name_en", where);
    if (f[0].key)
        read_string(ld, &f[0], where, &a->name_fa);
    if (f[1].key)
        read_string(ld, &f[1], where, &a->name_en);
}

static void read_agencies(struct loader *ld, const struct node *root, const struct field *top)
{
    table_t *t = ld->t;
    const struct node **keys;

    if (!top->key) {
        missing(ld, root, "agencies", "the top-level map");
        return;
    }
    if (!is_kind(ld, top->value, NODE_MAP, "agencies"))
        return;
    size_t n = top->value->n_children / 2;
    if (n == 0)
        fail(ld, top->value, "agencies must name at least one agency");
    t->agencies = keep_array(ld, n, sizeof *t->agencies);
    t->by_id = keep_array(ld, n, sizeof *t->by_id);
    keys = scratch_alloc(ld, n * sizeof *keys);
    if (!t->agencies || !t->by_id || !keys)
        return;
    for (const struct node *k = top->value->child; k; k = k->next->next) {
        if (k->kind != NODE_SCALAR)
            continue;
        if (t->n_agencies == TABLE_MAX_AGENCIES) {
            fail(ld, k, "more than %d agencies", TABLE_MAX_AGENCIES);
            break;
        }
        keys[t->n_agencies] = k;
        read_agency(ld, k, &t->agencies[t->n_agencies]);
        t->by_id[t->n_agencies] = &t->agencies[t->n_agencies];
        t->n_agencies++;
    }
    if (ld->oom)
        return;
    qsort(t->by_id, t->n_agencies, sizeof *t->by_id, by_id_order);
    for (size_t i = 1; i < t->n_agencies; i++)
        if (strcmp(t->by_id[i - 1]->id, t->by_id[i]->id) == 0) {
            const struct node *first = keys[t->by_id[i - 1] - t->agencies];
            fail(ld, keys[t->by_id[i] - t->agencies],
                 "duplicate key \"%s\" in agencies (first on line %u)", quote(ld, first),
                 first->line);
        }
}

/* ---- calendars: deadlines counted in working time ---- */

#define TABLE_MAX_CALENDARS 64
static const char *const calendar_keys[] = {"days", "holidays", "utc_offset"};
enum { C_DAYS, C_HOLIDAYS, C_OFFSET, C_COUNT };
/* Iran's week: index = jalali_weekday() */
static const char *const day_keys[] = {"saturday",  "sunday",   "monday", "tuesday",
                                       "wednesday", "thursday", "friday"};

/* Exactly n decimal digits at s: their value, or -1. */
static int digits(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* "HH:MM", 00:00 to 24:00: minutes of the day, or -1. */
static int clock_time(const char *s)
{
    int h = digits(s, 2), m = digits(s + 3, 2);
    return s[2] == ':' && h >= 0 && m >= 0 && m < 60 && h * 60 + m <= 24 * 60 ? h * 60 + m : -1;
}

/* "off", or working hours "HH:MM-HH:MM" */
static void read_hours(struct loader *ld, const struct field *f, const char *where, int weekday,
                       workcal_t *clock)
{
    const struct node *v = scalar_of(ld, f, where);
    if (!v || text_is(v, "off"))
        return;
    int from = v->len == 11 && v->text[5] == '-' ? clock_time(v->text) : -1;
    int to = from >= 0 ? clock_time(v->text + 6) : -1;
    if (to <= from || workcal_set_day(clock, weekday, from, to) < 0)
        fail(ld, v, "bad hours \"%s\" for %s (expected off or HH:MM-HH:MM, the end after the "
                    "start)",
             quote(ld, v), field_name(ld, f, where));
}

/* Jalali dates "YYYY-MM-DD" */
static void read_holidays(struct loader *ld, const struct field *f, const char *where,
                          workcal_t *clock)
{
    if (!is_kind(ld, f->value, NODE_SEQ, field_name(ld, f, where)))
        return;
    for (const struct node *d = f->value->child; d; d = d->next) {
        if (d->kind == NODE_BAD)
            continue;
        bool shaped = d->kind == NODE_SCALAR && d->len == 10 && d->text[4] == '-' &&
                      d->text[7] == '-';
        int y = shaped ? digits(d->text, 4) : -1, m = shaped ? digits(d->text + 5, 2) : -1,
            day = shaped ? digits(d->text + 8, 2) : -1;
        if (y < 0 || m < 0 || day < 0 || workcal_add_holiday(clock, y, m, day) < 0)
            fail(ld, d, "bad holiday \"%s\" in %s (expected a Jalali date YYYY-MM-DD that "
                        "exists, as 1404-01-01)",
                 quote(ld, d), field_name(ld, f, where));
    }
}

/* "+03:30" (Iran since 1401 keeps no daylight saving time) */
static void read_offset(struct loader *ld, const struct field *f, const char *where,
                        workcal_t *clock)
{
    const struct node *v = scalar_of(ld, f, where);
    if (!v)
        return;
    int t = v->len == 6 && (v->text[0] == '+' || v->text[0] == '-') ? clock_time(v->text + 1) : -1;
    if (t < 0 || workcal_set_utc_offset(clock, v->text[0] == '-' ? -t : t) < 0)
        fail(ld, v, "bad utc_offset \"%s\" for %s (expected +HH:MM or -HH:MM)", quote(ld, v),
             field_name(ld, f, where));
}

static void read_calendar(struct loader *ld, const struct node *key, struct calendar *c)
{
    struct field f[C_COUNT], days[7];
    char where[QUOTE_MAX + 32];
    size_t errors = ld->n_errors;
    c->name = keep_string(ld, key->text, key->len);
    snprintf(where, sizeof where, "calendar \"%s\"", quote(ld, key));
    if (!table_is_name(key->text, key->len, 64))
        fail(ld, key, "bad calendar name \"%s\" (expected 1-64 of a-z 0-9 _ -)", quote(ld, key));
    else if (text_is(key, "none"))
        fail(ld, key, "\"none\" means no calendar: a calendar needs another name");
    if (!(c->clock = workcal_new())) {
        ld->oom = true;
        return;
    }
    if (read_map(ld, key->next, where, calendar_keys, C_COUNT, f) < 0)
        return;
    if (!f[C_DAYS].key)
        missing(ld, key->next, "days", where);
    else if (read_map(ld, f[C_DAYS].value, where, day_keys, 7, days) == 0)
        for (int d = 0; d < 7; d++)
            if (days[d].key)
                read_hours(ld, &days[d], where, d, c->clock);
    if (f[C_HOLIDAYS].key)
        read_holidays(ld, &f[C_HOLIDAYS], where, c->clock);
    if (f[C_OFFSET].key)
        read_offset(ld, &f[C_OFFSET], where, c->clock);
    if (f[C_DAYS].key && ld->n_errors == errors && workcal_add(c->clock, 0, 1) == UINT64_MAX)
        fail(ld, f[C_DAYS].key, "%s has no working hours: its deadlines would never come", where);
}

static void read_calendars(struct loader *ld, const struct field *top)
{
    table_t *t = ld->t;
    if (!top->key || !is_kind(ld, top->value, NODE_MAP, "calendars"))
        return;
    size_t n = top->value->n_children / 2;
    if (n > TABLE_MAX_CALENDARS) {
        fail(ld, top->value, "more than %d calendars", TABLE_MAX_CALENDARS);
        return;
    }
    t->calendars = keep_array(ld, n, sizeof *t->calendars);
    if (!t->calendars)
        return;
    for (const struct node *k = top->value->child; k; k = k->next->next) {
        if (k->kind != NODE_SCALAR)
            continue;
        for (size_t i = 0; i < t->n_calendars; i++)
            if (text_is(k, t->calendars[i].name))
                fail(ld, k, "duplicate key \"%s\" in calendars", quote(ld, k));
        read_calendar(ld, k, &t->calendars[t->n_calendars++]);
    }
}

/* ---- routes ---- */

struct policy {
    priority_t priority;
    uint64_t ack_within_ms, answer_within_ms;
    unsigned max_attempts;
    const workcal_t *clock;
};

/* The policy keys close the route's list, so defaults read them the same way. */
static const char *const route_keys[] = {"match",        "to",         "observe",
                                         "when",         "escalate",   "priority",
                                         "ack_within",   "answer_within",
                                         "max_attempts", "calendar"};
enum { R_MATCH, R_TO, R_OBSERVE, R_WHEN, R_ESCALATE, R_POLICY, R_COUNT = R_POLICY + 5 };
enum { P_PRIORITY, P_ACK, P_ANSWER, P_ATTEMPTS, P_CLOCK, P_COUNT };
static const char *const *const policy_keys = route_keys + R_POLICY;
static const char *const when_keys[] = {"kind"};

/* A calendar's name, or "none" (the default: deadlines in plain time). */
static int read_clock(struct loader *ld, const struct field *f, const char *where,
                      const workcal_t **clock)
{
    const struct node *v = scalar_of(ld, f, where);
    if (!v)
        return -1;
    if (text_is(v, "none")) {
        *clock = NULL;
        return 0;
    }
    for (size_t i = 0; i < ld->t->n_calendars; i++)
        if (text_is(v, ld->t->calendars[i].name)) {
            *clock = ld->t->calendars[i].clock;
            return 0;
        }
    fail(ld, v, "unknown calendar \"%s\" for %s (expected none or one of calendars)",
         quote(ld, v), field_name(ld, f, where));
    return -1;
}

/* Reads the policy keys present in f[] over p; -1 if any was bad. */
static int read_policy(struct loader *ld, const struct field *f, const char *where,
                       struct policy *p)
{
    int rc = 0;
    uint64_t attempts;

    if (f[P_PRIORITY].key) {
        const struct node *v = scalar_of(ld, &f[P_PRIORITY], where);
        if (!v) {
            rc = -1;
        } else if (priority_parse(v->text, v->len, &p->priority) < 0) {
            fail(ld, v, "bad priority \"%s\" for %s (expected routine or urgent)", quote(ld, v),
                 field_name(ld, &f[P_PRIORITY], where));
            rc = -1;
        }
    }
    if (f[P_ACK].key && read_duration(ld, &f[P_ACK], where, &p->ack_within_ms) < 0)
        rc = -1;
    if (f[P_ANSWER].key && read_duration(ld, &f[P_ANSWER], where, &p->answer_within_ms) < 0)
        rc = -1;
    if (f[P_ATTEMPTS].key) {
        if (read_uint(ld, &f[P_ATTEMPTS], where, 1, ATTEMPTS_MAX, &attempts) < 0)
            rc = -1;
        else
            p->max_attempts = (unsigned)attempts;
    }
    if (f[P_CLOCK].key && read_clock(ld, &f[P_CLOCK], where, &p->clock) < 0)
        rc = -1;
    if (rc == 0 && p->ack_within_ms > p->answer_within_ms && (f[P_ACK].key || f[P_ANSWER].key)) {
        char ack[32], answer[32];
        fail(ld, f[P_ACK].key ? f[P_ACK].value : f[P_ANSWER].value,
             "ack_within (%s) exceeds answer_within (%s) in %s",
             duration_format(p->ack_within_ms, ack, sizeof ack),
             duration_format(p->answer_within_ms, answer, sizeof answer), where);
        rc = -1;
    }
    return rc;
}

static void read_defaults(struct loader *ld, const struct field *top, struct policy *p)
{
    struct field f[P_COUNT];
    if (top->key && read_map(ld, top->value, "defaults", policy_keys, P_COUNT, f) == 0)
        read_policy(ld, f, "defaults", p);
}

/* A to/observe/escalate list: known agencies, no repeats. */
static void read_chain(struct loader *ld, const struct field *f, const char *where,
                       const unsigned **out, size_t *n_out)
{
    const char *name = field_name(ld, f, where);
    const struct node *list = f->value;
    size_t n = 0;

    if (!is_kind(ld, list, NODE_SEQ, name))
        return;
    if (list->n_children == 0 || list->n_children > TABLE_MAX_CHAIN) {
        fail(ld, list, "%s must list 1 to %d agencies", name, TABLE_MAX_CHAIN);
        return;
    }
    unsigned *chain = keep_array(ld, list->n_children, sizeof *chain);
    if (!chain)
        return;
    for (const struct node *item = list->child; item; item = item->next) {
        if (!is_kind(ld, item, NODE_SCALAR, name))
            continue;
        int a = table_agency_find(ld->t, item->text, item->len);
        bool repeated = false;
        for (size_t i = 0; i < n && !repeated; i++)
            repeated = chain[i] == (unsigned)a;
        if (a < 0 && ld->t->n_agencies == 0)
            continue; /* the agencies themselves are reported missing or wrong */
        if (a < 0)
            fail(ld, item, "unknown agency \"%s\" in %s", quote(ld, item), where);
        else if (repeated)
            fail(ld, item, "agency \"%s\" appears twice in %s", item->text, name);
        else
            chain[n++] = (unsigned)a;
    }
    *out = chain;
    *n_out = n;
}

static void read_when(struct loader *ld, const struct field *f, const char *where, route_t *r)
{
    struct field kind;
    char when[QUOTE_MAX + 48];

    snprintf(when, sizeof when, "\"when\" in %s", where);
    if (read_map(ld, f->value, when, when_keys, 1, &kind) < 0)
        return;
    if (!kind.key) {
        missing(ld, f->value, "kind", when);
        return;
    }
    const struct node *v = scalar_of(ld, &kind, when);
    if (!v)
        return;
    if (!table_is_name(v->text, v->len, KIND_MAX))
        fail(ld, v, "bad kind \"%s\" in %s (expected [a-z0-9_-], 1 to %d characters)",
             quote(ld, v), when, KIND_MAX);
    else
        r->when_kind = keep_string(ld, v->text, v->len);
}

static void read_match(struct loader *ld, const struct node *map, const struct field *f,
                       const char *where, route_t *r)
{
    const char *why;
    if (!f->key) {
        missing(ld, map, "match", where);
        return;
    }
    const struct node *v = scalar_of(ld, f, where);
    if (!v)
        return;
    if (!topic_pattern_valid(v->text, v->len, &why))
        fail(ld, v, "bad pattern \"%s\" in %s: %s", quote(ld, v), where, why);
    else
        r->match = keep_string(ld, v->text, v->len);
}

static void read_route(struct loader *ld, const struct node *map, size_t index,
                       const struct policy *defaults, route_t *r)
{
    struct field f[R_COUNT];
    struct policy p = *defaults;
    char where[QUOTE_MAX + 32];

    snprintf(where, sizeof where, "route %zu", index + 1);
    for (const struct node *k = map->kind == NODE_MAP ? map->child : NULL; k; k = k->next->next)
        if (text_is(k, "match") && k->next->kind == NODE_SCALAR)
            snprintf(where, sizeof where, "route \"%s\"", quote(ld, k->next));
    r->line = map->child ? map->child->line : map->line;
    if (read_map(ld, map, where, route_keys, R_COUNT, f) < 0)
        return;
    read_match(ld, map, &f[R_MATCH], where, r);
    if (f[R_TO].key)
        read_chain(ld, &f[R_TO], where, &r->to, &r->n_to);
    if (f[R_OBSERVE].key)
        read_chain(ld, &f[R_OBSERVE], where, &r->observe, &r->n_observe);
    if (f[R_ESCALATE].key)
        read_chain(ld, &f[R_ESCALATE], where, &r->escalate, &r->n_escalate);
    if (f[R_WHEN].key)
        read_when(ld, &f[R_WHEN], where, r);
    if (!f[R_TO].key && !f[R_OBSERVE].key)
        fail(ld, map, "%s needs \"to\" or \"observe\"", where);
    if (!f[R_TO].key)
        for (size_t i = R_ESCALATE; i < R_COUNT; i++)
            if (f[i].key)
                fail(ld, f[i].key, "\"%s\" in %s means nothing without \"to\"", route_keys[i],
                     where);
    read_policy(ld, f + R_POLICY, where, &p);
    r->priority = p.priority;
    r->ack_within_ms = p.ack_within_ms;
    r->answer_within_ms = p.answer_within_ms;
    r->max_attempts = p.max_attempts;
    r->clock = p.clock;
}

static void read_routes(struct loader *ld, const struct node *root, const struct field *top,
                        const struct policy *defaults)
{
    table_t *t = ld->t;
    if (!top->key) {
        missing(ld, root, "routes", "the top-level map");
        return;
    }
    if (!is_kind(ld, top->value, NODE_SEQ, "routes"))
        return;
    size_t n = top->value->n_children;
    if (n == 0 || n > TABLE_MAX_ROUTES) {
        fail(ld, top->value, "routes must list 1 to %d routes", TABLE_MAX_ROUTES);
        return;
    }
    t->routes = keep_array(ld, n, sizeof *t->routes);
    if (!t->routes)
        return;
    memset(t->routes, 0, n * sizeof *t->routes);
    for (const struct node *item = top->value->child; item; item = item->next) {
        read_route(ld, item, t->n_routes, defaults, &t->routes[t->n_routes]);
        t->n_routes++;
    }
}

/* ---- security ---- */

static const char *const key_roles[] = {"worker", "gateway", "dashboard"};

int key_role_parse(const char *s, size_t n, key_role_t *role)
{
    for (size_t i = 0; i < sizeof key_roles / sizeof *key_roles; i++)
        if (strlen(key_roles[i]) == n && memcmp(key_roles[i], s, n) == 0) {
            *role = (key_role_t)i;
            return 0;
        }
    return -1;
}

static const char *const security_keys[] = {"curve", "server_cert", "keys_dir", "keys"};
enum { S_CURVE, S_SERVER_CERT, S_KEYS_DIR, S_KEYS, S_COUNT };
static const char *const peer_key_keys[] = {"name", "role", "agency", "public_key"};
enum { K_NAME, K_ROLE, K_AGENCY, K_PUBLIC, K_COUNT };
#define TABLE_MAX_KEYS 4096

static void read_peer_key(struct loader *ld, const struct node *map, size_t index,
                          table_key_t *k)
{
    struct field f[K_COUNT];
    char where[48];
    snprintf(where, sizeof where, "security key %zu", index + 1);
    if (read_map(ld, map, where, peer_key_keys, K_COUNT, f) < 0)
        return;
    for (size_t i = 0; i < K_COUNT; i++)
        if (!f[i].key && i != K_AGENCY)
            missing(ld, map, peer_key_keys[i], where);
    if (f[K_NAME].key && read_string(ld, &f[K_NAME], where, &k->name) == 0 &&
        !table_is_name(k->name, strlen(k->name), 64))
        fail(ld, f[K_NAME].value, "bad key name \"%s\" in %s (expected 1-64 of a-z 0-9 _ -)",
             quote(ld, f[K_NAME].value), where);
    const struct node *v = f[K_ROLE].key ? scalar_of(ld, &f[K_ROLE], where) : NULL;
    if (v && key_role_parse(v->text, v->len, &k->role) < 0) {
        fail(ld, v, "bad role \"%s\" in %s (expected worker, gateway or dashboard)", quote(ld, v),
             where);
        v = NULL; /* no role: nothing more to say of its agency */
    }
    if (f[K_AGENCY].key && read_string(ld, &f[K_AGENCY], where, &k->agency) == 0 &&
        table_agency_find(ld->t, k->agency, strlen(k->agency)) < 0)
        fail(ld, f[K_AGENCY].value, "unknown agency \"%s\" in %s", quote(ld, f[K_AGENCY].value),
             where);
    if (v && k->role == KEY_WORKER && !f[K_AGENCY].key)
        fail(ld, map, "%s: a worker's key needs \"agency\"", where);
    if (v && k->role != KEY_WORKER && f[K_AGENCY].key)
        fail(ld, f[K_AGENCY].key, "%s: only a worker's key has an agency", where);
    if (f[K_PUBLIC].key && read_string(ld, &f[K_PUBLIC], where, &k->public_key) == 0 &&
        !miz_key_valid(k->public_key, strlen(k->public_key)))
        fail(ld, f[K_PUBLIC].value, "bad public_key in %s (expected 40 characters of Z85, as "
                                    "miz keygen writes)",
             where);
}

static void read_security(struct loader *ld, const struct field *top)
{
    security_conf_t *s = &ld->t->conf.security;
    struct field f[S_COUNT];
    if (!top->key || read_map(ld, top->value, "security", security_keys, S_COUNT, f) < 0)
        return;
    if (f[S_CURVE].key) {
        const struct node *v = scalar_of(ld, &f[S_CURVE], "security");
        if (v && text_is(v, "on"))
            s->curve = CURVE_ON;
        else if (v && text_is(v, "off"))
            s->curve = CURVE_OFF;
        else if (v && !text_is(v, "auto"))
            fail(ld, v, "bad curve \"%s\" in security (expected auto, on or off)", quote(ld, v));
    }
    if (f[S_SERVER_CERT].key)
        read_string(ld, &f[S_SERVER_CERT], "security", &s->server_cert);
    if (f[S_KEYS_DIR].key)
        read_string(ld, &f[S_KEYS_DIR], "security", &s->keys_dir);
    if (!f[S_KEYS].key || !is_kind(ld, f[S_KEYS].value, NODE_SEQ, "security keys"))
        return;
    size_t n = f[S_KEYS].value->n_children;
    if (n > TABLE_MAX_KEYS) {
        fail(ld, f[S_KEYS].value, "more than %d keys", TABLE_MAX_KEYS);
        return;
    }
    table_key_t *keys = keep_array(ld, n, sizeof *keys);
    if (!keys)
        return;
    memset(keys, 0, n * sizeof *keys);
    for (const struct node *item = f[S_KEYS].value->child; item; item = item->next)
        read_peer_key(ld, item, s->n_keys, &keys[s->n_keys]), s->n_keys++;
    s->keys = keys;
}

/* ---- loading ---- */

static const char *const top_keys[] = {"broker",   "calendars", "defaults",
                                       "agencies", "routes",    "security"};
enum { T_BROKER, T_CALENDARS, T_DEFAULTS, T_AGENCIES, T_ROUTES, T_SECURITY, T_COUNT };

static void read_table(struct loader *ld, const struct node *root)
{
    struct field f[T_COUNT];
    struct policy defaults = {PRIO_ROUTINE, 5 * 60 * 1000, 24 * 3600 * 1000, 3, NULL};

    ld->t->conf = (broker_conf_t){
        .name = "miz",
        .clients_endpoint = "tcp://127.0.0.1:7370",
        .workers_endpoint = "tcp://127.0.0.1:7371",
        .events_endpoint = "tcp://127.0.0.1:7372",
        .heartbeat_ms = 1000,
        .max_message = 1048576,
        .max_open = 1000000,
        .retain_closed = 100000,
        .data_dir = "/var/lib/miz",
        .retention_ms = 400ull * 24 * 3600 * 1000,
        .dedup_window_ms = 24ull * 3600 * 1000,
    };
    if (root->kind != NODE_MAP) {
        if (root->kind != NODE_BAD)
            fail(ld, root, "the top level must be a map of broker, calendars, defaults, agencies, "
                           "routes, security");
        return;
    }
    read_map(ld, root, "the top-level map", top_keys, T_COUNT, f);
    read_broker(ld, &f[T_BROKER]);
    read_calendars(ld, &f[T_CALENDARS]);
    read_defaults(ld, &f[T_DEFAULTS], &defaults);
    read_agencies(ld, root, &f[T_AGENCIES]);
    read_routes(ld, root, &f[T_ROUTES], &defaults);
    read_security(ld, &f[T_SECURITY]);
}

static int error_order(const void *a, const void *b)
{
    const struct error *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Appends one line to *out; a failed allocation leaves the lines so far. */
static void append_line(char **out, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void append_line(char **out, size_t *len, const char *fmt, ...)
{
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    char *grown = n < 0 ? NULL : realloc(*out, *len + (size_t)n + 2);
    if (grown) {
        vsnprintf(grown + *len, (size_t)n + 1, fmt, again);
        *len += (size_t)n;
        grown[(*len)++] = '\n';
        grown[*len] = '\0';
        *out = grown;
    }
    va_end(again);
    va_end(ap);
}

static char *error_text(struct loader *ld)
{
    char *out = NULL;
    size_t len = 0;

    qsort(ld->errors, ld->n_errors, sizeof *ld->errors, error_order);
    if (ld->oom)
        append_line(&out, &len, "%s: out of memory", ld->name);
    for (size_t i = 0; i < ld->n_errors; i++) {
        const struct error *e = &ld->errors[i];
        if (e->line)
            append_line(&out, &len, "%s:%u:%u: %s", ld->name, e->line, e->col, e->msg);
        else
            append_line(&out, &len, "%s: %s", ld->name, e->msg);
    }
    if (ld->too_many)
        append_line(&out, &len, "%s: too many errors, stopped after %d", ld->name, ERRORS_MAX);
    return out;
}

static table_t *finish(struct loader *ld, char **errors)
{
    table_t *t = ld->t;
    *errors = NULL;
    if (ld->oom || ld->n_errors) {
        *errors = error_text(ld);
        table_destroy(&t);
    }
    arena_clear(&ld->scratch);
    return t;
}

table_t *table_parse(const char *text, size_t len, const char *name, char **errors)
{
    struct loader ld = {.name = name, .text = text, .len = len};

    ld.t = calloc(1, sizeof *ld.t);
    if (!ld.t)
        ld.oom = true;
    else if (len > FILE_MAX)
        fail_at(&ld, 0, 0, "larger than %zu bytes", FILE_MAX);
    else {
        const struct node *root = read_tree(&ld);
        if (root && !ld.oom)
            read_table(&ld, root);
    }
    return finish(&ld, errors);
}

table_t *table_load(const char *path, char **errors)
{
    FILE *f = fopen(path, "rb");
    char *text = malloc(FILE_MAX + 1);
    size_t len = 0;
    int err = 0;

    if (!f || !text) {
        err = f ? ENOMEM : errno;
    } else {
        len = fread(text, 1, FILE_MAX + 1, f);
        if (ferror(f))
            err = errno ? errno : EIO;
    }
    if (f)
        fclose(f);
    table_t *t = NULL;
    if (err) {
        struct loader ld = {.name = path};
        fail_at(&ld, 0, 0, "cannot read: %s", strerror(err));
        t = finish(&ld, errors);
    } else {
        t = table_parse(text, len, path, errors);
    }
    free(text);
    return t;
}

void table_destroy(table_t **table)
{
    if (!table || !*table)
        return;
    for (size_t i = 0; i < (*table)->n_calendars; i++)
        workcal_destroy(&(*table)->calendars[i].clock);
    arena_clear(&(*table)->arena);
    free(*table);
    *table = NULL;
}

const broker_conf_t *table_conf(const table_t *t)
{
    return &t->conf;
}

size_t table_agency_count(const table_t *t)
{
    return t->n_agencies;
}

const agency_t *table_agency(const table_t *t, size_t i)
{
    return i < t->n_agencies ? &t->agencies[i] : NULL;
}

struct id_key {
    const char *s;
    size_t n;
};

static int id_key_order(const void *key, const void *elem)
{
    const struct id_key *k = key;
    const char *id = (*(const agency_t *const *)elem)->id;
    int c = strncmp(k->s, id, k->n);
    return c ? c : -(id[k->n] != '\0');
}

int table_agency_find(const table_t *t, const char *id, size_t n)
{
    struct id_key key = {id, n};
    if (!t->by_id || memchr(id, '\0', n))
        return -1;
    const agency_t *const *found =
        bsearch(&key, t->by_id, t->n_agencies, sizeof *t->by_id, id_key_order);
    return found ? (int)(*found - t->agencies) : -1;
}

size_t table_route_count(const table_t *t)
{
    return t->n_routes;
}

const route_t *table_route(const table_t *t, size_t i)
{
    return i < t->n_routes ? &t->routes[i] : NULL;
}

void table_resolve(const table_t *t, const char *topic, size_t topic_len, const char *kind,
                   size_t kind_len, const route_t **route, unsigned *observers,
                   size_t *n_observers)
{
    bool seen[TABLE_MAX_AGENCIES] = {false};

    *route = NULL;
    *n_observers = 0;
    if (!topic_valid(topic, topic_len, NULL))
        return;
    for (size_t i = 0; i < t->n_routes; i++) {
        const route_t *r = &t->routes[i];
        if (r->when_kind && !(kind && strlen(r->when_kind) == kind_len &&
                              memcmp(r->when_kind, kind, kind_len) == 0))
            continue;
        if (!topic_match(r->match, strlen(r->match), topic, topic_len))
            continue;
        if (!*route && r->n_to > 0)
            *route = r;
        for (size_t j = 0; j < r->n_observe; j++)
            if (!seen[r->observe[j]]) {
                seen[r->observe[j]] = true;
                observers[(*n_observers)++] = r->observe[j];
            }
    }
}
