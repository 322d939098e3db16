/* SPDX-License-Identifier: MIT */
/*
 * fuzz_migrate_stream.c - the stream reader of the migration record
 * (zpsi_mig_stream_*) on hostile bytes, delivered in uneven pieces.
 *
 * Oracle, beyond "no crash, no sanitizer report": the stream reader and
 * zpsi_mig_parse() agree.  With every type known, exactly: the same error,
 * or the same sections with the same bytes.  With libzpsi's types only,
 * both accept or both refuse (the order of two errors in one section may
 * differ: the stream sees a section's padding after its type).  The stream
 * reader never reads past the record the header declares, so the parser is
 * given that much.  Each input is also tried resealed (both CRCs
 * recomputed) so that the fuzzer reaches the section walk.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mig_fuzz_common.h"
#include "zpsi/migrate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct zpsi_mig_section parsed[ZPSI_MIG_MAX_SECTIONS];

struct source {
	const uint8_t *buf;
	size_t len, off, step;
};

/* Pieces of 1..step bytes, varying, so every boundary gets a turn. */
static ssize_t source_read(void *ctx, void *buf, size_t len)
{
	struct source *s = ctx;
	size_t n = s->len - s->off, want = 1 + (s->off * 7 + s->step) % s->step;

	if (n > len)
		n = len;
	if (n > want)
		n = want;
	memcpy(buf, s->buf + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

static bool known_all(uint32_t type)
{
	(void)type;
	return true;
}

static void check(const uint8_t *data, size_t size, bool (*known)(uint32_t), size_t step)
{
	struct source src = { .buf = data, .len = size, .step = step };
	struct zpsi_mig_stream_reader r;
	struct zpsi_mig_section sec;
	static uint8_t buf[1u << 16];
	uint64_t total = 0;
	size_t n = 0, i = 0, plen = size;
	int rs, rp;

	if (zpsi_mig_check_header(data, size, &total) == 0 && total < size)
		plen = (size_t)total;	/* what follows the record is not the reader's */
	rp = zpsi_mig_parse(data, plen, known, parsed, ZPSI_MIG_MAX_SECTIONS, &n);

	rs = zpsi_mig_stream_open(&r, (struct zpsi_mig_source){ source_read, &src }, known);
	while (rs == 0 && (rs = zpsi_mig_stream_next(&r, &sec)) == 1) {
		uint64_t left = sec.len, off = 0;

		/* what parse found must be what the stream gives, in order */
		if (rp == 0 && (i >= n || parsed[i].type != sec.type || parsed[i].flags != sec.flags ||
				parsed[i].len != sec.len))
			abort();
		while (left && rs >= 0) {
			size_t k = left < sizeof(buf) ? (size_t)left : sizeof(buf);

			rs = zpsi_mig_stream_read(&r, buf, k);
			if (rs == 0 && rp == 0 && memcmp(buf, parsed[i].data + off, k) != 0)
				abort();
			off += k;
			left -= k;
		}
		if (rs < 0)
			break;
		i++;
		rs = 0;
	}
	if (src.off > plen && rs == 0)
		abort();	/* read past the record */
	if (rs == 0 && (rp != 0 || i != n))
		abort();
	if (known == known_all ? rs != rp : (rs == 0) != (rp == 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t step = size ? (size_t)data[size - 1] % 61 + 1 : 1;

	check(data, size, known_all, step);
	check(data, size, NULL, 64);
	{
		uint8_t *copy = mig_fuzz_resealed(data, size);

		if (copy) {
			check(copy, size, known_all, step);
			check(copy, size, NULL, 3);
		}
		free(copy);
	}
	return 0;
}
