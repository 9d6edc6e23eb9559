/* idmap: the index of requests, deliveries and workers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "idmap.h"

typedef struct {
    uint64_t id;
} item_t;

typedef struct {
    char name[16];
} named_t;

static bool item_eq(const void *value, const void *key, size_t len)
{
    return len == sizeof(uint64_t) && memcmp(&((const item_t *)value)->id, key, len) == 0;
}

static bool named_eq(const void *value, const void *key, size_t len)
{
    const named_t *n = value;
    return strlen(n->name) == len && memcmp(n->name, key, len) == 0;
}

static void test_put_get_del(void **state)
{
    (void)state;
    idmap_t *map = idmap_new(item_eq);
    assert_non_null(map);
    enum { N = 100000 };
    item_t *items = calloc(N, sizeof *items);
    for (uint64_t i = 0; i < N; i++) {
        items[i].id = i * 7 + 1;
        assert_int_equal(idmap_put(map, &items[i].id, sizeof items[i].id, &items[i]), 0);
    }
    assert_int_equal(idmap_count(map), N);
    for (uint64_t i = 0; i < N; i++)
        assert_ptr_equal(idmap_get(map, &items[i].id, sizeof(uint64_t)), &items[i]);
    uint64_t absent = 2;
    assert_null(idmap_get(map, &absent, sizeof absent));
    /* delete every other one; the rest must stay reachable (backward shift) */
    for (uint64_t i = 0; i < N; i += 2)
        assert_ptr_equal(idmap_del(map, &items[i].id, sizeof(uint64_t)), &items[i]);
    assert_int_equal(idmap_count(map), N / 2);
    for (uint64_t i = 0; i < N; i++) {
        void *want = i % 2 ? &items[i] : NULL;
        assert_ptr_equal(idmap_get(map, &items[i].id, sizeof(uint64_t)), want);
    }
    assert_null(idmap_del(map, &items[0].id, sizeof(uint64_t)));
    idmap_destroy(&map);
    assert_null(map);
    free(items);
}

static void test_iteration_sees_each_once(void **state)
{
    (void)state;
    idmap_t *map = idmap_new(item_eq);
    item_t items[500];
    for (uint64_t i = 0; i < 500; i++) {
        items[i].id = 1000 + i;
        assert_int_equal(idmap_put(map, &items[i].id, sizeof(uint64_t), &items[i]), 0);
    }
    int seen[500] = {0};
    size_t cursor = 0, count = 0;
    item_t *it;
    while ((it = idmap_next(map, &cursor))) {
        seen[it - items]++;
        count++;
    }
    assert_int_equal(count, 500);
    for (int i = 0; i < 500; i++)
        assert_int_equal(seen[i], 1);
    idmap_destroy(&map);
}

static void test_byte_keys(void **state)
{
    (void)state;
    idmap_t *map = idmap_new(named_eq);
    named_t b = {"worker-b"}, c = {"worker-c"};
    assert_int_equal(idmap_put(map, b.name, strlen(b.name), &b), 0);
    assert_int_equal(idmap_put(map, c.name, strlen(c.name), &c), 0);
    assert_ptr_equal(idmap_get(map, "worker-b", 8), &b);
    assert_ptr_equal(idmap_get(map, "worker-c", 8), &c);
    assert_null(idmap_get(map, "worker-d", 8));
    assert_null(idmap_get(map, "worker", 6));
    assert_ptr_equal(idmap_del(map, "worker-b", 8), &b);
    assert_null(idmap_get(map, "worker-b", 8));
    assert_ptr_equal(idmap_get(map, "worker-c", 8), &c);
    idmap_destroy(&map);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_del),
        cmocka_unit_test(test_iteration_sees_each_once),
        cmocka_unit_test(test_byte_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
