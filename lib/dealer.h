/* dealer: the DEALER socket a miz peer opens on a broker endpoint, as
 * lib/client.c's clients and workers and lib/stream.c's snapshots do. */
#ifndef MIZ_DEALER_H
#define MIZ_DEALER_H

#include <stddef.h>

#include "miz.h"

#define DEALER_RID_LEN 16

/* A random routing id, which a client keeps for its life so that the
 * broker's replies (an outcome) find it after a reconnect or its own
 * restart; -1 (errno) if there is no randomness. */
int dealer_rid(unsigned char rid[DEALER_RID_LEN]);

/* A DEALER connected to endpoint with a bounded linger and send (a send
 * that finds no room within 1 s fails with EAGAIN), that routing id
 * (rid_len 0: ZeroMQ's choice) and curve's keys (NULL: none); NULL with
 * errno. */
void *dealer_open(void *zctx, const char *endpoint, const unsigned char *rid, size_t rid_len,
                  const miz_curve_t *curve);

#endif
