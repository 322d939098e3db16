/* SPDX-License-Identifier: MIT */
/*
 * guest/conformance.c - the PSI ABI, checked from inside a guest with real
 * CPUID, RDMSR/WRMSR and doorbell hypercalls: every MSR (valid writes, and
 * invalid ones that must raise #GP), every hypercall (valid and invalid
 * arguments), the region and its seqlock, the balloon, every power
 * transition and its host effect, CPUID discovery, and the other vCPUs.
 * Prints "N passed, N failed" and exits with the failure count.
 *
 * It expects to be the only guest of its host (a lone zpsi-vmm), so that
 * the aggregate is its own ratio.
 */
#include "psi.h"
#include "rt.h"

static unsigned n_pass, n_fail;
static struct zg_psi psi;
static const struct zpsi_vmm_boot *boot;

static void check(int ok, const char *what, int64_t got, int64_t want)
{
	if (ok) {
		n_pass++;
		return;
	}
	n_fail++;
	zg_printf("FAIL: %s (got %ld, want %ld)\n", what, (long)got, (long)want);
}

#define EXPECT_EQ(got, want, what) do {						\
	int64_t g_ = (int64_t)(got), w_ = (int64_t)(want);			\
	check(g_ == w_, what, g_, w_);						\
} while (0)
#define EXPECT_TRUE(cond, what) check(!!(cond), what, !!(cond), 1)

static void section(const char *name)
{
	static unsigned last_pass, last_fail;

	if (name == NULL || last_pass + last_fail != n_pass + n_fail)
		zg_printf("  %u checks, %u failed\n", n_pass + n_fail - last_pass - last_fail,
			  n_fail - last_fail);
	last_pass = n_pass;
	last_fail = n_fail;
	if (name)
		zg_printf("%s:\n", name);
}

static int64_t hc(uint64_t nr, uint64_t a1, uint64_t a2, uint64_t a3)
{
	return zg_psi_hypercall(&psi, nr, a1, a2, a3, 0);
}

/* An MSR read that must succeed; returns the value (0 on a fault). */
static uint64_t rd(uint32_t msr, const char *what)
{
	uint64_t v = 0;

	EXPECT_EQ(zg_rdmsr_safe(msr, &v), 0, what);
	return v;
}

static void wr(uint32_t msr, uint64_t v, const char *what)
{
	EXPECT_EQ(zg_wrmsr_safe(msr, v), 0, what);
}

/* A write that must #GP and leave the MSR as it was. */
static void wr_gp(uint32_t msr, uint64_t v, const char *what)
{
	uint64_t before = 0, after = 0;
	struct zg_fault f0, f1;

	zg_rdmsr_safe(msr, &before);
	zg_fault_get(&f0);
	EXPECT_EQ(zg_wrmsr_safe(msr, v), -1, what);
	zg_fault_get(&f1);
	EXPECT_EQ(f1.gp - f0.gp, 1, "exactly one #GP was taken");
	EXPECT_EQ(f1.last_vector, 13, "the fault was a #GP");
	zg_rdmsr_safe(msr, &after);
	EXPECT_EQ(after, before, "a refused write leaves the MSR as it was");
}

/* ---------------------------------------------------------------- */

static void test_cpuid(void)
{
	uint32_t r[4];
	uint32_t want_base = (boot->flags & ZPSI_VMM_BOOT_FOREIGN_ID) ? ZPSI_CPUID_BASE_NESTED
								       : ZPSI_CPUID_BASE_DEFAULT;

	section("cpuid");
	zg_cpuid(1, 0, r);
	EXPECT_TRUE(r[2] & ZPSI_CPUID_1_ECX_HYPERVISOR, "CPUID.1:ECX[31] hypervisor bit");
	EXPECT_EQ(zg_psi_discover(&psi), 0, "PSI block found by the scan");
	EXPECT_EQ(psi.base, want_base, "PSI block base");
	EXPECT_EQ(psi.version, ZPSI_ABI_VERSION, "ABI version");
	EXPECT_TRUE(psi.max_leaf >= psi.base + 1, "leaf B EAX >= B + 1");
	EXPECT_EQ(psi.features & ~ZPSI_FEAT_KNOWN_MASK, 0, "no unknown feature bits");
	EXPECT_EQ(psi.features & ZPSI_FEAT_VMCALL, 0, "VMCALL not offered on stock KVM");
	EXPECT_TRUE(psi.features & ZPSI_FEAT_DOORBELL, "doorbell offered");
	EXPECT_EQ(psi.port, ZPSI_DOORBELL_PORT_DEFAULT, "doorbell port");
	EXPECT_EQ(psi.transport, ZG_PSI_DOORBELL, "the runtime picked the doorbell");
	zg_cpuid(psi.base + 1, 0, r);
	EXPECT_EQ(r[3], 0, "leaf B+1 EDX reserved");
	if (boot->flags & ZPSI_VMM_BOOT_FOREIGN_ID) {
		zg_cpuid(ZPSI_CPUID_HV_FIRST, 0, r);
		EXPECT_TRUE(r[1] != ZPSI_CPUID_SIG_EBX, "a foreign identity at 0x40000000");
		EXPECT_EQ(psi.foreign_base, ZPSI_CPUID_HV_FIRST, "the scan saw it first");
	}
	zg_cpuid(psi.base + ZPSI_CPUID_HV_STEP, 0, r);
	EXPECT_TRUE(!(r[1] == ZPSI_CPUID_SIG_EBX && r[2] == ZPSI_CPUID_SIG_ECX), "only one PSI block");
}

