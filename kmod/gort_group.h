/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gort_group.h - the group: state behind one open file of /dev/gort
 */
#ifndef GORT_GROUP_H
#define GORT_GROUP_H

#include <linux/atomic.h>
#include <linux/types.h>

struct mm_struct;

/**
 * struct gort_group - state of one open file description of /dev/gort
 * @mm: address space of the opener.  A reference is held with mmgrab(), so
 *      the pointer stays valid (and is not reused for another mm) for the
 *      life of the group; it is only compared, never used to reach the
 *      address space.
 *
 * Later stages add the worker table (indexed by handle), its lock and the
 * shared pages mmap'd into the process.
 */
struct gort_group {
	struct mm_struct *mm;
};

/* Number of live groups in the whole module. */
extern atomic_t gort_groups_live;

struct gort_group *gort_group_create(void);
void gort_group_destroy(struct gort_group *group);
bool gort_group_is_current(const struct gort_group *group);

#endif /* GORT_GROUP_H */
