// SPDX-License-Identifier: MIT
/*
 * The network API (lib/net.c, on the netpoller): echo correctness for 1,000
 * concurrent connections, 10,000 idle connections parked in reads (RSS
 * reported and bounded), read/write deadlines (a read deadline fires within
 * 5 ms of its time), dial errors that `is` the system error, dial with a
 * cancelled context / a context deadline / a timeout against a connect
 * that hangs, close from another goroutine waking a blocked reader, writer
 * and accept, a slow reader parking the writer (process CPU time checked),
 * half-close, write-all of a large buffer, IPv6 and unix sockets, the
 * addresses' text, the buffered reader, no leaked descriptors, and the
 * example servers (tools/echo, tools/httphello, linked in) surviving
 * garbage and clients that vanish mid-request.
 *
 * Each TEST runs in a fresh child process. Timing bounds carry the slack
 * of a noisy 2-CPU machine (gort_test_slow(), more under sanitizers);
 * loads shrink under sanitizers (GORT_TEST_SCALE).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gort.h>

#include "echo.h"
#include "gort_test.h"
#include "http.h"
#include "kselftest_harness.h"
#include "leak_check.h"

/* A fixture only for TEST_F_TIMEOUT (the 6.1 harness has no TEST_TIMEOUT). */
FIXTURE(slow)
{
	int unused;
};

FIXTURE_SETUP(slow)
{
	self->unused = 0;
}

FIXTURE_TEARDOWN(slow)
{
}

#define MS GORT_MILLISECOND
/* Slack for "it happened soon enough" bounds that only catch a lost wakeup. */
#define SLACK ((GORT_TEST_SANITIZED ? 2000 : 500) * MS * gort_test_slow())

/* ---- helpers ---- */

/* Open descriptors of this process (entries of /proc/self/fd, minus the
 * one opendir holds). */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

/* Goroutines in state GORT_GSTATE_WAITING (parked), with the world stopped. */
static void count_waiting_cb(const struct gort_goroutine_view *v, void *arg)
{
	if (v->state == GORT_GSTATE_WAITING)
		(*(int64_t *)arg)++;
}

static int64_t count_waiting(void)
{
	int64_t n = 0;

	gort_stop_the_world("net_test");
	gort_for_each_goroutine(count_waiting_cb, &n);
	gort_start_the_world();
	return n;
}

/* From a goroutine: waits (sleeping 1 ms at a time) until goroutine id is
 * parked; false after 10 s. */
static bool wait_parked(int64_t id)
{
	for (int i = 0; i < 10000; i++) {
		if (test_goroutine_state(id) == GORT_GSTATE_WAITING)
			return true;
		gort_sleep(MS);
	}
	return false;
}

/*
 * From a goroutine: evaluates cond every millisecond (gort_sleep: the
 * worker keeps running other goroutines) until it holds or timeout_ms
 * passes; evaluates to cond's last value.
 */
#define G_WAIT_UNTIL(cond, timeout_ms)                                     \
	__extension__({                                                    \
		int64_t deadline_ = gort_now() + (int64_t)(timeout_ms)*MS; \
		bool ok_;                                                  \
		while (!(ok_ = (cond)) && gort_now() < deadline_)          \
			gort_sleep(MS);                                    \
		ok_;                                                       \
	})

/* Makes the netpoller create its own descriptors (on its first wait), so
 * that descriptor counts taken afterwards compare like with like. */
static void warm_netpoll(void)
{
	int p[2];

	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
		return;
	gort_fd_wait(p[0], GORT_FD_READ, gort_now() + MS);
	gort_fd_close(p[0]);
	gort_fd_close(p[1]);
}

/* A Linux abstract unix socket name unique to this process. */
static const char *abstract_name(const char *what)
{
	static char names[8][96];
	static int next;
	char *s = names[__atomic_fetch_add(&next, 1, __ATOMIC_RELAXED) % 8];

	snprintf(s, 96, "@gort-net-test-%d-%s", (int)getpid(), what);
	return s;
}

/* Records err's text as the failure, frees it. */
#define TG_FAIL_ERR(what, err)                                                    \
	do {                                                                      \
		char *s_ = gort_error_string(err);                                \
		tg_fail(__FILE__, __LINE__, "%s: %s", (what), s_ ? s_ : "(oom)"); \
		free(s_);                                                         \
		gort_error_free(err);                                             \
	} while (0)

/* A connected pair over l: client dialled, server accepted. */
struct pair {
	gort_conn *client, *server;
};

static bool make_pair(gort_listener *l, const char *network, struct pair *p)
{
	char addr[128];
	gort_error *err;

	gort_listener_addr(l, addr, sizeof(addr));
	p->client = gort_dial(network, addr, NULL, &err);
	if (!p->client) {
		TG_FAIL_ERR("dial", err);
		return false;
	}
	p->server = gort_listener_accept(l, &err);
	if (!p->server) {
		TG_FAIL_ERR("accept", err);
		gort_conn_close(p->client, NULL);
		return false;
	}
	return true;
}

static void close_pair(struct pair *p)
{
	gort_conn_close(p->client, NULL);
	gort_conn_close(p->server, NULL);
}

static gort_listener *listen_or_fail(const char *network, const char *address)
{
	gort_error *err;
	gort_listener *l = gort_listen(network, address, &err);

	if (!l)
		TG_FAIL_ERR("listen", err);
	return l;
}

/* The port of "HOST:PORT". */
static int port_of(const char *addr)
{
	const char *c = strrchr(addr, ':');

	return c ? atoi(c + 1) : -1;
}

/* Deterministic bytes: stream seed, position i. */
static inline unsigned char pattern(uint32_t seed, size_t i)
{
	uint64_t x = (seed + 1) * 0x9E3779B97F4A7C15ULL + i;

	x ^= x >> 31;
	x *= 0xBF58476D1CE4E5B9ULL;
	x ^= x >> 29;
	return (unsigned char)x;
}

