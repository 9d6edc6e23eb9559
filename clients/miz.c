/* miz: the command-line client, so a shell script can be an intake gateway
 * or serve as an agency. This file reads the command line and runs the
 * short commands (submit, report, keygen); status is miz_status.c, the
 * worker miz_worker.c (its commands run by miz_exec.c). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert.h"
#include "clock.h"
#include "figures.h"
#include "jalali.h"
#include "miz_int.h"
#include "render.h"
#include "stream.h"
#include "table.h"

void usage(FILE *out)
{
    fprintf(out,
            "usage: miz [-e ENDPOINT[,ENDPOINT..]] [-k KEY -s SERVER_KEY] COMMAND ...\n"
            "       (a command's options may come before or after its arguments)\n"
            "\n"
            "  miz submit TOPIC TEXT [--kind K] [--priority routine|urgent] [--ref REF] [--wait]\n"
            "      submit a request; prints its tracking number (--wait: and its outcome)\n"
            "  miz status NUMBER [--json]\n"
            "      the request's state and every delivery's history, outcome, answer, note\n"
            "      and refusal reason; times in Tehran time (UTC+03:30), Jalali dates\n"
            "  miz worker --agency A [--topics P,P..] [--credit N] [--name N] [--count N]\n"
            "             [--answer TEXT | --exec CMD [--timeout DURATION]] [--outcome O]\n"
            "      take deliveries for agency A, up to N at once, and answer each with TEXT\n"
            "      or with what CMD writes (run by /bin/sh, in a process group of its own,\n"
            "      with the payload on stdin and MIZ_TRACKING, MIZ_DELIVERY, MIZ_TOPIC,\n"
            "      MIZ_KIND, MIZ_PRIORITY, MIZ_AGENCY, MIZ_ROLE set). Lines \"progress: NOTE\"\n"
            "      report progress at once; a first line \"outcome: WORD\" chooses the\n"
            "      outcome; a non-zero exit refuses the delivery with the output as reason;\n"
            "      past DURATION (default 5m) the command is stopped and the delivery refused\n"
            "  miz keygen NAME [--role worker|gateway|dashboard] [--agency A] [--dir DIR]\n"
            "      a CURVE key pair: DIR/NAME.key_secret (yours) and DIR/NAME.key (the broker's)\n"
            "  miz report --week YYYY-Www --agency A [--format html|csv] [-c TABLE]\n"
            "      the weekly report of agency A for an Iranian week (Saturday to Friday),\n"
            "      e.g. 1404-W32; TABLE (the routing table) gives the agencies' names\n"
            "\n"
            "  -e, --endpoint EP   the broker's endpoint (default $MIZ_CLIENTS or\n"
            "                      tcp://127.0.0.1:7370; for worker $MIZ_WORKERS or\n"
            "                      tcp://127.0.0.1:7371); with several brokers sharing a\n"
            "                      store, all their endpoints, EP,EP..: a silent one is\n"
            "                      left for the next\n"
            "  -k, --key FILE      CURVE: our .key_secret (default $MIZ_KEY)\n"
            "  -s, --server-key FILE  CURVE: the broker's .key (default $MIZ_SERVER_KEY)\n"
            "  -V, --version       the version\n"
            "exit status: 0 ok, 1 the broker refused, 2 usage, 3 broker unreachable\n");
}

/* The endpoint list for a command: -e, else $env, else fallback; NULL
 * (said) when it is not a valid list. */
static const char *endpoint_for(const char *given, const char *env, const char *fallback)
{
    const char *e = getenv(env), *list = given ? given : e && *e ? e : fallback;
    char err[512];
    if (miz_endpoints_check(list, err, sizeof err) < 0) {
        fprintf(stderr, "miz: %s%s: %s\n", given ? "--endpoint" : "$", given ? "" : env, err);
        return NULL;
    }
    return list;
}

bool msg_is(const miz_msg_t *m, miz_message_t type)
{
    return miz_msg_is(m, miz_message_names[type]);
}

