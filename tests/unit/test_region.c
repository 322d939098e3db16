/* SPDX-License-Identifier: MIT */
/*
 * test_region.c - the shared region, host side: creation (memfd and
 * /dev/shm), real sharing between mappings, the initial bytes, the host
 * stores, and every path of the snapshot reader with a hostile guest
 * (docs/abi.md section 6).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "zpsi/region.h"
#include "zpsi/util.h"

static uint64_t bits_of(double d)
{
	uint64_t b;

	memcpy(&b, &d, sizeof(b));
	return b;
}

static uint64_t le64_at(const void *base, size_t off)
{
	const uint8_t *p = (const uint8_t *)base + off;
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* A local region, published as a well-behaved guest would. */
static void fresh(struct zpsi_region *r)
{
	memset(r, 0xA5, sizeof(*r));
	zpsi_region_init(r);
}

static void publish(struct zpsi_region *r, uint64_t ratio_bits, uint64_t c, uint64_t d)
{
	zpsi_region_guest_publish(r, ratio_bits, c, d, c * 3);
}

static void assert_counts(const struct zpsi_region_reader *rd, uint64_t acc, uint64_t unch,
			  uint64_t torn, uint64_t rej)
{
	assert_int_equal(rd->accepted, acc);
	assert_int_equal(rd->unchanged, unch);
	assert_int_equal(rd->torn, torn);
	assert_int_equal(rd->rejected, rej);
	assert_int_equal(rd->reads, acc + unch + torn + rej);
}

/* ---- creation and mapping ---------------------------------------------- */

/* The whole page, byte for byte: magic at 0x00, revision 1 at 0x38, zero
 * everywhere else (docs/abi.md 6: bytes 64..4095 reserved). */
static void assert_initial_page(int fd)
{
	uint8_t page[ZPSI_REGION_PAGE_SIZE], want[ZPSI_REGION_PAGE_SIZE];

	memset(want, 0, sizeof(want));
	memcpy(want, "ZIMEPSI\0", 8);
	want[0x38] = ZPSI_REGION_REVISION;
	assert_int_equal(pread(fd, page, sizeof(page), 0), sizeof(page));
	assert_memory_equal(page, want, sizeof(page));
}

static void test_memfd_create(void **state)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	int seals;

	(void)state;
	assert_int_equal(zpsi_region_create_memfd("test-region", &fd), 0);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, ZPSI_REGION_PAGE_SIZE);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_initial_page(fd);

	seals = fcntl(fd, F_GET_SEALS);
	assert_int_equal(seals, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	/* nobody holding the fd can shrink it under a mapping or freeze writes */
	assert_int_equal(ftruncate(fd, 0), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(fd, 2 * ZPSI_REGION_PAGE_SIZE), -1);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), -1);
	assert_int_equal(errno, EPERM);

	/* a NULL or empty label is allowed (it is only a label) */
	{
		_cleanup_close_ int fd2 = -1, fd3 = -1;

		assert_int_equal(zpsi_region_create_memfd(NULL, &fd2), 0);
		assert_int_equal(zpsi_region_create_memfd("", &fd3), 0);
		assert_initial_page(fd2);
	}
}

/* Two mmaps of one fd are the same physical page: what one writes, the
 * other reads, with no copy in between (this is what zpsi-vmm and zpsid do). */