static void test_unregistered_hypercalls(void)
{
	section("hypercalls before REGISTER");
	EXPECT_EQ(hc(ZPSI_HC_QUERY, 0, 0, 0), 0, "QUERY with nobody registered");
	EXPECT_EQ(hc(ZPSI_HC_UPDATE, 100, 0, 0), -ZPSI_KVM_EPERM, "UPDATE unregistered");
	EXPECT_EQ(hc(ZPSI_HC_HIBERNATE, 1, 0, 0), -ZPSI_KVM_EPERM, "HIBERNATE unregistered");
	EXPECT_EQ(hc(ZPSI_HC_BALLOON, boot->free_gpa, 1, 1), -ZPSI_KVM_EPERM, "BALLOON unregistered");
	EXPECT_EQ(hc(0, 0, 0, 0), -ZPSI_KVM_ENOSYS, "nr 0");
	EXPECT_EQ(hc(0x01000000, 0, 0, 0), -ZPSI_KVM_ENOSYS, "nr below the PSI range");
	EXPECT_EQ(hc(ZPSI_HC_LAST + 1, 0, 0, 0), -ZPSI_KVM_ENOSYS, "nr above the PSI range");
	EXPECT_EQ(hc((1ull << 32) | ZPSI_HC_QUERY, 0, 0, 0), -ZPSI_KVM_ENOSYS, "nr with high bits");
	EXPECT_EQ(hc(ZPSI_HC_REGISTER, 0, 0, 0), -ZPSI_KVM_EINVAL, "REGISTER weight 0");
	EXPECT_EQ(hc(ZPSI_HC_REGISTER, 65536, 0, 0), -ZPSI_KVM_EINVAL, "REGISTER weight 65536");
	EXPECT_EQ(hc(ZPSI_HC_REGISTER, (1ull << 32) | 1, 0, 0), -ZPSI_KVM_EINVAL, "REGISTER weight 2^32+1");
	EXPECT_EQ(hc(ZPSI_HC_REGISTER, 1, boot->region_gpa + 8, 0), -ZPSI_KVM_EFAULT,
		  "REGISTER unaligned region");
	EXPECT_EQ(hc(ZPSI_HC_REGISTER, 1, boot->mem_bytes, 0), -ZPSI_KVM_EFAULT,
		  "REGISTER region beyond RAM");
	EXPECT_EQ(hc(ZPSI_HC_QUERY, 0, 0, 0), 0, "a failed REGISTER registers nobody");
}

