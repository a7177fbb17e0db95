// SPDX-License-Identifier: GPL-2.0
/*
 * gort_fuzz_test - random ioctls on /dev/gort from several threads.
 *
 * GORT_FUZZ_CALLS calls in all (default 100000) from FUZZ_THREADS threads:
 * random known and unknown commands, random sizes and directions, random
 * argument bytes or mostly-valid structs with random handles, NULL,
 * kernel, unmapped and read-only pointers, registration churn, mmap and
 * munmap, and dup()+close().  A waker thread wakes every handle now and
 * then so that a WAIT without timeout cannot hang the test.  Afterwards
 * the group still works and the debugfs counters return to their start:
 * no leaked worker or group (the runner also fails on any oops/WARN).
 *
 * kill_storm: GORT_STORM_ROUNDS (40) processes with four busy workers
 * each, SIGKILLed at random moments; counters back to their start.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "gort_util.h"

/* TEST() of the 6.1 harness has an unused parameter: not popped */
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"

#define FUZZ_THREADS	4

struct fuzz {
	int fd;
	long calls_per_thread;
	atomic_int stop;
	atomic_uint handles[FUZZ_THREADS + 1];
	void *ro_page, *unmapped;
	atomic_long done, ok, einval, efault, enotty, other;
};

struct fuzz_thread {
	struct fuzz *f;
	int id;
	__u64 rng;
};

static __u64 rnd(struct fuzz_thread *t)
{
	/* xorshift64* */
	t->rng ^= t->rng >> 12;
	t->rng ^= t->rng << 25;
	t->rng ^= t->rng >> 27;
	return t->rng * 2685821657736338717ULL;
}

static const unsigned long known[] = {
	GORT_IOC_VERSION, GORT_IOC_REGISTER, GORT_IOC_UNREGISTER,
	GORT_IOC_WAIT, GORT_IOC_WAKE, GORT_IOC_SWITCH, GORT_IOC_SET_SPARE,
};

static unsigned long pick_cmd(struct fuzz_thread *t)
{
	static const unsigned int dirs[] = {
		_IOC_NONE, _IOC_READ, _IOC_WRITE, _IOC_READ | _IOC_WRITE,
	};
	__u64 r = rnd(t);

	switch (r % 8) {
	case 0: case 1: case 2: case 3:
		return known[(r >> 8) % (sizeof(known) / sizeof(known[0]))];
	case 4: case 5:	/* our magic, random nr/size/dir */
		return _IOC(dirs[(r >> 8) & 3], GORT_IOC_MAGIC,
			    (r >> 16) & 0x3f, (r >> 24) & 0x7f);
	case 6:		/* a known nr with a wrong size */
		return _IOC(_IOC_DIR(known[(r >> 8) % 7]), GORT_IOC_MAGIC,
			    _IOC_NR(known[(r >> 8) % 7]), (r >> 16) & 0xff);
	default:
		return (unsigned long)(r >> 16) & 0xffffffffUL;
	}
}

static __u32 pick_handle(struct fuzz_thread *t)
{
	__u64 r = rnd(t);

	switch (r % 4) {
	case 0:
		return atomic_load(&t->f->handles[(r >> 8) % (FUZZ_THREADS + 1)]);
	case 1:
		return (__u32)(r >> 16) & 0x3ff;
	case 2:
		return GORT_HANDLE_NONE;
	default:
		return (__u32)(r >> 32);
	}
}

static void fill_arg(struct fuzz_thread *t, unsigned char *buf, size_t len)
{
	__u64 r = rnd(t), v;
	size_t i;

	memset(buf, 0, len);
	switch (r % 4) {
	case 0:		/* random bytes */
		for (i = 0; i < len; i += 8) {
			v = rnd(t);
			memcpy(buf + i, &v, len - i < 8 ? len - i : 8);
		}
		break;
	case 1:		/* one random byte set */
		buf[(r >> 8) % len] = (unsigned char)(r >> 16);
		break;
	default: {	/* valid shape: handle, flags 0, short timeout */
		__u32 h = pick_handle(t);
		__u64 tmo = 1 + (rnd(t) % 200000);

		memcpy(buf, &h, 4);
		/* timeout_ns sits at 0 (WAIT) or 8 (SWITCH) */
		if (r & 0x100)
			memcpy(buf, &tmo, 8);
		else
			memcpy(buf + 8, &tmo, 8);
		break;
	}
	}
}

static void account(struct fuzz *f, int r)
{
	atomic_fetch_add(&f->done, 1);
	switch (r) {
	case 0: atomic_fetch_add(&f->ok, 1); break;
	case -EINVAL: atomic_fetch_add(&f->einval, 1); break;
	case -EFAULT: atomic_fetch_add(&f->efault, 1); break;
	case -ENOTTY: atomic_fetch_add(&f->enotty, 1); break;
	default: atomic_fetch_add(&f->other, 1); break;
	}
}

