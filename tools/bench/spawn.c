// SPDX-License-Identifier: MIT
/*
 * Workload "spawn": shared/peers/go/spawn/main.go on libgort. The definition
 * (copied from the Go file; gort mapping in [brackets]):
 *
 * Scheduler: GOMAXPROCS = number of CPUs [gort's default: the CPUs in the
 * affinity mask]. Each phase runs in its OWN fresh process (this binary
 * re-executes itself [/proc/self/exe spawn -mode=...]), so that no stacks /
 * goroutine descriptors are recycled between phases and the peak-RSS reading
 * belongs to one phase only.
 *
 * Phase "parked" (N = 1,000,000):
 *   - before spawning: read VmHWM from /proc/self/status  -> hwm0 (KiB)
 *   - one shared unbuffered channel `start` (nobody ever sends on it), one
 *     WaitGroup `done` with done.Add(N), one atomic counter `parked`.
 *     [`start` is a gort_chan of capacity 0 and element size 0; the waiting
 *      receive's record lives on the goroutine's own stack, where Go's sudog
 *      is a separate allocation.]
 *   - t0 = now
 *   - for i in 0..N-1: spawn goroutine { parked += 1 (atomic); <-start; done.Done() }
 *   - the spawning goroutine then polls (runtime.Gosched() [gort_yield()]
 *     between polls) until parked == N, i.e. every goroutine has run and is
 *     blocked on `start`.
 *   - t1 = now;  read VmHWM -> hwm1 (KiB)
 *     RESULT spawn.parked   ms_spawn_all          (t1-t0) in ms
 *     RESULT spawn.parked   ns_per_spawn          (t1-t0)/N
 *     RESULT spawn.parked   bytes_per_goroutine   hwm1*1024/N
 *     RESULT spawn.parked   net_bytes_per_goroutine (hwm1-hwm0)*1024/N
 *   - t2 = now; close(start) (releases all N); done.Wait(); t3 = now
 *     RESULT spawn.parked   ns_per_release_join   (t3-t2)/N
 *
 * Phase "short" (N = 1,000,000, fresh process):
 *   - WaitGroup wg.Add(N); t0 = now
 *   - for i in 0..N-1: spawn goroutine { wg.Done() }
 *   - wg.Wait(); t1 = now
 *     RESULT spawn.short    ns_per_spawn_exit     (t1-t0)/N
 *     RESULT spawn.short    peak_rss_mb           VmHWM/1024 at the end
 * Phase "short1" (fresh process): identical to "short" but with
 *   runtime.GOMAXPROCS(1) [gort_maxprocs(1) before the runtime starts].
 *     RESULT spawn.short1   ns_per_spawn_exit, peak_rss_mb
 *
 * Informational lines (stderr only): gort_stats() counters.
 *
 * Flags as in Go: -mode parked|short|short1|all (default all), -n N.
 * time.Now is gort_now(); goroutines use the default stack (256 KiB of address
 * space, touched lazily; GORT_STACK_SIZE changes it).
 */
#include "bench.h"

static int64_t n_arg = 1000000;
static const char *mode_arg = "all";

static void stats_diag(const char *name, int64_t n)
{
	struct gort_stats st;

	gort_stats(&st);
	bench_diag("%s: N=%lld maxprocs=%lld workers=%lld goroutines=%lld switches=%lld "
		   "steals=%lld stolen=%lld global_gets=%lld parks=%lld wakes=%lld preempts=%lld "
		   "stack_guard_mode=%lld",
		   name, (long long)n, (long long)st.maxprocs, (long long)st.workers,
		   (long long)st.goroutines, (long long)st.switches, (long long)st.steals,
		   (long long)st.stolen_goroutines, (long long)st.global_runq_gets,
		   (long long)st.worker_parks, (long long)st.worker_wakes,
		   (long long)st.preempt_requests, (long long)st.stack_guard_mode);
}

static void spawn_or_die(void (*fn)(void *), void *arg)
{
	int64_t id = gort_go(fn, arg);

	if (id < 0) {
		fprintf(stderr, "# gort_go failed after %lld goroutines: %s (%s)\n",
			(long long)gort_num_goroutine(), gort_strerror((int)id), gort_errmsg());
		exit(1);
	}
}

/* ---- parked ---- */

static gort_chan *start_ch;
static gort_waitgroup done_wg = GORT_WAITGROUP_INIT;
static int64_t parked_cnt;

static void parked_body(void *arg)
{
	(void)arg;
	__atomic_add_fetch(&parked_cnt, 1, __ATOMIC_SEQ_CST);
	gort_chan_recv(start_ch, NULL); /* <-start */
	gort_wg_done(&done_wg);
}

