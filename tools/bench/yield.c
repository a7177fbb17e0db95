// SPDX-License-Identifier: MIT
/*
 * Workload "yield": shared/peers/go/yield/main.go on libgort. The definition
 * (copied from the Go file; gort mapping in [brackets]):
 *
 * Scheduler restricted to ONE worker thread: runtime.GOMAXPROCS(1)
 * [gort_maxprocs(1) before the runtime starts]. ITERS = 10,000,000.
 *
 * yield.pair:
 *   Two goroutines A and B, each: for i in 0..ITERS-1 { runtime.Gosched()
 *   [gort_yield()] }; wg.Done(). The main goroutine starts the clock, spawns
 *   A and B, waits on wg (parked, not runnable), stops the clock. Every
 *   Gosched() hands the single P to the other goroutine, so there are
 *   2*ITERS switches.
 *     RESULT yield.pair  ns_per_switch = wall / (2*ITERS)
 *
 * yield.alone (reference: cost of a yield when nothing else is runnable):
 *   One goroutine: for i in 0..ITERS-1 { runtime.Gosched() }.
 *     RESULT yield.alone ns_per_yield = wall / ITERS
 *
 * Both are preceded by a 100,000-iteration untimed warm-up of the same shape.
 *
 * Flag as in Go: -iters N. No substitutions. Note (from the peers' README):
 * Go's Gosched goes through the global run queue whether or not anything
 * else is runnable; gort_yield uses the proc's local queue and returns at once
 * when nothing else is runnable, so read yield.pair and yield.alone together.
 */
#include "bench.h"

static int64_t iters_arg = 10000000;

struct body_arg {
	int64_t iters;
	gort_waitgroup *wg;
};

static void body(void *p)
{
	struct body_arg *a = p;

	for (int64_t i = 0; i < a->iters; i++)
		gort_yield();
	gort_wg_done(a->wg);
}

/* Returns the wall time in ns of nspawn goroutines yielding iters times each. */
static int64_t run(int nspawn, int64_t iters)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	struct body_arg a = { iters, &wg };
	int64_t t0;

	gort_wg_add(&wg, nspawn);
	t0 = gort_now();
	for (int i = 0; i < nspawn; i++) {
		if (gort_go(body, &a) < 0) {
			fprintf(stderr, "# gort_go: %s\n", gort_errmsg());
			exit(1);
		}
	}
	gort_wg_wait(&wg);
	return gort_now() - t0;
}

static int yield_body(int argc, char **argv)
{
	int64_t iters = iters_arg, d;
	struct gort_stats st0, st1;

	(void)argc;
	(void)argv;
	run(2, 100000);
	gort_stats(&st0);
	d = run(2, iters);
	gort_stats(&st1);
	bench_result("yield.pair", "ns_per_switch", (double)d / (double)(2 * iters));
	bench_diag("yield.pair: maxprocs=%d context switches counted=%lld (expected ~%lld)",
		   gort_maxprocs(0), (long long)(st1.switches - st0.switches),
		   (long long)(2 * iters));
	run(1, 100000);
	d = run(1, iters);
	bench_result("yield.alone", "ns_per_yield", (double)d / (double)iters);
	return 0;
}

int yield_main(int argc, char **argv)
{
	static const struct bench_flag flags[] = {
		{ "iters", BF_INT, &iters_arg,
		  "gort_yield calls per goroutine (default 10000000)" },
	};

	bench_parse_flags(argc, argv, flags, 1);
	if (iters_arg <= 0) {
		fprintf(stderr, "gort-bench yield: -iters must be positive\n");
		return 2;
	}
	gort_maxprocs(1); /* runtime.GOMAXPROCS(1) */
	return bench_gort_main(yield_body, argc, argv);
}
