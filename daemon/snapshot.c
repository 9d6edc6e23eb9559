/* snapshot: the state a subscriber applies the event stream to.
 *
 * The Clone pattern of the ZeroMQ guide (protocol.md 8.2): a dashboard asks
 * for every open request and every one closed since `since`, in parts, each
 * carrying the seq of the last event it includes, then applies the events
 * that follow. With a store, what is on disk comes a part per turn from one
 * read transaction, so the loop never stalls on a large store; at most
 * MIZ_SNAPSHOTS_MAX are read at once. */
#include "engine_int.h"

#include <stdlib.h>
#include <string.h>

/* What is on disk comes a part per turn, read in a
 * transaction begun in the turn that asks, so the loop never stalls on a
 * large store and every part is the state as of one seq; only what that
 * turn changed and has not written yet goes from memory at once. */
struct snapshot {
    snapshot_t *next;
    store_scan_t *scan;
    uint64_t *from_memory; /* sorted: the trackings sent from memory, which the scan skips */
    size_t n_from_memory;
    unsigned char rid[256]; /* the asker's routing id (ZeroMQ's are at most 255 bytes) */
    size_t rid_len;
    uint64_t re, seq, since;
    bool has_re;
    request_t *part[MIZ_SNAPSHOT_PART];
    bool loaded[MIZ_SNAPSHOT_PART]; /* read from the store for this: dropped once sent */
    size_t n, parts;
    engine_t *e;
};

/* Replies of a later turn go where the first one's did. */
static void snapshot_peer(engine_t *e, const snapshot_t *s)
{
    e->peer = (peer_t){.socket = ENGINE_CLIENTS, .rid = s->rid, .rid_len = s->rid_len,
                       .seq = s->re, .has_seq = s->has_re};
}

static void snapshot_drop_part(snapshot_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->loaded[i])
            request_drop(s->part[i]);
    s->n = 0;
}

static void snapshot_send(snapshot_t *s, bool done)
{
    engine_t *e = s->e;
    wire_map_t *m = reply_begin(e, MIZ_MSG_SNAPSHOT), rm;
    wire_map_uint(m, "part", s->parts++);
    wire_map_uint(m, "seq", s->seq);
    wire_map_uint(m, "run", e->run);
    wire_map_uint(m, "epoch", e->epoch);
    wire_map_bool(m, "done", done);
    msgpack_pack_array(wire_map_key(m, "requests"), s->n);
    for (size_t i = 0; i < s->n; i++) {
        wire_map_begin(&rm, &e->pk);
        request_pack_status(e, &rm, s->part[i], false);
        wire_map_end(&rm);
    }
    reply_send(e);
    snapshot_drop_part(s);
}

static void snapshot_add(snapshot_t *s, request_t *r, bool loaded)
{
    s->loaded[s->n] = loaded;
    s->part[s->n++] = r;
    if (s->n == MIZ_SNAPSHOT_PART)
        snapshot_send(s, false);
}

static bool snapshot_wants(const snapshot_t *s, const request_t *r)
{
    return !r->closed || r->closed >= s->since;
}

static int snapshot_compare_tracking(const void *pa, const void *pb)
{
    uint64_t x = *(const uint64_t *)pa, y = *(const uint64_t *)pb;
    return x < y ? -1 : x > y;
}

static int snapshot_stored(const void *rec, size_t len, void *arg)
{
    snapshot_t *s = arg;
    const char *why;
    request_t *r = record_decode(s->e, rec, len, false, &why); /* not personal */
    if (!r) {
        LOG(s->e, LOG_ERROR, "%s: a request does not decode (%s)", store_path(s->e->store), why);
        return 1;
    }
    if (snapshot_wants(s, r) && !bsearch(&r->tracking, s->from_memory, s->n_from_memory,
                                         sizeof *s->from_memory, snapshot_compare_tracking))
        snapshot_add(s, r, true);
    else
        request_drop(r);
    return 0;
}

static void snapshot_destroy(snapshot_t **sp)
{
    snapshot_t *s = *sp;
    snapshot_drop_part(s);
    store_scan_destroy(&s->scan);
    free(s->from_memory);
    free(s);
    *sp = NULL;
}

