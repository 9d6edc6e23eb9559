/* test_table_errors: the routing table's errors (lib/table*.c): every
 * refusal names file, line and column and says what was expected, in file
 * order: unknown, duplicate and missing keys, bad values and types, YAML
 * syntax in our words, the limits, and files that cannot be read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table_fixture.h"

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
           " when, escalate, name_fa, name_en, services, priority, ack_within, answer_within,"
           " max_attempts, calendar)\n");
    ERRORS(AGENCIES ROUTE "    when: {kind: complaint, type: x}\n",
           "t.yaml:7:29: unknown key \"type\" in \"when\" in route \"a.b\" (expected kind)\n");
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

/* A wildcard route whose services start on line 7, column 15. */
#define WILD AGENCIES "routes:\n  - match: a.*\n    to: [water]\n"

static void test_services(void **state)
{
    (void)state;
    /* the list itself */
    ERRORS(WILD "    services: a.b\n",
           "t.yaml:7:15: \"services\" in route \"a.*\" must be a list, not a string\n");
    ERRORS(WILD "    services: {code: a.b}\n",
           "t.yaml:7:15: \"services\" in route \"a.*\" must be a list, not a map\n");
    ERRORS(WILD "    services: []\n",
           "t.yaml:7:15: \"services\" in route \"a.*\" must list 1 to 256 services\n");
    char yaml[8192] = WILD "    services: [";
    for (int i = 0; i < TABLE_MAX_SERVICES; i++)
        snprintf(yaml + strlen(yaml), sizeof yaml - strlen(yaml), "%sa.s%d", i ? ", " : "", i);
    strcat(yaml, "]\n");
    table_t *t = parse_ok(yaml); /* 256 is the limit, not past it */
    assert_int_equal(table_route(t, 0)->n_services, TABLE_MAX_SERVICES);
    assert_string_equal(table_route(t, 0)->services[255].code, "a.s255");
    table_destroy(&t);
    strcpy(yaml + strlen(yaml) - 2, ", a.s256]\n");
    ERRORS(yaml, "t.yaml:7:15: \"services\" in route \"a.*\" must list 1 to 256 services\n");

    /* an item: a topic or a map of known keys, with a code and names not empty */
    ERRORS(WILD "    services: [a.b, [a.c]]\n",
           "t.yaml:7:21: each item of \"services\" in route \"a.*\" must be a topic or a map of"
           " code, name_fa and name_en, not a list\n");
    ERRORS(WILD "    services:\n      - code: a.b\n        title: B\n",
           "t.yaml:9:9: unknown key \"title\" in service \"a.b\" in route \"a.*\" (expected"
           " code, name_fa, name_en)\n");
    ERRORS(WILD "    services: [a.b, {name_en: C}]\n",
           "t.yaml:7:21: missing key \"code\" in service 2 in route \"a.*\"\n");
    ERRORS(WILD "    services: [{code: [a.b]}]\n",
           "t.yaml:7:23: \"code\" in service 1 in route \"a.*\" must be a string, not a list\n");
    ERRORS(WILD "    services: [{code: a.b, name_fa: \"\", name_en: [B]}]\n",
           "t.yaml:7:37: \"name_fa\" in service \"a.b\" in route \"a.*\" must not be empty\n"
           "t.yaml:7:50: \"name_en\" in service \"a.b\" in route \"a.*\" must be a string, not a"
           " list\n");

    /* a code: a topic as a citizen submits it, which the route matches */
    ERRORS(WILD "    services: [a.B, {code: a..c}]\n",
           "t.yaml:7:16: bad service \"a.B\" in route \"a.*\": a segment must be [a-z0-9_-]+\n"
           "t.yaml:7:28: bad service \"a..c\" in route \"a.*\": empty segment\n");
    ERRORS(WILD "    services: [a.*, {code: \"a.#\"}]\n",
           "t.yaml:7:16: service \"a.*\" in route \"a.*\" is a pattern: a service is one topic,"
           " without '*' or '#'\n"
           "t.yaml:7:28: service \"a.#\" in route \"a.*\" is a pattern: a service is one topic,"
           " without '*' or '#'\n");
    ERRORS(WILD "    services: [a.b, b.c, a, a.b.c]\n",
           "t.yaml:7:21: service \"b.c\" in route \"a.*\" does not match the route's pattern\n"
           "t.yaml:7:26: service \"a\" in route \"a.*\" does not match the route's pattern\n"
           "t.yaml:7:29: service \"a.b.c\" in route \"a.*\" does not match the route's"
           " pattern\n");
    /* a literal route may list only itself */
    ERRORS(AGENCIES ROUTE "    services: [a.b, a.c]\n",
           "t.yaml:7:21: service \"a.c\" in route \"a.b\" does not match the route's pattern\n");
    /* the same code twice, in either form; once per route, not per table */
    ERRORS(WILD "    services:\n      - a.b\n      - {code: a.b, name_en: B}\n      - a.c\n"
                "      - a.c\n",
           "t.yaml:9:16: service \"a.b\" appears twice in \"services\" in route \"a.*\"\n"
           "t.yaml:11:9: service \"a.c\" appears twice in \"services\" in route \"a.*\"\n");
    t = parse_ok(WILD "    services: [a.b]\n  - match: a.#\n    to: [gov]\n    services: [a.b]\n");
    table_destroy(&t);

    /* nothing can be submitted to an observe-only route: said once, the list not read */
    ERRORS(AGENCIES "routes:\n  - match: a.*\n    observe: [water]\n    services: [b.c]\n",
           "t.yaml:7:5: \"services\" in route \"a.*\" means nothing without \"to\"\n");
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_chains),
        cmocka_unit_test(test_anchors_and_aliases),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_route_shape),
        cmocka_unit_test(test_services),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_text_errors),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_load_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
