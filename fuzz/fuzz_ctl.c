/* SPDX-License-Identifier: MIT */
/*
 * fuzz_ctl.c - the control protocol decoder (zpsid's parser of every packet
 * a VMM or a client sends).  A packet that decodes must encode again and
 * decode to the same type: the two sides of ctl.c agree on every field.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zpsi/ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zpsi_ctl_msg m = { 0 }, again = { 0 };
	char *buf = NULL;
	size_t len = 0;

	if (zpsi_ctl_decode(data, size, &m) < 0)
		return 0;
	if (zpsi_ctl_encode(&m, &buf, &len) == 0) {
		if (zpsi_ctl_decode(buf, len, &again) != 0 || again.type != m.type)
			abort();
		if (m.type == ZPSI_CTL_HELLO &&
		    (strcmp(again.u.hello.name, m.u.hello.name) != 0 ||
		     again.u.hello.ntids != m.u.hello.ntids ||
		     again.u.hello.mem_bytes != m.u.hello.mem_bytes))
			abort();
		zpsi_ctl_msg_done(&again);
		free(buf);
	}
	zpsi_ctl_msg_done(&m);
	return 0;
}
