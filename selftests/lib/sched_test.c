// SPDX-License-Identifier: MIT
/*
 * The scheduler: spawning and joining, spreading and stealing, run order
 * (runnext, FIFO, round-robin yields), exits, errno, wired threads, syscall
 * regions, GOMAXPROCS, stop-the-world, gort_main and misuse.
 *
 * Every TEST runs in a fresh child process, so each starts the runtime anew
 * and may set GORT_MAXPROCS first. Goroutines never use ASSERT_* (it longjmps
 * to the test thread): they record failures with TG_CHECK and the test thread
 * asserts ASSERT_NO_TG_FAILURES(). Waits that could hang on a library bug go
 * through test_wg_wait_ms()/TEST_WAIT_UNTIL() so they fail with a message.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <gort.h>

#include "gort_test.h"
#include "kselftest_harness.h"

FIXTURE(sched)
{
	int unused;
};

FIXTURE_SETUP(sched)
{
	self->unused = 0;
}

FIXTURE_TEARDOWN(sched)
{
}

static void stats_now(struct gort_stats *st)
{
	memset(st, 0, sizeof(*st));
	gort_stats(st);
}

/* A little CPU work the compiler cannot drop. */
static void spin(int n)
{
	for (volatile int i = 0; i < n; i++)
		;
}

/* From a goroutine: fn(wg) in a new goroutine counted in wg; a failed
 * spawn is recorded (TG) and not counted. */
static bool go_counted(void (*fn)(void *), gort_waitgroup *wg)
{
	gort_wg_add(wg, 1);
	if (gort_go(fn, wg) > 0)
		return true;
	tg_fail(__FILE__, __LINE__, "spawn failed: %s", gort_errmsg());
	gort_wg_done(wg);
	return false;
}

static long max_map_count(void)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* ---------------------------------------------------------------------- */
/* 1. A million goroutines spawned from the test thread, joined by a WaitGroup. */

static int64_t t1_count;

/* TSan's fibers are the slowest: 5k there, 50k under ASan. */
#define T1_N (GORT_TEST_TSAN ? 5000 : GORT_TEST_SCALE(1000000))

static void t1_body(void *arg)
{
	T_INC(&t1_count);
	gort_wg_done(arg);
}

TEST_F_TIMEOUT(sched, spawn_join_1m_goroutines, 30)
{
	const long n = T1_N;
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	int64_t base = gort_num_goroutine(), peak = 0, t0 = test_now_ns();
	long failed = 0;
	char why[256] = "";
	struct gort_stats st;

	for (long i = 0; i < n; i++) {
		int64_t id;

		gort_wg_add(&wg, 1);
		id = gort_go(t1_body, &wg);
		if (id <= 0) {
			if (!failed++)
				snprintf(why, sizeof(why), "spawn %ld: %s (%s)", i,
					 gort_strerror((int)id), gort_errmsg());
			gort_wg_done(&wg);
		}
		if ((i & 4095) == 0) {
			int64_t live = gort_num_goroutine();

			if (live > peak)
				peak = live;
		}
	}
	ASSERT_EQ(0, failed) TH_LOG("%ld spawns failed, first: %s", failed, why);
	ASSERT_TRUE(test_wg_wait_ms(&wg, 20000))
	TH_LOG("join timed out: %lld of %ld ran", (long long)T_LOAD(&t1_count), n);
	ASSERT_EQ(n, T_LOAD(&t1_count));
	/* wg_done runs before the goroutine exits: wait for the exits. */
	ASSERT_TRUE(TEST_WAIT_UNTIL(gort_num_goroutine() == base, 10000))
	TH_LOG("gort_num_goroutine() stays at %lld, baseline %lld", (long long)gort_num_goroutine(),
	       (long long)base);
	stats_now(&st);
	EXPECT_EQ(n, st.goroutines_created);
	EXPECT_EQ(base, st.goroutines);
	TH_LOG("%ld goroutines in %.2f s, peak live %lld, workers %lld, vm.max_map_count %ld", n,
	       (double)(test_now_ns() - t0) / 1e9, (long long)peak, (long long)st.workers,
	       max_map_count());
}

/* The same from inside the runtime: two goroutines each spawn half. */
static void t1_spawner(void *arg)
{
	gort_waitgroup *wg = arg;
	long n = T1_N / 2;

	for (long i = 0; i < n; i++) {
		gort_wg_add(wg, 1);
		if (gort_go(t1_body, wg) <= 0) {
			tg_fail(__FILE__, __LINE__, "spawn %ld failed: %s", i, gort_errmsg());
			gort_wg_done(wg);
			break;
		}
	}
	gort_wg_done(wg);
}

TEST_F_TIMEOUT(sched, spawn_join_1m_goroutines_from_goroutines, 30)
{
	const long n = T1_N / 2 * 2;
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	int64_t base = gort_num_goroutine(), t0 = test_now_ns();

	gort_wg_add(&wg, 2);
	ASSERT_GT(gort_go(t1_spawner, &wg), 0);
	ASSERT_GT(gort_go(t1_spawner, &wg), 0);
	ASSERT_TRUE(test_wg_wait_ms(&wg, 20000))
	TH_LOG("join timed out: %lld of %ld ran", (long long)T_LOAD(&t1_count), n);
	ASSERT_NO_TG_FAILURES();
	ASSERT_EQ(n, T_LOAD(&t1_count));
	ASSERT_TRUE(TEST_WAIT_UNTIL(gort_num_goroutine() == base, 10000))
	TH_LOG("gort_num_goroutine() stays at %lld", (long long)gort_num_goroutine());
	TH_LOG("%ld goroutines in %.2f s", n, (double)(test_now_ns() - t0) / 1e9);
}

/* ---------------------------------------------------------------------- */
/* 2. CPU-bound goroutines run on both procs and on at least two threads. */

static struct test_tidset t2_tids;

static void t2_body(void *arg)
{
	for (int i = 0; i < 3000; i++) {
		spin(200);
		test_tidset_add(&t2_tids, (pid_t)syscall(SYS_gettid));
		if (i & 1)
			gort_yield();
		else
			gort_now();
	}
	gort_wg_done(arg);
}

TEST(work_spreads_over_both_procs)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	struct gort_stats st;
	const int n = 32;

	setenv("GORT_MAXPROCS", "2", 1);
	for (int i = 0; i < n; i++) {
		gort_wg_add(&wg, 1);
		ASSERT_GT(gort_go(t2_body, &wg), 0);
	}
	ASSERT_TRUE(test_wg_wait_ms(&wg, 20000));
	stats_now(&st);
	EXPECT_EQ(2, st.maxprocs);
	EXPECT_GT(st.per_proc_runs[0], 0);
	EXPECT_GT(st.per_proc_runs[1], 0);
	EXPECT_EQ(0, st.per_proc_runs[2]);
	EXPECT_GE(test_tidset_count(&t2_tids), 2);
	TH_LOG("runs per proc %lld/%lld, %d worker threads seen, %lld steals",
	       (long long)st.per_proc_runs[0], (long long)st.per_proc_runs[1],
	       test_tidset_count(&t2_tids), (long long)st.steals);
}

/* ---------------------------------------------------------------------- */
/* 3. One goroutine spawns 200: the other proc has to steal to get work. */

/*
 * 200 fit in the spawner's run queue (256), so nothing overflows to the
 * global queue and stealing is the other proc's only way to work. The
 * children keep yielding until one of them has run on another thread: the
 * second worker is started (counted spinning, so no spawn wakes another) as
 * the spawner starts, but under single-threaded TCG its vCPU may not get the
 * host thread for 100 ms, long enough for a fixed amount of work to end first.
 */
static int64_t t3_done;
static pid_t t3_spawner_tid;
static int t3_elsewhere;

static void t3_child(void *arg)
{
	int64_t deadline = test_now_ns() + 10 * 1000000000LL;

	for (int i = 0; i < 50 || (!T_LOAD(&t3_elsewhere) && test_now_ns() < deadline); i++) {
		spin(500);
		if ((pid_t)syscall(SYS_gettid) != T_LOAD(&t3_spawner_tid))
			T_STORE(&t3_elsewhere, 1);
		gort_yield();
	}
	T_INC(&t3_done);
	gort_wg_done(arg);
}

static void t3_spawner(void *arg)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;

	T_STORE(&t3_spawner_tid, (pid_t)syscall(SYS_gettid));
	for (int i = 0; i < 200; i++)
		go_counted(t3_child, &wg);
	gort_wg_wait(&wg);
	gort_wg_done(arg);
}

