/* SPDX-License-Identifier: MIT */
/* vmm/payloads.h - the guest payloads built into zpsi-vmm (guest/embed.py). */
#ifndef VMM_PAYLOADS_H
#define VMM_PAYLOADS_H

#include <stddef.h>

struct vmm_payload {
	const char *name;
	const unsigned char *image;
	size_t size;
};

/* Ends with an entry whose name is NULL. */
extern const struct vmm_payload vmm_payloads[];

/* The payload called `name`, or NULL. */
const struct vmm_payload *vmm_payload_find(const char *name);

#endif /* VMM_PAYLOADS_H */
