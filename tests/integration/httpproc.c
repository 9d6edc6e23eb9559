/* httpproc: miz's HTTP programs (miz-dashboard, miz-open311) run by their
 * integration tests as the harness runs mizd (httpproc.h). What each test
 * needs of them is the same: start the binary, learn the port it chose
 * from its first line, speak plain HTTP/1.0 to it while the harness's
 * peers keep being read, and see it stop cleanly; so it is here once,
 * beside the harness, and each program's tests add only their own argv. */
#include "httpproc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

struct hp {
    it_daemon_t *d;
    pid_t pid;
    unsigned port;
    /* its stdout, kept open to the end: a line printed later (when it
     * stops, say) must not meet a closed pipe */
    int out;
    char name[64];
    char url[64];
};

hp_t *hp_start(it_daemon_t *d, const char *name, const char *const *argv)
{
    hp_t *p = calloc(1, sizeof *p);
    int out[2];
    assert_non_null(p);
    assert_int_equal(pipe(out), 0);
    /* not inherited by the daemons and programs the test starts later */
    assert_int_equal(fcntl(out[0], F_SETFD, FD_CLOEXEC), 0);
    p->d = d;
    snprintf(p->name, sizeof p->name, "%s", name);
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        /* a failing test does not reach hp_stop: it goes with the test */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    p->out = out[0];
    /* its first line says where it serves: "... serving http://ADDR:PORT/ ..." */
    char line[512];
    size_t n = 0;
    for (uint64_t end = it_now_ms() + IT_WAIT_MS; !memchr(line, '\n', n);) {
        struct pollfd pf = {p->out, POLLIN, 0};
        if (it_now_ms() > end)
            it_fail("%s did not start", name);
        if (poll(&pf, 1, 10) == 1) {
            ssize_t got = read(p->out, line + n, sizeof line - 1 - n);
            if (got <= 0)
                it_fail("%s exited at start", name);
            n += (size_t)got;
        }
        it_pump(d, 1);
    }
    line[n] = '\0';
    const char *at = strstr(line, "http://127.0.0.1:");
    if (!at)
        it_fail("%s does not say where it serves: %s", name, line);
    p->port = (unsigned)strtoul(at + strlen("http://127.0.0.1:"), NULL, 10);
    assert_true(p->port > 0);
    snprintf(p->url, sizeof p->url, "http://127.0.0.1:%u", p->port);
    return p;
}

void hp_stop(hp_t **pp)
{
    hp_t *p = *pp;
    int status = 0;
    kill(p->pid, SIGTERM);
    for (uint64_t end = it_now_ms() + IT_WAIT_MS; waitpid(p->pid, &status, WNOHANG) == 0;) {
        if (it_now_ms() > end) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            it_fail("%s did not stop on SIGTERM", p->name);
        }
        it_pump(p->d, 5);
    }
    close(p->out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        it_fail("%s ended with status %d", p->name, status);
    free(p);
    *pp = NULL;
}

pid_t hp_pid(const hp_t *p)
{
    return p->pid;
}

const char *hp_url(const hp_t *p)
{
    return p->url;
}

unsigned hp_port(const hp_t *p)
{
    return p->port;
}

