// SPDX-License-Identifier: MIT
/*
 * Goroutine dumps: gort_dump_goroutines() and the SIGQUIT handler, in the
 * format of a Go crash:
 *
 *   goroutine 7 "consumer" [chan receive, 12 ms]:
 *   chan_recv_slow+0x9c
 *   	0x55d2c9a3e1bf /path/prog+0x61bf
 *   ...
 *
 * Backtraces walk the frame-pointer chain (the library is built with
 * -fno-omit-frame-pointer; code without frame pointers ends or garbles a
 * trace, never the dump). A parked goroutine's walk starts from the frame
 * gort_ctx_switch saved (switch.S: rbp at +48, the return address at +56);
 * one in a syscall region from the caller of gort_syscall_enter; the dumping
 * goroutine from its own frame. Every frame pointer must lie inside the
 * goroutine's stack [lo, hi), be 8-aligned and grow towards hi, and every
 * read of another goroutine's stack goes through process_vm_readv() on our
 * own pid (a pipe write where that syscall is refused), which fails with
 * EFAULT instead of faulting: a garbage chain or a stack unmapped under us
 * ends the trace, never the process. Those reads are also invisible to ASan
 * (no redzone reports on foreign frames) and TSan (no races on stacks the
 * stop-the-world already ordered).
 *
 * Symbols: the executable segments of every loaded object (dl_iterate_phdr,
 * which works in static executables too) map a pc to its file and load
 * bias; the file's ELF .symtab (static functions included), else its
 * .dynsym, names the function; dladdr() is the last resort (the vDSO).
 * Each frame also prints "file+0xOFFSET", which is what `addr2line -f -e
 * file OFFSET` takes. Symbol tables are loaded once and kept.
 *
 * SIGQUIT: the handler only writes a byte to a pipe. A helper thread
 * ("gort-sigquit", started by gort_init) blocks reading it; woken, it stops
 * the world (giving up after a second: a goroutine that never calls the
 * runtime cannot be stopped, so running goroutines are then listed without a
 * stack), prints the dump to stderr (through its own FILE on a dup of fd 2,
 * so a lock a stopped goroutine holds on stderr cannot block it) and exits
 * with status 2 like Go, without atexit handlers or stdio flushing. Doing
 * the work on a thread, not in the handler, is what makes taking locks,
 * allocating and stopping the world safe: the handler may have interrupted
 * any thread anywhere, the scheduler or malloc included.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "runtime.h"

#define MAX_FRAMES 100	/* like Go's traceback limit */
#define MAX_MODULES 128 /* loaded objects remembered per dump */
#define MAX_SYMFILES 64 /* symbol tables kept across dumps */
#define SIGQUIT_STOP_NS (1000 * 1000 * 1000LL)

/* Dumps run one at a time: they share the symbol cache and the read pipe. */
static pthread_mutex_t dump_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- fault-free reads ---- */

static pid_t self_pid;
static int read_pipe[2] = { -1, -1 }; /* fallback when process_vm_readv is refused */
static bool use_pipe;

