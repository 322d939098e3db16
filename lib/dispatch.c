/* SPDX-License-Identifier: MIT */
/*
 * dispatch.c - the PSI hypercalls (SPEC component 3, docs/abi.md
 * "Hypercalls") on top of the registry.
 *
 * Every register value comes from an untrusted guest: each is checked as the
 * full 64-bit value before it is narrowed (a weight of 2^32 + 1 is not 1).
 * The registration a call acts on is never named by the guest; it is the id
 * the host keeps in struct zpsi_caller, so a guest can only reach its own.
 * Each handler validates everything before it changes anything, so a call
 * that fails leaves the registry and the caller's outputs as they were.
 */
#include <errno.h>

#include "zpsi/registry.h"
#include "zpsi/util.h"

typedef int64_t (*hc_handler)(struct zpsi_registry *reg, struct zpsi_caller *c,
			      const struct zpsi_hc_regs *regs, uint64_t now_ns);

/* A registry error as the KVM hypercall error the guest sees in RAX. */
static int64_t hc_errno(int r)
{
	switch (r) {
	case -ENOENT:
		return -ZPSI_KVM_EPERM;		/* not (or no longer) registered */
	case -EBUSY:				/* rate limited */
	case -E2BIG:				/* registry full */
	case -ENOMEM:				/* host out of memory: full too */
		return -ZPSI_KVM_E2BIG;
	default:
		return -ZPSI_KVM_EINVAL;
	}
}

/* [gpa, gpa + pages * 4096) page-aligned and inside guest RAM, without
 * overflowing on a hostile gpa or page count. */
static bool hc_range_ok(uint64_t ram_size, uint64_t gpa, uint64_t pages)
{
	if (gpa & (ZPSI_REGION_PAGE_SIZE - 1))
		return false;
	if (pages > ram_size / ZPSI_REGION_PAGE_SIZE)
		return false;
	return gpa <= ram_size - pages * ZPSI_REGION_PAGE_SIZE;
}

/* RBX weight, RCX region GPA or 0.  A registered caller re-registering gets
 * its own id back with the new weight (idempotent); RCX 0 leaves its region
 * as it was (the CTRL MSR can also move or drop it). */
static int64_t hc_register(struct zpsi_registry *reg, struct zpsi_caller *c,
			   const struct zpsi_hc_regs *regs, uint64_t now_ns)
{
	uint64_t weight = regs->rbx, gpa = regs->rcx;
	uint32_t id;
	int r;

	if (weight < ZPSI_WEIGHT_MIN || weight > ZPSI_WEIGHT_MAX)
		return -ZPSI_KVM_EINVAL;
	if (gpa) {
		if (!c->region_supported)
			return -ZPSI_KVM_EOPNOTSUPP;
		if (!hc_range_ok(c->ram_size, gpa, 1))
			return -ZPSI_KVM_EFAULT;
	}

	id = c->id;
	r = id ? zpsi_registry_set_weight(reg, id, (uint32_t)weight) : -ENOENT;
	if (r == -ENOENT)	/* first call, or the host dropped the registration */
		r = zpsi_registry_register(reg, (uint32_t)weight, now_ns, &id);
	if (r < 0)
		return hc_errno(r);

	c->id = id;
	c->events |= ZPSI_HC_EV_REGISTERED;
	if (gpa) {
		c->region_gpa = gpa;
		c->events |= ZPSI_HC_EV_REGION_ON;
	}
	return id;
}

/* RBX ratio bp, RCX committed, RDX deferred (running 64-bit counts). */
static int64_t hc_update(struct zpsi_registry *reg, struct zpsi_caller *c,
			 const struct zpsi_hc_regs *regs, uint64_t now_ns)
{
	int r;

	if (!c->id)
		return -ZPSI_KVM_EPERM;
	if (regs->rbx > ZPSI_BP_MAX)
		return -ZPSI_KVM_EINVAL;
	r = zpsi_registry_update(reg, c->id, (uint32_t)regs->rbx, regs->rcx, regs->rdx, now_ns);
	if (r < 0)
		return hc_errno(r);
	c->events |= ZPSI_HC_EV_UPDATED;
	return 0;
}

