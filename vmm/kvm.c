/* SPDX-License-Identifier: MIT */
/*
 * vmm/kvm.c - opening /dev/kvm, capability checks, error context.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kvm.h"
#include "zpsi/util.h"

static __thread char vmm_errbuf[160];

int vmm_ioctl_failed(const char *name, int err)
{
	snprintf(vmm_errbuf, sizeof(vmm_errbuf), "%s", name);
	return err;
}

void vmm_errctx_set(const char *what)
{
	snprintf(vmm_errbuf, sizeof(vmm_errbuf), "%s", what);
}

const char *vmm_errctx(void)
{
	return vmm_errbuf[0] ? vmm_errbuf : "zpsi-vmm";
}

int vmm_kvm_cap(int fd, long cap)
{
	int r = vmm_ioctl_raw(fd, KVM_CHECK_EXTENSION, (void *)cap);

	return r < 0 ? 0 : r;
}

/* What the VMM cannot run without, and why (docs/guest.md). */
static const struct {
	long cap;
	const char *name;
} vmm_required_caps[] = {
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY (guest RAM)" },
	{ KVM_CAP_SYNC_REGS, "KVM_CAP_SYNC_REGS (hypercall registers)" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT (pausing vCPUs)" },
	{ KVM_CAP_X86_USER_SPACE_MSR, "KVM_CAP_X86_USER_SPACE_MSR (PSI MSRs)" },
	{ KVM_CAP_X86_MSR_FILTER, "KVM_CAP_X86_MSR_FILTER (PSI MSRs)" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID (CPUID block)" },
	{ KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE (save/restore)" },
	{ KVM_CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS (save/restore)" },
	{ KVM_CAP_DEBUGREGS, "KVM_CAP_DEBUGREGS (save/restore)" },
	{ KVM_CAP_XSAVE, "KVM_CAP_XSAVE (save/restore)" },
	{ KVM_CAP_XCRS, "KVM_CAP_XCRS (save/restore)" },
};

int vmm_kvm_open(int *fd_out)
{
	_cleanup_close_ int fd = -1;
	int r;

	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		vmm_errctx_set("/dev/kvm");
		return r;
	}
	r = vmm_ioctl_raw(fd, KVM_GET_API_VERSION, NULL);
	if (r < 0) {
		vmm_errctx_set("/dev/kvm is not usable: KVM_GET_API_VERSION");
		return r;
	}
	if (r != KVM_API_VERSION) {
		vmm_errctx_set("/dev/kvm is not usable: KVM API version is not 12");
		return -ENOTSUP;
	}
	for (size_t i = 0; i < ZPSI_ARRAY_SIZE(vmm_required_caps); i++)
		if (vmm_kvm_cap(fd, vmm_required_caps[i].cap) <= 0) {
			snprintf(vmm_errbuf, sizeof(vmm_errbuf), "/dev/kvm is not usable: no %s",
				 vmm_required_caps[i].name);
			return -ENOTSUP;
		}
	if (!(vmm_kvm_cap(fd, KVM_CAP_SYNC_REGS) & KVM_SYNC_X86_REGS)) {
		vmm_errctx_set("/dev/kvm is not usable: KVM_CAP_SYNC_REGS without KVM_SYNC_X86_REGS");
		return -ENOTSUP;
	}
	*fd_out = ZPSI_TAKE_FD(fd);
	return 0;
}
