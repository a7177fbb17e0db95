// SPDX-License-Identifier: MIT
/*
 * TEMPORARY stand-in for the netpoller (lib/netpoll.c, being written on
 * main): implements gort_fd_wait / gort_fd_set_deadline / gort_fd_close /
 * gort_fd_forget with the semantics gort.h documents, by polling. It exists
 * only so that the network API (net.c) can be developed and tested before
 * the real netpoller lands; delete it when merging main's netpoll.c.
 *
 * How: a fixed table indexed by descriptor holds each descriptor's sticky
 * deadlines and a generation, bumped by close/forget. A waiter polls the
 * descriptor with a zero timeout and, while it is not ready, sleeps
 * (gort_sleep: it parks, no thread is blocked) with an exponential backoff
 * from 20 us to 2 ms, bounded by its deadline. A close or a deadline change
 * is therefore noticed within one backoff step, not at once.
 */
#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "runtime.h"

#define STUB_MAX_FDS (1 << 20)
#define STUB_BACKOFF_MIN (20 * GORT_MICROSECOND)
#define STUB_BACKOFF_MAX (2 * GORT_MILLISECOND)

struct stub_fd {
	int64_t deadline[2]; /* [0] read, [1] write; 0 means "none" (zeroed bss) */
	uint32_t gen;	     /* bumped by close/forget: waiters in progress see ECLOSED */
};

static struct stub_fd stub_fds[STUB_MAX_FDS];

static int64_t stub_deadline(struct stub_fd *s, int dir)
{
	int64_t d = __atomic_load_n(&s->deadline[dir], __ATOMIC_ACQUIRE);

	return d ? d : GORT_FOREVER;
}

int gort_fd_wait(int fd, int events, int64_t deadline)
{
	struct stub_fd *s;
	int64_t backoff = STUB_BACKOFF_MIN;
	uint32_t gen;
	int dir;

	if (fd < 0 || fd >= STUB_MAX_FDS || (events != GORT_FD_READ && events != GORT_FD_WRITE))
		return GORT_EINVAL;
	s = &stub_fds[fd];
	dir = events == GORT_FD_READ ? 0 : 1;
	gen = __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events == GORT_FD_READ ? POLLIN : POLLOUT };
		int64_t dl = stub_deadline(s, dir), now;
		int r;

		if (deadline < dl)
			dl = deadline;
		if (__atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) != gen)
			return GORT_ECLOSED;
		r = poll(&pfd, 1, 0);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0) {
			if (pfd.revents & POLLNVAL)
				return GORT_ECLOSED;
			return events;
		}
		now = gort_now();
		if (now >= dl)
			return GORT_ETIMEDOUT;
		gort_sleep(dl - now < backoff ? dl - now : backoff);
		if (backoff < STUB_BACKOFF_MAX)
			backoff *= 2;
	}
}

int gort_fd_set_deadline(int fd, int events, int64_t deadline)
{
	struct stub_fd *s;

	if (fd < 0 || fd >= STUB_MAX_FDS || !(events & (GORT_FD_READ | GORT_FD_WRITE)) ||
	    (events & ~(GORT_FD_READ | GORT_FD_WRITE)))
		return GORT_EINVAL;
	s = &stub_fds[fd];
	if (deadline == GORT_FOREVER)
		deadline = 0;
	else if (deadline <= 0)
		deadline = 1; /* 0 is "none" in the table; 1 ns is as past as any */
	if (events & GORT_FD_READ)
		__atomic_store_n(&s->deadline[0], deadline, __ATOMIC_RELEASE);
	if (events & GORT_FD_WRITE)
		__atomic_store_n(&s->deadline[1], deadline, __ATOMIC_RELEASE);
	return 0;
}

int gort_fd_forget(int fd)
{
	struct stub_fd *s;

	if (fd < 0 || fd >= STUB_MAX_FDS)
		return GORT_EINVAL;
	s = &stub_fds[fd];
	__atomic_store_n(&s->deadline[0], 0, __ATOMIC_RELEASE);
	__atomic_store_n(&s->deadline[1], 0, __ATOMIC_RELEASE);
	__atomic_add_fetch(&s->gen, 1, __ATOMIC_ACQ_REL);
	return 0;
}

int gort_fd_close(int fd)
{
	int r = gort_fd_forget(fd);

	if (r < 0)
		return r;
	return close(fd) < 0 ? -errno : 0;
}
