// SPDX-License-Identifier: MIT
/*
 * Channels: Go's hchan design. A lock per channel, a ring buffer, and two
 * queues of waiters. A sender that finds a waiting receiver copies straight
 * into the receiver's destination and readies it into the sender's runnext
 * (Go's direct handoff), so a ping-pong costs one switch per message.
 */
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "probes.h"
#include "runtime.h"

#define CHAN_MAX_ELEM 65536
#define CHAN_MAX_BUF (1UL << 30)

void waitq_push(struct waitq *q, struct sudog *sg)
{
	sg->next = NULL;
	sg->prev = q->last;
	if (q->last)
		q->last->next = sg;
	else
		__atomic_store_n(&q->first, sg, __ATOMIC_RELAXED); /* racy readers: try fast paths */
	q->last = sg;
	sg->queued = true;
}

void waitq_unlink(struct waitq *q, struct sudog *sg)
{
	if (sg->prev)
		sg->prev->next = sg->next;
	else
		__atomic_store_n(&q->first, sg->next, __ATOMIC_RELAXED);
	if (sg->next)
		sg->next->prev = sg->prev;
	else
		q->last = sg->prev;
	sg->next = sg->prev = NULL;
	sg->queued = false;
}

struct sudog *waitq_dequeue(struct waitq *q)
{
	struct sudog *sg;

	while ((sg = q->first)) {
		struct chan_waiter *cw = sg->cw;
		uint32_t zero = 0;

		waitq_unlink(q, sg);
		if (!cw->is_select)
			return sg;
		/* A select waits on several channels; only one may win it. A
		 * loser's entry is stale: drop it and look further. */
		if (__atomic_compare_exchange_n(&cw->select_done, &zero, 1, false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED)) {
			cw->fired = sg;
			return sg;
		}
	}
	return NULL;
}

static inline void elem_copy(const struct gort_chan *c, void *dst, const void *src)
{
	if (dst && c->elem_size)
		memcpy(dst, src, c->elem_size);
}

static inline void elem_zero(const struct gort_chan *c, void *dst)
{
	if (dst && c->elem_size)
		memset(dst, 0, c->elem_size);
}

static inline char *buf_slot(const struct gort_chan *c, size_t i)
{
	return c->buf + i * c->elem_size;
}

void chan_buf_put(struct gort_chan *c, const void *src)
{
	if (c->elem_size)
		memcpy(buf_slot(c, c->sendx), src, c->elem_size);
	if (++c->sendx == c->cap)
		c->sendx = 0;
	__atomic_store_n(&c->count, c->count + 1, __ATOMIC_RELAXED);
}

void chan_buf_take(struct gort_chan *c, void *dst)
{
	char *slot = buf_slot(c, c->recvx);

	elem_copy(c, dst, slot);
	if (c->elem_size)
		memset(slot, 0, c->elem_size);
	if (++c->recvx == c->cap)
		c->recvx = 0;
	__atomic_store_n(&c->count, c->count - 1, __ATOMIC_RELAXED);
}

void chan_send_direct(struct gort_chan *c, struct sudog *sg, const void *src)
{
	elem_copy(c, sg->elem, src);
	sg->success = true;
}

void chan_recv_direct(struct gort_chan *c, struct sudog *sg, void *dst)
{
	if (c->cap == 0) {
		elem_copy(c, dst, sg->elem);
	} else {
		/* The buffer is full (a sender waits): take its head and put
		 * the sender's value at the tail, which is the same slot. */
		char *slot = buf_slot(c, c->recvx);

		elem_copy(c, dst, slot);
		if (c->elem_size)
			memcpy(slot, sg->elem, c->elem_size);
		if (++c->recvx == c->cap)
			c->recvx = 0;
		c->sendx = c->recvx;
	}
	sg->success = true;
}

void chan_wake(struct sudog *sg)
{
	waiter_wake(&sg->cw->wt);
}

void chan_closed_misuse(const char *what)
{
	if (config.panic_closed)
		gort_fatal("%s (GORTDEBUG=panicclosed=1)", what);
}

