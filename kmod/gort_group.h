/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gort_group.h - groups (one per open file of /dev/gort) and their workers
 */
#ifndef GORT_GROUP_H
#define GORT_GROUP_H

#include <linux/atomic.h>
#include <linux/cpumask.h>
#include <linux/irq_work.h>
#include <linux/kref.h>
#include <linux/mutex.h>
#include <linux/preempt.h>
#include <linux/rcupdate.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include <linux/gort.h>

struct file;
struct mm_struct;
struct task_struct;
struct vm_area_struct;

/**
 * struct gort_worker - a thread registered with a group
 * @group:   the group; the worker holds a reference on it
 * @task:    the thread; a task reference is held
 * @pn:      preempt notifier, linked into @task's list while registered.
 *           Only @task itself adds or removes it (the list has no lock).
 * @wq:      WAIT and SWITCH sleep here
 * @token:   wake token: 1 when a wake is pending
 * @handle:  the handle given to user space
 * @index:   index in the group's table and shared slots
 * @parking: set by @task around its WAIT/SWITCH sleep: such a sleep is a
 *           park of the library and is not reported as a block (others
 *           read it, racily, as a hint that @task sleeps in WAIT)
 * @reported: set by sched_out when it reported a block, cleared by sched_in
 * @saved_mask: a SWITCH target's allowed CPUs, kept by the switching worker
 *           around a GORT_SWITCH_AFFINITY wake
 * @rcu:     the worker is freed after a grace period, so RCU readers of
 *           the group's table (WAKE, the spare's irq_work) may use it
 *
 * @parking and @reported are written only by @task (in ioctl or scheduler
 * context on its own CPU), so they need no atomics.
 */
struct gort_worker {
	struct gort_group *group;
	struct task_struct *task;
	struct preempt_notifier pn;
	wait_queue_head_t wq;
	atomic_t token;
	u32 handle;
	u32 index;
	bool parking;
	bool reported;
	cpumask_var_t saved_mask;
	struct rcu_head rcu;
};

/**
 * struct gort_group - state of one open file description of /dev/gort
 * @mm:       address space of the opener, held with mmgrab(); it is only
 *            compared with current->mm, never used to reach the memory
 * @ref:      references: the file, and one per worker (orphaned workers
 *            of a closed group keep it until their thread lets go)
 * @lock:     protects @workers (writers), @gen, @nworkers, @closed; never
 *            taken from scheduler context or with a run-queue lock held
 * @workers:  the table, RCU-protected for readers
 * @gen:      generation of each table entry, part of the handle
 * @nworkers: live entries in @workers
 * @spare:    index of the spare worker, or GORT_HANDLE_NONE
 * @closed:   the last descriptor was closed: waits fail with EBADF
 * @shared:   the mmap'able block-notification area (vmalloc_user)
 * @affinity_lock: serializes GORT_SWITCH_AFFINITY's save/restore of a
 *            target's allowed CPUs (sleeps: process context only)
 * @spare_iw: queued from sched_out to wake the spare outside the rq lock
 * @free_work: final free from atomic context (see gort_group_put())
 * @id:       number shown in the tracepoints
 */
struct gort_group {
	struct mm_struct *mm;
	struct kref ref;
	spinlock_t lock;	/* see @lock above */
	struct gort_worker __rcu *workers[GORT_MAX_WORKERS];
	u16 gen[GORT_MAX_WORKERS];
	u32 nworkers;
	u32 spare;
	bool closed;
	struct gort_shared *shared;
	struct mutex affinity_lock;	/* see @affinity_lock above */
	struct irq_work spare_iw;
	struct work_struct free_work;
	u32 id;
};

/* Placement used by SWITCH (module parameter switch_mode). */
enum {
	GORT_SWITCH_PLAIN = 0,	/* wake_up without hint */
	GORT_SWITCH_SYNC = 1,	/* WF_SYNC wake (wake_up_interruptible_sync) */
	GORT_SWITCH_AFFINITY = 2, /* target's CPUs = caller's CPU around the wake */
};

/* Live objects of the whole module (debugfs). */
extern atomic_t gort_groups_live;
extern atomic_t gort_workers_live;
extern struct workqueue_struct *gort_wq;
extern int gort_switch_mode;

struct gort_group *gort_group_create(void);
void gort_group_release(struct gort_group *group);
void gort_group_flush(struct gort_group *group, struct file *file);
void gort_group_put(struct gort_group *group);
void gort_group_put_async(struct gort_group *group);
bool gort_group_is_current(const struct gort_group *group);
int gort_group_mmap(struct gort_group *group, struct vm_area_struct *vma);
struct gort_worker *gort_group_lookup(struct gort_group *group, u32 handle);

int gort_worker_register(struct gort_group *group, u32 *handle);
int gort_worker_unregister(struct gort_group *group);
int gort_worker_wait(struct gort_group *group, u64 timeout_ns);
int gort_worker_wake(struct gort_group *group, u32 handle);
int gort_worker_switch(struct gort_group *group, u32 handle, u64 timeout_ns);
int gort_worker_set_spare(struct gort_group *group, u32 handle);
void gort_spare_irq_work(struct irq_work *iw);

int gort_workers_init(void);
void gort_workers_exit(void);

#endif /* GORT_GROUP_H */
