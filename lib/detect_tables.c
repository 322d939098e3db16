/* SPDX-License-Identifier: MIT */
/*
 * detect_tables.c - the facts the detector knows, as data: DMI strings,
 * ACPI OEM IDs, FreeBSD's kern.vm_guest, device-tree hypervisor nodes,
 * CPU model names, clouds, and which hypervisors emulate which interface.
 *
 * Sources for the strings: systemd's src/basic/virt.c tables (names and
 * DMI prefixes), cloud-init's datasources (cloud vendor strings and asset
 * tags), the platforms' own documentation, and live machines (the
 * Firecracker ACPI OEM ID was read on one).  docs/detect.md lists them.
 */
#include <string.h>

#include "detect_internal.h"
#include "zpsi/util.h"

const char *const detect_dmi_files[_DMI_FIELD_MAX] = {
	[DMI_SYS_VENDOR] = "sys_vendor",
	[DMI_PRODUCT_NAME] = "product_name",
	[DMI_PRODUCT_VERSION] = "product_version",
	[DMI_BIOS_VENDOR] = "bios_vendor",
	[DMI_BIOS_VERSION] = "bios_version",
	[DMI_BOARD_VENDOR] = "board_vendor",
	[DMI_BOARD_NAME] = "board_name",
	[DMI_CHASSIS_VENDOR] = "chassis_vendor",
	[DMI_CHASSIS_ASSET_TAG] = "chassis_asset_tag",
	[DMI_PRODUCT_SERIAL] = "product_serial",
};

#define HV(n, rk, w)		ZPSI_EV_HV, n, rk, w
#define HV_WEAK(n, rk, w)	ZPSI_EV_HV_WEAK, n, rk, w
#define CLOUD(n, rk, w)		ZPSI_EV_CLOUD, n, rk, w
#define VMM(n, rk, w)		ZPSI_EV_VMM, n, rk, w
#define VM(rk, w)		ZPSI_EV_VM, NULL, rk, w
#define NOT_VM(rk, w)		ZPSI_EV_NOT_VM, NULL, rk, w

/* Evidence ranks: 10 asset tags, 20 vendors, 25 products, 30 firmware,
 * 35 boards/chassis for clouds; 40+ for DMI hypervisor names, which lose
 * to CPUID (1), procfs/sysfs (10), device tree (20) and sysctl (30). */