gort_chan *gort_chan_make(size_t elem_size, size_t cap)
{
	struct gort_chan *c;

	if (elem_size > CHAN_MAX_ELEM) {
		set_errmsg("gort_chan_make: element size %zu is above %d", elem_size,
			   CHAN_MAX_ELEM);
		return NULL;
	}
	if (cap > CHAN_MAX_BUF || (elem_size && cap > CHAN_MAX_BUF / elem_size)) {
		set_errmsg("gort_chan_make: buffer of %zu x %zu bytes is above 1 GiB", cap,
			   elem_size);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c && cap && elem_size) {
		c->buf = calloc(cap, elem_size);
		if (!c->buf) {
			free(c);
			c = NULL;
		}
	}
	if (!c) {
		set_errmsg("gort_chan_make: out of memory");
		return NULL;
	}
	c->elem_size = elem_size;
	c->cap = cap;
	c->refs = 1;
	return c;
}

void chan_ref(struct gort_chan *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
}

void chan_unref(struct gort_chan *c)
{
	if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		free(c->buf);
		free(c);
	}
}

void gort_chan_free(gort_chan *c)
{
	if (c)
		chan_unref(c);
}

/* Blocks forever: an operation on a nil channel. */
static void block_forever(enum wait_reason reason)
{
	struct waiter wt;
	struct rt_lock never = RT_LOCK_INIT;

	waiter_init(&wt);
	rt_lock(&never);
	waiter_block(&wt, reason, &never);
	gort_fatal("a goroutine blocked on a nil channel was woken");
}

static void block_on(struct gort_chan *c, struct chan_waiter *cw, struct sudog *sg, int dir,
		     enum wait_reason reason)
{
	int64_t goid = cw->wt.g ? cw->wt.g->id : 0;

	GORT_PROBE3(chan__block, (uintptr_t)c, dir, goid);
	waiter_block(&cw->wt, reason, &c->lock);
	GORT_PROBE3(chan__unblock, (uintptr_t)c, dir, goid);
	(void)sg;
}

static int chan_send(struct gort_chan *c, const void *elem, bool block)
{
	struct chan_waiter cw;
	struct sudog sg, *r;

	if (!c) {
		if (!block)
			return GORT_EAGAIN;
		block_forever(WAIT_CHAN_SEND_NIL);
	}
	/* Go's fast path: a full channel that is not closed fails a
	 * non-blocking send without the lock (both reads may be stale, but
	 * there was a moment when the channel was open and full). */
	if (!block && !__atomic_load_n(&c->closed, __ATOMIC_RELAXED) &&
	    ((c->cap == 0 && !__atomic_load_n(&c->recvq.first, __ATOMIC_RELAXED)) ||
	     (c->cap > 0 && __atomic_load_n(&c->count, __ATOMIC_RELAXED) == c->cap)))
		return GORT_EAGAIN;

	rt_lock(&c->lock);
	if (c->closed) {
		rt_unlock(&c->lock);
		chan_closed_misuse("send on closed channel");
		set_errmsg("gort_chan_send: send on closed channel");
		return GORT_ECLOSED;
	}
	r = waitq_dequeue(&c->recvq);
	if (r) {
		chan_send_direct(c, r, elem);
		rt_unlock(&c->lock);
		chan_wake(r);
		return 0;
	}
	if (c->count < c->cap) {
		chan_buf_put(c, elem);
		rt_unlock(&c->lock);
		return 0;
	}
	if (!block) {
		rt_unlock(&c->lock);
		return GORT_EAGAIN;
	}
	waiter_init(&cw.wt);
	cw.is_select = false;
	cw.select_done = 0;
	cw.fired = NULL;
	cw.timer_lost = 0;
	sg.cw = &cw;
	sg.c = c;
	sg.elem = (void *)elem;
	sg.case_index = 0;
	sg.success = false;
	waitq_push(&c->sendq, &sg);
	block_on(c, &cw, &sg, GORT_SEND, WAIT_CHAN_SEND);
	if (!sg.success) {
		chan_closed_misuse("send on closed channel");
		set_errmsg("gort_chan_send: channel closed while sending");
		return GORT_ECLOSED;
	}
	return 0;
}

