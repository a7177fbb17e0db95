// SPDX-License-Identifier: MIT
/* Reading a switched-out context (see the frame layout in switch.S). */
#include <stdint.h>

#include "../../runtime.h"

int ctx_saved_regs(const void *sp, uintptr_t *regs, int max)
{
	const uint64_t *frame = sp;
	int n = 0;

	/* frame[1..6] = r15, r14, r13, r12, rbx, rbp (see switch.S) */
	for (int i = 1; i <= 6 && n < max; i++)
		regs[n++] = (uintptr_t)frame[i];
	return n;
}
