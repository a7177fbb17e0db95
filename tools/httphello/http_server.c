// SPDX-License-Identifier: MIT
/*
 * The minimal HTTP/1.1 server of gort-httphello (http.h).
 *
 * One goroutine per connection owns an 8 KiB input buffer and a 16 KiB
 * output buffer. Invariants of the loop:
 * - in[r, w) holds bytes received and not yet parsed; a request is parsed
 *   only once its whole head (up to the blank line) is in the buffer, so a
 *   request split over several reads is never answered early;
 * - answers are appended to out in the order the requests came, and out is
 *   written (write-all) when the buffer has no complete request left, or
 *   before it would overflow: pipelined requests are answered in order,
 *   in as few writes as the batching allows;
 * - body_left counts body bytes of the current request still to be
 *   dropped; they are consumed before the next request is parsed.
 * A malformed request is answered with an error status and "Connection:
 * close", after the answers to the requests before it, then the
 * connection is closed (as net/http does).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http.h"

#define HTTP_IN 8192
#define HTTP_OUT 16384
#define HTTP_MAX_ANSWER 512 /* room one answer needs in out */

static const char body[] = "Hello, World!";

struct http_conn {
	struct http_server *server;
	gort_conn *conn;
	size_t r, w, olen;
	int64_t body_left;
	time_t date_sec; /* the second date[] shows */
	char date[64];	 /* "Date: Mon, 02 Jan 2006 15:04:05 GMT\r\n" */
	char in[HTTP_IN];
	char out[HTTP_OUT];
};

/* What parsing a request head decided. */
struct http_request {
	int status; /* 200, or the error status to answer before closing */
	bool keep_alive;
	bool head; /* HEAD: no body in the answer */
	bool http10;
	int64_t content_length;
};

static const char *status_text(int status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Error";
	}
}

/* RFC 7230 tchar: the characters of a method and a header name. */
static bool is_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* Does the comma-separated header value [v, end) hold token tok? */
static bool has_token(const char *v, const char *end, const char *tok)
{
	size_t tl = strlen(tok);

	while (v < end) {
		const char *comma = memchr(v, ',', (size_t)(end - v)), *te = comma ? comma : end;

		while (v < te && (*v == ' ' || *v == '\t'))
			v++;
		while (te > v && (te[-1] == ' ' || te[-1] == '\t'))
			te--;
		if ((size_t)(te - v) == tl && strncasecmp(v, tok, tl) == 0)
			return true;
		v = comma ? comma + 1 : end;
	}
	return false;
}

