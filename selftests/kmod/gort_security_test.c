// SPDX-License-Identifier: GPL-2.0
/*
 * gort_security_test - a group is usable only from the address space that
 * opened it.  A child after fork() and an unrelated process that receives
 * the fd over a unix socket get EPERM on every operation (ioctls and
 * mmap), cannot wake the parent's workers and cannot see its shared area.
 *
 * The binary doubles as the unrelated process: "gort_security_test
 * --receiver SOCKFD HANDLE" (see receiver_main()).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "gort_util.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"
#pragma GCC diagnostic pop

#define MS		1000000ULL
#define RECEIVER_FLAG	"--receiver"

/*
 * Every operation on @fd, all expected to fail with EPERM; @handle is a
 * worker of the fd's group.  Returns 0, or the 1-based number of the
 * first operation that did not fail with EPERM.
 */
static int all_ops_eperm(int fd, __u32 handle)
{
	struct gort_version ver;
	void *p;

	memset(&ver, 0, sizeof(ver));
	if (gort_ret(ioctl(fd, GORT_IOC_VERSION, &ver)) != -EPERM)
		return 1;
	if (gort_register(fd, NULL) != -EPERM)
		return 2;
	if (gort_unregister(fd) != -EPERM)
		return 3;
	if (gort_wait(fd, 1) != -EPERM)
		return 4;
	if (gort_wake(fd, handle) != -EPERM)
		return 5;
	if (gort_switch(fd, handle, 1) != -EPERM)
		return 6;
	if (gort_set_spare(fd, handle) != -EPERM)
		return 7;
	if (gort_ret(ioctl(fd, _IO(GORT_IOC_MAGIC, 0x1f), 0)) != -EPERM)
		return 8;
	p = mmap(NULL, gort_shared_len(), PROT_READ, MAP_SHARED, fd, 0);
	if (p != MAP_FAILED || errno != EPERM)
		return 9;
	return 0;
}

FIXTURE(gort) {
	int fd;
	bool absent;
	__u32 handle;
	struct gort_shared *sh;
};

FIXTURE_SETUP(gort)
{
	struct stat st;

	self->fd = -1;
	self->sh = NULL;
	self->absent = stat(GORT_DEVICE_PATH, &st) && errno == ENOENT;
	if (self->absent)
		return;
	self->fd = gort_open();
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, gort_register(self->fd, &self->handle));
	self->sh = mmap(NULL, gort_shared_len(), PROT_READ | PROT_WRITE,
			MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, self->sh);
	self->sh->slots[GORT_HANDLE_INDEX(self->handle)].state =
		GORT_SLOT_RUNNING;
}

FIXTURE_TEARDOWN(gort)
{
	if (self->sh && self->sh != MAP_FAILED)
		munmap(self->sh, gort_shared_len());
	if (self->fd >= 0) {
		gort_unregister(self->fd);
		close(self->fd);
	}
}

#define REQUIRE_GORT() do {				\
	if (self->absent)				\
		SKIP(return, GORT_ABSENT_MSG);		\
} while (0)

/* The parent's wake token must still be clear: nobody woke it. */
#define EXPECT_NOT_WOKEN() \
	EXPECT_EQ(-ETIMEDOUT, gort_wait(self->fd, 20 * MS))

/*
 * 1. fork(): the child gets EPERM on every operation, and the shared area
 * is not mapped in it (VM_DONTCOPY).
 */
TEST_F(gort, fork_child)
{
	unsigned char vec;
	int status;
	pid_t pid;

	REQUIRE_GORT();
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int r = all_ops_eperm(self->fd, self->handle);

		if (r)
			_exit(r);
		/* the parent's mapping did not follow into the child */
		if (mincore(self->sh, 1, &vec) == 0 || errno != ENOMEM)
			_exit(30);
		/* the child's own group works */
		if (gort_open() < 0)
			_exit(31);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("operation %d did not fail with EPERM",
		       WEXITSTATUS(status));
	EXPECT_NOT_WOKEN();
	/* the parent's group is unharmed */
	EXPECT_EQ(0, gort_wake(self->fd, self->handle));
	EXPECT_EQ(0, gort_wait(self->fd, 1000 * MS));
}

/* The unrelated process: receive the fd, try everything. */
static int receiver_main(int argc, char **argv)
{
	char cbuf[CMSG_SPACE(sizeof(int))], dummy;
	struct iovec iov = { &dummy, 1 };
	struct msghdr msg = { 0 };
	struct cmsghdr *cmsg;
	int sock, fd;

	if (argc < 4)
		return 40;
	sock = atoi(argv[2]);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof(cbuf);
	if (recvmsg(sock, &msg, 0) != 1)
		return 41;
	cmsg = CMSG_FIRSTHDR(&msg);
	if (!cmsg || cmsg->cmsg_type != SCM_RIGHTS)
		return 42;
	memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
	return all_ops_eperm(fd, (__u32)strtoul(argv[3], NULL, 0));
}

/* 2. An unrelated process given the fd over a unix socket: EPERM. */
TEST_F(gort, scm_rights)
{
	char cbuf[CMSG_SPACE(sizeof(int))], sockstr[16], hstr[16];
	struct iovec iov = { "x", 1 };
	struct msghdr msg = { 0 };
	struct cmsghdr *cmsg;
	int sv[2], status;
	pid_t pid;

	REQUIRE_GORT();
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		close(sv[0]);
		snprintf(sockstr, sizeof(sockstr), "%d", sv[1]);
		snprintf(hstr, sizeof(hstr), "%u", self->handle);
		/* a fresh image: nothing of the parent but the socket */
		execl("/proc/self/exe", "gort_security_test", RECEIVER_FLAG,
		      sockstr, hstr, (char *)NULL);
		_exit(43);
	}
	close(sv[1]);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof(cbuf);
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cmsg), &self->fd, sizeof(int));
	ASSERT_EQ(1, sendmsg(sv[0], &msg, 0));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	close(sv[0]);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("receiver: operation/step %d", WEXITSTATUS(status));
	EXPECT_NOT_WOKEN();
	EXPECT_EQ(GORT_SLOT_RUNNING,
		  self->sh->slots[GORT_HANDLE_INDEX(self->handle)].state);
}

/* 3. The fork child's exit (it closes the inherited fd) closes nothing. */
TEST_F(gort, fork_child_close)
{
	int status;
	pid_t pid;

	REQUIRE_GORT();
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		close(self->fd);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, gort_wake(self->fd, self->handle));
	EXPECT_EQ(0, gort_wait(self->fd, 1000 * MS));
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], RECEIVER_FLAG))
		return receiver_main(argc, argv);
	return test_harness_run(argc, argv);
}
