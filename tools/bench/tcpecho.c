// SPDX-License-Identifier: MIT
/*
 * Workload "tcpecho": shared/peers/go/tcpecho/main.go on libgort. The
 * definition (from the Go file; gort mapping in [brackets]):
 *
 * Server: listens on 127.0.0.1 (TCP, IPv4). One goroutine per accepted
 *   connection: loop { read exactly 64 bytes (io.ReadFull); write those 64
 *   bytes back }; exit on EOF/error. Go sockets are non-blocking +
 *   netpoller (epoll); TCP_NODELAY is on (Go's default).
 *   [gort_listen / gort_listener_accept / gort_go; gort_conn_read_full and
 *    gort_conn_write on the netpoller; TCP_NODELAY is gort's default too]
 * Client (load generator): C = 100 connections, all dialled (with
 *   TCP_NODELAY) BEFORE the clock starts. One goroutine per connection,
 *   released together by closing a start channel [a WaitGroup of count 1
 *   that is Done()], loop until DUR = 10 s have elapsed since the start:
 *     t = now; write 64 bytes (the round-trip counter as payload); read
 *     exactly 64 bytes; record now - t
 *   Round trips are counted per connection; latencies (ns) are all kept and
 *   merged at the end. elapsed = time from start until the last connection
 *   goroutine stops.
 *   RESULT tcpecho.<mode>  rt_per_s = total round trips / elapsed seconds
 *   RESULT tcpecho.<mode>  lat_p50_us / lat_p99_us / lat_max_us (nearest-rank on all samples)
 * Modes:
 *   -mode=both (default): server and client in ONE process (GOMAXPROCS = the
 *     CPUs: 2 here), name tcpecho.inproc
 *   -mode=server -addr=127.0.0.1:PORT -lifetime=60s: server only, prints
 *     "# listening on ADDR" on stderr, exits after lifetime
 *   -mode=client -addr=127.0.0.1:PORT: client only, name tcpecho.2proc
 *   (The 2-process comparison keeps Go's client as the fixed load
 *    generator and swaps the server: tools/bench/compare does that.)
 */
#include <unistd.h>

#include "bench.h"

#define MSG 64

static const char *mode_arg = "both";
static const char *addr_arg = "127.0.0.1:0";
static int64_t nconn_arg = 100;
static int64_t dur_arg = 10 * GORT_SECOND;
static int64_t life_arg = 60 * GORT_SECOND;

static void print_error(const char *what, gort_error *err)
{
	char *s = gort_error_string(err);

	fprintf(stderr, "%s: %s\n", what, s ? s : "(out of memory)");
	free(s);
	gort_error_free(err);
}

static void echo_conn(void *arg)
{
	gort_conn *c = arg;
	unsigned char buf[MSG];

	while (gort_conn_read_full(c, buf, MSG, NULL) == MSG)
		if (gort_conn_write(c, buf, MSG, NULL) != MSG)
			break;
	gort_conn_close(c, NULL);
}

static void serve(void *arg)
{
	gort_listener *ln = arg;

	for (;;) {
		gort_conn *c = gort_listener_accept(ln, NULL);

		if (!c)
			return;
		gort_go(echo_conn, c);
	}
}

struct client_conn {
	gort_conn *conn;
	gort_waitgroup *start, *done;
	const int64_t *t0;
	struct bench_vec lat;
};

static void client_conn(void *arg)
{
	struct client_conn *cc = arg;
	unsigned char out[MSG] = { 0 }, in[MSG];
	int64_t deadline;

	bench_vec_init(&cc->lat, 1 << 16);
	gort_wg_wait(cc->start);
	deadline = *cc->t0 + dur_arg;
	for (uint64_t n = 0;; n++) {
		int64_t t = gort_now();
		gort_error *err;

		if (t >= deadline)
			break;
		memcpy(out, &n, sizeof(n)); /* little-endian on x86-64, as Go's PutUint64 */
		if (gort_conn_write(cc->conn, out, MSG, &err) != MSG) {
			print_error("write", err);
			exit(1);
		}
		if (gort_conn_read_full(cc->conn, in, MSG, &err) != MSG) {
			print_error("read", err ? err : gort_error_new(0, "unexpected EOF"));
			exit(1);
		}
		bench_vec_push(&cc->lat, gort_now() - t);
	}
	gort_wg_done(cc->done);
}

