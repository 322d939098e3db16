/* SPDX-License-Identifier: MIT */
/*
 * detect_signals.c - read every input the detector knows and turn each into
 * evidence: CPUID blocks, /proc/cpuinfo, DMI, the SMBIOS VM bit, Xen's
 * sysfs and procfs files, the device tree, s390 sysinfo, sysctl values
 * and ACPI table headers.  Nothing here decides; detect.c does.
 *
 * An absent file adds nothing; an unreadable one adds IGNORED evidence so
 * the JSON says what could not be seen (most often: not root).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "detect_internal.h"
#include "zpsi/util.h"

#define VALUE_READ_MAX	4096u
#define CPUINFO_MAX	(256u << 10)	/* the first processor's block is early */
#define SYSINFO_MAX	(64u << 10)
#define DT_NAMES_MAX	1024u

/* The first line of a small file, cleaned; 0, or -errno from the source. */
static int read_value(struct detect_ctx *c, const char *path, char *out, size_t size)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r;

	r = c->src->read_file(c->src->ctx, path, VALUE_READ_MAX, &buf, &len);
	if (r < 0)
		return r;
	zpsi_detect_clean_value(buf, len, out, size);
	return 0;
}

static void unreadable(struct detect_ctx *c, const char *source, const char *path, int err)
{
	detect_ev(c, source, path, "", ZPSI_EV_IGNORED, NULL, 99, "unreadable (%s)%s",
		  strerror(-err), err == -EACCES ? ": run as root to use it" : "");
}

/* ---- CPUID ---------------------------------------------------------- */

static void signals_cpuid(struct detect_ctx *c)
{
	struct zpsi_cpuid_info *ci = &c->r->cpuid;
	char where[32], value[64];

	if (!c->src->cpuid)
		return;
	c->r->have_cpuid = true;
	zpsi_cpuid_scan(c->src->cpuid, c->src->cpuid_ctx, ci);

	/* Old kvmtool replaced the CPU vendor itself (virt-what knows it). */
	if (strcmp(ci->vendor, "LKVMLKVMLKVM") == 0) {
		detect_ev(c, "cpuid", "0x00000000", ci->vendor, ZPSI_EV_HV, "kvm", 2,
			  "kvmtool's CPU vendor string: a KVM guest");
		detect_ev(c, "cpuid", "0x00000000", ci->vendor, ZPSI_EV_VMM, "kvmtool", 2,
			  "kvmtool's CPU vendor string");
	} else {
		detect_ev(c, "cpuid", "0x00000000", ci->vendor, ZPSI_EV_INFO, NULL, 99,
			  "CPU vendor; highest basic leaf 0x%x", ci->max_basic_leaf);
	}
	detect_ev(c, "cpuid", "0x00000001 ECX[31]", ci->hypervisor_bit ? "1" : "0",
		  ci->hypervisor_bit ? ZPSI_EV_VM : ZPSI_EV_INFO, NULL, 1, "%s",
		  ci->hypervisor_bit ? "hypervisor-present bit set: a guest" :
				       "hypervisor-present bit clear: no hypervisor announces itself");

	for (uint32_t i = 0; i < ci->n_blocks; i++) {
		const struct zpsi_cpuid_block *b = &ci->stack[i];

		snprintf(where, sizeof(where), "0x%08x", b->base);
		snprintf(value, sizeof(value), "%s (max leaf 0x%08x)", b->signature, b->max_leaf);
		if ((int)i == ci->outer)
			detect_ev(c, "cpuid", where, value, ZPSI_EV_HV, b->name, 1,
				  "outermost known hypervisor (highest base with a known signature): %s",
				  b->what);
		else if (b->kind == ZPSI_CPUID_BLOCK_HYPERVISOR)
			detect_ev(c, "cpuid", where, value, ZPSI_EV_INFO, b->name, 99,
				  "inner interface in the stack: %s", b->what);
		else if (b->kind == ZPSI_CPUID_BLOCK_PSI && ci->psi.present && ci->psi.base == b->base)
			detect_ev(c, "cpuid", where, value, ZPSI_EV_INFO, NULL, 99,
				  "PSI interface: ABI version %u, features 0x%x, doorbell port 0x%x",
				  ci->psi.abi_version, ci->psi.features, ci->psi.doorbell_port);
		else if (b->kind == ZPSI_CPUID_BLOCK_PSI)
			detect_ev(c, "cpuid", where, value, ZPSI_EV_IGNORED, NULL, 99,
				  "PSI signature without a usable info leaf (needs the present bit, "
				  "max leaf >= base+1 and a non-zero version)");
		else
			detect_ev(c, "cpuid", where, value, ZPSI_EV_VM, NULL, 3,
				  "valid block with an unknown signature: some hypervisor");
	}
	if (ci->rejected) {
		snprintf(value, sizeof(value), "%u base(s)", ci->rejected);
		detect_ev(c, "cpuid", "0x40000000..0x4000ff00", value, ZPSI_EV_IGNORED, NULL, 99,
			  "non-zero leaves that fail the block rule (max leaf outside [base, base+0xff] "
			  "or unprintable signature): garbage, as CPUs return past their range");
	}
	if (ci->dropped) {
		snprintf(value, sizeof(value), "%u block(s)", ci->dropped);
		detect_ev(c, "cpuid", "0x40000000..0x4000ff00", value, ZPSI_EV_INFO, NULL, 99,
			  "valid blocks beyond the %u kept", ZPSI_CPUID_STACK_MAX);
	}
}

