/* refs_since: what store_each_ref_since lists, the same check for every
 * store (test_store.c, test_store_pg.c): refs written with their first use
 * at 1000, 2000 and 3000, then listed from a time, sorted. */
#ifndef MIZ_TEST_REFS_SINCE_H
#define MIZ_TEST_REFS_SINCE_H

#include <stdlib.h>
#include <string.h>

#include "store.h"

typedef int refs_each_fn(store_t *s, uint64_t since, store_ref_fn *fn, void *arg);

typedef struct {
    char refs[8][16];
    size_t n, stop_at; /* stop_at: fn stops the walk at this ref (0: never) */
} refs_seen_t;

static int refs_seen_one(const void *ref, size_t len, void *arg)
{
    refs_seen_t *seen = arg;
    assert_true(seen->n < 8 && len < 16);
    memcpy(seen->refs[seen->n], ref, len);
    seen->refs[seen->n][len] = '\0';
    return ++seen->n == seen->stop_at;
}

static int refs_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* The refs each lists from since, sorted and joined by commas. */
static void refs_since_is(refs_each_fn *each, store_t *s, uint64_t since, const char *want)
{
    refs_seen_t seen = {.n = 0};
    char got[128] = "";
    assert_int_equal(each(s, since, refs_seen_one, &seen), 0);
    qsort(seen.refs, seen.n, sizeof seen.refs[0], refs_cmp);
    for (size_t i = 0; i < seen.n; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", i ? "," : "", seen.refs[i]);
    assert_string_equal(got, want);
}

/* Writes "r-1" at 1000, "K r-2" (a key's ref) at 2000, "r-3" at 3000; then
 * checks what is listed from each time, and that a listing stops where fn
 * says. */
static void refs_since_check(refs_each_fn *each, store_t *s)
{
    static const char *const refs[] = {"r-1", "K r-2", "r-3"};
    refs_since_is(each, s, 0, "");
    assert_int_equal(store_begin(s), STORE_OK);
    for (uint64_t i = 0; i < 3; i++)
        assert_int_equal(store_put_ref(s, refs[i], strlen(refs[i]), 10 + i, 1000 * (i + 1)),
                         STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);
    refs_since_is(each, s, 0, "K r-2,r-1,r-3");
    refs_since_is(each, s, 2000, "K r-2,r-3");
    refs_since_is(each, s, 2001, "r-3");
    refs_since_is(each, s, 3001, "");
    refs_seen_t seen = {.stop_at = 2};
    assert_int_equal(each(s, 0, refs_seen_one, &seen), 1);
    assert_int_equal(seen.n, 2);
}

#endif
