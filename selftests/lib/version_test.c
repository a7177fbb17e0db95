// SPDX-License-Identifier: MIT
/* The library's version, error and init API. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gort.h>

#include "gort_test.h"
#include "kselftest_harness.h"

TEST(version_matches_header)
{
	char want[32];

	snprintf(want, sizeof(want), "%d.%d.%d", GORT_VERSION_MAJOR, GORT_VERSION_MINOR,
		 GORT_VERSION_PATCH);
	ASSERT_STREQ(want, gort_version());
}

TEST(strerror_names_codes)
{
	EXPECT_STREQ("invalid argument", gort_strerror(GORT_EINVAL));
	EXPECT_STREQ("closed", gort_strerror(GORT_ECLOSED));
	EXPECT_STREQ("deadline exceeded", gort_strerror(GORT_ETIMEDOUT));
	EXPECT_STREQ("success", gort_strerror(0));
	/* errno-range codes pass through strerror */
	EXPECT_STREQ(strerror(ECONNREFUSED), gort_strerror(-ECONNREFUSED));
	EXPECT_STREQ("unknown error", gort_strerror(-99999));
}

TEST(init_is_idempotent)
{
	ASSERT_EQ(0, gort_init());
	ASSERT_EQ(0, gort_init());
	EXPECT_GE(gort_maxprocs(0), 1);
}

TEST(maxprocs_before_start_sets_initial_value)
{
	struct gort_stats st;

	gort_maxprocs(3);
	EXPECT_EQ(3, gort_maxprocs(0));
	ASSERT_EQ(0, gort_init());
	ASSERT_EQ(0, gort_stats(&st));
	EXPECT_EQ(3, st.maxprocs);
}

TEST(maxprocs_env_is_honoured)
{
	struct gort_stats st;

	setenv("GORT_MAXPROCS", "5", 1);
	ASSERT_EQ(0, gort_init());
	ASSERT_EQ(0, gort_stats(&st));
	EXPECT_EQ(5, st.maxprocs);
	EXPECT_EQ(5, gort_maxprocs(0));
}

TEST(stats_rejects_null)
{
	EXPECT_EQ(GORT_EINVAL, gort_stats(NULL));
}

TEST(bad_stack_size_is_an_error_with_message)
{
	struct gort_go_opts o = { .stack_size = 8 };

	EXPECT_EQ(GORT_EINVAL, gort_go_opts((void (*)(void *))abort, NULL, &o));
	EXPECT_NE(NULL, strstr(gort_errmsg(), "stack size 8"));
	o.stack_size = (size_t)1 << 40;
	EXPECT_EQ(GORT_EINVAL, gort_go_opts((void (*)(void *))abort, NULL, &o));
	o.stack_size = 0;
	o.reserved[2] = 1;
	EXPECT_EQ(GORT_EINVAL, gort_go_opts((void (*)(void *))abort, NULL, &o));
	EXPECT_EQ(GORT_EINVAL, gort_go(NULL, NULL));
}

TEST(kassist_off_reports_no_module)
{
	struct gort_stats st;

	setenv("GORT_KASSIST", "off", 1);
	ASSERT_EQ(0, gort_init());
	ASSERT_EQ(0, gort_stats(&st));
	EXPECT_EQ(0, st.kassist);
}

TEST(kassist_require_fails_without_device)
{
	if (access("/dev/gort", F_OK) == 0)
		SKIP(return, "/dev/gort present: the failure path cannot be exercised");
	setenv("GORT_KASSIST", "require", 1);
	EXPECT_EQ(GORT_ENOTSUP, gort_init());
	EXPECT_NE(NULL, strstr(gort_errmsg(), "/dev/gort"));
}

TEST(kassist_require_uses_device)
{
	struct gort_stats st;

	if (access("/dev/gort", F_OK) != 0)
		SKIP(return, "/dev/gort absent: load gort.ko (make load) or run in the VM (make "
			     "check)");
	setenv("GORT_KASSIST", "require", 1);
	ASSERT_EQ(0, gort_init());
	ASSERT_EQ(0, gort_stats(&st));
	EXPECT_EQ(1, st.kassist);
}

TEST_HARNESS_MAIN
