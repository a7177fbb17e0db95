// SPDX-License-Identifier: MIT
/*
 * Listeners and connections (Go's net.Listener / net.Conn over netFD) on
 * the netpoller: every operation tries its system call on the non-blocking
 * descriptor and, on EAGAIN, parks in gort_fd_wait until the descriptor may
 * be ready, then tries again.
 *
 * Lifetime (Go's fdMutex, reduced to what C needs). A netfd's state word
 * counts the operations in progress (references) and carries CLOSING:
 * - every operation takes a reference first and fails with ECLOSED when
 *   CLOSING is set; it drops the reference when it returns;
 * - close sets CLOSING while holding a reference of its own, then, if
 *   another operation is in progress, wakes it by moving the descriptor's
 *   netpoller deadlines into the past (a waiter returns ETIMEDOUT, sees
 *   CLOSING and reports "use of closed network connection"), and drops its
 *   reference;
 * - whoever drops the last reference once CLOSING is set (close itself, or
 *   the last woken operation) closes the descriptor and frees the object.
 * So the descriptor is never closed while an operation may still use its
 * number (which the kernel could hand to a new socket), and close never
 * waits. Concurrent reads are serialized by rmu, concurrent writes (and
 * accepts) by wmu / rmu, as Go's fdMutex does, so one write's bytes are
 * contiguous in the stream.
 *
 * Deadlines: the netpoller holds the sticky per-direction deadlines that
 * bound the waits; the netfd keeps a copy so that an operation started
 * after its deadline fails at once even when the system call would
 * succeed (Go's pollDesc.prepare).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "context.h"
#include "net.h"
#include "probes.h"
#include "runtime.h"

#define NETFD_CLOSING (1u << 31)
/* The kernel caps listen(2)'s backlog at net.core.somaxconn: asking for
 * more gets its maximum, which is what Go reads from /proc. */
#define NET_LISTEN_BACKLOG 65535
/* An instant in the past: moving a deadline there wakes a waiter at once. */
#define NET_PAST 1

enum {
	DIR_READ,
	DIR_WRITE
};

struct netfd {
	int fd;
	enum net_kind kind;
	uint32_t state;	      /* atomic: NETFD_CLOSING | operations in progress */
	bool unlink_on_close; /* a unix listener that created its socket file */
	int64_t deadline[2];  /* atomic: read, write; GORT_FOREVER = none */
	gort_mutex rmu;	      /* serializes reads and accepts */
	gort_mutex wmu;	      /* serializes writes */
	struct net_addr laddr, raddr;
};

struct gort_conn {
	struct netfd nfd; /* first: a netfd is freed through its container */
};

struct gort_listener {
	struct netfd nfd; /* first, as above */
};

/* ---- errors ---- */

/*
 * Reports cause, wrapped as Go's OpError "OP NET LOCAL->REMOTE" (or "OP NET
 * ADDR"), through *err (or frees it when err is NULL) and gort_errmsg().
 * Takes over the caller's reference to cause. Returns its code.
 */
static int op_fail(gort_error **err, const char *op, const char *network,
		   const struct net_addr *local, const struct net_addr *remote, gort_error *cause)
{
	char l[NET_ADDR_STRLEN], r[NET_ADDR_STRLEN], text[256];
	gort_error *e;
	int code = gort_error_code(cause);

	l[0] = r[0] = '\0';
	if (local)
		net_addr_format(local, l, sizeof(l));
	if (remote)
		net_addr_format(remote, r, sizeof(r));
	if (l[0] && r[0])
		e = gort_error_wrap(cause, "%s %s %s->%s", op, network, l, r);
	else if (l[0] || r[0])
		e = gort_error_wrap(cause, "%s %s %s", op, network, l[0] ? l : r);
	else
		e = gort_error_wrap(cause, "%s %s", op, network);
	gort_error_free(cause);
	gort_error_format(e, text, sizeof(text));
	set_errmsg("%s", text);
	if (err)
		*err = e;
	else
		gort_error_free(e);
	return code;
}

static int nfd_fail(gort_error **err, const char *op, const struct netfd *nfd, gort_error *cause)
{
	return op_fail(err, op, net_kind_name(nfd->kind), &nfd->laddr, &nfd->raddr, cause);
}

/* The cause for a failed gort_fd_wait (or an operation that found its
 * netfd closing): closing wins over whatever the wait said. */
