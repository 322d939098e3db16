/* SPDX-License-Identifier: MIT */
/*
 * test_region_seqlock.c - the seqlock under real concurrency (docs/abi.md
 * 6.1).  A writer publishes with zpsi_region_guest_publish, every sample
 * carrying an internal invariant tied to its `committed` value:
 *
 *     deferred  == 7 * c + c / 8
 *     ratio     == zpsi_f64_from_bp((37 * c) % 10001)
 *     timestamp == 3 * c
 *
 * so a copy that mixes two publishes is detectable.  The reader calls
 * zpsi_region_read in a loop, with no retries and with the default bound,
 * and checks every accepted sample.  A naive reader that ignores the
 * version runs alongside as the negative control: it shows the tearing the
 * seqlock has to catch really happens here.
 *
 * Run twice: writer in a thread sharing the mapping, and writer in a forked
 * child that maps the memfd itself (a guest is another address space).
 * Bounded by iterations: the writer stops once the reader has seen enough
 * torn passes, or after WRITER_MAX publishes.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "zpsi/region.h"
#include "zpsi/util.h"

#define WRITER_MIN	4000000ull	/* publishes before the writer may stop */
#define WRITER_MAX	20000000ull	/* and the hard bound */
#define WANT_TORN_EVENTS 1000ull	/* reader retries + torn reads wanted */
#define WANT_ACCEPTED	100000ull	/* new samples the reader must see */
#define READER_MAX	(40 * WRITER_MAX)	/* safety bound on reader passes */

static uint64_t ratio_table[ZPSI_BP_MAX + 1];

static uint64_t inv_deferred(uint64_t c) { return 7 * c + c / 8; }
static uint32_t inv_bp(uint64_t c) { return (uint32_t)((37 * c) % (ZPSI_BP_MAX + 1)); }
static uint64_t inv_ts(uint64_t c) { return 3 * c; }

static bool sample_ok(uint64_t c, uint64_t ratio_bits, uint64_t d, uint64_t ts)
{
	return d == inv_deferred(c) && ratio_bits == ratio_table[inv_bp(c)] && ts == inv_ts(c);
}

/* Lives in a MAP_SHARED page so a forked writer sees it too. */
struct control {
	pthread_barrier_t start;
	uint64_t reader_events;	/* torn passes seen by the reader, published */
	uint64_t reader_accepted; /* new samples it accepted, published */
	uint64_t final;		/* last committed value published */
	uint32_t done;
};

struct result {
	uint64_t passes;
	uint64_t accepted, unchanged, torn, retries;
	uint64_t violations;	/* accepted samples that break the invariant */
	uint64_t bad_codes;	/* return codes other than 0, 1, -EAGAIN */
	uint64_t naive_torn;	/* negative control: unchecked copies that tore */
	uint64_t last_committed;
	bool writer_died;	/* the child exited before saying it was done */
	bool reaped;		/* reader_loop already collected the child */
	int status;
};

/*
 * Put the reader and the writer on different CPUs when there are two: left
 * to itself the scheduler often keeps a thread next to the one that woke
 * it, and the two would take turns instead of racing.  With one CPU the
 * race still happens, through preemption, only less often.
 */
static void pin_to_nth_cpu(unsigned nth)
{
	cpu_set_t allowed, one;
	unsigned seen = 0;

	if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0 || CPU_COUNT(&allowed) < 2)
		return;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &allowed) || seen++ != nth)
			continue;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		(void)sched_setaffinity(0, sizeof(one), &one);	/* 0: this thread */
		return;
	}
}

static uint64_t writer_loop(volatile struct zpsi_region *r, struct control *ctl)
{
	uint64_t c;

	pin_to_nth_cpu(1);
	pthread_barrier_wait(&ctl->start);
	for (c = 1; c < WRITER_MAX; c++) {
		zpsi_region_guest_publish(r, ratio_table[inv_bp(c)], c, inv_deferred(c), inv_ts(c));
		if (c >= WRITER_MIN && (c & 1023) == 0 &&
		    __atomic_load_n(&ctl->reader_events, __ATOMIC_RELAXED) >= WANT_TORN_EVENTS &&
		    __atomic_load_n(&ctl->reader_accepted, __ATOMIC_RELAXED) >= WANT_ACCEPTED)
			break;
	}
	__atomic_store_n(&ctl->final, c, __ATOMIC_RELAXED);
	__atomic_store_n(&ctl->done, 1, __ATOMIC_RELEASE);
	return c;
}