int report_error(const miz_msg_t *m)
{
    size_t cn = 0, mn = 0;
    const char *code = miz_msg_str(m, "code", &cn), *message = miz_msg_str(m, "message", &mn);
    fprintf(stderr, "miz: %.*s: %.*s\n", (int)cn, code ? code : "error", (int)mn,
            message ? message : "");
    return EXIT_REFUSED;
}

int unreachable(const char *endpoint)
{
    fprintf(stderr, "miz: no answer from %s: %s\n", endpoint,
            errno == EAGAIN ? "timed out" : strerror(errno));
    return EXIT_UNREACHABLE;
}

/* A string field printed as text (nothing when absent). */
static void print_field(const msgpack_object *map, const char *key)
{
    const msgpack_object *v = miz_map_get(map, key);
    if (v && v->type == MSGPACK_OBJECT_STR)
        printf("%.*s", (int)v->via.str.size, v->via.str.ptr);
}

static void print_outcome(const miz_msg_t *m)
{
    uint64_t tracking = 0;
    miz_msg_uint(m, "tracking", &tracking);
    printf("outcome of %llu:\n", (unsigned long long)tracking);
    const msgpack_object *answers = miz_msg_get(m, "answers");
    for (uint32_t i = 0; answers && i < answers->via.array.size; i++) {
        const msgpack_object *a = &answers->via.array.ptr[i];
        printf("  ");
        print_field(a, "agency");
        printf(": ");
        print_field(a, "outcome");
        printf(" (answered by ");
        print_field(a, "answered_by");
        printf(") ");
        print_field(a, "text");
        printf("\n");
    }
}

/* Waits for the outcome of tracking, prints it and confirms it. The
 * submission asked to confirm, so mizd keeps the outcome until then: if it
 * restarts meanwhile, the ping this sends every second tells it the client
 * is back, and the outcome comes again. With several brokers, one that
 * answers no ping for TIMEOUT_MS is left for the next of the list, where
 * the broker that took over tells the outcome the same way. */
static int submit_wait(miz_client_t *client, uint64_t tracking, bool several)
{
    uint64_t seq, heard = clock_ms(CLOCK_MONOTONIC);
    miz_msg_t *m = NULL;
    for (;;) {
        if (miz_client_recv(client, WAIT_PING_MS, &m) < 0) {
            uint64_t now = clock_ms(CLOCK_MONOTONIC);
            if (errno != EAGAIN)
                return EXIT_UNREACHABLE;
            if (several && now - heard >= TIMEOUT_MS) {
                if (miz_client_failover(client) < 0)
                    return EXIT_UNREACHABLE;
                heard = now;
            }
            /* EAGAIN: no broker of the list is connected yet; go on waiting */
            if (miz_client_send_ping(client, &seq) < 0 && errno != EAGAIN)
                return EXIT_UNREACHABLE;
            continue;
        }
        heard = clock_ms(CLOCK_MONOTONIC);
        uint64_t t;
        bool done = msg_is(m, MIZ_MSG_OUTCOME) && miz_msg_uint(m, "tracking", &t) == 0 &&
                    t == tracking;
        if (done)
            print_outcome(m);
        miz_msg_destroy(&m);
        if (done)
            break;
    }
    /* the outcome is printed: a confirmation lost on the way only means
     * mizd keeps it a little longer */
    if (miz_client_send_confirm(client, tracking, &seq) == 0 &&
        miz_client_recv(client, TIMEOUT_MS, &m) == 0)
        miz_msg_destroy(&m);
    return 0;
}

