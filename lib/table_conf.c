/* table_conf: the broker's settings and its security, as the table gives them.
 *
 * The broker section sets endpoints, heartbeats, limits, the store and the
 * rate limit; the security section sets CURVE, the certificates and the
 * peers' keys with their roles (a worker's key is bound to an agency). What
 * is not given keeps the defaults table_load.c sets. */
#include "table_int.h"

#include "cert.h"

#include <stdio.h>
#include <string.h>

#define COUNT_MAX 4294967295u /* max_open, retain_closed, pending_outcomes */
#define MESSAGE_MIN 1024
#define MESSAGE_MAX (64u << 20)

/* ---- broker ---- */

static const char *const broker_keys[] = {
    "name",          "endpoints", "heartbeat", "max_message",  "max_open",
    "retain_closed", "data_dir",  "retention", "dedup_window", "rate_limit",
    "pending_outcomes", "store",
};
enum {
    B_NAME,
    B_ENDPOINTS,
    B_HEARTBEAT,
    B_MAX_MESSAGE,
    B_MAX_OPEN,
    B_RETAIN,
    B_DATA_DIR,
    B_RETENTION,
    B_DEDUP,
    B_RATE,
    B_PENDING,
    B_STORE,
    B_COUNT
};
static const char *const endpoint_keys[] = {"clients", "workers", "events"};

static void conf_read_endpoint(struct loader *ld, const struct field *f, const char *where,
                               const char **out)
{
    static const char *const schemes[] = {"tcp://", "ipc://", "inproc://"};
    const char *s;
    if (!f->key || schema_read_string(ld, f, where, &s) < 0)
        return;
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (strncmp(s, schemes[i], strlen(schemes[i])) == 0 && s[strlen(schemes[i])]) {
            *out = s;
            return;
        }
    load_fail(ld, f->value, "bad endpoint \"%s\" for %s (expected tcp://, ipc:// or inproc://...)",
              load_quote(ld, f->value), schema_field_name(ld, f, where));
}

static const char *const store_keys[] = {"kind", "dsn", "lease"};
enum { ST_KIND, ST_DSN, ST_LEASE, ST_COUNT };
#define LEASE_MIN_MS 500
#define LEASE_MAX_MS 60000

/* kind: lmdb (data_dir) or postgres (dsn, required, and the lease). */
static void conf_read_store(struct loader *ld, const struct field *top, broker_conf_t *c)
{
    struct field f[ST_COUNT];
    const char *where = "broker store", *kind = NULL;
    if (schema_read_map(ld, top->value, where, store_keys, ST_COUNT, f) < 0)
        return;
    if (!f[ST_KIND].key)
        schema_missing(ld, top->value, "kind", where);
    else if (schema_read_string(ld, &f[ST_KIND], where, &kind) == 0 && strcmp(kind, "lmdb") &&
             strcmp(kind, "postgres"))
        load_fail(ld, f[ST_KIND].value, "unknown store kind \"%s\" (expected lmdb or postgres)",
                  load_quote(ld, f[ST_KIND].value));
    else if (kind)
        c->store_kind = strcmp(kind, "postgres") == 0 ? STORE_POSTGRES : STORE_LMDB;
    if (f[ST_DSN].key)
        schema_read_string(ld, &f[ST_DSN], where, &c->store_dsn);
    else if (kind && c->store_kind == STORE_POSTGRES)
        schema_missing(ld, top->value, "dsn", where);
    if (f[ST_LEASE].key && schema_read_duration(ld, &f[ST_LEASE], where, &c->lease_ms) == 0 &&
        (c->lease_ms < LEASE_MIN_MS || c->lease_ms > LEASE_MAX_MS))
        load_fail(ld, f[ST_LEASE].value, "lease must be between %dms and %ds", LEASE_MIN_MS,
                  LEASE_MAX_MS / 1000);
}

static const char *const rate_keys[] = {"per_second", "burst"};

/* Submissions per peer: per_second on average, burst at once (default:
 * per_second). */
