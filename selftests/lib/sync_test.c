// SPDX-License-Identifier: MIT
/*
 * sync: Mutex (mutual exclusion, starvation mode, trylock, misuse), RWMutex
 * (shared readers, exclusive writers, writer preference, misuse), Once, Cond
 * (FIFO signal, broadcast), Pool (reuse, drain, the scavenger dropping idle
 * pools and all pools when RSS doubles, no object handed out twice), and all
 * of them from foreign threads (plain pthreads).
 *
 * As in sched_test.c: every TEST runs in a fresh child process; goroutines
 * and helper threads record failures with TG_CHECK and the test thread
 * asserts ASSERT_NO_TG_FAILURES(); waits that a library bug could make hang
 * go through test_wg_wait_ms()/TEST_WAIT_UNTIL().
 */
#include <poll.h>
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

/* Busy for ns without any runtime call (no switch, no preemption point). */
static void busy_ns(int64_t ns)
{
	int64_t end = test_now_ns() + ns;

	while (test_now_ns() < end)
		;
}

static void spawn_n(int n, void (*fn)(void *), void *arg, gort_waitgroup *wg)
{
	for (int i = 0; i < n; i++) {
		gort_wg_add(wg, 1);
		if (gort_go(fn, arg) <= 0) {
			tg_fail(__FILE__, __LINE__, "gort_go: %s", gort_errmsg());
			gort_wg_done(wg);
		}
	}
}

static void atomic_max(int64_t *p, int64_t v)
{
	int64_t old = T_LOAD(p);

	while (v > old &&
	       !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		;
}

static int cmp_int64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/*
 * Runs fn in a child process with stderr captured; returns its wait status
 * and its stderr in out. For fatal errors (abort) that must not take the
 * test process down.
 */
static int run_captured(void (*fn)(void), char *out, size_t outsz)
{
	int fds[2], st = 0;
	size_t len = 0;
	pid_t pid;

	if (pipe(fds) != 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], 2);
		close(fds[1]);
		fn();
		_exit(0);
	}
	close(fds[1]);
	for (;;) {
		ssize_t r = read(fds[0], out + len, outsz - 1 - len);

		if (r <= 0 || len + (size_t)r >= outsz - 1) {
			if (r > 0)
				len += (size_t)r;
			break;
		}
		len += (size_t)r;
	}
	out[len] = '\0';
	close(fds[0]);
	waitpid(pid, &st, 0);
	return st;
}

#define ASSERT_ABORTS_WITH(fn, msg)                                                  \
	do {                                                                         \
		char out_[4096];                                                     \
		int st_ = run_captured(fn, out_, sizeof(out_));                      \
		ASSERT_TRUE(WIFSIGNALED(st_) && WTERMSIG(st_) == SIGABRT)            \
		TH_LOG("child status %#x, stderr: %s", st_, out_);                   \
		ASSERT_NE(NULL, strstr(out_, msg)) TH_LOG("child stderr: %s", out_); \
	} while (0)

/* ---------------------------------------------------------------------- */
/* Mutex */

#define MX_G 64
#define MX_ITERS GORT_TEST_SCALE(20000)

static gort_mutex mx_m = GORT_MUTEX_INIT;
static long mx_counter; /* plain: only the mutex protects it */
static int mx_inside, mx_violations;

static void mx_critical(void)
{
	if (T_INC(&mx_inside) != 1)
		T_INC(&mx_violations);
	mx_counter++;
	T_ADD(&mx_inside, -1);
}

static void mx_body(void *arg)
{
	for (int i = 0; i < MX_ITERS; i++) {
		gort_mutex_lock(&mx_m);
		mx_critical();
		/* Now and then switch while holding it: waiters must park. */
		if (i % 512 == 0)
			gort_yield();
		gort_mutex_unlock(&mx_m);
	}
	gort_wg_done(arg);
}

TEST(mutex_excludes_64_goroutines_on_2_procs)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;

	setenv("GORT_MAXPROCS", "2", 1);
	spawn_n(MX_G, mx_body, &wg, &wg);
	ASSERT_TRUE(test_wg_wait_ms(&wg, 20000)) TH_LOG("lost wakeup? counter %ld", mx_counter);
	ASSERT_NO_TG_FAILURES();
	EXPECT_EQ(0, T_LOAD(&mx_violations));
	EXPECT_EQ((long)MX_G * MX_ITERS, mx_counter);
	EXPECT_EQ(0, mx_m.state_);
}

