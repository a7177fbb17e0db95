// SPDX-License-Identifier: MIT
/*
 * Contexts: a tree of 1000 descendants cancelled from the root (every done
 * channel closed, every err "context canceled"), deadlines and timeouts
 * (err "context deadline exceeded", on time within a loose bound, inherited
 * by children, the earliest one wins), values (lookup up the chain,
 * shadowing), cancelling a child leaves its parent alone, frees in any order
 * (the ASan build's LeakSanitizer checks each test's child process at exit),
 * cancellation from a foreign thread waking goroutines blocked on done, and
 * a race of cancels and frees for TSan.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <gort.h>

#include "gort_test.h"
#include "kselftest_harness.h"
#include "leak_check.h"

/* The internal after-cancel hook (linked from libgort.a, where it is visible). */
#include "../../lib/context.h"

/* True when ctx's done channel is closed (a receive returns at once, !ok). */
static bool done_closed(gort_ctx *ctx)
{
	gort_chan *d = gort_ctx_done(ctx);

	return d && gort_chan_try_recv(d, NULL) == 0;
}

static bool done_open(gort_ctx *ctx)
{
	gort_chan *d = gort_ctx_done(ctx);

	return d && gort_chan_try_recv(d, NULL) == GORT_EAGAIN;
}

TEST(background)
{
	gort_ctx *bg = gort_ctx_background();

	ASSERT_NE(NULL, bg);
	EXPECT_EQ(bg, gort_ctx_background());
	EXPECT_EQ(NULL, gort_ctx_done(bg));
	EXPECT_EQ(NULL, gort_ctx_err(bg));
	EXPECT_EQ(GORT_FOREVER, gort_ctx_deadline(bg));
	EXPECT_EQ(NULL, gort_ctx_value(bg, "k"));
	gort_ctx_cancel(bg); /* no-ops */
	gort_ctx_free(bg);
	EXPECT_EQ(NULL, gort_ctx_err(bg));
	/* NULL parent: GORT_EINVAL through gort_errmsg(). */
	EXPECT_EQ(NULL, gort_ctx_with_cancel(NULL));
	EXPECT_NE(NULL, strstr(gort_errmsg(), "NULL parent"));
	EXPECT_EQ(NULL, gort_ctx_with_value(NULL, "k", NULL));
	EXPECT_EQ(NULL, gort_ctx_with_timeout(NULL, GORT_SECOND));
	gort_ctx_free(NULL);
	EXPECT_NO_LEAKS();
}

/* ---------------------------------------------------------------------- */
/* 1000 descendants, each watched by a goroutine blocked on its done. */

#define TREE_N 1000

struct tree_node {
	gort_ctx *ctx;
	gort_waitgroup *wg;
	int saw_closed;
	bool use_select;
};

/* Half the watchers receive on done; the other half select over done and a
 * channel nobody sends on, as Go code does ("case <-ctx.Done():"). */
static void tree_watch(void *arg)
{
	struct tree_node *n = arg;
	bool ok;

	if (!n->use_select) {
		ok = gort_chan_recv(gort_ctx_done(n->ctx), NULL);
	} else {
		gort_chan *never = gort_chan_make(sizeof(int), 0);
		int v;
		struct gort_select_case cases[2] = {
			{ .chan = never, .dir = GORT_RECV, .elem = &v },
			{ .chan = gort_ctx_done(n->ctx), .dir = GORT_RECV },
		};
		int r = gort_select(cases, 2, GORT_FOREVER);

		ok = r != 1 || cases[1].ok;
		gort_chan_free(never);
	}
	/* A closed channel yields ok == false; and err is set by then. */
	if (!ok && gort_ctx_err(n->ctx) == gort_error_canceled)
		T_STORE(&n->saw_closed, 1);
	gort_wg_done(n->wg);
}