static void conf_read_rate(struct loader *ld, const struct field *top, broker_conf_t *c)
{
    struct field f[2];
    uint64_t v;
    const char *where = "broker rate_limit";
    if (schema_read_map(ld, top->value, where, rate_keys, 2, f) < 0)
        return;
    if (!f[0].key)
        schema_missing(ld, top->value, "per_second", where);
    else if (schema_read_uint(ld, &f[0], where, 1, 1000000, &v) == 0)
        c->rate_per_second = c->rate_burst = (uint32_t)v;
    if (f[1].key && schema_read_uint(ld, &f[1], where, 1, 1000000, &v) == 0)
        c->rate_burst = (uint32_t)v;
}

void conf_read_broker(struct loader *ld, const struct field *top)
{
    broker_conf_t *c = &ld->t->conf;
    struct field f[B_COUNT], ep[3];
    uint64_t v;

    if (!top->key || schema_read_map(ld, top->value, "broker", broker_keys, B_COUNT, f) < 0)
        return;
    if (f[B_NAME].key)
        schema_read_string(ld, &f[B_NAME], "broker", &c->name);
    if (f[B_ENDPOINTS].key &&
        schema_read_map(ld, f[B_ENDPOINTS].value, "broker endpoints", endpoint_keys, 3, ep) == 0) {
        conf_read_endpoint(ld, &ep[0], "broker endpoints", &c->clients_endpoint);
        conf_read_endpoint(ld, &ep[1], "broker endpoints", &c->workers_endpoint);
        conf_read_endpoint(ld, &ep[2], "broker endpoints", &c->events_endpoint);
    }
    if (f[B_HEARTBEAT].key)
        schema_read_duration(ld, &f[B_HEARTBEAT], "broker", &c->heartbeat_ms);
    if (f[B_MAX_MESSAGE].key &&
        schema_read_uint(ld, &f[B_MAX_MESSAGE], "broker", MESSAGE_MIN, MESSAGE_MAX, &v) == 0)
        c->max_message = (size_t)v;
    if (f[B_MAX_OPEN].key && schema_read_uint(ld, &f[B_MAX_OPEN], "broker", 1, COUNT_MAX, &v) == 0)
        c->max_open = (size_t)v;
    if (f[B_RETAIN].key && schema_read_uint(ld, &f[B_RETAIN], "broker", 0, COUNT_MAX, &v) == 0)
        c->retain_closed = (size_t)v;
    if (f[B_DATA_DIR].key)
        schema_read_string(ld, &f[B_DATA_DIR], "broker", &c->data_dir);
    if (f[B_RETENTION].key)
        schema_read_duration(ld, &f[B_RETENTION], "broker", &c->retention_ms);
    if (f[B_DEDUP].key)
        schema_read_duration(ld, &f[B_DEDUP], "broker", &c->dedup_window_ms);
    if (f[B_RATE].key)
        conf_read_rate(ld, &f[B_RATE], c);
    if (f[B_PENDING].key &&
        schema_read_uint(ld, &f[B_PENDING], "broker", 1, COUNT_MAX, &v) == 0)
        c->pending_outcomes = (size_t)v;
    if (f[B_STORE].key)
        conf_read_store(ld, &f[B_STORE], c);
}

/* ---- security ---- */

int key_role_parse(const char *s, size_t n, key_role_t *role)
{
    int i = MIZ_NAME_FIND(miz_key_role_names, s, n);
    if (i < 0)
        return -1;
    *role = (key_role_t)i;
    return 0;
}

static const char *const security_keys[] = {"curve", "server_cert", "keys_dir", "keys"};
enum { S_CURVE, S_SERVER_CERT, S_KEYS_DIR, S_KEYS, S_COUNT };
static const char *const peer_key_keys[] = {"name", "role", "agency", "public_key"};
enum { K_NAME, K_ROLE, K_AGENCY, K_PUBLIC, K_COUNT };
#define TABLE_MAX_KEYS 4096

