// SPDX-License-Identifier: MIT
/*
 * Goroutine dumps: gort_dump_goroutines() shows goroutines parked in known
 * places (a channel receive, a WaitGroup, a sleep, a mutex, a read() in a
 * syscall region) with their wait reasons, names and backtraces naming this file's
 * functions (static ones: the dump reads the ELF .symtab, no -rdynamic);
 * SIGQUIT prints the dump and exits 2 (and GORTDEBUG=sigquit=0 leaves the
 * default action); 10,000 goroutines and goroutines whose frame-pointer
 * chains are garbage are dumped without a crash.
 *
 * The functions that block are noinline and do something after the blocking
 * call, so that they keep a frame of their own (no tail call).
 */
#include <regex.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gort.h>

#include "gort_test.h"
#include "kselftest_harness.h"

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

/* ---- goroutines parked in known places ---- */

struct parked {
	gort_chan *ch;
	gort_waitgroup wg;	/* never reaches zero while they are parked */
	gort_mutex mu;		/* held by the test */
	gort_waitgroup started; /* each blocker says it is about to block */
	int pipe[2];		/* nobody writes: read_blocker stays in read() */
	int64_t recv_id, wg_id, sleep_id, mutex_id, read_id;
	volatile int sink;
};

static struct parked pk;

__attribute__((noinline)) static void recv_blocker(void *arg)
{
	int v = 0;
	bool ok;

	(void)arg;
	gort_wg_done(&pk.started);
	ok = gort_chan_recv(pk.ch, &v);
	pk.sink = ok + v;
}

__attribute__((noinline)) static void wg_blocker(void *arg)
{
	(void)arg;
	gort_wg_done(&pk.started);
	gort_wg_wait(&pk.wg);
	pk.sink = 2;
}

__attribute__((noinline)) static void sleep_blocker(void *arg)
{
	(void)arg;
	gort_wg_done(&pk.started);
	gort_sleep(600 * GORT_SECOND);
	pk.sink = 3;
}

__attribute__((noinline)) static void mutex_blocker(void *arg)
{
	(void)arg;
	gort_wg_done(&pk.started);
	gort_mutex_lock(&pk.mu);
	pk.sink = 4;
	gort_mutex_unlock(&pk.mu);
}

/* A syscall region: the dump starts its trace at gort_syscall_enter's caller. */
__attribute__((noinline)) static void read_blocker(void *arg)
{
	char c;

	(void)arg;
	gort_wg_done(&pk.started);
	pk.sink = (int)GORT_BLOCKING(read(pk.pipe[0], &c, 1));
}

/* Starts the five blockers; returns when each is about to block. */
static void start_blockers(void)
{
	struct gort_go_opts named = { .name = "receiver" };

	pk.ch = gort_chan_make(sizeof(int), 0);
	gort_wg_add(&pk.wg, 1);
	gort_mutex_lock(&pk.mu);
	TG_CHECK_EQ(0, pipe(pk.pipe));
	gort_wg_add(&pk.started, 5);
	pk.recv_id = gort_go_opts(recv_blocker, NULL, &named);
	pk.wg_id = gort_go(wg_blocker, NULL);
	pk.sleep_id = gort_go(sleep_blocker, NULL);
	pk.mutex_id = gort_go(mutex_blocker, NULL);
	pk.read_id = gort_go(read_blocker, NULL);
	gort_wg_wait(&pk.started);
}

/* The dump as a malloc'd string, or NULL. */
static char *dump_string(int *err)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	*err = gort_dump_goroutines(f);
	fclose(f);
	return buf;
}

/* goroutine id's section of a dump (malloc'd), or NULL. */
static char *section(const char *dump, int64_t id)
{
	char head[64];
	const char *s, *e;
	int n = snprintf(head, sizeof(head), "goroutine %lld ", (long long)id);

	for (s = dump; (s = strstr(s, head)); s += n)
		if (s == dump || s[-1] == '\n')
			break;
	if (!s)
		return NULL;
	e = strstr(s, "\n\n");
	return e ? strndup(s, (size_t)(e - s)) : strdup(s);
}