TEST(idle_proc_steals_from_busy_one)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	struct gort_stats st;

	setenv("GORT_MAXPROCS", "2", 1);
	gort_wg_add(&wg, 1);
	ASSERT_GT(gort_go(t3_spawner, &wg), 0);
	ASSERT_TRUE(test_wg_wait_ms(&wg, 20000));
	ASSERT_NO_TG_FAILURES();
	ASSERT_EQ(200, T_LOAD(&t3_done));
	stats_now(&st);
	EXPECT_GT(st.steals, 0);
	EXPECT_GE(st.stolen_goroutines, st.steals);
	EXPECT_GT(st.per_proc_runs[1], 0);
	TH_LOG("%lld steals took %lld goroutines; %lld global queue gets; runs %lld/%lld; "
	       "workers %lld, spinning %lld, idle procs %lld, parks %lld, wakes %lld",
	       (long long)st.steals, (long long)st.stolen_goroutines,
	       (long long)st.global_runq_gets, (long long)st.per_proc_runs[0],
	       (long long)st.per_proc_runs[1], (long long)st.workers,
	       (long long)st.spinning_workers, (long long)st.idle_procs, (long long)st.worker_parks,
	       (long long)st.worker_wakes);
}

/* ---------------------------------------------------------------------- */
/* 4. Run order on one proc: runnext (LIFO slot), FIFO ring, goready. */

static int t4_log[16];
static int t4_n;

static void t4_record(int v)
{
	int i = T_INC(&t4_n) - 1;

	if (i < 16)
		T_STORE(&t4_log[i], v);
}

struct t4_child {
	int tag;
	gort_waitgroup *wg;
};

static void t4_child_fn(void *arg)
{
	struct t4_child *c = arg;

	t4_record(c->tag);
	gort_wg_done(c->wg);
}

/* A spawns G1, G2, G3 then parks: G3 (runnext) runs first, then G1, G2. */
static void t4_spawn_parent(void *arg)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	struct t4_child c[3];

	gort_wg_add(&wg, 3);
	for (int i = 0; i < 3; i++) {
		c[i] = (struct t4_child){ .tag = i + 1, .wg = &wg };
		gort_go(t4_child_fn, &c[i]);
	}
	gort_wg_wait(&wg);
	t4_record(9);
	gort_wg_done(arg);
}

static gort_waitgroup t4_gate, t4_all;
static int t4_waiter_parking;

static void t4_waiter(void *arg)
{
	T_STORE(&t4_waiter_parking, 1);
	gort_wg_wait(&t4_gate);
	t4_record(100);
	gort_wg_done(&t4_all);
}

static void t4_filler(void *arg)
{
	t4_record((int)(intptr_t)arg);
	gort_wg_done(&t4_all);
}

/*
 * The waiter parks; three fillers are queued (F3 in runnext); readying the
 * waiter puts it in runnext, kicking F3 to the ring: waiter, F1, F2, F3.
 */
static void t4_ready_parent(void *arg)
{
	gort_wg_add(&t4_gate, 1);
	gort_wg_add(&t4_all, 4);
	gort_go(t4_waiter, NULL);
	gort_yield(); /* the waiter (runnext) runs and parks; we come back */
	if (!T_LOAD(&t4_waiter_parking))
		t4_record(-1);
	for (int i = 1; i <= 3; i++)
		gort_go(t4_filler, (void *)(intptr_t)i);
	gort_wg_done(&t4_gate);
	gort_wg_wait(&t4_all);
	t4_record(200);
	gort_wg_done(arg);
}

/*
 * Runs scenario fn until one attempt was not disturbed by a preemption
 * request (sysmon flags a goroutine that held the CPU for 10 ms, which a
 * descheduled VM thread can do) and returns the number of entries logged.
 */
static int t4_run(void (*fn)(void *), int *attempts)
{
	for (*attempts = 1; *attempts <= 10; (*attempts)++) {
		gort_waitgroup wg = GORT_WAITGROUP_INIT;
		struct gort_stats a, b;

		memset(t4_log, 0, sizeof(t4_log));
		T_STORE(&t4_n, 0);
		memset(&t4_gate, 0, sizeof(t4_gate));
		memset(&t4_all, 0, sizeof(t4_all));
		T_STORE(&t4_waiter_parking, 0);
		stats_now(&a);
		gort_wg_add(&wg, 1);
		if (gort_go(fn, &wg) <= 0 || !test_wg_wait_ms(&wg, 10000))
			return -1;
		stats_now(&b);
		if (a.preempt_requests == b.preempt_requests)
			break;
	}
	return T_LOAD(&t4_n);
}

TEST(runnext_runs_newest_spawn_first_then_fifo)
{
	int attempts;

	setenv("GORT_MAXPROCS", "1", 1);
	ASSERT_EQ(4, t4_run(t4_spawn_parent, &attempts));
	EXPECT_EQ(3, t4_log[0]);
	EXPECT_EQ(1, t4_log[1]);
	EXPECT_EQ(2, t4_log[2]);
	EXPECT_EQ(9, t4_log[3]);
	TH_LOG("order %d %d %d %d (attempt %d)", t4_log[0], t4_log[1], t4_log[2], t4_log[3],
	       attempts);
}

TEST(readied_goroutine_runs_next)
{
	int attempts;

	setenv("GORT_MAXPROCS", "1", 1);
	ASSERT_EQ(5, t4_run(t4_ready_parent, &attempts));
	EXPECT_EQ(100, t4_log[0]);
	EXPECT_EQ(1, t4_log[1]);
	EXPECT_EQ(2, t4_log[2]);
	EXPECT_EQ(3, t4_log[3]);
	EXPECT_EQ(200, t4_log[4]);
	TH_LOG("order %d %d %d %d %d (attempt %d)", t4_log[0], t4_log[1], t4_log[2], t4_log[3],
	       t4_log[4], attempts);
}

/*
 * A spawner that fills its run queue yields (sched_spawn_point): on one proc
 * no more than the queue (256) plus runnext wait to start at any time, where
 * a spawner that went on until its slice ends would have all 3000 waiting.
 * Under TCG a stalled vCPU makes a wait end on time, which looks like
 * goroutines that compute, and the spawner then spawns on for a while; there
 * (and under sanitizers) the test only checks that it yielded at all.
 */
#define T4_BACKLOG_SPAWNS 3000
static int64_t t4_started, t4_max_waiting;

static void t4_backlog_child(void *arg)
{
	T_INC(&t4_started);
	gort_wg_done(arg);
}

static void t4_backlog_spawner(void *arg)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	int64_t spawned = 0;

	for (int i = 0; i < T4_BACKLOG_SPAWNS; i++) {
		int64_t waiting;

		if (!go_counted(t4_backlog_child, &wg))
			continue;
		waiting = ++spawned - T_LOAD(&t4_started);
		if (waiting > T_LOAD(&t4_max_waiting))
			T_STORE(&t4_max_waiting, waiting);
	}
	gort_wg_wait(&wg);
	gort_wg_done(arg);
}

TEST(spawner_yields_when_its_run_queue_is_full)
{
	int attempt;

	setenv("GORT_MAXPROCS", "1", 1);
	/* A worker thread descheduled for over 1 ms (a loaded host) looks like
	 * goroutines that compute, as under TCG: up to 3 attempts. */
	for (attempt = 1;; attempt++) {
		gort_waitgroup wg = GORT_WAITGROUP_INIT;

		T_STORE(&t4_started, 0);
		T_STORE(&t4_max_waiting, 0);
		gort_wg_add(&wg, 1);
		ASSERT_GT(gort_go(t4_backlog_spawner, &wg), 0);
		ASSERT_TRUE(test_wg_wait_ms(&wg, 20000));
		ASSERT_NO_TG_FAILURES();
		ASSERT_EQ(T4_BACKLOG_SPAWNS, T_LOAD(&t4_started));
		if (T_LOAD(&t4_max_waiting) <= 257 || attempt == 3)
			break;
	}
	/* 256 in the ring and one in runnext: the yield comes after the
	 * gort_go that fills the ring, before the spawner counts it. */
	ASSERT_GT(T_LOAD(&t4_max_waiting), 0);
	if (gort_test_scale_div() == 1) {
		ASSERT_LE(T_LOAD(&t4_max_waiting), 257);
	} else {
		ASSERT_LT(T_LOAD(&t4_max_waiting), T4_BACKLOG_SPAWNS);
	}
	TH_LOG("at most %lld spawned goroutines waited to start (attempt %d)",
	       (long long)T_LOAD(&t4_max_waiting), attempt);
}

/*
 * ... but goroutines that compute do not hold it up for long: a spawner
 * waits SPAWN_RESUME_NS (1 ms, looked at every 8 schedules) rather than 64
 * of them, and after such a wait it spawns on without yielding. 600 spawns
 * of goroutines that compute for 5 ms (or until the spawner is done) take
 * ~40 ms; 64 schedules per yield would be 320 ms, a yield at every spawn
 * past the first 257 seconds. Timed only where spawning is fast: under a
 * sanitizer or TCG the spawner itself is preempted (10 ms) and waits behind
 * the computing goroutines as in Go.
 */
#define T4_BUSY_SPAWNS 600
static int t4_spawning_done;

static void t4_busy_child(void *arg)
{
	int64_t end = test_now_ns() + 5 * 1000000LL;

	while (!T_LOAD(&t4_spawning_done) && test_now_ns() < end) {
		spin(2000);
		(void)gort_now(); /* a runtime call: preemptible */
	}
	gort_wg_done(arg);
}

static int64_t t4_spawn_ms;

