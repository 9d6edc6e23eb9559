/* table_route: the routes, and the policies of their deadlines.
 *
 * A route matches topics (and maybe a kind) to the agencies that answer
 * (to), watch (observe) and take over (escalate); its policy (priority, the
 * ack and answer deadlines, offers before escalating, the calendar they are
 * counted in) is its own or the defaults'. Routes name agencies and
 * calendars, so they are read after both. A route may give its topics
 * names for people (name_fa, name_en: "نشت آب", not utility.water.leak);
 * table_topic_names finds them. It may list the topics it offers
 * (services), for gateways that show citizens what they may submit; the
 * broker routes by match alone. */
#include "table_int.h"

#include "duration.h"
#include "topic.h"

#include <stdio.h>
#include <string.h>

#define ATTEMPTS_MAX 100

/* The policy keys close the route's list, so defaults read them the same way. */
static const char *const route_keys[] = {
    "match",    "to",       "observe",    "when",          "escalate",     "name_fa", "name_en",
    "services", "priority", "ack_within", "answer_within", "max_attempts", "calendar"};
enum {
    R_MATCH, R_TO, R_OBSERVE, R_WHEN, R_ESCALATE, R_NAME_FA, R_NAME_EN, R_SERVICES, R_POLICY,
    R_COUNT = R_POLICY + 5
};
enum { P_PRIORITY, P_ACK, P_ANSWER, P_ATTEMPTS, P_CLOCK, P_COUNT };
static const char *const *const policy_keys = route_keys + R_POLICY;
static const char *const when_keys[] = {"kind"};
static const char *const service_keys[] = {"code", "name_fa", "name_en"};
enum { S_CODE, S_NAME_FA, S_NAME_EN, S_COUNT };

/* A calendar's name, or "none" (the default: deadlines in plain time). */
static int route_read_clock(struct loader *ld, const struct field *f, const char *where,
                            const workcal_t **clock)
{
    const struct node *v = schema_scalar_of(ld, f, where);
    if (!v)
        return -1;
    if (schema_text_is(v, "none")) {
        *clock = NULL;
        return 0;
    }
    for (size_t i = 0; i < ld->t->n_calendars; i++)
        if (schema_text_is(v, ld->t->calendars[i].name)) {
            *clock = ld->t->calendars[i].clock;
            return 0;
        }
    load_fail(ld, v, "unknown calendar \"%s\" for %s (expected none or one of calendars)",
              load_quote(ld, v), schema_field_name(ld, f, where));
    return -1;
}

/* Reads the policy keys present in f[] over p; -1 if any was bad. */
static int route_read_policy(struct loader *ld, const struct field *f, const char *where,
                             struct policy *p)
{
    int rc = 0;
    uint64_t attempts;

    if (f[P_PRIORITY].key) {
        const struct node *v = schema_scalar_of(ld, &f[P_PRIORITY], where);
        if (!v) {
            rc = -1;
        } else if (priority_parse(v->text, v->len, &p->priority) < 0) {
            load_fail(ld, v, "bad priority \"%s\" for %s (expected routine or urgent)",
                      load_quote(ld, v), schema_field_name(ld, &f[P_PRIORITY], where));
            rc = -1;
        }
    }
    if (f[P_ACK].key && schema_read_duration(ld, &f[P_ACK], where, &p->ack_within_ms) < 0)
        rc = -1;
    if (f[P_ANSWER].key && schema_read_duration(ld, &f[P_ANSWER], where, &p->answer_within_ms) < 0)
        rc = -1;
    if (f[P_ATTEMPTS].key) {
        if (schema_read_uint(ld, &f[P_ATTEMPTS], where, 1, ATTEMPTS_MAX, &attempts) < 0)
            rc = -1;
        else
            p->max_attempts = (unsigned)attempts;
    }
    if (f[P_CLOCK].key && route_read_clock(ld, &f[P_CLOCK], where, &p->clock) < 0)
        rc = -1;
    if (rc == 0 && p->ack_within_ms > p->answer_within_ms && (f[P_ACK].key || f[P_ANSWER].key)) {
        char ack[32], answer[32];
        load_fail(ld, f[P_ACK].key ? f[P_ACK].value : f[P_ANSWER].value,
                  "ack_within (%s) exceeds answer_within (%s) in %s",
                  duration_format(p->ack_within_ms, ack, sizeof ack),
                  duration_format(p->answer_within_ms, answer, sizeof answer), where);
        rc = -1;
    }
    return rc;
}

void route_read_defaults(struct loader *ld, const struct field *top, struct policy *p)
{
    struct field f[P_COUNT];
    if (top->key && schema_read_map(ld, top->value, "defaults", policy_keys, P_COUNT, f) == 0)
        route_read_policy(ld, f, "defaults", p);
}

