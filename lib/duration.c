/* duration: reading and writing the table's human durations ("1h30m").
 *
 * Every deadline, heartbeat and retention in the routing table is written
 * as a duration; the table reads them here and writes them back the same
 * way in its messages (ack_within exceeds answer_within). */
#include "duration.h"

#include <stdbool.h>
#include <stdio.h>

/* Largest first: a duration's terms must follow this order. */
static const struct {
    const char *name;
    uint64_t ms;
} units[] = {
    {"d", 24 * 3600 * 1000}, {"h", 3600 * 1000}, {"m", 60 * 1000}, {"s", 1000}, {"ms", 1},
};
#define N_UNITS (sizeof units / sizeof units[0])

/* "ms" before "m": the longest unit name at s wins. */
static int unit_at(const char *s, size_t n, size_t *len)
{
    int found = -1;
    size_t best = 0;
    for (size_t u = 0; u < N_UNITS; u++) {
        size_t k = 0;
        while (units[u].name[k] && k < n && s[k] == units[u].name[k])
            k++;
        if (!units[u].name[k] && k > best) {
            best = k;
            found = (int)u;
        }
    }
    *len = best;
    return found;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int reject(const char **why, const char *problem)
{
    if (why)
        *why = problem;
    return -1;
}

int duration_parse(const char *s, size_t n, uint64_t *ms, const char **why)
{
    uint64_t total = 0;
    size_t i = 0;
    int prev = -1;

    if (n == 0)
        return reject(why, "empty");
    while (i < n) {
        uint64_t value = 0;
        size_t digits = 0, len;
        for (; i < n && is_digit(s[i]); i++, digits++) {
            value = value * 10 + (uint64_t)(s[i] - '0');
            if (value > DURATION_MAX_MS)
                return reject(why, "longer than 400 days");
        }
        if (digits == 0)
            return reject(why, "expected a number, as in 10m or 1h30m");
        int u = unit_at(s + i, n - i, &len);
        if (u < 0)
            return reject(why, "expected a unit after the number: ms, s, m, h or d");
        if (u == prev)
            return reject(why, "a unit appears twice");
        if (u < prev)
            return reject(why, "units must go from largest to smallest (d, h, m, s, ms)");
        if (value > (DURATION_MAX_MS - total) / units[u].ms)
            return reject(why, "longer than 400 days");
        total += value * units[u].ms;
        prev = u;
        i += len;
    }
    if (total == 0)
        return reject(why, "must be longer than zero");
    *ms = total;
    return 0;
}

char *duration_format(uint64_t ms, char *buf, size_t size)
{
    size_t used = 0;

    if (size == 0)
        return buf;
    if (ms == 0) {
        snprintf(buf, size, "0ms");
        return buf;
    }
    buf[0] = '\0';
    for (size_t u = 0; u < N_UNITS; u++) {
        uint64_t value = ms / units[u].ms;
        if (value == 0)
            continue;
        ms -= value * units[u].ms;
        int k = snprintf(buf + used, size - used, "%llu%s", (unsigned long long)value,
                         units[u].name);
        if (k < 0 || (size_t)k >= size - used) {
            buf[used] = '\0'; /* whole terms only */
            break;
        }
        used += (size_t)k;
    }
    return buf;
}
