/* doc (clients/open311/doc.c): an Open311 reply, the same list of flat
 * items written as JSON and as XML, byte for byte: nulls, numbers, times
 * in Iran's +03:30, and text escaped for each format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc.h"

#define XML_PROLOG "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"

/* d finished: its text must be expected, exactly, and its length too */
static void assert_finished(doc_t **d, const char *expected)
{
    size_t len = (size_t)-1;
    char *text = doc_finish(d, &len);
    assert_null(*d);
    assert_non_null(text);
    assert_string_equal(text, expected);
    assert_int_equal(len, strlen(expected));
    free(text);
}

/* an item holding one field, written by write */
typedef void (*write_fn)(doc_t *d);

static void assert_item(doc_format_t f, write_fn write, const char *expected)
{
    doc_t *d = doc_new(f, "services", "service");
    assert_non_null(d);
    doc_begin(d);
    write(d);
    doc_end(d);
    assert_finished(&d, expected);
}

static void test_content_type(void **state)
{
    (void)state;
    assert_string_equal(doc_content_type(DOC_JSON), "application/json; charset=utf-8");
    assert_string_equal(doc_content_type(DOC_XML), "text/xml; charset=utf-8");
}

static void test_empty_list(void **state)
{
    (void)state;
    doc_t *d = doc_new(DOC_JSON, "services", "service");
    assert_non_null(d);
    assert_finished(&d, "[]\n");
    d = doc_new(DOC_XML, "services", "service");
    assert_non_null(d);
    assert_finished(&d, XML_PROLOG "<services></services>\n");
    d = doc_new(DOC_XML, "service_requests", "request");
    assert_non_null(d);
    assert_finished(&d, XML_PROLOG "<service_requests></service_requests>\n");
}

static void test_empty_items(void **state)
{
    (void)state;
    doc_t *d = doc_new(DOC_JSON, "services", "service");
    doc_begin(d);
    doc_end(d);
    doc_begin(d);
    doc_end(d);
    assert_finished(&d, "[{},{}]\n");
    d = doc_new(DOC_XML, "services", "service");
    doc_begin(d);
    doc_end(d);
    assert_finished(&d, XML_PROLOG "<services><service></service></services>\n");
}

/* the small list both formats are checked with */
static char *small_list(doc_format_t f, size_t *len)
{
    doc_t *d = doc_new(f, "service_requests", "request");
    assert_non_null(d);
    doc_begin(d);
    doc_uint(d, "service_request_id", 42);
    doc_cstr(d, "status", "open");
    doc_cstr(d, "status_notes", NULL);
    doc_bool(d, "located", true);
    doc_num(d, "lat", 35.6892);
    doc_num(d, "long", 51.389);
    doc_time(d, "requested_datetime", 1742536800000u);
    doc_time(d, "expected_datetime", 0);
    doc_end(d);
    doc_begin(d);
    doc_uint(d, "service_request_id", UINT64_MAX);
    doc_bool(d, "located", false);
    doc_num(d, "lat", -0.5);
    doc_str(d, "description", "برف روبی", strlen("برف روبی"));
    doc_end(d);
    doc_begin(d); /* the commas start again in each item */
    doc_uint(d, "service_request_id", 0);
    doc_end(d);
    char *text = doc_finish(&d, len);
    assert_null(d);
    assert_non_null(text);
    return text;
}

static void test_small_list_json(void **state)
{
    (void)state;
    size_t len = 0;
    char *text = small_list(DOC_JSON, &len);
    const char *expected =
        "[{\"service_request_id\":42,\"status\":\"open\",\"status_notes\":null,"
        "\"located\":true,\"lat\":35.6892000,\"long\":51.3890000,"
        "\"requested_datetime\":\"2025-03-21T09:30:00+03:30\",\"expected_datetime\":null},"
        "{\"service_request_id\":18446744073709551615,\"located\":false,\"lat\":-0.5000000,"
        "\"description\":\"برف روبی\"},"
        "{\"service_request_id\":0}]\n";
    assert_string_equal(text, expected);
    assert_int_equal(len, strlen(expected));
    free(text);
}

