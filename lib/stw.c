// SPDX-License-Identifier: MIT
/*
 * Stop-the-world (Go's stopTheWorld): every proc but the caller's is brought
 * to P_STOPPED. Idle procs and procs in syscall regions are stopped at once;
 * a running proc stops at its worker's next safe point (a park, yield, spawn,
 * gort_now, syscall exit, or the scheduler loop), where its goroutine is
 * switched out normally, so its registers are saved on its stack and visible
 * to gort_for_each_goroutine(). A goroutine that never calls into the runtime
 * cannot be stopped: there is no asynchronous preemption.
 */
#include "probes.h"
#include "runtime.h"
#include "waiter.h"

/*
 * Only one stop-the-world at a time (Go's worldsema). A goroutine waiting for
 * its turn parks, so its proc can stop for the current one; a thread lock
 * here would deadlock the two callers.
 */
static struct rt_lock turn_lock = RT_LOCK_INIT;
static bool turn_taken;
static struct waiter *turn_head, *turn_tail;

static void stw_turn_acquire(void)
{
	struct waiter wt;

	rt_lock(&turn_lock);
	if (!turn_taken) {
		turn_taken = true;
		rt_unlock(&turn_lock);
		return;
	}
	waiter_init(&wt);
	if (turn_tail)
		turn_tail->next = &wt;
	else
		turn_head = &wt;
	turn_tail = &wt;
	/* Woken with the turn handed over: turn_taken stays true. */
	waiter_block(&wt, WAIT_STW, &turn_lock);
}

static void stw_turn_release(void)
{
	struct waiter *wt;

	rt_lock(&turn_lock);
	wt = turn_head;
	if (wt) {
		turn_head = wt->next;
		if (!turn_head)
			turn_tail = NULL;
	} else {
		turn_taken = false;
	}
	rt_unlock(&turn_lock);
	if (wt)
		waiter_wake(wt);
}

static bool all_stopped(struct proc *own)
{
	int n = __atomic_load_n(&sched.maxprocs, __ATOMIC_ACQUIRE);

	for (int i = 0; i < n; i++) {
		struct proc *p = sched.allp[i];

		if (p == own)
			continue;
		if (__atomic_load_n(&p->status, __ATOMIC_ACQUIRE) != P_STOPPED)
			return false;
	}
	return true;
}

/*
 * Asks every proc but own to stop: idle procs and procs in syscall regions
 * stop at once, running goroutines are flagged to stop at their next safe
 * point. The caller holds the turn.
 */
