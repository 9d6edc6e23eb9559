/* broker: the daemon's whole state and the request state machine.
 *
 * Intake gateways submit requests on the clients ROUTER; the broker matches
 * each topic against the routing table, answers with a tracking number and
 * makes one delivery per target agency. Deliveries wait in per-agency queues
 * (urgent before routine, oldest first) and are offered to that agency's
 * workers on the workers ROUTER within each worker's credit, round robin.
 * Deadlines (ack, answer) live in one heap behind one libevent timer: a
 * missed ack takes the delivery back and offers it again up to max_attempts,
 * a missed answer marks it overdue and escalates along the route's chain
 * while observers get a copy of the breach. docs/protocol.md is the contract.
 *
 * Every transition passes through one function that records it in the
 * delivery's history, logs it, marks its request to be written to the store
 * when the turn ends and publishes it on the event stream. Replies that
 * promise durable state, and the stream, wait for that write (group commit:
 * one per loop turn). */
#ifndef MIZ_BROKER_H
#define MIZ_BROKER_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "table.h"

struct event_base;
typedef struct broker broker_t;

typedef enum {
    BEV_RECEIVED,    /* request accepted (delivery 0) */
    BEV_QUEUED,      /* delivery created and waiting for a worker */
    BEV_OFFERED,     /* sent to a worker */
    BEV_ACKED,       /* claimed by the worker */
    BEV_PROGRESS,    /* worker reported progress */
    BEV_ANSWERED,    /* worker answered; settles the delivery's branch */
    BEV_REFUSED,     /* worker said "not ours" */
    BEV_REDELIVERED, /* taken back (ack timeout, worker gone) and queued again */
    BEV_EXPIRED,     /* no ack after max_attempts offers */
    BEV_OVERDUE,     /* answer deadline missed; stays overdue until answered */
    BEV_ESCALATED,   /* an escalation delivery was made from this one */
    BEV_SEEN,        /* an observer copy was acknowledged */
    BEV_SUPERSEDED,  /* closed because another delivery settled its branch */
    BEV_CLOSED,      /* every branch settled; outcome sent (delivery 0) */
    BEV_COUNT
} broker_event_type_t;

typedef struct {
    const char *clients_endpoint; /* overrides the table's when not NULL */
    const char *workers_endpoint;
    const char *events_endpoint;
    log_level_t log_level;
    const char *data_dir; /* overrides the table's when not NULL */
    bool memory;          /* no store: a restart forgets everything (tests, benchmarks) */
} broker_opts_t;

/* Binds the sockets and takes ownership of table. NULL on failure, with the
 * reason in err. */
broker_t *broker_new(struct event_base *base, table_t *table, const broker_opts_t *opts,
                     char *err, size_t errlen);
/* Routes new submissions by table (taking ownership of it); open requests
 * keep the route they had, and CURVE keys are read again. Endpoints,
 * data_dir, heartbeat, max_message and which sockets have CURVE keep their
 * values until a restart (a warning says so). -1 with err when the keys
 * cannot be read: nothing changed, and table is still the caller's. */
int broker_reload(broker_t *broker, table_t *table, char *err, size_t errlen);

/* Starts a clean stop: submissions are refused ("unavailable") while what is
 * in flight lands, and the loop is broken once the sockets have been quiet
 * for a moment (2 s at most). Called again, it breaks the loop at once. */
void broker_stop(broker_t *broker);

typedef struct {
    size_t open_requests;
    size_t workers;
    bool store_failed;
} broker_stats_t;

void broker_stats(const broker_t *broker, broker_stats_t *stats);

/* Says goodbye to workers and closes every socket with a bounded linger. */
void broker_destroy(broker_t **broker);

#endif
