// SPDX-License-Identifier: MIT
/*
 * Contexts, as Go's context package (context.go): a tree of reference-counted
 * nodes. Three types:
 *
 *   CTX_BACKGROUND  the static root; never cancelled, never counted or freed.
 *   CTX_CANCEL      with_cancel and with_deadline/with_timeout (a deadline
 *                   context is a cancel context with a timer, Go's timerCtx).
 *   CTX_VALUE       with_value: a key and a value; no state of its own, its
 *                   done/err are those of its nearest cancellable ancestor.
 *
 * References: the creator holds one (dropped by gort_ctx_free), each child
 * holds one on its parent (so a context's ancestors outlive it), an armed
 * deadline timer holds one on its context, and a cancel in progress holds
 * one on each child it took off a list. The last release frees the node and
 * then releases its parent, in a loop (no recursion up a deep chain).
 *
 * Cancellation (Go's propagateCancel / cancelCtx.cancel): a cancel context
 * registers itself on the children list of its nearest cancellable ancestor,
 * cancel_ctx of its parent. Cancelling c, under c->lock: set err, close done
 * (or install the shared closed channel), take the whole children list and
 * the after-cancel waiters off c. Then, outside the lock, run the waiters' functions, stop the
 * timer, and cancel the children taken, each in turn with the same error,
 * through a work list rather than recursion (a chain of 10^5 contexts must not
 * overflow a goroutine's stack). Finally c unlinks itself from its ancestor's
 * list. Invariants:
 * - err goes from NULL to a static error once, under lock; never back.
 * - Once err is set no child or waiter is added to the context: registration
 *   checks err under the same lock and cancels the newcomer itself instead.
 * - A context on its ancestor's children list (linked, under the ancestor's
 *   lock) has a reference held by its creator: gort_ctx_free cancels, which
 *   unlinks, before it releases. So the ancestor may take a reference on
 *   every listed child under its lock.
 * - done, once set (under lock), never changes until the node is freed. err
 *   is published before done is closed, so whoever a close wakes (or who
 *   finds done closed) sees err set. The converse holds under the lock only:
 *   a lock-free gort_ctx_err() may see err a moment before the close.
 * - No context lock is held while another context's lock is taken: the
 *   cascade locks one node at a time, and unlinking takes only the
 *   ancestor's lock after the node's own is released. rt_locks nest only
 *   ctx -> channel (closing done) and ctx -> timer.
 */
#include <stdlib.h>

#include "context.h"
#include "runtime.h"

enum ctx_type {
	CTX_BACKGROUND,
	CTX_CANCEL,
	CTX_VALUE,
};

struct gort_ctx {
	uint32_t refs;	      /* atomic; unused for the background */
	uint8_t type;	      /* enum ctx_type */
	gort_ctx *parent;     /* holds a reference; NULL for the background */
	gort_ctx *cancel_ctx; /* nearest cancellable context: itself for CTX_CANCEL,
			       * the parent's for CTX_VALUE; NULL when none */
	int64_t deadline;     /* the earliest on the chain, GORT_FOREVER for none */
	const void *key;      /* CTX_VALUE */
	void *value;

	/* CTX_CANCEL only. */
	struct rt_lock lock;
	gort_error *err;	       /* atomic: NULL while live */
	gort_chan *done;	       /* atomic: made on first gort_ctx_done() */
	gort_ctx *children;	       /* registered cancel contexts, under lock */
	gort_ctx *sib_prev, *sib_next; /* on cparent->children, under cparent->lock */
	gort_ctx *cparent;	       /* the ancestor registered with; NULL if none */
	bool linked;		       /* on cparent->children, under cparent->lock */
	gort_ctx *work_next;	       /* on a cancel's work list */
	struct ctx_waiter *waiters;    /* after-cancel functions, under lock */
	gort_timer *timer;	       /* deadline timer; freed with the node */
};

static gort_ctx background = {
	.type = CTX_BACKGROUND,
	.deadline = GORT_FOREVER,
};

gort_ctx *gort_ctx_background(void)
{
	return &background;
}

static void ctx_ref(gort_ctx *c)
{
	if (c->type != CTX_BACKGROUND)
		__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
}

