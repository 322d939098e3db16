/* SPDX-License-Identifier: MIT */
/*
 * test_detect_engine.c - the decision rules on in-memory inputs: the cases
 * the fixture trees do not cover (emulated interfaces resolved by sysfs,
 * clouds that never run TCG, vendor strings with and without a VM bit,
 * every contradiction), unreadable inputs, hostile file contents, and the
 * memory source's own contract.  JSON output is checked with jansson when
 * it is installed.
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
#ifdef HAVE_JANSSON
#include <jansson.h>
#endif

#include "zpsi/detect.h"

#define S(lit) (lit), (sizeof(lit) - 1)

#define CPU_INTEL_HV \
	"   0x00000000 0x00: eax=0x0000000d ebx=0x756e6547 ecx=0x6c65746e edx=0x49656e69\n" \
	"   0x00000001 0x00: eax=0x00050654 ebx=0x00020800 ecx=0xfffa3203 edx=0x1f8bfbff\n"
#define CPU_INTEL_METAL \
	"   0x00000000 0x00: eax=0x0000000d ebx=0x756e6547 ecx=0x6c65746e edx=0x49656e69\n" \
	"   0x00000001 0x00: eax=0x00050654 ebx=0x00020800 ecx=0x7ffa3203 edx=0x1f8bfbff\n"
#define HV_AT_0	"   0x40000000 0x00: eax=0x4000000b ebx=0x7263694d ecx=0x666f736f edx=0x76482074\n"
#define KVM_AT_0 "   0x40000000 0x00: eax=0x40000001 ebx=0x4b4d564b ecx=0x564b4d56 edx=0x0000004d\n"

static void json_valid(const struct zpsi_detect_result *r)
{
	char *json = NULL;

	assert_int_equal(zpsi_detect_to_json(r, &json), 0);
	assert_non_null(json);
#ifdef HAVE_JANSSON
	{
		json_error_t err;
		json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &err);

		if (!root)
			fail_msg("invalid JSON (%s at %d): %s", err.text, err.position, json);
		assert_true(json_is_array(json_object_get(root, "evidence")));
		assert_int_equal(json_array_size(json_object_get(root, "evidence")), r->n_evidence);
		json_decref(root);
	}
#endif
	free(json);
}

struct file { const char *path, *data; size_t len; };
#define F(p, lit) { p, lit, sizeof(lit) - 1 }

static struct zpsi_detect_result *detect(const char *cpuid, const char *sysctl,
					 const struct file *files, size_t n)
{
	struct zpsi_detect_memory *m = NULL;
	struct zpsi_detect_result *r = NULL;

	assert_int_equal(zpsi_detect_memory_new("test", &m), 0);
	if (cpuid)
		assert_int_equal(zpsi_detect_memory_set_cpuid_dump(m, cpuid, strlen(cpuid)), 0);
	if (sysctl)
		assert_int_equal(zpsi_detect_memory_set_sysctl(m, sysctl, strlen(sysctl)), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(zpsi_detect_memory_add_file(m, files[i].path, files[i].data, files[i].len), 0);
	assert_int_equal(zpsi_detect_run(zpsi_detect_memory_source(m), &r), 0);
	zpsi_detect_memory_free(m);
	json_valid(r);
	return r;
}

static bool has_contradiction(const struct zpsi_detect_result *r, const char *id)
{
	for (unsigned i = 0; i < r->n_contradictions; i++)
		if (strcmp(r->contradictions[i].id, id) == 0)
			return true;
	return false;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* QEMU with hv-* flags and kvm=off hides KVM: only "Microsoft Hv" is left,
 * and QEMU offers Hyper-V enlightenments only with KVM. */
static void test_hyperv_iface_on_qemu_is_kvm(void **state)
{
	static const struct file f[] = { F("/sys/class/dmi/id/sys_vendor", "QEMU\n") };
	struct zpsi_detect_result *r = detect(CPU_INTEL_HV HV_AT_0, NULL, f, N(f));

	(void)state;
	assert_string_equal(r->hypervisor, "kvm");
	assert_int_equal(r->n_contradictions, 0);
	free(r);
}

/* Xen with Viridian whose Xen block is not visible, but sysfs is. */
static void test_hyperv_iface_on_xen_sysfs(void **state)
{
	static const struct file f[] = { F("/sys/hypervisor/type", "xen\n") };
	struct zpsi_detect_result *r = detect(CPU_INTEL_HV HV_AT_0, NULL, f, N(f));

	(void)state;
	assert_string_equal(r->hypervisor, "xen");
	assert_true(r->virtualized);
	free(r);
}

