/* test_table: what a valid routing table means (lib/table*.c): the broker's
 * settings and the defaults built in, the agencies and routes of
 * conf/miz.yaml, how a topic resolves to its route and observers, and the
 * names routes give topics. The table's errors are test_table_errors.c's;
 * calendars and the weekly reports, test_table_schedule.c's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "table_fixture.h"

static table_t *load_default(void)
{
    char *errors = NULL;
    table_t *t = table_load(MIZ_SOURCE_DIR "/conf/miz.yaml", &errors);
    if (!t)
        fail_msg("conf/miz.yaml refused:\n%s", errors);
    return t;
}

static const route_t *resolve(const table_t *t, const char *topic, const char *kind,
                              unsigned *observers, size_t *n_observers)
{
    const route_t *r = (const route_t *)1;
    table_resolve(t, topic, strlen(topic), kind, kind ? strlen(kind) : 0, &r, observers,
                  n_observers);
    return r;
}

static const char *agency_id(const table_t *t, unsigned i)
{
    return table_agency(t, i)->id;
}

static const broker_conf_t builtin_conf = {
    "miz",      "tcp://127.0.0.1:7370", "tcp://127.0.0.1:7371", "tcp://127.0.0.1:7372", 1000,
    1048576,    1000000, 100000, 10000, "/var/lib/miz", 400ull * 24 * 3600 * 1000, 24ull * 3600 * 1000,
    0,          0,       {CURVE_AUTO, NULL, NULL, NULL, 0}, STORE_LMDB, NULL, 2000,
};

static void assert_conf(const broker_conf_t *got, broker_conf_t want)
{
    assert_string_equal(got->name, want.name);
    assert_string_equal(got->clients_endpoint, want.clients_endpoint);
    assert_string_equal(got->workers_endpoint, want.workers_endpoint);
    assert_string_equal(got->events_endpoint, want.events_endpoint);
    assert_int_equal(got->heartbeat_ms, want.heartbeat_ms);
    assert_int_equal(got->max_message, want.max_message);
    assert_int_equal(got->max_open, want.max_open);
    assert_int_equal(got->retain_closed, want.retain_closed);
    assert_string_equal(got->data_dir, want.data_dir);
    assert_int_equal(got->retention_ms, want.retention_ms);
    assert_int_equal(got->dedup_window_ms, want.dedup_window_ms);
    assert_int_equal(got->store_kind, want.store_kind);
    if (want.store_dsn)
        assert_string_equal(got->store_dsn, want.store_dsn);
    else
        assert_null(got->store_dsn);
    assert_int_equal(got->lease_ms, want.lease_ms);
}

static void assert_policy(const route_t *r, priority_t priority, uint64_t ack_ms,
                          uint64_t answer_ms, unsigned max_attempts)
{
    assert_int_equal(r->priority, priority);
    assert_int_equal(r->ack_within_ms, ack_ms);
    assert_int_equal(r->answer_within_ms, answer_ms);
    assert_int_equal(r->max_attempts, max_attempts);
}

static void test_default_conf(void **state)
{
    table_t *t = load_default();
    (void)state;
    broker_conf_t want = builtin_conf;
    want.name = "ilam-province"; /* conf/miz.yaml spells out the rest as built in */
    assert_conf(table_conf(t), want);

    assert_int_equal(table_agency_count(t), 11);
    int relief = table_agency_find(t, "relief", 6);
    assert_int_equal(relief, 8);
    assert_string_equal(table_agency(t, 8)->name_fa, "کمیته امداد امام خمینی (ره) استان ایلام");
    assert_string_equal(table_agency(t, 8)->name_en, "Relief committee");
    assert_int_equal(table_agency_find(t, "reliefX", 6), 8);
    assert_int_equal(table_agency_find(t, "relie", 5), -1);
    assert_int_equal(table_agency_find(t, "nobody", 6), -1);
    assert_int_equal(table_agency_find(t, "governorate", 11), 0);
    assert_int_equal(table_agency_find(t, "labour", 6), 10);
    assert_null(table_agency(t, 11));

    assert_int_equal(table_route_count(t), 11); /* no drill: conf/demo.yaml has it */
    const route_t *street = table_route(t, 0);
    assert_string_equal(street->match, "city.snow.street");
    assert_int_equal(street->line, 125);
    assert_policy(street, PRIO_URGENT, 10 * 60 * 1000, 6 * 3600 * 1000, 5);
    assert_int_equal(street->n_escalate, 1);
    assert_string_equal(agency_id(t, street->escalate[0]), "governorate");
    assert_null(street->when_kind);

    const route_t *jobs = table_route(t, 8);
    assert_string_equal(jobs->match, "jobs.#");
    assert_int_equal(jobs->line, 197);
    /* all but answer_within from defaults */
    assert_policy(jobs, PRIO_ROUTINE, 15 * 60 * 1000, 24 * 3600 * 1000, 3);

    const route_t *watch = table_route(t, 10);
    assert_string_equal(watch->match, "#");
    assert_string_equal(watch->when_kind, "complaint");
    assert_int_equal(watch->n_to, 0);
    assert_int_equal(watch->n_observe, 1);
    assert_int_equal(watch->line, 210);
    assert_null(table_route(t, 11));
    table_destroy(&t);
    assert_null(t);
}