static void t4_busy_spawner(void *arg)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	int64_t t0 = test_now_ns();

	for (int i = 0; i < T4_BUSY_SPAWNS; i++)
		go_counted(t4_busy_child, &wg);
	T_STORE(&t4_spawn_ms, (test_now_ns() - t0) / 1000000);
	T_STORE(&t4_spawning_done, 1);
	gort_wg_wait(&wg);
	gort_wg_done(arg);
}

TEST(spawner_yield_is_short_when_spawned_goroutines_compute)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	struct gort_stats st;

	setenv("GORT_MAXPROCS", "1", 1);
	gort_wg_add(&wg, 1);
	ASSERT_GT(gort_go(t4_busy_spawner, &wg), 0);
	ASSERT_TRUE(test_wg_wait_ms(&wg, 20000));
	ASSERT_NO_TG_FAILURES();
	stats_now(&st);
	if (gort_test_scale_div() == 1) {
		EXPECT_LT(T_LOAD(&t4_spawn_ms), 200);
	}
	TH_LOG("%d spawns of computing goroutines took %lld ms (%lld preemptions)", T4_BUSY_SPAWNS,
	       (long long)T_LOAD(&t4_spawn_ms), (long long)st.preempt_requests);
}

/* ---------------------------------------------------------------------- */
/* 5. gort_yield on one proc is round-robin. */

#define T5_N 8
static int64_t t5_cnt[T5_N];
static int t5_started;
static int64_t t5_worst;
static int t5_k;

static void t5_body(void *arg)
{
	int me = (int)(intptr_t)arg;

	T_INC(&t5_started);
	while (T_LOAD(&t5_started) < T5_N)
		gort_yield();
	for (int k = 0; k < t5_k; k++) {
		int64_t lo = INT64_MAX, hi = 0, worst;

		T_STORE(&t5_cnt[me], k + 1);
		for (int i = 0; i < T5_N; i++) {
			int64_t c = T_LOAD(&t5_cnt[i]);

			lo = c < lo ? c : lo;
			hi = c > hi ? c : hi;
		}
		worst = T_LOAD(&t5_worst);
		while (hi - lo > worst &&
		       !__atomic_compare_exchange_n(&t5_worst, &worst, hi - lo, false,
						    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			;
		gort_yield();
	}
}

static gort_waitgroup t5_wg;

static void t5_entry(void *arg)
{
	t5_body(arg);
	gort_wg_done(&t5_wg);
}

TEST(yield_is_round_robin)
{
	struct gort_stats a, b;

	setenv("GORT_MAXPROCS", "1", 1);
	t5_k = GORT_TEST_SANITIZED ? 2000 : 10000;
	stats_now(&a);
	gort_wg_add(&t5_wg, T5_N);
	for (int i = 0; i < T5_N; i++) {
		ASSERT_GT(gort_go(t5_entry, (void *)(intptr_t)i), 0);
	}
	ASSERT_TRUE(test_wg_wait_ms(&t5_wg, 25000));
	stats_now(&b);
	for (int i = 0; i < T5_N; i++) {
		EXPECT_EQ(t5_k, T_LOAD(&t5_cnt[i]));
	}
	EXPECT_LE(T_LOAD(&t5_worst), 2)
	TH_LOG("a goroutine got %lld turns ahead of another", (long long)T_LOAD(&t5_worst));
	TH_LOG("worst lead %lld, %lld switches", (long long)T_LOAD(&t5_worst),
	       (long long)(b.switches - a.switches));
}

/* ---------------------------------------------------------------------- */
/* 6. Nested spawns from many goroutines at once, joined level by level. */

static int t6_fan[3];
static int64_t t6_total;
static gort_waitgroup t6_gate;

struct t6_node {
	int depth;
	gort_waitgroup *parent_wg;
	int64_t *parent_count;
};

static void t6_node_fn(void *arg)
{
	struct t6_node *me = arg;
	int fan = me->depth < 2 ? t6_fan[me->depth + 1] : 0;
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	int64_t children = 0;
	struct t6_node kids[64];

	if (me->depth == 0)
		gort_wg_wait(&t6_gate); /* all 64 top-level goroutines spawn at once */
	T_INC(&t6_total);
	for (int i = 0; i < fan; i++) {
		kids[i] = (struct t6_node){ me->depth + 1, &wg, &children };
		gort_wg_add(&wg, 1);
		if (gort_go(t6_node_fn, &kids[i]) <= 0) {
			tg_fail(__FILE__, __LINE__, "spawn at depth %d failed: %s", me->depth,
				gort_errmsg());
			gort_wg_done(&wg);
		}
	}
	gort_wg_wait(&wg);
	TG_CHECK_EQ(fan, T_LOAD(&children));
	T_INC(me->parent_count);
	gort_wg_done(me->parent_wg);
}

TEST_F_TIMEOUT(sched, nested_spawns_from_many_goroutines, 30)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	struct t6_node top[64];
	int64_t joined = 0, want, base = gort_num_goroutine();

	t6_fan[0] = 64;
	t6_fan[1] = GORT_TEST_TSAN ? 16 : 64;
	t6_fan[2] = GORT_TEST_SANITIZED ? 2 : 16;
	want = t6_fan[0] + t6_fan[0] * t6_fan[1] + t6_fan[0] * t6_fan[1] * t6_fan[2];
	gort_wg_add(&t6_gate, 1);
	for (int i = 0; i < t6_fan[0]; i++) {
		top[i] = (struct t6_node){ 0, &wg, &joined };
		gort_wg_add(&wg, 1);
		ASSERT_GT(gort_go(t6_node_fn, &top[i]), 0);
	}
	gort_wg_done(&t6_gate);
	ASSERT_TRUE(test_wg_wait_ms(&wg, 25000))
	TH_LOG("join timed out: %lld of %lld ran", (long long)T_LOAD(&t6_total), (long long)want);
	ASSERT_NO_TG_FAILURES();
	EXPECT_EQ(want, T_LOAD(&t6_total));
	EXPECT_EQ(t6_fan[0], T_LOAD(&joined));
	EXPECT_TRUE(TEST_WAIT_UNTIL(gort_num_goroutine() == base, 10000));
}

/* ---------------------------------------------------------------------- */
/* 7. gort_exit from 1000 frames down and from the top level. */

static int t7_depth;
static int t7_at_bottom;
static int t7_after_exit;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winfinite-recursion"
__attribute__((noinline)) static void t7_recurse(int n)
{
	volatile char buf[256];

	buf[0] = (char)n;
	buf[255] = (char)n;
	T_INC(&t7_depth);
	if (n == 0) {
		T_STORE(&t7_at_bottom, 1);
		gort_exit();
	}
	t7_recurse(n - 1);
	/* Never reached: keeps the call above from being a tail call. */
	T_STORE(&t7_after_exit, 1);
	__asm__ volatile("" ::"r"(buf[0], buf[255]) : "memory");
}
#pragma GCC diagnostic pop

static void t7_deep(void *arg)
{
	t7_recurse(999);
	T_STORE(&t7_after_exit, 2);
}

static void t7_top(void *arg)
{
	T_STORE(&t7_at_bottom, 2);
	gort_exit();
	T_STORE(&t7_after_exit, 3);
}

struct t7_find {
	int64_t id;
	int found;
};

static void t7_find_cb(const struct gort_goroutine_view *v, void *arg)
{
	struct t7_find *f = arg;

	if (v->id == f->id)
		f->found = 1;
}

static int t7_alive(int64_t id)
{
	struct t7_find f = { .id = id };

	gort_stop_the_world("test");
	gort_for_each_goroutine(t7_find_cb, &f);
	gort_start_the_world();
	return f.found;
}

/* Recurses 500 frames and returns normally: a stack reused after an exit works. */
__attribute__((noinline)) static int t7_plain(int n)
{
	volatile char buf[256];

	buf[0] = (char)n;
	if (n == 0)
		return 0;
	return t7_plain(n - 1) + 1 + (buf[0] != (char)n);
}

static void t7_reuse(void *arg)
{
	TG_CHECK_EQ(500, t7_plain(500));
	gort_wg_done(arg);
}

TEST(exit_from_deep_stack_and_top_level)
{
	struct gort_go_opts big = { .stack_size = 1 << 20 };
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	int64_t id;

	id = gort_go_opts(t7_deep, NULL, &big);
	ASSERT_GT(id, 0);
	ASSERT_TRUE(TEST_WAIT_UNTIL(gort_num_goroutine() == 0, 10000))
	TH_LOG("the goroutine did not exit (depth %d)", T_LOAD(&t7_depth));
	EXPECT_EQ(1000, T_LOAD(&t7_depth));
	EXPECT_EQ(1, T_LOAD(&t7_at_bottom));
	EXPECT_EQ(0, T_LOAD(&t7_after_exit));
	EXPECT_FALSE(t7_alive(id));

	id = gort_go(t7_top, NULL);
	ASSERT_GT(id, 0);
	ASSERT_TRUE(TEST_WAIT_UNTIL(gort_num_goroutine() == 0, 10000));
	EXPECT_EQ(2, T_LOAD(&t7_at_bottom));
	EXPECT_EQ(0, T_LOAD(&t7_after_exit));
	EXPECT_FALSE(t7_alive(id));

	/* The exited goroutines' descriptors and stacks are reused. */
	for (int i = 0; i < 20; i++) {
		gort_wg_add(&wg, 1);
		ASSERT_GT(gort_go_opts(t7_reuse, &wg, &big), 0);
	}
	ASSERT_TRUE(test_wg_wait_ms(&wg, 10000));
	ASSERT_NO_TG_FAILURES();
}

/* ---------------------------------------------------------------------- */
/* 8. errno is per goroutine across switches and migrations. */

#define T8_N 100
static gort_waitgroup t8_wg;
static int t8_migrated;
static int t8_started_dirty;

static void t8_body(void *arg)
{
	int want = 1000 + (int)(intptr_t)arg;
	pid_t first = (pid_t)syscall(SYS_gettid);
	bool moved = false;

	/* A new goroutine starts with errno 0, whatever ran on the thread before. */
	if (test_read_errno() != 0)
		T_INC(&t8_started_dirty);
	test_write_errno(want);
	for (int i = 0; i < 1000; i++) {
		int got;

		gort_yield();
		got = test_read_errno();
		if (got != want) {
			tg_fail(__FILE__, __LINE__, "goroutine %d: errno %d after yield %d", want,
				got, i);
			test_write_errno(want);
		}
		if ((pid_t)syscall(SYS_gettid) != first)
			moved = true;
		test_write_errno(want); /* syscall(2) may have set it */
	}
	if (moved)
		T_INC(&t8_migrated);
	gort_wg_done(&t8_wg);
}

TEST(errno_is_per_goroutine)
{
	setenv("GORT_MAXPROCS", "2", 1);
	test_write_errno(4242);
	gort_wg_add(&t8_wg, T8_N);
	for (int i = 0; i < T8_N; i++) {
		ASSERT_GT(gort_go(t8_body, (void *)(intptr_t)i), 0);
	}
	ASSERT_TRUE(test_wg_wait_ms(&t8_wg, 25000));
	ASSERT_NO_TG_FAILURES();
	EXPECT_EQ(0, T_LOAD(&t8_started_dirty));
	TH_LOG("%d of %d goroutines changed thread", T_LOAD(&t8_migrated), T8_N);
}

/* ---------------------------------------------------------------------- */
/* 9. gort_lock_os_thread wires a goroutine to its worker. */

static int t9_stop;
static pid_t t9_locked_tid;
static int64_t t9_busy_iters, t9_intruders;
static int64_t t9_tid_changes;
static int t9_after_nested;

static void t9_busy(void *arg)
{
	while (!T_LOAD(&t9_stop)) {
		pid_t lt = T_LOAD(&t9_locked_tid);

		if (lt && (pid_t)syscall(SYS_gettid) == lt)
			T_INC(&t9_intruders);
		spin(300);
		T_INC(&t9_busy_iters);
		gort_yield();
	}
	gort_wg_done(arg);
}

static void t9_release(void *arg)
{
	gort_yield();
	gort_wg_done(arg);
}

static void t9_check_tid(pid_t want)
{
	if ((pid_t)syscall(SYS_gettid) != want)
		T_INC(&t9_tid_changes);
}

/* yields and parks; the thread must stay the same */
static void t9_churn(pid_t tid, int yields, int parks)
{
	for (int i = 0; i < yields; i++) {
		gort_yield();
		t9_check_tid(tid);
	}
	for (int i = 0; i < parks; i++) {
		gort_waitgroup wg = GORT_WAITGROUP_INIT;

		gort_wg_add(&wg, 1);
		if (gort_go(t9_release, &wg) <= 0) {
			tg_fail(__FILE__, __LINE__, "spawn failed");
			return;
		}
		gort_wg_wait(&wg);
		t9_check_tid(tid);
	}
}

static void t9_locked(void *arg)
{
	pid_t tid;

	TG_CHECK_EQ(0, gort_lock_os_thread());
	tid = (pid_t)syscall(SYS_gettid);
	T_STORE(&t9_locked_tid, tid);
	t9_churn(tid, 1000, 100);

	/* Nesting: two locks, one unlock, still wired. */
	TG_CHECK_EQ(0, gort_lock_os_thread());
	TG_CHECK_EQ(0, gort_lock_os_thread());
	gort_unlock_os_thread();
	t9_churn(tid, 300, 30);
	gort_unlock_os_thread();
	t9_churn(tid, 300, 30);
	T_STORE(&t9_after_nested, 1);
	T_STORE(&t9_locked_tid, 0);
	gort_unlock_os_thread();

	/* Unwired: it may move now; it must keep running. */
	for (int i = 0; i < 300; i++)
		gort_yield();
	gort_unlock_os_thread(); /* unbalanced: harmless */
	gort_wg_done(arg);
}

TEST_F_TIMEOUT(sched, lock_os_thread_keeps_the_worker, 30)
{
	gort_waitgroup busy = GORT_WAITGROUP_INIT, locked = GORT_WAITGROUP_INIT;

	setenv("GORT_MAXPROCS", "2", 1);
	EXPECT_EQ(GORT_EPERM, gort_lock_os_thread());
	EXPECT_NE(NULL, strstr(gort_errmsg(), "goroutine"));
	gort_unlock_os_thread(); /* harmless on a foreign thread */
	for (int i = 0; i < 4; i++) {
		gort_wg_add(&busy, 1);
		ASSERT_GT(gort_go(t9_busy, &busy), 0);
	}
	gort_wg_add(&locked, 1);
	ASSERT_GT(gort_go(t9_locked, &locked), 0);
	ASSERT_TRUE(test_wg_wait_ms(&locked, 25000))
	TH_LOG("the locked goroutine did not finish");
	T_STORE(&t9_stop, 1);
	ASSERT_TRUE(test_wg_wait_ms(&busy, 10000));
	ASSERT_NO_TG_FAILURES();
	EXPECT_EQ(1, T_LOAD(&t9_after_nested));
	EXPECT_EQ(0, T_LOAD(&t9_tid_changes));
	EXPECT_EQ(0, T_LOAD(&t9_intruders))
	TH_LOG("other goroutines ran on the locked thread");
	EXPECT_GT(T_LOAD(&t9_busy_iters), 0);
}

/* A wired goroutine that exits without unlocking frees its thread for others. */
static int64_t t9b_ran;

static void t9b_lock_and_exit(void *arg)
{
	gort_lock_os_thread();
	gort_lock_os_thread();
	gort_wg_done(arg);
}

static void t9b_plain(void *arg)
{
	gort_yield();
	T_INC(&t9b_ran);
	gort_wg_done(arg);
}

TEST(exit_while_locked_releases_the_thread)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;

	setenv("GORT_MAXPROCS", "1", 1);
	for (int round = 0; round < 20; round++) {
		gort_wg_add(&wg, 1);
		ASSERT_GT(gort_go(t9b_lock_and_exit, &wg), 0);
		for (int i = 0; i < 10; i++) {
			gort_wg_add(&wg, 1);
			ASSERT_GT(gort_go(t9b_plain, &wg), 0);
		}
	}
	ASSERT_TRUE(test_wg_wait_ms(&wg, 10000));
	EXPECT_EQ(200, T_LOAD(&t9b_ran));
}

