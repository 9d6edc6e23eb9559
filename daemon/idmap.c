/* idmap: open addressing with linear probing (idmap.h says why).
 *
 * Slots hold 32 bits of a key's hash and the object; the key itself is the
 * object's, compared through the map's eq function, so a map costs 12 bytes
 * a slot and no copy of any key. 32 bits place a slot in any table memory
 * allows, and a false match of them costs one eq call in four billion. The
 * slots are packed (12 bytes, not 16 with padding): with a request and a
 * delivery map at about half load, that is 16 bytes of each open request. */
#include "idmap.h"

#include <stdlib.h>
#include <string.h>

typedef struct __attribute__((packed)) {
    uint32_t hash; /* 0 marks an empty slot */
    void *value;
} slot_t;

struct idmap {
    slot_t *slots;
    size_t mask; /* capacity - 1; capacity is a power of two */
    size_t count;
    idmap_eq_fn *eq;
};

#define MIN_CAPACITY 64

uint64_t idmap_hash(const void *key, size_t len)
{
    uint64_t h;
    if (len == sizeof(uint64_t)) {
        memcpy(&h, key, sizeof h); /* splitmix64 finaliser: ids are sequential */
        h += 0x9e3779b97f4a7c15ULL;
        h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
        h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
        h ^= h >> 31;
    } else {
        h = 0xcbf29ce484222325ULL; /* FNV-1a */
        for (const unsigned char *p = key, *end = p + len; p < end; p++)
            h = (h ^ *p) * 0x100000001b3ULL;
    }
    return h;
}

static uint32_t hash_key(const void *key, size_t len)
{
    uint32_t h = (uint32_t)idmap_hash(key, len);
    return h ? h : 1;
}

idmap_t *idmap_new(idmap_eq_fn *eq)
{
    idmap_t *map = calloc(1, sizeof *map);
    if (!map)
        return NULL;
    map->slots = calloc(MIN_CAPACITY, sizeof *map->slots);
    if (!map->slots) {
        free(map);
        return NULL;
    }
    map->mask = MIN_CAPACITY - 1;
    map->eq = eq;
    return map;
}

void idmap_destroy(idmap_t **map)
{
    if (!*map)
        return;
    free((*map)->slots);
    free(*map);
    *map = NULL;
}

static size_t find(const idmap_t *map, const void *key, size_t len, uint32_t h)
{
    for (size_t i = h & map->mask;; i = (i + 1) & map->mask) {
        const slot_t *s = &map->slots[i];
        if (s->hash == 0 || (s->hash == h && map->eq(s->value, key, len)))
            return i;
    }
}

void *idmap_get(const idmap_t *map, const void *key, size_t len)
{
    return map->slots[find(map, key, len, hash_key(key, len))].value;
}

static void insert_slot(slot_t *slots, size_t mask, slot_t s)
{
    size_t i = s.hash & mask;
    while (slots[i].hash)
        i = (i + 1) & mask;
    slots[i] = s;
}

static int grow(idmap_t *map)
{
    size_t cap = (map->mask + 1) * 2;
    slot_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i <= map->mask; i++)
        if (map->slots[i].hash)
            insert_slot(slots, cap - 1, map->slots[i]);
    free(map->slots);
    map->slots = slots;
    map->mask = cap - 1;
    return 0;
}

int idmap_put(idmap_t *map, const void *key, size_t len, void *value)
{
    /* load factor at most 3/4 keeps linear probes short */
    if ((map->count + 1) * 4 > (map->mask + 1) * 3 && grow(map) < 0)
        return -1;
    insert_slot(map->slots, map->mask, (slot_t){hash_key(key, len), value});
    map->count++;
    return 0;
}

void *idmap_del(idmap_t *map, const void *key, size_t len)
{
    size_t i = find(map, key, len, hash_key(key, len));
    void *value = map->slots[i].value;
    if (!map->slots[i].hash)
        return NULL;
    /* backward-shift deletion: no tombstones, so probes stay short forever */
    for (size_t j = (i + 1) & map->mask; map->slots[j].hash; j = (j + 1) & map->mask) {
        size_t home = map->slots[j].hash & map->mask;
        if (((j - home) & map->mask) >= ((j - i) & map->mask)) {
            map->slots[i] = map->slots[j];
            i = j;
        }
    }
    map->slots[i] = (slot_t){0, NULL};
    map->count--;
    return value;
}

size_t idmap_count(const idmap_t *map)
{
    return map->count;
}

void *idmap_next(const idmap_t *map, size_t *cursor)
{
    while (*cursor <= map->mask) {
        const slot_t *s = &map->slots[(*cursor)++];
        if (s->hash)
            return s->value;
    }
    return NULL;
}
