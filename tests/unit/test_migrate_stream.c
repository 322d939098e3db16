/* SPDX-License-Identifier: MIT */
/* test_migrate_stream.c - the record written to and read from a stream:
 * the same bytes as the in-memory writer, round trips over a pipe and a
 * socketpair, and a reader that refuses what zpsi_mig_parse() refuses,
 * with the same error, whatever the chunking and wherever the stream
 * ends. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "zpsi/abi.h"
#include "zpsi/crc32c.h"
#include "zpsi/le.h"
#include "zpsi/migrate.h"

#define MAXSECS 16
#define BIG_LEN (3u * ZPSI_MIG_STREAM_CHUNK + 12345u)	/* several chunks, padded */
#define TYPE_BIG 200u
#define TYPE_SMALL 99u

static bool known_all(uint32_t type)
{
	(void)type;
	return true;
}

static void psi_state(struct zpsi_psi_state *s)
{
	memset(s, 0, sizeof(*s));
	s->guest_id = 7;
	s->weight = 3;
	s->registered = true;
	s->msr_state = zpsi_state_encode(2500, 1000, ZPSI_POWER_C0);
	s->msr_conf = zpsi_conf_encode(100, 9000);
	s->committed = 30;
	s->deferred = 10;
	s->msr_stats = zpsi_stats_encode(s->committed, s->deferred);
	s->captured_ns = 42;
}

static uint8_t *big_data(void)
{
	uint8_t *b = malloc(BIG_LEN);

	assert_non_null(b);
	for (size_t i = 0; i < BIG_LEN; i++)
		b[i] = (uint8_t)(i * 131 + (i >> 9));
	return b;
}

/* PSI, a 5-byte optional section, and (big) one of several chunks. */
static uint8_t *make_record(size_t *len, bool big)
{
	struct zpsi_mig_writer w;
	struct zpsi_psi_state s;
	uint8_t *buf = NULL, *b = big ? big_data() : NULL;

	psi_state(&s);
	assert_int_equal(zpsi_mig_writer_init(&w), 0);
	assert_int_equal(zpsi_mig_add_psi(&w, &s), 0);
	assert_int_equal(zpsi_mig_add_section(&w, TYPE_SMALL, 0, "hello", 5), 0);
	if (big)
		assert_int_equal(zpsi_mig_add_section(&w, TYPE_BIG, ZPSI_MIG_SEC_REQUIRED, b, BIG_LEN), 0);
	assert_int_equal(zpsi_mig_finish(&w, &buf, len), 0);
	free(b);
	return buf;
}

/* ---------------------------------------------------------------- */
/* Memory sink and source                                             */
/* ---------------------------------------------------------------- */

struct mem_sink {
	uint8_t *buf;
	size_t len, cap;
	size_t max_write;	/* largest single write seen */
	size_t fail_after;	/* bytes accepted before -ENOSPC; 0: never */
};

static int mem_write(void *ctx, const void *data, size_t len)
{
	struct mem_sink *m = ctx;

	if (m->fail_after && m->len + len > m->fail_after)
		return -ENOSPC;
	if (m->len + len > m->cap) {
		m->cap = (m->len + len) * 2;
		m->buf = realloc(m->buf, m->cap);
		assert_non_null(m->buf);
	}
	memcpy(m->buf + m->len, data, len);
	m->len += len;
	if (len > m->max_write)
		m->max_write = len;
	return 0;
}

struct mem_source {
	const uint8_t *buf;
	size_t len, off;
	size_t chunk;		/* at most this much per read (0: all) */
};

static ssize_t mem_read(void *ctx, void *buf, size_t len)
{
	struct mem_source *m = ctx;
	size_t n = m->len - m->off;

	if (n > len)
		n = len;
	if (m->chunk && n > m->chunk)
		n = m->chunk;
	memcpy(buf, m->buf + m->off, n);
	m->off += n;
	return (ssize_t)n;
}

/* ---------------------------------------------------------------- */
/* Reading a whole record                                             */
/* ---------------------------------------------------------------- */

struct read_result {
	struct zpsi_mig_section secs[MAXSECS];
	uint8_t *data[MAXSECS];
	size_t n;
};

static void result_free(struct read_result *res)
{
	for (size_t i = 0; i < res->n; i++)
		free(res->data[i]);
	res->n = 0;
}

