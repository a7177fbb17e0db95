// SPDX-License-Identifier: GPL-2.0
/*
 * gort_worker_test - selftests of gort.ko's workers: REGISTER/UNREGISTER,
 * WAIT/WAKE (early wake, timeouts, signals), SWITCH ping-pong, the worker
 * limit, block notification through the shared area, SET_SPARE, argument
 * checking of every operation and the gort tracepoints.
 *
 * The switch ping-pong runs GORT_PINGPONG_ITERS round trips (default
 * 1000000) or for GORT_PINGPONG_SECONDS (default 12), whichever ends
 * first: under qemu TCG that is some tens of thousands.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "gort_util.h"

/* the 6.1 harness has an unused parameter; -Wextra -Werror would trip */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"
#pragma GCC diagnostic pop

#define MS		1000000ULL
#define SEC		1000000000ULL

FIXTURE(gort) {
	int fd;
	bool absent;
};

FIXTURE_SETUP(gort)
{
	struct stat st;

	self->fd = -1;
	self->absent = false;
	if (stat(GORT_DEVICE_PATH, &st) && errno == ENOENT) {
		self->absent = true;
		return;
	}
	self->fd = gort_open();
	ASSERT_LE(0, self->fd) TH_LOG("open: %s", strerror(errno));
}

FIXTURE_TEARDOWN(gort)
{
	if (self->fd >= 0)
		close(self->fd);
}

#define REQUIRE_GORT() do {				\
	if (self->absent)				\
		SKIP(return, GORT_ABSENT_MSG);		\
} while (0)

/* A thread that registers, runs fn and unregisters. */
struct worker {
	int fd;
	pthread_t thread;
	__u32 handle;
	pid_t tid;
	atomic_int ready;
	int ret;
	__u64 arg;
	struct gort_shared *shared;
	int pipe_rd;
	int (*fn)(struct worker *w);
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	w->tid = gettid_();
	w->ret = gort_register(w->fd, &w->handle);
	if (w->ret) {
		atomic_store(&w->ready, -1);
		return NULL;
	}
	atomic_store(&w->ready, 1);
	if (w->fn)
		w->ret = w->fn(w);
	gort_unregister(w->fd);
	return NULL;
}

static int worker_start(struct worker *w, int fd, int (*fn)(struct worker *))
{
	w->fd = fd;
	w->fn = fn;
	atomic_store(&w->ready, 0);
	if (pthread_create(&w->thread, NULL, worker_main, w))
		return -1;
	while (!atomic_load(&w->ready))
		usleep(100);
	return atomic_load(&w->ready) == 1 ? 0 : -1;
}

/* 1. REGISTER gives a handle; twice is EBUSY; UNREGISTER undoes it. */
TEST_F(gort, register_unregister)
{
	long base = gort_debugfs("workers");
	__u32 h, h2;

	REQUIRE_GORT();
	ASSERT_EQ(0, gort_register(self->fd, &h));
	EXPECT_LT(GORT_HANDLE_INDEX(h), (__u32)GORT_MAX_WORKERS);
	EXPECT_NE(GORT_HANDLE_NONE, h);
	EXPECT_EQ(-EBUSY, gort_register(self->fd, &h2));
	if (base >= 0)
		EXPECT_EQ(base + 1, gort_debugfs("workers"));
	EXPECT_EQ(0, gort_unregister(self->fd));
	EXPECT_EQ(-ENXIO, gort_unregister(self->fd));
	EXPECT_EQ(-ENXIO, gort_wait(self->fd, 1));
	EXPECT_EQ(-ESRCH, gort_wake(self->fd, h));
	if (base >= 0)
		EXPECT_EQ(base, gort_debugfs_settle("workers", base, 2000));

	/* re-registering reuses the index with a new generation */
	ASSERT_EQ(0, gort_register(self->fd, &h2));
	EXPECT_EQ(GORT_HANDLE_INDEX(h), GORT_HANDLE_INDEX(h2));
	EXPECT_NE(h, h2);
	EXPECT_EQ(-ESRCH, gort_wake(self->fd, h));
	EXPECT_EQ(0, gort_unregister(self->fd));
}