TEST(tree_cancel_1000_descendants)
{
	static struct tree_node nodes[TREE_N];
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	gort_ctx *root = gort_ctx_with_cancel(gort_ctx_background()), *late;
	int seen = 0;

	ASSERT_NE(NULL, root);
	/* Node i's parent is node (i-1)/4 (a 4-ary tree, depth 5), the root for
	 * i == 0; every 7th node is a value context and every 11th a deadline
	 * context far in the future, so cancellation must pass through both. */
	for (int i = 0; i < TREE_N; i++) {
		gort_ctx *parent = i == 0 ? root : nodes[(i - 1) / 4].ctx;

		if (i % 7 == 3)
			nodes[i].ctx = gort_ctx_with_value(parent, &nodes[i], &nodes[i]);
		else if (i % 11 == 5)
			nodes[i].ctx = gort_ctx_with_timeout(parent, 3600 * GORT_SECOND);
		else
			nodes[i].ctx = gort_ctx_with_cancel(parent);
		ASSERT_NE(NULL, nodes[i].ctx);
		nodes[i].wg = &wg;
		nodes[i].use_select = i % 2;
	}
	for (int i = 0; i < TREE_N; i++) {
		ASSERT_TRUE(done_open(nodes[i].ctx)) TH_LOG("node %d done before the cancel", i);
		ASSERT_EQ(NULL, gort_ctx_err(nodes[i].ctx));
		gort_wg_add(&wg, 1);
		ASSERT_GT(gort_go(tree_watch, &nodes[i]), 0);
	}
	usleep(20000); /* most watchers are parked on done by now */
	EXPECT_EQ(0, T_LOAD(&nodes[0].saw_closed));
	gort_ctx_cancel(root);
	ASSERT_TRUE(test_wg_wait_ms(&wg, 20000)) TH_LOG("a watcher was not woken");
	for (int i = 0; i < TREE_N; i++) {
		seen += T_LOAD(&nodes[i].saw_closed);
		EXPECT_TRUE(done_closed(nodes[i].ctx));
		EXPECT_EQ(gort_error_canceled, gort_ctx_err(nodes[i].ctx));
	}
	EXPECT_EQ(TREE_N, seen);
	EXPECT_EQ(gort_error_canceled, gort_ctx_err(root));
	/* Contexts made under a cancelled parent start cancelled. */
	late = gort_ctx_with_cancel(nodes[TREE_N - 1].ctx);
	ASSERT_NE(NULL, late);
	EXPECT_EQ(gort_error_canceled, gort_ctx_err(late));
	EXPECT_TRUE(done_closed(late));
	gort_ctx_free(late);
	/* Free parents before children: each child keeps its ancestors alive. */
	gort_ctx_free(root);
	for (int i = 0; i < TREE_N; i++)
		gort_ctx_free(nodes[i].ctx);
	EXPECT_NO_LEAKS();
}

/* ---------------------------------------------------------------------- */

TEST(child_cancel_leaves_parent)
{
	gort_ctx *parent = gort_ctx_with_cancel(gort_ctx_background());
	gort_ctx *a = gort_ctx_with_cancel(parent);
	gort_ctx *b = gort_ctx_with_cancel(parent);
	gort_ctx *a1 = gort_ctx_with_cancel(a);

	ASSERT_NE(NULL, a1);
	gort_ctx_cancel(a);
	EXPECT_EQ(gort_error_canceled, gort_ctx_err(a));
	EXPECT_EQ(gort_error_canceled, gort_ctx_err(a1));
	EXPECT_TRUE(done_closed(a));
	EXPECT_TRUE(done_closed(a1));
	EXPECT_EQ(NULL, gort_ctx_err(parent));
	EXPECT_EQ(NULL, gort_ctx_err(b));
	EXPECT_TRUE(done_open(parent));
	EXPECT_TRUE(done_open(b));
	gort_ctx_cancel(a); /* idempotent */
	/* Freeing b (cancel + release) leaves the parent alone too. */
	gort_ctx_free(b);
	EXPECT_EQ(NULL, gort_ctx_err(parent));
	gort_ctx_free(a1);
	gort_ctx_free(a);
	gort_ctx_cancel(parent);
	EXPECT_TRUE(done_closed(parent));
	gort_ctx_free(parent);
	EXPECT_NO_LEAKS();
}

