// SPDX-License-Identifier: MIT
/* Starting the runtime, gort_main, GOMAXPROCS, statistics. */
#include <stdlib.h>
#include <string.h>

#include "probes.h"
#include "runtime.h"

static struct rt_lock init_lock = RT_LOCK_INIT;
static int preset_maxprocs; /* gort_maxprocs() before the runtime started */

const char *gort_version(void)
{
#define STR_(x) #x
#define STR(x) STR_(x)
	return STR(GORT_VERSION_MAJOR) "." STR(GORT_VERSION_MINOR) "." STR(GORT_VERSION_PATCH);
}

static struct proc *proc_new(int id)
{
	struct proc *p = sched.allp[id];

	if (!p) {
		p = aligned_alloc(64, sizeof(*p));
		if (!p)
			return NULL;
		memset(p, 0, sizeof(*p));
		p->id = id;
		sched.allp[id] = p;
	}
	return p;
}

int gort_init(void)
{
	int err = 0;

	if (__atomic_load_n(&sched.started, __ATOMIC_ACQUIRE))
		return 0;
	rt_lock(&init_lock);
	if (sched.started)
		goto out;
	config_load();
	if (preset_maxprocs > 0)
		config.maxprocs = preset_maxprocs;
	stack_init();
	cds_wfcq_init(&sched.gq_head, &sched.gq_tail);
	sched.timer_sleep_until = INT64_MAX;
	sched.coarse_now = nanotime();
	for (int i = 0; i < config.maxprocs; i++) {
		struct proc *p = proc_new(i);

		if (!p) {
			set_errmsg("gort_init: out of memory for %d procs", config.maxprocs);
			err = GORT_ENOMEM;
			goto out;
		}
	}
	/* Highest id first on the idle list, so proc 0 is used first. */
	for (int i = config.maxprocs - 1; i >= 0; i--)
		proc_put_idle(sched.allp[i]);
	__atomic_store_n(&sched.maxprocs, config.maxprocs, __ATOMIC_RELEASE);
	err = signals_init();
	if (err)
		goto out;
	err = kassist_open();
	if (err && config.kassist == 2)
		goto out;
	err = sysmon_start();
	if (err)
		goto out;
	__atomic_store_n(&sched.started, true, __ATOMIC_RELEASE);
out:
	rt_unlock(&init_lock);
	return err;
}

struct main_call {
	int (*fn)(int, char **);
	int argc;
	char **argv;
	int ret;
	struct note done;
};

static void main_goroutine(void *arg)
{
	struct main_call *mc = arg;

	mc->ret = mc->fn(mc->argc, mc->argv);
	note_wakeup(&mc->done);
}

int gort_main(int (*fn)(int argc, char **argv), int argc, char **argv)
{
	struct main_call mc = { .fn = fn, .argc = argc, .argv = argv };
	struct gort_go_opts opts = { .name = "main" };
	int64_t id;

	if (this_goroutine()) {
		set_errmsg("gort_main: called from a goroutine");
		return GORT_EPERM;
	}
	if (!fn) {
		set_errmsg("gort_main: function is NULL");
		return GORT_EINVAL;
	}
	id = gort_go_opts(main_goroutine, &mc, &opts);
	if (id < 0)
		return (int)id;
	/* This thread only waits: goroutine 1 runs on the workers like any other. */
	note_sleep(&mc.done, -1);
	return mc.ret;
}