struct reader {
	struct zpsi_region_reader rd;
	uint64_t prev;	/* committed of the last accepted sample */
};

static void reader_step(struct reader *rr, const volatile struct zpsi_region *r, struct result *res)
{
	struct zpsi_sample s;
	uint64_t ratio_bits;
	int ret = zpsi_region_read(&rr->rd, r, &s);

	if (ret == 1 || ret == -EAGAIN)
		return;
	if (ret != 0) {
		res->bad_codes++;
		return;
	}
	memcpy(&ratio_bits, &s.ratio, sizeof(ratio_bits));
	if (!sample_ok(s.committed, ratio_bits, s.deferred, s.guest_ts_ns) ||
	    s.ratio_bp != inv_bp(s.committed) || s.committed < rr->prev)
		res->violations++;
	rr->prev = s.committed;
}

/* What a host without the seqlock would see: fields copied one by one. */
static void naive_step(const volatile struct zpsi_region *r, struct result *res)
{
	uint64_t ratio = __atomic_load_n(&r->guest_ratio, __ATOMIC_RELAXED);
	uint64_t c = __atomic_load_n(&r->committed, __ATOMIC_RELAXED);
	uint64_t d = __atomic_load_n(&r->deferred, __ATOMIC_RELAXED);
	uint64_t ts = __atomic_load_n(&r->timestamp_ns, __ATOMIC_RELAXED);

	if (c != 0 && !sample_ok(c, ratio, d, ts))
		res->naive_torn++;
}

/* Read until the writer is done (or, for a child, gone), then once more. */
static void reader_loop(const volatile struct zpsi_region *r, struct control *ctl, pid_t child,
			struct result *res)
{
	struct reader strict = { .prev = 0 }, bounded = { .prev = 0 };
	bool last_round = false, restore;
	cpu_set_t saved;

	zpsi_region_reader_init(&strict.rd, 0);
	zpsi_region_reader_init(&bounded.rd, ZPSI_REGION_DEFAULT_RETRIES);
	/* the reader is the test's own thread: give its CPUs back afterwards */
	restore = sched_getaffinity(0, sizeof(saved), &saved) == 0;
	pin_to_nth_cpu(0);
	pthread_barrier_wait(&ctl->start);
	for (res->passes = 0; res->passes < READER_MAX; res->passes++) {
		if (__atomic_load_n(&ctl->done, __ATOMIC_ACQUIRE))
			last_round = true;
		reader_step(&strict, r, res);
		reader_step(&bounded, r, res);
		naive_step(r, res);
		if ((res->passes & 255) == 0) {
			__atomic_store_n(&ctl->reader_events,
					 strict.rd.torn + strict.rd.retries + bounded.rd.retries,
					 __ATOMIC_RELAXED);
			__atomic_store_n(&ctl->reader_accepted,
					 strict.rd.accepted + bounded.rd.accepted, __ATOMIC_RELAXED);
		}
		if (last_round)
			break;
		if (child > 0 && (res->passes & 0xFFFF) == 0 &&
		    waitpid(child, &res->status, WNOHANG) == child) {
			res->reaped = true;
			if (!__atomic_load_n(&ctl->done, __ATOMIC_ACQUIRE)) {
				res->writer_died = true;
				break;
			}
		}
	}
	if (restore)
		(void)sched_setaffinity(0, sizeof(saved), &saved);
	res->accepted = strict.rd.accepted + bounded.rd.accepted;
	res->unchanged = strict.rd.unchanged + bounded.rd.unchanged;
	res->torn = strict.rd.torn + bounded.rd.torn;
	res->retries = strict.rd.retries + bounded.rd.retries;
	res->last_committed = bounded.prev < strict.prev ? bounded.prev : strict.prev;
}