const struct dmi_rule detect_dmi_rules[] = {
	/* ---- hypervisors, products that only exist as VMs ---- */
	{ DMI_PRODUCT_NAME, { MATCH_PREFIX, "KVM", HV("kvm", 40, "KVM-based platforms name the product KVM") }, DMI_NONE, NULL },
	{ DMI_PRODUCT_NAME, { MATCH_PREFIX, "KubeVirt", HV("kvm", 40, "KubeVirt runs VMs on KVM") }, DMI_NONE, NULL },
	{ DMI_PRODUCT_NAME, { MATCH_EXACT, "AHV", HV("kvm", 40, "Nutanix AHV is KVM-based") }, DMI_SYS_VENDOR, "Nutanix" },
	{ DMI_SYS_VENDOR, { MATCH_PREFIX, "QEMU", HV("qemu", 41, "QEMU's default SMBIOS vendor") }, DMI_NONE, NULL },
	{ DMI_SYS_VENDOR, { MATCH_PREFIX, "QEMU", VMM("qemu", 41, "QEMU's default SMBIOS vendor") }, DMI_NONE, NULL },
	{ DMI_PRODUCT_NAME, { MATCH_PREFIX, "QEMU", HV("qemu", 40, "QEMU's product name") }, DMI_NONE, NULL },
	{ DMI_CHASSIS_VENDOR, { MATCH_PREFIX, "QEMU", VMM("qemu", 45, "QEMU's chassis vendor (kept by clouds that rename the system)") }, DMI_NONE, NULL },
	{ DMI_CHASSIS_VENDOR, { MATCH_PREFIX, "QEMU", VM(45, "QEMU's chassis vendor (kept by clouds that rename the system)") }, DMI_NONE, NULL },
	{ DMI_SYS_VENDOR, { MATCH_PREFIX, "Bochs", HV("bochs", 41, "Bochs SMBIOS vendor") }, DMI_NONE, NULL },
	{ DMI_PRODUCT_NAME, { MATCH_PREFIX, "Bochs", HV("bochs", 40, "Bochs product name") }, DMI_NONE, NULL },
	{ DMI_SYS_VENDOR, { MATCH_PREFIX, "VMware", HV("vmware", 41, "VMware makes no hardware") }, DMI_NONE, NULL },
	{ DMI_PRODUCT_NAME, { MATCH_PREFIX, "VMware", HV("vmware", 40, "VMware's product name (VMware Virtual Platform, VMware7,1)") }, DMI_NONE, NULL },
	{ DMI_PRODUCT_NAME, { MATCH_PREFIX, "VMW", HV("vmware", 40, "VMware's VMWnn,n product names") }, DMI_NONE, NULL },
	{ DMI_SYS_VENDOR, { MATCH_EXACT, "innotek GmbH", HV("oracle", 41, "VirtualBox's SMBIOS vendor") }, DMI_NONE, NULL },
	{ DMI_PRODUCT_NAME, { MATCH_EXACT, "VirtualBox", HV("oracle", 40, "VirtualBox product name") }, DMI_NONE, NULL },
	{ DMI_BIOS_VERSION, { MATCH_EXACT, "VirtualBox", HV("oracle", 45, "VirtualBox firmware") }, DMI_NONE, NULL },
	{ DMI_BOARD_NAME, { MATCH_EXACT, "VirtualBox", HV("oracle", 45, "VirtualBox board") }, DMI_NONE, NULL },
	{ DMI_SYS_VENDOR, { MATCH_PREFIX, "Oracle Corporation", HV_WEAK("oracle", 60, "Oracle also sells servers (OCI bare metal): a vendor, not proof of VirtualBox") }, DMI_NONE, NULL },
	{ DMI_BOARD_VENDOR, { MATCH_PREFIX, "Oracle Corporation", HV_WEAK("oracle", 61, "Oracle also sells servers: a vendor, not proof of VirtualBox") }, DMI_NONE, NULL },
	{ DMI_SYS_VENDOR, { MATCH_EXACT, "Xen", HV("xen", 41, "Xen HVM's SMBIOS vendor") }, DMI_NONE, NULL },
	{ DMI_PRODUCT_NAME, { MATCH_PREFIX, "HVM domU", HV("xen", 40, "Xen HVM guest product") }, DMI_NONE, NULL },
	{ DMI_BIOS_VENDOR, { MATCH_EXACT, "Xen", HV("xen", 45, "Xen hvmloader firmware") }, DMI_NONE, NULL },
	{ DMI_SYS_VENDOR, { MATCH_PREFIX, "Parallels", HV("parallels", 41, "Parallels makes no hardware") }, DMI_NONE, NULL },
	{ DMI_PRODUCT_NAME, { MATCH_PREFIX, "Parallels", HV("parallels", 40, "Parallels' product name (Parallels Virtual Platform)") }, DMI_NONE, NULL },
	{ DMI_PRODUCT_NAME, { MATCH_PREFIX, "BHYVE", HV("bhyve", 40, "bhyve's SMBIOS product") }, DMI_NONE, NULL },
	{ DMI_BIOS_VENDOR, { MATCH_PREFIX, "BHYVE", HV("bhyve", 45, "bhyve's firmware vendor") }, DMI_NONE, NULL },
	{ DMI_PRODUCT_VERSION, { MATCH_PREFIX, "Hyper-V", HV("microsoft", 42, "Hyper-V UEFI firmware release") }, DMI_NONE, NULL },
	{ DMI_BIOS_VERSION, { MATCH_PREFIX, "Hyper-V", HV("microsoft", 45, "Hyper-V UEFI firmware release") }, DMI_NONE, NULL },
	{ DMI_PRODUCT_NAME, { MATCH_PREFIX, "Virtual Machine", HV("microsoft", 40, "Hyper-V's product, with Microsoft as vendor") }, DMI_SYS_VENDOR, "Microsoft Corporation" },
	{ DMI_SYS_VENDOR, { MATCH_PREFIX, "Microsoft Corporation", HV_WEAK("microsoft", 60, "Microsoft also makes hardware (Surface): a vendor, not proof of Hyper-V") }, DMI_NONE, NULL },
	{ DMI_SYS_VENDOR, { MATCH_PREFIX, "Apple Virtualization", HV("apple", 41, "Apple Virtualization.framework") }, DMI_NONE, NULL },
	{ DMI_PRODUCT_NAME, { MATCH_PREFIX, "Apple Virtualization", HV("apple", 40, "Apple Virtualization.framework") }, DMI_NONE, NULL },
	{ DMI_PRODUCT_NAME, { MATCH_EXACT, "VMM", HV("vmm", 40, "OpenBSD vmd's SMBIOS") }, DMI_SYS_VENDOR, "OpenBSD" },
	{ DMI_SYS_VENDOR, { MATCH_PREFIX, "Cloud Hypervisor", VMM("cloud-hypervisor", 41, "Cloud Hypervisor's SMBIOS vendor") }, DMI_NONE, NULL },
	{ DMI_SYS_VENDOR, { MATCH_PREFIX, "Cloud Hypervisor", VM(41, "Cloud Hypervisor's SMBIOS vendor") }, DMI_NONE, NULL },

	/* ---- clouds (cloud-init's datasource checks use the same strings) ---- */
	{ DMI_SYS_VENDOR, { MATCH_EXACT, "Amazon EC2", CLOUD("aws", 20, "EC2 Nitro instances (virtual and .metal)") }, DMI_NONE, NULL },
	{ DMI_CHASSIS_ASSET_TAG, { MATCH_EXACT, "Amazon EC2", CLOUD("aws", 10, "EC2 Nitro asset tag") }, DMI_NONE, NULL },
	{ DMI_PRODUCT_NAME, { MATCH_CONTAINS, ".metal", NOT_VM(25, "EC2 .metal instance types are bare metal") }, DMI_SYS_VENDOR, "Amazon EC2" },
	{ DMI_PRODUCT_NAME, { MATCH_NOT_CONTAINS, ".metal", VM(25, "EC2 instance types other than .metal are Nitro VMs") }, DMI_SYS_VENDOR, "Amazon EC2" },
	{ DMI_BIOS_VERSION, { MATCH_CONTAINS, ".amazon", CLOUD("aws", 30, "EC2's Xen builds (e.g. 4.11.amazon)") }, DMI_NONE, NULL },
	{ DMI_SYS_VENDOR, { MATCH_EXACT, "Google", CLOUD("gcp", 20, "Google Compute Engine vendor") }, DMI_NONE, NULL },
	{ DMI_PRODUCT_NAME, { MATCH_EXACT, "Google Compute Engine", CLOUD("gcp", 25, "GCE product") }, DMI_NONE, NULL },
	{ DMI_PRODUCT_NAME, { MATCH_EXACT, "Google Compute Engine", VM(25, "GCE's VM product name (systemd treats it as a VM too)") }, DMI_NONE, NULL },
	{ DMI_CHASSIS_ASSET_TAG, { MATCH_EXACT, "7783-7084-3265-9085-8269-3286-77", CLOUD("azure", 10, "Azure's fixed chassis asset tag") }, DMI_NONE, NULL },
	{ DMI_CHASSIS_ASSET_TAG, { MATCH_EXACT, "OracleCloud.com", CLOUD("oracle-cloud", 10, "OCI's chassis asset tag (VMs and bare metal)") }, DMI_NONE, NULL },
	{ DMI_PRODUCT_NAME, { MATCH_PREFIX, "OpenStack", CLOUD("openstack", 25, "Nova's SMBIOS product (OpenStack Nova/Compute)") }, DMI_NONE, NULL },
	{ DMI_PRODUCT_NAME, { MATCH_PREFIX, "OpenStack", VM(25, "Nova sets this product only for its VMs (Ironic keeps the hardware's)") }, DMI_NONE, NULL },
	{ DMI_SYS_VENDOR, { MATCH_PREFIX, "OpenStack", CLOUD("openstack", 20, "Nova's SMBIOS vendor") }, DMI_NONE, NULL },
	{ DMI_CHASSIS_ASSET_TAG, { MATCH_EXACT, "OpenTelekomCloud", CLOUD("open-telekom-cloud", 10, "OTC asset tag") }, DMI_NONE, NULL },
	{ DMI_CHASSIS_ASSET_TAG, { MATCH_EXACT, "HUAWEICLOUD", CLOUD("huawei-cloud", 10, "Huawei Cloud asset tag") }, DMI_NONE, NULL },
	{ DMI_CHASSIS_ASSET_TAG, { MATCH_EXACT, "SAP CCloud VM", CLOUD("sap-converged-cloud", 10, "SAP Converged Cloud asset tag") }, DMI_NONE, NULL },
	{ DMI_SYS_VENDOR, { MATCH_EXACT, "DigitalOcean", CLOUD("digitalocean", 20, "DigitalOcean Droplet vendor") }, DMI_NONE, NULL },
	{ DMI_PRODUCT_NAME, { MATCH_EXACT, "Droplet", VM(25, "a Droplet is a DigitalOcean VM") }, DMI_SYS_VENDOR, "DigitalOcean" },
	{ DMI_SYS_VENDOR, { MATCH_EXACT, "Hetzner", CLOUD("hetzner", 20, "Hetzner Cloud vendor") }, DMI_NONE, NULL },
	{ DMI_PRODUCT_NAME, { MATCH_EXACT, "vServer", VM(25, "Hetzner Cloud's virtual server product") }, DMI_SYS_VENDOR, "Hetzner" },
	{ DMI_SYS_VENDOR, { MATCH_EXACT, "Linode", CLOUD("linode", 20, "Linode (Akamai) vendor") }, DMI_NONE, NULL },
	{ DMI_SYS_VENDOR, { MATCH_EXACT, "Akamai", CLOUD("linode", 20, "Akamai Connected Cloud (Linode) vendor") }, DMI_NONE, NULL },
	{ DMI_SYS_VENDOR, { MATCH_PREFIX, "Alibaba Cloud", CLOUD("alibaba", 20, "Alibaba Cloud vendor") }, DMI_NONE, NULL },
	{ DMI_PRODUCT_NAME, { MATCH_PREFIX, "Alibaba Cloud ECS", CLOUD("alibaba", 25, "Alibaba Cloud ECS product") }, DMI_NONE, NULL },
	{ DMI_SYS_VENDOR, { MATCH_EXACT, "Vultr", CLOUD("vultr", 20, "Vultr vendor") }, DMI_NONE, NULL },
	{ DMI_SYS_VENDOR, { MATCH_EXACT, "Scaleway", CLOUD("scaleway", 20, "Scaleway vendor") }, DMI_NONE, NULL },
	{ DMI_SYS_VENDOR, { MATCH_EXACT, "UpCloud", CLOUD("upcloud", 20, "UpCloud vendor") }, DMI_NONE, NULL },
	{ DMI_PRODUCT_NAME, { MATCH_PREFIX, "Exoscale", CLOUD("exoscale", 25, "Exoscale product") }, DMI_NONE, NULL },
};
const size_t detect_dmi_rules_n = ZPSI_ARRAY_SIZE(detect_dmi_rules);

