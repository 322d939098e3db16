/* SPDX-License-Identifier: MIT */
/* test_abi.c - the freestanding ABI header: encodings, boundaries, and the
 * integer f64 conversions against the host's FPU. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "zpsi/abi.h"

static uint64_t bits_of(double d)
{
	uint64_t b;

	memcpy(&b, &d, sizeof(b));
	return b;
}

static void test_signature_bytes(void **state)
{
	uint32_t regs[3] = { ZPSI_CPUID_SIG_EBX, ZPSI_CPUID_SIG_ECX, ZPSI_CPUID_SIG_EDX };
	char sig[12];

	(void)state;
	memcpy(sig, regs, sizeof(sig));
	assert_memory_equal(sig, "ZIMEPSI\0\0\0\0\0", 12);
	assert_int_equal(strlen(ZPSI_CPUID_SIGNATURE), 7);
	assert_memory_equal(&(uint64_t){ ZPSI_REGION_MAGIC_U64 }, ZPSI_REGION_MAGIC, 8);
	assert_true(ZPSI_DOORBELL_PORT_DEFAULT <= 0xFF);	/* reachable by out imm8 */
}

static void test_state_encoding(void **state)
{
	uint64_t v = zpsi_state_encode(10000, 1234, ZPSI_POWER_C6);

	(void)state;
	assert_int_equal(zpsi_state_guest_bp(v), 10000);
	assert_int_equal(zpsi_state_host_bp(v), 1234);
	assert_int_equal(zpsi_state_power(v), 6);
	assert_int_equal(v & ZPSI_STATE_RSVD_MASK, 0);
	assert_int_equal(v, 0x604D22710ull);
	/* the three masks tile bits 35:0 and the reserved mask the rest */
	assert_int_equal(ZPSI_STATE_GUEST_MASK | ZPSI_STATE_RO_MASK | ZPSI_STATE_RSVD_MASK, UINT64_MAX);
	assert_int_equal(ZPSI_STATE_GUEST_MASK & ZPSI_STATE_RO_MASK, 0);
	assert_int_equal(ZPSI_STATE_RO_MASK & ZPSI_STATE_RSVD_MASK, 0);
}

static void test_conf_stats_ctrl_encoding(void **state)
{
	uint64_t c = zpsi_conf_encode(1, 10000), s, k;

	(void)state;
	assert_int_equal(zpsi_conf_delta_bp(c), 1);
	assert_int_equal(zpsi_conf_thresh_bp(c), 10000);
	assert_int_equal(ZPSI_CONF_DELTA_MASK | ZPSI_CONF_THRESH_MASK | ZPSI_CONF_RSVD_MASK, UINT64_MAX);

	s = zpsi_stats_encode(0x1FFFFFFFFull, 0x100000002ull);	/* low 32 bits only */
	assert_int_equal(zpsi_stats_committed32(s), 0xFFFFFFFFu);
	assert_int_equal(zpsi_stats_deferred32(s), 2);

	k = zpsi_ctrl_encode(ZPSI_CTRL_ENABLE | ZPSI_CTRL_REGION | 0x10, 0x12345FFFull);
	assert_int_equal(k, 0x12345000ull | 5);	/* GPA page only, unknown flag dropped */
	assert_int_equal(zpsi_ctrl_gpa(k), 0x12345000ull);
	assert_int_equal(ZPSI_CTRL_ENABLE | ZPSI_CTRL_RESET | ZPSI_CTRL_REGION | ZPSI_CTRL_RSVD_MASK |
			 ZPSI_CTRL_GPA_MASK, UINT64_MAX);
}

static void test_hostinfo(void **state)
{
	uint64_t h = zpsi_hostinfo_encode(ZPSI_HOSTINFO_BALLOON | 0xFF0000, 12345);

	(void)state;
	assert_int_equal(h & ZPSI_HOSTINFO_REV_MASK, ZPSI_REGION_REVISION);
	assert_int_equal(h & ZPSI_HOSTINFO_FLAGS_MASK, ZPSI_HOSTINFO_BALLOON);
	assert_int_equal(zpsi_hostinfo_target_pages(h), 12345);
	assert_int_equal(zpsi_hostinfo_target_pages(zpsi_hostinfo_encode(0, UINT64_MAX)),
			 ZPSI_HOSTINFO_TARGET_MAX);
}

static void test_power_machine(void **state)
{
	(void)state;
	assert_true(zpsi_power_transition_ok(ZPSI_POWER_C0, ZPSI_POWER_C1));
	assert_true(zpsi_power_transition_ok(ZPSI_POWER_C1, ZPSI_POWER_C3));
	assert_true(zpsi_power_transition_ok(ZPSI_POWER_C3, ZPSI_POWER_C6));
	for (uint8_t s = 0; s < 8; s++)
		assert_true(zpsi_power_transition_ok(s, ZPSI_POWER_C0));	/* wake */
	assert_false(zpsi_power_transition_ok(ZPSI_POWER_C0, ZPSI_POWER_C3));	/* skip */
	assert_false(zpsi_power_transition_ok(ZPSI_POWER_C6, ZPSI_POWER_C6));	/* floor */
	assert_false(zpsi_power_transition_ok(ZPSI_POWER_C6, 0xFF));	/* not "next of C6" */
	assert_false(zpsi_power_transition_ok(ZPSI_POWER_C1, ZPSI_POWER_C1));
	assert_false(zpsi_power_transition_ok(ZPSI_POWER_C3, ZPSI_POWER_C1));	/* shallower */
	assert_false(zpsi_power_transition_ok(ZPSI_POWER_C0, 2));
	assert_false(zpsi_power_transition_ok(ZPSI_POWER_C0, 1ull << 32 | 1));
	assert_false(zpsi_power_valid(2));
	assert_false(zpsi_power_valid(7));
}

