/* SPDX-License-Identifier: MIT */
/*
 * A note (Go's note): a one-shot event one thread sleeps on and another
 * signals. note_clear() re-arms it; a wakeup before the sleep is not lost.
 */
#ifndef GORT_NOTE_H
#define GORT_NOTE_H

#include <stdbool.h>
#include <stdint.h>

struct note {
	uint32_t key; /* 0 clear, 1 signalled */
};

static inline void note_clear(struct note *n)
{
	__atomic_store_n(&n->key, 0, __ATOMIC_RELAXED);
}

void note_wakeup(struct note *n);

/* Sleeps until signalled. With timeout_ns >= 0 returns false on timeout. */
bool note_sleep(struct note *n, int64_t timeout_ns);

#endif
