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
 * Usage: target [SPAWNS ROUNDS SYSCALLS]  (defaults 100 1000 50)
 */
#include <gort.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

GORT_CHAN_TYPE(int_chan, int);

static int spawns = 100, rounds = 1000, syscalls = 50;
static gort_waitgroup wg;
static int_chan ping, pong;

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

static int real_main(int argc, char **argv)
{
	char c;

	if (argc == 4) {
		spawns = atoi(argv[1]);
		rounds = atoi(argv[2]);
		syscalls = atoi(argv[3]);
	}
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
	return 0;
}

int main(int argc, char **argv)
{
	return gort_main(real_main, argc, argv);
}