/* ---- /proc/cpuinfo -------------------------------------------------- */

static void signals_cpuinfo(struct detect_ctx *c)
{
	static const char path[] = "/proc/cpuinfo";
	_cleanup_free_ char *buf = NULL;
	struct zpsi_cpuinfo ci;
	unsigned before = c->r->n_evidence;
	size_t len;
	int r;

	r = c->src->read_file(c->src->ctx, path, CPUINFO_MAX, &buf, &len);
	if (r < 0) {
		if (r != -ENOENT)
			unreadable(c, "cpuinfo", path, r);
		return;
	}
	zpsi_cpuinfo_parse(buf, len, &ci);
	if (strncmp(ci.vendor_id, "User Mode Linux", 15) == 0)
		detect_ev(c, "cpuinfo", path, ci.vendor_id, ZPSI_EV_HV, "uml", 0,
			  "User-Mode Linux: the kernel is a process (innermost layer)");
	if (ci.has_flags) {
		c->cpuinfo_flags = true;
		c->cpuinfo_hypervisor = ci.hypervisor_flag;
		detect_ev(c, "cpuinfo", "/proc/cpuinfo flags", ci.hypervisor_flag ? "hypervisor" : "",
			  ci.hypervisor_flag ? ZPSI_EV_VM : ZPSI_EV_INFO, NULL, 5, "%s",
			  ci.hypervisor_flag ? "the kernel saw CPUID.1:ECX[31]: a guest" :
					       "no 'hypervisor' flag");
	}
	for (size_t i = 0; i < detect_cpuinfo_model_rules_n; i++) {
		const struct detect_rule *rule = &detect_cpuinfo_model_rules[i];

		if (detect_match(rule->how, rule->pattern, ci.model_name))
			detect_ev(c, "cpuinfo", "/proc/cpuinfo model name", ci.model_name, rule->kind,
				  rule->name, rule->rank, "%s", rule->why);
	}
	if (c->r->n_evidence == before)
		detect_ev(c, "cpuinfo", path, ci.vendor_id[0] ? ci.vendor_id : ci.model_name,
			  ZPSI_EV_INFO, NULL, 99, "CPU identification only");
}

/* ---- DMI (and OpenBSD's hw.vendor / hw.product) --------------------- */

/* Apply the DMI rules to values[] (NULL = absent); where[] names them. */
static void apply_dmi_rules(struct detect_ctx *c, const char *source,
			    const char *const values[_DMI_FIELD_MAX],
			    const char *const where[_DMI_FIELD_MAX])
{
	bool matched[_DMI_FIELD_MAX] = { false };

	for (size_t i = 0; i < detect_dmi_rules_n; i++) {
		const struct dmi_rule *d = &detect_dmi_rules[i];
		const char *v = values[d->field];

		if (!v || !detect_match(d->r.how, d->r.pattern, v))
			continue;
		if (d->also_field != DMI_NONE &&
		    (!values[d->also_field] ||
		     strncmp(values[d->also_field], d->also_prefix, strlen(d->also_prefix)) != 0))
			continue;
		matched[d->field] = true;
		detect_ev(c, source, where[d->field], v, d->r.kind, d->r.name, d->r.rank, "%s", d->r.why);
	}
	for (int f = 0; f < _DMI_FIELD_MAX; f++)
		if (values[f] && !matched[f])
			detect_ev(c, source, where[f], values[f], ZPSI_EV_INFO, NULL, 99,
				  "no rule: neither a hypervisor nor a cloud string");
}

