/* policy: what the contract lets a key send and hear, from lib/proto.h's
 * roles column; the oracle of the barrage (tests/integration/barrage_*.c)
 * and of the fuzz seeds (tests/fuzz/wire_seeds.c).
 *
 * It knows roles, not state: that a gateway may hear an outcome, not whose
 * request it tells of; the tests that hold the state check that. */
#ifndef MIZ_TEST_POLICY_H
#define MIZ_TEST_POLICY_H

#include <msgpack.h>
#include <stdbool.h>

#include "proto.h"

/* Whether a key of that role may send command c (on an endpoint with CURVE). */
bool policy_may_send(miz_key_role_t key, miz_command_t c);

/* Whether mizd may ever send message m to a key of that role: an error, or
 * what answers or follows a command the key may send. */
bool policy_may_get(miz_key_role_t key, miz_message_t m);

/* The error a command must get from mizd before anything but the message
 * and the key's role counts, or -1 when the rest decides (what mizd holds,
 * whether the peer registered, the rate limit, the handler's checks of
 * values). m is the whole message, as wire_parse accepted it, sent by a key
 * of that role on an endpoint with CURVE. In mizd's order (protocol.md
 * section 4): the type (a string within MIZ_TYPE_MAX), the version, the
 * command on that socket, then the key's role and the typed fields, the
 * fields first for MIZ_CMD_FIELDS_FIRST; a MIZ_CMD_REGISTERED command and
 * the fields of a MIZ_CMD_RATED one depend on state. */
int policy_refusal(miz_key_role_t key, miz_socket_t socket, const msgpack_object *m);

/* The error of the contract o names (a msgpack str), or -1. */
int policy_error(const msgpack_object *o);

/* The broker's message type o names (a msgpack str), or -1. */
int policy_message(const msgpack_object *o);

#endif