/* Plain pthreads and goroutines on the same mutex (issue item 7). */
#define FX_THREADS 4
#define FX_ITERS GORT_TEST_SCALE(50000)

static void *fx_thread(void *arg)
{
	(void)arg;
	for (int i = 0; i < FX_ITERS; i++) {
		gort_mutex_lock(&mx_m);
		mx_critical();
		if (i % 1024 == 0)
			usleep(10); /* hold it across a real sleep */
		gort_mutex_unlock(&mx_m);
	}
	return NULL;
}

static void fx_body(void *arg)
{
	for (int i = 0; i < FX_ITERS; i++) {
		gort_mutex_lock(&mx_m);
		mx_critical();
		if (i % 1024 == 0)
			gort_yield();
		gort_mutex_unlock(&mx_m);
	}
	gort_wg_done(arg);
}

TEST(mutex_shared_by_foreign_threads_and_goroutines)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	pthread_t t[FX_THREADS];

	setenv("GORT_MAXPROCS", "2", 1);
	spawn_n(8, fx_body, &wg, &wg);
	for (int i = 0; i < FX_THREADS; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, fx_thread, NULL));
	for (int i = 0; i < FX_THREADS; i++)
		pthread_join(t[i], NULL);
	ASSERT_TRUE(test_wg_wait_ms(&wg, 20000));
	ASSERT_NO_TG_FAILURES();
	EXPECT_EQ(0, T_LOAD(&mx_violations));
	EXPECT_EQ((long)(8 + FX_THREADS) * FX_ITERS, mx_counter);
}

/*
 * Starvation: two hogs (foreign threads, so always on a CPU) each hold the
 * mutex for 50 us at a time and take it again right after unlocking; while
 * one unlocks, the other is spinning for it. In normal mode a woken waiter
 * almost always loses that race; after 1 ms it switches the mutex to
 * starvation mode and gets it handed over. Without starvation mode the
 * waiter would wait until the hogs stop (3 s).
 */
#define SV_ROUNDS 10

static gort_mutex sv_m = GORT_MUTEX_INIT;
static int sv_done;
static int64_t sv_max_wait, sv_rounds, sv_starving;

static void sv_waiter(void *arg)
{
	/* At least SV_ROUNDS, more until the hogs have seen starvation mode. */
	for (int i = 0; i < SV_ROUNDS || (!T_LOAD(&sv_starving) && i < 20 * SV_ROUNDS); i++) {
		int64_t t0;

		busy_ns(200000);
		t0 = test_now_ns();
		gort_mutex_lock(&sv_m);
		atomic_max(&sv_max_wait, test_now_ns() - t0);
		gort_mutex_unlock(&sv_m);
	}
	T_STORE(&sv_done, 1);
	gort_wg_done(arg);
}

static void *sv_hog(void *arg)
{
	int64_t deadline = test_now_ns() + 3000000000LL;

	(void)arg;
	while (!T_LOAD(&sv_done) && test_now_ns() < deadline) {
		gort_mutex_lock(&sv_m);
		busy_ns(50000);
		/* The waiter sets it while it waits, the last waiter clears
		 * it when handed the mutex: look before unlocking. */
		if (__atomic_load_n(&sv_m.state_, __ATOMIC_RELAXED) & 4)
			T_INC(&sv_starving);
		gort_mutex_unlock(&sv_m);
		T_INC(&sv_rounds);
	}
	return NULL;
}

TEST(mutex_starvation_mode_bounds_the_wait)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	pthread_t t[2];

	setenv("GORT_MAXPROCS", "2", 1);
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, sv_hog, NULL));
	ASSERT_TRUE(TEST_WAIT_UNTIL(T_LOAD(&sv_rounds) > 10, 5000));
	spawn_n(1, sv_waiter, &wg, &wg);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ASSERT_TRUE(test_wg_wait_ms(&wg, 20000));
	ASSERT_NO_TG_FAILURES();
	TH_LOG("waiter's longest wait %.2f ms; hog rounds %lld, %lld of them ending starving",
	       (double)sv_max_wait / 1e6, (long long)sv_rounds, (long long)sv_starving);
	EXPECT_TRUE(T_LOAD(&sv_done)) TH_LOG("the waiter did not finish in 3 s");
	EXPECT_GT(sv_starving, 0) TH_LOG("starvation mode never entered");
	/* Loose: the OS time-slices the hogs and the workers on few CPUs. */
	EXPECT_LT(sv_max_wait, (GORT_TEST_SANITIZED ? 3000 : 1000) * 1000000LL);
	EXPECT_EQ(0, sv_m.state_);
}

