// SPDX-License-Identifier: MIT
/*
 * Network addresses: "HOST:PORT" and unix paths to socket addresses and
 * back, as Go's net.SplitHostPort / ResolveTCPAddr / TCPAddr.String do for
 * literal addresses.
 *
 * No name resolution: getaddrinfo() may talk to DNS and block its thread
 * for seconds, so only IP literals and "localhost" (which every system maps
 * to the loopback addresses) are accepted; everything here is pure
 * computation and never blocks.
 */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "net.h"

static const char *const kind_names[] = {
	[NET_TCP] = "tcp",
	[NET_TCP4] = "tcp4",
	[NET_TCP6] = "tcp6",
	[NET_UNIX] = "unix",
};

int net_parse_network(const char *network)
{
	if (!network)
		return -1;
	for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
		if (strcmp(network, kind_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *net_kind_name(enum net_kind kind)
{
	return kind_names[kind];
}

static gort_error *resolve_unix(const char *address, struct net_addr *out)
{
	size_t n = strlen(address);

	if (n == 0)
		return gort_error_new(GORT_EINVAL, "address \"\": missing unix socket path");
	/* sun_path holds a path and its NUL, or '\0' and an abstract name. */
	if (n >= sizeof(out->u.un.sun_path))
		return gort_error_new(GORT_EINVAL,
				      "address %s: unix socket path too long (%zu > %zu)", address,
				      n, sizeof(out->u.un.sun_path) - 1);
	out->u.un.sun_family = AF_UNIX;
	if (address[0] == '@') {
		/* Linux's abstract namespace: no file, no NUL; the length
		 * delimits the name. */
		out->u.un.sun_path[0] = '\0';
		memcpy(out->u.un.sun_path + 1, address + 1, n - 1);
		out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		memcpy(out->u.un.sun_path, address, n + 1);
		out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}
	return NULL;
}

/* Splits "host:port", "[v6]:port", ":port" into host (brackets removed)
 * and port, as Go's net.SplitHostPort. */
static gort_error *split_host_port(const char *address, char *host, size_t hostsize, unsigned *port)
{
	const char *colon = strrchr(address, ':'), *h = address, *hend, *p;
	unsigned long v = 0;

	if (!colon)
		return gort_error_new(GORT_EINVAL, "address %s: missing port in address", address);
	hend = colon;
	if (address[0] == '[') {
		const char *close = strchr(address, ']');

		if (!close || close + 1 != colon)
			return gort_error_new(GORT_EINVAL,
					      "address %s: missing ']' before the port", address);
		h = address + 1;
		hend = close;
	} else if (memchr(address, ':', (size_t)(colon - address))) {
		return gort_error_new(GORT_EINVAL, "address %s: too many colons in address",
				      address);
	}
	if ((size_t)(hend - h) >= hostsize)
		return gort_error_new(GORT_EINVAL, "address %s: host too long", address);
	memcpy(host, h, (size_t)(hend - h));
	host[hend - h] = '\0';
	p = colon + 1;
	if (!*p)
		return gort_error_new(GORT_EINVAL, "address %s: missing port", address);
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || v > 65535)
			return gort_error_new(GORT_EINVAL, "address %s: invalid port", address);
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v > 65535)
		return gort_error_new(GORT_EINVAL, "address %s: invalid port", address);
	*port = (unsigned)v;
	return NULL;
}

static void set_in4(struct net_addr *out, in_addr_t ip, unsigned port)
{
	out->u.in4.sin_family = AF_INET;
	out->u.in4.sin_port = htons((uint16_t)port);
	out->u.in4.sin_addr.s_addr = ip;
	out->len = sizeof(out->u.in4);
}

static void set_in6(struct net_addr *out, const struct in6_addr *ip, unsigned port, int v6only)
{
	out->u.in6.sin6_family = AF_INET6;
	out->u.in6.sin6_port = htons((uint16_t)port);
	out->u.in6.sin6_addr = *ip;
	out->len = sizeof(out->u.in6);
	out->v6only = v6only;
}

gort_error *net_resolve(enum net_kind kind, const char *address, bool listening,
			struct net_addr *out)
{
	char host[64];
	unsigned port;
	struct in_addr ip4;
	struct in6_addr ip6;
	gort_error *e;

	memset(out, 0, sizeof(*out));
	out->v6only = -1;
	if (!address)
		return gort_error_new(GORT_EINVAL, "address is NULL");
	if (kind == NET_UNIX)
		return resolve_unix(address, out);
	e = split_host_port(address, host, sizeof(host), &port);
	if (e)
		return e;
	if (host[0] == '\0') {
		if (!listening) {
			/* Go dials the local system. */
			if (kind == NET_TCP6)
				set_in6(out, &in6addr_loopback, port, -1);
			else
				set_in4(out, htonl(INADDR_LOOPBACK), port);
		} else if (kind == NET_TCP4) {
			set_in4(out, htonl(INADDR_ANY), port);
		} else {
			/* "tcp": one dual-stack socket serves v4 and v6, as Go's
			 * wildcard listen; net.c falls back to 0.0.0.0 where the
			 * kernel has no IPv6. */
			set_in6(out, &in6addr_any, port, kind == NET_TCP6);
		}
		return NULL;
	}
	if (strcmp(host, "localhost") == 0) {
		if (kind == NET_TCP6)
			set_in6(out, &in6addr_loopback, port, listening ? 1 : -1);
		else
			set_in4(out, htonl(INADDR_LOOPBACK), port);
		return NULL;
	}
	if (inet_pton(AF_INET, host, &ip4) == 1) {
		if (kind == NET_TCP6)
			return gort_error_new(GORT_EINVAL, "address %s: an IPv4 address on tcp6",
					      address);
		set_in4(out, ip4.s_addr, port);
		return NULL;
	}
	if (inet_pton(AF_INET6, host, &ip6) == 1) {
		if (kind == NET_TCP4)
			return gort_error_new(GORT_EINVAL, "address %s: an IPv6 address on tcp4",
					      address);
		/* A specific v6 address never serves v4: leave V6ONLY alone. */
		set_in6(out, &ip6, port, -1);
		return NULL;
	}
	return gort_error_new(GORT_EINVAL,
			      "address %s: host is not an IP address or localhost (no resolver)",
			      address);
}

int net_addr_format(const struct net_addr *a, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN];
	size_t off = offsetof(struct sockaddr_un, sun_path);

	if (!a || a->len == 0)
		return snprintf(buf, size, "%s", "");
	switch (a->u.sa.sa_family) {
	case AF_INET:
		inet_ntop(AF_INET, &a->u.in4.sin_addr, ip, sizeof(ip));
		return snprintf(buf, size, "%s:%u", ip, ntohs(a->u.in4.sin_port));
	case AF_INET6:
		inet_ntop(AF_INET6, &a->u.in6.sin6_addr, ip, sizeof(ip));
		return snprintf(buf, size, "[%s]:%u", ip, ntohs(a->u.in6.sin6_port));
	case AF_UNIX:
		if (a->len <= off)
			return snprintf(buf, size, "%s", ""); /* unnamed */
		if (a->u.un.sun_path[0] == '\0')	      /* abstract: length-delimited */
			return snprintf(buf, size, "@%.*s", (int)(a->len - off - 1),
					a->u.un.sun_path + 1);
		return snprintf(buf, size, "%.*s", (int)(a->len - off), a->u.un.sun_path);
	default:
		return snprintf(buf, size, "?");
	}
}
