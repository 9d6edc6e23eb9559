/* command: one message from a peer, checked against the command table.
 *
 * proto.h describes every command once: the socket it is read on, the key
 * roles that may send it, whether it needs a registration or counts against
 * the rate limit, and its fields with their types and limits. This file
 * runs those checks, in the order protocol.md section 2 gives, before a
 * handler sees the message, and hands the handler the fields it read (and
 * the delivery a worker command names, found and known to be held). A
 * handler checks only what the table cannot say: values, syntax, state. */
#include "engine_int.h"

#include <string.h>

typedef void (*command_fn)(engine_t *e, const command_args_t *a);

static const command_fn command_handlers[MIZ_CMD_COUNT] = {
    [MIZ_CMD_SUBMIT] = cmd_submit,       [MIZ_CMD_STATUS] = cmd_status,
    [MIZ_CMD_SNAPSHOT] = cmd_snapshot,   [MIZ_CMD_PING] = cmd_ping,
    [MIZ_CMD_CONFIRM] = cmd_confirm,
    [MIZ_CMD_REGISTER] = cmd_register,   [MIZ_CMD_ACK] = cmd_ack,
    [MIZ_CMD_ANSWER] = cmd_answer,       [MIZ_CMD_PROGRESS] = cmd_progress,
    [MIZ_CMD_REFUSE] = cmd_refuse,       [MIZ_CMD_RELEASE] = cmd_release,
    [MIZ_CMD_CREDIT] = cmd_credit,       [MIZ_CMD_HEARTBEAT] = cmd_heartbeat,
    [MIZ_CMD_BYE] = cmd_bye,
};

/* Reads a string field into v; on failure replies with an error naming it. */
static bool command_str_or_reply(engine_t *e, const wire_msg_t *m, const char *key,
                                 bool required, size_t max, field_value_t *v)
{
    wire_status_t st = wire_str(m, key, &v->s, &v->n, max);
    v->present = st == WIRE_OK;
    if (st == WIRE_OK || (st == WIRE_ABSENT && !required)) {
        if (st == WIRE_ABSENT)
            v->s = NULL, v->n = 0;
        return true;
    }
    if (st == WIRE_ABSENT)
        reply_error(e, MIZ_ERR_BAD_FIELD, 0, "\"%s\" is required", key);
    else if (st == WIRE_TOO_LONG)
        reply_error(e, MIZ_ERR_TOO_LARGE, 0, "\"%s\" is longer than %zu bytes", key, max);
    else
        reply_error(e, wire_status_error(st), 0, "\"%s\" must be a string", key);
    return false;
}

static bool command_uint_or_reply(engine_t *e, const wire_msg_t *m, const char *key,
                                  bool required, field_value_t *v)
{
    wire_status_t st = wire_uint(m, key, &v->u);
    v->present = st == WIRE_OK;
    if (st == WIRE_OK || (st == WIRE_ABSENT && !required))
        return true;
    reply_error(e, MIZ_ERR_BAD_FIELD, 0, "\"%s\" %s", key,
                st == WIRE_ABSENT ? "is required" : "must be a non-negative integer");
    return false;
}

/* An optional boolean: absent leaves v->b as it was. */
static bool command_bool_or_reply(engine_t *e, const wire_msg_t *m, const char *key,
                                  field_value_t *v)
{
    wire_status_t st = wire_bool(m, key, &v->b);
    v->present = st == WIRE_OK;
    if (st == WIRE_OK || st == WIRE_ABSENT)
        return true;
    reply_error(e, MIZ_ERR_BAD_FIELD, 0, "\"%s\" must be true or false", key);
    return false;
}

/* The delivery with that id in the request read back from the store for
 * the command's optional tracking (a repeat after the request left memory). */
static delivery_t *command_stored_delivery(engine_t *e, miz_command_t c, command_args_t *a,
                                           uint64_t id)
{
    int f = miz_field_find(c, "tracking");
    const field_value_t *tracking = f >= 0 ? &a->f[f] : NULL;
    if (!e->store || !tracking || !tracking->present ||
        recovery_load(e, tracking->u, &a->stored) <= 0)
        return NULL;
    for (uint32_t i = 0; i < a->stored->n_dels; i++)
        if (a->stored->dels[i]->id == id)
            return a->stored->dels[i];
    return NULL;
}

