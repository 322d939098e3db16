/* SPDX-License-Identifier: MIT */
/*
 * msr.c - the four PSI MSRs of one guest (SPEC component 2, docs/abi.md
 * "MSRs").
 *
 * Every write is validated completely before anything is stored, so a write
 * that the VMM turns into a #GP leaves the bank exactly as it was, as a
 * faulting WRMSR does on hardware.  Reads have no side effects apart from
 * the counters.
 *
 * Counters: `reads` and `writes` count accesses that succeeded; `faults`
 * counts every refused access (each one is a #GP in the guest).
 */
#include <errno.h>
#include <string.h>

#include "zpsi/msr.h"

typedef int (*msr_read_fn)(const struct zpsi_msr_bank *b, uint64_t *val);
typedef int (*msr_write_fn)(struct zpsi_msr_bank *b, uint64_t val);

void zpsi_msr_bank_init(struct zpsi_msr_bank *b, uint64_t ram_size, bool region_supported)
{
	memset(b, 0, sizeof(*b));
	b->allowed = true;
	b->region_supported = region_supported;
	b->ram_size = ram_size;
	b->conf = zpsi_conf_encode(ZPSI_CONF_DEFAULT_DELTA_BP, ZPSI_CONF_DEFAULT_THRESH_BP);
}

void zpsi_msr_set_host(struct zpsi_msr_bank *b, uint16_t host_bp, uint8_t power)
{
	/* The guest must never read a ratio above 100 % or a power field that
	 * does not fit its 4 bits, whatever the host passes. */
	b->host_bp = host_bp > ZPSI_BP_MAX ? ZPSI_BP_MAX : host_bp;
	b->power = power & 0xF;
}

/* ---- STATE --------------------------------------------------------- */

static int msr_state_read(const struct zpsi_msr_bank *b, uint64_t *val)
{
	*val = zpsi_state_encode(b->guest_bp, b->host_bp, b->power);
	return 0;
}

/* Bits 35:16 are the host's and ignored on write, so a guest may write back
 * what it read with a new ratio in 15:0 (read-modify-write). */
static int msr_state_write(struct zpsi_msr_bank *b, uint64_t val)
{
	uint16_t bp = zpsi_state_guest_bp(val);

	if ((val & ZPSI_STATE_RSVD_MASK) || bp > ZPSI_BP_MAX)
		return -EINVAL;
	b->guest_bp = bp;
	return ZPSI_MSR_EV_RATIO;
}

/* ---- CONF ---------------------------------------------------------- */

static int msr_conf_read(const struct zpsi_msr_bank *b, uint64_t *val)
{
	*val = b->conf;
	return 0;
}

static int msr_conf_write(struct zpsi_msr_bank *b, uint64_t val)
{
	if ((val & ZPSI_CONF_RSVD_MASK) || zpsi_conf_delta_bp(val) > ZPSI_BP_MAX ||
	    zpsi_conf_thresh_bp(val) > ZPSI_BP_MAX)
		return -EINVAL;
	b->conf = val;
	return ZPSI_MSR_EV_CONF;
}

/* ---- STATS --------------------------------------------------------- */

static int msr_stats_read(const struct zpsi_msr_bank *b, uint64_t *val)
{
	*val = zpsi_stats_encode(b->committed, b->deferred);
	return 0;
}

/* Extend a running count of which the guest reports only the low 32 bits:
 * a low half smaller than the last one means it wrapped once.  (A guest
 * must report at least once per 2^32 events of each kind; docs/abi.md.) */
static uint64_t msr_extend32(uint64_t old, uint32_t low)
{
	uint64_t v = (old & ~0xFFFFFFFFull) | low;

	if (low < (uint32_t)old)
		v += 1ull << 32;
	return v;
}

static int msr_stats_write(struct zpsi_msr_bank *b, uint64_t val)
{
	b->committed = msr_extend32(b->committed, zpsi_stats_committed32(val));
	b->deferred = msr_extend32(b->deferred, zpsi_stats_deferred32(val));
	return ZPSI_MSR_EV_STATS;
}

/* ---- CTRL ---------------------------------------------------------- */

