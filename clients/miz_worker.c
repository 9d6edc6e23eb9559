/* miz_worker: `miz worker`, an agency's worker service from the shell.
 *
 * It registers with the broker and serves each delivery with a fixed
 * answer or with a command (--exec), up to its credit at once: each command
 * runs in a process group of its own (miz_exec.c), under a timeout, and
 * chooses the outcome and reports progress through its output (the
 * contract is in man/miz.1 and below at worker_line). What it prints about
 * a delivery's end is what the broker confirmed: the line comes with the
 * broker's "ok" (or its error), not when the command was sent. */
#define _GNU_SOURCE /* asprintf, vasprintf */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "duration.h"
#include "miz_exec.h"
#include "miz_int.h"
#include "utf8.h"

#define WORKER_COUNT_MAX 10000    /* --count */
#define WORKER_TIMEOUT_DEFAULT (5 * 60 * 1000)
#define WORKER_GRACE_MS 2000      /* SIGTERM to SIGKILL, for a command being stopped */
#define WORKER_WAITING_MS 2000    /* silence before saying we wait for the broker */
#define WORKER_PROGRESS "progress:"
#define WORKER_OUTCOME "outcome:"

static volatile sig_atomic_t worker_stopping;

typedef struct {
    uint64_t delivery;
    pid_t pid;              /* the command's process group; 0 when none or reaped */
    int out;                /* its stdout; -1 when none or closed */
    uint64_t deadline;      /* monotonic ms: the timeout */
    uint64_t term_sent;     /* when it was sent SIGTERM; 0 if not */
    bool timed_out, cancelled, truncated, had_line;
    char outcome[MIZ_OUTCOME_MAX + 1];
    char line[MIZ_TEXT_MAX + 1];
    size_t line_len;
    char text[MIZ_TEXT_MAX + 1];
    size_t text_len;
    unsigned pending; /* commands sent for it that the broker has not confirmed */
    char *done;       /* the line to print once the last one is confirmed; NULL: running */
} worker_job_t;

typedef struct {
    miz_worker_t *w;
    const char *exec, *answer, *outcome, *endpoint;
    uint64_t timeout_ms;
    long count; /* deliveries still to take; -1: no limit */
    worker_job_t **jobs;
    size_t n_jobs, cap_jobs;
    bool heard; /* anything came from the broker */
} worker_t;

/* ---- jobs ---- */

static worker_job_t *worker_job_new(worker_t *wk, uint64_t delivery)
{
    if (wk->n_jobs == wk->cap_jobs) {
        size_t cap = wk->cap_jobs ? wk->cap_jobs * 2 : 8;
        worker_job_t **grown = realloc(wk->jobs, cap * sizeof *grown);
        if (!grown)
            return NULL;
        wk->jobs = grown;
        wk->cap_jobs = cap;
    }
    worker_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->delivery = delivery;
    j->out = -1;
    wk->jobs[wk->n_jobs++] = j;
    return j;
}

static void worker_job_free(worker_t *wk, size_t i)
{
    worker_job_t *j = wk->jobs[i];
    if (j->out >= 0)
        close(j->out);
    free(j->done);
    free(j);
    wk->jobs[i] = wk->jobs[--wk->n_jobs];
}

static worker_job_t *worker_job_find(worker_t *wk, uint64_t delivery, size_t *at)
{
    for (size_t i = 0; i < wk->n_jobs; i++)
        if (wk->jobs[i]->delivery == delivery) {
            if (at)
                *at = i;
            return wk->jobs[i];
        }
    return NULL;
}

/* The job's end, printed once the broker confirms its last command. */
static void worker_job_done(worker_job_t *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void worker_job_done(worker_job_t *j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&j->done, fmt, ap) < 0)
        j->done = NULL;
    va_end(ap);
    if (!j->done)
        j->done = strdup("");
}

/* ---- the command's output ---- */

static bool worker_starts(const char *s, size_t n, const char *prefix)
{
    size_t p = strlen(prefix);
    return n >= p && memcmp(s, prefix, p) == 0;
}

