/* SPDX-License-Identifier: MIT */
/*
 * test_detect_cpuid.c - the freestanding CPUID core on synthetic CPUs:
 * nested stacks (Hyper-V enlightenments under KVM, Xen with Viridian), the
 * PSI block behind a foreign identity, garbage leaves as Intel and AMD
 * return them, every edge of the block rule, and the bounded JSON writer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "zpsi/detect_cpuid.h"

/* A synthetic CPU: explicit leaves; anything else answers like an Intel
 * CPU (the highest basic leaf's data) or an AMD one (zeros). */
struct fake_leaf {
	uint32_t leaf;
	uint32_t regs[4];
};

struct fake_cpu {
	const struct fake_leaf *leaves;
	size_t n;
	bool intel_echo;
	unsigned calls;
};

static void fake_cpuid(void *ctx, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	struct fake_cpu *c = ctx;
	const struct fake_leaf *echo = NULL;
	uint32_t max_basic = 0;

	(void)subleaf;
	c->calls++;
	for (size_t i = 0; i < c->n; i++) {
		if (c->leaves[i].leaf == leaf) {
			memcpy(out, c->leaves[i].regs, 16);
			return;
		}
		if (c->leaves[i].leaf == 0)
			max_basic = c->leaves[i].regs[0];
	}
	for (size_t i = 0; i < c->n; i++)
		if (c->leaves[i].leaf == max_basic)
			echo = &c->leaves[i];
	if (c->intel_echo && echo)
		memcpy(out, echo->regs, 16);
	else
		memset(out, 0, 16);
}

#define SIG(a, b, c) a, b, c
/* Signatures as EBX, ECX, EDX (little-endian bytes). */
#define KVM_SIG		SIG(0x4b4d564b, 0x564b4d56, 0x0000004d)
#define HV_SIG		SIG(0x7263694d, 0x666f736f, 0x76482074)	/* "Microsoft Hv" */
#define XEN_SIG		SIG(0x566e6558, 0x65584d4d, 0x4d4d566e)	/* "XenVMMXenVMM" */
#define PSI_SIG		SIG(ZPSI_CPUID_SIG_EBX, ZPSI_CPUID_SIG_ECX, ZPSI_CPUID_SIG_EDX)
#define OBSD_SIG	SIG(0x6e65704f, 0x56445342, 0x38354d4d)	/* "OpenBSDVMM58" */

#define INTEL0	{ 0x00000000, { 0x16, 0x756e6547, 0x6c65746e, 0x49656e69 } }	/* GenuineIntel */
#define LEAF1_HV	{ 0x00000001, { 0x50654, 0, 0x80000000u | 0x7ffefbff, 0 } }
#define LEAF1_METAL	{ 0x00000001, { 0x50654, 0, 0x7ffefbff, 0 } }
#define LEAF16		{ 0x00000016, { 0x00000a28, 0x00000e74, 0x00000064, 0 } }

static void scan(struct fake_cpu *cpu, struct zpsi_cpuid_info *info)
{
	zpsi_cpuid_scan(fake_cpuid, cpu, info);
}

static void test_nested_hyperv_under_kvm(void **state)
{
	static const struct fake_leaf leaves[] = {
		INTEL0, LEAF1_HV, LEAF16,
		{ 0x40000000, { 0x4000000b, HV_SIG } },
		{ 0x40000001, { 0x31237648, 0, 0, 0 } },
		{ 0x40000100, { 0x40000101, KVM_SIG } },
	};
	struct fake_cpu cpu = { leaves, sizeof(leaves) / sizeof(leaves[0]), true, 0 };
	struct zpsi_cpuid_info info;

	(void)state;
	scan(&cpu, &info);
	assert_true(info.hypervisor_bit);
	assert_string_equal(info.vendor, "GenuineIntel");
	assert_int_equal(info.n_blocks, 2);
	assert_int_equal(info.stack[0].base, 0x40000000);
	assert_string_equal(info.stack[0].signature, "Microsoft Hv");
	assert_string_equal(info.stack[0].name, "microsoft");
	assert_int_equal(info.stack[1].base, 0x40000100);
	assert_string_equal(info.stack[1].signature, "KVMKVMKVM");
	assert_int_equal(info.stack[1].max_leaf, 0x40000101);
	assert_int_equal(info.outer, 1);
	assert_string_equal(zpsi_cpuid_outer_name(&info), "kvm");
	assert_false(info.psi.present);
	/* Every other base echoed leaf 0x16 (Intel): all rejected. */
	assert_int_equal(info.rejected, 254);
	/* 2 + 256 probes, no PSI info leaf. */
	assert_int_equal(cpu.calls, 258);
}

