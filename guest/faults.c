/* SPDX-License-Identifier: MIT */
/*
 * guest/faults.c - a hostile guest.  It reads and writes MSRs nobody
 * defined, floods the doorbell, throws random registers at every
 * hypercall, scribbles garbage over the shared region, pokes ports nothing
 * decodes and prints control characters.  The VMM must answer each with
 * the ABI's error (a #GP, -1000, -22, -7 ...) and keep running; the guest
 * checks every answer, prints "N passed, N failed" and exits with the
 * failure count.  Counts for the host's side are printed as key=value.
 */
#include "psi.h"
#include "rt.h"

#define FLOOD_CALLS 3000u
#define RANDOM_CALLS 2000u
#define UNDEFINED_MSRS 1000u
#define GARBAGE_ROUNDS 200u

static unsigned n_pass, n_fail;
static struct zg_psi psi;
static uint64_t seed = 0x5EEDF00Dull;

static void check(int ok, const char *what)
{
	if (ok) {
		n_pass++;
	} else {
		n_fail++;
		zg_printf("FAIL: %s\n", what);
	}
}

static int is_abi_error(int64_t r)
{
	return r == -ZPSI_KVM_ENOSYS || r == -ZPSI_KVM_EINVAL || r == -ZPSI_KVM_EPERM ||
	       r == -ZPSI_KVM_E2BIG || r == -ZPSI_KVM_EFAULT || r == -ZPSI_KVM_EOPNOTSUPP;
}

static void undefined_msrs(void)
{
	struct zg_fault f0, f1;
	unsigned refused = 0;

	zg_fault_get(&f0);
	for (unsigned i = 0; i < UNDEFINED_MSRS; i++) {
		/* Just past the PSI block, and indices no x86 CPU defines. */
		uint32_t idx = (i & 1) ? ZPSI_MSR_FIRST + ZPSI_MSR_COUNT + (uint32_t)(zg_rand(&seed) % 12)
				       : 0x80000000u + (uint32_t)(zg_rand(&seed) % 0x40000000u);
		uint64_t v;

		if (i & 2)
			refused += zg_rdmsr_safe(idx, &v) < 0;
		else
			refused += zg_wrmsr_safe(idx, zg_rand(&seed)) < 0;
	}
	zg_fault_get(&f1);
	check(refused == UNDEFINED_MSRS, "every undefined MSR access raised #GP");
	check(f1.gp - f0.gp == UNDEFINED_MSRS, "one #GP each");
	zg_printf("undefined_msr_gp=%u\n", refused);
}

static void flood(void)
{
	unsigned ok = 0, throttled = 0, other = 0;

	for (unsigned i = 0; i < FLOOD_CALLS; i++) {
		int64_t r = zg_psi_update(&psi, i % 10001, i + 1, i + 1);

		if (r == 0)
			ok++;
		else if (r == -ZPSI_KVM_E2BIG)
			throttled++;
		else
			other++;
	}
	check(other == 0, "a flood gets only 0 or -E2BIG");
	check(zg_psi_query(&psi) >= 0, "QUERY still answers after a flood");
	zg_printf("flood_calls=%u flood_ok=%u flood_throttled=%u\n", FLOOD_CALLS, ok, throttled);
}

static void random_calls(void)
{
	unsigned bad = 0;

	for (unsigned i = 0; i < RANDOM_CALLS; i++) {
		/* Random registers, but never a REGISTER or BALLOON that could
		 * hit a real page of ours by chance. */
		static const uint64_t nrs[] = { ZPSI_HC_UPDATE, ZPSI_HC_QUERY, ZPSI_HC_HIBERNATE, 0, 0x01000000,
						ZPSI_HC_LAST + 1, 0xFFFFFFFFFFFFFFFFull };
		uint64_t nr = nrs[zg_rand(&seed) % ZG_ARRAY_SIZE(nrs)];
		int64_t r = zg_psi_hypercall(&psi, nr, zg_rand(&seed) | (1ull << 40), zg_rand(&seed),
					     zg_rand(&seed), zg_rand(&seed));

		if (nr == ZPSI_HC_QUERY ? !(r >= 0 && r <= ZPSI_BP_MAX) : !is_abi_error(r))
			bad++;
	}
	check(bad == 0, "random registers get a documented answer");
	check(zg_psi_hibernate(&psi, 0) == 0, "still in a sane power state");
	zg_printf("random_calls=%u\n", RANDOM_CALLS);
}

