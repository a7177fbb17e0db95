/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * Shared between gort_trace.bpf.c (the BPF side) and gort-trace.c (user space):
 * the keys of the pinned maps and the records of the ring buffer. The enum
 * names are what `bpftool map dump pinned /sys/fs/bpf/gort/PID/stats` prints.
 */
#ifndef GORT_TRACE_H
#define GORT_TRACE_H

/* Keys of the `stats` map: event counters since attach. */
enum gort_stat {
	GORT_STAT_CREATE,
	GORT_STAT_START, /* context switches to a goroutine */
	GORT_STAT_PARK,
	GORT_STAT_READY,
	GORT_STAT_EXIT,
	GORT_STAT_STEAL,
	GORT_STAT_STOLEN, /* goroutines taken by steals */
	GORT_STAT_WORKER_PARK,
	GORT_STAT_WORKER_UNPARK,
	GORT_STAT_SYSCALL_ENTER,
	GORT_STAT_SYSCALL_EXIT,
	GORT_STAT_SYSCALL_EXIT_KEPT,
	GORT_STAT_SYSCALL_EXIT_IDLE,
	GORT_STAT_SYSCALL_EXIT_QUEUED,
	GORT_STAT_SYSCALL_HANDOFF,
	GORT_STAT_STW,
	GORT_STAT_CHAN_BLOCK,
	GORT_STAT_CHAN_UNBLOCK,
	GORT_STAT_SELECT_BLOCK,
	GORT_STAT_MUTEX_CONTEND,
	GORT_STAT_TIMER_FIRE,
	GORT_STAT__COUNT,
};

/* Keys of the `gstates` map: goroutines seen since attach, by state; waiting
 * ones by wait reason (GORT_GS_WAITING + enum wait_reason of lib/runtime.h). */
enum gort_gstate {
	GORT_GS_NONE, /* not tracked (exited) */
	GORT_GS_RUNNABLE,
	GORT_GS_RUNNING,
	GORT_GS_SYSCALL,
	GORT_GS_WAITING, /* + wait reason, up to GORT_GS__COUNT */
	GORT_GS_WAITING_WAITGROUP,
	GORT_GS_WAITING_CHAN_SEND,
	GORT_GS_WAITING_CHAN_RECV,
	GORT_GS_WAITING_CHAN_SEND_NIL,
	GORT_GS_WAITING_CHAN_RECV_NIL,
	GORT_GS_WAITING_SELECT,
	GORT_GS_WAITING_SELECT_NO_CASES,
	GORT_GS_WAITING_MUTEX,
	GORT_GS_WAITING_RWMUTEX_RLOCK,
	GORT_GS_WAITING_RWMUTEX_LOCK,
	GORT_GS_WAITING_COND,
	GORT_GS_WAITING_SEMA,
	GORT_GS_WAITING_SLEEP,
	GORT_GS_WAITING_IO,
	GORT_GS_WAITING_STW,
	GORT_GS__COUNT = GORT_GS_WAITING + 32,
};

/* Keys of the `kstats` map: gort.ko tracepoint hits since attach (of the
 * traced process's groups with -p, of every process with -a). */
enum gort_kstat {
	GORT_KSTAT_REGISTER,
	GORT_KSTAT_UNREGISTER,
	GORT_KSTAT_WAIT, /* WAIT or the wait half of a SWITCH returned */
	GORT_KSTAT_WAIT_TIMEOUT,
	GORT_KSTAT_WAKE,
	GORT_KSTAT_SWITCH,
	GORT_KSTAT_BLOCK,
	GORT_KSTAT_UNBLOCK,
	GORT_KSTAT_UNBLOCK_TAKEN, /* of those: the spare had taken the proc */
	GORT_KSTAT_SPARE_WAKE,
	GORT_KSTAT__COUNT,
};

/* Keys of the `hists` map (gort-trace lat): log2 buckets of nanoseconds. */
enum gort_hist {
	GORT_HIST_RUNQ,	       /* goroutine__ready -> goroutine__start */
	GORT_HIST_CHAN,	       /* chan__block -> chan__unblock */
	GORT_HIST_SYSCALL,     /* syscall__enter -> syscall__exit */
	GORT_HIST_HANDOFF,     /* gort_switch -> the target's gort_wait returns */
	GORT_HIST_BLOCK_SPARE, /* gort_block -> the spare's gort_wait returns */
	GORT_HIST__COUNT,
};
#define GORT_HIST_SLOTS 64 /* a power of two: the BPF side masks the index */

struct gort_hist_val {
	unsigned long long slots[GORT_HIST_SLOTS];
};

/*
 * Records of the `snaps` ring buffer: one per gort:sched__stats hit, this
 * header then `len` bytes of the process's struct gort_snapshot
 * (lib/snapshot.h), copied while the probe fired.
 */
#define GORT_SNAP_MAX 16384 /* bytes copied at most: >= sizeof(struct gort_snapshot) */
struct gort_snap_hdr {
	unsigned long long ts; /* CLOCK_MONOTONIC ns */
	unsigned int tgid;
	unsigned int len;     /* bytes following */
	unsigned int version; /* the probe's third argument */
	unsigned int pad;
};

/* Ring-buffer records (gort-trace record). */
enum gort_ev_type {
	GORT_EV_CREATE,
	GORT_EV_START,
	GORT_EV_PARK,
	GORT_EV_READY,
	GORT_EV_EXIT,
	GORT_EV_SYSCALL_ENTER,
	GORT_EV_SYSCALL_EXIT,
};

struct gort_event {
	unsigned long long ts; /* CLOCK_MONOTONIC ns */
	long long goid;
	long long arg; /* proc id (start), wait reason (park), fn (create), path (syscall exit) */
	unsigned int tid;
	unsigned int type;
};

#endif
