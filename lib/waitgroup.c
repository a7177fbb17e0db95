// SPDX-License-Identifier: MIT
/*
 * WaitGroup. The counter is updated without the lock; the lock orders the
 * waiters' "counter is non-zero, enqueue" against the waker's "counter hit
 * zero, take the list", so no wakeup is lost: a waiter that enqueued before
 * the waker took the lock is woken, one that came after sees zero.
 */
#include "waiter.h"

static_assert(sizeof(((gort_waitgroup *)0)->lock_) == sizeof(struct rt_lock),
	      "gort_waitgroup.lock_ holds an rt_lock");

#define WG_LOCK(wg) ((struct rt_lock *)&(wg)->lock_)

int gort_wg_add(gort_waitgroup *wg, int64_t delta)
{
	int64_t old = __atomic_load_n(&wg->count_, __ATOMIC_RELAXED), v;
	struct waiter *list;

	/* A CAS loop, so that a rejected add is never visible to anyone. */
	do {
		v = old + delta;
		if (v < 0) {
			set_errmsg("gort_wg_add: negative WaitGroup counter (%lld%+lld)",
				   (long long)old, (long long)delta);
			return GORT_EINVAL;
		}
	} while (!__atomic_compare_exchange_n(&wg->count_, &old, v, true, __ATOMIC_ACQ_REL,
					      __ATOMIC_RELAXED));
	if (v != 0 || delta == 0)
		return 0;
	rt_lock(WG_LOCK(wg));
	list = wg->waiters_;
	wg->waiters_ = NULL;
	rt_unlock(WG_LOCK(wg));
	while (list) {
		struct waiter *next = list->next;

		waiter_wake(list);
		list = next;
	}
	return 0;
}

int gort_wg_done(gort_waitgroup *wg)
{
	return gort_wg_add(wg, -1);
}

void gort_wg_wait(gort_waitgroup *wg)
{
	struct waiter wt;

	if (__atomic_load_n(&wg->count_, __ATOMIC_ACQUIRE) == 0)
		return;
	waiter_init(&wt);
	rt_lock(WG_LOCK(wg));
	if (__atomic_load_n(&wg->count_, __ATOMIC_ACQUIRE) == 0) {
		rt_unlock(WG_LOCK(wg));
		return;
	}
	wt.next = wg->waiters_;
	wg->waiters_ = &wt;
	waiter_block(&wt, WAIT_WAITGROUP, WG_LOCK(wg));
}
