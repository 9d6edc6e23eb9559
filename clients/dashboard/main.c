/* miz-dashboard: the governor's office dashboard. Keeps a replica of the
 * broker's requests from its event stream (lib/stream.h), computes the
 * figures per agency (figures.h) and serves them with libevent's HTTP
 * server: the page, its JSON, server-sent events, Prometheus metrics and
 * the weekly reports. docs/dashboard.md describes it. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "assets.h"
#include "cert.h"
#include "clock.h"
#include "figures.h"
#include "jalali.h"
#include "render.h"
#include "stream.h"
#include "table.h"

#define DEFAULT_CONFIG "/etc/miz/miz.yaml"
#define DEFAULT_HTTP "127.0.0.1:8137"
/* The live figures need this week and the 28 days before it: 35 days, and
 * one more so that a week starting just before midnight is covered. */
#define KEEP_MS (36 * FIG_DAY_MS)
#define MAX_SSE 64
#define SSE_KEEPALIVE_MS 15000
#define FETCH_TIMEOUT_MS 5000

typedef struct {
    struct event_base *base;
    struct evhttp *http;
    miz_stream_t *stream;
    struct event *zmq_ev[2], *tick, *sigs[2];
    const char *clients_ep;
    const miz_curve_t *curve; /* a dashboard key, for a broker with CURVE; NULL: plain */
    const char **ids; /* the table's agencies, in its order */
    render_agency_t *names;
    size_t n_names;
    bool dirty; /* the replica changed since the last push */
    struct evhttp_request *sse[MAX_SSE];
    size_t n_sse;
    uint64_t last_push;
} dash_t;

static render_names_t names_of(const dash_t *d)
{
    return (render_names_t){d->names, d->n_names};
}

static render_state_t state_of(const dash_t *d)
{
    render_state_t st = {
        .synced = miz_stream_synced(d->stream),
        .requests = miz_replica_count(miz_stream_replica(d->stream)),
        .counters = miz_stream_counters(d->stream),
    };
    miz_stream_stats(d->stream, &st.stats);
    return st;
}

/* This Iranian week's figures, from Saturday 00:00 Tehran time to now. */
static figures_t *week_figures(const dash_t *d)
{
    uint64_t now = clock_ms(CLOCK_REALTIME);
    return figures_compute(miz_stream_replica(d->stream), d->ids, d->n_names,
                           jalali_week_start(fig_day(now)), 7, now);
}

/* ---- replies ---- */

/* A reply from what a renderer wrote into a memory stream. */
static void reply_stream(struct evhttp_request *req, char *text, size_t len, const char *type)
{
    struct evbuffer *body = evbuffer_new();
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
    if (body && evbuffer_add(body, text, len) == 0)
        evhttp_send_reply(req, HTTP_OK, "OK", body);
    else
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
    if (body)
        evbuffer_free(body);
    free(text);
}

static void reply_error(struct evhttp_request *req, int code, const char *reason, const char *text)
{
    struct evbuffer *body = evbuffer_new();
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; charset=utf-8");
    if (body)
        evbuffer_add_printf(body, "%s\n", text);
    evhttp_send_reply(req, code, reason, body);
    if (body)
        evbuffer_free(body);
}

typedef enum { OUT_FIGURES, OUT_OVERDUE, OUT_METRICS } output_t;

static bool get_only(struct evhttp_request *req)
{
    if (evhttp_request_get_command(req) == EVHTTP_REQ_GET ||
        evhttp_request_get_command(req) == EVHTTP_REQ_HEAD)
        return true;
    reply_error(req, 405, "Method Not Allowed", "GET only");
    return false;
}

