/* SPDX-License-Identifier: MIT */
/*
 * Telling ASan, TSan and valgrind about goroutine stacks. Every switch goes
 * through sanitizer_start_switch() (before) and sanitizer_finish_switch()
 * (after, in the new context); without sanitizers both compile to nothing.
 */
#ifndef GORT_SANITIZER_H
#define GORT_SANITIZER_H

#include "runtime.h"

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#define GORT_ASAN 1
#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>
#endif
#if defined(__SANITIZE_THREAD__) || __has_feature(thread_sanitizer)
#define GORT_TSAN 1
#include <sanitizer/tsan_interface.h>
#endif

void sanitizer_worker_init(struct worker *w);
void sanitizer_goroutine_init(struct goroutine *g);
/* A dead goroutine's stack is cached for reuse: drop its ASan poisoning (its
 * frames never returned) and its TSan fiber (whose shadow stack still holds
 * them). */
void sanitizer_goroutine_exit(struct goroutine *g);

/*
 * Happens-before edges TSan cannot see: liburcu's wfcqueue is not
 * instrumented, so publishing a goroutine through the global queue is
 * annotated by hand.
 */
static inline void sanitizer_release(void *addr)
{
#ifdef GORT_TSAN
	__tsan_release(addr);
#endif
	(void)addr;
}

static inline void sanitizer_acquire(void *addr)
{
#ifdef GORT_TSAN
	__tsan_acquire(addr);
#endif
	(void)addr;
}

static inline void sanitizer_start_switch(struct worker *w, struct goroutine *from,
					  struct goroutine *to)
{
#ifdef GORT_ASAN
	void **fake = from ? &from->asan_fake_stack : &w->asan_fake_stack;
	const void *bottom = to ? (const void *)to->stack.lo : w->g0_lo;
	size_t size = to ? (size_t)(to->stack.hi - to->stack.lo) : w->g0_size;

	/* A dead goroutine's fake frames die with it: pass NULL. */
	if (from && __atomic_load_n(&from->status, __ATOMIC_RELAXED) == G_DEAD)
		fake = NULL;
	__sanitizer_start_switch_fiber(fake, bottom, size);
#endif
#ifdef GORT_TSAN
	__tsan_switch_to_fiber(to ? to->tsan_fiber : w->tsan_fiber, 0);
#endif
	(void)w;
	(void)from;
	(void)to;
}

static inline void sanitizer_finish_switch(struct worker *w, struct goroutine *cur)
{
#ifdef GORT_ASAN
	__sanitizer_finish_switch_fiber(cur ? cur->asan_fake_stack : w->asan_fake_stack, NULL,
					NULL);
#endif
	(void)w;
	(void)cur;
}

#endif
