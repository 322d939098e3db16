/* SPDX-License-Identifier: MIT */
/*
 * fuzz_region.c - the host's snapshot reader against arbitrary region
 * contents (docs/abi.md 6.2: the guest is untrusted).
 *
 * Input: byte 0 chooses the reader's retry bound (0xFF asks for UINT_MAX,
 * which must be clamped); then up to FUZZ_MAX_RECORDS records of 65 bytes:
 *   op (bit 0: reset the reader first; bit 1: host stores the aggregate
 *       ratio op*40 bp; bit 2: host stores a memory target op>>3 pages),
 *   64 bytes: the region image, little-endian, exactly as a guest left it.
 * A trailing partial record is ignored.  Every image is fed to one reader
 * (a local struct zpsi_region; single-threaded, so the version is stable),
 * and the result is checked against an independent model of section 6.2:
 * the expected return code, the sample's ranges, monotone counters, the
 * reader's counters, and that reading never writes the region.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "zpsi/region.h"

#define FUZZ_MAX_RECORDS 64u
#define FUZZ_RECORD (1u + ZPSI_REGION_SIZE)

#define CHECK(cond)                              \
	do {                                     \
		if (!(cond))                     \
			__builtin_trap();        \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void image_from_bytes(struct zpsi_region *r, const uint8_t *p)
{
	r->magic = le64(p + 0x00);
	r->version = le64(p + 0x08);
	r->guest_ratio = le64(p + 0x10);
	r->host_ratio = le64(p + 0x18);
	r->committed = le64(p + 0x20);
	r->deferred = le64(p + 0x28);
	r->timestamp_ns = le64(p + 0x30);
	r->host_info = le64(p + 0x38);
}

/* What the reader must answer, from docs/abi.md 6.1/6.2 alone. */
struct model {
	int have;
	uint64_t version, committed, deferred;
};

static int model_expect(const struct model *m, const struct zpsi_region *r)
{
	if (r->version & 1)
		return -EAGAIN;	/* stable odd version: every pass fails */
	if (r->magic != ZPSI_REGION_MAGIC_U64)
		return -EBADMSG;
	if (m->have && r->version == m->version)
		return 1;
	if (zpsi_bp_from_f64(r->guest_ratio) < 0)
		return -ERANGE;
	if (m->have && (r->committed < m->committed || r->deferred < m->deferred))
		return -EINVAL;
	return 0;
}

/* The host's stores touch 0x18 and 0x38 only, and leave a sane host_info. */
static void host_stores(struct zpsi_region *r, uint8_t op)
{
	struct zpsi_region before = *r;

	if (op & 2)
		zpsi_region_store_host_ratio(r, (uint32_t)op * 40);
	if (op & 4)
		zpsi_region_store_mem_target(r, op >> 3);
	CHECK(r->magic == before.magic && r->version == before.version &&
	      r->guest_ratio == before.guest_ratio && r->committed == before.committed &&
	      r->deferred == before.deferred && r->timestamp_ns == before.timestamp_ns);
	if (op & 6) {
		CHECK((r->host_info & ZPSI_HOSTINFO_REV_MASK) == ZPSI_REGION_REVISION);
		CHECK((r->host_info & ZPSI_HOSTINFO_FLAGS_MASK &
		       ~(ZPSI_HOSTINFO_AGG_VALID | ZPSI_HOSTINFO_BALLOON)) == 0);
		CHECK((r->host_info & ZPSI_HOSTINFO_BALLOON) ||
		      zpsi_hostinfo_target_pages(r->host_info) == 0);
	}
	if (op & 2) {
		CHECK(r->host_info & ZPSI_HOSTINFO_AGG_VALID);
		CHECK(r->host_ratio == zpsi_f64_from_bp((uint32_t)op * 40));
	}
	if (op & 4)
		CHECK(zpsi_hostinfo_target_pages(r->host_info) == (uint64_t)(op >> 3));
}

static void check_sample(const struct zpsi_sample *s, const struct zpsi_region *r)
{
	int32_t bp = zpsi_bp_from_f64(r->guest_ratio);

	CHECK(!isnan(s->ratio) && s->ratio >= 0.0 && s->ratio <= 1.0 && !signbit(s->ratio));
	CHECK(s->ratio_bp <= ZPSI_BP_MAX && bp >= 0 && s->ratio_bp == (uint16_t)bp);
	CHECK(fabs(s->ratio * ZPSI_BP_MAX - s->ratio_bp) <= 0.5 + 1e-9);
	CHECK(s->committed == r->committed && s->deferred == r->deferred);
	CHECK(s->guest_ts_ns == r->timestamp_ns);
	CHECK(s->version == r->version && (s->version & 1) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zpsi_region_reader rd;
	struct model m = { 0 };
	unsigned retries;

	if (size < 1)
		return 0;
	retries = data[0] == 0xFF ? UINT_MAX : data[0] % 17u;
	zpsi_region_reader_init(&rd, retries);
	CHECK(rd.max_retries <= ZPSI_REGION_MAX_RETRIES);
	data++;
	size--;

	for (unsigned n = 0; n < FUZZ_MAX_RECORDS && size >= FUZZ_RECORD; n++) {
		struct zpsi_region img, before;
		struct zpsi_region_reader old;
		struct zpsi_sample s, canary;
		uint8_t op = data[0];
		int want, ret;

		image_from_bytes(&img, data + 1);
		data += FUZZ_RECORD;
		size -= FUZZ_RECORD;

		if (op & 1) {
			zpsi_region_reader_reset(&rd);
			m.have = 0;
		}
		host_stores(&img, op);

		before = img;
		old = rd;
		memset(&canary, 0x5A, sizeof(canary));
		s = canary;
		want = model_expect(&m, &img);
		ret = zpsi_region_read(&rd, &img, &s);

		CHECK(ret == want);
		CHECK(memcmp(&img, &before, sizeof(img)) == 0);	/* never writes */
		CHECK(rd.reads == old.reads + 1);
		CHECK(rd.reads == rd.accepted + rd.unchanged + rd.torn + rd.rejected);
		CHECK(rd.retries == old.retries + (ret == -EAGAIN ? rd.max_retries : 0));
		if (ret < 0)
			CHECK(rd.last_error == ret);
		else
			CHECK(rd.last_error == old.last_error);
		if (ret != 0) {
			/* nothing changes: no output, same reference sample */
			CHECK(memcmp(&s, &canary, sizeof(s)) == 0);
			CHECK(rd.have_last == old.have_last && rd.last_version == old.last_version &&
			      rd.last_committed == old.last_committed &&
			      rd.last_deferred == old.last_deferred);
			CHECK(rd.accepted == old.accepted);
			continue;
		}
		check_sample(&s, &img);
		if (m.have)
			CHECK(s.committed >= m.committed && s.deferred >= m.deferred &&
			      s.version != m.version);
		CHECK(rd.have_last && rd.last_version == s.version &&
		      rd.last_committed == s.committed && rd.last_deferred == s.deferred);
		m = (struct model){ .have = 1, .version = s.version, .committed = s.committed,
				    .deferred = s.deferred };
	}
	return 0;
}