/* The delivery a worker command names, if that worker holds it; or, for a
 * repeatable command, one its agency has finished, for the handler to tell
 * a repeat from a conflict. */
static bool command_delivery_or_reply(engine_t *e, miz_command_t c, command_args_t *a,
                                      uint64_t id)
{
    bool repeatable = miz_commands[c].flags & MIZ_CMD_REPEATABLE;
    delivery_t *d = idmap_get(e->deliveries, &id, sizeof id);
    if (!d && repeatable)
        d = command_stored_delivery(e, c, a, id);
    if (!d) {
        reply_error(e, MIZ_ERR_UNKNOWN_DELIVERY, id, "no delivery %llu", (unsigned long long)id);
        return false;
    }
    if (d->holder == e->peer.worker && delivery_is_open(d)) {
        a->held = d;
        return true;
    }
    if (repeatable && !delivery_is_open(d) && d->agency == e->peer.worker->agency) {
        a->finished = d;
        return true;
    }
    reply_error(e, MIZ_ERR_NOT_HELD, id, "delivery %llu is %s and not held by this worker",
                (unsigned long long)id, miz_state_names[d->state]);
    return false;
}

/* The command's STR, UINT, BOOL and DELIVERY fields, in the table's order. */
static bool command_fields_or_reply(engine_t *e, miz_command_t c, command_args_t *a)
{
    for (int i = 0; i < MIZ_F_COUNT; i++) {
        const miz_field_info_t *f = &miz_fields[i];
        if (f->command != c)
            continue;
        field_value_t *v = &a->f[i];
        *v = (field_value_t){0};
        bool ok = true;
        switch (f->type) {
        case MIZ_FT_STR:
            ok = command_str_or_reply(e, a->msg, f->key, f->required, f->max, v);
            break;
        case MIZ_FT_UINT:
            ok = command_uint_or_reply(e, a->msg, f->key, f->required, v);
            break;
        case MIZ_FT_BOOL:
            ok = command_bool_or_reply(e, a->msg, f->key, v);
            break;
        case MIZ_FT_DELIVERY:
            ok = command_uint_or_reply(e, a->msg, f->key, true, v) &&
                 command_delivery_or_reply(e, c, a, v->u);
            break;
        case MIZ_FT_ANY:
        case MIZ_FT_ARRAY: /* the handler's, where protocol.md places them */
            break;
        }
        if (!ok)
            return false;
    }
    return true;
}

/* Under CURVE, whether the peer's key has one of the command's roles; if
 * not, "forbidden" and a log line naming the key. */
static bool command_permitted_or_reply(engine_t *e, miz_command_t c)
{
    const miz_command_info_t *info = &miz_commands[c];
    const principal_t *p = e->peer.principal;
    if (!e->peer.secure || !info->roles || (p && (info->roles & (1u << p->role))))
        return true;
    LOG_PEER(e, &e->forbidden_lines, "forbidden: %s, by key %s", info->verb,
             p ? p->name : "no longer known");
    reply_error(e, MIZ_ERR_FORBIDDEN, 0, "this key may not %s", info->verb);
    return false;
}

/* Runs the checks of c in its order, then its handler. */
static void command_run(engine_t *e, miz_command_t c, command_args_t *a)
{
    const miz_command_info_t *info = &miz_commands[c];
    if (info->flags & MIZ_CMD_REGISTERED && !e->peer.worker) {
        reply_error(e, MIZ_ERR_NOT_REGISTERED, 0, "register before \"%s\"", info->type);
        return;
    }
    bool fields_first = info->flags & MIZ_CMD_FIELDS_FIRST;
    if (fields_first && !command_fields_or_reply(e, c, a))
        return;
    if (!command_permitted_or_reply(e, c))
        return;
    if (info->flags & MIZ_CMD_RATED && !peer_within_rate_or_reply(e))
        return;
    if (!fields_first && !command_fields_or_reply(e, c, a))
        return;
    command_handlers[c](e, a);
}

