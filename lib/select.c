// SPDX-License-Identifier: MIT
/*
 * select (Go's selectgo). Three passes, all with every channel of the
 * select locked (in address order, so overlapping selects cannot deadlock):
 *  1. look at the cases in a random order (fairness) and perform the first
 *     one that can proceed;
 *  2. otherwise queue one sudog per case, all sharing one waiter, and park;
 *     the channel locks are dropped only after the switch away;
 *  3. once woken (by the winner of the select's done flag: a channel
 *     operation or the deadline timer), take the losing sudogs off their
 *     queues and report the winner.
 * The deadline timer is armed from the park's unlock callback, so it can
 * only fire once the waiter is parked.
 */
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "probes.h"
#include "runtime.h"
#include "timer.h"

#define SELECT_MAX_CASES 65536
#define SELECT_STACK_CASES 16 /* larger selects allocate their scratch arrays */

struct select_state {
	struct gort_select_case *cases;
	uint32_t *lockorder; /* case indices sorted by channel address */
	int nlock;	     /* cases with a channel */
	struct timer *deadline_timer;
	int64_t deadline;
};

static void sellock(struct select_state *st)
{
	struct gort_chan *prev = NULL;

	for (int i = 0; i < st->nlock; i++) {
		struct gort_chan *c = st->cases[st->lockorder[i]].chan;

		if (c != prev)
			rt_lock(&c->lock);
		prev = c;
	}
}

static void selunlock(struct select_state *st)
{
	/* Reverse order, each channel once (duplicates are adjacent). */
	for (int i = st->nlock - 1; i >= 0; i--) {
		struct gort_chan *c = st->cases[st->lockorder[i]].chan;

		if (i > 0 && st->cases[st->lockorder[i - 1]].chan == c)
			continue;
		rt_unlock(&c->lock);
	}
}

/* The park's unlock callback: runs once the waiter is off its stack. */
static void selpark_commit(void *arg)
{
	struct select_state *st = arg;

	if (st->deadline_timer) {
		int err = 0;

		timer_start(st->deadline_timer, st->deadline, &err);
		if (err)
			gort_fatal("select: cannot arm the deadline timer: %s", gort_strerror(err));
	}
	selunlock(st);
}

static void select_timeout(struct timer *t, int64_t now)
{
	struct chan_waiter *cw = t->arg;
	uint32_t zero = 0;

	(void)now;
	/* The last touch of cw either way: the waker returns from select as
	 * soon as it may (see pass 3). */
	if (__atomic_compare_exchange_n(&cw->select_done, &zero, 1, false, __ATOMIC_ACQ_REL,
					__ATOMIC_RELAXED)) {
		cw->fired = NULL;
		waiter_wake(&cw->wt);
	} else {
		__atomic_store_n(&cw->timer_lost, 1, __ATOMIC_RELEASE);
	}
}

static void sort_lockorder(struct gort_select_case *cases, uint32_t *order, int n)
{
	/* Insertion sort: selects are small. Large ones are rare enough that
	 * O(n^2) compares of adjacent words stay cheap against the locking. */
	for (int i = 1; i < n; i++) {
		uint32_t x = order[i];
		uintptr_t key = (uintptr_t)cases[x].chan;
		int j = i - 1;

		while (j >= 0 && (uintptr_t)cases[order[j]].chan > key) {
			order[j + 1] = order[j];
			j--;
		}
		order[j + 1] = x;
	}
}

static int cmp_case_chan(const void *a, const void *b, void *arg)
{
	struct gort_select_case *cases = arg;
	uintptr_t x = (uintptr_t)cases[*(const uint32_t *)a].chan;
	uintptr_t y = (uintptr_t)cases[*(const uint32_t *)b].chan;

	return x < y ? -1 : x > y;
}

/* Pass 1: tries a case with its channel locked. Returns true when it fired;
 * what to wake or notify once the locks are dropped is left in *wake and
 * *notify. */
