// SPDX-License-Identifier: MIT
/*
 * WaitGroup, laid out like Go's: one 64-bit word holds the counter (high
 * half) and the number of waiters (low half). The Add that brings the
 * counter to zero is the only one that sees waiters > 0 with counter == 0,
 * and only then does it touch the lock and the list. So a Done that finds no
 * waiter never touches the WaitGroup again, and a waiter that returned may
 * reuse it at once.
 *
 * A waiter first counts itself in the word, then puts itself on the list
 * under the lock. The waker owns every waiter it counted: those on the list
 * it wakes, those not there yet get a credit in sema_, which they take
 * instead of sleeping.
 */
#include <stdint.h>

#include "waiter.h"

static_assert(sizeof(((gort_waitgroup *)0)->lock_) == sizeof(struct rt_lock),
	      "gort_waitgroup.lock_ holds an rt_lock");

#define WG_LOCK(wg) ((struct rt_lock *)&(wg)->lock_)

static void wg_wake_all(gort_waitgroup *wg, uint32_t nwaiters)
{
	struct waiter *list;
	uint32_t listed = 0;

	rt_lock(WG_LOCK(wg));
	/* Subtract what we own, not store 0: an Add racing with the last
	 * Done (a misuse in Go) keeps its count. */
	__atomic_sub_fetch(&wg->state_, nwaiters, __ATOMIC_ACQ_REL);
	list = wg->waiters_;
	wg->waiters_ = NULL;
	for (struct waiter *w = list; w; w = w->next)
		listed++;
	wg->sema_ += nwaiters - listed;
	rt_unlock(WG_LOCK(wg));
	while (list) {
		struct waiter *next = list->next;

		waiter_wake(list);
		list = next;
	}
}

int gort_wg_add(gort_waitgroup *wg, int64_t delta)
{
	uint64_t old = __atomic_load_n(&wg->state_, __ATOMIC_RELAXED), new;
	int64_t counter;
	uint32_t waiters;

	/* A CAS loop, so that a rejected add is never visible to anyone. */
	do {
		counter = (int64_t)(int32_t)(old >> 32) + delta;
		waiters = (uint32_t)old;
		if (counter < 0 || counter > INT32_MAX) {
			set_errmsg("gort_wg_add: %s WaitGroup counter (%lld%+lld)",
				   counter < 0 ? "negative" : "overflowing",
				   (long long)(int32_t)(old >> 32), (long long)delta);
			return GORT_EINVAL;
		}
		new = ((uint64_t)counter << 32) | waiters;
	} while (!__atomic_compare_exchange_n(&wg->state_, &old, new, true, __ATOMIC_ACQ_REL,
					      __ATOMIC_RELAXED));
	if (counter == 0 && waiters > 0 && delta != 0)
		wg_wake_all(wg, waiters);
	return 0;
}

int gort_wg_done(gort_waitgroup *wg)
{
	return gort_wg_add(wg, -1);
}

void gort_wg_wait(gort_waitgroup *wg)
{
	uint64_t old = __atomic_load_n(&wg->state_, __ATOMIC_ACQUIRE);
	struct waiter wt;

	do {
		if ((old >> 32) == 0)
			return;
	} while (!__atomic_compare_exchange_n(&wg->state_, &old, old + 1, true, __ATOMIC_ACQ_REL,
					      __ATOMIC_ACQUIRE));
	rt_lock(WG_LOCK(wg));
	if (wg->sema_ > 0) {
		wg->sema_--;
		rt_unlock(WG_LOCK(wg));
		return;
	}
	waiter_init(&wt);
	wt.next = wg->waiters_;
	wg->waiters_ = &wt;
	waiter_block(&wt, WAIT_WAITGROUP, WG_LOCK(wg));
}
