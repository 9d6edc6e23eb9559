/* miz-dashboard: the governor's office dashboard. Keeps a replica of the
 * broker's requests from its event stream (lib/stream.h), computes the
 * figures per agency (figures.h) and serves them over HTTP (server.c, with
 * the live pages in live.c and past weeks' reports in fetch.c). This file
 * is the process: its options, the loop with the stream's sockets on it,
 * and whether the broker still speaks (stale when its counters, sent every
 * heartbeat, stopped coming). docs/dashboard.md describes it. */
#include <ctype.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert.h"
#include "cli_args.h"
#include "clock.h"
#include "dash_int.h"
#include "jalali.h"
#include "table.h"

#define DEFAULT_CONFIG "/etc/miz/miz.yaml"
#define DEFAULT_HTTP "127.0.0.1:8137"
#define TOKEN_MIN 16
#define TOKEN_MAX 256

static const dash_limits_t default_limits = {
    .request_timeout_s = 10,
    .max_header_bytes = 8192,
    .max_live = 64,
    .live_backlog = 1 << 20,
    .live_stall_s = 60,
};

render_names_t dash_names(const dash_t *d)
{
    return (render_names_t){d->names, d->n_names, d->table};
}

/* The broker is stale when MIZ_LIVENESS heartbeats passed without its
 * counters, as mizd itself judges a silent worker. */
static uint64_t dash_silent_ms(const dash_t *d)
{
    return clock_ms(CLOCK_MONOTONIC) - d->counters_mono;
}

render_state_t dash_state(const dash_t *d)
{
    render_state_t st = {
        .synced = miz_stream_synced(d->stream),
        .silent_ms = dash_silent_ms(d),
        .requests = miz_replica_count(miz_stream_replica(d->stream)),
        .counters = miz_stream_counters(d->stream),
    };
    st.stale = st.silent_ms > MIZ_LIVENESS * d->heartbeat_ms;
    miz_stream_stats(d->stream, &st.stats);
    if (d->live)
        live_stats(d->live, &st.live);
    return st;
}

figures_t *dash_week_figures(const dash_t *d)
{
    uint64_t now = clock_ms(CLOCK_REALTIME);
    return figures_compute(miz_stream_replica(d->stream), d->ids, d->n_names,
                           jalali_week_start(fig_day(now)), 7, now);
}

/* ---- the loop ---- */

typedef struct {
    dash_t d;
    struct event *zmq_ev[2], *tick, *sigs[2];
    bool dirty; /* the replica changed since the last push */
    bool stale; /* as the live pages were last told */
    uint64_t moves; /* the stream's moves to another broker, as last logged */
} main_t;

/* The broker's counters come every heartbeat: a new `at` says it lives. */
static void main_note_counters(main_t *m)
{
    const msgpack_object *c = miz_stream_counters(m->d.stream);
    if (!c || c->type != MSGPACK_OBJECT_MAP)
        return;
    for (uint32_t i = 0; i < c->via.map.size; i++) {
        const msgpack_object_kv *kv = &c->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == 2 &&
            memcmp(kv->key.via.str.ptr, "at", 2) == 0 &&
            kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
            kv->val.via.u64 != m->d.counters_at) {
            m->d.counters_at = kv->val.via.u64;
            m->d.counters_mono = clock_ms(CLOCK_MONOTONIC);
        }
    }
}

static void main_pump(main_t *m)
{
    int rc = miz_stream_pump(m->d.stream, 0);
    if (rc > 0)
        m->dirty = true;
    else if (rc < 0)
        dlog(DLOG_STREAM, "%s", strerror(errno));
    miz_stream_stats_t st;
    miz_stream_stats(m->d.stream, &st);
    if (st.moves != m->moves) { /* the broker in use went silent */
        m->moves = st.moves;
        dlog(DLOG_STREAM, "no answer from the broker: now events from %s, snapshots from %s",
             miz_stream_events_endpoint(m->d.stream), miz_stream_clients_endpoint(m->d.stream));
    }
    main_note_counters(m);
}

static void main_on_zmq(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    main_pump(arg);
}

/* Once a second: times out snapshots, notices a silent broker, and pushes
 * the figures to the live pages when they changed (at most once a second,
 * however busy the broker). */
static void main_on_tick(evutil_socket_t fd, short what, void *arg)
{
    main_t *m = arg;
    (void)fd;
    (void)what;
    main_pump(m);
    bool stale = dash_state(&m->d).stale;
    if (stale != m->stale) /* went silent, or back: the pages say so */
        m->dirty = true;
    m->stale = stale;
    live_tick(m->d.live, m->dirty);
    weekly_tick(m->d.weekly);
    m->dirty = false;
    dlog_flush();
}

static void main_on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopexit(((main_t *)arg)->d.base, NULL);
}

