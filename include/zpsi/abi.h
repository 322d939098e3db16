/* SPDX-License-Identifier: MIT */
/*
 * zpsi/abi.h - the PSI hypervisor ABI: every constant and layout shared by
 * guests and host.
 *
 * Freestanding: no libc, no FPU.  Guest payloads, the VMM, the daemon and the
 * tests include this file unchanged.  docs/abi.md is the prose contract; this
 * header and that document must never disagree (SPEC.md, "fixed"/"decided").
 *
 * Units: ratios are integer basis points (bp), 0..10000 (10000 = 100 %), in
 * MSRs and hypercalls; IEEE-754 binary64 fractions in [0, 1] in the shared
 * region.  Power states are numbered by their C-state (0, 1, 3, 6).
 */
#ifndef ZPSI_ABI_H
#define ZPSI_ABI_H

#include <stdint.h>	/* freestanding header: no libc needed */

/* ------------------------------------------------------------------ */
/* Ratios                                                              */
/* ------------------------------------------------------------------ */

#define ZPSI_BP_MAX		10000u	/* 100 % in basis points */
#define ZPSI_ABI_VERSION	1u

/* ------------------------------------------------------------------ */
/* CPUID discovery (SPEC component 1; docs/abi.md "Discovery")         */
/* ------------------------------------------------------------------ */

#define ZPSI_CPUID_FEATURES_LEAF	0x00000001u
#define ZPSI_CPUID_1_ECX_HYPERVISOR	(1u << 31)	/* CPUID.1:ECX[31] */

/* Hypervisor leaf blocks: bases 0x40000000..0x4000FF00, step 0x100. */
#define ZPSI_CPUID_HV_FIRST		0x40000000u
#define ZPSI_CPUID_HV_LAST		0x4000FF00u
#define ZPSI_CPUID_HV_STEP		0x00000100u
#define ZPSI_CPUID_HV_BLOCKS		256u

/* Where our own VMM places the PSI block. */
#define ZPSI_CPUID_BASE_DEFAULT		0x40000000u
#define ZPSI_CPUID_BASE_NESTED		0x40000100u	/* behind a foreign identity */

/* Leaf B: EAX = highest leaf of the block (>= B + 1), EBX:ECX:EDX = signature. */
#define ZPSI_CPUID_SIG_EBX		0x454D495Au	/* "ZIME" */
#define ZPSI_CPUID_SIG_ECX		0x00495350u	/* "PSI\0" */
#define ZPSI_CPUID_SIG_EDX		0x00000000u	/* "\0\0\0\0" */
#define ZPSI_CPUID_SIGNATURE		"ZIMEPSI"	/* + five NUL bytes */

/* Leaf B + 1: EAX = ABI version, EBX = features, ECX = doorbell port, EDX = 0. */
#define ZPSI_CPUID_INFO_OFFSET		1u
#define ZPSI_FEAT_MSR			(1u << 0)	/* PSI MSRs 0xC0010100.. */
#define ZPSI_FEAT_VMCALL		(1u << 1)	/* VMCALL reaches the host */
#define ZPSI_FEAT_DOORBELL		(1u << 2)	/* port-I/O doorbell hypercalls */
#define ZPSI_FEAT_REGION		(1u << 3)	/* shared 64-byte region */
#define ZPSI_FEAT_BALLOON		(1u << 4)	/* HC_PSI_BALLOON + region memory target */
#define ZPSI_FEAT_KNOWN_MASK		0x0000001Fu	/* bits a v1 guest may rely on */

/* Port 0xE4 is unassigned in the PC/AT I/O map and below 0x100, so the guest
 * rings it with `out %al, $0xE4` and RDX stays free for the third argument. */
#define ZPSI_DOORBELL_PORT_DEFAULT	0x00E4u

/* ------------------------------------------------------------------ */
/* MSRs (SPEC component 2; fixed addresses, decided encodings)        */
/* ------------------------------------------------------------------ */

#define ZPSI_MSR_STATE		0xC0010100u	/* PSI_STATE_MSR */
#define ZPSI_MSR_CONF		0xC0010101u	/* PSI_CONF_MSR */
#define ZPSI_MSR_STATS		0xC0010102u	/* PSI_STATS_MSR */
#define ZPSI_MSR_CTRL		0xC0010103u	/* PSI_CTRL_MSR */
#define ZPSI_MSR_FIRST		ZPSI_MSR_STATE
#define ZPSI_MSR_COUNT		4u

