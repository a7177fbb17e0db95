// SPDX-License-Identifier: GPL-2.0
/*
 * gort_dev_test - selftests of /dev/gort itself: the device node,
 * GORT_IOC_VERSION and its feature bits, argument checking and the rule
 * that a group is usable only from the address space that opened it.
 * The workers' operations are tested by gort_worker_test,
 * gort_security_test, gort_lifetime_test and gort_fuzz_test.
 *
 * Every test skips when /dev/gort does not exist.
 *
 * The binary doubles as the receiver of an fd passed over a unix socket:
 * "gort_dev_test --gort-fd-receiver SOCKFD" (see fd_receiver_main()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <linux/gort.h>

/* the 6.1 harness has an unused parameter; -Wextra -Werror would trip */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"
#pragma GCC diagnostic pop

/* Expected ABI version, typed like the field it is compared with. */
#define ABI_VERSION		((__u32)GORT_ABI_VERSION)

#define GORT_ABSENT_MSG \
	"/dev/gort absent: load gort.ko (make load) or run in the VM (make check)"

#define RECEIVER_FLAG		"--gort-fd-receiver"

/* Feature bits the module implements: all of ABI 1. */
#define EXPECTED_FEATURES	(GORT_FEAT_VERSION | GORT_FEAT_REGISTER | \
				 GORT_FEAT_WAIT | GORT_FEAT_WAKE | \
				 GORT_FEAT_SWITCH | GORT_FEAT_BLOCK_NOTIFY | \
				 GORT_FEAT_TRACEPOINTS)

/* Every feature bit the ABI defines. */
#define ALL_KNOWN_FEATURES	(GORT_FEAT_VERSION | GORT_FEAT_REGISTER | \
				 GORT_FEAT_WAIT | GORT_FEAT_WAKE | \
				 GORT_FEAT_SWITCH | GORT_FEAT_BLOCK_NOTIFY | \
				 GORT_FEAT_TRACEPOINTS)

#define DEBUGFS_GROUPS		"/sys/kernel/debug/gort/groups"

/* Exit codes of forked or exec'd helpers (0 = every check passed). */
enum {
	CHILD_OK = 0,
	CHILD_INHERITED_NOT_EPERM = 10,
	CHILD_OWN_OPEN_FAILED,
	CHILD_OWN_VERSION_FAILED,
	CHILD_OWN_VERSION_WRONG,
	CHILD_RECV_FAILED,
	CHILD_RECEIVED_NOT_EPERM,
	CHILD_BAD_ARGS,
	CHILD_EXEC_FAILED,
};

static int ioc_version(int fd, struct gort_version *ver)
{
	return ioctl(fd, GORT_IOC_VERSION, ver);
}