static int64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void set_bufsizes(gort_conn *c, int bytes)
{
	setsockopt(gort_conn_fd(c), SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
	setsockopt(gort_conn_fd(c), SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
}

/* ---- addresses, options, argument errors ---- */

static int addresses_main(int argc, char **argv)
{
	char laddr[128], a[128], b[128];
	gort_listener *l;
	gort_error *err = (gort_error *)1;
	struct pair p;
	int v = 0;
	socklen_t len = sizeof(v);

	(void)argc;
	(void)argv;
	TG_CHECK(!gort_listen("udp", "127.0.0.1:0", &err));
	TG_CHECK_EQ(GORT_EINVAL, gort_error_code(err));
	TG_CHECK(strstr(gort_errmsg(), "unknown network udp"));
	gort_error_free(err);
	TG_CHECK(!gort_listen("tcp", "127.0.0.1", &err));
	TG_CHECK_EQ(GORT_EINVAL, gort_error_code(err));
	TG_CHECK(strstr(gort_errmsg(), "missing port"));
	gort_error_free(err);
	TG_CHECK(!gort_listen("tcp", "127.0.0.1:70000", NULL)); /* err may be NULL */
	TG_CHECK(strstr(gort_errmsg(), "invalid port"));
	TG_CHECK(!gort_dial("tcp", "example.com:80", NULL, &err));
	TG_CHECK_EQ(GORT_EINVAL, gort_error_code(err));
	TG_CHECK(strstr(gort_errmsg(), "no resolver"));
	gort_error_free(err);
	TG_CHECK(!gort_dial("tcp6", "127.0.0.1:80", NULL, &err));
	TG_CHECK_EQ(GORT_EINVAL, gort_error_code(err));
	gort_error_free(err);
	TG_CHECK(!gort_dial("tcp4", "[::1]:80", NULL, &err));
	TG_CHECK_EQ(GORT_EINVAL, gort_error_code(err));
	gort_error_free(err);
	TG_CHECK(!gort_listen("unix", "", &err));
	TG_CHECK_EQ(GORT_EINVAL, gort_error_code(err));
	gort_error_free(err);

	l = listen_or_fail("tcp", "127.0.0.1:0");
	if (!l)
		return 1;
	gort_listener_addr(l, laddr, sizeof(laddr));
	TG_CHECK(strncmp(laddr, "127.0.0.1:", 10) == 0);
	TG_CHECK(port_of(laddr) > 0);
	/* snprintf contract: the full length, truncated text. */
	TG_CHECK_EQ((long long)strlen(laddr), gort_listener_addr(l, a, 4));
	TG_CHECK_EQ(3, (long long)strlen(a));
	/* Address in use. */
	TG_CHECK(!gort_listen("tcp", laddr, &err));
	TG_CHECK(gort_error_is_errno(err, EADDRINUSE));
	gort_error_free(err);

	if (make_pair(l, "tcp", &p)) {
		gort_conn_remote_addr(p.client, a, sizeof(a));
		TG_CHECK(strcmp(a, laddr) == 0);
		gort_conn_local_addr(p.server, a, sizeof(a));
		TG_CHECK(strcmp(a, laddr) == 0);
		gort_conn_local_addr(p.client, a, sizeof(a));
		gort_conn_remote_addr(p.server, b, sizeof(b));
		TG_CHECK(strcmp(a, b) == 0);
		TG_CHECK(strncmp(a, "127.0.0.1:", 10) == 0 && port_of(a) != port_of(laddr));
		/* TCP_NODELAY on by default on both sides, as in Go. */
		getsockopt(gort_conn_fd(p.client), IPPROTO_TCP, TCP_NODELAY, &v, &len);
		TG_CHECK_EQ(1, v);
		getsockopt(gort_conn_fd(p.server), IPPROTO_TCP, TCP_NODELAY, &v, &len);
		TG_CHECK_EQ(1, v);
		TG_CHECK_EQ(0, gort_conn_set_nodelay(p.client, false));
		getsockopt(gort_conn_fd(p.client), IPPROTO_TCP, TCP_NODELAY, &v, &len);
		TG_CHECK_EQ(0, v);
		/* Descriptors are non-blocking and close-on-exec. */
		TG_CHECK(fcntl(gort_conn_fd(p.client), F_GETFL) & O_NONBLOCK);
		TG_CHECK(fcntl(gort_conn_fd(p.server), F_GETFD) & FD_CLOEXEC);
		/* localhost is 127.0.0.1 */
		gort_conn_close(p.client, NULL);
		snprintf(a, sizeof(a), "localhost:%d", port_of(laddr));
		p.client = gort_dial("tcp", a, NULL, &err);
		TG_CHECK(p.client != NULL && err == NULL);
		if (p.client) {
			gort_conn_remote_addr(p.client, b, sizeof(b));
			TG_CHECK(strcmp(b, laddr) == 0);
			gort_conn_close(p.client, NULL);
		}
		gort_conn_close(p.server, NULL);
		/* The accepted second connection, never picked up, goes with l. */
	}
	TG_CHECK_EQ(0, gort_listener_close(l, &err));
	TG_CHECK(err == NULL);
	return 0;
}

TEST(addresses_options_and_argument_errors)
{
	ASSERT_EQ(0, gort_main(addresses_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
	EXPECT_NO_LEAKS();
}

/* ---- echo: 1,000 concurrent connections through the example server ---- */

#define ECHO_BYTES (24 * 1024)

struct echo_client {
	const char *addr;
	uint32_t id;
	gort_conn *conn;
	gort_waitgroup *wg;
	int64_t received;
};

/* Writes the connection's stream in chunks of 1..2048 bytes (lines and
 * pieces of lines), then half-closes: the server echoes the unterminated
 * tail on end of stream and closes. */
static void echo_writer(void *arg)
{
	struct echo_client *ec = arg;
	unsigned char buf[2048];
	uint64_t x = ec->id * 7919u + 1;
	size_t sent = 0;

	while (sent < ECHO_BYTES) {
		size_t n;

		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		n = 1 + (size_t)((x >> 33) % sizeof(buf));
		if (n > ECHO_BYTES - sent)
			n = ECHO_BYTES - sent;
		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(ec->id, sent + i);
		if (gort_conn_write(ec->conn, buf, n, NULL) != (ssize_t)n) {
			tg_fail(__FILE__, __LINE__, "conn %u: write: %s", ec->id, gort_errmsg());
			break;
		}
		sent += n;
	}
	TG_CHECK_EQ(0, gort_conn_close_write(ec->conn, NULL));
	gort_wg_done(ec->wg);
}

static void echo_client(void *arg)
{
	struct echo_client *ec = arg;
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	unsigned char buf[4096];
	gort_error *err;

	ec->conn = gort_dial("tcp", ec->addr, NULL, &err);
	if (!ec->conn) {
		TG_FAIL_ERR("dial", err);
		gort_wg_done(ec->wg);
		return;
	}
	gort_wg_add(&wg, 1);
	{
		struct echo_client w = *ec;

		w.wg = &wg;
		gort_go(echo_writer, &w);
		/* Every byte back, in order, then end of stream. */
		for (;;) {
			ssize_t n = gort_conn_read(ec->conn, buf, sizeof(buf), &err);

			if (n < 0) {
				TG_FAIL_ERR("read", err);
				break;
			}
			if (n == 0)
				break;
			for (ssize_t i = 0; i < n; i++) {
				if (buf[i] != pattern(ec->id, (size_t)ec->received + (size_t)i)) {
					tg_fail(__FILE__, __LINE__, "conn %u: byte %lld differs",
						ec->id, (long long)(ec->received + i));
					n = -1;
					break;
				}
			}
			if (n < 0)
				break;
			ec->received += n;
		}
		gort_wg_wait(&wg); /* w lives on this stack */
	}
	gort_conn_close(ec->conn, NULL);
	gort_wg_done(ec->wg);
}

static void echo_serve_goroutine(void *arg)
{
	TG_CHECK_EQ(0, echo_serve(arg));
}

static int echo_many_main(int argc, char **argv)
{
	int n = GORT_TEST_SCALE(1000) < 20 ? 20 : GORT_TEST_SCALE(1000);
	struct echo_server s = { 0 };
	struct echo_client *cl = calloc((size_t)n, sizeof(*cl));
	gort_waitgroup wg = GORT_WAITGROUP_INIT;
	char addr[128];
	int fds0;

	(void)argc;
	(void)argv;
	warm_netpoll();
	s.listener = listen_or_fail("tcp", "127.0.0.1:0");
	if (!s.listener || !cl)
		return 1;
	fds0 = count_fds();
	gort_listener_addr(s.listener, addr, sizeof(addr));
	gort_go(echo_serve_goroutine, &s);
	gort_wg_add(&wg, n);
	for (int i = 0; i < n; i++) {
		cl[i].addr = addr;
		cl[i].id = (uint32_t)i;
		cl[i].wg = &wg;
		gort_go(echo_client, &cl[i]);
	}
	gort_wg_wait(&wg);
	for (int i = 0; i < n; i++)
		if (cl[i].received != ECHO_BYTES)
			tg_fail(__FILE__, __LINE__, "conn %d: %lld of %d bytes echoed", i,
				(long long)cl[i].received, ECHO_BYTES);
	gort_wg_wait(&s.conns);
	TG_CHECK_EQ(n, T_LOAD(&s.accepted));
	TG_CHECK_EQ(0, T_LOAD(&s.active));
	/* The listener's descriptor is all that is left. */
	TG_CHECK(G_WAIT_UNTIL(count_fds() == fds0, 5000));
	gort_listener_close(s.listener, NULL);
	free(cl);
	return 0;
}

TEST_F_TIMEOUT(slow, echo_1000_concurrent_connections_every_byte_in_order, 120)
{
	ASSERT_EQ(0, gort_main(echo_many_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

/* ---- 10,000 idle connections ---- */

struct idle {
	gort_listener *listener;
	int n;
	int ready_fd, release_fd; /* pipes to the client process */
	gort_waitgroup readers;
	int64_t accepted, eofs;
	long rss_base, rss_idle;
	int64_t parked;
	int fds0, fds1;
};

struct idle_conn {
	struct idle *st;
	gort_conn *conn;
};

static void idle_conn_reader(void *arg)
{
	struct idle_conn *ic = arg;
	char b;
	gort_error *err;
	ssize_t n = gort_conn_read(ic->conn, &b, 1, &err);

	/* The client only ever closes: end of stream. */
	if (n == 0)
		T_INC(&ic->st->eofs);
	else if (n < 0)
		TG_FAIL_ERR("idle read", err);
	else
		tg_fail(__FILE__, __LINE__, "idle read got data");
	gort_conn_close(ic->conn, NULL);
	gort_wg_done(&ic->st->readers);
	free(ic);
}

static void idle_acceptor(void *arg)
{
	struct idle *st = arg;

	for (int i = 0; i < st->n; i++) {
		gort_error *err;
		gort_conn *c = gort_listener_accept(st->listener, &err);
		struct idle_conn *ic;

		if (!c) {
			TG_FAIL_ERR("accept", err);
			return;
		}
		ic = malloc(sizeof(*ic));
		ic->st = st;
		ic->conn = c;
		gort_wg_add(&st->readers, 1);
		T_INC(&st->accepted);
		gort_go(idle_conn_reader, ic);
	}
}

/* Reads one byte from the non-blocking pipe fd, parking in gort_fd_wait
 * (the netpoller on a descriptor that is not a socket). */
static int pipe_read_byte(int fd, int64_t deadline)
{
	char b;

	for (;;) {
		ssize_t n = read(fd, &b, 1);
		int r;

		if (n == 1)
			return b;
		if (n == 0)
			return -1;
		if (errno != EAGAIN)
			return -errno;
		r = gort_fd_wait(fd, GORT_FD_READ, deadline);
		if (r < 0)
			return r;
	}
}

static struct idle idle_state;

static int idle_main(int argc, char **argv)
{
	struct idle *st = &idle_state;
	int64_t deadline = gort_now() + 150 * GORT_SECOND;
	int r;

	(void)argc;
	(void)argv;
	warm_netpoll();
	st->fds0 = count_fds();
	st->rss_base = test_rss_bytes();
	gort_go(idle_acceptor, st);
	r = pipe_read_byte(st->ready_fd, deadline);
	if (r != 'R') {
		tg_fail(__FILE__, __LINE__, "the client process did not connect (%d)", r);
		return 1;
	}
	while (T_LOAD(&st->accepted) < st->n && gort_now() < deadline)
		gort_sleep(MS);
	TG_CHECK_EQ(st->n, T_LOAD(&st->accepted));
	/* Every reader parked in its read (the netpoller), none running. */
	while ((st->parked = count_waiting()) < st->n && gort_now() < deadline)
		gort_sleep(10 * MS);
	st->rss_idle = test_rss_bytes();
	TG_CHECK(st->parked >= st->n);
	TG_CHECK_EQ(0, T_LOAD(&st->eofs));
	/* Release the client: it exits, every connection ends. */
	TG_CHECK_EQ(1, write(st->release_fd, "X", 1));
	gort_wg_wait(&st->readers);
	TG_CHECK_EQ(st->n, T_LOAD(&st->eofs));
	/* Every accepted connection closed: back to where it started. */
	st->fds1 = -1;
	G_WAIT_UNTIL((st->fds1 = count_fds()) == st->fds0, 5000);
	gort_listener_close(st->listener, NULL);
	return 0;
}

TEST_F_TIMEOUT(slow, ten_thousand_idle_connections_parked_in_reads, 240)
{
	struct idle *stp = &idle_state;
	int n = GORT_TEST_SCALE(10000) < 100 ? 100 : GORT_TEST_SCALE(10000);
	int ready[2], release[2], status;
	struct rlimit rl;
	char addr[128];
	pid_t pid;
#define st (*stp)

	/*
	 * The client sockets live in a child process, so each process needs
	 * n descriptors plus a margin, not 2n: the hard RLIMIT_NOFILE here
	 * may be 20,000, which an in-process client would exceed.
	 */
	ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &rl));
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)n + 100)
		SKIP(return, "RLIMIT_NOFILE hard limit %llu is below %d + 100 descriptors",
			   (unsigned long long)rl.rlim_max, n);
	rl.rlim_cur = rl.rlim_max;
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));

	st.n = n;
	st.listener = gort_listen("tcp", "127.0.0.1:0", NULL);
	ASSERT_NE(NULL, st.listener) TH_LOG("listen: %s", gort_errmsg());
	gort_listener_addr(st.listener, addr, sizeof(addr));
	ASSERT_EQ(0, pipe2(ready, O_CLOEXEC | O_NONBLOCK));
	ASSERT_EQ(0, pipe2(release, O_CLOEXEC));
	/* Forked before the runtime starts: the child has one thread. */
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct sockaddr_in sa = { .sin_family = AF_INET };
		char x;

		close(ready[0]);
		close(release[1]);
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sa.sin_port = htons((uint16_t)port_of(addr));
		for (int i = 0; i < n; i++) {
			int fd = socket(AF_INET, SOCK_STREAM, 0);

			if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
				fprintf(stderr, "# idle client: connection %d: %s\n", i,
					strerror(errno));
				(void)!write(ready[1], "F", 1);
				_exit(1);
			}
		}
		(void)!write(ready[1], "R", 1);
		(void)!read(release[0], &x, 1); /* until the parent says, or dies */
		_exit(0);
	}
	close(ready[1]);
	close(release[0]);
	st.ready_fd = ready[0];
	st.release_fd = release[1];
	EXPECT_EQ(0, gort_main(idle_main, 0, NULL));
	close(st.release_fd); /* on failure paths too: the child exits */
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_NO_TG_FAILURES();
	TH_LOG("%d idle connections, each a goroutine parked in gort_conn_read: RSS %.1f MiB -> "
	       "%.1f MiB, %.0f bytes per connection (%lld goroutines parked)",
	       n, st.rss_base / 1048576.0, st.rss_idle / 1048576.0,
	       (double)(st.rss_idle - st.rss_base) / n, (long long)st.parked);
	/* A goroutine's touched stack pages, the connection, its bookkeeping;
	 * Go needs ~5 KiB. A bound, not a benchmark: 32 KiB catches a
	 * per-connection buffer or stack blow-up. */
	if (!GORT_TEST_SANITIZED)
		EXPECT_LT((st.rss_idle - st.rss_base) / n, 32 * 1024);
	EXPECT_EQ(st.fds0, st.fds1) TH_LOG("descriptors: %d before, %d after", st.fds0, st.fds1);
	close(st.ready_fd);
