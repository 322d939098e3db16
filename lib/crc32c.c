/* SPDX-License-Identifier: MIT */
/*
 * crc32c.c - CRC32C (Castagnoli; RFC 3720 appendix B.4), the checksum of the
 * migration record.
 *
 * Reflected polynomial 0x82F63B78, initial value and final xor ~0, so that a
 * caller starts from 0 and chains by passing the previous result back in.
 * Two implementations that must agree bit for bit: slicing-by-8 tables
 * (portable) and the SSE4.2 crc32 instruction, which computes exactly this
 * polynomial.  The choice is made once, at run time, so one binary serves
 * CPUs with and without SSE4.2.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zpsi/crc32c.h"
#include "crc32c-internal.h"

#if defined(__x86_64__) || defined(__i386__)
#define CRC_X86 1
#include <nmmintrin.h>
#else
#define CRC_X86 0
#endif

#define CRC32C_POLY 0x82F63B78u

/* crc_table[0] is the classic byte table; crc_table[k][b] is the CRC of
 * byte b followed by k zero bytes, which lets the loop fold 8 bytes with 8
 * independent lookups. */
static uint32_t crc_table[8][256];
static bool crc_hw;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (unsigned b = 0; b < 256; b++) {
		uint32_t c = b;

		for (int i = 0; i < 8; i++)
			c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1)));
		crc_table[0][b] = c;
	}
	for (unsigned b = 0; b < 256; b++)
		for (unsigned k = 1; k < 8; k++)
			crc_table[k][b] = (crc_table[k - 1][b] >> 8) ^
					  crc_table[0][crc_table[k - 1][b] & 0xFF];
#if CRC_X86
	crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

static inline uint64_t crc_load_le64(const uint8_t *p)
{
	/* Byte-wise so that alignment and host byte order never matter;
	 * compilers turn this into one load on little-endian hosts. */
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
	       (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
	       (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

static uint32_t crc_portable_raw(uint32_t c, const uint8_t *p, size_t len)
{
	while (len >= 8) {
		uint64_t v = crc_load_le64(p) ^ c;

		c = crc_table[7][v & 0xFF] ^ crc_table[6][(v >> 8) & 0xFF] ^
		    crc_table[5][(v >> 16) & 0xFF] ^ crc_table[4][(v >> 24) & 0xFF] ^
		    crc_table[3][(v >> 32) & 0xFF] ^ crc_table[2][(v >> 40) & 0xFF] ^
		    crc_table[1][(v >> 48) & 0xFF] ^ crc_table[0][v >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xFF];
	return c;
}

uint32_t zpsi_crc32c_portable(uint32_t crc, const void *data, size_t len)
{
	pthread_once(&crc_once, crc_init);
	return ~crc_portable_raw(~crc, data, len);
}

bool zpsi_crc32c_have_hw(void)
{
	pthread_once(&crc_once, crc_init);
	return crc_hw;
}

#if CRC_X86
__attribute__((target("sse4.2")))
static uint32_t crc_hw_raw(uint32_t c, const uint8_t *p, size_t len)
{
	/* Byte steps up to 8-byte alignment (an unaligned crc32q is legal but
	 * may straddle cache lines), then 8 bytes per instruction. */
	while (len && ((uintptr_t)p & 7)) {
		c = _mm_crc32_u8(c, *p++);
		len--;
	}
#if defined(__x86_64__)
	{
		uint64_t c64 = c;

		while (len >= 8) {
			c64 = _mm_crc32_u64(c64, crc_load_le64(p));
			p += 8;
			len -= 8;
		}
		c = (uint32_t)c64;
	}
#endif
	while (len >= 4) {
		c = _mm_crc32_u32(c, (uint32_t)p[0] | (uint32_t)p[1] << 8 |
				     (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		p += 4;
		len -= 4;
	}
	while (len--)
		c = _mm_crc32_u8(c, *p++);
	return c;
}

uint32_t zpsi_crc32c_hw(uint32_t crc, const void *data, size_t len)
{
	if (!zpsi_crc32c_have_hw())
		return zpsi_crc32c_portable(crc, data, len);
	return ~crc_hw_raw(~crc, data, len);
}
#else
uint32_t zpsi_crc32c_hw(uint32_t crc, const void *data, size_t len)
{
	return zpsi_crc32c_portable(crc, data, len);
}
#endif

uint32_t zpsi_crc32c(uint32_t crc, const void *data, size_t len)
{
	pthread_once(&crc_once, crc_init);
#if CRC_X86
	if (crc_hw)
		return ~crc_hw_raw(~crc, data, len);
#endif
	return ~crc_portable_raw(~crc, data, len);
}
