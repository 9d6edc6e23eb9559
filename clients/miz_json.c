/* miz_json: a broker's reply written as JSON, for `miz status --json`.
 *
 * Scripts read JSON more easily than msgpack or our text; the reply is
 * written as it came (numbers stay numbers, times stay milliseconds since
 * the epoch), strings as UTF-8 with only what JSON requires escaped, so
 * Persian text stays readable. miz-dashboard and miz-open311 write their
 * strings with json_string too. */
#include "miz_json.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>

void json_string(FILE *out, const char *s, size_t n)
{
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c < 0x20 || c == 0x7F)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

/* The shortest of %.15g and %.17g that reads back as v (33.6374, not
 * 33.637399999999999); JSON has no NaN or infinity: null. */
static void json_number(FILE *out, double v)
{
    char text[32];
    if (!isfinite(v)) {
        fputs("null", out);
        return;
    }
    snprintf(text, sizeof text, "%.15g", v);
    if (strtod(text, NULL) != v)
        snprintf(text, sizeof text, "%.17g", v);
    fputs(text, out);
}

void json_write(FILE *out, const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_BOOLEAN: fputs(o->via.boolean ? "true" : "false", out); break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: fprintf(out, "%" PRIu64, o->via.u64); break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: fprintf(out, "%" PRId64, o->via.i64); break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: json_number(out, o->via.f64); break;
    case MSGPACK_OBJECT_STR: json_string(out, o->via.str.ptr, o->via.str.size); break;
    case MSGPACK_OBJECT_ARRAY:
        fputc('[', out);
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i)
                fputs(", ", out);
            json_write(out, &o->via.array.ptr[i]);
        }
        fputc(']', out);
        break;
    case MSGPACK_OBJECT_MAP:
        fputc('{', out);
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            if (i)
                fputs(", ", out);
            if (kv->key.type == MSGPACK_OBJECT_STR)
                json_string(out, kv->key.via.str.ptr, kv->key.via.str.size);
            else
                fputs("\"?\"", out); /* the broker's keys are strings */
            fputs(": ", out);
            json_write(out, &kv->val);
        }
        fputc('}', out);
        break;
    default: fputs("null", out); break; /* nil, and binary the broker never sends here */
    }
}
