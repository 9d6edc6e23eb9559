/* mizd: the miz broker daemon. Parses the command line, loads the routing
 * table and runs the broker in one libevent loop until SIGINT or SIGTERM. */
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "log.h"
#include "table.h"

#ifndef MIZ_VERSION
#define MIZ_VERSION "0"
#endif
#define DEFAULT_CONFIG "/etc/miz/miz.yaml"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: mizd [-c FILE] [--data-dir DIR | --memory] [--clients ENDPOINT]\n"
            "            [--workers ENDPOINT] [--log-level LEVEL]\n"
            "       mizd --check FILE\n"
            "\n"
            "  -c, --config FILE     routing table (default " DEFAULT_CONFIG ")\n"
            "      --data-dir DIR    where the store lives (overrides the table's data_dir)\n"
            "      --memory          keep no store: a restart forgets every request\n"
            "                        (for tests and benchmarks only)\n"
            "      --clients EP      endpoint for intake gateways (overrides the table)\n"
            "      --workers EP      endpoint for agency workers (overrides the table)\n"
            "      --log-level L     error, warn, info (default) or debug\n"
            "      --check FILE      validate a routing table and exit (0: valid, 1: errors)\n"
            "  -h, --help            this text\n"
            "  -V, --version         the version\n");
}

static table_t *load(const char *path)
{
    char *errors = NULL;
    table_t *t = table_load(path, &errors);
    if (!t) {
        fputs(errors ? errors : "cannot load the routing table\n", stderr);
        free(errors);
    }
    return t;
}

typedef struct {
    struct event_base *base;
    log_level_t level;
} daemon_t;

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    daemon_t *d = arg;
    (void)what;
    if (d->level >= LOG_INFO)
        log_line(LOG_INFO, "%s received, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    event_base_loopbreak(d->base);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},  {"clients", required_argument, NULL, 'C'},
        {"workers", required_argument, NULL, 'W'}, {"log-level", required_argument, NULL, 'l'},
        {"check", required_argument, NULL, 'k'},   {"help", no_argument, NULL, 'h'},
        {"data-dir", required_argument, NULL, 'd'}, {"memory", no_argument, NULL, 'm'},
        {"version", no_argument, NULL, 'V'},       {NULL, 0, NULL, 0},
    };
    const char *config = DEFAULT_CONFIG, *check = NULL;
    broker_opts_t opts = {.log_level = LOG_INFO};
    int c;
    while ((c = getopt_long(argc, argv, "c:hV", options, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'C': opts.clients_endpoint = optarg; break;
        case 'W': opts.workers_endpoint = optarg; break;
        case 'k': check = optarg; break;
        case 'd': opts.data_dir = optarg; break;
        case 'm': opts.memory = true; break;
        case 'l':
            if (log_level_parse(optarg, &opts.log_level) < 0) {
                fprintf(stderr, "mizd: unknown log level \"%s\"\n", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        case 'V': puts("mizd " MIZ_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "mizd: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (check) {
        table_t *t = load(check);
        if (!t)
            return 1;
        printf("%s: ok, %zu agencies, %zu routes\n", check, table_agency_count(t),
               table_route_count(t));
        table_destroy(&t);
        return 0;
    }

    table_t *table = load(config);
    if (!table)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    /* a file size limit makes a write fail (EFBIG), handled like a full disk */
    signal(SIGXFSZ, SIG_IGN);
    struct event_base *base = event_base_new();
    if (!base) {
        log_line(LOG_ERROR, "cannot create the event loop");
        table_destroy(&table);
        return 1;
    }
    char err[512];
    broker_t *broker = broker_new(base, table, &opts, err, sizeof err);
    if (!broker) {
        log_line(LOG_ERROR, "%s", err);
        event_base_free(base);
        return 1;
    }
    daemon_t d = {base, opts.log_level};
    struct event *sigint = evsignal_new(base, SIGINT, on_signal, &d);
    struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, &d);
    evsignal_add(sigint, NULL);
    evsignal_add(sigterm, NULL);
    if (d.level >= LOG_INFO)
        log_line(LOG_INFO, "mizd %s running with %s", MIZ_VERSION, config);
    event_base_dispatch(base);
    broker_destroy(&broker);
    event_free(sigint);
    event_free(sigterm);
    event_base_free(base);
    if (d.level >= LOG_INFO)
        log_line(LOG_INFO, "stopped");
    return 0;
}
