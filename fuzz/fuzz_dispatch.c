/* SPDX-License-Identifier: MIT */
/*
 * fuzz_dispatch.c - the hypercall dispatcher: several guests, one small
 * registry, a synthetic clock that may jump anywhere (backwards too), and
 * host actions in between.  After every step:
 *   - RAX is in the documented set for that call,
 *   - no call by one guest changed another guest's registration,
 *   - ids are unique and a re-registration keeps its id,
 *   - the aggregate equals the rounded exact average over a shadow model
 *     kept from the results alone, and over the registry's own listing.
 *
 * Input: 3 header bytes (capacity, offered features, rate limit; RAM size),
 * then 28-byte ops: selector, caller, clock step (LE u16), RBX, RCX, RDX.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zpsi/registry.h"

#define CHECK(x) do { if (!(x)) abort(); } while (0)
#define FUZZ_CALLERS 6
#define FUZZ_OP_SIZE 28

struct fuzz_shadow {
	bool registered;
	uint32_t weight, bp;
};

static const uint32_t fuzz_rates[4] = { 0, 10, 1000, 1000000 };
static const uint64_t fuzz_ram[4] = { 0, 4096, 1ull << 20, UINT64_MAX & ~0xFFFull };

static uint64_t fuzz_u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Small values pass more checks; the fuzzer picks per argument. */
static uint64_t fuzz_shape(uint64_t v, unsigned how)
{
	switch (how & 3) {
	case 0: return v;
	case 1: return v & 0xFFFF;
	case 2: return v % 10002;
	default: return v & 0xFFFFF000ull;
	}
}

static uint64_t fuzz_expect_bp(const struct fuzz_shadow *s)
{
	uint64_t num = 0, den = 0;

	for (int i = 0; i < FUZZ_CALLERS; i++) {
		if (s[i].registered) {
			num += (uint64_t)s[i].weight * s[i].bp;
			den += s[i].weight;
		}
	}
	return den ? (2 * num + den) / (2 * den) : 0;
}

static uint64_t fuzz_listing_bp(const struct zpsi_registry *reg, uint32_t *count)
{
	uint64_t num = 0, den = 0;
	uint32_t n = 0;

	for (uint32_t id = zpsi_registry_next(reg, 0); id; id = zpsi_registry_next(reg, id)) {
		struct zpsi_guest_info gi;

		CHECK(zpsi_registry_get(reg, id, &gi) == 0 && gi.id == id);
		CHECK(gi.weight >= 1 && gi.weight <= 65535 && gi.ratio_bp <= 10000);
		CHECK(zpsi_power_valid(gi.power));
		num += (uint64_t)gi.weight * gi.ratio_bp;
		den += gi.weight;
		n++;
	}
	*count = n;
	return den ? (2 * num + den) / (2 * den) : 0;
}

static bool fuzz_rax_ok(uint64_t nr, int64_t r)
{
	switch (nr) {
	case ZPSI_HC_REGISTER:
		return r > 0 || r == -ZPSI_KVM_EINVAL || r == -ZPSI_KVM_EOPNOTSUPP ||
		       r == -ZPSI_KVM_EFAULT || r == -ZPSI_KVM_E2BIG;
	case ZPSI_HC_UPDATE:
	case ZPSI_HC_HIBERNATE:
		return r == 0 || r == -ZPSI_KVM_EPERM || r == -ZPSI_KVM_EINVAL || r == -ZPSI_KVM_E2BIG;
	case ZPSI_HC_QUERY:
		return r >= 0 && r <= ZPSI_BP_MAX;
	case ZPSI_HC_BALLOON:
		return r == 0 || r == -ZPSI_KVM_EOPNOTSUPP || r == -ZPSI_KVM_EPERM ||
		       r == -ZPSI_KVM_EINVAL || r == -ZPSI_KVM_EFAULT || r == -ZPSI_KVM_E2BIG;
	default:
		return r == -ZPSI_KVM_ENOSYS;
	}
}

static bool fuzz_same_guest(const struct zpsi_guest_info *a, const struct zpsi_guest_info *b)
{
	return a->id == b->id && a->weight == b->weight && a->ratio_bp == b->ratio_bp &&
	       a->power == b->power && a->committed == b->committed && a->deferred == b->deferred &&
	       a->updates == b->updates && a->throttled == b->throttled &&
	       a->last_update_ns == b->last_update_ns;
}

/* One guest hypercall, with the checks that only need its own view. */
static void fuzz_guest_call(struct zpsi_registry *reg, struct zpsi_caller *c, struct zpsi_caller *all,
			    struct fuzz_shadow *s, int who, const struct zpsi_hc_regs *regs, uint64_t now)
{
	struct zpsi_guest_info before[FUZZ_CALLERS];
	uint32_t old_id = c->id;
	int64_t r;

	for (int i = 0; i < FUZZ_CALLERS; i++)
		if (all[i].id && zpsi_registry_get(reg, all[i].id, &before[i]) < 0)
			abort();
	r = zpsi_dispatch(reg, c, regs, now);
	CHECK(fuzz_rax_ok(regs->rax, r));
	CHECK(r >= 0 || c->events == 0);

