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
 * param[1] UPDATEs ending at ratio param[2] bp; prints "updates start" and
 * "updates done".  With param[3] = 1 the guest then stays registered: it
 * enters C1 and halts until the host wakes it (then it ends).
 */
#include "psi.h"
#include "rt.h"

/*
 * The four loops are written out in assembly so that each iteration is the
 * same eight instructions around the trap (guest instructions are dear on
 * a software KVM: a compiler's choice must not differ between loops).
 * R8 counts up (the running counts of UPDATE never go backwards), R11
 * counts down.
 */
#define BENCH_PIO_LOOP(port)							\
	"1:	mov %%r9, %%rax\n"						\
	"	mov %%r10, %%rbx\n"						\
	"	mov %%r8, %%rcx\n"						\
	"	mov %%r8, %%rdx\n"						\
	"	outb %%al, $" port "\n"						\
	"	inc %%r8\n"							\
	"	dec %%r11\n"							\
	"	jnz 1b\n"

#define BENCH_MSR_LOOP(insn)							\
	"1:	mov %%r9d, %%ecx\n"						\
	"	mov %%r10d, %%eax\n"						\
	"	xor %%edx, %%edx\n"						\
	"	mov %%r8, %%rbx\n"						\
	"	" insn "\n"							\
	"	inc %%r8\n"							\
	"	dec %%r11\n"							\
	"	jnz 1b\n"

#define BENCH_RUN(body, first, nr, bp, n) ({					\
	uint64_t t0_ = zg_rdtsc();						\
	register uint64_t r8_ __asm__("r8") = (first);				\
	register uint64_t r9_ __asm__("r9") = (nr);				\
	register uint64_t r10_ __asm__("r10") = (bp);				\
	register uint64_t r11_ __asm__("r11") = (n);				\
	__asm__ __volatile__(body : "+r"(r8_), "+r"(r11_) : "r"(r9_), "r"(r10_)	\
			     : "rax", "rbx", "rcx", "rdx", "memory");		\
	zg_rdtsc() - t0_;							\
})

static uint64_t loop_exit(uint64_t n, uint64_t first)
{
	return BENCH_RUN(BENCH_PIO_LOOP("0x80"), first, ZPSI_HC_UPDATE, 2500, n);
}

static uint64_t loop_hypercall(uint64_t n, uint64_t first)
{
	return BENCH_RUN(BENCH_PIO_LOOP("0xE4"), first, ZPSI_HC_UPDATE, 2500, n);
}

static uint64_t loop_wrmsr(uint64_t n)
{
	return BENCH_RUN(BENCH_MSR_LOOP("wrmsr"), 0, ZPSI_MSR_STATE, 2500, n);
}

static uint64_t loop_rdmsr(uint64_t n)
{
	return BENCH_RUN(BENCH_MSR_LOOP("rdmsr"), 0, ZPSI_MSR_STATE, 2500, n);
}

/* Rounds of each loop in turn, so that drift in the host's load touches
 * every kind alike; the host takes the median round of each. */
static int round_trips(uint64_t n, uint64_t rounds, struct zg_psi *psi)
{
	uint64_t base = 16;

	if (zg_psi_register(psi, 1, 0) < 1 || psi->port != ZPSI_DOORBELL_PORT_DEFAULT)
		return 1;
	/* Warm up every path once. */
	loop_exit(16, 0);
	loop_hypercall(16, 0);
	loop_wrmsr(16);
	loop_rdmsr(16);
	for (uint64_t r = 0; r < rounds; r++) {
		uint64_t c[4];

		c[0] = loop_exit(n, 0);
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
	zg_puts("updates start\n");
	zg_flush();
	for (uint64_t i = 0; i < n; i++) {
		uint64_t bp = i + 1 == n ? final_bp : (i * 7919) % 10001;

		failed += zg_psi_doorbell_e4(ZPSI_HC_UPDATE, bp, i, i, 0) != 0;
	}
	zg_printf("updates done n=%lu failed=%u\n", (unsigned long)n, failed);
	zg_flush();
	if (b->param[3] == 1 && zg_psi_hibernate(psi, ZPSI_POWER_C1) == 0)
		zg_halt(0);
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
