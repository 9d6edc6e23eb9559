/* form: the fields of an HTML form or a query string
 * (application/x-www-form-urlencoded), as an Open311 client posts a
 * request and asks with GET. Everything in them is the client's, so each
 * name and value is decoded and checked here: percent-escapes and '+',
 * valid UTF-8, no NUL, a name at most once, bounded counts and sizes. */
#ifndef MIZ_O311_FORM_H
#define MIZ_O311_FORM_H

#include <stddef.h>

#define FORM_MAX_FIELDS 64
#define FORM_NAME_MAX 128

typedef struct form form_t;

/* text[0..len) (need not end in NUL). NULL with the problem in err, which
 * names the field: "field 3 (\"lat\"): its value is not UTF-8"; empty text: no fields. */
form_t *form_parse(const char *text, size_t len, char *err, size_t errlen);
void form_destroy(form_t **f);
size_t form_count(const form_t *f);
/* The i-th field's name and value (decoded, NUL-terminated), in order. */
const char *form_name(const form_t *f, size_t i);
const char *form_value(const form_t *f, size_t i, size_t *len);
/* The value of the field named name, or NULL. */
const char *form_get(const form_t *f, const char *name, size_t *len);

#endif