static void *fuzz_main(void *arg)
{
	struct fuzz_thread *t = arg;
	struct fuzz *f = t->f;
	unsigned char buf[256] __attribute__((aligned(8)));
	void *map = NULL;
	long i;
	__u32 h;
	int r;

	for (i = 0; i < f->calls_per_thread; i++) {
		unsigned long cmd = pick_cmd(t), arg;
		__u64 x = rnd(t);

		fill_arg(t, buf, sizeof(buf));
		switch (x % 16) {
		case 0: arg = 0; break;
		case 1: arg = 0xffff888000000000UL; break;
		case 2: arg = (unsigned long)f->unmapped; break;
		case 3: arg = (unsigned long)f->ro_page; break;
		case 4: arg = (unsigned long)buf + sizeof(buf) - 8; break;
		case 5: arg = x >> 8; break;
		default: arg = (unsigned long)buf; break;
		}
		/* UNREGISTER's argument is a value; keep it usually 0 */
		if (cmd == GORT_IOC_UNREGISTER && (x & 0x30))
			arg = 0;
		r = gort_ret(ioctl(f->fd, cmd, arg));
		account(f, r);
		if (cmd == GORT_IOC_REGISTER && !r)
			atomic_store(&f->handles[t->id],
				     ((struct gort_register *)arg)->handle);

		/* churn: registration, mapping, descriptor copies */
		switch ((x >> 40) % 64) {
		case 0:
			if (!gort_register(f->fd, &h))
				atomic_store(&f->handles[t->id], h);
			break;
		case 1:
			gort_unregister(f->fd);
			break;
		case 2:
			if (map) {
				munmap(map, gort_shared_len());
				map = NULL;
			} else {
				map = mmap(NULL, gort_shared_len(),
					   PROT_READ | PROT_WRITE, MAP_SHARED,
					   f->fd, 0);
				if (map == MAP_FAILED)
					map = NULL;
			}
			break;
		case 3: {
			int d = dup(f->fd);

			if (d >= 0)
				close(d);
			break;
		}
		case 4:
			if (map)	/* pretend to hold a proc */
				((struct gort_shared *)map)->slots[(x >> 8) %
					GORT_MAX_WORKERS].state = (x >> 20) & 3;
			break;
		}
	}
	if (map)
		munmap(map, gort_shared_len());
	gort_unregister(f->fd);
	return NULL;
}

/* Wakes every known handle now and then: no WAIT can hang the test. */
static void *waker_main(void *arg)
{
	struct fuzz *f = arg;
	int i;

	while (!atomic_load(&f->stop)) {
		for (i = 0; i < FUZZ_THREADS + 1; i++)
			gort_wake(f->fd, atomic_load(&f->handles[i]));
		usleep(2000);
	}
	return NULL;
}

TEST(random_ioctls)
{
	struct fuzz_thread t[FUZZ_THREADS];
	pthread_t th[FUZZ_THREADS], waker;
	long page = sysconf(_SC_PAGESIZE);
	long groups0, workers0, calls;
	struct stat st;
	struct fuzz *f;
	__u32 h;
	int i;

	if (stat(GORT_DEVICE_PATH, &st) && errno == ENOENT)
		SKIP(return, GORT_ABSENT_MSG);
	groups0 = gort_debugfs("groups");
	workers0 = gort_debugfs("workers");
	calls = env_long("GORT_FUZZ_CALLS", 100000);

	f = calloc(1, sizeof(*f));
	ASSERT_NE(NULL, f);
	f->fd = gort_open();
	ASSERT_LE(0, f->fd);
	f->calls_per_thread = calls / FUZZ_THREADS;
	f->ro_page = mmap(NULL, 2 * page, PROT_READ,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, f->ro_page);
	f->unmapped = (char *)f->ro_page + page;
	ASSERT_EQ(0, munmap(f->unmapped, page));
	for (i = 0; i < FUZZ_THREADS + 1; i++)
		atomic_store(&f->handles[i], GORT_HANDLE_NONE);

	/* the main thread is a worker too, so that handles are live */
	ASSERT_EQ(0, gort_register(f->fd, &h));
	atomic_store(&f->handles[FUZZ_THREADS], h);
	ASSERT_EQ(0, pthread_create(&waker, NULL, waker_main, f));
	for (i = 0; i < FUZZ_THREADS; i++) {
		t[i].f = f;
		t[i].id = i;
		t[i].rng = 0x9e3779b97f4a7c15ULL * (i + 1) ^ now_ns();
		ASSERT_EQ(0, pthread_create(&th[i], NULL, fuzz_main, &t[i]));
	}
	for (i = 0; i < FUZZ_THREADS; i++)
		pthread_join(th[i], NULL);
	atomic_store(&f->stop, 1);
	pthread_join(waker, NULL);

	TH_LOG("%ld calls: %ld ok, %ld EINVAL, %ld EFAULT, %ld ENOTTY, %ld other",
		       atomic_load(&f->done), atomic_load(&f->ok),
		       atomic_load(&f->einval), atomic_load(&f->efault),
		       atomic_load(&f->enotty), atomic_load(&f->other));
	EXPECT_EQ(FUZZ_THREADS * f->calls_per_thread, atomic_load(&f->done));
	EXPECT_LT(0, atomic_load(&f->ok));
	EXPECT_LT(0, atomic_load(&f->einval));
	EXPECT_LT(0, atomic_load(&f->efault));
	EXPECT_LT(0, atomic_load(&f->enotty));

	/* the group still works */
	EXPECT_EQ(0, gort_wake(f->fd, h));
	EXPECT_EQ(0, gort_wait(f->fd, 1000000000ULL));
	EXPECT_EQ(0, gort_unregister(f->fd));
	close(f->fd);
	if (workers0 >= 0) {
		EXPECT_EQ(workers0, gort_debugfs_settle("workers", workers0,
							 3000));
		EXPECT_EQ(groups0, gort_debugfs_settle("groups", groups0,
						       3000));
	}
	munmap(f->ro_page, page);
	free(f);
}

