/* SPDX-License-Identifier: MIT */
/*
 * fuzz_detect_dmi.c - the small-value parsers: one-line DMI/sysfs values
 * (zpsi_detect_clean_value), the SMBIOS type 0 VM bit, ACPI table headers,
 * and Xen's features and capabilities files.
 *
 * Input: byte 0 = an output size for the value cleaner; the rest goes to
 * every parser.  Checked: the cleaned value fits, holds no newline, has no
 * leading or trailing whitespace and never ends in a separator; the SMBIOS
 * bit is read only from a structure long enough to hold it; ACPI fields
 * are printable and terminated; the Xen parsers answer 0, 1 or -EBADMSG.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "detect_fuzz_common.h"
#include "zpsi/detect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void printable(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	CHECK(n < cap);
	for (size_t i = 0; i < n; i++)
		CHECK(s[i] >= 0x20 && s[i] < 0x7F);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[256];
	size_t cap, n;
	struct zpsi_acpi_header h;
	const char *text;
	int r;

	if (size < 1)
		return 0;
	cap = data[0];
	text = (const char *)data + 1;
	size--;

	memset(out, 0x55, sizeof(out));
	n = zpsi_detect_clean_value(text, size, out, cap);
	if (cap) {
		CHECK(n < cap && out[n] == 0 && strlen(out) == n);
		CHECK(!memchr(out, '\n', n));
		if (n) {
			CHECK(out[0] != ' ' && out[0] != '\t');
			CHECK(out[n - 1] != ' ' && out[n - 1] != '\t');
		}
	} else {
		CHECK(n == 0 && (unsigned char)out[0] == 0x55);
	}

	r = zpsi_smbios_vm_bit((const uint8_t *)text, size);
	CHECK(r == 0 || r == 1 || r == -EBADMSG);
	if (r >= 0)
		CHECK(size > 0x13 && text[0] == 0 && (uint8_t)text[1] > 0x13);

	r = zpsi_acpi_header_parse((const uint8_t *)text, size, &h);
	CHECK(r == 0 || (r == -EBADMSG && size < 36));
	if (r == 0) {
		printable(h.signature, sizeof(h.signature));
		printable(h.oem_id, sizeof(h.oem_id));
		printable(h.oem_table_id, sizeof(h.oem_table_id));
		printable(h.creator_id, sizeof(h.creator_id));
	}

	r = zpsi_xen_features_dom0(text, size);
	CHECK(r == 0 || r == 1 || r == -EBADMSG);
	r = zpsi_xen_caps_dom0(text, size);
	CHECK(r == 0 || r == 1);
	return 0;
}
