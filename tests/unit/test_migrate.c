/* SPDX-License-Identifier: MIT */
/* test_migrate.c - the migration record: exact bytes, round trips, and every
 * way a hostile or damaged record must be refused, each with its own error. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "zpsi/abi.h"
#include "zpsi/crc32c.h"
#include "zpsi/migrate.h"

#define MAXSECS 16

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* Recompute both checksums after a deliberate edit, so the test reaches the
 * check behind them (as a malicious sender would). */
static void reseal(uint8_t *rec, size_t len)
{
	put32(rec + 28, zpsi_crc32c(0, rec, 28));
	put32(rec + len - 8, zpsi_crc32c(0, rec, len - 8));
}

static void full_state(struct zpsi_psi_state *s)
{
	memset(s, 0, sizeof(*s));
	s->guest_id = 0xA1B2C3D4;
	s->weight = 65535;
	s->power = ZPSI_POWER_C3;
	s->registered = true;
	s->region_valid = true;
	s->msr_state = zpsi_state_encode(10000, 4321, ZPSI_POWER_C3);
	s->msr_conf = zpsi_conf_encode(100, 10000);
	s->committed = 0x123456789ABCDEF0ull;
	s->deferred = 0x00000001FFFFFFFFull;
	s->msr_stats = zpsi_stats_encode(s->committed, s->deferred);
	s->msr_ctrl = zpsi_ctrl_encode(ZPSI_CTRL_ENABLE | ZPSI_CTRL_REGION, 0xFFFFFFFFFFFFF000ull);
	s->region_gpa = 0xFFFFFFFFFFFFF000ull;
	memcpy(s->region, ZPSI_REGION_MAGIC, 8);
	for (int i = 8; i < 64; i++)
		s->region[i] = (uint8_t)(0xF0 ^ i);
	s->captured_ns = UINT64_MAX;
	s->last_update_age_ns = 123456789;
}

static void assert_state_equal(const struct zpsi_psi_state *a, const struct zpsi_psi_state *b)
{
	assert_int_equal(a->guest_id, b->guest_id);
	assert_int_equal(a->weight, b->weight);
	assert_int_equal(a->power, b->power);
	assert_int_equal(a->registered, b->registered);
	assert_int_equal(a->region_valid, b->region_valid);
	assert_int_equal(a->msr_state, b->msr_state);
	assert_int_equal(a->msr_conf, b->msr_conf);
	assert_int_equal(a->msr_stats, b->msr_stats);
	assert_int_equal(a->msr_ctrl, b->msr_ctrl);
	assert_int_equal(a->committed, b->committed);
	assert_int_equal(a->deferred, b->deferred);
	assert_int_equal(a->region_gpa, b->region_gpa);
	assert_memory_equal(a->region, b->region, sizeof(a->region));
	assert_int_equal(a->captured_ns, b->captured_ns);
	assert_int_equal(a->last_update_age_ns, b->last_update_age_ns);
}

static bool known_all(uint32_t type)
{
	(void)type;
	return true;
}

/* A record with a PSI section and a 5-byte optional section of type 99
 * (so there is padding), or only the PSI section. */
static uint8_t *make_record(size_t *len, bool with_extra)
{
	struct zpsi_mig_writer w;
	struct zpsi_psi_state s;
	uint8_t *buf = NULL;

	full_state(&s);
	assert_int_equal(zpsi_mig_writer_init(&w), 0);
	assert_int_equal(zpsi_mig_add_psi(&w, &s), 0);
	if (with_extra)
		assert_int_equal(zpsi_mig_add_section(&w, 99, 0, "hello", 5), 0);
	assert_int_equal(zpsi_mig_finish(&w, &buf, len), 0);
	assert_null(w.buf);
	return buf;
}

static int parse(const uint8_t *buf, size_t len)
{
	struct zpsi_mig_section secs[MAXSECS];
	size_t n = 0;

	return zpsi_mig_parse(buf, len, NULL, secs, MAXSECS, &n);
}

