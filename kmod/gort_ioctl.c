// SPDX-License-Identifier: GPL-2.0
/*
 * gort_ioctl.c - ioctl dispatch of /dev/gort
 *
 * Every command first checks that the caller runs in the group's address
 * space (else -EPERM); unknown commands fail with -ENOTTY.
 */
#include <linux/build_bug.h>
#include <linux/errno.h>
#include <linux/fs.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include <linux/gort.h>

#include "gort_group.h"
#include "gort_ioctl.h"

/* Feature bits of the operations this module implements. */
#define GORT_FEATURES	GORT_FEAT_VERSION

static_assert(sizeof(struct gort_version) == 48);

static long gort_ioctl_version(struct gort_version __user *uarg)
{
	struct gort_version ver;

	if (copy_from_user(&ver, uarg, sizeof(ver)))
		return -EFAULT;

	if (ver.reserved0 || memchr_inv(ver.reserved, 0, sizeof(ver.reserved)))
		return -EINVAL;

	ver.abi_version = GORT_ABI_VERSION;
	ver.features = GORT_FEATURES;

	if (copy_to_user(uarg, &ver, sizeof(ver)))
		return -EFAULT;
	return 0;
}

long gort_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct gort_group *group = file->private_data;
	void __user *uarg = (void __user *)arg;

	if (!gort_group_is_current(group))
		return -EPERM;

	switch (cmd) {
	case GORT_IOC_VERSION:
		return gort_ioctl_version(uarg);
	default:
		return -ENOTTY;
	}
}