/* A closed channel shared by every context cancelled before anyone asked for
 * its done channel (Go's closedchan). Made once, never freed. */
static gort_chan *closed_chan;

static gort_chan *get_closed_chan(void)
{
	gort_chan *ch = __atomic_load_n(&closed_chan, __ATOMIC_ACQUIRE), *expected = NULL;

	if (ch)
		return ch;
	ch = gort_chan_make(0, 0);
	if (!ch)
		return NULL;
	gort_chan_close(ch);
	if (!__atomic_compare_exchange_n(&closed_chan, &expected, ch, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		gort_chan_free(ch);
		ch = expected;
	}
	return ch;
}

static void ctx_release(gort_ctx *c)
{
	/* Acquire-release: everything done through other references happens
	 * before the free. */
	while (c && c->type != CTX_BACKGROUND) {
		gort_ctx *parent;

		if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) != 0)
			return;
		parent = c->parent;
		/* Nobody else can reach c now: no list holds it (it unlinked when
		 * cancelled), its timer's reference is gone, so is every
		 * receiver's on done (the context owns done, see gort.h). */
		if (c->timer)
			gort_timer_free(c->timer);
		if (c->done && c->done != __atomic_load_n(&closed_chan, __ATOMIC_RELAXED))
			gort_chan_free(c->done);
		free(c);
		c = parent;
	}
}

static gort_ctx *ctx_alloc(const char *who, gort_ctx *parent, enum ctx_type type)
{
	gort_ctx *c;

	if (!parent) {
		set_errmsg("%s: NULL parent context", who);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		set_errmsg("%s: out of memory", who);
		return NULL;
	}
	c->refs = 1;
	c->type = type;
	ctx_ref(parent);
	c->parent = parent;
	c->deadline = parent->deadline;
	c->cancel_ctx = type == CTX_CANCEL ? c : parent->cancel_ctx;
	return c;
}

/*
 * Cancels c alone (not its children): closes done, sets err, runs the
 * after-cancel functions and stops the timer. The children it took off its
 * list go onto *work, each with a reference taken for the caller. Returns
 * false when c was already cancelled.
 */
static bool cancel_one(gort_ctx *c, gort_error *err, gort_ctx **work)
{
	struct ctx_waiter *waiters;
	gort_timer *timer;
	gort_chan *done;

	rt_lock(&c->lock);
	if (__atomic_load_n(&c->err, __ATOMIC_RELAXED)) {
		rt_unlock(&c->lock);
		return false;
	}
	/* err first: whoever is woken by the close must find it (Go: "if Done
	 * is closed, Err returns a non-nil error"). */
	__atomic_store_n(&c->err, err, __ATOMIC_RELEASE);
	done = __atomic_load_n(&c->done, __ATOMIC_RELAXED);
	if (done)
		gort_chan_close(done);
	else /* NULL when out of memory: gort_ctx_done() tries again */
		__atomic_store_n(&c->done, get_closed_chan(), __ATOMIC_RELEASE);
	for (gort_ctx *ch = c->children; ch; ch = ch->sib_next) {
		ctx_ref(ch);
		ch->linked = false;
		ch->work_next = *work;
		*work = ch;
	}
	c->children = NULL;
	waiters = c->waiters;
	c->waiters = NULL;
	for (struct ctx_waiter *w = waiters; w; w = w->next)
		__atomic_store_n(&w->state, CTXW_RUNNING, __ATOMIC_RELAXED);
	timer = c->timer;
	rt_unlock(&c->lock);

	/* Each waiter is its owner's until DONE is stored: read what we need
	 * from it first. */
	while (waiters) {
		struct ctx_waiter *next = waiters->next;
		void (*fn)(void *) = waiters->fn;
		void *arg = waiters->arg;

		fn(arg);
		__atomic_store_n(&waiters->state, CTXW_DONE, __ATOMIC_RELEASE);
		waiters = next;
	}
	/* Stopped before it fired: its function will never run, so drop the
	 * reference it held (never the last: our caller holds one). */
	if (timer && gort_timer_stop(timer))
		ctx_release(c);
	return true;
}

