/* worker: the registry of agency workers and fair dispatch among them.
 *
 * Each agency keeps its live workers in an array, served round robin within
 * each worker's credit (the deliveries it may hold at once). A worker that
 * dies, leaves, registers again or loses its key is taken out of rotation at
 * once (worker_kill) but reaped only when the turn ends, when what it held
 * is queued again: never inside the callback chain that found it dead, as
 * Redis frees a client only at a safe point (freeClientAsync). */
#include "engine_int.h"

#include <stdlib.h>
#include <string.h>

static bool worker_wants(const worker_t *w, const request_t *r)
{
    if (w->n_topics == 0)
        return true;
    for (size_t i = 0; i < w->n_topics; i++)
        if (topic_match(w->topics[i], strlen(w->topics[i]), r->topic, r->topic_len))
            return true;
    return false;
}

worker_t *worker_pick(agency_rt_t *a, const request_t *r)
{
    for (size_t k = 0; k < a->n_workers; k++) {
        size_t i = (a->rr + k) % a->n_workers;
        worker_t *w = a->workers[i];
        if (w->held < w->credit && worker_wants(w, r)) {
            a->rr = i + 1;
            return w;
        }
    }
    return NULL;
}

void worker_free(worker_t *w)
{
    for (size_t i = 0; i < w->n_topics; i++)
        free(w->topics[i]);
    free(w->rid);
    free(w);
}

/* Takes a dead or leaving worker out of rotation at once; what it held is
 * queued again when the turn ends (workers_reap), never inside the callback
 * chain that found it dead. */
void worker_kill(engine_t *e, worker_t *w, const char *why)
{
    if (w->dead)
        return;
    w->dead = true;
    agency_rt_t *a = &e->agencies[w->agency];
    a->workers[w->slot] = a->workers[--a->n_workers];
    a->workers[w->slot]->slot = w->slot;
    a->spare -= worker_spare(w);
    idmap_del(e->worker_map, w->rid, w->rid_len);
    w->next_dead = e->dead;
    e->dead = w;
    LOG(e, LOG_INFO, "worker %s (#%u, agency %s) dropped: %s; %zu deliveries to offer again",
        w->name, w->serial, agency_id(e, w->agency), why, w->holding.n);
}

void workers_reap(engine_t *e)
{
    while (e->dead) {
        worker_t *w = e->dead;
        e->dead = w->next_dead;
        while (w->holding.head) {
            delivery_t *d = w->holding.head;
            delivery_release(e, d);
            delivery_enqueue(e, d, true);
            event_emit(e, d->req, d, MIZ_EV_REDELIVERED, w);
        }
        uint32_t agency = w->agency;
        worker_free(w);
        agency_dispatch(e, agency);
    }
}


/* A new worker of agency, in rotation, with no registration details yet:
 * the caller fills in its routing id, name, topics and credit, then adds
 * its credit to the agency's spare. */
worker_t *worker_add(engine_t *e, uint32_t agency)
{
    worker_t *w = xcalloc(1, sizeof *w);
    w->serial = ++e->next_worker_serial;
    w->agency = agency;
    w->last_recv = w->last_send = e->now;
    agency_rt_t *a = &e->agencies[agency];
    if (a->n_workers == a->cap_workers) {
        a->cap_workers = a->cap_workers ? a->cap_workers * 2 : 4;
        a->workers = xrealloc(a->workers, a->cap_workers * sizeof *a->workers);
    }
    w->slot = a->n_workers;
    a->workers[a->n_workers++] = w;
    return w;
}

/* Heartbeats: drop workers silent for MIZ_LIVENESS intervals, and speak to
 * the ones we have not spoken to for one. */
void workers_heartbeat(engine_t *e)
{
    uint64_t hb = e->heartbeat_ms;
    for (size_t i = 0; i < e->n_agencies; i++) {
        agency_rt_t *a = &e->agencies[i];
        for (size_t k = a->n_workers; k-- > 0;) { /* worker_kill moves the last into k */
            worker_t *w = a->workers[k];
            if (e->now - w->last_recv > MIZ_LIVENESS * hb) {
                worker_kill(e, w, "heartbeats missed");
            } else if (e->now - w->last_send >= hb) {
                msg_begin(e, MIZ_MSG_HEARTBEAT);
                send_worker(e, w);
            }
        }
    }
}

/* A worker whose key a reload removed, or gave another role or agency, is
 * dropped: what it held is offered to the agency's other workers at once,
 * not when its deadlines pass (its connection stays open; every message on
 * it is refused). */
void workers_drop_revoked(engine_t *e)
{
    for (size_t k = 0; k < e->n_agencies; k++) {
        agency_rt_t *a = &e->agencies[k];
        for (size_t i = a->n_workers; i-- > 0;) { /* worker_kill moves the last into i */
            worker_t *w = a->workers[i];
            if (!w->key[0])
                continue; /* it registered without CURVE */
            const principal_t *p = auth_lookup(e->auth, w->key, strlen(w->key));
            if (!p || p->role != KEY_WORKER || strcmp(p->agency, a->id) != 0)
                worker_kill(e, w, "a reload revoked its key");
        }
    }
}

void engine_say_goodbye(engine_t *e)
{
    for (size_t i = 0; i < e->n_agencies; i++) {
        agency_rt_t *a = &e->agencies[i];
        for (size_t k = 0; k < a->n_workers; k++) {
            msg_begin(e, MIZ_MSG_BYE);
            wire_map_end(&e->msg);
            e->io.send(e->io.ctx, ENGINE_WORKERS, a->workers[k]->rid, a->workers[k]->rid_len,
                       e->out.data, e->out.size);
        }
    }
}

/* What w may still be offered: its credit may be below what it holds. */
uint32_t worker_spare(const worker_t *w)
{
    return w->credit > w->held ? w->credit - w->held : 0;
}

/* A credit change without registering again: lowered below what the worker
 * holds, it keeps those and is offered nothing until it has room. */
void worker_set_credit(engine_t *e, worker_t *w, uint32_t credit)
{
    agency_rt_t *a = &e->agencies[w->agency];
    a->spare -= worker_spare(w);
    w->credit = credit;
    a->spare += worker_spare(w);
}