static void stw_request(struct proc *own)
{
	struct proc *p;
	int n;

	note_clear(&sched.stw_done);
	rt_lock(&sched.lock);
	__atomic_store_n(&sched.stw_owner, own, __ATOMIC_RELEASE);
	__atomic_store_n(&sched.stw_pending, 1, __ATOMIC_SEQ_CST);
	while ((p = sched.pidle)) {
		sched.pidle = p->link;
		__atomic_sub_fetch(&sched.npidle, 1, __ATOMIC_SEQ_CST);
		__atomic_store_n(&p->status, P_STOPPED, __ATOMIC_RELEASE);
	}
	n = __atomic_load_n(&sched.maxprocs, __ATOMIC_ACQUIRE);
	for (int i = 0; i < n; i++) {
		uint32_t expect = P_SYSCALL;
		struct worker *pw;

		p = sched.allp[i];
		if (p == own)
			continue;
		if (__atomic_compare_exchange_n(&p->status, &expect, P_STOPPED, false,
						__ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			continue;
		pw = __atomic_load_n(&p->worker, __ATOMIC_ACQUIRE);
		if (pw) {
			struct goroutine *g = __atomic_load_n(&pw->curg, __ATOMIC_ACQUIRE);

			if (g)
				__atomic_store_n(&g->preempt, true, __ATOMIC_RELEASE);
		}
	}
	rt_unlock(&sched.lock);
}

int gort_stop_the_world(const char *reason)
{
	struct worker *w;
	struct proc *own;

	if (!__atomic_load_n(&sched.started, __ATOMIC_ACQUIRE)) {
		set_errmsg("gort_stop_the_world: the runtime is not running");
		return GORT_EPERM;
	}
	stw_turn_acquire();
	w = this_worker();
	own = w && w->curg ? w->proc : NULL;
	GORT_PROBE1(stw__start, reason);
	stw_request(own);
	while (!all_stopped(own)) {
		note_sleep(&sched.stw_done, 100 * 1000);
		note_clear(&sched.stw_done);
	}
	__atomic_add_fetch(&sched.n_stw, 1, __ATOMIC_RELAXED);
	GORT_PROBE1(stw__done, reason);
	return 0;
}

bool stw_stop_for_exit(const char *reason, int64_t timeout_ns)
{
	int64_t deadline = nanotime() + timeout_ns;
	bool got_turn;

	if (!__atomic_load_n(&sched.started, __ATOMIC_ACQUIRE))
		return true;
	/* Never wait for the turn: whoever holds it may be what is stuck. */
	rt_lock(&turn_lock);
	got_turn = !turn_taken;
	turn_taken = true;
	rt_unlock(&turn_lock);
	if (!got_turn)
		return false;
	GORT_PROBE1(stw__start, reason);
	stw_request(NULL);
	while (!all_stopped(NULL)) {
		if (nanotime() >= deadline)
			return false;
		note_sleep(&sched.stw_done, 100 * 1000);
		note_clear(&sched.stw_done);
	}
	GORT_PROBE1(stw__done, reason);
	return true;
}

void gort_start_the_world(void)
{
	struct proc *start[MAX_PROCS];
	int nstart = 0, n;
	struct proc *own = __atomic_load_n(&sched.stw_owner, __ATOMIC_ACQUIRE);

	rt_lock(&sched.lock);
	n = __atomic_load_n(&sched.maxprocs, __ATOMIC_ACQUIRE);
	__atomic_store_n(&sched.stw_pending, 0, __ATOMIC_SEQ_CST);
	for (int i = n - 1; i >= 0; i--) {
		struct proc *p = sched.allp[i];

		if (p == own || __atomic_load_n(&p->status, __ATOMIC_ACQUIRE) != P_STOPPED)
			continue;
		if (runq_empty(p)) {
			__atomic_store_n(&p->status, P_IDLE, __ATOMIC_RELEASE);
			p->link = sched.pidle;
			sched.pidle = p;
			__atomic_add_fetch(&sched.npidle, 1, __ATOMIC_SEQ_CST);
		} else {
			__atomic_store_n(&p->status, P_RUNNING, __ATOMIC_RELEASE);
			start[nstart++] = p;
		}
	}
	__atomic_store_n(&sched.stw_owner, NULL, __ATOMIC_RELEASE);
	rt_unlock(&sched.lock);
	for (int i = 0; i < nstart; i++)
		startm_proc(start[i]);
	sched_wakep();
	stw_turn_release();
}

int64_t gort_for_each_goroutine(void (*fn)(const struct gort_goroutine_view *, void *), void *arg)
{
	int64_t n = registry_count(), visited = 0;

	for (int64_t i = 0; i < n; i++) {
		struct goroutine *g = registry_get(i);
		uint32_t st = __atomic_load_n(&g->status, __ATOMIC_ACQUIRE);
		struct gort_goroutine_view v = { 0 };

		switch (st) {
		case G_RUNNABLE:
			v.state = GORT_GSTATE_RUNNABLE;
			break;
		case G_RUNNING:
			v.state = GORT_GSTATE_RUNNING;
			break;
		case G_WAITING:
			v.state = GORT_GSTATE_WAITING;
			break;
		case G_SYSCALL:
			v.state = GORT_GSTATE_SYSCALL;
			break;
		default:
			continue;
		}
		v.id = g->id;
		v.wait_reason = g->wait_reason;
		v.lo = g->stack.lo;
		v.hi = g->stack.hi;
		if (st == G_SYSCALL) {
			/* Its registers were spilled above syscall_sp at entry. */
			v.sp = g->syscall_sp;
		} else {
			v.sp = g->ctx.sp ? g->ctx.sp : g->stack.hi;
			if (st != G_RUNNING && g->ctx.sp)
				v.nregs = ctx_saved_regs(g->ctx.sp, v.regs, 8);
		}
		fn(&v, arg);
		visited++;
	}
	return visited;
}
