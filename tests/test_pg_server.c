/* test_pg_server: the PostgreSQL servers the tests of the PostgreSQL store
 * and of failover stand on (tests/common/pg_server.h) do what those tests
 * take for granted: a commit survives a kill -9, a synchronous standby has
 * every commit once promoted, a DSN listing both hosts finds the one that
 * accepts writes, and nothing is left behind, even by a test process that
 * dies without cleaning up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pg_server.h"

static char err[1024];

static void query(const char *dsn, const char *sql, char *out, size_t outlen)
{
    if (pg_query(dsn, sql, out, outlen, err, sizeof err) < 0)
        fail_msg("%s", err);
}

static void value_is(const char *dsn, const char *sql, const char *want)
{
    char got[128];
    query(dsn, sql, got, sizeof got);
    if (strcmp(got, want) != 0)
        fail_msg("%s: \"%s\", not \"%s\"", sql, got, want);
}

static bool gone(const char *dir)
{
    struct stat st;
    return stat(dir, &st) < 0;
}

/* A committed row survives a kill -9 of the whole server; a fresh database
 * is empty; the directory goes with the server. */
static void test_commit_survives_kill(void **state)
{
    (void)state;
    pg_server_t *s = pg_server_start(err, sizeof err);
    if (!s)
        fail_msg("%s", err);
    char db[32], dsn[256], dir[64];
    snprintf(dir, sizeof dir, "%s", pg_server_dir(s));
    assert_int_equal(pg_server_createdb(s, db, sizeof db, err, sizeof err), 0);
    pg_server_db_dsn(s, db, dsn, sizeof dsn);
    value_is(dsn, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", "0");
    value_is(dsn, "SHOW fsync", "on");
    value_is(dsn, "SELECT current_user", "miz");
    if (geteuid() == 0) { /* it runs as nobody (PostgreSQL refuses root) */
        char proc[32];
        struct stat st;
        snprintf(proc, sizeof proc, "/proc/%ld", (long)pg_server_pid(s));
        assert_int_equal(stat(proc, &st), 0);
        assert_int_equal(st.st_uid, getpwnam("nobody")->pw_uid);
    }
    query(dsn, "CREATE TABLE t (v int)", NULL, 0);
    query(dsn, "INSERT INTO t VALUES (7)", NULL, 0);

    pid_t old = pg_server_pid(s);
    pg_server_kill(s);
    assert_int_equal(PQping(dsn), PQPING_NO_RESPONSE);
    if (pg_server_restart(s, err, sizeof err) < 0)
        fail_msg("%s", err);
    assert_int_not_equal(pg_server_pid(s), old);
    value_is(dsn, "SELECT sum(v) FROM t", "7");

    assert_int_equal(pg_server_stop(s, err, sizeof err), 0);
    assert_int_equal(PQping(dsn), PQPING_NO_RESPONSE);
    assert_int_equal(pg_server_restart(s, err, sizeof err), 0);
    value_is(dsn, "SELECT sum(v) FROM t", "7");
    pg_server_destroy(&s);
    assert_null(s);
    assert_true(gone(dir));
}

/* The primary waits for the standby (sync); once the primary is killed and
 * the standby promoted, every commit is there and the DSN of both finds the
 * standby, which it would not while the standby was read-only. */
static void test_standby_promoted(void **state)
{
    (void)state;
    pg_server_t *p = pg_server_start(err, sizeof err);
    if (!p)
        fail_msg("%s", err);
    pg_server_t *s = pg_server_standby(p, err, sizeof err);
    if (!s)
        fail_msg("%s", err);
    char db[32], dsn[256], both[512];
    value_is(pg_server_dsn(s), "SELECT pg_is_in_recovery()::text", "true");
    assert_int_equal(pg_server_createdb(p, db, sizeof db, err, sizeof err), 0);
    pg_server_db_dsn(p, db, dsn, sizeof dsn);
    pg_pair_dsn(p, s, db, both, sizeof both);
    value_is(dsn, "SELECT sync_state FROM pg_stat_replication", "sync");
    query(dsn, "CREATE TABLE t (v int)", NULL, 0);
    for (int i = 1; i <= 100; i++) {
        char sql[64];
        snprintf(sql, sizeof sql, "INSERT INTO t VALUES (%d)", i);
        query(dsn, sql, NULL, 0);
    }
    char port[16];
    snprintf(port, sizeof port, "%d", pg_server_port(p));
    value_is(both, "SELECT inet_server_port()::text", port);

    pg_server_kill(p);
    /* nothing accepts writes now: read-write finds no server */
    assert_int_equal(pg_query(both, "SELECT 1", NULL, 0, err, sizeof err), -1);
    if (pg_server_promote(s, err, sizeof err) < 0)
        fail_msg("%s", err);
    snprintf(port, sizeof port, "%d", pg_server_port(s));
    value_is(both, "SELECT inet_server_port()::text", port);
    value_is(both, "SELECT sum(v) FROM t", "5050");
    query(both, "INSERT INTO t VALUES (1)", NULL, 0); /* alone, it does not wait */
    pg_server_destroy(&s);
    pg_server_destroy(&p);
}

/* A test process killed with its server running leaves neither the server
 * nor its directory. */
static void test_guardian_cleans_up(void **state)
{
    (void)state;
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t child = fork();
    if (child == 0) {
        pg_server_t *s = pg_server_start(err, sizeof err);
        char line[256] = "";
        if (s)
            snprintf(line, sizeof line, "%s %s", pg_server_dir(s), pg_server_dsn(s));
        if (write(pipefd[1], line, sizeof line) != (ssize_t)sizeof line)
            _exit(1);
        pause(); /* till the kill */
        _exit(1);
    }
    close(pipefd[1]);
    char line[256];
    assert_int_equal(read(pipefd[0], line, sizeof line), (ssize_t)sizeof line);
    close(pipefd[0]);
    char *dsn = strchr(line, ' ');
    assert_non_null(dsn);
    *dsn++ = '\0';
    assert_int_equal(PQping(dsn), PQPING_OK);
    assert_false(gone(line));
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    for (int i = 0; i < 1000 && !(gone(line) && PQping(dsn) == PQPING_NO_RESPONSE); i++)
        nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    assert_true(gone(line));
    assert_int_equal(PQping(dsn), PQPING_NO_RESPONSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commit_survives_kill),
        cmocka_unit_test(test_standby_promoted),
        cmocka_unit_test(test_guardian_cleans_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