/* STATE: read 15:0 guest bp, 31:16 host aggregate bp, 35:32 power state.
 * Write: 15:0 set the guest ratio; 35:16 read-only, ignored; 63:36 reserved. */
#define ZPSI_STATE_GUEST_SHIFT	0
#define ZPSI_STATE_HOST_SHIFT	16
#define ZPSI_STATE_POWER_SHIFT	32
#define ZPSI_STATE_GUEST_MASK	0x000000000000FFFFull
#define ZPSI_STATE_HOST_MASK	0x00000000FFFF0000ull
#define ZPSI_STATE_POWER_MASK	0x0000000F00000000ull
#define ZPSI_STATE_RO_MASK	(ZPSI_STATE_HOST_MASK | ZPSI_STATE_POWER_MASK)
#define ZPSI_STATE_RSVD_MASK	0xFFFFFFF000000000ull

/* CONF: 15:0 delta bp, 31:16 threshold bp, 63:32 reserved; each <= 10000. */
#define ZPSI_CONF_DELTA_SHIFT	0
#define ZPSI_CONF_THRESH_SHIFT	16
#define ZPSI_CONF_DELTA_MASK	0x000000000000FFFFull
#define ZPSI_CONF_THRESH_MASK	0x00000000FFFF0000ull
#define ZPSI_CONF_RSVD_MASK	0xFFFFFFFF00000000ull
#define ZPSI_CONF_DEFAULT_DELTA_BP	100u	/* 1 % */
#define ZPSI_CONF_DEFAULT_THRESH_BP	9000u	/* 90 % */

/* STATS: 63:32 committed, 31:0 deferred (low 32 bits of each running count). */
#define ZPSI_STATS_COMMITTED_SHIFT	32
#define ZPSI_STATS_DEFERRED_MASK	0x00000000FFFFFFFFull

/* CTRL: bit 0 enable, bit 1 reset statistics (write-one-to-act, reads 0),
 * bit 2 region enable, 63:12 region guest-physical page; 11:3 reserved. */
#define ZPSI_CTRL_ENABLE	(1ull << 0)
#define ZPSI_CTRL_RESET		(1ull << 1)
#define ZPSI_CTRL_REGION	(1ull << 2)
#define ZPSI_CTRL_GPA_MASK	0xFFFFFFFFFFFFF000ull
#define ZPSI_CTRL_RSVD_MASK	0x0000000000000FF8ull

/* ------------------------------------------------------------------ */
/* Power states (SPEC component 3)                                     */
/* ------------------------------------------------------------------ */

enum zpsi_power_state {
	ZPSI_POWER_C0 = 0,	/* running */
	ZPSI_POWER_C1 = 1,	/* vCPUs halted, no host CPU used */
	ZPSI_POWER_C3 = 3,	/* vCPUs paused, CPU allocation released */
	ZPSI_POWER_C6 = 6,	/* state saved to disk, memory freed */
};

static inline int zpsi_power_valid(uint64_t s)
{
	return s == ZPSI_POWER_C0 || s == ZPSI_POWER_C1 || s == ZPSI_POWER_C3 ||
	       s == ZPSI_POWER_C6;
}

/* One step deeper per request; C6 is the floor (returns 0xFF there). */
static inline uint8_t zpsi_power_next(uint8_t s)
{
	switch (s) {
	case ZPSI_POWER_C0: return ZPSI_POWER_C1;
	case ZPSI_POWER_C1: return ZPSI_POWER_C3;
	case ZPSI_POWER_C3: return ZPSI_POWER_C6;
	default: return 0xFF;
	}
}

/* A transition the ABI allows: the next deeper state, or a wake to C0 from
 * any state (including C0 itself, which is a no-op).  `to` must itself be a
 * valid state: zpsi_power_next(C6) is 0xFF, which a target of 255 would
 * otherwise match. */
static inline int zpsi_power_transition_ok(uint8_t from, uint64_t to)
{
	return to == ZPSI_POWER_C0 ||
	       (zpsi_power_valid(from) && zpsi_power_valid(to) && to == zpsi_power_next(from));
}

/* ------------------------------------------------------------------ */
/* Hypercalls (SPEC component 3; fixed numbers, KVM register convention) */
/* ------------------------------------------------------------------ */

