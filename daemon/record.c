/* record: a request as the store keeps it.
 *
 * One msgpack array per request, its deliveries and their history inside
 * (docs/storage.md gives the layout, field by field, as a read-only
 * interface). Agencies are stored by id, not index, so a record outlives a
 * change of the routing table's order; the route is found again from topic
 * and kind. A record read back is input from outside like any other: every
 * field's type and range is checked (strings as UTF-8, as the wire checks
 * them), and one that does not fit names the field, so a damaged store is
 * refused by name. */
#include "engine_int.h"

#include <string.h>

#include "utf8.h"

#define REC_FIELDS 14 /* 12 before CURVE: no submitter; 13 before confirmations */
#define REC_PAYLOAD 8 /* the payload's index */

/* A record's outcome field: whether the submitter confirms the outcome,
 * and whether it has (or it was given up on). */
enum { REC_NO_CONFIRM, REC_OUTCOME_PENDING, REC_OUTCOME_SETTLED };
#define REC_DELIVERY_FIELDS 19 /* 18 before the worker's name (by) */

static void record_pack_bin(msgpack_packer *pk, const void *p, size_t n)
{
    msgpack_pack_bin(pk, n);
    msgpack_pack_bin_body(pk, p, n);
}

static void record_pack_opt_str(msgpack_packer *pk, const char *s)
{
    if (s)
        wire_pack_cstr(pk, s);
    else
        msgpack_pack_nil(pk);
}

static void record_pack_deliveries(engine_t *e, msgpack_packer *pk, const request_t *r)
{
    msgpack_pack_array(pk, r->n_dels);
    for (uint32_t i = 0; i < r->n_dels; i++) {
        const delivery_t *d = r->dels[i];
        msgpack_pack_array(pk, REC_DELIVERY_FIELDS);
        msgpack_pack_uint64(pk, d->id);
        wire_pack_cstr(pk, agency_id(e, d->agency));
        msgpack_pack_uint8(pk, d->role);
        msgpack_pack_uint16(pk, d->branch);
        msgpack_pack_uint8(pk, d->level);
        msgpack_pack_uint8(pk, d->state);
        msgpack_pack_uint16(pk, d->attempts);
        d->overdue ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
        d->escalated ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
        msgpack_pack_uint64(pk, d->from);
        record_pack_opt_str(pk, delivery_reason(d));
        msgpack_pack_uint64(pk, d->created);
        msgpack_pack_uint64(pk, d->ack_by);
        msgpack_pack_uint64(pk, d->answer_by);
        record_pack_opt_str(pk, d->outcome);
        record_pack_opt_str(pk, d->text);
        record_pack_opt_str(pk, d->note);
        msgpack_pack_array(pk, d->n_hist);
        for (uint32_t k = 0; k < d->n_hist; k++) {
            msgpack_pack_array(pk, 3);
            msgpack_pack_uint64(pk, d->hist[k].at);
            msgpack_pack_uint32(pk, d->hist[k].worker);
            msgpack_pack_uint8(pk, d->hist[k].event);
        }
        record_pack_opt_str(pk, d->by);
    }
}

void record_pack(engine_t *e, msgpack_packer *pk, const request_t *r)
{
    if (!r->payload)
        ENGINE_BUG("request %llu written without its payload", (unsigned long long)r->tracking);
    msgpack_pack_array(pk, REC_FIELDS);
    msgpack_pack_uint64(pk, r->tracking);
    msgpack_pack_uint64(pk, r->created);
    msgpack_pack_uint64(pk, r->closed);
    wire_pack_str(pk, r->topic, r->topic_len);
    wire_pack_cstr(pk, r->kind);
    record_pack_opt_str(pk, r->client_ref);
    msgpack_pack_uint8(pk, (uint8_t)r->prio);
    msgpack_pack_uint32(pk, r->settled);
    record_pack_bin(pk, r->payload, r->payload_len);
    record_pack_bin(pk, r->client_id, r->client_id_len);
    msgpack_pack_array(pk, r->n_observers);
    for (size_t i = 0; i < r->n_observers; i++)
        wire_pack_cstr(pk, agency_id(e, r->observers[i]));
    record_pack_deliveries(e, pk, r);
    record_pack_opt_str(pk, r->submitter);
    msgpack_pack_uint8(pk, !r->confirm           ? REC_NO_CONFIRM
                           : r->outcome_pending ? REC_OUTCOME_PENDING
                                                : REC_OUTCOME_SETTLED);
}

