/* SPDX-License-Identifier: MIT */
/*
 * The runtime's internal mutex (Go's lock/unlock): a futex word with three
 * states (Drepper's "Futexes are tricky", mutex 3). It blocks the OS thread,
 * so it guards only short critical sections. It may be released on another
 * goroutine's stack than the one that took it, but always by the same thread
 * (the after-switch unlock of a park runs on the parking worker).
 */
#ifndef GORT_LOCK_H
#define GORT_LOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "futex.h"

struct rt_lock {
	uint32_t state; /* 0 free, 1 locked, 2 locked with waiters */
};

#define RT_LOCK_INIT \
	{            \
		0    \
	}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield" ::: "memory");
#endif
}

void rt_lock_slow(struct rt_lock *l);

static inline void rt_lock(struct rt_lock *l)
{
	uint32_t zero = 0;

	if (__atomic_compare_exchange_n(&l->state, &zero, 1, false, __ATOMIC_ACQUIRE,
					__ATOMIC_RELAXED))
		return;
	rt_lock_slow(l);
}

static inline int rt_trylock(struct rt_lock *l)
{
	uint32_t zero = 0;

	return __atomic_compare_exchange_n(&l->state, &zero, 1, false, __ATOMIC_ACQUIRE,
					   __ATOMIC_RELAXED);
}

static inline void rt_unlock(struct rt_lock *l)
{
	if (__atomic_exchange_n(&l->state, 0, __ATOMIC_RELEASE) == 2)
		futex_wake(&l->state, 1);
}

/* Adapter for goroutine_park()'s unlock callback. */
static inline void rt_unlock_cb(void *l)
{
	rt_unlock(l);
}

#endif
