/* role: which of the mizd sharing a store serves (docs/ha.md).
 *
 * Several mizd may point at one PostgreSQL store; the one that holds the
 * store's lease is active, the others are standbys that bind nothing and
 * try to take the lease every quarter of its length. Taking it is the only
 * way to become active: the store raises the epoch, and from then on every
 * commit of the active checks it, so a deposed mizd (paused, cut off) can
 * make no promise after another took over. A store of one mizd (LMDB, or
 * none) is taken at once, with epoch 0. */
#ifndef MIZ_ROLE_H
#define MIZ_ROLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "store.h"

struct event_base;
typedef struct role role_t;

typedef enum { ROLE_STANDBY, ROLE_ACTIVE, ROLE_DEPOSED } role_state_t;

/* Called once the lease is taken; -1 with err when this mizd cannot serve
 * after all (it then stops, failing). */
typedef int role_taken_fn(void *arg, const store_lease_t *lease, char *err, size_t errlen);

/* store may be NULL (state in memory only). name: this mizd, in the lease
 * and the log (e.g. "tehran@host1:4242"). */
role_t *role_new(struct event_base *base, store_t *store, const char *name, uint64_t lease_ms,
                 log_level_t level, role_taken_fn *taken, void *arg);
/* Tries to take the lease now: taken (its return is ours), or a standby
 * that goes on trying (0). -1 with err when taken failed. */
int role_start(role_t *r, char *err, size_t errlen);
/* The active has seen another take the lease. */
void role_deposed(role_t *r);
role_state_t role_state(const role_t *r);
/* Whether it took the lease but could not serve (mizd exits failing). */
bool role_failed(const role_t *r);
/* For STATUS= and the log: "active since 2026-12-06 10:01:02 UTC, epoch 3",
 * "standby since ...: the lease is held by NAME, epoch 2". */
void role_describe(const role_t *r, char *buf, size_t len);
void role_destroy(role_t **r);

#endif
