/* SPDX-License-Identifier: MIT */
/*
 * Leak checks inside a test. The harness ends each test's child process with
 * _exit(), which skips LeakSanitizer's check at exit, so tests that must
 * free everything call EXPECT_NO_LEAKS() at their end. It first waits for
 * every goroutine to exit (memory referenced only from a goroutine's mmap'd
 * stack would look leaked), then runs LSan's check. A no-op without ASan.
 */
#ifndef GORT_LEAK_CHECK_H
#define GORT_LEAK_CHECK_H

#include "gort_test.h"

#if GORT_TEST_ASAN
#include <sanitizer/lsan_interface.h>
#define EXPECT_NO_LEAKS()                                                               \
	do {                                                                            \
		EXPECT_TRUE(TEST_WAIT_UNTIL(gort_num_goroutine() == 0, 10000))          \
		TH_LOG("%lld goroutines still alive", (long long)gort_num_goroutine()); \
		EXPECT_EQ(0, __lsan_do_recoverable_leak_check())                        \
		TH_LOG("LeakSanitizer found leaks (report above)");                     \
	} while (0)
#else
#define EXPECT_NO_LEAKS() \
	do {              \
	} while (0)
#endif

#endif
