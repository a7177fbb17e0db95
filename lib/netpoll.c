// SPDX-License-Identifier: MIT
/*
 * The netpoller (Go's runtime/netpoll.go and netpoll_epoll.go).
 *
 * Every descriptor has a poll_desc in a table indexed by its number: the
 * numbers are small and dense, so a two-level array (chunks allocated on
 * first use, never freed) gives lock-free lookups with no hashing, and a
 * desc's memory stays valid for ever, which the epoll events and the timers
 * that refer to it rely on. (The brief suggested rculfhash; a table needs
 * no RCU because nothing is ever freed.)
 *
 * A desc is registered with the epoll instance once, edge-triggered for
 * both directions; its state for a new number starts over at gort_fd_close
 * or gort_fd_forget, which bump its seq: an event tagged with an older seq
 * is stale and ignored.
 *
 * Readiness per direction is either a token (ready: an edge arrived that no
 * waiter has seen) or a list of waiters. An edge takes every waiter of its
 * direction (they all retry: the edge may be enough for one only, the
 * others wait again) or, with none, sets the token; a wait consumes the
 * token or queues. Whoever takes a waiter off its list (an edge, its
 * deadline timer, a deadline change, a close), under the desc's lock, is
 * the one that wakes it: exactly one wakeup per wait.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "netpoll.h"
#include "probes.h"
#include "runtime.h"
#include "timer.h"
#include "waiter.h"

#define PD_CHUNK_SHIFT 10
#define PD_CHUNK (1 << PD_CHUNK_SHIFT)
#define PD_MAX_FDS (1 << 24)
#define BREAK_TAG UINT64_MAX
#define SYSMON_POLL_NS (10 * 1000 * 1000LL)
#define EVENTS_PER_POLL 128

/* A waiter's result besides an event or an error: the deadline changed. */
#define PW_RETRY 0x100

struct poll_waiter {
	struct waiter wt; /* wt.result: the event, GORT_ETIMEDOUT, GORT_ECLOSED, PW_RETRY */
	struct poll_waiter *next;
	struct poll_desc *pd;
	int dir;     /* 0 read, 1 write */
	bool queued; /* on pd's list (pd->lock) */
	bool armed;
	bool timer_woke;     /* the deadline timer took it off the list */
	uint32_t timer_done; /* the timer lost the race: its last touch of us */
	int64_t when;
	struct timer timer;
};

struct poll_desc {
	struct rt_lock lock;
	uint32_t seq;	/* bumped when the number is released */
	uint32_t ready; /* atomic: GORT_FD_READ/WRITE tokens */
	bool registered;
	bool closed; /* gort_fd_close'd and not registered again since */
	int64_t deadline[2];
	struct poll_waiter *waiters[2];
};

static struct {
	struct rt_lock init_lock;
	int epfd; /* 0 until initialised (then > 0: stdin is never ours) */
	int breakfd;
	uint32_t break_pending; /* atomic: a break is written and not yet read */
	uint32_t blocked;	/* atomic: a worker is blocked in epoll_wait */
	int64_t nwaiters;	/* atomic: waiters queued on any desc */
	int64_t last_poll;	/* atomic: nanotime() of the last poll's end */
	struct poll_desc *chunks[PD_MAX_FDS >> PD_CHUNK_SHIFT];
} np;

static const int dir_event[2] = { GORT_FD_READ, GORT_FD_WRITE };

static struct poll_desc *pd_lookup(int fd)
{
	struct poll_desc *c;

	if ((unsigned)fd >= PD_MAX_FDS)
		return NULL;
	c = __atomic_load_n(&np.chunks[fd >> PD_CHUNK_SHIFT], __ATOMIC_ACQUIRE);
	return c ? &c[fd & (PD_CHUNK - 1)] : NULL;
}

/* The desc of fd, its chunk allocated on first use; NULL with *err set. */
static struct poll_desc *pd_get(int fd, int *err)
{
	struct poll_desc *c, *expect = NULL, *pd = pd_lookup(fd);