static gort_mutex tl_m = GORT_MUTEX_INIT;
static int tl_result = -1;

static void tl_body(void *arg)
{
	T_STORE(&tl_result, gort_mutex_trylock(&tl_m) ? 1 : 0);
	gort_wg_done(arg);
}

TEST(mutex_trylock)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;

	ASSERT_TRUE(gort_mutex_trylock(&tl_m));
	ASSERT_FALSE(gort_mutex_trylock(&tl_m));
	spawn_n(1, tl_body, &wg, &wg);
	ASSERT_TRUE(test_wg_wait_ms(&wg, 5000));
	ASSERT_EQ(0, T_LOAD(&tl_result)) TH_LOG("a goroutine took a locked mutex");
	gort_mutex_unlock(&tl_m);
	spawn_n(1, tl_body, &wg, &wg);
	ASSERT_TRUE(test_wg_wait_ms(&wg, 5000));
	ASSERT_EQ(1, T_LOAD(&tl_result));
	/* The goroutine's lock is released by this thread: allowed, as in Go. */
	gort_mutex_unlock(&tl_m);
	ASSERT_EQ(0, tl_m.state_);
}

static void unlock_unlocked_mutex(void)
{
	gort_mutex m = GORT_MUTEX_INIT;

	gort_mutex_lock(&m);
	gort_mutex_unlock(&m);
	gort_mutex_unlock(&m);
}

static void runlock_unlocked_rwmutex(void)
{
	gort_rwmutex rw = GORT_RWMUTEX_INIT;

	gort_rwmutex_runlock(&rw);
}

static void unlock_unlocked_rwmutex(void)
{
	gort_rwmutex rw = GORT_RWMUTEX_INIT;

	gort_rwmutex_rlock(&rw);
	gort_rwmutex_runlock(&rw);
	gort_rwmutex_unlock(&rw);
}

static void runlock_write_locked_rwmutex(void)
{
	gort_rwmutex rw = GORT_RWMUTEX_INIT;

	gort_rwmutex_lock(&rw);
	gort_rwmutex_runlock(&rw);
}

TEST(unlock_of_unlocked_aborts)
{
	ASSERT_ABORTS_WITH(unlock_unlocked_mutex, "gort: fatal: sync: unlock of unlocked mutex");
	ASSERT_ABORTS_WITH(runlock_unlocked_rwmutex, "sync: runlock of unlocked rwmutex");
	ASSERT_ABORTS_WITH(unlock_unlocked_rwmutex, "sync: unlock of unlocked rwmutex");
	ASSERT_ABORTS_WITH(runlock_write_locked_rwmutex, "sync: runlock of unlocked rwmutex");
}

/* ---------------------------------------------------------------------- */
/* RWMutex */

#define RR_READERS 8

static gort_rwmutex rr_rw = GORT_RWMUTEX_INIT;
static int rr_inside;
static int64_t rr_max_inside;

/* Every reader waits inside until all are inside: it hangs (and fails on
 * the timeout) unless readers really share the lock. */
static void rr_reader(void *arg)
{
	int64_t deadline = test_now_ns() + 5000000000LL;

	gort_rwmutex_rlock(&rr_rw);
	atomic_max(&rr_max_inside, T_INC(&rr_inside));
	while (T_LOAD(&rr_inside) < RR_READERS + 1 && test_now_ns() < deadline)
		gort_yield();
	gort_rwmutex_runlock(&rr_rw);
	gort_wg_done(arg);
}