static void test_real_hyperv(void **state)
{
	static const struct file f[] = {
		F("/sys/class/dmi/id/sys_vendor", "Microsoft Corporation\n"),
		F("/sys/class/dmi/id/product_name", "Virtual Machine\n"),
	};
	struct zpsi_detect_result *r = detect(CPU_INTEL_HV HV_AT_0, NULL, f, N(f));

	(void)state;
	assert_string_equal(r->hypervisor, "microsoft");
	assert_int_equal(r->n_contradictions, 0);
	free(r);
}

static void test_kvm_iface_on_parallels(void **state)
{
	static const struct file f[] = {
		F("/sys/class/dmi/id/sys_vendor", "Parallels International GmbH.\n"),
	};
	struct zpsi_detect_result *r = detect(CPU_INTEL_HV KVM_AT_0, NULL, f, N(f));

	(void)state;
	assert_string_equal(r->hypervisor, "parallels");
	free(r);
}

/* OCI Ampere: no CPUID, QEMU's DMI; a cloud runs KVM, not TCG. */
static void test_cloud_qemu_is_kvm(void **state)
{
	static const struct file f[] = {
		F("/sys/class/dmi/id/sys_vendor", "QEMU\n"),
		F("/sys/class/dmi/id/product_name", "KVM Virtual Machine\n"),
		F("/sys/class/dmi/id/chassis_asset_tag", "OracleCloud.com\n"),
	};
	static const struct file g[] = {
		F("/sys/class/dmi/id/sys_vendor", "QEMU\n"),
		F("/sys/class/dmi/id/chassis_asset_tag", "OracleCloud.com\n"),
	};
	struct zpsi_detect_result *r = detect(NULL, NULL, f, N(f));

	(void)state;
	assert_string_equal(r->hypervisor, "kvm");	/* "KVM" product wins */
	assert_string_equal(r->cloud, "oracle-cloud");
	free(r);
	r = detect(NULL, NULL, g, N(g));
	assert_string_equal(r->hypervisor, "kvm");	/* QEMU on a cloud is KVM */
	assert_string_equal(r->vmm, "qemu");
	free(r);
}

/* A vendor string alone never makes a VM; with the SMBIOS bit it names it. */
static void test_vendor_needs_agreement(void **state)
{
	static const uint8_t smbios_vm[0x18] = { 0, 0x18, [0x13] = 0x10 };
	struct file f[] = {
		F("/sys/class/dmi/id/sys_vendor", "Microsoft Corporation\n"),
		{ "/sys/firmware/dmi/entries/0-0/raw", (const char *)smbios_vm, sizeof(smbios_vm) },
	};
	struct zpsi_detect_result *r = detect(NULL, NULL, f, 1);

	(void)state;
	assert_false(r->virtualized);
	assert_string_equal(r->hypervisor, "none");
	free(r);
	r = detect(NULL, NULL, f, 2);
	assert_true(r->virtualized);
	assert_string_equal(r->hypervisor, "microsoft");
	free(r);
	/* With CPUID and its bit clear, the VM bit still wins, but it is a
	 * contradiction worth showing. */
	r = detect(CPU_INTEL_METAL, NULL, f, 2);
	assert_string_equal(r->hypervisor, "microsoft");
	assert_true(has_contradiction(r, "hidden-hypervisor-bit"));
	free(r);
}

static void test_contradictions(void **state)
{
	static const struct file metal[] = {
		F("/sys/class/dmi/id/sys_vendor", "Amazon EC2\n"),
		F("/sys/class/dmi/id/product_name", "m5.metal\n"),
	};
	static const struct file clouds[] = {
		F("/sys/class/dmi/id/sys_vendor", "Google\n"),
		F("/sys/class/dmi/id/chassis_asset_tag", "7783-7084-3265-9085-8269-3286-77\n"),
	};
	static const struct file cpuinfo[] = {
		F("/proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu hypervisor\n"),
	};
	struct zpsi_detect_result *r;

	(void)state;
	r = detect(CPU_INTEL_HV KVM_AT_0, NULL, metal, N(metal));
	assert_string_equal(r->hypervisor, "kvm");
	assert_false(r->bare_metal_cloud);
	assert_true(has_contradiction(r, "metal-vs-virtual"));
	free(r);

	r = detect(CPU_INTEL_HV KVM_AT_0, NULL, clouds, N(clouds));
	assert_string_equal(r->cloud, "azure");	/* the asset tag ranks first */
	assert_true(has_contradiction(r, "cloud-mismatch"));
	free(r);

	r = detect(CPU_INTEL_METAL, NULL, cpuinfo, N(cpuinfo));
	assert_true(has_contradiction(r, "cpuinfo-vs-cpuid"));
	free(r);
}

