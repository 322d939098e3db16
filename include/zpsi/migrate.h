/* SPDX-License-Identifier: MIT */
/*
 * zpsi/migrate.h - the migration record (SPEC component 6; docs/abi.md
 * "Migration record").
 *
 * A record is a 32-byte header, a list of typed sections, and an 8-byte
 * trailer; all little-endian.  The header carries its own CRC32C so a
 * receiver can reject a foreign or corrupt stream before reading its body;
 * the trailer's CRC32C covers everything before it.
 *
 *   header  0 magic "ZPSIMIG\0" | 8 le16 version | 10 le16 header size (32)
 *          12 le32 flags (0)    | 16 le64 body length (sections only)
 *          24 le32 section count| 28 le32 CRC32C of bytes 0..27
 *   section le32 type | le32 flags | le64 length | data | zero pad to 8
 *   trailer le32 CRC32C of every byte before it | "ZEND"
 *
 * Every future version keeps bytes 0..31 as they are (magic, version at 8,
 * CRC32C of 0..27 at 28), so any reader can tell "newer" from "corrupt".
 * A reader checks, in this order: length >= 32, magic, header CRC, version,
 * header size, flags, limits; then the record length, the trailer, and only
 * then walks the sections, each of which must lie inside the body.
 */
#ifndef ZPSI_MIGRATE_H
#define ZPSI_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define ZPSI_MIG_MAGIC		"ZPSIMIG"	/* 8 bytes with its NUL */
#define ZPSI_MIG_VERSION	1u
#define ZPSI_MIG_HEADER_SIZE	32u
#define ZPSI_MIG_SECTION_HEADER	16u
#define ZPSI_MIG_TRAILER_SIZE	8u
#define ZPSI_MIG_TRAILER_MAGIC	"ZEND"
#define ZPSI_MIG_MAX_SECTIONS	4096u
#define ZPSI_MIG_MAX_BODY	(64ull << 30)	/* 64 GiB */

/* Section flags: a reader that does not know a REQUIRED section's type
 * rejects the record (-EPROTONOSUPPORT); others it skips. */
#define ZPSI_MIG_SEC_REQUIRED	(1u << 0)

/* Section types.  1..15 libzpsi, 16..255 zpsi-vmm, others reserved. */
enum zpsi_mig_section_type {
	ZPSI_MIG_SEC_PSI	= 1,	/* struct zpsi_psi_state, exactly once */
	ZPSI_MIG_SEC_VM		= 16,	/* VM configuration (zpsi-vmm) */
	ZPSI_MIG_SEC_VCPU	= 17,	/* one per vCPU (zpsi-vmm) */
	ZPSI_MIG_SEC_MEMORY	= 18,	/* guest RAM (zpsi-vmm) */
};

/* The PSI state of one guest, as captured on the source. */
struct zpsi_psi_state {
	uint32_t guest_id;	/* source registration, 0 if none */
	uint32_t weight;	/* 1..65535, or 0 if not registered */
	uint8_t power;		/* enum zpsi_power_state */
	bool registered;
	bool region_valid;	/* region[] and region_gpa hold the region */
	uint64_t msr_state, msr_conf, msr_stats, msr_ctrl;	/* as RDMSR reads them */
	uint64_t committed, deferred;	/* 64-bit extended counts */
	uint64_t region_gpa;
	uint8_t region[64];		/* raw bytes of the region page's first 64 */
	uint64_t captured_ns;		/* CLOCK_REALTIME on the source */
	uint64_t last_update_age_ns;	/* how long before capture the last update was */
};
#define ZPSI_MIG_PSI_SIZE	168u	/* encoded size of the PSI section's data */

/* Check a PSI state against the rules zpsi_mig_decode_psi() enforces (so a
 * source never sends what a destination must refuse).  0 or -EINVAL. */
int zpsi_mig_check_psi(const struct zpsi_psi_state *s);

/* The PSI section's data, exactly ZPSI_MIG_PSI_SIZE bytes (layout in
 * migrate.c).  0, or -EINVAL (zpsi_mig_check_psi) with out untouched. */
int zpsi_mig_encode_psi(const struct zpsi_psi_state *s, uint8_t out[ZPSI_MIG_PSI_SIZE]);

/* Growable in-memory writer.  Errors are sticky: the first one is kept,
 * later calls do nothing and return it, zpsi_mig_finish() reports it.
 * The buffer grows by doubling, never beyond header + ZPSI_MIG_MAX_BODY +
 * trailer. */
struct zpsi_mig_writer {
	uint8_t *buf;
	size_t len, cap;
	uint32_t nsections;
	bool psi_added;		/* a PSI section is allowed once */
	int error;
};

int zpsi_mig_writer_init(struct zpsi_mig_writer *w);
/* -EINVAL unknown flags or NULL data with len > 0, -E2BIG past the limits,
 * -EEXIST a second PSI section, -ENOMEM. */
int zpsi_mig_add_section(struct zpsi_mig_writer *w, uint32_t type, uint32_t flags,
			 const void *data, size_t len);
