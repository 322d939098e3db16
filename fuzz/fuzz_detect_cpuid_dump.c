/* SPDX-License-Identifier: MIT */
/*
 * fuzz_detect_cpuid_dump.c - the `cpuid -r` dump parser (a sysroot's
 * cpuid.txt is anybody's file), then the CPUID scan and its JSON over the
 * parsed dump.
 *
 * Checked: at most ZPSI_CPUID_DUMP_MAX entries, no duplicate (leaf,
 * subleaf), lookups return exactly what was parsed (zeros when absent), and
 * the scan's JSON is valid.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "detect_fuzz_common.h"
#include "zpsi/detect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char json[1 << 16];
	struct zpsi_cpuid_dump d;
	struct zpsi_cpuid_info info;
	size_t len;
	int r;

	r = zpsi_cpuid_dump_parse((const char *)data, size, &d);
	if (r < 0) {
		CHECK(r == -EBADMSG || r == -ENOMEM);
		return 0;
	}
	CHECK(d.n >= 1 && d.n <= ZPSI_CPUID_DUMP_MAX);
	for (size_t i = 0; i < d.n; i++) {
		uint32_t out[4];

		for (size_t k = 0; k < i && k < 64; k++)
			CHECK(d.entries[k].leaf != d.entries[i].leaf ||
			      d.entries[k].subleaf != d.entries[i].subleaf);
		zpsi_cpuid_dump_lookup(&d, d.entries[i].leaf, d.entries[i].subleaf, out);
		CHECK(memcmp(out, d.entries[i].regs, sizeof(out)) == 0);
	}
	zpsi_cpuid_scan(zpsi_cpuid_dump_lookup, &d, &info);
	len = zpsi_cpuid_to_json(&info, json, sizeof(json));
	CHECK(len < sizeof(json));
	json_check(json, len);
	zpsi_cpuid_dump_done(&d);
	return 0;
}
