// SPDX-License-Identifier: MIT
/*
 * xcpu-latency: how long one cache line takes to move between two CPUs right
 * now. Two threads, pinned to the first two CPUs this process may use, hand a
 * counter back and forth through one line; the time per hand-over is one
 * one-way transfer. Prints "xcpu_ns=<ns>" on stdout, or a message on stderr
 * and exits 1 with fewer than two CPUs.
 *
 * Why it exists: on a virtual machine the host decides where the vCPUs run.
 * On this project's machine (AMD EPYC under KVM) a transfer takes ~30 ns when
 * both vCPUs share a core complex and ~170 ns when they do not, and that
 * changes from minute to minute. Workloads whose every operation crosses
 * CPUs (chanbuf, select, pingpong.p2) follow it, so tools/bench/compare
 * records it before every run.
 *
 *   xcpu-latency [-n HANDOVERS]   (default 200000: 6-35 ms)
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long handovers = 200000;
static int cpus[2];
/* The line the threads pass: even values are the first thread's turn. */
static long turn __attribute__((aligned(64)));

static int pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* Waits for value, then passes value + 1 on; every second value is ours. */
static void bounce(long first)
{
	for (long v = first; v < handovers; v += 2) {
		while (__atomic_load_n(&turn, __ATOMIC_ACQUIRE) != v)
			__builtin_ia32_pause();
		__atomic_store_n(&turn, v + 1, __ATOMIC_RELEASE);
	}
}

static void *second(void *arg)
{
	(void)arg;
	if (pin(cpus[1]) != 0)
		return (void *)1;
	bounce(1);
	return NULL;
}

int main(int argc, char **argv)
{
	struct timespec t0, t1;
	cpu_set_t allowed;
	pthread_t t;
	void *ret;
	int n = 0;

	if (argc == 3 && strcmp(argv[1], "-n") == 0 && atol(argv[2]) >= 2) {
		handovers = atol(argv[2]);
	} else if (argc != 1) {
		fprintf(stderr, "usage: xcpu-latency [-n HANDOVERS (>= 2)]\n");
		return 2;
	}
	if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) {
		perror("xcpu-latency: sched_getaffinity");
		return 1;
	}
	for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
		if (CPU_ISSET(c, &allowed))
			cpus[n++] = c;
	if (n < 2) {
		fprintf(stderr, "xcpu-latency: needs two CPUs, this process may use %d\n", n);
		return 1;
	}
	if (pin(cpus[0]) != 0 || pthread_create(&t, NULL, second, NULL) != 0) {
		fprintf(stderr, "xcpu-latency: cannot pin or start the second thread\n");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	bounce(0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (pthread_join(t, &ret) != 0 || ret) {
		fprintf(stderr, "xcpu-latency: cannot pin the second thread to CPU %d\n", cpus[1]);
		return 1;
	}
	printf("xcpu_ns=%.1f\n",
	       ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) /
		       (double)handovers);
	return 0;
}