static void worker_text_add(worker_job_t *j, const char *s, size_t n)
{
    size_t room = MIZ_TEXT_MAX - j->text_len;
    if (n > room) {
        n = room;
        j->truncated = true;
    }
    memcpy(j->text + j->text_len, s, n);
    j->text_len += n;
}

/* One line of output. "progress: NOTE" is sent at once as progress; a
 * first other line "outcome: WORD" chooses the outcome; the rest is the
 * answer's text (or the refusal's reason). */
static void worker_line(worker_t *wk, worker_job_t *j, bool whole)
{
    char *s = j->line;
    size_t n = j->line_len;
    j->line_len = 0;
    if (whole && worker_starts(s, n, WORKER_PROGRESS)) {
        size_t p = strlen(WORKER_PROGRESS);
        while (p < n && s[p] == ' ')
            p++;
        s[n] = '\0';
        if (!utf8_valid(s + p, n - p)) {
            fprintf(stderr, "miz: delivery %llu: a progress line is not valid UTF-8; not sent\n",
                    (unsigned long long)j->delivery);
        } else if (miz_worker_progress(wk->w, j->delivery, s + p) == 0) {
            j->pending++;
            printf("delivery %llu progress: %s\n", (unsigned long long)j->delivery, s + p);
        }
        return;
    }
    if (whole && !j->had_line && worker_starts(s, n, WORKER_OUTCOME)) {
        size_t p = strlen(WORKER_OUTCOME), e = n;
        while (p < n && s[p] == ' ')
            p++;
        while (e > p && (s[e - 1] == ' ' || s[e - 1] == '\r'))
            e--;
        snprintf(j->outcome, sizeof j->outcome, "%.*s", (int)(e - p), s + p);
        if (e - p == 0 || e - p > MIZ_OUTCOME_MAX)
            strcpy(j->outcome, "?"); /* refused at the end, with the reason */
        j->had_line = true;
        return;
    }
    j->had_line = true;
    worker_text_add(j, s, n);
    if (whole)
        worker_text_add(j, "\n", 1);
}

/* Reads what the command wrote so far; false once its output has ended. */
static bool worker_read(worker_t *wk, worker_job_t *j)
{
    char buf[4096];
    for (;;) {
        ssize_t got = read(j->out, buf, sizeof buf);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 && errno == EAGAIN)
            return true;
        if (got <= 0) {
            close(j->out);
            j->out = -1;
            return false;
        }
        for (ssize_t i = 0; i < got; i++) {
            if (buf[i] == '\n') {
                worker_line(wk, j, true);
            } else {
                if (j->line_len == MIZ_TEXT_MAX) /* a line too long: text, in parts */
                    worker_line(wk, j, false);
                j->line[j->line_len++] = buf[i];
            }
        }
    }
}

/* ---- a delivery's end ---- */

static void worker_send_refuse(worker_t *wk, worker_job_t *j, const char *reason)
{
    if (miz_worker_refuse(wk->w, j->delivery, reason) == 0)
        j->pending++;
    worker_job_done(j, "delivery %llu refused: %s", (unsigned long long)j->delivery, reason);
}

static void worker_send_answer(worker_t *wk, worker_job_t *j, const char *outcome,
                               const char *text)
{
    if (miz_worker_answer(wk->w, j->delivery, outcome, text) == 0)
        j->pending++;
    worker_job_done(j, "delivery %llu answered %s: %s", (unsigned long long)j->delivery, outcome,
                    text);
}

