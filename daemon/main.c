/* mizd: the miz broker daemon. Parses the command line, loads the routing
 * table and runs the broker in one libevent loop: SIGHUP reloads the table,
 * SIGINT or SIGTERM stop it cleanly. Under systemd it says so (notify.h):
 * READY once it serves or waits as a standby (STATUS= says which), a
 * watchdog ping from the loop itself, RELOADING and STOPPING. A mizd that
 * another took the store's lease from exits with EXIT_DEPOSED. */
#include <event2/event.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker.h"
#include "clock.h"
#include "engine.h"
#include "log.h"
#include "notify.h"
#include "reload.h"
#include "table.h"

#ifndef MIZ_VERSION
#define MIZ_VERSION "0"
#endif
#define DEFAULT_CONFIG "/etc/miz/miz.yaml"
#define STATUS_EVERY_US 5000000 /* STATUS= when there is no watchdog to ride on */
#define MAX_CALLBACKS_PER_POLL 8 /* then timers, signals and the other sockets get a look */
#define RELOAD_TIMEOUT_MS 60000 /* --reload: under systemd's default TimeoutStartSec (90 s) */
#define EXIT_DEPOSED 3 /* another mizd took the lease: systemd starts this one again, a standby */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: mizd [-c FILE] [--data-dir DIR | --store-dsn DSN | --memory]\n"
            "            [--clients ENDPOINT]\n"
            "            [--workers ENDPOINT] [--events ENDPOINT] [--log-level LEVEL]\n"
            "       mizd --check FILE\n"
            "       mizd [-c FILE] --check-store DIR\n"
            "       mizd --reload PID\n"
            "\n"
            "  -c, --config FILE     routing table (default " DEFAULT_CONFIG ")\n"
            "      --data-dir DIR    where the store lives (overrides the table's data_dir)\n"
            "      --store-dsn DSN   keep the store in PostgreSQL (a libpq connection\n"
            "                        string), shared with standby mizd (docs/ha.md)\n"
            "      --memory          keep no store: a restart forgets every request\n"
            "                        (for tests and benchmarks only)\n"
            "      --clients EP      endpoint for intake gateways (overrides the table)\n"
            "      --workers EP      endpoint for agency workers (overrides the table)\n"
            "      --events EP       endpoint of the event stream (overrides the table)\n"
            "      --log-level L     error, warn, info (default) or debug\n"
            "      --check FILE      validate a routing table and exit (0: valid, 1: errors)\n"
            "      --check-store DIR walk the store in DIR offline (every table, every\n"
            "                        record decoded) and exit (0: sound, 1: damaged)\n"
            "      --reload PID      reload the mizd of that PID and wait for the outcome\n"
            "                        (0: taken, 1: refused or unknown; needs $RUNTIME_DIRECTORY)\n"
            "  -h, --help            this text\n"
            "  -V, --version         the version\n");
}

/* Loads a table; its errors go to stderr as they are (--check) or, for the
 * daemon, as log lines after a heading, the first one also into first. */
static table_t *load(const char *path, const char *heading, char *first, size_t firstlen)
{
    char *errors = NULL;
    table_t *t = table_load(path, &errors);
    if (t)
        return t;
    if (first && errors)
        snprintf(first, firstlen, "%.*s", (int)strcspn(errors, "\n"), errors);
    if (!heading) {
        fputs(errors ? errors : "cannot load the routing table\n", stderr);
    } else {
        log_line(LOG_ERROR, "%s", heading);
        for (const char *line = errors; line && *line;) {
            size_t n = strcspn(line, "\n");
            log_line(LOG_ERROR, "  %.*s", (int)n, line);
            line += n + (line[n] == '\n');
        }
    }
    free(errors);
    return NULL;
}

static int check_store_send(void *ctx, engine_socket_t to, const void *rid, size_t rid_len,
                            const void *body, size_t len)
{
    (void)ctx, (void)to, (void)rid, (void)rid_len, (void)body, (void)len;
    return -1;
}

static void check_store_now(void *ctx, uint64_t *mono, uint64_t *wall)
{
    (void)ctx;
    *mono = *wall = 0;
}

/* mizd --check-store DIR: the store walked offline (store_check), each
 * record decoded by an engine without a store (the table only names the
 * agencies; a record's agency the table lacks is no fault). */