/* A cursor over a record's array that remembers the first mismatch. */
typedef struct {
    const msgpack_object *o;
    uint32_t n;
    const char *bad; /* what did not fit, or NULL */
} rec_t;

static const msgpack_object *rec_at(rec_t *c, uint32_t i, msgpack_object_type type,
                                    const char *what)
{
    if (!c->bad && (i >= c->n || c->o[i].type != type))
        c->bad = what;
    return c->bad ? NULL : &c->o[i];
}

static uint64_t rec_uint(rec_t *c, uint32_t i, uint64_t max, const char *what)
{
    const msgpack_object *o = rec_at(c, i, MSGPACK_OBJECT_POSITIVE_INTEGER, what);
    if (o && o->via.u64 > max)
        c->bad = what;
    return c->bad ? 0 : o->via.u64;
}

static bool rec_bool(rec_t *c, uint32_t i, const char *what)
{
    const msgpack_object *o = rec_at(c, i, MSGPACK_OBJECT_BOOLEAN, what);
    return o ? o->via.boolean : false;
}

/* A string, or NULL for nil when nil_ok. */
static const char *rec_str(rec_t *c, uint32_t i, bool nil_ok, size_t *len, const char *what)
{
    *len = 0;
    if (!c->bad && nil_ok && i < c->n && c->o[i].type == MSGPACK_OBJECT_NIL)
        return NULL;
    const msgpack_object *o = rec_at(c, i, MSGPACK_OBJECT_STR, what);
    /* as the wire checks it: a status reply must never carry invalid UTF-8 */
    if (o && !utf8_valid(o->via.str.ptr, o->via.str.size))
        c->bad = what;
    if (c->bad)
        return NULL;
    *len = o->via.str.size;
    return o->via.str.size ? o->via.str.ptr : "";
}

static char *rec_dup(rec_t *c, uint32_t i, const char *what)
{
    size_t n;
    const char *s = rec_str(c, i, true, &n, what);
    return s ? xstrndup(s, n) : NULL;
}

static rec_t rec_array(rec_t *c, uint32_t i, uint32_t want, const char *what)
{
    const msgpack_object *o = rec_at(c, i, MSGPACK_OBJECT_ARRAY, what);
    if (o && want && o->via.array.size != want)
        c->bad = what;
    return c->bad ? (rec_t){NULL, 0, c->bad} : (rec_t){o->via.array.ptr, o->via.array.size, NULL};
}

/* An agency a table has since dropped is still known by its id: its
 * requests keep their history, and its workers may serve what is open. */
static uint32_t rec_agency(engine_t *e, rec_t *c, uint32_t i, const char *what)
{
    size_t n;
    const char *id = rec_str(c, i, false, &n, what);
    return id ? agency_intern(e, id, n) : 0;
}

/* As delivery_t keeps it: 1 + the reason, 0 for none. */
static uint8_t rec_reason(rec_t *c, uint32_t i)
{
    size_t n;
    const char *s = rec_str(c, i, true, &n, "delivery reason");
    int k = s ? MIZ_NAME_FIND(miz_copy_reason_names, s, n) : -1;
    if (k >= 0)
        return (uint8_t)(k + 1);
    if (s && !c->bad)
        c->bad = "delivery reason";
    return 0;
}

