// SPDX-License-Identifier: MIT
/*
 * Go's time package on the runtime timers (timer.h): Sleep, Timer,
 * AfterFunc, After and Ticker.
 *
 * Timer channels have capacity 1 and are sent to without blocking (a tick
 * nobody took is dropped, as in Go). Stop and Reset first dequeue the timer,
 * then wait for a firing that is already running, then drain the channel:
 * after they return no value from before is received (Go 1.23's guarantee).
 * A user's Stop/Reset/free on one timer are serialised by its lock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "chan.h"
#include "runtime.h"
#include "timer.h"

struct gort_timer {
	struct timer t;
	struct rt_lock lock;
	gort_chan *ch;	       /* gort_timer_new and tickers */
	void (*fn)(void *arg); /* gort_after_func */
	void *arg;
};

struct gort_ticker {
	struct gort_timer tm;
};

static int64_t deadline_after(int64_t d)
{
	int64_t now = nanotime();

	if (d <= 0)
		return now;
	return d > INT64_MAX - now ? INT64_MAX : now + d;
}

/* ---- Sleep ---- */

struct sleep_state {
	struct timer t;
	int64_t when;
};

static void sleep_wake(struct timer *t, int64_t now)
{
	(void)now;
	goroutine_ready(t->arg);
}

/* Unlock callback of the park: the timer may only fire once we are parked. */
static void sleep_arm(void *arg)
{
	struct sleep_state *ss = arg;
	int err = 0;

	timer_start(&ss->t, ss->when, &err);
	if (err)
		gort_fatal("gort_sleep: out of memory queueing a timer");
}

int gort_sleep(int64_t ns)
{
	struct goroutine *g = this_goroutine();
	struct sleep_state ss;

	if (ns <= 0) {
		sched_safe_point();
		return 0;
	}
	if (!g) {
		struct timespec ts = { .tv_sec = ns / GORT_SECOND, .tv_nsec = ns % GORT_SECOND };

		while (nanosleep(&ts, &ts) != 0)
			;
		return 0;
	}
	timer_init(&ss.t, sleep_wake, g);
	/* The runner's last touch of ss is the ready: we need not wait for it
	 * (a spin on a runner the kernel preempted would cost a time slice). */
	ss.t.fn_owns = true;
	ss.t.never_stopped = true;
	ss.when = deadline_after(ns);
	goroutine_park(WAIT_SLEEP, sleep_arm, &ss);
	return 0;
}

/* ---- Timer, AfterFunc ---- */

static void timer_chan_fire(struct timer *t, int64_t now)
{
	struct gort_timer *gt = t->arg;

	(void)gort_chan_try_send(gt->ch, &now);
}

static void timer_func_fire(struct timer *t, int64_t now)
{
	struct gort_timer *gt = t->arg;

	(void)now;
	if (goroutine_spawn(gt->fn, gt->arg, NULL) < 0)
		fprintf(stderr, "gort: gort_after_func: cannot start a goroutine: %s\n",
			gort_errmsg());
}

static struct gort_timer *timer_alloc(const char *what, bool with_chan)
{
	struct gort_timer *gt;
	int err = gort_init();

	if (err)
		return NULL;
	gt = calloc(1, sizeof(*gt));
	if (gt && with_chan) {
		gt->ch = gort_chan_make(sizeof(int64_t), 1);
		if (!gt->ch) {
			free(gt);
			gt = NULL;
		}
	}
	if (!gt)
		set_errmsg("%s: out of memory", what);
	return gt;
}

static bool timer_arm(struct gort_timer *gt, int64_t when, const char *what)
{
	int err = 0;

	timer_start(&gt->t, when, &err);
	if (err) {
		set_errmsg("%s: out of memory queueing the timer", what);
		return false;
	}
	return true;
}

static void timer_release(struct gort_timer *gt)
{
	if (gt->ch)
		gort_chan_free(gt->ch);
	free(gt);
}

gort_timer *gort_timer_new(int64_t d)
{
	struct gort_timer *gt = timer_alloc("gort_timer_new", true);

	if (!gt)
		return NULL;
	timer_init(&gt->t, timer_chan_fire, gt);
	if (!timer_arm(gt, deadline_after(d), "gort_timer_new")) {
		timer_release(gt);
		return NULL;
	}
	return gt;
}

