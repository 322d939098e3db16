/* SPDX-License-Identifier: MIT */
/*
 * vmm/bench.c - zpsi-bench-vmm: what a PSI trap costs on this KVM, against
 * the bare trap it rides on, measured in the same run (part of make bench).
 *
 * 1. Round trips, timed by the guest's TSC (guest/bench.c): a bare
 *    port-I/O exit to a port nothing decodes, the PSI hypercall
 *    (HC_PSI_UPDATE on the doorbell), WRMSR and RDMSR of PSI_STATE, each
 *    loop with the same instructions around the trap.  Rounds alternate
 *    the kinds, and each ratio is the median over rounds of that round's
 *    own ratio (pairs measured back to back, so the load of a shared
 *    machine, which drifts, cancels out):
 *      ratio hypercall/exit = X.XX     (target <= 1.10)
 *      ratio wrmsr/exit = X.XX
 *      ratio rdmsr/exit = X.XX
 * 2. The seed's scenario through real hypercalls: 10 guests (VMs sharing
 *    one registry) x 10,000 HC_PSI_UPDATEs each, all registrations checked
 *    and the aggregate compared with the exact weighted average.
 *
 * Usage: zpsi-bench-vmm [--iters N] [--rounds N] [--guests N] [--updates N]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "payloads.h"
#include "vmm.h"
#include "zpsi/util.h"

#define BENCH_MAX_ROUNDS 64u
#define BENCH_MAX_GUESTS 64u

enum { K_EXIT, K_HC, K_WRMSR, K_RDMSR, K_COUNT };
static const char *const kind_names[K_COUNT] = { "exit", "hypercall", "wrmsr", "rdmsr" };

struct rounds {
	pthread_mutex_t lock;
	unsigned n;
	uint64_t iters;
	uint64_t cycles[K_COUNT][BENCH_MAX_ROUNDS];
	unsigned done_lines;
};

static void on_round_line(void *opaque, unsigned cpu, const char *line, size_t len)
{
	struct rounds *r = opaque;
	char buf[256];
	unsigned long rnd, iters, c[K_COUNT];

	(void)cpu;
	if (len >= sizeof(buf))
		return;
	memcpy(buf, line, len);
	buf[len] = '\0';
	if (sscanf(buf, "bench round=%lu iters=%lu exit=%lu hypercall=%lu wrmsr=%lu rdmsr=%lu", &rnd,
		   &iters, &c[0], &c[1], &c[2], &c[3]) != 6)
		return;
	pthread_mutex_lock(&r->lock);
	if (r->n < BENCH_MAX_ROUNDS) {
		for (unsigned k = 0; k < K_COUNT; k++)
			r->cycles[k][r->n] = c[k];
		r->iters = iters;
		r->n++;
	}
	pthread_mutex_unlock(&r->lock);
}

static void on_quiet_line(void *opaque, unsigned cpu, const char *line, size_t len)
{
	unsigned *done = opaque;

	(void)cpu;
	if (len >= 12 && memcmp(line, "updates done", 12) == 0)
		__atomic_add_fetch(done, 1, __ATOMIC_RELAXED);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The median over rounds of kind k's time over the bare exit's in the
 * same round. */
static double paired_ratio(const struct rounds *rs, unsigned k)
{
	double r[BENCH_MAX_ROUNDS];
	unsigned n = 0;

	for (unsigned i = 0; i < rs->n; i++)
		if (rs->cycles[K_EXIT][i])
			r[n++] = (double)rs->cycles[k][i] / (double)rs->cycles[K_EXIT][i];
	for (unsigned i = 1; i < n; i++)	/* insertion sort: n <= 64 */
		for (unsigned j = i; j > 0 && r[j] < r[j - 1]; j--) {
			double t = r[j];

			r[j] = r[j - 1];
			r[j - 1] = t;
		}
	return n == 0 ? 0 : n % 2 ? r[n / 2] : (r[n / 2 - 1] + r[n / 2]) / 2;
}

static int run_vm(const struct vmm_config *cfg, struct vmm **out)
{
	const struct vmm_payload *p = vmm_payload_find("bench");
	struct vmm *vm;
	int r;

	if (!p)
		return -ENOENT;
	r = vmm_new(cfg, &vm);
	if (r == 0)
		r = vmm_load_elf(vm, p->image, p->size);
	if (r == 0)
		r = vmm_start(vm, 0);
	if (r < 0) {
		fprintf(stderr, "zpsi-bench-vmm: %s: %s\n", vmm_errctx(), strerror(-r));
		vmm_free(vm);
		return r;
	}
	*out = vm;
	return 0;
}

