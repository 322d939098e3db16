/* SPDX-License-Identifier: MIT */
/* test_msr.c - the PSI MSR bank: every field boundary, every reserved bit,
 * STATS wrap-around, CTRL events, and "a faulting write changes nothing". */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "zpsi/msr.h"

#define RAM (64ull << 20)	/* 64 MiB of guest RAM */

static uint64_t rd(struct zpsi_msr_bank *b, uint32_t index)
{
	uint64_t v = 0xDEADBEEF;

	assert_int_equal(zpsi_msr_read(b, index, &v), 0);
	return v;
}

/* The state of a bank without the counters, field by field (so that struct
 * padding never enters the comparison). */
static void visible(const struct zpsi_msr_bank *b, struct zpsi_msr_bank *out)
{
	memset(out, 0, sizeof(*out));
	out->allowed = b->allowed;
	out->region_supported = b->region_supported;
	out->ram_size = b->ram_size;
	out->guest_bp = b->guest_bp;
	out->host_bp = b->host_bp;
	out->power = b->power;
	out->conf = b->conf;
	out->ctrl = b->ctrl;
	out->committed = b->committed;
	out->deferred = b->deferred;
}

/* A write that must fault: -EINVAL (or `err`), nothing but `faults` moves. */
static void write_faults(struct zpsi_msr_bank *b, uint32_t index, uint64_t val, int err)
{
	struct zpsi_msr_bank before, after;
	uint64_t faults = b->faults, writes = b->writes;

	visible(b, &before);
	assert_int_equal(zpsi_msr_write(b, index, val), err);
	visible(b, &after);
	assert_memory_equal(&before, &after, sizeof(before));
	assert_int_equal(b->faults, faults + 1);
	assert_int_equal(b->writes, writes);
}

static void test_init_defaults(void **state)
{
	struct zpsi_msr_bank b;

	(void)state;
	zpsi_msr_bank_init(&b, RAM, true);
	assert_true(b.allowed);
	assert_int_equal(rd(&b, ZPSI_MSR_STATE), 0);
	assert_int_equal(rd(&b, ZPSI_MSR_CONF),
			 zpsi_conf_encode(ZPSI_CONF_DEFAULT_DELTA_BP, ZPSI_CONF_DEFAULT_THRESH_BP));
	assert_int_equal(rd(&b, ZPSI_MSR_STATS), 0);
	assert_int_equal(rd(&b, ZPSI_MSR_CTRL), 0);
	assert_int_equal(b.reads, 4);
	assert_int_equal(b.faults, 0);
}

static void test_not_psi(void **state)
{
	static const uint32_t others[] = { 0, 0x10, 0xC00100FF, 0xC0010104, 0xC0010200, 0xFFFFFFFF };
	struct zpsi_msr_bank b;
	uint64_t v = 42;

	(void)state;
	zpsi_msr_bank_init(&b, RAM, true);
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		assert_false(zpsi_msr_is_psi(others[i]));
		assert_int_equal(zpsi_msr_read(&b, others[i], &v), -ENOENT);
		assert_int_equal(v, 42);	/* output untouched on error */
		write_faults(&b, others[i], 0, -ENOENT);
	}
	for (uint32_t i = 0; i < ZPSI_MSR_COUNT; i++)
		assert_true(zpsi_msr_is_psi(ZPSI_MSR_FIRST + i));
	assert_int_equal(b.faults, 12);
}

static void test_not_allowed(void **state)
{
	struct zpsi_msr_bank b;
	uint64_t v = 7;

	(void)state;
	zpsi_msr_bank_init(&b, RAM, true);
	assert_true(zpsi_msr_write(&b, ZPSI_MSR_STATE, 1234) >= 0);
	b.allowed = false;
	for (uint32_t i = 0; i < ZPSI_MSR_COUNT; i++) {
		assert_int_equal(zpsi_msr_read(&b, ZPSI_MSR_FIRST + i, &v), -EPERM);
		assert_int_equal(v, 7);
		write_faults(&b, ZPSI_MSR_FIRST + i, 0, -EPERM);
	}
	write_faults(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_RESET, -EPERM);
	b.allowed = true;
	assert_int_equal(zpsi_state_guest_bp(rd(&b, ZPSI_MSR_STATE)), 1234);
}

