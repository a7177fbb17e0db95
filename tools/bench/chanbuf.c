// SPDX-License-Identifier: MIT
/*
 * Workload "chanbuf": shared/peers/go/chanbuf/main.go on libgort. At
 * GOMAXPROCS 2, NP producers send TOTAL/NP consecutive int64 values each on
 * one channel of capacity 1024; NC consumers receive until it is closed (a
 * goroutine closes it once every producer is done) and add what they got
 * (checked == TOTAL*(TOTAL-1)/2). Cases 2P2C then 1P1C, each after an
 * untimed run of TOTAL/100. -total default 20,000,000.
 *     RESULT chanbuf.2p2c / chanbuf.1p1c  mops_per_s, ns_per_msg
 */
#include "bench.h"

GORT_CHAN_TYPE(i64_chan, int64_t);

static int64_t total_arg = 20000000;

struct cb {
	i64_chan ch;
	int64_t per;
	int64_t next_base;
	int64_t sum;
	gort_waitgroup pw, cw;
};

static void producer(void *arg)
{
	struct cb *cb = arg;
	int64_t base = __atomic_fetch_add(&cb->next_base, cb->per, __ATOMIC_RELAXED);

	for (int64_t i = 0; i < cb->per; i++)
		gort_send(cb->ch, base + i);
	gort_wg_done(&cb->pw);
}

static void consumer(void *arg)
{
	struct cb *cb = arg;
	int64_t s = 0, v;

	while (gort_recv(cb->ch, &v))
		s += v;
	__atomic_add_fetch(&cb->sum, s, __ATOMIC_RELAXED);
	gort_wg_done(&cb->cw);
}

static void closer(void *arg)
{
	struct cb *cb = arg;

	gort_wg_wait(&cb->pw);
	gort_close(cb->ch);
}

static int64_t run(int64_t total, int np, int nc)
{
	struct cb cb = { .ch = gort_make(i64_chan, 1024), .per = total / np };
	int64_t t0, d;

	gort_wg_add(&cb.pw, np);
	gort_wg_add(&cb.cw, nc);
	t0 = gort_now();
	for (int k = 0; k < np; k++)
		gort_go(producer, &cb);
	for (int k = 0; k < nc; k++)
		gort_go(consumer, &cb);
	gort_go(closer, &cb);
	gort_wg_wait(&cb.cw);
	d = gort_now() - t0;
	if (cb.sum != total * (total - 1) / 2) {
		fprintf(stderr, "# check failed\n");
		exit(1);
	}
	gort_free(cb.ch);
	return d;
}

static int chanbuf_body(int argc, char **argv)
{
	static const int cases[][2] = { { 2, 2 }, { 1, 1 } };

	(void)argc;
	(void)argv;
	for (int c = 0; c < 2; c++) {
		int np = cases[c][0], nc = cases[c][1];
		char name[32];
		int64_t d;

		snprintf(name, sizeof(name), "chanbuf.%dp%dc", np, nc);
		run(total_arg / 100, np, nc);
		d = run(total_arg, np, nc);
		bench_result(name, "mops_per_s", (double)total_arg / ((double)d / 1e9) / 1e6);
		bench_result(name, "ns_per_msg", (double)d / (double)total_arg);
	}
	return 0;
}

int chanbuf_main(int argc, char **argv)
{
	static const struct bench_flag flags[] = {
		{ "total", BF_INT, &total_arg, "values per case (default 20000000)" },
	};

	bench_parse_flags(argc, argv, flags, 1);
	if (total_arg < 200) {
		fprintf(stderr, "gort-bench chanbuf: -total must be at least 200\n");
		return 2;
	}
	gort_maxprocs(2); /* runtime.GOMAXPROCS(2) */
	return bench_gort_main(chanbuf_body, argc, argv);
}