TEST(rwmutex_readers_share_it)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;

	setenv("GORT_MAXPROCS", "2", 1);
	/* This thread is one more reader (a foreign one). */
	gort_rwmutex_rlock(&rr_rw);
	T_INC(&rr_inside);
	ASSERT_TRUE(gort_rwmutex_tryrlock(&rr_rw));
	gort_rwmutex_runlock(&rr_rw);
	ASSERT_FALSE(gort_rwmutex_trylock(&rr_rw));
	spawn_n(RR_READERS, rr_reader, &wg, &wg);
	EXPECT_TRUE(TEST_WAIT_UNTIL(T_LOAD(&rr_max_inside) == RR_READERS + 1, 10000));
	gort_rwmutex_runlock(&rr_rw);
	ASSERT_TRUE(test_wg_wait_ms(&wg, 10000));
	ASSERT_NO_TG_FAILURES();
	EXPECT_EQ(RR_READERS + 1, T_LOAD(&rr_max_inside));
	ASSERT_TRUE(gort_rwmutex_trylock(&rr_rw));
	ASSERT_FALSE(gort_rwmutex_tryrlock(&rr_rw));
	gort_rwmutex_unlock(&rr_rw);
}

/* Writers exclude readers and each other, goroutines and threads mixed. */
#define RW_ITERS GORT_TEST_SCALE(20000)

static gort_rwmutex rw_rw = GORT_RWMUTEX_INIT;
static int rw_readers, rw_writers, rw_violations;
static long rw_value; /* plain: written under the write lock only */

static void rw_op(int i)
{
	if (i % 8 == 0) {
		gort_rwmutex_lock(&rw_rw);
		if (T_INC(&rw_writers) != 1 || T_LOAD(&rw_readers) != 0)
			T_INC(&rw_violations);
		rw_value++;
		T_ADD(&rw_writers, -1);
		gort_rwmutex_unlock(&rw_rw);
	} else {
		gort_rwmutex_rlock(&rw_rw);
		T_INC(&rw_readers);
		if (T_LOAD(&rw_writers) != 0)
			T_INC(&rw_violations);
		(void)*(volatile long *)&rw_value;
		T_ADD(&rw_readers, -1);
		gort_rwmutex_runlock(&rw_rw);
	}
}

static void rw_body(void *arg)
{
	for (int i = 0; i < RW_ITERS; i++) {
		rw_op(i);
		if (i % 256 == 0)
			gort_yield();
	}
	gort_wg_done(arg);
}

static void *rw_thread(void *arg)
{
	(void)arg;
	for (int i = 0; i < RW_ITERS; i++)
		rw_op(i);
	return NULL;
}

TEST(rwmutex_writer_excludes_readers_and_writers)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	pthread_t t[2];

	setenv("GORT_MAXPROCS", "2", 1);
	spawn_n(16, rw_body, &wg, &wg);
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, rw_thread, NULL));
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ASSERT_TRUE(test_wg_wait_ms(&wg, 20000));
	ASSERT_NO_TG_FAILURES();
	EXPECT_EQ(0, T_LOAD(&rw_violations));
	EXPECT_EQ((long)18 * ((RW_ITERS + 7) / 8), rw_value);
	EXPECT_EQ(0, rw_rw.reader_count_);
	EXPECT_EQ(0, rw_rw.w_.state_);
}

/*
 * Writer preference: reader threads overlap continuously (each holds the
 * read lock 200 us, four of them), so a writer that waited for a moment
 * without readers would wait long. With Go's algorithm a pending writer
 * stops new readers: it waits only for those inside, each of which enters
 * at most once during its wait. The test can only count entries between its
 * clock reading and the lock's return, not from the moment the writer is
 * announced: an OS thread descheduled in between (four reader threads on two
 * CPUs, or a TCG guest) lets readers in legitimately. So the bound is checked
 * on the median round; without writer preference every round sees many.
 */
#define WP_READERS 4
#define WP_ROUNDS 20

static gort_rwmutex wp_rw = GORT_RWMUTEX_INIT;
static int wp_stop;
static int64_t wp_entries, wp_max_wait, wp_round_entries[WP_ROUNDS];

static void *wp_reader(void *arg)
{
	(void)arg;
	while (!T_LOAD(&wp_stop)) {
		gort_rwmutex_rlock(&wp_rw);
		T_INC(&wp_entries);
		busy_ns(200000);
		gort_rwmutex_runlock(&wp_rw);
	}
	return NULL;
}