/* Open /dev/gort in a child and check VERSION works there. */
static int child_own_open_check(void)
{
	struct gort_version ver;
	int fd;

	fd = open(GORT_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return CHILD_OWN_OPEN_FAILED;
	memset(&ver, 0, sizeof(ver));
	if (ioc_version(fd, &ver))
		return CHILD_OWN_VERSION_FAILED;
	if (ver.abi_version != GORT_ABI_VERSION ||
	    ver.features != EXPECTED_FEATURES)
		return CHILD_OWN_VERSION_WRONG;
	close(fd);
	return CHILD_OK;
}

static const char *child_status_str(int status)
{
	static char buf[64];

	if (WIFSIGNALED(status)) {
		snprintf(buf, sizeof(buf), "killed by signal %d",
			 WTERMSIG(status));
		return buf;
	}
	switch (WEXITSTATUS(status)) {
	case CHILD_OK: return "ok";
	case CHILD_INHERITED_NOT_EPERM: return "ioctl on inherited fd was not EPERM";
	case CHILD_OWN_OPEN_FAILED: return "child could not open its own /dev/gort";
	case CHILD_OWN_VERSION_FAILED: return "VERSION on the child's own fd failed";
	case CHILD_OWN_VERSION_WRONG: return "VERSION on the child's own fd returned wrong data";
	case CHILD_RECV_FAILED: return "receiving the fd over the socket failed";
	case CHILD_RECEIVED_NOT_EPERM: return "ioctl on received fd was not EPERM";
	case CHILD_BAD_ARGS: return "receiver started with bad arguments";
	case CHILD_EXEC_FAILED: return "execve(/proc/self/exe) failed";
	}
	snprintf(buf, sizeof(buf), "exit status %d", WEXITSTATUS(status));
	return buf;
}

/* Read the module's live group count from debugfs, -1 if unavailable. */
static long debugfs_groups(void)
{
	char buf[32];
	ssize_t n;
	int fd;

	fd = open(DEBUGFS_GROUPS, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

FIXTURE(gort) {
	int fd;
	bool absent;
};

FIXTURE_SETUP(gort)
{
	struct stat st;

	self->fd = -1;
	self->absent = false;
	/* the body skips: older harnesses (6.1) run it after a setup SKIP */
	if (stat(GORT_DEVICE_PATH, &st) && errno == ENOENT) {
		self->absent = true;
		return;
	}
	self->fd = open(GORT_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd) {
		TH_LOG("open(%s): %s", GORT_DEVICE_PATH, strerror(errno));
	}
}

FIXTURE_TEARDOWN(gort)
{
	if (self->fd >= 0)
		close(self->fd);
}

/* Every test body starts with this. */
#define REQUIRE_GORT() do {				\
	if (self->absent)				\
		SKIP(return, GORT_ABSENT_MSG);		\
} while (0)

/* 1. The device is a character device of mode 0666 and opens. */
TEST_F(gort, open_dev)
{
	struct stat st;
	int fd;

	REQUIRE_GORT();

	ASSERT_EQ(0, stat(GORT_DEVICE_PATH, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(0666U, st.st_mode & 07777) {
		TH_LOG("%s has mode %04o", GORT_DEVICE_PATH,
		       (unsigned int)(st.st_mode & 07777));
	}

	/* open(2) for reading only is enough: nothing is read or written */
	fd = open(GORT_DEVICE_PATH, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, close(fd));
}

/* 2. VERSION reports the ABI version and exactly the implemented features. */
TEST_F(gort, version)
{
	struct gort_version ver;
	unsigned int i;

	REQUIRE_GORT();

	memset(&ver, 0, sizeof(ver));
	ASSERT_EQ(0, ioc_version(self->fd, &ver)) {
		TH_LOG("GORT_IOC_VERSION: %s", strerror(errno));
	}
	EXPECT_EQ(ABI_VERSION, ver.abi_version);
	EXPECT_EQ(EXPECTED_FEATURES, ver.features) {
		TH_LOG("features 0x%llx, expected 0x%llx",
		       (unsigned long long)ver.features,
		       (unsigned long long)EXPECTED_FEATURES);
	}
	EXPECT_EQ(GORT_FEAT_VERSION, ver.features & GORT_FEAT_VERSION);
	EXPECT_EQ(0ULL, ver.features & ~ALL_KNOWN_FEATURES);
	EXPECT_EQ(0U, ver.reserved0);
	for (i = 0; i < ARRAY_SIZE(ver.reserved); i++)
		EXPECT_EQ(0ULL, ver.reserved[i]);

	/* out fields are ignored on input and overwritten */
	memset(&ver, 0, sizeof(ver));
	ver.abi_version = 0xdeadbeef;
	ver.features = ~0ULL;
	ASSERT_EQ(0, ioc_version(self->fd, &ver));
	EXPECT_EQ(ABI_VERSION, ver.abi_version);
	EXPECT_EQ(EXPECTED_FEATURES, ver.features);

	/* the ABI struct has one size for every architecture */
	EXPECT_EQ(48UL, sizeof(struct gort_version));
	EXPECT_EQ(48UL, (unsigned long)_IOC_SIZE(GORT_IOC_VERSION));
}

/* 3. Unknown command numbers fail with ENOTTY and write nothing. */
TEST_F(gort, unknown_ioctl)
{
	static const struct {
		const char *what;
		unsigned long cmd;
	} cmds[] = {
		{ "nr 0x01", _IOWR(GORT_IOC_MAGIC, 0x01, struct gort_version) },
		{ "nr 0x1f", _IOWR(GORT_IOC_MAGIC, 0x1f, struct gort_version) },
		{ "nr 0xff", _IOWR(GORT_IOC_MAGIC, 0xff, struct gort_version) },
		{ "size 40", _IOWR(GORT_IOC_MAGIC, 0x00, char[40]) },
		{ "size 56", _IOWR(GORT_IOC_MAGIC, 0x00, char[56]) },
		{ "size 8", _IOWR(GORT_IOC_MAGIC, 0x00, __u64) },
		{ "_IOR", _IOR(GORT_IOC_MAGIC, 0x00, struct gort_version) },
		{ "_IOW", _IOW(GORT_IOC_MAGIC, 0x00, struct gort_version) },
		{ "_IO", _IO(GORT_IOC_MAGIC, 0x00) },
		{ "magic 'K'", _IOWR('K', 0x00, struct gort_version) },
		{ "magic 0xfe", _IOWR(0xfe, 0x00, struct gort_version) },
		{ "cmd 0", 0 },
	};
	struct gort_version ver, before;
	unsigned int i;

	REQUIRE_GORT();

	memset(&before, 0x00, sizeof(before));
	before.abi_version = 0x12345678;
	before.features = 0x1122334455667788ULL;

	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		ver = before;
		errno = 0;
		EXPECT_EQ(-1, ioctl(self->fd, cmds[i].cmd, &ver)) {
			TH_LOG("%s (0x%lx) succeeded", cmds[i].what,
			       cmds[i].cmd);
		}
		EXPECT_EQ(ENOTTY, errno) {
			TH_LOG("%s (0x%lx): %s", cmds[i].what, cmds[i].cmd,
			       strerror(errno));
		}
		EXPECT_EQ(0, memcmp(&ver, &before, sizeof(ver))) {
			TH_LOG("%s wrote to its argument", cmds[i].what);
		}
	}
}

/* 4. Bad user pointers fail with EFAULT. */
TEST_F(gort, bad_pointer)
{
	long page = sysconf(_SC_PAGESIZE);
	struct gort_version *ver, good;
	char *map;

	REQUIRE_GORT();
	ASSERT_LT(0, page);

	errno = 0;
	EXPECT_EQ(-1, ioctl(self->fd, GORT_IOC_VERSION, NULL));
	EXPECT_EQ(EFAULT, errno) TH_LOG("NULL: %s", strerror(errno));

	/* a kernel address */
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->fd, GORT_IOC_VERSION,
			    (void *)0xffff888000000000UL));
	EXPECT_EQ(EFAULT, errno) TH_LOG("kernel address: %s", strerror(errno));

	/* two pages: the first for the read-only case, the second unmapped */
	map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(0, munmap(map + page, page));

	/* unmapped */
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->fd, GORT_IOC_VERSION, map + page));
	EXPECT_EQ(EFAULT, errno) TH_LOG("unmapped: %s", strerror(errno));

	/* straddling the end of the mapping */
	ver = (struct gort_version *)(map + page - 24);
	memset(map, 0, page);
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->fd, GORT_IOC_VERSION, ver));
	EXPECT_EQ(EFAULT, errno) TH_LOG("straddling: %s", strerror(errno));

	/* read-only: the input is valid (all zero), the output cannot land */
	ver = (struct gort_version *)map;
	ASSERT_EQ(0, mprotect(map, page, PROT_READ));
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->fd, GORT_IOC_VERSION, ver));
	EXPECT_EQ(EFAULT, errno) TH_LOG("read-only: %s", strerror(errno));
	EXPECT_EQ(0U, ver->abi_version);

	/* no access at all */
	ASSERT_EQ(0, mprotect(map, page, PROT_NONE));
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->fd, GORT_IOC_VERSION, ver));
	EXPECT_EQ(EFAULT, errno) TH_LOG("PROT_NONE: %s", strerror(errno));

	ASSERT_EQ(0, munmap(map, page));

	/* the fd still works afterwards */
	memset(&good, 0, sizeof(good));
	EXPECT_EQ(0, ioc_version(self->fd, &good));
	EXPECT_EQ(ABI_VERSION, good.abi_version);
}