static void signals_dmi(struct detect_ctx *c)
{
	char vals[_DMI_FIELD_MAX][128];
	char paths[_DMI_FIELD_MAX][64];
	const char *values[_DMI_FIELD_MAX] = { NULL };
	const char *where[_DMI_FIELD_MAX];

	for (int f = 0; f < _DMI_FIELD_MAX; f++) {
		int r;

		snprintf(paths[f], sizeof(paths[f]), "/sys/class/dmi/id/%s", detect_dmi_files[f]);
		where[f] = paths[f];
		r = read_value(c, paths[f], vals[f], sizeof(vals[f]));
		if (r == -EACCES && f == DMI_PRODUCT_SERIAL)
			continue;	/* root-only, and only a hint anyway */
		if (r < 0) {
			if (r != -ENOENT)
				unreadable(c, "dmi", paths[f], r);
			continue;
		}
		if (vals[f][0])
			values[f] = vals[f];
	}
	apply_dmi_rules(c, "dmi", values, where);
}

static void signals_smbios(struct detect_ctx *c)
{
	static const char path[] = "/sys/firmware/dmi/entries/0-0/raw";
	_cleanup_free_ char *buf = NULL;
	char value[32];
	size_t len;
	int r;

	r = c->src->read_file(c->src->ctx, path, VALUE_READ_MAX, &buf, &len);
	if (r < 0) {
		if (r != -ENOENT)
			unreadable(c, "smbios", path, r);
		return;
	}
	r = zpsi_smbios_vm_bit((const uint8_t *)buf, len);
	if (r < 0) {
		detect_ev(c, "smbios", path, "", ZPSI_EV_IGNORED, NULL, 99,
			  "not an SMBIOS type 0 structure with extension byte 2");
		return;
	}
	snprintf(value, sizeof(value), "ext byte 2 = 0x%02x", (unsigned char)buf[0x13]);
	if (r)
		detect_ev(c, "smbios", path, value, ZPSI_EV_VM, NULL, 30,
			  "BIOS characteristics say 'system is a virtual machine' (DSP0134 7.1.2.2)");
	else
		detect_ev(c, "smbios", path, value, ZPSI_EV_INFO, NULL, 99,
			  "VM bit clear; many hypervisors leave it clear, so not proof of bare metal");
}

/* ---- Xen, s390 ------------------------------------------------------ */

static void signals_xen(struct detect_ctx *c)
{
	char type[64], v[128];
	_cleanup_free_ char *caps = NULL;
	char **names = NULL;
	size_t len;
	int r;

	r = read_value(c, "/sys/hypervisor/type", type, sizeof(type));
	if (r == 0 && strcmp(type, "xen") == 0)
		detect_ev(c, "sysfs", "/sys/hypervisor/type", type, ZPSI_EV_HV, "xen", 10,
			  "the kernel's Xen hypervisor interface");
	else if (r == 0 && type[0])
		detect_ev(c, "sysfs", "/sys/hypervisor/type", type, ZPSI_EV_VM, NULL, 10,
			  "the kernel reports a hypervisor it does not call Xen");
	else
		type[0] = 0;

	if (strcmp(type, "xen") == 0 &&
	    read_value(c, "/sys/hypervisor/properties/features", v, sizeof(v)) == 0) {
		r = zpsi_xen_features_dom0(v, strlen(v));
		if (r >= 0)
			detect_ev(c, "sysfs", "/sys/hypervisor/properties/features", v,
				  r ? ZPSI_EV_DOM0 : ZPSI_EV_INFO, NULL, 10, "%s",
				  r ? "XENFEAT_dom0 set: the Xen control domain" : "XENFEAT_dom0 clear: a domU");
	}
	if (read_value(c, "/sys/hypervisor/uuid", v, sizeof(v)) == 0 && strncasecmp(v, "ec2", 3) == 0)
		detect_ev(c, "sysfs", "/sys/hypervisor/uuid", v, ZPSI_EV_CLOUD, "aws", 15,
			  "EC2 Xen instances have UUIDs starting with ec2");

	r = c->src->read_file(c->src->ctx, "/proc/xen/capabilities", VALUE_READ_MAX, &caps, &len);
	if (r == 0) {
		char shown[128];

		zpsi_detect_clean_value(caps, len, shown, sizeof(shown));
		if (zpsi_xen_caps_dom0(caps, len) == 1)
			detect_ev(c, "procfs", "/proc/xen/capabilities", shown, ZPSI_EV_DOM0, NULL, 10,
				  "control_d: the Xen control domain (dom0)");
		else
			detect_ev(c, "procfs", "/proc/xen/capabilities", shown, ZPSI_EV_HV, "xen", 11,
				  "xenfs without control_d: a Xen domU");
	} else if (c->src->list_dir(c->src->ctx, "/proc/xen", 16, &names) == 0) {
		zpsi_strv_free(names);
		detect_ev(c, "procfs", "/proc/xen", "", ZPSI_EV_HV, "xen", 11,
			  "xenfs is mounted: a Xen domain");
	}
}