static void test_two_mappings_share(void **state)
{
	_cleanup_close_ int fd = -1;
	struct zpsi_region *guest = NULL, *host = NULL;
	struct zpsi_region_reader rd;
	struct zpsi_sample s;

	(void)state;
	assert_int_equal(zpsi_region_create_memfd("share", &fd), 0);
	assert_int_equal(zpsi_region_map(fd, 0, &guest), 0);
	assert_int_equal(zpsi_region_map(fd, 0, &host), 0);
	assert_ptr_not_equal(guest, host);
	assert_int_equal((uintptr_t)guest % ZPSI_REGION_PAGE_SIZE, 0);
	assert_memory_equal(guest, host, ZPSI_REGION_PAGE_SIZE);

	zpsi_region_guest_publish(guest, zpsi_f64_from_bp(4200), 58, 42, 777);
	assert_memory_equal(guest, host, ZPSI_REGION_PAGE_SIZE);
	zpsi_region_reader_init(&rd, ZPSI_REGION_DEFAULT_RETRIES);
	assert_int_equal(zpsi_region_read(&rd, host, &s), 0);
	assert_int_equal(s.ratio_bp, 4200);
	assert_true(s.ratio == 0.42);
	assert_int_equal(s.committed, 58);
	assert_int_equal(s.deferred, 42);
	assert_int_equal(s.guest_ts_ns, 777);
	assert_int_equal(s.version, 2);

	zpsi_region_store_host_ratio(host, 1500);
	assert_int_equal(zpsi_region_guest_host_ratio(guest), bits_of(0.15));
	assert_true(zpsi_region_guest_host_info(guest) & ZPSI_HOSTINFO_AGG_VALID);

	/* and the fd's own view (pread) agrees with both mappings */
	{
		uint8_t buf[ZPSI_REGION_SIZE];

		assert_int_equal(pread(fd, buf, sizeof(buf), 0), sizeof(buf));
		assert_memory_equal(buf, guest, sizeof(buf));
	}
	assert_null(zpsi_region_unmap(guest));
	assert_null(zpsi_region_unmap(host));
	assert_null(zpsi_region_unmap(NULL));
}

static void test_map_errors(void **state)
{
	_cleanup_close_ int fd = -1;
	struct zpsi_region *m = (struct zpsi_region *)0x1;
	int p[2];

	(void)state;
	assert_int_equal(zpsi_region_create_memfd("maperr", &fd), 0);
	assert_int_equal(zpsi_region_map(fd, 100, &m), -EINVAL);
	assert_int_equal(zpsi_region_map(fd, -4096, &m), -EINVAL);
	assert_int_equal(zpsi_region_map(-1, 0, &m), -EINVAL);
	/* past the end: would SIGBUS on first touch */
	assert_int_equal(zpsi_region_map(fd, ZPSI_REGION_PAGE_SIZE, &m), -ENXIO);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(zpsi_region_map(p[0], 0, &m), -ENXIO);
	close(p[0]);
	close(p[1]);
	assert_int_equal(zpsi_region_map(p[0], 0, &m), -EBADF);
	assert_ptr_equal(m, (struct zpsi_region *)0x1);	/* untouched on error */
}

static void shm_name(char *buf, size_t size, const char *tag)
{
	snprintf(buf, size, "zpsi-test-%s-%ld", tag, (long)getpid());
}

static void test_shm_create(void **state)
{
	char name[64], path[128];
	_cleanup_close_ int fd = -1, fd2 = -1, fd3 = -1;
	struct stat st, st2;
	mode_t old;

	(void)state;
	shm_name(name, sizeof(name), "create");
	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	(void)unlink(path);

	old = umask(0277);	/* would strip the owner's write bit */
	assert_int_equal(zpsi_region_create_shm(name, false, &fd), 0);
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, ZPSI_REGION_PAGE_SIZE);
	assert_int_equal(st.st_uid, geteuid());
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_initial_page(fd);

	/* O_EXCL: an existing file is never reused silently */
	assert_int_equal(zpsi_region_create_shm(name, false, &fd2), -EEXIST);
	assert_int_equal(fd2, -1);

	/* replace: a new inode; whoever mapped the old one keeps its own page */
	{
		struct zpsi_region *old_map = NULL;

		assert_int_equal(zpsi_region_map(fd, 0, &old_map), 0);
		old_map->committed = 99;
		assert_int_equal(zpsi_region_create_shm(name, true, &fd3), 0);
		assert_int_equal(fstat(fd3, &st2), 0);
		assert_true(st2.st_ino != st.st_ino);
		assert_initial_page(fd3);
		assert_int_equal(old_map->committed, 99);
		zpsi_region_unmap(old_map);
	}

	assert_int_equal(zpsi_region_remove_shm(name), 0);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(zpsi_region_remove_shm(name), -ENOENT);
}

static void test_shm_symlink_refused(void **state)
{
	char name[64], path[128];
	_cleanup_close_ int fd = -1;

	(void)state;
	shm_name(name, sizeof(name), "link");
	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	(void)unlink(path);
	/* a planted symlink must not redirect our page elsewhere */
	assert_int_equal(symlink("/tmp/zpsi-should-not-exist", path), 0);
	assert_int_equal(zpsi_region_create_shm(name, false, &fd), -EEXIST);
	assert_int_equal(access("/tmp/zpsi-should-not-exist", F_OK), -1);
	/* replace removes the link itself, not its target */
	assert_int_equal(zpsi_region_create_shm(name, true, &fd), 0);
	assert_int_equal(access("/tmp/zpsi-should-not-exist", F_OK), -1);
	assert_int_equal(zpsi_region_remove_shm(name), 0);
}

