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
		__atomic_store_n(&q->first, sg,
				 __ATOMIC_RELAXED); /* racy readers: try fast paths */
	q->last = sg;
	sg->queued = true;
	/* Relaxed: a buffered channel's waiter then orders it with
	 * chan_waiter_fence() before re-reading the ring (see chan.h). */
	__atomic_store_n(&q->n, q->n + 1, __ATOMIC_RELAXED);
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
	__atomic_store_n(&q->n, q->n - 1, __ATOMIC_RELAXED);
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

static inline void elem_copy(size_t size, void *dst, const void *src)
{
	if (!dst)
		return;
	/* Constant sizes compile to plain moves; most channels carry words. */
	switch (size) {
	case 0:
		break;
	case 4:
		memcpy(dst, src, 4);
		break;
	case 8:
		memcpy(dst, src, 8);
		break;
	case 16:
		memcpy(dst, src, 16);
		break;
	default:
		memcpy(dst, src, size);
	}
}

static inline void elem_zero(const struct gort_chan *c, void *dst)
{
	if (dst && c->elem_size)
		memset(dst, 0, c->elem_size);
}

/* ---- the lock-free ring of a buffered channel ---- */

enum ring_result {
	RING_OK,
	RING_FULL,
	RING_EMPTY,
	RING_CLOSED
};

static inline struct chan_slot *ring_slot(const struct gort_chan *c, uint64_t pos)
{
	uint64_t i = c->mask ? pos & c->mask : pos % c->ring_size;

	return (struct chan_slot *)(c->ring + i * c->slot_size);
}

/* Another thread is between claiming a slot and publishing it: a few
 * instructions, unless the kernel preempted it. */
static void ring_backoff(int *spins)
{
	if (++*spins < 64)
		cpu_relax();
	else
		sched_yield();
}

static enum ring_result ring_send(struct gort_chan *c, const void *src)
{
	int spins = 0;

	for (;;) {
		uint64_t pos = __atomic_load_n(&c->sendpos, __ATOMIC_RELAXED);
		struct chan_slot *s;
		int64_t dif;

		if (pos & CHAN_CLOSED)
			return RING_CLOSED;
		/* Capacity 1 runs on a ring of 2 (the sequence numbers need
		 * two slots): the second stays unused. */
		if (c->ring_size != c->cap &&
		    pos - __atomic_load_n(&c->recvpos, __ATOMIC_ACQUIRE) >= c->cap)
			return RING_FULL;
		s = ring_slot(c, pos);
		dif = (int64_t)(__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) - pos);
		if (dif == 0) {
			/* seq_cst: one side of the Dekker handshake (chan.h). */
			if (__atomic_compare_exchange_n(&c->sendpos, &pos, pos + 1, true,
							__ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
				elem_copy(c->elem_size, s->elem, src);
				__atomic_store_n(&s->seq, pos + 1, __ATOMIC_RELEASE);
				return RING_OK;
			}
		} else if (dif < 0) {
			/* The slot still holds the element of one lap ago: full,
			 * unless its receiver has claimed it and is copying out. */
			if (pos - __atomic_load_n(&c->recvpos, __ATOMIC_ACQUIRE) >= c->cap)
				return RING_FULL;
			ring_backoff(&spins);
		}
	}
}

static enum ring_result ring_recv(struct gort_chan *c, void *dst)
{
	int spins = 0;

	for (;;) {
		uint64_t pos = __atomic_load_n(&c->recvpos, __ATOMIC_RELAXED);
		struct chan_slot *s = ring_slot(c, pos);
		int64_t dif = (int64_t)(__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) - (pos + 1));

		if (dif == 0) {
			if (__atomic_compare_exchange_n(&c->recvpos, &pos, pos + 1, true,
							__ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
				elem_copy(c->elem_size, dst, s->elem);
				__atomic_store_n(&s->seq, pos + c->ring_size, __ATOMIC_RELEASE);
				return RING_OK;
			}
		} else if (dif < 0) {
			/* Empty, unless a sender has claimed the slot and is
			 * still copying in. */
			if ((__atomic_load_n(&c->sendpos, __ATOMIC_ACQUIRE) & ~CHAN_CLOSED) == pos)
				return RING_EMPTY;
			ring_backoff(&spins);
		}
	}
}

