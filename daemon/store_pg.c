/* store_pg: the broker's durable state in PostgreSQL, for a province past
 * one server (docs/ha.md): PostgreSQL's synchronous replication keeps it on
 * two machines, Patroni decides which is primary, and several mizd share it,
 * one active under the lease (role.h).
 *
 * Two connections: the writer's (a turn's commit, on the writer's thread,
 * writer.h) and the loop's reads; a snapshot's long read has one of its
 * own, in a repeatable-read transaction so it sees one moment. A commit is
 * one transaction sent in libpq's pipeline mode (a round trip per commit,
 * not per request), and its first statement renews the lease and checks its
 * epoch: a mizd another has taken over from fails the whole transaction and
 * writes nothing. The schema (store_pg_schema.c) is versioned; docs/storage.md
 * gives it as a read-only interface for operators and the inspection office. */
#include "store_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

#define PG_SYNC_EVERY 512 /* statements between a pipeline's sync points: results never pile up */
#define PG_SQLSTATE_DEPOSED "MZ001"
#define PG_RECONNECT_MS 1000

/* ---- statements ---- */

static const char *const pg_statements[PG_STMT_COUNT] = {
    [PG_LEASE_RENEW] = "SELECT miz_lease_renew($1::bigint, $2::bigint)",
    [PG_PUT] = "INSERT INTO miz_request (tracking, open, closed, closed_ms, client_ref, topic,"
               " agency, state, created, answer_by, overdue, record)"
               " SELECT t, o, to_timestamp(NULLIF(c, 0) / 1000.0), NULLIF(c, 0), r, tp, ag, st,"
               " to_timestamp(NULLIF(cr, 0) / 1000.0), to_timestamp(NULLIF(ab, 0) / 1000.0),"
               " ov, rec FROM unnest($1::bigint[], $2::bool[], $3::bigint[], $4::bytea[],"
               " $5::text[], $6::text[], $7::text[], $8::bigint[], $9::bigint[], $10::bool[],"
               " $11::bytea[]) AS u(t, o, c, r, tp, ag, st, cr, ab, ov, rec)"
               " ON CONFLICT (tracking) DO UPDATE SET open = EXCLUDED.open,"
               " closed = EXCLUDED.closed, closed_ms = EXCLUDED.closed_ms,"
               " client_ref = EXCLUDED.client_ref, topic = EXCLUDED.topic,"
               " agency = EXCLUDED.agency, state = EXCLUDED.state, created = EXCLUDED.created,"
               " answer_by = EXCLUDED.answer_by, overdue = EXCLUDED.overdue,"
               " record = EXCLUDED.record",
    [PG_REF] = "INSERT INTO miz_ref (ref, tracking, at) VALUES ($1::bytea, $2::bigint, $3::bigint)"
               " ON CONFLICT (ref) DO UPDATE SET tracking = EXCLUDED.tracking, at = EXCLUDED.at",
    [PG_COUNTERS] = "UPDATE miz_meta SET next_tracking = $1::bigint, next_delivery = $2::bigint,"
                    " next_event = $3::bigint",
};

/* A statement's parameters, binary: integers in network order. */
typedef struct {
    const char *v[PG_COLS];
    int len[PG_COLS], fmt[PG_COLS];
    unsigned char num[PG_COLS][8];
    int n;
} pg_params_t;

static void pg_param_bytes(pg_params_t *p, const void *v, size_t len)
{
    p->v[p->n] = len ? v : "";
    p->len[p->n] = (int)len;
    p->fmt[p->n++] = 1;
}

static void pg_param_u64(pg_params_t *p, uint64_t v)
{
    store_be64(p->num[p->n], v);
    pg_param_bytes(p, p->num[p->n], 8);
}

uint64_t pg_u64(const PGresult *res, int row, int col)
{
    return PQgetlength(res, row, col) == 8
               ? store_get_be64((const unsigned char *)PQgetvalue(res, row, col))
               : 0;
}

/* ---- errors ---- */

