/* SPDX-License-Identifier: MIT */
/*
 * Channels (Go's hchan). Shared by chan.c (send, receive, close) and
 * select.c.
 *
 * Invariants, all under c->lock:
 * - count > 0 implies recvq holds no live waiter, and count < cap implies
 *   sendq holds none (a waiter is only queued when the buffer cannot serve
 *   it); for an unbuffered channel a live waiter on one queue means the
 *   other is empty of live waiters.
 * - A waiter of a select is queued on every channel of the select; the
 *   first waker to win the select's done flag (a CAS) owns it, and every
 *   other waker skips its sudogs (they are dequeued as stale).
 * - A waker takes the sudog off the queue, copies the element and sets
 *   success under the lock, and wakes the waiter after dropping it: the
 *   waiter reads what the waker wrote only after being woken.
 */
#ifndef GORT_CHAN_H
#define GORT_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lock.h"
#include "waiter.h"

/* One blocked operation (or select) of one goroutine or foreign thread. */
struct chan_waiter {
	struct waiter wt;
	uint32_t select_done; /* select only: 0 until a case (or the deadline) wins */
	bool is_select;
	struct sudog *fired; /* select: the sudog that won, NULL for the deadline */
	uint32_t timer_lost; /* select: the deadline timer ran and lost the race */
};

/* A waiter's entry on one channel's queue (Go's sudog). */
struct sudog {
	struct sudog *next, *prev;
	struct chan_waiter *cw;
	struct gort_chan *c;
	void *elem; /* send: the value; receive: the destination (may be NULL) */
	int case_index;
	bool queued;  /* on c's queue (a stale select entry may already be off it) */
	bool success; /* set by the waker: a value passed (false: closed) */
};

struct waitq {
	struct sudog *first, *last;
};

struct gort_chan {
	struct rt_lock lock;
	uint32_t closed; /* written under lock; read racily by the try fast paths */
	uint32_t refs;	 /* atomic: the creator's plus runtime holders' (timers) */
	size_t elem_size;
	size_t cap;
	size_t count; /* elements in buf */
	size_t sendx, recvx;
	struct waitq recvq, sendq;
	char *buf;
};

void waitq_push(struct waitq *q, struct sudog *sg);
void waitq_unlink(struct waitq *q, struct sudog *sg);
/* Pops the first live waiter, claiming its select if it is one. */
struct sudog *waitq_dequeue(struct waitq *q);

/* c locked, sg dequeued from c->recvq: hands it the value at src. */
void chan_send_direct(struct gort_chan *c, struct sudog *sg, const void *src);
/* c locked, sg dequeued from c->sendq: takes a value into dst. */
void chan_recv_direct(struct gort_chan *c, struct sudog *sg, void *dst);
void chan_buf_put(struct gort_chan *c, const void *src);
void chan_buf_take(struct gort_chan *c, void *dst);
void chan_wake(struct sudog *sg);
void chan_closed_misuse(const char *what);

/* Runtime holders (timers, contexts) of a channel. */
void chan_ref(struct gort_chan *c);
void chan_unref(struct gort_chan *c);

#endif
