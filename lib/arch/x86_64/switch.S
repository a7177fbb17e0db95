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

/* void gort_ctx_switch(struct context *save, void *to_sp) */
	.globl	gort_ctx_switch
	.hidden	gort_ctx_switch
	.type	gort_ctx_switch, @function
	.p2align 4
gort_ctx_switch:
	.cfi_startproc
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

	movq	%rsp, (%rdi)		/* save->sp = rsp */
	movq	%rsi, %rsp		/* now on the other stack */

	fldcw	(%rsp)
	ldmxcsr	4(%rsp)
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
	.cfi_endproc
	.size	gort_ctx_switch, .-gort_ctx_switch

/*
 * First code a new goroutine runs: the initial frame built by ctx_init_stack()
 * "returns" here with rsp 16-byte aligned and rbp = 0, the end of the frame
 * chain for debuggers and the frame-pointer unwinder. It never returns.
 */
	.globl	gort_ctx_start
	.hidden	gort_ctx_start
	.type	gort_ctx_start, @function
	.p2align 4
gort_ctx_start:
	.cfi_startproc
	.cfi_undefined %rip
	xorl	%ebp, %ebp
	call	goroutine_entry
	ud2
	.cfi_endproc
	.size	gort_ctx_start, .-gort_ctx_start

	.section .note.GNU-stack,"",@progbits
