/* broker: the engine on ZeroMQ sockets and a libevent loop.
 *
 * The engine (engine.h) knows requests, deliveries and workers but no
 * sockets; this file binds the clients and workers ROUTERs and the events
 * PUB, with CURVE and the ZAP handler where the table asks for them, reads
 * both ROUTERs in turns (one commit per turn), fires the deadline timer and
 * the heartbeat tick, gives snapshots their parts, and carries a reload and
 * a clean stop to the engine. A turn reads both sockets, whichever woke the
 * loop: a turn per socket would cost two fsyncs where one does. A standby
 * (role.h) has no engine and no sockets until it takes the store's lease. */
#include "broker.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "auth.h"
#include "clock.h"
#include "engine.h"
#include "role.h"
#include "zev.h"

#define RECV_BATCH 256      /* messages per socket per pass of a turn */
#define TURN_MAX 4096       /* messages per turn, both sockets together */
#define LINGER_MS 500       /* bounded wait for queued output at shutdown */
#define SEND_HWM 100000     /* credit bounds deliveries; this bounds replies */
#define STOP_QUIET_MS 100   /* a stop waits for the sockets to be this quiet */
#define STOP_MAX_MS 2000    /* and no longer than this */
#define STOP_CHECK_MS 20

struct broker {
    struct event_base *base;
    engine_t *engine; /* NULL while standby */
    role_t *role;
    /* a standby's, for its engine once it takes over */
    table_t *table;
    store_t *store;
    broker_opts_t opts;
    /* what the sockets and store were opened with: a reload keeps them
     * (NULL: the command line set it) */
    char *clients_endpoint, *workers_endpoint, *events_endpoint, *data_dir;
    uint64_t heartbeat_ms;
    size_t max_message;
    log_level_t log_level;
    void *zctx, *clients, *workers;
    void *events; /* PUB of every transition (protocol.md section 8) */
    /* events under CURVE: its monitor tells when an unbind that cut off a
     * revoked dashboard has closed the listener, so it can bind again */
    void *events_monitor;
    zev_t *events_monitor_ev;
    char *events_rebind;     /* the endpoint to bind again, while unbound */
    bool events_closed;      /* its listener is closed: bind again */
    bool events_bind_failed; /* told once */
    auth_t *auth;            /* the ZAP handler, when a socket has CURVE */
    bool secure_clients, secure_workers;
    zev_t *clients_ev, *workers_ev;
    struct event *deadline_ev, *tick_ev, *snapshot_ev, *stop_ev;
    struct event *commit_ev; /* the commit in flight has landed */
    uint64_t timer_at; /* monotonic ms the deadline event is set for */
    bool stopping;
    uint64_t stop_by;
};

#define BLOG(b, lvl, ...) LOG_IF((b)->log_level, lvl, __VA_ARGS__)

/* ---- the engine's handles ---- */

/* With ZMQ_ROUTER_MANDATORY a gone peer fails on the routing-id frame and
 * the multipart state is reset, so the body is sent only after it succeeds. */
