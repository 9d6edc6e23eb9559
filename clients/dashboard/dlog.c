/* dlog: miz-dashboard's log. Whatever reaches its port can make it log
 * (a refused request, a dropped page, libevent's own complaints about a
 * connection), so each kind of line is limited to a few a second, the rest
 * counted and summed up in one line once the second is over, as mizd does
 * (daemon/log.c): a flood of bad clients costs a line a second, not the
 * disk. */
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>

#include "clock.h"
#include "dash_int.h"

#define DLOG_PER_SECOND 5

static const char *const dlog_kind_names[DLOG_KINDS] = {"event stream", "http", "libevent",
                                                           "weekly reports"};

static struct {
    uint64_t second;
    unsigned logged, held_back;
} dlog_limits[DLOG_KINDS];

static void dlog_roll(dlog_kind_t kind, uint64_t second)
{
    if (dlog_limits[kind].second == second)
        return;
    if (dlog_limits[kind].held_back)
        fprintf(stderr, "miz-dashboard: %s: %u more lines in one second, not logged one by one\n",
                dlog_kind_names[kind], dlog_limits[kind].held_back);
    dlog_limits[kind].second = second;
    dlog_limits[kind].logged = dlog_limits[kind].held_back = 0;
}

static void dlog_v(dlog_kind_t kind, const char *fmt, va_list ap)
{
    dlog_roll(kind, clock_ms(CLOCK_MONOTONIC) / 1000);
    if (dlog_limits[kind].logged >= DLOG_PER_SECOND) {
        dlog_limits[kind].held_back++;
        return;
    }
    dlog_limits[kind].logged++;
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    fprintf(stderr, "miz-dashboard: %s: %s\n", dlog_kind_names[kind], line);
}

void dlog(dlog_kind_t kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dlog_v(kind, fmt, ap);
    va_end(ap);
}

void dlog_flush(void)
{
    for (int kind = 0; kind < DLOG_KINDS; kind++)
        dlog_roll((dlog_kind_t)kind, clock_ms(CLOCK_MONOTONIC) / 1000);
}

static void dlog_libevent(int severity, const char *msg)
{
    if (severity >= EVENT_LOG_WARN)
        dlog(DLOG_LIBEVENT, "%s", msg);
}

void dlog_init(void)
{
    event_set_log_callback(dlog_libevent);
}