/* A to/observe/escalate list: known agencies, no repeats. */
static void route_read_chain(struct loader *ld, const struct field *f, const char *where,
                             const unsigned **out, size_t *n_out)
{
    const char *name = schema_field_name(ld, f, where);
    const struct node *list = f->value;
    size_t n = 0;

    if (!schema_is_kind(ld, list, NODE_SEQ, name))
        return;
    if (list->n_children == 0 || list->n_children > TABLE_MAX_CHAIN) {
        load_fail(ld, list, "%s must list 1 to %d agencies", name, TABLE_MAX_CHAIN);
        return;
    }
    unsigned *chain = load_keep_array(ld, list->n_children, sizeof *chain);
    if (!chain)
        return;
    for (const struct node *item = list->child; item; item = item->next) {
        if (!schema_is_kind(ld, item, NODE_SCALAR, name))
            continue;
        int a = table_agency_find(ld->t, item->text, item->len);
        bool repeated = false;
        for (size_t i = 0; i < n && !repeated; i++)
            repeated = chain[i] == (unsigned)a;
        if (a < 0 && ld->t->n_agencies == 0)
            continue; /* the agencies themselves are reported missing or wrong */
        if (a < 0)
            load_fail(ld, item, "unknown agency \"%s\" in %s", load_quote(ld, item), where);
        else if (repeated)
            load_fail(ld, item, "agency \"%s\" appears twice in %s", item->text, name);
        else
            chain[n++] = (unsigned)a;
    }
    *out = chain;
    *n_out = n;
}

static void route_read_when(struct loader *ld, const struct field *f, const char *where, route_t *r)
{
    struct field kind;
    char when[QUOTE_MAX + 48];

    snprintf(when, sizeof when, "\"when\" in %s", where);
    if (schema_read_map(ld, f->value, when, when_keys, 1, &kind) < 0)
        return;
    if (!kind.key) {
        schema_missing(ld, f->value, "kind", when);
        return;
    }
    const struct node *v = schema_scalar_of(ld, &kind, when);
    if (!v)
        return;
    if (!table_is_name(v->text, v->len, MIZ_KIND_MAX))
        load_fail(ld, v, "bad kind \"%s\" in %s (expected [a-z0-9_-], 1 to %d characters)",
                  load_quote(ld, v), when, MIZ_KIND_MAX);
    else
        r->when_kind = load_keep_string(ld, v->text, v->len);
}

static void route_read_match(struct loader *ld, const struct node *map, const struct field *f,
                             const char *where, route_t *r)
{
    const char *why;
    if (!f->key) {
        schema_missing(ld, map, "match", where);
        return;
    }
    const struct node *v = schema_scalar_of(ld, f, where);
    if (!v)
        return;
    if (!topic_pattern_valid(v->text, v->len, &why))
        load_fail(ld, v, "bad pattern \"%s\" in %s: %s", load_quote(ld, v), where, why);
    else
        r->match = load_keep_string(ld, v->text, v->len);
}

/* One item of services: a topic, or {code, name_fa, name_en}. Returns its
 * topic's node, or NULL when it was reported bad. */
static const struct node *route_read_service_item(struct loader *ld, const struct node *item,
                                                  size_t index, const char *list,
                                                  const char *where, route_service_t *s)
{
    struct field f[S_COUNT];
    char name[2 * QUOTE_MAX + 64];

    s->name_fa = s->name_en = "";
    if (item->kind == NODE_SCALAR)
        return item;
    if (item->kind != NODE_MAP) {
        if (item->kind != NODE_BAD)
            load_fail(ld, item, "each item of %s must be a topic or a map of code, name_fa and"
                      " name_en, not a list", list);
        return NULL;
    }
    /* named by its code, as a route is by its match, so a long list stays readable */
    snprintf(name, sizeof name, "service %zu in %s", index + 1, where);
    for (const struct node *k = item->child; k; k = k->next->next)
        if (schema_text_is(k, "code") && k->next->kind == NODE_SCALAR)
            snprintf(name, sizeof name, "service \"%s\" in %s", load_quote(ld, k->next), where);
    schema_read_map(ld, item, name, service_keys, S_COUNT, f);
    if (f[S_NAME_FA].key)
        schema_read_string(ld, &f[S_NAME_FA], name, &s->name_fa);
    if (f[S_NAME_EN].key)
        schema_read_string(ld, &f[S_NAME_EN], name, &s->name_en);
    if (!f[S_CODE].key) {
        schema_missing(ld, item, "code", name);
        return NULL;
    }
    return schema_scalar_of(ld, &f[S_CODE], name);
}

/* services: the topics a route offers to gateways' menus, each one the
 * route's match matches (or a gateway would offer what goes elsewhere),
 * none twice. */
