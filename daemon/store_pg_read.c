/* store_pg_read: the PostgreSQL store's reads, its lease and its purge.
 *
 * Reads run on the loop's own connection, each a statement of its own:
 * they see what is committed, which is all the loop ever promised. Recovery
 * streams the open requests a row at a time (libpq's single-row mode), so a
 * million of them never sit in memory twice. A snapshot reads through a
 * cursor on a connection of its own, in a repeatable-read transaction, so
 * its parts, read over many turns, show one moment. The lease and the purge
 * use the writer's connection, which the loop may use while no commit is in
 * flight (writer.h). */
#include "store_pg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    store_scan_t b;
    pg_t *store;
    PGconn *c;
    bool done;
} pg_scan_t;

static PGresult *pg_query(pg_t *s, PGconn *c, char *err, const char *sql, int n,
                          const char *const *v, const int *len)
{
    return pg_run(s, c, err, "cannot read", sql, n, v, len);
}

/* Whether a read failed because the server closed the connection (it
 * restarted, or another became primary) before libpq could tell: one more
 * try then goes to a new connection. */
static bool pg_read_lost(pg_t *s)
{
    return PQstatus(s->r) != CONNECTION_OK;
}

/* A read on the loop's connection, tried once more on a new one when the
 * old one turns out to be lost. */
static PGresult *pg_read(pg_t *s, const char *sql, int n, const char *const *v, const int *len)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (pg_reader(s) < 0)
            return NULL;
        PGresult *res = pg_query(s, s->r, s->b.err, sql, n, v, len);
        if (res || !pg_read_lost(s))
            return res;
    }
    return NULL;
}

int pg_counters(store_t *st, store_counters_t *next)
{
    pg_t *s = (pg_t *)st;
    PGresult *res = pg_read(s, "SELECT next_tracking, next_delivery, next_event FROM miz_meta"
                               " WHERE id = 1", 0, NULL, NULL);
    if (!res)
        return -1;
    int ok = PQntuples(res) == 1;
    if (ok)
        *next = (store_counters_t){pg_u64(res, 0, 0), pg_u64(res, 0, 1), pg_u64(res, 0, 2)};
    else
        snprintf(s->b.err, sizeof s->b.err, "%s: miz_meta has no counters", s->b.path);
    PQclear(res);
    return ok ? 0 : -1;
}

/* Streams the first column of sql's rows to fn a row at a time (libpq's
 * single-row mode: a million rows never sit in memory at once); stops
 * calling fn at its first non-zero return, which it returns. */
static int pg_stream(pg_t *s, const char *sql, int n, const char *const *v, const int *len,
                     store_record_fn *fn, void *arg)
{
    static const int binary[1] = {1};
    int ret = 0;
    bool rows = false; /* a retry must not call fn on a row twice */
    for (int attempt = 0; attempt < 2; attempt++) {
        if (pg_reader(s) < 0)
            return -1;
        if (!PQsendQueryParams(s->r, sql, n, NULL, v, len, binary, 1) ||
            !PQsetSingleRowMode(s->r)) {
            ret = (pg_fail(s, s->b.err, "cannot read", s->r, NULL), -1);
        } else {
            ret = 0;
            PGresult *res;
            while ((res = PQgetResult(s->r))) { /* every result, even after fn stopped */
                ExecStatusType t = PQresultStatus(res);
                if (t == PGRES_SINGLE_TUPLE && ret == 0) {
                    rows = true;
                    ret = fn(PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0), arg);
                } else if (t != PGRES_SINGLE_TUPLE && t != PGRES_TUPLES_OK && ret == 0) {
                    ret = (pg_fail(s, s->b.err, "cannot read", s->r, res), -1);
                }
                PQclear(res);
            }
        }
        if (ret != -1 || rows || !pg_read_lost(s))
            return ret;
    }
    return ret;
}

int pg_each_open(store_t *st, store_record_fn *fn, void *arg)
{
    return pg_stream((pg_t *)st, "SELECT record FROM miz_request WHERE open ORDER BY tracking", 0,
                     NULL, NULL, fn, arg);
}

int pg_each_ref_since(store_t *st, uint64_t since, store_ref_fn *fn, void *arg)
{
    unsigned char k[8];
    store_be64(k, since);
    const char *v[] = {(const char *)k};
    int len[] = {8};
    return pg_stream((pg_t *)st, "SELECT ref FROM miz_ref WHERE at >= $1::bigint", 1, v, len, fn,
                     arg);
}

