/* report_cmd: a weekly report handed to the operator's command (the table's
 * reports.command, a mail command say) on its stdin. The command runs under
 * /bin/sh in a process group of its own, with the report's agency, week and
 * format in its environment; it must read the report and exit 0 within the
 * timeout, or its whole group is killed and the delivery has failed. What
 * it prints is read (so it never blocks on a full pipe) and its first line
 * kept, made safe for a log line, to say why it failed. This call blocks:
 * weekly.c runs it on a thread of its own, so the loop never waits. */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "dash_int.h"

extern char **environ;

#define REPORT_CMD_OUTPUT_MAX 160 /* bytes of its output kept for the log */

/* The first line of what it printed, printable ASCII only. */
static void report_cmd_said(const char *out, size_t n, char *why, size_t size)
{
    size_t w = strlen(why);
    if (!n || w + 8 >= size)
        return;
    w += (size_t)snprintf(why + w, size - w, ": \"");
    for (size_t i = 0; i < n && out[i] != '\n' && w + 3 < size; i++)
        why[w++] = out[i] >= 0x20 && out[i] < 0x7F ? out[i] : '?';
    snprintf(why + w, size - w, "\"");
}

/* Writes the report and reads what it prints until both are done or the
 * deadline; false at the deadline. */
static bool report_cmd_talk(int in, int out, const char *data, size_t len, uint64_t deadline,
                            const atomic_bool *cancel, char *said, size_t *n_said)
{
    size_t sent = 0;
    char buf[4096];
    if (len == 0)
        close(in), in = -1;
    while (out >= 0) {
        uint64_t now = clock_ms(CLOCK_MONOTONIC);
        if (now >= deadline || atomic_load(cancel)) {
            if (in >= 0)
                close(in);
            close(out);
            return false;
        }
        struct pollfd pf[2] = {{out, POLLIN, 0}, {in, POLLOUT, 0}};
        int wait = deadline - now < 100 ? (int)(deadline - now) : 100;
        if (poll(pf, in >= 0 ? 2 : 1, wait) < 0 && errno != EINTR)
            break;
        if (pf[0].revents) {
            ssize_t got = read(out, buf, sizeof buf);
            if (got > 0 && *n_said < REPORT_CMD_OUTPUT_MAX) {
                size_t keep = (size_t)got < REPORT_CMD_OUTPUT_MAX - *n_said
                                  ? (size_t)got
                                  : REPORT_CMD_OUTPUT_MAX - *n_said;
                memcpy(said + *n_said, buf, keep);
                *n_said += keep;
            }
            if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN))
                close(out), out = -1;
        }
        if (in >= 0 && pf[1].revents) {
            ssize_t put = write(in, data + sent, len - sent);
            if (put > 0)
                sent += (size_t)put;
            if (sent == len || (put < 0 && errno != EINTR && errno != EAGAIN))
                close(in), in = -1; /* EPIPE: it stopped reading; its status says the rest */
        }
    }
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return true;
}

int report_command_run(const char *command, const char *const *env_add, const char *data,
                       size_t len, uint64_t timeout_ms, const atomic_bool *cancel, char *why,
                       size_t whylen)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    size_t n_env = 0, n_add = 0;
    while (environ[n_env])
        n_env++;
    while (env_add[n_add])
        n_add++;
    char **envp = calloc(n_env + n_add + 1, sizeof *envp);
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    pid_t pid = -1;
    snprintf(why, whylen, "cannot run it: %s", strerror(ENOMEM));
    if (!envp || pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
        snprintf(why, whylen, "cannot run it: %s", strerror(errno));
        goto done;
    }
    memcpy(envp, env_add, n_add * sizeof *envp);
    memcpy(envp + n_add, environ, n_env * sizeof *envp);
    sigset_t none, dfl;
    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE); /* the dashboard ignores it; the command must not */
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDERR_FILENO);
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &dfl);
    char *argv[] = {"sh", "-c", (char *)command, NULL};
    int rc = posix_spawn(&pid, "/bin/sh", &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(in[0]);
    close(out[1]);
    in[0] = out[1] = -1;
    if (rc != 0) {
        snprintf(why, whylen, "cannot run it: %s", strerror(rc));
        goto done;
    }
    uint64_t deadline = clock_ms(CLOCK_MONOTONIC) + timeout_ms;
    char said[REPORT_CMD_OUTPUT_MAX];
    size_t n_said = 0;
    fcntl(in[1], F_SETFL, O_NONBLOCK);
    bool in_time = report_cmd_talk(in[1], out[0], data, len, deadline, cancel, said, &n_said);
    int status = 0;
    while (in_time && waitpid(pid, &status, WNOHANG) == 0) {
        if (clock_ms(CLOCK_MONOTONIC) >= deadline || atomic_load(cancel))
            in_time = false;
        else
            poll(NULL, 0, 10);
    }
    if (!in_time) {
        kill(-pid, SIGKILL);
        waitpid(pid, &status, 0);
        snprintf(why, whylen, atomic_load(cancel) ? "killed: the dashboard is stopping"
                                                  : "timed out after %llu ms, killed",
                 (unsigned long long)timeout_ms);
        rc = -1;
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        why[0] = '\0';
        rc = 0;
    } else {
        if (WIFEXITED(status))
            snprintf(why, whylen, "exited with status %d", WEXITSTATUS(status));
        else
            snprintf(why, whylen, "killed by signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        rc = -1;
    }
    if (rc < 0)
        report_cmd_said(said, n_said, why, whylen);
    free(envp);
    return rc;
done:
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0)
            close(in[i]);
        if (out[i] >= 0)
            close(out[i]);
    }
    free(envp);
    return -1;
}
