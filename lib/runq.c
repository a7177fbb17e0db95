// SPDX-License-Identifier: MIT
/*
 * Per-proc run queues (Go's runqput/runqget/runqsteal) and the global queue.
 *
 * A proc's ring is written only by the worker holding the proc (tail), and
 * consumed by it or by thieves with a CAS on head. runnext holds the goroutine
 * readied most recently by this proc's goroutine: it runs next, inheriting the
 * rest of the time slice, which keeps communicating pairs on one CPU.
 */
#include "runq.h"

#include "probes.h"
#include "runtime.h"
#include "sanitizer.h"

#define LOAD_ACQ(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define LOAD_RLX(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE_REL(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

bool runq_empty(struct proc *p)
{
	/* Same reasoning as Go's runqempty: re-read tail to get a consistent pair. */
	for (;;) {
		uint32_t head = LOAD_ACQ(&p->runq.head);
		uint32_t tail = LOAD_ACQ(&p->runq.tail);
		struct goroutine *next = LOAD_ACQ(&p->runnext);

		if (tail == LOAD_ACQ(&p->runq.tail))
			return head == tail && next == NULL;
	}
}

uint32_t runq_len(struct proc *p)
{
	return LOAD_ACQ(&p->runq.tail) - LOAD_ACQ(&p->runq.head);
}

/* Moves half of a full local ring plus g to the global queue. Owner only. */
static bool runq_put_slow(struct proc *p, struct goroutine *g, uint32_t head, uint32_t tail)
{
	struct goroutine *batch[RUNQ_SIZE / 2 + 1];
	uint32_t n = (tail - head) / 2;

	for (uint32_t i = 0; i < n; i++)
		batch[i] = p->runq.ring[(head + i) % RUNQ_SIZE];
	if (!__atomic_compare_exchange_n(&p->runq.head, &head, head + n, false, __ATOMIC_RELEASE,
					 __ATOMIC_RELAXED))
		return false;
	batch[n] = g;
	for (uint32_t i = 0; i <= n; i++)
		global_runq_put(batch[i]);
	return true;
}

void runq_put(struct proc *p, struct goroutine *g, bool next)
{
	if (next) {
		struct goroutine *old = __atomic_exchange_n(&p->runnext, g, __ATOMIC_ACQ_REL);

		if (!old)
			return;
		g = old; /* kick the old runnext to the tail of the ring */
	}
	for (;;) {
		uint32_t head = LOAD_ACQ(&p->runq.head);
		uint32_t tail = LOAD_RLX(&p->runq.tail);

		if (tail - head < RUNQ_SIZE) {
			/* Atomic (relaxed): a thief may read a stale slot it will
			 * then fail to claim; a plain store would be a data race. */
			__atomic_store_n(&p->runq.ring[tail % RUNQ_SIZE], g, __ATOMIC_RELAXED);
			STORE_REL(&p->runq.tail, tail + 1);
			return;
		}
		if (runq_put_slow(p, g, head, tail))
			return;
	}
}

struct goroutine *runq_get(struct proc *p, bool *inherit)
{
	struct goroutine *next = LOAD_RLX(&p->runnext);

	if (next && __atomic_compare_exchange_n(&p->runnext, &next, NULL, false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED)) {
		*inherit = true;
		return next;
	}
	*inherit = false;
	for (;;) {
		uint32_t head = LOAD_ACQ(&p->runq.head);
		uint32_t tail = LOAD_RLX(&p->runq.tail);
		struct goroutine *g;

		if (tail == head)
			return NULL;
		g = LOAD_RLX(&p->runq.ring[head % RUNQ_SIZE]);
		if (__atomic_compare_exchange_n(&p->runq.head, &head, head + 1, false,
						__ATOMIC_RELEASE, __ATOMIC_RELAXED))
			return g;
	}
}

/*
 * Takes half of victim's goroutines into batch (Go's runqgrab). With
 * steal_next, also takes the victim's runnext, but only after giving a running
 * victim a moment to schedule it itself (it is about to).
 */
