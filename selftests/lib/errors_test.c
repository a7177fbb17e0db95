// SPDX-License-Identifier: MIT
/*
 * Error values: the design's CustomError example (a user kind with a code, a
 * message and a cause, produced by an operation whose context was cancelled),
 * wrap chains and their Go-%v text, is/is_code/as through the chain, system
 * errors, static errors, truncating format, and reference counting (the
 * ASan build's LeakSanitizer checks that every test frees everything: each
 * test runs in its own child process, which LSan checks at exit).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <gort.h>

#include "gort_test.h"
#include "kselftest_harness.h"
#include "leak_check.h"

/* ---------------------------------------------------------------------- */
/*
 * The design's example, in Go:
 *
 *	type CustomError struct { code errCode; message string; err error }
 *	func (e *CustomError) Error() string {
 *		return fmt.Sprintf("code=%d, message=%s: %v", e.code, e.message, e.err)
 *	}
 *	func (e *CustomError) Unwrap() error { return e.err }
 *	func operationWithContext(ctx context.Context) error {
 *		if ctx.Err() != nil {
 *			return &CustomError{code: errInternal, message: "context cancelled",
 *					    err: ctx.Err()}
 *		}
 *		return nil
 *	}
 *
 * The code, the message and the cause are the gort_error's own; the kind's
 * format callback is the Error() method.
 */
enum err_code {
	ERR_NOT_FOUND,
	ERR_INTERNAL
}; /* errNotFound = iota, errInternal */

static int custom_format(const gort_error *e, char *buf, size_t size)
{
	int n = snprintf(buf, size, "code=%d, message=%s: ", gort_error_code(e), gort_error_msg(e));
	size_t off = (size_t)n < size ? (size_t)n : size;

	return n + gort_error_format(gort_error_unwrap(e), size ? buf + off : NULL, size - off);
}

static const struct gort_error_kind custom_kind = {
	.name = "CustomError",
	.format = custom_format,
};

static gort_error *operation_with_context(gort_ctx *ctx)
{
	if (gort_ctx_err(ctx))
		return gort_error_new_kind(&custom_kind, ERR_INTERNAL, NULL, gort_ctx_err(ctx),
					   "context cancelled");
	return NULL;
}

TEST(design_example_custom_error)
{
	gort_ctx *ctx = gort_ctx_with_cancel(gort_ctx_background());
	gort_error *err, *as, *w;
	char *s;

	ASSERT_NE(NULL, ctx);
	EXPECT_EQ(NULL, operation_with_context(ctx));
	gort_ctx_cancel(ctx);
	err = operation_with_context(ctx);
	ASSERT_NE(NULL, err);
	ASSERT_NE(gort_error_oom, err);

	/* errors.Is(err, context.Canceled) */
	EXPECT_TRUE(gort_error_is(err, gort_error_canceled));
	EXPECT_FALSE(gort_error_is(err, gort_error_deadline_exceeded));
	/* var ce *CustomError; errors.As(err, &ce) */
	as = gort_error_as(err, &custom_kind);
	ASSERT_EQ(err, as);
	EXPECT_EQ(ERR_INTERNAL, gort_error_code(as));
	EXPECT_STREQ("context cancelled", gort_error_msg(as));
	EXPECT_EQ(gort_error_canceled, gort_error_unwrap(as));
	EXPECT_EQ(NULL, gort_error_as(err, &gort_error_kind_system));
	/* The whole chain, as fmt.Println(err) prints it. */
	s = gort_error_string(err);
	ASSERT_NE(NULL, s);
	EXPECT_STREQ("code=1, message=context cancelled: context canceled", s);
	free(s);
	/* A caller wrapping it once more: fmt.Errorf("handler %d: %w", 7, err). */
	w = gort_error_wrap(err, "handler %d", 7);
	s = gort_error_string(w);
	EXPECT_STREQ("handler 7: code=1, message=context cancelled: context canceled", s);
	free(s);
	EXPECT_EQ(err, gort_error_as(w, &custom_kind));
	EXPECT_TRUE(gort_error_is(w, gort_error_canceled));
	EXPECT_TRUE(gort_error_is_code(w, GORT_ECANCELED));
	EXPECT_EQ(ERR_INTERNAL, gort_error_code(w)); /* a wrap takes its cause's code */
	gort_error_free(w);
	gort_error_free(err);
	gort_ctx_free(ctx);
	EXPECT_NO_LEAKS();
}

