/* SPDX-License-Identifier: MIT */
/* Helpers shared by the library selftests. */
#ifndef GORT_TEST_H
#define GORT_TEST_H

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <gort.h>

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#define GORT_TEST_ASAN 1
#else
#define GORT_TEST_ASAN 0
#endif
#if defined(__SANITIZE_THREAD__) || __has_feature(thread_sanitizer)
#define GORT_TEST_TSAN 1
#else
#define GORT_TEST_TSAN 0
#endif
#define GORT_TEST_SANITIZED (GORT_TEST_ASAN || GORT_TEST_TSAN)

#if GORT_TEST_TSAN
/*
 * TSan sleeps atexit_sleep_ms (default 1 s) in every exiting process that has
 * threads left, i.e. in every test child that started the runtime.
 */
__attribute__((used)) const char *__tsan_default_options(void);
__attribute__((used)) const char *__tsan_default_options(void)
{
	return "atexit_sleep_ms=0";
}
#endif

/*
 * Scale for heavy tests: sanitizers run them 10-50x slower, and qemu's TCG
 * (the module tests' VM) about as much: GORT_TEST_SLOW=N divides by N more
 * (and timing slack may be multiplied by gort_test_slow()).
 */
static inline int gort_test_slow(void)
{
	/* Atomic: goroutines on several threads may be first; all store the
	 * same value. */
	static int slow;
	int v = __atomic_load_n(&slow, __ATOMIC_RELAXED);

	if (!v) {
		const char *s = getenv("GORT_TEST_SLOW");

		v = s ? atoi(s) : 1;
		if (v < 1)
			v = 1;
		__atomic_store_n(&slow, v, __ATOMIC_RELAXED);
	}
	return v;
}

static inline int gort_test_scale_div(void)
{
	return (GORT_TEST_SANITIZED ? 20 : 1) * gort_test_slow();
}
#define GORT_TEST_SCALE(n) ((n) / gort_test_scale_div())

static inline int64_t test_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Shorthands for the atomics shared between goroutines and the test thread. */
#define T_LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define T_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define T_ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_ACQ_REL)
#define T_INC(p) T_ADD((p), 1)

/*
 * Polls cond (an expression) every millisecond until it holds or timeout_ms
 * passes; evaluates to cond's last value. For waits that must end on a noisy
 * machine: use generous timeouts, they only bound a failure.
 */
#define TEST_WAIT_UNTIL(cond, timeout_ms)                                          \
	__extension__({                                                            \
		int64_t deadline_ = test_now_ns() + (int64_t)(timeout_ms)*1000000; \
		bool ok_;                                                          \
		while (!(ok_ = (cond)) && test_now_ns() < deadline_)               \
			usleep(1000);                                              \
		ok_;                                                               \
	})

/*
 * Failures seen off the test thread. kselftest's ASSERT_* longjmp()s to the
 * test thread's stack, so goroutines and helper threads must not use them:
 * they record a failure with TG_CHECK() and the test body asserts
 * tg_failures() == 0 (the first message says what failed).
 */
static int tg_nfail __attribute__((unused));
static char tg_first_fail[512] __attribute__((unused));

static inline void tg_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static inline void tg_fail(const char *file, int line, const char *fmt, ...)
{
	if (__atomic_fetch_add(&tg_nfail, 1, __ATOMIC_ACQ_REL) == 0) {
		va_list ap;
		int n = snprintf(tg_first_fail, sizeof(tg_first_fail), "%s:%d: ", file, line);

		va_start(ap, fmt);
		vsnprintf(tg_first_fail + n, sizeof(tg_first_fail) - (size_t)n, fmt, ap);
		va_end(ap);
	}
}

