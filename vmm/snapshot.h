/* SPDX-License-Identifier: MIT */
/*
 * vmm/snapshot.h - a VM's saved state, in two halves:
 *   capture (snapshot.c): KVM ioctls and the PSI bank -> a description in
 *       memory (struct vmm_snapshot), and a record's contents back into
 *       the VM;
 *   storage (statefile.c): a description -> the migration record
 *       (zpsi/migrate.h, sections in vmstate.h) written to any sink -- a
 *       state file today, a socket for live migration -- and a state file
 *       read back and checked.
 */
#ifndef VMM_SNAPSHOT_H
#define VMM_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>

#include "internal.h"
#include "vmstate.h"
#include "zpsi/migrate.h"

/* What a save writes.  The vCPU states and RAM are the VM's own (not
 * copies): they must hold still until the record is written, which they
 * do while the VM is paused. */
struct vmm_snapshot {
	struct zpsi_psi_state psi;
	struct zpsi_vmstate_vm vm;
	unsigned nvcpus;
	const struct vmm_vcpu_state *vcpu[ZPSI_VMM_MAX_VCPUS];
	const uint8_t *ram;
	uint64_t ram_size;
};

/* A state file as read: the VM and PSI sections decoded, the vCPU states
 * staged (owned: vmm_record_free), the memory already in the VM's RAM. */
struct vmm_record {
	struct zpsi_psi_state psi;
	struct zpsi_vmstate_vm vm;
	struct vmm_vcpu_state *vcpu[ZPSI_VMSTATE_MAX_VCPUS];
	uint32_t vcpus_seen;	/* bit i: vCPU i's section */
	bool has_psi, has_vm, has_memory;
};
/* Where the memory section goes, once the VM section (vs) is known: 0 and
 * zeroed RAM of *size bytes, or -errno with vmm_errctx set. */
typedef int (*vmm_record_ram_fn)(void *ctx, const struct zpsi_vmstate_vm *vs, uint8_t **ram, uint64_t *size);

/* snapshot.c: the description of a paused VM whose vCPUs have captured
 * their state (vm->lock held; takes host->lock). */
void vmm_snapshot_capture(struct vmm *vm, struct vmm_snapshot *s);

/* statefile.c */
/* The record of a snapshot to a sink; *len: its length. */
int vmm_snapshot_encode(const struct vmm_snapshot *s, struct zpsi_mig_sink sink, uint64_t *len);
/* ... to a state file (regular, written from offset 0, truncated to the
 * record and synced); hook (tests, may be NULL) after each chunk. */
int vmm_statefile_write(int fd, const struct vmm_snapshot *s, vmm_save_hook_fn hook, void *opaque,
			uint64_t *len);
/* Read and verify a whole state file (from offset 0); RAM through ram_fn.
 * On failure rec holds nothing and what went into RAM is the caller's to
 * drop. */
int vmm_statefile_load(int fd, struct vmm_record *rec, vmm_record_ram_fn ram_fn, void *ctx);
void vmm_record_free(struct vmm_record *rec);
/* The staged vCPU states into the VM (after a successful load). */
int vmm_record_apply_vcpus(struct vmm *vm, struct vmm_record *rec);

#endif /* VMM_SNAPSHOT_H */
