/* SPDX-License-Identifier: MIT */
/*
 * test_detect_parse.c - the detector's parsers on real formats and hostile
 * ones: `cpuid -r` dumps, sysctl.txt, /proc/cpuinfo, SMBIOS type 0, ACPI
 * headers, Xen's files and one-line values.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "zpsi/detect.h"

#define S(lit) (lit), (sizeof(lit) - 1)

/* ---- cpuid -r ------------------------------------------------------ */

/* As `cpuid -r` prints all CPUs: only CPU 0 counts. */
static const char dump_all[] =
	"CPU 0:\n"
	"   0x00000000 0x00: eax=0x0000000d ebx=0x68747541 ecx=0x444d4163 edx=0x69746e65\n"
	"   0x00000001 0x00: eax=0x00a00f11 ebx=0x01020800 ecx=0xfffa3203 edx=0x178bfbff\n"
	"   0x0000000b 0x00: eax=0x00000000 ebx=0x00000001 ecx=0x00000100 edx=0x00000001\n"
	"   0x0000000b 0x01: eax=0x00000005 ebx=0x00000002 ecx=0x00000201 edx=0x00000001\n"
	"   0x40000000 0x00: eax=0x40000001 ebx=0x4b4d564b ecx=0x564b4d56 edx=0x0000004d\n"
	"CPU 1:\n"
	"   0x00000000 0x00: eax=0x00000001 ebx=0x00000000 ecx=0x00000000 edx=0x00000000\n"
	"   0x40000100 0x00: eax=0x40000101 ebx=0x4b4d564b ecx=0x564b4d56 edx=0x0000004d\n";

static void test_dump_first_cpu_only(void **state)
{
	struct zpsi_cpuid_dump d;
	uint32_t r[4];

	(void)state;
	assert_int_equal(zpsi_cpuid_dump_parse(S(dump_all), &d), 0);
	assert_int_equal(d.n, 5);
	zpsi_cpuid_dump_lookup(&d, 0, 0, r);
	assert_int_equal(r[0], 0xd);	/* CPU 0's, not CPU 1's */
	zpsi_cpuid_dump_lookup(&d, 0x40000100, 0, r);
	assert_int_equal(r[0] | r[1] | r[2] | r[3], 0);	/* absent: zeros */
	zpsi_cpuid_dump_lookup(&d, 0xb, 1, r);
	assert_int_equal(r[0], 5);	/* exact subleaf */
	zpsi_cpuid_dump_lookup(&d, 0xb, 7, r);
	assert_int_equal(r[1], 1);	/* unknown subleaf: the leaf's first */
	zpsi_cpuid_dump_done(&d);
	assert_null(d.entries);
}

static void test_dump_hostile_lines(void **state)
{
	static const char text[] =
		"garbage\n"
		"   0x123456789 0x00: eax=0x1 ebx=0x2 ecx=0x3 edx=0x4\n"	/* 9 hex digits */
		"   0x00000002 0x00: eax=0x1 ebx=0x2 ecx=0x3\n"			/* no edx */
		"   0x00000003 0x00: eax=0x1 ebx=0x2 ecx=0x3 edx=0x4 junk\n"	/* trailing junk */
		"   0x00000004 0x00:eax=0x1 ebx=0x2 ecx=0x3 edx=0x4\n"		/* no space */
		"   0x00000005 0x00: eax=0x ebx=0x2 ecx=0x3 edx=0x4\n"		/* no digits */
		"   0x00000006 0x00: eax=0x1 ebx=0x2 ecx=0x3 edx=0x4\r\n"	/* CRLF is fine */
		"   0x00000006 0x00: eax=0x9 ebx=0x9 ecx=0x9 edx=0x9\n"		/* duplicate */
		"\t0x7 0x0: eax=0xA ebx=0xB ecx=0xC edx=0xD\n";			/* short hex */
	struct zpsi_cpuid_dump d;
	uint32_t r[4];

	(void)state;
	assert_int_equal(zpsi_cpuid_dump_parse(S(text), &d), 0);
	assert_int_equal(d.n, 2);
	zpsi_cpuid_dump_lookup(&d, 6, 0, r);
	assert_int_equal(r[0], 1);	/* first value wins */
	zpsi_cpuid_dump_lookup(&d, 7, 0, r);
	assert_int_equal(r[3], 0xD);
	zpsi_cpuid_dump_done(&d);

	assert_int_equal(zpsi_cpuid_dump_parse(S("CPU:\nnothing here\n"), &d), -EBADMSG);
	assert_int_equal(zpsi_cpuid_dump_parse("", 0, &d), -EBADMSG);
	/* An embedded NUL breaks the line it is in, nothing else. */
	{
		static const char nul[] = "   0x00000001 0x00: eax=0x1\0 ebx=0x2 ecx=0x3 edx=0x4\n"
					  "   0x00000002 0x00: eax=0x1 ebx=0x2 ecx=0x3 edx=0x4\n";

		assert_int_equal(zpsi_cpuid_dump_parse(nul, sizeof(nul) - 1, &d), 0);
		assert_int_equal(d.n, 1);
		assert_int_equal(d.entries[0].leaf, 2);
		zpsi_cpuid_dump_done(&d);
	}
}