static uint32_t runq_grab(struct proc *victim, struct goroutine **batch, uint32_t batch_head,
			  bool steal_next)
{
	for (;;) {
		uint32_t head = LOAD_ACQ(&victim->runq.head);
		uint32_t tail = LOAD_ACQ(&victim->runq.tail);
		uint32_t n = tail - head;

		n = n - n / 2;
		if (n == 0) {
			struct goroutine *next;

			if (!steal_next)
				return 0;
			next = LOAD_ACQ(&victim->runnext);
			if (!next)
				return 0;
			if (LOAD_RLX(&victim->status) == P_RUNNING) {
				/* Short: a long PAUSE run makes a VM exit. */
				for (int i = 0; i < 30; i++)
					cpu_relax();
			}
			if (!__atomic_compare_exchange_n(&victim->runnext, &next, NULL, false,
							 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
				continue;
			__atomic_store_n(&batch[batch_head % RUNQ_SIZE], next, __ATOMIC_RELAXED);
			return 1;
		}
		if (n > RUNQ_SIZE / 2) /* read an inconsistent head/tail pair */
			continue;
		for (uint32_t i = 0; i < n; i++)
			__atomic_store_n(&batch[(batch_head + i) % RUNQ_SIZE],
					 LOAD_RLX(&victim->runq.ring[(head + i) % RUNQ_SIZE]),
					 __ATOMIC_RELAXED);
		if (__atomic_compare_exchange_n(&victim->runq.head, &head, head + n, false,
						__ATOMIC_RELEASE, __ATOMIC_RELAXED))
			return n;
	}
}

struct goroutine *runq_steal(struct proc *p, struct proc *victim, bool steal_next)
{
	uint32_t tail = LOAD_RLX(&p->runq.tail);
	uint32_t n = runq_grab(victim, p->runq.ring, tail, steal_next);
	struct goroutine *g;

	if (n == 0)
		return NULL;
	n--;
	g = p->runq.ring[(tail + n) % RUNQ_SIZE];
	if (n) {
		STORE_REL(&p->runq.tail, tail + n);
	}
	__atomic_add_fetch(&sched.n_steals, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&sched.n_stolen, n + 1, __ATOMIC_RELAXED);
	GORT_PROBE3(sched__steal, victim->id, p->id, n + 1);
	return g;
}

/* ---- the global queue ---- */

void global_runq_put(struct goroutine *g)
{
	sanitizer_release(g);
	cds_wfcq_node_init(&g->gq_node);
	cds_wfcq_enqueue(&sched.gq_head, &sched.gq_tail, &g->gq_node);
	/* seq_cst: orders the count before sched_wakep's loads (Dekker with
	 * find_runnable's re-check after it stops spinning). */
	__atomic_add_fetch(&sched.gq_size, 1, __ATOMIC_SEQ_CST);
}

/*
 * Takes up to max goroutines from the global queue: returns the first, puts
 * the rest on p's ring (Go's globrunqget: a fair share, at most half a ring).
 */
struct goroutine *global_runq_get(struct proc *p, int max)
{
	long size = __atomic_load_n(&sched.gq_size, __ATOMIC_ACQUIRE);
	long n, taken = 0;
	struct goroutine *first = NULL;

	if (size <= 0)
		return NULL;
	n = size / __atomic_load_n(&sched.maxprocs, __ATOMIC_RELAXED) + 1;
	if (n > size)
		n = size;
	if (max > 0 && n > max)
		n = max;
	if (n > RUNQ_SIZE / 2)
		n = RUNQ_SIZE / 2;
	/* One dequeuer at a time (the queue's dequeue lock); enqueuers never wait.
	 * A dequeue spins only for an enqueuer caught between its two stores. */
	cds_wfcq_dequeue_lock(&sched.gq_head, &sched.gq_tail);
	for (long i = 0; i < n; i++) {
		struct cds_wfcq_node *node;
		struct goroutine *g;

		node = __cds_wfcq_dequeue_blocking(&sched.gq_head, &sched.gq_tail);
		if (!node)
			break;
		__atomic_sub_fetch(&sched.gq_size, 1, __ATOMIC_RELAXED);
		taken++;
		g = caa_container_of(node, struct goroutine, gq_node);
		sanitizer_acquire(g);
		if (!first)
			first = g;
		else
			runq_put(p, g, false);
	}
	cds_wfcq_dequeue_unlock(&sched.gq_head, &sched.gq_tail);
	if (taken)
		__atomic_add_fetch(&sched.n_global_gets, taken, __ATOMIC_RELAXED);
	return first;
}
