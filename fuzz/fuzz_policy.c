/* SPDX-License-Identifier: MIT */
/*
 * fuzz_policy.c - the tier parser and the hysteresis on hostile input.
 *
 * Input: a tier spec up to the first NUL (operator text from a config file
 * or a control socket), then a tail that drives the decision loop: two
 * bytes of dead band, one byte of dwell (ms), then (le16 ratio, u8 time
 * step in ms) triples.  Oracles: a failed parse leaves the policy as it
 * was; an accepted spec formats and re-parses to the same table; every
 * decision matches a model of the documented hysteresis rule, and with
 * hysteresis off it is exactly the raw table; the allocation keeps its
 * bounds (quota >= 1 ms, memory target 4 KiB aligned and within the VM).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zpsi/abi.h"
#include "zpsi/policy.h"

#define FUZZ_SPEC_MAX	512
#define FUZZ_MAX_STEPS	4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned lowest_bp(const struct zpsi_policy *p, unsigned tier)
{
	return tier ? p->tiers[tier - 1].max_bp + 1u : 0u;
}

static void check_alloc(const struct zpsi_policy *p, const struct zpsi_vm_size *vm,
			const struct zpsi_alloc *a)
{
	uint64_t full = (uint64_t)vm->vcpus * p->cpu_period_us;

	if (a->tier >= p->ntiers || a->share_bp != p->tiers[a->tier].share_bp ||
	    a->cpu_period_us != p->cpu_period_us || a->cpu_quota_us < ZPSI_CPU_QUOTA_US_MIN ||
	    (a->cpu_quota_us > full && a->cpu_quota_us != ZPSI_CPU_QUOTA_US_MIN) ||
	    a->mem_target_bytes % 4096 || a->mem_target_bytes > vm->mem_bytes)
		abort();
}

static void drive(const struct zpsi_policy *p, const uint8_t *t, size_t n)
{
	struct zpsi_policy_state st = { 0 };
	struct zpsi_vm_size vm = { .vcpus = 1, .mem_bytes = 1ull << 30 };
	uint64_t now = 0;

	for (size_t i = 0; i + 3 <= n && i / 3 < FUZZ_MAX_STEPS; i += 3) {
		uint32_t bp = (uint32_t)t[i] | (uint32_t)t[i + 1] << 8;	/* may exceed 10000 */
		uint32_t cbp = bp > ZPSI_BP_MAX ? ZPSI_BP_MAX : bp;	/* documented clamp */
		unsigned before = st.tier, raw = zpsi_policy_tier_of(p, bp);
		unsigned up = zpsi_policy_tier_of(p, cbp >= p->deadband_bp ? cbp - p->deadband_bp : 0);
		unsigned down = zpsi_policy_tier_of(p, cbp + p->deadband_bp);
		uint64_t held = now - st.since_ns;
		int first = !st.valid, changed;
		struct zpsi_alloc a;

		vm.vcpus = (uint32_t)t[i + 2] * 17 + 1;
		vm.mem_bytes = ((uint64_t)t[i] << 40) | ((uint64_t)t[i + 2] << 3);
		changed = zpsi_policy_decide(p, &st, bp, now, &vm, &a);
		check_alloc(p, &vm, &a);
		if (a.tier != st.tier || (changed != 0) != (first || st.tier != before))
			abort();
		if (p->deadband_bp == 0 && p->min_dwell_ns == 0 && a.tier != raw)
			abort();
		if (first) {
			if (a.tier != raw)
				abort();
		} else if (changed) {
			/* a move needs the dwell served and lands where the band says */
			if (held < p->min_dwell_ns)
				abort();
			if (a.tier > before ? a.tier != up : a.tier != down)
				abort();
			if (a.tier > before && cbp < lowest_bp(p, a.tier) + p->deadband_bp)
				abort();
			if (a.tier < before && cbp + p->deadband_bp > p->tiers[a.tier].max_bp)
				abort();
		} else if (held >= p->min_dwell_ns && (up > before || down < before)) {
			abort();	/* a move was owed and not made */
		}
		now += (uint64_t)t[i + 2] * 1000000u;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zpsi_policy p, before;
	char spec[FUZZ_SPEC_MAX + 1], text[ZPSI_POLICY_TIERS_STRMAX];
	const uint8_t *nul = memchr(data, '\0', size);
	size_t l = nul ? (size_t)(nul - data) : size;
	int r;

	if (l > FUZZ_SPEC_MAX)
		l = FUZZ_SPEC_MAX;
	memcpy(spec, data, l);
	spec[l] = '\0';

	zpsi_policy_default(&p);
	memcpy(&before, &p, sizeof(p));	/* padding too, for memcmp */
	r = zpsi_policy_parse_tiers(&p, spec);
	if (r != 0) {
		if (memcmp(&p, &before, sizeof(p)) != 0)
			abort();
	} else {
		struct zpsi_policy q;

		if (zpsi_policy_validate(&p) != 0 ||
		    zpsi_policy_format_tiers(&p, text, sizeof(text)) != 0)
			abort();
		zpsi_policy_default(&q);
		if (zpsi_policy_parse_tiers(&q, text) != 0 || q.ntiers != p.ntiers ||
		    memcmp(q.tiers, p.tiers, sizeof(p.tiers)) != 0)
			abort();
	}

	if (nul && size - (size_t)(nul - data) - 1 > 3) {
		const uint8_t *t = nul + 1;
		size_t n = size - (size_t)(nul - data) - 1;

		p.deadband_bp = (uint16_t)(((unsigned)t[0] | (unsigned)t[1] << 8) % (ZPSI_BP_MAX + 1));
		p.min_dwell_ns = (uint64_t)t[2] * 1000000u;
		if (zpsi_policy_validate(&p) != 0)
			abort();
		drive(&p, t + 3, n - 3);
	}
	return 0;
}