/* ---------------------------------------------------------------------- */
/* 10. A goroutine blocked in read() in a syscall region does not stall others. */

static int t10_pipe[2];
static int t10_a_entering, t10_a_returned, t10_a_byte;
static int64_t t10_b_iters, t10_b_saw_a_return;

static void t10_a(void *arg)
{
	char c = 0;
	ssize_t r;

	T_STORE(&t10_a_entering, 1);
	r = GORT_BLOCKING(read(t10_pipe[0], &c, 1));
	T_STORE(&t10_a_byte, r == 1 ? c : -1);
	T_STORE(&t10_a_returned, 1);
	gort_wg_done(arg);
}

static void t10_b(void *arg)
{
	while (!T_LOAD(&t10_a_entering))
		gort_yield();
	for (int i = 0; i < 1000; i++) {
		if (T_LOAD(&t10_a_returned))
			T_INC(&t10_b_saw_a_return);
		spin(100);
		T_INC(&t10_b_iters);
		if (i & 1)
			gort_yield();
		else
			gort_now();
	}
	if (write(t10_pipe[1], "x", 1) != 1)
		tg_fail(__FILE__, __LINE__, "write: %s", strerror(errno));
	gort_wg_done(arg);
}

TEST(blocking_syscall_does_not_stall_others)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	struct gort_stats st;
	bool ok;

	setenv("GORT_MAXPROCS", "1", 1);
	ASSERT_EQ(0, pipe(t10_pipe));
	gort_wg_add(&wg, 2);
	ASSERT_GT(gort_go(t10_a, &wg), 0);
	ASSERT_GT(gort_go(t10_b, &wg), 0);
	ok = test_wg_wait_ms(&wg, 10000);
	if (!ok && write(t10_pipe[1], "y", 1) != 1) /* unblock A before failing */
		TH_LOG("write failed");
	ASSERT_TRUE(ok)
	TH_LOG("B made %lld iterations while A blocked the only proc",
	       (long long)T_LOAD(&t10_b_iters));
	ASSERT_NO_TG_FAILURES();
	EXPECT_EQ(1000, T_LOAD(&t10_b_iters));
	EXPECT_EQ(0, T_LOAD(&t10_b_saw_a_return));
	EXPECT_EQ('x', T_LOAD(&t10_a_byte));
	stats_now(&st);
	EXPECT_GE(st.syscall_handoffs, 1);
	EXPECT_EQ(1, st.maxprocs);
}