static int bench_round_trips(uint64_t iters, uint64_t nrounds)
{
	struct rounds rs = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct vmm_config cfg = {
		.name = "bench", .console = on_round_line, .console_opaque = &rs, .timeout_ms = 300000,
		.param = { 0, iters, nrounds },
	};
	struct vmm_stats st;
	struct vmm *vm;
	double us[K_COUNT], ratio[K_COUNT] = { 0 };
	int status, r;

	r = run_vm(&cfg, &vm);
	if (r < 0)
		return r;
	vmm_wait(vm, &status);
	vmm_get_stats(vm, &st);
	vmm_free(vm);
	if (status != 0 || rs.n == 0 || !st.tsc_khz) {
		fprintf(stderr, "zpsi-bench-vmm: the bench guest failed (status %d, %u rounds)\n", status, rs.n);
		return -EIO;
	}
	printf("round trips: %u rounds x %" PRIu64 " iterations each, guest TSC %" PRIu64 " kHz, median round\n",
	       rs.n, rs.iters, st.tsc_khz);
	for (unsigned k = 0; k < K_COUNT; k++) {
		uint64_t tmp[BENCH_MAX_ROUNDS];

		memcpy(tmp, rs.cycles[k], rs.n * sizeof(tmp[0]));
		us[k] = (double)median(tmp, rs.n) * 1000.0 / (double)rs.iters / (double)st.tsc_khz;
		printf("  %-10s %8.2f us\n", kind_names[k], us[k]);
	}
	for (unsigned k = K_HC; k < K_COUNT; k++)
		ratio[k] = paired_ratio(&rs, k);
	printf("ratio hypercall/exit = %.2f\n", ratio[K_HC]);
	printf("ratio wrmsr/exit = %.2f\n", ratio[K_WRMSR]);
	printf("ratio rdmsr/exit = %.2f\n", ratio[K_RDMSR]);
	printf("target: hypercall/exit <= 1.10: %s\n", ratio[K_HC] <= 1.10 ? "met" : "missed");
	return 0;
}

/* The seed: N guests, each weight i+1, each M updates ending at a known
 * ratio; the aggregate must be the exact weighted average of those. */
static int bench_seed(unsigned guests, uint64_t updates)
{
	struct vmm *vms[BENCH_MAX_GUESTS] = { 0 };
	struct vmm_host *host = NULL;
	struct zpsi_registry_config rc = { .rate_per_sec = 0 };	/* the seed had no limit */
	uint64_t sum_w = 0, sum_wbp = 0, t0, t1, want;
	unsigned done = 0, ok_status = 0;
	uint32_t agg, count;
	double secs;
	int r;

	r = vmm_host_new(&rc, &host);
	if (r < 0)
		return r;
	t0 = zpsi_mono_ns();
	for (unsigned i = 0; i < guests; i++) {
		uint64_t final_bp = (i * 1237 + 500) % 10001;
		struct vmm_config cfg = {
			.name = "seed", .weight = i + 1, .host = host, .console = on_quiet_line,
			.console_opaque = &done, .timeout_ms = 600000, .mem_mib = 4,
			.param = { 1, updates, final_bp },
		};

		sum_w += i + 1;
		sum_wbp += (i + 1) * final_bp;
		r = run_vm(&cfg, &vms[i]);
		if (r < 0)
			goto out;
	}
	for (unsigned i = 0; i < guests; i++) {
		int status;

		vmm_wait(vms[i], &status);
		ok_status += status == 0;
	}
	t1 = zpsi_mono_ns();
	/* All still registered (the VMs have ended but are not freed). */
	count = vmm_host_count(host);
	agg = vmm_host_aggregate_bp(host);
	want = (2 * sum_wbp + sum_w) / (2 * sum_w);	/* nearest, halves up */
	secs = (double)(t1 - t0) / 1e9;
	printf("seed: %u guests x %" PRIu64 " updates through real hypercalls in %.2f s: %.0f updates/s\n",
	       guests, updates, secs, (double)guests * (double)updates / secs);
	printf("seed: %u/%u guests finished, %u registered, aggregate %u bp (exact weighted average %" PRIu64
	       " bp): %s\n",
	       ok_status, guests, count, agg, want,
	       ok_status == guests && done == guests && count == guests && agg == want ? "OK" : "WRONG");
	if (!(ok_status == guests && done == guests && count == guests && agg == want))
		r = -EIO;
out:
	for (unsigned i = 0; i < guests; i++)
		vmm_free(vms[i]);
	vmm_host_unref(host);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "iters", required_argument, NULL, 'i' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "guests", required_argument, NULL, 'g' },
		{ "updates", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t iters = 500, rounds = 21, updates = 10000;
	unsigned guests = 10;
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'i': iters = strtoull(optarg, NULL, 10); break;
		case 'r': rounds = strtoull(optarg, NULL, 10); break;
		case 'g': guests = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'u': updates = strtoull(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: zpsi-bench-vmm [--iters N] [--rounds N] [--guests N] [--updates N]\n");
			return 2;
		}
	}
	if (!iters || !rounds || rounds > BENCH_MAX_ROUNDS || !guests || guests > BENCH_MAX_GUESTS || !updates) {
		fprintf(stderr, "zpsi-bench-vmm: out of range (rounds <= %u, guests <= %u)\n",
			BENCH_MAX_ROUNDS, BENCH_MAX_GUESTS);
		return 2;
	}
	r = bench_round_trips(iters, rounds);
	if (r == -ENOENT || r == -EACCES || r == -ENOTSUP) {
		printf("SKIP: no usable /dev/kvm (%s)\n", strerror(-r));
		return 0;
	}
	if (r == 0)
		r = bench_seed(guests, updates);
	return r < 0 ? 1 : 0;
}
