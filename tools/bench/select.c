// SPDX-License-Identifier: MIT
/*
 * Workload "select": shared/peers/go/select/main.go on libgort. Four
 * unbuffered int channels, one sender goroutine each sending M/4 values
 * 0..M/4-1; one receiver does M 4-way selects over them and sums what it
 * got (checked). At GOMAXPROCS 2 then 1, each after an untimed run of M/100.
 * -m default 4,000,000.
 *     RESULT select.p2 / select.p1  ns_per_msg = wall / M
 */
#include "bench.h"

GORT_CHAN_TYPE(int_chan, int);

static int64_t m_arg = 4000000;

struct sel {
	int_chan c[4];
	int64_t per, m, sum;
	int next;
	int_chan done;
};

static void sender(void *arg)
{
	struct sel *s = arg;
	int_chan ch = s->c[__atomic_fetch_add(&s->next, 1, __ATOMIC_RELAXED)];
	int64_t per = s->per; /* s dies once the last value is received */

	for (int i = 0; i < per; i++)
		gort_send(ch, i);
}

static void receiver(void *arg)
{
	struct sel *s = arg;
	int64_t sum = 0;
	int v;

	for (int64_t n = 0; n < s->m; n++) {
		struct gort_select_case cs[4] = {
			gort_case_recv(s->c[0], &v),
			gort_case_recv(s->c[1], &v),
			gort_case_recv(s->c[2], &v),
			gort_case_recv(s->c[3], &v),
		};

		gort_select(cs, 4, GORT_FOREVER);
		sum += v;
	}
	s->sum = sum;
	gort_send(s->done, 1);
}

static int64_t run(int64_t m)
{
	struct sel s = { .per = m / 4, .m = m, .done = gort_make(int_chan, 0) };
	int64_t t0, d;
	int x;

	for (int i = 0; i < 4; i++)
		s.c[i] = gort_make(int_chan, 0);
	t0 = gort_now();
	for (int k = 0; k < 4; k++)
		gort_go(sender, &s);
	gort_go(receiver, &s);
	gort_recv(s.done, &x);
	d = gort_now() - t0;
	if (s.sum != 4 * s.per * (s.per - 1) / 2) {
		fprintf(stderr, "# check failed\n");
		exit(1);
	}
	for (int i = 0; i < 4; i++)
		gort_free(s.c[i]);
	gort_free(s.done);
	return d;
}

static int select_body(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	for (int p = 2; p >= 1; p--) {
		char name[32];
		int64_t d;

		gort_maxprocs(p);
		run(m_arg / 100);
		d = run(m_arg);
		snprintf(name, sizeof(name), "select.p%d", p);
		bench_result(name, "ns_per_msg", (double)d / (double)m_arg);
	}
	return 0;
}

int select_main(int argc, char **argv)
{
	static const struct bench_flag flags[] = {
		{ "m", BF_INT, &m_arg, "messages (default 4000000)" },
	};

	bench_parse_flags(argc, argv, flags, 1);
	if (m_arg < 400) {
		fprintf(stderr, "gort-bench select: -m must be at least 400\n");
		return 2;
	}
	return bench_gort_main(select_body, argc, argv);
}
