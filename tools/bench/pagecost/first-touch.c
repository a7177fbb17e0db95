// SPDX-License-Identifier: MIT
/*
 * first-touch: what a fresh anonymous page costs at its first write, by how
 * much memory the process has already touched. Maps TOTAL MiB (4 KiB pages,
 * no transparent huge pages), writes one byte per page in order, and prints
 * the time per page of each CHUNK MiB:
 *     first_touch mb=<start>-<end> us_per_page=<us>
 *
 * Why it exists: on this project's VM the guest hands free memory back to
 * the host a few seconds after it was freed. The guest allocates the pages
 * it still holds first; past them, every page is one the host must provide
 * again. After an idle minute the first ~2-2.5 GB cost ~2 us a page and the
 * rest ~11-12 us; right after another process freed memory, as much as it
 * freed is cheap. spawn.parked's million goroutines need 4.6 GB in gort and
 * 2.7 GB in Go, so this line, not the runtimes, decides that comparison.
 * Run it after a pause to see where the line is (it moves it: what it
 * touches is cheap for the next process).
 *
 *   first-touch [-m TOTAL_MB] [-c CHUNK_MB]   (defaults 6144 and 512)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define PAGE 4096UL

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int usage(void)
{
	fprintf(stderr, "usage: first-touch [-m TOTAL_MB] [-c CHUNK_MB]\n");
	return 2;
}

int main(int argc, char **argv)
{
	unsigned long total_mb = 6144, chunk_mb = 512;
	size_t chunk, total;
	char *mem;

	for (int i = 1; i < argc; i++) {
		unsigned long *dst = !strcmp(argv[i], "-m")   ? &total_mb
				     : !strcmp(argv[i], "-c") ? &chunk_mb
							      : NULL;
		char *end;

		if (!dst || i + 1 == argc)
			return usage();
		*dst = strtoul(argv[++i], &end, 10);
		if (*end || *dst == 0)
			return usage();
	}
	if (chunk_mb > total_mb)
		chunk_mb = total_mb;
	chunk = chunk_mb << 20;
	total = total_mb << 20;
	mem = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	if (mem == MAP_FAILED) {
		perror("first-touch: mmap");
		return 1;
	}
	/* One fault per 4 KiB page, whatever the THP setting. */
	madvise(mem, total, MADV_NOHUGEPAGE);
	for (size_t start = 0; start + chunk <= total; start += chunk) {
		double t0 = now_us();

		for (size_t off = start; off < start + chunk; off += PAGE)
			((volatile char *)mem)[off] = 1;
		printf("first_touch mb=%zu-%zu us_per_page=%.2f\n", start >> 20,
		       (start + chunk) >> 20, (now_us() - t0) / (double)(chunk / PAGE));
		fflush(stdout);
	}
	return 0;
}
