/* form (clients/open311/form.c): a client's form or query string decoded
 * field by field, and refused, with the field named, when it holds what
 * the gateway cannot pass on: NUL, %00, bad UTF-8, a name twice, too many
 * fields, names too long. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"

/* text (a C string) parsed; fails the test when it is refused */
static form_t *parse_ok(const char *text)
{
    char err[256] = "";
    form_t *f = form_parse(text, strlen(text), err, sizeof err);
    if (!f)
        fail_msg("\"%s\" refused: %s", text, err);
    return f;
}

/* text[0..len) refused with exactly the error expected */
static void assert_refused_n(const char *text, size_t len, const char *expected)
{
    char err[256] = "";
    form_t *f = form_parse(text, len, err, sizeof err);
    if (f) {
        form_destroy(&f);
        fail_msg("\"%s\" accepted, expected: %s", text, expected);
    }
    assert_string_equal(err, expected);
}

static void assert_refused(const char *text, const char *expected)
{
    assert_refused_n(text, strlen(text), expected);
}

/* the i-th field is name = value, value exactly value_len bytes */
static void assert_field(const form_t *f, size_t i, const char *name, const char *value,
                         size_t value_len)
{
    size_t len = (size_t)-1;
    assert_string_equal(form_name(f, i), name);
    const char *v = form_value(f, i, &len);
    assert_non_null(v);
    assert_int_equal(len, value_len);
    assert_memory_equal(v, value, value_len);
    assert_int_equal(v[len], '\0');
}

static void test_empty(void **state)
{
    (void)state;
    char err[64] = "untouched";
    form_t *f = form_parse("", 0, err, sizeof err);
    assert_non_null(f);
    assert_int_equal(form_count(f), 0);
    assert_null(form_get(f, "a", NULL));
    form_destroy(&f);
    assert_null(f);
    /* empty items between '&' are no fields */
    f = parse_ok("&&&");
    assert_int_equal(form_count(f), 0);
    form_destroy(&f);
    f = parse_ok("&a=1&&b=2&");
    assert_int_equal(form_count(f), 2);
    assert_field(f, 0, "a", "1", 1);
    assert_field(f, 1, "b", "2", 1);
    form_destroy(&f);
    form_destroy(&f); /* NULL: nothing */
    assert_null(f);
}

static void test_plain_fields_in_order(void **state)
{
    (void)state;
    form_t *f = parse_ok("service_code=snow&lat=35.6892&long=51.3890&description=");
    assert_int_equal(form_count(f), 4);
    assert_field(f, 0, "service_code", "snow", 4);
    assert_field(f, 1, "lat", "35.6892", 7);
    assert_field(f, 2, "long", "51.3890", 7);
    assert_field(f, 3, "description", "", 0);
    size_t len = 0;
    assert_string_equal(form_get(f, "long", &len), "51.3890");
    assert_int_equal(len, 7);
    assert_string_equal(form_get(f, "service_code", NULL), "snow"); /* len may be NULL */
    assert_string_equal(form_value(f, 0, NULL), "snow");
    assert_null(form_get(f, "Lat", NULL)); /* names are exact */
    assert_null(form_get(f, "la", NULL));
    assert_null(form_get(f, "missing", &len));
    form_destroy(&f);
}

static void test_no_equals_and_extra_equals(void **state)
{
    (void)state;
    /* a name alone has the empty value; only the first '=' divides */
    form_t *f = parse_ok("flag&a=b=c&e==");
    assert_int_equal(form_count(f), 3);
    assert_field(f, 0, "flag", "", 0);
    assert_field(f, 1, "a", "b=c", 3);
    assert_field(f, 2, "e", "=", 1);
    form_destroy(&f);
}