/* Parses the request head in [p, end), end just past its "\r\n\r\n". */
static void parse_head(const char *p, const char *end, struct http_request *req)
{
	const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2), *sp1, *sp2, *ver;
	bool have_host = false, close = false, keep_alive = false;

	memset(req, 0, sizeof(*req));
	req->status = 400;
	/* Request line: METHOD SP TARGET SP HTTP/1.x */
	sp1 = memchr(p, ' ', (size_t)(eol - p));
	if (!sp1 || sp1 == p)
		return;
	for (const char *q = p; q < sp1; q++)
		if (!is_tchar((unsigned char)*q))
			return;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
	if (!sp2 || sp2 == sp1 + 1)
		return;
	for (const char *q = sp1 + 1; q < sp2; q++)
		if ((unsigned char)*q <= ' ' || *q == 0x7f)
			return;
	ver = sp2 + 1;
	if (eol - ver != 8 || memcmp(ver, "HTTP/", 5) != 0 || ver[6] != '.' || ver[5] < '0' ||
	    ver[5] > '9' || ver[7] < '0' || ver[7] > '9')
		return;
	if (ver[5] != '1') {
		req->status = 505;
		return;
	}
	req->http10 = ver[7] == '0';
	req->head = sp1 - p == 4 && memcmp(p, "HEAD", 4) == 0;

	/* Header lines: NAME ":" VALUE, until the empty line. */
	for (p = eol + 2; p < end - 2; p = eol + 2) {
		const char *colon, *v, *ve;
		size_t nl;

		eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		colon = memchr(p, ':', (size_t)(eol - p));
		if (!colon || colon == p)
			return;
		for (const char *q = p; q < colon; q++)
			if (!is_tchar((unsigned char)*q))
				return;
		nl = (size_t)(colon - p);
		for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
			;
		for (ve = eol; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
			;
		if (nl == 4 && strncasecmp(p, "host", 4) == 0) {
			have_host = true;
		} else if (nl == 14 && strncasecmp(p, "content-length", 14) == 0) {
			int64_t n = 0;

			if (v == ve)
				return;
			for (const char *q = v; q < ve; q++) {
				if (*q < '0' || *q > '9' || n > (INT64_MAX - 9) / 10)
					return;
				n = n * 10 + (*q - '0');
			}
			if (req->content_length && req->content_length != n)
				return; /* conflicting lengths: a smuggling attempt */
			req->content_length = n;
		} else if (nl == 17 && strncasecmp(p, "transfer-encoding", 17) == 0) {
			req->status = 501; /* chunked bodies are not supported here */
			return;
		} else if (nl == 10 && strncasecmp(p, "connection", 10) == 0) {
			close |= has_token(v, ve, "close");
			keep_alive |= has_token(v, ve, "keep-alive");
		}
	}
	if (!req->http10 && !have_host)
		return; /* Go: "missing required Host header" */
	req->keep_alive = !close && (!req->http10 || keep_alive);
	req->status = 200;
}

static bool flush(struct http_conn *hc)
{
	bool ok = hc->olen == 0 || gort_conn_write(hc->conn, hc->out, hc->olen, NULL) >= 0;

	hc->olen = 0;
	return ok;
}

static void append(struct http_conn *hc, const char *s, size_t n)
{
	memcpy(hc->out + hc->olen, s, n);
	hc->olen += n;
}

#define APPEND_LIT(hc, lit) append((hc), (lit), sizeof(lit) - 1)