/* ---------------------------------------------------------------------- */
/* 11. GORT_MAXPROCS and gort_maxprocs() at run time. */

#define T11_N 6
#define T11_PHASES 4
static int64_t t11_cnt[T11_N];
static int t11_parked;
static gort_waitgroup t11_gate[T11_PHASES];
static int t11_iters;

static void t11_body(void *arg)
{
	int me = (int)(intptr_t)arg;

	for (int phase = 0; phase < T11_PHASES; phase++) {
		for (int i = 0; i < t11_iters; i++) {
			T_INC(&t11_cnt[me]);
			spin(200);
			if (i & 1)
				gort_yield();
			else
				gort_now();
		}
		T_INC(&t11_parked);
		gort_wg_wait(&t11_gate[phase]);
	}
}

static void t11_entry(void *arg)
{
	t11_body(arg);
}

static int64_t t11_min_count(void)
{
	int64_t m = INT64_MAX;

	for (int i = 0; i < T11_N; i++)
		if (T_LOAD(&t11_cnt[i]) < m)
			m = T_LOAD(&t11_cnt[i]);
	return m;
}

TEST_F_TIMEOUT(sched, maxprocs_env_and_runtime_changes, 30)
{
	struct gort_stats st;
	int64_t r2_before;

	setenv("GORT_MAXPROCS", "3", 1);
	t11_iters = GORT_TEST_SANITIZED ? 500 : 3000;
	for (int i = 0; i < T11_PHASES; i++)
		gort_wg_add(&t11_gate[i], 1);
	for (int i = 0; i < T11_N; i++) {
		ASSERT_GT(gort_go(t11_entry, (void *)(intptr_t)i), 0);
	}
	stats_now(&st);
	EXPECT_EQ(3, st.maxprocs);
	EXPECT_EQ(3, gort_maxprocs(0));

	/* Phase 0 on 3 procs; then everyone parks at gate 0. */
	ASSERT_TRUE(TEST_WAIT_UNTIL(T_LOAD(&t11_parked) == T11_N, 20000));
	stats_now(&st);
	for (int i = 3; i < 64; i++) {
		EXPECT_EQ(0, st.per_proc_runs[i]);
	}
	EXPECT_GT(st.per_proc_runs[0] + st.per_proc_runs[1] + st.per_proc_runs[2], 0);
	r2_before = st.per_proc_runs[2];

	/* Shrink to 2 while everyone is parked, then run phase 1. */
	EXPECT_EQ(3, gort_maxprocs(2));
	EXPECT_EQ(2, gort_maxprocs(0));
	stats_now(&st);
	EXPECT_EQ(2, st.maxprocs);
	gort_wg_done(&t11_gate[0]);
	ASSERT_TRUE(TEST_WAIT_UNTIL(T_LOAD(&t11_parked) == 2 * T11_N, 20000))
	TH_LOG("goroutines stopped running after gort_maxprocs(2)");
	EXPECT_EQ(2 * t11_iters, t11_min_count());
	stats_now(&st);
	EXPECT_EQ(0, st.per_proc_runs[2]);

	/* Grow back with nothing runnable: proc 2 ran nothing while it was gone. */
	EXPECT_EQ(2, gort_maxprocs(3));
	stats_now(&st);
	EXPECT_EQ(3, st.maxprocs);
	EXPECT_EQ(r2_before, st.per_proc_runs[2]);

	/* Phase 2: change it under load; everyone keeps running. */
	gort_wg_done(&t11_gate[1]);
	for (int n = 1; n <= 4 && T_LOAD(&t11_parked) < 3 * T11_N; n++) {
		int64_t m = t11_min_count();

		gort_maxprocs(n % 2 ? 1 : 2);
		EXPECT_TRUE(TEST_WAIT_UNTIL(t11_min_count() > m || T_LOAD(&t11_parked) == 3 * T11_N,
					    10000))
		TH_LOG("no progress after gort_maxprocs(%d)", n % 2 ? 1 : 2);
	}
	ASSERT_TRUE(TEST_WAIT_UNTIL(T_LOAD(&t11_parked) == 3 * T11_N, 20000));
	EXPECT_EQ(3 * t11_iters, t11_min_count());
	stats_now(&st);
	for (int i = (int)st.maxprocs; i < 64; i++) {
		EXPECT_EQ(0, st.per_proc_runs[i]);
	}

	/* Phase 3 on 1 proc: only proc 0 runs. */
	gort_maxprocs(1);
	stats_now(&st);
	r2_before = st.per_proc_runs[0];
	gort_wg_done(&t11_gate[2]);
	ASSERT_TRUE(TEST_WAIT_UNTIL(T_LOAD(&t11_parked) == 4 * T11_N, 20000));
	stats_now(&st);
	EXPECT_EQ(1, st.maxprocs);
	EXPECT_GT(st.per_proc_runs[0], r2_before);
	EXPECT_EQ(0, st.per_proc_runs[1]);
	gort_wg_done(&t11_gate[3]);
	EXPECT_TRUE(TEST_WAIT_UNTIL(gort_num_goroutine() == 0, 10000));
}

/* ---------------------------------------------------------------------- */
/* 12. Stop-the-world reaches busy goroutines. */

#define T12_N 4
static int64_t t12_cnt[T12_N];
static int64_t t12_ids[T12_N];
static int t12_stop;

static void t12_busy(void *arg)
{
	int me = (int)(intptr_t)arg;

	T_STORE(&t12_ids[me], gort_id());
	while (!T_LOAD(&t12_stop)) {
		gort_now();
		T_INC(&t12_cnt[me]);
	}
}

struct t12_visit {
	int n, running, bad_bounds, bad_regs, bad_size, unknown;
	int64_t seen[T12_N];
};

static void t12_cb(const struct gort_goroutine_view *v, void *arg)
{
	struct t12_visit *s = arg;
	const char *lo = v->lo, *hi = v->hi, *sp = v->sp;
	int k = -1;

	s->n++;
	for (int i = 0; i < T12_N; i++)
		if (v->id == T_LOAD(&t12_ids[i]))
			k = i;
	if (k < 0)
		s->unknown++;
	else
		s->seen[k]++;
	if ((size_t)(hi - lo) != 256 * 1024)
		s->bad_size++;
	if (v->state == GORT_GSTATE_RUNNING) {
		s->running++;
		return;
	}
	if (!(lo < sp && sp <= hi))
		s->bad_bounds++;
	if (v->state != GORT_GSTATE_SYSCALL && v->nregs != 6)
		s->bad_regs++;
}

TEST_F_TIMEOUT(sched, stop_the_world_reaches_busy_goroutines, 30)
{
	const int rounds = 20;
	struct gort_stats st;

	setenv("GORT_MAXPROCS", "2", 1);
	EXPECT_EQ(GORT_EPERM, gort_stop_the_world("before start"));
	for (int i = 0; i < T12_N; i++) {
		ASSERT_GT(gort_go(t12_busy, (void *)(intptr_t)i), 0);
	}
	for (int i = 0; i < T12_N; i++) {
		ASSERT_TRUE(TEST_WAIT_UNTIL(T_LOAD(&t12_cnt[i]) > 0, 10000));
	}

	for (int r = 0; r < rounds; r++) {
		int64_t before[T12_N], after[T12_N];
		struct t12_visit vis = { 0 };
		int64_t nvisited;

		ASSERT_EQ(0, gort_stop_the_world("test"));
		for (int i = 0; i < T12_N; i++)
			before[i] = T_LOAD(&t12_cnt[i]);
		usleep(50 * 1000);
		for (int i = 0; i < T12_N; i++)
			after[i] = T_LOAD(&t12_cnt[i]);
		nvisited = gort_for_each_goroutine(t12_cb, &vis);
		gort_start_the_world();

		for (int i = 0; i < T12_N; i++) {
			EXPECT_EQ(before[i], after[i])
			TH_LOG("round %d: goroutine %d ran while the world was stopped", r, i);
		}
		EXPECT_EQ(T12_N, nvisited);
		EXPECT_EQ(T12_N, vis.n);
		EXPECT_EQ(0, vis.unknown);
		for (int i = 0; i < T12_N; i++) {
			EXPECT_EQ(1, vis.seen[i]);
		}
		EXPECT_EQ(0, vis.running) TH_LOG("round %d: a goroutine is RUNNING", r);
		EXPECT_EQ(0, vis.bad_bounds);
		EXPECT_EQ(0, vis.bad_regs);
		EXPECT_EQ(0, vis.bad_size);
		/* ... and everyone runs again. */
		for (int i = 0; i < T12_N; i++) {
			ASSERT_TRUE(TEST_WAIT_UNTIL(T_LOAD(&t12_cnt[i]) > after[i], 10000))
			TH_LOG("round %d: goroutine %d does not run after the restart", r, i);
		}
	}
	stats_now(&st);
	EXPECT_EQ(rounds, st.stw_count);
	T_STORE(&t12_stop, 1);
	EXPECT_TRUE(TEST_WAIT_UNTIL(gort_num_goroutine() == 0, 10000));
}

