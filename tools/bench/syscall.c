// SPDX-License-Identifier: MIT
/*
 * Workload "syscall": shared/peers/go/syscall/main.go on libgort. The
 * definition (copied from the Go file; gort mapping in [brackets]):
 *
 * Question: when a goroutine makes a BLOCKING system call, how long are the
 * CPU-bound goroutines held up (latency of handing its P / worker slot to
 * someone else), and how long does the blocking goroutine wait for a P when
 * its syscall returns?
 *
 * GOMAXPROCS = 2 [gort_maxprocs(2) before the runtime starts]. Each mode runs
 * for DUR = 4 s (wall) in the same process, in this order:
 *   W = 2 "worker" goroutines (one per P), each:
 *       last = now; loop until DUR: { 256 rounds of xorshift64 on a local state (~0.3 us);
 *                                     t = now; gap = t - last; if gap > 20 us: record gap;
 *                                     last = t; units++ }
 *     A gap > 20 us means the worker was not running for that long.
 *     ["now" is gort_now(): like Go's time.Now in a function with a
 *      prologue, it is the loop's (cooperative) preemption point.]
 *   plus, depending on the mode:
 *   none      : nothing else (baseline: gaps caused by the host / OS only).
 *   gosleep   : 1 blocker goroutine: loop { t = now; time.Sleep(1 ms); over = now - t - 1 ms }
 *               [gort_sleep(1 ms): parks the goroutine on a runtime timer]
 *   rawsleep  : 1 blocker goroutine: loop { t = now; syscall.Nanosleep(1 ms) (raw blocking
 *               syscall through entersyscall/exitsyscall, P is NOT released eagerly);
 *               over = now - t - 1 ms }   ("now" after the call = when the goroutine runs again)
 *               [GORT_BLOCKING(syscall(SYS_nanosleep, 1 ms)): gort_syscall_enter/exit,
 *                the proc is retaken by sysmon after 20 us, as in Go]
 *   pipe      : 1 writer goroutine: loop { time.Sleep(1 ms); write(fd_w, 8-byte message holding
 *               the monotonic write time) as a raw syscall; fd_w is O_NONBLOCK, never blocks }
 *               1 reader goroutine: loop { read(fd_r, 8 bytes) as a raw BLOCKING syscall (blocking
 *               pipe fd, no netpoller); over = now - write time in the message }
 *               [gort_sleep; write(2); GORT_BLOCKING(read(2)) in a syscall region]
 * Results per mode (name syscall.<mode>):
 *   work_munits_per_s  : worker units completed per second, both workers together, /1e6
 *   stall_ms_per_s     : sum of recorded gaps / (W * DUR), in ms per second
 *   gap_p50_us, gap_p99_us, gap_max_us : distribution of recorded gaps (> 20 us)
 *   gaps_per_s         : recorded gaps per second (both workers)
 *   blocker_ops_per_s  : completed blocking operations per second (ideal ~1000)
 *   blocker_over_p50_us, blocker_over_p99_us : (elapsed - 1 ms) of the blocking operation,
 *                        i.e. OS timer slack + time waiting for a P after the syscall.
 *
 * Flags as in Go: -d 4s, -modes none,gosleep,rawsleep,pipe (the default). A watchdog thread (an OS
 * thread, not a goroutine) aborts the process if a mode overruns 3*DUR+20 s, like the Go program's
 * watchdog. BENCH_THREADS=1 adds per-thread CPU time and context switches (cumulative) to the
 * stderr diagnostics.
 */
#include <dirent.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "bench.h"

#define W 2
#define GAP_THRESHOLD_NS 20000

static int64_t dur_arg = 4000000000LL;
static const char *modes_arg = "none,gosleep,rawsleep,pipe";

static uint64_t sink;

struct run_state {
	int64_t deadline;
	int stop; /* atomic */
	gort_waitgroup wg, bwg;
	struct bench_vec gaps[W];
	int64_t units[W];
	struct bench_vec bover;
};