static void test_state_boundaries(void **state)
{
	struct zpsi_msr_bank b;

	(void)state;
	zpsi_msr_bank_init(&b, RAM, true);
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_STATE, 0), ZPSI_MSR_EV_RATIO);
	assert_int_equal(rd(&b, ZPSI_MSR_STATE), 0);
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_STATE, 10000), ZPSI_MSR_EV_RATIO);
	assert_int_equal(rd(&b, ZPSI_MSR_STATE), 10000);
	write_faults(&b, ZPSI_MSR_STATE, 10001, -EINVAL);
	write_faults(&b, ZPSI_MSR_STATE, 0xFFFF, -EINVAL);
	assert_int_equal(rd(&b, ZPSI_MSR_STATE), 10000);
	/* the same value again is still a write the host hears about */
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_STATE, 10000), ZPSI_MSR_EV_RATIO);

	/* each reserved bit 63:36 on its own, with a valid ratio */
	for (int bit = 36; bit < 64; bit++)
		write_faults(&b, ZPSI_MSR_STATE, (1ull << bit) | 5, -EINVAL);
	/* bits 35:16 are read-only and ignored, each on its own and all at once */
	zpsi_msr_set_host(&b, 4321, ZPSI_POWER_C3);
	for (int bit = 16; bit < 36; bit++) {
		assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_STATE, (1ull << bit) | bit), ZPSI_MSR_EV_RATIO);
		assert_int_equal(rd(&b, ZPSI_MSR_STATE), zpsi_state_encode((uint16_t)bit, 4321, 3));
	}
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_STATE, ZPSI_STATE_RO_MASK | 9999), ZPSI_MSR_EV_RATIO);
	assert_int_equal(rd(&b, ZPSI_MSR_STATE), zpsi_state_encode(9999, 4321, 3));
	/* ratio > 10000 faults even with only read-only bits besides */
	write_faults(&b, ZPSI_MSR_STATE, ZPSI_STATE_RO_MASK | 10001, -EINVAL);
}

static void test_state_rmw_and_host(void **state)
{
	struct zpsi_msr_bank b;
	uint64_t v;

	(void)state;
	zpsi_msr_bank_init(&b, RAM, true);
	zpsi_msr_set_host(&b, 2500, ZPSI_POWER_C1);
	v = rd(&b, ZPSI_MSR_STATE);
	assert_int_equal(zpsi_state_host_bp(v), 2500);
	assert_int_equal(zpsi_state_power(v), 1);
	v = (v & ~ZPSI_STATE_GUEST_MASK) | 777;	/* read-modify-write */
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_STATE, v), ZPSI_MSR_EV_RATIO);
	assert_int_equal(rd(&b, ZPSI_MSR_STATE), zpsi_state_encode(777, 2500, 1));
	/* the host's values are clamped to what the fields can mean */
	zpsi_msr_set_host(&b, 0xFFFF, 0xF6);
	v = rd(&b, ZPSI_MSR_STATE);
	assert_int_equal(zpsi_state_host_bp(v), 10000);
	assert_int_equal(zpsi_state_power(v), 6);
	assert_int_equal(v & ZPSI_STATE_RSVD_MASK, 0);
}

static void test_conf_boundaries(void **state)
{
	struct zpsi_msr_bank b;

	(void)state;
	zpsi_msr_bank_init(&b, RAM, true);
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_CONF, 0), ZPSI_MSR_EV_CONF);
	assert_int_equal(rd(&b, ZPSI_MSR_CONF), 0);
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_CONF, zpsi_conf_encode(10000, 10000)), ZPSI_MSR_EV_CONF);
	assert_int_equal(rd(&b, ZPSI_MSR_CONF), zpsi_conf_encode(10000, 10000));
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_CONF, zpsi_conf_encode(1, 9999)), ZPSI_MSR_EV_CONF);
	write_faults(&b, ZPSI_MSR_CONF, zpsi_conf_encode(10001, 0), -EINVAL);
	write_faults(&b, ZPSI_MSR_CONF, zpsi_conf_encode(0, 10001), -EINVAL);
	write_faults(&b, ZPSI_MSR_CONF, zpsi_conf_encode(0xFFFF, 0), -EINVAL);
	write_faults(&b, ZPSI_MSR_CONF, zpsi_conf_encode(0, 0xFFFF), -EINVAL);
	write_faults(&b, ZPSI_MSR_CONF, zpsi_conf_encode(0xFFFF, 0xFFFF), -EINVAL);
	for (int bit = 32; bit < 64; bit++)
		write_faults(&b, ZPSI_MSR_CONF, (1ull << bit) | zpsi_conf_encode(5, 6), -EINVAL);
	assert_int_equal(rd(&b, ZPSI_MSR_CONF), zpsi_conf_encode(1, 9999));
}

