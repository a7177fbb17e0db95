/* SPDX-License-Identifier: MIT */
/*
 * Goroutine stacks: reserved with mmap, committed lazily by the kernel as they
 * are touched, with a guard below the usable range. The guard is, in order of
 * preference: MADV_GUARD_INSTALL (Linux 6.13+: no extra VMA), an mprotect'ed
 * page while the VMA budget (vm.max_map_count) allows, else a canary checked
 * at every switch.
 */
#ifndef GORT_STACK_H
#define GORT_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STACK_DEFAULT (256 * 1024)
#define STACK_MIN (16 * 1024)
#define STACK_MAX ((size_t)1 << 30)
#define STACK_CANARY 0x9e3779b97f4a7c15ULL

enum guard_mode {
	GUARD_MADVISE = 0,
	GUARD_MPROTECT = 1,
	GUARD_CANARY = 2,
};

struct stack {
	char *map; /* start of the mapping (the guard is at its bottom) */
	size_t map_size;
	char *lo;	      /* lowest usable byte */
	char *hi;	      /* one past the highest usable byte */
	uint8_t guard;	      /* enum guard_mode of this stack */
	unsigned valgrind_id; /* VALGRIND_STACK_REGISTER id */
};

/*
 * Fresh stacks carved from a per-proc reservation of STACK_RESERVE_BYTES (at
 * most STACK_RESERVE_MAX slots). A reservation is rare on purpose: mmap takes
 * mmap_lock for writing and write-locks the neighbouring stack VMA it merges
 * with, so every worker faulting in a new goroutine's first stack page waits
 * (asleep) until it is done. Guards go in STACK_GUARD_RUN slots at a time as
 * the slots are handed out, since installing one allocates the page table of
 * its 2 MiB, which an unused part of a reservation should not cost.
 */
#define STACK_RESERVE_BYTES ((size_t)256 << 20)
#define STACK_RESERVE_MAX 1024
#define STACK_GUARD_RUN 64
struct stack_batch {
	char *next;	   /* next unused slot */
	char *guarded_end; /* slots below this have their guard installed */
	int left;	   /* slots left */
	size_t size;	   /* usable size of each slot */
};

void stack_init(void);
int stack_alloc(struct stack *s, size_t size);
/* Like stack_alloc, but carves the stack from b (per proc); a spawn with
 * another size than the last gives back the rest of b's reservation. */
int stack_alloc_batched(struct stack_batch *b, struct stack *s, size_t size);
void stack_free(struct stack *s);
/* Gives back the pages of a cached stack that a deep run left committed. */
void stack_trim(struct stack *s, void *lowest_sp_seen);
enum guard_mode stack_guard_mode(void);
/* True when addr lies in the guard region of s. */
bool stack_in_guard(const struct stack *s, const void *addr);

/* Not instrumented: an overflowing frame's ASan redzone may cover the canary,
 * and the overflow is what we want to report. */
__attribute__((no_sanitize_address)) static inline bool stack_canary_ok(const struct stack *s)
{
	return s->guard != GUARD_CANARY || *(const volatile uint64_t *)s->lo == STACK_CANARY;
}

#endif
