// SPDX-License-Identifier: MIT
/*
 * Workload "httphello": shared/peers/go/httphello/main.go on libgort. The
 * definition (from the Go file; gort mapping in [brackets]):
 *
 * Server: net/http on 127.0.0.1:PORT (HTTP/1.1, keep-alive), GOMAXPROCS =
 *   2, one handler for every path that writes the 13-byte body "Hello,
 *   World!" with status 200 (Go adds Date, Content-Length: 13 and
 *   Content-Type: text/plain; charset=utf-8).
 *   [gort-httphello's server, tools/httphello/http_server.c, in-process:
 *    a goroutine per connection, the same answer and headers]
 * Load: wrk 4.1.0 (separate process, same 2 CPUs):
 *   wrk -t1 -c100 -d10s --latency http://127.0.0.1:PORT/
 *   RESULT httphello  req_per_s   wrk "Requests/sec"
 *   RESULT httphello  lat_p50_us  wrk latency distribution 50%
 *   RESULT httphello  lat_p99_us  wrk latency distribution 99%
 *   RESULT httphello  errors      wrk socket errors + non-2xx responses (should be 0)
 * Modes:
 *   -mode=bench (default): start the server in-process, run wrk as a child
 *     process with a hard timeout (60 s), parse its output, print RESULT
 *     lines, exit. [wrk is started with posix_spawn; its output is read
 *     from a non-blocking pipe with gort_fd_wait, so the server's
 *     goroutines keep all procs meanwhile]
 *   -mode=server -addr=127.0.0.1:PORT -lifetime=60s: server only.
 *   -wrk "ARGS": wrk's arguments (default "-t1 -c100 -d10s --latency").
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "http.h"

extern char **environ;

static const char *mode_arg = "bench";
static const char *addr_arg = "127.0.0.1:0";
static int64_t life_arg = 60 * GORT_SECOND;
static const char *wrk_arg = "-t1 -c100 -d10s --latency";

#define WRK_TIMEOUT (60 * GORT_SECOND)
#define WRK_OUTPUT_MAX (1 << 16)

static void serve(void *arg)
{
	http_serve(arg);
}

static void lifetime_over(void *arg)
{
	(void)arg;
	_exit(0);
}

/* wrk prints durations like "1.23ms", "850.00us", "1.02s", "1.50m": in us,
 * or -1. */
static double parse_dur_us(const char *s)
{
	static const struct {
		const char *suf;
		double mul;
	} units[] = { { "us", 1 }, { "ms", 1e3 }, { "s", 1e6 }, { "m", 60e6 } };
	char *end;
	double v = strtod(s, &end);

	if (end == s)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strncmp(end, units[i].suf, strlen(units[i].suf)) == 0 &&
		    (end[strlen(units[i].suf)] == '\0' || end[strlen(units[i].suf)] == ' ' ||
		     end[strlen(units[i].suf)] == '\n'))
			return v * units[i].mul;
	return -1;
}

/* Runs wrk with args and url; its stdout into out (NUL-terminated).
 * Returns its exit status, or -1 (spawn failure, timeout: killed). */