/* While the store fails nothing goes out that the outbox must hold: the
 * parts wait. */
bool engine_snapshots_pending(const engine_t *e)
{
    return e->snapshots && !e->store_failed;
}

/* One part of every snapshot still reading the store. */
void engine_snapshots_step(engine_t *e)
{
    if (!engine_snapshots_pending(e) || e->deposed)
        return;
    for (snapshot_t **p = &e->snapshots; *p;) {
        snapshot_t *s = *p;
        snapshot_peer(e, s);
        int more = store_scan_next(s->scan, MIZ_SNAPSHOT_PART, snapshot_stored, s);
        if (more > 0) {
            if (s->n)
                snapshot_send(s, false);
            p = &s->next;
            continue;
        }
        if (more == 0) {
            snapshot_send(s, true);
        } else {
            LOG(e, LOG_ERROR, "a snapshot stopped: %s", store_error(e->store));
            reply_error(e, MIZ_ERR_UNAVAILABLE, 0,
                        "cannot read the store: ask for the snapshot again");
        }
        *p = s->next;
        e->n_snapshots--;
        snapshot_destroy(&s);
    }
    e->peer = (peer_t){0};
}

/* A request the store does not have as it is yet (changed this turn, or in
 * the commit in flight) goes from memory, and the scan skips it. */
static void snapshot_from_memory(snapshot_t *s, request_t *r)
{
    s->from_memory[s->n_from_memory++] = r->tracking;
    if (snapshot_wants(s, r))
        snapshot_add(s, r, false);
}

/* Every open request and every closed one since `since`. With a store, a
 * request that has not changed since the commit in flight began, and is not
 * in it, is as the store has it: only the others go from memory. The seq
 * sent with every part is that of the last event of this turn so far. */
void cmd_snapshot(engine_t *e, const command_args_t *a)
{
    uint64_t since = a->f[MIZ_F_SNAPSHOT_SINCE].u;
    if (e->store && e->n_snapshots >= MIZ_SNAPSHOTS_MAX) {
        reply_busy(e, e->heartbeat_ms, "%d snapshots are being read already", MIZ_SNAPSHOTS_MAX);
        return;
    }
    snapshot_t *s = xcalloc(1, sizeof *s);
    *s = (snapshot_t){.e = e, .since = since, .seq = e->next.event - 1, .re = e->peer.seq,
                      .has_re = e->peer.has_seq, .rid_len = e->peer.rid_len};
    memcpy(s->rid, e->peer.rid, s->rid_len);
    if (e->store && !(s->scan = store_scan(e->store, since))) {
        LOG(e, LOG_ERROR, "%s", store_error(e->store));
        reply_error(e, MIZ_ERR_UNAVAILABLE, 0, "cannot read the store");
        snapshot_destroy(&s);
        return;
    }
    if (s->scan) {
        size_t n = e->n_committing;
        for (request_t *r = e->dirty; r; r = r->next_dirty)
            n++;
        s->from_memory = xcalloc(n ? n : 1, sizeof *s->from_memory);
        for (request_t *r = e->dirty; r; r = r->next_dirty)
            snapshot_from_memory(s, r);
        for (size_t i = 0; i < e->n_committing; i++)
            if (!e->committing[i]->dirty) /* else it was just taken */
                snapshot_from_memory(s, e->committing[i]);
        qsort(s->from_memory, s->n_from_memory, sizeof *s->from_memory, snapshot_compare_tracking);
    } else {
        request_t *r;
        for (size_t c = 0; (r = idmap_next(e->requests, &c));)
            if (snapshot_wants(s, r))
                snapshot_add(s, r, false);
    }
    if (!s->scan) {
        snapshot_send(s, true);
        snapshot_destroy(&s);
        return;
    }
    if (s->n) /* what memory holds may change before the next turn */
        snapshot_send(s, false);
    s->next = e->snapshots;
    e->snapshots = s;
    e->n_snapshots++;
}

void snapshots_destroy(engine_t *e)
{
    while (e->snapshots) {
        snapshot_t *s = e->snapshots;
        e->snapshots = s->next;
        snapshot_destroy(&s);
    }
}

