/* doc: an Open311 reply written in the format its path asked for, JSON or
 * XML (GeoReport v2 requires XML, and most clients read JSON): a list of
 * flat items, such as <services><service>..</service></services> or
 * [{..}, ..]. Handlers say what an item holds once; the format is this
 * file's business. */
#ifndef MIZ_O311_DOC_H
#define MIZ_O311_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { DOC_JSON, DOC_XML } doc_format_t;

typedef struct doc doc_t;

/* The reply's Content-Type. */
const char *doc_content_type(doc_format_t f);
/* A list named list (the XML root) of items named item. NULL: no memory. */
doc_t *doc_new(doc_format_t f, const char *list, const char *item);
void doc_begin(doc_t *d); /* an item */
void doc_end(doc_t *d);
/* s[0..n), UTF-8; s NULL: null (an empty element in XML) */
void doc_str(doc_t *d, const char *key, const char *s, size_t n);
void doc_cstr(doc_t *d, const char *key, const char *s);
void doc_uint(doc_t *d, const char *key, uint64_t v);
void doc_num(doc_t *d, const char *key, double v);
void doc_bool(doc_t *d, const char *key, bool v);
/* ms since the epoch as W3C date and time in Iran's time, as GeoReport
 * wants: "2026-12-06T18:30:00+03:30"; 0: null. */
void doc_time(doc_t *d, const char *key, uint64_t ms);
/* The text (free it), or NULL when memory ran out; frees d. */
char *doc_finish(doc_t **d, size_t *len);
void doc_destroy(doc_t **d);

#endif
