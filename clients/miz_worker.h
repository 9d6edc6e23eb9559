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

/* ---- jobs (miz_worker_job.c) ---- */

worker_job_t *worker_job_new(worker_t *wk, uint64_t delivery);
/* Frees the i-th job; the last one takes its place. */
void worker_job_free(worker_t *wk, size_t i);
/* The job of that delivery (and its index in *at), or NULL. */
worker_job_t *worker_job_find(worker_t *wk, uint64_t delivery, size_t *at);
/* The job's end, printed once the broker confirms its last command. */
void worker_job_done(worker_job_t *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void worker_send_refuse(worker_t *wk, worker_job_t *j, const char *reason);
void worker_send_answer(worker_t *wk, worker_job_t *j, const char *outcome, const char *text);

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