static void test_default_resolve(void **state)
{
    table_t *t = load_default();
    unsigned obs[TABLE_MAX_AGENCIES];
    size_t n_obs = 99;
    const route_t *r;
    (void)state;

    r = resolve(t, "city.snow.road", "request", obs, &n_obs);
    assert_non_null(r);
    assert_int_equal(r->line, 134);
    assert_int_equal(r->n_to, 2);
    assert_string_equal(agency_id(t, r->to[0]), "roads");
    assert_string_equal(agency_id(t, r->to[1]), "city-services");
    assert_int_equal(n_obs, 0);

    r = resolve(t, "utility.water.cut", "request", obs, &n_obs);
    assert_string_equal(r->match, "utility.water.*");
    assert_null(resolve(t, "utility.water", "request", obs, &n_obs));
    assert_null(resolve(t, "utility.water.cut.home", "request", obs, &n_obs));

    assert_string_equal(resolve(t, "utility.gas", NULL, obs, &n_obs)->match, "utility.gas.#");
    r = resolve(t, "utility.gas.leak.home", "request", obs, &n_obs);
    assert_string_equal(r->match, "utility.gas.#");
    assert_int_equal(r->priority, PRIO_URGENT);
    assert_string_equal(resolve(t, "jobs", "request", obs, &n_obs)->match, "jobs.#");

    r = resolve(t, "welfare.livelihood", "complaint", obs, &n_obs);
    assert_int_equal(r->n_to, 2);
    assert_string_equal(agency_id(t, r->to[0]), "relief");
    assert_string_equal(agency_id(t, r->to[1]), "welfare");
    assert_int_equal(n_obs, 1);
    assert_string_equal(agency_id(t, obs[0]), "inspection");

    /* the production table has no drill: that is conf/demo.yaml's */
    assert_null(resolve(t, "drill.overdue", "request", obs, &n_obs));
    char *errors = NULL;
    table_t *demo = table_load(MIZ_SOURCE_DIR "/conf/demo.yaml", &errors);
    if (!demo)
        fail_msg("conf/demo.yaml refused:\n%s", errors);
    assert_string_equal(resolve(demo, "drill.overdue", "request", obs, &n_obs)->match, "drill.#");
    table_destroy(&demo);

    /* a complaint nobody handles is still observed; the broker refuses it */
    assert_null(resolve(t, "zoo.lion", "complaint", obs, &n_obs));
    assert_int_equal(n_obs, 1);
    assert_null(resolve(t, "zoo.lion", "request", obs, &n_obs));
    assert_int_equal(n_obs, 0);
    assert_null(resolve(t, "zoo.lion", "complain", obs, &n_obs));
    assert_int_equal(n_obs, 0);
    assert_null(resolve(t, "zoo.lion", NULL, obs, &n_obs));
    assert_int_equal(n_obs, 0);
    /* a topic that is not valid matches nothing, not even "#" */
    assert_null(resolve(t, "Zoo", "complaint", obs, &n_obs));
    assert_int_equal(n_obs, 0);
    table_destroy(&t);
}

