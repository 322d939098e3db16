/* SPDX-License-Identifier: MIT */
/*
 * test_conformance.c - `zpsi-vmm --payload conformance` passes every check
 * under real KVM: one vCPU, four vCPUs, and behind a foreign hypervisor
 * identity (the PSI block at 0x40000100).  The VMM's own counters confirm
 * the traps really happened (MSR exits, #GPs, hypercalls, a C6 hibernation).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmmtest.h"

static void run(const char *const args[], const char *what, long long min_checks)
{
	struct vt_proc p;
	char last[256] = "", stats[1024] = "";
	int st = vt_run(&p, args);

	VT_CHECK(st == 0, "%s: exit status %d", what, st);
	VT_CHECK(vt_grep(p.out, "FAIL", NULL, 0) == 0, "%s: failed checks:\n%s", what, p.out);
	VT_CHECK(vt_grep(p.out, "", last, sizeof(last)) > 0 && strstr(last, " passed, 0 failed"),
		 "%s: summary '%s'", what, last);
	VT_CHECK(atoll(last) >= min_checks, "%s: only %s", what, last);
	vt_grep(p.err, "zpsi-vmm: stats", stats, sizeof(stats));
	VT_CHECK(vt_field(stats, "msr_gp") >= 16, "%s: #GPs injected: %s", what, stats);
	VT_CHECK(vt_field(stats, "hypercalls") >= 70, "%s: hypercalls: %s", what, stats);
	VT_CHECK(vt_field(stats, "hibernations") == 1, "%s: one C6 round trip: %s", what, stats);
	VT_CHECK(vt_field(stats, "parks") >= 4, "%s: HLT parked the vCPU: %s", what, stats);
	/* 16 pages given twice, 8 taken back: 8 given back now */
	VT_CHECK(vt_field(stats, "balloon_released") == 8, "%s: balloon: %s", what, stats);
	printf("%s: %s\n", what, last);
	vt_proc_free(&p);
}

int main(void)
{
	vt_require_kvm();
	run((const char *const[]){ "--payload", "conformance", "--timeout", "60", "--stats", NULL },
	    "1 vCPU", 200);
	run((const char *const[]){ "--payload", "conformance", "--vcpus", "4", "--timeout", "60", "--stats", NULL },
	    "4 vCPUs", 209);
	run((const char *const[]){ "--payload", "conformance", "--signature", "Microsoft Hv", "--mem", "64",
				   "--timeout", "60", "--stats", NULL },
	    "behind Microsoft Hv", 202);
	return vt_done("conformance");
}
