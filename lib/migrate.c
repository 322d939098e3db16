/* SPDX-License-Identifier: MIT */
/*
 * migrate.c - the migration record (SPEC component 6; layout in
 * include/zpsi/migrate.h, prose in docs/abi.md "Migration record").
 *
 * The record arrives from another host, a file or a socket: nothing in it is
 * trusted.  Every multi-byte field is read byte-wise as little-endian (no
 * struct is ever laid over the buffer), every length is compared with what
 * is left before it is used, every loop is bounded by a limit of the format,
 * and the whole record is checked before the caller sees any section.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "zpsi/abi.h"
#include "zpsi/crc32c.h"
#include "zpsi/le.h"
#include "zpsi/migrate.h"

/* Header field offsets (migrate.h). */
#define MIG_H_MAGIC	0
#define MIG_H_VERSION	8
#define MIG_H_HSIZE	10
#define MIG_H_FLAGS	12
#define MIG_H_BODY	16
#define MIG_H_COUNT	24
#define MIG_H_CRC	28

/* The largest record the format allows; fits in 64 bits with room. */
#define MIG_MAX_RECORD	(ZPSI_MIG_HEADER_SIZE + ZPSI_MIG_MAX_BODY + ZPSI_MIG_TRAILER_SIZE)
#define MIG_INITIAL_CAP	512u

_Static_assert(sizeof(ZPSI_MIG_MAGIC) == 8, "magic is 8 bytes with its NUL");
_Static_assert(sizeof(ZPSI_MIG_TRAILER_MAGIC) - 1 == 4, "trailer magic is 4 bytes");

/* ---------------------------------------------------------------- */
/* The PSI section                                                    */
/* ---------------------------------------------------------------- */

/*
 * PSI section data, ZPSI_MIG_PSI_SIZE (168) bytes, little-endian:
 *
 *   off  size  field
 *     0   4    guest_id            0 iff not registered
 *     4   4    weight              1..65535 if registered, else 0
 *     8   1    power               0, 1, 3 or 6
 *     9   1    flags               bit 0 registered, bit 1 region_valid;
 *                                  bits 7:2 reserved, zero
 *    10   6    reserved, zero
 *    16   8    msr_state           as RDMSR reads it (abi.h encodings)
 *    24   8    msr_conf
 *    32   8    msr_stats
 *    40   8    msr_ctrl            RESET reads as 0, so it must be 0
 *    48   8    committed           64-bit extended counts; their low 32
 *    56   8    deferred            bits equal msr_stats' halves
 *    64   8    region_gpa          page aligned, non-zero iff region_valid
 *    72  64    region              raw bytes; magic "ZIMEPSI\0" iff valid,
 *                                  all zero otherwise
 *   136   8    captured_ns
 *   144   8    last_update_age_ns
 *   152  16    reserved, zero      (room for v1 readers to reject growth)
 *
 * The region's guest-written fields are carried as they are: a hostile or
 * crashed guest may leave them inconsistent, which must not make its own
 * migration fail.  The host-written magic is checked.
 */
#define PSI_O_GUEST_ID	0
#define PSI_O_WEIGHT	4
#define PSI_O_POWER	8
#define PSI_O_FLAGS	9
#define PSI_O_RSVD0	10
#define PSI_RSVD0_LEN	6
#define PSI_O_STATE	16
#define PSI_O_CONF	24
#define PSI_O_STATS	32
#define PSI_O_CTRL	40
#define PSI_O_COMMITTED	48
#define PSI_O_DEFERRED	56
#define PSI_O_GPA	64
#define PSI_O_REGION	72
#define PSI_O_CAPTURED	136
#define PSI_O_AGE	144
#define PSI_O_RSVD1	152
#define PSI_RSVD1_LEN	16

#define PSI_F_REGISTERED	(1u << 0)
#define PSI_F_REGION_VALID	(1u << 1)
#define PSI_F_KNOWN		(PSI_F_REGISTERED | PSI_F_REGION_VALID)
#define PSI_PAGE_MASK		0xFFFull

_Static_assert(PSI_O_RSVD1 + PSI_RSVD1_LEN == ZPSI_MIG_PSI_SIZE, "PSI layout fills the section");
_Static_assert(PSI_O_REGION + ZPSI_REGION_SIZE == PSI_O_CAPTURED, "region is 64 bytes");
_Static_assert(sizeof(((struct zpsi_psi_state *)0)->region) == ZPSI_REGION_SIZE, "region size");

/* ---------------------------------------------------------------- */
/* The PSI section: checks and codec                                  */
/* ---------------------------------------------------------------- */

