/* SPDX-License-Identifier: MIT */
/* test_policy.c - the tier table, its text form, hysteresis step by step,
 * and the allocation arithmetic at its extremes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "zpsi/abi.h"
#include "zpsi/policy.h"

#define MS 1000000ull

static const struct zpsi_vm_size vm4 = { .vcpus = 4, .mem_bytes = 8ull << 30 };

/* The seed table, with hysteresis off, at every boundary and a full sweep
 * against the spec's own wording (< 10 %, 10..30 % inclusive, > 30 %). */
static void test_seed_table_exact(void **state)
{
	static const struct { uint32_t bp; unsigned tier; uint16_t share; } cases[] = {
		{ 0, 0, 10000 }, { 1, 0, 10000 }, { 999, 0, 10000 },
		{ 1000, 1, 8000 }, { 2000, 1, 8000 }, { 3000, 1, 8000 },
		{ 3001, 2, 5000 }, { 9999, 2, 5000 }, { 10000, 2, 5000 },
		{ 10001, 2, 5000 }, { UINT32_MAX, 2, 5000 },
	};
	struct zpsi_policy p;

	(void)state;
	zpsi_policy_default(&p);
	assert_int_equal(zpsi_policy_validate(&p), 0);
	assert_int_equal(p.deadband_bp, 0);
	assert_int_equal(p.min_dwell_ns, 0);
	assert_int_equal(p.cpu_period_us, 100000);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct zpsi_policy_state st = { 0 };
		struct zpsi_alloc a;

		assert_int_equal(zpsi_policy_tier_of(&p, cases[i].bp), cases[i].tier);
		assert_int_equal(zpsi_policy_decide(&p, &st, cases[i].bp, 0, &vm4, &a), 1);
		assert_int_equal(a.tier, cases[i].tier);
		assert_int_equal(a.share_bp, cases[i].share);
	}
	/* A single state walked through every ratio, up then down, follows the
	 * table exactly: hysteresis off means no memory at all. */
	{
		struct zpsi_policy_state st = { 0 };
		struct zpsi_alloc a;
		uint64_t t = 0;

		for (int pass = 0; pass < 2; pass++) {
			for (uint32_t i = 0; i <= ZPSI_BP_MAX; i++) {
				uint32_t bp = pass ? ZPSI_BP_MAX - i : i;
				unsigned want = bp < 1000 ? 0 : bp <= 3000 ? 1 : 2;

				zpsi_policy_decide(&p, &st, bp, t++, &vm4, &a);
				assert_int_equal(a.tier, want);
			}
		}
	}
}

static void test_decide_reports_changes(void **state)
{
	struct zpsi_policy p;
	struct zpsi_policy_state st = { 0 };
	struct zpsi_alloc a;

	(void)state;
	zpsi_policy_default(&p);
	assert_int_equal(zpsi_policy_decide(&p, &st, 500, 0, &vm4, &a), 1);	/* first */
	assert_int_equal(zpsi_policy_decide(&p, &st, 600, 1, &vm4, &a), 0);
	assert_int_equal(zpsi_policy_decide(&p, &st, 1000, 2, &vm4, &a), 1);
	assert_int_equal(st.since_ns, 2);
	assert_int_equal(zpsi_policy_decide(&p, &st, 3000, 3, &vm4, &a), 0);
	assert_int_equal(zpsi_policy_decide(&p, &st, 0, 4, &vm4, &a), 1);
	assert_int_equal(a.tier, 0);
	/* a state from a bigger table is taken as a first decision */
	st.tier = 7;
	assert_int_equal(zpsi_policy_decide(&p, &st, 3001, 5, &vm4, &a), 1);
	assert_int_equal(a.tier, 2);
}

/* Dead band 200 bp on the seed table: up into tier 1 needs >= 1200, down
 * into tier 0 needs <= 799; up into tier 2 needs >= 3201, down into tier 1
 * needs <= 2800. */
