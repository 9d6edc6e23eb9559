/* miz: the command-line client. Submits requests, asks their status and runs
 * a worker that answers deliveries with a fixed text or a command's output,
 * so a shell script can serve as an agency. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cert.h"
#include "clock.h"
#include "figures.h"
#include "jalali.h"
#include "miz.h"
#include "proto.h"
#include "render.h"
#include "stream.h"
#include "table.h"

#define EXIT_REFUSED 1 /* the broker answered with an error */
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 3
#define TIMEOUT_MS 5000
#define OUTPUT_MAX 16384
#define COUNT_MAX 10000 /* --count */

static volatile sig_atomic_t stopping;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: miz [-e ENDPOINT] COMMAND ...\n"
            "\n"
            "  miz submit TOPIC TEXT [--kind K] [--priority routine|urgent] [--ref REF] [--wait]\n"
            "      submit a request; prints its tracking number (--wait: and its outcome)\n"
            "  miz status NUMBER\n"
            "      the request's state and every delivery's history\n"
            "  miz worker --agency A [--topics P,P..] [--credit N] [--name N]\n"
            "             [--exec CMD | --answer TEXT] [--outcome O] [--count N]\n"
            "      take deliveries for agency A and answer each with TEXT or with the output\n"
            "      of CMD (run by /bin/sh with the payload on stdin and MIZ_TRACKING,\n"
            "      MIZ_DELIVERY, MIZ_TOPIC, MIZ_KIND, MIZ_PRIORITY, MIZ_AGENCY, MIZ_ROLE set);\n"
            "      CMD exiting non-zero refuses the delivery with its output as the reason\n"
            "  miz keygen NAME [--role worker|gateway|dashboard] [--agency A] [--dir DIR]\n"
            "      a CURVE key pair: DIR/NAME.key_secret (yours) and DIR/NAME.key (the broker's)\n"
            "  miz report --week YYYY-Www --agency A [--format html|csv] [-c TABLE]\n"
            "      the weekly report of agency A for an Iranian week (Saturday to Friday),\n"
            "      e.g. 1404-W32; TABLE (the routing table) gives the agencies' names\n"
            "\n"
            "  -e, --endpoint EP   the broker's endpoint (default $MIZ_CLIENTS or\n"
            "                      tcp://127.0.0.1:7370; for worker $MIZ_WORKERS or\n"
            "                      tcp://127.0.0.1:7371)\n"
            "  -k, --key FILE      CURVE: our .key_secret (default $MIZ_KEY)\n"
            "  -s, --server-key FILE  CURVE: the broker's .key (default $MIZ_SERVER_KEY)\n"
            "exit status: 0 ok, 1 the broker refused, 2 usage, 3 broker unreachable\n");
}

static const char *endpoint_for(const char *given, const char *env, const char *fallback)
{
    if (given)
        return given;
    const char *e = getenv(env);
    return e && *e ? e : fallback;
}

static void print_time(uint64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char buf[32];
    localtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    fputs(buf, stdout);
}

static bool msg_is(const miz_msg_t *m, miz_message_t type)
{
    return miz_msg_is(m, miz_message_names[type]);
}

static int report_error(const miz_msg_t *m)
{
    size_t cn = 0, mn = 0;
    const char *code = miz_msg_str(m, "code", &cn), *message = miz_msg_str(m, "message", &mn);
    fprintf(stderr, "miz: %.*s: %.*s\n", (int)cn, code ? code : "error", (int)mn,
            message ? message : "");
    return EXIT_REFUSED;
}

static int unreachable(const char *endpoint)
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

static uint64_t uint_field(const msgpack_object *map, const char *key)
{
    const msgpack_object *v = miz_map_get(map, key);
    return v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? v->via.u64 : 0;
}

static const msgpack_object *array_field(const msgpack_object *map, const char *key)
{
    const msgpack_object *v = miz_map_get(map, key);
    return v && v->type == MSGPACK_OBJECT_ARRAY ? v : NULL;
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
        miz_msg_t *m = NULL;
        while (wait && !stopping && miz_client_recv(client, -1, &m) == 0) {
            uint64_t t;
            bool done = msg_is(m, MIZ_MSG_OUTCOME) && miz_msg_uint(m, "tracking", &t) == 0 &&
                        t == tracking;
            if (done)
                print_outcome(m);
            miz_msg_destroy(&m);
            if (done)
                break;
        }
    }
    miz_msg_destroy(&reply);
    miz_client_destroy(&client);
    return rc;
}

