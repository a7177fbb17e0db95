/* SPDX-License-Identifier: MIT */
/*
 * gort: Go's runtime model for C programs.
 *
 * Goroutines run on an M:N work-stealing scheduler: GORT_MAXPROCS procs (Go's
 * P, default the CPUs in the affinity mask), each run by one worker thread
 * (Go's M) at a time. Everything here is callable from any thread; calls that
 * block park the calling goroutine (never its thread), or, when called from a
 * thread that is not a goroutine ("a foreign thread"), block that thread.
 *
 * Errors: functions that can fail return a negative GORT_E* code (an int, or a
 * negative int64_t where the success value is an id). gort_errmsg() gives a
 * human-readable message for the last failure in the calling goroutine or
 * thread; gort_strerror() names a code.
 *
 * Thread-local storage: a _Thread_local variable belongs to the worker thread,
 * not to the goroutine; a goroutine may resume on another worker after any
 * call that can park or yield. Use gort_lock_os_thread() for code that keeps
 * state in TLS across such calls. errno is saved and restored per goroutine.
 * Do not hold the address of errno (or of any TLS variable) across a call
 * that can park: the compiler may cache it (glibc declares __errno_location
 * const), so read errno right after the call that set it.
 */
#ifndef GORT_H
#define GORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with -fvisibility=hidden; this API is what it exports. */
#pragma GCC visibility push(default)

#define GORT_VERSION_MAJOR 0
#define GORT_VERSION_MINOR 1
#define GORT_VERSION_PATCH 0

/*
 * Error codes. Codes in the errno range are the negated errno value so that a
 * failing system call's error passes through unchanged.
 */
enum {
	GORT_OK = 0,
	GORT_EPERM = -1,       /* operation not allowed from this context */
	GORT_EAGAIN = -11,     /* a resource limit was reached (threads, mappings) */
	GORT_ENOMEM = -12,     /* out of memory or address space */
	GORT_EINVAL = -22,     /* an argument is out of range */
	GORT_ETIMEDOUT = -110, /* a deadline passed */
	GORT_ECANCELED = -125, /* the operation was cancelled */
	GORT_ECLOSED = -4096,  /* the channel, descriptor or object is closed */
	GORT_ENOTSUP = -4097,  /* not supported here (e.g. kernel assist absent) */
};

/* Returns the library version as "MAJOR.MINOR.PATCH". Never fails. */
const char *gort_version(void);

/* Returns a static string naming an error code ("invalid argument", ...). */
const char *gort_strerror(int err);

/*
 * Returns the message of the last failed gort call in this goroutine (or
 * foreign thread), e.g. "gort_go: stack size 8 is below the minimum 16384".
 * The string stays valid until the next failing call in the same goroutine.
 * Returns "" when nothing has failed yet.
 */
const char *gort_errmsg(void);

/*
 * Starts the runtime if needed and runs fn(argc, argv) as a goroutine; returns
 * its result when it returns. As in Go, the program is meant to end then: other
 * goroutines keep running until the process exits, so return from main()
 * right away. Returns GORT_EPERM when called from a goroutine, or the error of
 * starting the runtime.
 */
int gort_main(int (*fn)(int argc, char **argv), int argc, char **argv);

/*
 * Starts the runtime explicitly (the first gort_go() from any thread does it
 * too). Reads GORT_MAXPROCS, GORTDEBUG and GORT_KASSIST. Idempotent; returns
 * 0 or a negative error (GORT_ENOMEM, GORT_EAGAIN when a thread cannot be
 * created, GORT_ENOTSUP when GORT_KASSIST=require and /dev/gort is unusable).
 */
int gort_init(void);

/* Options for gort_go_opts(); zero-initialise and set what you need. */
struct gort_go_opts {
	size_t stack_size;    /* virtual size; 0 = default (256 KiB); 16 KiB..1 GiB */
	const char *name;     /* shown in dumps; must outlive the goroutine; NULL = none */
	uint64_t reserved[4]; /* must be zero */
};

/*
 * Starts fn(arg) in a new goroutine. Returns the new goroutine's id (> 0), or
 * GORT_EINVAL (bad options), GORT_ENOMEM (no memory or mappings left for the
 * stack) or the error of starting the runtime. Never blocks. Thread-safe.
 */
int64_t gort_go(void (*fn)(void *arg), void *arg);
int64_t gort_go_opts(void (*fn)(void *arg), void *arg, const struct gort_go_opts *opts);

/* Lets other goroutines run; the caller stays runnable. From a foreign thread
 * it is sched_yield(). */
void gort_yield(void);

/* Ends the calling goroutine, as if its function had returned. From a foreign
 * thread it aborts the process with a message. */
_Noreturn void gort_exit(void);

/* Id of the calling goroutine (goroutine 1 is gort_main's), 0 on a foreign thread. */
int64_t gort_id(void);

/* Number of goroutines that exist now (created and not yet exited). */
int64_t gort_num_goroutine(void);

/*
 * Like runtime.GOMAXPROCS: returns the previous number of procs and, when
 * n > 0, sets it (1..1024; larger values are clamped, the change takes effect
 * at once: the world is stopped briefly). n <= 0 only queries. Before the
 * runtime starts it sets the value the runtime will start with.
 */
int gort_maxprocs(int n);