static void wp_writer(void *arg)
{
	for (int i = 0; i < WP_ROUNDS; i++) {
		int64_t e0 = T_LOAD(&wp_entries), t0 = test_now_ns();

		gort_rwmutex_lock(&wp_rw);
		atomic_max(&wp_max_wait, test_now_ns() - t0);
		wp_round_entries[i] = T_LOAD(&wp_entries) - e0;
		gort_rwmutex_unlock(&wp_rw);
		busy_ns(500000);
	}
	gort_wg_done(arg);
}

TEST(rwmutex_writer_not_starved_by_readers)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	pthread_t t[WP_READERS];

	setenv("GORT_MAXPROCS", "2", 1);
	for (int i = 0; i < WP_READERS; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, wp_reader, NULL));
	ASSERT_TRUE(TEST_WAIT_UNTIL(T_LOAD(&wp_entries) > 100, 5000));
	spawn_n(1, wp_writer, &wg, &wg);
	ASSERT_TRUE(test_wg_wait_ms(&wg, 20000));
	T_STORE(&wp_stop, 1);
	for (int i = 0; i < WP_READERS; i++)
		pthread_join(t[i], NULL);
	ASSERT_NO_TG_FAILURES();
	qsort(wp_round_entries, WP_ROUNDS, sizeof(wp_round_entries[0]), cmp_int64);
	TH_LOG("writer's longest wait %.2f ms; reader entries during a wait: median %lld, max %lld",
	       (double)wp_max_wait / 1e6, (long long)wp_round_entries[WP_ROUNDS / 2],
	       (long long)wp_round_entries[WP_ROUNDS - 1]);
	EXPECT_LE(wp_round_entries[WP_ROUNDS / 2], WP_READERS);
	/* Loose: readers inside may be descheduled (more threads than CPUs);
	 * a starved writer would wait until the test's timeout. */
	EXPECT_LT(wp_max_wait, (GORT_TEST_SANITIZED ? 6000 : 2000) * 1000000LL);
}

/* ---------------------------------------------------------------------- */
/* Once */

#define ON_G 64

static gort_once on_once = GORT_ONCE_INIT;
static int on_calls, on_bad;
static long on_table[64]; /* plain: written by fn, read after gort_once_do */

static void on_init(void *arg)
{
	T_INC(&on_calls);
	gort_yield(); /* let the others pile up on the slow path */
	busy_ns(1000000);
	for (int i = 0; i < 64; i++)
		on_table[i] = (long)(intptr_t)arg + i;
}

static void on_body(void *arg)
{
	gort_once_do(&on_once, on_init, (void *)(intptr_t)1000);
	for (int i = 0; i < 64; i++)
		if (on_table[i] != 1000 + i)
			T_INC(&on_bad);
	gort_wg_done(arg);
}

TEST(once_runs_once_under_contention)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;

	setenv("GORT_MAXPROCS", "2", 1);
	spawn_n(ON_G, on_body, &wg, &wg);
	/* And a foreign caller, which may be the one that runs fn. */
	gort_once_do(&on_once, on_init, (void *)(intptr_t)1000);
	for (int i = 0; i < 64; i++)
		EXPECT_EQ(1000 + i, on_table[i]);
	ASSERT_TRUE(test_wg_wait_ms(&wg, 10000));
	ASSERT_NO_TG_FAILURES();
	EXPECT_EQ(1, T_LOAD(&on_calls));
	EXPECT_EQ(0, T_LOAD(&on_bad));
}

/* ---------------------------------------------------------------------- */
/* Cond */

#define CF_N 16

static gort_mutex cf_m = GORT_MUTEX_INIT;
static gort_cond cf_c = GORT_COND_INIT;
static int cf_waiting, cf_woken;
static int cf_order[CF_N];

struct cf_arg {
	int idx;
	gort_waitgroup *wg;
};

static void cf_waiter(void *p)
{
	struct cf_arg *a = p;

	gort_mutex_lock(&cf_m);
	T_INC(&cf_waiting);
	gort_cond_wait(&cf_c, &cf_m);
	cf_order[cf_woken] = a->idx;
	T_INC(&cf_woken);
	gort_mutex_unlock(&cf_m);
	gort_wg_done(a->wg);
}

