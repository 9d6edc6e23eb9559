/* commit: the group commit, pipelined, and the purge of old requests.
 *
 * Every request a turn changed is written in one store transaction, with the
 * numbers handed out next, and only once it is on disk does the turn's
 * outbox go out: a tracking number, an ok or an event is never sent for a
 * change a crash could take back. The commit runs on the writer's thread
 * (writer.h): while it is in flight the loop goes on, and the turns that
 * follow stage their changes and their outboxes behind it; when it lands its
 * outbox is sent, and what was staged meanwhile is the next batch, so at
 * most one commit is ever in flight and replies go out in the order of the
 * turns. A failed commit puts everything back as it was (its requests dirty,
 * its outbox before the staged one) and refuses new submissions until a
 * later commit succeeds. */
#include "engine_int.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>

/* What SQL readers of the store see of r (store_row_t): its first delivery
 * is where it was routed. */
static void commit_row(engine_t *e, const request_t *r, store_row_t *row)
{
    const delivery_t *d = r->n_dels ? r->dels[0] : NULL;
    const char *agency = d ? agency_id(e, d->agency) : "";
    const char *state = d ? miz_state_names[d->state] : "";
    *row = (store_row_t){.topic = r->topic, .topic_len = r->topic_len, .agency = agency,
                         .agency_len = strlen(agency), .state = state, .state_len = strlen(state),
                         .created = r->created, .answer_by = d ? d->answer_by : 0,
                         .overdue = d && d->overdue};
}

/* Appends r's record (and its client_ref, the first time) to the batch. */
static void commit_encode(engine_t *e, request_t *r)
{
    /* with copies out, or its outcome not confirmed, it stays with the open ones */
    bool closing = r->closed && !r->open && !r->outcome_pending;
    char k[ENGINE_REF_KEY_MAX];
    size_t n = r->client_ref && (!r->ref_stored || closing) ? request_ref_key(r, k) : 0;
    if (r->client_ref && !r->ref_stored)
        batch_put_ref(&e->batch, k, n, r->tracking, r->created);
    store_row_t row;
    commit_row(e, r, &row);
    msgpack_packer *pk = closing ? batch_closed_begin(&e->batch, r->tracking, r->closed,
                                                      r->client_ref ? k : NULL, n, &row)
                                 : batch_open_begin(&e->batch, r->tracking, &row);
    record_pack(e, pk, r); /* in place: no copy of the record */
    batch_record_end(&e->batch);
}

/* Seals the dirty requests and the outbox into the batch and starts it. */
static void commit_start(engine_t *e)
{
    batch_clear(&e->batch);
    e->n_committing = 0;
    while (e->dirty) {
        request_t *r = e->dirty;
        e->dirty = r->next_dirty;
        r->next_dirty = NULL;
        r->dirty = false;
        r->committing = true;
        commit_encode(e, r);
        if (e->n_committing == e->cap_committing) {
            e->cap_committing = e->cap_committing ? 2 * e->cap_committing : 64;
            e->committing = xrealloc(e->committing, e->cap_committing * sizeof *e->committing);
        }
        e->committing[e->n_committing++] = r;
    }
    e->dirty_tail = &e->dirty;
    e->batch.counters = e->next;
    e->commit_began = e->now;
    e->join_until = 0;
    e->outbox_owed = false;
    msgpack_sbuffer tmp = e->sealed; /* empty: nothing is in flight */
    e->sealed = e->outbox;
    e->outbox = tmp;
    writer_start(e->writer, &e->batch);
}

/* The batch's requests and outbox go back where they were, before what was
 * staged since: they are written and sent again with it. */
static void commit_undo(engine_t *e)
{
    for (size_t i = e->n_committing; i-- > 0;) {
        request_t *r = e->committing[i];
        r->committing = false;
        if (r->dirty) /* changed again meanwhile: it is staged already */
            continue;
        r->dirty = true;
        r->next_dirty = e->dirty;
        if (!e->dirty)
            e->dirty_tail = &r->next_dirty;
        e->dirty = r;
    }
    e->n_committing = 0;
    e->outbox_owed = true; /* as it may be: the retry waits for nothing */
    outbox_write_raw(&e->sealed, e->outbox.data, e->outbox.size);
    msgpack_sbuffer tmp = e->outbox;
    e->outbox = e->sealed;
    e->sealed = tmp;
    msgpack_sbuffer_clear(&e->sealed);
}

/* New submissions are refused until a commit works again. */
static void commit_failed(engine_t *e, const char *why)
{
    if (!e->store_failed)
        LOG(e, LOG_ERROR, "store write failed, refusing submissions until it works: %s", why);
    snprintf(e->commit_err, sizeof e->commit_err, "%s", why);
    e->store_failed = true;
}

/* Whether the lease wants renewing: a third of it has passed. */
static bool commit_lease_due(const engine_t *e)
{
    return e->shared && e->now + e->lease_ms * 2 / 3 >= e->lease_until;
}

bool commit_lease_renewal(const engine_t *e, uint64_t *at)
{
    if (!e->shared || e->deposed || writer_busy(e->writer))
        return false; /* the commit in flight renews it: its landing is a turn */
    *at = e->lease_until - e->lease_ms * 2 / 3;
    return true;
}

static void commit_deposed(engine_t *e, const char *why)
{
    if (!e->deposed)
        LOG(e, LOG_ERROR, "deposed: %s; sending nothing more", why);
    e->deposed = true;
}

/* A turn that begins after the lease may have lapsed (the loop stalled, or
 * the process was paused) renews it first, in a transaction of its own,
 * before anything of the turn changes memory: a mizd another took over
 * from learns it here, and does nothing more, rather than play a turn it
 * can never commit. With a commit in flight its landing tells as much. */
