/* requests: GET requests/{id} and GET requests?service_request_id=..,
 * a miz request's status as Open311's service request. Each id is a
 * `status` command to mizd, all of a query's sent at once; the reply goes
 * when the last has answered. The mapping (docs/open311.md):
 * status_notes are the agencies' answers once closed, their latest
 * progress notes while open; agency_responsible names the agencies that
 * must answer (targets and escalations); expected_datetime is the latest
 * of their answer deadlines, computed by mizd in its working calendars. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "o311_int.h"
#include "proto.h"

#define REQUESTS_QUERY_MAX 50 /* ids in one GET requests */

typedef struct batch batch_t;

typedef struct {
    batch_t *b;
    size_t i;
} slot_t;

struct batch {
    o311_t *g;
    struct evhttp_request *req;
    doc_format_t f;
    bool single;  /* requests/{id}: an unknown id is 404, not left out */
    bool sending; /* the commands are being sent: replies wait for the last */
    size_t n, waiting;
    bool failed;      /* a reply did not come, or a command could not be sent... */
    const char *why;  /* ...and then why not */
    uint64_t ids[REQUESTS_QUERY_MAX];
    miz_msg_t *replies[REQUESTS_QUERY_MAX];
    slot_t slots[REQUESTS_QUERY_MAX];
};

/* ---- a status as a service request ---- */

static uint64_t requests_uint(const msgpack_object *map, const char *key)
{
    const msgpack_object *v = miz_map_typed(map, key, MSGPACK_OBJECT_POSITIVE_INTEGER);
    return v ? v->via.u64 : 0;
}

static void requests_payload_str(doc_t *d, const char *key, const msgpack_object *payload,
                                 const char *field)
{
    const msgpack_object *v = miz_map_typed(payload, field, MSGPACK_OBJECT_STR);
    doc_str(d, key, v ? v->via.str.ptr : NULL, v ? v->via.str.size : 0);
}

static void requests_payload_num(doc_t *d, const char *key, const msgpack_object *payload,
                                 const char *field)
{
    const msgpack_object *v = miz_map_typed(payload, field, MSGPACK_OBJECT_FLOAT64);
    if (v)
        doc_num(d, key, v->via.f64);
    else
        doc_str(d, key, NULL, 0);
}

/* Whether a delivery was refused: its note is then the refusal's reason,
 * which may be a failed command's output, for the agency's eyes only. */
static bool requests_refused(const msgpack_object *delivery)
{
    const msgpack_object *state = miz_map_typed(delivery, "state", MSGPACK_OBJECT_STR);
    return state && MIZ_NAME_FIND(miz_state_names, state->via.str.ptr, state->via.str.size) ==
                        MIZ_DS_REFUSED;
}

/* Whether a delivery is one an agency must answer: a target or an escalation. */
static bool requests_answerable(const msgpack_object *delivery)
{
    const msgpack_object *role = miz_map_typed(delivery, "role", MSGPACK_OBJECT_STR);
    int r = role ? MIZ_NAME_FIND(miz_role_names, role->via.str.ptr, role->via.str.size) : -1;
    return r == MIZ_ROLE_TARGET || r == MIZ_ROLE_ESCALATION;
}

/* What of a delivery a string of the reply is made of. */
typedef const msgpack_object *requests_pick_fn(const msgpack_object *delivery);

/* What a citizen may read of a delivery: its answer's text, else its latest
 * progress note (a refused delivery's note is the refusal's reason). */
static const msgpack_object *requests_notes(const msgpack_object *delivery)
{
    const msgpack_object *text = miz_map_typed(delivery, "text", MSGPACK_OBJECT_STR);
    return text || requests_refused(delivery) ? text
                                              : miz_map_typed(delivery, "note", MSGPACK_OBJECT_STR);
}

static const msgpack_object *requests_agency(const msgpack_object *delivery)
{
    return miz_map_typed(delivery, "agency", MSGPACK_OBJECT_STR);
}

/* Joins, with sep into out, what pick finds in every answerable delivery,
 * each value once; agencies by their names in the gateway's language. */
