/* SPDX-License-Identifier: MIT */
/* Run queues: per-proc rings with runnext, and the global queue (runq.c). */
#ifndef GORT_RUNQ_H
#define GORT_RUNQ_H

#include <stdbool.h>
#include <stdint.h>

struct proc;
struct goroutine;

bool runq_empty(struct proc *p);
uint32_t runq_len(struct proc *p);
/* Owner only. next: into runnext (the old runnext goes to the ring). A full
 * ring spills half of itself to the global queue. */
void runq_put(struct proc *p, struct goroutine *g, bool next);
/* Owner only. *inherit is true when g came from runnext. */
struct goroutine *runq_get(struct proc *p, bool *inherit);
/* Steals half of victim's ring into p's; returns one goroutine to run. */
struct goroutine *runq_steal(struct proc *p, struct proc *victim, bool steal_next);
void global_runq_put(struct goroutine *g);
struct goroutine *global_runq_get(struct proc *p, int max);

#endif