int zpsi_mig_check_psi(const struct zpsi_psi_state *s)
{
	uint64_t st = s->msr_state, cf = s->msr_conf;

	if (s->weight > ZPSI_WEIGHT_MAX)
		return -EINVAL;
	if (s->registered ? (s->weight < ZPSI_WEIGHT_MIN || s->guest_id == 0)
			  : (s->weight != 0 || s->guest_id != 0))
		return -EINVAL;
	if (!zpsi_power_valid(s->power))
		return -EINVAL;
	/* STATE as RDMSR reads it: no reserved bits, ratios in range, and the
	 * power field is the same state the record claims. */
	if ((st & ZPSI_STATE_RSVD_MASK) || zpsi_state_guest_bp(st) > ZPSI_BP_MAX ||
	    zpsi_state_host_bp(st) > ZPSI_BP_MAX || zpsi_state_power(st) != s->power)
		return -EINVAL;
	if ((cf & ZPSI_CONF_RSVD_MASK) || zpsi_conf_delta_bp(cf) > ZPSI_BP_MAX ||
	    zpsi_conf_thresh_bp(cf) > ZPSI_BP_MAX)
		return -EINVAL;
	if (s->msr_ctrl & (ZPSI_CTRL_RSVD_MASK | ZPSI_CTRL_RESET))
		return -EINVAL;
	/* STATS carries the low 32 bits of the extended counts. */
	if (zpsi_stats_committed32(s->msr_stats) != (uint32_t)s->committed ||
	    zpsi_stats_deferred32(s->msr_stats) != (uint32_t)s->deferred)
		return -EINVAL;
	if (s->region_valid) {
		if (memcmp(s->region, ZPSI_REGION_MAGIC, sizeof(ZPSI_REGION_MAGIC)) != 0 ||
		    s->region_gpa == 0 || (s->region_gpa & PSI_PAGE_MASK))
			return -EINVAL;
	} else if (s->region_gpa != 0 || !zpsi_all_zero(s->region, sizeof(s->region))) {
		return -EINVAL;
	}
	return 0;
}

int zpsi_mig_encode_psi(const struct zpsi_psi_state *s, uint8_t out[ZPSI_MIG_PSI_SIZE])
{
	int r = zpsi_mig_check_psi(s);

	if (r < 0)
		return r;
	memset(out, 0, ZPSI_MIG_PSI_SIZE);
	zpsi_put_le32(out + PSI_O_GUEST_ID, s->guest_id);
	zpsi_put_le32(out + PSI_O_WEIGHT, s->weight);
	out[PSI_O_POWER] = s->power;
	out[PSI_O_FLAGS] = (uint8_t)((s->registered ? PSI_F_REGISTERED : 0) |
				     (s->region_valid ? PSI_F_REGION_VALID : 0));
	zpsi_put_le64(out + PSI_O_STATE, s->msr_state);
	zpsi_put_le64(out + PSI_O_CONF, s->msr_conf);
	zpsi_put_le64(out + PSI_O_STATS, s->msr_stats);
	zpsi_put_le64(out + PSI_O_CTRL, s->msr_ctrl);
	zpsi_put_le64(out + PSI_O_COMMITTED, s->committed);
	zpsi_put_le64(out + PSI_O_DEFERRED, s->deferred);
	zpsi_put_le64(out + PSI_O_GPA, s->region_gpa);
	memcpy(out + PSI_O_REGION, s->region, sizeof(s->region));
	zpsi_put_le64(out + PSI_O_CAPTURED, s->captured_ns);
	zpsi_put_le64(out + PSI_O_AGE, s->last_update_age_ns);
	return 0;
}

int zpsi_mig_decode_psi(const struct zpsi_mig_section *sec, struct zpsi_psi_state *out)
{
	const uint8_t *b = sec->data;
	struct zpsi_psi_state s;
	uint8_t flags;
	int r;

	if (sec->type != ZPSI_MIG_SEC_PSI || sec->len != ZPSI_MIG_PSI_SIZE || !b)
		return -EINVAL;
	flags = b[PSI_O_FLAGS];
	if ((flags & ~PSI_F_KNOWN) || !zpsi_all_zero(b + PSI_O_RSVD0, PSI_RSVD0_LEN) ||
	    !zpsi_all_zero(b + PSI_O_RSVD1, PSI_RSVD1_LEN))
		return -EINVAL;

	memset(&s, 0, sizeof(s));
	s.guest_id = zpsi_get_le32(b + PSI_O_GUEST_ID);
	s.weight = zpsi_get_le32(b + PSI_O_WEIGHT);
	s.power = b[PSI_O_POWER];
	s.registered = flags & PSI_F_REGISTERED;
	s.region_valid = flags & PSI_F_REGION_VALID;
	s.msr_state = zpsi_get_le64(b + PSI_O_STATE);
	s.msr_conf = zpsi_get_le64(b + PSI_O_CONF);
	s.msr_stats = zpsi_get_le64(b + PSI_O_STATS);
	s.msr_ctrl = zpsi_get_le64(b + PSI_O_CTRL);
	s.committed = zpsi_get_le64(b + PSI_O_COMMITTED);
	s.deferred = zpsi_get_le64(b + PSI_O_DEFERRED);
	s.region_gpa = zpsi_get_le64(b + PSI_O_GPA);
	memcpy(s.region, b + PSI_O_REGION, sizeof(s.region));
	s.captured_ns = zpsi_get_le64(b + PSI_O_CAPTURED);
	s.last_update_age_ns = zpsi_get_le64(b + PSI_O_AGE);

	r = zpsi_mig_check_psi(&s);
	if (r < 0)
		return r;
	*out = s;
	return 0;
}

