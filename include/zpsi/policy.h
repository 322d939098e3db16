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
#include <stdint.h>

#define ZPSI_POLICY_MAX_TIERS	8
#define ZPSI_CPU_PERIOD_US_DEFAULT	100000u	/* the kernel's default CFS period */

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

/* Parse "999:100,3000:80,10000:50" (max bp : share percent, percent may have
 * up to two decimals) into p's tiers.  0 or -EINVAL. */
int zpsi_policy_parse_tiers(struct zpsi_policy *p, const char *spec);

/* The tier a ratio falls in, ignoring hysteresis. */
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
 * Decide the allocation for a VM whose ratio is `bp` at `now_ns`.  With a
 * dead band D a tier change needs bp to be more than D past the boundary it
 * crosses; with a dwell T the tier must have been held for T.  The first
 * decision always takes the raw tier.  Returns 1 if the tier changed (or
 * this is the first decision), 0 if not; *out is always written.
 */
int zpsi_policy_decide(const struct zpsi_policy *p, struct zpsi_policy_state *st, uint32_t bp,
		       uint64_t now_ns, const struct zpsi_vm_size *vm, struct zpsi_alloc *out);

/* The allocation for a given tier (no hysteresis, no state). */
void zpsi_policy_alloc(const struct zpsi_policy *p, unsigned tier, const struct zpsi_vm_size *vm,
		       struct zpsi_alloc *out);

#endif /* ZPSI_POLICY_H */