static int check_store_run(const char *config, const char *dir)
{
    table_t *t = load(config, NULL, NULL, 0);
    if (!t)
        return 1;
    char err[512];
    engine_io_t io = {.send = check_store_send, .now = check_store_now};
    engine_t *e = engine_new(t, NULL, NULL, &io, LOG_ERROR, err, sizeof err);
    if (!e) {
        fprintf(stderr, "mizd: %s\n", err);
        return 1;
    }
    long problems = store_check(dir, engine_check_record, e, stdout);
    engine_destroy(&e);
    return problems ? 1 : 0;
}

/* --check: a calendar that lists no holiday in the current Jalali year (or,
 * from 16 Esfand on, in the next one) would count the official holidays as
 * working days. A warning, not an error: the table stays valid. */
static void warn_holidays(const table_t *t, const char *path)
{
    int years[2];
    int n = table_holiday_years_due(clock_ms(CLOCK_REALTIME), years);
    for (size_t c = 0; c < table_calendar_count(t); c++) {
        unsigned line, col;
        const char *name = table_calendar_name(t, c, &line, &col);
        for (int i = 0; i < n; i++)
            if (!table_calendar_has_holiday(t, c, years[i]))
                fprintf(stderr,
                        "%s:%u:%u: warning: calendar \"%s\" lists no holidays in %d, %s: its "
                        "deadlines will count that year's official holidays as working days\n",
                        path, line, col, name, years[i],
                        i == 0 ? "the current Jalali year"
                               : "the next Jalali year, whose holidays are out by mid-Esfand");
    }
}

typedef struct {
    struct event_base *base;
    broker_t *broker;
    log_level_t level;
    const char *config;
    notify_t *notify;
    bool watchdog;
    unsigned long reloads;
} daemon_t;

static void notify_status(daemon_t *d, const char *state)
{
    broker_stats_t st;
    broker_stats(d->broker, &st);
    notify_send(d->notify, "%sSTATUS=%s; %zu open requests, %zu workers%s", state, st.role,
                st.open_requests, st.workers,
                st.store_failed ? ", store failing: refusing submissions" : "");
}

/* Rides the loop, so a loop stuck anywhere stops the pings. */
static void on_status(evutil_socket_t fd, short what, void *arg)
{
    daemon_t *d = arg;
    (void)fd, (void)what;
    notify_status(d, d->watchdog ? "WATCHDOG=1\n" : "");
}