static void serve_output(dash_t *d, struct evhttp_request *req, output_t what)
{
    if (!get_only(req))
        return;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    figures_t *f = out ? week_figures(d) : NULL;
    if (!f) {
        if (out)
            fclose(out);
        free(text);
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    render_names_t names = names_of(d);
    render_state_t st = state_of(d);
    if (what == OUT_FIGURES)
        render_figures_json(out, f, &names, &st);
    else if (what == OUT_OVERDUE)
        render_overdue_json(out, f, &names);
    else
        render_metrics(out, f, &st);
    figures_destroy(&f);
    fclose(out);
    reply_stream(req, text, len,
                 what == OUT_METRICS ? "text/plain; version=0.0.4; charset=utf-8"
                                     : "application/json; charset=utf-8");
}

static void on_figures(struct evhttp_request *req, void *arg)
{
    serve_output(arg, req, OUT_FIGURES);
}

static void on_overdue(struct evhttp_request *req, void *arg)
{
    serve_output(arg, req, OUT_OVERDUE);
}

static void on_metrics(struct evhttp_request *req, void *arg)
{
    serve_output(arg, req, OUT_METRICS);
}

/* ---- the weekly report ---- */

static void on_report(struct evhttp_request *req, void *arg)
{
    dash_t *d = arg;
    if (!get_only(req))
        return;
    struct evkeyvalq q;
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    if (evhttp_parse_query_str(query ? query : "", &q) < 0) {
        reply_error(req, HTTP_BADREQUEST, "Bad Request", "bad query string");
        return;
    }
    const char *week = evhttp_find_header(&q, "week"), *agency = evhttp_find_header(&q, "agency");
    const char *format = evhttp_find_header(&q, "format");
    int wy, wk, day0;
    bool csv = format && strcmp(format, "csv") == 0;
    if (!week || !jalali_week_parse(week, strlen(week), &wy, &wk) ||
        !jalali_week_first_day(wy, wk, &day0)) {
        reply_error(req, HTTP_BADREQUEST, "Bad Request", "week: YYYY-Www, an Iranian week");
    } else if (!agency || !table_is_name(agency, strlen(agency), MIZ_AGENCY_MAX)) {
        reply_error(req, HTTP_BADREQUEST, "Bad Request", "agency: an agency id");
    } else if (format && !csv && strcmp(format, "html") != 0) {
        reply_error(req, HTTP_BADREQUEST, "Bad Request", "format: html or csv");
    } else {
        uint64_t now = clock_ms(CLOCK_REALTIME), since = fig_day_start(day0 - FIG_AVG_DAYS);
        const miz_replica_t *r = miz_stream_replica(d->stream);
        miz_replica_t *old = NULL;
        /* A week older than the replica keeps is fetched from the broker:
         * this blocks the loop for the snapshot's time, as reports of past
         * weeks are rare. */
        if (since + KEEP_MS < now) {
            old = miz_replica_new();
            if (!old || miz_snapshot_fetch(NULL, d->clients_ep, d->curve, since, FETCH_TIMEOUT_MS, old) < 0) {
                miz_replica_destroy(&old);
                reply_error(req, HTTP_SERVUNAVAIL, "Service Unavailable",
                            "the broker did not answer the snapshot");
                evhttp_clear_headers(&q);
                return;
            }
            r = old;
        }
        char *text = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&text, &len);
        render_names_t names = names_of(d);
        bool ok = out && render_report(out, r, agency, &names, day0, now, csv);
        if (out)
            fclose(out);
        if (ok) {
            reply_stream(req, text, len, csv ? "text/csv; charset=utf-8" : "text/html; charset=utf-8");
        } else {
            evhttp_send_error(req, HTTP_INTERNAL, NULL);
            free(text);
        }
        miz_replica_destroy(&old);
    }
    evhttp_clear_headers(&q);
}

/* ---- server-sent events ---- */

static void sse_forget(dash_t *d, struct evhttp_request *req)
{
    for (size_t i = 0; i < d->n_sse; i++)
        if (d->sse[i] == req) {
            d->sse[i] = d->sse[--d->n_sse];
            return;
        }
}

static void on_sse_closed(struct evhttp_connection *conn, void *arg)
{
    dash_t *d = arg;
    for (size_t i = d->n_sse; i-- > 0;)
        if (evhttp_request_get_connection(d->sse[i]) == conn)
            sse_forget(d, d->sse[i]);
}

/* Sends the figures to one subscriber, or to all when req is NULL. */
static void sse_push(dash_t *d, struct evhttp_request *req)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    figures_t *f = out ? week_figures(d) : NULL;
    if (f) { /* nothing rendered: nothing sent */
        render_names_t names = names_of(d);
        render_state_t st = state_of(d);
        fputs("event: figures\ndata: ", out);
        render_figures_json(out, f, &names, &st); /* one line: JSON without newlines */
        fputs("\n\n", out);
        figures_destroy(&f);
    }
    if (out)
        fclose(out);
    for (size_t i = 0; text && len && i < d->n_sse; i++) {
        if (req && d->sse[i] != req)
            continue;
        struct evbuffer *chunk = evbuffer_new();
        if (chunk && evbuffer_add(chunk, text, len) == 0)
            evhttp_send_reply_chunk(d->sse[i], chunk);
        if (chunk)
            evbuffer_free(chunk);
    }
    free(text);
}

