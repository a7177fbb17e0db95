// SPDX-License-Identifier: MIT
/*
 * The scheduler: Go's findrunnable/schedule/park/ready on G/M/P.
 *
 * Switching. A goroutine that yields, parks or exits switches directly to the
 * next goroutine of its proc when there is one (one switch, no trip through
 * the scheduler stack), otherwise to its worker's g0, the scheduler loop on
 * the thread's own stack, which steals, polls the global queue and finally
 * sleeps. Whatever must happen to the previous goroutine once it is off its
 * stack (requeue it, release the lock its waker takes, cache it when dead) is
 * recorded in the worker as the after-switch action and done by
 * finish_switch() in the new context. That is what makes parking race-free:
 * a waker finds the parked goroutine only under the lock the action releases.
 *
 * Spinning (Go's rules). A worker without work becomes "spinning" and steals;
 * at most half of the busy procs may have a spinning worker. Readying a
 * goroutine wakes an idle proc only when nobody spins, and a spinning worker
 * that finds work wakes the next one; so a burst of work starts workers one
 * at a time, without a thundering herd. A worker that stops spinning re-checks
 * every queue before it sleeps, so no wakeup is lost.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "netpoll.h"
#include "probes.h"
#include "runtime.h"
#include "sanitizer.h"

struct sched sched = {
	.lock = RT_LOCK_INIT,
	.gfree_lock = RT_LOCK_INIT,
	.kassist_fd = -1,
};

const char *const wait_reason_names[WAIT__COUNT] = {
	[WAIT_NONE] = "",
	[WAIT_WAITGROUP] = "sync.WaitGroup.Wait",
	[WAIT_CHAN_SEND] = "chan send",
	[WAIT_CHAN_RECV] = "chan receive",
	[WAIT_CHAN_SEND_NIL] = "chan send (nil chan)",
	[WAIT_CHAN_RECV_NIL] = "chan receive (nil chan)",
	[WAIT_SELECT] = "select",
	[WAIT_SELECT_NO_CASES] = "select (no cases)",
	[WAIT_MUTEX] = "sync.Mutex.Lock",
	[WAIT_RWMUTEX_RLOCK] = "sync.RWMutex.RLock",
	[WAIT_RWMUTEX_LOCK] = "sync.RWMutex.Lock",
	[WAIT_COND] = "sync.Cond.Wait",
	[WAIT_SEMA] = "semacquire",
	[WAIT_SLEEP] = "sleep",
	[WAIT_IO] = "IO wait",
	[WAIT_STW] = "stop-the-world turn",
};

__thread struct worker *tls_worker __attribute__((tls_model("initial-exec")));

#if !defined(__x86_64__)
/* noinline + an opaque asm: the compiler can neither inline this nor prove
 * it pure, so every call really re-reads the thread pointer. */
__attribute__((noinline)) struct worker *this_worker(void)
{
	struct worker *w = tls_worker;

	__asm__ volatile("" : "+r"(w)::"memory");
	return w;
}
#endif

int64_t nanotime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