static void test_small_list_xml(void **state)
{
    (void)state;
    size_t len = 0;
    char *text = small_list(DOC_XML, &len);
    const char *expected =
        XML_PROLOG "<service_requests>"
        "<request><service_request_id>42</service_request_id><status>open</status>"
        "<status_notes></status_notes><located>true</located><lat>35.6892000</lat>"
        "<long>51.3890000</long>"
        "<requested_datetime>2025-03-21T09:30:00+03:30</requested_datetime>"
        "<expected_datetime></expected_datetime></request>"
        "<request><service_request_id>18446744073709551615</service_request_id>"
        "<located>false</located><lat>-0.5000000</lat>"
        "<description>برف روبی</description></request>"
        "<request><service_request_id>0</service_request_id></request>"
        "</service_requests>\n";
    assert_string_equal(text, expected);
    assert_int_equal(len, strlen(expected));
    free(text);
}

static void write_markup(doc_t *d)
{
    doc_cstr(d, "description", "a & b < c > d \" e ' f &amp; \\");
}

static void test_escape_markup(void **state)
{
    (void)state;
    assert_item(DOC_XML, write_markup,
                XML_PROLOG "<services><service><description>"
                           "a &amp; b &lt; c &gt; d &quot; e &apos; f &amp;amp; \\"
                           "</description></service></services>\n");
    assert_item(DOC_JSON, write_markup,
                "[{\"description\":\"a & b < c > d \\\" e ' f &amp; \\\\\"}]\n");
}

/* 15 bytes: C0 controls, tab, LF, CR, DEL, a NUL given by length, then
 * U+FFFF and U+FFFE (valid UTF-8, but no XML character) */
static void write_controls(doc_t *d)
{
    doc_str(d, "t", "\x01x\x1f\t\n\r\x7f\0y\xef\xbf\xbf\xef\xbf\xbe", 15);
}

#define FFFD "\xef\xbf\xbd"

static void test_escape_controls(void **state)
{
    (void)state;
    /* XML 1.0 has no such characters but tab, LF and CR: U+FFFD for each;
     * CR as a reference, which a parser does not turn into a newline */
    assert_item(DOC_XML, write_controls,
                XML_PROLOG "<services><service><t>" FFFD "x" FFFD "\t\n&#13;" FFFD FFFD "y" FFFD
                           FFFD "</t></service></services>\n");
    assert_item(DOC_JSON, write_controls,
                "[{\"t\":\"\\u0001x\\u001f\\t\\n\\u000d\\u007f\\u0000y\xef\xbf\xbf\xef\xbf\xbe\"}]\n");
}

/* what is neither markup nor control passes as it is: Persian, ZWNJ, emoji */
static void write_unicode(doc_t *d)
{
    doc_cstr(d, "name", "می\u200cخواهم ۱۴۰۴ \xf0\x9f\x98\x80 \xc2\x85");
}

static void test_unicode_as_is(void **state)
{
    (void)state;
    assert_item(DOC_XML, write_unicode,
                XML_PROLOG "<services><service><name>"
                           "می\u200cخواهم ۱۴۰۴ \xf0\x9f\x98\x80 \xc2\x85"
                           "</name></service></services>\n");
    assert_item(DOC_JSON, write_unicode,
                "[{\"name\":\"می\u200cخواهم ۱۴۰۴ \xf0\x9f\x98\x80 \xc2\x85\"}]\n");
}

/* doc_str writes n bytes, not to the NUL; an empty string is no null */
static void write_lengths(doc_t *d)
{
    doc_str(d, "a", "abcdef", 3);
    doc_str(d, "b", "", 0);
    doc_str(d, "c", NULL, 0);
    doc_cstr(d, "d", "");
}

static void test_str_lengths(void **state)
{
    (void)state;
    assert_item(DOC_JSON, write_lengths, "[{\"a\":\"abc\",\"b\":\"\",\"c\":null,\"d\":\"\"}]\n");
    assert_item(DOC_XML, write_lengths,
                XML_PROLOG "<services><service><a>abc</a><b></b><c></c><d></d>"
                           "</service></services>\n");
}

