/* SPDX-License-Identifier: MIT */
/*
 * The scheduler snapshot published through the USDT probe gort:sched__stats
 * (arguments: its address, its size in bytes, GORT_SNAPSHOT_VERSION). A
 * tracer copies `size` bytes from the address while the probe fires: the
 * struct is stable for that long (only sysmon writes it, and only right
 * before the probe). Shared with tools/gort-trace, which reads it
 * (bpf_probe_read_user) and computes rates from successive snapshots.
 *
 * Layout rules, so that a tool and a library of different ages agree:
 * fields are only ever appended (before procs[]); a change to an existing
 * field bumps GORT_SNAPSHOT_VERSION. procs[] is last and only its first
 * nprocs_shown entries are valid and copied: `size` ends there.
 */
#ifndef GORT_SNAPSHOT_H
#define GORT_SNAPSHOT_H

#include <stdint.h>

#define GORT_SNAPSHOT_VERSION 1
#define GORT_SNAPSHOT_REASONS 32 /* slots of g_waiting_reason[] (enum wait_reason) */
#define GORT_SNAPSHOT_PROCS 256	 /* procs described; nprocs counts them all */

struct gort_snapshot_proc {
	uint32_t status;      /* enum pstatus: 0 idle, 1 running, 2 syscall, 3 stopped, 4 dead */
	uint32_t runq;	      /* goroutines in the local ring */
	uint32_t runnext;     /* 1 when the runnext slot holds one */
	uint32_t schedtick;   /* schedules on this proc (wraps) */
	uint32_t syscalltick; /* syscall regions entered on this proc (wraps) */
	uint32_t timers;      /* timers queued on this proc */
	uint64_t runs;	      /* goroutine runs begun on this proc (each switch to one) */
};

struct gort_snapshot {
	uint32_t version;  /* GORT_SNAPSHOT_VERSION */
	uint32_t size;	   /* bytes valid: up to procs[nprocs_shown] */
	uint64_t seq;	   /* snapshots published so far, this one included */
	int64_t time_ns;   /* CLOCK_MONOTONIC when taken */
	int64_t walk_ns;   /* time the goroutine walk took */
	int64_t period_ns; /* minimum interval until the next snapshot */
	/* gort_stats(): counters since start, cumulative */
	int64_t goroutines; /* alive */
	int64_t created;
	int64_t maxprocs;
	int64_t workers;
	int64_t idle_procs;
	int64_t spinning_workers;
	int64_t switches;
	int64_t steals;
	int64_t stolen;
	int64_t global_runq_gets;
	int64_t worker_parks;
	int64_t worker_wakes;
	int64_t syscall_handoffs;
	int64_t preempt_requests;
	int64_t stw_count;
	int64_t kassist; /* 1 when the scheduler uses gort.ko */
	int64_t kassist_handoffs;
	int64_t kassist_switches;
	int64_t global_runq; /* goroutines in the global run queue now */
	/* Goroutines by state now, from a walk of the goroutine registry (a
	 * racy view, like GORTDEBUG=scheddetail: the world is not stopped). */
	int64_t g_runnable;
	int64_t g_running;
	int64_t g_syscall;
	int64_t g_waiting;
	int64_t g_waiting_reason[GORT_SNAPSHOT_REASONS];
	int32_t nprocs;	      /* procs (GOMAXPROCS) */
	int32_t nprocs_shown; /* entries of procs[] filled: min(nprocs, GORT_SNAPSHOT_PROCS) */
	struct gort_snapshot_proc procs[GORT_SNAPSHOT_PROCS];
};

#endif
