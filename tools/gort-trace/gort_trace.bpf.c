// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * gort-trace's BPF side: one program per USDT probe of libgort (provider
 * "gort", see tools/README.md). Dual-licensed MIT/GPL-2.0: the kernel only
 * grants GPL-only helpers (bpf_probe_read_user, used by the USDT argument
 * fetch for memory operands, and the ring buffer) to programs whose license
 * string is GPL-compatible; "Dual MIT/GPL" is.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>
#include "gort_trace.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Set by user space before load. */
const volatile bool want_lat = false;
const volatile bool want_events = false;
/* gort.ko events of this process only (0: of every process, -a). */
const volatile __u32 filter_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH); /* an array's key cannot be an enum in BTF */
	__uint(max_entries, GORT_STAT__COUNT);
	__type(key, enum gort_stat);
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH); /* an array's key cannot be an enum in BTF */
	__uint(max_entries, GORT_GS__COUNT);
	__type(key, enum gort_gstate);
	__type(value, __s64);
} gstates SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH); /* an array's key cannot be an enum in BTF */
	__uint(max_entries, GORT_HIST__COUNT);
	__type(key, enum gort_hist);
	__type(value, struct gort_hist_val);
} hists SEC(".maps");

/* Per goroutine: its state and the start of its current wait/region. */
struct gort_g {
	__u32 state; /* enum gort_gstate */
	__u32 proc;
	__u64 ready_ts;
	__u64 block_ts;
	__u64 sys_ts;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 20);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __s64);
	__type(value, struct gort_g);
} goroutines SEC(".maps");

/* The goroutine each proc runs (goroutine__start), to see yields. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __s64);
} proc_cur SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

/* Counted when the ring buffer was full. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

static __always_inline void count(enum gort_stat s, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &s);

	if (v)
		__sync_fetch_and_add(v, n);
}

static __always_inline void gauge(__u32 st, __s64 d)
{
	__s64 *v;

	if (st == GORT_GS_NONE || st >= GORT_GS__COUNT)
		return;
	v = bpf_map_lookup_elem(&gstates, &st);
	if (v)
		__sync_fetch_and_add(v, d);
}

static __always_inline void hist_add(enum gort_hist h, __u64 d)
{
	struct gort_hist_val *v;
	__u64 slot = 0;

	v = bpf_map_lookup_elem(&hists, &h);
	if (!v)
		return;
	while (d > 1 && slot < GORT_HIST_SLOTS - 1) {
		d >>= 1;
		slot++;
	}
	__sync_fetch_and_add(&v->slots[slot & (GORT_HIST_SLOTS - 1)], 1);
}

static __always_inline void hist(enum gort_hist h, __u64 t0)
{
	if (t0)
		hist_add(h, bpf_ktime_get_ns() - t0);
}

static __always_inline void emit(__u32 type, __s64 goid, __s64 arg)
{
	struct gort_event *e;

	if (!want_events)
		return;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__u32 k = 0;
		__u64 *v = bpf_map_lookup_elem(&lost, &k);

		if (v)
			__sync_fetch_and_add(v, 1);
		return;
	}
	e->ts = bpf_ktime_get_ns();
	e->goid = goid;
	e->arg = arg;
	e->tid = (__u32)bpf_get_current_pid_tgid();
	e->type = type;
	bpf_ringbuf_submit(e, 0);
}

/* Moves goroutine goid to state st; returns its record (NULL if the map is full). */
static __always_inline struct gort_g *set_state(__s64 goid, __u32 st)
{
	struct gort_g *g = bpf_map_lookup_elem(&goroutines, &goid);

	if (!g) {
		struct gort_g n = { .state = st };

		if (bpf_map_update_elem(&goroutines, &goid, &n, BPF_NOEXIST))
			return NULL;
		gauge(st, 1);
		return bpf_map_lookup_elem(&goroutines, &goid);
	}
	if (g->state != st) {
		gauge(g->state, -1);
		gauge(st, 1);
		g->state = st;
	}
	return g;
}