/* A repeat of what was done to a finished delivery gets ok with duplicate;
 * anything else, not_held (the delivery is not this worker's to change). */
void command_repeat_or_reply(engine_t *e, const delivery_t *d, bool same)
{
    if (same)
        reply_ok(e, d->id, true);
    else
        reply_error(e, MIZ_ERR_NOT_HELD, d->id, "delivery %llu is %s and not held by this worker",
                    (unsigned long long)d->id, miz_state_names[d->state]);
}

void command_dispatch(engine_t *e, const void *data, size_t size)
{
    char why[256];
    wire_status_t st;
    /* in place: the frame outlives its turn's handling */
    wire_msg_t *m = wire_parse_in(data, size, &e->zone, &st, why, sizeof why);
    if (!m) {
        msgpack_zone_clear(&e->zone);
        reply_error(e, wire_status_error(st), 0, "%s", why);
        return;
    }
    field_value_t type = {0}, version = {.u = MIZ_PROTOCOL_VERSION};
    if (wire_uint(m, "seq", &e->peer.seq) == WIRE_OK)
        e->peer.has_seq = true;
    if (e->peer.secure && !e->peer.principal) { /* revoked by a reload since it connected */
        LOG_PEER(e, &e->forbidden_lines, "forbidden: a message with a key no longer known");
        reply_error(e, MIZ_ERR_FORBIDDEN, 0, "this key is no longer known to mizd");
    } else if (command_str_or_reply(e, m, "type", true, MIZ_TYPE_MAX, &type) &&
               command_uint_or_reply(e, m, "v", false, &version)) {
        miz_socket_t socket =
            e->peer.socket == ENGINE_WORKERS ? MIZ_SOCKET_WORKERS : MIZ_SOCKET_CLIENTS;
        int c = miz_command_find(socket, type.s, type.n);
        char q[WIRE_QUOTE_SIZE];
        if (version.u != MIZ_PROTOCOL_VERSION) {
            reply_error(e, MIZ_ERR_VERSION, 0,
                        "protocol version %llu is not spoken here (this is %d)",
                        (unsigned long long)version.u, MIZ_PROTOCOL_VERSION);
        } else if (c < 0) {
            reply_error(e, MIZ_ERR_UNKNOWN_TYPE, 0, "unknown message type \"%s\"",
                        wire_quote(type.s, type.n, q));
        } else {
            field_value_t fields[MIZ_F_COUNT];
            command_args_t a = {.msg = m, .f = fields};
            command_run(e, (miz_command_t)c, &a);
            request_drop(a.stored);
            /* heartbeats never end, so a stop does not wait them out */
            if (!(miz_commands[c].flags & MIZ_CMD_IDLE))
                e->last_work = e->now;
        }
    }
    msgpack_zone_clear(&e->zone);
}

void engine_receive(engine_t *e, engine_socket_t from, const void *rid, size_t rid_len,
                    bool secure, const principal_t *principal, const void *body, size_t len)
{
    if (e->deposed) /* another mizd serves: this one must not even change its memory */
        return;
    e->peer = (peer_t){.socket = from, .rid = rid, .rid_len = rid_len, .secure = secure,
                       .principal = principal};
    if (from == ENGINE_WORKERS) {
        worker_t *w = idmap_get(e->worker_map, rid, rid_len);
        /* a registration belongs to its key, not only to its routing id */
        if (w && secure && (!principal || strcmp(w->key, principal->key) != 0))
            w = NULL;
        if (w)
            w->last_recv = e->now;
        e->peer.worker = w;
    } else {
        if (principal)
            peer_client_seen(e);
        outcomes_resend(e); /* a gateway that speaks is back */
    }
    if (body)
        command_dispatch(e, body, len);
    else
        reply_error(e, MIZ_ERR_MALFORMED, 0, "a message is exactly one frame after the routing id");
}

bool command_table_complete(void)
{
    for (int c = 0; c < MIZ_CMD_COUNT; c++)
        if (!command_handlers[c])
            return false;
    return true;
}