static void print_delivery(const msgpack_object *d)
{
    printf("  delivery %llu  ", (unsigned long long)uint_field(d, "id"));
    print_field(d, "agency");
    printf("  ");
    print_field(d, "role");
    printf("  ");
    print_field(d, "state");
    printf("  attempts %llu", (unsigned long long)uint_field(d, "attempts"));
    const msgpack_object *overdue = miz_map_get(d, "overdue");
    if (overdue && overdue->type == MSGPACK_OBJECT_BOOLEAN && overdue->via.boolean)
        printf("  OVERDUE");
    if (uint_field(d, "answer_by")) {
        printf("  answer by ");
        print_time(uint_field(d, "answer_by"));
    }
    printf("\n");
    const msgpack_object *hist = array_field(d, "history");
    for (uint32_t i = 0; hist && i < hist->via.array.size; i++) {
        const msgpack_object *h = &hist->via.array.ptr[i];
        printf("    ");
        print_time(uint_field(h, "at"));
        printf("  ");
        print_field(h, "event");
        if (uint_field(h, "worker"))
            printf("  worker #%llu", (unsigned long long)uint_field(h, "worker"));
        printf("\n");
    }
    const msgpack_object *outcome = miz_map_get(d, "outcome");
    if (outcome && outcome->type == MSGPACK_OBJECT_STR) {
        printf("    outcome: ");
        print_field(d, "outcome");
        printf("  ");
        print_field(d, "text");
        printf("\n");
    }
}

static int cmd_status(const char *endpoint, const miz_curve_t *curve, int argc, char **argv)
{
    char *end;
    if (argc != 2 || !*argv[1]) {
        usage(stderr);
        return EXIT_USAGE;
    }
    errno = 0;
    unsigned long long tracking = strtoull(argv[1], &end, 10);
    if (*end || errno || argv[1][0] == '-') {
        fprintf(stderr, "miz: \"%s\" is not a tracking number\n", argv[1]);
        return EXIT_USAGE;
    }
    miz_client_t *client = miz_client_new_curve(NULL, endpoint, curve);
    if (!client)
        return unreachable(endpoint);
    miz_msg_t *reply = NULL;
    int rc = 0;
    if (miz_status(client, tracking, TIMEOUT_MS, &reply) < 0) {
        rc = unreachable(endpoint);
    } else if (!msg_is(reply, MIZ_MSG_STATUS)) {
        rc = report_error(reply);
    } else {
        const msgpack_object *root = miz_msg_root(reply);
        printf("tracking %llu  ", tracking);
        print_field(root, "topic");
        printf("  ");
        print_field(root, "kind");
        printf("  ");
        print_field(root, "priority");
        printf("  ");
        print_field(root, "state");
        printf("\n  received ");
        print_time(uint_field(root, "created"));
        printf("\n");
        const msgpack_object *dels = array_field(root, "deliveries");
        for (uint32_t i = 0; dels && i < dels->via.array.size; i++)
            print_delivery(&dels->via.array.ptr[i]);
    }
    miz_msg_destroy(&reply);
    miz_client_destroy(&client);
    return rc;
}

/* ---- worker ---- */

typedef struct {
    const char *exec, *answer, *outcome;
    long count;
    unsigned long unconfirmed; /* commands sent that the broker has not answered */
} worker_conf_t;

static void set_env_str(const miz_msg_t *m, const char *key, const char *var)
{
    size_t n;
    const char *s = miz_msg_str(m, key, &n);
    char buf[512];
    snprintf(buf, sizeof buf, "%.*s", s ? (int)n : 0, s ? s : "");
    setenv(var, buf, 1);
}

static void set_env_uint(const miz_msg_t *m, const char *key, const char *var)
{
    uint64_t v = 0;
    char buf[24];
    miz_msg_uint(m, key, &v);
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    setenv(var, buf, 1);
}

/* Runs CMD for one delivery, keeping the heartbeat while it works. Its
 * output (up to OUTPUT_MAX bytes) goes to out; returns its exit status. */
