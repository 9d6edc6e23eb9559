/* wire_seeds: the seed corpus of fuzz_wire and its dictionary.
 *
 * Seeds: one file per message of docs/protocol.md (sections 3 and 8), both
 * ways, as the examples there; and one per template of the barrage's
 * generator (tests/common/msggen.h, "gen-*"), unmutated, from a fixed seed.
 * The dictionary (wire.dict): msgpack's headers, then every name of
 * lib/proto.h (commands, fields, messages, error codes, events, states,
 * roles, priorities...) as a msgpack string, then topics and UTF-8.
 *
 * usage: wire_seeds DIR                  writes the seeds into DIR (tests/fuzz/corpus/wire)
 *        wire_seeds --check DIR          fails unless DIR holds each, byte for byte
 *        wire_seeds --dict FILE          writes the dictionary (tests/fuzz/wire.dict)
 *        wire_seeds --check-dict FILE    fails unless FILE is the dictionary
 *
 * The tests fuzz_wire_seeds and fuzz_wire_dict run the checks on what is
 * committed, so both follow this file and proto.h. Every seed must itself
 * pass wire_parse, and every command among them must be one mizd takes
 * from a key allowed to send it (policy_refusal, tests/common/policy.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msggen.h"
#include "policy.h"
#include "wire.h"

#define T0 1742536800000u /* 2025-03-21, Nowruz 1404 */

static const char *const payload_text = "برف خیابان فردوسی را بسته است";

static void str(msgpack_packer *pk, const char *s)
{
    wire_pack_cstr(pk, s);
}

static void kv_nil(msgpack_packer *pk, const char *key)
{
    str(pk, key);
    msgpack_pack_nil(pk);
}

static void citizen_payload(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    wire_kv_cstr(pk, "text", payload_text);
    wire_kv_cstr(pk, "place", "ایلام، خیابان فردوسی");
    wire_kv_cstr(pk, "contact", "0912xxxxxxx");
}

/* ---- client -> broker ---- */

static void submit(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 7);
    wire_kv_cstr(pk, "type", "submit");
    wire_kv_uint(pk, "v", 1);
    wire_kv_uint(pk, "seq", 41);
    wire_kv_cstr(pk, "topic", "city.snow.street");
    wire_kv_cstr(pk, "kind", "complaint");
    wire_kv_cstr(pk, "client_ref", "137-000123");
    str(pk, "payload");
    citizen_payload(pk);
}

/* A payload in every msgpack format, nested as deep as a field may go. */
static void submit_any_payload(msgpack_packer *pk)
{
    static const char bytes[] = {0, 1, 2, (char)0xff};
    msgpack_pack_map(pk, 4);
    wire_kv_cstr(pk, "type", "submit");
    wire_kv_cstr(pk, "topic", "utility.water.leak");
    wire_kv_cstr(pk, "priority", "urgent");
    str(pk, "payload");
    msgpack_pack_array(pk, 16);
    msgpack_pack_nil(pk);
    msgpack_pack_true(pk);
    msgpack_pack_false(pk);
    msgpack_pack_int(pk, -5);
    msgpack_pack_uint16(pk, 60000);
    msgpack_pack_uint64(pk, UINT64_MAX);
    msgpack_pack_int64(pk, INT64_MIN);
    msgpack_pack_float(pk, 0.5f);
    msgpack_pack_double(pk, -0.25);
    msgpack_pack_bin(pk, sizeof bytes);
    msgpack_pack_bin_body(pk, bytes, sizeof bytes);
    msgpack_pack_ext(pk, 1, 7);
    msgpack_pack_ext_body(pk, bytes, 1);
    msgpack_pack_ext(pk, 3, -1);
    msgpack_pack_ext_body(pk, bytes, 3);
    msgpack_pack_map(pk, 1);
    msgpack_pack_int(pk, 1); /* below the top, keys may be anything */
    str(pk, "x");
    str(pk, "");
    str(pk, payload_text); /* str8 */
    for (int depth = 2; depth < WIRE_MAX_DEPTH; depth++)
        msgpack_pack_array(pk, 1);
    str(pk, "deep");
}

static void status(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 4);
    wire_kv_cstr(pk, "type", "status");
    wire_kv_uint(pk, "v", 1);
    wire_kv_uint(pk, "seq", 42);
    wire_kv_uint(pk, "tracking", 1);
}

static void ping(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 2);
    wire_kv_cstr(pk, "type", "ping");
    wire_kv_uint(pk, "seq", 7);
}

