/* SPDX-License-Identifier: MIT */
/*
 * gort-httphello's server: a minimal HTTP/1.1 "hello world" (the workload
 * of shared/peers/go/httphello), shared with gort-bench (workload
 * httphello) and the library's selftests, which run it in-process.
 */
#ifndef GORT_HTTPHELLO_H
#define GORT_HTTPHELLO_H

#include <stdint.h>

#include <gort.h>

struct http_server {
	gort_listener *listener;
	gort_waitgroup conns; /* one count per connection goroutine still running */
	int64_t accepted;     /* atomic: connections accepted */
	int64_t requests;     /* atomic: requests answered 200 */
	int64_t bad_requests; /* atomic: requests answered 4xx/5xx (then closed) */
	int64_t active;	      /* atomic: connection goroutines running now */
};

/*
 * Accepts connections on s->listener until it is closed, one goroutine
 * each. Every request (any method and path) is answered like Go's
 * net/http with a handler that writes "Hello, World!":
 *
 *	HTTP/1.1 200 OK
 *	Date: <now, RFC 7231>
 *	Content-Length: 13
 *	Content-Type: text/plain; charset=utf-8
 *
 *	Hello, World!
 *
 * Keep-alive (HTTP/1.1 by default, HTTP/1.0 with "Connection: keep-alive");
 * pipelining-safe: requests are parsed out of the read buffer one after
 * another and answered in order, the answers to all requests that arrived
 * together sent in one write. A request body (Content-Length) is read and
 * dropped. Malformed requests get 400 (a request head over 8 KiB: 431,
 * chunked bodies: 501) with "Connection: close", and the connection is
 * closed, as Go does. Temporary accept errors back off 5 ms..1 s. Returns
 * 0 when the listener was closed, else a negative code; gort_wg_wait(&s->conns)
 * waits for the connection goroutines.
 */
int http_serve(struct http_server *s);

#endif