static int run_exec(miz_worker_t *w, const char *cmd, const miz_msg_t *d, char *out)
{
    int in_pipe[2], out_pipe[2];
    if (pipe(in_pipe) < 0 || pipe(out_pipe) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in_pipe[0], 0);
        dup2(out_pipe[1], 1);
        close(in_pipe[1]);
        close(out_pipe[0]);
        set_env_uint(d, "tracking", "MIZ_TRACKING");
        set_env_uint(d, "delivery", "MIZ_DELIVERY");
        set_env_str(d, "topic", "MIZ_TOPIC");
        set_env_str(d, "kind", "MIZ_KIND");
        set_env_str(d, "priority", "MIZ_PRIORITY");
        set_env_str(d, "agency", "MIZ_AGENCY");
        set_env_str(d, "role", "MIZ_ROLE");
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(in_pipe[0]);
    close(out_pipe[1]);
    size_t n;
    const char *payload = miz_msg_str(d, "payload", &n);
    if (payload && write(in_pipe[1], payload, n) < 0)
        n = 0; /* a command that does not read its input is fine */
    close(in_pipe[1]);
    size_t len = 0;
    for (;;) {
        struct pollfd p = {out_pipe[0], POLLIN, 0};
        if (poll(&p, 1, 200) > 0) {
            char buf[4096];
            ssize_t got = read(out_pipe[0], buf, sizeof buf);
            if (got <= 0)
                break;
            size_t keep = (size_t)got < OUTPUT_MAX - len ? (size_t)got : OUTPUT_MAX - len;
            memcpy(out + len, buf, keep);
            len += keep;
        }
        miz_worker_tick(w);
    }
    close(out_pipe[0]);
    while (len && (out[len - 1] == '\n' || out[len - 1] == '\r'))
        len--;
    out[len] = '\0';
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) < 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* Prints, acks and answers (or refuses) a delivery: the commands it sent. */
static unsigned handle_delivery(miz_worker_t *w, const worker_conf_t *wc, const miz_msg_t *d)
{
    uint64_t id = 0, tracking = 0;
    size_t rn = 0, tn = 0, pn = 0;
    miz_msg_uint(d, "delivery", &id);
    miz_msg_uint(d, "tracking", &tracking);
    const char *role = miz_msg_str(d, "role", &rn), *topic = miz_msg_str(d, "topic", &tn);
    const char *payload = miz_msg_str(d, "payload", &pn);
    printf("delivery %llu  tracking %llu  %.*s  %.*s: %.*s\n", (unsigned long long)id,
           (unsigned long long)tracking, (int)tn, topic ? topic : "", (int)rn, role ? role : "",
           (int)pn, payload ? payload : "(binary payload)");
    miz_worker_ack(w, id);
    int r = role ? MIZ_NAME_FIND(miz_role_names, role, rn) : -1;
    if (r == MIZ_ROLE_OBSERVE || r == MIZ_ROLE_BREACH) {
        printf("  seen (observer copy)\n");
        return 1;
    }
    if (!wc->exec) {
        miz_worker_answer(w, id, wc->outcome, wc->answer);
        printf("  answered %s: %s\n", wc->outcome, wc->answer);
        return 2;
    }
    char out[OUTPUT_MAX + 1];
    int status = run_exec(w, wc->exec, d, out);
    if (status == 0) {
        miz_worker_answer(w, id, wc->outcome, out);
        printf("  answered %s: %s\n", wc->outcome, out);
    } else {
        miz_worker_refuse(w, id, out);
        printf("  refused (exit %d): %s\n", status, out);
    }
    return 2;
}

static void on_stop(int sig)
{
    (void)sig;
    stopping = 1;
}