static void snapshot(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    wire_kv_cstr(pk, "type", "snapshot");
    wire_kv_uint(pk, "seq", 9);
    wire_kv_uint(pk, "since", T0);
}

/* ---- worker -> broker ---- */

static void reg(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 7);
    wire_kv_cstr(pk, "type", "register");
    wire_kv_uint(pk, "v", 1);
    wire_kv_uint(pk, "seq", 1);
    wire_kv_cstr(pk, "agency", "city-services");
    wire_kv_cstr(pk, "name", "tehran-st-desk");
    wire_kv_uint(pk, "credit", 4);
    str(pk, "topics");
    msgpack_pack_array(pk, 2);
    str(pk, "city.snow.#");
    str(pk, "utility.*.leak");
}

static void ack(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    wire_kv_cstr(pk, "type", "ack");
    wire_kv_uint(pk, "seq", 2);
    wire_kv_uint(pk, "delivery", 1);
}

static void progress(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 4);
    wire_kv_cstr(pk, "type", "progress");
    wire_kv_uint(pk, "seq", 3);
    wire_kv_uint(pk, "delivery", 1);
    wire_kv_cstr(pk, "note", "plough on its way");
}

static void answer(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 5);
    wire_kv_cstr(pk, "type", "answer");
    wire_kv_uint(pk, "seq", 4);
    wire_kv_uint(pk, "delivery", 1);
    wire_kv_cstr(pk, "outcome", "done");
    wire_kv_cstr(pk, "text", "خیابان ساعت ۷:۴۰ باز شد");
}

static void refuse(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 4);
    wire_kv_cstr(pk, "type", "refuse");
    wire_kv_uint(pk, "seq", 5);
    wire_kv_uint(pk, "delivery", 9);
    wire_kv_cstr(pk, "reason", "this street is the roads office's");
}

static void heartbeat(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 2);
    wire_kv_cstr(pk, "type", "heartbeat");
    wire_kv_uint(pk, "seq", 17);
}

static void bye(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    wire_kv_cstr(pk, "type", "bye");
}

/* ---- broker -> client ---- */

static void accepted(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 6);
    wire_kv_cstr(pk, "type", "accepted");
    wire_kv_uint(pk, "re", 57);
    wire_kv_uint(pk, "tracking", 1);
    wire_kv_uint(pk, "deliveries", 1);
    wire_kv_uint(pk, "observers", 1);
    wire_kv_bool(pk, "duplicate", true);
}

static void history_entry(msgpack_packer *pk, uint64_t at, const char *event, uint64_t worker)
{
    msgpack_pack_map(pk, 3);
    wire_kv_uint(pk, "at", at);
    wire_kv_cstr(pk, "event", event);
    wire_kv_uint(pk, "worker", worker);
}

/* A delivery object of status (15 keys), or of snapshot (without text and note). */
static void delivery_object(msgpack_packer *pk, bool private_fields)
{
    msgpack_pack_map(pk, private_fields ? 15 : 13);
    wire_kv_uint(pk, "id", 1);
    wire_kv_cstr(pk, "agency", "city-services");
    wire_kv_cstr(pk, "role", "target");
    wire_kv_uint(pk, "level", 0);
    wire_kv_cstr(pk, "state", "acked");
    wire_kv_bool(pk, "overdue", false);
    wire_kv_uint(pk, "attempts", 1);
    wire_kv_uint(pk, "created", T0);
    wire_kv_uint(pk, "ack_by", T0 + 600000);
    wire_kv_uint(pk, "answer_by", T0 + 21600000);
    wire_kv_uint(pk, "from", 0);
    kv_nil(pk, "outcome");
    if (private_fields) {
        kv_nil(pk, "text");
        wire_kv_cstr(pk, "note", "plough on its way");
    }
    str(pk, "history");
    msgpack_pack_array(pk, 3);
    history_entry(pk, T0, "queued", 0);
    history_entry(pk, T0, "offered", 1);
    history_entry(pk, T0 + 95000, "acked", 1);
}

/* The request fields status and snapshot share. */
static void request_fields(msgpack_packer *pk)
{
    wire_kv_uint(pk, "tracking", 1);
    wire_kv_cstr(pk, "topic", "city.snow.street");
    wire_kv_cstr(pk, "kind", "complaint");
    wire_kv_cstr(pk, "priority", "urgent");
    wire_kv_cstr(pk, "state", "open");
    wire_kv_uint(pk, "created", T0);
    wire_kv_uint(pk, "closed", 0);
}