/* Checks goroutine id's section: its header holds want_head, its trace every fn. */
static bool check_section(const char *dump, int64_t id, const char *want_head,
			  const char *const *fns)
{
	char *sec = section(dump, id);
	bool ok = sec != NULL;
	const char *nl = sec ? strchr(sec, '\n') : NULL;

	if (!sec) {
		tg_fail(__FILE__, __LINE__, "goroutine %lld missing from the dump", (long long)id);
		return false;
	}
	if (!nl || !strstr(sec, want_head) || strstr(sec, want_head) > nl) {
		tg_fail(__FILE__, __LINE__, "goroutine %lld: header lacks '%s':\n%s", (long long)id,
			want_head, sec);
		ok = false;
	}
	for (; ok && *fns; fns++) {
		char fn[128];

		snprintf(fn, sizeof(fn), "\n%s+0x", *fns);
		if (!strstr(sec, fn)) {
			tg_fail(__FILE__, __LINE__, "goroutine %lld: no frame '%s' in:\n%s",
				(long long)id, *fns, sec);
			ok = false;
		}
	}
	free(sec);
	return ok;
}

/* Every parked goroutine shows up with the wait reason and a trace. */
static void check_parked(const char *d)
{
	check_section(
		d, pk.recv_id, "\"receiver\" [chan receive, ",
		(const char *const[]){ "recv_blocker", "gort_chan_recv", "goroutine_entry", NULL });
	check_section(d, pk.wg_id, "[sync.WaitGroup.Wait, ",
		      (const char *const[]){ "wg_blocker", "gort_wg_wait", NULL });
	check_section(d, pk.sleep_id, "[sleep, ",
		      (const char *const[]){ "sleep_blocker", "gort_sleep", NULL });
	check_section(d, pk.mutex_id, "[sync.Mutex.Lock, ",
		      (const char *const[]){ "mutex_blocker", "goroutine_park", NULL });
	check_section(d, pk.read_id, "[syscall]", (const char *const[]){ "read_blocker", NULL });
}

/* Parking is asynchronous to the started signal: dump until all four show. */
static char *dump_when_parked(int *err)
{
	int64_t deadline = test_now_ns() + 10 * GORT_SECOND;
	char *d;

	for (;;) {
		d = dump_string(err);
		if (!d || *err || test_now_ns() > deadline)
			return d;
		if (strstr(d, "[chan receive") && strstr(d, "[sync.WaitGroup.Wait") &&
		    strstr(d, "[sleep") && strstr(d, "[sync.Mutex.Lock") && strstr(d, "[syscall]"))
			return d;
		free(d);
		usleep(2000);
	}
}

__attribute__((noinline)) static int dump_main(int argc, char **argv)
{
	char *d, *self;
	int err = -1;

	(void)argc;
	(void)argv;
	start_blockers();
	d = dump_when_parked(&err);
	TG_CHECK_EQ(0, err);
	TG_CHECK(d != NULL);
	if (!d)
		return 1;
	check_parked(d);
	/* The dumping goroutine comes first, running, with its own trace. */
	TG_CHECK(strncmp(d, "goroutine 1 \"main\" m=", 21) == 0);
	self = section(d, 1);
	TG_CHECK(self && strstr(self, "[running]:\n") && strstr(self, "\ndump_main+0x"));
	if (tg_failures() || getenv("DUMP_TEST_SHOW"))
		fprintf(stderr, "%s", d);
	free(self);
	free(d);
	return 0;
}