static void signals_sysinfo(struct detect_ctx *c)
{
	static const char key[] = "VM00 Control Program:";
	_cleanup_free_ char *buf = NULL;
	char v[64];
	const char *p;
	size_t len;

	if (c->src->read_file(c->src->ctx, "/proc/sysinfo", SYSINFO_MAX, &buf, &len) < 0)
		return;
	p = strstr(buf, key);	/* buf is NUL-terminated; an embedded NUL just ends it */
	if (!p)
		return;
	p += sizeof(key) - 1;
	zpsi_detect_clean_value(p, len - (size_t)(p - buf), v, sizeof(v));
	if (strncmp(v, "z/VM", 4) == 0)
		detect_ev(c, "procfs", "/proc/sysinfo", v, ZPSI_EV_HV, "zvm", 20, "IBM z/VM guest");
	else if (v[0])
		detect_ev(c, "procfs", "/proc/sysinfo", v, ZPSI_EV_HV, "kvm", 20,
			  "s390 control program other than z/VM: KVM (as systemd)");
}

/* ---- device tree ---------------------------------------------------- */

static bool dt_exists(struct detect_ctx *c, const char *path)
{
	_cleanup_free_ char *buf = NULL;
	char **names = NULL;
	size_t len;

	if (c->src->read_file(c->src->ctx, path, 16, &buf, &len) == 0)
		return true;
	if (c->src->list_dir(c->src->ctx, path, 1, &names) == 0) {
		zpsi_strv_free(names);
		return true;
	}
	return false;
}

static void signals_dt(struct detect_ctx *c)
{
	char v[128];
	char **names = NULL;
	bool fw_cfg = false;

	if (read_value(c, "/proc/device-tree/hypervisor/compatible", v, sizeof(v)) == 0) {
		size_t i;

		for (i = 0; i < detect_dt_hv_rules_n; i++) {
			const struct detect_rule *rule = &detect_dt_hv_rules[i];

			if (detect_match(rule->how, rule->pattern, v)) {
				detect_ev(c, "device-tree", "/proc/device-tree/hypervisor/compatible", v,
					  rule->kind, rule->name, rule->rank, "%s", rule->why);
				break;
			}
		}
		if (i == detect_dt_hv_rules_n)
			detect_ev(c, "device-tree", "/proc/device-tree/hypervisor/compatible", v,
				  ZPSI_EV_VM, NULL, 20, "a hypervisor node we do not know");
	}
	if (c->src->list_dir(c->src->ctx, "/proc/device-tree", DT_NAMES_MAX, &names) == 0) {
		for (char **n = names; *n; n++)
			if (strstr(*n, "fw-cfg")) {
				char where[96];

				snprintf(where, sizeof(where), "/proc/device-tree/%.60s", *n);
				detect_ev(c, "device-tree", where, *n, ZPSI_EV_HV, "qemu", 60,
					  "QEMU's fw-cfg device (as systemd)");
				detect_ev(c, "device-tree", where, *n, ZPSI_EV_VMM, "qemu", 60,
					  "QEMU's fw-cfg device");
				fw_cfg = true;
				break;
			}
		zpsi_strv_free(names);
	}
	if (read_value(c, "/proc/device-tree/compatible", v, sizeof(v)) == 0) {
		if (strstr(v, "linux,dummy-virt")) {
			detect_ev(c, "device-tree", "/proc/device-tree/compatible", v, ZPSI_EV_VM, NULL, 60,
				  "the generic virtual board of VMMs");
			if (!fw_cfg)
				detect_ev(c, "device-tree", "/proc/device-tree/compatible", v, ZPSI_EV_HV_WEAK,
					  "kvm", 65, "dummy-virt without fw-cfg is not QEMU; the other VMMs "
					  "building it (Firecracker, Cloud Hypervisor, crosvm, kvmtool) run on KVM");
		} else if (strcmp(v, "qemu,pseries") == 0) {
			detect_ev(c, "device-tree", "/proc/device-tree/compatible", v, ZPSI_EV_HV, "qemu", 60,
				  "QEMU's pSeries machine");
		}
	}
	if (read_value(c, "/proc/device-tree/psci/method", v, sizeof(v)) == 0 && strcmp(v, "hvc") == 0)
		detect_ev(c, "device-tree", "/proc/device-tree/psci/method", v, ZPSI_EV_VM, NULL, 62,
			  "PSCI through HVC: firmware calls go to a hypervisor at EL2");
	if (dt_exists(c, "/proc/device-tree/ibm,partition-name") &&
	    dt_exists(c, "/proc/device-tree/hmc-managed?") &&
	    !dt_exists(c, "/proc/device-tree/chosen/qemu,graphic-width"))
		detect_ev(c, "device-tree", "/proc/device-tree/ibm,partition-name", "", ZPSI_EV_HV,
			  "powervm", 20, "an HMC-managed LPAR (as systemd)");
}