/* World stopped. Procs [old, n) are created stopped; [n, old) are emptied. */
static void procresize(int n)
{
	int old = sched.maxprocs;
	struct worker *w = this_worker();
	struct proc *own = w && w->curg ? w->proc : NULL;

	for (int i = old; i < n; i++) {
		struct proc *p = proc_new(i);

		if (!p) {
			n = i;
			break;
		}
		__atomic_store_n(&p->status, P_STOPPED, __ATOMIC_RELEASE);
	}
	for (int i = n; i < old; i++) {
		struct proc *p = sched.allp[i];
		struct goroutine *g;
		bool inherit;

		while ((g = runq_get(p, &inherit)))
			global_runq_put(g);
		rt_lock(&sched.gfree_lock);
		while (p->gfree) {
			g = p->gfree;
			p->gfree = g->sched_link;
			g->sched_link = sched.gfree;
			sched.gfree = g;
			__atomic_add_fetch(&sched.ngfree, 1, __ATOMIC_RELAXED);
		}
		p->ngfree = 0;
		rt_unlock(&sched.gfree_lock);
		timers_move(p, sched.allp[0]);
		__atomic_store_n(&p->status, P_DEAD, __ATOMIC_RELEASE);
	}
	if (own && own->id >= n) {
		/* The caller's proc goes away: it moves to proc 0 (stopped). */
		struct proc *p0 = sched.allp[0];

		release_proc(w);
		acquire_proc(w, p0);
		__atomic_store_n(&sched.stw_owner, p0, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&sched.maxprocs, n, __ATOMIC_RELEASE);
}

int gort_maxprocs(int n)
{
	int old;

	if (n > MAX_PROCS)
		n = MAX_PROCS;
	rt_lock(&init_lock);
	if (!__atomic_load_n(&sched.started, __ATOMIC_ACQUIRE)) {
		if (preset_maxprocs <= 0) {
			config_load();
			preset_maxprocs = config.maxprocs;
		}
		old = preset_maxprocs;
		if (n > 0)
			preset_maxprocs = n;
		rt_unlock(&init_lock);
		return old;
	}
	rt_unlock(&init_lock);
	old = __atomic_load_n(&sched.maxprocs, __ATOMIC_ACQUIRE);
	if (n <= 0 || n == old)
		return old;
	gort_stop_the_world("maxprocs");
	procresize(n);
	gort_start_the_world();
	return old;
}

int64_t gort_now(void)
{
	sched_safe_point();
	return nanotime();
}

int gort_stats(struct gort_stats *st)
{
	int n;

	if (!st)
		return GORT_EINVAL;
	memset(st, 0, sizeof(*st));
	n = __atomic_load_n(&sched.maxprocs, __ATOMIC_RELAXED);
	st->goroutines = __atomic_load_n(&sched.ngoroutines, __ATOMIC_RELAXED);
	st->goroutines_created = __atomic_load_n(&sched.created, __ATOMIC_RELAXED);
	st->maxprocs = n;
	st->workers = __atomic_load_n(&sched.nworkers, __ATOMIC_RELAXED);
	st->idle_procs = __atomic_load_n(&sched.npidle, __ATOMIC_RELAXED);
	st->spinning_workers = __atomic_load_n(&sched.nspinning, __ATOMIC_RELAXED);
	st->steals = __atomic_load_n(&sched.n_steals, __ATOMIC_RELAXED);
	st->stolen_goroutines = __atomic_load_n(&sched.n_stolen, __ATOMIC_RELAXED);
	st->global_runq_gets = __atomic_load_n(&sched.n_global_gets, __ATOMIC_RELAXED);
	st->worker_parks = __atomic_load_n(&sched.n_parks, __ATOMIC_RELAXED);
	st->worker_wakes = __atomic_load_n(&sched.n_wakes, __ATOMIC_RELAXED);
	st->syscall_handoffs = __atomic_load_n(&sched.n_handoffs, __ATOMIC_RELAXED);
	st->preempt_requests = __atomic_load_n(&sched.n_preempts, __ATOMIC_RELAXED);
	st->stw_count = __atomic_load_n(&sched.n_stw, __ATOMIC_RELAXED);
	st->stack_guard_mode = stack_guard_mode();
	st->kassist = kassist_active();
	st->kassist_handoffs = __atomic_load_n(&sched.n_kassist_handoffs, __ATOMIC_RELAXED);
	st->kassist_switches = __atomic_load_n(&sched.n_kassist_switches, __ATOMIC_RELAXED);
	for (int i = 0; i < n && i < 64; i++) {
		struct proc *p = sched.allp[i];

		st->per_proc_runs[i] = p ? (int64_t)__atomic_load_n(&p->runs, __ATOMIC_RELAXED) : 0;
	}
	/* Switches are counted per worker without atomics; sum what is visible. */
	for (struct worker *w = __atomic_load_n(&sched.allw, __ATOMIC_ACQUIRE); w; w = w->all_next)
		st->switches += (int64_t)__atomic_load_n(&w->switches, __ATOMIC_RELAXED);
	return 0;
}
