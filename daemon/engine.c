/* engine: the engine's life cycle and its turns.
 *
 * engine_new builds the state around a routing table and a store and
 * recovers what the store holds; a turn reads the clock once, takes any
 * number of messages, deadlines and ticks, and ends in engine_turn_end:
 * workers dropped during the turn give back what they held, the turn's
 * changes are committed, its outbox is sent, and closed requests past the
 * retention count leave memory. The engine's files are listed in
 * engine_int.h; the sockets and the event loop are daemon/broker.c's. */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool request_key_eq(const void *value, const void *key, size_t len)
{
    return len == sizeof(uint64_t) && memcmp(&((const request_t *)value)->tracking, key, len) == 0;
}

static bool delivery_key_eq(const void *value, const void *key, size_t len)
{
    return len == sizeof(uint64_t) && memcmp(&((const delivery_t *)value)->id, key, len) == 0;
}

static bool worker_key_eq(const void *value, const void *key, size_t len)
{
    const worker_t *w = value;
    return w->rid_len == len && memcmp(w->rid, key, len) == 0;
}

static void engine_clock(engine_t *e)
{
    e->io.now(e->io.ctx, &e->now, &e->now_wall);
}

engine_t *engine_new(table_t *table, store_t *store, const auth_t *auth, const engine_io_t *io,
                     log_level_t log_level, char *err, size_t errlen)
{
    if (!command_table_complete())
        ENGINE_BUG("a command of proto.h has no handler in command.c");
    engine_t *e = xcalloc(1, sizeof *e);
    e->io = *io;
    e->auth = auth;
    e->store = store;
    e->payload_at_rest = store && !store_remote(store);
    e->log_level = log_level;
    e->routing = routing_new(e, table);
    e->conf = table_conf(table);
    e->heartbeat_ms = e->conf->heartbeat_ms;
    e->error_lines = (log_limit_t){.what = "error replies", .level = LOG_INFO};
    e->forbidden_lines = (log_limit_t){.what = "forbidden messages", .level = LOG_WARN};
    e->next = (store_counters_t){1, 1, 1};
    e->dirty_tail = &e->dirty;
    engine_clock(e);
    e->run = e->now_wall;
    msgpack_sbuffer_init(&e->out);
    msgpack_sbuffer_init(&e->scratch);
    if (!msgpack_zone_init(&e->zone, MSGPACK_ZONE_CHUNK_SIZE))
        abort(); /* out of memory, as xalloc.c */
    msgpack_sbuffer_init(&e->outbox);
    msgpack_sbuffer_init(&e->sealed);
    batch_init(&e->batch);
    msgpack_sbuffer_init(&e->ev);
    msgpack_packer_init(&e->ev_pk, &e->ev, msgpack_sbuffer_write);
    msgpack_packer_init(&e->pk, &e->out, msgpack_sbuffer_write);
    e->requests = idmap_new(request_key_eq);
    e->deliveries = idmap_new(delivery_key_eq);
    e->worker_map = idmap_new(worker_key_eq);
    e->refs = idmap_new(ref_key_eq);
    e->buckets = idmap_new(bucket_key_eq);
    e->holders = idmap_new(holder_key_eq);
    e->gateways = idmap_new(gateway_key_eq);
    e->heap = dl_heap_new();
    if (!e->requests || !e->deliveries || !e->worker_map || !e->refs || !e->buckets ||
        !e->holders || !e->gateways || !e->heap) {
        snprintf(err, errlen, "out of memory");
        engine_destroy(&e);
        return NULL;
    }
    if ((e->store && recovery_run(e, err, errlen) < 0) ||
        !(e->writer = writer_new(e->store, e->store && io->threaded_commit, err, errlen))) {
        engine_destroy(&e);
        return NULL;
    }
    return e;
}

void engine_turn_begin(engine_t *e)
{
    engine_clock(e);
    commit_lease_check(e);
}

void engine_turn_end(engine_t *e)
{
    commit_advance(e);
    requests_evict_closed(e);
    check_after_turn(e);
}

void engine_tick(engine_t *e)
{
    if (e->deposed)
        return;
    workers_heartbeat(e);
    commit_purge(e);
    peers_forget_idle(e);
    event_publish_counters(e);
    log_limit_flush(&e->error_lines);
    log_limit_flush(&e->forbidden_lines);
}

void engine_reload(engine_t *e, table_t *table)
{
    routing_t *g = routing_new(e, table);
    routing_release(&e->routing);
    e->routing = g;
    e->conf = table_conf(table);
    if (e->refcache)
        refcache_window(e->refcache, e->conf->dedup_window_ms, e->now_wall);
    LOG(e, LOG_INFO, "routing table reloaded: %zu agencies, %zu routes; %zu open requests keep "
                     "their routes", table_agency_count(table), table_route_count(table),
        e->open_requests);
}

void engine_drop_revoked(engine_t *e)
{
    if (e->auth)
        workers_drop_revoked(e);
}

void engine_stop(engine_t *e)
{
    e->stopping = true;
}

uint64_t engine_last_work(const engine_t *e)
{
    return e->last_work;
}

const broker_conf_t *engine_conf(const engine_t *e)
{
    return e->conf;
}

int engine_lease(engine_t *e, uint64_t epoch, uint64_t lease_ms)
{
    e->shared = true;
    e->epoch = epoch;
    e->lease_ms = lease_ms;
    e->lease_until = 0; /* renewed now: the long first lease of a takeover ends */
    engine_clock(e);
    commit_lease_check(e);
    return e->deposed || e->now >= e->lease_until ? -1 : 0;
}

bool engine_deposed(const engine_t *e)
{
    return e->deposed;
}

void engine_stats(const engine_t *e, engine_stats_t *st)
{
    *st = (engine_stats_t){.open_requests = e->open_requests, .store_failed = e->store_failed};
    for (size_t i = 0; i < e->n_agencies; i++)
        st->workers += e->agencies[i].n_workers;
}

void engine_destroy(engine_t **ep)
{
    engine_t *e = *ep;
    if (!e)
        return;
    writer_destroy(&e->writer); /* a batch in flight lands first */
    snapshots_destroy(e);       /* before the store: each holds a read of it */
    if (e->requests) {
        request_t *r;
        for (size_t c = 0; (r = idmap_next(e->requests, &c));)
            request_drop(r);
    }
    while (e->dead) { /* killed in the last turn: nothing is offered again */
        worker_t *w = e->dead;
        e->dead = w->next_dead;
        worker_free(w);
    }
    for (size_t i = 0; i < e->n_agencies; i++) {
        agency_rt_t *a = &e->agencies[i];
        for (size_t k = 0; k < a->n_workers; k++)
            worker_free(a->workers[k]);
        free(a->workers);
        free(a->id);
    }
    free(e->agencies);
    idmap_destroy(&e->requests);
    idmap_destroy(&e->deliveries);
    idmap_destroy(&e->worker_map);
    idmap_destroy(&e->refs);
    refcache_destroy(&e->refcache);
    peers_free(e);
    gateways_free(e);
    dl_heap_destroy(&e->heap);
    msgpack_sbuffer_destroy(&e->out);
    msgpack_sbuffer_destroy(&e->scratch);
    msgpack_zone_destroy(&e->zone);
    msgpack_sbuffer_destroy(&e->outbox);
    msgpack_sbuffer_destroy(&e->sealed);
    batch_fini(&e->batch);
    free(e->committing);
    msgpack_sbuffer_destroy(&e->ev);
    store_destroy(&e->store);
    routing_release(&e->routing);
    free(e);
    *ep = NULL;
}