/* Read every known section, its data in pieces of `piece` bytes. */
static int stream_read_all(struct zpsi_mig_source src, bool (*known)(uint32_t), size_t piece,
			   struct read_result *res)
{
	struct zpsi_mig_stream_reader r;
	struct zpsi_mig_section sec;
	int e;

	memset(res, 0, sizeof(*res));
	e = zpsi_mig_stream_open(&r, src, known);
	while (e == 0 && (e = zpsi_mig_stream_next(&r, &sec)) == 1) {
		uint8_t *d = malloc(sec.len ? sec.len : 1);

		assert_non_null(d);
		assert_true(res->n < MAXSECS);
		for (uint64_t off = 0; e >= 0 && off < sec.len; off += piece) {
			size_t n = sec.len - off < piece ? (size_t)(sec.len - off) : piece;

			e = zpsi_mig_stream_read(&r, d + off, n);
		}
		sec.data = d;
		res->secs[res->n] = sec;
		res->data[res->n++] = d;
		if (e < 0)
			break;
		e = 0;
	}
	if (e < 0)
		result_free(res);
	return e;
}

static int read_mem(const uint8_t *buf, size_t len, size_t chunk, bool (*known)(uint32_t))
{
	struct mem_source m = { .buf = buf, .len = len, .chunk = chunk };
	struct read_result res;
	int e = stream_read_all((struct zpsi_mig_source){ mem_read, &m }, known, 1000, &res);

	result_free(&res);
	return e;
}

/* The stream reader gives what zpsi_mig_parse() gives. */
static void assert_same_as_parse(const uint8_t *rec, size_t len, const struct read_result *res,
				 bool (*known)(uint32_t))
{
	struct zpsi_mig_section secs[MAXSECS];
	size_t n = 0;

	assert_int_equal(zpsi_mig_parse(rec, len, known, secs, MAXSECS, &n), 0);
	assert_int_equal(res->n, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(res->secs[i].type, secs[i].type);
		assert_int_equal(res->secs[i].flags, secs[i].flags);
		assert_int_equal(res->secs[i].len, secs[i].len);
		assert_memory_equal(res->secs[i].data, secs[i].data, secs[i].len);
	}
}

static void reseal(uint8_t *rec, size_t len)
{
	zpsi_put_le32(rec + 28, zpsi_crc32c(0, rec, 28));
	zpsi_put_le32(rec + len - 8, zpsi_crc32c(0, rec, len - 8));
}

/* ---------------------------------------------------------------- */
/* Tests                                                              */
/* ---------------------------------------------------------------- */

/* The stream writer's bytes are the in-memory writer's, sent in chunks no
 * larger than ZPSI_MIG_STREAM_CHUNK. */
static void test_writer_same_bytes(void **state)
{
	struct zpsi_mig_stream_writer s;
	struct zpsi_psi_state p;
	struct mem_sink m = { 0 };
	uint8_t psi[ZPSI_MIG_PSI_SIZE], *rec, *big = big_data();
	uint64_t body, written = 0;
	size_t len;

	(void)state;
	rec = make_record(&len, true);
	psi_state(&p);
	assert_int_equal(zpsi_mig_encode_psi(&p, psi), 0);
	body = zpsi_mig_section_size(sizeof(psi)) + zpsi_mig_section_size(5) + zpsi_mig_section_size(BIG_LEN);
	assert_int_equal(zpsi_mig_stream_begin(&s, (struct zpsi_mig_sink){ mem_write, &m }, 3, body), 0);
	assert_int_equal(zpsi_mig_stream_section(&s, ZPSI_MIG_SEC_PSI, ZPSI_MIG_SEC_REQUIRED, sizeof(psi)), 0);
	assert_int_equal(zpsi_mig_stream_data(&s, psi, sizeof(psi)), 0);
	assert_int_equal(zpsi_mig_stream_section(&s, TYPE_SMALL, 0, 5), 0);
	assert_int_equal(zpsi_mig_stream_data(&s, "hel", 3), 0);
	assert_int_equal(zpsi_mig_stream_data(&s, "lo", 2), 0);
	assert_int_equal(zpsi_mig_stream_section(&s, TYPE_BIG, ZPSI_MIG_SEC_REQUIRED, BIG_LEN), 0);
	assert_int_equal(zpsi_mig_stream_data(&s, big, 1), 0);
	assert_int_equal(zpsi_mig_stream_data(&s, big + 1, BIG_LEN - 1), 0);
	assert_int_equal(zpsi_mig_stream_end(&s, &written), 0);
	assert_int_equal(written, len);
	assert_int_equal(m.len, len);
	assert_memory_equal(m.buf, rec, len);
	assert_true(m.max_write <= ZPSI_MIG_STREAM_CHUNK);
	/* ended: nothing more goes out */
	assert_int_not_equal(zpsi_mig_stream_data(&s, "x", 1), 0);
	assert_int_equal(m.len, len);

	/* begin_from: the in-memory writer's sections, then one streamed */
	{
		struct zpsi_mig_writer w;
		struct mem_sink m2 = { 0 };
		struct iovec iov[2] = { { big, 100 }, { big + 100, BIG_LEN - 100 } };

		assert_int_equal(zpsi_mig_writer_init(&w), 0);
		assert_int_equal(zpsi_mig_add_psi(&w, &p), 0);
		assert_int_equal(zpsi_mig_add_section(&w, TYPE_SMALL, 0, "hello", 5), 0);
		assert_int_equal(zpsi_mig_finish_sink(&w, (struct zpsi_mig_sink){ mem_write, &m2 }, TYPE_BIG,
						      ZPSI_MIG_SEC_REQUIRED, iov, 2, &written), 0);
		assert_null(w.buf);
		assert_int_equal(written, len);
		assert_int_equal(m2.len, len);
		assert_memory_equal(m2.buf, rec, len);
		free(m2.buf);
	}
	free(m.buf);
	free(big);
	free(rec);
}

