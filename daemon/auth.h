/* auth: who may connect, and as whom (docs/security.md).
 *
 * A ZAP handler (ZeroMQ RFC 27) in mizd's own ZeroMQ context, bound before
 * any server socket: a CURVE peer gets in only with a public key mizd knows,
 * from the routing table's security.keys or a certificate in
 * security.keys_dir, and only on the sockets its role may use. The key's
 * Z85 text becomes the ZAP User-Id of every message the peer sends, which
 * the broker looks up to authorise each command. */
#ifndef MIZ_AUTH_H
#define MIZ_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"
#include "table.h"

struct event_base;
typedef struct auth auth_t;

typedef struct {
    char name[65];
    key_role_t role;
    char agency[65]; /* workers only */
    char key[41];    /* Z85 public key */
} principal_t;

/* Reads the server's secret certificate and every known key, and binds the
 * handler in zctx; refused handshakes are logged at warn if log_level lets
 * warn through. NULL with the reason in err. */
auth_t *auth_new(void *zctx, struct event_base *base, const security_conf_t *conf,
                 log_level_t log_level, char *err, size_t errlen);
void auth_destroy(auth_t **auth);
/* For the broker's tick: tells refused connections that were not logged
 * one by one (log_limit_flush). */
void auth_tick(auth_t *auth);

/* Reads the keys again (a reload): the old set stays if anything is wrong.
 * *lost: bit 1 << role for each role some key had and no longer has. */
int auth_reload(auth_t *auth, const security_conf_t *conf, unsigned *lost, char *err,
                size_t errlen);

/* The server's CURVE secret key (Z85) for its sockets. */
const char *auth_server_secret(const auth_t *auth);

/* The principal of a ZAP User-Id, or NULL. */
const principal_t *auth_lookup(const auth_t *auth, const char *user_id, size_t len);

#endif
