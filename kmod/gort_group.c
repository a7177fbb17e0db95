// SPDX-License-Identifier: GPL-2.0
/*
 * gort_group.c - the group: state behind one open file of /dev/gort
 *
 * A group is bound to the address space of the task that opened the
 * device.  Only threads of that address space may operate on it, which
 * makes an fd inherited over fork() or received over a unix socket
 * useless to its new holder.
 */
#include <linux/err.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "gort_group.h"

atomic_t gort_groups_live = ATOMIC_INIT(0);

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

	group = kzalloc(sizeof(*group), GFP_KERNEL);
	if (!group)
		return ERR_PTR(-ENOMEM);

	mmgrab(mm);
	group->mm = mm;
	atomic_inc(&gort_groups_live);
	return group;
}

/**
 * gort_group_destroy() - free a group and drop its address space reference
 * @group: the group, may be NULL
 */
void gort_group_destroy(struct gort_group *group)
{
	if (!group)
		return;

	mmdrop(group->mm);
	kfree(group);
	atomic_dec(&gort_groups_live);
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