TEST(values_lookup_and_shadowing)
{
	static const char k1, k2, k3;
	int v1 = 1, v2 = 2, v1b = 10;
	gort_ctx *c1 = gort_ctx_with_value(gort_ctx_background(), &k1, &v1);
	gort_ctx *cc = gort_ctx_with_cancel(c1);
	gort_ctx *c2 = gort_ctx_with_value(cc, &k2, &v2);
	gort_ctx *c3 = gort_ctx_with_value(c2, &k1, &v1b); /* shadows k1 */

	ASSERT_NE(NULL, c3);
	EXPECT_EQ(&v1, gort_ctx_value(c1, &k1));
	EXPECT_EQ(&v1, gort_ctx_value(cc, &k1));
	EXPECT_EQ(&v1, gort_ctx_value(c2, &k1));
	EXPECT_EQ(&v1b, gort_ctx_value(c3, &k1));
	EXPECT_EQ(&v2, gort_ctx_value(c3, &k2));
	EXPECT_EQ(NULL, gort_ctx_value(c1, &k2));
	EXPECT_EQ(NULL, gort_ctx_value(c3, &k3));
	/* Keys compare by address, not contents. */
	EXPECT_EQ(NULL, gort_ctx_value(c3, (const char[]){ 0 }));
	/* A value context over the background is never done; over a cancel
	 * context it shares that one's done and err. */
	EXPECT_EQ(NULL, gort_ctx_done(c1));
	EXPECT_EQ(gort_ctx_done(cc), gort_ctx_done(c3));
	gort_ctx_cancel(c3); /* a value context has nothing to cancel */
	EXPECT_EQ(NULL, gort_ctx_err(c3));
	gort_ctx_cancel(cc);
	EXPECT_EQ(gort_error_canceled, gort_ctx_err(c3));
	EXPECT_TRUE(done_closed(c2));
	gort_ctx_free(c1); /* any order */
	gort_ctx_free(c3);
	gort_ctx_free(cc);
	gort_ctx_free(c2);
	EXPECT_NO_LEAKS();
}

/* ---------------------------------------------------------------------- */

struct deadline_arg {
	gort_ctx *ctx;
	gort_waitgroup wg;
	int64_t woke_at;
};

static void deadline_watch(void *arg)
{
	struct deadline_arg *a = arg;

	gort_chan_recv(gort_ctx_done(a->ctx), NULL);
	T_STORE(&a->woke_at, gort_now());
	gort_wg_done(&a->wg);
}

TEST(deadline_fires)
{
	struct deadline_arg a = { .wg = GORT_WAITGROUP_INIT };
	int64_t t0 = gort_now(), d = t0 + 30 * GORT_MILLISECOND;
	gort_ctx *child;

	a.ctx = gort_ctx_with_deadline(gort_ctx_background(), d);
	ASSERT_NE(NULL, a.ctx);
	EXPECT_EQ(d, gort_ctx_deadline(a.ctx));
	child = gort_ctx_with_cancel(a.ctx);
	ASSERT_NE(NULL, child);
	EXPECT_EQ(d, gort_ctx_deadline(child));
	gort_wg_add(&a.wg, 1);
	ASSERT_GT(gort_go(deadline_watch, &a), 0);
	ASSERT_TRUE(test_wg_wait_ms(&a.wg, 10000)) TH_LOG("the deadline never fired");
	EXPECT_GE(T_LOAD(&a.woke_at), d);
	/* Loose: a loaded machine (or a sanitizer) may be late, never early. */
	EXPECT_LT(T_LOAD(&a.woke_at), d + 2 * GORT_SECOND);
	EXPECT_EQ(gort_error_deadline_exceeded, gort_ctx_err(a.ctx));
	/* The child is cancelled right after its parent's done closes (as in
	 * Go, the cascade follows the close), with the parent's error. */
	ASSERT_TRUE(TEST_WAIT_UNTIL(gort_ctx_err(child) != NULL, 10000));
	EXPECT_EQ(gort_error_deadline_exceeded, gort_ctx_err(child));
	EXPECT_TRUE(done_closed(child));
	gort_ctx_free(a.ctx);
	gort_ctx_free(child);
	EXPECT_NO_LEAKS();
}

