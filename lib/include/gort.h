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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h> /* ssize_t */

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
 * Like every runtime call it may let other goroutines run first; unlike Go,
 * a goroutine that spawns faster than its proc runs what it spawned yields
 * whenever its run queue is full (256 waiting), so spawned goroutines start
 * while their memory is still in cache instead of piling up.
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
	int64_t kassist;	   /* 1 when the scheduler uses gort.ko, else 0 (futex + sysmon) */
	int64_t per_proc_runs[64]; /* goroutines started per proc (first 64 procs) */
	int64_t kassist_handoffs;  /* of syscall_handoffs: procs taken at once on a
				    * block reported by gort.ko (the rest: sysmon) */
	int64_t kassist_switches;  /* procs handed to a locked goroutine's thread with
				    * gort.ko's SWITCH */
	int64_t reserved[6];
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

/*
 * Prints every goroutine to f the way a Go crash or SIGQUIT does, the
 * calling goroutine first, each followed by a blank line:
 *
 *   goroutine ID ["NAME"] [m=WORKER] [p=PROC] [STATE[, WAITED][, locked to thread]]:
 *   FUNCTION+0xOFFSET
 *   	0xPC FILE+0xFILEOFFSET
 *   ...
 *
 * NAME is gort_go_opts' name; m= and p= show the worker thread and proc of
 * a running goroutine or one in a syscall region; STATE is "running",
 * "runnable", "syscall", or a parked goroutine's wait reason ("chan
 * receive", "sync.WaitGroup.Wait", "sleep", "sync.Mutex.Lock", ... as Go
 * names them) followed by how long it has waited, always, in ms below 10 s,
 * then s, then minutes (Go omits it under a minute; the time is measured
 * from sysmon's coarse clock, so it is about 10 ms too long at worst).
 * Frames come from the frame-pointer chain (code built without frame
 * pointers ends or skips frames); FUNCTION is the symbol from the object's
 * ELF .symtab (static functions included, no -rdynamic needed), else its
 * .dynsym, else dladdr(), else "?". PC is printed as is (a return address);
 * `addr2line -f -e FILE 0xFILEOFFSET-1` gives the call's file:line when
 * FILE has debug info. A goroutine that never ran shows its function with
 * "(not started)". The world is stopped for the dump (gort_stop_the_world),
 * so it waits for every running goroutine to reach a safe point; the
 * stacks are read without ever faulting (a corrupt chain ends the trace).
 * f must not be a pipe that a goroutine of this process reads.
 *
 * Returns 0; GORT_EINVAL when f is NULL; GORT_EPERM when called from a
 * syscall region or a scheduler thread (a timer callback); the negated
 * errno of a failed write to f (fflush/ferror), e.g. -ENOSPC. Callable
 * from goroutines and foreign threads; not while the caller itself holds
 * the world stopped (stops do not nest).
 *
 * The runtime prints this dump to stderr on SIGQUIT and exits with status
 * 2, like Go (see lib/dump.c; GORTDEBUG=sigquit=0, or a SIGQUIT handler
 * installed before the runtime starts, turns that off; a child forked after
 * the runtime started gets SIGQUIT's default action).
 */
int gort_dump_goroutines(FILE *f);

/* ===================================================================== */
/* Time                                                                  */
/* ===================================================================== */

/* Durations and instants are int64_t nanoseconds; instants are gort_now() values. */
#define GORT_NANOSECOND ((int64_t)1)
#define GORT_MICROSECOND ((int64_t)1000)
#define GORT_MILLISECOND ((int64_t)1000000)
#define GORT_SECOND ((int64_t)1000000000)
/* A deadline that never comes. */
#define GORT_FOREVER INT64_MAX

/*
 * Parks the calling goroutine for at least ns nanoseconds (a foreign thread
 * sleeps in the kernel). ns <= 0 returns at once (a preemption point).
 * Returns 0. Like time.Sleep.
 */
int gort_sleep(int64_t ns);

/*
 * Timers, as Go's time.Timer with Go 1.23's guarantees:
 * - gort_timer_new(d): after d ns the timer sends the fire time (an int64_t,
 *   a gort_now() value) on its channel, gort_timer_chan(), of capacity 1.
 * - gort_after_func(d, fn, arg): after d ns, fn(arg) runs in a new goroutine.
 * - gort_timer_stop(t): returns true when the call stopped the timer before it
 *   fired, false when it had already fired or been stopped. After it returns
 *   no value sent by the stopped firing is received from the channel.
 * - gort_timer_reset(t, d): re-arms the timer to fire d ns from now; returns
 *   true when it was active. As with stop, a receive after reset never sees a
 *   value from before it. For an after_func timer whose fn has started, reset
 *   schedules another run.
 * - gort_timer_free(t): stops and frees the timer (and its channel: nobody may
 *   be using it). NULL is ignored.
 * Errors: gort_timer_new/gort_after_func return NULL with gort_errmsg() set
 * when out of memory (GORT_ENOMEM) or fn is NULL (GORT_EINVAL). All calls are
 * thread-safe; fn runs on a goroutine, never on a scheduler or foreign thread.
 */