static void test_shm_name_validation(void **state)
{
	static const char *const bad[] = { "", "/", "a/b", "/abs", "..", ".", "../etc", "x/" };
	char longest[ZPSI_REGION_SHM_NAME_MAX + 2];
	int fd = -1;

	(void)state;
	for (size_t i = 0; i < ZPSI_ARRAY_SIZE(bad); i++) {
		assert_int_equal(zpsi_region_create_shm(bad[i], false, &fd), -EINVAL);
		assert_int_equal(zpsi_region_create_shm(bad[i], true, &fd), -EINVAL);
		assert_int_equal(zpsi_region_remove_shm(bad[i]), -EINVAL);
	}
	assert_int_equal(zpsi_region_create_shm(NULL, false, &fd), -EINVAL);
	assert_int_equal(zpsi_region_remove_shm(NULL), -EINVAL);

	/* exactly the bound is fine, one byte more is not */
	memset(longest, 'z', sizeof(longest));
	longest[ZPSI_REGION_SHM_NAME_MAX + 1] = '\0';
	assert_int_equal(zpsi_region_create_shm(longest, false, &fd), -EINVAL);
	longest[ZPSI_REGION_SHM_NAME_MAX] = '\0';
	(void)zpsi_region_remove_shm(longest);
	assert_int_equal(zpsi_region_create_shm(longest, false, &fd), 0);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(zpsi_region_remove_shm(longest), 0);
	/* leading dots are an ordinary name */
	shm_name(longest, sizeof(longest), "...");
	memcpy(longest, "...", 3);
	assert_int_equal(zpsi_region_create_shm(longest, true, &fd), 0);
	close(fd);
	assert_int_equal(zpsi_region_remove_shm(longest), 0);
}

/* ---- init and host stores ------------------------------------------------ */

static void test_init_layout(void **state)
{
	static const uint8_t want[ZPSI_REGION_SIZE] = {
		[0x00] = 'Z', 'I', 'M', 'E', 'P', 'S', 'I', 0,
		[0x38] = ZPSI_REGION_REVISION,
	};
	struct zpsi_region r;

	(void)state;
	fresh(&r);	/* over 0xA5 garbage: every byte is rewritten */
	assert_memory_equal(&r, want, sizeof(want));
	assert_int_equal(le64_at(&r, 0x00), ZPSI_REGION_MAGIC_U64);
}

static void test_host_store(void **state)
{
	struct zpsi_region r, before;

	(void)state;
	fresh(&r);
	publish(&r, zpsi_f64_from_bp(3333), 10, 5);
	before = r;

	zpsi_region_store_host_ratio(&r, 2500);
	assert_int_equal(le64_at(&r, 0x18), bits_of(0.25));
	assert_int_equal(le64_at(&r, 0x38), ZPSI_REGION_REVISION | ZPSI_HOSTINFO_AGG_VALID);
	/* every guest-owned byte, and the magic, exactly as before */
	assert_memory_equal(&r, &before, 0x18);
	assert_memory_equal((uint8_t *)&r + 0x20, (uint8_t *)&before + 0x20, 0x18);

	zpsi_region_store_mem_target(&r, 1234);
	assert_int_equal(le64_at(&r, 0x38), ZPSI_REGION_REVISION | ZPSI_HOSTINFO_AGG_VALID |
						    ZPSI_HOSTINFO_BALLOON | (1234ull << 16));
	assert_int_equal(le64_at(&r, 0x18), bits_of(0.25));	/* ratio kept */
	zpsi_region_store_host_ratio(&r, 0);
	assert_int_equal(le64_at(&r, 0x18), 0);
	assert_int_equal(zpsi_hostinfo_target_pages(r.host_info), 1234);	/* target kept */
	zpsi_region_store_host_ratio(&r, 20000);	/* clamped to 100 % */
	assert_int_equal(le64_at(&r, 0x18), ZPSI_F64_ONE);
	zpsi_region_store_mem_target(&r, UINT64_MAX);	/* clamped to 48 bits */
	assert_int_equal(zpsi_hostinfo_target_pages(r.host_info), ZPSI_HOSTINFO_TARGET_MAX);
	zpsi_region_store_mem_target(&r, 0);	/* 0 clears the balloon flag */
	assert_int_equal(le64_at(&r, 0x38), ZPSI_REGION_REVISION | ZPSI_HOSTINFO_AGG_VALID);

	assert_memory_equal(&r, &before, 0x18);
	assert_memory_equal((uint8_t *)&r + 0x20, (uint8_t *)&before + 0x20, 0x18);
}

