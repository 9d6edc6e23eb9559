/* cli: the real `miz` binary, run by a test against the harness's mizd.
 *
 * A command runs in the background with its standard output and error in
 * files of a temp dir of its own; the waits keep the harness's peers
 * pumped (their heartbeats going) and end, failing the test, after
 * IT_WAIT_MS. What the command printed is read back as text. */
#ifndef MIZ_IT_CLI_H
#define MIZ_IT_CLI_H

#include "harness.h"

typedef struct {
    pid_t pid;
    char dir[64];
    int status; /* once exited: the exit status, or 128 + the signal */
    bool exited;
} it_cli_t;

/* Runs the miz binary with argv (NULL-terminated, without "miz"). */
void it_cli_start(it_cli_t *c, const char *const argv[]);
/* Waits for it to exit: its exit status. */
int it_cli_wait(it_daemon_t *d, it_cli_t *c);
/* Sends sig, then waits for it to exit: its exit status. */
int it_cli_stop(it_daemon_t *d, it_cli_t *c, int sig);
/* Runs it to its end: its exit status. */
int it_cli_run(it_daemon_t *d, it_cli_t *c, const char *const argv[]);
/* What it wrote so far on stdout ("out") or stderr ("err"); free it. */
char *it_cli_output(const it_cli_t *c, const char *which);
/* Waits until its stdout or stderr holds text. */
void it_cli_wait_output(it_daemon_t *d, const it_cli_t *c, const char *which, const char *text);
/* A path in its temp dir. */
void it_cli_path(const it_cli_t *c, const char *name, char *buf, size_t size);
/* Waits until the process pid has ended (gone, or a zombie no one reaps). */
void it_wait_gone(it_daemon_t *d, pid_t pid);
/* Removes its temp dir (it must have exited). */
void it_cli_free(it_cli_t *c);

#endif
