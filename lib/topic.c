/* topic: checking topic names and patterns, and matching one against the other.
 *
 * Routes match a request's topic by pattern (lib/table_route.c checks them
 * as it loads a table, table_resolve matches them), the broker checks the
 * topics peers send, and the fuzz targets drive both; all of them go by
 * the rules of topic.h, kept here once. */
#include "topic.h"

#include <string.h>

_Static_assert(TOPIC_MAX == 255, "check() says \"longer than 255 bytes\"");
_Static_assert(TOPIC_MAX_SEGMENTS == 16, "check() says \"more than 16 segments\"");

/* Walks the segments of s one by one; *pos past n means no segment is left,
 * which is distinct from an empty last segment ("a."). */
static bool next_segment(const char *s, size_t n, size_t *pos, const char **seg, size_t *len)
{
    if (*pos > n)
        return false;
    const char *start = s + *pos;
    const char *dot = memchr(start, '.', n - *pos);
    *seg = start;
    *len = dot ? (size_t)(dot - start) : n - *pos;
    *pos += *len + 1;
    return true;
}

static bool segment_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static bool is_wildcard(const char *seg, size_t len, char w)
{
    return len == 1 && seg[0] == w;
}

static bool check(const char *s, size_t n, bool pattern, const char **why)
{
    const char *problem = NULL;
    size_t pos = 0, count = 0, len;
    const char *seg;

    if (n == 0)
        problem = "empty";
    else if (n > TOPIC_MAX)
        problem = "longer than 255 bytes";
    while (!problem && next_segment(s, n, &pos, &seg, &len)) {
        if (++count > TOPIC_MAX_SEGMENTS)
            problem = "more than 16 segments";
        else if (len == 0)
            problem = "empty segment";
        else if (pattern && is_wildcard(seg, len, '*'))
            continue;
        else if (pattern && is_wildcard(seg, len, '#'))
            problem = pos > n ? NULL : "'#' is allowed only as the last segment";
        else
            for (size_t i = 0; i < len && !problem; i++)
                if (!segment_char(seg[i]))
                    problem = pattern ? "a segment must be [a-z0-9_-]+, '*' or '#'"
                                      : "a segment must be [a-z0-9_-]+";
    }
    if (problem && why)
        *why = problem;
    return problem == NULL;
}

bool topic_valid(const char *s, size_t n, const char **why)
{
    return check(s, n, false, why);
}

bool topic_pattern_valid(const char *s, size_t n, const char **why)
{
    return check(s, n, true, why);
}

bool topic_match(const char *pattern, size_t plen, const char *topic, size_t tlen)
{
    size_t ppos = 0, tpos = 0, plen_seg, tlen_seg;
    const char *pseg, *tseg;

    while (next_segment(pattern, plen, &ppos, &pseg, &plen_seg)) {
        if (is_wildcard(pseg, plen_seg, '#'))
            return true; /* last by validity; takes whatever is left, even nothing */
        if (!next_segment(topic, tlen, &tpos, &tseg, &tlen_seg))
            return false;
        if (!is_wildcard(pseg, plen_seg, '*') &&
            (plen_seg != tlen_seg || memcmp(pseg, tseg, tlen_seg) != 0))
            return false;
    }
    return tpos > tlen;
}