	if (pd)
		return pd;
	if ((unsigned)fd >= PD_MAX_FDS) {
		*err = GORT_EINVAL;
		set_errmsg("netpoll: descriptor %d beyond the table (%d)", fd, PD_MAX_FDS);
		return NULL;
	}
	c = calloc(PD_CHUNK, sizeof(*c));
	if (!c) {
		*err = GORT_ENOMEM;
		set_errmsg("netpoll: out of memory for the descriptor table");
		return NULL;
	}
	for (int i = 0; i < PD_CHUNK; i++)
		c[i].deadline[0] = c[i].deadline[1] = GORT_FOREVER;
	if (!__atomic_compare_exchange_n(&np.chunks[fd >> PD_CHUNK_SHIFT], &expect, c, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		free(c);
		c = expect;
	}
	return &c[fd & (PD_CHUNK - 1)];
}

static int netpoll_init(void)
{
	int err = gort_init();
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = BREAK_TAG };

	if (err)
		return err;
	if (__atomic_load_n(&np.epfd, __ATOMIC_ACQUIRE) > 0)
		return 0;
	rt_lock(&np.init_lock);
	if (np.epfd > 0)
		goto out;
	np.breakfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (np.breakfd < 0) {
		err = -errno;
		set_errmsg("netpoll: eventfd: %s", gort_strerror(err));
		goto out;
	}
	err = epoll_create1(EPOLL_CLOEXEC);
	if (err < 0 || epoll_ctl(err, EPOLL_CTL_ADD, np.breakfd, &ev) < 0) {
		int e = -errno;

		if (err >= 0)
			close(err);
		close(np.breakfd);
		set_errmsg("netpoll: epoll: %s", gort_strerror(e));
		err = e;
		goto out;
	}
	__atomic_store_n(&np.last_poll, nanotime(), __ATOMIC_RELAXED);
	__atomic_store_n(&np.epfd, err, __ATOMIC_RELEASE);
	err = 0;
out:
	rt_unlock(&np.init_lock);
	return err;
}

/* pd->lock held. */
static int pd_register(struct poll_desc *pd, int fd)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		.data.u64 = (uint32_t)fd | (uint64_t)pd->seq << 32,
	};
	int e;

	if (epoll_ctl(np.epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ||
	    (errno == EEXIST && epoll_ctl(np.epfd, EPOLL_CTL_MOD, fd, &ev) == 0)) {
		pd->registered = true;
		pd->closed = false;
		return 0;
	}
	e = errno;
	if (e == EBADF && pd->closed)
		return GORT_ECLOSED;
	if (e == EPERM) {
		set_errmsg("gort_fd_wait: descriptor %d cannot be polled (a regular file?)", fd);
		return GORT_EPERM;
	}
	set_errmsg("gort_fd_wait: epoll_ctl on descriptor %d: %s", fd, gort_strerror(-e));
	return -e;
}

/* pd->lock held: takes pw off its list. */
static void pw_unlink(struct poll_waiter *pw)
{
	struct poll_waiter **pp = &pw->pd->waiters[pw->dir];

	while (*pp != pw)
		pp = &(*pp)->next;
	*pp = pw->next;
	pw->queued = false;
	__atomic_sub_fetch(&np.nwaiters, 1, __ATOMIC_RELAXED);
}

/* pd->lock held: takes every waiter of dir off the list, each with result,
 * onto *wake (linked through next) for waking after the unlock. */
static void pw_take_all(struct poll_desc *pd, int dir, int result, struct poll_waiter **wake)
{
	struct poll_waiter *pw = pd->waiters[dir];

	pd->waiters[dir] = NULL;
	while (pw) {
		struct poll_waiter *next = pw->next;

		pw->queued = false;
		pw->wt.result = result;
		pw->next = *wake;
		*wake = pw;
		__atomic_sub_fetch(&np.nwaiters, 1, __ATOMIC_RELAXED);
		pw = next;
	}
}

