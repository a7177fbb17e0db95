// SPDX-License-Identifier: MIT
/*
 * gort-echo: the line echo server (echo_server.c) and a load client.
 *
 *   gort-echo [-l ADDR]                     serve (default 127.0.0.1:7007) until killed
 *   gort-echo -c ADDR [-n CONNS] [-d SECS]  client: CONNS connections send lines and
 *                                           check their echo for SECS seconds
 *   gort-echo -demo [-n CONNS] [-d SECS]    both in one process (make demo): prints
 *                                           throughput and latency
 *
 * The client dials all connections first, then releases one goroutine per
 * connection at once; each writes a 64-byte line, reads the echo with the
 * buffered reader, checks it byte for byte, and repeats until the time is
 * up. A mismatch or error ends the program with status 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gort.h>

#include "echo.h"

#define LINE 64

static const char *listen_addr = "127.0.0.1:7007";
static const char *client_addr;
static bool demo;
static int nconns = 50;
static double seconds = 3;

struct client {
	const char *addr;
	gort_conn *conn;
	gort_waitgroup *done;
	gort_waitgroup *start;
	int64_t deadline;
	int id;
	/* results */
	int64_t round_trips;
	int64_t *lat; /* ns, one per round trip, up to cap */
	size_t nlat, cap;
	bool failed;
};

static void client_conn(void *arg)
{
	struct client *cl = arg;
	gort_bufreader *br = gort_bufreader_new(cl->conn, 4096);
	char out[LINE];

	gort_wg_wait(cl->start);
	for (uint64_t i = 0; br; i++) {
		const char *echo;
		int64_t t0 = gort_now();
		ssize_t n;

		if (t0 >= cl->deadline)
			break;
		/* 63 printable bytes and '\n': connection and sequence number. */
		memset(out, '.', sizeof(out));
		snprintf(out, sizeof(out), "conn %d line %llu ", cl->id, (unsigned long long)i);
		out[strlen(out)] = '.';
		out[LINE - 1] = '\n';
		if (gort_conn_write(cl->conn, out, LINE, NULL) != LINE) {
			fprintf(stderr, "gort-echo: conn %d: write: %s\n", cl->id, gort_errmsg());
			cl->failed = true;
			break;
		}
		n = gort_bufreader_read_slice(br, '\n', &echo, NULL);
		if (n != LINE || memcmp(echo, out, LINE) != 0) {
			fprintf(stderr, "gort-echo: conn %d: line %llu: %s\n", cl->id,
				(unsigned long long)i, n < 0 ? gort_errmsg() : "echo differs");
			cl->failed = true;
			break;
		}
		cl->round_trips++;
		if (cl->nlat < cl->cap)
			cl->lat[cl->nlat++] = gort_now() - t0;
	}
	gort_bufreader_free(br);
	gort_conn_close(cl->conn, NULL);
	gort_wg_done(cl->done);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Runs the client against addr; prints one summary line. Returns 0 when
 * every echo matched. */
static int run_client(const char *addr)
{
	struct client *cl = calloc((size_t)nconns, sizeof(*cl));
	gort_waitgroup start = GORT_WAITGROUP_INIT, done = GORT_WAITGROUP_INIT;
	int64_t t0, elapsed, total = 0, *all;
	size_t nall = 0;
	bool failed = false;

	if (!cl)
		return 1;
	for (int i = 0; i < nconns; i++) {
		gort_error *err;

		cl[i].conn = gort_dial("tcp", addr, NULL, &err);
		if (!cl[i].conn) {
			char *s = gort_error_string(err);

			fprintf(stderr, "gort-echo: %s\n", s);
			free(s);
			gort_error_free(err);
			return 1;
		}
		cl[i].id = i;
		cl[i].start = &start;
		cl[i].done = &done;
		cl[i].cap = 1 << 17; /* touched only as used */
		cl[i].lat = malloc(cl[i].cap * sizeof(int64_t));
		if (!cl[i].lat)
			cl[i].cap = 0;
	}
	gort_wg_add(&start, 1);
	gort_wg_add(&done, nconns);
	for (int i = 0; i < nconns; i++)
		gort_go(client_conn, &cl[i]);
	t0 = gort_now();
	for (int i = 0; i < nconns; i++)
		cl[i].deadline = t0 + (int64_t)(seconds * 1e9);
	gort_wg_done(&start);
	gort_wg_wait(&done);
	elapsed = gort_now() - t0;

	for (int i = 0; i < nconns; i++) {
		total += cl[i].round_trips;
		nall += cl[i].nlat;
		failed |= cl[i].failed;
	}
	all = malloc((nall ? nall : 1) * sizeof(int64_t));
	nall = 0;
	for (int i = 0; i < nconns; i++) {
		if (all)
			memcpy(all + nall, cl[i].lat, cl[i].nlat * sizeof(int64_t));
		nall += cl[i].nlat;
		free(cl[i].lat);
	}
	if (all && nall) {
		qsort(all, nall, sizeof(int64_t), cmp_i64);
		printf("echo: %d connections, %.1f s: %lld lines of %d bytes echoed and checked, "
		       "%.0f lines/s (%.1f MB/s each way), latency p50 %.0f us, p99 %.0f us%s\n",
		       nconns, elapsed / 1e9, (long long)total, LINE, total / (elapsed / 1e9),
		       total * (double)LINE / (elapsed / 1e3), all[nall / 2] / 1e3,
		       all[nall * 99 / 100] / 1e3, failed ? " -- MISMATCH" : "");
	} else {
		printf("echo: no round trips%s\n", failed ? " -- MISMATCH" : "");
	}
	free(all);
	free(cl);
	return failed ? 1 : 0;
}

static void serve_goroutine(void *arg)
{
	echo_serve(arg);
}

static int real_main(int argc, char **argv)
{
	struct echo_server s = { 0 };
	gort_error *err;
	char addr[128];
	int rc;

	(void)argc;
	(void)argv;
	if (client_addr)
		return run_client(client_addr);
	s.listener = gort_listen("tcp", demo ? "127.0.0.1:0" : listen_addr, &err);
	if (!s.listener) {
		char *msg = gort_error_string(err);

		fprintf(stderr, "gort-echo: %s\n", msg);
		free(msg);
		gort_error_free(err);
		return 1;
	}
	gort_listener_addr(s.listener, addr, sizeof(addr));
	if (!demo) {
		fprintf(stderr, "gort-echo: listening on %s\n", addr);
		rc = echo_serve(&s);
		return rc < 0 ? 1 : 0;
	}
	gort_go(serve_goroutine, &s);
	rc = run_client(addr);
	gort_listener_close(s.listener, NULL);
	gort_wg_wait(&s.conns);
	return rc;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "-demo") == 0) {
			demo = true;
		} else if (strcmp(a, "-l") == 0 && v) {
			listen_addr = v;
			i++;
		} else if (strcmp(a, "-c") == 0 && v) {
			client_addr = v;
			i++;
		} else if (strcmp(a, "-n") == 0 && v && atoi(v) > 0) {
			nconns = atoi(v);
			i++;
		} else if (strcmp(a, "-d") == 0 && v && atof(v) > 0) {
			seconds = atof(v);
			i++;
		} else {
			fprintf(stderr,
				"usage: gort-echo [-l ADDR] | -c ADDR [-n CONNS] [-d SECS] | "
				"-demo [-n CONNS] [-d SECS]\n");
			return 2;
		}
	}
	return gort_main(real_main, argc, argv);
}