/* 2. A worker of one group cannot register with another (EBUSY). */
TEST_F(gort, one_group_per_thread)
{
	int fd2;

	REQUIRE_GORT();
	fd2 = gort_open();
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, gort_register(self->fd, NULL));
	EXPECT_EQ(-EBUSY, gort_register(fd2, NULL));
	EXPECT_EQ(-ENXIO, gort_unregister(fd2));
	EXPECT_EQ(-ENXIO, gort_wait(fd2, 1));
	EXPECT_EQ(0, gort_unregister(self->fd));
	EXPECT_EQ(0, gort_register(fd2, NULL));
	EXPECT_EQ(0, gort_unregister(fd2));
	close(fd2);
}

/* 3. Flags and reserved fields must be zero; bad pointers are EFAULT. */
TEST_F(gort, args_checked)
{
	static const struct {
		const char *name;
		unsigned long cmd;
		size_t size, first_reserved;
	} ops[] = {
		{ "REGISTER", GORT_IOC_REGISTER, sizeof(struct gort_register),
		  offsetof(struct gort_register, flags) },
		{ "WAIT", GORT_IOC_WAIT, sizeof(struct gort_wait),
		  offsetof(struct gort_wait, flags) },
		{ "WAKE", GORT_IOC_WAKE, sizeof(struct gort_wake),
		  offsetof(struct gort_wake, flags) },
		{ "SWITCH", GORT_IOC_SWITCH, sizeof(struct gort_switch),
		  offsetof(struct gort_switch, flags) },
		{ "SET_SPARE", GORT_IOC_SET_SPARE,
		  sizeof(struct gort_set_spare),
		  offsetof(struct gort_set_spare, flags) },
	};
	unsigned char buf[64];
	unsigned int i;
	size_t b;
	__u32 h;

	REQUIRE_GORT();
	ASSERT_EQ(0, gort_register(self->fd, &h));
	for (i = 0; i < ARRAY_SIZE(ops); i++) {
		for (b = ops[i].first_reserved; b < ops[i].size; b++) {
			if (ops[i].cmd == GORT_IOC_SWITCH &&
			    b >= offsetof(struct gort_switch, timeout_ns) &&
			    b < offsetof(struct gort_switch, reserved))
				continue;
			memset(buf, 0, sizeof(buf));
			buf[b] = 0x80;
			EXPECT_EQ(-EINVAL,
				  gort_ret(ioctl(self->fd, ops[i].cmd, buf))) {
				TH_LOG("%s: byte %zu accepted", ops[i].name, b);
			}
		}
		EXPECT_EQ(-EFAULT, gort_ret(ioctl(self->fd, ops[i].cmd, NULL)))
			TH_LOG("%s NULL", ops[i].name);
		EXPECT_EQ(-EFAULT, gort_ret(ioctl(self->fd, ops[i].cmd,
						  (void *)0xffff888000000000UL)))
			TH_LOG("%s kernel pointer", ops[i].name);
	}
	EXPECT_EQ(-EINVAL, gort_ret(ioctl(self->fd, GORT_IOC_UNREGISTER, 1)));
	EXPECT_EQ(-ENOTTY, gort_ret(ioctl(self->fd,
					  _IOW(GORT_IOC_MAGIC, 0x07, __u64), buf)));
	/* still registered after all that */
	EXPECT_EQ(-EBUSY, gort_register(self->fd, NULL));
	EXPECT_EQ(0, gort_unregister(self->fd));
}

/* 4. A wake before the wait is not lost; wakes do not accumulate. */
TEST_F(gort, early_wake)
{
	__u32 h;

	REQUIRE_GORT();
	ASSERT_EQ(0, gort_register(self->fd, &h));
	EXPECT_EQ(0, gort_wake(self->fd, h));
	EXPECT_EQ(0, gort_wake(self->fd, h));
	EXPECT_EQ(0, gort_wait(self->fd, 5 * SEC));
	EXPECT_EQ(-ETIMEDOUT, gort_wait(self->fd, 10 * MS));
	EXPECT_EQ(0, gort_unregister(self->fd));
}

static int fn_wait_5s(struct worker *w)
{
	return gort_wait(w->fd, 5 * SEC);
}