typedef struct gort_timer gort_timer;
typedef struct gort_chan gort_chan;
gort_timer *gort_timer_new(int64_t d);
gort_timer *gort_after_func(int64_t d, void (*fn)(void *arg), void *arg);
gort_chan *gort_timer_chan(gort_timer *t); /* NULL for after_func timers */
bool gort_timer_stop(gort_timer *t);
bool gort_timer_reset(gort_timer *t, int64_t d);
void gort_timer_free(gort_timer *t);

/*
 * Like time.After(d): a channel that receives the fire time (int64_t) once,
 * d ns from now. The caller owns a reference and drops it with
 * gort_chan_free(); the timer holds its own until it fires, so freeing early
 * is safe. NULL when out of memory.
 */
gort_chan *gort_after(int64_t d);

/*
 * Tickers, as Go's time.Ticker: the channel (capacity 1) receives the tick
 * time every period ns; ticks a slow receiver misses are dropped. period
 * must be > 0 (else NULL, GORT_EINVAL). reset changes the period (returns
 * GORT_EINVAL for period <= 0); stop stops it (no tick sent before the stop is
 * received afterwards); free stops and frees it.
 */
typedef struct gort_ticker gort_ticker;
gort_ticker *gort_ticker_new(int64_t period);
gort_chan *gort_ticker_chan(gort_ticker *t);
int gort_ticker_reset(gort_ticker *t, int64_t period);
void gort_ticker_stop(gort_ticker *t);
void gort_ticker_free(gort_ticker *t);

/* ===================================================================== */
/* Channels and select                                                   */
/* ===================================================================== */

/*
 * Channels, as Go's chan. Elements are copied by value (elem_size bytes).
 *
 * gort_chan_make: capacity 0 makes an unbuffered (synchronous) channel.
 *   Returns NULL with gort_errmsg() set for elem_size > 65536 or a buffer
 *   larger than 1 GiB (GORT_EINVAL), or out of memory (GORT_ENOMEM).
 *   elem_size 0 is allowed (a signal channel; elem pointers may be NULL).
 * gort_chan_free: drops the creator's reference. The channel must not be in
 *   use by anyone but runtime objects that hold their own reference (timers,
 *   contexts). NULL is ignored.
 * gort_chan_send: blocks until a receiver takes the value or it is buffered.
 *   Returns 0, or GORT_ECLOSED when the channel is (or gets) closed, in which
 *   case nothing was sent (Go panics here; GORTDEBUG=panicclosed=1 aborts
 *   with a message instead of returning). A sender that finds a waiting
 *   receiver copies straight into the receiver's slot.
 * gort_chan_recv: blocks until a value arrives and stores it in *elem (elem
 *   may be NULL to discard it); returns true. Once the channel is closed and
 *   drained it returns false at once and zeroes *elem: Go's "v, ok := <-ch".
 * gort_chan_try_send / gort_chan_try_recv: never block. try_send returns 0,
 *   GORT_EAGAIN (would block) or GORT_ECLOSED; try_recv returns 1 (a value),
 *   0 (closed and drained, *elem zeroed) or GORT_EAGAIN.
 * gort_chan_close: wakes every blocked receiver (they get false) and sender
 *   (they get GORT_ECLOSED). Returns 0, GORT_ECLOSED when already closed, or
 *   GORT_EINVAL for NULL.
 * A NULL channel behaves as Go's nil channel: send and receive block forever.
 * All operations are thread-safe and work from foreign threads (which block
 * in the kernel).
 */
gort_chan *gort_chan_make(size_t elem_size, size_t cap);
void gort_chan_free(gort_chan *ch);
int gort_chan_send(gort_chan *ch, const void *elem);
bool gort_chan_recv(gort_chan *ch, void *elem);
int gort_chan_try_send(gort_chan *ch, const void *elem);
int gort_chan_try_recv(gort_chan *ch, void *elem);
int gort_chan_close(gort_chan *ch);
size_t gort_chan_len(const gort_chan *ch);
size_t gort_chan_cap(const gort_chan *ch);
size_t gort_chan_elem_size(const gort_chan *ch);

/*
 * select. Each case names a channel, a direction and an element:
 *   GORT_SEND: elem points at the value to send;
 *   GORT_RECV: elem receives the value (may be NULL); ok is set to false
 *              when the case fired because the channel is closed.
 * A case with a NULL channel never fires. gort_select() waits until one case
 * can proceed, performs it, and returns its index. When several are ready,
 * one is chosen uniformly at random. deadline is an instant (gort_now() base):
 *   GORT_SELECT_DEFAULT (0): do not block; return GORT_EAGAIN if no case is
 *                            ready (Go's default case);
 *   GORT_FOREVER:            block until a case fires;
 *   otherwise:               block until then, then return GORT_ETIMEDOUT.
 * A send case on a closed channel fires with ok = false (Go panics; with
 * GORTDEBUG=panicclosed=1 gort aborts). Returns GORT_EINVAL for n > 65536,
 * a NULL cases with n > 0, or a bad dir. Channel locks are taken in address
 * order, so concurrent selects over overlapping sets never deadlock.
 */
enum {
	GORT_SEND = 1,
	GORT_RECV = 2
};
#define GORT_SELECT_DEFAULT ((int64_t)0)
struct gort_select_case {
	gort_chan *chan;
	int dir;    /* GORT_SEND or GORT_RECV */
	bool ok;    /* out */
	void *elem; /* in (send) or out (recv) */
};
int gort_select(struct gort_select_case *cases, int n, int64_t deadline);

