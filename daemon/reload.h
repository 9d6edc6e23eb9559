/* reload: a reload whose outcome the asker learns (`mizd --reload PID`,
 * systemd's ExecReload=).
 *
 * SIGHUP alone says nothing back, and systemd 252 (Debian 12) counts a
 * reload done when ExecReload= exits. So the daemon writes the outcome of
 * each reload to $RUNTIME_DIRECTORY/reload, one line "PID N ok" or
 * "PID N refused: WHY" (N counts its reloads), renamed into place whole,
 * and "PID 0 ready" when it starts, so a line left by an earlier daemon
 * with the same PID is never taken for news. The asker notes the line,
 * sends SIGHUP, and waits for a new one from that PID. Without
 * $RUNTIME_DIRECTORY the daemon writes nothing. */
#ifndef MIZ_RELOAD_H
#define MIZ_RELOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The daemon's side, at start: 0, or -1 with the reason in err. */
int reload_ready(char *err, size_t errlen);
/* ...and after each reload: records the outcome of its n-th (why: the
 * first reason it was refused). 0, or -1 with the reason in err (an unset
 * $RUNTIME_DIRECTORY is not an error). */
int reload_record(unsigned long n, bool ok, const char *why, char *err, size_t errlen);

/* The asker's side: reloads the daemon pid and waits up to timeout_ms for
 * the outcome. 0: taken; 1: refused; -1: no outcome (no
 * $RUNTIME_DIRECTORY, no such process, or none in time). msg has the
 * daemon's reason, or what went wrong. */
int reload_request(pid_t pid, int timeout_ms, char *msg, size_t msglen);

#endif
