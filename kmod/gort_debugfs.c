// SPDX-License-Identifier: GPL-2.0
/*
 * gort_debugfs.c - debug counters under /sys/kernel/debug/gort/
 *
 *   groups   number of live groups (open file descriptions of /dev/gort,
 *            and closed ones still held by orphaned workers)
 *   workers  number of live workers (freed after an RCU grace period)
 *
 * debugfs is optional: failures are ignored, as debugfs intends.
 */
#include <linux/debugfs.h>

#include "gort_debugfs.h"
#include "gort_group.h"

static struct dentry *gort_debugfs_dir;

void gort_debugfs_init(void)
{
	gort_debugfs_dir = debugfs_create_dir("gort", NULL);
	debugfs_create_atomic_t("groups", 0444, gort_debugfs_dir,
				&gort_groups_live);
	debugfs_create_atomic_t("workers", 0444, gort_debugfs_dir,
				&gort_workers_live);
}

void gort_debugfs_exit(void)
{
	debugfs_remove_recursive(gort_debugfs_dir);
	gort_debugfs_dir = NULL;
}
