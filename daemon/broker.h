/* broker: mizd's sockets and event loop around the engine.
 *
 * Binds the clients and workers ROUTERs and the events PUB (with CURVE and
 * the ZAP handler where the table asks), and drives the request engine
 * (engine.h) from them in turns: one commit per turn, replies that promise
 * durable state only after it. docs/protocol.md is the contract. */
#ifndef MIZ_BROKER_H
#define MIZ_BROKER_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "table.h"

struct event_base;
typedef struct broker broker_t;

typedef struct {
    const char *clients_endpoint; /* overrides the table's when not NULL */
    const char *workers_endpoint;
    const char *events_endpoint;
    log_level_t log_level;
    const char *data_dir; /* overrides the table's when not NULL */
    const char *store_dsn; /* a PostgreSQL store, overriding the table's */
    bool memory;          /* no store: a restart forgets everything (tests, benchmarks) */
} broker_opts_t;

/* Opens the store and takes ownership of table; binds the sockets at once,
 * or, as a standby of a shared store, once it takes the lease (role.h).
 * NULL on failure, with the reason in err. */
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
    bool deposed;   /* another mizd took the lease: mizd must stop */
    bool failed;    /* it took the lease but could not serve: mizd stops, failing */
    char role[256]; /* role.h: active, standby or deposed, and since when */
} broker_stats_t;

void broker_stats(const broker_t *broker, broker_stats_t *stats);

/* Says goodbye to workers and closes every socket with a bounded linger. */
void broker_destroy(broker_t **broker);

#endif
