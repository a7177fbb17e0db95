// SPDX-License-Identifier: MIT
/*
 * Cond: Go's sync.Cond on a notify list (runtime/sema.go's notifyList).
 *
 * A waiter takes a ticket (wait_++) while it still holds the mutex, then
 * unlocks it and queues with its ticket. notify_ is the next ticket to
 * notify: signal notifies ticket notify_ and wakes its waiter if queued,
 * broadcast notifies every ticket handed out. A waiter whose ticket is
 * notified before it queues does not sleep at all. So a signal can never be
 * lost in the window between unlocking the mutex and sleeping, and a signal
 * wakes the oldest waiter (tickets are in waiting order). Tickets wrap;
 * they are compared by signed difference.
 */
#include "waiter.h"

static_assert(sizeof(((gort_cond *)0)->lock_) == sizeof(struct rt_lock),
	      "gort_cond.lock_ holds an rt_lock");

#define COND_LOCK(c) ((struct rt_lock *)&(c)->lock_)

struct cond_waiter {
	struct waiter wt; /* first: the list links waiters */
	uint32_t ticket;
};

static inline bool ticket_less(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

void gort_cond_wait(gort_cond *c, gort_mutex *m)
{
	struct cond_waiter cw;
	uint32_t t = __atomic_fetch_add(&c->wait_, 1, __ATOMIC_ACQ_REL);

	gort_mutex_unlock(m);
	rt_lock(COND_LOCK(c));
	if (ticket_less(t, __atomic_load_n(&c->notify_, __ATOMIC_RELAXED))) {
		rt_unlock(COND_LOCK(c));
	} else {
		waiter_init(&cw.wt);
		cw.ticket = t;
		/* Tickets queue in order except for the race between taking a
		 * ticket and getting here: signal searches for its ticket. */
		if (c->waiters_tail_)
			((struct waiter *)c->waiters_tail_)->next = &cw.wt;
		else
			c->waiters_ = &cw.wt;
		c->waiters_tail_ = &cw.wt;
		waiter_block(&cw.wt, WAIT_COND, COND_LOCK(c));
	}
	gort_mutex_lock(m);
}

void gort_cond_signal(gort_cond *c)
{
	struct waiter *prev = NULL;
	uint32_t t;

	/* No waiter since the last notification: nothing to do, lock-free. A
	 * waiter that took its ticket after this load is not owed a wakeup. */
	if (__atomic_load_n(&c->wait_, __ATOMIC_ACQUIRE) ==
	    __atomic_load_n(&c->notify_, __ATOMIC_ACQUIRE))
		return;
	rt_lock(COND_LOCK(c));
	t = c->notify_;
	if (t == __atomic_load_n(&c->wait_, __ATOMIC_ACQUIRE)) {
		rt_unlock(COND_LOCK(c));
		return;
	}
	__atomic_store_n(&c->notify_, t + 1, __ATOMIC_RELEASE);
	for (struct waiter *w = c->waiters_; w; prev = w, w = w->next) {
		struct cond_waiter *cw = (struct cond_waiter *)w;

		if (cw->ticket != t)
			continue;
		if (prev)
			prev->next = w->next;
		else
			c->waiters_ = w->next;
		if (!w->next)
			c->waiters_tail_ = prev;
		rt_unlock(COND_LOCK(c));
		w->next = NULL;
		waiter_wake(w);
		return;
	}
	/* Ticket t has not queued yet: it will see itself notified. */
	rt_unlock(COND_LOCK(c));
}

void gort_cond_broadcast(gort_cond *c)
{
	struct waiter *list;

	if (__atomic_load_n(&c->wait_, __ATOMIC_ACQUIRE) ==
	    __atomic_load_n(&c->notify_, __ATOMIC_ACQUIRE))
		return;
	rt_lock(COND_LOCK(c));
	list = c->waiters_;
	c->waiters_ = c->waiters_tail_ = NULL;
	__atomic_store_n(&c->notify_, __atomic_load_n(&c->wait_, __ATOMIC_ACQUIRE),
			 __ATOMIC_RELEASE);
	rt_unlock(COND_LOCK(c));
	while (list) {
		struct waiter *next = list->next;

		waiter_wake(list);
		list = next;
	}
}