/*
 * A guest can write anything into the host's two words.  The host does not
 * read them back for any decision: they are not part of a sample, reading
 * accepts the guest's fields regardless, and the next host store rebuilds
 * them (revision and reserved bits rewritten; the flags and target, which
 * only the guest consumes, carry over until the host next sets them).
 */
static void test_guest_scribbles_host_fields(void **state)
{
	struct zpsi_region r;
	struct zpsi_region_reader rd;
	struct zpsi_sample s;

	(void)state;
	fresh(&r);
	zpsi_region_reader_init(&rd, ZPSI_REGION_DEFAULT_RETRIES);
	r.host_ratio = 0x7FF8DEADBEEF0001ull;	/* NaN */
	r.host_info = UINT64_MAX;
	publish(&r, zpsi_f64_from_bp(100), 1, 1);
	assert_int_equal(zpsi_region_read(&rd, &r, &s), 0);	/* guest fields are fine */
	assert_int_equal(s.ratio_bp, 100);

	zpsi_region_store_host_ratio(&r, 700);
	assert_int_equal(r.host_ratio, zpsi_f64_from_bp(700));
	assert_int_equal(r.host_info & ZPSI_HOSTINFO_REV_MASK, ZPSI_REGION_REVISION);
	assert_int_equal(r.host_info & ZPSI_HOSTINFO_FLAGS_MASK,
			 ZPSI_HOSTINFO_AGG_VALID | ZPSI_HOSTINFO_BALLOON);	/* 15:10 cleared */
	zpsi_region_store_mem_target(&r, 64);	/* the host's own value wins */
	assert_int_equal(r.host_info, ZPSI_REGION_REVISION | ZPSI_HOSTINFO_AGG_VALID |
					     ZPSI_HOSTINFO_BALLOON | (64ull << 16));
	r.host_info = 0;	/* guest clears AGG_VALID: the next store sets it */
	zpsi_region_store_host_ratio(&r, 700);
	assert_true(r.host_info & ZPSI_HOSTINFO_AGG_VALID);

	/* a guest that overwrites the magic no longer has a region */
	r.magic = 0;
	publish(&r, 0, 2, 2);
	assert_int_equal(zpsi_region_read(&rd, &r, &s), -EBADMSG);
}

/* ---- the reader ---------------------------------------------------------- */

static void test_read_fresh_and_unchanged(void **state)
{
	struct zpsi_region r, before;
	struct zpsi_region_reader rd;
	struct zpsi_sample s, canary;

	(void)state;
	fresh(&r);
	zpsi_region_reader_init(&rd, ZPSI_REGION_DEFAULT_RETRIES);
	assert_int_equal(rd.max_retries, 8);
	/* a fresh page is a valid, empty sample at version 0 */
	assert_int_equal(zpsi_region_read(&rd, &r, &s), 0);
	assert_true(s.ratio == 0.0 && s.committed == 0 && s.deferred == 0 && s.version == 0);

	memset(&canary, 0x5A, sizeof(canary));
	s = canary;
	before = r;
	assert_int_equal(zpsi_region_read(&rd, &r, &s), 1);
	assert_memory_equal(&s, &canary, sizeof(s));	/* not written */
	assert_memory_equal(&r, &before, sizeof(r));	/* reading never writes */

	/* same version, different bytes (a guest that skipped the seqlock):
	 * still "unchanged" - the last accepted sample stands */
	r.committed = 5;
	r.guest_ratio = bits_of(NAN);
	assert_int_equal(zpsi_region_read(&rd, &r, &s), 1);
	assert_memory_equal(&s, &canary, sizeof(s));

	publish(&r, zpsi_f64_from_bp(1), 6, 0);
	assert_int_equal(zpsi_region_read(&rd, &r, &s), 0);
	assert_int_equal(s.version, 2);
	assert_int_equal(zpsi_region_read(&rd, &r, &s), 1);
	assert_counts(&rd, 2, 3, 0, 0);
	assert_int_equal(rd.last_error, 0);
	assert_int_equal(rd.retries, 0);
}

