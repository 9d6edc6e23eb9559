/* miz_json.h: a msgpack object written as JSON (miz_json.c). */
#ifndef MIZ_JSON_H
#define MIZ_JSON_H

#include <msgpack.h>
#include <stdio.h>

void json_write(FILE *out, const msgpack_object *o);
/* s[0..n) as a JSON string: UTF-8 as it is, only what JSON requires escaped. */
void json_string(FILE *out, const char *s, size_t n);

#endif