SEC("usdt")
int BPF_USDT(goroutine_create, __s64 goid, __u64 fn)
{
	count(GORT_STAT_CREATE, 1);
	set_state(goid, GORT_GS_RUNNABLE);
	emit(GORT_EV_CREATE, goid, fn);
	return 0;
}

SEC("usdt")
int BPF_USDT(goroutine_start, __s64 goid, __s64 proc)
{
	__u32 p = proc;
	__s64 *prev = bpf_map_lookup_elem(&proc_cur, &p);
	struct gort_g *g;

	count(GORT_STAT_START, 1);
	if (prev && *prev != goid) {
		/* The previous goroutine of this proc yielded or was preempted. */
		struct gort_g *pg = bpf_map_lookup_elem(&goroutines, prev);

		if (pg && pg->state == GORT_GS_RUNNING && pg->proc == p) {
			gauge(GORT_GS_RUNNING, -1);
			gauge(GORT_GS_RUNNABLE, 1);
			pg->state = GORT_GS_RUNNABLE;
		}
	}
	bpf_map_update_elem(&proc_cur, &p, &goid, BPF_ANY);
	g = set_state(goid, GORT_GS_RUNNING);
	if (g) {
		g->proc = p;
		if (want_lat) {
			hist(GORT_HIST_RUNQ, g->ready_ts);
			g->ready_ts = 0;
		}
	}
	emit(GORT_EV_START, goid, proc);
	return 0;
}

SEC("usdt")
int BPF_USDT(goroutine_park, __s64 goid, __s64 reason)
{
	__u32 st = GORT_GS_WAITING + ((__u32)reason & 31);

	count(GORT_STAT_PARK, 1);
	set_state(goid, st);
	emit(GORT_EV_PARK, goid, reason);
	return 0;
}

SEC("usdt")
int BPF_USDT(goroutine_ready, __s64 goid)
{
	struct gort_g *g;

	count(GORT_STAT_READY, 1);
	g = set_state(goid, GORT_GS_RUNNABLE);
	if (g && want_lat)
		g->ready_ts = bpf_ktime_get_ns();
	emit(GORT_EV_READY, goid, 0);
	return 0;
}

SEC("usdt")
int BPF_USDT(goroutine_exit, __s64 goid)
{
	struct gort_g *g = bpf_map_lookup_elem(&goroutines, &goid);

	count(GORT_STAT_EXIT, 1);
	if (g) {
		gauge(g->state, -1);
		bpf_map_delete_elem(&goroutines, &goid);
	}
	emit(GORT_EV_EXIT, goid, 0);
	return 0;
}

SEC("usdt")
int BPF_USDT(sched_steal, __s64 victim, __s64 thief, __s64 n)
{
	count(GORT_STAT_STEAL, 1);
	count(GORT_STAT_STOLEN, n);
	return 0;
}

SEC("usdt")
int BPF_USDT(worker_park, __s64 worker)
{
	count(GORT_STAT_WORKER_PARK, 1);
	return 0;
}

SEC("usdt")
int BPF_USDT(worker_unpark, __s64 worker)
{
	count(GORT_STAT_WORKER_UNPARK, 1);
	return 0;
}

SEC("usdt")
int BPF_USDT(syscall_enter, __s64 goid, __s64 proc)
{
	struct gort_g *g;

	count(GORT_STAT_SYSCALL_ENTER, 1);
	g = set_state(goid, GORT_GS_SYSCALL);
	if (g && want_lat)
		g->sys_ts = bpf_ktime_get_ns();
	emit(GORT_EV_SYSCALL_ENTER, goid, proc);
	return 0;
}