#undef st
}

/* ---- deadlines ---- */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

struct deadline_results {
	int64_t lateness[9];
	int64_t median;
};

static struct deadline_results dres;

static void late_setter(void *arg)
{
	gort_sleep(20 * MS);
	TG_CHECK_EQ(0, gort_conn_set_read_deadline(arg, gort_now() + 10 * MS));
}

static int deadline_main(int argc, char **argv)
{
	gort_listener *l = listen_or_fail("tcp", "127.0.0.1:0");
	struct pair p;
	char buf[64];
	gort_error *err;
	ssize_t n;

	(void)argc;
	(void)argv;
	if (!l || !make_pair(l, "tcp", &p))
		return 1;
	/* A read deadline fires within 5 ms of its time, never before it. */
	for (int i = 0; i < 9; i++) {
		int64_t dl = gort_now() + 20 * MS;

		TG_CHECK_EQ(0, gort_conn_set_read_deadline(p.client, dl));
		n = gort_conn_read(p.client, buf, sizeof(buf), &err);
		dres.lateness[i] = gort_now() - dl;
		TG_CHECK_EQ(GORT_ETIMEDOUT, n);
		TG_CHECK(gort_error_is(err, gort_error_io_timeout));
		TG_CHECK_EQ(GORT_ETIMEDOUT, gort_error_code(err));
		gort_error_free(err);
		TG_CHECK(dres.lateness[i] >= 0);
	}
	qsort(dres.lateness, 9, sizeof(int64_t), cmp_i64);
	dres.median = dres.lateness[4];

	/* Cleared: the data written now is read. */
	TG_CHECK_EQ(0, gort_conn_set_read_deadline(p.client, GORT_FOREVER));
	TG_CHECK_EQ(3, gort_conn_write(p.server, "abc", 3, NULL));
	TG_CHECK_EQ(3, gort_conn_read_full(p.client, buf, 3, NULL));
	/* A deadline already past fails the read even with data waiting (Go). */
	TG_CHECK_EQ(3, gort_conn_write(p.server, "def", 3, NULL));
	gort_sleep(10 * MS);
	TG_CHECK_EQ(0, gort_conn_set_deadline(p.client, gort_now() - 1));
	TG_CHECK_EQ(GORT_ETIMEDOUT, gort_conn_read(p.client, buf, 3, NULL));
	TG_CHECK_EQ(GORT_ETIMEDOUT, gort_conn_write(p.client, "x", 1, NULL));
	TG_CHECK(strstr(gort_errmsg(), "i/o timeout"));
	TG_CHECK(strstr(gort_errmsg(), "write tcp 127.0.0.1:"));
	TG_CHECK_EQ(0, gort_conn_set_deadline(p.client, GORT_FOREVER));
	TG_CHECK_EQ(3, gort_conn_read(p.client, buf, 3, NULL));
	TG_CHECK(memcmp(buf, "def", 3) == 0);

	/* A deadline set while a read is blocked ends that read. */
	{
		int64_t t0 = gort_now();

		gort_go(late_setter, p.client);
		n = gort_conn_read(p.client, buf, sizeof(buf), &err);
		TG_CHECK_EQ(GORT_ETIMEDOUT, n);
		TG_CHECK(gort_error_is(err, gort_error_io_timeout));
		gort_error_free(err);
		TG_CHECK(gort_now() - t0 >= 30 * MS);
		TG_CHECK(gort_now() - t0 < 30 * MS + SLACK);
		gort_conn_set_read_deadline(p.client, GORT_FOREVER);
	}

	/* A write deadline ends a write blocked on a full socket buffer. */
	{
		size_t big = 64 << 20;
		char *junk = calloc(1, big);
		int64_t t0 = gort_now(), dl = t0 + 50 * MS;

		set_bufsizes(p.client, 16384);
		set_bufsizes(p.server, 16384);
		TG_CHECK_EQ(0, gort_conn_set_write_deadline(p.client, dl));
		n = gort_conn_write(p.client, junk, big, &err);
		TG_CHECK_EQ(GORT_ETIMEDOUT, n);
		TG_CHECK(gort_error_is(err, gort_error_io_timeout));
		gort_error_free(err);
		TG_CHECK(gort_now() >= dl);
		TG_CHECK(gort_now() < dl + SLACK);
		free(junk);
	}
	close_pair(&p);
	gort_listener_close(l, NULL);
	return 0;
}

