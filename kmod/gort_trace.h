/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gort_trace.h - tracepoints of system "gort"
 *
 * Visible under /sys/kernel/tracing/events/gort/; usable from perf
 * (gort:gort_block), bpftrace (tracepoint:gort:gort_block) and libbpf.
 * group is a number unique per open of /dev/gort (not a pointer), handle
 * the worker's handle as user space knows it.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM gort

#if !defined(GORT_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define GORT_TRACE_H

#include <linux/tracepoint.h>

DECLARE_EVENT_CLASS(gort_worker_class,
		    TP_PROTO(u32 group, u32 handle, s32 pid),
		    TP_ARGS(group, handle, pid),
		    TP_STRUCT__entry(__field(u32, group)
				     __field(u32, handle)
				     __field(s32, pid)),
		    TP_fast_assign(__entry->group = group;
				   __entry->handle = handle;
				   __entry->pid = pid;),
		    TP_printk("group=%u handle=%#x pid=%d",
			      __entry->group, __entry->handle, __entry->pid));

/* A thread became a worker. */
DEFINE_EVENT(gort_worker_class, gort_register,
	     TP_PROTO(u32 group, u32 handle, s32 pid),
	     TP_ARGS(group, handle, pid));

/* WAKE: pid is the waker, handle the worker woken. */
DEFINE_EVENT(gort_worker_class, gort_wake,
	     TP_PROTO(u32 group, u32 handle, s32 pid),
	     TP_ARGS(group, handle, pid));

/* The spare worker is woken after a block (from irq_work). */
DEFINE_EVENT(gort_worker_class, gort_spare_wake,
	     TP_PROTO(u32 group, u32 handle, s32 pid),
	     TP_ARGS(group, handle, pid));

/* A worker stopped being one; reason 0 ioctl, 1 exit, 2 exec. */
TRACE_EVENT(gort_unregister,
	    TP_PROTO(u32 group, u32 handle, s32 pid, int reason),
	    TP_ARGS(group, handle, pid, reason),
	    TP_STRUCT__entry(__field(u32, group)
			     __field(u32, handle)
			     __field(s32, pid)
			     __field(int, reason)),
	    TP_fast_assign(__entry->group = group;
			   __entry->handle = handle;
			   __entry->pid = pid;
			   __entry->reason = reason;),
	    TP_printk("group=%u handle=%#x pid=%d reason=%d",
		      __entry->group, __entry->handle, __entry->pid,
		    __entry->reason));

/* A WAIT (or the wait half of a SWITCH) ended with ret. */
TRACE_EVENT(gort_wait,
	    TP_PROTO(u32 group, u32 handle, u64 timeout_ns, int ret),
	    TP_ARGS(group, handle, timeout_ns, ret),
	    TP_STRUCT__entry(__field(u32, group)
			     __field(u32, handle)
			     __field(u64, timeout_ns)
			     __field(int, ret)),
	    TP_fast_assign(__entry->group = group;
			   __entry->handle = handle;
			   __entry->timeout_ns = timeout_ns;
			   __entry->ret = ret;),
	    TP_printk("group=%u handle=%#x timeout_ns=%llu ret=%d",
		      __entry->group, __entry->handle,
		    (unsigned long long)__entry->timeout_ns, __entry->ret));

/* SWITCH from handle to target, placement mode, on cpu. */
TRACE_EVENT(gort_switch,
	    TP_PROTO(u32 group, u32 handle, u32 target, int mode, int cpu),
	    TP_ARGS(group, handle, target, mode, cpu),
	    TP_STRUCT__entry(__field(u32, group)
			     __field(u32, handle)
			     __field(u32, target)
			     __field(int, mode)
			     __field(int, cpu)),
	    TP_fast_assign(__entry->group = group;
			   __entry->handle = handle;
			   __entry->target = target;
			   __entry->mode = mode;
			   __entry->cpu = cpu;),
	    TP_printk("group=%u handle=%#x target=%#x mode=%d cpu=%d",
		      __entry->group, __entry->handle, __entry->target,
		    __entry->mode, __entry->cpu));

DECLARE_EVENT_CLASS(gort_block_class,
		    TP_PROTO(u32 group, u32 handle, u32 seq, u32 state),
		    TP_ARGS(group, handle, seq, state),
		    TP_STRUCT__entry(__field(u32, group)
				     __field(u32, handle)
				     __field(u32, seq)
				     __field(u32, state)),
		    TP_fast_assign(__entry->group = group;
				   __entry->handle = handle;
				   __entry->seq = seq;
				   __entry->state = state;),
		    TP_printk("group=%u handle=%#x seq=%u state=%u",
			      __entry->group, __entry->handle, __entry->seq,
			      __entry->state));

/* A worker holding a proc blocked in the kernel (scheduler context). */
DEFINE_EVENT(gort_block_class, gort_block,
	     TP_PROTO(u32 group, u32 handle, u32 seq, u32 state),
	     TP_ARGS(group, handle, seq, state));

/* A reported worker runs again; state is RUNNING or TAKEN. */
DEFINE_EVENT(gort_block_class, gort_unblock,
	     TP_PROTO(u32 group, u32 handle, u32 seq, u32 state),
	     TP_ARGS(group, handle, seq, state));

#endif /* GORT_TRACE_H */

/* This part must be outside the include guard. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE gort_trace
#include <trace/define_trace.h>
