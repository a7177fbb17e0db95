// SPDX-License-Identifier: MIT
/*
 * Weighted semaphore (golang.org/x/sync/semaphore's tests, in intent):
 * arguments, try_acquire, strict FIFO (a large request blocks later small
 * ones), cancellation (returns the context's code, holds nothing, and a
 * cancelled head lets the ones behind it through), a timeout context, a
 * context already done, foreign threads on both sides, a hammer test that
 * checks the capacity is never exceeded, and the fatal over-release.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <gort.h>

#include "gort_test.h"
#include "kselftest_harness.h"
#include "leak_check.h"

TEST(arguments_and_try_acquire)
{
	gort_sema *s;

	EXPECT_EQ(NULL, gort_sema_new(0));
	EXPECT_NE(NULL, strstr(gort_errmsg(), "not positive"));
	EXPECT_EQ(NULL, gort_sema_new(-3));
	s = gort_sema_new(10);
	ASSERT_NE(NULL, s);
	EXPECT_EQ(GORT_EINVAL, gort_sema_acquire(s, NULL, 11));
	EXPECT_EQ(GORT_EINVAL, gort_sema_acquire(s, NULL, 0));
	EXPECT_EQ(GORT_EINVAL, gort_sema_acquire(s, NULL, -1));
	EXPECT_FALSE(gort_sema_try_acquire(s, 11));
	EXPECT_FALSE(gort_sema_try_acquire(s, 0));

	EXPECT_EQ(0, gort_sema_acquire(s, NULL, 3));
	EXPECT_EQ(0, gort_sema_acquire(s, gort_ctx_background(), 7));
	EXPECT_FALSE(gort_sema_try_acquire(s, 1));
	gort_sema_release(s, 3);
	EXPECT_FALSE(gort_sema_try_acquire(s, 4));
	EXPECT_TRUE(gort_sema_try_acquire(s, 3));
	gort_sema_release(s, 10);
	EXPECT_TRUE(gort_sema_try_acquire(s, 10));
	gort_sema_release(s, 10);
	gort_sema_release(s, 0);
	gort_sema_free(s);
	EXPECT_NO_LEAKS();
}

/* Starts fn(arg) and waits until it has parked (in an acquire: queued).
 * Returns false when it did not within 10 s. */
static bool go_until_parked(void (*fn)(void *), void *arg)
{
	int64_t id = gort_go(fn, arg);

	return id > 0 && TEST_WAIT_UNTIL(test_goroutine_state(id) == GORT_GSTATE_WAITING, 10000);
}

/* ---------------------------------------------------------------------- */
/* FIFO: with all 10 units held, a request for 10 queues first, then one for
 * 1. Releasing 1 unit must not let the small one pass the big one. */

struct order_arg {
	gort_sema *s;
	gort_ctx *ctx;
	int64_t w;
	int id;
	int *order;
	int *norder;
	int rc;
	int done;
	gort_waitgroup *wg;
};

static void order_body(void *arg)
{
	struct order_arg *a = arg;

	a->rc = gort_sema_acquire(a->s, a->ctx, a->w);
	if (a->rc == 0)
		a->order[T_ADD(a->norder, 1) - 1] = a->id;
	T_STORE(&a->done, 1);
	gort_wg_done(a->wg);
}

TEST(fifo_large_request_blocks_small)
{
	gort_sema *s = gort_sema_new(10);
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	int order[4] = { 0 }, norder = 0;
	struct order_arg big = { s, NULL, 10, 1, order, &norder, -1, 0, &wg };
	struct order_arg small = { s, NULL, 1, 2, order, &norder, -1, 0, &wg };

	ASSERT_NE(NULL, s);
	ASSERT_EQ(0, gort_sema_acquire(s, NULL, 10));
	gort_wg_add(&wg, 2);
	ASSERT_TRUE(go_until_parked(order_body, &big)); /* big queues first */
	ASSERT_TRUE(go_until_parked(order_body, &small));
	gort_sema_release(s, 1); /* 1 free: small fits but big is ahead */
	usleep(20000);
	EXPECT_EQ(0, T_LOAD(&small.done)) TH_LOG("the small request overtook the big one");
	EXPECT_EQ(0, T_LOAD(&big.done));
	EXPECT_FALSE(gort_sema_try_acquire(s, 1)); /* waiters queued: no barging */
	gort_sema_release(s, 9);		   /* big gets all 10 */
	ASSERT_TRUE(TEST_WAIT_UNTIL(T_LOAD(&big.done), 10000));
	usleep(10000);
	EXPECT_EQ(0, T_LOAD(&small.done));
	gort_sema_release(s, 10);
	ASSERT_TRUE(test_wg_wait_ms(&wg, 10000));
	EXPECT_EQ(0, big.rc);
	EXPECT_EQ(0, small.rc);
	EXPECT_EQ(1, order[0]);
	EXPECT_EQ(2, order[1]);
	gort_sema_release(s, 1);
	EXPECT_TRUE(gort_sema_try_acquire(s, 10));
	gort_sema_release(s, 10);
	gort_sema_free(s);
	EXPECT_NO_LEAKS();
}

