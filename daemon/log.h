/* log: one line per event on stderr, with a level.
 *
 * When stderr is the journal (JOURNAL_STREAM names it) each line starts with
 * a syslog priority prefix ("<6>") so the journal keeps the level; elsewhere
 * it starts with a local timestamp instead. Whoever logs owns the threshold:
 * the daemon keeps it in its state and checks it before formatting. */
#ifndef MIZ_LOG_H
#define MIZ_LOG_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    LOG_ERROR = 3,
    LOG_WARN = 4,
    LOG_INFO = 6,
    LOG_DEBUG = 7,
} log_level_t;

/* 0 and *level on success, -1 for an unknown name ("error", "warn", "info", "debug") */
int log_level_parse(const char *name, log_level_t *level);

void log_line(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* log_line when lvl passes threshold: the arguments are not even evaluated
 * otherwise (the daemon checks before it formats). */
#define LOG_IF(threshold, lvl, ...)                                                                \
    do {                                                                                           \
        if ((lvl) <= (threshold))                                                                  \
            log_line((lvl), __VA_ARGS__);                                                          \
    } while (0)

/* A flood of one kind of line (a peer that floods bad messages, a scan of
 * refused handshakes) must not flood the log: at most LOG_LIMIT_PER_SECOND
 * lines of a kind a second, and the rest told in one line once their second
 * is over. */
#define LOG_LIMIT_PER_SECOND 10

typedef struct {
    const char *what; /* "refused connections": names the kind in that line */
    log_level_t level;
    uint64_t second; /* the monotonic second being counted */
    unsigned logged, held_back;
} log_limit_t;

/* Whether to log one more line of the kind now. */
bool log_limit_pass(log_limit_t *limit);
/* Tells what was held back, once its second is over (log_limit_pass does
 * it too): for a timer, so a flood's last second is told when it ends. */
void log_limit_flush(log_limit_t *limit);

#endif
