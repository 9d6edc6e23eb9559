/* refcache: the set of client_refs first used within the dedup window that
 * spares a remote store a round trip per submission (daemon/refcache.c).
 * What must hold is that it never says "no" to a ref added within the
 * window, whatever the times, the growth, a longer window or a full
 * generation; "maybe" for others is only a cost. Built here with room for
 * 2048 refs a generation (REFCACHE_MAX_SLOTS 4096), so a test can fill one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "refcache.h"

#define WINDOW 1000

static size_t ref(char *buf, unsigned i)
{
    return (size_t)snprintf(buf, 32, "gw r-%u", i);
}

static bool holds(const refcache_t *c, unsigned i, uint64_t now)
{
    char k[32];
    size_t n = ref(k, i);
    return refcache_may_hold(c, k, n, now);
}

static void add(refcache_t *c, unsigned i, uint64_t now)
{
    char k[32];
    size_t n = ref(k, i);
    refcache_add(c, k, n, now);
}

static void test_new_refs_are_not_held(void **state)
{
    (void)state;
    refcache_t *c = refcache_new(WINDOW, 0);
    assert_false(holds(c, 1, 0));
    add(c, 1, 0);
    assert_true(holds(c, 1, 0));
    assert_false(holds(c, 2, 0));
    /* the engine's key under CURVE: a key, a space, the ref */
    refcache_add(c, "K a", 3, 0);
    assert_true(refcache_may_hold(c, "K a", 3, 0));
    assert_false(refcache_may_hold(c, "L a", 3, 0));
    assert_int_equal(refcache_count(c), 2);
    refcache_destroy(&c);
    assert_null(c);
    refcache_destroy(&c); /* NULL: nothing */
}

/* Refs added at random times over 20 windows: each is held for a whole
 * window after it was added; and one dropped at most two windows after. */
static void test_held_for_the_window(void **state)
{
    (void)state;
    enum { N = 1500 };
    static uint64_t at[N];
    refcache_t *c = refcache_new(WINDOW, 0);
    uint64_t now = 0;
    srand(7);
    for (unsigned i = 0; i < N; i++) {
        now += (uint64_t)(rand() % 30);
        add(c, i, now);
        at[i] = now;
        for (unsigned j = 0; j <= i; j++) {
            if (now < at[j] + WINDOW && !holds(c, j, now))
                fail_msg("ref %u added at %llu not held at %llu", j, (unsigned long long)at[j],
                         (unsigned long long)now);
        }
    }
    /* a generation lasts a window: what came before the last two went */
    size_t gone = 0, old = 0;
    for (unsigned j = 0; j < N; j++)
        if (at[j] + 2 * WINDOW < now) {
            old++;
            gone += !holds(c, j, now);
        }
    assert_true(old > 0);
    assert_int_equal(gone, old);
    assert_true(refcache_count(c) < N);
    refcache_destroy(&c);
}

/* Bounded memory: 16 to 32 bytes per ref while it grows, and past a
 * generation's limit "maybe" for every ref rather than more memory, until
 * the full generation is dropped. */
static void test_growth_and_limit(void **state)
{
    (void)state;
    refcache_t *c = refcache_new(WINDOW, 0);
    for (unsigned i = 0; i < 2048; i++)
        add(c, i, 0);
    for (unsigned i = 0; i < 2048; i++)
        assert_true(holds(c, i, 0));
    assert_int_equal(refcache_count(c), 2048);
    size_t cur = refcache_bytes(c) - 1024 * 8; /* less the empty generation */
    assert_true(cur >= 2048 * 16 && cur <= 2048 * 32);
    assert_false(holds(c, 5000, 0));
    add(c, 2048, 0); /* one more than room for: full */
    assert_true(holds(c, 5000, 0));
    assert_true(refcache_bytes(c) <= 2 * 1024 * 8);
    add(c, 1, WINDOW);     /* the full one is the previous generation now */
    assert_true(holds(c, 5000, WINDOW));
    add(c, 2, 2 * WINDOW); /* and then gone */
    assert_false(holds(c, 5000, 2 * WINDOW));
    assert_true(holds(c, 1, 2 * WINDOW));
    refcache_destroy(&c);
}

/* A reload that lengthens the window: refs the set let go, or never read
 * at recovery, may be within it, so every ref is "maybe" for a whole new
 * window; a shorter one changes nothing that is held. */
static void test_longer_window(void **state)
{
    (void)state;
    refcache_t *c = refcache_new(WINDOW, 0);
    add(c, 1, 0);
    refcache_window(c, WINDOW / 2, 10);
    assert_true(holds(c, 1, 10));
    assert_false(holds(c, 2, 10));
    refcache_window(c, 3 * WINDOW, 100);
    assert_true(holds(c, 2, 100));
    assert_true(holds(c, 2, 100 + 3 * WINDOW - 1));
    assert_false(holds(c, 2, 100 + 3 * WINDOW));
    add(c, 3, 200);
    assert_true(holds(c, 3, 200 + 3 * WINDOW - 1)); /* kept for the new window */
    refcache_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_refs_are_not_held),
        cmocka_unit_test(test_held_for_the_window),
        cmocka_unit_test(test_growth_and_limit),
        cmocka_unit_test(test_longer_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
