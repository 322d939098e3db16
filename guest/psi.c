/* SPDX-License-Identifier: MIT */
/*
 * guest/psi.c - the guest side of the PSI ABI (see psi.h, docs/abi.md).
 */
#include "psi.h"
#include "rt.h"

int zg_psi_discover(struct zg_psi *out)
{
	struct zg_psi p = { 0 };
	uint32_t r[4];

	zg_cpuid(0, 0, r);
	/* "AuthenticAMD" / "HygonGenuine": the hypercall is VMMCALL there. */
	p.amd = (r[1] == 0x68747541 || r[1] == 0x6F677948);
	zg_cpuid(ZPSI_CPUID_FEATURES_LEAF, 0, r);
	if (!(r[2] & ZPSI_CPUID_1_ECX_HYPERVISOR))
		return -1;
	for (uint32_t b = ZPSI_CPUID_HV_FIRST; b <= ZPSI_CPUID_HV_LAST; b += ZPSI_CPUID_HV_STEP) {
		zg_cpuid(b, 0, r);
		if (r[1] == ZPSI_CPUID_SIG_EBX && r[2] == ZPSI_CPUID_SIG_ECX &&
		    r[3] == ZPSI_CPUID_SIG_EDX && r[0] >= b + 1 && r[0] <= b + 0xFF) {
			p.base = b;
			p.max_leaf = r[0];
			break;
		}
		/* Remember the first other identity, for reports. */
		if (!p.foreign_base && r[0] >= b && r[0] <= b + 0xFF && (r[1] | r[2] | r[3])) {
			p.foreign_base = b;
			memcpy(p.foreign_sig, &r[1], 4);
			memcpy(p.foreign_sig + 4, &r[2], 4);
			memcpy(p.foreign_sig + 8, &r[3], 4);
			p.foreign_sig[12] = '\0';
		}
	}
	if (!p.base)
		return -2;
	zg_cpuid(p.base + ZPSI_CPUID_INFO_OFFSET, 0, r);
	p.version = r[0];
	p.features = r[1];
	p.port = (uint16_t)r[2];
	if (p.version != ZPSI_ABI_VERSION)
		return -3;
	if (p.features & ZPSI_FEAT_VMCALL)
		p.transport = ZG_PSI_VMCALL;
	else if ((p.features & ZPSI_FEAT_DOORBELL) && p.port && p.port < 0x100)
		p.transport = ZG_PSI_DOORBELL;
	*out = p;
	return 0;
}

/*
 * The doorbell port comes from CPUID but `out %al, $imm8` needs it as an
 * immediate (so RDX stays an argument): one two-byte stub per port, called
 * with the registers already loaded.  The default port is inlined instead.
 */
__asm__(
	"	.text\n"
	"	.align 16\n"
	"zg_doorbell_stubs:\n"
	"	.set zg_db_port, 0\n"
	"	.rept 256\n"
	"	.align 4\n"
	"	outb %al, $zg_db_port\n"
	"	ret\n"
	"	.set zg_db_port, zg_db_port + 1\n"
	"	.endr\n");

static int64_t zg_psi_doorbell(uint16_t port, uint64_t nr, uint64_t a1, uint64_t a2, uint64_t a3,
			       uint64_t a4)
{
	extern const char zg_doorbell_stubs[];
	const void *stub = zg_doorbell_stubs + 4 * (port & 0xFF);
	uint64_t ret;

	if (port == ZPSI_DOORBELL_PORT_DEFAULT)
		return zg_psi_doorbell_e4(nr, a1, a2, a3, a4);
	__asm__ __volatile__("call *%[stub]"
			     : "=a"(ret)
			     : [stub] "r"(stub), "a"(nr), "b"(a1), "c"(a2), "d"(a3), "S"(a4)
			     : "memory");
	return (int64_t)ret;
}

static int64_t zg_psi_vmcall(int amd, uint64_t nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4)
{
	uint64_t ret;

	if (amd)
		__asm__ __volatile__("vmmcall" : "=a"(ret)
				     : "a"(nr), "b"(a1), "c"(a2), "d"(a3), "S"(a4) : "memory");
	else
		__asm__ __volatile__("vmcall" : "=a"(ret)
				     : "a"(nr), "b"(a1), "c"(a2), "d"(a3), "S"(a4) : "memory");
	return (int64_t)ret;
}

int64_t zg_psi_hypercall(const struct zg_psi *p, uint64_t nr, uint64_t a1, uint64_t a2,
			 uint64_t a3, uint64_t a4)
{
	int64_t r;

	switch (p->transport) {
	case ZG_PSI_VMCALL:
		/* Never reached unless the host advertised VMCALL: on stock
		 * KVM an unknown VMCALL never comes back (docs/abi.md 4.1). */
		r = zg_psi_vmcall(p->amd, nr, a1, a2, a3, a4);
		if (r != -ZPSI_KVM_ENOSYS || !(p->features & ZPSI_FEAT_DOORBELL) || !p->port)
			return r;
		return zg_psi_doorbell(p->port, nr, a1, a2, a3, a4);
	case ZG_PSI_DOORBELL:
		return zg_psi_doorbell(p->port, nr, a1, a2, a3, a4);
	default:
		return -ZPSI_KVM_ENOSYS;
	}
}

void zg_psi_region_publish(volatile struct zpsi_region *r, uint32_t bp, uint64_t committed,
			   uint64_t deferred)
{
	zpsi_region_guest_publish(r, zpsi_f64_from_bp(bp), committed, deferred, zg_now_ns());
}

int32_t zg_psi_region_host_bp(const volatile struct zpsi_region *r)
{
	if (!(zpsi_region_guest_host_info(r) & ZPSI_HOSTINFO_AGG_VALID))
		return -1;
	return zpsi_bp_from_f64(zpsi_region_guest_host_ratio(r));
}
