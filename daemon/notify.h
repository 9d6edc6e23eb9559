/* notify: systemd's service notification protocol (sd_notify(3)) without
 * libsystemd: one datagram of "KEY=value" lines to the socket named by
 * $NOTIFY_SOCKET. Where that variable is unset (no systemd), there is no
 * notifier, and mizd runs the same. */
#ifndef MIZ_NOTIFY_H
#define MIZ_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

typedef struct notify notify_t;

/* NULL when $NOTIFY_SOCKET is unset; also NULL, with the reason in err,
 * when it is set but unusable (err is "" in the first case). */
notify_t *notify_new(char *err, size_t errlen);
void notify_destroy(notify_t **n);

/* Sends one state message, e.g. "READY=1\nSTATUS=..."; -1 (errno) if the
 * datagram could not be sent, also when the receiver's queue is full. */
int notify_send(notify_t *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The watchdog interval systemd expects pings within ($WATCHDOG_USEC, if
 * $WATCHDOG_PID is unset or ours), in microseconds; 0 when there is none. */
uint64_t notify_watchdog_usec(void);

#endif
