/* miz-open311: intake over HTTP, the Open311 GeoReport v2 API in front of
 * mizd. A citizen's app or a city's portal lists the services (the routing
 * table's topics), posts a request and gets its service_request_id (the
 * tracking number) at once, and asks how it stands. The gateway keeps no
 * state of its own: each post is a submit and each question a status
 * command to mizd (link.c), so it can be restarted, or run twice behind a
 * proxy, at will. This file is the process: its options, the loop, and
 * SIGHUP, which reads the table's services again. docs/open311.md
 * describes it. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert.h"
#include "cli_args.h"
#include "o311_int.h"

#define DEFAULT_CONFIG "/etc/miz/miz.yaml"
#define DEFAULT_HTTP "127.0.0.1:8311"
#define MAX_PENDING 1024 /* requests waiting for mizd at once; more get 503 */
#define API_KEYS_MAX 1024
#define API_KEY_MIN 16
#define API_KEY_MAX 256

static const o311_limits_t default_limits = {
    .request_timeout_s = 10,
    .max_header_bytes = 8192,
    .max_body_bytes = 65536,
};

typedef struct {
    o311_t g;
    const char *config;
    struct event *sigs[3];
} main_t;

static void main_usage(FILE *out)
{
    fprintf(out,
            "usage: miz-open311 [-c TABLE] [--http ADDR:PORT] [--clients EP[,EP..]]\n"
            "                   [--key FILE --server-key FILE] [--api-keys FILE]\n"
            "                   [--jurisdiction ID] [--lang fa|en] [--broker-timeout MS]\n"
            "                   [--request-timeout S] [--max-body BYTES]\n"
            "       miz-open311 --version\n"
            "  -c, --config TABLE    the routing table: its topics are the services\n"
            "                        (default " DEFAULT_CONFIG ")\n"
            "  --http ADDR:PORT      where to serve (default " DEFAULT_HTTP ")\n"
            "  --clients EP[,EP..]   the broker's clients endpoint (default: the table's)\n"
            "  --key FILE            CURVE: the gateway's .key_secret (role gateway)\n"
            "  --server-key FILE     CURVE: the broker's .key\n"
            "  --api-keys FILE       posts need one of its keys (one a line) as api_key\n"
            "  --jurisdiction ID     the jurisdiction_id this server answers for\n"
            "  --lang fa|en          the language of names (default fa)\n"
            "  --broker-timeout MS   how long mizd may take to answer (default 3000)\n"
            "  --request-timeout S   seconds a request may take to arrive (default 10)\n"
            "  --max-body BYTES      the largest post (default 65536)\n");
}

/* The API keys: one a line, API_KEY_MIN to API_KEY_MAX visible ASCII
 * characters; blank lines and lines starting with '#' are skipped. */
static int main_read_keys(o311_t *g, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[API_KEY_MAX + 3];
    unsigned no = 0;
    if (!f) {
        fprintf(stderr, "miz-open311: %s: %s\n", path, strerror(errno));
        return -1;
    }
    g->api_keys = calloc(API_KEYS_MAX, sizeof *g->api_keys);
    int rc = g->api_keys ? 0 : -1;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        size_t n = strcspn(line, "\r\n");
        bool whole = line[n] != '\0' || feof(f);
        no++;
        line[n] = '\0';
        if (n == 0 || line[0] == '#')
            continue;
        bool ok = whole && n >= API_KEY_MIN && n <= API_KEY_MAX && g->n_api_keys < API_KEYS_MAX;
        for (size_t i = 0; ok && i < n; i++)
            ok = line[i] > 0x20 && line[i] < 0x7F;
        if (!ok || !(g->api_keys[g->n_api_keys++] = strdup(line))) {
            fprintf(stderr, "miz-open311: %s:%u: a key is %d to %d visible ASCII characters, "
                            "at most %d keys\n", path, no, API_KEY_MIN, API_KEY_MAX, API_KEYS_MAX);
            rc = -1;
        }
    }
    fclose(f);
    if (rc == 0 && g->n_api_keys == 0) {
        fprintf(stderr, "miz-open311: %s: no keys\n", path);
        rc = -1;
    }
    return rc;
}

/* Reads the table and lists its services, replacing those in use. */
static int main_load(main_t *m)
{
    char *errors = NULL;
    table_t *t = table_load(m->config, &errors);
    services_t *s = t ? services_new(t) : NULL;
    if (!s) {
        fprintf(stderr, "%s", errors ? errors : "miz-open311: cannot list the services\n");
        free(errors);
        table_destroy(&t);
        return -1;
    }
    services_destroy(&m->g.services);
    table_destroy(&m->g.table);
    m->g.table = t;
    m->g.services = s;
    fprintf(stderr, "miz-open311: %zu services from %s\n", services_count(s), m->config);
    return 0;
}

#define STOP_FLUSH_MS 200 /* for the 503s of a stop to reach their clients */

