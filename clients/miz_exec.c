/* miz_exec: running a worker's --exec command so that it never outlives
 * its worker.
 *
 * Each command runs in a process group of its own, led by a small keeper
 * process: the keeper starts /bin/sh with the command, waits for it, and
 * ends whatever the command left in its group. It also watches a lifeline,
 * a pipe whose only writer is the worker: when the worker dies, even by
 * SIGKILL, the pipe closes and the keeper ends the whole group. The worker
 * itself ends a group at a timeout, on a cancel and when it stops
 * (exec_signal). Everything after fork in the child is async-signal-safe:
 * ZeroMQ's threads may hold locks at the fork. */
#define _GNU_SOURCE /* closefrom, memfd_create, ppoll */
#include "miz_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXEC_GRACE_POLLS 20 /* 100 ms each: how long a command has after SIGTERM */

extern char **environ;

static int exec_lifeline[2] = {-1, -1};

int exec_init(void)
{
    if (exec_lifeline[1] >= 0)
        return 0;
    return pipe2(exec_lifeline, O_CLOEXEC);
}

static void exec_on_child(int sig)
{
    (void)sig; /* only wakes ppoll */
}

/* The keeper: fd 0 the payload, fd 1 the output pipe, fd 3 the lifeline. */
static void exec_keeper(const char *cmd, char *const envp[]) __attribute__((noreturn));
static void exec_keeper(const char *cmd, char *const envp[])
{
    sigset_t chld, none;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigemptyset(&none);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    struct sigaction sa = {.sa_handler = exec_on_child};
    sigaction(SIGCHLD, &sa, NULL);
    pid_t sh = fork();
    if (sh == 0) {
        close(3);
        sa.sa_handler = SIG_DFL;
        sigaction(SIGCHLD, &sa, NULL);
        sigprocmask(SIG_UNBLOCK, &chld, NULL);
        execve("/bin/sh", (char *const[]){"sh", "-c", (char *)cmd, NULL}, envp);
        _exit(127);
    }
    close(0);
    close(1);
    signal(SIGTERM, SIG_IGN); /* what the keeper sends its group is for the others */
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    if (sh < 0)
        _exit(127);
    for (;;) {
        int st;
        if (waitpid(sh, &st, WNOHANG) == sh) {
            kill(0, SIGTERM); /* what the command left behind goes with it */
            _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
        }
        struct pollfd p = {3, POLLIN, 0};
        if (ppoll(&p, 1, NULL, &none) > 0 && p.revents) { /* the worker is gone */
            kill(0, SIGTERM);
            for (int i = 0; i < EXEC_GRACE_POLLS && waitpid(sh, &st, WNOHANG) != sh; i++)
                ppoll(NULL, 0, &(struct timespec){0, 100 * 1000 * 1000}, &none);
            kill(0, SIGKILL);
            _exit(128 + SIGKILL);
        }
    }
}

/* Moves fd to to, through a number above every target. */
static void exec_move(int fd, int to)
{
    if (fd != to) {
        dup2(fd, to);
        close(fd);
    }
}

static bool exec_var_is_ours(const char *entry, char *const vars[])
{
    for (size_t i = 0; vars[i]; i++) {
        const char *eq = strchr(vars[i], '=');
        size_t n = eq ? (size_t)(eq - vars[i]) + 1 : strlen(vars[i]);
        if (strncmp(entry, vars[i], n) == 0)
            return true;
    }
    return false;
}

pid_t exec_start(const char *cmd, char *const vars[], const void *input, size_t input_len,
                 int *out)
{
    int in = memfd_create("miz-payload", MFD_CLOEXEC), pipefd[2] = {-1, -1};
    if (in < 0 || pipe2(pipefd, O_CLOEXEC) < 0)
        goto fail;
    for (size_t done = 0; done < input_len;) {
        ssize_t n = write(in, (const char *)input + done, input_len - done);
        if (n < 0 && errno != EINTR)
            goto fail;
        done += n > 0 ? (size_t)n : 0;
    }
    if (lseek(in, 0, SEEK_SET) < 0)
        goto fail;
    /* the environment, built before the fork: ours replace inherited ones */
    size_t n_env = 0, n_vars = 0;
    while (environ[n_env])
        n_env++;
    while (vars[n_vars])
        n_vars++;
    char **envp = calloc(n_env + n_vars + 1, sizeof *envp);
    if (!envp)
        goto fail;
    size_t k = 0;
    for (size_t i = 0; i < n_env; i++)
        if (!exec_var_is_ours(environ[i], vars))
            envp[k++] = environ[i];
    for (size_t i = 0; i < n_vars; i++)
        envp[k++] = vars[i];
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        int a = fcntl(in, F_DUPFD, 10), b = fcntl(pipefd[1], F_DUPFD, 10),
            c = fcntl(exec_lifeline[0], F_DUPFD, 10);
        exec_move(a, 0);
        exec_move(b, 1);
        exec_move(c, 3);
        closefrom(4);
        exec_keeper(cmd, envp);
    }
    free(envp);
    if (pid < 0)
        goto fail;
    setpgid(pid, pid); /* also here, so a signal to the group cannot come before it exists */
    close(in);
    close(pipefd[1]);
    fcntl(pipefd[0], F_SETFL, fcntl(pipefd[0], F_GETFL) | O_NONBLOCK);
    *out = pipefd[0];
    return pid;
fail:
    if (in >= 0)
        close(in);
    if (pipefd[0] >= 0) {
        close(pipefd[0]);
        close(pipefd[1]);
    }
    return -1;
}

void exec_signal(pid_t pid, int sig)
{
    if (pid > 0)
        kill(-pid, sig);
}

bool exec_reap(pid_t pid, int *status)
{
    int st;
    pid_t r;
    do
        r = waitpid(pid, &st, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r != pid)
        return false;
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return true;
}