/* Many single-unit waiters are served in arrival order. */
TEST(fifo_order_of_equal_requests)
{
	enum {
		N = 32
	};
	gort_sema *s = gort_sema_new(1);
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	int order[N], norder = 0;
	static struct order_arg args[N];

	ASSERT_NE(NULL, s);
	ASSERT_EQ(0, gort_sema_acquire(s, NULL, 1));
	for (int i = 0; i < N; i++) {
		args[i] = (struct order_arg){ s, NULL, 1, i, order, &norder, -1, 0, &wg };
		int64_t id;

		gort_wg_add(&wg, 1);
		id = gort_go(order_body, &args[i]);
		ASSERT_GT(id, 0);
		/* It parks only in the acquire: then it is queued, before the
		 * next one starts. */
		ASSERT_TRUE(
			TEST_WAIT_UNTIL(test_goroutine_state(id) == GORT_GSTATE_WAITING, 10000));
	}
	for (int i = 0; i < N; i++) {
		ASSERT_TRUE(TEST_WAIT_UNTIL(T_LOAD(&norder) == i, 10000));
		gort_sema_release(s, 1);
		ASSERT_TRUE(TEST_WAIT_UNTIL(T_LOAD(&norder) == i + 1, 10000));
	}
	ASSERT_TRUE(test_wg_wait_ms(&wg, 10000));
	for (int i = 0; i < N; i++)
		EXPECT_EQ(i, order[i]);
	gort_sema_release(s, 1);
	gort_sema_free(s);
	EXPECT_NO_LEAKS();
}

/* ---------------------------------------------------------------------- */

TEST(cancel_returns_code_and_holds_nothing)
{
	gort_sema *s = gort_sema_new(4);
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	int order[4], norder = 0;
	gort_ctx *ctx = gort_ctx_with_cancel(gort_ctx_background());
	struct order_arg a = { s, ctx, 3, 1, order, &norder, -1, 0, &wg };

	ASSERT_NE(NULL, ctx);
	ASSERT_EQ(0, gort_sema_acquire(s, NULL, 2));
	gort_wg_add(&wg, 1);
	ASSERT_TRUE(go_until_parked(order_body, &a)); /* the hook wakes a parked waiter */
	EXPECT_EQ(0, T_LOAD(&a.done));
	gort_ctx_cancel(ctx);
	ASSERT_TRUE(test_wg_wait_ms(&wg, 10000)) TH_LOG("cancel did not wake the acquirer");
	EXPECT_EQ(GORT_ECANCELED, a.rc);
	/* Nothing of the cancelled 3 is held: 2 free now. */
	EXPECT_TRUE(gort_sema_try_acquire(s, 2));
	gort_sema_release(s, 4);
	EXPECT_TRUE(gort_sema_try_acquire(s, 4));
	gort_sema_release(s, 4);
	/* Already done: fails even though units are free (as Go). */
	EXPECT_EQ(GORT_ECANCELED, gort_sema_acquire(s, ctx, 1));
	EXPECT_TRUE(gort_sema_try_acquire(s, 4));
	gort_sema_release(s, 4);
	gort_ctx_free(ctx);
	gort_sema_free(s);
	EXPECT_NO_LEAKS();
}

/* A cancelled head unblocks the smaller requests queued behind it (Go's
 * TestAllocCancelDoesntStarve). */
TEST(cancelled_head_lets_others_through)
{
	gort_sema *s = gort_sema_new(10);
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	int order[4], norder = 0;
	gort_ctx *ctx = gort_ctx_with_cancel(gort_ctx_background());
	struct order_arg big = { s, ctx, 10, 1, order, &norder, -1, 0, &wg };
	struct order_arg small = { s, NULL, 1, 2, order, &norder, -1, 0, &wg };

	ASSERT_EQ(0, gort_sema_acquire(s, NULL, 1));
	gort_wg_add(&wg, 2);
	ASSERT_TRUE(go_until_parked(order_body, &big));
	ASSERT_TRUE(go_until_parked(order_body, &small));
	EXPECT_EQ(0, T_LOAD(&small.done));
	gort_ctx_cancel(ctx);
	ASSERT_TRUE(test_wg_wait_ms(&wg, 10000)) TH_LOG("the small request starved");
	EXPECT_EQ(GORT_ECANCELED, big.rc);
	EXPECT_EQ(0, small.rc);
	gort_sema_release(s, 2);
	EXPECT_TRUE(gort_sema_try_acquire(s, 10));
	gort_sema_release(s, 10);
	gort_ctx_free(ctx);
	gort_sema_free(s);
	EXPECT_NO_LEAKS();
}

