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
	stray_ports();
	hostile_console();
	zg_printf("%u passed, %u failed\n", n_pass, n_fail);
	return (int)n_fail;
}
