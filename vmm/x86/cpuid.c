/* SPDX-License-Identifier: MIT */
/*
 * vmm/cpuid.c - what the guest's CPUID says: the host CPU as KVM supports
 * it, the hypervisor-present bit, and the PSI block (docs/abi.md section 2)
 * at 0x40000000, or at 0x40000100 behind another hypervisor's identity
 * (--signature), so detection of nested and foreign signatures is tested
 * with real CPUID instructions.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define VMM_CPUID_MAX_ENTRIES 1024u
#define VMM_CPUID_OURS 4u	/* entries we add */

static struct kvm_cpuid2 *vmm_cpuid_alloc(unsigned n)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));

	if (c)
		c->nent = n;
	return c;
}

static void vmm_cpuid_add(struct kvm_cpuid2 *c, uint32_t fn, uint32_t a, uint32_t b, uint32_t cx, uint32_t d)
{
	c->entries[c->nent++] = (struct kvm_cpuid_entry2){
		.function = fn, .eax = a, .ebx = b, .ecx = cx, .edx = d,
	};
}

int vmm_cpuid_setup(struct vmm *vm)
{
	struct kvm_cpuid2 *sup = NULL, *c;
	unsigned n = 128;
	uint32_t sig[3] = { 0 }, base;
	int r;

	/* KVM says E2BIG until the array is large enough. */
	for (;;) {
		sup = vmm_cpuid_alloc(n);
		if (!sup)
			return -ENOMEM;
		r = vmm_ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, sup);
		if (r != -E2BIG || n >= VMM_CPUID_MAX_ENTRIES)
			break;
		free(sup);
		n *= 2;
	}
	if (r < 0) {
		free(sup);
		return r;
	}
	c = vmm_cpuid_alloc(sup->nent + VMM_CPUID_OURS);
	if (!c) {
		free(sup);
		return -ENOMEM;
	}
	c->nent = 0;
	for (unsigned i = 0; i < sup->nent; i++) {
		struct kvm_cpuid_entry2 e = sup->entries[i];

		/* KVM's own paravirtual leaves are replaced by ours. */
		if (e.function >= ZPSI_CPUID_HV_FIRST && e.function <= 0x4FFFFFFFu)
			continue;
		if (e.function == ZPSI_CPUID_FEATURES_LEAF)
			e.ecx |= ZPSI_CPUID_1_ECX_HYPERVISOR;
		c->entries[c->nent++] = e;
	}
	free(sup);

	base = ZPSI_CPUID_BASE_DEFAULT;
	if (vm->has_signature) {
		memcpy(sig, vm->signature, strlen(vm->signature));
		vmm_cpuid_add(c, ZPSI_CPUID_HV_FIRST, ZPSI_CPUID_HV_FIRST + 1, sig[0], sig[1], sig[2]);
		vmm_cpuid_add(c, ZPSI_CPUID_HV_FIRST + 1, 0, 0, 0, 0);
		base = ZPSI_CPUID_BASE_NESTED;
	}
	vmm_cpuid_add(c, base, base + ZPSI_CPUID_INFO_OFFSET, ZPSI_CPUID_SIG_EBX, ZPSI_CPUID_SIG_ECX,
		      ZPSI_CPUID_SIG_EDX);
	vmm_cpuid_add(c, base + ZPSI_CPUID_INFO_OFFSET, ZPSI_ABI_VERSION, vm->features,
		      (vm->features & ZPSI_FEAT_DOORBELL) ? ZPSI_DOORBELL_PORT_DEFAULT : 0, 0);
	vm->cpuid_base = base;
	vm->cpuid = c;
	return 0;
}

/* Each vCPU gets the table with its own APIC id (leaf 1 EBX[31:24], and
 * the x2APIC id in leaves 0xB/0x1F EDX). */
int vmm_cpuid_apply(struct vmm *vm, struct vmm_vcpu *v)
{
	struct kvm_cpuid2 *c = vmm_cpuid_alloc(vm->cpuid->nent);
	int r;

	if (!c)
		return -ENOMEM;
	memcpy(c->entries, vm->cpuid->entries, vm->cpuid->nent * sizeof(c->entries[0]));
	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == 1)
			e->ebx = (e->ebx & 0x00FFFFFFu) | (v->index << 24);
		else if (e->function == 0xB || e->function == 0x1F)
			e->edx = v->index;
	}
	r = vmm_ioctl(v->fd, KVM_SET_CPUID2, c);
	free(c);
	return r;
}