TEST(read_deadline_fires_within_5ms_and_deadlines_are_sticky)
{
	/* 5 ms of lateness at the median of 9 on the plain build; sanitizers
	 * and GORT_TEST_SLOW only loosen it. */
	int64_t bound = 5 * MS * gort_test_slow() * (GORT_TEST_SANITIZED ? 4 : 1);

	ASSERT_EQ(0, gort_main(deadline_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
	TH_LOG("read deadline lateness (us): min %lld, median %lld, max %lld",
	       (long long)dres.lateness[0] / 1000, (long long)dres.median / 1000,
	       (long long)dres.lateness[8] / 1000);
	EXPECT_LE(dres.median, bound);
	EXPECT_LE(dres.lateness[8], SLACK);
	EXPECT_NO_LEAKS();
}

/* ---- dial errors and contexts ---- */

static int refused_main(int argc, char **argv)
{
	gort_listener *l = listen_or_fail("tcp", "127.0.0.1:0");
	gort_error *err, *target = gort_error_errno(ECONNREFUSED, "some other call");
	gort_error *other = gort_error_errno(ETIMEDOUT, NULL);
	char addr[128], want[256], *s;

	(void)argc;
	(void)argv;
	if (!l)
		return 1;
	gort_listener_addr(l, addr, sizeof(addr));
	TG_CHECK_EQ(0, gort_listener_close(l, NULL)); /* the port is closed now */
	TG_CHECK(gort_dial("tcp", addr, NULL, &err) == NULL);
	TG_CHECK(err != NULL);
	TG_CHECK_EQ(-ECONNREFUSED, gort_error_code(err));
	TG_CHECK(gort_error_is(err, target));
	TG_CHECK(!gort_error_is(err, other));
	TG_CHECK(gort_error_is_errno(err, ECONNREFUSED));
	TG_CHECK(gort_error_as(err, &gort_error_kind_system) != NULL);
	snprintf(want, sizeof(want), "dial tcp %s: connect: %s", addr, strerror(ECONNREFUSED));
	s = gort_error_string(err);
	TG_CHECK(s && strcmp(s, want) == 0);
	if (s && strcmp(s, want) != 0)
		tg_fail(__FILE__, __LINE__, "got \"%s\", want \"%s\"", s, want);
	TG_CHECK(strcmp(gort_errmsg(), want) == 0);
	free(s);
	gort_error_free(err);
	/* A unix socket that does not exist. */
	TG_CHECK(gort_dial("unix", "/nonexistent/gort.sock", NULL, &err) == NULL);
	TG_CHECK(gort_error_is_errno(err, ENOENT));
	gort_error_free(err);
	gort_error_free(target);
	gort_error_free(other);
	return 0;
}

TEST(dial_to_a_closed_port_is_connection_refused)
{
	ASSERT_EQ(0, gort_main(refused_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
	EXPECT_NO_LEAKS();
}

struct hang {
	int lfd; /* a listening socket with backlog 0, never accepting */
	char addr[64];
	gort_conn *filler[8]; /* connections that filled its queue */
	int nfill;
	bool hangs; /* a connect to addr stays in progress */
};

/* Makes h->addr an address whose connects hang: a full accept queue makes
 * the kernel drop SYNs (the client retransmits after a second). */
static void make_hang(struct hang *h)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	h->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bind(h->lfd, (struct sockaddr *)&sa, sizeof(sa));
	listen(h->lfd, 0);
	getsockname(h->lfd, (struct sockaddr *)&sa, &len);
	snprintf(h->addr, sizeof(h->addr), "127.0.0.1:%d", ntohs(sa.sin_port));
	for (h->nfill = 0; h->nfill < 8; h->nfill++) {
		gort_error *err;
		gort_conn *c = gort_dial_timeout("tcp", h->addr, 200 * MS, &err);

		if (!c) {
			h->hangs = gort_error_is(err, gort_error_io_timeout);
			TG_CHECK_EQ(GORT_ETIMEDOUT, gort_error_code(err));
			gort_error_free(err);
			break;
		}
		h->filler[h->nfill] = c;
	}
}

static void unmake_hang(struct hang *h)
{
	for (int i = 0; i < h->nfill; i++)
		gort_conn_close(h->filler[i], NULL);
	close(h->lfd);
}

static void cancel_later(void *arg)
{
	gort_sleep(30 * MS);
	gort_ctx_cancel(arg);
}

static bool dial_ctx_hang_ran;

static int dial_ctx_main(int argc, char **argv)
{
	gort_listener *l;
	gort_ctx *ctx = gort_ctx_with_cancel(gort_ctx_background());
	struct hang h = { 0 };
	gort_error *err;
	char addr[128];
	int64_t t0;
	int fds0;

	(void)argc;
	(void)argv;
	warm_netpoll();
	l = listen_or_fail("tcp", "127.0.0.1:0");
	fds0 = count_fds();
	if (!l)
		return 1;
	gort_listener_addr(l, addr, sizeof(addr));
	/* Already cancelled: fails at once, as in Go, connecting nothing. */
	gort_ctx_cancel(ctx);
	t0 = gort_now();
	TG_CHECK(gort_dial("tcp", addr, ctx, &err) == NULL);
	TG_CHECK(gort_now() - t0 < SLACK);
	TG_CHECK(gort_error_is(err, gort_error_canceled));
	TG_CHECK_EQ(GORT_ECANCELED, gort_error_code(err));
	gort_error_free(err);
	gort_ctx_free(ctx);
	TG_CHECK_EQ(fds0, count_fds());
	/* A live context: connects. */
	ctx = gort_ctx_with_timeout(gort_ctx_background(), 10 * GORT_SECOND);
	{
		gort_conn *c = gort_dial("tcp", addr, ctx, &err);

		TG_CHECK(c && !err);
		if (c)
			gort_conn_close(c, NULL);
	}
	gort_ctx_free(ctx);

	make_hang(&h);
	if (!h.hangs) {
		unmake_hang(&h);
		gort_listener_close(l, NULL);
		return 0; /* the test body reports the skip */
	}
	dial_ctx_hang_ran = true;
	/* The context's deadline ends a connect in progress. */
	ctx = gort_ctx_with_timeout(gort_ctx_background(), 50 * MS);
	t0 = gort_now();
	TG_CHECK(gort_dial("tcp", h.addr, ctx, &err) == NULL);
	TG_CHECK(gort_now() - t0 >= 50 * MS);
	TG_CHECK(gort_now() - t0 < 50 * MS + SLACK);
	TG_CHECK(gort_error_is(err, gort_error_deadline_exceeded));
	TG_CHECK_EQ(GORT_ETIMEDOUT, gort_error_code(err));
	gort_error_free(err);
	gort_ctx_free(ctx);
	/* Cancelled while connecting, by another goroutine. */
	ctx = gort_ctx_with_cancel(gort_ctx_background());
	t0 = gort_now(); /* before the spawn: the canceller may start at once */
	gort_go(cancel_later, ctx);
	TG_CHECK(gort_dial("tcp", h.addr, ctx, &err) == NULL);
	TG_CHECK(gort_now() - t0 >= 30 * MS);
	TG_CHECK(gort_now() - t0 < 30 * MS + SLACK);
	TG_CHECK(gort_error_is(err, gort_error_canceled));
	gort_error_free(err);
	gort_ctx_free(ctx);
	/* DialTimeout: i/o timeout. */
	t0 = gort_now();
	TG_CHECK(gort_dial_timeout("tcp", h.addr, 40 * MS, &err) == NULL);
	TG_CHECK(gort_now() - t0 >= 40 * MS);
	TG_CHECK(gort_error_is(err, gort_error_io_timeout));
	TG_CHECK(strstr(gort_errmsg(), "i/o timeout"));
	gort_error_free(err);
	unmake_hang(&h);
	gort_listener_close(l, NULL);
	TG_CHECK(G_WAIT_UNTIL(count_fds() == fds0 - 1, 2000));
	return 0;
}

TEST(dial_with_cancelled_context_context_deadline_and_timeout)
{
	ASSERT_EQ(0, gort_main(dial_ctx_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
	if (!dial_ctx_hang_ran)
		SKIP(return, "a full accept queue does not make connects hang here");
	EXPECT_NO_LEAKS();
}

/* ---- close from another goroutine ---- */

struct blocked_op {
	gort_conn *conn;
	gort_listener *listener;
	ssize_t result;
	bool is_closed_error;
	int64_t returned_at;
	gort_waitgroup done;
};

static void blocked_reader(void *arg)
{
	struct blocked_op *op = arg;
	char buf[16];
	gort_error *err;

	op->result = gort_conn_read(op->conn, buf, sizeof(buf), &err);
	op->is_closed_error = gort_error_is(err, gort_error_net_closed);
	op->returned_at = gort_now();
	gort_error_free(err);
	gort_wg_done(&op->done);
}

static void blocked_writer(void *arg)
{
	struct blocked_op *op = arg;
	size_t big = 64 << 20;
	char *junk = calloc(1, big);
	gort_error *err;

	op->result = gort_conn_write(op->conn, junk, big, &err);
	op->is_closed_error = gort_error_is(err, gort_error_net_closed);
	op->returned_at = gort_now();
	gort_error_free(err);
	free(junk);
	gort_wg_done(&op->done);
}

static void blocked_acceptor(void *arg)
{
	struct blocked_op *op = arg;
	gort_error *err;
	gort_conn *c = gort_listener_accept(op->listener, &err);

	op->result = c ? 0 : gort_error_code(err);
	op->is_closed_error = gort_error_is(err, gort_error_net_closed);
	op->returned_at = gort_now();
	gort_error_free(err);
	gort_wg_done(&op->done);
}

/* Starts fn(op), waits until it parks, closes what it blocks on from this
 * goroutine; checks it returned GORT_ECLOSED soon. */
static void close_wakes(void (*fn)(void *), struct blocked_op *op, const char *what)
{
	int64_t id, t0;

	gort_wg_add(&op->done, 1);
	id = gort_go(fn, op);
	if (!wait_parked(id)) {
		tg_fail(__FILE__, __LINE__, "%s never parked", what);
		return;
	}
	gort_sleep(5 * MS); /* parked for a while: in the netpoller, not passing by */
	t0 = gort_now();
	if (op->listener)
		TG_CHECK_EQ(0, gort_listener_close(op->listener, NULL));
	else
		TG_CHECK_EQ(0, gort_conn_close(op->conn, NULL));
	gort_wg_wait(&op->done);
	if (op->result != GORT_ECLOSED || !op->is_closed_error)
		tg_fail(__FILE__, __LINE__, "%s returned %lld (closed error: %d)", what,
			(long long)op->result, op->is_closed_error);
	if (op->returned_at - t0 > SLACK)
		tg_fail(__FILE__, __LINE__, "%s woke %lld ms after the close", what,
			(long long)((op->returned_at - t0) / MS));
}

static int close_wakes_main(int argc, char **argv)
{
	gort_listener *l = listen_or_fail("tcp", "127.0.0.1:0");
	struct blocked_op rd = { 0 }, wr = { 0 }, ac = { 0 };
	struct pair p, q;
	char b;
	int fds0;

	(void)argc;
	(void)argv;
	if (!l || !make_pair(l, "tcp", &p) || !make_pair(l, "tcp", &q))
		return 1;
	fds0 = count_fds();
	/* A reader blocked with nothing to read. */
	rd.conn = p.client;
	close_wakes(blocked_reader, &rd, "a blocked read");
	/* The descriptor went with the last reference: the peer sees the end. */
	TG_CHECK_EQ(0, gort_conn_read(p.server, &b, 1, NULL));
	TG_CHECK_EQ(fds0 - 1, count_fds());
	gort_conn_close(p.server, NULL);
	/* A writer blocked on a full socket buffer. */
	set_bufsizes(q.client, 16384);
	set_bufsizes(q.server, 16384);
	wr.conn = q.client;
	close_wakes(blocked_writer, &wr, "a blocked write");
	gort_conn_close(q.server, NULL);
	/* An accept with nobody dialling. */
	ac.listener = l;
	close_wakes(blocked_acceptor, &ac, "a blocked accept");
	TG_CHECK_EQ(fds0 - 5, count_fds());
	return 0;
}

TEST(close_from_another_goroutine_wakes_blocked_read_write_and_accept)
{
	ASSERT_EQ(0, gort_main(close_wakes_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
	EXPECT_NO_LEAKS();
}

/* ---- a slow reader parks the writer ---- */

#define SLOW_TOTAL (4 << 20)

struct slow {
	gort_conn *conn;
	ssize_t written;
	gort_waitgroup done;
};

static void slow_writer(void *arg)
{
	struct slow *s = arg;
	unsigned char *buf = malloc(SLOW_TOTAL);

	for (size_t i = 0; i < SLOW_TOTAL; i++)
		buf[i] = pattern(7, i);
	s->written = gort_conn_write(s->conn, buf, SLOW_TOTAL, NULL);
	free(buf);
	gort_wg_done(&s->done);
}

static int64_t slow_wall, slow_cpu, slow_reads;

static int slow_reader_main(int argc, char **argv)
{
	gort_listener *l = listen_or_fail("tcp", "127.0.0.1:0");
	struct slow s = { 0 };
	unsigned char *buf = malloc(65536);
	size_t got = 0;
	struct pair p;
	int64_t t0, c0;

	(void)argc;
	(void)argv;
	if (!l || !buf || !make_pair(l, "tcp", &p))
		return 1;
	set_bufsizes(p.client, 32768);
	set_bufsizes(p.server, 32768);
	s.conn = p.client;
	gort_wg_add(&s.done, 1);
	t0 = gort_now();
	c0 = cpu_ns();
	gort_go(slow_writer, &s);
	/* Read at most 64 KiB every 5 ms: the writer waits most of the time. */
	while (got < SLOW_TOTAL) {
		ssize_t n;

		gort_sleep(5 * MS);
		n = gort_conn_read(p.server, buf, 65536, NULL);
		if (n <= 0) {
			tg_fail(__FILE__, __LINE__, "read: %lld (%s)", (long long)n, gort_errmsg());
			break;
		}
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != pattern(7, got + (size_t)i)) {
				tg_fail(__FILE__, __LINE__, "byte %zu differs", got + (size_t)i);
				got = SLOW_TOTAL;
				break;
			}
		got += (size_t)n;
		slow_reads++;
	}
	gort_wg_wait(&s.done);
	slow_wall = gort_now() - t0;
	slow_cpu = cpu_ns() - c0;
	TG_CHECK_EQ(SLOW_TOTAL, s.written);
	TG_CHECK_EQ(SLOW_TOTAL, got);
	free(buf);
	close_pair(&p);
	gort_listener_close(l, NULL);
	return 0;
}

TEST_F_TIMEOUT(slow, slow_reader_makes_the_writer_park_not_spin, 120)
{
	/* The writer's share of the CPU while it waits: parked, it is the
	 * reader's 5 ms wakeups and the scheduler's idle spin (50 us per
	 * sleep); spinning, it would be a whole CPU (>= 100 %). */
	double bound = GORT_TEST_SANITIZED ? 0.6 : 0.25;

	setenv("GORT_MAXPROCS", "2", 1);
	ASSERT_EQ(0, gort_main(slow_reader_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
	TH_LOG("%d bytes in %lld reads over %lld ms: process CPU %lld ms (%.0f%% of one CPU)",
	       SLOW_TOTAL, (long long)slow_reads, (long long)(slow_wall / MS),
	       (long long)(slow_cpu / MS), 100.0 * (double)slow_cpu / (double)slow_wall);
	EXPECT_GT(slow_reads, 20); /* the reader really throttled the writer */
	EXPECT_LT((double)slow_cpu / (double)slow_wall, bound);
}

/* ---- half-close, write-all ---- */

static int half_close_main(int argc, char **argv)
{
	gort_listener *l = listen_or_fail("tcp", "127.0.0.1:0");
	struct pair p;
	char buf[16];

	(void)argc;
	(void)argv;
	if (!l || !make_pair(l, "tcp", &p))
		return 1;
	TG_CHECK_EQ(5, gort_conn_write(p.client, "hello", 5, NULL));
	TG_CHECK_EQ(0, gort_conn_close_write(p.client, NULL));
	/* The peer reads the data, then the end of the stream... */
	TG_CHECK_EQ(5, gort_conn_read_full(p.server, buf, 5, NULL));
	TG_CHECK(memcmp(buf, "hello", 5) == 0);
	TG_CHECK_EQ(0, gort_conn_read(p.server, buf, sizeof(buf), NULL));
	TG_CHECK_EQ(0, gort_conn_read_full(p.server, buf, 4, NULL));
	/* ...and can still answer on its half. */
	TG_CHECK_EQ(3, gort_conn_write(p.server, "bye", 3, NULL));
	TG_CHECK_EQ(0, gort_conn_close(p.server, NULL));
	/* read_full stops short at the end: 3 of 8 (Go's ErrUnexpectedEOF). */
	TG_CHECK_EQ(3, gort_conn_read_full(p.client, buf, 8, NULL));
	TG_CHECK(memcmp(buf, "bye", 3) == 0);
	TG_CHECK_EQ(0, gort_conn_read(p.client, buf, sizeof(buf), NULL));
	/* Writing on the shut-down half fails with EPIPE, no SIGPIPE. */
	{
		gort_error *err;

		TG_CHECK_EQ(-EPIPE, gort_conn_write(p.client, "x", 1, &err));
		TG_CHECK(gort_error_is_errno(err, EPIPE));
		gort_error_free(err);
	}
	gort_conn_close(p.client, NULL);
	gort_listener_close(l, NULL);
	return 0;
}

TEST(half_close_peer_reads_eof_and_can_still_write)
{
	ASSERT_EQ(0, gort_main(half_close_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
	EXPECT_NO_LEAKS();
}

struct bulk {
	gort_conn *conn;
	unsigned char *buf;
	size_t len, got;
	gort_waitgroup done;
};

static void bulk_reader(void *arg)
{
	struct bulk *b = arg;
	size_t chunk = 1;

	for (;;) {
		ssize_t n = gort_conn_read(b->conn, b->buf + b->got,
					   b->len - b->got < chunk ? b->len - b->got : chunk, NULL);

		if (n <= 0)
			break;
		b->got += (size_t)n;
		chunk = chunk * 3 % 200003 + 1; /* 1 byte .. 200 KB */
		if (b->got == b->len)
			chunk = 1; /* then the end of stream */
	}
	gort_wg_done(&b->done);
}

static int write_all_main(int argc, char **argv)
{
	size_t len = (size_t)(GORT_TEST_SANITIZED ? 8 : 48) << 20;
	gort_listener *l = listen_or_fail("unix", abstract_name("write-all"));
	unsigned char *src = malloc(len);
	struct bulk b = { .len = len, .buf = malloc(len + 1) };
	struct pair p;

	(void)argc;
	(void)argv;
	if (!l || !src || !b.buf || !make_pair(l, "unix", &p))
		return 1;
	for (size_t i = 0; i < len; i++)
		src[i] = pattern(3, i);
	b.conn = p.server;
	gort_wg_add(&b.done, 1);
	gort_go(bulk_reader, &b);
	/* One call, every byte. */
	TG_CHECK_EQ((long long)len, gort_conn_write(p.client, src, len, NULL));
	TG_CHECK_EQ(0, gort_conn_close(p.client, NULL));
	gort_wg_wait(&b.done);
	TG_CHECK_EQ((long long)len, (long long)b.got);
	TG_CHECK(memcmp(src, b.buf, len) == 0);
	gort_conn_close(p.server, NULL);
	gort_listener_close(l, NULL);
	free(src);
	free(b.buf);
	return 0;
}

TEST_F_TIMEOUT(slow, write_all_of_a_large_buffer, 60)
{
	ASSERT_EQ(0, gort_main(write_all_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
	EXPECT_NO_LEAKS();
}

/* ---- IPv6 and unix ---- */

/* Sends a message each way over p. */
static void ping_pong(struct pair *p)
{
	char buf[8];

	TG_CHECK_EQ(4, gort_conn_write(p->client, "ping", 4, NULL));
	TG_CHECK_EQ(4, gort_conn_read_full(p->server, buf, 4, NULL));
	TG_CHECK(memcmp(buf, "ping", 4) == 0);
	TG_CHECK_EQ(4, gort_conn_write(p->server, "pong", 4, NULL));
	TG_CHECK_EQ(4, gort_conn_read_full(p->client, buf, 4, NULL));
	TG_CHECK(memcmp(buf, "pong", 4) == 0);
}

static bool ipv6_ran;

static int v6_unix_main(int argc, char **argv)
{
	char dir[] = "/tmp/gort-net-test-XXXXXX", path[128], a[160], b[160];
	gort_listener *l;
	gort_error *err;
	struct pair p;

	(void)argc;
	(void)argv;
	/* IPv6 loopback, when the machine has it. */
	l = gort_listen("tcp6", "[::1]:0", &err);
	if (!l &&
	    (gort_error_is_errno(err, EADDRNOTAVAIL) || gort_error_is_errno(err, EAFNOSUPPORT))) {
		gort_error_free(err);
	} else if (!l) {
		TG_FAIL_ERR("listen tcp6", err);
	} else {
		ipv6_ran = true;
		gort_listener_addr(l, a, sizeof(a));
		TG_CHECK(strncmp(a, "[::1]:", 6) == 0 && port_of(a) > 0);
		if (make_pair(l, "tcp6", &p)) {
			ping_pong(&p);
			gort_conn_local_addr(p.client, b, sizeof(b));
			TG_CHECK(strncmp(b, "[::1]:", 6) == 0);
			gort_conn_remote_addr(p.client, b, sizeof(b));
			TG_CHECK(strcmp(a, b) == 0);
			close_pair(&p);
		}
		/* "tcp" dials a bracketed v6 literal too. */
		if (make_pair(l, "tcp", &p))
			close_pair(&p);
		gort_listener_close(l, NULL);
		/* The wildcard "tcp" listen is dual-stack: v4 clients too. */
		l = listen_or_fail("tcp", ":0");
		if (l) {
			gort_listener_addr(l, a, sizeof(a));
			TG_CHECK(strncmp(a, "[::]:", 5) == 0);
			snprintf(b, sizeof(b), "127.0.0.1:%d", port_of(a));
			p.client = gort_dial("tcp4", b, NULL, &err);
			TG_CHECK(p.client != NULL);
			if (p.client) {
				p.server = gort_listener_accept(l, NULL);
				TG_CHECK(p.server != NULL);
				if (p.server) {
					ping_pong(&p);
					gort_conn_close(p.server, NULL);
				}
				gort_conn_close(p.client, NULL);
			} else {
				gort_error_free(err);
			}
			gort_listener_close(l, NULL);
		}
	}

	/* A unix socket file. */
	if (!mkdtemp(dir)) {
		tg_fail(__FILE__, __LINE__, "mkdtemp: %s", strerror(errno));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	l = listen_or_fail("unix", path);
	if (l) {
		gort_listener_addr(l, a, sizeof(a));
		TG_CHECK(strcmp(a, path) == 0);
		if (make_pair(l, "unix", &p)) {
			ping_pong(&p);
			gort_conn_remote_addr(p.client, a, sizeof(a));
			TG_CHECK(strcmp(a, path) == 0);
			gort_conn_local_addr(p.server, a, sizeof(a));
			TG_CHECK(strcmp(a, path) == 0);
			gort_conn_local_addr(p.client, a, sizeof(a));
			TG_CHECK(strcmp(a, "") == 0); /* unnamed */
			TG_CHECK_EQ(-EOPNOTSUPP, gort_conn_set_nodelay(p.client, true));
			close_pair(&p);
		}
		TG_CHECK_EQ(0, access(path, F_OK));
		gort_listener_close(l, NULL);
		/* The listener removes the socket file it made. */
		TG_CHECK(access(path, F_OK) < 0 && errno == ENOENT);
	}
	rmdir(dir);
	/* Linux's abstract namespace. */
	snprintf(path, sizeof(path), "%s", abstract_name("abstract"));
	l = listen_or_fail("unix", path);
	if (l) {
		gort_listener_addr(l, a, sizeof(a));
		TG_CHECK(strcmp(a, path) == 0);
		if (make_pair(l, "unix", &p)) {
			ping_pong(&p);
			gort_conn_remote_addr(p.client, a, sizeof(a));
			TG_CHECK(strcmp(a, path) == 0);
			close_pair(&p);
		}
		gort_listener_close(l, NULL);
	}
	return 0;
}

TEST(ipv6_and_unix_listen_and_dial)
{
	ASSERT_EQ(0, gort_main(v6_unix_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
	if (!ipv6_ran)
		TH_LOG("no IPv6 loopback here: only the unix part ran");
	EXPECT_NO_LEAKS();
}

/* ---- the buffered reader ---- */

static int bufreader_main(int argc, char **argv)
{
	gort_listener *l = listen_or_fail("unix", abstract_name("bufreader"));
	static char msg[6000];
	gort_bufreader *br;
	const char *line;
	struct pair p;
	size_t xs = 0;
	char buf[200];
	ssize_t n;

	(void)argc;
	(void)argv;
	if (!l || !make_pair(l, "unix", &p))
		return 1;
	/* "line one\n" "line two\n" 5000 x "\n" "0123456789" 150 bytes "tail" */
	n = snprintf(msg, sizeof(msg), "line one\nline two\n");
	memset(msg + n, 'x', 5000);
	n += 5000;
	msg[n++] = '\n';
	memcpy(msg + n, "0123456789", 10);
	n += 10;
	for (int i = 0; i < 150; i++)
		msg[n++] = (char)('a' + i % 26);
	memcpy(msg + n, "tail", 4);
	n += 4;
	TG_CHECK_EQ(n, gort_conn_write(p.server, msg, (size_t)n, NULL));
	gort_conn_close_write(p.server, NULL);

	br = gort_bufreader_new(p.client, 64);
	TG_CHECK(br != NULL);
	if (!br)
		return 1;
	TG_CHECK_EQ(9, gort_bufreader_read_slice(br, '\n', &line, NULL));
	TG_CHECK(memcmp(line, "line one\n", 9) == 0);
	TG_CHECK_EQ(9, gort_bufreader_read_slice(br, '\n', &line, NULL));
	TG_CHECK(memcmp(line, "line two\n", 9) == 0);
	/* A line longer than the buffer comes in buffer-sized prefixes. */
	for (;;) {
		n = gort_bufreader_read_slice(br, '\n', &line, NULL);
		if (n <= 0 || n > 64) {
			tg_fail(__FILE__, __LINE__, "read_slice: %lld", (long long)n);
			return 1;
		}
		for (ssize_t i = 0; i < n - 1; i++)
			TG_CHECK(line[i] == 'x');
		xs += (size_t)n;
		if (line[n - 1] == '\n')
			break;
		TG_CHECK_EQ(64, n);
		TG_CHECK(line[n - 1] == 'x');
	}
	TG_CHECK_EQ(5001, (long long)xs);
	/* read_full across buffer refills, then a read larger than the buffer. */
	TG_CHECK_EQ(10, gort_bufreader_read_full(br, buf, 10, NULL));
	TG_CHECK(memcmp(buf, "0123456789", 10) == 0);
	TG_CHECK(gort_bufreader_buffered(br) <= 64);
	TG_CHECK_EQ(150, gort_bufreader_read_full(br, buf, 150, NULL));
	for (int i = 0; i < 150; i++)
		TG_CHECK(buf[i] == (char)('a' + i % 26));
	/* The end: what is left without a delimiter, then 0, and 0 again. */
	TG_CHECK_EQ(4, gort_bufreader_read_slice(br, '\n', &line, NULL));
	TG_CHECK(memcmp(line, "tail", 4) == 0);
	TG_CHECK_EQ(0, gort_bufreader_read_slice(br, '\n', &line, NULL));
	TG_CHECK_EQ(0, gort_bufreader_read(br, buf, 10, NULL));
	TG_CHECK_EQ(0, gort_bufreader_read_full(br, buf, 10, NULL));
	gort_bufreader_free(br);
	close_pair(&p);
	gort_listener_close(l, NULL);
	return 0;
}

TEST(bufreader_lines_prefixes_read_full_and_end)
{
	ASSERT_EQ(0, gort_main(bufreader_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
	EXPECT_NO_LEAKS();
}

/* ---- descriptors are not leaked ---- */

static void quick_server(void *arg)
{
	gort_listener *l = arg;

	for (;;) {
		gort_conn *c = gort_listener_accept(l, NULL);
		char buf[64];
		ssize_t n;

		if (!c)
			return;
		while ((n = gort_conn_read(c, buf, sizeof(buf), NULL)) > 0)
			gort_conn_write(c, buf, (size_t)n, NULL);
		gort_conn_close(c, NULL);
	}
}

static int fds_before, fds_after;

static int no_leak_main(int argc, char **argv)
{
	gort_listener *l = listen_or_fail("tcp", "127.0.0.1:0"), *l2;
	struct blocked_op rd = { 0 };
	char addr[128], dead[128], buf[8];
	struct pair p;

	(void)argc;
	(void)argv;
	if (!l)
		return 1;
	/* Warm up: the netpoller's own descriptors exist after the first wait. */
	if (!make_pair(l, "tcp", &p))
		return 1;
	rd.conn = p.client;
	close_wakes(blocked_reader, &rd, "warm-up read");
	gort_conn_close(p.server, NULL);
	l2 = listen_or_fail("tcp", "127.0.0.1:0");
	gort_listener_addr(l2, dead, sizeof(dead));
	gort_listener_close(l2, NULL);
	gort_listener_addr(l, addr, sizeof(addr));
	gort_go(quick_server, l);
	gort_sleep(10 * MS);
	fds_before = count_fds();

	for (int i = 0; i < 200; i++) {
		gort_conn *c = gort_dial("tcp", addr, NULL, NULL);

		if (!c) {
			tg_fail(__FILE__, __LINE__, "dial: %s", gort_errmsg());
			break;
		}
		TG_CHECK_EQ(4, gort_conn_write(c, "abcd", 4, NULL));
		TG_CHECK_EQ(4, gort_conn_read_full(c, buf, 4, NULL));
		if (i % 2)
			gort_conn_close_write(c, NULL);
		gort_conn_close(c, NULL);
		TG_CHECK(gort_dial("tcp", dead, NULL, NULL) == NULL); /* refused */
		TG_CHECK(gort_dial("tcp", "bad address", NULL, NULL) == NULL);
	}
	/* Close while blocked, a listener that never accepted, unix sockets. */
	for (int i = 0; i < 20; i++) {
		gort_listener *u = listen_or_fail("unix", abstract_name("leaks"));
		struct blocked_op op = { 0 };

		if (!u || !make_pair(u, "unix", &p))
			return 1;
		op.conn = p.server;
		close_wakes(blocked_reader, &op, "read");
		gort_conn_close(p.client, NULL);
		gort_listener_close(u, NULL);
	}
	fds_after = -1;
	for (int i = 0; i < 2000 && (fds_after = count_fds()) != fds_before; i++)
		gort_sleep(MS);
	gort_listener_close(l, NULL);
	return 0;
}

TEST_F_TIMEOUT(slow, no_descriptor_is_leaked, 60)
{
	ASSERT_EQ(0, gort_main(no_leak_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
	EXPECT_EQ(fds_before, fds_after)
	TH_LOG("open descriptors: %d before, %d after", fds_before, fds_after);
}

/* ---- the example servers against garbage and vanishing clients ---- */

static void http_serve_goroutine(void *arg)
{
	TG_CHECK_EQ(0, http_serve(arg));
}

/* Dials addr, sends n bytes of data, then either reads until the end
 * (into resp, NUL-terminated, up to size) or resets the connection. */
static ssize_t exchange(const char *addr, const void *data, size_t n, char *resp, size_t size,
			bool reset)
{
	gort_conn *c = gort_dial("tcp", addr, NULL, NULL);
	size_t got = 0;

	if (!c) {
		tg_fail(__FILE__, __LINE__, "dial %s: %s", addr, gort_errmsg());
		return -1;
	}
	gort_conn_write(c, data, n, NULL); /* may fail: the server may close first */
	if (reset) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		/* close with RST: the server sees ECONNRESET mid-request */
		setsockopt(gort_conn_fd(c), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		gort_conn_close(c, NULL);
		return 0;
	}
	gort_conn_set_read_deadline(c, gort_now() + 5 * GORT_SECOND);
	for (;;) {
		ssize_t r = gort_conn_read(c, resp + got, size - 1 - got, NULL);

		if (r <= 0)
			break;
		got += (size_t)r;
		if (got == size - 1)
			break;
	}
	resp[got] = '\0';
	gort_conn_close(c, NULL);
	return (ssize_t)got;
}

static int count_substr(const char *s, const char *sub)
{
	int n = 0;

	for (; (s = strstr(s, sub)); s += strlen(sub))
		n++;
	return n;
}

#define CHUNKED_REQ "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"

static int garbage_main(int argc, char **argv)
{
	struct http_server hs = { 0 };
	struct echo_server es = { 0 };
	char haddr[128], eaddr[128], *resp = malloc(1 << 16), *junk = malloc(1 << 16);
	const char ok_req[] = "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	const char ok_head[] = "HTTP/1.1 200 OK\r\n";
	char big[12000];
	int64_t fds0;

	(void)argc;
	(void)argv;
	warm_netpoll();
	hs.listener = listen_or_fail("tcp", "127.0.0.1:0");
	es.listener = listen_or_fail("tcp", "127.0.0.1:0");
	if (!hs.listener || !es.listener || !resp || !junk)
		return 1;
	fds0 = count_fds();
	gort_listener_addr(hs.listener, haddr, sizeof(haddr));
	gort_listener_addr(es.listener, eaddr, sizeof(eaddr));
	gort_go(http_serve_goroutine, &hs);
	gort_go(echo_serve_goroutine, &es);
	for (int i = 0; i < (1 << 16); i++)
		junk[i] = (char)pattern(11, (size_t)i);

	/* HTTP: binary garbage -> 400 and close; a reset mid-request; a
	 * request cut short; a body cut short; a head too large -> 431; a
	 * chunked body -> 501; an HTTP/2 preface -> 505 / 400. */
	/* (4xx: 400 for a bad request line, 431 when 8 KiB hold no line end) */
	TG_CHECK(exchange(haddr, junk, 1 << 16, resp, 1 << 16, false) >= 0);
	TG_CHECK(strncmp(resp, "HTTP/1.1 4", 10) == 0);
	TG_CHECK(exchange(haddr, junk, 1 << 16, resp, 1 << 16, true) == 0);
	TG_CHECK(exchange(haddr, "GET / HTTP/1.1\r\nHo", 18, resp, 1 << 16, true) == 0);
	TG_CHECK(exchange(haddr, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc", 52,
			  resp, 1 << 16, true) == 0);
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: ", 32);
	TG_CHECK(exchange(haddr, big, sizeof(big), resp, 1 << 16, false) >= 0);
	TG_CHECK(strncmp(resp, "HTTP/1.1 431 ", 13) == 0);
	TG_CHECK(exchange(haddr, CHUNKED_REQ, sizeof(CHUNKED_REQ) - 1, resp, 1 << 16, false) >= 0);
	TG_CHECK(strncmp(resp, "HTTP/1.1 501 ", 13) == 0);
	TG_CHECK(exchange(haddr, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24, resp, 1 << 16, false) >=
		 0);
	TG_CHECK(strncmp(resp, "HTTP/1.1 505 ", 13) == 0);
	TG_CHECK(exchange(haddr, "GET / HTTP/1.1\r\n\r\n", 18, resp, 1 << 16, false) >= 0);
	TG_CHECK(strncmp(resp, "HTTP/1.1 400 ", 13) == 0); /* no Host */

	/* Pipelining: 10 requests (one with a body) in one write, answered in
	 * order; then requests after garbage: the garbage one ends it. */
	{
		char req[2048] = "";

		for (int i = 0; i < 9; i++)
			strcat(req, "GET /p HTTP/1.1\r\nHost: t\r\n\r\n");
		strcat(req, "POST /q HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbodyHEAD / "
			    "HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
		TG_CHECK(exchange(haddr, req, strlen(req), resp, 1 << 16, false) > 0);
		TG_CHECK_EQ(11, count_substr(resp, ok_head));
		TG_CHECK_EQ(10, count_substr(resp, "\r\n\r\nHello, World!"));
		TG_CHECK_EQ(11, count_substr(resp, "Content-Length: 13\r\n"));
		TG_CHECK_EQ(11, count_substr(resp, "Content-Type: text/plain; charset=utf-8\r\n"));
		TG_CHECK_EQ(11, count_substr(resp, "Date: "));
		TG_CHECK(strstr(resp, "Connection: close\r\n") != NULL);
		/* The HEAD answer comes last and has no body. */
		TG_CHECK(strcmp(resp + strlen(resp) - 4, "\r\n\r\n") == 0);
		snprintf(req, sizeof(req), "%s%s%s", "GET / HTTP/1.1\r\nHost: t\r\n\r\n",
			 "\x01\x02 garbage\r\n\r\n", ok_req);
		TG_CHECK(exchange(haddr, req, strlen(req), resp, 1 << 16, false) > 0);
		TG_CHECK_EQ(1, count_substr(resp, ok_head));
		TG_CHECK(strstr(resp, "HTTP/1.1 400 Bad Request\r\n") != NULL);
	}
	/* A request that arrives a byte at a time is answered once. */
	{
		gort_conn *c = gort_dial("tcp", haddr, NULL, NULL);
		ssize_t n;

		TG_CHECK(c != NULL);
		for (size_t i = 0; c && i < sizeof(ok_req) - 1; i++) {
			TG_CHECK_EQ(1, gort_conn_write(c, ok_req + i, 1, NULL));
			if (i % 8 == 0)
				gort_sleep(MS);
		}
		n = c ? gort_conn_read_full(c, resp, 4096, NULL) : -1;
		TG_CHECK(n > 0);
		if (n > 0) {
			resp[n] = '\0';
			TG_CHECK_EQ(1, count_substr(resp, ok_head));
		}
		if (c)
			gort_conn_close(c, NULL);
	}

	/* Echo: garbage then a reset; a line cut short then a reset. */
	TG_CHECK(exchange(eaddr, junk, 1 << 16, resp, 1 << 16, true) == 0);
	TG_CHECK(exchange(eaddr, "no newline yet", 14, resp, 1 << 16, true) == 0);
	/* Both servers still answer. */
	TG_CHECK(exchange(haddr, ok_req, sizeof(ok_req) - 1, resp, 1 << 16, false) > 0);
	TG_CHECK(strncmp(resp, ok_head, strlen(ok_head)) == 0);
	TG_CHECK(strstr(resp, "\r\n\r\nHello, World!") != NULL);
	{
		gort_conn *c = gort_dial("tcp", eaddr, NULL, NULL);

		TG_CHECK(c != NULL);
		if (c) {
			TG_CHECK_EQ(6, gort_conn_write(c, "hello\n", 6, NULL));
			TG_CHECK_EQ(6, gort_conn_read_full(c, resp, 6, NULL));
			TG_CHECK(memcmp(resp, "hello\n", 6) == 0);
			gort_conn_close(c, NULL);
		}
	}
	/* Every connection goroutine finished, every descriptor closed. */
	TG_CHECK(G_WAIT_UNTIL(T_LOAD(&hs.active) == 0 && T_LOAD(&es.active) == 0, 5000));
	TG_CHECK(G_WAIT_UNTIL(count_fds() == fds0, 5000));
	TG_CHECK(T_LOAD(&hs.bad_requests) >= 6);
	gort_listener_close(hs.listener, NULL);
	gort_listener_close(es.listener, NULL);
	gort_wg_wait(&hs.conns);
	gort_wg_wait(&es.conns);
	free(resp);
	free(junk);
	return 0;
}

TEST_F_TIMEOUT(slow, servers_survive_garbage_and_clients_that_vanish, 60)
{
	ASSERT_EQ(0, gort_main(garbage_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

TEST_HARNESS_MAIN