TEST(timeout_context)
{
	gort_sema *s = gort_sema_new(1);
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	int order[4], norder = 0;
	gort_ctx *ctx = gort_ctx_with_timeout(gort_ctx_background(), 30 * GORT_MILLISECOND);
	struct order_arg a = { s, ctx, 1, 1, order, &norder, -1, 0, &wg };
	int64_t t0 = gort_now();
	gort_ctx *v;

	ASSERT_NE(NULL, ctx);
	ASSERT_EQ(0, gort_sema_acquire(s, NULL, 1));
	gort_wg_add(&wg, 1);
	ASSERT_GT(gort_go(order_body, &a), 0);
	ASSERT_TRUE(test_wg_wait_ms(&wg, 10000)) TH_LOG("the timeout never woke the acquirer");
	EXPECT_EQ(GORT_ETIMEDOUT, a.rc);
	/* Never early: not before the context's deadline (t0 came after it was
	 * set, so compare with the deadline itself). */
	EXPECT_GE(gort_now(), gort_ctx_deadline(ctx));
	EXPECT_LT(gort_now() - t0, 5 * GORT_SECOND);
	/* A value context over the timeout one carries it too. */
	v = gort_ctx_with_value(ctx, "k", NULL);
	EXPECT_EQ(GORT_ETIMEDOUT, gort_sema_acquire(s, v, 1));
	gort_ctx_free(v);
	gort_sema_release(s, 1);
	EXPECT_TRUE(gort_sema_try_acquire(s, 1));
	gort_sema_release(s, 1);
	gort_ctx_free(ctx);
	gort_sema_free(s);
	EXPECT_NO_LEAKS();
}

/* ---------------------------------------------------------------------- */
/* Foreign threads: one blocks in acquire (on a futex) until a goroutine
 * releases; another releases to a parked goroutine; one is cancelled. */

struct foreign_arg {
	gort_sema *s;
	gort_ctx *ctx;
	int rc;
	int done;
};

static void *foreign_acquire(void *arg)
{
	struct foreign_arg *a = arg;

	a->rc = gort_sema_acquire(a->s, a->ctx, 2);
	T_STORE(&a->done, 1);
	return NULL;
}

static void release_later(void *arg)
{
	gort_sleep(20 * GORT_MILLISECOND);
	gort_sema_release(arg, 2);
}

static void *foreign_release(void *arg)
{
	usleep(20000);
	gort_sema_release(arg, 2);
	return NULL;
}

TEST(foreign_threads)
{
	gort_sema *s = gort_sema_new(2);
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	int order[4], norder = 0;
	struct foreign_arg fa = { .s = s, .rc = -1 };
	struct order_arg ga = { s, NULL, 2, 1, order, &norder, -1, 0, &wg };
	pthread_t t;

	ASSERT_EQ(0, gort_sema_acquire(s, NULL, 2));
	/* A thread waits; a goroutine releases. */
	ASSERT_EQ(0, pthread_create(&t, NULL, foreign_acquire, &fa));
	usleep(10000);
	EXPECT_EQ(0, T_LOAD(&fa.done));
	ASSERT_GT(gort_go(release_later, s), 0);
	ASSERT_TRUE(TEST_WAIT_UNTIL(T_LOAD(&fa.done), 10000));
	pthread_join(t, NULL);
	EXPECT_EQ(0, fa.rc);
	/* A goroutine waits; a thread releases. */
	gort_wg_add(&wg, 1);
	ASSERT_GT(gort_go(order_body, &ga), 0);
	ASSERT_EQ(0, pthread_create(&t, NULL, foreign_release, s));
	ASSERT_TRUE(test_wg_wait_ms(&wg, 10000));
	pthread_join(t, NULL);
	EXPECT_EQ(0, ga.rc);
	/* A thread waits with a context that a goroutine cancels. */
	fa = (struct foreign_arg){ .s = s,
				   .ctx = gort_ctx_with_cancel(gort_ctx_background()),
				   .rc = -1 };
	ASSERT_NE(NULL, fa.ctx);
	ASSERT_EQ(0, pthread_create(&t, NULL, foreign_acquire, &fa));
	usleep(10000);
	gort_ctx_cancel(fa.ctx);
	ASSERT_TRUE(TEST_WAIT_UNTIL(T_LOAD(&fa.done), 10000));
	pthread_join(t, NULL);
	EXPECT_EQ(GORT_ECANCELED, fa.rc);
	gort_sema_release(s, 2);
	EXPECT_TRUE(gort_sema_try_acquire(s, 2));
	gort_sema_release(s, 2);
	gort_ctx_free(fa.ctx);
	gort_sema_free(s);
	EXPECT_NO_LEAKS();
}

