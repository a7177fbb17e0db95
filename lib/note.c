// SPDX-License-Identifier: MIT
#include "note.h"

#include <time.h>

#include "futex.h"
#include "runtime.h"

void note_wakeup(struct note *n)
{
	if (__atomic_exchange_n(&n->key, 1, __ATOMIC_RELEASE) == 0)
		futex_wake(&n->key, 1);
}

bool note_sleep(struct note *n, int64_t timeout_ns)
{
	int64_t deadline = timeout_ns >= 0 ? nanotime() + timeout_ns : 0;

	while (__atomic_load_n(&n->key, __ATOMIC_ACQUIRE) == 0) {
		int64_t left = -1;

		if (timeout_ns >= 0) {
			left = deadline - nanotime();
			if (left <= 0)
				return false;
		}
		futex_wait(&n->key, 0, left);
	}
	return true;
}
