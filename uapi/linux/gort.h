/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * gort.h - user ABI of gort.ko, the gort runtime's kernel assist
 *
 * The module exposes one misc device, /dev/gort.  Opening it creates a
 * group bound to the opener's address space (mm).  When the owner closes
 * its last descriptor of the group, threads waiting in it return EBADF;
 * the group is freed with the file, or after the last worker that
 * outlived the file stops being one (exit, exec, UNREGISTER).  Every ioctl
 * and mmap on the file is refused with EPERM unless the caller runs in the
 * same mm as the opener, so an fd inherited over fork() or passed over a
 * unix socket grants nothing.  Workers are named by handles (indices into the group's
 * table plus a generation), never by thread IDs.
 *
 * ABI version 1 grew by operations only: each is announced by a feature
 * bit, so the version stays 1 and older callers keep working.
 *
 * Conventions:
 *  - every argument struct has a fixed size, 64-bit aligned fields and
 *    explicit padding; it contains no pointers (a user address, if one is
 *    ever needed, is carried in a __u64);
 *  - fields named reserved* and flags are inputs that must be zero,
 *    otherwise the ioctl fails with EINVAL and does nothing; they may gain
 *    a meaning in a later ABI version, announced by a feature bit;
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
 * Workers.  A thread becomes a worker of a group with GORT_IOC_REGISTER and
 * is then named by a handle: (generation << 16) | index, index below
 * GORT_MAX_WORKERS.  A stale handle (its worker gone, the index reused)
 * fails with ESRCH.  A thread can be a worker of at most one group at a
 * time (EBUSY).  A worker stops being one on GORT_IOC_UNREGISTER, on
 * exit and on execve(); its handle then becomes stale.
 */
#define GORT_MAX_WORKERS	1024
#define GORT_HANDLE_INDEX(h)	((h) & 0xffffU)
/* "no worker", for GORT_IOC_SET_SPARE */
#define GORT_HANDLE_NONE	0xffffffffU

/**
 * struct gort_register - argument of GORT_IOC_REGISTER
 * @handle:   out: the calling thread's handle
 * @flags:    in: must be zero
 * @reserved: in: must be zero
 *
 * Errors: EBUSY the thread already is a worker (of any group); ENOSPC the
 * group has GORT_MAX_WORKERS workers; EBADF the group was closed.
 */
struct gort_register {
	__u32 handle;
	__u32 flags;
	__u64 reserved[3];
};

/**
 * struct gort_wait - argument of GORT_IOC_WAIT
 * @timeout_ns: in: relative timeout in nanoseconds, 0 = no timeout
 * @flags:      in: must be zero
 * @reserved0:  in: must be zero
 * @reserved:   in: must be zero
 *
 * Each worker has a wake token.  GORT_IOC_WAKE (or GORT_IOC_SWITCH, or a
 * block notification for the spare) sets it; WAIT consumes it, sleeping
 * until it is set.  A wake that comes before the WAIT is therefore not lost,
 * and several wakes before one WAIT count once.
 *
 * Returns 0 when the token was consumed.  Errors: ETIMEDOUT the timeout
 * expired first; EINTR a signal is pending (not restarted: the caller
 * re-issues WAIT with the remaining time it computes itself); EBADF the
 * last descriptor of the group was closed while waiting; ENXIO the caller
 * is not a worker of this group.
 *
 * The sleep of a WAIT or SWITCH is a park of the library: it is never
 * reported as a block (see struct gort_shared).
 */
struct gort_wait {
	__u64 timeout_ns;
	__u32 flags;
	__u32 reserved0;
	__u64 reserved[2];
};

/**
 * struct gort_wake - argument of GORT_IOC_WAKE
 * @handle:   in: the worker to wake (may be the caller itself)
 * @flags:    in: must be zero
 * @reserved: in: must be zero
 *
 * Sets the worker's wake token and wakes it if it sleeps in WAIT or
 * SWITCH.  Errors: ESRCH the handle names no live worker of the group.
 * The caller need not be a worker.
 */
struct gort_wake {
	__u32 handle;
	__u32 flags;
	__u64 reserved[3];
};

/**
 * struct gort_switch - argument of GORT_IOC_SWITCH
 * @handle:     in: the worker to wake, not the caller
 * @flags:      in: must be zero
 * @timeout_ns: in: timeout of the caller's wait, 0 = no timeout
 * @reserved:   in: must be zero
 *
 * WAKE(@handle) then WAIT(@timeout_ns) in one call, the woken worker
 * placed on the caller's CPU (see kmod/README.md for how, and the
 * measurements behind the choice).  Errors: those of WAKE (nothing is
 * done then) and of WAIT (the target has been woken then); EINVAL when
 * @handle is the caller's own.
 */
struct gort_switch {
	__u32 handle;
	__u32 flags;
	__u64 timeout_ns;
	__u64 reserved[2];
};