/* kern.vm_guest and hw.vendor/hw.product, as OpenBSD and FreeBSD give them. */
static void test_sysctl_sources(void **state)
{
	struct zpsi_detect_result *r;

	(void)state;
	r = detect(NULL, "kern.vm_guest=hv\n", NULL, 0);
	assert_string_equal(r->hypervisor, "microsoft");
	free(r);
	r = detect(NULL, "kern.vm_guest=none\n", NULL, 0);
	assert_string_equal(r->hypervisor, "none");
	free(r);
	r = detect(NULL, "kern.vm_guest=somethingnew\n", NULL, 0);
	assert_string_equal(r->hypervisor, "vm-other");
	free(r);
	r = detect(NULL, "hw.vendor=QEMU\nhw.product=Standard PC (Q35 + ICH9, 2009)\n", NULL, 0);
	assert_string_equal(r->hypervisor, "qemu");
	free(r);
}

/* Every input full of hostile bytes: no crash, valid JSON, bounded. */
static void test_hostile_files(void **state)
{
	static const char *const paths[] = {
		"/proc/cpuinfo", "/sys/class/dmi/id/sys_vendor", "/sys/class/dmi/id/product_name",
		"/sys/class/dmi/id/chassis_asset_tag", "/sys/firmware/dmi/entries/0-0/raw",
		"/sys/hypervisor/type", "/sys/hypervisor/uuid", "/sys/hypervisor/properties/features",
		"/proc/xen/capabilities", "/proc/sysinfo", "/proc/device-tree/hypervisor/compatible",
		"/proc/device-tree/compatible", "/proc/device-tree/psci/method",
		"/sys/firmware/acpi/tables/FACP",
	};
	struct zpsi_detect_memory *m = NULL;
	struct zpsi_detect_result *r = NULL;
	char junk[600];

	(void)state;
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 37 + 11);	/* every byte value, quotes, NULs */
	memcpy(junk, "VM00 Control Program:\"\\\n", 24);
	assert_int_equal(zpsi_detect_memory_new("hostile\"\\\x01", &m), 0);
	for (size_t i = 0; i < N(paths); i++)
		assert_int_equal(zpsi_detect_memory_add_file(m, paths[i], junk, sizeof(junk)), 0);
	assert_int_equal(zpsi_detect_memory_add_file(m, "/proc/device-tree/fw-cfg\"@1/x", "", 0), 0);
	assert_int_equal(zpsi_detect_run(zpsi_detect_memory_source(m), &r), 0);
	assert_true(r->n_evidence <= ZPSI_DETECT_EVIDENCE_MAX);
	json_valid(r);
	free(r);
	zpsi_detect_memory_free(m);
}

/* An unreadable input is evidence, not an error. */
struct deny_ctx {
	const struct zpsi_detect_source *inner;
};

static int deny_read(void *ctx, const char *path, size_t max, char **ret, size_t *len)
{
	const struct deny_ctx *d = ctx;

	if (strstr(path, "/raw") || strstr(path, "product_serial"))
		return -EACCES;
	return d->inner->read_file(d->inner->ctx, path, max, ret, len);
}

static int deny_list(void *ctx, const char *path, size_t max, char ***ret)
{
	const struct deny_ctx *d = ctx;

	return d->inner->list_dir(d->inner->ctx, path, max, ret);
}

static void test_unreadable_inputs(void **state)
{
	struct zpsi_detect_memory *m = NULL;
	struct zpsi_detect_result *r = NULL;
	struct deny_ctx d;
	struct zpsi_detect_source src;
	bool seen = false;

	(void)state;
	assert_int_equal(zpsi_detect_memory_new("deny", &m), 0);
	assert_int_equal(zpsi_detect_memory_add_file(m, "/sys/firmware/dmi/entries/0-0/raw", "x", 1), 0);
	assert_int_equal(zpsi_detect_memory_add_file(m, "/sys/class/dmi/id/sys_vendor", S("Amazon EC2\n")), 0);
	assert_int_equal(zpsi_detect_memory_add_file(m, "/sys/class/dmi/id/product_name", S("m6g.large\n")), 0);
	d.inner = zpsi_detect_memory_source(m);
	src = *d.inner;
	src.ctx = &d;
	src.read_file = deny_read;
	src.list_dir = deny_list;
	src.sysctl = NULL;
	assert_int_equal(zpsi_detect_run(&src, &r), 0);
	for (unsigned i = 0; i < r->n_evidence; i++)
		if (r->evidence[i].kind == ZPSI_EV_IGNORED && strstr(r->evidence[i].where, "/raw"))
			seen = strstr(r->evidence[i].conclusion, "root") != NULL;
	assert_true(seen);
	/* Without the SMBIOS bit, the instance type still says a Nitro VM. */
	assert_string_equal(r->hypervisor, "kvm");
	assert_string_equal(r->cloud, "aws");
	json_valid(r);
	free(r);
	zpsi_detect_memory_free(m);
	assert_int_equal(zpsi_detect_run(NULL, &r), -EINVAL);
}