/*
 * 5. Each reserved byte set on its own fails with EINVAL and leaves the
 * whole struct untouched.
 */
TEST_F(gort, reserved_nonzero)
{
	static const struct {
		const char *name;
		size_t off, len;
	} fields[] = {
		{ "reserved0", offsetof(struct gort_version, reserved0),
		  sizeof(((struct gort_version *)0)->reserved0) },
		{ "reserved[]", offsetof(struct gort_version, reserved),
		  sizeof(((struct gort_version *)0)->reserved) },
	};
	static const unsigned char patterns[] = { 0x01, 0x80, 0xff };
	struct gort_version ver, before;
	unsigned int f, p;
	size_t b;

	REQUIRE_GORT();

	for (f = 0; f < ARRAY_SIZE(fields); f++) {
		for (b = fields[f].off; b < fields[f].off + fields[f].len; b++) {
			for (p = 0; p < sizeof(patterns); p++) {
				memset(&before, 0, sizeof(before));
				before.abi_version = 0xa5a5a5a5;
				before.features = 0x5a5a5a5a5a5a5a5aULL;
				((unsigned char *)&before)[b] = patterns[p];
				ver = before;
				errno = 0;
				EXPECT_EQ(-1, ioc_version(self->fd, &ver)) {
					TH_LOG("%s byte %zu = 0x%02x accepted",
					       fields[f].name, b - fields[f].off,
					       patterns[p]);
				}
				EXPECT_EQ(EINVAL, errno) {
					TH_LOG("%s byte %zu: %s",
					       fields[f].name, b - fields[f].off,
					       strerror(errno));
				}
				EXPECT_EQ(0, memcmp(&ver, &before, sizeof(ver))) {
					TH_LOG("%s byte %zu: struct modified",
					       fields[f].name, b - fields[f].off);
				}
			}
		}
	}

	/* whole fields, one at a time, at full width */
	for (f = 0; f < 1 + ARRAY_SIZE(before.reserved); f++) {
		memset(&before, 0, sizeof(before));
		if (f == 0)
			before.reserved0 = ~0U;
		else
			before.reserved[f - 1] = 1ULL << 63;
		ver = before;
		errno = 0;
		EXPECT_EQ(-1, ioc_version(self->fd, &ver));
		EXPECT_EQ(EINVAL, errno);
		EXPECT_EQ(0, memcmp(&ver, &before, sizeof(ver)));
	}
}

