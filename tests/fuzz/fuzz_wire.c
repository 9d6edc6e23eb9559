/* fuzz_wire: one frame from a hostile peer, decoded and read the way mizd
 * reads a command (daemon/broker.c, handle() and the commands' fields).
 *
 * Beyond the sanitizers' findings, it checks what wire.h and
 * docs/protocol.md section 2 promise: a rejected frame gets a parse status
 * and a one-line UTF-8 reason (mizd sends it in an error reply and logs it);
 * an accepted one is a map with distinct str keys, valid UTF-8 in every
 * string, nesting within WIRE_MAX_DEPTH; the typed getters never hand out a
 * string over its limit, and wire_quote() makes it printable; and a payload
 * mizd accepted reaches a worker, re-encoded, as the same value (section
 * 3.2). */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "proto.h"
#include "topic.h"
#include "utf8.h"
#include "wire.h"

/* The fields mizd reads besides the commands' (proto.h's MIZ_FIELDS). */
#define TYPE_FIELD "type"
static const char *const uint_fields[] = {"seq", "v"};

/* Text fit for one log line: UTF-8 without control characters. */
static void check_printable(const char *s, size_t n)
{
    FUZZ_CHECK(utf8_valid(s, n));
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK((unsigned char)s[i] >= 0x20 && s[i] != 0x7f);
}

/* A reason mizd can put in an error reply and on one log line. */
static void check_reason(wire_status_t st, const char *err, size_t errlen)
{
    FUZZ_CHECK(st == WIRE_MALFORMED || st == WIRE_BAD_UTF8);
    size_t n = strnlen(err, errlen);
    FUZZ_CHECK(n > 0 && n < errlen);
    check_printable(err, n);
    /* msgpack-c only sees bytes the walk accepted: if it refuses them, the
     * walk and msgpack-c disagree about the format */
    FUZZ_CHECK(strncmp(err, "msgpack-c rejected", 18) != 0);
}

/* depth: the containers around o, the top-level map included */
static void check_tree(const msgpack_object *o, unsigned depth)
{
    switch (o->type) {
    case MSGPACK_OBJECT_STR:
        FUZZ_CHECK(utf8_valid(o->via.str.ptr, o->via.str.size));
        break;
    case MSGPACK_OBJECT_ARRAY:
        FUZZ_CHECK(depth < WIRE_MAX_DEPTH);
        for (uint32_t i = 0; i < o->via.array.size; i++)
            check_tree(&o->via.array.ptr[i], depth + 1);
        break;
    case MSGPACK_OBJECT_MAP:
        FUZZ_CHECK(depth < WIRE_MAX_DEPTH);
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            check_tree(&o->via.map.ptr[i].key, depth + 1);
            check_tree(&o->via.map.ptr[i].val, depth + 1);
        }
        break;
    default:
        break;
    }
}

static int key_order(const void *a, const void *b)
{
    const msgpack_object_str *x = &((const msgpack_object_kv *)a)->key.via.str;
    const msgpack_object_str *y = &((const msgpack_object_kv *)b)->key.via.str;
    if (x->size != y->size)
        return x->size < y->size ? -1 : 1;
    return memcmp(x->ptr, y->ptr, x->size);
}

/* Top-level keys are strs, each once: mizd's lookups take the first. */
static void check_keys(const msgpack_object *root)
{
    uint32_t n = root->via.map.size;
    if (n == 0)
        return;
    msgpack_object_kv *kv = malloc(n * sizeof *kv);
    FUZZ_CHECK(kv != NULL);
    memcpy(kv, root->via.map.ptr, n * sizeof *kv);
    for (uint32_t i = 0; i < n; i++)
        FUZZ_CHECK(kv[i].key.type == MSGPACK_OBJECT_STR);
    qsort(kv, n, sizeof *kv, key_order);
    for (uint32_t i = 1; i < n; i++)
        FUZZ_CHECK(key_order(&kv[i - 1], &kv[i]) != 0);
    free(kv);
}

static void pack_deliver(msgpack_sbuffer *sb, const msgpack_object *payload)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    wire_kv_cstr(&pk, "type", "deliver");
    wire_pack_cstr(&pk, "payload");
    msgpack_pack_object(&pk, *payload);
}

/* mizd re-encodes an accepted payload into each deliver: the worker must
 * decode it, and to the same value, which re-encodes to the same bytes. */
