// SPDX-License-Identifier: MIT
/*
 * Channels and select, after the intent of Go's own channel tests: the prime
 * sieve, close semantics, select fairness, default, deadlines and nil
 * cases, rendezvous ordering, many-to-many stress, and foreign threads.
 *
 * Every TEST runs in a fresh child process. Test logic runs in goroutines
 * started with gort_main(); goroutines record failures with TG_CHECK and the
 * test body asserts ASSERT_NO_TG_FAILURES().
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gort.h>

#include "gort_test.h"
#include "kselftest_harness.h"

/* A fixture only for TEST_F_TIMEOUT (the 6.1 harness has no TEST_TIMEOUT). */
FIXTURE(slow)
{
	int unused;
};

FIXTURE_SETUP(slow)
{
	self->unused = 0;
}

FIXTURE_TEARDOWN(slow)
{
}

GORT_CHAN_TYPE(int_chan, int);
GORT_CHAN_TYPE(i64_chan, int64_t);

/* ---- the concurrent prime sieve (Go's test/chan/sieve1.go) ---- */

struct sieve_filter {
	int_chan in, out;
	int prime;
};

static void sieve_generate(void *arg)
{
	int_chan ch = *(int_chan *)arg;

	free(arg);
	for (int i = 2;; i++)
		if (gort_send(ch, i) != 0)
			return; /* closed by the main goroutine: stop */
}

static void sieve_filter(void *arg)
{
	struct sieve_filter *f = arg;
	int v;

	while (gort_recv(f->in, &v)) {
		if (v % f->prime != 0 && gort_send(f->out, v) != 0)
			break;
	}
	gort_close(f->out);
}

static int is_prime(int n)
{
	for (int d = 2; d * d <= n; d++)
		if (n % d == 0)
			return 0;
	return n >= 2;
}

static int sieve_main(int argc, char **argv)
{
	int n = GORT_TEST_SCALE(1000) < 100 ? 100 : GORT_TEST_SCALE(1000);
	int_chan first = gort_make(int_chan, 0), ch = first;
	int_chan *arg = malloc(sizeof(*arg));
	int expect = 1;
	struct sieve_filter *filters = calloc((size_t)n, sizeof(*filters));

	(void)argc;
	(void)argv;
	*arg = ch;
	gort_go(sieve_generate, arg);
	for (int i = 0; i < n; i++) {
		int prime;

		TG_CHECK(gort_recv(ch, &prime));
		do
			expect++;
		while (!is_prime(expect));
		TG_CHECK_EQ(expect, prime);
		filters[i].in = ch;
		filters[i].out = gort_make(int_chan, 0);
		filters[i].prime = prime;
		gort_go(sieve_filter, &filters[i]);
		ch = filters[i].out;
	}
	/* Tear down: closing the generator's channel makes it stop; each
	 * filter closes its output when its input is closed. */
	gort_close(first);
	{
		int v;

		while (gort_recv(ch, &v))
			;
	}
	return expect;
}

