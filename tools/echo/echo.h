/* SPDX-License-Identifier: MIT */
/*
 * The line echo server of gort-echo (the design's TCP server: a goroutine
 * per connection, lines read with the buffered reader), shared with the
 * library's selftests, which run it in-process.
 */
#ifndef GORT_ECHO_H
#define GORT_ECHO_H

#include <stdint.h>

#include <gort.h>

struct echo_server {
	gort_listener *listener;
	gort_waitgroup conns; /* one count per connection goroutine still running */
	int64_t accepted;     /* atomic: connections accepted so far */
	int64_t active;	      /* atomic: connection goroutines running now */
};

/*
 * Accepts connections on s->listener until it is closed, each served by its
 * own goroutine: every line read (up to and including '\n'; a line longer
 * than the 4 KiB buffer in pieces, an unterminated last line as it is) is
 * written back, until the client closes or an error. Temporary accept
 * errors (out of descriptors) back off 5 ms..1 s, as Go's http.Server does.
 * Returns 0 when the listener was closed, else a negative code. It does not
 * wait for the connection goroutines: gort_wg_wait(&s->conns) does.
 */
int echo_serve(struct echo_server *s);

#endif
