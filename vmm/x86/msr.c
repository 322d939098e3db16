/* SPDX-License-Identifier: MIT */
/*
 * vmm/msr.c - the PSI MSRs on real RDMSR/WRMSR: KVM's MSR filter sends
 * 0xC0010100..0xC0010103 to user space, the libzpsi MSR bank answers them
 * (docs/abi.md section 3), and a refusal becomes a #GP in the guest through
 * kvm_run->msr.error.  MSRs KVM does not know (or finds invalid) come here
 * too, so every #GP the guest gets from an MSR is counted.
 */
#include <string.h>

#include "internal.h"

int vmm_msr_setup(struct vmm *vm)
{
	/* All four denied = all four trapped to user space. */
	static uint8_t psi_trap_bitmap[1];
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_X86_USER_SPACE_MSR,
		.args[0] = KVM_MSR_EXIT_REASON_FILTER | KVM_MSR_EXIT_REASON_UNKNOWN |
			   KVM_MSR_EXIT_REASON_INVAL,
	};
	struct kvm_msr_filter filter = {
		.flags = KVM_MSR_FILTER_DEFAULT_ALLOW,
		.ranges[0] = {
			.flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE,
			.nmsrs = ZPSI_MSR_COUNT,
			.base = ZPSI_MSR_FIRST,
			.bitmap = psi_trap_bitmap,
		},
	};
	int r;

	r = vmm_ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap);
	if (r < 0)
		return r;
	return vmm_ioctl(vm->vm_fd, KVM_X86_SET_MSR_FILTER, &filter);
}

/* The read-only STATE fields: the host's aggregate and the power state. */
void vmm_psi_refresh(struct vmm *vm)
{
	zpsi_msr_set_host(&vm->bank, (uint16_t)vmm_aggregate_bp(vm), vm->power);
}

static int vmm_psi_register(struct vmm *vm)
{
	uint32_t id;
	int r;

	if (vm->caller.id)
		return 0;
	r = zpsi_registry_register(vm->host->reg, vm->cfg.weight, vmm_now_ns(), &id);
	if (r < 0)
		return r;
	vm->caller.id = id;
	return 0;
}

static void vmm_psi_report(struct vmm *vm)
{
	vmm_region_publish_guest(vm);
	if (!vm->caller.id)
		return;
	/* -EBUSY (rate limited) drops this report; the next one carries the
	 * running counts anyway. */
	(void)zpsi_registry_update(vm->host->reg, vm->caller.id, vm->bank.guest_bp, vm->bank.committed,
				   vm->bank.deferred, vmm_now_ns());
}

/* Zero the registry's counts after CTRL.RESET, keeping the rest. */
static void vmm_psi_reset_counts(struct vmm *vm)
{
	struct zpsi_guest_info gi;

	vm->region_reset_pending = true;
	vm->counters_reset_report = vm->host_external;
	if (!vm->caller.id || zpsi_registry_get(vm->host->reg, vm->caller.id, &gi) < 0)
		return;
	gi.committed = gi.deferred = 0;
	(void)zpsi_registry_restore(vm->host->reg, vm->caller.id, &gi);
}

/* Returns 0, or -errno when the host cannot do what the write asks (the
 * caller then undoes the write and raises #GP). */
static int vmm_psi_apply_msr_events(struct vmm *vm, unsigned ev)
{
	int r;

	if (ev & ZPSI_MSR_EV_ENABLE) {
		r = vmm_psi_register(vm);
		if (r < 0)
			return r;
	}
	if (ev & ZPSI_MSR_EV_REGION_ON) {
		r = vmm_region_set(vm, zpsi_ctrl_gpa(vm->bank.ctrl), false);
		if (r < 0)
			return r;
		vm->caller.region_gpa = zpsi_ctrl_gpa(vm->bank.ctrl);
	}
	if (ev & ZPSI_MSR_EV_REGION_OFF) {
		(void)vmm_region_set(vm, 0, false);
		vm->caller.region_gpa = 0;
	}
	if (ev & ZPSI_MSR_EV_DISABLE && vm->caller.id) {
		(void)zpsi_registry_unregister(vm->host->reg, vm->caller.id);
		vm->caller.id = 0;
	}
	if (ev & ZPSI_MSR_EV_RESET)
		vmm_psi_reset_counts(vm);
	if (ev & (ZPSI_MSR_EV_RATIO | ZPSI_MSR_EV_STATS))
		vmm_psi_report(vm);
	if (vm->region_gpa)
		vmm_region_sync(vm);
	return 0;
}

void vmm_psi_msr_events(struct vmm *vm, unsigned events)
{
	(void)vmm_psi_apply_msr_events(vm, events);
}

void vmm_msr_exit(struct vmm_vcpu *v)
{
	struct vmm *vm = v->vm;
	struct kvm_run *run = v->run;
	bool write = run->exit_reason == KVM_EXIT_X86_WRMSR;
	uint32_t index = run->msr.index;
	int r = -ENOENT;

	VMM_STAT_INC(v->stats.msr);
	if (write)
		VMM_STAT_INC(v->stats.msr_writes);
	else
		VMM_STAT_INC(v->stats.msr_reads);

	if (run->msr.reason == KVM_MSR_EXIT_REASON_FILTER && zpsi_msr_is_psi(index)) {
		vmm_host_lock(vm->host);
		if (write) {
			struct zpsi_msr_bank before = vm->bank;
			struct zpsi_caller caller_before = vm->caller;

			r = zpsi_msr_write(&vm->bank, index, run->msr.data);
			if (r >= 0) {
				int e = vmm_psi_apply_msr_events(vm, (unsigned)r);

				if (e < 0) {
					if (!caller_before.id && vm->caller.id)
						(void)zpsi_registry_unregister(vm->host->reg, vm->caller.id);
					vm->bank = before;
					vm->caller = caller_before;
					r = e;
				}
			}
		} else {
			uint64_t val;

			if (index == ZPSI_MSR_STATE) {
				if (vm->region_gpa)
					vmm_region_sync(vm);
				vmm_psi_refresh(vm);
			}
			r = zpsi_msr_read(&vm->bank, index, &val);
			if (r == 0)
				run->msr.data = val;
		}
		vmm_host_unlock(vm->host);
		vmm_supervisor_poke(vm);
	}
	/* Anything else (an MSR KVM does not implement, an invalid value for
	 * one it does, a refused PSI access) is a #GP, as on hardware. */
	run->msr.error = r < 0;
	if (r < 0)
		VMM_STAT_INC(v->stats.msr_gp);
}
