// SPDX-License-Identifier: MIT
/*
 * gort-trace's test target. Waits for one byte on stdin (so the tracer can
 * attach first), then performs known counts and exits:
 *   - SPAWNS goroutines that return at once;
 *   - a ping-pong of ROUNDS round trips over two unbuffered channels between
 *     two goroutines; at GORT_MAXPROCS=1 (which the test sets) exactly one of
 *     the two parties of each exchange arrives first and blocks, so there are
 *     exactly 2 * ROUNDS chan__block (and chan__unblock) events;
 *   - SYSCALLS gort_syscall_enter/exit regions around getppid().
 * Every goroutine is created after the byte, so goroutine__create fires
 * SPAWNS + 2 times (and the main goroutine, created before, never exits
 * before the counts are read: it exits with the process).
 *
 * With LINGER_MS > 0 (for `top`, which reads snapshots sysmon takes every
 * 20 ms or more) two phases follow, LINGER_MS each, holding known states:
 *   busy:  HOLDERS goroutines blocked receiving on a channel, QUEUED spawned
 *          goroutines runnable on the only proc (one in runnext, the rest in
 *          its ring) while main spins without calling the runtime (running);
 *   sleep: main in gort_sleep (wait reason "sleep"), the HOLDERS still
 *          blocked, the QUEUED ones gone;
 * then the holders are released and the program exits (HOLDERS + QUEUED
 * more spawns). The phase lines on stdout say when each starts.
 *
 * Usage: target [SPAWNS ROUNDS SYSCALLS [LINGER_MS]]  (defaults 100 1000 50 0)
 *
 * Two modes drive gort.ko instead (the VM test, tools/gort-trace/test/vm.sh):
 *   target --kswitch N   after the byte: a SWITCH ping-pong of N round trips
 *                        between two threads registered with /dev/gort (no
 *                        runtime: the runtime's own module calls would blur
 *                        the counts). Thread A SWITCHes to B N times; B WAITs
 *                        once, SWITCHes back N - 1 times and WAKEs A at the
 *                        end: exactly 2N - 1 gort_switch, 2N gort_wait (all
 *                        returning 0), 1 gort_wake, 2 gort_register and 2
 *                        gort_unregister events, and 2N - 1 handoffs.
 *   target --kblock K    after the byte, with the runtime (GORT_MAXPROCS=1,
 *                        GORT_KASSIST=require): a goroutine blocks K times in
 *                        read() inside a syscall region; another, runnable on
 *                        the same proc, runs only once that proc was handed
 *                        over (by the module's spare, or sysmon) and writes
 *                        the byte that ends the read.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/gort.h>

#include <gort.h>

#define HOLDERS 5
#define QUEUED 7

GORT_CHAN_TYPE(int_chan, int);

static int spawns = 100, rounds = 1000, syscalls = 50, linger_ms;
static gort_waitgroup wg;
static int_chan ping, pong, hold;
static int holders_in; /* atomic: holders about to block on hold */

static void nop(void *arg)
{
	(void)arg;
	gort_wg_done(&wg);
}

static void pinger(void *arg)
{
	int v = 0;

	(void)arg;
	for (int i = 0; i < rounds; i++) {
		gort_send(ping, v);
		gort_recv(pong, &v);
	}
	gort_wg_done(&wg);
}

static void ponger(void *arg)
{
	int v;

	(void)arg;
	for (int i = 0; i < rounds; i++) {
		gort_recv(ping, &v);
		gort_send(pong, v + 1);
	}
	gort_wg_done(&wg);
}