SEC("usdt")
int BPF_USDT(syscall_exit, __s64 goid, __s64 path)
{
	struct gort_g *g;

	count(GORT_STAT_SYSCALL_EXIT, 1);
	count(path == 0	  ? GORT_STAT_SYSCALL_EXIT_KEPT
	      : path == 1 ? GORT_STAT_SYSCALL_EXIT_IDLE
			  : GORT_STAT_SYSCALL_EXIT_QUEUED,
	      1);
	g = set_state(goid, path == 2 ? GORT_GS_RUNNABLE : GORT_GS_RUNNING);
	if (g && want_lat) {
		hist(GORT_HIST_SYSCALL, g->sys_ts);
		g->sys_ts = 0;
	}
	emit(GORT_EV_SYSCALL_EXIT, goid, path);
	return 0;
}

SEC("usdt")
int BPF_USDT(syscall_handoff, __s64 proc)
{
	count(GORT_STAT_SYSCALL_HANDOFF, 1);
	return 0;
}

SEC("usdt")
int BPF_USDT(stw_start)
{
	count(GORT_STAT_STW, 1);
	return 0;
}

/* Channel waits are keyed by goid, or by thread for non-goroutine callers. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 16);
	__type(key, __u64);
	__type(value, __u64);
} chan_ts SEC(".maps");

static __always_inline __u64 waiter_key(__s64 goid)
{
	return goid ? (__u64)goid : (1ULL << 63) | (__u32)bpf_get_current_pid_tgid();
}

SEC("usdt")
int BPF_USDT(chan_block, __u64 ch, __s64 dir, __s64 goid)
{
	count(GORT_STAT_CHAN_BLOCK, 1);
	if (want_lat) {
		__u64 k = waiter_key(goid), ts = bpf_ktime_get_ns();

		bpf_map_update_elem(&chan_ts, &k, &ts, BPF_ANY);
	}
	return 0;
}

SEC("usdt")
int BPF_USDT(chan_unblock, __u64 ch, __s64 dir, __s64 goid)
{
	count(GORT_STAT_CHAN_UNBLOCK, 1);
	if (want_lat) {
		__u64 k = waiter_key(goid), *ts = bpf_map_lookup_elem(&chan_ts, &k);

		if (ts) {
			hist(GORT_HIST_CHAN, *ts);
			bpf_map_delete_elem(&chan_ts, &k);
		}
	}
	return 0;
}

SEC("usdt")
int BPF_USDT(select_block, __s64 n, __s64 goid)
{
	count(GORT_STAT_SELECT_BLOCK, 1);
	return 0;
}

SEC("usdt")
int BPF_USDT(mutex_contend, __u64 m, __s64 kind, __s64 goid)
{
	count(GORT_STAT_MUTEX_CONTEND, 1);
	return 0;
}

SEC("usdt")
int BPF_USDT(timer_fire, __u64 t, __s64 late)
{
	count(GORT_STAT_TIMER_FIRE, 1);
	return 0;
}

/*
 * gort:sched__stats: the runtime's snapshot (lib/snapshot.h), copied whole
 * into the `snaps` ring buffer; user space keeps the latest per process and
 * computes rates from successive ones. It fires from sysmon at most every
 * 20 ms, so this is the only program `top` needs on the runtime's side.
 */
struct snap_rec {
	struct gort_snap_hdr h;
	__u8 data[GORT_SNAP_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); /* too big for the stack */
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct snap_rec);
} snap_buf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} snaps SEC(".maps");

SEC("usdt")
int BPF_USDT(sched_stats, __u64 addr, __s64 size, __s64 version)
{
	__u32 k = 0, len;
	struct snap_rec *r = bpf_map_lookup_elem(&snap_buf, &k);

	if (!r || size <= 0)
		return 0;
	len = size > GORT_SNAP_MAX ? GORT_SNAP_MAX : (__u32)size;
	if (bpf_probe_read_user(r->data, len, (const void *)addr))
		return 0;
	r->h.ts = bpf_ktime_get_ns();
	r->h.tgid = bpf_get_current_pid_tgid() >> 32;
	r->h.len = len;
	r->h.version = (__u32)version;
	r->h.pad = 0;
	/* No wake-up: top drains the buffer on its own schedule (every 100 ms). */
	bpf_ringbuf_output(&snaps, r, sizeof(r->h) + len, BPF_RB_NO_WAKEUP);
	return 0;
}