TEST(prime_sieve_first_1000_primes)
{
	int n = GORT_TEST_SCALE(1000) < 100 ? 100 : GORT_TEST_SCALE(1000);
	int p = 1;

	for (int i = 0; i < n; i++)
		do
			p++;
		while (!is_prime(p));
	ASSERT_EQ(p, gort_main(sieve_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

/* ---- close semantics ---- */

static int close_main(int argc, char **argv)
{
	int_chan c = gort_make(int_chan, 3);
	int v = -1;

	(void)argc;
	(void)argv;
	TG_CHECK_EQ(3, gort_cap(c));
	TG_CHECK_EQ(0, gort_send(c, 1));
	TG_CHECK_EQ(0, gort_send(c, 2));
	TG_CHECK_EQ(2, gort_len(c));
	TG_CHECK_EQ(0, gort_close(c));
	TG_CHECK_EQ(GORT_ECLOSED, gort_close(c));
	TG_CHECK_EQ(GORT_ECLOSED, gort_send(c, 3));
	TG_CHECK_EQ(GORT_ECLOSED, gort_try_send(c, 3));
	/* Buffered values first, then ok = false with a zeroed element. */
	TG_CHECK(gort_recv(c, &v));
	TG_CHECK_EQ(1, v);
	TG_CHECK_EQ(1, gort_try_recv(c, &v));
	TG_CHECK_EQ(2, v);
	v = 77;
	TG_CHECK(!gort_recv(c, &v));
	TG_CHECK_EQ(0, v);
	TG_CHECK_EQ(0, gort_try_recv(c, &v));
	TG_CHECK(!gort_recv(c, NULL));
	TG_CHECK_EQ(GORT_EINVAL, gort_chan_close(NULL));
	gort_free(c);
	return 0;
}

TEST(close_drains_buffer_then_reports_closed_and_rejects_sends)
{
	ASSERT_EQ(0, gort_main(close_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

struct close_wake {
	int_chan c;
	gort_waitgroup wg;
	int recv_false, send_closed;
};

static void close_wake_receiver(void *arg)
{
	struct close_wake *cw = arg;
	int v = 5;

	if (!gort_recv(cw->c, &v) && v == 0)
		T_INC(&cw->recv_false);
	gort_wg_done(&cw->wg);
}

static void close_wake_sender(void *arg)
{
	struct close_wake *cw = arg;

	if (gort_send(cw->c, 1) == GORT_ECLOSED)
		T_INC(&cw->send_closed);
	gort_wg_done(&cw->wg);
}

static int close_wake_main(int argc, char **argv)
{
	struct close_wake r = { .c = gort_make(int_chan, 0) };
	struct close_wake s = { .c = gort_make(int_chan, 0) };

	(void)argc;
	(void)argv;
	gort_wg_add(&r.wg, 10);
	gort_wg_add(&s.wg, 10);
	for (int i = 0; i < 10; i++) {
		gort_go(close_wake_receiver, &r);
		gort_go(close_wake_sender, &s);
	}
	/* Most block by now; any that start later find the channels closed,
	 * which must give the same results. */
	gort_sleep(2 * GORT_MILLISECOND);
	gort_close(r.c);
	gort_close(s.c);
	gort_wg_wait(&r.wg);
	gort_wg_wait(&s.wg);
	TG_CHECK_EQ(10, r.recv_false);
	TG_CHECK_EQ(10, s.send_closed);
	gort_free(r.c);
	gort_free(s.c);
	return 0;
}

TEST(close_wakes_every_blocked_receiver_and_sender)
{
	ASSERT_EQ(0, gort_main(close_wake_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

static void closed_send_child(void)
{
	gort_chan *c = gort_chan_make(0, 0);

	gort_chan_close(c);
	gort_chan_send(c, NULL);
	_exit(0); /* not reached with panicclosed=1 */
}

TEST(panicclosed_aborts_on_send_to_closed_channel)
{
	int fds[2], status;
	char buf[256] = "";
	pid_t pid;

	ASSERT_EQ(0, pipe(fds));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		dup2(fds[1], 2);
		setenv("GORTDEBUG", "panicclosed=1", 1);
		gort_init();
		closed_send_child();
	}
	close(fds[1]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_GT(read(fds[0], buf, sizeof(buf) - 1), 0);
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
	EXPECT_NE(NULL, strstr(buf, "send on closed channel")) TH_LOG("stderr: %s", buf);
}

/* ---- unbuffered rendezvous ---- */

struct rendezvous {
	int_chan c;
	int log[8];
	int nlog;
	gort_waitgroup wg;
};

static void rv_log(struct rendezvous *r, int ev)
{
	int i = T_ADD(&r->nlog, 1) - 1;

	if (i < 8)
		r->log[i] = ev;
}

static void rv_sender(void *arg)
{
	struct rendezvous *r = arg;

	rv_log(r, 1); /* before send */
	gort_send(r->c, 42);
	rv_log(r, 3); /* after send: the receiver has the value */
	gort_wg_done(&r->wg);
}

static int rendezvous_main(int argc, char **argv)
{
	struct rendezvous r = { .c = gort_make(int_chan, 0) };
	int v = 0;

	(void)argc;
	(void)argv;
	gort_wg_add(&r.wg, 1);
	gort_go(rv_sender, &r);
	/* Once the sender has started (which under emulation can take more
	 * than a millisecond), it stays blocked: nobody receives. */
	for (int i = 0; i < 10000 && T_LOAD(&r.nlog) == 0; i++)
		gort_sleep(GORT_MILLISECOND);
	gort_sleep(GORT_MILLISECOND);
	TG_CHECK_EQ(1, T_LOAD(&r.nlog));
	TG_CHECK(gort_recv(r.c, &v));
	rv_log(&r, 2);
	TG_CHECK_EQ(42, v);
	gort_wg_wait(&r.wg);
	TG_CHECK_EQ(3, r.nlog);
	/* Event 1 first; 2 and 3 follow in either order (both sides resume). */
	TG_CHECK_EQ(1, r.log[0]);
	TG_CHECK_EQ(GORT_EAGAIN, gort_try_send(r.c, 1));
	TG_CHECK_EQ(GORT_EAGAIN, gort_try_recv(r.c, &v));
	gort_free(r.c);
	return 0;
}

TEST(unbuffered_send_blocks_until_received)
{
	ASSERT_EQ(0, gort_main(rendezvous_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

/* Ping-pong over two unbuffered channels keeps strict alternation. */
struct pingpong {
	int_chan ping, pong;
	int n;
	gort_waitgroup exited; /* pp lives on the main goroutine's stack */
};

static void pong_main(void *arg)
{
	struct pingpong *pp = arg;
	int v;

	while (gort_recv(pp->ping, &v))
		gort_send(pp->pong, v + 1);
	gort_wg_done(&pp->exited);
}

static int pingpong_main(int argc, char **argv)
{
	struct pingpong pp = { .ping = gort_make(int_chan, 0),
			       .pong = gort_make(int_chan, 0),
			       .n = GORT_TEST_SCALE(200000) };
	int v = 0;

	(void)argc;
	(void)argv;
	gort_wg_add(&pp.exited, 1);
	gort_go(pong_main, &pp);
	for (int i = 0; i < pp.n; i++) {
		int w;

		gort_send(pp.ping, v);
		gort_recv(pp.pong, &w);
		TG_CHECK_EQ(v + 1, w);
		v = w;
	}
	gort_close(pp.ping);
	gort_wg_wait(&pp.exited);
	return v;
}

TEST(pingpong_alternates_on_two_procs)
{
	setenv("GORT_MAXPROCS", "2", 1);
	ASSERT_EQ(GORT_TEST_SCALE(200000), gort_main(pingpong_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

/* ---- many-to-many stress ---- */

#define MM_PRODUCERS 8
#define MM_CONSUMERS 8

struct mm {
	i64_chan c;
	int64_t per;
	uint8_t *seen;
	int dup;
	gort_waitgroup prod, cons;
	int next_id;
};

static void mm_producer(void *arg)
{
	struct mm *m = arg;
	int64_t base = (T_ADD(&m->next_id, 1) - 1) * m->per;

	for (int64_t i = 0; i < m->per; i++)
		gort_send(m->c, base + i);
	gort_wg_done(&m->prod);
}

static void mm_consumer(void *arg)
{
	struct mm *m = arg;
	int64_t v;

	while (gort_recv(m->c, &v)) {
		if (__atomic_exchange_n(&m->seen[v], 1, __ATOMIC_RELAXED))
			T_INC(&m->dup);
	}
	gort_wg_done(&m->cons);
}

static void mm_closer(void *arg)
{
	struct mm *m = arg;

	gort_wg_wait(&m->prod);
	gort_close(m->c);
}

static int many_to_many(size_t cap)
{
	struct mm m = { .c = gort_make(i64_chan, cap), .per = GORT_TEST_SCALE(400000) / 8 };
	int64_t total = m.per * MM_PRODUCERS, missing = 0;

	m.seen = calloc((size_t)total, 1);
	gort_wg_add(&m.prod, MM_PRODUCERS);
	gort_wg_add(&m.cons, MM_CONSUMERS);
	for (int i = 0; i < MM_CONSUMERS; i++)
		gort_go(mm_consumer, &m);
	for (int i = 0; i < MM_PRODUCERS; i++)
		gort_go(mm_producer, &m);
	gort_go(mm_closer, &m);
	gort_wg_wait(&m.cons);
	for (int64_t i = 0; i < total; i++)
		missing += !m.seen[i];
	TG_CHECK_EQ(0, missing);
	TG_CHECK_EQ(0, m.dup);
	free(m.seen);
	gort_free(m.c);
	return 0;
}

static int mm_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	/* Unbuffered (locked), and rings of 1 (a special case: 2 slots), 3
	 * (not a power of two) and 64. */
	many_to_many(0);
	many_to_many(1);
	many_to_many(3);
	many_to_many(64);
	return 0;
}

TEST_F_TIMEOUT(slow, many_to_many_every_item_received_exactly_once, 60)
{
	setenv("GORT_MAXPROCS", "2", 1);
	ASSERT_EQ(0, gort_main(mm_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

/* Close racing with sends and receives: every send that returned 0 is
 * received exactly once, every later send fails, receivers end with ok =
 * false only once the ring is drained. */
struct close_race {
	i64_chan c;
	int64_t sent, received, dup, nextid;
	int some_received; /* a consumer got a value: the close races sends */
	uint8_t *seen;
	gort_waitgroup wg;
};

#define CR_PER (1 << 20)

static void cr_producer(void *arg)
{
	struct close_race *r = arg;
	int64_t base = (T_ADD(&r->nextid, 1) - 1) * CR_PER, n = 0;

	while (n < CR_PER && gort_send(r->c, base + n) == 0)
		n++;
	T_ADD(&r->sent, n);
	gort_wg_done(&r->wg);
}

static void cr_consumer(void *arg)
{
	struct close_race *r = arg;
	int64_t v, n = 0;

	while (gort_recv(r->c, &v)) {
		if (__atomic_exchange_n(&r->seen[v], 1, __ATOMIC_RELAXED))
			T_INC(&r->dup);
		if (n++ == 0)
			T_STORE(&r->some_received, 1);
	}
	T_ADD(&r->received, n);
	gort_wg_done(&r->wg);
}

static int close_race_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	for (int round = 0; round < 20; round++) {
		size_t caps[] = { 1, 2, 16 };
		struct close_race r = { .c = gort_make(i64_chan, caps[round % 3]) };

		r.seen = calloc(4 * CR_PER, 1);
		gort_wg_add(&r.wg, 8);
		for (int i = 0; i < 4; i++) {
			gort_go(cr_producer, &r);
			gort_go(cr_consumer, &r);
		}
		/* Under emulation (the VM) the goroutines may not have run yet
		 * after a few milliseconds: close once values flow. */
		gort_sleep((1 + round % 3) * GORT_MILLISECOND);
		for (int i = 0; i < 10000 && !T_LOAD(&r.some_received); i++)
			gort_sleep(GORT_MILLISECOND);
		gort_close(r.c);
		gort_wg_wait(&r.wg);
		TG_CHECK_EQ(r.sent, r.received);
		TG_CHECK_EQ(0, r.dup);
		TG_CHECK(r.sent > 0);
		free(r.seen);
		gort_free(r.c);
	}
	return 0;
}

TEST_F_TIMEOUT(slow, close_racing_with_sends_loses_nothing, 60)
{
	setenv("GORT_MAXPROCS", "2", 1);
	ASSERT_EQ(0, gort_main(close_race_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

/* Consumers select over two buffered channels and an unbuffered one fed
 * by producers: every item arrives once (select's re-try path). */
struct sel_mix {
	i64_chan c[3];
	int64_t per;
	uint8_t *seen;
	int64_t dup, got;
	gort_waitgroup prod, cons;
	int nextid;
	int done;
};

static void sm_producer(void *arg)
{
	struct sel_mix *m = arg;
	int id = T_ADD(&m->nextid, 1) - 1;
	i64_chan c = m->c[id % 3];

	for (int64_t i = 0; i < m->per; i++)
		gort_send(c, id * m->per + i);
	gort_wg_done(&m->prod);
}

static void sm_consumer(void *arg)
{
	struct sel_mix *m = arg;
	int64_t v;
	int open = 3;
	struct gort_select_case cs[3];

	for (int i = 0; i < 3; i++)
		cs[i] = gort_case_recv(m->c[i], &v);
	while (open > 0) {
		int r = gort_select(cs, 3, GORT_FOREVER);

		if (r < 0)
			break;
		if (!cs[r].ok) {
			cs[r].chan = NULL; /* closed: a nil case never fires */
			open--;
			continue;
		}
		if (__atomic_exchange_n(&m->seen[v], 1, __ATOMIC_RELAXED))
			T_INC(&m->dup);
		T_INC(&m->got);
	}
	gort_wg_done(&m->cons);
}

static int select_mix_main(int argc, char **argv)
{
	struct sel_mix m = { .per = GORT_TEST_SCALE(60000) };

	(void)argc;
	(void)argv;
	m.c[0] = gort_make(i64_chan, 4);
	m.c[1] = gort_make(i64_chan, 1);
	m.c[2] = gort_make(i64_chan, 0);
	m.seen = calloc((size_t)(6 * m.per), 1);
	gort_wg_add(&m.prod, 6);
	gort_wg_add(&m.cons, 3);
	for (int i = 0; i < 3; i++)
		gort_go(sm_consumer, &m);
	for (int i = 0; i < 6; i++)
		gort_go(sm_producer, &m);
	gort_wg_wait(&m.prod);
	for (int i = 0; i < 3; i++)
		gort_close(m.c[i]);
	gort_wg_wait(&m.cons);
	TG_CHECK_EQ(6 * m.per, m.got);
	TG_CHECK_EQ(0, m.dup);
	free(m.seen);
	for (int i = 0; i < 3; i++)
		gort_free(m.c[i]);
	return 0;
}

TEST_F_TIMEOUT(slow, select_over_buffered_and_unbuffered_loses_nothing, 60)
{
	setenv("GORT_MAXPROCS", "2", 1);
	ASSERT_EQ(0, gort_main(select_mix_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

/* ---- select ---- */

static int select_fair_main(int argc, char **argv)
{
	int_chan c[4];
	int counts[4] = { 0 };
	int n = GORT_TEST_SANITIZED ? 20000 : 100000;
	int v;

	(void)argc;
	(void)argv;
	/* Buffered and kept full: every case is ready at every select. */
	for (int i = 0; i < 4; i++) {
		c[i] = gort_make(int_chan, 1);
		gort_send(c[i], 1);
	}
	for (int k = 0; k < n; k++) {
		struct gort_select_case cases[4];
		int r;

		for (int i = 0; i < 4; i++)
			cases[i] = gort_case_recv(c[i], &v);
		r = gort_select(cases, 4, GORT_FOREVER);
		TG_CHECK(r >= 0 && r < 4);
		if (r < 0 || r >= 4)
			break;
		counts[r]++;
		gort_send(c[r], 1); /* refill */
	}
	for (int i = 0; i < 4; i++) {
		double share = (double)counts[i] / n;

		if (share < 0.22 || share > 0.28)
			tg_fail(__FILE__, __LINE__, "case %d chosen %.3f of the time", i, share);
	}
	return 0;
}

TEST(select_chooses_ready_cases_uniformly)
{
	ASSERT_EQ(0, gort_main(select_fair_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

static int select_default_main(int argc, char **argv)
{
	int_chan a = gort_make(int_chan, 0), b = gort_make(int_chan, 1);
	int v = 0, x = 7;
	struct gort_select_case cases[3];
	int64_t t0 = gort_now();

	(void)argc;
	(void)argv;
	for (int k = 0; k < 1000; k++) {
		cases[0] = gort_case_recv(a, &v);
		cases[1] = gort_case_send(a, &x);
		cases[2] = gort_case_recv(b, &v);
		TG_CHECK_EQ(GORT_EAGAIN, gort_select(cases, 3, GORT_SELECT_DEFAULT));
	}
	TG_CHECK(gort_now() - t0 < 500 * GORT_MILLISECOND);
	/* Now b has a value: the select takes it instead of the default. */
	gort_send(b, 9);
	cases[2] = gort_case_recv(b, &v);
	TG_CHECK_EQ(2, gort_select(cases, 3, GORT_SELECT_DEFAULT));
	TG_CHECK_EQ(9, v);
	TG_CHECK(cases[2].ok);
	/* The send case fires once the buffer has room. */
	cases[0] = gort_case_send(b, &x);
	TG_CHECK_EQ(0, gort_select(cases, 1, GORT_SELECT_DEFAULT));
	TG_CHECK_EQ(1, gort_len(b));
	/* Zero cases with default: returns at once. */
	TG_CHECK_EQ(GORT_EAGAIN, gort_select(NULL, 0, GORT_SELECT_DEFAULT));
	TG_CHECK_EQ(GORT_EINVAL, gort_select(NULL, 2, GORT_SELECT_DEFAULT));
	cases[0].dir = 9;
	TG_CHECK_EQ(GORT_EINVAL, gort_select(cases, 1, GORT_SELECT_DEFAULT));
	gort_free(a);
	gort_free(b);
	return 0;
}

TEST(select_with_default_never_blocks)
{
	ASSERT_EQ(0, gort_main(select_default_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

static int select_deadline_main(int argc, char **argv)
{
	int_chan a = gort_make(int_chan, 0);
	int v;
	int64_t worst = 0;

	(void)argc;
	(void)argv;
	for (int k = 0; k < 20; k++) {
		struct gort_select_case cs = gort_case_recv(a, &v);
		int64_t d = (1 + k % 5) * GORT_MILLISECOND, t0 = gort_now(), late;

		TG_CHECK_EQ(GORT_ETIMEDOUT, gort_select(&cs, 1, t0 + d));
		late = gort_now() - (t0 + d);
		TG_CHECK(late >= 0);
		if (late > worst)
			worst = late;
	}
	/* Loose: a noisy 2-CPU machine; the benchmark measures precisely. */
	if (worst > (GORT_TEST_SANITIZED ? 50 : 10) * GORT_MILLISECOND * gort_test_slow())
		tg_fail(__FILE__, __LINE__, "select deadline fired %lld us late",
			(long long)(worst / 1000));
	/* A past deadline polls once. */
	TG_CHECK_EQ(GORT_ETIMEDOUT, gort_select(NULL, 0, 1));
	gort_free(a);
	return 0;
}

TEST(select_with_deadline_returns_on_time_at_one_proc)
{
	setenv("GORT_MAXPROCS", "1", 1);
	ASSERT_EQ(0, gort_main(select_deadline_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

static void nil_sender(void *arg)
{
	int_chan c = *(int_chan *)arg;

	gort_sleep(GORT_MILLISECOND);
	gort_send(c, 5);
}

static int select_nil_main(int argc, char **argv)
{
	int_chan nil = { 0 }, c = gort_make(int_chan, 0);
	int v = 0, x = 1;
	struct gort_select_case cases[3];

	(void)argc;
	(void)argv;
	cases[0] = gort_case_recv(nil, &v);
	cases[1] = gort_case_send(nil, &x);
	cases[2] = gort_case_recv(c, &v);
	TG_CHECK_EQ(GORT_EAGAIN, gort_select(cases, 3, GORT_SELECT_DEFAULT));
	TG_CHECK_EQ(GORT_ETIMEDOUT, gort_select(cases, 2, gort_now() + GORT_MILLISECOND));
	gort_go(nil_sender, &c);
	TG_CHECK_EQ(2, gort_select(cases, 3, GORT_FOREVER));
	TG_CHECK_EQ(5, v);
	TG_CHECK_EQ(GORT_EAGAIN, gort_try_send(nil, 1));
	TG_CHECK_EQ(GORT_EAGAIN, gort_try_recv(nil, &v));
	gort_free(c);
	return 0;
}

TEST(select_nil_channel_cases_never_fire)
{
	ASSERT_EQ(0, gort_main(select_nil_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

/* Two goroutines select over the same pair of channels in opposite case
 * order while others feed and drain them: lock ordering keeps it live. */
struct sel_pair {
	int_chan a, b;
	int n;
	gort_waitgroup wg;
	int64_t got;
};

static void sel_pair_worker(void *arg)
{
	struct sel_pair *sp = arg;
	bool flip = T_ADD(&sp->got, 0) & 1;
	int v, x = 1;

	for (int i = 0; i < sp->n; i++) {
		struct gort_select_case cs[2];

		cs[flip] = gort_case_recv(sp->a, &v);
		cs[!flip] = gort_case_send(sp->b, &x);
		if (gort_select(cs, 2, GORT_FOREVER) == (int)flip)
			T_INC(&sp->got);
	}
	gort_wg_done(&sp->wg);
}

static void sel_pair_peer(void *arg)
{
	struct sel_pair *sp = arg;
	int v, x = 2;

	for (int i = 0; i < sp->n; i++) {
		struct gort_select_case cs[2] = { gort_case_send(sp->a, &x),
						  gort_case_recv(sp->b, &v) };

		gort_select(cs, 2, GORT_FOREVER);
	}
	gort_wg_done(&sp->wg);
}

static int select_pairs_main(int argc, char **argv)
{
	struct sel_pair sp = { .a = gort_make(int_chan, 0),
			       .b = gort_make(int_chan, 0),
			       .n = GORT_TEST_SCALE(50000) };

	(void)argc;
	(void)argv;
	gort_wg_add(&sp.wg, 4);
	gort_go(sel_pair_worker, &sp);
	gort_go(sel_pair_worker, &sp);
	gort_go(sel_pair_peer, &sp);
	gort_go(sel_pair_peer, &sp);
	gort_wg_wait(&sp.wg);
	gort_free(sp.a);
	gort_free(sp.b);
	return 0;
}

TEST(selects_over_shared_channels_do_not_deadlock)
{
	setenv("GORT_MAXPROCS", "2", 1);
	ASSERT_EQ(0, gort_main(select_pairs_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

/* A select's send case fires with ok = false on a closed channel; a receive
 * case reports closed with ok = false. */
static int select_closed_main(int argc, char **argv)
{
	int_chan c = gort_make(int_chan, 0);
	int v = 3, x = 1;
	struct gort_select_case cs;

	(void)argc;
	(void)argv;
	gort_close(c);
	cs = gort_case_recv(c, &v);
	TG_CHECK_EQ(0, gort_select(&cs, 1, GORT_FOREVER));
	TG_CHECK(!cs.ok);
	TG_CHECK_EQ(0, v);
	cs = gort_case_send(c, &x);
	cs.ok = true;
	TG_CHECK_EQ(0, gort_select(&cs, 1, GORT_FOREVER));
	TG_CHECK(!cs.ok);
	gort_free(c);
	return 0;
}

TEST(select_on_closed_channel_reports_not_ok)
{
	ASSERT_EQ(0, gort_main(select_closed_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

/* Many cases: the scratch arrays move to the heap above 16. */
static int select_many_main(int argc, char **argv)
{
	enum {
		N = 100
	};
	int_chan c[N];
	struct gort_select_case cs[N];
	int v = 0, seen[N] = { 0 };

	(void)argc;
	(void)argv;
	for (int i = 0; i < N; i++) {
		c[i] = gort_make(int_chan, 1);
		gort_send(c[i], i);
	}
	for (int k = 0; k < N; k++) {
		int r;

		for (int i = 0; i < N; i++)
			cs[i] = gort_case_recv(c[i], &v);
		r = gort_select(cs, N, GORT_SELECT_DEFAULT);
		TG_CHECK(r >= 0 && r < N);
		if (r < 0)
			break;
		TG_CHECK_EQ(r, v);
		seen[r]++;
	}
	for (int i = 0; i < N; i++) {
		TG_CHECK_EQ(1, seen[i]);
		gort_free(c[i]);
	}
	return 0;
}

TEST(select_over_100_channels)
{
	ASSERT_EQ(0, gort_main(select_many_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

/* ---- foreign threads ---- */

struct foreign {
	int_chan req, resp;
	int n;
};

static void foreign_server(void *arg)
{
	struct foreign *f = arg;
	int v;

	while (gort_recv(f->req, &v))
		gort_send(f->resp, v * 2);
	gort_close(f->resp);
}

static void *foreign_client(void *arg)
{
	struct foreign *f = arg;
	int bad = 0;

	for (int i = 0; i < f->n; i++) {
		int v = -1;
		struct gort_select_case cs;

		if (gort_send(f->req, i) != 0)
			bad++;
		/* Alternate plain receives and selects. */
		if (i & 1) {
			bad += !gort_recv(f->resp, &v);
		} else {
			cs = gort_case_recv(f->resp, &v);
			bad += gort_select(&cs, 1, GORT_FOREVER) != 0;
		}
		bad += v != 2 * i;
	}
	gort_close(f->req);
	return (void *)(intptr_t)bad;
}

TEST(foreign_thread_talks_to_goroutines_over_channels)
{
	struct foreign f = { .req = gort_make(int_chan, 0),
			     .resp = gort_make(int_chan, 0),
			     .n = GORT_TEST_SCALE(20000) };
	int_chan idle = gort_make(int_chan, 0);
	struct gort_select_case cs;
	pthread_t t;
	int64_t t0;
	void *bad;
	int v;

	ASSERT_GT(gort_go(foreign_server, &f), 0);
	ASSERT_EQ(0, pthread_create(&t, NULL, foreign_client, &f));
	ASSERT_EQ(0, pthread_join(t, &bad));
	EXPECT_EQ(0, (int)(intptr_t)bad);
	/* The server closes resp after req closed: a foreign receive sees it. */
	EXPECT_FALSE(gort_recv(f.resp, &v));

	/* A select with a deadline from a foreign thread times out. */
	cs = gort_case_recv(idle, &v);
	t0 = gort_now();
	EXPECT_EQ(GORT_ETIMEDOUT, gort_select(&cs, 1, t0 + 2 * GORT_MILLISECOND));
	EXPECT_GE(gort_now() - t0, 2 * GORT_MILLISECOND);
	gort_free(idle);
}

/* The runtime's first user is a foreign thread's select with a deadline. */
TEST(select_deadline_from_foreign_thread_before_the_runtime_starts)
{
	int_chan c = gort_make(int_chan, 0);
	struct gort_select_case cs;
	int64_t t0 = gort_now();
	int v;

	cs = gort_case_recv(c, &v);
	EXPECT_EQ(GORT_ETIMEDOUT, gort_select(&cs, 1, t0 + 2 * GORT_MILLISECOND));
	EXPECT_GE(gort_now() - t0, 2 * GORT_MILLISECOND);
	gort_free(c);
}

/* ---- bad arguments ---- */

TEST(chan_make_rejects_huge_elements_and_buffers)
{
	gort_chan *c;

	EXPECT_EQ(NULL, gort_chan_make(65537, 1));
	EXPECT_NE(NULL, strstr(gort_errmsg(), "element size"));
	EXPECT_EQ(NULL, gort_chan_make(1 << 20, 4096));
	EXPECT_EQ(NULL, gort_chan_make(8, (size_t)1 << 40));
	c = gort_chan_make(0, 5); /* a signal channel */
	ASSERT_NE(NULL, c);
	EXPECT_EQ(0, gort_chan_send(c, NULL));
	EXPECT_EQ(1, (int)gort_chan_len(c));
	EXPECT_TRUE(gort_chan_recv(c, NULL));
	EXPECT_EQ(0, (int)gort_chan_elem_size(c));
	gort_chan_free(c);
	gort_chan_free(NULL);
}

TEST_HARNESS_MAIN
