// SPDX-License-Identifier: MIT
/*
 * Once: Go's sync.Once. done_ is set (release) only after fn has returned,
 * so a caller that sees it set (acquire) also sees fn's effects; callers
 * that come while fn runs wait on m_ until it has.
 */
#include "runtime.h"

static void once_slow(gort_once *o, void (*fn)(void *), void *arg)
{
	gort_mutex_lock(&o->m_);
	if (!__atomic_load_n(&o->done_, __ATOMIC_RELAXED)) {
		fn(arg);
		__atomic_store_n(&o->done_, 1, __ATOMIC_RELEASE);
	}
	gort_mutex_unlock(&o->m_);
}

void gort_once_do(gort_once *o, void (*fn)(void *arg), void *arg)
{
	/* Not a CAS that claims the call: the losers must wait for fn to
	 * finish, not return while it runs. */
	if (__atomic_load_n(&o->done_, __ATOMIC_ACQUIRE))
		return;
	once_slow(o, fn, arg);
}