/*
 * Wires the calling goroutine to its current worker thread until the matching
 * unlock: it runs only on that thread, and the thread runs nothing else. Calls
 * nest (a counter, like Go). Returns 0, or GORT_EPERM on a foreign thread.
 */
int gort_lock_os_thread(void);
void gort_unlock_os_thread(void);

/*
 * Marks a region in which the goroutine makes a system call (or any call) that
 * may block its thread. While inside, the goroutine's proc may be handed to
 * another worker (after 20 us by the sysmon thread, at once with kernel
 * assist), so other goroutines keep running. On exit the goroutine gets a proc
 * back, waiting for one if needed. Do not call other gort functions inside the
 * region. On a foreign thread both are no-ops. Regions do not nest.
 */
void gort_syscall_enter(void);
void gort_syscall_exit(void);

/* Runs fn(arg) inside a syscall region and returns its result, errno intact. */
long gort_blocking(long (*fn)(void *arg), void *arg);

/* Evaluates a blocking expression inside a syscall region (GNU C). */
#define GORT_BLOCKING(expr)                                 \
	__extension__({                                     \
		gort_syscall_enter();                       \
		__typeof__(expr) gort_blocking_r_ = (expr); \
		gort_syscall_exit();                        \
		gort_blocking_r_;                           \
	})

/* Monotonic time in nanoseconds (CLOCK_MONOTONIC). A preemption point. */
int64_t gort_now(void);

/*
 * WaitGroup, as Go's sync.WaitGroup. Zero-initialise (GORT_WAITGROUP_INIT or
 * memset) before use; do not copy after first use. It may be reused as soon
 * as gort_wg_wait() has returned.
 * gort_wg_add returns 0, or GORT_EINVAL when the counter would go negative or
 * above INT32_MAX (the counter is then left unchanged). gort_wg_wait blocks
 * the goroutine (or foreign thread) until the counter is zero. All are
 * thread-safe.
 */
typedef struct gort_waitgroup {
	uint64_t state_; /* counter << 32 | number of waiters */
	uint32_t lock_;
	uint32_t sema_; /* wakeups owed to waiters not yet on the list */
	void *waiters_;
} gort_waitgroup;
#define GORT_WAITGROUP_INIT   \
	{                     \
		0, 0, 0, NULL \
	}
int gort_wg_add(gort_waitgroup *wg, int64_t delta);
int gort_wg_done(gort_waitgroup *wg);
void gort_wg_wait(gort_waitgroup *wg);

/* Runtime counters (monotonic unless noted); a snapshot, read without stopping anything. */
struct gort_stats {
	int64_t goroutines; /* now alive */
	int64_t goroutines_created;
	int64_t maxprocs;	  /* now */
	int64_t workers;	  /* OS threads created for the scheduler */
	int64_t idle_procs;	  /* now */
	int64_t spinning_workers; /* now */
	int64_t switches;	  /* goroutine context switches */
	int64_t steals;		  /* successful steals */
	int64_t stolen_goroutines;
	int64_t global_runq_gets; /* goroutines taken from the global queue */
	int64_t worker_parks;	  /* futex sleeps of idle workers */
	int64_t worker_wakes;
	int64_t syscall_handoffs;  /* procs taken from a worker in a syscall region */
	int64_t preempt_requests;  /* goroutines flagged for running > 10 ms */
	int64_t stw_count;	   /* stop-the-world handshakes */
	int64_t stack_guard_mode;  /* 0 MADV_GUARD_INSTALL, 1 mprotect, 2 canary (current) */
	int64_t kassist;	   /* 1 when /dev/gort is in use, else 0 */
	int64_t per_proc_runs[64]; /* goroutines started per proc (first 64 procs) */
	int64_t reserved[8];
};

/* Fills *st. Returns 0, or GORT_EINVAL when st is NULL. */
int gort_stats(struct gort_stats *st);

/*
 * Stop-the-world: brings every running goroutine to a safe point (a call into
 * the runtime) and holds it there, so that the caller alone runs. Blocks until
 * the world is stopped; gort_start_the_world() releases it. Meant for the GC
 * and for tools; calls do not nest. Returns 0, or GORT_EPERM when the runtime
 * is not running.
 */
int gort_stop_the_world(const char *reason);
void gort_start_the_world(void);

/*
 * A goroutine's stack as a scanner sees it (valid while the world is stopped):
 * [lo, hi) is the whole stack, sp the saved stack pointer (the live part is
 * [sp, hi)); regs holds the callee-saved registers saved at the switch. For
 * a goroutine in a syscall region, sp is taken inside gort_syscall_enter()
 * with the registers spilled into [sp, hi), and nregs is 0. A running
 * goroutine's view is not meaningful (only the stopping goroutine runs).
 */
struct gort_goroutine_view {
	int64_t id;
	int state; /* GORT_GSTATE_* */
	int wait_reason;
	const void *lo, *hi, *sp;
	uintptr_t regs[8];
	int nregs;
};
enum {
	GORT_GSTATE_RUNNABLE = 1,
	GORT_GSTATE_RUNNING,
	GORT_GSTATE_WAITING,
	GORT_GSTATE_SYSCALL
};

/* Calls fn for every live goroutine; returns how many were visited. Call with
 * the world stopped for a consistent view. */
int64_t gort_for_each_goroutine(void (*fn)(const struct gort_goroutine_view *v, void *arg),
				void *arg);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif /* GORT_H */
