/* SPDX-License-Identifier: MIT */
/* Helpers shared by the library selftests. */
#ifndef GORT_TEST_H
#define GORT_TEST_H

#include <stdint.h>
#include <time.h>

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) ||                      \
	__has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define GORT_TEST_SANITIZED 1
#else
#define GORT_TEST_SANITIZED 0
#endif

/* Scale for heavy tests: sanitizers run them 10-50x slower. */
#define GORT_TEST_SCALE(n) (GORT_TEST_SANITIZED ? (n) / 20 : (n))

static inline int64_t test_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif
