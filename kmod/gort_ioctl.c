// SPDX-License-Identifier: GPL-2.0
/*
 * gort_ioctl.c - ioctl dispatch of /dev/gort
 *
 * Every command first checks that the caller runs in the group's address
 * space (else -EPERM); unknown commands fail with -ENOTTY.  Arguments are
 * copied in whole, their flags and reserved fields must be zero (-EINVAL),
 * and a bad pointer fails with -EFAULT before anything is done.
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
#define GORT_FEATURES	(GORT_FEAT_VERSION | GORT_FEAT_REGISTER | \
			 GORT_FEAT_WAIT | GORT_FEAT_WAKE | GORT_FEAT_SWITCH | \
			 GORT_FEAT_BLOCK_NOTIFY | GORT_FEAT_TRACEPOINTS)

static_assert(sizeof(struct gort_version) == 48);
static_assert(sizeof(struct gort_register) == 32);
static_assert(sizeof(struct gort_wait) == 32);
static_assert(sizeof(struct gort_wake) == 32);
static_assert(sizeof(struct gort_switch) == 32);
static_assert(sizeof(struct gort_set_spare) == 32);
static_assert(sizeof(struct gort_slot) == 8);

/* Are the @size bytes at @p all zero? */
static bool gort_zero(const void *p, size_t size)
{
	return !memchr_inv(p, 0, size);
}

static long gort_ioctl_version(struct gort_version __user *uarg)
{
	struct gort_version ver;

	if (copy_from_user(&ver, uarg, sizeof(ver)))
		return -EFAULT;

	if (ver.reserved0 || !gort_zero(ver.reserved, sizeof(ver.reserved)))
		return -EINVAL;

	ver.abi_version = GORT_ABI_VERSION;
	ver.features = GORT_FEATURES;

	if (copy_to_user(uarg, &ver, sizeof(ver)))
		return -EFAULT;
	return 0;
}

static long gort_ioctl_register(struct gort_group *group,
				struct gort_register __user *uarg)
{
	struct gort_register reg;
	u32 handle;
	int ret;

	if (copy_from_user(&reg, uarg, sizeof(reg)))
		return -EFAULT;
	if (reg.flags || !gort_zero(reg.reserved, sizeof(reg.reserved)))
		return -EINVAL;

	ret = gort_worker_register(group, &handle);
	if (ret)
		return ret;
	if (put_user(handle, &uarg->handle)) {
		/* The caller cannot learn its handle: undo. */
		gort_worker_unregister(group);
		return -EFAULT;
	}
	return 0;
}

static long gort_ioctl_wait(struct gort_group *group,
			    struct gort_wait __user *uarg)
{
	struct gort_wait wt;

	if (copy_from_user(&wt, uarg, sizeof(wt)))
		return -EFAULT;
	if (wt.flags || wt.reserved0 ||
	    !gort_zero(wt.reserved, sizeof(wt.reserved)))
		return -EINVAL;
	return gort_worker_wait(group, wt.timeout_ns);
}

static long gort_ioctl_wake(struct gort_group *group,
			    struct gort_wake __user *uarg)
{
	struct gort_wake wk;

	if (copy_from_user(&wk, uarg, sizeof(wk)))
		return -EFAULT;
	if (wk.flags || !gort_zero(wk.reserved, sizeof(wk.reserved)))
		return -EINVAL;
	return gort_worker_wake(group, wk.handle);
}

static long gort_ioctl_switch(struct gort_group *group,
			      struct gort_switch __user *uarg)
{
	struct gort_switch sw;

	if (copy_from_user(&sw, uarg, sizeof(sw)))
		return -EFAULT;
	if (sw.flags || !gort_zero(sw.reserved, sizeof(sw.reserved)))
		return -EINVAL;
	return gort_worker_switch(group, sw.handle, sw.timeout_ns);
}

static long gort_ioctl_set_spare(struct gort_group *group,
				 struct gort_set_spare __user *uarg)
{
	struct gort_set_spare sp;

	if (copy_from_user(&sp, uarg, sizeof(sp)))
		return -EFAULT;
	if (sp.flags || !gort_zero(sp.reserved, sizeof(sp.reserved)))
		return -EINVAL;
	return gort_worker_set_spare(group, sp.handle);
}

static long gort_ioctl_dispatch(struct gort_group *group, unsigned int cmd,
				unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case GORT_IOC_VERSION:
		return gort_ioctl_version(uarg);
	case GORT_IOC_REGISTER:
		return gort_ioctl_register(group, uarg);
	case GORT_IOC_UNREGISTER:
		if (arg)
			return -EINVAL;
		return gort_worker_unregister(group);
	case GORT_IOC_WAIT:
		return gort_ioctl_wait(group, uarg);
	case GORT_IOC_WAKE:
		return gort_ioctl_wake(group, uarg);
	case GORT_IOC_SWITCH:
		return gort_ioctl_switch(group, uarg);
	case GORT_IOC_SET_SPARE:
		return gort_ioctl_set_spare(group, uarg);
	default:
		return -ENOTTY;
	}
}

long gort_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct gort_group *group = file->private_data;

	if (!gort_group_is_current(group))
		return -EPERM;
	return gort_ioctl_dispatch(group, cmd, arg);
}
