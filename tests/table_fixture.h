/* table_fixture: what the routing table's unit tests (tests/test_table*.c)
 * share: a minimal valid table's agencies and route, and parsing that must
 * succeed or must fail with exactly the given errors. */
#ifndef MIZ_TABLE_FIXTURE_H
#define MIZ_TABLE_FIXTURE_H

#include <stddef.h>

#include "table.h"

/* Lines 1-3 of most error cases; routes then start on line 4. */
#define AGENCIES "agencies:\n  water: {name_en: Water}\n  gov: {name_fa: استانداری}\n"
#define ROUTE "routes:\n  - match: a.b\n    to: [water]\n"

/* Parses yaml (as t.yaml), which must be accepted without errors. */
table_t *parse_ok(const char *yaml);
/* The whole error text must be exactly these lines, in file order. */
void assert_errors(const char *yaml, size_t len, const char *expected);

#define ERRORS(yaml, expected) assert_errors(yaml, strlen(yaml), expected)

#endif