/* What the header promised is what must be written. */
static void test_writer_refusals(void **state)
{
	struct zpsi_mig_stream_writer s;
	struct mem_sink m = { 0 };
	struct zpsi_mig_sink sink = { mem_write, &m };
	const uint64_t one = zpsi_mig_section_size(5);

	(void)state;
	assert_int_equal(zpsi_mig_stream_begin(&s, sink, 1, 12), -EINVAL);	/* not a multiple of 8 */
	assert_int_equal(zpsi_mig_stream_begin(&s, sink, 2, 16), -EINVAL);	/* too short for 2 */
	assert_int_equal(zpsi_mig_stream_begin(&s, sink, ZPSI_MIG_MAX_SECTIONS + 1, 1u << 20), -E2BIG);
	assert_int_equal(zpsi_mig_stream_begin(&s, sink, 1, ZPSI_MIG_MAX_BODY + 8), -E2BIG);
	assert_int_equal(zpsi_mig_stream_begin(&s, (struct zpsi_mig_sink){ 0 }, 1, one), -EINVAL);

	/* more data than the section holds */
	assert_int_equal(zpsi_mig_stream_begin(&s, sink, 1, one), 0);
	assert_int_equal(zpsi_mig_stream_section(&s, 5, 0, 5), 0);
	assert_int_equal(zpsi_mig_stream_data(&s, "123456", 6), -EINVAL);
	assert_int_equal(zpsi_mig_stream_end(&s, NULL), -EINVAL);	/* sticky */

	/* a section begun before the last is complete */
	assert_int_equal(zpsi_mig_stream_begin(&s, sink, 2, 2 * one), 0);
	assert_int_equal(zpsi_mig_stream_section(&s, 5, 0, 5), 0);
	assert_int_equal(zpsi_mig_stream_data(&s, "1234", 4), 0);
	assert_int_equal(zpsi_mig_stream_section(&s, 6, 0, 5), -EINVAL);

	/* more sections, or a longer body, than declared; fewer at the end */
	assert_int_equal(zpsi_mig_stream_begin(&s, sink, 1, one), 0);
	assert_int_equal(zpsi_mig_stream_section(&s, 5, 0, 5), 0);
	assert_int_equal(zpsi_mig_stream_data(&s, "12345", 5), 0);
	assert_int_equal(zpsi_mig_stream_section(&s, 6, 0, 0), -EINVAL);
	assert_int_equal(zpsi_mig_stream_begin(&s, sink, 1, one), 0);
	assert_int_equal(zpsi_mig_stream_section(&s, 5, 0, 9), -EINVAL);
	assert_int_equal(zpsi_mig_stream_begin(&s, sink, 2, 2 * one), 0);
	assert_int_equal(zpsi_mig_stream_section(&s, 5, 0, 5), 0);
	assert_int_equal(zpsi_mig_stream_data(&s, "12345", 5), 0);
	assert_int_equal(zpsi_mig_stream_end(&s, NULL), -EINVAL);

	/* unknown flags, a second PSI section */
	assert_int_equal(zpsi_mig_stream_begin(&s, sink, 1, one), 0);
	assert_int_equal(zpsi_mig_stream_section(&s, 5, 2, 5), -EINVAL);
	assert_int_equal(zpsi_mig_stream_begin(&s, sink, 2, 2 * zpsi_mig_section_size(0)), 0);
	assert_int_equal(zpsi_mig_stream_section(&s, ZPSI_MIG_SEC_PSI, 0, 0), 0);
	assert_int_equal(zpsi_mig_stream_section(&s, ZPSI_MIG_SEC_PSI, 0, 0), -EEXIST);

	/* the sink's error, sticky */
	m.len = 0;
	m.fail_after = 40;
	assert_int_equal(zpsi_mig_stream_begin(&s, sink, 1, one), 0);
	assert_int_equal(zpsi_mig_stream_section(&s, 5, 0, 5), -ENOSPC);
	assert_int_equal(zpsi_mig_stream_data(&s, "12345", 5), -ENOSPC);
	assert_int_equal(zpsi_mig_stream_end(&s, NULL), -ENOSPC);
	free(m.buf);
}