int pg_get(store_t *st, uint64_t tracking, store_record_fn *fn, void *arg)
{
    pg_t *s = (pg_t *)st;
    unsigned char k[8];
    store_be64(k, tracking);
    const char *v[] = {(const char *)k};
    int len[] = {8};
    PGresult *res = pg_read(s, "SELECT record FROM miz_request WHERE tracking = $1::bigint", 1, v,
                            len);
    if (!res)
        return -1;
    int found = PQntuples(res) == 1;
    if (found)
        fn(PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0), arg);
    PQclear(res);
    return found;
}

int pg_find_ref(store_t *st, const char *ref, size_t ref_len, uint64_t *tracking, uint64_t *at)
{
    pg_t *s = (pg_t *)st;
    const char *v[] = {ref_len ? ref : ""};
    int len[] = {(int)ref_len};
    PGresult *res = pg_read(s, "SELECT tracking, at FROM miz_ref WHERE ref = $1::bytea", 1, v, len);
    if (!res)
        return -1;
    int found = PQntuples(res) == 1;
    if (found) {
        *tracking = pg_u64(res, 0, 0);
        *at = pg_u64(res, 0, 1);
    }
    PQclear(res);
    return found;
}

/* ---- snapshots ---- */

void pg_scan_destroy(store_scan_t *scan)
{
    pg_scan_t *sc = (pg_scan_t *)scan;
    PQfinish(sc->c);
    free(sc);
}

store_scan_t *pg_scan(store_t *st, uint64_t since)
{
    pg_t *s = (pg_t *)st;
    pg_scan_t *sc = calloc(1, sizeof *sc);
    if (!sc) {
        snprintf(s->b.err, sizeof s->b.err, "%s: %s", s->b.path, strerror(ENOMEM));
        return NULL;
    }
    sc->b.store = st;
    sc->store = s;
    unsigned char k[8];
    store_be64(k, since);
    const char *v[] = {(const char *)k};
    int len[] = {8};
    /* open requests in tracking order, then closed ones in closing order */
    static const char *const steps[] = {
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        "DECLARE miz_scan NO SCROLL CURSOR FOR SELECT record FROM ("
        " SELECT record, 0 AS part, tracking AS k1, 0::bigint AS k2 FROM miz_request WHERE open"
        " UNION ALL"
        " SELECT record, 1, closed_ms, tracking FROM miz_request"
        "  WHERE NOT open AND closed_ms >= $1::bigint) r ORDER BY part, k1, k2",
    };
    PGresult *res = NULL;
    if (!(sc->c = pg_connect(s, s->b.err)) ||
        !(res = pg_query(s, sc->c, s->b.err, steps[0], 0, NULL, NULL))) {
        pg_scan_destroy(&sc->b);
        return NULL;
    }
    PQclear(res);
    if (!(res = pg_query(s, sc->c, s->b.err, steps[1], 1, v, len))) {
        pg_scan_destroy(&sc->b);
        return NULL;
    }
    PQclear(res);
    return &sc->b;
}

int pg_scan_next(store_scan_t *scan, size_t max, store_record_fn *fn, void *arg)
{
    pg_scan_t *sc = (pg_scan_t *)scan;
    pg_t *s = sc->store;
    if (sc->done)
        return 0;
    char sql[64];
    snprintf(sql, sizeof sql, "FETCH FORWARD %zu FROM miz_scan", max);
    PGresult *res = pg_query(s, sc->c, s->b.err, sql, 0, NULL, NULL);
    if (!res)
        return -1;
    int n = PQntuples(res), ret = 1;
    for (int i = 0; i < n && ret == 1; i++)
        if (fn(PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0), arg))
            ret = -1;
    PQclear(res);
    if (ret == 1 && (size_t)n < max) {
        sc->done = true;
        ret = 0;
    }
    return ret;
}

/* ---- on the writer's connection, with no commit in flight ---- */

/* BEGIN, then sql with its parameters: the result, or NULL with b.werr
 * (the transaction rolled back). Neither the purge nor the lease's take
 * checks the lease: neither makes a promise (a deposed mizd's purge deletes
 * what the active would). */
static PGresult *pg_write_begin(pg_t *s, const char *sql, int n, const char *const *v,
                                const int *len)
{
    if (pg_writer(s) < 0)
        return NULL;
    PGresult *res = pg_query(s, s->w, s->b.werr, "BEGIN", 0, NULL, NULL);
    PQclear(res);
    if (res)
        res = pg_query(s, s->w, s->b.werr, sql, n, v, len);
    if (!res)
        PQclear(PQexec(s->w, "ROLLBACK"));
    return res;
}

