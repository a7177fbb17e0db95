// SPDX-License-Identifier: MIT
/*
 * gort-trace: libbpf CO-RE tool over libgort's USDT probes (provider "gort").
 *
 *   gort-trace top    -p PID [-i SEC] [-n COUNT]     refreshing per-process view, from
 *                                                    the runtime's snapshots (gort:sched__stats);
 *                                                    --events: from per-event probes
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
#include "snapshot.h"

_Static_assert(sizeof(struct gort_snapshot) <= GORT_SNAP_MAX, "GORT_SNAP_MAX too small");

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
enum probe_kind {
	PK_EVENT, /* per event, low rate (spawns, syscall regions, steals...) */
	PK_HOT,	  /* fires on every switch or channel wait: skipped by --light */
	PK_SNAP,  /* gort:sched__stats, sysmon's periodic snapshot: top's only probe */
};
struct probe {
	const char *name;
	size_t prog_off; /* offset of the program pointer in skel->progs */
	enum probe_kind kind;
};
#define P(n, f)                                                    \
	{                                                          \
#n, offsetof(struct gort_trace, progs.f), PK_EVENT \
	}
#define H(n, f)                                                  \
	{                                                        \
#n, offsetof(struct gort_trace, progs.f), PK_HOT \
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
	{ "sched__stats", offsetof(struct gort_trace, progs.sched_stats), PK_SNAP },
};
#undef P
#undef H
#define NPROBES (int)(sizeof(probes) / sizeof(probes[0]))

/* gort.ko's tracepoints (kmod/gort_trace.h) and their raw_tp programs. */
static const struct ktp {
	const char *name;
	size_t prog_off;
} ktps[] = {
#define K(n)                                                            \
	{                                                               \
		"gort_" #n, offsetof(struct gort_trace, progs.kmod_##n) \
	}
	K(register), K(unregister), K(wait),	K(wake),
	K(switch),   K(block),	    K(unblock), K(spare_wake),
#undef K
};
#define NKTPS (int)(sizeof(ktps) / sizeof(ktps[0]))

static const char *const kstat_names[GORT_KSTAT__COUNT] = {
	[GORT_KSTAT_REGISTER] = "register",
	[GORT_KSTAT_UNREGISTER] = "unregister",
	[GORT_KSTAT_WAIT] = "wait",
	[GORT_KSTAT_WAIT_TIMEOUT] = "wait_timeout",
	[GORT_KSTAT_WAKE] = "wake",
	[GORT_KSTAT_SWITCH] = "switch",
	[GORT_KSTAT_BLOCK] = "block",
	[GORT_KSTAT_UNBLOCK] = "unblock",
	[GORT_KSTAT_UNBLOCK_TAKEN] = "unblock_taken",
	[GORT_KSTAT_SPARE_WAKE] = "spare_wake",
};

/* Whether gort.ko's tracepoints are attached (the module is loaded). */
static bool kmod_attached;

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
	bool json, pin, keep, mount, verbose, light, events;
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
		"usage: gort-trace top    -p PID [-i SEC] [-n COUNT] [--json] [--events "
		"[--light]]\n"
		"       gort-trace count  -p PID [-d SEC] [--json]\n"
		"       gort-trace lat    -p PID [-d SEC] [--json]\n"
		"       gort-trace record -p PID [-d SEC] -o trace.json\n"
		"options: -a [-l LIB]  every process using LIB (default %s) instead of -p\n"
		"         --pin        pin maps and programs under " PIN_ROOT "/PID/\n"
		"         --keep       leave them pinned on exit\n"
		"         --mount      mount bpffs (/sys/fs/bpf) and tracefs (/sys/kernel/tracing) "
		"if absent\n"
		"         --events     top from the per-event probes (a uprobe per switch: slow)\n"
		"                      instead of the runtime's snapshots (gort:sched__stats)\n"
		"         --light      with --events: skip the per-switch probes "
		"(goroutine__start/park/ready,\n"
		"                      chan__block/unblock, select__block)\n"
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
static struct bpf_program *pinned_progs[64];

