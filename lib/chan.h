/* SPDX-License-Identifier: MIT */
/*
 * Channels. Shared by chan.c (send, receive, close) and select.c.
 *
 * An unbuffered channel is Go's hchan: everything under c->lock, and a
 * sender that finds a waiting receiver copies straight into the receiver's
 * destination (and vice versa).
 *
 * A buffered channel keeps its elements in a lock-free ring (Vyukov's
 * bounded MPMC queue): a send or receive that neither finds the ring full
 * or empty nor has anyone to wake takes no lock at all, which is where
 * Go's channels pay one lock per operation. The lock guards only the wait
 * queues. The handshake with waiters is Dekker's, every step seq_cst:
 *   a waiter   pushes itself on its queue (q->n++, then a seq_cst RMW on
 *              it: chan_waiter_fence), then re-reads the ring;
 *   an operator claims its ring slot (CAS), then reads the other queue's n;
 * so either the waiter's re-try sees the slot, or the operator sees the
 * waiter and wakes it (it then re-tries: sg->retry). A sender that finds a
 * receiver waiting on an empty ring hands it the value directly.
 * Closing sets CHAN_CLOSED in sendpos: a send that has claimed a slot
 * before it completes; none can claim one after. Receivers drain the ring,
 * then see the channel closed.
 *
 * Select: a waiter of a select is queued on every channel of the select;
 * the first waker to win the select's done flag (a CAS) owns it, and every
 * other waker skips its sudogs (dequeued as stale). A waker takes the sudog
 * off the queue, copies the element (direct handoff) or sets retry, under
 * the lock, and wakes the waiter after dropping it.
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
	bool success; /* set by the waker: a value passed directly */
	bool retry;   /* set by the waker: the ring changed, try again */
};

struct waitq {
	struct sudog *first, *last;
	uint32_t n; /* entries; written under the lock, read racily (Dekker) */
};

#define CHAN_CLOSED (1ULL << 63)

/* A ring slot: seq says whose turn the slot is (Vyukov), then the element. */
struct chan_slot {
	uint64_t seq;
	char elem[];
};

struct gort_chan {
	/* Buffered only, each on its own cache line: claimed by CAS. */
	uint64_t sendpos __attribute__((aligned(64))); /* | CHAN_CLOSED */
	uint64_t recvpos __attribute__((aligned(64)));
	struct rt_lock lock __attribute__((aligned(64)));
	uint32_t closed; /* under lock; read racily by fast paths */
	uint32_t refs;	 /* atomic: the creator's plus runtime holders' (timers) */
	size_t elem_size;
	size_t cap;
	size_t slot_size;
	size_t ring_size; /* slots: cap, but 2 for cap 1 */
	uint64_t mask;	  /* ring_size - 1 when that is a power of two, else 0 */
	struct waitq recvq, sendq;
	char *ring;
};

void waitq_push(struct waitq *q, struct sudog *sg);
void waitq_unlink(struct waitq *q, struct sudog *sg);
/* Pops the first live waiter, claiming its select if it is one. */
struct sudog *waitq_dequeue(struct waitq *q);

enum chan_op_result {
	CHAN_DONE,   /* the operation happened */
	CHAN_BLOCK,  /* it would block */
	CHAN_CLOSED_ /* send: the channel is closed */
};

/*
 * c locked. Try a send of src (receive into dst) once. On CHAN_DONE, *wake
 * is a waiter to wake and *notify a queue to look at (chan_notify) once the
 * lock is dropped, or NULL. recv sets *ok (false: closed and drained).
 */
enum chan_op_result chan_send_locked(struct gort_chan *c, const void *src, struct sudog **wake,
				     struct waitq **notify);
enum chan_op_result chan_recv_locked(struct gort_chan *c, void *dst, bool *ok, struct sudog **wake,
				     struct waitq **notify);
/* The waiter's half of the Dekker handshake (buffered channels): orders its
 * push on q before its re-read of the ring. */
void chan_waiter_fence(struct waitq *q);
/* c locked, a sudog of ours just queued on c: true if the ring changed so
 * that the operation could now proceed (the waiter must re-try, not park). */
bool chan_ready_locked(struct gort_chan *c, int dir);
/* After a ring operation: wakes one waiter of q (if any) to re-try. */
void chan_notify(struct gort_chan *c, struct waitq *q);
void chan_wake(struct sudog *sg);
/* What a *_locked operation left to do once the lock is dropped. */
void chan_complete(struct gort_chan *c, struct sudog *wake, struct waitq *notify);
void chan_closed_misuse(const char *what);

/* Runtime holders (timers, contexts) of a channel. */
void chan_ref(struct gort_chan *c);
void chan_unref(struct gort_chan *c);

#endif