struct worker_arg {
	struct run_state *rs;
	int w;
};

static void worker(void *p)
{
	struct worker_arg *a = p;
	struct run_state *rs = a->rs;
	struct bench_vec g;
	uint64_t x = (uint64_t)a->w + 1;
	int64_t last, u = 0;

	bench_vec_init(&g, 1 << 16);
	last = gort_now();
	for (;;) {
		int64_t t;

		for (int i = 0; i < 256; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
		}
		t = gort_now();
		if (t - last > GAP_THRESHOLD_NS)
			bench_vec_push(&g, t - last);
		last = t;
		u++;
		if (t >= rs->deadline)
			break;
	}
	__atomic_add_fetch(&sink, x, __ATOMIC_RELAXED);
	rs->gaps[a->w] = g;
	rs->units[a->w] = u;
	gort_wg_done(&rs->wg);
}

static void rawsleep_blocker(void *p)
{
	struct run_state *rs = p;
	struct bench_vec o;

	bench_vec_init(&o, 1 << 14);
	while (__atomic_load_n(&rs->stop, __ATOMIC_SEQ_CST) == 0) {
		struct timespec ts = { 0, 1000000 };
		int64_t t = gort_now();

		GORT_BLOCKING(syscall(SYS_nanosleep, &ts, NULL));
		bench_vec_push(&o, gort_now() - t - 1000000);
	}
	rs->bover = o;
	gort_wg_done(&rs->bwg);
}

static void gosleep_blocker(void *p)
{
	struct run_state *rs = p;
	struct bench_vec o;

	bench_vec_init(&o, 1 << 14);
	while (__atomic_load_n(&rs->stop, __ATOMIC_SEQ_CST) == 0) {
		int64_t t = gort_now();

		gort_sleep(GORT_MILLISECOND);
		bench_vec_push(&o, gort_now() - t - GORT_MILLISECOND);
	}
	rs->bover = o;
	gort_wg_done(&rs->bwg);
}

static int pipe_fd[2];

static void pipe_reader(void *p)
{
	struct run_state *rs = p;
	struct bench_vec o;
	int64_t sent;

	bench_vec_init(&o, 1 << 14);
	while (__atomic_load_n(&rs->stop, __ATOMIC_SEQ_CST) == 0) {
		ssize_t n = GORT_BLOCKING(read(pipe_fd[0], &sent, sizeof(sent)));

		if (n != (ssize_t)sizeof(sent)) {
			fprintf(stderr, "# pipe read: %zd %s\n", n, strerror(errno));
			exit(1);
		}
		bench_vec_push(&o, gort_now() - sent);
	}
	rs->bover = o;
	gort_wg_done(&rs->bwg);
}

static void pipe_writer(void *p)
{
	struct run_state *rs = p;

	for (;;) {
		int64_t now;
		bool stop = __atomic_load_n(&rs->stop, __ATOMIC_SEQ_CST) != 0;

		if (!stop)
			gort_sleep(GORT_MILLISECOND);
		now = gort_now();
		/* Non-blocking: a message that does not fit is dropped. */
		(void)!write(pipe_fd[1], &now, sizeof(now));
		if (stop)
			break; /* the last write above unblocks the reader */
	}
	gort_wg_done(&rs->bwg);
}

/* ---- watchdog: an OS thread, independent of the runtime it watches ---- */

static int64_t wd_deadline; /* atomic; 0 = disarmed */
static const char *wd_mode;

static void *watchdog(void *arg)
{
	(void)arg;
	for (;;) {
		int64_t d;

		usleep(100 * 1000);
		d = __atomic_load_n(&wd_deadline, __ATOMIC_ACQUIRE);
		if (d && bench_mono_ns() > d) {
			struct gort_stats st;

			gort_stats(&st);
			fprintf(stderr,
				"# syscall: watchdog: mode %s did not finish; goroutines=%lld "
				"idle_procs=%lld spinning=%lld handoffs=%lld\n",
				wd_mode, (long long)st.goroutines, (long long)st.idle_procs,
				(long long)st.spinning_workers, (long long)st.syscall_handoffs);
			abort();
		}
	}
	return NULL;
}

