/* miz_exec.h: a worker's --exec commands, each in a process group of its
 * own that ends with the worker (miz_exec.c). */
#ifndef MIZ_EXEC_H
#define MIZ_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The lifeline every command's keeper watches; once, before exec_start. */
int exec_init(void);
/* Starts /bin/sh -c cmd in a new process group with input on its stdin and
 * vars ("NAME=value", NULL-terminated) added to the environment; *out is
 * its stdout, non-blocking. Returns the group's id (its keeper's pid), or
 * -1 with errno set. */
pid_t exec_start(const char *cmd, char *const vars[], const void *input, size_t input_len,
                 int *out);
/* Sends sig to every process of the group. */
void exec_signal(pid_t pid, int sig);
/* Whether the group's keeper has exited, without waiting; *status is the
 * command's exit status, or 128 + the signal that ended it. */
bool exec_reap(pid_t pid, int *status);

#endif
