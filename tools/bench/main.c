// SPDX-License-Identifier: MIT
/*
 * gort-bench: the Go peer workloads of shared/peers/go re-implemented on
 * libgort, printing the same RESULT lines (same name= and metric= keys), so
 * that Go and gort can be run in turn and compared line by line
 * (tools/bench/compare does that).
 *
 *   gort-bench WORKLOAD [options]    run one workload (options: WORKLOAD -h)
 *   gort-bench list                  the workloads implemented here
 */
#include <errno.h>
#include <math.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

static const struct bench_workload workloads[] = {
	{ "spawn",
	  "1M goroutines: parked / short-lived (2 Ps) / short-lived (1 P), fresh process each",
	  spawn_main },
	{ "yield",
	  "gort_yield ping between 2 goroutines on 1 P (yield.pair), and alone (yield.alone)",
	  yield_main },
	{ "syscall", "2 CPU-bound goroutines on 2 Ps beside a goroutine in blocking syscalls",
	  syscall_main },
	{ "pingpong", "round trips over two unbuffered channels, 1 and 2 Ps", pingpong_main },
	{ "chanbuf", "producers/consumers over a 1024-buffered channel, 2P2C and 1P1C on 2 Ps",
	  chanbuf_main },
	{ "select", "4 senders, one receiver doing 4-way selects, 2 and 1 Ps", select_main },
	{ "timers", "10k goroutines sleeping 1-5 ms 200 times each: oversleep", timers_main },
	{ "mutex",
	  "SafeCounter (mutex around a 1000-key map), RWMutex 90% reads, bare mutex; 1/2/64 "
	  "goroutines on 2 Ps",
	  mutex_main },
	{ "tcpecho",
	  "100 connections x 64-byte round trips for 10 s: in-process, or server/client modes",
	  tcpecho_main },
	{ "httphello", "HTTP/1.1 hello world under wrk -t1 -c100 -d10s (gort-httphello's server)",
	  httphello_main },
};
#define NWORKLOADS ((int)(sizeof(workloads) / sizeof(workloads[0])))

static void usage(FILE *f)
{
	fprintf(f,
		"usage: gort-bench WORKLOAD [options]   (gort-bench WORKLOAD -h for its options)\n"
		"       gort-bench list\n"
		"workloads:");
	for (int i = 0; i < NWORKLOADS; i++)
		fprintf(f, " %s", workloads[i].name);
	fprintf(f, "\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "list") == 0) {
		for (int i = 0; i < NWORKLOADS; i++)
			printf("%-8s %s\n", workloads[i].name, workloads[i].summary);
		return 0;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (int i = 0; i < NWORKLOADS; i++)
		if (strcmp(argv[1], workloads[i].name) == 0)
			return workloads[i].main(argc - 1, argv + 1);
	fprintf(stderr, "gort-bench: unknown workload '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}

/* ---- helpers declared in bench.h ---- */

static void flags_usage(FILE *f, const char *workload, const struct bench_flag *flags, int nflags)
{
	fprintf(f, "usage: gort-bench %s [options]\n", workload);
	for (int i = 0; i < nflags; i++) {
		const char *t = flags[i].type == BF_INT	  ? "int"
				: flags[i].type == BF_DUR ? "duration"
							  : "string";
		fprintf(f, "  -%s %s\n    \t%s\n", flags[i].name, t, flags[i].help);
	}
}

void bench_parse_flags(int argc, char **argv, const struct bench_flag *flags, int nflags)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		const struct bench_flag *fl = NULL;
		size_t len;

		if (a[0] != '-' || a[1] == '\0') {
			fprintf(stderr, "gort-bench %s: unexpected argument '%s'\n", argv[0], a);
			goto bad;
		}
		a += a[1] == '-' ? 2 : 1;
		if (strcmp(a, "h") == 0 || strcmp(a, "help") == 0) {
			flags_usage(stdout, argv[0], flags, nflags);
			exit(0);
		}
		len = strcspn(a, "=");
		for (int j = 0; j < nflags; j++)
			if (strlen(flags[j].name) == len && strncmp(flags[j].name, a, len) == 0)
				fl = &flags[j];
		if (!fl) {
			fprintf(stderr, "gort-bench %s: unknown flag '%s'\n", argv[0], argv[i]);
			goto bad;
		}
		if (a[len] == '=') {
			val = a + len + 1;
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			fprintf(stderr, "gort-bench %s: flag -%s needs a value\n", argv[0],
				fl->name);
			goto bad;
		}
		switch (fl->type) {
		case BF_STR:
			*(const char **)fl->dst = val;
			break;
		case BF_INT: {
			char *end;

			errno = 0;
			long long v = strtoll(val, &end, 0);
			if (errno || end == val || *end) {
				fprintf(stderr, "gort-bench %s: -%s: bad number '%s'\n", argv[0],
					fl->name, val);
				goto bad;
			}
			*(int64_t *)fl->dst = v;
			break;
		}
		case BF_DUR: {
			int64_t d = bench_parse_duration(val);

			if (d < 0) {
				fprintf(stderr,
					"gort-bench %s: -%s: bad duration '%s' (e.g. 4s, 500ms)\n",
					argv[0], fl->name, val);
				goto bad;
			}
			*(int64_t *)fl->dst = d;
			break;
		}
		}
	}
	return;
bad:
	flags_usage(stderr, argv[0], flags, nflags);
	exit(2);
}

int64_t bench_parse_duration(const char *s)
{
	static const struct {
		const char *unit;
		double ns;
	} units[] = { { "ns", 1 },  { "us", 1e3 }, { "µs", 1e3 },  { "ms", 1e6 },
		      { "s", 1e9 }, { "m", 60e9 }, { "h", 3600e9 } };
	double total = 0;

	if (!*s)
		return -1;
	if (strcmp(s, "0") == 0)
		return 0;
	while (*s) {
		char *end;
		double v = strtod(s, &end);
		size_t best = 0;
		double mult = 0;

		if (end == s || v < 0 || isnan(v))
			return -1;
		s = end;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t l = strlen(units[i].unit);

			/* longest match: "ms" before "m" */
			if (l > best && strncmp(s, units[i].unit, l) == 0) {
				best = l;
				mult = units[i].ns;
			}
		}
		if (!best)
			return -1;
		s += best;
		total += v * mult;
	}
	return (int64_t)total;
}

int bench_reexec(char *const argv[])
{
	pid_t pid;
	int st;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		perror("# fork");
		return -1;
	}
	if (pid == 0) {
		execv("/proc/self/exe", argv);
		perror("# execv /proc/self/exe");
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		fprintf(stderr, "# child killed by signal %d\n", WTERMSIG(st));
	return -1;
}

int bench_gort_main(int (*fn)(int, char **), int argc, char **argv)
{
	int rc = gort_main(fn, argc, argv);

	if (rc < 0) {
		fprintf(stderr, "# gort_main: %s (%s)\n", gort_strerror(rc), gort_errmsg());
		return 1;
	}
	return rc;
}
