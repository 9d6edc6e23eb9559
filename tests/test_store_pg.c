/* test_store_pg: the PostgreSQL store (daemon/store_pg*.c) against a real
 * PostgreSQL server started by the test (tests/common/pg_server.h): what it
 * writes is read back, by mizd and by SQL; a schema of another version or
 * with a part missing is refused by name; the lease fences a deposed mizd
 * in the same transaction as its writes; a failed statement or a lost
 * server fails the commit, writes nothing, and the store goes on after. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_server.h"
#include "refs_since.h"
#include "store.h"

static char err[4096];
static pg_server_t *server;

typedef struct {
    char dsn[512];
    store_t *store;
} fixture_t;

static int setup_server(void **state)
{
    (void)state;
    server = pg_server_start(err, sizeof err);
    if (!server)
        fprintf(stderr, "cannot start PostgreSQL: %s\n", err);
    return server ? 0 : -1;
}

static int teardown_server(void **state)
{
    (void)state;
    pg_server_destroy(&server);
    return 0;
}

static store_t *open_store(const char *dsn)
{
    store_conf_t c = {.kind = STORE_POSTGRES, .dsn = dsn};
    store_t *s = store_open(&c, err, sizeof err);
    if (!s)
        fail_msg("store_open: %s", err);
    return s;
}

/* A store on a fresh database of its own. */
static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    char db[32];
    if (!f || pg_server_createdb(server, db, sizeof db, err, sizeof err) < 0)
        return -1;
    pg_server_db_dsn(server, db, f->dsn, sizeof f->dsn);
    f->store = open_store(f->dsn);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    store_destroy(&f->store);
    free(f);
    return 0;
}

static void sql_is(const char *dsn, const char *sql, const char *want)
{
    char got[256];
    if (pg_query(dsn, sql, got, sizeof got, err, sizeof err) < 0)
        fail_msg("%s: %s", sql, err);
    if (strcmp(got, want) != 0)
        fail_msg("%s: \"%s\", not \"%s\"", sql, got, want);
}

static void sql(const char *dsn, const char *q)
{
    char out[64];
    if (pg_query(dsn, q, out, sizeof out, err, sizeof err) < 0)
        fail_msg("%s: %s", q, err);
}

/* Records are opaque to the store: a tracking number's record is its
 * number as text, so a read back says whose it is. */
static int collect(const void *rec, size_t len, void *arg)
{
    char *out = arg;
    size_t n = strlen(out);
    snprintf(out + n, 256 - n, "%s%.*s", n ? "," : "", (int)len, (const char *)rec);
    return 0;
}

static store_status_t put_open(store_t *s, uint64_t t, const char *agency)
{
    char rec[24];
    int n = snprintf(rec, sizeof rec, "%llu", (unsigned long long)t);
    store_row_t row = {.topic = "city.snow.street", .topic_len = 16, .agency = agency,
                       .agency_len = strlen(agency), .state = "queued", .state_len = 6,
                       .created = 1796551648000 + t, .answer_by = 1796551648000 + t + 600000};
    return store_put_open(s, t, &row, rec, (size_t)n);
}

static void commit_ok(store_t *s)
{
    store_status_t st = store_commit(s);
    if (st != STORE_OK)
        fail_msg("commit: %s", store_write_error(s));
}

