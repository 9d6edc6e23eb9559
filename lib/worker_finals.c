/* worker_finals: a worker's answers and refusals kept until the broker
 * confirms them, and the tracking numbers of its offers (worker_finals.h).
 * Both lists are as long as what the worker holds (its credit): a linear
 * search is cheaper than a map of that size. */
#include "worker_finals.h"

#include <stdlib.h>
#include <string.h>

#define HELD_MAX 65536 /* past it, one offer's number is forgotten for each new one */

/* v with room for one more of its n items of size bytes (moved, maybe);
 * NULL out of memory, v left as it was. */
static void *finals_room(void *v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return v;
    size_t more = *cap ? 2 * *cap : 16;
    void *p = realloc(v, more * size);
    if (p)
        *cap = more;
    return p;
}

static void held_remove(finals_t *f, size_t i)
{
    f->held[i] = f->held[--f->n_held];
}

void finals_offered(finals_t *f, uint64_t delivery, uint64_t tracking)
{
    for (size_t i = 0; i < f->n_held; i++)
        if (f->held[i].delivery == delivery) {
            f->held[i].tracking = tracking;
            return;
        }
    if (f->n_held == HELD_MAX)
        held_remove(f, 0);
    struct held *h = finals_room(f->held, &f->cap_held, f->n_held, sizeof *h);
    if (!h)
        return; /* its answer goes without its tracking number */
    f->held = h;
    f->held[f->n_held++] = (struct held){delivery, tracking};
}

uint64_t finals_tracking(const finals_t *f, uint64_t delivery)
{
    for (size_t i = 0; i < f->n_held; i++)
        if (f->held[i].delivery == delivery)
            return f->held[i].tracking;
    return 0;
}

static void final_free(final_t *x)
{
    free(x->a);
    free(x->b);
}

static void finals_remove(finals_t *f, size_t i)
{
    final_free(&f->v[i]);
    f->v[i] = f->v[--f->n];
}

int finals_add(finals_t *f, miz_command_t cmd, uint64_t delivery, uint64_t seq, const char *a,
               const char *b)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->v[i].delivery == delivery) /* sent again: the latest stands */
            finals_remove(f, i--);
    final_t *v = finals_room(f->v, &f->cap, f->n, sizeof *v);
    if (!v)
        return -1;
    f->v = v;
    final_t x = {delivery, finals_tracking(f, delivery), seq, cmd, a ? strdup(a) : NULL,
                 b ? strdup(b) : NULL, false};
    if ((a && !x.a) || (b && !x.b)) {
        final_free(&x);
        return -1;
    }
    f->v[f->n++] = x;
    return 0;
}

bool finals_settled(finals_t *f, uint64_t seq)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->v[i].seq == seq) {
            bool resent = f->v[i].resent;
            finals_forget(f, f->v[i].delivery);
            return resent;
        }
    return false;
}

void finals_forget(finals_t *f, uint64_t delivery)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->v[i].delivery == delivery)
            finals_remove(f, i--);
    for (size_t i = 0; i < f->n_held; i++)
        if (f->held[i].delivery == delivery)
            held_remove(f, i--);
}

void finals_fini(finals_t *f)
{
    for (size_t i = 0; i < f->n; i++)
        final_free(&f->v[i]);
    free(f->v);
    free(f->held);
    memset(f, 0, sizeof *f);
}