/* 5. WAKE of a sleeping worker from another thread. */
TEST_F(gort, wait_then_wake)
{
	struct worker w = { 0 };
	__u64 t0;

	REQUIRE_GORT();
	ASSERT_EQ(0, worker_start(&w, self->fd, fn_wait_5s));
	EXPECT_TRUE(wait_sleeping(w.tid, 2000));
	t0 = now_ns();
	EXPECT_EQ(0, gort_wake(self->fd, w.handle));
	pthread_join(w.thread, NULL);
	EXPECT_EQ(0, w.ret);
	EXPECT_LT(now_ns() - t0, 4 * SEC);
}

/* 6. Timeouts: ETIMEDOUT, not before the time, not much after. */
TEST_F(gort, timeout)
{
	__u64 t0, dt;
	__u32 h;

	REQUIRE_GORT();
	ASSERT_EQ(0, gort_register(self->fd, &h));
	t0 = now_ns();
	EXPECT_EQ(-ETIMEDOUT, gort_wait(self->fd, 50 * MS));
	dt = now_ns() - t0;
	EXPECT_GE(dt, 50 * MS);
	EXPECT_LT(dt, 2 * SEC) TH_LOG("50 ms timeout took %llu ns",
				      (unsigned long long)dt);
	/* 1 ns: times out at once */
	t0 = now_ns();
	EXPECT_EQ(-ETIMEDOUT, gort_wait(self->fd, 1));
	EXPECT_LT(now_ns() - t0, 2 * SEC);
	/* the largest timeout does not overflow into the past */
	EXPECT_EQ(0, gort_wake(self->fd, h));
	EXPECT_EQ(0, gort_wait(self->fd, ~0ULL));
	EXPECT_EQ(0, gort_unregister(self->fd));
}

static void on_sigusr1(int sig)
{
	(void)sig;
}

static int fn_wait_forever(struct worker *w)
{
	return gort_wait(w->fd, 0);
}

/* 7. A signal interrupts WAIT with EINTR (even without a timeout). */
TEST_F(gort, signal_interrupts)
{
	struct sigaction sa = { .sa_handler = on_sigusr1 };
	struct worker w = { 0 };

	REQUIRE_GORT();
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	ASSERT_EQ(0, worker_start(&w, self->fd, fn_wait_forever));
	EXPECT_TRUE(wait_sleeping(w.tid, 2000));
	usleep(20000);
	ASSERT_EQ(0, pthread_kill(w.thread, SIGUSR1));
	pthread_join(w.thread, NULL);
	EXPECT_EQ(-EINTR, w.ret);
}

/* Ping-pong state: who runs must alternate, strictly. */
struct pingpong {
	int fd;
	atomic_long iters;	/* lowered by A when its time is up */
	__u32 ha, hb;
	atomic_long turn;	/* even: A's turn, odd: B's */
	atomic_int hb_ready;
	int err;
};

static void *pp_b(void *arg)
{
	struct pingpong *pp = arg;
	long i;
	int r;

	if (gort_register(pp->fd, &pp->hb)) {
		pp->err = -1000;
		atomic_store(&pp->hb_ready, -1);
		return NULL;
	}
	atomic_store(&pp->hb_ready, 1);
	r = gort_wait(pp->fd, 10 * SEC);
	for (i = 0; !r; i++) {
		if (atomic_load(&pp->turn) != 2 * i + 1) {
			pp->err = -2000;
			break;
		}
		atomic_store(&pp->turn, 2 * i + 2);
		/* A set iters before the SWITCH that woke us */
		if (i == atomic_load(&pp->iters) - 1) {
			r = gort_wake(pp->fd, pp->ha);
			break;
		}
		r = gort_switch(pp->fd, pp->ha, 10 * SEC);
	}
	if (r)
		pp->err = r;
	gort_unregister(pp->fd);
	return NULL;
}

/*
 * Run a ping-pong of up to @iters round trips or @budget ns; returns 0 or
 * the first error, the round trips done in *done and ns each in *ns.
 */
