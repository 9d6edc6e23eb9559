/* endpoints: a list of broker endpoints, one of which is in use.
 *
 * Several mizd may share one store, one active and the others standing by
 * with nothing bound (docs/protocol.md, "Several brokers"). A peer is given
 * all their endpoints, "tcp://a:7370,tcp://b:7370", talks to one at a time
 * and moves to the next when that one is silent: this is where the list is
 * checked, kept and walked. */
#ifndef MIZ_ENDPOINTS_H
#define MIZ_ENDPOINTS_H

#include <stddef.h>

#include "miz.h"

typedef struct {
    char *text; /* a copy of the list, its commas made NULs */
    const char *items[MIZ_ENDPOINTS_MAX];
    size_t n;  /* 1 to MIZ_ENDPOINTS_MAX */
    size_t at; /* the one in use */
} endpoints_t;

/* Parses list (miz_endpoints_check's rules) into l, the first one in use;
 * -1 with errno (EINVAL: not a valid list; ENOMEM). */
int endpoints_init(endpoints_t *l, const char *list);
void endpoints_fini(endpoints_t *l);
const char *endpoints_current(const endpoints_t *l);
/* Moves to the next one, after the last the first; it is returned. */
const char *endpoints_advance(endpoints_t *l);

#endif
