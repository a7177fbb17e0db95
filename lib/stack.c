// SPDX-License-Identifier: MIT
#include "stack.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

#include "runtime.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#ifndef PIDFD_SELF_THREAD_GROUP
#define PIDFD_SELF_THREAD_GROUP -10000 /* Linux 6.14+: "this process" */
#endif

#define GUARD_SIZE 4096
#define PAGE 4096
/* Kept committed when a cached stack is reused; deeper pages are given back. */
#define STACK_KEEP (32 * 1024)
/* VMAs left to the rest of the process when guards are mprotect'ed. */
#define VMA_RESERVE 8192

static int best_mode = GUARD_CANARY;
static long mprotect_budget;   /* guards we may still mprotect (atomic) */
static int warned;	       /* atomic */
static int batch_guard_ok = 1; /* process_madvise(MADV_GUARD_INSTALL) works (atomic) */

static long read_max_map_count(void)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
	long v = 65530;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = 65530;
		fclose(f);
	}
	return v;
}

void stack_init(void)
{
	long max_maps = read_max_map_count();
	char *probe;

	/* Each mprotect'ed guard costs two VMAs: its own and the split it makes. */
	mprotect_budget = max_maps > VMA_RESERVE ? (max_maps - VMA_RESERVE) / 2 : 0;

	probe = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (probe != MAP_FAILED) {
		if (madvise(probe, PAGE, MADV_GUARD_INSTALL) == 0)
			best_mode = GUARD_MADVISE;
		else if (mprotect_budget > 0)
			best_mode = GUARD_MPROTECT;
		munmap(probe, 2 * PAGE);
	}
	if (getenv("GORT_STACK_GUARD")) {
		/* Testing knob: force a weaker guard mode (never a stronger one). */
		int want = atoi(getenv("GORT_STACK_GUARD"));

		if (want > best_mode && want <= GUARD_CANARY)
			best_mode = want;
	}
}

enum guard_mode stack_guard_mode(void)
{
	return (enum guard_mode)__atomic_load_n(&best_mode, __ATOMIC_RELAXED);
}

static void warn_canary_once(void)
{
	if (__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED) == 0)
		fprintf(stderr,
			"gort: warning: out of VMAs for stack guard pages (vm.max_map_count=%ld); "
			"new goroutine stacks use canaries checked at every switch. "
			"Raise vm.max_map_count for guard pages.\n",
			read_max_map_count());
}

/* Puts a guard below [map + GUARD_SIZE, map + map_size) (unless the caller
 * already installed it) and fills in s. */
static void stack_setup(struct stack *s, char *map, size_t map_size, bool guarded)
{
	int mode = stack_guard_mode();

	if (mode == GUARD_MADVISE && !guarded && madvise(map, GUARD_SIZE, MADV_GUARD_INSTALL) != 0)
		mode = GUARD_MPROTECT;
	if (mode == GUARD_MPROTECT) {
		if (__atomic_sub_fetch(&mprotect_budget, 1, __ATOMIC_RELAXED) < 0 ||
		    mprotect(map, GUARD_SIZE, PROT_NONE) != 0) {
			__atomic_add_fetch(&mprotect_budget, 1, __ATOMIC_RELAXED);
			mode = GUARD_CANARY;
			warn_canary_once();
		}
	}
	s->map = map;
	s->map_size = map_size;
	s->lo = map + GUARD_SIZE;
	s->hi = map + map_size;
	s->guard = (uint8_t)mode;
	if (mode == GUARD_CANARY)
		*(uint64_t *)s->lo = STACK_CANARY;
	s->valgrind_id = VALGRIND_STACK_REGISTER(s->lo, s->hi);
}

static size_t round_size(size_t size)
{
	return (size + PAGE - 1) & ~(size_t)(PAGE - 1);
}

/* A stack of size usable bytes and its guard below. */
static size_t slot_size(size_t size)
{
	return round_size(size) + GUARD_SIZE;
}