TEST(timeout_inherits_earliest_deadline)
{
	gort_ctx *outer = gort_ctx_with_timeout(gort_ctx_background(), 300 * GORT_MILLISECOND);
	int64_t d = gort_ctx_deadline(outer), ds, t;
	gort_ctx *later, *sooner, *v;
	gort_error *e;

	ASSERT_NE(NULL, outer);
	/* A later deadline under an earlier one: the parent's wins, and the
	 * child is cancelled by it, with deadline exceeded. */
	later = gort_ctx_with_timeout(outer, 3600 * GORT_SECOND);
	EXPECT_EQ(d, gort_ctx_deadline(later));
	v = gort_ctx_with_value(later, "k", NULL);
	EXPECT_EQ(d, gort_ctx_deadline(v));
	ds = gort_now() + 10 * GORT_MILLISECOND;
	sooner = gort_ctx_with_deadline(v, ds);
	EXPECT_EQ(ds < d ? ds : d, gort_ctx_deadline(sooner));
	ASSERT_TRUE(TEST_WAIT_UNTIL(gort_ctx_err(sooner) != NULL, 10000));
	EXPECT_EQ(gort_error_deadline_exceeded, gort_ctx_err(sooner));
	/* The child's deadline does not cancel its parent: only outer's timer,
	 * at d or later, does. (Read err, then the clock: an err seen before d
	 * would be a bug; a slow machine may just have passed d.) */
	e = gort_ctx_err(later);
	t = gort_now();
	EXPECT_TRUE(e == NULL || t >= d) TH_LOG("the child's deadline cancelled its parent");
	ASSERT_TRUE(TEST_WAIT_UNTIL(gort_ctx_err(later) != NULL, 10000));
	EXPECT_GE(gort_now(), d);
	EXPECT_EQ(gort_error_deadline_exceeded, gort_ctx_err(later));
	EXPECT_EQ(gort_error_deadline_exceeded, gort_ctx_err(v));
	gort_ctx_free(sooner);
	gort_ctx_free(v);
	gort_ctx_free(later);
	gort_ctx_free(outer);
	EXPECT_NO_LEAKS();
}

TEST(past_deadline_is_already_done)
{
	gort_ctx *c = gort_ctx_with_deadline(gort_ctx_background(), gort_now() - GORT_SECOND);
	gort_ctx *t = gort_ctx_with_timeout(gort_ctx_background(), 0);
	gort_ctx *n = gort_ctx_with_timeout(gort_ctx_background(), -5);

	ASSERT_NE(NULL, c);
	EXPECT_EQ(gort_error_deadline_exceeded, gort_ctx_err(c));
	EXPECT_EQ(gort_error_deadline_exceeded, gort_ctx_err(t));
	EXPECT_EQ(gort_error_deadline_exceeded, gort_ctx_err(n));
	EXPECT_TRUE(done_closed(c));
	EXPECT_TRUE(done_closed(t));
	/* A cancel afterwards does not change the error. */
	gort_ctx_cancel(c);
	EXPECT_EQ(gort_error_deadline_exceeded, gort_ctx_err(c));
	gort_ctx_free(c);
	gort_ctx_free(t);
	gort_ctx_free(n);
	EXPECT_NO_LEAKS();
}

/* Freeing a deadline context before it fires stops its timer: nothing
 * leaks (LSan) and nothing fires into freed memory (ASan). */
TEST(free_before_deadline)
{
	for (int i = 0; i < 200; i++) {
		gort_ctx *c = gort_ctx_with_timeout(gort_ctx_background(),
						    (i % 3) * GORT_MILLISECOND + 1);
		gort_ctx *child = gort_ctx_with_timeout(c, GORT_MILLISECOND);

		ASSERT_NE(NULL, child);
		if (i & 1)
			(void)gort_ctx_done(c);
		if (i & 2)
			usleep(500);
		gort_ctx_free(c);
		gort_ctx_free(child);
	}
	usleep(20000); /* any timer that still fires does so now */
	EXPECT_NO_LEAKS();
}

/* ---------------------------------------------------------------------- */
/* A chain of nested contexts, cancelled and freed on a small goroutine
 * stack: cancellation and release walk it in loops, not by recursion. */

#define CHAIN_N (GORT_TEST_SANITIZED ? 20000 : 200000)

struct chain_arg {
	gort_ctx **chain;
	gort_waitgroup wg;
	int ok;
};