uint64_t fastrand(void)
{
	static __thread uint64_t foreign_state;
	struct worker *w = this_worker();
	uint64_t *s = w ? &w->rand : &foreign_state;
	uint64_t x = *s;

	if (!x)
		x = (uint64_t)nanotime() | 1;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static inline bool stw_pending_for(struct worker *w)
{
	return __atomic_load_n(&sched.stw_pending, __ATOMIC_ACQUIRE) &&
	       w->proc != __atomic_load_n(&sched.stw_owner, __ATOMIC_RELAXED);
}

/* ---- procs and workers ---- */

void acquire_proc(struct worker *w, struct proc *p)
{
	w->proc = p;
	__atomic_store_n(&p->worker, w, __ATOMIC_RELEASE);
	__atomic_store_n(&p->status, P_RUNNING, __ATOMIC_RELEASE);
}

struct proc *release_proc(struct worker *w)
{
	struct proc *p = w->proc;

	w->proc = NULL;
	__atomic_store_n(&p->worker, NULL, __ATOMIC_RELEASE);
	return p;
}

/* Stops p for a pending stop-the-world. */
static void proc_stop(struct proc *p)
{
	__atomic_store_n(&p->status, P_STOPPED, __ATOMIC_RELEASE);
	note_wakeup(&sched.stw_done);
}

/* sched.lock held. */
static void proc_put_idle_locked(struct proc *p)
{
	if (__atomic_load_n(&sched.stw_pending, __ATOMIC_ACQUIRE)) {
		proc_stop(p);
		return;
	}
	__atomic_store_n(&p->status, P_IDLE, __ATOMIC_RELEASE);
	p->link = sched.pidle;
	sched.pidle = p;
	__atomic_add_fetch(&sched.npidle, 1, __ATOMIC_SEQ_CST);
}

/* sched.lock held. */
static struct proc *proc_get_idle_locked(void)
{
	struct proc *p = sched.pidle;

	if (p) {
		sched.pidle = p->link;
		__atomic_sub_fetch(&sched.npidle, 1, __ATOMIC_SEQ_CST);
		__atomic_store_n(&p->status, P_RUNNING, __ATOMIC_RELEASE);
	}
	return p;
}

struct proc *proc_idle_get(void)
{
	struct proc *p;

	rt_lock(&sched.lock);
	p = __atomic_load_n(&sched.stw_pending, __ATOMIC_ACQUIRE) ? NULL : proc_get_idle_locked();
	rt_unlock(&sched.lock);
	return p;
}

void proc_put_idle(struct proc *p)
{
	rt_lock(&sched.lock);
	proc_put_idle_locked(p);
	rt_unlock(&sched.lock);
	/* Its timers now have no worker: make sure one looks in time. */
	{
		int64_t when = __atomic_load_n(&p->timers.when0, __ATOMIC_SEQ_CST);

		if (when)
			timers_wake(when);
	}
}

/*
 * A worker's park note. Registered with gort.ko, the worker sleeps in the
 * module's WAIT and is woken with WAKE (the note's key still says whether
 * the wakeup is for it); otherwise on the key's futex.
 */
enum worker_woke {
	WOKE_NOTE,
	WOKE_TIMEOUT,
	WOKE_TOKEN,
	WOKE_PROC /* the netpoller's sleeper took an idle proc (worker_poll) */
};

static void worker_wake(struct worker *w)
{
	if (__atomic_exchange_n(&w->park.key, 1, __ATOMIC_SEQ_CST) != 0 || w == this_worker())
		return;
	/* Dekker with worker_poll: it sets polling, then reads the note. */
	if (__atomic_load_n(&w->polling, __ATOMIC_SEQ_CST))
		netpoll_break();
	else if (w->kassist_slot)
		kassist_wake(w);
	else
		futex_wake(&w->park.key, 1);
}

/* Sleeps until the note is set (WOKE_NOTE), timeout_ns passes (>= 0), or the
 * module's token wakes us with the note clear (WOKE_TOKEN: a block was
 * reported to us as the spare, or a stale token). */
static enum worker_woke worker_sleep_after(struct worker *w, int64_t timeout_ns,
					   struct worker *wake);

static enum worker_woke worker_sleep(struct worker *w, int64_t timeout_ns)
{
	return worker_sleep_after(w, timeout_ns, NULL);
}

/*
 * worker_wake(wake) (if not NULL), then worker_sleep(w): with both workers
 * registered, one SWITCH does both and runs wake on our CPU, the hand-over
 * of a locked goroutine's proc to its thread (Go's startlockedm).
 */
static enum worker_woke worker_sleep_after(struct worker *w, int64_t timeout_ns,
					   struct worker *wake)
{
	int64_t deadline = timeout_ns >= 0 ? nanotime() + timeout_ns : 0;

	if (wake && (!w->kassist_slot || !wake->kassist_slot)) {
		worker_wake(wake);
		wake = NULL;
	}
	if (!w->kassist_slot)
		return note_sleep(&w->park, timeout_ns) ? WOKE_NOTE : WOKE_TIMEOUT;
	while (__atomic_load_n(&w->park.key, __ATOMIC_ACQUIRE) == 0) {
		int64_t left = -1;
		bool token;

		if (timeout_ns >= 0) {
			left = deadline - nanotime();
			if (left <= 0)
				break;
		}
		if (wake && __atomic_exchange_n(&wake->park.key, 1, __ATOMIC_RELEASE) == 0)
			token = kassist_switch(w, wake, left);
		else
			token = kassist_sleep(w, left);
		wake = NULL;
		if (token && __atomic_load_n(&w->park.key, __ATOMIC_ACQUIRE) == 0)
			return WOKE_TOKEN;
	}
	if (wake) /* our note was already set: no sleep to combine with */
		worker_wake(wake);
	return __atomic_load_n(&w->park.key, __ATOMIC_ACQUIRE) ? WOKE_NOTE : WOKE_TIMEOUT;
}

static void spare_pass_locked(struct worker *w);
static void widle_remove_locked(struct worker *w);

/*
 * netpoll_block's callback, before it readies anyone: like Go's findrunnable
 * after its blocking netpoll, the poller takes an idle proc, so that what it
 * readies goes on that proc's queue and the first goroutine runs on this
 * thread at once, instead of waiting for another worker to be woken. Without
 * an idle proc (or when startm has already handed us one) they go to the
 * global queue.
 */
static void poller_take_proc(void *arg)
{
	struct worker *w = arg;
	struct proc *p = NULL;

	rt_lock(&sched.lock);
	if (w->idle && !__atomic_load_n(&sched.stw_pending, __ATOMIC_ACQUIRE)) {
		p = proc_get_idle_locked();
		if (p)
			widle_remove_locked(w);
	}
	rt_unlock(&sched.lock);
	if (p)
		acquire_proc(w, p);
}

/*
 * Sleeps in the netpoller instead of on the note (the caller holds the
 * poller's claim), as worker_sleep does otherwise: until an event, the
 * timeout (< 0: none) or worker_wake. Returns WOKE_PROC when it took an
 * idle proc for what it readied (poller_take_proc); else what it readied
 * went to the global queue, and WOKE_TIMEOUT sends us to look for an idle
 * proc as well.
 */
static enum worker_woke worker_poll(struct worker *w, int64_t timeout_ns)
{
	/* A spare in epoll_wait would miss the module's block notices. */
	if (__atomic_load_n(&sched.spare, __ATOMIC_RELAXED) == w) {
		rt_lock(&sched.lock);
		if (sched.spare == w)
			spare_pass_locked(w);
		rt_unlock(&sched.lock);
	}
	__atomic_store_n(&w->polling, 1, __ATOMIC_SEQ_CST);
	netpoll_block(__atomic_load_n(&w->park.key, __ATOMIC_SEQ_CST) ? 0 : timeout_ns,
		      poller_take_proc, w);
	__atomic_store_n(&w->polling, 0, __ATOMIC_SEQ_CST);
	if (w->proc)
		return WOKE_PROC;
	return __atomic_load_n(&w->park.key, __ATOMIC_ACQUIRE) ? WOKE_NOTE : WOKE_TIMEOUT;
}

/* sched.lock held, w just listed idle: with kernel assist, the first idle
 * worker becomes the spare the module wakes when a worker blocks. */
static void spare_enter_locked(struct worker *w)
{
	if (w->kassist_slot && !sched.spare) {
		sched.spare = w;
		kassist_set_spare(w);
	}
}

/* sched.lock held, w is the spare: hand the role to another idle worker
 * that sleeps in the module (not w, not one in the netpoller). */
static void spare_pass_locked(struct worker *w)
{
	struct worker *n = sched.widle;

	while (n && (n == w || !n->kassist_slot || __atomic_load_n(&n->polling, __ATOMIC_RELAXED)))
		n = n->link;
	sched.spare = n;
	kassist_set_spare(n);
}

/* sched.lock held, w just taken off the idle list: hand the spare role on. */
static void spare_leave_locked(struct worker *w)
{
	if (sched.spare == w)
		spare_pass_locked(w);
}

static void *worker_main(void *arg);

static struct worker *worker_new(struct proc *p, bool spinning)
{
	struct worker *w = calloc(1, sizeof(*w));
	pthread_attr_t attr;
	int err;

	if (!w)
		return NULL;
	w->id = __atomic_add_fetch(&sched.nworkers, 1, __ATOMIC_RELAXED);
	w->next_proc = p;
	w->spinning = spinning;
	w->rand = (uint64_t)nanotime() * 0x9e3779b97f4a7c15ULL + (uint64_t)w->id;
	w->all_next = __atomic_load_n(&sched.allw, __ATOMIC_RELAXED);
	while (!__atomic_compare_exchange_n(&sched.allw, &w->all_next, w, true, __ATOMIC_RELEASE,
					    __ATOMIC_RELAXED))
		;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&w->thread, &attr, worker_main, w);
	pthread_attr_destroy(&attr);
	if (err) {
		/* w stays on the all-workers list (it is never freed), unused. */
		__atomic_sub_fetch(&sched.nworkers, 1, __ATOMIC_RELAXED);
		w->next_proc = NULL;
		return NULL;
	}
	return w;
}