static void status_reply(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 11);
    wire_kv_cstr(pk, "type", "status");
    wire_kv_uint(pk, "re", 42);
    request_fields(pk);
    wire_kv_cstr(pk, "client_ref", "137-000123");
    str(pk, "deliveries");
    msgpack_pack_array(pk, 1);
    delivery_object(pk, true);
}

static void pong(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 2);
    wire_kv_cstr(pk, "type", "pong");
    wire_kv_uint(pk, "re", 7);
}

static void outcome(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 5);
    wire_kv_cstr(pk, "type", "outcome");
    wire_kv_uint(pk, "tracking", 1);
    wire_kv_uint(pk, "closed", T0 + 6000000);
    wire_kv_cstr(pk, "client_ref", "137-000123");
    str(pk, "answers");
    msgpack_pack_array(pk, 2);
    msgpack_pack_map(pk, 6);
    wire_kv_cstr(pk, "agency", "city-services");
    wire_kv_cstr(pk, "answered_by", "city-services");
    wire_kv_uint(pk, "delivery", 1);
    wire_kv_cstr(pk, "outcome", "done");
    wire_kv_bool(pk, "late", false);
    wire_kv_cstr(pk, "text", "street cleared at 07:40");
    msgpack_pack_map(pk, 5);
    wire_kv_cstr(pk, "agency", "roads");
    wire_kv_cstr(pk, "answered_by", "governorate");
    wire_kv_uint(pk, "delivery", 12);
    wire_kv_cstr(pk, "outcome", "refused");
    wire_kv_bool(pk, "late", true);
}

static void error(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 5);
    wire_kv_cstr(pk, "type", "error");
    wire_kv_uint(pk, "re", 9);
    wire_kv_cstr(pk, "code", "busy");
    wire_kv_cstr(pk, "message", "1000000 requests open; try again later");
    wire_kv_uint(pk, "retry_after_ms", 1000);
}

static void snapshot_reply(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 7);
    wire_kv_cstr(pk, "type", "snapshot");
    wire_kv_uint(pk, "re", 9);
    wire_kv_uint(pk, "part", 0);
    str(pk, "requests");
    msgpack_pack_array(pk, 1);
    msgpack_pack_map(pk, 8);
    request_fields(pk);
    str(pk, "deliveries");
    msgpack_pack_array(pk, 1);
    delivery_object(pk, false);
    wire_kv_bool(pk, "done", true);
    wire_kv_uint(pk, "seq", 3);
    wire_kv_uint(pk, "run", T0 - 3600000);
}

/* ---- broker -> worker ---- */

static void registered(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 6);
    wire_kv_cstr(pk, "type", "registered");
    wire_kv_uint(pk, "re", 1);
    wire_kv_uint(pk, "worker", 1);
    wire_kv_cstr(pk, "agency", "city-services");
    wire_kv_uint(pk, "credit", 4);
    wire_kv_uint(pk, "heartbeat_ms", 1000);
}

static void deliver(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 16);
    wire_kv_cstr(pk, "type", "deliver");
    wire_kv_uint(pk, "delivery", 8);
    wire_kv_uint(pk, "tracking", 2);
    wire_kv_cstr(pk, "topic", "city.snow.street");
    wire_kv_cstr(pk, "kind", "request");
    wire_kv_cstr(pk, "priority", "urgent");
    wire_kv_cstr(pk, "agency", "governorate");
    wire_kv_cstr(pk, "role", "escalation");
    wire_kv_uint(pk, "attempt", 1);
    wire_kv_uint(pk, "created", T0);
    wire_kv_uint(pk, "ack_by", T0 + 22200000);
    wire_kv_uint(pk, "answer_by", T0 + 43200000);
    wire_kv_cstr(pk, "client_ref", "137-000123");
    wire_kv_uint(pk, "from", 5);
    wire_kv_cstr(pk, "reason", "overdue");
    str(pk, "payload");
    citizen_payload(pk);
}

static void ok(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    wire_kv_cstr(pk, "type", "ok");
    wire_kv_uint(pk, "re", 4);
    wire_kv_uint(pk, "delivery", 1);
}

static void cancel(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    wire_kv_cstr(pk, "type", "cancel");
    wire_kv_uint(pk, "delivery", 3);
    wire_kv_cstr(pk, "reason", "ack_timeout");
}

/* ---- the event stream (section 8.1) ---- */