static void requests_join(const o311_t *g, const msgpack_object *deliveries,
                          requests_pick_fn *pick, const char *sep, FILE *out)
{
    size_t written = 0;
    for (uint32_t i = 0; deliveries && i < deliveries->via.array.size; i++) {
        const msgpack_object *dl = &deliveries->via.array.ptr[i], *prev;
        const msgpack_object *v = pick(dl);
        if (!v || !requests_answerable(dl))
            continue;
        bool again = false;
        for (uint32_t j = 0; j < i && !again; j++) {
            prev = pick(&deliveries->via.array.ptr[j]);
            again = prev && requests_answerable(&deliveries->via.array.ptr[j]) &&
                    prev->via.str.size == v->via.str.size &&
                    memcmp(prev->via.str.ptr, v->via.str.ptr, v->via.str.size) == 0;
        }
        if (again)
            continue;
        fputs(written++ ? sep : "", out);
        int a = pick == requests_agency
                    ? table_agency_find(g->table, v->via.str.ptr, v->via.str.size)
                    : -1;
        const agency_t *ag = a >= 0 ? table_agency(g->table, (size_t)a) : NULL;
        const char *name = ag ? (g->english ? ag->name_en : ag->name_fa) : NULL;
        if (name && *name)
            fputs(name, out);
        else
            fwrite(v->via.str.ptr, 1, v->via.str.size, out);
    }
}

/* The latest time anything happened to the request, and the latest answer deadline. */
static void requests_times(const msgpack_object *deliveries, uint64_t *updated, uint64_t *expected)
{
    for (uint32_t i = 0; deliveries && i < deliveries->via.array.size; i++) {
        const msgpack_object *dl = &deliveries->via.array.ptr[i];
        const msgpack_object *h = miz_map_typed(dl, "history", MSGPACK_OBJECT_ARRAY);
        for (uint32_t j = 0; h && j < h->via.array.size; j++) {
            uint64_t at = requests_uint(&h->via.array.ptr[j], "at");
            *updated = at > *updated ? at : *updated;
        }
        uint64_t by = requests_answerable(dl) ? requests_uint(dl, "answer_by") : 0;
        *expected = by > *expected ? by : *expected;
    }
}

static void requests_write_one(const o311_t *g, doc_t *d, const msgpack_object *st)
{
    const msgpack_object *deliveries = miz_map_typed(st, "deliveries", MSGPACK_OBJECT_ARRAY);
    const msgpack_object *payload = miz_map_get(st, "payload");
    const msgpack_object *topic = miz_map_typed(st, "topic", MSGPACK_OBJECT_STR);
    const msgpack_object *state = miz_map_typed(st, "state", MSGPACK_OBJECT_STR);
    bool closed = state && MIZ_NAME_FIND(miz_request_state_names, state->via.str.ptr,
                                         state->via.str.size) == MIZ_RS_CLOSED;
    uint64_t created = requests_uint(st, "created"), updated = requests_uint(st, "closed");
    uint64_t expected = 0;
    char id[24], *notes = NULL, *agencies = NULL;
    size_t notes_len = 0, agencies_len = 0;
    FILE *out = open_memstream(&notes, &notes_len);
    if (out) {
        requests_join(g, deliveries, requests_notes, "\n", out);
        fclose(out);
    }
    if ((out = open_memstream(&agencies, &agencies_len))) {
        requests_join(g, deliveries, requests_agency, g->english ? ", " : "، ", out);
        fclose(out);
    }
    requests_times(deliveries, &updated, &expected);
    updated = updated > created ? updated : created;
    snprintf(id, sizeof id, "%" PRIu64, requests_uint(st, "tracking"));
    const char *name = topic ? services_name(g, topic->via.str.ptr, topic->via.str.size) : NULL;
    doc_begin(d);
    doc_cstr(d, "service_request_id", id);
    doc_cstr(d, "status", closed ? "closed" : "open");
    doc_str(d, "status_notes", notes_len ? notes : NULL, notes_len);
    if (name)
        doc_cstr(d, "service_name", name);
    else
        doc_str(d, "service_name", topic ? topic->via.str.ptr : NULL, topic ? topic->via.str.size : 0);
    doc_str(d, "service_code", topic ? topic->via.str.ptr : NULL, topic ? topic->via.str.size : 0);
    requests_payload_str(d, "description", payload, "text");
    doc_str(d, "agency_responsible", agencies_len ? agencies : NULL, agencies_len);
    doc_str(d, "service_notice", NULL, 0);
    doc_time(d, "requested_datetime", created);
    doc_time(d, "updated_datetime", updated);
    doc_time(d, "expected_datetime", closed ? 0 : expected);
    requests_payload_str(d, "address", payload, "place");
    requests_payload_str(d, "address_id", payload, "address_id");
    doc_str(d, "zipcode", NULL, 0);
    requests_payload_num(d, "lat", payload, "lat");
    requests_payload_num(d, "long", payload, "long");
    requests_payload_str(d, "media_url", payload, "media_url");
    doc_end(d);
    free(notes);
    free(agencies);
}

/* ---- the batch of status commands ---- */

static bool requests_is_error(miz_msg_t *m, miz_error_t code)
{
    size_t n;
    const char *c = miz_msg_str(m, "code", &n);
    return miz_msg_is(m, miz_message_names[MIZ_MSG_ERROR]) && c &&
           MIZ_NAME_FIND(miz_error_names, c, n) == (int)code;
}

