/* store_pg: what the PostgreSQL store's files share (store_pg.c, the
 * connections and the commit; store_pg_read.c, the reads, the lease and the
 * purge; store_pg_schema.c, the schema checked or created at start).
 * Nothing outside the store includes it: the rest of mizd sees store.h. */
#ifndef MIZ_STORE_PG_H
#define MIZ_STORE_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "store_backend.h"

#define PG_SCHEMA_VERSION 1

/* The writer's prepared statements, by index (named "s0", "s1", ...). */
enum { PG_LEASE_RENEW, PG_PUT, PG_REF, PG_COUNTERS, PG_STMT_COUNT };

/* ---- store_pg_rows.c: a commit's requests, as arrays for one statement ---- */

/* The columns of PG_PUT, in its parameters' order. */
enum {
    PG_COL_TRACKING, PG_COL_OPEN, PG_COL_CLOSED, PG_COL_REF, PG_COL_TOPIC, PG_COL_AGENCY,
    PG_COL_STATE, PG_COL_CREATED, PG_COL_ANSWER_BY, PG_COL_OVERDUE, PG_COL_RECORD, PG_COLS
};

typedef struct {
    char *p;
    size_t n, cap;
} pg_buf_t;

typedef struct {
    pg_buf_t col[PG_COLS]; /* each a binary array: its header, then its elements */
    size_t n;              /* rows */
    bool oom;
} pg_rows_t;

void pg_rows_clear(pg_rows_t *r);
/* A request's row (row NULL: no summary). false out of memory. */
bool pg_rows_add(pg_rows_t *r, uint64_t tracking, bool open, uint64_t closed_at, const char *ref,
                 size_t ref_len, const store_row_t *row, const void *rec, size_t len);
/* The statement's parameters: PG_COLS binary arrays. */
void pg_rows_params(pg_rows_t *r, const char **v, int *len, int *fmt);
void pg_rows_fini(pg_rows_t *r);

typedef struct {
    store_t b;
    char *dsn;
    PGconn *w; /* the writer's: commits (writer.h's thread contract), the lease, the purge */
    PGconn *r; /* the loop's reads */
    uint64_t r_failed_at; /* monotonic ms its last connection failed; 0: it did not */
    /* the transaction being sent */
    int unsynced;          /* statements since the last sync point */
    store_status_t failed; /* its first failure: the rest is not sent */
    pg_rows_t rows;        /* its requests, sent in one statement before COMMIT */
    /* the lease, once taken: every commit renews it and checks the epoch */
    uint64_t epoch; /* 0: not taken */
    uint64_t lease_ms;
} pg_t;

/* "PATH: what: PostgreSQL's words" into buf (STORE_ERR_MAX bytes), from
 * res, or else c's last error. */
void pg_fail(pg_t *s, char *buf, const char *what, PGconn *c, const PGresult *res);
/* One statement on c, with at most 4 binary parameters, results binary:
 * NULL with "PATH: what: ..." in err (STORE_ERR_MAX bytes). */
PGresult *pg_run(pg_t *s, PGconn *c, char *err, const char *what, const char *sql, int n,
                 const char *const *v, const int *len);
/* A new connection to the primary, or NULL with err (STORE_ERR_MAX bytes). */
PGconn *pg_connect(pg_t *s, char *err);
/* The loop's connection, made again if lost: -1 with b.err. */
int pg_reader(pg_t *s);
/* The writer's, made again if lost (its statements prepared): -1 with
 * b.werr. Only while no commit is in flight, or on the writer's thread. */
int pg_writer(pg_t *s);
/* A binary bigint of a result. */
uint64_t pg_u64(const PGresult *res, int row, int col);

/* ---- store_pg_schema.c ---- */

/* Creates the schema in a database without one, checks it in one that has
 * it: -1 with b.err (naming the database) for another version or a part
 * missing. */
int pg_schema(pg_t *s);

/* ---- store_pg_read.c ---- */

int pg_counters(store_t *st, store_counters_t *next);
int pg_each_open(store_t *st, store_record_fn *fn, void *arg);
int pg_get(store_t *st, uint64_t tracking, store_record_fn *fn, void *arg);
int pg_find_ref(store_t *st, const char *ref, size_t ref_len, uint64_t *tracking, uint64_t *at);
int pg_each_ref_since(store_t *st, uint64_t since, store_ref_fn *fn, void *arg);
store_scan_t *pg_scan(store_t *st, uint64_t since);
int pg_scan_next(store_scan_t *sc, size_t max, store_record_fn *fn, void *arg);
void pg_scan_destroy(store_scan_t *sc);
long pg_purge(store_t *st, uint64_t before, size_t max);
/* A clean stop gives the lease up (when it still holds it): a standby
 * takes over at once, not a lease later. */
void pg_lease_release(pg_t *s);
int pg_lease_take(store_t *st, const char *holder, uint64_t first_ms, uint64_t lease_ms,
                  store_lease_t *l);

#endif
