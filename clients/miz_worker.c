/* miz_worker: `miz worker`, an agency's worker service from the shell.
 *
 * It registers with the broker and serves each delivery with a fixed
 * answer or with a command (--exec, miz_worker_exec.c), up to its credit at
 * once. What it prints about a delivery's end is what the broker
 * confirmed: the line comes with the broker's "ok" (or its error), not when
 * the command was sent (the jobs that wait for it: miz_worker_job.c). This
 * file reads the options, runs the loop and takes the broker's messages. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "clock.h"
#include "duration.h"
#include "miz_exec.h"
#include "miz_json.h"
#include "miz_worker.h"
#include "utf8.h"

#define WORKER_COUNT_MAX 10000    /* --count */
#define WORKER_TIMEOUT_DEFAULT (5 * 60 * 1000)
#define WORKER_WAITING_MS 2000    /* silence before saying we wait for the broker */

static volatile sig_atomic_t worker_stopping;

/* ---- messages from the broker ---- */

char *worker_payload(const miz_msg_t *d, size_t *len)
{
    const msgpack_object *p = miz_msg_get(d, "payload");
    char *text = NULL;
    *len = 0;
    if (p && p->type == MSGPACK_OBJECT_STR) {
        if ((text = malloc(p->via.str.size + 1))) {
            memcpy(text, p->via.str.ptr, p->via.str.size);
            text[*len = p->via.str.size] = '\0';
        }
        return text;
    }
    FILE *out = open_memstream(&text, len);
    if (!out)
        return NULL;
    if (p)
        json_write(out, p);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

static void worker_on_deliver(worker_t *wk, const miz_msg_t *d)
{
    uint64_t id = 0, tracking = 0, attempt = 0;
    size_t rn = 0, tn = 0, pn = 0;
    if (miz_msg_uint(d, "delivery", &id) < 0) {
        fprintf(stderr, "miz: a delivery without its id from the broker; left alone\n");
        return;
    }
    worker_job_t *j = worker_job_find(wk, id, NULL);
    if (j) { /* held since an earlier offer, one the broker lost */
        miz_msg_uint(d, "attempt", &attempt);
        worker_job_reoffered(wk, j, attempt);
        return;
    }
    if (wk->count == 0)
        return; /* past --count: taken back from us at its ack_by, or at our bye */
    if (wk->count > 0)
        wk->count--;
    miz_msg_uint(d, "tracking", &tracking);
    const char *role = miz_msg_str(d, "role", &rn), *topic = miz_msg_str(d, "topic", &tn);
    char *payload = worker_payload(d, &pn);
    printf("delivery %llu  tracking %llu  %.*s  %.*s: %.*s\n", (unsigned long long)id,
           (unsigned long long)tracking, (int)tn, topic ? topic : "", (int)rn, role ? role : "",
           (int)pn, payload ? payload : "");
    free(payload);
    j = worker_job_new(wk, id);
    if (!j) {
        fprintf(stderr, "miz: out of memory\n");
        return;
    }
    int r = role ? MIZ_NAME_FIND(miz_role_names, role, rn) : -1;
    if (r == MIZ_ROLE_OBSERVE || r == MIZ_ROLE_BREACH) {
        worker_job_seen(wk, j);
        return;
    }
    if (miz_worker_ack(wk->w, id) == 0)
        j->pending++;
    if (!wk->exec) {
        worker_job_answer(wk, j, wk->outcome, wk->answer);
    } else if (!worker_start(wk, j, d)) {
        char reason[160];
        snprintf(reason, sizeof reason, "the worker could not start its command: %s",
                 strerror(errno));
        fprintf(stderr, "miz: delivery %llu: %s\n", (unsigned long long)id, reason);
        worker_job_refuse(wk, j, reason);
    }
}

/* An "ok" or an "error" about a delivery: one of its commands confirmed. */
static void worker_on_reply(worker_t *wk, const miz_msg_t *m, bool ok)
{
    uint64_t id = 0;
    miz_msg_uint(m, "delivery", &id);
    size_t at;
    worker_job_t *j = worker_job_find(wk, id, &at);
    if (!ok) {
        fprintf(stderr, "miz: delivery %llu: ", (unsigned long long)id);
        report_error(m);
    }
    if (!j)
        return;
    j->pending -= j->pending > 0;
    if (j->final != WORKER_FINAL_NONE && j->pending == 0) {
        worker_job_say(j, ok ? " (confirmed by the broker)"
                             : ": NOT confirmed, the broker refused it");
        worker_job_free(wk, at);
    }
}

static void worker_on_cancel(worker_t *wk, const miz_msg_t *m)
{
    uint64_t id = 0;
    size_t n = 0, at;
    miz_msg_uint(m, "delivery", &id);
    const char *why = miz_msg_str(m, "reason", &n);
    printf("delivery %llu taken back by the broker (%.*s)\n", (unsigned long long)id, (int)n,
           why ? why : "");
    worker_job_t *j = worker_job_find(wk, id, &at);
    if (!j)
        return;
    if (j->pid > 0 && j->final == WORKER_FINAL_NONE) {
        j->cancelled = true;
        j->term_sent = clock_ms(CLOCK_MONOTONIC);
        exec_signal(j->pid, SIGTERM);
    } else {
        worker_job_free(wk, at); /* nothing more will be confirmed */
    }
}

/* false when the worker must stop (a registration refused) */
static bool worker_on_message(worker_t *wk, miz_msg_t *m, const char *agency)
{
    wk->heard = true;
    if (msg_is(m, MIZ_MSG_DELIVER)) {
        worker_on_deliver(wk, m);
    } else if (msg_is(m, MIZ_MSG_OK)) {
        worker_on_reply(wk, m, true);
    } else if (msg_is(m, MIZ_MSG_REGISTERED)) {
        uint64_t serial = 0;
        miz_msg_uint(m, "worker", &serial);
        printf("registered as worker #%llu for %s\n", (unsigned long long)serial, agency);
    } else if (msg_is(m, MIZ_MSG_CANCEL)) {
        worker_on_cancel(wk, m);
    } else if (msg_is(m, MIZ_MSG_ERROR)) {
        uint64_t id;
        if (miz_msg_uint(m, "delivery", &id) < 0) { /* a registration error */
            report_error(m);
            return false;
        }
        worker_on_reply(wk, m, false);
    }
    return true;
}

static int worker_poll(worker_t *wk, int timeout_ms)
{
    zmq_pollitem_t items[1 + 256];
    size_t n = 0;
    items[n++] = (zmq_pollitem_t){miz_worker_socket(wk->w), 0, ZMQ_POLLIN, 0};
    for (size_t i = 0; i < wk->n_jobs && n < sizeof items / sizeof items[0]; i++)
        if (wk->jobs[i]->out >= 0)
            items[n++] = (zmq_pollitem_t){NULL, wk->jobs[i]->out, ZMQ_POLLIN, 0};
    return zmq_poll(items, (int)n, timeout_ms);
}

static int worker_run(worker_t *wk, const char *agency)
{
    int rc = 0;
    uint64_t started = clock_ms(CLOCK_MONOTONIC);
    bool said_waiting = false;
    /* with --count, the last answer must be confirmed before the worker
     * leaves: one gone too early loses it */
    while (!worker_stopping && (wk->count != 0 || wk->n_jobs > 0)) {
        if (worker_poll(wk, wk->n_jobs ? 100 : 500) < 0 && errno != EINTR) {
            rc = unreachable(wk->endpoint);
            break;
        }
        miz_msg_t *m = NULL;
        bool go_on = true;
        while (go_on && miz_worker_recv(wk->w, 0, &m) == 0) {
            go_on = worker_on_message(wk, m, agency);
            miz_msg_destroy(&m);
        }
        if (!go_on) {
            rc = EXIT_REFUSED;
            break;
        }
        if (errno != EAGAIN && errno != EINTR && errno != EPROTO) {
            rc = unreachable(wk->endpoint);
            break;
        }
        for (size_t i = 0; i < wk->n_jobs; i++)
            if (wk->jobs[i]->out >= 0)
                worker_read(wk, wk->jobs[i]);
        uint64_t now = clock_ms(CLOCK_MONOTONIC);
        worker_check_jobs(wk, now);
        if (!wk->heard && !said_waiting && now - started >= WORKER_WAITING_MS) {
            fprintf(stderr, "miz: waiting for the broker at %s (no answer yet; it is tried "
                            "again until it answers)\n", wk->endpoint);
            said_waiting = true;
        } else if (wk->heard && said_waiting) {
            fprintf(stderr, "miz: the broker at %s answered\n", miz_worker_endpoint(wk->w));
            said_waiting = false;
        }
    }
    worker_stop_jobs(wk);
    return rc;
}

static void worker_on_stop(int sig)
{
    (void)sig;
    worker_stopping = 1;
}

/* A number option from 1 to max; false (said) when it is not one. */
static bool worker_number(const char *name, const char *arg, long max, long *v)
{
    char *end;
    errno = 0;
    *v = strtol(arg, &end, 10);
    if (*end || !*arg || errno || *v < 1 || *v > max) {
        fprintf(stderr, "miz: --%s takes a number from 1 to %ld, not \"%s\"\n", name, max, arg);
        return false;
    }
    return true;
}

int cmd_worker(const char *endpoint, const miz_curve_t *curve, int argc, char **argv)
{
    static const struct option options[] = {
        {"agency", required_argument, NULL, 'a'},  {"topics", required_argument, NULL, 't'},
        {"credit", required_argument, NULL, 'c'},  {"name", required_argument, NULL, 'n'},
        {"exec", required_argument, NULL, 'x'},    {"answer", required_argument, NULL, 'A'},
        {"outcome", required_argument, NULL, 'o'}, {"count", required_argument, NULL, 'N'},
        {"timeout", required_argument, NULL, 'T'}, {NULL, 0, NULL, 0},
    };
    miz_worker_opts_t o = {.credit = 1};
    worker_t wk = {.answer = "done", .outcome = "resolved", .count = -1, .endpoint = endpoint,
                   .timeout_ms = WORKER_TIMEOUT_DEFAULT};
    const char *topics[MIZ_WORKER_TOPICS_MAX];
    char *topic_list = NULL;
    bool answer_given = false, timeout_given = false;
    int c;
    long v;
    const char *why;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (c) {
        case 'a': o.agency = optarg; break;
        case 'n': o.name = optarg; break;
        case 'x': wk.exec = optarg; break;
        case 'A': wk.answer = optarg; answer_given = true; break;
        case 'o': wk.outcome = optarg; break;
        case 't': topic_list = optarg; break;
        case 'c':
            if (!worker_number("credit", optarg, MIZ_CREDIT_MAX, &v))
                return EXIT_USAGE;
            o.credit = (unsigned)v;
            break;
        case 'N':
            if (!worker_number("count", optarg, WORKER_COUNT_MAX, &v))
                return EXIT_USAGE;
            wk.count = v;
            break;
        case 'T':
            if (duration_parse(optarg, strlen(optarg), &wk.timeout_ms, &why) < 0) {
                fprintf(stderr, "miz: --timeout \"%s\": %s (e.g. 30s, 5m, 1h)\n", optarg, why);
                return EXIT_USAGE;
            }
            timeout_given = true;
            break;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (!o.agency || optind != argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (wk.exec && answer_given) {
        fprintf(stderr, "miz: --exec and --answer together: the answer is either the command's "
                        "output or the fixed text; give one\n");
        return EXIT_USAGE;
    }
    if (timeout_given && !wk.exec) {
        fprintf(stderr, "miz: --timeout is the time an --exec command may take; give --exec\n");
        return EXIT_USAGE;
    }
    struct { const char *name, *value; size_t max; } texts[] = {
        {"agency", o.agency, MIZ_AGENCY_MAX}, {"name", o.name, MIZ_NAME_MAX},
        {"outcome", wk.outcome, MIZ_OUTCOME_MAX}, {"answer", wk.answer, MIZ_TEXT_MAX},
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        size_t n = texts[i].value ? strlen(texts[i].value) : 1;
        if (n == 0 || n > texts[i].max || !utf8_valid(texts[i].value ? texts[i].value : "x", n)) {
            fprintf(stderr, "miz: --%s takes 1 to %zu bytes of UTF-8\n", texts[i].name,
                    texts[i].max);
            return EXIT_USAGE;
        }
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
    if (wk.exec && exec_init() < 0) {
        fprintf(stderr, "miz: cannot make a pipe: %s\n", strerror(errno));
        return EXIT_REFUSED;
    }
    wk.w = miz_worker_new(NULL, endpoint, &o);
    if (!wk.w)
        return unreachable(endpoint);
    struct sigaction sa = {.sa_handler = worker_on_stop};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc = worker_run(&wk, o.agency);
    while (wk.n_jobs)
        worker_job_free(&wk, wk.n_jobs - 1);
    free(wk.jobs);
    miz_worker_destroy(&wk.w);
    return rc;
}
