// SPDX-License-Identifier: MIT
/*
 * Pool: Go's sync.Pool, per proc: a private slot and a shared list.
 *
 * get takes the caller's proc's private object, else the newest of its
 * shared list, else steals the oldest of another proc's shared list, else
 * calls new_fn. put fills the private slot, else pushes on the shared list.
 * A goroutine reads its proc's id and touches that proc's slot with no call
 * that could park or switch in between, so in practice only the proc's own
 * goroutine uses the private slot; but the slot is still only touched with
 * atomic exchanges, because the scavenger (sysmon thread) empties it, and
 * so a goroutine that did move would merely use another proc's slot. The
 * shared lists are rings under a small lock each: their owner pushes and
 * pops at the top, thieves and threads without a proc take from the bottom
 * (the oldest, least likely to be in the owner's cache). A foreign thread
 * has no proc: it only uses the shared lists.
 *
 * Memory pressure: see gort.h. Every pool is on a registry that the
 * scavenger walks once a second (pool_scavenge, from sysmon).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

#define POOL_SCAVENGE_PERIOD_NS 1000000000LL
#define POOL_IDLE_PERIODS 2	     /* unused for this many whole periods: drop */
#define POOL_RSS_MIN_BASE (4L << 20) /* drop all when RSS doubles past this */

struct pool_local {
	void *private_obj;   /* atomic exchange only */
	struct rt_lock lock; /* the shared ring below */
	uint32_t head;	     /* index of the oldest */
	uint32_t len;	     /* atomic loads outside the lock */
	uint32_t cap;	     /* a power of two, or 0 */
	void **ring;
} __attribute__((aligned(64)));

struct gort_pool {
	void *(*new_fn)(void);
	void (*free_fn)(void *obj);
	uint32_t used;	  /* atomic: set by get/put, cleared by the scavenger */
	int idle_periods; /* scavenger only, under registry_lock */
	int nlocal;	  /* atomic: locals [0, nlocal) may exist */
	struct gort_pool *reg_next, *reg_prev;
	struct pool_local *local[MAX_PROCS]; /* atomic: allocated on first use */
};

static struct rt_lock registry_lock = RT_LOCK_INIT;
static struct gort_pool *registry;
static long rss_base; /* registry_lock */

gort_pool *gort_pool_new(void *(*new_fn)(void), void (*free_fn)(void *obj))
{
	gort_pool *p = calloc(1, sizeof(*p));

	if (!p) {
		set_errmsg("gort_pool_new: out of memory");
		return NULL;
	}
	p->new_fn = new_fn;
	p->free_fn = free_fn;
	rt_lock(&registry_lock);
	p->reg_next = registry;
	if (registry)
		registry->reg_prev = p;
	__atomic_store_n(&registry, p, __ATOMIC_RELAXED);
	rt_unlock(&registry_lock);
	return p;
}

static struct pool_local *local_get(gort_pool *p, int id)
{
	struct pool_local *l = __atomic_load_n(&p->local[id], __ATOMIC_ACQUIRE), *exp = NULL;
	int n;

