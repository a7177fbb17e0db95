/* SPDX-License-Identifier: MIT */
/*
 * The wait queue behind the sync types (Go's runtime semaphore,
 * runtime_SemacquireMutex/runtime_Semrelease): a count of wakeups that no
 * waiter has taken yet and a queue of waiters, under an internal lock.
 *
 * Invariant: the count is non-zero only while the queue is empty. A release
 * hands its wakeup straight to the first waiter (which then owns it, so no
 * late-comer can take it on the way); only when nobody waits is it counted,
 * for the next acquire to take without sleeping. An acquire re-checks the
 * count under the lock before queueing, so no wakeup is lost.
 */
#ifndef GORT_SEMAQ_H
#define GORT_SEMAQ_H

#include <stdbool.h>

#include "waiter.h"

/* Probe kinds of mutex__contend (tools/README.md). */
enum contend_kind {
	CONTEND_MUTEX = 1,
	CONTEND_RWMUTEX_READ = 2,
	CONTEND_RWMUTEX_WRITE = 3,
};

/*
 * Takes one wakeup, blocking until one is released if none is counted. A
 * waiter queues at the tail, or at the head when lifo (a mutex waiter that
 * was woken and lost the lock again: it has waited longest). obj and kind
 * are what the mutex__contend probe reports when the caller must block.
 */
void semaq_acquire(struct gort_semaq_ *q, bool lifo, enum wait_reason reason, const void *obj,
		   enum contend_kind kind);

/* Takes a counted wakeup without blocking; true on success. */
bool semaq_tryacquire(struct gort_semaq_ *q);

/* Releases n wakeups: to the first n waiters, the rest counted. Returns how
 * many waiters it woke. */
uint32_t semaq_release(struct gort_semaq_ *q, uint32_t n);

/* gort_mutex_lock's slow path, reporting obj and kind when it must block
 * (an RWMutex's writer lock reports the RWMutex). */
void mutex_lock_slow(gort_mutex *m, const void *obj, enum contend_kind kind);

#endif
