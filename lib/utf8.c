/* utf8: the strict validator (utf8.h says why), with an ASCII fast path:
 * eight bytes at a time while none has its high bit set. */
#include "utf8.h"

#include <stdint.h>
#include <string.h>

#define ONES 0x0101010101010101u
#define HIGHS 0x8080808080808080u

/* True when all 8 bytes are in 1..0x7f: subtracting 1 from a zero byte sets
 * its high bit, and without zero or high bytes no borrow crosses bytes. */
static bool ascii_word(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof w);
    return ((w | (w - ONES)) & HIGHS) == 0;
}

static bool continuation(unsigned char b)
{
    return (b & 0xc0) == 0x80;
}

/* Length of the well-formed 3- or 4-byte sequence at p (Unicode table 3-7),
 * 0 when it is not one. The narrowed second-byte ranges after E0, ED, F0 and
 * F4 are what exclude overlongs, surrogates and code points past U+10FFFF. */
static size_t long_sequence_len(const unsigned char *p, size_t left)
{
    unsigned char lead = p[0], lo = 0x80, hi = 0xbf;
    size_t len;

    if (lead >= 0xe0 && lead <= 0xef) {
        len = 3;
        if (lead == 0xe0)
            lo = 0xa0;
        else if (lead == 0xed)
            hi = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        len = 4;
        if (lead == 0xf0)
            lo = 0x90;
        else if (lead == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (len > left || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (!continuation(p[i]))
            return 0;
    return len;
}

bool utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        unsigned char b = p[i];
        if (n - i >= 8 && ascii_word(p + i)) {
            i += 8;
        } else if (b >= 0x01 && b <= 0x7f) {
            i++;
        } else if (b >= 0xc2 && b <= 0xdf) {
            /* Persian letters are all 2-byte, so this case gets its own branch */
            if (n - i < 2 || !continuation(p[i + 1]))
                return false;
            i += 2;
        } else {
            /* also 0 for NUL, C0, C1, a lone continuation and F5..FF */
            size_t len = long_sequence_len(p + i, n - i);
            if (len == 0)
                return false;
            i += len;
        }
    }
    return true;
}
