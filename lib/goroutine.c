// SPDX-License-Identifier: MIT
/*
 * Goroutine descriptors: allocation, the registry of all goroutines, caching
 * of dead ones with their stacks, and gort_go().
 *
 * Like Go's allgs, descriptors are never freed: a dead goroutine is cached
 * (with its stack) for the next spawn, and the registry is an append-only
 * array of fixed chunks. Readers (dumps, tools, the GC's scan) take no lock:
 * they read the published count, then chunks that are never moved or freed.
 * This is why the registry needs no RCU: nothing is ever removed from it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "probes.h"
#include "runtime.h"
#include "sanitizer.h"

#define CHUNK_SHIFT 12
#define CHUNK_SIZE (1 << CHUNK_SHIFT) /* descriptors per chunk */
#define MAX_CHUNKS (1 << 14)	      /* 64M goroutines */
#define GFREE_KEEP_STACKS 4096	      /* cached dead goroutines that always keep their stacks */
#define SCAVENGE_PERIOD_NS 1000000000LL

static struct goroutine *chunks[MAX_CHUNKS];
/* Stacks of goroutines spawned by threads without a proc (foreign threads,
 * the lazy start): one reservation shared under a lock, so that a plain
 * thread spawning many goroutines does not mmap once per spawn. */
static struct stack_batch foreign_stacks;
static struct rt_lock foreign_stacks_lock = RT_LOCK_INIT;
static int64_t nallocated; /* atomic: published count */
static struct rt_lock alloc_lock = RT_LOCK_INIT;

int64_t registry_count(void)
{
	return __atomic_load_n(&nallocated, __ATOMIC_ACQUIRE);
}

struct goroutine *registry_get(int64_t i)
{
	return &__atomic_load_n(&chunks[i >> CHUNK_SHIFT], __ATOMIC_ACQUIRE)[i & (CHUNK_SIZE - 1)];
}

static struct goroutine *descriptor_new(void)
{
	struct goroutine *g = NULL;
	int64_t n;

	rt_lock(&alloc_lock);
	n = nallocated;
	if ((n >> CHUNK_SHIFT) >= MAX_CHUNKS)
		goto out;
	if (!chunks[n >> CHUNK_SHIFT]) {
		void *c = mmap(NULL, CHUNK_SIZE * sizeof(struct goroutine), PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (c == MAP_FAILED)
			goto out;
#ifdef GORT_ASAN
		/* LeakSanitizer does not scan mmap'd memory: without this, what
		 * only a descriptor points to (its errmsg) looks leaked. */
		__lsan_register_root_region(c, CHUNK_SIZE * sizeof(struct goroutine));
#endif
		__atomic_store_n(&chunks[n >> CHUNK_SHIFT], c, __ATOMIC_RELEASE);
	}
	g = &chunks[n >> CHUNK_SHIFT][n & (CHUNK_SIZE - 1)];
	/* Already zero, but written whole: a descriptor straddles a page
	 * boundary every few, and a read (goroutine_new's of stack.map) as the
	 * first touch of a page would map the zero page, making the write that
	 * follows a copy-on-write fault with a TLB shootdown IPI to every
	 * other worker. */
	memset(g, 0, sizeof(*g));
	g->status = G_IDLE;
	__atomic_store_n(&nallocated, n + 1, __ATOMIC_RELEASE);
out:
	rt_unlock(&alloc_lock);
	return g;
}

/* A cached dead goroutine: from p's list, else a batch from the global one. */
static struct goroutine *gfree_get(struct proc *p)
{
	struct goroutine *g;

