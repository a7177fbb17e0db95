// SPDX-License-Identifier: MIT
/*
 * Error values (Go's error interface, errors.Is/As/Unwrap, fmt.Errorf's %w).
 *
 * A gort_error is immutable once its constructor returns, so it is shared
 * freely between goroutines and threads; only the reference count changes.
 * Invariants:
 * - refs counts the references handed out (constructors and gort_error_ref()
 *   each give one); the last gort_error_free() frees the error, its kind's
 *   data and drops the reference it holds on its cause. Releasing walks the
 *   chain in a loop, not by recursion, so a chain of any length is freed in
 *   constant stack (goroutine stacks are small).
 * - A static error (is_static) is never counted and never freed: ref and free
 *   are no-ops on it, so it may be returned to any number of callers.
 * - The message lives in the same allocation as the error (one malloc each).
 * - Constructors never return NULL: when malloc fails they return
 *   gort_error_oom (a static error) after dropping what they were given
 *   ownership of (the kind's data), so callers need no NULL checks.
 *
 * lib/error.c, not this file, holds the GORT_E* codes' names, the
 * per-goroutine gort_errmsg() and gort_fatal().
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

struct gort_error {
	const struct gort_error_kind *kind;
	int code;
	bool is_static;
	uint32_t refs; /* atomic; unused for static errors */
	gort_error *cause;
	void *data;
	const char *msg; /* never NULL; points just past the struct for dynamic errors */
};

const struct gort_error_kind gort_error_kind_basic = { .name = "error" };
const struct gort_error_kind gort_error_kind_system = { .name = "system_error" };

#define STATIC_ERROR(var, c, m)                                                            \
	static gort_error var = {                                                          \
		.kind = &gort_error_kind_basic, .code = (c), .is_static = true, .msg = (m) \
	}

STATIC_ERROR(canceled_error, GORT_ECANCELED, "context canceled");
STATIC_ERROR(deadline_error, GORT_ETIMEDOUT, "context deadline exceeded");
STATIC_ERROR(oom_error, GORT_ENOMEM, "out of memory");
STATIC_ERROR(io_timeout_error, GORT_ETIMEDOUT, "i/o timeout");
STATIC_ERROR(net_closed_error, GORT_ECLOSED, "use of closed network connection");

gort_error *const gort_error_canceled = &canceled_error;
gort_error *const gort_error_deadline_exceeded = &deadline_error;
gort_error *const gort_error_oom = &oom_error;
gort_error *const gort_error_io_timeout = &io_timeout_error;
gort_error *const gort_error_net_closed = &net_closed_error;

/*
 * Allocates an error whose message is fmt formatted with ap (prefix, when
 * not NULL, goes before it: the system error's context). Takes a new
 * reference to cause. On failure frees data through kind and returns
 * gort_error_oom.
 */
static gort_error *error_alloc(const struct gort_error_kind *kind, int code, void *data,
			       gort_error *cause, const char *suffix, const char *fmt, va_list ap)
{
	size_t flen = 0, slen = suffix ? strlen(suffix) : 0, sep = 0;
	gort_error *e;
	char *msg;
	va_list ap2;

	if (fmt && *fmt) {
		int n;

		va_copy(ap2, ap);
		n = vsnprintf(NULL, 0, fmt, ap2);
		va_end(ap2);
		if (n > 0)
			flen = (size_t)n;
	}
	if (flen && slen)
		sep = 2; /* ": " */
	e = malloc(sizeof(*e) + flen + sep + slen + 1);
	if (!e) {
		if (data && kind && kind->free_data)
			kind->free_data(data);
		return gort_error_oom;
	}
	msg = (char *)(e + 1);
	if (flen)
		vsnprintf(msg, flen + 1, fmt, ap);
	if (sep)
		memcpy(msg + flen, ": ", 2);
	if (slen)
		memcpy(msg + flen + sep, suffix, slen);
	msg[flen + sep + slen] = '\0';
	e->kind = kind ? kind : &gort_error_kind_basic;
	e->code = code;
	e->is_static = false;
	e->refs = 1;
	e->cause = gort_error_ref(cause);
	e->data = data;
	e->msg = msg;
	return e;
}

gort_error *gort_error_new(int code, const char *fmt, ...)
{
	gort_error *e;
	va_list ap;

	va_start(ap, fmt);
	e = error_alloc(&gort_error_kind_basic, code, NULL, NULL, NULL, fmt, ap);
	va_end(ap);
	return e;
}

gort_error *gort_error_wrap(gort_error *cause, const char *fmt, ...)
{
	gort_error *e;
	va_list ap;

	va_start(ap, fmt);
	e = error_alloc(&gort_error_kind_basic, gort_error_code(cause), NULL, cause, NULL, fmt, ap);
	va_end(ap);
	return e;
}