static void *thread_version(void *arg)
{
	struct gort_version ver = { 0 };
	int fd = *(int *)arg;

	if (ioc_version(fd, &ver))
		return (void *)(intptr_t)errno;
	if (ver.abi_version != GORT_ABI_VERSION)
		return (void *)(intptr_t)-1;
	return NULL;
}

/* 6a. Another thread of the opener's process shares the group. */
TEST_F(gort, same_mm_thread)
{
	pthread_t thread;
	void *res;

	REQUIRE_GORT();

	ASSERT_EQ(0, pthread_create(&thread, NULL, thread_version, &self->fd));
	ASSERT_EQ(0, pthread_join(thread, &res));
	EXPECT_EQ(NULL, res) {
		TH_LOG("VERSION from a second thread: %s",
		       strerror((int)(intptr_t)res));
	}
}

/*
 * 6b. After fork() the child's ioctl on the inherited fd fails with EPERM;
 * the child can open its own /dev/gort; the parent's group is unharmed.
 */
TEST_F(gort, fork_inherited_fd)
{
	struct gort_version ver = { 0 };
	int status;
	pid_t pid;

	REQUIRE_GORT();

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct gort_version cver = { 0 };

		errno = 0;
		if (ioc_version(self->fd, &cver) != -1 || errno != EPERM)
			_exit(CHILD_INHERITED_NOT_EPERM);
		if (cver.abi_version != 0)
			_exit(CHILD_INHERITED_NOT_EPERM);
		/* dropping the child's reference must not end the group */
		close(self->fd);
		_exit(child_own_open_check());
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == CHILD_OK) {
		TH_LOG("child: %s", child_status_str(status));
	}

	ASSERT_EQ(0, ioc_version(self->fd, &ver)) {
		TH_LOG("parent after fork: %s", strerror(errno));
	}
	EXPECT_EQ(ABI_VERSION, ver.abi_version);
}