/* ACPI table headers (OEM ID, OEM table ID): written by the VMM, so they
 * name it even when SMBIOS is absent (Firecracker) or customised. */
const struct acpi_rule detect_acpi_rules[] = {
	{ "FIRECK", NULL, { 0, NULL, VMM("firecracker", 50, "Firecracker's ACPI OEM ID") } },
	{ "FIRECK", NULL, { 0, NULL, HV("kvm", 50, "Firecracker runs only on KVM") } },
	{ "BOCHS", NULL, { 0, NULL, VMM("qemu", 50, "QEMU's ACPI OEM ID (BOCHS/BXPC)") } },
	{ "BOCHS", NULL, { 0, NULL, VM(50, "QEMU's ACPI tables") } },
	{ "CLOUDH", NULL, { 0, NULL, VMM("cloud-hypervisor", 50, "Cloud Hypervisor's ACPI OEM ID") } },
	{ "CLOUDH", NULL, { 0, NULL, VM(50, "Cloud Hypervisor's ACPI tables") } },
	{ "VRTUAL", "MICROSFT", { 0, NULL, HV("microsoft", 50, "Hyper-V's ACPI OEM ID") } },
	{ "Xen", NULL, { 0, NULL, HV("xen", 50, "Xen hvmloader's ACPI OEM ID") } },
	{ "VBOX", NULL, { 0, NULL, HV("oracle", 50, "VirtualBox's ACPI OEM ID") } },
	{ "AMAZON", NULL, { 0, NULL, CLOUD("aws", 45, "EC2's ACPI OEM ID") } },
	{ "Google", NULL, { 0, NULL, CLOUD("gcp", 45, "GCE's ACPI OEM ID") } },
};
const size_t detect_acpi_rules_n = ZPSI_ARRAY_SIZE(detect_acpi_rules);