/* Takes c off its ancestor's children list, if it is still there. */
static void ctx_unlink(gort_ctx *c)
{
	gort_ctx *p = c->cparent;

	if (!p)
		return;
	rt_lock(&p->lock);
	if (c->linked) {
		if (c->sib_prev)
			c->sib_prev->sib_next = c->sib_next;
		else
			p->children = c->sib_next;
		if (c->sib_next)
			c->sib_next->sib_prev = c->sib_prev;
		c->linked = false;
	}
	rt_unlock(&p->lock);
}

/* Cancels c and every descendant with err. The caller holds a reference. */
static void ctx_cancel(gort_ctx *c, gort_error *err)
{
	gort_ctx *work = NULL;

	if (!cancel_one(c, err, &work))
		return;
	while (work) {
		gort_ctx *x = work;

		work = x->work_next;
		cancel_one(x, err, &work);
		ctx_release(x);
	}
	ctx_unlink(c);
}

/*
 * Registers the new cancel context c with its nearest cancellable ancestor,
 * or cancels it at once when that one is already cancelled.
 */
static void ctx_propagate(gort_ctx *c)
{
	gort_ctx *p = c->parent->cancel_ctx;
	gort_error *err;

	if (!p)
		return; /* the background: never cancelled */
	rt_lock(&p->lock);
	err = __atomic_load_n(&p->err, __ATOMIC_RELAXED);
	if (!err) {
		c->cparent = p;
		c->linked = true;
		c->sib_prev = NULL;
		c->sib_next = p->children;
		if (p->children)
			p->children->sib_prev = c;
		p->children = c;
	}
	rt_unlock(&p->lock);
	if (err)
		ctx_cancel(c, err);
}

gort_ctx *gort_ctx_with_cancel(gort_ctx *parent)
{
	gort_ctx *c = ctx_alloc("gort_ctx_with_cancel", parent, CTX_CANCEL);

	if (c)
		ctx_propagate(c);
	return c;
}

/* The deadline timer's function: runs on its own goroutine. */
static void ctx_timer_fire(void *arg)
{
	gort_ctx *c = arg;

	ctx_cancel(c, gort_error_deadline_exceeded);
	ctx_release(c); /* the timer's reference */
}

gort_ctx *gort_ctx_with_deadline(gort_ctx *parent, int64_t deadline)
{
	gort_ctx *c;
	int64_t now;

	/* The parent's deadline comes first: a plain cancel context behaves
	 * the same, without a timer (as Go does). */
	if (parent && parent->deadline <= deadline)
		return gort_ctx_with_cancel(parent);
	c = ctx_alloc("gort_ctx_with_deadline", parent, CTX_CANCEL);
	if (!c)
		return NULL;
	c->deadline = deadline;
	ctx_propagate(c);
	now = nanotime();
	if (deadline <= now) {
		ctx_cancel(c, gort_error_deadline_exceeded);
		return c;
	}
	rt_lock(&c->lock);
	if (!__atomic_load_n(&c->err, __ATOMIC_RELAXED)) {
		/* Armed under the lock, so a cancel sees the timer set (the
		 * function runs on another goroutine and waits for the lock). */
		ctx_ref(c);
		c->timer = gort_after_func(deadline - now, ctx_timer_fire, c);
		if (!c->timer) {
			rt_unlock(&c->lock);
			/* The timer's reference, never given out. Others may
			 * hold references by now (a cancel of the parent):
			 * atomically, and never the last (ours remains). */
			__atomic_sub_fetch(&c->refs, 1, __ATOMIC_RELAXED);
			gort_ctx_free(c);
			set_errmsg("gort_ctx_with_deadline: out of memory");
			return NULL;
		}
	}
	rt_unlock(&c->lock);
	return c;
}

gort_ctx *gort_ctx_with_timeout(gort_ctx *parent, int64_t timeout)
{
	int64_t now = nanotime(), deadline;

	if (__builtin_add_overflow(now, timeout, &deadline))
		deadline = timeout > 0 ? GORT_FOREVER : INT64_MIN;
	return gort_ctx_with_deadline(parent, deadline);
}

gort_ctx *gort_ctx_with_value(gort_ctx *parent, const void *key, void *value)
{
	gort_ctx *c = ctx_alloc("gort_ctx_with_value", parent, CTX_VALUE);

	if (c) {
		c->key = key;
		c->value = value;
	}
	return c;
}