/*
 * Typed channels: a thin, zero-cost layer that checks element types at
 * compile time (GNU C).
 *
 *   GORT_CHAN_TYPE(int_chan, int);        // typedef struct { ... } int_chan;
 *   int_chan c = gort_make(int_chan, 16); // c.ch == NULL on failure
 *   gort_send(c, 42);                     // value converted to int
 *   int v; bool ok = gort_recv(c, &v);    // &v must be int *
 *   gort_close(c); gort_free(c);
 *
 * gort_case_send(c, ptr) / gort_case_recv(c, ptr) build select cases with
 * the same pointer check.
 */
#define GORT_CHAN_TYPE(name, T)  \
	typedef struct name {    \
		gort_chan *ch;   \
		T elem_type_[0]; \
	} name
#define gort_chan_elem_t(c) __typeof__((c).elem_type_[0])
#define gort_make(type, cap) \
	((type){ .ch = gort_chan_make(sizeof(((type *)0)->elem_type_[0]), (cap)) })
#define gort_send(c, v)                                 \
	__extension__({                                 \
		gort_chan_elem_t(c) gort_send_v_ = (v); \
		gort_chan_send((c).ch, &gort_send_v_);  \
	})
#define gort_recv(c, p)                                  \
	__extension__({                                  \
		gort_chan_elem_t(c) *gort_recv_p_ = (p); \
		gort_chan_recv((c).ch, gort_recv_p_);    \
	})
#define gort_try_send(c, v)                                \
	__extension__({                                    \
		gort_chan_elem_t(c) gort_send_v_ = (v);    \
		gort_chan_try_send((c).ch, &gort_send_v_); \
	})
#define gort_try_recv(c, p)                               \
	__extension__({                                   \
		gort_chan_elem_t(c) *gort_recv_p_ = (p);  \
		gort_chan_try_recv((c).ch, gort_recv_p_); \
	})
#define gort_close(c) gort_chan_close((c).ch)
#define gort_free(c) gort_chan_free((c).ch)
#define gort_len(c) gort_chan_len((c).ch)
#define gort_cap(c) gort_chan_cap((c).ch)
#define gort_case_send(c, p)                          \
	((struct gort_select_case){ .chan = (c).ch,   \
				    .dir = GORT_SEND, \
				    .elem = (void *)(const gort_chan_elem_t(c) *){ (p) } })
#define gort_case_recv(c, p)        \
	((struct gort_select_case){ \
		.chan = (c).ch, .dir = GORT_RECV, .elem = (gort_chan_elem_t(c) *){ (p) } })

/* ===================================================================== */
/* Errors                                                                */
/* ===================================================================== */

/*
 * Error values, as Go's error interface with errors.Is/As/Unwrap and
 * fmt.Errorf("...: %w"). A gort_error is immutable and reference counted:
 * constructors return a new reference (NULL only when out of memory, in
 * which case gort_error_oom, a static error, is what they return instead, so
 * the result is never NULL); gort_error_ref() adds one and gort_error_free()
 * drops one (NULL and static errors are ignored). A wrapping error holds a
 * reference to its cause.
 *
 * Each error has a kind (its "type", for gort_error_as), a code (a GORT_E*
 * or any int the kind defines; 0 for none), a message and an optional cause.
 * gort_error_string() formats the chain as Go's %v does: "msg: cause-msg:
 * ...", or through the kind's format callback. An error with an empty
 * message shows just its cause (fmt.Errorf("%w", err)).
 * All functions accept NULL where an error is read (NULL is Go's nil error)
 * and are thread-safe; errors never change after construction.
 */
typedef struct gort_error gort_error;
struct gort_error_kind {
	const char *name; /* e.g. "CustomError" */
	/* Optional: formats e into buf like snprintf (returns the full length)
	 * and is then the whole %v text of e, as a Go Error() method is: to
	 * show the cause it formats it itself, e.g. with
	 * gort_error_format(gort_error_unwrap(e), ...). NULL = the message,
	 * then ": " and the cause's text. */
	int (*format)(const gort_error *e, char *buf, size_t size);
	/* Optional: frees the kind's data when the last reference goes. */
	void (*free_data)(void *data);
};
extern const struct gort_error_kind gort_error_kind_basic;  /* gort_error_new/wrap */
extern const struct gort_error_kind gort_error_kind_system; /* gort_error_errno */