static void on_events(struct evhttp_request *req, void *arg)
{
    dash_t *d = arg;
    if (!get_only(req))
        return;
    if (d->n_sse == MAX_SSE) {
        reply_error(req, HTTP_SERVUNAVAIL, "Service Unavailable", "too many live pages");
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "text/event-stream; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply_start(req, HTTP_OK, "OK");
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_sse_closed, d);
    d->sse[d->n_sse++] = req;
    sse_push(d, req);
}

/* ---- the page ---- */

static void on_asset(struct evhttp_request *req, void *arg)
{
    (void)arg;
    if (!get_only(req))
        return;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    const char *name = path && strcmp(path, "/") != 0 ? path + 1 : "index.html";
    for (const asset_t *a = assets; a->name; a++) {
        if (strcmp(a->name, name) != 0)
            continue;
        const char *dot = strrchr(name, '.');
        const char *type = strcmp(dot, ".html") == 0  ? "text/html; charset=utf-8"
                           : strcmp(dot, ".js") == 0  ? "text/javascript; charset=utf-8"
                                                      : "text/css; charset=utf-8";
        struct evbuffer *body = evbuffer_new();
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
        if (body && evbuffer_add_reference(body, a->data, a->size, NULL, NULL) == 0)
            evhttp_send_reply(req, HTTP_OK, "OK", body);
        else
            evhttp_send_error(req, HTTP_INTERNAL, NULL);
        if (body)
            evbuffer_free(body);
        return;
    }
    reply_error(req, HTTP_NOTFOUND, "Not Found", "not found");
}

/* ---- the loop ---- */

static void pump(dash_t *d)
{
    int rc = miz_stream_pump(d->stream, 0);
    if (rc > 0)
        d->dirty = true;
    else if (rc < 0)
        fprintf(stderr, "miz-dashboard: event stream: %s\n", strerror(errno));
}

static void on_zmq(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pump(arg);
}

/* Once a second: times out snapshots, and pushes the figures to the live
 * pages when they changed (at most once a second, however busy the
 * broker), or a comment now and then to keep proxies from closing them. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    dash_t *d = arg;
    (void)fd;
    (void)what;
    pump(d);
    uint64_t now = clock_ms(CLOCK_MONOTONIC);
    if (d->dirty && d->n_sse) {
        sse_push(d, NULL);
        d->dirty = false;
        d->last_push = now;
    } else if (now - d->last_push >= SSE_KEEPALIVE_MS) {
        for (size_t i = 0; i < d->n_sse; i++) {
            struct evbuffer *chunk = evbuffer_new();
            if (chunk && evbuffer_add_printf(chunk, ": keepalive\n\n") > 0)
                evhttp_send_reply_chunk(d->sse[i], chunk);
            if (chunk)
                evbuffer_free(chunk);
        }
        d->last_push = now;
    }
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopexit(((dash_t *)arg)->base, NULL);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: miz-dashboard [-c TABLE] [--http ADDR:PORT] [--events EP] [--clients EP]\n"
                 "                     [--key FILE --server-key FILE]\n"
                 "  -c, --config TABLE  the routing table, for the agencies' names and the\n"
                 "                      broker's endpoints (default " DEFAULT_CONFIG ")\n"
                 "  --http ADDR:PORT    where to serve (default " DEFAULT_HTTP ")\n"
                 "  --events EP         the broker's events endpoint (default: the table's)\n"
                 "  --clients EP        the broker's clients endpoint (default: the table's)\n"
                 "  --key FILE          CURVE: the dashboard's .key_secret (role dashboard)\n"
                 "  --server-key FILE   CURVE: the broker's .key\n");
}

/* "127.0.0.1:8137" into its address and port. */
static bool split_http(char *spec, const char **addr, unsigned short *port)
{
    char *colon = strrchr(spec, ':'), *end;
    if (!colon || colon == spec)
        return false;
    *colon = '\0';
    long p = strtol(colon + 1, &end, 10);
    if (*end || p < 0 || p > 65535 || !colon[1])
        return false;
    *addr = spec;
    *port = (unsigned short)p;
    return true;
}

