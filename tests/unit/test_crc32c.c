/* SPDX-License-Identifier: MIT */
/* test_crc32c.c - CRC32C: published vectors, chaining, and the table and
 * SSE4.2 paths agreeing on every length and alignment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "zpsi/crc32c.h"
#include "../../lib/crc32c-internal.h"

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

/* Every path the library has; the hardware one only where the CPU has it. */
static const struct {
	const char *name;
	crc_fn fn;
} paths[] = {
	{ "dispatch", zpsi_crc32c },
	{ "portable", zpsi_crc32c_portable },
	{ "sse4.2", zpsi_crc32c_hw },
};

/* A small deterministic generator (xorshift64*), so failures reproduce. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

static void test_hw_reported(void **state)
{
	(void)state;
	/* Not an assertion about the machine, but the log says which paths the
	 * agreement tests below really compared. */
	printf("sse4.2 crc32: %s\n", zpsi_crc32c_have_hw() ? "present" : "absent (portable only)");
	assert_true(zpsi_crc32c_have_hw() == 0 || zpsi_crc32c_have_hw() == 1);
}

static void test_check_value(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		assert_int_equal(paths[i].fn(0, "123456789", 9), 0xE3069283u);
		assert_int_equal(paths[i].fn(0, "", 0), 0);
		assert_int_equal(paths[i].fn(0x12345678u, NULL, 0), 0x12345678u);
		assert_int_equal(paths[i].fn(0, "a", 1), 0xC1D04330u);
	}
}

/* RFC 3720 appendix B.4 (iSCSI): the CRC of each 32-byte buffer. */
static void test_rfc3720_vectors(void **state)
{
	uint8_t zeros[32], ones[32], inc[32], dec[32];

	(void)state;
	memset(zeros, 0, sizeof(zeros));
	memset(ones, 0xFF, sizeof(ones));
	for (int i = 0; i < 32; i++) {
		inc[i] = (uint8_t)i;
		dec[i] = (uint8_t)(31 - i);
	}
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		assert_int_equal(paths[i].fn(0, zeros, 32), 0x8A9136AAu);
		assert_int_equal(paths[i].fn(0, ones, 32), 0x62A8AB43u);
		assert_int_equal(paths[i].fn(0, inc, 32), 0x46DD794Eu);
		assert_int_equal(paths[i].fn(0, dec, 32), 0x113FDB5Cu);
	}
}

static void test_chaining(void **state)
{
	uint8_t buf[300];

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rng_next();
	for (size_t p = 0; p < sizeof(paths) / sizeof(paths[0]); p++) {
		uint32_t whole = paths[p].fn(0, buf, sizeof(buf));

		/* every split point, and a three-way split */
		for (size_t cut = 0; cut <= sizeof(buf); cut++) {
			uint32_t c = paths[p].fn(0, buf, cut);

			assert_int_equal(paths[p].fn(c, buf + cut, sizeof(buf) - cut), whole);
		}
		assert_int_equal(paths[p].fn(paths[p].fn(paths[p].fn(0, buf, 7), buf + 7, 100),
					     buf + 107, sizeof(buf) - 107), whole);
		/* byte at a time */
		{
			uint32_t c = 0;

			for (size_t i = 0; i < sizeof(buf); i++)
				c = paths[p].fn(c, buf + i, 1);
			assert_int_equal(c, whole);
		}
	}
	/* chaining across the two paths, too */
	assert_int_equal(zpsi_crc32c_hw(zpsi_crc32c_portable(0, buf, 13), buf + 13, sizeof(buf) - 13),
			 zpsi_crc32c(0, buf, sizeof(buf)));
}

static void test_paths_agree_random(void **state)
{
	static uint8_t buf[4096 + 16];

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rng_next();
	/* every length 0..600 at every start offset 0..15 (unaligned starts and
	 * every tail length), then some long random slices */
	for (size_t off = 0; off < 16; off++) {
		for (size_t len = 0; len <= 600; len++) {
			uint32_t seed = (uint32_t)rng_next();
			uint32_t a = zpsi_crc32c_portable(seed, buf + off, len);

			assert_int_equal(zpsi_crc32c_hw(seed, buf + off, len), a);
			assert_int_equal(zpsi_crc32c(seed, buf + off, len), a);
		}
	}
	for (int i = 0; i < 2000; i++) {
		size_t off = rng_next() % 16, len = rng_next() % 4097;

		assert_int_equal(zpsi_crc32c_hw(0, buf + off, len), zpsi_crc32c_portable(0, buf + off, len));
	}
}

/* The same bytes at different addresses give the same CRC. */
static void test_unaligned_starts(void **state)
{
	static const char msg[] = "The quick brown fox jumps over the lazy dog";
	uint8_t buf[64 + sizeof(msg)];

	(void)state;
	for (size_t p = 0; p < sizeof(paths) / sizeof(paths[0]); p++) {
		for (size_t off = 0; off < 64; off++) {
			memset(buf, 0xA5, sizeof(buf));
			memcpy(buf + off, msg, sizeof(msg) - 1);
			assert_int_equal(paths[p].fn(0, buf + off, sizeof(msg) - 1), 0x22620404u);
		}
	}
}

/* Every single-bit error in a buffer changes the CRC (the property the
 * migration record relies on). */
static void test_single_bit_errors_detected(void **state)
{
	uint8_t buf[256];
	uint32_t good;

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rng_next();
	good = zpsi_crc32c(0, buf, sizeof(buf));
	for (size_t bit = 0; bit < sizeof(buf) * 8; bit++) {
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_not_equal(zpsi_crc32c(0, buf, sizeof(buf)), good);
		assert_int_not_equal(zpsi_crc32c_portable(0, buf, sizeof(buf)), good);
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hw_reported),
		cmocka_unit_test(test_check_value),
		cmocka_unit_test(test_rfc3720_vectors),
		cmocka_unit_test(test_chaining),
		cmocka_unit_test(test_paths_agree_random),
		cmocka_unit_test(test_unaligned_starts),
		cmocka_unit_test(test_single_bit_errors_detected),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
