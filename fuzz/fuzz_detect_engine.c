/* SPDX-License-Identifier: MIT */
/*
 * fuzz_detect_engine.c - the whole detector (every signal, the decisions,
 * the JSON) over a fuzzed sysroot held in memory.
 *
 * Input: records [selector u8][length u16 LE][bytes].  Selector < count of
 * paths[] stores a file at that path; 0xFE sets the CPUID dump text, 0xFD
 * the sysctl text.  A record that does not fit ends the input.
 *
 * Checked: the answers are consistent (virtualized <=> hypervisor not
 * "none", bare_metal_cloud <=> cloud and not virtualized, a VMM only in a
 * guest, names from the published lists), every evidence entry is
 * complete, the bounds hold, and the JSON is valid printable ASCII.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "detect_fuzz_common.h"
#include "zpsi/detect.h"

static const char *const paths[] = {
	"/proc/cpuinfo",
	"/sys/class/dmi/id/sys_vendor",
	"/sys/class/dmi/id/product_name",
	"/sys/class/dmi/id/product_version",
	"/sys/class/dmi/id/bios_vendor",
	"/sys/class/dmi/id/bios_version",
	"/sys/class/dmi/id/board_vendor",
	"/sys/class/dmi/id/board_name",
	"/sys/class/dmi/id/chassis_vendor",
	"/sys/class/dmi/id/chassis_asset_tag",
	"/sys/class/dmi/id/product_serial",
	"/sys/firmware/dmi/entries/0-0/raw",
	"/sys/hypervisor/type",
	"/sys/hypervisor/uuid",
	"/sys/hypervisor/properties/features",
	"/proc/xen/capabilities",
	"/proc/sysinfo",
	"/proc/device-tree/hypervisor/compatible",
	"/proc/device-tree/compatible",
	"/proc/device-tree/psci/method",
	"/proc/device-tree/fw-cfg@9020000/compatible",
	"/proc/device-tree/ibm,partition-name",
	"/proc/device-tree/hmc-managed?",
	"/sys/firmware/acpi/tables/FACP",
	"/sys/firmware/acpi/tables/DSDT",
};

static bool in_list(const char *const *l, const char *s)
{
	for (; *l; l++)
		if (strcmp(*l, s) == 0)
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zpsi_detect_memory *m = NULL;
	struct zpsi_detect_result *r = NULL;
	char *json = NULL;
	size_t off = 0;

	CHECK(zpsi_detect_memory_new("fuzz", &m) == 0);
	while (off + 3 <= size) {
		unsigned sel = data[off];
		size_t len = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;
		const char *p = (const char *)data + off + 3;

		if (len > size - off - 3)
			break;
		if (sel < sizeof(paths) / sizeof(paths[0]))
			(void)zpsi_detect_memory_add_file(m, paths[sel], p, len);	/* dups refused */
		else if (sel == 0xFE)
			(void)zpsi_detect_memory_set_cpuid_dump(m, p, len);
		else if (sel == 0xFD)
			(void)zpsi_detect_memory_set_sysctl(m, p, len);
		off += 3 + len;
	}

	CHECK(zpsi_detect_run(zpsi_detect_memory_source(m), &r) == 0);
	CHECK(r->hypervisor && in_list(zpsi_detect_hypervisor_names(), r->hypervisor));
	CHECK(r->cloud && in_list(zpsi_detect_cloud_names(), r->cloud));
	CHECK(r->virtualized == (strcmp(r->hypervisor, "none") != 0));
	CHECK(r->bare_metal_cloud == (strcmp(r->cloud, "none") != 0 && !r->virtualized));
	CHECK(!r->vmm || (r->virtualized && in_list(zpsi_detect_vmm_names(), r->vmm)));
	CHECK(!r->xen_dom0 || !r->virtualized || strcmp(r->hypervisor, "xen") != 0);
	CHECK(r->reason[0]);
	CHECK(r->n_evidence <= ZPSI_DETECT_EVIDENCE_MAX);
	CHECK(r->n_contradictions <= ZPSI_DETECT_CONTRA_MAX);
	for (unsigned i = 0; i < r->n_evidence; i++) {
		const struct zpsi_detect_evidence *e = &r->evidence[i];

		CHECK(e->source && e->conclusion[0] && e->kind < _ZPSI_EV_MAX);
		CHECK(memchr(e->where, 0, sizeof(e->where)) && memchr(e->value, 0, sizeof(e->value)));
		if (e->kind == ZPSI_EV_HV || e->kind == ZPSI_EV_CLOUD || e->kind == ZPSI_EV_VMM)
			CHECK(e->name != NULL);
	}
	CHECK(zpsi_detect_to_json(r, &json) == 0);
	json_check(json, strlen(json));
	free(json);
	free(r);
	zpsi_detect_memory_free(m);
	return 0;
}
