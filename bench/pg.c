/* pg.c: a local PostgreSQL for the postgres store modes and --takeover.
 *
 * Issue 14 measures mizd on PostgreSQL against a server the benchmark
 * starts itself, so that a run needs no database set up beforehand and
 * leaves none behind: the tests' own pg_server (tests/common), which
 * initdb's a server into a fresh directory under /tmp, runs it as nobody
 * when we are root, on a free port with fsync on, and removes it by its
 * exact name whatever becomes of the benchmark. postgres-sync adds a
 * synchronous standby on the same machine (pg_basebackup -R), so that every
 * commit waits for the standby's flush as it would with Patroni's
 * synchronous_mode. Each daemon and each commit timing gets a database of
 * its own. */

#include "bench.h"
#include "pg_server.h"

int pg_bench_start(pg_bench_t *pg, bool sync)
{
    char err[1024];
    *pg = (pg_bench_t){0};
    if (!(pg->primary = pg_server_start(err, sizeof err)))
        return fail("PostgreSQL: %s", err);
    if (sync && !(pg->standby = pg_server_standby(pg->primary, err, sizeof err))) {
        pg_bench_stop(pg);
        return fail("PostgreSQL's standby: %s", err);
    }
    pg->pids[0] = pg_server_pid(pg->primary);
    pg->pids[1] = pg->standby ? pg_server_pid(pg->standby) : 0;
    printf("PostgreSQL on 127.0.0.1:%d (%s)", pg_server_port(pg->primary),
           pg_server_dir(pg->primary));
    if (pg->standby)
        printf(", its synchronous standby on 127.0.0.1:%d (%s)", pg_server_port(pg->standby),
               pg_server_dir(pg->standby));
    printf("\n");
    fflush(stdout);
    return 0;
}

int pg_bench_db(pg_bench_t *pg, char *dsn, size_t len)
{
    char db[64], err[1024];
    if (pg_server_createdb(pg->primary, db, sizeof db, err, sizeof err) < 0)
        return fail("PostgreSQL: %s", err);
    pg_server_db_dsn(pg->primary, db, dsn, len);
    return 0;
}

void pg_bench_stop(pg_bench_t *pg)
{
    pg_server_destroy(&pg->standby);
    pg_server_destroy(&pg->primary);
    pg->pids[0] = pg->pids[1] = 0;
}