void pg_fail(pg_t *s, char *buf, const char *what, PGconn *c, const PGresult *res)
{
    const char *why = res ? PQresultErrorMessage(res) : c ? PQerrorMessage(c) : "";
    if (!*why && c)
        why = PQerrorMessage(c);
    snprintf(buf, STORE_ERR_MAX, "%s: %s%s%.*s", s->b.path, what, *why ? ": " : "",
             (int)strcspn(why, "\n"), why);
}

PGresult *pg_run(pg_t *s, PGconn *c, char *err, const char *what, const char *sql, int n,
                 const char *const *v, const int *len)
{
    static const int binary[4] = {1, 1, 1, 1};
    PGresult *res = PQexecParams(c, sql, n, NULL, v, len, binary, 1);
    ExecStatusType t = PQresultStatus(res);
    if (t == PGRES_TUPLES_OK || t == PGRES_COMMAND_OK)
        return res;
    pg_fail(s, err, what, c, res);
    PQclear(res);
    return NULL;
}

/* ---- connections ---- */

/* libpq prints the server's notices to stderr; what matters of them comes
 * back as a failed statement, which the broker logs. */
static void pg_notice_ignore(void *arg, const char *message)
{
    (void)arg, (void)message;
}

/* The DSN as given, with what mizd needs on top: only a primary will do,
 * UTF-8, a bounded wait for a host that does not answer. */
