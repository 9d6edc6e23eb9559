/* msggen: the protocol's commands, valid and mutated (msggen.h). */
#include "msggen.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "wire.h"

/* ---- randomness: splitmix64, so a seed replays what is generated ---- */

static uint64_t rng;

void mg_seed(uint64_t seed)
{
    rng = seed;
    memset(big_text, 'x', sizeof big_text);
}

uint64_t rnd(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

size_t below(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

size_t pick(const unsigned *w, size_t n)
{
    unsigned total = 0;
    for (size_t i = 0; i < n; i++)
        total += w[i];
    size_t r = below(total);
    for (size_t i = 0; i < n; i++) {
        if (r < w[i])
            return i;
        r -= w[i];
    }
    return n - 1;
}

void remember(uint64_t *ring, size_t *n, uint64_t v)
{
    ring[*n % MG_RING] = v;
    (*n)++;
}

uint64_t recall(const uint64_t *ring, size_t n)
{
    return n ? ring[below(n < MG_RING ? n : MG_RING)] : 1 + below(8);
}

/* ---- message templates ---- */

const char *const t_names[N_T] = {
    "submit",      "submit-ref",     "submit-good-ref", "submit-no-route", "submit-big",
    "status-good", "status-any",     "snapshot",        "snapshot-all",    "ping",
    "reg-water",   "reg-power",      "reg-other",       "reg-safe",        "ack",
    "answer",      "progress",       "refuse",          "heartbeat",       "bye",
    "version",     "long-type",      "unknown-type",    "worker-cmd",      "client-cmd",
};

const char mg_persian[] = "برف خیابان فردوسی را بسته است";
char big_text[MG_MAX_MESSAGE];

#define CMD(id) (miz_commands[MIZ_CMD_##id].type)
#define FIELD(cmd, id) (miz_fields[MIZ_F_##cmd##_##id].key)

static void put(tmsg_t *m, const char *key, vkind_t kind, const char *s, uint64_t u)
{
    m->f[m->n++] = (fld_t){key, kind, s, s ? strlen(s) : 0, u};
}

/* A type one byte over MIZ_TYPE_MAX and more: submit, repeated. */
static const char long_type[] = "submit-submit-submit-submit-submit";
_Static_assert(sizeof long_type - 1 > MIZ_TYPE_MAX, "the long type is not too long");

/* Strings the templates point to: one message is built at a time. */
static char tbuf[160];

void build(tmsg_t *m, tkind_t t, uint64_t seq, const mg_targets_t *w)
{
    static const char *const topics[] = {"utility.water.cut", "utility.water.leak",
                                         "utility.water.bill"};
    /* none a few bit flips make "water", for which the water key may register */
    static const char *const others[] = {"governorate", "fire", "waterworks", "", "inspection"};
    *m = (tmsg_t){.n = 0};
    const char *type = NULL;
    switch (t) {
    case T_SUBMIT: case T_SUBMIT_REF: case T_SUBMIT_GOOD_REF: case T_SUBMIT_NO_ROUTE:
    case T_SUBMIT_BIG: case T_CLIENT_CMD:
        if (t == T_CLIENT_CMD && below(2)) {
            type = CMD(PING);
            break;
        }
        type = CMD(SUBMIT);
        put(m, FIELD(SUBMIT, TOPIC), V_STR,
            t == T_SUBMIT_NO_ROUTE ? "utility.gas.leak" : topics[below(3)], 0);
        if (below(3) == 0)
            put(m, FIELD(SUBMIT, KIND), V_STR, below(2) ? "complaint" : "request", 0);
        if (below(4) == 0)
            put(m, FIELD(SUBMIT, PRIORITY), V_STR,
                miz_priority_names[below(2) ? MIZ_PRIO_URGENT : MIZ_PRIO_ROUTINE], 0);
        if (t == T_SUBMIT_REF) {
            snprintf(tbuf, sizeof tbuf, "rogue-%zu", below(500));
            put(m, FIELD(SUBMIT, CLIENT_REF), V_STR, tbuf, 0);
        } else if (t == T_SUBMIT_GOOD_REF && w->n_tokens) {
            /* only the refs of requests already made: a ref taken first
             * would make the good gateway's submission a duplicate of this */
            snprintf(tbuf, sizeof tbuf, "good-%016" PRIx64, recall(w->tokens, w->n_tokens));
            put(m, FIELD(SUBMIT, CLIENT_REF), V_STR, tbuf, 0);
        }
        put(m, FIELD(SUBMIT, PAYLOAD), V_PAYLOAD, mg_persian, seq);
        if (t == T_SUBMIT_BIG) {
            /* under the limit, just over, well over, near max_message */
            static const size_t sizes[] = {MIZ_PAYLOAD_MAX - 5536, MIZ_PAYLOAD_MAX + 64,
                                           MIZ_PAYLOAD_MAX + 4464, MG_MAX_MESSAGE - 4096};
            m->f[m->n - 1].s = big_text;
            m->f[m->n - 1].len = sizes[below(4)];
        }
        break;
    case T_STATUS_GOOD: case T_STATUS_ANY:
        type = CMD(STATUS);
        put(m, FIELD(STATUS, TRACKING), V_UINT, NULL,
            t == T_STATUS_GOOD ? recall(w->trackings, w->n_trackings)
            : below(4)         ? 1 + below(w->max_tracking + 16)
                               : rnd());
        break;
    case T_SNAPSHOT:
        /* all ones: no bit flip brings it into the past */
        type = CMD(SNAPSHOT);
        put(m, FIELD(SNAPSHOT, SINCE), V_UINT, NULL, UINT64_MAX);
        break;
    case T_SNAPSHOT_ALL:
        type = CMD(SNAPSHOT);
        break;
    case T_PING:
        type = CMD(PING);
        break;
    case T_REG_WATER: case T_REG_POWER: case T_REG_OTHER: case T_REG_SAFE: case T_WORKER_CMD:
        if (t == T_WORKER_CMD && below(2)) {
            type = CMD(ACK);
            put(m, FIELD(ACK, DELIVERY), V_UINT, NULL, recall(w->deliveries, w->n_deliveries));
            break;
        }
        type = CMD(REGISTER);
        put(m, FIELD(REGISTER, AGENCY), V_STR,
            t == T_REG_WATER || t == T_REG_SAFE || t == T_WORKER_CMD ? "water"
            : t == T_REG_POWER                                       ? "power"
                                                                     : others[below(5)],
            0);
        if (t == T_REG_SAFE) {
            /* no route has this topic: a registration that can never be
             * offered anything, from which every delivery is someone else's */
            put(m, FIELD(REGISTER, TOPICS), V_TOPICS, "none.such", 0);
            put(m, FIELD(REGISTER, CREDIT), V_UINT, NULL, 1);
            put(m, FIELD(REGISTER, NAME), V_STR, "rogue-water", 0);
            break;
        }
        if (below(2)) /* within the limit mostly, up to twice it */
            put(m, FIELD(REGISTER, CREDIT), V_UINT, NULL,
                below(4) ? 1 + below(100) : rnd() % (2 * MIZ_CREDIT_MAX));
        if (below(3) == 0)
            put(m, FIELD(REGISTER, TOPICS), V_TOPICS,
                below(2) ? "utility.#" : "utility.*.cut|#|a.b.c", 0);
        if (below(3) == 0) /* a name is not an identity */
            put(m, FIELD(REGISTER, NAME), V_STR, "good-water-1", 0);
        break;
    case T_ACK: case T_ANSWER: case T_PROGRESS: case T_REFUSE:
        type = t == T_ACK ? CMD(ACK) : t == T_ANSWER ? CMD(ANSWER) : t == T_PROGRESS ? CMD(PROGRESS)
                                                                                     : CMD(REFUSE);
        /* the delivery is the first field of each */
        put(m, FIELD(ACK, DELIVERY), V_UINT, NULL,
            below(8) ? recall(w->deliveries, w->n_deliveries) : rnd() % 100000);
        if (t == T_ANSWER) {
            put(m, FIELD(ANSWER, OUTCOME), V_STR, "done", 0);
            put(m, FIELD(ANSWER, TEXT), V_STR, "rogue answer", 0);
        } else if (t == T_PROGRESS) {
            put(m, FIELD(PROGRESS, NOTE), V_STR, "rogue note", 0);
        } else if (t == T_REFUSE && below(2)) {
            put(m, FIELD(REFUSE, REASON), V_STR, "rogue refusal", 0);
        }
        break;
    case T_HEARTBEAT: case T_BYE:
        type = t == T_HEARTBEAT ? CMD(HEARTBEAT) : CMD(BYE);
        m->heartbeat_or_bye = true;
        break;
    case T_VERSION:
        type = below(2) ? CMD(PING) : CMD(HEARTBEAT);
        m->heartbeat_or_bye = true;
        put(m, "v", V_UINT, NULL, MIZ_PROTOCOL_VERSION + 1 + below(1000));
        break;
    case T_LONG_TYPE:
        type = long_type;
        break;
    case T_UNKNOWN_TYPE:
        /* a message of the broker's, and a word of no one's */
        type = below(2) ? miz_message_names[MIZ_MSG_DELIVER] : "shutdown";
        break;
    case N_T:
        break;
    }
    /* type first, then v and seq, as libmiz sends them */
    memmove(&m->f[2], &m->f[0], m->n * sizeof *m->f);
    m->n += 2;
    m->f[0] = (fld_t){"type", V_STR, type, strlen(type), 0};
    m->f[1] = (fld_t){"seq", V_UINT, NULL, 0, seq};
}

/* ---- packing, with one mutation ---- */

const unsigned x_weight[N_X] = {16, 22, 8, 5, 8, 6, 11, 11, 6, 7};
const char *const x_names[N_X] = {"valid", "bit flips", "truncated", "extra frames",
                                         "huge lengths", "deep nesting", "wrong types",
                                         "invalid UTF-8", "bad shapes", "random bytes"};

static void pack_value(msgpack_packer *pk, const fld_t *f)
{
    switch (f->kind) {
    case V_STR:
        wire_pack_str(pk, f->s, f->len);
        break;
    case V_UINT:
        msgpack_pack_uint64(pk, f->u);
        break;
    case V_TOPICS: {
        size_t n = 1;
        for (const char *p = f->s; *p; p++)
            n += *p == '|';
        msgpack_pack_array(pk, n);
        for (const char *p = f->s;; p++) {
            size_t len = strcspn(p, "|");
            wire_pack_str(pk, p, len);
            p += len;
            if (!*p)
                break;
        }
        break;
    }
    case V_PAYLOAD: /* three levels deep, every kind of value a payload may hold */
        msgpack_pack_map(pk, 4);
        wire_pack_cstr(pk, "text");
        wire_pack_str(pk, f->s, f->len);
        wire_pack_cstr(pk, "n");
        msgpack_pack_uint64(pk, f->u);
        wire_pack_cstr(pk, "place");
        msgpack_pack_map(pk, 2);
        wire_pack_cstr(pk, "city");
        wire_pack_cstr(pk, "ایلام");
        wire_pack_cstr(pk, "at");
        msgpack_pack_array(pk, 3);
        msgpack_pack_double(pk, 33.6374);
        msgpack_pack_double(pk, 46.4227);
        msgpack_pack_nil(pk);
        wire_pack_cstr(pk, "photo");
        msgpack_pack_bin(pk, 4);
        msgpack_pack_bin_body(pk, "\xff\xd8\xff\x00", 4);
        break;
    }
}

static void pack_wrong_type(msgpack_packer *pk)
{
    switch (below(13)) {
    case 0: msgpack_pack_nil(pk); break;
    case 1: msgpack_pack_true(pk); break;
    case 2: msgpack_pack_int64(pk, -5); break;
    case 3: msgpack_pack_int64(pk, INT64_MIN); break;
    case 4: msgpack_pack_double(pk, 1.5); break;
    case 5: msgpack_pack_float(pk, -0.0f); break;
    case 6: msgpack_pack_array(pk, 2); msgpack_pack_uint8(pk, 1); wire_pack_cstr(pk, "x"); break;
    case 7: msgpack_pack_map(pk, 1); wire_pack_cstr(pk, "k"); msgpack_pack_uint8(pk, 1); break;
    case 8: msgpack_pack_bin(pk, 3); msgpack_pack_bin_body(pk, "abc", 3); break;
    case 9: msgpack_pack_ext(pk, 2, 7); msgpack_pack_ext_body(pk, "ab", 2); break;
    case 10: wire_pack_cstr(pk, "wrong"); break;
    case 11: msgpack_pack_uint64(pk, UINT64_MAX); break;
    default: msgpack_pack_array(pk, 0); break;
    }
}

static void pack_bad_utf8(msgpack_packer *pk, const char *s, size_t n)
{
    static const char *const bad[] = {
        "\xc0\xaf",         /* overlong '/' */
        "\xe0\x80\xaf",     /* overlong, three bytes */
        "\xed\xa0\x80",     /* a surrogate */
        "\xf4\x90\x80\x80", /* past U+10FFFF */
        "\xff",
        "\x80",             /* a lone continuation byte */
        "\xe2\x82",         /* cut short */
        "\xf8\x88\x80\x80\x80",
    };
    char buf[256];
    size_t keep = n < 200 ? n : 200, pos = below(keep + 1);
    const char *b = below(9) == 0 ? "\0" : bad[below(8)];
    size_t blen = *b ? strlen(b) : 1; /* U+0000 is refused too */
    memcpy(buf, s, pos);
    memcpy(buf + pos, b, blen);
    memcpy(buf + pos + blen, s + pos, keep - pos);
    wire_pack_str(pk, buf, keep + blen);
}

static void pack_deep(msgpack_packer *pk)
{
    size_t depth = below(4) ? 1 + below(12) : 12 + below(5000);
    for (size_t i = 0; i < depth; i++) {
        if (below(2)) {
            msgpack_pack_map(pk, 1);
            wire_pack_cstr(pk, "k");
        } else {
            msgpack_pack_array(pk, 1);
        }
    }
    msgpack_pack_nil(pk);
}

void put_raw(msgpack_sbuffer *sb, const void *p, size_t n)
{
    msgpack_sbuffer_write(sb, p, n);
}

/* A header that announces far more than the frame holds. */
static void pack_huge(msgpack_sbuffer *sb)
{
    static const struct {
        const char *b;
        size_t n;
    } h[] = {
        {"\xdb\xff\xff\xff\xff", 5}, /* str 32 */
        {"\xda\xff\xff", 3},         /* str 16 */
        {"\xd9\xff", 2},             /* str 8 */
        {"\xc6\xff\xff\xff\xff", 5}, /* bin 32 */
        {"\xc9\xff\xff\xff\xff\x01", 6}, /* ext 32 */
        {"\xdd\xff\xff\xff\xff", 5}, /* array 32 */
        {"\xdc\xff\xff", 3},         /* array 16 */
        {"\xdf\xff\xff\xff\xff", 5}, /* map 32 */
        {"\xde\x80\x00", 3},         /* map 16 */
        {"\xdd\x7f\xff\xff\xff", 5},
    };
    size_t i = below(sizeof h / sizeof *h);
    put_raw(sb, h[i].b, h[i].n);
}

void frame_init(frame_t *f)
{
    msgpack_sbuffer_init(&f->sb);
    msgpack_packer_init(&f->pk, &f->sb, msgpack_sbuffer_write);
    f->extra = 0;
}

void frame_destroy(frame_t *f)
{
    msgpack_sbuffer_destroy(&f->sb);
}

/* Packs m with mutation x into f->sb. */
void pack_msg(frame_t *f, const tmsg_t *m, xkind_t x)
{
    msgpack_sbuffer *sb = &f->sb;
    msgpack_packer *pk = &f->pk;
    msgpack_sbuffer_clear(sb);
    f->extra = 0;
    if (x == X_RANDOM) {
        size_t n = below(4) ? below(64) : below(2048);
        unsigned char buf[2048];
        for (size_t i = 0; i < n; i++)
            buf[i] = (unsigned char)rnd();
        if (n && below(3) == 0)
            buf[0] = (unsigned char)(0x80 | below(16)); /* a fixmap: past the first check */
        put_raw(sb, buf, n);
        return;
    }
    size_t target = below(m->n), n = m->n;
    int shape = x == X_SHAPE ? (int)below(8) : -1;
    bool key_utf8 = x == X_UTF8 && below(4) == 0;
    if (x == X_HUGE && below(4) == 0) { /* the top-level map's own count */
        if (below(2))
            put_raw(sb, "\xdf\xff\xff\xff\xff", 5);
        else
            put_raw(sb, "\xde\xff\xff", 3);
    } else if (shape == 0) { /* an array of the values */
        msgpack_pack_array(pk, n);
        for (size_t i = 0; i < n; i++)
            pack_value(pk, &m->f[i]);
        return;
    } else if (shape == 1) { /* a scalar, not a map */
        if (below(2))
            msgpack_pack_nil(pk);
        else
            wire_pack_cstr(pk, "submit");
        return;
    } else {
        /* shape 2: a key twice; 3: one entry more announced than sent (cut
         * short); 4: one fewer (trailing bytes) */
        size_t count = n + (shape == 2) + (shape == 3) - (shape == 4);
        msgpack_pack_map(pk, count);
    }
    for (size_t i = 0; i < n; i++) {
        const fld_t *fl = &m->f[i];
        if (i == target && shape == 5) /* a key that is not a string */
            msgpack_pack_uint8(pk, 7);
        else if (i == target && key_utf8)
            pack_bad_utf8(pk, fl->key, strlen(fl->key));
        else
            wire_pack_cstr(pk, fl->key);
        if (i != target || x == X_VALID || x == X_FLIP || x == X_TRUNC || x == X_FRAMES ||
            key_utf8 || (x == X_SHAPE && shape != 6))
            pack_value(pk, fl);
        else if (x == X_HUGE)
            pack_huge(sb);
        else if (x == X_DEEP)
            pack_deep(pk);
        else if (x == X_TYPE)
            pack_wrong_type(pk);
        else if (x == X_UTF8)
            pack_bad_utf8(pk, fl->kind == V_STR ? fl->s : "abc", fl->kind == V_STR ? fl->len : 3);
        else /* shape 6: the reserved byte as a value */
            put_raw(sb, "\xc1", 1);
        if (i == target && shape == 2) {
            wire_pack_cstr(pk, fl->key);
            pack_value(pk, fl);
        }
    }
    if (shape == 7 || (x == X_HUGE && below(2))) /* bytes after the map */
        put_raw(sb, "\x01\x02", below(2) + 1);
    if (x == X_FLIP && sb->size) {
        for (size_t i = 0, k = 1 + below(8); i < k; i++)
            ((unsigned char *)sb->data)[below(sb->size)] ^= (unsigned char)(1u << below(8));
    } else if (x == X_TRUNC && sb->size) {
        sb->size = below(sb->size);
    } else if (x == X_FRAMES) {
        f->extra = 1 + below(3);
    }
}