static int parked(int argc, char **argv)
{
	int64_t n = n_arg, hwm0, hwm1, rss1, t0, t1, t2, t3;

	(void)argc;
	(void)argv;
	hwm0 = bench_status_kb("VmHWM");
	start_ch = gort_chan_make(0, 0);
	if (!start_ch) {
		fprintf(stderr, "# gort_chan_make: %s\n", gort_errmsg());
		return 1;
	}
	gort_wg_add(&done_wg, n);
	t0 = gort_now();
	for (int64_t i = 0; i < n; i++)
		spawn_or_die(parked_body, NULL);
	while (__atomic_load_n(&parked_cnt, __ATOMIC_SEQ_CST) != n)
		gort_yield();
	t1 = gort_now();
	hwm1 = bench_status_kb("VmHWM");
	rss1 = bench_status_kb("VmRSS");
	bench_diag("spawn.parked: N=%lld maxprocs=%d VmHWM0=%lldKiB VmHWM=%lldKiB VmRSS=%lldKiB "
		   "VmPTE=%lldKiB (page tables, not in RSS) NumGoroutine=%lld",
		   (long long)n, gort_maxprocs(0), (long long)hwm0, (long long)hwm1,
		   (long long)rss1, (long long)bench_status_kb("VmPTE"),
		   (long long)gort_num_goroutine());
	stats_diag("spawn.parked", n);
	t2 = gort_now();
	gort_chan_close(start_ch); /* close(start) */
	gort_wg_wait(&done_wg);
	t3 = gort_now();
	gort_chan_free(start_ch);
	bench_result("spawn.parked", "ms_spawn_all", (double)(t1 - t0) / 1e6);
	bench_result("spawn.parked", "ns_per_spawn", (double)(t1 - t0) / (double)n);
	bench_result("spawn.parked", "bytes_per_goroutine", (double)hwm1 * 1024 / (double)n);
	bench_result("spawn.parked", "net_bytes_per_goroutine",
		     (double)(hwm1 - hwm0) * 1024 / (double)n);
	bench_result("spawn.parked", "ns_per_release_join", (double)(t3 - t2) / (double)n);
	return 0;
}

/* ---- short / short1 ---- */

static void short_body(void *arg)
{
	gort_wg_done(arg);
}

static int short_run(const char *name)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	int64_t n = n_arg, t0, t1;

	gort_wg_add(&wg, n);
	t0 = gort_now();
	for (int64_t i = 0; i < n; i++)
		spawn_or_die(short_body, &wg);
	gort_wg_wait(&wg);
	t1 = gort_now();
	bench_result(name, "ns_per_spawn_exit", (double)(t1 - t0) / (double)n);
	bench_result(name, "peak_rss_mb", (double)bench_status_kb("VmHWM") / 1024);
	stats_diag(name, n);
	return 0;
}

static int short_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return short_run("spawn.short");
}

static int short1_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return short_run("spawn.short1");
}

int spawn_main(int argc, char **argv)
{
	static const struct bench_flag flags[] = {
		{ "mode", BF_STR, &mode_arg,
		  "parked | short | short1 | all (all = run each phase in a fresh child process)" },
		{ "n", BF_INT, &n_arg, "number of goroutines (default 1000000)" },
	};

	bench_parse_flags(argc, argv, flags, 2);
	if (n_arg <= 0) {
		fprintf(stderr, "gort-bench spawn: -n must be positive\n");
		return 2;
	}
	if (strcmp(mode_arg, "parked") == 0)
		return bench_gort_main(parked, argc, argv);
	if (strcmp(mode_arg, "short") == 0)
		return bench_gort_main(short_main, argc, argv);
	if (strcmp(mode_arg, "short1") == 0) {
		gort_maxprocs(1); /* runtime.GOMAXPROCS(1), before anything runs */
		return bench_gort_main(short1_main, argc, argv);
	}
	if (strcmp(mode_arg, "all") == 0) {
		static const char *const modes[] = { "parked", "short", "short1" };
		char nbuf[48];

		snprintf(nbuf, sizeof(nbuf), "-n=%lld", (long long)n_arg);
		for (int i = 0; i < 3; i++) {
			char mbuf[32];
			char *cargv[] = { "gort-bench", "spawn", mbuf, nbuf, NULL };

			snprintf(mbuf, sizeof(mbuf), "-mode=%s", modes[i]);
			if (bench_reexec(cargv) != 0) {
				fprintf(stderr, "# child failed: spawn -mode=%s\n", modes[i]);
				return 1;
			}
		}
		return 0;
	}
	fprintf(stderr, "gort-bench spawn: bad -mode '%s'\n", mode_arg);
	return 2;
}
