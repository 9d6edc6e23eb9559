/* store_pg_rows: a commit's requests as columns of PostgreSQL arrays, all
 * written by one statement (INSERT ... SELECT FROM unnest(...) ON CONFLICT
 * DO UPDATE).
 *
 * A statement per request costs PostgreSQL its parse, bind and executor
 * start for each row, which on a small server is most of what a request
 * costs it; one statement per commit pays that once. The arrays go in
 * PostgreSQL's binary array format (a header, then each element's length
 * and bytes), which the loop's encoded records enter as they are: nothing
 * is escaped or copied twice. A batch holds each request at most once
 * (commit.c), as ON CONFLICT requires. */
#include "store_pg.h"

#include <stdlib.h>
#include <string.h>

#define PG_ARRAY_HEADER 20 /* ndim, flags, element type, size, lower bound */

/* Each column's element type: the OIDs of int8, bool, bytea and text. */
static const uint32_t pg_col_oid[PG_COLS] = {
    [PG_COL_TRACKING] = 20, [PG_COL_OPEN] = 16,    [PG_COL_CLOSED] = 20, [PG_COL_REF] = 17,
    [PG_COL_TOPIC] = 25,    [PG_COL_AGENCY] = 25,  [PG_COL_STATE] = 25,  [PG_COL_CREATED] = 20,
    [PG_COL_ANSWER_BY] = 20, [PG_COL_OVERDUE] = 16, [PG_COL_RECORD] = 17,
};

static void pg_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void pg_buf_write(pg_rows_t *r, pg_buf_t *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            r->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

/* One element: its length, then its bytes; NULL (no bytes) as length -1. */
static void pg_elem(pg_rows_t *r, int col, const void *p, size_t n)
{
    unsigned char len[4];
    pg_put32(len, p ? (uint32_t)n : UINT32_MAX);
    pg_buf_write(r, &r->col[col], len, 4);
    if (p)
        pg_buf_write(r, &r->col[col], p, n);
}

static void pg_elem_u64(pg_rows_t *r, int col, uint64_t v)
{
    unsigned char b[8];
    store_be64(b, v);
    pg_elem(r, col, b, 8);
}

static void pg_elem_bool(pg_rows_t *r, int col, bool v)
{
    unsigned char b = v;
    pg_elem(r, col, &b, 1);
}

/* A string column: NULL when empty. */
static void pg_elem_str(pg_rows_t *r, int col, const char *s, size_t n)
{
    pg_elem(r, col, n ? s : NULL, n);
}

void pg_rows_clear(pg_rows_t *r)
{
    static const unsigned char header[PG_ARRAY_HEADER] = {0};
    r->n = 0;
    r->oom = false;
    for (int c = 0; c < PG_COLS; c++) {
        r->col[c].n = 0;
        pg_buf_write(r, &r->col[c], header, sizeof header); /* filled by pg_rows_params */
    }
}

bool pg_rows_add(pg_rows_t *r, uint64_t tracking, bool open, uint64_t closed_at, const char *ref,
                 size_t ref_len, const store_row_t *row, const void *rec, size_t len)
{
    static const store_row_t none = {.topic = NULL};
    const store_row_t *w = row ? row : &none;
    pg_elem_u64(r, PG_COL_TRACKING, tracking);
    pg_elem_bool(r, PG_COL_OPEN, open);
    pg_elem_u64(r, PG_COL_CLOSED, closed_at);
    pg_elem_str(r, PG_COL_REF, ref, ref ? ref_len : 0);
    pg_elem_str(r, PG_COL_TOPIC, w->topic, w->topic_len);
    pg_elem_str(r, PG_COL_AGENCY, w->agency, w->agency_len);
    pg_elem_str(r, PG_COL_STATE, w->state, w->state_len);
    pg_elem_u64(r, PG_COL_CREATED, w->created);
    pg_elem_u64(r, PG_COL_ANSWER_BY, w->answer_by);
    pg_elem_bool(r, PG_COL_OVERDUE, w->overdue);
    pg_elem(r, PG_COL_RECORD, rec, len);
    r->n++;
    return !r->oom;
}

void pg_rows_params(pg_rows_t *r, const char **v, int *len, int *fmt)
{
    for (int c = 0; c < PG_COLS; c++) {
        unsigned char *h = (unsigned char *)r->col[c].p;
        pg_put32(h, 1);                   /* one dimension */
        pg_put32(h + 4, 1);               /* may hold NULLs */
        pg_put32(h + 8, pg_col_oid[c]);   /* of this type */
        pg_put32(h + 12, (uint32_t)r->n); /* this many */
        pg_put32(h + 16, 1);              /* from 1 */
        v[c] = r->col[c].p;
        len[c] = (int)r->col[c].n;
        fmt[c] = 1;
    }
}

void pg_rows_fini(pg_rows_t *r)
{
    for (int c = 0; c < PG_COLS; c++)
        free(r->col[c].p);
    memset(r, 0, sizeof *r);
}