static void test_plus_and_percent(void **state)
{
    (void)state;
    /* '+' is a space, %2B a '+', hex either case; encoded '&' and '=' are
     * data, in names too */
    form_t *f = parse_ok("description=snow+on+the%20road%2B%2b1&a%3Db=c%26d%3de"
                         "&attribute%5Bx%5D=%7e%41&x+y=%25");
    assert_int_equal(form_count(f), 4);
    assert_field(f, 0, "description", "snow on the road++1", 19);
    assert_field(f, 1, "a=b", "c&d=e", 5);
    assert_field(f, 2, "attribute[x]", "~A", 2);
    assert_field(f, 3, "x y", "%", 1);
    assert_string_equal(form_get(f, "attribute[x]", NULL), "~A");
    form_destroy(&f);
}

static void test_bad_escapes_kept(void **state)
{
    (void)state;
    /* what is no escape stays as it is */
    form_t *f = parse_ok("a=%zz%4&b=100%&c=%%41");
    assert_int_equal(form_count(f), 3);
    assert_field(f, 0, "a", "%zz%4", 5);
    assert_field(f, 1, "b", "100%", 4);
    assert_field(f, 2, "c", "%A", 2);
    form_destroy(&f);
}

static void test_persian(void **state)
{
    (void)state;
    /* encoded as a browser sends it, and raw */
    form_t *f = parse_ok("description=%D8%A8%D8%B1%D9%81+%D8%B1%D9%88%D8%A8%DB%8C"
                         "&%D9%86%D8%A7%D9%85=\xd8\xb9\xd9\x84\xdb\x8c"
                         "&address_string=\xd9\x85\xd9\x86\xd8\xb7\xd9\x82\xd9\x87+%DB%B3");
    assert_int_equal(form_count(f), 3);
    /* "برف روبی" */
    assert_field(f, 0, "description",
                 "\xd8\xa8\xd8\xb1\xd9\x81 \xd8\xb1\xd9\x88\xd8\xa8\xdb\x8c", 15);
    assert_string_equal(form_get(f, "description", NULL), "برف روبی");
    /* "نام" = "علی" */
    assert_field(f, 1, "\xd9\x86\xd8\xa7\xd9\x85", "\xd8\xb9\xd9\x84\xdb\x8c", 6);
    assert_string_equal(form_get(f, "نام", NULL), "علی");
    /* "منطقه ۳" */
    assert_field(f, 2, "address_string", "منطقه ۳", strlen("منطقه ۳"));
    form_destroy(&f);
    /* 4 bytes: U+1F600 */
    f = parse_ok("e=%F0%9F%98%80");
    assert_field(f, 0, "e", "\xf0\x9f\x98\x80", 4);
    form_destroy(&f);
}

static void test_len_bounds_the_text(void **state)
{
    (void)state;
    /* the text need not end in NUL: a copy of exactly len bytes (ASan sees
     * any read past it) */
    const char *src = "a=1&b=%41%42";
    size_t n = strlen(src);
    char *text = malloc(n);
    assert_non_null(text);
    memcpy(text, src, n);
    char err[64];
    form_t *f = form_parse(text, n, err, sizeof err);
    assert_non_null(f);
    assert_int_equal(form_count(f), 2);
    assert_field(f, 1, "b", "AB", 2);
    form_destroy(&f);
    /* and only len bytes count */
    f = form_parse(text, 3, err, sizeof err);
    assert_non_null(f);
    assert_int_equal(form_count(f), 1);
    assert_field(f, 0, "a", "1", 1);
    form_destroy(&f);
    f = form_parse(text, 10, err, sizeof err); /* "a=1&b=%41%" */
    assert_non_null(f);
    assert_field(f, 1, "b", "A%", 2);
    form_destroy(&f);
    free(text);
}

