/* sandbox: servers the tests run as an unprivileged user, and cleaned up
 * whatever becomes of the test.
 *
 * PostgreSQL refuses to run as root, and CI runs as root: every server a
 * test starts (postgres, etcd, Patroni) runs as nobody then, in a session of
 * its own so that a kill reaches every process it started. A test that fails
 * half-way, or is killed by ctest's timeout, must still leave no server
 * running and no directory behind (other tests share /tmp): a guardian
 * process, in a session of its own too, waits for the test process to end
 * its watch or to die, then kills the sessions it was told of and every
 * process working in its directory, and removes the directory, by its
 * exact name. */
#ifndef MIZ_TEST_SANDBOX_H
#define MIZ_TEST_SANDBOX_H

#include <stddef.h>
#include <sys/types.h>

/* A free TCP port on 127.0.0.1, as the kernel picks one (another process
 * may take it before it is used: a server that cannot bind is started
 * again on another). */
int sb_free_port(void);
/* A new directory /tmp/<prefix>-XXXXXX, owned by the user servers run as. */
int sb_temp_dir(const char *prefix, char *dir, size_t len);
/* Starts argv[0] (a full path) as that user in a session of its own, its
 * stdout and stderr appended to log, with extra environment variables
 * ("K=V", NULL-ended; NULL: none): its pid, or -1. */
pid_t sb_spawn(char *const argv[], char *const env[], const char *log);
/* Runs argv so and waits: its exit status, or -1 if it did not exit. */
int sb_run(char *const argv[], const char *log);
/* SIGKILL to a spawned process's whole session; reaps the process. */
void sb_kill_session(pid_t pid);
/* Whether a spawned process has exited (reaped then). */
int sb_exited(pid_t pid);
/* The last lines of a log, for an error message: at most len bytes. */
void sb_log_tail(const char *log, char *buf, size_t len);

typedef struct sb_guard sb_guard_t;
/* A guardian of dir, which must exist: NULL on failure. */
sb_guard_t *sb_guard_new(const char *dir);
/* One more session for it to kill. */
void sb_guard_watch(sb_guard_t *g, pid_t session);
/* Ends the watch: the guardian kills what is left and removes the
 * directory; returns once it has. Accepts NULL. */
void sb_guard_end(sb_guard_t **g);

#endif
