/* store_pg_schema: the PostgreSQL store's tables, created in a database
 * that has none and checked in one that has them.
 *
 * Everything is named miz_*, so the store can share a database with other
 * things. A schema of another version is refused by name, as the LMDB store
 * refuses a foreign file: mizd never starts over data it cannot read, nor
 * writes rows an older mizd would misread. Two mizd starting together on a
 * new database do not both create it: an advisory lock makes them take
 * turns. docs/storage.md gives the tables, for readers. */
#include "store_pg.h"

#include <stdio.h>
#include <string.h>

static const char *const pg_schema_sql[] = {
    "CREATE TABLE miz_meta (id int PRIMARY KEY CHECK (id = 1), version int NOT NULL,"
    " next_tracking bigint NOT NULL, next_delivery bigint NOT NULL, next_event bigint NOT NULL)",
    "INSERT INTO miz_meta VALUES (1, 1, 1, 1, 1)",
    /* One row per request: its record, and what people query it by. A row
     * is written three times or more while open, never changing an indexed
     * column: with room left on its page the update is HOT (no new index
     * entries). */
    "CREATE TABLE miz_request (tracking bigint PRIMARY KEY, open boolean NOT NULL,"
    " topic text, agency text, state text, created timestamptz, answer_by timestamptz,"
    " overdue boolean, closed timestamptz, closed_ms bigint, client_ref bytea,"
    " record bytea NOT NULL) WITH (fillfactor = 70)",
    "CREATE INDEX miz_request_open ON miz_request (tracking) WHERE open",
    "CREATE INDEX miz_request_closed ON miz_request (closed_ms, tracking) WHERE NOT open",
    "CREATE TABLE miz_ref (ref bytea PRIMARY KEY, tracking bigint NOT NULL, at bigint NOT NULL)",
    /* recovery reads the refs of the dedup window only (refcache.c) */
    "CREATE INDEX miz_ref_at ON miz_ref (at)",
    "CREATE TABLE miz_lease (id int PRIMARY KEY CHECK (id = 1), holder text NOT NULL,"
    " epoch bigint NOT NULL, expires timestamptz NOT NULL)",
    "INSERT INTO miz_lease VALUES (1, '', 0, '-infinity')",
    /* In every commit of the active, first: a row lock held to the commit,
     * so a take-over waits for it and then sees the lease renewed; an epoch
     * that is over fails the transaction (MZ001, store_pg.c). */
    "CREATE FUNCTION miz_lease_renew(e bigint, ms bigint) RETURNS void LANGUAGE plpgsql AS $$"
    " BEGIN"
    "  UPDATE miz_lease SET expires = clock_timestamp() + ms * interval '1 millisecond'"
    "   WHERE id = 1 AND epoch = e;"
    "  IF NOT FOUND THEN"
    "   RAISE EXCEPTION 'the lease is no longer held at epoch %', e USING ERRCODE = 'MZ001';"
    "  END IF;"
    " END $$",
};

static const char *const pg_schema_tables[] = {"miz_meta", "miz_request", "miz_ref",
                                                "miz_lease"};

/* One statement on the reader's connection; -1 with b.err. */
static int pg_exec(pg_t *s, const char *sql, PGresult **out)
{
    PGresult *res = pg_run(s, s->r, s->b.err, "cannot set up the schema", sql, 0, NULL, NULL);
    if (out)
        *out = res;
    else
        PQclear(res);
    return res ? 0 : -1;
}

/* 1 when the database has the schema, 0 when it has none of it; -1 with
 * b.err when it has a part, or another version. */
static int pg_schema_found(pg_t *s)
{
    PGresult *res;
    size_t n = sizeof pg_schema_tables / sizeof *pg_schema_tables, found = 0;
    const char *missing = NULL;
    for (size_t i = 0; i < n; i++) {
        char sql[96];
        snprintf(sql, sizeof sql, "SELECT to_regclass('%s') IS NOT NULL", pg_schema_tables[i]);
        if (pg_exec(s, sql, &res) < 0)
            return -1;
        bool here = *PQgetvalue(res, 0, 0) != 0; /* a binary bool */
        PQclear(res);
        found += here;
        if (!here && !missing)
            missing = pg_schema_tables[i];
    }
    if (found == 0)
        return 0;
    if (missing) {
        snprintf(s->b.err, sizeof s->b.err, "%s: a miz schema without its table %s: refusing it",
                 s->b.path, missing);
        return -1;
    }
    if (pg_exec(s, "SELECT version::bigint FROM miz_meta WHERE id = 1", &res) < 0)
        return -1;
    int version = PQntuples(res) == 1 ? (int)pg_u64(res, 0, 0) : 0;
    PQclear(res);
    if (version != PG_SCHEMA_VERSION) {
        snprintf(s->b.err, sizeof s->b.err,
                 "%s: miz schema version %d; this mizd reads version %d only", s->b.path, version,
                 PG_SCHEMA_VERSION);
        return -1;
    }
    return 1;
}

int pg_schema(pg_t *s)
{
    if (pg_exec(s, "BEGIN", NULL) < 0 ||
        pg_exec(s, "SELECT pg_advisory_xact_lock(hashtext('miz schema'))", NULL) < 0)
        goto fail;
    int found = pg_schema_found(s);
    if (found < 0)
        goto fail;
    for (size_t i = 0; !found && i < sizeof pg_schema_sql / sizeof *pg_schema_sql; i++)
        if (pg_exec(s, pg_schema_sql[i], NULL) < 0)
            goto fail;
    if (pg_exec(s, "COMMIT", NULL) < 0)
        goto fail;
    return 0;
fail:;
    PQclear(PQexec(s->r, "ROLLBACK"));
    return -1;
}
