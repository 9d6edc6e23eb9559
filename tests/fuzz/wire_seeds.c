/* wire_seeds: the seed corpus of fuzz_wire, one file per message of
 * docs/protocol.md (sections 3 and 8), both ways, as the examples there.
 *
 * usage: wire_seeds DIR            writes them into DIR (tests/fuzz/corpus/wire)
 *        wire_seeds --check DIR    fails unless DIR holds each, byte for byte
 *
 * The test fuzz_wire_seeds runs --check on the committed corpus, so the
 * seeds follow this file. Every seed must itself pass wire_parse. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static const struct {
    const char *name;
    void (*pack)(msgpack_packer *pk);
} seeds[] = {
    {"submit", submit},
    {"submit-any-payload", submit_any_payload},
    {"status", status},
    {"ping", ping},
    {"snapshot", snapshot},
    {"register", reg},
    {"ack", ack},
    {"progress", progress},
    {"answer", answer},
    {"refuse", refuse},
    {"heartbeat", heartbeat},
    {"bye", bye},
    {"accepted", accepted},
    {"status-reply", status_reply},
    {"pong", pong},
    {"outcome", outcome},
    {"error", error},
    {"snapshot-reply", snapshot_reply},
    {"registered", registered},
    {"deliver", deliver},
    {"ok", ok},
    {"cancel", cancel},
    {"event", event},
    {"counters", counters},
};

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

int main(int argc, char **argv)
{
    bool check = argc == 3 && strcmp(argv[1], "--check") == 0;
    if (argc != 2 + check) {
        fprintf(stderr, "usage: wire_seeds [--check] DIR\n");
        return 2;
    }
    const char *dir = argv[1 + check];
    int failed = 0;
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        seeds[i].pack(&pk);

        char err[256], path[4096];
        wire_status_t st;
        wire_msg_t *m = wire_parse(sb.data, sb.size, &st, err, sizeof err);
        snprintf(path, sizeof path, "%s/%s.msgpack", dir, seeds[i].name);
        if (!m) {
            fprintf(stderr, "%s: not a valid frame: %s\n", seeds[i].name, err);
            failed = 1;
        } else if ((check ? compare_file : write_file)(path, sb.data, sb.size) < 0) {
            failed = 1;
        }
        wire_msg_destroy(&m);
        msgpack_sbuffer_destroy(&sb);
    }
    return failed;
}
