// SPDX-License-Identifier: MIT
/*
 * Mutex: Go's sync.Mutex on a semaq.
 *
 * state_ packs: bit 0 locked, bit 1 woken (a waiter has been woken or is
 * spinning: the unlocker need not wake another), bit 2 starving, and above
 * them the number of waiters (counted before they queue on sema_).
 *
 * Two modes, as in Go. Normal mode: waiters queue FIFO, but a woken waiter
 * competes with goroutines that just arrived and are running (they usually
 * win: they are on a CPU); one that loses queues again at the front. A waiter
 * that has waited more than 1 ms switches the mutex to starvation mode: the
 * unlocker then hands ownership straight to the first waiter (the locked bit
 * stays clear, newcomers neither take the lock nor spin: they queue at the
 * tail). The last waiter, or one that waited less than 1 ms, switches back to
 * normal mode. Normal mode is much faster (a goroutine can take the lock
 * many times in a row); starvation mode bounds the wait.
 */
#include <unistd.h>

#include "semaq.h"

#define MUTEX_LOCKED 1
#define MUTEX_WOKEN 2
#define MUTEX_STARVING 4
#define MUTEX_WAITER_SHIFT 3
#define STARVATION_THRESHOLD_NS (1000 * 1000)

/* Go's active_spin / active_spin_cnt: 4 rounds of 30 pauses. */
#define ACTIVE_SPIN 4
#define ACTIVE_SPIN_CNT 30

static int ncpu(void)
{
	static int n;
	int v = __atomic_load_n(&n, __ATOMIC_RELAXED);

	if (!v) {
		v = (int)sysconf(_SC_NPROCESSORS_ONLN);
		if (v < 1)
			v = 1;
		__atomic_store_n(&n, v, __ATOMIC_RELAXED);
	}
	return v;
}

/*
 * Go's sync_runtime_canSpin: spinning pays only while the holder is running
 * on another CPU and we hold up nobody: a multicore machine, another running
 * proc (not all others idle or spinning for work), nothing queued on ours.
 */
static bool can_spin(int iter)
{
	struct worker *w;
	int maxprocs;

	if (iter >= ACTIVE_SPIN || ncpu() <= 1)
		return false;
	w = this_worker();
	/* A foreign thread, or a goroutine in a syscall region that may have
	 * lost its proc: there is no proc to hold up. */
	if (!w || !w->curg || !w->proc)
		return true;
	maxprocs = __atomic_load_n(&sched.maxprocs, __ATOMIC_RELAXED);
	if (maxprocs <= __atomic_load_n(&sched.npidle, __ATOMIC_RELAXED) +
				__atomic_load_n(&sched.nspinning, __ATOMIC_RELAXED) + 1)
		return false;
	return runq_empty(w->proc);
}

static void do_spin(void)
{
	for (int i = 0; i < ACTIVE_SPIN_CNT; i++)
		cpu_relax();
}

static inline int32_t load_state(gort_mutex *m)
{
	return __atomic_load_n(&m->state_, __ATOMIC_RELAXED);
}

static inline bool cas_state(gort_mutex *m, int32_t *old, int32_t nstate)
{
	return __atomic_compare_exchange_n(&m->state_, old, nstate, false, __ATOMIC_ACQ_REL,
					   __ATOMIC_RELAXED);
}