static gort_error *wait_cause(const struct netfd *nfd, int r)
{
	if ((__atomic_load_n(&nfd->state, __ATOMIC_ACQUIRE) & NETFD_CLOSING) || r == GORT_ECLOSED)
		return gort_error_net_closed;
	if (r == GORT_ETIMEDOUT)
		return gort_error_io_timeout;
	if (r == GORT_EINVAL || r == GORT_EPERM)
		return gort_error_new(r, "netpoll: %s", gort_strerror(r));
	return gort_error_errno(-r, "netpoll");
}

static inline void clear_err(gort_error **err)
{
	if (err)
		*err = NULL;
}

/* ---- references and close ---- */

static void netfd_destroy(struct netfd *nfd)
{
	/* Deregisters from the netpoller too; close(2)'s error has nobody to
	 * go to (Go drops it as well). */
	gort_fd_close(nfd->fd);
	if (nfd->unlink_on_close && nfd->laddr.u.un.sun_path[0])
		unlink(nfd->laddr.u.un.sun_path);
	free(nfd);
}

static inline void netfd_release(struct netfd *nfd)
{
	if (__atomic_sub_fetch(&nfd->state, 1, __ATOMIC_ACQ_REL) == NETFD_CLOSING)
		netfd_destroy(nfd);
}

/* Takes a reference for an operation; false (holding none) when closing. */
static inline bool netfd_acquire(struct netfd *nfd)
{
	if (__atomic_add_fetch(&nfd->state, 1, __ATOMIC_ACQ_REL) & NETFD_CLOSING) {
		netfd_release(nfd);
		return false;
	}
	return true;
}

static inline bool netfd_closing(const struct netfd *nfd)
{
	return __atomic_load_n(&nfd->state, __ATOMIC_ACQUIRE) & NETFD_CLOSING;
}

/* Returns 0, or GORT_ECLOSED when already closing. */
static int netfd_close(struct netfd *nfd)
{
	uint32_t old = __atomic_load_n(&nfd->state, __ATOMIC_ACQUIRE);

	/* Set CLOSING and take one reference of our own in one step: it keeps
	 * the descriptor open while we wake the others. */
	do {
		if (old & NETFD_CLOSING)
			return GORT_ECLOSED;
	} while (!__atomic_compare_exchange_n(&nfd->state, &old, old + NETFD_CLOSING + 1, false,
					      __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
	if (old != 0) /* operations in progress: wake those parked in the netpoller */
		gort_fd_set_deadline(nfd->fd, GORT_FD_READ | GORT_FD_WRITE, NET_PAST);
	netfd_release(nfd);
	return 0;
}

/* A deadline that has passed already fails the operation before its
 * system call (Go's pollDesc.prepare). Reads the clock only when set. */
static inline bool deadline_passed(const struct netfd *nfd, int dir)
{
	int64_t d = __atomic_load_n(&nfd->deadline[dir], __ATOMIC_ACQUIRE);

	return d != GORT_FOREVER && gort_now() >= d;
}

static struct netfd *netfd_new(size_t size, int fd, enum net_kind kind)
{
	struct netfd *nfd = calloc(1, size);

	if (!nfd)
		return NULL;
	nfd->fd = fd;
	nfd->kind = kind;
	nfd->deadline[DIR_READ] = GORT_FOREVER;
	nfd->deadline[DIR_WRITE] = GORT_FOREVER;
	return nfd;
}

static int socket_family(const struct net_addr *a)
{
	return a->u.sa.sa_family;
}

static void set_nodelay(int fd, bool on)
{
	int v = on;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v));
}

/* ---- listen and accept ---- */

