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

static __always_inline void hist(enum gort_hist h, __u64 t0)
{
	struct gort_hist_val *v;
	__u64 d, slot = 0;

	if (!t0)
		return;
	d = bpf_ktime_get_ns() - t0;
	v = bpf_map_lookup_elem(&hists, &h);
	if (!v)
		return;
	while (d > 1 && slot < GORT_HIST_SLOTS - 1) {
		d >>= 1;
		slot++;
	}
	__sync_fetch_and_add(&v->slots[slot & (GORT_HIST_SLOTS - 1)], 1);
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
