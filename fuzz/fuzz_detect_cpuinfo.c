/* SPDX-License-Identifier: MIT */
/*
 * fuzz_detect_cpuinfo.c - the /proc/cpuinfo parser.
 *
 * Checked: fields stay NUL-terminated inside their arrays, the hypervisor
 * flag implies a flags line, and the result does not depend on anything
 * after the first processor block (appending a second block that has the
 * hypervisor flag changes nothing when a block already ended).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "detect_fuzz_common.h"
#include "zpsi/detect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char tail[] = "\n\nprocessor\t: 1\nvendor_id\t: X\nflags\t\t: hypervisor\n";
	struct zpsi_cpuinfo a, b;
	char *both;

	CHECK(zpsi_cpuinfo_parse((const char *)data, size, &a) == 0);
	CHECK(memchr(a.vendor_id, 0, sizeof(a.vendor_id)) != NULL);
	CHECK(memchr(a.model_name, 0, sizeof(a.model_name)) != NULL);
	CHECK(!a.hypervisor_flag || a.has_flags);

	/* Only when the input's first block certainly ended inside it. */
	if (size > 0 && size < (1u << 20) && memmem(data, size, "\n\n", 2) &&
	    !memchr(data, 0, size)) {
		const char *p = (const char *)data;
		size_t i = 0;

		while (i < size && strchr(" \t\n\r\v\f", p[i]))
			i++;	/* leading blank lines do not end a block */
		if (i < size && memmem(p + i, size - i, "\n\n", 2)) {
			both = malloc(size + sizeof(tail));
			CHECK(both != NULL);
			memcpy(both, data, size);
			memcpy(both + size, tail, sizeof(tail));
			CHECK(zpsi_cpuinfo_parse(both, size + sizeof(tail) - 1, &b) == 0);
			CHECK(a.has_flags == b.has_flags && a.hypervisor_flag == b.hypervisor_flag);
			CHECK(strcmp(a.vendor_id, b.vendor_id) == 0);
			CHECK(strcmp(a.model_name, b.model_name) == 0);
			free(both);
		}
	}
	return 0;
}