/* ---------------------------------------------------------------- */
/* Writer                                                             */
/* ---------------------------------------------------------------- */

static int mig_fail(struct zpsi_mig_writer *w, int err)
{
	if (w->error == 0)
		w->error = err;
	return w->error;
}

int zpsi_mig_writer_init(struct zpsi_mig_writer *w)
{
	memset(w, 0, sizeof(*w));
	w->buf = calloc(1, MIG_INITIAL_CAP);
	if (!w->buf)
		return mig_fail(w, -ENOMEM);
	w->cap = MIG_INITIAL_CAP;
	w->len = ZPSI_MIG_HEADER_SIZE;	/* filled in by zpsi_mig_finish() */
	return 0;
}

void zpsi_mig_writer_free(struct zpsi_mig_writer *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

/* Room for `extra` more bytes plus the trailer, doubling but never past
 * the largest record the format allows. */
static int mig_reserve(struct zpsi_mig_writer *w, uint64_t extra)
{
	uint64_t need = (uint64_t)w->len + extra + ZPSI_MIG_TRAILER_SIZE, cap;
	uint8_t *nb;

	if (extra > MIG_MAX_RECORD || need > MIG_MAX_RECORD || need > SIZE_MAX)
		return -E2BIG;
	if (need <= w->cap)
		return 0;
	cap = w->cap ? (uint64_t)w->cap : MIG_INITIAL_CAP;
	while (cap < need)
		cap *= 2;
	if (cap > MIG_MAX_RECORD)
		cap = MIG_MAX_RECORD;
	if (cap > SIZE_MAX)
		cap = need;
	nb = realloc(w->buf, (size_t)cap);
	if (!nb)
		return -ENOMEM;
	w->buf = nb;
	w->cap = (size_t)cap;
	return 0;
}

/* The length of the data in iov[0..n): UINT64_MAX with a NULL base and a
 * length, ZPSI_MIG_MAX_BODY + 1 past the format's limit. */
static uint64_t mig_iov_len(const struct iovec *iov, size_t n)
{
	uint64_t len = 0;

	if (!iov && n)
		return UINT64_MAX;
	for (size_t i = 0; i < n; i++) {
		if (!iov[i].iov_base && iov[i].iov_len)
			return UINT64_MAX;
		if (iov[i].iov_len > ZPSI_MIG_MAX_BODY - len)
			return ZPSI_MIG_MAX_BODY + 1;
		len += iov[i].iov_len;
	}
	return len;
}

/* Checks shared by both ways of adding a section; 0 or the sticky error. */
static int mig_section_ok(struct zpsi_mig_writer *w, uint32_t type, uint32_t flags, uint64_t len)
{
	if (w->error)
		return w->error;
	if (!w->buf)
		return mig_fail(w, -EINVAL);	/* not initialised, or finished */
	if (flags & ~ZPSI_MIG_SEC_REQUIRED)
		return mig_fail(w, -EINVAL);
	if (type == ZPSI_MIG_SEC_PSI && w->psi_added)
		return mig_fail(w, -EEXIST);
	if (w->nsections >= ZPSI_MIG_MAX_SECTIONS || len > ZPSI_MIG_MAX_BODY ||
	    w->len - ZPSI_MIG_HEADER_SIZE + ZPSI_MIG_SECTION_HEADER + zpsi_pad8(len) > ZPSI_MIG_MAX_BODY)
		return mig_fail(w, -E2BIG);
	return 0;
}

static void mig_section_header(uint8_t *p, uint32_t type, uint32_t flags, uint64_t len)
{
	zpsi_put_le32(p, type);
	zpsi_put_le32(p + 4, flags);
	zpsi_put_le64(p + 8, len);
}

int zpsi_mig_add_section_iov(struct zpsi_mig_writer *w, uint32_t type, uint32_t flags,
			     const struct iovec *iov, size_t iovcnt)
{
	uint64_t len = mig_iov_len(iov, iovcnt), padded;
	uint8_t *p;
	int r;

	if (len == UINT64_MAX)
		return mig_fail(w, w->error ? w->error : -EINVAL);
	r = mig_section_ok(w, type, flags, len);
	if (r < 0)
		return r;
	padded = zpsi_pad8(len);
	r = mig_reserve(w, ZPSI_MIG_SECTION_HEADER + padded);
	if (r < 0)
		return mig_fail(w, r);

	p = w->buf + w->len;
	mig_section_header(p, type, flags, len);
	p += ZPSI_MIG_SECTION_HEADER;
	for (size_t i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len)
			memcpy(p, iov[i].iov_base, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	memset(p, 0, (size_t)(padded - len));
	w->len += ZPSI_MIG_SECTION_HEADER + (size_t)padded;
	w->nsections++;
	if (type == ZPSI_MIG_SEC_PSI)
		w->psi_added = true;
	return 0;
}

int zpsi_mig_add_section(struct zpsi_mig_writer *w, uint32_t type, uint32_t flags,
			 const void *data, size_t len)
{
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };

	return zpsi_mig_add_section_iov(w, type, flags, &iov, 1);
}

int zpsi_mig_add_psi(struct zpsi_mig_writer *w, const struct zpsi_psi_state *s)
{
	uint8_t b[ZPSI_MIG_PSI_SIZE];
	int r;

	if (w->error)
		return w->error;
	r = zpsi_mig_encode_psi(s, b);
	if (r < 0)
		return mig_fail(w, r);
	return zpsi_mig_add_section(w, ZPSI_MIG_SEC_PSI, ZPSI_MIG_SEC_REQUIRED, b, sizeof(b));
}

/* The header, for a body of `body` bytes in `count` sections. */
static void mig_header(uint8_t *h, uint64_t body, uint32_t count)
{
	memcpy(h + MIG_H_MAGIC, ZPSI_MIG_MAGIC, sizeof(ZPSI_MIG_MAGIC));
	zpsi_put_le16(h + MIG_H_VERSION, ZPSI_MIG_VERSION);
	zpsi_put_le16(h + MIG_H_HSIZE, ZPSI_MIG_HEADER_SIZE);
	zpsi_put_le32(h + MIG_H_FLAGS, 0);
	zpsi_put_le64(h + MIG_H_BODY, body);
	zpsi_put_le32(h + MIG_H_COUNT, count);
	zpsi_put_le32(h + MIG_H_CRC, zpsi_crc32c(0, h, MIG_H_CRC));
}

int zpsi_mig_finish(struct zpsi_mig_writer *w, uint8_t **buf, size_t *len)
{
	uint8_t *h;
	int r;

	if (!w->buf && !w->error)
		mig_fail(w, -EINVAL);
	if (!w->error) {
		r = mig_reserve(w, 0);	/* the trailer's room (always there) */
		if (r < 0)
			mig_fail(w, r);
	}
	if (w->error) {
		r = w->error;
		zpsi_mig_writer_free(w);
		return r;
	}
	h = w->buf;
	mig_header(h, w->len - ZPSI_MIG_HEADER_SIZE, w->nsections);
	zpsi_put_le32(h + w->len, zpsi_crc32c(0, h, w->len));
	memcpy(h + w->len + 4, ZPSI_MIG_TRAILER_MAGIC, 4);

	*buf = w->buf;
	*len = w->len + ZPSI_MIG_TRAILER_SIZE;
	memset(w, 0, sizeof(*w));
	return 0;
}

/* ---------------------------------------------------------------- */
/* fd sinks and sources                                               */
/* ---------------------------------------------------------------- */

static int mig_fd_write(void *ctx, const void *data, size_t len)
{
	struct zpsi_mig_fd *f = ctx;
	const uint8_t *p = data;

	while (len) {
		ssize_t n = f->positional ? pwrite(f->fd, p, len, (off_t)f->off) : write(f->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
		f->off += (uint64_t)n;
	}
	return 0;
}

static ssize_t mig_fd_read(void *ctx, void *buf, size_t len)
{
	struct zpsi_mig_fd *f = ctx;

	for (;;) {
		ssize_t n = f->positional ? pread(f->fd, buf, len, (off_t)f->off) : read(f->fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		f->off += (uint64_t)n;
		return n;
	}
}

struct zpsi_mig_sink zpsi_mig_fd_sink(struct zpsi_mig_fd *f)
{
	return (struct zpsi_mig_sink){ .write = mig_fd_write, .ctx = f };
}

struct zpsi_mig_source zpsi_mig_fd_source(struct zpsi_mig_fd *f)
{
	return (struct zpsi_mig_source){ .read = mig_fd_read, .ctx = f };
}

uint64_t zpsi_mig_section_size(uint64_t len)
{
	return len > ZPSI_MIG_MAX_BODY ? UINT64_MAX : ZPSI_MIG_SECTION_HEADER + zpsi_pad8(len);
}

/* ---------------------------------------------------------------- */
/* Stream writer                                                      */
/* ---------------------------------------------------------------- */

static int mig_sw_fail(struct zpsi_mig_stream_writer *s, int err)
{
	if (s->error == 0)
		s->error = err;
	return s->error;
}

/*
 * Memory another process may still write (zpsid stores into the shared
 * region page while the VM is saved) must be checksummed and written from
 * one read of it: each stretch is copied once, and both come from the copy.
 */
static int mig_sw_put(struct zpsi_mig_stream_writer *s, const void *data, size_t len)
{
	static _Thread_local uint8_t bounce[ZPSI_MIG_STREAM_CHUNK];
	const uint8_t *src = data;

	while (len) {
		size_t chunk = len < sizeof(bounce) ? len : sizeof(bounce);
		int r;

		memcpy(bounce, src, chunk);
		s->crc = zpsi_crc32c(s->crc, bounce, chunk);
		r = s->sink.write(s->sink.ctx, bounce, chunk);
		if (r < 0)
			return mig_sw_fail(s, r);
		src += chunk;
		len -= chunk;
	}
	return 0;
}

/* The open section's data is complete: its padding (the sticky error
 * first, if any). */
static int mig_sw_close_section(struct zpsi_mig_stream_writer *s)
{
	static const uint8_t zeros[8];
	uint32_t pad = s->sec_pad;

	if (s->error)
		return s->error;
	if (s->sec_left)
		return mig_sw_fail(s, -EINVAL);
	s->sec_pad = 0;
	return pad ? mig_sw_put(s, zeros, pad) : 0;
}

static int mig_sw_header(struct zpsi_mig_stream_writer *s, struct zpsi_mig_sink sink, uint32_t count,
			 uint64_t body)
{
	uint8_t h[ZPSI_MIG_HEADER_SIZE];

	memset(s, 0, sizeof(*s));
	s->sink = sink;
	if (!sink.write)
		return mig_sw_fail(s, -EINVAL);
	if (count > ZPSI_MIG_MAX_SECTIONS || body > ZPSI_MIG_MAX_BODY)
		return mig_sw_fail(s, -E2BIG);
	if (body % 8 || (uint64_t)count * ZPSI_MIG_SECTION_HEADER > body)
		return mig_sw_fail(s, -EINVAL);
	s->count = count;
	s->body = body;
	mig_header(h, body, count);
	return mig_sw_put(s, h, sizeof(h));
}

int zpsi_mig_stream_begin(struct zpsi_mig_stream_writer *s, struct zpsi_mig_sink sink, uint32_t count,
			  uint64_t body)
{
	return mig_sw_header(s, sink, count, body);
}

int zpsi_mig_stream_begin_from(struct zpsi_mig_stream_writer *s, struct zpsi_mig_sink sink,
			       struct zpsi_mig_writer *w, uint32_t more, uint64_t more_body)
{
	uint64_t have;
	int r;

	if (w->error || !w->buf) {
		r = w->error ? w->error : -EINVAL;
		zpsi_mig_writer_free(w);
		memset(s, 0, sizeof(*s));
		return mig_sw_fail(s, r);
	}
	have = w->len - ZPSI_MIG_HEADER_SIZE;
	if (more > ZPSI_MIG_MAX_SECTIONS - w->nsections || more_body > ZPSI_MIG_MAX_BODY - have) {
		zpsi_mig_writer_free(w);
		memset(s, 0, sizeof(*s));
		return mig_sw_fail(s, -E2BIG);
	}
	r = mig_sw_header(s, sink, w->nsections + more, have + more_body);
	if (r == 0)
		r = mig_sw_put(s, w->buf + ZPSI_MIG_HEADER_SIZE, (size_t)have);
	if (r == 0) {
		s->body_done = have;
		s->nsections = w->nsections;
		s->psi_added = w->psi_added;
	}
	zpsi_mig_writer_free(w);
	return r;
}

int zpsi_mig_stream_section(struct zpsi_mig_stream_writer *s, uint32_t type, uint32_t flags, uint64_t len)
{
	uint8_t sh[ZPSI_MIG_SECTION_HEADER];
	uint64_t size = zpsi_mig_section_size(len);
	int r = mig_sw_close_section(s);

	if (r < 0)
		return r;
	if (flags & ~ZPSI_MIG_SEC_REQUIRED)
		return mig_sw_fail(s, -EINVAL);
	if (type == ZPSI_MIG_SEC_PSI && s->psi_added)
		return mig_sw_fail(s, -EEXIST);
	/* The header promised a count and a length: no more than that. */
	if (s->nsections >= s->count || size > s->body - s->body_done)
		return mig_sw_fail(s, -EINVAL);
	mig_section_header(sh, type, flags, len);
	r = mig_sw_put(s, sh, sizeof(sh));
	if (r < 0)
		return r;
	s->nsections++;
	s->body_done += size;
	s->sec_left = len;
	s->sec_pad = (uint32_t)(zpsi_pad8(len) - len);
	if (type == ZPSI_MIG_SEC_PSI)
		s->psi_added = true;
	return 0;
}

int zpsi_mig_stream_data(struct zpsi_mig_stream_writer *s, const void *data, size_t len)
{
	if (s->error)
		return s->error;
	if (len > s->sec_left || (!data && len))
		return mig_sw_fail(s, -EINVAL);
	s->sec_left -= len;
	return len ? mig_sw_put(s, data, len) : 0;
}

int zpsi_mig_stream_end(struct zpsi_mig_stream_writer *s, uint64_t *written)
{
	uint8_t trailer[ZPSI_MIG_TRAILER_SIZE];
	int r = mig_sw_close_section(s);

	if (r < 0)
		return r;
	if (s->nsections != s->count || s->body_done != s->body)
		return mig_sw_fail(s, -EINVAL);
	zpsi_put_le32(trailer, s->crc);
	memcpy(trailer + 4, ZPSI_MIG_TRAILER_MAGIC, 4);
	r = s->sink.write(s->sink.ctx, trailer, sizeof(trailer));
	if (r < 0)
		return mig_sw_fail(s, r);
	s->error = -EALREADY;	/* ended: later calls do nothing */
	if (written)
		*written = ZPSI_MIG_HEADER_SIZE + s->body + ZPSI_MIG_TRAILER_SIZE;
	return 0;
}

int zpsi_mig_finish_sink(struct zpsi_mig_writer *w, struct zpsi_mig_sink sink, uint32_t type,
			 uint32_t flags, const struct iovec *iov, size_t iovcnt, uint64_t *written)
{
	struct zpsi_mig_stream_writer s;
	uint64_t len = mig_iov_len(iov, iovcnt);
	int r;

	r = len == UINT64_MAX ? mig_fail(w, w->error ? w->error : -EINVAL)
			      : mig_section_ok(w, type, flags, len);
	if (r < 0) {
		zpsi_mig_writer_free(w);
		return r;
	}
	r = zpsi_mig_stream_begin_from(&s, sink, w, 1, zpsi_mig_section_size(len));
	if (r == 0)
		r = zpsi_mig_stream_section(&s, type, flags, len);
	for (size_t i = 0; r == 0 && i < iovcnt; i++)
		r = zpsi_mig_stream_data(&s, iov[i].iov_base, iov[i].iov_len);
	if (r == 0)
		r = zpsi_mig_stream_end(&s, written);
	return r;
}

int zpsi_mig_finish_fd(struct zpsi_mig_writer *w, int fd, uint32_t type, uint32_t flags,
		       const struct iovec *iov, size_t iovcnt, uint64_t *written)
{
	struct zpsi_mig_fd f = { .fd = fd, .positional = true };

	return zpsi_mig_finish_sink(w, zpsi_mig_fd_sink(&f), type, flags, iov, iovcnt, written);
}

/* ---------------------------------------------------------------- */
/* Reader                                                             */
/* ---------------------------------------------------------------- */

int zpsi_mig_check_header(const uint8_t *buf, size_t len, uint64_t *total_len)
{
	uint64_t body;
	uint32_t count;
	uint16_t version;

	if (!buf || len < ZPSI_MIG_HEADER_SIZE)
		return -ENODATA;
	if (memcmp(buf + MIG_H_MAGIC, ZPSI_MIG_MAGIC, sizeof(ZPSI_MIG_MAGIC)) != 0)
		return -EPROTO;
	/* Nothing past the magic means anything until the header's own CRC
	 * vouches for it: a flipped version bit is corruption, not "newer". */
	if (zpsi_crc32c(0, buf, MIG_H_CRC) != zpsi_get_le32(buf + MIG_H_CRC))
		return -EBADMSG;
	version = zpsi_get_le16(buf + MIG_H_VERSION);
	if (version == 0)
		return -EPROTO;
	if (version > ZPSI_MIG_VERSION)
		return -EPROTONOSUPPORT;
	if (zpsi_get_le16(buf + MIG_H_HSIZE) != ZPSI_MIG_HEADER_SIZE)
		return -EPROTO;
	if (zpsi_get_le32(buf + MIG_H_FLAGS) != 0)
		return -EBADMSG;
	body = zpsi_get_le64(buf + MIG_H_BODY);
	count = zpsi_get_le32(buf + MIG_H_COUNT);
	if (body > ZPSI_MIG_MAX_BODY || count > ZPSI_MIG_MAX_SECTIONS)
		return -E2BIG;
	if (body % 8 || (uint64_t)count * ZPSI_MIG_SECTION_HEADER > body)
		return -EBADMSG;
	if (ZPSI_MIG_HEADER_SIZE + body + ZPSI_MIG_TRAILER_SIZE > SIZE_MAX)
		return -E2BIG;	/* only on 32-bit hosts */
	*total_len = ZPSI_MIG_HEADER_SIZE + body + ZPSI_MIG_TRAILER_SIZE;
	return 0;
}

static bool mig_known_default(uint32_t type)
{
	return type == ZPSI_MIG_SEC_PSI;
}

/* Walk the sections of a record whose header and trailer are verified.
 * With secs NULL only check and count the known ones; otherwise fill
 * secs[] (the caller made sure it has room). */
static int mig_walk(const uint8_t *buf, size_t total, bool (*known)(uint32_t),
		    struct zpsi_mig_section *secs, size_t *nknown)
{
	const size_t end = total - ZPSI_MIG_TRAILER_SIZE;
	const uint32_t count = zpsi_get_le32(buf + MIG_H_COUNT);	/* <= MAX_SECTIONS */
	size_t off = ZPSI_MIG_HEADER_SIZE, n = 0;
	bool psi_seen = false;

	for (uint32_t i = 0; i < count; i++) {
		uint32_t type, flags;
		uint64_t slen, padded, room;

		if (end - off < ZPSI_MIG_SECTION_HEADER)
			return -EBADMSG;	/* header promises more sections */
		type = zpsi_get_le32(buf + off);
		flags = zpsi_get_le32(buf + off + 4);
		slen = zpsi_get_le64(buf + off + 8);
		room = end - off - ZPSI_MIG_SECTION_HEADER;
		if (flags & ~ZPSI_MIG_SEC_REQUIRED)
			return -EBADMSG;
		if (slen > room)
			return -EBADMSG;	/* overruns the body */
		padded = zpsi_pad8(slen);	/* slen <= room < 2^37 */
		if (padded > room)
			return -EBADMSG;
		if (!zpsi_all_zero(buf + off + ZPSI_MIG_SECTION_HEADER + slen, (size_t)(padded - slen)))
			return -EBADMSG;
		if (type == ZPSI_MIG_SEC_PSI) {
			if (psi_seen)
				return -EBADMSG;	/* which one would be true? */
			psi_seen = true;
		}
		if (known(type)) {
			if (secs)
				secs[n] = (struct zpsi_mig_section){
					.type = type,
					.flags = flags,
					.data = buf + off + ZPSI_MIG_SECTION_HEADER,
					.len = slen,
				};
			n++;
		} else if (flags & ZPSI_MIG_SEC_REQUIRED) {
			return -EPROTONOSUPPORT;
		}
		off += ZPSI_MIG_SECTION_HEADER + (size_t)padded;
	}
	if (off != end)
		return -EBADMSG;	/* bytes in the body that no section claims */
	*nknown = n;
	return 0;
}

int zpsi_mig_parse(const uint8_t *buf, size_t len, bool (*known)(uint32_t type),
		   struct zpsi_mig_section *secs, size_t max, size_t *nsecs)
{
	uint64_t total;
	size_t end, n;
	int r;

	r = zpsi_mig_check_header(buf, len, &total);
	if (r < 0)
		return r;
	if (len < total)
		return -ENODATA;
	if (len > total)
		return -EBADMSG;	/* trailing bytes: not the record we were sent */
	end = (size_t)total - ZPSI_MIG_TRAILER_SIZE;
	if (memcmp(buf + end + 4, ZPSI_MIG_TRAILER_MAGIC, 4) != 0 ||
	    zpsi_crc32c(0, buf, end) != zpsi_get_le32(buf + end))
		return -EBADMSG;

	if (!known)
		known = mig_known_default;
	r = mig_walk(buf, (size_t)total, known, NULL, &n);
	if (r < 0)
		return r;
	if (n > max)
		return -E2BIG;
	if (n && !secs)
		return -EINVAL;
	if (n)
		mig_walk(buf, (size_t)total, known, secs, &n);	/* cannot fail now */
	*nsecs = n;
	return 0;
}

const struct zpsi_mig_section *zpsi_mig_find(const struct zpsi_mig_section *secs, size_t n,
					     uint32_t type)
{
	for (size_t i = 0; i < n; i++)
		if (secs[i].type == type)
			return &secs[i];
	return NULL;
}

/* ---------------------------------------------------------------- */
/* Stream reader                                                      */
/* ---------------------------------------------------------------- */

/* Exactly len bytes from the source, into the CRC; -ENODATA at an early
 * end.  Never past the record (callers bound len by what is left). */
static int mig_sr_get(struct zpsi_mig_stream_reader *r, void *buf, size_t len, bool crc)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = r->src.read(r->src.ctx, p, len);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return -ENODATA;
		if ((size_t)n > len)
			return -EIO;	/* a source that overfills its buffer */
		if (crc)
			r->crc = zpsi_crc32c(r->crc, p, (size_t)n);
		r->done += (uint64_t)n;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read and discard n record bytes (into the CRC); zero: they must be 0. */
static int mig_sr_skip(struct zpsi_mig_stream_reader *r, uint64_t n, bool zero)
{
	static _Thread_local uint8_t sink[ZPSI_MIG_STREAM_CHUNK];

	while (n) {
		size_t chunk = n < sizeof(sink) ? (size_t)n : sizeof(sink);
		int e = mig_sr_get(r, sink, chunk, true);

		if (e < 0)
			return e;
		if (zero && !zpsi_all_zero(sink, chunk))
			return -EBADMSG;
		n -= chunk;
	}
	return 0;
}

/* The body is read; the trailer must match. */
static int mig_sr_trailer(struct zpsi_mig_stream_reader *r)
{
	uint8_t t[ZPSI_MIG_TRAILER_SIZE];
	uint32_t crc = r->crc;
	int e = mig_sr_get(r, t, sizeof(t), false);

	if (e < 0)
		return e;
	if (memcmp(t + 4, ZPSI_MIG_TRAILER_MAGIC, 4) != 0 || zpsi_get_le32(t) != crc)
		return -EBADMSG;
	return 0;
}

/*
 * An error: sticky.  One of the structure (or the caller's) is reported
 * only if the record's checksum holds -- so read on to the trailer first:
 * damage shows as damage, truncation as truncation.  An error of the
 * source itself is the source's.
 */
static int mig_sr_fail(struct zpsi_mig_stream_reader *r, int err, bool drain)
{
	int e;

	if (r->error)
		return r->error;
	if (drain && r->total) {
		e = mig_sr_skip(r, r->total - ZPSI_MIG_TRAILER_SIZE - r->done, false);
		if (e == 0)
			e = mig_sr_trailer(r);
		if (e < 0)
			err = e;
	}
	r->error = err;
	return err;
}

int zpsi_mig_stream_open(struct zpsi_mig_stream_reader *r, struct zpsi_mig_source src,
			 bool (*known)(uint32_t type))
{
	uint8_t h[ZPSI_MIG_HEADER_SIZE];
	uint64_t total;
	int e;

	memset(r, 0, sizeof(*r));
	r->src = src;
	r->known = known ? known : mig_known_default;
	if (!src.read)
		return mig_sr_fail(r, -EINVAL, false);
	e = mig_sr_get(r, h, sizeof(h), true);
	if (e == 0)
		e = zpsi_mig_check_header(h, sizeof(h), &total);
	if (e < 0)
		return mig_sr_fail(r, e, false);
	r->total = total;
	r->count = zpsi_get_le32(h + MIG_H_COUNT);
	return 0;
}

/* Bytes of the body not yet read. */
static uint64_t mig_sr_body_left(const struct zpsi_mig_stream_reader *r)
{
	return r->total - ZPSI_MIG_TRAILER_SIZE - r->done;
}

/* Finish the current section: its unread data, then its zero padding. */
static int mig_sr_close_section(struct zpsi_mig_stream_reader *r)
{
	int e = mig_sr_skip(r, r->sec_left, false);

	r->sec_left = 0;
	if (e == 0)
		e = mig_sr_skip(r, r->sec_pad, true);
	r->sec_pad = 0;
	return e;
}

int zpsi_mig_stream_next(struct zpsi_mig_stream_reader *r, struct zpsi_mig_section *sec)
{
	int e;

	if (r->error)
		return r->error;
	if (r->finished)
		return 0;
	e = mig_sr_close_section(r);
	if (e < 0)
		return mig_sr_fail(r, e, e == -EBADMSG);
	while (r->index < r->count) {
		uint8_t sh[ZPSI_MIG_SECTION_HEADER];
		uint32_t type, flags;
		uint64_t slen, room;

		if (mig_sr_body_left(r) < ZPSI_MIG_SECTION_HEADER)
			return mig_sr_fail(r, -EBADMSG, true);	/* more sections promised */
		e = mig_sr_get(r, sh, sizeof(sh), true);
		if (e < 0)
			return mig_sr_fail(r, e, false);
		r->index++;
		type = zpsi_get_le32(sh);
		flags = zpsi_get_le32(sh + 4);
		slen = zpsi_get_le64(sh + 8);
		room = mig_sr_body_left(r);
		if ((flags & ~ZPSI_MIG_SEC_REQUIRED) || slen > room || zpsi_pad8(slen) > room)
			return mig_sr_fail(r, -EBADMSG, true);
		if (type == ZPSI_MIG_SEC_PSI) {
			if (r->psi_seen)
				return mig_sr_fail(r, -EBADMSG, true);
			r->psi_seen = true;
		}
		r->sec_left = slen;
		r->sec_pad = (uint32_t)(zpsi_pad8(slen) - slen);
		if (r->known(type)) {
			*sec = (struct zpsi_mig_section){ .type = type, .flags = flags, .len = slen };
			return 1;
		}
		if (flags & ZPSI_MIG_SEC_REQUIRED)
			return mig_sr_fail(r, -EPROTONOSUPPORT, true);
		e = mig_sr_close_section(r);
		if (e < 0)
			return mig_sr_fail(r, e, e == -EBADMSG);
	}
	if (mig_sr_body_left(r) != 0)
		return mig_sr_fail(r, -EBADMSG, true);	/* bytes no section claims */
	e = mig_sr_trailer(r);
	if (e < 0)
		return mig_sr_fail(r, e, false);
	r->finished = true;
	return 0;
}

int zpsi_mig_stream_read(struct zpsi_mig_stream_reader *r, void *buf, size_t len)
{
	int e;

	if (r->error)
		return r->error;
	if (len > r->sec_left || (!buf && len))
		return -EINVAL;	/* the caller's mistake, not the stream's */
	e = mig_sr_get(r, buf, len, true);
	if (e < 0)
		return mig_sr_fail(r, e, false);
	r->sec_left -= len;
	return 0;
}

int zpsi_mig_stream_fail(struct zpsi_mig_stream_reader *r, int err)
{
	if (r->finished)
		return err;	/* verified already: the caller's error stands */
	return mig_sr_fail(r, err < 0 ? err : -EINVAL, true);
}

static const struct {
	int err;
	const char *text;
} mig_errors[] = {
	{ 0, "success" },
	{ ENODATA, "truncated record" },
	{ EPROTO, "not a zpsi migration record" },
	{ EBADMSG, "corrupt record (checksum or structure mismatch)" },
	{ EPROTONOSUPPORT, "unsupported record version or required section" },
	{ E2BIG, "record exceeds the format's limits" },
	{ EINVAL, "invalid PSI state" },
	{ EEXIST, "PSI section added twice" },
	{ ENOMEM, "out of memory" },
};

const char *zpsi_mig_strerror(int err)
{
	/* Both signs accepted; compared, not negated, so INT_MIN is harmless. */
	for (size_t i = 0; i < sizeof(mig_errors) / sizeof(mig_errors[0]); i++)
		if (mig_errors[i].err == err || -mig_errors[i].err == err)
			return mig_errors[i].text;
	return "unknown error";
}
