/* SPDX-License-Identifier: MIT */
/*
 * Runtime timers (Go's runtime timers): each proc owns a 4-ary min-heap of
 * timers ordered by due time, under its own lock. The proc's worker runs its
 * due timers whenever it schedules; idle workers run any proc's due timers
 * while looking for work, and the last worker to go idle sleeps (futex
 * timeout) until the earliest timer of all. Timers live in the proc, so they
 * move with it when it changes hands (syscall hand-off, kernel assist).
 *
 * A timer's function runs on a scheduler stack or a goroutine's, with no
 * lock held; it must not block (it may ready goroutines, try-send on a
 * channel, start a goroutine).
 */
#ifndef GORT_TIMER_H
#define GORT_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#include "lock.h"

struct proc;

struct timer {
	int64_t when;	/* due time (nanotime); valid while queued */
	int64_t period; /* > 0: re-queued every period after firing (tickers) */
	/* now: the time the runner read; the function must not block. */
	void (*fn)(struct timer *t, int64_t now);
	void *arg;
	struct proc *p;	    /* the proc whose heap holds it, NULL when not queued;
			     * written under that proc's timer lock */
	int32_t idx;	    /* index in p's heap, unless never_stopped */
	uint32_t running;   /* atomic: how many runs of fn are in progress
			     * (see timer_wait_idle) */
	bool fn_owns;	    /* the runner never touches t once fn is called, so
			     * fn may free it or wake its stack's owner (who
			     * then needs no timer_wait_idle); running is never
			     * decremented then */
	bool never_stopped; /* its owner never stops or resets it while it
			     * is queued (a sleep): the heap does not keep
			     * idx, so a sift that moves it does not write
			     * to its (rarely cached) memory */
};

/* A heap entry: the timer's address, with TIMER_ENTRY_NO_IDX set when it
 * is never_stopped. */
struct timer_entry {
	int64_t when; /* == t->when while queued */
	uintptr_t tp;
};
#define TIMER_ENTRY_NO_IDX ((uintptr_t)1)

/* A proc's heap. when0 mirrors the root's due time (0: empty) so that the
 * hot paths can test "anything due?" without the lock. */
struct timer_heap {
	struct rt_lock lock;
	int64_t when0; /* atomic */
	struct timer_entry *h;
	int n, cap;
};

void timer_init(struct timer *t, void (*fn)(struct timer *t, int64_t now), void *arg);

/*
 * Queues t to fire at when (re-queues it if it is queued: a reset). It goes
 * on the caller's proc, or any proc for a foreign thread (starting the
 * runtime if needed). Returns true when it was queued before. Fails only
 * when out of memory or the runtime cannot start: t is then not queued and
 * *err is set (GORT_ENOMEM, or gort_init()'s error).
 */
bool timer_start(struct timer *t, int64_t when, int *err);

/* Dequeues t; returns true when it was queued. Its function may still be
 * running on another thread: see timer_wait_idle(). */
bool timer_stop(struct timer *t);

/* Waits until t's function, if running, has returned. Call after
 * timer_stop() before freeing t or reusing its memory. */
void timer_wait_idle(struct timer *t);

/* Runs p's due timers if its earliest is due at now. Cheap when none is.
 * On a worker holding a proc it leaves them queued while that proc's run
 * queue is nearly full, unless overdue by 10 ms (see timer.c). */
void timers_check(struct proc *p, int64_t now);

/* True when timers_check(p, now) on p's own worker would run a timer. */
bool timers_ready(struct proc *p, int64_t now);

/* timers_check(p, now) when p has any timer (reads the clock only then). */
void timers_check_now(struct proc *p);

/* Runs every proc's due timers. */
void timers_check_all(int64_t now);

/* The earliest due time of every proc's timers, without running any; 0 when
 * there is none. */
int64_t timers_next(void);

/* Moves every timer of from (a proc going away) onto to. */
void timers_move(struct proc *from, struct proc *to);

/* A timer was queued with due time when: make sure some worker will run it
 * in time (wakes the worker sleeping for timers, or an idle proc). */
void timers_wake(int64_t when);

static inline bool timers_pending(struct timer_heap *th)
{
	return __atomic_load_n(&th->when0, __ATOMIC_RELAXED) != 0;
}

#endif
