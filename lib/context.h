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
 * Contract for fn: it runs exactly once per registration if the context is
 * cancelled before ctx_stop_after(), on the cancelling goroutine or thread,
 * outside every context lock. It must be short and must not block (take an
 * rt_lock, wake a waiter); it must not call back into the context's
 * functions for the same context tree with an rt_lock held that the
 * registering code holds while calling ctx_after_cancel/ctx_stop_after.
 * The simplest rule, which lib/sema.c follows: never call ctx_after_cancel or
 * ctx_stop_after with a lock held that fn takes.
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