int hp_connect(const hp_t *p, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    if (rcvbuf > 0)
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

char *hp_request(hp_t *p, const char *request, int *status)
{
    int fd = hp_connect(p, 0);
    const char *path = request;
    size_t len = strlen(request);
    uint64_t end = it_now_ms() + IT_WAIT_MS;
    /* a body may be more than the socket takes at once, and a server that
     * refuses it may close before reading it all: its answer is read all
     * the same, and the harness's peers are read meanwhile */
    for (size_t off = 0; off < len;) {
        struct pollfd pf = {fd, POLLOUT, 0};
        if (it_now_ms() > end)
            it_fail("%s took no complete request %.60s", p->name, path);
        if (poll(&pf, 1, 10) == 1) {
            ssize_t put = send(fd, request + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (put < 0 && (errno == EPIPE || errno == ECONNRESET))
                break;
            if (put < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                it_fail("sending to %s: %s", p->name, strerror(errno));
            if (put > 0)
                off += (size_t)put;
        }
        it_pump(p->d, 1);
    }
    size_t n = 0, cap = 65536;
    char *buf = malloc(cap);
    assert_non_null(buf);
    /* HTTP/1.0: the reply ends when the server closes */
    for (;;) {
        struct pollfd pf = {fd, POLLIN, 0};
        if (it_now_ms() > end)
            it_fail("no complete answer to %.60s", path);
        if (poll(&pf, 1, 10) == 1) {
            if (n + 4096 > cap)
                assert_non_null(buf = realloc(buf, cap *= 2));
            ssize_t got = read(fd, buf + n, cap - n - 1);
            if (got < 0 && errno == ECONNRESET)
                break; /* closed on a request it did not read */
            assert_true(got >= 0);
            if (got == 0)
                break;
            n += (size_t)got;
        }
        it_pump(p->d, 1);
    }
    close(fd);
    buf[n] = '\0';
    if (sscanf(buf, "HTTP/1.%*d %d", status) != 1)
        it_fail("no HTTP answer to %.60s: %s", path, buf);
    return buf;
}

/* The answer reduced to its body, in place. */
static char *body_of(char *answer)
{
    char *body = strstr(answer, "\r\n\r\n");
    assert_non_null(body);
    body += 4;
    memmove(answer, body, strlen(body) + 1);
    return answer;
}

char *hp_get(hp_t *p, const char *path, int *status)
{
    char req[1024];
    snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    return body_of(hp_request(p, req, status));
}

char *hp_get_ok(hp_t *p, const char *path)
{
    int status;
    char *body = hp_get(p, path, &status);
    if (status != 200)
        it_fail("GET %s: status %d: %s", path, status, body);
    return body;
}

void hp_expect(hp_t *p, const char *path, int status)
{
    int got;
    char *body = hp_get(p, path, &got);
    if (got != status)
        it_fail("GET %s: status %d, not %d: %s", path, got, status, body);
    free(body);
}

char *hp_post(hp_t *p, const char *path, const char *content_type, const char *extra_headers,
              const char *body, int *status)
{
    size_t blen = strlen(body);
    size_t cap = strlen(path) + (content_type ? strlen(content_type) : 0) +
                 (extra_headers ? strlen(extra_headers) : 0) + blen + 128;
    char *req = malloc(cap);
    assert_non_null(req);
    int head = snprintf(req, cap, "POST %s HTTP/1.0\r\nHost: 127.0.0.1\r\n", path);
    if (content_type)
        head += snprintf(req + head, cap - (size_t)head, "Content-Type: %s\r\n", content_type);
    head += snprintf(req + head, cap - (size_t)head, "Content-Length: %zu\r\n%s\r\n", blen,
                     extra_headers ? extra_headers : "");
    assert_true(head > 0 && (size_t)head + blen < cap);
    memcpy(req + head, body, blen + 1);
    char *answer = hp_request(p, req, status);
    free(req);
    return body_of(answer);
}

char *hp_header(const char *answer, const char *name)
{
    const char *end = strstr(answer, "\r\n\r\n");
    size_t nlen = strlen(name);
    if (!end)
        end = answer + strlen(answer);
    /* the header lines follow the status line */
    for (const char *at = strstr(answer, "\r\n"); at && at < end; at = strstr(at, "\r\n")) {
        at += 2;
        if (strncasecmp(at, name, nlen) != 0 || at[nlen] != ':')
            continue;
        const char *v = at + nlen + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        const char *e = strstr(v, "\r\n");
        size_t vlen = (size_t)((e ? e : v + strlen(v)) - v);
        char *value = malloc(vlen + 1);
        assert_non_null(value);
        memcpy(value, v, vlen);
        value[vlen] = '\0';
        return value;
    }
    return NULL;
}