static int pingpong(int fd, long iters, __u64 budget, long *done, __u64 *ns)
{
	struct pingpong pp = { 0 };
	pthread_t tb;
	__u64 t0;
	long i;
	int r = 0;

	pp.fd = fd;
	atomic_store(&pp.iters, iters);
	r = gort_register(fd, &pp.ha);
	if (r)
		return r;
	if (pthread_create(&tb, NULL, pp_b, &pp)) {
		gort_unregister(fd);
		return -1;
	}
	while (!atomic_load(&pp.hb_ready))
		usleep(100);
	if (atomic_load(&pp.hb_ready) != 1) {
		pthread_join(tb, NULL);
		gort_unregister(fd);
		return -1;
	}
	if (gort_switch(fd, pp.ha, 1) != -EINVAL ||
	    gort_switch(fd, pp.hb ^ 0x10000, 1) != -ESRCH)
		r = -4000;
	t0 = now_ns();
	for (i = 0; !r && i < iters; i++) {
		if (atomic_load(&pp.turn) != 2 * i) {
			r = -3000;
			break;
		}
		if (i + 1 < iters && !(i & 1023) && now_ns() - t0 > budget) {
			iters = i + 1;	/* this is the last round trip */
			atomic_store(&pp.iters, iters);
		}
		atomic_store(&pp.turn, 2 * i + 1);
		r = gort_switch(fd, pp.hb, 10 * SEC);
	}
	*ns = (now_ns() - t0) / (iters ? iters : 1);
	if (r)	/* B waits for a switch that will not come */
		gort_wake(fd, pp.hb);
	pthread_join(tb, NULL);
	gort_unregister(fd);
	*done = iters;
	if (!r && pp.err)
		r = pp.err;
	if (!r && atomic_load(&pp.turn) != 2 * iters)
		r = -5000;
	return r;
}

/*
 * 8. SWITCH ping-pong between two workers: every round trip completes
 * (a lost wake would be a 10 s ETIMEDOUT) and the two strictly alternate.
 * GORT_PINGPONG_ITERS round trips (default 1000000), or as many as fit in
 * GORT_PINGPONG_SECONDS (default 12: qemu TCG manages 100000-300000), at
 * least 10000.
 */
TEST_F_TIMEOUT(gort, switch_pingpong, 40)
{
	long done = 0;
	__u64 ns = 0;

	REQUIRE_GORT();
	EXPECT_EQ(0, pingpong(self->fd, env_long("GORT_PINGPONG_ITERS", 1000000),
			      env_long("GORT_PINGPONG_SECONDS", 12) * SEC,
			      &done, &ns));
	EXPECT_LE(10000, done);
	TH_LOG("%ld round trips, %llu ns each", done, (unsigned long long)ns);
}

#define MODE_PARAM	"/sys/module/gort/parameters/switch_mode"

static int read_int_file(const char *path)
{
	char buf[16] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? atoi(buf) : -1;
}

static int write_int_file(const char *path, int v)
{
	char buf[16];
	int fd = open(path, O_WRONLY | O_CLOEXEC), len;
	ssize_t n;

	if (fd < 0)
		return -1;
	len = snprintf(buf, sizeof(buf), "%d\n", v);
	n = write(fd, buf, len);
	close(fd);
	return n == len ? 0 : -1;
}

/*
 * 8b. Every SWITCH placement mode is correct: 2000 round trips or 2 s
 * each (cross-CPU wakes cost milliseconds under a loaded TCG host), at
 * least 200.
 */
TEST_F(gort, switch_modes)
{
	int mode, def = read_int_file(MODE_PARAM);
	long done;
	__u64 ns;

	REQUIRE_GORT();
	if (def < 0 || write_int_file(MODE_PARAM, def))
		SKIP(return, "cannot write " MODE_PARAM);
	for (mode = 0; mode <= 3; mode++) {	/* 3: unknown = plain */
		ASSERT_EQ(0, write_int_file(MODE_PARAM, mode));
		done = 0;
		EXPECT_EQ(0, pingpong(self->fd, 2000, 2 * SEC, &done, &ns))
			TH_LOG("mode %d", mode);
		EXPECT_LE(200, done) TH_LOG("mode %d", mode);
		TH_LOG("switch_mode %d: %llu ns per round trip", mode,
		       (unsigned long long)ns);
	}
	EXPECT_EQ(0, write_int_file(MODE_PARAM, def));
}