/* The same after a deadline instead of a cancel. */
TEST(design_example_deadline)
{
	gort_ctx *ctx = gort_ctx_with_deadline(gort_ctx_background(), gort_now() - 1);
	gort_error *err;
	char *s;

	ASSERT_NE(NULL, ctx);
	err = operation_with_context(ctx);
	ASSERT_NE(NULL, err);
	EXPECT_TRUE(gort_error_is(err, gort_error_deadline_exceeded));
	EXPECT_FALSE(gort_error_is(err, gort_error_canceled));
	EXPECT_TRUE(gort_error_is_code(err, GORT_ETIMEDOUT));
	s = gort_error_string(err);
	EXPECT_STREQ("code=1, message=context cancelled: context deadline exceeded", s);
	free(s);
	gort_error_free(err);
	gort_ctx_free(ctx);
	EXPECT_NO_LEAKS();
}

/* ---------------------------------------------------------------------- */

TEST(wrap_chain_text_and_unwrap)
{
	gort_error *base = gort_error_new(GORT_EINVAL, "bad port %d", 70000);
	gort_error *mid = gort_error_wrap(base, "parse %s", "config.toml");
	gort_error *top = gort_error_wrap(mid, "start server");
	char *s;

	EXPECT_EQ(GORT_EINVAL, gort_error_code(base));
	EXPECT_EQ(GORT_EINVAL, gort_error_code(top));
	EXPECT_STREQ("bad port 70000", gort_error_msg(base));
	EXPECT_STREQ("start server", gort_error_msg(top));
	EXPECT_EQ(mid, gort_error_unwrap(top));
	EXPECT_EQ(base, gort_error_unwrap(mid));
	EXPECT_EQ(NULL, gort_error_unwrap(base));
	EXPECT_EQ(&gort_error_kind_basic, gort_error_kind(top));
	s = gort_error_string(top);
	EXPECT_STREQ("start server: parse config.toml: bad port 70000", s);
	free(s);
	s = gort_error_string(mid);
	EXPECT_STREQ("parse config.toml: bad port 70000", s);
	free(s);

	EXPECT_TRUE(gort_error_is(top, base));
	EXPECT_TRUE(gort_error_is(top, mid));
	EXPECT_TRUE(gort_error_is(top, top));
	EXPECT_FALSE(gort_error_is(base, top)); /* only down the chain */
	EXPECT_FALSE(gort_error_is(top, gort_error_canceled));
	EXPECT_FALSE(gort_error_is(top, NULL));
	EXPECT_TRUE(gort_error_is(NULL, NULL));

	/* The wraps keep what they wrap alive: drop the creators' references
	 * bottom-up and read the chain again. */
	gort_error_free(base);
	gort_error_free(mid);
	s = gort_error_string(top);
	EXPECT_STREQ("start server: parse config.toml: bad port 70000", s);
	free(s);
	gort_error_free(top);
	EXPECT_NO_LEAKS();
}

