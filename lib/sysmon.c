// SPDX-License-Identifier: MIT
/*
 * sysmon: a thread outside the scheduler (Go's sysmon). It
 *  - retakes a proc whose worker has been in a syscall region for 20 us and
 *    hands it to another worker (handoff_proc), so other goroutines run;
 *  - flags a goroutine that has run for 10 ms without rescheduling, which
 *    then yields at its next runtime call (cooperative preemption);
 *  - runs timers overdue by more than 1 ms (a safety net);
 *  - polls the netpoller when nobody has for 10 ms;
 *  - prints GORTDEBUG=schedtrace lines;
 *  - scavenges: unmaps cached stacks, drops sync.Pool caches (pool.c).
 * It ticks every 20 us while some proc is in a syscall region, otherwise it
 * backs off to 10 ms; a syscall entry wakes it from a long sleep.
 */
#include <pthread.h>
#include <stdio.h>
#include <sys/prctl.h>

#include "futex.h"
#include "netpoll.h"
#include "probes.h"
#include "runtime.h"

#define TICK_NS (SYSMON_SYSCALL_US * 1000LL)
#define MAX_SLEEP_NS (10 * 1000 * 1000LL)
/* How often a proc in a syscall region that nobody waits for is looked at. */
#define IDLE_SYSCALL_POLL_NS (200 * 1000LL)

static uint32_t sysmon_futex;	 /* sysmon sleeps on this word */
static uint32_t sysmon_sleeping; /* atomic: 1 while in a sleep longer than a tick */

struct proc_watch {
	uint32_t schedtick;
	int64_t schedwhen;
	uint32_t timerruns; /* runs at the last timers_watch */
};
static struct proc_watch watch[MAX_PROCS];

void sysmon_wake(void)
{
	if (__atomic_load_n(&sysmon_sleeping, __ATOMIC_SEQ_CST) &&
	    __atomic_exchange_n(&sysmon_sleeping, 0, __ATOMIC_SEQ_CST)) {
		__atomic_add_fetch(&sysmon_futex, 1, __ATOMIC_RELEASE);
		futex_wake(&sysmon_futex, 1);
	}
}

