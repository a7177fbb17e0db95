// SPDX-License-Identifier: MIT
/*
 * block_bench: how long after a worker blocks in a system call (inside a
 * syscall region) another goroutine runs on its proc, with gort.ko
 * (GORT_KASSIST=require: the module wakes the spare at once) and without
 * (GORT_KASSIST=off: sysmon retakes the proc after 20 us). One proc: A blocks
 * in read() on a pipe; B, runnable on the same proc, notes when it runs and
 * releases A. Run by `make vm-bench` in the guest (only ratios mean
 * something under TCG). Prints
 *   RESULT name=kassist.block metric=ns value=...      (median, with the module)
 *   RESULT name=sysmon.block metric=ns value=...       (median, without)
 *   RESULT name=kassist.block metric=ratio_vs_sysmon value=...
 * BLOCK_ITERS (default 2000) rounds per mode.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gort.h>

struct blocker {
	int pfd[2];
	int iters;
	int64_t block_at;
	int64_t round;
	int64_t *lat;
	gort_waitgroup wg;
};

static void blocker_a(void *arg)
{
	struct blocker *b = arg;
	char c;

	for (int i = 0; i < b->iters; i++) {
		__atomic_store_n(&b->block_at, gort_now(), __ATOMIC_RELEASE);
		if (GORT_BLOCKING(read(b->pfd[0], &c, 1)) != 1) {
			perror("# read");
			exit(1);
		}
		__atomic_store_n(&b->round, i + 1, __ATOMIC_RELEASE);
	}
	gort_wg_done(&b->wg);
}

static void blocker_b(void *arg)
{
	struct blocker *b = arg;

	for (int i = 0; i < b->iters; i++) {
		while (__atomic_load_n(&b->round, __ATOMIC_ACQUIRE) != i ||
		       __atomic_load_n(&b->block_at, __ATOMIC_ACQUIRE) == 0)
			gort_yield();
		b->lat[i] = gort_now() - __atomic_load_n(&b->block_at, __ATOMIC_ACQUIRE);
		__atomic_store_n(&b->block_at, 0, __ATOMIC_RELEASE);
		if (write(b->pfd[1], "x", 1) != 1) {
			perror("# write");
			exit(1);
		}
		while (__atomic_load_n(&b->round, __ATOMIC_ACQUIRE) == i)
			gort_yield();
	}
	gort_wg_done(&b->wg);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The child: one mode, prints its median latency in ns on stdout (TCG has
 * long outliers: the median is what the mode does). */
static int child(int iters)
{
	struct blocker b = { .iters = iters };
	struct gort_stats st;

	b.lat = calloc((size_t)iters, sizeof(*b.lat));
	if (!b.lat)
		return 1;
	if (pipe(b.pfd) != 0 || gort_init() != 0) {
		fprintf(stderr, "# init: %s\n", gort_errmsg());
		return 1;
	}
	gort_wg_add(&b.wg, 2);
	gort_go(blocker_a, &b);
	gort_go(blocker_b, &b);
	gort_wg_wait(&b.wg);
	gort_stats(&st);
	qsort(b.lat, (size_t)iters, sizeof(*b.lat), cmp_i64);
	printf("%lld %lld %lld\n", (long long)b.lat[iters / 2], (long long)st.syscall_handoffs,
	       (long long)st.kassist_handoffs);
	return 0;
}

static int run_mode(const char *self, const char *mode, int iters, long long out[3])
{
	int pfd[2], st;
	char buf[128] = "";
	ssize_t n;
	pid_t pid;

	if (pipe(pfd) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		char it[16];

		dup2(pfd[1], 1);
		setenv("GORT_KASSIST", mode, 1);
		setenv("GORT_MAXPROCS", "1", 1);
		snprintf(it, sizeof(it), "%d", iters);
		execl(self, self, "--child", it, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	n = read(pfd[0], buf, sizeof(buf) - 1);
	close(pfd[0]);
	waitpid(pid, &st, 0);
	if (n <= 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0 ||
	    sscanf(buf, "%lld %lld %lld", &out[0], &out[1], &out[2]) != 3)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	const char *s = getenv("BLOCK_ITERS");
	int iters = s ? atoi(s) : 2000;
	long long k[3], o[3];

	if (argc == 3 && strcmp(argv[1], "--child") == 0)
		return child(atoi(argv[2]));
	if (iters <= 0)
		iters = 2000;
	if (access("/dev/gort", R_OK | W_OK) != 0) {
		printf("# block_bench: /dev/gort absent (load gort.ko): nothing to compare\n");
		return 4; /* kselftest's skip */
	}
	if (run_mode("/proc/self/exe", "off", iters, o) != 0 ||
	    run_mode("/proc/self/exe", "require", iters, k) != 0) {
		fprintf(stderr, "# block_bench: a run failed\n");
		return 1;
	}
	printf("# block_bench: %d rounds per mode; handoffs without the module %lld, "
	       "with it %lld (%lld by the module)\n",
	       iters, o[1], k[1], k[2]);
	printf("RESULT name=sysmon.block metric=ns value=%lld\n", o[0]);
	printf("RESULT name=kassist.block metric=ns value=%lld\n", k[0]);
	printf("RESULT name=kassist.block metric=ratio_vs_sysmon value=%.3f\n",
	       o[0] > 0 ? (double)k[0] / (double)o[0] : 0.0);
	return 0;
}