#define ZPSI_HC_REGISTER	0x01000001u	/* RBX weight, RCX region GPA|0 -> id */
#define ZPSI_HC_UPDATE		0x01000002u	/* RBX bp, RCX committed, RDX deferred */
#define ZPSI_HC_QUERY		0x01000003u	/* -> aggregate bp */
#define ZPSI_HC_HIBERNATE	0x01000004u	/* RBX target power state */
/* Extension (decided, docs/abi.md "Balloon"): give pages back to the host or
 * take them again.  RBX first GPA (page-aligned), RCX page count, RDX 1 =
 * release to the host, 0 = reclaim.  Offered when ZPSI_FEAT_BALLOON is set. */
#define ZPSI_HC_BALLOON		0x01000005u
#define ZPSI_HC_FIRST		ZPSI_HC_REGISTER
#define ZPSI_HC_LAST		ZPSI_HC_BALLOON

/* nr in RAX, arguments in RBX, RCX, RDX, RSI, result in RAX (KVM's order). */
#define ZPSI_WEIGHT_MIN		1u
#define ZPSI_WEIGHT_MAX		65535u

/* KVM's hypercall error numbers (include/uapi/linux/kvm_para.h), returned
 * negated in RAX. */
#define ZPSI_KVM_ENOSYS		1000
#define ZPSI_KVM_EFAULT		14	/* EFAULT */
#define ZPSI_KVM_EINVAL		22	/* EINVAL */
#define ZPSI_KVM_E2BIG		7	/* E2BIG */
#define ZPSI_KVM_EPERM		1	/* EPERM */
#define ZPSI_KVM_EOPNOTSUPP	95	/* EOPNOTSUPP */

/* ------------------------------------------------------------------ */
/* Shared region (SPEC component 4; fixed layout, 64 bytes, LE)       */
/* ------------------------------------------------------------------ */

#define ZPSI_REGION_MAGIC	"ZIMEPSI"	/* 8 bytes with its NUL */
#define ZPSI_REGION_MAGIC_U64	0x00495350454D495Aull	/* the same, as an LE u64 */
#define ZPSI_REGION_SIZE	64u
#define ZPSI_REGION_PAGE_SIZE	4096u	/* the whole page belongs to the interface */

/*
 * The ratios are binary64 bit patterns stored as u64 so that a guest without
 * an FPU can produce and consume them (zpsi_f64_from_bp / zpsi_bp_from_f64).
 */
struct zpsi_region {
	uint64_t magic;		/* 0x00 host, at creation: "ZIMEPSI\0" */
	uint64_t version;	/* 0x08 guest: seqlock, odd while writing */
	uint64_t guest_ratio;	/* 0x10 guest: f64 bits, [0, 1] */
	uint64_t host_ratio;	/* 0x18 host: f64 bits, aggregate, one store */
	uint64_t committed;	/* 0x20 guest: running count */
	uint64_t deferred;	/* 0x28 guest: running count */
	uint64_t timestamp_ns;	/* 0x30 guest: its own clock, never trusted */
	uint64_t host_info;	/* 0x38 host: revision, flags, memory target */
};

_Static_assert(sizeof(struct zpsi_region) == ZPSI_REGION_SIZE, "region is 64 bytes");
_Static_assert(__builtin_offsetof(struct zpsi_region, magic) == 0x00, "magic");
_Static_assert(__builtin_offsetof(struct zpsi_region, version) == 0x08, "version");
_Static_assert(__builtin_offsetof(struct zpsi_region, guest_ratio) == 0x10, "guest_ratio");
_Static_assert(__builtin_offsetof(struct zpsi_region, host_ratio) == 0x18, "host_ratio");
_Static_assert(__builtin_offsetof(struct zpsi_region, committed) == 0x20, "committed");
_Static_assert(__builtin_offsetof(struct zpsi_region, deferred) == 0x28, "deferred");
_Static_assert(__builtin_offsetof(struct zpsi_region, timestamp_ns) == 0x30, "timestamp");
_Static_assert(__builtin_offsetof(struct zpsi_region, host_info) == 0x38, "host_info");

/* host_info (0x38): 7:0 region revision, 15:8 flags, 63:16 memory target in
 * 4 KiB pages (0 = no target).  Written by the host with one 8-byte store. */
