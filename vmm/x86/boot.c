/* SPDX-License-Identifier: MIT */
/*
 * vmm/x86/boot.c - the x86-64 machine a zpsi guest boots into (arch.h):
 * long mode at CPL 0 from the first instruction, as zpsi/vmm_boot.h
 * documents -- an identity map of RAM, a GDT with a 64-bit TSS, CR0, CR4
 * and EFER set -- the vCPU set-up the architecture asks for (sync regs,
 * CPUID, the TSC rate), and the exits only x86 has.  No real mode, no
 * firmware: the VMM writes the tables into guest RAM and the registers
 * by KVM_SET_SREGS / KVM_SET_REGS.
 */
#include <stdio.h>
#include <string.h>

#include "arch.h"
#include "internal.h"
#include "zpsi/util.h"

#define VMM_TSS_GPA	(ZPSI_VMM_GDT_GPA + 0x80)
#define VMM_TSS_LIMIT	103u		/* a 64-bit TSS, no I/O bitmap */
#define VMM_KVM_TSS_ADDR 0xFFFBD000ul	/* KVM's real-mode TSS: outside RAM */

/* Page-table entry bits (Intel SDM vol. 3, 4.5). */
#define PTE_P	(1ull << 0)
#define PTE_RW	(1ull << 1)
#define PTE_PS	(1ull << 7)

#define CR0_PE	(1ull << 0)
#define CR0_MP	(1ull << 1)
#define CR0_ET	(1ull << 4)
#define CR0_NE	(1ull << 5)
#define CR0_WP	(1ull << 16)
#define CR0_AM	(1ull << 18)
#define CR0_PG	(1ull << 31)
#define CR4_PAE	(1ull << 5)
#define CR4_OSFXSR (1ull << 9)
#define CR4_OSXMMEXCPT (1ull << 10)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)

int vmm_arch_vm_init(struct vmm *vm)
{
	/* VMX needs a real-mode TSS somewhere, even for a guest that never
	 * runs in real mode (api.rst, KVM_SET_TSS_ADDR): outside RAM. */
	return vmm_ioctl_val(vm->vm_fd, KVM_SET_TSS_ADDR, VMM_KVM_TSS_ADDR);
}

int vmm_arch_vm_setup(struct vmm *vm)
{
	int r = vmm_msr_setup(vm);

	return r < 0 ? r : vmm_cpuid_setup(vm);
}

/* Identity map of RAM: 2 MiB pages, except 4 KiB pages for the first 2 MiB
 * so that page 0 and the stack guards can be absent. */
static void x86_build_page_tables(struct vmm *vm)
{
	uint64_t *pml4 = vmm_gpa(vm, ZPSI_VMM_PML4_GPA), *pdpt = vmm_gpa(vm, ZPSI_VMM_PDPT_GPA);
	uint64_t *pd = vmm_gpa(vm, ZPSI_VMM_PD_GPA), *pt = vmm_gpa(vm, ZPSI_VMM_PT_GPA);
	uint64_t large = vm->ram_size >> 21, gibs = (vm->ram_size + (1ull << 30) - 1) >> 30;

	pml4[0] = ZPSI_VMM_PDPT_GPA | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < gibs; i++)
		pdpt[i] = (ZPSI_VMM_PD_GPA + i * ZPSI_VMM_PAGE_SIZE) | PTE_P | PTE_RW;
	pd[0] = ZPSI_VMM_PT_GPA | PTE_P | PTE_RW;
	for (uint64_t i = 1; i < large; i++)
		pd[i] = (i << 21) | PTE_P | PTE_RW | PTE_PS;
	for (uint64_t i = 1; i < 512; i++)
		pt[i] = (i << 12) | PTE_P | PTE_RW;
	for (unsigned c = 0; c < ZPSI_VMM_MAX_VCPUS; c++)
		pt[(ZPSI_VMM_STACKS_GPA + c * ZPSI_VMM_STACK_SIZE) >> 12] = 0;	/* guard */
}