static void test_bad_magic(void **state)
{
	static const uint64_t magics[] = {
		0, UINT64_MAX, ZPSI_REGION_MAGIC_U64 ^ 1, ZPSI_REGION_MAGIC_U64 ^ (1ull << 63),
		0x5A494D4550534900ull,	/* byte-swapped */
	};
	struct zpsi_region r;
	struct zpsi_region_reader rd;
	struct zpsi_sample s, canary;

	(void)state;
	memset(&canary, 0x5A, sizeof(canary));
	zpsi_region_reader_init(&rd, ZPSI_REGION_DEFAULT_RETRIES);
	for (size_t i = 0; i < ZPSI_ARRAY_SIZE(magics); i++) {
		fresh(&r);
		r.magic = magics[i];
		publish(&r, 0, i + 1, 0);
		s = canary;
		assert_int_equal(zpsi_region_read(&rd, &r, &s), -EBADMSG);
		assert_memory_equal(&s, &canary, sizeof(s));
		assert_int_equal(rd.last_error, -EBADMSG);
	}
	assert_counts(&rd, 0, 0, 0, ZPSI_ARRAY_SIZE(magics));
	assert_false(rd.have_last);
}

static void test_ratio_boundaries(void **state)
{
	static const struct {
		uint64_t bits;
		int ret;
		uint16_t bp;
	} cases[] = {
		{ 0x0000000000000000ull, 0, 0 },		/* +0 */
		{ 0x8000000000000000ull, 0, 0 },		/* -0 is 0 */
		{ 0x0000000000000001ull, 0, 0 },		/* smallest subnormal */
		{ 0x000FFFFFFFFFFFFFull, 0, 0 },		/* largest subnormal */
		{ 0x3FE0000000000000ull, 0, 5000 },		/* 0.5 */
		{ 0x3FEFFFFFFFFFFFFFull, 0, 10000 },		/* nextafter(1, 0) */
		{ 0x3FF0000000000000ull, 0, 10000 },		/* 1.0 */
		{ 0x3FF0000000000001ull, -ERANGE, 0 },		/* nextafter(1, 2) */
		{ 0x4000000000000000ull, -ERANGE, 0 },		/* 2.0 */
		{ 0x7FF0000000000000ull, -ERANGE, 0 },		/* +inf */
		{ 0xFFF0000000000000ull, -ERANGE, 0 },		/* -inf */
		{ 0x7FF8000000000000ull, -ERANGE, 0 },		/* quiet NaN */
		{ 0x7FF80000DEADBEEFull, -ERANGE, 0 },		/* NaN with payload */
		{ 0x7FF0000000000001ull, -ERANGE, 0 },		/* signalling NaN */
		{ 0xFFF8000000000000ull, -ERANGE, 0 },		/* negative NaN */
		{ 0x8000000000000001ull, -ERANGE, 0 },		/* -subnormal */
		{ 0xBFF0000000000000ull, -ERANGE, 0 },		/* -1.0 */
	};

	(void)state;
	assert_int_equal(cases[5].bits, bits_of(nextafter(1.0, 0.0)));
	assert_int_equal(cases[7].bits, bits_of(nextafter(1.0, 2.0)));
	for (size_t i = 0; i < ZPSI_ARRAY_SIZE(cases); i++) {
		struct zpsi_region r;
		struct zpsi_region_reader rd;
		struct zpsi_sample s;
		double want;

		fresh(&r);
		zpsi_region_reader_init(&rd, ZPSI_REGION_DEFAULT_RETRIES);
		publish(&r, cases[i].bits, 1, 1);
		assert_int_equal(zpsi_region_read(&rd, &r, &s), cases[i].ret);
		if (cases[i].ret < 0) {
			assert_counts(&rd, 0, 0, 0, 1);
			assert_int_equal(rd.last_error, cases[i].ret);
			continue;
		}
		memcpy(&want, &cases[i].bits, sizeof(want));
		assert_int_equal(s.ratio_bp, cases[i].bp);
		assert_true(s.ratio == want);
		assert_false(signbit(s.ratio));	/* -0 reported as +0 */
		assert_true(s.ratio >= 0.0 && s.ratio <= 1.0);
	}
}