static void reload(daemon_t *d)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (d->notify)
        notify_send(d->notify, "RELOADING=1\nMONOTONIC_USEC=%llu",
                    (unsigned long long)now.tv_sec * 1000000 + (unsigned long long)now.tv_nsec / 1000);
    if (d->level >= LOG_INFO)
        log_line(LOG_INFO, "SIGHUP received, reloading %s", d->config);
    char why[512] = "cannot load the routing table", err[256];
    table_t *t = load(d->config, "reload refused, the routing table in use stays:", why, sizeof why);
    if (t && broker_reload(d->broker, t, why, sizeof why) < 0) {
        log_line(LOG_ERROR, "reload refused, the routing table in use stays: %s", why);
        table_destroy(&t);
    }
    if (reload_record(++d->reloads, t != NULL, why, err, sizeof err) < 0 && d->level >= LOG_WARN)
        log_line(LOG_WARN, "cannot tell --reload the outcome: %s", err);
    if (d->notify)
        notify_status(d, "READY=1\n");
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    daemon_t *d = arg;
    (void)what;
    if (sig == SIGHUP) {
        reload(d);
        return;
    }
    if (d->level >= LOG_INFO)
        log_line(LOG_INFO, "%s received, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    if (d->notify)
        notify_send(d->notify, "STOPPING=1");
    broker_stop(d->broker);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},  {"clients", required_argument, NULL, 'C'},
        {"workers", required_argument, NULL, 'W'}, {"log-level", required_argument, NULL, 'l'},
        {"check", required_argument, NULL, 'k'},   {"help", no_argument, NULL, 'h'},
        {"data-dir", required_argument, NULL, 'd'}, {"memory", no_argument, NULL, 'm'},
        {"version", no_argument, NULL, 'V'},       {"events", required_argument, NULL, 'E'},
        {"reload", required_argument, NULL, 'r'},  {"check-store", required_argument, NULL, 'S'},
        {"store-dsn", required_argument, NULL, 'D'},
        {NULL, 0, NULL, 0},
    };
    const char *config = DEFAULT_CONFIG, *check = NULL, *reload_pid = NULL, *check_store = NULL;
    broker_opts_t opts = {.log_level = LOG_INFO};
    int c;
    while ((c = getopt_long(argc, argv, "c:hV", options, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'C': opts.clients_endpoint = optarg; break;
        case 'W': opts.workers_endpoint = optarg; break;
        case 'E': opts.events_endpoint = optarg; break;
        case 'k': check = optarg; break;
        case 'r': reload_pid = optarg; break;
        case 'S': check_store = optarg; break;
        case 'd': opts.data_dir = optarg; break;
        case 'D': opts.store_dsn = optarg; break;
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
    if (reload_pid) {
        char *end, msg[1024];
        long pid = strtol(reload_pid, &end, 10);
        if (*end || end == reload_pid || pid < 1 || pid > INT_MAX) {
            fprintf(stderr, "mizd: --reload wants a process id, not \"%s\"\n", reload_pid);
            return 2;
        }
        int rc = reload_request((pid_t)pid, RELOAD_TIMEOUT_MS, msg, sizeof msg);
        fprintf(stderr, "mizd: %s\n", msg);
        return rc == 0 ? 0 : 1;
    }
    if (check) {
        table_t *t = load(check, NULL, NULL, 0);
        if (!t)
            return 1;
        warn_holidays(t, check);
        printf("%s: ok, %zu agencies, %zu routes\n", check, table_agency_count(t),
               table_route_count(t));
        table_destroy(&t);
        return 0;
    }
    if (check_store)
        return check_store_run(config, check_store);

    table_t *table = load(config, "cannot start: the routing table has errors:", NULL, 0);
    if (!table)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    /* a file size limit makes a write fail (EFBIG), handled like a full disk */
    signal(SIGXFSZ, SIG_IGN);
    /* A socket with input left re-activates itself (zev.h); without a cap
     * libevent would run such callbacks back to back under load and never
     * look at timers (deadlines, heartbeats) or signals meanwhile. */
    struct event_config *cfg = event_config_new();
    struct event_base *base =
        cfg && event_config_set_max_dispatch_interval(cfg, NULL, MAX_CALLBACKS_PER_POLL, 0) == 0
            ? event_base_new_with_config(cfg)
            : NULL;
    if (cfg)
        event_config_free(cfg);
    if (!base) {
        log_line(LOG_ERROR, "cannot create the event loop");
        table_destroy(&table);
        return 1;
    }
    char err[512];
    daemon_t d = {.base = base, .level = opts.log_level, .config = config};
    d.notify = notify_new(err, sizeof err);
    if (!d.notify && err[0] && d.level >= LOG_WARN)
        log_line(LOG_WARN, "%s; not telling systemd", err);
    d.broker = broker_new(base, table, &opts, err, sizeof err);
    if (!d.broker) {
        log_line(LOG_ERROR, "%s", err);
        notify_destroy(&d.notify);
        event_base_free(base);
        return 1;
    }
    static const int signals[] = {SIGINT, SIGTERM, SIGHUP};
    struct event *sig[3];
    for (size_t i = 0; i < 3; i++) {
        sig[i] = evsignal_new(base, signals[i], on_signal, &d);
        evsignal_add(sig[i], NULL);
    }
    struct event *status = NULL;
    if (d.notify) {
        uint64_t us = notify_watchdog_usec() / 2; /* as sd_watchdog_enabled(3) advises */
        d.watchdog = us > 0;
        if (!d.watchdog || us > STATUS_EVERY_US)
            us = STATUS_EVERY_US;
        struct timeval every = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
        status = event_new(base, -1, EV_PERSIST, on_status, &d);
        event_add(status, &every);
    }
    if (reload_ready(err, sizeof err) < 0 && d.level >= LOG_WARN)
        log_line(LOG_WARN, "cannot tell --reload the outcome: %s", err);
    if (d.level >= LOG_INFO)
        log_line(LOG_INFO, "mizd %s running with %s", MIZ_VERSION, config);
    if (d.notify)
        notify_status(&d, "READY=1\n");
    event_base_dispatch(base);
    broker_stats_t st;
    broker_stats(d.broker, &st);
    broker_destroy(&d.broker);
    if (status)
        event_free(status);
    for (size_t i = 0; i < 3; i++)
        event_free(sig[i]);
    event_base_free(base);
    notify_destroy(&d.notify);
    if (d.level >= LOG_INFO)
        log_line(LOG_INFO, "stopped");
    return st.deposed ? EXIT_DEPOSED : st.failed ? 1 : 0;
}