gort_error *gort_error_new(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Wraps cause (takes a new reference to it) with a formatted message; the code is
 * cause's. Like fmt.Errorf("msg: %w", cause). A NULL cause gives an error with
 * no cause and code 0. */
gort_error *gort_error_wrap(gort_error *cause, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A system error: code -errnum, message "CONTEXT: strerror(errnum)" (just
 * strerror(errnum) when fmt is NULL or ""). Its kind is gort_error_kind_system. */
gort_error *gort_error_errno(int errnum, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* An error of a user-defined kind carrying data (freed by kind->free_data when
 * the last reference goes; also when the constructor fails and returns
 * gort_error_oom, so ownership of data always passes). cause may be NULL; a
 * new reference to it is taken. */
gort_error *gort_error_new_kind(const struct gort_error_kind *kind, int code, void *data,
				gort_error *cause, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
gort_error *gort_error_ref(gort_error *e);
void gort_error_free(gort_error *e);

int gort_error_code(const gort_error *e);	 /* 0 for NULL */
const char *gort_error_msg(const gort_error *e); /* own message, "" for NULL */
void *gort_error_data(const gort_error *e);	 /* the kind's data */
const struct gort_error_kind *gort_error_kind(const gort_error *e);
gort_error *gort_error_unwrap(const gort_error *e); /* borrowed; NULL at the end */
/* errors.Is: true when target is e or in e's chain (by identity), or when
 * target is a system error (kind gort_error_kind_system) and e's chain holds
 * a system error with the same code: system errors are values, as Go's
 * syscall.Errno is, so gort_error_is(err, gort_error_errno(ECONNREFUSED, NULL))
 * matches any ECONNREFUSED whatever its context message. */
bool gort_error_is(const gort_error *e, const gort_error *target);
/* true when e's chain holds a system error for errnum (errors.Is(err,
 * syscall.Errno(errnum))), without making a target. */
bool gort_error_is_errno(const gort_error *e, int errnum);
/* true when an error in e's chain has this code. */
bool gort_error_is_code(const gort_error *e, int code);
/* errors.As: the first error in e's chain of this kind (borrowed), or NULL. */
gort_error *gort_error_as(const gort_error *e, const struct gort_error_kind *kind);
/* Formats the chain into buf like snprintf (returns the full length). */
int gort_error_format(const gort_error *e, char *buf, size_t size);
/* The formatted chain, malloc'd (free() it); NULL when out of memory. "<nil>" for NULL. */
char *gort_error_string(const gort_error *e);

/* Static errors (never freed): */
extern gort_error *const gort_error_canceled; /* "context canceled", GORT_ECANCELED */
extern gort_error
	*const gort_error_deadline_exceeded; /* "context deadline exceeded", GORT_ETIMEDOUT */
extern gort_error *const gort_error_oom;     /* "out of memory", GORT_ENOMEM */
/* Go's os.ErrDeadlineExceeded: a descriptor's deadline passed (network API) */
extern gort_error *const gort_error_io_timeout; /* "i/o timeout", GORT_ETIMEDOUT */
/* Go's net.ErrClosed: the connection or listener was closed (network API) */
extern gort_error
	*const gort_error_net_closed; /* "use of closed network connection", GORT_ECLOSED */

/* ===================================================================== */
/* Context                                                               */
/* ===================================================================== */

/*
 * Contexts, as Go's context package. A context is reference counted: each
 * with_* constructor returns a new context holding a reference to its parent;
 * gort_ctx_free() cancels the context (as Go's cancel func does, which Go
 * code must always call) and drops the caller's reference. Cancelling a
 * context cancels every descendant, closes its done channel, stops its timer
 * and unlinks it from its parent, so its resources are released at once.
 *
 * A context may be used by anyone until the last reference goes, and the
 * caller of gort_ctx_free must know that nobody else still uses the
 * reference it drops. To let another goroutine use a context for as long as
 * it wants, hand it a child (e.g. with_value(ctx, NULL, NULL)): a child keeps
 * its ancestors alive, and the goroutine frees the child when done.
 *
 * gort_ctx_background(): the root; never cancelled, never freed; done is NULL
 *   (a nil channel: a select case on it never fires).
 * gort_ctx_with_cancel/deadline/timeout/value: NULL with gort_errmsg() when
 *   out of memory or parent is NULL (GORT_EINVAL). A deadline in the past
 *   gives an already-cancelled context (err = deadline exceeded); a deadline
 *   after the parent's is the parent's (as in Go, no timer is made).
 *   A value context has no cancellation of its own: its done and err are
 *   those of its nearest cancellable ancestor.
 * gort_ctx_cancel(ctx): cancels with gort_error_canceled; idempotent; a no-op
 *   on the background and on value contexts. Once done is closed err is set.
 * gort_ctx_done(ctx): a channel closed on cancellation (the context owns it:
 *   do not free or close it). Made on first use, so it can fail: NULL with
 *   gort_errmsg() when out of memory. NULL for contexts that can never be
 *   cancelled (background and values over it).
 * gort_ctx_err(ctx): NULL while live, then gort_error_canceled or
 *   gort_error_deadline_exceeded (static, never freed).
 * gort_ctx_value(ctx, key): the value of the nearest with_value ancestor
 *   with this key (compared by address), or NULL.
 * gort_ctx_deadline(ctx): the earliest deadline on the chain, or GORT_FOREVER.
 * All thread-safe, from goroutines and foreign threads. NULL ctx is accepted
 * by cancel, free, done, err, value (as the background) and deadline.
 */
typedef struct gort_ctx gort_ctx;
gort_ctx *gort_ctx_background(void);
gort_ctx *gort_ctx_with_cancel(gort_ctx *parent);
gort_ctx *gort_ctx_with_deadline(gort_ctx *parent, int64_t deadline);
gort_ctx *gort_ctx_with_timeout(gort_ctx *parent, int64_t timeout);
gort_ctx *gort_ctx_with_value(gort_ctx *parent, const void *key, void *value);
void gort_ctx_cancel(gort_ctx *ctx);
void gort_ctx_free(gort_ctx *ctx);
gort_chan *gort_ctx_done(gort_ctx *ctx);
gort_error *gort_ctx_err(gort_ctx *ctx);
void *gort_ctx_value(gort_ctx *ctx, const void *key);
int64_t gort_ctx_deadline(gort_ctx *ctx);

/* ===================================================================== */
/* sync                                                                  */
/* ===================================================================== */

/*
 * The sync types are plain structs: zero-initialise them (or use the _INIT
 * macro) and do not copy them after first use. Every blocking call parks
 * the goroutine (a foreign thread blocks in the kernel). All are thread-safe.
 */

/* Private: the wait queue of a sync type (Go's runtime semaphore): a count of
 * wakeups not yet taken and a list of waiters, under an internal lock. */
struct gort_semaq_ {
	uint32_t count_;
	uint32_t lock_;
	void *head_;
	void *tail_;
};
#define GORT_SEMAQ_INIT_         \
	{                        \
		0, 0, NULL, NULL \
	}

/*
 * Mutex, as Go's sync.Mutex: spins briefly, then parks; after a waiter has
 * waited 1 ms the mutex enters starvation mode and is handed directly to
 * waiters in FIFO order until the queue drains. Unlocking an unlocked mutex
 * is a fatal error (as in Go). trylock returns true when it took the lock.
 * A mutex is not tied to a goroutine: another goroutine or thread may unlock it.
 */
typedef struct gort_mutex {
	int32_t state_; /* locked | woken << 1 | starving << 2 | waiters << 3 */
	struct gort_semaq_ sema_;
} gort_mutex;
#define GORT_MUTEX_INIT             \
	{                           \
		0, GORT_SEMAQ_INIT_ \
	}
void gort_mutex_lock(gort_mutex *m);
bool gort_mutex_trylock(gort_mutex *m);
void gort_mutex_unlock(gort_mutex *m);

/*
 * RWMutex, as Go's sync.RWMutex: any number of readers or one writer; a
 * blocked writer stops new readers from entering (so writers are not
 * starved, and a reader must not recursively rlock). Unlocking what is not
 * locked is a fatal error.
 */
typedef struct gort_rwmutex {
	gort_mutex w_;			/* held by the writer, pending or active */
	int32_t reader_count_;		/* readers in or waiting; -2^30 while a writer is pending */
	int32_t reader_wait_;		/* readers the pending writer still waits for */
	struct gort_semaq_ writer_sem_; /* the pending writer waits here */
	struct gort_semaq_ reader_sem_; /* readers wait here for the writer to finish */
} gort_rwmutex;
#define GORT_RWMUTEX_INIT                                                 \
	{                                                                 \
		GORT_MUTEX_INIT, 0, 0, GORT_SEMAQ_INIT_, GORT_SEMAQ_INIT_ \
	}
void gort_rwmutex_rlock(gort_rwmutex *rw);
bool gort_rwmutex_tryrlock(gort_rwmutex *rw);
void gort_rwmutex_runlock(gort_rwmutex *rw);
void gort_rwmutex_lock(gort_rwmutex *rw);
bool gort_rwmutex_trylock(gort_rwmutex *rw);
void gort_rwmutex_unlock(gort_rwmutex *rw);

/* Once, as Go's sync.Once: fn(arg) runs exactly once; every caller returns
 * after it has completed. fn must not call gort_once_do on the same once
 * (it would deadlock, as in Go). */
typedef struct gort_once {
	uint32_t done_;
	gort_mutex m_;
} gort_once;
#define GORT_ONCE_INIT             \
	{                          \
		0, GORT_MUTEX_INIT \
	}
void gort_once_do(gort_once *o, void (*fn)(void *arg), void *arg);

/*
 * Cond, as Go's sync.Cond: wait atomically unlocks m, parks, and relocks m
 * before returning; signal wakes one waiter (the longest waiting: FIFO),
 * broadcast all. Waiters that are woken have to re-check their condition
 * (Go's advice: wait in a loop). signal and broadcast need not hold m.
 */
typedef struct gort_cond {
	uint32_t wait_;	  /* tickets handed out to waiters (Go's notifyList.wait) */
	uint32_t notify_; /* tickets already notified */
	uint32_t lock_;
	void *waiters_;
	void *waiters_tail_;
} gort_cond;
#define GORT_COND_INIT              \
	{                           \
		0, 0, 0, NULL, NULL \
	}
void gort_cond_wait(gort_cond *c, gort_mutex *m);
void gort_cond_signal(gort_cond *c);
void gort_cond_broadcast(gort_cond *c);

/*
 * Pool, as Go's sync.Pool: a cache of interchangeable objects with a private
 * slot and a shared list per proc, so get/put rarely contend. get returns a
 * cached object or new_fn()'s result (NULL when new_fn is NULL and the pool
 * is empty); put caches obj (NULL is ignored). Cached objects may be dropped
 * at any time (passed to free_fn, if set): the runtime drops them under
 * memory pressure and, once the GC exists, on every GC cycle. gort_pool_new
 * returns NULL when out of memory; gort_pool_free frees every cached object
 * (no other call on the pool may run concurrently with it or follow it).
 * free_fn may run on any thread (the runtime's sysmon thread included), must
 * not block and must not call gort_pool_new or gort_pool_free.
 *
 * Until the GC exists, the runtime's scavenger (in the sysmon thread) looks
 * at every pool once a second and drops:
 *  - the cache of a pool that has had no get or put for two whole seconds
 *    (Go drops what survives two GC cycles unused: its victim cache);
 *  - the caches of all pools whenever the resident set size has doubled
 *    since the last time it did so (at least 8 MiB: Go's GOGC=100 heap goal).
 * gort_pool_drain_all() does the latter on request.
 */
typedef struct gort_pool gort_pool;
gort_pool *gort_pool_new(void *(*new_fn)(void), void (*free_fn)(void *obj));
void *gort_pool_get(gort_pool *p);
void gort_pool_put(gort_pool *p, void *obj);
void gort_pool_free(gort_pool *p);
/* Drops every cached object of every pool (the runtime calls it itself). */
void gort_pool_drain_all(void);

/*
 * Weighted semaphore, as golang.org/x/sync/semaphore: capacity n; acquire
 * takes w units, waiting in FIFO order (a large request is not overtaken by
 * small ones, and nobody barges past a queued waiter). gort_sema_new returns
 * NULL (GORT_EINVAL for n <= 0, or GORT_ENOMEM). acquire returns 0,
 * GORT_EINVAL when w > capacity or w <= 0 (Go would wait for ctx instead),
 * or the context's error code (GORT_ECANCELED / GORT_ETIMEDOUT) when ctx is
 * done first (nothing is held then); as in Go, a ctx already done fails even
 * when units are free. ctx may be NULL (wait forever). Failures set
 * gort_errmsg(). try_acquire returns true on success (false also for w out
 * of range). Releasing more than is held (or w < 0) is a fatal error.
 * gort_sema_free: nobody may be waiting or use it afterwards; NULL is
 * ignored.
 */
typedef struct gort_sema gort_sema;
gort_sema *gort_sema_new(int64_t n);
int gort_sema_acquire(gort_sema *s, gort_ctx *ctx, int64_t w);
bool gort_sema_try_acquire(gort_sema *s, int64_t w);
void gort_sema_release(gort_sema *s, int64_t w);
void gort_sema_free(gort_sema *s);

/* ===================================================================== */
/* Descriptor readiness (the netpoller)                                  */
/* ===================================================================== */

/*
 * The netpoller, as Go's runtime/netpoll: one edge-triggered epoll instance
 * per runtime; a goroutine that would block on a non-blocking descriptor
 * parks until the descriptor is ready, and its worker runs other goroutines.
 * The usual loop: try the operation; on EAGAIN call gort_fd_wait; repeat.
 *
 * A descriptor is registered on its first wait and stays registered until
 * gort_fd_close (or gort_fd_forget): close it with those, never with plain
 * close(2) while it is registered, or a later descriptor with the same
 * number inherits stale state (Go has the same rule for os.File's Fd).
 * The descriptor must be non-blocking and of a kind epoll supports (sockets,
 * pipes, eventfds, terminals...; not regular files).
 *
 * gort_fd_wait(fd, events, deadline): events is GORT_FD_READ or
 *   GORT_FD_WRITE (one direction per call; several goroutines may wait on
 *   the same descriptor: an edge wakes them all to retry). Returns
 *   GORT_FD_READ/GORT_FD_WRITE when the descriptor may be ready (retry the
 *   operation: readiness can be spurious), including on hang-up and error
 *   (the operation reports them); GORT_ETIMEDOUT when deadline (a gort_now()
 *   instant, GORT_FOREVER for none) or the descriptor's own deadline for
 *   that direction passes first; GORT_ECLOSED when the descriptor is closed
 *   with gort_fd_close (now or while waiting); GORT_EINVAL for a negative fd
 *   or bad events; GORT_EPERM when epoll refuses the descriptor (a regular
 *   file); other negative errno values from epoll_ctl (-EBADF...). A foreign
 *   thread may wait too (it sleeps in the kernel; the runtime's workers poll
 *   for it).
 * gort_fd_set_deadline(fd, events, deadline): sets the descriptor's sticky
 *   deadline for the given directions (a mask), as net.Conn's
 *   SetRead/WriteDeadline: it bounds every later wait and the waits in
 *   progress, which re-evaluate at once (a deadline in the past wakes them
 *   with GORT_ETIMEDOUT); GORT_FOREVER clears it. Returns 0 or GORT_EINVAL.
 * gort_fd_close(fd): wakes the descriptor's waiters with GORT_ECLOSED,
 *   deregisters it and closes it; later waits on it fail with GORT_ECLOSED
 *   until the number is reused. Returns 0, or the negative errno of close(2)
 *   (the descriptor is released either way, as with close(2)).
 * gort_fd_forget(fd): as gort_fd_close without closing the descriptor (hand
 *   it back to blocking code, or close it elsewhere). Returns 0 or GORT_EINVAL.
 * All are thread-safe.
 */
#define GORT_FD_READ 1
#define GORT_FD_WRITE 2
int gort_fd_wait(int fd, int events, int64_t deadline);
int gort_fd_set_deadline(int fd, int events, int64_t deadline);
int gort_fd_close(int fd);
int gort_fd_forget(int fd);

/* ===================================================================== */
/* Network                                                               */
/* ===================================================================== */

/*
 * A small net package, as Go's net: stream listeners and connections over
 * TCP (IPv4 and IPv6) and Unix domain sockets, on the netpoller above. A
 * call that would block parks the calling goroutine (a foreign thread
 * blocks in poll(2)). Descriptors are non-blocking and close-on-exec;
 * writes never raise SIGPIPE (MSG_NOSIGNAL).
 *
 * Networks and addresses:
 *   "tcp", "tcp4", "tcp6": "HOST:PORT". HOST is an IPv4 literal
 *     ("127.0.0.1"), a bracketed IPv6 literal ("[::1]"), "localhost" (tcp
 *     and tcp4: 127.0.0.1, tcp6: ::1) or empty (listen: every local address,
 *     dual-stack [::] for "tcp" where IPv6 exists; dial: the local system).
 *     PORT is a number, 0..65535 (0 when listening: the kernel picks one,
 *     gort_listener_addr() says which). Names other than localhost are not
 *     resolved: a resolver would block a thread (GORT_EINVAL, "no resolver").
 *   "unix": a filesystem path, or "@NAME" for Linux's abstract namespace.
 *     A listener removes the socket file it created when it is closed.
 *
 * Errors, the same for every call that takes a gort_error **err (err may
 * be NULL): on failure the call returns NULL or a negative code (the
 * error's code) and stores a new reference to the error in *err, which the
 * caller frees with gort_error_free(); on success it stores NULL. The
 * error's text is also gort_errmsg(). Errors read as Go's net.OpError,
 * "OP NETWORK LOCAL->REMOTE: CAUSE" (e.g. "read tcp
 * 127.0.0.1:8080->127.0.0.1:40000: i/o timeout", "dial tcp 127.0.0.1:1:
 * connect: Connection refused"), and their chain holds the cause:
 *   - a system error (code -errno, "SYSCALL: strerror"): test it with
 *     gort_error_is_errno(err, ECONNREFUSED), or gort_error_is() against
 *     any gort_error_errno(ECONNREFUSED, ...) (system errors compare by
 *     value);
 *   - gort_error_io_timeout (GORT_ETIMEDOUT) when a deadline passed;
 *   - gort_error_net_closed (GORT_ECLOSED) when the connection or listener
 *     is (or gets) closed by gort_conn_close / gort_listener_close;
 *   - a dial's context error (gort_error_canceled, GORT_ECANCELED, or
 *     gort_error_deadline_exceeded, GORT_ETIMEDOUT);
 *   - a basic error with code GORT_EINVAL for a bad network or address, or
 *     gort_error_oom (GORT_ENOMEM).
 *
 * Concurrency: every call is thread-safe. One goroutine may read while
 * another writes; concurrent reads are serialized, and so are concurrent
 * writes, so each gort_conn_write's bytes are contiguous in the stream (as
 * in Go). Closing wakes every call blocked on the connection or listener;
 * those calls return gort_error_net_closed. After gort_conn_close (or
 * gort_listener_close) the object must not be used by new calls; the calls
 * already in progress return, and the last one frees it.
 */
typedef struct gort_listener gort_listener;
typedef struct gort_conn gort_conn;

/*
 * Listens on network/address (SO_REUSEADDR for TCP, the kernel's maximum
 * backlog). Returns the listener, or NULL with *err: GORT_EINVAL (bad
 * network or address), a system error (-EADDRINUSE, -EACCES, -EMFILE...),
 * GORT_ENOMEM.
 */
gort_listener *gort_listen(const char *network, const char *address, gort_error **err);

/*
 * Waits for the next connection and returns it (TCP_NODELAY on). NULL with
 * *err on failure: gort_error_net_closed when the listener is closed (now
 * or while waiting), a system error from accept4 (-EMFILE, -ENFILE,
 * -ENOBUFS, -ENOMEM: like Go's, such errors are temporary; a server backs
 * off and retries), GORT_ENOMEM. Connections aborted before they were
 * accepted are skipped.
 */
gort_conn *gort_listener_accept(gort_listener *l, gort_error **err);

/* Formats the listener's address ("127.0.0.1:8080", "[::1]:8080",
 * "/run/x.sock", "@name") into buf like snprintf: returns the full length. */
int gort_listener_addr(const gort_listener *l, char *buf, size_t size);

/*
 * Closes the listener: a blocked accept returns gort_error_net_closed; the
 * descriptor is closed (and a unix socket file it created removed) once
 * the last call in progress has returned. Returns 0, or GORT_ECLOSED with
 * *err = gort_error_net_closed when already closed (only meaningful while
 * another call still holds the listener).
 */
int gort_listener_close(gort_listener *l, gort_error **err);

/*
 * Connects to address. The connect is non-blocking: the goroutine parks
 * until it completes, ctx is cancelled or ctx's deadline passes (ctx may be
 * NULL: no limit). Returns the connection (TCP_NODELAY on), or NULL with
 * *err: a system error (-ECONNREFUSED, -ENETUNREACH, -ETIMEDOUT from the
 * kernel, -ENOENT for a missing unix socket...), ctx's error (a context
 * already done fails at once, as in Go), GORT_EINVAL (bad network or
 * address), GORT_ENOMEM.
 */
gort_conn *gort_dial(const char *network, const char *address, gort_ctx *ctx, gort_error **err);

/* As gort_dial with a limit of timeout ns (<= 0: none); when it passes the
 * error is gort_error_io_timeout (GORT_ETIMEDOUT), as Go's DialTimeout. */
gort_conn *gort_dial_timeout(const char *network, const char *address, int64_t timeout,
			     gort_error **err);

/*
 * Reads up to len bytes (one recv). Returns the count (> 0), 0 at end of
 * stream (the peer closed or shut down its side; also for len 0), or a
 * negative code with *err: gort_error_io_timeout once the read deadline
 * has passed (even when data is waiting, as in Go), gort_error_net_closed,
 * a system error (-ECONNRESET...).
 */
ssize_t gort_conn_read(gort_conn *c, void *buf, size_t len, gort_error **err);

/*
 * Reads exactly len bytes (Go's io.ReadFull). Returns len; a smaller count
 * when the stream ended first (0: before the first byte, Go's io.EOF; more:
 * Go's io.ErrUnexpectedEOF); or a negative code with *err as
 * gort_conn_read (the bytes read before the error are consumed).
 */
ssize_t gort_conn_read_full(gort_conn *c, void *buf, size_t len, gort_error **err);

/*
 * Writes all len bytes, parking while the socket buffer is full, until
 * every byte is written or an error or the write deadline stops it.
 * Returns len, or a negative code with *err: gort_error_io_timeout,
 * gort_error_net_closed, a system error (-EPIPE once the peer is gone,
 * -ECONNRESET...). After a failed write an unknown prefix of buf may have
 * been sent.
 */
ssize_t gort_conn_write(gort_conn *c, const void *buf, size_t len, gort_error **err);

/*
 * Deadlines, as net.Conn's SetDeadline/SetReadDeadline/SetWriteDeadline:
 * an instant (gort_now() base) after which reads / writes fail with
 * gort_error_io_timeout instead of blocking; it also ends calls blocked
 * now. GORT_FOREVER clears it; a later deadline extends it. Sticky: it
 * applies to every later call until changed. Returns 0, or GORT_ECLOSED
 * when the connection is closed.
 */
int gort_conn_set_deadline(gort_conn *c, int64_t deadline);
int gort_conn_set_read_deadline(gort_conn *c, int64_t deadline);
int gort_conn_set_write_deadline(gort_conn *c, int64_t deadline);

/* TCP_NODELAY (on by default, as in Go). Returns 0, GORT_ECLOSED, or a
 * negative errno (-EOPNOTSUPP on a unix connection). */
int gort_conn_set_nodelay(gort_conn *c, bool on);

/*
 * Half-close: shuts down the writing side (shutdown(SHUT_WR)); the peer
 * reads end of stream and may still write back. Returns 0, or a negative
 * code with *err (gort_error_net_closed, a system error).
 */
int gort_conn_close_write(gort_conn *c, gort_error **err);

/*
 * Closes the connection: calls blocked on it return gort_error_net_closed,
 * the descriptor is closed once the last of them has returned. Returns 0,
 * or GORT_ECLOSED with *err = gort_error_net_closed when already closed
 * (only meaningful while another call still holds the connection).
 */
int gort_conn_close(gort_conn *c, gort_error **err);

/* The local / remote address formatted into buf like snprintf (returns the
 * full length): "ip:port", "[ipv6]:port", a unix path, "@name", or "" for
 * an unnamed unix socket. Fixed at connect/accept time. */
int gort_conn_local_addr(const gort_conn *c, char *buf, size_t size);
int gort_conn_remote_addr(const gort_conn *c, char *buf, size_t size);

/* The descriptor, for setsockopt and the like (as Go's SyscallConn). Do
 * not read, write or close it behind the connection's back. */
int gort_conn_fd(const gort_conn *c);

/*
 * A buffered reader over a connection, as Go's bufio.Reader: reads the
 * connection in chunks of up to size bytes and serves smaller reads from
 * the buffer. Not thread-safe (one reader goroutine at a time).
 * gort_bufreader_new(c, size): size 0 means 4096; NULL with gort_errmsg()
 *   when out of memory (GORT_ENOMEM). The reader does not own c.
 * gort_bufreader_read: as gort_conn_read, from the buffer when it holds
 *   data (a read larger than the buffer on an empty buffer goes straight
 *   to the connection).
 * gort_bufreader_read_full: as gort_conn_read_full.
 * gort_bufreader_read_slice(r, delim, &p): as bufio.Reader.ReadSlice:
 *   sets *p to the bytes up to and including the next delim and returns
 *   their count; *p points into the buffer and is valid until the next
 *   call on r. When the buffer is full without a delim, it returns the
 *   whole buffer (the last byte is then not delim: a prefix of a longer
 *   line; the next call continues it); at end of stream it returns what
 *   is left (without delim), then 0. Negative code with *err on errors.
 * gort_bufreader_buffered: the bytes buffered and not yet consumed.
 * gort_bufreader_free: frees the reader (not the connection); NULL ignored.
 */
typedef struct gort_bufreader gort_bufreader;
gort_bufreader *gort_bufreader_new(gort_conn *c, size_t size);
ssize_t gort_bufreader_read(gort_bufreader *r, void *buf, size_t len, gort_error **err);
ssize_t gort_bufreader_read_full(gort_bufreader *r, void *buf, size_t len, gort_error **err);
ssize_t gort_bufreader_read_slice(gort_bufreader *r, int delim, const char **p, gort_error **err);
size_t gort_bufreader_buffered(const gort_bufreader *r);
void gort_bufreader_free(gort_bufreader *r);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif /* GORT_H */
