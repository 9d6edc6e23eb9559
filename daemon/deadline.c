/* deadline: one binary min-heap of every deadline (deadline.h says why).
 *
 * Each timer knows its slot in the heap, so arming, moving and disarming
 * one is O(log n) and the broker needs a single libevent timer for the
 * earliest of them. */
#include "deadline.h"

#include <stdint.h>
#include <stdlib.h>

/* The due time is copied beside the pointer so that sifting compares within
 * the array instead of chasing a pointer per child: with a million timers
 * that cache miss per level is most of the cost of a pop. */
struct entry {
    uint64_t due;
    dl_timer_t *timer;
};

struct dl_heap {
    struct entry *items;
    size_t len;
    size_t cap;
};

#define INITIAL_CAP 64

dl_heap_t *dl_heap_new(void)
{
    return calloc(1, sizeof(dl_heap_t));
}

/* Armed timers are left untouched: their owners may already be gone. */
void dl_heap_destroy(dl_heap_t **heap)
{
    if (!heap || !*heap)
        return;
    free((*heap)->items);
    free(*heap);
    *heap = NULL;
}

void dl_timer_init(dl_timer_t *t)
{
    t->slot = DL_UNARMED;
}

bool dl_timer_armed(const dl_timer_t *t)
{
    return t->slot != DL_UNARMED;
}

static void place(dl_heap_t *heap, size_t i, struct entry e)
{
    heap->items[i] = e;
    e.timer->slot = (uint32_t)i; /* the heap never holds UINT32_MAX timers: memory ends first */
}

/* Both sifts move a hole instead of swapping, writing e once at the end. */
static void sift_up(dl_heap_t *heap, size_t i, struct entry e)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (heap->items[parent].due <= e.due)
            break;
        place(heap, i, heap->items[parent]);
        i = parent;
    }
    place(heap, i, e);
}

static void sift_down(dl_heap_t *heap, size_t i, struct entry e)
{
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= heap->len)
            break;
        if (child + 1 < heap->len && heap->items[child + 1].due < heap->items[child].due)
            child++;
        if (e.due <= heap->items[child].due)
            break;
        place(heap, i, heap->items[child]);
        i = child;
    }
    place(heap, i, e);
}

/* Puts e at slot i, moving it whichever way its due requires. */
static void resettle(dl_heap_t *heap, size_t i, struct entry e)
{
    if (i > 0 && e.due < heap->items[(i - 1) / 2].due)
        sift_up(heap, i, e);
    else
        sift_down(heap, i, e);
}

static int grow(dl_heap_t *heap)
{
    if (heap->cap > SIZE_MAX / 2 / sizeof *heap->items)
        return -1;
    size_t cap = heap->cap ? 2 * heap->cap : INITIAL_CAP;
    struct entry *items = realloc(heap->items, cap * sizeof *items);
    if (!items)
        return -1;
    heap->items = items;
    heap->cap = cap;
    return 0;
}

int dl_heap_arm(dl_heap_t *heap, dl_timer_t *t, uint64_t due)
{
    bool armed = dl_timer_armed(t);
    if (!armed && heap->len == heap->cap && grow(heap) < 0)
        return -1;
    struct entry e = {due, t};
    if (armed)
        resettle(heap, t->slot, e);
    else
        sift_up(heap, heap->len++, e);
    return 0;
}

static void remove_at(dl_heap_t *heap, size_t i)
{
    dl_timer_t *t = heap->items[i].timer;
    struct entry last = heap->items[--heap->len];
    if (last.timer != t)
        resettle(heap, i, last);
    t->slot = DL_UNARMED;
}

void dl_heap_disarm(dl_heap_t *heap, dl_timer_t *t)
{
    if (dl_timer_armed(t))
        remove_at(heap, t->slot);
}

dl_timer_t *dl_heap_pop_due(dl_heap_t *heap, uint64_t now)
{
    if (heap->len == 0 || heap->items[0].due > now)
        return NULL;
    dl_timer_t *t = heap->items[0].timer;
    remove_at(heap, 0);
    return t;
}

bool dl_heap_next(const dl_heap_t *heap, uint64_t *due)
{
    if (heap->len == 0)
        return false;
    *due = heap->items[0].due;
    return true;
}

size_t dl_heap_size(const dl_heap_t *heap)
{
    return heap->len;
}
