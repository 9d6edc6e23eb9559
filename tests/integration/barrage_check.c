/* barrage_check: what the barrage's attackers may hear from mizd and what
 * they must: every message checked against the key's role (policy.h) and
 * what the test knows, and the errors policy_refusal foresees for their
 * unmutated messages (barrage.h). */
#include "barrage.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "policy.h"
#include "wire.h"

uint64_t code_count[MIZ_ERR_COUNT];
uint64_t cross_key_duplicates;

bool is_str(const msgpack_object *o, const char *s)
{
    size_t n = strlen(s);
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
           memcmp(o->via.str.ptr, s, n) == 0;
}

bool get_uint(const msgpack_object *map, const char *key, uint64_t *v)
{
    const msgpack_object *o = miz_map_get(map, key);
    if (!o || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return false;
    *v = o->via.u64;
    return true;
}

/* What a failure message shows of a broker message. */
static const char *show(const msgpack_object *root, char *buf, size_t len)
{
    const msgpack_object *t = miz_map_get(root, "type"), *c = miz_map_get(root, "code"),
                         *msg = miz_map_get(root, "message");
    snprintf(buf, len, "\"%.*s\"%s%.*s%s%.*s", t ? (int)t->via.str.size : 1,
             t ? t->via.str.ptr : "?", c && c->type == MSGPACK_OBJECT_STR ? " code " : "",
             c && c->type == MSGPACK_OBJECT_STR ? (int)c->via.str.size : 0,
             c && c->type == MSGPACK_OBJECT_STR ? c->via.str.ptr : "",
             msg && msg->type == MSGPACK_OBJECT_STR ? ": " : "",
             msg && msg->type == MSGPACK_OBJECT_STR ? (int)msg->via.str.size : 0,
             msg && msg->type == MSGPACK_OBJECT_STR ? msg->via.str.ptr : "");
    return buf;
}

#define violation(a, root, ...)                                                                    \
    do {                                                                                           \
        char shown_[700];                                                                          \
        char why_[256];                                                                            \
        snprintf(why_, sizeof why_, __VA_ARGS__);                                                  \
        it_fail("%s got %s: %s", (a)->name, show(root, shown_, sizeof shown_), why_);              \
    } while (0)

static void check_error(attacker_t *a, const msgpack_object *root)
{
    const msgpack_object *c = miz_map_get(root, "code"), *msg = miz_map_get(root, "message");
    if (!msg || msg->type != MSGPACK_OBJECT_STR || msg->via.str.size > MIZ_ERROR_TEXT_MAX)
        violation(a, root, "an error's message is a string of at most %d bytes",
                  MIZ_ERROR_TEXT_MAX);
    int code = policy_error(c);
    if (code < 0)
        violation(a, root, "not an error code of the contract");
    code_count[code]++;
}

/* What the rogue gateway may hear of a request: only of its own. */
static void check_own(attacker_t *a, const msgpack_object *root)
{
    uint64_t t = 0;
    if (!get_uint(root, "tracking", &t) || peek(&world.owner, t) != OWN_ROGUE)
        violation(a, root, "about tracking %" PRIu64 ", which this key did not submit (%s)", t,
                  peek(&world.owner, t) == OWN_GOOD ? "the good gateway did" : "not seen");
}

/* The key role of a flooder (its rules are policy.h's), or -1. */
static int key_role(const attacker_t *a)
{
    switch (a->role) {
    case R_GATEWAY: return MIZ_KEY_GATEWAY;
    case R_DASHBOARD: return MIZ_KEY_DASHBOARD;
    case R_POWER: case R_WATER: return MIZ_KEY_WORKER;
    default: return -1;
    }
}

/* One message from mizd to an attacker: which it may get, and what it
 * tells. Returns whether it is a direct reply (one per command). */
bool check_message(attacker_t *a, const msgpack_object *root)
{
    int type = policy_message(miz_map_get(root, "type"));
    int key = key_role(a);
    if (type == MIZ_MSG_ERROR)
        check_error(a, root);
    /* what the key's role lets it send decides what it may hear at all */
    if (key >= 0 && (type < 0 || !policy_may_get((miz_key_role_t)key, (miz_message_t)type)))
        violation(a, root, "a %s key may send nothing that brings it", miz_key_role_names[key]);
    switch (a->role) {
    case R_GATEWAY:
        switch (type) {
        case MIZ_MSG_ACCEPTED: {
            uint64_t t = 0;
            const msgpack_object *dup = miz_map_get(root, "duplicate");
            if (!get_uint(root, "tracking", &t) || t == 0)
                violation(a, root, "accepted without a tracking number");
            if (!dup) {
                if (peek(&world.owner, t) != OWN_NONE)
                    violation(a, root, "a new request with a tracking number already given");
                *at(&world.owner, t) = OWN_ROGUE;
            } else if (peek(&world.owner, t) == OWN_GOOD) {
                cross_key_duplicates++;
            }
            if (t > world.seen.max_tracking)
                world.seen.max_tracking = t;
            return true;
        }
        case MIZ_MSG_STATUS:
            check_own(a, root);
            return true;
        case MIZ_MSG_OUTCOME:
            check_own(a, root);
            return false;
        case MIZ_MSG_ERROR: case MIZ_MSG_PONG:
            return true;
        default:
            violation(a, root, "not for a gateway key");
        }
        break;
    case R_DASHBOARD:
        switch (type) {
        case MIZ_MSG_SNAPSHOT: {
            /* the stream's state leaves out what is personal */
            const msgpack_object *reqs = miz_map_get(root, "requests");
            for (uint32_t i = 0; reqs && reqs->type == MSGPACK_OBJECT_ARRAY &&
                                 i < reqs->via.array.size; i++)
                if (miz_map_get(&reqs->via.array.ptr[i], "client_ref"))
                    violation(a, root, "a client_ref in a snapshot");
            const msgpack_object *done = miz_map_get(root, "done");
            if (!done || done->type != MSGPACK_OBJECT_BOOLEAN)
                violation(a, root, "a snapshot part without done");
            return done->via.boolean; /* the last part is the reply */
        }
        case MIZ_MSG_ERROR: case MIZ_MSG_STATUS: case MIZ_MSG_PONG:
            return true;
        default:
            violation(a, root, "not for a dashboard key, which never submits");
        }
        break;
    case R_POWER:
    case R_WATER: {
        const char *mine = a->role == R_POWER ? "power" : "water";
        switch (type) {
        case MIZ_MSG_REGISTERED: {
            uint64_t serial = 0;
            if (!is_str(miz_map_get(root, "agency"), mine) || !get_uint(root, "worker", &serial))
                violation(a, root, "registered for an agency not the key's");
            if (a->role == R_WATER && ++a->registered > a->safe_registers)
                violation(a, root, "more registrations than unmutated registers sent");
            *at(&world.serials, serial) = SERIAL_ATTACKER;
            return true;
        }
        case MIZ_MSG_ERROR:
            return true;
        case MIZ_MSG_HEARTBEAT:
            return false;
        case MIZ_MSG_OK: { /* an ack or answer repeating what its agency did (protocol.md 3.11) */
            const msgpack_object *dup = miz_map_get(root, "duplicate");
            if (dup && dup->type == MSGPACK_OBJECT_BOOLEAN && dup->via.boolean)
                return true;
        }
            /* fall through */
        default:
            violation(a, root, "a worker that holds nothing gets no such message");
        }
        break;
    }
    case R_OVERSIZE:
        if (type == MIZ_MSG_ERROR || type == MIZ_MSG_PONG)
            return true;
        violation(a, root, "not a reply to a probe");
        break;
    default:
        violation(a, root, "this peer must get nothing");
    }
    return false;
}

/* A reply to seq: an error (code), or not (-1). */
void refusal_heard(attacker_t *a, uint64_t seq, int code)
{
    for (uint64_t i = a->n_checked; code >= 0 && i < a->n_foreseen; i++) {
        foreseen_t *e = &a->foreseen[i % FORESEEN];
        if (e->seq == seq && e->code == code)
            e->got = true;
    }
}

/* Every message before the confirmed marker has had its reply: each
 * foreseen refusal among them came. */
void refusals_check(attacker_t *a)
{
    for (; a->n_checked < a->n_foreseen; a->n_checked++) {
        const foreseen_t *e = &a->foreseen[a->n_checked % FORESEEN];
        if (e->message >= a->confirmed)
            break;
        if (!e->got)
            it_fail("%s: no \"%s\" error for its unmutated message of seq %" PRIu64, a->name,
                    miz_error_names[e->code], e->seq);
    }
}

/* The error policy_refusal foresees for the unmutated message in f. */
void foresee_refusal(attacker_t *a, const frame_t *f)
{
    int key = key_role(a);
    if (key < 0)
        return;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    if (msgpack_unpack_next(&u, f->sb.data, f->sb.size, &off) != MSGPACK_UNPACK_SUCCESS ||
        u.data.type != MSGPACK_OBJECT_MAP)
        it_fail("%s: an unmutated message that is not a map", a->name);
    a->refusal = policy_refusal((miz_key_role_t)key,
                                a->workers ? MIZ_SOCKET_WORKERS : MIZ_SOCKET_CLIENTS, &u.data);
    msgpack_unpacked_destroy(&u);
}

/* After a message with a foreseen refusal went. */
void remember_refusal(attacker_t *a)
{
    if (a->refusal < 0)
        return;
    if (a->n_foreseen - a->n_checked == FORESEEN)
        it_fail("%s: %d foreseen refusals unchecked", a->name, FORESEEN);
    a->foreseen[a->n_foreseen++ % FORESEEN] =
        (foreseen_t){.seq = a->seq, .message = a->messages - 1, .code = a->refusal};
}