static void test_stats_wrap(void **state)
{
	struct zpsi_msr_bank b;

	(void)state;
	zpsi_msr_bank_init(&b, RAM, true);
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_STATS, zpsi_stats_encode(0xFFFFFFFF, 0xFFFFFFFE)),
			 ZPSI_MSR_EV_STATS);
	assert_int_equal(b.committed, 0xFFFFFFFFull);
	assert_int_equal(b.deferred, 0xFFFFFFFEull);
	/* exactly at 2^32: the low halves read 0 */
	assert_true(zpsi_msr_write(&b, ZPSI_MSR_STATS, zpsi_stats_encode(0, 0xFFFFFFFF)) >= 0);
	assert_int_equal(b.committed, 1ull << 32);
	assert_int_equal(b.deferred, 0xFFFFFFFFull);
	assert_int_equal(rd(&b, ZPSI_MSR_STATS), zpsi_stats_encode(0, 0xFFFFFFFF));
	assert_true(zpsi_msr_write(&b, ZPSI_MSR_STATS, zpsi_stats_encode(0, 0)) >= 0);
	assert_int_equal(b.committed, 1ull << 32);	/* equal low half: no wrap */
	assert_int_equal(b.deferred, 1ull << 32);
	assert_true(zpsi_msr_write(&b, ZPSI_MSR_STATS, zpsi_stats_encode(5, 1)) >= 0);
	assert_int_equal(b.committed, (1ull << 32) + 5);
	assert_int_equal(b.deferred, (1ull << 32) + 1);
	/* a smaller low half is one more wrap */
	assert_true(zpsi_msr_write(&b, ZPSI_MSR_STATS, zpsi_stats_encode(4, 1)) >= 0);
	assert_int_equal(b.committed, (2ull << 32) + 4);
	assert_int_equal(b.deferred, (1ull << 32) + 1);
	assert_int_equal(rd(&b, ZPSI_MSR_STATS), zpsi_stats_encode(4, 1));
}

/* A guest that counts for real and reports its low halves at random steps
 * (each < 2^32): the extension tracks the true 64-bit counts over many wraps. */
static void test_stats_many_wraps(void **state)
{
	struct zpsi_msr_bank b;
	uint64_t c = 0, d = 0, x = 0x9E3779B97F4A7C15ull;

	(void)state;
	zpsi_msr_bank_init(&b, RAM, true);
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		c += x & 0xFFFFFFF;		/* < 2^28 per report */
		d += (x >> 20) & 0x7FFFFFFF;	/* < 2^31 per report */
		assert_true(zpsi_msr_write(&b, ZPSI_MSR_STATS, zpsi_stats_encode(c, d)) >= 0);
		assert_int_equal(b.committed, c);
		assert_int_equal(b.deferred, d);
	}
	assert_true(d >> 32 >= 1000);	/* the deferred count wrapped >= 1000 times */
	assert_true(c >> 32 >= 100);
}

static void test_ctrl_reserved(void **state)
{
	struct zpsi_msr_bank b;

	(void)state;
	zpsi_msr_bank_init(&b, RAM, true);
	for (int bit = 3; bit < 12; bit++) {
		write_faults(&b, ZPSI_MSR_CTRL, 1ull << bit, -EINVAL);
		write_faults(&b, ZPSI_MSR_CTRL, (1ull << bit) | ZPSI_CTRL_ENABLE, -EINVAL);
		write_faults(&b, ZPSI_MSR_CTRL, (1ull << bit) | ZPSI_CTRL_RESET, -EINVAL);
	}
	assert_int_equal(rd(&b, ZPSI_MSR_CTRL), 0);
}

