/* table: the loaded routing table at run time, and the memory it lives in.
 *
 * Loading is the other files' work (table_load.c and the files it calls);
 * this one holds what the daemon uses once a table is loaded: the names of
 * priorities, the arena every table and load allocates from, the accessors,
 * the agency lookup by id and table_resolve, which routes a submission. */
#include "table_int.h"

#include "topic.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK_MIN 16384

const char *priority_name(priority_t p)
{
    return (unsigned)p < PRIO_COUNT ? miz_priority_names[p] : "?";
}

int priority_parse(const char *s, size_t n, priority_t *p)
{
    int i = MIZ_NAME_FIND(miz_priority_names, s, n);
    if (i < 0)
        return -1;
    *p = (priority_t)i;
    return 0;
}

void *table_arena_alloc(struct arena *a, size_t n)
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

char *table_arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = table_arena_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void table_arena_clear(struct arena *a)
{
    while (a->head) {
        struct chunk *next = a->head->next;
        free(a->head);
        a->head = next;
    }
}

void table_destroy(table_t **table)
{
    if (!table || !*table)
        return;
    for (size_t i = 0; i < (*table)->n_calendars; i++)
        workcal_destroy(&(*table)->calendars[i].clock);
    table_arena_clear(&(*table)->arena);
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

static int table_id_key_order(const void *key, const void *elem)
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
        bsearch(&key, t->by_id, t->n_agencies, sizeof *t->by_id, table_id_key_order);
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
                   size_t kind_len, const route_t **route, unsigned *observers, size_t *n_observers)
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