static delivery_t *record_decode_delivery(engine_t *e, request_t *r, rec_t *top, uint32_t i)
{
    rec_t c = rec_array(top, i, 0, "delivery");
    if (!c.bad && c.n != REC_DELIVERY_FIELDS && c.n != REC_DELIVERY_FIELDS - 1)
        c.bad = "delivery";
    if (c.bad) {
        top->bad = c.bad;
        return NULL;
    }
    delivery_t *d = delivery_alloc(r);
    d->id = rec_uint(&c, 0, UINT64_MAX, "delivery id");
    d->agency = rec_agency(e, &c, 1, "delivery agency");
    d->role = (uint8_t)rec_uint(&c, 2, MIZ_ROLE_BREACH, "delivery role");
    d->branch = (uint16_t)rec_uint(&c, 3, TABLE_MAX_CHAIN - 1, "delivery branch");
    d->level = (uint8_t)rec_uint(&c, 4, TABLE_MAX_CHAIN, "delivery level");
    d->state = (uint8_t)rec_uint(&c, 5, MIZ_DS_SUPERSEDED, "delivery state");
    d->attempts = (uint16_t)rec_uint(&c, 6, UINT16_MAX, "delivery attempts");
    d->overdue = rec_bool(&c, 7, "delivery overdue");
    d->escalated = rec_bool(&c, 8, "delivery escalated");
    d->from = rec_uint(&c, 9, UINT64_MAX, "delivery from");
    d->reason = rec_reason(&c, 10);
    d->created = rec_uint(&c, 11, UINT64_MAX, "delivery created");
    d->ack_by = rec_uint(&c, 12, UINT64_MAX, "delivery ack_by");
    d->answer_by = rec_uint(&c, 13, UINT64_MAX, "delivery answer_by");
    d->outcome = rec_dup(&c, 14, "delivery outcome");
    d->text = rec_dup(&c, 15, "delivery text");
    d->note = rec_dup(&c, 16, "delivery note");
    d->by = c.n == REC_DELIVERY_FIELDS ? rec_dup(&c, 18, "delivery by") : NULL;
    rec_t h = rec_array(&c, 17, 0, "delivery history");
    d->hist = xgrow(d->hist, &d->hist1, &d->cap_hist, h.n, sizeof *d->hist);
    d->n_hist = h.n;
    for (uint32_t k = 0; k < h.n && !c.bad; k++) {
        rec_t entry = rec_array(&h, k, 3, "history entry");
        d->hist[k] = (hist_t){rec_uint(&entry, 0, UINT64_MAX, "history time"),
                              (uint32_t)rec_uint(&entry, 1, UINT32_MAX, "history worker"),
                              (uint8_t)rec_uint(&entry, 2, MIZ_EV_COUNT - 1, "history event")};
        c.bad = c.bad ? c.bad : h.bad ? h.bad : entry.bad;
    }
    top->bad = c.bad;
    return d;
}

/* Rebuilds a request from its record, detached from every index, with its
 * payload or without (payload.c reads it again when needed). NULL with *why
 * set when the record does not decode or names what the table lacks. */
