/* pg_server: real PostgreSQL servers for the tests (pg_server.h).
 *
 * The postmaster is started directly (not through pg_ctl), so its pid is
 * the one the sandbox spawned: a kill -9 reaches it and every backend in its
 * session. The settings that differ from the defaults are given on its
 * command line, which no copy carries over: a standby made with
 * pg_basebackup gets its own port and socket directory, and the primary's
 * synchronous_standby_names is set with ALTER SYSTEM only after the copy,
 * so that a promoted standby does not wait for a standby of its own. */
#define _GNU_SOURCE
#include "pg_server.h"

#include <errno.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PG_USER "miz"
#define READY_MS 60000 /* for a server to accept connections (crash recovery, ASan's load) */
#define SYNC_MS 60000  /* for a standby to stream and be reported sync */
#define STOP_MS 30000  /* for a fast shutdown */
#define START_TRIES 3  /* a port taken between its pick and the bind: another one */

struct pg_server {
    char dir[64], data[96], log[96];
    char dsn[160];
    int port;
    pid_t pid;
    sb_guard_t *guard;
};

static unsigned pg_databases; /* databases this process created: their names */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int pg_server_port(const pg_server_t *s)
{
    return s->port;
}

pid_t pg_server_pid(const pg_server_t *s)
{
    return s->pid;
}

const char *pg_server_dir(const pg_server_t *s)
{
    return s->dir;
}

const char *pg_server_dsn(const pg_server_t *s)
{
    return s->dsn;
}