/*
 * Runs p on an idle worker, or a new one (Go's startm). With p == NULL takes
 * an idle proc, or does nothing when there is none. spinning: the caller has
 * already counted the worker in nspinning.
 */
static void startm_to(struct proc *p, bool spinning, struct worker **defer_wake)
{
	struct worker *w;

	rt_lock(&sched.lock);
	if (!p) {
		p = __atomic_load_n(&sched.stw_pending, __ATOMIC_ACQUIRE) ? NULL
									  : proc_get_idle_locked();
		if (!p) {
			rt_unlock(&sched.lock);
			if (spinning)
				__atomic_sub_fetch(&sched.nspinning, 1, __ATOMIC_SEQ_CST);
			return;
		}
	}
	w = sched.widle;
	if (w)
		widle_remove_locked(w);
	rt_unlock(&sched.lock);
	if (!w) {
		if (!worker_new(p, spinning)) {
			/* No thread: the proc waits for the next wakeup. */
			fprintf(stderr, "gort: cannot create a worker thread: %s\n",
				strerror(errno));
			proc_put_idle(p);
			if (spinning)
				__atomic_sub_fetch(&sched.nspinning, 1, __ATOMIC_SEQ_CST);
		}
		return;
	}
	w->next_proc = p;
	w->spinning = spinning;
	__atomic_add_fetch(&sched.n_wakes, 1, __ATOMIC_RELAXED);
	if (defer_wake)
		*defer_wake = w;
	else
		worker_wake(w);
}

static void startm(struct proc *p, bool spinning)
{
	startm_to(p, spinning, NULL);
}

void startm_proc(struct proc *p)
{
	startm(p, false);
}

/*
 * Wakes an idle proc if there is one and nobody is already looking for work.
 *
 * After a runq_put the loads below are not ordered after the run queue's
 * tail store (x86 lets a load pass an earlier store), as in Go's wakep: a
 * spinning worker that gives up right then can miss the new goroutine while
 * we still see it spinning. The goroutine is not lost (it is on our proc's
 * queue, and a proc in a syscall region is retaken with its queue); only
 * parallelism is, until the next wakeup. A fence here would tax every ready.
 * global_runq_put counts with a seq_cst read-modify-write, so work queued
 * globally (also by threads without a proc, whose work no proc would
 * otherwise run) is always seen: by us or by find_runnable's re-check.
 */
void sched_wakep(void)
{
	int zero = 0;

	if (__atomic_load_n(&sched.npidle, __ATOMIC_SEQ_CST) == 0 ||
	    __atomic_load_n(&sched.nspinning, __ATOMIC_SEQ_CST) != 0)
		return;
	if (!__atomic_compare_exchange_n(&sched.nspinning, &zero, 1, false, __ATOMIC_SEQ_CST,
					 __ATOMIC_RELAXED))
		return;
	startm(NULL, true);
}

/*
 * Gives away a proc whose worker cannot run it (Go's handoffp). With
 * defer_wake, an idle worker that gets the proc is stored there for the
 * caller to wake (with SWITCH) instead of being woken now.
 */
static void handoff_proc_to(struct proc *p, struct worker **defer_wake)
{
	int zero = 0;

	if (!runq_empty(p) || __atomic_load_n(&sched.gq_size, __ATOMIC_ACQUIRE) > 0) {
		startm_to(p, false, defer_wake);
		return;
	}
	/* Nobody looks for work: let this proc's new worker spin. */
	if (__atomic_load_n(&sched.nspinning, __ATOMIC_SEQ_CST) +
			    __atomic_load_n(&sched.npidle, __ATOMIC_SEQ_CST) ==
		    0 &&
	    __atomic_compare_exchange_n(&sched.nspinning, &zero, 1, false, __ATOMIC_SEQ_CST,
					__ATOMIC_RELAXED)) {
		startm_to(p, true, defer_wake);
		return;
	}
	rt_lock(&sched.lock);
	if (__atomic_load_n(&sched.gq_size, __ATOMIC_ACQUIRE) > 0) {
		rt_unlock(&sched.lock);
		startm_to(p, false, defer_wake);
		return;
	}
	proc_put_idle_locked(p);
	rt_unlock(&sched.lock);
	/* Its timers now have no worker: make sure one looks in time. */
	{
		int64_t when = __atomic_load_n(&p->timers.when0, __ATOMIC_SEQ_CST);

		if (when)
			timers_wake(when);
	}
}

