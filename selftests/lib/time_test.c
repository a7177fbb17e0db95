// SPDX-License-Identifier: MIT
/*
 * Time: gort_sleep, timers (channel and func), stop/reset guarantees and
 * races, After, tickers, many sleepers, timers from foreign threads and on
 * idle procs. Each TEST runs in a fresh child; timing bounds are loose (a
 * noisy 2-CPU machine): they catch lost or very late timers, while the
 * `timers` benchmark measures precision.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

#define MS GORT_MILLISECOND
#define SLACK ((GORT_TEST_SANITIZED ? 100 : 20) * MS * gort_test_slow())

static int sleep_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	for (int k = 1; k <= 5; k++) {
		int64_t t0 = gort_now(), d;

		gort_sleep(k * MS);
		d = gort_now() - t0;
		TG_CHECK(d >= k * MS);
		if (d > k * MS + SLACK)
			tg_fail(__FILE__, __LINE__, "sleep(%d ms) took %lld us", k,
				(long long)(d / 1000));
	}
	TG_CHECK_EQ(0, gort_sleep(0));
	TG_CHECK_EQ(0, gort_sleep(-5));
	return 0;
}

TEST(sleep_sleeps_at_least_its_duration)
{
	ASSERT_EQ(0, gort_main(sleep_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

/* 10,000 goroutines sleep 1..5 ms twenty times each on 2 procs. */
struct sleepers {
	gort_waitgroup wg;
	int64_t worst, early;
};

