/* SPDX-License-Identifier: MIT */
/*
 * vmm/hypercall.c - the PSI doorbell: `out %al, $0xE4` with KVM's hypercall
 * registers (nr RAX, arguments RBX RCX RDX RSI, result RAX), read and
 * written in kvm_run through KVM_CAP_SYNC_REGS.  The libzpsi dispatcher
 * decides; this file applies what it decided to the VM (MSR bank, region,
 * power state, balloon).
 */
#include "internal.h"

/* host->lock held */
static int64_t vmm_hc_apply(struct vmm *vm, const struct zpsi_hc_regs *hc, int64_t ret)
{
	unsigned ev = vm->caller.events;

	if (ev & ZPSI_HC_EV_REGISTERED)
		vm->bank.ctrl |= ZPSI_CTRL_ENABLE;
	if (ev & ZPSI_HC_EV_REGION_ON) {
		if (vmm_region_set(vm, vm->caller.region_gpa, false) < 0) {
			vm->caller.region_gpa = 0;
			return -ZPSI_KVM_EFAULT;
		}
		vm->bank.ctrl = (vm->bank.ctrl & ~ZPSI_CTRL_GPA_MASK) | ZPSI_CTRL_REGION |
				zpsi_ctrl_gpa(vm->caller.region_gpa);
	}
	if (ev & ZPSI_HC_EV_UPDATED) {
		/* The MSRs show the same report (docs/abi.md: one registration
		 * whichever path). */
		vm->bank.guest_bp = (uint16_t)hc->rbx;
		vm->bank.committed = hc->rcx;
		vm->bank.deferred = hc->rdx;
		vmm_region_publish_guest(vm);
	}
	if (ev & ZPSI_HC_EV_POWER) {
		struct zpsi_guest_info gi;

		if (zpsi_registry_get(vm->host->reg, vm->caller.id, &gi) == 0)
			vmm_power_changed(vm, gi.power);
	}
	if (ev & ZPSI_HC_EV_BALLOON) {
		int r = vm->caller.balloon_release
			? vmm_balloon_release(vm, vm->caller.balloon_gpa, vm->caller.balloon_pages)
			: vmm_balloon_reclaim(vm, vm->caller.balloon_gpa, vm->caller.balloon_pages);

		if (r < 0)
			return r == -EINVAL ? -ZPSI_KVM_EINVAL : -ZPSI_KVM_EFAULT;
	}
	return ret;
}

void vmm_doorbell(struct vmm_vcpu *v)
{
	struct vmm *vm = v->vm;
	struct kvm_regs *regs = &v->run->s.regs.regs;
	const struct zpsi_hc_regs hc = {
		.rax = regs->rax, .rbx = regs->rbx, .rcx = regs->rcx, .rdx = regs->rdx, .rsi = regs->rsi,
	};
	int64_t ret;

	VMM_STAT_INC(v->stats.hypercalls);
	vmm_host_lock(vm->host);
	/* A guest reporting through the region sees its own report in the
	 * answer to QUERY. */
	if (hc.rax == ZPSI_HC_QUERY && vm->region_gpa)
		vmm_region_sync(vm);
	vm->caller.events = 0;
	ret = zpsi_dispatch(vm->host->reg, &vm->caller, &hc, vmm_now_ns());
	if (ret >= 0 || (vm->caller.events & ZPSI_HC_EV_REGISTERED))
		ret = vmm_hc_apply(vm, &hc, ret);
	if (hc.rax == ZPSI_HC_QUERY && ret >= 0)
		ret = vmm_aggregate_bp(vm);	/* zpsid's host-wide one when linked */
	if (vm->region_gpa && !vm->host_external &&
	    (vm->caller.events & (ZPSI_HC_EV_UPDATED | ZPSI_HC_EV_REGISTERED)))
		zpsi_region_store_host_ratio(vm->region_host, zpsi_registry_aggregate_bp(vm->host->reg));
	vmm_host_unlock(vm->host);
	vmm_supervisor_poke(vm);

	if (ret < 0)
		VMM_STAT_INC(v->stats.hc_errors);
	regs->rax = (uint64_t)ret;
	v->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
}
