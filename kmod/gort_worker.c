// SPDX-License-Identifier: GPL-2.0
/*
 * gort_worker.c - workers: register, wait/wake/switch, block notification
 *
 * A worker is a thread with a gort preempt notifier in its own
 * task->preempt_notifiers list.  That list has no lock: only the thread
 * itself adds or removes entries (REGISTER, UNREGISTER, and the
 * sched_process_exit/exec tracepoint probes, which run in the exiting or
 * exec'ing thread), with preemption disabled.  The same list tells which
 * worker, if any, the current thread is (gort_current_worker()).
 *
 * Locking: group->lock (a spinlock, process context or tracepoint probe
 * with preemption disabled, never IRQ or scheduler context) serializes
 * changes of the worker table; readers use RCU, and workers are freed
 * after a grace period.  The preempt notifier callbacks run with the rq
 * lock held (sched_out) or preemption disabled (sched_in): they take no
 * lock, write only kernel memory (the shared pages, the worker) and queue
 * an irq_work; the irq_work takes only the waitqueue lock of the spare.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/errno.h>
#include <linux/hrtimer.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/tracepoint.h>
#include <linux/version.h>

#include "gort_group.h"

#define CREATE_TRACE_POINTS
#include "gort_trace.h"

atomic_t gort_workers_live = ATOMIC_INIT(0);

/* SWITCH placement; see kmod/README.md for the measurements. */
int gort_switch_mode = GORT_SWITCH_AFFINITY;

enum { GORT_UNREG_IOCTL, GORT_UNREG_EXIT, GORT_UNREG_EXEC };

/* The area's block_count is updated with atomic64 operations. */
static_assert(sizeof(atomic64_t) == sizeof(u64));

static struct preempt_ops gort_preempt_ops;

/* The worker the current thread is, or NULL.  Current context only. */
static struct gort_worker *gort_current_worker(void)
{
	struct preempt_notifier *pn;

	hlist_for_each_entry(pn, &current->preempt_notifiers, link) {
		if (pn->ops == &gort_preempt_ops)
			return container_of(pn, struct gort_worker, pn);
	}
	return NULL;
}

/* Is @p going to sleep (as opposed to being preempted)?  sched_out only. */
static bool gort_task_blocking(struct task_struct *p)
{
#if KERNEL_VERSION(6, 12, 0) <= LINUX_VERSION_CODE
	/* A delayed dequeue leaves on_rq set on a sleeping task. */
	return !task_is_runnable(p);
#else
	/* __schedule() dequeues a sleeping task before the notifiers run. */
	return !READ_ONCE(p->on_rq);
#endif
}

static struct gort_slot *gort_slot(struct gort_worker *w)
{
	return &w->group->shared->slots[w->index];
}

/*
 * sched_out: run-queue lock held, IRQs off.  Report a block of a worker
 * holding a proc: RUNNING -> BLOCKED, and have the spare woken.
 */
static void gort_sched_out(struct preempt_notifier *pn,
			   struct task_struct *next)
{
	struct gort_worker *w = container_of(pn, struct gort_worker, pn);
	struct gort_group *group = w->group;
	struct gort_slot *slot;
	u32 seq;

	if (w->parking || !gort_task_blocking(current) ||
	    READ_ONCE(group->closed))
		return;
	slot = gort_slot(w);
	if (READ_ONCE(slot->state) != GORT_SLOT_RUNNING ||
	    cmpxchg(&slot->state, GORT_SLOT_RUNNING,
		    GORT_SLOT_BLOCKED) != GORT_SLOT_RUNNING)
		return;
	/* Only this worker's own scheduler hooks write its seq. */
	seq = READ_ONCE(slot->seq) + 1;
	WRITE_ONCE(slot->seq, seq);
	w->reported = true;
	atomic64_inc((atomic64_t *)&group->shared->block_count);
	trace_gort_block(group->id, w->handle, seq, GORT_SLOT_BLOCKED);
	irq_work_queue(&group->spare_iw);
}