TEST(cond_signal_wakes_in_fifo_order)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	struct cf_arg args[CF_N];

	setenv("GORT_MAXPROCS", "2", 1);
	/* Queue them one by one: waiter i takes its ticket before i+1. */
	for (int i = 0; i < CF_N; i++) {
		args[i] = (struct cf_arg){ i, &wg };
		gort_wg_add(&wg, 1);
		ASSERT_GT(gort_go(cf_waiter, &args[i]), 0);
		ASSERT_TRUE(TEST_WAIT_UNTIL(T_LOAD(&cf_waiting) == i + 1, 5000));
	}
	/* Signal without holding the mutex, one at a time. */
	for (int i = 0; i < CF_N; i++) {
		gort_cond_signal(&cf_c);
		ASSERT_TRUE(TEST_WAIT_UNTIL(T_LOAD(&cf_woken) == i + 1, 5000))
		TH_LOG("signal %d woke nobody", i);
		usleep(2000);
		ASSERT_EQ(i + 1, T_LOAD(&cf_woken)) TH_LOG("signal %d woke more than one", i);
		gort_mutex_lock(&cf_m);
		EXPECT_EQ(i, cf_order[i]);
		gort_mutex_unlock(&cf_m);
	}
	ASSERT_TRUE(test_wg_wait_ms(&wg, 5000));
	/* Nobody waits: a signal is not remembered. */
	gort_cond_signal(&cf_c);
	gort_cond_broadcast(&cf_c);
	EXPECT_EQ(cf_c.wait_, cf_c.notify_);
}

#define CB_N 100

static gort_mutex cb_m = GORT_MUTEX_INIT;
static gort_cond cb_c = GORT_COND_INIT;
static int cb_go, cb_waiting;

static void cb_waiter(void *arg)
{
	gort_mutex_lock(&cb_m);
	T_INC(&cb_waiting);
	while (!cb_go)
		gort_cond_wait(&cb_c, &cb_m);
	gort_mutex_unlock(&cb_m);
	gort_wg_done(arg);
}

static void *cb_thread(void *arg)
{
	cb_waiter(arg);
	return NULL;
}

TEST(cond_broadcast_wakes_all)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	pthread_t t[2];

	setenv("GORT_MAXPROCS", "2", 1);
	spawn_n(CB_N, cb_waiter, &wg, &wg);
	for (int i = 0; i < 2; i++) {
		gort_wg_add(&wg, 1);
		ASSERT_EQ(0, pthread_create(&t[i], NULL, cb_thread, &wg));
	}
	ASSERT_TRUE(TEST_WAIT_UNTIL(T_LOAD(&cb_waiting) == CB_N + 2, 5000));
	usleep(2000);
	gort_mutex_lock(&cb_m);
	cb_go = 1;
	gort_mutex_unlock(&cb_m);
	gort_cond_broadcast(&cb_c);
	ASSERT_TRUE(test_wg_wait_ms(&wg, 10000)) TH_LOG("a waiter missed the broadcast");
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
}

/* A foreign thread and a goroutine take turns through one cond. */
#define CP_ROUNDS GORT_TEST_SCALE(20000)

static gort_mutex cp_m = GORT_MUTEX_INIT;
static gort_cond cp_c = GORT_COND_INIT;
static long cp_turn; /* even: the thread's turn, odd: the goroutine's */

static void cp_play(long parity)
{
	for (long i = 0; i < CP_ROUNDS; i++) {
		gort_mutex_lock(&cp_m);
		while ((cp_turn & 1) != parity)
			gort_cond_wait(&cp_c, &cp_m);
		cp_turn++;
		gort_cond_signal(&cp_c);
		gort_mutex_unlock(&cp_m);
	}
}

static void cp_goroutine(void *arg)
{
	cp_play(1);
	gort_wg_done(arg);
}

static void *cp_thread(void *arg)
{
	(void)arg;
	cp_play(0);
	return NULL;
}

TEST(cond_between_a_foreign_thread_and_a_goroutine)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	pthread_t t;

	setenv("GORT_MAXPROCS", "2", 1);
	spawn_n(1, cp_goroutine, &wg, &wg);
	ASSERT_EQ(0, pthread_create(&t, NULL, cp_thread, NULL));
	ASSERT_TRUE(test_wg_wait_ms(&wg, 20000)) TH_LOG("stuck at turn %ld", cp_turn);
	pthread_join(t, NULL);
	EXPECT_EQ(2L * CP_ROUNDS, cp_turn);
}

