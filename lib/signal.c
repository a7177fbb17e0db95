// SPDX-License-Identifier: MIT
/*
 * Stack overflow reporting. Every worker runs with a sigaltstack, so a fault
 * in a goroutine's guard region can be handled although the goroutine's own
 * stack is exhausted. The handler prints "goroutine N stack overflow" and
 * aborts; any other fault goes to the handler installed before ours, or to
 * the default action.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime.h"

#define ALTSTACK_SIZE (64 * 1024)

static struct sigaction old_segv, old_bus;

/* Async-signal-safe formatting of an unsigned number. */
static size_t fmt_u64(char *buf, uint64_t v, int base)
{
	char tmp[24];
	size_t n = 0, i = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v % (uint64_t)base];
		v /= (uint64_t)base;
	} while (v);
	while (n)
		buf[i++] = tmp[--n];
	return i;
}

static void fault_handler(int sig, siginfo_t *si, void *uc)
{
	struct worker *w = this_worker();
	struct goroutine *g = w ? w->curg : NULL;
	struct sigaction *old = sig == SIGSEGV ? &old_segv : &old_bus;

	if (g && stack_in_guard(&g->stack, si->si_addr)) {
		char msg[160];
		size_t n = 0;

		memcpy(msg, "gort: fatal: goroutine ", 23);
		n = 23;
		n += fmt_u64(msg + n, (uint64_t)g->id, 10);
		memcpy(msg + n, " stack overflow (fault at 0x", 28);
		n += 28;
		n += fmt_u64(msg + n, (uintptr_t)si->si_addr, 16);
		memcpy(msg + n, ", stack size ", 13);
		n += 13;
		n += fmt_u64(msg + n, (uint64_t)(g->stack.hi - g->stack.lo), 10);
		memcpy(msg + n, ")\n", 2);
		n += 2;
		(void)!write(2, msg, n);
		signal(SIGABRT, SIG_DFL);
		abort();
	}
	if (old->sa_flags & SA_SIGINFO) {
		if (old->sa_sigaction) {
			old->sa_sigaction(sig, si, uc);
			return;
		}
	} else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
		old->sa_handler(sig);
		return;
	}
	/* Default action: restore it and let the fault happen again. */
	signal(sig, SIG_DFL);
}

int signals_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = fault_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &old_segv) != 0 || sigaction(SIGBUS, &sa, &old_bus) != 0) {
		set_errmsg("gort_init: cannot install the stack overflow handler");
		return GORT_EAGAIN;
	}
	return sigquit_init();
}

int worker_altstack_init(struct worker *w)
{
	stack_t ss;
	void *mem = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);

	if (mem == MAP_FAILED)
		return GORT_ENOMEM;
	ss.ss_sp = mem;
	ss.ss_size = ALTSTACK_SIZE;
	ss.ss_flags = 0;
	if (sigaltstack(&ss, NULL) != 0) {
		munmap(mem, ALTSTACK_SIZE);
		return GORT_EAGAIN;
	}
	w->altstack = mem;
	return 0;
}
