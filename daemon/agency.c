/* agency: the agencies the engine serves and the routings that index them.
 *
 * A delivery names its agency by the engine's own index, stable for the
 * life of the process. Every table loaded since start adds its agencies, so
 * a request routed by an old table, or recovered from the store, keeps an
 * agency that a reload removed; a routing maps one table's agency indices
 * to the engine's, and lives while requests routed by it are open. */
#include "engine_int.h"

#include <stdlib.h>
#include <string.h>

const char *agency_id(const engine_t *e, uint32_t agency)
{
    return e->agencies[agency].id;
}

/* The engine's index of the agency with that id, or -1. */
int agency_find(const engine_t *e, const char *id, size_t n)
{
    int i = e->routing ? table_agency_find(e->routing->table, id, n) : -1;
    if (i >= 0)
        return (int)e->routing->agency[i];
    for (size_t k = 0; k < e->n_agencies; k++) /* one a reload removed */
        if (strlen(e->agencies[k].id) == n && memcmp(e->agencies[k].id, id, n) == 0)
            return (int)k;
    return -1;
}

/* The engine's index of agency i of the table that routed r. */
uint32_t route_agency(const request_t *r, unsigned i)
{
    return r->routing->agency[i];
}

/* The engine's index of the agency with that id, added if it is new. */
uint32_t agency_intern(engine_t *e, const char *id, size_t n)
{
    int found = agency_find(e, id, n);
    if (found >= 0)
        return (uint32_t)found;
    size_t k = e->n_agencies++;
    e->agencies = xrealloc(e->agencies, e->n_agencies * sizeof *e->agencies);
    memset(&e->agencies[k], 0, sizeof *e->agencies);
    e->agencies[k].id = xstrndup(id, n);
    return (uint32_t)k;
}

/* Makes the routing of table t, adding its new agencies to the engine's. */
routing_t *routing_new(engine_t *e, table_t *t)
{
    size_t n = table_agency_count(t);
    routing_t *g = xcalloc(1, sizeof *g);
    g->table = t;
    g->agency = xcalloc(n ? n : 1, sizeof *g->agency);
    g->refs = 1;
    for (size_t i = 0; i < n; i++) {
        const char *id = table_agency(t, i)->id;
        g->agency[i] = agency_intern(e, id, strlen(id));
    }
    return g;
}

void routing_release(routing_t **gp)
{
    routing_t *g = *gp;
    if (g && --g->refs == 0) {
        table_destroy(&g->table);
        free(g->agency);
        free(g);
    }
    *gp = NULL;
}