static void test_resolve_order_and_observers(void **state)
{
    table_t *t = parse_ok(AGENCIES "  audit: {name_en: Audit}\n"
                                   "routes:\n"
                                   "  - match: a.#\n"
                                   "    observe: [audit, gov]\n"
                                   "  - match: a.b\n"
                                   "    to: [gov]\n"
                                   "    when: {kind: complaint}\n"
                                   "    observe: [audit]\n"
                                   "  - match: a.*\n"
                                   "    to: [water]\n"
                                   "  - match: a.b\n"
                                   "    to: [gov]\n"
                                   "    observe: [water, gov]\n");
    unsigned obs[TABLE_MAX_AGENCIES];
    size_t n_obs;
    (void)state;

    /* the first route that matches and has targets, not the most specific one */
    const route_t *r = resolve(t, "a.b", "request", obs, &n_obs);
    assert_int_equal(r->line, 12);
    assert_int_equal(n_obs, 3);
    assert_string_equal(agency_id(t, obs[0]), "audit");
    assert_string_equal(agency_id(t, obs[1]), "gov");
    assert_string_equal(agency_id(t, obs[2]), "water");

    r = resolve(t, "a.b", "complaint", obs, &n_obs);
    assert_int_equal(r->line, 8);
    assert_string_equal(agency_id(t, r->to[0]), "gov");
    assert_int_equal(n_obs, 3);

    assert_null(resolve(t, "a", "request", obs, &n_obs));
    assert_int_equal(n_obs, 2);
    table_destroy(&t);
}

static void test_builtin_defaults(void **state)
{
    table_t *t = parse_ok(AGENCIES ROUTE);
    (void)state;
    assert_conf(table_conf(t), builtin_conf);
    const route_t *r = table_route(t, 0);
    assert_policy(r, PRIO_ROUTINE, 5 * 60 * 1000, 24 * 3600 * 1000, 3);
    assert_int_equal(r->n_observe, 0);
    assert_int_equal(r->n_escalate, 0);
    assert_int_equal(r->line, 5);
    assert_string_equal(table_agency(t, 1)->name_fa, "استانداری");
    assert_string_equal(table_agency(t, 1)->name_en, "");
    table_destroy(&t);
    table_destroy(&t); /* a nulled pointer is fine */
}

static void test_broker_settings(void **state)
{
    table_t *t = parse_ok("broker:\n"
                          "  name: test\n"
                          "  endpoints: {clients: \"ipc:///run/miz/c\", workers: inproc://w,"
                          " events: \"tcp://0.0.0.0:9000\"}\n"
                          "  heartbeat: 250ms\n"
                          "  max_message: 1024\n"
                          "  max_open: 1\n"
                          "  retain_closed: 0\n"
                          "  data_dir: /srv/miz\n"
                          "  retention: 30d\n"
                          "  dedup_window: 90m\n"
                          "  store: {kind: postgres, dsn: \"host=db1,db2 dbname=miz\", lease: 3s}\n"
                          "defaults: {priority: urgent, ack_within: 1s, answer_within: 1s,"
                          " max_attempts: 100}\n" AGENCIES ROUTE);
    (void)state;
    assert_conf(table_conf(t),
                (broker_conf_t){"test", "ipc:///run/miz/c", "inproc://w", "tcp://0.0.0.0:9000",
                                250, 1024, 1, 0, 10000,
                                "/srv/miz", 30ull * 24 * 3600 * 1000, 90 * 60 * 1000,
                                0, 0, {CURVE_AUTO, NULL, NULL, NULL, 0}, STORE_POSTGRES,
                                "host=db1,db2 dbname=miz", 3000});
    const route_t *r = table_route(t, 0);
    assert_policy(r, PRIO_URGENT, 1000, 1000, 100);
    table_destroy(&t);
}