static int cmd_worker(const char *endpoint, const miz_curve_t *curve, int argc, char **argv)
{
    static const struct option options[] = {
        {"agency", required_argument, NULL, 'a'}, {"topics", required_argument, NULL, 't'},
        {"credit", required_argument, NULL, 'c'}, {"name", required_argument, NULL, 'n'},
        {"exec", required_argument, NULL, 'x'},   {"answer", required_argument, NULL, 'A'},
        {"outcome", required_argument, NULL, 'o'}, {"count", required_argument, NULL, 'N'},
        {NULL, 0, NULL, 0},
    };
    miz_worker_opts_t o = {.credit = 1};
    worker_conf_t wc = {.answer = "done", .outcome = "resolved", .count = -1};
    const char *topics[MIZ_WORKER_TOPICS_MAX];
    char *topic_list = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "+", options, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'a': o.agency = optarg; break;
        case 'n': o.name = optarg; break;
        case 'x': wc.exec = optarg; break;
        case 'A': wc.answer = optarg; break;
        case 'o': wc.outcome = optarg; break;
        case 't': topic_list = optarg; break;
        case 'c':
        case 'N': {
            long v = strtol(optarg, &end, 10), max = c == 'c' ? MIZ_CREDIT_MAX : COUNT_MAX;
            if (*end || v < 1 || v > max) {
                fprintf(stderr, "miz: --%s takes a number from 1 to %ld\n",
                        c == 'c' ? "credit" : "count", max);
                return EXIT_USAGE;
            }
            if (c == 'c')
                o.credit = (unsigned)v;
            else
                wc.count = v;
            break;
        }
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (!o.agency || optind != argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    for (char *save, *t = topic_list ? strtok_r(topic_list, ",", &save) : NULL; t;
         t = strtok_r(NULL, ",", &save)) {
        if (o.n_topics == MIZ_WORKER_TOPICS_MAX) {
            fprintf(stderr, "miz: at most %d topic patterns\n", MIZ_WORKER_TOPICS_MAX);
            return EXIT_USAGE;
        }
        topics[o.n_topics++] = t;
    }
    o.topics = topics;
    o.curve = curve;
    miz_worker_t *w = miz_worker_new(NULL, endpoint, &o);
    if (!w)
        return unreachable(endpoint);
    signal(SIGINT, on_stop);
    signal(SIGTERM, on_stop);
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc = 0;
    /* with --count, the last answer must be confirmed before the worker
     * leaves: one gone too early loses it */
    while (!stopping && (wc.count != 0 || wc.unconfirmed > 0)) {
        miz_msg_t *m = NULL;
        if (miz_worker_recv(w, 500, &m) < 0) {
            if (errno == EAGAIN || errno == EINTR || errno == EPROTO)
                continue;
            rc = unreachable(endpoint);
            break;
        }
        if (msg_is(m, MIZ_MSG_DELIVER) && wc.count != 0) {
            wc.unconfirmed += handle_delivery(w, &wc, m);
            if (wc.count > 0)
                wc.count--;
        } else if (msg_is(m, MIZ_MSG_OK)) {
            wc.unconfirmed -= wc.unconfirmed > 0;
        } else if (msg_is(m, MIZ_MSG_REGISTERED)) {
            uint64_t serial = 0;
            miz_msg_uint(m, "worker", &serial);
            printf("registered as worker #%llu for %s\n", (unsigned long long)serial, o.agency);
        } else if (msg_is(m, MIZ_MSG_CANCEL)) {
            uint64_t id = 0;
            miz_msg_uint(m, "delivery", &id);
            printf("delivery %llu taken back by the broker\n", (unsigned long long)id);
        } else if (msg_is(m, MIZ_MSG_ERROR)) {
            rc = report_error(m);
            uint64_t id;
            if (miz_msg_uint(m, "delivery", &id) < 0) { /* a registration error */
                miz_msg_destroy(&m);
                break;
            }
            wc.unconfirmed -= wc.unconfirmed > 0;
            rc = 0;
        }
        miz_msg_destroy(&m);
    }
    miz_worker_destroy(&w);
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
    table_t *table = NULL;
    if (config) {
        char *errors = NULL;
        if (!(table = table_load(config, &errors))) {
            fprintf(stderr, "%s", errors ? errors : "miz: cannot load the table\n");
            free(errors);
            return EXIT_USAGE;
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
        !render_report(stdout, r, agency, &(render_names_t){names, n}, day0, clock_ms(CLOCK_REALTIME),
                       csv))
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
        {NULL, 0, NULL, 0},
    };
    const char *endpoint = NULL, *key = NULL, *server_key = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "+e:k:s:h", options, NULL)) != -1) {
        switch (c) {
        case 'e': endpoint = optarg; break;
        case 'k': key = optarg; break;
        case 's': server_key = optarg; break;
        case 'h': usage(stdout); return 0;
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
    const char *clients = endpoint_for(endpoint, "MIZ_CLIENTS", "tcp://127.0.0.1:7370");
    if (strcmp(cmd, "submit") == 0)
        return cmd_submit(clients, curve, sub_argc, sub_argv);
    if (strcmp(cmd, "status") == 0)
        return cmd_status(clients, curve, sub_argc, sub_argv);
    if (strcmp(cmd, "worker") == 0)
        return cmd_worker(endpoint_for(endpoint, "MIZ_WORKERS", "tcp://127.0.0.1:7371"), curve,
                          sub_argc, sub_argv);
    if (strcmp(cmd, "report") == 0)
        return cmd_report(clients, curve, sub_argc, sub_argv);
    fprintf(stderr, "miz: unknown command \"%s\"\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
}
