/* commit: the group commit, and the purge of old requests.
 *
 * Every request a turn changed is written in one store transaction when the
 * turn ends, with the numbers handed out next, and only once it is on disk
 * does the turn's outbox go out: a tracking number, an ok or an event is
 * never sent for a change a crash could take back. A failed commit leaves
 * everything as it was (dirty requests, held outbox) and refuses new
 * submissions until a later turn's commit succeeds. */
#include "engine_int.h"

static store_status_t commit_request(engine_t *e, request_t *r)
{
    msgpack_packer pk;
    msgpack_sbuffer_clear(&e->scratch);
    msgpack_packer_init(&pk, &e->scratch, msgpack_sbuffer_write);
    record_pack(e, &pk, r);
    store_status_t st;
    /* with copies out, or its outcome not confirmed, it stays with the open ones */
    bool closing = r->closed && !r->open && !r->outcome_pending;
    char k[ENGINE_REF_KEY_MAX];
    size_t n = r->client_ref && (!r->ref_stored || closing) ? request_ref_key(r, k) : 0;
    if (r->client_ref && !r->ref_stored &&
        (st = store_put_ref(e->store, k, n, r->tracking, r->created)))
        return st;
    if (closing)
        return store_put_closed(e->store, r->tracking, r->closed, r->client_ref ? k : NULL, n,
                                e->scratch.data, e->scratch.size);
    return store_put_open(e->store, r->tracking, e->scratch.data, e->scratch.size);
}

static store_status_t commit_write(engine_t *e)
{
    store_status_t st = store_begin(e->store);
    for (request_t *r = e->dirty; r && !st; r = r->next_dirty)
        st = commit_request(e, r);
    if (!st)
        st = store_put_counters(e->store, &e->next);
    if (!st)
        st = store_commit(e->store);
    else
        store_abort(e->store);
    return st;
}

/* Writes every request the turn changed in one transaction (group commit).
 * False when that failed: what the turn would send stays in the outbox,
 * the requests stay dirty, and the next turn (or tick) tries again. */
bool commit_turn(engine_t *e)
{
    store_status_t st = STORE_OK;
    if (e->store && e->dirty)
        while ((st = commit_write(e)) == STORE_RETRY)
            LOG(e, LOG_INFO, "store map grown: %s", store_error(e->store));
    if (st != STORE_OK) {
        if (!e->store_failed)
            LOG(e, LOG_ERROR, "store write failed, refusing submissions until it works: %s",
                store_error(e->store));
        e->store_failed = true;
        return false;
    }
    if (e->store_failed)
        LOG(e, LOG_WARN, "store writes again; accepting submissions");
    e->store_failed = false;
    while (e->dirty) {
        request_t *r = e->dirty;
        e->dirty = r->next_dirty;
        r->next_dirty = NULL;
        r->dirty = false;
        r->ref_stored = r->client_ref != NULL;
    }
    e->dirty_tail = &e->dirty;
    return true;
}

/* Drops closed requests past the retention period, from memory at once and
 * from the store a batch at a time (a full batch means more are due, so the
 * next tick goes on): retention is the citizens' privacy control, and a
 * purged request is gone, for status and for its client_ref alike. */
void commit_purge(engine_t *e)
{
    /* a short retention (a test's) is purged at a tenth of it */
    uint64_t every = e->conf->retention_ms / 10;
    if (every > ENGINE_PURGE_EVERY_MS)
        every = ENGINE_PURGE_EVERY_MS;
    if (e->store_failed || e->now - e->last_purge < every || e->now_wall < e->conf->retention_ms)
        return;
    uint64_t before = e->now_wall - e->conf->retention_ms;
    requests_forget_closed_before(e, before);
    long n = e->store ? store_purge(e->store, before, ENGINE_PURGE_BATCH) : 0;
    if (n < 0)
        LOG(e, LOG_ERROR, "purge of old requests failed: %s", store_error(e->store));
    else if (n > 0)
        LOG(e, LOG_INFO, "purged %ld requests closed over the retention period", n);
    if (n < ENGINE_PURGE_BATCH)
        e->last_purge = e->now;
}