static int pin_all(struct gort_trace *skel, int pid)
{
	struct bpf_map *maps[] = { skel->maps.stats, skel->maps.gstates, skel->maps.hists,
				   skel->maps.goroutines, skel->maps.kstats };
	struct bpf_program *prog;
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
	i = 0;
	bpf_object__for_each_program(prog, skel->obj)
	{
		if (i == sizeof(pinned_progs) / sizeof(pinned_progs[0]))
			break;
		snprintf(path, sizeof(path), "%s/prog_%s", pin_dir, bpf_program__name(prog));
		unlink(path);
		if (bpf_program__pin(prog, path)) {
			fprintf(stderr, "gort-trace: pin %s: %s\n", path, strerror(errno));
			return -1;
		}
		pinned_progs[i++] = prog;
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
	for (i = 0; i < sizeof(pinned_progs) / sizeof(pinned_progs[0]); i++) {
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

static void read_kstats(struct gort_trace *skel, uint64_t *ks)
{
	int fd = bpf_map__fd(skel->maps.kstats);

	for (uint32_t k = 0; k < GORT_KSTAT__COUNT; k++)
		if (bpf_map_lookup_elem(fd, &k, &ks[k]))
			ks[k] = 0;
}

/* The "kmod" member of the JSON outputs: gort.ko's event counts. */
static void print_json_kmod(const uint64_t *ks, const uint64_t *prev, double dt)
{
	printf("\"kmod\": {\"loaded\": %s", kmod_attached ? "true" : "false");
	if (kmod_attached) {
		printf(", \"events\": {");
		for (int k = 0; k < GORT_KSTAT__COUNT; k++)
			printf("%s\"%s\": %llu", k ? ", " : "", kstat_names[k],
			       (unsigned long long)ks[k]);
		printf("}");
		if (prev) {
			printf(", \"rates\": {");
			for (int k = 0; k < GORT_KSTAT__COUNT; k++)
				printf("%s\"%s\": %.1f", k ? ", " : "", kstat_names[k],
				       dt > 0 ? (double)(ks[k] - prev[k]) / dt : 0.0);
			printf("}");
		}
	}
	printf("}");
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

static void print_json_counts(const uint64_t *st, const int64_t *gs, const uint64_t *ks)
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
	printf("}}, ");
	print_json_kmod(ks, NULL, 0);
	printf("}\n");
}

/* ---- top / count ---- */

/* top --events: counters and goroutine states kept by the per-event programs. */
static int run_top_events(struct gort_trace *skel, int pidfd)
{
	uint64_t prev[GORT_STAT__COUNT] = { 0 }, cur[GORT_STAT__COUNT];
	uint64_t ks[GORT_KSTAT__COUNT];
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
		read_kstats(skel, ks);
		if (opt.json) {
			print_json_counts(cur, gs, ks);
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
	uint64_t st[GORT_STAT__COUNT], ks[GORT_KSTAT__COUNT];
	int64_t gs[GORT_GS__COUNT];

	wait_for(opt.duration > 0 ? opt.duration : 1e9, pidfd);
	read_stats(skel, st);
	read_gstates(skel, gs);
	read_kstats(skel, ks);
	if (opt.json) {
		print_json_counts(st, gs, ks);
		return 0;
	}
	for (int k = 0; k < GORT_STAT__COUNT; k++)
		printf("%-22s %llu\n", stat_names[k], (unsigned long long)st[k]);
	if (!kmod_attached) {
		printf("(gort.ko is not loaded: no module events)\n");
		return 0;
	}
	for (int k = 0; k < GORT_KSTAT__COUNT; k++)
		printf("kmod_%-17s %llu\n", kstat_names[k], (unsigned long long)ks[k]);
	return 0;
}

/* ---- top: the runtime's snapshots ---- */

/*
 * top's default view comes from gort:sched__stats: sysmon copies the
 * runtime's own counters, goroutine states and run queues into a snapshot
 * (lib/snapshot.h) at most every 20 ms, and only while this probe is
 * attached; the BPF program forwards each one through the `snaps` ring
 * buffer. Nothing fires on the scheduler's hot path, which is what keeps a
 * traced program within 2x of its untraced speed (README, Overhead). Rates
 * are differences of cumulative counters over the snapshots' own clock.
 */
#define MAX_TRACKED 64 /* processes shown by top -a */

struct tracked {
	uint32_t tgid;
	bool used;
	uint64_t ts;		   /* when cur was copied (CLOCK_MONOTONIC ns) */
	struct gort_snapshot cur;  /* the latest */
	struct gort_snapshot prev; /* as of the previous refresh (the first: at attach) */
};

static struct {
	struct tracked t[MAX_TRACKED];
	unsigned long long bad_version, dropped; /* snapshots ignored */
} snapstate;

static int on_snap(void *ctx, void *data, size_t size)
{
	const struct gort_snap_hdr *h = data;
	struct tracked *t = NULL, *free_slot = NULL;
	size_t len;

	(void)ctx;
	if (size < sizeof(*h) || h->len > size - sizeof(*h))
		return 0;
	if (h->version != GORT_SNAPSHOT_VERSION || h->len < offsetof(struct gort_snapshot, procs)) {
		snapstate.bad_version++;
		return 0;
	}
	for (int i = 0; i < MAX_TRACKED; i++) {
		if (snapstate.t[i].used && snapstate.t[i].tgid == h->tgid)
			t = &snapstate.t[i];
		else if (!snapstate.t[i].used && !free_slot)
			free_slot = &snapstate.t[i];
	}
	if (!t) {
		if (!free_slot) {
			snapstate.dropped++;
			return 0;
		}
		t = free_slot;
		memset(t, 0, sizeof(*t));
		t->used = true;
		t->tgid = h->tgid;
	}
	len = h->len < sizeof(t->cur) ? h->len : sizeof(t->cur);
	memcpy(&t->cur, h + 1, len);
	memset((char *)&t->cur + len, 0, sizeof(t->cur) - len);
	if (t->cur.nprocs_shown < 0 ||
	    (size_t)t->cur.nprocs_shown >
		    (len - offsetof(struct gort_snapshot, procs)) / sizeof(t->cur.procs[0]))
		t->cur.nprocs_shown = 0;
	if (!t->ts)
		t->prev = t->cur;
	t->ts = h->ts;
	return 0;
}

/*
 * Drains the ring buffer every 100 ms for sec, or until ^C / the process
 * exits (false). The BPF side submits without a wake-up, so the buffer
 * (1 MiB) must be drained on this schedule: sysmon publishes a process's
 * snapshot at most every 20 ms, 8.5 KiB at most with 256 procs.
 */
static bool poll_snaps(struct ring_buffer *rb, double sec, int pidfd)
{
	double end = now_s() + sec;
	bool more = true;

	while (more && !stop) {
		double left = end - now_s();
		struct pollfd p = { .fd = pidfd, .events = POLLIN };

		if (left <= 0)
			break;
		if (poll(pidfd >= 0 ? &p : NULL, pidfd >= 0,
			 left > 0.1 ? 100 : (int)(left * 1000) + 1) == 1)
			more = false;
		ring_buffer__consume(rb);
	}
	ring_buffer__consume(rb);
	return more && !stop;
}

/* The cumulative counters top shows, by name. */
enum snap_counter {
	SC_SWITCHES,
	SC_SPAWNS,
	SC_STEALS,
	SC_STOLEN,
	SC_GLOBAL_GETS,
	SC_SYSCALLS,
	SC_HANDOFFS,
	SC_KASSIST_HANDOFFS,
	SC_KASSIST_SWITCHES,
	SC_WORKER_PARKS,
	SC_WORKER_WAKES,
	SC_PREEMPTS,
	SC_STW,
	SC__COUNT
};

static const char *const sc_names[SC__COUNT] = {
	[SC_SWITCHES] = "switches",
	[SC_SPAWNS] = "spawns",
	[SC_STEALS] = "steals",
	[SC_STOLEN] = "stolen",
	[SC_GLOBAL_GETS] = "global_runq_gets",
	[SC_SYSCALLS] = "syscalls",
	[SC_HANDOFFS] = "syscall_handoffs",
	[SC_KASSIST_HANDOFFS] = "kassist_handoffs",
	[SC_KASSIST_SWITCHES] = "kassist_switches",
	[SC_WORKER_PARKS] = "worker_parks",
	[SC_WORKER_WAKES] = "worker_wakes",
	[SC_PREEMPTS] = "preempt_requests",
	[SC_STW] = "stw",
};

/* Syscall regions: the procs' wrapping 32-bit ticks, summed. */
static uint64_t snap_syscalls(const struct gort_snapshot *s)
{
	uint64_t n = 0;

	for (int i = 0; i < s->nprocs_shown; i++)
		n += s->procs[i].syscalltick;
	return n;
}

static uint64_t snap_counter(const struct gort_snapshot *s, enum snap_counter c)
{
	switch (c) {
	case SC_SWITCHES:
		return (uint64_t)s->switches;
	case SC_SPAWNS:
		return (uint64_t)s->created;
	case SC_STEALS:
		return (uint64_t)s->steals;
	case SC_STOLEN:
		return (uint64_t)s->stolen;
	case SC_GLOBAL_GETS:
		return (uint64_t)s->global_runq_gets;
	case SC_SYSCALLS:
		return snap_syscalls(s);
	case SC_HANDOFFS:
		return (uint64_t)s->syscall_handoffs;
	case SC_KASSIST_HANDOFFS:
		return (uint64_t)s->kassist_handoffs;
	case SC_KASSIST_SWITCHES:
		return (uint64_t)s->kassist_switches;
	case SC_WORKER_PARKS:
		return (uint64_t)s->worker_parks;
	case SC_WORKER_WAKES:
		return (uint64_t)s->worker_wakes;
	case SC_PREEMPTS:
		return (uint64_t)s->preempt_requests;
	case SC_STW:
		return (uint64_t)s->stw_count;
	case SC__COUNT:
		break;
	}
	return 0;
}

/* Per second between prev and cur, by the snapshots' clock; < 0: unknown. */
static double snap_rate(const struct tracked *t, uint64_t cur, uint64_t prev)
{
	double dt = (double)(t->cur.time_ns - t->prev.time_ns) / 1e9;

	if (dt <= 0)
		return -1;
	return (double)(cur - prev) / dt;
}

/* Proc i's goroutine runs (sys: syscall regions, a wrapping 32-bit tick) per second. */
static double proc_rate(const struct tracked *t, int i, bool sys)
{
	const struct gort_snapshot_proc *c = &t->cur.procs[i], *p = &t->prev.procs[i];

	if (i >= t->prev.nprocs_shown)
		return -1;
	if (sys)
		return snap_rate(t, (uint32_t)(c->syscalltick - p->syscalltick), 0);
	return snap_rate(t, c->runs, p->runs);
}

static const char *pstatus_name(uint32_t st)
{
	static const char *const names[] = { "idle", "running", "syscall", "stopped", "dead" };

	return st < sizeof(names) / sizeof(names[0]) ? names[st] : "?";
}

static const char *reason_name(int r, char *buf, size_t n)
{
	if (r >= 0 && r < NREASONS)
		return reason_names[r];
	snprintf(buf, n, "reason %d", r);
	return buf;
}

static void snap_json(const struct tracked *t, const uint64_t *ks, const uint64_t *kprev,
		      double kdt)
{
	const struct gort_snapshot *s = &t->cur;
	struct timespec now;
	char rbuf[32];
	bool first = true;

	clock_gettime(CLOCK_MONOTONIC, &now);
	printf("{\"pid\": %u, \"binary\": \"%s\", \"seq\": %llu, \"age_ms\": %.1f, "
	       "\"period_ms\": %.1f, \"walk_us\": %.1f, \"counters\": {",
	       t->tgid, binary, (unsigned long long)s->seq,
	       ((double)now.tv_sec * 1e9 + (double)now.tv_nsec - (double)t->ts) / 1e6,
	       (double)s->period_ns / 1e6, (double)s->walk_ns / 1e3);
	for (int c = 0; c < SC__COUNT; c++)
		printf("%s\"%s\": %llu", c ? ", " : "", sc_names[c],
		       (unsigned long long)snap_counter(s, (enum snap_counter)c));
	printf(", \"goroutines_alive\": %lld, \"maxprocs\": %lld, \"workers\": %lld, "
	       "\"idle_procs\": %lld, \"spinning_workers\": %lld, \"kassist\": %lld}",
	       (long long)s->goroutines, (long long)s->maxprocs, (long long)s->workers,
	       (long long)s->idle_procs, (long long)s->spinning_workers, (long long)s->kassist);
	if (t->prev.seq != s->seq) {
		printf(", \"rates\": {");
		for (int c = 0; c < SC__COUNT; c++)
			printf("%s\"%s\": %.1f", c ? ", " : "", sc_names[c],
			       snap_rate(t, snap_counter(s, (enum snap_counter)c),
					 snap_counter(&t->prev, (enum snap_counter)c)));
		printf("}");
	}
	printf(", \"goroutines\": {\"total\": %lld, \"runnable\": %lld, \"running\": %lld, "
	       "\"syscall\": %lld, \"waiting\": %lld, \"waiting_by_reason\": {",
	       (long long)(s->g_runnable + s->g_running + s->g_syscall + s->g_waiting),
	       (long long)s->g_runnable, (long long)s->g_running, (long long)s->g_syscall,
	       (long long)s->g_waiting);
	for (int r = 0; r < GORT_SNAPSHOT_REASONS; r++) {
		if (!s->g_waiting_reason[r])
			continue;
		printf("%s\"%s\": %lld", first ? "" : ", ", reason_name(r, rbuf, sizeof(rbuf)),
		       (long long)s->g_waiting_reason[r]);
		first = false;
	}
	printf("}}, \"global_runq\": %lld, \"nprocs\": %d, \"procs\": [", (long long)s->global_runq,
	       s->nprocs);
	for (int i = 0; i < s->nprocs_shown; i++) {
		const struct gort_snapshot_proc *p = &s->procs[i];

		printf("%s{\"id\": %d, \"status\": \"%s\", \"runq\": %u, \"runnext\": %u, "
		       "\"timers\": %u, \"runs\": %llu",
		       i ? ", " : "", i, pstatus_name(p->status), p->runq, p->runnext, p->timers,
		       (unsigned long long)p->runs);
		if (t->prev.seq != s->seq)
			printf(", \"runs_per_s\": %.1f, \"syscalls_per_s\": %.1f",
			       proc_rate(t, i, false), proc_rate(t, i, true));
		printf("}");
	}
	printf("], ");
	print_json_kmod(ks, kprev, kdt);
	printf("}\n");
}

static void snap_text(const struct tracked *t, const uint64_t *ks, const uint64_t *kprev,
		      double kdt)
{
	const struct gort_snapshot *s = &t->cur;
	bool rates = t->prev.seq != s->seq;
	struct timespec now;
	char rbuf[32];

	clock_gettime(CLOCK_MONOTONIC, &now);
	printf("pid %u  snapshot #%llu, %.0f ms old (sysmon, every >= %.0f ms)\n", t->tgid,
	       (unsigned long long)s->seq,
	       ((double)now.tv_sec * 1e9 + (double)now.tv_nsec - (double)t->ts) / 1e6,
	       (double)s->period_ns / 1e6);
	printf("procs %lld (idle %lld)  workers %lld (spinning %lld)  kernel assist: %s\n",
	       (long long)s->maxprocs, (long long)s->idle_procs, (long long)s->workers,
	       (long long)s->spinning_workers, s->kassist ? "on (gort.ko)" : "off");
	printf("goroutines %lld: running %lld  runnable %lld  syscall %lld  waiting %lld\n",
	       (long long)(s->g_runnable + s->g_running + s->g_syscall + s->g_waiting),
	       (long long)s->g_running, (long long)s->g_runnable, (long long)s->g_syscall,
	       (long long)s->g_waiting);
	for (int r = 0; r < GORT_SNAPSHOT_REASONS; r++)
		if (s->g_waiting_reason[r])
			printf("  waiting %-24s %lld\n", reason_name(r, rbuf, sizeof(rbuf)),
			       (long long)s->g_waiting_reason[r]);
	printf("run queues: global %lld\n", (long long)s->global_runq);
	printf("  %-5s %-8s %6s %5s %7s %12s %12s\n", "proc", "status", "runq", "next", "timers",
	       "runs/s", "syscalls/s");
	for (int i = 0; i < s->nprocs_shown; i++) {
		const struct gort_snapshot_proc *p = &s->procs[i];
		double sw = rates ? proc_rate(t, i, false) : -1,
		       sy = rates ? proc_rate(t, i, true) : -1;
		char name[16];

		snprintf(name, sizeof(name), "P%d", i);
		printf("  %-5s %-8s %6u %5u %7u ", name, pstatus_name(p->status), p->runq,
		       p->runnext, p->timers);
		if (sw >= 0)
			printf("%12.0f %12.0f\n", sw, sy);
		else
			printf("%12s %12s\n", "-", "-");
	}
	if (s->nprocs > s->nprocs_shown)
		printf("  (%d more procs not in the snapshot)\n", s->nprocs - s->nprocs_shown);
	printf("%-22s %12s %14s\n", "per second", "rate", "total");
	for (int c = 0; c < SC__COUNT; c++) {
		uint64_t v = snap_counter(s, (enum snap_counter)c);
		double r =
			rates ? snap_rate(t, v, snap_counter(&t->prev, (enum snap_counter)c)) : -1;

		if (r >= 0)
			printf("%-22s %12.0f %14llu\n", sc_names[c], r, (unsigned long long)v);
		else
			printf("%-22s %12s %14llu\n", sc_names[c], "-", (unsigned long long)v);
	}
	if (!kmod_attached) {
		printf("gort.ko: not loaded (no module events)\n");
		return;
	}
	printf("gort.ko events%s\n", opt.pid > 0 ? " (this process)" : " (every process)");
	for (int k = 0; k < GORT_KSTAT__COUNT; k++) {
		if (kprev && kdt > 0)
			printf("  %-20s %12.0f %14llu\n", kstat_names[k],
			       (double)(ks[k] - kprev[k]) / kdt, (unsigned long long)ks[k]);
		else
			printf("  %-20s %12s %14llu\n", kstat_names[k], "-",
			       (unsigned long long)ks[k]);
	}
}

static int run_top_snap(struct gort_trace *skel, int pidfd)
{
	uint64_t ks[GORT_KSTAT__COUNT], kprev[GORT_KSTAT__COUNT] = { 0 };
	bool tty = isatty(STDOUT_FILENO) && !opt.json, more = true, have_kprev = false;
	double t_prev = now_s();
	struct ring_buffer *rb;
	long n = 0;

	rb = ring_buffer__new(bpf_map__fd(skel->maps.snaps), on_snap, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "gort-trace: ring buffer: %s\n", strerror(errno));
		return 1;
	}
	read_kstats(skel, kprev);
	have_kprev = true;
	while (more) {
		double t, dt;
		int shown = 0;

		more = poll_snaps(rb, opt.interval, pidfd);
		t = now_s();
		dt = t - t_prev;
		t_prev = t;
		read_kstats(skel, ks);
		if (!opt.json) {
			time_t wall = time(NULL);
			char tbuf[32];

			strftime(tbuf, sizeof(tbuf), "%H:%M:%S", localtime(&wall));
			if (tty)
				printf("\033[H\033[2J");
			printf("gort-trace top  pid %d  %s  %s  (every %.1f s)\n", opt.pid, binary,
			       tbuf, opt.interval);
		}
		for (int i = 0; i < MAX_TRACKED; i++) {
			struct tracked *tr = &snapstate.t[i];

			if (!tr->used)
				continue;
			/* With -a, a process whose snapshots stopped has exited. */
			if (opt.pid <= 0 && (double)tr->ts / 1e9 < t - 3 * opt.interval - 2) {
				tr->used = false;
				continue;
			}
			if (opt.json)
				snap_json(tr, ks, have_kprev ? kprev : NULL, dt);
			else
				snap_text(tr, ks, have_kprev ? kprev : NULL, dt);
			tr->prev = tr->cur;
			shown++;
		}
		if (!shown && !opt.json)
			printf("no snapshot yet: sysmon publishes one every 20 ms or more once "
			       "gort:sched__stats is attached (has the program called gort_main "
			       "or gort_init?)\n");
		if (snapstate.dropped && !opt.json)
			printf("(%llu snapshots of processes beyond the first %d ignored)\n",
			       snapstate.dropped, MAX_TRACKED);
		if (snapstate.bad_version && !opt.json)
			printf("(%llu snapshots of another layout version ignored: this gort-trace "
			       "reads version %d)\n",
			       snapstate.bad_version, GORT_SNAPSHOT_VERSION);
		fflush(stdout);
		memcpy(kprev, ks, sizeof(kprev));
		if (opt.iterations && ++n >= opt.iterations)
			break;
	}
	ring_buffer__free(rb);
	if (pidfd >= 0 && process_gone(pidfd))
		fprintf(stderr, "gort-trace: process %d exited\n", opt.pid);
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
		[GORT_HIST_HANDOFF] = "module handoff (gort:gort_switch -> the target's "
				      "gort:gort_wait returns)",
		[GORT_HIST_BLOCK_SPARE] = "block to spare (gort:gort_block -> the spare's "
					  "gort:gort_wait returns)",
	};
	static const char *const keys[GORT_HIST__COUNT] = { "runq", "chan", "syscall", "handoff",
							    "block_spare" };
	uint64_t ks[GORT_KSTAT__COUNT];
	int fd = bpf_map__fd(skel->maps.hists);
	bool first = true;

	wait_for(opt.duration > 0 ? opt.duration : 1e9, pidfd);
	read_kstats(skel, ks);
	if (opt.json)
		printf("{\"pid\": %d, \"unit\": \"ns\", \"log2_histograms\": {", opt.pid);
	for (uint32_t k = 0; k < GORT_HIST__COUNT; k++) {
		bool kmod = k == GORT_HIST_HANDOFF || k == GORT_HIST_BLOCK_SPARE;
		struct gort_hist_val h;

		if (kmod && !kmod_attached) {
			if (!opt.json)
				printf("%s: gort.ko is not loaded (no /sys/module/gort)\n\n",
				       titles[k]);
			continue;
		}
		if (bpf_map_lookup_elem(fd, &k, &h))
			memset(&h, 0, sizeof(h));
		if (!opt.json) {
			print_hist(titles[k], &h);
			continue;
		}
		printf("%s\"%s\": [", first ? "" : ", ", keys[k]);
		first = false;
		for (int i = 0; i < GORT_HIST_SLOTS; i++)
			printf("%s%llu", i ? ", " : "", h.slots[i]);
		printf("]");
	}
	if (opt.json) {
		printf("}, ");
		print_json_kmod(ks, NULL, 0);
		printf("}\n");
	}
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
		{ "events", no_argument, NULL, 'E' },
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
			opt.events = true;
			break;
		case 'E':
			opt.events = true;
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
	struct bpf_link *links[NPROBES] = { 0 }, *klinks[NKTPS] = { 0 };
	int pidfd = -1, rc = 1, attached = 0, kattached = 0;
	bool snap_mode, want_kmod, kmod_loaded;

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
	/* top reads the runtime's snapshots unless --events asks for the per-event probes. */
	snap_mode = opt.cmd == CMD_TOP && !opt.events;
	want_kmod = opt.cmd != CMD_RECORD;
	kmod_loaded = access("/sys/module/gort", F_OK) == 0;
	skel->rodata->want_lat = opt.cmd == CMD_LAT;
	skel->rodata->want_events = opt.cmd == CMD_RECORD;
	skel->rodata->filter_tgid = opt.pid > 0 ? (uint32_t)opt.pid : 0;
	if (opt.cmd != CMD_RECORD)
		bpf_map__set_max_entries(skel->maps.events, 4096);
	if (!snap_mode)
		bpf_map__set_max_entries(skel->maps.snaps, 4096);
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
		for (uint32_t k = 0; k < GORT_KSTAT__COUNT; k++)
			bpf_map_update_elem(bpf_map__fd(skel->maps.kstats), &k, &zero, BPF_ANY);
	}
	for (int i = 0; i < NPROBES; i++) {
		struct bpf_program *p = *(struct bpf_program **)((char *)skel + probes[i].prog_off);

		if (snap_mode != (probes[i].kind == PK_SNAP))
			continue;
		if (opt.light && probes[i].kind == PK_HOT)
			continue;
		links[i] =
			bpf_program__attach_usdt(p, opt.pid, binary, "gort", probes[i].name, NULL);
		if (!links[i]) {
			int err = errno;

			if (err == ENOENT && snap_mode) {
				fprintf(stderr,
					"gort-trace: %s has no gort:sched__stats probe (a libgort "
					"older than the snapshots): use top --events\n",
					binary);
				goto out;
			}
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
	/*
	 * gort.ko's tracepoints exist only while the module is loaded (and a
	 * raw tracepoint attachment holds a reference on it: rmmod waits for
	 * us). Without the module, say so and go on with the USDT probes.
	 */
	if (want_kmod && kmod_loaded) {
		for (int i = 0; i < NKTPS; i++) {
			struct bpf_program *p =
				*(struct bpf_program **)((char *)skel + ktps[i].prog_off);

			klinks[i] = bpf_program__attach_raw_tracepoint(p, ktps[i].name);
			if (!klinks[i]) {
				fprintf(stderr, "gort-trace: attach gort.ko tracepoint %s: %s\n",
					ktps[i].name, strerror(errno));
				continue;
			}
			kattached++;
		}
		kmod_attached = kattached == NKTPS;
	}
	if (opt.pin && pin_all(skel, opt.pid))
		goto out;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	fprintf(stderr, "gort-trace: attached %d probes to pid %d (%s)%s\n", attached, opt.pid,
		binary,
		opt.light   ? " (--light: no per-switch probes)"
		: snap_mode ? " (gort:sched__stats: the runtime's snapshots)"
			    : "");
	if (want_kmod && kmod_attached)
		fprintf(stderr, "gort-trace: gort.ko is loaded: attached its %d tracepoints\n",
			kattached);
	else if (want_kmod && !kmod_loaded)
		fprintf(stderr, "gort-trace: gort.ko is not loaded (no /sys/module/gort): no "
				"module events\n");
	else if (want_kmod)
		fprintf(stderr,
			"gort-trace: gort.ko is loaded but only %d of its %d tracepoints "
			"attached: module events ignored\n",
			kattached, NKTPS);

	switch (opt.cmd) {
	case CMD_TOP:
		rc = snap_mode ? run_top_snap(skel, pidfd) : run_top_events(skel, pidfd);
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
	for (int i = 0; i < NKTPS; i++)
		bpf_link__destroy(klinks[i]);
	gort_trace__destroy(skel);
	if (pidfd >= 0)
		close(pidfd);
	return rc;
}
