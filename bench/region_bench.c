/* SPDX-License-Identifier: MIT */
/*
 * region_bench.c - zpsi-bench-region: guest writers and one host sampler
 * through real shared memory (issue 2, "a writer thread per region with a
 * host sampler thread").
 *
 * For N regions (each its own memfd, mapped twice: once for the writer,
 * once for the sampler, as zpsi-vmm and zpsid would), writer threads
 * publish with zpsi_region_guest_publish as fast as they can while one
 * sampler thread sweeps all N regions with zpsi_region_read.  The baseline,
 * measured in the same run on the same regions, is that sampler with no
 * writers (quiescent regions: every read is "unchanged").  The ratio of the
 * two per-sample costs is the price of reading pages a guest is writing.
 *
 * Costs are per CPU time of the measuring thread (CLOCK_THREAD_CPUTIME_ID),
 * so the shared, noisy machine inflates them less; samples/s is wall time.
 * Every accepted sample is checked against the writers' invariant
 * (deferred = c / 4, ratio = f64(c mod 10001 bp), timestamp = 3c).
 *
 * Usage: zpsi-bench-region [--quick] [--json]
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "zpsi/region.h"
#include "zpsi/util.h"

#define WRITERS_MAX 10u	/* above this many regions, a pool shares them */

static const unsigned region_counts[] = { 1, 10, 100, 1000 };
static uint64_t ratio_table[ZPSI_BP_MAX + 1];

static uint64_t inv_deferred(uint64_t c) { return c / 4; }
static uint64_t inv_ratio(uint64_t c) { return ratio_table[c % (ZPSI_BP_MAX + 1)]; }

struct slot {
	struct zpsi_region *wmap;	/* the guest's mapping */
	struct zpsi_region *rmap;	/* the host's mapping of the same page */
	struct zpsi_region_reader rd;
	uint64_t next;			/* writer: next committed value */
};

struct writer {
	pthread_t thread;
	struct slot *slots;
	unsigned first, count, stride;	/* slots first, first+stride, ... */
	const uint32_t *stop;
	uint64_t publishes, cpu_ns;
};

struct sampler {
	struct slot *slots;
	unsigned n;
	const uint32_t *stop;
	uint64_t samples, violations, cpu_ns, wall_ns;
};

struct phase {	/* one measurement */
	uint64_t samples, cpu_ns, wall_ns, violations;
	uint64_t accepted, unchanged, torn, retries, rejected;
	uint64_t publishes, writer_cpu_ns;
};

static uint64_t thread_cpu_ns(void) { return zpsi_now_ns(CLOCK_THREAD_CPUTIME_ID); }

static void *writer_main(void *p)
{
	struct writer *w = p;
	uint64_t t0 = thread_cpu_ns(), n = 0;

	while (!__atomic_load_n(w->stop, __ATOMIC_RELAXED)) {
		for (unsigned i = 0; i < w->count; i++) {
			struct slot *s = &w->slots[w->first + i * w->stride];
			uint64_t c = s->next++;

			zpsi_region_guest_publish(s->wmap, inv_ratio(c), c, inv_deferred(c), 3 * c);
		}
		n += w->count;
	}
	w->publishes = n;
	w->cpu_ns = thread_cpu_ns() - t0;
	return NULL;
}

static void *sampler_main(void *p)
{
	struct sampler *sm = p;
	unsigned sweeps_per_check = sm->n >= 256 ? 1 : 256 / sm->n;
	uint64_t t0 = thread_cpu_ns(), w0 = zpsi_mono_ns(), n = 0, bad = 0;

	while (!__atomic_load_n(sm->stop, __ATOMIC_RELAXED)) {
		for (unsigned k = 0; k < sweeps_per_check; k++) {
			for (unsigned i = 0; i < sm->n; i++) {
				struct zpsi_sample s;
				uint64_t bits;

				if (zpsi_region_read(&sm->slots[i].rd, sm->slots[i].rmap, &s) != 0)
					continue;
				memcpy(&bits, &s.ratio, sizeof(bits));
				bad += s.deferred != inv_deferred(s.committed) ||
				       bits != inv_ratio(s.committed) ||
				       s.guest_ts_ns != 3 * s.committed;
			}
		}
		n += (uint64_t)sweeps_per_check * sm->n;
	}
	sm->samples = n;
	sm->violations = bad;
	sm->cpu_ns = thread_cpu_ns() - t0;
	sm->wall_ns = zpsi_mono_ns() - w0;
	return NULL;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = ns / ZPSI_NSEC_PER_SEC, .tv_nsec = ns % ZPSI_NSEC_PER_SEC };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static unsigned writer_count(unsigned n) { return n < WRITERS_MAX ? n : WRITERS_MAX; }