static void main_on_signal(evutil_socket_t sig, short what, void *arg)
{
    main_t *m = arg;
    struct timeval flush = {0, STOP_FLUSH_MS * 1000};
    (void)what;
    if (sig != SIGHUP) {
        m->g.stopping = true;
        link_fail_all(m->g.link); /* each request still waiting gets its 503 */
        event_base_loopexit(m->g.base, &flush);
    } else if (main_load(m) < 0) {
        fprintf(stderr, "miz-open311: %s refused: the services in use stay\n", m->config);
    }
}

static int main_serve(main_t *m, const char *addr, unsigned short port, const char *clients,
                      const miz_curve_t *curve)
{
    o311_t *g = &m->g;
    unsigned short bound;
    static const int signals[] = {SIGINT, SIGTERM, SIGHUP};
    if (!(g->base = event_base_new()) ||
        !(g->link = link_new(g->base, clients, curve, g->broker_timeout_ms, MAX_PENDING))) {
        fprintf(stderr, "miz-open311: cannot start: %s\n", strerror(errno));
        return 1;
    }
    if (http_start(g, addr, port, &bound) < 0)
        return 1;
    for (size_t i = 0; i < 3; i++) {
        m->sigs[i] = evsignal_new(g->base, signals[i], main_on_signal, m);
        if (!m->sigs[i] || event_add(m->sigs[i], NULL) < 0)
            return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    printf("miz-open311: serving http://%s:%u/, broker %s\n", addr, bound, clients);
    fflush(stdout);
    event_base_dispatch(g->base);
    return 0;
}

static void main_free(main_t *m)
{
    o311_t *g = &m->g;
    link_destroy(&g->link); /* requests still waiting get 503 */
    for (size_t i = 0; i < 3; i++)
        if (m->sigs[i])
            event_free(m->sigs[i]);
    if (g->http)
        evhttp_free(g->http);
    if (g->base)
        event_base_free(g->base);
    services_destroy(&g->services);
    table_destroy(&g->table);
    for (size_t i = 0; i < g->n_api_keys; i++)
        free(g->api_keys[i]);
    free(g->api_keys);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},        {"http", required_argument, NULL, 'H'},
        {"clients", required_argument, NULL, 'C'},       {"key", required_argument, NULL, 'k'},
        {"server-key", required_argument, NULL, 's'},    {"api-keys", required_argument, NULL, 'A'},
        {"jurisdiction", required_argument, NULL, 'J'},  {"lang", required_argument, NULL, 'l'},
        {"broker-timeout", required_argument, NULL, 'b'},
        {"request-timeout", required_argument, NULL, 't'},
        {"max-body", required_argument, NULL, 'M'},      {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},             {NULL, 0, NULL, 0},
    };
    main_t m = {.config = DEFAULT_CONFIG,
                .g = {.limits = default_limits, .broker_timeout_ms = 3000}};
    const char *clients = NULL, *key = NULL, *server_key = NULL, *api_keys = NULL;
    char http[128] = DEFAULT_HTTP;
    long long v;
    int c;
    bool bad = false;
    while ((c = getopt_long(argc, argv, "c:hV", options, NULL)) != -1) {
        switch (c) {
        case 'c': m.config = optarg; break;
        case 'H': snprintf(http, sizeof http, "%s", optarg); break;
        case 'C': clients = optarg; break;
        case 'k': key = optarg; break;
        case 's': server_key = optarg; break;
        case 'A': api_keys = optarg; break;
        case 'J': m.g.jurisdiction = optarg; break;
        case 'l':
            bad |= strcmp(optarg, "fa") != 0 && strcmp(optarg, "en") != 0;
            m.g.english = strcmp(optarg, "en") == 0;
            break;
        case 'b': bad |= !cli_number(optarg, 10, 600000, &v); m.g.broker_timeout_ms = (int)v; break;
        case 't': bad |= !cli_number(optarg, 1, 3600, &v); m.g.limits.request_timeout_s = (int)v; break;
        case 'M': bad |= !cli_number(optarg, 1024, 1 << 24, &v); m.g.limits.max_body_bytes = (size_t)v; break;
        case 'h': main_usage(stdout); return 0;
        case 'V': printf("miz-open311 %s\n", MIZ_VERSION); return 0;
        default: main_usage(stderr); return 2;
        }
    }
    const char *addr;
    unsigned short port;
    if (bad || optind != argc || !cli_split_http(http, &addr, &port)) {
        main_usage(stderr);
        return 2;
    }
    cli_curve_t curve;
    char err[512];
    int rc = cli_curve("miz-open311", key, server_key, &curve);
    if (!rc && api_keys && main_read_keys(&m.g, api_keys) < 0)
        rc = 2;
    if (!rc && main_load(&m) < 0)
        rc = 1;
    if (!rc && !clients)
        clients = table_conf(m.g.table)->clients_endpoint;
    if (!rc && miz_endpoints_check(clients, err, sizeof err) < 0) {
        fprintf(stderr, "miz-open311: --clients: %s\n", err);
        rc = 2;
    }
    if (!rc)
        rc = main_serve(&m, addr, port, clients, curve.use);
    main_free(&m);
    return rc;
}
