/* SPDX-License-Identifier: MIT */
/*
 * guest/psi.h - the guest side of the PSI ABI, built only from zpsi/abi.h
 * and the runtime's MSR and port helpers: CPUID discovery, hypercalls over
 * the transport the host advertises, MSR access and the shared region.
 * A guest author can lift this file and psi.c into their own kernel.
 */
#ifndef ZG_PSI_H
#define ZG_PSI_H

#include <stdint.h>

#include "zpsi/abi.h"

enum zg_psi_transport {
	ZG_PSI_NONE = 0,
	ZG_PSI_DOORBELL = 1,	/* out %al, $port */
	ZG_PSI_VMCALL = 2,	/* VMCALL/VMMCALL, doorbell on -KVM_ENOSYS */
};

struct zg_psi {
	uint32_t base;		/* CPUID base of the PSI block */
	uint32_t max_leaf;	/* leaf B's EAX */
	uint32_t version;	/* ABI version (leaf B+1 EAX) */
	uint32_t features;	/* ZPSI_FEAT_* */
	uint16_t port;		/* doorbell port, 0 if none */
	uint8_t transport;	/* enum zg_psi_transport */
	uint8_t amd;		/* VMMCALL rather than VMCALL */
	uint32_t foreign_base;	/* another identity's block seen first, or 0 */
	char foreign_sig[13];	/* its signature, NUL-terminated */
};

/* Discovery as docs/abi.md section 2 says.  0, or -1 no hypervisor bit,
 * -2 no PSI block, -3 a block of an ABI version we do not know. */
int zg_psi_discover(struct zg_psi *out);

/* A hypercall over the advertised transport; -KVM_ENOSYS without one. */
int64_t zg_psi_hypercall(const struct zg_psi *p, uint64_t nr, uint64_t a1, uint64_t a2,
			 uint64_t a3, uint64_t a4);

static inline int64_t zg_psi_register(const struct zg_psi *p, uint32_t weight, uint64_t region_gpa)
{
	return zg_psi_hypercall(p, ZPSI_HC_REGISTER, weight, region_gpa, 0, 0);
}
static inline int64_t zg_psi_update(const struct zg_psi *p, uint32_t bp, uint64_t committed,
				    uint64_t deferred)
{
	return zg_psi_hypercall(p, ZPSI_HC_UPDATE, bp, committed, deferred, 0);
}
static inline int64_t zg_psi_query(const struct zg_psi *p)
{
	return zg_psi_hypercall(p, ZPSI_HC_QUERY, 0, 0, 0, 0);
}
static inline int64_t zg_psi_hibernate(const struct zg_psi *p, uint64_t state)
{
	return zg_psi_hypercall(p, ZPSI_HC_HIBERNATE, state, 0, 0, 0);
}
static inline int64_t zg_psi_balloon(const struct zg_psi *p, uint64_t gpa, uint64_t pages, uint64_t release)
{
	return zg_psi_hypercall(p, ZPSI_HC_BALLOON, gpa, pages, release, 0);
}

/* The doorbell on the default port, inline: what every call costs. */
static inline int64_t zg_psi_doorbell_e4(uint64_t nr, uint64_t a1, uint64_t a2, uint64_t a3,
					 uint64_t a4)
{
	uint64_t ret;

	__asm__ __volatile__("outb %%al, $0xE4"
			     : "=a"(ret)
			     : "a"(nr), "b"(a1), "c"(a2), "d"(a3), "S"(a4)
			     : "memory");
	return (int64_t)ret;
}

/* The shared region: publish a report (seqlock) and read the host's side. */
void zg_psi_region_publish(volatile struct zpsi_region *r, uint32_t bp, uint64_t committed,
			   uint64_t deferred);
/* The host's aggregate in bp, or -1 while the host has not written it. */
int32_t zg_psi_region_host_bp(const volatile struct zpsi_region *r);

#endif /* ZG_PSI_H */