/* Wakes what pw_take_all collected; returns how many. */
static int pw_wake_all(struct poll_waiter *pw, int fd)
{
	int n = 0;

	while (pw) {
		/* pw is gone once woken. */
		struct poll_waiter *next = pw->next;

		GORT_PROBE2(netpoll__wake, fd, pw->wt.result);
		if (pw->wt.g)
			goroutine_ready_fifo(pw->wt.g);
		else
			waiter_wake(&pw->wt);
		pw = next;
		n++;
	}
	return n;
}

static void pw_timeout(struct timer *t, int64_t now)
{
	struct poll_waiter *pw = t->arg;
	struct poll_desc *pd = pw->pd;

	(void)now;
	rt_lock(&pd->lock);
	if (pw->queued) {
		pw_unlink(pw);
		pw->wt.result = GORT_ETIMEDOUT;
		pw->timer_woke = true;
		rt_unlock(&pd->lock);
		waiter_wake(&pw->wt); /* our last touch of pw */
		return;
	}
	rt_unlock(&pd->lock);
	__atomic_store_n(&pw->timer_done, 1, __ATOMIC_RELEASE); /* likewise */
}

/* The park's unlock callback: the deadline timer may fire only once the
 * waiter is parked; the desc's lock is held until it is armed, so nothing
 * can take the waiter before that either. */
static void pw_commit(void *arg)
{
	struct poll_waiter *pw = arg;

	if (pw->armed) {
		int err = 0;

		timer_start(&pw->timer, pw->when, &err);
		if (err)
			gort_fatal("gort_fd_wait: cannot arm the deadline timer: %s",
				   gort_strerror(err));
	}
	rt_unlock(&pw->pd->lock);
}

int gort_fd_wait(int fd, int events, int64_t deadline)
{
	struct poll_desc *pd;
	struct poll_waiter pw;
	int err = 0, dir;

	if (fd < 0 || (events != GORT_FD_READ && events != GORT_FD_WRITE)) {
		set_errmsg("gort_fd_wait: bad descriptor %d or events %d", fd, events);
		return GORT_EINVAL;
	}
	dir = events == GORT_FD_WRITE;
	err = netpoll_init();
	if (err)
		return err;
	pd = pd_get(fd, &err);
	if (!pd)
		return err;
	/* The token, without the lock: the common case of a stream that was
	 * ready again by the time its reader looked. */
	if ((__atomic_load_n(&pd->ready, __ATOMIC_ACQUIRE) & events) &&
	    (__atomic_fetch_and(&pd->ready, ~events, __ATOMIC_ACQ_REL) & events))
		return events;

	rt_lock(&pd->lock);
	if (!pd->registered) {
		err = pd_register(pd, fd);
		if (err) {
			rt_unlock(&pd->lock);
			return err;
		}
	}
	for (;;) {
		int64_t when = pd->deadline[dir] < deadline ? pd->deadline[dir] : deadline;

		if (__atomic_fetch_and(&pd->ready, ~events, __ATOMIC_ACQ_REL) & events) {
			rt_unlock(&pd->lock);
			return events;
		}
		if (when != GORT_FOREVER && when <= nanotime()) {
			rt_unlock(&pd->lock);
			return GORT_ETIMEDOUT;
		}
		pw.wt = (struct waiter){ .g = this_goroutine() };
		pw.pd = pd;
		pw.dir = dir;
		pw.queued = true;
		pw.armed = when != GORT_FOREVER;
		pw.timer_woke = false;
		pw.timer_done = 0;
		pw.when = when;
		pw.next = pd->waiters[dir];
		pd->waiters[dir] = &pw;
		__atomic_add_fetch(&np.nwaiters, 1, __ATOMIC_SEQ_CST);
		if (pw.armed) {
			timer_init(&pw.timer, pw_timeout, &pw);
			/* The runner never touches the timer after calling
			 * pw_timeout, whose last touch ends our wait below. */
			pw.timer.fn_owns = true;
		}
		/* A foreign thread's wait needs some worker to poll: one that
		 * went idle before there were waiters is asleep on its futex. */
		if (!pw.wt.g && !__atomic_load_n(&np.blocked, __ATOMIC_SEQ_CST))
			sched_wakep();
		GORT_PROBE2(netpoll__wait, fd, events);
		waiter_block_fn(&pw.wt, WAIT_IO, pw_commit, &pw);

		if (pw.armed && !timer_stop(&pw.timer) && !pw.timer_woke) {
			/* Its function runs and will find us off the list. */
			while (!__atomic_load_n(&pw.timer_done, __ATOMIC_ACQUIRE))
				cpu_relax();
		}
		if (pw.wt.result != PW_RETRY)
			return pw.wt.result;
		rt_lock(&pd->lock);
	}
}

