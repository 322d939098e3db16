/* SPDX-License-Identifier: MIT */
/*
 * guest/bench.c - the guest half of zpsi-bench-vmm.
 *
 * param[0] = 0: round trips.  Four loops of param[1] iterations each, with
 * the same instructions around the trap: a bare port-I/O exit (port 0x80,
 * which nothing decodes), the PSI hypercall (HC_PSI_UPDATE on the doorbell),
 * WRMSR and RDMSR of PSI_STATE, in param[2] rounds.  Prints one line per
 * round: "bench round=R iters=N exit=C hypercall=C wrmsr=C rdmsr=C" (TSC
 * cycles per loop).
 *
 * param[0] = 1: the seed scenario.  REGISTER with the boot weight, then
 * param[1] UPDATEs ending at ratio param[2] bp; prints "updates done".
 */
#include "psi.h"
#include "rt.h"

static uint64_t loop_exit(uint64_t n)
{
	uint64_t t0 = zg_rdtsc(), ret;

	for (uint64_t i = 0; i < n; i++)
		__asm__ __volatile__("outb %%al, $0x80" : "=a"(ret)
				     : "a"((uint64_t)ZPSI_HC_UPDATE), "b"(i % 10001), "c"(i), "d"(i), "S"(0ull)
				     : "memory");
	return zg_rdtsc() - t0;
}

static uint64_t loop_hypercall(uint64_t n, uint64_t base)
{
	uint64_t t0 = zg_rdtsc(), ret;

	for (uint64_t i = 0; i < n; i++)
		__asm__ __volatile__("outb %%al, $0xE4" : "=a"(ret)
				     : "a"((uint64_t)ZPSI_HC_UPDATE), "b"(i % 10001), "c"(base + i), "d"(base + i), "S"(0ull)
				     : "memory");
	return zg_rdtsc() - t0;
}

static uint64_t loop_wrmsr(uint64_t n)
{
	uint64_t t0 = zg_rdtsc();

	for (uint64_t i = 0; i < n; i++)
		__asm__ __volatile__("wrmsr" :: "c"(ZPSI_MSR_STATE), "a"((uint32_t)(i % 10001)), "d"(0u),
				     "b"(i), "S"(0ull) : "memory");
	return zg_rdtsc() - t0;
}

static uint64_t loop_rdmsr(uint64_t n)
{
	uint64_t t0 = zg_rdtsc();
	uint32_t lo, hi;

	for (uint64_t i = 0; i < n; i++)
		__asm__ __volatile__("rdmsr" : "=a"(lo), "=d"(hi) : "c"(ZPSI_MSR_STATE), "b"(i), "S"(0ull)
				     : "memory");
	(void)lo;
	(void)hi;
	return zg_rdtsc() - t0;
}

/* Rounds of each loop in turn, so that drift in the host's load touches
 * every kind alike; the host takes the median round of each. */
static int round_trips(uint64_t n, uint64_t rounds, struct zg_psi *psi)
{
	uint64_t base = 16;

	if (zg_psi_register(psi, 1, 0) < 1 || psi->port != ZPSI_DOORBELL_PORT_DEFAULT)
		return 1;
	/* Warm up every path once. */
	loop_exit(16);
	loop_hypercall(16, 0);
	loop_wrmsr(16);
	loop_rdmsr(16);
	for (uint64_t r = 0; r < rounds; r++) {
		uint64_t c[4];

		c[0] = loop_exit(n);
		c[1] = loop_hypercall(n, base);
		base += n;
		c[2] = loop_wrmsr(n);
		c[3] = loop_rdmsr(n);
		zg_printf("bench round=%lu iters=%lu exit=%lu hypercall=%lu wrmsr=%lu rdmsr=%lu\n",
			  (unsigned long)r, (unsigned long)n, (unsigned long)c[0], (unsigned long)c[1],
			  (unsigned long)c[2], (unsigned long)c[3]);
	}
	return 0;
}

static int seed_updates(const struct zpsi_vmm_boot *b, struct zg_psi *psi)
{
	uint64_t n = b->param[1], final_bp = b->param[2];
	unsigned failed = 0;

	if (zg_psi_register(psi, b->weight, 0) < 1)
		return 1;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t bp = i + 1 == n ? final_bp : (i * 7919) % 10001;

		failed += zg_psi_doorbell_e4(ZPSI_HC_UPDATE, bp, i, i, 0) != 0;
	}
	zg_printf("updates done n=%lu failed=%u\n", (unsigned long)n, failed);
	return failed ? 1 : 0;
}

int zg_main(const struct zpsi_vmm_boot *b)
{
	struct zg_psi psi;

	if (zg_psi_discover(&psi) < 0 || psi.transport != ZG_PSI_DOORBELL)
		return 1;
	return b->param[0] == 1 ? seed_updates(b, &psi)
				: round_trips(b->param[1] ? b->param[1] : 1000, b->param[2] ? b->param[2] : 5, &psi);
}
