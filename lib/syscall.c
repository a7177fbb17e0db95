// SPDX-License-Identifier: MIT
/*
 * Syscall regions (Go's entersyscall/exitsyscall). On entry the proc stays
 * with the worker but is marked P_SYSCALL: sysmon may take it 20 us later and
 * hand it to another worker. On exit the goroutine takes its proc back if it
 * is still there (one CAS, the common case for short calls), else any idle
 * proc, else it queues itself globally and its worker goes idle.
 * With gort.ko the module reports a block inside the region at once and the
 * spare takes the proc (kassist.c); sysmon's retake stays the fallback.
 */
#include <errno.h>

#include "probes.h"
#include "runtime.h"

void gort_syscall_enter(void)
{
	struct worker *w = this_worker();
	struct goroutine *g = w ? w->curg : NULL;
	struct proc *p;

	if (!g || g->in_syscall)
		return;
	p = w->proc;
	/*
	 * For a scanner while we are blocked (Go saves the sp at entersyscall):
	 * spill the callee-saved registers into this frame and publish its
	 * stack pointer, so [syscall_sp, hi) covers the caller's frames and
	 * the registers it holds. Nothing inside the region may call gort.
	 */
	__builtin_unwind_init();
	g->syscall_sp = ctx_current_sp();
	/* Where a goroutine dump starts this goroutine's trace: its caller's
	 * frame, which outlives this one (the library keeps frame pointers). */
	g->syscall_pc = __builtin_return_address(0);
	g->syscall_fp = *(void **)__builtin_frame_address(0);
	GORT_PROBE2(syscall__enter, g->id, p->id);
	g->in_syscall = true;
	g->syscall_proc = p;
	p->syscalltick++;
	__atomic_store_n(&p->syscall_when, nanotime(), __ATOMIC_RELAXED);
	__atomic_store_n(&g->status, G_SYSCALL, __ATOMIC_RELAXED);
	/* seq_cst: pairs with sysmon's scan before it sleeps long. */
	__atomic_store_n(&p->status, P_SYSCALL, __ATOMIC_SEQ_CST);
	/* With gort.ko, blocking in the kernel now wakes the spare at once. */
	if (w->kassist_slot)
		kassist_syscall_enter(w, p);
	sysmon_wake();
}

void gort_syscall_exit(void)
{
	int saved_errno = errno;
	struct worker *w = this_worker();
	struct goroutine *g = w ? w->curg : NULL;
	struct proc *p, *lent;
	uint32_t expect = P_SYSCALL;

	if (!g || !g->in_syscall)
		return;
	g->in_syscall = false;
	if (w->kassist_slot)
		kassist_syscall_exit(w);
	p = lent = g->syscall_proc;
	g->syscall_proc = NULL;
	if (__atomic_compare_exchange_n(&p->status, &expect, P_RUNNING, false, __ATOMIC_ACQ_REL,
					__ATOMIC_RELAXED)) {
		__atomic_store_n(&g->status, G_RUNNING, __ATOMIC_RELAXED);
		GORT_PROBE2(syscall__exit, g->id, 0);
		errno = saved_errno;
		sched_safe_point();
		errno = saved_errno;
		return;
	}
	/* The proc was handed to another worker (or stopped for the world). */
	w->proc = NULL;
	p = proc_idle_get();
	if (p) {
		acquire_proc(w, p);
		__atomic_store_n(&g->status, G_RUNNING, __ATOMIC_RELAXED);
		GORT_PROBE2(syscall__exit, g->id, 1);
		errno = saved_errno;
		return;
	}
	GORT_PROBE2(syscall__exit, g->id, 2);
	errno = saved_errno;
	g->syscall_proc = lent; /* for SW_SYSCALL_EXIT */
	sched_switch_to_g0(SW_SYSCALL_EXIT);
	errno = saved_errno;
}

long gort_blocking(long (*fn)(void *), void *arg)
{
	long r;

	gort_syscall_enter();
	r = fn(arg);
	gort_syscall_exit();
	return r;
}
