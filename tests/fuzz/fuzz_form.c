/* fuzz_form: a client's form or query string as miz-open311 reads it
 * (form_parse), then every field written back in its replies, as JSON and
 * as XML (doc.c), the way its errors and service requests carry what
 * citizens typed.
 *
 * Beyond the sanitizers' findings, it checks what form.h and doc.h
 * promise: fields or a one-line printable UTF-8 error, never both; each
 * name and value UTF-8 without NUL, a name at most once and 1 to
 * FORM_NAME_MAX bytes, at most FORM_MAX_FIELDS; and a reply that is UTF-8
 * in which XML holds no character XML 1.0 forbids (C0 controls but tab and
 * newline, DEL, U+FFFE, U+FFFF), so no post can make a reply unreadable. */
#include <stdbool.h>
#include <string.h>

#include "doc.h"
#include "form.h"
#include "fuzz.h"
#include "utf8.h"

static void check_reply(doc_format_t f, const form_t *form)
{
    doc_t *d = doc_new(f, "service_requests", "request");
    FUZZ_CHECK(d != NULL);
    for (size_t i = 0; i < form_count(form); i++) {
        size_t len;
        const char *value = form_value(form, i, &len);
        doc_begin(d);
        doc_cstr(d, "name", form_name(form, i));
        doc_str(d, "value", value, len);
        doc_end(d);
    }
    size_t len = 0;
    char *text = doc_finish(&d, &len);
    FUZZ_CHECK(text != NULL && strlen(text) == len && utf8_valid(text, len));
    for (size_t i = 0; f == DOC_XML && i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        FUZZ_CHECK(c >= 0x20 ? c != 0x7F : c == '\t' || c == '\n');
        FUZZ_CHECK(!(c == 0xEF && i + 2 < len && (unsigned char)text[i + 1] == 0xBF &&
                     ((unsigned char)text[i + 2] & 0xFE) == 0xBE));
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256] = "";
    form_t *form = form_parse((const char *)data, size, err, sizeof err);
    if (!form) {
        size_t n = strlen(err);
        FUZZ_CHECK(n > 0 && utf8_valid(err, n) && !strchr(err, '\n'));
        return 0;
    }
    FUZZ_CHECK(err[0] == '\0' && form_count(form) <= FORM_MAX_FIELDS);
    for (size_t i = 0; i < form_count(form); i++) {
        size_t len, n = strlen(form_name(form, i));
        const char *value = form_value(form, i, &len);
        FUZZ_CHECK(n > 0 && n <= FORM_NAME_MAX && utf8_valid(form_name(form, i), n));
        FUZZ_CHECK(strlen(value) == len && utf8_valid(value, len));
        FUZZ_CHECK(form_get(form, form_name(form, i), NULL) == value); /* once */
    }
    check_reply(DOC_JSON, form);
    check_reply(DOC_XML, form);
    form_destroy(&form);
    return 0;
}
