/* peer: what the engine remembers of peers between their messages.
 *
 * Two small maps: which CURVE key last spoke with each client routing id
 * (an outcome goes to a routing id only while the key that submitted holds
 * it), and each peer's token bucket for broker.rate_limit. Both forget
 * entries that would say nothing new, on the tick. */
#include "engine_int.h"

#include <stdlib.h>
#include <string.h>

bool holder_key_eq(const void *value, const void *key, size_t len)
{
    const holder_t *h = value;
    return h->rid_len == len && memcmp(h->rid, key, len) == 0;
}

/* The peer's key holds its client routing id from now on. */
void peer_client_seen(engine_t *e)
{
    holder_t *h = idmap_get(e->holders, e->peer.rid, e->peer.rid_len);
    if (!h) {
        h = xcalloc(1, sizeof *h);
        memcpy(h->rid, e->peer.rid, e->peer.rid_len);
        h->rid_len = e->peer.rid_len;
        xput(e->holders, h->rid, h->rid_len, h);
    }
    memcpy(h->key, e->peer.principal->key, sizeof h->key);
    h->seen = e->now;
}

/* Whether r's outcome may go to its routing id: under CURVE, only while the
 * submitting key holds it (another gateway could have taken the id over). */
bool peer_outcome_deliverable(const engine_t *e, const request_t *r)
{
    if (!r->submitter)
        return true;
    const holder_t *h = idmap_get(e->holders, r->client_id, r->client_id_len);
    return h && strcmp(h->key, r->submitter) == 0;
}

/* Holders silent for a day are forgotten: their gateways ask status. */
static void peer_forget_holders(engine_t *e)
{
    holder_t *h;
    for (size_t c = 0; (h = idmap_next(e->holders, &c));)
        if (e->now - h->seen > ENGINE_HOLDER_IDLE_MS) {
            idmap_del(e->holders, h->rid, h->rid_len);
            free(h);
        }
}

bool bucket_key_eq(const void *value, const void *key, size_t len)
{
    const bucket_t *k = value;
    return k->len == len && memcmp(k->key, key, len) == 0;
}

/* One submission from the peer within broker.rate_limit; if not, busy with
 * the time until it may submit again. Keyed by the CURVE key when there is
 * one: a gateway cannot escape its limit by opening more connections. */
bool peer_within_rate_or_reply(engine_t *e)
{
    double rate = e->conf->rate_per_second, burst = e->conf->rate_burst;
    if (!rate)
        return true;
    const void *key = e->peer.principal ? (const void *)e->peer.principal->key : e->peer.rid;
    size_t len = e->peer.principal ? strlen(e->peer.principal->key) : e->peer.rid_len;
    len = len < sizeof((bucket_t){0}).key ? len : sizeof((bucket_t){0}).key;
    bucket_t *k = idmap_get(e->buckets, key, len);
    if (!k) {
        k = xcalloc(1, sizeof *k);
        memcpy(k->key, key, len);
        k->len = len;
        k->tokens = burst;
        k->at = e->now;
        xput(e->buckets, k->key, k->len, k);
    }
    k->tokens += (double)(e->now - k->at) * rate / 1000;
    k->tokens = k->tokens < burst ? k->tokens : burst;
    k->at = e->now;
    if (k->tokens >= 1) {
        k->tokens -= 1;
        return true;
    }
    double wait = (1 - k->tokens) * 1000 / rate; /* ms until one token: rounded up */
    uint64_t retry = (uint64_t)wait;
    reply_busy(e, retry + ((double)retry < wait),
               "more than %u submissions a second from this peer",
               e->conf->rate_per_second);
    return false;
}

/* Buckets full again are forgotten: they would say nothing new. */
static void peer_forget_buckets(engine_t *e)
{
    bucket_t *k;
    double rate = e->conf->rate_per_second;
    for (size_t c = 0; (k = idmap_next(e->buckets, &c));)
        if (!rate || k->tokens + (double)(e->now - k->at) * rate / 1000 >= e->conf->rate_burst) {
            idmap_del(e->buckets, k->key, k->len);
            free(k);
        }
}


void peers_forget_idle(engine_t *e)
{
    peer_forget_holders(e);
    peer_forget_buckets(e);
}

void peers_free(engine_t *e)
{
    void *p;
    if (e->buckets)
        for (size_t c = 0; (p = idmap_next(e->buckets, &c));)
            free(p);
    if (e->holders)
        for (size_t c = 0; (p = idmap_next(e->holders, &c));)
            free(p);
    idmap_destroy(&e->buckets);
    idmap_destroy(&e->holders);
}
