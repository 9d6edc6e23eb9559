/* worker_finals: a worker's final commands the broker has not confirmed.
 *
 * An answer (or refusal) whose ok never came may have been committed or
 * not: the broker may have died before or after its commit. So libmiz
 * keeps each one until its ok (or an error) names it, and sends it again
 * whenever the worker registers anew, after a restart or a failover; an
 * answer carries its request's tracking number (seen in the deliver), so a
 * broker that already committed it, and has since forgotten the delivery,
 * finds it in its store and says ok, duplicate (protocol.md 3.11). Private
 * to libmiz. */
#ifndef MIZ_WORKER_FINALS_H
#define MIZ_WORKER_FINALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

typedef struct {
    uint64_t delivery, tracking, seq; /* tracking 0: unknown */
    miz_command_t cmd;                /* MIZ_CMD_ANSWER or MIZ_CMD_REFUSE */
    char *a, *b;                      /* outcome and text, or the reason; may be NULL */
    bool resent;                      /* by the library: an error in reply is its own */
} final_t;

typedef struct {
    struct held { uint64_t delivery, tracking; } *held; /* offered and not yet finished */
    size_t n_held, cap_held;
    final_t *v;
    size_t n, cap;
} finals_t;

/* A deliver seen: its delivery's tracking number, for its answer. */
void finals_offered(finals_t *f, uint64_t delivery, uint64_t tracking);
/* The tracking number of an offered delivery, 0 if unknown. */
uint64_t finals_tracking(const finals_t *f, uint64_t delivery);
/* A final command sent as seq (strings copied). -1 out of memory. */
int finals_add(finals_t *f, miz_command_t cmd, uint64_t delivery, uint64_t seq, const char *a,
               const char *b);
/* A reply (ok or error) to seq: its final command is settled. true when
 * the library had sent it again on its own. */
bool finals_settled(finals_t *f, uint64_t seq);
/* A delivery the broker took back (cancel): nothing of it is owed. */
void finals_forget(finals_t *f, uint64_t delivery);
void finals_fini(finals_t *f);

#endif
