/* cert: CURVE key pairs in ZeroMQ's certificate files (the text format of
 * CZMQ's zcert: ZPL with a "metadata" and a "curve" section).
 *
 * NAME.key holds the public key and is given to the other side;
 * NAME.key_secret holds both keys and stays with its owner (mode 0600).
 * The metadata says what the key may do at a miz broker: role (worker,
 * gateway, dashboard) and, for a worker, its agency. */
#ifndef MIZ_CERT_H
#define MIZ_CERT_H

#include <stddef.h>

#include "miz.h"

#define MIZ_KEY_LEN 40 /* a CURVE key in Z85 */

typedef struct {
    char public_key[MIZ_KEY_LEN + 1];
    char secret_key[MIZ_KEY_LEN + 1]; /* "" in a public certificate */
    char name[65], role[16], agency[65];
} miz_cert_t;

/* A new key pair with that metadata; -1 (errno) on failure. */
int miz_cert_generate(miz_cert_t *c, const char *name, const char *role, const char *agency);
/* Writes DIR/NAME.key and DIR/NAME.key_secret (0600); -1 with err. */
int miz_cert_save(const miz_cert_t *c, const char *dir, char *err, size_t errlen);
/* Reads a certificate, public or secret; -1 with err naming the file and
 * line of what is wrong. */
int miz_cert_load(const char *path, miz_cert_t *c, char *err, size_t errlen);
/* A client's CURVE settings from its own secret certificate (key) and the
 * broker's public one (server_key), both kept in own and server, which
 * curve points into; -1 with err. */
int miz_curve_load(const char *key, const char *server_key, miz_cert_t *own, miz_cert_t *server,
                   miz_curve_t *curve, char *err, size_t errlen);
/* Makes socket a CURVE client with curve's keys, before it connects;
 * nothing for curve NULL. -1 (EINVAL for a key that is not 40 characters,
 * or ZeroMQ's errno). */
int miz_curve_set(void *socket, const miz_curve_t *curve);
/* Whether s is a valid Z85 CURVE key of MIZ_KEY_LEN characters. */
int miz_key_valid(const char *s, size_t n);

#endif
