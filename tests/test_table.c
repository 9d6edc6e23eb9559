#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jalali.h"
#include "table.h"

/* Lines 1-3 of most error cases; routes then start on line 4. */
#define AGENCIES "agencies:\n  water: {name_en: Water}\n  gov: {name_fa: استانداری}\n"
#define ROUTE "routes:\n  - match: a.b\n    to: [water]\n"

static table_t *parse_ok(const char *yaml)
{
    char *errors = NULL;
    table_t *t = table_parse(yaml, strlen(yaml), "t.yaml", &errors);
    if (!t)
        fail_msg("refused:\n%s", errors);
    assert_null(errors);
    return t;
}

/* The whole error text must be exactly these lines, in file order. */
static void assert_errors(const char *yaml, size_t len, const char *expected)
{
    char *errors = NULL;
    table_t *t = table_parse(yaml, len, "t.yaml", &errors);
    assert_null(t);
    assert_non_null(errors);
    assert_string_equal(errors, expected);
    free(errors);
}

#define ERRORS(yaml, expected) assert_errors(yaml, strlen(yaml), expected)

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
    assert_int_equal(jobs->line, 185);
    /* all but answer_within from defaults */
    assert_policy(jobs, PRIO_ROUTINE, 15 * 60 * 1000, 24 * 3600 * 1000, 3);

    const route_t *watch = table_route(t, 10);
    assert_string_equal(watch->match, "#");
    assert_string_equal(watch->when_kind, "complaint");
    assert_int_equal(watch->n_to, 0);
    assert_int_equal(watch->n_observe, 1);
    assert_int_equal(watch->line, 198);
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