static int broker_send(void *ctx, engine_socket_t to, const void *rid, size_t rid_len,
                       const void *body, size_t len)
{
    broker_t *b = ctx;
    void *socket = to == ENGINE_WORKERS   ? b->workers
                   : to == ENGINE_CLIENTS ? b->clients
                                          : b->events;
    if (zmq_send(socket, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    return zmq_send(socket, body, len, ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

static void broker_now(void *ctx, uint64_t *mono, uint64_t *wall)
{
    (void)ctx;
    *mono = clock_ms(CLOCK_MONOTONIC);
    *wall = clock_ms(CLOCK_REALTIME);
}

/* ---- turns ---- */

static void broker_schedule_deadline(broker_t *b)
{
    uint64_t due;
    if (!engine_next_deadline(b->engine, &due)) {
        if (b->timer_at != UINT64_MAX)
            evtimer_del(b->deadline_ev);
        b->timer_at = UINT64_MAX;
        return;
    }
    if (due == b->timer_at)
        return;
    uint64_t now = clock_ms(CLOCK_MONOTONIC);
    uint64_t in = due > now ? due - now : 0;
    struct timeval tv = {(time_t)(in / 1000), (suseconds_t)(in % 1000) * 1000};
    evtimer_add(b->deadline_ev, &tv);
    b->timer_at = due;
}

/* Another mizd took the lease: nothing more goes out, and mizd stops. */
static void broker_step_down(broker_t *b)
{
    char what[256];
    role_deposed(b->role);
    role_describe(b->role, what, sizeof what);
    BLOG(b, LOG_ERROR, "%s: stopping without a word more to anyone", what);
    event_base_loopbreak(b->base);
}

static void broker_turn_end(broker_t *b)
{
    engine_turn_end(b->engine);
    if (engine_deposed(b->engine) && role_state(b->role) != ROLE_DEPOSED)
        broker_step_down(b);
    broker_schedule_deadline(b);
    if (engine_snapshots_pending(b->engine))
        event_active(b->snapshot_ev, 0, 0);
    zev_rearm(b->clients_ev);
    zev_rearm(b->workers_ev);
}

/* Reads one [routing id][body] message into the engine. 1 when one was
 * read, 0 when the socket has nothing more. */
static int broker_recv_one(broker_t *b, void *socket)
{
    zmq_msg_t rid, body;
    zmq_msg_init(&rid);
    if (zmq_msg_recv(&rid, socket, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&rid);
        return 0;
    }
    zmq_msg_init(&body);
    int got = zmq_msg_more(&rid) ? zmq_msg_recv(&body, socket, ZMQ_DONTWAIT) : -1;
    bool extra = got >= 0 && zmq_msg_more(&body);
    if (extra) { /* a message arrives whole, so the rest is already here */
        zmq_msg_t rest;
        zmq_msg_init(&rest);
        while (zmq_msg_recv(&rest, socket, ZMQ_DONTWAIT) >= 0 && zmq_msg_more(&rest))
            ;
        zmq_msg_close(&rest);
    }
    bool workers = socket == b->workers;
    bool secure = workers ? b->secure_workers : b->secure_clients;
    const char *user = secure && got >= 0 ? zmq_msg_gets(&body, "User-Id") : NULL;
    const principal_t *principal = user ? auth_lookup(b->auth, user, strlen(user)) : NULL;
    bool whole = got >= 0 && !extra;
    engine_receive(b->engine, workers ? ENGINE_WORKERS : ENGINE_CLIENTS, zmq_msg_data(&rid),
                   zmq_msg_size(&rid), secure, principal, whole ? zmq_msg_data(&body) : NULL,
                   whole ? zmq_msg_size(&body) : 0);
    zmq_msg_close(&body);
    zmq_msg_close(&rid);
    return 1;
}

/* Workers first: their answers free credit that the turn's submissions can
 * use. Passes go on while either socket has more (what arrives meanwhile
 * joins the commit), up to TURN_MAX messages. Either socket's input starts
 * such a turn. */
static void broker_on_socket(void *socket, void *arg)
{
    (void)socket;
    broker_t *b = arg;
    engine_turn_begin(b->engine);
    int total = 0, got;
    do {
        got = 0;
        for (int i = 0; i < RECV_BATCH && broker_recv_one(b, b->workers); i++)
            got++;
        for (int i = 0; i < RECV_BATCH && broker_recv_one(b, b->clients); i++)
            got++;
        total += got;
    } while (got && total < TURN_MAX);
    broker_turn_end(b);
}

static void broker_on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    broker_t *b = arg;
    b->timer_at = UINT64_MAX;
    engine_turn_begin(b->engine);
    engine_expire(b->engine);
    broker_turn_end(b);
}

/* The commit in flight has landed: what it promised goes out, in a turn. */
static void broker_on_commit(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    broker_t *b = arg;
    engine_turn_begin(b->engine);
    engine_commit_done(b->engine);
    broker_turn_end(b);
}

/* One part of every snapshot still reading the store, as a turn of its own
 * between the sockets' turns. */
static void broker_on_snapshots(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    broker_t *b = arg;
    if (!engine_snapshots_pending(b->engine))
        return;
    engine_turn_begin(b->engine);
    engine_snapshots_step(b->engine);
    broker_turn_end(b);
}

/* ---- the events socket ---- */

/* A PUB cannot close one subscriber's connection. To cut off a dashboard
 * whose key a reload revoked, the events socket closes them all (unbind)
 * and binds again once its monitor says the listener is closed (a TCP
 * listener holds its port until then). Dashboards with valid keys
 * reconnect by themselves (ZeroMQ) and resync on the gap in seq; the
 * revoked one fails its handshake. A bind that fails is tried again every
 * tick. */
static void broker_events_bind_again(broker_t *b)
{
    if (zmq_bind(b->events, b->events_rebind) < 0) {
        if (!b->events_bind_failed)
            BLOG(b, LOG_ERROR, "events: cannot bind %s again (%s): no dashboard can connect until "
                               "it can; trying again every heartbeat", b->events_rebind,
                 zmq_strerror(errno));
        b->events_bind_failed = true;
        return;
    }
    BLOG(b, LOG_INFO, "events: listening on %s again", b->events_rebind);
    free(b->events_rebind);
    b->events_rebind = NULL;
    b->events_closed = b->events_bind_failed = false;
}

static void broker_on_events_monitor(void *monitor, void *arg)
{
    broker_t *b = arg;
    zmq_msg_t part;
    zmq_msg_init(&part);
    while (zmq_msg_recv(&part, monitor, ZMQ_DONTWAIT) >= 0) /* [event][endpoint], CLOSED only */
        b->events_closed = b->events_closed || (b->events_rebind && !zmq_msg_more(&part));
    zmq_msg_close(&part);
    if (b->events_closed && b->events_rebind)
        broker_events_bind_again(b);
    zev_rearm(b->events_monitor_ev);
}

static int broker_events_monitor_new(broker_t *b)
{
    static const char ep[] = "inproc://mizd-events-monitor";
    if (zmq_socket_monitor(b->events, ep, ZMQ_EVENT_CLOSED) < 0 ||
        !(b->events_monitor = zmq_socket(b->zctx, ZMQ_PAIR)) ||
        zmq_connect(b->events_monitor, ep) < 0 ||
        !(b->events_monitor_ev = zev_new(b->base, b->events_monitor, broker_on_events_monitor, b)))
        return -1;
    return 0;
}

static void broker_events_reopen(broker_t *b)
{
    char ep[256];
    size_t len = sizeof ep;
    if (b->events_rebind) /* unbound already: nobody could connect since */
        return;
    if (zmq_getsockopt(b->events, ZMQ_LAST_ENDPOINT, ep, &len) < 0 ||
        zmq_unbind(b->events, ep) < 0) {
        BLOG(b, LOG_ERROR, "events: cannot close the subscriptions of a revoked dashboard key: %s",
             zmq_strerror(errno));
        return;
    }
    b->events_rebind = strdup(ep);
    if (!b->events_rebind)
        abort(); /* as every allocation of the core: xalloc.c */
    BLOG(b, LOG_INFO, "events: a reload revoked a dashboard's key: every subscription on %s is "
                      "closed, and the socket binds again", ep);
}

/* Heartbeats, the purge and the counters: the engine's; the ZAP handler's
 * flood lines and a rebind of the events socket: ours. */
static void broker_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    broker_t *b = arg;
    engine_turn_begin(b->engine);
    engine_tick(b->engine);
    if (b->auth)
        auth_tick(b->auth);
    if (b->events_closed && b->events_rebind)
        broker_events_bind_again(b);
    broker_turn_end(b);
}

/* ---- life cycle ---- */

/* Whether an endpoint can be reached only from this machine. */
static bool loopback(const char *ep)
{
    static const char *const local[] = {"ipc://", "inproc://", "tcp://127.", "tcp://localhost:",
                                        "tcp://[::1]:"};
    for (size_t i = 0; i < sizeof local / sizeof *local; i++)
        if (strncmp(ep, local[i], strlen(local[i])) == 0)
            return true;
    return false;
}

static bool curve_for(const broker_conf_t *c, const char *ep)
{
    return c->security.curve == CURVE_ON || (c->security.curve == CURVE_AUTO && !loopback(ep));
}

/* A bound ROUTER (clients, workers) or PUB (events); domain names it to the
 * ZAP handler, which decides who may connect when it has CURVE. */
static void *broker_socket_new(broker_t *b, int type, const char *endpoint, const char *domain,
                               bool curve, char *err, size_t errlen)
{
    void *s = zmq_socket(b->zctx, type);
    int one = 1, hwm = SEND_HWM, linger = LINGER_MS;
    int64_t maxmsg = (int64_t)b->max_message;
    bool router = type == ZMQ_ROUTER;
    /* handover: a client that reconnects with its routing id takes it over
     * (its outcomes follow it); workers reconnect with new ids, so a second
     * connection with a worker's id is refused, never handed its work */
    bool handover = router && strcmp(domain, "clients") == 0;
    const char *secret = curve ? auth_server_secret(b->auth) : NULL;
    /* a ZAP domain makes ZeroMQ ask the handler about plain peers too */
    if (!s || (router && zmq_setsockopt(s, ZMQ_ROUTER_MANDATORY, &one, sizeof one) < 0) ||
        (handover && zmq_setsockopt(s, ZMQ_ROUTER_HANDOVER, &one, sizeof one) < 0) ||
        (curve && zmq_setsockopt(s, ZMQ_ZAP_DOMAIN, domain, strlen(domain)) < 0) ||
        (curve && zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof one) < 0) ||
        (curve && zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, secret, strlen(secret) + 1) < 0) ||
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm) < 0 ||
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm) < 0 ||
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
        zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) < 0 ||
        zmq_bind(s, endpoint) < 0) {
        snprintf(err, errlen, "cannot bind %s: %s", endpoint, zmq_strerror(errno));
        if (s)
            zmq_close(s);
        return NULL;
    }
    return s;
}