static void test_xen_viridian(void **state)
{
	static const struct fake_leaf leaves[] = {
		INTEL0, LEAF1_HV, LEAF16,
		{ 0x40000000, { 0x40000006, HV_SIG } },
		{ 0x40000100, { 0x40000105, XEN_SIG } },
	};
	struct fake_cpu cpu = { leaves, sizeof(leaves) / sizeof(leaves[0]), false, 0 };
	struct zpsi_cpuid_info info;

	(void)state;
	scan(&cpu, &info);
	assert_int_equal(info.n_blocks, 2);
	assert_string_equal(zpsi_cpuid_outer_name(&info), "xen");
	assert_int_equal(info.rejected, 0);	/* AMD-style zeros are not "rejected" */
}

static void test_psi_behind_foreign_identity(void **state)
{
	static const struct fake_leaf leaves[] = {
		INTEL0, LEAF1_HV, LEAF16,
		{ 0x40000000, { 0x40000001, KVM_SIG } },
		{ 0x40000100, { 0x40000101, PSI_SIG } },
		{ 0x40000101, { ZPSI_ABI_VERSION, ZPSI_FEAT_MSR | ZPSI_FEAT_DOORBELL | 0x80000000u,
				ZPSI_DOORBELL_PORT_DEFAULT, 0 } },
	};
	struct fake_cpu cpu = { leaves, sizeof(leaves) / sizeof(leaves[0]), true, 0 };
	struct zpsi_cpuid_info info;

	(void)state;
	scan(&cpu, &info);
	assert_int_equal(info.n_blocks, 2);
	/* The PSI block is no identity: KVM stays the hypervisor. */
	assert_int_equal(info.outer, 0);
	assert_string_equal(zpsi_cpuid_outer_name(&info), "kvm");
	assert_int_equal(info.stack[1].kind, ZPSI_CPUID_BLOCK_PSI);
	assert_null(info.stack[1].name);
	assert_true(info.psi.present);
	assert_int_equal(info.psi.base, 0x40000100);
	assert_int_equal(info.psi.abi_version, 1);
	assert_int_equal(info.psi.features, ZPSI_FEAT_MSR | ZPSI_FEAT_DOORBELL | 0x80000000u);
	assert_int_equal(info.psi.doorbell_port, 0xE4);
	assert_int_equal(cpu.calls, 259);	/* + the info leaf */
}

static void test_psi_needs_present_bit_and_info_leaf(void **state)
{
	struct fake_leaf leaves[] = {
		INTEL0, LEAF1_METAL, LEAF16,
		{ 0x40000000, { 0x40000001, PSI_SIG } },
		{ 0x40000001, { 1, 0xF, 0xE4, 0 } },
	};
	struct fake_cpu cpu = { leaves, sizeof(leaves) / sizeof(leaves[0]), true, 0 };
	struct zpsi_cpuid_info info;

	(void)state;
	/* docs/abi.md 2: without CPUID.1:ECX[31] there is no interface. */
	scan(&cpu, &info);
	assert_int_equal(info.n_blocks, 1);
	assert_int_equal(info.psi_blocks, 1);
	assert_false(info.psi.present);
	assert_int_equal(info.outer, -1);

	/* With the bit, but the block ends at B: no info leaf. */
	leaves[1].regs[2] |= ZPSI_CPUID_1_ECX_HYPERVISOR;
	leaves[3].regs[0] = 0x40000000;
	scan(&cpu, &info);
	assert_false(info.psi.present);

	/* Version 0 does not exist. */
	leaves[3].regs[0] = 0x40000001;
	leaves[4].regs[0] = 0;
	scan(&cpu, &info);
	assert_false(info.psi.present);

	leaves[4].regs[0] = 1;
	scan(&cpu, &info);
	assert_true(info.psi.present);
	assert_int_equal(info.psi.base, 0x40000000);
}