static int run_wrk(const char *args, const char *url, char *out, size_t size)
{
	char *copy = strdup(args), *argv[64], *save = NULL;
	int argc = 0, p[2], status = -1;
	posix_spawn_file_actions_t fa;
	int64_t deadline = gort_now() + WRK_TIMEOUT;
	size_t got = 0;
	pid_t pid;

	argv[argc++] = "wrk";
	for (char *t = strtok_r(copy, " \t", &save); t && argc < 62;
	     t = strtok_r(NULL, " \t", &save))
		argv[argc++] = t;
	argv[argc++] = (char *)url;
	argv[argc] = NULL;
	if (pipe2(p, O_CLOEXEC) < 0) {
		free(copy);
		return -1;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	if (posix_spawnp(&pid, "wrk", &fa, NULL, argv, environ) != 0) {
		fprintf(stderr, "wrk failed: cannot start wrk (apt-get install wrk): %s\n",
			strerror(errno));
		posix_spawn_file_actions_destroy(&fa);
		close(p[0]);
		close(p[1]);
		free(copy);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	for (;;) {
		ssize_t n = read(p[0], out + got, size - 1 - got);
		int r;

		if (n > 0) {
			got += (size_t)n;
			if (got == size - 1)
				break;
			continue;
		}
		if (n == 0 || errno != EAGAIN)
			break;
		r = gort_fd_wait(p[0], GORT_FD_READ, deadline);
		if (r == GORT_ETIMEDOUT) {
			fprintf(stderr, "# wrk still running after %lld s: killed\n",
				(long long)(WRK_TIMEOUT / GORT_SECOND));
			kill(pid, SIGKILL);
			break;
		}
		if (r < 0)
			break;
	}
	out[got] = '\0';
	gort_fd_close(p[0]);
	if (GORT_BLOCKING(waitpid(pid, &status, 0)) != pid)
		status = -1;
	free(copy);
	if (status != -1 && WIFEXITED(status))
		return WEXITSTATUS(status);
	return -1;
}

/* The number after "key" (skipping blanks) in txt, or -1. */
static double number_after(const char *txt, const char *key)
{
	const char *s = strstr(txt, key);

	return s ? strtod(s + strlen(key), NULL) : -1;
}

/* The value of the latency distribution line "   P%   VALUE", or -1. */
static double percentile_line(const char *txt, const char *pct)
{
	for (const char *l = txt; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		const char *s = l;

		while (*s == ' ' || *s == '\t')
			s++;
		if (s == l || strncmp(s, pct, strlen(pct)) != 0 || s[strlen(pct)] != '%')
			continue;
		s += strlen(pct) + 1;
		if (*s != ' ' && *s != '\t')
			continue;
		while (*s == ' ' || *s == '\t')
			s++;
		return parse_dur_us(s);
	}
	return -1;
}

static int httphello_body(int argc, char **argv)
{
	static char out[WRK_OUTPUT_MAX];
	struct http_server s = { 0 };
	gort_error *err;
	char addr[128], url[160];
	double v, errs = 0;
	const char *se;
	int rc;

	(void)argc;
	(void)argv;
	s.listener = gort_listen("tcp", addr_arg, &err);
	if (!s.listener) {
		char *msg = gort_error_string(err);

		fprintf(stderr, "listen: %s\n", msg);
		free(msg);
		gort_error_free(err);
		return 1;
	}
	gort_listener_addr(s.listener, addr, sizeof(addr));
	if (strcmp(mode_arg, "server") == 0) {
		fprintf(stderr, "# listening on %s\n", addr);
		gort_after_func(life_arg, lifetime_over, NULL);
		http_serve(&s);
		return 0;
	}
	gort_go(serve, &s);
	snprintf(url, sizeof(url), "http://%s/", addr);
	rc = run_wrk(wrk_arg, url, out, sizeof(out));
	if (rc != 0) {
		fprintf(stderr, "wrk failed: status %d\n%s", rc, out);
		return 1;
	}
	fprintf(stderr, "# wrk output:\n");
	for (char *l = out, *nl; *l; l = nl ? nl + 1 : l + strlen(l)) {
		nl = strchr(l, '\n');
		fprintf(stderr, "# %.*s\n", nl ? (int)(nl - l) : (int)strlen(l), l);
	}
	bench_diag("server: %lld connections, %lld requests answered, %lld bad",
		   (long long)s.accepted, (long long)s.requests, (long long)s.bad_requests);
	if ((v = number_after(out, "Requests/sec:")) >= 0)
		bench_result("httphello", "req_per_s", v);
	if ((v = percentile_line(out, "50")) >= 0)
		bench_result("httphello", "lat_p50_us", v);
	if ((v = percentile_line(out, "99")) >= 0)
		bench_result("httphello", "lat_p99_us", v);
	se = strstr(out, "Socket errors: connect ");
	if (se) {
		unsigned long c = 0, r = 0, w = 0, t = 0;

		if (sscanf(se, "Socket errors: connect %lu, read %lu, write %lu, timeout %lu", &c,
			   &r, &w, &t) == 4)
			errs += (double)(c + r + w + t);
	}
	if ((v = number_after(out, "Non-2xx or 3xx responses:")) >= 0)
		errs += v;
	bench_result("httphello", "errors", errs);
	return 0;
}

int httphello_main(int argc, char **argv)
{
	static const struct bench_flag flags[] = {
		{ "mode", BF_STR, &mode_arg, "bench | server (default bench)" },
		{ "addr", BF_STR, &addr_arg, "listen address (default 127.0.0.1:0)" },
		{ "lifetime", BF_DUR, &life_arg,
		  "server mode: exit after this long (default 60s)" },
		{ "wrk", BF_STR, &wrk_arg,
		  "wrk arguments, bench mode (default \"-t1 -c100 -d10s --latency\")" },
	};

	bench_parse_flags(argc, argv, flags, 4);
	if (strcmp(mode_arg, "bench") != 0 && strcmp(mode_arg, "server") != 0) {
		fprintf(stderr, "bad -mode\n");
		return 2;
	}
	return bench_gort_main(httphello_body, argc, argv);
}