/* ---------------------------------------------------------------------- */
/* Pool */

static int pl_news, pl_frees;

static void *pl_new(void)
{
	T_INC(&pl_news);
	return calloc(1, 64);
}

static void pl_free(void *obj)
{
	T_INC(&pl_frees);
	free(obj);
}

struct pl_arg {
	gort_pool *pool;
	gort_waitgroup *wg;
};

static void pl_reuse_body(void *p)
{
	struct pl_arg *a = p;

	for (int i = 0; i < 100; i++) {
		void *x = gort_pool_get(a->pool), *y;

		TG_CHECK(x != NULL);
		gort_pool_put(a->pool, x);
		y = gort_pool_get(a->pool);
		if (y != x)
			tg_fail(__FILE__, __LINE__, "round %d: put %p, got %p", i, x, y);
		gort_pool_put(a->pool, y);
	}
	gort_wg_done(a->wg);
}

TEST(pool_reuses_on_the_same_proc_and_drains)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	gort_pool *pool = gort_pool_new(pl_new, pl_free);
	struct pl_arg a = { pool, &wg };
	void *objs[100];

	ASSERT_NE(NULL, pool);
	setenv("GORT_MAXPROCS", "1", 1);
	spawn_n(1, pl_reuse_body, &a, &wg);
	ASSERT_TRUE(test_wg_wait_ms(&wg, 5000));
	ASSERT_NO_TG_FAILURES();
	EXPECT_EQ(1, T_LOAD(&pl_news));

	/* A foreign thread uses the shared lists only (the goroutine's object
	 * stays in proc 0's private slot): 100 objects in, 100 out. */
	for (int i = 0; i < 100; i++)
		objs[i] = gort_pool_get(pool);
	EXPECT_EQ(101, T_LOAD(&pl_news));
	for (int i = 0; i < 100; i++)
		gort_pool_put(pool, objs[i]);
	gort_pool_put(pool, NULL);
	for (int i = 0; i < 100; i++)
		objs[i] = gort_pool_get(pool);
	EXPECT_EQ(101, T_LOAD(&pl_news)) TH_LOG("cached objects were not reused");
	for (int i = 0; i < 100; i++)
		gort_pool_put(pool, objs[i]);

	gort_pool_drain_all();
	EXPECT_EQ(101, T_LOAD(&pl_frees));
	objs[0] = gort_pool_get(pool);
	EXPECT_EQ(102, T_LOAD(&pl_news)) TH_LOG("get after a drain did not call new_fn");
	gort_pool_put(pool, objs[0]);
	gort_pool_free(pool);
	EXPECT_EQ(102, T_LOAD(&pl_frees));

	/* Without new_fn an empty pool returns NULL. */
	pool = gort_pool_new(NULL, NULL);
	ASSERT_NE(NULL, pool);
	EXPECT_EQ(NULL, gort_pool_get(pool));
	gort_pool_free(pool);
}

TEST(pool_idle_cache_is_dropped_by_the_scavenger)
{
	gort_pool *idle = gort_pool_new(pl_new, pl_free);
	void *objs[50];
	int64_t t0;

	ASSERT_NE(NULL, idle);
	for (int i = 0; i < 50; i++)
		objs[i] = gort_pool_get(idle);
	for (int i = 0; i < 50; i++)
		gort_pool_put(idle, objs[i]);
	t0 = test_now_ns();
	/* The scavenger runs in sysmon: start the runtime. */
	ASSERT_EQ(0, gort_init());
	ASSERT_TRUE(TEST_WAIT_UNTIL(T_LOAD(&pl_frees) == 50, 6000))
	TH_LOG("%d of 50 idle objects dropped after 6 s", T_LOAD(&pl_frees));
	TH_LOG("dropped after %.2f s", (double)(test_now_ns() - t0) / 1e9);
	EXPECT_GE(test_now_ns() - t0, 1000000000LL) TH_LOG("dropped while not idle long");
	gort_pool_free(idle);
}

/* A pool in use is dropped too when RSS doubles (Go: every GC cycle). */
static int rs_stop;

static void *rs_user(void *arg)
{
	gort_pool *pool = arg;

	while (!T_LOAD(&rs_stop)) {
		gort_pool_put(pool, gort_pool_get(pool));
		usleep(20000);
	}
	return NULL;
}

