// SPDX-License-Identifier: MIT
/*
 * Kernel assist: opening /dev/gort (gort.ko). At this stage the runtime only
 * checks the module's ABI version; the scheduler does not use the module's
 * operations yet, so gort_stats().kassist reports "module present".
 * GORT_KASSIST=off skips the device, =require fails gort_init() without it.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/gort.h>

#include "runtime.h"

int kassist_open(void)
{
	struct gort_version v;
	int fd;

	if (config.kassist == 0)
		return 0;
	fd = open(GORT_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0 && config.kassist == 1)
		return GORT_ENOTSUP; /* auto: run without it; nothing failed */
	if (fd < 0) {
		set_errmsg("gort_init: GORT_KASSIST=require but %s cannot be opened: %s "
			   "(load gort.ko: make load)",
			   GORT_DEVICE_PATH, strerror(errno));
		return GORT_ENOTSUP;
	}
	memset(&v, 0, sizeof(v));
	if (ioctl(fd, GORT_IOC_VERSION, &v) != 0 || v.abi_version != GORT_ABI_VERSION) {
		set_errmsg("gort_init: %s speaks ABI version %u, this library needs %u",
			   GORT_DEVICE_PATH, v.abi_version, GORT_ABI_VERSION);
		close(fd);
		return GORT_ENOTSUP;
	}
	sched.kassist_fd = fd;
	return 0;
}