static void test_priority_names(void **state)
{
    priority_t p = PRIO_URGENT;
    (void)state;
    assert_string_equal(priority_name(PRIO_ROUTINE), "routine");
    assert_string_equal(priority_name(PRIO_URGENT), "urgent");
    assert_int_equal(priority_parse("routine", 7, &p), 0);
    assert_int_equal(p, PRIO_ROUTINE);
    assert_int_equal(priority_parse("urgentX", 6, &p), 0);
    assert_int_equal(p, PRIO_URGENT);
    assert_int_equal(priority_parse("urgen", 5, &p), -1);
    assert_int_equal(priority_parse("Urgent", 6, &p), -1);
    assert_int_equal(p, PRIO_URGENT);
}

/* Routes may name their topics for people; the first route that matches
 * and has names gives them. */
static void test_route_names(void **state)
{
    (void)state;
    table_t *t = parse_ok(AGENCIES "routes:\n"
                                   "  - match: utility.water.leak\n"
                                   "    to: [water]\n"
                                   "    priority: urgent\n"
                                   "  - match: utility.water.*\n"
                                   "    to: [water]\n"
                                   "    name_fa: \"آب\"\n"
                                   "    name_en: Water\n"
                                   "  - match: city.#\n"
                                   "    to: [gov]\n"
                                   "    name_fa: \"امور شهری\"\n"
                                   "  - match: \"#\"\n"
                                   "    observe: [gov]\n"
                                   "    name_en: Anything\n");
    const char *fa = "unset", *en = "unset";
    /* the first route has no names: the next that matches gives them */
    assert_true(table_topic_names(t, "utility.water.leak", 18, &fa, &en));
    assert_string_equal(fa, "آب");
    assert_string_equal(en, "Water");
    assert_true(table_topic_names(t, "city.snow.street", 16, &fa, &en));
    assert_string_equal(fa, "امور شهری");
    assert_string_equal(en, ""); /* only one given */
    /* an observe-only route may have names too */
    assert_true(table_topic_names(t, "jobs.loan", 9, &fa, &en));
    assert_string_equal(fa, "");
    assert_string_equal(en, "Anything");
    /* the length counts: "utility.water.leakage" cut at 13 bytes is "utility.water" */
    assert_true(table_topic_names(t, "utility.water.leak", 13, &fa, &en));
    assert_string_equal(en, "Anything");
    assert_string_equal(table_route(t, 0)->name_fa, "");
    table_destroy(&t);

    t = parse_ok(AGENCIES ROUTE);
    fa = en = "unset";
    assert_false(table_topic_names(t, "a.b", 3, &fa, &en));
    assert_string_equal(fa, "unset");
    table_destroy(&t);

    ERRORS(AGENCIES ROUTE "    name_fa: [x]\n",
           "t.yaml:7:14: \"name_fa\" in route \"a.b\" must be a string, not a list\n");
    /* the default table names every route's topics in both languages */
    t = load_default();
    for (size_t i = 0; i < table_route_count(t); i++) {
        const route_t *r = table_route(t, i);
        if (strcmp(r->match, "#") == 0)
            continue; /* the inspection's copy of every complaint names no topic */
        if (!*r->name_fa || !*r->name_en)
            fail_msg("conf/miz.yaml: route %s has no name", r->match);
    }
    assert_true(table_topic_names(t, "utility.water.leak", 18, &fa, &en));
    assert_string_equal(en, "Water and wastewater");
    table_destroy(&t);
}

/* Routes may list the topics they offer (services), as topics or with
 * names of their own; the broker does not use them. */
