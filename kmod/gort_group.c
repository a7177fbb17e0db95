// SPDX-License-Identifier: GPL-2.0
/*
 * gort_group.c - the group: state behind one open file of /dev/gort
 *
 * A group is bound to the address space of the task that opened the
 * device.  Only threads of that address space may operate on it, which
 * makes an fd inherited over fork() or received over a unix socket
 * useless to its new holder.
 *
 * Lifetime: the file holds one reference and each worker one (see
 * struct gort_group).  The last put frees the shared area, drops the mm
 * and frees the group; from atomic context (an RCU callback freeing a
 * worker) that is deferred to gort_wq.
 */
#include <linux/err.h>
#include <linux/fdtable.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/version.h>

#include "gort_group.h"

atomic_t gort_groups_live = ATOMIC_INIT(0);
static atomic_t gort_group_ids = ATOMIC_INIT(0);

/* Deferred frees; drained by destroy_workqueue() at module exit. */
struct workqueue_struct *gort_wq;

static void gort_group_free(struct gort_group *group)
{
	/* No sched_out can queue it any more: every worker is gone. */
	irq_work_sync(&group->spare_iw);
	mutex_destroy(&group->affinity_lock);
	vfree(group->shared);
	mmdrop(group->mm);
	kvfree(group);
	atomic_dec(&gort_groups_live);
}

static void gort_group_free_work(struct work_struct *work)
{
	gort_group_free(container_of(work, struct gort_group, free_work));
}

static void gort_group_kref_release(struct kref *ref)
{
	gort_group_free(container_of(ref, struct gort_group, ref));
}

static void gort_group_kref_release_async(struct kref *ref)
{
	struct gort_group *group = container_of(ref, struct gort_group, ref);

	queue_work(gort_wq, &group->free_work);
}

/**
 * gort_group_put() - drop a reference from process context
 * @group: the group
 */
void gort_group_put(struct gort_group *group)
{
	kref_put(&group->ref, gort_group_kref_release);
}

/**
 * gort_group_put_async() - drop a reference from any context
 * @group: the group
 *
 * The last reference frees the group from gort_wq.
 */
void gort_group_put_async(struct gort_group *group)
{
	kref_put(&group->ref, gort_group_kref_release_async);
}

/**
 * gort_group_create() - create a group bound to current's address space
 *
 * Return: the new group, ERR_PTR(-EPERM) for a caller without an address
 * space (a kernel thread), ERR_PTR(-ENOMEM) when out of memory.
 */
struct gort_group *gort_group_create(void)
{
	struct mm_struct *mm = current->mm;
	struct gort_group *group;

	if (!mm)
		return ERR_PTR(-EPERM);

	group = kvzalloc(sizeof(*group), GFP_KERNEL_ACCOUNT);
	if (!group)
		return ERR_PTR(-ENOMEM);
	group->shared = vmalloc_user(PAGE_ALIGN(GORT_SHARED_SIZE));
	if (!group->shared) {
		kvfree(group);
		return ERR_PTR(-ENOMEM);
	}

	kref_init(&group->ref);
	spin_lock_init(&group->lock);
	mutex_init(&group->affinity_lock);
	group->spare = GORT_HANDLE_NONE;
	init_irq_work(&group->spare_iw, gort_spare_irq_work);
	INIT_WORK(&group->free_work, gort_group_free_work);
	group->id = atomic_inc_return(&gort_group_ids);
	mmgrab(mm);
	group->mm = mm;
	atomic_inc(&gort_groups_live);
	return group;
}

/* Mark the group closed and wake every waiter; they return EBADF. */
static void gort_group_close(struct gort_group *group)
{
	struct gort_worker *w;
	u32 i;

	spin_lock(&group->lock);
	WRITE_ONCE(group->closed, true);
	WRITE_ONCE(group->spare, GORT_HANDLE_NONE);
	for (i = 0; i < GORT_MAX_WORKERS; i++) {
		w = rcu_dereference_protected(group->workers[i],
					      lockdep_is_held(&group->lock));
		if (w)
			wake_up_interruptible_all(&w->wq);
	}
	spin_unlock(&group->lock);
}

static int gort_fd_is(const void *file, struct file *f, unsigned int fd)
{
	return f == file;
}

/**
 * gort_group_flush() - a descriptor of the group is being closed
 * @group: the group
 * @file: its file
 *
 * Called on every close(), after the descriptor left the table.  When a
 * thread of the owner's address space closes the owner's last descriptor
 * of @file, the group is closed and the threads sleeping in WAIT/SWITCH
 * (whose ioctls hold file references, so ->release cannot run yet) return
 * EBADF.  Closes by other processes (a fork child, a receiver of the fd)
 * and closing a dup()ed descriptor while another remains do nothing.
 */
void gort_group_flush(struct gort_group *group, struct file *file)
{
	if (!gort_group_is_current(group) || !current->files)
		return;
	if (!iterate_fd(current->files, 0, gort_fd_is, file))
		gort_group_close(group);
}

/**
 * gort_group_release() - the file is gone: drop its reference
 * @group: the group, may be NULL
 *
 * Workers still registered become orphans: they keep the group (and the
 * module) alive until their threads unregister, exit or exec.
 */
void gort_group_release(struct gort_group *group)
{
	if (!group)
		return;
	gort_group_close(group);
	gort_group_put(group);
}

/**
 * gort_group_is_current() - may the calling thread operate on @group?
 * @group: the group
 *
 * Return: true if current runs in the address space that opened @group.
 */
bool gort_group_is_current(const struct gort_group *group)
{
	return current->mm == group->mm;
}

/**
 * gort_group_lookup() - the live worker named by @handle
 * @group: the group
 * @handle: a handle from user space, unchecked
 *
 * Caller holds rcu_read_lock() or @group->lock.
 *
 * Return: the worker, or NULL for a bad or stale handle.
 */
struct gort_worker *gort_group_lookup(struct gort_group *group, u32 handle)
{
	u32 index = GORT_HANDLE_INDEX(handle);
	struct gort_worker *w;

	if (index >= GORT_MAX_WORKERS)
		return NULL;
	w = rcu_dereference_check(group->workers[index],
				  lockdep_is_held(&group->lock));
	if (!w || w->handle != handle)
		return NULL;
	return w;
}

/**
 * gort_group_mmap() - map the shared block-notification area
 * @group: the group
 * @vma: the new mapping
 *
 * Only MAP_SHARED at offset 0, at most the area's size.  The mapping is
 * not copied into fork() children (VM_DONTCOPY) and cannot grow.
 *
 * Return: 0, -EPERM from another address space, -EINVAL otherwise.
 */
int gort_group_mmap(struct gort_group *group, struct vm_area_struct *vma)
{
	unsigned long size = vma->vm_end - vma->vm_start;
	int ret;

	if (!gort_group_is_current(group))
		return -EPERM;
	if (vma->vm_pgoff || size > PAGE_ALIGN(GORT_SHARED_SIZE) ||
	    !(vma->vm_flags & VM_SHARED))
		return -EINVAL;

	ret = remap_vmalloc_range(vma, group->shared, 0);
	if (ret)
		return ret;
#if KERNEL_VERSION(6, 3, 0) <= LINUX_VERSION_CODE
	vm_flags_set(vma, VM_DONTCOPY | VM_DONTEXPAND | VM_DONTDUMP);
#else
	vma->vm_flags |= VM_DONTCOPY | VM_DONTEXPAND | VM_DONTDUMP;
#endif
	return 0;
}
