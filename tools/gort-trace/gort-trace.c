// SPDX-License-Identifier: MIT
/*
 * gort-trace: libbpf CO-RE tool over libgort's USDT probes (provider "gort").
 *
 *   gort-trace top    -p PID [-i SEC] [-n COUNT]     refreshing per-process view
 *   gort-trace count  -p PID [-d SEC] [--json]       counters until exit / -d
 *   gort-trace lat    -p PID [-d SEC] [--json]       log2 latency histograms
 *   gort-trace record -p PID [-d SEC] -o trace.json  Chrome/Perfetto trace
 *
 * Common options: -a -l LIB (every process using LIB instead of -p),
 * --pin (pin maps and programs under /sys/fs/bpf/gort/PID/), --keep (leave
 * them pinned on exit), --mount (mount bpffs/tracefs when absent).
 * See tools/gort-trace/README.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <gelf.h>
#include <libelf.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "gort_trace.h"
#include "gort_trace.skel.h"

#define BPF_FS_MAGIC_ 0xcafe4a11
#define TRACEFS_MAGIC_ 0x74726163
#define PIN_ROOT "/sys/fs/bpf/gort"

static const char *const stat_names[GORT_STAT__COUNT] = {
	[GORT_STAT_CREATE] = "create",
	[GORT_STAT_START] = "switches",
	[GORT_STAT_PARK] = "park",
	[GORT_STAT_READY] = "ready",
	[GORT_STAT_EXIT] = "exit",
	[GORT_STAT_STEAL] = "steals",
	[GORT_STAT_STOLEN] = "stolen",
	[GORT_STAT_WORKER_PARK] = "worker_park",
	[GORT_STAT_WORKER_UNPARK] = "worker_unpark",
	[GORT_STAT_SYSCALL_ENTER] = "syscall_enter",
	[GORT_STAT_SYSCALL_EXIT] = "syscall_exit",
	[GORT_STAT_SYSCALL_EXIT_KEPT] = "syscall_exit_kept",
	[GORT_STAT_SYSCALL_EXIT_IDLE] = "syscall_exit_idle",
	[GORT_STAT_SYSCALL_EXIT_QUEUED] = "syscall_exit_queued",
	[GORT_STAT_SYSCALL_HANDOFF] = "syscall_handoff",
	[GORT_STAT_STW] = "stw",
	[GORT_STAT_CHAN_BLOCK] = "chan_block",
	[GORT_STAT_CHAN_UNBLOCK] = "chan_unblock",
	[GORT_STAT_SELECT_BLOCK] = "select_block",
	[GORT_STAT_MUTEX_CONTEND] = "mutex_contend",
	[GORT_STAT_TIMER_FIRE] = "timer_fire",
};

/* enum wait_reason of lib/runtime.h, Go's names (wait_reason_names in lib/sched.c). */
static const char *const reason_names[] = {
	"running?",
	"sync.WaitGroup.Wait",
	"chan send",
	"chan receive",
	"chan send (nil chan)",
	"chan receive (nil chan)",
	"select",
	"select (no cases)",
	"sync.Mutex.Lock",
	"sync.RWMutex.RLock",
	"sync.RWMutex.Lock",
	"sync.Cond.Wait",
	"semacquire",
	"sleep",
	"IO wait",
	"stop-the-world turn",
};
#define NREASONS (int)(sizeof(reason_names) / sizeof(reason_names[0]))

/* Every probe of the catalogue and the program that handles it. */
struct probe {
	const char *name;
	size_t prog_off; /* offset of the program pointer in skel->progs */
	bool hot;	 /* fires on every switch or channel wait: skipped by --light */
};
#define P(n, f)                                                 \
	{                                                       \
#n, offsetof(struct gort_trace, progs.f), false \
	}
#define H(n, f)                                                \
	{                                                      \
#n, offsetof(struct gort_trace, progs.f), true \
	}
static const struct probe probes[] = {
	P(goroutine__create, goroutine_create),
	H(goroutine__start, goroutine_start),
	H(goroutine__park, goroutine_park),
	H(goroutine__ready, goroutine_ready),
	P(goroutine__exit, goroutine_exit),
	P(sched__steal, sched_steal),
	P(worker__park, worker_park),
	P(worker__unpark, worker_unpark),
	P(syscall__enter, syscall_enter),
	P(syscall__exit, syscall_exit),
	P(syscall__handoff, syscall_handoff),
	P(stw__start, stw_start),
	H(chan__block, chan_block),
	H(chan__unblock, chan_unblock),
	H(select__block, select_block),
	P(mutex__contend, mutex_contend),
	P(timer__fire, timer_fire),
};
#undef P
#undef H
#define NPROBES (int)(sizeof(probes) / sizeof(probes[0]))