PGconn *pg_connect(pg_t *s, char *err)
{
    const char *const keys[] = {"connect_timeout", "dbname", "target_session_attrs",
                                "client_encoding", "application_name", NULL};
    const char *const values[] = {"5", s->dsn, "read-write", "UTF8", "mizd", NULL};
    PGconn *c = PQconnectdbParams(keys, values, 1);
    if (!c) {
        snprintf(err, STORE_ERR_MAX, "%s: out of memory", s->b.path);
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        pg_fail(s, err, "cannot connect", c, NULL);
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, pg_notice_ignore, NULL);
    snprintf(s->b.path, sizeof s->b.path, "postgresql://%s:%s/%s", PQhost(c), PQport(c), PQdb(c));
    /* a commit is a promise: never acknowledged before it is durable */
    PGresult *res = PQexec(c, "SET synchronous_commit = on");
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        pg_fail(s, err, "cannot set synchronous_commit", c, res);
    PQclear(res);
    if (!ok) {
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* Whether c is still connected, as far as can be told without a round
 * trip: libpq learns that the server closed it (it died, or was demoted)
 * only when it reads, so read what is there. */
static bool pg_alive(PGconn *c)
{
    return c && PQstatus(c) == CONNECTION_OK && PQconsumeInput(c) && PQstatus(c) == CONNECTION_OK;
}

int pg_writer(pg_t *s)
{
    if (pg_alive(s->w))
        return 0;
    PQfinish(s->w);
    if (!(s->w = pg_connect(s, s->b.werr)))
        return -1;
    for (int i = 0; i < PG_STMT_COUNT; i++) {
        char name[8];
        snprintf(name, sizeof name, "s%d", i);
        PGresult *res = PQprepare(s->w, name, pg_statements[i], 0, NULL);
        bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok)
            pg_fail(s, s->b.werr, "cannot prepare a statement", s->w, res);
        PQclear(res);
        if (!ok) {
            PQfinish(s->w);
            s->w = NULL;
            return -1;
        }
    }
    return 0;
}

/* The loop waits for a connection being made: after a failed one it tries
 * again at most once a second, failing the reads in between at once. */
int pg_reader(pg_t *s)
{
    if (pg_alive(s->r))
        return 0;
    PQfinish(s->r);
    s->r = NULL;
    uint64_t now = clock_ms(CLOCK_MONOTONIC);
    if (s->r_failed_at && now - s->r_failed_at < PG_RECONNECT_MS)
        return -1; /* b.err still says why */
    s->r = pg_connect(s, s->b.err);
    s->r_failed_at = s->r ? 0 : now;
    return s->r ? 0 : -1;
}

/* ---- the writer's transaction ---- */

static store_status_t pg_send(pg_t *s, int stmt, const pg_params_t *p);

/* Reads every result up to the sync point; the first error decides. */
static store_status_t pg_sync(pg_t *s)
{
    if (!PQpipelineSync(s->w)) {
        pg_fail(s, s->b.werr, "cannot send", s->w, NULL);
        return STORE_FAILED;
    }
    store_status_t st = STORE_OK;
    for (;;) {
        PGresult *res = PQgetResult(s->w);
        if (!res) {
            if (PQstatus(s->w) != CONNECTION_OK) {
                if (st == STORE_OK)
                    pg_fail(s, s->b.werr, "connection lost", s->w, NULL);
                st = st == STORE_OK ? STORE_FAILED : st;
                break;
            }
            continue; /* the end of one statement's results */
        }
        ExecStatusType t = PQresultStatus(res);
        if (t == PGRES_FATAL_ERROR && st == STORE_OK) {
            const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            st = code && strcmp(code, PG_SQLSTATE_DEPOSED) == 0 ? STORE_DEPOSED : STORE_FAILED;
            pg_fail(s, s->b.werr, st == STORE_DEPOSED ? "deposed" : "cannot commit", s->w, res);
        }
        PQclear(res);
        if (t == PGRES_PIPELINE_SYNC)
            break;
    }
    s->unsynced = 0;
    return st;
}

static store_status_t pg_send(pg_t *s, int stmt, const pg_params_t *p)
{
    if (s->failed)
        return s->failed;
    char name[8];
    snprintf(name, sizeof name, "s%d", stmt);
    if (!PQsendQueryPrepared(s->w, name, p->n, p->v, p->len, p->fmt, 1)) {
        pg_fail(s, s->b.werr, "cannot send", s->w, NULL);
        return s->failed = STORE_FAILED;
    }
    if (++s->unsynced >= PG_SYNC_EVERY)
        s->failed = pg_sync(s);
    return s->failed;
}

static store_status_t pg_send_plain(pg_t *s, const char *sql)
{
    if (s->failed)
        return s->failed;
    if (!PQsendQueryParams(s->w, sql, 0, NULL, NULL, NULL, NULL, 1)) {
        pg_fail(s, s->b.werr, "cannot send", s->w, NULL);
        return s->failed = STORE_FAILED;
    }
    s->unsynced++;
    return STORE_OK;
}

static store_status_t pg_begin(store_t *st)
{
    pg_t *s = (pg_t *)st;
    s->failed = STORE_OK;
    s->unsynced = 0;
    pg_rows_clear(&s->rows);
    if (pg_writer(s) < 0) /* here, on the writer's thread: a server slow to answer stalls no loop */
        return STORE_FAILED;
    if (!PQenterPipelineMode(s->w)) {
        pg_fail(s, s->b.werr, "cannot begin", s->w, NULL);
        return STORE_FAILED;
    }
    pg_send_plain(s, "BEGIN");
    if (s->epoch) { /* first: a deposed mizd's transaction fails before it writes */
        pg_params_t p = {.n = 0};
        pg_param_u64(&p, s->epoch);
        pg_param_u64(&p, s->lease_ms);
        pg_send(s, PG_LEASE_RENEW, &p);
    }
    return s->failed;
}

/* Kept for the one statement that writes them all (store_pg_rows.c). */
static store_status_t pg_put(pg_t *s, uint64_t tracking, bool open, uint64_t closed_at,
                             const char *ref, size_t ref_len, const store_row_t *row,
                             const void *rec, size_t len)
{
    if (s->failed)
        return s->failed;
    if (!pg_rows_add(&s->rows, tracking, open, closed_at, ref, ref_len, row, rec, len)) {
        snprintf(s->b.werr, sizeof s->b.werr, "%s: out of memory", s->b.path);
        return s->failed = STORE_FAILED;
    }
    return STORE_OK;
}

static store_status_t pg_put_open(store_t *st, uint64_t tracking, const store_row_t *row,
                                  const void *rec, size_t len)
{
    return pg_put((pg_t *)st, tracking, true, 0, NULL, 0, row, rec, len);
}

static store_status_t pg_put_closed(store_t *st, uint64_t tracking, uint64_t closed_at,
                                    const char *ref, size_t ref_len, const store_row_t *row,
                                    const void *rec, size_t len)
{
    return pg_put((pg_t *)st, tracking, false, closed_at, ref, ref_len, row, rec, len);
}

static store_status_t pg_put_ref(store_t *st, const char *ref, size_t ref_len, uint64_t tracking,
                                 uint64_t at)
{
    pg_params_t p = {.n = 0};
    pg_param_bytes(&p, ref, ref_len);
    pg_param_u64(&p, tracking);
    pg_param_u64(&p, at);
    return pg_send((pg_t *)st, PG_REF, &p);
}

static store_status_t pg_put_counters(store_t *st, const store_counters_t *next)
{
    pg_params_t p = {.n = 0};
    pg_param_u64(&p, next->tracking);
    pg_param_u64(&p, next->delivery);
    pg_param_u64(&p, next->event);
    return pg_send((pg_t *)st, PG_COUNTERS, &p);
}

/* Ends the transaction (a failed one always rolled back: the server would
 * refuse all else in it) and leaves the connection idle, out of pipeline
 * mode, or drops it when it is out of step with the server. */
static store_status_t pg_end(pg_t *s, const char *last)
{
    store_status_t failed = s->failed;
    s->failed = STORE_OK;
    if (!s->w)
        return failed ? failed : STORE_FAILED;
    pg_send_plain(s, failed ? "ROLLBACK" : last);
    store_status_t sync = pg_sync(s);
    if (!failed && sync != STORE_OK && PQstatus(s->w) == CONNECTION_OK) {
        /* a statement failed, and the server skipped the rest up to the sync
         * point, COMMIT too: the transaction is still open, aborted */
        pg_send_plain(s, "ROLLBACK");
        pg_sync(s);
    }
    if (PQpipelineStatus(s->w) != PQ_PIPELINE_OFF && !PQexitPipelineMode(s->w)) {
        PQfinish(s->w);
        s->w = NULL;
    }
    return failed ? failed : sync;
}

static store_status_t pg_commit(store_t *st)
{
    pg_t *s = (pg_t *)st;
    if (s->rows.n) {
        pg_params_t p = {.n = PG_COLS};
        pg_rows_params(&s->rows, p.v, p.len, p.fmt);
        pg_send(s, PG_PUT, &p);
    }
    return pg_end(s, "COMMIT");
}

static void pg_abort(store_t *st)
{
    pg_end((pg_t *)st, "ROLLBACK");
}

/* A lost connection is made again by the next commit (pg_begin), on the
 * writer's thread, to whichever server is primary now. */
static int pg_prepare(store_t *st)
{
    (void)st;
    return 0;
}

/* ---- life cycle ---- */

static const store_ops_t pg_ops;

static void pg_destroy(store_t *st)
{
    pg_t *s = (pg_t *)st;
    pg_lease_release(s);
    pg_rows_fini(&s->rows);
    PQfinish(s->w);
    PQfinish(s->r);
    free(s->dsn);
    free(s);
}

store_t *store_pg_open(const char *dsn, char *err, size_t errlen)
{
    pg_t *s = calloc(1, sizeof *s);
    if (!s || !dsn || !(s->dsn = strdup(dsn))) {
        snprintf(err, errlen, dsn ? "out of memory" : "a PostgreSQL store needs a dsn");
        free(s);
        return NULL;
    }
    s->b.ops = &pg_ops;
    snprintf(s->b.path, sizeof s->b.path, "PostgreSQL");
    if (pg_reader(s) < 0 || pg_schema(s) < 0 || pg_writer(s) < 0) {
        snprintf(err, errlen, "%s", *s->b.err ? s->b.err : s->b.werr);
        pg_destroy(&s->b);
        return NULL;
    }
    return &s->b;
}

static const store_ops_t pg_ops = {
    .remote = true,
    .destroy = pg_destroy,
    .counters = pg_counters,
    .begin = pg_begin,
    .put_open = pg_put_open,
    .put_closed = pg_put_closed,
    .put_ref = pg_put_ref,
    .put_counters = pg_put_counters,
    .commit = pg_commit,
    .abort = pg_abort,
    .prepare = pg_prepare,
    .each_open = pg_each_open,
    .get = pg_get,
    .scan = pg_scan,
    .scan_next = pg_scan_next,
    .scan_destroy = pg_scan_destroy,
    .find_ref = pg_find_ref,
    .each_ref_since = pg_each_ref_since,
    .purge = pg_purge,
    .lease_take = pg_lease_take,
};
