/* miz_worker.h: what the files of `miz worker` share.
 *
 * miz_worker.c reads the options, runs the loop and takes the broker's
 * messages; miz_worker_job.c keeps the deliveries the worker holds and
 * sends their final commands; miz_worker_exec.c runs a delivery's --exec
 * command (through miz_exec.c) and reads what it says. */
#ifndef MIZ_WORKER_H
#define MIZ_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "miz_int.h"

#define WORKER_GRACE_MS 2000 /* SIGTERM to SIGKILL, for a command being stopped */

/* The command that ends a job. It is kept until the broker confirms it:
 * if the delivery is offered again before then (the broker restarted, or
 * another took over), it never landed and is sent again (protocol.md,
 * section 6), and a command's output is never lost to a second run. */
typedef enum {
    WORKER_FINAL_NONE,   /* not yet: its --exec command still runs */
    WORKER_FINAL_SEEN,   /* an observer's copy: the ack ends it */
    WORKER_FINAL_ANSWER, /* answer with outcome and text */
    WORKER_FINAL_REFUSE, /* refuse with text as the reason */
} worker_final_t;

typedef struct {
    uint64_t delivery;
    pid_t pid;              /* the command's process group; 0 when none or reaped */
    int out;                /* its stdout; -1 when none or closed */
    uint64_t deadline;      /* monotonic ms: the timeout */
    uint64_t term_sent;     /* when it was sent SIGTERM; 0 if not */
    bool timed_out, cancelled, truncated, had_line;
    char line[MIZ_TEXT_MAX + 1];
    size_t line_len;
    /* the command's output as it comes, then the final command's fields */
    char outcome[MIZ_OUTCOME_MAX + 1];
    char text[MIZ_TEXT_MAX + 1];
    size_t text_len;
    worker_final_t final;
    /* commands sent for it on this offer that the broker has not confirmed;
     * its end is printed once the last is, the final one among them */
    unsigned pending;
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

/* ---- jobs (miz_worker_job.c) ---- */

worker_job_t *worker_job_new(worker_t *wk, uint64_t delivery);
/* Frees the i-th job; the last one takes its place. */
void worker_job_free(worker_t *wk, size_t i);
/* The job of that delivery (and its index in *at), or NULL. */
worker_job_t *worker_job_find(worker_t *wk, uint64_t delivery, size_t *at);
/* Ends the job with that command (kept in the job) and sends it. */
void worker_job_answer(worker_t *wk, worker_job_t *j, const char *outcome, const char *text);
void worker_job_refuse(worker_t *wk, worker_job_t *j, const char *reason);
void worker_job_seen(worker_t *wk, worker_job_t *j);
/* The broker offered the job's delivery again (attempt): acks it again if
 * it is still being worked on, or sends its final command again. */
void worker_job_reoffered(worker_t *wk, worker_job_t *j, uint64_t attempt);
/* Prints how the job ended, then how (" (confirmed by the broker)"). */
void worker_job_say(const worker_job_t *j, const char *how);

/* A delivery's payload for people and commands: a string as it is, any
 * other value (a map from miz-open311, say) as JSON. Malloc'd, with its
 * length; NULL when memory ran out. */
char *worker_payload(const miz_msg_t *d, size_t *len);

/* ---- --exec commands (miz_worker_exec.c) ---- */

/* Starts the command for a delivery; false if it could not be started. */
bool worker_start(worker_t *wk, worker_job_t *j, const miz_msg_t *d);
/* Reads what the command wrote so far; false once its output has ended. */
bool worker_read(worker_t *wk, worker_job_t *j);
/* Reaps ended commands, and stops those past their time. */
void worker_check_jobs(worker_t *wk, uint64_t now);
/* Ends every running command (SIGTERM, then SIGKILL) before the worker goes. */
void worker_stop_jobs(worker_t *wk);

#endif
