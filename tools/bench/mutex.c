// SPDX-License-Identifier: MIT
/*
 * Workload "mutex": shared/peers/go/mutex/main.go on libgort. The definition
 * (copied from the Go file; gort mapping in [brackets]):
 *
 * GOMAXPROCS = 2 [gort_maxprocs(2) before the runtime starts]. TOTAL =
 * 10,000,000 operations per case, split evenly over G goroutines, G in
 * {1, 2, 64} (G=2 and G=64 are the briefed cases; G=1 is the uncontended
 * reference). Keys: K = 1000 strings "key0" .. "key999", built once before
 * timing; the map is pre-populated with all K keys (value 0) before timing.
 * Goroutine g (0-based) performs ops j = 0 .. TOTAL/G-1 on key index
 * (g*131 + j) % 1000. Clock: starts before spawning the G goroutines, stops
 * after all have finished (WaitGroup).
 *
 * mutex.map.g<G>   ("SafeCounter"): struct { mu sync.Mutex; v map[string]int64 }
 *     op = mu.Lock(); v[key]++; mu.Unlock()
 *     Check: sum of all values == TOTAL.
 *     RESULT ns_per_op = wall / TOTAL
 * rwmutex.map.g<G> (read-heavy, 90% reads): struct { mu sync.RWMutex; v map[string]int64 }
 *     op j with j % 10 == 0: mu.Lock(); v[key]++; mu.Unlock()          (write, 10%)
 *     otherwise:             mu.RLock(); acc += v[key]; mu.RUnlock()    (read, 90%)
 *     Check: sum of values == number of write ops.
 *     RESULT ns_per_op = wall / TOTAL
 *     [After its loop each goroutine adds acc to a global sink under mu.Lock.]
 * mutex.int.g<G>   (pure lock cost, no map): struct { mu sync.Mutex; n int64 }
 *     op = mu.Lock(); n++; mu.Unlock().  Check n == TOTAL.
 *     RESULT ns_per_op = wall / TOTAL
 *
 * [map[string]int64 is a small string-keyed hash map below, like Go's: every
 * access hashes the key's bytes (Go: AES hash; here wyhash-style loads
 * through a multiply-xorshift mix) and compares lengths, then pointers (as
 * Go's memequal), then bytes on a match; open
 * addressing with linear probing, 2048 slots for the 1000 keys (Go: 1000 keys
 * in 8-slot buckets, load <= 6.5). Keys are (pointer, length) pairs, as Go's
 * string headers, built with snprintf before timing.]
 *
 * Flag as in Go: -total N.
 */
#include "bench.h"

#define K 1000
#define MAP_SLOTS 2048 /* a power of two, > 2*K */

struct str {
	const char *p;
	size_t len;
};

struct map_slot {
	struct str key; /* key.p == NULL: empty */
	int64_t val;
};

struct strmap {
	struct map_slot slot[MAP_SLOTS];
};

static int64_t total_arg = 10000000;
static struct str keys[K];
static int64_t sink;

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 32;
	x *= 0xd6e8feb86659fd93ULL;
	x ^= x >> 32;
	x *= 0xd6e8feb86659fd93ULL;
	x ^= x >> 32;
	return x;
}

static inline uint64_t load64(const char *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
	return w;
}

static inline uint64_t load32(const char *p)
{
	uint32_t w;

	memcpy(&w, p, 4);
	return w;
}

/* Whole words, the last one overlapping; short strings as in wyhash (two
 * overlapping 4-byte loads, or three bytes): one mix for up to 8 bytes. */
static inline uint64_t str_hash(struct str s)
{
	const char *p = s.p;
	size_t n = s.len;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ n, w;

	if (n > 8) {
		for (; n > 8; p += 8, n -= 8)
			h = mix64(h ^ load64(p));
		w = load64(p + n - 8);
	} else if (n >= 4) {
		w = load32(p) << 32 | load32(p + n - 4);
	} else if (n > 0) {
		w = (uint64_t)(uint8_t)p[0] << 16 | (uint64_t)(uint8_t)p[n >> 1] << 8 |
		    (uint8_t)p[n - 1];
	} else {
		w = 0;
	}
	return mix64(h ^ w);
}

/* Go's string equality: lengths, then the same backing bytes, then bytes. */
static inline bool str_eq(struct str a, struct str b)
{
	return a.len == b.len && (a.p == b.p || memcmp(a.p, b.p, a.len) == 0);
}

/* Go's mapassign / mapaccess: the slot of key, inserted (value 0) if absent. */
static inline int64_t *map_slot(struct strmap *m, struct str key)
{
	size_t i = str_hash(key) & (MAP_SLOTS - 1);

	for (;; i = (i + 1) & (MAP_SLOTS - 1)) {
		struct map_slot *s = &m->slot[i];

		if (!s->key.p) {
			s->key = key;
			s->val = 0;
			return &s->val;
		}
		if (str_eq(s->key, key))
			return &s->val;
	}
}

/* Go's v[key] read: 0 when absent, nothing inserted. */
static inline int64_t map_get(const struct strmap *m, struct str key)
{
	size_t i = str_hash(key) & (MAP_SLOTS - 1);

	for (;; i = (i + 1) & (MAP_SLOTS - 1)) {
		const struct map_slot *s = &m->slot[i];

		if (!s->key.p)
			return 0;
		if (str_eq(s->key, key))
			return s->val;
	}
}

static int64_t map_sum(const struct strmap *m)
{
	int64_t s = 0;

	for (int i = 0; i < MAP_SLOTS; i++)
		if (m->slot[i].key.p)
			s += m->slot[i].val;
	return s;
}

