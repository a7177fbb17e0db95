// SPDX-License-Identifier: MIT
/* Builds the initial frame of a new goroutine for switch.S. */
#include <stdint.h>
#include <string.h>

#include "../../runtime.h"

#define FRAME_WORDS 8 /* fcw+mxcsr, r15, r14, r13, r12, rbx, rbp, return address */

void *ctx_init_stack(void *stack_hi)
{
	/* 16 bytes of zeros at the top end the frame chain; after the "return"
	 * into gort_ctx_start, rsp is 16-byte aligned as before a call. */
	uintptr_t top = ((uintptr_t)stack_hi & ~(uintptr_t)15) - 16;
	uint64_t *frame = (uint64_t *)(top - FRAME_WORDS * 8);

	memset(frame, 0, FRAME_WORDS * 8 + 16);
	/* x87 control word 0x037f (defaults), MXCSR 0x1f80 (all exceptions masked). */
	frame[0] = 0x037fULL | (0x1f80ULL << 32);
	frame[7] = (uint64_t)(uintptr_t)gort_ctx_start;
	return frame;
}

int ctx_saved_regs(const void *sp, uintptr_t *regs, int max)
{
	const uint64_t *frame = sp;
	int n = 0;

	/* frame[1..6] = r15, r14, r13, r12, rbx, rbp (see switch.S) */
	for (int i = 1; i <= 6 && n < max; i++)
		regs[n++] = (uintptr_t)frame[i];
	return n;
}