static void test_register_update(void)
{
	int64_t id;
	uint64_t v;

	section("REGISTER, UPDATE, QUERY");
	id = hc(ZPSI_HC_REGISTER, 3, 0, 0);
	EXPECT_TRUE(id >= 1, "REGISTER returns an id >= 1");
	EXPECT_EQ(hc(ZPSI_HC_REGISTER, 5, 0, 0), id, "REGISTER again: the same id");
	v = rd(ZPSI_MSR_CTRL, "read CTRL");
	EXPECT_EQ(v & ZPSI_CTRL_ENABLE, ZPSI_CTRL_ENABLE, "REGISTER sets CTRL.ENABLE");
	EXPECT_EQ(hc(ZPSI_HC_UPDATE, 2500, 30, 10), 0, "UPDATE 25 %");
	EXPECT_EQ(hc(ZPSI_HC_QUERY, 0, 0, 0), 2500, "QUERY sees it");
	v = rd(ZPSI_MSR_STATE, "read STATE");
	EXPECT_EQ(zpsi_state_guest_bp(v), 2500, "STATE guest ratio follows UPDATE");
	EXPECT_EQ(zpsi_state_host_bp(v), 2500, "STATE host aggregate");
	EXPECT_EQ(zpsi_state_power(v), 0, "STATE power C0");
	v = rd(ZPSI_MSR_STATS, "read STATS");
	EXPECT_EQ(zpsi_stats_committed32(v), 30, "STATS committed follows UPDATE");
	EXPECT_EQ(zpsi_stats_deferred32(v), 10, "STATS deferred follows UPDATE");
	EXPECT_EQ(hc(ZPSI_HC_UPDATE, 10001, 30, 10), -ZPSI_KVM_EINVAL, "UPDATE ratio 10001");
	EXPECT_EQ(hc(ZPSI_HC_UPDATE, (1ull << 32) | 100, 30, 10), -ZPSI_KVM_EINVAL, "UPDATE ratio 2^32+100");
	EXPECT_EQ(hc(ZPSI_HC_UPDATE, 2000, 29, 10), -ZPSI_KVM_EINVAL, "UPDATE committed backwards");
	EXPECT_EQ(hc(ZPSI_HC_UPDATE, 2000, 30, 9), -ZPSI_KVM_EINVAL, "UPDATE deferred backwards");
	EXPECT_EQ(hc(ZPSI_HC_QUERY, 0, 0, 0), 2500, "failed UPDATEs changed nothing");
	EXPECT_EQ(hc(ZPSI_HC_UPDATE, 10000, 30, 10), 0, "UPDATE 100 % with equal counts");
	EXPECT_EQ(hc(ZPSI_HC_UPDATE, 0, 30, 10), 0, "UPDATE 0 %");
	EXPECT_EQ(hc(ZPSI_HC_QUERY, 0, 0, 0), 0, "QUERY 0");
}

