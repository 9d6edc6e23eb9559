/* miz_worker_job: the deliveries `miz worker` holds, its jobs.
 *
 * A job lives from a delivery's offer until the broker has confirmed the
 * command that ends it (answer, refuse, or the ack of a copy). Until then
 * the job keeps that command: a broker that restarts, or another that
 * takes over, offers the delivery again (same id, next attempt) when the
 * command never landed, and it is sent again (protocol.md, section 6);
 * while the job is still worked on, the new offer is acked again. What the
 * worker prints about a delivery's end is what the broker confirmed. Kept
 * apart from the loop (miz_worker.c) and from running commands
 * (miz_worker_exec.c), which both use it. */
#include <errno.h>
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

static const char *worker_job_command(const worker_job_t *j)
{
    static const char *const names[] = {
        [WORKER_FINAL_SEEN] = "ack", [WORKER_FINAL_ANSWER] = "answer",
        [WORKER_FINAL_REFUSE] = "refusal",
    };
    return names[j->final];
}

/* Sends the final command; once more when the delivery is offered again. */
static void worker_job_send(worker_t *wk, worker_job_t *j)
{
    int rc = -1;
    switch (j->final) {
    case WORKER_FINAL_SEEN: rc = miz_worker_ack(wk->w, j->delivery); break;
    case WORKER_FINAL_ANSWER:
        rc = miz_worker_answer(wk->w, j->delivery, j->outcome, j->text);
        break;
    case WORKER_FINAL_REFUSE: rc = miz_worker_refuse(wk->w, j->delivery, j->text); break;
    case WORKER_FINAL_NONE: return;
    }
    if (rc == 0)
        j->pending++;
    else /* kept: sent again if the broker offers the delivery again */
        fprintf(stderr, "miz: delivery %llu: its %s could not be sent: %s\n",
                (unsigned long long)j->delivery, worker_job_command(j), strerror(errno));
}

/* Keeps the final command in the job (outcome and text may be its own). */
static void worker_job_end(worker_t *wk, worker_job_t *j, worker_final_t final,
                           const char *outcome, const char *text)
{
    j->final = final;
    if (outcome != j->outcome)
        snprintf(j->outcome, sizeof j->outcome, "%s", outcome);
    if (text != j->text)
        snprintf(j->text, sizeof j->text, "%s", text);
    j->text_len = strlen(j->text);
    worker_job_send(wk, j);
}

void worker_job_answer(worker_t *wk, worker_job_t *j, const char *outcome, const char *text)
{
    worker_job_end(wk, j, WORKER_FINAL_ANSWER, outcome, text);
}

void worker_job_refuse(worker_t *wk, worker_job_t *j, const char *reason)
{
    worker_job_end(wk, j, WORKER_FINAL_REFUSE, "", reason);
}

void worker_job_seen(worker_t *wk, worker_job_t *j)
{
    worker_job_end(wk, j, WORKER_FINAL_SEEN, "", "");
}

void worker_job_reoffered(worker_t *wk, worker_job_t *j, uint64_t attempt)
{
    unsigned long long id = (unsigned long long)j->delivery;
    /* what was sent on the earlier offer went to a broker that is gone, or
     * that dropped us: its replies will not come */
    j->pending = 0;
    if (j->final != WORKER_FINAL_NONE) {
        printf("delivery %llu offered again (attempt %llu): its %s got no ok, sent again\n", id,
               (unsigned long long)attempt, worker_job_command(j));
        worker_job_send(wk, j);
        return;
    }
    printf("delivery %llu offered again (attempt %llu): acked again, its command goes on\n", id,
           (unsigned long long)attempt);
    /* ours again even if a cancel was stopping its command: it is never run
     * twice, so what the stopped command leaves refuses it (or answers) */
    j->cancelled = false;
    if (miz_worker_ack(wk->w, j->delivery) == 0)
        j->pending++;
}

void worker_job_say(const worker_job_t *j, const char *how)
{
    unsigned long long id = (unsigned long long)j->delivery;
    switch (j->final) {
    case WORKER_FINAL_SEEN: printf("delivery %llu seen (an observer's copy)%s\n", id, how); break;
    case WORKER_FINAL_ANSWER:
        printf("delivery %llu answered %s: %s%s\n", id, j->outcome, j->text, how);
        break;
    case WORKER_FINAL_REFUSE: printf("delivery %llu refused: %s%s\n", id, j->text, how); break;
    case WORKER_FINAL_NONE: printf("delivery %llu: its command was stopped%s\n", id, how); break;
    }
}
