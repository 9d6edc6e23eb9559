/* store: the long read a snapshot makes over many turns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"

#define BEFORE 600 /* closed before the scan begins */
#define AFTER 100  /* closed after */
#define OPEN 3     /* open when it begins: 1001.. */
#define PART 256

typedef struct {
    char dir[64];
    store_t *store;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    char err[256];
    snprintf(f->dir, sizeof f->dir, "/tmp/miz-test-store.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->store = store_open(f->dir, err, sizeof err);
    assert_non_null(f->store);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    static const char *const names[] = {"data.mdb", "lock.mdb", "mizd.lock"};
    char path[128];
    store_destroy(&f->store);
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(path, sizeof path, "%s/%s", f->dir, names[i]);
        unlink(path);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Requests first..last, each closed at 1000 + its number, its record its
 * number, in one transaction. */
static void close_requests(store_t *s, uint64_t first, uint64_t last)
{
    assert_int_equal(store_begin(s), STORE_OK);
    for (uint64_t t = first; t <= last; t++) {
        assert_int_equal(store_put_open(s, t, &t, sizeof t), STORE_OK);
        assert_int_equal(store_put_closed(s, t, 1000 + t, NULL, 0, &t, sizeof t), STORE_OK);
    }
    assert_int_equal(store_commit(s), STORE_OK);
}

/* Requests first..last, open, their record their number. */
static void open_requests(store_t *s, uint64_t first, uint64_t last)
{
    assert_int_equal(store_begin(s), STORE_OK);
    for (uint64_t t = first; t <= last; t++)
        assert_int_equal(store_put_open(s, t, &t, sizeof t), STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);
}

typedef struct {
    uint64_t got[BEFORE + AFTER + OPEN + 2];
    size_t n;
    size_t stop_at; /* fn stops the scan at this record (0: never) */
} seen_t;

static int record(const void *rec, size_t len, void *arg)
{
    seen_t *seen = arg;
    uint64_t t;
    assert_int_equal(len, sizeof t);
    memcpy(&t, rec, sizeof t);
    seen->got[seen->n++] = t;
    return seen->n == seen->stop_at;
}

/* What is committed or purged while the scan goes on does not change what
 * it reads: the store as it was when it began, the open records first,
 * then the closed ones from `since` in closing order, a part at a time. */
static void test_scan_sees_its_beginning(void **state)
{
    fixture_t *f = *state;
    close_requests(f->store, 1, BEFORE);
    open_requests(f->store, 1001, 1000 + OPEN);
    uint64_t since = 1000 + 101; /* requests 101.. */
    store_scan_t *scan = store_scan(f->store, since);
    assert_non_null(scan);
    seen_t seen = {.n = 0};
    assert_int_equal(store_scan_next(scan, PART, record, &seen), 1);
    assert_int_equal(seen.n, PART);

    close_requests(f->store, BEFORE + 1, BEFORE + AFTER);
    close_requests(f->store, 1001, 1001); /* open when the scan began */
    open_requests(f->store, 1000 + OPEN + 1, 1000 + OPEN + 1);
    assert_int_equal(store_purge(f->store, 1000 + 400, 10000), 399);
    int more;
    while ((more = store_scan_next(scan, PART, record, &seen)) == 1)
        ;
    assert_int_equal(more, 0);
    assert_int_equal(seen.n, OPEN + BEFORE - 100);
    for (size_t i = 0; i < OPEN; i++)
        assert_int_equal(seen.got[i], 1001 + i);
    for (size_t i = OPEN; i < seen.n; i++)
        assert_int_equal(seen.got[i], 101 + i - OPEN);
    store_scan_destroy(&scan);
    assert_null(scan);

    /* a new scan sees the purge and what came since */
    scan = store_scan(f->store, 0);
    seen.n = 0;
    assert_int_equal(store_scan_next(scan, BEFORE + AFTER + OPEN + 1, record, &seen), 0);
    assert_int_equal(seen.n, (OPEN - 1 + 1) + BEFORE + AFTER - 399 + 1);
    assert_int_equal(seen.got[0], 1002);
    assert_int_equal(seen.got[OPEN], 400);
    assert_int_equal(seen.got[seen.n - 1], 1001);
    store_scan_destroy(&scan);
}

/* fn's non-zero return stops the scan; an empty range is done at once. */
static void test_scan_stops(void **state)
{
    fixture_t *f = *state;
    close_requests(f->store, 1, 10);
    store_scan_t *scan = store_scan(f->store, 0);
    seen_t seen = {.stop_at = 3};
    assert_int_equal(store_scan_next(scan, PART, record, &seen), -1);
    assert_int_equal(seen.n, 3);
    store_scan_destroy(&scan);

    scan = store_scan(f->store, 1000 + 11);
    seen = (seen_t){.n = 0};
    assert_int_equal(store_scan_next(scan, PART, record, &seen), 0);
    assert_int_equal(seen.n, 0);
    store_scan_destroy(&scan);
}

/* When the store must close its environment (here to unmap it, as after
 * recovery; the same for a reopen or a map that grows) it ends the scans:
 * their next call fails and says why, and they are still destroyed. */
static void test_scan_ended_by_store(void **state)
{
    fixture_t *f = *state;
    close_requests(f->store, 1, 10);
    store_scan_t *a = store_scan(f->store, 0), *b = store_scan(f->store, 0);
    seen_t seen = {.n = 0};
    assert_int_equal(store_scan_next(a, 4, record, &seen), 1);
    assert_int_equal(store_unmap(f->store), 0);
    assert_int_equal(store_scan_next(a, 4, record, &seen), -1);
    assert_int_equal(store_scan_next(b, 4, record, &seen), -1);
    assert_non_null(strstr(store_error(f->store), "long read was ended"));
    store_scan_destroy(&a);
    store_scan_destroy(&b);
    /* the store itself goes on */
    close_requests(f->store, 11, 12);
    a = store_scan(f->store, 0);
    seen.n = 0;
    assert_int_equal(store_scan_next(a, PART, record, &seen), 0);
    assert_int_equal(seen.n, 12);
    store_scan_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_scan_sees_its_beginning, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_ended_by_store, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