/* One phase: the sampler over all slots for `ns`, with `nwriters` writers
 * (0 for the baseline). */
static int run_phase(struct slot *slots, unsigned n, unsigned nwriters, uint64_t ns, struct phase *out)
{
	struct writer w[WRITERS_MAX];
	uint32_t stop = 0;
	struct sampler sm = { .slots = slots, .n = n, .stop = &stop };
	pthread_t st;
	unsigned started = 0;
	int r = 0;

	for (unsigned i = 0; i < n; i++) {
		slots[i].rd.accepted = slots[i].rd.unchanged = slots[i].rd.torn = 0;
		slots[i].rd.retries = slots[i].rd.rejected = slots[i].rd.reads = 0;
	}
	for (; started < nwriters; started++) {
		w[started] = (struct writer){ .slots = slots, .first = started, .stride = nwriters,
					      .count = (n - started + nwriters - 1) / nwriters,
					      .stop = &stop };
		r = -pthread_create(&w[started].thread, NULL, writer_main, &w[started]);
		if (r < 0)
			break;
	}
	if (r == 0)
		r = -pthread_create(&st, NULL, sampler_main, &sm);
	if (r == 0) {
		sleep_ns(ns);
		__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
		pthread_join(st, NULL);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < started; i++) {
		pthread_join(w[i].thread, NULL);
		out->publishes += w[i].publishes;
		out->writer_cpu_ns += w[i].cpu_ns;
	}
	if (r < 0)
		return r;
	out->samples = sm.samples;
	out->cpu_ns = sm.cpu_ns;
	out->wall_ns = sm.wall_ns;
	out->violations = sm.violations;
	for (unsigned i = 0; i < n; i++) {
		out->accepted += slots[i].rd.accepted;
		out->unchanged += slots[i].rd.unchanged;
		out->torn += slots[i].rd.torn;
		out->retries += slots[i].rd.retries;
		out->rejected += slots[i].rd.rejected;
	}
	return 0;
}

static void slots_free(struct slot *slots, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		zpsi_region_unmap(slots[i].wmap);
		zpsi_region_unmap(slots[i].rmap);
	}
	free(slots);
}

/* N memfd regions, each mapped twice; the fd is closed once both maps
 * exist (1000 regions would otherwise need 1000 descriptors). */
static int slots_new(unsigned n, struct slot **out)
{
	struct slot *slots = calloc(n, sizeof(*slots));
	int r = 0;

	if (!slots)
		return -ENOMEM;
	for (unsigned i = 0; i < n && r == 0; i++) {
		_cleanup_close_ int fd = -1;

		r = zpsi_region_create_memfd("zpsi-bench", &fd);
		if (r == 0)
			r = zpsi_region_map(fd, 0, &slots[i].wmap);
		if (r == 0)
			r = zpsi_region_map(fd, 0, &slots[i].rmap);
		if (r == 0) {
			zpsi_region_reader_init(&slots[i].rd, ZPSI_REGION_DEFAULT_RETRIES);
			slots[i].next = 1;
			zpsi_region_guest_publish(slots[i].wmap, inv_ratio(0), 0, 0, 0);
		}
	}
	if (r < 0) {
		slots_free(slots, n);
		return r;
	}
	*out = slots;
	return 0;
}

/* Guest-side cost of one publish on a private page, against the same four
 * stores without the seqlock. */