static void client(const char *name, const char *addr)
{
	struct client_conn *cc = calloc((size_t)nconn_arg, sizeof(*cc));
	gort_waitgroup start = GORT_WAITGROUP_INIT, done = GORT_WAITGROUP_INIT;
	struct bench_vec all;
	int64_t t0 = 0, el;
	char rname[64];

	if (!cc)
		abort();
	for (int64_t i = 0; i < nconn_arg; i++) {
		gort_error *err;

		cc[i].conn = gort_dial("tcp", addr, NULL, &err);
		if (!cc[i].conn) {
			print_error("dial", err);
			exit(1);
		}
		gort_conn_set_nodelay(cc[i].conn, true);
		cc[i].start = &start;
		cc[i].done = &done;
		cc[i].t0 = &t0;
	}
	gort_wg_add(&start, 1);
	gort_wg_add(&done, nconn_arg);
	for (int64_t i = 0; i < nconn_arg; i++)
		gort_go(client_conn, &cc[i]);
	t0 = gort_now();
	gort_wg_done(&start); /* close(start) */
	gort_wg_wait(&done);
	el = gort_now() - t0;
	for (int64_t i = 0; i < nconn_arg; i++)
		gort_conn_close(cc[i].conn, NULL);

	bench_vec_init(&all, 1 << 20);
	for (int64_t i = 0; i < nconn_arg; i++) {
		for (size_t j = 0; j < cc[i].lat.n; j++)
			bench_vec_push(&all, cc[i].lat.v[j]);
		free(cc[i].lat.v);
	}
	bench_sort_i64(all.v, all.n);
	snprintf(rname, sizeof(rname), "%s", name);
	bench_result(rname, "rt_per_s", (double)all.n / ((double)el / 1e9));
	bench_result(rname, "lat_p50_us", (double)bench_pct(all.v, all.n, 0.50) / 1e3);
	bench_result(rname, "lat_p99_us", (double)bench_pct(all.v, all.n, 0.99) / 1e3);
	bench_result(rname, "lat_max_us", (double)bench_pct(all.v, all.n, 1.0) / 1e3);
	free(all.v);
	free(cc);
}

static void lifetime_over(void *arg)
{
	(void)arg;
	fflush(stdout);
	_exit(0);
}

static int tcpecho_body(int argc, char **argv)
{
	gort_listener *ln;
	gort_error *err;
	char addr[128];

	(void)argc;
	(void)argv;
	if (strcmp(mode_arg, "client") == 0) {
		client("tcpecho.2proc", addr_arg);
		return 0;
	}
	ln = gort_listen("tcp", addr_arg, &err);
	if (!ln) {
		print_error("listen", err);
		return 1;
	}
	gort_listener_addr(ln, addr, sizeof(addr));
	if (strcmp(mode_arg, "server") == 0) {
		fprintf(stderr, "# listening on %s\n", addr);
		gort_after_func(life_arg, lifetime_over, NULL);
		serve(ln);
		return 0;
	}
	gort_go(serve, ln);
	client("tcpecho.inproc", addr);
	return 0;
}

int tcpecho_main(int argc, char **argv)
{
	static const struct bench_flag flags[] = {
		{ "mode", BF_STR, &mode_arg, "both | server | client (default both)" },
		{ "addr", BF_STR, &addr_arg, "listen / connect address (default 127.0.0.1:0)" },
		{ "c", BF_INT, &nconn_arg, "connections (default 100)" },
		{ "d", BF_DUR, &dur_arg, "client duration (default 10s)" },
		{ "lifetime", BF_DUR, &life_arg,
		  "server-only mode: exit after this long (default 60s)" },
	};

	bench_parse_flags(argc, argv, flags, 5);
	if (strcmp(mode_arg, "both") != 0 && strcmp(mode_arg, "server") != 0 &&
	    strcmp(mode_arg, "client") != 0) {
		fprintf(stderr, "bad -mode\n");
		return 2;
	}
	if (nconn_arg <= 0) {
		fprintf(stderr, "gort-bench tcpecho: -c must be positive\n");
		return 2;
	}
	return bench_gort_main(tcpecho_body, argc, argv);
}