/* The initiator is a goroutine: its own proc keeps running it (and only it). */
static int64_t t12b_rounds_ok, t12b_self_running, t12b_others_moved;

static void t12b_initiator(void *arg)
{
	for (int r = 0; r < 5; r++) {
		int64_t before[T12_N], after[T12_N];
		struct t12_visit vis = { 0 };

		if (gort_stop_the_world("test") != 0) {
			tg_fail(__FILE__, __LINE__, "gort_stop_the_world failed");
			break;
		}
		for (int i = 0; i < T12_N; i++)
			before[i] = T_LOAD(&t12_cnt[i]);
		usleep(50 * 1000);
		for (int i = 0; i < T12_N; i++)
			after[i] = T_LOAD(&t12_cnt[i]);
		gort_for_each_goroutine(t12_cb, &vis);
		gort_start_the_world();
		for (int i = 0; i < T12_N; i++)
			if (before[i] != after[i])
				T_INC(&t12b_others_moved);
		/* the initiator itself is the one RUNNING goroutine */
		if (vis.running == 1 && vis.unknown == 1 && vis.bad_bounds == 0)
			T_INC(&t12b_self_running);
		T_INC(&t12b_rounds_ok);
		gort_yield();
	}
	gort_wg_done(arg);
}

TEST(stop_the_world_from_a_goroutine)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	struct gort_stats st;

	setenv("GORT_MAXPROCS", "2", 1);
	for (int i = 0; i < T12_N; i++) {
		ASSERT_GT(gort_go(t12_busy, (void *)(intptr_t)i), 0);
	}
	for (int i = 0; i < T12_N; i++) {
		ASSERT_TRUE(TEST_WAIT_UNTIL(T_LOAD(&t12_cnt[i]) > 0, 10000));
	}
	gort_wg_add(&wg, 1);
	ASSERT_GT(gort_go(t12b_initiator, &wg), 0);
	ASSERT_TRUE(test_wg_wait_ms(&wg, 20000));
	ASSERT_NO_TG_FAILURES();
	EXPECT_EQ(5, T_LOAD(&t12b_rounds_ok));
	EXPECT_EQ(0, T_LOAD(&t12b_others_moved));
	EXPECT_EQ(5, T_LOAD(&t12b_self_running));
	stats_now(&st);
	EXPECT_EQ(5, st.stw_count);
	T_STORE(&t12_stop, 1);
}

/*
 * Two callers stop the world at once. The second one, a goroutine, is busy
 * (no safe point) while the first one's stop is pending, then asks for the
 * world itself. Go serialises callers on worldsema, parking the loser, whose
 * proc thus stops; a caller that blocks its thread on the STW lock with its
 * proc still running deadlocks the first caller, which waits for that proc.
 */
static int t12c_phase;
static int t12c_done;

/* Busy without any runtime call (gort_now would be a safe point). */
static void t12c_busy_ms(int ms)
{
	int64_t until = test_now_ns() + (int64_t)ms * 1000000;

	while (test_now_ns() < until)
		;
}

static void t12c_late_caller(void *arg)
{
	T_STORE(&t12c_phase, 1);
	/* until the first caller is about to stop the world; with arg, yield
	 * meanwhile (the first caller is a goroutine that may share our proc) */
	while (T_LOAD(&t12c_phase) < 2)
		if (arg)
			gort_yield();
	t12c_busy_ms(30); /* its stop is pending now, waiting for this proc */
	if (gort_stop_the_world("late") != 0)
		tg_fail(__FILE__, __LINE__, "gort_stop_the_world failed");
	else
		gort_start_the_world();
	T_INC(&t12c_done);
}

static void t12c_first_caller(void *arg)
{
	while (T_LOAD(&t12c_phase) < 1)
		gort_yield();
	T_STORE(&t12c_phase, 2);
	if (gort_stop_the_world("first") != 0)
		tg_fail(__FILE__, __LINE__, "gort_stop_the_world failed");
	else
		gort_start_the_world();
	T_INC(&t12c_done);
}

static void *t12c_first_thread(void *arg)
{
	t12c_first_caller(arg);
	return NULL;
}

TEST(stop_the_world_by_two_callers_at_once)
{
	pthread_t th;
	bool ok;

	setenv("GORT_MAXPROCS", "2", 1);
	/* 1: the first caller is a foreign thread */
	ASSERT_GT(gort_go(t12c_late_caller, NULL), 0);
	ASSERT_EQ(0, pthread_create(&th, NULL, t12c_first_thread, NULL));
	ok = TEST_WAIT_UNTIL(T_LOAD(&t12c_done) == 2, 5000);
	ASSERT_TRUE(ok)
	TH_LOG("deadlock (thread first): the goroutine blocked on the STW lock "
	       "keeps its proc running, so the pending stop never completes");
	pthread_join(th, NULL);

	/* 2: the first caller is a goroutine on the other proc */
	T_STORE(&t12c_phase, 0);
	ASSERT_GT(gort_go(t12c_late_caller, (void *)1), 0);
	ASSERT_GT(gort_go(t12c_first_caller, NULL), 0);
	ok = TEST_WAIT_UNTIL(T_LOAD(&t12c_done) == 4, 5000);
	ASSERT_TRUE(ok) TH_LOG("deadlock (goroutine first)");
	ASSERT_NO_TG_FAILURES();
}

/*
 * A goroutine in a syscall region keeps running (in the kernel) while the
 * world is stopped; a scanner must still see its live frames: the view's sp
 * must be at or below the frames of the call that entered the region.
 */
static int t12d_pipe[2];
static char *volatile t12d_marker;
static int t12d_in_read;
static int64_t t12d_id;

__attribute__((noinline)) static void t12d_deep_read(int depth)
{
	volatile char marker[64];
	char c;

	marker[0] = (char)depth;
	if (depth > 0) {
		t12d_deep_read(depth - 1);
		__asm__ volatile("" ::"r"(marker[0]) : "memory");
		return;
	}
	t12d_marker = (char *)marker;
	T_STORE(&t12d_in_read, 1);
	if (GORT_BLOCKING(read(t12d_pipe[0], &c, 1)) != 1)
		tg_fail(__FILE__, __LINE__, "read failed");
}

static void t12d_reader(void *arg)
{
	T_STORE(&t12d_id, gort_id());
	gort_yield(); /* a switch at a shallow depth leaves a saved sp behind */
	t12d_deep_read(20);
	gort_wg_done(arg);
}

struct t12d_find {
	int found, state;
	const char *sp, *lo, *hi;
};

static void t12d_cb(const struct gort_goroutine_view *v, void *arg)
{
	struct t12d_find *f = arg;

	if (v->id != T_LOAD(&t12d_id))
		return;
	f->found = 1;
	f->state = v->state;
	f->sp = v->sp;
	f->lo = v->lo;
	f->hi = v->hi;
}

TEST(stop_the_world_view_of_goroutine_in_syscall)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	struct t12d_find f = { 0 };

	setenv("GORT_MAXPROCS", "2", 1);
	ASSERT_EQ(0, pipe(t12d_pipe));
	gort_wg_add(&wg, 1);
	ASSERT_GT(gort_go(t12d_reader, &wg), 0);
	ASSERT_TRUE(TEST_WAIT_UNTIL(T_LOAD(&t12d_in_read), 10000));
	usleep(20 * 1000); /* let it get into read() */
	ASSERT_EQ(0, gort_stop_the_world("test"));
	gort_for_each_goroutine(t12d_cb, &f);
	gort_start_the_world();
	ASSERT_EQ(1, write(t12d_pipe[1], "x", 1));
	ASSERT_TRUE(test_wg_wait_ms(&wg, 10000));
	ASSERT_NO_TG_FAILURES();
	ASSERT_EQ(1, f.found);
	EXPECT_EQ(GORT_GSTATE_SYSCALL, f.state);
	EXPECT_TRUE(f.lo < f.sp && f.sp <= f.hi);
	EXPECT_LE((uintptr_t)f.sp, (uintptr_t)t12d_marker)
	TH_LOG("view sp %p is above a live frame at %p: [sp, hi) misses %td bytes of "
	       "the stack in use",
	       (void *)f.sp, (void *)t12d_marker, f.sp - t12d_marker);
}

/* A wired goroutine keeps working through stop-the-world storms. */
static int64_t t12e_iters;

/* Busy, but yielding often: a wired goroutine's yield goes through the global
 * queue, which a proc checks when its own queue is empty or every 61 ticks. */
static void t12e_busy(void *arg)
{
	while (!T_LOAD(&t12_stop)) {
		spin(300);
		gort_yield();
	}
}

static int t12e_stop;