static void test_msrs(void)
{
	uint64_t v;

	section("MSRs");
	v = rd(ZPSI_MSR_CONF, "read CONF");
	EXPECT_EQ(v, zpsi_conf_encode(ZPSI_CONF_DEFAULT_DELTA_BP, ZPSI_CONF_DEFAULT_THRESH_BP), "CONF reset value");
	wr(ZPSI_MSR_STATE, 5000, "STATE write 50 %");
	v = rd(ZPSI_MSR_STATE, "read STATE");
	EXPECT_EQ(zpsi_state_guest_bp(v), 5000, "STATE reads back");
	EXPECT_EQ(hc(ZPSI_HC_QUERY, 0, 0, 0), 5000, "an MSR report counts in the aggregate");
	wr(ZPSI_MSR_STATE, 0xFFFFF0000ull | 1234, "STATE write with read-only bits set");
	v = rd(ZPSI_MSR_STATE, "read STATE");
	EXPECT_EQ(zpsi_state_guest_bp(v), 1234, "read-only bits ignored");
	EXPECT_EQ(zpsi_state_host_bp(v), 1234, "host field is the aggregate");
	EXPECT_EQ(zpsi_state_power(v), 0, "power field untouched");
	wr_gp(ZPSI_MSR_STATE, 10001, "STATE 10001 -> #GP");
	wr_gp(ZPSI_MSR_STATE, 1ull << 36, "STATE bit 36 -> #GP");
	wr_gp(ZPSI_MSR_STATE, 1ull << 63, "STATE bit 63 -> #GP");
	wr(ZPSI_MSR_STATE, 10000, "STATE 10000 is allowed");

	wr(ZPSI_MSR_CONF, zpsi_conf_encode(50, 8000), "CONF write");
	EXPECT_EQ(rd(ZPSI_MSR_CONF, "read CONF"), zpsi_conf_encode(50, 8000), "CONF reads back");
	wr_gp(ZPSI_MSR_CONF, zpsi_conf_encode(10001, 8000), "CONF delta 10001 -> #GP");
	wr_gp(ZPSI_MSR_CONF, zpsi_conf_encode(50, 10001), "CONF threshold 10001 -> #GP");
	wr_gp(ZPSI_MSR_CONF, 1ull << 32, "CONF bit 32 -> #GP");

	wr(ZPSI_MSR_STATS, zpsi_stats_encode(100, 50), "STATS write");
	v = rd(ZPSI_MSR_STATS, "read STATS");
	EXPECT_EQ(zpsi_stats_committed32(v), 100, "STATS committed");
	EXPECT_EQ(zpsi_stats_deferred32(v), 50, "STATS deferred");
	wr(ZPSI_MSR_STATS, zpsi_stats_encode(5, 60), "STATS committed wraps");
	v = rd(ZPSI_MSR_STATS, "read STATS");
	EXPECT_EQ(zpsi_stats_committed32(v), 5, "STATS low 32 bits after a wrap");

	wr_gp(ZPSI_MSR_CTRL, ZPSI_CTRL_ENABLE | (1ull << 3), "CTRL bit 3 -> #GP");
	wr_gp(ZPSI_MSR_CTRL, ZPSI_CTRL_ENABLE | ZPSI_CTRL_REGION | boot->mem_bytes,
	      "CTRL region beyond RAM -> #GP");
	wr(ZPSI_MSR_CTRL, ZPSI_CTRL_ENABLE | ZPSI_CTRL_RESET, "CTRL RESET");
	v = rd(ZPSI_MSR_STATS, "read STATS");
	EXPECT_EQ(v, 0, "RESET zeroed STATS");
	v = rd(ZPSI_MSR_CTRL, "read CTRL");
	EXPECT_EQ(v, ZPSI_CTRL_ENABLE, "RESET is never stored");
	EXPECT_EQ(hc(ZPSI_HC_UPDATE, 10000, 0, 0), 0, "counts start again from 0 after RESET");

	section("undefined MSRs");
	{
		static const uint32_t bad[] = { ZPSI_MSR_FIRST + ZPSI_MSR_COUNT, ZPSI_MSR_FIRST - 1,
						0x12345678, 0xC0011FFF };
		struct zg_fault f0, f1;

		zg_fault_get(&f0);
		for (unsigned i = 0; i < ZG_ARRAY_SIZE(bad); i++) {
			uint64_t x;

			EXPECT_EQ(zg_rdmsr_safe(bad[i], &x), -1, "RDMSR of an undefined MSR -> #GP");
			EXPECT_EQ(zg_wrmsr_safe(bad[i], 0), -1, "WRMSR of an undefined MSR -> #GP");
		}
		zg_fault_get(&f1);
		EXPECT_EQ(f1.gp - f0.gp, 2 * ZG_ARRAY_SIZE(bad), "one #GP per access");
	}
	EXPECT_EQ(hc(ZPSI_HC_QUERY, 0, 0, 0), 10000, "faults changed nothing");
}