void handoff_proc(struct proc *p)
{
	handoff_proc_to(p, NULL);
}

/*
 * sched.lock held; w is on the idle list. Every worker leaves the list here,
 * which keeps the invariant timers_wake relies on: the timer sleeper, when
 * there is one, is on the idle list.
 */
static void widle_remove_locked(struct worker *w)
{
	struct worker **pp = &sched.widle;

	while (*pp != w)
		pp = &(*pp)->link;
	*pp = w->link;
	sched.nwidle--;
	w->idle = false;
	spare_leave_locked(w);
	if (sched.timer_sleeper == w) {
		sched.timer_sleeper = NULL;
		__atomic_store_n(&sched.timer_sleep_until, INT64_MAX, __ATOMIC_SEQ_CST);
	}
}

/*
 * Puts the worker (holding no proc) to sleep until it is handed one. On g0.
 *
 * Idle workers also keep the timers: a worker going to sleep looks at every
 * proc's earliest timer after it is listed idle and no longer counts as
 * spinning. A timer queued before that look is seen by it; one queued after
 * finds this worker idle (timers_wake wakes the timer sleeper or an idle
 * proc). The worker with the earliest deadline becomes the timer sleeper
 * and sleeps only until then; when it wakes it takes an idle proc and runs
 * the timers from find_runnable. If every proc is busy, their workers run
 * the timers as they schedule.
 */
static void stop_worker(struct worker *w, struct worker *handoff)
{
	for (;;) {
		bool timed = false;
		int64_t next;
		struct proc *p = NULL;

		rt_lock(&sched.lock);
		w->link = sched.widle;
		sched.widle = w;
		sched.nwidle++;
		w->idle = true;
		spare_enter_locked(w);
		rt_unlock(&sched.lock);
		next = timers_next();
		if (next) {
			rt_lock(&sched.lock);
			if (w->idle && next < sched.timer_sleep_until) {
				sched.timer_sleeper = w;
				__atomic_store_n(&sched.timer_sleep_until, next, __ATOMIC_SEQ_CST);
				timed = true;
			}
			rt_unlock(&sched.lock);
		}
		__atomic_add_fetch(&sched.n_parks, 1, __ATOMIC_RELAXED);
		GORT_PROBE1(worker__park, w->id);
		for (;;) {
			int64_t left = timed ? next - nanotime() : -1;
			struct proc *taken;
			enum worker_woke r;

			if (timed && left < 0)
				left = 0;
			/* One idle worker sleeps in epoll while anyone waits
			 * for a descriptor (Go's blocking netpoll in findrunnable). */
			if (!handoff && netpoll_wanted() && netpoll_claim())
				r = worker_poll(w, left);
			else
				r = worker_sleep_after(w, left, handoff);
			if (r == WOKE_PROC) {
				GORT_PROBE1(worker__unpark, w->id);
				return;
			}

			handoff = NULL; /* woken once, by the first sleep */
			if (r != WOKE_TOKEN)
				break;
			/* The module woke us as the spare: a worker blocked in a
			 * syscall region. Take its proc, then run it if we are still
			 * idle; if someone handed us a proc meanwhile, pass it on. */
			taken = kassist_take_blocked();
			if (!taken)
				continue;
			rt_lock(&sched.lock);
			if (w->idle) {
				widle_remove_locked(w);
				rt_unlock(&sched.lock);
				GORT_PROBE1(worker__unpark, w->id);
				acquire_proc(w, taken);
				return;
			}
			rt_unlock(&sched.lock);
			handoff_proc(taken);
			break;
		}
		GORT_PROBE1(worker__unpark, w->id);

		rt_lock(&sched.lock);
		if (w->idle || w->timer_woken) {
			/* Our timer is due (timeout) or an earlier one was queued:
			 * nobody else will hand us a proc. */
			if (w->idle)
				widle_remove_locked(w);
			w->timer_woken = false;
			note_clear(&w->park);
			if (!__atomic_load_n(&sched.stw_pending, __ATOMIC_ACQUIRE))
				p = proc_get_idle_locked();
			rt_unlock(&sched.lock);
			if (p) {
				acquire_proc(w, p);
				return;
			}
			continue;
		}
		rt_unlock(&sched.lock);
		/* startm took us off the list: it sets next_proc, then wakes us. */
		for (;;) {
			worker_sleep(w, -1);
			note_clear(&w->park);
			if (__atomic_load_n(&w->next_proc, __ATOMIC_ACQUIRE))
				break;
		}
		acquire_proc(w, w->next_proc);
		w->next_proc = NULL;
		return;
	}
}

void timers_wake(int64_t when)
{
	struct worker *w;

	if (when >= __atomic_load_n(&sched.timer_sleep_until, __ATOMIC_SEQ_CST))
		return;
	rt_lock(&sched.lock);
	w = sched.timer_sleeper;
	if (w) {
		if (when < sched.timer_sleep_until) {
			widle_remove_locked(w);
			w->timer_woken = true;
			/* Under the lock: the sleeper must find the note set when it
			 * sees timer_woken, or a late wakeup would be stale. */
			worker_wake(w);
		}
		rt_unlock(&sched.lock);
		return;
	}
	rt_unlock(&sched.lock);
	sched_wakep();
}

/* ---- switching ---- */

