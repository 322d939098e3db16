/* SPDX-License-Identifier: MIT */
/*
 * zpsi/region.h - the shared 64-byte PSI region, host side (libzpsi).
 *
 * The guest side is in abi.h (zpsi_region_guest_publish) because guest
 * payloads are freestanding.  docs/abi.md "Shared region" is the contract.
 */
#ifndef ZPSI_REGION_H
#define ZPSI_REGION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "zpsi/abi.h"

/* Create a shareable page holding a fresh region (magic, host_info written,
 * everything else zero).  memfd: `name` is only a label (NULL or "" gives
 * "zpsi-region"); the fd is MFD_CLOEXEC|MFD_ALLOW_SEALING and sealed with
 * F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_SEAL.  shm: a file /dev/shm/<name>,
 * mode 0600, O_CLOEXEC, as QEMU's ivshmem memory-backend-file expects;
 * created with O_EXCL (-EEXIST if present) - `replace` unlinks an existing
 * file first, so the new page is never one somebody else prepared.  The
 * name is one path component: not empty, no '/', not "." or "..", at most
 * ZPSI_REGION_SHM_NAME_MAX bytes (-EINVAL otherwise).  Both are
 * ZPSI_REGION_PAGE_SIZE long.  Return 0 and *fd_out, or -errno. */
#define ZPSI_REGION_SHM_NAME_MAX 255u
int zpsi_region_create_memfd(const char *name, int *fd_out);
int zpsi_region_create_shm(const char *name, bool replace, int *fd_out);
/* Unlink /dev/shm/<name> (same name rules).  0 or -errno (-ENOENT). */
int zpsi_region_remove_shm(const char *name);

/* Map the page at `offset` of `fd` read-write, shared.  Returns 0 and
 * *out (page-aligned; the region is at offset 0), -EINVAL for a negative
 * or unaligned offset, -ENXIO when the file does not hold a whole page
 * there (touching it would raise SIGBUS), or -errno from mmap. */
int zpsi_region_map(int fd, off_t offset, struct zpsi_region **out);
/* Unmap; takes NULL; returns NULL. */
struct zpsi_region *zpsi_region_unmap(struct zpsi_region *r);

/* Host: write magic, zero the guest fields, host ratio 0, host_info
 * revision + flags.  Only at creation, before the guest can see it. */
void zpsi_region_init(volatile struct zpsi_region *r);

/* Host: store the aggregate (bp, converted to an f64 fraction; > 10000 is
 * clamped) with one aligned 8-byte store, then set ZPSI_HOSTINFO_AGG_VALID
 * with one store of host_info.  host_info is rebuilt, not trusted: revision
 * and reserved bits are rewritten; only AGG_VALID, BALLOON and the target
 * carry over (the guest is their only reader).  One host writer per region:
 * the host_info update is load-modify-store. */
void zpsi_region_store_host_ratio(volatile struct zpsi_region *r, uint32_t agg_bp);
/* Host: publish the memory target in pages (0 clears the balloon flag). */
void zpsi_region_store_mem_target(volatile struct zpsi_region *r, uint64_t pages);

/* A validated copy of the guest's fields. */
struct zpsi_sample {
	double ratio;		/* [0, 1] */
	uint16_t ratio_bp;	/* the same, rounded to basis points */
	uint64_t committed;
	uint64_t deferred;
	uint64_t guest_ts_ns;	/* the guest's claim; informational only */
	uint64_t version;	/* even seqlock value this copy was taken at */
};

/* Per-region reader state kept by the host.  Zero-initialise, then
 * zpsi_region_reader_init(). */
struct zpsi_region_reader {
	unsigned max_retries;	/* bound on seqlock retries per read */
	bool have_last;		/* last_* hold an accepted sample */
	uint64_t last_version;
	uint64_t last_committed;
	uint64_t last_deferred;
	/* counters (monotonic, for metrics) */
	uint64_t reads;		/* calls */
	uint64_t accepted;	/* new samples returned */
	uint64_t unchanged;	/* version equal to the last accepted */
	uint64_t torn;		/* gave up: odd or moving version */
	uint64_t rejected;	/* stable copy failed validation */
	uint64_t retries;	/* extra seqlock passes taken (odd or moving) */
	int last_error;		/* most recent -errno returned, 0 if none yet */
};

/* max_retries is clamped to ZPSI_REGION_MAX_RETRIES: a read makes at most
 * 1 + max_retries passes over the page, whatever the guest does. */
#define ZPSI_REGION_DEFAULT_RETRIES 8u
#define ZPSI_REGION_MAX_RETRIES 1024u
void zpsi_region_reader_init(struct zpsi_region_reader *rd, unsigned max_retries);

/*
 * Host: take one consistent copy of the region (each u64 loaded once),
 * validate it, and on success update rd's last_* and fill *out.  Every
 * call counts in exactly one of accepted, unchanged, torn, rejected.
 * A version equal to the last accepted one is "unchanged" whatever the
 * other fields say (the guest did not publish; the last sample stands).
 * A counter reset in the guest needs zpsi_region_reader_reset() first.
 * Returns:
 *   0        a new sample in *out
 *   1        unchanged since the last accepted sample (*out not written)
 *  -EBADMSG  bad magic
 *  -EAGAIN   torn: version odd or changed on every retry
 *  -ERANGE   ratio NaN, infinite, negative or above 1
 *  -EINVAL   committed or deferred went backwards
 * Reading never writes to the region.
 */
int zpsi_region_read(struct zpsi_region_reader *rd, const volatile struct zpsi_region *r,
		     struct zpsi_sample *out);

/* Forget the last sample (after a guest reset or a migration). */
void zpsi_region_reader_reset(struct zpsi_region_reader *rd);

#endif /* ZPSI_REGION_H */