/* Not there for this gateway: never issued, purged, or another key's. */
static bool requests_absent(miz_msg_t *m)
{
    return requests_is_error(m, MIZ_ERR_UNKNOWN_TRACKING) || requests_is_error(m, MIZ_ERR_FORBIDDEN);
}

static void batch_finish(batch_t *b)
{
    miz_msg_t *bad = NULL;
    for (size_t i = 0; i < b->n && !bad; i++)
        if (b->replies[i] && !miz_msg_is(b->replies[i], miz_message_names[MIZ_MSG_STATUS]) &&
            !(requests_absent(b->replies[i]) && !b->single))
            bad = b->replies[i];
    if (b->why) {
        http_reply_error(b->req, b->f, 503, "%s", b->why);
    } else if (b->failed) {
        http_reply_error(b->req, b->f, 503, "the broker did not answer within %d ms: ask again",
                         b->g->broker_timeout_ms);
    } else if (bad && requests_absent(bad)) {
        http_reply_error(b->req, b->f, 404, "no service request %" PRIu64 " here", b->ids[0]);
    } else if (bad) {
        requests_reply_broker_error(b->req, b->f, bad);
    } else {
        doc_t *d = doc_new(b->f, "service_requests", "request");
        for (size_t i = 0; d && i < b->n; i++)
            if (miz_msg_is(b->replies[i], miz_message_names[MIZ_MSG_STATUS]))
                requests_write_one(b->g, d, miz_msg_root(b->replies[i]));
        http_reply_doc(b->req, 200, d, b->f);
    }
    for (size_t i = 0; i < b->n; i++)
        miz_msg_destroy(&b->replies[i]);
    free(b);
}

static void batch_reply(void *arg, miz_msg_t *reply)
{
    slot_t *s = arg;
    batch_t *b = s->b;
    b->replies[s->i] = reply;
    b->failed |= !reply;
    if (--b->waiting == 0 && !b->sending)
        batch_finish(b);
}

static void batch_send(batch_t *b)
{
    b->waiting = b->n;
    b->sending = true;
    for (size_t i = 0; i < b->n; i++) {
        b->slots[i] = (slot_t){b, i};
        if (link_status(b->g->link, b->ids[i], batch_reply, &b->slots[i]) < 0) {
            b->failed = true;
            b->why = errno == EBUSY ? "too many requests under way: ask again in a moment"
                                    : "the broker cannot be reached now: ask again";
            b->waiting -= b->n - i;
            break;
        }
    }
    b->sending = false;
    if (b->waiting == 0)
        batch_finish(b);
}

/* A service_request_id: 1 to 20 digits, not 0, within 64 bits. */
static bool requests_id(const char *s, size_t n, uint64_t *id)
{
    *id = 0;
    if (n == 0 || n > 20)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || *id > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
            return false;
        *id = *id * 10 + (uint64_t)(s[i] - '0');
    }
    return *id > 0;
}

static batch_t *batch_new(o311_t *g, struct evhttp_request *req, doc_format_t f, bool single)
{
    batch_t *b = calloc(1, sizeof *b);
    if (b)
        *b = (batch_t){.g = g, .req = req, .f = f, .single = single};
    else
        http_reply_error(req, f, 500, "out of memory");
    return b;
}

void requests_get(o311_t *g, struct evhttp_request *req, doc_format_t f, const char *id)
{
    uint64_t tracking;
    if (!requests_id(id, strlen(id), &tracking)) {
        http_reply_error(req, f, 404, "no service request %.24s here", id);
        return;
    }
    batch_t *b = batch_new(g, req, f, true);
    if (b) {
        b->ids[b->n++] = tracking;
        batch_send(b);
    }
}

void requests_query(o311_t *g, struct evhttp_request *req, doc_format_t f, const form_t *query)
{
    size_t len = 0;
    const char *ids = form_get(query, "service_request_id", &len);
    batch_t *b = NULL;
    if (!ids)
        http_reply_error(req, f, 400, "give service_request_id, a comma-separated list of at most "
                         "%d: this server does not search requests by date or status",
                         REQUESTS_QUERY_MAX);
    else
        b = batch_new(g, req, f, false);
    for (size_t at = 0; b && at <= len;) {
        size_t n = strcspn(ids + at, ",");
        if (b->n == REQUESTS_QUERY_MAX || !requests_id(ids + at, n, &b->ids[b->n++])) {
            http_reply_error(req, f, 400, "service_request_id must be a comma-separated list of "
                             "at most %d request ids", REQUESTS_QUERY_MAX);
            free(b);
            b = NULL;
        }
        at += n + 1;
    }
    if (b)
        batch_send(b);
}
