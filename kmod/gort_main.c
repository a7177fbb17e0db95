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
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/workqueue.h>

#include <linux/gort.h>

#include "gort_debugfs.h"
#include "gort_group.h"
#include "gort_ioctl.h"

#define GORT_MODULE_VERSION	"0.1.0"

module_param_named(switch_mode, gort_switch_mode, int, 0644);
MODULE_PARM_DESC(switch_mode,
		 "SWITCH placement: 0 plain wake, 1 WF_SYNC wake, 2 target allowed only on the caller CPU around the wake (default)");

static int gort_open(struct inode *inode, struct file *file)
{
	struct gort_group *group;

	group = gort_group_create();
	if (IS_ERR(group))
		return PTR_ERR(group);

	file->private_data = group;
	return 0;
}

static int gort_flush(struct file *file, fl_owner_t id)
{
	gort_group_flush(file->private_data, file);
	return 0;
}

static int gort_release(struct inode *inode, struct file *file)
{
	gort_group_release(file->private_data);
	file->private_data = NULL;
	return 0;
}

static int gort_mmap(struct file *file, struct vm_area_struct *vma)
{
	return gort_group_mmap(file->private_data, vma);
}

static const struct file_operations gort_fops = {
	.owner		= THIS_MODULE,
	.open		= gort_open,
	.flush		= gort_flush,
	.release	= gort_release,
	.mmap		= gort_mmap,
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

	gort_wq = alloc_workqueue("gort", 0, 0);
	if (!gort_wq)
		return -ENOMEM;

	ret = gort_workers_init();
	if (ret)
		goto err_wq;

	ret = misc_register(&gort_miscdev);
	if (ret) {
		pr_err("cannot register /dev/%s: %d\n",
		       GORT_DEVICE_NAME, ret);
		goto err_workers;
	}

	gort_debugfs_init();
	pr_info("ABI %d loaded\n", GORT_ABI_VERSION);
	return 0;

err_workers:
	gort_workers_exit();
err_wq:
	destroy_workqueue(gort_wq);
	return ret;
}

/*
 * Module references are held by every open file and by every worker
 * (including orphans of closed groups), so rmmod reaches this only when
 * none exists.  What may remain are deferred frees: RCU callbacks of the
 * last workers (gort_workers_exit() waits for them) and the group frees
 * they queue on gort_wq (destroy_workqueue() drains it).
 */
static void __exit gort_exit(void)
{
	misc_deregister(&gort_miscdev);
	gort_workers_exit();
	destroy_workqueue(gort_wq);
	gort_debugfs_exit();
	WARN_ON(atomic_read(&gort_workers_live) != 0);
	WARN_ON(atomic_read(&gort_groups_live) != 0);
}

module_init(gort_init);
module_exit(gort_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("gort developers");
MODULE_DESCRIPTION("gort runtime kernel assist: same-CPU worker handoff, wait/wake, block notification");
MODULE_VERSION(GORT_MODULE_VERSION);