/* Returns 1 (a value), 0 (closed and drained) or GORT_EAGAIN. */
static int chan_recv(struct gort_chan *c, void *elem, bool block)
{
	struct chan_waiter cw;
	struct sudog sg, *s;

	if (!c) {
		if (!block)
			return GORT_EAGAIN;
		block_forever(WAIT_CHAN_RECV_NIL);
	}
	/* Go's fast path for an empty channel without the lock. The order of
	 * the reads matters: empty, then closed, then empty again, so that a
	 * value sent just before the close is not missed. */
	if (!block && ((c->cap == 0 && !__atomic_load_n(&c->sendq.first, __ATOMIC_ACQUIRE)) ||
		       (c->cap > 0 && __atomic_load_n(&c->count, __ATOMIC_ACQUIRE) == 0))) {
		if (!__atomic_load_n(&c->closed, __ATOMIC_ACQUIRE))
			return GORT_EAGAIN;
	}

	rt_lock(&c->lock);
	if (c->closed && c->count == 0) {
		rt_unlock(&c->lock);
		elem_zero(c, elem);
		return 0;
	}
	s = waitq_dequeue(&c->sendq);
	if (s) {
		chan_recv_direct(c, s, elem);
		rt_unlock(&c->lock);
		chan_wake(s);
		return 1;
	}
	if (c->count > 0) {
		chan_buf_take(c, elem);
		rt_unlock(&c->lock);
		return 1;
	}
	if (!block) {
		rt_unlock(&c->lock);
		return GORT_EAGAIN;
	}
	waiter_init(&cw.wt);
	cw.is_select = false;
	cw.select_done = 0;
	cw.fired = NULL;
	cw.timer_lost = 0;
	sg.cw = &cw;
	sg.c = c;
	sg.elem = elem;
	sg.case_index = 0;
	sg.success = false;
	waitq_push(&c->recvq, &sg);
	block_on(c, &cw, &sg, GORT_RECV, WAIT_CHAN_RECV);
	if (!sg.success) {
		elem_zero(c, elem);
		return 0;
	}
	return 1;
}

int gort_chan_send(gort_chan *c, const void *elem)
{
	sched_safe_point();
	return chan_send(c, elem, true);
}

bool gort_chan_recv(gort_chan *c, void *elem)
{
	sched_safe_point();
	return chan_recv(c, elem, true) == 1;
}

int gort_chan_try_send(gort_chan *c, const void *elem)
{
	return chan_send(c, elem, false);
}

int gort_chan_try_recv(gort_chan *c, void *elem)
{
	return chan_recv(c, elem, false);
}

int gort_chan_close(gort_chan *c)
{
	struct sudog *list = NULL, *sg;

	if (!c) {
		chan_closed_misuse("close of nil channel");
		set_errmsg("gort_chan_close: close of nil channel");
		return GORT_EINVAL;
	}
	rt_lock(&c->lock);
	if (c->closed) {
		rt_unlock(&c->lock);
		chan_closed_misuse("close of closed channel");
		set_errmsg("gort_chan_close: close of closed channel");
		return GORT_ECLOSED;
	}
	__atomic_store_n(&c->closed, 1, __ATOMIC_RELEASE);
	/* Collect every waiter (they fail: success stays false), wake them
	 * after the lock is dropped. sg->next is free once dequeued. */
	while ((sg = waitq_dequeue(&c->recvq))) {
		elem_zero(c, sg->elem);
		sg->success = false;
		sg->next = list;
		list = sg;
	}
	while ((sg = waitq_dequeue(&c->sendq))) {
		sg->success = false;
		sg->next = list;
		list = sg;
	}
	rt_unlock(&c->lock);
	while (list) {
		sg = list;
		list = sg->next;
		chan_wake(sg);
	}
	return 0;
}

size_t gort_chan_len(const gort_chan *c)
{
	return c ? __atomic_load_n(&c->count, __ATOMIC_RELAXED) : 0;
}

size_t gort_chan_cap(const gort_chan *c)
{
	return c ? c->cap : 0;
}

size_t gort_chan_elem_size(const gort_chan *c)
{
	return c ? c->elem_size : 0;
}
