/* table_load: loading a routing table, and every error it reports.
 *
 * A load reads the file, has table_tree.c turn it into a tree of nodes, then
 * reads the top level's sections with the other table_*.c files. Each
 * problem found is collected here with its position and reported, sorted by
 * line and column, as "file:line:column: what is wrong"; a load with any
 * error yields no table at all. */
#include "table_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILE_MAX ((size_t)1 << 20)

/* ---- errors ---- */

void *load_scratch(struct loader *ld, size_t n)
{
    void *p = table_arena_alloc(&ld->scratch, n);
    if (!p)
        ld->oom = true;
    return p;
}

static void load_vfail_at(struct loader *ld, unsigned line, unsigned col, const char *fmt,
                          va_list ap) __attribute__((format(printf, 4, 0)));

static void load_vfail_at(struct loader *ld, unsigned line, unsigned col, const char *fmt,
                          va_list ap)
{
    if (ld->n_errors == ERRORS_MAX) {
        ld->too_many = true;
        return;
    }
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    char *msg = n < 0 ? NULL : load_scratch(ld, (size_t)n + 1);
    if (msg)
        vsnprintf(msg, (size_t)n + 1, fmt, again);
    va_end(again);
    if (msg) {
        ld->errors[ld->n_errors] = (struct error){line, col, ld->n_errors, msg};
        ld->n_errors++;
    }
}

void load_fail_at(struct loader *ld, unsigned line, unsigned col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    load_vfail_at(ld, line, col, fmt, ap);
    va_end(ap);
}

void load_fail(struct loader *ld, const struct node *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    load_vfail_at(ld, at->line, at->col, fmt, ap);
    va_end(ap);
}

char *load_keep_string(struct loader *ld, const char *s, size_t n)
{
    char *p = table_arena_strndup(&ld->t->arena, s, n);
    if (!p)
        ld->oom = true;
    return p;
}

void *load_keep_array(struct loader *ld, size_t n, size_t size)
{
    void *p = table_arena_alloc(&ld->t->arena, n * size);
    if (!p)
        ld->oom = true;
    return p;
}

const char *load_quote(struct loader *ld, const struct node *n)
{
    size_t len = n->len;
    if (len > QUOTE_MAX) {
        len = QUOTE_MAX;
        while (len > 0 && ((unsigned char)n->text[len] & 0xC0) == 0x80)
            len--;
    }
    char *q = load_scratch(ld, len + 4);
    if (!q)
        return "";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)n->text[i];
        q[i] = c < 0x20 || c == 0x7F || c == '"' ? '?' : (char)c;
    }
    strcpy(q + len, len < n->len ? "..." : "");
    return q;
}

/* ---- loading ---- */

static const char *const top_keys[] = {"broker", "calendars", "defaults", "agencies",
                                       "routes", "security",  "reports"};
enum { T_BROKER, T_CALENDARS, T_DEFAULTS, T_AGENCIES, T_ROUTES, T_SECURITY, T_REPORTS, T_COUNT };

static void load_read_table(struct loader *ld, const struct node *root)
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
        .pending_outcomes = 10000,
        .data_dir = "/var/lib/miz",
        .lease_ms = 2000,
        .retention_ms = 400ull * 24 * 3600 * 1000,
        .dedup_window_ms = 24ull * 3600 * 1000,
    };
    if (root->kind != NODE_MAP) {
        if (root->kind != NODE_BAD)
            load_fail(ld, root,
                      "the top level must be a map of broker, calendars, defaults, agencies, "
                      "routes, security, reports");
        return;
    }
    schema_read_map(ld, root, "the top-level map", top_keys, T_COUNT, f);
    conf_read_broker(ld, &f[T_BROKER]);
    schema_read_calendars(ld, &f[T_CALENDARS]);
    route_read_defaults(ld, &f[T_DEFAULTS], &defaults);
    schema_read_agencies(ld, root, &f[T_AGENCIES]);
    route_read_all(ld, root, &f[T_ROUTES], &defaults);
    conf_read_security(ld, &f[T_SECURITY]);
    reports_read(ld, &f[T_REPORTS]);
}

static int load_error_order(const void *a, const void *b)
{
    const struct error *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Appends one line to *out; a failed allocation leaves the lines so far. */
static void load_append_line(char **out, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void load_append_line(char **out, size_t *len, const char *fmt, ...)
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

static char *load_error_text(struct loader *ld)
{
    char *out = NULL;
    size_t len = 0;

    qsort(ld->errors, ld->n_errors, sizeof *ld->errors, load_error_order);
    if (ld->oom)
        load_append_line(&out, &len, "%s: out of memory", ld->name);
    for (size_t i = 0; i < ld->n_errors; i++) {
        const struct error *e = &ld->errors[i];
        if (e->line)
            load_append_line(&out, &len, "%s:%u:%u: %s", ld->name, e->line, e->col, e->msg);
        else
            load_append_line(&out, &len, "%s: %s", ld->name, e->msg);
    }
    if (ld->too_many)
        load_append_line(&out, &len, "%s: too many errors, stopped after %d", ld->name, ERRORS_MAX);
    return out;
}

static table_t *load_finish(struct loader *ld, char **errors)
{
    table_t *t = ld->t;
    *errors = NULL;
    if (ld->oom || ld->n_errors) {
        *errors = load_error_text(ld);
        table_destroy(&t);
    }
    table_arena_clear(&ld->scratch);
    return t;
}

table_t *table_parse(const char *text, size_t len, const char *name, char **errors)
{
    struct loader ld = {.name = name, .text = text, .len = len};

    ld.t = calloc(1, sizeof *ld.t);
    if (!ld.t)
        ld.oom = true;
    else if (len > FILE_MAX)
        load_fail_at(&ld, 0, 0, "larger than %zu bytes", FILE_MAX);
    else {
        const struct node *root = tree_read(&ld);
        if (root && !ld.oom)
            load_read_table(&ld, root);
    }
    return load_finish(&ld, errors);
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
        load_fail_at(&ld, 0, 0, "cannot read: %s", strerror(err));
        t = load_finish(&ld, errors);
    } else {
        t = table_parse(text, len, path, errors);
    }
    free(text);
    return t;
}
