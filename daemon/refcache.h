/* refcache: the client_refs first used within the dedup window, as a set of
 * 64-bit hashes, for a store where asking is a round trip (refcache.c says
 * why). A hash not in the set is a ref the store cannot name within the
 * window; one in it may be (a collision only costs the old round trip). */
#ifndef MIZ_REFCACHE_H
#define MIZ_REFCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct refcache refcache_t;

/* An empty set for a dedup window of window_ms, at wall ms now. Aborts on
 * out of memory, as the engine's allocations do. */
refcache_t *refcache_new(uint64_t window_ms, uint64_t now);
void refcache_destroy(refcache_t **c);
/* Adds a ref key (the engine's ref_key form) first used at wall ms now:
 * from then on, for at least the window, refcache_may_hold says true. */
void refcache_add(refcache_t *c, const char *key, size_t n, uint64_t now);
/* False only when key was not added within the window. */
bool refcache_may_hold(const refcache_t *c, const char *key, size_t n, uint64_t now);
/* The window changed (a reload): a longer one covers refs the set has let
 * go or never had, so it answers true for all until it has seen a whole
 * window of the new length. */
void refcache_window(refcache_t *c, uint64_t window_ms, uint64_t now);
/* Hashes held, and bytes of slots allocated: for tests and the docs. */
size_t refcache_count(const refcache_t *c);
size_t refcache_bytes(const refcache_t *c);

#endif