static inline void ctx_switch(struct worker *w, struct goroutine *from, struct goroutine *to)
{
	struct context *save = from ? &from->ctx : &w->g0;

	__atomic_store_n(&w->switches, w->switches + 1, __ATOMIC_RELAXED);
	sanitizer_start_switch(w, from, to);
	if (!to)
		gort_ctx_switch(save, w->g0.sp);
	else if (to->ctx.sp)
		gort_ctx_switch(save, to->ctx.sp);
	else /* never ran: its stack is first touched here, by its own worker */
		gort_ctx_switch_fresh(save, to->stack.hi);
}

/* Runs in the context switched to: completes what the switch left pending. */
static inline __attribute__((always_inline)) void finish_switch(void)
{
	struct worker *w = this_worker();
	struct goroutine *prev = w->sw_prev;
	enum switch_action act = w->sw_action;

	sanitizer_finish_switch(w, w->curg);
	w->sw_action = SW_NONE;
	w->sw_prev = NULL;
	switch (act) {
	case SW_NONE:
		break;
	case SW_YIELD:
		__atomic_store_n(&prev->status, G_RUNNABLE, __ATOMIC_RELEASE);
		runq_put(w->proc, prev, false);
		break;
	case SW_GLOBAL:
		__atomic_store_n(&prev->status, G_RUNNABLE, __ATOMIC_RELEASE);
		global_runq_put(prev);
		sched_wakep();
		break;
	case SW_SYSCALL_EXIT:
		/*
		 * Back from a syscall without a proc: queue globally, then ask
		 * whoever now runs on the proc we held to yield at its next
		 * runtime call. That proc was only lent while we were blocked;
		 * without this we would wait out a whole 10 ms time slice.
		 * (After the enqueue: the yielder must find us queued.)
		 */
		{
			struct proc *lent = prev->syscall_proc;
			struct worker *pw = __atomic_load_n(&lent->worker, __ATOMIC_ACQUIRE);
			struct goroutine *pg =
				pw ? __atomic_load_n(&pw->curg, __ATOMIC_ACQUIRE) : NULL;

			prev->syscall_proc = NULL;
			__atomic_store_n(&prev->status, G_RUNNABLE, __ATOMIC_RELEASE);
			global_runq_put(prev);
			if (pg)
				__atomic_store_n(&pg->preempt, true, __ATOMIC_RELEASE);
			sched_wakep();
		}
		break;
	case SW_PARK:
		if (w->sw_unlock)
			w->sw_unlock(w->sw_arg);
		break;
	case SW_EXIT:
		goroutine_free(w->proc, prev);
		break;
	}
	if (w->curg)
		*w->errno_ptr = w->curg->saved_errno;
}

static inline __attribute__((always_inline)) void prepare_run(struct worker *w, struct goroutine *g,
							      bool inherit)
{
	struct proc *p = w->proc;

	/* Single writer (the proc's worker); sysmon and stats read them. */
	if (!inherit)
		__atomic_store_n(&p->schedtick, p->schedtick + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&p->runs, p->runs + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&g->preempt, false, __ATOMIC_RELAXED);
	__atomic_store_n(&g->status, G_RUNNING, __ATOMIC_RELEASE);
	__atomic_store_n(&w->curg, g, __ATOMIC_RELEASE);
	GORT_PROBE2(goroutine__start, g->id, p->id);
}

/*
 * How long a spawner that yielded with its proc's queue full waits at most:
 * SPAWN_RESUME_RUNS schedules of the goroutines it queued (their caches are
 * still warm), or SPAWN_RESUME_NS when they run long. The clock is read
 * every 8 schedules only, and a preemption ends the wait at once
 * (sched_safe_point_slow): goroutines that compute keep a spawner waiting
 * about one time slice, as Go's spawner waits once its own slice ends.
 */
#define SPAWN_RESUME_RUNS 64
#define SPAWN_RESUME_NS (1000 * 1000LL)

static inline bool spawn_resume_due(struct proc *p)
{
	uint32_t left = --p->spawn_resume_runs;

	if (left && (left & 7) == 0 && nanotime() - p->spawn_yield_at >= SPAWN_RESUME_NS)
		left = 0;
	p->spawn_resume_runs = left;
	return left == 0;
}

/* Next goroutine from p's own queues; the global queue first 1 time in 61,
 * and when a spawner waiting there is due (spawn_resume_due). */
static inline __attribute__((always_inline)) struct goroutine *find_local(struct proc *p,
									  bool *inherit)
{
	struct goroutine *g;

	*inherit = false;
	if (((__builtin_expect(p->spawn_resume_runs != 0, 0) && spawn_resume_due(p)) ||
	     p->schedtick % GLOBAL_RUNQ_EVERY == 0) &&
	    __atomic_load_n(&sched.gq_size, __ATOMIC_RELAXED) > 0) {
		g = global_runq_get(p, 1);
		if (g)
			return g;
	}
	g = runq_get(p, inherit);
	if (g)
		return g;
	if (__atomic_load_n(&sched.gq_size, __ATOMIC_RELAXED) > 0)
		return global_runq_get(p, 0);
	return NULL;
}

static void record_sp(struct goroutine *g)
{
	void *sp = __builtin_frame_address(0);

	if (!g->lowest_sp || sp < g->lowest_sp)
		g->lowest_sp = sp;
	if (!stack_canary_ok(&g->stack))
		gort_fatal("goroutine %lld stack overflow (canary at %p overwritten)",
			   (long long)g->id, (void *)g->stack.lo);
}

/*
 * Switches the running goroutine out with an after-switch action. Returns
 * when it runs again (possibly on another worker). SW_YIELD returns at once
 * when nothing else is runnable. w is the caller's this_worker(); it is stale
 * once the switch returns, so nothing here uses it afterwards.
 */