/*
 * gort.ko's tracepoints (kmod/gort_trace.h), as raw tracepoints: the
 * arguments of TP_PROTO, no dependency on the event record's layout or on
 * the module's BTF (Debian's 6.1 module has none). Attached only when the
 * module is loaded.
 *
 * With -p only the traced process's events count. Most fire in the context
 * of one of its threads (the caller of an ioctl, the blocking worker in
 * sched_out, the worker resuming in sched_in); gort_spare_wake fires from
 * irq_work in whatever task was interrupted, so it is matched by group: the
 * groups seen in the process's own events.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH); /* an array's key cannot be an enum in BTF */
	__uint(max_entries, GORT_KSTAT__COUNT);
	__type(key, enum gort_kstat);
	__type(value, __u64);
} kstats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} kgroups SEC(".maps");

/*
 * Latency state per worker, keyed by (group << 32 | handle). A wait that
 * returns 0 was ended by exactly one "cause": a SWITCH or WAKE naming the
 * worker, or a block report waking it as the spare; tokens coalesce, so the
 * first cause pending is the one that set it. The cause's tracepoint fires
 * after its wake-up, so on another CPU the worker's wait may return first:
 * then the return is remembered (woke_ts) and the late cause takes it.
 */
enum {
	KCAUSE_NONE,
	KCAUSE_SWITCH,
	KCAUSE_WAKE,
	KCAUSE_SPARE
};

struct kworker {
	__u64 cause_ts; /* when the pending cause happened (a block's time for the spare) */
	__u64 woke_ts;	/* a wait returned with no cause seen yet */
	__u32 cause;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct kworker);
} kworkers SEC(".maps");

/* Per group: the time of the last block report not yet matched by a spare wake-up. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} kblock_ts SEC(".maps");

static __always_inline void kcount(enum gort_kstat s)
{
	__u64 *v = bpf_map_lookup_elem(&kstats, &s);

	if (v)
		__sync_fetch_and_add(v, 1);
}

/* An event in the traced process's own context: count it, learn its group. */
static __always_inline bool kmine(__u32 group)
{
	__u8 one = 1;

	if (!filter_tgid)
		return true;
	if ((__u32)(bpf_get_current_pid_tgid() >> 32) != filter_tgid)
		return false;
	if (!bpf_map_lookup_elem(&kgroups, &group))
		bpf_map_update_elem(&kgroups, &group, &one, BPF_ANY);
	return true;
}

static __always_inline struct kworker *kworker_get(__u32 group, __u32 handle)
{
	__u64 key = (__u64)group << 32 | handle;
	struct kworker *w = bpf_map_lookup_elem(&kworkers, &key), n = {};

	if (w)
		return w;
	bpf_map_update_elem(&kworkers, &key, &n, BPF_NOEXIST);
	return bpf_map_lookup_elem(&kworkers, &key);
}

static __always_inline void kcause_sample(__u32 cause, __u64 d)
{
	if (cause == KCAUSE_SWITCH)
		hist_add(GORT_HIST_HANDOFF, d);
	else if (cause == KCAUSE_SPARE)
		hist_add(GORT_HIST_BLOCK_SPARE, d);
}

static __always_inline void kcause(__u32 group, __u32 handle, __u32 cause, __u64 ts)
{
	struct kworker *w = kworker_get(group, handle);

	if (!w)
		return;
	if (w->woke_ts) {
		kcause_sample(cause, w->woke_ts > ts ? w->woke_ts - ts : 0);
		w->woke_ts = 0;
		return;
	}
	if (!w->cause_ts) {
		w->cause = cause;
		w->cause_ts = ts;
	}
}