static void test_route_services(void **state)
{
    (void)state;
    table_t *t = parse_ok(AGENCIES "routes:\n"
                                   "  - match: utility.water.*\n"
                                   "    to: [water]\n"
                                   "    name_fa: \"آب\"\n"
                                   "    services:\n"
                                   "      - utility.water.cut\n"
                                   "      - {code: utility.water.leak, name_fa: \"نشت آب\","
                                   " name_en: Water leak}\n"
                                   "      - code: utility.water.meter\n"
                                   "        name_en: \"Meter\"\n"
                                   "  - match: city.snow.street\n"
                                   "    to: [gov]\n"
                                   "  - match: utility.gas.#\n"
                                   "    to: [gov]\n"
                                   "    services: [utility.gas, utility.gas.leak.home]\n");
    const route_t *water = table_route(t, 0);
    assert_int_equal(water->n_services, 3);
    assert_string_equal(water->services[0].code, "utility.water.cut");
    assert_string_equal(water->services[0].name_fa, "");
    assert_string_equal(water->services[0].name_en, "");
    assert_string_equal(water->services[1].code, "utility.water.leak");
    assert_string_equal(water->services[1].name_fa, "نشت آب");
    assert_string_equal(water->services[1].name_en, "Water leak");
    assert_string_equal(water->services[2].code, "utility.water.meter");
    assert_string_equal(water->services[2].name_fa, "");
    assert_string_equal(water->services[2].name_en, "Meter");
    /* the route's own names are untouched by its services' */
    assert_string_equal(water->name_fa, "آب");
    assert_string_equal(water->name_en, "");

    /* a literal route offers its match implicitly: it lists nothing */
    assert_int_equal(table_route(t, 1)->n_services, 0);
    assert_null(table_route(t, 1)->services);
    const route_t *gas = table_route(t, 2);
    assert_int_equal(gas->n_services, 2);
    assert_string_equal(gas->services[0].code, "utility.gas"); /* '#' matches zero segments */
    assert_string_equal(gas->services[1].code, "utility.gas.leak.home");

    /* routing ignores them: a topic no route lists is routed all the same */
    unsigned obs[TABLE_MAX_AGENCIES];
    size_t n_obs;
    assert_ptr_equal(resolve(t, "utility.water.pressure", "request", obs, &n_obs), water);
    table_destroy(&t);

    /* the default table offers its wildcard routes' topics by name */
    t = load_default();
    const route_t *r = resolve(t, "utility.water.cut", "request", obs, &n_obs);
    assert_string_equal(r->match, "utility.water.*");
    assert_int_equal(r->n_services, 4);
    assert_string_equal(r->services[0].code, "utility.water.cut");
    assert_string_equal(r->services[0].name_fa, "قطعی آب");
    assert_string_equal(r->services[0].name_en, "Water cut");
    assert_string_equal(r->services[1].code, "utility.water.leak");
    assert_int_equal(resolve(t, "utility.power.outage", "request", obs, &n_obs)->n_services, 3);
    assert_int_equal(resolve(t, "utility.gas.leak", "request", obs, &n_obs)->n_services, 2);
    assert_int_equal(resolve(t, "jobs.loan", "request", obs, &n_obs)->n_services, 0);
    for (size_t i = 0; i < table_route_count(t); i++)
        for (size_t j = 0; j < table_route(t, i)->n_services; j++) {
            const route_service_t *s = &table_route(t, i)->services[j];
            if (!*s->name_fa || !*s->name_en)
                fail_msg("conf/miz.yaml: service %s has no name", s->code);
        }
    table_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_conf),
        cmocka_unit_test(test_default_resolve),
        cmocka_unit_test(test_resolve_order_and_observers),
        cmocka_unit_test(test_builtin_defaults),
        cmocka_unit_test(test_broker_settings),
        cmocka_unit_test(test_priority_names),
        cmocka_unit_test(test_route_names),
        cmocka_unit_test(test_route_services),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
