/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gort_ioctl.h - ioctl dispatch of /dev/gort
 */
#ifndef GORT_IOCTL_H
#define GORT_IOCTL_H

struct file;

long gort_ioctl(struct file *file, unsigned int cmd, unsigned long arg);

#endif /* GORT_IOCTL_H */
