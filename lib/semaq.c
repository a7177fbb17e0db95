// SPDX-License-Identifier: MIT
#include "semaq.h"

#include "probes.h"

static_assert(sizeof(((struct gort_semaq_ *)0)->lock_) == sizeof(struct rt_lock),
	      "gort_semaq_.lock_ holds an rt_lock");

#define SEMAQ_LOCK(q) ((struct rt_lock *)&(q)->lock_)

bool semaq_tryacquire(struct gort_semaq_ *q)
{
	uint32_t c = __atomic_load_n(&q->count_, __ATOMIC_RELAXED);

	while (c > 0)
		if (__atomic_compare_exchange_n(&q->count_, &c, c - 1, true, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return true;
	return false;
}

void semaq_acquire(struct gort_semaq_ *q, bool lifo, enum wait_reason reason, const void *obj,
		   enum contend_kind kind)
{
	struct waiter wt;

	if (semaq_tryacquire(q))
		return;
	rt_lock(SEMAQ_LOCK(q));
	/* count_ only grows under the lock: this re-check closes the window
	 * between the failed try and queueing. */
	if (semaq_tryacquire(q)) {
		rt_unlock(SEMAQ_LOCK(q));
		return;
	}
	waiter_init(&wt);
	if (!q->head_) {
		q->head_ = q->tail_ = &wt;
	} else if (lifo) {
		wt.next = q->head_;
		q->head_ = &wt;
	} else {
		((struct waiter *)q->tail_)->next = &wt;
		q->tail_ = &wt;
	}
	GORT_PROBE3(mutex__contend, (uintptr_t)obj, (int)kind, wt.g ? wt.g->id : 0);
	waiter_block(&wt, reason, SEMAQ_LOCK(q));
	/* The releaser dequeued us and gave us its wakeup. */
}

uint32_t semaq_release(struct gort_semaq_ *q, uint32_t n)
{
	struct waiter *woken = NULL, **tailp = &woken;
	uint32_t nwoken = 0;

	rt_lock(SEMAQ_LOCK(q));
	while (nwoken < n && q->head_) {
		struct waiter *wt = q->head_;

		q->head_ = wt->next;
		*tailp = wt;
		tailp = &wt->next;
		nwoken++;
	}
	if (!q->head_)
		q->tail_ = NULL;
	*tailp = NULL;
	if (nwoken < n)
		__atomic_add_fetch(&q->count_, n - nwoken, __ATOMIC_RELEASE);
	rt_unlock(SEMAQ_LOCK(q));
	/* A waiter stays blocked, and so its entry valid, until woken. */
	while (woken) {
		struct waiter *next = woken->next;

		waiter_wake(woken);
		woken = next;
	}
	return nwoken;
}