static void test_dump_cap(void **state)
{
	size_t n = ZPSI_CPUID_DUMP_MAX + 10, cap = n * 80 + 1, o = 0;
	char *text = malloc(cap);
	struct zpsi_cpuid_dump d;

	(void)state;
	assert_non_null(text);
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(text + o, cap - o,
				      "   0x%08zx 0x00: eax=0x1 ebx=0x2 ecx=0x3 edx=0x4\n", i);
	assert_int_equal(zpsi_cpuid_dump_parse(text, o, &d), 0);
	assert_int_equal(d.n, ZPSI_CPUID_DUMP_MAX);
	zpsi_cpuid_dump_done(&d);
	free(text);
}

/* ---- sysctl.txt ---------------------------------------------------- */

static void test_sysctl(void **state)
{
	static const char text[] =
		"# captured with: sysctl hw.vendor hw.product kern.vm_guest\n"
		"hw.vendor=OpenBSD\n"
		"  hw.product = VMM  \n"
		"kern.vm_guest: kvm\n"
		"hw.vendor=second\n"			/* first wins */
		"bad name=x\n"				/* space in name */
		"=novalue\n"
		"no separator\n"
		"kern.url=http://x:8080/y\n"		/* first of '=' and ':' splits */
		"empty=\n";
	struct zpsi_sysctl_table t;

	(void)state;
	assert_int_equal(zpsi_sysctl_parse(S(text), &t), 0);
	assert_string_equal(zpsi_sysctl_get(&t, "hw.vendor"), "OpenBSD");
	assert_string_equal(zpsi_sysctl_get(&t, "hw.product"), "VMM");
	assert_string_equal(zpsi_sysctl_get(&t, "kern.vm_guest"), "kvm");
	assert_string_equal(zpsi_sysctl_get(&t, "kern.url"), "http://x:8080/y");
	assert_string_equal(zpsi_sysctl_get(&t, "empty"), "");
	assert_null(zpsi_sysctl_get(&t, "bad name"));
	assert_null(zpsi_sysctl_get(&t, "missing"));
	assert_int_equal(t.n, 5);
	zpsi_sysctl_table_done(&t);
}

static void test_sysctl_caps(void **state)
{
	size_t cap = (ZPSI_SYSCTL_MAX + 5) * 32 + 600, o = 0;
	char *text = malloc(cap);
	struct zpsi_sysctl_table t;

	(void)state;
	assert_non_null(text);
	o += (size_t)snprintf(text, cap, "long=");
	memset(text + o, 'v', 500);
	o += 500;
	text[o++] = '\n';
	for (unsigned i = 0; i < ZPSI_SYSCTL_MAX + 5; i++)
		o += (size_t)snprintf(text + o, cap - o, "k%u=%u\n", i, i);
	assert_int_equal(zpsi_sysctl_parse(text, o, &t), 0);
	assert_int_equal(t.n, ZPSI_SYSCTL_MAX);
	assert_int_equal(strlen(zpsi_sysctl_get(&t, "long")), ZPSI_SYSCTL_VALUE_MAX - 1);
	zpsi_sysctl_table_done(&t);
	free(text);
}

/* ---- /proc/cpuinfo ------------------------------------------------- */

static void test_cpuinfo(void **state)
{
	static const char two[] =
		"processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel Xeon\n"
		"flags\t\t: fpu vme hypervisor_x sse\n\n"
		"processor\t: 1\nvendor_id\t: GenuineIntel\nflags\t\t: fpu hypervisor\n\n";
	static const char uml[] = "processor\t: 0\nvendor_id\t: User Mode Linux\nmodel name\t: UML\n";
	static const char arm[] = "processor\t: 0\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\n";
	struct zpsi_cpuinfo ci;

	(void)state;
	assert_int_equal(zpsi_cpuinfo_parse(S(two), &ci), 0);
	assert_true(ci.has_flags);
	assert_false(ci.hypervisor_flag);	/* a token, not a prefix; CPU 0 only */
	assert_string_equal(ci.vendor_id, "GenuineIntel");
	assert_string_equal(ci.model_name, "Intel Xeon");

	assert_int_equal(zpsi_cpuinfo_parse(S(uml), &ci), 0);
	assert_string_equal(ci.vendor_id, "User Mode Linux");
	assert_false(ci.has_flags);

	assert_int_equal(zpsi_cpuinfo_parse(S(arm), &ci), 0);
	assert_false(ci.has_flags);
	assert_string_equal(ci.vendor_id, "");

	{
		char longname[300];

		memset(longname, 'x', sizeof(longname));
		memcpy(longname, "model name: ", 12);
		assert_int_equal(zpsi_cpuinfo_parse(longname, sizeof(longname), &ci), 0);
		assert_int_equal(strlen(ci.model_name), sizeof(ci.model_name) - 1);
	}
}

