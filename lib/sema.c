// SPDX-License-Identifier: MIT
/*
 * Weighted semaphore, as golang.org/x/sync/semaphore.Weighted.
 *
 * State under s->lock: cur (units held) and a FIFO queue of waiters, each
 * asking for n units. Invariants:
 * - Strict FIFO: units are granted only from the head of the queue, and an
 *   acquire takes the fast path only when the queue is empty. So a large
 *   request at the head blocks every later small one, even when the small
 *   ones would fit (Go's choice: no starvation of large requests).
 * - A waiter's fate (GRANTED or CANCELLED) is decided once, under the lock,
 *   by whoever takes it off the queue: a release (notify_waiters) or the
 *   context's cancellation hook (sema_cancel). Units are added to cur
 *   exactly when the fate is GRANTED, so a cancelled acquire holds nothing.
 * - A waiter is only woken once it has said, under the lock, that it is
 *   going to block (blocked): between queueing itself and blocking it
 *   releases the lock to register with its context (whose hook takes this
 *   lock), and a decision made in that window is found by the waiter when
 *   it relocks instead of being delivered by a wakeup.
 * - The context hook is registered and unregistered without s->lock held
 *   (the hook takes it); ctx_stop_after() returns only once the hook is not
 *   running, so the waiter's stack frame outlives every use of it.
 */
#include <stdlib.h>

#include "context.h"
#include "probes.h"
#include "waiter.h"

struct gort_sema {
	struct rt_lock lock;
	int64_t size;
	int64_t cur; /* units held, 0..size */
	struct sema_waiter *head, *tail;
};

enum sema_state {
	SW_WAITING,
	SW_GRANTED,
	SW_CANCELLED,
};

struct sema_waiter {
	struct waiter wt;
	gort_sema *s;
	int64_t n;
	struct sema_waiter *prev, *next; /* the queue */
	struct sema_waiter *wake_next;	 /* a waker's list, after leaving the queue */
	int state;			 /* enum sema_state, under s->lock */
	bool blocked;			 /* committed to waiter_block(), under s->lock */
};

gort_sema *gort_sema_new(int64_t n)
{
	gort_sema *s;

	if (n <= 0) {
		set_errmsg("gort_sema_new: capacity %lld is not positive", (long long)n);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		set_errmsg("gort_sema_new: out of memory");
		return NULL;
	}
	s->size = n;
	return s;
}

void gort_sema_free(gort_sema *s)
{
	free(s);
}

static void queue_remove(gort_sema *s, struct sema_waiter *sw)
{
	if (sw->prev)
		sw->prev->next = sw->next;
	else
		s->head = sw->next;
	if (sw->next)
		sw->next->prev = sw->prev;
	else
		s->tail = sw->prev;
	sw->prev = sw->next = NULL;
}

/* Adds sw to the wake list when it is (going to be) blocked; else it finds
 * its fate itself when it relocks. */
static void add_wake(struct sema_waiter *sw, struct sema_waiter **wake)
{
	if (sw->blocked) {
		sw->wake_next = *wake;
		*wake = sw;
	}
}

/* Go's notifyWaiters: grants units to waiters from the head while they fit.
 * Called with s->lock held. */
static void notify_waiters(gort_sema *s, struct sema_waiter **wake)
{
	struct sema_waiter *sw;

	while ((sw = s->head) != NULL && s->size - s->cur >= sw->n) {
		s->cur += sw->n;
		queue_remove(s, sw);
		sw->state = SW_GRANTED;
		add_wake(sw, wake);
	}
}

/* Wakes what notify_waiters/sema_cancel collected; s->lock not held. A woken
 * waiter may return (and its frame go) at once: read next first. */
static void wake_list(struct sema_waiter *sw)
{
	while (sw) {
		struct sema_waiter *next = sw->wake_next;

		waiter_wake(&sw->wt);
		sw = next;
	}
}

/* Takes a still-waiting sw off the queue as cancelled (s->lock held). A head
 * that leaves may unblock the ones behind it. */
static void cancel_locked(gort_sema *s, struct sema_waiter *sw, struct sema_waiter **wake)
{
	bool was_head = s->head == sw;

	queue_remove(s, sw);
	sw->state = SW_CANCELLED;
	add_wake(sw, wake);
	if (was_head && s->size > s->cur)
		notify_waiters(s, wake);
}

