/* cli_args: see cli_args.h. Kept apart so that miz-dashboard and
 * miz-open311 refuse a bad --http, a number out of range or half a CURVE
 * pair alike. */
#include "cli_args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool cli_split_http(char *spec, const char **addr, unsigned short *port)
{
    char *colon = strrchr(spec, ':'), *end;
    if (!colon || colon == spec)
        return false;
    *colon = '\0';
    long p = strtol(colon + 1, &end, 10);
    if (*end || p < 0 || p > 65535 || !colon[1])
        return false;
    *addr = spec;
    *port = (unsigned short)p;
    return true;
}

bool cli_number(const char *text, long long min, long long max, long long *v)
{
    char *end;
    errno = 0;
    *v = strtoll(text, &end, 10);
    return !errno && end != text && !*end && *v >= min && *v <= max;
}

int cli_curve(const char *prog, const char *key, const char *server_key, cli_curve_t *c)
{
    char err[512];
    c->use = NULL;
    if (!key != !server_key) {
        fprintf(stderr, "%s: CURVE needs both --key and --server-key\n", prog);
        return 2;
    }
    if (key && miz_curve_load(key, server_key, &c->own, &c->server, &c->curve, err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return 2;
    }
    c->use = key ? &c->curve : NULL;
    return 0;
}
