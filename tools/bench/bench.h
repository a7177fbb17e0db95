/* SPDX-License-Identifier: MIT */
/*
 * gort-bench: shared helpers for the workloads.
 *
 * Output convention (the same as the Go peers in shared/peers/go): results go
 * to stdout as exactly
 *     RESULT name=<workload>[.<variant>] metric=<unit> value=<number>
 * one line per metric; everything else goes to stderr, each line prefixed
 * with '#'.
 *
 * Every workload is a plain C entry point, run on the process's main thread
 * BEFORE the runtime starts: it parses its flags, sets GOMAXPROCS
 * (gort_maxprocs) or re-executes itself for a fresh process, and then runs
 * its measured body as a goroutine with gort_main().
 */
#ifndef GORT_BENCH_H
#define GORT_BENCH_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gort.h>

/* ---- workloads (one file each) ---- */

struct bench_workload {
	const char *name;
	const char *summary;
	int (*main)(int argc, char **argv); /* argv[0] is the workload name */
};

int spawn_main(int argc, char **argv);
int yield_main(int argc, char **argv);
int syscall_main(int argc, char **argv);
int pingpong_main(int argc, char **argv);
int chanbuf_main(int argc, char **argv);
int select_main(int argc, char **argv);
int timers_main(int argc, char **argv);
int mutex_main(int argc, char **argv);
int tcpecho_main(int argc, char **argv);
int httphello_main(int argc, char **argv);

/* ---- output ---- */

static inline void bench_result(const char *name, const char *metric, double v)
{
	printf("RESULT name=%s metric=%s value=%.3f\n", name, metric, v);
	/* Children re-executed by a workload share stdout: keep lines in order. */
	fflush(stdout);
}

__attribute__((format(printf, 1, 2))) static inline void bench_diag(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "# %s\n", buf);
}

/* ---- time ---- */

/* Monotonic ns without the preemption point; goroutines use gort_now(). */
static inline int64_t bench_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- memory ---- */

/* A "Name:   123 kB" field of /proc/self/status in KiB (VmHWM, VmRSS), or -1. */
static inline int64_t bench_status_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	size_t len = strlen(field);
	char line[256];
	int64_t v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, field, len) == 0 && line[len] == ':') {
			v = strtoll(line + len + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

/* ---- statistics ---- */

static inline int bench_cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static inline void bench_sort_i64(int64_t *a, size_t n)
{
	if (n > 1)
		qsort(a, n, sizeof(*a), bench_cmp_i64);
}

/* Go's pct(): element int(f*n) (clamped) of a sorted array; 0 when empty. */
static inline int64_t bench_pct(const int64_t *sorted, size_t n, double f)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(f * (double)n);
	if (i >= n)
		i = n - 1;
	return sorted[i];
}

/* A growable int64 array (Go's append on a []int64). Aborts on OOM. */
struct bench_vec {
	int64_t *v;
	size_t n, cap;
};

static inline void bench_vec_init(struct bench_vec *a, size_t cap)
{
	a->v = malloc(cap * sizeof(int64_t));
	if (!a->v) {
		fprintf(stderr, "# out of memory\n");
		abort();
	}
	a->n = 0;
	a->cap = cap;
}

static inline void bench_vec_push(struct bench_vec *a, int64_t x)
{
	if (a->n == a->cap) {
		a->cap *= 2;
		a->v = realloc(a->v, a->cap * sizeof(int64_t));
		if (!a->v) {
			fprintf(stderr, "# out of memory\n");
			abort();
		}
	}
	a->v[a->n++] = x;
}

/* ---- flags (Go's flag package syntax: -name=v, -name v, --name=v) ---- */

enum bench_flag_type {
	BF_STR,
	BF_INT,
	BF_DUR
};

struct bench_flag {
	const char *name;
	enum bench_flag_type type;
	void *dst; /* const char **, int64_t *, int64_t * (ns) */
	const char *help;
};

/* Parses argv[1..argc-1] into flags; prints usage and exits 2 on an error,
 * exits 0 after printing usage for -h / -help. */
void bench_parse_flags(int argc, char **argv, const struct bench_flag *flags, int nflags);

/* Parses a Go duration ("4s", "1.5s", "500ms", "20us", "1m"); -1 if invalid. */
int64_t bench_parse_duration(const char *s);

/* Runs /proc/self/exe with argv (a fresh process of this binary, sharing
 * stdout/stderr); waits; returns its exit status, or -1 if it did not exit. */
int bench_reexec(char *const argv[]);

/* Starts the runtime and runs fn as the main goroutine; exits on failure. */
int bench_gort_main(int (*fn)(int, char **), int argc, char **argv);

#endif