/* The command has ended with status: answer, or refuse with the reason. */
static void worker_finish(worker_t *wk, worker_job_t *j, int status)
{
    if (j->out >= 0)
        while (worker_read(wk, j))
            ; /* what is left in the pipe */
    if (j->line_len)
        worker_line(wk, j, true);
    j->pid = 0;
    while (j->text_len && (j->text[j->text_len - 1] == '\n' || j->text[j->text_len - 1] == '\r'))
        j->text_len--;
    /* never a UTF-8 character cut in two by the limit */
    while (j->truncated && j->text_len && ((unsigned char)j->text[j->text_len] & 0xC0) == 0x80)
        j->text_len--;
    j->text[j->text_len] = '\0';
    char reason[256];
    unsigned long long id = (unsigned long long)j->delivery;
    if (j->cancelled) {
        worker_job_done(j, "delivery %llu: its command was stopped", id);
        return; /* the broker took it back: nothing to send */
    }
    if (j->truncated)
        fprintf(stderr, "miz: delivery %llu: the command wrote more than %d bytes; the rest is "
                        "left out\n", id, MIZ_TEXT_MAX);
    char dur[32];
    if (j->timed_out) {
        snprintf(reason, sizeof reason, "the command did not finish within %s and was stopped",
                 duration_format(wk->timeout_ms, dur, sizeof dur));
        worker_send_refuse(wk, j, reason);
    } else if (!utf8_valid(j->text, j->text_len)) {
        worker_send_refuse(wk, j, "the command's output is not valid UTF-8");
    } else if (status != 0) {
        if (status > 128)
            snprintf(reason, sizeof reason, "the command was ended by signal %d", status - 128);
        else
            snprintf(reason, sizeof reason, "the command exited with status %d", status);
        worker_send_refuse(wk, j, j->text_len ? j->text : reason);
    } else if (strcmp(j->outcome, "?") == 0 || !utf8_valid(j->outcome, strlen(j->outcome)) ||
               MIZ_NAME_FIND(miz_state_names, j->outcome, strlen(j->outcome)) >= 0) {
        snprintf(reason, sizeof reason,
                 "the command's outcome line is not valid: it needs 1 to %d bytes of UTF-8, not "
                 "a delivery state's name", MIZ_OUTCOME_MAX);
        fprintf(stderr, "miz: delivery %llu: %s\n", id, reason);
        worker_send_refuse(wk, j, reason);
    } else {
        worker_send_answer(wk, j, j->outcome[0] ? j->outcome : wk->outcome, j->text);
    }
}

static void worker_set_env(char *vars[], size_t i, const char *name, const char *value, size_t n)
{
    if (asprintf(&vars[i], "%s=%.*s", name, (int)n, value ? value : "") < 0)
        vars[i] = NULL;
}

/* Starts the command for a delivery; false if it could not be started. */
static bool worker_start(worker_t *wk, worker_job_t *j, const miz_msg_t *d)
{
    static const char *const strs[][2] = {
        {"topic", "MIZ_TOPIC"},   {"kind", "MIZ_KIND"},     {"priority", "MIZ_PRIORITY"},
        {"agency", "MIZ_AGENCY"}, {"role", "MIZ_ROLE"},
    };
    enum { N_STRS = sizeof strs / sizeof strs[0] };
    char *vars[N_STRS + 3] = {0};
    uint64_t tracking = 0;
    miz_msg_uint(d, "tracking", &tracking);
    char num[2][24];
    snprintf(num[0], sizeof num[0], "%llu", (unsigned long long)tracking);
    snprintf(num[1], sizeof num[1], "%llu", (unsigned long long)j->delivery);
    worker_set_env(vars, 0, "MIZ_TRACKING", num[0], strlen(num[0]));
    worker_set_env(vars, 1, "MIZ_DELIVERY", num[1], strlen(num[1]));
    for (size_t i = 0; i < N_STRS; i++) {
        size_t n = 0;
        const char *s = miz_msg_str(d, strs[i][0], &n);
        /* a NUL in a value would cut the variable short: the broker sends none */
        worker_set_env(vars, i + 2, strs[i][1], s, s && !memchr(s, '\0', n) ? n : 0);
    }
    size_t pn = 0;
    const char *payload = miz_msg_str(d, "payload", &pn);
    bool ok = true;
    for (size_t i = 0; i < N_STRS + 2; i++)
        ok = ok && vars[i];
    if (ok)
        j->pid = exec_start(wk->exec, vars, payload, payload ? pn : 0, &j->out);
    for (size_t i = 0; i < N_STRS + 2; i++)
        free(vars[i]);
    if (!ok || j->pid < 0) {
        j->pid = 0;
        return false;
    }
    j->deadline = clock_ms(CLOCK_MONOTONIC) + wk->timeout_ms;
    return true;
}