static void sched_switch(struct worker *w, enum switch_action act, void (*unlock)(void *),
			 void *arg)
{
	struct goroutine *g = w->curg;
	struct goroutine *next = NULL;
	bool inherit = false;

	if (timers_pending(&w->proc->timers)) {
		int64_t now = nanotime();

		if (timers_ready(w->proc, now)) {
			/* A park still holds its lock, which a timer function may
			 * need (a timer channel): let g0 run them after the unlock. */
			if (unlock)
				goto via_g0;
			timers_check(w->proc, now);
		}
	}
	if (!g->locked_worker && !stw_pending_for(w)) {
		next = find_local(w->proc, &inherit);
		if (next && next->locked_worker) {
			/* Its own thread must run it: let g0 hand over the proc. */
			w->pending_g = next;
			next = NULL;
		} else if (!next && act == SW_YIELD) {
			return;
		} else if (next && !next->ctx.sp && unlock) {
			/*
			 * A fresh goroutine faults in its first stack page as it
			 * starts (microseconds in a VM). Do not hold the park's
			 * lock across that: g0 releases it, then starts next.
			 */
			w->pending_g = next;
			next = NULL;
		}
	}
	if (!next && act == SW_GLOBAL && !stw_pending_for(w) &&
	    __atomic_load_n(&sched.gq_size, __ATOMIC_RELAXED) == 0 && !w->pending_g) {
		/* Preempted with nothing else to run anywhere: keep running. */
		return;
	}
via_g0:
	g->saved_errno = *w->errno_ptr;
	record_sp(g);
	w->sw_action = act;
	w->sw_prev = g;
	w->sw_unlock = unlock;
	w->sw_arg = arg;
	if (next) {
		prepare_run(w, next, inherit);
		ctx_switch(w, g, next);
	} else {
		__atomic_store_n(&w->curg, NULL, __ATOMIC_RELEASE);
		ctx_switch(w, g, NULL);
	}
	finish_switch();
}

/* Switches from the running goroutine to g0 without a proc check (syscall exit). */
void sched_switch_to_g0(enum switch_action act)
{
	struct worker *w = this_worker();
	struct goroutine *g = w->curg;

	g->saved_errno = errno;
	w->sw_action = act;
	w->sw_prev = g;
	w->sw_unlock = NULL;
	__atomic_store_n(&w->curg, NULL, __ATOMIC_RELEASE);
	ctx_switch(w, g, NULL);
	finish_switch();
}

void goroutine_park(enum wait_reason reason, void (*unlock)(void *), void *arg)
{
	struct worker *w = this_worker();
	struct goroutine *g = w->curg;

	g->wait_reason = (uint8_t)reason;
	g->wait_since = coarse_nanotime();
	__atomic_store_n(&g->status, G_WAITING, __ATOMIC_RELEASE);
	GORT_PROBE2(goroutine__park, g->id, reason);
	sched_switch(w, SW_PARK, unlock, arg);
	/* w is stale now (we may run on another worker); g is still us. */
	g->wait_reason = WAIT_NONE;
}

static void ready(struct goroutine *g, bool next)
{
	uint32_t st = G_WAITING;
	struct worker *w;

	if (!__atomic_compare_exchange_n(&g->status, &st, G_RUNNABLE, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_RELAXED))
		gort_fatal("goroutine_ready: goroutine %lld is not waiting (status %u)",
			   (long long)g->id, st);
	GORT_PROBE1(goroutine__ready, g->id);
	w = this_worker();
	if (w && w->proc)
		runq_put(w->proc, g, next);
	else
		global_runq_put(g);
	sched_wakep();
}

void goroutine_ready(struct goroutine *g)
{
	ready(g, true);
}

void goroutine_ready_fifo(struct goroutine *g)
{
	ready(g, false);
}

void gort_yield(void)
{
	struct worker *w = this_worker();

	if (!w || !w->curg) {
		sched_yield();
		return;
	}
	if (w->curg->locked_worker) {
		/* A wired goroutine yields through the global queue; its thread
		 * waits for it in stop_locked (Go's Gosched + stoplockedm). */
		if (runq_empty(w->proc) && __atomic_load_n(&sched.gq_size, __ATOMIC_RELAXED) == 0 &&
		    !stw_pending_for(w))
			return;
		sched_switch_to_g0(SW_GLOBAL);
		return;
	}
	sched_switch(w, SW_YIELD, NULL, NULL);
}

/*
 * After a spawn (gort_go). A goroutine whose proc's run queue is full has
 * spawned faster than its proc runs what it spawned: a spawn costs ~25 ns,
 * running a short goroutine to its exit ~55. Go lets the spawner go on until
 * its slice ends, moving half the queue to the global one at each overflow;
 * the backlog then grows to tens of thousands of goroutines whose
 * descriptors and stacks no longer fit in the caches, and every spawn and
 * run after that misses (measured: 600 ns per spawn and exit on one proc
 * with the backlog, 55 without). So the spawner yields here, to the back of
 * the global queue as a preempted goroutine does, and its proc runs the
 * queue: a proc never has more than a run queue of spawned goroutines
 * waiting. The spawner runs again after SPAWN_RESUME_RUNS of them, or
 * sooner when they run long (spawn_resume_due), or on an idle proc at once.
 */
/* The running goroutine goes to the back of the global queue; a wired one
 * through its own thread's g0 (Go's Gosched + stoplockedm). */
static void yield_to_global(struct worker *w)
{
	if (w->curg->locked_worker)
		sched_switch_to_g0(SW_GLOBAL);
	else
		sched_switch(w, SW_GLOBAL, NULL, NULL);
}

