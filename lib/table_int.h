/* table_int: what the routing table's source files share, and no one else.
 *
 * lib/table.h is the table's public face. Loading one is split by concern
 * across table_load.c (the loader: its errors, the top level, the entry
 * points), table_tree.c (libyaml's events to a tree of nodes with their
 * positions), table_schema.c (reading typed fields, agencies, calendars),
 * table_route.c (routes and their policies), table_conf.c (the broker's
 * and security settings) and table.c (the loaded table at run time). They
 * meet in the types below: a loaded table, the loader that collects every
 * "file:line:column: what is wrong", and the nodes the schema reads. */
#ifndef MIZ_TABLE_INT_H
#define MIZ_TABLE_INT_H

#include "table.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ERRORS_MAX 100
#define QUOTE_MAX 64      /* bytes of a user's string quoted in a message */
#define TABLE_NAME_MAX 64 /* a calendar's or a key's name */

/* ---- the arena (table.c) ----
 * Everything a table or a load holds lives in one arena, freed at once. */
struct chunk {
    struct chunk *next;
    size_t used, size;
    max_align_t data[];
};

struct arena {
    struct chunk *head;
};

void *table_arena_alloc(struct arena *a, size_t n);
char *table_arena_strndup(struct arena *a, const char *s, size_t n);
void table_arena_clear(struct arena *a);

struct calendar {
    const char *name;
    workcal_t *clock;
    unsigned line, col; /* its name's place in the file */
    int *years;         /* the Jalali years of its holidays, as listed (repeats kept) */
    size_t n_years;
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
    table_reports_t *reports; /* NULL: no reports section */
};

/* ---- the tree (table_tree.c) ----
 * The document as a tree, so the schema can be checked with positions.
 * NODE_BAD stands where an error was already reported (an alias, a string
 * that is not UTF-8): the schema passes over it silently. A map's children
 * alternate key, value. */
enum node_kind { NODE_SCALAR, NODE_MAP, NODE_SEQ, NODE_BAD };

struct node {
    enum node_kind kind;
    bool plain;         /* scalars: unquoted */
    bool flow;          /* maps and lists: in [ ] or { } */
    unsigned line, col; /* 1-based */
    const char *text;   /* scalars: NUL-terminated */
    size_t len;
    size_t n_children;
    struct node *child, *last, *next;
};

/* ---- the loader (table_load.c) ---- */
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
void *load_scratch(struct loader *ld, size_t n);
/* An error at line:col (0:0: the whole file), or at a node. */
void load_fail_at(struct loader *ld, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void load_fail(struct loader *ld, const struct node *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* In the table's own arena: what outlives the load. */
char *load_keep_string(struct loader *ld, const char *s, size_t n);
void *load_keep_array(struct loader *ld, size_t n, size_t size);
/* A user's string as messages quote it: short, on one line, whole characters. */
const char *load_quote(struct loader *ld, const struct node *n);

/* The root of the first document, or NULL when there is nothing to check. */
struct node *tree_read(struct loader *ld);

/* ---- the schema (table_schema.c) ---- */
struct field {
    const struct node *key, *value;
};

bool schema_text_is(const struct node *n, const char *s);
/* Whether n is of that kind; if not, says so unless it was already reported. */
bool schema_is_kind(struct loader *ld, const struct node *n, enum node_kind kind, const char *what);
/* "\"to\" in route \"x\"": how messages name a field. */
const char *schema_field_name(struct loader *ld, const struct field *f, const char *where);
/* Sorts map's entries into fields[] by the names expected there; 0, or -1
 * when the node is no map. Unknown and repeated keys are reported. */
int schema_read_map(struct loader *ld, const struct node *map, const char *where,
                    const char *const *names, size_t n_names, struct field *fields);
void schema_missing(struct loader *ld, const struct node *map, const char *key, const char *where);
const struct node *schema_scalar_of(struct loader *ld, const struct field *f, const char *where);
int schema_read_string(struct loader *ld, const struct field *f, const char *where,
                       const char **out);
/* Plain decimal only: YAML 1.1 would read 010 as octal and 0x10 as hex. */
int schema_read_uint(struct loader *ld, const struct field *f, const char *where, uint64_t min,
                     uint64_t max, uint64_t *out);
int schema_read_duration(struct loader *ld, const struct field *f, const char *where,
                         uint64_t *out);
void schema_read_agencies(struct loader *ld, const struct node *root, const struct field *top);
void schema_read_calendars(struct loader *ld, const struct field *top);

/* ---- routes (table_route.c) ---- */
struct policy {
    priority_t priority;
    uint64_t ack_within_ms, answer_within_ms;
    unsigned max_attempts;
    const workcal_t *clock;
};

void route_read_defaults(struct loader *ld, const struct field *top, struct policy *p);
void route_read_all(struct loader *ld, const struct node *root, const struct field *top,
                    const struct policy *defaults);

/* ---- settings (table_conf.c) ---- */
void conf_read_broker(struct loader *ld, const struct field *top);
void conf_read_security(struct loader *ld, const struct field *top);

/* ---- the weekly reports' schedule (table_reports.c) ---- */
void reports_read(struct loader *ld, const struct field *top);

#endif
