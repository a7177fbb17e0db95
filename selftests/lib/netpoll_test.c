// SPDX-License-Identifier: MIT
/*
 * The netpoller: gort_fd_wait on pipes and socket pairs (readiness, edge
 * tokens, several waiters), deadlines (the call's, sticky ones, changed
 * while waiting), gort_fd_close/forget waking waiters, foreign threads,
 * errors, and the scheduler's side: a wait parks the goroutine (no CPU
 * burnt), the idle worker blocked in epoll wakes at once for I/O and for a
 * timer, and a ring of goroutines over 1000 socket pairs passes every byte.
 * The network API on top has its own test (net_test).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gort.h>

#include "gort_test.h"
#include "kselftest_harness.h"

#define MS GORT_MILLISECOND
#define SLACK ((GORT_TEST_SANITIZED ? 100 : 5) * MS * gort_test_slow())

static void nonblocking_pipe(int fds[2])
{
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
		abort();
}

static int64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int count_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

static int cmp_int64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/*
 * Wakeup latencies over several rounds: the median must be small (a poller
 * that is not woken leaves it to sysmon's 10 ms poll, a median near 5 ms),
 * every round merely bounded (a loaded machine delays single rounds).
 */
#define ROUNDS 10
#define MEDIAN_SLACK ((GORT_TEST_SANITIZED ? 20 : 1) * 2500 * GORT_MICROSECOND * gort_test_slow())
#define ROUND_SLACK (50 * MS * gort_test_slow())

static void check_latencies(int64_t *late, const char *what, int line)
{
	qsort(late, ROUNDS, sizeof(*late), cmp_int64);
	if (late[ROUNDS / 2] > MEDIAN_SLACK || late[ROUNDS - 1] > ROUND_SLACK)
		tg_fail(__FILE__, line, "%s: median %lld us, max %lld us", what,
			(long long)(late[ROUNDS / 2] / 1000), (long long)(late[ROUNDS - 1] / 1000));
}

/* ---- readiness ---- */

struct writer_arg {
	int fd;
	int64_t delay;
	int64_t wrote_at;
};

static void delayed_write(void *arg)
{
	struct writer_arg *wa = arg;

	gort_sleep(wa->delay);
	/* Atomic: the kernel orders it before the read wakeup, TSan cannot see that. */
	T_STORE(&wa->wrote_at, gort_now());
	TG_CHECK_EQ(1, write(wa->fd, "x", 1));
}

static int read_wait_main(int argc, char **argv)
{
	int fds[2];
	char c;
	struct writer_arg wa;
	int64_t t0;

	(void)argc;
	(void)argv;
	nonblocking_pipe(fds);
	TG_CHECK_EQ(-1, read(fds[0], &c, 1));
	TG_CHECK_EQ(EAGAIN, errno);
	wa = (struct writer_arg){ .fd = fds[1], .delay = 30 * MS };
	/* Before the spawn: the other proc may start the writer (and its
	 * 30 ms) before this goroutine's next instruction. */
	t0 = gort_now();
	gort_go(delayed_write, &wa);
	TG_CHECK_EQ(GORT_FD_READ, gort_fd_wait(fds[0], GORT_FD_READ, GORT_FOREVER));
	TG_CHECK(gort_now() - t0 >= 30 * MS);
	TG_CHECK(gort_now() - T_LOAD(&wa.wrote_at) < SLACK);
	TG_CHECK_EQ(1, read(fds[0], &c, 1));
	TG_CHECK_EQ('x', c);
	/* The write end of a pipe with room is ready at once. */
	TG_CHECK_EQ(GORT_FD_WRITE, gort_fd_wait(fds[1], GORT_FD_WRITE, GORT_FOREVER));
	TG_CHECK_EQ(0, gort_fd_close(fds[0]));
	TG_CHECK_EQ(0, gort_fd_close(fds[1]));
	return 0;
}