enum cmd {
	CMD_TOP,
	CMD_COUNT,
	CMD_LAT,
	CMD_RECORD
};

static struct {
	enum cmd cmd;
	int pid;
	bool all;
	const char *lib;
	double interval;
	double duration; /* 0: until the process exits or ^C */
	long iterations;
	const char *out;
	bool json, pin, keep, mount, verbose, light;
} opt = { .interval = 1.0, .lib = "/usr/local/lib/libgort.so" };

static volatile sig_atomic_t stop;
static char pin_dir[256];
static char binary[4096];

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !opt.verbose)
		return 0;
	if (level == LIBBPF_INFO && !opt.verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: gort-trace top    -p PID [-i SEC] [-n COUNT] [--json]\n"
		"       gort-trace count  -p PID [-d SEC] [--json]\n"
		"       gort-trace lat    -p PID [-d SEC] [--json]\n"
		"       gort-trace record -p PID [-d SEC] -o trace.json\n"
		"options: -a [-l LIB]  every process using LIB (default %s) instead of -p\n"
		"         --pin        pin maps and programs under " PIN_ROOT "/PID/\n"
		"         --keep       leave them pinned on exit\n"
		"         --mount      mount bpffs (/sys/fs/bpf) and tracefs (/sys/kernel/tracing) "
		"if absent\n"
		"         --light      skip the per-switch probes (goroutine__start/park/ready,\n"
		"                      chan__block/unblock, select__block): no switches/s, chan "
		"blocks/s\n"
		"                      or goroutine states, but no cost on the scheduler's hot "
		"path\n"
		"         -v           libbpf messages\n",
		opt.lib);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- finding the ELF that carries the probes ---- */