#define TG_CHECK(cond)                                                          \
	do {                                                                    \
		if (!(cond))                                                    \
			tg_fail(__FILE__, __LINE__, "check failed: %s", #cond); \
	} while (0)
#define TG_CHECK_EQ(want, got)                                                                    \
	do {                                                                                      \
		long long w_ = (long long)(want), g_ = (long long)(got);                          \
		if (w_ != g_)                                                                     \
			tg_fail(__FILE__, __LINE__, "%s == %s: want %lld, got %lld", #want, #got, \
				w_, g_);                                                          \
	} while (0)

static inline int tg_failures(void)
{
	return __atomic_load_n(&tg_nfail, __ATOMIC_ACQUIRE);
}

/* In a test body: fails the test with the first recorded message. */
#define ASSERT_NO_TG_FAILURES()     \
	ASSERT_EQ(0, tg_failures()) \
	TH_LOG("%d failure(s) off the test thread; first: %s", tg_failures(), tg_first_fail)

/* A small lock-free set of thread ids (gettid()) seen by goroutines. */
#define TEST_TIDSET_MAX 64
struct test_tidset {
	pid_t tid[TEST_TIDSET_MAX];
	int n;
};

static inline void test_tidset_add(struct test_tidset *s, pid_t tid)
{
	for (;;) {
		int n = __atomic_load_n(&s->n, __ATOMIC_ACQUIRE);

		for (int i = 0; i < n; i++) {
			while (__atomic_load_n(&s->tid[i], __ATOMIC_ACQUIRE) == 0)
				; /* slot claimed, tid being stored */
			if (__atomic_load_n(&s->tid[i], __ATOMIC_ACQUIRE) == tid)
				return;
		}
		if (n == TEST_TIDSET_MAX)
			return;
		if (__atomic_compare_exchange_n(&s->n, &n, n + 1, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE)) {
			__atomic_store_n(&s->tid[n], tid, __ATOMIC_RELEASE);
			return;
		}
	}
}

static inline int test_tidset_count(struct test_tidset *s)
{
	return __atomic_load_n(&s->n, __ATOMIC_ACQUIRE);
}

/*
 * errno read through a call the compiler cannot see into: glibc declares
 * __errno_location() const, so a function that reads errno before and after
 * a switch may otherwise reuse the first thread's errno address.
 */
__attribute__((noinline, unused)) static int test_read_errno(void)
{
	int e = errno;

	__asm__ volatile("" ::: "memory");
	return e;
}

__attribute__((noinline, unused)) static void test_write_errno(int e)
{
	errno = e;
	__asm__ volatile("" ::: "memory");
}

/*
 * gort_wg_wait() with a deadline, for the test thread: a helper thread does
 * the (foreign-thread) wait, so a lost wakeup fails the test with a message
 * instead of hanging it until the harness kills it. Returns true when the
 * wait returned in time. On a timeout the helper stays blocked (the test
 * process ends soon anyway).
 */
struct test_wg_waiter {
	gort_waitgroup *wg;
	int done;
};

static inline void *test_wg_waiter_main(void *arg)
{
	struct test_wg_waiter *w = arg;

	gort_wg_wait(w->wg);
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static inline bool test_wg_wait_ms(gort_waitgroup *wg, int timeout_ms)
{
	static struct test_wg_waiter slots[16];
	static int next;
	struct test_wg_waiter *w = &slots[__atomic_fetch_add(&next, 1, __ATOMIC_RELAXED) % 16];
	pthread_t t;
	bool ok;

	w->wg = wg;
	__atomic_store_n(&w->done, 0, __ATOMIC_RELEASE);
	if (pthread_create(&t, NULL, test_wg_waiter_main, w) != 0) {
		gort_wg_wait(wg);
		return true;
	}
	ok = TEST_WAIT_UNTIL(__atomic_load_n(&w->done, __ATOMIC_ACQUIRE), timeout_ms);
	if (ok)
		pthread_join(t, NULL);
	else
		pthread_detach(t);
	return ok;
}

/* Resident set size of this process in bytes (/proc/self/statm), or -1. */
static inline long test_rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size, rss = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &rss) != 2)
		rss = -1;
	fclose(f);
	return rss < 0 ? -1 : rss * sysconf(_SC_PAGESIZE);
}

/* The state (GORT_GSTATE_*) of goroutine id, read with the world stopped
 * (from a goroutine or a foreign thread); 0 when it is gone. */
struct test_find_g {
	int64_t id;
	int state;
};

static inline void test_find_g_cb(const struct gort_goroutine_view *v, void *arg)
{
	struct test_find_g *f = arg;

	if (v->id == f->id)
		f->state = v->state;
}

static inline int test_goroutine_state(int64_t id)
{
	struct test_find_g f = { .id = id };

	gort_stop_the_world("test_goroutine_state");
	gort_for_each_goroutine(test_find_g_cb, &f);
	gort_start_the_world();
	return f.state;
}

#endif
