// SPDX-License-Identifier: MIT
/*
 * Kernel assist: the runtime's use of gort.ko (/dev/gort, uapi/linux/gort.h).
 *
 * With the module every worker thread registers as a module worker. Idle
 * workers then sleep in GORT_IOC_WAIT and are woken with GORT_IOC_WAKE
 * (worker_sleep/worker_wake in sched.c), and one idle worker is the group's
 * spare: when a worker inside a syscall region blocks in the kernel, the
 * module marks its slot BLOCKED and wakes the spare at once, which takes the
 * blocked worker's proc (kassist_take_blocked) and runs it. That replaces
 * sysmon's 20 us poll, which stays as the fallback (no spare idle, a
 * syscall that spins instead of sleeping).
 *
 * The slot protocol (uapi): a worker writes RUNNING on entering a syscall
 * region and IDLE on leaving it, so blocks are only reported while the proc
 * may be taken; the module moves RUNNING -> BLOCKED -> RUNNING; the spare
 * moves BLOCKED -> TAKEN. Who then owns the proc is still decided by the one
 * CAS on p->status (P_SYSCALL -> P_RUNNING) that sysmon's retake and the
 * syscall exit already race on.
 *
 * GORT_KASSIST=off skips the device; auto uses it when it works; require
 * fails gort_init() without it.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/gort.h>

#include "probes.h"
#include "runtime.h"

#define KASSIST_NEEDED                                                              \
	(GORT_FEAT_VERSION | GORT_FEAT_REGISTER | GORT_FEAT_WAIT | GORT_FEAT_WAKE | \
	 GORT_FEAT_BLOCK_NOTIFY)

static struct gort_shared *shared;
/* Registered workers by handle index, for the spare's scan. */
static struct worker *by_index[GORT_MAX_WORKERS];
static uint32_t max_index; /* atomic: highest index registered + 1 */

static int kassist_fail(const char *fmt, const char *what, int e)
{
	set_errmsg(fmt, GORT_DEVICE_PATH, what, strerror(e));
	return GORT_ENOTSUP;
}

int kassist_open(void)
{
	struct gort_version v;
	void *map;
	int fd;

	if (config.kassist == 0)
		return 0;
	fd = open(GORT_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0 && config.kassist == 1)
		return GORT_ENOTSUP; /* auto: run without it; nothing failed */
	if (fd < 0)
		return kassist_fail("gort_init: GORT_KASSIST=require but %s cannot be opened "
				    "(%s): %s (load gort.ko: make load)",
				    "open", errno);
	memset(&v, 0, sizeof(v));
	if (ioctl(fd, GORT_IOC_VERSION, &v) != 0 || v.abi_version != GORT_ABI_VERSION) {
		set_errmsg("gort_init: %s speaks ABI version %u, this library needs %u",
			   GORT_DEVICE_PATH, v.abi_version, GORT_ABI_VERSION);
		close(fd);
		return GORT_ENOTSUP;
	}
	if ((v.features & KASSIST_NEEDED) != KASSIST_NEEDED) {
		set_errmsg("gort_init: %s lacks operations (features %#llx, need %#llx)",
			   GORT_DEVICE_PATH, (unsigned long long)v.features,
			   (unsigned long long)KASSIST_NEEDED);
		close(fd);
		return GORT_ENOTSUP;
	}
	map = mmap(NULL, (GORT_SHARED_SIZE + 4095) & ~(size_t)4095, PROT_READ | PROT_WRITE,
		   MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		int e = errno;

		close(fd);
		return kassist_fail("gort_init: %s: %s: %s", "mmap of the shared area", e);
	}
	shared = map;
	sched.kassist_fd = fd;
	return 0;
}

bool kassist_active(void)
{
	return sched.kassist_fd >= 0;
}

