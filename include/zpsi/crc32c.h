/* SPDX-License-Identifier: MIT */
/* zpsi/crc32c.h - CRC32C (Castagnoli), as iSCSI, ext4 and virtio use it. */
#ifndef ZPSI_CRC32C_H
#define ZPSI_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC: crc32c(crc32c(0, a), b) == crc32c(0, a||b).
 * crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t zpsi_crc32c(uint32_t crc, const void *data, size_t len);

#endif /* ZPSI_CRC32C_H */
