/* SPDX-License-Identifier: MIT */
/*
 * fuzz_migrate.c - the migration record decoder on hostile bytes.
 *
 * Oracles, beyond "no crash, no sanitizer report":
 *  - every failure is one of the documented errors;
 *  - a record that parses re-encodes, through the writer, to the very same
 *    bytes (the format is canonical, so a reader and a writer that disagree
 *    about any field show up here);
 *  - a PSI section that decodes re-encodes to the same bytes and decodes to
 *    the same fields.
 * A random mutation almost never survives the two CRC32Cs, so each input is
 * also tried "resealed" (both checksums recomputed), which lets the fuzzer
 * reach the section walk and the PSI checks; and its first 168 bytes are fed
 * straight to the PSI decoder.  The input as text also drives the policy
 * parser (fuzz_policy.c does that in depth).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mig_fuzz_common.h"
#include "zpsi/migrate.h"
#include "zpsi/policy.h"

#define FUZZ_MAX_SECS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool known_all(uint32_t type)
{
	(void)type;
	return true;
}

static bool documented(int r)
{
	return r == -ENODATA || r == -EPROTO || r == -EBADMSG || r == -EPROTONOSUPPORT || r == -E2BIG;
}

static void psi_round_trip(const struct zpsi_mig_section *sec)
{
	struct zpsi_psi_state a, b;
	uint8_t enc[ZPSI_MIG_PSI_SIZE];
	int r = zpsi_mig_decode_psi(sec, &a);

	if (r == -EINVAL)
		return;
	if (r != 0)
		abort();
	if (zpsi_mig_encode_psi(&a, enc) != 0 || sec->len != sizeof(enc) ||
	    memcmp(enc, sec->data, sizeof(enc)) != 0)
		abort();
	if (zpsi_mig_decode_psi(&(struct zpsi_mig_section){ ZPSI_MIG_SEC_PSI, 0, enc, sizeof(enc) },
				&b) != 0)
		abort();
	if (a.guest_id != b.guest_id || a.weight != b.weight || a.power != b.power ||
	    a.registered != b.registered || a.region_valid != b.region_valid ||
	    a.msr_state != b.msr_state || a.msr_conf != b.msr_conf || a.msr_stats != b.msr_stats ||
	    a.msr_ctrl != b.msr_ctrl || a.committed != b.committed || a.deferred != b.deferred ||
	    a.region_gpa != b.region_gpa || memcmp(a.region, b.region, sizeof(a.region)) != 0 ||
	    a.captured_ns != b.captured_ns || a.last_update_age_ns != b.last_update_age_ns)
		abort();
}

static void record(const uint8_t *data, size_t size)
{
	struct zpsi_mig_section secs[FUZZ_MAX_SECS];
	struct zpsi_mig_writer w;
	uint64_t total = 0;
	uint8_t *out = NULL;
	size_t n = 0, out_len = 0;
	int r, rh;

	rh = zpsi_mig_check_header(data, size, &total);
	if (rh < 0 && !documented(rh))
		abort();
	r = zpsi_mig_parse(data, size, NULL, secs, FUZZ_MAX_SECS, &n);
	if (r < 0 && !documented(r))
		abort();
	if (r == 0 && (rh != 0 || total != size))
		abort();

	r = zpsi_mig_parse(data, size, known_all, secs, FUZZ_MAX_SECS, &n);
	if (r < 0) {
		if (!documented(r))
			abort();
		return;
	}
	if (zpsi_mig_writer_init(&w) != 0)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (secs[i].data < data || secs[i].len > size ||
		    (size_t)(secs[i].data - data) > size - secs[i].len)
			abort();
		if (secs[i].type == ZPSI_MIG_SEC_PSI)
			psi_round_trip(&secs[i]);
		zpsi_mig_add_section(&w, secs[i].type, secs[i].flags, secs[i].data, secs[i].len);
	}
	if (zpsi_mig_finish(&w, &out, &out_len) != 0)
		abort();
	if (out_len != size || memcmp(out, data, size) != 0)
		abort();
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	record(data, size);

	{
		uint8_t *copy = mig_fuzz_resealed(data, size);

		if (copy)
			record(copy, size);
		free(copy);
	}

	if (size >= ZPSI_MIG_PSI_SIZE)
		psi_round_trip(&(struct zpsi_mig_section){ ZPSI_MIG_SEC_PSI, 0, data, ZPSI_MIG_PSI_SIZE });

	{
		struct zpsi_policy p;
		char spec[256];
		size_t l = size < sizeof(spec) - 1 ? size : sizeof(spec) - 1;

		memcpy(spec, data, l);
		spec[l] = '\0';
		zpsi_policy_default(&p);
		if (zpsi_policy_parse_tiers(&p, spec) == 0 && zpsi_policy_validate(&p) != 0)
			abort();
	}
	return 0;
}