/* Whether path is an ELF with a .note.stapsdt naming provider "gort". */
static bool has_gort_notes(const char *path)
{
	bool found = false;
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	Elf *e;
	int fd;

	elf_version(EV_CURRENT);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (!e || elf_getshdrstrndx(e, &shstrndx))
		goto out;
	while (!found && (scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;
		const char *name;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		name = elf_strptr(e, shstrndx, sh.sh_name);
		if (!name || strcmp(name, ".note.stapsdt"))
			continue;
		d = elf_getdata(scn, NULL);
		if (d && d->d_buf && memmem(d->d_buf, d->d_size, "gort\0goroutine__", 16))
			found = true;
	}
out:
	if (e)
		elf_end(e);
	close(fd);
	return found;
}

/* The file holding the probes of pid: a mapped libgort.so, else the executable. */
static int find_binary(int pid)
{
	char maps[64], line[4096 + 128];
	FILE *f;

	snprintf(maps, sizeof(maps), "/proc/%d/maps", pid);
	f = fopen(maps, "re");
	if (!f) {
		fprintf(stderr, "gort-trace: no process %d (%s)\n", pid, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *path = strchr(line, '/');

		if (!path || !strstr(path, "/libgort.so"))
			continue;
		path[strcspn(path, "\n")] = 0;
		snprintf(binary, sizeof(binary), "/proc/%d/root%s", pid, path);
		if (has_gort_notes(binary)) {
			fclose(f);
			return 0;
		}
	}
	fclose(f);
	snprintf(binary, sizeof(binary), "/proc/%d/exe", pid);
	if (has_gort_notes(binary))
		return 0;
	fprintf(stderr,
		"gort-trace: process %d does not use libgort: neither a mapped libgort.so nor its "
		"executable has gort USDT probes (.note.stapsdt)\n",
		pid);
	return -1;
}

/* ---- bpffs / tracefs ---- */

static bool fs_is(const char *path, long magic)
{
	struct statfs st;

	return statfs(path, &st) == 0 && (long)st.f_type == magic;
}

/* required: fail when absent and not --mount; else only a hint. */
static int ensure_fs(const char *path, const char *type, long magic, bool required)
{
	if (fs_is(path, magic))
		return 0;
	if (opt.mount) {
		mkdir(path, 0755);
		if (mount(type, path, type, 0, NULL)) {
			fprintf(stderr, "gort-trace: mount -t %s %s %s: %s\n", type, type, path,
				strerror(errno));
			return -1;
		}
		fprintf(stderr, "gort-trace: mounted %s on %s\n", type, path);
		return 0;
	}
	if (required) {
		fprintf(stderr,
			"gort-trace: %s is not mounted on %s: run with --mount, or: mount -t %s %s "
			"%s\n",
			type, path, type, type, path);
		return -1;
	}
	return 0;
}

/* ---- pinning ---- */

static struct bpf_map *pinned_maps[8];
static struct bpf_program *pinned_progs[NPROBES];

static int pin_all(struct gort_trace *skel, int pid)
{
	struct bpf_map *maps[] = { skel->maps.stats, skel->maps.gstates, skel->maps.hists,
				   skel->maps.goroutines };
	char path[512];
	unsigned i;

	if (ensure_fs("/sys/fs/bpf", "bpf", BPF_FS_MAGIC_, true))
		return -1;
	if (pid > 0)
		snprintf(pin_dir, sizeof(pin_dir), PIN_ROOT "/%d", pid);
	else
		snprintf(pin_dir, sizeof(pin_dir), PIN_ROOT "/all");
	mkdir(PIN_ROOT, 0755);
	if (mkdir(pin_dir, 0755) && errno != EEXIST) {
		fprintf(stderr, "gort-trace: mkdir %s: %s\n", pin_dir, strerror(errno));
		return -1;
	}
	for (i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", pin_dir, bpf_map__name(maps[i]));
		unlink(path);
		if (bpf_map__pin(maps[i], path)) {
			fprintf(stderr, "gort-trace: pin %s: %s\n", path, strerror(errno));
			return -1;
		}
		pinned_maps[i] = maps[i];
	}
	for (i = 0; i < (unsigned)NPROBES; i++) {
		struct bpf_program *p = *(struct bpf_program **)((char *)skel + probes[i].prog_off);

		snprintf(path, sizeof(path), "%s/prog_%s", pin_dir, bpf_program__name(p));
		unlink(path);
		if (bpf_program__pin(p, path)) {
			fprintf(stderr, "gort-trace: pin %s: %s\n", path, strerror(errno));
			return -1;
		}
		pinned_progs[i] = p;
	}
	fprintf(stderr, "gort-trace: pinned maps and programs under %s\n", pin_dir);
	return 0;
}

static void unpin_all(void)
{
	unsigned i;

	if (!pin_dir[0] || opt.keep)
		return;
	for (i = 0; i < sizeof(pinned_maps) / sizeof(pinned_maps[0]); i++)
		if (pinned_maps[i])
			bpf_map__unpin(pinned_maps[i], NULL);
	for (i = 0; i < (unsigned)NPROBES; i++) {
		char path[512];

		if (!pinned_progs[i])
			continue;
		snprintf(path, sizeof(path), "%s/prog_%s", pin_dir,
			 bpf_program__name(pinned_progs[i]));
		unlink(path);
	}
	rmdir(pin_dir);
	rmdir(PIN_ROOT); /* only if empty */
}

/* ---- reading the maps ---- */

static void read_stats(struct gort_trace *skel, uint64_t *st)
{
	int fd = bpf_map__fd(skel->maps.stats);

	for (uint32_t k = 0; k < GORT_STAT__COUNT; k++)
		if (bpf_map_lookup_elem(fd, &k, &st[k]))
			st[k] = 0;
}

static void read_gstates(struct gort_trace *skel, int64_t *gs)
{
	int fd = bpf_map__fd(skel->maps.gstates);

	for (uint32_t k = 0; k < GORT_GS__COUNT; k++)
		if (bpf_map_lookup_elem(fd, &k, &gs[k]) || gs[k] < 0)
			gs[k] = 0;
}

static bool process_gone(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	return pidfd >= 0 && poll(&p, 1, 0) == 1;
}

/* Sleeps up to sec, or until ^C / the process exits. Returns false to stop. */
static bool wait_for(double sec, int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	double end = now_s() + sec;

	while (!stop) {
		double left = end - now_s();

		if (left <= 0)
			return true;
		if (pidfd >= 0) {
			if (poll(&p, 1, (int)(left * 1000) + 1) == 1)
				return false;
		} else {
			poll(NULL, 0, (int)(left * 1000) + 1);
		}
	}
	return false;
}

static void print_json_counts(const uint64_t *st, const int64_t *gs)
{
	int64_t waiting = 0;

	for (int r = 0; r < GORT_GS__COUNT - GORT_GS_WAITING; r++)
		waiting += gs[GORT_GS_WAITING + r];
	printf("{\"pid\": %d, \"binary\": \"%s\", \"stats\": {", opt.pid, binary);
	for (int k = 0; k < GORT_STAT__COUNT; k++)
		printf("%s\"%s\": %llu", k ? ", " : "", stat_names[k], (unsigned long long)st[k]);
	printf("}, \"goroutines\": {\"runnable\": %lld, \"running\": %lld, \"syscall\": %lld, "
	       "\"waiting\": %lld, \"waiting_by_reason\": {",
	       (long long)gs[GORT_GS_RUNNABLE], (long long)gs[GORT_GS_RUNNING],
	       (long long)gs[GORT_GS_SYSCALL], (long long)waiting);
	bool first = true;
	for (int r = 0; r < NREASONS; r++) {
		if (!gs[GORT_GS_WAITING + r])
			continue;
		printf("%s\"%s\": %lld", first ? "" : ", ", reason_names[r],
		       (long long)gs[GORT_GS_WAITING + r]);
		first = false;
	}
	printf("}}}\n");
}

/* ---- top / count ---- */

static int run_top(struct gort_trace *skel, int pidfd)
{
	uint64_t prev[GORT_STAT__COUNT] = { 0 }, cur[GORT_STAT__COUNT];
	int64_t gs[GORT_GS__COUNT];
	bool tty = isatty(STDOUT_FILENO) && !opt.json;
	double t_prev = now_s();
	long n = 0;
	bool more = true;

	while (more) {
		double t, dt;

		more = wait_for(opt.interval, pidfd);
		t = now_s();
		dt = t - t_prev;
		t_prev = t;
		read_stats(skel, cur);
		read_gstates(skel, gs);
		if (opt.json) {
			print_json_counts(cur, gs);
		} else {
			int64_t waiting = 0, total;
			time_t wall = time(NULL);
			char tbuf[32];

			for (int r = 0; r < GORT_GS__COUNT - GORT_GS_WAITING; r++)
				waiting += gs[GORT_GS_WAITING + r];
			total = waiting + gs[GORT_GS_RUNNABLE] + gs[GORT_GS_RUNNING] +
				gs[GORT_GS_SYSCALL];
			strftime(tbuf, sizeof(tbuf), "%H:%M:%S", localtime(&wall));
			if (tty)
				printf("\033[H\033[2J");
			printf("gort-trace top  pid %d  %s  %s  (every %.1f s)\n", opt.pid, binary,
			       tbuf, opt.interval);
			printf("goroutines %lld: running %lld  runnable %lld  syscall %lld  "
			       "waiting %lld\n",
			       (long long)total, (long long)gs[GORT_GS_RUNNING],
			       (long long)gs[GORT_GS_RUNNABLE], (long long)gs[GORT_GS_SYSCALL],
			       (long long)waiting);
			for (int r = 0; r < NREASONS; r++)
				if (gs[GORT_GS_WAITING + r])
					printf("  waiting %-24s %lld\n", reason_names[r],
					       (long long)gs[GORT_GS_WAITING + r]);
#define RATE(k) ((cur[k] - prev[k]) / (dt > 0 ? dt : 1))
			printf("%-22s %12s %14s\n", "per second", "rate", "total");
			static const int shown[] = {
				GORT_STAT_START,
				GORT_STAT_CREATE,
				GORT_STAT_EXIT,
				GORT_STAT_PARK,
				GORT_STAT_READY,
				GORT_STAT_STEAL,
				GORT_STAT_STOLEN,
				GORT_STAT_SYSCALL_ENTER,
				GORT_STAT_SYSCALL_HANDOFF,
				GORT_STAT_CHAN_BLOCK,
				GORT_STAT_SELECT_BLOCK,
				GORT_STAT_MUTEX_CONTEND,
				GORT_STAT_TIMER_FIRE,
				GORT_STAT_WORKER_PARK,
				GORT_STAT_STW,
			};
			for (unsigned i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
				printf("%-22s %12.0f %14llu\n", stat_names[shown[i]],
				       RATE(shown[i]), (unsigned long long)cur[shown[i]]);
#undef RATE
			printf("(goroutines that existed before attach are counted from their next "
			       "event)\n");
		}
		fflush(stdout);
		memcpy(prev, cur, sizeof(prev));
		if (opt.iterations && ++n >= opt.iterations)
			break;
	}
	if (pidfd >= 0 && process_gone(pidfd))
		fprintf(stderr, "gort-trace: process %d exited\n", opt.pid);
	return 0;
}

static int run_count(struct gort_trace *skel, int pidfd)
{
	uint64_t st[GORT_STAT__COUNT];
	int64_t gs[GORT_GS__COUNT];

	wait_for(opt.duration > 0 ? opt.duration : 1e9, pidfd);
	read_stats(skel, st);
	read_gstates(skel, gs);
	if (opt.json) {
		print_json_counts(st, gs);
	} else {
		for (int k = 0; k < GORT_STAT__COUNT; k++)
			printf("%-22s %llu\n", stat_names[k], (unsigned long long)st[k]);
	}
	return 0;
}

/* ---- lat ---- */

static void print_hist(const char *title, const struct gort_hist_val *h)
{
	unsigned long long max = 0, total = 0;
	int first = -1, last = -1;

	for (int i = 0; i < GORT_HIST_SLOTS; i++) {
		if (h->slots[i] > max)
			max = h->slots[i];
		total += h->slots[i];
		if (h->slots[i] && first < 0)
			first = i;
		if (h->slots[i])
			last = i;
	}
	printf("%s: %llu samples\n", title, total);
	if (last < 0)
		return;
	printf("%24s : %-10s %s\n", "ns", "count", "distribution");
	for (int i = first; i <= last; i++) {
		unsigned long long lo = i ? 1ULL << i : 0, hi = (2ULL << i) - 1;
		int w = max ? (int)(h->slots[i] * 40 / max) : 0;
		char bar[41];

		memset(bar, '*', (size_t)w);
		bar[w] = 0;
		printf("%11llu -> %-10llu : %-10llu |%-40s|\n", lo, hi, h->slots[i], bar);
	}
	printf("\n");
}

static int run_lat(struct gort_trace *skel, int pidfd)
{
	static const char *const titles[GORT_HIST__COUNT] = {
		[GORT_HIST_RUNQ] = "run-queue latency (goroutine__ready -> goroutine__start)",
		[GORT_HIST_CHAN] = "channel block time (chan__block -> chan__unblock)",
		[GORT_HIST_SYSCALL] = "syscall-region time (syscall__enter -> syscall__exit)",
	};
	static const char *const keys[GORT_HIST__COUNT] = { "runq", "chan", "syscall" };
	int fd = bpf_map__fd(skel->maps.hists);

	wait_for(opt.duration > 0 ? opt.duration : 1e9, pidfd);
	if (opt.json)
		printf("{\"pid\": %d, \"unit\": \"ns\", \"log2_histograms\": {", opt.pid);
	for (uint32_t k = 0; k < GORT_HIST__COUNT; k++) {
		struct gort_hist_val h;

		if (bpf_map_lookup_elem(fd, &k, &h))
			memset(&h, 0, sizeof(h));
		if (!opt.json) {
			print_hist(titles[k], &h);
			continue;
		}
		printf("%s\"%s\": [", k ? ", " : "", keys[k]);
		for (int i = 0; i < GORT_HIST_SLOTS; i++)
			printf("%s%llu", i ? ", " : "", h.slots[i]);
		printf("]");
	}
	if (opt.json)
		printf("}}\n");
	return 0;
}

/* ---- record ---- */

struct thr {
	uint32_t tid;
	int64_t goid; /* open slice, or -1 */
	uint64_t start, sys_start;
	int64_t proc;
};

static struct {
	FILE *f;
	uint64_t t0;
	struct thr thr[1024];
	int nthr;
	/* goid -> pending flow id (open addressing) */
	int64_t *fg;
	uint64_t *fid;
	size_t fcap;
	uint64_t next_flow;
	unsigned long long nevents, nslices;
} rec;

static struct thr *thr_of(uint32_t tid)
{
	for (int i = 0; i < rec.nthr; i++)
		if (rec.thr[i].tid == tid)
			return &rec.thr[i];
	if (rec.nthr == (int)(sizeof(rec.thr) / sizeof(rec.thr[0])))
		return NULL;
	rec.thr[rec.nthr] = (struct thr){ .tid = tid, .goid = -1 };
	fprintf(rec.f,
		",\n{\"ph\": \"M\", \"name\": \"thread_name\", \"pid\": %d, \"tid\": %u, "
		"\"args\": {\"name\": \"worker %u\"}}",
		opt.pid, tid, tid);
	return &rec.thr[rec.nthr++];
}

static double us(uint64_t ts)
{
	return ts >= rec.t0 ? (double)(ts - rec.t0) / 1000.0 : 0;
}

static uint64_t *flow_slot(int64_t goid, bool insert)
{
	size_t i = (size_t)goid * 0x9e3779b97f4a7c15ULL % rec.fcap;

	for (size_t n = 0; n < rec.fcap; n++, i = (i + 1) % rec.fcap) {
		if (rec.fg[i] == goid)
			return &rec.fid[i];
		if (rec.fg[i] == INT64_MIN) {
			if (!insert)
				return NULL;
			rec.fg[i] = goid;
			return &rec.fid[i];
		}
	}
	return NULL;
}

static void close_slice(struct thr *t, uint64_t ts, const char *why)
{
	if (t->goid < 0)
		return;
	fprintf(rec.f,
		",\n{\"ph\": \"X\", \"cat\": \"goroutine\", \"name\": \"g%lld\", \"pid\": %d, "
		"\"tid\": %u, \"ts\": %.3f, \"dur\": %.3f, \"args\": {\"goid\": %lld, \"proc\": "
		"%lld, "
		"\"end\": \"%s\"}}",
		(long long)t->goid, opt.pid, t->tid, us(t->start), us(ts) - us(t->start),
		(long long)t->goid, (long long)t->proc, why);
	rec.nslices++;
	t->goid = -1;
}

static int on_event(void *ctx, void *data, size_t size)
{
	const struct gort_event *e = data;
	struct thr *t;
	uint64_t *fl;

	(void)ctx;
	if (size < sizeof(*e))
		return 0;
	if (!rec.t0)
		rec.t0 = e->ts;
	rec.nevents++;
	t = thr_of(e->tid);
	if (!t)
		return 0;
	switch (e->type) {
	case GORT_EV_CREATE:
		fprintf(rec.f,
			",\n{\"ph\": \"i\", \"s\": \"t\", \"cat\": \"create\", \"name\": \"create "
			"g%lld\", "
			"\"pid\": %d, \"tid\": %u, \"ts\": %.3f, \"args\": {\"goid\": %lld, "
			"\"fn\": \"0x%llx\"}}",
			(long long)e->goid, opt.pid, t->tid, us(e->ts), (long long)e->goid,
			(unsigned long long)e->arg);
		break;
	case GORT_EV_START:
		close_slice(t, e->ts, "switch");
		t->goid = e->goid;
		t->start = e->ts;
		t->proc = e->arg;
		fl = flow_slot(e->goid, false);
		if (fl && *fl) {
			fprintf(rec.f,
				",\n{\"ph\": \"f\", \"bp\": \"e\", \"cat\": \"wakeup\", \"name\": "
				"\"wakeup\", "
				"\"id\": %llu, \"pid\": %d, \"tid\": %u, \"ts\": %.3f}",
				(unsigned long long)*fl, opt.pid, t->tid, us(e->ts));
			*fl = 0;
		}
		break;
	case GORT_EV_PARK:
		if (t->goid == e->goid) {
			char why[64];

			snprintf(why, sizeof(why), "park: %s",
				 e->arg >= 0 && e->arg < NREASONS ? reason_names[e->arg] : "?");
			close_slice(t, e->ts, why);
		}
		break;
	case GORT_EV_EXIT:
		if (t->goid == e->goid)
			close_slice(t, e->ts, "exit");
		break;
	case GORT_EV_READY:
		fl = flow_slot(e->goid, true);
		if (fl) {
			*fl = ++rec.next_flow;
			fprintf(rec.f,
				",\n{\"ph\": \"s\", \"cat\": \"wakeup\", \"name\": \"wakeup\", "
				"\"id\": %llu, "
				"\"pid\": %d, \"tid\": %u, \"ts\": %.3f}",
				(unsigned long long)*fl, opt.pid, t->tid, us(e->ts));
		}
		break;
	case GORT_EV_SYSCALL_ENTER:
		t->sys_start = e->ts;
		break;
	case GORT_EV_SYSCALL_EXIT:
		if (t->sys_start) {
			fprintf(rec.f,
				",\n{\"ph\": \"X\", \"cat\": \"syscall\", \"name\": \"syscall "
				"region\", "
				"\"pid\": %d, \"tid\": %u, \"ts\": %.3f, \"dur\": %.3f, \"args\": "
				"{\"goid\": %lld}}",
				opt.pid, t->tid, us(t->sys_start), us(e->ts) - us(t->sys_start),
				(long long)e->goid);
			t->sys_start = 0;
		}
		break;
	}
	return 0;
}

static int run_record(struct gort_trace *skel, int pidfd)
{
	struct ring_buffer *rb;
	double end = opt.duration > 0 ? now_s() + opt.duration : 1e300;
	uint64_t last_ts = 0;
	uint32_t k = 0;
	uint64_t lost = 0;

	rec.f = fopen(opt.out, "we");
	if (!rec.f) {
		fprintf(stderr, "gort-trace: %s: %s\n", opt.out, strerror(errno));
		return 1;
	}
	rec.fcap = 1 << 20;
	rec.fg = malloc(rec.fcap * sizeof(*rec.fg));
	rec.fid = calloc(rec.fcap, sizeof(*rec.fid));
	if (!rec.fg || !rec.fid)
		return 1;
	for (size_t i = 0; i < rec.fcap; i++)
		rec.fg[i] = INT64_MIN;
	fprintf(rec.f,
		"{\"displayTimeUnit\": \"ns\", \"traceEvents\": [\n"
		"{\"ph\": \"M\", \"name\": \"process_name\", \"pid\": %d, \"args\": {\"name\": "
		"\"gort pid %d\"}}",
		opt.pid, opt.pid);
	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "gort-trace: ring buffer: %s\n", strerror(errno));
		return 1;
	}
	while (!stop && now_s() < end) {
		if (ring_buffer__poll(rb, 100) < 0 && errno != EINTR)
			break;
		if (process_gone(pidfd)) {
			ring_buffer__consume(rb);
			break;
		}
	}
	ring_buffer__consume(rb);
	{
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		last_ts = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	}
	for (int i = 0; i < rec.nthr; i++)
		close_slice(&rec.thr[i], last_ts, "end of trace");
	fprintf(rec.f, "\n]}\n");
	fclose(rec.f);
	ring_buffer__free(rb);
	bpf_map_lookup_elem(bpf_map__fd(skel->maps.lost), &k, &lost);
	fprintf(stderr, "gort-trace: wrote %s: %llu events, %llu goroutine slices, %d threads%s\n",
		opt.out, rec.nevents, rec.nslices, rec.nthr,
		lost ? " (events lost: ring buffer full)" : "");
	if (lost)
		fprintf(stderr, "gort-trace: %llu events lost\n", (unsigned long long)lost);
	printf("open %s in https://ui.perfetto.dev (Open trace file) or chrome://tracing\n",
	       opt.out);
	return 0;
}

/* ---- main ---- */

static int parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "all", no_argument, NULL, 'a' },
		{ "lib", required_argument, NULL, 'l' },
		{ "interval", required_argument, NULL, 'i' },
		{ "duration", required_argument, NULL, 'd' },
		{ "count", required_argument, NULL, 'n' },
		{ "output", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "pin", no_argument, NULL, 'P' },
		{ "keep", no_argument, NULL, 'K' },
		{ "mount", no_argument, NULL, 'M' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "light", no_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *sub;
	int c;

	if (argc < 2) {
		usage(stderr);
		return -1;
	}
	sub = argv[1];
	if (!strcmp(sub, "-h") || !strcmp(sub, "--help")) {
		usage(stdout);
		exit(0);
	}
	if (!strcmp(sub, "top"))
		opt.cmd = CMD_TOP;
	else if (!strcmp(sub, "count"))
		opt.cmd = CMD_COUNT;
	else if (!strcmp(sub, "lat"))
		opt.cmd = CMD_LAT;
	else if (!strcmp(sub, "record"))
		opt.cmd = CMD_RECORD;
	else {
		fprintf(stderr, "gort-trace: unknown subcommand '%s'\n", sub);
		usage(stderr);
		return -1;
	}
	optind = 2;
	while ((c = getopt_long(argc, argv, "p:al:i:d:n:o:jvh", lo, NULL)) != -1) {
		switch (c) {
		case 'p':
			opt.pid = atoi(optarg);
			break;
		case 'a':
			opt.all = true;
			break;
		case 'l':
			opt.lib = optarg;
			break;
		case 'i':
			opt.interval = atof(optarg);
			break;
		case 'd':
			opt.duration = atof(optarg);
			break;
		case 'n':
			opt.iterations = atol(optarg);
			break;
		case 'o':
			opt.out = optarg;
			break;
		case 'j':
			opt.json = true;
			break;
		case 'P':
			opt.pin = true;
			break;
		case 'K':
			opt.keep = true;
			break;
		case 'M':
			opt.mount = true;
			break;
		case 'v':
			opt.verbose = true;
			break;
		case 'L':
			opt.light = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (opt.pid <= 0 && !opt.all) {
		fprintf(stderr, "gort-trace: -p PID (or -a) is required\n");
		return -1;
	}
	if (opt.cmd == CMD_RECORD && !opt.out) {
		fprintf(stderr, "gort-trace record: -o FILE is required\n");
		return -1;
	}
	if (opt.interval <= 0)
		opt.interval = 1;
	return 0;
}

int main(int argc, char **argv)
{
	struct gort_trace *skel = NULL;
	struct bpf_link *links[NPROBES] = { 0 };
	int pidfd = -1, rc = 1, attached = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (parse_args(argc, argv))
		return 2;
	if (geteuid() != 0) {
		fprintf(stderr, "gort-trace: must run as root (loading BPF programs and attaching "
				"uprobes needs CAP_BPF and CAP_PERFMON)\n");
		return 1;
	}
	libbpf_set_print(libbpf_print);
	if (opt.all) {
		opt.pid = -1;
		snprintf(binary, sizeof(binary), "%s", opt.lib);
		if (!has_gort_notes(binary)) {
			fprintf(stderr, "gort-trace: %s has no gort USDT probes\n", binary);
			return 1;
		}
	} else {
		if (find_binary(opt.pid))
			return 1;
		pidfd = (int)syscall(SYS_pidfd_open, opt.pid, 0);
	}
	/* Modern kernels attach uprobes through perf_event_open; tracefs is only a fallback. */
	if (ensure_fs("/sys/kernel/tracing", "tracefs", TRACEFS_MAGIC_, false))
		return 1;

	skel = gort_trace__open();
	if (!skel) {
		fprintf(stderr, "gort-trace: open BPF object: %s\n", strerror(errno));
		return 1;
	}
	skel->rodata->want_lat = opt.cmd == CMD_LAT;
	skel->rodata->want_events = opt.cmd == CMD_RECORD;
	if (opt.cmd != CMD_RECORD)
		bpf_map__set_max_entries(skel->maps.events, 4096);
	if (gort_trace__load(skel)) {
		fprintf(stderr, "gort-trace: load BPF programs: %s%s\n", strerror(errno),
			errno == EPERM ? " (root with CAP_BPF/CAP_PERFMON needed; lockdown?)" : "");
		goto out;
	}
	/* The counter maps are hashes keyed by enums (for bpftool): create every key. */
	{
		struct gort_hist_val zh = { { 0 } };
		uint64_t zero = 0;

		for (uint32_t k = 0; k < GORT_STAT__COUNT; k++)
			bpf_map_update_elem(bpf_map__fd(skel->maps.stats), &k, &zero, BPF_ANY);
		for (uint32_t k = 0; k < GORT_GS__COUNT; k++)
			bpf_map_update_elem(bpf_map__fd(skel->maps.gstates), &k, &zero, BPF_ANY);
		for (uint32_t k = 0; k < GORT_HIST__COUNT; k++)
			bpf_map_update_elem(bpf_map__fd(skel->maps.hists), &k, &zh, BPF_ANY);
	}
	for (int i = 0; i < NPROBES; i++) {
		struct bpf_program *p = *(struct bpf_program **)((char *)skel + probes[i].prog_off);

		if (opt.light && probes[i].hot)
			continue;
		links[i] =
			bpf_program__attach_usdt(p, opt.pid, binary, "gort", probes[i].name, NULL);
		if (!links[i]) {
			int err = errno;

			if (err == ENOENT) /* an older libgort without this probe */
				continue;
			fprintf(stderr, "gort-trace: attach gort:%s in %s: %s\n", probes[i].name,
				binary, strerror(err));
			if (!fs_is("/sys/kernel/tracing", TRACEFS_MAGIC_))
				fprintf(stderr,
					"gort-trace: tracefs is not mounted: try --mount\n");
			goto out;
		}
		attached++;
	}
	if (!attached) {
		fprintf(stderr, "gort-trace: no gort probe found in %s\n", binary);
		goto out;
	}
	if (opt.pin && pin_all(skel, opt.pid))
		goto out;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	fprintf(stderr, "gort-trace: attached %d probes to pid %d (%s)%s\n", attached, opt.pid,
		binary, opt.light ? " (--light: no per-switch probes)" : "");

	switch (opt.cmd) {
	case CMD_TOP:
		rc = run_top(skel, pidfd);
		break;
	case CMD_COUNT:
		rc = run_count(skel, pidfd);
		break;
	case CMD_LAT:
		rc = run_lat(skel, pidfd);
		break;
	case CMD_RECORD:
		rc = run_record(skel, pidfd);
		break;
	}
out:
	unpin_all();
	for (int i = 0; i < NPROBES; i++)
		bpf_link__destroy(links[i]);
	gort_trace__destroy(skel);
	if (pidfd >= 0)
		close(pidfd);
	return rc;
}
