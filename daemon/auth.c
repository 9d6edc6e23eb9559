/* auth: the ZAP handler and the keys' roles (auth.h says why).
 *
 * It answers libzmq's ZAP requests on inproc://zeromq.zap.01 from the keys
 * of the routing table and its keys folder, and gives the engine each key's
 * principal (name, role, agency) to authorise every command by. */
#include "auth.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "cert.h"
#include "log.h"
#include "zev.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"

struct auth {
    void *zap; /* REP */
    zev_t *zev;
    char server_secret[MIZ_KEY_LEN + 1];
    principal_t *keys; /* sorted by key */
    size_t n_keys;
    log_limit_t refused; /* a scan of the port must not flood the log */
    bool log_refused;    /* warn is logged */
};

static int by_key(const void *a, const void *b)
{
    return strcmp(((const principal_t *)a)->key, ((const principal_t *)b)->key);
}

/* Which sockets (ZAP domains) a role may connect to. */
static bool allowed(key_role_t role, const char *domain, size_t n)
{
    static const char *const domains[] = {[KEY_WORKER] = "workers",
                                          [KEY_GATEWAY] = "clients",
                                          [KEY_DASHBOARD] = "clients events"};
    const char *d = domains[role];
    for (const char *p = d; *p;) {
        size_t len = strcspn(p, " ");
        if (len == n && memcmp(p, domain, n) == 0)
            return true;
        p += len + (p[len] == ' ');
    }
    return false;
}

static void add_key(principal_t *keys, size_t *n, const char *name, key_role_t role,
                    const char *agency, const char *key)
{
    principal_t *p = &keys[(*n)++];
    snprintf(p->name, sizeof p->name, "%.64s", name);
    p->role = role;
    snprintf(p->agency, sizeof p->agency, "%.64s", agency ? agency : "");
    snprintf(p->key, sizeof p->key, "%.40s", key);
}

/* Every public certificate (*.key) of dir: their metadata say what they are. */
static int read_dir(const char *dir, principal_t **keys, size_t *n, size_t *cap, char *err,
                    size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "cannot read the keys directory %s: %s", dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".key") != 0)
            continue;
        char path[4096];
        miz_cert_t c;
        key_role_t role;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (miz_cert_load(path, &c, err, errlen) < 0) {
            rc = -1;
        } else if (key_role_parse(c.role, strlen(c.role), &role) < 0 ||
                   (role == KEY_WORKER) != (*c.agency != '\0')) {
            snprintf(err, errlen, "%s: its metadata must say role = worker (with agency), gateway "
                                  "or dashboard",
                     path);
            rc = -1;
        } else {
            if (*n == *cap) {
                *cap = *cap ? *cap * 2 : 16;
                principal_t *k = realloc(*keys, *cap * sizeof **keys);
                if (!k) {
                    snprintf(err, errlen, "out of memory");
                    rc = -1;
                    break;
                }
                *keys = k;
            }
            add_key(*keys, n, *c.name ? c.name : e->d_name, role, c.agency, c.public_key);
        }
    }
    closedir(d);
    return rc;
}

int auth_reload(auth_t *a, const security_conf_t *conf, unsigned *lost, char *err, size_t errlen)
{
    size_t n = 0, cap = conf->n_keys ? conf->n_keys : 1;
    principal_t *keys = malloc(cap * sizeof *keys);
    if (!keys) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < conf->n_keys; i++)
        add_key(keys, &n, conf->keys[i].name, conf->keys[i].role, conf->keys[i].agency,
                conf->keys[i].public_key);
    if (conf->keys_dir && read_dir(conf->keys_dir, &keys, &n, &cap, err, errlen) < 0) {
        free(keys);
        return -1;
    }
    qsort(keys, n, sizeof *keys, by_key);
    for (size_t i = 1; i < n; i++)
        if (strcmp(keys[i - 1].key, keys[i].key) == 0) {
            snprintf(err, errlen, "keys \"%s\" and \"%s\" are the same public key", keys[i - 1].name,
                     keys[i].name);
            free(keys);
            return -1;
        }
    *lost = 0;
    for (size_t i = 0; i < a->n_keys; i++) {
        const principal_t *now = bsearch(&a->keys[i], keys, n, sizeof *keys, by_key);
        if (!now || now->role != a->keys[i].role)
            *lost |= 1u << a->keys[i].role;
    }
    free(a->keys);
    a->keys = keys;
    a->n_keys = n;
    return 0;
}

const principal_t *auth_lookup(const auth_t *a, const char *user_id, size_t len)
{
    principal_t key;
    if (!a || len != MIZ_KEY_LEN)
        return NULL;
    memcpy(key.key, user_id, len);
    key.key[len] = '\0';
    return bsearch(&key, a->keys, a->n_keys, sizeof *a->keys, by_key);
}

const char *auth_server_secret(const auth_t *a)
{
    return a->server_secret;
}

/* ---- the ZAP handler ---- */

