// SPDX-License-Identifier: GPL-2.0
/*
 * kassist_bench - SWITCH round trip against a FUTEX_WAKE + FUTEX_WAIT
 * round trip between two unpinned threads, using only <linux/gort.h>.
 *
 *   kassist_bench [ITERS [REPEATS]]   (defaults 20000 and 5, or
 *                                      $KASSIST_ITERS, $KASSIST_REPEATS)
 *
 * Each figure is the median of REPEATS runs.  Prints RESULT lines:
 *   RESULT name=futex.wakewait metric=ns_per_roundtrip value=N
 *   RESULT name=kassist.switch metric=ns_per_roundtrip value=N
 *   RESULT name=kassist.switch metric=ratio_vs_futex value=R
 * and, to choose SWITCH's placement, one line per option:
 *   RESULT name=kassist.switch.<option> metric=ns_per_roundtrip value=N
 * for switch_mode 0 (plain), 1 (sync), 2 (affinity), each unpinned, and
 * "pinned" (both workers pinned to one CPU, as a runtime pinning workers
 * per proc would) with the default mode.  kassist.switch itself is the
 * module's default mode, unpinned.  Changing switch_mode needs root;
 * without it only the default is measured.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include <linux/gort.h>

#define MODE_PARAM	"/sys/module/gort/parameters/switch_mode"

static long iters = 20000;
static int repeats = 5;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* ---- futex baseline: two words, each side waits on its own ---- */

static atomic_int fw[2];