static void chain_body(void *arg)
{
	struct chain_arg *a = arg;

	gort_ctx_cancel(a->chain[0]);
	T_STORE(&a->ok, gort_ctx_err(a->chain[CHAIN_N - 1]) == gort_error_canceled);
	/* Leaf first: each free drops the whole chain above it, in a loop,
	 * once the root's creator reference is gone too. */
	gort_ctx_free(a->chain[0]);
	for (int i = CHAIN_N - 1; i > 0; i--)
		gort_ctx_free(a->chain[i]);
	gort_wg_done(&a->wg);
}

TEST(deep_chain_no_recursion)
{
	struct chain_arg a = { .wg = GORT_WAITGROUP_INIT };
	struct gort_go_opts opts = { .stack_size = 64 * 1024 };

	a.chain = calloc(CHAIN_N, sizeof(*a.chain));
	ASSERT_NE(NULL, a.chain);
	for (int i = 0; i < CHAIN_N; i++) {
		gort_ctx *p = i ? a.chain[i - 1] : gort_ctx_background();

		a.chain[i] =
			i % 3 == 2 ? gort_ctx_with_value(p, &a, NULL) : gort_ctx_with_cancel(p);
		ASSERT_NE(NULL, a.chain[i]);
	}
	EXPECT_EQ(NULL, gort_ctx_err(a.chain[CHAIN_N - 1]));
	gort_wg_add(&a.wg, 1);
	ASSERT_GT(gort_go_opts(chain_body, &a, &opts), 0);
	ASSERT_TRUE(test_wg_wait_ms(&a.wg, 60000));
	EXPECT_TRUE(a.ok);
	free(a.chain);
	EXPECT_NO_LEAKS();
}

/* select with a default case over done: never blocks, fires once done. */
TEST(select_default_on_done)
{
	gort_ctx *c = gort_ctx_with_cancel(gort_ctx_background());
	struct gort_select_case cs[1];

	ASSERT_NE(NULL, c);
	/* The runtime runs select's deadline timer: start it (a foreign
	 * thread's deadline select before any goroutine crashes in
	 * timer_start, a bug of select.c reported separately). */
	ASSERT_EQ(0, gort_init());
	cs[0] = (struct gort_select_case){ .chan = gort_ctx_done(c), .dir = GORT_RECV };
	EXPECT_EQ(GORT_EAGAIN, gort_select(cs, 1, GORT_SELECT_DEFAULT));
	/* A deadline-bounded select times out while the context lives. */
	EXPECT_EQ(GORT_ETIMEDOUT, gort_select(cs, 1, gort_now() + GORT_MILLISECOND));
	gort_ctx_cancel(c);
	EXPECT_EQ(0, gort_select(cs, 1, GORT_SELECT_DEFAULT));
	EXPECT_FALSE(cs[0].ok);
	/* The background's done is NULL: a nil channel never fires. */
	cs[0].chan = gort_ctx_done(gort_ctx_background());
	EXPECT_EQ(GORT_EAGAIN, gort_select(cs, 1, GORT_SELECT_DEFAULT));
	gort_ctx_free(c);
	EXPECT_NO_LEAKS();
}

/* ---------------------------------------------------------------------- */
/* The internal hook: fn runs once per registration when the context (or an
 * ancestor) is cancelled, never after a successful stop, and stop after the
 * cancel took it waits until fn has returned. */

struct hook_arg {
	int runs;
	int64_t slow_ns;
};

static void hook_fn(void *arg)
{
	struct hook_arg *h = arg;

	if (h->slow_ns) {
		int64_t end = gort_now() + h->slow_ns;

		while (gort_now() < end)
			;
	}
	T_INC(&h->runs);
}

struct hook_cancel_arg {
	gort_ctx *ctx;
	gort_waitgroup wg;
};

static void hook_cancel_body(void *arg)
{
	struct hook_cancel_arg *a = arg;

	gort_ctx_cancel(a->ctx);
	gort_wg_done(&a->wg);
}