static void sleeper(void *arg)
{
	struct sleepers *s = arg;
	uint64_t x = (uint64_t)gort_id() * 0x9E3779B97F4A7C15ULL;

	for (int k = 0; k < 20; k++) {
		int64_t d, t0, over;

		x ^= x >> 29;
		x *= 0xBF58476D1CE4E5B9ULL;
		d = (int64_t)(1000 + x % 4001) * GORT_MICROSECOND;
		t0 = gort_now();
		gort_sleep(d);
		over = gort_now() - t0 - d;
		if (over < 0)
			T_INC(&s->early);
		for (int64_t w = T_LOAD(&s->worst); over > w;) {
			if (__atomic_compare_exchange_n(&s->worst, &w, over, false,
							__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
				break;
		}
	}
	gort_wg_done(&s->wg);
}

static int sleepers_main(int argc, char **argv)
{
	struct sleepers s = { 0 };
	int n = GORT_TEST_SCALE(10000);

	(void)argc;
	(void)argv;
	gort_wg_add(&s.wg, n);
	for (int i = 0; i < n; i++)
		gort_go(sleeper, &s);
	gort_wg_wait(&s.wg);
	TG_CHECK_EQ(0, s.early);
	/* Only a gross bound: the machine may be shared; all woke, none early. */
	if (s.worst > 500 * MS)
		tg_fail(__FILE__, __LINE__, "worst oversleep %lld us", (long long)(s.worst / 1000));
	return 0;
}

TEST_F_TIMEOUT(slow, ten_thousand_sleepers_all_wake_and_never_early, 60)
{
	setenv("GORT_MAXPROCS", "2", 1);
	ASSERT_EQ(0, gort_main(sleepers_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

static int timer_main(int argc, char **argv)
{
	int64_t t0 = gort_now(), fired = 0;
	gort_timer *t = gort_timer_new(2 * MS);

	(void)argc;
	(void)argv;
	TG_CHECK(t != NULL);
	TG_CHECK(gort_chan_recv(gort_timer_chan(t), &fired));
	TG_CHECK(fired >= t0 + 2 * MS);
	TG_CHECK(gort_now() - t0 >= 2 * MS);
	/* Fired and received: stop reports it was not pending. */
	TG_CHECK(!gort_timer_stop(t));
	/* Stop before it fires: true, and nothing ever arrives. */
	TG_CHECK(!gort_timer_reset(t, GORT_SECOND));
	TG_CHECK(gort_timer_stop(t));
	gort_sleep(2 * MS);
	TG_CHECK_EQ(GORT_EAGAIN, gort_chan_try_recv(gort_timer_chan(t), &fired));
	/* Fired but not received: stop drains the value (Go 1.23) and says so. */
	gort_timer_reset(t, 1 * MS);
	while (gort_chan_len(gort_timer_chan(t)) == 0)
		gort_sleep(MS);
	TG_CHECK(gort_timer_stop(t));
	TG_CHECK_EQ(GORT_EAGAIN, gort_chan_try_recv(gort_timer_chan(t), &fired));
	/* Reset after an unreceived firing: only the new firing is seen. */
	gort_timer_reset(t, 1 * MS);
	while (gort_chan_len(gort_timer_chan(t)) == 0)
		gort_sleep(MS);
	t0 = gort_now();
	TG_CHECK(gort_timer_reset(t, 3 * MS));
	TG_CHECK(gort_chan_recv(gort_timer_chan(t), &fired));
	TG_CHECK(fired >= t0 + 3 * MS);
	gort_timer_free(t);
	gort_timer_free(NULL);
	return 0;
}

TEST(timer_fires_and_stop_reset_leave_no_stale_value)
{
	ASSERT_EQ(0, gort_main(timer_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

/* Stop and Reset racing with firings: after Reset(long) returns, no value
 * may arrive soon; after Stop returns, none at all. */
struct race {
	gort_waitgroup wg;
	int stale;
};

static void race_worker(void *arg)
{
	struct race *r = arg;
	gort_timer *t = gort_timer_new(0);
	int64_t v;

	for (int i = 0; i < GORT_TEST_SCALE(2000); i++) {
		/* Due about now: the firing races with the reset. */
		gort_timer_reset(t, (i % 3) * GORT_MICROSECOND);
		if (i & 1)
			gort_yield();
		gort_timer_reset(t, 10 * GORT_SECOND);
		if (gort_chan_try_recv(gort_timer_chan(t), &v) != GORT_EAGAIN)
			T_INC(&r->stale);
		gort_timer_stop(t);
		if (gort_chan_try_recv(gort_timer_chan(t), &v) != GORT_EAGAIN)
			T_INC(&r->stale);
	}
	gort_timer_free(t);
	gort_wg_done(&r->wg);
}

static int race_main(int argc, char **argv)
{
	struct race r = { 0 };

	(void)argc;
	(void)argv;
	gort_wg_add(&r.wg, 8);
	for (int i = 0; i < 8; i++)
		gort_go(race_worker, &r);
	gort_wg_wait(&r.wg);
	TG_CHECK_EQ(0, r.stale);
	return 0;
}

TEST(timer_stop_and_reset_race_with_firing)
{
	setenv("GORT_MAXPROCS", "2", 1);
	ASSERT_EQ(0, gort_main(race_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

struct afunc {
	int64_t goid;
	int runs;
	gort_waitgroup wg;
};

static void afunc_fn(void *arg)
{
	struct afunc *a = arg;

	T_STORE(&a->goid, gort_id());
	T_INC(&a->runs);
	gort_wg_done(&a->wg);
}

static int after_func_main(int argc, char **argv)
{
	struct afunc a = { 0 };
	gort_timer *t, *u;
	int64_t v = 0, t0 = gort_now();
	gort_chan *ch;

	(void)argc;
	(void)argv;
	gort_wg_add(&a.wg, 1);
	t = gort_after_func(2 * MS, afunc_fn, &a);
	TG_CHECK(t != NULL);
	TG_CHECK(gort_timer_chan(t) == NULL);
	gort_wg_wait(&a.wg);
	TG_CHECK(gort_now() - t0 >= 2 * MS);
	TG_CHECK(a.goid > 1); /* its own goroutine */
	TG_CHECK(!gort_timer_stop(t));
	/* Stopped in time: never runs. */
	u = gort_after_func(5 * MS, afunc_fn, &a);
	TG_CHECK(gort_timer_stop(u));
	gort_sleep(10 * MS);
	TG_CHECK_EQ(1, T_LOAD(&a.runs));
	gort_timer_free(u);
	gort_timer_free(t);
	TG_CHECK(gort_after_func(1, NULL, NULL) == NULL);

	/* After: a channel the caller may drop before it fires. */
	t0 = gort_now();
	ch = gort_after(2 * MS);
	TG_CHECK(gort_chan_recv(ch, &v));
	TG_CHECK(v >= t0 + 2 * MS);
	gort_chan_free(ch);
	gort_chan_free(gort_after(MS));
	gort_sleep(3 * MS);
	return 0;
}

TEST(after_func_runs_in_its_own_goroutine_and_after_delivers)
{
	ASSERT_EQ(0, gort_main(after_func_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

static int ticker_main(int argc, char **argv)
{
	int64_t t0 = gort_now(), prev = 0, v;
	gort_ticker *tk = gort_ticker_new(2 * MS);

	(void)argc;
	(void)argv;
	TG_CHECK(tk != NULL);
	/* Tick k is due at start + k * period (a late tick does not shift the
	 * next); the value is the time it was sent. */
	for (int i = 1; i <= 5; i++) {
		TG_CHECK(gort_chan_recv(gort_ticker_chan(tk), &v));
		TG_CHECK(v > prev);
		TG_CHECK(v >= t0 + i * 2 * MS);
		prev = v;
	}
	/* A slow receiver: ticks are dropped, at most one is buffered. */
	gort_sleep(10 * MS);
	TG_CHECK_EQ(1, gort_chan_len(gort_ticker_chan(tk)));
	gort_ticker_stop(tk);
	TG_CHECK_EQ(0, gort_chan_len(gort_ticker_chan(tk)));
	gort_sleep(5 * MS);
	TG_CHECK_EQ(GORT_EAGAIN, gort_chan_try_recv(gort_ticker_chan(tk), &v));
	TG_CHECK_EQ(GORT_EINVAL, gort_ticker_reset(tk, 0));
	TG_CHECK_EQ(0, gort_ticker_reset(tk, 1 * MS));
	TG_CHECK(gort_chan_recv(gort_ticker_chan(tk), &v));
	gort_ticker_free(tk);
	TG_CHECK(gort_ticker_new(0) == NULL);
	return 0;
}

TEST(ticker_ticks_drops_for_slow_receivers_and_stops)
{
	ASSERT_EQ(0, gort_main(ticker_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

/* A timer made from a foreign thread while every proc is idle still fires
 * on time: some idle worker must wake for it. */
TEST(timer_from_foreign_thread_fires_while_runtime_idle)
{
	gort_timer *t;
	int64_t v, t0;

	ASSERT_EQ(0, gort_init());
	usleep(20000); /* let every worker go idle */
	for (int i = 0; i < 5; i++) {
		t0 = gort_now();
		t = gort_timer_new(3 * MS);
		ASSERT_NE(NULL, t);
		ASSERT_TRUE(gort_chan_recv(gort_timer_chan(t), &v));
		EXPECT_GE(v, t0 + 3 * MS);
		EXPECT_LT(gort_now() - t0, 3 * MS + SLACK);
		gort_timer_free(t);
	}
	/* gort_sleep from a foreign thread sleeps the thread. */
	t0 = gort_now();
	gort_sleep(2 * MS);
	EXPECT_GE(gort_now() - t0, 2 * MS);
}

/* A timer fires although its proc's worker then runs a long computation that
 * makes no runtime call, and the other proc is busy too (sysmon's net). */
struct busy {
	int stop;
	gort_timer *t;
};

static void busy_loop(void *arg)
{
	struct busy *b = arg;

	while (!T_LOAD(&b->stop))
		;
}

static void busy_timer_owner(void *arg)
{
	struct busy *b = arg;

	T_STORE(&b->t, gort_timer_new(2 * MS));
	busy_loop(b);
}

TEST(timer_fires_while_both_procs_are_busy)
{
	struct busy b = { 0 };
	int64_t t0 = gort_now(), v = 0;

	setenv("GORT_MAXPROCS", "2", 1);
	ASSERT_GT(gort_go(busy_timer_owner, &b), 0);
	ASSERT_GT(gort_go(busy_loop, &b), 0);
	ASSERT_TRUE(TEST_WAIT_UNTIL(T_LOAD(&b.t) != NULL, 2000));
	EXPECT_TRUE(gort_chan_recv(gort_timer_chan(T_LOAD(&b.t)), &v));
	T_STORE(&b.stop, 1);
	EXPECT_GE(v, t0 + 2 * MS);
	/* sysmon sleeps up to 10 ms and runs the timers of a proc that has
	 * not scheduled since its last look, 1 ms overdue: two looks. */
	EXPECT_LT(v - t0, 2 * MS + 21 * MS + SLACK);
}

/*
 * The timer sleeper (the idle worker sleeping until the earliest timer) can
 * be handed a proc by a spawn; an earlier timer queued before it wakes must
 * not find it still named the sleeper (timers_wake would take it off the
 * idle list a second time). A foreign thread alternates the three steps.
 */
static void nop(void *arg)
{
	gort_wg_done(arg);
}

TEST(earlier_timer_after_the_timer_sleeper_was_handed_a_proc)
{
	int rounds = (GORT_TEST_SANITIZED ? 3000 : 20000) / gort_test_slow();
	gort_waitgroup wg = GORT_WAITGROUP_INIT;

	ASSERT_EQ(0, gort_init());
	for (int i = 0; i < rounds; i++) {
		gort_timer *late = gort_timer_new(50 * MS), *early;

		ASSERT_NE(NULL, late);
		if (i % 4)
			usleep(i % 50);
		gort_wg_add(&wg, 1);
		ASSERT_GT(gort_go(nop, &wg), 0);
		early = gort_timer_new(1 * MS);
		ASSERT_NE(NULL, early);
		gort_timer_free(early);
		gort_timer_free(late);
		if (i % 64 == 63)
			gort_wg_wait(&wg);
	}
	gort_wg_wait(&wg);
}

/*
 * Timers that come due while their proc's run queue is nearly full wait in
 * the timer heap (due-time order) instead of overflowing the queue into the
 * global one, where each would wait up to 61 schedules. On one proc, 1000
 * goroutines sleep until 1 us apart; the main goroutine computes (no runtime
 * call) until all are due, then waits for them: none may go through the
 * global queue, and the earliest due runs among the first few (with the
 * overflow it ran 3rd to 51st).
 *
 * Only while no timer is 10 ms overdue: past that a timer runs regardless
 * (timer.c), and sysmon runs those of a proc whose worker started nothing
 * between two of its looks (10 ms apart), or of an idle proc, 1 ms overdue.
 * A worker descheduled that long (a loaded host, TCG, a sanitizer's slower
 * runs: main then wakes late from its own sleep, or a sleeper 9 ms late)
 * makes the attempt tell nothing; such attempts are repeated, and if none
 * tells, the test skips.
 */
#define EDF_N 1000
#define EDF_LATE_MAX (9 * MS)

struct edf {
	int64_t base;
	int asleep, woken;
	int64_t max_late; /* the latest wakeup, ns past its due time */
	int rank[EDF_N];
	gort_waitgroup wg;
};

struct edf_arg {
	struct edf *e;
	int i;
};

static void edf_sleeper(void *arg)
{
	struct edf_arg *a = arg;
	struct edf *e = a->e;
	int64_t due = e->base + a->i * 1000LL, d = due - gort_now(), late;

	TG_CHECK(d > 0); /* base is far enough ahead */
	T_INC(&e->asleep);
	gort_sleep(d);
	late = gort_now() - due;
	e->rank[a->i] = T_INC(&e->woken) - 1;
	for (int64_t m = T_LOAD(&e->max_late); late > m;)
		if (__atomic_compare_exchange_n(&e->max_late, &m, late, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			break;
	gort_wg_done(&e->wg);
}

static int64_t edf_global;   /* goroutines through the global queue */
static int edf_first;	     /* when the earliest due ran (0: first) */
static int64_t edf_max_late; /* ns */
static bool edf_main_late;   /* main woke when the first was due already */

static int edf_main(int argc, char **argv)
{
	static struct edf_arg args[EDF_N];
	static struct edf e;
	struct gort_stats before, after;

	(void)argc;
	(void)argv;
	memset(&e, 0, sizeof(e));
	e.base = gort_now() + 50 * MS * gort_test_scale_div();
	gort_wg_add(&e.wg, EDF_N);
	for (int i = 0; i < EDF_N; i++) {
		args[i] = (struct edf_arg){ &e, i };
		TG_CHECK(gort_go(edf_sleeper, &args[i]) > 0);
	}
	gort_sleep(e.base - MS - gort_now());
	edf_main_late = gort_now() >= e.base;
	TG_CHECK_EQ(EDF_N, T_LOAD(&e.asleep));
	TG_CHECK_EQ(0, gort_stats(&before));
	/* test_now_ns, not gort_now: no runtime call, so no timer runs. */
	while (test_now_ns() < e.base + EDF_N * 1000LL + MS)
		;
	gort_wg_wait(&e.wg);
	TG_CHECK_EQ(0, gort_stats(&after));
	edf_global = after.global_runq_gets - before.global_runq_gets;
	edf_first = e.rank[0];
	edf_max_late = T_LOAD(&e.max_late);
	return 0;
}

TEST(due_timers_wait_for_room_in_the_run_queue)
{
	/* Under a sanitizer or TCG the 1000 take longer than that to run
	 * anyway: try twice there, for the races the run may show. */
	int attempts = gort_test_scale_div() == 1 ? 5 : 2, attempt;

	setenv("GORT_MAXPROCS", "1", 1);
	for (attempt = 1; attempt <= attempts; attempt++) {
		ASSERT_EQ(0, gort_main(edf_main, 0, NULL));
		ASSERT_NO_TG_FAILURES();
		TH_LOG("attempt %d: %lld goroutines through the global queue, the earliest due "
		       "ran %d-th, the latest wakeup %lld us late%s",
		       attempt, (long long)edf_global, edf_first + 1,
		       (long long)(edf_max_late / 1000),
		       edf_main_late ? ", main woke after the first was due" : "");
		if (edf_max_late < EDF_LATE_MAX && !edf_main_late)
			break;
	}
	if (attempt > attempts)
		SKIP(return, "a wakeup was late in every attempt (a slow or descheduled worker)");
	EXPECT_EQ(0, edf_global);
	EXPECT_LT(edf_first, 16);
}

TEST_HARNESS_MAIN