static void holder(void *arg)
{
	int v;

	(void)arg;
	__atomic_add_fetch(&holders_in, 1, __ATOMIC_RELEASE);
	gort_recv(hold, &v); /* returns when hold is closed */
	gort_wg_done(&wg);
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void phases(void)
{
	int64_t end;

	hold = gort_make(int_chan, 0);
	gort_wg_add(&wg, HOLDERS + QUEUED);
	for (int i = 0; i < HOLDERS; i++)
		gort_go(holder, NULL);
	/*
	 * One proc and no preemption inside the runtime's blocking path: once
	 * main runs again after the last holder counted itself in, every
	 * holder is blocked. (A timed sleep is not enough: a vCPU stalled past
	 * the timer puts main in runnext, ahead of the holders.)
	 */
	while (__atomic_load_n(&holders_in, __ATOMIC_ACQUIRE) < HOLDERS)
		gort_yield();
	for (int i = 0; i < QUEUED; i++)
		gort_go(nop, NULL);
	printf("phase busy\n");
	fflush(stdout);
	/* No runtime call: the queued goroutines stay queued behind main. */
	end = mono_ns() + linger_ms * 1000000LL;
	while (mono_ns() < end)
		;
	printf("phase sleep\n");
	fflush(stdout);
	gort_sleep(linger_ms * 1000000LL);
	gort_close(hold);
	gort_wg_wait(&wg);
	gort_free(hold);
}

static int real_main(int argc, char **argv)
{
	char c;

	if (argc >= 4) {
		spawns = atoi(argv[1]);
		rounds = atoi(argv[2]);
		syscalls = atoi(argv[3]);
	}
	if (argc >= 5)
		linger_ms = atoi(argv[4]);
	printf("ready pid=%d\n", (int)getpid());
	fflush(stdout);
	if (read(0, &c, 1) != 1)
		return 1;

	gort_wg_add(&wg, spawns);
	for (int i = 0; i < spawns; i++)
		gort_go(nop, NULL);
	gort_wg_wait(&wg);

	ping = gort_make(int_chan, 0);
	pong = gort_make(int_chan, 0);
	gort_wg_add(&wg, 2);
	gort_go(pinger, NULL);
	gort_go(ponger, NULL);
	gort_wg_wait(&wg);

	for (int i = 0; i < syscalls; i++) {
		gort_syscall_enter();
		(void)getppid();
		gort_syscall_exit();
	}
	printf("done spawns=%d rounds=%d syscalls=%d\n", spawns, rounds, syscalls);
	fflush(stdout);
	if (linger_ms > 0)
		phases();
	return 0;
}

/* ---- --kswitch: gort.ko's SWITCH ping-pong, two plain threads ---- */

#define KTIMEOUT_NS (10 * 1000000000ULL)

struct kpp {
	int fd;
	long n;
	uint32_t ha, hb;
	int hb_ready; /* atomic: 1 registered, -1 failed */
	int err;      /* B's first error (-errno) */
};

static int kioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

static int kregister(int fd, uint32_t *h)
{
	struct gort_register r;
	int err;

	memset(&r, 0, sizeof(r));
	err = kioctl(fd, GORT_IOC_REGISTER, &r);
	*h = r.handle;
	return err;
}

static int kwait(int fd)
{
	struct gort_wait w;

	memset(&w, 0, sizeof(w));
	w.timeout_ns = KTIMEOUT_NS;
	return kioctl(fd, GORT_IOC_WAIT, &w);
}

static int kswitch(int fd, uint32_t to)
{
	struct gort_switch s;

	memset(&s, 0, sizeof(s));
	s.handle = to;
	s.timeout_ns = KTIMEOUT_NS;
	return kioctl(fd, GORT_IOC_SWITCH, &s);
}

static int kwake(int fd, uint32_t to)
{
	struct gort_wake w;

	memset(&w, 0, sizeof(w));
	w.handle = to;
	return kioctl(fd, GORT_IOC_WAKE, &w);
}

static void *kpp_b(void *arg)
{
	struct kpp *pp = arg;
	int err;

	err = kregister(pp->fd, &pp->hb);
	__atomic_store_n(&pp->hb_ready, err ? -1 : 1, __ATOMIC_RELEASE);
	if (err) {
		pp->err = err;
		return NULL;
	}
	err = kwait(pp->fd);
	for (long i = 0; !err && i < pp->n - 1; i++)
		err = kswitch(pp->fd, pp->ha);
	if (!err)
		err = kwake(pp->fd, pp->ha);
	pp->err = err;
	kioctl(pp->fd, GORT_IOC_UNREGISTER, NULL);
	return NULL;
}

static int kswitch_main(long n)
{
	struct kpp pp = { .n = n };
	pthread_t tb;
	int err = 0, ready;
	char c;

	pp.fd = open(GORT_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (pp.fd < 0) {
		fprintf(stderr, "target: %s: %s\n", GORT_DEVICE_PATH, strerror(errno));
		return 4;
	}
	printf("ready pid=%d\n", (int)getpid());
	fflush(stdout);
	if (read(0, &c, 1) != 1)
		return 1;
	err = kregister(pp.fd, &pp.ha);
	if (err || pthread_create(&tb, NULL, kpp_b, &pp)) {
		fprintf(stderr, "target: register or thread: %s\n", strerror(-err));
		return 1;
	}
	while (!(ready = __atomic_load_n(&pp.hb_ready, __ATOMIC_ACQUIRE)))
		usleep(100);
	for (long i = 0; ready > 0 && !err && i < n; i++)
		err = kswitch(pp.fd, pp.hb);
	if (err) /* B may wait for a SWITCH that will not come */
		kwake(pp.fd, pp.hb);
	pthread_join(tb, NULL);
	kioctl(pp.fd, GORT_IOC_UNREGISTER, NULL);
	close(pp.fd);
	if (err || pp.err || ready < 0) {
		fprintf(stderr, "target: SWITCH ping-pong: A %s, B %s\n", strerror(-err),
			strerror(-pp.err));
		return 1;
	}
	printf("done kswitch=%ld\n", n);
	return 0;
}

/* ---- --kblock: blocks in syscall regions with kernel assist ---- */

static int kb_pipe[2];
static int kb_n;
static int kb_round; /* atomic: the read A is in (1-based), or has finished */

static void kb_reader(void *arg)
{
	char c;

	(void)arg;
	for (int i = 1; i <= kb_n; i++) {
		__atomic_store_n(&kb_round, i, __ATOMIC_RELEASE);
		if (GORT_BLOCKING(read(kb_pipe[0], &c, 1)) != 1)
			abort();
	}
	gort_wg_done(&wg);
}

static void kb_writer(void *arg)
{
	(void)arg;
	for (int i = 1; i <= kb_n; i++) {
		/* One proc: this runs only while the reader's proc is handed over. */
		while (__atomic_load_n(&kb_round, __ATOMIC_ACQUIRE) != i)
			gort_yield();
		if (write(kb_pipe[1], "x", 1) != 1)
			abort();
	}
	gort_wg_done(&wg);
}

static int kblock_main(int argc, char **argv)
{
	struct gort_stats st;
	char c;

	kb_n = argc > 2 ? atoi(argv[2]) : 50;
	if (pipe(kb_pipe))
		return 1;
	printf("ready pid=%d\n", (int)getpid());
	fflush(stdout);
	if (read(0, &c, 1) != 1)
		return 1;
	gort_wg_add(&wg, 2);
	gort_go(kb_reader, NULL);
	gort_go(kb_writer, NULL);
	gort_wg_wait(&wg);
	gort_stats(&st);
	printf("done kblock=%d kassist=%lld handoffs=%lld kassist_handoffs=%lld\n", kb_n,
	       (long long)st.kassist, (long long)st.syscall_handoffs,
	       (long long)st.kassist_handoffs);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--kswitch"))
		return kswitch_main(argc > 2 ? atol(argv[2]) : 1000);
	if (argc > 1 && !strcmp(argv[1], "--kblock"))
		return gort_main(kblock_main, argc, argv);
	return gort_main(real_main, argc, argv);
}
