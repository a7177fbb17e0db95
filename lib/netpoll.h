/* SPDX-License-Identifier: MIT */
/*
 * The netpoller's side of the scheduler (Go's netpoll.go): one edge-triggered
 * epoll instance per runtime, polled
 *  - without blocking by a worker that runs out of local work (find_runnable),
 *  - blocking, until the next timer, by one idle worker (stop_worker): the
 *    poller, which worker_wake() interrupts with netpoll_break(),
 *  - by sysmon when nobody has polled for 10 ms.
 * Each poll readies the goroutines (and foreign threads) whose descriptors
 * became ready: onto the polling worker's proc, else the global queue.
 */
#ifndef GORT_NETPOLL_H
#define GORT_NETPOLL_H

#include <stdbool.h>
#include <stdint.h>

/* Somebody waits for a descriptor and nobody is blocked in epoll: a poll
 * may find work. One atomic load when the netpoller is unused. */
bool netpoll_wanted(void);

/* Somebody waits for a descriptor (one atomic load). */
bool netpoll_has_waiters(void);

/* Polls once without blocking. Returns how many waiters it readied. */
int netpoll(void);

/* Makes the caller the blocking poller; false when another one is (or the
 * netpoller is unused). */
bool netpoll_claim(void);

/* The claimed poll: blocks until an event, netpoll_break() or timeout_ns
 * (< 0: none), then gives up the claim. Calls before_wake(arg) (if not
 * NULL) once before it readies the first waiter: the poller's chance to
 * take a proc for them. Returns how many it readied. */
int netpoll_block(int64_t timeout_ns, void (*before_wake)(void *), void *arg);

/* Interrupts a blocking poll in progress (or the next one). Async-safe. */
void netpoll_break(void);

/* sysmon: polls when waiters exist and nobody has polled for 10 ms. */
void netpoll_sysmon(int64_t now);

#endif