static int cmd_submit(const char *endpoint, const miz_curve_t *curve, int argc, char **argv)
{
    static const struct option options[] = {
        {"kind", required_argument, NULL, 'k'}, {"priority", required_argument, NULL, 'p'},
        {"ref", required_argument, NULL, 'r'},  {"wait", no_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    miz_submit_t s = {0};
    bool wait = false;
    int c;
    /* options may follow TOPIC and TEXT, as the README writes them */
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (c) {
        case 'k': s.kind = optarg; break;
        case 'p': s.priority = optarg; break;
        case 'r': s.client_ref = optarg; break;
        case 'w': wait = true; break;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (argc - optind != 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    s.topic = argv[optind];
    s.text = argv[optind + 1];
    s.confirm = wait;
    miz_client_t *client = miz_client_new_curve(NULL, endpoint, curve);
    if (!client)
        return unreachable(endpoint);
    miz_msg_t *reply = NULL;
    int rc = 0;
    uint64_t tracking;
    if (miz_submit(client, &s, TIMEOUT_MS, &reply) < 0) {
        rc = unreachable(endpoint);
    } else if (!msg_is(reply, MIZ_MSG_ACCEPTED) || miz_msg_uint(reply, "tracking", &tracking) < 0) {
        rc = report_error(reply);
    } else {
        printf("%llu\n", (unsigned long long)tracking);
        fflush(stdout);
        if (wait)
            rc = submit_wait(client, tracking, miz_endpoints_check(endpoint, NULL, 0) > 1);
    }
    miz_msg_destroy(&reply);
    miz_client_destroy(&client);
    return rc;
}

/* ---- report ---- */

static int cmd_report(const char *endpoint, const miz_curve_t *curve, int argc, char **argv)
{
    static const struct option options[] = {
        {"week", required_argument, NULL, 'w'},   {"agency", required_argument, NULL, 'a'},
        {"format", required_argument, NULL, 'f'}, {"config", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    const char *week = NULL, *agency = NULL, *format = "html", *config = NULL;
    int c, wy, wk, day0;
    while ((c = getopt_long(argc, argv, "c:", options, NULL)) != -1) {
        switch (c) {
        case 'w': week = optarg; break;
        case 'a': agency = optarg; break;
        case 'f': format = optarg; break;
        case 'c': config = optarg; break;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    bool csv = strcmp(format, "csv") == 0;
    if (optind != argc || !week || !agency || (!csv && strcmp(format, "html") != 0)) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!jalali_week_parse(week, strlen(week), &wy, &wk) || !jalali_week_first_day(wy, wk, &day0)) {
        fprintf(stderr, "miz: \"%s\" is not an Iranian week (YYYY-Www, e.g. 1404-W32)\n", week);
        return EXIT_USAGE;
    }
    /* what cannot have a report is said before asking the broker */
    uint64_t now = clock_ms(CLOCK_REALTIME);
    if (day0 > jalali_week_start(fig_day(now))) {
        fprintf(stderr, "miz: week %s has not begun\n", week);
        return EXIT_NO_REPORT;
    }
    table_t *table = NULL;
    if (config) {
        char *errors = NULL;
        if (!(table = table_load(config, &errors))) {
            fprintf(stderr, "%s", errors ? errors : "miz: cannot load the table\n");
            free(errors);
            return EXIT_USAGE;
        }
        if (table_agency_find(table, agency, strlen(agency)) < 0) {
            fprintf(stderr, "miz: no agency \"%s\" in %s\n", agency, config);
            table_destroy(&table);
            return EXIT_NO_REPORT;
        }
    }
    size_t n = table ? table_agency_count(table) : 0;
    render_agency_t names[TABLE_MAX_AGENCIES];
    for (size_t i = 0; i < n; i++) {
        const agency_t *a = table_agency(table, i);
        names[i] = (render_agency_t){a->id, a->name_fa, a->name_en};
    }
    /* the week, and the 28 days before it for the daily mean */
    miz_replica_t *r = miz_replica_new();
    int rc = 0;
    if (!r ||
        miz_snapshot_fetch(NULL, endpoint, curve, fig_day_start(day0 - FIG_AVG_DAYS), TIMEOUT_MS, r) < 0 ||
        !render_report(stdout, r, agency, &(render_names_t){names, n, table}, day0, now, csv))
        rc = unreachable(endpoint);
    miz_replica_destroy(&r);
    table_destroy(&table);
    return rc;
}

/* ---- keys ---- */

static int cmd_keygen(int argc, char **argv)
{
    static const struct option options[] = {
        {"role", required_argument, NULL, 'r'},
        {"agency", required_argument, NULL, 'a'},
        {"dir", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    const char *role = "", *agency = "", *dir = ".";
    int c;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (c) {
        case 'r': role = optarg; break;
        case 'a': agency = optarg; break;
        case 'd': dir = optarg; break;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    int kr = *role ? MIZ_NAME_FIND(miz_key_role_names, role, strlen(role)) : MIZ_KEY_GATEWAY;
    bool known = kr >= 0;
    bool worker = kr == MIZ_KEY_WORKER;
    if (argc - optind != 1 || strlen(argv[optind]) > 64 || strchr(argv[optind], '/') || !known ||
        worker != (*agency != '\0')) {
        fprintf(stderr, "miz keygen: NAME (no /), --role worker|gateway|dashboard, and --agency "
                        "for a worker only\n");
        return EXIT_USAGE;
    }
    miz_cert_t cert;
    char err[512];
    if (miz_cert_generate(&cert, argv[optind], role, agency) < 0) {
        fprintf(stderr, "miz: cannot make a key pair: %s\n", strerror(errno));
        return EXIT_REFUSED;
    }
    if (miz_cert_save(&cert, dir, err, sizeof err) < 0) {
        fprintf(stderr, "miz: %s\n", err);
        return EXIT_REFUSED;
    }
    printf("%s/%s.key_secret (keep it; mode 0600)\n%s/%s.key (give it to the broker)\n"
           "public key %s\n", dir, cert.name, dir, cert.name, cert.public_key);
    return 0;
}

/* --key and --server-key (or $MIZ_KEY, $MIZ_SERVER_KEY): both or neither. */
static int load_curve(const char *key, const char *server_key, miz_cert_t *own,
                      miz_cert_t *server, miz_curve_t *curve)
{
    char err[512];
    key = key ? key : getenv("MIZ_KEY");
    server_key = server_key ? server_key : getenv("MIZ_SERVER_KEY");
    if (!key && !server_key)
        return 0;
    if (!key || !server_key) {
        fprintf(stderr, "miz: CURVE needs both --key (ours) and --server-key (the broker's)\n");
        return -1;
    }
    if (miz_curve_load(key, server_key, own, server, curve, err, sizeof err) < 0) {
        fprintf(stderr, "miz: %s\n", err);
        return -1;
    }
    return 1;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"endpoint", required_argument, NULL, 'e'},
        {"key", required_argument, NULL, 'k'},
        {"server-key", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *endpoint = NULL, *key = NULL, *server_key = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "+e:k:s:hV", options, NULL)) != -1) {
        switch (c) {
        case 'e': endpoint = optarg; break;
        case 'k': key = optarg; break;
        case 's': server_key = optarg; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("miz %s\n", MIZ_VERSION); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[optind];
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    optind = 0; /* each command parses its own options: 0 makes glibc start afresh */
    if (strcmp(cmd, "keygen") == 0) /* makes keys: uses none */
        return cmd_keygen(sub_argc, sub_argv);
    miz_cert_t own, server;
    miz_curve_t curve_keys;
    int with_curve = load_curve(key, server_key, &own, &server, &curve_keys);
    if (with_curve < 0)
        return EXIT_USAGE;
    const miz_curve_t *curve = with_curve ? &curve_keys : NULL;
    bool worker = strcmp(cmd, "worker") == 0;
    const char *eps = worker ? endpoint_for(endpoint, "MIZ_WORKERS", "tcp://127.0.0.1:7371")
                             : endpoint_for(endpoint, "MIZ_CLIENTS", "tcp://127.0.0.1:7370");
    if (!eps)
        return EXIT_USAGE;
    if (strcmp(cmd, "submit") == 0)
        return cmd_submit(eps, curve, sub_argc, sub_argv);
    if (strcmp(cmd, "status") == 0)
        return cmd_status(eps, curve, sub_argc, sub_argv);
    if (worker)
        return cmd_worker(eps, curve, sub_argc, sub_argv);
    if (strcmp(cmd, "report") == 0)
        return cmd_report(eps, curve, sub_argc, sub_argv);
    fprintf(stderr, "miz: unknown command \"%s\"\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
}