TEST(dump_shows_wait_reasons_names_and_backtraces)
{
	ASSERT_EQ(0, gort_main(dump_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

static int foreign_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	start_blockers();
	return 0;
}

TEST(dump_from_a_foreign_thread)
{
	char *d;
	int err = -1;

	ASSERT_EQ(0, gort_main(foreign_main, 0, NULL));
	d = dump_when_parked(&err);
	ASSERT_EQ(0, err);
	ASSERT_NE(NULL, d);
	check_parked(d);
	/* No goroutine runs the dump: main has returned, nobody is "running". */
	EXPECT_EQ(NULL, strstr(d, "[running"));
	free(d);
	ASSERT_NO_TG_FAILURES();
}

TEST(dump_errors)
{
	FILE *full = fopen("/dev/full", "w");

	EXPECT_EQ(GORT_EINVAL, gort_dump_goroutines(NULL));
	ASSERT_EQ(0, gort_main(foreign_main, 0, NULL));
	ASSERT_NE(NULL, full);
	EXPECT_EQ(-ENOSPC, gort_dump_goroutines(full));
	EXPECT_NE(NULL, strstr(gort_errmsg(), "writing the dump failed"));
	fclose(full);
}

/* ---- SIGQUIT ---- */

static volatile int spin_forever;

__attribute__((noinline)) static void spinner(void *arg)
{
	(void)arg;
	gort_wg_done(&pk.started);
	while (!spin_forever)
		; /* never reaches a safe point: the world cannot stop */
}

static int quit_main(int argc, char **argv)
{
	(void)argv;
	start_blockers();
	if (argc > 1) {
		gort_wg_add(&pk.started, 1);
		gort_go(spinner, NULL);
		gort_wg_wait(&pk.started);
	}
	usleep(50 * 1000); /* let the blockers park */
	/*
	 * TSan defers an asynchronous signal until the thread it lands on
	 * enters an intercepted libc call, which a worker asleep on a raw
	 * futex never does: raise() is delivered to this thread, at once.
	 */
	if (GORT_TEST_TSAN)
		raise(SIGQUIT);
	else
		kill(getpid(), SIGQUIT);
	for (;;)
		gort_sleep(GORT_SECOND);
	return 0;
}

/* Runs quit_main in a child with stderr in a file; returns its wait status. */
static int run_quit_child(const char *gortdebug, bool with_spinner, char **out)
{
	char path[] = "/tmp/gort-dump-test-XXXXXX";
	int fd = mkstemp(path), status = -1;
	pid_t pid;

	*out = NULL;
	if (fd < 0)
		return -1;
	unlink(path);
	pid = fork();
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };
		char *argv[] = { "quit", with_spinner ? "spin" : NULL, NULL };

		setrlimit(RLIMIT_CORE, &no_core);
		dup2(fd, 2);
		if (gortdebug)
			setenv("GORTDEBUG", gortdebug, 1);
		alarm(60);
		gort_main(quit_main, with_spinner ? 2 : 1, argv);
		_exit(99);
	}
	waitpid(pid, &status, 0);
	{
		off_t len = lseek(fd, 0, SEEK_END);
		char *buf = malloc((size_t)len + 1);

		if (buf && pread(fd, buf, (size_t)len, 0) == len) {
			buf[len] = '\0';
			*out = buf;
		} else {
			free(buf);
		}
	}
	close(fd);
	return status;
}

TEST(sigquit_prints_the_dump_and_exits_2)
{
	char *out;
	int st = run_quit_child(NULL, false, &out);

	ASSERT_TRUE(WIFEXITED(st)) TH_LOG("status 0x%x", st);
	ASSERT_EQ(2, WEXITSTATUS(st));
	ASSERT_NE(NULL, out);
	EXPECT_EQ(0, strncmp(out, "SIGQUIT: quit\n", 14)) TH_LOG("%s", out);
	EXPECT_EQ(NULL, strstr(out, "did not stop"));
	EXPECT_NE(NULL, strstr(out, "\"receiver\" [chan receive, ")) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "\nrecv_blocker+0x"));
	EXPECT_NE(NULL, strstr(out, "[sync.WaitGroup.Wait, "));
	EXPECT_NE(NULL, strstr(out, "\nwg_blocker+0x"));
	EXPECT_NE(NULL, strstr(out, "[sleep, "));
	EXPECT_NE(NULL, strstr(out, "\nsleep_blocker+0x"));
	EXPECT_NE(NULL, strstr(out, "[sync.Mutex.Lock, "));
	EXPECT_NE(NULL, strstr(out, "\nmutex_blocker+0x"));
	EXPECT_NE(NULL, strstr(out, "[syscall]:\nread_blocker+0x"));
	EXPECT_NE(NULL, strstr(out, "goroutine 1 \"main\" [sleep, "));
	free(out);
}

