/* topic: dot-separated topic names and the patterns routes match them with.
 *
 * A topic is 1..TOPIC_MAX_SEGMENTS segments of [a-z0-9_-], separated by '.',
 * at most TOPIC_MAX bytes ("city.snow.street"). A pattern may also use '*'
 * for exactly one segment and, as its last segment only, '#' for zero or
 * more remaining segments ("utility.gas.#" matches "utility.gas" and
 * "utility.gas.leak.home"; "#" alone matches every topic). */
#ifndef MIZ_TOPIC_H
#define MIZ_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

#include "proto.h"

#define TOPIC_MAX MIZ_TOPIC_MAX
#define TOPIC_MAX_SEGMENTS 16

/* On false, *why (when not NULL) points to a static explanation. */
bool topic_valid(const char *s, size_t n, const char **why);
bool topic_pattern_valid(const char *s, size_t n, const char **why);

/* Both arguments must already be valid; neither needs a NUL terminator. */
bool topic_match(const char *pattern, size_t plen, const char *topic, size_t tlen);

#endif
