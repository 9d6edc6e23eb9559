/* doc: see doc.h. Written into a memory stream: a reply is a few items, and
 * evhttp copies it out once. XML gets the five entities escaped and the
 * control characters XML 1.0 forbids replaced; JSON escapes through
 * json_string, as miz and miz-dashboard do. */
#define _GNU_SOURCE /* open_memstream */
#include "doc.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "miz_json.h"
#include "workcal.h"

#define DOC_UTC_OFFSET "+03:30" /* WORKCAL_IRST, as ISO 8601 writes it */
#define DOC_REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD, for what XML cannot hold */

struct doc {
    doc_format_t f;
    FILE *out;
    char *text;
    size_t len;
    const char *list, *item;
    unsigned items, fields; /* written so far: where the commas go */
};

const char *doc_content_type(doc_format_t f)
{
    return f == DOC_XML ? "text/xml; charset=utf-8" : "application/json; charset=utf-8";
}

doc_t *doc_new(doc_format_t f, const char *list, const char *item)
{
    doc_t *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    *d = (doc_t){.f = f, .list = list, .item = item};
    if (!(d->out = open_memstream(&d->text, &d->len))) {
        free(d);
        return NULL;
    }
    if (f == DOC_XML)
        fprintf(d->out, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<%s>", list);
    else
        fputc('[', d->out);
    return d;
}

void doc_begin(doc_t *d)
{
    if (d->f == DOC_XML)
        fprintf(d->out, "<%s>", d->item);
    else
        fputs(d->items ? ",{" : "{", d->out);
    d->items++;
    d->fields = 0;
}

void doc_end(doc_t *d)
{
    if (d->f == DOC_XML)
        fprintf(d->out, "</%s>", d->item);
    else
        fputc('}', d->out);
}

static void doc_xml_text(FILE *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&apos;", out); break;
        case '\r': fputs("&#13;", out); break; /* a raw one is read back as a newline */
        default:
            /* XML 1.0 has no such characters: the C0 controls but tab and
             * newline, DEL, and U+FFFE and U+FFFF (valid UTF-8 all the same) */
            if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7F) {
                fputs(DOC_REPLACEMENT, out);
            } else if (c == 0xEF && i + 2 < n && (unsigned char)s[i + 1] == 0xBF &&
                       ((unsigned char)s[i + 2] & 0xFE) == 0xBE) {
                fputs(DOC_REPLACEMENT, out);
                i += 2;
            } else {
                fputc(c, out);
            }
        }
    }
}

/* The key, and the value's opening in XML; a value follows. */
static void doc_key(doc_t *d, const char *key)
{
    if (d->f == DOC_XML) {
        fprintf(d->out, "<%s>", key);
    } else {
        if (d->fields)
            fputc(',', d->out);
        json_string(d->out, key, strlen(key));
        fputc(':', d->out);
    }
    d->fields++;
}

static void doc_close(doc_t *d, const char *key)
{
    if (d->f == DOC_XML)
        fprintf(d->out, "</%s>", key);
}

void doc_str(doc_t *d, const char *key, const char *s, size_t n)
{
    doc_key(d, key);
    if (d->f == DOC_XML && s)
        doc_xml_text(d->out, s, n);
    else if (s)
        json_string(d->out, s, n);
    else if (d->f == DOC_JSON)
        fputs("null", d->out);
    doc_close(d, key);
}

void doc_cstr(doc_t *d, const char *key, const char *s)
{
    doc_str(d, key, s, s ? strlen(s) : 0);
}

void doc_uint(doc_t *d, const char *key, uint64_t v)
{
    doc_key(d, key);
    fprintf(d->out, "%" PRIu64, v);
    doc_close(d, key);
}

void doc_num(doc_t *d, const char *key, double v)
{
    if (!isfinite(v)) { /* JSON has no NaN: a payload another client made may hold one */
        doc_str(d, key, NULL, 0);
        return;
    }
    doc_key(d, key);
    fprintf(d->out, "%.7f", v); /* 1 cm at the equator: what a phone's position holds */
    doc_close(d, key);
}

void doc_bool(doc_t *d, const char *key, bool v)
{
    doc_key(d, key);
    fputs(v ? "true" : "false", d->out);
    doc_close(d, key);
}

void doc_time(doc_t *d, const char *key, uint64_t ms)
{
    char text[40] = "";
    time_t t = (time_t)(ms / 1000) + WORKCAL_IRST * 60;
    struct tm tm;
    if (ms && gmtime_r(&t, &tm))
        strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S" DOC_UTC_OFFSET, &tm);
    doc_cstr(d, key, ms ? text : NULL);
}

char *doc_finish(doc_t **dp, size_t *len)
{
    doc_t *d = *dp;
    if (d->f == DOC_XML)
        fprintf(d->out, "</%s>\n", d->list);
    else
        fputs("]\n", d->out);
    bool failed = ferror(d->out) != 0;
    char *text = NULL;
    if (fclose(d->out) == 0 && !failed) {
        text = d->text;
        *len = d->len;
    } else {
        free(d->text);
    }
    free(d);
    *dp = NULL;
    return text;
}

void doc_destroy(doc_t **dp)
{
    doc_t *d = *dp;
    if (!d)
        return;
    fclose(d->out);
    free(d->text);
    free(d);
    *dp = NULL;
}
