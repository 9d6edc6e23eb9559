/* cli: the real `miz` binary, run by the integration tests (cli.h). */
#include "cli.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void it_cli_path(const it_cli_t *c, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", c->dir, name);
}

void it_cli_start(it_cli_t *c, const char *const argv[])
{
    *c = (it_cli_t){.pid = -1};
    strcpy(c->dir, "/tmp/miz-cli-XXXXXX");
    assert_non_null(mkdtemp(c->dir));
    char out[96], err[96];
    it_cli_path(c, "out", out, sizeof out);
    it_cli_path(c, "err", err, sizeof err);
    size_t n = 0;
    while (argv[n])
        n++;
    const char **args = calloc(n + 2, sizeof *args);
    assert_non_null(args);
    args[0] = MIZ_PATH;
    memcpy(args + 1, argv, n * sizeof *args);
    c->pid = fork();
    assert_true(c->pid >= 0);
    if (c->pid == 0) {
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
            _exit(126);
        execv(MIZ_PATH, (char *const *)args);
        _exit(127);
    }
    free(args);
}

static bool it_cli_exited(it_cli_t *c)
{
    int st;
    if (!c->exited && waitpid(c->pid, &st, WNOHANG) == c->pid) {
        c->exited = true;
        c->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    return c->exited;
}

int it_cli_wait(it_daemon_t *d, it_cli_t *c)
{
    uint64_t until = it_now_ms() + IT_WAIT_MS;
    while (!it_cli_exited(c)) {
        if (it_now_ms() > until) {
            char *err = it_cli_output(c, "err");
            kill(c->pid, SIGKILL);
            it_fail("miz (pid %d) has not exited; its stderr: %s", (int)c->pid, err);
        }
        it_pump(d, 20);
    }
    return c->status;
}

int it_cli_stop(it_daemon_t *d, it_cli_t *c, int sig)
{
    if (!it_cli_exited(c))
        kill(c->pid, sig);
    return it_cli_wait(d, c);
}

int it_cli_run(it_daemon_t *d, it_cli_t *c, const char *const argv[])
{
    it_cli_start(c, argv);
    return it_cli_wait(d, c);
}

char *it_cli_output(const it_cli_t *c, const char *which)
{
    char path[96];
    it_cli_path(c, which, path, sizeof path);
    FILE *f = fopen(path, "r");
    char *text = calloc(1, 1 << 16);
    assert_non_null(text);
    if (f) {
        size_t n = fread(text, 1, (1 << 16) - 1, f);
        text[n] = '\0';
        fclose(f);
    }
    return text;
}

void it_cli_wait_output(it_daemon_t *d, const it_cli_t *c, const char *which, const char *text)
{
    uint64_t until = it_now_ms() + IT_WAIT_MS;
    for (;;) {
        char *got = it_cli_output(c, which);
        bool found = strstr(got, text) != NULL;
        if (found) {
            free(got);
            return;
        }
        if (it_now_ms() > until)
            it_fail("miz's std%s never said \"%s\"; it said:\n%s", which, text, got);
        free(got);
        it_pump(d, 20);
    }
}

/* Whether pid still runs: a zombie nobody reaps (PID 1 in a container
 * may not) has ended too. */
static bool it_cli_alive(pid_t pid)
{
    char path[64], stat[256] = "";
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[n] = '\0';
    const char *paren = strrchr(stat, ')');
    return paren && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X';
}

void it_wait_gone(it_daemon_t *d, pid_t pid)
{
    uint64_t until = it_now_ms() + IT_WAIT_MS;
    while (it_cli_alive(pid)) {
        if (it_now_ms() > until)
            it_fail("process %d still runs", (int)pid);
        it_pump(d, 20);
    }
}

void it_cli_free(it_cli_t *c)
{
    char cmd[128];
    if (c->pid > 0 && !c->exited) {
        kill(c->pid, SIGKILL);
        waitpid(c->pid, NULL, 0);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", c->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", c->dir);
}
