// SPDX-License-Identifier: MIT
/*
 * Runtime timers: per-proc 4-ary heaps (see timer.h).
 *
 * Locking: t->p names the heap that holds t and changes only under that
 * heap's lock, so whoever wants to dequeue t locks t->p and re-checks it.
 * A firing timer is popped (or, if periodic, re-queued) under the lock and
 * its function runs after the lock is dropped, with t->running set; a stop
 * that must not race with the function waits for running to clear.
 */
#include <stdlib.h>

#include "probes.h"
#include "runtime.h"
#include "timer.h"

#define HEAP_ARITY 4

void timer_init(struct timer *t, void (*fn)(struct timer *t, int64_t now), void *arg)
{
	t->when = 0;
	t->period = 0;
	t->fn = fn;
	t->arg = arg;
	t->p = NULL;
	t->idx = -1;
	t->running = 0;
	t->fn_owns = false;
	t->never_stopped = false;
}

static inline struct timer *entry_timer(struct timer_entry e)
{
	return (struct timer *)(e.tp & ~TIMER_ENTRY_NO_IDX);
}

/*
 * The heap's entries carry their timer's due time, so sifting compares
 * contiguous memory instead of chasing each timer (they live on goroutine
 * stacks, rarely in cache). Only the moved timers' idx is written, and not
 * that of timers nobody stops (sleeps): with 10,000 goroutines sleeping
 * 1-5 ms, those stores were 12 % of the CPU time, nearly all of it cache
 * misses. A pop still misses once, on the timer it runs.
 */
static void heap_set(struct timer_heap *th, int i, struct timer_entry e)
{
	th->h[i] = e;
	if (!(e.tp & TIMER_ENTRY_NO_IDX))
		entry_timer(e)->idx = i;
}

static void sift_up(struct timer_heap *th, int i)
{
	struct timer_entry e = th->h[i];

	while (i > 0) {
		int parent = (i - 1) / HEAP_ARITY;

		if (th->h[parent].when <= e.when)
			break;
		heap_set(th, i, th->h[parent]);
		i = parent;
	}
	heap_set(th, i, e);
}

static void sift_down(struct timer_heap *th, int i)
{
	struct timer_entry e = th->h[i];

	for (;;) {
		int c = i * HEAP_ARITY + 1, best = -1;

		for (int k = 0; k < HEAP_ARITY && c + k < th->n; k++)
			if (best < 0 || th->h[c + k].when < th->h[best].when)
				best = c + k;
		if (best < 0 || th->h[best].when >= e.when)
			break;
		heap_set(th, i, th->h[best]);
		i = best;
	}
	heap_set(th, i, e);
}

static void update_when0(struct timer_heap *th)
{
	__atomic_store_n(&th->when0, th->n ? th->h[0].when : 0, __ATOMIC_SEQ_CST);
}

/* th locked. */
static bool heap_push(struct timer_heap *th, struct proc *p, struct timer *t)
{
	if (th->n == th->cap) {
		int cap = th->cap ? th->cap * 2 : 64;
		struct timer_entry *h = realloc(th->h, (size_t)cap * sizeof(*h));

		if (!h)
			return false;
		th->h = h;
		th->cap = cap;
	}
	/* Atomic: lock_timer_proc() reads t->p without the lock. */
	__atomic_store_n(&t->p, p, __ATOMIC_RELEASE);
	heap_set(th, th->n++,
		 (struct timer_entry){
			 t->when, (uintptr_t)t | (t->never_stopped ? TIMER_ENTRY_NO_IDX : 0) });
	sift_up(th, th->n - 1);
	update_when0(th);
	return true;
}

/* th locked; removes entry i. */
static void heap_remove_at(struct timer_heap *th, int i)
{
	struct timer *t = entry_timer(th->h[i]);
	struct timer_entry last = th->h[--th->n];

	__atomic_store_n(&t->p, NULL, __ATOMIC_RELEASE);
	t->idx = -1;
	if (i < th->n) {
		heap_set(th, i, last);
		if (i > 0 && th->h[(i - 1) / HEAP_ARITY].when > last.when)
			sift_up(th, i);
		else
			sift_down(th, i);
	}
	update_when0(th);
}

/* th locked; t is in th, and not never_stopped. */
static void heap_remove(struct timer_heap *th, struct timer *t)
{
	if (t->never_stopped)
		gort_fatal("timer %p: stopped or reset while queued, but never_stopped", (void *)t);
	heap_remove_at(th, t->idx);
}

/* Locks the heap holding t and returns its proc, or NULL (nothing locked)
 * when t is not queued. */
static struct proc *lock_timer_proc(struct timer *t)
{
	for (;;) {
		struct proc *p = __atomic_load_n(&t->p, __ATOMIC_ACQUIRE);

		if (!p)
			return NULL;
		rt_lock(&p->timers.lock);
		if (__atomic_load_n(&t->p, __ATOMIC_RELAXED) == p)
			return p;
		rt_unlock(&p->timers.lock);
	}
}

bool timer_stop(struct timer *t)
{
	struct proc *p = lock_timer_proc(t);

	if (!p)
		return false;
	heap_remove(&p->timers, t);
	rt_unlock(&p->timers.lock);
	return true;
}

void timer_wait_idle(struct timer *t)
{
	while (__atomic_load_n(&t->running, __ATOMIC_ACQUIRE))
		cpu_relax();
}

