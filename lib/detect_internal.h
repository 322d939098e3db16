/* SPDX-License-Identifier: MIT */
/*
 * detect_internal.h - tables and helpers shared by detect.c (signals and
 * decisions), detect_tables.c (the data) and detect_json.c (output).
 * Not installed; not an API.
 */
#ifndef ZPSI_DETECT_INTERNAL_H
#define ZPSI_DETECT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zpsi/detect.h"

/* /sys/class/dmi/id/<file> */
enum dmi_field {
	DMI_SYS_VENDOR,
	DMI_PRODUCT_NAME,
	DMI_PRODUCT_VERSION,
	DMI_BIOS_VENDOR,
	DMI_BIOS_VERSION,
	DMI_BOARD_VENDOR,
	DMI_BOARD_NAME,
	DMI_CHASSIS_VENDOR,
	DMI_CHASSIS_ASSET_TAG,
	DMI_PRODUCT_SERIAL,
	_DMI_FIELD_MAX,
	DMI_NONE = -1,
};

enum match_how {
	MATCH_EXACT,
	MATCH_PREFIX,
	MATCH_CONTAINS,
	MATCH_NOT_CONTAINS,	/* non-empty and without the pattern */
};

/* A string -> conclusion rule.  `rank` orders evidence of one kind when
 * the decision needs a single winner: lower wins (docs/detect.md). */
struct detect_rule {
	uint8_t how;		/* enum match_how */
	const char *pattern;
	uint8_t kind;		/* enum zpsi_ev_kind */
	const char *name;	/* hypervisor, cloud or VMM */
	uint8_t rank;
	const char *why;
};

struct dmi_rule {
	int8_t field;		/* enum dmi_field */
	struct detect_rule r;
	int8_t also_field;	/* DMI_NONE, or a field that must also match */
	const char *also_prefix;
};

struct acpi_rule {
	const char *oem_id;
	const char *table_prefix;	/* OEM table ID prefix, NULL = any */
	struct detect_rule r;		/* r.how/r.pattern unused */
};

struct cloud_info {
	const char *name;
	const char *default_hv;	/* what its VMs run on, when documented */
	const char *what;
};

extern const char *const detect_dmi_files[_DMI_FIELD_MAX];
extern const struct dmi_rule detect_dmi_rules[];
extern const size_t detect_dmi_rules_n;
extern const struct acpi_rule detect_acpi_rules[];
extern const size_t detect_acpi_rules_n;
extern const struct detect_rule detect_vm_guest_rules[];	/* kern.vm_guest */
extern const size_t detect_vm_guest_rules_n;
extern const struct detect_rule detect_dt_hv_rules[];		/* hypervisor/compatible */
extern const size_t detect_dt_hv_rules_n;
extern const struct detect_rule detect_cpuinfo_model_rules[];	/* model name */
extern const size_t detect_cpuinfo_model_rules_n;

bool detect_match(uint8_t how, const char *pattern, const char *value);
const struct cloud_info *detect_cloud_info(const char *name);

/* Hypervisor `decided` is consistent with a source claiming `claimed`:
 * the same, QEMU as KVM's VMM, or an interface `decided` emulates. */
bool detect_hv_explains(const char *decided, const char *claimed);

/* Hypervisors known to present `iface`'s CPUID interface (Hyper-V's,
 * KVM's) as well as their own: NULL-terminated, or NULL. */
const char *const *detect_hv_emulators(const char *iface);

/* The hypervisor a VMM always runs on, or NULL. */
const char *detect_vmm_hypervisor(const char *vmm);

/* One detection run. */
struct detect_ctx {
	const struct zpsi_detect_source *src;
	struct zpsi_detect_result *r;
	uint8_t rank[ZPSI_DETECT_EVIDENCE_MAX];	/* per evidence, lower wins */
	bool cpuinfo_flags;			/* /proc/cpuinfo had x86 flags */
	bool cpuinfo_hypervisor;
};

/* Append evidence (dropped, and counted, past ZPSI_DETECT_EVIDENCE_MAX).
 * `value` is copied (truncated); the conclusion is formatted. */
void detect_ev(struct detect_ctx *c, const char *source, const char *where, const char *value,
	       enum zpsi_ev_kind kind, const char *name, unsigned rank, const char *fmt, ...)
	__attribute__((format(printf, 8, 9)));

/* Read every signal into c->r->evidence (detect_signals.c). */
int detect_collect(struct detect_ctx *c);

#endif /* ZPSI_DETECT_INTERNAL_H */
