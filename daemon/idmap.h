/* idmap: an open-addressing hash map from byte-string keys to objects.
 *
 * The broker looks up requests by tracking number, deliveries by id and
 * workers by ZeroMQ routing id on every message. The map stores only the
 * value and 32 bits of the key's hash: the key lives in the value, and the caller's
 * equality function compares against it, so a million deliveries cost 12
 * bytes a slot rather than a copy of every key. */
#ifndef MIZ_IDMAP_H
#define MIZ_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct idmap idmap_t;

/* True when value's key is the len bytes at key. */
typedef bool idmap_eq_fn(const void *value, const void *key, size_t len);

idmap_t *idmap_new(idmap_eq_fn *eq);
void idmap_destroy(idmap_t **map);

void *idmap_get(const idmap_t *map, const void *key, size_t len);
/* Adds value under key, which must not be present. -1 on out of memory. */
int idmap_put(idmap_t *map, const void *key, size_t len, void *value);
/* Removes and returns the value under key, or NULL. */
void *idmap_del(idmap_t *map, const void *key, size_t len);
size_t idmap_count(const idmap_t *map);
/* The 64-bit hash the map keeps 32 bits of, for sets of hashes that keep
 * no key at all (refcache.c). */
uint64_t idmap_hash(const void *key, size_t len);

/* Iteration: start *cursor at 0; returns NULL at the end. The map must not
 * change during an iteration. */
void *idmap_next(const idmap_t *map, size_t *cursor);

#endif