struct pump {
	int fd;
	const uint8_t *buf;
	size_t len;
	int result;
};

/* The writing end, on its own thread: a pipe holds less than a record. */
static void *pump_thread(void *arg)
{
	struct pump *p = arg;
	struct zpsi_mig_fd f = { .fd = p->fd };
	struct zpsi_mig_sink sink = zpsi_mig_fd_sink(&f);
	struct zpsi_mig_section secs[MAXSECS];
	struct zpsi_mig_writer w;
	size_t n = 0;

	/* re-write the parsed record through the stream writer */
	p->result = zpsi_mig_parse(p->buf, p->len, known_all, secs, MAXSECS, &n);
	if (p->result == 0)
		p->result = zpsi_mig_writer_init(&w);
	for (size_t i = 0; p->result == 0 && i + 1 < n; i++)
		p->result = zpsi_mig_add_section(&w, secs[i].type, secs[i].flags, secs[i].data, secs[i].len);
	if (p->result == 0) {
		struct iovec iov = { (void *)secs[n - 1].data, secs[n - 1].len };

		p->result = zpsi_mig_finish_sink(&w, sink, secs[n - 1].type, secs[n - 1].flags, &iov, 1, NULL);
	}
	close(p->fd);
	return NULL;
}

static void round_trip_over(int rfd, int wfd)
{
	struct zpsi_mig_fd f = { .fd = rfd };
	struct read_result res;
	struct pump p = { .fd = wfd };
	pthread_t t;
	uint8_t extra;
	size_t len;
	uint8_t *rec = make_record(&len, true);

	p.buf = rec;
	p.len = len;
	assert_int_equal(pthread_create(&t, NULL, pump_thread, &p), 0);
	assert_int_equal(stream_read_all(zpsi_mig_fd_source(&f), known_all, 4096, &res), 0);
	assert_int_equal(f.off, len);		/* not a byte past the trailer */
	assert_same_as_parse(rec, len, &res, known_all);
	result_free(&res);
	pthread_join(t, NULL);
	assert_int_equal(p.result, 0);
	assert_int_equal(read(rfd, &extra, 1), 0);	/* the writer sent exactly the record */
	close(rfd);
	free(rec);
}

static void test_round_trip_pipe(void **state)
{
	int fds[2];

	(void)state;
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	round_trip_over(fds[0], fds[1]);
}