static void test_counters_monotone(void **state)
{
	struct zpsi_region r;
	struct zpsi_region_reader rd;
	struct zpsi_sample s;

	(void)state;
	fresh(&r);
	zpsi_region_reader_init(&rd, ZPSI_REGION_DEFAULT_RETRIES);
	publish(&r, 0, 100, 50);
	assert_int_equal(zpsi_region_read(&rd, &r, &s), 0);
	publish(&r, 0, 100, 50);	/* equal: a new version with no new work */
	assert_int_equal(zpsi_region_read(&rd, &r, &s), 0);
	publish(&r, 0, 101, 50);	/* increase */
	assert_int_equal(zpsi_region_read(&rd, &r, &s), 0);
	publish(&r, 0, UINT64_MAX, UINT64_MAX);	/* the top is fine */
	assert_int_equal(zpsi_region_read(&rd, &r, &s), 0);
	assert_int_equal(s.committed, UINT64_MAX);
	assert_counts(&rd, 4, 0, 0, 0);

	/* going backwards, either counter: rejected, and the last accepted
	 * sample is still the reference */
	publish(&r, 0, UINT64_MAX - 1, UINT64_MAX);
	assert_int_equal(zpsi_region_read(&rd, &r, &s), -EINVAL);
	publish(&r, 0, UINT64_MAX, UINT64_MAX - 1);
	assert_int_equal(zpsi_region_read(&rd, &r, &s), -EINVAL);
	publish(&r, 0, 0, 0);	/* a wrap to 0 is "backwards" too */
	assert_int_equal(zpsi_region_read(&rd, &r, &s), -EINVAL);
	assert_int_equal(rd.last_error, -EINVAL);
	assert_int_equal(rd.last_committed, UINT64_MAX);
	assert_counts(&rd, 4, 0, 0, 3);

	/* after the host forgets (guest reset statistics), 0 is accepted */
	zpsi_region_reader_reset(&rd);
	assert_int_equal(zpsi_region_read(&rd, &r, &s), 0);
	assert_int_equal(s.committed, 0);
	/* last_error keeps the most recent error after a success */
	assert_int_equal(rd.last_error, -EINVAL);
	/* the order of checks: magic, then ratio, then counters */
	publish(&r, 0, 5, 5);
	assert_int_equal(zpsi_region_read(&rd, &r, &s), 0);
	publish(&r, bits_of(INFINITY), 0, 0);
	assert_int_equal(zpsi_region_read(&rd, &r, &s), -ERANGE);
	r.magic ^= 1;
	assert_int_equal(zpsi_region_read(&rd, &r, &s), -EBADMSG);
}

static void test_odd_version_forever(void **state)
{
	static const unsigned bounds[] = { 0, 1, 5, ZPSI_REGION_DEFAULT_RETRIES };
	struct zpsi_region r, before;
	struct zpsi_sample s, canary;

	(void)state;
	memset(&canary, 0x5A, sizeof(canary));
	fresh(&r);
	publish(&r, 0, 1, 1);
	r.version = 7;	/* a guest that died mid-update, or a hostile one */
	before = r;
	for (size_t i = 0; i < ZPSI_ARRAY_SIZE(bounds); i++) {
		struct zpsi_region_reader rd;

		zpsi_region_reader_init(&rd, bounds[i]);
		s = canary;
		assert_int_equal(zpsi_region_read(&rd, &r, &s), -EAGAIN);
		assert_int_equal(rd.retries, bounds[i]);	/* 1 + bound passes */
		assert_counts(&rd, 0, 0, 1, 0);
		assert_int_equal(rd.last_error, -EAGAIN);
		assert_memory_equal(&s, &canary, sizeof(s));
	}
	/* an absurd bound is clamped: the guest cannot make us spin long */
	{
		struct zpsi_region_reader rd;

		zpsi_region_reader_init(&rd, UINT32_MAX);
		assert_int_equal(rd.max_retries, ZPSI_REGION_MAX_RETRIES);
		assert_int_equal(zpsi_region_read(&rd, &r, &s), -EAGAIN);
		assert_int_equal(rd.retries, ZPSI_REGION_MAX_RETRIES);
	}
	assert_memory_equal(&r, &before, sizeof(r));	/* reading never writes */

	/* the guest's next publish recovers from the odd value (v | 1, +1) */
	{
		struct zpsi_region_reader rd;

		zpsi_region_reader_init(&rd, 0);
		publish(&r, 0, 2, 2);
		assert_int_equal(r.version, 8);
		assert_int_equal(zpsi_region_read(&rd, &r, &s), 0);
		assert_int_equal(s.version, 8);
	}
}