bool timer_start(struct timer *t, int64_t when, int *err)
{
	struct worker *w = this_worker();
	struct proc *p = w ? w->proc : NULL;
	bool was = timer_stop(t);
	bool own = p != NULL;

	if (!p) {
		/* A foreign thread may be the runtime's first user (a select
		 * with a deadline): timers need the procs. */
		int n, e = gort_init();

		if (e) {
			if (err)
				*err = e;
			return was;
		}
		n = __atomic_load_n(&sched.maxprocs, __ATOMIC_ACQUIRE);
		p = sched.allp[fastrand() % (uint64_t)(n > 0 ? n : 1)];
	}
	rt_lock(&p->timers.lock);
	t->when = when;
	if (!heap_push(&p->timers, p, t)) {
		rt_unlock(&p->timers.lock);
		if (err)
			*err = GORT_ENOMEM;
		return was;
	}
	rt_unlock(&p->timers.lock);
	/* A worker holding a proc runs its timers when it next schedules or
	 * before it sleeps; anyone else must make sure some worker looks. */
	if (!own)
		timers_wake(when);
	return was;
}

/* Pops (or re-queues) one due timer of p and runs it. Returns false when
 * none is due. */
static bool run_one(struct proc *p, int64_t now)
{
	struct timer_heap *th = &p->timers;
	struct timer *t;
	void (*fn)(struct timer *, int64_t);
	int64_t late;

	rt_lock(&th->lock);
	if (th->n == 0 || th->h[0].when > now) {
		rt_unlock(&th->lock);
		return false;
	}
	t = entry_timer(th->h[0]);
	late = now - t->when;
	fn = t->fn;
	/* A count: a ticker whose function is slower than its period (or
	 * late, run by sysmon while a worker runs the previous tick) can be
	 * running on two threads at once. */
	__atomic_add_fetch(&t->running, 1, __ATOMIC_RELAXED);
	if (t->period > 0) {
		/* Ticks missed while nobody ran timers are dropped, as in Go. */
		t->when += t->period * (1 + (now - t->when) / t->period);
		th->h[0].when = t->when;
		sift_down(th, 0);
		update_when0(th);
	} else {
		heap_remove_at(th, 0);
	}
	rt_unlock(&th->lock);
	GORT_PROBE2(timer__fire, (uintptr_t)t, late);
	if (t->fn_owns) {
		fn(t, now); /* t may be gone */
		return true;
	}
	fn(t, now);
	/* t may be freed as soon as running is clear (timer_wait_idle). */
	__atomic_sub_fetch(&t->running, 1, __ATOMIC_RELEASE);
	return true;
}

/*
 * What a due timer readies goes on the runner's run queue. While that queue
 * is nearly full the timer waits in the heap, in due-time order, instead of
 * pushing half the queue out to the global one, where each goroutine waits
 * up to 61 schedules for its turn (Go's rule). With 10,000 goroutines
 * sleeping 1-5 ms on 2 procs, 5-7 % of the wakeups overflowed that way, and
 * they made the 99th percentile of oversleep. A timer overdue by
 * TIMER_FORCE_NS runs anyway: goroutines that compute keep a queue full
 * (preemption puts them back on it), and a timer must not wait for them
 * forever. A runner with no proc (sysmon) has no queue to fill.
 */
#define TIMER_FORCE_NS (10 * 1000 * 1000LL)

static inline bool timers_may_run(struct proc *p, struct proc *runner, int64_t now)
{
	int64_t w = __atomic_load_n(&p->timers.when0, __ATOMIC_ACQUIRE);

	if (w == 0 || w > now)
		return false;
	return !runner || runq_len(runner) < RUNQ_SIZE - 2 || now - w >= TIMER_FORCE_NS;
}

bool timers_ready(struct proc *p, int64_t now)
{
	return timers_may_run(p, p, now);
}

void timers_check(struct proc *p, int64_t now)
{
	struct worker *w = this_worker();
	struct proc *runner = w ? w->proc : NULL;

	while (timers_may_run(p, runner, now) && run_one(p, now))
		;
}

void timers_check_now(struct proc *p)
{
	if (timers_pending(&p->timers))
		timers_check(p, nanotime());
}

void timers_check_all(int64_t now)
{
	int n = __atomic_load_n(&sched.maxprocs, __ATOMIC_ACQUIRE);

	for (int i = 0; i < n; i++)
		timers_check(sched.allp[i], now);
}

int64_t timers_next(void)
{
	int n = __atomic_load_n(&sched.maxprocs, __ATOMIC_ACQUIRE);
	int64_t next = 0;

	for (int i = 0; i < n; i++) {
		int64_t w = __atomic_load_n(&sched.allp[i]->timers.when0, __ATOMIC_SEQ_CST);

		if (w && (!next || w < next))
			next = w;
	}
	return next;
}

void timers_move(struct proc *from, struct proc *to)
{
	struct timer_heap *src = &from->timers;

	rt_lock(&src->lock);
	while (src->n > 0) {
		struct timer *t = entry_timer(src->h[src->n - 1]);

		heap_remove_at(src, src->n - 1);
		rt_lock(&to->timers.lock);
		if (!heap_push(&to->timers, to, t))
			gort_fatal("out of memory moving timers off proc %d", from->id);
		rt_unlock(&to->timers.lock);
	}
	rt_unlock(&src->lock);
}