void commit_lease_check(engine_t *e)
{
    if (!e->shared || e->deposed || e->now < e->lease_until || writer_busy(e->writer))
        return;
    store_status_t st = store_begin(e->store);
    if (st == STORE_OK)
        st = store_commit(e->store);
    else
        store_abort(e->store);
    if (st == STORE_OK)
        e->lease_until = e->now + e->lease_ms;
    else if (st == STORE_DEPOSED)
        commit_deposed(e, store_write_error(e->store));
    /* else the turn goes on, and its outbox waits for a commit that renews */
}

/* The batch landed (or failed): its outbox goes out, or everything waits. */
static void commit_finish(engine_t *e)
{
    store_status_t st = e->batch.status;
    if (st == STORE_DEPOSED) {
        commit_deposed(e, e->batch.err);
        commit_undo(e);
        return;
    }
    if (st == STORE_RETRY) {
        LOG(e, LOG_INFO, "store map grown: %s", e->batch.err);
        commit_undo(e);
        return;
    }
    if (st != STORE_OK) {
        commit_failed(e, e->batch.err);
        commit_undo(e);
        return;
    }
    e->commits++;
    e->commit_us += e->batch.took_us;
    if (e->batch.took_us > e->commit_max_us)
        e->commit_max_us = e->batch.took_us;
    if (e->store_failed)
        LOG(e, LOG_WARN, "store writes again; accepting submissions");
    e->store_failed = false;
    if (e->shared)
        e->lease_until = e->commit_began + e->lease_ms;
    for (size_t i = 0; i < e->n_committing; i++) {
        request_t *r = e->committing[i];
        r->committing = false;
        r->ref_stored = r->client_ref != NULL;
        payload_rest(e, r);
    }
    e->n_committing = 0;
    outbox_flush(e, &e->sealed);
}

/* Without a store nothing is written: a turn's changes are done with. */
static void commit_forget_dirty(engine_t *e)
{
    while (e->dirty) {
        request_t *r = e->dirty;
        e->dirty = r->next_dirty;
        r->next_dirty = NULL;
        r->dirty = false;
    }
    e->dirty_tail = &e->dirty;
}

/* Whether the staged changes wait for the next turn's, to share a commit.
 * A turn that owes no peer a reply (a quiet worker's ack: events only) waits
 * up to ENGINE_COMMIT_JOIN_MS for one that does: a worker sends its answer
 * right after its ack, and the answer then waits for one commit, not for
 * the ack's in flight and then its own. A stop, a lease due or a failing
 * store (tried again at the end of each turn, as before) waits for
 * nothing. */
static bool commit_joins_next(engine_t *e)
{
    if (e->outbox_owed || e->stopping || e->store_failed || commit_lease_due(e) ||
        (e->join_until && e->now >= e->join_until)) {
        e->join_until = 0; /* a commit starts now, or is tried (and may fail) */
        return false;
    }
    if (!e->join_until)
        e->join_until = e->now + ENGINE_COMMIT_JOIN_MS;
    return true;
}

bool commit_join_due(const engine_t *e, uint64_t *at)
{
    if (!e->join_until || e->deposed || e->store_failed || writer_busy(e->writer))
        return false; /* a landing commit moves the pipeline on itself */
    *at = e->join_until;
    return true;
}

/* Moves the pipeline on, as far as it goes without waiting: with nothing in
 * flight, the staged changes start their commit (inline: and land at once),
 * or, with nothing to write, the staged outbox goes out (nothing it says can
 * depend on a commit still in flight). A failed commit is tried again on the
 * next turn, not at once. With a shared store, a lease due for renewal is a
 * commit too, even an empty one, and the outbox waits for it. */
void commit_advance(engine_t *e)
{
    for (;;) {
        workers_reap(e); /* what dropped workers held is queued again, in flight or not */
        if (writer_busy(e->writer) || e->deposed)
            return;
        if (!e->store)
            commit_forget_dirty(e);
        if (!e->dirty && !commit_lease_due(e)) {
            outbox_flush(e, &e->outbox);
            e->outbox_owed = false;
            if (!e->dead)
                return;
            continue; /* a send killed a worker: what it held is queued again */
        }
        if (commit_joins_next(e))
            return;
        if (store_prepare(e->store) < 0) { /* grow the map, or reopen, while nothing writes */
            commit_failed(e, store_write_error(e->store));
            return;
        }
        commit_start(e);
        if (writer_busy(e->writer))
            return;
        commit_finish(e); /* inline */
        if (e->batch.status != STORE_OK && e->batch.status != STORE_RETRY)
            return;
    }
}

/* The batch in flight has landed: its outbox goes out, the next starts. */
void engine_commit_done(engine_t *e)
{
    if (!writer_collect(e->writer))
        return;
    bool failed = e->batch.status != STORE_OK && e->batch.status != STORE_RETRY;
    commit_finish(e);
    if (!failed)
        commit_advance(e);
}

int engine_commit_fd(const engine_t *e)
{
    return writer_fd(e->writer);
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
    if (e->store_failed || writer_busy(e->writer) || e->now - e->last_purge < every ||
        e->now_wall < e->conf->retention_ms)
        return; /* the store is written from one thread at a time (writer.h) */
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

void engine_drain(engine_t *e)
{
    struct pollfd p = {writer_fd(e->writer), POLLIN, 0};
    e->stopping = true; /* what waits to join a later commit commits now */
    commit_advance(e);
    while (writer_busy(e->writer)) {
        poll(&p, 1, -1);
        engine_commit_done(e);
    }
}
