/* ha_load: a gateway and a worker under load across failovers, and the
 * checker of what they were promised (tests/integration/test_ha.c,
 * test_patroni.c).
 *
 * A failover is only proven safe by what the peers saw: the gateway
 * submits with client_refs, at most IN_FLIGHT at a time, and sends again
 * (same ref) whatever got no reply or "unavailable"; the worker answers
 * every delivery at once. The checker keeps every tracking number given and
 * every answer confirmed ("ok"), fails the test at once if a number is given
 * for two refs or a ref gets two numbers, and at the end asks every request's
 * status until all are closed, each confirmed answer in its place.
 *
 * Both take lists of endpoints ("A,B"), one mizd's each, and move on when
 * the one in use is silent: the worker by itself (libmiz), the gateway when
 * a submission got no reply for a second, sending again what got none. */
#ifndef MIZ_HA_LOAD_H
#define MIZ_HA_LOAD_H

#include <stdbool.h>
#include <stdint.h>

typedef struct ha_load ha_load_t;

/* Peers on these lists of endpoints (the clients' and the workers'),
 * submitting topic for agency's workers. */
ha_load_t *ha_load_new(const char *clients, const char *workers, const char *agency,
                       const char *topic);
void ha_load_destroy(ha_load_t **l);
void ha_load_move(ha_load_t *l, const char *clients, const char *workers);
/* Marks now: ha_load_first_accept measures from here. */
void ha_load_mark(ha_load_t *l);
/* Drives both peers for ms. */
void ha_load_run(ha_load_t *l, int ms);
/* Drives them until a request sent after the mark is accepted (fails
 * after timeout_ms): the ms from the mark to it. */
uint64_t ha_load_first_accept(ha_load_t *l, int timeout_ms);
/* Requests accepted so far, and answers confirmed. */
uint64_t ha_load_accepted(const ha_load_t *l);
uint64_t ha_load_confirmed(const ha_load_t *l);
/* Stops submitting, waits for a reply to everything sent, then checks
 * every request closed with its answer and every confirmed answer kept. */
void ha_load_finish(ha_load_t *l, int timeout_ms);

#endif
