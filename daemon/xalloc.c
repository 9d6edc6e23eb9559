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

void xput(idmap_t *map, const void *key, size_t len, void *value)
{
    if (idmap_put(map, key, len, value) < 0) {
        log_line(LOG_ERROR, "out of memory growing an index");
        abort();
    }
}
