/* recovery: the engine's state, read back from the store.
 *
 * At start every open request is rebuilt from its record and put back in
 * play: what was offered or acked is queued again, answer deadlines resume
 * at their absolute wall-clock time. A record that does not decode stops
 * the start, naming the store and the field: a damaged store is refused,
 * never served half empty. A request no route of the current table fits is
 * left on disk, untouched, and said. recovery_load reads one closed request
 * back for status, a resubmission or a snapshot. */
#include "engine_int.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    engine_t *e;
    request_t *r;
    const char *why;
} loaded_t;

static int recovery_load_one(const void *rec, size_t len, void *arg)
{
    loaded_t *l = arg;
    l->r = record_decode(l->e, rec, len, true, &l->why);
    return 0;
}

/* A request the store has and memory does not (closed and evicted),
 * detached in *r: the caller drops it. 1 found, 0 not there, -1 the store
 * could not be read (logged). */
int recovery_load(engine_t *e, uint64_t tracking, request_t **r)
{
    loaded_t l = {e, NULL, NULL};
    int found = store_get(e->store, tracking, recovery_load_one, &l);
    if (found < 0) {
        LOG(e, LOG_ERROR, "%s", store_error(e->store));
    } else if (found && !l.r) {
        LOG(e, LOG_ERROR, "%s: tracking %llu: bad record (%s)", store_path(e->store),
            (unsigned long long)tracking, l.why);
        found = -1;
    }
    *r = l.r;
    return found;
}

typedef struct {
    engine_t *e;
    size_t requests, requeued, skipped;
    const char *why; /* why recovery stopped */
    uint64_t tracking;
} recovery_t;

/* Puts a recovered request back in play. What was offered or acked when
 * the daemon stopped is queued again (that worker's connection is gone);
 * answer deadlines resume at their absolute time, at once if passed. The
 * "redelivered" entry is written with the request's next change: a restart
 * does not rewrite every record. */
static void recovery_revive(engine_t *e, request_t *r, recovery_t *rc)
{
    request_index(e, r);
    if (r->tracking >= e->next.tracking)
        e->next.tracking = r->tracking + 1;
    for (uint32_t i = 0; i < r->n_dels; i++) {
        delivery_t *d = r->dels[i];
        xput(e->deliveries, &d->id, sizeof d->id, d);
        if (d->id >= e->next.delivery)
            e->next.delivery = d->id + 1;
        if (!delivery_is_open(d))
            continue;
        r->open++;
        e->agencies[d->agency].open++;
        e->agencies[d->agency].overdue += d->overdue;
        if (d->state != MIZ_DS_QUEUED) {
            event_history_add(d, (hist_t){e->now_wall, 0, MIZ_EV_REDELIVERED});
            rc->requeued++;
        }
        delivery_enqueue(e, d, false);
        if (delivery_answers_branch(d) && !d->overdue && d->answer_by)
            delivery_arm_at(e, &d->answer_timer, d->answer_by);
    }
    if (r->closed)
        closed_append(e, r);
    else
        e->open_requests++;
    if (r->outcome_pending) /* sent again when its gateway speaks */
        outcome_pend(e, r);
}

static int recovery_one(const void *rec, size_t len, void *arg)
{
    recovery_t *rc = arg;
    engine_t *e = rc->e;
    const char *why;
    /* payload.c reads it back when needed, unless that is a round trip */
    request_t *r = record_decode(e, rec, len, !e->payload_at_rest, &why);
    if (!r) {
        rc->why = why;
        return 1;
    }
    const route_t *route = NULL;
    unsigned observers[TABLE_MAX_AGENCIES];
    size_t n_observers, targets = 0;
    table_resolve(e->routing->table, r->topic, r->topic_len, r->kind, strlen(r->kind), &route,
                  observers, &n_observers);
    for (uint32_t i = 0; i < r->n_dels; i++)
        targets += r->dels[i]->role == MIZ_ROLE_TARGET;
    if (!route || route->n_to != targets) {
        /* the table changed under it: keep it on disk, untouched, and say so */
        LOG(e, LOG_ERROR, "a stored request is left aside: no route of the routing table "
                          "matches it with the same target agencies");
        LOG(e, LOG_ERROR, "  tracking %llu, topic %s, kind %s", (unsigned long long)r->tracking,
            r->topic, r->kind);
        request_drop(r);
        rc->skipped++;
        return 0;
    }
    r->routing = e->routing;
    r->routing->refs++;
    r->route = route;
    recovery_revive(e, r, rc);
    rc->requests++;
    return 0;
}

/* The monotonic ms now, for how long recovery took. */
static uint64_t recovery_now(const engine_t *e)
{
    uint64_t mono, wall;
    e->io.now(e->io.ctx, &mono, &wall);
    return mono;
}

static int recovery_ref_seen(const void *ref, size_t len, void *arg)
{
    engine_t *e = arg;
    refcache_add(e->refcache, ref, len, e->now_wall);
    return 0;
}

/* With a remote store, the refs first used within the dedup window, so
 * that a new ref costs no round trip (refcache.c). -1 with store_error. */
static int recovery_refcache(engine_t *e)
{
    if (!store_remote(e->store) || !store_lists_refs(e->store))
        return 0;
    uint64_t window = e->conf->dedup_window_ms;
    e->refcache = refcache_new(window, e->now_wall);
    uint64_t since = e->now_wall > window ? e->now_wall - window : 0;
    if (store_each_ref_since(e->store, since, recovery_ref_seen, e) < 0)
        return -1;
    LOG(e, LOG_INFO, "store %s: %zu client_refs first used within the dedup window, in memory "
                     "(%zu KiB): only those are looked up",
        store_path(e->store), refcache_count(e->refcache), refcache_bytes(e->refcache) / 1024);
    return 0;
}

/* Rebuilds every open request from the store. -1 (with err) when the store
 * cannot be read or holds a record that does not decode. */
int recovery_run(engine_t *e, char *err, size_t errlen)
{
    uint64_t t0 = e->now;
    recovery_t rc = {.e = e};
    if (store_counters(e->store, &e->next) < 0) {
        snprintf(err, errlen, "%s", store_error(e->store));
        return -1;
    }
    int ret = store_each_open(e->store, recovery_one, &rc);
    if (ret < 0) {
        snprintf(err, errlen, "%s", store_error(e->store));
        return -1;
    }
    if (ret > 0) {
        snprintf(err, errlen, "%s: a stored request does not decode (%s): refusing to start",
                 store_path(e->store), rc.why);
        return -1;
    }
    /* the walk mapped all of the open table: as much RSS again as the
     * requests' heap, for pages that are the page cache's anyway */
    if (store_unmap(e->store) < 0) {
        snprintf(err, errlen, "%s", store_error(e->store));
        return -1;
    }
    if (recovery_refcache(e) < 0) {
        snprintf(err, errlen, "%s", store_error(e->store));
        return -1;
    }
    LOG(e, LOG_INFO,
        "store %s: recovered %zu requests (%zu open) in %llu ms; %zu deliveries to offer "
        "again%s",
        store_path(e->store), rc.requests, e->open_requests,
        (unsigned long long)(recovery_now(e) - t0), rc.requeued,
        rc.skipped ? "; some left aside, see above" : "");
    return 0;
}