static void test_round_trip(void **state)
{
	struct zpsi_mig_section secs[MAXSECS];
	struct zpsi_psi_state in, out;
	const struct zpsi_mig_section *psi;
	uint8_t *rec;
	size_t len, n = 99;

	(void)state;
	rec = make_record(&len, true);
	assert_int_equal(len, 32 + 16 + ZPSI_MIG_PSI_SIZE + 16 + 8 + 8);
	assert_int_equal(zpsi_mig_parse(rec, len, NULL, secs, MAXSECS, &n), 0);
	assert_int_equal(n, 1);		/* type 99 is skipped: optional, unknown */
	psi = zpsi_mig_find(secs, n, ZPSI_MIG_SEC_PSI);
	assert_non_null(psi);
	assert_null(zpsi_mig_find(secs, n, 99));
	assert_int_equal(psi->flags, ZPSI_MIG_SEC_REQUIRED);
	assert_int_equal(psi->len, ZPSI_MIG_PSI_SIZE);
	assert_ptr_equal(psi->data, rec + 32 + 16);
	assert_int_equal(zpsi_mig_decode_psi(psi, &out), 0);
	full_state(&in);
	assert_state_equal(&in, &out);

	/* an unregistered guest without a region, in C0 */
	{
		struct zpsi_mig_writer w;
		uint8_t b[ZPSI_MIG_PSI_SIZE], b2[ZPSI_MIG_PSI_SIZE];

		memset(&in, 0, sizeof(in));
		in.msr_conf = zpsi_conf_encode(ZPSI_CONF_DEFAULT_DELTA_BP, ZPSI_CONF_DEFAULT_THRESH_BP);
		in.captured_ns = 1;
		assert_int_equal(zpsi_mig_encode_psi(&in, b), 0);
		assert_int_equal(zpsi_mig_decode_psi(&(struct zpsi_mig_section){ ZPSI_MIG_SEC_PSI, 0, b,
										   sizeof(b) }, &out), 0);
		assert_state_equal(&in, &out);
		assert_int_equal(zpsi_mig_encode_psi(&out, b2), 0);
		assert_memory_equal(b, b2, sizeof(b));	/* canonical */

		free(rec);
		assert_int_equal(zpsi_mig_writer_init(&w), 0);
		assert_int_equal(zpsi_mig_add_psi(&w, &in), 0);
		assert_int_equal(zpsi_mig_finish(&w, &rec, &len), 0);
		assert_int_equal(zpsi_mig_parse(rec, len, NULL, secs, MAXSECS, &n), 0);
		assert_int_equal(zpsi_mig_decode_psi(&secs[0], &out), 0);
		assert_state_equal(&in, &out);
	}
	free(rec);
}

/* The bytes on the wire, field by field, little-endian. */
static void test_exact_layout(void **state)
{
	struct zpsi_psi_state s;
	uint8_t *rec, b[ZPSI_MIG_PSI_SIZE];
	size_t len;

	(void)state;
	rec = make_record(&len, true);
	assert_memory_equal(rec, "ZPSIMIG\0", 8);
	assert_memory_equal(rec + 8, "\x01\x00\x20\x00\x00\x00\x00\x00", 8);	/* v1, 32, flags 0 */
	assert_int_equal(get64(rec + 16), 16 + 168 + 16 + 8);
	assert_int_equal(get32(rec + 24), 2);
	assert_int_equal(get32(rec + 28), zpsi_crc32c(0, rec, 28));
	assert_memory_equal(rec + 32, "\x01\0\0\0\x01\0\0\0\xa8\0\0\0\0\0\0\0", 16);	/* PSI, required, 168 */
	assert_memory_equal(rec + 216, "\x63\0\0\0\0\0\0\0\x05\0\0\0\0\0\0\0hello\0\0\0", 24);
	assert_int_equal(get32(rec + 240), zpsi_crc32c(0, rec, 240));
	assert_memory_equal(rec + 244, "ZEND", 4);
	assert_int_equal(len, 248);

	full_state(&s);
	assert_int_equal(zpsi_mig_encode_psi(&s, b), 0);
	assert_memory_equal(b, rec + 48, sizeof(b));
	assert_memory_equal(b, "\xd4\xc3\xb2\xa1\xff\xff\0\0\x03\x03\0\0\0\0\0\0", 16);
	assert_int_equal(get64(b + 16), s.msr_state);
	assert_int_equal(get64(b + 24), s.msr_conf);
	assert_int_equal(get64(b + 32), s.msr_stats);
	assert_int_equal(get64(b + 40), s.msr_ctrl);
	assert_int_equal(get64(b + 48), s.committed);
	assert_int_equal(get64(b + 56), s.deferred);
	assert_int_equal(get64(b + 64), s.region_gpa);
	assert_memory_equal(b + 72, s.region, 64);
	assert_int_equal(get64(b + 136), s.captured_ns);
	assert_int_equal(get64(b + 144), s.last_update_age_ns);
	for (int i = 152; i < 168; i++)
		assert_int_equal(b[i], 0);
	free(rec);
}

