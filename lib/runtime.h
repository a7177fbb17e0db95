/* SPDX-License-Identifier: MIT */
/*
 * The scheduler's core types. The names map onto Go's runtime:
 *
 *   struct goroutine   Go's g: a function with its own stack and saved context.
 *   struct worker      Go's m: an OS thread that runs goroutines.
 *   struct proc        Go's p: a scheduling context with a local run queue. A
 *                      worker must hold a proc to run goroutines; there are
 *                      exactly maxprocs of them.
 *   struct sched       Go's schedt: idle procs and workers, the global run queue.
 *
 * Invariants:
 * - A goroutine is on at most one queue (a proc's runq/runnext, the global
 *   queue, a wait list) and runs on at most one worker.
 * - A goroutine that parks is only made runnable again after it is off its
 *   stack: the park's unlock callback runs after the switch (finish_switch),
 *   and every waker finds the goroutine under that lock.
 * - Runtime code never keeps the thread pointer across a switch: it calls
 *   this_worker() again, because the goroutine may have moved.
 */
#ifndef GORT_RUNTIME_H
#define GORT_RUNTIME_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <urcu/wfcqueue.h>

#include "gort.h"
#include "lock.h"
#include "note.h"
#include "runq.h"
#include "stack.h"
#include "timer.h"

#define MAX_PROCS 1024
#define RUNQ_SIZE 256		      /* Go's per-P run queue length */
#define GFREE_LOCAL_MAX 64	      /* dead goroutines cached per proc */
#define GLOBAL_RUNQ_EVERY 61	      /* check the global queue every N schedule ticks */
#define SYSMON_SYSCALL_US 20	      /* retake a proc from a syscall region after this */
#define PREEMPT_NS (10 * 1000 * 1000) /* flag goroutines running longer than this */

enum gstatus {
	G_IDLE,	    /* allocated, not yet started, or dead and cached */
	G_RUNNABLE, /* on a run queue */
	G_RUNNING,  /* on a worker */
	G_WAITING,  /* parked, see wait_reason */
	G_SYSCALL,  /* in a syscall region, holding no proc or a proc that may be retaken */
	G_DEAD,
};

enum wait_reason {
	WAIT_NONE,
	WAIT_WAITGROUP,
	WAIT_CHAN_SEND,
	WAIT_CHAN_RECV,
	WAIT_CHAN_SEND_NIL,
	WAIT_CHAN_RECV_NIL,
	WAIT_SELECT,
	WAIT_SELECT_NO_CASES,
	WAIT_MUTEX,
	WAIT_RWMUTEX_RLOCK,
	WAIT_RWMUTEX_LOCK,
	WAIT_COND,
	WAIT_SEMA,
	WAIT_SLEEP,
	WAIT_IO,
	WAIT_STW,
	WAIT__COUNT,
};
/* Go-style names ("chan receive", ...) for dumps and tools. */
extern const char *const wait_reason_names[WAIT__COUNT];

struct worker;
struct proc;

/* Saved machine context: the stack pointer; everything else is on the stack. */
struct context {
	void *sp;
};

struct goroutine {
	struct context ctx; /* saved sp; NULL until the goroutine first runs */
	struct stack stack;
	int64_t id;
	uint32_t status; /* enum gstatus, atomic */
	uint8_t wait_reason;
	bool preempt; /* sysmon asks it to yield at its next runtime call */
	bool in_syscall;
	int64_t wait_since; /* when parked: coarse_nanotime(), i.e. to sysmon's tick */
	void (*fn)(void *);
	void *arg;
	const char *name;
	int saved_errno;
	int lock_count;		      /* gort_lock_os_thread nesting */
	struct worker *locked_worker; /* non-NULL while wired to a thread */
	struct goroutine *sched_link; /* runq overflow batches, gfree lists */
	struct cds_wfcq_node gq_node; /* global run queue */
	struct proc *syscall_proc;    /* the proc held on syscall entry */
	void *syscall_sp;	      /* sp inside gort_syscall_enter, registers spilled above it */
	void *syscall_pc;	      /* where gort_syscall_enter returned to (dumps) */
	void *syscall_fp;	      /* its caller's frame pointer (dumps) */
	char *errmsg;		      /* gort_errmsg() of this goroutine, malloc'd on first use */
	void *lowest_sp;	      /* lowest sp seen at a switch (stack trimming) */
	void *asan_fake_stack;	      /* ASan: fake stack saved at the switch */
	void *tsan_fiber;	      /* TSan: this goroutine's fiber */
};