static void test_ctrl_enable_events(void **state)
{
	struct zpsi_msr_bank b;

	(void)state;
	zpsi_msr_bank_init(&b, RAM, true);
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_CTRL, 0), 0);
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_ENABLE), ZPSI_MSR_EV_ENABLE);
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_ENABLE), 0);	/* no edge */
	assert_int_equal(rd(&b, ZPSI_MSR_CTRL), ZPSI_CTRL_ENABLE);
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_CTRL, 0), ZPSI_MSR_EV_DISABLE);
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_CTRL, 0), 0);
	assert_int_equal(rd(&b, ZPSI_MSR_CTRL), 0);
}

static void test_ctrl_reset(void **state)
{
	struct zpsi_msr_bank b;

	(void)state;
	zpsi_msr_bank_init(&b, RAM, true);
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_ENABLE), ZPSI_MSR_EV_ENABLE);
	assert_true(zpsi_msr_write(&b, ZPSI_MSR_STATS, zpsi_stats_encode(10, 20)) >= 0);
	assert_true(zpsi_msr_write(&b, ZPSI_MSR_STATS, zpsi_stats_encode(5, 20)) >= 0);	/* wrap */
	assert_int_equal(b.committed, (1ull << 32) + 5);

	/* RESET with ENABLE kept: stats zeroed (extension too), RESET reads 0 */
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_ENABLE | ZPSI_CTRL_RESET),
			 ZPSI_MSR_EV_RESET);
	assert_int_equal(rd(&b, ZPSI_MSR_CTRL), ZPSI_CTRL_ENABLE);
	assert_int_equal(rd(&b, ZPSI_MSR_STATS), 0);
	assert_int_equal(b.committed, 0);
	assert_int_equal(b.deferred, 0);
	/* counting restarts from zero without a phantom wrap */
	assert_true(zpsi_msr_write(&b, ZPSI_MSR_STATS, zpsi_stats_encode(3, 4)) >= 0);
	assert_int_equal(b.committed, 3);
	assert_int_equal(b.deferred, 4);

	/* CTRL is one register: RESET alone also clears ENABLE */
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_RESET),
			 ZPSI_MSR_EV_RESET | ZPSI_MSR_EV_DISABLE);
	assert_int_equal(rd(&b, ZPSI_MSR_CTRL), 0);
	/* RESET again with nothing to reset still acts (write-one-to-act) */
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_RESET), ZPSI_MSR_EV_RESET);
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_RESET | ZPSI_CTRL_ENABLE),
			 ZPSI_MSR_EV_RESET | ZPSI_MSR_EV_ENABLE);
}

static void test_ctrl_region(void **state)
{
	const uint64_t last = RAM - ZPSI_REGION_PAGE_SIZE;
	struct zpsi_msr_bank b;

	(void)state;
	zpsi_msr_bank_init(&b, RAM, true);
	write_faults(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_REGION | RAM, -EINVAL);		/* just past RAM */
	write_faults(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_REGION | ZPSI_CTRL_GPA_MASK, -EINVAL);	/* top page */
	write_faults(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_REGION | (1ull << 63), -EINVAL);

	/* page 0 is "no region" (HC_PSI_REGISTER's RCX): refused */
	write_faults(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_REGION | 0, -EINVAL);
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_REGION | 0x1000), ZPSI_MSR_EV_REGION_ON);
	assert_int_equal(rd(&b, ZPSI_MSR_CTRL), ZPSI_CTRL_REGION | 0x1000);
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_REGION | last), ZPSI_MSR_EV_REGION_ON);
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_REGION | last), 0);	/* same page */
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_REGION | ZPSI_CTRL_ENABLE | last),
			 ZPSI_MSR_EV_ENABLE);
	/* a bad move faults and leaves the region where it was */
	write_faults(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_REGION | ZPSI_CTRL_ENABLE | RAM, -EINVAL);
	assert_int_equal(rd(&b, ZPSI_MSR_CTRL), ZPSI_CTRL_REGION | ZPSI_CTRL_ENABLE | last);
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_ENABLE | last), ZPSI_MSR_EV_REGION_OFF);
	/* REGION clear: the GPA bits are stored unchecked, read back for RMW */
	assert_int_equal(rd(&b, ZPSI_MSR_CTRL), ZPSI_CTRL_ENABLE | last);
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_GPA_MASK), ZPSI_MSR_EV_DISABLE);
	assert_int_equal(rd(&b, ZPSI_MSR_CTRL), ZPSI_CTRL_GPA_MASK);
	/* off -> on at the stored page */
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_REGION | 0x5000), ZPSI_MSR_EV_REGION_ON);
	/* everything at once */
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_ENABLE | ZPSI_CTRL_RESET | 0x6000),
			 ZPSI_MSR_EV_ENABLE | ZPSI_MSR_EV_RESET | ZPSI_MSR_EV_REGION_OFF);
}

