// SPDX-License-Identifier: MIT
#include "sanitizer.h"

#include <pthread.h>
#ifdef GORT_ASAN
#include <sanitizer/asan_interface.h>
#endif

void sanitizer_worker_init(struct worker *w)
{
	pthread_attr_t attr;

	if (pthread_getattr_np(pthread_self(), &attr) == 0) {
		pthread_attr_getstack(&attr, &w->g0_lo, &w->g0_size);
		pthread_attr_destroy(&attr);
	}
#ifdef GORT_TSAN
	w->tsan_fiber = __tsan_get_current_fiber();
#endif
}

void sanitizer_goroutine_init(struct goroutine *g)
{
#ifdef GORT_TSAN
	if (!g->tsan_fiber)
		g->tsan_fiber = __tsan_create_fiber(0);
#endif
	(void)g;
}

void sanitizer_goroutine_exit(struct goroutine *g)
{
#ifdef GORT_ASAN
	__asan_unpoison_memory_region(g->stack.lo, (size_t)(g->stack.hi - g->stack.lo));
#endif
#ifdef GORT_TSAN
	if (g->tsan_fiber) {
		__tsan_destroy_fiber(g->tsan_fiber);
		g->tsan_fiber = NULL;
	}
#endif
	(void)g;
}