/* No registration needed: the aggregate is what every guest may read in
 * STATE[31:16] and the region anyway. */
static int64_t hc_query(struct zpsi_registry *reg, struct zpsi_caller *c,
			const struct zpsi_hc_regs *regs, uint64_t now_ns)
{
	(void)c;
	(void)regs;
	(void)now_ns;
	return zpsi_registry_aggregate_bp(reg);
}

/* RBX target power state; the guest's rules (one step deeper, or wake). */
static int64_t hc_hibernate(struct zpsi_registry *reg, struct zpsi_caller *c,
			    const struct zpsi_hc_regs *regs, uint64_t now_ns)
{
	struct zpsi_guest_info before;
	int r;

	if (!c->id)
		return -ZPSI_KVM_EPERM;
	r = zpsi_registry_get(reg, c->id, &before);
	if (r == 0)
		r = zpsi_registry_set_power(reg, c->id, regs->rbx, false, now_ns);
	if (r < 0)
		return hc_errno(r);
	if (before.power != regs->rbx)
		c->events |= ZPSI_HC_EV_POWER;
	return 0;
}

/* RBX first GPA, RCX pages, RDX 1 release / 0 reclaim.  Only validated
 * here; the host acts on ZPSI_HC_EV_BALLOON.  The region page cannot be
 * released: the host writes into it (docs/abi.md section 7).  Charged to
 * the guest's rate limit because the host's work (madvise) grows with the
 * range. */
static int64_t hc_balloon(struct zpsi_registry *reg, struct zpsi_caller *c,
			  const struct zpsi_hc_regs *regs, uint64_t now_ns)
{
	int r;

	if (!c->balloon_supported)
		return -ZPSI_KVM_EOPNOTSUPP;
	if (!c->id)
		return -ZPSI_KVM_EPERM;
	if (regs->rdx > 1 || regs->rcx == 0)
		return -ZPSI_KVM_EINVAL;
	if (!hc_range_ok(c->ram_size, regs->rbx, regs->rcx))
		return -ZPSI_KVM_EFAULT;
	/* the range is inside RAM, so pages * 4096 cannot overflow here */
	if (regs->rdx == 1 && c->region_gpa && c->region_gpa >= regs->rbx &&
	    c->region_gpa - regs->rbx < regs->rcx * ZPSI_REGION_PAGE_SIZE)
		return -ZPSI_KVM_EINVAL;
	r = zpsi_registry_charge(reg, c->id, now_ns);
	if (r < 0)
		return hc_errno(r);
	c->balloon_gpa = regs->rbx;
	c->balloon_pages = regs->rcx;
	c->balloon_release = regs->rdx == 1;
	c->events |= ZPSI_HC_EV_BALLOON;
	return 0;
}

static const hc_handler hc_table[ZPSI_HC_LAST - ZPSI_HC_FIRST + 1] = {
	[ZPSI_HC_REGISTER - ZPSI_HC_FIRST] = hc_register,
	[ZPSI_HC_UPDATE - ZPSI_HC_FIRST] = hc_update,
	[ZPSI_HC_QUERY - ZPSI_HC_FIRST] = hc_query,
	[ZPSI_HC_HIBERNATE - ZPSI_HC_FIRST] = hc_hibernate,
	[ZPSI_HC_BALLOON - ZPSI_HC_FIRST] = hc_balloon,
};

int64_t zpsi_dispatch(struct zpsi_registry *reg, struct zpsi_caller *c,
		      const struct zpsi_hc_regs *regs, uint64_t now_ns)
{
	uint64_t nr = regs->rax;
	int64_t ret;

	c->calls++;
	c->events = 0;
	/* unsigned: a nr below HC_FIRST wraps to a huge index */
	if (nr - ZPSI_HC_FIRST >= ZPSI_ARRAY_SIZE(hc_table))
		ret = -ZPSI_KVM_ENOSYS;
	else
		ret = hc_table[nr - ZPSI_HC_FIRST](reg, c, regs, now_ns);
	if (ret < 0)
		c->errors++;
	return ret;
}