/* ---- SMBIOS, ACPI, Xen, values ------------------------------------- */

static void test_smbios(void **state)
{
	uint8_t t0[0x18] = { 0, 0x18 };

	(void)state;
	assert_int_equal(zpsi_smbios_vm_bit(t0, sizeof(t0)), 0);
	t0[0x13] = 0x10;
	assert_int_equal(zpsi_smbios_vm_bit(t0, sizeof(t0)), 1);
	t0[0x13] = 0xEF;
	assert_int_equal(zpsi_smbios_vm_bit(t0, sizeof(t0)), 0);
	assert_int_equal(zpsi_smbios_vm_bit(t0, 0x13), -EBADMSG);	/* too short */
	t0[1] = 0x13;	/* formatted length without extension byte 2 */
	assert_int_equal(zpsi_smbios_vm_bit(t0, sizeof(t0)), -EBADMSG);
	t0[1] = 0x18;
	t0[0] = 1;	/* type 1 is not type 0 */
	assert_int_equal(zpsi_smbios_vm_bit(t0, sizeof(t0)), -EBADMSG);
	assert_int_equal(zpsi_smbios_vm_bit(NULL, 0), -EBADMSG);
}

static void test_acpi(void **state)
{
	uint8_t h[36];
	struct zpsi_acpi_header a;

	(void)state;
	memset(h, 0, sizeof(h));
	memcpy(h, "FACP", 4);
	memcpy(h + 10, "BOCHS ", 6);
	memcpy(h + 16, "BXPC\x01   ", 8);
	memcpy(h + 28, "BXPC", 4);
	assert_int_equal(zpsi_acpi_header_parse(h, sizeof(h), &a), 0);
	assert_string_equal(a.signature, "FACP");
	assert_string_equal(a.oem_id, "BOCHS");
	assert_string_equal(a.oem_table_id, "BXPC?");
	assert_string_equal(a.creator_id, "BXPC");
	assert_int_equal(zpsi_acpi_header_parse(h, 35, &a), -EBADMSG);
}

static void test_xen(void **state)
{
	(void)state;
	assert_int_equal(zpsi_xen_features_dom0(S("00002f05\n")), 1);
	assert_int_equal(zpsi_xen_features_dom0(S("00002705\n")), 0);
	assert_int_equal(zpsi_xen_features_dom0(S("0x800")), 1);
	assert_int_equal(zpsi_xen_features_dom0(S("ffffffffffffffff")), 1);
	assert_int_equal(zpsi_xen_features_dom0(S("1ffffffffffffffff")), -EBADMSG);
	assert_int_equal(zpsi_xen_features_dom0(S("zz")), -EBADMSG);
	assert_int_equal(zpsi_xen_features_dom0(S("\n")), -EBADMSG);
	assert_int_equal(zpsi_xen_caps_dom0(S("control_d\n")), 1);
	assert_int_equal(zpsi_xen_caps_dom0(S("foo,control_d")), 1);
	assert_int_equal(zpsi_xen_caps_dom0(S("control_dx")), 0);
	assert_int_equal(zpsi_xen_caps_dom0(S("")), 0);
}

static void test_clean_value(void **state)
{
	char out[8];

	(void)state;
	assert_int_equal(zpsi_detect_clean_value(S("  QEMU \nsecond\n"), out, sizeof(out)), 4);
	assert_string_equal(out, "QEMU");
	assert_int_equal(zpsi_detect_clean_value(S("a\0b\0\0"), out, sizeof(out)), 3);
	assert_string_equal(out, "a,b");
	assert_int_equal(zpsi_detect_clean_value(S("0123456789"), out, sizeof(out)), 7);
	assert_string_equal(out, "0123456");
	assert_int_equal(zpsi_detect_clean_value(S("\n\n"), out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(zpsi_detect_clean_value(S("x"), out, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dump_first_cpu_only),
		cmocka_unit_test(test_dump_hostile_lines),
		cmocka_unit_test(test_dump_cap),
		cmocka_unit_test(test_sysctl),
		cmocka_unit_test(test_sysctl_caps),
		cmocka_unit_test(test_cpuinfo),
		cmocka_unit_test(test_smbios),
		cmocka_unit_test(test_acpi),
		cmocka_unit_test(test_xen),
		cmocka_unit_test(test_clean_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