static void test_region(void)
{
	volatile struct zpsi_region *r = (volatile struct zpsi_region *)(uintptr_t)boot->region_gpa;
	volatile struct zpsi_region *r2 = (volatile struct zpsi_region *)(uintptr_t)(boot->free_gpa + 0x10000);
	uint64_t v, ver;

	section("shared region");
	wr(ZPSI_MSR_CTRL, ZPSI_CTRL_ENABLE | ZPSI_CTRL_REGION | boot->region_gpa, "CTRL REGION on");
	EXPECT_EQ(r->magic, ZPSI_REGION_MAGIC_U64, "the host wrote the magic");
	EXPECT_EQ(r->host_info & ZPSI_HOSTINFO_REV_MASK, ZPSI_REGION_REVISION, "region revision");
	EXPECT_TRUE(r->host_info & ZPSI_HOSTINFO_AGG_VALID, "aggregate valid");
	EXPECT_EQ(zg_psi_region_host_bp(r), 10000, "host ratio is the aggregate");
	EXPECT_EQ(r->version, 0, "guest fields zeroed");
	zg_psi_region_publish(r, 7500, 1000, 3000);
	EXPECT_EQ(r->version, 2, "seqlock: one publish = +2");
	EXPECT_EQ(hc(ZPSI_HC_QUERY, 0, 0, 0), 7500, "QUERY sees the region report");
	EXPECT_EQ(zpsi_state_guest_bp(rd(ZPSI_MSR_STATE, "read STATE")), 7500, "STATE sees it too");
	EXPECT_EQ(zg_psi_region_host_bp(r), 7500, "host ratio updated in the page");

	/* Garbage the host must refuse: NaN, > 1, counts going back. */
	zpsi_region_guest_publish(r, 0x7FF8000000000000ull, 1001, 3001, 0);
	EXPECT_EQ(hc(ZPSI_HC_QUERY, 0, 0, 0), 7500, "NaN ratio refused");
	zpsi_region_guest_publish(r, ZPSI_F64_ONE + 1, 1002, 3002, 0);
	EXPECT_EQ(hc(ZPSI_HC_QUERY, 0, 0, 0), 7500, "ratio above 1 refused");
	zg_psi_region_publish(r, 2000, 10, 3002);
	EXPECT_EQ(hc(ZPSI_HC_QUERY, 0, 0, 0), 7500, "counts going back refused");
	zg_psi_region_publish(r, 2000, 1003, 3003);
	EXPECT_EQ(hc(ZPSI_HC_QUERY, 0, 0, 0), 2000, "a valid report after garbage");
	/* Torn: an odd version (a writer that died) is never read. */
	ver = r->version;
	r->version = ver + 1;
	r->guest_ratio = zpsi_f64_from_bp(9000);
	EXPECT_EQ(hc(ZPSI_HC_QUERY, 0, 0, 0), 2000, "odd version: not read");
	zg_psi_region_publish(r, 2500, 1004, 3004);
	EXPECT_EQ(hc(ZPSI_HC_QUERY, 0, 0, 0), 2500, "the next publish recovers");

	/* Move the region, then turn it off. */
	r2->magic = 0;
	wr(ZPSI_MSR_CTRL, ZPSI_CTRL_ENABLE | ZPSI_CTRL_REGION | ((uint64_t)(uintptr_t)r2), "CTRL moves the region");
	EXPECT_EQ(r2->magic, ZPSI_REGION_MAGIC_U64, "magic at the new page");
	zg_psi_region_publish(r2, 3000, 1005, 3005);
	EXPECT_EQ(hc(ZPSI_HC_QUERY, 0, 0, 0), 3000, "reports from the new page");
	zg_psi_region_publish(r, 9999, 5000, 5000);
	EXPECT_EQ(hc(ZPSI_HC_QUERY, 0, 0, 0), 3000, "the old page is plain memory again");
	wr(ZPSI_MSR_CTRL, ZPSI_CTRL_ENABLE, "CTRL REGION off");
	zg_psi_region_publish(r2, 9000, 1006, 3006);
	EXPECT_EQ(hc(ZPSI_HC_QUERY, 0, 0, 0), 3000, "no region: not sampled");
	EXPECT_EQ(hc(ZPSI_HC_REGISTER, 3, boot->region_gpa, 0) >= 1, 1, "REGISTER with a region");
	v = rd(ZPSI_MSR_CTRL, "read CTRL");
	EXPECT_EQ(v, ZPSI_CTRL_ENABLE | ZPSI_CTRL_REGION | boot->region_gpa, "CTRL shows the region");
	EXPECT_EQ(r->magic, ZPSI_REGION_MAGIC_U64, "region initialised again");
	EXPECT_EQ(r->version, 0, "guest fields zeroed again");
	zg_psi_region_publish(r, 4000, 2000, 4000);
	EXPECT_EQ(hc(ZPSI_HC_QUERY, 0, 0, 0), 4000, "reports after REGISTER");
}

static void test_balloon(void)
{
	uint64_t gpa = boot->free_gpa, pages = 16;
	volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)gpa;
	unsigned zero = 1;

	section("balloon");
	for (uint64_t i = 0; i < pages * 512; i++)
		p[i] = 0xA5A5A5A5A5A5A5A5ull ^ i;
	EXPECT_EQ(hc(ZPSI_HC_BALLOON, gpa, pages, 1), 0, "release 16 pages");
	for (uint64_t i = 0; i < pages * 512; i++)
		zero &= p[i] == 0;
	EXPECT_TRUE(zero, "released pages read as zeros");
	EXPECT_EQ(hc(ZPSI_HC_BALLOON, gpa, pages, 1), 0, "release them again (the host counts them once)");
	EXPECT_EQ(hc(ZPSI_HC_BALLOON, gpa, pages / 2, 0), 0, "reclaim half of them");
	p[0] = 42;
	EXPECT_EQ(p[0], 42, "reclaimed pages are usable");
	EXPECT_EQ(hc(ZPSI_HC_BALLOON, gpa + 8, 1, 1), -ZPSI_KVM_EFAULT, "unaligned -> EFAULT");
	EXPECT_EQ(hc(ZPSI_HC_BALLOON, gpa, 0, 1), -ZPSI_KVM_EINVAL, "0 pages -> EINVAL");
	EXPECT_EQ(hc(ZPSI_HC_BALLOON, boot->mem_bytes, 1, 1), -ZPSI_KVM_EFAULT, "beyond RAM -> EFAULT");
	EXPECT_EQ(hc(ZPSI_HC_BALLOON, gpa, 1ull << 40, 1), -ZPSI_KVM_EFAULT, "huge count -> EFAULT");
	EXPECT_EQ(hc(ZPSI_HC_BALLOON, gpa, 1, 2), -ZPSI_KVM_EINVAL, "RDX 2 -> EINVAL");
	EXPECT_EQ(hc(ZPSI_HC_BALLOON, boot->region_gpa, 1, 1), -ZPSI_KVM_EINVAL, "the region page -> EINVAL");
}