static void test_deadband_steps(void **state)
{
	static const struct { uint32_t bp; unsigned tier; int changed; } steps[] = {
		{ 500, 0, 1 },
		{ 1000, 0, 0 }, { 999, 0, 0 }, { 1000, 0, 0 }, { 1199, 0, 0 },	/* hover */
		{ 1200, 1, 1 },
		{ 999, 1, 0 }, { 1000, 1, 0 }, { 800, 1, 0 },			/* hover below */
		{ 799, 0, 1 },
		{ 3201, 2, 1 },							/* two tiers at once */
		{ 3000, 2, 0 }, { 3001, 2, 0 }, { 2801, 2, 0 },
		{ 2800, 1, 1 },
		{ 0, 0, 1 },							/* straight down */
		{ 10000, 2, 1 },						/* straight up */
	};
	struct zpsi_policy p;
	struct zpsi_policy_state st = { 0 };
	struct zpsi_alloc a;

	(void)state;
	zpsi_policy_default(&p);
	p.deadband_bp = 200;
	assert_int_equal(zpsi_policy_validate(&p), 0);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		int r = zpsi_policy_decide(&p, &st, steps[i].bp, i, &vm4, &a);

		assert_int_equal(a.tier, steps[i].tier);
		assert_int_equal(r, steps[i].changed);
	}
	/* the first decision ignores the band */
	memset(&st, 0, sizeof(st));
	assert_int_equal(zpsi_policy_decide(&p, &st, 1000, 0, &vm4, &a), 1);
	assert_int_equal(a.tier, 1);
}

/* A ratio oscillating across a boundary: without hysteresis every sample
 * flips the tier; a dead band wider than the oscillation never does. */
static void test_no_flapping(void **state)
{
	struct zpsi_policy p;
	struct zpsi_policy_state st = { 0 };
	struct zpsi_alloc a;
	unsigned changes = 0;

	(void)state;
	zpsi_policy_default(&p);
	zpsi_policy_decide(&p, &st, 3000, 0, &vm4, &a);
	for (unsigned i = 1; i <= 1000; i++)
		changes += (unsigned)zpsi_policy_decide(&p, &st, i % 2 ? 3001 : 3000, i, &vm4, &a);
	assert_int_equal(changes, 1000);

	p.deadband_bp = 50;
	memset(&st, 0, sizeof(st));
	changes = 0;
	zpsi_policy_decide(&p, &st, 3000, 0, &vm4, &a);
	for (unsigned i = 1; i <= 1000; i++)
		changes += (unsigned)zpsi_policy_decide(&p, &st, 2960 + (i * 7919) % 90, i, &vm4, &a);
	assert_int_equal(changes, 0);
	assert_int_equal(a.tier, 1);

	/* dwell alone: at most one change per dwell period */
	p.deadband_bp = 0;
	p.min_dwell_ns = 100 * MS;
	memset(&st, 0, sizeof(st));
	changes = 0;
	for (unsigned i = 0; i < 1000; i++)	/* 1000 samples, 1 ms apart */
		changes += (unsigned)zpsi_policy_decide(&p, &st, i % 2 ? 3001 : 3000, i * MS, &vm4, &a);
	assert_true(changes <= 1 + 1000 / 100);
	assert_true(changes >= 1000 / 100);
}

static void test_dwell_steps(void **state)
{
	struct zpsi_policy p;
	struct zpsi_policy_state st = { 0 };
	struct zpsi_alloc a;

	(void)state;
	zpsi_policy_default(&p);
	p.min_dwell_ns = 5 * MS;
	assert_int_equal(zpsi_policy_decide(&p, &st, 0, 100 * MS, &vm4, &a), 1);
	assert_int_equal(zpsi_policy_decide(&p, &st, 5000, 101 * MS, &vm4, &a), 0);
	assert_int_equal(a.tier, 0);
	assert_int_equal(zpsi_policy_decide(&p, &st, 5000, 105 * MS - 1, &vm4, &a), 0);
	assert_int_equal(a.tier, 0);
	assert_int_equal(zpsi_policy_decide(&p, &st, 5000, 105 * MS, &vm4, &a), 1);	/* exactly T */
	assert_int_equal(a.tier, 2);
	assert_int_equal(st.since_ns, 105 * MS);
	/* the ratio came back before the dwell ran out: no change was owed */
	assert_int_equal(zpsi_policy_decide(&p, &st, 0, 106 * MS, &vm4, &a), 0);
	assert_int_equal(zpsi_policy_decide(&p, &st, 5000, 200 * MS, &vm4, &a), 0);
	assert_int_equal(a.tier, 2);
	/* a clock that went backwards is no time passed */
	assert_int_equal(zpsi_policy_decide(&p, &st, 0, 1 * MS, &vm4, &a), 0);
	assert_int_equal(a.tier, 2);
	assert_int_equal(zpsi_policy_decide(&p, &st, 1500, 300 * MS, &vm4, &a), 1);
	assert_int_equal(a.tier, 1);

	/* both: the band decides where, the dwell when */
	p.deadband_bp = 200;
	memset(&st, 0, sizeof(st));
	zpsi_policy_decide(&p, &st, 0, 0, &vm4, &a);
	assert_int_equal(zpsi_policy_decide(&p, &st, 1100, 10 * MS, &vm4, &a), 0);	/* in band */
	assert_int_equal(zpsi_policy_decide(&p, &st, 1300, 1 * MS, &vm4, &a), 0);	/* dwell */
	assert_int_equal(zpsi_policy_decide(&p, &st, 1300, 5 * MS, &vm4, &a), 1);
	assert_int_equal(a.tier, 1);
}