static void garbage_region(const struct zpsi_vmm_boot *b)
{
	volatile uint64_t *page = (volatile uint64_t *)(uintptr_t)b->region_gpa;
	volatile struct zpsi_region *r = (volatile struct zpsi_region *)page;
	unsigned out_of_range = 0;
	uint64_t state;

	check(zg_psi_register(&psi, 1, b->region_gpa) >= 1, "REGISTER with the region");
	for (unsigned round = 0; round < GARBAGE_ROUNDS; round++) {
		int64_t q;

		for (unsigned w = 0; w < 8; w++)
			page[w] = zg_rand(&seed);
		if (round % 4 == 0)
			page[1] |= 1;	/* a writer stuck in the middle */
		if (round % 8 == 0)
			page[0] = 0;	/* magic destroyed */
		for (unsigned w = 8; w < 512; w += 61)
			page[w] = zg_rand(&seed);
		q = zg_psi_query(&psi);
		out_of_range += !(q >= 0 && q <= ZPSI_BP_MAX);
	}
	check(out_of_range == 0, "the aggregate stays a ratio whatever the region holds");
	/* Off and on again: the host initialises the page and reads us again. */
	check(zg_wrmsr_safe(ZPSI_MSR_CTRL, ZPSI_CTRL_ENABLE) == 0, "region off");
	check(zg_wrmsr_safe(ZPSI_MSR_CTRL, ZPSI_CTRL_ENABLE | ZPSI_CTRL_REGION | b->region_gpa) == 0,
	      "region on again");
	check(r->magic == ZPSI_REGION_MAGIC_U64, "fresh magic");
	zg_psi_region_publish(r, 4321, 1ull << 40, 1ull << 40);
	/* STATE[15:0] is our ratio as the host has read it (QUERY would be
	 * the aggregate, which under zpsid includes other VMs). */
	check(zg_rdmsr_safe(ZPSI_MSR_STATE, &state) == 0 && zpsi_state_guest_bp(state) == 4321,
	      "a valid report is read after the garbage");
	zg_printf("garbage_rounds=%u\n", GARBAGE_ROUNDS);
}

/* ---- the battery: every documented refusal, one at a time ---------- */

#define SETTLE_MS 40u	/* the VMM samples the region every 10 ms */

static unsigned expect_hc(uint64_t nr, uint64_t a1, uint64_t a2, uint64_t a3, int64_t want, const char *what)
{
	int64_t r = zg_psi_hypercall(&psi, nr, a1, a2, a3, 0);

	if (r != want)
		zg_printf("FAIL: %s: %ld, want %ld\n", what, (long)r, (long)want);
	return r == want;
}

/* Every reserved bit of every PSI MSR alone, and every out-of-range field:
 * each a #GP that leaves the MSR as it was (docs/abi.md section 4). */
static void reserved_bits(const struct zpsi_vmm_boot *b)
{
	static const struct {
		uint32_t msr;
		uint64_t rsvd;
	} m[] = {
		{ ZPSI_MSR_STATE, ZPSI_STATE_RSVD_MASK },
		{ ZPSI_MSR_CONF, ZPSI_CONF_RSVD_MASK },
		{ ZPSI_MSR_CTRL, ZPSI_CTRL_RSVD_MASK },
	};
	/* STATE's host half (the aggregate, the power state) moves on its
	 * own under zpsid: only the guest's half must stay */
#define KEPT(msr, a, b) ((((a) ^ (b)) & ((msr) == ZPSI_MSR_STATE ? ~ZPSI_STATE_RO_MASK : ~0ull)) == 0)
	const uint64_t bad[][2] = {
		{ ZPSI_MSR_STATE, ZPSI_BP_MAX + 1 },
		{ ZPSI_MSR_STATE, ZPSI_STATE_GUEST_MASK },
		{ ZPSI_MSR_CONF, ZPSI_BP_MAX + 1 },
		{ ZPSI_MSR_CONF, (uint64_t)(ZPSI_BP_MAX + 1) << ZPSI_CONF_THRESH_SHIFT },
		/* a region at GPA 0, past RAM, straddling its end */
		{ ZPSI_MSR_CTRL, ZPSI_CTRL_ENABLE | ZPSI_CTRL_REGION },
		{ ZPSI_MSR_CTRL, ZPSI_CTRL_ENABLE | ZPSI_CTRL_REGION | (b->mem_bytes & ZPSI_CTRL_GPA_MASK) },
		{ ZPSI_MSR_CTRL, ZPSI_CTRL_ENABLE | ZPSI_CTRL_REGION | ZPSI_CTRL_GPA_MASK },
	};
	unsigned n = 0, gp = 0, kept = 0;

	for (unsigned i = 0; i < ZG_ARRAY_SIZE(m); i++) {
		uint64_t before, after;

		check(zg_rdmsr_safe(m[i].msr, &before) == 0, "read an MSR before its reserved bits");
		for (unsigned bit = 0; bit < 64; bit++) {
			if (!(m[i].rsvd & (1ull << bit)))
				continue;
			n++;
			gp += zg_wrmsr_safe(m[i].msr, before | (1ull << bit)) < 0;
			kept += zg_rdmsr_safe(m[i].msr, &after) == 0 && KEPT(m[i].msr, after, before);
		}
	}
	for (unsigned i = 0; i < ZG_ARRAY_SIZE(bad); i++) {
		uint64_t before, after;

		zg_rdmsr_safe((uint32_t)bad[i][0], &before);
		n++;
		gp += zg_wrmsr_safe((uint32_t)bad[i][0], bad[i][1]) < 0;
		kept += zg_rdmsr_safe((uint32_t)bad[i][0], &after) == 0 && KEPT(bad[i][0], after, before);
	}
#undef KEPT
	check(gp == n, "every reserved bit and out-of-range field raised #GP");
	check(kept == n, "and left its MSR as it was");
	zg_printf("reserved_bits_gp=%u of %u\n", gp, n);
}

