/* SPDX-License-Identifier: MIT */
/* abi_dump.c - print every ABI constant as NAME=VALUE, for abi_doc.py to
 * check docs/abi.md against the header. */
#include <stddef.h>
#include <stdio.h>

#include "zpsi/abi.h"

#define P(name, value) printf("%s=0x%llX\n", name, (unsigned long long)(value))

int main(void)
{
	P("cpuid.hv_first", ZPSI_CPUID_HV_FIRST);
	P("cpuid.hv_last", ZPSI_CPUID_HV_LAST);
	P("cpuid.hv_step", ZPSI_CPUID_HV_STEP);
	P("cpuid.base_default", ZPSI_CPUID_BASE_DEFAULT);
	P("cpuid.base_nested", ZPSI_CPUID_BASE_NESTED);
	P("cpuid.sig_ebx", ZPSI_CPUID_SIG_EBX);
	P("cpuid.sig_ecx", ZPSI_CPUID_SIG_ECX);
	P("cpuid.sig_edx", ZPSI_CPUID_SIG_EDX);
	P("abi.version", ZPSI_ABI_VERSION);
	P("feat.0", ZPSI_FEAT_MSR);
	P("feat.1", ZPSI_FEAT_VMCALL);
	P("feat.2", ZPSI_FEAT_DOORBELL);
	P("feat.3", ZPSI_FEAT_REGION);
	P("feat.4", ZPSI_FEAT_BALLOON);
	P("doorbell.port", ZPSI_DOORBELL_PORT_DEFAULT);
	P("msr.PSI_STATE_MSR", ZPSI_MSR_STATE);
	P("msr.PSI_CONF_MSR", ZPSI_MSR_CONF);
	P("msr.PSI_STATS_MSR", ZPSI_MSR_STATS);
	P("msr.PSI_CTRL_MSR", ZPSI_MSR_CTRL);
	P("conf.default_delta", ZPSI_CONF_DEFAULT_DELTA_BP);
	P("conf.default_thresh", ZPSI_CONF_DEFAULT_THRESH_BP);
	P("hc.HC_PSI_REGISTER", ZPSI_HC_REGISTER);
	P("hc.HC_PSI_UPDATE", ZPSI_HC_UPDATE);
	P("hc.HC_PSI_QUERY", ZPSI_HC_QUERY);
	P("hc.HC_PSI_HIBERNATE", ZPSI_HC_HIBERNATE);
	P("hc.HC_PSI_BALLOON", ZPSI_HC_BALLOON);
	P("err.KVM_ENOSYS", ZPSI_KVM_ENOSYS);
	P("err.EINVAL", ZPSI_KVM_EINVAL);
	P("err.EPERM", ZPSI_KVM_EPERM);
	P("err.E2BIG", ZPSI_KVM_E2BIG);
	P("err.EFAULT", ZPSI_KVM_EFAULT);
	P("err.EOPNOTSUPP", ZPSI_KVM_EOPNOTSUPP);
	P("weight.max", ZPSI_WEIGHT_MAX);
	P("region.size", ZPSI_REGION_SIZE);
	P("region.page", ZPSI_REGION_PAGE_SIZE);
	P("region.revision", ZPSI_REGION_REVISION);
	P("region.off.magic", offsetof(struct zpsi_region, magic));
	P("region.off.version", offsetof(struct zpsi_region, version));
	P("region.off.guest ratio", offsetof(struct zpsi_region, guest_ratio));
	P("region.off.host ratio (aggregate)", offsetof(struct zpsi_region, host_ratio));
	P("region.off.committed", offsetof(struct zpsi_region, committed));
	P("region.off.deferred", offsetof(struct zpsi_region, deferred));
	P("region.off.timestamp, ns", offsetof(struct zpsi_region, timestamp_ns));
	P("region.off.host info (decided)", offsetof(struct zpsi_region, host_info));
	P("hostinfo.agg_valid_bit", __builtin_ctzll(ZPSI_HOSTINFO_AGG_VALID));
	P("hostinfo.balloon_bit", __builtin_ctzll(ZPSI_HOSTINFO_BALLOON));
	P("hostinfo.target_shift", ZPSI_HOSTINFO_TARGET_SHIFT);
	P("ctrl.enable_bit", __builtin_ctzll(ZPSI_CTRL_ENABLE));
	P("ctrl.reset_bit", __builtin_ctzll(ZPSI_CTRL_RESET));
	P("ctrl.region_bit", __builtin_ctzll(ZPSI_CTRL_REGION));
	P("ctrl.rsvd_lo", __builtin_ctzll(ZPSI_CTRL_RSVD_MASK));
	P("ctrl.rsvd_hi", 63 - __builtin_clzll(ZPSI_CTRL_RSVD_MASK));
	P("state.rsvd_lo", __builtin_ctzll(ZPSI_STATE_RSVD_MASK));
	P("state.power_lo", ZPSI_STATE_POWER_SHIFT);
	P("state.host_lo", ZPSI_STATE_HOST_SHIFT);
	P("conf.rsvd_lo", __builtin_ctzll(ZPSI_CONF_RSVD_MASK));
	P("stats.committed_lo", ZPSI_STATS_COMMITTED_SHIFT);
	return 0;
}
