/* payload: a request's payload, in memory or only in the store.
 *
 * The payload (the citizen's text, as submitted) is the largest part of an
 * open request in memory, and nothing but a delivery offered to a worker, a
 * status reply and the request's own record ever reads it. Once the request
 * is committed the store has it, so with a store the engine keeps it in
 * memory only while it is about to be read: from the submission until its
 * first commit lands, while a worker holds one of its deliveries (the ack
 * and the answer rewrite the record) and while the request waits to be
 * written. When a commit lands with none of that true, it is freed; it is
 * read back (store_get, a read on the loop thread: writer.h) when a
 * delivery is offered, a status asks for it or the request changes. A
 * recovered request starts without it. Without a store it never leaves
 * memory, nor with a store whose reads are round trips to a server
 * (PostgreSQL: store_remote), where a read per offer would cost more than
 * the memory saved. A payload never changes, so whichever committed record
 * the store holds has the same one. */
#include "engine_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    request_t *r;
    const char *why;
} payload_read_t;

static int payload_copy(const void *rec, size_t len, void *arg)
{
    payload_read_t *l = arg;
    const void *p = NULL;
    size_t n = 0;
    l->why = record_payload(rec, len, &p, &n);
    if (!l->why && n != l->r->payload_len)
        l->why = "payload of another length than the request's";
    if (!l->why)
        l->r->payload = memcpy(xrealloc(NULL, n), p, n);
    return 0;
}

/* Makes sure r's payload is in memory. false (logged) when the store cannot
 * give it. */
bool payload_load(engine_t *e, request_t *r)
{
    if (r->payload)
        return true;
    payload_read_t l = {r, NULL};
    int found = store_get(e->store, r->tracking, payload_copy, &l);
    if (found < 0)
        LOG(e, LOG_ERROR, "reading the payload of tracking %llu: %s",
            (unsigned long long)r->tracking, store_error(e->store));
    else if (!found || l.why)
        LOG(e, LOG_ERROR, "%s: tracking %llu: %s", store_path(e->store),
            (unsigned long long)r->tracking, found ? l.why : "not in the store");
    return r->payload != NULL;
}

/* Whether a worker holds one of r's deliveries: it will ack and answer. */
bool payload_held(const request_t *r)
{
    for (uint32_t i = 0; i < r->n_dels; i++)
        if (r->dels[i]->holder)
            return true;
    return false;
}

/* Frees r's payload if the store has it and nothing is about to read it. */
void payload_rest(engine_t *e, request_t *r)
{
    if (e->payload_at_rest && r->payload && !r->dirty && !r->committing && !payload_held(r)) {
        free(r->payload);
        r->payload = NULL;
    }
}
