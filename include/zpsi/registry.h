/* SPDX-License-Identifier: MIT */
/*
 * zpsi/registry.h - registered PSI guests, the exact weighted aggregate, the
 * power-state machine, per-guest rate limiting, and the hypercall
 * dispatcher on top of them (docs/abi.md "Hypercalls").
 *
 * Aggregate = sum(w_i * bp_i) / sum(w_i) over registered guests, kept as two
 * integer sums so that every update and every query is O(1) and exact.
 * Not thread-safe: one owner thread (the VMM's or zpsid's), or a lock
 * around it.
 */
#ifndef ZPSI_REGISTRY_H
#define ZPSI_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zpsi/abi.h"

struct zpsi_registry;

struct zpsi_registry_config {
	uint32_t capacity_max;	/* most guests at once; 0 = ZPSI_REGISTRY_DEFAULT_MAX */
	/* Token bucket per guest for UPDATE and HIBERNATE (and whatever the
	 * caller charges with zpsi_registry_charge): `rate_per_sec` tokens a
	 * second up to `burst`; a new guest starts with a full bucket.
	 * rate_per_sec == 0: unlimited.  rate_per_sec > 0 needs burst >= 1. */
	uint32_t rate_per_sec;
	uint32_t burst;
};
#define ZPSI_REGISTRY_DEFAULT_MAX	(1u << 20)
#define ZPSI_REGISTRY_DEFAULT_RATE	1000000u	/* updates/s per guest */
#define ZPSI_REGISTRY_DEFAULT_BURST	100000u

struct zpsi_guest_info {
	uint32_t id;
	uint32_t weight;
	uint16_t ratio_bp;
	uint8_t power;		/* enum zpsi_power_state */
	uint64_t committed, deferred;
	uint64_t updates;	/* accepted updates */
	uint64_t throttled;	/* refused by the rate limit */
	uint64_t registered_ns;
	uint64_t last_update_ns;	/* last accepted guest request (update,
					 * power request or charge) */
};

/* cfg may be NULL for the defaults.  0 or -errno. */
int zpsi_registry_new(const struct zpsi_registry_config *cfg, struct zpsi_registry **out);
/* Takes NULL; returns NULL. */
struct zpsi_registry *zpsi_registry_free(struct zpsi_registry *reg);

/* A new registration with ratio 0, power C0.  Ids start at 1 and are reused
 * after unregister.  -EINVAL weight out of [1, 65535], -E2BIG full, -ENOMEM. */
int zpsi_registry_register(struct zpsi_registry *reg, uint32_t weight, uint64_t now_ns,
			   uint32_t *id_out);
/* -ENOENT when id is not registered. */
int zpsi_registry_unregister(struct zpsi_registry *reg, uint32_t id);
int zpsi_registry_set_weight(struct zpsi_registry *reg, uint32_t id, uint32_t weight);

/* A guest's report.  -ENOENT, -EINVAL (bp > 10000, or a count went
 * backwards), -EBUSY (rate limited: nothing changed but `throttled`).
 * Arguments are checked before the rate limit, so a refused request never
 * costs a token. */
int zpsi_registry_update(struct zpsi_registry *reg, uint32_t id, uint32_t bp,
			 uint64_t committed, uint64_t deferred, uint64_t now_ns);

/* Power state.  From the guest (host == false): only the transitions
 * zpsi_power_transition_ok() allows, else -EINVAL; rate limited like
 * updates.  From the host (host == true): any valid state. */
int zpsi_registry_set_power(struct zpsi_registry *reg, uint32_t id, uint64_t state,
			    bool host, uint64_t now_ns);

/* Restore a guest's counters (committed, deferred, updates, throttled),
 * ratio and power state as they were (after a migration or a daemon
 * restart), bypassing monotonicity and rate checks; also its weight unless
 * in->weight is 0.  Timestamps are not restored: they belong to another
 * clock.  -ENOENT, -EINVAL (ratio, power state or weight out of range). */
int zpsi_registry_restore(struct zpsi_registry *reg, uint32_t id, const struct zpsi_guest_info *in);

/* Take one token from a guest's bucket for a request the registry does
 * not handle itself (the dispatcher's BALLOON).  -ENOENT, -EBUSY. */
