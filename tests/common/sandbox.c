/* sandbox: servers run by the tests as an unprivileged user, and a guardian
 * that cleans up after them whatever becomes of the test (sandbox.h).
 *
 * A server's processes are killed by session and by parent: Patroni starts
 * postgres in its session, but postgres's postmaster puts each process it
 * starts (backends, a WAL sender, a checkpointer) in a session of its own.
 * A kill reaches the session and the children of every process in it, as
 * the death of their machine would. */
#define _GNU_SOURCE
#include "sandbox.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUN_AS "nobody"
#define RUN_AS_GROUP "nogroup"
#define GUARD_MAX 16      /* sessions one guardian kills */
#define GUARD_WAIT_MS 5000 /* for the killed sessions to be gone before the removal */

static void sleep_ms(long ms)
{
    nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

int sb_free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

int sb_temp_dir(const char *prefix, char *dir, size_t len)
{
    /* /tmp, not $TMPDIR: a unix socket's path must fit in sun_path */
    if ((size_t)snprintf(dir, len, "/tmp/%s-XXXXXX", prefix) >= len || !mkdtemp(dir))
        return -1;
    if (geteuid() != 0)
        return 0;
    struct passwd *pw = getpwnam(RUN_AS);
    if (!pw || chown(dir, pw->pw_uid, pw->pw_gid) < 0) {
        rmdir(dir);
        return -1;
    }
    return 0;
}

/* In the child, after the fork: never returns. */
static void sb_exec(char *const argv[], char *const env[], const char *log, bool session)
{
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    int null = open("/dev/null", O_RDONLY);
    if ((session && setsid() < 0) || fd < 0 || null < 0 || dup2(null, STDIN_FILENO) < 0 ||
        dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
        _exit(126);
    for (size_t i = 0; env && env[i]; i++)
        putenv(env[i]);
    if (geteuid() == 0) { /* PostgreSQL will not run as root */
        char *as[64] = {"/usr/bin/setpriv", "--reuid=" RUN_AS, "--regid=" RUN_AS_GROUP,
                        "--clear-groups", "--"};
        size_t n = 5;
        for (size_t i = 0; argv[i] && n < sizeof as / sizeof *as - 1; i++)
            as[n++] = argv[i];
        execv(as[0], as);
    } else {
        execv(argv[0], argv);
    }
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

pid_t sb_spawn(char *const argv[], char *const env[], const char *log)
{
    pid_t pid = fork();
    if (pid == 0)
        sb_exec(argv, env, log, true);
    return pid;
}

int sb_run(char *const argv[], const char *log)
{
    int status;
    pid_t pid = fork();
    if (pid == 0)
        sb_exec(argv, NULL, log, false);
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* A process's parent and session from /proc, or -1. */
static int proc_stat(pid_t pid, char *state, pid_t *ppid, pid_t *sid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* after the command's name, which may hold anything */
    long pp, pgrp, s;
    if (!p || sscanf(p, ") %c %ld %ld %ld", state, &pp, &pgrp, &s) != 4)
        return -1;
    *ppid = (pid_t)pp, *sid = (pid_t)s;
    return 0;
}

static int proc_ids(pid_t pid, pid_t *ppid, pid_t *sid)
{
    char state;
    return proc_stat(pid, &state, ppid, sid);
}

/* Whether pid still runs: gone, or a zombie (whose memory, a postgres
 * backend's shared memory among it, is released), is not. */
static bool proc_running(pid_t pid)
{
    char state;
    pid_t ppid, sid;
    return proc_stat(pid, &state, &ppid, &sid) == 0 && state != 'Z' && state != 'X';
}

/* SIGKILL to every process of session sid and every child of one of them.
 * Only the guardian and sb_kill_session call it, with a session they
 * started. */
static void kill_session_tree(pid_t sid)
{
    pid_t in[256], killed[512];
    size_t n = 0, k = 0;
    DIR *d = opendir("/proc");
    for (struct dirent *e; d && (e = readdir(d)) && n < sizeof in / sizeof *in;) {
        pid_t pid = (pid_t)atol(e->d_name), ppid, s;
        if (pid > 0 && proc_ids(pid, &ppid, &s) == 0 && s == sid)
            in[n++] = killed[k++] = pid;
    }
    if (d)
        closedir(d);
    d = opendir("/proc"); /* their children, in sessions of their own (postgres's) */
    for (struct dirent *e; d && (e = readdir(d));) {
        pid_t pid = (pid_t)atol(e->d_name), ppid, s;
        for (size_t i = 0; pid > 0 && proc_ids(pid, &ppid, &s) == 0 && i < n; i++)
            if (ppid == in[i]) {
                kill(pid, SIGKILL);
                if (k < sizeof killed / sizeof *killed)
                    killed[k++] = pid;
                break;
            }
    }
    if (d)
        closedir(d);
    kill(-sid, SIGKILL);
    kill(sid, SIGKILL); /* in case it died before its setsid */
    /* SIGKILL is not death yet: a postgres started again on the same data
     * at once found its killed backends still attached to the old shared
     * memory block, and refused to start. Wait (5 s at most) for them. */
    for (int tries = 0; tries < 500; tries++) {
        bool running = false;
        for (size_t i = 0; i < k && !running; i++)
            running = killed[i] != sid && proc_running(killed[i]);
        if (!running)
            break;
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
}

void sb_kill_session(pid_t pid)
{
    if (pid <= 0)
        return;
    kill_session_tree(pid);
    waitpid(pid, NULL, 0);
}

int sb_exited(pid_t pid)
{
    return waitpid(pid, NULL, WNOHANG) == pid || (kill(pid, 0) < 0 && errno == ESRCH);
}

void sb_log_tail(const char *log, char *buf, size_t len)
{
    *buf = '\0';
    FILE *f = fopen(log, "r");
    if (!f || len < 2)
        goto out;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long from = size > (long)len - 1 ? size - ((long)len - 1) : 0;
    fseek(f, from, SEEK_SET);
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    for (char *p = buf; *p; p++) /* one line, for an error message */
        if (*p == '\n')
            *p = '|';
out:
    if (f)
        fclose(f);
}

/* ---- the guardian ---- */

struct sb_guard {
    int fd; /* its pipe's write end: closed, or the test process dead, means clean up */
    pid_t pid;
};

static int guard_remove(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

/* SIGKILL to every process whose working directory is dir or under it: a
 * server that left its session (Patroni's postgres does, on purpose, to
 * outlive Patroni) still works in its data directory. */
static void kill_in_dir(const char *dir)
{
    size_t len = strlen(dir);
    DIR *d = opendir("/proc");
    for (struct dirent *e; d && (e = readdir(d));) {
        char link[64], cwd[4096];
        pid_t pid = (pid_t)atol(e->d_name);
        snprintf(link, sizeof link, "/proc/%ld/cwd", (long)pid);
        ssize_t n = pid > 0 ? readlink(link, cwd, sizeof cwd - 1) : -1;
        if (n >= (ssize_t)len && memcmp(cwd, dir, len) == 0 &&
            (n == (ssize_t)len || cwd[len] == '/'))
            kill(pid, SIGKILL);
    }
    if (d)
        closedir(d);
}

/* The guardian's life: sessions come down the pipe; its end (an end of the
 * watch, or of the test process) is the signal. */
static void guard_run(int fd, const char *dir)
{
    pid_t sessions[GUARD_MAX], pid;
    size_t n = 0;
    while (read(fd, &pid, sizeof pid) == (ssize_t)sizeof pid)
        if (n < GUARD_MAX)
            sessions[n++] = pid;
    for (size_t i = 0; i < n; i++)
        kill_session_tree(sessions[i]);
    kill_in_dir(dir);
    /* a session's processes may take a moment to die: files they hold
     * open would otherwise outlive the removal */
    for (int waited = 0; waited < GUARD_WAIT_MS; waited += 20) {
        bool alive = false;
        for (size_t i = 0; i < n; i++)
            alive |= kill(-sessions[i], 0) == 0;
        if (!alive)
            break;
        sleep_ms(20);
    }
    nftw(dir, guard_remove, 16, FTW_DEPTH | FTW_PHYS);
}

sb_guard_t *sb_guard_new(const char *dir)
{
    int p[2];
    sb_guard_t *g = calloc(1, sizeof *g);
    if (!g || pipe2(p, O_CLOEXEC) < 0) {
        free(g);
        return NULL;
    }
    g->pid = fork();
    if (g->pid == 0) {
        /* alone: neither ctest's kill of the test's process group nor the
         * write ends of other guardians' pipes may keep it from its work */
        setsid();
        if (dup2(p[0], 3) < 0)
            _exit(1);
        close_range(4, ~0U, 0);
        guard_run(3, dir);
        _exit(0);
    }
    close(p[0]);
    g->fd = p[1];
    if (g->pid < 0) {
        close(g->fd);
        free(g);
        return NULL;
    }
    return g;
}

void sb_guard_watch(sb_guard_t *g, pid_t session)
{
    if (write(g->fd, &session, sizeof session) != (ssize_t)sizeof session)
        fprintf(stderr, "sandbox: cannot tell the guardian of %ld\n", (long)session);
}

void sb_guard_end(sb_guard_t **gp)
{
    sb_guard_t *g = *gp;
    if (!g)
        return;
    close(g->fd);
    waitpid(g->pid, NULL, 0);
    free(g);
    *gp = NULL;
}
