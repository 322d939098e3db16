/* SPDX-License-Identifier: MIT */
/*
 * mig_fuzz_common.h - shared by the migration record harnesses.
 *
 * A random mutation almost never survives the record's two CRC32Cs, so the
 * harnesses also try each input "resealed": both checksums recomputed, as
 * a malicious sender would, so that the fuzzer reaches the checks behind
 * them.
 */
#ifndef MIG_FUZZ_COMMON_H
#define MIG_FUZZ_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zpsi/crc32c.h"
#include "zpsi/le.h"
#include "zpsi/migrate.h"

/* A resealed copy of data (free() it), or NULL if too short or too long. */
static inline uint8_t *mig_fuzz_resealed(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	if (size < ZPSI_MIG_HEADER_SIZE + ZPSI_MIG_TRAILER_SIZE || size > (1u << 20))
		return NULL;
	copy = malloc(size);
	if (!copy)
		return NULL;
	memcpy(copy, data, size);
	zpsi_put_le32(copy + 28, zpsi_crc32c(0, copy, 28));
	zpsi_put_le32(copy + size - 8, zpsi_crc32c(0, copy, size - 8));
	return copy;
}

#endif /* MIG_FUZZ_COMMON_H */
