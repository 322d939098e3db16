/* SPDX-License-Identifier: MIT */
/*
 * fuzz_vmstate.c - zpsi-vmm's state files (--restore FILE, C6 wake) on
 * hostile bytes.  Byte 0 picks the target:
 *   0  a whole migration record, parsed and every zpsi-vmm section
 *      decoded as vmm/snapshot.c does;
 *   1  a VM section, 2  a vCPU section, 3  a memory section (decoders
 *      directly, past the CRCs).
 * An accepted section must be internally consistent: blob pointers and
 * MSRs inside the input, counts within their limits, and a memory section
 * must write exactly the RAM it describes and nothing beyond it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/kvm.h>

#include "zpsi/migrate.h"
#include "vmstate.h"

#define CHECK(x) do { if (!(x)) abort(); } while (0)

#define FUZZ_RAM (4ull << 20)	/* the smallest VM */
#define GUARD 64u

static const uint32_t blob_sizes[ZPSI_VMSTATE_BLOBS] = {
	sizeof(struct kvm_regs), sizeof(struct kvm_sregs), sizeof(struct kvm_xsave),
	sizeof(struct kvm_xcrs), sizeof(struct kvm_vcpu_events), sizeof(struct kvm_mp_state),
	sizeof(struct kvm_debugregs),
};

static uint8_t ram[FUZZ_RAM + GUARD];

static void fuzz_vm(const struct zpsi_mig_section *sec)
{
	struct zpsi_vmstate_vm vm;

	if (zpsi_vmstate_decode_vm(sec, &vm) < 0)
		return;
	CHECK(vm.vcpus >= 1 && vm.vcpus <= ZPSI_VMSTATE_MAX_VCPUS);
	CHECK(vm.mem_bytes >= (4ull << 20) && vm.mem_bytes <= ZPSI_VMSTATE_MAX_RAM);
	CHECK(vm.entry < vm.mem_bytes);
	CHECK(memchr(vm.signature, 0, sizeof(vm.signature)) && memchr(vm.name, 0, sizeof(vm.name)));
}

static void fuzz_vcpu(const struct zpsi_mig_section *sec)
{
	struct zpsi_vmstate_vcpu v;
	const uint8_t *end = sec->data + sec->len;

	if (zpsi_vmstate_decode_vcpu(sec, blob_sizes, &v) < 0)
		return;
	CHECK(v.index < ZPSI_VMSTATE_MAX_VCPUS && v.nmsrs <= ZPSI_VMSTATE_MAX_MSRS && v.mode <= 2);
	for (unsigned b = 0; b < ZPSI_VMSTATE_BLOBS; b++) {
		const uint8_t *p = v.blob[b];

		CHECK(v.blob_size[b] == blob_sizes[b]);
		CHECK(p >= sec->data && p + v.blob_size[b] <= end);
	}
	CHECK(v.msr_raw >= sec->data && v.msr_raw + 16ull * v.nmsrs == end);
	for (uint32_t i = 0; i < v.nmsrs; i++) {
		uint32_t idx;
		uint64_t val;

		zpsi_vmstate_msr(&v, i, &idx, &val);
	}
}

/* The stretches the decoder reports lie inside the section, in order. */
struct consumed {
	const struct zpsi_mig_section *sec;
	const uint8_t *next;
};

static void on_consumed(void *ctx, const uint8_t *data, size_t len)
{
	struct consumed *c = ctx;

	CHECK(len > 0 && data >= c->sec->data && data + len <= c->sec->data + c->sec->len);
	CHECK(!c->next || data == c->next);
	c->next = data + len;
}

static void fuzz_memory(const struct zpsi_mig_section *sec)
{
	struct consumed c = { .sec = sec };

	memset(ram + FUZZ_RAM, 0xEE, GUARD);
	if (zpsi_vmstate_decode_memory_cb(sec, ram, FUZZ_RAM, true, on_consumed, &c) < 0)
		return;
	CHECK(!c.next || c.next == sec->data + sec->len);
	for (unsigned i = 0; i < GUARD; i++)
		CHECK(ram[FUZZ_RAM + i] == 0xEE);
}

static void fuzz_record(const uint8_t *data, size_t size)
{
	struct zpsi_mig_section secs[16];
	size_t n;

	if (zpsi_mig_parse(data, size, zpsi_vmstate_known, secs, 16, &n) < 0)
		return;
	CHECK(n <= 16);
	for (size_t i = 0; i < n; i++) {
		CHECK(secs[i].data >= data && secs[i].data + secs[i].len <= data + size);
		switch (secs[i].type) {
		case ZPSI_MIG_SEC_VM: fuzz_vm(&secs[i]); break;
		case ZPSI_MIG_SEC_VCPU: fuzz_vcpu(&secs[i]); break;
		case ZPSI_MIG_SEC_MEMORY: fuzz_memory(&secs[i]); break;
		default: break;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zpsi_mig_section sec;

	if (size < 1)
		return 0;
	sec.data = data + 1;
	sec.len = size - 1;
	sec.flags = 0;
	switch (data[0] & 3) {
	case 0:
		fuzz_record(data + 1, size - 1);
		break;
	case 1:
		sec.type = ZPSI_MIG_SEC_VM;
		fuzz_vm(&sec);
		break;
	case 2:
		sec.type = ZPSI_MIG_SEC_VCPU;
		fuzz_vcpu(&sec);
		break;
	default:
		sec.type = ZPSI_MIG_SEC_MEMORY;
		fuzz_memory(&sec);
		break;
	}
	return 0;
}
