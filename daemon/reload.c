/* reload: `mizd --reload PID`, a reload that waits for its outcome
 * (reload.h says why).
 *
 * The running mizd writes the outcome of each SIGHUP to a file that the
 * asker, having sent the signal, waits for and prints. */
#include "reload.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 10
#define LINE_SIZE 640 /* "PID N refused: " and a reason of up to 512 bytes */

/* $RUNTIME_DIRECTORY's first directory (systemd lists several with ':')
 * and "/reload" then suffix. 1: in path; 0: the variable is unset; -1: too
 * long. */
static int status_path(char *path, size_t len, const char *suffix)
{
    const char *dirs = getenv("RUNTIME_DIRECTORY");
    if (!dirs || !*dirs)
        return 0;
    int n = snprintf(path, len, "%.*s/reload%s", (int)strcspn(dirs, ":"), dirs, suffix);
    return n > 0 && (size_t)n < len ? 1 : -1;
}

/* Puts "PID N outcome" and the first line of why in place whole. */
static int write_status(unsigned long n, const char *outcome, const char *why, char *err,
                        size_t errlen)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    int has = status_path(path, sizeof path, "");
    if (has == 0)
        return 0;
    if (has < 0 || status_path(tmp, sizeof tmp, ".new") < 0) {
        snprintf(err, errlen, "$RUNTIME_DIRECTORY is too long");
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        return -1;
    }
    fprintf(f, "%ld %lu %s%.*s\n", (long)getpid(), n, outcome, (int)strcspn(why, "\n"), why);
    if (fclose(f) != 0 || rename(tmp, path) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int reload_ready(char *err, size_t errlen)
{
    return write_status(0, "ready", "", err, errlen);
}

int reload_record(unsigned long n, bool ok, const char *why, char *err, size_t errlen)
{
    return write_status(n, ok ? "ok" : "refused: ", ok ? "" : why, err, errlen);
}

/* The outcome line without its newline; "" if there is none yet. */
static void read_status(const char *path, char *line, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f || !fgets(line, (int)len, f))
        line[0] = '\0';
    if (f)
        fclose(f);
    line[strcspn(line, "\n")] = '\0';
}

int reload_request(pid_t pid, int timeout_ms, char *msg, size_t msglen)
{
    char path[PATH_MAX], before[LINE_SIZE], now[LINE_SIZE], from[32];
    int has = status_path(path, sizeof path, "");
    if (has <= 0) {
        snprintf(msg, msglen, has < 0 ? "$RUNTIME_DIRECTORY is too long"
                                      : "$RUNTIME_DIRECTORY is not set: it names where mizd "
                                        "tells the outcome (systemd's RuntimeDirectory=)");
        return -1;
    }
    read_status(path, before, sizeof before);
    if (kill(pid, SIGHUP) < 0) {
        snprintf(msg, msglen, "cannot signal process %ld: %s", (long)pid, strerror(errno));
        return -1;
    }
    int from_len = snprintf(from, sizeof from, "%ld ", (long)pid);
    for (int waited = 0; waited <= timeout_ms; waited += POLL_MS) {
        read_status(path, now, sizeof now);
        /* a line of that pid, other than before, and not the one it starts with (N = 0) */
        if (strcmp(now, before) != 0 && strncmp(now, from, (size_t)from_len) == 0 &&
            strncmp(now + from_len, "0 ", 2) != 0) {
            const char *outcome = strchr(now + from_len, ' '); /* past N */
            if (outcome && strcmp(outcome, " ok") == 0) {
                snprintf(msg, msglen, "routing table reloaded");
                return 0;
            }
            if (outcome && strncmp(outcome, " refused: ", 10) == 0) {
                snprintf(msg, msglen, "reload refused, the routing table in use stays: %s",
                         outcome + 10);
                return 1;
            }
            snprintf(msg, msglen, "%s: not an outcome: \"%s\"", path, now);
            return -1;
        }
        nanosleep(&(struct timespec){0, POLL_MS * 1000000L}, NULL);
    }
    snprintf(msg, msglen, "process %ld told no outcome in %s within %d ms: is it mizd, with the "
                          "same $RUNTIME_DIRECTORY?", (long)pid, path, timeout_ms);
    return -1;
}
