/* SPDX-License-Identifier: MIT */
/*
 * vmm/x86/vcpu_state.c - an x86-64 vCPU's architectural state in and out
 * of KVM (struct vmm_vcpu_state): general and segment registers, XSAVE,
 * XCRs, pending events, MP state, debug registers and the MSRs.
 *
 * A vCPU is captured on its own thread after its pending exit has been
 * completed with immediate_exit, so the saved registers are architectural.
 * MSRs are the ones KVM lists (KVM_GET_MSR_INDEX_LIST); KVM_GET/SET_MSRS
 * stop at the first MSR they refuse, so both loops step past it.
 */
#include <string.h>

#include "internal.h"

#define VMM_MSR_BATCH 64u

/* struct kvm_msrs ends with a flexible array: room for a batch after it. */
union vmm_msr_batch {
	struct kvm_msrs hdr;
	uint8_t room[sizeof(struct kvm_msrs) + VMM_MSR_BATCH * sizeof(struct kvm_msr_entry)];
};

/* The MSRs worth saving, once per process: KVM's list, bounded. */
static int vmm_msr_list(int kvm_fd, uint32_t *idx, uint32_t *n)
{
	union {
		struct kvm_msr_list hdr;
		uint8_t room[sizeof(struct kvm_msr_list) + VMM_MAX_MSRS * sizeof(uint32_t)];
	} l = { .hdr.nmsrs = VMM_MAX_MSRS };
	int r = vmm_ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &l.hdr);

	if (r < 0)
		return r;
	*n = l.hdr.nmsrs < VMM_MAX_MSRS ? l.hdr.nmsrs : VMM_MAX_MSRS;
	memcpy(idx, l.hdr.indices, *n * sizeof(*idx));
	return 0;
}

/* GET or SET the MSRs in e[0..n), skipping any KVM refuses; returns the
 * count kept in place (refused entries are dropped from e[]). */
static int vmm_msrs_xfer(int fd, unsigned long req, struct kvm_msr_entry *e, uint32_t n, uint32_t *kept)
{
	union vmm_msr_batch b;
	uint32_t in = 0, out = 0;

	while (in < n) {
		uint32_t chunk = n - in < VMM_MSR_BATCH ? n - in : VMM_MSR_BATCH;
		int r;

		memset(&b, 0, sizeof(b));
		b.hdr.nmsrs = chunk;
		memcpy(b.hdr.entries, e + in, chunk * sizeof(*e));
		r = vmm_ioctl_raw(fd, req, &b);
		if (r < 0)
			return vmm_ioctl_failed(req == KVM_GET_MSRS ? "KVM_GET_MSRS" : "KVM_SET_MSRS", r);
		if ((uint32_t)r > chunk)
			return -EPROTO;
		memmove(e + out, b.hdr.entries, (size_t)r * sizeof(*e));
		out += (uint32_t)r;
		in += (uint32_t)r + ((uint32_t)r < chunk);	/* step past the refused one */
	}
	*kept = out;
	return 0;
}

int vmm_vcpu_capture(struct vmm_vcpu *v, struct vmm_vcpu_state *s)
{
	uint32_t idx[VMM_MAX_MSRS], n = 0;
	int r;

	if ((r = vmm_ioctl(v->fd, KVM_GET_REGS, &s->regs)) < 0 ||
	    (r = vmm_ioctl(v->fd, KVM_GET_SREGS, &s->sregs)) < 0 ||
	    (r = vmm_ioctl(v->fd, KVM_GET_XSAVE, &s->xsave)) < 0 ||
	    (r = vmm_ioctl(v->fd, KVM_GET_XCRS, &s->xcrs)) < 0 ||
	    (r = vmm_ioctl(v->fd, KVM_GET_VCPU_EVENTS, &s->events)) < 0 ||
	    (r = vmm_ioctl(v->fd, KVM_GET_MP_STATE, &s->mp_state)) < 0 ||
	    (r = vmm_ioctl(v->fd, KVM_GET_DEBUGREGS, &s->debugregs)) < 0)
		return r;
	r = vmm_msr_list(v->vm->kvm_fd, idx, &n);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < n; i++)
		s->msrs[i] = (struct kvm_msr_entry){ .index = idx[i] };
	r = vmm_msrs_xfer(v->fd, KVM_GET_MSRS, s->msrs, n, &s->nmsrs);
	if (r < 0)
		return r;
	s->mode = (uint8_t)v->mode;
	s->alarm_ms = v->alarm_ms;
	return 0;
}

int vmm_vcpu_apply(struct vmm_vcpu *v, const struct vmm_vcpu_state *s)
{
	struct kvm_msr_entry msrs[VMM_MAX_MSRS];
	struct kvm_vcpu_events ev = s->events;
	uint32_t kept;
	int r;

	if ((r = vmm_ioctl(v->fd, KVM_SET_SREGS, &s->sregs)) < 0 ||
	    (r = vmm_ioctl(v->fd, KVM_SET_REGS, &s->regs)) < 0 ||
	    (r = vmm_ioctl(v->fd, KVM_SET_XSAVE, &s->xsave)) < 0 ||
	    (r = vmm_ioctl(v->fd, KVM_SET_XCRS, &s->xcrs)) < 0)
		return r;
	if (s->nmsrs > VMM_MAX_MSRS)
		return -EINVAL;
	memcpy(msrs, s->msrs, s->nmsrs * sizeof(msrs[0]));
	r = vmm_msrs_xfer(v->fd, KVM_SET_MSRS, msrs, s->nmsrs, &kept);
	if (r < 0)
		return r;
	if ((r = vmm_ioctl(v->fd, KVM_SET_MP_STATE, &s->mp_state)) < 0 ||
	    (r = vmm_ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev)) < 0 ||
	    (r = vmm_ioctl(v->fd, KVM_SET_DEBUGREGS, &s->debugregs)) < 0)
		return r;
	/* The sync-regs copy in kvm_run must not overwrite what we set. */
	v->run->kvm_dirty_regs = 0;
	return 0;
}