static void bench_publish(uint64_t iters, double *seq_ns, double *plain_ns)
{
	struct zpsi_region r;
	volatile struct zpsi_region *v = &r;
	uint64_t t0;

	zpsi_region_init(&r);
	t0 = thread_cpu_ns();
	for (uint64_t c = 1; c <= iters; c++)
		zpsi_region_guest_publish(v, inv_ratio(c), c, inv_deferred(c), 3 * c);
	*seq_ns = (double)(thread_cpu_ns() - t0) / (double)iters;
	t0 = thread_cpu_ns();
	for (uint64_t c = 1; c <= iters; c++) {
		__atomic_store_n(&v->guest_ratio, inv_ratio(c), __ATOMIC_RELAXED);
		__atomic_store_n(&v->committed, c, __ATOMIC_RELAXED);
		__atomic_store_n(&v->deferred, inv_deferred(c), __ATOMIC_RELAXED);
		__atomic_store_n(&v->timestamp_ns, 3 * c, __ATOMIC_RELAXED);
	}
	*plain_ns = (double)(thread_cpu_ns() - t0) / (double)iters;
}

struct result {
	unsigned regions, writers;
	struct phase base, load;
};

static double per(uint64_t a, uint64_t b) { return b ? (double)a / (double)b : 0.0; }
static double rate(uint64_t n, uint64_t ns) { return ns ? (double)n * 1e9 / (double)ns : 0.0; }

static void print_text(const struct result *res, size_t nres, double seq_ns, double plain_ns,
		       double phase_s)
{
	const struct phase *one = &res[0].load;
	double contended = per(one->writer_cpu_ns, one->publishes);

	printf("guest publish, private page:   %7.2f ns/update (plain stores %.2f ns, ratio %.2f)\n",
	       seq_ns, plain_ns, plain_ns > 0 ? seq_ns / plain_ns : 0.0);
	printf("guest publish, host sampling:  %7.2f ns/update (ratio %.2f to the private page)\n",
	       contended, seq_ns > 0 ? contended / seq_ns : 0.0);
	printf("sampler: one thread, %.2f s per phase, %ld CPUs online; baseline = the same sampler "
	       "with no writers; ns = sampler CPU time per region sample\n",
	       phase_s, sysconf(_SC_NPROCESSORS_ONLN));
	printf("%8s %-22s %12s %9s %9s %6s %10s %10s %9s %9s %8s %5s %12s\n", "regions", "writers",
	       "samples/s", "ns/sample", "base ns", "ratio", "accepted", "unchanged", "torn",
	       "retries", "rejected", "bad", "publishes/s");
	for (size_t i = 0; i < nres; i++) {
		const struct result *r = &res[i];
		double b = per(r->base.cpu_ns, r->base.samples), l = per(r->load.cpu_ns, r->load.samples);
		char wdesc[32];

		snprintf(wdesc, sizeof(wdesc), r->writers == r->regions ? "%u (1 per region)"
									: "%u (pool, %u each)",
			 r->writers, (r->regions + r->writers - 1) / r->writers);
		printf("%8u %-22s %12.0f %9.2f %9.2f %6.2f %10llu %10llu %9llu %9llu %8llu %5llu %12.0f\n",
		       r->regions, wdesc, rate(r->load.samples, r->load.wall_ns), l, b,
		       b > 0 ? l / b : 0.0, (unsigned long long)r->load.accepted,
		       (unsigned long long)r->load.unchanged, (unsigned long long)r->load.torn,
		       (unsigned long long)r->load.retries, (unsigned long long)r->load.rejected,
		       (unsigned long long)r->load.violations, rate(r->load.publishes, r->load.wall_ns));
	}
}

