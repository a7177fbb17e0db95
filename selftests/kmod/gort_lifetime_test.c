// SPDX-License-Identifier: GPL-2.0
/*
 * gort_lifetime_test - lifetime of gort.ko's objects: a registered thread
 * that exits or execs, a process SIGKILLed in WAIT, the last descriptor
 * closed while workers wait, workers that outlive their group's fd, and
 * rmmod refused while anything is in use.  The debugfs counters (groups,
 * workers) must return to their starting values.
 *
 * The binary doubles as the exec'd helper: "gort_lifetime_test
 * --exec-helper FD" (see exec_helper()).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "gort_util.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"
#pragma GCC diagnostic pop

#define MS		1000000ULL
#define SEC		1000000000ULL
#define EXEC_FLAG	"--exec-helper"

FIXTURE(gort) {
	bool absent;
	long groups0, workers0;
};

FIXTURE_SETUP(gort)
{
	struct stat st;

	self->absent = stat(GORT_DEVICE_PATH, &st) && errno == ENOENT;
	self->groups0 = gort_debugfs("groups");
	self->workers0 = gort_debugfs("workers");
}

/* Every test ends with the counters back where they started. */
FIXTURE_TEARDOWN(gort)
{
	if (self->absent || self->workers0 < 0)
		return;
	EXPECT_EQ(self->workers0,
		  gort_debugfs_settle("workers", self->workers0, 3000));
	EXPECT_EQ(self->groups0,
		  gort_debugfs_settle("groups", self->groups0, 3000));
}

#define REQUIRE_GORT() do {				\
	if (self->absent)				\
		SKIP(return, GORT_ABSENT_MSG);		\
} while (0)

struct th {
	int fd;
	__u32 handle;
	pid_t tid;
	atomic_int state;
	int ret;
};

static void *th_register_exit(void *arg)
{
	struct th *t = arg;

	t->ret = gort_register(t->fd, &t->handle);
	atomic_store(&t->state, 1);
	return NULL;	/* exits registered */
}

/* 1. A registered thread exits: its worker is freed, its handle stale. */
TEST_F(gort, thread_exit)
{
	struct th t = { 0 };
	pthread_t th;
	int fd, i;

	REQUIRE_GORT();
	fd = gort_open();
	ASSERT_LE(0, fd);
	t.fd = fd;
	ASSERT_EQ(0, pthread_create(&th, NULL, th_register_exit, &t));
	pthread_join(th, NULL);
	ASSERT_EQ(0, t.ret);
	/*
	 * The worker is detached at sched_process_exit, which comes after
	 * the clear_child_tid wake that ends pthread_join(): poll.
	 */
	for (i = 0; i < 200 && !gort_wake(fd, t.handle); i++)
		usleep(10000);
	EXPECT_EQ(-ESRCH, gort_wake(fd, t.handle));
	if (self->workers0 >= 0)
		EXPECT_EQ(self->workers0,
			  gort_debugfs_settle("workers", self->workers0, 3000));
	close(fd);
}

/*
 * The exec'd side: the old group's fd (inherited, not CLOEXEC) is useless
 * in the new image (EPERM), and this thread, a worker before exec, may
 * register anew: exec detached it.
 */
static int exec_helper(int argc, char **argv)
{
	int oldfd, fd;

	if (argc < 3)
		return 10;
	oldfd = atoi(argv[2]);
	if (gort_wait(oldfd, 1) != -EPERM)
		return 11;
	fd = gort_open();
	if (fd < 0)
		return 12;
	if (gort_register(fd, NULL))
		return 13;
	if (gort_unregister(fd))
		return 14;
	return 0;
}

/* 2. A worker thread execs: it is detached and can register again. */
TEST_F(gort, thread_exec)
{
	char fdstr[16];
	int fd, status;
	pid_t pid;

	REQUIRE_GORT();
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		fd = open(GORT_DEVICE_PATH, O_RDWR);	/* survives exec */
		if (fd < 0 || gort_register(fd, NULL))
			_exit(20);
		snprintf(fdstr, sizeof(fdstr), "%d", fd);
		execl("/proc/self/exe", "gort_lifetime_test", EXEC_FLAG, fdstr,
		      (char *)NULL);
		_exit(21);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

static void *th_exec(void *arg)
{
	char *fdstr = arg;

	execl("/proc/self/exe", "gort_lifetime_test", EXEC_FLAG, fdstr,
	      (char *)NULL);
	_exit(22);
}

/*
 * 3. A non-leader thread execs while the leader is a worker sleeping in
 * WAIT: the leader is killed by de_thread (exit path), the exec'ing one
 * was a worker too (exec path).
 */
TEST_F(gort, thread_exec_multithreaded)
{
	char fdstr[16];
	int fd, status;
	pthread_t th;
	pid_t pid;

	REQUIRE_GORT();
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		fd = open(GORT_DEVICE_PATH, O_RDWR);
		if (fd < 0 || gort_register(fd, NULL))
			_exit(20);
		snprintf(fdstr, sizeof(fdstr), "%d", fd);
		/* the exec'ing thread registers in its own right */
		if (pthread_create(&th, NULL, th_exec, fdstr))
			_exit(23);
		gort_wait(fd, 0);
		_exit(24);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

/* 4. A process SIGKILLed while its workers WAIT. */
TEST_F(gort, sigkill_mid_wait)
{
	int p[2], status;
	char ch;
	pid_t pid;

	REQUIRE_GORT();
	ASSERT_EQ(0, pipe(p));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int fd = gort_open();

		if (fd < 0 || gort_register(fd, NULL))
			_exit(20);
		if (write(p[1], "r", 1) != 1)
			_exit(21);
		gort_wait(fd, 0);
		_exit(22);
	}
	close(p[1]);
	ASSERT_EQ(1, read(p[0], &ch, 1));
	close(p[0]);
	usleep(100000);
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status));
	EXPECT_EQ(SIGKILL, WTERMSIG(status));
}

