/* policy: the contract's roles as an oracle (policy.h). */
#include "policy.h"

#include "wire.h"

bool policy_may_send(miz_key_role_t key, miz_command_t c)
{
    unsigned roles = miz_commands[c].roles;
    return roles == MIZ_ANY_KEY || (roles & (1u << key));
}

/* What mizd sends a peer because of each command (protocol.md section 3):
 * its reply, and what it sends later because of it. */
static bool brings(miz_command_t c, miz_message_t m)
{
    switch (c) {
    case MIZ_CMD_SUBMIT:
        return m == MIZ_MSG_ACCEPTED || m == MIZ_MSG_OUTCOME;
    case MIZ_CMD_STATUS:
        return m == MIZ_MSG_STATUS;
    case MIZ_CMD_SNAPSHOT:
        return m == MIZ_MSG_SNAPSHOT;
    case MIZ_CMD_PING:
        return m == MIZ_MSG_PONG;
    case MIZ_CMD_REGISTER: /* a worker is sent work, heartbeats, a bye at the end */
        return m == MIZ_MSG_REGISTERED || m == MIZ_MSG_DELIVER || m == MIZ_MSG_CANCEL ||
               m == MIZ_MSG_HEARTBEAT || m == MIZ_MSG_BYE;
    case MIZ_CMD_ACK: case MIZ_CMD_ANSWER: case MIZ_CMD_PROGRESS: case MIZ_CMD_REFUSE:
        return m == MIZ_MSG_OK;
    default: /* heartbeat and bye are not answered */
        return false;
    }
}

bool policy_may_get(miz_key_role_t key, miz_message_t m)
{
    if (m == MIZ_MSG_ERROR)
        return true;
    for (int c = 0; c < MIZ_CMD_COUNT; c++)
        if (policy_may_send(key, (miz_command_t)c) && brings((miz_command_t)c, m))
            return true;
    return false;
}

static int find(const char *const *names, size_t count, const msgpack_object *o)
{
    if (!o || o->type != MSGPACK_OBJECT_STR)
        return -1;
    return miz_name_find(names, count, o->via.str.ptr, o->via.str.size);
}

int policy_error(const msgpack_object *o)
{
    return find(miz_error_names, MIZ_ERR_COUNT, o);
}

int policy_message(const msgpack_object *o)
{
    return find(miz_message_names, MIZ_MSG_COUNT, o);
}

/* A string field's error: absent when required, not a string, too long. */
static int check_str(const msgpack_object *o, bool required, size_t max)
{
    if (!o)
        return required ? MIZ_ERR_BAD_FIELD : -1;
    if (o->type != MSGPACK_OBJECT_STR)
        return MIZ_ERR_BAD_FIELD;
    return max && o->via.str.size > max ? MIZ_ERR_TOO_LARGE : -1;
}

/* The first error of c's typed fields (STR, UINT, BOOL, DELIVERY), in the
 * order of proto.h's rows; ANY and ARRAY are the handler's. */
static int check_fields(miz_command_t c, const msgpack_object *m)
{
    for (int f = 0; f < MIZ_F_COUNT; f++) {
        const miz_field_info_t *fi = &miz_fields[f];
        if (fi->command != c)
            continue;
        const msgpack_object *o = wire_obj_get(m, fi->key);
        int e = -1;
        switch (fi->type) {
        case MIZ_FT_STR:
            e = check_str(o, fi->required, fi->max);
            break;
        case MIZ_FT_UINT: case MIZ_FT_DELIVERY:
            e = o ? (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? -1 : MIZ_ERR_BAD_FIELD)
                  : (fi->required ? MIZ_ERR_BAD_FIELD : -1);
            break;
        case MIZ_FT_BOOL:
            e = o && o->type != MSGPACK_OBJECT_BOOLEAN ? MIZ_ERR_BAD_FIELD : -1;
            break;
        case MIZ_FT_ANY: case MIZ_FT_ARRAY:
            break;
        }
        if (e >= 0)
            return e;
    }
    return -1;
}

int policy_refusal(miz_key_role_t key, miz_socket_t socket, const msgpack_object *m)
{
    const msgpack_object *type = wire_obj_get(m, "type"), *v = wire_obj_get(m, "v");
    int e = check_str(type, true, MIZ_TYPE_MAX);
    if (e >= 0)
        return e;
    if (v && v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return MIZ_ERR_BAD_FIELD;
    if (v && v->via.u64 != MIZ_PROTOCOL_VERSION)
        return MIZ_ERR_VERSION;
    int c = miz_command_find(socket, type->via.str.ptr, type->via.str.size);
    if (c < 0)
        return MIZ_ERR_UNKNOWN_TYPE;
    const miz_command_info_t *ci = &miz_commands[c];
    if (ci->flags & MIZ_CMD_REGISTERED)
        return -1;
    if (ci->flags & MIZ_CMD_FIELDS_FIRST) {
        e = check_fields((miz_command_t)c, m);
        if (e >= 0)
            return e;
    }
    if (!policy_may_send(key, (miz_command_t)c))
        return MIZ_ERR_FORBIDDEN;
    return ci->flags & MIZ_CMD_RATED ? -1 : check_fields((miz_command_t)c, m);
}
