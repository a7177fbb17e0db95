// SPDX-License-Identifier: MIT
/*
 * The line echo server (echo.h): the design's handleConnection, in C.
 *
 *	for {
 *		conn, err := listener.Accept()
 *		...
 *		go handleConnection(conn)
 *	}
 *
 * Each connection's goroutine owns its connection and buffered reader and
 * frees both; the server only counts them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "echo.h"

#define ECHO_BUFFER 4096

struct echo_conn {
	struct echo_server *server;
	gort_conn *conn;
};

static void handle_connection(void *arg)
{
	struct echo_conn *ec = arg;
	struct echo_server *s = ec->server;
	gort_conn *c = ec->conn;
	gort_bufreader *br = gort_bufreader_new(c, ECHO_BUFFER);

	free(ec);
	while (br) {
		const char *line;
		ssize_t n = gort_bufreader_read_slice(br, '\n', &line, NULL);

		if (n <= 0) /* end of stream or an error: either way, done */
			break;
		if (gort_conn_write(c, line, (size_t)n, NULL) < 0)
			break;
	}
	gort_bufreader_free(br);
	gort_conn_close(c, NULL);
	__atomic_sub_fetch(&s->active, 1, __ATOMIC_RELEASE);
	gort_wg_done(&s->conns);
}

/* Out of descriptors or memory: the condition may pass (Go's Temporary()). */
static bool temporary(const gort_error *err)
{
	return gort_error_is_errno(err, EMFILE) || gort_error_is_errno(err, ENFILE) ||
	       gort_error_is_errno(err, ENOBUFS) || gort_error_is_errno(err, ENOMEM) ||
	       gort_error_is_code(err, GORT_ENOMEM);
}

int echo_serve(struct echo_server *s)
{
	int64_t backoff = 0;

	for (;;) {
		gort_error *err;
		gort_conn *c = gort_listener_accept(s->listener, &err);
		struct echo_conn *ec;
		int code;

		if (!c) {
			code = gort_error_code(err);
			if (temporary(err)) {
				backoff = backoff ? backoff * 2 : 5 * GORT_MILLISECOND;
				if (backoff > GORT_SECOND)
					backoff = GORT_SECOND;
				gort_error_free(err);
				gort_sleep(backoff);
				continue;
			}
			gort_error_free(err);
			return code == GORT_ECLOSED ? 0 : code;
		}
		backoff = 0;
		ec = malloc(sizeof(*ec));
		if (!ec) {
			gort_conn_close(c, NULL);
			continue;
		}
		ec->server = s;
		ec->conn = c;
		__atomic_add_fetch(&s->accepted, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&s->active, 1, __ATOMIC_RELAXED);
		gort_wg_add(&s->conns, 1);
		if (gort_go(handle_connection, ec) < 0) {
			__atomic_sub_fetch(&s->active, 1, __ATOMIC_RELAXED);
			gort_wg_done(&s->conns);
			gort_conn_close(c, NULL);
			free(ec);
		}
	}
}
