/* table_fixture: the helpers more than one of the table's test files
 * (tests/test_table*.c) calls, kept once here (table_fixture.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "table_fixture.h"

table_t *parse_ok(const char *yaml)
{
    char *errors = NULL;
    table_t *t = table_parse(yaml, strlen(yaml), "t.yaml", &errors);
    if (!t)
        fail_msg("refused:\n%s", errors);
    assert_null(errors);
    return t;
}

/* The whole error text must be exactly these lines, in file order. */
void assert_errors(const char *yaml, size_t len, const char *expected)
{
    char *errors = NULL;
    table_t *t = table_parse(yaml, len, "t.yaml", &errors);
    assert_null(t);
    assert_non_null(errors);
    assert_string_equal(errors, expected);
    free(errors);
}
