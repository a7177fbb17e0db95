// SPDX-License-Identifier: MIT
/*
 * The scheduler snapshot behind the USDT probe gort:sched__stats (layout in
 * snapshot.h). sysmon calls snapshot_publish() on its tick only while the
 * probe's semaphore is set, i.e. while a tracer is attached: with no tracer
 * the whole cost is sysmon's one load of the semaphore per tick, and the
 * workers' hot paths carry nothing for it (the counters are the ones
 * gort_stats() already reads; states and wait reasons come from a walk of
 * the goroutine registry, done here and only here).
 *
 * Rate: at most one snapshot per SNAPSHOT_MIN_NS, and the walk (linear in
 * the goroutines ever allocated) is held to about 1/WALK_SHARE of sysmon's
 * time: after a walk of W ns the next snapshot waits at least WALK_SHARE * W,
 * capped at SNAPSHOT_MAX_NS so that a million goroutines still show.
 *
 * Only sysmon writes the struct and it fires the probe right after, so a
 * tracer copying it from the probe reads a finished snapshot. The values
 * themselves are read without stopping the world, like GORTDEBUG=scheddetail.
 */
#include <string.h>

#include "probes.h"
#include "runtime.h"
#include "snapshot.h"

#define SNAPSHOT_MIN_NS (20 * 1000 * 1000LL)
#define SNAPSHOT_MAX_NS (1000 * 1000 * 1000LL)
#define WALK_SHARE 20

_Static_assert(WAIT__COUNT <= GORT_SNAPSHOT_REASONS, "g_waiting_reason[] too small");

static struct gort_snapshot snap;
static int64_t next_due;

static void count_goroutines(struct gort_snapshot *s)
{
	int64_t n = registry_count();

	for (int64_t i = 0; i < n; i++) {
		struct goroutine *g = registry_get(i);
		uint32_t st = __atomic_load_n(&g->status, __ATOMIC_RELAXED);
		uint8_t r;

		switch (st) {
		case G_RUNNABLE:
			s->g_runnable++;
			break;
		case G_RUNNING:
			s->g_running++;
			break;
		case G_SYSCALL:
			s->g_syscall++;
			break;
		case G_WAITING:
			r = __atomic_load_n(&g->wait_reason, __ATOMIC_RELAXED);
			s->g_waiting++;
			s->g_waiting_reason[r < GORT_SNAPSHOT_REASONS ? r : 0]++;
			break;
		default: /* G_IDLE, G_DEAD: not a goroutine now */
			break;
		}
	}
}

static void describe_procs(struct gort_snapshot *s, int n)
{
	s->nprocs = n;
	s->nprocs_shown = n < GORT_SNAPSHOT_PROCS ? n : GORT_SNAPSHOT_PROCS;
	for (int i = 0; i < s->nprocs_shown; i++) {
		struct proc *p = sched.allp[i];
		struct gort_snapshot_proc *d = &s->procs[i];

		if (!p) {
			memset(d, 0, sizeof(*d));
			continue;
		}
		d->status = __atomic_load_n(&p->status, __ATOMIC_RELAXED);
		d->runq = runq_len(p);
		d->runnext = __atomic_load_n(&p->runnext, __ATOMIC_RELAXED) != NULL;
		d->schedtick = __atomic_load_n(&p->schedtick, __ATOMIC_RELAXED);
		d->syscalltick = __atomic_load_n(&p->syscalltick, __ATOMIC_RELAXED);
		d->timers = (uint32_t)__atomic_load_n(&p->timers.n, __ATOMIC_RELAXED);
		d->runs = __atomic_load_n(&p->runs, __ATOMIC_RELAXED);
	}
}

void snapshot_publish(int64_t now)
{
	struct gort_snapshot *s = &snap;
	struct gort_stats st;
	int64_t t0, walk, period;
	uint64_t seq = s->seq + 1;

	if (now < next_due)
		return;
	memset(s, 0, offsetof(struct gort_snapshot, procs));
	gort_stats(&st);
	s->version = GORT_SNAPSHOT_VERSION;
	s->seq = seq;
	s->time_ns = now;
	s->goroutines = st.goroutines;
	s->created = st.goroutines_created;
	s->maxprocs = st.maxprocs;
	s->workers = st.workers;
	s->idle_procs = st.idle_procs;
	s->spinning_workers = st.spinning_workers;
	s->switches = st.switches;
	s->steals = st.steals;
	s->stolen = st.stolen_goroutines;
	s->global_runq_gets = st.global_runq_gets;
	s->worker_parks = st.worker_parks;
	s->worker_wakes = st.worker_wakes;
	s->syscall_handoffs = st.syscall_handoffs;
	s->preempt_requests = st.preempt_requests;
	s->stw_count = st.stw_count;
	s->kassist = st.kassist;
	s->kassist_handoffs = st.kassist_handoffs;
	s->kassist_switches = st.kassist_switches;
	s->global_runq = __atomic_load_n(&sched.gq_size, __ATOMIC_RELAXED);
	t0 = nanotime();
	count_goroutines(s);
	describe_procs(s, (int)st.maxprocs);
	walk = nanotime() - t0;
	period = walk * WALK_SHARE;
	period = period < SNAPSHOT_MIN_NS   ? SNAPSHOT_MIN_NS
		 : period > SNAPSHOT_MAX_NS ? SNAPSHOT_MAX_NS
					    : period;
	s->walk_ns = walk;
	s->period_ns = period;
	s->size = (uint32_t)(offsetof(struct gort_snapshot, procs) +
			     (size_t)s->nprocs_shown * sizeof(s->procs[0]));
	next_due = now + period;
	GORT_PROBE3(sched__stats, s, s->size, GORT_SNAPSHOT_VERSION);
}