/* FreeBSD kern.vm_guest values (sys/kern/subr_param.c vm_guest_sysctl_names). */
const struct detect_rule detect_vm_guest_rules[] = {
	{ MATCH_EXACT, "none", ZPSI_EV_INFO, NULL, 30, "FreeBSD found no hypervisor" },
	{ MATCH_EXACT, "generic", VM(30, "FreeBSD found an unnamed hypervisor") },
	{ MATCH_EXACT, "xen", HV("xen", 30, "FreeBSD kern.vm_guest") },
	{ MATCH_EXACT, "hv", HV("microsoft", 30, "FreeBSD kern.vm_guest (Hyper-V)") },
	{ MATCH_EXACT, "vmware", HV("vmware", 30, "FreeBSD kern.vm_guest") },
	{ MATCH_EXACT, "kvm", HV("kvm", 30, "FreeBSD kern.vm_guest") },
	{ MATCH_EXACT, "bhyve", HV("bhyve", 30, "FreeBSD kern.vm_guest") },
	{ MATCH_EXACT, "vbox", HV("oracle", 30, "FreeBSD kern.vm_guest (VirtualBox)") },
	{ MATCH_EXACT, "parallels", HV("parallels", 30, "FreeBSD kern.vm_guest") },
	{ MATCH_EXACT, "nvmm", HV("nvmm", 30, "FreeBSD kern.vm_guest") },
};
const size_t detect_vm_guest_rules_n = ZPSI_ARRAY_SIZE(detect_vm_guest_rules);