void sched_spawn_point(void)
{
	struct worker *w = this_worker();
	struct proc *p;
	int64_t now;

	if (!w || !w->curg || !w->proc || runq_len(w->proc) < RUNQ_SIZE)
		return;
	p = w->proc;
	now = nanotime();
	/* The last such yield here was SPAWN_RESUME_NS or more ago and few
	 * goroutines have run here since: they do not end quickly, the queue
	 * will not drain, and yielding again would only hold the spawner up.
	 * Spawn on, as Go does (until the slice ends; while it runs, no more
	 * schedules happen here, so this holds until then). */
	if (p->spawn_yield_at && p->schedtick - p->spawn_yield_tick < SPAWN_RESUME_RUNS / 2 &&
	    now - p->spawn_yield_at >= SPAWN_RESUME_NS)
		return;
	p->spawn_yield_tick = p->schedtick;
	p->spawn_yield_at = now;
	p->spawn_resume_runs = SPAWN_RESUME_RUNS;
	yield_to_global(w);
}

void sched_safe_point_slow(struct worker *w)
{
	struct goroutine *g = w->curg;

	if (__atomic_load_n(&g->preempt, __ATOMIC_RELAXED)) {
		/* Like Go's preemption: to the back of the global queue, so that
		 * a goroutine that used up its slice runs after everything that
		 * waited meanwhile, not just after its own proc's queue. */
		__atomic_add_fetch(&sched.n_preempts, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&g->preempt, false, __ATOMIC_RELAXED);
		/* A spawner waiting for this proc's queue runs next. */
		if (w->proc && w->proc->spawn_resume_runs)
			w->proc->spawn_resume_runs = 1;
		yield_to_global(w);
	} else if (stw_pending_for(w)) {
		gort_yield();
	}
}

/* ---- the scheduler loop (g0) ---- */

/* Hands this worker's proc to g's wired worker and sleeps (Go's startlockedm). */
static void start_locked(struct worker *w, struct goroutine *g)
{
	struct worker *lw = g->locked_worker;
	struct proc *p = release_proc(w);

	lw->next_proc = p;
	__atomic_store_n(&p->worker, lw, __ATOMIC_RELEASE);
	/* Wake lw as this worker goes to sleep: one SWITCH with gort.ko. */
	stop_worker(w, lw);
}

/* The wired goroutine left the CPU: give the proc away and wait for it to be
 * runnable again (Go's stoplockedm). */
static void stop_locked(struct worker *w)
{
	struct worker *wake = NULL;

	if (w->proc)
		handoff_proc_to(release_proc(w), &wake);
	/* The worker taking the proc runs on our CPU as we sleep: one
	 * SWITCH with gort.ko, as in start_locked. */
	while (worker_sleep_after(w, -1, wake) != WOKE_NOTE)
		wake = NULL;
	note_clear(&w->park);
	acquire_proc(w, w->next_proc);
	w->next_proc = NULL;
}

static struct goroutine *find_runnable(struct worker *w, bool *inherit)
{
	struct goroutine *g;
	struct proc *p;
	int nprocs;
	bool was_spinning;
	int64_t spin_until = 0;

top:
	if (!w->proc)
		stop_worker(w, NULL);
	p = w->proc;
	if (stw_pending_for(w)) {
		/* A sleeping worker must not count as spinning: wakep would
		 * never wake anyone again. */
		if (w->spinning) {
			w->spinning = false;
			__atomic_sub_fetch(&sched.nspinning, 1, __ATOMIC_SEQ_CST);
		}
		/* A goroutine picked for g0 is on no queue: keep it on the proc. */
		if (w->pending_g) {
			runq_put(p, w->pending_g, true);
			w->pending_g = NULL;
		}
		proc_stop(release_proc(w));
		goto top;
	}
	if (w->pending_g) {
		g = w->pending_g;
		w->pending_g = NULL;
		*inherit = false;
		return g;
	}
	timers_check_now(p);
	g = find_local(p, inherit);
	if (g)
		return g;
	/* Due timers of other procs (idle ones have nobody else to run them);
	 * what they ready lands on our queue. */
	timers_check_all(nanotime());
	g = find_local(p, inherit);
	if (g)
		return g;
	/* Descriptors that became ready, unless a blocked poller has them:
	 * what the poll readies lands on our queue. */
	if (netpoll_wanted() && netpoll() > 0) {
		g = find_local(p, inherit);
		if (g)
			return g;
	}

	nprocs = __atomic_load_n(&sched.maxprocs, __ATOMIC_RELAXED);
	if (!w->spinning && 2 * __atomic_load_n(&sched.nspinning, __ATOMIC_SEQ_CST) >=
				    nprocs - __atomic_load_n(&sched.npidle, __ATOMIC_SEQ_CST))
		goto stop;
	if (!w->spinning) {
		w->spinning = true;
		__atomic_add_fetch(&sched.nspinning, 1, __ATOMIC_SEQ_CST);
	}
	spin_until = 0;
steal:
	for (int round = 0; round < 4; round++) {
		uint32_t start = (uint32_t)fastrand() % (uint32_t)nprocs;

		for (int i = 0; i < nprocs; i++) {
			struct proc *victim = sched.allp[(start + (uint32_t)i) % (uint32_t)nprocs];

			if (victim == p)
				continue;
			if (__atomic_load_n(&sched.stw_pending, __ATOMIC_ACQUIRE))
				goto top;
			g = runq_steal(p, victim, round == 3);
			if (g) {
				*inherit = false;
				return g;
			}
		}
	}
	if (__atomic_load_n(&sched.gq_size, __ATOMIC_RELAXED) > 0) {
		g = global_runq_get(p, 0);
		if (g)
			return g;
	}
	/*
	 * Keep spinning a while before sleeping. While we spin, readying a
	 * goroutine wakes nobody (nspinning > 0), and a futex wakeup costs the
	 * waker a system call and the wakee tens of microseconds when it lands
	 * on another CPU; steady streams of work then never pay it.
	 */
	/*
	 * Not while goroutines wait for descriptors: their work comes from
	 * the network, through the netpoller's own wakeups, and a worker
	 * spinning for it keeps a CPU from the poller and from the processes
	 * it talks to (measured with tcpecho's two-process run: P99 5.3-5.9 ms
	 * spinning, 4.9-5.8 ms not, lower in each of 5 pairs; Go's spinning is
	 * a few steal attempts, no waiting).
	 */
	if (config.idle_spin_ns > 0 && !netpoll_has_waiters()) {
		int64_t now = nanotime();

		if (!spin_until)
			spin_until = now + config.idle_spin_ns;
		while (now < spin_until) {
			bool work = __atomic_load_n(&sched.gq_size, __ATOMIC_RELAXED) > 0 ||
				    __atomic_load_n(&sched.stw_pending, __ATOMIC_RELAXED);

			for (int i = 0; !work && i < nprocs; i++)
				work = sched.allp[i] != p && !runq_empty(sched.allp[i]);
			if (work)
				goto steal;
			if (netpoll_has_waiters())
				break;
			for (int i = 0; i < 10; i++)
				cpu_relax();
			now = nanotime();
		}
	}

stop:
	rt_lock(&sched.lock);
	if (stw_pending_for(w)) {
		rt_unlock(&sched.lock);
		goto top;
	}
	if (__atomic_load_n(&sched.gq_size, __ATOMIC_ACQUIRE) > 0) {
		rt_unlock(&sched.lock);
		g = global_runq_get(p, 0);
		if (g)
			return g;
		goto top;
	}
	proc_put_idle_locked(release_proc(w));
	rt_unlock(&sched.lock);