static void test_every_bit_flip_rejected(void **state)
{
	uint8_t *rec;
	size_t len;

	(void)state;
	rec = make_record(&len, true);
	for (size_t bit = 0; bit < len * 8; bit++) {
		int r;

		rec[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		r = parse(rec, len);
		/* the magic says "foreign"; everything else is caught by a CRC,
		 * or for "ZEND" by its comparison */
		if (r != (bit / 8 < 8 ? -EPROTO : -EBADMSG))
			fail_msg("bit %zu: %d", bit, r);
		rec[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	assert_int_equal(parse(rec, len), 0);
	free(rec);
}

static void test_every_truncation_rejected(void **state)
{
	uint64_t total;
	uint8_t *rec;
	size_t len;

	(void)state;
	rec = make_record(&len, true);
	for (size_t l = 0; l < len; l++) {
		uint8_t *copy = malloc(l ? l : 1);	/* exact size: ASan sees overreads */

		memcpy(copy, rec, l);
		assert_int_equal(parse(copy, l), -ENODATA);
		assert_int_equal(zpsi_mig_check_header(copy, l, &total), l < 32 ? -ENODATA : 0);
		free(copy);
	}
	assert_int_equal(parse(NULL, 0), -ENODATA);
	/* a stream reader needs only the header to know how much follows */
	assert_int_equal(zpsi_mig_check_header(rec, 32, &total), 0);
	assert_int_equal(total, len);
	free(rec);
}

static void test_foreign_and_future(void **state)
{
	uint64_t total = 7;
	uint8_t *rec;
	size_t len;

	(void)state;
	rec = make_record(&len, false);

	memcpy(rec, "QEVM\0\0\0\3", 8);			/* QEMU's savevm magic */
	reseal(rec, len);
	assert_int_equal(parse(rec, len), -EPROTO);
	memcpy(rec, "zpsimig\0", 8);
	assert_int_equal(parse(rec, len), -EPROTO);
	memcpy(rec, "ZPSIMIG\0", 8);
	reseal(rec, len);
	assert_int_equal(parse(rec, len), 0);

	rec[8] = 0;					/* version 0 */
	reseal(rec, len);
	assert_int_equal(parse(rec, len), -EPROTO);
	rec[8] = 2;					/* a newer writer */
	reseal(rec, len);
	assert_int_equal(parse(rec, len), -EPROTONOSUPPORT);
	assert_int_equal(zpsi_mig_check_header(rec, len, &total), -EPROTONOSUPPORT);
	rec[8] = 0;
	rec[9] = 1;					/* 256: the high byte counts */
	reseal(rec, len);
	assert_int_equal(parse(rec, len), -EPROTONOSUPPORT);
	rec[9] = 0;
	rec[8] = 2;					/* newer, and the CRC broken */
	assert_int_equal(parse(rec, len), -EBADMSG);
	rec[8] = 1;
	reseal(rec, len);

	rec[10] = 48;					/* header size */
	reseal(rec, len);
	assert_int_equal(parse(rec, len), -EPROTO);
	rec[10] = 32;
	rec[15] = 0x80;					/* header flags */
	reseal(rec, len);
	assert_int_equal(parse(rec, len), -EBADMSG);
	rec[15] = 0;
	reseal(rec, len);
	assert_int_equal(parse(rec, len), 0);
	assert_int_equal(total, 7);			/* untouched by failures */
	free(rec);
}

static void test_unknown_sections(void **state)
{
	struct zpsi_mig_section secs[MAXSECS];
	size_t n = 0;
	uint8_t *rec;
	size_t len;

	(void)state;
	rec = make_record(&len, true);
	/* listed when the caller knows the type */
	assert_int_equal(zpsi_mig_parse(rec, len, known_all, secs, MAXSECS, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(secs[1].type, 99);
	assert_int_equal(secs[1].len, 5);
	assert_memory_equal(secs[1].data, "hello", 5);

	/* the same section marked required: a reader that does not know it
	 * must refuse the record rather than lose state */
	put32(rec + 216 + 4, ZPSI_MIG_SEC_REQUIRED);
	reseal(rec, len);
	assert_int_equal(parse(rec, len), -EPROTONOSUPPORT);
	assert_int_equal(zpsi_mig_parse(rec, len, known_all, secs, MAXSECS, &n), 0);
	/* unknown section flags */
	put32(rec + 216 + 4, 2);
	reseal(rec, len);
	assert_int_equal(zpsi_mig_parse(rec, len, known_all, secs, MAXSECS, &n), -EBADMSG);
	put32(rec + 216 + 4, 0);
	/* a second PSI section (type 99 renamed) */
	put32(rec + 216, ZPSI_MIG_SEC_PSI);
	reseal(rec, len);
	assert_int_equal(parse(rec, len), -EBADMSG);
	put32(rec + 216, 99);
	reseal(rec, len);

	/* more known sections than the caller has room for; nothing written */
	n = 77;
	secs[0].type = 12345;
	assert_int_equal(zpsi_mig_parse(rec, len, known_all, secs, 1, &n), -E2BIG);
	assert_int_equal(zpsi_mig_parse(rec, len, NULL, secs, 0, &n), -E2BIG);
	assert_int_equal(zpsi_mig_parse(rec, len, NULL, NULL, 0, &n), -E2BIG);
	assert_int_equal(n, 77);
	assert_int_equal(secs[0].type, 12345);
	assert_int_equal(zpsi_mig_parse(rec, len, NULL, secs, 1, &n), 0);
	assert_int_equal(n, 1);
	free(rec);
}

static void test_structure_attacks(void **state)
{
	uint8_t *rec, *big;
	size_t len;

	(void)state;
	rec = make_record(&len, true);

	/* trailing bytes after a valid record */
	big = calloc(1, len + 8);
	memcpy(big, rec, len);
	assert_int_equal(parse(big, len + 1), -EBADMSG);
	assert_int_equal(parse(big, len + 8), -EBADMSG);
	free(big);

	/* the trailer's magic (not covered by the CRC) */
	rec[len - 1] = 'X';
	assert_int_equal(parse(rec, len), -EBADMSG);
	rec[len - 1] = 'D';

	/* section lengths: one past the body, then absurd values */
	{
		static const uint64_t lens[] = { 5 + 3 + 1, 24, 1ull << 32, 1ull << 63,
						 UINT64_MAX, UINT64_MAX - 6 };

		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			put64(rec + 216 + 8, lens[i]);
			reseal(rec, len);
			assert_int_equal(parse(rec, len), -EBADMSG);
		}
		put64(rec + 216 + 8, 8);	/* 8: the padding becomes data, still tiles */
		reseal(rec, len);
		assert_int_equal(parse(rec, len), 0);
		put64(rec + 216 + 8, 0);	/* 0: leaves 8 bytes unclaimed */
		reseal(rec, len);
		assert_int_equal(parse(rec, len), -EBADMSG);
		put64(rec + 216 + 8, 5);
		reseal(rec, len);
		assert_int_equal(parse(rec, len), 0);
	}
	/* the PSI section claims more than its 168 bytes: overlaps the next */
	put64(rec + 32 + 8, 169);
	reseal(rec, len);
	assert_int_equal(parse(rec, len), -EBADMSG);
	put64(rec + 32 + 8, 168);

	/* non-zero padding */
	rec[216 + 16 + 6] = 1;
	reseal(rec, len);
	assert_int_equal(parse(rec, len), -EBADMSG);
	rec[216 + 16 + 6] = 0;

	/* section count: too many, too few */
	put32(rec + 24, 3);
	reseal(rec, len);
	assert_int_equal(parse(rec, len), -EBADMSG);
	put32(rec + 24, 1);
	reseal(rec, len);
	assert_int_equal(parse(rec, len), -EBADMSG);
	put32(rec + 24, 2);

	/* header limits and their consistency */
	put64(rec + 16, ZPSI_MIG_MAX_BODY + 8);
	reseal(rec, len);
	assert_int_equal(parse(rec, len), -E2BIG);
	put64(rec + 16, UINT64_MAX - 7);
	reseal(rec, len);
	assert_int_equal(parse(rec, len), -E2BIG);
	put64(rec + 16, ZPSI_MIG_MAX_BODY);		/* allowed, but not here */
	reseal(rec, len);
	assert_int_equal(parse(rec, len), -ENODATA);
	put64(rec + 16, 208 + 4);			/* not a multiple of 8 */
	reseal(rec, len);
	assert_int_equal(parse(rec, len), -EBADMSG);
	put64(rec + 16, 208);
	put32(rec + 24, ZPSI_MIG_MAX_SECTIONS + 1);
	reseal(rec, len);
	assert_int_equal(parse(rec, len), -E2BIG);
	put32(rec + 24, UINT32_MAX);
	reseal(rec, len);
	assert_int_equal(parse(rec, len), -E2BIG);
	put32(rec + 24, 14);				/* 14 * 16 > 208 */
	reseal(rec, len);
	assert_int_equal(parse(rec, len), -EBADMSG);
	put32(rec + 24, 2);
	reseal(rec, len);
	assert_int_equal(parse(rec, len), 0);
	free(rec);
}

/* A record with no sections, and one with the maximum section count. */
static void test_section_counts(void **state)
{
	static const uint8_t pat[8] = "ABCDEFG";
	struct zpsi_mig_writer w;
	struct zpsi_mig_section *secs;
	uint8_t *rec;
	size_t len, n = 5;

	(void)state;
	assert_int_equal(zpsi_mig_writer_init(&w), 0);
	assert_int_equal(zpsi_mig_finish(&w, &rec, &len), 0);
	assert_int_equal(len, 40);
	assert_int_equal(zpsi_mig_parse(rec, len, NULL, NULL, 0, &n), 0);
	assert_int_equal(n, 0);
	free(rec);

	assert_int_equal(zpsi_mig_writer_init(&w), 0);
	for (uint32_t i = 0; i < ZPSI_MIG_MAX_SECTIONS; i++)
		assert_int_equal(zpsi_mig_add_section(&w, 1000 + i, 0, pat, i % 9), 0);
	assert_int_equal(zpsi_mig_add_section(&w, 7, 0, NULL, 0), -E2BIG);
	assert_int_equal(zpsi_mig_finish(&w, &rec, &len), -E2BIG);
	assert_null(w.buf);

	assert_int_equal(zpsi_mig_writer_init(&w), 0);
	for (uint32_t i = 0; i < ZPSI_MIG_MAX_SECTIONS; i++)
		assert_int_equal(zpsi_mig_add_section(&w, 1000 + i, 0, pat, i % 9), 0);
	assert_int_equal(zpsi_mig_finish(&w, &rec, &len), 0);
	secs = calloc(ZPSI_MIG_MAX_SECTIONS, sizeof(*secs));
	assert_int_equal(zpsi_mig_parse(rec, len, known_all, secs, ZPSI_MIG_MAX_SECTIONS, &n), 0);
	assert_int_equal(n, ZPSI_MIG_MAX_SECTIONS);
	for (uint32_t i = 0; i < ZPSI_MIG_MAX_SECTIONS; i++) {
		assert_int_equal(secs[i].type, 1000 + i);
		assert_int_equal(secs[i].len, i % 9);
		if (i % 9)
			assert_memory_equal(secs[i].data, pat, i % 9);
	}
	assert_int_equal(zpsi_mig_parse(rec, len, NULL, secs, 0, &n), 0);	/* all skipped */
	assert_int_equal(n, 0);
	free(secs);
	free(rec);
}

static void test_writer_errors_sticky(void **state)
{
	struct zpsi_mig_writer w;
	struct zpsi_psi_state s;
	uint8_t *rec = (uint8_t *)"untouched";
	size_t len = 1234;

	(void)state;
	full_state(&s);

	assert_int_equal(zpsi_mig_writer_init(&w), 0);
	assert_int_equal(zpsi_mig_add_section(&w, 5, 0x2, "x", 1), -EINVAL);
	assert_int_equal(zpsi_mig_add_psi(&w, &s), -EINVAL);		/* sticky */
	assert_int_equal(zpsi_mig_finish(&w, &rec, &len), -EINVAL);
	assert_null(w.buf);
	assert_int_equal(len, 1234);

	assert_int_equal(zpsi_mig_writer_init(&w), 0);
	assert_int_equal(zpsi_mig_add_section(&w, 5, 0, NULL, 3), -EINVAL);
	zpsi_mig_writer_free(&w);

	assert_int_equal(zpsi_mig_writer_init(&w), 0);
	assert_int_equal(zpsi_mig_add_psi(&w, &s), 0);
	assert_int_equal(zpsi_mig_add_psi(&w, &s), -EEXIST);
	assert_int_equal(zpsi_mig_finish(&w, &rec, &len), -EEXIST);

	assert_int_equal(zpsi_mig_writer_init(&w), 0);
	s.weight = 0;
	assert_int_equal(zpsi_mig_add_psi(&w, &s), -EINVAL);		/* never sent */
	assert_int_equal(zpsi_mig_finish(&w, &rec, &len), -EINVAL);

	/* lengths beyond the format are refused before anything is read */
	assert_int_equal(zpsi_mig_writer_init(&w), 0);
	assert_int_equal(zpsi_mig_add_section(&w, 5, 0, "x", (size_t)ZPSI_MIG_MAX_BODY + 1), -E2BIG);
	zpsi_mig_writer_free(&w);
	assert_int_equal(zpsi_mig_writer_init(&w), 0);
	assert_int_equal(zpsi_mig_add_section(&w, 5, 0, "x", SIZE_MAX), -E2BIG);
	zpsi_mig_writer_free(&w);
	assert_int_equal(zpsi_mig_writer_init(&w), 0);
	assert_int_equal(zpsi_mig_add_section(&w, 5, 0, "x", (size_t)ZPSI_MIG_MAX_BODY - 15), -E2BIG);
	zpsi_mig_writer_free(&w);
	zpsi_mig_writer_free(&w);					/* idempotent */
	assert_ptr_equal(rec, (uint8_t *)"untouched");

	/* a finished writer is empty: adding to it is an error, not a crash */
	assert_int_equal(zpsi_mig_writer_init(&w), 0);
	assert_int_equal(zpsi_mig_finish(&w, &rec, &len), 0);
	free(rec);
	assert_int_equal(zpsi_mig_add_section(&w, 5, 0, "x", 1), -EINVAL);
	assert_int_equal(zpsi_mig_finish(&w, &rec, &len), -EINVAL);
}

/* Growth: many sections of awkward sizes come back byte for byte. */
static void test_writer_growth(void **state)
{
	struct zpsi_mig_section secs[64];
	struct zpsi_mig_writer w;
	uint8_t *data, *rec;
	size_t len, n;

	(void)state;
	data = malloc(70000);
	for (size_t i = 0; i < 70000; i++)
		data[i] = (uint8_t)(i * 131 + 7);
	assert_int_equal(zpsi_mig_writer_init(&w), 0);
	for (size_t i = 0; i < 64; i++)
		assert_int_equal(zpsi_mig_add_section(&w, (uint32_t)(200 + i), i % 2, data + i,
						      i * 1097 + i % 8), 0);
	assert_int_equal(zpsi_mig_finish(&w, &rec, &len), 0);
	assert_int_equal(zpsi_mig_parse(rec, len, known_all, secs, 64, &n), 0);
	assert_int_equal(n, 64);
	for (size_t i = 0; i < 64; i++) {
		assert_int_equal(secs[i].type, 200 + i);
		assert_int_equal(secs[i].flags, i % 2);
		assert_int_equal(secs[i].len, i * 1097 + i % 8);
		assert_memory_equal(secs[i].data, data + i, secs[i].len);
		assert_int_equal(((uintptr_t)secs[i].data - (uintptr_t)rec) % 8, 0);
	}
	free(rec);
	free(data);
}

typedef void (*state_mutator)(struct zpsi_psi_state *s);

static void m_weight_big(struct zpsi_psi_state *s) { s->weight = 65536; }
static void m_weight_huge(struct zpsi_psi_state *s) { s->weight = UINT32_MAX; }
static void m_weight_zero(struct zpsi_psi_state *s) { s->weight = 0; }
static void m_id_zero(struct zpsi_psi_state *s) { s->guest_id = 0; }
static void m_unreg_weight(struct zpsi_psi_state *s) { s->registered = false; s->guest_id = 0; }
static void m_unreg_id(struct zpsi_psi_state *s) { s->registered = false; s->weight = 0; }
static void m_power_2(struct zpsi_psi_state *s)
{
	s->power = 2;
	s->msr_state = zpsi_state_encode(10000, 4321, 2);
}
static void m_power_7(struct zpsi_psi_state *s)
{
	s->power = 7;
	s->msr_state = zpsi_state_encode(10000, 4321, 7);
}
static void m_power_255(struct zpsi_psi_state *s) { s->power = 255; }
static void m_power_mismatch(struct zpsi_psi_state *s) { s->power = ZPSI_POWER_C6; }
static void m_state_rsvd(struct zpsi_psi_state *s) { s->msr_state |= 1ull << 36; }
static void m_state_top(struct zpsi_psi_state *s) { s->msr_state |= 1ull << 63; }
static void m_state_guest(struct zpsi_psi_state *s) { s->msr_state += 1; }
static void m_state_host(struct zpsi_psi_state *s) { s->msr_state = zpsi_state_encode(0, 10001, 3); }
static void m_conf_rsvd(struct zpsi_psi_state *s) { s->msr_conf |= 1ull << 32; }
static void m_conf_delta(struct zpsi_psi_state *s) { s->msr_conf = zpsi_conf_encode(10001, 0); }
static void m_conf_thresh(struct zpsi_psi_state *s) { s->msr_conf = zpsi_conf_encode(0, 65535); }
static void m_ctrl_rsvd(struct zpsi_psi_state *s) { s->msr_ctrl |= 1ull << 3; }
static void m_ctrl_rsvd11(struct zpsi_psi_state *s) { s->msr_ctrl |= 1ull << 11; }
static void m_ctrl_reset(struct zpsi_psi_state *s) { s->msr_ctrl |= ZPSI_CTRL_RESET; }
static void m_stats_committed(struct zpsi_psi_state *s) { s->committed += 1; }
static void m_stats_deferred(struct zpsi_psi_state *s) { s->deferred ^= 1ull << 31; }
static void m_stats_msr(struct zpsi_psi_state *s) { s->msr_stats ^= 1ull << 40; }
static void m_region_magic(struct zpsi_psi_state *s) { s->region[3] = 'X'; }
static void m_region_nul(struct zpsi_psi_state *s) { s->region[7] = 'Z'; }
static void m_region_gpa_zero(struct zpsi_psi_state *s) { s->region_gpa = 0; }
static void m_region_gpa_unaligned(struct zpsi_psi_state *s) { s->region_gpa |= 0x800; }
static void m_noregion_bytes(struct zpsi_psi_state *s)
{
	s->region_valid = false;
	s->region_gpa = 0;
	memset(s->region, 0, 64);
	s->region[63] = 1;
}
static void m_noregion_gpa(struct zpsi_psi_state *s)
{
	s->region_valid = false;
	memset(s->region, 0, 64);
}

static void test_psi_semantic_rejects(void **state)
{
	static const state_mutator bad[] = {
		m_weight_big, m_weight_huge, m_weight_zero, m_id_zero, m_unreg_weight, m_unreg_id,
		m_power_2, m_power_7, m_power_255, m_power_mismatch, m_state_rsvd, m_state_top,
		m_state_guest, m_state_host, m_conf_rsvd, m_conf_delta, m_conf_thresh, m_ctrl_rsvd,
		m_ctrl_rsvd11, m_ctrl_reset, m_stats_committed, m_stats_deferred, m_stats_msr,
		m_region_magic, m_region_nul, m_region_gpa_zero, m_region_gpa_unaligned,
		m_noregion_bytes, m_noregion_gpa,
	};
	uint8_t good[ZPSI_MIG_PSI_SIZE];
	struct zpsi_psi_state s, out;

	(void)state;
	full_state(&s);
	assert_int_equal(zpsi_mig_encode_psi(&s, good), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t b[ZPSI_MIG_PSI_SIZE], raw[ZPSI_MIG_PSI_SIZE];
		struct zpsi_mig_section sec = { ZPSI_MIG_SEC_PSI, ZPSI_MIG_SEC_REQUIRED, raw, sizeof(raw) };
		size_t o;

		full_state(&s);
		bad[i](&s);
		memset(b, 0xEE, sizeof(b));
		if (zpsi_mig_check_psi(&s) != -EINVAL)
			fail_msg("mutator %zu accepted", i);
		assert_int_equal(zpsi_mig_encode_psi(&s, b), -EINVAL);
		assert_int_equal(b[0], 0xEE);		/* out untouched */

		/* the same values arriving on the wire are refused by decode:
		 * write them with the encoder's layout by hand */
		memcpy(raw, good, sizeof(raw));
		put32(raw + 0, s.guest_id);
		put32(raw + 4, s.weight);
		raw[8] = s.power;
		raw[9] = (uint8_t)(s.registered | s.region_valid << 1);
		o = 16;
		put64(raw + o, s.msr_state);
		put64(raw + o + 8, s.msr_conf);
		put64(raw + o + 16, s.msr_stats);
		put64(raw + o + 24, s.msr_ctrl);
		put64(raw + o + 32, s.committed);
		put64(raw + o + 40, s.deferred);
		put64(raw + o + 48, s.region_gpa);
		memcpy(raw + 72, s.region, 64);
		memset(&out, 0x5A, sizeof(out));
		assert_int_equal(zpsi_mig_decode_psi(&sec, &out), -EINVAL);
		assert_int_equal(out.weight, 0x5A5A5A5A);	/* out untouched */
	}

	/* byte-level: reserved bytes, flag bits, length and type */
	for (size_t off = 0; off < ZPSI_MIG_PSI_SIZE; off++) {
		bool reserved = (off >= 10 && off < 16) || off >= 152;
		uint8_t raw[ZPSI_MIG_PSI_SIZE];
		struct zpsi_mig_section sec = { ZPSI_MIG_SEC_PSI, 0, raw, sizeof(raw) };

		if (!reserved && off != 9)
			continue;
		for (int bit = 0; bit < 8; bit++) {
			memcpy(raw, good, sizeof(raw));
			raw[off] ^= (uint8_t)(1u << bit);
			assert_int_equal(zpsi_mig_decode_psi(&sec, &out), -EINVAL);
		}
	}
	{
		uint8_t raw[ZPSI_MIG_PSI_SIZE + 8] = { 0 };
		struct zpsi_mig_section sec = { ZPSI_MIG_SEC_PSI, 0, raw, ZPSI_MIG_PSI_SIZE };

		memcpy(raw, good, ZPSI_MIG_PSI_SIZE);
		raw[9] ^= 1;
		assert_int_equal(zpsi_mig_decode_psi(&sec, &out), -EINVAL);
		raw[9] ^= 1;
		assert_int_equal(zpsi_mig_decode_psi(&sec, &out), 0);
		sec.len = ZPSI_MIG_PSI_SIZE - 1;
		assert_int_equal(zpsi_mig_decode_psi(&sec, &out), -EINVAL);
		sec.len = ZPSI_MIG_PSI_SIZE + 8;
		assert_int_equal(zpsi_mig_decode_psi(&sec, &out), -EINVAL);
		sec.len = ZPSI_MIG_PSI_SIZE;
		sec.type = 99;
		assert_int_equal(zpsi_mig_decode_psi(&sec, &out), -EINVAL);
		sec.type = ZPSI_MIG_SEC_PSI;
		sec.data = NULL;
		assert_int_equal(zpsi_mig_decode_psi(&sec, &out), -EINVAL);
	}

	/* the boundaries that are allowed */
	full_state(&s);
	s.weight = 1;
	s.guest_id = 1;
	s.power = ZPSI_POWER_C6;
	s.msr_state = zpsi_state_encode(0, 10000, ZPSI_POWER_C6);
	s.msr_conf = zpsi_conf_encode(10000, 0);
	s.msr_ctrl = 0;
	s.region_gpa = 0x1000;
	assert_int_equal(zpsi_mig_check_psi(&s), 0);
}

static void test_strerror_distinct(void **state)
{
	static const int errs[] = { ENODATA, EPROTO, EBADMSG, EPROTONOSUPPORT, E2BIG, EINVAL };

	(void)state;
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		assert_string_equal(zpsi_mig_strerror(-errs[i]), zpsi_mig_strerror(errs[i]));
		assert_string_not_equal(zpsi_mig_strerror(-errs[i]), "unknown error");
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(zpsi_mig_strerror(-errs[i]), zpsi_mig_strerror(-errs[j]));
	}
	assert_string_equal(zpsi_mig_strerror(-ENODATA), "truncated record");
	assert_string_equal(zpsi_mig_strerror(-EIO), "unknown error");
	assert_string_equal(zpsi_mig_strerror(INT32_MIN), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_exact_layout),
		cmocka_unit_test(test_every_bit_flip_rejected),
		cmocka_unit_test(test_every_truncation_rejected),
		cmocka_unit_test(test_foreign_and_future),
		cmocka_unit_test(test_unknown_sections),
		cmocka_unit_test(test_structure_attacks),
		cmocka_unit_test(test_section_counts),
		cmocka_unit_test(test_writer_errors_sticky),
		cmocka_unit_test(test_writer_growth),
		cmocka_unit_test(test_psi_semantic_rejects),
		cmocka_unit_test(test_strerror_distinct),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