/* A bounded single-producer, multi-consumer ring (Go's runq). Only the owning
 * proc's worker puts; anyone may take (steal) with a CAS on head. */
struct runq {
	uint32_t head; /* atomic: consumers CAS */
	uint32_t tail; /* atomic store by the owner only */
	struct goroutine *ring[RUNQ_SIZE];
};

enum pstatus {
	P_IDLE,
	P_RUNNING,
	P_SYSCALL, /* its worker is in a syscall region; sysmon may retake it */
	P_STOPPED, /* stopped for stop-the-world */
	P_DEAD,	   /* beyond maxprocs */
};

struct proc {
	int id;
	uint32_t status;	   /* enum pstatus, atomic */
	struct worker *worker;	   /* the worker holding it (valid while not idle) */
	struct proc *link;	   /* idle list */
	uint32_t schedtick;	   /* incremented at every schedule */
	uint32_t syscalltick;	   /* incremented at every syscall region entry */
	int64_t syscall_when;	   /* monotonic ns of the last syscall region entry */
	struct goroutine *runnext; /* atomic: the goroutine to run next (LIFO slot) */
	struct goroutine *gfree;   /* dead goroutines with their stacks */
	int ngfree;
	struct stack_batch stacks; /* fresh default-size stacks */
	uint64_t runs;		   /* goroutines started here (stats) */
	/*
	 * The last time a spawner yielded here with the queue full
	 * (sched_spawn_point): schedtick and nanotime() then (0: never), and
	 * the schedules left before the global queue, where it waits, is
	 * looked at first (0: none pending). Owner only.
	 */
	uint32_t spawn_yield_tick;
	uint32_t spawn_resume_runs;
	int64_t spawn_yield_at;
	struct timer_heap timers; /* timers queued here; they move with the proc */
	struct runq runq;
} __attribute__((aligned(64)));

/* What the worker does right after a switch, on the new goroutine's stack. */
enum switch_action {
	SW_NONE,
	SW_YIELD,	 /* put the previous goroutine back on the run queue */
	SW_GLOBAL,	 /* put it on the global queue (preemption, wired goroutines) */
	SW_SYSCALL_EXIT, /* global queue, and reclaim the proc it lent (syscall.c) */
	SW_PARK,	 /* call the park's unlock callback */
	SW_EXIT,	 /* the previous goroutine is dead: cache it */
};

struct worker {
	struct context g0;	 /* the worker thread's own (scheduler) stack */
	struct goroutine *curg;	 /* running goroutine, NULL on g0 */
	struct proc *proc;	 /* held proc, NULL when idle or in a syscall */
	struct proc *next_proc;	 /* proc handed over by whoever woke us */
	struct worker *link;	 /* idle list */
	struct worker *all_next; /* list of all workers (never freed) */
	struct note park;	 /* sleep here when idle */
	bool spinning;
	struct goroutine *locked_g;  /* goroutine wired to this thread */
	struct goroutine *pending_g; /* picked by a direct switch, to be run by g0 */
	int id;
	/* Under sched.lock; full words, apart from fields written without it. */
	uint32_t idle;	      /* on the idle list */
	uint32_t timer_woken; /* taken off the idle list by timers_wake */
	uint32_t polling;     /* atomic: sleeping in the netpoller, not on park */
	/* Kernel assist (kassist.c): the module worker's handle and slot, and
	 * the proc held in the current syscall region. */
	uint32_t kassist_handle;
	struct gort_slot *kassist_slot; /* NULL: not registered, park on the futex */
	struct proc *kassist_proc;
	pid_t tid;
	pthread_t thread;
	uint64_t rand;	/* xorshift state for steal victims and select */
	int *errno_ptr; /* this thread's errno (its address never changes) */

	/* The pending after-switch action (see finish_switch). */
	enum switch_action sw_action;
	struct goroutine *sw_prev;
	void (*sw_unlock)(void *);
	void *sw_arg;
	uint64_t switches;
	void *altstack;
	void *g0_lo; /* the thread's own stack, for sanitizers */
	size_t g0_size;
	void *asan_fake_stack;
	void *tsan_fiber;
};