	if (l)
		return l;
	l = aligned_alloc(64, sizeof(*l));
	if (!l)
		return NULL;
	memset(l, 0, sizeof(*l));
	if (!__atomic_compare_exchange_n(&p->local[id], &exp, l, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		free(l);
		return exp;
	}
	n = __atomic_load_n(&p->nlocal, __ATOMIC_RELAXED);
	while (n <= id && !__atomic_compare_exchange_n(&p->nlocal, &n, id + 1, true,
						       __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		;
	return l;
}

/* The caller's proc id, or -1 on a foreign thread. Read with no switch
 * between it and the use of the slot (see the top comment). */
static inline int current_proc_id(void)
{
	struct worker *w = this_worker();

	return w && w->curg && w->proc ? w->proc->id : -1;
}

static inline void mark_used(gort_pool *p)
{
	/* Read first: a store per call would bounce the line between CPUs. */
	if (!__atomic_load_n(&p->used, __ATOMIC_RELAXED))
		__atomic_store_n(&p->used, 1, __ATOMIC_RELAXED);
}

/* l->lock held. false when the ring cannot grow. */
static bool ring_push(struct pool_local *l, void *obj)
{
	if (l->len == l->cap) {
		uint32_t ncap = l->cap ? l->cap * 2 : 8;
		void **nr;

		if (ncap < l->cap)
			return false;
		nr = malloc(ncap * sizeof(void *));
		if (!nr)
			return false;
		for (uint32_t i = 0; i < l->len; i++)
			nr[i] = l->ring[(l->head + i) & (l->cap - 1)];
		free(l->ring);
		l->ring = nr;
		l->head = 0;
		l->cap = ncap;
	}
	l->ring[(l->head + l->len) & (l->cap - 1)] = obj;
	__atomic_store_n(&l->len, l->len + 1, __ATOMIC_RELAXED);
	return true;
}

/* l->lock held. The newest (top) or the oldest (bottom) object, or NULL. */
static void *ring_pop(struct pool_local *l, bool top)
{
	void *obj;

	if (!l->len)
		return NULL;
	if (top) {
		obj = l->ring[(l->head + l->len - 1) & (l->cap - 1)];
	} else {
		obj = l->ring[l->head];
		l->head = (l->head + 1) & (l->cap - 1);
	}
	__atomic_store_n(&l->len, l->len - 1, __ATOMIC_RELAXED);
	return obj;
}

static void *shared_pop(struct pool_local *l, bool top)
{
	void *obj;

	if (!l || !__atomic_load_n(&l->len, __ATOMIC_RELAXED))
		return NULL;
	rt_lock(&l->lock);
	obj = ring_pop(l, top);
	rt_unlock(&l->lock);
	return obj;
}

void *gort_pool_get(gort_pool *p)
{
	int id = current_proc_id(), n, start;
	void *obj;

	mark_used(p);
	if (id >= 0) {
		struct pool_local *l = __atomic_load_n(&p->local[id], __ATOMIC_ACQUIRE);

		if (l) {
			obj = __atomic_exchange_n(&l->private_obj, NULL, __ATOMIC_ACQ_REL);
			if (obj)
				return obj;
			obj = shared_pop(l, true);
			if (obj)
				return obj;
		}
		start = id + 1;
	} else {
		start = (int)(fastrand() >> 32);
	}
	/* Steal from the others, from a different place per proc. */
	n = __atomic_load_n(&p->nlocal, __ATOMIC_ACQUIRE);
	for (int i = 0; i < n; i++) {
		int v = (int)(((unsigned)start + (unsigned)i) % (unsigned)n);

		if (v == id)
			continue;
		obj = shared_pop(__atomic_load_n(&p->local[v], __ATOMIC_ACQUIRE), false);
		if (obj)
			return obj;
	}
	return p->new_fn ? p->new_fn() : NULL;
}

static void drop(gort_pool *p, void *obj)
{
	if (p->free_fn)
		p->free_fn(obj);
}

void gort_pool_put(gort_pool *p, void *obj)
{
	int id = current_proc_id();
	struct pool_local *l;
	bool ok;

	if (!obj)
		return;
	mark_used(p);
	if (id < 0) {
		int n = __atomic_load_n(&sched.maxprocs, __ATOMIC_RELAXED);

		id = (int)((fastrand() >> 32) % (uint64_t)(n > 0 ? n : 1));
	}
	l = local_get(p, id);
	if (!l) {
		drop(p, obj);
		return;
	}
	if (current_proc_id() == id) {
		void *none = NULL;

		if (__atomic_compare_exchange_n(&l->private_obj, &none, obj, false,
						__ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			return;
	}
	rt_lock(&l->lock);
	ok = ring_push(l, obj);
	rt_unlock(&l->lock);
	if (!ok)
		drop(p, obj);
}

/* Drops every cached object of p; returns how many. Not against a
 * concurrent gort_pool_free (the registry lock, or the owner, sees to it). */
static long pool_drain(gort_pool *p)
{
	int n = __atomic_load_n(&p->nlocal, __ATOMIC_ACQUIRE);
	long dropped = 0;

	for (int i = 0; i < n; i++) {
		struct pool_local *l = __atomic_load_n(&p->local[i], __ATOMIC_ACQUIRE);
		void *obj, **ring;
		uint32_t head, len, cap;

		if (!l)
			continue;
		obj = __atomic_exchange_n(&l->private_obj, NULL, __ATOMIC_ACQ_REL);
		if (obj) {
			drop(p, obj);
			dropped++;
		}
		if (!__atomic_load_n(&l->len, __ATOMIC_RELAXED))
			continue;
		/* Detach the ring; free its objects outside the lock. */
		rt_lock(&l->lock);
		ring = l->ring;
		head = l->head;
		len = l->len;
		cap = l->cap;
		l->ring = NULL;
		l->head = l->cap = 0;
		__atomic_store_n(&l->len, 0, __ATOMIC_RELAXED);
		rt_unlock(&l->lock);
		for (uint32_t j = 0; j < len; j++)
			drop(p, ring[(head + j) & (cap - 1)]);
		dropped += len;
		free(ring);
	}
	return dropped;
}

void gort_pool_free(gort_pool *p)
{
	if (!p)
		return;
	rt_lock(&registry_lock);
	if (p->reg_prev)
		p->reg_prev->reg_next = p->reg_next;
	else
		__atomic_store_n(&registry, p->reg_next, __ATOMIC_RELAXED);
	if (p->reg_next)
		p->reg_next->reg_prev = p->reg_prev;
	rt_unlock(&registry_lock);
	pool_drain(p);
	for (int i = 0; i < MAX_PROCS; i++) {
		struct pool_local *l = p->local[i];

		if (l) {
			free(l->ring);
			free(l);
		}
	}
	free(p);
}

void gort_pool_drain_all(void)
{
	rt_lock(&registry_lock);
	for (gort_pool *p = registry; p; p = p->reg_next)
		pool_drain(p);
	rt_unlock(&registry_lock);
}

static long rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "re");
	long size, rss = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &rss) != 2)
		rss = -1;
	fclose(f);
	return rss < 0 ? -1 : rss * sysconf(_SC_PAGESIZE);
}

/*
 * Called by sysmon at every tick; acts once per POOL_SCAVENGE_PERIOD_NS.
 * The policy is gort.h's: a pool unused for POOL_IDLE_PERIODS whole periods
 * loses its cache; all pools do when RSS has doubled since the last time.
 */
void pool_scavenge(int64_t now)
{
	static int64_t last;
	long rss;

	if (now - last < POOL_SCAVENGE_PERIOD_NS)
		return;
	last = now;
	if (!__atomic_load_n(&registry, __ATOMIC_RELAXED))
		return;
	rss = rss_bytes();
	rt_lock(&registry_lock);
	if (rss_base == 0)
		rss_base = rss > POOL_RSS_MIN_BASE ? rss : POOL_RSS_MIN_BASE;
	if (rss > 0 && rss >= 2 * rss_base) {
		for (gort_pool *p = registry; p; p = p->reg_next) {
			pool_drain(p);
			p->idle_periods = 0;
		}
		rss_base = rss;
	} else {
		for (gort_pool *p = registry; p; p = p->reg_next) {
			if (__atomic_exchange_n(&p->used, 0, __ATOMIC_RELAXED))
				p->idle_periods = 0;
			else if (p->idle_periods < POOL_IDLE_PERIODS &&
				 ++p->idle_periods == POOL_IDLE_PERIODS)
				pool_drain(p);
		}
	}
	rt_unlock(&registry_lock);
}