static void *th_wait_forever(void *arg)
{
	struct th *t = arg;

	t->tid = gettid_();
	if (gort_register(t->fd, &t->handle)) {
		t->ret = -1000;
		atomic_store(&t->state, -1);
		return NULL;
	}
	atomic_store(&t->state, 1);
	t->ret = gort_wait(t->fd, 0);
	return NULL;	/* exits registered: the group is closed */
}

/* 5. Closing the last fd wakes every waiter with EBADF. */
TEST_F(gort, close_wakes_waiters)
{
	struct th t[3] = { 0 };
	pthread_t th[3];
	int fd, i;

	REQUIRE_GORT();
	fd = gort_open();
	ASSERT_LE(0, fd);
	for (i = 0; i < 3; i++) {
		t[i].fd = fd;
		ASSERT_EQ(0, pthread_create(&th[i], NULL, th_wait_forever,
					    &t[i]));
	}
	for (i = 0; i < 3; i++) {
		while (!atomic_load(&t[i].state))
			usleep(1000);
		ASSERT_EQ(1, atomic_load(&t[i].state));
		EXPECT_TRUE(wait_sleeping(t[i].tid, 2000));
	}
	close(fd);
	for (i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		EXPECT_EQ(-EBADF, t[i].ret) TH_LOG("waiter %d", i);
	}
}

/* 6. Closing a dup()ed descriptor is not the last close. */
TEST_F(gort, close_dup_keeps_group)
{
	struct th t = { 0 };
	pthread_t th;
	int fd, fd2;

	REQUIRE_GORT();
	fd = gort_open();
	ASSERT_LE(0, fd);
	fd2 = dup(fd);
	ASSERT_LE(0, fd2);
	t.fd = fd;
	ASSERT_EQ(0, pthread_create(&th, NULL, th_wait_forever, &t));
	while (!atomic_load(&t.state))
		usleep(1000);
	EXPECT_TRUE(wait_sleeping(t.tid, 2000));
	close(fd2);
	usleep(50000);
	EXPECT_EQ('S', thread_state(t.tid));
	EXPECT_EQ(0, gort_wake(fd, t.handle));
	pthread_join(th, NULL);
	EXPECT_EQ(0, t.ret);
	close(fd);
}

/*
 * 7. The owner's last close counts even while a fork child still holds
 * the inherited descriptor: the waiters return EBADF.
 */
TEST_F(gort, close_with_child_holding_fd)
{
	struct th t = { 0 };
	int fd, p[2], status;
	pthread_t th;
	char ch;
	pid_t pid;

	REQUIRE_GORT();
	fd = open(GORT_DEVICE_PATH, O_RDWR);
	ASSERT_LE(0, fd);
	t.fd = fd;
	ASSERT_EQ(0, pthread_create(&th, NULL, th_wait_forever, &t));
	while (!atomic_load(&t.state))
		usleep(1000);
	EXPECT_TRUE(wait_sleeping(t.tid, 2000));
	ASSERT_EQ(0, pipe(p));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* keep the inherited fd open until the parent is done */
		close(p[1]);
		if (read(p[0], &ch, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(p[0]);
	close(fd);
	pthread_join(th, NULL);
	EXPECT_EQ(-EBADF, t.ret);
	close(p[1]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
}

static int delete_gort(void)
{
	return syscall(SYS_delete_module, "gort", O_NONBLOCK) ? -errno : 0;
}

struct orphan {
	int fd;
	int rd;
	atomic_int state;
};

static void *th_orphan(void *arg)
{
	struct orphan *o = arg;
	char ch;

	if (gort_register(o->fd, NULL)) {
		atomic_store(&o->state, -1);
		return NULL;
	}
	atomic_store(&o->state, 1);
	/* the fd is closed meanwhile: this worker is an orphan */
	if (read(o->rd, &ch, 1) < 0)
		ch = 0;
	return NULL;
}

/*
 * 8. rmmod is refused while a group is open, and while an orphaned
 * worker (its group's fd closed) still lives; the runner's final rmmod
 * checks it succeeds after.
 */
TEST_F(gort, rmmod_in_use)
{
	struct orphan o = { 0 };
	pthread_t th;
	int p[2], r;

	REQUIRE_GORT();
	if (getuid() != 0)
		SKIP(return, "needs root for delete_module()");
	o.fd = gort_open();
	ASSERT_LE(0, o.fd);
	r = delete_gort();
	ASSERT_NE(0, r) TH_LOG("gort.ko was unloaded while in use");
	EXPECT_TRUE(r == -EWOULDBLOCK || r == -EBUSY) TH_LOG("%d", r);

	ASSERT_EQ(0, pipe(p));
	o.rd = p[0];
	ASSERT_EQ(0, pthread_create(&th, NULL, th_orphan, &o));
	while (!atomic_load(&o.state))
		usleep(1000);
	ASSERT_EQ(1, atomic_load(&o.state));
	close(o.fd);
	r = delete_gort();
	ASSERT_NE(0, r) TH_LOG("gort.ko was unloaded under an orphan worker");
	EXPECT_TRUE(r == -EWOULDBLOCK || r == -EBUSY) TH_LOG("%d", r);
	close(p[1]);
	pthread_join(th, NULL);
	close(p[0]);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], EXEC_FLAG))
		return exec_helper(argc, argv);
	return test_harness_run(argc, argv);
}
