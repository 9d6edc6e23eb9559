/* fuzz_table: a routing table file as `mizd --check`, a start or a SIGHUP
 * reads it (table_parse), then used the way the broker uses a table.
 *
 * Beyond the sanitizers' findings, it checks what table.h and
 * docs/routing.md promise: a table or errors, never both; errors as
 * printable UTF-8 lines "NAME:...", each ending with a newline; and in a
 * table that loaded, every agency found by its id, every route's agencies
 * known, every route with targets taking a topic its pattern matches (or a
 * route before it does), with its observers among those copied, and its
 * working-time deadlines consistent both ways (workcal.h). */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "table.h"
#include "topic.h"
#include "utf8.h"
#include "workcal.h"

#define NAME "fuzz.yaml"

/* One error per line, "NAME:...": what an error quotes from the file is
 * made printable (load_quote() in table_load.c), so mizd's log and `mizd --check`
 * show UTF-8 text with no control character but each line's newline. */
static void check_errors(const char *errors)
{
    size_t len = strlen(errors);
    FUZZ_CHECK(len > 0 && errors[len - 1] == '\n');
    FUZZ_CHECK(utf8_valid(errors, len));
    for (size_t i = 0; i < len; i++)
        FUZZ_CHECK((unsigned char)errors[i] >= 0x20 ? errors[i] != 0x7f : errors[i] == '\n');
    for (const char *line = errors; *line; line = strchr(line, '\n') + 1)
        FUZZ_CHECK(strncmp(line, NAME ":", strlen(NAME ":")) == 0);
}

static void check_chain(const table_t *t, const unsigned *chain, size_t n)
{
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(chain[i] < table_agency_count(t));
}

/* A topic the pattern matches: '*' becomes a segment, a last '#' none. */
static size_t topic_for(const char *pattern, char *topic)
{
    size_t n = 0;
    for (const char *p = pattern; *p; p++)
        topic[n++] = *p == '*' ? 'x' : *p;
    if (n > 0 && topic[n - 1] == '#')
        n -= n > 1 ? 2 : 1; /* "a.#" -> "a"; "#" -> "" */
    if (n == 0)
        topic[n++] = 'x';
    return n;
}

static void check_resolve(const table_t *t, size_t index, const route_t *r)
{
    char topic[TOPIC_MAX + 1];
    size_t n = topic_for(r->match, topic);
    FUZZ_CHECK(topic_valid(topic, n, NULL));
    FUZZ_CHECK(topic_match(r->match, strlen(r->match), topic, n));

    /* mizd resolves an absent kind as "request" */
    const char *kind = r->when_kind ? r->when_kind : "request";
    const route_t *route;
    unsigned observers[TABLE_MAX_AGENCIES];
    size_t n_observers;
    table_resolve(t, topic, n, kind, strlen(kind), &route, observers, &n_observers);
    if (r->n_to > 0) {
        FUZZ_CHECK(route != NULL);
        size_t taken = 0;
        while (table_route(t, taken) != route)
            FUZZ_CHECK(++taken <= index);
    }
    FUZZ_CHECK(n_observers <= table_agency_count(t));
    for (size_t i = 0; i < r->n_observe; i++) {
        size_t j = 0;
        while (j < n_observers && observers[j] != r->observe[i])
            j++;
        FUZZ_CHECK(j < n_observers);
    }
}

/* workcal.h: between(t, add(t, d)) is d whenever add(t, d) is in range. */
static void check_deadlines(const route_t *r)
{
    static const uint64_t starts[] = {1742536800000u, 1742536800000u + 49 * 60000 + 13, 0};
    const uint64_t within[] = {r->ack_within_ms, r->answer_within_ms};
    for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++)
        for (size_t j = 0; j < 2; j++) {
            uint64_t due = workcal_add(r->clock, starts[i], within[j]);
            if (due == UINT64_MAX)
                continue;
            FUZZ_CHECK(due >= starts[i] + within[j]);
            FUZZ_CHECK(workcal_between(r->clock, starts[i], due) == within[j]);
        }
}

static void check_table(const table_t *t)
{
    const broker_conf_t *c = table_conf(t);
    FUZZ_CHECK(c->name && c->clients_endpoint && c->workers_endpoint && c->events_endpoint &&
               c->data_dir);
    FUZZ_CHECK(c->max_message >= 1024 && c->max_message <= (64u << 20));

    size_t n_agencies = table_agency_count(t);
    FUZZ_CHECK(n_agencies >= 1 && n_agencies <= TABLE_MAX_AGENCIES);
    for (size_t i = 0; i < n_agencies; i++) {
        const agency_t *a = table_agency(t, i);
        FUZZ_CHECK(a->name_fa && a->name_en);
        FUZZ_CHECK(table_agency_find(t, a->id, strlen(a->id)) == (int)i);
    }
    FUZZ_CHECK(table_agency(t, n_agencies) == NULL);

    size_t n_routes = table_route_count(t);
    FUZZ_CHECK(n_routes >= 1 && n_routes <= TABLE_MAX_ROUTES);
    for (size_t i = 0; i < n_routes; i++) {
        const route_t *r = table_route(t, i);
        FUZZ_CHECK(topic_pattern_valid(r->match, strlen(r->match), NULL));
        FUZZ_CHECK(r->n_to > 0 || r->n_observe > 0);
        check_chain(t, r->to, r->n_to);
        check_chain(t, r->observe, r->n_observe);
        check_chain(t, r->escalate, r->n_escalate);
        FUZZ_CHECK(r->ack_within_ms <= r->answer_within_ms);
        check_resolve(t, i, r);
        if (r->clock)
            check_deadlines(r);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *errors = NULL;
    table_t *t = table_parse((const char *)data, size, NAME, &errors);
    if (t) {
        FUZZ_CHECK(errors == NULL);
        check_table(t);
        table_destroy(&t);
        FUZZ_CHECK(t == NULL);
    } else {
        FUZZ_CHECK(errors != NULL);
        check_errors(errors);
        free(errors);
    }
    return 0;
}
