/* SPDX-License-Identifier: MIT */
/*
 * region.c - the shared 64-byte PSI region, host side.
 *
 * docs/abi.md section 6 ("The shared region") is the contract.  The guest
 * publishes its fields under a seqlock (zpsi_region_guest_publish in abi.h);
 * the host takes one copy, checks that the copy is consistent, and validates
 * the copy - never the live page, which the guest may change at any moment.
 * The protocol is KVM's pvclock/steal-time seqlock (arch/x86/include/asm/
 * pvclock.h, Documentation/virt/kvm/x86/msr.rst) with the roles swapped: here
 * the guest writes and the host reads, so it is the host that must not trust
 * the other side.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zpsi/region.h"
#include "zpsi/util.h"

#define SHM_DIR "/dev/shm/"

/* Bytes 0..63 of a freshly created page; the rest of the page is zero. */
static int region_write_initial(int fd)
{
	struct zpsi_region img;

	memset(&img, 0, sizeof(img));
	zpsi_region_init(&img);
	if (pwrite(fd, &img, sizeof(img), 0) != (ssize_t)sizeof(img))
		return errno ? -errno : -EIO;
	return 0;
}

int zpsi_region_create_memfd(const char *name, int *fd_out)
{
	_cleanup_close_ int fd = -1;
	int r;

	fd = memfd_create(name && *name ? name : "zpsi-region", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, ZPSI_REGION_PAGE_SIZE) < 0)
		return -errno;
	r = region_write_initial(fd);
	if (r < 0)
		return r;
	/* Whoever maps the page (zpsid, a QEMU ivshmem backend) must never be
	 * able to fault on it: a file that shrank under a mapping raises
	 * SIGBUS.  F_SEAL_SEAL freezes the set, so no holder of the fd can add
	 * F_SEAL_WRITE later and make our read-write mmap fail. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		return -errno;
	*fd_out = ZPSI_TAKE_FD(fd);
	return 0;
}

/* A name is one path component under /dev/shm: no '/', not "." or "..",
 * bounded so "/dev/shm/" + name fits a file name. */
