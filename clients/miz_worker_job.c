/* miz_worker_job: the deliveries `miz worker` holds, its jobs.
 *
 * A job lives from a delivery's offer until the broker has confirmed the
 * command that ends it (answer, refuse, or the ack of a copy): what the
 * worker prints about a delivery's end is what the broker confirmed, so
 * the job keeps that line until then. Kept apart from the loop
 * (miz_worker.c) and from running commands (miz_worker_exec.c), which both
 * use it. */
#define _GNU_SOURCE /* vasprintf */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "miz_worker.h"

worker_job_t *worker_job_new(worker_t *wk, uint64_t delivery)
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

void worker_job_free(worker_t *wk, size_t i)
{
    worker_job_t *j = wk->jobs[i];
    if (j->out >= 0)
        close(j->out);
    free(j->done);
    free(j);
    wk->jobs[i] = wk->jobs[--wk->n_jobs];
}

worker_job_t *worker_job_find(worker_t *wk, uint64_t delivery, size_t *at)
{
    for (size_t i = 0; i < wk->n_jobs; i++)
        if (wk->jobs[i]->delivery == delivery) {
            if (at)
                *at = i;
            return wk->jobs[i];
        }
    return NULL;
}

void worker_job_done(worker_job_t *j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&j->done, fmt, ap) < 0)
        j->done = NULL;
    va_end(ap);
    if (!j->done)
        j->done = strdup("");
}

void worker_send_refuse(worker_t *wk, worker_job_t *j, const char *reason)
{
    if (miz_worker_refuse(wk->w, j->delivery, reason) == 0)
        j->pending++;
    worker_job_done(j, "delivery %llu refused: %s", (unsigned long long)j->delivery, reason);
}

void worker_send_answer(worker_t *wk, worker_job_t *j, const char *outcome,
                               const char *text)
{
    if (miz_worker_answer(wk->w, j->delivery, outcome, text) == 0)
        j->pending++;
    worker_job_done(j, "delivery %llu answered %s: %s", (unsigned long long)j->delivery, outcome,
                    text);
}
