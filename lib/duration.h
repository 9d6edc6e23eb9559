/* duration: human durations in the routing table, from milliseconds to days.
 *
 * A duration is one or more <integer><unit> terms with units ms, s, m, h, d,
 * largest unit first and each unit at most once: "300ms", "10m", "1h30m",
 * "2d". Zero and values above DURATION_MAX_MS are rejected. */
#ifndef MIZ_DURATION_H
#define MIZ_DURATION_H

#include <stddef.h>
#include <stdint.h>

#define DURATION_MAX_MS (400ULL * 24 * 3600 * 1000)

/* 0 and *ms set on success; -1 with *why pointing to a static explanation. */
int duration_parse(const char *s, size_t n, uint64_t *ms, const char **why);

/* Formats ms the way duration_parse reads it ("1h30m"); returns buf. */
char *duration_format(uint64_t ms, char *buf, size_t size);

#endif
