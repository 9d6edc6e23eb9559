/* form: see form.h. libevent's evhttp_parse_query_str decodes values but
 * not names (so "attribute%5Bx%5D" stays encoded) and cuts a value at an
 * encoded NUL without saying so; this parser decodes both with
 * evhttp_uridecode and refuses what it cannot represent. */
#include "form.h"

#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

typedef struct {
    char *name, *value;
    size_t value_len;
} form_field_t;

struct form {
    form_field_t fields[FORM_MAX_FIELDS];
    size_t n;
};

void form_destroy(form_t **fp)
{
    form_t *f = *fp;
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++) {
        free(f->fields[i].name);
        free(f->fields[i].value);
    }
    free(f);
    *fp = NULL;
}

/* s[0..n) decoded; NULL when it holds a NUL or is not UTF-8 (why in *why). */
static char *form_decode(const char *s, size_t n, size_t *len, const char **why)
{
    char *raw = strndup(s, n), *text = NULL;
    if (!raw) {
        *why = "out of memory";
        return NULL;
    }
    if (memchr(s, '\0', n))
        *why = "holds a NUL byte";
    else if (!(text = evhttp_uridecode(raw, 1, len)))
        *why = "out of memory";
    else if (strlen(text) != *len)
        *why = "holds an encoded NUL (%00)";
    else if (!utf8_valid(text, *len))
        *why = "is not UTF-8";
    else
        *why = NULL;
    free(raw);
    if (*why) {
        free(text);
        return NULL;
    }
    return text;
}

#define FORM_QUOTE_MAX 40 /* bytes of a name quoted in an error */

/* A name (valid UTF-8) as an error quotes it: at most FORM_QUOTE_MAX bytes,
 * cut between characters, with '?' for a control character, so that the
 * error stays one line of UTF-8 whatever the client named its field. */
static const char *form_quote(const char *name, char out[FORM_QUOTE_MAX + 4])
{
    size_t n = 0, len = strlen(name);
    while (n < len) {
        unsigned char b = (unsigned char)name[n];
        size_t c = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1; /* its bytes */
        if (n + c > FORM_QUOTE_MAX)
            break;
        for (size_t i = 0; i < c; i++)
            out[n + i] = c == 1 && (b < 0x20 || b == 0x7F) ? '?' : name[n + i];
        n += c;
    }
    strcpy(out + n, n < len ? "..." : "");
    return out;
}

static int form_add(form_t *f, const char *item, size_t n, char *err, size_t errlen)
{
    char quoted[FORM_QUOTE_MAX + 4];
    const char *eq = memchr(item, '=', n), *why;
    size_t name_n = eq ? (size_t)(eq - item) : n, name_len, value_len = 0;
    form_field_t *field = &f->fields[f->n];
    if (f->n == FORM_MAX_FIELDS) {
        snprintf(err, errlen, "more than %d fields", FORM_MAX_FIELDS);
        return -1;
    }
    if (!(field->name = form_decode(item, name_n, &name_len, &why))) {
        snprintf(err, errlen, "field %zu: its name %s", f->n + 1, why);
        return -1;
    }
    f->n++; /* freed with the form from here on */
    if (name_len == 0 || name_len > FORM_NAME_MAX) {
        snprintf(err, errlen, "field %zu: a name must be 1 to %d bytes", f->n, FORM_NAME_MAX);
        return -1;
    }
    field->value = eq ? form_decode(eq + 1, n - name_n - 1, &value_len, &why) : strdup("");
    if (!field->value) {
        snprintf(err, errlen, "field %zu (\"%s\"): its value %s", f->n,
                 form_quote(field->name, quoted),
                 eq ? why : "is lost: out of memory");
        return -1;
    }
    field->value_len = value_len;
    for (size_t i = 0; i + 1 < f->n; i++)
        if (strcmp(f->fields[i].name, field->name) == 0) {
            snprintf(err, errlen, "field %zu (\"%s\"): given twice", f->n,
                     form_quote(field->name, quoted));
            return -1;
        }
    return 0;
}

form_t *form_parse(const char *text, size_t len, char *err, size_t errlen)
{
    form_t *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t at = 0; at < len;) {
        const char *amp = memchr(text + at, '&', len - at);
        size_t n = amp ? (size_t)(amp - text) - at : len - at;
        if (n > 0 && form_add(f, text + at, n, err, errlen) < 0) {
            form_destroy(&f);
            return NULL;
        }
        at += n + 1;
    }
    return f;
}

size_t form_count(const form_t *f)
{
    return f->n;
}

const char *form_name(const form_t *f, size_t i)
{
    return f->fields[i].name;
}

const char *form_value(const form_t *f, size_t i, size_t *len)
{
    if (len)
        *len = f->fields[i].value_len;
    return f->fields[i].value;
}

const char *form_get(const form_t *f, const char *name, size_t *len)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->fields[i].name, name) == 0)
            return form_value(f, i, len);
    return NULL;
}