static char *map_stacks(size_t bytes)
{
	char *map = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);

	return map == MAP_FAILED ? NULL : map;
}

int stack_alloc(struct stack *s, size_t size)
{
	size_t map_size = slot_size(size);
	char *map = map_stacks(map_size);

	if (!map)
		return -errno;
	stack_setup(s, map, map_size, false);
	return 0;
}

/* Installs the guards of n slots in one call (Linux 6.14+). */
static bool guard_batch(char *map, size_t slot, int n)
{
	struct iovec iov[STACK_GUARD_RUN];

	if (stack_guard_mode() != GUARD_MADVISE ||
	    !__atomic_load_n(&batch_guard_ok, __ATOMIC_RELAXED))
		return false;
	for (int i = 0; i < n; i++) {
		iov[i].iov_base = map + (size_t)i * slot;
		iov[i].iov_len = GUARD_SIZE;
	}
	if (syscall(SYS_process_madvise, PIDFD_SELF_THREAD_GROUP, iov, (size_t)n,
		    MADV_GUARD_INSTALL, 0) == (long)n * GUARD_SIZE)
		return true;
	__atomic_store_n(&batch_guard_ok, 0, __ATOMIC_RELAXED);
	return false;
}

int stack_alloc_batched(struct stack_batch *b, struct stack *s, size_t size)
{
	size_t slot = slot_size(size);

	if (b->left == 0 || b->size != size) {
		size_t n = STACK_RESERVE_BYTES / slot;
		char *map;

		n = n < 1 ? 1 : n > STACK_RESERVE_MAX ? STACK_RESERVE_MAX : n;
		map = map_stacks(slot * n);
		if (!map)
			return stack_alloc(s, size);
		if (b->left) /* another size: no stack uses the rest */
			munmap(b->next, (size_t)b->left * slot_size(b->size));
		b->next = b->guarded_end = map;
		b->left = (int)n;
		b->size = size;
	}
	if (b->next == b->guarded_end) {
		int run = b->left < STACK_GUARD_RUN ? b->left : STACK_GUARD_RUN;

		if (guard_batch(b->next, slot, run))
			b->guarded_end = b->next + (size_t)run * slot;
	}
	/* Each slot is unmapped on its own later: slots are independent stacks. */
	stack_setup(s, b->next, slot, b->next < b->guarded_end);
	b->next += slot;
	b->left--;
	return 0;
}

void stack_free(struct stack *s)
{
	if (!s->map)
		return;
	VALGRIND_STACK_DEREGISTER(s->valgrind_id);
	munmap(s->map, s->map_size);
	if (s->guard == GUARD_MPROTECT)
		__atomic_add_fetch(&mprotect_budget, 1, __ATOMIC_RELAXED);
	s->map = s->lo = s->hi = NULL;
	s->map_size = 0;
}

void stack_trim(struct stack *s, void *lowest_sp_seen)
{
	char *keep_lo = s->hi - STACK_KEEP;

	/* The lowest sp seen at a switch is a cheap watermark; a deep run that
	 * unwound before switching goes unseen (reading the pages instead would
	 * itself fault them in). */
	if (s->hi - s->lo <= 2 * STACK_KEEP || !lowest_sp_seen || (char *)lowest_sp_seen >= keep_lo)
		return;
	madvise(s->lo, (size_t)(keep_lo - s->lo), MADV_DONTNEED);
	if (s->guard == GUARD_CANARY)
		*(uint64_t *)s->lo = STACK_CANARY;
}

bool stack_in_guard(const struct stack *s, const void *addr)
{
	const char *a = addr;

	if (!s->map)
		return false;
	if (s->guard == GUARD_CANARY) /* no guard: accept faults just below lo */
		return a < s->lo && a >= s->lo - 64 * 1024;
	return a >= s->map && a < s->lo;
}