	if (p && !p->gfree && __atomic_load_n(&sched.ngfree, __ATOMIC_RELAXED) > 0) {
		rt_lock(&sched.gfree_lock);
		while (p->ngfree < GFREE_LOCAL_MAX / 2 && sched.gfree) {
			g = sched.gfree;
			sched.gfree = g->sched_link;
			__atomic_sub_fetch(&sched.ngfree, 1, __ATOMIC_RELAXED);
			g->sched_link = p->gfree;
			p->gfree = g;
			p->ngfree++;
		}
		rt_unlock(&sched.gfree_lock);
	}
	if (p && p->gfree) {
		g = p->gfree;
		p->gfree = g->sched_link;
		p->ngfree--;
		return g;
	}
	if (!p && __atomic_load_n(&sched.ngfree, __ATOMIC_RELAXED) > 0) {
		rt_lock(&sched.gfree_lock);
		g = sched.gfree;
		if (g) {
			sched.gfree = g->sched_link;
			__atomic_sub_fetch(&sched.ngfree, 1, __ATOMIC_RELAXED);
		}
		rt_unlock(&sched.gfree_lock);
		return g;
	}
	return NULL;
}

/* Caches a dead goroutine (runs after the switch away from it). */
void goroutine_free(struct proc *p, struct goroutine *g)
{
	stack_trim(&g->stack, g->lowest_sp);
	g->lowest_sp = NULL;
	sanitizer_goroutine_exit(g);
	__atomic_store_n(&g->status, G_IDLE, __ATOMIC_RELEASE);
	g->sched_link = p->gfree;
	p->gfree = g;
	if (++p->ngfree < GFREE_LOCAL_MAX)
		return;
	/* Move half to the global cache. Stacks are not unmapped here: that
	 * costs a VMA split and a TLB shootdown; gfree_scavenge() does it later,
	 * off the goroutines' path (Go frees stacks at GC time for the same reason). */
	rt_lock(&sched.gfree_lock);
	while (p->ngfree > GFREE_LOCAL_MAX / 2) {
		g = p->gfree;
		p->gfree = g->sched_link;
		p->ngfree--;
		g->sched_link = sched.gfree;
		sched.gfree = g;
		__atomic_add_fetch(&sched.ngfree, 1, __ATOMIC_RELAXED);
	}
	rt_unlock(&sched.gfree_lock);
}

struct goroutine *goroutine_new(size_t stack_size)
{
	struct worker *w = this_worker();
	struct goroutine *g = gfree_get(w && w->curg ? w->proc : NULL);
	int err;

