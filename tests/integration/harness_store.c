/* harness_store: which store the harness's daemons keep (harness.h).
 *
 * The integration tests were written against LMDB; the same tests prove
 * the PostgreSQL store keeps every promise they check only if they can run
 * on it unchanged. MIZ_TEST_STORE=postgres makes them: ctest runs the
 * tests that touch the store a second time so (their names end in _pg).
 * One server per test process, a database per daemon: a fresh store for
 * each, as a fresh folder is for LMDB, without an initdb each time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "pg_server.h"

static pg_server_t *store_server; /* the guardian removes it when the process ends */

bool it_store_postgres(void)
{
    const char *kind = getenv("MIZ_TEST_STORE");
    return kind && strcmp(kind, "postgres") == 0;
}

unsigned long long it_first_epoch(void)
{
    return it_store_postgres() ? 1 : 0;
}

void it_store_dsn(char *dsn, size_t len)
{
    char err[1024], db[32];
    *dsn = '\0';
    if (!it_store_postgres())
        return;
    if (!store_server && !(store_server = pg_server_start(err, sizeof err)))
        fail_msg("MIZ_TEST_STORE=postgres: %s", err);
    if (pg_server_createdb(store_server, db, sizeof db, err, sizeof err) < 0)
        fail_msg("MIZ_TEST_STORE=postgres: %s", err);
    pg_server_db_dsn(store_server, db, dsn, len);
}

void it_lmdb_only(void)
{
    if (it_store_postgres()) {
        print_message("skipped: a test of LMDB's files, and the store is PostgreSQL\n");
        skip();
    }
}