/* ---- messages from the broker ---- */

static void worker_on_deliver(worker_t *wk, const miz_msg_t *d)
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
    if (worker_job_find(wk, id, NULL)) /* offered again while we still hold it */
        return;
    worker_job_t *j = worker_job_new(wk, id);
    if (!j) {
        fprintf(stderr, "miz: out of memory\n");
        return;
    }
    if (miz_worker_ack(wk->w, id) == 0)
        j->pending++;
    int r = role ? MIZ_NAME_FIND(miz_role_names, role, rn) : -1;
    if (r == MIZ_ROLE_OBSERVE || r == MIZ_ROLE_BREACH) {
        worker_job_done(j, "delivery %llu seen (an observer's copy)", (unsigned long long)id);
    } else if (!wk->exec) {
        worker_send_answer(wk, j, wk->outcome, wk->answer);
    } else if (!worker_start(wk, j, d)) {
        char reason[160];
        snprintf(reason, sizeof reason, "the worker could not start its command: %s",
                 strerror(errno));
        fprintf(stderr, "miz: delivery %llu: %s\n", (unsigned long long)id, reason);
        worker_send_refuse(wk, j, reason);
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
    if (j->done && j->pending == 0) {
        if (ok)
            printf("%s (confirmed by the broker)\n", j->done);
        else
            printf("%s: NOT confirmed, the broker refused it\n", j->done);
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
    if (j->pid > 0 && !j->done) {
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
    if (msg_is(m, MIZ_MSG_DELIVER) && wk->count != 0) {
        worker_on_deliver(wk, m);
        if (wk->count > 0)
            wk->count--;
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

/* ---- the loop ---- */

/* Reaps ended commands, and stops those past their time. */
static void worker_check_jobs(worker_t *wk, uint64_t now)
{
    for (size_t i = 0; i < wk->n_jobs; i++) {
        worker_job_t *j = wk->jobs[i];
        int status;
        if (j->pid <= 0)
            continue;
        if (exec_reap(j->pid, &status)) {
            worker_finish(wk, j, status);
            if (j->cancelled || j->pending == 0) {
                if (j->cancelled)
                    printf("%s\n", j->done);
                worker_job_free(wk, i--);
            }
            continue;
        }
        if (!j->term_sent && now >= j->deadline) {
            j->timed_out = true;
            j->term_sent = now;
            exec_signal(j->pid, SIGTERM);
        } else if (j->term_sent && now >= j->term_sent + WORKER_GRACE_MS) {
            exec_signal(j->pid, SIGKILL);
        }
    }
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

/* Ends every running command (SIGTERM, then SIGKILL) before the worker goes. */
static void worker_stop_jobs(worker_t *wk)
{
    bool any = false;
    for (size_t i = 0; i < wk->n_jobs; i++)
        if (wk->jobs[i]->pid > 0) {
            exec_signal(wk->jobs[i]->pid, SIGTERM);
            any = true;
        }
    uint64_t until = clock_ms(CLOCK_MONOTONIC) + WORKER_GRACE_MS;
    while (any) {
        any = false;
        bool late = clock_ms(CLOCK_MONOTONIC) >= until;
        for (size_t i = 0; i < wk->n_jobs; i++) {
            worker_job_t *j = wk->jobs[i];
            int status;
            if (j->pid > 0 && exec_reap(j->pid, &status))
                j->pid = 0;
            else if (j->pid > 0) {
                if (late)
                    exec_signal(j->pid, SIGKILL);
                any = true;
            }
        }
        if (any) {
            miz_worker_tick(wk->w);
            poll(NULL, 0, 50);
        }
    }
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
