// SPDX-License-Identifier: MIT
/* The probe semaphores: a tracer increments one when it attaches to a probe. */
#include "probes.h"

#define GORT_PROBE_SEM_DEF(name)                             \
	__extension__ unsigned short gort_##name##_semaphore \
		__attribute__((unused, section(".probes")));
GORT_PROBE_LIST(GORT_PROBE_SEM_DEF)
