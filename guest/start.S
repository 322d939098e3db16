/* SPDX-License-Identifier: MIT */
/*
 * guest/start.S - entry of every vCPU and the exception stubs.
 *
 * The VMM starts each vCPU here in long mode with RSP at the top of its
 * own stack, RDI the boot page and RSI the vCPU index (zpsi/vmm_boot.h).
 */
	.section .text.start, "ax"
	.globl _start
	.type _start, @function
_start:
	cld
	xor %ebp, %ebp
	andq $-16, %rsp
	call zg_entry			/* (boot, cpu); does not return */
1:	cli
	hlt
	jmp 1b
	.size _start, . - _start

/*
 * Exception stubs for vectors 0..31: push a zero error code where the CPU
 * pushes none, then the vector, and go to the common path, which saves the
 * general registers in a struct zg_frame and calls zg_trap(frame).
 */
.macro STUB vec, has_err
	.align 16
zg_vec\vec:
	.if \has_err == 0
	pushq $0
	.endif
	pushq $\vec
	jmp zg_trap_common
.endm

	.text
	STUB 0, 0
	STUB 1, 0
	STUB 2, 0
	STUB 3, 0
	STUB 4, 0
	STUB 5, 0
	STUB 6, 0
	STUB 7, 0
	STUB 8, 1
	STUB 9, 0
	STUB 10, 1
	STUB 11, 1
	STUB 12, 1
	STUB 13, 1
	STUB 14, 1
	STUB 15, 0
	STUB 16, 0
	STUB 17, 1
	STUB 18, 0
	STUB 19, 0
	STUB 20, 0
	STUB 21, 1
	STUB 22, 0
	STUB 23, 0
	STUB 24, 0
	STUB 25, 0
	STUB 26, 0
	STUB 27, 0
	STUB 28, 0
	STUB 29, 1
	STUB 30, 1
	STUB 31, 0

zg_trap_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	cld
	movq %rsp, %rdi
	movq %rsp, %rbx			/* callee-saved: the frame */
	andq $-16, %rsp
	call zg_trap
	movq %rbx, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp			/* vector and error code */
	iretq

	/* The stub addresses, for the IDT. */
	.section .rodata
	.globl zg_vectors
	.align 8
zg_vectors:
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad zg_vec\v
	.endr

	.section .note.GNU-stack, "", @progbits