static int msr_ctrl_read(const struct zpsi_msr_bank *b, uint64_t *val)
{
	*val = b->ctrl;		/* RESET is never stored, so it reads 0 */
	return 0;
}

/* The region page must lie wholly inside guest RAM, and not at GPA 0, which
 * means "no region" (HC_PSI_REGISTER's RCX).  The GPA field is bits 63:12,
 * so it is page-aligned by construction. */
static bool msr_region_gpa_ok(const struct zpsi_msr_bank *b, uint64_t gpa)
{
	return gpa != 0 && b->ram_size >= ZPSI_REGION_PAGE_SIZE && gpa <= b->ram_size - ZPSI_REGION_PAGE_SIZE;
}

/*
 * With REGION clear the GPA bits are stored unchecked (as KVM stores the
 * address of a disabled pvclock area), so a guest can turn the region off
 * and on again with read-modify-writes.
 */
static int msr_ctrl_write(struct zpsi_msr_bank *b, uint64_t val)
{
	uint64_t old = b->ctrl, stored = val & ~ZPSI_CTRL_RESET;
	bool was_on = old & ZPSI_CTRL_REGION, on = val & ZPSI_CTRL_REGION;
	int ev = 0;

	if (val & ZPSI_CTRL_RSVD_MASK)
		return -EINVAL;
	if (on && (!b->region_supported || !msr_region_gpa_ok(b, zpsi_ctrl_gpa(val))))
		return -EINVAL;

	if ((val & ZPSI_CTRL_ENABLE) && !(old & ZPSI_CTRL_ENABLE))
		ev |= ZPSI_MSR_EV_ENABLE;
	if (!(val & ZPSI_CTRL_ENABLE) && (old & ZPSI_CTRL_ENABLE))
		ev |= ZPSI_MSR_EV_DISABLE;
	if (val & ZPSI_CTRL_RESET) {
		b->committed = 0;
		b->deferred = 0;
		ev |= ZPSI_MSR_EV_RESET;
	}
	if (on && (!was_on || zpsi_ctrl_gpa(old) != zpsi_ctrl_gpa(val)))
		ev |= ZPSI_MSR_EV_REGION_ON;
	if (!on && was_on)
		ev |= ZPSI_MSR_EV_REGION_OFF;
	b->ctrl = stored;
	return ev;
}

/* ---- dispatch by index --------------------------------------------- */

static const struct {
	msr_read_fn read;
	msr_write_fn write;
} msr_ops[ZPSI_MSR_COUNT] = {
	[ZPSI_MSR_STATE - ZPSI_MSR_FIRST] = { msr_state_read, msr_state_write },
	[ZPSI_MSR_CONF - ZPSI_MSR_FIRST] = { msr_conf_read, msr_conf_write },
	[ZPSI_MSR_STATS - ZPSI_MSR_FIRST] = { msr_stats_read, msr_stats_write },
	[ZPSI_MSR_CTRL - ZPSI_MSR_FIRST] = { msr_ctrl_read, msr_ctrl_write },
};

/* An index outside the bank is -ENOENT before anything else: it is not
 * this bank's MSR at all, whatever `allowed` says. */
static int msr_check(struct zpsi_msr_bank *b, uint32_t index)
{
	if (!zpsi_msr_is_psi(index))
		return -ENOENT;
	if (!b->allowed)
		return -EPERM;
	return 0;
}

int zpsi_msr_read(struct zpsi_msr_bank *b, uint32_t index, uint64_t *val)
{
	uint64_t v;
	int r;

	r = msr_check(b, index);
	if (r == 0)
		r = msr_ops[index - ZPSI_MSR_FIRST].read(b, &v);
	if (r < 0) {
		b->faults++;
		return r;
	}
	b->reads++;
	*val = v;
	return 0;
}

int zpsi_msr_write(struct zpsi_msr_bank *b, uint32_t index, uint64_t val)
{
	int r;

	r = msr_check(b, index);
	if (r == 0)
		r = msr_ops[index - ZPSI_MSR_FIRST].write(b, val);
	if (r < 0) {
		b->faults++;
		return r;
	}
	b->writes++;
	return r;
}
