/* SPDX-License-Identifier: MIT */
/*
 * fuzz_detect_sysctl.c - the sysctl.txt parser.
 *
 * Checked: the caps (entries, value length), names only of the sysctl
 * character set, no name twice, and lookup returning each entry.
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
	struct zpsi_sysctl_table t;
	int r = zpsi_sysctl_parse((const char *)data, size, &t);

	if (r < 0) {
		CHECK(r == -ENOMEM);
		return 0;
	}
	CHECK(t.n <= ZPSI_SYSCTL_MAX);
	for (size_t i = 0; i < t.n; i++) {
		const char *n = t.kv[i].name;

		CHECK(n[0] && strlen(n) <= 128);
		CHECK(strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-%") ==
		      strlen(n));
		CHECK(strlen(t.kv[i].value) < ZPSI_SYSCTL_VALUE_MAX);
		CHECK(zpsi_sysctl_get(&t, n) == t.kv[i].value);	/* so no name twice */
	}
	zpsi_sysctl_table_done(&t);
	return 0;
}
