/* notify: sd_notify(3) without libsystemd (notify.h says why).
 *
 * One datagram per notification to $NOTIFY_SOCKET (an abstract socket when
 * it starts with '@'): whatever main.c sends, READY=1, STATUS=, WATCHDOG=1,
 * RELOADING=1, STOPPING=1. */
#include "notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct notify {
    int fd;
    struct sockaddr_un addr;
    socklen_t addr_len;
};

notify_t *notify_new(char *err, size_t errlen)
{
    const char *path = getenv("NOTIFY_SOCKET");
    err[0] = '\0';
    if (!path || !*path)
        return NULL;
    size_t len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof((struct sockaddr_un){0}).sun_path) {
        snprintf(err, errlen, "NOTIFY_SOCKET \"%s\" is not a socket path", path);
        return NULL;
    }
    notify_t *n = calloc(1, sizeof *n);
    if (!n) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    n->addr.sun_family = AF_UNIX;
    memcpy(n->addr.sun_path, path, len);
    if (path[0] == '@') /* Linux's abstract namespace */
        n->addr.sun_path[0] = '\0';
    n->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    /* never blocks: a manager that is slow to read must not stall the loop */
    n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (n->fd < 0) {
        snprintf(err, errlen, "cannot open a socket for NOTIFY_SOCKET: %s", strerror(errno));
        free(n);
        return NULL;
    }
    return n;
}

void notify_destroy(notify_t **np)
{
    if (!*np)
        return;
    close((*np)->fd);
    free(*np);
    *np = NULL;
}

int notify_send(notify_t *n, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof msg) {
        errno = EMSGSIZE;
        return -1;
    }
    ssize_t sent = sendto(n->fd, msg, (size_t)len, MSG_NOSIGNAL,
                          (const struct sockaddr *)&n->addr, n->addr_len);
    return sent == len ? 0 : -1;
}

uint64_t notify_watchdog_usec(void)
{
    const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    char *end;
    if (!usec)
        return 0;
    if (pid && strtol(pid, &end, 10) != (long)getpid())
        return 0; /* meant for another process */
    errno = 0;
    unsigned long long v = strtoull(usec, &end, 10);
    return errno || end == usec || *end ? 0 : (uint64_t)v;
}