/* /proc/device-tree/hypervisor/compatible (first match wins; anything
 * else there is still a hypervisor: detect.c says vm-other). */
const struct detect_rule detect_dt_hv_rules[] = {
	{ MATCH_PREFIX, "linux,kvm", HV("kvm", 20, "KVM's device-tree hypervisor node") },
	{ MATCH_CONTAINS, "xen", HV("xen", 20, "Xen's device-tree hypervisor node (xen,xen)") },
	{ MATCH_CONTAINS, "vmware", HV("vmware", 20, "VMware's device-tree hypervisor node") },
};
const size_t detect_dt_hv_rules_n = ZPSI_ARRAY_SIZE(detect_dt_hv_rules);

/* /proc/cpuinfo "model name": the CPU models QEMU invents. */
const struct detect_rule detect_cpuinfo_model_rules[] = {
	{ MATCH_CONTAINS, "QEMU Virtual CPU", VMM("qemu", 48, "QEMU's qemu64/qemu32 CPU model") },
	{ MATCH_CONTAINS, "QEMU Virtual CPU", VM(48, "QEMU's qemu64/qemu32 CPU model") },
	{ MATCH_CONTAINS, "Common KVM processor", HV("kvm", 48, "QEMU's kvm64 CPU model") },
};
const size_t detect_cpuinfo_model_rules_n = ZPSI_ARRAY_SIZE(detect_cpuinfo_model_rules);

/* Clouds; default_hv only where the provider documents its hypervisor.
 * It names a guest that no direct source names (ARM instances have no
 * CPUID), never overrides one. */
static const struct cloud_info clouds[] = {
	{ "aws", "kvm", "Amazon EC2 (Nitro is KVM-based; Xen-era instances say Xen)" },
	{ "gcp", "kvm", "Google Compute Engine (KVM-based)" },
	{ "azure", "microsoft", "Microsoft Azure (Hyper-V)" },
	{ "oracle-cloud", "kvm", "Oracle Cloud Infrastructure" },
	{ "alibaba", "kvm", "Alibaba Cloud ECS" },
	{ "digitalocean", "kvm", "DigitalOcean" },
	{ "hetzner", "kvm", "Hetzner Cloud" },
	{ "linode", "kvm", "Linode / Akamai" },
	{ "openstack", "kvm", "OpenStack Nova (libvirt/KVM)" },
	{ "open-telekom-cloud", NULL, "Open Telekom Cloud (OpenStack)" },
	{ "huawei-cloud", NULL, "Huawei Cloud (OpenStack)" },
	{ "sap-converged-cloud", NULL, "SAP Converged Cloud (OpenStack)" },
	{ "vultr", "kvm", "Vultr" },
	{ "scaleway", "kvm", "Scaleway" },
	{ "upcloud", "kvm", "UpCloud" },
	{ "exoscale", "kvm", "Exoscale" },
};