static struct strmap *map_new_populated(void)
{
	struct strmap *m = calloc(1, sizeof(*m));

	if (!m) {
		fprintf(stderr, "# out of memory\n");
		exit(1);
	}
	for (int i = 0; i < K; i++)
		*map_slot(m, keys[i]) = 0;
	return m;
}

struct safe_counter {
	gort_mutex mu;
	struct strmap *v;
};

struct rw_counter {
	gort_rwmutex mu;
	struct strmap *v;
};

struct int_counter {
	gort_mutex mu;
	int64_t n;
};

static struct safe_counter sc;
static struct rw_counter rw;
static struct int_counter ic;

static void sc_body(int id, int64_t per)
{
	for (int64_t j = 0; j < per; j++) {
		struct str key = keys[(id * 131 + j) % K];

		gort_mutex_lock(&sc.mu);
		(*map_slot(sc.v, key))++;
		gort_mutex_unlock(&sc.mu);
	}
}

static void rw_body(int id, int64_t per)
{
	int64_t acc = 0;

	for (int64_t j = 0; j < per; j++) {
		struct str key = keys[(id * 131 + j) % K];

		if (j % 10 == 0) {
			gort_rwmutex_lock(&rw.mu);
			(*map_slot(rw.v, key))++;
			gort_rwmutex_unlock(&rw.mu);
		} else {
			gort_rwmutex_rlock(&rw.mu);
			acc += map_get(rw.v, key);
			gort_rwmutex_runlock(&rw.mu);
		}
	}
	gort_rwmutex_lock(&rw.mu);
	sink += acc;
	gort_rwmutex_unlock(&rw.mu);
}

static void int_body(int id, int64_t per)
{
	(void)id;
	for (int64_t j = 0; j < per; j++) {
		gort_mutex_lock(&ic.mu);
		ic.n++;
		gort_mutex_unlock(&ic.mu);
	}
}

struct fan_arg {
	void (*body)(int, int64_t);
	int id;
	int64_t per;
	gort_waitgroup *wg;
};

static void fan_main(void *p)
{
	struct fan_arg *a = p;

	a->body(a->id, a->per);
	gort_wg_done(a->wg);
}

/* Go's fanout: wall ns of g goroutines running body(i, per). */
static int64_t fanout(int g, int64_t per, void (*body)(int, int64_t))
{
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	struct fan_arg *args = calloc((size_t)g, sizeof(*args));
	int64_t t0, d;

	if (!args) {
		fprintf(stderr, "# out of memory\n");
		exit(1);
	}
	gort_wg_add(&wg, g);
	t0 = gort_now();
	for (int i = 0; i < g; i++) {
		args[i] = (struct fan_arg){ body, i, per, &wg };
		if (gort_go(fan_main, &args[i]) < 0) {
			fprintf(stderr, "# gort_go: %s\n", gort_errmsg());
			exit(1);
		}
	}
	gort_wg_wait(&wg);
	d = gort_now() - t0;
	free(args);
	return d;
}

static void fail(const char *s)
{
	fprintf(stderr, "check failed: %s\n", s);
	exit(1);
}

static int mutex_body(int argc, char **argv)
{
	static const int gs[] = { 1, 2, 64 };
	static char keybuf[K][8];
	char name[64];

	(void)argc;
	(void)argv;
	for (int i = 0; i < K; i++) {
		int len = snprintf(keybuf[i], sizeof(keybuf[i]), "key%d", i);

		keys[i] = (struct str){ keybuf[i], (size_t)len };
	}
	for (size_t gi = 0; gi < sizeof(gs) / sizeof(gs[0]); gi++) {
		int g = gs[gi];
		int64_t per = total_arg / g, n = per * g, d;
		struct gort_stats st0, st1;

		sc = (struct safe_counter){ GORT_MUTEX_INIT, map_new_populated() };
		gort_stats(&st0);
		d = fanout(g, per, sc_body);
		gort_stats(&st1);
		if (map_sum(sc.v) != n)
			fail("map");
		free(sc.v);
		snprintf(name, sizeof(name), "mutex.map.g%d", g);
		bench_result(name, "ns_per_op", (double)d / (double)n);
		bench_diag("%s: %lld context switches", name,
			   (long long)(st1.switches - st0.switches));

		rw = (struct rw_counter){ GORT_RWMUTEX_INIT, map_new_populated() };
		gort_stats(&st0);
		d = fanout(g, per, rw_body);
		gort_stats(&st1);
		if (map_sum(rw.v) != (int64_t)g * ((per + 9) / 10))
			fail("rw");
		free(rw.v);
		snprintf(name, sizeof(name), "rwmutex.map.g%d", g);
		bench_result(name, "ns_per_op", (double)d / (double)n);
		bench_diag("%s: %lld context switches", name,
			   (long long)(st1.switches - st0.switches));

		ic = (struct int_counter){ GORT_MUTEX_INIT, 0 };
		d = fanout(g, per, int_body);
		if (ic.n != n)
			fail("int");
		snprintf(name, sizeof(name), "mutex.int.g%d", g);
		bench_result(name, "ns_per_op", (double)d / (double)n);
	}
	bench_diag("sink %lld", (long long)sink);
	return 0;
}

int mutex_main(int argc, char **argv)
{
	static const struct bench_flag flags[] = {
		{ "total", BF_INT, &total_arg, "operations per case (default 10000000)" },
	};

	bench_parse_flags(argc, argv, flags, 1);
	if (total_arg < 64) {
		fprintf(stderr, "gort-bench mutex: -total must be at least 64\n");
		return 2;
	}
	gort_maxprocs(2); /* runtime.GOMAXPROCS(2) */
	return bench_gort_main(mutex_body, argc, argv);
}