int zpsi_registry_charge(struct zpsi_registry *reg, uint32_t id, uint64_t now_ns);

/* O(1).  0 when no guest is registered.  Rounded to nearest, ties up:
 * floor(sum_w_bp / sum_w + 1/2), computed exactly in integers. */
uint32_t zpsi_registry_aggregate_bp(const struct zpsi_registry *reg);
uint32_t zpsi_registry_count(const struct zpsi_registry *reg);
int zpsi_registry_get(const struct zpsi_registry *reg, uint32_t id, struct zpsi_guest_info *out);
/* The next registered id after `after` (0 starts), or 0 at the end. */
uint32_t zpsi_registry_next(const struct zpsi_registry *reg, uint32_t after);
/* Bytes the registry has allocated, array slack included (for the
 * per-guest memory benchmark).  The array never shrinks. */
size_t zpsi_registry_memory(const struct zpsi_registry *reg);

/* ---------------------------------------------------------------- */
/* Hypercall dispatcher                                              */
/* ---------------------------------------------------------------- */

/* The registers of a hypercall, KVM's convention. */
struct zpsi_hc_regs {
	uint64_t rax;	/* nr */
	uint64_t rbx, rcx, rdx, rsi;
};

/* What the host knows about the calling guest.  The guest never names a
 * registration: `id` is kept here, by the host, so a guest can only ever
 * touch its own.  A host that unregisters a guest itself must zero `id`
 * (ids are reused). */
struct zpsi_caller {
	uint32_t id;		/* 0: not registered */
	bool region_supported;	/* false: REGISTER with a GPA -> -EOPNOTSUPP */
	uint64_t ram_size;	/* region GPA must be a whole page below this */
	uint64_t region_gpa;	/* out: set by a REGISTER with a GPA; 0 = none.
				 * The host keeps it in step with CTRL.REGION. */
	bool balloon_supported;	/* false: BALLOON -> -EOPNOTSUPP */
	uint64_t balloon_gpa;	/* out: the range of the last valid BALLOON */
	uint64_t balloon_pages;
	bool balloon_release;	/* out: true = release, false = reclaim */
	uint32_t events;	/* out: ZPSI_HC_EV_* of the last dispatch */
	uint64_t calls, errors;	/* counters */
};

enum {
	ZPSI_HC_EV_REGISTERED	= 1 << 0,
	ZPSI_HC_EV_UPDATED	= 1 << 1,
	ZPSI_HC_EV_POWER	= 1 << 2,	/* power state changed */
	ZPSI_HC_EV_REGION_ON	= 1 << 3,	/* region_gpa set */
	ZPSI_HC_EV_BALLOON	= 1 << 4,	/* balloon_* hold a validated range:
						 * the host acts on it (madvise) */
};

/*
 * Handle one hypercall and return the value for RAX: >= 0 on success,
 * -ZPSI_KVM_* on error (unknown nr -1000; bad argument -22; not registered
 * -1; registry full or rate limited -7; bad region GPA -14; region not
 * offered -95).  Every register is checked as a 64-bit value.  A failed
 * call changes nothing but the counters and `events` (cleared).
 *
 * REGISTER: RBX weight in [1, 65535] else -22; RCX 0, or a page-aligned GPA
 * whose page lies inside RAM (else -14) when the region is offered (else
 * -95).  By a registered caller it updates its weight and returns its id;
 * RCX 0 then leaves region_gpa as it was.  Raises REGISTERED (and
 * REGION_ON with a GPA).
 * UPDATE: RBX <= 10000 and counts that never go backwards, else -22.
 * QUERY needs no registration and is not rate limited.
 * HIBERNATE: the guest's power rules, else -22; POWER when it changed.
 * BALLOON: -95 when not offered, then registration (-1), RDX 0 or 1 and
 * RCX >= 1 page (else -22), a page-aligned range inside RAM (else -14), a
 * release that does not cover region_gpa (else -22); charged to the rate
 * limit (-7).  The dispatcher only validates it and
 * raises ZPSI_HC_EV_BALLOON.
 */
int64_t zpsi_dispatch(struct zpsi_registry *reg, struct zpsi_caller *c,
		      const struct zpsi_hc_regs *regs, uint64_t now_ns);

#endif /* ZPSI_REGISTRY_H */