static void main_usage(FILE *out)
{
    fprintf(out,
            "usage: miz-dashboard [-c TABLE] [--http ADDR:PORT] [--events EP] [--clients EP]\n"
            "       miz-dashboard --version\n"
            "                     [--key FILE --server-key FILE] [--token-file FILE]\n"
            "                     [--request-timeout S] [--max-live N] [--live-backlog BYTES]\n"
            "                     [--live-stall S]\n"
            "  -c, --config TABLE    the routing table, for the agencies' names and the\n"
            "                        broker's endpoints (default " DEFAULT_CONFIG ")\n"
            "  --http ADDR:PORT      where to serve (default " DEFAULT_HTTP ")\n"
            "  --events EP[,EP..]    the broker's events endpoint (default: the table's)\n"
            "  --clients EP[,EP..]   the broker's clients endpoint (default: the table's);\n"
            "                        with several brokers, lists of the same length: the\n"
            "                        i-th of each is one broker's pair\n"
            "  --key FILE            CURVE: the dashboard's .key_secret (role dashboard)\n"
            "  --server-key FILE     CURVE: the broker's .key\n"
            "  --token-file FILE     serve only requests that carry the token in FILE\n"
            "  --request-timeout S   seconds a request may take to arrive (default 10)\n"
            "  --max-live N          live pages at once (default 64)\n"
            "  --live-backlog BYTES  unread bytes before a live page skips updates (default 1048576)\n"
            "  --live-stall S        a live page that reads nothing this long is dropped (default 60)\n");
}

/* The token: the file's first line, TOKEN_MIN to TOKEN_MAX characters that
 * are safe in a header, a cookie and a URL. */
static char *main_read_token(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[TOKEN_MAX + 2] = "";
    if (!f) {
        fprintf(stderr, "miz-dashboard: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    bool read = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    size_t n = strcspn(line, "\r\n");
    line[n] = '\0';
    bool ok = read && n >= TOKEN_MIN && n <= TOKEN_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)line[i]) || strchr("-._~", line[i]);
    if (!ok) {
        fprintf(stderr, "miz-dashboard: %s: the token must be one line of %d to %d letters, "
                        "digits, '-', '.', '_' or '~'\n", path, TOKEN_MIN, TOKEN_MAX);
        return NULL;
    }
    return strdup(line);
}

/* The two lists, checked before anything starts: pairs, so as many of each. */
static bool main_check_endpoints(const char *events_ep, const char *clients_ep)
{
    char err[512];
    int ne = miz_endpoints_check(events_ep, err, sizeof err), nc;
    if (ne < 0) {
        fprintf(stderr, "miz-dashboard: --events: %s\n", err);
        return false;
    }
    if ((nc = miz_endpoints_check(clients_ep, err, sizeof err)) < 0) {
        fprintf(stderr, "miz-dashboard: --clients: %s\n", err);
        return false;
    }
    if (ne != nc) {
        fprintf(stderr, "miz-dashboard: %d events endpoints and %d clients endpoints: give one "
                        "pair per broker, in the same order\n", ne, nc);
        return false;
    }
    return true;
}

static bool main_load_names(dash_t *d, const table_t *t)
{
    d->table = t;
    d->n_names = table_agency_count(t);
    d->names = calloc(d->n_names + 1, sizeof *d->names);
    d->ids = calloc(d->n_names + 1, sizeof *d->ids);
    if (!d->names || !d->ids)
        return false;
    for (size_t i = 0; i < d->n_names; i++) {
        const agency_t *a = table_agency(t, i);
        d->names[i] = (render_agency_t){a->id, a->name_fa, a->name_en};
        d->ids[i] = a->id;
    }
    return true;
}

static int main_serve(main_t *m, const char *addr, unsigned short port, const char *events_ep)
{
    dash_t *d = &m->d;
    d->base = event_base_new();
    d->stream = d->base ? miz_stream_new(NULL, events_ep, d->clients_ep, d->curve, DASH_KEEP_MS)
                        : NULL;
    d->live = d->base ? live_new(d) : NULL;
    d->fetch = d->base ? fetch_new(d) : NULL;
    const table_reports_t *reports = table_reports(d->table);
    d->weekly = d->base && reports ? weekly_new(d, reports) : NULL;
    if (!d->stream || !d->live || !d->fetch || (reports && !d->weekly)) {
        fprintf(stderr, "miz-dashboard: cannot start: %s\n", strerror(errno));
        return 1;
    }
    d->counters_mono = clock_ms(CLOCK_MONOTONIC);
    unsigned short bound;
    if (server_start(d, addr, port, &bound) < 0)
        return 1;
    int fds[2];
    if (miz_stream_fds(d->stream, fds) < 0)
        return 1;
    for (int i = 0; i < 2; i++) {
        m->zmq_ev[i] = event_new(d->base, fds[i], EV_READ | EV_PERSIST, main_on_zmq, m);
        event_add(m->zmq_ev[i], NULL);
    }
    struct timeval second = {1, 0};
    m->tick = event_new(d->base, -1, EV_PERSIST, main_on_tick, m);
    event_add(m->tick, &second);
    m->sigs[0] = evsignal_new(d->base, SIGINT, main_on_signal, m);
    m->sigs[1] = evsignal_new(d->base, SIGTERM, main_on_signal, m);
    event_add(m->sigs[0], NULL);
    event_add(m->sigs[1], NULL);
    signal(SIGPIPE, SIG_IGN);
    printf("miz-dashboard: serving http://%s:%u/, events from %s, snapshots from %s\n", addr,
           bound, events_ep, d->clients_ep);
    fflush(stdout);
    event_base_dispatch(d->base);
    return 0;
}