static void test_memory_source_contract(void **state)
{
	struct zpsi_detect_memory *m = NULL;
	const struct zpsi_detect_source *s;
	char *buf = NULL, **names = NULL;
	size_t len;

	(void)state;
	assert_int_equal(zpsi_detect_memory_new(NULL, &m), 0);
	assert_int_equal(zpsi_detect_memory_add_file(m, "relative", "", 0), -EINVAL);
	assert_int_equal(zpsi_detect_memory_add_file(m, "/", "", 0), -EINVAL);
	assert_int_equal(zpsi_detect_memory_add_file(m, "/a/../b", "", 0), -EINVAL);
	assert_int_equal(zpsi_detect_memory_add_file(m, "/a//b", "", 0), -EINVAL);
	assert_int_equal(zpsi_detect_memory_add_file(m, "/a/", "", 0), -EINVAL);
	assert_int_equal(zpsi_detect_memory_add_file(m, "/a/./b", "", 0), -EINVAL);
	assert_int_equal(zpsi_detect_memory_add_file(m, "/d/x", S("hello")), 0);
	assert_int_equal(zpsi_detect_memory_add_file(m, "/d/y/z", "", 0), 0);
	assert_int_equal(zpsi_detect_memory_add_file(m, "/d/x", "", 0), -EEXIST);
	assert_int_equal(zpsi_detect_memory_add_file(m, "/d", "", 0), -EEXIST);	/* a directory */
	assert_int_equal(zpsi_detect_memory_add_file(m, "/d/x/w", "", 0), -EEXIST);	/* under a file */
	assert_int_equal(zpsi_detect_memory_add_file(m, "/big", NULL, ZPSI_DETECT_MEMORY_BYTES + 1), -E2BIG);
	assert_int_equal(zpsi_detect_memory_set_cpuid_dump(m, S("no cpuid here")), -EBADMSG);
	s = zpsi_detect_memory_source(m);
	assert_null(s->cpuid);

	assert_int_equal(s->read_file(s->ctx, "/d/x", 3, &buf, &len), 0);
	assert_int_equal(len, 3);
	assert_string_equal(buf, "hel");
	free(buf);
	assert_int_equal(s->read_file(s->ctx, "/d", 10, &buf, &len), -EISDIR);
	assert_int_equal(s->read_file(s->ctx, "/nope", 10, &buf, &len), -ENOENT);
	assert_int_equal(s->list_dir(s->ctx, "/d", 10, &names), 0);
	assert_string_equal(names[0], "x");
	assert_string_equal(names[1], "y");
	assert_null(names[2]);
	zpsi_strv_free(names);
	assert_int_equal(s->list_dir(s->ctx, "/d", 1, &names), 0);
	assert_null(names[1]);	/* capped */
	zpsi_strv_free(names);
	assert_int_equal(s->list_dir(s->ctx, "/", 10, &names), 0);
	assert_string_equal(names[0], "d");
	assert_null(names[1]);
	zpsi_strv_free(names);
	assert_int_equal(s->list_dir(s->ctx, "/d/x", 10, &names), -ENOTDIR);
	assert_int_equal(s->list_dir(s->ctx, "/e", 10, &names), -ENOENT);
	zpsi_detect_memory_free(m);
}

static void test_names(void **state)
{
	const char *const *hv = zpsi_detect_hypervisor_names();
	const char *const *cl = zpsi_detect_cloud_names();
	size_t n = 0;

	(void)state;
	for (; *hv; hv++)
		n += strcmp(*hv, "none") == 0 || strcmp(*hv, "vm-other") == 0;
	assert_int_equal(n, 2);
	for (n = 0; cl[n]; n++)
		;
	assert_true(n >= 10);
	assert_string_equal(cl[n - 1], "none");
	assert_string_equal(zpsi_detect_ev_kind_name(ZPSI_EV_HV_WEAK), "vendor-only");
	assert_string_equal(zpsi_detect_ev_kind_name(_ZPSI_EV_MAX), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hyperv_iface_on_qemu_is_kvm),
		cmocka_unit_test(test_hyperv_iface_on_xen_sysfs),
		cmocka_unit_test(test_real_hyperv),
		cmocka_unit_test(test_kvm_iface_on_parallels),
		cmocka_unit_test(test_cloud_qemu_is_kvm),
		cmocka_unit_test(test_vendor_needs_agreement),
		cmocka_unit_test(test_contradictions),
		cmocka_unit_test(test_sysctl_sources),
		cmocka_unit_test(test_hostile_files),
		cmocka_unit_test(test_unreadable_inputs),
		cmocka_unit_test(test_memory_source_contract),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