/*
 * sched_in: preemption disabled.  A reported worker runs again: give the
 * proc back (BLOCKED -> RUNNING) unless the spare took it (TAKEN stays).
 */
static void gort_sched_in(struct preempt_notifier *pn, int cpu)
{
	struct gort_worker *w = container_of(pn, struct gort_worker, pn);
	struct gort_slot *slot;
	u32 state, seq;

	if (!w->reported)
		return;
	w->reported = false;
	slot = gort_slot(w);
	state = cmpxchg(&slot->state, GORT_SLOT_BLOCKED, GORT_SLOT_RUNNING);
	if (state == GORT_SLOT_BLOCKED)
		state = GORT_SLOT_RUNNING;
	seq = READ_ONCE(slot->seq) + 1;
	WRITE_ONCE(slot->seq, seq);
	trace_gort_unblock(w->group->id, w->handle, seq, state);
}

static struct preempt_ops gort_preempt_ops = {
	.sched_in	= gort_sched_in,
	.sched_out	= gort_sched_out,
};

/* Set @w's wake token and wake it if it sleeps in WAIT/SWITCH. */
static void gort_wake_worker(struct gort_worker *w, bool sync)
{
	/*
	 * The waiter adds itself to w->wq before testing the token; the
	 * waitqueue lock orders this store against that test.
	 */
	atomic_set(&w->token, 1);
	if (sync)
		wake_up_interruptible_sync(&w->wq);
	else
		wake_up_interruptible(&w->wq);
}

/* irq_work queued by sched_out: wake the group's spare worker. */
void gort_spare_irq_work(struct irq_work *iw)
{
	struct gort_group *group = container_of(iw, struct gort_group,
						spare_iw);
	struct gort_worker *w;

	rcu_read_lock();
	w = gort_group_lookup(group, READ_ONCE(group->spare));
	if (w) {
		gort_wake_worker(w, false);
		trace_gort_spare_wake(group->id, w->handle, 0);
	}
	rcu_read_unlock();
}

static void gort_worker_free_rcu(struct rcu_head *rcu)
{
	struct gort_worker *w = container_of(rcu, struct gort_worker, rcu);
	struct gort_group *group = w->group;

	put_task_struct(w->task);
	free_cpumask_var(w->saved_mask);
	kfree(w);
	atomic_dec(&gort_workers_live);
	gort_group_put_async(group);
	/* rcu_barrier() in module exit waits for this callback. */
	module_put(THIS_MODULE);
}

/*
 * Undo a registration.  Runs in the worker's own thread (ioctl, or the
 * exit/exec probe with preemption disabled): it alone may unlink its
 * preempt notifier.  Never sleeps.
 */
static void gort_worker_detach(struct gort_worker *w, int reason)
{
	struct gort_group *group = w->group;

	preempt_disable();
	preempt_notifier_unregister(&w->pn);
	preempt_enable();

	spin_lock(&group->lock);
	RCU_INIT_POINTER(group->workers[w->index], NULL);
	group->nworkers--;
	if (group->spare == w->handle)
		WRITE_ONCE(group->spare, GORT_HANDLE_NONE);
	WRITE_ONCE(gort_slot(w)->state, GORT_SLOT_IDLE);
	spin_unlock(&group->lock);

	trace_gort_unregister(group->id, w->handle, task_pid_nr(w->task),
			      reason);
	call_rcu(&w->rcu, gort_worker_free_rcu);
}

/**
 * gort_worker_register() - make the calling thread a worker of @group
 * @group: the group (caller checked the mm)
 * @handle: out: the new handle
 *
 * Return: 0, -EBUSY already a worker, -ENOSPC table full, -EBADF group
 * closed, -ENOMEM.
 */
