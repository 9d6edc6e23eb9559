/* pg_server: real PostgreSQL servers for the tests, never a mock.
 *
 * The store on PostgreSQL and the failover of issue 14 are only tested if
 * a real server commits, crashes, streams to a synchronous standby and is
 * promoted. Each server is initdb'd into a fresh directory under /tmp, runs
 * as an unprivileged user (nobody, when the tests run as root, as CI does:
 * PostgreSQL refuses to run as root), listens on a free TCP port on
 * 127.0.0.1 and on a unix socket in its directory, with fsync on. Its
 * superuser is "miz", trusted on 127.0.0.1.
 *
 * Whatever happens to the test, nothing is left behind: each server has a
 * guardian process of its own, in a session of its own, which kills the
 * server's processes and removes its directory (by its exact name) once the
 * test process has destroyed it, or has exited or died without doing so.
 *
 * Errors are returned, with a line in err (the tail of the server's log
 * when it would not start): the harness and the tests decide how to fail. */
#ifndef MIZ_TEST_PG_SERVER_H
#define MIZ_TEST_PG_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "sandbox.h"

/* Where PostgreSQL's programs are (Debian's postgresql-15). */
#ifndef PG_BIN_DIR
#define PG_BIN_DIR "/usr/lib/postgresql/15/bin"
#endif

typedef struct pg_server pg_server_t;

/* A new primary, ready for connections. */
pg_server_t *pg_server_start(char *err, size_t errlen);
/* A synchronous standby of primary: pg_basebackup -R from it, started and
 * streaming, and the primary's synchronous_standby_names set so that a
 * commit there waits for this standby; returns once the primary reports it
 * "sync". The standby's own configuration names no synchronous standby, so
 * once promoted it commits alone. */
pg_server_t *pg_server_standby(pg_server_t *primary, char *err, size_t errlen);
/* Promotes a standby (pg_promote) and returns once it accepts writes. */
int pg_server_promote(pg_server_t *s, char *err, size_t errlen);

/* SIGKILL to the postmaster and every process it started, as a machine
 * that dies would leave them; returns once the postmaster is gone. */
void pg_server_kill(pg_server_t *s);
/* A fast shutdown (SIGINT), waited for. */
int pg_server_stop(pg_server_t *s, char *err, size_t errlen);
/* Starts a stopped or killed server again on its directory and port
 * (crash recovery, when it was killed). */
int pg_server_restart(pg_server_t *s, char *err, size_t errlen);
/* Stops it and removes its directory; accepts NULL. */
void pg_server_destroy(pg_server_t **s);

int pg_server_port(const pg_server_t *s);
pid_t pg_server_pid(const pg_server_t *s); /* the postmaster's; 0 when not running */
const char *pg_server_dir(const pg_server_t *s);
/* A libpq DSN of its "postgres" database. */
const char *pg_server_dsn(const pg_server_t *s);

/* Creates a fresh database (miz_1, miz_2, ... in this process): its name
 * in db. */
int pg_server_createdb(pg_server_t *s, char *db, size_t dblen, char *err, size_t errlen);
/* The DSN of database db on s. */
void pg_server_db_dsn(const pg_server_t *s, const char *db, char *dsn, size_t dsnlen);
/* The DSN of database db on whichever of a and b accepts writes: both
 * hosts listed, target_session_attrs=read-write, as mizd is given it. */
void pg_pair_dsn(const pg_server_t *a, const pg_server_t *b, const char *db, char *dsn,
                 size_t dsnlen);
/* The same for any list of ports on 127.0.0.1 (a Patroni cluster's); one
 * port: that server, whatever it accepts. */
void pg_ports_dsn(const int *ports, size_t n, const char *db, char *dsn, size_t dsnlen);

/* Runs sql on dsn; the first column of the first row (if any) in out. -1
 * with libpq's message in err. */
int pg_query(const char *dsn, const char *sql, char *out, size_t outlen, char *err,
             size_t errlen);

#endif