struct sched {
	struct rt_lock lock;  /* idle procs and workers, maxprocs changes */
	struct proc *pidle;   /* idle procs */
	int npidle;	      /* atomic */
	struct worker *widle; /* idle workers */
	struct worker *allw;  /* every worker ever started (atomic push) */
	int nwidle;
	int nworkers;  /* atomic */
	int nspinning; /* atomic */
	/* The idle worker sleeping until the earliest timer, and that time
	 * (INT64_MAX: none). Written under lock, read atomically. The sleeper
	 * is always on the idle list (widle_remove_locked clears it). */
	struct worker *timer_sleeper;
	int64_t timer_sleep_until;
	/* Kernel assist: the idle worker the module wakes when a worker blocks
	 * in a syscall region (sched.lock). */
	struct worker *spare;
	int maxprocs; /* atomic reads */
	struct proc *allp[MAX_PROCS];

	/* Global run queue: wait-free enqueue from any thread. */
	struct cds_wfcq_head gq_head;
	struct cds_wfcq_tail gq_tail;
	long gq_size; /* atomic */

	struct rt_lock gfree_lock; /* global cache of dead goroutines */
	struct goroutine *gfree;
	int ngfree;

	int64_t goid_gen;    /* atomic */
	int64_t ngoroutines; /* atomic */
	int64_t created;

	/* stop-the-world */
	uint32_t stw_pending;	/* atomic: workers must stop at their next safe point */
	struct proc *stw_owner; /* the stopping goroutine's proc: keeps running */
	struct note stw_done;

	bool started;
	int kassist_fd;

	/* nanotime() as of sysmon's last tick (at most 10 ms old): park times
	 * are stamped with it, since a clock read per park costs more than the
	 * rest of a channel operation on a VM. */
	int64_t coarse_now;

	/* statistics (relaxed atomics) */
	int64_t n_steals, n_stolen, n_global_gets, n_parks, n_wakes, n_handoffs, n_preempts, n_stw;
	int64_t n_kassist_handoffs, n_kassist_switches;
};

extern struct sched sched;

/*
 * The worker running the caller. Never cached: see the invariant. The
 * thread pointer is read by a volatile asm with a memory clobber at every
 * call, so the compiler can neither reuse an earlier value nor move the read
 * across a call that may switch goroutines. The variable is initial-exec
 * TLS: no __tls_get_addr in libgort.so (it is small, and libgort is linked,
 * not dlopen'ed late).
 */
extern __thread struct worker *tls_worker __attribute__((tls_model("initial-exec")));
#if defined(__x86_64__)
static inline struct worker *this_worker(void)
{
	struct worker *w;

	__asm__ volatile("movq tls_worker@gottpoff(%%rip), %0\n\t"
			 "movq %%fs:(%0), %0"
			 : "=r"(w)
			 :
			 : "memory");
	return w;
}
#else
struct worker *this_worker(void);
#endif

static inline struct goroutine *this_goroutine(void)
{
	struct worker *w = this_worker();

	return w ? w->curg : NULL;
}

/* ---- internal scheduler API (sched.c) ---- */

/*
 * Parks the running goroutine with a wait reason. After the switch away, the
 * worker calls unlock(arg): from then on another goroutine or thread may call
 * goroutine_ready() on it. Only callable from a goroutine.
 */
void goroutine_park(enum wait_reason reason, void (*unlock)(void *), void *arg);

/* Makes a parked goroutine runnable: into the caller's runnext when the caller
 * is a goroutine (Go's goready), else the global queue; wakes an idle proc. */
void goroutine_ready(struct goroutine *g);

/* As goroutine_ready, at the tail of the run queue, not in runnext: for a
 * batch readied at once (the netpoller's), which then runs in order (Go's
 * injectglist). */
void goroutine_ready_fifo(struct goroutine *g);

/* After a spawn: yields when the proc's run queue is full (sched.c). */
void sched_spawn_point(void);
/* Safe point: stop for the world, or yield when sysmon asked us to. The
 * check is inline (it runs on every channel operation); the work is not. */
void sched_safe_point_slow(struct worker *w);
static inline void sched_safe_point(void)
{
	struct worker *w = this_worker();
	struct goroutine *g = w ? w->curg : NULL;

	if (g && (__atomic_load_n(&g->preempt, __ATOMIC_RELAXED) ||
		  __atomic_load_n(&sched.stw_pending, __ATOMIC_RELAXED)))
		sched_safe_point_slow(w);
}