int gort_worker_register(struct gort_group *group, u32 *handle)
{
	struct gort_worker *w;
	u32 i;
	int ret = 0;

	if (gort_current_worker())
		return -EBUSY;

	w = kzalloc(sizeof(*w), GFP_KERNEL_ACCOUNT);
	if (!w)
		return -ENOMEM;
	if (!zalloc_cpumask_var(&w->saved_mask, GFP_KERNEL_ACCOUNT)) {
		kfree(w);
		return -ENOMEM;
	}
	init_waitqueue_head(&w->wq);
	preempt_notifier_init(&w->pn, &gort_preempt_ops);
	w->group = group;
	w->task = current;

	spin_lock(&group->lock);
	if (group->closed) {
		ret = -EBADF;
	} else if (group->nworkers >= GORT_MAX_WORKERS) {
		ret = -ENOSPC;
	} else {
		for (i = 0; i < GORT_MAX_WORKERS; i++)
			if (!rcu_access_pointer(group->workers[i]))
				break;
		/* 15 generation bits: a handle never equals HANDLE_NONE. */
		group->gen[i] = (group->gen[i] + 1) & 0x7fff;
		w->index = i;
		w->handle = ((u32)group->gen[i] << 16) | i;
		WRITE_ONCE(group->shared->slots[i].state, GORT_SLOT_IDLE);
		group->nworkers++;
		rcu_assign_pointer(group->workers[i], w);
	}
	spin_unlock(&group->lock);
	if (ret) {
		free_cpumask_var(w->saved_mask);
		kfree(w);
		return ret;
	}

	/* The open file pins the module and the group while we get these. */
	kref_get(&group->ref);
	get_task_struct(current);
	__module_get(THIS_MODULE);
	atomic_inc(&gort_workers_live);

	preempt_disable();
	preempt_notifier_register(&w->pn);
	preempt_enable();

	trace_gort_register(group->id, w->handle, task_pid_nr(current));
	*handle = w->handle;
	return 0;
}

/* The calling thread's worker in @group, or NULL. */
static struct gort_worker *gort_self(struct gort_group *group)
{
	struct gort_worker *w = gort_current_worker();

	return w && w->group == group ? w : NULL;
}

/**
 * gort_worker_unregister() - the calling thread stops being a worker
 * @group: the group
 *
 * Return: 0, or -ENXIO when the caller is not a worker of @group.
 */
int gort_worker_unregister(struct gort_group *group)
{
	struct gort_worker *w = gort_self(group);

	if (!w)
		return -ENXIO;
	gort_worker_detach(w, GORT_UNREG_IOCTL);
	return 0;
}

/* Sleep until @w's token is set; @w is the caller's own worker. */
static int gort_wait_self(struct gort_worker *w, u64 timeout_ns)
{
	struct gort_group *group = w->group;
	DECLARE_WAITQUEUE(wait, current);
	ktime_t deadline = 0;
	int ret;

	if (timeout_ns)
		deadline = ktime_add_safe(ktime_get(),
					  ns_to_ktime(min_t(u64, timeout_ns,
							    KTIME_MAX)));

	/* From here the sleep is a park of the library, not a block. */
	WRITE_ONCE(w->parking, true);
	add_wait_queue(&w->wq, &wait);
	for (;;) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (atomic_xchg(&w->token, 0)) {
			ret = 0;
			break;
		}
		if (READ_ONCE(group->closed)) {
			ret = -EBADF;
			break;
		}
		if (signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		if (!timeout_ns) {
			schedule();
			continue;
		}
		if (ktime_compare(ktime_get(), deadline) >= 0) {
			ret = -ETIMEDOUT;
			break;
		}
		schedule_hrtimeout_range(&deadline, 0, HRTIMER_MODE_ABS);
	}
	__set_current_state(TASK_RUNNING);
	remove_wait_queue(&w->wq, &wait);
	WRITE_ONCE(w->parking, false);

	trace_gort_wait(group->id, w->handle, timeout_ns, ret);
	return ret;
}