/* Copies n bytes at addr into dst; false (never a fault) when unmapped. */
static bool safe_read(void *dst, uintptr_t addr, size_t n)
{
	struct iovec local = { dst, n }, remote = { (void *)addr, n };
	ssize_t got;

	if (!use_pipe) {
		got = process_vm_readv(self_pid, &local, 1, &remote, 1, 0);
		if (got == (ssize_t)n)
			return true;
		if (got >= 0 || (errno != ENOSYS && errno != EPERM))
			return false;
		use_pipe = true; /* seccomp or an old kernel: write() checks too */
	}
	if (read_pipe[0] < 0 && pipe2(read_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		return false;
	if (write(read_pipe[1], (const void *)addr, n) != (ssize_t)n)
		return false; /* EFAULT: nothing was written */
	return read(read_pipe[0], dst, n) == (ssize_t)n;
}

/* ---- symbols ---- */

struct sym {
	uintptr_t value, size;
	const char *name;
};

struct symfile {
	char path[PATH_MAX];
	bool failed;	  /* no symbols to be had from it */
	struct sym *syms; /* sorted by value */
	size_t nsyms;
};
static struct symfile symfiles[MAX_SYMFILES];
static int nsymfiles;

struct module {
	uintptr_t lo, hi, bias; /* one executable segment */
	char path[PATH_MAX];	/* the file ("/proc/self/exe" for the program) */
	char shown[PATH_MAX];	/* its name in the dump */
};

static int sym_cmp(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return x->value < y->value ? -1 : x->value > y->value;
}

/* Loads the function symbols of an ELF file (mapped for good: names point into it). */
static void symfile_load(struct symfile *sf)
{
	int fd = open(sf->path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	const unsigned char *m;
	const Elf64_Ehdr *eh;
	const Elf64_Shdr *sh, *tab = NULL;

	sf->failed = true;
	if (fd < 0)
		return;
	if (fstat(fd, &st) != 0 || (size_t)st.st_size < sizeof(Elf64_Ehdr)) {
		close(fd);
		return;
	}
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return;
	eh = (const Elf64_Ehdr *)m;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shoff > (uint64_t)st.st_size ||
	    (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) > (uint64_t)st.st_size - eh->e_shoff)
		goto bad;
	sh = (const Elf64_Shdr *)(m + eh->e_shoff);
	/* .symtab has the static functions too; a stripped file keeps .dynsym. */
	for (int i = 0; i < eh->e_shnum; i++)
		if (sh[i].sh_type == SHT_SYMTAB || (!tab && sh[i].sh_type == SHT_DYNSYM))
			tab = &sh[i];
	if (!tab || tab->sh_link >= eh->e_shnum || tab->sh_entsize != sizeof(Elf64_Sym))
		goto bad;
	{
		const Elf64_Shdr *strs = &sh[tab->sh_link];
		const Elf64_Sym *syms = (const Elf64_Sym *)(m + tab->sh_offset);
		size_t n = tab->sh_size / sizeof(Elf64_Sym), k = 0;

		if (tab->sh_offset > (uint64_t)st.st_size ||
		    tab->sh_size > (uint64_t)st.st_size - tab->sh_offset ||
		    strs->sh_offset > (uint64_t)st.st_size ||
		    strs->sh_size > (uint64_t)st.st_size - strs->sh_offset || strs->sh_size == 0 ||
		    m[strs->sh_offset + strs->sh_size - 1] != '\0')
			goto bad;
		sf->syms = malloc((n ? n : 1) * sizeof(*sf->syms));
		if (!sf->syms)
			goto bad;
		for (size_t i = 0; i < n; i++) {
			if (ELF64_ST_TYPE(syms[i].st_info) != STT_FUNC ||
			    syms[i].st_shndx == SHN_UNDEF || !syms[i].st_value ||
			    syms[i].st_name >= strs->sh_size)
				continue;
			sf->syms[k].value = syms[i].st_value;
			sf->syms[k].size = syms[i].st_size;
			sf->syms[k].name = (const char *)m + strs->sh_offset + syms[i].st_name;
			k++;
		}
		qsort(sf->syms, k, sizeof(*sf->syms), sym_cmp);
		sf->nsyms = k;
		sf->failed = k == 0;
		return;
	}
bad:
	munmap((void *)m, (size_t)st.st_size);
}

static struct symfile *symfile_get(const char *path)
{
	struct symfile *sf;

	for (int i = 0; i < nsymfiles; i++)
		if (strcmp(symfiles[i].path, path) == 0)
			return &symfiles[i];
	if (nsymfiles == MAX_SYMFILES)
		return NULL;
	sf = &symfiles[nsymfiles++];
	snprintf(sf->path, sizeof(sf->path), "%s", path);
	symfile_load(sf);
	return sf;
}

/* The function containing file address off, or NULL. */
static const struct sym *symfile_lookup(struct symfile *sf, uintptr_t off)
{
	size_t lo = 0, hi;

	if (!sf || sf->failed)
		return NULL;
	hi = sf->nsyms;
	while (lo < hi) { /* lo: the first symbol above off */
		size_t mid = lo + (hi - lo) / 2;

		if (sf->syms[mid].value <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	/* The nearest symbol at or below off, or one of its aliases, if it
	 * covers off (an unsized one, e.g. from assembly, is taken as is). */
	for (size_t i = lo; i-- > 0 && sf->syms[i].value == sf->syms[lo - 1].value;) {
		const struct sym *s = &sf->syms[i];

		if (!s->size || off < s->value + s->size)
			return s;
	}
	return NULL;
}

struct dump {
	FILE *f;
	struct module mods[MAX_MODULES];
	int nmods;
	int64_t now;
};

static int collect_module(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct dump *d = arg;
	const char *name = info->dlpi_name && *info->dlpi_name ? info->dlpi_name : NULL;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum && d->nmods < MAX_MODULES; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		struct module *m;

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		m = &d->mods[d->nmods++];
		m->bias = info->dlpi_addr;
		m->lo = info->dlpi_addr + ph->p_vaddr;
		m->hi = m->lo + ph->p_memsz;
		if (name) {
			snprintf(m->path, sizeof(m->path), "%s", name);
			snprintf(m->shown, sizeof(m->shown), "%s", name);
		} else {
			ssize_t n;

			snprintf(m->path, sizeof(m->path), "/proc/self/exe");
			n = readlink("/proc/self/exe", m->shown, sizeof(m->shown) - 1);
			m->shown[n > 0 ? n : 0] = '\0';
			if (n <= 0)
				snprintf(m->shown, sizeof(m->shown), "/proc/self/exe");
		}
	}
	return 0;
}

/*
 * Prints one frame. A return address (ret) belongs to the call at pc - 1:
 * that is what gets symbolized (a noreturn call can end a function), while
 * pc itself is printed.
 */
static void print_frame(struct dump *d, uintptr_t pc, bool ret)
{
	uintptr_t at = ret ? pc - 1 : pc;
	const struct module *m = NULL;
	const struct sym *s = NULL;
	Dl_info di;

	for (int i = 0; i < d->nmods; i++)
		if (at >= d->mods[i].lo && at < d->mods[i].hi)
			m = &d->mods[i];
	if (m)
		s = symfile_lookup(symfile_get(m->path), at - m->bias);
	if (s)
		fprintf(d->f, "%s+0x%" PRIxPTR "\n", s->name, pc - m->bias - s->value);
	else if (dladdr((void *)at, &di) && di.dli_sname)
		fprintf(d->f, "%s+0x%" PRIxPTR "\n", di.dli_sname, pc - (uintptr_t)di.dli_saddr);
	else
		fprintf(d->f, "?\n");
	if (m)
		fprintf(d->f, "\t0x%" PRIxPTR " %s+0x%" PRIxPTR "\n", pc, m->shown, pc - m->bias);
	else
		fprintf(d->f, "\t0x%" PRIxPTR "\n", pc);
}

/*
 * Walks a frame-pointer chain: the frame at fp holds the caller's frame
 * pointer and, above it, the return address. pc is the first frame's.
 */
static void walk(struct dump *d, uintptr_t pc, uintptr_t fp, uintptr_t lo, uintptr_t hi)
{
	for (int n = 0;; n++) {
		uintptr_t frame[2];

		if (n == MAX_FRAMES) {
			fprintf(d->f, "...additional frames elided...\n");
			return;
		}
		print_frame(d, pc, true);
		if (fp < lo || fp > hi - sizeof(frame) || fp % 8) {
			/* fp 0 ends a chain (goroutine_entry starts with rbp = 0). */
			if (fp)
				fprintf(d->f,
					"\t(frame pointer 0x%" PRIxPTR
					" outside the stack or misaligned: trace ends)\n",
					fp);
			return;
		}
		if (!safe_read(frame, fp, sizeof(frame))) {
			fprintf(d->f, "\t(stack unreadable at 0x%" PRIxPTR ": trace ends)\n", fp);
			return;
		}
		/* goroutine_entry's frame: its caller is the switch code. */
		if (!frame[0] || !frame[1])
			return;
		if (frame[0] <= fp) {
			fprintf(d->f,
				"\t(frame pointer 0x%" PRIxPTR " does not grow: trace ends)\n",
				frame[0]);
			return;
		}
		pc = frame[1];
		fp = frame[0];
	}
}

static void print_duration(FILE *f, int64_t ns)
{
	if (ns < 0)
		ns = 0;
	if (ns < 10LL * 1000 * 1000 * 1000)
		fprintf(f, ", %lld ms", (long long)(ns / 1000000));
	else if (ns < 60LL * 1000 * 1000 * 1000)
		fprintf(f, ", %lld s", (long long)(ns / 1000000000));
	else
		fprintf(f, ", %lld minutes", (long long)(ns / (60LL * 1000 * 1000 * 1000)));
}

/* The worker (and its proc id, or -1) running g, if any. */
static struct worker *worker_of(struct goroutine *g, int *proc_id)
{
	int n = __atomic_load_n(&sched.maxprocs, __ATOMIC_ACQUIRE);

	for (int i = 0; i < n; i++) {
		struct worker *w = __atomic_load_n(&sched.allp[i]->worker, __ATOMIC_ACQUIRE);

		if (w && __atomic_load_n(&w->curg, __ATOMIC_ACQUIRE) == g) {
			*proc_id = i;
			return w;
		}
	}
	*proc_id = -1;
	for (struct worker *w = __atomic_load_n(&sched.allw, __ATOMIC_ACQUIRE); w; w = w->all_next)
		if (__atomic_load_n(&w->curg, __ATOMIC_ACQUIRE) == g)
			return w;
	return NULL;
}

/* self: the dumping goroutine (NULL on a foreign thread), walked from (pc, fp). */
static void dump_one(struct dump *d, struct goroutine *g, struct goroutine *self, uintptr_t self_pc,
		     uintptr_t self_fp)
{
	uint32_t st = __atomic_load_n(&g->status, __ATOMIC_ACQUIRE);
	uint8_t reason = __atomic_load_n(&g->wait_reason, __ATOMIC_RELAXED);
	const char *name = __atomic_load_n(&g->name, __ATOMIC_RELAXED);
	uintptr_t lo = (uintptr_t)g->stack.lo, hi = (uintptr_t)g->stack.hi;
	void *sp = __atomic_load_n(&g->ctx.sp, __ATOMIC_RELAXED);
	struct worker *w = NULL;
	int proc_id = -1;

	if (st != G_RUNNABLE && st != G_RUNNING && st != G_WAITING && st != G_SYSCALL)
		return;
	fprintf(d->f, "goroutine %lld", (long long)g->id);
	if (name)
		fprintf(d->f, " \"%s\"", name);
	if (st == G_RUNNING || st == G_SYSCALL) {
		w = worker_of(g, &proc_id);
		if (w)
			fprintf(d->f, " m=%d", w->id);
		if (proc_id >= 0)
			fprintf(d->f, " p=%d", proc_id);
	}
	switch (st) {
	case G_RUNNABLE:
		fprintf(d->f, " [runnable");
		break;
	case G_RUNNING:
		fprintf(d->f, " [running");
		break;
	case G_SYSCALL:
		fprintf(d->f, " [syscall");
		break;
	default:
		fprintf(d->f, " [%s",
			reason && reason < WAIT__COUNT ? wait_reason_names[reason] : "waiting");
		print_duration(d->f, d->now - __atomic_load_n(&g->wait_since, __ATOMIC_RELAXED));
		break;
	}
	if (__atomic_load_n(&g->locked_worker, __ATOMIC_RELAXED))
		fprintf(d->f, ", locked to thread");
	fprintf(d->f, "]:\n");

	if (g == self) {
		walk(d, self_pc, self_fp, lo, hi);
	} else if (st == G_SYSCALL) {
		walk(d, (uintptr_t)__atomic_load_n(&g->syscall_pc, __ATOMIC_RELAXED),
		     (uintptr_t)__atomic_load_n(&g->syscall_fp, __ATOMIC_RELAXED), lo, hi);
	} else if (st == G_RUNNING) {
		fprintf(d->f, "\tgoroutine running on other thread; stack unavailable\n");
	} else if (!sp) {
		/* Never ran: show what it will run. */
		print_frame(d, (uintptr_t)g->fn, false);
		fprintf(d->f, "\t(not started)\n");
	} else {
		uintptr_t saved[8]; /* fcw/mxcsr, r15, r14, r13, r12, rbx, rbp, ret (switch.S) */

		if ((uintptr_t)sp < lo || (uintptr_t)sp > hi - sizeof(saved) ||
		    !safe_read(saved, (uintptr_t)sp, sizeof(saved))) {
			fprintf(d->f, "\t(saved context at %p unreadable)\n", sp);
		} else {
			walk(d, saved[7], saved[6], (uintptr_t)sp, hi);
		}
	}
	fprintf(d->f, "\n");
}

/* The caller holds dump_lock; the world is stopped (or as stopped as it gets). */
static void dump_all(FILE *f, struct goroutine *self, uintptr_t self_pc, uintptr_t self_fp)
{
	static struct dump d; /* big (module paths): static, under dump_lock */
	int64_t n = registry_count();

	d.f = f;
	d.nmods = 0;
	d.now = nanotime();
	self_pid = getpid();
	dl_iterate_phdr(collect_module, &d);
	/* Like Go, the dumping goroutine first. */
	if (self)
		dump_one(&d, self, self, self_pc, self_fp);
	for (int64_t i = 0; i < n; i++) {
		struct goroutine *g = registry_get(i);

		if (g != self)
			dump_one(&d, g, self, self_pc, self_fp);
	}
}

__attribute__((noinline)) int gort_dump_goroutines(FILE *f)
{
	struct worker *w = this_worker();
	struct goroutine *self = w ? w->curg : NULL;
	uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
	bool stopped;
	int err = 0;

	if (!f) {
		set_errmsg("gort_dump_goroutines: FILE is NULL");
		return GORT_EINVAL;
	}
	if (w && !self) {
		set_errmsg("gort_dump_goroutines: called on a scheduler thread");
		return GORT_EPERM;
	}
	if (self && self->in_syscall) {
		set_errmsg("gort_dump_goroutines: called inside a syscall region");
		return GORT_EPERM;
	}
	stopped = gort_stop_the_world("dump") == 0;
	/* The world stopped: only syscall regions run, and they do not park. */
	pthread_mutex_lock(&dump_lock);
	/* Stopping may have moved us to another worker: self is still us. */
	dump_all(f, self, (uintptr_t)__builtin_return_address(0), *(uintptr_t *)fp);
	pthread_mutex_unlock(&dump_lock);
	if (stopped)
		gort_start_the_world();
	if (fflush(f) != 0 || ferror(f)) {
		err = errno ? -errno : -EIO;
		set_errmsg("gort_dump_goroutines: writing the dump failed: %s", strerror(-err));
	}
	return err;
}

/* ---- SIGQUIT ---- */

static int quit_pipe[2] = { -1, -1 };
static pid_t quit_pid; /* the process whose helper thread reads quit_pipe */

static void sigquit_handler(int sig)
{
	int saved = errno;
	char c = 1;

	/*
	 * A forked child inherits this handler and the pipe, but not the
	 * helper thread: its byte would make the parent dump and exit. The
	 * child gets the default action instead (sigquit_atfork_child resets
	 * it after fork(); this covers raw clone()s).
	 */
	if (getpid() != quit_pid) {
		signal(sig, SIG_DFL);
		raise(sig);
		errno = saved;
		return;
	}
	/* Async-signal-safe; the helper thread does the rest. */
	(void)!write(quit_pipe[1], &c, 1);
	errno = saved;
}

static void *sigquit_main(void *arg)
{
	sigset_t all;
	char c;
	bool stopped;
	int fd;
	FILE *f;

	(void)arg;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	prctl(PR_SET_NAME, "gort-sigquit");
	while (read(quit_pipe[0], &c, 1) != 1)
		; /* EINTR */
	stopped = stw_stop_for_exit("SIGQUIT", SIGQUIT_STOP_NS);
	fd = dup(2);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f)
		f = stderr;
	fprintf(f, "SIGQUIT: quit\n");
	if (!stopped)
		fprintf(f,
			"(the world did not stop within %lld ms: running goroutines are "
			"listed without stacks, others may be inconsistent)\n",
			(long long)(SIGQUIT_STOP_NS / 1000000));
	fprintf(f, "\n");
	pthread_mutex_lock(&dump_lock);
	dump_all(f, NULL, 0, 0);
	fflush(f);
	_exit(2);
	return NULL;
}

static void sigquit_atfork_child(void)
{
	if (getpid() != quit_pid)
		signal(SIGQUIT, SIG_DFL);
}

int sigquit_init(void)
{
	struct sigaction sa, old;
	pthread_attr_t attr;
	pthread_t t;
	int err;

	if (config.no_sigquit)
		return 0;
	/* A handler the program installed (or SIG_IGN) is left alone. */
	if (sigaction(SIGQUIT, NULL, &old) != 0 || old.sa_handler != SIG_DFL ||
	    (old.sa_flags & SA_SIGINFO))
		return 0;
	if (pipe2(quit_pipe, O_CLOEXEC) != 0)
		return 0; /* no dumps; not worth failing gort_init for */
	quit_pid = getpid();
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&t, &attr, sigquit_main, NULL);
	pthread_attr_destroy(&attr);
	if (err) {
		close(quit_pipe[0]);
		close(quit_pipe[1]);
		return 0;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sigquit_handler;
	sa.sa_flags = SA_RESTART | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	pthread_atfork(NULL, NULL, sigquit_atfork_child);
	sigaction(SIGQUIT, &sa, NULL);
	return 0;
}