gort_timer *gort_after_func(int64_t d, void (*fn)(void *arg), void *arg)
{
	struct gort_timer *gt;

	if (!fn) {
		set_errmsg("gort_after_func: function is NULL");
		return NULL;
	}
	gt = timer_alloc("gort_after_func", false);
	if (!gt)
		return NULL;
	gt->fn = fn;
	gt->arg = arg;
	timer_init(&gt->t, timer_func_fire, gt);
	if (!timer_arm(gt, deadline_after(d), "gort_after_func")) {
		timer_release(gt);
		return NULL;
	}
	return gt;
}

gort_chan *gort_timer_chan(gort_timer *gt)
{
	return gt ? gt->ch : NULL;
}

/* gt->lock held: dequeues, waits out a running firing, drains the channel.
 * Returns true when the timer was pending or its value unreceived. */
static bool timer_quiesce(struct gort_timer *gt)
{
	bool pending = timer_stop(&gt->t);

	timer_wait_idle(&gt->t);
	if (gt->ch && gort_chan_try_recv(gt->ch, NULL) == 1)
		pending = true;
	return pending;
}

bool gort_timer_stop(gort_timer *gt)
{
	bool pending;

	if (!gt)
		return false;
	rt_lock(&gt->lock);
	pending = timer_quiesce(gt);
	rt_unlock(&gt->lock);
	return pending;
}

bool gort_timer_reset(gort_timer *gt, int64_t d)
{
	bool pending;

	if (!gt)
		return false;
	rt_lock(&gt->lock);
	pending = timer_quiesce(gt);
	timer_arm(gt, deadline_after(d), "gort_timer_reset");
	rt_unlock(&gt->lock);
	return pending;
}

void gort_timer_free(gort_timer *gt)
{
	if (!gt)
		return;
	rt_lock(&gt->lock);
	timer_quiesce(gt);
	rt_unlock(&gt->lock);
	timer_release(gt);
}

/* ---- After ---- */

struct after_timer {
	struct timer t;
	gort_chan *ch;
};

/* The timer's last act: it frees itself (fn_owns) and drops its reference. */
static void after_fire(struct timer *t, int64_t now)
{
	struct after_timer *at = t->arg;

	(void)gort_chan_try_send(at->ch, &now);
	chan_unref(at->ch);
	free(at);
}

gort_chan *gort_after(int64_t d)
{
	struct after_timer *at;
	int err = gort_init();

	if (err)
		return NULL;
	at = malloc(sizeof(*at));
	if (!at) {
		set_errmsg("gort_after: out of memory");
		return NULL;
	}
	at->ch = gort_chan_make(sizeof(int64_t), 1);
	if (!at->ch) {
		free(at);
		return NULL;
	}
	timer_init(&at->t, after_fire, at);
	at->t.fn_owns = true;
	chan_ref(at->ch); /* the timer's */
	timer_start(&at->t, deadline_after(d), &err);
	if (err) {
		chan_unref(at->ch);
		chan_unref(at->ch);
		free(at);
		set_errmsg("gort_after: out of memory queueing the timer");
		return NULL;
	}
	return at->ch;
}

/* ---- Ticker ---- */

gort_ticker *gort_ticker_new(int64_t period)
{
	struct gort_ticker *tk;

	if (period <= 0) {
		set_errmsg("gort_ticker_new: period %lld is not positive", (long long)period);
		return NULL;
	}
	/* A gort_timer with a period: same layout, freed the same way. */
	tk = (struct gort_ticker *)timer_alloc("gort_ticker_new", true);
	if (!tk)
		return NULL;
	timer_init(&tk->tm.t, timer_chan_fire, &tk->tm);
	tk->tm.t.period = period;
	if (!timer_arm(&tk->tm, deadline_after(period), "gort_ticker_new")) {
		timer_release(&tk->tm);
		return NULL;
	}
	return tk;
}

gort_chan *gort_ticker_chan(gort_ticker *tk)
{
	return tk ? tk->tm.ch : NULL;
}

int gort_ticker_reset(gort_ticker *tk, int64_t period)
{
	if (!tk || period <= 0) {
		set_errmsg("gort_ticker_reset: %s", tk ? "period is not positive" : "NULL ticker");
		return GORT_EINVAL;
	}
	rt_lock(&tk->tm.lock);
	timer_quiesce(&tk->tm);
	tk->tm.t.period = period;
	timer_arm(&tk->tm, deadline_after(period), "gort_ticker_reset");
	rt_unlock(&tk->tm.lock);
	return 0;
}

void gort_ticker_stop(gort_ticker *tk)
{
	if (tk)
		gort_timer_stop(&tk->tm);
}

void gort_ticker_free(gort_ticker *tk)
{
	if (tk)
		gort_timer_free(&tk->tm);
}