/**
 * gort_worker_wait() - WAIT on the caller's own wake token
 * @group: the group
 * @timeout_ns: relative timeout, 0 for none
 *
 * Return: 0, -ETIMEDOUT, -EINTR, -EBADF (group closed), -ENXIO (caller
 * is not a worker of @group).
 */
int gort_worker_wait(struct gort_group *group, u64 timeout_ns)
{
	struct gort_worker *w = gort_self(group);

	if (!w)
		return -ENXIO;
	return gort_wait_self(w, timeout_ns);
}

/**
 * gort_worker_wake() - WAKE the worker named by @handle
 * @group: the group
 * @handle: from user space
 *
 * Return: 0, or -ESRCH for a handle naming no live worker.
 */
int gort_worker_wake(struct gort_group *group, u32 handle)
{
	struct gort_worker *w;

	rcu_read_lock();
	w = gort_group_lookup(group, handle);
	if (w) {
		gort_wake_worker(w, false);
		trace_gort_wake(group->id, handle, task_pid_nr(current));
	}
	rcu_read_unlock();
	return w ? 0 : -ESRCH;
}

/*
 * GORT_SWITCH_AFFINITY: restrict the target to this CPU around the wake
 * so that select_task_rq() must put it here, then restore its CPUs (that
 * does not move it: this CPU is in the restored mask).  Sleeps.
 *
 * Only a target parked in WAIT/SWITCH is restricted (a running one would
 * be migrated, which is slow and pointless), only when this CPU is among
 * its allowed ones, and group->affinity_lock serializes the save/restore
 * pairs so that two SWITCHes to one target cannot save each other's
 * temporary mask.  The restore is skipped when the mask is no longer the
 * one set here (the thread changed its own affinity meanwhile).
 */
static int gort_switch_affinity(struct gort_group *group,
				struct gort_worker *self, u32 handle)
{
	struct task_struct *task;
	struct gort_worker *w;
	bool pinned = false;
	int cpu;

	rcu_read_lock();
	w = gort_group_lookup(group, handle);
	if (!w) {
		rcu_read_unlock();
		return -ESRCH;
	}
	if (!READ_ONCE(w->parking)) {
		/* running: a token and a plain wake do */
		gort_wake_worker(w, true);
		rcu_read_unlock();
		return 0;
	}
	task = w->task;
	get_task_struct(task);
	rcu_read_unlock();

	mutex_lock(&group->affinity_lock);
	cpu = raw_smp_processor_id();
	cpumask_copy(self->saved_mask, task->cpus_ptr);
	if (cpumask_test_cpu(cpu, self->saved_mask) &&
	    cpumask_weight(self->saved_mask) > 1)
		pinned = !set_cpus_allowed_ptr(task, cpumask_of(cpu));

	rcu_read_lock();
	w = gort_group_lookup(group, handle);
	if (w)
		gort_wake_worker(w, true);
	rcu_read_unlock();

	if (pinned && cpumask_equal(task->cpus_ptr, cpumask_of(cpu)))
		set_cpus_allowed_ptr(task, self->saved_mask);
	mutex_unlock(&group->affinity_lock);
	put_task_struct(task);
	return w ? 0 : -ESRCH;
}

/**
 * gort_worker_switch() - wake @handle onto this CPU and WAIT
 * @group: the group
 * @handle: the target, not the caller
 * @timeout_ns: timeout of the wait, 0 for none
 *
 * Return: as gort_worker_wake() (nothing waited) then gort_worker_wait();
 * -EINVAL when @handle is the caller's.
 */