static void broker_log_bound(broker_t *b, const char *what, void *s)
{
    char ep[256];
    size_t len = sizeof ep;
    if (zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &len) == 0)
        BLOG(b, LOG_INFO, "listening for %s on %s", what, ep);
}

/* The table's value, kept to warn when a reload would change it; NULL when
 * the command line set it. */
static char *broker_setting(const char *from_opts, const char *from_table)
{
    char *s = from_opts ? NULL : strdup(from_table);
    if (!from_opts && !s)
        abort(); /* as every allocation of the core: xalloc.c */
    return s;
}

/* The sockets (and the ZAP handler before them: a CURVE socket bound before
 * it would let anyone in) and the loop's events. */
static int broker_bind(broker_t *b, const broker_conf_t *conf, const broker_opts_t *opts,
                       char *err, size_t errlen)
{
    const char *cep = opts->clients_endpoint ? opts->clients_endpoint : conf->clients_endpoint;
    const char *wep = opts->workers_endpoint ? opts->workers_endpoint : conf->workers_endpoint;
    const char *eep = opts->events_endpoint ? opts->events_endpoint : conf->events_endpoint;
    bool secure_events = curve_for(conf, eep);
    if (!(b->clients = broker_socket_new(b, ZMQ_ROUTER, cep, "clients", b->secure_clients, err,
                                         errlen)) ||
        !(b->workers = broker_socket_new(b, ZMQ_ROUTER, wep, "workers", b->secure_workers, err,
                                         errlen)) ||
        !(b->events = broker_socket_new(b, ZMQ_PUB, eep, "events", secure_events, err, errlen)))
        return -1;
    uint64_t hb = b->heartbeat_ms;
    struct timeval tick = {(time_t)(hb / 1000), (suseconds_t)(hb % 1000) * 1000};
    b->deadline_ev = evtimer_new(b->base, broker_on_deadline, b);
    b->tick_ev = event_new(b->base, -1, EV_PERSIST, broker_on_tick, b);
    b->snapshot_ev = event_new(b->base, -1, 0, broker_on_snapshots, b);
    b->clients_ev = zev_new(b->base, b->clients, broker_on_socket, b);
    b->workers_ev = zev_new(b->base, b->workers, broker_on_socket, b);
    int commit_fd = engine_commit_fd(b->engine);
    if (commit_fd >= 0)
        b->commit_ev = event_new(b->base, commit_fd, EV_READ | EV_PERSIST, broker_on_commit, b);
    if (!b->deadline_ev || !b->tick_ev || !b->snapshot_ev || !b->clients_ev || !b->workers_ev ||
        (commit_fd >= 0 && (!b->commit_ev || event_add(b->commit_ev, NULL) < 0)) ||
        event_add(b->tick_ev, &tick) < 0 || (secure_events && broker_events_monitor_new(b) < 0)) {
        snprintf(err, errlen, "cannot set up the event loop");
        return -1;
    }
    broker_log_bound(b, "clients", b->clients);
    broker_log_bound(b, "workers", b->workers);
    broker_log_bound(b, "events", b->events);
    return 0;
}