TEST(is_code_through_chain)
{
	/* A basic error in the middle with its own code: new() then a user kind
	 * on top with another code. */
	gort_error *io = gort_error_errno(ECONNRESET, "read %s", "sock");
	gort_error *custom = gort_error_new_kind(&custom_kind, ERR_NOT_FOUND, NULL, io, "lookup");
	gort_error *top = gort_error_wrap(custom, "request");
	char *s, want[256];

	EXPECT_EQ(-ECONNRESET, gort_error_code(io));
	EXPECT_EQ(&gort_error_kind_system, gort_error_kind(io));
	EXPECT_TRUE(gort_error_is_code(top, -ECONNRESET));
	EXPECT_TRUE(gort_error_is_code(top, ERR_NOT_FOUND));
	EXPECT_FALSE(gort_error_is_code(top, GORT_ECANCELED));
	EXPECT_FALSE(gort_error_is_code(NULL, 0));
	EXPECT_EQ(io, gort_error_as(top, &gort_error_kind_system));
	EXPECT_EQ(custom, gort_error_as(top, &custom_kind));
	EXPECT_EQ(top, gort_error_as(top, &gort_error_kind_basic));
	s = gort_error_string(top);
	snprintf(want, sizeof(want), "request: code=0, message=lookup: read sock: %s",
		 strerror(ECONNRESET));
	EXPECT_STREQ(want, s);
	free(s);
	gort_error_free(io);
	gort_error_free(custom);
	gort_error_free(top);
	EXPECT_NO_LEAKS();
}

TEST(errno_without_context)
{
	gort_error *e = gort_error_errno(ENOENT, NULL);
	gort_error *e2 = gort_error_errno(EACCES, "%s", "");

	EXPECT_STREQ(strerror(ENOENT), gort_error_msg(e));
	EXPECT_STREQ(strerror(EACCES), gort_error_msg(e2));
	EXPECT_EQ(-ENOENT, gort_error_code(e));
	gort_error_free(e);
	gort_error_free(e2);
	EXPECT_NO_LEAKS();
}

TEST(empty_message_wrap_shows_cause_only)
{
	gort_error *w = gort_error_wrap(gort_error_canceled, "%s", "");
	gort_error *n = gort_error_wrap(NULL, "orphan");
	char *s = gort_error_string(w);

	EXPECT_STREQ("context canceled", s);
	free(s);
	EXPECT_EQ(GORT_ECANCELED, gort_error_code(w));
	EXPECT_EQ(0, gort_error_code(n));
	EXPECT_EQ(NULL, gort_error_unwrap(n));
	s = gort_error_string(n);
	EXPECT_STREQ("orphan", s);
	free(s);
	gort_error_free(w);
	gort_error_free(n);
	EXPECT_NO_LEAKS();
}

TEST(static_errors_and_nil)
{
	char *s;

	EXPECT_EQ(GORT_ECANCELED, gort_error_code(gort_error_canceled));
	EXPECT_EQ(GORT_ETIMEDOUT, gort_error_code(gort_error_deadline_exceeded));
	EXPECT_EQ(GORT_ENOMEM, gort_error_code(gort_error_oom));
	EXPECT_STREQ("context canceled", gort_error_msg(gort_error_canceled));
	EXPECT_STREQ("context deadline exceeded", gort_error_msg(gort_error_deadline_exceeded));
	EXPECT_STREQ("out of memory", gort_error_msg(gort_error_oom));
	/* ref/free are no-ops on static errors, any number of times. */
	for (int i = 0; i < 1000; i++) {
		EXPECT_EQ(gort_error_canceled, gort_error_ref(gort_error_canceled));
		gort_error_free(gort_error_canceled);
		gort_error_free(gort_error_canceled);
	}
	EXPECT_STREQ("context canceled", gort_error_msg(gort_error_canceled));

	/* NULL is Go's nil error. */
	EXPECT_EQ(0, gort_error_code(NULL));
	EXPECT_STREQ("", gort_error_msg(NULL));
	EXPECT_EQ(NULL, gort_error_kind(NULL));
	EXPECT_EQ(NULL, gort_error_unwrap(NULL));
	EXPECT_EQ(NULL, gort_error_data(NULL));
	EXPECT_EQ(NULL, gort_error_as(NULL, &gort_error_kind_basic));
	EXPECT_EQ(NULL, gort_error_ref(NULL));
	gort_error_free(NULL);
	s = gort_error_string(NULL);
	EXPECT_STREQ("<nil>", s);
	free(s);
	EXPECT_NO_LEAKS();
}

