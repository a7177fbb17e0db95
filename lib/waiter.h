/* SPDX-License-Identifier: MIT */
/*
 * A waiter on some object's wait list: a goroutine (parks) or a foreign
 * thread (sleeps on a futex). Lives on the waiter's own stack, which stays
 * valid while it waits.
 */
#ifndef GORT_WAITER_H
#define GORT_WAITER_H

#include "runtime.h"

struct waiter {
	struct waiter *next;
	struct goroutine *g; /* NULL for a foreign thread */
	uint32_t done;	     /* foreign threads sleep on this word */
	int result;	     /* set by the waker (for primitives that need one) */
};

static inline void waiter_init(struct waiter *wt)
{
	wt->next = NULL;
	wt->g = this_goroutine();
	wt->done = 0;
	wt->result = 0;
}

/* Blocks until waiter_wake(wt). lock is held on entry; it is released once
 * the goroutine is off its stack (or, for a thread, before sleeping). */
void waiter_block(struct waiter *wt, enum wait_reason reason, struct rt_lock *lock);

/* As waiter_block, with any unlock callback (e.g. several locks, as select). */
void waiter_block_fn(struct waiter *wt, enum wait_reason reason, void (*unlock)(void *), void *arg);

/* Wakes wt. Call after taking wt off the list under the object's lock. */
void waiter_wake(struct waiter *wt);

#endif