const struct cloud_info *detect_cloud_info(const char *name)
{
	for (size_t i = 0; i < ZPSI_ARRAY_SIZE(clouds); i++)
		if (strcmp(clouds[i].name, name) == 0)
			return &clouds[i];
	return NULL;
}

bool detect_match(uint8_t how, const char *pattern, const char *value)
{
	size_t n = strlen(pattern);

	switch (how) {
	case MATCH_EXACT: return strcmp(value, pattern) == 0;
	case MATCH_PREFIX: return strncmp(value, pattern, n) == 0;
	case MATCH_CONTAINS: return strstr(value, pattern) != NULL;
	case MATCH_NOT_CONTAINS: return value[0] && !strstr(value, pattern);
	default: return false;
	}
}

/* Who presents another's interface: Hyper-V's enlightenments are offered
 * by KVM (QEMU hv-* flags, KVM at 0x40000100), Xen (viridian=1, Xen at
 * 0x40000100) and VirtualBox (Hyper-V provider); KVM's paravirt interface
 * by VirtualBox (its default provider for Linux guests) and Parallels. */
static const char *const microsoft_emulators[] = { "kvm", "xen", "oracle", "qemu", NULL };
static const char *const kvm_emulators[] = { "oracle", "parallels", NULL };

const char *const *detect_hv_emulators(const char *iface)
{
	if (strcmp(iface, "microsoft") == 0)
		return microsoft_emulators;
	if (strcmp(iface, "kvm") == 0)
		return kvm_emulators;
	return NULL;
}

static bool in_list(const char *const *l, const char *s)
{
	for (; l && *l; l++)
		if (strcmp(*l, s) == 0)
			return true;
	return false;
}

bool detect_hv_explains(const char *decided, const char *claimed)
{
	if (strcmp(decided, claimed) == 0)
		return true;
	if (strcmp(decided, "kvm") == 0 && strcmp(claimed, "qemu") == 0)
		return true;	/* QEMU is the VMM, KVM accelerates it */
	if (strcmp(decided, "uml") == 0)
		return true;	/* a process: it sees its host's CPUID and DMI */
	return in_list(detect_hv_emulators(claimed), decided);
}

const char *detect_vmm_hypervisor(const char *vmm)
{
	if (strcmp(vmm, "firecracker") == 0 || strcmp(vmm, "kvmtool") == 0)
		return "kvm";
	return NULL;
}

static const char *const hv_names[] = {
	"kvm", "qemu", "xen", "microsoft", "vmware", "oracle", "bhyve", "parallels", "acrn",
	"qnx", "apple", "sre", "uml", "zvm", "powervm", "bochs", "vmm", "nvmm", "jailhouse",
	"vm-other", "none", NULL,
};

const char *const *zpsi_detect_hypervisor_names(void)
{
	return hv_names;
}

static const char *const cloud_names[] = {
	"aws", "gcp", "azure", "oracle-cloud", "alibaba", "digitalocean", "hetzner", "linode",
	"openstack", "open-telekom-cloud", "huawei-cloud", "sap-converged-cloud", "vultr",
	"scaleway", "upcloud", "exoscale", "none", NULL,
};
_Static_assert(ZPSI_ARRAY_SIZE(cloud_names) == ZPSI_ARRAY_SIZE(clouds) + 2,
	       "every cloud has a name in --list");

const char *const *zpsi_detect_cloud_names(void)
{
	return cloud_names;
}

const char *const *zpsi_detect_vmm_names(void)
{
	static const char *const names[] = {
		"qemu", "firecracker", "cloud-hypervisor", "kvmtool", NULL,
	};
	return names;
}
