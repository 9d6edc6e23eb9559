/* wire: the frame codec (wire.h says why).
 *
 * wire_parse walks a frame's bytes before msgpack-c sees them, refusing what
 * could make it allocate without bound, and checks every string as UTF-8;
 * the getters read typed fields; the packers write string keys and the maps
 * counted as they are packed. */
#include "wire.h"

#include "utf8.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wire_msg {
    msgpack_unpacked unpacked;
    /* msgpack-c's strings point into the bytes it unpacked, so the message
     * keeps its own copy and the caller may free the frame at once */
    unsigned char data[];
};

/* The pre-unpack walk over the raw bytes. */
struct scan {
    const unsigned char *p;
    size_t size;
    size_t pos;
    wire_status_t *status;
    char *err;
    size_t errlen;
};

enum kind { KIND_FIXED, KIND_STR, KIND_BIN, KIND_EXT, KIND_ARRAY, KIND_MAP };

/* One object's header: for containers len is the element count, otherwise
 * the number of payload bytes that follow the header. */
struct head {
    enum kind kind;
    uint64_t len;
    size_t at; /* offset of the type byte */
};

static const char *const kind_names[] = {
    [KIND_FIXED] = "scalar", [KIND_STR] = "str",   [KIND_BIN] = "bin",
    [KIND_EXT] = "ext",      [KIND_ARRAY] = "array", [KIND_MAP] = "map",
};

/* A top-level key, kept for the duplicate check. */
struct key_span {
    const unsigned char *p;
    size_t n;
};

/* Keys beyond this many are sorted in a heap buffer instead of the stack. */
#define KEYS_ON_STACK 32
#define PAIRWISE_KEYS 16 /* maps up to this many keys are checked for repeats without sorting */
/* Bytes of a string that wire_quote() keeps. */
#define QUOTE_MAX (WIRE_QUOTE_SIZE - sizeof "...")