/* ---- kill storm: processes killed in the middle of everything ---- */

/* Operations done by all storm processes (a MAP_SHARED counter). */
static atomic_long *storm_ops;

struct storm {
	int fd;
	__u32 handles[4];
	atomic_int nready;
	struct gort_shared *sh;
	int pipe_rd, pipe_wr;
};

static void *storm_thread(void *arg)
{
	struct storm *st = arg;
	__u32 h, peer;
	int me, i;
	char ch;

	if (gort_register(st->fd, &h))
		return NULL;
	me = atomic_fetch_add(&st->nready, 1);
	st->handles[me & 3] = h;
	if (me == 0)
		gort_set_spare(st->fd, h);
	for (i = 0;; i++) {
		atomic_fetch_add(storm_ops, 1);
		peer = st->handles[(me + 1) & 3];
		switch (i % 4) {
		case 0:
			gort_switch(st->fd, peer, 1000000);
			break;
		case 1:
			gort_wake(st->fd, peer);
			gort_wait(st->fd, 500000);
			break;
		case 2:	/* hold a proc and block in the kernel */
			if (st->sh)
				st->sh->slots[GORT_HANDLE_INDEX(h)].state =
					GORT_SLOT_RUNNING;
			if (write(st->pipe_wr, "x", 1) == 1 &&
			    read(st->pipe_rd, &ch, 1) < 0)
				ch = 0;
			break;
		default:
			if (!(i % 64)) {
				gort_unregister(st->fd);
				gort_register(st->fd, &h);
				st->handles[me & 3] = h;
			}
			break;
		}
	}
	return NULL;
}

static void storm_child(void)
{
	struct storm st = { 0 };
	pthread_t th[4];
	int p[2], i;

	st.fd = gort_open();
	if (st.fd < 0 || pipe(p))
		_exit(1);
	st.pipe_rd = p[0];
	st.pipe_wr = p[1];
	st.sh = mmap(NULL, gort_shared_len(), PROT_READ | PROT_WRITE,
		     MAP_SHARED, st.fd, 0);
	if (st.sh == MAP_FAILED)
		st.sh = NULL;
	for (i = 0; i < 4; i++)
		st.handles[i] = GORT_HANDLE_NONE;
	for (i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, storm_thread, &st);
	/* the main thread closes the fd at a random moment, or not */
	usleep(1000 + (getpid() % 7) * 3000);
	if (getpid() & 1)
		close(st.fd);
	for (;;)
		pause();
}

/*
 * Processes whose four workers switch, wait, wake, block with a spare and
 * re-register, SIGKILLed at random moments (some after closing their fd):
 * no oops, no WARN, and the counters return to their start.
 */
TEST(kill_storm)
{
	long groups0, workers0, rounds;
	struct stat st;
	int i, status;
	pid_t pid;

	if (stat(GORT_DEVICE_PATH, &st) && errno == ENOENT)
		SKIP(return, GORT_ABSENT_MSG);
	groups0 = gort_debugfs("groups");
	workers0 = gort_debugfs("workers");
	rounds = env_long("GORT_STORM_ROUNDS", 40);
	storm_ops = mmap(NULL, sizeof(*storm_ops), PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, storm_ops);
	for (i = 0; i < rounds; i++) {
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0)
			storm_child();
		usleep(5000 + (i % 10) * 5000);
		ASSERT_EQ(0, kill(pid, SIGKILL));
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		EXPECT_TRUE(WIFSIGNALED(status));
	}
	TH_LOG("%ld processes killed after %ld operations in all", rounds,
	       atomic_load(storm_ops));
	EXPECT_LT(rounds, atomic_load(storm_ops));
	if (workers0 >= 0) {
		EXPECT_EQ(workers0, gort_debugfs_settle("workers", workers0,
							 3000));
		EXPECT_EQ(groups0, gort_debugfs_settle("groups", groups0,
						       3000));
	}
}

TEST_HARNESS_MAIN
