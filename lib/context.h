/* SPDX-License-Identifier: MIT */
/*
 * Contexts, internal side: a hook for runtime code that blocks (the weighted
 * semaphore, later the netpoller) to be told when a context is cancelled,
 * without a channel or a goroutine. Like Go's context.AfterFunc, except that
 * fn runs synchronously on the cancelling goroutine or thread.
 *
 *	struct ctx_waiter cw = { .fn = wake_me, .arg = me };
 *
 *	if (!ctx_after_cancel(ctx, &cw))
 *		return already cancelled;
 *	... block; wake_me(me) may run at any time from now on ...
 *	ctx_stop_after(ctx, &cw);	// afterwards wake_me is not running
 *					// and will never run
 *
 * Contract for fn: it runs at most once per registration, exactly once if
 * the context (or an ancestor) is cancelled before ctx_stop_after() takes
 * it back, on the cancelling goroutine or thread, with no context lock held
 * (so it may call gort_ctx_err()). It must be short and must not park: take
 * an rt_lock, decide, wake a waiter. ctx_stop_after() may wait for a running
 * fn, so never call ctx_after_cancel() or ctx_stop_after() holding a lock
 * that fn takes (lib/sema.c registers and unregisters outside its lock).
 *
 * Cost: registration and removal are O(1) under the context's lock; a
 * cancellation runs every registered fn once. A context that can never be
 * cancelled (the background, values over it) costs nothing.
 */
#ifndef GORT_CONTEXT_H
#define GORT_CONTEXT_H

#include <stdbool.h>
#include <stdint.h>

#include "gort.h"

enum ctx_waiter_state {
	CTXW_IDLE,    /* not registered (or the context can never be cancelled) */
	CTXW_LINKED,  /* on the context's list */
	CTXW_RUNNING, /* taken off the list by a cancel; fn is running or about to */
	CTXW_DONE,    /* fn has returned; the canceller no longer touches the waiter */
};

/* Lives with whoever waits (typically on its stack) from ctx_after_cancel
 * until ctx_stop_after returns. The caller sets fn and arg only. */
struct ctx_waiter {
	void (*fn)(void *arg);
	void *arg;
	/* private to context.c */
	struct ctx_waiter *prev, *next; /* on owner's list, under owner's lock */
	gort_ctx *owner;		/* the cancellable context it is registered with */
	uint32_t state;			/* enum ctx_waiter_state, atomic */
};

/*
 * Registers w to run w->fn(w->arg) when ctx is cancelled. Returns false,
 * registering nothing, when ctx is already cancelled. A context that can
 * never be cancelled (background, or values over it) returns true and never
 * runs fn.
 */
bool ctx_after_cancel(gort_ctx *ctx, struct ctx_waiter *w);

/*
 * Unregisters w (registered on ctx, or on one of its ancestors). Returns true when fn had not
 * started and now never will; false when the cancellation took w first: then it waits until fn has
 * returned (fn is short), so the caller may free w and fn's arg right away.
 */
bool ctx_stop_after(gort_ctx *ctx, struct ctx_waiter *w);

#endif