static int send_fd(int sock, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	char byte = 'g';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = u.buf,
		.msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *cmsg;

	memset(&u, 0, sizeof(u));
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = u.buf,
		.msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *cmsg;
	int fd;

	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	cmsg = CMSG_FIRSTHDR(&msg);
	if (!cmsg || cmsg->cmsg_level != SOL_SOCKET ||
	    cmsg->cmsg_type != SCM_RIGHTS ||
	    cmsg->cmsg_len != CMSG_LEN(sizeof(int)))
		return -1;
	memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
	return fd;
}

/*
 * Receiver side of 6c, run after execve("/proc/self/exe"): a fresh mm that
 * shares nothing with the sender.
 */
static int fd_receiver_main(const char *sockarg)
{
	struct gort_version ver = { 0 };
	char *end;
	long sock;
	int fd;

	errno = 0;
	sock = strtol(sockarg, &end, 10);
	if (errno || *end || sock < 0 || sock > 1024)
		return CHILD_BAD_ARGS;
	fd = recv_fd((int)sock);
	if (fd < 0)
		return CHILD_RECV_FAILED;
	errno = 0;
	if (ioc_version(fd, &ver) != -1 || errno != EPERM)
		return CHILD_RECEIVED_NOT_EPERM;
	if (ver.abi_version != 0)
		return CHILD_RECEIVED_NOT_EPERM;
	close(fd);
	return child_own_open_check();
}

/* 6c. An fd passed over a unix socket to another process is useless there. */
TEST_F(gort, scm_rights_fd)
{
	struct gort_version ver = { 0 };
	char sockarg[16];
	int sv[2], status;
	pid_t pid;

	REQUIRE_GORT();

	/* sv[0] stays in the parent, sv[1] survives the child's execve */
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	ASSERT_EQ(0, fcntl(sv[0], F_SETFD, FD_CLOEXEC));

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char *argv[] = { "gort_dev_test", RECEIVER_FLAG, sockarg, NULL };
		char *envp[] = { NULL };

		snprintf(sockarg, sizeof(sockarg), "%d", sv[1]);
		execve("/proc/self/exe", argv, envp);
		_exit(CHILD_EXEC_FAILED);
	}
	close(sv[1]);
	EXPECT_EQ(0, send_fd(sv[0], self->fd)) {
		TH_LOG("sendmsg(SCM_RIGHTS): %s", strerror(errno));
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	close(sv[0]);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == CHILD_OK) {
		TH_LOG("receiver: %s", child_status_str(status));
	}

	ASSERT_EQ(0, ioc_version(self->fd, &ver));
	EXPECT_EQ(ABI_VERSION, ver.abi_version);
}

/* 7. Many open/close cycles work and leave no group behind. */
TEST_F(gort, open_close_many)
{
	const int rounds = 10000;
	long groups_before, groups_open = -1, groups_after;
	int first = -1, i;

	REQUIRE_GORT();

	groups_before = debugfs_groups();

	for (i = 0; i < rounds; i++) {
		struct gort_version ver = { 0 };
		int fd;

		fd = open(GORT_DEVICE_PATH, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, fd) {
			TH_LOG("open #%d: %s", i, strerror(errno));
		}
		if (i == 0)
			first = fd;
		/* closed fds are reused: the number never grows */
		ASSERT_EQ(first, fd);
		ASSERT_EQ(0, ioc_version(fd, &ver)) {
			TH_LOG("VERSION #%d: %s", i, strerror(errno));
		}
		ASSERT_EQ(ABI_VERSION, ver.abi_version);
		if (i == rounds / 2)
			groups_open = debugfs_groups();
		ASSERT_EQ(0, close(fd));
	}

	groups_after = debugfs_groups();
	if (groups_before < 0) {
		TH_LOG("%s unreadable: group count not checked",
		       DEBUGFS_GROUPS);
		return;
	}
	EXPECT_EQ(groups_before + 1, groups_open);
	EXPECT_EQ(groups_before, groups_after);
}

/* A main() that also serves as the receiver of test 6c. */
#define main gort_harness_main
TEST_HARNESS_MAIN
#undef main

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], RECEIVER_FLAG))
		return argc == 3 ? fd_receiver_main(argv[2]) : CHILD_BAD_ARGS;
	return gort_harness_main(argc, argv);
}