static void expect_power(unsigned want, const char *what)
{
	EXPECT_EQ(zpsi_state_power(rd(ZPSI_MSR_STATE, "read STATE")), want, what);
}

static void test_power_table(void)
{
	static const uint64_t bad_c0[] = { 2, 3, 4, 5, 6, 7, 255, 1ull << 32 };

	section("power transitions");
	for (unsigned i = 0; i < ZG_ARRAY_SIZE(bad_c0); i++)
		EXPECT_EQ(hc(ZPSI_HC_HIBERNATE, bad_c0[i], 0, 0), -ZPSI_KVM_EINVAL, "C0 -> invalid or too deep");
	EXPECT_EQ(hc(ZPSI_HC_HIBERNATE, 0, 0, 0), 0, "C0 -> C0 no-op");
	EXPECT_EQ(hc(ZPSI_HC_HIBERNATE, 1, 0, 0), 0, "C0 -> C1");
	expect_power(1, "STATE shows C1");
	EXPECT_EQ(hc(ZPSI_HC_HIBERNATE, 1, 0, 0), -ZPSI_KVM_EINVAL, "C1 -> C1");
	EXPECT_EQ(hc(ZPSI_HC_HIBERNATE, 6, 0, 0), -ZPSI_KVM_EINVAL, "C1 -> C6");
	EXPECT_EQ(hc(ZPSI_HC_HIBERNATE, 3, 0, 0), 0, "C1 -> C3");
	expect_power(3, "STATE shows C3");
	EXPECT_EQ(hc(ZPSI_HC_HIBERNATE, 1, 0, 0), -ZPSI_KVM_EINVAL, "C3 -> C1");
	EXPECT_EQ(hc(ZPSI_HC_HIBERNATE, 3, 0, 0), -ZPSI_KVM_EINVAL, "C3 -> C3");
	EXPECT_EQ(hc(ZPSI_HC_HIBERNATE, 6, 0, 0), 0, "C3 -> C6");
	expect_power(6, "STATE shows C6");
	EXPECT_EQ(hc(ZPSI_HC_HIBERNATE, 1, 0, 0), -ZPSI_KVM_EINVAL, "C6 -> C1");
	EXPECT_EQ(hc(ZPSI_HC_HIBERNATE, 3, 0, 0), -ZPSI_KVM_EINVAL, "C6 -> C3");
	EXPECT_EQ(hc(ZPSI_HC_HIBERNATE, 6, 0, 0), -ZPSI_KVM_EINVAL, "C6 -> C6");
	EXPECT_EQ(hc(ZPSI_HC_HIBERNATE, 0, 0, 0), 0, "C6 -> C0");
	expect_power(0, "STATE shows C0");
}

static uint64_t checksum(const volatile uint64_t *p, uint64_t words)
{
	uint64_t s = 0;

	for (uint64_t i = 0; i < words; i++)
		s = (s ^ p[i]) * 0x100000001B3ull;
	return s;
}

