/* SPDX-License-Identifier: MIT */
/*
 * USDT probes (provider "gort"), each guarded by its semaphore: while no
 * tracer is attached the semaphore is zero and a probe costs one load and a
 * not-taken branch; the probe site itself is a nop. The catalogue of probes
 * and their arguments is in tools/README.md; probes.c defines the semaphores.
 *
 * Built with -DGORT_NO_PROBES the probe sites and their notes compile to
 * nothing (the semaphores stay): the baseline for measuring what the
 * guarded sites cost (tools/gort-trace/overhead.sh --noprobes).
 */
#ifndef GORT_PROBES_H
#define GORT_PROBES_H

#define _SDT_HAS_SEMAPHORES 1
#include <stdint.h>
#include <sys/sdt.h>

#define GORT_PROBE_LIST(X)   \
	X(goroutine__create) \
	X(goroutine__start)  \
	X(goroutine__park)   \
	X(goroutine__ready)  \
	X(goroutine__exit)   \
	X(sched__steal)      \
	X(worker__park)      \
	X(worker__unpark)    \
	X(syscall__enter)    \
	X(syscall__exit)     \
	X(syscall__handoff)  \
	X(stw__start)        \
	X(stw__done)         \
	X(chan__block)       \
	X(chan__unblock)     \
	X(select__block)     \
	X(mutex__contend)    \
	X(timer__fire)       \
	X(netpoll__wait)     \
	X(netpoll__wake)     \
	X(net__accept)       \
	X(net__dial)         \
	X(sched__stats)

#define GORT_PROBE_SEM_DECL(name) extern unsigned short gort_##name##_semaphore;
GORT_PROBE_LIST(GORT_PROBE_SEM_DECL)

#ifdef GORT_NO_PROBES
#define GORT_PROBE_ENABLED(name) 0
#else
#define GORT_PROBE_ENABLED(name) __builtin_expect(gort_##name##_semaphore != 0, 0)
#endif

#define GORT_PROBE1(name, a)                        \
	do {                                        \
		if (GORT_PROBE_ENABLED(name))       \
			STAP_PROBE1(gort, name, a); \
	} while (0)
#define GORT_PROBE2(name, a, b)                        \
	do {                                           \
		if (GORT_PROBE_ENABLED(name))          \
			STAP_PROBE2(gort, name, a, b); \
	} while (0)
#define GORT_PROBE3(name, a, b, c)                        \
	do {                                              \
		if (GORT_PROBE_ENABLED(name))             \
			STAP_PROBE3(gort, name, a, b, c); \
	} while (0)

/*
 * gort:sched__stats: sysmon, while the probe is enabled, calls this on its
 * tick; at most every 20 ms it fills the scheduler snapshot (snapshot.h)
 * and fires the probe with its address, size and version (snapshot.c).
 */
void snapshot_publish(int64_t now);

#endif