	was_spinning = w->spinning;
	if (w->spinning) {
		w->spinning = false;
		__atomic_sub_fetch(&sched.nspinning, 1, __ATOMIC_SEQ_CST);
	}
	/* Work readied while we were spinning did not wake anyone: look again
	 * now that we no longer count as spinning. */
	if (was_spinning) {
		bool work = __atomic_load_n(&sched.gq_size, __ATOMIC_SEQ_CST) > 0;

		for (int i = 0; !work && i < nprocs; i++)
			work = !runq_empty(sched.allp[i]);
		if (work) {
			p = proc_idle_get();
			if (p) {
				acquire_proc(w, p);
				w->spinning = true;
				__atomic_add_fetch(&sched.nspinning, 1, __ATOMIC_SEQ_CST);
				goto top;
			}
		}
	}
	stop_worker(w, NULL);
	goto top;
}

static void reset_spinning(struct worker *w)
{
	if (!w->spinning)
		return;
	w->spinning = false;
	__atomic_sub_fetch(&sched.nspinning, 1, __ATOMIC_SEQ_CST);
	sched_wakep();
}

static __attribute__((noreturn)) void schedule_loop(void)
{
	for (;;) {
		struct worker *w;
		struct goroutine *g;
		bool inherit;

		w = this_worker();
		if (w->locked_g) {
			stop_locked(w);
			g = w->locked_g;
			inherit = false;
			if (stw_pending_for(w)) {
				/* Park it on the stopped proc; the world's restart runs
				 * the proc, whose worker hands it back to us. */
				runq_put(w->proc, g, true);
				proc_stop(release_proc(w));
				continue;
			}
		} else {
			g = find_runnable(w, &inherit);
			reset_spinning(w);
			if (g->locked_worker && g->locked_worker != w) {
				start_locked(w, g);
				continue;
			}
		}
		prepare_run(w, g, inherit);
		ctx_switch(w, NULL, g);
		/* Back on g0: complete what the goroutine that switched here left. */
		finish_switch();
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	tls_worker = w;
	w->tid = gettid();
	/* A thread's errno never moves: switches save and restore it here
	 * without a call into libc. */
	w->errno_ptr = &errno;
	/* Threads inherit their creator's name (e.g. gort-sysmon's). */
	prctl(PR_SET_NAME, "gort-worker");
	/* Idle workers sleep until the next timer: 1 ns slack, not 50 us. */
	prctl(PR_SET_TIMERSLACK, 1);
	worker_altstack_init(w);
	sanitizer_worker_init(w);
	kassist_worker_init(w);
	acquire_proc(w, w->next_proc);
	w->next_proc = NULL;
	schedule_loop();
}

/* ---- goroutine entry and exit ---- */

__attribute__((noreturn)) void goroutine_exit(void)
{
	struct worker *w = this_worker();
	struct goroutine *g = w->curg;

	GORT_PROBE1(goroutine__exit, g->id);
	if (g->locked_worker) {
		g->locked_worker = NULL;
		g->lock_count = 0;
		w->locked_g = NULL;
	}
	__atomic_sub_fetch(&sched.ngoroutines, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&g->status, G_DEAD, __ATOMIC_RELEASE);
	sched_switch(w, SW_EXIT, NULL, NULL);
	gort_fatal("dead goroutine %lld resumed", (long long)g->id);
}

/* Called by gort_ctx_switch_fresh on the new goroutine's stack. */
__attribute__((noreturn, used)) void goroutine_entry(void)
{
	struct goroutine *g;

	finish_switch();
	g = this_goroutine();
	errno = 0;
	g->fn(g->arg);
	goroutine_exit();
}

/* ---- locked threads ---- */

int gort_lock_os_thread(void)
{
	struct worker *w = this_worker();
	struct goroutine *g = w ? w->curg : NULL;

	if (!g) {
		set_errmsg("gort_lock_os_thread: not called from a goroutine");
		return GORT_EPERM;
	}
	if (g->lock_count++ == 0) {
		g->locked_worker = w;
		w->locked_g = g;
	}
	return 0;
}

void gort_unlock_os_thread(void)
{
	struct worker *w = this_worker();
	struct goroutine *g = w ? w->curg : NULL;

	if (!g || g->lock_count == 0)
		return;
	if (--g->lock_count == 0) {
		g->locked_worker = NULL;
		w->locked_g = NULL;
	}
}