static void test_set_tiers_validation(void **state)
{
	struct zpsi_policy p, before;
	const struct zpsi_tier one[] = { { 10000, 10000 } };
	const struct zpsi_tier bad_last[] = { { 999, 10000 }, { 9999, 5000 } };
	const struct zpsi_tier not_ascending[] = { { 3000, 10000 }, { 3000, 8000 }, { 10000, 5000 } };
	const struct zpsi_tier zero_share[] = { { 999, 0 }, { 10000, 5000 } };
	const struct zpsi_tier big_share[] = { { 999, 10001 }, { 10000, 5000 } };
	struct zpsi_tier nine[9];

	(void)state;
	zpsi_policy_default(&p);
	memcpy(&before, &p, sizeof(p));	/* padding too, for memcmp */
	assert_int_equal(zpsi_policy_set_tiers(&p, bad_last, 2), -EINVAL);
	assert_int_equal(zpsi_policy_set_tiers(&p, not_ascending, 3), -EINVAL);
	assert_int_equal(zpsi_policy_set_tiers(&p, zero_share, 2), -EINVAL);
	assert_int_equal(zpsi_policy_set_tiers(&p, big_share, 2), -EINVAL);
	assert_int_equal(zpsi_policy_set_tiers(&p, one, 0), -EINVAL);
	assert_int_equal(zpsi_policy_set_tiers(&p, NULL, 1), -EINVAL);
	for (unsigned i = 0; i < 9; i++)
		nine[i] = (struct zpsi_tier){ (uint16_t)(i == 8 ? 10000 : i * 100), 5000 };
	assert_int_equal(zpsi_policy_set_tiers(&p, nine, 9), -EINVAL);
	assert_memory_equal(&p, &before, sizeof(p));			/* unchanged */
	assert_int_equal(zpsi_policy_set_tiers(&p, nine + 1, 8), 0);	/* 8 is the max */
	assert_int_equal(p.ntiers, 8);
	assert_int_equal(zpsi_policy_set_tiers(&p, one, 1), 0);
	assert_int_equal(zpsi_policy_tier_of(&p, 0), 0);
	assert_int_equal(zpsi_policy_tier_of(&p, 10000), 0);

	zpsi_policy_default(&p);
	p.deadband_bp = 10001;
	assert_int_equal(zpsi_policy_validate(&p), -EINVAL);
	p.deadband_bp = 10000;
	assert_int_equal(zpsi_policy_validate(&p), 0);
	p.cpu_period_us = 999;
	assert_int_equal(zpsi_policy_validate(&p), -EINVAL);
	p.cpu_period_us = 1000001;
	assert_int_equal(zpsi_policy_validate(&p), -EINVAL);
	p.cpu_period_us = 1000000;
	assert_int_equal(zpsi_policy_validate(&p), 0);
	p.ntiers = 9;
	assert_int_equal(zpsi_policy_validate(&p), -EINVAL);
	p.ntiers = 0;
	assert_int_equal(zpsi_policy_validate(&p), -EINVAL);
}