static void t12e_locked(void *arg)
{
	gort_lock_os_thread();
	for (int i = 0; !T_LOAD(&t12e_stop); i++) {
		gort_yield();
		if (i % 20 == 0) {
			gort_waitgroup wg = GORT_WAITGROUP_INIT;

			gort_wg_add(&wg, 1);
			gort_go(t9_release, &wg);
			gort_wg_wait(&wg);
		}
		T_INC(&t12e_iters);
	}
	gort_unlock_os_thread();
	gort_wg_done(arg);
}

/*
 * Each round stops the world 10 times, then checks that the wired goroutine
 * still makes progress. A wired goroutine picked from a run queue by another
 * worker is handed to its own thread by that worker's scheduler loop; it must
 * not stay parked in a worker that stops for the world meanwhile (nobody
 * wakes that worker again while the other procs are busy).
 */
TEST_F_TIMEOUT(sched, locked_goroutine_survives_stop_the_world, 30)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	int64_t end = test_now_ns() + (GORT_TEST_SANITIZED ? 1000 : 2500) * 1000000LL;
	int rounds = 0;

	setenv("GORT_MAXPROCS", "2", 1);
	for (int i = 0; i < 3; i++) {
		ASSERT_GT(gort_go(t12e_busy, NULL), 0);
	}
	gort_wg_add(&wg, 1);
	ASSERT_GT(gort_go(t12e_locked, &wg), 0);
	while (test_now_ns() < end) {
		int64_t seen = T_LOAD(&t12e_iters);

		for (int i = 0; i < 10; i++, rounds++) {
			ASSERT_EQ(0, gort_stop_the_world("test"));
			gort_start_the_world();
		}
		ASSERT_TRUE(TEST_WAIT_UNTIL(T_LOAD(&t12e_iters) > seen, 2000))
		TH_LOG("after %d STW rounds the locked goroutine is stuck at %lld "
		       "iterations",
		       rounds, (long long)seen);
	}
	T_STORE(&t12e_stop, 1);
	ASSERT_TRUE(test_wg_wait_ms(&wg, 5000))
	TH_LOG("the locked goroutine is stuck after %lld iterations",
	       (long long)T_LOAD(&t12e_iters));
	T_STORE(&t12_stop, 1);
	TH_LOG("%d STW rounds, %lld locked iterations", rounds, (long long)T_LOAD(&t12e_iters));
}

/*
 * A worker that is spinning (looking for work) when the world stops must not
 * stay counted as spinning: while nspinning > 0 nobody wakes an idle proc for
 * new work, so goroutines readied after the restart would wait forever.
 */
static int64_t t12f_ran;

static void t12f_quick(void *arg)
{
	T_INC(&t12f_ran);
}

TEST(stop_the_world_does_not_leak_spinning_workers)
{
	struct gort_stats st;
	const int rounds = GORT_TEST_SANITIZED ? 100 : 400;

	setenv("GORT_MAXPROCS", "2", 1);
	for (int r = 0; r < rounds; r++) {
		/* wake a worker (it spins looking for more work), stop the world */
		ASSERT_GT(gort_go(t12f_quick, NULL), 0);
		ASSERT_GT(gort_go(t12f_quick, NULL), 0);
		ASSERT_EQ(0, gort_stop_the_world("test"));
		gort_start_the_world();
		/* new work from outside must still get a worker */
		ASSERT_GT(gort_go(t12f_quick, NULL), 0);
		ASSERT_TRUE(TEST_WAIT_UNTIL(T_LOAD(&t12f_ran) == 3 * (r + 1), 5000))
		TH_LOG("round %d: goroutines readied after a restart do not run (%lld of "
		       "%d ran; spinning workers %lld, idle procs %lld)",
		       r, (long long)T_LOAD(&t12f_ran), 3 * (r + 1),
		       (stats_now(&st), (long long)st.spinning_workers), (long long)st.idle_procs);
	}
	/* all idle: nobody may still count as spinning */
	EXPECT_TRUE(TEST_WAIT_UNTIL((stats_now(&st), st.spinning_workers == 0), 2000))
	TH_LOG("%lld workers still counted as spinning", (long long)st.spinning_workers);
}

/* ---------------------------------------------------------------------- */
/* 13. gort_main runs fn as goroutine 1 and returns its value. */

static int64_t t13_id;
static int t13_nested, t13_args_ok;
static int64_t t13_children;

static void t13_child(void *arg)
{
	T_INC(&t13_children);
	gort_wg_done(arg);
}

static int t13_main(int argc, char **argv)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;

	T_STORE(&t13_id, gort_id());
	T_STORE(&t13_nested, gort_main(t13_main, 0, NULL));
	T_STORE(&t13_args_ok, argc == 2 && strcmp(argv[0], "prog") == 0 &&
				      strcmp(argv[1], "arg") == 0 && argv[2] == NULL);
	for (int i = 0; i < 100; i++) {
		gort_wg_add(&wg, 1);
		gort_go(t13_child, &wg);
	}
	gort_wg_wait(&wg);
	return 40 + argc;
}

TEST(gort_main_returns_fn_value_as_goroutine_1)
{
	char a0[] = "prog", a1[] = "arg";
	char *argv[] = { a0, a1, NULL };

	ASSERT_EQ(42, gort_main(t13_main, 2, argv));
	EXPECT_EQ(1, T_LOAD(&t13_id));
	EXPECT_EQ(GORT_EPERM, T_LOAD(&t13_nested));
	EXPECT_EQ(1, T_LOAD(&t13_args_ok));
	EXPECT_EQ(100, T_LOAD(&t13_children));
	EXPECT_EQ(GORT_EINVAL, gort_main(NULL, 0, NULL));
	EXPECT_EQ(0, gort_id());
}

/* ---------------------------------------------------------------------- */
/* 14. Misuse is reported, not fatal. */

static int t14_ret[8];

static void t14_in_goroutine(void *arg)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;

	t14_ret[0] = gort_wg_add(&wg, -1);
	t14_ret[1] = strstr(gort_errmsg(), "negative") != NULL;
	t14_ret[2] = gort_wg_add(&wg, 2);
	t14_ret[3] = gort_wg_add(&wg, -3);
	t14_ret[4] = gort_wg_done(&wg) == 0 && gort_wg_done(&wg) == 0;
	gort_wg_wait(&wg); /* the counter is 0: returns */
	t14_ret[5] = gort_wg_done(&wg);
	gort_unlock_os_thread(); /* not locked: harmless */
	gort_syscall_exit();	 /* not in a region: harmless */
	gort_syscall_enter();
	gort_syscall_enter(); /* regions do not nest: ignored */
	gort_syscall_exit();
	t14_ret[6] = gort_id() > 0;
	gort_wg_done(arg);
}

TEST(misuse_returns_errors_and_foreign_calls_are_harmless)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT, done = GORT_WAITGROUP_INIT;

	/* Foreign thread, runtime not started. */
	EXPECT_EQ(0, gort_id());
	gort_yield();
	gort_syscall_enter();
	gort_syscall_exit();
	EXPECT_EQ(GORT_EINVAL, gort_wg_add(&wg, -1));
	EXPECT_NE(NULL, strstr(gort_errmsg(), "negative"));
	EXPECT_EQ(0, gort_wg_add(&wg, 2));
	EXPECT_EQ(GORT_EINVAL, gort_wg_add(&wg, -3));
	EXPECT_EQ(0, gort_wg_done(&wg));
	EXPECT_EQ(0, gort_wg_done(&wg));
	gort_wg_wait(&wg); /* counter 0: must not block */
	EXPECT_EQ(GORT_EINVAL, gort_wg_done(&wg));
	EXPECT_EQ(0, gort_num_goroutine());

	/* The same inside a goroutine. */
	gort_wg_add(&done, 1);
	ASSERT_GT(gort_go(t14_in_goroutine, &done), 0);
	ASSERT_TRUE(test_wg_wait_ms(&done, 10000));
	EXPECT_EQ(GORT_EINVAL, t14_ret[0]);
	EXPECT_EQ(1, t14_ret[1]);
	EXPECT_EQ(0, t14_ret[2]);
	EXPECT_EQ(GORT_EINVAL, t14_ret[3]);
	EXPECT_EQ(1, t14_ret[4]);
	EXPECT_EQ(GORT_EINVAL, t14_ret[5]);
	EXPECT_EQ(1, t14_ret[6]);

	/* Foreign thread, runtime running. */
	EXPECT_EQ(0, gort_id());
	gort_yield();
	gort_syscall_enter();
	gort_syscall_exit();
	EXPECT_EQ(0, gort_id());
}

/*
 * A rejected gort_wg_add must leave the counter unchanged for everyone, not
 * only for its caller: a concurrent legitimate Done must not fail, and a
 * waiter on a zero counter must not block.
 */
static gort_waitgroup t14b_wg;
static int t14b_stop;
static int64_t t14b_bogus_done, t14b_adds;

static void *t14b_bad_adder(void *arg)
{
	while (!T_LOAD(&t14b_stop))
		gort_wg_add(&t14b_wg, -1000000); /* always invalid */
	return NULL;
}