/* Intel bare metal: every hypervisor leaf returns leaf 0x16's data. */
static void test_garbage_leaves_intel(void **state)
{
	static const struct fake_leaf leaves[] = { INTEL0, LEAF1_METAL, LEAF16 };
	struct fake_cpu cpu = { leaves, sizeof(leaves) / sizeof(leaves[0]), true, 0 };
	struct zpsi_cpuid_info info;

	(void)state;
	scan(&cpu, &info);
	assert_false(info.hypervisor_bit);
	assert_int_equal(info.n_blocks, 0);
	assert_int_equal(info.rejected, 256);
	assert_int_equal(info.outer, -1);
	assert_null(zpsi_cpuid_outer_name(&info));
}

/* A hypervisor that ignores the low bits and mirrors its block at every
 * base: only the real base passes, because the max leaf is absolute. */
static void test_mirrored_block(void **state)
{
	struct fake_leaf leaves[3 + 256];
	const struct fake_leaf head[3] = { INTEL0, LEAF1_HV, LEAF16 };
	struct fake_cpu cpu = { leaves, 3 + 256, true, 0 };
	struct zpsi_cpuid_info info;

	(void)state;
	memcpy(leaves, head, sizeof(head));
	for (uint32_t k = 0; k < 256; k++) {
		struct fake_leaf l = { 0x40000000 + k * 0x100, { 0x40000001, KVM_SIG } };

		leaves[3 + k] = l;
	}
	scan(&cpu, &info);
	assert_int_equal(info.n_blocks, 1);
	assert_int_equal(info.stack[0].base, 0x40000000);
	assert_int_equal(info.rejected, 255);
}

static void test_block_rule_edges(void **state)
{
	const uint32_t B = 0x40000300;
	uint32_t r[4] = { 0, KVM_SIG };

	(void)state;
	r[0] = B;
	assert_true(zpsi_cpuid_block_valid(B, r));
	r[0] = B + 0xFF;
	assert_true(zpsi_cpuid_block_valid(B, r));
	r[0] = B + 0x100;
	assert_false(zpsi_cpuid_block_valid(B, r));
	r[0] = B - 1;
	assert_false(zpsi_cpuid_block_valid(B, r));
	/* EAX 0: accepted for known signatures only (old KVM, OpenBSD vmm). */
	r[0] = 0;
	assert_true(zpsi_cpuid_block_valid(B, r));
	{
		uint32_t o[4] = { 0, OBSD_SIG };
		uint32_t u[4] = { 0, 0x41414141, 0x41414141, 0x41414141 };	/* "AAAAAAAAAAAA" */

		assert_true(zpsi_cpuid_block_valid(B, o));
		assert_false(zpsi_cpuid_block_valid(B, u));
		u[0] = B + 2;
		assert_true(zpsi_cpuid_block_valid(B, u));	/* unknown but well-formed */
		u[2] = 0x00410041;	/* "A\0A\0": NUL then a character */
		assert_false(zpsi_cpuid_block_valid(B, u));
		u[2] = 0x41411f41;	/* control character */
		assert_false(zpsi_cpuid_block_valid(B, u));
		u[2] = 0x41418041;	/* byte >= 0x80 */
		assert_false(zpsi_cpuid_block_valid(B, u));
		u[1] = u[2] = u[3] = 0x20202020;	/* only spaces */
		assert_false(zpsi_cpuid_block_valid(B, u));
		u[1] = u[2] = u[3] = 0;	/* all NUL */
		assert_false(zpsi_cpuid_block_valid(B, u));
	}
}

static void test_openbsd_eax_zero(void **state)
{
	static const struct fake_leaf leaves[] = {
		INTEL0, LEAF1_HV, LEAF16, { 0x40000000, { 0, OBSD_SIG } },
	};
	struct fake_cpu cpu = { leaves, sizeof(leaves) / sizeof(leaves[0]), false, 0 };
	struct zpsi_cpuid_info info;

	(void)state;
	scan(&cpu, &info);
	assert_int_equal(info.n_blocks, 1);
	assert_string_equal(zpsi_cpuid_outer_name(&info), "vmm");
	assert_int_equal(info.stack[0].max_leaf, 0);
}

