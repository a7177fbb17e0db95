// SPDX-License-Identifier: MIT
#include "waiter.h"

#include "futex.h"

void waiter_block(struct waiter *wt, enum wait_reason reason, struct rt_lock *lock)
{
	waiter_block_fn(wt, reason, rt_unlock_cb, lock);
}

void waiter_block_fn(struct waiter *wt, enum wait_reason reason, void (*unlock)(void *), void *arg)
{
	if (wt->g) {
		goroutine_park(reason, unlock, arg);
		return;
	}
	unlock(arg);
	while (__atomic_load_n(&wt->done, __ATOMIC_ACQUIRE) == 0)
		futex_wait(&wt->done, 0, -1);
}

void waiter_wake(struct waiter *wt)
{
	struct goroutine *g = wt->g;

	if (g) {
		goroutine_ready(g);
		return;
	}
	/* The sleeper may return and drop wt as soon as done is set; a wake on
	 * the dead address is harmless (futex sleepers re-check). */
	__atomic_store_n(&wt->done, 1, __ATOMIC_RELEASE);
	futex_wake(&wt->done, 1);
}