int gort_worker_switch(struct gort_group *group, u32 handle, u64 timeout_ns)
{
	struct gort_worker *self = gort_self(group);
	struct gort_worker *w;
	int mode = READ_ONCE(gort_switch_mode);
	int ret = 0;

	if (!self)
		return -ENXIO;
	if (handle == self->handle)
		return -EINVAL;

	/*
	 * The whole SWITCH is a park of the library: a sleep on the affinity
	 * mutex or in set_cpus_allowed_ptr() is not a block to report.
	 * gort_wait_self() clears the flag.
	 */
	WRITE_ONCE(self->parking, true);
	if (mode == GORT_SWITCH_AFFINITY) {
		ret = gort_switch_affinity(group, self, handle);
	} else {
		rcu_read_lock();
		w = gort_group_lookup(group, handle);
		if (w)
			gort_wake_worker(w, mode == GORT_SWITCH_SYNC);
		else
			ret = -ESRCH;
		rcu_read_unlock();
	}
	if (ret) {
		WRITE_ONCE(self->parking, false);
		return ret;
	}
	trace_gort_switch(group->id, self->handle, handle, mode,
			  raw_smp_processor_id());
	return gort_wait_self(self, timeout_ns);
}

/**
 * gort_worker_set_spare() - choose the worker woken on block reports
 * @group: the group
 * @handle: a live worker, or GORT_HANDLE_NONE
 *
 * Return: 0, or -ESRCH.
 */
int gort_worker_set_spare(struct gort_group *group, u32 handle)
{
	int ret = 0;

	spin_lock(&group->lock);
	if (handle != GORT_HANDLE_NONE && !gort_group_lookup(group, handle))
		ret = -ESRCH;
	else
		WRITE_ONCE(group->spare, handle);
	spin_unlock(&group->lock);
	return ret;
}

/*
 * Thread exit and exec: a worker is detached in its own context.  The
 * probes run with preemption disabled (no sleeping), p == current.
 */
static void gort_probe_exit(void *data, struct task_struct *p)
{
	struct gort_worker *w;

	if (p != current)
		return;
	w = gort_current_worker();
	if (w)
		gort_worker_detach(w, GORT_UNREG_EXIT);
}

static void gort_probe_exec(void *data, struct task_struct *p, pid_t old_pid,
			    struct linux_binprm *bprm)
{
	struct gort_worker *w;

	if (p != current)
		return;
	w = gort_current_worker();
	if (w)
		gort_worker_detach(w, GORT_UNREG_EXEC);
}

static struct tracepoint *gort_tp_exit, *gort_tp_exec;

static void gort_find_tp(struct tracepoint *tp, void *priv)
{
	if (!strcmp(tp->name, "sched_process_exit"))
		gort_tp_exit = tp;
	else if (!strcmp(tp->name, "sched_process_exec"))
		gort_tp_exec = tp;
}

/**
 * gort_workers_init() - attach the exit/exec probes, enable notifiers
 *
 * preempt_notifier_inc() is taken once here (not per worker): its
 * counterpart sleeps, and workers are detached from atomic context.
 *
 * Return: 0 or a negative errno.
 */
int gort_workers_init(void)
{
	int ret;

	for_each_kernel_tracepoint(gort_find_tp, NULL);
	if (!gort_tp_exit || !gort_tp_exec) {
		pr_err("sched_process_exit/exec tracepoints not found\n");
		return -ENOENT;
	}
	ret = tracepoint_probe_register(gort_tp_exit, gort_probe_exit, NULL);
	if (ret)
		return ret;
	ret = tracepoint_probe_register(gort_tp_exec, gort_probe_exec, NULL);
	if (ret) {
		tracepoint_probe_unregister(gort_tp_exit, gort_probe_exit,
					    NULL);
		tracepoint_synchronize_unregister();
		return ret;
	}
	preempt_notifier_inc();
	return 0;
}

/**
 * gort_workers_exit() - detach the probes; wait for deferred frees
 *
 * No worker exists (each holds a module reference), but RCU callbacks
 * freeing the last ones may still be pending.
 */
void gort_workers_exit(void)
{
	tracepoint_probe_unregister(gort_tp_exec, gort_probe_exec, NULL);
	tracepoint_probe_unregister(gort_tp_exit, gort_probe_exit, NULL);
	tracepoint_synchronize_unregister();
	rcu_barrier();
	preempt_notifier_dec();
}