static void test_round_trip_socketpair(void **state)
{
	int fds[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
	round_trip_over(fds[0], fds[1]);
}

/* A peer that goes away mid-record: the writer gets EPIPE, not a signal. */
static void test_writer_peer_gone(void **state)
{
	struct zpsi_mig_writer w;
	struct zpsi_psi_state p;
	struct zpsi_mig_fd f;
	uint8_t *big = big_data();
	struct iovec iov = { big, BIG_LEN };
	int fds[2];

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
	close(fds[0]);
	f = (struct zpsi_mig_fd){ .fd = fds[1] };
	psi_state(&p);
	assert_int_equal(zpsi_mig_writer_init(&w), 0);
	assert_int_equal(zpsi_mig_add_psi(&w, &p), 0);
	assert_int_equal(zpsi_mig_finish_sink(&w, zpsi_mig_fd_sink(&f), TYPE_BIG, 0, &iov, 1, NULL), -EPIPE);
	close(fds[1]);
	free(big);
}

/* Known types, unknown optional ones skipped, whatever the chunking. */
static void test_reader_chunking(void **state)
{
	static const size_t chunks[] = { 1, 7, 8, 13, 4096, ZPSI_MIG_STREAM_CHUNK, 0 };
	size_t len;
	uint8_t *rec = make_record(&len, true);

	(void)state;
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		struct mem_source m = { .buf = rec, .len = len, .chunk = chunks[c] };
		struct read_result res;

		assert_int_equal(stream_read_all((struct zpsi_mig_source){ mem_read, &m }, known_all, 333, &res), 0);
		assert_same_as_parse(rec, len, &res, known_all);
		result_free(&res);
	}
	/* libzpsi's own types only: 99 is skipped, 200 is required and unknown */
	assert_int_equal(read_mem(rec, len, 4096, NULL), -EPROTONOSUPPORT);
	free(rec);
	rec = make_record(&len, false);
	{
		struct mem_source m = { .buf = rec, .len = len };
		struct read_result res;

		assert_int_equal(stream_read_all((struct zpsi_mig_source){ mem_read, &m }, NULL, 64, &res), 0);
		assert_int_equal(res.n, 1);
		assert_same_as_parse(rec, len, &res, NULL);
		result_free(&res);
	}
	free(rec);
}

/* A stream that ends early, at any byte of a small record and at every
 * chunk boundary of a big one (and either side of it): -ENODATA. */
static void test_reader_truncation(void **state)
{
	size_t len;
	uint8_t *rec = make_record(&len, false);

	(void)state;
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(read_mem(rec, cut, 0, known_all), -ENODATA);
	free(rec);
	rec = make_record(&len, true);
	for (size_t cut = ZPSI_MIG_STREAM_CHUNK; cut < len + ZPSI_MIG_STREAM_CHUNK; cut += ZPSI_MIG_STREAM_CHUNK) {
		size_t c = cut < len ? cut : len;

		for (size_t d = c - 1; d <= c + 1 && d < len; d++)
			assert_int_equal(read_mem(rec, d, 4096, known_all), -ENODATA);
	}
	/* the trailer's every byte */
	for (size_t cut = len - ZPSI_MIG_TRAILER_SIZE; cut < len; cut++)
		assert_int_equal(read_mem(rec, cut, 0, known_all), -ENODATA);
	free(rec);
}

/* Any one byte flipped: refused, with zpsi_mig_parse()'s own error. */
static void test_reader_corrupt_byte(void **state)
{
	size_t len;
	uint8_t *rec = make_record(&len, false);

	(void)state;
	for (size_t i = 0; i < len; i++) {
		int want, got;

		rec[i] ^= 0x10;
		want = zpsi_mig_parse(rec, len, known_all, (struct zpsi_mig_section[MAXSECS]){ 0 }, MAXSECS,
				      &(size_t){ 0 });
		got = read_mem(rec, len, 5, known_all);
		assert_int_not_equal(got, 0);
		assert_int_equal(got, want);
		rec[i] ^= 0x10;
	}
	free(rec);
	/* in the big record, a byte in the middle of the big section */
	rec = make_record(&len, true);
	rec[len / 2] ^= 1;
	assert_int_equal(read_mem(rec, len, 0, known_all), -EBADMSG);
	free(rec);
}

/* Structure errors behind good checksums are reported as such. */
static void test_reader_structure(void **state)
{
	size_t len;
	uint8_t *rec = make_record(&len, false);
	const size_t small = 32 + 16 + ZPSI_MIG_PSI_SIZE;	/* the 5-byte section's header */

	(void)state;
	/* a required section of an unknown type */
	zpsi_put_le32(rec + small, 1234);
	zpsi_put_le32(rec + small + 4, ZPSI_MIG_SEC_REQUIRED);
	reseal(rec, len);
	assert_int_equal(read_mem(rec, len, 0, NULL), -EPROTONOSUPPORT);
	/* unknown flags */
	zpsi_put_le32(rec + small + 4, 2);
	reseal(rec, len);
	assert_int_equal(read_mem(rec, len, 0, NULL), -EBADMSG);
	/* non-zero padding */
	zpsi_put_le32(rec + small + 4, 0);
	rec[small + 16 + 6] = 1;
	reseal(rec, len);
	assert_int_equal(read_mem(rec, len, 0, known_all), -EBADMSG);
	rec[small + 16 + 6] = 0;
	/* a section that overruns the body */
	zpsi_put_le64(rec + small + 8, 64);
	reseal(rec, len);
	assert_int_equal(read_mem(rec, len, 0, known_all), -EBADMSG);
	zpsi_put_le64(rec + small + 8, 5);
	/* a count that promises one more section than the body holds */
	zpsi_put_le32(rec + 24, 3);
	reseal(rec, len);
	assert_int_equal(read_mem(rec, len, 0, known_all), -EBADMSG);
	/* ... or one fewer: bytes no section claims */
	zpsi_put_le32(rec + 24, 1);
	reseal(rec, len);
	assert_int_equal(read_mem(rec, len, 0, known_all), -EBADMSG);
	zpsi_put_le32(rec + 24, 2);
	reseal(rec, len);
	assert_int_equal(read_mem(rec, len, 0, known_all), 0);
	free(rec);
}