static void test_ratio_bp(void **state)
{
	(void)state;
	assert_int_equal(zpsi_ratio_bp(0, 0), 0);
	assert_int_equal(zpsi_ratio_bp(0, 5), 10000);
	assert_int_equal(zpsi_ratio_bp(5, 0), 0);
	assert_int_equal(zpsi_ratio_bp(3, 1), 2500);
	assert_int_equal(zpsi_ratio_bp(2, 1), 3333);	/* 3333.33 */
	assert_int_equal(zpsi_ratio_bp(1, 2), 6667);	/* 6666.67 */
	assert_int_equal(zpsi_ratio_bp(19999, 1), 1);	/* 0.5 bp rounds up */
	assert_int_equal(zpsi_ratio_bp(UINT64_MAX, UINT64_MAX), 5000);
	assert_int_equal(zpsi_ratio_bp(UINT64_MAX, 0), 0);
	assert_int_equal(zpsi_ratio_bp(0, UINT64_MAX), 10000);
	assert_int_equal(zpsi_ratio_bp(UINT64_MAX / 4 * 3, UINT64_MAX / 4), 2500);
}

/* Every basis point converts to the FPU's correctly rounded double and back. */
static void test_f64_exhaustive(void **state)
{
	(void)state;
	for (uint32_t bp = 0; bp <= ZPSI_BP_MAX; bp++) {
		uint64_t b = bits_of(bp / 10000.0);

		assert_int_equal(zpsi_f64_from_bp(bp), b);
		assert_int_equal(zpsi_bp_from_f64(b), (int32_t)bp);
	}
	assert_int_equal(zpsi_f64_from_bp(10001), ZPSI_F64_ONE);	/* clamped */
	assert_int_equal(zpsi_f64_from_bp(UINT32_MAX), ZPSI_F64_ONE);
}

static void test_f64_rounding_and_rejects(void **state)
{
	(void)state;
	for (uint32_t i = 0; i <= 1000000; i += 7) {
		double d = i / 1000000.0;
		double exact = d * 10000.0;
		int32_t got = zpsi_bp_from_f64(bits_of(d));

		/* away from a .5 tie, the integer path equals llround() */
		if (fabs(exact - floor(exact) - 0.5) > 1e-6)
			assert_int_equal(got, (int32_t)llround(exact));
	}
	assert_int_equal(zpsi_bp_from_f64(bits_of(-0.0)), 0);
	assert_int_equal(zpsi_bp_from_f64(bits_of(4.9e-324)), 0);	/* subnormal */
	assert_int_equal(zpsi_bp_from_f64(bits_of(0.00004)), 0);
	assert_int_equal(zpsi_bp_from_f64(bits_of(0.00005)), 1);	/* 0.5 bp: half up */
	assert_int_equal(zpsi_bp_from_f64(bits_of(1.0)), 10000);
	assert_int_equal(zpsi_bp_from_f64(bits_of(nextafter(1.0, 2.0))), -1);
	assert_int_equal(zpsi_bp_from_f64(bits_of(-1e-300)), -1);
	assert_int_equal(zpsi_bp_from_f64(bits_of(NAN)), -1);
	assert_int_equal(zpsi_bp_from_f64(bits_of(-NAN)), -1);
	assert_int_equal(zpsi_bp_from_f64(bits_of(INFINITY)), -1);
	assert_int_equal(zpsi_bp_from_f64(bits_of(-INFINITY)), -1);
	assert_int_equal(zpsi_bp_from_f64(bits_of(2.0)), -1);
}

static void test_guest_publish(void **state)
{
	struct zpsi_region r = { .magic = ZPSI_REGION_MAGIC_U64, .version = 4, .host_ratio = 77 };

	(void)state;
	zpsi_region_guest_publish(&r, zpsi_f64_from_bp(2500), 3, 1, 99);
	assert_int_equal(r.version, 6);		/* even, advanced by 2 */
	assert_int_equal(r.guest_ratio, bits_of(0.25));
	assert_int_equal(r.committed, 3);
	assert_int_equal(r.deferred, 1);
	assert_int_equal(r.timestamp_ns, 99);
	assert_int_equal(r.host_ratio, 77);	/* the host's field is not touched */
	r.version = 7;				/* a writer that died mid-update */
	zpsi_region_guest_publish(&r, 0, 4, 1, 100);
	assert_int_equal(r.version, 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signature_bytes),
		cmocka_unit_test(test_state_encoding),
		cmocka_unit_test(test_conf_stats_ctrl_encoding),
		cmocka_unit_test(test_hostinfo),
		cmocka_unit_test(test_power_machine),
		cmocka_unit_test(test_ratio_bp),
		cmocka_unit_test(test_f64_exhaustive),
		cmocka_unit_test(test_f64_rounding_and_rejects),
		cmocka_unit_test(test_guest_publish),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