int sched_start(void);
void sched_wakep(void);
void handoff_proc(struct proc *p);
void startm_proc(struct proc *p);
struct proc *proc_idle_get(void);
/* w takes / gives up p (p's status becomes running / is left to the caller). */
void acquire_proc(struct worker *w, struct proc *p);
struct proc *release_proc(struct worker *w);
int64_t nanotime(void);
static inline int64_t coarse_nanotime(void)
{
	return __atomic_load_n(&sched.coarse_now, __ATOMIC_RELAXED);
}
uint64_t fastrand(void);
void set_errmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void gort_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void sched_switch_to_g0(enum switch_action act);
void proc_put_idle(struct proc *p);
__attribute__((noreturn)) void goroutine_exit(void);

/* sysmon.c */
int sysmon_start(void);
void sysmon_wake(void);

/* goroutine.c */
struct goroutine *goroutine_new(size_t stack_size);
/* gort_go_opts without its preemption point: callable from timer functions
 * and other runtime code that must not be switched out. */
int64_t goroutine_spawn(void (*fn)(void *), void *arg, const struct gort_go_opts *opts);
void goroutine_free(struct proc *p, struct goroutine *g);
void gfree_scavenge(int64_t now);
int64_t registry_count(void);
struct goroutine *registry_get(int64_t i);

/* pool.c: drops idle or all pool caches (the policy is in gort.h). */
void pool_scavenge(int64_t now);

/* arch: switch.S */
/* Saves the running context into *save and resumes the one saved at to_sp. */
void gort_ctx_switch(struct context *save, void *to_sp);
/* Saves the running context into *save and starts goroutine_entry() on a
 * fresh stack whose (16-byte aligned) top is stack_hi. */
void gort_ctx_switch_fresh(struct context *save, void *stack_hi);
/* The current stack pointer. */
static inline void *ctx_current_sp(void)
{
	void *sp;

#if defined(__x86_64__)
	__asm__ volatile("movq %%rsp, %0" : "=r"(sp));
#elif defined(__aarch64__)
	__asm__ volatile("mov %0, sp" : "=r"(sp));
#else
#error "gort: no context code for this architecture"
#endif
	return sp;
}

/* Copies the callee-saved registers of a switched-out context; returns how many. */
int ctx_saved_regs(const void *sp, uintptr_t *regs, int max);

/* env.c */
struct runtime_config {
	int maxprocs;
	int schedtrace_ms;
	bool scheddetail; /* GORTDEBUG=scheddetail=1: per-P/M/G lines with schedtrace */
	int kassist;	  /* 0 off, 1 auto, 2 require */
	size_t default_stack;
	int64_t idle_spin_ns; /* how long a spinning worker polls before sleeping */
	bool panic_closed;    /* GORTDEBUG=panicclosed=1: closed-channel misuse aborts */
	bool no_sigquit;      /* GORTDEBUG=sigquit=0: leave SIGQUIT alone (no dump) */
};
extern struct runtime_config config;
void config_load(void);

/* stw.c: for a process about to exit (the SIGQUIT dump): stops the world
 * like gort_stop_the_world() from a foreign thread, but gives up after
 * timeout_ns or when another stop holds the turn, and never restarts it.
 * Returns true when every proc stopped. */
bool stw_stop_for_exit(const char *reason, int64_t timeout_ns);

/* dump.c: the SIGQUIT handler and its helper thread (GORTDEBUG=sigquit=0: none). */
int sigquit_init(void);

/* signal.c */
int signals_init(void);
int worker_altstack_init(struct worker *w);

/* kassist.c */
struct gort_slot;
int kassist_open(void);
bool kassist_active(void);
/* On the worker's own thread: registers it with the module (or leaves it
 * unregistered, parking on its futex, when that fails). */
void kassist_worker_init(struct worker *w);
/* WAIT on the worker's token; false on timeout (timeout_ns < 0: none). */
bool kassist_sleep(struct worker *w, int64_t timeout_ns);
void kassist_wake(struct worker *w);
/* WAKE(to) and WAIT in one call, to running on our CPU; as kassist_sleep. */
bool kassist_switch(struct worker *w, struct worker *to, int64_t timeout_ns);
/* Names the worker the module wakes on a block (NULL: none). */
void kassist_set_spare(struct worker *w);
void kassist_syscall_enter(struct worker *w, struct proc *p);
void kassist_syscall_exit(struct worker *w);
/* The spare's job: takes the proc of a blocked worker, or returns NULL. */
struct proc *kassist_take_blocked(void);

#endif
