/* SPDX-License-Identifier: MIT */
/*
 * stress.c - zpsi-stress: the seed's stress scenario through libzpsi's
 * hypercall dispatcher, and its scaled versions.
 *
 *   zpsi-stress --seed   10 guests registered with HC_PSI_REGISTER, 10,000
 *                        HC_PSI_UPDATE, then HC_PSI_QUERY checked against the
 *                        exact weighted average (what `make demo` runs)
 *   zpsi-stress --all    the seed scenario, then 10,000 guests x 10,000,000
 *                        updates, the query cost at 1..100,000 guests and the
 *                        registry's memory per guest (what `make bench` runs)
 *   --json               one JSON object instead of tables
 *
 * Every figure is printed with its ratio to a baseline: the seed's 10,000
 * updates/s, and the 1-guest query cost measured in the same run.  The exit
 * status is non-zero when a correctness check fails (and, for --seed, when
 * the seed's own floor of 10,000 updates/s is not met); the scaled targets
 * are reported as met or MISSED.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zpsi/registry.h"
#include "zpsi/util.h"

#define SEED_GUESTS	10u
#define SEED_UPDATES	10000u
#define SEED_RATE	10000.0		/* the seed's updates/s */
#define SCALE_GUESTS	10000u
#define SCALE_UPDATES	10000000u
#define SCALE_RUNS	3
#define TARGET_RATE	10e6		/* 1,000x the seed */
#define QUERY_CALLS	2000000u	/* per timed run */
#define QUERY_RUNS	9		/* median of these */
#define QUERY_RATIO_MAX	1.5
#define MEMORY_GUESTS	100000u
#define MEMORY_MAX	256.0		/* bytes per guest */
#define CLOCK_EVERY	64u		/* dispatches per clock read (scaled run) */

static const uint32_t query_sizes[] = { 1, 100, 10000, 100000 };
#define QUERY_SIZES ZPSI_ARRAY_SIZE(query_sizes)

/* ------------------------------------------------------------------ */

