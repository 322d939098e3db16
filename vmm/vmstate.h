/* SPDX-License-Identifier: MIT */
/*
 * vmm/vmstate.h - zpsi-vmm's sections of the migration record
 * (zpsi/migrate.h types 16..18): the VM's configuration, each vCPU's
 * state, and guest RAM.  A state file (--state-out, C6) is one migration
 * record holding a PSI section, one VM section, one VCPU section per vCPU
 * and one MEMORY section.  All little-endian; every reserved byte is 0.
 *
 * VM (type 16), 128 bytes:
 *     0 le32 layout (1)       4 le32 vcpus (1..4)       8 le64 RAM bytes
 *    16 le64 TSC kHz          24 le32 features (ZPSI_FEAT_*)
 *    28 le32 PSI CPUID base   32 le32 flags (bit 0: foreign signature)
 *    36 le32 weight           40 12 bytes signature (NUL-padded)
 *    52 u8 power state        53 3 bytes reserved       56 32 bytes name (NUL-terminated)
 *    88 le64 entry point      96 le64 memory target (pages)
 *   104 le64 pages released by the balloon            112 16 bytes reserved
 *
 * VCPU (type 17): a 56-byte header, seven blobs, then the MSRs:
 *     0 le32 layout (1)       4 le32 index              8 le32 mode (0 run, 1 parked, 2 stopped)
 *    12 le32 alarm (ms)      16 le32 MSR count (<= 512) 20 le32 blob count (7)
 *    24 le32 x 7 blob sizes  52 le32 reserved
 *    blobs, each zero-padded to 8 bytes, in this order: struct kvm_regs,
 *    kvm_sregs, kvm_xsave, kvm_xcrs, kvm_vcpu_events, kvm_mp_state,
 *    kvm_debugregs (linux/kvm.h, x86-64: KVM's own stable ABI);
 *    then per MSR: le32 index, le32 reserved, le64 value.
 *
 * MEMORY (type 18): only pages that are not all zero:
 *     0 le32 layout (1)       4 le32 page size (4096)   8 le64 RAM bytes
 *    16 le64 pages present   24 bitmap, one bit per page (LSB first), in
 *    le64 words; then the present pages' bytes in address order.
 *
 * The decoders take untrusted bytes: lengths, counts and every field are
 * checked before use; -EINVAL for anything that does not fit.
 */
#ifndef VMM_VMSTATE_H
#define VMM_VMSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "zpsi/migrate.h"

#define ZPSI_VMSTATE_LAYOUT	1u
#define ZPSI_VMSTATE_VM_SIZE	128u
#define ZPSI_VMSTATE_VCPU_HDR	56u
#define ZPSI_VMSTATE_BLOBS	7u
#define ZPSI_VMSTATE_MAX_MSRS	512u
#define ZPSI_VMSTATE_MAX_VCPUS	4u
#define ZPSI_VMSTATE_PAGE	4096u
#define ZPSI_VMSTATE_MAX_RAM	(4096ull << 20)
#define ZPSI_VMSTATE_F_SIGNATURE (1u << 0)

struct zpsi_vmstate_vm {
	uint32_t vcpus;
	uint64_t mem_bytes;
	uint64_t tsc_khz;
	uint32_t features;
	uint32_t cpuid_base;
	uint32_t flags;
	uint32_t weight;
	char signature[13];	/* NUL-terminated */
	uint8_t power;
	char name[32];		/* NUL-terminated */
	uint64_t entry;
	uint64_t mem_target_pages;
	uint64_t balloon_released;
};

struct zpsi_vmstate_vcpu {
	uint32_t index;
	uint32_t mode;
	uint32_t alarm_ms;
	uint32_t nmsrs;
	const void *blob[ZPSI_VMSTATE_BLOBS];
	uint32_t blob_size[ZPSI_VMSTATE_BLOBS];
	const uint32_t *msr_index;	/* encode: nmsrs indices and values */
	const uint64_t *msr_value;
	const uint8_t *msr_raw;		/* decode: nmsrs x 16 bytes; zpsi_vmstate_msr() */
};

int zpsi_vmstate_add_vm(struct zpsi_mig_writer *w, const struct zpsi_vmstate_vm *vm);
int zpsi_vmstate_decode_vm(const struct zpsi_mig_section *sec, struct zpsi_vmstate_vm *out);

int zpsi_vmstate_add_vcpu(struct zpsi_mig_writer *w, const struct zpsi_vmstate_vcpu *v);
/* expect[i]: the size blob i must have (the caller's sizeof of the KVM
 * struct); blobs point into the section. */
int zpsi_vmstate_decode_vcpu(const struct zpsi_mig_section *sec,
			     const uint32_t expect[ZPSI_VMSTATE_BLOBS], struct zpsi_vmstate_vcpu *out);
/* MSR i of a decoded vCPU (i < nmsrs). */
void zpsi_vmstate_msr(const struct zpsi_vmstate_vcpu *v, uint32_t i, uint32_t *index, uint64_t *value);

/* RAM: mem_bytes a multiple of the page size. */
int zpsi_vmstate_add_memory(struct zpsi_mig_writer *w, const uint8_t *ram, uint64_t mem_bytes);

/* The memory section's data without copying RAM: iov[0] is the section's
 * head (layout, size, count, bitmap of the non-zero pages), iov[1..] the
 * runs of non-zero pages, pointing into ram -- for zpsi_mig_finish_fd().
 * ram must not change until the section is written. */
struct zpsi_vmstate_memory {
	uint8_t *head;
	size_t head_len;
	struct iovec *iov;
	size_t iovcnt;
	uint64_t present;	/* non-zero pages */
};
int zpsi_vmstate_memory_iov(const uint8_t *ram, uint64_t mem_bytes, struct zpsi_vmstate_memory *m);
void zpsi_vmstate_memory_free(struct zpsi_vmstate_memory *m);
/* Write the section's pages into ram (mem_bytes must match the section);
 * zero_absent: also clear the pages the section omits (else the caller
 * guarantees ram is zero there).  The section is fully checked before ram
 * is touched. */
int zpsi_vmstate_decode_memory(const struct zpsi_mig_section *sec, uint8_t *ram, uint64_t mem_bytes,
			       bool zero_absent);
/* The same, telling consumed() about each stretch of the section's page
 * data (about ZPSI_VMSTATE_CONSUMED_CHUNK bytes, in order, together all of
 * it) once it has been copied: a caller reading from a mapped file can
 * drop those pages as it goes. */
#define ZPSI_VMSTATE_CONSUMED_CHUNK (2u << 20)
typedef void (*zpsi_vmstate_consumed_fn)(void *ctx, const uint8_t *data, size_t len);
int zpsi_vmstate_decode_memory_cb(const struct zpsi_mig_section *sec, uint8_t *ram, uint64_t mem_bytes,
				  bool zero_absent, zpsi_vmstate_consumed_fn consumed, void *ctx);

/* The same, the section read from a stream (its header just returned by
 * zpsi_mig_stream_next, `len` its length): the head and bitmap are read
 * and checked before ram is touched, then each run of pages is read
 * straight into ram -- no copy of the guest's memory in between.  ram
 * must be zero where the section holds no page.  -EINVAL for a section
 * that does not fit, or the stream's error. */
int zpsi_vmstate_memory_read(struct zpsi_mig_stream_reader *in, uint64_t len, uint8_t *ram, uint64_t mem_bytes);

/* Section types zpsi-vmm understands (for zpsi_mig_parse). */
bool zpsi_vmstate_known(uint32_t type);

#endif /* VMM_VMSTATE_H */