int pg_query(const char *dsn, const char *sql, char *out, size_t outlen, char *err,
             size_t errlen)
{
    PGconn *c = PQconnectdb(dsn);
    PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;
    if (rc < 0)
        snprintf(err, errlen, "%s: %s", sql, r ? PQresultErrorMessage(r) : PQerrorMessage(c));
    else if (out && outlen)
        snprintf(out, outlen, "%s",
                 PQntuples(r) > 0 && PQnfields(r) > 0 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    PQfinish(c);
    return rc;
}

/* Starts the postmaster on s->data and waits until it takes connections;
 * -1 (with its log's tail) if it exits or does not within READY_MS. */
static int pg_run(pg_server_t *s, char *err, size_t errlen)
{
    char port[16], sockets[96];
    snprintf(port, sizeof port, "port=%d", s->port);
    snprintf(sockets, sizeof sockets, "unix_socket_directories=%s", s->dir);
    char *argv[] = {PG_BIN_DIR "/postgres", "-D", s->data, "-c", port,
                    "-c", "listen_addresses=127.0.0.1", "-c", sockets,
                    "-c", "fsync=on", "-c", "synchronous_commit=on",
                    "-c", "max_connections=60", "-c", "shared_buffers=16MB",
                    "-c", "logging_collector=off",
                    NULL};
    if ((s->pid = sb_spawn(argv, NULL, s->log)) < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        return -1;
    }
    sb_guard_watch(s->guard, s->pid);
    snprintf(s->dsn, sizeof s->dsn, "host=127.0.0.1 port=%d dbname=postgres user=" PG_USER
             " connect_timeout=5", s->port);
    for (uint64_t deadline = now_ms() + READY_MS; now_ms() < deadline;) {
        if (PQping(s->dsn) == PQPING_OK)
            return 0;
        if (sb_exited(s->pid))
            break;
        nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    }
    char tail[600];
    sb_log_tail(s->log, tail, sizeof tail);
    snprintf(err, errlen, "postgres on port %d did not start: %s", s->port, tail);
    sb_kill_session(s->pid);
    s->pid = 0;
    return -1;
}

/* pg_run, on another port when the one picked was taken meanwhile. */
static int pg_run_on_free_port(pg_server_t *s, char *err, size_t errlen)
{
    for (int i = 0; i < START_TRIES; i++)
        if ((s->port = sb_free_port()) > 0 && pg_run(s, err, errlen) == 0)
            return 0;
    return -1;
}

static pg_server_t *pg_new(const char *prefix, char *err, size_t errlen)
{
    pg_server_t *s = calloc(1, sizeof *s);
    if (!s || sb_temp_dir(prefix, s->dir, sizeof s->dir) < 0) {
        snprintf(err, errlen, "cannot make a directory for postgres: %s", strerror(errno));
        free(s);
        return NULL;
    }
    if (!(s->guard = sb_guard_new(s->dir))) {
        snprintf(err, errlen, "cannot start a guardian: %s", strerror(errno));
        rmdir(s->dir);
        free(s);
        return NULL;
    }
    snprintf(s->data, sizeof s->data, "%s/data", s->dir);
    snprintf(s->log, sizeof s->log, "%s/postgres.log", s->dir);
    return s;
}

pg_server_t *pg_server_start(char *err, size_t errlen)
{
    pg_server_t *s = pg_new("miz-pg", err, errlen);
    if (!s)
        return NULL;
    /* trust: the server listens on 127.0.0.1 and its own socket only;
     * initdb's own fsyncs buy a test nothing (the server's are on) */
    char *argv[] = {PG_BIN_DIR "/initdb", "-D", s->data, "-U", PG_USER, "--auth=trust",
                    "-E", "UTF8", "--locale=C", "--no-sync", NULL};
    int rc = sb_run(argv, s->log);
    if (rc != 0) {
        char tail[600];
        sb_log_tail(s->log, tail, sizeof tail);
        snprintf(err, errlen, "initdb failed (%d): %s", rc, tail);
    } else if (pg_run_on_free_port(s, err, errlen) == 0) {
        return s;
    }
    pg_server_destroy(&s);
    return NULL;
}

/* Polls sql on dsn until it yields want; -1 after ms. */
static int pg_wait_for(const char *dsn, const char *sql, const char *want, int ms, char *err,
                       size_t errlen)
{
    char got[64] = "", why[256] = "";
    for (uint64_t deadline = now_ms() + (uint64_t)ms; now_ms() < deadline;) {
        if (pg_query(dsn, sql, got, sizeof got, why, sizeof why) == 0 && strcmp(got, want) == 0)
            return 0;
        nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    }
    snprintf(err, errlen, "%s gave \"%s\" for %d ms, not \"%s\" %s", sql, got, ms, want, why);
    return -1;
}

pg_server_t *pg_server_standby(pg_server_t *primary, char *err, size_t errlen)
{
    pg_server_t *s = pg_new("miz-pgs", err, errlen);
    if (!s)
        return NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", primary->port);
    /* -R: standby.signal and primary_conninfo; -X stream: the WAL of the
     * copy's own time comes with it */
    char *argv[] = {PG_BIN_DIR "/pg_basebackup", "-D", s->data, "-h", "127.0.0.1", "-p", port,
                    "-U", PG_USER, "-R", "-X", "stream", "-c", "fast", "--no-sync", NULL};
    int rc = sb_run(argv, s->log);
    if (rc != 0) {
        char tail[600];
        sb_log_tail(s->log, tail, sizeof tail);
        snprintf(err, errlen, "pg_basebackup failed (%d): %s", rc, tail);
    } else if (pg_run_on_free_port(s, err, errlen) == 0 &&
               pg_query(primary->dsn, "ALTER SYSTEM SET synchronous_standby_names = '*'", NULL, 0,
                        err, errlen) == 0 &&
               pg_query(primary->dsn, "SELECT pg_reload_conf()", NULL, 0, err, errlen) == 0 &&
               pg_wait_for(primary->dsn,
                           "SELECT string_agg(state || ' ' || sync_state, ',') "
                           "FROM pg_stat_replication",
                           "streaming sync", SYNC_MS, err, errlen) == 0) {
        return s;
    }
    pg_server_destroy(&s);
    return NULL;
}

int pg_server_promote(pg_server_t *s, char *err, size_t errlen)
{
    if (pg_query(s->dsn, "SELECT pg_promote(true, 60)", NULL, 0, err, errlen) < 0)
        return -1;
    return pg_wait_for(s->dsn, "SELECT pg_is_in_recovery()::text", "false", READY_MS, err,
                       errlen);
}

void pg_server_kill(pg_server_t *s)
{
    sb_kill_session(s->pid);
    s->pid = 0;
}

int pg_server_stop(pg_server_t *s, char *err, size_t errlen)
{
    if (!s->pid)
        return 0;
    kill(s->pid, SIGINT); /* fast: active sessions are ended */
    for (uint64_t deadline = now_ms() + STOP_MS; now_ms() < deadline;) {
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            s->pid = 0;
            return 0;
        }
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    snprintf(err, errlen, "postgres on port %d did not stop within %d ms: killed", s->port,
             STOP_MS);
    pg_server_kill(s);
    return -1;
}

int pg_server_restart(pg_server_t *s, char *err, size_t errlen)
{
    if (s->pid && pg_server_stop(s, err, errlen) < 0)
        return -1;
    return pg_run(s, err, errlen);
}

void pg_server_destroy(pg_server_t **sp)
{
    pg_server_t *s = *sp;
    if (!s)
        return;
    pg_server_kill(s); /* its data goes: no need for a clean shutdown */
    sb_guard_end(&s->guard);
    free(s);
    *sp = NULL;
}

int pg_server_createdb(pg_server_t *s, char *db, size_t dblen, char *err, size_t errlen)
{
    char sql[64];
    snprintf(db, dblen, "miz_%u", ++pg_databases);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
    return pg_query(s->dsn, sql, NULL, 0, err, errlen);
}

void pg_server_db_dsn(const pg_server_t *s, const char *db, char *dsn, size_t dsnlen)
{
    pg_ports_dsn(&s->port, 1, db, dsn, dsnlen);
}

void pg_ports_dsn(const int *ports, size_t n, const char *db, char *dsn, size_t dsnlen)
{
    char hosts[256] = "", list[256] = "";
    size_t h = 0, l = 0;
    for (size_t i = 0; i < n && h < sizeof hosts && l < sizeof list; i++) {
        h += (size_t)snprintf(hosts + h, sizeof hosts - h, "%s127.0.0.1", i ? "," : "");
        l += (size_t)snprintf(list + l, sizeof list - l, "%s%d", i ? "," : "", ports[i]);
    }
    /* of several, the one that accepts writes; connect_timeout: a host
     * that is down but not refusing (a dead machine) must not hold the next
     * one up for long */
    snprintf(dsn, dsnlen, "host=%s port=%s dbname=%s user=" PG_USER "%s connect_timeout=2",
             hosts, list, db, n > 1 ? " target_session_attrs=read-write" : "");
}

void pg_pair_dsn(const pg_server_t *a, const pg_server_t *b, const char *db, char *dsn,
                 size_t dsnlen)
{
    int ports[] = {a->port, b->port};
    pg_ports_dsn(ports, 2, db, dsn, dsnlen);
}