struct limit_ctx {
	int fd;
	int go_rd;
	atomic_int ok, fail;
};

static void *limit_thread(void *arg)
{
	struct limit_ctx *c = arg;
	char ch;

	if (gort_register(c->fd, NULL)) {
		atomic_fetch_add(&c->fail, 1);
		return NULL;
	}
	atomic_fetch_add(&c->ok, 1);
	/* hold the registration until the main thread says so */
	if (read(c->go_rd, &ch, 1) < 0)
		ch = 0;
	gort_unregister(c->fd);
	return NULL;
}

/* 9. GORT_MAX_WORKERS workers per group, then ENOSPC. */
TEST_F(gort, worker_limit)
{
	static pthread_t th[GORT_MAX_WORKERS];
	struct limit_ctx c = { 0 };
	pthread_attr_t attr;
	int p[2], i, n = 0;

	REQUIRE_GORT();
	ASSERT_EQ(0, pipe(p));
	c.fd = self->fd;
	c.go_rd = p[0];
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (i = 0; i < GORT_MAX_WORKERS; i++) {
		if (pthread_create(&th[i], &attr, limit_thread, &c))
			break;
		n++;
	}
	ASSERT_EQ(GORT_MAX_WORKERS, n);
	while (atomic_load(&c.ok) + atomic_load(&c.fail) < n)
		usleep(1000);
	EXPECT_EQ(GORT_MAX_WORKERS, atomic_load(&c.ok));
	EXPECT_EQ(-ENOSPC, gort_register(self->fd, NULL));
	close(p[1]);
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	close(p[0]);
	EXPECT_EQ(0, gort_register(self->fd, NULL));
	EXPECT_EQ(0, gort_unregister(self->fd));
}