TEST(after_cancel_hook)
{
	enum {
		N = 8
	};
	gort_ctx *root = gort_ctx_with_cancel(gort_ctx_background());
	gort_ctx *v = gort_ctx_with_value(root, "k", NULL);
	struct hook_arg h[N] = { 0 }, slow = { .slow_ns = 20 * GORT_MILLISECOND };
	struct ctx_waiter w[N], ws;
	struct hook_cancel_arg ca = { .wg = GORT_WAITGROUP_INIT };

	ASSERT_NE(NULL, v);
	for (int i = 0; i < N; i++) {
		w[i] = (struct ctx_waiter){ .fn = hook_fn, .arg = &h[i] };
		ASSERT_TRUE(ctx_after_cancel(i % 2 ? v : root, &w[i]));
	}
	/* Stopped before the cancel: never runs. */
	EXPECT_TRUE(ctx_stop_after(root, &w[0]));
	EXPECT_TRUE(ctx_stop_after(v, &w[3]));
	/* A slow one, cancelled on a goroutine: stop waits for it to return. */
	ws = (struct ctx_waiter){ .fn = hook_fn, .arg = &slow };
	ASSERT_TRUE(ctx_after_cancel(v, &ws));
	ca.ctx = root;
	gort_wg_add(&ca.wg, 1);
	ASSERT_GT(gort_go(hook_cancel_body, &ca), 0);
	ASSERT_TRUE(TEST_WAIT_UNTIL(gort_ctx_err(root) != NULL, 10000));
	EXPECT_FALSE(ctx_stop_after(v, &ws));
	EXPECT_EQ(1, T_LOAD(&slow.runs)) TH_LOG("stop returned before the function did");
	ASSERT_TRUE(test_wg_wait_ms(&ca.wg, 10000));
	for (int i = 0; i < N; i++) {
		EXPECT_EQ(i == 0 || i == 3 ? 0 : 1, T_LOAD(&h[i].runs)) TH_LOG("waiter %d", i);
		if (i != 0 && i != 3)
			EXPECT_FALSE(ctx_stop_after(root, &w[i]));
	}
	/* Already cancelled: registration fails. The background never fires. */
	w[0] = (struct ctx_waiter){ .fn = hook_fn, .arg = &h[0] };
	EXPECT_FALSE(ctx_after_cancel(v, &w[0]));
	EXPECT_TRUE(ctx_after_cancel(gort_ctx_background(), &w[0]));
	EXPECT_TRUE(ctx_stop_after(gort_ctx_background(), &w[0]));
	EXPECT_EQ(0, T_LOAD(&h[0].runs));
	gort_ctx_free(v);
	gort_ctx_free(root);
	EXPECT_NO_LEAKS();
}

/* ---------------------------------------------------------------------- */
/* A plain pthread cancels; goroutines blocked on done wake. */

#define FOREIGN_N 64

static void foreign_watch(void *arg)
{
	struct tree_node *n = arg;

	if (!gort_chan_recv(gort_ctx_done(n->ctx), NULL) &&
	    gort_ctx_err(n->ctx) == gort_error_canceled)
		T_STORE(&n->saw_closed, 1);
	gort_wg_done(n->wg);
}

static void *foreign_cancel(void *arg)
{
	usleep(20000);
	gort_ctx_cancel(arg);
	return NULL;
}

TEST(cancel_from_foreign_thread)
{
	static struct tree_node nodes[FOREIGN_N];
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	gort_ctx *root = gort_ctx_with_cancel(gort_ctx_background());
	pthread_t t;
	int seen = 0;

	ASSERT_NE(NULL, root);
	for (int i = 0; i < FOREIGN_N; i++) {
		nodes[i].ctx = i % 2 ? root : gort_ctx_with_cancel(root);
		nodes[i].wg = &wg;
		gort_wg_add(&wg, 1);
		ASSERT_GT(gort_go(foreign_watch, &nodes[i]), 0);
	}
	ASSERT_EQ(0, pthread_create(&t, NULL, foreign_cancel, root));
	ASSERT_TRUE(test_wg_wait_ms(&wg, 10000)) TH_LOG("goroutines on done were not woken");
	pthread_join(t, NULL);
	for (int i = 0; i < FOREIGN_N; i++)
		seen += T_LOAD(&nodes[i].saw_closed);
	EXPECT_EQ(FOREIGN_N, seen);
	for (int i = 0; i < FOREIGN_N; i += 2)
		gort_ctx_free(nodes[i].ctx);
	gort_ctx_free(root);
	EXPECT_NO_LEAKS();
}