	if (g && g->stack.map && (size_t)(g->stack.hi - g->stack.lo) != stack_size)
		stack_free(&g->stack);
	if (!g) {
		g = descriptor_new();
		if (!g) {
			set_errmsg("gort_go: no memory for a goroutine descriptor");
			return NULL;
		}
	}
	if (!g->stack.map) {
		if (w && w->curg && w->proc) {
			err = stack_alloc_batched(&w->proc->stacks, &g->stack, stack_size);
		} else {
			rt_lock(&foreign_stacks_lock);
			err = stack_alloc_batched(&foreign_stacks, &g->stack, stack_size);
			rt_unlock(&foreign_stacks_lock);
		}
		if (err) {
			set_errmsg("gort_go: cannot map a %zu-byte stack: %s", stack_size,
				   strerror(-err));
			/* Keep the descriptor for later spawns. */
			rt_lock(&sched.gfree_lock);
			g->sched_link = sched.gfree;
			sched.gfree = g;
			__atomic_add_fetch(&sched.ngfree, 1, __ATOMIC_RELAXED);
			rt_unlock(&sched.gfree_lock);
			return NULL;
		}
	}
	sanitizer_goroutine_init(g);
	return g;
}

/*
 * Called by sysmon at every tick. When more than GFREE_KEEP_STACKS dead
 * goroutines stayed cached globally for a whole period, half of the excess
 * loses its stack over the next period, at most SCAVENGE_BATCH per tick (the
 * descriptors stay cached). Unmapping happens outside the lock.
 */
#define SCAVENGE_BATCH 256
void gfree_scavenge(int64_t now)
{
	static int64_t period_start;
	static int low_water = -1, to_free;
	struct stack batch[SCAVENGE_BATCH];
	int cur = __atomic_load_n(&sched.ngfree, __ATOMIC_RELAXED), n = 0;

	if (low_water < 0 || cur < low_water)
		low_water = cur;
	if (now - period_start >= SCAVENGE_PERIOD_NS) {
		period_start = now;
		to_free = low_water > GFREE_KEEP_STACKS ? (low_water - GFREE_KEEP_STACKS) / 2 : 0;
		low_water = cur;
	}
	if (to_free <= 0)
		return;
	rt_lock(&sched.gfree_lock);
	for (struct goroutine *g = sched.gfree; g && n < SCAVENGE_BATCH && n < to_free;
	     g = g->sched_link) {
		if (!g->stack.map)
			continue;
		batch[n++] = g->stack;
		memset(&g->stack, 0, sizeof(g->stack));
	}
	rt_unlock(&sched.gfree_lock);
	to_free = n < SCAVENGE_BATCH ? 0 : to_free - n;
	for (int i = 0; i < n; i++)
		stack_free(&batch[i]);
}

int64_t goroutine_spawn(void (*fn)(void *), void *arg, const struct gort_go_opts *opts)
{
	size_t stack_size = config.default_stack;
	struct goroutine *g;
	struct worker *w;
	int64_t id;
	int err;

	if (!fn) {
		set_errmsg("gort_go: function is NULL");
		return GORT_EINVAL;
	}
	if (opts) {
		for (int i = 0; i < 4; i++) {
			if (opts->reserved[i]) {
				set_errmsg("gort_go: reserved option field %d is not zero", i);
				return GORT_EINVAL;
			}
		}
		if (opts->stack_size) {
			if (opts->stack_size < STACK_MIN || opts->stack_size > STACK_MAX) {
				set_errmsg("gort_go: stack size %zu is outside %u..%zu",
					   opts->stack_size, STACK_MIN, STACK_MAX);
				return GORT_EINVAL;
			}
			stack_size = opts->stack_size;
		}
	}
	err = gort_init();
	if (err)
		return err;
	g = goroutine_new(stack_size);
	if (!g)
		return GORT_ENOMEM;
	g->fn = fn;
	g->arg = arg;
	g->name = opts ? opts->name : NULL;
	__atomic_store_n(&g->preempt, false, __ATOMIC_RELAXED);
	g->wait_reason = WAIT_NONE;
	g->saved_errno = 0;
	g->asan_fake_stack = NULL;
	if (g->errmsg)
		g->errmsg[0] = '\0';
	g->ctx.sp = NULL; /* fresh: see ctx_switch() */
	/* Once queued, g may run, exit and be reused before we return: return
	 * the id from a local. */
	id = g->id = __atomic_add_fetch(&sched.goid_gen, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&sched.ngoroutines, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&sched.created, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&g->status, G_RUNNABLE, __ATOMIC_RELEASE);
	GORT_PROBE2(goroutine__create, id, (uintptr_t)fn);

	/* Like Go's newproc: the new goroutine runs next on the spawner's proc. */
	w = this_worker();
	if (w && w->curg && w->proc)
		runq_put(w->proc, g, true);
	else
		global_runq_put(g);
	sched_wakep();
	return id;
}

int64_t gort_go_opts(void (*fn)(void *), void *arg, const struct gort_go_opts *opts)
{
	int64_t id = goroutine_spawn(fn, arg, opts);

	sched_safe_point();
	sched_spawn_point();
	return id;
}

int64_t gort_go(void (*fn)(void *), void *arg)
{
	return gort_go_opts(fn, arg, NULL);
}

void gort_exit(void)
{
	if (!this_goroutine())
		gort_fatal("gort_exit called outside a goroutine");
	goroutine_exit();
}

int64_t gort_id(void)
{
	struct goroutine *g = this_goroutine();

	return g ? g->id : 0;
}

int64_t gort_num_goroutine(void)
{
	return __atomic_load_n(&sched.ngoroutines, __ATOMIC_RELAXED);
}