/* Step down to `depth` (1, 3 or 6), halt with an alarm, and come back. */
static void power_cycle(unsigned depth, const char *name)
{
	static const unsigned steps[] = { 1, 3, 6 };
	volatile uint64_t *area = (volatile uint64_t *)(uintptr_t)(boot->free_gpa + 0x20000);
	uint64_t before, t0, t1;
	unsigned why;

	for (uint64_t i = 0; i < 4096; i++)
		area[i] = i * 0x9E3779B97F4A7C15ull;
	before = checksum(area, 4096);
	for (unsigned i = 0; i < ZG_ARRAY_SIZE(steps) && steps[i] <= depth; i++)
		EXPECT_EQ(hc(ZPSI_HC_HIBERNATE, steps[i], 0, 0), 0, name);
	t0 = zg_now_ns();
	why = zg_halt(50);
	t1 = zg_now_ns();
	EXPECT_EQ(why, ZPSI_VMM_WAKE_ALARM, "woken by the alarm");
	EXPECT_TRUE(t1 - t0 >= 50ull * 1000 * 1000, "halted until the alarm (guest clock)");
	expect_power(0, "back in C0 after the wake");
	EXPECT_EQ(checksum(area, 4096), before, "memory intact across the power state");
	EXPECT_EQ(hc(ZPSI_HC_QUERY, 0, 0, 0), 4000, "registration and ratio survive");
}

static void test_power_effects(void)
{
	section("power states with HLT");
	power_cycle(1, "C1");
	power_cycle(3, "C3");
	power_cycle(6, "C6 (saved, memory freed, restored)");
	EXPECT_EQ(((volatile struct zpsi_region *)(uintptr_t)boot->region_gpa)->magic,
		  ZPSI_REGION_MAGIC_U64, "region page survives C6");
	EXPECT_EQ(zg_halt(20), ZPSI_VMM_WAKE_ALARM, "HLT with an alarm in C0 sleeps and returns");
}

/* ---------------------------------------------------------------- */
/* Other vCPUs                                                       */
/* ---------------------------------------------------------------- */

static struct {
	volatile uint32_t done, pass, fail;
} ap_result[ZPSI_VMM_MAX_VCPUS];

void zg_ap_main(const struct zpsi_vmm_boot *b, unsigned cpu)
{
	struct zg_psi p;
	uint32_t r[4], pass = 0, fail = 0;
	uint64_t v;

	(void)b;
	zg_cpuid(1, 0, r);
	(r[1] >> 24) == cpu ? pass++ : fail++;			/* its own APIC id */
	zg_psi_discover(&p) == 0 ? pass++ : fail++;
	zg_rdmsr_safe(ZPSI_MSR_CONF, &v) == 0 ? pass++ : fail++;
	zg_rdmsr_safe(ZPSI_MSR_FIRST + ZPSI_MSR_COUNT, &v) == -1 ? pass++ : fail++;	/* its own #GP */
	zg_psi_hypercall(&p, ZPSI_HC_QUERY, 0, 0, 0, 0) >= 0 ? pass++ : fail++;
	zg_psi_hypercall(&p, 0x01000000, 0, 0, 0, 0) == -ZPSI_KVM_ENOSYS ? pass++ : fail++;
	ap_result[cpu].pass = pass;
	ap_result[cpu].fail = fail;
	__atomic_store_n(&ap_result[cpu].done, 1, __ATOMIC_RELEASE);
}

static void test_aps(void)
{
	uint64_t deadline = zg_now_ns() + 10ull * 1000 * 1000 * 1000;

	if (boot->vcpus < 2)
		return;
	section("other vCPUs");
	for (unsigned c = 1; c < boot->vcpus; c++) {
		while (!__atomic_load_n(&ap_result[c].done, __ATOMIC_ACQUIRE) && zg_now_ns() < deadline)
			zg_pause();
		EXPECT_EQ(ap_result[c].done, 1, "vCPU finished");
		EXPECT_EQ(ap_result[c].fail, 0, "vCPU checks failed");
		EXPECT_EQ(ap_result[c].pass, 6, "vCPU checks passed");
	}
}

int zg_main(const struct zpsi_vmm_boot *b)
{
	boot = b;
	zg_printf("conformance: PSI ABI v%u, %u vCPU(s), %lu MiB\n", ZPSI_ABI_VERSION, b->vcpus,
		  (unsigned long)(b->mem_bytes >> 20));
	test_cpuid();
	if (psi.transport == ZG_PSI_NONE) {
		zg_printf("no PSI interface: %u passed, %u failed\n", n_pass, n_fail + 1);
		return (int)n_fail + 1;
	}
	test_aps();	/* first: they must have stopped before the power tests */
	test_unregistered_hypercalls();
	test_register_update();
	test_msrs();
	test_region();
	test_balloon();
	test_power_table();
	test_power_effects();
	section(NULL);
	zg_printf("%u passed, %u failed\n", n_pass, n_fail);
	return (int)n_fail;
}