	for (int i = 0; i < FUZZ_CALLERS; i++) {
		struct zpsi_guest_info now_gi;

		if (i == who || !all[i].id)
			continue;
		CHECK(zpsi_registry_get(reg, all[i].id, &now_gi) == 0);
		CHECK(fuzz_same_guest(&before[i], &now_gi));
		CHECK(all[i].id != c->id || !c->id);
	}
	if (r < 0) {
		CHECK(c->id == old_id);
		return;
	}
	switch (regs->rax) {
	case ZPSI_HC_REGISTER:
		CHECK(c->events & ZPSI_HC_EV_REGISTERED);
		CHECK(!(c->events & ZPSI_HC_EV_REGION_ON) == !regs->rcx);
		CHECK(!regs->rcx || c->region_gpa == regs->rcx);
		CHECK((uint64_t)r == c->id);
		CHECK(!old_id || old_id == c->id);
		if (!s[who].registered)
			s[who].bp = 0;
		s[who].registered = true;
		s[who].weight = (uint32_t)regs->rbx;
		break;
	case ZPSI_HC_UPDATE:
		CHECK(c->events == ZPSI_HC_EV_UPDATED);
		s[who].bp = (uint32_t)regs->rbx;
		break;
	case ZPSI_HC_QUERY:
		CHECK(c->events == 0);
		CHECK((uint64_t)r == fuzz_expect_bp(s));
		break;
	case ZPSI_HC_HIBERNATE: {
		struct zpsi_guest_info after;

		CHECK(zpsi_registry_get(reg, c->id, &after) == 0 && after.power == regs->rbx);
		CHECK(!(c->events & ZPSI_HC_EV_POWER) == (before[who].power == after.power));
		CHECK(regs->rbx == 0 || regs->rbx == zpsi_power_next(before[who].power));
		break;
	}
	case ZPSI_HC_BALLOON:
		CHECK(c->events == ZPSI_HC_EV_BALLOON);
		CHECK(c->balloon_supported && c->balloon_pages >= 1);
		CHECK((c->balloon_gpa & 0xFFF) == 0);
		CHECK(c->balloon_pages <= c->ram_size / 4096 &&
		      c->balloon_gpa <= c->ram_size - c->balloon_pages * 4096);
		CHECK(!c->balloon_release || !c->region_gpa || c->region_gpa < c->balloon_gpa ||
		      c->region_gpa - c->balloon_gpa >= c->balloon_pages * 4096);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zpsi_registry_config cfg;
	struct zpsi_registry *reg = NULL;
	struct zpsi_caller c[FUZZ_CALLERS];
	struct fuzz_shadow s[FUZZ_CALLERS];
	uint64_t now = 0;

	if (size < 3)
		return 0;
	cfg = (struct zpsi_registry_config){
		.capacity_max = 1 + (data[0] & 3),
		.rate_per_sec = fuzz_rates[(data[0] >> 5) & 3],
		.burst = 1 + data[1] % 16,
	};
	if (zpsi_registry_new(&cfg, &reg) < 0)
		abort();
	memset(s, 0, sizeof(s));
	for (int i = 0; i < FUZZ_CALLERS; i++)
		c[i] = (struct zpsi_caller){
			.region_supported = data[0] & 4,
			.balloon_supported = data[0] & 8,
			.ram_size = fuzz_ram[(data[2] + i) & 3],
		};
	data += 3;
	size -= 3;

	for (; size >= FUZZ_OP_SIZE; data += FUZZ_OP_SIZE, size -= FUZZ_OP_SIZE) {
		uint8_t sel = data[0];
		int who = data[1] % FUZZ_CALLERS;
		uint64_t a0 = fuzz_u64(data + 4), a1 = fuzz_u64(data + 12), a2 = fuzz_u64(data + 20);
		struct zpsi_hc_regs regs = {
			.rbx = fuzz_shape(a0, sel >> 3),
			.rcx = fuzz_shape(a1, sel >> 5),
			.rdx = fuzz_shape(a2, data[1] >> 6),
			.rsi = a2,
		};
		uint32_t count;

		if (sel & 0x80)
			now = a2 ^ a1;		/* any instant, even earlier */
		else
			now += (uint64_t)(data[2] | data[3] << 8) * 1000;

		switch (sel & 7) {
		case 5:	/* the host drops the guest and forgets its id */
			if (c[who].id) {
				CHECK(zpsi_registry_unregister(reg, c[who].id) == 0);
				c[who].id = 0;
				s[who].registered = false;
			}
			break;
		case 6:	/* the host sets a power state */
			if (c[who].id)
				CHECK(zpsi_registry_set_power(reg, c[who].id, a0 & 7, true, now) ==
				      (zpsi_power_valid(a0 & 7) ? 0 : -EINVAL));
			break;
		default:
			regs.rax = (sel & 7) == 7 ? (a2 & 1 ? a2 : ZPSI_HC_FIRST + (a2 >> 1) % 8)
						   : ZPSI_HC_FIRST + (sel & 7);
			fuzz_guest_call(reg, &c[who], c, s, who, &regs, now);
			break;
		}
		CHECK(zpsi_registry_aggregate_bp(reg) == fuzz_expect_bp(s));
		CHECK(fuzz_listing_bp(reg, &count) == fuzz_expect_bp(s));
		CHECK(count == zpsi_registry_count(reg) && count <= cfg.capacity_max);
		for (int i = 0; i < FUZZ_CALLERS; i++)
			CHECK(s[i].registered == (c[i].id != 0));
	}
	zpsi_registry_free(reg);
	return 0;
}
