/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gort_util.h - small helpers shared by the gort.ko selftests
 *
 * Thin wrappers around the ioctls of <linux/gort.h>: each returns 0 or
 * -errno, so tests can EXPECT_EQ(-EPERM, ...).
 */
#ifndef GORT_UTIL_H
#define GORT_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <linux/gort.h>

#define GORT_ABSENT_MSG \
	"/dev/gort absent: load gort.ko (make load) or run in the VM (make check)"

#define DEBUGFS_GORT		"/sys/kernel/debug/gort/"

static inline int gort_ret(int r)
{
	return r < 0 ? -errno : r;
}

static inline int gort_open(void)
{
	return open(GORT_DEVICE_PATH, O_RDWR | O_CLOEXEC);
}

static inline int gort_register(int fd, __u32 *handle)
{
	struct gort_register reg;
	int r;

	memset(&reg, 0, sizeof(reg));
	r = gort_ret(ioctl(fd, GORT_IOC_REGISTER, &reg));
	if (!r && handle)
		*handle = reg.handle;
	return r;
}

static inline int gort_unregister(int fd)
{
	return gort_ret(ioctl(fd, GORT_IOC_UNREGISTER, 0));
}

static inline int gort_wait(int fd, __u64 timeout_ns)
{
	struct gort_wait w;

	memset(&w, 0, sizeof(w));
	w.timeout_ns = timeout_ns;
	return gort_ret(ioctl(fd, GORT_IOC_WAIT, &w));
}

static inline int gort_wake(int fd, __u32 handle)
{
	struct gort_wake w;

	memset(&w, 0, sizeof(w));
	w.handle = handle;
	return gort_ret(ioctl(fd, GORT_IOC_WAKE, &w));
}

static inline int gort_switch(int fd, __u32 handle, __u64 timeout_ns)
{
	struct gort_switch s;

	memset(&s, 0, sizeof(s));
	s.handle = handle;
	s.timeout_ns = timeout_ns;
	return gort_ret(ioctl(fd, GORT_IOC_SWITCH, &s));
}

static inline int gort_set_spare(int fd, __u32 handle)
{
	struct gort_set_spare s;

	memset(&s, 0, sizeof(s));
	s.handle = handle;
	return gort_ret(ioctl(fd, GORT_IOC_SET_SPARE, &s));
}

static inline size_t gort_shared_len(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (GORT_SHARED_SIZE + page - 1) / page * page;
}

static inline __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

static inline pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* A debugfs counter of gort (groups, workers), -1 if unreadable. */
static inline long gort_debugfs(const char *name)
{
	char path[128], buf[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), DEBUGFS_GORT "%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

/*
 * Wait up to @ms for debugfs counter @name to equal @want (frees are
 * deferred by an RCU grace period and a work item).  Returns the last
 * value read.
 */
static inline long gort_debugfs_settle(const char *name, long want, int ms)
{
	long v = gort_debugfs(name);

	while (v != want && v != -1 && ms > 0) {
		usleep(10000);
		ms -= 10;
		v = gort_debugfs(name);
	}
	return v;
}

/* State letter of thread @tid of this process ('S' sleeping), or 0. */
static inline char thread_state(pid_t tid)
{
	char path[64], buf[256], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] && p[2] ? p[2] : 0;
}

/* Wait up to @ms for thread @tid to sleep; true if it does. */
static inline int wait_sleeping(pid_t tid, int ms)
{
	while (ms-- > 0) {
		if (thread_state(tid) == 'S')
			return 1;
		usleep(1000);
	}
	return 0;
}

/* Iterations: $name from the environment, else @def. */
static inline long env_long(const char *name, long def)
{
	const char *s = getenv(name);

	return s && *s ? strtol(s, NULL, 0) : def;
}

#endif /* GORT_UTIL_H */