#define ZPSI_REGION_REVISION		1u
#define ZPSI_HOSTINFO_REV_MASK		0x00000000000000FFull
#define ZPSI_HOSTINFO_AGG_VALID		(1ull << 8)	/* host_ratio has been written */
#define ZPSI_HOSTINFO_BALLOON		(1ull << 9)	/* memory target is meaningful */
#define ZPSI_HOSTINFO_FLAGS_MASK	0x000000000000FF00ull
#define ZPSI_HOSTINFO_TARGET_SHIFT	16
#define ZPSI_HOSTINFO_TARGET_MAX	0x0000FFFFFFFFFFFFull	/* pages */

/* ------------------------------------------------------------------ */
/* Inline helpers: MSR encode/decode                                   */
/* ------------------------------------------------------------------ */

static inline uint64_t zpsi_state_encode(uint16_t guest_bp, uint16_t host_bp, uint8_t power)
{
	return (uint64_t)guest_bp | ((uint64_t)host_bp << ZPSI_STATE_HOST_SHIFT) |
	       ((uint64_t)(power & 0xF) << ZPSI_STATE_POWER_SHIFT);
}
static inline uint16_t zpsi_state_guest_bp(uint64_t v) { return (uint16_t)(v & ZPSI_STATE_GUEST_MASK); }
static inline uint16_t zpsi_state_host_bp(uint64_t v) { return (uint16_t)((v & ZPSI_STATE_HOST_MASK) >> ZPSI_STATE_HOST_SHIFT); }
static inline uint8_t zpsi_state_power(uint64_t v) { return (uint8_t)((v & ZPSI_STATE_POWER_MASK) >> ZPSI_STATE_POWER_SHIFT); }

static inline uint64_t zpsi_conf_encode(uint16_t delta_bp, uint16_t thresh_bp)
{
	return (uint64_t)delta_bp | ((uint64_t)thresh_bp << ZPSI_CONF_THRESH_SHIFT);
}
static inline uint16_t zpsi_conf_delta_bp(uint64_t v) { return (uint16_t)(v & ZPSI_CONF_DELTA_MASK); }
static inline uint16_t zpsi_conf_thresh_bp(uint64_t v) { return (uint16_t)((v & ZPSI_CONF_THRESH_MASK) >> ZPSI_CONF_THRESH_SHIFT); }

static inline uint64_t zpsi_stats_encode(uint64_t committed, uint64_t deferred)
{
	return ((committed & 0xFFFFFFFFull) << ZPSI_STATS_COMMITTED_SHIFT) | (deferred & ZPSI_STATS_DEFERRED_MASK);
}
static inline uint32_t zpsi_stats_committed32(uint64_t v) { return (uint32_t)(v >> ZPSI_STATS_COMMITTED_SHIFT); }
static inline uint32_t zpsi_stats_deferred32(uint64_t v) { return (uint32_t)(v & ZPSI_STATS_DEFERRED_MASK); }

static inline uint64_t zpsi_ctrl_encode(uint64_t flags, uint64_t region_gpa)
{
	return (flags & (ZPSI_CTRL_ENABLE | ZPSI_CTRL_RESET | ZPSI_CTRL_REGION)) | (region_gpa & ZPSI_CTRL_GPA_MASK);
}
static inline uint64_t zpsi_ctrl_gpa(uint64_t v) { return v & ZPSI_CTRL_GPA_MASK; }

static inline uint64_t zpsi_hostinfo_encode(uint64_t flags, uint64_t target_pages)
{
	if (target_pages > ZPSI_HOSTINFO_TARGET_MAX)
		target_pages = ZPSI_HOSTINFO_TARGET_MAX;
	return ZPSI_REGION_REVISION | (flags & ZPSI_HOSTINFO_FLAGS_MASK) |
	       (target_pages << ZPSI_HOSTINFO_TARGET_SHIFT);
}
static inline uint64_t zpsi_hostinfo_target_pages(uint64_t v) { return v >> ZPSI_HOSTINFO_TARGET_SHIFT; }

/* psi = deferred / (committed + deferred) in basis points, rounded to
 * nearest; 0 when nothing happened.  Integer only. */
static inline uint16_t zpsi_ratio_bp(uint64_t committed, uint64_t deferred)
{
	uint64_t total;

	/* Scale huge counts down (keeping their proportion) so that
	 * deferred * 20000 + total cannot overflow. */
	while (committed >= (1ull << 61) || deferred >= (1ull << 48)) {
		committed >>= 1;
		deferred >>= 1;
	}
	total = committed + deferred;
	if (total == 0)
		return 0;
	return (uint16_t)((deferred * 2 * ZPSI_BP_MAX + total) / (2 * total));
}