static void x86_build_gdt(struct vmm *vm)
{
	uint64_t *gdt = vmm_gpa(vm, ZPSI_VMM_GDT_GPA);
	uint64_t tss = VMM_TSS_GPA;

	gdt[0] = 0;
	gdt[1] = 0x00AF9B000000FFFFull;	/* 0x08: 64-bit code, DPL 0 */
	gdt[2] = 0x00CF93000000FFFFull;	/* 0x10: data, DPL 0 */
	/* 0x18: 64-bit TSS (busy), two slots */
	gdt[3] = VMM_TSS_LIMIT | ((tss & 0xFFFFFF) << 16) | (0x8Bull << 40) | (((tss >> 24) & 0xFF) << 56);
	gdt[4] = tss >> 32;
	/* The TSS itself: zero, with the I/O map base past its end. */
	memset(vmm_gpa(vm, VMM_TSS_GPA), 0, VMM_TSS_LIMIT + 1);
	*(uint16_t *)vmm_gpa(vm, VMM_TSS_GPA + 102) = VMM_TSS_LIMIT + 1;
}

static void x86_segment(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code)
{
	*s = (struct kvm_segment){
		.base = 0, .limit = 0xFFFFFFFF, .selector = sel, .type = type,
		.present = 1, .dpl = 0, .db = !code, .s = 1, .l = code, .g = 1,
	};
}

/* Long mode at CPL 0, as zpsi/vmm_boot.h documents. */
int vmm_arch_vcpu_boot(struct vmm_vcpu *v)
{
	struct vmm *vm = v->vm;
	struct kvm_sregs sregs;
	struct kvm_regs regs = { 0 };
	int r;

	r = vmm_ioctl(v->fd, KVM_GET_SREGS, &sregs);
	if (r < 0)
		return r;
	x86_segment(&sregs.cs, 0x08, 11, true);
	x86_segment(&sregs.ds, 0x10, 3, false);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.tr = (struct kvm_segment){ .base = VMM_TSS_GPA, .limit = VMM_TSS_LIMIT, .selector = 0x18,
					 .type = 11, .present = 1 };
	sregs.ldt = (struct kvm_segment){ .type = 2, .unusable = 1 };
	sregs.gdt.base = ZPSI_VMM_GDT_GPA;
	sregs.gdt.limit = 5 * 8 - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_PG;
	sregs.cr3 = ZPSI_VMM_PML4_GPA;
	sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	sregs.efer = EFER_LME | EFER_LMA | EFER_NXE;
	r = vmm_ioctl(v->fd, KVM_SET_SREGS, &sregs);
	if (r < 0)
		return r;
	regs.rip = vm->entry;
	regs.rsp = zpsi_vmm_stack_top(v->index) - 8;	/* as if _start had been called */
	regs.rdi = ZPSI_VMM_BOOT_GPA;
	regs.rsi = v->index;
	regs.rflags = 0x2;
	return vmm_ioctl(v->fd, KVM_SET_REGS, &regs);
}

void vmm_arch_build_tables(struct vmm *vm)
{
	x86_build_page_tables(vm);
	x86_build_gdt(vm);
}

int vmm_arch_vcpu_init(struct vmm_vcpu *v)
{
	struct vmm *vm = v->vm;
	int r;

	/* Hypercalls read and write registers in kvm_run itself (8 us per
	 * exit here, against 21 us for KVM_GET_REGS + KVM_SET_REGS). */
	v->run->kvm_valid_regs = KVM_SYNC_X86_REGS;
	r = vmm_cpuid_apply(vm, v);
	if (r < 0)
		return r;
	if (v->index == 0) {
		r = vmm_ioctl_val(v->fd, KVM_GET_TSC_KHZ, 0);
		vm->tsc_khz = r > 0 ? (uint64_t)r : 0;
	}
	return vmm_arch_vcpu_boot(v);
}

/* x86's own exits: the port-I/O devices (console, alarm, exit, doorbell:
 * io.c) and the PSI MSRs (msr.c). */
static const vmm_exit_fn x86_exit_handlers[] = {
	[KVM_EXIT_IO] = vmm_io_exit,
	[KVM_EXIT_X86_RDMSR] = vmm_msr_exit,
	[KVM_EXIT_X86_WRMSR] = vmm_msr_exit,
};

vmm_exit_fn vmm_arch_exit_handler(uint32_t reason)
{
	return reason < ZPSI_ARRAY_SIZE(x86_exit_handlers) ? x86_exit_handlers[reason] : NULL;
}

void vmm_arch_where(const struct vmm_vcpu *v, char *buf, size_t size)
{
	const struct kvm_regs *r = &v->run->s.regs.regs;

	snprintf(buf, size, "rip %#llx rsp %#llx", (unsigned long long)r->rip, (unsigned long long)r->rsp);
}
