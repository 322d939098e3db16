/* SPDX-License-Identifier: MIT */
/*
 * zpsi/policy.h - PSI tiers to resource shares (SPEC component 5).
 *
 * Default: bp <= 999 -> 100 %, 1000..3000 -> 80 %, >= 3001 -> 50 % (the
 * seed's "< 10 %, 10-30 % inclusive, > 30 %" in basis points).  With
 * hysteresis off the result is exactly that table.
 */
#ifndef ZPSI_POLICY_H
#define ZPSI_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZPSI_POLICY_MAX_TIERS	8
#define ZPSI_CPU_PERIOD_US_DEFAULT	100000u	/* the kernel's default CFS period */
#define ZPSI_CPU_PERIOD_US_MIN		1000u	/* the kernel's CFS limits: 1 ms.. */
#define ZPSI_CPU_PERIOD_US_MAX		1000000u	/* ..1 s */
#define ZPSI_CPU_QUOTA_US_MIN		1000u	/* the kernel refuses less than 1 ms */
#define ZPSI_POLICY_TIERS_STRMAX	(ZPSI_POLICY_MAX_TIERS * 13)	/* "10000:100.00," each */

struct zpsi_tier {
	uint16_t max_bp;	/* inclusive upper bound; the last tier's is 10000 */
	uint16_t share_bp;	/* share of the configured allocation, 1..10000 */
};

struct zpsi_policy {
	unsigned ntiers;
	struct zpsi_tier tiers[ZPSI_POLICY_MAX_TIERS];	/* ascending max_bp */
	uint16_t deadband_bp;	/* 0: off */
	uint64_t min_dwell_ns;	/* 0: off */
	uint32_t cpu_period_us;
};

/* The seed's table, hysteresis off, the default CPU period. */
void zpsi_policy_default(struct zpsi_policy *p);

/* Validate and install a tier table: 1..8 tiers, strictly ascending
 * max_bp, the last exactly 10000, shares in 1..10000.  -EINVAL otherwise
 * (p unchanged). */
int zpsi_policy_set_tiers(struct zpsi_policy *p, const struct zpsi_tier *t, unsigned n);

/* The whole policy is usable: tiers as zpsi_policy_set_tiers() demands,
 * deadband_bp <= 10000, cpu_period_us within the kernel's 1000..1000000.
 * 0 or -EINVAL. */
int zpsi_policy_validate(const struct zpsi_policy *p);

/*
 * Parse "999:100,3000:80,10000:50" (max bp : share percent) into p's tiers.
 * Strict: decimal digits only (no sign, no exponent), max bp <= 10000, the
 * percent 0..100 with at most two decimals ("62.5", "62.50") and an optional
 * '%' right after it; blanks (space, tab) are allowed around each entry and
 * nowhere else; no empty entries, nothing after the last.  The result must
 * then pass zpsi_policy_set_tiers().  0, or -EINVAL with p unchanged.
 */
int zpsi_policy_parse_tiers(struct zpsi_policy *p, const char *spec);

/* The inverse: p's tiers in the canonical form of zpsi_policy_parse_tiers()
 * ("999:100,3000:80,10000:50"; shares that are not whole percents get their
 * decimals).  ZPSI_POLICY_TIERS_STRMAX bytes always suffice.  0, -EINVAL
 * for an invalid table, or -ENOBUFS (buf then holds "" if size > 0). */
int zpsi_policy_format_tiers(const struct zpsi_policy *p, char *buf, size_t size);

/* The tier a ratio falls in, ignoring hysteresis (bp above 10000 counts as
 * 10000). */
unsigned zpsi_policy_tier_of(const struct zpsi_policy *p, uint32_t bp);

/* What a VM is configured with. */
struct zpsi_vm_size {
	uint32_t vcpus;
	uint64_t mem_bytes;
};

/* The decision for one VM. */
struct zpsi_alloc {
	unsigned tier;
	uint16_t share_bp;
	uint64_t cpu_quota_us;	/* vcpus * period * share, >= 1000 (kernel min) */
	uint32_t cpu_period_us;
	uint64_t mem_target_bytes;	/* mem * share, rounded down to 4 KiB */
};

/* Hysteresis memory for one VM; zero-initialise. */
struct zpsi_policy_state {
	bool valid;
	unsigned tier;
	uint64_t since_ns;	/* when the current tier was entered */
};

/*
 * Decide the allocation for a VM whose ratio is `bp` at `now_ns` (a
 * monotonic clock).  Hysteresis, both parts optional:
 *  - dead band D: moving up into tier i needs bp >= (lowest bp of tier i) + D,
 *    moving down into tier i needs bp <= tiers[i].max_bp - D, i.e. the ratio
 *    must be D deep inside the new tier; in between the current tier holds;
 *  - dwell T: a tier is held for at least T after it was entered, whatever
 *    the ratio does (a clock that went backwards counts as no time passed).
 * With D = 0 and T = 0 the result is exactly zpsi_policy_tier_of().  The
 * first decision (st->valid false), or a state whose tier no longer exists
 * in p, takes the raw tier.  Returns 1 if the tier changed (or this is the
 * first decision), 0 if not; *out is always written.
 */
int zpsi_policy_decide(const struct zpsi_policy *p, struct zpsi_policy_state *st, uint32_t bp,
		       uint64_t now_ns, const struct zpsi_vm_size *vm, struct zpsi_alloc *out);

/* The allocation for a given tier (no hysteresis, no state); a tier beyond
 * the table counts as the last one.  cpu_quota_us = vcpus * period * share /
 * 10000 rounded down, at least ZPSI_CPU_QUOTA_US_MIN; mem_target_bytes =
 * mem * share / 10000 rounded down to 4 KiB.  Exact for any input. */
void zpsi_policy_alloc(const struct zpsi_policy *p, unsigned tier, const struct zpsi_vm_size *vm,
		       struct zpsi_alloc *out);

#endif /* ZPSI_POLICY_H */
