/* miz_int.h: what the files of the `miz` command-line tool share.
 *
 * miz.c parses the command line and runs submit, report and keygen;
 * miz_status.c prints a request's status (text or JSON, through
 * miz_json.c); miz_worker.c is the worker (with miz_worker_job.c and
 * miz_worker_exec.c, miz_worker.h), and miz_exec.c runs its --exec
 * commands. They agree here on exit statuses and on how a broker's error
 * and an unreachable broker are told. */
#ifndef MIZ_CLI_INT_H
#define MIZ_CLI_INT_H

#include <stdbool.h>
#include <stdio.h>

#include "miz.h"
#include "proto.h"

#define EXIT_REFUSED 1 /* the broker answered with an error */
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 3
#define EXIT_NO_REPORT 4 /* report: no such report (an agency the table lacks, a week not begun) */
#define TIMEOUT_MS 5000
#define WAIT_PING_MS 1000 /* submit --wait: says it is still there this often */

void usage(FILE *out);
/* Whether m is the broker's message of that type (lib/proto.h's names). */
bool msg_is(const miz_msg_t *m, miz_message_t type);
/* Prints an "error" message's code and text to stderr; EXIT_REFUSED. */
int report_error(const miz_msg_t *m);
/* Says no broker answered at endpoint (errno says why); EXIT_UNREACHABLE. */
int unreachable(const char *endpoint);

int cmd_status(const char *endpoint, const miz_curve_t *curve, int argc, char **argv);
int cmd_worker(const char *endpoint, const miz_curve_t *curve, int argc, char **argv);

#endif
