/* utf8: strict UTF-8 validation for every string that crosses the wire or
 * comes from a file. Persian text is the norm here, so this runs on the hot
 * path and must reject overlong forms, surrogates and code points past
 * U+10FFFF, which lenient decoders let through. */
#ifndef MIZ_UTF8_H
#define MIZ_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True when the n bytes at s are well-formed UTF-8 without NUL bytes. */
bool utf8_valid(const char *s, size_t n);

#endif
