/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * gort.h - user ABI of gort.ko, the gort runtime's kernel assist
 *
 * The module exposes one misc device, /dev/gort.  Opening it creates a
 * group bound to the opener's address space (mm); closing the last
 * reference to the file destroys the group.  Every ioctl (and, later,
 * mmap) on the file is refused with EPERM unless the caller runs in the
 * same mm as the opener, so an fd inherited over fork() or passed over a
 * unix socket grants nothing.  Targets of later operations are named by
 * handles (indices into the group's table), never by thread IDs.
 *
 * Conventions:
 *  - every argument struct has a fixed size, 64-bit aligned fields and
 *    explicit padding; it contains no pointers (a user address, if one is
 *    ever needed, is carried in a __u64);
 *  - fields named reserved* are inputs that must be zero, otherwise the
 *    ioctl fails with EINVAL and writes nothing back; they may gain a
 *    meaning in a later ABI version, announced by a feature bit;
 *  - an unknown command number (wrong type, number, size or direction)
 *    fails with ENOTTY; a bad user pointer fails with EFAULT.
 */
#ifndef _UAPI_LINUX_GORT_H
#define _UAPI_LINUX_GORT_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

/* Version of this ABI, returned in gort_version.abi_version. */
#define GORT_ABI_VERSION	1

/* Name of the misc device, i.e. /dev/gort. */
#define GORT_DEVICE_NAME	"gort"
#define GORT_DEVICE_PATH	"/dev/" GORT_DEVICE_NAME

/*
 * Feature bits, returned in gort_version.features.  A bit is set only when
 * the corresponding operation is implemented by the loaded module and
 * works; user space must test the bit before using the operation and must
 * ignore bits it does not know.
 */
/* GORT_IOC_VERSION */
#define GORT_FEAT_VERSION	_BITULL(0)
/* register/unregister the calling thread as a worker */
#define GORT_FEAT_REGISTER	_BITULL(1)
/* compare-and-sleep on the worker's own slot */
#define GORT_FEAT_WAIT		_BITULL(2)
/* wake a worker by handle */
#define GORT_FEAT_WAKE		_BITULL(3)
/* wake a worker and block the caller, target on the caller's CPU */
#define GORT_FEAT_SWITCH	_BITULL(4)
/* report workers blocking in the kernel, wake a spare worker */
#define GORT_FEAT_BLOCK_NOTIFY	_BITULL(5)
/* tracepoints of system "gort" are available */
#define GORT_FEAT_TRACEPOINTS	_BITULL(6)

/**
 * struct gort_version - argument of GORT_IOC_VERSION
 * @abi_version: out: GORT_ABI_VERSION of the loaded module; ignored on input
 * @reserved0:   in: padding, must be zero
 * @features:    out: GORT_FEAT_* bits of the operations that work;
 *               ignored on input
 * @reserved:    in: must be zero
 *
 * Size: 48 bytes, identical for 32-bit and 64-bit callers.
 */
struct gort_version {
	__u32 abi_version;
	__u32 reserved0;
	__u64 features;
	__u64 reserved[4];
};

/*
 * ioctl type 'J' (0x4A) is unused in Documentation/userspace-api/ioctl/
 * ioctl-number.rst; gort uses numbers 0x00-0x1F of it.
 */
#define GORT_IOC_MAGIC		'J'

/* Query the ABI version and the feature bits. */
#define GORT_IOC_VERSION	_IOWR(GORT_IOC_MAGIC, 0x00, struct gort_version)

#endif /* _UAPI_LINUX_GORT_H */