static void print_json(const struct result *res, size_t nres, double seq_ns, double plain_ns,
		       double phase_s)
{
	const struct phase *one = &res[0].load;
	double contended = per(one->writer_cpu_ns, one->publishes);

	printf("{\"bench\":\"region\",\"cpus\":%ld,\"phase_seconds\":%.3f,"
	       "\"publish\":{\"seqlock_ns\":%.3f,"
	       "\"plain_ns\":%.3f,\"ratio_to_plain\":%.3f,\"sampled_ns\":%.3f,\"ratio_sampled\":%.3f},"
	       "\"runs\":[", sysconf(_SC_NPROCESSORS_ONLN), phase_s, seq_ns, plain_ns, plain_ns > 0 ? seq_ns / plain_ns : 0.0,
	       contended, seq_ns > 0 ? contended / seq_ns : 0.0);
	for (size_t i = 0; i < nres; i++) {
		const struct result *r = &res[i];
		double b = per(r->base.cpu_ns, r->base.samples), l = per(r->load.cpu_ns, r->load.samples);

		printf("%s{\"regions\":%u,\"writers\":%u,\"regions_per_writer\":%u,"
		       "\"samples_per_s\":%.0f,\"ns_per_sample\":%.3f,\"baseline_ns_per_sample\":%.3f,"
		       "\"baseline_samples_per_s\":%.0f,\"ratio\":%.3f,\"accepted\":%llu,"
		       "\"unchanged\":%llu,\"torn\":%llu,\"retries\":%llu,\"rejected\":%llu,"
		       "\"violations\":%llu,\"publishes_per_s\":%.0f}",
		       i ? "," : "", r->regions, r->writers, (r->regions + r->writers - 1) / r->writers,
		       rate(r->load.samples, r->load.wall_ns), l, b,
		       rate(r->base.samples, r->base.wall_ns), b > 0 ? l / b : 0.0,
		       (unsigned long long)r->load.accepted, (unsigned long long)r->load.unchanged,
		       (unsigned long long)r->load.torn, (unsigned long long)r->load.retries,
		       (unsigned long long)r->load.rejected, (unsigned long long)r->load.violations,
		       rate(r->load.publishes, r->load.wall_ns));
	}
	printf("]}\n");
}

int main(int argc, char **argv)
{
	struct result res[ZPSI_ARRAY_SIZE(region_counts)];
	bool quick = false, json = false;
	uint64_t base_ns, load_ns, publish_iters;
	double seq_ns, plain_ns;
	uint64_t violations = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0)
			quick = true;
		else if (strcmp(argv[i], "--json") == 0)
			json = true;
		else {
			fprintf(stderr, "usage: %s [--quick] [--json]\n", argv[0]);
			return 2;
		}
	}
	base_ns = quick ? 150000000ull : 1000000000ull;
	load_ns = quick ? 250000000ull : 2000000000ull;
	publish_iters = quick ? 5000000ull : 50000000ull;
	for (uint32_t bp = 0; bp <= ZPSI_BP_MAX; bp++)
		ratio_table[bp] = zpsi_f64_from_bp(bp);

	bench_publish(publish_iters, &seq_ns, &plain_ns);
	for (size_t k = 0; k < ZPSI_ARRAY_SIZE(region_counts); k++) {
		unsigned n = region_counts[k];
		struct slot *slots = NULL;
		int r = slots_new(n, &slots);

		if (r == 0)
			r = run_phase(slots, n, 0, base_ns, &res[k].base);
		if (r == 0)
			r = run_phase(slots, n, writer_count(n), load_ns, &res[k].load);
		if (slots)
			slots_free(slots, n);
		if (r < 0) {
			fprintf(stderr, "zpsi-bench-region: %u regions: %s\n", n, strerror(-r));
			return 1;
		}
		res[k].regions = n;
		res[k].writers = writer_count(n);
		violations += res[k].load.violations + res[k].base.violations;
	}

	if (json)
		print_json(res, ZPSI_ARRAY_SIZE(res), seq_ns, plain_ns, (double)load_ns / 1e9);
	else
		print_text(res, ZPSI_ARRAY_SIZE(res), seq_ns, plain_ns, (double)load_ns / 1e9);
	if (violations) {
		fprintf(stderr, "zpsi-bench-region: %llu accepted samples broke the invariant\n",
			(unsigned long long)violations);
		return 1;
	}
	return 0;
}