/* JSON keys go through json_string too */
static void write_odd_key(doc_t *d)
{
    doc_uint(d, "a\"b\\c", 1);
}

static void test_json_key_escaped(void **state)
{
    (void)state;
    assert_item(DOC_JSON, write_odd_key, "[{\"a\\\"b\\\\c\":1}]\n");
}

static void write_numbers(doc_t *d)
{
    doc_num(d, "zero", 0);
    doc_num(d, "lat", -35.12345678); /* rounded to 7 places */
    doc_num(d, "long", 180);
    doc_uint(d, "u", 1234567890123u);
    doc_num(d, "nan", NAN); /* no JSON number: null */
}

static void test_numbers(void **state)
{
    (void)state;
    assert_item(DOC_JSON, write_numbers,
                "[{\"zero\":0.0000000,\"lat\":-35.1234568,\"long\":180.0000000,"
                "\"u\":1234567890123,\"nan\":null}]\n");
    assert_item(DOC_XML, write_numbers,
                XML_PROLOG "<services><service><zero>0.0000000</zero><lat>-35.1234568</lat>"
                           "<long>180.0000000</long><u>1234567890123</u><nan></nan></service></services>\n");
}

/* ms written by doc_time as the JSON value, quotes and all */
static void assert_time(uint64_t ms, const char *expected)
{
    char want[128];
    doc_t *d = doc_new(DOC_JSON, "l", "i");
    assert_non_null(d);
    doc_begin(d);
    doc_time(d, "t", ms);
    doc_end(d);
    snprintf(want, sizeof want, "[{\"t\":%s}]\n", expected);
    assert_finished(&d, want);
}

static void test_time(void **state)
{
    (void)state;
    /* expected values from Python's datetime with a fixed +03:30 offset */
    assert_time(0, "null");
    assert_time(1, "\"1970-01-01T03:30:00+03:30\"");
    assert_time(999, "\"1970-01-01T03:30:00+03:30\"");
    assert_time(1742536800000u, "\"2025-03-21T09:30:00+03:30\"");
    assert_time(1742536800999u, "\"2025-03-21T09:30:00+03:30\""); /* ms cut, not rounded */
    /* midnight in Tehran is 20:30 UTC the day before */
    assert_time(1742502600000u, "\"2025-03-21T00:00:00+03:30\"");
    assert_time(1742502599000u, "\"2025-03-20T23:59:59+03:30\"");
    assert_time(1709195400000u, "\"2024-02-29T12:00:00+03:30\""); /* a leap day */
    assert_time(4102444800000u, "\"2100-01-01T03:30:00+03:30\""); /* past 2038 */
}

static void write_times(doc_t *d)
{
    doc_time(d, "requested_datetime", 1742536800000u);
    doc_time(d, "updated_datetime", 0);
}

static void test_time_xml(void **state)
{
    (void)state;
    assert_item(DOC_XML, write_times,
                XML_PROLOG "<services><service>"
                           "<requested_datetime>2025-03-21T09:30:00+03:30</requested_datetime>"
                           "<updated_datetime></updated_datetime></service></services>\n");
}

static void test_destroy(void **state)
{
    (void)state;
    /* a doc given up half written leaks nothing (ASan) and is NULL after */
    doc_t *d = doc_new(DOC_XML, "services", "service");
    assert_non_null(d);
    doc_begin(d);
    doc_cstr(d, "a", "b");
    doc_destroy(&d);
    assert_null(d);
    doc_destroy(&d);
    assert_null(d);
    d = doc_new(DOC_JSON, "services", "service");
    assert_non_null(d);
    doc_begin(d);
    doc_destroy(&d);
    assert_null(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_type),
        cmocka_unit_test(test_empty_list),
        cmocka_unit_test(test_empty_items),
        cmocka_unit_test(test_small_list_json),
        cmocka_unit_test(test_small_list_xml),
        cmocka_unit_test(test_escape_markup),
        cmocka_unit_test(test_escape_controls),
        cmocka_unit_test(test_unicode_as_is),
        cmocka_unit_test(test_str_lengths),
        cmocka_unit_test(test_json_key_escaped),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_time_xml),
        cmocka_unit_test(test_destroy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