/* The version is only ever compared for equality, so wrapping past
 * UINT64_MAX is an ordinary new version. */
static void test_version_wrap(void **state)
{
	struct zpsi_region r;
	struct zpsi_region_reader rd;
	struct zpsi_sample s;

	(void)state;
	fresh(&r);
	zpsi_region_reader_init(&rd, ZPSI_REGION_DEFAULT_RETRIES);
	r.version = UINT64_MAX - 3;
	publish(&r, zpsi_f64_from_bp(10), 1, 0);
	assert_int_equal(r.version, UINT64_MAX - 1);
	assert_int_equal(zpsi_region_read(&rd, &r, &s), 0);
	assert_int_equal(s.version, UINT64_MAX - 1);

	r.version = UINT64_MAX;	/* the odd step of the next publish */
	assert_int_equal(zpsi_region_read(&rd, &r, &s), -EAGAIN);
	r.version = UINT64_MAX - 1;
	publish(&r, zpsi_f64_from_bp(20), 2, 0);
	assert_int_equal(r.version, 0);
	assert_int_equal(zpsi_region_read(&rd, &r, &s), 0);	/* new, not unchanged */
	assert_int_equal(s.version, 0);
	assert_int_equal(s.ratio_bp, 20);
	assert_int_equal(zpsi_region_read(&rd, &r, &s), 1);
	publish(&r, zpsi_f64_from_bp(30), 3, 0);
	assert_int_equal(zpsi_region_read(&rd, &r, &s), 0);
	assert_int_equal(s.version, 2);
	assert_counts(&rd, 3, 1, 1, 0);
}

/* The sample carries the guest's timestamp as information only: a clock
 * that jumps backwards or sits at UINT64_MAX changes nothing. */
static void test_timestamp_untrusted(void **state)
{
	struct zpsi_region r;
	struct zpsi_region_reader rd;
	struct zpsi_sample s;

	(void)state;
	fresh(&r);
	zpsi_region_reader_init(&rd, ZPSI_REGION_DEFAULT_RETRIES);
	zpsi_region_guest_publish(&r, 0, 1, 1, UINT64_MAX);
	assert_int_equal(zpsi_region_read(&rd, &r, &s), 0);
	zpsi_region_guest_publish(&r, 0, 2, 2, 0);
	assert_int_equal(zpsi_region_read(&rd, &r, &s), 0);
	assert_int_equal(s.guest_ts_ns, 0);
}

/* A failed assertion skips the tests' own cleanup: leave no file behind. */
static int remove_test_files(void **state)
{
	static const char *const tags[] = { "create", "link", "..." };
	char name[ZPSI_REGION_SHM_NAME_MAX + 1];

	(void)state;
	for (size_t i = 0; i < ZPSI_ARRAY_SIZE(tags); i++) {
		shm_name(name, sizeof(name), tags[i]);
		if (i == 2)
			memcpy(name, "...", 3);
		(void)zpsi_region_remove_shm(name);
	}
	memset(name, 'z', ZPSI_REGION_SHM_NAME_MAX);
	name[ZPSI_REGION_SHM_NAME_MAX] = '\0';
	(void)zpsi_region_remove_shm(name);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memfd_create),
		cmocka_unit_test(test_two_mappings_share),
		cmocka_unit_test(test_map_errors),
		cmocka_unit_test(test_shm_create),
		cmocka_unit_test(test_shm_symlink_refused),
		cmocka_unit_test(test_shm_name_validation),
		cmocka_unit_test(test_init_layout),
		cmocka_unit_test(test_host_store),
		cmocka_unit_test(test_guest_scribbles_host_fields),
		cmocka_unit_test(test_read_fresh_and_unchanged),
		cmocka_unit_test(test_bad_magic),
		cmocka_unit_test(test_ratio_boundaries),
		cmocka_unit_test(test_counters_monotone),
		cmocka_unit_test(test_odd_version_forever),
		cmocka_unit_test(test_version_wrap),
		cmocka_unit_test(test_timestamp_untrusted),
	};

	return cmocka_run_group_tests_name("region", tests, NULL, remove_test_files);
}
