/* deadline: one min-heap for every deadline the broker keeps.
 *
 * Up to a million open deliveries each carry an ack and an answer deadline;
 * one libevent event per deadline would cost memory and syscalls, so the
 * broker drives this heap from a single timer. Timers are embedded in their
 * owners and remember their heap slot, so disarming is O(log n). Times are
 * milliseconds on the caller's (monotonic) clock. */
#ifndef MIZ_DEADLINE_H
#define MIZ_DEADLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 8 bytes: when it is due is only in the heap's entry, beside the pointer
 * to it (a sift compares dues without touching the timers), so the two
 * timers of each of a million open deliveries cost 16 bytes, not 32. */
typedef struct dl_timer {
    uint32_t slot; /* position in the heap; DL_UNARMED when not in it */
    uint32_t tag;  /* the owner's, which the heap never touches: which timer of its owner */
} dl_timer_t;

#define DL_UNARMED UINT32_MAX

typedef struct dl_heap dl_heap_t;

dl_heap_t *dl_heap_new(void);
void dl_heap_destroy(dl_heap_t **heap);

void dl_timer_init(dl_timer_t *t);
bool dl_timer_armed(const dl_timer_t *t);

/* Arms t at due, or moves it there if already armed. -1 on out of memory. */
int dl_heap_arm(dl_heap_t *heap, dl_timer_t *t, uint64_t due);
/* Removes t if armed; a no-op otherwise. */
void dl_heap_disarm(dl_heap_t *heap, dl_timer_t *t);
/* The earliest timer with due <= now, removed from the heap; NULL if none.
 * Ties come out in an unspecified order. */
dl_timer_t *dl_heap_pop_due(dl_heap_t *heap, uint64_t now);
/* The earliest due time; false when the heap is empty. */
bool dl_heap_next(const dl_heap_t *heap, uint64_t *due);
size_t dl_heap_size(const dl_heap_t *heap);

#endif