static struct gort_shared *map_shared(int fd)
{
	void *p = mmap(NULL, gort_shared_len(), PROT_READ | PROT_WRITE,
		       MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

static int fn_block_in_read(struct worker *w)
{
	struct gort_slot *slot = &w->shared->slots[GORT_HANDLE_INDEX(w->handle)];
	char ch;

	/* let the spare reach its WAIT, so that the latency is the module's */
	if (w->arg) {
		usleep(20000);
		wait_sleeping((pid_t)w->arg, 2000);
	}
	/* holds a proc, then blocks in the kernel */
	__atomic_store_n(&slot->state, GORT_SLOT_RUNNING, __ATOMIC_SEQ_CST);
	w->arg = now_ns();
	if (read(w->pipe_rd, &ch, 1) != 1)
		return -EIO;
	/* back from the "system call": report what became of the proc */
	return (int)__atomic_load_n(&slot->state, __ATOMIC_SEQ_CST);
}

/*
 * 10. A worker holding a proc blocks in read() on a pipe: the spare is
 * woken within a bound, sees BLOCKED, takes the proc (BLOCKED -> TAKEN);
 * the worker, back from read(), finds TAKEN.
 */
TEST_F(gort, block_notify_taken)
{
	__u32 spare, expected = GORT_SLOT_BLOCKED;
	struct worker w = { 0 };
	struct gort_shared *sh;
	struct gort_slot *slot;
	__u64 count0, lat;
	int p[2];

	REQUIRE_GORT();
	sh = map_shared(self->fd);
	ASSERT_NE(NULL, sh);
	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(0, gort_register(self->fd, &spare));
	ASSERT_EQ(0, gort_set_spare(self->fd, spare));
	count0 = sh->block_count;
	w.shared = sh;
	w.pipe_rd = p[0];
	w.arg = (__u64)gettid_();
	ASSERT_EQ(0, worker_start(&w, self->fd, fn_block_in_read));
	slot = &sh->slots[GORT_HANDLE_INDEX(w.handle)];

	EXPECT_EQ(0, gort_wait(self->fd, 5 * SEC));
	lat = now_ns() - w.arg;
	TH_LOG("block -> spare woken: %llu us",
		       (unsigned long long)lat / 1000);
	EXPECT_LT(lat, 1 * SEC);
	EXPECT_EQ(GORT_SLOT_BLOCKED, __atomic_load_n(&slot->state,
						     __ATOMIC_SEQ_CST));
	EXPECT_LT(count0, sh->block_count);
	EXPECT_TRUE(__atomic_compare_exchange_n(&slot->state, &expected,
						GORT_SLOT_TAKEN, false,
						__ATOMIC_SEQ_CST,
						__ATOMIC_SEQ_CST));
	ASSERT_EQ(1, write(p[1], "x", 1));
	pthread_join(w.thread, NULL);
	EXPECT_EQ((int)GORT_SLOT_TAKEN, w.ret);
	/* after unregistering, the slot is IDLE again */
	EXPECT_EQ(GORT_SLOT_IDLE, slot->state);
	EXPECT_EQ(0, gort_unregister(self->fd));
	munmap(sh, gort_shared_len());
	close(p[0]);
	close(p[1]);
}

/*
 * 11. Not taken: the worker returns to RUNNING by itself on wake-up, the
 * sequence number moved by two (block, unblock).
 */
TEST_F(gort, block_notify_not_taken)
{
	struct worker w = { 0 };
	struct gort_shared *sh;
	struct gort_slot *slot;
	__u32 spare, seq0;
	int p[2];

	REQUIRE_GORT();
	sh = map_shared(self->fd);
	ASSERT_NE(NULL, sh);
	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(0, gort_register(self->fd, &spare));
	ASSERT_EQ(0, gort_set_spare(self->fd, spare));
	w.shared = sh;
	w.pipe_rd = p[0];
	ASSERT_EQ(0, worker_start(&w, self->fd, fn_block_in_read));
	slot = &sh->slots[GORT_HANDLE_INDEX(w.handle)];
	EXPECT_EQ(0, gort_wait(self->fd, 5 * SEC));
	seq0 = slot->seq;
	ASSERT_EQ(1, write(p[1], "x", 1));
	pthread_join(w.thread, NULL);
	EXPECT_EQ((int)GORT_SLOT_RUNNING, w.ret);
	EXPECT_LE(seq0 + 1, slot->seq);
	EXPECT_EQ(0, gort_unregister(self->fd));
	munmap(sh, gort_shared_len());
	close(p[0]);
	close(p[1]);
}

static int fn_park_running(struct worker *w)
{
	struct gort_slot *slot = &w->shared->slots[GORT_HANDLE_INDEX(w->handle)];
	int r;

	__atomic_store_n(&slot->state, GORT_SLOT_RUNNING, __ATOMIC_SEQ_CST);
	/* the library parks itself: not a block */
	r = gort_wait(w->fd, 300 * MS);
	w->arg = __atomic_load_n(&slot->state, __ATOMIC_SEQ_CST);
	return r;
}

static int fn_block_idle(struct worker *w)
{
	char ch;

	/* holds no proc (IDLE): blocking is not reported either */
	return read(w->pipe_rd, &ch, 1) == 1 ? 0 : -EIO;
}

/* 12. No notification for WAIT (a park) nor for a worker holding no proc. */
TEST_F(gort, no_notify_on_park)
{
	struct worker w = { 0 }, w2 = { 0 };
	struct gort_shared *sh;
	__u32 spare;
	__u64 count0;
	int p[2];

	REQUIRE_GORT();
	sh = map_shared(self->fd);
	ASSERT_NE(NULL, sh);
	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(0, gort_register(self->fd, &spare));
	ASSERT_EQ(0, gort_set_spare(self->fd, spare));
	count0 = sh->block_count;
	w.shared = sh;
	ASSERT_EQ(0, worker_start(&w, self->fd, fn_park_running));
	w2.pipe_rd = p[0];
	ASSERT_EQ(0, worker_start(&w2, self->fd, fn_block_idle));
	EXPECT_EQ(-ETIMEDOUT, gort_wait(self->fd, 500 * MS));
	pthread_join(w.thread, NULL);
	EXPECT_EQ(-ETIMEDOUT, w.ret);
	EXPECT_EQ(count0, sh->block_count);
	EXPECT_EQ(GORT_SLOT_RUNNING, w.arg);
	ASSERT_EQ(1, write(p[1], "x", 1));
	pthread_join(w2.thread, NULL);
	EXPECT_EQ(0, w2.ret);
	/* SET_SPARE: bad handles, and NONE */
	EXPECT_EQ(-ESRCH, gort_set_spare(self->fd, w.handle));
	EXPECT_EQ(-ESRCH, gort_set_spare(self->fd, 0xfffe));
	EXPECT_EQ(0, gort_set_spare(self->fd, GORT_HANDLE_NONE));
	EXPECT_EQ(0, gort_unregister(self->fd));
	munmap(sh, gort_shared_len());
	close(p[0]);
	close(p[1]);
}

/* 13. mmap: only MAP_SHARED, offset 0, at most the area's size. */
TEST_F(gort, mmap_rules)
{
	size_t len = gort_shared_len();
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	REQUIRE_GORT();
	p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, self->fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, len, PROT_READ, MAP_SHARED, self->fd, page);
	EXPECT_EQ(MAP_FAILED, p);
	p = mmap(NULL, len + page, PROT_READ, MAP_SHARED, self->fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	p = mmap(NULL, page, PROT_READ, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(MAP_FAILED, mremap(p, page, len + page, MREMAP_MAYMOVE));
	munmap(p, page);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	/* the mapping holds the group: closing the fd keeps it readable */
	close(self->fd);
	self->fd = -1;
	EXPECT_EQ(0U, ((struct gort_shared *)p)->reserved[0]);
	munmap(p, len);
}

/* The gort events exist in tracefs and fire. */
static const char *const events[] = {
	"gort_register", "gort_unregister", "gort_wait", "gort_wake",
	"gort_switch", "gort_block", "gort_unblock", "gort_spare_wake",
};

static const char *tracefs(void)
{
	struct stat st;

	if (!stat("/sys/kernel/tracing/events", &st))
		return "/sys/kernel/tracing";
	mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL);
	if (!stat("/sys/kernel/tracing/events", &st))
		return "/sys/kernel/tracing";
	if (!stat("/sys/kernel/debug/tracing/events", &st))
		return "/sys/kernel/debug/tracing";
	return NULL;
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -EIO;
}

/* 14. Tracepoints of system gort: present, and they record events. */
TEST_F(gort, tracepoints)
{
	char path[256], *buf;
	const char *tr;
	struct stat st;
	unsigned int i;
	ssize_t n, len = 0;
	__u32 h;
	int fd;

	REQUIRE_GORT();
	tr = tracefs();
	if (!tr)
		SKIP(return, "tracefs not available");
	for (i = 0; i < ARRAY_SIZE(events); i++) {
		snprintf(path, sizeof(path), "%s/events/gort/%s/format", tr,
			 events[i]);
		EXPECT_EQ(0, stat(path, &st)) TH_LOG("%s missing", path);
	}
	snprintf(path, sizeof(path), "%s/events/gort/enable", tr);
	ASSERT_EQ(0, write_file(path, "1"));
	snprintf(path, sizeof(path), "%s/trace", tr);
	write_file(path, "");
	ASSERT_EQ(0, gort_register(self->fd, &h));
	EXPECT_EQ(0, gort_wake(self->fd, h));
	EXPECT_EQ(0, gort_wait(self->fd, SEC));
	EXPECT_EQ(0, gort_unregister(self->fd));
	snprintf(path, sizeof(path), "%s/events/gort/enable", tr);
	write_file(path, "0");
	snprintf(path, sizeof(path), "%s/trace", tr);
	buf = calloc(1, 1 << 20);
	ASSERT_NE(NULL, buf);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	while ((n = read(fd, buf + len, (1 << 20) - 1 - len)) > 0)
		len += n;
	close(fd);
	for (i = 0; i < 4; i++) {
		char pat[64];

		snprintf(pat, sizeof(pat), "%s: group=", events[i]);
		EXPECT_NE(NULL, strstr(buf, pat)) TH_LOG("no %s in trace",
							  events[i]);
	}
	free(buf);
}

TEST_HARNESS_MAIN
