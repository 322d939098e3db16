/* SPDX-License-Identifier: MIT */
/*
 * vmm/arch.h - what the generic VMM (vm.c, vcpu.c, the run loop) asks of
 * the architecture, and nothing more.  x86-64 answers in vmm/x86/: the
 * build picks the directory (as kvmtool does), no #ifdef here.
 */
#ifndef VMM_ARCH_H
#define VMM_ARCH_H

#include <stddef.h>
#include <stdint.h>

struct vmm;
struct vmm_vcpu;

typedef void (*vmm_exit_fn)(struct vmm_vcpu *v);

/* Before guest RAM is mapped: VM-wide KVM set-up (x86: KVM's TSS). */
int vmm_arch_vm_init(struct vmm *vm);
/* Guest RAM in its slot: what the guest will find of the CPU (x86: the
 * MSR filter that traps the PSI MSRs, the CPUID table with the PSI block). */
int vmm_arch_vm_setup(struct vmm *vm);
/* The tables the boot state points at, written into guest RAM (x86: the
 * identity map, the GDT and TSS). */
void vmm_arch_build_tables(struct vmm *vm);
/* A new vCPU (its kvm_run mapped): registers KVM keeps in kvm_run, its
 * CPUID, what vCPU 0 tells of the clock, its boot state. */
int vmm_arch_vcpu_init(struct vmm_vcpu *v);
/* The registers that start the guest at vm->entry (again after an image
 * is loaded). */
int vmm_arch_vcpu_boot(struct vmm_vcpu *v);

/* The handler of an exit only this architecture has (x86: port I/O,
 * RDMSR/WRMSR), or NULL. */
vmm_exit_fn vmm_arch_exit_handler(uint32_t reason);
/* Where the vCPU is, for a crash report ("rip 0x1000 rsp 0x8ff8"). */
void vmm_arch_where(const struct vmm_vcpu *v, char *buf, size_t size);

#endif /* VMM_ARCH_H */
