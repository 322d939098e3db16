/* SPDX-License-Identifier: MIT */
/* test_le.c - zpsi/le.h: the exact bytes of each width, round trips at
 * every boundary value, and a cursor that never reads past its end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "zpsi/le.h"

static void test_bytes(void **state)
{
	uint8_t b[8];

	(void)state;
	zpsi_put_le16(b, 0x0201);
	assert_memory_equal(b, "\x01\x02", 2);
	zpsi_put_le32(b, 0x04030201u);
	assert_memory_equal(b, "\x01\x02\x03\x04", 4);
	zpsi_put_le64(b, 0x0807060504030201ull);
	assert_memory_equal(b, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	assert_int_equal(zpsi_get_le16(b), 0x0201);
	assert_int_equal(zpsi_get_le32(b), 0x04030201u);
	assert_int_equal(zpsi_get_le64(b), 0x0807060504030201ull);
}

static void test_round_trips(void **state)
{
	static const uint64_t v[] = { 0, 1, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 0x7FFFFFFF,
				      0x80000000u, 0xFFFFFFFFu, 0x100000000ull, UINT64_MAX - 1, UINT64_MAX };
	uint8_t b[8];

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		zpsi_put_le16(b, (uint16_t)v[i]);
		assert_int_equal(zpsi_get_le16(b), (uint16_t)v[i]);
		zpsi_put_le32(b, (uint32_t)v[i]);
		assert_int_equal(zpsi_get_le32(b), (uint32_t)v[i]);
		zpsi_put_le64(b, v[i]);
		assert_int_equal(zpsi_get_le64(b), v[i]);
	}
	assert_int_equal(zpsi_pad8(0), 0);
	assert_int_equal(zpsi_pad8(1), 8);
	assert_int_equal(zpsi_pad8(8), 8);
	assert_int_equal(zpsi_pad8(9), 16);
	assert_true(zpsi_all_zero((const uint8_t *)"\0\0\0", 3));
	assert_false(zpsi_all_zero((const uint8_t *)"\0\0\1", 3));
	assert_true(zpsi_all_zero(NULL, 0));
}

static void test_cursor(void **state)
{
	const uint8_t b[15] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
	struct zpsi_le_cursor c = zpsi_le_cursor(b, sizeof(b));

	(void)state;
	assert_int_equal(zpsi_le_u8(&c), 1);
	assert_int_equal(zpsi_le_u16(&c), 0x0302);
	assert_int_equal(zpsi_le_u32(&c), 0x07060504u);
	assert_int_equal(zpsi_le_left(&c), 8);
	assert_int_equal(zpsi_le_u64(&c), 0x0F0E0D0C0B0A0908ull);
	assert_false(c.bad);
	assert_int_equal(zpsi_le_left(&c), 0);
	/* past the end: 0, and bad for good */
	assert_int_equal(zpsi_le_u8(&c), 0);
	assert_true(c.bad);
	assert_null(zpsi_le_take(&c, 0));
	assert_int_equal(zpsi_le_left(&c), 0);

	/* a read that does not fit does not take what is left */
	c = zpsi_le_cursor(b, 7);
	assert_int_equal(zpsi_le_u32(&c), 0x04030201u);
	assert_int_equal(zpsi_le_u64(&c), 0);
	assert_true(c.bad);
	c = zpsi_le_cursor(b, 7);
	assert_null(zpsi_le_take(&c, SIZE_MAX));
	assert_true(c.bad);
	/* NULL buffer: an empty cursor */
	c = zpsi_le_cursor(NULL, 99);
	assert_int_equal(zpsi_le_left(&c), 0);
	assert_int_equal(zpsi_le_u16(&c), 0);
	assert_true(c.bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_cursor),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