/**
 * struct gort_set_spare - argument of GORT_IOC_SET_SPARE
 * @handle:   in: the worker to wake when a worker holding a proc blocks,
 *            or GORT_HANDLE_NONE for none
 * @flags:    in: must be zero
 * @reserved: in: must be zero
 *
 * The spare's wake token is set and it is woken (if in WAIT) each time a
 * block is reported.  Unregistering the spare resets the setting to none.
 * Errors: ESRCH the handle names no live worker.
 */
struct gort_set_spare {
	__u32 handle;
	__u32 flags;
	__u64 reserved[3];
};

/*
 * Block notification: the shared page.
 *
 * mmap(NULL, GORT_SHARED_SIZE rounded up to the page size, PROT_READ |
 * PROT_WRITE, MAP_SHARED, fd, 0) maps the group's struct gort_shared: one
 * struct gort_slot per worker, indexed by GORT_HANDLE_INDEX(handle).  The
 * mapping must be MAP_SHARED at offset 0, is not inherited by fork()
 * children and cannot be grown with mremap().
 *
 * The slot's state word is the protocol between a worker, the module and
 * the spare:
 *
 *   IDLE    the worker holds no proc.  Written by REGISTER and by the
 *           worker itself.  Blocks are not reported.
 *   RUNNING the worker holds a proc.  Written by the worker (IDLE ->
 *           RUNNING, or TAKEN -> IDLE -> RUNNING once it owns a proc again).
 *   BLOCKED written by the module, with a compare-and-swap from RUNNING,
 *           when the worker blocks in the kernel (sleeps, not preempted,
 *           not in WAIT/SWITCH); seq is incremented and the spare is woken.
 *   TAKEN   written by user space (the spare), with a compare-and-swap from
 *           BLOCKED, to take the blocked worker's proc.
 *
 * When the blocked worker runs again the module swaps BLOCKED back to
 * RUNNING (and increments seq): if that wins, the worker kept its proc and
 * the spare's compare-and-swap fails; if the spare won, the word stays
 * TAKEN and the worker, seeing it on return from its system call, knows
 * its proc is gone (it writes IDLE and queues its work elsewhere).
 * Hence the worker treats its proc as held only while the word is RUNNING,
 * and every transition away from BLOCKED is a compare-and-swap.
 *
 * seq (written by the module only) changes on each BLOCKED and each
 * unblock; block_count in the header counts reported blocks of the whole
 * group.  The module never writes user memory: these are kernel pages.
 */
#define GORT_SLOT_IDLE		0U
#define GORT_SLOT_RUNNING	1U
#define GORT_SLOT_BLOCKED	2U
#define GORT_SLOT_TAKEN		3U

/**
 * struct gort_slot - one worker's block-notification state
 * @state: GORT_SLOT_* (see above)
 * @seq:   incremented by the module on each block and unblock
 */
struct gort_slot {
	__u32 state;
	__u32 seq;
};

/**
 * struct gort_shared - the mmap'd block-notification area of a group
 * @block_count: number of blocks reported in the group (module-written)
 * @reserved:    zero
 * @slots:       per-worker state, indexed by handle index
 */
struct gort_shared {
	__u64 block_count;
	__u64 reserved[7];
	struct gort_slot slots[GORT_MAX_WORKERS];
};

#define GORT_SHARED_SIZE	sizeof(struct gort_shared)

/*
 * ioctl type 'J' (0x4A) is unused in Documentation/userspace-api/ioctl/
 * ioctl-number.rst; gort uses numbers 0x00-0x1F of it.
 */
#define GORT_IOC_MAGIC		'J'

/* Query the ABI version and the feature bits. */
#define GORT_IOC_VERSION	_IOWR(GORT_IOC_MAGIC, 0x00, struct gort_version)
/* Make the calling thread a worker of the group. */
#define GORT_IOC_REGISTER	_IOWR(GORT_IOC_MAGIC, 0x01, struct gort_register)
/*
 * Stop being a worker.  The argument must be 0 (EINVAL); ENXIO when the
 * caller is not a worker of this group.
 */
#define GORT_IOC_UNREGISTER	_IO(GORT_IOC_MAGIC, 0x02)
/* Sleep until the caller's wake token is set (struct gort_wait). */
#define GORT_IOC_WAIT		_IOW(GORT_IOC_MAGIC, 0x03, struct gort_wait)
/* Set a worker's wake token and wake it (struct gort_wake). */
#define GORT_IOC_WAKE		_IOW(GORT_IOC_MAGIC, 0x04, struct gort_wake)
/* Wake a worker onto the caller's CPU and wait (struct gort_switch). */
#define GORT_IOC_SWITCH		_IOW(GORT_IOC_MAGIC, 0x05, struct gort_switch)
/* Choose the worker woken on block notifications (struct gort_set_spare). */
#define GORT_IOC_SET_SPARE	_IOW(GORT_IOC_MAGIC, 0x06, struct gort_set_spare)

#endif /* _UAPI_LINUX_GORT_H */
