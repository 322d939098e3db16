/* SPDX-License-Identifier: MIT */
/*
 * test_detect.c - the `detect` payload runs the detection core on real
 * CPUID instructions inside the guest.  With --signature the VMM presents
 * another hypervisor's identity at 0x40000000 and moves the PSI block to
 * 0x40000100; the guest must name that hypervisor as the outermost one and
 * still find the PSI interface there, with its version, features and port.
 */
#include <stdio.h>
#include <string.h>

#include "vmmtest.h"

struct variant {
	const char *signature;	/* NULL: our own block at 0x40000000 */
	const char *summary;	/* the payload's last line, up to the features */
	const char *json_outer;	/* the JSON's "outer" member */
};

static const struct variant variants[] = {
	{ NULL, "hypervisor=none blocks=1 psi_base=0x40000000", "\"outer\":null" },
	{ "KVMKVMKVM", "hypervisor=kvm blocks=2 psi_base=0x40000100", "\"outer\":\"kvm\"" },
	{ "Microsoft Hv", "hypervisor=microsoft blocks=2 psi_base=0x40000100", "\"outer\":\"microsoft\"" },
	{ "XenVMMXenVMM", "hypervisor=xen blocks=2 psi_base=0x40000100", "\"outer\":\"xen\"" },
	{ "VMwareVMware", "hypervisor=vmware blocks=2 psi_base=0x40000100", "\"outer\":\"vmware\"" },
	{ "OpenBSDVMM58", "hypervisor=vmm blocks=2 psi_base=0x40000100", "\"outer\":\"vmm\"" },
	{ "NotAKnownHv", "hypervisor=none blocks=2 psi_base=0x40000100", "\"outer\":null" },
};

static void run_variant(const struct variant *v)
{
	const char *args[8] = { "--payload", "detect", "--timeout", "30" };
	const char *what = v->signature ? v->signature : "own block";
	char json[8192] = "", last[512] = "";
	struct vt_proc p;
	unsigned n = 4;
	int st;

	if (v->signature) {
		args[n++] = "--signature";
		args[n++] = v->signature;
	}
	args[n] = NULL;
	st = vt_run(&p, args);
	VT_CHECK(st == 0, "%s: exit status %d (0: PSI block found)\n%s%s", what, st, p.out, p.err);
	VT_CHECK(vt_grep(p.out, "{", json, sizeof(json)) == 1, "%s: one JSON line", what);
	VT_CHECK(vt_grep(p.out, "hypervisor=", last, sizeof(last)) == 1, "%s: summary line", what);
	VT_CHECK(strncmp(last, v->summary, strlen(v->summary)) == 0, "%s: '%s', want '%s'", what, last,
		 v->summary);
	VT_CHECK(strstr(last, "psi_features=0x1d doorbell=0xe4") != NULL, "%s: features/port: %s", what, last);
	VT_CHECK(strstr(json, v->json_outer) != NULL, "%s: %s not in %s", what, v->json_outer, json);
	VT_CHECK(strstr(json, "\"hypervisor_bit\":true") != NULL, "%s: CPUID.1:ECX[31]", what);
	VT_CHECK(strstr(json, "\"abi_version\":1") != NULL, "%s: ABI version", what);
	VT_CHECK(strstr(json, "\"doorbell_port\":\"0x000000e4\"") != NULL, "%s: doorbell port", what);
	if (v->signature)
		VT_CHECK(strstr(json, v->signature) != NULL, "%s: signature in the stack", what);
	vt_proc_free(&p);
}

int main(void)
{
	vt_require_kvm();
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++)
		run_variant(&variants[i]);
	return vt_done("detect");
}