/* The same, the data gathered from iov[0..iovcnt). */
int zpsi_mig_add_section_iov(struct zpsi_mig_writer *w, uint32_t type, uint32_t flags,
			     const struct iovec *iov, size_t iovcnt);
/* A REQUIRED PSI section; -EINVAL if zpsi_mig_check_psi() refuses s. */
int zpsi_mig_add_psi(struct zpsi_mig_writer *w, const struct zpsi_psi_state *s);
/* Write the header and trailer.  On success *buf and *len own the record
 * (free() it) and w is empty; on failure w is freed. */
int zpsi_mig_finish(struct zpsi_mig_writer *w, uint8_t **buf, size_t *len);
void zpsi_mig_writer_free(struct zpsi_mig_writer *w);
/* ---------------------------------------------------------------- */
/* Streams: the record to and from any fd, in bounded chunks          */
/* ---------------------------------------------------------------- */

/* Where a record goes: write() all of data[0..len) in order; 0 or -errno. */
struct zpsi_mig_sink {
	int (*write)(void *ctx, const void *data, size_t len);
	void *ctx;
};
/* Where a record comes from: up to len bytes into buf; the count (> 0),
 * 0 at the end of the stream, or -errno. */
struct zpsi_mig_source {
	ssize_t (*read)(void *ctx, void *buf, size_t len);
	void *ctx;
};
/* The fd behind a sink or source.  positional: pwrite()/pread() from
 * offset 0 whatever the file position (a state file); else write()/read()
 * (a socket, a pipe).  EINTR is retried; a write that makes no progress
 * is -EIO. */
struct zpsi_mig_fd {
	int fd;
	bool positional;
	uint64_t off;
};
struct zpsi_mig_sink zpsi_mig_fd_sink(struct zpsi_mig_fd *f);
struct zpsi_mig_source zpsi_mig_fd_source(struct zpsi_mig_fd *f);

/* Bytes a section of len data bytes takes in the body (header, data, pad):
 * what a stream writer declares up front. */
uint64_t zpsi_mig_section_size(uint64_t len);

/*
 * A record written in order, never held whole in memory.  The header goes
 * first, so the writer declares the section count and the body length
 * (the sum of zpsi_mig_section_size()) before any section; then for each
 * section zpsi_mig_stream_section() and its data in pieces of any size;
 * zpsi_mig_stream_end() writes the trailer.  The bytes are exactly those
 * zpsi_mig_finish() gives for the same sections.  Data goes to the sink
 * in chunks of at most ZPSI_MIG_STREAM_CHUNK bytes, each copied once and
 * checksummed from the copy: memory another process may still write (the
 * shared region page) cannot make the CRC disagree with the bytes sent.
 * Errors are sticky, as the writer's: -EINVAL a declaration or a section
 * that does not add up (more data than the section's length, a section
 * begun before the last one is complete, another count or body length at
 * the end), -E2BIG past the format's limits, -EEXIST a second PSI
 * section, or the sink's -errno.  Nothing needs freeing.
 */
#define ZPSI_MIG_STREAM_CHUNK (64u << 10)
struct zpsi_mig_stream_writer {
	struct zpsi_mig_sink sink;
	uint64_t body, body_done;	/* declared, written */
	uint64_t sec_left;		/* data still owed by the open section */
	uint32_t sec_pad;		/* its padding */
	uint32_t count, nsections;
	uint32_t crc;
	bool psi_added;
	int error;
};
int zpsi_mig_stream_begin(struct zpsi_mig_stream_writer *s, struct zpsi_mig_sink sink, uint32_t count,
			  uint64_t body);
/* Begin with the sections of an in-memory writer, followed by `more`
 * sections of `more_body` bytes the caller streams after; w is freed
 * either way.  The snapshot path: small sections built in memory, guest
 * RAM streamed from the guest's pages. */
int zpsi_mig_stream_begin_from(struct zpsi_mig_stream_writer *s, struct zpsi_mig_sink sink,
			       struct zpsi_mig_writer *w, uint32_t more, uint64_t more_body);
int zpsi_mig_stream_section(struct zpsi_mig_stream_writer *s, uint32_t type, uint32_t flags, uint64_t len);
int zpsi_mig_stream_data(struct zpsi_mig_stream_writer *s, const void *data, size_t len);
/* *written (if not NULL): the record's length. */
int zpsi_mig_stream_end(struct zpsi_mig_stream_writer *s, uint64_t *written);

/*
 * Write the record to fd from offset 0 with pwrite(), ending with one more
 * section whose data is gathered from iov[0..iovcnt) as it is written --
 * guest RAM goes to the file without a copy in memory.  The bytes are those
 * zpsi_mig_finish() would give after zpsi_mig_add_section_iov() with the same
 * arguments.  The caller truncates and syncs the file.  w is freed either
 * way.  *written (if not NULL): the record's length.  Errors as
 * zpsi_mig_add_section(), or -errno of a failed write.  (A stream writer
 * over zpsi_mig_fd_sink(), positional.)
 */
int zpsi_mig_finish_fd(struct zpsi_mig_writer *w, int fd, uint32_t type, uint32_t flags,
		       const struct iovec *iov, size_t iovcnt, uint64_t *written);
