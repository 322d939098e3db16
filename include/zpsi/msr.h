/* SPDX-License-Identifier: MIT */
/*
 * zpsi/msr.h - the four PSI MSRs of one guest, with the exact semantics of
 * docs/abi.md "MSRs".  Pure: the VMM calls it from its MSR exits and turns
 * a negative return into a #GP in the guest.
 */
#ifndef ZPSI_MSR_H
#define ZPSI_MSR_H

#include <stdbool.h>
#include <stdint.h>

#include "zpsi/abi.h"

struct zpsi_msr_bank {
	/* host configuration */
	bool allowed;		/* false: every access #GPs */
	bool region_supported;	/* false: CTRL.REGION #GPs */
	uint64_t ram_size;	/* region GPA must be a page below this */

	/* guest-visible state */
	uint16_t guest_bp;	/* STATE 15:0 */
	uint16_t host_bp;	/* STATE 31:16, set by the host */
	uint8_t power;		/* STATE 35:32, set by the host */
	uint64_t conf;		/* CONF as written */
	uint64_t ctrl;		/* CTRL as stored (RESET never stored) */

	/* STATS, extended to 64 bits: the guest writes low 32 bits of each
	 * running count; a smaller value than the last means it wrapped. */
	uint64_t committed;
	uint64_t deferred;

	/* counters: accesses that succeeded, and refused ones (each a #GP) */
	uint64_t reads, writes, faults;
};

/* Events a successful write asks the host to act on (bit mask). */
enum {
	ZPSI_MSR_EV_RATIO	= 1 << 0,	/* STATE written */
	ZPSI_MSR_EV_CONF	= 1 << 1,	/* CONF written */
	ZPSI_MSR_EV_STATS	= 1 << 2,	/* STATS written */
	ZPSI_MSR_EV_ENABLE	= 1 << 3,	/* CTRL.ENABLE 0 -> 1 */
	ZPSI_MSR_EV_DISABLE	= 1 << 4,	/* CTRL.ENABLE 1 -> 0 */
	ZPSI_MSR_EV_RESET	= 1 << 5,	/* CTRL.RESET written as 1 */
	ZPSI_MSR_EV_REGION_ON	= 1 << 6,	/* region enabled or moved */
	ZPSI_MSR_EV_REGION_OFF	= 1 << 7,	/* region disabled */
};

/* Defaults: allowed, CONF = default delta/threshold, everything else 0. */
void zpsi_msr_bank_init(struct zpsi_msr_bank *b, uint64_t ram_size, bool region_supported);

/* True for the four PSI MSR indices. */
static inline bool zpsi_msr_is_psi(uint32_t index)
{
	return index >= ZPSI_MSR_FIRST && index < ZPSI_MSR_FIRST + ZPSI_MSR_COUNT;
}

/* RDMSR.  0 and *val, or -ENOENT (not a PSI MSR) / -EPERM (not allowed):
 * the caller injects #GP on any error. */
int zpsi_msr_read(struct zpsi_msr_bank *b, uint32_t index, uint64_t *val);

/* WRMSR.  >= 0: the ZPSI_MSR_EV_* mask of what changed; the bank is updated.
 * -ENOENT, -EPERM, -EINVAL (reserved bit, ratio or threshold > 10000, bad
 * region GPA): the bank is unchanged and the caller injects #GP.
 * STATE, CONF and STATS writes always report their event, even when the
 * value is the same.  CTRL is one register: a write replaces ENABLE, REGION
 * and the GPA together (RESET alone therefore also clears ENABLE).  With
 * REGION clear the GPA bits are stored unchecked, as KVM stores a disabled
 * pvclock address; with REGION set the page must lie inside ram_size and
 * region_supported must be true. */
int zpsi_msr_write(struct zpsi_msr_bank *b, uint32_t index, uint64_t val);

/* Host-side setters for the read-only STATE fields. */
void zpsi_msr_set_host(struct zpsi_msr_bank *b, uint16_t host_bp, uint8_t power);

#endif /* ZPSI_MSR_H */
