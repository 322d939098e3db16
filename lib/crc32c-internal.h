/* SPDX-License-Identifier: MIT */
/*
 * crc32c-internal.h - the two CRC32C implementations behind zpsi_crc32c(),
 * exposed so the tests can run each one explicitly.  Not installed, not API.
 */
#ifndef ZPSI_CRC32C_INTERNAL_H
#define ZPSI_CRC32C_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Table-driven (slicing-by-8); works everywhere.  Same contract as
 * zpsi_crc32c(). */
uint32_t zpsi_crc32c_portable(uint32_t crc, const void *data, size_t len);

/* True when this CPU has the SSE4.2 crc32 instruction. */
bool zpsi_crc32c_have_hw(void);

/* The SSE4.2 path.  Where the instruction is absent (zpsi_crc32c_have_hw()
 * false, or not x86) it falls back to the portable path, so the tests can
 * tell by zpsi_crc32c_have_hw() whether they compared two paths or one. */
uint32_t zpsi_crc32c_hw(uint32_t crc, const void *data, size_t len);

#endif /* ZPSI_CRC32C_INTERNAL_H */
