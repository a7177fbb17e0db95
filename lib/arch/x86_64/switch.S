/* SPDX-License-Identifier: MIT */
/*
 * Goroutine context switch for x86-64 (System V ABI).
 *
 * Only what the ABI says a callee preserves is saved: rbx, rbp, r12-r15, the
 * MXCSR control bits and the x87 control word. Everything is pushed on the
 * outgoing stack and the resulting stack pointer stored in the context, so a
 * switch is a handful of stores, loads and one indirect return.
 *
 * Frame layout at the saved sp (lowest address first):
 *   +0  x87 control word (16 bits), pad
 *   +4  MXCSR (32 bits)
 *   +8  r15, r14, r13, r12, rbx, rbp
 *   +56 return address
 */

	.text

/* Pushes the callee-saved state and stores the stack pointer in *%rdi. */
.macro SAVE_CONTEXT
	pushq	%rbp
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbp, 0
	pushq	%rbx
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbx, 0
	pushq	%r12
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r12, 0
	pushq	%r13
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r13, 0
	pushq	%r14
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r14, 0
	pushq	%r15
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r15, 0
	subq	$8, %rsp
	.cfi_adjust_cfa_offset 8
	fnstcw	(%rsp)
	stmxcsr	4(%rsp)
	movq	%rsp, (%rdi)
.endm

/* void gort_ctx_switch(struct context *save, void *to_sp) */
	.globl	gort_ctx_switch
	.hidden	gort_ctx_switch
	.type	gort_ctx_switch, @function
	.p2align 4
gort_ctx_switch:
	.cfi_startproc
	SAVE_CONTEXT
	/* Our control words, read back at the widths they were stored (an
	 * 8-byte load over both stores would stall store forwarding). */
	movzwl	(%rsp), %eax
	movl	4(%rsp), %edx
	movq	%rsi, %rsp		/* now on the other stack */
	/* ldmxcsr and fldcw are slow; the control words almost never differ
	 * between goroutines, so load them only when they do. */
	cmpw	(%rsp), %ax
	jne	2f
	cmpl	4(%rsp), %edx
	jne	2f
	.cfi_remember_state
1:
	addq	$8, %rsp
	.cfi_adjust_cfa_offset -8
	popq	%r15
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r15
	popq	%r14
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r14
	popq	%r13
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r13
	popq	%r12
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r12
	popq	%rbx
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbx
	popq	%rbp
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbp
	ret
	.cfi_restore_state
2:	fldcw	(%rsp)
	ldmxcsr	4(%rsp)
	jmp	1b
	.cfi_endproc
	.size	gort_ctx_switch, .-gort_ctx_switch

/*
 * void gort_ctx_switch_fresh(struct context *save, void *stack_hi)
 *
 * Starts a goroutine that has never run: nothing was written to its stack at
 * spawn, so its first page is faulted in here, by the worker that runs it,
 * not by the spawner. rbp = 0 ends the frame chain for debuggers and the
 * frame-pointer unwinder; MXCSR and the x87 control word start at their ABI
 * defaults. goroutine_entry() never returns.
 */
	.globl	gort_ctx_switch_fresh
	.hidden	gort_ctx_switch_fresh
	.type	gort_ctx_switch_fresh, @function
	.p2align 4
gort_ctx_switch_fresh:
	.cfi_startproc
	SAVE_CONTEXT
	andq	$-16, %rsi
	movq	%rsi, %rsp
	.cfi_def_cfa %rsp, 0
	.cfi_undefined %rip
	xorl	%ebp, %ebp
	ldmxcsr	default_mxcsr(%rip)
	fldcw	default_fcw(%rip)
	call	goroutine_entry
	ud2
	.cfi_endproc
	.size	gort_ctx_switch_fresh, .-gort_ctx_switch_fresh

	.section .rodata
	.p2align 2
default_mxcsr:
	.long	0x1f80		/* all exceptions masked, round to nearest */
default_fcw:
	.short	0x037f		/* x87: extended precision, exceptions masked */

	.section .note.GNU-stack,"",@progbits
