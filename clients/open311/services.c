/* services: the service list of GET services, read from the routing table
 * mizd routes by, so the two never disagree on what may be submitted.
 * Open311's service_code is a topic. A route whose match is a literal
 * topic offers it; a wildcard route offers the topics its `services` list
 * names (docs/routing.md). A topic is listed only when a plain request to
 * it reaches a route with targets: one a route before it shadows, or that
 * only a complaint reaches, would be refused by mizd as unknown_topic. */
#include <stdlib.h>
#include <string.h>

#include "o311_int.h"
#include "topic.h"

struct services {
    service_t *list;
    size_t n;
};

static bool services_routable(const table_t *t, const char *code)
{
    const route_t *route = NULL;
    unsigned observers[TABLE_MAX_AGENCIES];
    size_t n_observers = 0;
    table_resolve(t, code, strlen(code), "request", strlen("request"), &route, observers,
                  &n_observers);
    return route && route->n_to > 0;
}

static void services_add(services_t *s, const table_t *t, const char *code, const char *fa,
                         const char *en)
{
    if (services_find(s, code) || !services_routable(t, code))
        return;
    s->list[s->n++] = (service_t){code, fa, en};
}

services_t *services_new(const table_t *t)
{
    services_t *s = calloc(1, sizeof *s);
    size_t cap = 0, n_routes = table_route_count(t);
    for (size_t i = 0; i < n_routes; i++)
        cap += 1 + table_route(t, i)->n_services;
    if (!s || !(s->list = calloc(cap + 1, sizeof *s->list))) {
        free(s);
        return NULL;
    }
    for (size_t i = 0; i < n_routes; i++) {
        const route_t *r = table_route(t, i);
        if (r->n_to == 0)
            continue;
        if (!strpbrk(r->match, "*#"))
            services_add(s, t, r->match, r->name_fa, r->name_en);
        for (size_t j = 0; j < r->n_services; j++) {
            const route_service_t *item = &r->services[j];
            bool named = *item->name_fa || *item->name_en;
            services_add(s, t, item->code, named ? item->name_fa : r->name_fa,
                         named ? item->name_en : r->name_en);
        }
    }
    return s;
}

void services_destroy(services_t **sp)
{
    services_t *s = *sp;
    if (!s)
        return;
    free(s->list);
    free(s);
    *sp = NULL;
}

size_t services_count(const services_t *s)
{
    return s->n;
}

const service_t *services_find(const services_t *s, const char *code)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->list[i].code, code) == 0)
            return &s->list[i];
    return NULL;
}

static const char *services_pick(const o311_t *g, const char *fa, const char *en)
{
    const char *first = g->english ? en : fa, *second = g->english ? fa : en;
    return first && *first ? first : second && *second ? second : NULL;
}

const char *services_name(const o311_t *g, const char *code, size_t len)
{
    const char *fa = NULL, *en = NULL;
    for (size_t i = 0; i < g->services->n; i++) {
        const service_t *sv = &g->services->list[i];
        if (strlen(sv->code) == len && memcmp(sv->code, code, len) == 0) {
            fa = sv->name_fa;
            en = sv->name_en;
        }
    }
    if (!fa && !en)
        table_topic_names(g->table, code, len, &fa, &en);
    return services_pick(g, fa, en);
}

void services_write(const o311_t *g, doc_t *d)
{
    for (size_t i = 0; i < g->services->n; i++) {
        const service_t *sv = &g->services->list[i];
        const char *name = services_pick(g, sv->name_fa, sv->name_en);
        /* the other language's name, for a bilingual client */
        const char *other = g->english ? sv->name_fa : sv->name_en;
        doc_begin(d);
        doc_cstr(d, "service_code", sv->code);
        doc_cstr(d, "service_name", name ? name : sv->code);
        doc_cstr(d, "description", other && *other ? other : NULL);
        doc_bool(d, "metadata", false);
        doc_cstr(d, "type", "realtime");
        doc_str(d, "keywords", NULL, 0);
        doc_str(d, "group", sv->code, strcspn(sv->code, "."));
        doc_end(d);
    }
}