request_t *record_decode(engine_t *e, const void *data, size_t len, bool with_payload,
                         const char **why)
{
    msgpack_unpacked up;
    size_t off = 0;
    msgpack_unpacked_init(&up);
    *why = "not a msgpack record";
    if (msgpack_unpack_next(&up, data, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len ||
        up.data.type != MSGPACK_OBJECT_ARRAY) {
        msgpack_unpacked_destroy(&up);
        return NULL;
    }
    rec_t c = {up.data.via.array.ptr, up.data.via.array.size, NULL};
    if (c.n < REC_FIELDS - 2 || c.n > REC_FIELDS)
        c.bad = "request";
    size_t topic_len, kind_len, ref_len, submitter_len = 0;
    const char *submitter =
        c.n > 12 ? rec_str(&c, 12, true, &submitter_len, "submitter") : NULL;
    uint64_t outcome = c.n > 13 ? rec_uint(&c, 13, REC_OUTCOME_SETTLED, "outcome") : 0;
    const char *topic = rec_str(&c, 3, false, &topic_len, "topic");
    const char *kind = rec_str(&c, 4, false, &kind_len, "kind");
    const char *ref = rec_str(&c, 5, true, &ref_len, "client_ref");
    const msgpack_object *payload = rec_at(&c, REC_PAYLOAD, MSGPACK_OBJECT_BIN, "payload");
    const msgpack_object *client = rec_at(&c, 9, MSGPACK_OBJECT_BIN, "client id");
    rec_t obs = rec_array(&c, 10, 0, "observers");
    unsigned observers[TABLE_MAX_AGENCIES];
    for (uint32_t i = 0; i < obs.n && i < TABLE_MAX_AGENCIES; i++)
        observers[i] = rec_agency(e, &obs, i, "observer");
    c.bad = c.bad ? c.bad : obs.bad;
    rec_t dels = rec_array(&c, 11, 0, "deliveries");
    /* what a submission could carry, no more: the request keeps narrow lengths */
    if (c.bad || obs.n > TABLE_MAX_AGENCIES || payload->via.bin.size == 0 ||
        payload->via.bin.size > MIZ_PAYLOAD_MAX || client->via.bin.size == 0 ||
        client->via.bin.size > 255 || topic_len > MIZ_TOPIC_MAX) {
        *why = c.bad ? c.bad : "request";
        msgpack_unpacked_destroy(&up);
        return NULL;
    }
    request_t *r = request_new(&(request_fields_t){
        .topic = topic,
        .topic_len = topic_len,
        .kind = kind,
        .kind_len = kind_len,
        .ref = ref,
        .ref_len = ref_len,
        .payload = with_payload ? payload->via.bin.ptr : NULL,
        .payload_len = payload->via.bin.size,
        .client_id = client->via.bin.ptr,
        .client_id_len = client->via.bin.size,
        .observers = observers,
        .n_observers = obs.n,
        .submitter = submitter,
        .submitter_len = submitter_len,
    });
    r->tracking = rec_uint(&c, 0, UINT64_MAX, "tracking");
    r->created = rec_uint(&c, 1, UINT64_MAX, "created");
    r->closed = rec_uint(&c, 2, UINT64_MAX, "closed");
    r->prio = (priority_t)rec_uint(&c, 6, PRIO_COUNT - 1, "priority");
    r->settled = (uint32_t)rec_uint(&c, 7, UINT32_MAX, "settled");
    r->dels = xgrow(r->dels, &r->del1, &r->cap_dels, dels.n, sizeof *r->dels);
    for (uint32_t i = 0; i < dels.n && !c.bad; i++) {
        delivery_t *d = record_decode_delivery(e, r, &dels, i);
        if (d)
            r->dels[r->n_dels++] = d;
        c.bad = dels.bad;
    }
    r->ref_stored = ref != NULL;
    r->confirm = outcome != REC_NO_CONFIRM;
    r->outcome_pending = outcome == REC_OUTCOME_PENDING && r->closed;
    msgpack_unpacked_destroy(&up);
    if (c.bad) {
        *why = c.bad;
        request_drop(r);
        return NULL;
    }
    return r;
}

/* A record's payload, pointing into data, found without unpacking the
 * rest (a read per offered delivery). NULL, or what does not fit. */
const char *record_payload(const void *data, size_t len, const void **payload, size_t *n)
{
    return wire_array_bin(data, len, REC_PAYLOAD, payload, n) < 0 ? "payload" : NULL;
}

const char *engine_check_record(const void *rec, size_t len, uint64_t *tracking,
                                uint64_t *max_delivery, void *engine)
{
    const char *why;
    request_t *r = record_decode(engine, rec, len, false, &why);
    if (!r)
        return why;
    *tracking = r->tracking;
    *max_delivery = 0;
    for (uint32_t i = 0; i < r->n_dels; i++)
        if (r->dels[i]->id > *max_delivery)
            *max_delivery = r->dels[i]->id;
    request_drop(r);
    return NULL;
}