static void test_max_basic_zero_skips_leaf1(void **state)
{
	static const struct fake_leaf leaves[] = {
		{ 0, { 0, 0x756e6547, 0x6c65746e, 0x49656e69 } },
		{ 1, { 0, 0, 0xffffffff, 0 } },	/* beyond the range: must not be read */
	};
	struct fake_cpu cpu = { leaves, 2, false, 0 };
	struct zpsi_cpuid_info info;

	(void)state;
	scan(&cpu, &info);
	assert_false(info.hypervisor_bit);
	assert_int_equal(cpu.calls, 1 + 256);
}

static void test_stack_cap(void **state)
{
	struct fake_leaf leaves[3 + 20];
	struct fake_cpu cpu = { leaves, 23, false, 0 };
	struct zpsi_cpuid_info info;
	const struct fake_leaf head[3] = { INTEL0, LEAF1_HV, LEAF16 };

	(void)state;
	memcpy(leaves, head, sizeof(head));
	for (unsigned i = 0; i < 20; i++) {
		uint32_t base = 0x40000000 + i * 0x100;
		struct fake_leaf l = { base, { base, KVM_SIG } };

		leaves[3 + i] = l;
	}
	scan(&cpu, &info);
	assert_int_equal(info.n_blocks, ZPSI_CPUID_STACK_MAX);
	assert_int_equal(info.dropped, 20 - ZPSI_CPUID_STACK_MAX);
	assert_int_equal(info.outer, ZPSI_CPUID_STACK_MAX - 1);
}

static void test_vendor_sanitised(void **state)
{
	static const struct fake_leaf leaves[] = { { 0, { 1, 0x01020304, 0x41414141, 0x41414141 } } };
	struct fake_cpu cpu = { leaves, 1, false, 0 };
	struct zpsi_cpuid_info info;

	(void)state;
	scan(&cpu, &info);
	assert_string_equal(info.vendor, "????AAAAAAAA");
}

static void test_signature_table(void **state)
{
	bool psi = false;

	(void)state;
	assert_true(zpsi_cpuid_sig_count() >= 18);
	assert_null(zpsi_cpuid_sig_at(zpsi_cpuid_sig_count()));
	for (size_t i = 0; i < zpsi_cpuid_sig_count(); i++) {
		const struct zpsi_cpuid_sig *s = zpsi_cpuid_sig_at(i);
		uint32_t regs[4] = { 0x40000001, 0, 0, 0 };

		memcpy(&regs[1], s->sig, 12);
		/* Every known signature passes its own validation rule... */
		assert_true(zpsi_cpuid_block_valid(0x40000000, regs));
		/* ...and is found again by lookup. */
		assert_ptr_equal(zpsi_cpuid_sig_lookup(&regs[1]), s);
		assert_true((s->kind == ZPSI_CPUID_BLOCK_PSI) == (s->name == NULL));
		psi |= s->kind == ZPSI_CPUID_BLOCK_PSI;
	}
	assert_true(psi);
	assert_string_equal(zpsi_cpuid_psi_feature_name(4), "balloon");
	assert_null(zpsi_cpuid_psi_feature_name(5));
}

/* ---- JSON ---------------------------------------------------------- */