void gort_ctx_cancel(gort_ctx *ctx)
{
	if (ctx && ctx->type == CTX_CANCEL)
		ctx_cancel(ctx, gort_error_canceled);
}

void gort_ctx_free(gort_ctx *ctx)
{
	if (!ctx || ctx->type == CTX_BACKGROUND)
		return;
	gort_ctx_cancel(ctx);
	ctx_release(ctx);
}

gort_chan *gort_ctx_done(gort_ctx *ctx)
{
	gort_ctx *c = ctx ? ctx->cancel_ctx : NULL;
	gort_chan *d;

	if (!c)
		return NULL;
	d = __atomic_load_n(&c->done, __ATOMIC_ACQUIRE);
	if (d)
		return d;
	rt_lock(&c->lock);
	d = __atomic_load_n(&c->done, __ATOMIC_RELAXED);
	if (!d) {
		/* Made under the lock so that cancel either sees it (and closes
		 * it) or has already set err (and we hand out a closed one). */
		d = __atomic_load_n(&c->err, __ATOMIC_RELAXED) ? get_closed_chan()
							       : gort_chan_make(0, 0);
		__atomic_store_n(&c->done, d, __ATOMIC_RELEASE);
	}
	rt_unlock(&c->lock);
	if (!d)
		set_errmsg("gort_ctx_done: out of memory");
	return d;
}

gort_error *gort_ctx_err(gort_ctx *ctx)
{
	gort_ctx *c = ctx ? ctx->cancel_ctx : NULL;

	return c ? __atomic_load_n(&c->err, __ATOMIC_ACQUIRE) : NULL;
}

void *gort_ctx_value(gort_ctx *ctx, const void *key)
{
	for (; ctx; ctx = ctx->parent)
		if (ctx->type == CTX_VALUE && ctx->key == key)
			return ctx->value;
	return NULL;
}

int64_t gort_ctx_deadline(gort_ctx *ctx)
{
	return ctx ? ctx->deadline : GORT_FOREVER;
}

/* ---- the internal after-cancel hook (context.h) ---- */

bool ctx_after_cancel(gort_ctx *ctx, struct ctx_waiter *w)
{
	gort_ctx *c = ctx ? ctx->cancel_ctx : NULL;

	w->owner = c;
	w->prev = NULL;
	w->next = NULL;
	__atomic_store_n(&w->state, CTXW_IDLE, __ATOMIC_RELAXED);
	if (!c)
		return true; /* never cancelled: nothing to register */
	rt_lock(&c->lock);
	if (__atomic_load_n(&c->err, __ATOMIC_RELAXED)) {
		rt_unlock(&c->lock);
		w->owner = NULL;
		return false;
	}
	w->next = c->waiters;
	if (w->next)
		w->next->prev = w;
	c->waiters = w;
	__atomic_store_n(&w->state, CTXW_LINKED, __ATOMIC_RELAXED);
	rt_unlock(&c->lock);
	return true;
}

bool ctx_stop_after(gort_ctx *ctx, struct ctx_waiter *w)
{
	gort_ctx *c = w->owner;
	int spins = 0;

	(void)ctx; /* w knows where it is registered (ctx or an ancestor) */
	if (!c)
		return true;
	rt_lock(&c->lock);
	if (__atomic_load_n(&w->state, __ATOMIC_RELAXED) == CTXW_LINKED) {
		if (w->prev)
			w->prev->next = w->next;
		else
			c->waiters = w->next;
		if (w->next)
			w->next->prev = w->prev;
		__atomic_store_n(&w->state, CTXW_IDLE, __ATOMIC_RELAXED);
		rt_unlock(&c->lock);
		w->owner = NULL;
		return true;
	}
	rt_unlock(&c->lock);
	/* A cancel took w: its fn is short (it takes a lock and wakes someone),
	 * so spin, then yield (the canceller may be a goroutine queued behind
	 * us on this proc, or a preempted thread). */
	while (__atomic_load_n(&w->state, __ATOMIC_ACQUIRE) != CTXW_DONE) {
		if (++spins < 100)
			cpu_relax();
		else
			gort_yield();
	}
	w->owner = NULL;
	return false;
}