TEST(pool_cache_is_dropped_when_rss_doubles)
{
	gort_pool *pool = gort_pool_new(pl_new, pl_free);
	long rss0, grow;
	void *objs[50];
	char *ballast;
	pthread_t t;
	int64_t t0;

	ASSERT_NE(NULL, pool);
	for (int i = 0; i < 50; i++)
		objs[i] = gort_pool_get(pool);
	for (int i = 0; i < 50; i++)
		gort_pool_put(pool, objs[i]);
	/* Keeps the pool in use: the idle rule must not be what drops it. */
	ASSERT_EQ(0, pthread_create(&t, NULL, rs_user, pool));
	ASSERT_EQ(0, gort_init());
	/* Let the scavenger take its first look (it notes the RSS). */
	usleep(200000);
	EXPECT_EQ(0, T_LOAD(&pl_frees));
	rss0 = test_rss_bytes();
	ASSERT_GT(rss0, 0);
	grow = 2 * (rss0 > (4L << 20) ? rss0 : (4L << 20)) + (16L << 20);
	ballast = malloc((size_t)grow);
	ASSERT_NE(NULL, ballast);
	memset(ballast, 1, (size_t)grow);
	t0 = test_now_ns();
	EXPECT_TRUE(TEST_WAIT_UNTIL(T_LOAD(&pl_frees) >= 49, 3000))
	TH_LOG("%d of 50 objects dropped 3 s after RSS went from %ld to %ld MiB", T_LOAD(&pl_frees),
	       rss0 >> 20, test_rss_bytes() >> 20);
	TH_LOG("dropped %.2f s after the growth", (double)(test_now_ns() - t0) / 1e9);
	T_STORE(&rs_stop, 1);
	pthread_join(t, NULL);
	free(ballast);
	gort_pool_free(pool);
}

/* Many goroutines and threads: no object is ever handed out twice. */
#define PS_G 32
#define PS_ITERS GORT_TEST_SCALE(20000)

struct ps_obj {
	int in_use;
	int pad[15];
};

static int ps_news, ps_double;

static void *ps_new(void)
{
	T_INC(&ps_news);
	return calloc(1, sizeof(struct ps_obj));
}

static void ps_use(gort_pool *pool, int i)
{
	struct ps_obj *o[3];
	int n = 1 + i % 3;

	for (int k = 0; k < n; k++) {
		o[k] = gort_pool_get(pool);
		if (T_ADD(&o[k]->in_use, 1) != 1)
			T_INC(&ps_double);
	}
	for (int k = 0; k < n; k++) {
		T_ADD(&o[k]->in_use, -1);
		gort_pool_put(pool, o[k]);
	}
}

static void ps_body(void *p)
{
	struct pl_arg *a = p;

	for (int i = 0; i < PS_ITERS; i++) {
		ps_use(a->pool, i);
		if (i % 64 == 0)
			gort_yield();
	}
	gort_wg_done(a->wg);
}

static void *ps_thread(void *p)
{
	struct pl_arg *a = p;

	for (int i = 0; i < PS_ITERS; i++) {
		ps_use(a->pool, i);
		if (i % 1024 == 0)
			gort_pool_drain_all();
	}
	return NULL;
}

TEST(pool_never_hands_out_an_object_twice)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	gort_pool *pool = gort_pool_new(ps_new, free);
	struct pl_arg a = { pool, &wg };
	pthread_t t[2];

	ASSERT_NE(NULL, pool);
	setenv("GORT_MAXPROCS", "2", 1);
	spawn_n(PS_G, ps_body, &a, &wg);
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, ps_thread, &a));
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ASSERT_TRUE(test_wg_wait_ms(&wg, 20000));
	ASSERT_NO_TG_FAILURES();
	EXPECT_EQ(0, T_LOAD(&ps_double));
	TH_LOG("%d objects created for %d gets", T_LOAD(&ps_news), (PS_G + 2) * PS_ITERS * 2);
	/* Reuse works: far fewer objects than gets. */
	EXPECT_LT(T_LOAD(&ps_news), (PS_G + 2) * PS_ITERS / 4);
	gort_pool_free(pool);
}

TEST_HARNESS_MAIN
