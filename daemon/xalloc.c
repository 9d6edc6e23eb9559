/* xalloc: allocation that cannot fail.
 *
 * The engine does not unwind a half-applied state transition when memory
 * runs out: that would be worse than a restart under systemd, which
 * recovers every request from the store. So, as in Redis, an allocation
 * failure in the core logs and aborts, and callers never check. */
#include "engine_int.h"

#include <stdlib.h>
#include <string.h>

void *xrealloc(void *p, size_t size)
{
    p = realloc(p, size);
    if (!p && size) {
        log_line(LOG_ERROR, "out of memory allocating %zu bytes", size);
        abort();
    }
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p) {
        log_line(LOG_ERROR, "out of memory allocating %zu bytes", n * size);
        abort();
    }
    return p;
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xrealloc(NULL, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

/* An array of *cap items that begins in room (inline, never freed: most
 * requests have one delivery, most deliveries at rest one history entry)
 * with room for at least want: the same array, or a larger one on the heap
 * (at least twice as large, at least 4 items), *cap updated. */
void *xgrow(void *items, const void *room, uint32_t *cap, uint32_t want, size_t size)
{
    if (want <= *cap)
        return items;
    uint32_t n = *cap * 2 > want ? *cap * 2 : want;
    n = n < 4 ? 4 : n;
    void *p = xrealloc(items == room ? NULL : items, n * size);
    if (items == room)
        memcpy(p, room, *cap * size);
    *cap = n;
    return p;
}

void xput(idmap_t *map, const void *key, size_t len, void *value)
{
    if (idmap_put(map, key, len, value) < 0) {
        log_line(LOG_ERROR, "out of memory growing an index");
        abort();
    }
}