#define ZAP_FRAMES 7 /* version, request id, domain, address, routing id, mechanism, key */

static void zap_reply(void *s, const void *id, size_t id_len, const char *code,
                      const char *text, const char *user)
{
    zmq_send(s, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(s, id, id_len, ZMQ_SNDMORE);
    zmq_send(s, code, strlen(code), ZMQ_SNDMORE);
    zmq_send(s, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(s, user, strlen(user), ZMQ_SNDMORE);
    zmq_send(s, "", 0, 0);
}

/* One request of n frames (more than ZAP_FRAMES: n is 0): a CURVE key mizd
 * knows, on a socket its role may use. A REP must answer every request. */
static void zap_one(auth_t *a, zmq_msg_t *f, int n)
{
    char user[MIZ_KEY_LEN + 1] = "";
    const char *code = "400", *text = "unknown key";
    if (n != ZAP_FRAMES || zmq_msg_size(&f[5]) != 5 || memcmp(zmq_msg_data(&f[5]), "CURVE", 5) ||
        zmq_msg_size(&f[6]) != 32) {
        text = "CURVE only";
    } else {
        zmq_z85_encode(user, zmq_msg_data(&f[6]), 32);
        const principal_t *p = auth_lookup(a, user, MIZ_KEY_LEN);
        if (p && allowed(p->role, zmq_msg_data(&f[2]), zmq_msg_size(&f[2])))
            code = "200", text = "OK";
        else if (p)
            text = "not for this socket";
    }
    bool has_id = n >= 2 || n == 0;
    zap_reply(a->zap, has_id ? zmq_msg_data(&f[1]) : "", has_id ? zmq_msg_size(&f[1]) : 0, code,
              text, *code == '2' ? user : "");
    /* domain and address come from ZeroMQ itself, not from the peer */
    if (*code != '2' && n == ZAP_FRAMES) {
        char domain[16], address[64];
        snprintf(domain, sizeof domain, "%.*s", (int)zmq_msg_size(&f[2]),
                 (const char *)zmq_msg_data(&f[2]));
        snprintf(address, sizeof address, "%.*s", (int)zmq_msg_size(&f[3]),
                 (const char *)zmq_msg_data(&f[3]));
        if (a->log_refused && log_limit_pass(&a->refused))
            log_line(LOG_WARN, "refused a connection to %s from %s: %s%s%s", domain, address,
                     text, *user ? ", key " : "", user);
    }
}

static void on_zap(void *socket, void *arg)
{
    auth_t *a = arg;
    for (int batch = 0; batch < 64; batch++) {
        zmq_msg_t f[ZAP_FRAMES], extra;
        int n = 0, got = 0;
        for (bool more = true; more; got++) {
            zmq_msg_t *m = n < ZAP_FRAMES ? &f[n] : &extra;
            zmq_msg_init(m);
            if (zmq_msg_recv(m, socket, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(m);
                break;
            }
            more = zmq_msg_more(m);
            if (m == &extra)
                zmq_msg_close(m);
            else
                n++;
        }
        if (got == 0)
            break;
        zap_one(a, f, got == n ? n : 0);
        for (int i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
    }
    zev_rearm(a->zev);
}

auth_t *auth_new(void *zctx, struct event_base *base, const security_conf_t *conf,
                 log_level_t log_level, char *err, size_t errlen)
{
    auth_t *a = calloc(1, sizeof *a);
    miz_cert_t server;
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->refused = (log_limit_t){.what = "refused connections", .level = LOG_WARN};
    a->log_refused = LOG_WARN <= log_level;
    if (!conf->server_cert) {
        snprintf(err, errlen, "CURVE needs security.server_cert (miz keygen writes one)");
        goto fail;
    }
    if (miz_cert_load(conf->server_cert, &server, err, errlen) < 0)
        goto fail;
    if (!*server.secret_key) {
        snprintf(err, errlen, "%s: no secret-key: security.server_cert must be the .key_secret",
                 conf->server_cert);
        goto fail;
    }
    memcpy(a->server_secret, server.secret_key, sizeof a->server_secret);
    unsigned lost;
    if (auth_reload(a, conf, &lost, err, errlen) < 0)
        goto fail;
    a->zap = zmq_socket(zctx, ZMQ_REP);
    if (!a->zap || zmq_bind(a->zap, ZAP_ENDPOINT) < 0 ||
        !(a->zev = zev_new(base, a->zap, on_zap, a))) {
        snprintf(err, errlen, "cannot start the ZAP handler: %s", zmq_strerror(errno));
        goto fail;
    }
    return a;
fail:
    auth_destroy(&a);
    return NULL;
}

void auth_tick(auth_t *a)
{
    log_limit_flush(&a->refused);
}

void auth_destroy(auth_t **ap)
{
    auth_t *a = *ap;
    if (!a)
        return;
    zev_destroy(&a->zev);
    if (a->zap)
        zmq_close(a->zap);
    free(a->keys);
    free(a);
    *ap = NULL;
}
