/* barrage_good: the barrage's good peers, a gateway and two workers of
 * water through the harness, and what the test knows of the requests and
 * deliveries (barrage.h). */
#include "barrage.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

world_t world;

/* Ids mizd hands out in one test stay far below this. */
#define ID_MAX 10000000u

unsigned char *at(bytes_t *t, uint64_t id)
{
    if (id >= ID_MAX)
        it_fail("id %" PRIu64 " is beyond any this test makes", id);
    if (id >= t->n) {
        size_t n = t->n ? t->n : 1024;
        while (n <= id)
            n *= 2;
        t->v = realloc(t->v, n);
        assert_non_null(t->v);
        memset(t->v + t->n, 0, n - t->n);
        t->n = n;
    }
    return &t->v[id];
}

unsigned char peek(const bytes_t *t, uint64_t id)
{
    return id < t->n ? t->v[id] : 0;
}

void good_text(char *buf, size_t len, unsigned worker, uint64_t delivery)
{
    snprintf(buf, len, "good-water-%u answers delivery %" PRIu64 " (%016" PRIx64 ")", worker,
             delivery, world.nonce);
}

/* The good workers' side: ack, then answer with a text only they can
 * write; a delivery offered again (the contract's at-least-once) is
 * answered again. True if anything came. */
bool serve(good_worker_t *gw, bool *dropped)
{
    bool any = false;
    miz_msg_t *m;
    while ((m = it_next(gw->p, 0))) {
        any = true;
        const msgpack_object *root = IT_ROOT(m);
        if (miz_msg_is(m, miz_message_names[MIZ_MSG_DELIVER])) {
            uint64_t id = it_uint(root, "delivery"), tracking = it_uint(root, "tracking");
            it_str_eq(root, "agency", "water");
            it_str_eq(root, "role", miz_role_names[MIZ_ROLE_TARGET]);
            gw->delivers++;
            if (it_uint(root, "attempt") > 1) {
                gw->redelivers++;
                *dropped = true;
            }
            if (peek(&world.owner, tracking) == OWN_GOOD || below(4) == 0)
                remember(world.seen.deliveries, &world.seen.n_deliveries, id);
            char text[160];
            *at(&world.holder, id) = (unsigned char)gw->index;
            good_text(text, sizeof text, gw->index, id);
            miz_worker_t *w = it_miz_worker(gw->p);
            if (miz_worker_ack(w, id) < 0 || miz_worker_answer(w, id, "done", text) < 0)
                it_fail("good-water-%u: cannot send: %s", gw->index, zmq_strerror(errno));
            gw->commands += 2;
        } else if (miz_msg_is(m, miz_message_names[MIZ_MSG_OK])) {
            gw->oks++;
        } else if (miz_msg_is(m, miz_message_names[MIZ_MSG_ERROR])) {
            /* only after this worker was dropped and its deliveries went
             * elsewhere; anything else is a failure */
            size_t n;
            const char *code = miz_msg_str(m, "code", &n);
            int e = code ? miz_name_find(miz_error_names, MIZ_ERR_COUNT, code, n) : -1;
            if (!*dropped || (e != MIZ_ERR_NOT_HELD && e != MIZ_ERR_UNKNOWN_DELIVERY))
                it_fail("good-water-%u: error %.*s", gw->index, code ? (int)n : 1,
                        code ? code : "?");
            gw->errors++;
        } else {
            it_fail("good-water-%u: unexpected \"%s\"", gw->index, miz_msg_type(m));
        }
        miz_msg_destroy(&m);
    }
    return any;
}

void good_submit(good_gateway_t *g, size_t i)
{
    char ref[32], text[64];
    snprintf(ref, sizeof ref, "good-%016" PRIx64, g->req[i].token);
    snprintf(text, sizeof text, "%s %zu", mg_persian, i);
    g->seq_of[i] = it_submit_send(g->p, &(miz_submit_t){.topic = "utility.water.cut",
                                                         .client_ref = ref,
                                                         .text = text});
    g->req[i].pending = true;
    g->in_flight++;
}

static size_t good_find(const good_gateway_t *g, uint64_t seq)
{
    /* requests are answered about in order: look back from the newest */
    for (size_t i = g->next; i-- > 0;)
        if (g->req[i].pending && g->seq_of[i] == seq)
            return i;
    return SIZE_MAX;
}

bool good_read(good_gateway_t *g)
{
    bool any = false;
    miz_msg_t *m;
    while ((m = it_next(g->p, 0))) {
        any = true;
        const msgpack_object *root = IT_ROOT(m);
        if (miz_msg_is(m, miz_message_names[MIZ_MSG_OUTCOME])) {
            uint64_t t = it_uint(root, "tracking");
            size_t i = 0;
            while (i < g->next && g->req[i].tracking != t)
                i++;
            if (i == g->next || g->req[i].outcome)
                it_fail("good gateway: an outcome of tracking %" PRIu64
                        " it did not submit, or a second one",
                        t);
            const msgpack_object *ans = it_array(root, "answers", 1)->via.array.ptr;
            uint64_t id = it_uint(ans, "delivery");
            char text[160];
            unsigned holder = peek(&world.holder, id);
            if (!holder)
                it_fail("tracking %" PRIu64 ": answered by delivery %" PRIu64
                        ", which no good worker answered",
                        t, id);
            good_text(text, sizeof text, holder, id);
            it_answer_is(ans, "water", "water", id, "done");
            it_str_eq(ans, "text", text);
            g->req[i].outcome = true;
            g->req[i].delivery = id;
            g->outcomes++;
        } else {
            uint64_t re;
            size_t i = miz_msg_uint(m, "re", &re) == 0 ? good_find(g, re) : SIZE_MAX;
            if (i == SIZE_MAX)
                it_fail("good gateway: \"%s\" that answers none of its submissions",
                        miz_msg_type(m));
            g->req[i].pending = false;
            g->in_flight--;
            if (miz_msg_is(m, miz_message_names[MIZ_MSG_ACCEPTED])) {
                uint64_t t = it_uint(root, "tracking");
                /* busy created nothing, so no accepted is a duplicate */
                if (miz_msg_get(m, "duplicate"))
                    it_fail("good gateway: tracking %" PRIu64 " accepted as a duplicate", t);
                if (g->req[i].accepted) {
                    it_fail("good gateway: a second accepted for one submission");
                } else {
                    if (peek(&world.owner, t) != OWN_NONE)
                        it_fail("good gateway: tracking %" PRIu64 " given twice", t);
                    *at(&world.owner, t) = OWN_GOOD;
                    g->req[i].tracking = t;
                    g->req[i].accepted = true;
                    g->accepted++;
                    remember(world.seen.trackings, &world.seen.n_trackings, t);
                    remember(world.seen.tokens, &world.seen.n_tokens, g->req[i].token);
                    if (t > world.seen.max_tracking)
                        world.seen.max_tracking = t;
                }
            } else {
                /* busy is the contract's answer to a burst: submit again
                 * after its hint, with the same client_ref */
                it_check_error(m, miz_error_names[MIZ_ERR_BUSY]);
                g->req[i].resend_at = it_now_ms() + it_uint(root, "retry_after_ms");
                g->busy++;
            }
        }
        miz_msg_destroy(&m);
    }
    return any;
}