static bool try_case(struct gort_select_case *cs, struct sudog **wake, struct waitq **notify)
{
	struct gort_chan *c = cs->chan;

	if (cs->dir == GORT_RECV)
		return chan_recv_locked(c, cs->elem, &cs->ok, wake, notify) == CHAN_DONE;
	switch (chan_send_locked(c, cs->elem, wake, notify)) {
	case CHAN_DONE:
		cs->ok = true;
		return true;
	case CHAN_CLOSED_:
		cs->ok = false;
		return true;
	default:
		return false;
	}
}

/* Locks held: takes our sudogs still queued off their queues. */
static void unqueue_all(struct gort_select_case *cases, struct sudog *sgs, int n)
{
	for (int k = 0; k < n; k++) {
		struct sudog *sg = &sgs[k];

		if (sg->queued)
			waitq_unlink(cases[sg->case_index].dir == GORT_SEND ? &sg->c->sendq
									    : &sg->c->recvq,
				     sg);
	}
}

static int select_done(struct gort_select_case *cases, int i)
{
	if (cases[i].dir == GORT_SEND && !cases[i].ok) {
		chan_closed_misuse("select: send on closed channel");
		set_errmsg("gort_select: case %d: send on closed channel", i);
	}
	return i;
}

int gort_select(struct gort_select_case *cases, int n, int64_t deadline)
{
	uint32_t pollbuf[SELECT_STACK_CASES], lockbuf[SELECT_STACK_CASES];
	struct sudog sgbuf[SELECT_STACK_CASES];
	uint32_t *pollorder = pollbuf;
	struct select_state st = { .cases = cases, .lockorder = lockbuf };
	struct sudog *sgs = sgbuf, *wake;
	struct gort_chan *token_c = NULL;
	struct waitq *token = NULL; /* see the retry after pass 3 */
	struct chan_waiter cw;
	struct timer deadline_timer;
	int npoll = 0, ret;

	if (n < 0 || n > SELECT_MAX_CASES || (n > 0 && !cases)) {
		set_errmsg("gort_select: %d cases (0..%d, cases non-NULL)", n, SELECT_MAX_CASES);
		return GORT_EINVAL;
	}
	for (int i = 0; i < n; i++) {
		if (cases[i].dir != GORT_SEND && cases[i].dir != GORT_RECV) {
			set_errmsg(
				"gort_select: case %d: dir %d is neither GORT_SEND nor GORT_RECV",
				i, cases[i].dir);
			return GORT_EINVAL;
		}
	}
	/* A deadline needs the timers, hence the runtime (a foreign thread
	 * may be its first user). */
	if (deadline != GORT_SELECT_DEFAULT && deadline != GORT_FOREVER) {
		int err = gort_init();

		if (err)
			return err;
	}
	sched_safe_point();
	if (n > SELECT_STACK_CASES) {
		pollorder = malloc((size_t)n * (2 * sizeof(uint32_t) + sizeof(struct sudog)));
		if (!pollorder) {
			set_errmsg("gort_select: out of memory for %d cases", n);
			return GORT_ENOMEM;
		}
		st.lockorder = pollorder + n;
		sgs = (struct sudog *)(st.lockorder + n);
	}

	/* A random permutation of the cases that have a channel (a nil
	 * channel's case never fires), built inside-out (Fisher-Yates). */
	for (int i = 0; i < n; i++) {
		uint32_t j;

		if (!cases[i].chan)
			continue;
		j = (uint32_t)(fastrand() % (uint64_t)(npoll + 1));
		pollorder[npoll] = pollorder[j];
		pollorder[j] = (uint32_t)i;
		st.lockorder[npoll] = (uint32_t)i;
		npoll++;
	}
	st.nlock = npoll;
	if (npoll <= 64)
		sort_lockorder(cases, st.lockorder, npoll);
	else
		qsort_r(st.lockorder, (size_t)npoll, sizeof(uint32_t), cmp_case_chan, cases);

restart:
	/* Pass 1. */
	sellock(&st);
	for (int k = 0; k < npoll; k++) {
		int i = (int)pollorder[k];
		struct waitq *notify;

		if (try_case(&cases[i], &wake, &notify)) {
			struct gort_chan *c = cases[i].chan;

			selunlock(&st);
			chan_complete(c, wake, notify);
			if (token && token != (cases[i].dir == GORT_SEND ? &c->sendq : &c->recvq))
				chan_notify(token_c, token);
			ret = select_done(cases, i);
			goto out;
		}
	}
	if (deadline == GORT_SELECT_DEFAULT) {
		selunlock(&st);
		ret = GORT_EAGAIN;
		goto out;
	}
	if (deadline != GORT_FOREVER && deadline <= nanotime()) {
		selunlock(&st);
		if (token)
			chan_notify(token_c, token);
		ret = GORT_ETIMEDOUT;
		goto out;
	}
	/* Nothing ready: whatever woke us was taken by someone else, who
	 * passes it on by their own operation. */
	token = NULL;

	/* Pass 2: queue on every channel, in lock order. */
	waiter_init(&cw.wt);
	cw.is_select = true;
	cw.select_done = 0;
	cw.fired = NULL;
	cw.timer_lost = 0;
	for (int k = 0; k < npoll; k++) {
		int i = (int)st.lockorder[k];
		struct sudog *sg = &sgs[k];
		struct gort_chan *c = cases[i].chan;

		sg->cw = &cw;
		sg->c = c;
		sg->elem = cases[i].elem;
		sg->case_index = i;
		sg->success = false;
		sg->retry = false;
		waitq_push(cases[i].dir == GORT_SEND ? &c->sendq : &c->recvq, sg);
		if (c->cap)
			chan_waiter_fence(cases[i].dir == GORT_SEND ? &c->sendq : &c->recvq);
	}
	/* Dekker's re-check against lock-free ring operations (chan.h). */
	for (int k = 0; k < npoll; k++) {
		if (chan_ready_locked(sgs[k].c, cases[sgs[k].case_index].dir)) {
			unqueue_all(cases, sgs, npoll);
			selunlock(&st);
			goto restart;
		}
	}
	st.deadline_timer = NULL;
	if (deadline != GORT_FOREVER) {
		timer_init(&deadline_timer, select_timeout, &cw);
		deadline_timer.fn_owns = true;
		st.deadline_timer = &deadline_timer;
		st.deadline = deadline;
	}
	GORT_PROBE2(select__block, npoll, cw.wt.g ? cw.wt.g->id : 0);
	waiter_block_fn(&cw.wt, npoll ? WAIT_SELECT : WAIT_SELECT_NO_CASES, selpark_commit, &st);

	/* Pass 3. A deadline timer that already ran ends with its CAS: wait
	 * for that only when it raced with a channel and lost (if it won,
	 * waking us was its last touch of our stack). */
	if (st.deadline_timer && !timer_stop(&deadline_timer) && cw.fired) {
		while (!__atomic_load_n(&cw.timer_lost, __ATOMIC_ACQUIRE))
			cpu_relax();
	}
	sellock(&st);
	unqueue_all(cases, sgs, npoll);
	selunlock(&st);
	if (!cw.fired) {
		ret = GORT_ETIMEDOUT;
		goto out;
	}
	if (cw.fired->retry) {
		/* A buffered channel changed: look again. The wakeup was meant
		 * for one waiter of that queue; if we end up not using it (a
		 * different case, a timeout), we must wake the next one. */
		token_c = cw.fired->c;
		token = cases[cw.fired->case_index].dir == GORT_SEND ? &token_c->sendq
								     : &token_c->recvq;
		goto restart;
	}
	{
		struct sudog *sg = cw.fired;
		struct gort_select_case *cs = &cases[sg->case_index];

		cs->ok = sg->success;
		if (cs->dir == GORT_RECV && !sg->success && cs->elem && sg->c->elem_size)
			memset(cs->elem, 0, sg->c->elem_size);
		ret = select_done(cases, sg->case_index);
	}
out:
	if (pollorder != pollbuf)
		free(pollorder);
	return ret;
}
