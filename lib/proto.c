/* proto: the tables behind proto.h's lists.
 *
 * The X-macro lists expand here into the name tables and the command and
 * field tables, so each name and each field's limit exists once in the
 * binary too. A command's fields are the rows of MIZ_FIELDS that name it,
 * in the order of the rows. */
#include "proto.h"

#include <string.h>

#define NAME(id, name) name,
const char *const miz_error_names[MIZ_ERR_COUNT] = {MIZ_ERRORS(NAME)};
const char *const miz_event_names[MIZ_EV_COUNT] = {MIZ_EVENTS(NAME)};
const char *const miz_state_names[MIZ_DS_COUNT] = {MIZ_STATES(NAME)};
const char *const miz_request_state_names[MIZ_RS_COUNT] = {MIZ_REQUEST_STATES(NAME)};
const char *const miz_role_names[MIZ_ROLE_COUNT] = {MIZ_ROLES(NAME)};
const char *const miz_priority_names[MIZ_PRIO_COUNT] = {MIZ_PRIORITIES(NAME)};
const char *const miz_key_role_names[MIZ_KEY_ROLE_COUNT] = {MIZ_KEY_ROLES(NAME)};
const char *const miz_copy_reason_names[MIZ_COPY_COUNT] = {MIZ_COPY_REASONS(NAME)};
const char *const miz_cancel_reason_names[MIZ_CANCEL_COUNT] = {MIZ_CANCEL_REASONS(NAME)};
const char *const miz_stream_topic_names[MIZ_STREAM_TOPIC_COUNT] = {MIZ_STREAM_TOPICS(NAME)};
#undef NAME

int miz_name_find(const char *const *names, size_t count, const char *s, size_t n)
{
    for (size_t i = 0; i < count; i++)
        if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0)
            return (int)i;
    return -1;
}

const miz_field_info_t miz_fields[MIZ_F_COUNT] = {
#define X(cmd, id, key, type, required, max) {MIZ_CMD_##cmd, key, MIZ_FT_##type, required, max},
    MIZ_FIELDS(X)
#undef X
};

const miz_command_info_t miz_commands[MIZ_CMD_COUNT] = {
#define X(id, type, socket, roles, flags, verb) {type, MIZ_SOCKET_##socket, roles, flags, verb},
    MIZ_COMMANDS(X)
#undef X
};

const char *const miz_message_names[MIZ_MSG_COUNT] = {
#define X(id, type, promise) type,
    MIZ_MESSAGES(X)
#undef X
};

const bool miz_message_promise[MIZ_MSG_COUNT] = {
#define X(id, type, promise) promise,
    MIZ_MESSAGES(X)
#undef X
};

int miz_command_find(miz_socket_t socket, const char *type, size_t n)
{
    for (int c = 0; c < MIZ_CMD_COUNT; c++)
        if (miz_commands[c].socket == socket && strlen(miz_commands[c].type) == n &&
            memcmp(miz_commands[c].type, type, n) == 0)
            return c;
    return -1;
}

int miz_field_find(miz_command_t c, const char *key)
{
    for (int f = 0; f < MIZ_F_COUNT; f++)
        if (miz_fields[f].command == c && strcmp(miz_fields[f].key, key) == 0)
            return f;
    return -1;
}