static void route_read_services(struct loader *ld, const struct field *f, const char *where,
                                route_t *r)
{
    const char *list = schema_field_name(ld, f, where);
    const struct node *seq = f->value;
    const char *why;
    size_t n = 0, index = 0;

    if (!schema_is_kind(ld, seq, NODE_SEQ, list))
        return;
    if (seq->n_children == 0 || seq->n_children > TABLE_MAX_SERVICES) {
        load_fail(ld, seq, "%s must list 1 to %d services", list, TABLE_MAX_SERVICES);
        return;
    }
    route_service_t *services = load_keep_array(ld, seq->n_children, sizeof *services);
    if (!services)
        return;
    for (const struct node *item = seq->child; item; item = item->next, index++) {
        route_service_t *s = &services[n];
        const struct node *code = route_read_service_item(ld, item, index, list, where, s);
        bool repeated = false;
        if (!code)
            continue;
        for (size_t i = 0; i < n && !repeated; i++)
            repeated = strcmp(services[i].code, code->text) == 0;
        if (!topic_valid(code->text, code->len, &why)) {
            if (topic_pattern_valid(code->text, code->len, NULL))
                load_fail(ld, code, "service \"%s\" in %s is a pattern: a service is one topic,"
                          " without '*' or '#'", load_quote(ld, code), where);
            else
                load_fail(ld, code, "bad service \"%s\" in %s: %s", load_quote(ld, code), where,
                          why);
        } else if (r->match && !topic_match(r->match, strlen(r->match), code->text, code->len)) {
            load_fail(ld, code, "service \"%s\" in %s does not match the route's pattern",
                      load_quote(ld, code), where);
        } else if (repeated) {
            load_fail(ld, code, "service \"%s\" appears twice in %s", code->text, list);
        } else {
            s->code = load_keep_string(ld, code->text, code->len);
            n++;
        }
    }
    r->services = services;
    r->n_services = n;
}

static void route_read_one(struct loader *ld, const struct node *map, size_t index,
                           const struct policy *defaults, route_t *r)
{
    struct field f[R_COUNT];
    struct policy p = *defaults;
    char where[QUOTE_MAX + 32];

    snprintf(where, sizeof where, "route %zu", index + 1);
    for (const struct node *k = map->kind == NODE_MAP ? map->child : NULL; k; k = k->next->next)
        if (schema_text_is(k, "match") && k->next->kind == NODE_SCALAR)
            snprintf(where, sizeof where, "route \"%s\"", load_quote(ld, k->next));
    r->line = map->child ? map->child->line : map->line;
    if (schema_read_map(ld, map, where, route_keys, R_COUNT, f) < 0)
        return;
    route_read_match(ld, map, &f[R_MATCH], where, r);
    if (f[R_TO].key)
        route_read_chain(ld, &f[R_TO], where, &r->to, &r->n_to);
    if (f[R_OBSERVE].key)
        route_read_chain(ld, &f[R_OBSERVE], where, &r->observe, &r->n_observe);
    if (f[R_ESCALATE].key)
        route_read_chain(ld, &f[R_ESCALATE], where, &r->escalate, &r->n_escalate);
    if (f[R_WHEN].key)
        route_read_when(ld, &f[R_WHEN], where, r);
    r->name_fa = r->name_en = "";
    if (f[R_NAME_FA].key)
        schema_read_string(ld, &f[R_NAME_FA], where, &r->name_fa);
    if (f[R_NAME_EN].key)
        schema_read_string(ld, &f[R_NAME_EN], where, &r->name_en);
    if (f[R_SERVICES].key && f[R_TO].key) /* without "to", reported below */
        route_read_services(ld, &f[R_SERVICES], where, r);
    if (!f[R_TO].key && !f[R_OBSERVE].key)
        load_fail(ld, map, "%s needs \"to\" or \"observe\"", where);
    if (!f[R_TO].key)
        for (size_t i = R_ESCALATE; i < R_COUNT; i++)
            if (f[i].key && i != R_NAME_FA && i != R_NAME_EN)
                load_fail(ld, f[i].key, "\"%s\" in %s means nothing without \"to\"", route_keys[i],
                          where);
    route_read_policy(ld, f + R_POLICY, where, &p);
    r->priority = p.priority;
    r->ack_within_ms = p.ack_within_ms;
    r->answer_within_ms = p.answer_within_ms;
    r->max_attempts = p.max_attempts;
    r->clock = p.clock;
}

void route_read_all(struct loader *ld, const struct node *root, const struct field *top,
                    const struct policy *defaults)
{
    table_t *t = ld->t;
    if (!top->key) {
        schema_missing(ld, root, "routes", "the top-level map");
        return;
    }
    if (!schema_is_kind(ld, top->value, NODE_SEQ, "routes"))
        return;
    size_t n = top->value->n_children;
    if (n == 0 || n > TABLE_MAX_ROUTES) {
        load_fail(ld, top->value, "routes must list 1 to %d routes", TABLE_MAX_ROUTES);
        return;
    }
    t->routes = load_keep_array(ld, n, sizeof *t->routes);
    if (!t->routes)
        return;
    memset(t->routes, 0, n * sizeof *t->routes);
    for (const struct node *item = top->value->child; item; item = item->next) {
        route_read_one(ld, item, t->n_routes, defaults, &t->routes[t->n_routes]);
        t->n_routes++;
    }
}

bool table_topic_names(const table_t *t, const char *topic, size_t len, const char **fa,
                       const char **en)
{
    for (size_t i = 0; i < t->n_routes; i++) {
        const route_t *r = &t->routes[i];
        if ((*r->name_fa || *r->name_en) && topic_match(r->match, strlen(r->match), topic, len)) {
            *fa = r->name_fa;
            *en = r->name_en;
            return true;
        }
    }
    return false;
}