/* Versions: a future one is "unsupported", 0 and a foreign magic are
 * "not ours", a flipped version without a reseal is corruption. */
static void test_reader_versions(void **state)
{
	size_t len;
	uint8_t *rec = make_record(&len, false);

	(void)state;
	zpsi_put_le16(rec + 8, ZPSI_MIG_VERSION + 1);
	assert_int_equal(read_mem(rec, len, 0, known_all), -EBADMSG);
	reseal(rec, len);
	assert_int_equal(read_mem(rec, len, 0, known_all), -EPROTONOSUPPORT);
	zpsi_put_le16(rec + 8, 0);
	reseal(rec, len);
	assert_int_equal(read_mem(rec, len, 0, known_all), -EPROTO);
	zpsi_put_le16(rec + 8, ZPSI_MIG_VERSION);
	memcpy(rec, "QEVM\0\0\0\3", 8);
	reseal(rec, len);
	assert_int_equal(read_mem(rec, len, 0, known_all), -EPROTO);
	free(rec);
}

/* A caller's decoding error stands only if the record is sound. */
static void test_reader_caller_error(void **state)
{
	struct zpsi_mig_stream_reader r;
	struct zpsi_mig_section sec;
	size_t len;
	uint8_t *rec = make_record(&len, false);
	struct mem_source m = { .buf = rec, .len = len };
	uint8_t b[4];

	(void)state;
	assert_int_equal(zpsi_mig_stream_open(&r, (struct zpsi_mig_source){ mem_read, &m }, known_all), 0);
	assert_int_equal(zpsi_mig_stream_next(&r, &sec), 1);
	assert_int_equal(sec.type, ZPSI_MIG_SEC_PSI);
	assert_null(sec.data);
	assert_int_equal(zpsi_mig_stream_read(&r, b, sizeof(b)), 0);
	assert_int_equal(zpsi_mig_stream_read(&r, NULL, ZPSI_MIG_PSI_SIZE), -EINVAL);	/* more than left */
	assert_int_equal(zpsi_mig_stream_fail(&r, -EINVAL), -EINVAL);
	assert_int_equal(m.off, len);		/* it read on to the trailer */
	assert_int_equal(zpsi_mig_stream_next(&r, &sec), -EINVAL);	/* sticky */

	/* the same with a damaged byte further on: the damage is the error */
	rec[len - 12] ^= 4;
	m.off = 0;
	assert_int_equal(zpsi_mig_stream_open(&r, (struct zpsi_mig_source){ mem_read, &m }, known_all), 0);
	assert_int_equal(zpsi_mig_stream_next(&r, &sec), 1);
	assert_int_equal(zpsi_mig_stream_fail(&r, -EINVAL), -EBADMSG);
	/* or the stream ends early */
	rec[len - 12] ^= 4;
	m.off = 0;
	m.len = len - 1;
	assert_int_equal(zpsi_mig_stream_open(&r, (struct zpsi_mig_source){ mem_read, &m }, known_all), 0);
	assert_int_equal(zpsi_mig_stream_next(&r, &sec), 1);
	assert_int_equal(zpsi_mig_stream_fail(&r, -EINVAL), -ENODATA);
	free(rec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writer_same_bytes),
		cmocka_unit_test(test_writer_refusals),
		cmocka_unit_test(test_round_trip_pipe),
		cmocka_unit_test(test_round_trip_socketpair),
		cmocka_unit_test(test_writer_peer_gone),
		cmocka_unit_test(test_reader_chunking),
		cmocka_unit_test(test_reader_truncation),
		cmocka_unit_test(test_reader_corrupt_byte),
		cmocka_unit_test(test_reader_structure),
		cmocka_unit_test(test_reader_versions),
		cmocka_unit_test(test_reader_caller_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