static int region_shm_path(const char *name, char *path, size_t size)
{
	size_t len;

	if (!name)
		return -EINVAL;
	len = strnlen(name, ZPSI_REGION_SHM_NAME_MAX + 1);
	if (len == 0 || len > ZPSI_REGION_SHM_NAME_MAX || strchr(name, '/') ||
	    strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EINVAL;
	if ((size_t)snprintf(path, size, SHM_DIR "%s", name) >= size)
		return -ENAMETOOLONG;
	return 0;
}

int zpsi_region_create_shm(const char *name, bool replace, int *fd_out)
{
	char path[sizeof(SHM_DIR) + ZPSI_REGION_SHM_NAME_MAX];
	_cleanup_close_ int fd = -1;
	int r;

	r = region_shm_path(name, path, sizeof(path));
	if (r < 0)
		return r;
	/* `replace` unlinks and creates anew rather than opening what is there:
	 * /dev/shm is world-writable, and O_EXCL is what guarantees the file
	 * is ours (and that an old mapper keeps its old, separate page). */
	if (replace && unlink(path) < 0 && errno != ENOENT)
		return -errno;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	/* The umask could have taken owner bits away: be exact. */
	if (fchmod(fd, 0600) < 0 || ftruncate(fd, ZPSI_REGION_PAGE_SIZE) < 0)
		r = -errno;
	else
		r = region_write_initial(fd);
	if (r < 0) {
		(void)unlink(path);
		return r;
	}
	*fd_out = ZPSI_TAKE_FD(fd);
	return 0;
}

int zpsi_region_remove_shm(const char *name)
{
	char path[sizeof(SHM_DIR) + ZPSI_REGION_SHM_NAME_MAX];
	int r = region_shm_path(name, path, sizeof(path));

	if (r < 0)
		return r;
	return unlink(path) < 0 ? -errno : 0;
}

int zpsi_region_map(int fd, off_t offset, struct zpsi_region **out)
{
	struct stat st;
	void *p;

	if (fd < 0 || offset < 0 || offset % ZPSI_REGION_PAGE_SIZE)
		return -EINVAL;
	/* Mapping past the end of the file succeeds but faults on first touch;
	 * refuse it here instead. */
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size < ZPSI_REGION_PAGE_SIZE || offset > st.st_size - ZPSI_REGION_PAGE_SIZE)
		return -ENXIO;
	p = mmap(NULL, ZPSI_REGION_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
	if (p == MAP_FAILED)
		return -errno;
	*out = p;
	return 0;
}

struct zpsi_region *zpsi_region_unmap(struct zpsi_region *r)
{
	if (r)
		(void)munmap(r, ZPSI_REGION_PAGE_SIZE);
	return NULL;
}

/* Every store to the live page is one aligned 8-byte atomic store, so a
 * guest never observes half of a host field (docs/abi.md 6). */
#define STORE(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)
#define LOAD(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

void zpsi_region_init(volatile struct zpsi_region *r)
{
	STORE(r->version, 0);
	STORE(r->guest_ratio, 0);
	STORE(r->committed, 0);
	STORE(r->deferred, 0);
	STORE(r->timestamp_ns, 0);
	STORE(r->host_ratio, 0);
	STORE(r->host_info, zpsi_hostinfo_encode(0, 0));
	/* Magic last: a reader that sees it sees the rest initialised. */
	__atomic_store_n(&r->magic, ZPSI_REGION_MAGIC_U64, __ATOMIC_RELEASE);
}

/*
 * host_info is the host's, but it lives in guest-writable memory.  The host
 * rebuilds the word rather than trusting it: revision and reserved bits are
 * rewritten, and only the two flags and the memory target carry over - the
 * guest is their only consumer, so garbage there can mislead nobody but the
 * guest that wrote it.  The host's decisions come from its own state
 * (registry, policy), never from these fields.  One host writer per region.
 */
static void region_store_host_info(volatile struct zpsi_region *r, uint64_t set, uint64_t clear,
				   const uint64_t *target)
{
	uint64_t old = LOAD(r->host_info);
	uint64_t flags = (old & (ZPSI_HOSTINFO_AGG_VALID | ZPSI_HOSTINFO_BALLOON)) | set;
	uint64_t pages = target ? *target : zpsi_hostinfo_target_pages(old);

	flags &= ~clear;
	if (!(flags & ZPSI_HOSTINFO_BALLOON))
		pages = 0;
	__atomic_store_n(&r->host_info, zpsi_hostinfo_encode(flags, pages), __ATOMIC_RELEASE);
}

void zpsi_region_store_host_ratio(volatile struct zpsi_region *r, uint32_t agg_bp)
{
	/* Ratio first, then the flag saying it is valid, each one store. */
	__atomic_store_n(&r->host_ratio, zpsi_f64_from_bp(agg_bp), __ATOMIC_RELEASE);
	region_store_host_info(r, ZPSI_HOSTINFO_AGG_VALID, 0, NULL);
}

void zpsi_region_store_mem_target(volatile struct zpsi_region *r, uint64_t pages)
{
	if (pages == 0)
		region_store_host_info(r, 0, ZPSI_HOSTINFO_BALLOON, &pages);
	else
		region_store_host_info(r, ZPSI_HOSTINFO_BALLOON, 0, &pages);
}

void zpsi_region_reader_init(struct zpsi_region_reader *rd, unsigned max_retries)
{
	memset(rd, 0, sizeof(*rd));
	rd->max_retries = max_retries < ZPSI_REGION_MAX_RETRIES ? max_retries
								  : ZPSI_REGION_MAX_RETRIES;
}

void zpsi_region_reader_reset(struct zpsi_region_reader *rd)
{
	rd->have_last = false;
	rd->last_version = rd->last_committed = rd->last_deferred = 0;
}

static inline void region_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/*
 * The reader half of docs/abi.md 6.1: version (acquire), each field loaded
 * exactly once into `copy`, acquire fence, version again.  A guest that keeps
 * the version odd or moving costs us at most 1 + max_retries passes.
 * Returns 0 with a stable copy, or -EAGAIN.
 */
static int region_snapshot(struct zpsi_region_reader *rd, const volatile struct zpsi_region *r,
			   struct zpsi_region *copy)
{
	for (unsigned attempt = 0; attempt <= rd->max_retries; attempt++) {
		uint64_t v1, v2;

		if (attempt > 0) {
			rd->retries++;
			region_cpu_relax();
		}
		v1 = __atomic_load_n(&r->version, __ATOMIC_ACQUIRE);
		if (v1 & 1)
			continue;	/* the guest is mid-update */
		copy->magic = LOAD(r->magic);
		copy->guest_ratio = LOAD(r->guest_ratio);
		copy->host_ratio = LOAD(r->host_ratio);
		copy->committed = LOAD(r->committed);
		copy->deferred = LOAD(r->deferred);
		copy->timestamp_ns = LOAD(r->timestamp_ns);
		copy->host_info = LOAD(r->host_info);
		/* Orders the field loads before the second version load (the
		 * smp_rmb() of pvclock_read_retry). */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		v2 = LOAD(r->version);
		if (v1 == v2) {
			copy->version = v1;
			return 0;
		}
	}
	return -EAGAIN;
}

/* docs/abi.md 6.2, applied to the private copy only.  Order matters: a bad
 * magic means the page is not a region at all, so it is reported first. */
static int region_validate(const struct zpsi_region_reader *rd, const struct zpsi_region *c,
			   int32_t *bp_out)
{
	int32_t bp;

	if (c->magic != ZPSI_REGION_MAGIC_U64)
		return -EBADMSG;
	if (rd->have_last && c->version == rd->last_version)
		return 1;
	bp = zpsi_bp_from_f64(c->guest_ratio);	/* -1: NaN, inf, < 0, > 1 */
	if (bp < 0 || bp > (int32_t)ZPSI_BP_MAX)
		return -ERANGE;
	if (rd->have_last && (c->committed < rd->last_committed || c->deferred < rd->last_deferred))
		return -EINVAL;
	*bp_out = bp;
	return 0;
}

int zpsi_region_read(struct zpsi_region_reader *rd, const volatile struct zpsi_region *r,
		     struct zpsi_sample *out)
{
	struct zpsi_region c;
	int32_t bp = 0;
	int ret;

	rd->reads++;
	ret = region_snapshot(rd, r, &c);
	if (ret < 0) {
		rd->torn++;
		rd->last_error = ret;
		return ret;
	}
	ret = region_validate(rd, &c, &bp);
	if (ret < 0) {
		rd->rejected++;
		rd->last_error = ret;
		return ret;
	}
	if (ret > 0) {
		rd->unchanged++;
		return 1;
	}

	memcpy(&out->ratio, &c.guest_ratio, sizeof(out->ratio));
	if (out->ratio == 0.0)
		out->ratio = 0.0;	/* -0 is 0 (docs/abi.md 6.2) */
	out->ratio_bp = (uint16_t)bp;
	out->committed = c.committed;
	out->deferred = c.deferred;
	out->guest_ts_ns = c.timestamp_ns;
	out->version = c.version;

	rd->have_last = true;
	rd->last_version = c.version;
	rd->last_committed = c.committed;
	rd->last_deferred = c.deferred;
	rd->accepted++;
	return 0;
}