TEST_F_TIMEOUT(slow, sigquit_with_a_goroutine_that_never_stops, 60)
{
	char *out;
	int st = run_quit_child(NULL, true, &out);

	ASSERT_TRUE(WIFEXITED(st)) TH_LOG("status 0x%x", st);
	ASSERT_EQ(2, WEXITSTATUS(st));
	ASSERT_NE(NULL, out);
	EXPECT_NE(NULL, strstr(out, "did not stop within")) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "[running]:\n\tgoroutine running on other thread; "
				    "stack unavailable\n"))
	TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "\nrecv_blocker+0x")) TH_LOG("%s", out);
	free(out);
}

TEST(gortdebug_sigquit_0_keeps_the_default_action)
{
	char *out;
	int st = run_quit_child("sigquit=0", false, &out);

	ASSERT_TRUE(WIFSIGNALED(st)) TH_LOG("status 0x%x", st);
	EXPECT_EQ(SIGQUIT, WTERMSIG(st));
	EXPECT_TRUE(out == NULL || strstr(out, "SIGQUIT: quit") == NULL);
	free(out);
}

/* A child forked after the runtime started has no helper thread: SIGQUIT
 * must kill it the default way, not make its parent dump and exit. */
static int fork_main(int argc, char **argv)
{
	pid_t pid;
	int st = -1;

	(void)argc;
	(void)argv;
	pid = fork();
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core);
		raise(SIGQUIT);
		_exit(0);
	}
	TG_CHECK(pid > 0);
	TG_CHECK_EQ(pid, GORT_BLOCKING(waitpid(pid, &st, 0)));
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGQUIT)
		tg_fail(__FILE__, __LINE__, "child: wait status 0x%x, want killed by SIGQUIT", st);
	gort_sleep(100 * GORT_MILLISECOND); /* the parent would be dead by now */
	return 0;
}