TEST(wait_parks_until_the_descriptor_is_ready)
{
	ASSERT_EQ(0, gort_main(read_wait_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

/* An edge nobody waited for is kept as a token: the next wait returns at
 * once, and the one after that waits again. */
static int token_main(int argc, char **argv)
{
	int fds[2];
	char c;

	(void)argc;
	(void)argv;
	nonblocking_pipe(fds);
	TG_CHECK_EQ(GORT_ETIMEDOUT, gort_fd_wait(fds[0], GORT_FD_READ, gort_now() + MS));
	TG_CHECK_EQ(1, write(fds[1], "y", 1));
	gort_sleep(5 * MS); /* some worker polls meanwhile */
	TG_CHECK_EQ(GORT_FD_READ, gort_fd_wait(fds[0], GORT_FD_READ, gort_now() + 500 * MS));
	TG_CHECK_EQ(1, read(fds[0], &c, 1));
	TG_CHECK_EQ(GORT_ETIMEDOUT, gort_fd_wait(fds[0], GORT_FD_READ, gort_now() + 20 * MS));
	gort_fd_close(fds[0]);
	gort_fd_close(fds[1]);
	return 0;
}

TEST(an_unseen_edge_is_kept_for_the_next_wait)
{
	ASSERT_EQ(0, gort_main(token_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

#define MANY_WAITERS 8
static int mw_fd, mw_woken;

static void mw_waiter(void *arg)
{
	TG_CHECK_EQ(GORT_FD_READ, gort_fd_wait(mw_fd, GORT_FD_READ, gort_now() + 5 * GORT_SECOND));
	T_INC(&mw_woken);
	gort_wg_done(arg);
}

static int many_waiters_main(int argc, char **argv)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	int fds[2];

	(void)argc;
	(void)argv;
	nonblocking_pipe(fds);
	mw_fd = fds[0];
	gort_wg_add(&wg, MANY_WAITERS);
	for (int i = 0; i < MANY_WAITERS; i++)
		gort_go(mw_waiter, &wg);
	gort_sleep(20 * MS);
	TG_CHECK_EQ(0, T_LOAD(&mw_woken));
	TG_CHECK_EQ(1, write(fds[1], "z", 1));
	gort_wg_wait(&wg);
	TG_CHECK_EQ(MANY_WAITERS, T_LOAD(&mw_woken));
	gort_fd_close(fds[0]);
	gort_fd_close(fds[1]);
	return 0;
}

TEST(an_edge_wakes_every_waiter_of_its_direction)
{
	ASSERT_EQ(0, gort_main(many_waiters_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

/* ---- deadlines ---- */

static int deadline_main(int argc, char **argv)
{
	int fds[2];

	(void)argc;
	(void)argv;
	nonblocking_pipe(fds);
	for (int i = 0; i < 5; i++) {
		int64_t when = gort_now() + 20 * MS, late;

		TG_CHECK_EQ(GORT_ETIMEDOUT, gort_fd_wait(fds[0], GORT_FD_READ, when));
		late = gort_now() - when;
		TG_CHECK(late >= 0);
		if (late > SLACK)
			tg_fail(__FILE__, __LINE__, "deadline fired %lld us late",
				(long long)(late / 1000));
	}
	/* A deadline in the past fails at once, even before registration. */
	TG_CHECK_EQ(GORT_ETIMEDOUT, gort_fd_wait(fds[1], GORT_FD_READ, gort_now() - 1));
	/* The sticky one bounds waits with a later (or no) deadline. */
	TG_CHECK_EQ(0, gort_fd_set_deadline(fds[0], GORT_FD_READ, gort_now() + 10 * MS));
	TG_CHECK_EQ(GORT_ETIMEDOUT, gort_fd_wait(fds[0], GORT_FD_READ, GORT_FOREVER));
	TG_CHECK_EQ(GORT_ETIMEDOUT, gort_fd_wait(fds[0], GORT_FD_READ, GORT_FOREVER));
	/* Only for its direction; and cleared with GORT_FOREVER. */
	TG_CHECK_EQ(GORT_FD_WRITE, gort_fd_wait(fds[1], GORT_FD_WRITE, GORT_FOREVER));
	TG_CHECK_EQ(0, gort_fd_set_deadline(fds[0], GORT_FD_READ, GORT_FOREVER));
	TG_CHECK_EQ(GORT_ETIMEDOUT, gort_fd_wait(fds[0], GORT_FD_READ, gort_now() + 5 * MS));
	gort_fd_close(fds[0]);
	gort_fd_close(fds[1]);
	return 0;
}

TEST(deadlines_fire_on_time)
{
	ASSERT_EQ(0, gort_main(deadline_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

static int sd_fd, sd_result = 1;

static void sd_waiter(void *arg)
{
	T_STORE(&sd_result, gort_fd_wait(sd_fd, GORT_FD_READ, GORT_FOREVER));
	gort_wg_done(arg);
}

/* SetReadDeadline while a read is blocked: an extension keeps it waiting
 * (and it then fires at the new time), a past deadline wakes it at once. */
static int deadline_change_main(int argc, char **argv)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	int fds[2];
	int64_t t0;

	(void)argc;
	(void)argv;
	nonblocking_pipe(fds);
	sd_fd = fds[0];
	TG_CHECK_EQ(0, gort_fd_set_deadline(sd_fd, GORT_FD_READ, gort_now() + 30 * MS));
	gort_wg_add(&wg, 1);
	gort_go(sd_waiter, &wg);
	gort_sleep(10 * MS);
	t0 = gort_now();
	TG_CHECK_EQ(0, gort_fd_set_deadline(sd_fd, GORT_FD_READ | GORT_FD_WRITE, t0 + 60 * MS));
	gort_sleep(40 * MS);
	TG_CHECK_EQ(1, T_LOAD(&sd_result)); /* still waiting past the first deadline */
	gort_wg_wait(&wg);
	TG_CHECK_EQ(GORT_ETIMEDOUT, T_LOAD(&sd_result));
	TG_CHECK(gort_now() - t0 >= 60 * MS);

	T_STORE(&sd_result, 1);
	TG_CHECK_EQ(0, gort_fd_set_deadline(sd_fd, GORT_FD_READ, GORT_FOREVER));
	gort_wg_add(&wg, 1);
	gort_go(sd_waiter, &wg);
	gort_sleep(10 * MS);
	TG_CHECK_EQ(1, T_LOAD(&sd_result));
	t0 = gort_now();
	TG_CHECK_EQ(0, gort_fd_set_deadline(sd_fd, GORT_FD_READ, t0 - 1));
	gort_wg_wait(&wg);
	TG_CHECK_EQ(GORT_ETIMEDOUT, T_LOAD(&sd_result));
	TG_CHECK(gort_now() - t0 < SLACK);
	gort_fd_close(fds[0]);
	gort_fd_close(fds[1]);
	return 0;
}

TEST(a_deadline_change_reaches_a_blocked_wait)
{
	ASSERT_EQ(0, gort_main(deadline_change_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

/* ---- close ---- */

static int close_main(int argc, char **argv)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	int fds[2], fds_before = count_fds(), r;
	int64_t t0;

	(void)argc;
	(void)argv;
	nonblocking_pipe(fds);
	sd_fd = fds[0];
	gort_wg_add(&wg, 1);
	gort_go(sd_waiter, &wg);
	gort_sleep(10 * MS);
	t0 = gort_now();
	TG_CHECK_EQ(0, gort_fd_close(fds[0]));
	gort_wg_wait(&wg);
	TG_CHECK_EQ(GORT_ECLOSED, T_LOAD(&sd_result));
	TG_CHECK(gort_now() - t0 < SLACK);
	/* The number is closed now (nothing reused it: this is the only
	 * goroutine opening descriptors). */
	TG_CHECK_EQ(-1, fcntl(fds[0], F_GETFD));
	TG_CHECK_EQ(GORT_ECLOSED, gort_fd_wait(fds[0], GORT_FD_READ, GORT_FOREVER));
	/* forget wakes too, and leaves the descriptor open. */
	T_STORE(&sd_result, 1);
	sd_fd = fds[1];
	TG_CHECK_EQ(0, gort_fd_set_deadline(fds[1], GORT_FD_WRITE, gort_now() + 10 * GORT_SECOND));
	r = gort_fd_wait(fds[1], GORT_FD_WRITE, GORT_FOREVER);
	TG_CHECK(r == GORT_FD_WRITE || r == -EPIPE);
	TG_CHECK_EQ(0, gort_fd_forget(fds[1]));
	TG_CHECK(fcntl(fds[1], F_GETFD) >= 0);
	TG_CHECK_EQ(0, close(fds[1]));
	/* Bad input loses nothing. */
	TG_CHECK_EQ(GORT_EINVAL, gort_fd_close(-1));
	TG_CHECK_EQ(GORT_EINVAL, gort_fd_forget(-3));
	TG_CHECK_EQ(-EBADF, gort_fd_close(fds[0]));
	TG_CHECK_EQ(fds_before + 0, count_fds() - 2); /* + epoll + eventfd, made once */
	return 0;
}

TEST(close_wakes_waiters_with_eclosed)
{
	ASSERT_EQ(0, gort_main(close_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

/* ---- errors ---- */

static int errors_main(int argc, char **argv)
{
	char path[] = "/tmp/gort-netpoll-XXXXXX";
	int fd = mkstemp(path), fds[2];

	(void)argc;
	(void)argv;
	TG_CHECK(fd >= 0);
	unlink(path);
	TG_CHECK_EQ(GORT_EPERM, gort_fd_wait(fd, GORT_FD_READ, GORT_FOREVER));
	TG_CHECK(strstr(gort_errmsg(), "regular file") != NULL);
	close(fd);
	nonblocking_pipe(fds);
	TG_CHECK_EQ(GORT_EINVAL, gort_fd_wait(-1, GORT_FD_READ, GORT_FOREVER));
	TG_CHECK_EQ(GORT_EINVAL, gort_fd_wait(fds[0], 0, GORT_FOREVER));
	TG_CHECK_EQ(GORT_EINVAL, gort_fd_wait(fds[0], GORT_FD_READ | GORT_FD_WRITE, GORT_FOREVER));
	TG_CHECK_EQ(GORT_EINVAL, gort_fd_wait(1 << 30, GORT_FD_READ, GORT_FOREVER));
	TG_CHECK_EQ(GORT_EINVAL, gort_fd_set_deadline(fds[0], 4, GORT_FOREVER));
	TG_CHECK_EQ(GORT_EINVAL, gort_fd_set_deadline(-1, GORT_FD_READ, GORT_FOREVER));
	/* A number that is not open. */
	TG_CHECK_EQ(-EBADF, gort_fd_wait(4000, GORT_FD_READ, GORT_FOREVER));
	gort_fd_close(fds[0]);
	gort_fd_close(fds[1]);
	return 0;
}

TEST(bad_arguments_get_clear_errors)
{
	ASSERT_EQ(0, gort_main(errors_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

/* ---- foreign threads ---- */

static void *foreign_waiter(void *arg)
{
	int *fds = arg;
	char c;

	TG_CHECK_EQ(GORT_FD_READ, gort_fd_wait(fds[0], GORT_FD_READ, GORT_FOREVER));
	TG_CHECK_EQ(1, read(fds[0], &c, 1));
	TG_CHECK_EQ(GORT_ETIMEDOUT, gort_fd_wait(fds[0], GORT_FD_READ, gort_now() + 10 * MS));
	return NULL;
}

static void foreign_writer(void *arg)
{
	int *fds = arg;

	gort_sleep(20 * MS);
	TG_CHECK_EQ(1, write(fds[1], "f", 1));
}

TEST(a_foreign_thread_waits_too)
{
	int fds[2];
	pthread_t t;

	nonblocking_pipe(fds);
	ASSERT_EQ(0, pthread_create(&t, NULL, foreign_waiter, fds));
	ASSERT_LT(0, gort_go(foreign_writer, fds));
	ASSERT_EQ(0, pthread_join(t, NULL));
	ASSERT_NO_TG_FAILURES();
	gort_fd_close(fds[0]);
	gort_fd_close(fds[1]);
}

/* ---- the scheduler's side ---- */

static int64_t idle_wrote_at;
static int idle_delay_us;

static void *idle_writer(void *arg)
{
	int *fds = arg;

	usleep((useconds_t)idle_delay_us);
	T_STORE(&idle_wrote_at, gort_now());
	if (write(fds[1], "i", 1) != 1)
		abort();
	return NULL;
}

/*
 * The only goroutine waits; every worker is idle. The blocked poller must
 * wake it as soon as the byte arrives (sysmon's 10 ms poll would be late),
 * and the wait must cost no CPU.
 */
static int idle_main(int argc, char **argv)
{
	int fds[2];
	pthread_t t;
	int64_t cpu0, cpu, late[ROUNDS];

	(void)argc;
	(void)argv;
	nonblocking_pipe(fds);
	for (int round = 0; round < ROUNDS; round++) {
		char c;

		/* Delays out of step with sysmon's 10 ms, which would otherwise
		 * poll just after each write and hide a missing poller. */
		idle_delay_us = 20000 + round * 4300;
		TG_CHECK_EQ(0, pthread_create(&t, NULL, idle_writer, fds));
		cpu0 = cpu_ns();
		TG_CHECK_EQ(GORT_FD_READ, gort_fd_wait(fds[0], GORT_FD_READ, GORT_FOREVER));
		late[round] = gort_now() - T_LOAD(&idle_wrote_at);
		cpu = cpu_ns() - cpu0;
		pthread_join(t, NULL);
		TG_CHECK_EQ(1, read(fds[0], &c, 1));
		/* 20-60 ms of waiting: the worker threads sleep in the kernel. */
		if (cpu > 10 * MS * (GORT_TEST_SANITIZED ? 5 : 1))
			tg_fail(__FILE__, __LINE__, "the wait used %lld us of CPU",
				(long long)(cpu / 1000));
	}
	check_latencies(late, "woken after the write", __LINE__);
	gort_fd_close(fds[0]);
	gort_fd_close(fds[1]);
	return 0;
}

TEST(an_idle_runtime_blocks_in_epoll_and_wakes_at_once)
{
	ASSERT_EQ(0, gort_main(idle_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

static void forever_reader(void *arg)
{
	int *fds = arg;

	TG_CHECK_EQ(GORT_ECLOSED, gort_fd_wait(fds[0], GORT_FD_READ, GORT_FOREVER));
}

/* A worker blocked in epoll for a reader that never gets data must still
 * run the timers on time. */
static int timer_while_polling_main(int argc, char **argv)
{
	int fds[2];

	(void)argc;
	(void)argv;
	nonblocking_pipe(fds);
	gort_go(forever_reader, fds);
	gort_sleep(10 * MS);
	for (int i = 0; i < 10; i++) {
		int64_t t0 = gort_now(), late;

		gort_sleep(3 * MS);
		late = gort_now() - t0 - 3 * MS;
		if (late > SLACK)
			tg_fail(__FILE__, __LINE__, "sleep(3 ms) %lld us late",
				(long long)(late / 1000));
	}
	gort_fd_close(fds[0]);
	gort_fd_close(fds[1]);
	gort_sleep(10 * MS);
	return 0;
}

TEST(timers_fire_while_a_worker_polls)
{
	ASSERT_EQ(0, gort_main(timer_while_polling_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

static int64_t af_fired_at;

static void af_fire(void *arg)
{
	(void)arg;
	T_STORE(&af_fired_at, gort_now());
}

/*
 * The poller sleeps in epoll with no timeout while the other proc runs a
 * goroutine that queues a timer and keeps its CPU: the timer's wakeup must
 * interrupt the poll (netpoll_break), or the timer waits for sysmon.
 */
static int timer_break_main(int argc, char **argv)
{
	int fds[2];
	int64_t late[ROUNDS];

	(void)argc;
	(void)argv;
	nonblocking_pipe(fds);
	gort_go(forever_reader, fds);
	for (int i = 0; i < ROUNDS; i++) {
		int64_t when, end;

		gort_sleep(2 * MS + i * 730 * GORT_MICROSECOND);
		T_STORE(&af_fired_at, 0);
		when = gort_now() + 3 * MS;
		TG_CHECK(gort_after_func(3 * MS, af_fire, NULL) != NULL);
		end = when + 15 * MS;
		while (gort_now() < end && !T_LOAD(&af_fired_at))
			; /* no runtime call: this proc's worker runs no timers */
		late[i] = (T_LOAD(&af_fired_at) ? T_LOAD(&af_fired_at) : end) - when;
	}
	check_latencies(late, "timer late", __LINE__);
	gort_fd_close(fds[0]);
	gort_fd_close(fds[1]);
	gort_sleep(10 * MS);
	return 0;
}

TEST(a_timer_queued_during_a_poll_interrupts_it)
{
	setenv("GORT_MAXPROCS", "2", 1);
	ASSERT_EQ(0, gort_main(timer_break_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

/*
 * A ring of N goroutines over N socket pairs: node i reads a number from
 * pair i and writes it plus one on pair i+1, for some laps. In lap r node i
 * reads exactly r*N + i: every message arrives, in order, through waits.
 */
#define RING_N 1000
#define RING_LAPS 20
static int ring_fds[RING_N][2];
static int ring_laps;

static int read_full(int fd, char *buf, int n)
{
	int got = 0;

	while (got < n) {
		ssize_t r = read(fd, buf + got, (size_t)(n - got));

		if (r > 0) {
			got += (int)r;
		} else if (r < 0 && errno == EAGAIN) {
			int w = gort_fd_wait(fd, GORT_FD_READ, gort_now() + 20 * GORT_SECOND);

			if (w < 0)
				return w;
		} else {
			return -1;
		}
	}
	return got;
}

static void ring_node(void *arg)
{
	int i = (int)(intptr_t)arg % RING_N;
	char buf[16];

	for (int r = 0; r < ring_laps; r++) {
		int n = read_full(ring_fds[i][1], buf, 8);

		buf[8] = 0;
		if (n != 8 || atoi(buf) != r * RING_N + i) {
			tg_fail(__FILE__, __LINE__, "node %d lap %d: read %d bytes, \"%s\"", i, r,
				n, buf);
			break;
		}
		snprintf(buf, sizeof(buf), "%08d", atoi(buf) + 1);
		if (write(ring_fds[(i + 1) % RING_N][0], buf, 8) != 8) {
			tg_fail(__FILE__, __LINE__, "node %d: write: %s", i, strerror(errno));
			break;
		}
	}
}

static gort_waitgroup ring_wg = GORT_WAITGROUP_INIT;

static void ring_node_wg(void *arg)
{
	ring_node(arg);
	gort_wg_done(&ring_wg);
}

static int ring_main(int argc, char **argv)
{
	char buf[16];
	int fds_before = count_fds();

	(void)argc;
	(void)argv;
	ring_laps = GORT_TEST_SCALE(RING_LAPS) + 1;
	for (int i = 0; i < RING_N; i++)
		TG_CHECK_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
					  ring_fds[i]));
	gort_wg_add(&ring_wg, RING_N);
	for (int i = 0; i < RING_N; i++)
		gort_go(ring_node_wg, (void *)(intptr_t)i);
	TG_CHECK_EQ(8, write(ring_fds[0][0], "00000000", 8));
	gort_wg_wait(&ring_wg);
	TG_CHECK_EQ(8, read_full(ring_fds[0][1], buf, 8));
	buf[8] = 0;
	TG_CHECK_EQ(ring_laps * RING_N, atoi(buf));
	for (int i = 0; i < RING_N; i++) {
		TG_CHECK_EQ(0, gort_fd_close(ring_fds[i][0]));
		TG_CHECK_EQ(0, gort_fd_close(ring_fds[i][1]));
	}
	TG_CHECK(count_fds() <= fds_before + 2);
	return 0;
}

TEST(a_ring_of_1000_goroutines_passes_every_message)
{
	struct rlimit rl;

	ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &rl));
	if (rl.rlim_cur < 2 * RING_N + 64) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < 2 * RING_N + 64)
			SKIP(return, "RLIMIT_NOFILE hard limit %lu is too low",
				   (unsigned long)rl.rlim_max);
	}
	ASSERT_EQ(0, gort_main(ring_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

TEST_HARNESS_MAIN