static void conf_read_peer_key(struct loader *ld, const struct node *map, size_t index,
                               table_key_t *k)
{
    struct field f[K_COUNT];
    char where[48];
    snprintf(where, sizeof where, "security key %zu", index + 1);
    if (schema_read_map(ld, map, where, peer_key_keys, K_COUNT, f) < 0)
        return;
    for (size_t i = 0; i < K_COUNT; i++)
        if (!f[i].key && i != K_AGENCY)
            schema_missing(ld, map, peer_key_keys[i], where);
    if (f[K_NAME].key && schema_read_string(ld, &f[K_NAME], where, &k->name) == 0 &&
        !table_is_name(k->name, strlen(k->name), TABLE_NAME_MAX))
        load_fail(ld, f[K_NAME].value, "bad key name \"%s\" in %s (expected 1-%d of a-z 0-9 _ -)",
                  load_quote(ld, f[K_NAME].value), where, TABLE_NAME_MAX);
    const struct node *v = f[K_ROLE].key ? schema_scalar_of(ld, &f[K_ROLE], where) : NULL;
    if (v && key_role_parse(v->text, v->len, &k->role) < 0) {
        load_fail(ld, v, "bad role \"%s\" in %s (expected worker, gateway or dashboard)",
                  load_quote(ld, v), where);
        v = NULL; /* no role: nothing more to say of its agency */
    }
    if (f[K_AGENCY].key && schema_read_string(ld, &f[K_AGENCY], where, &k->agency) == 0 &&
        table_agency_find(ld->t, k->agency, strlen(k->agency)) < 0)
        load_fail(ld, f[K_AGENCY].value, "unknown agency \"%s\" in %s",
                  load_quote(ld, f[K_AGENCY].value), where);
    if (v && k->role == KEY_WORKER && !f[K_AGENCY].key)
        load_fail(ld, map, "%s: a worker's key needs \"agency\"", where);
    if (v && k->role != KEY_WORKER && f[K_AGENCY].key)
        load_fail(ld, f[K_AGENCY].key, "%s: only a worker's key has an agency", where);
    if (f[K_PUBLIC].key && schema_read_string(ld, &f[K_PUBLIC], where, &k->public_key) == 0 &&
        !miz_key_valid(k->public_key, strlen(k->public_key)))
        load_fail(ld, f[K_PUBLIC].value,
                  "bad public_key in %s (expected 40 characters of Z85, as "
                  "miz keygen writes)",
                  where);
}

void conf_read_security(struct loader *ld, const struct field *top)
{
    security_conf_t *s = &ld->t->conf.security;
    struct field f[S_COUNT];
    if (!top->key || schema_read_map(ld, top->value, "security", security_keys, S_COUNT, f) < 0)
        return;
    if (f[S_CURVE].key) {
        const struct node *v = schema_scalar_of(ld, &f[S_CURVE], "security");
        if (v && schema_text_is(v, "on"))
            s->curve = CURVE_ON;
        else if (v && schema_text_is(v, "off"))
            s->curve = CURVE_OFF;
        else if (v && !schema_text_is(v, "auto"))
            load_fail(ld, v, "bad curve \"%s\" in security (expected auto, on or off)",
                      load_quote(ld, v));
    }
    if (f[S_SERVER_CERT].key)
        schema_read_string(ld, &f[S_SERVER_CERT], "security", &s->server_cert);
    if (f[S_KEYS_DIR].key)
        schema_read_string(ld, &f[S_KEYS_DIR], "security", &s->keys_dir);
    if (!f[S_KEYS].key || !schema_is_kind(ld, f[S_KEYS].value, NODE_SEQ, "security keys"))
        return;
    size_t n = f[S_KEYS].value->n_children;
    if (n > TABLE_MAX_KEYS) {
        load_fail(ld, f[S_KEYS].value, "more than %d keys", TABLE_MAX_KEYS);
        return;
    }
    table_key_t *keys = load_keep_array(ld, n, sizeof *keys);
    if (!keys)
        return;
    memset(keys, 0, n * sizeof *keys);
    for (const struct node *item = f[S_KEYS].value->child; item; item = item->next)
        conf_read_peer_key(ld, item, s->n_keys, &keys[s->n_keys]), s->n_keys++;
    s->keys = keys;
}