static void test_parse_accept(void **state)
{
	static const struct {
		const char *spec;
		unsigned n;
		struct zpsi_tier t[4];
		const char *canon;
	} ok[] = {
		{ "999:100,3000:80,10000:50", 3, { { 999, 10000 }, { 3000, 8000 }, { 10000, 5000 } },
		  "999:100,3000:80,10000:50" },
		{ "10000:100", 1, { { 10000, 10000 } }, "10000:100" },
		{ "10000:0.01", 1, { { 10000, 1 } }, "10000:0.01" },
		{ "10000:100.00", 1, { { 10000, 10000 } }, "10000:100" },
		{ "500:62.5,10000:33.33", 2, { { 500, 6250 }, { 10000, 3333 } }, "500:62.5,10000:33.33" },
		{ "500:62.50%,10000:7.05%", 2, { { 500, 6250 }, { 10000, 705 } }, "500:62.5,10000:7.05" },
		{ " 999:100 ,\t3000:80 , 10000:50 ", 3,
		  { { 999, 10000 }, { 3000, 8000 }, { 10000, 5000 } }, "999:100,3000:80,10000:50" },
		{ "0:100,00010000:050", 2, { { 0, 10000 }, { 10000, 5000 } }, "0:100,10000:50" },
	};
	char buf[ZPSI_POLICY_TIERS_STRMAX];

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct zpsi_policy p, q;

		zpsi_policy_default(&p);
		assert_int_equal(zpsi_policy_parse_tiers(&p, ok[i].spec), 0);
		assert_int_equal(p.ntiers, ok[i].n);
		assert_memory_equal(p.tiers, ok[i].t, ok[i].n * sizeof(struct zpsi_tier));
		assert_int_equal(zpsi_policy_format_tiers(&p, buf, sizeof(buf)), 0);
		assert_string_equal(buf, ok[i].canon);
		zpsi_policy_default(&q);
		assert_int_equal(zpsi_policy_parse_tiers(&q, buf), 0);
		assert_memory_equal(q.tiers, p.tiers, sizeof(p.tiers));
	}
}

static void test_parse_reject(void **state)
{
	static const char *const bad[] = {
		"", " ", ",", "999:100,", ",10000:50", "999:100,,10000:50",
		"10000", "10000:", ":50", "10000:50x", "10000:50%%", "10000:50 %",
		"10000 :50", "10000: 50", "+10000:50", "-1:50,10000:50", "10000:+50", "10000:-50",
		"10000:50.", "10000:.5", "10000:50.123", "10000:5e1", "0x2710:50", "10000:0x32",
		"10000:0", "10000:0.00", "10000:100.01", "10000:101", "10001:50",
		"99999999999999999999:50", "10000:99999999999999999999", "4294977296:50",
		"999:100,3000:80", "3000:80,999:100,10000:50", "999:100,999:80,10000:50",
		"1:1,2:1,3:1,4:1,5:1,6:1,7:1,8:1,10000:1",	/* nine tiers */
		"999:100;3000:80;10000:50", "999:100,3000:80,10000:50\n", "10000:50\x01",
		"10000:50,", "\xff", "999:100 3000:80,10000:50",
	};
	char buf[ZPSI_POLICY_TIERS_STRMAX];
	struct zpsi_policy p, before;

	(void)state;
	zpsi_policy_default(&p);
	memcpy(&before, &p, sizeof(p));	/* padding too, for memcmp */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (zpsi_policy_parse_tiers(&p, bad[i]) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_memory_equal(&p, &before, sizeof(p));
	}
	assert_int_equal(zpsi_policy_parse_tiers(&p, NULL), -EINVAL);
	/* eight tiers is the limit and formats within ZPSI_POLICY_TIERS_STRMAX */
	assert_int_equal(zpsi_policy_parse_tiers(&p, "1:99.99,2:99.98,3:99.97,4:99.96,5:99.95,"
						     "6:99.94,9999:99.93,10000:99.92"), 0);
	assert_int_equal(p.ntiers, 8);
	assert_int_equal(zpsi_policy_format_tiers(&p, buf, sizeof(buf)), 0);
	assert_int_equal(zpsi_policy_format_tiers(&p, buf, 10), -ENOBUFS);
	assert_string_equal(buf, "");
	p.ntiers = 0;
	assert_int_equal(zpsi_policy_format_tiers(&p, buf, sizeof(buf)), -EINVAL);
}

