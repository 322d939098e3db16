/* SPDX-License-Identifier: MIT */
/* test_vmstate.c - zpsi-vmm's sections, and writing a record straight to a
 * file: the RAM runs, byte-for-byte equality with the in-memory writer, a
 * round trip back into RAM, and the errors of a write that cannot happen. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "zpsi/migrate.h"
#include "vmstate.h"

#define PAGE ZPSI_VMSTATE_PAGE
#define PAGES 64u

/* 64 pages; non-zero: 0 1 2 | 5 | 7 8 | 63 (a byte of each set at a varying
 * offset, so a page that is zero but for its last byte counts too). */
static const unsigned present_pages[] = { 0, 1, 2, 5, 7, 8, 63 };

static uint8_t *make_ram(void)
{
	uint8_t *ram = calloc(PAGES, PAGE);

	assert_non_null(ram);
	for (size_t i = 0; i < sizeof(present_pages) / sizeof(present_pages[0]); i++) {
		unsigned p = present_pages[i];

		ram[(size_t)p * PAGE + (p * 611u) % PAGE] = (uint8_t)(p + 1);
	}
	ram[(size_t)63 * PAGE + PAGE - 1] = 0xAA;
	return ram;
}

/* A writer with one small section before the memory. */
static void writer_with_config(struct zpsi_mig_writer *w)
{
	static const char cfg[] = "thirteen byte";

	assert_int_equal(zpsi_mig_writer_init(w), 0);
	assert_int_equal(zpsi_mig_add_section(w, ZPSI_MIG_SEC_VM, 0, cfg, sizeof(cfg) - 1), 0);
}

static uint8_t *read_fd(int fd, size_t *len)
{
	off_t end = lseek(fd, 0, SEEK_END);
	uint8_t *buf;

	assert_true(end >= 0);
	buf = malloc((size_t)end + 1);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, (size_t)end, 0), end);
	*len = (size_t)end;
	return buf;
}

static void test_runs(void **state)
{
	struct zpsi_vmstate_memory m;
	uint8_t *ram = make_ram();

	(void)state;
	assert_int_equal(zpsi_vmstate_memory_iov(ram, PAGES * PAGE, &m), 0);
	assert_int_equal(m.present, 7);
	/* the head, then runs 0-2, 5, 7-8, 63 */
	assert_int_equal(m.iovcnt, 5);
	assert_ptr_equal(m.iov[0].iov_base, m.head);
	assert_int_equal(m.iov[0].iov_len, 24 + 8);
	assert_ptr_equal(m.iov[1].iov_base, ram);
	assert_int_equal(m.iov[1].iov_len, 3 * PAGE);
	assert_ptr_equal(m.iov[2].iov_base, ram + 5 * PAGE);
	assert_int_equal(m.iov[2].iov_len, PAGE);
	assert_ptr_equal(m.iov[3].iov_base, ram + 7 * PAGE);
	assert_int_equal(m.iov[3].iov_len, 2 * PAGE);
	assert_ptr_equal(m.iov[4].iov_base, ram + 63 * PAGE);
	/* bitmap: bits 0 1 2 5 7 in byte 0, 8 in byte 1, 63 in byte 7 */
	assert_int_equal(m.head[24], 0xA7);
	assert_int_equal(m.head[25], 0x01);
	assert_int_equal(m.head[31], 0x80);
	zpsi_vmstate_memory_free(&m);
	assert_null(m.head);
	assert_null(m.iov);

	/* every other page: one run per page, the array grows past 16 */
	memset(ram, 0, PAGES * PAGE);
	for (unsigned p = 0; p < PAGES; p += 2)
		ram[(size_t)p * PAGE] = 1;
	assert_int_equal(zpsi_vmstate_memory_iov(ram, PAGES * PAGE, &m), 0);
	assert_int_equal(m.iovcnt, 1 + PAGES / 2);
	assert_int_equal(m.present, PAGES / 2);
	zpsi_vmstate_memory_free(&m);

	/* all zero: the head alone */
	memset(ram, 0, PAGES * PAGE);
	assert_int_equal(zpsi_vmstate_memory_iov(ram, PAGES * PAGE, &m), 0);
	assert_int_equal(m.iovcnt, 1);
	assert_int_equal(m.present, 0);
	zpsi_vmstate_memory_free(&m);

	assert_int_equal(zpsi_vmstate_memory_iov(ram, PAGES * PAGE - 1, &m), -EINVAL);
	assert_int_equal(zpsi_vmstate_memory_iov(NULL, PAGE, &m), -EINVAL);
	assert_int_equal(zpsi_vmstate_memory_iov(ram, ZPSI_VMSTATE_MAX_RAM + PAGE, &m), -EINVAL);
	free(ram);
}