/* ------------------------------------------------------------------ */
/* Inline helpers: basis points <-> binary64 bits, without an FPU      */
/* ------------------------------------------------------------------ */

#define ZPSI_F64_ONE	0x3FF0000000000000ull

/* bp/10000 as the correctly rounded binary64 (round to nearest, ties to even).
 * bp > 10000 is clamped to 10000. */
static inline uint64_t zpsi_f64_from_bp(uint32_t bp)
{
	uint64_t r, d = ZPSI_BP_MAX, m = 0;
	int e = 0, i;

	if (bp == 0)
		return 0;
	if (bp >= ZPSI_BP_MAX)
		return ZPSI_F64_ONE;
	r = bp;
	while (r < d) {		/* normalise so that d <= r < 2d */
		r <<= 1;
		e--;
	}
	for (i = 0; i < 53; i++) {	/* 53 quotient bits of r/d */
		m <<= 1;
		if (r >= d) {
			m |= 1;
			r -= d;
		}
		r <<= 1;
	}
	if (r > d || (r == d && (m & 1)))	/* r/2 is the remainder */
		m++;
	if (m == (1ull << 53)) {
		m >>= 1;
		e++;
	}
	return ((uint64_t)(e + 1023) << 52) | (m & ((1ull << 52) - 1));
}

/* binary64 bits in [0, 1] to basis points, rounded to nearest.  Returns -1
 * for NaN, infinities, negative values (except -0) and values above 1. */
static inline int32_t zpsi_bp_from_f64(uint64_t bits)
{
	uint64_t exp = (bits >> 52) & 0x7FF, frac = bits & ((1ull << 52) - 1), x;
	int s;

	if ((bits & ~(1ull << 63)) == 0)
		return 0;			/* +0 or -0 */
	if (bits >> 63)
		return -1;			/* negative */
	if (exp == 0x7FF || exp > 1023 || (exp == 1023 && frac != 0))
		return -1;			/* NaN, inf, or > 1 */
	if (exp == 0)
		return 0;			/* subnormal: far below 0.5 bp */
	/* value = (2^52 + frac) * 2^(exp-1075); bp = value * 10000
	 *       = (2^52 + frac) * 625 * 2^(exp-1071) */
	x = ((1ull << 52) | frac) * 625;	/* < 2^63 */
	s = 1071 - (int)exp;			/* >= 48 */
	if (s >= 64)
		return 0;
	return (int32_t)((x + (1ull << (s - 1))) >> s);
}

/* ------------------------------------------------------------------ */
/* Inline helpers: the seqlock (docs/abi.md "Shared region")           */
/* ------------------------------------------------------------------ */

/*
 * Guest side: make the version odd, store the fields, make it even again.
 * On x86 stores are not reordered with other stores, so the release
 * fences compile to nothing but keep the compiler honest (as pvclock's
 * smp_wmb()).  The host's field is left alone.
 */
static inline void zpsi_region_guest_publish(volatile struct zpsi_region *r, uint64_t ratio_f64,
					     uint64_t committed, uint64_t deferred, uint64_t ts_ns)
{
	uint64_t v = __atomic_load_n(&r->version, __ATOMIC_RELAXED);

	v |= 1;		/* odd: writing (recovers an odd value left by a crash) */
	__atomic_store_n(&r->version, v, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&r->guest_ratio, ratio_f64, __ATOMIC_RELAXED);
	__atomic_store_n(&r->committed, committed, __ATOMIC_RELAXED);
	__atomic_store_n(&r->deferred, deferred, __ATOMIC_RELAXED);
	__atomic_store_n(&r->timestamp_ns, ts_ns, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&r->version, v + 1, __ATOMIC_RELAXED);
}

/* Guest side: the host's aggregate and info, each one atomic 8-byte load. */
static inline uint64_t zpsi_region_guest_host_ratio(const volatile struct zpsi_region *r)
{
	return __atomic_load_n(&r->host_ratio, __ATOMIC_ACQUIRE);
}
static inline uint64_t zpsi_region_guest_host_info(const volatile struct zpsi_region *r)
{
	return __atomic_load_n(&r->host_info, __ATOMIC_ACQUIRE);
}

#endif /* ZPSI_ABI_H */