gort_listener *gort_listen(const char *network, const char *address, gort_error **err)
{
	int kind = net_parse_network(network);
	struct net_addr la;
	struct gort_listener *l;
	gort_error *e;
	int fd, one = 1;

	clear_err(err);
	if (kind < 0) {
		network = network ? network : "(null)";
		op_fail(err, "listen", network, NULL, NULL,
			gort_error_new(GORT_EINVAL, "unknown network %s", network));
		return NULL;
	}
	e = net_resolve((enum net_kind)kind, address, true, &la);
	if (e) {
		op_fail(err, "listen", network, NULL, NULL, e);
		return NULL;
	}
	fd = socket(socket_family(&la), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 && errno == EAFNOSUPPORT && kind == NET_TCP && la.v6only == 0) {
		/* No IPv6 in this kernel: the wildcard "tcp" listen is v4's. */
		in_port_t port = la.u.in6.sin6_port;

		memset(&la.u, 0, sizeof(la.u));
		la.u.in4.sin_family = AF_INET;
		la.u.in4.sin_port = port;
		la.u.in4.sin_addr.s_addr = htonl(INADDR_ANY);
		la.len = sizeof(la.u.in4);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	if (fd < 0) {
		op_fail(err, "listen", network, &la, NULL, gort_error_errno(errno, "socket"));
		return NULL;
	}
	if (kind != NET_UNIX)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (la.v6only >= 0 && socket_family(&la) == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &la.v6only, sizeof(la.v6only));
	if (bind(fd, &la.u.sa, la.len) < 0) {
		int errnum = errno;

		close(fd);
		op_fail(err, "listen", network, &la, NULL, gort_error_errno(errnum, "bind"));
		return NULL;
	}
	if (listen(fd, NET_LISTEN_BACKLOG) < 0) {
		int errnum = errno;

		close(fd);
		op_fail(err, "listen", network, &la, NULL, gort_error_errno(errnum, "listen"));
		return NULL;
	}
	l = (struct gort_listener *)netfd_new(sizeof(*l), fd, (enum net_kind)kind);
	if (!l) {
		close(fd);
		op_fail(err, "listen", network, &la, NULL, gort_error_oom);
		return NULL;
	}
	/* The bound address (port 0 becomes the kernel's choice). */
	l->nfd.laddr.len = sizeof(l->nfd.laddr.u);
	if (getsockname(fd, &l->nfd.laddr.u.sa, &l->nfd.laddr.len) < 0)
		l->nfd.laddr = la;
	if (kind == NET_UNIX && la.u.un.sun_path[0] != '\0') {
		/* Keep the path as given (getsockname returns the same one). */
		l->nfd.laddr = la;
		l->nfd.unlink_on_close = true;
	}
	return l;
}

gort_conn *gort_listener_accept(gort_listener *l, gort_error **err)
{
	struct netfd *lfd = &l->nfd;
	struct gort_conn *c = NULL;
	struct net_addr ra;
	int fd = -1, r;

	clear_err(err);
	if (!netfd_acquire(lfd)) {
		op_fail(err, "accept", net_kind_name(lfd->kind), &lfd->laddr, NULL,
			gort_error_net_closed);
		return NULL;
	}
	gort_mutex_lock(&lfd->rmu);
	for (;;) {
		if (netfd_closing(lfd)) {
			r = GORT_ECLOSED;
			goto wait_failed;
		}
		ra.len = sizeof(ra.u);
		fd = accept4(lfd->fd, &ra.u.sa, &ra.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0)
			break;
		if (errno == EINTR || errno == ECONNABORTED)
			continue; /* a connection reset while queued: take the next */
		if (errno != EAGAIN) {
			int errnum = errno;

			gort_mutex_unlock(&lfd->rmu);
			op_fail(err, "accept", net_kind_name(lfd->kind), &lfd->laddr, NULL,
				gort_error_errno(errnum, "accept4"));
			netfd_release(lfd);
			return NULL;
		}
		r = gort_fd_wait(lfd->fd, GORT_FD_READ, GORT_FOREVER);
		if (r < 0)
			goto wait_failed;
	}
	gort_mutex_unlock(&lfd->rmu);
	c = (struct gort_conn *)netfd_new(sizeof(*c), fd, lfd->kind);
	if (!c) {
		close(fd);
		op_fail(err, "accept", net_kind_name(lfd->kind), &lfd->laddr, NULL, gort_error_oom);
		netfd_release(lfd);
		return NULL;
	}
	c->nfd.raddr = ra;
	c->nfd.laddr.len = sizeof(c->nfd.laddr.u);
	if (getsockname(fd, &c->nfd.laddr.u.sa, &c->nfd.laddr.len) < 0)
		c->nfd.laddr.len = 0;
	if (lfd->kind != NET_UNIX)
		set_nodelay(fd, true);
	GORT_PROBE3(net__accept, lfd->fd, fd, gort_id());
	netfd_release(lfd);
	return c;

wait_failed:
	gort_mutex_unlock(&lfd->rmu);
	op_fail(err, "accept", net_kind_name(lfd->kind), &lfd->laddr, NULL, wait_cause(lfd, r));
	netfd_release(lfd);
	return NULL;
}

int gort_listener_addr(const gort_listener *l, char *buf, size_t size)
{
	return net_addr_format(&l->nfd.laddr, buf, size);
}

int gort_listener_close(gort_listener *l, gort_error **err)
{
	clear_err(err);
	if (netfd_close(&l->nfd) < 0) {
		if (err)
			*err = gort_error_net_closed;
		set_errmsg("close: %s", gort_error_msg(gort_error_net_closed));
		return GORT_ECLOSED;
	}
	return 0;
}

/* ---- dial ---- */

/* Runs on the goroutine that cancels the dial's context: moves the
 * connecting socket's write deadline into the past, which wakes the dialer
 * parked in gort_fd_wait. Short and never parks (context.h's contract). */
static void dial_interrupt(void *arg)
{
	gort_fd_set_deadline(*(int *)arg, GORT_FD_WRITE, NET_PAST);
}

/*
 * Waits for the non-blocking connect on fd to finish. deadline bounds the
 * wait (the earlier of ctx's and a dial timeout's). Returns NULL when
 * connected, else the cause of the failure (a new reference).
 */
static gort_error *dial_wait(int fd, gort_ctx *ctx, int64_t deadline)
{
	struct ctx_waiter cw = { .fn = dial_interrupt, .arg = &fd };
	gort_error *cause = NULL;
	bool interrupted;

	if (!ctx_after_cancel(ctx, &cw))
		return gort_error_ref(gort_ctx_err(ctx));
	for (;;) {
		int r = gort_fd_wait(fd, GORT_FD_WRITE, deadline), soerr = 0;
		socklen_t len = sizeof(soerr);
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);

		if (r < 0) {
			if (gort_ctx_err(ctx))
				cause = gort_ctx_err(ctx);
			else if (r == GORT_ETIMEDOUT)
				cause = gort_ctx_deadline(ctx) <= gort_now()
						? gort_error_deadline_exceeded
						: gort_error_io_timeout;
			else if (r == GORT_ECLOSED)
				cause = gort_error_net_closed;
			else
				cause = gort_error_errno(-r, "netpoll");
			break;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
			soerr = errno;
		if (soerr == EINPROGRESS || soerr == EALREADY || soerr == EINTR)
			continue;
		if (soerr) {
			cause = gort_error_errno(soerr, "connect");
			break;
		}
		/* Readiness can be spurious (gort.h): connected only if the
		 * peer is known (Go checks the same way). */
		if (getpeername(fd, (struct sockaddr *)&peer, &plen) == 0)
			break;
		if (errno != ENOTCONN) {
			cause = gort_error_errno(errno, "getpeername");
			break;
		}
	}
	/* Afterwards dial_interrupt is not running and never will. If it ran,
	 * the socket's write deadline is in the past: as Go, a dial whose
	 * context ended fails even when the connect completed. */
	interrupted = !ctx_stop_after(ctx, &cw);
	if (!cause && interrupted)
		cause = gort_ctx_err(ctx);
	return cause;
}

static gort_conn *dial(const char *network, const char *address, gort_ctx *ctx, int64_t deadline,
		       gort_error **err)
{
	int kind = net_parse_network(network), fd = -1;
	struct net_addr ra;
	struct gort_conn *c;
	gort_error *cause;

	clear_err(err);
	if (kind < 0) {
		network = network ? network : "(null)";
		cause = gort_error_new(GORT_EINVAL, "unknown network %s", network);
		op_fail(err, "dial", network, NULL, NULL, cause);
		GORT_PROBE3(net__dial, -1, address, GORT_EINVAL);
		return NULL;
	}
	cause = net_resolve((enum net_kind)kind, address, false, &ra);
	if (cause)
		goto fail_noaddr;
	if (gort_ctx_err(ctx)) {
		cause = gort_ctx_err(ctx); /* static */
		goto fail;
	}
	if (gort_ctx_deadline(ctx) < deadline)
		deadline = gort_ctx_deadline(ctx);
	fd = socket(socket_family(&ra), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		cause = gort_error_errno(errno, "socket");
		goto fail;
	}
	if (kind != NET_UNIX)
		set_nodelay(fd, true);
	if (connect(fd, &ra.u.sa, ra.len) < 0) {
		if (errno != EINPROGRESS && errno != EINTR) {
			/* unix sockets answer EAGAIN when the backlog is full:
			 * reported, as Go does. */
			cause = gort_error_errno(errno, "connect");
			goto fail;
		}
		cause = dial_wait(fd, ctx, deadline);
		if (cause)
			goto fail;
	}
	c = (struct gort_conn *)netfd_new(sizeof(*c), fd, (enum net_kind)kind);
	if (!c) {
		cause = gort_error_oom;
		goto fail;
	}
	c->nfd.raddr = ra;
	c->nfd.laddr.len = sizeof(c->nfd.laddr.u);
	if (getsockname(fd, &c->nfd.laddr.u.sa, &c->nfd.laddr.len) < 0)
		c->nfd.laddr.len = 0;
	GORT_PROBE3(net__dial, fd, address, 0);
	return c;

fail:
	if (fd >= 0)
		gort_fd_close(fd); /* it may be registered with the netpoller */
fail_noaddr:
	GORT_PROBE3(net__dial, fd, address, gort_error_code(cause));
	op_fail(err, "dial", network, NULL, ra.len ? &ra : NULL, cause);
	return NULL;
}

gort_conn *gort_dial(const char *network, const char *address, gort_ctx *ctx, gort_error **err)
{
	return dial(network, address, ctx, GORT_FOREVER, err);
}

gort_conn *gort_dial_timeout(const char *network, const char *address, int64_t timeout,
			     gort_error **err)
{
	return dial(network, address, NULL, timeout > 0 ? gort_now() + timeout : GORT_FOREVER, err);
}

/* ---- read and write ---- */

ssize_t gort_conn_read(gort_conn *c, void *buf, size_t len, gort_error **err)
{
	struct netfd *nfd = &c->nfd;
	ssize_t n;
	int r;

	clear_err(err);
	if (len == 0)
		return 0;
	if (!netfd_acquire(nfd))
		return nfd_fail(err, "read", nfd, gort_error_net_closed);
	gort_mutex_lock(&nfd->rmu);
	if (netfd_closing(nfd)) {
		r = GORT_ECLOSED;
		goto wait_failed;
	}
	if (deadline_passed(nfd, DIR_READ)) {
		r = GORT_ETIMEDOUT;
		goto wait_failed;
	}
	for (;;) {
		n = read(nfd->fd, buf, len);
		if (n >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			int errnum = errno;

			gort_mutex_unlock(&nfd->rmu);
			n = nfd_fail(err, "read", nfd, gort_error_errno(errnum, "read"));
			netfd_release(nfd);
			return n;
		}
		r = gort_fd_wait(nfd->fd, GORT_FD_READ, GORT_FOREVER);
		if (r < 0 || netfd_closing(nfd))
			goto wait_failed;
	}
	gort_mutex_unlock(&nfd->rmu);
	netfd_release(nfd);
	return n;

wait_failed:
	gort_mutex_unlock(&nfd->rmu);
	n = nfd_fail(err, "read", nfd, wait_cause(nfd, r));
	netfd_release(nfd);
	return n;
}

ssize_t gort_conn_read_full(gort_conn *c, void *buf, size_t len, gort_error **err)
{
	size_t got = 0;

	clear_err(err);
	while (got < len) {
		ssize_t n = gort_conn_read(c, (char *)buf + got, len - got, err);

		if (n < 0)
			return n;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

ssize_t gort_conn_write(gort_conn *c, const void *buf, size_t len, gort_error **err)
{
	struct netfd *nfd = &c->nfd;
	size_t done = 0;
	ssize_t n;
	int r;

	clear_err(err);
	if (!netfd_acquire(nfd))
		return nfd_fail(err, "write", nfd, gort_error_net_closed);
	gort_mutex_lock(&nfd->wmu);
	if (netfd_closing(nfd)) {
		r = GORT_ECLOSED;
		goto wait_failed;
	}
	if (deadline_passed(nfd, DIR_WRITE)) {
		r = GORT_ETIMEDOUT;
		goto wait_failed;
	}
	while (done < len) {
		/* MSG_NOSIGNAL: a peer that is gone gives EPIPE, not SIGPIPE. */
		n = send(nfd->fd, (const char *)buf + done, len - done, MSG_NOSIGNAL);
		if (n >= 0) {
			done += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			int errnum = errno;

			gort_mutex_unlock(&nfd->wmu);
			n = nfd_fail(err, "write", nfd, gort_error_errno(errnum, "write"));
			netfd_release(nfd);
			return n;
		}
		r = gort_fd_wait(nfd->fd, GORT_FD_WRITE, GORT_FOREVER);
		if (r < 0 || netfd_closing(nfd))
			goto wait_failed;
	}
	gort_mutex_unlock(&nfd->wmu);
	netfd_release(nfd);
	return (ssize_t)done;

wait_failed:
	gort_mutex_unlock(&nfd->wmu);
	n = nfd_fail(err, "write", nfd, wait_cause(nfd, r));
	netfd_release(nfd);
	return n;
}

/* ---- deadlines, options, addresses, close ---- */

static int set_deadlines(gort_conn *c, int events, int64_t deadline)
{
	struct netfd *nfd = &c->nfd;
	int r;

	if (!netfd_acquire(nfd))
		return GORT_ECLOSED;
	/* Our copy first: an operation that starts now sees at least the
	 * netpoller's new deadline or this one. */
	if (events & GORT_FD_READ)
		__atomic_store_n(&nfd->deadline[DIR_READ], deadline, __ATOMIC_RELEASE);
	if (events & GORT_FD_WRITE)
		__atomic_store_n(&nfd->deadline[DIR_WRITE], deadline, __ATOMIC_RELEASE);
	r = gort_fd_set_deadline(nfd->fd, events, deadline);
	/* A close that raced with us may have moved the deadlines into the
	 * past just before we moved them back (the netpoller serializes the
	 * two): its wake must win, or a woken waiter would wait again, for
	 * ever, holding its reference. Our reference keeps fd ours. */
	if (netfd_closing(nfd))
		gort_fd_set_deadline(nfd->fd, GORT_FD_READ | GORT_FD_WRITE, NET_PAST);
	netfd_release(nfd);
	return r;
}

int gort_conn_set_deadline(gort_conn *c, int64_t deadline)
{
	return set_deadlines(c, GORT_FD_READ | GORT_FD_WRITE, deadline);
}

int gort_conn_set_read_deadline(gort_conn *c, int64_t deadline)
{
	return set_deadlines(c, GORT_FD_READ, deadline);
}

int gort_conn_set_write_deadline(gort_conn *c, int64_t deadline)
{
	return set_deadlines(c, GORT_FD_WRITE, deadline);
}

int gort_conn_set_nodelay(gort_conn *c, bool on)
{
	struct netfd *nfd = &c->nfd;
	int v = on, r = 0;

	if (!netfd_acquire(nfd))
		return GORT_ECLOSED;
	if (nfd->kind == NET_UNIX)
		r = -EOPNOTSUPP;
	else if (setsockopt(nfd->fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)) < 0)
		r = -errno;
	netfd_release(nfd);
	return r;
}

int gort_conn_close_write(gort_conn *c, gort_error **err)
{
	struct netfd *nfd = &c->nfd;
	int r = 0;

	clear_err(err);
	if (!netfd_acquire(nfd))
		return nfd_fail(err, "close", nfd, gort_error_net_closed);
	if (shutdown(nfd->fd, SHUT_WR) < 0)
		r = nfd_fail(err, "close", nfd, gort_error_errno(errno, "shutdown"));
	netfd_release(nfd);
	return r;
}

int gort_conn_close(gort_conn *c, gort_error **err)
{
	clear_err(err);
	if (netfd_close(&c->nfd) < 0) {
		if (err)
			*err = gort_error_net_closed;
		set_errmsg("close: %s", gort_error_msg(gort_error_net_closed));
		return GORT_ECLOSED;
	}
	return 0;
}

int gort_conn_local_addr(const gort_conn *c, char *buf, size_t size)
{
	return net_addr_format(&c->nfd.laddr, buf, size);
}

int gort_conn_remote_addr(const gort_conn *c, char *buf, size_t size)
{
	return net_addr_format(&c->nfd.raddr, buf, size);
}

int gort_conn_fd(const gort_conn *c)
{
	return c->nfd.fd;
}