/* Sleep while *w == val. */
static void fwait(atomic_int *w, int val)
{
	syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void fset_wake(atomic_int *w, int val)
{
	atomic_store(w, val);
	syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* B: wait for round trip i on fw[1], answer on fw[0]. */
static void *futex_b(void *arg)
{
	int i, v;

	(void)arg;
	for (i = 1; i <= iters; i++) {
		while ((v = atomic_load(&fw[1])) != i)
			fwait(&fw[1], v);
		fset_wake(&fw[0], i);
	}
	return NULL;
}

static uint64_t futex_run(void)
{
	uint64_t t0, dt;
	pthread_t b;
	int i, v;

	atomic_store(&fw[0], 0);
	atomic_store(&fw[1], 0);
	pthread_create(&b, NULL, futex_b, NULL);
	usleep(1000);
	t0 = now_ns();
	for (i = 1; i <= iters; i++) {
		fset_wake(&fw[1], i);
		while ((v = atomic_load(&fw[0])) != i)
			fwait(&fw[0], v);
	}
	dt = now_ns() - t0;
	pthread_join(b, NULL);
	return dt / iters;
}

/* ---- SWITCH ping-pong ---- */

static int gfd;
static __u32 ha, hb;
static atomic_int b_ready;
static int pin_cpu = -1;

static int ioc_switch(__u32 h)
{
	struct gort_switch s = { .handle = h, .timeout_ns = 10000000000ULL };

	return ioctl(gfd, GORT_IOC_SWITCH, &s);
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void unpin(void)
{
	cpu_set_t set;
	int i;

	CPU_ZERO(&set);
	for (i = 0; i < CPU_SETSIZE; i++)
		CPU_SET(i, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void *switch_b(void *arg)
{
	struct gort_register reg = { 0 };
	struct gort_wait w = { .timeout_ns = 10000000000ULL };
	struct gort_wake wk = { 0 };
	long i;

	(void)arg;
	if (pin_cpu >= 0)
		pin(pin_cpu);
	if (ioctl(gfd, GORT_IOC_REGISTER, &reg)) {
		atomic_store(&b_ready, -1);
		return NULL;
	}
	hb = reg.handle;
	atomic_store(&b_ready, 1);
	if (ioctl(gfd, GORT_IOC_WAIT, &w))
		goto out;
	for (i = 0; i < iters - 1; i++)
		if (ioc_switch(ha))
			goto out;
	wk.handle = ha;
	ioctl(gfd, GORT_IOC_WAKE, &wk);
out:
	ioctl(gfd, GORT_IOC_UNREGISTER, 0);
	return NULL;
}

static uint64_t switch_run(void)
{
	struct gort_register reg = { 0 };
	uint64_t t0, dt;
	pthread_t b;
	long i;

	if (pin_cpu >= 0)
		pin(pin_cpu);
	else
		unpin();
	if (ioctl(gfd, GORT_IOC_REGISTER, &reg)) {
		perror("REGISTER");
		exit(1);
	}
	ha = reg.handle;
	atomic_store(&b_ready, 0);
	pthread_create(&b, NULL, switch_b, NULL);
	while (!atomic_load(&b_ready))
		usleep(100);
	usleep(1000);	/* let B reach WAIT */
	t0 = now_ns();
	for (i = 0; i < iters; i++) {
		if (ioc_switch(hb)) {
			perror("SWITCH");
			exit(1);
		}
	}
	dt = now_ns() - t0;
	pthread_join(b, NULL);
	ioctl(gfd, GORT_IOC_UNREGISTER, 0);
	unpin();
	return dt / iters;
}

static int read_mode(void)
{
	char buf[16] = "";
	FILE *f = fopen(MODE_PARAM, "r");

	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	return buf[0] ? atoi(buf) : -1;
}

static int write_mode(int mode)
{
	FILE *f = fopen(MODE_PARAM, "w");
	int r;

	if (!f)
		return -1;
	r = fprintf(f, "%d\n", mode) < 0;
	return fclose(f) || r ? -1 : 0;
}

static uint64_t median(uint64_t *v, int n)
{
	qsort(v, n, sizeof(v[0]), cmp_u64);
	return v[n / 2];
}

/* Configurations measured, interleaved round by round against drift. */
enum { C_FUTEX, C_DEFAULT, C_PLAIN, C_SYNC, C_AFFINITY, C_PINNED, C_N };

static const char *const cname[C_N] = {
	"futex.wakewait", "kassist.switch", "kassist.switch.plain",
	"kassist.switch.sync", "kassist.switch.affinity",
	"kassist.switch.pinned",
};

int main(int argc, char **argv)
{
	static uint64_t v[C_N][64];
	uint64_t med[C_N];
	int c, r, def_mode, n[C_N] = { 0 };

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (getenv("KASSIST_ITERS"))
		iters = atol(getenv("KASSIST_ITERS"));
	if (getenv("KASSIST_REPEATS"))
		repeats = atoi(getenv("KASSIST_REPEATS"));
	if (argc > 1)
		iters = atol(argv[1]);
	if (argc > 2)
		repeats = atoi(argv[2]);
	if (iters < 2 || repeats < 1 || repeats > 64) {
		fprintf(stderr, "usage: %s [ITERS>=2 [REPEATS 1..64]]\n",
			argv[0]);
		return 2;
	}
	gfd = open(GORT_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (gfd < 0) {
		perror(GORT_DEVICE_PATH);
		return 4;
	}
	def_mode = read_mode();
	printf("# kassist_bench: %ld round trips, median of %d rounds, %ld CPUs, default switch_mode %d\n",
	       iters, repeats, sysconf(_SC_NPROCESSORS_ONLN), def_mode);

	for (r = 0; r < repeats; r++) {
		for (c = 0; c < C_N; c++) {
			pin_cpu = -1;
			if (c >= C_PLAIN && c <= C_AFFINITY) {
				if (def_mode < 0 || write_mode(c - C_PLAIN))
					continue;
			} else if (def_mode >= 0) {
				write_mode(def_mode);
			}
			if (c == C_PINNED)
				pin_cpu = 0;
			v[c][n[c]++] = c == C_FUTEX ? futex_run() : switch_run();
		}
	}
	if (def_mode >= 0)
		write_mode(def_mode);
	pin_cpu = -1;

	for (c = 0; c < C_N; c++) {
		if (!n[c])
			continue;
		med[c] = median(v[c], n[c]);
		printf("RESULT name=%s metric=ns_per_roundtrip value=%llu\n",
		       cname[c], (unsigned long long)med[c]);
	}
	for (c = C_PLAIN; c < C_N; c++)
		if (n[c])
			printf("RESULT name=%s metric=ratio_vs_futex value=%.3f\n",
			       cname[c], (double)med[c] / (double)med[C_FUTEX]);
	printf("RESULT name=kassist.switch metric=ratio_vs_futex value=%.3f\n",
	       (double)med[C_DEFAULT] / (double)med[C_FUTEX]);
	close(gfd);
	return 0;
}