static void test_ctrl_region_limits(void **state)
{
	struct zpsi_msr_bank b;

	(void)state;
	/* not offered: REGION faults even at a good page */
	zpsi_msr_bank_init(&b, RAM, false);
	write_faults(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_REGION | 0x1000, -EINVAL);
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_ENABLE | 0x1000), ZPSI_MSR_EV_ENABLE);

	/* RAM smaller than a page: no page fits */
	zpsi_msr_bank_init(&b, 4095, true);
	write_faults(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_REGION, -EINVAL);
	zpsi_msr_bank_init(&b, 0, true);
	write_faults(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_REGION, -EINVAL);
	/* exactly one page: page 0, which cannot hold the region */
	zpsi_msr_bank_init(&b, 4096, true);
	write_faults(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_REGION, -EINVAL);
	write_faults(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_REGION | 0x1000, -EINVAL);
	/* two pages: the second */
	zpsi_msr_bank_init(&b, 8192, true);
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_REGION | 0x1000), ZPSI_MSR_EV_REGION_ON);
	/* RAM that ends mid-page: the partial page does not count */
	zpsi_msr_bank_init(&b, 0x10800, true);
	assert_true(zpsi_msr_write(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_REGION | 0xF000) >= 0);
	write_faults(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_REGION | 0x10000, -EINVAL);
	/* RAM at the top of the address space: no overflow at the last page */
	zpsi_msr_bank_init(&b, UINT64_MAX, true);
	assert_true(zpsi_msr_write(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_REGION | 0xFFFFFFFFFFFFE000ull) >= 0);
	write_faults(&b, ZPSI_MSR_CTRL, ZPSI_CTRL_REGION | 0xFFFFFFFFFFFFF000ull, -EINVAL);
}

static void test_counters(void **state)
{
	struct zpsi_msr_bank b;
	uint64_t v;

	(void)state;
	zpsi_msr_bank_init(&b, RAM, true);
	assert_int_equal(zpsi_msr_read(&b, ZPSI_MSR_STATE, &v), 0);
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_STATE, 1), ZPSI_MSR_EV_RATIO);
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_CTRL, 0), 0);	/* no event, still a write */
	assert_int_equal(zpsi_msr_write(&b, ZPSI_MSR_STATE, 10001), -EINVAL);
	assert_int_equal(zpsi_msr_read(&b, 0x10, &v), -ENOENT);
	assert_int_equal(b.reads, 1);
	assert_int_equal(b.writes, 2);
	assert_int_equal(b.faults, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_defaults),
		cmocka_unit_test(test_not_psi),
		cmocka_unit_test(test_not_allowed),
		cmocka_unit_test(test_state_boundaries),
		cmocka_unit_test(test_state_rmw_and_host),
		cmocka_unit_test(test_conf_boundaries),
		cmocka_unit_test(test_stats_wrap),
		cmocka_unit_test(test_stats_many_wraps),
		cmocka_unit_test(test_ctrl_reserved),
		cmocka_unit_test(test_ctrl_enable_events),
		cmocka_unit_test(test_ctrl_reset),
		cmocka_unit_test(test_ctrl_region),
		cmocka_unit_test(test_ctrl_region_limits),
		cmocka_unit_test(test_counters),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