static void check_relay(const msgpack_object *payload)
{
    msgpack_sbuffer sent, again;
    char err[256];
    wire_status_t st;

    pack_deliver(&sent, payload);
    wire_msg_t *got = wire_parse(sent.data, sent.size, &st, err, sizeof err);
    if (!got)
        fprintf(stderr, "the worker refuses the relayed payload: %s\n", err);
    FUZZ_CHECK(got != NULL);
    pack_deliver(&again, wire_get(got, "payload"));
    FUZZ_CHECK(again.size == sent.size && memcmp(again.data, sent.data, sent.size) == 0);
    msgpack_sbuffer_destroy(&again);
    msgpack_sbuffer_destroy(&sent);
    wire_msg_destroy(&got);
}

/* A string field, read with its limit: within it, and printable once quoted. */
static void check_str(const wire_msg_t *m, const char *key, size_t max)
{
    const char *s;
    size_t n;
    if (wire_str(m, key, &s, &n, max) == WIRE_OK) {
        FUZZ_CHECK(n <= max && utf8_valid(s, n));
        /* as an error message quotes it */
        char q[WIRE_QUOTE_SIZE];
        size_t quoted = strlen(wire_quote(s, n, q));
        FUZZ_CHECK(quoted < WIRE_QUOTE_SIZE);
        check_printable(q, quoted);
    }
}

static void check_uint(const wire_msg_t *m, const char *key)
{
    uint64_t u;
    if (wire_uint(m, key, &u) == WIRE_OK)
        FUZZ_CHECK(wire_get(m, key)->type == MSGPACK_OBJECT_POSITIVE_INTEGER);
}

/* The fields as mizd's commands read them: what a getter hands out is
 * within the limit mizd copies it under (register's name goes into a
 * fixed buffer). */
static void read_fields(const wire_msg_t *m)
{
    const char *s;
    size_t n;
    bool flag;

    check_str(m, TYPE_FIELD, MIZ_TYPE_MAX);
    for (size_t i = 0; i < sizeof uint_fields / sizeof uint_fields[0]; i++)
        check_uint(m, uint_fields[i]);
    for (size_t f = 0; f < MIZ_F_COUNT; f++)
        if (miz_fields[f].type == MIZ_FT_STR)
            check_str(m, miz_fields[f].key, miz_fields[f].max);
        else if (miz_fields[f].type == MIZ_FT_UINT || miz_fields[f].type == MIZ_FT_DELIVERY)
            check_uint(m, miz_fields[f].key);
    if (wire_bool(m, "duplicate", &flag) == WIRE_OK)
        FUZZ_CHECK(wire_get(m, "duplicate")->type == MSGPACK_OBJECT_BOOLEAN);
    /* a topic is a pattern matching itself; a pattern without wildcards is a topic */
    if (wire_str(m, "topic", &s, &n, TOPIC_MAX) == WIRE_OK && topic_valid(s, n, NULL))
        FUZZ_CHECK(topic_pattern_valid(s, n, NULL) && topic_match(s, n, s, n));
    const msgpack_object *topics = wire_get(m, "topics");
    if (topics && topics->type == MSGPACK_OBJECT_ARRAY)
        for (uint32_t i = 0; i < topics->via.array.size; i++)
            if (wire_obj_str(&topics->via.array.ptr[i], &s, &n, TOPIC_MAX) == WIRE_OK &&
                topic_pattern_valid(s, n, NULL) && !memchr(s, '*', n) && !memchr(s, '#', n))
                FUZZ_CHECK(topic_valid(s, n, NULL));

    const msgpack_object *payload = wire_get(m, "payload");
    if (payload)
        check_relay(payload);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256]; /* mizd's size */
    wire_status_t st = WIRE_ABSENT;

    memset(err, 'x', sizeof err);
    wire_msg_t *m = wire_parse(data, size, &st, err, sizeof err);
    if (!m) {
        check_reason(st, err, sizeof err);
        return 0;
    }
    FUZZ_CHECK(st == WIRE_OK && err[0] == '\0');
    const msgpack_object *root = wire_root(m);
    FUZZ_CHECK(root->type == MSGPACK_OBJECT_MAP);
    check_tree(root, 0);
    check_keys(root);
    read_fields(m);
    wire_msg_destroy(&m);
    FUZZ_CHECK(m == NULL);
    return 0;
}