static void main_free(main_t *m)
{
    weekly_destroy(&m->d.weekly);
    fetch_destroy(&m->d.fetch);
    live_destroy(&m->d.live); /* the live pages reconnect to the next dashboard */
    for (int i = 0; i < 2; i++) {
        if (m->zmq_ev[i])
            event_free(m->zmq_ev[i]);
        if (m->sigs[i])
            event_free(m->sigs[i]);
    }
    if (m->tick)
        event_free(m->tick);
    if (m->d.http)
        evhttp_free(m->d.http);
    miz_stream_destroy(&m->d.stream);
    if (m->d.base)
        event_base_free(m->d.base);
    free(m->d.names);
    free(m->d.ids);
    free((char *)m->d.token);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},       {"http", required_argument, NULL, 'H'},
        {"events", required_argument, NULL, 'E'},       {"clients", required_argument, NULL, 'C'},
        {"key", required_argument, NULL, 'k'},          {"server-key", required_argument, NULL, 's'},
        {"token-file", required_argument, NULL, 'T'},   {"request-timeout", required_argument, NULL, 't'},
        {"max-live", required_argument, NULL, 'L'},     {"live-backlog", required_argument, NULL, 'B'},
        {"live-stall", required_argument, NULL, 'S'},   {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},           {NULL, 0, NULL, 0},
    };
    const char *config = DEFAULT_CONFIG, *events_ep = NULL, *clients_ep = NULL;
    const char *key = NULL, *server_key = NULL, *token_file = NULL;
    char http[128] = DEFAULT_HTTP;
    dash_limits_t limits = default_limits;
    long long v;
    int c;
    bool bad = false;
    while ((c = getopt_long(argc, argv, "c:hV", options, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'H': snprintf(http, sizeof http, "%s", optarg); break;
        case 'E': events_ep = optarg; break;
        case 'C': clients_ep = optarg; break;
        case 'k': key = optarg; break;
        case 's': server_key = optarg; break;
        case 'T': token_file = optarg; break;
        case 't': bad |= !cli_number(optarg, 1, 3600, &v); limits.request_timeout_s = (int)v; break;
        case 'L': bad |= !cli_number(optarg, 1, 10000, &v); limits.max_live = (size_t)v; break;
        case 'B': bad |= !cli_number(optarg, 1024, 1 << 30, &v); limits.live_backlog = (size_t)v; break;
        case 'S': bad |= !cli_number(optarg, 1, 3600, &v); limits.live_stall_s = (int)v; break;
        case 'h': main_usage(stdout); return 0;
        case 'V': printf("miz-dashboard %s\n", MIZ_VERSION); return 0;
        default: main_usage(stderr); return 2;
        }
    }
    const char *addr;
    unsigned short port;
    if (bad || optind != argc || !cli_split_http(http, &addr, &port)) {
        main_usage(stderr);
        return 2;
    }
    char *errors = NULL;
    table_t *table = table_load(config, &errors);
    if (!table) {
        fprintf(stderr, "%s", errors ? errors : "miz-dashboard: cannot load the table\n");
        free(errors);
        return 1;
    }
    main_t m = {.d = {.clients_ep = clients_ep ? clients_ep : table_conf(table)->clients_endpoint,
                      .limits = limits,
                      .heartbeat_ms = table_conf(table)->heartbeat_ms}};
    cli_curve_t curve;
    int rc = cli_curve("miz-dashboard", key, server_key, &curve);
    m.d.curve = curve.use;
    if (!rc && token_file && !(m.d.token = main_read_token(token_file)))
        rc = 2;
    if (!events_ep)
        events_ep = table_conf(table)->events_endpoint;
    if (!rc && !main_check_endpoints(events_ep, m.d.clients_ep))
        rc = 2;
    dlog_init();
    if (!rc)
        rc = main_load_names(&m.d, table) ? main_serve(&m, addr, port, events_ep) : 1;
    main_free(&m);
    table_destroy(&table);
    return rc;
}
