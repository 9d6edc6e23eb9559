/* log: the daemon's log lines and their flood limits (log.h says why).
 *
 * Journal priority prefixes or local timestamps, and the per-kind limit
 * that tells a flood in one line instead of copying it. */
#include "log.h"
#include "clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <time.h>

static const struct {
    const char *name;
    log_level_t level;
} levels[] = {
    {"error", LOG_ERROR}, {"warn", LOG_WARN}, {"info", LOG_INFO}, {"debug", LOG_DEBUG},
};

int log_level_parse(const char *name, log_level_t *level)
{
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (strcmp(name, levels[i].name) == 0) {
            *level = levels[i].level;
            return 0;
        }
    return -1;
}

static const char *level_name(log_level_t level)
{
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (levels[i].level == level)
            return levels[i].name;
    return "?";
}

/* Whether stderr is the stream systemd connected to the journal: a shell
 * started from a unit inherits JOURNAL_STREAM with another stderr. */
static bool to_journal(void)
{
    /* stderr is the process's, so its answer is too: worked out once */
    static int journal = -1;
    if (journal < 0) {
        const char *v = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;
        journal = v && sscanf(v, "%llu:%llu", &dev, &ino) == 2 &&
                  fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
                  (unsigned long long)st.st_ino == ino;
    }
    return journal;
}

void log_line(log_level_t level, const char *fmt, ...)
{
    char line[2048];
    size_t n;
    if (to_journal()) {
        n = (size_t)snprintf(line, sizeof line, "<%d>", (int)level);
    } else {
        struct timeval tv;
        struct tm tm;
        gettimeofday(&tv, NULL);
        localtime_r(&tv.tv_sec, &tm);
        n = strftime(line, sizeof line, "%H:%M:%S", &tm);
        n += (size_t)snprintf(line + n, sizeof line - n, ".%03ld %-5s ",
                              (long)(tv.tv_usec / 1000), level_name(level));
    }
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += (size_t)m < sizeof line - n - 1 ? (size_t)m : sizeof line - n - 2;
    line[n++] = '\n';
    /* one write per line keeps lines whole when several processes share stderr */
    fwrite(line, 1, n, stderr);
}

static void limit_roll(log_limit_t *l, uint64_t second)
{
    if (second == l->second)
        return;
    if (l->held_back)
        log_line(l->level, "%u more %s in one second, not logged one by one", l->held_back,
                 l->what);
    *l = (log_limit_t){.what = l->what, .level = l->level, .second = second};
}

bool log_limit_pass(log_limit_t *l)
{
    limit_roll(l, clock_ms(CLOCK_MONOTONIC) / 1000);
    if (l->logged < LOG_LIMIT_PER_SECOND) {
        l->logged++;
        return true;
    }
    l->held_back++;
    return false;
}

void log_limit_flush(log_limit_t *l)
{
    limit_roll(l, clock_ms(CLOCK_MONOTONIC) / 1000);
}
