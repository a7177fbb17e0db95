// SPDX-License-Identifier: MIT
/*
 * Runtime configuration from the environment:
 *   GORT_MAXPROCS=N            procs (default: CPUs in the affinity mask)
 *   GORTDEBUG=k=v,k=v          schedtrace=MS (Go's SCHED lines), scheddetail=1 (with
 *                              schedtrace: per-P/M/G lines), idlespin=US (default 50),
 *                              panicclosed=1 (abort on send to / close of a closed channel),
 *                              sigquit=0 (no goroutine dump on SIGQUIT, see dump.c)
 *   GORT_KASSIST=auto|off|require
 *   GORT_STACK_SIZE=BYTES      default goroutine stack (16 KiB..1 GiB)
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

struct runtime_config config = {
	.maxprocs = 0,
	.kassist = 1,
	.default_stack = STACK_DEFAULT,
	.idle_spin_ns = 50 * 1000,
};

static int cpus_in_affinity_mask(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0) {
		n = CPU_COUNT(&set);
		if (n > 0)
			return n;
	}
	n = (int)sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? n : 1;
}

static void parse_gortdebug(const char *s)
{
	char buf[256];
	char *save = NULL;

	snprintf(buf, sizeof(buf), "%s", s);
	for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		long v;

		if (!eq)
			continue;
		*eq = '\0';
		v = strtol(eq + 1, NULL, 10);
		if (strcmp(kv, "schedtrace") == 0)
			config.schedtrace_ms = v > 0 ? (int)v : 0;
		else if (strcmp(kv, "idlespin") == 0)
			config.idle_spin_ns = v >= 0 ? v * 1000 : 0;
		else if (strcmp(kv, "panicclosed") == 0)
			config.panic_closed = v != 0;
		else if (strcmp(kv, "scheddetail") == 0)
			config.scheddetail = v != 0;
		else if (strcmp(kv, "sigquit") == 0)
			config.no_sigquit = v == 0;
		else
			fprintf(stderr, "gort: GORTDEBUG: unknown setting '%s' ignored\n", kv);
	}
}

void config_load(void)
{
	const char *s;

	if (config.maxprocs <= 0)
		config.maxprocs = cpus_in_affinity_mask();
	s = getenv("GORT_MAXPROCS");
	if (s && *s) {
		long n = strtol(s, NULL, 10);

		if (n >= 1)
			config.maxprocs = n > MAX_PROCS ? MAX_PROCS : (int)n;
		else
			fprintf(stderr,
				"gort: GORT_MAXPROCS=%s is not a positive number; using %d\n", s,
				config.maxprocs);
	}
	if (config.maxprocs > MAX_PROCS)
		config.maxprocs = MAX_PROCS;
	s = getenv("GORTDEBUG");
	if (s)
		parse_gortdebug(s);
	s = getenv("GORT_KASSIST");
	if (s && *s) {
		if (strcmp(s, "off") == 0)
			config.kassist = 0;
		else if (strcmp(s, "auto") == 0)
			config.kassist = 1;
		else if (strcmp(s, "require") == 0)
			config.kassist = 2;
		else
			fprintf(stderr, "gort: GORT_KASSIST=%s: expected auto, off or require\n",
				s);
	}
	s = getenv("GORT_STACK_SIZE");
	if (s && *s) {
		unsigned long long v = strtoull(s, NULL, 0);

		if (v >= STACK_MIN && v <= STACK_MAX)
			config.default_stack = (size_t)v;
		else
			fprintf(stderr, "gort: GORT_STACK_SIZE=%s is outside 16384..1073741824\n",
				s);
	}
}
