/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gort_debugfs.h - debug counters under /sys/kernel/debug/gort/
 */
#ifndef GORT_DEBUGFS_H
#define GORT_DEBUGFS_H

void gort_debugfs_init(void);
void gort_debugfs_exit(void);

#endif /* GORT_DEBUGFS_H */
