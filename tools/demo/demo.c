// SPDX-License-Identifier: MIT
/*
 * gort-demo: the showcase behind `make demo`. A million goroutines are alive
 * at once (each parked on a shared WaitGroup until released), then joined;
 * it prints the time, the memory per goroutine, how the work spread over the
 * procs, and whether the kernel module assists the scheduler.
 *
 *   gort-demo [-n GOROUTINES]
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gort.h>

static long n_goroutines = 1000000;
static gort_waitgroup start = GORT_WAITGROUP_INIT;
static gort_waitgroup done = GORT_WAITGROUP_INIT;
static atomic_long started;
static atomic_long checksum;

static long status_kib(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	size_t n = strlen(field);

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, field, n) == 0 && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

static void worker(void *arg)
{
	atomic_fetch_add_explicit(&started, 1, memory_order_relaxed);
	gort_wg_wait(&start);
	atomic_fetch_add_explicit(&checksum, (long)(intptr_t)arg, memory_order_relaxed);
	gort_wg_done(&done);
}

static int demo(int argc, char **argv)
{
	struct gort_stats before, after;
	int64_t t0, t1, t2, t3;
	long hwm0, hwm1, expect;
	const char *guards[] = { "MADV_GUARD_INSTALL guard pages", "mprotect guard pages",
				 "canaries" };

	(void)argc;
	(void)argv;
	gort_stats(&before);
	printf("gort %s: %lld procs, goroutine stacks guarded by %s\n", gort_version(),
	       (long long)before.maxprocs, guards[before.stack_guard_mode]);
	printf("kernel assist: %s\n",
	       before.kassist
		       ? "gort.ko present (ABI checked); the scheduler does not use it yet"
		       : "not available (no /dev/gort): futex parking and the sysmon thread");

	hwm0 = status_kib("VmHWM");
	gort_wg_add(&start, 1);
	gort_wg_add(&done, n_goroutines);
	t0 = gort_now();
	for (long i = 0; i < n_goroutines; i++) {
		int64_t id = gort_go(worker, (void *)(intptr_t)i);

		if (id < 0) {
			fprintf(stderr, "gort_go failed after %ld goroutines: %s\n", i,
				gort_errmsg());
			return 1;
		}
	}
	while (atomic_load(&started) < n_goroutines)
		gort_yield();
	t1 = gort_now();
	hwm1 = status_kib("VmHWM");
	printf("spawned %ld goroutines, all alive and parked: %.0f ms (%.0f ns each)\n",
	       n_goroutines, (t1 - t0) / 1e6, (double)(t1 - t0) / (double)n_goroutines);
	printf("memory: %.0f bytes per goroutine (peak RSS growth %.0f MiB)\n",
	       (double)(hwm1 - hwm0) * 1024.0 / (double)n_goroutines, (hwm1 - hwm0) / 1024.0);

	t2 = gort_now();
	gort_wg_done(&start);
	gort_wg_wait(&done);
	t3 = gort_now();
	expect = n_goroutines * (n_goroutines - 1) / 2;
	printf("released and joined: %.0f ms (%.0f ns each), checksum %s\n", (t3 - t2) / 1e6,
	       (double)(t3 - t2) / (double)n_goroutines,
	       atomic_load(&checksum) == expect ? "ok" : "WRONG");

	gort_stats(&after);
	printf("work per proc (goroutine runs):");
	for (int i = 0; i < after.maxprocs && i < 64; i++)
		printf(" P%d=%lld", i,
		       (long long)(after.per_proc_runs[i] - before.per_proc_runs[i]));
	printf("\nscheduler: %lld switches, %lld steals (%lld goroutines stolen), %lld worker "
	       "threads, %lld worker sleeps\n",
	       (long long)(after.switches - before.switches),
	       (long long)(after.steals - before.steals),
	       (long long)(after.stolen_goroutines - before.stolen_goroutines),
	       (long long)after.workers, (long long)(after.worker_parks - before.worker_parks));
	return atomic_load(&checksum) == expect ? 0 : 1;
}

int main(int argc, char **argv)
{
	int opt;

	while ((opt = getopt(argc, argv, "n:")) != -1) {
		if (opt == 'n' && atol(optarg) > 0) {
			n_goroutines = atol(optarg);
		} else {
			fprintf(stderr, "usage: %s [-n GOROUTINES]\n", argv[0]);
			return 2;
		}
	}
	return gort_main(demo, argc, argv);
}
