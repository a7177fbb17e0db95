// SPDX-License-Identifier: MIT
/*
 * gort-httphello: the minimal HTTP/1.1 "hello world" server (http_server.c).
 *
 *   gort-httphello [-l ADDR] [-lifetime SECS]
 *
 * Listens on ADDR (default 127.0.0.1:8080), prints "# listening on ADDR"
 * on stderr (the line tools/bench's scripts wait for, as the Go peer's),
 * and serves until killed, or for SECS seconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gort.h>

#include "http.h"

static const char *listen_addr = "127.0.0.1:8080";
static double lifetime;

static void stop_server(void *arg)
{
	gort_listener_close(arg, NULL);
}

static int real_main(int argc, char **argv)
{
	struct http_server s = { 0 };
	gort_error *err;
	char addr[128];

	(void)argc;
	(void)argv;
	s.listener = gort_listen("tcp", listen_addr, &err);
	if (!s.listener) {
		char *msg = gort_error_string(err);

		fprintf(stderr, "gort-httphello: %s\n", msg);
		free(msg);
		gort_error_free(err);
		return 1;
	}
	gort_listener_addr(s.listener, addr, sizeof(addr));
	fprintf(stderr, "# listening on %s\n", addr);
	if (lifetime > 0)
		gort_after_func((int64_t)(lifetime * 1e9), stop_server, s.listener);
	return http_serve(&s) < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "-l") == 0 && v) {
			listen_addr = v;
			i++;
		} else if (strcmp(a, "-lifetime") == 0 && v && atof(v) > 0) {
			lifetime = atof(v);
			i++;
		} else {
			fprintf(stderr, "usage: gort-httphello [-l ADDR] [-lifetime SECS]\n");
			return 2;
		}
	}
	return gort_main(real_main, argc, argv);
}