/* The lease is ours: recover, bind, serve. */
static int broker_on_lease(void *arg, const store_lease_t *lease, char *err, size_t errlen)
{
    broker_t *b = arg;
    engine_io_t io = {.send = broker_send, .now = broker_now, .ctx = b, .threaded_commit = true};
    bool shared = b->store && store_shared(b->store);
    uint64_t lease_ms = table_conf(b->table)->lease_ms;
    table_t *table = b->table;
    b->table = NULL;
    b->engine = engine_new(table, b->store, b->auth, &io, b->log_level, err, errlen);
    b->store = NULL; /* the engine's, even when it failed */
    if (!b->engine)
        return -1;
    if (shared && engine_lease(b->engine, lease->epoch, lease_ms) < 0) {
        snprintf(err, errlen, "the lease taken could not be renewed after recovery: %s",
                 engine_deposed(b->engine) ? "another mizd took it" : "the store fails");
        return -1;
    }
    return broker_bind(b, engine_conf(b->engine), &b->opts, err, errlen);
}

/* Who this mizd is to the others sharing its store. */
static void broker_holder(const broker_conf_t *conf, char *buf, size_t len)
{
    char host[64] = "";
    if (gethostname(host, sizeof host - 1) < 0)
        snprintf(host, sizeof host, "unknown");
    snprintf(buf, len, "%s@%s:%ld", conf->name, host, (long)getpid());
}

