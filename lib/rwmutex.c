// SPDX-License-Identifier: MIT
/*
 * RWMutex: Go's sync.RWMutex.
 *
 * reader_count_ counts readers inside or waiting to enter. A writer first
 * takes w_ (so writers queue on it one by one), then subtracts
 * RWMUTEX_MAX_READERS: from then on reader_count_ is negative and every new
 * reader waits on reader_sem_ (writer preference: a stream of readers cannot
 * starve the writer). The readers the writer found inside are moved to
 * reader_wait_; the last of them to leave wakes the writer on writer_sem_.
 * Unlock adds RWMUTEX_MAX_READERS back: the readers that queued meanwhile
 * are exactly reader_count_ then, and it releases that many wakeups on
 * reader_sem_ before letting the next writer take w_.
 */
#include "semaq.h"

#define RWMUTEX_MAX_READERS (1 << 30)

void gort_rwmutex_rlock(gort_rwmutex *rw)
{
	if (__atomic_add_fetch(&rw->reader_count_, 1, __ATOMIC_ACQUIRE) < 0)
		/* A writer is pending: wait for its unlock to let us in. */
		semaq_acquire(&rw->reader_sem_, false, WAIT_RWMUTEX_RLOCK, rw,
			      CONTEND_RWMUTEX_READ);
}

bool gort_rwmutex_tryrlock(gort_rwmutex *rw)
{
	int32_t c = __atomic_load_n(&rw->reader_count_, __ATOMIC_RELAXED);

	do {
		if (c < 0)
			return false;
	} while (!__atomic_compare_exchange_n(&rw->reader_count_, &c, c + 1, true, __ATOMIC_ACQUIRE,
					      __ATOMIC_RELAXED));
	return true;
}

void gort_rwmutex_runlock(gort_rwmutex *rw)
{
	int32_t r = __atomic_sub_fetch(&rw->reader_count_, 1, __ATOMIC_RELEASE);

	if (r >= 0)
		return;
	/* A writer is pending (or this is a misuse). */
	if (r + 1 == 0 || r + 1 == -RWMUTEX_MAX_READERS)
		gort_fatal("sync: runlock of unlocked rwmutex");
	/* The last reader the writer waits for wakes it. */
	if (__atomic_sub_fetch(&rw->reader_wait_, 1, __ATOMIC_ACQ_REL) == 0)
		semaq_release(&rw->writer_sem_, 1);
}

void gort_rwmutex_lock(gort_rwmutex *rw)
{
	int32_t r;
	int32_t zero = 0;

	/* Fast path of w_ inline; its slow path reports the RWMutex. */
	if (!__atomic_compare_exchange_n(&rw->w_.state_, &zero, 1, false, __ATOMIC_ACQUIRE,
					 __ATOMIC_RELAXED))
		mutex_lock_slow(&rw->w_, rw, CONTEND_RWMUTEX_WRITE);
	/* Announce the writer to readers; r readers are still inside. */
	r = __atomic_sub_fetch(&rw->reader_count_, RWMUTEX_MAX_READERS, __ATOMIC_ACQ_REL) +
	    RWMUTEX_MAX_READERS;
	/* Wait for them, unless they all left between the two updates (each
	 * took reader_wait_ below zero and it comes back to zero here). */
	if (r != 0 && __atomic_add_fetch(&rw->reader_wait_, r, __ATOMIC_ACQ_REL) != 0)
		semaq_acquire(&rw->writer_sem_, false, WAIT_RWMUTEX_LOCK, rw,
			      CONTEND_RWMUTEX_WRITE);
}

bool gort_rwmutex_trylock(gort_rwmutex *rw)
{
	int32_t zero = 0;

	if (!gort_mutex_trylock(&rw->w_))
		return false;
	if (!__atomic_compare_exchange_n(&rw->reader_count_, &zero, -RWMUTEX_MAX_READERS, false,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
		gort_mutex_unlock(&rw->w_);
		return false;
	}
	return true;
}

void gort_rwmutex_unlock(gort_rwmutex *rw)
{
	/* Let readers in again; r of them queued while we held it. */
	int32_t r = __atomic_add_fetch(&rw->reader_count_, RWMUTEX_MAX_READERS, __ATOMIC_RELEASE);

	if (r >= RWMUTEX_MAX_READERS)
		gort_fatal("sync: unlock of unlocked rwmutex");
	if (r > 0)
		semaq_release(&rw->reader_sem_, (uint32_t)r);
	gort_mutex_unlock(&rw->w_);
}