static void test_json_exact(void **state)
{
	static const struct fake_leaf leaves[] = {
		INTEL0, LEAF1_HV, LEAF16,
		{ 0x40000000, { 0x40000001, KVM_SIG } },
		{ 0x40000100, { 0x40000101, PSI_SIG } },
		{ 0x40000101, { 1, 0x5, 0xE4, 0 } },
	};
	static const char want[] =
		"{\"hypervisor_bit\":true,\"vendor\":\"GenuineIntel\",\"max_basic_leaf\":\"0x00000016\","
		"\"outer\":\"kvm\",\"stack\":[{\"base\":\"0x40000000\",\"signature\":\"KVMKVMKVM\","
		"\"max_leaf\":\"0x40000001\",\"kind\":\"hypervisor\",\"name\":\"kvm\"},"
		"{\"base\":\"0x40000100\",\"signature\":\"ZIMEPSI\",\"max_leaf\":\"0x40000101\","
		"\"kind\":\"psi\",\"name\":null}],\"rejected\":254,\"dropped\":0,"
		"\"psi\":{\"base\":\"0x40000100\",\"abi_version\":1,\"features\":\"0x00000005\","
		"\"feature_names\":[\"msr\",\"doorbell\"],\"doorbell_port\":\"0x000000e4\"}}";
	struct fake_cpu cpu = { leaves, sizeof(leaves) / sizeof(leaves[0]), true, 0 };
	struct zpsi_cpuid_info info;
	char buf[1024], small[sizeof(want)];
	size_t n;

	(void)state;
	scan(&cpu, &info);
	n = zpsi_cpuid_to_json(&info, buf, sizeof(buf));
	assert_int_equal(n, strlen(want));
	assert_string_equal(buf, want);

	/* Every smaller buffer: same length returned, a NUL-terminated prefix. */
	assert_int_equal(zpsi_cpuid_to_json(&info, NULL, 0), n);
	for (size_t size = 1; size <= sizeof(small); size++) {
		memset(small, 'X', sizeof(small));
		assert_int_equal(zpsi_cpuid_to_json(&info, small, size), n);
		assert_int_equal(strlen(small), size - 1 < n ? size - 1 : n);
		assert_memory_equal(small, want, strlen(small));
	}
}

static void test_json_escaping(void **state)
{
	static const char raw[] = { '"', '\\', '\n', '\t', 0x01, 0x1f, 0x7f, (char)0x80, (char)0xff, 'a', 0 };
	struct zpsi_jw w;
	char buf[256];
	size_t n;

	(void)state;
	zpsi_jw_init(&w, buf, sizeof(buf));
	zpsi_jw_object_begin(&w);
	zpsi_jw_key(&w, "k\"");
	zpsi_jw_string_n(&w, raw, sizeof(raw));	/* the trailing NUL too */
	zpsi_jw_key(&w, "n");
	zpsi_jw_string(&w, NULL);
	zpsi_jw_key(&w, "a");
	zpsi_jw_array_begin(&w);
	zpsi_jw_u64(&w, 0);
	zpsi_jw_u64(&w, UINT64_MAX);
	zpsi_jw_bool(&w, false);
	zpsi_jw_hex32(&w, 0xDEADBEEF);
	zpsi_jw_array_begin(&w);
	zpsi_jw_array_end(&w);
	zpsi_jw_object_begin(&w);
	zpsi_jw_object_end(&w);
	zpsi_jw_array_end(&w);
	zpsi_jw_object_end(&w);
	n = zpsi_jw_finish(&w);
	assert_false(w.overflow);
	assert_string_equal(buf, "{\"k\\\"\":\"\\\"\\\\\\n\\t\\u0001\\u001f\\u007f\\u0080\\u00ffa\\u0000\","
			    "\"n\":null,\"a\":[0,18446744073709551615,false,\"0xdeadbeef\",[],{}]}");
	assert_int_equal(n, strlen(buf));
}

static void test_json_depth_cap(void **state)
{
	struct zpsi_jw w;
	char buf[512];

	(void)state;
	zpsi_jw_init(&w, buf, sizeof(buf));
	for (int i = 0; i < 63; i++)
		zpsi_jw_array_begin(&w);
	assert_false(w.overflow);
	zpsi_jw_array_begin(&w);
	assert_true(w.overflow);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nested_hyperv_under_kvm),
		cmocka_unit_test(test_xen_viridian),
		cmocka_unit_test(test_psi_behind_foreign_identity),
		cmocka_unit_test(test_psi_needs_present_bit_and_info_leaf),
		cmocka_unit_test(test_garbage_leaves_intel),
		cmocka_unit_test(test_mirrored_block),
		cmocka_unit_test(test_block_rule_edges),
		cmocka_unit_test(test_openbsd_eax_zero),
		cmocka_unit_test(test_max_basic_zero_skips_leaf1),
		cmocka_unit_test(test_stack_cap),
		cmocka_unit_test(test_vendor_sanitised),
		cmocka_unit_test(test_signature_table),
		cmocka_unit_test(test_json_exact),
		cmocka_unit_test(test_json_escaping),
		cmocka_unit_test(test_json_depth_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