static void test_nul(void **state)
{
    (void)state;
    /* a raw NUL, in a value and in a name */
    assert_refused_n("a=1&b=x\0y", 9, "field 2 (\"b\"): its value holds a NUL byte");
    assert_refused_n("a\0b=1", 5, "field 1: its name holds a NUL byte");
    assert_refused_n("a=\0", 3, "field 1 (\"a\"): its value holds a NUL byte");
    /* encoded: libevent would cut the value there without saying so */
    assert_refused("a=1&description=snow%00evil", "field 2 (\"description\"): its value holds "
                                                  "an encoded NUL (%00)");
    assert_refused("a=%00", "field 1 (\"a\"): its value holds an encoded NUL (%00)");
    assert_refused("x=1&y=2&ab%00c=1", "field 3: its name holds an encoded NUL (%00)");
    /* %0 followed by no hex digit is no NUL */
    form_t *f = parse_ok("a=%0g");
    assert_field(f, 0, "a", "%0g", 3);
    form_destroy(&f);
}

static void test_not_utf8(void **state)
{
    (void)state;
    assert_refused("service_code=snow&a=1&lat=%FF", "field 3 (\"lat\"): its value is not UTF-8");
    /* a bad continuation, an overlong '/', a surrogate, past U+10FFFF, cut short, raw */
    static const char *const bad[] = {"a=%C3%28", "a=%C0%AF", "a=%ED%A0%80",
                                      "a=%F4%90%80%80", "a=%D8", "a=\xd8"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_refused(bad[i], "field 1 (\"a\"): its value is not UTF-8");
    assert_refused("a=1&%FFname=1", "field 2: its name is not UTF-8");
    assert_refused("\xc3=1", "field 1: its name is not UTF-8");
}

static void test_name_given_twice(void **state)
{
    (void)state;
    assert_refused("a=1&b=2&a=3", "field 3 (\"a\"): given twice");
    assert_refused("lat=1&lat", "field 2 (\"lat\"): given twice");
    /* the same name once decoded */
    assert_refused("a+b=1&a%20b=2", "field 2 (\"a b\"): given twice");
    assert_refused("%D9%86=1&\xd9\x86=2", "field 2 (\"\xd9\x86\"): given twice");
    /* names differ by case: both kept */
    form_t *f = parse_ok("a=1&A=2");
    assert_int_equal(form_count(f), 2);
    assert_string_equal(form_get(f, "a", NULL), "1");
    assert_string_equal(form_get(f, "A", NULL), "2");
    form_destroy(&f);
}

static void test_name_length(void **state)
{
    (void)state;
    char text[3 * (FORM_NAME_MAX + 1) + 16];
    /* exactly FORM_NAME_MAX bytes (decoded): accepted */
    memset(text, 'n', FORM_NAME_MAX);
    strcpy(text + FORM_NAME_MAX, "=v");
    form_t *f = parse_ok(text);
    assert_int_equal(strlen(form_name(f, 0)), FORM_NAME_MAX);
    form_destroy(&f);
    /* one more: refused */
    memset(text, 'n', FORM_NAME_MAX + 1);
    strcpy(text + FORM_NAME_MAX + 1, "=v");
    assert_refused(text, "field 1: a name must be 1 to 128 bytes");
    /* the decoded length counts: 128 escapes are 128 bytes */
    for (size_t i = 0; i < FORM_NAME_MAX; i++)
        memcpy(text + 3 * i, "%41", 3);
    strcpy(text + 3 * FORM_NAME_MAX, "=v");
    f = parse_ok(text);
    assert_int_equal(strlen(form_name(f, 0)), FORM_NAME_MAX);
    assert_int_equal(form_name(f, 0)[0], 'A');
    form_destroy(&f);
    /* 65 two-byte letters: 130 bytes */
    text[0] = '\0';
    for (size_t i = 0; i < 65; i++)
        strcat(text, "\xd9\x86");
    strcat(text, "=v");
    assert_refused(text, "field 1: a name must be 1 to 128 bytes");
    /* no name at all */
    assert_refused("=x", "field 1: a name must be 1 to 128 bytes");
    assert_refused("a=1&=", "field 2: a name must be 1 to 128 bytes");
}

static void test_name_length_exact(void **state)
{
    (void)state;
    char text[FORM_NAME_MAX + 8];
    memset(text, 'n', FORM_NAME_MAX);
    strcpy(text + FORM_NAME_MAX, "=v");
    form_t *f = parse_ok(text);
    text[FORM_NAME_MAX] = '\0';
    size_t len = 0;
    assert_string_equal(form_get(f, text, &len), "v");
    assert_int_equal(len, 1);
    form_destroy(&f);
}

/* n fields f0=0&f1=1.., with a trailing '&' when trailing */
static char *many_fields(size_t n, int trailing)
{
    char *text = malloc(n * 16 + 2), *p = text;
    assert_non_null(text);
    *p = '\0';
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%sf%zu=%zu", i ? "&" : "", i, i);
    if (trailing)
        strcpy(p, "&");
    return text;
}

static void test_field_count(void **state)
{
    (void)state;
    char *text = many_fields(FORM_MAX_FIELDS, 1);
    form_t *f = parse_ok(text);
    assert_int_equal(form_count(f), FORM_MAX_FIELDS);
    assert_field(f, 0, "f0", "0", 1);
    assert_field(f, FORM_MAX_FIELDS - 1, "f63", "63", 2);
    assert_string_equal(form_get(f, "f63", NULL), "63");
    form_destroy(&f);
    free(text);
    text = many_fields(FORM_MAX_FIELDS + 1, 0);
    assert_refused(text, "more than 64 fields");
    free(text);
    /* empty items do not count */
    text = many_fields(FORM_MAX_FIELDS, 0);
    char *with_empties = malloc(strlen(text) + 8);
    assert_non_null(with_empties);
    sprintf(with_empties, "&&%s&&&", text);
    f = parse_ok(with_empties);
    assert_int_equal(form_count(f), FORM_MAX_FIELDS);
    form_destroy(&f);
    free(with_empties);
    free(text);
}

static void test_error_is_truncated_safely(void **state)
{
    (void)state;
    /* a small err still ends in NUL */
    char err[12];
    memset(err, 'X', sizeof err);
    assert_null(form_parse("description=%00", 15, err, sizeof err));
    assert_string_equal(err, "field 1 (\"d");
    /* a long name is quoted in 40 bytes at most, cut between characters:
     * the error fits the gateway's 256 bytes whole and stays UTF-8 */
    char text[FORM_NAME_MAX + 8], big[256];
    memset(text, 'n', FORM_NAME_MAX);
    strcpy(text + FORM_NAME_MAX, "=%00");
    assert_null(form_parse(text, strlen(text), big, sizeof big));
    assert_string_equal(big, "field 1 (\"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn...\"): its value "
                             "holds an encoded NUL (%00)");
    /* "آ" is 2 bytes: of 21 (42 bytes) the quote keeps 20, never half of one */
    char persian[128] = "";
    for (int i = 0; i < 21; i++)
        strcat(persian, "\xd8\xa2");
    strcat(persian, "=%00");
    assert_null(form_parse(persian, strlen(persian), big, sizeof big));
    assert_non_null(strstr(big, "\xd8\xa2...\")"));
    assert_int_equal(strstr(big, "...") - strchr(big, '"') - 1, 40);
    /* a control character in a name is quoted as '?': the error is one line */
    assert_null(form_parse("a%0Ab=1&a%0Ab=2", 15, big, sizeof big));
    assert_string_equal(big, "field 2 (\"a?b\"): given twice");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_plain_fields_in_order),
        cmocka_unit_test(test_no_equals_and_extra_equals),
        cmocka_unit_test(test_plus_and_percent),
        cmocka_unit_test(test_bad_escapes_kept),
        cmocka_unit_test(test_persian),
        cmocka_unit_test(test_len_bounds_the_text),
        cmocka_unit_test(test_nul),
        cmocka_unit_test(test_not_utf8),
        cmocka_unit_test(test_name_given_twice),
        cmocka_unit_test(test_name_length),
        cmocka_unit_test(test_name_length_exact),
        cmocka_unit_test(test_field_count),
        cmocka_unit_test(test_error_is_truncated_safely),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