__attribute__((format(printf, 3, 4)))
static int fail(struct scan *sc, wire_status_t st, const char *fmt, ...)
{
    if (sc->status)
        *sc->status = st;
    if (sc->err && sc->errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(sc->err, sc->errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static size_t left(const struct scan *sc)
{
    return sc->size - sc->pos;
}

/* Reads a big-endian unsigned integer of width bytes that is part of the
 * header starting at at. */
static int read_be(struct scan *sc, size_t width, size_t at, uint64_t *v)
{
    if (width > left(sc))
        return fail(sc, WIRE_MALFORMED, "truncated header at offset %zu", at);
    *v = 0;
    for (size_t i = 0; i < width; i++)
        *v = *v << 8 | sc->p[sc->pos++];
    return 0;
}

static int read_head(struct scan *sc, struct head *h)
{
    h->at = sc->pos;
    if (left(sc) == 0)
        return fail(sc, WIRE_MALFORMED, "truncated: object expected at offset %zu", h->at);
    unsigned char b = sc->p[sc->pos++];
    h->kind = KIND_FIXED;
    h->len = 0;

    /* fixints, nil, false, true */
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return 0;
    if (b <= 0xbf) { /* fixmap 8x, fixarray 9x, fixstr ax..bx */
        h->kind = b <= 0x8f ? KIND_MAP : b <= 0x9f ? KIND_ARRAY : KIND_STR;
        h->len = b & (h->kind == KIND_STR ? 0x1f : 0x0f);
        return 0;
    }
    switch (b) {
    case 0xc4: case 0xc5: case 0xc6: /* bin 8, 16, 32 */
        h->kind = KIND_BIN;
        return read_be(sc, (size_t)1 << (b - 0xc4), h->at, &h->len);
    case 0xc7: case 0xc8: case 0xc9: /* ext 8, 16, 32 */
        h->kind = KIND_EXT;
        if (read_be(sc, (size_t)1 << (b - 0xc7), h->at, &h->len) < 0)
            return -1;
        h->len++; /* the ext type byte */
        return 0;
    case 0xca: case 0xcb: /* float 32, 64 */
        h->len = (uint64_t)4 << (b - 0xca);
        return 0;
    case 0xcc: case 0xcd: case 0xce: case 0xcf: /* uint 8..64 */
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: /* int 8..64 */
        h->len = (uint64_t)1 << (b & 0x03);
        return 0;
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: /* fixext 1..16 */
        h->kind = KIND_EXT;
        h->len = 1 + ((uint64_t)1 << (b - 0xd4));
        return 0;
    case 0xd9: case 0xda: case 0xdb: /* str 8, 16, 32 */
        h->kind = KIND_STR;
        return read_be(sc, (size_t)1 << (b - 0xd9), h->at, &h->len);
    case 0xdc: case 0xdd: /* array 16, 32 */
        h->kind = KIND_ARRAY;
        return read_be(sc, (size_t)2 << (b - 0xdc), h->at, &h->len);
    case 0xde: case 0xdf: /* map 16, 32 */
        h->kind = KIND_MAP;
        return read_be(sc, (size_t)2 << (b - 0xde), h->at, &h->len);
    default: /* 0xc1, reserved */
        return fail(sc, WIRE_MALFORMED, "reserved type byte 0x%02x at offset %zu", b, h->at);
    }
}

/* Checks that a container's elements could fit in the bytes left, each
 * taking at least one byte, so msgpack-c never allocates for phantoms. */
static int check_count(struct scan *sc, const struct head *h)
{
    size_t per_element = h->kind == KIND_MAP ? 2 : 1;
    if (h->len > left(sc) / per_element)
        return fail(sc, WIRE_MALFORMED, "%s count %" PRIu64 " exceeds the %zu bytes left at offset %zu",
                    kind_names[h->kind], h->len, left(sc), h->at);
    return 0;
}

/* Skips a non-container's payload, validating strings. */
static int skip_payload(struct scan *sc, const struct head *h)
{
    if (h->len > left(sc))
        return fail(sc, WIRE_MALFORMED, "%s length %" PRIu64 " exceeds the %zu bytes left at offset %zu",
                    kind_names[h->kind], h->len, left(sc), h->at);
    if (h->kind == KIND_STR && !utf8_valid((const char *)sc->p + sc->pos, (size_t)h->len))
        return fail(sc, WIRE_BAD_UTF8, "invalid UTF-8 in string at offset %zu", h->at);
    sc->pos += (size_t)h->len;
    return 0;
}

/* Walks one object whose header is already read; depth counts the
 * containers around it. */
static int scan_body(struct scan *sc, const struct head *h, unsigned depth)
{
    if (h->kind != KIND_ARRAY && h->kind != KIND_MAP)
        return skip_payload(sc, h);
    if (depth >= WIRE_MAX_DEPTH)
        return fail(sc, WIRE_MALFORMED, "nesting deeper than %d at offset %zu", WIRE_MAX_DEPTH, h->at);
    if (check_count(sc, h) < 0)
        return -1;
    uint64_t elements = h->kind == KIND_MAP ? h->len * 2 : h->len;
    for (uint64_t i = 0; i < elements; i++) {
        struct head inner;
        if (read_head(sc, &inner) < 0 || scan_body(sc, &inner, depth + 1) < 0)
            return -1;
    }
    return 0;
}

int wire_array_bin(const void *data, size_t size, uint32_t i, const void **body, size_t *len)
{
    struct scan sc = {.p = data, .size = size};
    struct head h;
    if (read_head(&sc, &h) < 0 || h.kind != KIND_ARRAY || h.len <= i || check_count(&sc, &h) < 0)
        return -1;
    for (uint32_t k = 0; k < i; k++)
        if (read_head(&sc, &h) < 0 || scan_body(&sc, &h, 1) < 0)
            return -1;
    if (read_head(&sc, &h) < 0 || h.kind != KIND_BIN || h.len > left(&sc))
        return -1;
    *body = sc.p + sc.pos;
    *len = (size_t)h.len;
    return 0;
}

static int compare_keys(const void *a, const void *b)
{
    const struct key_span *x = a, *y = b;
    if (x->n != y->n)
        return x->n < y->n ? -1 : 1;
    return memcmp(x->p, y->p, x->n);
}

const char *wire_quote(const char *s, size_t n, char out[WIRE_QUOTE_SIZE])
{
    size_t kept = n;
    if (kept > QUOTE_MAX) {
        kept = QUOTE_MAX;
        while (((unsigned char)s[kept] & 0xc0) == 0x80) /* not inside a character */
            kept--;
    }
    for (size_t i = 0; i < kept; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = c < 0x20 || c == 0x7f || c == '"' ? '?' : (char)c;
    }
    strcpy(out + kept, kept < n ? "..." : "");
    return out;
}

static int repeated(struct scan *sc, const struct key_span *key)
{
    char q[WIRE_QUOTE_SIZE];
    return fail(sc, WIRE_MALFORMED, "top-level key \"%s\" repeated",
                wire_quote((const char *)key->p, key->n, q));
}

/* A protocol message has a dozen keys or so: comparing each pair costs less
 * than sorting them. Sorting keeps a hostile map of many keys from costing
 * n^2 compares. */
static int check_duplicates(struct scan *sc, struct key_span *keys, size_t n)
{
    if (n <= PAIRWISE_KEYS) {
        for (size_t i = 1; i < n; i++)
            for (size_t j = 0; j < i; j++)
                if (compare_keys(&keys[j], &keys[i]) == 0)
                    return repeated(sc, &keys[i]);
        return 0;
    }
    qsort(keys, n, sizeof *keys, compare_keys);
    for (size_t i = 1; i < n; i++)
        if (compare_keys(&keys[i - 1], &keys[i]) == 0)
            return repeated(sc, &keys[i]);
    return 0;
}

static int scan_pairs(struct scan *sc, size_t pairs, struct key_span *keys)
{
    for (size_t i = 0; i < pairs; i++) {
        struct head key, value;
        if (read_head(sc, &key) < 0)
            return -1;
        if (key.kind != KIND_STR)
            return fail(sc, WIRE_MALFORMED, "top-level key at offset %zu is of type %s, not str",
                        key.at, kind_names[key.kind]);
        keys[i].p = sc->p + sc->pos;
        keys[i].n = (size_t)key.len;
        if (skip_payload(sc, &key) < 0 || read_head(sc, &value) < 0 ||
            scan_body(sc, &value, 1) < 0)
            return -1;
    }
    return check_duplicates(sc, keys, pairs);
}

static int scan_message(struct scan *sc)
{
    struct head top;
    if (sc->size == 0)
        return fail(sc, WIRE_MALFORMED, "empty frame");
    if (read_head(sc, &top) < 0)
        return -1;
    if (top.kind != KIND_MAP)
        return fail(sc, WIRE_MALFORMED, "message is of type %s, not a map", kind_names[top.kind]);
    if (check_count(sc, &top) < 0)
        return -1;

    size_t pairs = (size_t)top.len;
    struct key_span stack_keys[KEYS_ON_STACK];
    struct key_span *keys = pairs <= KEYS_ON_STACK ? stack_keys : malloc(pairs * sizeof *keys);
    if (!keys)
        return fail(sc, WIRE_MALFORMED, "out of memory for %zu top-level keys", pairs);
    int rc = scan_pairs(sc, pairs, keys);
    if (keys != stack_keys)
        free(keys);
    if (rc < 0)
        return -1;
    if (left(sc) > 0)
        return fail(sc, WIRE_MALFORMED, "%zu trailing bytes after the message", left(sc));
    return 0;
}

/* After the walk, msgpack-c's own verdict: false (reported) if it differs. */
static bool unpacked_whole(struct scan *sc, msgpack_unpack_return rc, size_t off)
{
    if (rc != MSGPACK_UNPACK_SUCCESS || off != sc->size) {
        fail(sc, WIRE_MALFORMED, "msgpack-c rejected the message (code %d)", (int)rc);
        return false;
    }
    if (sc->status)
        *sc->status = WIRE_OK;
    if (sc->err && sc->errlen > 0)
        sc->err[0] = '\0';
    return true;
}

wire_msg_t *wire_parse(const void *data, size_t size, wire_status_t *status,
                       char *err, size_t errlen)
{
    struct scan sc = {.p = data, .size = size, .status = status, .err = err, .errlen = errlen};
    if (scan_message(&sc) < 0)
        return NULL;

    wire_msg_t *msg = malloc(sizeof *msg + size);
    if (!msg) {
        fail(&sc, WIRE_MALFORMED, "out of memory for a %zu-byte message", size);
        return NULL;
    }
    memcpy(msg->data, data, size);
    msgpack_unpacked_init(&msg->unpacked);
    size_t off = 0;
    msgpack_unpack_return rc =
        msgpack_unpack_next(&msg->unpacked, (const char *)msg->data, size, &off);
    if (!unpacked_whole(&sc, rc, off)) {
        wire_msg_destroy(&msg);
        return NULL;
    }
    return msg;
}

wire_msg_t *wire_parse_in(const void *data, size_t size, msgpack_zone *zone,
                          wire_status_t *status, char *err, size_t errlen)
{
    struct scan sc = {.p = data, .size = size, .status = status, .err = err, .errlen = errlen};
    if (scan_message(&sc) < 0)
        return NULL;
    wire_msg_t *msg = msgpack_zone_malloc(zone, sizeof *msg); /* no data[]: it is data */
    if (!msg) {
        fail(&sc, WIRE_MALFORMED, "out of memory for a %zu-byte message", size);
        return NULL;
    }
    msg->unpacked.zone = NULL; /* the caller's */
    size_t off = 0;
    msgpack_unpack_return rc = msgpack_unpack(data, size, &off, zone, &msg->unpacked.data);
    return unpacked_whole(&sc, rc, off) ? msg : NULL;
}

void wire_msg_destroy(wire_msg_t **msg)
{
    if (!msg || !*msg)
        return;
    msgpack_unpacked_destroy(&(*msg)->unpacked);
    free(*msg);
    *msg = NULL;
}

const msgpack_object *wire_root(const wire_msg_t *msg)
{
    return &msg->unpacked.data;
}

const msgpack_object *wire_obj_get(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t n = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == n &&
            memcmp(kv->key.via.str.ptr, key, n) == 0)
            return &kv->val;
    }
    return NULL;
}

const msgpack_object *wire_get(const wire_msg_t *msg, const char *key)
{
    return wire_obj_get(wire_root(msg), key);
}

static wire_status_t check_type(const msgpack_object *o, msgpack_object_type want)
{
    if (!o)
        return WIRE_ABSENT;
    return o->type == want ? WIRE_OK : WIRE_BAD_TYPE;
}

wire_status_t wire_obj_str(const msgpack_object *o, const char **s, size_t *n, size_t max)
{
    wire_status_t st = check_type(o, MSGPACK_OBJECT_STR);
    if (st != WIRE_OK)
        return st;
    if (o->via.str.size > max)
        return WIRE_TOO_LONG;
    *s = o->via.str.ptr;
    *n = o->via.str.size;
    return WIRE_OK;
}

wire_status_t wire_str(const wire_msg_t *msg, const char *key, const char **s, size_t *n,
                       size_t max)
{
    return wire_obj_str(wire_get(msg, key), s, n, max);
}

wire_status_t wire_obj_uint(const msgpack_object *o, uint64_t *v)
{
    wire_status_t st = check_type(o, MSGPACK_OBJECT_POSITIVE_INTEGER);
    if (st == WIRE_OK)
        *v = o->via.u64;
    return st;
}

wire_status_t wire_obj_bool(const msgpack_object *o, bool *v)
{
    wire_status_t st = check_type(o, MSGPACK_OBJECT_BOOLEAN);
    if (st == WIRE_OK)
        *v = o->via.boolean;
    return st;
}

wire_status_t wire_uint(const wire_msg_t *msg, const char *key, uint64_t *v)
{
    return wire_obj_uint(wire_get(msg, key), v);
}

wire_status_t wire_bool(const wire_msg_t *msg, const char *key, bool *v)
{
    return wire_obj_bool(wire_get(msg, key), v);
}

miz_error_t wire_status_error(wire_status_t st)
{
    switch (st) {
    case WIRE_OK:
    case WIRE_ABSENT:
    case WIRE_BAD_TYPE:
        break;
    case WIRE_TOO_LONG:
        return MIZ_ERR_TOO_LARGE;
    case WIRE_BAD_UTF8:
        return MIZ_ERR_BAD_UTF8;
    case WIRE_MALFORMED:
        return MIZ_ERR_MALFORMED;
    }
    return MIZ_ERR_BAD_FIELD;
}

const char *wire_status_code(wire_status_t st)
{
    return st == WIRE_OK ? "ok" : miz_error_names[wire_status_error(st)];
}

void wire_pack_str(msgpack_packer *pk, const char *s, size_t n)
{
    if (n < 32) { /* a fixstr, header and body in one write: keys are */
        char buf[32];
        buf[0] = (char)(0xa0 | n);
        memcpy(buf + 1, s, n);
        pk->callback(pk->data, buf, n + 1);
        return;
    }
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

void wire_pack_cstr(msgpack_packer *pk, const char *s)
{
    wire_pack_str(pk, s, strlen(s));
}

void wire_kv_str(msgpack_packer *pk, const char *key, const char *s, size_t n)
{
    wire_pack_cstr(pk, key);
    wire_pack_str(pk, s, n);
}

void wire_kv_cstr(msgpack_packer *pk, const char *key, const char *s)
{
    wire_kv_str(pk, key, s, strlen(s));
}

void wire_kv_uint(msgpack_packer *pk, const char *key, uint64_t v)
{
    wire_pack_cstr(pk, key);
    msgpack_pack_uint64(pk, v);
}

void wire_kv_bool(msgpack_packer *pk, const char *key, bool v)
{
    wire_pack_cstr(pk, key);
    if (v)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

#define MAP_HEADER_MAX 5 /* map 32: 0xdf and a 4-byte count */

void wire_map_begin(wire_map_t *m, msgpack_packer *pk)
{
    static const char room[MAP_HEADER_MAX];
    /* pk writes to an sbuffer (wire.h): msgpack_sbuffer_write is static
     * inline, so that cannot be checked by comparing callbacks */
    msgpack_sbuffer *sb = pk->data;
    *m = (wire_map_t){pk, sb->size, 0};
    msgpack_sbuffer_write(sb, room, sizeof room);
}

/* Room for need bytes more at the end of the map's sbuffer (wire.h), for
 * an entry with a key under 32 bytes: the key written (a fixstr), the
 * caller writes the value after it. NULL when out of memory, which the
 * packer's own writes ignore too. */
static unsigned char *map_entry_room(wire_map_t *m, const char *key, size_t k, size_t value)
{
    msgpack_sbuffer *sb = m->pk->data;
    size_t need = 1 + k + value;
    if (sb->alloc - sb->size < need) {
        size_t cap = sb->alloc ? sb->alloc : MSGPACK_SBUFFER_INIT_SIZE;
        while (cap < sb->size + need)
            cap *= 2;
        char *data = realloc(sb->data, cap);
        if (!data)
            return NULL;
        sb->data = data;
        sb->alloc = cap;
    }
    unsigned char *p = (unsigned char *)sb->data + sb->size;
    sb->size += need;
    p[0] = (unsigned char)(0xa0 | k);
    memcpy(p + 1, key, k);
    return p + 1 + k;
}

msgpack_packer *wire_map_key_n(wire_map_t *m, const char *key, size_t k)
{
    m->n++;
    if (k < 32)
        map_entry_room(m, key, k, 0);
    else
        wire_pack_str(m->pk, key, k);
    return m->pk;
}

void wire_map_str_n(wire_map_t *m, const char *key, size_t k, const char *s, size_t n)
{
    if (k >= 32 || n >= 32) {
        wire_pack_str(wire_map_key_n(m, key, k), s, n);
        return;
    }
    m->n++;
    unsigned char *p = map_entry_room(m, key, k, 1 + n);
    if (p) {
        p[0] = (unsigned char)(0xa0 | n);
        memcpy(p + 1, s, n);
    }
}

void wire_map_byte_n(wire_map_t *m, const char *key, size_t k, unsigned char b)
{
    if (k >= 32) {
        msgpack_packer *pk = wire_map_key_n(m, key, k);
        pk->callback(pk->data, (const char *)&b, 1);
        return;
    }
    m->n++;
    unsigned char *p = map_entry_room(m, key, k, 1);
    if (p)
        *p = b;
}

/* The length of v in msgpack's smallest unsigned encoding, as
 * msgpack_pack_uint64 packs it. */
static size_t uint_size(uint64_t v)
{
    return v < 128 ? 1 : v <= UINT8_MAX ? 2 : v <= UINT16_MAX ? 3 : v <= UINT32_MAX ? 5 : 9;
}

void wire_map_uint_n(wire_map_t *m, const char *key, size_t k, uint64_t v)
{
    if (k >= 32) {
        msgpack_pack_uint64(wire_map_key_n(m, key, k), v);
        return;
    }
    static const unsigned char type[10] = {[2] = 0xcc, [3] = 0xcd, [5] = 0xce, [9] = 0xcf};
    size_t n = uint_size(v);
    m->n++;
    unsigned char *p = map_entry_room(m, key, k, n);
    if (!p)
        return;
    if (n == 1) {
        p[0] = (unsigned char)v;
        return;
    }
    p[0] = type[n];
    for (size_t i = 1; i < n; i++) /* big-endian */
        p[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
}

void wire_map_end(wire_map_t *m)
{
    msgpack_sbuffer *sb = m->pk->data;
    unsigned char h[MAP_HEADER_MAX];
    size_t len;
    assert(sb->size >= m->at + MAP_HEADER_MAX);
    if (m->n < 16) {
        h[0] = (unsigned char)(0x80 | m->n), len = 1;
    } else if (m->n <= UINT16_MAX) {
        h[0] = 0xde, h[1] = (unsigned char)(m->n >> 8), h[2] = (unsigned char)m->n, len = 3;
    } else {
        h[0] = 0xdf;
        for (int i = 0; i < 4; i++)
            h[1 + i] = (unsigned char)(m->n >> (24 - 8 * i));
        len = 5;
    }
    char *at = sb->data + m->at;
    memcpy(at, h, len);
    memmove(at + len, at + MAP_HEADER_MAX, sb->size - m->at - MAP_HEADER_MAX);
    sb->size -= MAP_HEADER_MAX - len;
}