static void event(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 21);
    wire_kv_uint(pk, "seq", 4);
    wire_kv_uint(pk, "run", T0 - 3600000);
    wire_kv_cstr(pk, "event", "overdue");
    wire_kv_uint(pk, "at", T0 + 21600000);
    wire_kv_uint(pk, "tracking", 1);
    wire_kv_cstr(pk, "topic", "city.snow.street");
    wire_kv_cstr(pk, "kind", "complaint");
    wire_kv_cstr(pk, "priority", "urgent");
    wire_kv_uint(pk, "created", T0);
    wire_kv_uint(pk, "delivery", 1);
    wire_kv_cstr(pk, "agency", "city-services");
    wire_kv_cstr(pk, "role", "target");
    wire_kv_uint(pk, "level", 0);
    wire_kv_cstr(pk, "state", "acked");
    wire_kv_bool(pk, "overdue", true);
    wire_kv_uint(pk, "attempts", 1);
    wire_kv_uint(pk, "delivery_created", T0);
    wire_kv_uint(pk, "ack_by", T0 + 600000);
    wire_kv_uint(pk, "answer_by", T0 + 21600000);
    wire_kv_uint(pk, "from", 0);
    wire_kv_uint(pk, "worker", 0);
}

static void counters(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 5);
    wire_kv_uint(pk, "seq", 4);
    wire_kv_uint(pk, "run", T0 - 3600000);
    wire_kv_uint(pk, "at", T0 + 21601000);
    wire_kv_uint(pk, "open_requests", 1);
    str(pk, "agencies");
    msgpack_pack_array(pk, 1);
    msgpack_pack_map(pk, 6);
    wire_kv_cstr(pk, "agency", "city-services");
    wire_kv_uint(pk, "open", 1);
    wire_kv_uint(pk, "overdue", 1);
    wire_kv_uint(pk, "queued", 0);
    wire_kv_uint(pk, "workers", 1);
    wire_kv_uint(pk, "spare", 3);
}

/* where a seed is read: a command's socket, or the broker's (B) */
#define C MIZ_SOCKET_CLIENTS
#define W MIZ_SOCKET_WORKERS
#define B (-1)
static const struct {
    const char *name;
    void (*pack)(msgpack_packer *pk);
    int socket;
} seeds[] = {
    {"submit", submit, C},
    {"submit-any-payload", submit_any_payload, C},
    {"status", status, C},
    {"ping", ping, C},
    {"snapshot", snapshot, C},
    {"register", reg, W},
    {"ack", ack, W},
    {"progress", progress, W},
    {"answer", answer, W},
    {"refuse", refuse, W},
    {"heartbeat", heartbeat, W},
    {"bye", bye, W},
    {"accepted", accepted, B},
    {"status-reply", status_reply, B},
    {"pong", pong, B},
    {"outcome", outcome, B},
    {"error", error, B},
    {"snapshot-reply", snapshot_reply, B},
    {"registered", registered, B},
    {"deliver", deliver, B},
    {"ok", ok, B},
    {"cancel", cancel, B},
    {"event", event, B},
    {"counters", counters, B},
};
#undef C
#undef W
#undef B

/* 0 when the file at path holds exactly the n bytes at data. */
static int compare_file(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    char *have = malloc(n + 1);
    size_t got = have ? fread(have, 1, n + 1, f) : 0;
    int rc = have && got == n && memcmp(have, data, n) == 0 ? 0 : -1;
    if (rc < 0)
        fprintf(stderr, "%s: stale; regenerate the corpus with wire_seeds\n", path);
    free(have);
    fclose(f);
    return rc;
}