/* Every bad argument of every hypercall gets its documented error, and the
 * registration is unharmed (docs/abi.md section 5). */
static void bad_arguments(const struct zpsi_vmm_boot *b)
{
	static const uint64_t bad_states[] = { 2, 4, 5, 7, 8, 15, 0xFF, 1ull << 32, ~0ull };
	const uint64_t ram = b->mem_bytes, einval = (uint64_t)-ZPSI_KVM_EINVAL, efault = (uint64_t)-ZPSI_KVM_EFAULT;
	unsigned ok = 0, n = 0;
	int64_t id = zg_psi_register(&psi, 1, 0);

	zg_halt(200);	/* a full rate-limit bucket: no refusal here is E2BIG */
	n++, ok += expect_hc(ZPSI_HC_REGISTER, 0, 0, 0, (int64_t)einval, "REGISTER weight 0");
	n++, ok += expect_hc(ZPSI_HC_REGISTER, ZPSI_WEIGHT_MAX + 1ull, 0, 0, (int64_t)einval, "REGISTER weight max+1");
	n++, ok += expect_hc(ZPSI_HC_REGISTER, ~0ull, 0, 0, (int64_t)einval, "REGISTER weight ~0");
	n++, ok += expect_hc(ZPSI_HC_REGISTER, 1, b->region_gpa + 8, 0, (int64_t)efault, "REGISTER region unaligned");
	n++, ok += expect_hc(ZPSI_HC_REGISTER, 1, ram, 0, (int64_t)efault, "REGISTER region past RAM");
	n++, ok += expect_hc(ZPSI_HC_REGISTER, 1, ~0ull & ~0xFFFull, 0, (int64_t)efault, "REGISTER region at ~0");
	n++, ok += expect_hc(ZPSI_HC_UPDATE, ZPSI_BP_MAX + 1, 1, 1, (int64_t)einval, "UPDATE bp max+1");
	n++, ok += expect_hc(ZPSI_HC_UPDATE, ~0ull, 1, 1, (int64_t)einval, "UPDATE bp ~0");
	/* counts above any this guest reported before (the region's 2^40) */
	n++, ok += expect_hc(ZPSI_HC_UPDATE, 100, 1ull << 43, 1ull << 43, 0, "UPDATE valid");
	n++, ok += expect_hc(ZPSI_HC_UPDATE, 100, (1ull << 43) - 1, 1ull << 43, (int64_t)einval,
			     "UPDATE committed backwards");
	n++, ok += expect_hc(ZPSI_HC_UPDATE, 100, 1ull << 43, (1ull << 43) - 1, (int64_t)einval,
			     "UPDATE deferred backwards");
	for (unsigned i = 0; i < ZG_ARRAY_SIZE(bad_states); i++)
		n++, ok += expect_hc(ZPSI_HC_HIBERNATE, bad_states[i], 0, 0, (int64_t)einval, "HIBERNATE bad state");
	n++, ok += expect_hc(ZPSI_HC_HIBERNATE, ZPSI_POWER_C3, 0, 0, (int64_t)einval, "HIBERNATE C0 -> C3 skips C1");
	n++, ok += expect_hc(ZPSI_HC_HIBERNATE, ZPSI_POWER_C6, 0, 0, (int64_t)einval, "HIBERNATE C0 -> C6 skips two");
	if (psi.features & ZPSI_FEAT_BALLOON) {
		uint64_t top = ram - ZPSI_REGION_PAGE_SIZE;

		n++, ok += expect_hc(ZPSI_HC_BALLOON, top, 1, 2, (int64_t)einval, "BALLOON direction 2");
		n++, ok += expect_hc(ZPSI_HC_BALLOON, top, 0, 1, (int64_t)einval, "BALLOON 0 pages");
		n++, ok += expect_hc(ZPSI_HC_BALLOON, top + 8, 1, 1, (int64_t)efault, "BALLOON unaligned");
		n++, ok += expect_hc(ZPSI_HC_BALLOON, top, 2, 1, (int64_t)efault, "BALLOON past RAM");
		n++, ok += expect_hc(ZPSI_HC_BALLOON, 0, ~0ull, 1, (int64_t)efault, "BALLOON ~0 pages");
		n++, ok += expect_hc(ZPSI_HC_BALLOON, ZPSI_REGION_PAGE_SIZE, ~0ull / ZPSI_REGION_PAGE_SIZE, 1,
				     (int64_t)efault, "BALLOON wrapping range");
	}
	n++, ok += expect_hc(ZPSI_HC_FIRST - 1, 0, 0, 0, -ZPSI_KVM_ENOSYS, "hypercall below the first");
	n++, ok += expect_hc(ZPSI_HC_LAST + 1, 0, 0, 0, -ZPSI_KVM_ENOSYS, "hypercall past the last");
	check(ok == n, "every bad hypercall argument got its documented error");
	check(zg_psi_register(&psi, 1, 0) == id, "the registration survived them (same id)");
	zg_printf("bad_arguments=%u of %u\n", ok, n);
}