/* The context hook: runs on the cancelling goroutine or thread, outside
 * every context lock, while the waiter is still in gort_sema_acquire. */
static void sema_cancel(void *arg)
{
	struct sema_waiter *sw = arg, *wake = NULL;
	gort_sema *s = sw->s;

	rt_lock(&s->lock);
	if (sw->state == SW_WAITING)
		cancel_locked(s, sw, &wake);
	rt_unlock(&s->lock);
	wake_list(wake);
}

/* The error code of a done context (its error is set before its hooks run). */
static int ctx_code(gort_ctx *ctx)
{
	int code = gort_error_code(gort_ctx_err(ctx));

	return code ? code : GORT_ECANCELED;
}

int gort_sema_acquire(gort_sema *s, gort_ctx *ctx, int64_t w)
{
	struct sema_waiter sw, *wake = NULL;
	struct ctx_waiter cw;
	bool hooked = false;

	if (w <= 0 || w > s->size) {
		set_errmsg("gort_sema_acquire: weight %lld outside 1..%lld", (long long)w,
			   (long long)s->size);
		return GORT_EINVAL;
	}
	/* A context already done fails even when units are free (as Go does:
	 * its being done happened before the acquire). */
	if (gort_ctx_err(ctx)) {
		set_errmsg("gort_sema_acquire: %s", gort_error_msg(gort_ctx_err(ctx)));
		return ctx_code(ctx);
	}
	rt_lock(&s->lock);
	if (!s->head && s->size - s->cur >= w) {
		s->cur += w;
		rt_unlock(&s->lock);
		return 0;
	}
	waiter_init(&sw.wt);
	sw.s = s;
	sw.n = w;
	sw.next = NULL;
	sw.prev = s->tail;
	sw.wake_next = NULL;
	sw.state = SW_WAITING;
	sw.blocked = false;
	if (s->tail)
		s->tail->next = &sw;
	else
		s->head = &sw;
	s->tail = &sw;
	rt_unlock(&s->lock);

	if (ctx) {
		cw.fn = sema_cancel;
		cw.arg = &sw;
		hooked = ctx_after_cancel(ctx, &cw);
		if (!hooked) {
			/* Cancelled in between: leave unless already granted. */
			rt_lock(&s->lock);
			if (sw.state == SW_WAITING)
				cancel_locked(s, &sw, &wake);
			rt_unlock(&s->lock);
			wake_list(wake);
		}
	}

	rt_lock(&s->lock);
	if (sw.state == SW_WAITING) {
		sw.blocked = true;
		/* kind 4: sema (tools/README.md; semaq.h names kinds 1-3) */
		GORT_PROBE3(mutex__contend, (uintptr_t)s, 4, gort_id());
		waiter_block(&sw.wt, WAIT_SEMA, &s->lock);
	} else {
		rt_unlock(&s->lock);
	}
	/* The fate is final now: only the party that decided it wrote it, under
	 * the lock, before waking us (or before we relocked). */
	if (hooked)
		ctx_stop_after(ctx, &cw);
	if (sw.state == SW_GRANTED)
		return 0;
	set_errmsg("gort_sema_acquire: %s", gort_error_msg(gort_ctx_err(ctx)));
	return ctx_code(ctx);
}

bool gort_sema_try_acquire(gort_sema *s, int64_t w)
{
	bool ok = false;

	if (w <= 0 || w > s->size)
		return false;
	rt_lock(&s->lock);
	if (!s->head && s->size - s->cur >= w) {
		s->cur += w;
		ok = true;
	}
	rt_unlock(&s->lock);
	return ok;
}

void gort_sema_release(gort_sema *s, int64_t w)
{
	struct sema_waiter *wake = NULL;

	rt_lock(&s->lock);
	if (w < 0 || w > s->cur) {
		int64_t cur = s->cur;

		rt_unlock(&s->lock);
		gort_fatal("gort_sema_release: released %lld units, %lld held", (long long)w,
			   (long long)cur);
	}
	s->cur -= w;
	notify_waiters(s, &wake);
	rt_unlock(&s->lock);
	wake_list(wake);
}