void kassist_worker_init(struct worker *w)
{
	struct gort_register r;
	uint32_t idx, m;

	w->kassist_handle = GORT_HANDLE_NONE;
	w->kassist_slot = NULL;
	if (!kassist_active())
		return;
	memset(&r, 0, sizeof(r));
	if (ioctl(sched.kassist_fd, GORT_IOC_REGISTER, &r) != 0)
		return; /* e.g. ENOSPC: this worker parks on its futex */
	idx = GORT_HANDLE_INDEX(r.handle);
	w->kassist_handle = r.handle;
	w->kassist_slot = &shared->slots[idx];
	__atomic_store_n(&by_index[idx], w, __ATOMIC_RELEASE);
	m = __atomic_load_n(&max_index, __ATOMIC_RELAXED);
	while (m < idx + 1 && !__atomic_compare_exchange_n(&max_index, &m, idx + 1, true,
							   __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		;
}

bool kassist_sleep(struct worker *w, int64_t timeout_ns)
{
	struct gort_wait wa;

	memset(&wa, 0, sizeof(wa));
	/* The module's 0 means "no timeout": round a due timeout up to 1 ns. */
	wa.timeout_ns = timeout_ns < 0 ? 0 : timeout_ns > 0 ? (uint64_t)timeout_ns : 1;
	if (ioctl(sched.kassist_fd, GORT_IOC_WAIT, &wa) == 0)
		return true;
	/* ETIMEDOUT, or EINTR (a signal for this thread): the caller re-checks
	 * its condition either way. Anything else (the program closed our
	 * descriptor: EBADF) would make every idle worker spin. */
	if (errno == ETIMEDOUT)
		return false;
	if (errno != EINTR)
		gort_fatal("GORT_IOC_WAIT of worker %d: %s", w->id, strerror(errno));
	return true;
}

bool kassist_switch(struct worker *w, struct worker *to, int64_t timeout_ns)
{
	struct gort_switch sw;

	memset(&sw, 0, sizeof(sw));
	sw.handle = to->kassist_handle;
	sw.timeout_ns = timeout_ns < 0 ? 0 : timeout_ns > 0 ? (uint64_t)timeout_ns : 1;
	__atomic_add_fetch(&sched.n_kassist_switches, 1, __ATOMIC_RELAXED);
	if (ioctl(sched.kassist_fd, GORT_IOC_SWITCH, &sw) == 0)
		return true;
	if (errno == ETIMEDOUT)
		return false;
	if (errno != EINTR)
		gort_fatal("GORT_IOC_SWITCH from worker %d to %d: %s", w->id, to->id,
			   strerror(errno));
	return true;
}

void kassist_wake(struct worker *w)
{
	struct gort_wake wk;

	memset(&wk, 0, sizeof(wk));
	wk.handle = w->kassist_handle;
	if (ioctl(sched.kassist_fd, GORT_IOC_WAKE, &wk) != 0)
		gort_fatal("GORT_IOC_WAKE of worker %d: %s", w->id, strerror(errno));
}

void kassist_set_spare(struct worker *w)
{
	struct gort_set_spare sp;

	memset(&sp, 0, sizeof(sp));
	sp.handle = w ? w->kassist_handle : GORT_HANDLE_NONE;
	/* ESRCH only for a dead handle; workers never exit. */
	(void)ioctl(sched.kassist_fd, GORT_IOC_SET_SPARE, &sp);
}

void kassist_syscall_enter(struct worker *w, struct proc *p)
{
	__atomic_store_n(&w->kassist_proc, p, __ATOMIC_RELAXED);
	/* seq_cst: the module reads the state when we block right after. */
	__atomic_store_n(&w->kassist_slot->state, GORT_SLOT_RUNNING, __ATOMIC_SEQ_CST);
}

void kassist_syscall_exit(struct worker *w)
{
	uint32_t st = GORT_SLOT_RUNNING;

	/* RUNNING: nobody took the proc (the module put BLOCKED back when we
	 * ran again); TAKEN: the spare took it, and p->status says so too. */
	if (!__atomic_compare_exchange_n(&w->kassist_slot->state, &st, GORT_SLOT_IDLE, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		__atomic_store_n(&w->kassist_slot->state, GORT_SLOT_IDLE, __ATOMIC_RELEASE);
}

struct proc *kassist_take_blocked(void)
{
	uint32_t n = __atomic_load_n(&max_index, __ATOMIC_ACQUIRE);

	for (uint32_t i = 0; i < n; i++) {
		struct worker *w = __atomic_load_n(&by_index[i], __ATOMIC_ACQUIRE);
		uint32_t st = GORT_SLOT_BLOCKED, expect = P_SYSCALL;
		struct proc *p;

		if (!w ||
		    __atomic_load_n(&shared->slots[i].state, __ATOMIC_ACQUIRE) != GORT_SLOT_BLOCKED)
			continue;
		if (!__atomic_compare_exchange_n(&shared->slots[i].state, &st, GORT_SLOT_TAKEN,
						 false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			continue;
		p = __atomic_load_n(&w->kassist_proc, __ATOMIC_ACQUIRE);
		/* The same CAS as sysmon's retake: whoever wins owns p. */
		if (p && __atomic_compare_exchange_n(&p->status, &expect, P_RUNNING, false,
						     __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
			__atomic_add_fetch(&sched.n_handoffs, 1, __ATOMIC_RELAXED);
			__atomic_add_fetch(&sched.n_kassist_handoffs, 1, __ATOMIC_RELAXED);
			GORT_PROBE1(syscall__handoff, p->id);
			return p;
		}
	}
	return NULL;
}