gort_error *gort_error_errno(int errnum, const char *fmt, ...)
{
	char buf[256];
	gort_error *e;
	va_list ap;

	/* GNU strerror_r: returns a pointer to the message (maybe static). */
	const char *s = strerror_r(errnum, buf, sizeof(buf));

	va_start(ap, fmt);
	e = error_alloc(&gort_error_kind_system, -errnum, NULL, NULL, s, fmt, ap);
	va_end(ap);
	return e;
}

gort_error *gort_error_new_kind(const struct gort_error_kind *kind, int code, void *data,
				gort_error *cause, const char *fmt, ...)
{
	gort_error *e;
	va_list ap;

	va_start(ap, fmt);
	e = error_alloc(kind, code, data, cause, NULL, fmt, ap);
	va_end(ap);
	return e;
}

gort_error *gort_error_ref(gort_error *e)
{
	if (e && !e->is_static)
		__atomic_add_fetch(&e->refs, 1, __ATOMIC_RELAXED);
	return e;
}

void gort_error_free(gort_error *e)
{
	/* Release: our writes to the error happen before the freeing thread's;
	 * acquire on the last drop pairs with every earlier release. */
	while (e && !e->is_static) {
		gort_error *cause;

		if (__atomic_sub_fetch(&e->refs, 1, __ATOMIC_ACQ_REL) != 0)
			return;
		cause = e->cause;
		if (e->data && e->kind->free_data)
			e->kind->free_data(e->data);
		free(e);
		e = cause;
	}
}

int gort_error_code(const gort_error *e)
{
	return e ? e->code : 0;
}

const char *gort_error_msg(const gort_error *e)
{
	return e ? e->msg : "";
}

void *gort_error_data(const gort_error *e)
{
	return e ? e->data : NULL;
}

const struct gort_error_kind *gort_error_kind(const gort_error *e)
{
	return e ? e->kind : NULL;
}

gort_error *gort_error_unwrap(const gort_error *e)
{
	return e ? e->cause : NULL;
}

bool gort_error_is(const gort_error *e, const gort_error *target)
{
	/* System errors compare by value (Go's syscall.Errno is a number): the
	 * same errno from another call site, with another context message, is
	 * the same error. Every other kind compares by identity. */
	bool by_value = target && target->kind == &gort_error_kind_system;

	if (e == target)
		return true;
	for (; e; e = e->cause)
		if (e == target ||
		    (by_value && e->kind == &gort_error_kind_system && e->code == target->code))
			return true;
	return false;
}

bool gort_error_is_errno(const gort_error *e, int errnum)
{
	for (; e; e = e->cause)
		if (e->kind == &gort_error_kind_system && e->code == -errnum)
			return true;
	return false;
}

bool gort_error_is_code(const gort_error *e, int code)
{
	for (; e; e = e->cause)
		if (e->code == code)
			return true;
	return false;
}

gort_error *gort_error_as(const gort_error *e, const struct gort_error_kind *kind)
{
	for (; e; e = e->cause)
		if (e->kind == kind)
			return (gort_error *)e;
	return NULL;
}

/* Appends s at *pos in buf (size bytes) like snprintf, always counting. */
static void append(char *buf, size_t size, size_t *pos, const char *s)
{
	size_t n = strlen(s);

	if (*pos < size) {
		size_t room = size - *pos - 1, k = n < room ? n : room;

		memcpy(buf + *pos, s, k);
		buf[*pos + k] = '\0';
	}
	*pos += n;
}

int gort_error_format(const gort_error *e, char *buf, size_t size)
{
	size_t pos = 0;

	if (size)
		buf[0] = '\0';
	if (!e) {
		append(buf, size, &pos, "<nil>");
		return (int)pos;
	}
	/*
	 * Go's %v prints err.Error(). For the basic kinds that is "msg: " and
	 * the cause's Error() (fmt.Errorf's wrapError); a kind's format
	 * callback is a whole Error() method: it decides what of the cause to
	 * show, so the walk stops there.
	 */
	for (; e; e = e->cause) {
		if (e->kind->format) {
			size_t off = pos < size ? pos : size;
			int n = e->kind->format(e, size ? buf + off : NULL, size - off);

			if (n > 0)
				pos += (size_t)n;
			if (size && pos >= size)
				buf[size - 1] = '\0';
			break;
		}
		append(buf, size, &pos, e->msg);
		/* An empty message adds no separator: fmt.Errorf("%w", err) is
		 * err's text. */
		if (e->cause && e->msg[0])
			append(buf, size, &pos, ": ");
	}
	return (int)pos;
}

char *gort_error_string(const gort_error *e)
{
	int n = gort_error_format(e, NULL, 0);
	char *s = malloc((size_t)n + 1);

	if (s)
		gort_error_format(e, s, (size_t)n + 1);
	return s;
}