static void test_write_and_read_back(void **state)
{
    fixture_t *f = *state;
    store_t *s = f->store;
    store_counters_t next;
    assert_int_equal(store_counters(s, &next), 0);
    assert_true(next.tracking == 1 && next.delivery == 1 && next.event == 1);
    assert_true(store_shared(s));

    assert_int_equal(store_begin(s), STORE_OK);
    for (uint64_t t = 1; t <= 3; t++)
        assert_int_equal(put_open(s, t, "city-services"), STORE_OK);
    assert_int_equal(store_put_ref(s, "gw r-1", 6, 2, 1796551648002), STORE_OK);
    assert_int_equal(store_put_counters(s, &(store_counters_t){4, 7, 9}), STORE_OK);
    commit_ok(s);

    assert_int_equal(store_counters(s, &next), 0);
    assert_true(next.tracking == 4 && next.delivery == 7 && next.event == 9);
    char got[256] = "";
    assert_int_equal(store_get(s, 2, collect, got), 1);
    assert_string_equal(got, "2");
    assert_int_equal(store_get(s, 99, collect, got), 0);
    uint64_t tracking, at;
    assert_int_equal(store_find_ref(s, "gw r-1", 6, &tracking, &at), 1);
    assert_true(tracking == 2 && at == 1796551648002);
    assert_int_equal(store_find_ref(s, "gw r-2", 6, &tracking, &at), 0);

    /* 3 closes; 1 closes earlier, with the ref of 2 (a ref names its newest) */
    assert_int_equal(store_begin(s), STORE_OK);
    store_row_t row = {.agency = "a", .agency_len = 1, .state = "answered", .state_len = 8};
    assert_int_equal(store_put_closed(s, 3, 5000, NULL, 0, &row, "3", 1), STORE_OK);
    assert_int_equal(store_put_closed(s, 1, 4000, "gw r-1", 6, &row, "1", 1), STORE_OK);
    commit_ok(s);
    got[0] = '\0';
    assert_int_equal(store_each_open(s, collect, got), 0);
    assert_string_equal(got, "2");

    /* a scan: open ones by tracking, then closed ones since, in closing order */
    got[0] = '\0';
    store_scan_t *sc = store_scan(s, 0);
    assert_non_null(sc);
    assert_int_equal(store_scan_next(sc, 2, collect, got), 1);
    /* committed after the scan began: not in it */
    assert_int_equal(store_begin(s), STORE_OK);
    assert_int_equal(put_open(s, 4, "water"), STORE_OK);
    commit_ok(s);
    assert_int_equal(store_scan_next(sc, 10, collect, got), 0);
    store_scan_destroy(&sc);
    assert_string_equal(got, "2,1,3");
    got[0] = '\0';
    sc = store_scan(s, 4500);
    assert_int_equal(store_scan_next(sc, 10, collect, got), 0);
    store_scan_destroy(&sc);
    assert_string_equal(got, "2,4,3");

    /* what operators query by */
    sql_is(f->dsn, "SELECT agency || ' ' || state || ' ' || topic FROM miz_request"
                   " WHERE tracking = 2", "city-services queued city.snow.street");
    sql_is(f->dsn, "SELECT extract(epoch FROM answer_by - created)::int FROM miz_request"
                   " WHERE tracking = 2", "600");
    sql_is(f->dsn, "SELECT count(*) FROM miz_request WHERE NOT open AND closed IS NOT NULL", "2");

    /* the purge: what closed before 4500 goes, and its own ref with it */
    assert_int_equal(store_purge(s, 4500, 100), 1);
    assert_int_equal(store_get(s, 1, collect, got), 0);
    assert_int_equal(store_get(s, 3, collect, got), 1);
    assert_int_equal(store_find_ref(s, "gw r-1", 6, &tracking, &at), 1); /* names 2: kept */
    assert_int_equal(store_purge(s, 6000, 100), 1);
    assert_int_equal(store_purge(s, 6000, 100), 0);
}

/* The refs first used since a time, streamed a row at a time: what a mizd
 * reads at recovery to ask the server only about refs it has seen
 * (daemon/refcache.c). */
static void test_each_ref_since(void **state)
{
    fixture_t *f = *state;
    assert_true(store_lists_refs(f->store));
    refs_since_check(store_each_ref_since, f->store);
}

/* More statements than a pipeline's sync point, in one commit. */
static void test_large_commit(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(store_begin(f->store), STORE_OK);
    for (uint64_t t = 1; t <= 2000; t++)
        assert_int_equal(put_open(f->store, t, "water"), STORE_OK);
    commit_ok(f->store);
    sql_is(f->dsn, "SELECT count(*) FROM miz_request WHERE open", "2000");
}

/* A statement the server refuses fails the whole commit: nothing of it is
 * written, and the next commit works (the server skipped the COMMIT after
 * the error: the transaction must be ended all the same). */
static void test_failed_statement(void **state)
{
    fixture_t *f = *state;
    store_t *s = f->store;
    assert_int_equal(store_begin(s), STORE_OK);
    assert_int_equal(put_open(s, 1, "water"), STORE_OK);
    for (uint64_t t = 2; t <= 600; t++) /* with refs past a sync point */
        assert_int_equal(store_put_ref(s, "r", 1, t, t), STORE_OK);
    store_put_open(s, 601, &(store_row_t){.agency = "\xff", .agency_len = 1}, "x", 1);
    assert_int_equal(store_commit(s), STORE_FAILED);
    assert_non_null(strstr(store_write_error(s), "cannot commit"));
    sql_is(f->dsn, "SELECT count(*) FROM miz_request", "0");
    sql_is(f->dsn, "SELECT count(*) FROM miz_ref", "0");
    assert_int_equal(store_begin(s), STORE_OK);
    assert_int_equal(put_open(s, 1, "water"), STORE_OK);
    commit_ok(s);
    sql_is(f->dsn, "SELECT count(*) FROM miz_request", "1");
}

