#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "deadline.h"

static dl_heap_t *new_heap(void)
{
    dl_heap_t *heap = dl_heap_new();
    assert_non_null(heap);
    return heap;
}

static dl_timer_t *new_timers(size_t n)
{
    dl_timer_t *timers = malloc(n * sizeof *timers);
    assert_non_null(timers);
    for (size_t i = 0; i < n; i++)
        dl_timer_init(&timers[i]);
    return timers;
}

/* The timer's tag (the owner's) remembers its due, for the checks: the
 * heap keeps dues in its entries only. */
static void arm(dl_heap_t *heap, dl_timer_t *t, uint64_t due)
{
    assert_true(due <= UINT32_MAX);
    t->tag = (uint32_t)due;
    assert_int_equal(dl_heap_arm(heap, t, due), 0);
    assert_true(dl_timer_armed(t));
}

/* n timers armed at pseudo-random dues below spread, from a fixed seed. */
static dl_timer_t *arm_random(dl_heap_t *heap, size_t n, unsigned seed, uint64_t spread)
{
    dl_timer_t *timers = new_timers(n);
    srand(seed);
    for (size_t i = 0; i < n; i++)
        arm(heap, &timers[i], (uint64_t)rand() % spread);
    assert_int_equal(dl_heap_size(heap), n);
    return timers;
}

/* Pops everything and checks the dues never go down; returns the count. */
static size_t drain_in_order(dl_heap_t *heap)
{
    size_t popped = 0;
    uint64_t last = 0;
    dl_timer_t *t;
    while ((t = dl_heap_pop_due(heap, UINT64_MAX))) {
        assert_true(t->tag >= last);
        assert_false(dl_timer_armed(t));
        last = t->tag;
        popped++;
    }
    assert_int_equal(dl_heap_size(heap), 0);
    return popped;
}

static int compare_dues(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void test_empty(void **state)
{
    (void)state;
    dl_heap_t *heap = new_heap();
    uint64_t due = 7;
    assert_false(dl_heap_next(heap, &due));
    assert_int_equal(due, 7);
    assert_null(dl_heap_pop_due(heap, UINT64_MAX));
    assert_int_equal(dl_heap_size(heap), 0);
    dl_timer_t t;
    dl_timer_init(&t);
    assert_false(dl_timer_armed(&t));
    dl_heap_disarm(heap, &t); /* unarmed: a no-op */
    dl_heap_destroy(&heap);
    assert_null(heap);
    dl_heap_destroy(&heap);
}

static void test_random_order(void **state)
{
    (void)state;
    enum { N = 5000 };
    dl_heap_t *heap = new_heap();
    dl_timer_t *timers = arm_random(heap, N, 42, 1000); /* many ties */
    uint64_t dues[N];
    for (size_t i = 0; i < N; i++)
        dues[i] = timers[i].tag;
    qsort(dues, N, sizeof dues[0], compare_dues);
    uint64_t next;
    assert_true(dl_heap_next(heap, &next));
    assert_int_equal(next, dues[0]);
    for (size_t i = 0; i < N; i++) {
        dl_timer_t *t = dl_heap_pop_due(heap, UINT64_MAX);
        assert_non_null(t);
        assert_int_equal(t->tag, dues[i]);
    }
    assert_null(dl_heap_pop_due(heap, UINT64_MAX));
    free(timers);
    dl_heap_destroy(&heap);
}

static void test_rearm(void **state)
{
    (void)state;
    dl_heap_t *heap = new_heap();
    dl_timer_t *timers = new_timers(100);
    for (size_t i = 0; i < 100; i++)
        arm(heap, &timers[i], 1000 + 10 * i);

    arm(heap, &timers[50], 5); /* earlier than all */
    uint64_t next;
    assert_true(dl_heap_next(heap, &next));
    assert_int_equal(next, 5);
    assert_int_equal(dl_heap_size(heap), 100);
    arm(heap, &timers[50], 99999); /* later than all */
    arm(heap, &timers[0], 1505);   /* into the middle */
    assert_true(dl_heap_next(heap, &next));
    assert_int_equal(next, 1010);

    assert_ptr_equal(dl_heap_pop_due(heap, 1010), &timers[1]);
    for (size_t i = 2; i < 50; i++)
        assert_ptr_equal(dl_heap_pop_due(heap, UINT64_MAX), &timers[i]);
    assert_ptr_equal(dl_heap_pop_due(heap, UINT64_MAX), &timers[0]);
    assert_int_equal(drain_in_order(heap), 50); /* 51..99 and 50 */
    assert_false(dl_timer_armed(&timers[50]));
    free(timers);
    dl_heap_destroy(&heap);
}

static void test_disarm_middle(void **state)
{
    (void)state;
    enum { N = 2000 };
    dl_heap_t *heap = new_heap();
    dl_timer_t *timers = arm_random(heap, N, 7, UINT64_MAX);
    size_t kept = N;
    for (size_t i = 0; i < N; i += 3) {
        dl_heap_disarm(heap, &timers[i]);
        assert_false(dl_timer_armed(&timers[i]));
        dl_heap_disarm(heap, &timers[i]);
        kept--;
    }
    assert_int_equal(dl_heap_size(heap), kept);
    assert_int_equal(drain_in_order(heap), kept);
    for (size_t i = 0; i < N; i++)
        assert_false(dl_timer_armed(&timers[i]));
    free(timers);
    dl_heap_destroy(&heap);
}

static void test_pop_due_respects_now(void **state)
{
    (void)state;
    dl_heap_t *heap = new_heap();
    dl_timer_t a, b, c;
    dl_timer_init(&a);
    dl_timer_init(&b);
    dl_timer_init(&c);
    arm(heap, &c, 300);
    arm(heap, &a, 100);
    arm(heap, &b, 200);
    assert_null(dl_heap_pop_due(heap, 99));
    assert_ptr_equal(dl_heap_pop_due(heap, 100), &a);
    assert_null(dl_heap_pop_due(heap, 100));
    assert_ptr_equal(dl_heap_pop_due(heap, 250), &b);
    assert_null(dl_heap_pop_due(heap, 250));
    uint64_t next;
    assert_true(dl_heap_next(heap, &next));
    assert_int_equal(next, 300);
    assert_int_equal(dl_heap_size(heap), 1);
    assert_ptr_equal(dl_heap_pop_due(heap, 1000), &c);
    assert_false(dl_heap_next(heap, &next));
    arm(heap, &a, 5); /* a popped timer can be armed again */
    assert_int_equal(dl_heap_size(heap), 1);
    dl_heap_disarm(heap, &a);
    dl_heap_destroy(&heap);
}

static void test_million(void **state)
{
    (void)state;
    enum { N = 1000000 };
    dl_heap_t *heap = new_heap();
    dl_timer_t *timers = arm_random(heap, N, 1403, UINT64_MAX);
    assert_int_equal(drain_in_order(heap), N);
    free(timers);
    dl_heap_destroy(&heap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_random_order),
        cmocka_unit_test(test_rearm),
        cmocka_unit_test(test_disarm_middle),
        cmocka_unit_test(test_pop_due_respects_now),
        cmocka_unit_test(test_million),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