TEST(sigquit_in_a_forked_child_is_the_default_action)
{
	ASSERT_EQ(0, gort_main(fork_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

/* ---- GORTDEBUG=schedtrace ---- */

static int trace_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	start_blockers();
	gort_sleep(150 * GORT_MILLISECOND);
	return 0;
}

/* Runs trace_main in a child with GORT_MAXPROCS=2 and GORTDEBUG; its stderr in *out. */
static int run_trace_child(const char *gortdebug, char **out)
{
	char path[] = "/tmp/gort-dump-test-XXXXXX";
	int fd = mkstemp(path), status = -1;
	pid_t pid;

	*out = NULL;
	if (fd < 0)
		return -1;
	unlink(path);
	pid = fork();
	if (pid == 0) {
		dup2(fd, 2);
		setenv("GORTDEBUG", gortdebug, 1);
		setenv("GORT_MAXPROCS", "2", 1);
		alarm(60);
		_exit(gort_main(trace_main, 0, NULL));
	}
	waitpid(pid, &status, 0);
	{
		off_t len = lseek(fd, 0, SEEK_END);
		char *buf = malloc((size_t)len + 1);

		if (buf && pread(fd, buf, (size_t)len, 0) == len) {
			buf[len] = '\0';
			*out = buf;
		} else {
			free(buf);
		}
	}
	close(fd);
	return status;
}

/* True when some line of text matches the extended regex re. */
static bool has_line(const char *text, const char *re)
{
	regex_t r;
	bool found;

	if (!text || regcomp(&r, re, REG_EXTENDED | REG_NOSUB | REG_NEWLINE) != 0)
		return false;
	found = regexec(&r, text, 0, NULL, 0) == 0;
	regfree(&r);
	return found;
}

TEST(schedtrace_prints_go_format_lines)
{
	char *out;
	int st = run_trace_child("schedtrace=20", &out);

	ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) TH_LOG("status 0x%x", st);
	EXPECT_TRUE(has_line(out, "^SCHED [0-9]+ms: gomaxprocs=2 idleprocs=[0-9]+ threads=[0-9]+ "
				  "spinningthreads=[0-9]+ idlethreads=[0-9]+ runqueue=[0-9]+ "
				  "\\[[0-9]+ [0-9]+\\]$"))
	TH_LOG("%s", out);
	free(out);
}

TEST(scheddetail_prints_procs_workers_and_goroutines)
{
	char *out;
	int st;

	/* Like Go's, the detail is read without stopping anything: racy by design. */
	if (GORT_TEST_TSAN)
		SKIP(return, "scheddetail reads the scheduler without synchronization");
	st = run_trace_child("schedtrace=20,scheddetail=1", &out);
	ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) TH_LOG("status 0x%x", st);
	EXPECT_TRUE(has_line(out, "^SCHED [0-9]+ms: gomaxprocs=2 .* runqueue=[0-9]+ gcwaiting=0 "
				  "nmidlelocked=0 stopwait=0 sysmonwait=0$"))
	TH_LOG("%s", out);
	EXPECT_TRUE(has_line(out, "^  P1: status=[0-4] schedtick=[0-9]+ syscalltick=[0-9]+ "
				  "m=-?[0-9]+ runqsize=[0-9]+ gfreecnt=[0-9]+ timerslen=[0-9]+$"));
	EXPECT_TRUE(has_line(out, "^  M[0-9]+: p=-?[0-9]+ curg=-?[0-9]+ spinning=(true|false) "
				  "blocked=(true|false) lockedg=-1$"));
	EXPECT_TRUE(has_line(out, "^  G[0-9]+: status=4\\(chan receive\\) m=-1 lockedm=-1$"));
	EXPECT_TRUE(has_line(out, "^  G[0-9]+: status=4\\(sync.Mutex.Lock\\) m=-1 lockedm=-1$"));
	free(out);
}

/* ---- robustness ---- */

/* TSan counts each goroutine's fiber as a thread (at most 8128), and makes
 * each one slow: 2000 there keep the binary within kselftest's 45 s. */
#define MANY (GORT_TEST_TSAN ? 2000 : 10000)

static gort_chan *many_ch;
static gort_waitgroup many_wg;

static void many_blocker(void *arg)
{
	(void)arg;
	gort_wg_done(&many_wg);
	TG_CHECK(!gort_chan_recv(many_ch, NULL));
	gort_wg_done(&many_wg);
}

static int many_main(int argc, char **argv)
{
	char *d, *p;
	int err = -1;
	int64_t n = 0, parked = 0;

	(void)argc;
	(void)argv;
	many_ch = gort_chan_make(0, 0);
	gort_wg_add(&many_wg, MANY);
	for (int i = 0; i < MANY; i++)
		TG_CHECK(gort_go(many_blocker, NULL) > 0);
	gort_wg_wait(&many_wg);
	gort_wg_add(&many_wg, MANY);
	gort_sleep(20 * GORT_MILLISECOND);
	d = dump_string(&err);
	TG_CHECK_EQ(0, err);
	TG_CHECK(d != NULL);
	for (p = d; p && (p = strstr(p, "goroutine ")); p++) {
		if (p != d && p[-1] != '\n')
			continue;
		n++;
		if (strncmp(strchr(p, '['), "[chan receive, ", 15) == 0)
			parked++;
	}
	TG_CHECK(n >= MANY + 1);
	TG_CHECK(parked >= MANY - 100); /* a few may still be on their way */
	free(d);
	gort_chan_close(many_ch);
	gort_wg_wait(&many_wg);
	return 0;
}