static void test_alloc_arithmetic(void **state)
{
	struct zpsi_policy p;
	struct zpsi_alloc a;

	(void)state;
	zpsi_policy_default(&p);
	/* 4 vCPUs, 100 ms period, 80 %: 320 ms per period; 8 GiB * 0.8 */
	zpsi_policy_alloc(&p, 1, &vm4, &a);
	assert_int_equal(a.tier, 1);
	assert_int_equal(a.share_bp, 8000);
	assert_int_equal(a.cpu_period_us, 100000);
	assert_int_equal(a.cpu_quota_us, 320000);
	assert_int_equal(a.mem_target_bytes, (8ull << 30) / 10 * 8 & ~4095ull);
	assert_int_equal(a.mem_target_bytes % 4096, 0);

	/* rounding down: 1 vCPU, 1001 us period, 50 % = 500.5 -> 500 -> min 1000 */
	p.cpu_period_us = 1001;
	zpsi_policy_alloc(&p, 2, &(struct zpsi_vm_size){ 1, 12345 }, &a);
	assert_int_equal(a.cpu_quota_us, 1000);
	assert_int_equal(a.mem_target_bytes, 4096);	/* 6172 -> 4096 */
	p.cpu_period_us = 2001;
	zpsi_policy_alloc(&p, 2, &(struct zpsi_vm_size){ 1, 4095 }, &a);
	assert_int_equal(a.cpu_quota_us, 1000);		/* 1000.5 */
	assert_int_equal(a.mem_target_bytes, 0);
	p.cpu_period_us = 2003;
	zpsi_policy_alloc(&p, 2, &(struct zpsi_vm_size){ 1, 0 }, &a);
	assert_int_equal(a.cpu_quota_us, 1001);
	zpsi_policy_alloc(&p, 0, &(struct zpsi_vm_size){ 0, 0 }, &a);
	assert_int_equal(a.cpu_quota_us, 1000);		/* the kernel's minimum */

	/* the documented extremes: 4096 vCPUs, 1 s period, 2^50 bytes */
	p.cpu_period_us = 1000000;
	zpsi_policy_alloc(&p, 0, &(struct zpsi_vm_size){ 4096, 1ull << 50 }, &a);
	assert_int_equal(a.cpu_quota_us, 4096000000ull);
	assert_int_equal(a.mem_target_bytes, 1ull << 50);
	zpsi_policy_alloc(&p, 2, &(struct zpsi_vm_size){ 4096, 1ull << 50 }, &a);
	assert_int_equal(a.cpu_quota_us, 2048000000ull);
	assert_int_equal(a.mem_target_bytes, 1ull << 49);
	zpsi_policy_alloc(&p, 1, &(struct zpsi_vm_size){ 4096, 1ull << 50 }, &a);
	assert_int_equal(a.cpu_quota_us, 3276800000ull);
	assert_int_equal(a.mem_target_bytes, ((1ull << 50) / 10 * 8) & ~4095ull);
	/* beyond them it is still exact, not wrapped */
	zpsi_policy_alloc(&p, 1, &(struct zpsi_vm_size){ UINT32_MAX, UINT64_MAX }, &a);
	assert_int_equal(a.cpu_quota_us, (uint64_t)UINT32_MAX * 1000000 / 10 * 8);
	assert_int_equal(a.mem_target_bytes,
			 (uint64_t)((unsigned __int128)UINT64_MAX * 8000 / 10000) & ~4095ull);
	/* a tier past the table is the last tier */
	zpsi_policy_alloc(&p, 99, &vm4, &a);
	assert_int_equal(a.tier, 2);
	assert_int_equal(a.share_bp, 5000);
	/* a share of 0.01 % */
	assert_int_equal(zpsi_policy_parse_tiers(&p, "10000:0.01"), 0);
	zpsi_policy_alloc(&p, 0, &(struct zpsi_vm_size){ 4096, 1ull << 50 }, &a);
	assert_int_equal(a.cpu_quota_us, 409600);
	assert_int_equal(a.mem_target_bytes, ((1ull << 50) / 10000) & ~4095ull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_table_exact),
		cmocka_unit_test(test_decide_reports_changes),
		cmocka_unit_test(test_deadband_steps),
		cmocka_unit_test(test_no_flapping),
		cmocka_unit_test(test_dwell_steps),
		cmocka_unit_test(test_set_tiers_validation),
		cmocka_unit_test(test_parse_accept),
		cmocka_unit_test(test_parse_reject),
		cmocka_unit_test(test_alloc_arithmetic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