int gort_fd_set_deadline(int fd, int events, int64_t deadline)
{
	struct poll_waiter *wake = NULL;
	struct poll_desc *pd;
	int err = 0;

	if (fd < 0 || events <= 0 || (events & ~(GORT_FD_READ | GORT_FD_WRITE))) {
		set_errmsg("gort_fd_set_deadline: bad descriptor %d or events %d", fd, events);
		return GORT_EINVAL;
	}
	pd = pd_get(fd, &err);
	if (!pd)
		return err;
	rt_lock(&pd->lock);
	for (int dir = 0; dir < 2; dir++) {
		if (!(events & dir_event[dir]))
			continue;
		pd->deadline[dir] = deadline;
		pw_take_all(pd, dir, PW_RETRY, &wake);
	}
	rt_unlock(&pd->lock);
	pw_wake_all(wake, fd);
	return 0;
}

/* gort_fd_close and gort_fd_forget. */
static int fd_release(int fd, bool do_close, const char *who)
{
	struct poll_waiter *wake = NULL;
	struct poll_desc *pd;
	int ret = 0;

	if (fd < 0) {
		set_errmsg("%s: bad descriptor %d", who, fd);
		return GORT_EINVAL;
	}
	pd = pd_lookup(fd);
	if (!pd)
		return do_close && close(fd) < 0 ? -errno : 0;
	rt_lock(&pd->lock);
	if (pd->registered)
		(void)epoll_ctl(np.epfd, EPOLL_CTL_DEL, fd, NULL);
	pd->registered = false;
	pd->closed = do_close;
	pd->seq++;
	__atomic_store_n(&pd->ready, 0, __ATOMIC_RELAXED);
	pd->deadline[0] = pd->deadline[1] = GORT_FOREVER;
	pw_take_all(pd, 0, GORT_ECLOSED, &wake);
	pw_take_all(pd, 1, GORT_ECLOSED, &wake);
	/* Under the lock: a wait that races with us then either queued
	 * before (and is woken now) or registers after the close and finds
	 * no descriptor (GORT_ECLOSED), unless the number is reused. */
	if (do_close && close(fd) < 0)
		ret = -errno;
	rt_unlock(&pd->lock);
	pw_wake_all(wake, fd);
	return ret;
}

int gort_fd_close(int fd)
{
	return fd_release(fd, true, "gort_fd_close");
}

int gort_fd_forget(int fd)
{
	return fd_release(fd, false, "gort_fd_forget");
}

/* ---- the scheduler's side ---- */

bool netpoll_wanted(void)
{
	return __atomic_load_n(&np.nwaiters, __ATOMIC_SEQ_CST) > 0 &&
	       !__atomic_load_n(&np.blocked, __ATOMIC_SEQ_CST);
}

bool netpoll_has_waiters(void)
{
	return __atomic_load_n(&np.nwaiters, __ATOMIC_RELAXED) > 0;
}

bool netpoll_claim(void)
{
	uint32_t zero = 0;

	return __atomic_load_n(&np.epfd, __ATOMIC_ACQUIRE) > 0 &&
	       __atomic_compare_exchange_n(&np.blocked, &zero, 1, false, __ATOMIC_SEQ_CST,
					   __ATOMIC_RELAXED);
}