TEST_F_TIMEOUT(slow, dump_10000_goroutines, 120)
{
	ASSERT_EQ(0, gort_main(many_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

/*
 * call_with_fp(fn, arg, fp) calls fn(arg) with rbp = fp, so fn's prologue
 * saves a garbage frame pointer: the chain below fn is whatever fp says.
 */
void call_with_fp(void (*fn)(void *), void *arg, uintptr_t fp);
__asm__(".text\n"
	".type call_with_fp, @function\n"
	"call_with_fp:\n"
	"	pushq %rbp\n"
	"	movq %rdx, %rbp\n"
	"	movq %rdi, %rax\n"
	"	movq %rsi, %rdi\n"
	"	call *%rax\n"
	"	popq %rbp\n"
	"	ret\n"
	".size call_with_fp, .-call_with_fp\n");

static gort_chan *garbage_ch;
static gort_waitgroup garbage_wg;

__attribute__((noinline)) static void garbage_recv(void *arg)
{
	(void)arg;
	gort_wg_done(&garbage_wg);
	TG_CHECK(!gort_chan_recv(garbage_ch, NULL));
}

/* kind selects the chain: 0 outside the stack, 1 a self-loop, 2 random words,
 * 3 a frame at the very top of the stack, 4 misaligned. */
__attribute__((noinline)) static void garbage_goroutine(void *arg)
{
	uintptr_t kind = (uintptr_t)arg, buf[64];
	uint64_t x = 0x9E3779B97F4A7C15ULL * (kind + 1);
	uintptr_t fp;

	for (int i = 0; i < 64; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uintptr_t)x;
	}
	switch (kind) {
	case 0:
		fp = 0xdead0000beef0;
		break;
	case 1:
		buf[0] = (uintptr_t)&buf[0];
		fp = (uintptr_t)&buf[0];
		break;
	case 2:
		/* Words that point just above each other, then random ones. */
		for (int i = 0; i < 8; i += 2)
			buf[i] = (uintptr_t)&buf[i + 2];
		fp = (uintptr_t)&buf[0];
		break;
	case 3:
		buf[0] = (uintptr_t)&buf[63] + 4096 * 64; /* beyond any stack top */
		fp = (uintptr_t)&buf[0];
		break;
	default:
		fp = (uintptr_t)&buf[0] + 3;
		break;
	}
	call_with_fp(garbage_recv, NULL, fp);
	__asm__ volatile("" ::"r"(buf) : "memory");
}

static int garbage_main(int argc, char **argv)
{
	char *d;
	int err = -1;
	int64_t ids[5];

	(void)argc;
	(void)argv;
	garbage_ch = gort_chan_make(0, 0);
	gort_wg_add(&garbage_wg, 5);
	for (uintptr_t k = 0; k < 5; k++)
		ids[k] = gort_go(garbage_goroutine, (void *)k);
	gort_wg_wait(&garbage_wg);
	gort_sleep(20 * GORT_MILLISECOND);
	d = dump_string(&err);
	TG_CHECK_EQ(0, err);
	TG_CHECK(d != NULL);
	for (int k = 0; d && k < 5; k++)
		check_section(d, ids[k], "[chan receive, ",
			      (const char *const[]){ "garbage_recv", NULL });
	TG_CHECK(d && strstr(d, "outside the stack or misaligned: trace ends"));
	TG_CHECK(d && strstr(d, "does not grow: trace ends"));
	if (tg_failures() || getenv("DUMP_TEST_SHOW"))
		fprintf(stderr, "%s", d ? d : "");
	free(d);
	gort_chan_close(garbage_ch);
	return 0;
}

TEST(dump_survives_garbage_frame_pointers)
{
	ASSERT_EQ(0, gort_main(garbage_main, 0, NULL));
	ASSERT_NO_TG_FAILURES();
}

TEST_HARNESS_MAIN
