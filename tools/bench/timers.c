// SPDX-License-Identifier: MIT
/*
 * Workload "timers": shared/peers/go/timers/main.go on libgort. At
 * GOMAXPROCS 2, G goroutines (-g, default 10,000) each sleep S times (-s,
 * default 200) for d = 1000 + z%4001 us, z from a splitmix64 sequence seeded
 * with the goroutine's index + 1, and record the oversleep (elapsed - d).
 *     RESULT timers  wall_ms, oversleep_mean_us, oversleep_p50_us,
 *                    oversleep_p99_us, oversleep_max_us
 */
#include "bench.h"

static int64_t g_arg = 10000, s_arg = 200;

struct tm_body {
	int64_t *over; /* g * s */
	int64_t s;
	gort_waitgroup wg;
};

struct tm_arg {
	struct tm_body *b;
	int64_t i;
};

static void sleeper(void *p)
{
	struct tm_arg *a = p;
	int64_t *buf = a->b->over + a->i * a->b->s;
	uint64_t x = (uint64_t)a->i + 1;

	for (int64_t k = 0; k < a->b->s; k++) {
		uint64_t z;
		int64_t d, t;

		x += 0x9E3779B97F4A7C15ULL;
		z = x;
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
		z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
		z ^= z >> 31;
		d = (int64_t)(1000 + z % 4001) * GORT_MICROSECOND;
		t = gort_now();
		gort_sleep(d);
		buf[k] = gort_now() - t - d;
	}
	gort_wg_done(&a->b->wg);
}

static int timers_body(int argc, char **argv)
{
	int64_t n = g_arg * s_arg, t0, wall;
	struct tm_body b = { .s = s_arg };
	struct tm_arg *args = calloc((size_t)g_arg, sizeof(*args));
	double sum = 0;

	(void)argc;
	(void)argv;
	b.over = calloc((size_t)n, sizeof(int64_t));
	if (!b.over || !args) {
		fprintf(stderr, "# out of memory\n");
		return 1;
	}
	gort_wg_add(&b.wg, g_arg);
	t0 = gort_now();
	for (int64_t i = 0; i < g_arg; i++) {
		args[i].b = &b;
		args[i].i = i;
		gort_go(sleeper, &args[i]);
	}
	gort_wg_wait(&b.wg);
	wall = gort_now() - t0;
	for (int64_t i = 0; i < n; i++)
		sum += (double)b.over[i];
	bench_sort_i64(b.over, (size_t)n);
	bench_result("timers", "wall_ms", (double)wall / 1e6);
	bench_result("timers", "oversleep_mean_us", sum / (double)n / 1e3);
	bench_result("timers", "oversleep_p50_us",
		     (double)bench_pct(b.over, (size_t)n, 0.50) / 1e3);
	bench_result("timers", "oversleep_p99_us",
		     (double)bench_pct(b.over, (size_t)n, 0.99) / 1e3);
	bench_result("timers", "oversleep_max_us", (double)bench_pct(b.over, (size_t)n, 1.0) / 1e3);
	free(b.over);
	free(args);
	return 0;
}

int timers_main(int argc, char **argv)
{
	static const struct bench_flag flags[] = {
		{ "g", BF_INT, &g_arg, "goroutines (default 10000)" },
		{ "s", BF_INT, &s_arg, "sleeps per goroutine (default 200)" },
	};

	bench_parse_flags(argc, argv, flags, 2);
	if (g_arg <= 0 || s_arg <= 0) {
		fprintf(stderr, "gort-bench timers: -g and -s must be positive\n");
		return 2;
	}
	gort_maxprocs(2); /* runtime.GOMAXPROCS(2) */
	return bench_gort_main(timers_body, argc, argv);
}
