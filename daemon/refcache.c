/* refcache: a negative cache of client_refs for a remote store.
 *
 * Every submission with a client_ref asks whether the ref was first used
 * within broker.dedup_window. For the requests in memory e->refs answers;
 * for the rest the store must. With LMDB that is a page in memory; with
 * PostgreSQL it is a SELECT, a synchronous round trip on the event loop,
 * once per submission, and nearly always to hear "not found": gateways
 * should give every submission a ref, and a ref is nearly always new. So
 * the engine keeps the hashes of every ref key first used within the
 * window (read from the store at recovery, store_each_ref_since, then each
 * submission's as it is accepted) and asks the store only about a ref whose
 * hash is there: a resubmission, or a 64-bit collision.
 *
 * Memory. A hash is 8 bytes in an open-addressing table kept between a
 * quarter and a half full: 16 to 32 bytes per ref. Refs leave by
 * generation: a generation takes the refs of one window, and the one before
 * it is dropped when a new one starts, so the set holds the refs of the
 * last one to two windows. A generation stops growing at
 * REFCACHE_MAX_SLOTS (128 MiB, 8 Mi refs; 256 MiB for both); past that it answers "maybe"
 * for every ref (the round trip of before) until it is dropped, so a flood
 * of refs costs speed, never memory, nor a duplicate let through. */
#include "refcache.h"

#include <stdlib.h>
#include <string.h>

#include "engine_int.h" /* xcalloc */
#include "idmap.h"      /* idmap_hash */

#define REFCACHE_MIN_SLOTS 1024
#ifndef REFCACHE_MAX_SLOTS /* tests/test_refcache.c builds it smaller, to fill it */
#define REFCACHE_MAX_SLOTS ((size_t)1 << 24)
#endif

/* A set of nonzero hashes, linear probing; 0 marks an empty slot. */
typedef struct {
    uint64_t *slots;
    size_t mask, count;
    bool full; /* reached REFCACHE_MAX_SLOTS: holds "maybe" for every hash */
} refgen_t;

struct refcache {
    refgen_t cur, prev; /* cur: refs added since cur_start; prev: the generation before */
    uint64_t cur_start;   /* wall ms */
    uint64_t window;      /* ms */
    uint64_t unsure_until; /* wall ms: until then every ref may be held (refcache_window) */
};

static uint64_t refcache_hash(const char *key, size_t n)
{
    uint64_t h = idmap_hash(key, n);
    return h ? h : 1;
}

static void refgen_init(refgen_t *g)
{
    *g = (refgen_t){.slots = xcalloc(REFCACHE_MIN_SLOTS, sizeof(uint64_t)),
                    .mask = REFCACHE_MIN_SLOTS - 1};
}

static void refgen_fini(refgen_t *g)
{
    free(g->slots);
    g->slots = NULL;
}

/* Empty again: a small table is kept (a short window rotates often), a
 * large one goes back to the allocator. */
static void refgen_clear(refgen_t *g)
{
    if (g->mask + 1 > REFCACHE_MIN_SLOTS) {
        refgen_fini(g);
        refgen_init(g);
    } else {
        memset(g->slots, 0, (g->mask + 1) * sizeof *g->slots);
        g->count = 0;
        g->full = false;
    }
}

/* The slot of h, or the empty slot where it would go. */
static size_t refgen_find(const refgen_t *g, uint64_t h)
{
    size_t i = (size_t)h & g->mask;
    while (g->slots[i] && g->slots[i] != h)
        i = (i + 1) & g->mask;
    return i;
}

static bool refgen_has(const refgen_t *g, uint64_t h)
{
    return g->full || g->slots[refgen_find(g, h)] == h;
}

static void refgen_add(refgen_t *g, uint64_t h)
{
    if (g->full)
        return;
    size_t cap = g->mask + 1;
    if ((g->count + 1) * 2 > cap) {
        if (cap * 2 > REFCACHE_MAX_SLOTS) {
            /* no room: "maybe" for all, and the memory back at once */
            refgen_clear(g);
            g->full = true;
            return;
        }
        refgen_t bigger = {.slots = xcalloc(cap * 2, sizeof(uint64_t)), .mask = cap * 2 - 1,
                           .count = g->count};
        for (size_t i = 0; i < cap; i++)
            if (g->slots[i])
                bigger.slots[refgen_find(&bigger, g->slots[i])] = g->slots[i];
        free(g->slots);
        *g = bigger;
    }
    size_t i = refgen_find(g, h);
    if (!g->slots[i]) {
        g->slots[i] = h;
        g->count++;
    }
}

refcache_t *refcache_new(uint64_t window_ms, uint64_t now)
{
    refcache_t *c = xcalloc(1, sizeof *c);
    refgen_init(&c->cur);
    refgen_init(&c->prev);
    c->cur_start = now;
    c->window = window_ms;
    return c;
}

void refcache_destroy(refcache_t **cp)
{
    refcache_t *c = *cp;
    if (!c)
        return;
    refgen_fini(&c->cur);
    refgen_fini(&c->prev);
    free(c);
    *cp = NULL;
}

void refcache_add(refcache_t *c, const char *key, size_t n, uint64_t now)
{
    /* What prev holds was added before cur_start, at least a window ago
     * now: first used outside the window, so no lookup needs it. */
    if (now >= c->cur_start + c->window) {
        refgen_t old = c->prev;
        c->prev = c->cur;
        c->cur = old;
        refgen_clear(&c->cur);
        c->cur_start = now;
    }
    refgen_add(&c->cur, refcache_hash(key, n));
}

bool refcache_may_hold(const refcache_t *c, const char *key, size_t n, uint64_t now)
{
    uint64_t h = refcache_hash(key, n);
    return now < c->unsure_until || refgen_has(&c->cur, h) || refgen_has(&c->prev, h);
}

void refcache_window(refcache_t *c, uint64_t window_ms, uint64_t now)
{
    if (window_ms > c->window && now + window_ms > c->unsure_until)
        c->unsure_until = now + window_ms;
    c->window = window_ms;
}

size_t refcache_count(const refcache_t *c)
{
    return c->cur.count + c->prev.count;
}

size_t refcache_bytes(const refcache_t *c)
{
    return (c->cur.mask + c->prev.mask + 2) * sizeof(uint64_t);
}