/* Wait (halting) until the host has read bp from the region: STATE[15:0]. */
static int host_reads(uint32_t bp)
{
	for (unsigned i = 0; i < 50; i++) {
		uint64_t state;

		if (zg_rdmsr_safe(ZPSI_MSR_STATE, &state) == 0 && zpsi_state_guest_bp(state) == bp)
			return 1;
		zg_halt(10);
	}
	return 0;
}

static uint32_t host_bp(void)
{
	uint64_t state = 0;

	zg_rdmsr_safe(ZPSI_MSR_STATE, &state);
	return zpsi_state_guest_bp(state);
}

/* Each region corruption alone, after a good report: the host keeps the
 * good one (docs/abi.md section 6: magic, seqlock, ratio, counters). */
static void region_battery(const struct zpsi_vmm_boot *b)
{
	volatile struct zpsi_region *r = (volatile struct zpsi_region *)(uintptr_t)b->region_gpa;
	static const uint64_t bad_ratio[] = {
		0x7FF8000000000000ull,	/* NaN */
		0xFFF8000000000001ull,	/* -NaN with payload */
		0x7FF0000000000000ull,	/* +inf */
		0xFFF0000000000000ull,	/* -inf */
		0xBFE0000000000000ull,	/* -0.5 */
		0x3FF0000000000001ull,	/* 1 + ulp */
		0x4000000000000000ull,	/* 2.0 */
	};
	uint64_t c = 1ull << 44, d = 1ull << 44;
	unsigned held = 0, n = 0;
	uint32_t good = 1357;

	check(zg_wrmsr_safe(ZPSI_MSR_CTRL, ZPSI_CTRL_ENABLE | ZPSI_CTRL_REGION | b->region_gpa) == 0,
	      "region on for the battery");
	zg_psi_region_publish(r, good, c, d);
	check(host_reads(good), "the host reads a good report");
	for (unsigned i = 0; i < ZG_ARRAY_SIZE(bad_ratio); i++) {
		r->version++;
		r->guest_ratio = bad_ratio[i];
		r->committed = c + 1;
		r->version++;
		zg_halt(SETTLE_MS);
		n++, held += host_bp() == good;
	}
	/* counters backwards, each alone */
	zg_psi_region_publish(r, 2468, c - 1, d + 1);
	zg_halt(SETTLE_MS);
	n++, held += host_bp() == good;
	zg_psi_region_publish(r, 2468, c + 1, d - 1);
	zg_halt(SETTLE_MS);
	n++, held += host_bp() == good;
	/* the seqlock stuck odd over a new value */
	r->version |= 1;
	r->guest_ratio = 0x3FE0000000000000ull;	/* 0.5 */
	r->committed = c + 5;
	r->deferred = d + 5;
	zg_halt(SETTLE_MS);
	n++, held += host_bp() == good;
	r->version++;		/* even again: now it is a report */
	check(host_reads(5000), "a finished write after a stuck one is read");
	good = 5000;
	c = r->committed;
	d = r->deferred;
	/* flipping: the version moves under the host's reads, every value bad */
	for (unsigned i = 0; i < 20000; i++) {
		r->version++;
		r->guest_ratio = bad_ratio[i % ZG_ARRAY_SIZE(bad_ratio)];
		r->version++;
	}
	zg_halt(SETTLE_MS);
	n++, held += host_bp() == good;
	/* the magic destroyed: nothing is read until the region is set up again */
	r->magic = 0;
	zg_psi_region_publish(r, 1111, c + 10, d + 10);
	zg_halt(SETTLE_MS);
	n++, held += host_bp() == good;
	check(held == n, "every corruption was refused and the last good report kept");
	check(zg_wrmsr_safe(ZPSI_MSR_CTRL, ZPSI_CTRL_ENABLE) == 0, "region off after the battery");
	zg_printf("region_battery=%u of %u\n", held, n);
}