void mutex_lock_slow(gort_mutex *m, const void *obj, enum contend_kind kind)
{
	int64_t wait_start = 0;
	bool starving = false, awoke = false, lifo;
	int iter = 0;
	int32_t old = load_state(m);

	for (;;) {
		int32_t nstate;

		/* Spin only in normal mode: in starvation mode ownership goes to
		 * the waiters, we could not take the lock anyway. */
		if ((old & (MUTEX_LOCKED | MUTEX_STARVING)) == MUTEX_LOCKED && can_spin(iter)) {
			/* Set woken so that the unlocker does not wake another
			 * waiter while we are about to take the lock. */
			if (!awoke && !(old & MUTEX_WOKEN) && (old >> MUTEX_WAITER_SHIFT) != 0 &&
			    cas_state(m, &old, old | MUTEX_WOKEN))
				awoke = true;
			do_spin();
			iter++;
			old = load_state(m);
			continue;
		}
		nstate = old;
		/* Do not take a starving mutex: it belongs to the waiters. */
		if (!(old & MUTEX_STARVING))
			nstate |= MUTEX_LOCKED;
		if (old & (MUTEX_LOCKED | MUTEX_STARVING))
			nstate += 1 << MUTEX_WAITER_SHIFT;
		/* Switch to starvation mode only while the mutex is locked: an
		 * unlocked mutex in starvation mode would have nobody to hand it
		 * over, and unlock expects waiters then. */
		if (starving && (old & MUTEX_LOCKED))
			nstate |= MUTEX_STARVING;
		if (awoke) {
			/* We were woken (or claimed woken while spinning): clear
			 * it, whether we sleep again or take the lock. */
			if (!(nstate & MUTEX_WOKEN))
				gort_fatal("sync: inconsistent mutex state");
			nstate &= ~MUTEX_WOKEN;
		}
		if (!cas_state(m, &old, nstate))
			continue;
		if (!(old & (MUTEX_LOCKED | MUTEX_STARVING)))
			return; /* locked it with the CAS */
		/* A waiter that was already woken queues at the front. */
		lifo = wait_start != 0;
		if (!wait_start)
			wait_start = nanotime();
		semaq_acquire(&m->sema_, lifo, WAIT_MUTEX, obj, kind);
		starving = starving || nanotime() - wait_start > STARVATION_THRESHOLD_NS;
		old = load_state(m);
		if (old & MUTEX_STARVING) {
			/* Handed over: the mutex is ours, but the state does not
			 * say so yet (locked clear, our waiter count still in). */
			int32_t delta = MUTEX_LOCKED - (1 << MUTEX_WAITER_SHIFT);

			if ((old & (MUTEX_LOCKED | MUTEX_WOKEN)) ||
			    (old >> MUTEX_WAITER_SHIFT) == 0)
				gort_fatal("sync: inconsistent mutex state");
			/* Leave starvation mode when we did not starve or are the
			 * last waiter: staying would hand the mutex to nobody. */
			if (!starving || (old >> MUTEX_WAITER_SHIFT) == 1)
				delta -= MUTEX_STARVING;
			__atomic_add_fetch(&m->state_, delta, __ATOMIC_ACQ_REL);
			return;
		}
		awoke = true;
		iter = 0;
	}
}

void gort_mutex_lock(gort_mutex *m)
{
	int32_t old = 0;

	if (__atomic_compare_exchange_n(&m->state_, &old, MUTEX_LOCKED, false, __ATOMIC_ACQUIRE,
					__ATOMIC_RELAXED))
		return;
	mutex_lock_slow(m, m, CONTEND_MUTEX);
}

bool gort_mutex_trylock(gort_mutex *m)
{
	int32_t old = load_state(m);

	if (old & (MUTEX_LOCKED | MUTEX_STARVING))
		return false;
	/* Waiters may be queued while it is unlocked in normal mode: barging
	 * is allowed then, as in lock's fast path. */
	return __atomic_compare_exchange_n(&m->state_, &old, old | MUTEX_LOCKED, false,
					   __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

static void mutex_unlock_slow(gort_mutex *m, int32_t nstate)
{
	if (!((nstate + MUTEX_LOCKED) & MUTEX_LOCKED))
		gort_fatal("sync: unlock of unlocked mutex");
	if (!(nstate & MUTEX_STARVING)) {
		int32_t old = nstate;

		for (;;) {
			/* Nobody to wake, or someone already took the lock, was
			 * woken or is spinning (it takes care of the rest), or
			 * the mutex went into starvation mode meanwhile. */
			if ((old >> MUTEX_WAITER_SHIFT) == 0 ||
			    (old & (MUTEX_LOCKED | MUTEX_WOKEN | MUTEX_STARVING)))
				return;
			/* Take one waiter off the count and wake it. */
			nstate = (old - (1 << MUTEX_WAITER_SHIFT)) | MUTEX_WOKEN;
			if (cas_state(m, &old, nstate)) {
				semaq_release(&m->sema_, 1);
				return;
			}
		}
	}
	/*
	 * Starvation mode: hand the mutex to the first waiter. Locked stays
	 * clear; the waiter sets it. Newcomers see starving and queue. Then,
	 * as Go's semrelease(handoff), give our time slice to the new owner,
	 * which goroutine_ready() put in our runnext: otherwise we would run
	 * on, probably come back for the lock and queue behind it anyway.
	 */
	if (semaq_release(&m->sema_, 1) && this_goroutine())
		gort_yield();
}

void gort_mutex_unlock(gort_mutex *m)
{
	int32_t nstate = __atomic_sub_fetch(&m->state_, MUTEX_LOCKED, __ATOMIC_RELEASE);

	if (nstate != 0)
		mutex_unlock_slow(m, nstate);
}