void netpoll_break(void)
{
	uint32_t zero = 0;
	uint64_t one = 1;

	if (__atomic_load_n(&np.epfd, __ATOMIC_ACQUIRE) <= 0 ||
	    !__atomic_compare_exchange_n(&np.break_pending, &zero, 1, false, __ATOMIC_SEQ_CST,
					 __ATOMIC_RELAXED))
		return;
	while (write(np.breakfd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static int poll_events(int epfd, struct epoll_event *evs, int64_t timeout_ns)
{
	static bool no_pwait2;
	int n;

	if (timeout_ns <= 0)
		return epoll_wait(epfd, evs, EVENTS_PER_POLL, timeout_ns < 0 ? -1 : 0);
	/* Nanoseconds: the poller sleeps until the next timer, and a
	 * millisecond's rounding would be a millisecond's oversleep. */
	if (!__atomic_load_n(&no_pwait2, __ATOMIC_RELAXED)) {
		struct timespec ts = { .tv_sec = timeout_ns / 1000000000,
				       .tv_nsec = timeout_ns % 1000000000 };

		n = epoll_pwait2(epfd, evs, EVENTS_PER_POLL, &ts, NULL);
		if (n >= 0 || errno != ENOSYS)
			return n;
		__atomic_store_n(&no_pwait2, true, __ATOMIC_RELAXED);
	}
	return epoll_wait(epfd, evs, EVENTS_PER_POLL, (int)((timeout_ns + 999999) / 1000000));
}

static int poll_once(int64_t timeout_ns, bool claimed, void (*before_wake)(void *), void *arg)
{
	struct epoll_event evs[EVENTS_PER_POLL];
	int epfd = __atomic_load_n(&np.epfd, __ATOMIC_ACQUIRE), n, readied = 0;

	n = poll_events(epfd, evs, timeout_ns);
	if (claimed)
		__atomic_store_n(&np.blocked, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&np.last_poll, nanotime(), __ATOMIC_RELAXED);
	for (int i = 0; i < n; i++) {
		uint64_t tag = evs[i].data.u64;
		uint32_t e = evs[i].events;
		struct poll_waiter *wake = NULL;
		struct poll_desc *pd;
		int fd = (int)(uint32_t)tag, mode = 0;

		if (tag == BREAK_TAG) {
			uint64_t v;

			(void)!read(np.breakfd, &v, sizeof(v));
			__atomic_store_n(&np.break_pending, 0, __ATOMIC_SEQ_CST);
			continue;
		}
		/* Hang-ups and errors make both directions "ready": the
		 * operation that retries reports them. */
		if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			mode |= GORT_FD_READ;
		if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))
			mode |= GORT_FD_WRITE;
		pd = pd_lookup(fd);
		if (!pd || !mode)
			continue;
		rt_lock(&pd->lock);
		if (pd->registered && pd->seq == (uint32_t)(tag >> 32)) {
			for (int dir = 0; dir < 2; dir++) {
				if (!(mode & dir_event[dir]))
					continue;
				if (pd->waiters[dir])
					pw_take_all(pd, dir, dir_event[dir], &wake);
				else
					__atomic_fetch_or(&pd->ready, dir_event[dir],
							  __ATOMIC_RELEASE);
			}
		}
		rt_unlock(&pd->lock);
		if (wake && before_wake) {
			before_wake(arg);
			before_wake = NULL;
		}
		readied += pw_wake_all(wake, fd);
	}
	return readied;
}

int netpoll(void)
{
	if (__atomic_load_n(&np.epfd, __ATOMIC_ACQUIRE) <= 0)
		return 0;
	return poll_once(0, false, NULL, NULL);
}

int netpoll_block(int64_t timeout_ns, void (*before_wake)(void *), void *arg)
{
	return poll_once(timeout_ns, true, before_wake, arg);
}

void netpoll_sysmon(int64_t now)
{
	if (netpoll_wanted() &&
	    now - __atomic_load_n(&np.last_poll, __ATOMIC_RELAXED) > SYSMON_POLL_NS)
		netpoll();
}