/* ---------------------------------------------------------------------- */
/* Hammer (Go's TestWeighted): goroutines acquire random weights, some with
 * contexts that get cancelled or time out; the units in use never exceed
 * the capacity, and at the end all are free. */

#define HAMMER_CAP 16

struct hammer {
	gort_sema *s;
	int64_t in_use;
	int64_t acquired, cancelled;
	gort_waitgroup wg;
};

struct hammer_arg {
	struct hammer *h;
	unsigned seed;
};

static void hammer_body(void *arg)
{
	struct hammer_arg *a = arg;
	struct hammer *h = a->h;
	unsigned r = a->seed;

	for (int i = 0; i < GORT_TEST_SCALE(2000) + 50; i++) {
		int64_t w;
		gort_ctx *ctx = NULL;
		int rc;

		r = r * 1103515245 + 12345;
		w = 1 + (r >> 8) % HAMMER_CAP;
		if ((r >> 4) % 4 == 0)
			ctx = gort_ctx_with_timeout(gort_ctx_background(), (r >> 12) % 50000);
		rc = gort_sema_acquire(h->s, ctx, w);
		if (rc == 0) {
			int64_t u = T_ADD(&h->in_use, w);

			if (u > HAMMER_CAP)
				tg_fail(__FILE__, __LINE__, "%lld units in use", (long long)u);
			if ((r >> 20) % 8 == 0)
				gort_yield();
			T_ADD(&h->in_use, -w);
			T_INC(&h->acquired);
			gort_sema_release(h->s, w);
		} else if (rc == GORT_ETIMEDOUT) {
			T_INC(&h->cancelled);
		} else {
			tg_fail(__FILE__, __LINE__, "acquire: %d", rc);
		}
		gort_ctx_free(ctx);
	}
	gort_wg_done(&h->wg);
}

TEST(hammer)
{
	enum {
		G = 32
	};
	static struct hammer h = { .wg = GORT_WAITGROUP_INIT };
	static struct hammer_arg args[G];

	h.s = gort_sema_new(HAMMER_CAP);
	ASSERT_NE(NULL, h.s);
	for (int i = 0; i < G; i++) {
		args[i] = (struct hammer_arg){ &h, (unsigned)i * 7919u + 1 };
		gort_wg_add(&h.wg, 1);
		ASSERT_GT(gort_go(hammer_body, &args[i]), 0);
	}
	ASSERT_TRUE(test_wg_wait_ms(&h.wg, 60000));
	ASSERT_NO_TG_FAILURES();
	EXPECT_EQ(0, T_LOAD(&h.in_use));
	EXPECT_GT(T_LOAD(&h.acquired), 0);
	TH_LOG("%lld acquired, %lld timed out", (long long)h.acquired, (long long)h.cancelled);
	EXPECT_TRUE(gort_sema_try_acquire(h.s, HAMMER_CAP));
	gort_sema_release(h.s, HAMMER_CAP);
	gort_sema_free(h.s);
	EXPECT_NO_LEAKS();
}

/* Releasing more than is held is fatal, as in Go (a panic there): the
 * process aborts with a message. In a grandchild, because the harness counts
 * any SIGABRT as a failed assertion. */
TEST(release_more_than_held_is_fatal)
{
	int fds[2], status;
	char out[512] = "";
	ssize_t n, len = 0;
	pid_t pid;

	ASSERT_EQ(0, pipe(fds));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		gort_sema *s = gort_sema_new(4);

		dup2(fds[1], 2);
		if (!s || gort_sema_acquire(s, NULL, 1) != 0)
			_exit(2);
		gort_sema_release(s, 2);
		_exit(3); /* not reached */
	}
	close(fds[1]);
	while ((n = read(fds[0], out + len, sizeof(out) - 1 - (size_t)len)) > 0)
		len += n;
	out[len] = '\0';
	close(fds[0]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSIGNALED(status)) TH_LOG("status %#x, stderr: %s", status, out);
	EXPECT_EQ(SIGABRT, WTERMSIG(status));
	EXPECT_NE(NULL, strstr(out, "gort_sema_release: released 2 units, 1 held"))
	TH_LOG("%s", out);
	EXPECT_NO_LEAKS();
}

TEST_HARNESS_MAIN