/* The rate limit's boundary: with a full bucket exactly --burst updates
 * pass in a row (param[0] is the burst the host was given), and the
 * refusals after it are E2BIG, not anything else. */
static void rate_boundary(const struct zpsi_vmm_boot *b)
{
	uint64_t burst = b->param[0], rate = b->param[1], first_refused = 0, t0, ns;
	unsigned ok = 0, big = 0, other = 0;

	if (!burst || !rate)
		return;
	zg_halt(300);	/* refill: more than --burst tokens at the test's --rate */
	t0 = zg_now_ns();
	for (uint64_t i = 0; i < 3 * burst; i++) {
		int64_t r = zg_psi_update(&psi, 100, (1ull << 45) + i, (1ull << 45) + i);

		if (r == 0) {
			ok++;
		} else if (r == -ZPSI_KVM_E2BIG) {
			big++;
			if (!first_refused)
				first_refused = i + 1;
		} else {
			other++;
		}
	}
	ns = zg_now_ns() - t0;
	check(other == 0, "only 0 or E2BIG across the boundary");
	check(first_refused > burst, "a full bucket lets --burst updates through in a row");
	/* what the bucket held plus what it earned meanwhile, one for rounding */
	check(ok <= burst + rate * ns / 1000000000u + 1, "no more than the bucket plus its refill");
	zg_printf("rate_burst=%lu rate_ok=%u rate_refused=%u rate_first_refused=%lu rate_ns=%lu\n",
		  (unsigned long)burst, ok, big, (unsigned long)first_refused, (unsigned long)ns);
}

static void stray_ports(void)
{
	unsigned ones = 0, n = 0;

	for (unsigned port = 0; port < 0x100; port++) {
		if (port == ZPSI_VMM_PORT_EXIT || port == ZPSI_VMM_PORT_CONSOLE ||
		    port == ZPSI_VMM_PORT_ALARM || port == psi.port)
			continue;
		__asm__ __volatile__("outb %0, %w1" :: "a"((uint8_t)zg_rand(&seed)), "Nd"((uint16_t)port));
		ones += zg_inl((uint16_t)port) == 0xFFFFFFFFu;
		n++;
	}
	check(ones == n, "ports nothing decodes read all ones");
	/* IN from the doorbell is not a hypercall either. */
	check(zg_inb(psi.port) == 0xFF, "IN from the doorbell reads all ones");
	zg_printf("stray_ports=%u\n", 2 * n + 1);
}

static void hostile_console(void)
{
	char s[40];

	for (unsigned i = 0; i < 32; i++)
		s[i] = (char)(i == '\n' ? 0x1B : i);
	s[32] = 0x7F;
	s[33] = (char)0x9B;	/* CSI in 8-bit terminals */
	s[34] = '\n';
	s[35] = 0;
	zg_puts("console: ");
	zg_puts(s + 1);
	check(1, "console survived control characters");
}

int zg_main(const struct zpsi_vmm_boot *b)
{
	if (zg_psi_discover(&psi) < 0 || psi.transport == ZG_PSI_NONE) {
		zg_puts("faults: no PSI interface\n");
		return 1;
	}
	check(zg_psi_register(&psi, 1, 0) >= 1, "REGISTER");
	check(zg_psi_update(&psi, 1234, 1, 1) == 0, "UPDATE");
	undefined_msrs();
	flood();
	random_calls();
	garbage_region(b);
	reserved_bits(b);
	bad_arguments(b);
	region_battery(b);
	rate_boundary(b);
	stray_ports();
	hostile_console();
	zg_printf("%u passed, %u failed\n", n_pass, n_fail);
	return (int)n_fail;
}