static uint64_t prng_next(uint64_t *s)	/* xorshift64*: fixed seed, cheap */
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [0, n) without a division (Lemire's multiply-shift). */
static uint32_t prng_below(uint64_t *s, uint32_t n)
{
	return (uint32_t)(((prng_next(s) >> 32) * n) >> 32);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static struct zpsi_caller new_caller(void)
{
	return (struct zpsi_caller){ .ram_size = 1ull << 30 };
}

static int64_t hc(struct zpsi_registry *reg, struct zpsi_caller *c, uint64_t nr, uint64_t rbx,
		  uint64_t rcx, uint64_t rdx, uint64_t now)
{
	struct zpsi_hc_regs r = { .rax = nr, .rbx = rbx, .rcx = rcx, .rdx = rdx };

	return zpsi_dispatch(reg, c, &r, now);
}

/* ---- the seed's scenario ------------------------------------------- */

struct seed_result {
	uint32_t weights[SEED_GUESTS], last_bp[SEED_GUESTS], updates_per[SEED_GUESTS];
	uint32_t reg_attempted, reg_ok, upd_sent, upd_ok;
	uint64_t elapsed_ns;
	double rate;
	int64_t query;
	uint64_t num, den, expect;	/* exact average num/den, its rounding */
	bool pass_reg, pass_upd, pass_rate, pass_agg;
};

static int run_seed(struct seed_result *res)
{
	static const uint32_t weights[SEED_GUESTS] = { 1, 3, 10, 30, 100, 300, 1000, 3000, 10000, 65535 };
	struct zpsi_registry *reg = NULL;
	struct zpsi_caller c[SEED_GUESTS];
	uint64_t committed[SEED_GUESTS] = { 0 }, deferred[SEED_GUESTS] = { 0 }, s = 0x5EED, t0;
	int r;

	memset(res, 0, sizeof(*res));
	r = zpsi_registry_new(NULL, &reg);	/* the defaults: rate limit on */
	if (r < 0)
		return r;
	t0 = zpsi_mono_ns();
	for (uint32_t i = 0; i < SEED_GUESTS; i++) {
		c[i] = new_caller();
		res->weights[i] = weights[i];
		res->reg_attempted++;
		if (hc(reg, &c[i], ZPSI_HC_REGISTER, weights[i], 0, 0, zpsi_mono_ns()) > 0)
			res->reg_ok++;
	}
	for (uint32_t u = 0; u < SEED_UPDATES; u++) {
		uint32_t g = prng_below(&s, SEED_GUESTS), bp;

		/* a guest's real report: counts go up, the ratio follows them */
		committed[g] += 1 + prng_below(&s, 100);
		deferred[g] += prng_below(&s, 100 - 10 * g);
		bp = zpsi_ratio_bp(committed[g], deferred[g]);
		res->upd_sent++;
		if (hc(reg, &c[g], ZPSI_HC_UPDATE, bp, committed[g], deferred[g], zpsi_mono_ns()) == 0) {
			res->upd_ok++;
			res->last_bp[g] = bp;
			res->updates_per[g]++;
		}
	}
	res->elapsed_ns = zpsi_mono_ns() - t0;
	res->query = hc(reg, &c[0], ZPSI_HC_QUERY, 0, 0, 0, zpsi_mono_ns());
	zpsi_registry_free(reg);

	/* the exact weighted average, from what this program sent */
	for (uint32_t i = 0; i < SEED_GUESTS; i++) {
		res->num += (uint64_t)res->weights[i] * res->last_bp[i];
		res->den += res->weights[i];
	}
	res->expect = (2 * res->num + res->den) / (2 * res->den);
	res->rate = res->upd_ok / (res->elapsed_ns / 1e9);
	res->pass_reg = res->reg_ok == SEED_GUESTS;
	res->pass_upd = res->upd_ok == SEED_UPDATES;
	res->pass_rate = res->rate >= SEED_RATE;
	/* within half a basis point of num/den, and the documented rounding */
	res->pass_agg = res->query >= 0 && (uint64_t)res->query == res->expect &&
			2 * ((uint64_t)res->query * res->den > res->num ? (uint64_t)res->query * res->den - res->num
									 : res->num - (uint64_t)res->query * res->den) <=
				res->den;
	return 0;
}

static const char *pf(bool ok)
{
	return ok ? "PASS" : "FAIL";
}

/* One row of the results table: what was checked, the figure, the verdict. */
static void row(const char *check, const char *status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void row(const char *check, const char *status, const char *fmt, ...)
{
	char buf[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	printf("  %-24s %-58s %s\n", check, buf, status);
}

static void print_seed(const struct seed_result *r)
{
	uint64_t frac = r->num * 10000 / r->den;	/* 4 decimals, truncated */

	printf("Seed scenario: %u guests registered with HC_PSI_REGISTER, %u HC_PSI_UPDATE, "
	       "then HC_PSI_QUERY\n\n", SEED_GUESTS, SEED_UPDATES);
	printf("  guest  weight  updates  last ratio (bp)\n");
	for (uint32_t i = 0; i < SEED_GUESTS; i++)
		printf("  %5u  %6u  %7u  %15u\n", i + 1, r->weights[i], r->updates_per[i], r->last_bp[i]);
	printf("\n");
	row("registrations", pf(r->pass_reg), "%u attempted, %u succeeded", r->reg_attempted, r->reg_ok);
	row("updates", pf(r->pass_upd), "%u sent, %u accepted", r->upd_sent, r->upd_ok);
	row("elapsed", "", "%.3f ms (registrations and updates)", r->elapsed_ns / 1e6);
	row("throughput", pf(r->pass_rate), "%.0f updates/s = %.0fx the seed's 10,000/s", r->rate,
	    r->rate / SEED_RATE);
	row("aggregate (QUERY)", "", "%" PRId64 " bp", r->query);
	row("exact weighted average", pf(r->pass_agg),
	    "%" PRIu64 "/%" PRIu64 " = %" PRIu64 ".%04" PRIu64 " bp -> %" PRIu64 " bp", r->num, r->den,
	    frac / 10000, frac % 10000, r->expect);
	printf("  (rounded to nearest, ties up; QUERY must equal it and lie within 0.5 bp of the exact value)\n");
	printf("\n  result: %s\n", pf(r->pass_reg && r->pass_upd && r->pass_rate && r->pass_agg));
}

/* ---- scaled: 10,000 guests x 10,000,000 updates --------------------- */

struct scale_result {
	double rate[SCALE_RUNS], rate_median;
	uint64_t sent, accepted, throttled;
	bool pass_agg;
};

static int run_scale(struct scale_result *res)
{
	_cleanup_free_ struct zpsi_caller *c = NULL;
	_cleanup_free_ uint64_t *committed = NULL, *deferred = NULL;
	_cleanup_free_ uint16_t *last = NULL;
	struct zpsi_registry *reg = NULL;
	uint64_t s = 0xC0FFEE, num = 0, den = 0;
	int r;

	memset(res, 0, sizeof(*res));
	c = calloc(SCALE_GUESTS, sizeof(*c));
	committed = calloc(SCALE_GUESTS, sizeof(*committed));
	deferred = calloc(SCALE_GUESTS, sizeof(*deferred));
	last = calloc(SCALE_GUESTS, sizeof(*last));
	if (!c || !committed || !deferred || !last)
		return -ENOMEM;
	r = zpsi_registry_new(NULL, &reg);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < SCALE_GUESTS; i++) {
		c[i] = new_caller();
		if (hc(reg, &c[i], ZPSI_HC_REGISTER, 1 + prng_below(&s, 65535), 0, 0, zpsi_mono_ns()) <= 0) {
			zpsi_registry_free(reg);
			return -E2BIG;
		}
	}
	for (int run = 0; run < SCALE_RUNS; run++) {
		uint64_t t0 = zpsi_mono_ns(), now = t0, ok = 0;

		for (uint32_t u = 0; u < SCALE_UPDATES; u++) {
			uint64_t x = prng_next(&s);
			uint32_t g = (uint32_t)(((x >> 32) * SCALE_GUESTS) >> 32);
			uint32_t bp = (uint32_t)(((x & 0xFFFFFFFF) * (ZPSI_BP_MAX + 1)) >> 32);
			struct zpsi_hc_regs regs;

			/* The VMM reads its clock once per exit anyway; here it
			 * is read once per CLOCK_EVERY dispatches so that the
			 * figure is the dispatcher's cost, not the vDSO's. */
			if (u % CLOCK_EVERY == 0)
				now = zpsi_mono_ns();
			committed[g] += 1 + (x & 7);
			deferred[g] += (x >> 3) & 7;
			regs = (struct zpsi_hc_regs){ .rax = ZPSI_HC_UPDATE, .rbx = bp,
						      .rcx = committed[g], .rdx = deferred[g] };
			if (zpsi_dispatch(reg, &c[g], &regs, now) == 0) {
				ok++;
				last[g] = (uint16_t)bp;
			}
		}
		res->rate[run] = SCALE_UPDATES / ((zpsi_mono_ns() - t0) / 1e9);
		res->sent += SCALE_UPDATES;
		res->accepted += ok;
	}
	for (uint32_t i = 0; i < SCALE_GUESTS; i++) {
		struct zpsi_guest_info gi;

		if (zpsi_registry_get(reg, c[i].id, &gi) == 0) {
			res->throttled += gi.throttled;
			num += (uint64_t)gi.weight * last[i];
			den += gi.weight;
		}
	}
	res->pass_agg = den && (uint64_t)hc(reg, &c[0], ZPSI_HC_QUERY, 0, 0, 0, 0) == (2 * num + den) / (2 * den);
	zpsi_registry_free(reg);
	{
		double tmp[SCALE_RUNS];

		memcpy(tmp, res->rate, sizeof(tmp));
		res->rate_median = median(tmp, SCALE_RUNS);
	}
	return 0;
}

/* ---- query cost against the number of guests, and memory ----------- */

struct query_result {
	double ns[QUERY_SIZES];		/* median ns per QUERY */
	double ratio[QUERY_SIZES];	/* against 1 guest */
	size_t memory;			/* registry bytes at MEMORY_GUESTS */
	double per_guest;
	uint64_t sink;
};

static int query_fill(struct zpsi_registry **out, uint32_t n, uint64_t *s)
{
	struct zpsi_registry *reg = NULL;
	int r = zpsi_registry_new(NULL, &reg);

	if (r < 0)
		return r;
	for (uint32_t i = 0; i < n; i++) {
		struct zpsi_caller c = new_caller();

		if (hc(reg, &c, ZPSI_HC_REGISTER, 1 + prng_below(s, 65535), 0, 0, 0) <= 0 ||
		    hc(reg, &c, ZPSI_HC_UPDATE, prng_below(s, ZPSI_BP_MAX + 1), 0, 0, 0) != 0) {
			zpsi_registry_free(reg);
			return -E2BIG;
		}
	}
	*out = reg;
	return 0;
}

/*
 * The runs for the different sizes are interleaved (round after round)
 * so that a noisy neighbour slows them all alike; the median of the rounds
 * is kept.  Every result feeds a checksum that is printed, and the
 * dispatcher lives in another object file, so no call can be elided.
 */
static int run_query(struct query_result *res)
{
	struct zpsi_registry *regs[QUERY_SIZES] = { NULL };
	double t[QUERY_SIZES][QUERY_RUNS];
	struct zpsi_caller q = new_caller();
	struct zpsi_hc_regs hq = { .rax = ZPSI_HC_QUERY };
	uint64_t s = 0xACE;
	int r = 0;

	memset(res, 0, sizeof(*res));
	for (size_t k = 0; k < QUERY_SIZES && r == 0; k++)
		r = query_fill(&regs[k], query_sizes[k], &s);
	for (int run = 0; run < QUERY_RUNS && r == 0; run++) {
		for (size_t k = 0; k < QUERY_SIZES; k++) {
			uint64_t t0 = zpsi_mono_ns(), acc = 0;

			for (uint32_t i = 0; i < QUERY_CALLS; i++)
				acc += (uint64_t)zpsi_dispatch(regs[k], &q, &hq, i);
			t[k][run] = (double)(zpsi_mono_ns() - t0) / QUERY_CALLS;
			res->sink += acc;
		}
	}
	if (r == 0) {
		for (size_t k = 0; k < QUERY_SIZES; k++)
			res->ns[k] = median(t[k], QUERY_RUNS);
		for (size_t k = 0; k < QUERY_SIZES; k++)
			res->ratio[k] = res->ns[k] / res->ns[0];
		res->memory = zpsi_registry_memory(regs[QUERY_SIZES - 1]);
		res->per_guest = (double)res->memory / zpsi_registry_count(regs[QUERY_SIZES - 1]);
	}
	for (size_t k = 0; k < QUERY_SIZES; k++)
		zpsi_registry_free(regs[k]);
	return r;
}

/* ---- output ---------------------------------------------------------- */

static const char *met(bool ok)
{
	return ok ? "met" : "MISSED";
}

static void print_all(const struct scale_result *sc, const struct query_result *q)
{
	printf("\nScaled: %u guests x %u HC_PSI_UPDATE through zpsi_dispatch, %d runs\n", SCALE_GUESTS,
	       SCALE_UPDATES, SCALE_RUNS);
	for (int i = 0; i < SCALE_RUNS; i++)
		printf("  run %d: %.2f M updates/s\n", i + 1, sc->rate[i] / 1e6);
	printf("  median: %.2f M updates/s = %.0fx the seed's 10,000/s (target >= 1000x: %s)\n",
	       sc->rate_median / 1e6, sc->rate_median / SEED_RATE, met(sc->rate_median >= TARGET_RATE));
	printf("  accepted %" PRIu64 " of %" PRIu64 ", throttled %" PRIu64 "; aggregate vs exact: %s\n",
	       sc->accepted, sc->sent, sc->throttled, pf(sc->pass_agg));

	printf("\nQuery cost (HC_PSI_QUERY via zpsi_dispatch, median of %d x %u calls)\n", QUERY_RUNS, QUERY_CALLS);
	printf("  %9s  %8s  %s\n", "guests", "ns/query", "vs 1 guest");
	for (size_t k = 0; k < QUERY_SIZES; k++)
		printf("  %9u  %8.2f  %.2f\n", query_sizes[k], q->ns[k], q->ratio[k]);
	printf("  100,000 / 1 guest: %.2f (target <= %.1f: %s)   [checksum %" PRIu64 "]\n",
	       q->ratio[QUERY_SIZES - 1], QUERY_RATIO_MAX, met(q->ratio[QUERY_SIZES - 1] <= QUERY_RATIO_MAX),
	       q->sink);

	printf("\nRegistry memory at %u guests: %zu bytes = %.1f bytes/guest, array slack included "
	       "(target <= %.0f: %s)\n", MEMORY_GUESTS, q->memory, q->per_guest, MEMORY_MAX,
	       met(q->per_guest <= MEMORY_MAX));
}

static void print_json(const struct seed_result *sd, const struct scale_result *sc,
		       const struct query_result *q)
{
	printf("{\"seed\":{\"guests\":%u,\"registrations_attempted\":%u,\"registrations_ok\":%u,"
	       "\"updates_sent\":%u,\"updates_accepted\":%u,\"elapsed_ns\":%" PRIu64 ","
	       "\"updates_per_sec\":%.0f,\"ratio_vs_seed\":%.1f,\"query_bp\":%" PRId64 ","
	       "\"exact_num\":%" PRIu64 ",\"exact_den\":%" PRIu64 ",\"exact_rounded_bp\":%" PRIu64 ","
	       "\"pass\":%s}",
	       SEED_GUESTS, sd->reg_attempted, sd->reg_ok, sd->upd_sent, sd->upd_ok, sd->elapsed_ns, sd->rate,
	       sd->rate / SEED_RATE, sd->query, sd->num, sd->den, sd->expect,
	       sd->pass_reg && sd->pass_upd && sd->pass_rate && sd->pass_agg ? "true" : "false");
	if (sc) {
		printf(",\"scaled\":{\"guests\":%u,\"updates_per_run\":%u,\"runs\":%d,"
		       "\"updates_per_sec_median\":%.0f,\"ratio_vs_seed\":%.1f,\"target_met\":%s,"
		       "\"accepted\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"aggregate_pass\":%s}",
		       SCALE_GUESTS, SCALE_UPDATES, SCALE_RUNS, sc->rate_median, sc->rate_median / SEED_RATE,
		       sc->rate_median >= TARGET_RATE ? "true" : "false", sc->accepted, sc->sent,
		       sc->pass_agg ? "true" : "false");
		printf(",\"query\":{");
		for (size_t k = 0; k < QUERY_SIZES; k++)
			printf("%s\"%u\":{\"ns\":%.3f,\"ratio\":%.3f}", k ? "," : "", query_sizes[k], q->ns[k],
			       q->ratio[k]);
		printf(",\"target_met\":%s}", q->ratio[QUERY_SIZES - 1] <= QUERY_RATIO_MAX ? "true" : "false");
		printf(",\"memory\":{\"guests\":%u,\"bytes\":%zu,\"bytes_per_guest\":%.1f,\"target_met\":%s}",
		       MEMORY_GUESTS, q->memory, q->per_guest, q->per_guest <= MEMORY_MAX ? "true" : "false");
	}
	printf("}\n");
}

static void usage(FILE *f, const char *argv0)
{
	fprintf(f, "usage: %s [--seed | --all] [--json]\n"
		   "  --seed  the seed's scenario: 10 guests, 10,000 updates, checked aggregate (default)\n"
		   "  --all   the seed's scenario, then the scaled dispatcher, query and memory figures\n"
		   "  --json  machine-readable output\n", argv0);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seed", no_argument, NULL, 's' },
		{ "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct seed_result sd;
	struct scale_result sc;
	struct query_result q;
	bool all = false, json = false, ok;
	int o, r;

	while ((o = getopt_long(argc, argv, "sajh", opts, NULL)) != -1) {
		switch (o) {
		case 's': all = false; break;
		case 'a': all = true; break;
		case 'j': json = true; break;
		case 'h': usage(stdout, argv[0]); return 0;
		default: usage(stderr, argv[0]); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr, argv[0]);
		return 2;
	}

	r = run_seed(&sd);
	if (r < 0) {
		fprintf(stderr, "zpsi-stress: seed scenario: %s\n", strerror(-r));
		return 1;
	}
	ok = sd.pass_reg && sd.pass_upd && sd.pass_rate && sd.pass_agg;
	if (!json)
		print_seed(&sd);
	if (all) {
		r = run_scale(&sc);
		if (r == 0)
			r = run_query(&q);
		if (r < 0) {
			fprintf(stderr, "zpsi-stress: scaled runs: %s\n", strerror(-r));
			return 1;
		}
		ok = ok && sc.pass_agg && sc.accepted == sc.sent;
		if (!json)
			print_all(&sc, &q);
	}
	if (json)
		print_json(&sd, all ? &sc : NULL, all ? &q : NULL);
	return ok ? 0 : 1;
}