static void test_unknown_keys(void **state)
{
    (void)state;
    ERRORS("brokr:\n  name: x\n" AGENCIES ROUTE,
           "t.yaml:1:1: unknown key \"brokr\" in the top-level map (expected broker, calendars, defaults,"
           " agencies, routes, security, reports)\n");
    ERRORS("broker:\n  nam: x\n" AGENCIES ROUTE,
           "t.yaml:2:3: unknown key \"nam\" in broker (expected name, endpoints, heartbeat,"
           " max_message, max_open, retain_closed, data_dir, retention,"
           " dedup_window, rate_limit, pending_outcomes, store)\n");
    ERRORS("broker:\n  timezone: Asia/Tehran\n" AGENCIES ROUTE,
           "t.yaml:2:3: unknown key \"timezone\" in broker (expected name, endpoints, heartbeat,"
           " max_message, max_open, retain_closed, data_dir, retention,"
           " dedup_window, rate_limit, pending_outcomes, store)\n");
    ERRORS("broker:\n  endpoints: {client: \"tcp://x:1\"}\n" AGENCIES ROUTE,
           "t.yaml:2:15: unknown key \"client\" in broker endpoints (expected clients, workers, events)\n");
    ERRORS("defaults:\n  prio: urgent\n" AGENCIES ROUTE,
           "t.yaml:2:3: unknown key \"prio\" in defaults (expected priority, ack_within,"
           " answer_within, max_attempts, calendar)\n");
    ERRORS("agencies:\n  water: {name: Water}\n" ROUTE,
           "t.yaml:2:10: agency \"water\" needs name_fa or name_en\n"
           "t.yaml:2:11: unknown key \"name\" in agency \"water\" (expected name_fa, name_en)\n");
    ERRORS(AGENCIES ROUTE "    calender: working\n",
           "t.yaml:7:5: unknown key \"calender\" in route \"a.b\" (expected match, to, observe,"
           " when, escalate, name_fa, name_en, priority, ack_within, answer_within, max_attempts,"
           " calendar)\n");
    ERRORS(AGENCIES ROUTE "    when: {kind: complaint, type: x}\n",
           "t.yaml:7:29: unknown key \"type\" in \"when\" in route \"a.b\" (expected kind)\n");
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

static void test_duplicate_keys(void **state)
{
    (void)state;
    ERRORS("broker:\n  name: a\n  name: b\n" AGENCIES ROUTE,
           "t.yaml:3:3: duplicate key \"name\" in broker (first on line 2)\n");
    ERRORS(AGENCIES "  water: {name_en: Again}\n" ROUTE,
           "t.yaml:4:3: duplicate key \"water\" in agencies (first on line 2)\n");
    ERRORS(AGENCIES ROUTE "agencies: {x: {name_en: X}}\n",
           "t.yaml:7:1: duplicate key \"agencies\" in the top-level map (first on line 1)\n");
    ERRORS(AGENCIES ROUTE "    to: [gov]\n",
           "t.yaml:7:5: duplicate key \"to\" in route \"a.b\" (first on line 6)\n");
}

static void test_chains(void **state)
{
    (void)state;
    ERRORS(AGENCIES "routes:\n  - match: a.b\n    to: [watr]\n    observe: [inspect]\n"
                    "    escalate: [gv]\n",
           "t.yaml:6:10: unknown agency \"watr\" in route \"a.b\"\n"
           "t.yaml:7:15: unknown agency \"inspect\" in route \"a.b\"\n"
           "t.yaml:8:16: unknown agency \"gv\" in route \"a.b\"\n");
    ERRORS(AGENCIES "routes:\n  - match: a.b\n    to: [water, water]\n",
           "t.yaml:6:17: agency \"water\" appears twice in \"to\" in route \"a.b\"\n");
    ERRORS(AGENCIES "routes:\n  - match: a.b\n    to: []\n",
           "t.yaml:6:9: \"to\" in route \"a.b\" must list 1 to 16 agencies\n");
    ERRORS(AGENCIES "routes:\n  - match: a.b\n    to: [water]\n    escalate: [a, b, c, d, e, f,"
                    " g, h, i, j, k, l, m, n, o, p, q]\n",
           "t.yaml:7:15: \"escalate\" in route \"a.b\" must list 1 to 16 agencies\n");
    ERRORS(AGENCIES "routes:\n  - match: a.b\n    to: water\n",
           "t.yaml:6:9: \"to\" in route \"a.b\" must be a list, not a string\n");
    ERRORS(AGENCIES "routes:\n  - match: a.b\n    to: [[water]]\n",
           "t.yaml:6:10: \"to\" in route \"a.b\" must be a string, not a list\n");
}

static void test_anchors_and_aliases(void **state)
{
    (void)state;
    ERRORS(AGENCIES "routes:\n  - match: a.b\n    to: &w [water]\n",
           "t.yaml:6:9: anchors are not allowed (&w)\n");
    ERRORS(AGENCIES "routes:\n  - match: a.b\n    to: [water]\n    escalate: *w\n",
           "t.yaml:7:15: aliases are not allowed (*w)\n");
    ERRORS(AGENCIES "routes:\n  - match: a.b\n    to: &a [*a]\n",
           "t.yaml:6:9: anchors are not allowed (&a)\n"
           "t.yaml:6:13: aliases are not allowed (*a)\n");
    ERRORS("x: &a [*a]\n",
           "t.yaml:1:1: unknown key \"x\" in the top-level map (expected broker, calendars, defaults,"
           " agencies, routes, security, reports)\n"
           "t.yaml:1:1: missing key \"agencies\" in the top-level map\n"
           "t.yaml:1:1: missing key \"routes\" in the top-level map\n"
           "t.yaml:1:4: anchors are not allowed (&a)\n"
           "t.yaml:1:8: aliases are not allowed (*a)\n");
    ERRORS(AGENCIES "routes:\n  - match: a.b\n    to: !!seq [water]\n",
           "t.yaml:6:9: tags are not allowed (tag:yaml.org,2002:seq)\n");
    ERRORS(AGENCIES "routes:\n  - match: a.b\n    to: [water]\n    [x]: y\n",
           "t.yaml:7:5: keys must be strings, not a list\n");
}

static void test_bad_values(void **state)
{
    (void)state;
    ERRORS(AGENCIES ROUTE "    ack_within: 5x\n",
           "t.yaml:7:17: bad duration \"5x\" for \"ack_within\" in route \"a.b\": expected a unit"
           " after the number: ms, s, m, h or d\n");
    ERRORS(AGENCIES ROUTE "    answer_within: 30m1h\n",
           "t.yaml:7:20: bad duration \"30m1h\" for \"answer_within\" in route \"a.b\": units must"
           " go from largest to smallest (d, h, m, s, ms)\n");
    ERRORS("broker: {heartbeat: 0s}\n" AGENCIES ROUTE,
           "t.yaml:1:21: bad duration \"0s\" for \"heartbeat\" in broker: must be longer than"
           " zero\n");
    ERRORS(AGENCIES ROUTE "    priority: high\n",
           "t.yaml:7:15: bad priority \"high\" for \"priority\" in route \"a.b\" (expected routine"
           " or urgent)\n");
    ERRORS("defaults: {priority: [urgent]}\n" AGENCIES ROUTE,
           "t.yaml:1:22: \"priority\" in defaults must be a string, not a list\n");
    ERRORS(AGENCIES "routes:\n  - match: a..b\n    to: [water]\n",
           "t.yaml:5:12: bad pattern \"a..b\" in route \"a..b\": empty segment\n");
    ERRORS(AGENCIES "routes:\n  - match: \"#.b\"\n    to: [water]\n",
           "t.yaml:5:12: bad pattern \"#.b\" in route \"#.b\": '#' is allowed only as the last"
           " segment\n");
    ERRORS(AGENCIES "routes:\n  - match: [a]\n    to: [water]\n",
           "t.yaml:5:12: \"match\" in route 1 must be a string, not a list\n");
    ERRORS(AGENCIES ROUTE "    when: {kind: Complaint}\n",
           "t.yaml:7:18: bad kind \"Complaint\" in \"when\" in route \"a.b\" (expected"
           " [a-z0-9_-], 1 to 32 characters)\n");
    ERRORS(AGENCIES ROUTE "    when: {}\n",
           "t.yaml:7:11: missing key \"kind\" in \"when\" in route \"a.b\"\n");
    ERRORS(AGENCIES ROUTE "    when: complaint\n",
           "t.yaml:7:11: \"when\" in route \"a.b\" must be a map, not a string\n");
    ERRORS("broker:\n  endpoints: {workers: \"http://x:1\", clients: \"tcp://\"}\n" AGENCIES ROUTE,
           "t.yaml:2:24: bad endpoint \"http://x:1\" for \"workers\" in broker endpoints"
           " (expected tcp://, ipc:// or inproc://...)\n"
           "t.yaml:2:47: bad endpoint \"tcp://\" for \"clients\" in broker endpoints (expected"
           " tcp://, ipc:// or inproc://...)\n");
    ERRORS("broker: {name: \"\"}\n" AGENCIES ROUTE,
           "t.yaml:1:16: \"name\" in broker must not be empty\n");
    ERRORS("broker:\n  store: {kind: mysql}\n" AGENCIES ROUTE,
           "t.yaml:2:17: unknown store kind \"mysql\" (expected lmdb or postgres)\n");
    ERRORS("broker:\n  store: {kind: postgres}\n" AGENCIES ROUTE,
           "t.yaml:2:10: missing key \"dsn\" in broker store\n");
    ERRORS("broker:\n  store: {kind: postgres, dsn: x, lease: 100ms}\n" AGENCIES ROUTE,
           "t.yaml:2:42: lease must be between 500ms and 60s\n");
}

static void test_integers(void **state)
{
    (void)state;
    ERRORS(AGENCIES ROUTE "    max_attempts: 0\n",
           "t.yaml:7:19: \"max_attempts\" in route \"a.b\" must be an integer from 1 to 100, not"
           " \"0\"\n");
    ERRORS(AGENCIES ROUTE "    max_attempts: 101\n",
           "t.yaml:7:19: \"max_attempts\" in route \"a.b\" must be an integer from 1 to 100, not"
           " \"101\"\n");
    ERRORS(AGENCIES ROUTE "    max_attempts: 010\n",
           "t.yaml:7:19: \"max_attempts\" in route \"a.b\" must be an integer from 1 to 100, not"
           " \"010\"\n");
    ERRORS(AGENCIES ROUTE "    max_attempts: \"5\"\n",
           "t.yaml:7:19: \"max_attempts\" in route \"a.b\" must be an integer from 1 to 100, not"
           " \"5\"\n");
    ERRORS("broker:\n  max_message: 1023\n  max_open: 0x10\n  retain_closed: 99999999999999999999\n"
           AGENCIES ROUTE,
           "t.yaml:2:16: \"max_message\" in broker must be an integer from 1024 to 67108864, not"
           " \"1023\"\n"
           "t.yaml:3:13: \"max_open\" in broker must be an integer from 1 to 4294967295, not"
           " \"0x10\"\n"
           "t.yaml:4:18: \"retain_closed\" in broker must be an integer from 0 to 4294967295,"
           " not \"99999999999999999999\"\n");
    ERRORS("broker:\n  max_message: 67108865\n" AGENCIES ROUTE,
           "t.yaml:2:16: \"max_message\" in broker must be an integer from 1024 to 67108864, not"
           " \"67108865\"\n");
}

static void test_route_shape(void **state)
{
    (void)state;
    ERRORS(AGENCIES "routes:\n  - to: [water]\n",
           "t.yaml:5:5: missing key \"match\" in route 1\n");
    ERRORS(AGENCIES "routes:\n  - match: a.b\n    when: {kind: complaint}\n",
           "t.yaml:5:5: route \"a.b\" needs \"to\" or \"observe\"\n");
    ERRORS(AGENCIES "routes:\n  - match: \"#\"\n    observe: [water]\n    priority: urgent\n"
                    "    escalate: [gov]\n    max_attempts: 2\n",
           "t.yaml:7:5: \"priority\" in route \"#\" means nothing without \"to\"\n"
           "t.yaml:8:5: \"escalate\" in route \"#\" means nothing without \"to\"\n"
           "t.yaml:9:5: \"max_attempts\" in route \"#\" means nothing without \"to\"\n");
    ERRORS(AGENCIES "routes:\n  - a.b\n",
           "t.yaml:5:5: route 1 must be a map, not a string\n");
    ERRORS(AGENCIES ROUTE "    ack_within: 2h\n    answer_within: 1h\n",
           "t.yaml:7:17: ack_within (2h) exceeds answer_within (1h) in route \"a.b\"\n");
    /* the default ack_within (5m) against the route's own answer_within */
    ERRORS(AGENCIES ROUTE "    answer_within: 1m\n",
           "t.yaml:7:20: ack_within (5m) exceeds answer_within (1m) in route \"a.b\"\n");
    ERRORS("defaults: {answer_within: 1m}\n" AGENCIES ROUTE,
           "t.yaml:1:27: ack_within (5m) exceeds answer_within (1m) in defaults\n");
}

static void test_wrong_types(void **state)
{
    (void)state;
    ERRORS("agencies: [water]\n" ROUTE,
           "t.yaml:1:11: agencies must be a map, not a list\n");
    ERRORS(AGENCIES "routes: {a: b}\n", "t.yaml:4:9: routes must be a list, not a map\n");
    ERRORS(AGENCIES "routes: []\n", "t.yaml:4:9: routes must list 1 to 4096 routes\n");
    ERRORS("agencies: {}\n" ROUTE,
           "t.yaml:1:11: agencies must name at least one agency\n");
    ERRORS("broker: x\n" AGENCIES ROUTE, "t.yaml:1:9: broker must be a map, not a string\n");
    ERRORS("defaults: [x]\n" AGENCIES ROUTE, "t.yaml:1:11: defaults must be a map, not a list\n");
    ERRORS("agencies:\n  water: Water\n" ROUTE,
           "t.yaml:2:10: agency \"water\" must be a map, not a string\n");
    ERRORS("agencies:\n  water: {name_en: [W]}\n" ROUTE,
           "t.yaml:2:20: \"name_en\" in agency \"water\" must be a string, not a list\n");
    ERRORS("agencies:\n  Water: {name_en: W}\n  " "a123456789a123456789a123456789a123456789"
           "a123456789a123456789a1234: {name_en: X}\n" ROUTE,
           "t.yaml:2:3: bad agency id \"Water\" (expected [a-z0-9_-], 1 to 64 characters)\n"
           "t.yaml:3:3: bad agency id \"a123456789a123456789a123456789a123456789a123456789a1234567"
           "89a123...\" (expected [a-z0-9_-], 1 to 64 characters)\n"
           "t.yaml:6:10: unknown agency \"water\" in route \"a.b\"\n");
    ERRORS("- a\n", "t.yaml:1:1: the top level must be a map of broker, calendars, defaults, agencies,"
                    " routes, security, reports\n");
    ERRORS("routes: [{match: a, to: [x]}]\n",
           "t.yaml:1:1: missing key \"agencies\" in the top-level map\n");
}

static void test_text_errors(void **state)
{
    (void)state;
    ERRORS("agencies:\n  water: {name_en: \"W\xff\"}\n" ROUTE,
           "t.yaml:2:22: unreadable text: invalid leading UTF-8 octet\n");
    ERRORS("agencies:\n  water: {name_en: \"W\\0\"}\n" ROUTE,
           "t.yaml:2:20: string is not valid UTF-8 or contains NUL\n");
    /* libyaml itself refuses escaped surrogates */
    ERRORS("agencies:\n  water: {name_en: \"\\ud800\"}\n" ROUTE,
           "t.yaml:2:23: syntax error: found invalid Unicode character escape code while parsing"
           " a quoted scalar\n");
    /* an unclosed flow map: libyaml stops at the block list inside it, the
     * error names the "{" (issue 17: where the fault began) */
    ERRORS("agencies: {\n" ROUTE,
           "t.yaml:1:11: unclosed \"{\": the map opened here has no \"}\" before line 3,"
           " column 3\n");
    ERRORS("a: b\n- c\n",
           "t.yaml:2:1: stray \"-\": a list item where the map that starts at line 1, column 1"
           " expects a key\n");
    ERRORS("", "t.yaml:1:1: the file is empty\n");
    ERRORS("# nothing here\n\n", "t.yaml:1:1: the file is empty\n");
    ERRORS("---\n", "t.yaml:1:1: the file is empty\n");
    ERRORS(AGENCIES ROUTE "---\n" AGENCIES ROUTE,
           "t.yaml:7:1: only one YAML document is allowed\n");
}

/* libyaml's syntax errors in our words, where the fault began; columns
 * count characters, Persian ones too (issue 17). */
static void test_syntax_errors(void **state)
{
    (void)state;
    /* a tab: named as a tab, at the tab */
    ERRORS(AGENCIES ROUTE "\tanswer_within: 2h\n",
           "t.yaml:7:1: a tab in the indentation: YAML indents with spaces only\n");
    ERRORS(AGENCIES "routes:\n  - match: a.b\n  \tto: [water]\n",
           "t.yaml:6:3: a tab in the indentation: YAML indents with spaces only\n");
    ERRORS("agencies:\n  water: {name_en: Water}\n  gov:\n\t name_fa: استانداری\n" ROUTE,
           "t.yaml:4:1: a tab in the indentation: YAML indents with spaces only\n");
    /* a tab between a key and its value is allowed */
    table_t *t = parse_ok(AGENCIES ROUTE "    priority:\turgent\n");
    table_destroy(&t);

    /* an unclosed quote, at the quote: to the end of the file... */
    ERRORS(AGENCIES "routes:\n  - match: \"a.b\n    to: [water]\n",
           "t.yaml:5:12: unclosed quote: the string opened here with \" has no closing \"\n");
    ERRORS(AGENCIES ROUTE "    kind: 'x\n",
           "t.yaml:7:11: unclosed quote: the string opened here with ' has no closing '\n");
    ERRORS("agencies:\n  gov: {name_fa: استانداری, name_en: \"Gov}\n" ROUTE,
           "t.yaml:2:38: unclosed quote: the string opened here with \" has no closing \"\n");
    ERRORS(AGENCIES "routes:\n  - match: 'a.b\n---\n",
           "t.yaml:5:12: unclosed quote: the string opened here with ' has no closing '\n");
    /* ...or to the next quote, after which libyaml fails lines later */
    ERRORS(AGENCIES "routes:\n  - match: \"a.b\n    to: [water]\n  - match: \"c.d\"\n"
                    "    to: [gov]\n",
           "t.yaml:5:12: unclosed quote: the string opened here with \" runs on to the \" at"
           " line 7, column 12\n");
    ERRORS("agencies:\n  gov: {name_fa: \"استانداری, name_en: \"Gov\"}\n" ROUTE,
           "t.yaml:2:18: text after the string quoted here, which ends at the \" at column 39:"
           " is a closing quote missing, or a quote inside it not escaped?\n");

    /* an unclosed [ or {, where it opened */
    ERRORS(AGENCIES "routes:\n  - match: a.b\n    to: [water, gov\n  - match: c.d\n",
           "t.yaml:6:9: unclosed \"[\": the list opened here has no \"]\" before line 7,"
           " column 10\n");
    ERRORS("agencies:\n  gov: {name_fa: استانداری, name_en: Gov\n" ROUTE,
           "t.yaml:2:8: unclosed \"{\": the map opened here has no \"}\" before line 3,"
           " column 7\n");
    ERRORS(AGENCIES "routes:\n  - match: a.b\n    to: [water}\n",
           "t.yaml:6:15: \"}\" here closes the \"[\" opened at column 9: expected \"]\"\n");
    ERRORS(AGENCIES "routes:\n  - {match: a.b to: [water]}\n",
           "t.yaml:5:19: expected \",\" or \"}\" here, in the map opened at column 5\n");

    /* bad indentation */
    ERRORS(AGENCIES "routes:\n  - match: a.b\n     to: [water]\n",
           "t.yaml:6:6: bad indentation: this key reads as the rest of the text above it (is it"
           " indented too far, or a \":\" missing above?)\n");
    ERRORS(AGENCIES ROUTE "   answer_within: 2h\n",
           "t.yaml:7:4: bad indentation: a line inside the list that starts at line 5, column 3,"
           " but not one of its \"- \" items\n");
    ERRORS("agencies:\n    water: {name_en: Water}\n   gov: {name_fa: استانداری}\n" ROUTE,
           "t.yaml:3:4: bad indentation: a line at column 4, where the map that starts at line 1"
           " has its keys at column 1\n");

    /* a stray ':' or '-' (and ']', '}') */
    ERRORS(AGENCIES ROUTE "    : x\n", "t.yaml:7:5: stray \":\": there is no key before it\n");
    ERRORS(AGENCIES "  - gas\n" ROUTE,
           "t.yaml:4:3: stray \"-\": a list item where the map that starts at line 2, column 3"
           " expects a key\n");
    ERRORS(AGENCIES "routes: - match: a.b\n",
           "t.yaml:4:9: stray \"-\": a list cannot start on the line of its key: begin it on the"
           " next line, indented\n");
    ERRORS(AGENCIES "routes:\n  - match: a.b\n    to: [water]]\n",
           "t.yaml:6:16: stray \"]\": no \"[\" is open here\n");
    ERRORS(AGENCIES "routes:\n  - match: a.b: c\n    to: [water]\n",
           "t.yaml:5:15: a second \": \" on this line: put a value that holds \": \" in quotes\n");
    ERRORS(AGENCIES "routes:\n  - match: a.b\n    to: [water]x\n",
           "t.yaml:6:16: unexpected text here, after a complete value\n");
    ERRORS(AGENCIES "routes:\n  - match: @a.b\n",
           "t.yaml:5:12: \"@\" cannot start a value: put the value in quotes\n");

    /* a key without its ':', text outside the top-level map */
    ERRORS(AGENCIES "  gas\n" ROUTE,
           "t.yaml:4:3: missing \":\" after the key that starts here (a line of a map is \"key:"
           " value\")\n");
    ERRORS("# the table\n the province's agencies\n# 1405\n" AGENCIES ROUTE,
           "t.yaml:2:2: this text is outside the table's map: is a \"#\" missing before a comment,"
           " or a \":\" after a key?\n");

    /* what is not recognised keeps libyaml's words, said to be a syntax error */
    ERRORS(AGENCIES "routes:\n  - match: a.b\n    to: [water]\n    kind: \"\\q\"\n",
           "t.yaml:7:12: syntax error: found unknown escape character while parsing a quoted"
           " scalar\n");
}

static void test_limits(void **state)
{
    (void)state;
    /* 17 nested lists: the 17th opens at column 17 */
    ERRORS("[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]\n", "t.yaml:1:17: nested deeper than 16 levels\n");
    ERRORS("[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]\n",
           "t.yaml:1:1: the top level must be a map of broker, calendars, defaults, agencies, routes, security, reports\n");

    size_t big = ((size_t)1 << 20) + 1;
    char *text = malloc(big);
    assert_non_null(text);
    memset(text, '#', big);
    assert_errors(text, big, "t.yaml: larger than 1048576 bytes\n");
    free(text);

    /* errors past a hundred are counted, not listed */
    char yaml[8192] = "agencies:\n";
    for (int i = 0; i < 120; i++)
        snprintf(yaml + strlen(yaml), sizeof yaml - strlen(yaml), "  A%d: {name_en: x}\n", i);
    strcat(yaml, ROUTE);
    char *errors = NULL;
    assert_null(table_parse(yaml, strlen(yaml), "t.yaml", &errors));
    assert_true(strncmp(errors, "t.yaml:2:3: bad agency id \"A0\"", 30) == 0);
    assert_non_null(strstr(errors, "t.yaml:101:3: bad agency id \"A99\""));
    assert_null(strstr(errors, "A100"));
    assert_non_null(strstr(errors, "\nt.yaml: too many errors, stopped after 100\n"));
    free(errors);
}

static void test_load_files(void **state)
{
    const char *path = MIZ_SOURCE_DIR "/tests/data/many-errors.yaml";
    char expected[4096], *errors = NULL;
    (void)state;

    assert_null(table_load(path, &errors));
    snprintf(expected, sizeof expected,
             "%1$s:3:14: bad duration \"0s\" for \"heartbeat\" in broker: must be longer than"
             " zero\n"
             "%1$s:4:3: unknown key \"colour\" in broker (expected name, endpoints, heartbeat,"
             " max_message, max_open, retain_closed, data_dir, retention,"
             " dedup_window, rate_limit, pending_outcomes, store)\n"
             "%1$s:7:3: bad agency id \"Roads\" (expected [a-z0-9_-], 1 to 64 characters)\n"
             "%1$s:10:10: unknown agency \"watr\" in route \"utility.water.*\"\n"
             "%1$s:11:19: \"max_attempts\" in route \"utility.water.*\" must be an integer from 1"
             " to 100, not \"0\"\n"
             "%1$s:12:5: missing key \"match\" in route 2\n"
             "%1$s:13:5: \"priority\" in route 2 means nothing without \"to\"\n",
             path);
    assert_string_equal(errors, expected);
    free(errors);

    errors = NULL;
    assert_null(table_load(MIZ_SOURCE_DIR "/tests/data/no-such-file.yaml", &errors));
    assert_string_equal(errors, MIZ_SOURCE_DIR "/tests/data/no-such-file.yaml: cannot read: No"
                                               " such file or directory\n");
    free(errors);

    errors = NULL;
    assert_null(table_load(MIZ_SOURCE_DIR "/tests/data", &errors));
    assert_string_equal(errors, MIZ_SOURCE_DIR "/tests/data: cannot read: Is a directory\n");
    free(errors);
}

#define OFFICE                                                                                     \
    "calendars:\n"                                                                                 \
    "  office:\n"                                                                                  \
    "    days: {saturday: 08:00-14:00, sunday: 08:00-14:00, monday: 08:00-14:00,\n"               \
    "           tuesday: 08:00-14:00, wednesday: 08:00-14:00, thursday: 08:00-12:00,\n"           \
    "           friday: \"off\"}\n"                                                                \
    "    holidays: [1404-08-03]\n"

/* A route's deadlines in the working time of a calendar; others on the
 * wall clock. */
static void test_calendars(void **state)
{
    (void)state;
    table_t *t = parse_ok(OFFICE "defaults: {calendar: office}\n" AGENCIES
                                 "routes:\n"
                                 "  - match: a.b\n    to: [water]\n    answer_within: 24h\n"
                                 "  - match: a.c\n    to: [water]\n    calendar: none\n");
    const route_t *office = table_route(t, 0), *wall = table_route(t, 1);
    assert_non_null(office->clock);
    assert_null(wall->clock);
    /* Wednesday 1404/07/30 (2025-10-22) 14:00 Tehran, 10:30 UTC: closing time.
     * Thursday 4 h, Friday off, Saturday 6, Sunday 1404/08/03 a holiday,
     * Monday 6, Tuesday 6 (22 h), then Wednesday 08:00 + 2 h: 10:00 on
     * 1404/08/07 (2025-10-29), 06:30 UTC. */
    uint64_t start = UINT64_C(1761129000000), due = UINT64_C(1761719400000);
    assert_int_equal(workcal_add(office->clock, start, office->answer_within_ms), due);
    table_destroy(&t);

    ERRORS(OFFICE "  none:\n    days: {monday: 08:00-09:00}\n" AGENCIES ROUTE,
           "t.yaml:7:3: \"none\" means no calendar: a calendar needs another name\n");
    ERRORS("calendars:\n  c:\n    days: {sunday: 09:00-08:00, funday: 08:00-09:00}\n"
           "    holidays: [1404-12-30, 1404/01/01]\n    utc_offset: \"+3:30\"\n" AGENCIES ROUTE,
           "t.yaml:3:20: bad hours \"09:00-08:00\" for \"sunday\" in calendar \"c\" (expected off"
           " or HH:MM-HH:MM, the end after the start)\n"
           "t.yaml:3:33: unknown key \"funday\" in calendar \"c\" (expected saturday, sunday,"
           " monday, tuesday, wednesday, thursday, friday)\n"
           "t.yaml:4:16: bad holiday \"1404-12-30\" in \"holidays\" in calendar \"c\" (expected a"
           " Jalali date YYYY-MM-DD that exists, as 1404-01-01)\n"
           "t.yaml:4:28: bad holiday \"1404/01/01\" in \"holidays\" in calendar \"c\" (expected a"
           " Jalali date YYYY-MM-DD that exists, as 1404-01-01)\n"
           "t.yaml:5:17: bad utc_offset \"+3:30\" for \"utc_offset\" in calendar \"c\" (expected"
           " +HH:MM or -HH:MM)\n");
    ERRORS("calendars:\n  c:\n    days: {sunday: 09:00-08:00}\n" AGENCIES ROUTE,
           "t.yaml:3:20: bad hours \"09:00-08:00\" for \"sunday\" in calendar \"c\" (expected off"
           " or HH:MM-HH:MM, the end after the start)\n");
    ERRORS("calendars:\n  c:\n    days: {friday: \"off\"}\n" AGENCIES ROUTE,
           "t.yaml:3:5: calendar \"c\" has no working hours: its deadlines would never come\n");
    ERRORS(AGENCIES ROUTE "    calendar: office\n",
           "t.yaml:7:15: unknown calendar \"office\" for \"calendar\" in route \"a.b\" (expected"
           " none or one of calendars)\n");
}

/* What mizd --check asks of calendars: whether one lists a year's
 * holidays, and which years it should list today (Tehran time). */
static void test_holiday_years(void **state)
{
    (void)state;
    table_t *t = parse_ok(OFFICE "  shop:\n    days: {sunday: 08:00-14:00}\n"
                                 "    holidays: [1405-01-01, 1406-01-01, 1405-12-29]\n" AGENCIES
                                 ROUTE);
    unsigned line = 0, col = 0;
    assert_int_equal(table_calendar_count(t), 2);
    assert_string_equal(table_calendar_name(t, 0, &line, &col), "office");
    assert_int_equal(line, 2);
    assert_int_equal(col, 3);
    assert_string_equal(table_calendar_name(t, 1, &line, &col), "shop");
    assert_int_equal(line, 7);
    assert_int_equal(col, 3);
    assert_null(table_calendar_name(t, 2, &line, &col));
    assert_true(table_calendar_has_holiday(t, 0, 1404));
    assert_false(table_calendar_has_holiday(t, 0, 1405));
    assert_true(table_calendar_has_holiday(t, 1, 1405));
    assert_true(table_calendar_has_holiday(t, 1, 1406));
    assert_false(table_calendar_has_holiday(t, 1, 1407));
    assert_false(table_calendar_has_holiday(t, 2, 1405));
    table_destroy(&t);
    t = parse_ok("calendars:\n  c:\n    days: {sunday: 08:00-14:00}\n    holidays: []\n" AGENCIES
                 ROUTE);
    assert_false(table_calendar_has_holiday(t, 0, 1405));
    table_destroy(&t);

    /* Tehran midnight of a Jalali date, in ms since the epoch */
    const uint64_t day_ms = 86400000, irst_ms = (3 * 60 + 30) * 60000;
    int d;
    int years[2] = {0, 0};
    /* 2026-12-06 08:23 UTC: 1405-09-15 */
    assert_int_equal(table_holiday_years_due(UINT64_C(1796545380000), years), 1);
    assert_int_equal(years[0], 1405);
    /* 15 Esfand 1405, the last minute: this year only */
    assert_true(jalali_to_day(1405, 12, 16, &d));
    uint64_t esfand16 = (uint64_t)d * day_ms - irst_ms;
    assert_int_equal(table_holiday_years_due(esfand16 - 60000, years), 1);
    assert_int_equal(years[0], 1405);
    /* from 16 Esfand on (20:30 UTC the day before), next year's too */
    assert_int_equal(table_holiday_years_due(esfand16, years), 2);
    assert_int_equal(years[0], 1405);
    assert_int_equal(years[1], 1406);
    assert_true(jalali_to_day(1406, 1, 1, &d));
    uint64_t nowruz = (uint64_t)d * day_ms - irst_ms;
    assert_int_equal(table_holiday_years_due(nowruz - 1, years), 2);
    assert_int_equal(table_holiday_years_due(nowruz, years), 1);
    assert_int_equal(years[0], 1406);
    /* out of jalali.h's range */
    assert_int_equal(table_holiday_years_due(UINT64_MAX, years), 0);
}

/* ---- the weekly reports' schedule (table_reports.c) ---- */

static void test_reports_defaults(void **state)
{
    (void)state;
    table_t *t = parse_ok(AGENCIES ROUTE);
    assert_null(table_reports(t)); /* no section: no reports */
    table_destroy(&t);
    t = parse_ok(AGENCIES ROUTE "reports:\n  at: \"14:00\"\n  folder: /var/lib/miz/reports\n");
    const table_reports_t *r = table_reports(t);
    assert_non_null(r);
    assert_int_equal(r->weekday, JALALI_THURSDAY);
    assert_int_equal(r->minute, 14 * 60);
    assert_int_equal(r->utc_offset_min, 210);
    assert_int_equal(r->n_agencies, 0); /* every agency */
    assert_int_equal(r->formats, TABLE_REPORT_HTML);
    assert_string_equal(r->folder, "/var/lib/miz/reports");
    assert_null(r->command);
    assert_null(r->webhook);
    assert_string_equal(r->state, "/var/lib/miz/reports/.miz-reports-delivered");
    assert_int_equal(r->timeout_ms, 60000);
    assert_int_equal(r->retry_ms, 60000);
    assert_int_equal(r->retry_max_ms, 3600000);
    assert_int_equal(r->line, 7);
    table_destroy(&t);
}

static void test_reports_full(void **state)
{
    (void)state;
    table_t *t = parse_ok(AGENCIES ROUTE "reports:\n"
                                         "  day: wednesday\n"
                                         "  at: \"23:59\"\n"
                                         "  utc_offset: \"-01:15\"\n"
                                         "  agencies: [gov, water]\n"
                                         "  formats: [csv, html]\n"
                                         "  command: \"mail -s 'weekly report' ops@example.ir\"\n"
                                         "  webhook: http://10.0.0.9:8080/miz/reports?x=1\n"
                                         "  state: /var/lib/miz/delivered\n"
                                         "  timeout: 30s\n"
                                         "  retry: 500ms\n"
                                         "  retry_max: 2m\n");
    const table_reports_t *r = table_reports(t);
    assert_int_equal(r->weekday, JALALI_WEDNESDAY);
    assert_int_equal(r->minute, 23 * 60 + 59);
    assert_int_equal(r->utc_offset_min, -75);
    assert_int_equal(r->n_agencies, 2);
    assert_int_equal(r->agencies[0], 1);
    assert_int_equal(r->agencies[1], 0);
    assert_int_equal(r->formats, TABLE_REPORT_HTML | TABLE_REPORT_CSV);
    assert_null(r->folder);
    assert_string_equal(r->command, "mail -s 'weekly report' ops@example.ir");
    assert_string_equal(r->webhook, "http://10.0.0.9:8080/miz/reports?x=1");
    assert_string_equal(r->state, "/var/lib/miz/delivered");
    assert_int_equal(r->timeout_ms, 30000);
    assert_int_equal(r->retry_ms, 500);
    assert_int_equal(r->retry_max_ms, 120000);
    table_destroy(&t);
    /* an IPv6 host, no port, no path */
    t = parse_ok(AGENCIES ROUTE "reports: {at: \"00:00\", webhook: \"http://[::1]\", state: s}\n");
    assert_string_equal(table_reports(t)->webhook, "http://[::1]");
    table_destroy(&t);
}

static void test_reports_errors(void **state)
{
    (void)state;
    /* lines 1-6: AGENCIES ROUTE; the section starts on line 7 */
    ERRORS(AGENCIES ROUTE "reports:\n  folder: /r\n",
           "t.yaml:8:3: missing key \"at\" in reports\n");
    ERRORS(AGENCIES ROUTE "reports:\n  at: \"09:00\"\n",
           "t.yaml:7:1: reports: say where they go: \"folder\", \"command\", \"webhook\", or more "
           "than one\n");
    ERRORS(AGENCIES ROUTE "reports:\n  at: \"09:00\"\n  command: mail x\n",
           "t.yaml:7:1: reports: without \"folder\", \"state\" must say where to keep what was "
           "delivered\n");
    ERRORS(AGENCIES ROUTE "reports:\n"
                          "  day: thursdy\n"
                          "  at: \"24:00\"\n"
                          "  utc_offset: \"+3:30\"\n"
                          "  agencies: [water, watr, water]\n"
                          "  formats: [pdf, csv, csv]\n"
                          "  folder: /r\n"
                          "  webhook: https://example.ir/x\n"
                          "  retry: 2h\n"
                          "  whenever: x\n",
           "t.yaml:8:8: bad day \"thursdy\" in reports (expected saturday, sunday, monday, tuesday, "
           "wednesday, thursday or friday)\n"
           "t.yaml:9:7: bad time \"24:00\" for \"at\" in reports (expected HH:MM, 00:00 to 23:59)\n"
           "t.yaml:10:15: bad utc_offset \"+3:30\" in reports (expected +HH:MM or -HH:MM, at most "
           "14:00)\n"
           "t.yaml:11:21: unknown agency \"watr\" in reports\n"
           "t.yaml:11:27: agency \"water\" twice in reports\n"
           "t.yaml:12:13: bad format \"pdf\" in reports (expected html or csv)\n"
           "t.yaml:12:23: format \"csv\" twice in reports\n"
           "t.yaml:14:12: bad webhook \"https://example.ir/x\" in reports (expected "
           "http://HOST[:PORT]/PATH; for https, a local proxy in front)\n"
           "t.yaml:15:10: retry (7200000 ms) exceeds retry_max (3600000 ms) in reports\n"
           "t.yaml:16:3: unknown key \"whenever\" in reports (expected day, at, utc_offset, "
           "agencies, formats, folder, command, webhook, state, timeout, retry, retry_max)\n");
    ERRORS(AGENCIES ROUTE "reports:\n  at: \"09:00\"\n  folder: \"\"\n  agencies: []\n"
                          "  formats: []\n  webhook: \"http://h:0/\"\n",
           "t.yaml:9:11: \"folder\" in reports must not be empty\n"
           "t.yaml:10:13: \"agencies\" in reports must list 1 to 1024 agencies (leave it out for "
           "every agency)\n"
           "t.yaml:11:12: \"formats\" in reports must list html, csv or both\n"
           "t.yaml:12:12: bad webhook \"http://h:0/\" in reports (expected "
           "http://HOST[:PORT]/PATH; for https, a local proxy in front)\n");
    ERRORS(AGENCIES ROUTE "reports:\n  at: \"09:00\"\n  command: \"mail\\nx\"\n  state: s\n",
           "t.yaml:9:12: bad command in reports (expected 1 to 4096 bytes on one line, no control "
           "characters)\n");
    ERRORS(AGENCIES ROUTE "reports: [x]\n", "t.yaml:7:10: reports must be a map, not a list\n");
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
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_chains),
        cmocka_unit_test(test_anchors_and_aliases),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_route_shape),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_text_errors),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_load_files),
        cmocka_unit_test(test_calendars),
        cmocka_unit_test(test_holiday_years),
        cmocka_unit_test(test_route_names),
        cmocka_unit_test(test_reports_defaults),
        cmocka_unit_test(test_reports_full),
        cmocka_unit_test(test_reports_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