/* Returns the time until the next syscall retake is due, or -1 if none. */
static int64_t retake(int64_t now)
{
	int n = __atomic_load_n(&sched.maxprocs, __ATOMIC_ACQUIRE);
	int64_t next = -1;

	for (int i = 0; i < n; i++) {
		struct proc *p = sched.allp[i];
		uint32_t st = __atomic_load_n(&p->status, __ATOMIC_SEQ_CST);

		if (st == P_SYSCALL) {
			int64_t due = __atomic_load_n(&p->syscall_when, __ATOMIC_RELAXED) + TICK_NS;
			uint32_t expect = P_SYSCALL;

			if (due > now) {
				if (next < 0 || due - now < next)
					next = due - now;
				continue;
			}
			/* Keep it for the syscall's return when nothing waits for it
			 * and others are idle anyway (Go's retake rule). */
			if (runq_empty(p) &&
			    __atomic_load_n(&sched.gq_size, __ATOMIC_RELAXED) == 0 &&
			    __atomic_load_n(&sched.nspinning, __ATOMIC_RELAXED) +
					    __atomic_load_n(&sched.npidle, __ATOMIC_RELAXED) >
				    0 &&
			    now - due < MAX_SLEEP_NS) {
				/* Work may show up later: look again, but not every tick. */
				if (next < 0 || IDLE_SYSCALL_POLL_NS < next)
					next = IDLE_SYSCALL_POLL_NS;
				continue;
			}
			if (!__atomic_compare_exchange_n(&p->status, &expect, P_RUNNING, false,
							 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
				continue;
			__atomic_add_fetch(&sched.n_handoffs, 1, __ATOMIC_RELAXED);
			GORT_PROBE1(syscall__handoff, p->id);
			handoff_proc(p);
		} else if (st == P_RUNNING) {
			uint32_t t = __atomic_load_n(&p->schedtick, __ATOMIC_RELAXED);

			if (watch[i].schedtick != t) {
				watch[i].schedtick = t;
				watch[i].schedwhen = now;
			} else if (now - watch[i].schedwhen >= PREEMPT_NS) {
				struct worker *w = __atomic_load_n(&p->worker, __ATOMIC_ACQUIRE);
				struct goroutine *g =
					w ? __atomic_load_n(&w->curg, __ATOMIC_ACQUIRE) : NULL;

				if (g)
					__atomic_store_n(&g->preempt, true, __ATOMIC_RELEASE);
				watch[i].schedwhen = now;
			}
		}
	}
	return next;
}

/*
 * A safety net for timers: the workers run them (timer.h), but one whose
 * proc's worker is stuck in a long computation, or one queued in a window
 * nobody covered, must still fire. Timers overdue by more than a
 * millisecond are run from here: timer functions never block and work from
 * any thread (what they ready goes to the global queue). Not those of a
 * proc whose worker has started a goroutine since the last look: it runs
 * them itself, and may be holding them back while its run queue is full
 * (timer.c); from here they would land on the global queue behind
 * everything else.
 */
static void timers_watch(int64_t now)
{
	int n = __atomic_load_n(&sched.maxprocs, __ATOMIC_ACQUIRE);

	for (int i = 0; i < n; i++) {
		struct proc *p = sched.allp[i];
		int64_t when = __atomic_load_n(&p->timers.when0, __ATOMIC_SEQ_CST);
		uint32_t runs = (uint32_t)__atomic_load_n(&p->runs, __ATOMIC_RELAXED);
		bool progressing = __atomic_load_n(&p->status, __ATOMIC_SEQ_CST) == P_RUNNING &&
				   runs != watch[i].timerruns;

		watch[i].timerruns = runs;
		if (when && when < now - 1000000 && !progressing)
			timers_check(p, now);
	}
}

/* Go's g status numbers (_Grunnable 1, _Grunning 2, _Gsyscall 3, _Gwaiting 4, _Gdead 6). */
static int go_gstatus(uint32_t st)
{
	static const int map[] = { [G_IDLE] = 0,    [G_RUNNABLE] = 1, [G_RUNNING] = 2,
				   [G_WAITING] = 4, [G_SYSCALL] = 3,  [G_DEAD] = 6 };

	return st < sizeof(map) / sizeof(map[0]) ? map[st] : (int)st;
}

/*
 * GORTDEBUG=scheddetail=1: Go's per-P, per-M and per-G lines. Like Go's, it
 * reads everything without stopping the world: a snapshot that may tear
 * (and that TSan may call racy). enum pstatus numbers are Go's already.
 */
static void scheddetail(int n)
{
	int64_t ng = registry_count();

	for (int i = 0; i < n; i++) {
		struct proc *p = sched.allp[i];
		struct worker *w = __atomic_load_n(&p->worker, __ATOMIC_ACQUIRE);

		fprintf(stderr,
			"  P%d: status=%u schedtick=%u syscalltick=%u m=%d runqsize=%u gfreecnt=%d "
			"timerslen=%d\n",
			i, __atomic_load_n(&p->status, __ATOMIC_RELAXED),
			__atomic_load_n(&p->schedtick, __ATOMIC_RELAXED),
			__atomic_load_n(&p->syscalltick, __ATOMIC_RELAXED), w ? w->id : -1,
			runq_len(p), __atomic_load_n(&p->ngfree, __ATOMIC_RELAXED),
			__atomic_load_n(&p->timers.n, __ATOMIC_RELAXED));
	}
	for (struct worker *w = __atomic_load_n(&sched.allw, __ATOMIC_ACQUIRE); w;
	     w = w->all_next) {
		struct proc *p = __atomic_load_n(&w->proc, __ATOMIC_RELAXED);
		struct goroutine *g = __atomic_load_n(&w->curg, __ATOMIC_ACQUIRE);
		struct goroutine *lg = __atomic_load_n(&w->locked_g, __ATOMIC_RELAXED);

		fprintf(stderr, "  M%d: p=%d curg=%lld spinning=%s blocked=%s lockedg=%lld\n",
			w->id, p ? p->id : -1, g ? (long long)g->id : -1LL,
			__atomic_load_n(&w->spinning, __ATOMIC_RELAXED) ? "true" : "false",
			__atomic_load_n(&w->idle, __ATOMIC_RELAXED) ? "true" : "false",
			lg ? (long long)lg->id : -1LL);
	}
	for (int64_t i = 0; i < ng; i++) {
		struct goroutine *g = registry_get(i);
		uint32_t st = __atomic_load_n(&g->status, __ATOMIC_ACQUIRE);
		uint8_t r = __atomic_load_n(&g->wait_reason, __ATOMIC_RELAXED);
		struct worker *lw = __atomic_load_n(&g->locked_worker, __ATOMIC_RELAXED);
		int m = -1;

		if (st == G_IDLE || st == G_DEAD)
			continue;
		if (st == G_RUNNING || st == G_SYSCALL)
			for (struct worker *w = __atomic_load_n(&sched.allw, __ATOMIC_ACQUIRE); w;
			     w = w->all_next)
				if (__atomic_load_n(&w->curg, __ATOMIC_ACQUIRE) == g)
					m = w->id;
		fprintf(stderr, "  G%lld: status=%d(%s) m=%d lockedm=%d\n", (long long)g->id,
			go_gstatus(st),
			st == G_WAITING && r < WAIT__COUNT ? wait_reason_names[r] : "", m,
			lw ? lw->id : -1);
	}
}

/* Go's schedtrace line (Go 1.19's fields; with scheddetail, Go's longer first line). */
static void schedtrace(int64_t now, int64_t start)
{
	int n = __atomic_load_n(&sched.maxprocs, __ATOMIC_ACQUIRE);
	char line[1024];
	int len, nwidle;

	/* Written under sched.lock by workers going idle (as in Go, read under it). */
	rt_lock(&sched.lock);
	nwidle = sched.nwidle;
	rt_unlock(&sched.lock);
	len = snprintf(line, sizeof(line),
		       "SCHED %lldms: gomaxprocs=%d idleprocs=%d threads=%d spinningthreads=%d "
		       "idlethreads=%d runqueue=%ld",
		       (long long)((now - start) / 1000000), n,
		       __atomic_load_n(&sched.npidle, __ATOMIC_RELAXED),
		       __atomic_load_n(&sched.nworkers, __ATOMIC_RELAXED) + 1,
		       __atomic_load_n(&sched.nspinning, __ATOMIC_RELAXED), nwidle,
		       __atomic_load_n(&sched.gq_size, __ATOMIC_RELAXED));
	if (config.scheddetail) {
		snprintf(line + len, sizeof(line) - (size_t)len,
			 " gcwaiting=%u nmidlelocked=0 stopwait=0 sysmonwait=0\n",
			 __atomic_load_n(&sched.stw_pending, __ATOMIC_RELAXED));
		fputs(line, stderr);
		scheddetail(n);
		return;
	}
	len += snprintf(line + len, sizeof(line) - (size_t)len, " [");
	for (int i = 0; i < n && len < (int)sizeof(line) - 16; i++)
		len += snprintf(line + len, sizeof(line) - (size_t)len, i ? " %u" : "%u",
				runq_len(sched.allp[i]));
	snprintf(line + len, sizeof(line) - (size_t)len, "]\n");
	fputs(line, stderr);
}

static void *sysmon_main(void *arg)
{
	int64_t start = nanotime(), next_trace = start, delay = TICK_NS;

	(void)arg;
	prctl(PR_SET_NAME, "gort-sysmon");
	/* Without this a 20 us sleep lasts 50 us or more (default timer slack). */
	prctl(PR_SET_TIMERSLACK, 1);
	for (;;) {
		int64_t now, due;
		uint32_t seq = __atomic_load_n(&sysmon_futex, __ATOMIC_ACQUIRE);

		if (delay > TICK_NS) {
			__atomic_store_n(&sysmon_sleeping, 1, __ATOMIC_SEQ_CST);
			/* Re-check after announcing the long sleep (pairs with
			 * gort_syscall_enter's seq_cst store + sysmon_wake). */
			due = retake(nanotime());
			if (due >= 0 && due < delay)
				delay = due;
		}
		if (delay > 0)
			futex_wait(&sysmon_futex, seq, delay);
		__atomic_store_n(&sysmon_sleeping, 0, __ATOMIC_SEQ_CST);
		now = nanotime();
		__atomic_store_n(&sched.coarse_now, now, __ATOMIC_RELAXED);
		due = retake(now);
		gfree_scavenge(now);
		timers_watch(now);
		netpoll_sysmon(now);
		pool_scavenge(now);
		if (GORT_PROBE_ENABLED(sched__stats))
			snapshot_publish(now);
		if (config.schedtrace_ms > 0 && now >= next_trace) {
			if (now > start)
				schedtrace(now, start);
			next_trace = now + (int64_t)config.schedtrace_ms * 1000000;
		}
		/*
		 * Unlike Go's sysmon, which backs off from 20 us while nothing
		 * happens, ours can sleep long at once when no proc is in a
		 * syscall region: gort_syscall_enter() wakes it. Each needless
		 * wakeup steals a CPU from a worker for tens of microseconds here.
		 */
		delay = due >= 0 ? due : MAX_SLEEP_NS;
		if (config.schedtrace_ms > 0 && delay > (int64_t)config.schedtrace_ms * 1000000)
			delay = (int64_t)config.schedtrace_ms * 1000000;
	}
	return NULL;
}

int sysmon_start(void)
{
	pthread_t t;
	pthread_attr_t attr;
	int err;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&t, &attr, sysmon_main, NULL);
	pthread_attr_destroy(&attr);
	if (err) {
		set_errmsg("gort_init: cannot start the sysmon thread: error %d", err);
		return GORT_EAGAIN;
	}
	return 0;
}