static void refused(const char *dsn, const char *want)
{
    store_conf_t c = {.kind = STORE_POSTGRES, .dsn = dsn};
    store_t *s = store_open(&c, err, sizeof err);
    if (s)
        fail_msg("a store opened; wanted \"%s\"", want);
    if (!strstr(err, want) || !strstr(err, "postgresql://127.0.0.1:"))
        fail_msg("\"%s\", wanted \"%s\" naming the database", err, want);
}

static void test_schema_refused(void **state)
{
    fixture_t *f = *state;
    store_destroy(&f->store);
    sql(f->dsn, "UPDATE miz_meta SET version = 2");
    refused(f->dsn, "miz schema version 2; this mizd reads version 1 only");
    sql(f->dsn, "UPDATE miz_meta SET version = 1");
    sql(f->dsn, "DROP TABLE miz_ref");
    refused(f->dsn, "a miz schema without its table miz_ref");
}

/* A's lease expires and B takes it: A's next commit fails, writing nothing. */
static void test_lease(void **state)
{
    fixture_t *f = *state;
    store_t *a = f->store, *b = open_store(f->dsn);
    store_lease_t l;
    assert_int_equal(store_lease_take(a, "a@host:1", 60000, 2000, &l), 1);
    assert_int_equal(l.epoch, 1);
    assert_int_equal(store_lease_take(b, "b@host:2", 2000, 2000, &l), 0);
    assert_string_equal(l.holder, "a@host:1");
    assert_int_equal(l.epoch, 1);
    assert_true(l.expires_in > 50000 && l.expires_in <= 60000);
    assert_int_equal(store_begin(a), STORE_OK);
    assert_int_equal(put_open(a, 1, "water"), STORE_OK);
    commit_ok(a); /* renews for the lease, 2 s, no longer the first 60 */
    sql_is(f->dsn, "SELECT expires < clock_timestamp() + interval '3 seconds' FROM miz_lease", "t");

    sql(f->dsn, "UPDATE miz_lease SET expires = clock_timestamp() - interval '1 second'");
    assert_int_equal(store_lease_take(b, "b@host:2", 60000, 60000, &l), 1);
    assert_int_equal(l.epoch, 2);
    assert_int_equal(store_begin(a), STORE_OK);
    put_open(a, 2, "water");
    assert_int_equal(store_commit(a), STORE_DEPOSED);
    assert_non_null(strstr(store_write_error(a), "epoch 1"));
    assert_int_equal(store_begin(b), STORE_OK);
    assert_int_equal(put_open(b, 3, "water"), STORE_OK);
    commit_ok(b);
    sql_is(f->dsn, "SELECT string_agg(tracking::text, ',' ORDER BY tracking) FROM miz_request",
           "1,3");
    sql_is(f->dsn, "SELECT holder || ' ' || epoch FROM miz_lease", "b@host:2 2");
    /* a clean stop gives it up: no waiting out its 60 s; a deposed one's stop does not */
    store_destroy(&b);
    store_t *c = open_store(f->dsn);
    assert_int_equal(store_lease_take(c, "c@host:3", 60000, 60000, &l), 1);
    assert_int_equal(l.epoch, 3);
    store_destroy(&f->store);
    assert_int_equal(store_lease_take(c, "c@host:3", 60000, 60000, &l), 0);
    assert_string_equal(l.holder, "c@host:3");
    store_destroy(&c);
}

/* The server dies: the commit fails; once it is back, store_prepare
 * connects again and the next commit works; reads connect by themselves. */
static void test_server_lost(void **state)
{
    fixture_t *f = *state;
    store_t *s = f->store;
    assert_int_equal(store_begin(s), STORE_OK);
    assert_int_equal(put_open(s, 1, "water"), STORE_OK);
    commit_ok(s);
    pg_server_kill(server);
    store_status_t st = store_begin(s);
    if (st == STORE_OK) {
        put_open(s, 2, "water");
        st = store_commit(s);
    }
    assert_int_equal(st, STORE_FAILED);
    assert_int_equal(store_begin(s), STORE_FAILED); /* it tries to connect: nobody there */
    assert_non_null(strstr(store_write_error(s), "cannot connect"));
    if (pg_server_restart(server, err, sizeof err) < 0)
        fail_msg("%s", err);
    assert_int_equal(store_begin(s), STORE_OK);
    assert_int_equal(put_open(s, 2, "water"), STORE_OK);
    commit_ok(s);
    char got[256] = ""; /* the read connection died with the server: a read connects again */
    int found = store_get(s, 1, collect, got);
    if (found != 1)
        fail_msg("store_get: %d: %s", found, store_error(s));
    sql_is(f->dsn, "SELECT count(*) FROM miz_request", "2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_and_read_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_ref_since, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_statement, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_lost, setup, teardown),
    };
    return cmocka_run_group_tests(tests, setup_server, teardown_server);
}