/* Per-thread CPU time and context switches (who burns the CPUs, who wakes up). */
static void threads_diag(const char *name)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	char line[256], path[320];

	if (!d)
		return;
	while ((e = readdir(d))) {
		char comm[32] = "?";
		unsigned long long ut = 0, st = 0, vcs = 0, ivcs = 0;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat", e->d_name);
		f = fopen(path, "r");
		if (f) {
			if (fgets(line, sizeof(line), f)) {
				char *c = strrchr(line, ')');

				/* fields after ") ": state(3) ... utime(14) stime(15) */
				if (c &&
				    sscanf(c + 2,
					   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
					   &ut, &st) != 2)
					ut = st = 0;
			}
			fclose(f);
		}
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
		f = fopen(path, "r");
		if (f) {
			while (fgets(line, sizeof(line), f)) {
				sscanf(line, "Name: %31s", comm);
				sscanf(line, "voluntary_ctxt_switches: %llu", &vcs);
				sscanf(line, "nonvoluntary_ctxt_switches: %llu", &ivcs);
			}
			fclose(f);
		}
		bench_diag("%s: thread %s %s: cpu %.2f s, switches %llu voluntary %llu involuntary",
			   name, e->d_name, comm, (double)(ut + st) / (double)sysconf(_SC_CLK_TCK),
			   vcs, ivcs);
	}
	closedir(d);
}

static void run(const char *mode, int64_t dur)
{
	static struct run_state rs;
	struct worker_arg wa[W];
	struct gort_stats st0, st1;
	int64_t t0, el, tot = 0, un = 0, bops;
	struct bench_vec all;
	char name[64];
	double secs;

	memset(&rs, 0, sizeof(rs));
	gort_stats(&st0);
	gort_wg_add(&rs.wg, W);
	t0 = gort_now();
	rs.deadline = t0 + dur;
	for (int w = 0; w < W; w++) {
		wa[w].rs = &rs;
		wa[w].w = w;
		gort_go(worker, &wa[w]);
	}
	wd_mode = mode;
	__atomic_store_n(&wd_deadline, bench_mono_ns() + 3 * dur + 20000000000LL, __ATOMIC_RELEASE);
	if (strcmp(mode, "rawsleep") == 0) {
		gort_wg_add(&rs.bwg, 1);
		gort_go(rawsleep_blocker, &rs);
	} else if (strcmp(mode, "gosleep") == 0) {
		gort_wg_add(&rs.bwg, 1);
		gort_go(gosleep_blocker, &rs);
	} else if (strcmp(mode, "pipe") == 0) {
		if (pipe(pipe_fd) != 0 || fcntl(pipe_fd[1], F_SETFL, O_NONBLOCK) != 0) {
			fprintf(stderr, "# pipe: %s\n", strerror(errno));
			exit(1);
		}
		gort_wg_add(&rs.bwg, 2);
		gort_go(pipe_reader, &rs);
		gort_go(pipe_writer, &rs);
	}
	gort_wg_wait(&rs.wg);
	el = gort_now() - t0;
	__atomic_store_n(&rs.stop, 1, __ATOMIC_SEQ_CST);
	gort_wg_wait(&rs.bwg);
	if (strcmp(mode, "pipe") == 0) {
		close(pipe_fd[0]);
		close(pipe_fd[1]);
	}
	__atomic_store_n(&wd_deadline, 0, __ATOMIC_RELEASE);
	gort_stats(&st1);

	bench_vec_init(&all, 1024);
	for (int w = 0; w < W; w++) {
		for (size_t i = 0; i < rs.gaps[w].n; i++) {
			bench_vec_push(&all, rs.gaps[w].v[i]);
			tot += rs.gaps[w].v[i];
		}
		un += rs.units[w];
		free(rs.gaps[w].v);
	}
	bench_sort_i64(all.v, all.n);
	bops = (int64_t)rs.bover.n;
	bench_sort_i64(rs.bover.v, rs.bover.n);
	snprintf(name, sizeof(name), "syscall.%s", mode);
	secs = (double)el / 1e9;
	bench_result(name, "work_munits_per_s", (double)un / secs / 1e6);
	bench_result(name, "stall_ms_per_s", (double)tot / 1e6 / (W * secs));
	bench_result(name, "gaps_per_s", (double)all.n / secs);
	bench_result(name, "gap_p50_us", (double)bench_pct(all.v, all.n, 0.50) / 1e3);
	bench_result(name, "gap_p99_us", (double)bench_pct(all.v, all.n, 0.99) / 1e3);
	bench_result(name, "gap_max_us", (double)bench_pct(all.v, all.n, 1.0) / 1e3);
	if (strcmp(mode, "none") != 0) {
		bench_result(name, "blocker_ops_per_s", (double)bops / secs);
		bench_result(name, "blocker_over_p50_us",
			     (double)bench_pct(rs.bover.v, rs.bover.n, 0.50) / 1e3);
		bench_result(name, "blocker_over_p99_us",
			     (double)bench_pct(rs.bover.v, rs.bover.n, 0.99) / 1e3);
	}
	bench_diag("%s: units=%lld gaps=%zu blocker_ops=%lld syscall_handoffs=%lld "
		   "preempt_requests=%lld worker_parks=%lld worker_wakes=%lld workers=%lld",
		   name, (long long)un, all.n, (long long)bops,
		   (long long)(st1.syscall_handoffs - st0.syscall_handoffs),
		   (long long)(st1.preempt_requests - st0.preempt_requests),
		   (long long)(st1.worker_parks - st0.worker_parks),
		   (long long)(st1.worker_wakes - st0.worker_wakes), (long long)st1.workers);
	if (getenv("BENCH_THREADS"))
		threads_diag(name);
	free(all.v);
	free(rs.bover.v);
}

