/* SPDX-License-Identifier: MIT */
/*
 * fuzz_detect_cpuid.c - the freestanding CPUID core on an arbitrary CPU.
 *
 * Input: byte 0 bit 0 = out-of-range leaves echo the highest basic leaf
 * (Intel) instead of zeros (AMD); byte 1 = a JSON buffer size to try; then
 * records of 20 bytes: leaf (LE u32) and EAX..EDX.  A leaf whose top byte
 * is not 0x40 is folded onto a hypervisor block so the fuzzer reaches them:
 * base 0x40000000 + (leaf & 0xFF) * 0x100 + ((leaf >> 8) & 3), except
 * leaves 0 and 1, which stay.  The first record for a leaf wins.
 *
 * Checked against the header's rules: every block kept satisfies the
 * validation rule, bases ascend, `outer` is the last known identity, the
 * PSI result needs the present bit and an info leaf, counts add up, and
 * the JSON is valid printable ASCII whose length does not depend on the
 * buffer (and whose truncations are prefixes).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "detect_fuzz_common.h"
#include "zpsi/detect_cpuid.h"

#define MAX_LEAVES 512u

struct cpu {
	uint32_t leaf[MAX_LEAVES];
	uint32_t regs[MAX_LEAVES][4];
	size_t n;
	bool intel;
};

static const uint32_t *cpu_find(const struct cpu *c, uint32_t leaf)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->leaf[i] == leaf)
			return c->regs[i];
	return NULL;
}

static void cpu_cpuid(void *ctx, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	const struct cpu *c = ctx;
	const uint32_t *r = cpu_find(c, leaf), *zero0 = cpu_find(c, 0);

	(void)subleaf;
	if (!r && c->intel && zero0)
		r = cpu_find(c, zero0[0]);
	for (int i = 0; i < 4; i++)
		out[i] = r ? r[i] : 0;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cpu cpu;
	static struct zpsi_cpuid_info info;
	static char buf[1 << 16], small[256];
	size_t small_size, len;
	int last_hv = -1;

	if (size < 2)
		return 0;
	memset(&cpu, 0, sizeof(cpu));
	cpu.intel = data[0] & 1;
	small_size = data[1];
	for (size_t off = 2; off + 20 <= size && cpu.n < MAX_LEAVES; off += 20) {
		uint32_t leaf = le32(data + off);

		if (leaf > 1 && (leaf >> 24) != 0x40)
			leaf = 0x40000000u + (leaf & 0xFF) * 0x100 + ((leaf >> 8) & 3);
		if (cpu_find(&cpu, leaf))
			continue;
		cpu.leaf[cpu.n] = leaf;
		for (int i = 0; i < 4; i++)
			cpu.regs[cpu.n][i] = le32(data + off + 4 + 4 * i);
		cpu.n++;
	}

	zpsi_cpuid_scan(cpu_cpuid, &cpu, &info);

	CHECK(info.n_blocks <= ZPSI_CPUID_STACK_MAX);
	CHECK(info.n_blocks + info.dropped + info.rejected <= ZPSI_CPUID_HV_BLOCKS);
	CHECK(info.vendor[ZPSI_CPUID_SIG_LEN] == 0);
	for (uint32_t i = 0; i < info.n_blocks; i++) {
		const struct zpsi_cpuid_block *b = &info.stack[i];
		uint32_t regs[4];

		cpu_cpuid(&cpu, b->base, 0, regs);
		CHECK(zpsi_cpuid_block_valid(b->base, regs));
		CHECK(b->max_leaf == regs[0]);
		CHECK((b->base - ZPSI_CPUID_HV_FIRST) % ZPSI_CPUID_HV_STEP == 0);
		CHECK(i == 0 || b->base > info.stack[i - 1].base);
		CHECK(strlen(b->signature) <= ZPSI_CPUID_SIG_LEN && b->signature[0]);
		if (b->kind == ZPSI_CPUID_BLOCK_HYPERVISOR) {
			CHECK(b->name != NULL);
			last_hv = (int)i;
		}
	}
	CHECK(info.outer == last_hv);
	if (info.psi.present) {
		uint32_t regs[4];

		CHECK(info.hypervisor_bit && info.psi.abi_version != 0);
		cpu_cpuid(&cpu, info.psi.base + 1, 0, regs);
		CHECK(regs[0] == info.psi.abi_version && regs[1] == info.psi.features);
		CHECK(info.psi_blocks >= 1);
	}

	len = zpsi_cpuid_to_json(&info, buf, sizeof(buf));
	CHECK(len < sizeof(buf));
	json_check(buf, len);
	CHECK(zpsi_cpuid_to_json(&info, NULL, 0) == len);
	memset(small, 0x55, sizeof(small));
	CHECK(zpsi_cpuid_to_json(&info, small, small_size) == len);
	if (small_size) {
		size_t got = strlen(small);

		CHECK(got == (len < small_size ? len : small_size - 1));
		CHECK(memcmp(small, buf, got) == 0);
	}
	return 0;
}