static int write_file(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* What a seed must be beyond a frame wire_parse takes: a command mizd
 * takes from every key role that may send it; a broker's message of
 * proto.h (socket -1; the stream's have no type); anything (-2). NULL if
 * it is. */
static const char *seed_fault(const msgpack_object *root, int socket)
{
    const msgpack_object *type = wire_obj_get(root, "type");
    if (socket == -2)
        return NULL;
    if (socket < 0)
        return !type || policy_message(type) >= 0 ? NULL : "not a message of proto.h";
    for (int k = 0; k < MIZ_KEY_ROLE_COUNT; k++) {
        int c = type && type->type == MSGPACK_OBJECT_STR
                    ? miz_command_find((miz_socket_t)socket, type->via.str.ptr, type->via.str.size)
                    : -1;
        if (c < 0)
            return "not a command of proto.h on its socket";
        if (policy_may_send((miz_key_role_t)k, (miz_command_t)c) &&
            policy_refusal((miz_key_role_t)k, (miz_socket_t)socket, root) >= 0)
            return "refused by proto.h's rules";
    }
    return NULL;
}

/* Packs seed i of the table (i < N_DOCS) or the generator's template
 * i - N_DOCS; its name into name. False for a template with no seed. */
#define N_DOCS (sizeof seeds / sizeof seeds[0])
static bool pack_seed(size_t i, msgpack_sbuffer *sb, char *name, size_t len, int *socket)
{
    msgpack_sbuffer_clear(sb);
    if (i < N_DOCS) {
        msgpack_packer pk;
        msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
        seeds[i].pack(&pk);
        snprintf(name, len, "%s", seeds[i].name);
        *socket = seeds[i].socket;
        return true;
    }
    tkind_t t = (tkind_t)(i - N_DOCS);
    tmsg_t m;
    static const mg_targets_t none;
    build(&m, t, 1 + t, &none); /* drawn even when unused: the stream stays as it was */
    if (t == T_SUBMIT_BIG) /* over what fuzz_wire tries (run.sh: -max_len) */
        return false;
    frame_t f;
    frame_init(&f);
    pack_msg(&f, &m, X_VALID);
    msgpack_sbuffer_write(sb, f.sb.data, f.sb.size);
    frame_destroy(&f);
    snprintf(name, len, "gen-%s", t_names[t]);
    /* the commands (the rest are made to be refused) */
    *socket = t < T_REG_WATER ? MIZ_SOCKET_CLIENTS : t < T_VERSION ? MIZ_SOCKET_WORKERS : -2;
    return true;
}

/* Writes the seeds into dir, or checks them there. */
static int seeds_do(const char *dir, bool check)
{
    int failed = 0;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mg_seed(20250321);
    for (size_t i = 0; i < N_DOCS + N_T; i++) {
        char name[64], err[256], path[4096];
        int socket;
        if (!pack_seed(i, &sb, name, sizeof name, &socket))
            continue;
        wire_status_t st;
        wire_msg_t *m = wire_parse(sb.data, sb.size, &st, err, sizeof err);
        const char *fault = m ? seed_fault(wire_root(m), socket) : NULL;
        snprintf(path, sizeof path, "%s/%s.msgpack", dir, name);
        if (!m || fault) {
            fprintf(stderr, "%s: %s%s\n", name, m ? fault : "not a valid frame: ", m ? "" : err);
            failed = 1;
        } else if ((check ? compare_file : write_file)(path, sb.data, sb.size) < 0) {
            failed = 1;
        }
        wire_msg_destroy(&m);
    }
    msgpack_sbuffer_destroy(&sb);
    return failed;
}

/* ---- the dictionary ---- */

/* msgpack's headers: fixed containers and strings, every format byte, the
 * sized ones with a length of 1 and of the most */
static const char *const dict_head[] = {
    "\\x80", "\\x81", "\\x8f", "\\x90", "\\x91", "\\x9f", "\\xa0", "\\xc0", "\\xc1", "\\xc2", "\\xc3",
    "\\xc4\\x01", "\\xc5\\x00\\x01", "\\xc6\\x00\\x00\\x00\\x01", "\\xc7\\x01\\x07", "\\xc8\\x00\\x01\\x07",
    "\\xc9\\x00\\x00\\x00\\x01\\x07", "\\xca", "\\xcb", "\\xcc", "\\xcd", "\\xce", "\\xcf", "\\xd0", "\\xd3",
    "\\xd4\\x07", "\\xd8\\x07", "\\xd9\\x01", "\\xda\\x00\\x01", "\\xdb\\x00\\x00\\x00\\x01", "\\xdc\\x00\\x01",
    "\\xdd\\x00\\x00\\x00\\x01", "\\xde\\x00\\x01", "\\xdf\\x00\\x00\\x00\\x01", "\\xdd\\xff\\xff\\xff\\xff",
    "\\xdf\\xff\\xff\\xff\\xff", "\\xdb\\xff\\xff\\xff\\xff",
};

/* keys of every message that proto.h's field rows leave out */
static const char *const dict_keys[] = {"type", "v", "seq", "re", "duplicate"};

/* topics and patterns, and UTF-8: a ZWNJ and an emoji; a surrogate, an
 * overlong '/', past U+10FFFF (as raw bytes, not msgpack strings) */
static const char *const dict_tail[] = {"\\xa1#", "\\xa1*", "\\xa3a.b", "\\xa5a.*.#",
                                        "\\xd8\\xa8", "\\xe2\\x80\\x8c", "\\xf0\\x9f\\x98\\x80",
                                        "\\xed\\xa0\\x80", "\\xc0\\xaf", "\\xf4\\x90\\x80\\x80"};

typedef struct {
    char *text;
    size_t len, cap;
    const char *seen[512]; /* names written, each once */
    size_t n_seen;
} dict_t;

static void dict_raw(dict_t *d, const char *s)
{
    size_t n = strlen(s);
    if (d->len + n + 1 > d->cap) {
        d->cap = 2 * (d->len + n + 1);
        d->text = realloc(d->text, d->cap);
        if (!d->text)
            abort();
    }
    memcpy(d->text + d->len, s, n + 1);
    d->len += n;
}

/* A line with bytes p[0..n) quoted, \xNN for what is not printable ASCII. */
static void dict_entry(dict_t *d, const unsigned char *p, size_t n)
{
    dict_raw(d, "\"");
    for (size_t i = 0; i < n; i++) {
        char c[8];
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\')
            snprintf(c, sizeof c, "%c", p[i]);
        else
            snprintf(c, sizeof c, "\\x%02x", p[i]);
        dict_raw(d, c);
    }
    dict_raw(d, "\"\n");
}

/* A name as a msgpack fixstr, once. */
static void dict_name(dict_t *d, const char *name)
{
    for (size_t i = 0; i < d->n_seen; i++)
        if (strcmp(d->seen[i], name) == 0)
            return;
    if (d->n_seen == sizeof d->seen / sizeof d->seen[0])
        abort();
    d->seen[d->n_seen++] = name;
    unsigned char buf[64];
    size_t n = strlen(name);
    if (n > 31)
        abort();
    buf[0] = (unsigned char)(0xa0 | n);
    memcpy(buf + 1, name, n);
    dict_entry(d, buf, n + 1);
}

static void dict_names(dict_t *d, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dict_name(d, names[i]);
}

#define DICT_NAMES(d, table) dict_names(d, table, sizeof table / sizeof *table)

static void dict_make(dict_t *d)
{
    dict_raw(d, "# libFuzzer dictionary for fuzz_wire, written by wire_seeds --dict (tests/fuzz/wire_seeds.c):\n"
                "# msgpack headers, every name of lib/proto.h as a msgpack string, topics and UTF-8.\n");
    for (size_t i = 0; i < sizeof dict_head / sizeof *dict_head; i++)
        dict_raw(d, "\""), dict_raw(d, dict_head[i]), dict_raw(d, "\"\n");
    DICT_NAMES(d, dict_keys);
    for (size_t f = 0; f < MIZ_F_COUNT; f++)
        dict_name(d, miz_fields[f].key);
    for (size_t c = 0; c < MIZ_CMD_COUNT; c++)
        dict_name(d, miz_commands[c].type);
    DICT_NAMES(d, miz_message_names);
    DICT_NAMES(d, miz_error_names);
    DICT_NAMES(d, miz_event_names);
    DICT_NAMES(d, miz_state_names);
    DICT_NAMES(d, miz_request_state_names);
    DICT_NAMES(d, miz_role_names);
    DICT_NAMES(d, miz_priority_names);
    DICT_NAMES(d, miz_key_role_names);
    DICT_NAMES(d, miz_copy_reason_names);
    DICT_NAMES(d, miz_cancel_reason_names);
    DICT_NAMES(d, miz_stream_topic_names);
    for (size_t i = 0; i < sizeof dict_tail / sizeof *dict_tail; i++)
        dict_raw(d, "\""), dict_raw(d, dict_tail[i]), dict_raw(d, "\"\n");
}

/* Writes the dictionary to path, or checks it there. */
static int dict_do(const char *path, bool check)
{
    dict_t d = {0};
    dict_make(&d);
    int rc = (check ? compare_file : write_file)(path, d.text, d.len);
    free(d.text);
    return rc < 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc == 3 ? argv[1] : "";
    if (argc == 2)
        return seeds_do(argv[1], false);
    if (argc == 3 && strcmp(mode, "--check") == 0)
        return seeds_do(argv[2], true);
    if (argc == 3 && (strcmp(mode, "--dict") == 0 || strcmp(mode, "--check-dict") == 0))
        return dict_do(argv[2], strcmp(mode, "--check-dict") == 0);
    fprintf(stderr, "usage: wire_seeds [--check] DIR | wire_seeds --dict|--check-dict FILE\n");
    return 2;
}
