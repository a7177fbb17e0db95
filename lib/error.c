// SPDX-License-Identifier: MIT
/* Error codes, per-goroutine error messages, fatal errors. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

#define ERRMSG_SIZE 256

static __thread char foreign_errmsg[ERRMSG_SIZE];

void set_errmsg(const char *fmt, ...)
{
	struct goroutine *g = this_goroutine();
	char *buf = foreign_errmsg;
	va_list ap;

	if (g) {
		if (!g->errmsg)
			g->errmsg = malloc(ERRMSG_SIZE);
		if (g->errmsg)
			buf = g->errmsg;
	}
	va_start(ap, fmt);
	vsnprintf(buf, ERRMSG_SIZE, fmt, ap);
	va_end(ap);
}

const char *gort_errmsg(void)
{
	struct goroutine *g = this_goroutine();

	if (g)
		return g->errmsg ? g->errmsg : "";
	return foreign_errmsg;
}

const char *gort_strerror(int err)
{
	switch (err) {
	case GORT_OK:
		return "success";
	case GORT_EPERM:
		return "operation not permitted in this context";
	case GORT_EAGAIN:
		return "resource temporarily unavailable";
	case GORT_ENOMEM:
		return "out of memory";
	case GORT_EINVAL:
		return "invalid argument";
	case GORT_ETIMEDOUT:
		return "deadline exceeded";
	case GORT_ECANCELED:
		return "canceled";
	case GORT_ECLOSED:
		return "closed";
	case GORT_ENOTSUP:
		return "not supported";
	default:
		if (err < 0 && err > -4096)
			return strerror(-err);
		return "unknown error";
	}
}

void gort_fatal(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	/* write(2): the heap or stdio may be what is broken. */
	if (write(2, "gort: fatal: ", 13) >= 0)
		(void)!write(2, buf, (size_t)n);
	abort();
}
