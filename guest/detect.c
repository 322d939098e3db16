/* SPDX-License-Identifier: MIT */
/*
 * guest/detect.c - the detection core (lib/detect_cpuid.c, the very file
 * zpsi-detect uses on the host) run on the guest's own CPUID instructions,
 * each one a real trap into KVM.  Prints the JSON of
 * zpsi_cpuid_to_json() on one line, then a one-word summary line
 * "hypervisor=NAME psi_base=0x..." for scripts, and exits 0 when the PSI
 * block was found, 1 when not.
 */
#include "zpsi/detect_cpuid.h"

#include "rt.h"

static char json[8192];
static struct zpsi_cpuid_info info;

static void guest_cpuid(void *ctx, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	(void)ctx;
	zg_cpuid(leaf, subleaf, out);
}

int zg_main(const struct zpsi_vmm_boot *boot)
{
	const char *outer;
	size_t need;

	(void)boot;
	zpsi_cpuid_scan(guest_cpuid, NULL, &info);
	need = zpsi_cpuid_to_json(&info, json, sizeof(json));
	if (need >= sizeof(json)) {
		zg_printf("detect: JSON needs %lu bytes, have %lu\n", (unsigned long)need,
			  (unsigned long)sizeof(json));
		return 2;
	}
	zg_puts(json);
	zg_putc('\n');
	outer = zpsi_cpuid_outer_name(&info);
	zg_printf("hypervisor=%s blocks=%u psi_base=0x%x psi_features=0x%x doorbell=0x%x\n",
		  outer ? outer : "none", info.n_blocks, info.psi.present ? info.psi.base : 0,
		  info.psi.features, info.psi.doorbell_port);
	return info.psi.present ? 0 : 1;
}