broker_t *broker_new(struct event_base *base, table_t *table, const broker_opts_t *opts,
                     char *err, size_t errlen)
{
    const broker_conf_t *conf = table_conf(table);
    broker_t *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        table_destroy(&table);
        return NULL;
    }
    b->base = base;
    b->table = table;
    b->opts = *opts;
    b->heartbeat_ms = conf->heartbeat_ms;
    b->max_message = conf->max_message;
    b->log_level = opts->log_level;
    b->timer_at = UINT64_MAX;
    b->clients_endpoint = broker_setting(opts->clients_endpoint, conf->clients_endpoint);
    b->workers_endpoint = broker_setting(opts->workers_endpoint, conf->workers_endpoint);
    b->events_endpoint = broker_setting(opts->events_endpoint, conf->events_endpoint);
    b->data_dir = opts->memory ? NULL : broker_setting(opts->data_dir, conf->data_dir);
    const char *cep = opts->clients_endpoint ? opts->clients_endpoint : conf->clients_endpoint;
    const char *wep = opts->workers_endpoint ? opts->workers_endpoint : conf->workers_endpoint;
    const char *eep = opts->events_endpoint ? opts->events_endpoint : conf->events_endpoint;
    b->secure_clients = curve_for(conf, cep);
    b->secure_workers = curve_for(conf, wep);
    store_conf_t sc = {
        .kind = opts->store_dsn ? STORE_POSTGRES : conf->store_kind,
        .dir = opts->data_dir ? opts->data_dir : conf->data_dir,
        .dsn = opts->store_dsn ? opts->store_dsn : conf->store_dsn,
    };
    char holder[256];
    broker_holder(conf, holder, sizeof holder);
    if (!(b->zctx = zmq_ctx_new())) {
        snprintf(err, errlen, "out of memory");
    } else if ((b->secure_clients || b->secure_workers || curve_for(conf, eep)) &&
               !(b->auth = auth_new(b->zctx, base, &conf->security, b->log_level, err, errlen))) {
    } else if (!opts->memory && !(b->store = store_open(&sc, err, errlen))) {
    } else if (!(b->role = role_new(base, b->store, holder, conf->lease_ms, b->log_level,
                                    broker_on_lease, b))) {
        snprintf(err, errlen, "out of memory");
    } else if (role_start(b->role, err, errlen) >= 0) {
        return b;
    }
    broker_destroy(&b);
    return NULL;
}

/* A setting a reload cannot change on a running broker (in_use NULL: the
 * command line set it, and the table's value never counted). */
static void broker_keep_setting(broker_t *b, const char *what, const char *in_use,
                                const char *new)
{
    if (in_use && strcmp(in_use, new) != 0)
        BLOG(b, LOG_WARN, "reload: %s stays %s until mizd restarts", what, in_use);
}

