/* SPDX-License-Identifier: MIT */
/*
 * zpsi/le.h - little-endian fields, byte by byte (header only).
 *
 * Every format zpsi writes (the migration record, zpsi-vmm's sections, the
 * shared region as a tool reads it) is little-endian and read from bytes
 * that are not trusted: no struct is laid over a buffer, so alignment and
 * host byte order never matter.  The cursor is for decoders that walk a
 * buffer: a read past its end sets `bad` and yields 0, so a decoder can
 * read every field and check once, with no read out of bounds.
 */
#ifndef ZPSI_LE_H
#define ZPSI_LE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline void zpsi_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void zpsi_put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void zpsi_put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t zpsi_get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static inline uint32_t zpsi_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t zpsi_get_le64(const uint8_t *p)
{
	return (uint64_t)zpsi_get_le32(p) | (uint64_t)zpsi_get_le32(p + 4) << 32;
}

/* A bounded reader over buf[0..len). */
struct zpsi_le_cursor {
	const uint8_t *buf;
	size_t len, off;
	bool bad;		/* a read went past the end */
};

static inline struct zpsi_le_cursor zpsi_le_cursor(const void *buf, size_t len)
{
	return (struct zpsi_le_cursor){ .buf = buf, .len = buf ? len : 0 };
}

/* The next n bytes, or NULL (and bad) if fewer are left. */
static inline const uint8_t *zpsi_le_take(struct zpsi_le_cursor *c, size_t n)
{
	const uint8_t *p;

	if (c->bad || n > c->len - c->off) {
		c->bad = true;
		return NULL;
	}
	p = c->buf + c->off;
	c->off += n;
	return p;
}

static inline uint8_t zpsi_le_u8(struct zpsi_le_cursor *c)
{
	const uint8_t *p = zpsi_le_take(c, 1);

	return p ? p[0] : 0;
}

static inline uint16_t zpsi_le_u16(struct zpsi_le_cursor *c)
{
	const uint8_t *p = zpsi_le_take(c, 2);

	return p ? zpsi_get_le16(p) : 0;
}

static inline uint32_t zpsi_le_u32(struct zpsi_le_cursor *c)
{
	const uint8_t *p = zpsi_le_take(c, 4);

	return p ? zpsi_get_le32(p) : 0;
}

static inline uint64_t zpsi_le_u64(struct zpsi_le_cursor *c)
{
	const uint8_t *p = zpsi_le_take(c, 8);

	return p ? zpsi_get_le64(p) : 0;
}

/* Bytes left to read (0 once bad). */
static inline size_t zpsi_le_left(const struct zpsi_le_cursor *c)
{
	return c->bad ? 0 : c->len - c->off;
}

/* n rounded up to a multiple of 8 (callers keep n far below the maximum). */
static inline uint64_t zpsi_pad8(uint64_t n)
{
	return (n + 7) & ~(uint64_t)7;
}

/* True if p[0..n) are all zero (reserved fields, padding). */
static inline bool zpsi_all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

#endif /* ZPSI_LE_H */