static bool load_names(dash_t *d, const table_t *t)
{
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

static int serve(dash_t *d, const char *addr, unsigned short port, const char *events_ep)
{
    d->base = event_base_new();
    d->http = d->base ? evhttp_new(d->base) : NULL;
    d->stream = miz_stream_new(NULL, events_ep, d->clients_ep, d->curve, KEEP_MS);
    if (!d->http || !d->stream) {
        fprintf(stderr, "miz-dashboard: cannot start: %s\n", strerror(errno));
        return 1;
    }
    struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(d->http, addr, port);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (!bound || getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &len) < 0) {
        fprintf(stderr, "miz-dashboard: cannot listen on %s:%u\n", addr, port);
        return 1;
    }
    /* port 0 takes a free one: the line below tells which */
    port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
    evhttp_set_allowed_methods(d->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_cb(d->http, "/api/figures", on_figures, d);
    evhttp_set_cb(d->http, "/api/overdue", on_overdue, d);
    evhttp_set_cb(d->http, "/metrics", on_metrics, d);
    evhttp_set_cb(d->http, "/report", on_report, d);
    evhttp_set_cb(d->http, "/events", on_events, d);
    evhttp_set_gencb(d->http, on_asset, d);
    int fds[2];
    if (miz_stream_fds(d->stream, fds) < 0)
        return 1;
    for (int i = 0; i < 2; i++) {
        d->zmq_ev[i] = event_new(d->base, fds[i], EV_READ | EV_PERSIST, on_zmq, d);
        event_add(d->zmq_ev[i], NULL);
    }
    struct timeval second = {1, 0};
    d->tick = event_new(d->base, -1, EV_PERSIST, on_tick, d);
    event_add(d->tick, &second);
    d->sigs[0] = evsignal_new(d->base, SIGINT, on_signal, d);
    d->sigs[1] = evsignal_new(d->base, SIGTERM, on_signal, d);
    event_add(d->sigs[0], NULL);
    event_add(d->sigs[1], NULL);
    signal(SIGPIPE, SIG_IGN);
    printf("miz-dashboard: serving http://%s:%u/, events from %s, snapshots from %s\n", addr,
           port, events_ep, d->clients_ep);
    fflush(stdout);
    event_base_dispatch(d->base);
    for (size_t i = 0; i < d->n_sse; i++) /* the live pages reconnect to the next one */
        evhttp_send_reply_end(d->sse[i]);
    d->n_sse = 0;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'}, {"http", required_argument, NULL, 'H'},
        {"events", required_argument, NULL, 'E'}, {"clients", required_argument, NULL, 'C'},
        {"key", required_argument, NULL, 'k'},    {"server-key", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *config = DEFAULT_CONFIG, *events_ep = NULL, *clients_ep = NULL;
    const char *key = NULL, *server_key = NULL;
    char http[128] = DEFAULT_HTTP;
    int c;
    while ((c = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'H': snprintf(http, sizeof http, "%s", optarg); break;
        case 'E': events_ep = optarg; break;
        case 'C': clients_ep = optarg; break;
        case 'k': key = optarg; break;
        case 's': server_key = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    const char *addr;
    unsigned short port;
    if (optind != argc || !split_http(http, &addr, &port)) {
        usage(stderr);
        return 2;
    }
    char *errors = NULL;
    table_t *table = table_load(config, &errors);
    if (!table) {
        fprintf(stderr, "%s", errors ? errors : "miz-dashboard: cannot load the table\n");
        free(errors);
        return 1;
    }
    dash_t d = {.clients_ep = clients_ep ? clients_ep : table_conf(table)->clients_endpoint};
    miz_cert_t own, server;
    miz_curve_t curve;
    char err[512] = "";
    if (!key != !server_key) {
        fprintf(stderr, "miz-dashboard: CURVE needs both --key and --server-key\n");
        table_destroy(&table);
        return 2;
    }
    if (key) {
        if (miz_curve_load(key, server_key, &own, &server, &curve, err, sizeof err) < 0) {
            fprintf(stderr, "miz-dashboard: %s\n", err);
            table_destroy(&table);
            return 2;
        }
        d.curve = &curve;
    }
    if (!events_ep)
        events_ep = table_conf(table)->events_endpoint;
    int rc = load_names(&d, table) ? serve(&d, addr, port, events_ep) : 1;
    for (int i = 0; i < 2; i++) {
        if (d.zmq_ev[i])
            event_free(d.zmq_ev[i]);
        if (d.sigs[i])
            event_free(d.sigs[i]);
    }
    if (d.tick)
        event_free(d.tick);
    if (d.http)
        evhttp_free(d.http);
    miz_stream_destroy(&d.stream);
    if (d.base)
        event_base_free(d.base);
    free(d.names);
    free(d.ids);
    table_destroy(&table);
    return rc;
}