/* The same to any sink. */
int zpsi_mig_finish_sink(struct zpsi_mig_writer *w, struct zpsi_mig_sink sink, uint32_t type,
			 uint32_t flags, const struct iovec *iov, size_t iovcnt, uint64_t *written);

/*
 * A record read in order from a source, in bounded chunks, with the checks
 * zpsi_mig_parse() makes: the header first (zpsi_mig_check_header), then
 * each section header as it arrives (flags, length inside the body, a
 * second PSI section, an unknown required type), zero padding, the body
 * tiled exactly by the declared count, and the trailer's magic and CRC.
 *
 * The trailer comes last, so section data reaches the caller before the
 * checksum has vouched for it: a caller stages what it reads and commits
 * only when zpsi_mig_stream_next() has returned 0 (the end, verified).
 * So that a damaged stream is reported as damaged, not as whatever a
 * flipped bit happened to look like, every error of the structure -- and
 * a caller's own decoding error passed to zpsi_mig_stream_fail() -- first
 * reads on to the end of the record as the (CRC-checked) header declares
 * it: a CRC mismatch there is -EBADMSG, an early end -ENODATA; only a
 * record whose checksums hold gets the structural error.  The errors are
 * zpsi_mig_parse()'s, plus the source's -errno; they are sticky.  Nothing
 * past the trailer is read (the stream may go on).
 */
struct zpsi_mig_section;
struct zpsi_mig_stream_reader {
	struct zpsi_mig_source src;
	bool (*known)(uint32_t type);
	uint64_t total, done;		/* record length; bytes read so far */
	uint64_t sec_left;		/* data of the current section not yet read */
	uint32_t sec_pad;
	uint32_t count, index;		/* sections declared, begun */
	uint32_t crc;
	bool psi_seen, finished;
	int error;
};
/* Read and check the header.  known: as zpsi_mig_parse's. */
int zpsi_mig_stream_open(struct zpsi_mig_stream_reader *r, struct zpsi_mig_source src,
			 bool (*known)(uint32_t type));
/* Skip what is left of the current section, then the unknown optional
 * sections after it: 1 and the next known section (sec->data NULL: read
 * it with zpsi_mig_stream_read), or 0 at the verified end of the record. */
int zpsi_mig_stream_next(struct zpsi_mig_stream_reader *r, struct zpsi_mig_section *sec);
/* Exactly len bytes of the current section's data (len <= what is left of
 * it, else -EINVAL). */
int zpsi_mig_stream_read(struct zpsi_mig_stream_reader *r, void *buf, size_t len);
/* The caller could not use a section (err < 0): the stream's own error if
 * the rest of the record shows one (see above), else err. */
int zpsi_mig_stream_fail(struct zpsi_mig_stream_reader *r, int err);

/*
 * Check a header alone (for streams): 0 and the total record length
 * (header + body + trailer), or
 *   -ENODATA          fewer than 32 bytes
 *   -EPROTO           foreign: not our magic, version 0, bad header size
 *   -EBADMSG          header CRC mismatch, flags set, a body length that
 *                     is not a multiple of 8 or too short for the count
 *   -EPROTONOSUPPORT  a future version
 *   -E2BIG            body or section count above the limits
 */
int zpsi_mig_check_header(const uint8_t *buf, size_t len, uint64_t *total_len);

struct zpsi_mig_section {
	uint32_t type;
	uint32_t flags;
	const uint8_t *data;	/* points into the record */
	uint64_t len;
};

/*
 * Validate a whole record and list its known sections in secs[] (unknown
 * optional sections are skipped).  Errors as zpsi_mig_check_header, plus
 * -ENODATA shorter than the header says, -EBADMSG trailer CRC or magic
 * mismatch, trailing bytes, sections that do not tile the body (overrun,
 * count mismatch, non-zero padding), unknown section flags, or a second PSI
 * section, -EPROTONOSUPPORT an unknown required section, -E2BIG more known
 * sections than max.  `known` tells which types the caller understands
 * (NULL: libzpsi's own, ZPSI_MIG_SEC_PSI).  secs[] and *nsecs are written
 * only on success, after everything has been checked.
 */
int zpsi_mig_parse(const uint8_t *buf, size_t len, bool (*known)(uint32_t type),
		   struct zpsi_mig_section *secs, size_t max, size_t *nsecs);

/* Find the first section of a type among parsed ones; NULL if absent. */
const struct zpsi_mig_section *zpsi_mig_find(const struct zpsi_mig_section *secs, size_t n,
					     uint32_t type);

/* Decode and validate a PSI section: -EINVAL on a wrong type or length,
 * reserved bytes set, an out-of-range weight, ratio or power state, MSR
 * values that violate their encodings, counts that disagree with STATS, or
 * a region without its magic (the full list is zpsi_mig_check_psi's, in
 * migrate.c).  *out is written only on success. */
int zpsi_mig_decode_psi(const struct zpsi_mig_section *sec, struct zpsi_psi_state *out);

/* A short text for the errors above ("truncated record", ...). */
const char *zpsi_mig_strerror(int err);

#endif /* ZPSI_MIGRATE_H */
