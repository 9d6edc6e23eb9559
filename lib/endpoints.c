/* endpoints: the list of broker endpoints a peer is given (lib/endpoints.h).
 *
 * Every endpoint argument of libmiz, and so of miz and miz-dashboard, takes
 * such a list, and a single endpoint is a list of one: the checks are here
 * once, so that an empty list, an empty item or one too long is refused
 * with the same words wherever it was typed. */
#include "endpoints.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int endpoints_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int endpoints_error(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    errno = EINVAL;
    return -1;
}

/* Whether a tcp address ends in its port, ":7370" (or ":*" where one binds). */
static bool endpoints_has_port(const char *addr, size_t len)
{
    size_t digits = 0;
    while (digits < len && addr[len - 1 - digits] >= '0' && addr[len - 1 - digits] <= '9')
        digits++;
    if (digits == 0 && len >= 2 && addr[len - 1] == '*')
        digits = 1;
    return digits >= 1 && digits <= 5 && len > digits + 1 && addr[len - 1 - digits] == ':';
}

int miz_endpoints_check(const char *list, char *err, size_t errlen)
{
    if (!list || !*list)
        return endpoints_error(err, errlen, "no endpoint given");
    int n = 0;
    for (const char *item = list;; n++) {
        size_t len = strcspn(item, ",");
        if (n == MIZ_ENDPOINTS_MAX)
            return endpoints_error(err, errlen, "more than %d endpoints in \"%.64s...\"",
                                   MIZ_ENDPOINTS_MAX, list);
        if (len == 0)
            return endpoints_error(err, errlen, "endpoint %d of \"%.200s\" is empty", n + 1,
                                   list);
        if (len > MIZ_ENDPOINT_LEN_MAX)
            return endpoints_error(err, errlen, "endpoint %d is longer than %d bytes", n + 1,
                                   MIZ_ENDPOINT_LEN_MAX);
        /* ZeroMQ would take a space as part of the address: say it here */
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)item[i] <= ' ')
                return endpoints_error(err, errlen,
                                       "endpoint %d \"%.*s\" has a space or a control character",
                                       n + 1, (int)len, item);
        size_t sep = 0;
        while (sep + 3 <= len && memcmp(item + sep, "://", 3) != 0)
            sep++;
        if (sep == 0 || sep + 3 >= len)
            return endpoints_error(err, errlen,
                                   "endpoint %d \"%.*s\" is not TRANSPORT://ADDRESS "
                                   "(e.g. tcp://10.0.0.1:7370)", n + 1, (int)len, item);
        /* ZeroMQ refuses it only when connecting to it: after a failover, too late */
        if (sep == 3 && memcmp(item, "tcp", 3) == 0 &&
            !endpoints_has_port(item + sep + 3, len - sep - 3))
            return endpoints_error(err, errlen, "endpoint %d \"%.*s\" has no port "
                                   "(tcp://HOST:PORT)", n + 1, (int)len, item);
        if (!item[len])
            return n + 1;
        item += len + 1;
    }
}

int endpoints_init(endpoints_t *l, const char *list)
{
    memset(l, 0, sizeof *l);
    int n = miz_endpoints_check(list, NULL, 0);
    if (n < 0)
        return -1;
    if (!(l->text = strdup(list)))
        return -1;
    char *save = NULL;
    for (char *t = strtok_r(l->text, ",", &save); t; t = strtok_r(NULL, ",", &save))
        l->items[l->n++] = t;
    return 0;
}

void endpoints_fini(endpoints_t *l)
{
    free(l->text);
    memset(l, 0, sizeof *l);
}

const char *endpoints_current(const endpoints_t *l)
{
    return l->items[l->at];
}

const char *endpoints_advance(endpoints_t *l)
{
    l->at = (l->at + 1) % l->n;
    return l->items[l->at];
}
