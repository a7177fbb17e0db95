// SPDX-License-Identifier: MIT
/*
 * A buffered reader over a connection (Go's bufio.Reader, the parts a line
 * or record oriented protocol needs: Read, ReadSlice, io.ReadFull).
 *
 * Invariant: buf[r, w) holds the bytes read from the connection and not
 * yet handed out; 0 <= r <= w <= size. Data is slid to the front only when
 * room is needed at the end, so a slice handed out by read_slice stays
 * valid until the next call. eof records that the connection reported end
 * of stream, so that the buffered rest is served first and the reader
 * never reads past the end twice.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

#define BUFREADER_DEFAULT_SIZE 4096

struct gort_bufreader {
	gort_conn *conn;
	size_t size;
	size_t r, w;
	bool eof;
	char buf[];
};

gort_bufreader *gort_bufreader_new(gort_conn *c, size_t size)
{
	gort_bufreader *br;

	if (size == 0)
		size = BUFREADER_DEFAULT_SIZE;
	br = malloc(sizeof(*br) + size);
	if (!br) {
		set_errmsg("gort_bufreader_new: out of memory (%zu bytes)", size);
		return NULL;
	}
	br->conn = c;
	br->size = size;
	br->r = br->w = 0;
	br->eof = false;
	return br;
}

void gort_bufreader_free(gort_bufreader *br)
{
	free(br);
}

size_t gort_bufreader_buffered(const gort_bufreader *br)
{
	return br->w - br->r;
}

/* Reads once from the connection into the free space at the end, sliding
 * the unread bytes to the front first when the end is full. Returns the
 * count (0 at end of stream) or a negative code with *err. */
static ssize_t fill(gort_bufreader *br, gort_error **err)
{
	ssize_t n;

	if (br->eof)
		return 0;
	if (br->r > 0 && br->w == br->size) {
		memmove(br->buf, br->buf + br->r, br->w - br->r);
		br->w -= br->r;
		br->r = 0;
	}
	n = gort_conn_read(br->conn, br->buf + br->w, br->size - br->w, err);
	if (n > 0)
		br->w += (size_t)n;
	else if (n == 0)
		br->eof = true;
	return n;
}

ssize_t gort_bufreader_read(gort_bufreader *br, void *p, size_t len, gort_error **err)
{
	size_t n;

	if (err)
		*err = NULL;
	if (len == 0)
		return 0;
	if (br->r == br->w) {
		ssize_t got;

		if (br->eof)
			return 0;
		/* Large read, empty buffer: straight into p, no copy (as bufio). */
		if (len >= br->size) {
			got = gort_conn_read(br->conn, p, len, err);
			if (got == 0)
				br->eof = true;
			return got;
		}
		br->r = br->w = 0;
		got = fill(br, err);
		if (got <= 0)
			return got;
	}
	n = br->w - br->r < len ? br->w - br->r : len;
	memcpy(p, br->buf + br->r, n);
	br->r += n;
	return (ssize_t)n;
}

ssize_t gort_bufreader_read_full(gort_bufreader *br, void *p, size_t len, gort_error **err)
{
	size_t got = 0;

	if (err)
		*err = NULL;
	while (got < len) {
		ssize_t n = gort_bufreader_read(br, (char *)p + got, len - got, err);

		if (n < 0)
			return n;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

ssize_t gort_bufreader_read_slice(gort_bufreader *br, int delim, const char **p, gort_error **err)
{
	size_t scanned = 0; /* bytes of buf[r, w) already known to hold no delim */

	if (err)
		*err = NULL;
	for (;;) {
		char *start = br->buf + br->r;
		char *hit = memchr(start + scanned, delim, br->w - br->r - scanned);
		size_t n;
		ssize_t got;

		if (hit) {
			n = (size_t)(hit - start) + 1;
			goto slice;
		}
		scanned = br->w - br->r;
		if (scanned == br->size) {
			/* Full without a delim: hand out the whole buffer. */
			n = scanned;
			goto slice;
		}
		got = fill(br, err);
		if (got < 0)
			return got;
		if (got == 0) {
			/* End of stream: the rest, without a delim (0 once empty). */
			n = br->w - br->r;
			goto slice;
		}
		continue;
	slice:
		*p = br->buf + br->r;
		br->r += n;
		return (ssize_t)n;
	}
}