static inline uint64_t ring_len(const struct gort_chan *c)
{
	uint64_t r = __atomic_load_n(&c->recvpos, __ATOMIC_SEQ_CST);
	uint64_t s = __atomic_load_n(&c->sendpos, __ATOMIC_SEQ_CST) & ~CHAN_CLOSED;

	return s > r ? (s - r > c->cap ? c->cap : s - r) : 0;
}

/* ---- operations under the lock (also used by select) ---- */

static void handoff(struct gort_chan *c, struct sudog *sg, void *dst, const void *src)
{
	elem_copy(c->elem_size, dst, src);
	sg->success = true;
}

enum chan_op_result chan_send_locked(struct gort_chan *c, const void *src, struct sudog **wake,
				     struct waitq **notify)
{
	struct sudog *r;

	*wake = NULL;
	*notify = NULL;
	if (c->closed)
		return CHAN_CLOSED_;
	/* A waiting receiver only ever waits on an empty ring: hand it the
	 * value (an unbuffered channel has no ring). */
	if ((c->cap == 0 || ring_len(c) == 0) && (r = waitq_dequeue(&c->recvq))) {
		handoff(c, r, r->elem, src);
		*wake = r;
		/* We may have been woken to use a free slot, and left it free:
		 * pass that on to the next waiting sender, if any. */
		if (c->cap)
			*notify = &c->sendq;
		return CHAN_DONE;
	}
	if (c->cap == 0)
		return CHAN_BLOCK;
	switch (ring_send(c, src)) {
	case RING_OK:
		*notify = &c->recvq;
		return CHAN_DONE;
	case RING_CLOSED:
		return CHAN_CLOSED_;
	default:
		return CHAN_BLOCK;
	}
}

enum chan_op_result chan_recv_locked(struct gort_chan *c, void *dst, bool *ok, struct sudog **wake,
				     struct waitq **notify)
{
	struct sudog *s;

	*wake = NULL;
	*notify = NULL;
	if (c->cap == 0) {
		s = waitq_dequeue(&c->sendq);
		if (s) {
			handoff(c, s, dst, s->elem);
			*wake = s;
			*ok = true;
			return CHAN_DONE;
		}
	} else {
		for (;;) {
			uint64_t sp;

			if (ring_recv(c, dst) == RING_OK) {
				*notify = &c->sendq;
				*ok = true;
				return CHAN_DONE;
			}
			/* Empty: closed and drained, unless a send claimed a
			 * slot just before the close (then take it). */
			sp = __atomic_load_n(&c->sendpos, __ATOMIC_ACQUIRE);
			if (!(sp & CHAN_CLOSED))
				return CHAN_BLOCK;
			if ((sp & ~CHAN_CLOSED) == __atomic_load_n(&c->recvpos, __ATOMIC_ACQUIRE))
				break;
		}
	}
	if (!c->closed)
		return CHAN_BLOCK;
	elem_zero(c, dst);
	*ok = false;
	return CHAN_DONE;
}

void chan_waiter_fence(struct waitq *q)
{
	/* A seq_cst read-modify-write is a full barrier (and, unlike a fence,
	 * something TSan understands). */
	__atomic_fetch_add(&q->n, 0, __ATOMIC_SEQ_CST);
}

bool chan_ready_locked(struct gort_chan *c, int dir)
{
	if (c->cap == 0 || c->closed)
		return c->closed; /* unbuffered: everything else happens under the lock */
	if (dir == GORT_RECV)
		return ring_len(c) > 0;
	return ring_len(c) < c->cap;
}

void chan_notify(struct gort_chan *c, struct waitq *q)
{
	struct sudog *sg;

	/* seq_cst after the ring operation's seq_cst CAS: pairs with the
	 * waiter's seq_cst push and re-check (see chan.h). */
	if (__atomic_load_n(&q->n, __ATOMIC_SEQ_CST) == 0)
		return;
	rt_lock(&c->lock);
	sg = waitq_dequeue(q);
	if (sg) {
		sg->success = false;
		sg->retry = true;
	}
	rt_unlock(&c->lock);
	if (sg)
		chan_wake(sg);
}

