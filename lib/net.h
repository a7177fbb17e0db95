/* SPDX-License-Identifier: MIT */
/*
 * The network API's internals shared by net.c (listeners, connections,
 * dial), netaddr.c (parsing and formatting addresses) and bufreader.c.
 */
#ifndef GORT_NET_H
#define GORT_NET_H

#include <stdbool.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "gort.h"

/* The networks gort_listen and gort_dial accept. */
enum net_kind {
	NET_TCP,  /* IPv4 or IPv6 */
	NET_TCP4, /* IPv4 only */
	NET_TCP6, /* IPv6 only */
	NET_UNIX, /* stream unix domain socket */
};

/* A socket address of any family we use, with its length. */
struct net_addr {
	socklen_t len; /* 0: no address (an unnamed unix socket, or unknown) */
	/* For an IPv6 listen address: -1 leave IPV6_V6ONLY alone, 0 dual-stack
	 * ([::] for "tcp"), 1 IPv6 only ("tcp6"). Unused otherwise. */
	int v6only;
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
		struct sockaddr_un un;
		struct sockaddr_storage ss;
	} u;
};

/* The kind for a network name ("tcp", "tcp4", "tcp6", "unix"), or -1. */
int net_parse_network(const char *network);

/* The name of a kind, as the user spelled it in errors ("tcp", ...). */
const char *net_kind_name(enum net_kind kind);

/*
 * Turns address (see gort.h's Network section) into a socket address of
 * kind. listening selects what an empty host means (every local address
 * instead of the local system). Returns NULL, or a new GORT_EINVAL error
 * saying what is wrong with the address. Never blocks: only numeric hosts
 * and "localhost" are accepted.
 */
gort_error *net_resolve(enum net_kind kind, const char *address, bool listening,
			struct net_addr *out);

/* Formats a like snprintf: "1.2.3.4:80", "[::1]:80", "/path", "@name", "". */
int net_addr_format(const struct net_addr *a, char *buf, size_t size);

/* Room for any formatted address (unix paths are the longest: 108 bytes). */
#define NET_ADDR_STRLEN 128

#endif
