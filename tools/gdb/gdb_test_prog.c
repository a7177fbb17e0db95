// SPDX-License-Identifier: MIT
/*
 * The program tools/gdb/selftest debugs: goroutines parked in known places,
 * then a stop in at_breakpoint() on goroutine 1 ("main").
 *   goroutine 2 "receiver": chan receive in recv_blocker()
 *   goroutine 3: sync.WaitGroup.Wait in wg_blocker()
 *   goroutine 4: sleep in sleep_blocker()
 */
#include <stdio.h>

#include <gort.h>

static gort_chan *ch;
static gort_waitgroup never_done, started;
static volatile int sink;

__attribute__((noinline)) static void recv_blocker(void *arg)
{
	int v = 0;

	(void)arg;
	gort_wg_done(&started);
	sink = gort_chan_recv(ch, &v) + v;
}

__attribute__((noinline)) static void wg_blocker(void *arg)
{
	(void)arg;
	gort_wg_done(&started);
	gort_wg_wait(&never_done);
	sink = 2;
}

__attribute__((noinline)) static void sleep_blocker(void *arg)
{
	(void)arg;
	gort_wg_done(&started);
	gort_sleep(600 * GORT_SECOND);
	sink = 3;
}

/* gdb stops here. Not static, so that `break at_breakpoint` always resolves. */
__attribute__((noinline)) void at_breakpoint(void);
__attribute__((noinline)) void at_breakpoint(void)
{
	__asm__ volatile("" ::: "memory");
}

static int real_main(int argc, char **argv)
{
	struct gort_go_opts named = { .name = "receiver" };

	(void)argc;
	(void)argv;
	ch = gort_chan_make(sizeof(int), 0);
	gort_wg_add(&never_done, 1);
	gort_wg_add(&started, 3);
	gort_go_opts(recv_blocker, NULL, &named);
	gort_go(wg_blocker, NULL);
	gort_go(sleep_blocker, NULL);
	gort_wg_wait(&started);
	gort_sleep(100 * GORT_MILLISECOND); /* they park right after saying so */
	at_breakpoint();
	sink = 1;
	return 0;
}

int main(int argc, char **argv)
{
	return gort_main(real_main, argc, argv);
}
