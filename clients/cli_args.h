/* cli_args: the values the miz programs' command lines share (an address
 * to serve on, a number in a range), parsed once for all of them. */
#ifndef MIZ_CLI_ARGS_H
#define MIZ_CLI_ARGS_H

#include <stdbool.h>

/* "127.0.0.1:8137" into its address and port (spec is cut at the colon):
 * false for anything else. */
bool cli_split_http(char *spec, const char **addr, unsigned short *port);
/* A whole number in [min, max], or false. */
bool cli_number(const char *text, long long min, long long max, long long *v);

#endif