static int pg_write_commit(pg_t *s)
{
    PGresult *res = pg_query(s, s->w, s->b.werr, "COMMIT", 0, NULL, NULL);
    PQclear(res);
    return res ? 0 : -1;
}

long pg_purge(store_t *st, uint64_t before, size_t max)
{
    pg_t *s = (pg_t *)st;
    unsigned char b[8], m[8];
    store_be64(b, before);
    store_be64(m, max);
    const char *v[] = {(const char *)b, (const char *)m};
    int len[] = {8, 8};
    /* a ref may since name a newer request: only our own goes */
    PGresult *res = pg_write_begin(
        s,
        "WITH gone AS (DELETE FROM miz_request WHERE tracking IN (SELECT tracking FROM miz_request"
        "  WHERE NOT open AND closed_ms < $1::bigint ORDER BY closed_ms, tracking"
        "  LIMIT $2::bigint) RETURNING tracking, client_ref),"
        " refs AS (DELETE FROM miz_ref f USING gone WHERE f.ref = gone.client_ref"
        "  AND f.tracking = gone.tracking)"
        " SELECT count(*)::bigint FROM gone",
        2, v, len);
    if (!res) {
        snprintf(s->b.err, sizeof s->b.err, "%s", s->b.werr);
        return -1;
    }
    long n = (long)pg_u64(res, 0, 0);
    PQclear(res);
    if (pg_write_commit(s) < 0) {
        snprintf(s->b.err, sizeof s->b.err, "%s", s->b.werr);
        return -1;
    }
    return n;
}

void pg_lease_release(pg_t *s)
{
    if (!s->epoch || !s->w || PQstatus(s->w) != CONNECTION_OK)
        return;
    unsigned char e[8];
    store_be64(e, s->epoch);
    const char *v[] = {(const char *)e};
    int len[] = {8};
    PQclear(pg_query(s, s->w, s->b.werr,
                     "UPDATE miz_lease SET expires = '-infinity' WHERE id = 1 AND epoch = $1::bigint",
                     1, v, len));
}

/* Takes an expired lease with a new epoch, in a transaction of its own; or
 * says who holds it. Clocks are the server's (clock_timestamp()), so mizd
 * on different hosts agree on when a lease expired. */
int pg_lease_take(store_t *st, const char *holder, uint64_t first_ms, uint64_t lease_ms,
                  store_lease_t *l)
{
    pg_t *s = (pg_t *)st;
    unsigned char ms[8];
    store_be64(ms, first_ms);
    const char *v[] = {holder, (const char *)ms};
    int len[] = {(int)strlen(holder), 8};
    PGresult *res = pg_write_begin(
        s,
        "WITH taken AS (UPDATE miz_lease SET holder = $1::text, epoch = epoch + 1,"
        "  expires = clock_timestamp() + $2::bigint * interval '1 millisecond'"
        "  WHERE id = 1 AND expires < clock_timestamp()"
        "  RETURNING holder, epoch, true AS ours, $2::bigint AS left_ms)"
        " SELECT * FROM taken UNION ALL"
        " SELECT holder, epoch, false, CASE WHEN expires > clock_timestamp() THEN"
        "  (extract(epoch FROM expires - clock_timestamp()) * 1000)::bigint ELSE 0 END"
        " FROM miz_lease WHERE id = 1 AND NOT EXISTS (TABLE taken)",
        2, v, len);
    if (!res || pg_write_commit(s) < 0) {
        PQclear(res);
        snprintf(s->b.err, sizeof s->b.err, "%s", s->b.werr);
        return -1;
    }
    int ours = -1;
    if (PQntuples(res) == 1) {
        snprintf(l->holder, sizeof l->holder, "%.*s", PQgetlength(res, 0, 0),
                 PQgetvalue(res, 0, 0));
        l->epoch = pg_u64(res, 0, 1);
        ours = *PQgetvalue(res, 0, 2) != 0;
        l->expires_in = pg_u64(res, 0, 3);
    } else {
        snprintf(s->b.err, sizeof s->b.err, "%s: miz_lease has no row", s->b.path);
    }
    PQclear(res);
    if (ours == 1) {
        s->epoch = l->epoch;
        s->lease_ms = lease_ms;
    }
    return ours;
}
