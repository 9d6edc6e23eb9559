/* log: one line per event on stderr, with a level.
 *
 * When stderr is the journal (JOURNAL_STREAM names it) each line starts with
 * a syslog priority prefix ("<6>") so the journal keeps the level; elsewhere
 * it starts with a local timestamp instead. Whoever logs owns the threshold:
 * the daemon keeps it in its state and checks it before formatting. */
#ifndef MIZ_LOG_H
#define MIZ_LOG_H

#include <stdbool.h>

typedef enum {
    LOG_ERROR = 3,
    LOG_WARN = 4,
    LOG_INFO = 6,
    LOG_DEBUG = 7,
} log_level_t;

/* 0 and *level on success, -1 for an unknown name ("error", "warn", "info", "debug") */
int log_level_parse(const char *name, log_level_t *level);

void log_line(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