static __always_inline void kwoke(__u32 group, __u32 handle)
{
	struct kworker *w = kworker_get(group, handle);
	__u64 now = bpf_ktime_get_ns();

	if (!w)
		return;
	if (w->cause_ts) {
		kcause_sample(w->cause, now > w->cause_ts ? now - w->cause_ts : 0);
		w->cause_ts = 0;
		w->cause = KCAUSE_NONE;
		return;
	}
	w->woke_ts = now;
}

SEC("raw_tp")
int BPF_PROG(kmod_register, __u32 group, __u32 handle, __s32 pid)
{
	if (kmine(group))
		kcount(GORT_KSTAT_REGISTER);
	return 0;
}

SEC("raw_tp")
int BPF_PROG(kmod_unregister, __u32 group, __u32 handle, __s32 pid, int reason)
{
	__u64 key = (__u64)group << 32 | handle;

	if (!kmine(group))
		return 0;
	kcount(GORT_KSTAT_UNREGISTER);
	bpf_map_delete_elem(&kworkers, &key);
	return 0;
}

SEC("raw_tp")
int BPF_PROG(kmod_wait, __u32 group, __u32 handle, __u64 timeout_ns, int ret)
{
	if (!kmine(group))
		return 0;
	kcount(GORT_KSTAT_WAIT);
	if (ret == -110) /* ETIMEDOUT */
		kcount(GORT_KSTAT_WAIT_TIMEOUT);
	if (want_lat && ret == 0)
		kwoke(group, handle);
	return 0;
}

SEC("raw_tp")
int BPF_PROG(kmod_wake, __u32 group, __u32 handle, __s32 pid)
{
	if (!kmine(group))
		return 0;
	kcount(GORT_KSTAT_WAKE);
	if (want_lat)
		kcause(group, handle, KCAUSE_WAKE, bpf_ktime_get_ns());
	return 0;
}

SEC("raw_tp")
int BPF_PROG(kmod_switch, __u32 group, __u32 handle, __u32 target, int mode, int cpu)
{
	if (!kmine(group))
		return 0;
	kcount(GORT_KSTAT_SWITCH);
	if (want_lat)
		kcause(group, target, KCAUSE_SWITCH, bpf_ktime_get_ns());
	return 0;
}

SEC("raw_tp")
int BPF_PROG(kmod_block, __u32 group, __u32 handle, __u32 seq, __u32 state)
{
	__u64 now;

	if (!kmine(group))
		return 0;
	kcount(GORT_KSTAT_BLOCK);
	if (want_lat) {
		now = bpf_ktime_get_ns();
		bpf_map_update_elem(&kblock_ts, &group, &now, BPF_ANY);
	}
	return 0;
}

SEC("raw_tp")
int BPF_PROG(kmod_unblock, __u32 group, __u32 handle, __u32 seq, __u32 state)
{
	if (!kmine(group))
		return 0;
	kcount(GORT_KSTAT_UNBLOCK);
	if (state == 3) /* GORT_SLOT_TAKEN */
		kcount(GORT_KSTAT_UNBLOCK_TAKEN);
	return 0;
}

SEC("raw_tp")
int BPF_PROG(kmod_spare_wake, __u32 group, __u32 handle, __s32 pid)
{
	__u64 *bt, ts;

	if (filter_tgid && !bpf_map_lookup_elem(&kgroups, &group))
		return 0;
	kcount(GORT_KSTAT_SPARE_WAKE);
	if (!want_lat)
		return 0;
	/* The spare is woken for the group's latest block report. */
	bt = bpf_map_lookup_elem(&kblock_ts, &group);
	ts = bt ? *bt : bpf_ktime_get_ns();
	if (bt)
		bpf_map_delete_elem(&kblock_ts, &group);
	kcause(group, handle, KCAUSE_SPARE, ts);
	return 0;
}
