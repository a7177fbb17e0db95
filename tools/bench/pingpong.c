// SPDX-License-Identifier: MIT
/*
 * Workload "pingpong": shared/peers/go/pingpong/main.go on libgort. Two
 * goroutines bounce an int over two unbuffered channels: A sends v on ping,
 * B receives it and sends v+1 on pong, A receives; R round trips (-r,
 * default 2,000,000), then A closes ping and reports v (checked == R). Run
 * at GOMAXPROCS 1 then 2, each after an untimed 10,000-round-trip warm-up.
 *     RESULT pingpong.p1 / pingpong.p2  ns_per_roundtrip = wall / R
 */
#include "bench.h"

GORT_CHAN_TYPE(int_chan, int64_t);

static int64_t rounds_arg = 2000000;

struct pp {
	int_chan ping, pong, done;
	int64_t r;
	gort_waitgroup pong_exit; /* the channels are freed after the ponger is gone */
};

static void ponger(void *arg)
{
	struct pp *pp = arg;
	int64_t v;

	while (gort_recv(pp->ping, &v))
		gort_send(pp->pong, v + 1);
	gort_wg_done(&pp->pong_exit);
}

static void pinger(void *arg)
{
	struct pp *pp = arg;
	int64_t v = 0;

	for (int64_t i = 0; i < pp->r; i++) {
		gort_send(pp->ping, v);
		gort_recv(pp->pong, &v);
	}
	gort_close(pp->ping);
	gort_send(pp->done, v);
}

static int64_t run(int64_t r)
{
	struct pp pp = { .ping = gort_make(int_chan, 0),
			 .pong = gort_make(int_chan, 0),
			 .done = gort_make(int_chan, 0),
			 .r = r };
	int64_t t0 = gort_now(), v = 0, d;

	gort_wg_add(&pp.pong_exit, 1);
	gort_go(ponger, &pp);
	gort_go(pinger, &pp);
	gort_recv(pp.done, &v);
	d = gort_now() - t0;
	if (v != r) {
		fprintf(stderr, "# check failed %lld %lld\n", (long long)v, (long long)r);
		exit(1);
	}
	gort_wg_wait(&pp.pong_exit);
	gort_free(pp.ping);
	gort_free(pp.pong);
	gort_free(pp.done);
	return d;
}

static int pingpong_body(int argc, char **argv)
{
	char name[32];

	(void)argc;
	(void)argv;
	for (int p = 1; p <= 2; p++) {
		int64_t d;

		gort_maxprocs(p);
		run(10000);
		d = run(rounds_arg);
		snprintf(name, sizeof(name), "pingpong.p%d", p);
		bench_result(name, "ns_per_roundtrip", (double)d / (double)rounds_arg);
	}
	return 0;
}

int pingpong_main(int argc, char **argv)
{
	static const struct bench_flag flags[] = {
		{ "r", BF_INT, &rounds_arg, "round trips (default 2000000)" },
	};

	bench_parse_flags(argc, argv, flags, 1);
	if (rounds_arg <= 0) {
		fprintf(stderr, "gort-bench pingpong: -r must be positive\n");
		return 2;
	}
	return bench_gort_main(pingpong_body, argc, argv);
}