int broker_reload(broker_t *b, table_t *table, char *err, size_t errlen)
{
    const broker_conf_t *new = table_conf(table);
    unsigned lost = 0;
    if (b->auth && auth_reload(b->auth, &new->security, &lost, err, errlen) < 0)
        return -1;
    broker_keep_setting(b, "endpoints.clients", b->clients_endpoint, new->clients_endpoint);
    broker_keep_setting(b, "endpoints.workers", b->workers_endpoint, new->workers_endpoint);
    broker_keep_setting(b, "endpoints.events", b->events_endpoint, new->events_endpoint);
    broker_keep_setting(b, "data_dir", b->data_dir, new->data_dir);
    if (b->heartbeat_ms != new->heartbeat_ms || b->max_message != new->max_message)
        BLOG(b, LOG_WARN, "reload: heartbeat stays %llu ms and max_message %zu bytes until mizd "
                          "restarts", (unsigned long long)b->heartbeat_ms, b->max_message);
    if (!b->engine) { /* a standby serves with the newest table once it takes over */
        table_destroy(&b->table);
        b->table = table;
        return 0;
    }
    engine_reload(b->engine, table);
    if (b->events_monitor && (lost & 1u << KEY_DASHBOARD))
        broker_events_reopen(b); /* first: the events of the turn below are not for it */
    if (b->auth) {
        engine_turn_begin(b->engine);
        engine_drop_revoked(b->engine);
        broker_turn_end(b);
    }
    return 0;
}

static void broker_on_stop_check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    broker_t *b = arg;
    uint64_t now = clock_ms(CLOCK_MONOTONIC);
    if (now - engine_last_work(b->engine) >= STOP_QUIET_MS || now >= b->stop_by)
        event_base_loopbreak(b->base);
}

void broker_stop(broker_t *b)
{
    if (b->stopping || !b->engine) {
        event_base_loopbreak(b->base);
        return;
    }
    b->stopping = true;
    engine_stop(b->engine);
    b->stop_by = clock_ms(CLOCK_MONOTONIC) + STOP_MAX_MS;
    struct timeval every = {0, STOP_CHECK_MS * 1000};
    b->stop_ev = event_new(b->base, -1, EV_PERSIST, broker_on_stop_check, b);
    if (!b->stop_ev || event_add(b->stop_ev, &every) < 0)
        event_base_loopbreak(b->base);
}

void broker_stats(const broker_t *b, broker_stats_t *st)
{
    engine_stats_t es = {0};
    if (b->engine)
        engine_stats(b->engine, &es);
    *st = (broker_stats_t){.open_requests = es.open_requests, .workers = es.workers,
                           .store_failed = es.store_failed};
    role_describe(b->role, st->role, sizeof st->role);
    st->deposed = role_state(b->role) == ROLE_DEPOSED;
    st->failed = role_failed(b->role);
}

static void broker_event_free(struct event **ev)
{
    if (*ev)
        event_free(*ev);
    *ev = NULL;
}

static void broker_socket_close(void **socket)
{
    if (*socket)
        zmq_close(*socket);
    *socket = NULL;
}

void broker_destroy(broker_t **bp)
{
    broker_t *b = *bp;
    if (!b)
        return;
    if (b->engine && b->workers && !engine_deposed(b->engine)) {
        engine_drain(b->engine); /* what the last commits promised goes out */
        engine_say_goodbye(b->engine);
    }
    zev_destroy(&b->clients_ev);
    zev_destroy(&b->workers_ev);
    /* the monitor stops before its reader goes: closing the events socket
     * tells it, and libzmq would block its I/O thread on a monitor with no
     * reader until the context ends */
    if (b->events)
        zmq_socket_monitor(b->events, NULL, 0);
    zev_destroy(&b->events_monitor_ev);
    broker_socket_close(&b->events_monitor);
    free(b->events_rebind);
    broker_event_free(&b->deadline_ev);
    broker_event_free(&b->tick_ev);
    broker_event_free(&b->stop_ev);
    broker_event_free(&b->snapshot_ev);
    broker_event_free(&b->commit_ev);
    broker_socket_close(&b->clients);
    broker_socket_close(&b->workers);
    broker_socket_close(&b->events);
    auth_destroy(&b->auth);
    if (b->zctx)
        zmq_ctx_term(b->zctx);
    engine_destroy(&b->engine);
    role_destroy(&b->role);
    table_destroy(&b->table);
    store_destroy(&b->store);
    free(b->clients_endpoint);
    free(b->workers_endpoint);
    free(b->events_endpoint);
    free(b->data_dir);
    free(b);
    *bp = NULL;
}
