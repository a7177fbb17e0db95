// SPDX-License-Identifier: MIT
#include "lock.h"

#include <sched.h>
#include <stdbool.h>

void rt_lock_slow(struct rt_lock *l)
{
	/* Spin briefly: critical sections are a few dozen instructions, and a
	 * futex sleep costs microseconds (tens of them across CPUs in a VM). */
	for (int i = 0; i < 100; i++) {
		cpu_relax();
		if (__atomic_load_n(&l->state, __ATOMIC_RELAXED) == 0 && rt_trylock(l))
			return;
	}
	while (__atomic_exchange_n(&l->state, 2, __ATOMIC_ACQUIRE) != 0)
		futex_wait(&l->state, 2, -1);
}