/* ---- sysctl (OpenBSD, FreeBSD) -------------------------------------- */

static void signals_sysctl(struct detect_ctx *c)
{
	_cleanup_free_ char *guest = NULL, *vendor = NULL, *product = NULL;
	const char *values[_DMI_FIELD_MAX] = { NULL };
	const char *where[_DMI_FIELD_MAX] = { NULL };

	if (!c->src->sysctl)
		return;
	if (c->src->sysctl(c->src->ctx, "kern.vm_guest", &guest) == 0) {
		size_t i;

		for (i = 0; i < detect_vm_guest_rules_n; i++) {
			const struct detect_rule *rule = &detect_vm_guest_rules[i];

			if (detect_match(rule->how, rule->pattern, guest)) {
				detect_ev(c, "sysctl", "kern.vm_guest", guest, rule->kind, rule->name,
					  rule->rank, "%s", rule->why);
				break;
			}
		}
		if (i == detect_vm_guest_rules_n)
			detect_ev(c, "sysctl", "kern.vm_guest", guest, ZPSI_EV_VM, NULL, 30,
				  "a kern.vm_guest value we do not know, other than none");
	}
	/* OpenBSD: hw.vendor and hw.product are the SMBIOS system strings. */
	if (c->src->sysctl(c->src->ctx, "hw.vendor", &vendor) == 0 && vendor[0]) {
		values[DMI_SYS_VENDOR] = vendor;
		where[DMI_SYS_VENDOR] = "hw.vendor";
	}
	if (c->src->sysctl(c->src->ctx, "hw.product", &product) == 0 && product[0]) {
		values[DMI_PRODUCT_NAME] = product;
		where[DMI_PRODUCT_NAME] = "hw.product";
	}
	apply_dmi_rules(c, "sysctl", values, where);
}

/* ---- ACPI ----------------------------------------------------------- */

static void signals_acpi(struct detect_ctx *c)
{
	static const char *const tables[] = {
		"/sys/firmware/acpi/tables/FACP", "/sys/firmware/acpi/tables/DSDT",
	};

	for (size_t t = 0; t < ZPSI_ARRAY_SIZE(tables); t++) {
		_cleanup_free_ char *buf = NULL;
		struct zpsi_acpi_header h;
		bool matched = false;
		char v[64];
		size_t len;
		int r;

		r = c->src->read_file(c->src->ctx, tables[t], 36, &buf, &len);
		if (r == -ENOENT)
			continue;
		if (r < 0) {
			unreadable(c, "acpi", tables[t], r);
			continue;
		}
		if (zpsi_acpi_header_parse((const uint8_t *)buf, len, &h) < 0) {
			detect_ev(c, "acpi", tables[t], "", ZPSI_EV_IGNORED, NULL, 99,
				  "shorter than an ACPI table header");
			continue;
		}
		snprintf(v, sizeof(v), "%s %s %s", h.oem_id, h.oem_table_id, h.creator_id);
		for (size_t i = 0; i < detect_acpi_rules_n; i++) {
			const struct acpi_rule *a = &detect_acpi_rules[i];

			if (strcmp(h.oem_id, a->oem_id) != 0 ||
			    (a->table_prefix && strncmp(h.oem_table_id, a->table_prefix,
							strlen(a->table_prefix)) != 0))
				continue;
			matched = true;
			detect_ev(c, "acpi", tables[t], v, a->r.kind, a->r.name, a->r.rank, "%s", a->r.why);
		}
		if (!matched)
			detect_ev(c, "acpi", tables[t], v, ZPSI_EV_INFO, NULL, 99,
				  "ACPI OEM ID with no rule (a hardware vendor's)");
		return;	/* one table says it all: the VMM writes them all alike */
	}
}

int detect_collect(struct detect_ctx *c)
{
	signals_cpuid(c);
	signals_cpuinfo(c);
	signals_dmi(c);
	signals_smbios(c);
	signals_xen(c);
	signals_sysinfo(c);
	signals_dt(c);
	signals_sysctl(c);
	signals_acpi(c);
	return 0;
}
