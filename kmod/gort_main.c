// SPDX-License-Identifier: GPL-2.0
/*
 * gort_main.c - module init/exit and the /dev/gort misc device
 *
 * gort.ko is the optional kernel assist of the gort runtime.  Opening
 * /dev/gort creates a group bound to the opener's address space; the
 * ioctls are described in <linux/gort.h>.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bug.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>

#include <linux/gort.h>

#include "gort_debugfs.h"
#include "gort_group.h"
#include "gort_ioctl.h"

#define GORT_MODULE_VERSION	"0.1.0"

static int gort_open(struct inode *inode, struct file *file)
{
	struct gort_group *group;

	group = gort_group_create();
	if (IS_ERR(group))
		return PTR_ERR(group);

	file->private_data = group;
	return 0;
}

static int gort_release(struct inode *inode, struct file *file)
{
	gort_group_destroy(file->private_data);
	file->private_data = NULL;
	return 0;
}

static const struct file_operations gort_fops = {
	.owner		= THIS_MODULE,
	.open		= gort_open,
	.release	= gort_release,
	.unlocked_ioctl	= gort_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};

/*
 * Mode 0666: the device grants nothing beyond the caller's own threads;
 * every operation is confined to the opener's address space.
 */
static struct miscdevice gort_miscdev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= GORT_DEVICE_NAME,
	.fops	= &gort_fops,
	.mode	= 0666,
};

static int __init gort_init(void)
{
	int ret;

	ret = misc_register(&gort_miscdev);
	if (ret) {
		pr_err("cannot register /dev/%s: %d\n",
		       GORT_DEVICE_NAME, ret);
		return ret;
	}

	gort_debugfs_init();
	pr_info("ABI %d loaded\n", GORT_ABI_VERSION);
	return 0;
}

static void __exit gort_exit(void)
{
	gort_debugfs_exit();
	misc_deregister(&gort_miscdev);
	/* Every open file holds a module reference, so no group can remain. */
	WARN_ON(atomic_read(&gort_groups_live) != 0);
}

module_init(gort_init);
module_exit(gort_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("gort developers");
MODULE_DESCRIPTION("gort runtime kernel assist: same-CPU worker handoff, wait/wake, block notification");
MODULE_VERSION(GORT_MODULE_VERSION);
