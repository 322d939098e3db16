/* SPDX-License-Identifier: MIT */
/* test_dispatch.c - every hypercall with valid and hostile arguments and the
 * exact RAX it returns, isolation between guests, and the seed's scenario. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "zpsi/registry.h"

#define RAM (256ull << 20)
#define SEC 1000000000ull
#define ENOSYS_K (-ZPSI_KVM_ENOSYS)
#define EINVAL_K (-ZPSI_KVM_EINVAL)
#define EPERM_K (-ZPSI_KVM_EPERM)
#define E2BIG_K (-ZPSI_KVM_E2BIG)
#define EFAULT_K (-ZPSI_KVM_EFAULT)
#define EOPNOTSUPP_K (-ZPSI_KVM_EOPNOTSUPP)

static uint64_t prng_state;

static uint64_t prng(void)	/* splitmix64 */
{
	uint64_t z = (prng_state += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static struct zpsi_caller caller(bool region, bool balloon)
{
	return (struct zpsi_caller){ .region_supported = region, .balloon_supported = balloon,
				     .ram_size = RAM };
}

static struct zpsi_registry *new_reg(uint32_t cap, uint32_t rate, uint32_t burst)
{
	struct zpsi_registry_config cfg = { .capacity_max = cap, .rate_per_sec = rate, .burst = burst };
	struct zpsi_registry *reg = NULL;

	assert_int_equal(zpsi_registry_new(&cfg, &reg), 0);
	return reg;
}

static int64_t hc(struct zpsi_registry *reg, struct zpsi_caller *c, uint64_t nr, uint64_t rbx,
		  uint64_t rcx, uint64_t rdx, uint64_t now)
{
	struct zpsi_hc_regs r = { .rax = nr, .rbx = rbx, .rcx = rcx, .rdx = rdx, .rsi = 0 };

	return zpsi_dispatch(reg, c, &r, now);
}

static void test_unknown_nr(void **state)
{
	static const uint64_t bad[] = {
		0, 1, 9, 12, 0x01000000, 0x01000006, 0x010000FF, 0x02000001, 0xFFFFFFFF,
		0x101000001ull, 0x0100000001000002ull, UINT64_MAX, 1ull << 63,
	};
	struct zpsi_registry *reg = new_reg(0, 0, 0);
	struct zpsi_caller c = caller(true, true);

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(hc(reg, &c, bad[i], 1, 0, 0, 0), ENOSYS_K);
		assert_int_equal(c.events, 0);
	}
	assert_int_equal(c.calls, sizeof(bad) / sizeof(bad[0]));
	assert_int_equal(c.errors, c.calls);
	assert_int_equal(c.id, 0);
	assert_int_equal(zpsi_registry_count(reg), 0);
	zpsi_registry_free(reg);
}

static void test_register(void **state)
{
	struct zpsi_registry *reg = new_reg(0, 0, 0);
	struct zpsi_caller a = caller(false, false), b = caller(false, false);
	struct zpsi_guest_info gi;

	(void)state;
	assert_int_equal(hc(reg, &a, ZPSI_HC_REGISTER, 0, 0, 0, 0), EINVAL_K);
	assert_int_equal(hc(reg, &a, ZPSI_HC_REGISTER, 65536, 0, 0, 0), EINVAL_K);
	assert_int_equal(hc(reg, &a, ZPSI_HC_REGISTER, (1ull << 32) + 1, 0, 0, 0), EINVAL_K);
	assert_int_equal(hc(reg, &a, ZPSI_HC_REGISTER, UINT64_MAX, 0, 0, 0), EINVAL_K);
	assert_int_equal(a.id, 0);
	assert_int_equal(zpsi_registry_count(reg), 0);

	assert_int_equal(hc(reg, &a, ZPSI_HC_REGISTER, 1, 0, 0, 0), 1);
	assert_int_equal(a.id, 1);
	assert_int_equal(a.events, ZPSI_HC_EV_REGISTERED);
	assert_int_equal(hc(reg, &b, ZPSI_HC_REGISTER, 65535, 0, 0, 0), 2);
	/* idempotent: same id, new weight, no second registration */
	assert_int_equal(hc(reg, &a, ZPSI_HC_REGISTER, 7, 0, 0, 0), 1);
	assert_int_equal(hc(reg, &a, ZPSI_HC_REGISTER, 7, 0, 0, 0), 1);
	assert_int_equal(zpsi_registry_count(reg), 2);
	assert_int_equal(zpsi_registry_get(reg, 1, &gi), 0);
	assert_int_equal(gi.weight, 7);
	/* a bad re-registration keeps the old weight */
	assert_int_equal(hc(reg, &a, ZPSI_HC_REGISTER, 0, 0, 0, 0), EINVAL_K);
	assert_int_equal(a.events, 0);
	assert_int_equal(zpsi_registry_get(reg, 1, &gi), 0);
	assert_int_equal(gi.weight, 7);
	assert_int_equal(a.id, 1);
	/* RSI and RDX are not arguments of REGISTER */
	struct zpsi_hc_regs r = { .rax = ZPSI_HC_REGISTER, .rbx = 9, .rdx = ~0ull, .rsi = ~0ull };
	assert_int_equal(zpsi_dispatch(reg, &a, &r, 0), 1);
	zpsi_registry_free(reg);
}

static void test_register_region(void **state)
{
	struct zpsi_registry *reg = new_reg(0, 0, 0);
	struct zpsi_caller no = caller(false, false), c = caller(true, false);

	(void)state;
	assert_int_equal(hc(reg, &no, ZPSI_HC_REGISTER, 1, 0x1000, 0, 0), EOPNOTSUPP_K);
	assert_int_equal(hc(reg, &no, ZPSI_HC_REGISTER, 0, 0x1000, 0, 0), EINVAL_K);	/* weight first */
	assert_int_equal(no.id, 0);

	assert_int_equal(hc(reg, &c, ZPSI_HC_REGISTER, 1, 0x1001, 0, 0), EFAULT_K);
	assert_int_equal(hc(reg, &c, ZPSI_HC_REGISTER, 1, 0x1800, 0, 0), EFAULT_K);
	assert_int_equal(hc(reg, &c, ZPSI_HC_REGISTER, 1, RAM, 0, 0), EFAULT_K);
	assert_int_equal(hc(reg, &c, ZPSI_HC_REGISTER, 1, RAM - 0x800, 0, 0), EFAULT_K);
	assert_int_equal(hc(reg, &c, ZPSI_HC_REGISTER, 1, UINT64_MAX & ~0xFFFull, 0, 0), EFAULT_K);
	assert_int_equal(c.id, 0);
	assert_int_equal(c.region_gpa, 0);
	assert_int_equal(zpsi_registry_count(reg), 0);

	assert_int_equal(hc(reg, &c, ZPSI_HC_REGISTER, 1, RAM - 0x1000, 0, 0), 1);
	assert_int_equal(c.events, ZPSI_HC_EV_REGISTERED | ZPSI_HC_EV_REGION_ON);
	assert_int_equal(c.region_gpa, RAM - 0x1000);
	/* RCX 0 on a re-registration keeps the region */
	assert_int_equal(hc(reg, &c, ZPSI_HC_REGISTER, 2, 0, 0, 0), 1);
	assert_int_equal(c.events, ZPSI_HC_EV_REGISTERED);
	assert_int_equal(c.region_gpa, RAM - 0x1000);
	/* moving it; a bad move changes nothing */
	assert_int_equal(hc(reg, &c, ZPSI_HC_REGISTER, 2, 0x2000, 0, 0), 1);
	assert_int_equal(c.region_gpa, 0x2000);
	assert_int_equal(hc(reg, &c, ZPSI_HC_REGISTER, 3, RAM, 0, 0), EFAULT_K);
	assert_int_equal(c.region_gpa, 0x2000);
	zpsi_registry_free(reg);
}

static void test_register_full(void **state)
{
	struct zpsi_registry *reg = new_reg(2, 0, 0);
	struct zpsi_caller a = caller(false, false), b = caller(false, false), d = caller(false, false);

	(void)state;
	assert_int_equal(hc(reg, &a, ZPSI_HC_REGISTER, 1, 0, 0, 0), 1);
	assert_int_equal(hc(reg, &b, ZPSI_HC_REGISTER, 1, 0, 0, 0), 2);
	assert_int_equal(hc(reg, &d, ZPSI_HC_REGISTER, 1, 0, 0, 0), E2BIG_K);
	assert_int_equal(d.id, 0);
	/* a registered guest can still re-register when full */
	assert_int_equal(hc(reg, &a, ZPSI_HC_REGISTER, 5, 0, 0, 0), 1);
	/* the host drops b (and, as it must, forgets its id): d gets the slot */
	assert_int_equal(zpsi_registry_unregister(reg, b.id), 0);
	b.id = 0;
	assert_int_equal(hc(reg, &d, ZPSI_HC_REGISTER, 1, 0, 0, 0), 2);
	assert_int_equal(hc(reg, &b, ZPSI_HC_UPDATE, 1, 0, 0, 0), EPERM_K);
	zpsi_registry_free(reg);
}

static void test_update(void **state)
{
	struct zpsi_registry *reg = new_reg(0, 0, 0);
	struct zpsi_caller c = caller(false, false);
	struct zpsi_guest_info gi;

	(void)state;
	assert_int_equal(hc(reg, &c, ZPSI_HC_UPDATE, 1, 0, 0, 0), EPERM_K);
	assert_int_equal(hc(reg, &c, ZPSI_HC_REGISTER, 3, 0, 0, 0), 1);
	assert_int_equal(hc(reg, &c, ZPSI_HC_UPDATE, 0, 0, 0, 0), 0);
	assert_int_equal(c.events, ZPSI_HC_EV_UPDATED);
	assert_int_equal(hc(reg, &c, ZPSI_HC_UPDATE, 10000, 10, 20, 0), 0);
	assert_int_equal(hc(reg, &c, ZPSI_HC_UPDATE, 10001, 10, 20, 0), EINVAL_K);
	assert_int_equal(c.events, 0);
	assert_int_equal(hc(reg, &c, ZPSI_HC_UPDATE, 0xFFFF, 10, 20, 0), EINVAL_K);
	/* 2^32 + 5 must not pass as 5 */
	assert_int_equal(hc(reg, &c, ZPSI_HC_UPDATE, (1ull << 32) + 5, 10, 20, 0), EINVAL_K);
	assert_int_equal(hc(reg, &c, ZPSI_HC_UPDATE, UINT64_MAX, 10, 20, 0), EINVAL_K);
	assert_int_equal(hc(reg, &c, ZPSI_HC_UPDATE, 5, 9, 20, 0), EINVAL_K);	/* backwards */
	assert_int_equal(hc(reg, &c, ZPSI_HC_UPDATE, 5, 10, 19, 0), EINVAL_K);
	assert_int_equal(zpsi_registry_get(reg, c.id, &gi), 0);
	assert_int_equal(gi.ratio_bp, 10000);
	assert_int_equal(gi.committed, 10);
	assert_int_equal(gi.deferred, 20);
	assert_int_equal(hc(reg, &c, ZPSI_HC_UPDATE, 2500, UINT64_MAX, UINT64_MAX, 0), 0);
	assert_int_equal(hc(reg, &c, ZPSI_HC_QUERY, 0, 0, 0, 0), 2500);
	assert_int_equal(c.calls, 12);
	assert_int_equal(c.errors, 7);
	zpsi_registry_free(reg);
}

static void test_update_rate_limited(void **state)
{
	struct zpsi_registry *reg = new_reg(0, 100, 10);
	struct zpsi_caller flood = caller(false, false), calm = caller(false, false);
	int ok = 0, busy = 0;

	(void)state;
	assert_int_equal(hc(reg, &flood, ZPSI_HC_REGISTER, 1, 0, 0, 0), 1);
	assert_int_equal(hc(reg, &calm, ZPSI_HC_REGISTER, 1, 0, 0, 0), 2);
	for (int i = 0; i < 1000; i++) {
		int64_t r = hc(reg, &flood, ZPSI_HC_UPDATE, 10000, 0, 0, (uint64_t)i * 100000);

		assert_true(r == 0 || r == E2BIG_K);
		r == 0 ? ok++ : busy++;
		if (i % 100 == 0)
			assert_int_equal(hc(reg, &calm, ZPSI_HC_UPDATE, 0, 0, 0, (uint64_t)i * 100000), 0);
	}
	/* 0.1 s at 100/s after a burst of 10: 10 + 10 tokens (the last poll
	 * is at 99.9 ms, so 19 or 20 depending on where the 10th lands) */
	assert_true(ok >= 19 && ok <= 20);
	assert_int_equal(ok + busy, 1000);
	assert_int_equal(hc(reg, &calm, ZPSI_HC_QUERY, 0, 0, 0, 0), 5000);
	/* queries are never limited */
	for (int i = 0; i < 1000; i++)
		assert_int_equal(hc(reg, &flood, ZPSI_HC_QUERY, 0, 0, 0, 0), 5000);
	zpsi_registry_free(reg);
}

static void test_query(void **state)
{
	struct zpsi_registry *reg = new_reg(0, 0, 0);
	struct zpsi_caller a = caller(false, false), b = caller(false, false), q = caller(false, false);

	(void)state;
	assert_int_equal(hc(reg, &q, ZPSI_HC_QUERY, 0, 0, 0, 0), 0);	/* nobody registered */
	assert_int_equal(hc(reg, &a, ZPSI_HC_REGISTER, 1, 0, 0, 0), 1);
	assert_int_equal(hc(reg, &b, ZPSI_HC_REGISTER, 3, 0, 0, 0), 2);
	assert_int_equal(hc(reg, &a, ZPSI_HC_UPDATE, 10000, 0, 0, 0), 0);
	assert_int_equal(hc(reg, &q, ZPSI_HC_QUERY, ~0ull, ~0ull, ~0ull, 0), 2500);
	assert_int_equal(q.events, 0);
	assert_int_equal(q.errors, 0);
	assert_int_equal(hc(reg, &b, ZPSI_HC_UPDATE, 1, 0, 0, 0), 0);
	assert_int_equal(hc(reg, &q, ZPSI_HC_QUERY, 0, 0, 0, 0), 2501);	/* 10003/4 = 2500.75 */
	assert_int_equal(zpsi_registry_unregister(reg, a.id), 0);
	a.id = 0;
	assert_int_equal(hc(reg, &q, ZPSI_HC_QUERY, 0, 0, 0, 0), 1);
	zpsi_registry_free(reg);
}

static void test_hibernate(void **state)
{
	struct zpsi_registry *reg = new_reg(0, 0, 0);
	struct zpsi_caller c = caller(false, false);
	struct zpsi_guest_info gi;

	(void)state;
	assert_int_equal(hc(reg, &c, ZPSI_HC_HIBERNATE, 1, 0, 0, 0), EPERM_K);
	assert_int_equal(hc(reg, &c, ZPSI_HC_REGISTER, 1, 0, 0, 0), 1);
	assert_int_equal(hc(reg, &c, ZPSI_HC_HIBERNATE, 0, 0, 0, 0), 0);	/* C0 -> C0: no-op */
	assert_int_equal(c.events, 0);
	assert_int_equal(hc(reg, &c, ZPSI_HC_HIBERNATE, 3, 0, 0, 0), EINVAL_K);	/* skips C1 */
	assert_int_equal(hc(reg, &c, ZPSI_HC_HIBERNATE, 2, 0, 0, 0), EINVAL_K);
	assert_int_equal(hc(reg, &c, ZPSI_HC_HIBERNATE, (1ull << 32) + 1, 0, 0, 0), EINVAL_K);
	assert_int_equal(hc(reg, &c, ZPSI_HC_HIBERNATE, 1, 0, 0, 0), 0);
	assert_int_equal(c.events, ZPSI_HC_EV_POWER);
	assert_int_equal(hc(reg, &c, ZPSI_HC_HIBERNATE, 1, 0, 0, 0), EINVAL_K);	/* not deeper */
	assert_int_equal(hc(reg, &c, ZPSI_HC_HIBERNATE, 6, 0, 0, 0), EINVAL_K);
	assert_int_equal(hc(reg, &c, ZPSI_HC_HIBERNATE, 3, 0, 0, 0), 0);
	assert_int_equal(hc(reg, &c, ZPSI_HC_HIBERNATE, 6, 0, 0, 0), 0);
	assert_int_equal(hc(reg, &c, ZPSI_HC_HIBERNATE, 7, 0, 0, 0), EINVAL_K);	/* below the floor */
	assert_int_equal(hc(reg, &c, ZPSI_HC_HIBERNATE, 255, 0, 0, 0), EINVAL_K);
	assert_int_equal(zpsi_registry_get(reg, c.id, &gi), 0);
	assert_int_equal(gi.power, 6);
	assert_int_equal(hc(reg, &c, ZPSI_HC_HIBERNATE, 0, 0, 0, 0), 0);	/* wake */
	assert_int_equal(c.events, ZPSI_HC_EV_POWER);
	assert_int_equal(zpsi_registry_get(reg, c.id, &gi), 0);
	assert_int_equal(gi.power, 0);
	zpsi_registry_free(reg);
}

static void test_balloon(void **state)
{
	struct zpsi_registry *reg = new_reg(0, 1, 3);
	struct zpsi_caller no = caller(false, false), c = caller(false, true);
	const uint64_t pages = RAM / 4096;

	(void)state;
	assert_int_equal(hc(reg, &no, ZPSI_HC_BALLOON, 0, 1, 1, 0), EOPNOTSUPP_K);
	assert_int_equal(hc(reg, &no, ZPSI_HC_REGISTER, 1, 0, 0, 0), 1);
	assert_int_equal(hc(reg, &no, ZPSI_HC_BALLOON, 0, 1, 1, 0), EOPNOTSUPP_K);

	assert_int_equal(hc(reg, &c, ZPSI_HC_BALLOON, 0, 1, 1, 0), EPERM_K);
	assert_int_equal(hc(reg, &c, ZPSI_HC_REGISTER, 1, 0, 0, 0), 2);
	assert_int_equal(hc(reg, &c, ZPSI_HC_BALLOON, 0, 1, 2, 0), EINVAL_K);
	assert_int_equal(hc(reg, &c, ZPSI_HC_BALLOON, 0, 1, UINT64_MAX, 0), EINVAL_K);
	assert_int_equal(hc(reg, &c, ZPSI_HC_BALLOON, 0, 0, 1, 0), EINVAL_K);
	assert_int_equal(hc(reg, &c, ZPSI_HC_BALLOON, 0x800, 1, 1, 0), EFAULT_K);
	assert_int_equal(hc(reg, &c, ZPSI_HC_BALLOON, RAM, 1, 1, 0), EFAULT_K);
	assert_int_equal(hc(reg, &c, ZPSI_HC_BALLOON, 0, pages + 1, 1, 0), EFAULT_K);
	assert_int_equal(hc(reg, &c, ZPSI_HC_BALLOON, 0x1000, pages, 1, 0), EFAULT_K);
	/* a page count whose byte size wraps 64 bits */
	assert_int_equal(hc(reg, &c, ZPSI_HC_BALLOON, 0x1000, 1ull << 52, 1, 0), EFAULT_K);
	assert_int_equal(hc(reg, &c, ZPSI_HC_BALLOON, 0x1000, UINT64_MAX, 0, 0), EFAULT_K);
	assert_int_equal(hc(reg, &c, ZPSI_HC_BALLOON, UINT64_MAX & ~0xFFFull, 1, 0, 0), EFAULT_K);
	assert_int_equal(c.events, 0);
	assert_int_equal(c.balloon_pages, 0);

	/* all of RAM, then the last page: inside exactly */
	assert_int_equal(hc(reg, &c, ZPSI_HC_BALLOON, 0, pages, 1, 0), 0);
	assert_int_equal(c.events, ZPSI_HC_EV_BALLOON);
	assert_int_equal(c.balloon_gpa, 0);
	assert_int_equal(c.balloon_pages, pages);
	assert_true(c.balloon_release);
	assert_int_equal(hc(reg, &c, ZPSI_HC_BALLOON, RAM - 4096, 1, 0, 0), 0);
	assert_int_equal(c.balloon_gpa, RAM - 4096);
	assert_int_equal(c.balloon_pages, 1);
	assert_false(c.balloon_release);
	/* a failed call keeps the last valid range */
	assert_int_equal(hc(reg, &c, ZPSI_HC_BALLOON, 1, 1, 1, 0), EFAULT_K);
	assert_int_equal(c.balloon_gpa, RAM - 4096);
	assert_false(c.balloon_release);
	/* charged to the rate limit: the third token, then -E2BIG */
	assert_int_equal(hc(reg, &c, ZPSI_HC_BALLOON, 0, 1, 1, 0), 0);
	assert_int_equal(hc(reg, &c, ZPSI_HC_BALLOON, 0, 1, 1, 0), E2BIG_K);
	assert_int_equal(c.events, 0);
	assert_int_equal(hc(reg, &c, ZPSI_HC_BALLOON, 0, 1, 1, SEC), 0);
	zpsi_registry_free(reg);
}

/* The region page is the host's to write: it cannot be released. */
static void test_balloon_region_page(void **state)
{
	struct zpsi_registry *reg = new_reg(0, 0, 0);
	struct zpsi_caller c = caller(true, true);
	const uint64_t rp = 0x10000;

	(void)state;
	assert_int_equal(hc(reg, &c, ZPSI_HC_REGISTER, 1, rp, 0, 0), 1);
	assert_int_equal(hc(reg, &c, ZPSI_HC_BALLOON, rp, 1, 1, 0), EINVAL_K);
	assert_int_equal(hc(reg, &c, ZPSI_HC_BALLOON, 0, RAM / 4096, 1, 0), EINVAL_K);
	assert_int_equal(hc(reg, &c, ZPSI_HC_BALLOON, rp - 0x1000, 2, 1, 0), EINVAL_K);
	assert_int_equal(hc(reg, &c, ZPSI_HC_BALLOON, rp - 0x1000, 1, 1, 0), 0);	/* just below */
	assert_int_equal(hc(reg, &c, ZPSI_HC_BALLOON, rp + 0x1000, 1, 1, 0), 0);	/* just above */
	assert_int_equal(hc(reg, &c, ZPSI_HC_BALLOON, 0, 16, 1, 0), 0);		/* ends at it */
	assert_int_equal(hc(reg, &c, ZPSI_HC_BALLOON, rp, 1, 0, 0), 0);		/* reclaim is harmless */
	zpsi_registry_free(reg);
}

/* Two guests; one issues 200,000 hypercalls with random numbers and
 * arguments.  The other's registration never changes, and every RAX is in
 * the documented set. */
static void test_isolation(void **state)
{
	static const uint64_t nrs[] = {
		ZPSI_HC_REGISTER, ZPSI_HC_UPDATE, ZPSI_HC_QUERY, ZPSI_HC_HIBERNATE, ZPSI_HC_BALLOON, 0, 6,
	};
	struct zpsi_registry *reg = new_reg(0, 0, 0);
	struct zpsi_caller victim = caller(true, true), evil = caller(true, true);
	struct zpsi_guest_info before, after;
	uint64_t now = 0;

	(void)state;
	prng_state = 99;
	assert_int_equal(hc(reg, &victim, ZPSI_HC_REGISTER, 4, 0x3000, 0, 0), 1);
	assert_int_equal(hc(reg, &victim, ZPSI_HC_UPDATE, 1234, 5, 6, 0), 0);
	assert_int_equal(hc(reg, &victim, ZPSI_HC_HIBERNATE, 1, 0, 0, 0), 0);
	assert_int_equal(zpsi_registry_get(reg, 1, &before), 0);
	for (int i = 0; i < 200000; i++) {
		uint64_t x = prng(), nr = nrs[x % 7], a[3];
		int64_t r;

		if (x & 0x100)
			nr = prng() & (x & 0x200 ? 0xFFFFFFFFull : UINT64_MAX);
		for (int k = 0; k < 3; k++) {
			a[k] = prng();
			if ((x >> (10 + k)) & 1)	/* small values too, to get past checks */
				a[k] &= (1ull << ((x >> (20 + 6 * k)) & 31)) - 1;
			if (k == 0 && nr == ZPSI_HC_REGISTER && (x & 0x4000))
				a[k] = 1 + (a[k] & 0xFFFF) % 65535;
		}
		r = hc(reg, &evil, nr, a[0], a[1], a[2], now += 1000);
		assert_true(r >= 0 || r == ENOSYS_K || r == EINVAL_K || r == EPERM_K || r == E2BIG_K ||
			    r == EFAULT_K || r == EOPNOTSUPP_K);
		if (nr == ZPSI_HC_REGISTER && r > 0)
			assert_int_equal(r, 2);	/* never the victim's id */
	}
	assert_int_equal(zpsi_registry_get(reg, 1, &after), 0);
	assert_int_equal(after.weight, before.weight);
	assert_int_equal(after.ratio_bp, before.ratio_bp);
	assert_int_equal(after.power, before.power);
	assert_int_equal(after.committed, before.committed);
	assert_int_equal(after.deferred, before.deferred);
	assert_int_equal(after.updates, before.updates);
	assert_int_equal(after.last_update_ns, before.last_update_ns);
	assert_int_equal(victim.region_gpa, 0x3000);
	assert_int_equal(zpsi_registry_count(reg), 2);
	zpsi_registry_free(reg);
}

/* The seed's scenario: 10 guests of different weights, 10,000 updates, all
 * registrations succeed, the aggregate is the exact weighted average. */
static void test_seed_scenario(void **state)
{
	static const uint32_t weights[10] = { 1, 2, 3, 5, 8, 13, 21, 34, 55, 65535 };
	struct zpsi_registry *reg = new_reg(0, ZPSI_REGISTRY_DEFAULT_RATE, ZPSI_REGISTRY_DEFAULT_BURST);
	struct zpsi_caller c[10];
	uint64_t bp[10] = { 0 }, committed[10] = { 0 }, deferred[10] = { 0 }, num = 0, den = 0, q;
	uint64_t now = SEC;

	(void)state;
	prng_state = 2024;
	for (int i = 0; i < 10; i++) {
		c[i] = caller(false, false);
		assert_int_equal(hc(reg, &c[i], ZPSI_HC_REGISTER, weights[i], 0, 0, now), i + 1);
	}
	for (int u = 0; u < 10000; u++) {
		int g = u % 10;

		committed[g] += prng() % 100;
		deferred[g] += prng() % 100;
		bp[g] = zpsi_ratio_bp(committed[g], deferred[g]);
		assert_int_equal(hc(reg, &c[g], ZPSI_HC_UPDATE, bp[g], committed[g], deferred[g], now += 100), 0);
	}
	for (int i = 0; i < 10; i++) {
		num += weights[i] * bp[i];
		den += weights[i];
	}
	q = (uint64_t)hc(reg, &c[0], ZPSI_HC_QUERY, 0, 0, 0, now);
	/* |q - num/den| <= 1/2, in integers */
	assert_true(2 * (q * den > num ? q * den - num : num - q * den) <= den);
	assert_int_equal(q, (2 * num + den) / (2 * den));
	zpsi_registry_free(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_nr),
		cmocka_unit_test(test_register),
		cmocka_unit_test(test_register_region),
		cmocka_unit_test(test_register_full),
		cmocka_unit_test(test_update),
		cmocka_unit_test(test_update_rate_limited),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_hibernate),
		cmocka_unit_test(test_balloon),
		cmocka_unit_test(test_balloon_region_page),
		cmocka_unit_test(test_isolation),
		cmocka_unit_test(test_seed_scenario),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