/* Races for up to 2 s, or until the first spurious failure. */
static void *t14b_good_user(void *arg)
{
	int64_t deadline = test_now_ns() + 1000000000LL;

	while (!T_LOAD(&t14b_stop) && !T_LOAD(&t14b_bogus_done) && test_now_ns() < deadline) {
		for (int i = 0; i < 1000; i++) {
			if (gort_wg_add(&t14b_wg, 1) != 0 || gort_wg_done(&t14b_wg) != 0)
				T_INC(&t14b_bogus_done);
		}
		T_ADD(&t14b_adds, 1000);
	}
	return NULL;
}

TEST(wg_rejected_add_is_invisible_to_others)
{
	pthread_t bad, good;
	int64_t start = test_now_ns();

	ASSERT_EQ(0, pthread_create(&bad, NULL, t14b_bad_adder, NULL));
	ASSERT_EQ(0, pthread_create(&good, NULL, t14b_good_user, NULL));
	pthread_join(good, NULL);
	T_STORE(&t14b_stop, 1);
	pthread_join(bad, NULL);
	EXPECT_EQ(0, T_LOAD(&t14b_bogus_done))
	TH_LOG("%lld of %lld legitimate Add/Done calls failed with EINVAL: a concurrent "
	       "rejected Add made the counter negative for a moment",
	       (long long)T_LOAD(&t14b_bogus_done), (long long)T_LOAD(&t14b_adds));
	TH_LOG("%lld Add/Done pairs in %.2f s", (long long)T_LOAD(&t14b_adds),
	       (double)(test_now_ns() - start) / 1e9);
}

static int64_t t14c_waits;

static void *t14c_waiter(void *arg)
{
	int64_t deadline = test_now_ns() + 1000000000LL;

	while (!T_LOAD(&t14b_stop) && test_now_ns() < deadline) {
		for (int i = 0; i < 1000; i++)
			gort_wg_wait(&t14b_wg); /* the counter is always 0 */
		T_ADD(&t14c_waits, 1000);
	}
	T_STORE(&t14b_stop, 2);
	return NULL;
}

TEST(wg_wait_on_zero_counter_never_blocks_during_rejected_add)
{
	pthread_t bad, waiter;
	bool ok;

	ASSERT_EQ(0, pthread_create(&bad, NULL, t14b_bad_adder, NULL));
	ASSERT_EQ(0, pthread_create(&waiter, NULL, t14c_waiter, NULL));
	ok = TEST_WAIT_UNTIL(T_LOAD(&t14b_stop) == 2, 4000);
	T_STORE(&t14b_stop, 1);
	pthread_join(bad, NULL);
	ASSERT_TRUE(ok)
	TH_LOG("gort_wg_wait blocked on a zero counter (after %lld waits): it "
	       "saw a concurrent rejected Add's transient negative count",
	       (long long)T_LOAD(&t14c_waits));
	pthread_join(waiter, NULL);
}

/*
 * A WaitGroup may be reused (or go out of scope) as soon as Wait returns:
 * the usual "gort_waitgroup wg on the stack; Add; go; Wait" in a loop. The
 * Done that brought the counter to zero must not touch the WaitGroup after
 * a waiter can have seen zero, or it takes the next round's waiters off the
 * list (an early or a lost wakeup) and writes to memory its owner reuses.
 */
#define T14D_WAITERS 2
static int t14d_stop;
static int64_t t14d_rounds[T14D_WAITERS], t14d_early;

struct t14d_job {
	gort_waitgroup *wg;
	int64_t *done_round;
	int64_t round;
};

static void t14d_worker(void *arg)
{
	struct t14d_job *job = arg;
	struct t14d_job copy = *job; /* job lives on the waiter's stack */

	T_STORE(copy.done_round, copy.round);
	gort_wg_done(copy.wg);
}

static void t14d_waiter(void *arg)
{
	int me = (int)(intptr_t)arg;
	int64_t done_round = -1;

	for (int64_t r = 0; !T_LOAD(&t14d_stop); r++) {
		gort_waitgroup wg = GORT_WAITGROUP_INIT; /* same address every round */
		struct t14d_job job = { &wg, &done_round, r };

		gort_wg_add(&wg, 1);
		if (gort_go(t14d_worker, &job) <= 0) {
			tg_fail(__FILE__, __LINE__, "spawn failed");
			break;
		}
		gort_wg_wait(&wg);
		if (T_LOAD(&done_round) != r) {
			T_INC(&t14d_early);
			/* the worker still uses job and wg: wait for it before reusing */
			while (T_LOAD(&done_round) != r)
				gort_yield();
		}
		T_STORE(&t14d_rounds[me], r + 1);
	}
}

/* A short harness timeout: under TSan a runtime failure here can hang the child. */
TEST_F_TIMEOUT(sched, wg_reused_right_after_wait, 8)
{
	int64_t deadline, seen[T14D_WAITERS] = { 0 };

	setenv("GORT_MAXPROCS", "2", 1);
	for (int i = 0; i < T14D_WAITERS; i++) {
		ASSERT_GT(gort_go(t14d_waiter, (void *)(intptr_t)i), 0);
	}
	deadline = test_now_ns() + (GORT_TEST_SANITIZED ? 1000 : 1500) * 1000000LL;
	while (test_now_ns() < deadline && !T_LOAD(&t14d_early)) {
		for (int i = 0; i < T14D_WAITERS; i++) {
			int64_t r = T_LOAD(&t14d_rounds[i]);

			ASSERT_TRUE(TEST_WAIT_UNTIL(T_LOAD(&t14d_rounds[i]) > r, 3000))
			TH_LOG("waiter %d is stuck in round %lld (lost wakeup)", i, (long long)r);
			seen[i] = T_LOAD(&t14d_rounds[i]);
		}
		usleep(10000);
	}
	T_STORE(&t14d_stop, 1);
	ASSERT_NO_TG_FAILURES();
	EXPECT_EQ(0, T_LOAD(&t14d_early))
	TH_LOG("gort_wg_wait returned before the counter reached zero: a late Done of "
	       "the previous round woke this round's waiter");
	TH_LOG("%lld + %lld rounds", (long long)seen[0], (long long)seen[1]);
}

/* ---------------------------------------------------------------------- */
/* 15. Foreign threads join goroutines' work and goroutines join threads'. */

#define T15_G 200
#define T15_T 3
static int64_t t15_work;
static int64_t t15_thread_saw[T15_T];
static int64_t t15_goroutine_saw;

static void t15_worker(void *arg)
{
	for (int i = 0; i < 5; i++)
		gort_yield();
	T_INC(&t15_work);
	gort_wg_done(arg);
}

struct t15_arg {
	gort_waitgroup *wg;
	int idx;
};

static void *t15_thread(void *arg)
{
	struct t15_arg *a = arg;

	gort_wg_wait(a->wg);
	T_STORE(&t15_thread_saw[a->idx], T_LOAD(&t15_work));
	return NULL;
}

static gort_waitgroup t15_from_thread;

static void t15_goroutine_waiter(void *arg)
{
	gort_wg_wait(arg);
	T_STORE(&t15_goroutine_saw, T_LOAD(&t15_work));
	gort_wg_wait(&t15_from_thread); /* released by a foreign thread */
}

TEST(foreign_threads_wait_for_goroutines)
{
	setenv("GORT_MAXPROCS", "2", 1);
	for (int round = 0; round < 20; round++) {
		gort_waitgroup wg = GORT_WAITGROUP_INIT;
		struct t15_arg args[T15_T];
		pthread_t th[T15_T];

		T_STORE(&t15_work, 0);
		T_STORE(&t15_goroutine_saw, -1);
		memset(&t15_from_thread, 0, sizeof(t15_from_thread));
		gort_wg_add(&t15_from_thread, 1);
		gort_wg_add(&wg, T15_G);
		for (int i = 0; i < T15_T; i++) {
			args[i] = (struct t15_arg){ &wg, i };
			T_STORE(&t15_thread_saw[i], -1);
			ASSERT_EQ(0, pthread_create(&th[i], NULL, t15_thread, &args[i]));
		}
		ASSERT_GT(gort_go(t15_goroutine_waiter, &wg), 0);
		for (int i = 0; i < T15_G; i++) {
			ASSERT_GT(gort_go(t15_worker, &wg), 0);
		}
		for (int i = 0; i < T15_T; i++)
			pthread_join(th[i], NULL);
		for (int i = 0; i < T15_T; i++) {
			ASSERT_EQ(T15_G, T_LOAD(&t15_thread_saw[i])) TH_LOG("round %d", round);
		}
		ASSERT_TRUE(TEST_WAIT_UNTIL(T_LOAD(&t15_goroutine_saw) == T15_G, 10000));
		/* now a thread releases a waiting goroutine */
		ASSERT_EQ(0, gort_wg_done(&t15_from_thread));
		ASSERT_TRUE(TEST_WAIT_UNTIL(gort_num_goroutine() == 0, 10000))
		TH_LOG("round %d: the goroutine waiting on the thread's WaitGroup "
		       "did not finish",
		       round);
	}
}

TEST_HARNESS_MAIN