void chan_wake(struct sudog *sg)
{
	waiter_wake(&sg->cw->wt);
}

void chan_complete(struct gort_chan *c, struct sudog *wake, struct waitq *notify)
{
	if (wake)
		chan_wake(wake);
	if (notify)
		chan_notify(c, notify);
}

void chan_closed_misuse(const char *what)
{
	if (config.panic_closed)
		gort_fatal("%s (GORTDEBUG=panicclosed=1)", what);
}

gort_chan *gort_chan_make(size_t elem_size, size_t cap)
{
	struct gort_chan *c;
	size_t slot_size = (sizeof(struct chan_slot) + elem_size + 7) & ~(size_t)7;

	if (elem_size > CHAN_MAX_ELEM) {
		set_errmsg("gort_chan_make: element size %zu is above %d", elem_size,
			   CHAN_MAX_ELEM);
		return NULL;
	}
	size_t ring_size = cap == 1 ? 2 : cap;

	if (cap > CHAN_MAX_BUF / slot_size) {
		set_errmsg("gort_chan_make: buffer of %zu x %zu bytes is above 1 GiB", cap,
			   elem_size);
		return NULL;
	}
	c = aligned_alloc(64, sizeof(*c));
	if (c) {
		memset(c, 0, sizeof(*c));
		if (cap) {
			c->ring = calloc(ring_size, slot_size);
			if (!c->ring) {
				free(c);
				c = NULL;
			}
		}
	}
	if (!c) {
		set_errmsg("gort_chan_make: out of memory");
		return NULL;
	}
	c->elem_size = elem_size;
	c->cap = cap;
	c->slot_size = slot_size;
	c->ring_size = ring_size;
	c->mask = cap && (ring_size & (ring_size - 1)) == 0 ? ring_size - 1 : 0;
	for (size_t i = 0; i < ring_size; i++)
		((struct chan_slot *)(c->ring + i * slot_size))->seq = i;
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
		free(c->ring);
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

static void sudog_init(struct sudog *sg, struct chan_waiter *cw, struct gort_chan *c, void *elem)
{
	waiter_init(&cw->wt);
	cw->is_select = false;
	cw->select_done = 0;
	cw->fired = NULL;
	cw->timer_lost = 0;
	sg->cw = cw;
	sg->c = c;
	sg->elem = elem;
	sg->case_index = 0;
	sg->success = false;
	sg->retry = false;
}

/*
 * c locked, the operation would block: queues sg, and parks unless the
 * ring changed meanwhile (the Dekker re-check). Returns with c locked when
 * the caller must re-try at once, unlocked after a wakeup.
 */
static bool block_on(struct gort_chan *c, struct chan_waiter *cw, struct sudog *sg, int dir,
		     enum wait_reason reason)
{
	struct waitq *q = dir == GORT_SEND ? &c->sendq : &c->recvq;
	int64_t goid = cw->wt.g ? cw->wt.g->id : 0;

	waitq_push(q, sg);
	if (c->cap)
		chan_waiter_fence(q);
	if (chan_ready_locked(c, dir)) {
		waitq_unlink(q, sg);
		return true;
	}
	GORT_PROBE3(chan__block, (uintptr_t)c, dir, goid);
	waiter_block(&cw->wt, reason, &c->lock);
	GORT_PROBE3(chan__unblock, (uintptr_t)c, dir, goid);
	return false;
}

static int chan_send(struct gort_chan *c, const void *elem, bool block)
{
	struct chan_waiter cw;
	struct sudog sg, *wake;
	struct waitq *notify;

	if (!c) {
		if (!block)
			return GORT_EAGAIN;
		block_forever(WAIT_CHAN_SEND_NIL);
	}
	/* Buffered, nobody waiting to be handed the value: the ring alone. */
	if (c->cap && __atomic_load_n(&c->recvq.n, __ATOMIC_RELAXED) == 0) {
		switch (ring_send(c, elem)) {
		case RING_OK:
			chan_notify(c, &c->recvq);
			return 0;
		case RING_CLOSED:
			goto closed;
		default:
			if (!block)
				return GORT_EAGAIN;
		}
	} else if (!block && c->cap == 0 && !__atomic_load_n(&c->closed, __ATOMIC_RELAXED) &&
		   __atomic_load_n(&c->recvq.n, __ATOMIC_RELAXED) == 0) {
		return GORT_EAGAIN; /* Go's lock-free fast path for a failing try */
	}

	rt_lock(&c->lock);
	for (;;) {
		switch (chan_send_locked(c, elem, &wake, &notify)) {
		case CHAN_DONE:
			rt_unlock(&c->lock);
			chan_complete(c, wake, notify);
			return 0;
		case CHAN_CLOSED_:
			rt_unlock(&c->lock);
			goto closed;
		case CHAN_BLOCK:
			break;
		}
		if (!block) {
			rt_unlock(&c->lock);
			return GORT_EAGAIN;
		}
		sudog_init(&sg, &cw, c, (void *)elem);
		if (block_on(c, &cw, &sg, GORT_SEND, WAIT_CHAN_SEND))
			continue;
		if (sg.success)
			return 0;
		if (!sg.retry)
			goto closed;
		rt_lock(&c->lock);
	}
closed:
	chan_closed_misuse("send on closed channel");
	set_errmsg("gort_chan_send: send on closed channel");
	return GORT_ECLOSED;
}

/* Returns 1 (a value), 0 (closed and drained) or GORT_EAGAIN. */
static int chan_recv(struct gort_chan *c, void *elem, bool block)
{
	struct chan_waiter cw;
	struct sudog sg, *wake;
	struct waitq *notify;
	bool ok;

	if (!c) {
		if (!block)
			return GORT_EAGAIN;
		block_forever(WAIT_CHAN_RECV_NIL);
	}
	if (c->cap) {
		if (ring_recv(c, elem) == RING_OK) {
			chan_notify(c, &c->sendq);
			return 1;
		}
		if (!block && !(__atomic_load_n(&c->sendpos, __ATOMIC_ACQUIRE) & CHAN_CLOSED))
			return GORT_EAGAIN;
	} else if (!block && __atomic_load_n(&c->sendq.n, __ATOMIC_ACQUIRE) == 0 &&
		   !__atomic_load_n(&c->closed, __ATOMIC_ACQUIRE)) {
		return GORT_EAGAIN;
	}

	rt_lock(&c->lock);
	for (;;) {
		switch (chan_recv_locked(c, elem, &ok, &wake, &notify)) {
		case CHAN_DONE:
			rt_unlock(&c->lock);
			chan_complete(c, wake, notify);
			return ok ? 1 : 0;
		default:
			break;
		}
		if (!block) {
			rt_unlock(&c->lock);
			return GORT_EAGAIN;
		}
		sudog_init(&sg, &cw, c, elem);
		if (block_on(c, &cw, &sg, GORT_RECV, WAIT_CHAN_RECV))
			continue;
		if (sg.success)
			return 1;
		if (!sg.retry) { /* closed (unbuffered) */
			elem_zero(c, elem);
			return 0;
		}
		rt_lock(&c->lock);
	}
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
	__atomic_fetch_or(&c->sendpos, CHAN_CLOSED, __ATOMIC_SEQ_CST);
	/* Wake every waiter after the lock is dropped (sg->next is free once
	 * dequeued). Senders fail; receivers of a buffered channel re-try,
	 * to drain the ring first. */
	while ((sg = waitq_dequeue(&c->recvq))) {
		sg->success = false;
		sg->retry = c->cap > 0;
		if (!sg->retry)
			elem_zero(c, sg->elem);
		sg->next = list;
		list = sg;
	}
	while ((sg = waitq_dequeue(&c->sendq))) {
		sg->success = false;
		sg->retry = false;
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
	return c && c->cap ? (size_t)ring_len(c) : 0;
}

size_t gort_chan_cap(const gort_chan *c)
{
	return c ? c->cap : 0;
}

size_t gort_chan_elem_size(const gort_chan *c)
{
	return c ? c->elem_size : 0;
}
