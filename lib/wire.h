/* wire: the msgpack codec shared by the daemon and libmiz.
 *
 * One ZeroMQ frame carries one msgpack map with string keys (docs/protocol.md).
 * msgpack-c trusts a container's header and allocates its elements before
 * reading them, so a 5-byte frame could ask for gigabytes: wire_parse() walks
 * the bytes first and rejects counts larger than the bytes left, nesting past
 * WIRE_MAX_DEPTH, invalid UTF-8 in any string, duplicate or non-string keys at
 * the top level and trailing bytes. Only then does msgpack-c unpack it. */
#ifndef MIZ_WIRE_H
#define MIZ_WIRE_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto.h"

#define WIRE_MAX_DEPTH 8

/* Why a frame or a field was rejected; each maps to a protocol error code. */
typedef enum {
    WIRE_OK = 0,
    WIRE_ABSENT,    /* field not present */
    WIRE_MALFORMED, /* not msgpack, truncated, trailing bytes, too deep, not a map */
    WIRE_BAD_TYPE,  /* field present with the wrong type */
    WIRE_TOO_LONG,  /* string or array longer than allowed */
    WIRE_BAD_UTF8,  /* a string that is not valid UTF-8 (or holds NUL) */
} wire_status_t;

typedef struct wire_msg wire_msg_t;

/* Decodes one frame. On failure returns NULL, sets *status and writes a
 * one-line explanation into err (errlen bytes, always NUL-terminated). */
wire_msg_t *wire_parse(const void *data, size_t size, wire_status_t *status,
                       char *err, size_t errlen);
void wire_msg_destroy(wire_msg_t **msg);
/* The same, in place and in the caller's zone: the message's strings point
 * into data, which must outlive it, and it lives until the zone is cleared
 * (msgpack_zone_clear; never wire_msg_destroy). Once the zone has its first
 * chunk nothing is allocated or copied per message: for a loop that handles
 * one message at a time (mizd), where wire_parse's copy and 8 KiB zone per
 * message were a tenth of its allocations. */
wire_msg_t *wire_parse_in(const void *data, size_t size, msgpack_zone *zone,
                          wire_status_t *status, char *err, size_t errlen);

/* The body of the bin at index i of the array that data holds (mizd reads
 * one field of a stored record so), walked with wire_parse's checks and
 * nothing unpacked. -1 when data is not such an array. */
int wire_array_bin(const void *data, size_t size, uint32_t i, const void **body, size_t *len);

/* The whole message as a msgpack map object. */
const msgpack_object *wire_root(const wire_msg_t *msg);
/* The value of a top-level key, or NULL when absent. */
const msgpack_object *wire_get(const wire_msg_t *msg, const char *key);

/* Typed getters. Strings are not NUL-terminated: use the length. A string
 * longer than max bytes is WIRE_TOO_LONG. */
wire_status_t wire_str(const wire_msg_t *msg, const char *key, const char **s,
                       size_t *n, size_t max);
wire_status_t wire_uint(const wire_msg_t *msg, const char *key, uint64_t *v);
wire_status_t wire_bool(const wire_msg_t *msg, const char *key, bool *v);

/* Same checks on an object already in hand (array elements, nested maps). */
wire_status_t wire_obj_str(const msgpack_object *o, const char **s, size_t *n,
                           size_t max);
wire_status_t wire_obj_uint(const msgpack_object *o, uint64_t *v);
wire_status_t wire_obj_bool(const msgpack_object *o, bool *v);
const msgpack_object *wire_obj_get(const msgpack_object *map, const char *key);

/* The protocol error for a status other than WIRE_OK, and its code
 * ("malformed", "bad_field", ...; "ok" for WIRE_OK). */
miz_error_t wire_status_error(wire_status_t st);
const char *wire_status_code(wire_status_t st);

/* A peer's string as an error message may quote it: mizd sends errors back
 * and logs them one per line, so control characters (a newline would forge
 * a log line, an escape sequence drive a terminal) and '"' become '?', and
 * more than 64 bytes are cut, on a character boundary, with "...". s must be
 * valid UTF-8, as every string wire_parse() accepts is. Returns out. */
#define WIRE_QUOTE_SIZE (64 + sizeof "...")
const char *wire_quote(const char *s, size_t n, char out[WIRE_QUOTE_SIZE]);

/* Encoding helpers over msgpack-c's packer. */
void wire_pack_str(msgpack_packer *pk, const char *s, size_t n);
void wire_pack_cstr(msgpack_packer *pk, const char *s);
/* key + value pairs inside a map the caller opened */
void wire_kv_str(msgpack_packer *pk, const char *key, const char *s, size_t n);
void wire_kv_cstr(msgpack_packer *pk, const char *key, const char *s);
void wire_kv_uint(msgpack_packer *pk, const char *key, uint64_t v);
void wire_kv_bool(msgpack_packer *pk, const char *key, bool v);

/* A map counted as it is packed, so no count is written by hand:
 * wire_map_begin reserves the largest header in the packer's buffer (a
 * msgpack_sbuffer), each wire_map_* entry counts one, and wire_map_end
 * writes the smallest header for the count and closes the gap. Maps nest:
 * a value may be another counted map (wire_map_key, then begin on it). */
typedef struct {
    msgpack_packer *pk;
    size_t at;  /* where the header starts in the buffer */
    uint32_t n; /* entries so far */
} wire_map_t;

void wire_map_begin(wire_map_t *m, msgpack_packer *pk);
/* The entries take the key's length (k): the inline wrappers below give
 * strlen(key), which the compiler folds for a literal, as keys are. A short
 * key with a short value is written in place in the buffer, in one piece:
 * events and replies are mostly such pairs, and packing them a piece at a
 * time through the packer's callback was a third of mizd's instructions. */
msgpack_packer *wire_map_key_n(wire_map_t *m, const char *key, size_t k);
void wire_map_str_n(wire_map_t *m, const char *key, size_t k, const char *s, size_t n);
void wire_map_uint_n(wire_map_t *m, const char *key, size_t k, uint64_t v);
/* a value of one byte: nil (0xc0), false (0xc2), true (0xc3) */
void wire_map_byte_n(wire_map_t *m, const char *key, size_t k, unsigned char b);
void wire_map_end(wire_map_t *m);

/* Packs key and counts its entry: the caller packs the value. */
static inline msgpack_packer *wire_map_key(wire_map_t *m, const char *key)
{
    return wire_map_key_n(m, key, strlen(key));
}

static inline void wire_map_str(wire_map_t *m, const char *key, const char *s, size_t n)
{
    wire_map_str_n(m, key, strlen(key), s, n);
}

static inline void wire_map_cstr(wire_map_t *m, const char *key, const char *s)
{
    wire_map_str_n(m, key, strlen(key), s, strlen(s));
}

/* s, or nil when s is NULL */
static inline void wire_map_opt_cstr(wire_map_t *m, const char *key, const char *s)
{
    if (s)
        wire_map_cstr(m, key, s);
    else
        wire_map_byte_n(m, key, strlen(key), 0xc0);
}

static inline void wire_map_uint(wire_map_t *m, const char *key, uint64_t v)
{
    wire_map_uint_n(m, key, strlen(key), v);
}

static inline void wire_map_bool(wire_map_t *m, const char *key, bool v)
{
    wire_map_byte_n(m, key, strlen(key), v ? 0xc3 : 0xc2);
}

#endif