static void answer_ok(struct http_conn *hc, const struct http_request *req)
{
	time_t now = time(NULL);

	if (now != hc->date_sec) {
		struct tm tm;

		gmtime_r(&now, &tm);
		strftime(hc->date, sizeof(hc->date), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
		hc->date_sec = now;
	}
	APPEND_LIT(hc, "HTTP/1.1 200 OK\r\n");
	if (!req->keep_alive)
		APPEND_LIT(hc, "Connection: close\r\n");
	else if (req->http10)
		APPEND_LIT(hc, "Connection: keep-alive\r\n");
	append(hc, hc->date, strlen(hc->date));
	APPEND_LIT(hc, "Content-Length: 13\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
	if (!req->head)
		append(hc, body, sizeof(body) - 1);
}

static void answer_error(struct http_conn *hc, int status)
{
	char line[HTTP_MAX_ANSWER];
	int n = snprintf(line, sizeof(line),
			 "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
			 "Connection: close\r\n\r\n%d %s",
			 status, status_text(status), status, status_text(status));

	append(hc, line, (size_t)n);
}

/*
 * Serves one connection until it ends. Returns true when the server ends
 * it after an answer (an error, or "Connection: close"): the caller then
 * closes gracefully; false when the client went away or an I/O error did.
 */
static bool serve_conn(struct http_conn *hc)
{
	struct http_server *s = hc->server;

	for (;;) {
		/* Answer every complete request in in[r, w). */
		for (;;) {
			struct http_request req;
			const char *start, *head_end;

			if (hc->body_left) {
				size_t take = hc->w - hc->r;

				if ((int64_t)take > hc->body_left)
					take = (size_t)hc->body_left;
				hc->r += take;
				hc->body_left -= (int64_t)take;
				if (hc->body_left)
					break;
			}
			start = hc->in + hc->r;
			head_end = memmem(start, hc->w - hc->r, "\r\n\r\n", 4);
			if (!head_end)
				break;
			head_end += 4;
			parse_head(start, head_end, &req);
			hc->r += (size_t)(head_end - start);
			if (hc->olen + HTTP_MAX_ANSWER > sizeof(hc->out) && !flush(hc))
				return false;
			if (req.status != 200) {
				__atomic_add_fetch(&s->bad_requests, 1, __ATOMIC_RELAXED);
				answer_error(hc, req.status);
				return flush(hc);
			}
			__atomic_add_fetch(&s->requests, 1, __ATOMIC_RELAXED);
			answer_ok(hc, &req);
			hc->body_left = req.content_length;
			if (!req.keep_alive)
				return flush(hc);
		}
		if (!flush(hc))
			return false;
		/* Make room: drop what is parsed, slide a partial request down. */
		if (hc->r == hc->w) {
			hc->r = hc->w = 0;
		} else if (hc->w == sizeof(hc->in)) {
			if (hc->r == 0) { /* one request head fills the buffer */
				__atomic_add_fetch(&s->bad_requests, 1, __ATOMIC_RELAXED);
				answer_error(hc, 431);
				return flush(hc);
			}
			memmove(hc->in, hc->in + hc->r, hc->w - hc->r);
			hc->w -= hc->r;
			hc->r = 0;
		}
		ssize_t n = gort_conn_read(hc->conn, hc->in + hc->w, sizeof(hc->in) - hc->w, NULL);

		if (n <= 0) /* end of stream (mid-request too) or an error */
			return false;
		hc->w += (size_t)n;
	}
}

/*
 * Go's closeWriteAndWait: closing a socket that still has unread input
 * makes the kernel send a reset, which can destroy the answer just sent
 * before the client reads it. So: half-close (the client reads the answer,
 * then the end), then read and drop what the client still sends, for at
 * most 500 ms, before the real close.
 */
static void close_gracefully(struct http_conn *hc)
{
	if (gort_conn_close_write(hc->conn, NULL) < 0)
		return;
	gort_conn_set_read_deadline(hc->conn, gort_now() + 500 * GORT_MILLISECOND);
	while (gort_conn_read(hc->conn, hc->in, sizeof(hc->in), NULL) > 0)
		;
}

static void handle_connection(void *arg)
{
	struct http_conn *hc = arg;
	struct http_server *s = hc->server;

	if (serve_conn(hc))
		close_gracefully(hc);
	gort_conn_close(hc->conn, NULL);
	free(hc);
	__atomic_sub_fetch(&s->active, 1, __ATOMIC_RELEASE);
	gort_wg_done(&s->conns);
}

static bool temporary(const gort_error *err)
{
	return gort_error_is_errno(err, EMFILE) || gort_error_is_errno(err, ENFILE) ||
	       gort_error_is_errno(err, ENOBUFS) || gort_error_is_errno(err, ENOMEM) ||
	       gort_error_is_code(err, GORT_ENOMEM);
}

int http_serve(struct http_server *s)
{
	int64_t backoff = 0;

	for (;;) {
		gort_error *err;
		gort_conn *c = gort_listener_accept(s->listener, &err);
		struct http_conn *hc;
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
		/* Not calloc: the buffers need no zeroing (and stay untouched
		 * until used). */
		hc = malloc(sizeof(*hc));
		if (!hc) {
			gort_conn_close(c, NULL);
			continue;
		}
		hc->server = s;
		hc->conn = c;
		hc->r = hc->w = hc->olen = 0;
		hc->body_left = 0;
		hc->date_sec = 0;
		__atomic_add_fetch(&s->accepted, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&s->active, 1, __ATOMIC_RELAXED);
		gort_wg_add(&s->conns, 1);
		if (gort_go(handle_connection, hc) < 0) {
			__atomic_sub_fetch(&s->active, 1, __ATOMIC_RELAXED);
			gort_wg_done(&s->conns);
			gort_conn_close(c, NULL);
			free(hc);
		}
	}
}