static bool mode_ok(const char *m, size_t len)
{
	static const char *const known[] = { "none", "gosleep", "rawsleep", "pipe" };

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strlen(known[i]) == len && strncmp(known[i], m, len) == 0)
			return true;
	return false;
}

static int syscall_body(int argc, char **argv)
{
	const char *s = modes_arg;

	(void)argc;
	(void)argv;
	while (*s) {
		size_t len = strcspn(s, ",");
		char mode[32];

		if (len > 0) {
			snprintf(mode, sizeof(mode), "%.*s", (int)len, s);
			run(mode, dur_arg);
		}
		s += len;
		if (*s == ',')
			s++;
	}
	return 0;
}

int syscall_main(int argc, char **argv)
{
	static const struct bench_flag flags[] = {
		{ "d", BF_DUR, &dur_arg, "duration per mode (default 4s)" },
		{ "modes", BF_STR, &modes_arg,
		  "comma-separated modes (default none,gosleep,rawsleep,pipe)" },
	};
	pthread_t t;

	bench_parse_flags(argc, argv, flags, 2);
	for (const char *s = modes_arg; *s;) {
		size_t len = strcspn(s, ",");

		if (len > 0 && !mode_ok(s, len)) {
			fprintf(stderr, "bad mode %.*s\n", (int)len, s);
			return 2;
		}
		s += len;
		if (*s == ',')
			s++;
	}
	if (dur_arg <= 0) {
		fprintf(stderr, "gort-bench syscall: -d must be positive\n");
		return 2;
	}
	gort_maxprocs(2); /* runtime.GOMAXPROCS(2) */
	if (pthread_create(&t, NULL, watchdog, NULL) == 0)
		pthread_detach(t);
	return bench_gort_main(syscall_body, argc, argv);
}
