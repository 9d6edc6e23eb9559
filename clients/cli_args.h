/* cli_args: the values the miz programs' command lines share (an address
 * to serve on, a number in a range, CURVE key files), parsed once for all
 * of them. */
#ifndef MIZ_CLI_ARGS_H
#define MIZ_CLI_ARGS_H

#include <stdbool.h>

#include "cert.h"

/* "127.0.0.1:8137" into its address and port (spec is cut at the colon):
 * false for anything else. */
bool cli_split_http(char *spec, const char **addr, unsigned short *port);
/* A whole number in [min, max], or false. */
bool cli_number(const char *text, long long min, long long max, long long *v);

/* A client's CURVE settings from --key and --server-key, both or neither. */
typedef struct {
    miz_cert_t own, server; /* what curve points into */
    miz_curve_t curve;
    const miz_curve_t *use; /* &curve, or NULL: plain */
} cli_curve_t;
/* 0, or 2 (a usage error, said on stderr after "prog: ") when only one is
 * given or a file cannot be read. */
int cli_curve(const char *prog, const char *key, const char *server_key, cli_curve_t *c);

#endif
