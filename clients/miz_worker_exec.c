/* miz_worker_exec: a delivery's --exec command, as `miz worker` runs it.
 *
 * The command gets the delivery in its environment and the payload on its
 * stdin (miz_exec.c keeps it in a process group that ends with the worker);
 * its output is read as it comes: "progress:" lines go to the broker at
 * once, an "outcome:" line chooses the outcome, the rest is the answer's
 * text (the contract is in man/miz.1 and at worker_line). When it ends, or
 * runs past --timeout, the delivery is answered or refused. This is the
 * part of the worker that deals with processes, apart from the loop. */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "duration.h"
#include "miz_exec.h"
#include "miz_worker.h"
#include "utf8.h"

#define WORKER_PROGRESS "progress:"
#define WORKER_OUTCOME "outcome:"

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

bool worker_read(worker_t *wk, worker_job_t *j)
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
    if (j->cancelled)
        return; /* the broker took it back: nothing to send */
    if (j->truncated)
        fprintf(stderr, "miz: delivery %llu: the command wrote more than %d bytes; the rest is "
                        "left out\n", id, MIZ_TEXT_MAX);
    char dur[32];
    if (j->timed_out) {
        snprintf(reason, sizeof reason, "the command did not finish within %s and was stopped",
                 duration_format(wk->timeout_ms, dur, sizeof dur));
        worker_job_refuse(wk, j, reason);
    } else if (!utf8_valid(j->text, j->text_len)) {
        worker_job_refuse(wk, j, "the command's output is not valid UTF-8");
    } else if (status != 0) {
        if (status > 128)
            snprintf(reason, sizeof reason, "the command was ended by signal %d", status - 128);
        else
            snprintf(reason, sizeof reason, "the command exited with status %d", status);
        worker_job_refuse(wk, j, j->text_len ? j->text : reason);
    } else if (strcmp(j->outcome, "?") == 0 || !utf8_valid(j->outcome, strlen(j->outcome)) ||
               MIZ_NAME_FIND(miz_state_names, j->outcome, strlen(j->outcome)) >= 0) {
        snprintf(reason, sizeof reason,
                 "the command's outcome line is not valid: it needs 1 to %d bytes of UTF-8, not "
                 "a delivery state's name", MIZ_OUTCOME_MAX);
        fprintf(stderr, "miz: delivery %llu: %s\n", id, reason);
        worker_job_refuse(wk, j, reason);
    } else {
        worker_job_answer(wk, j, j->outcome[0] ? j->outcome : wk->outcome, j->text);
    }
}

static void worker_set_env(char *vars[], size_t i, const char *name, const char *value, size_t n)
{
    if (asprintf(&vars[i], "%s=%.*s", name, (int)n, value ? value : "") < 0)
        vars[i] = NULL;
}

bool worker_start(worker_t *wk, worker_job_t *j, const miz_msg_t *d)
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
    char *payload = worker_payload(d, &pn);
    bool ok = payload != NULL;
    for (size_t i = 0; i < N_STRS + 2; i++)
        ok = ok && vars[i];
    if (ok)
        j->pid = exec_start(wk->exec, vars, payload, pn, &j->out);
    for (size_t i = 0; i < N_STRS + 2; i++)
        free(vars[i]);
    free(payload);
    if (!ok || j->pid < 0) {
        j->pid = 0;
        return false;
    }
    j->deadline = clock_ms(CLOCK_MONOTONIC) + wk->timeout_ms;
    return true;
}

void worker_check_jobs(worker_t *wk, uint64_t now)
{
    for (size_t i = 0; i < wk->n_jobs; i++) {
        worker_job_t *j = wk->jobs[i];
        int status;
        if (j->pid <= 0)
            continue;
        if (exec_reap(j->pid, &status)) {
            worker_finish(wk, j, status);
            if (j->cancelled) { /* nothing was sent: nothing will be confirmed */
                worker_job_say(j, "");
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

void worker_stop_jobs(worker_t *wk)
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