/* The streamed record is exactly the in-memory one, and reads back. */
static void test_finish_fd_equals_finish(void **state)
{
	struct zpsi_mig_section secs[4];
	struct zpsi_mig_writer w;
	struct zpsi_vmstate_memory m;
	uint8_t *ram = make_ram(), *back = calloc(PAGES, PAGE), *rec, *file;
	size_t len, flen, n;
	uint64_t written = 0;
	int fd = memfd_create("rec", MFD_CLOEXEC);

	(void)state;
	assert_true(fd >= 0);
	assert_non_null(back);
	writer_with_config(&w);
	assert_int_equal(zpsi_vmstate_add_memory(&w, ram, PAGES * PAGE), 0);
	assert_int_equal(zpsi_mig_finish(&w, &rec, &len), 0);

	writer_with_config(&w);
	assert_int_equal(zpsi_vmstate_memory_iov(ram, PAGES * PAGE, &m), 0);
	assert_int_equal(zpsi_mig_finish_fd(&w, fd, ZPSI_MIG_SEC_MEMORY, ZPSI_MIG_SEC_REQUIRED, m.iov, m.iovcnt,
					    &written), 0);
	zpsi_vmstate_memory_free(&m);
	assert_null(w.buf);
	file = read_fd(fd, &flen);
	assert_int_equal(written, len);
	assert_int_equal(flen, len);
	assert_memory_equal(file, rec, len);

	assert_int_equal(zpsi_mig_parse(file, flen, zpsi_vmstate_known, secs, 4, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(secs[1].type, ZPSI_MIG_SEC_MEMORY);
	assert_int_equal(zpsi_vmstate_decode_memory(&secs[1], back, PAGES * PAGE, true), 0);
	assert_memory_equal(back, ram, PAGES * PAGE);
	free(file);
	free(rec);
	free(back);
	free(ram);
	close(fd);
}

struct consumed_log {
	const uint8_t *next;	/* where the next stretch must start */
	size_t total, calls;
};

static void on_consumed(void *ctx, const uint8_t *data, size_t len)
{
	struct consumed_log *log = ctx;

	assert_ptr_equal(data, log->next);
	assert_true(len > 0 && len % PAGE == 0);
	log->next = data + len;
	log->total += len;
	log->calls++;
}

/* The decoder reports every page it copied, in order, in stretches. */
static void test_decode_reports_consumed(void **state)
{
	struct zpsi_mig_section secs[4];
	struct zpsi_mig_writer w;
	struct consumed_log log = { 0 };
	enum { BIG = 1024 };	/* 4 MiB: more than one stretch */
	uint8_t *ram = calloc(BIG, PAGE), *back = calloc(BIG, PAGE), *rec;
	size_t len, n;

	(void)state;
	assert_non_null(ram);
	assert_non_null(back);
	for (unsigned p = 0; p < BIG; p++)	/* two pages in three: 2.7 MiB */
		if (p % 3)
			ram[(size_t)p * PAGE + 7] = (uint8_t)p | 1;
	writer_with_config(&w);
	assert_int_equal(zpsi_vmstate_add_memory(&w, ram, (uint64_t)BIG * PAGE), 0);
	assert_int_equal(zpsi_mig_finish(&w, &rec, &len), 0);
	assert_int_equal(zpsi_mig_parse(rec, len, zpsi_vmstate_known, secs, 4, &n), 0);
	log.next = secs[1].data + 24 + BIG / 8;
	assert_int_equal(zpsi_vmstate_decode_memory_cb(&secs[1], back, (uint64_t)BIG * PAGE, true,
						       on_consumed, &log), 0);
	assert_int_equal(log.total, (size_t)(BIG - (BIG + 2) / 3) * PAGE);
	assert_true(log.calls >= 2);
	assert_ptr_equal(log.next, secs[1].data + secs[1].len);
	assert_memory_equal(back, ram, (size_t)BIG * PAGE);
	free(rec);
	free(back);
	free(ram);
}

/* Padding: a last section whose length is not a multiple of 8. */
static void test_finish_fd_pads(void **state)
{
	struct zpsi_mig_section secs[4];
	struct zpsi_mig_writer w;
	struct iovec iov[2] = { { .iov_base = "abc", .iov_len = 3 }, { .iov_base = "defgh!", .iov_len = 6 } };
	uint8_t *rec, *file;
	size_t len, flen, n;
	int fd = memfd_create("rec", MFD_CLOEXEC);

	(void)state;
	assert_true(fd >= 0);
	writer_with_config(&w);
	assert_int_equal(zpsi_mig_add_section_iov(&w, 200, 0, iov, 2), 0);
	assert_int_equal(zpsi_mig_finish(&w, &rec, &len), 0);
	writer_with_config(&w);
	assert_int_equal(zpsi_mig_finish_fd(&w, fd, 200, 0, iov, 2, NULL), 0);
	file = read_fd(fd, &flen);
	assert_int_equal(flen, len);
	assert_memory_equal(file, rec, len);
	assert_int_equal(zpsi_mig_parse(file, flen, zpsi_vmstate_known, secs, 4, &n), 0);
	assert_int_equal(n, 1);	/* the unknown optional section 200 is skipped */
	assert_int_equal(secs[0].type, ZPSI_MIG_SEC_VM);
	free(file);
	free(rec);
	close(fd);
}

static void test_finish_fd_errors(void **state)
{
	struct zpsi_mig_writer w;
	struct iovec bad = { .iov_base = NULL, .iov_len = 8 };
	int ro = open("/dev/null", O_RDONLY | O_CLOEXEC);

	(void)state;
	assert_true(ro >= 0);
	/* a file that cannot be written: the errno, the writer freed */
	writer_with_config(&w);
	assert_int_equal(zpsi_mig_finish_fd(&w, ro, ZPSI_MIG_SEC_MEMORY, 0, NULL, 0, NULL), -EBADF);
	assert_null(w.buf);
	writer_with_config(&w);
	assert_int_equal(zpsi_mig_finish_fd(&w, -1, ZPSI_MIG_SEC_MEMORY, 0, NULL, 0, NULL), -EBADF);
	/* arguments: unknown flags, a NULL base with a length, a second PSI */
	writer_with_config(&w);
	assert_int_equal(zpsi_mig_finish_fd(&w, ro, ZPSI_MIG_SEC_MEMORY, 2, NULL, 0, NULL), -EINVAL);
	assert_null(w.buf);
	writer_with_config(&w);
	assert_int_equal(zpsi_mig_finish_fd(&w, ro, ZPSI_MIG_SEC_MEMORY, 0, &bad, 1, NULL), -EINVAL);
	writer_with_config(&w);
	assert_int_equal(zpsi_mig_add_section_iov(&w, ZPSI_MIG_SEC_MEMORY, 0, &bad, 1), -EINVAL);
	/* sticky: the first error is what finishing reports */
	assert_int_equal(zpsi_mig_finish_fd(&w, ro, ZPSI_MIG_SEC_MEMORY, 0, NULL, 0, NULL), -EINVAL);
	/* a finished writer is refused */
	assert_int_equal(zpsi_mig_finish_fd(&w, ro, ZPSI_MIG_SEC_MEMORY, 0, NULL, 0, NULL), -EINVAL);
	close(ro);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runs),
		cmocka_unit_test(test_finish_fd_equals_finish),
		cmocka_unit_test(test_finish_fd_pads),
		cmocka_unit_test(test_decode_reports_consumed),
		cmocka_unit_test(test_finish_fd_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