TEST(format_truncates_like_snprintf)
{
	gort_error *c = gort_error_new_kind(&custom_kind, 3, NULL, gort_error_canceled, "m");
	gort_error *w = gort_error_wrap(c, "outer");
	const char *full = "outer: code=3, message=m: context canceled";
	char buf[64];
	int len = (int)strlen(full);

	for (size_t size = 0; size <= strlen(full) + 2; size++) {
		memset(buf, 'X', sizeof(buf));
		ASSERT_EQ(len, gort_error_format(w, size ? buf : NULL, size));
		if (size) {
			ASSERT_EQ(0, strncmp(buf, full, size - 1)) TH_LOG("size %zu", size);
			ASSERT_EQ('\0', buf[size - 1 < (size_t)len ? size - 1 : (size_t)len])
			TH_LOG("size %zu", size);
		}
		ASSERT_EQ('X', buf[size]) TH_LOG("wrote past %zu bytes", size);
	}
	gort_error_free(c);
	gort_error_free(w);
	EXPECT_NO_LEAKS();
}

/* ---------------------------------------------------------------------- */
/* Kind data is freed exactly once, with the last reference, on any thread. */

static int data_frees;

static void count_free(void *data)
{
	T_INC(&data_frees);
	free(data);
}

static const struct gort_error_kind data_kind = {
	.name = "DataError",
	.free_data = count_free,
};

struct refs_arg {
	gort_error *e;
	gort_waitgroup *wg;
};

static void refs_body(void *arg)
{
	struct refs_arg *a = arg;

	for (int i = 0; i < 1000; i++) {
		gort_error *w = gort_error_wrap(a->e, "g%d", i);

		if (!gort_error_is(w, a->e))
			tg_fail(__FILE__, __LINE__, "wrap lost its cause");
		gort_error_free(gort_error_ref(w));
		gort_error_free(w);
	}
	gort_error_free(a->e);
	gort_wg_done(a->wg);
}

TEST(refcount_across_goroutines)
{
	enum {
		N = 16
	};
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	struct refs_arg args[N];
	int *payload = malloc(sizeof(*payload));
	gort_error *e;

	ASSERT_NE(NULL, payload);
	*payload = 42;
	e = gort_error_new_kind(&data_kind, 9, payload, NULL, "with data");
	ASSERT_EQ(payload, gort_error_data(e));
	for (int i = 0; i < N; i++) {
		args[i].e = gort_error_ref(e);
		args[i].wg = &wg;
		gort_wg_add(&wg, 1);
		ASSERT_GT(gort_go(refs_body, &args[i]), 0);
	}
	ASSERT_TRUE(test_wg_wait_ms(&wg, 20000));
	ASSERT_NO_TG_FAILURES();
	EXPECT_EQ(0, T_LOAD(&data_frees));
	EXPECT_EQ(42, *(int *)gort_error_data(e));
	gort_error_free(e);
	EXPECT_EQ(1, T_LOAD(&data_frees));
	EXPECT_NO_LEAKS();
}

/* A long chain is freed without recursion (a goroutine's stack is small). */
static void long_chain_body(void *arg)
{
	gort_error *e = gort_error_new(GORT_EINVAL, "root");

	for (int i = 0; i < 200000; i++) {
		gort_error *w = gort_error_wrap(e, "w");

		gort_error_free(e);
		e = w;
	}
	if (!gort_error_is_code(e, GORT_EINVAL))
		tg_fail(__FILE__, __LINE__, "code lost along the chain");
	gort_error_free(e);
	gort_wg_done(arg);
}

TEST(long_chain_freed_iteratively)
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	struct gort_go_opts opts = { .stack_size = 64 * 1024 };

	gort_wg_add(&wg, 1);
	ASSERT_GT(gort_go_opts(long_chain_body, &wg, &opts), 0);
	ASSERT_TRUE(test_wg_wait_ms(&wg, 30000));
	ASSERT_NO_TG_FAILURES();
	EXPECT_NO_LEAKS();
}

TEST_HARNESS_MAIN