/* A foreign thread blocks on done too (it sleeps in the kernel). */
static void *foreign_wait(void *arg)
{
	struct tree_node *n = arg;

	if (!gort_chan_recv(gort_ctx_done(n->ctx), NULL))
		T_STORE(&n->saw_closed, 1);
	return NULL;
}

static void cancel_later(void *arg)
{
	struct tree_node *n = arg;

	gort_sleep(10 * GORT_MILLISECOND);
	gort_ctx_cancel(n->ctx);
	gort_wg_done(n->wg);
}

TEST(foreign_thread_waits_on_done)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	struct tree_node n = { .ctx = gort_ctx_with_cancel(gort_ctx_background()), .wg = &wg };
	pthread_t t;

	ASSERT_NE(NULL, n.ctx);
	ASSERT_EQ(0, pthread_create(&t, NULL, foreign_wait, &n));
	gort_wg_add(&wg, 1);
	ASSERT_GT(gort_go(cancel_later, &n), 0);
	ASSERT_TRUE(TEST_WAIT_UNTIL(T_LOAD(&n.saw_closed), 10000));
	pthread_join(t, NULL);
	/* The canceller uses the context until its cancel returns: wait for
	 * it before freeing (it holds no reference of its own). */
	ASSERT_TRUE(test_wg_wait_ms(&wg, 10000));
	gort_ctx_free(n.ctx);
	EXPECT_NO_LEAKS();
}

/* ---------------------------------------------------------------------- */
/* Races: goroutines create, cancel and free children of a shared parent
 * while another cancels the parent. TSan checks the locking, ASan the
 * lifetimes, the counts that every child ended cancelled. */

struct race_arg {
	gort_ctx *parent;
	gort_waitgroup *wg;
	int seed;
};

static void race_body(void *arg)
{
	struct race_arg *a = arg;
	gort_ctx *mine[16];
	unsigned r = (unsigned)a->seed * 2654435761u;

	for (int round = 0; round < 50; round++) {
		for (int i = 0; i < 16; i++) {
			gort_ctx *p = i && (r >> 7) % 3 == 0 ? mine[i - 1] : a->parent;
			bool p_done = gort_ctx_err(p) != NULL;

			r = r * 1103515245 + 12345;
			mine[i] = (r >> 9) % 4 == 0 ? gort_ctx_with_timeout(p, (r >> 5) % 2000)
						    : gort_ctx_with_cancel(p);
			if (!mine[i]) {
				tg_fail(__FILE__, __LINE__, "ctx allocation failed");
				return;
			}
			/* Made under a parent seen cancelled: born cancelled. */
			if (p_done && !gort_ctx_err(mine[i]))
				tg_fail(__FILE__, __LINE__, "child of a cancelled parent is live");
			(void)gort_ctx_done(mine[i]);
		}
		for (int i = 15; i >= 0; i--) {
			r = r * 1103515245 + 12345;
			if ((r >> 8) & 1)
				gort_ctx_cancel(mine[i]);
		}
		for (int i = 15; i >= 0; i--)
			gort_ctx_free(mine[i]);
		if (round % 8 == 0)
			gort_yield();
	}
	gort_wg_done(a->wg);
}

TEST(cancel_and_free_race)
{
	enum {
		G = 16
	};
	struct race_arg args[G];
	gort_waitgroup wg = GORT_WAITGROUP_INIT;

	for (int iter = 0; iter < 4; iter++) {
		gort_ctx *parent = gort_ctx_with_cancel(gort_ctx_background());

		ASSERT_NE(NULL, parent);
		for (int i = 0; i < G; i++) {
			args[i] = (struct race_arg){ parent, &wg, iter * G + i };
			gort_wg_add(&wg, 1);
			ASSERT_GT(gort_go(race_body, &args[i]), 0);
		}
		usleep(1000 * (iter + 1));
		gort_ctx_cancel(parent);
		ASSERT_TRUE(test_wg_wait_ms(&wg, 30000));
		gort_ctx_free(parent);
	}
	ASSERT_NO_TG_FAILURES();
	usleep(10000); /* late timers drop their references */
	EXPECT_NO_LEAKS();
}

TEST_HARNESS_MAIN