static void check_result(const char *what, const struct result *res, uint64_t final)
{
	print_message("%s: %llu publishes, %llu reader passes: accepted %llu, unchanged %llu, "
		      "torn %llu, retries %llu, violations %llu; naive torn copies %llu\n",
		      what, (unsigned long long)final, (unsigned long long)res->passes,
		      (unsigned long long)res->accepted, (unsigned long long)res->unchanged,
		      (unsigned long long)res->torn, (unsigned long long)res->retries,
		      (unsigned long long)res->violations, (unsigned long long)res->naive_torn);
	assert_false(res->writer_died);
	assert_true(res->passes < READER_MAX);
	assert_int_equal(res->violations, 0);	/* the point of the test */
	assert_int_equal(res->bad_codes, 0);
	assert_true(res->accepted > 0);
	/* both readers end on the writer's last sample */
	assert_int_equal(res->last_committed, final);
	/* reader and writer really overlapped (torn passes happened and many
	 * fresh samples were taken), or the writer ran to its bound trying */
	assert_true((res->torn + res->retries >= WANT_TORN_EVENTS && res->accepted >= WANT_ACCEPTED) ||
		    final == WRITER_MAX);
}

static struct control *control_new(void)
{
	pthread_barrierattr_t a;
	struct control *ctl = mmap(NULL, sizeof(*ctl), PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	assert_true(ctl != MAP_FAILED);
	memset(ctl, 0, sizeof(*ctl));
	assert_int_equal(pthread_barrierattr_init(&a), 0);
	assert_int_equal(pthread_barrierattr_setpshared(&a, PTHREAD_PROCESS_SHARED), 0);
	assert_int_equal(pthread_barrier_init(&ctl->start, &a, 2), 0);
	pthread_barrierattr_destroy(&a);
	return ctl;
}

static void control_free(struct control *ctl)
{
	pthread_barrier_destroy(&ctl->start);
	munmap(ctl, sizeof(*ctl));
}

struct thread_arg {
	struct zpsi_region *r;
	struct control *ctl;
};

static void *writer_thread(void *p)
{
	struct thread_arg *a = p;

	writer_loop(a->r, a->ctl);
	return NULL;
}

static void test_writer_thread(void **state)
{
	_cleanup_close_ int fd = -1;
	struct zpsi_region *wmap = NULL, *rmap = NULL;
	struct control *ctl = control_new();
	struct result res = { 0 };
	struct thread_arg a;
	pthread_t t;

	(void)state;
	assert_int_equal(zpsi_region_create_memfd("seqlock-thread", &fd), 0);
	assert_int_equal(zpsi_region_map(fd, 0, &wmap), 0);
	assert_int_equal(zpsi_region_map(fd, 0, &rmap), 0);
	a = (struct thread_arg){ .r = wmap, .ctl = ctl };
	assert_int_equal(pthread_create(&t, NULL, writer_thread, &a), 0);
	reader_loop(rmap, ctl, 0, &res);
	assert_int_equal(pthread_join(t, NULL), 0);
	check_result("thread writer", &res, ctl->final);
	zpsi_region_unmap(wmap);
	zpsi_region_unmap(rmap);
	control_free(ctl);
}

static void test_writer_process(void **state)
{
	_cleanup_close_ int fd = -1;
	struct zpsi_region *rmap = NULL;
	struct control *ctl = control_new();
	struct result res = { 0 };
	int status;
	pid_t pid;

	(void)state;
	assert_int_equal(zpsi_region_create_memfd("seqlock-fork", &fd), 0);
	assert_int_equal(zpsi_region_map(fd, 0, &rmap), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* the "guest": its own mapping of the page, nothing else shared
		 * but the control page */
		struct zpsi_region *wmap = NULL;

		zpsi_region_unmap(rmap);
		if (zpsi_region_map(fd, 0, &wmap) < 0)
			_exit(2);
		writer_loop(wmap, ctl);
		_exit(0);
	}
	reader_loop(rmap, ctl, pid, &res);
	if (res.reaped)
		status = res.status;
	else
		assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	check_result("process writer", &res, ctl->final);
	zpsi_region_unmap(rmap);
	control_free(ctl);
}

static int setup_table(void **state)
{
	(void)state;
	for (uint32_t bp = 0; bp <= ZPSI_BP_MAX; bp++)
		ratio_table[bp] = zpsi_f64_from_bp(bp);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writer_thread),
		cmocka_unit_test(test_writer_process),
	};

	return cmocka_run_group_tests_name("region_seqlock", tests, setup_table, NULL);
}
